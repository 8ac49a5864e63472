// Argo Rollouts' replica arithmetic (reference/argo-rollouts.md §2.5): how many instances the
// new, stable and older revisions of a rollout should run right now.
//
// These are pure functions of the Rollout spec, the few status fields the math reads
// (CanaryState, BlueGreenState) and the observed revision counts (ReplicaSetInfo). They mirror
// utils/replicaset/canary.go and replicaset.go of Argo Rollouts: maxSurge rounds up and
// maxUnavailable rounds down (every string is a percentage, "25" as much as "25%"), both 0 ⇒
// maxUnavailable 1; a basic canary approximates the weight by pod counts within
// maxSurge/maxUnavailable; a traffic-routed canary sizes the canary from the weight and keeps the
// stable at full size unless dynamicStableScale. A canary without steps rolls out with the same
// functions: its current weight is the maximum weight, which makes them a rolling update.
//
// Thread-safety: stateless functions over plain values; call from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spec/rollout.h"

namespace ramp::engine {

// One revision (ReplicaSet) as observed: its desired size and its available instances, plus what
// the old-revision scale-down needs to know about it.
struct ReplicaSetInfo {
  std::string hash;       // pod-template hash; identifies the revision
  int32_t replicas = 0;   // spec.replicas
  int32_t available = 0;  // status.availableReplicas
  int64_t revision = 0;   // rollout revision number (older revisions only)
  // Older revisions of a traffic-routed canary: still referenced by a Service selector, the
  // status weights or a DestinationRule subset (never scaled down while so).
  bool referenced = false;
  bool has_scale_down_deadline = false;  // carries a scale-down-deadline annotation
  bool scale_down_deadline_passed = false;

  friend bool operator==(const ReplicaSetInfo&, const ReplicaSetInfo&) = default;
};

// status.canary.weights: the weights last set on the traffic router.
struct TrafficWeights {
  int32_t canary = 0;
  int32_t stable = 0;

  friend bool operator==(const TrafficWeights&, const TrafficWeights&) = default;
};

// The status fields the canary math reads.
struct CanaryState {
  bool abort = false;
  bool promote_full = false;
  std::string stable_rs;         // status.stableRS
  std::string current_pod_hash;  // status.currentPodHash
  std::optional<int32_t> current_step_index;
  std::optional<TrafficWeights> weights;  // status.canary.weights, when set
};

// The revisions of a canary: the new one (spec template), the stable one and all others.
// new_rs and stable_rs may be absent, or the same revision (same hash).
struct CanaryReplicaSets {
  std::optional<ReplicaSetInfo> new_rs;
  std::optional<ReplicaSetInfo> stable_rs;
  std::vector<ReplicaSetInfo> older;
};

struct CanaryReplicaCounts {
  int32_t new_rs = 0;
  int32_t stable_rs = 0;

  friend bool operator==(const CanaryReplicaCounts&, const CanaryReplicaCounts&) = default;
};

struct Fenceposts {
  int32_t max_surge = 0;
  int32_t max_unavailable = 0;

  friend bool operator==(const Fenceposts&, const Fenceposts&) = default;
};

// Resolves maxSurge (rounded up) and maxUnavailable (rounded down) against `desired`; an absent
// value is 0; when both resolve to 0, maxUnavailable becomes 1. nullopt for a malformed value.
std::optional<Fenceposts> ResolveFenceposts(const std::optional<spec::IntOrString>& max_surge,
                                            const std::optional<spec::IntOrString>& max_unavailable,
                                            int32_t desired);

// Argo's MaxSurge: 0 for a blue-green rollout; a canary's resolved maxSurge (default 25%).
int32_t MaxSurge(const spec::RolloutSpec& spec);

// Argo's MaxUnavailable: 0 with 0 replicas; a canary's resolved fencepost, a blue-green's
// maxUnavailable rounded down (default 25%); never more than spec.replicas.
int32_t MaxUnavailable(const spec::RolloutSpec& spec);

// spec.strategy.canary.trafficRouting.maxTrafficWeight, or 100.
int32_t MaxTrafficWeight(const spec::RolloutSpec& spec);

// The current step index (status index or 0) when the canary has steps; nullopt without steps.
// The index may be == steps.size() (all steps done).
std::optional<int32_t> CurrentStepIndex(const spec::RolloutSpec& spec, const CanaryState& state);

// The weight of the nearest setWeight step at or before the current step: 0 when aborted or
// when there is none; the maximum weight without steps or after the last one.
int32_t CurrentSetWeight(const spec::RolloutSpec& spec, const CanaryState& state);

// The setCanaryScale in force (traffic routing only): the nearest one at or before the current
// step, nullopt when that one has matchTrafficWeight, or when aborted unless
// abortScaleDownDelaySeconds is explicitly 0.
std::optional<spec::SetCanaryScale> ActiveSetCanaryScale(const spec::RolloutSpec& spec,
                                                         const CanaryState& state);

// An explicit canary replica count (setCanaryScale.replicas) or the weight to size from.
struct CanaryReplicasOrWeight {
  std::optional<int32_t> replicas;
  int32_t weight = 0;

