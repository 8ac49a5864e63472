// MetricProvider: takes one measurement of one metric of an AnalysisRun (a Prometheus query, a
// Datadog query, a web call, a job, a judge over the built-in proxy's golden signals, …).
//
// Providers are asynchronous, as in Argo (reference/argo-rollouts.md §5): Run reports a value, an
// error, or Running with a resume time; a Running measurement is later passed to Resume (when
// resumeAt has passed) or Terminate (when the run is terminating). Run and Resume also complete
// through a callback, so a provider that does I/O never blocks its rollout's queue and an abort
// always goes through. Implementations are registered by name from main: "prometheus",
// "datadog", "newrelic", "cloudwatch", "graphite", "influxdb", "web", "job", "ramp/builtin",
// "sim", …
//
// Contract:
//   * Providers measure; they do not judge. A provider that obtained a value reports it as a
//     MeasurementUpdate::Value and the analysis core evaluates successCondition /
//     failureCondition over it. Only providers whose result is itself a verdict (job, kayenta,
//     ramp's statistical judges) report MeasurementUpdate::Judged.
//   * Anything that stops a provider from measuring (transport, HTTP status, parse error, a
//     configuration it cannot use) is a MeasurementUpdate::Error with a message — never a failed
//     callback — so it counts toward consecutiveErrorLimit as in Argo. The message must not
//     contain any string of RunContext::secrets.
//   * `done` runs exactly once (see ramp/common.h); providers read no clock: "now" is
//     RunContext::now.
//
// Thread-safety: one provider instance serves every run of the daemon; all methods may be called
// concurrently from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "ramp/clock.h"
#include "ramp/common.h"
#include "ramp/status.h"

namespace ramp {

// The phase of a measurement, a metric result and an AnalysisRun (Argo's AnalysisPhase).
enum class AnalysisPhase { kPending, kRunning, kSuccessful, kFailed, kError, kInconclusive };

// "Pending", "Running", "Successful", "Failed", "Error", "Inconclusive".
std::string_view AnalysisPhaseName(AnalysisPhase phase);
// The inverse of AnalysisPhaseName; nothing for other text.
std::optional<AnalysisPhase> ParseAnalysisPhase(std::string_view name);
// Successful, Failed, Error or Inconclusive.
bool IsTerminal(AnalysisPhase phase);

// One measurement as stored in an AnalysisRun's metricResults[].measurements[] (Argo's shape).
struct Measurement {
  AnalysisPhase phase = AnalysisPhase::kPending;
  std::string message;
  std::optional<Time> started_at;
  std::optional<Time> finished_at;
  // The measured value as Argo prints it: "0.99", "[0.99,0.98]", JSON of an object.
  std::string value;
  std::map<std::string, std::string> metadata;
  // For a Running measurement: when to call Resume.
  std::optional<Time> resume_at;

  friend bool operator==(const Measurement&, const Measurement&) = default;
};

// The raw result a provider measured: what conditions see as `result` (a number, a list of
// numbers, an object, a string, …). A JSON value rather than JSON text because results may hold
// NaN and ±Inf (an empty Prometheus ratio), which JSON text cannot. Null pointer = no result
// (Go's nil). Built by the provider (which includes <nlohmann/json.hpp>); immutable once built.
using MetricValue = std::shared_ptr<const nlohmann::json>;

// What a provider reports for one measurement: one of four cases, each made by a named
// constructor below. `measurement` carries started_at, metadata and value text in every case.
struct MeasurementUpdate {
  enum class Kind {
    kValue,    // measured `result`; the core judges it (phase left kPending until then)
    kJudged,   // the provider's own verdict: phase is Successful, Failed or Inconclusive
    kRunning,  // in progress: phase Running, resume_at set
    kError,    // could not measure: phase Error, message says why
  };
  Kind kind = Kind::kError;
  Measurement measurement;
  MetricValue result;  // set for kValue only

