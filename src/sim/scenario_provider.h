// The metric provider of `ramp simulate`: answers every measurement from the scenario's `metrics`
// (scenario.h) at the measurement's time — a value, an error or a verdict — through the same
// MetricProvider interface the daemon's providers implement, so the simulator drives
// measurements exactly as the runtime does. It answers synchronously (inside Run) and never
// reports Running; Resume and Terminate, which only follow a Running measurement, are answered
// like Run.
//
// Thread-safety: stateless after construction; all methods may be called concurrently.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "ramp/clock.h"
#include "ramp/metric_provider.h"
#include "sim/scenario.h"

namespace ramp::sim {

class ScenarioMetricProvider final : public MetricProvider {
 public:
  // `t0` is the time of the update: a measurement at `now` reads the entries at now − t0.
  ScenarioMetricProvider(const Scenario& scenario, Time t0) : scenario_(scenario), t0_(t0) {}

  std::string_view Type() const override { return "sim"; }
  void Run(const RunContext& ctx, const MetricRef& metric, MeasurementCallback done) override;
  void Resume(const RunContext& ctx, const MetricRef& metric, const Measurement& measurement,
              MeasurementCallback done) override;
  void Terminate(const RunContext& ctx, const MetricRef& metric, const Measurement& measurement,
                 MeasurementCallback done) override;
  void GarbageCollect(const RunContext& ctx, const MetricRef& metric, int32_t limit,
                      StatusCallback done) override;
  std::map<std::string, std::string> Metadata(const MetricRef& metric) const override;

 private:
  MeasurementUpdate Answer(const RunContext& ctx, const MetricRef& metric, Time started) const;

  const Scenario& scenario_;
  const Time t0_;
};

}  // namespace ramp::sim
