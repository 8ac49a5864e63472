// A Rollout's `status` as a typed value in Argo's RolloutStatus shape (reference/argo-rollouts.md
// §2.1), its strict decoding and exact JSON encoding, and the status conditions of §2.3: the
// generic helpers (new/get/set/remove) and the pure calculations Argo's controller makes for the
// Available, Progressing (with the progress deadline, §11.1 item 4), Paused, Healthy and
// Completed conditions.
//
// Times are ramp::Time at whole seconds: metav1.Time is written as RFC 3339 in UTC with second
// precision ("2024-05-01T10:00:00Z"), so decoding drops any fraction and NewCondition truncates
// `now`; a status therefore compares equal before and after it is saved and read back. A time
// that Go would hold as a zero value (non-pointer fields) is nullopt and is written as null.
//
// Nothing here reads the clock: every calculation takes `now`.
//
// Thread-safety: plain values and stateless functions; call from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/phase.h"
#include "ramp/clock.h"
#include "ramp/traffic_router.h"
#include "spec/analysis.h"
#include "spec/decode.h"
#include "spec/rollout.h"
#include "spec/yaml_tree.h"

namespace ramp::engine {

// status.conditions[].status values.
namespace condition_status {
inline constexpr std::string_view kTrue = "True";
inline constexpr std::string_view kFalse = "False";
inline constexpr std::string_view kUnknown = "Unknown";
}  // namespace condition_status

struct PauseCondition {
  std::string reason;
  std::optional<Time> start_time;

  friend bool operator==(const PauseCondition&, const PauseCondition&) = default;
};

struct RolloutCondition {
  std::string type;
  std::string status;  // True | False | Unknown
  std::optional<Time> last_update_time;
  std::optional<Time> last_transition_time;
  std::string reason;
  std::string message;

  friend bool operator==(const RolloutCondition&, const RolloutCondition&) = default;
};

// canary.currentStepAnalysisRunStatus and friends.
struct RolloutAnalysisRunStatus {
  std::string name;
  spec::AnalysisPhase status = spec::AnalysisPhase::kNone;
  std::string message;

  friend bool operator==(const RolloutAnalysisRunStatus&,
                         const RolloutAnalysisRunStatus&) = default;
};

// status.canary.weights in full (replica_math.h's TrafficWeights is the part the replica math
// reads); canary, stable and additional destinations are ramp::WeightDestination.
struct TrafficWeightsStatus {
  WeightDestination canary;
  WeightDestination stable;
  std::vector<WeightDestination> additional;
  std::optional<bool> verified;

  friend bool operator==(const TrafficWeightsStatus&, const TrafficWeightsStatus&) = default;
};

// canary.stepPluginStatuses[]; operation Run|Terminate|Abort, phase Running|Successful|Failed|
// Error, both kept as written.
struct StepPluginStatus {
  int32_t index = 0;
  std::string name;
  std::string operation;
  std::string phase;
  std::string message;
  std::optional<Time> started_at;
  std::optional<Time> updated_at;
  std::optional<Time> finished_at;
  std::string backoff;  // a duration string such as "30s"
  int32_t executions = 0;
  bool disabled = false;
  std::optional<nlohmann::json> status;  // the plugin's own state, opaque

  friend bool operator==(const StepPluginStatus&, const StepPluginStatus&) = default;
};

struct CanaryStatus {
  std::optional<RolloutAnalysisRunStatus> current_step_analysis_run_status;
  std::optional<RolloutAnalysisRunStatus> current_background_analysis_run_status;
  std::string current_experiment;
  std::optional<TrafficWeightsStatus> weights;
  std::string stable_ping_pong;  // "ping" | "pong" | ""
  std::vector<StepPluginStatus> step_plugin_statuses;

  friend bool operator==(const CanaryStatus&, const CanaryStatus&) = default;
};

struct BlueGreenStatus {
  std::string preview_selector;
  std::string active_selector;
  bool scale_up_preview_check_point = false;
  std::optional<RolloutAnalysisRunStatus> pre_promotion_analysis_run_status;
  std::optional<RolloutAnalysisRunStatus> post_promotion_analysis_run_status;

  friend bool operator==(const BlueGreenStatus&, const BlueGreenStatus&) = default;
};

struct AwsResourceRef {
  std::string name;
  std::string arn;
  std::string full_name;