  friend bool operator==(const CanaryReplicasOrWeight&, const CanaryReplicasOrWeight&) = default;
};

// Argo's GetCanaryReplicasOrWeight: the maximum weight when promoting fully, without a stable
// revision or when it is the current one; else setCanaryScale, else the desired weight (which
// during an abort with dynamicStableScale walks the setWeight steps back as the stable fills).
CanaryReplicasOrWeight CanaryReplicasOrWeightFor(const spec::RolloutSpec& spec,
                                                 const CanaryState& state,
                                                 const std::optional<ReplicaSetInfo>& new_rs,
                                                 const std::optional<ReplicaSetInfo>& stable_rs);

// ceil(weight × replicas / max_weight).
int32_t TrafficWeightToReplicas(int32_t replicas, int32_t weight, int32_t max_weight);

// The canary/stable pair that best approximates `weight` of `replicas` (total replicas, or
// replicas+1 when max_surge > 0); a 1..max-1 weight never rounds to 0 with two or more pods;
// a tie between floor and ceiling picks the larger canary.
CanaryReplicaCounts ApproximateWeightedCanaryStableReplicaCounts(int32_t replicas, int32_t weight,
                                                                 int32_t max_weight,
                                                                 int32_t max_surge);

// True when a stable revision exists and is not the new one.
bool StableExistsAndDiffers(const CanaryReplicaSets& sets);

// Desired new and stable counts of a canary without traffic routing (steps or none).
CanaryReplicaCounts CalculateReplicaCountsForBasicCanary(const spec::RolloutSpec& spec,
                                                         const CanaryState& state,
                                                         const CanaryReplicaSets& sets);

// Desired new and stable counts of a traffic-routed canary; `state.weights` are the weights last
// recorded in the status (used by dynamicStableScale).
CanaryReplicaCounts CalculateReplicaCountsForTrafficRoutedCanary(const spec::RolloutSpec& spec,
                                                                 const CanaryState& state,
                                                                 const CanaryReplicaSets& sets);

// Picks the basic or the traffic-routed calculation by the spec.
CanaryReplicaCounts CalculateReplicaCountsForCanary(const spec::RolloutSpec& spec,
                                                    const CanaryState& state,
                                                    const CanaryReplicaSets& sets);

// What to do with one older revision of a canary.
struct OldReplicaSetScale {
  std::string hash;
  int32_t replicas = 0;                  // desired spec.replicas
  bool add_scale_down_deadline = false;  // annotate with now + scaleDownDelaySeconds

  friend bool operator==(const OldReplicaSetScale&, const OldReplicaSetScale&) = default;
};

// Argo's scaleDownOldReplicaSetsForCanary: first every older revision drops its unavailable
// instances, then older revisions (newest revision first) are scaled down within the budget
// available(all revisions) − (replicas − maxUnavailable). With traffic routing, a referenced
// revision is left alone, an intermediate one (mid-update, no deadline) goes to 0, and once
// fully promoted (or when it has a deadline) it goes to 0 with dynamicStableScale, else it keeps
// its size until its deadline passes (deadlines beyond scaleDownDelayRevisionLimit go at once).
// Returns one entry per sets.older, in the same order. ALB target-group verification is the
// caller's precondition.
std::vector<OldReplicaSetScale> ScaleDownOldReplicaSetsForCanary(const spec::RolloutSpec& spec,
                                                                 const CanaryState& state,
                                                                 const CanaryReplicaSets& sets);

// The status fields a blue-green rollout's new-revision size depends on.
struct BlueGreenState {
  std::string active_selector;    // status.blueGreen.activeSelector
  bool active_rs_exists = false;  // a revision with hash == active_selector exists
  bool promote_full = false;
  std::string current_pod_hash;  // status.currentPodHash
  bool scale_up_preview_checkpoint = false;
  bool has_pause_conditions = false;
};

// Argo's NewRSNewReplicas for blue-green: previewReplicaCount while the new revision is only in
// preview (not yet promoted, not fully promoting, not resumed past the scale-up checkpoint),
// else spec.replicas. The active (stable) revision stays at spec.replicas.
int32_t BlueGreenNewReplicas(const spec::RolloutSpec& spec, const BlueGreenState& state,
                             const std::string& new_rs_hash);

}  // namespace ramp::engine
