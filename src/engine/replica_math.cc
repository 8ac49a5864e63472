#include "engine/replica_math.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>

namespace ramp::engine {
namespace {

int32_t SumReplicas(const std::vector<ReplicaSetInfo>& sets) {
  int32_t total = 0;
  for (const ReplicaSetInfo& rs : sets) total += rs.replicas;
  return total;
}

// The replicas of `rs` that may be counted on when scaling down: spec.replicas when it is
// already below the available count or when availability is ignored, else the available count.
int32_t ReplicasForScaleDown(const std::optional<ReplicaSetInfo>& rs, bool ignore_availability) {
  if (!rs) return 0;
  if (rs->replicas < rs->available) return rs->replicas;
  if (ignore_availability) return rs->replicas;
  return rs->available;
}

// Moves the drained revision towards its desired count by at most `scale_down`.
int32_t ScaleDownCount(const std::optional<ReplicaSetInfo>& drain, int32_t desired,
                       int32_t scale_down, int32_t drain_count) {
  if (drain && drain->replicas > desired) {
    return std::max(desired, drain->replicas - scale_down);
  }
  return drain_count;
}

struct DrainAdjust {
  int32_t drain = 0;
  int32_t adjust = 0;
};

// Keeps the pair within maxSurge and, as far as the adjusted revision allows, maxUnavailable.
DrainAdjust AdjustWithinLimits(const std::optional<ReplicaSetInfo>& drain_rs,
                               const std::optional<ReplicaSetInfo>& adjust_rs, int32_t drain,
                               int32_t adjust, int32_t max_allowed, int32_t min_available) {
  int32_t over = std::max(0, adjust + drain - max_allowed);
  int32_t total_available = 0;
  if (drain_rs) total_available += std::min(drain_rs->available, drain);
  if (adjust_rs) {
    adjust -= over;
    total_available += std::min(adjust_rs->available, adjust);
    int32_t lost_available = std::max(0, adjust_rs->available - adjust);
    int32_t still_needed = std::max(0, min_available - total_available);
    adjust += std::min(lost_available, still_needed);
    over = std::max(0, adjust + drain - max_allowed);
    drain -= over;
  }
  return {drain, adjust};
}

bool FloorCeilingTied(int32_t weight, int32_t max_weight, int32_t total) {
  double int_part = 0;
  double frac = std::modf(
      static_cast<double>(total) * (static_cast<double>(weight) / static_cast<double>(max_weight)),
      &int_part);
  return frac == 0.5;
}

double WeightDelta(int32_t weight, int32_t max_weight, int32_t canary, int32_t total) {
  double actual =
      static_cast<double>(static_cast<int64_t>(canary) * max_weight) / static_cast<double>(total);
  return std::abs(actual - static_cast<double>(weight));
}

// Raises a non-zero count to minPodsPerReplicaSet (capped at spec.replicas); traffic routing only.
int32_t CheckMinPodsPerReplicaSet(const spec::RolloutSpec& spec, int32_t count) {
  if (count == 0) return count;
  if (!spec.canary || !spec.canary->min_pods_per_replica_set || !spec.canary->traffic_routing) {
    return count;
  }
  int32_t min_pods = std::min(*spec.canary->min_pods_per_replica_set, spec.EffectiveReplicas());
  return std::max(count, min_pods);
}

// Argo's GetDesiredCanaryWeight.
int32_t DesiredCanaryWeight(const spec::RolloutSpec& spec, const CanaryState& state,
                            const std::optional<ReplicaSetInfo>& new_rs,
                            const std::optional<ReplicaSetInfo>& stable_rs) {
  const spec::CanaryStrategy& canary = *spec.canary;
  if (state.abort && canary.dynamic_stable_scale && new_rs && stable_rs) {
    int32_t max_weight = MaxTrafficWeight(spec);
    int32_t replicas = spec.EffectiveReplicas();
    int32_t expected_canary = replicas - stable_rs->available;
    int32_t canary_replicas = std::max(expected_canary, new_rs->available);
    // An explicit (non-zero) abortScaleDownDelaySeconds keeps the canary at full size until its
    // deadline, so its size must not hold the weight up.
    bool explicit_abort_delay = canary.traffic_routing && canary.abort_scale_down_delay_seconds &&
                                *canary.abort_scale_down_delay_seconds != 0;
    if (explicit_abort_delay) canary_replicas = expected_canary;
    for (size_t i = canary.steps.size(); i-- > 0;) {
      const std::optional<int32_t>& w = canary.steps[i].set_weight;
      if (w && TrafficWeightToReplicas(replicas, *w, max_weight) < canary_replicas) return *w;
    }
    return 0;
  }
  return CurrentSetWeight(spec, state);
}

}  // namespace

std::optional<Fenceposts> ResolveFenceposts(const std::optional<spec::IntOrString>& max_surge,
                                            const std::optional<spec::IntOrString>& max_unavailable,
                                            int32_t desired) {
  std::optional<int32_t> surge =
      max_surge ? spec::ResolveIntOrPercent(*max_surge, desired, /*round_up=*/true) : 0;
  if (!surge) return std::nullopt;
  std::optional<int32_t> unavailable =
      max_unavailable ? spec::ResolveIntOrPercent(*max_unavailable, desired, /*round_up=*/false)
                      : 0;
  if (!unavailable) return std::nullopt;
  if (*surge == 0 && *unavailable == 0) unavailable = 1;
  return Fenceposts{*surge, *unavailable};
}

int32_t MaxSurge(const spec::RolloutSpec& spec) {
  if (!spec.canary) return 0;
  std::optional<Fenceposts> f =
      ResolveFenceposts(spec.canary->EffectiveMaxSurge(), spec.canary->EffectiveMaxUnavailable(),
                        spec.EffectiveReplicas());
  return f ? f->max_surge : 0;
}

int32_t MaxUnavailable(const spec::RolloutSpec& spec) {
  int32_t replicas = spec.EffectiveReplicas();
  if (replicas == 0) return 0;
  int32_t unavailable = 0;
  if (spec.canary) {
    std::optional<Fenceposts> f = ResolveFenceposts(
        spec.canary->EffectiveMaxSurge(), spec.canary->EffectiveMaxUnavailable(), replicas);
    unavailable = f ? f->max_unavailable : 0;
  } else {
    spec::IntOrString value = spec::IntOrString::Str("25%");
    if (spec.blue_green && spec.blue_green->max_unavailable) {
      value = *spec.blue_green->max_unavailable;
    }
    unavailable = spec::ResolveIntOrPercent(value, replicas, /*round_up=*/false).value_or(0);
  }
  return std::min(unavailable, replicas);
}

int32_t MaxTrafficWeight(const spec::RolloutSpec& spec) {
  if (spec.canary && spec.canary->traffic_routing) {
    return spec.canary->traffic_routing->EffectiveMaxTrafficWeight();
  }
  return 100;
}

std::optional<int32_t> CurrentStepIndex(const spec::RolloutSpec& spec, const CanaryState& state) {
  if (!spec.canary || spec.canary->steps.empty()) return std::nullopt;
  return state.current_step_index.value_or(0);
}

int32_t CurrentSetWeight(const spec::RolloutSpec& spec, const CanaryState& state) {
  if (state.abort) return 0;
  std::optional<int32_t> index = CurrentStepIndex(spec, state);
  if (!index || static_cast<size_t>(*index) >= spec.canary->steps.size()) {
    return MaxTrafficWeight(spec);
  }
  for (int32_t i = *index; i >= 0; --i) {
    const std::optional<int32_t>& w = spec.canary->steps[static_cast<size_t>(i)].set_weight;
    if (w) return *w;
  }
  return 0;
}

std::optional<spec::SetCanaryScale> ActiveSetCanaryScale(const spec::RolloutSpec& spec,
                                                         const CanaryState& state) {
  if (!spec.canary || !spec.canary->traffic_routing) return std::nullopt;
  if (state.abort && spec.canary->abort_scale_down_delay_seconds.value_or(30) != 0) {
    return std::nullopt;
  }
  std::optional<int32_t> index = CurrentStepIndex(spec, state);
  if (!index || static_cast<size_t>(*index) >= spec.canary->steps.size()) return std::nullopt;
  for (int32_t i = *index; i >= 0; --i) {
    const std::optional<spec::SetCanaryScale>& scs =
        spec.canary->steps[static_cast<size_t>(i)].set_canary_scale;
    if (!scs) continue;
    if (scs->match_traffic_weight) return std::nullopt;
    return scs;
  }
  return std::nullopt;
}

CanaryReplicasOrWeight CanaryReplicasOrWeightFor(const spec::RolloutSpec& spec,
                                                 const CanaryState& state,
                                                 const std::optional<ReplicaSetInfo>& new_rs,
                                                 const std::optional<ReplicaSetInfo>& stable_rs) {
  if (state.promote_full || state.stable_rs.empty() || state.current_pod_hash == state.stable_rs) {
    return {std::nullopt, MaxTrafficWeight(spec)};
  }
  if (std::optional<spec::SetCanaryScale> scs = ActiveSetCanaryScale(spec, state)) {
    if (scs->replicas) return {scs->replicas, 0};
    if (scs->weight) return {std::nullopt, *scs->weight};
  }
  return {std::nullopt, DesiredCanaryWeight(spec, state, new_rs, stable_rs)};
}

int32_t TrafficWeightToReplicas(int32_t replicas, int32_t weight, int32_t max_weight) {
  return static_cast<int32_t>(
      std::ceil(static_cast<double>(weight) * static_cast<double>(replicas) /
                static_cast<double>(max_weight)));
}

CanaryReplicaCounts ApproximateWeightedCanaryStableReplicaCounts(int32_t replicas, int32_t weight,
                                                                 int32_t max_weight,
                                                                 int32_t max_surge) {
  if (replicas == 0) return {0, 0};
  struct Option {
    int32_t canary;
    int32_t total;
  };
  std::vector<Option> options;
  double exact = static_cast<double>(static_cast<int64_t>(replicas) * weight) /
                 static_cast<double>(max_weight);
  auto ceil_count = static_cast<int32_t>(std::ceil(exact));
  auto floor_count = static_cast<int32_t>(std::floor(exact));
  bool tied = FloorCeilingTied(weight, max_weight, replicas);
  bool zero_allowed = weight == max_weight || weight == 0 || (replicas == 1 && max_surge == 0);

  if (ceil_count < replicas || zero_allowed) options.push_back({ceil_count, replicas});
  if (!tied && (floor_count != 0 || zero_allowed)) options.push_back({floor_count, replicas});
  if (max_surge > 0) {
    options.push_back({ceil_count, replicas + 1});
    bool surge_tied = FloorCeilingTied(weight, max_weight, replicas + 1);
    if (!surge_tied && (floor_count != 0 || zero_allowed)) {
      options.push_back({floor_count, replicas + 1});
    }
  }
  if (options.empty()) return {0, replicas};

  Option best = options[0];
  double best_delta = WeightDelta(weight, max_weight, best.canary, best.total);
  for (size_t i = 1; i < options.size(); ++i) {
    double delta = WeightDelta(weight, max_weight, options[i].canary, options[i].total);
    if (delta < best_delta) {
      best = options[i];
      best_delta = delta;
    }
  }
  return {best.canary, best.total - best.canary};
}

bool StableExistsAndDiffers(const CanaryReplicaSets& sets) {
  if (!sets.stable_rs) return false;
  if (!sets.new_rs) return true;
  return sets.new_rs->hash != sets.stable_rs->hash;
}

CanaryReplicaCounts CalculateReplicaCountsForBasicCanary(const spec::RolloutSpec& spec,
                                                         const CanaryState& state,
                                                         const CanaryReplicaSets& sets) {
  const std::optional<ReplicaSetInfo>& new_rs = sets.new_rs;
  const std::optional<ReplicaSetInfo>& stable_rs = sets.stable_rs;
  int32_t replicas = spec.EffectiveReplicas();
  int32_t weight = CanaryReplicasOrWeightFor(spec, state, new_rs, stable_rs).weight;
  int32_t max_surge = MaxSurge(spec);
  CanaryReplicaCounts desired = ApproximateWeightedCanaryStableReplicaCounts(
      replicas, weight, MaxTrafficWeight(spec), max_surge);

  CanaryReplicaCounts out;
  if (new_rs) out.new_rs = new_rs->replicas;
  bool scale_stable = StableExistsAndDiffers(sets);
  if (scale_stable) {
    out.stable_rs = stable_rs->replicas;
  } else {
    // Without a distinct stable revision the canary does not follow the steps: all to new.
    desired = {replicas, 0};
  }

  int32_t max_allowed = replicas + max_surge;
  int32_t total = SumReplicas(sets.older) + (new_rs ? new_rs->replicas : 0) +
                  (scale_stable ? stable_rs->replicas : 0);
  int32_t scale_up = max_allowed - total;

  if (scale_stable && stable_rs->replicas < desired.stable_rs && scale_up > 0) {
    if (stable_rs->replicas + scale_up < desired.stable_rs) {
      out.stable_rs = stable_rs->replicas + scale_up;
      scale_up = 0;
    } else {
      out.stable_rs = desired.stable_rs;
      scale_up -= desired.stable_rs - stable_rs->replicas;
    }
  }
  if (new_rs && new_rs->replicas < desired.new_rs && scale_up > 0) {
    out.new_rs = std::min(new_rs->replicas + scale_up, desired.new_rs);
  }

  // Older revisions are scaled down before the new or stable one.
  if (SumReplicas(sets.older) > 0) return out;

  int32_t min_available = replicas - MaxUnavailable(spec);
  // Increasing the canary: the stable's availability may be ignored; decreasing (e.g. abort):
  // the canary's may.
  bool increasing = !new_rs || desired.new_rs >= new_rs->replicas;
  int32_t to_scale_down =
      ReplicasForScaleDown(new_rs, !increasing) + ReplicasForScaleDown(stable_rs, increasing);
  if (to_scale_down <= min_available) return out;

  int32_t scale_down = to_scale_down - min_available;
  if (!increasing) {
    out.new_rs = ScaleDownCount(new_rs, desired.new_rs, scale_down, out.new_rs);
    DrainAdjust r = AdjustWithinLimits(new_rs, stable_rs, out.new_rs, out.stable_rs, max_allowed,
                                       min_available);
    out.new_rs = r.drain;
    out.stable_rs = r.adjust;
  } else if (scale_stable) {
    out.stable_rs = ScaleDownCount(stable_rs, desired.stable_rs, scale_down, out.stable_rs);
    DrainAdjust r = AdjustWithinLimits(stable_rs, new_rs, out.stable_rs, out.new_rs, max_allowed,
                                       min_available);
    out.stable_rs = r.drain;
    out.new_rs = r.adjust;
  }
  return out;
}

CanaryReplicaCounts CalculateReplicaCountsForTrafficRoutedCanary(const spec::RolloutSpec& spec,
                                                                 const CanaryState& state,
                                                                 const CanaryReplicaSets& sets) {
  int32_t replicas = spec.EffectiveReplicas();
  CanaryReplicasOrWeight row = CanaryReplicasOrWeightFor(spec, state, sets.new_rs, sets.stable_rs);
  int32_t max_weight = MaxTrafficWeight(spec);
  int32_t canary = row.replicas
                       ? *row.replicas
                       : CheckMinPodsPerReplicaSet(
                             spec, TrafficWeightToReplicas(replicas, row.weight, max_weight));
  if (!spec.canary->dynamic_stable_scale) return {canary, replicas};

  // Dynamic stable scale: the stable follows the larger of the desired and the actual stable
  // weight; during an abort the canary stays as large as the traffic it still receives.
  int32_t stable = TrafficWeightToReplicas(replicas, max_weight - row.weight, max_weight);
  if (state.weights) {
    stable = std::max(stable, TrafficWeightToReplicas(replicas, state.weights->stable, max_weight));
    if (state.abort) {
      canary =
          std::max(TrafficWeightToReplicas(replicas, state.weights->canary, max_weight), canary);
    }
  }
  return {CheckMinPodsPerReplicaSet(spec, canary), CheckMinPodsPerReplicaSet(spec, stable)};
}

CanaryReplicaCounts CalculateReplicaCountsForCanary(const spec::RolloutSpec& spec,
                                                    const CanaryState& state,
                                                    const CanaryReplicaSets& sets) {
  if (spec.canary && spec.canary->traffic_routing) {
    return CalculateReplicaCountsForTrafficRoutedCanary(spec, state, sets);
  }
  return CalculateReplicaCountsForBasicCanary(spec, state, sets);
}

std::vector<OldReplicaSetScale> ScaleDownOldReplicaSetsForCanary(const spec::RolloutSpec& spec,
                                                                 const CanaryState& state,
                                                                 const CanaryReplicaSets& sets) {
  std::vector<OldReplicaSetScale> out;
  out.reserve(sets.older.size());
  for (const ReplicaSetInfo& rs : sets.older) out.push_back({rs.hash, rs.replicas, false});

  // Unhealthy instances first (oldest revision first); a revision with more available instances
  // than desired stops the whole pass, as Argo's does.
  std::vector<size_t> order(sets.older.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return sets.older[a].revision < sets.older[b].revision;
  });
  for (size_t i : order) {
    const ReplicaSetInfo& rs = sets.older[i];
    if (rs.replicas == 0 || rs.replicas == rs.available) continue;
    if (rs.available > rs.replicas) return out;
    out[i].replicas = rs.available;
  }