  friend bool operator==(const AwsResourceRef&, const AwsResourceRef&) = default;
};

struct AlbStatus {
  AwsResourceRef load_balancer;
  AwsResourceRef canary_target_group;
  AwsResourceRef stable_target_group;
  std::string ingress;

  friend bool operator==(const AlbStatus&, const AlbStatus&) = default;
};

// status.duration; completionStatus is Promoted|FastPromoted|Aborted|Superseded|RolledBack|
// FastRolledBack, kept as written.
struct RolloutDurationStatus {
  std::optional<Time> rollout_started_at;
  std::optional<Time> manual_pause_started_at;
  std::optional<int64_t> total_manual_pause_duration_seconds;
  std::optional<Time> finished_at;
  std::optional<std::string> completion_status;

  friend bool operator==(const RolloutDurationStatus&, const RolloutDurationStatus&) = default;
};

// Argo's RolloutStatus, field for field.
struct RolloutStatus {
  bool abort = false;
  std::vector<PauseCondition> pause_conditions;
  bool controller_pause = false;
  std::optional<Time> aborted_at;
  std::string current_pod_hash;
  std::string current_step_hash;
  int32_t replicas = 0;
  int32_t updated_replicas = 0;
  int32_t ready_replicas = 0;
  int32_t available_replicas = 0;
  std::optional<int32_t> current_step_index;
  std::optional<int32_t> collision_count;
  std::string observed_generation;  // a string, as Argo writes it
  std::vector<RolloutCondition> conditions;
  CanaryStatus canary;
  BlueGreenStatus blue_green;
  int32_t hpa_replicas = 0;  // "HPAReplicas"
  std::string selector;
  std::string stable_rs;
  std::optional<Time> restarted_at;
  bool promote_full = false;
  std::string phase;
  std::string message;
  std::string workload_observed_generation;
  std::optional<AlbStatus> alb;
  std::vector<AlbStatus> albs;
  std::optional<RolloutDurationStatus> duration;

