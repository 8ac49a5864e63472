// AnalysisRuns as Argo Rollouts runs them: creating a run from a Rollout's analysis reference and
// its templates (rollout/analysis.go, utils/analysis/{helpers,factory}.go), and assessing it one
// reconcile at a time (analysis/analysis.go, utils/evaluate/evaluate.go). Reference:
// reference/argo-rollouts.md §1.5, §3 and §11.
//
// This is part of the functional core: nothing here reads the clock, sleeps or does I/O. Time
// comes in as `now`; measurements go out as MeasureRequests and come back as observations on a
// later call (metric providers are asynchronous). The condition language and secret reads are
// injected as functions (Evaluator); expr_evaluator.h adapts src/expr to ConditionEvaluator.
//
// How an asynchronous measurement is kept in the run's status: when a Run, Resume or Terminate
// is requested, the metric's last measurement is (or stays) Running and carries the metadata key
// kAwaitingKey ("Run", "Resume" or "Terminate") until the provider's answer arrives; no second
// request is made for it meanwhile. A terminating run waits for those answers before it
// completes, so a terminated in-flight measurement is recorded as Argo records it. After a
// restart, when the answers of the previous process are lost, pass the runs through
// ForgetDispatched.
//
// Timing follows Argo with "at or after" for due times (Argo re-queues at once when a due time
// is reached exactly): a measurement is taken when now >= lastFinishedAt + wait, the first one
// when now >= startedAt + initialDelay, a Running one is resumed when now >= resumeAt. Stored
// times have whole seconds, as metav1.Time does.
//
// Thread-safety: pure functions over values; safe to call concurrently. The injected functions
// are called synchronously on the calling thread and are not retained.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/types.h"
#include "ramp/clock.h"
#include "ramp/common.h"
#include "ramp/metric_provider.h"
#include "ramp/status.h"
#include "spec/analysis.h"
#include "spec/rollout.h"