  int32_t available = 0;
  for (const ReplicaSetInfo& rs : sets.older) available += rs.available;
  if (sets.new_rs) available += sets.new_rs->available;
  if (StableExistsAndDiffers(sets)) available += sets.stable_rs->available;
  int32_t max_scale_down = available - (spec.EffectiveReplicas() - MaxUnavailable(spec));
  if (max_scale_down <= 0) return out;

  bool routed = spec.canary && spec.canary->traffic_routing;
  bool dynamic = spec.canary && spec.canary->dynamic_stable_scale;
  int32_t revision_limit = std::numeric_limits<int32_t>::max();
  if (spec.canary && spec.canary->scale_down_delay_revision_limit) {
    revision_limit = *spec.canary->scale_down_delay_revision_limit;
  }
  bool fully_promoted = state.stable_rs == state.current_pod_hash;
  int32_t annotated = 0;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const ReplicaSetInfo& rs = sets.older[*it];
    OldReplicaSetScale& result = out[*it];
    if (routed && rs.referenced) continue;
    if (max_scale_down <= 0) break;
    int32_t current = result.replicas;
    if (current == 0) continue;
    int32_t desired = 0;
    if (!routed) {
      // A basic canary's older pods take traffic: scale them all down, within the budget.
      if (current > max_scale_down) desired = current - max_scale_down;
    } else if (fully_promoted || rs.has_scale_down_deadline) {
      if (!dynamic) {
        if (!rs.has_scale_down_deadline) {
          if (annotated < revision_limit) {
            ++annotated;
            desired = current;
            result.add_scale_down_deadline = true;
          }
        } else {
          ++annotated;
          if (annotated <= revision_limit && !rs.scale_down_deadline_passed) desired = current;
        }
      }
    }
    if (current == desired) continue;
    result.replicas = desired;
    max_scale_down -= current - desired;
  }
  return out;
}

int32_t BlueGreenNewReplicas(const spec::RolloutSpec& spec, const BlueGreenState& state,
                             const std::string& new_rs_hash) {
  int32_t replicas = spec.EffectiveReplicas();
  if (!spec.blue_green || !spec.blue_green->preview_replica_count) return replicas;
  int32_t preview = *spec.blue_green->preview_replica_count;
  if (!state.active_rs_exists || state.active_selector == new_rs_hash) return replicas;
  if (state.promote_full) return replicas;
  if (new_rs_hash != state.current_pod_hash) return preview;
  bool not_paused = !spec.paused && !state.has_pause_conditions;
  if (not_paused && state.scale_up_preview_checkpoint) return replicas;
  return preview;
}

}  // namespace ramp::engine