  friend bool operator==(const RolloutStatus&, const RolloutStatus&) = default;
};

// ---- Encoding and decoding ----

// RFC 3339 in UTC at second precision, as metav1.Time is written: "2024-05-01T10:00:00Z".
std::string FormatMetaTime(Time t);
// `t` truncated to whole seconds (towards the past).
Time TruncateToSeconds(Time t);

// The status as Argo writes it: the same field names and order, omitempty fields left out,
// `canary` and `blueGreen` always present (Go never omits a struct value), zero non-pointer times
// as null. Decoding the result gives back an equal status.
nlohmann::json ToJson(const RolloutStatus& status);

// Strict decoding of a Rollout's `status` map (`path` e.g. "status"): unknown fields, wrong types
// and invalid times or analysis phases are errors in `ctx`. A null or absent node is an empty
// status.
RolloutStatus DecodeRolloutStatus(spec::DecodeContext* ctx, const spec::Node& node,
                                  const std::string& path);

// The fields CalculateRolloutPhase reads (reference §2.2).
PhaseStatus ToPhaseStatus(const RolloutStatus& status);

// ---- Condition helpers (utils/conditions/conditions.go) ----

// A condition whose lastUpdateTime and lastTransitionTime are `now` (truncated to seconds).
RolloutCondition NewCondition(std::string_view type, std::string_view status,
                              std::string_view reason, std::string_view message, Time now);

// The condition of `type`, or nullptr.
const RolloutCondition* GetCondition(const RolloutStatus& status, std::string_view type);

// Argo's SetRolloutCondition. When a condition of the same type has the same status and reason,
// nothing changes (its times included) and the result is false. Otherwise the old one is removed
// and `condition` appended, keeping the old lastTransitionTime when the status is unchanged (a
// reason change refreshes only lastUpdateTime); the result is true.
bool SetCondition(RolloutStatus* status, RolloutCondition condition);

// Removes the condition of `type`, if any.
void RemoveCondition(RolloutStatus* status, std::string_view type);

// ---- Pure predicates (utils/conditions/conditions.go) ----

// stableRS is set and equals currentPodHash.
bool RolloutCompleted(const RolloutStatus& status);

// Argo's RolloutHealthy: updated and available replicas == spec replicas, `old_status` has
// observed `generation`, and the strategy is done (blue-green: active, and preview when a preview
// Service is set, select currentPodHash; canary: all steps executed, stableRS == currentPodHash
// and replicas == spec replicas).
bool RolloutHealthy(const spec::RolloutSpec& spec, int64_t generation,
                    const RolloutStatus& old_status, const RolloutStatus& new_status);

// Argo's RolloutProgressing: the reconcile moved the rollout forward (updated replicas changed,
// fewer old replicas, more ready or available replicas, or blue-green selectors / canary
// stableRS, step index or step hash changed).
bool RolloutProgressing(const spec::RolloutSpec& spec, const RolloutStatus& old_status,
                        const RolloutStatus& new_status);

// When the progress deadline of `status` expires: the Progressing condition's lastUpdateTime +
// `progress_deadline_seconds`. nullopt when there is no Progressing condition (or it has no
// lastUpdateTime) or its reason is RolloutAborted, RolloutPaused or ProgressDeadlineExceeded
// (paused time does not count; an exceeded deadline has nothing left to wait for).
std::optional<Time> ProgressDeadline(const RolloutStatus& status,
                                     int32_t progress_deadline_seconds);

// Argo's RolloutTimedOut: false without a Progressing condition or when its reason is
// RolloutAborted or RolloutPaused; true when it already is ProgressDeadlineExceeded; otherwise
// whether lastUpdateTime + progress_deadline_seconds is strictly before `now` (a missing
// lastUpdateTime is Go's zero time, so it has timed out).
bool RolloutTimedOut(const RolloutStatus& status, int32_t progress_deadline_seconds, Time now);

// ---- Condition calculations ----

// The Available condition: True when available ≥ desired, else False; reason AvailableReason
// either way, message "Rollout has minimum availability" / "... does not have ...".
RolloutCondition AvailableCondition(bool available, Time now);

// Argo's checkPausedConditions on `status` (the stored status, whose generation the caller has
// checked is observed). `paused` is "status.pauseConditions non-empty or spec.paused". Sets
// Progressing Unknown RolloutPaused / RolloutResumed when the pause state differs from the
// Progressing reason (not while an abort condition exists or once completed), Progressing
// Unknown RolloutRetry when the abort flag was cleared under a RolloutAborted condition, and
// Paused True/False (reason RolloutPaused) when it differs from the pause state (not while an
// abort condition exists). Returns whether any condition was set.
bool CheckPausedConditions(bool paused, RolloutStatus* status, Time now);

// What calculateRolloutConditions needs beyond the spec and the two statuses.
struct ConditionInputs {
  int64_t generation = 0;  // metadata.generation
  std::string rollout_name;
  std::string new_rs_name;  // empty when there is no new ReplicaSet
  int64_t revision = 0;     // the rollout's revision annotation (abort message)
  bool aborted = false;     // the pause context's abort state
  std::string abort_message;
  // Canary: available replicas over all ReplicaSets ≥ spec replicas; blue-green: the active
  // ReplicaSet exists and is saturated.
  bool available = false;
  // The current canary step is a pause, analysis or experiment, or the Paused condition is True.
  bool indefinite_step = false;
  // An old ReplicaSet still waits for its scale-down deadline.
  bool waiting_for_scale_down = false;
  // The first ReplicaSet ReplicaFailure condition, already converted; nullopt removes ours.
  std::optional<RolloutCondition> replica_failure;
};

// Events calculateRolloutConditions emits, for the caller to turn into intents.
struct ConditionEvents {
  bool aborted = false;        // RolloutAborted (Warning) with the Progressing message
  bool not_completed = false;  // RolloutNotCompleted
};

// Argo's calculateRolloutConditions: Healthy, Progressing (RolloutAborted, NewReplicaSetAvailable,
// ReplicaSetUpdated / ReplicaSetNotAvailable, ProgressDeadlineExceeded), Available,
// ReplicaFailure and Completed on `new_status`, given the stored `old_status`. Progress replaces
// the Progressing condition with a fresh lastUpdateTime (keeping lastTransitionTime while it was
// True), so the deadline runs from the last progress and a ProgressDeadlineExceeded condition is
// replaced once progress resumes; an indefinite step or a pending scale-down never times out.
ConditionEvents CalculateRolloutConditions(const spec::RolloutSpec& spec, const ConditionInputs& in,
                                           const RolloutStatus& old_status,
                                           RolloutStatus* new_status, Time now);

}  // namespace ramp::engine
