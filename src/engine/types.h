// The engine's inputs and outputs: the intents Reconcile asks the runtime to carry out and the
// observations the runtime feeds back.
//
// The engine is the functional core of a rollout (DESIGN.md, "Shape of the system"):
//
//   Reconcile(spec, status, observed, now) → (status, intents, next wake-up)
//
// It reads no clock, sleeps never, and does no I/O: time comes in as `now`, the world as
// `Observed`, and every effect goes out as an Intent. The runtime (src/runtime/, or src/sim/ on
// a virtual clock) executes the intents through the ports of include/ramp/, persists the status,
// and calls Reconcile again when an observation arrives or the wake-up time is reached. Nothing
// polls. Reconcile itself is declared in reconcile.h:
//
//   ReconcileResult Reconcile(const ReconcileContext& context, const RolloutState& state,
//                             const Observed& observed, Time now);
//
// wake_at covers every time-based transition: pause end, autoPromotionSeconds end, initialDelay
// end, next measurement due, scale-down deadline, progress deadline, availability after
// minReadySeconds, restart re-check, unverified-weight retry.
//
// How the runtime executes intents: in order, one at a time, each after the previous one's
// `done`. When one fails, the rest of the list is skipped (the engine derives them again from the
// status on its next call) and the failure comes back in Observed::failures. Measure and CallHook
// are started and not waited for: their results come back as observations on a later call.
// EmitEvent is recorded in the state store and never fails the batch.
//
// Thread-safety: plain values; safe to share for reading.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "ramp/clock.h"
#include "ramp/common.h"
#include "ramp/hook.h"
#include "ramp/metric_provider.h"
#include "ramp/platform.h"
#include "ramp/status.h"
#include "ramp/traffic_router.h"

namespace ramp::spec {
struct Rollout;
}  // namespace ramp::spec

namespace ramp::engine {

// ---------------------------------------------------------------------------------------------
// Intents. Each carries kName, its spelling in logs and in `ramp simulate` output.

// Run revision `hash` with `replicas` instances. The runtime calls Platform::EnsureRevision when
// `hash` is the spec template's hash (it holds that template) and Platform::ScaleRevision
// otherwise; 0 scales an old revision down but keeps it for rollback.
struct ScaleRevision {
  static constexpr std::string_view kName = "ScaleRevision";
  std::string hash;
  int32_t replicas = 0;
  // Ephemeral metadata of the revision's role (canaryMetadata / stableMetadata …).
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;

  friend bool operator==(const ScaleRevision&, const ScaleRevision&) = default;
};

// Remove a revision beyond revisionHistoryLimit (Platform::DeleteRevision).
struct DeleteRevision {
  static constexpr std::string_view kName = "DeleteRevision";
  std::string hash;

  friend bool operator==(const DeleteRevision&, const DeleteRevision&) = default;
};

// Platform::RestartInstance: replace one instance created before spec.restartAt.
struct RestartInstance {
  static constexpr std::string_view kName = "RestartInstance";
  std::string hash;
  std::string instance;

  friend bool operator==(const RestartInstance&, const RestartInstance&) = default;
};

// TrafficRouter::SetWeight.
struct SetWeight {
  static constexpr std::string_view kName = "SetWeight";
  int32_t weight = 0;
  std::vector<WeightDestination> additional;

  friend bool operator==(const SetWeight&, const SetWeight&) = default;
};

// TrafficRouter::VerifyWeight; the answer comes back as Observed::weight.
struct VerifyWeight {
  static constexpr std::string_view kName = "VerifyWeight";
  int32_t weight = 0;
  std::vector<WeightDestination> additional;

  friend bool operator==(const VerifyWeight&, const VerifyWeight&) = default;
};

// TrafficRouter::SetHeaderRoute (no matches: remove the route).
struct SetHeaderRoute {
  static constexpr std::string_view kName = "SetHeaderRoute";
  HeaderRoute route;

  friend bool operator==(const SetHeaderRoute&, const SetHeaderRoute&) = default;
};

// TrafficRouter::SetMirrorRoute (no matches: remove the route).
struct SetMirrorRoute {
  static constexpr std::string_view kName = "SetMirrorRoute";
  MirrorRoute route;

  friend bool operator==(const SetMirrorRoute&, const SetMirrorRoute&) = default;
};

// TrafficRouter::RemoveManagedRoutes.
struct RemoveManagedRoutes {
  static constexpr std::string_view kName = "RemoveManagedRoutes";