  static MeasurementUpdate Value(Measurement m, MetricValue result) {
    m.phase = AnalysisPhase::kPending;
    return {Kind::kValue, std::move(m), std::move(result)};
  }
  static MeasurementUpdate Judged(Measurement m) { return {Kind::kJudged, std::move(m), nullptr}; }
  static MeasurementUpdate Running(Measurement m, Time resume_at) {
    m.phase = AnalysisPhase::kRunning;
    m.resume_at = resume_at;
    return {Kind::kRunning, std::move(m), nullptr};
  }
  static MeasurementUpdate Error(Measurement m, std::string message) {
    m.phase = AnalysisPhase::kError;
    m.message = std::move(message);
    return {Kind::kError, std::move(m), nullptr};
  }
};

using MeasurementCallback = std::function<void(MeasurementUpdate)>;

// The provider-facing view of one metric of a run (the spec's Metric, with {{args.*}} already
// resolved). It is what a provider needs, nothing about conditions or limits.
struct MetricRef {
  std::string name;
  // The provider's registered name: "prometheus", "web", "job", … or the plugin name under
  // provider.plugin ("ramp/builtin").
  std::string provider_type;
  // That provider's configuration as JSON text: the value of metrics[].provider.<type> (or of
  // provider.plugin["<name>"]). Providers parse it and may cache the parse keyed by this text.
  std::string provider_config_json = "{}";
  // metrics[].interval, when set: the look-back window of some providers (datadog, cloudwatch).
  std::optional<Duration> interval;

  friend bool operator==(const MetricRef&, const MetricRef&) = default;
};

// Which run a measurement belongs to, and the moment it is taken.
struct RunContext {
  ObjectRef run;        // the AnalysisRun
  std::string run_uid;  // stable across restarts; names external artefacts (job names)
  ObjectRef rollout;    // the Rollout that owns the run; empty name for standalone runs
  Time now;             // the measurement's time (query time, window end)
  // 1-based number of this measurement of the metric (Argo: count + error + 1).
  int64_t measurement_number = 1;
  // Resolved secret argument values: to be redacted ("*****") from messages and metadata.
  std::vector<std::string> secrets;

  friend bool operator==(const RunContext&, const RunContext&) = default;
};

class MetricProvider {
 public:
  virtual ~MetricProvider() = default;

  // The registered name: "prometheus", "job", "ramp/builtin", ….
  virtual std::string_view Type() const = 0;

  // Starts one measurement.
  virtual void Run(const RunContext& ctx, const MetricRef& metric, MeasurementCallback done) = 0;

  // Continues a Running measurement once its resume_at has passed; reports it still Running
  // (with a new resume_at) or finished. Only measurements this provider reported Running are
  // resumed; a provider that never reports Running answers an Error update if asked.
  virtual void Resume(const RunContext& ctx, const MetricRef& metric,
                      const Measurement& measurement, MeasurementCallback done) = 0;

  // Stops a Running measurement because its run is terminating, and reports how it ended (Argo:
  // the job provider deletes its job and reports Judged Inconclusive; a result that was already
  // in is reported as it is). Same rule as Resume for providers that never report Running.
  virtual void Terminate(const RunContext& ctx, const MetricRef& metric,
                         const Measurement& measurement, MeasurementCallback done) = 0;

  // Deletes external artefacts of this metric's measurements beyond the newest `limit` (the
  // job provider's old jobs). Providers without artefacts succeed at once.
  virtual void GarbageCollect(const RunContext& ctx, const MetricRef& metric, int32_t limit,
                              StatusCallback done) = 0;

  // Metric-level metadata for metricResults[].metadata (Argo's GetMetadata), e.g.
  // {"ResolvedPrometheusQuery": "…"}. Pure; may be empty.
  virtual std::map<std::string, std::string> Metadata(const MetricRef& metric) const = 0;
};

}  // namespace ramp
