// How the CLI shows rollouts: the `get rollout` tree (as `kubectl argo rollouts get rollout`
// draws it: summary, then revisions with their instances and the AnalysisRuns with their
// measurements) and the `list rollouts` table, both from the API's JSON view (daemon/api.h).
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace ramp::cli {

// The tree of one rollout view ({"rollout", "revisions", "analysisRuns"}).
std::string RenderRolloutTree(const nlohmann::json& view);

// One line per rollout: NAME STRATEGY STATUS STEP SET-WEIGHT READ-WEIGHT READY DESIRED UP-TO-DATE
// AVAILABLE; with `all_namespaces` a NAMESPACE column first.
std::string RenderRolloutTable(const nlohmann::json& items, bool all_namespaces);

// Argo's status icon and word: "✔ Healthy", "◌ Progressing", "॥ Paused", "✖ Degraded".
std::string PhaseWithIcon(const std::string& phase);

}  // namespace ramp::cli
