// Scenario-backed measurements for `ramp simulate` (scenario_provider.h).
#include "sim/scenario_provider.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "sim/output.h"

namespace ramp::sim {
namespace {

// The measured value as Argo prints it: a string as it is, anything else as JSON.
std::string ValueText(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>()
                       : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

MeasurementUpdate ScenarioMetricProvider::Answer(const RunContext& ctx, const MetricRef& metric,
                                                 Time started) const {
  const Duration t = ctx.now - t0_;
  Measurement base;
  base.started_at = started;
  base.finished_at = ctx.now;
  const MetricEntry* entry = scenario_.MetricAt(metric.name, t);
  if (entry == nullptr) {
    return MeasurementUpdate::Error(base, fmt::format("no scenario value for metric {} at t={}",
                                                      metric.name, FormatDuration(t)));
  }
  switch (entry->kind) {
    case MetricEntry::Kind::kValue:
      base.value = ValueText(*entry->value);
      return MeasurementUpdate::Value(base, entry->value);
    case MetricEntry::Kind::kError:
      return MeasurementUpdate::Error(base, entry->error);
    case MetricEntry::Kind::kPhase:
      if (entry->phase == AnalysisPhase::kError) {
        return MeasurementUpdate::Error(base, "the scenario gives phase Error");
      }
      base.phase = entry->phase;
      return MeasurementUpdate::Judged(base);
  }
  return MeasurementUpdate::Error(base, "unknown scenario entry");
}

void ScenarioMetricProvider::Run(const RunContext& ctx, const MetricRef& metric,
                                 MeasurementCallback done) {
  done(Answer(ctx, metric, ctx.now));
}

void ScenarioMetricProvider::Resume(const RunContext& ctx, const MetricRef& metric,
                                    const Measurement& measurement, MeasurementCallback done) {
  done(Answer(ctx, metric, measurement.started_at.value_or(ctx.now)));
}

void ScenarioMetricProvider::Terminate(const RunContext& ctx, const MetricRef& metric,
                                       const Measurement& measurement, MeasurementCallback done) {
  done(Answer(ctx, metric, measurement.started_at.value_or(ctx.now)));
}

void ScenarioMetricProvider::GarbageCollect(const RunContext&, const MetricRef&, int32_t,
                                            StatusCallback done) {
  done(OkStatus());
}

std::map<std::string, std::string> ScenarioMetricProvider::Metadata(const MetricRef&) const {
  return {};
}

}  // namespace ramp::sim