  friend bool operator==(const RemoveManagedRoutes&, const RemoveManagedRoutes&) = default;
};

// TrafficRouter::SwitchService: blue-green's SwitchActive (role kActive) and SwitchPreview (role
// kPreview), and a canary's stable/canary selectors (roles kStable, kCanary).
struct SwitchService {
  static constexpr std::string_view kName = "SwitchService";
  ServiceRole role = ServiceRole::kStable;
  std::string hash;

  friend bool operator==(const SwitchService&, const SwitchService&) = default;
};

// Why an AnalysisRun exists (Argo's rollout-type label).
enum class AnalysisRunKind { kStep, kBackground, kPrePromotion, kPostPromotion };

// "Step", "Background", "PrePromotion", "PostPromotion".
constexpr std::string_view AnalysisRunKindName(AnalysisRunKind kind) {
  switch (kind) {
    case AnalysisRunKind::kStep:
      return "Step";
    case AnalysisRunKind::kBackground:
      return "Background";
    case AnalysisRunKind::kPrePromotion:
      return "PrePromotion";
    case AnalysisRunKind::kPostPromotion:
      return "PostPromotion";
  }
  return "Unknown";
}

// A new AnalysisRun now exists in the status. The runtime records it in the state store (so
// `ramp get`/`terminate analysisrun` see it); its measurements arrive as Measure intents.
struct StartAnalysisRun {
  static constexpr std::string_view kName = "StartAnalysisRun";
  std::string run;  // the AnalysisRun's name
  AnalysisRunKind kind = AnalysisRunKind::kStep;
  std::optional<int32_t> step_index;  // for kStep

  friend bool operator==(const StartAnalysisRun&, const StartAnalysisRun&) = default;
};

// An AnalysisRun is terminating (rollout completed, aborted, or the step moved on). In-flight
// measurements are stopped by Measure intents with MeasureAction::kTerminate.
struct TerminateAnalysisRun {
  static constexpr std::string_view kName = "TerminateAnalysisRun";
  std::string run;
  std::string reason;

  friend bool operator==(const TerminateAnalysisRun&, const TerminateAnalysisRun&) = default;
};

// What a Measure intent asks of the metric provider.
enum class MeasureAction { kRun, kResume, kTerminate, kGarbageCollect };

// "Run", "Resume", "Terminate", "GarbageCollect".
constexpr std::string_view MeasureActionName(MeasureAction action) {
  switch (action) {
    case MeasureAction::kRun:
      return "Run";
    case MeasureAction::kResume:
      return "Resume";
    case MeasureAction::kTerminate:
      return "Terminate";
    case MeasureAction::kGarbageCollect:
      return "GarbageCollect";
  }
  return "Unknown";
}

// An argument whose value is a secret the engine cannot read (valueFrom.secretKeyRef). The
// runtime reads it, replaces "{{args.<arg>}}" in MetricRef::provider_config_json with it, and
// adds it to RunContext::secrets before calling the provider.
struct SecretArg {
  std::string arg;
  std::string secret;  // Secret name, in the run's namespace
  std::string key;

  friend bool operator==(const SecretArg&, const SecretArg&) = default;
};

// Take (or resume, terminate, garbage-collect) one measurement of `metric` of run `run`
// (context.run.name == run). The result comes back as a MeasurementObservation keyed by
// (run, metric); kGarbageCollect reports only failures.
struct Measure {
  static constexpr std::string_view kName = "Measure";
  std::string run;
  std::string metric;
  MeasureAction action = MeasureAction::kRun;
  RunContext context;
  MetricRef metric_ref;
  std::vector<SecretArg> secret_args;
  // The Running measurement, for kResume and kTerminate.
  std::optional<Measurement> in_flight;
  // For kGarbageCollect: measurements to keep.
  int32_t keep = 0;

  friend bool operator==(const Measure&, const Measure&) = default;
};

// Deliver a hook call (Hook::Call). `id` is chosen by the engine, unique among the calls it is
// waiting for (e.g. "confirm-promotion/<name>/<checksum>"); the result comes back keyed by it.
struct CallHook {
  static constexpr std::string_view kName = "CallHook";
  std::string id;
  HookCall call;