namespace ramp::analysis {

// Labels and annotations Argo puts on a Rollout's AnalysisRuns (types.go).
inline constexpr char kPodTemplateHashLabel[] = "rollouts-pod-template-hash";
inline constexpr char kRolloutTypeLabel[] = "rollout-type";
inline constexpr char kStepIndexLabel[] = "step-index";
inline constexpr char kControllerInstanceIdLabel[] =
    "argo-rollouts.argoproj.io/controller-instance-id";
inline constexpr char kRevisionAnnotation[] = "rollout.argoproj.io/revision";

// What secret values are replaced with in stored messages, values and metadata.
inline constexpr char kRedacted[] = "*****";
// Measurement metadata key marking a request whose answer has not arrived yet.
inline constexpr char kAwaitingKey[] = "ramp.dev/awaiting";
// The wait before retrying after an Error measurement, and the measurements kept per metric.
inline constexpr Duration kErrorRetryInterval = Duration(spec::kErrorRetryIntervalNanos);
inline constexpr int32_t kDefaultMeasurementRetention = spec::kDefaultMeasurementRetention;

// Evaluates one successCondition/failureCondition (the expr-lang subset of reference §4) with
// `result` bound to the measured value (nullptr: nil) and now() to `now`. Compile and run errors
// and a non-bool result are errors; their message is shown after
// `could not evaluate successCondition "<expr>": `.
using ConditionEvaluator =
    std::function<StatusOr<bool>(std::string_view condition, const MetricValue& result, Time now)>;

// Reads key `key` of Secret `secret` in the run's namespace (valueFrom.secretKeyRef). An error's
// message is shown as Argo shows the API's error, e.g. `secrets "x" not found` or
// `key 'k' does not exist in secret 'x'`.
using SecretLookup =
    std::function<StatusOr<std::string>(std::string_view secret, std::string_view key)>;

// The injected parts of assessment.
struct Evaluator {
  ConditionEvaluator condition;  // needed when a metric has conditions
  SecretLookup secrets;          // needed when an argument is a secretKeyRef
};

// ---------------------------------------------------------------------------------------------
// Run creation (reference §1.5).

// Flattens `refs` against the available templates (namespaced ones of `namespace_` and
// cluster-scoped ones; nested spec.templates resolved recursively, duplicates by name dropped)
// into one spec: metrics concatenated (namespaced templates first), args merged, dryRun and
// measurementRetention concatenated. Errors are Argo's: "two metrics have the same name 'x'",
// "Argument `x` specified multiple times with different values: 'a', 'b'", "two Dry-Run metric
// rules have the same name 'x'", "two Measurement Retention metric rules have the same name
// 'x'"; a missing template is NotFound; a cycle of nested templates is an error.
StatusOr<spec::AnalysisTemplateSpec> FlattenTemplates(
    const std::vector<spec::AnalysisTemplateRef>& refs,
    const std::vector<spec::AnalysisTemplate>& available, std::string_view namespace_);

// The Rollout side of a run's arguments (factory.go BuildArgumentsForRolloutAnalysisRun): each
// gets a value from `value`, valueFrom.podTemplateHashValue (Stable / Latest), or
// valueFrom.fieldRef — "metadata…" paths with downward-API semantics (metadata.name,
// .namespace, .uid, .labels, .annotations, .labels['k'], .annotations['k']) read from
// rollout.metadata; any other path is walked on `rollout_json` (the Rollout as JSON; when null,
// one made of its metadata, spec.replicas and spec.template) and must end in a primitive.
struct RolloutArgSource {
  const spec::Rollout* rollout = nullptr;
  const nlohmann::json* rollout_json = nullptr;
  std::string stable_hash;  // the stable ReplicaSet's pod-template hash
  std::string latest_hash;  // the new ReplicaSet's pod-template hash
};
StatusOr<std::vector<spec::Argument>> BuildRolloutArgs(const std::vector<spec::Argument>& args,
                                                       const RolloutArgSource& source);

// Argo's MergeArgs: caller args override the value (or valueFrom) of template args of the same
// name (others are ignored); a template arg left without value and valueFrom is the error
// "args.<name> was not resolved".
StatusOr<std::vector<spec::Argument>> MergeArgs(const std::vector<spec::Argument>& incoming,
                                                const std::vector<spec::Argument>& template_args);

// `<rollout>-<hash>-<revision>[-<infix>]` (the infix: step index, "pre", "post", or none).
// Collisions (`.1`, `.2`, …) are the store's business.
std::string AnalysisRunName(std::string_view rollout, std::string_view pod_hash,
                            std::string_view revision, std::string_view infix);

// A run made from templates, with the values of its secret arguments for redaction.
struct NewRun {
  spec::AnalysisRun run;
  // Values of the run's secretKeyRef arguments that `secrets` could read (a failed read is left
  // to the run's first Reconcile, which ends it in Error as Argo does). Never stored in the run.
  std::vector<std::string> secrets;
};

// The general form: a run named `name` in `namespace_` from template refs and caller args.
struct TemplateRunOptions {
  std::string name;
  std::string namespace_;
  std::vector<spec::AnalysisTemplateRef> templates;
  std::vector<spec::Argument> args;  // caller args, already resolved to values
  std::vector<spec::DryRun> dry_run;
  std::vector<spec::MeasurementRetention> measurement_retention;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};
// Flattens, merges args (MergeArgs), merges dryRun/measurementRetention (caller rules first;
// duplicates are errors) and checks that every rule matches a metric ("dryRun[0]: Rule didn't
// match any metric name(s)", "measurementRetention[0]: …").
StatusOr<NewRun> NewAnalysisRunFromTemplates(const TemplateRunOptions& options,
                                             const std::vector<spec::AnalysisTemplate>& available,
                                             const SecretLookup& secrets);

// A Rollout's step, background, pre- or post-promotion run.
struct RolloutRunOptions {
  const spec::Rollout* rollout = nullptr;  // required
  const nlohmann::json* rollout_json = nullptr;
  const spec::RolloutAnalysis* analysis = nullptr;  // required
  engine::AnalysisRunKind kind = engine::AnalysisRunKind::kStep;
  std::optional<int32_t> step_index;  // kStep
  std::string latest_hash;            // the new ReplicaSet's pod-template hash
  std::string stable_hash;
  std::string revision;     // the rollout.argoproj.io/revision of the new revision
  std::string instance_id;  // controller instance id label, when set
};
// Name per AnalysisRunName; labels rollouts-pod-template-hash, rollout-type, step-index (step
// runs), the controller instance id, analysisRunMetadata.labels and the Rollout's
// selector.matchLabels; annotations rollout.argoproj.io/revision and
// analysisRunMetadata.annotations; namespace of the Rollout ("default" when it has none).
StatusOr<NewRun> NewRolloutAnalysisRun(const RolloutRunOptions& options,
                                       const std::vector<spec::AnalysisTemplate>& available,
                                       const SecretLookup& secrets);

// ---------------------------------------------------------------------------------------------
// Assessment (reference §3.4).

// One request to a metric provider. Run, Resume and Terminate answer as MeasurementObservations
// keyed by (run, metric); GarbageCollect (measurements trimmed to `keep`) reports failures only.
struct MeasureRequest {
  std::string metric;
  engine::MeasureAction action = engine::MeasureAction::kRun;
  // The provider and its configuration after argument substitution; the tags of secret
  // arguments stay "{{args.<name>}}" and are listed in secret_args for the runtime to fill in.
  MetricRef metric_ref;
  std::vector<engine::SecretArg> secret_args;
  // The Running measurement, for Resume and Terminate.
  std::optional<Measurement> in_flight;
  // 1-based number of the measurement (count + error + 1).
  int64_t measurement_number = 1;
  // For GarbageCollect: measurements kept.
  int32_t keep = 0;

