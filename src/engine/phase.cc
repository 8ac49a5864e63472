#include "engine/phase.h"

#include <charconv>
#include <limits>

namespace ramp::engine {
namespace {

// Go's strconv.Atoi / ParseInt(s, 10, bits): an optional sign and decimal digits, in range.
std::optional<int64_t> ParseGoInt(std::string_view s, int64_t min, int64_t max) {
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s.front() == '+' || s.front() == '-') return std::nullopt;
  uint64_t magnitude = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), magnitude);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  if (negative) {
    if (magnitude > static_cast<uint64_t>(max) + 1) return std::nullopt;
    int64_t value = magnitude == static_cast<uint64_t>(max) + 1
                        ? std::numeric_limits<int64_t>::min()
                        : -static_cast<int64_t>(magnitude);
    if (value < min) return std::nullopt;
    return value;
  }
  if (magnitude > static_cast<uint64_t>(max)) return std::nullopt;
  return static_cast<int64_t>(magnitude);
}

bool GenerationObserved(int64_t generation, const std::string& observed) {
  std::optional<int64_t> value = ParseGoInt(observed, std::numeric_limits<int64_t>::min(),
                                            std::numeric_limits<int64_t>::max());
  if (!value) return true;  // not numeric (pre-0.10 hash): treated as observed
  return *value >= generation;
}

bool WorkloadGenerationObserved(const PhaseStatus& status) {
  if (!status.workload_generation) return true;
  std::optional<int64_t> value =
      ParseGoInt(status.workload_observed_generation, std::numeric_limits<int32_t>::min(),
                 std::numeric_limits<int32_t>::max());
  if (!value) return true;
  return *value == *status.workload_generation;
}

PhaseResult Progressing(std::string message) {
  return {RolloutPhase::kProgressing, std::move(message)};
}

}  // namespace

std::string_view RolloutPhaseName(RolloutPhase phase) {
  switch (phase) {
    case RolloutPhase::kHealthy:
      return "Healthy";
    case RolloutPhase::kProgressing:
      return "Progressing";
    case RolloutPhase::kPaused:
      return "Paused";
    case RolloutPhase::kDegraded:
      return "Degraded";
  }
  return "Unknown";
}

std::optional<RolloutPhase> ParseRolloutPhase(std::string_view name) {
  for (RolloutPhase p : {RolloutPhase::kHealthy, RolloutPhase::kProgressing, RolloutPhase::kPaused,
                         RolloutPhase::kDegraded}) {
    if (RolloutPhaseName(p) == name) return p;
  }
  return std::nullopt;
}

PhaseResult CalculateRolloutPhase(const spec::RolloutSpec& spec, const PhaseStatus& status) {
  for (const ConditionView& c : status.conditions) {
    if (c.type == condition_type::kInvalidSpec) {
      return {RolloutPhase::kDegraded,
              std::string(condition_type::kInvalidSpec) + ": " + c.message};
    }
    if (c.reason == condition_reason::kRolloutAborted ||
        c.reason == condition_reason::kProgressDeadlineExceeded) {
      return {RolloutPhase::kDegraded, c.reason + ": " + c.message};
    }
  }
  if (spec.paused) return {RolloutPhase::kPaused, "manually paused"};
  if (!status.pause_reasons.empty()) return {RolloutPhase::kPaused, status.pause_reasons.front()};
  if (!spec.restart_at.empty() && spec.restart_at != status.restarted_at) {
    return Progressing("rollout is restarting");
  }
  if (status.updated_replicas < spec.EffectiveReplicas()) {
    return Progressing("more replicas need to be updated");
  }
  if (status.available_replicas < status.updated_replicas) {
    return Progressing("updated replicas are still becoming available");
  }
  bool fully_promoted = !status.stable_rs.empty() && status.stable_rs == status.current_pod_hash;
  if (spec.blue_green) {
    if (status.active_selector.empty() || status.active_selector != status.current_pod_hash) {
      return Progressing("active service cutover pending");
    }
    if (!fully_promoted) {
      if (spec.blue_green->post_promotion_analysis && !status.post_promotion_analysis_completed) {
        return Progressing("waiting for analysis to complete");
      }
      return Progressing("waiting for post-promotion verification to complete");
    }
  } else if (spec.canary) {
    // Only a basic canary waits for old pods: the others keep them for scaleDownDelaySeconds.
    if (!spec.canary->traffic_routing && status.replicas > status.updated_replicas) {
      return Progressing("old replicas are pending termination");
    }
    if (!fully_promoted) return Progressing("waiting for all steps to complete");
  }
  return {RolloutPhase::kHealthy, ""};
}

PhaseResult GetRolloutPhase(int64_t generation, const spec::RolloutSpec& spec,
                            const PhaseStatus& status) {
  if (!GenerationObserved(generation, status.observed_generation)) {
    return Progressing("waiting for rollout spec update to be observed");
  }
  if (status.controller_pause && status.pause_reasons.empty()) {
    return Progressing("waiting for rollout to unpause");
  }
  if (!WorkloadGenerationObserved(status)) {
    return Progressing("waiting for rollout spec update to be observed for the reference workload");
  }
  if (std::optional<RolloutPhase> stored = ParseRolloutPhase(status.phase)) {
    return {*stored, status.message};
  }
  return CalculateRolloutPhase(spec, status);
}

}  // namespace ramp::engine
