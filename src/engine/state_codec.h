// The durable form of engine::RolloutState: what the daemon saves after each reconcile so that,
// restarted, it resumes every rollout exactly where it was.
//
//   {"schema": 1,
//    "status": <RolloutStatus as Argo writes it (status.h ToJson)>,
//    "revisions": [{"hash", "revision", "podTemplate", "scaleDownAt"?, "createdAt"?}],
//    "analysisRuns": [<AnalysisRun documents as Argo writes them (spec/analysis.h ToJson)>],
//    "stableSelector", "canarySelector", "managedRoutes", "weightVerifySent"?,
//    "hooks"?: {"revision", "update", "passed": [keys], "failedChecks": {object: n},
//               "rounds": [{"key", "next", "awaiting", "calledAt"?, "startedAt"?, "phase",
//                           "result", "message"}], "ended", "calls"}}
//
// "hooks" (RolloutState::hooks, the progress of RolloutWebhooks hooks) is written only when it
// is not empty, so a rollout without attached hooks is encoded exactly as before; a state
// without it (every state written before it existed) decodes to empty progress. The schema
// stays 1: the field is an optional extension.
//
// podTemplate is the revision's template JSON as written; the template's metadata and
// containers are decoded from it again, as the Rollout decoder does. Times of the state itself
// (scaleDownAt, createdAt, weightVerifySent) are RFC 3339 in UTC with every nanosecond
// ("2026-01-01T00:00:00.25Z", Go's RFC3339Nano). RolloutState::secrets — secret values kept for
// redaction — are never written; a decoded state has none (the runtime reads them again).
//
// Decoding is strict: a wrong type, a missing required field, an unknown field or an invalid
// run is an error naming the JSON path (e.g. `revisions[1].hash: Required value`), and a schema
// other than kRolloutStateSchema is refused. Nothing throws out of DecodeRolloutState.
//
// Thread-safety: pure functions over values; call from any thread.
#pragma once

#include <nlohmann/json.hpp>

#include "engine/reconcile.h"
#include "ramp/status.h"

namespace ramp::engine {

// The version of the format above; DecodeRolloutState refuses any other.
inline constexpr int kRolloutStateSchema = 1;

nlohmann::json EncodeRolloutState(const RolloutState& state);

// The state `json` holds, or InvalidArgument "rollout state: PATH: what is wrong" (every error
// found, up to a few, separated by "; ").
StatusOr<RolloutState> DecodeRolloutState(const nlohmann::json& json);

}  // namespace ramp::engine