  friend bool operator==(const CallHook&, const CallHook&) = default;
};

// Argo's event reasons (reference/argo-rollouts.md §2.3); notifications trigger on them as
// "on-" + kebab-case(reason).
namespace reason {
inline constexpr std::string_view kRolloutUpdated = "RolloutUpdated";
inline constexpr std::string_view kNewReplicaSetCreated = "NewReplicaSetCreated";
inline constexpr std::string_view kScalingReplicaSet = "ScalingReplicaSet";
inline constexpr std::string_view kRolloutStepCompleted = "RolloutStepCompleted";
inline constexpr std::string_view kRolloutPaused = "RolloutPaused";
inline constexpr std::string_view kRolloutResumed = "RolloutResumed";
inline constexpr std::string_view kRolloutCompleted = "RolloutCompleted";
inline constexpr std::string_view kRolloutNotCompleted = "RolloutNotCompleted";
inline constexpr std::string_view kRolloutAborted = "RolloutAborted";
inline constexpr std::string_view kRolloutRetry = "RolloutRetry";
inline constexpr std::string_view kTrafficWeightUpdated = "TrafficWeightUpdated";
inline constexpr std::string_view kSwitchService = "SwitchService";
inline constexpr std::string_view kSkipSteps = "SkipSteps";
inline constexpr std::string_view kAnalysisRunRunning = "AnalysisRunRunning";
inline constexpr std::string_view kAnalysisRunSuccessful = "AnalysisRunSuccessful";
inline constexpr std::string_view kAnalysisRunFailed = "AnalysisRunFailed";
inline constexpr std::string_view kAnalysisRunError = "AnalysisRunError";
inline constexpr std::string_view kAnalysisRunInconclusive = "AnalysisRunInconclusive";
inline constexpr std::string_view kWeightVerifyError = "WeightVerifyError";
inline constexpr std::string_view kTrafficRoutingError = "TrafficRoutingError";
inline constexpr std::string_view kReconciliationError = "ReconciliationError";
inline constexpr std::string_view kStepPluginTransition = "StepPluginTransition";
// ramp's own, for RolloutWebhooks hooks: a pre-rollout/rollout failure below the threshold or a
// post-rollout failure (Warning); post-rollout hooks that all succeeded (Normal).
inline constexpr std::string_view kWebhookFailed = "WebhookFailed";
inline constexpr std::string_view kWebhookSucceeded = "WebhookSucceeded";
}  // namespace reason

// Record an event on the rollout (and fire the notifications subscribed to it).
struct EmitEvent {
  static constexpr std::string_view kName = "EmitEvent";
  std::string reason;   // one of reason::k…, e.g. "RolloutStepCompleted"
  std::string message;  // e.g. "Rollout step 1/4 completed (setWeight: 20)"
  EventType type = EventType::kNormal;

  friend bool operator==(const EmitEvent&, const EmitEvent&) = default;
};

using Intent = std::variant<ScaleRevision, DeleteRevision, RestartInstance, SetWeight, VerifyWeight,
                            SetHeaderRoute, SetMirrorRoute, RemoveManagedRoutes, SwitchService,
                            StartAnalysisRun, TerminateAnalysisRun, Measure, CallHook, EmitEvent>;

// The intent's kName: "SetWeight", "Measure", ….
inline std::string_view IntentName(const Intent& intent) {
  return std::visit([](const auto& i) { return std::decay_t<decltype(i)>::kName; }, intent);
}

// ---------------------------------------------------------------------------------------------
// Observations: what the runtime learned since the previous call.

// A measurement result for (run, metric): the provider's update from Run, Resume or Terminate.
struct MeasurementObservation {
  std::string run;
  std::string metric;
  MeasurementUpdate update;
};

// A hook result for the CallHook with this id.
struct HookObservation {
  std::string id;
  HookResult result;

  friend bool operator==(const HookObservation&, const HookObservation&) = default;
};

// The answer to a VerifyWeight intent.
struct WeightObservation {
  int32_t weight = 0;  // the weight that was verified
  WeightCheck check;

  friend bool operator==(const WeightObservation&, const WeightObservation&) = default;
};

// An intent the runtime could not carry out (the rest of its batch was skipped).
struct IntentFailure {
  Intent intent;
  Status status;
};

struct Observed {
  // Every revision of the rollout with its instances, as read back from the platform just before
  // this call; nullopt when it could not be read (the engine then changes nothing that depends
  // on replica counts).
  std::optional<std::vector<RevisionStatus>> revisions;
  // The latest weight read-back, if one arrived since the previous call.
  std::optional<WeightObservation> weight;
  std::vector<MeasurementObservation> measurements;
  std::vector<HookObservation> hooks;
  std::vector<IntentFailure> failures;
};

}  // namespace ramp::engine
