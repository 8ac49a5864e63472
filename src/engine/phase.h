// Argo Rollouts' rollout phase (reference/argo-rollouts.md §2.2 with §11.1 item 1) and the
// condition types and reasons of §2.3.
//
// CalculateRolloutPhase is Argo's controller-side calculation (utils/rollout/rolloututil.go
// CalculateRolloutPhase), first match wins: an InvalidSpec condition or a condition with reason
// RolloutAborted/ProgressDeadlineExceeded ⇒ Degraded "<reason>: <message>"; spec.paused ⇒ Paused
// "manually paused"; a pause condition ⇒ Paused "<reason>"; then the Progressing cases; else
// Healthy with an empty message. GetRolloutPhase adds the client-side guards in front
// (generation not yet observed, unpausing, workload generation) and returns a stored phase.
//
// Thread-safety: stateless functions over plain values; call from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spec/rollout.h"

namespace ramp::engine {

enum class RolloutPhase { kHealthy, kProgressing, kPaused, kDegraded };

// "Healthy", "Progressing", "Paused", "Degraded".
std::string_view RolloutPhaseName(RolloutPhase phase);

// Parses a phase name; nullopt for anything else (including "").
std::optional<RolloutPhase> ParseRolloutPhase(std::string_view name);

// status.conditions[].type values.
namespace condition_type {
inline constexpr std::string_view kInvalidSpec = "InvalidSpec";
inline constexpr std::string_view kAvailable = "Available";
inline constexpr std::string_view kProgressing = "Progressing";
inline constexpr std::string_view kReplicaFailure = "ReplicaFailure";
inline constexpr std::string_view kPaused = "Paused";
inline constexpr std::string_view kCompleted = "Completed";
inline constexpr std::string_view kHealthy = "Healthy";
}  // namespace condition_type

// status.conditions[].reason values (utils/conditions/conditions.go).
namespace condition_reason {
inline constexpr std::string_view kInvalidSpec = "InvalidSpec";
inline constexpr std::string_view kAvailable = "AvailableReason";
inline constexpr std::string_view kReplicaSetUpdated = "ReplicaSetUpdated";
inline constexpr std::string_view kReplicaSetCreateError = "ReplicaSetCreateError";
inline constexpr std::string_view kNewReplicaSetCreated = "NewReplicaSetCreated";
inline constexpr std::string_view kFoundNewReplicaSet = "FoundNewReplicaSet";
inline constexpr std::string_view kNewReplicaSetAvailable = "NewReplicaSetAvailable";
inline constexpr std::string_view kReplicaSetNotAvailable = "ReplicaSetNotAvailable";
inline constexpr std::string_view kRolloutUpdated = "RolloutUpdated";
inline constexpr std::string_view kRolloutCompleted = "RolloutCompleted";
inline constexpr std::string_view kRolloutNotCompleted = "RolloutNotCompleted";
inline constexpr std::string_view kRolloutHealthy = "RolloutHealthy";
inline constexpr std::string_view kRolloutAborted = "RolloutAborted";
inline constexpr std::string_view kRolloutRetry = "RolloutRetry";
inline constexpr std::string_view kRolloutPaused = "RolloutPaused";
inline constexpr std::string_view kRolloutResumed = "RolloutResumed";
inline constexpr std::string_view kProgressDeadlineExceeded = "ProgressDeadlineExceeded";
inline constexpr std::string_view kReconciliationError = "ReconciliationError";
}  // namespace condition_reason

// Fixed condition messages (the formatted ones are built where they are used).
namespace condition_message {
inline constexpr std::string_view kAvailable = "Rollout has minimum availability";
inline constexpr std::string_view kNotAvailable = "Rollout does not have minimum availability";
inline constexpr std::string_view kRolloutPaused = "Rollout is paused";
inline constexpr std::string_view kRolloutResumed = "Rollout is resumed";
inline constexpr std::string_view kRolloutRetry = "Retrying Rollout after abort";
inline constexpr std::string_view kRolloutHealthy = "Rollout is healthy";
inline constexpr std::string_view kRolloutNotHealthy = "Rollout is not healthy";
}  // namespace condition_message

// status.pauseConditions[].reason values.
namespace pause_reason {
inline constexpr std::string_view kCanaryPauseStep = "CanaryPauseStep";
inline constexpr std::string_view kBlueGreenPause = "BlueGreenPause";
inline constexpr std::string_view kInconclusiveAnalysisRun = "InconclusiveAnalysisRun";
inline constexpr std::string_view kInconclusiveExperiment = "InconclusiveExperiment";
}  // namespace pause_reason

struct ConditionView {
  std::string type;
  std::string status;  // True | False | Unknown
  std::string reason;
  std::string message;
};

// The status fields the phase depends on.
struct PhaseStatus {
  std::vector<ConditionView> conditions;
  std::vector<std::string> pause_reasons;  // status.pauseConditions[].reason, in order
  bool controller_pause = false;
  std::string restarted_at;  // status.restartedAt as written (compared to spec.restartAt)
  int32_t replicas = 0;
  int32_t updated_replicas = 0;
  int32_t available_replicas = 0;
  std::string stable_rs;
  std::string current_pod_hash;
  std::string active_selector;  // blue-green
  // Blue-green: a post-promotion AnalysisRun status exists and its phase is completed
  // (Successful, Failed, Error or Inconclusive).
  bool post_promotion_analysis_completed = false;
  // Client-side guards (GetRolloutPhase).
  std::string observed_generation;  // status.observedGeneration (a string)
  // Only when the template is resolved from a workloadRef and the workload-generation annotation
  // is set: that generation, and status.workloadObservedGeneration.
  std::optional<int32_t> workload_generation;
  std::string workload_observed_generation;
  std::string phase;  // status.phase as stored
  std::string message;
};

struct PhaseResult {
  RolloutPhase phase = RolloutPhase::kHealthy;
  std::string message;

  friend bool operator==(const PhaseResult&, const PhaseResult&) = default;
};

// The controller's phase calculation.
PhaseResult CalculateRolloutPhase(const spec::RolloutSpec& spec, const PhaseStatus& status);

// The client's view: "waiting for rollout spec update to be observed" while observedGeneration
// (when numeric) is below `generation`, "waiting for rollout to unpause" while controllerPause is
// set without pause conditions, the workload-generation guard, then the stored phase and message
// when set, else CalculateRolloutPhase.
PhaseResult GetRolloutPhase(int64_t generation, const spec::RolloutSpec& spec,
                            const PhaseStatus& status);

}  // namespace ramp::engine
