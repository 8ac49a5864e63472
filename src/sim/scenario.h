// A `ramp simulate` scenario: the update applied at t = 0, how long new pods take to become
// ready, when the simulation ends at the latest, what each metric's provider returns over time,
// and the user actions taken along the way (docs/simulate.md has the format).
//
//   update: {image: demo:v2}
//   readyAfter: 5s                      # or never, or {default: 5s, demo:v3: never}
//   until: 2h
//   metrics:
//     success-rate:
//     - {at: 0s, value: [0.99]}         # or error: "…", or phase: Successful
//   actions:
//   - {at: 2m, do: promote}
//
// ParseScenario reads the file strictly: an unknown key is an error with a "did you mean", and
// every error names the file, line and column. Times are offsets from the update (t = 0).
//
// Thread-safety: a Scenario is a plain value, immutable once parsed; ParseScenario is a pure
// function of its input.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/user_action.h"
#include "ramp/clock.h"
#include "ramp/metric_provider.h"
#include "ramp/status.h"
#include "spec/yaml_tree.h"

namespace ramp::sim {

// How long after its creation a pod becomes ready; nullopt: never.
using ReadyDelay = std::optional<Duration>;

struct ReadyAfter {
  ReadyDelay fallback = Duration::zero();  // `default` (or the single value)
  std::map<std::string, ReadyDelay> by_image;

  // The delay for a pod of `image`.
  ReadyDelay For(std::string_view image) const;
};

// One entry of a metric's list: from `at` on, a measurement returns this.
struct MetricEntry {
  enum class Kind { kValue, kError, kPhase };
  Duration at = Duration::zero();
  Kind kind = Kind::kValue;
  MetricValue value;  // kValue: `result` as written (never a null pointer; may hold JSON null)
  std::string error;  // kError: the measurement's message
  AnalysisPhase phase = AnalysisPhase::kSuccessful;  // kPhase: Successful|Failed|Inconclusive|Error
  spec::Mark mark;
};

// The user actions a scenario can take: the daemon's (engine/user_action.h).
using ActionKind = engine::UserActionKind;

// "promote", "promote-full", "abort", "retry", "pause", "resume", "restart", "undo",
// "set-image": the spelling of `do`.
inline std::string_view ActionKindName(ActionKind kind) { return engine::UserActionKindName(kind); }

struct Action {
  Duration at = Duration::zero();
  ActionKind kind = ActionKind::kPromote;
  std::optional<int64_t> to_revision;  // undo; unset: the previous revision
  std::string image;                   // set-image
  spec::Mark mark;
};

struct Scenario {
  std::string update_image;  // the new image of containers[0], applied at t = 0
  ReadyAfter ready_after;
  Duration until = std::chrono::hours(24);
  // By metric name; each list sorted by `at` (entries with the same `at` keep file order).
  std::map<std::string, std::vector<MetricEntry>> metrics;
  // Sorted by `at`, file order within one time; actions after `until` are dropped.
  std::vector<Action> actions;

  // What a measurement of `metric` at `t` returns: the last entry with at <= t, or nullptr.
  const MetricEntry* MetricAt(std::string_view metric, Duration t) const;
};

// Parses a scenario file. On failure the Status (InvalidArgument) lists every error, one per
// line, as "FILE:LINE:COL: path: message".
StatusOr<Scenario> ParseScenario(std::string_view text, std::string_view file);

}  // namespace ramp::sim