  friend bool operator==(const MeasureRequest&, const MeasureRequest&) = default;
};

struct AssessResult {
  spec::AnalysisRun run;  // with the new status
  std::vector<MeasureRequest> requests;
  // When to call again if nothing is observed before: initialDelay end, resumeAt, next
  // measurement due. nullopt: only when an observation arrives (or the run completed).
  std::optional<Time> next_wakeup;
  // Events recorded on the AnalysisRun: "Metric<Phase>" when a metric completes ("Metric 'x'
  // Completed. Result: Failed") and "AnalysisRun<Phase>" when the run completes ("Analysis
  // Completed. Result: Failed"); Warning for Failed and Error.
  std::vector<engine::EmitEvent> events;
};

// One reconcile of `run` at `now`: records the observations (answers to earlier requests; those
// of other runs, unknown metrics or measurements not awaited are ignored), assesses metrics and
// run, and decides the next requests. A completed run is returned unchanged.
AssessResult Reconcile(const spec::AnalysisRun& run,
                       const std::vector<engine::MeasurementObservation>& observed, Time now,
                       const Evaluator& evaluator);

// The engine intent for a request of `run`.
engine::Measure ToMeasureIntent(const spec::AnalysisRun& run, const MeasureRequest& request,
                                const ObjectRef& rollout, Time now);

// Fills the secret argument tags ("{{args.<name>}}") that a request's provider configuration
// keeps (MeasureRequest::secret_args, engine::Measure::secret_args) with the values `secrets`
// reads, inside the configuration's JSON strings (so a value with quotes stays valid JSON). The
// values read are appended to `values` (RunContext::secrets, for redaction). An unreadable secret
// is the lookup's error, prefixed with the argument's name.
StatusOr<std::string> FillSecretArgs(std::string_view config_json,
                                     const std::vector<engine::SecretArg>& secret_args,
                                     const SecretLookup& secrets, std::vector<std::string>* values);

// Drops requests whose answers will never come (the process that made them is gone): a Run
// still awaited is removed (the measurement is taken again), a Resume or Terminate is un-marked
// (it is requested again).
spec::AnalysisRun ForgetDispatched(spec::AnalysisRun run);

// The phase of a measured value (evaluate.go EvaluateResult): no conditions ⇒ Successful;
// success only: true ⇒ Successful, false ⇒ Failed; failure only: true ⇒ Failed, false ⇒
// Successful; both: failure true ⇒ Failed, success true ⇒ Successful, neither ⇒ Inconclusive.
// An evaluation error ⇒ Error with `could not evaluate successCondition "<expr>": <why>` (or
// "…: metric result is nil or empty: no data returned from the metric provider").
struct Verdict {
  spec::AnalysisPhase phase = spec::AnalysisPhase::kSuccessful;
  std::string message;
};
Verdict EvaluateResult(std::string_view success_condition, std::string_view failure_condition,
                       const MetricValue& result, Time now, const ConditionEvaluator& evaluate);

// metav1.Time: whole seconds, RFC 3339 in UTC ("2024-05-01T10:00:00Z").
spec::MetaTime ToMetaTime(Time t);
Time FromMetaTime(const spec::MetaTime& t);

}  // namespace ramp::analysis
