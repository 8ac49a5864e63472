// How `ramp simulate` prints a timeline: JSON lines (schema version 1, a stable interface) and
// the readable text form.
//
// JSON: one object per event, {"t", "reason", "message", "step", "weight"}, and a last line
// {"summary": {"schemaVersion": 1, "t", "phase", "message", "settledBy", "aborted",
// "currentStepIndex", "weight", "stableRS", "currentPodHash", "analysisRuns": [{"name", "phase",
// "metrics": [{"name", "phase", "measurements"}]}]}}. `t` is seconds since the update: an
// integer when whole, else a decimal. Consumers ignore keys they do not know.
//
// Thread-safety: pure functions over values.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "ramp/clock.h"
#include "sim/simulator.h"

namespace ramp::sim {

inline constexpr int kSchemaVersion = 1;

// A time offset as Go prints durations, without zero units: "0s", "5s", "1m30s", "2h", "1.5s".
std::string FormatDuration(Duration d);

// Seconds as a JSON number: an integer when whole, else a decimal.
nlohmann::ordered_json Seconds(Duration d);

nlohmann::ordered_json EventJson(const Event& e);
nlohmann::ordered_json SummaryJson(const Summary& s);  // {"summary": {…}}

// One JSON line (no newline); text that is not UTF-8 is replaced, never thrown on.
std::string JsonLine(const nlohmann::ordered_json& j);

// "   +1m30s  RolloutStepCompleted      Rollout step 1/4 completed (setWeight: 20)  [step 1,
// weight 20]" (one line, no newline).
std::string EventText(const Event& e);

// The summary block of the text output, ending in a newline.
std::string SummaryText(const Summary& s);

}  // namespace ramp::sim
