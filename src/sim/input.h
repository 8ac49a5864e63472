// The manifests a simulation runs: the -f files loaded and linted as `ramp lint` does, the one
// Rollout picked out of them, and the AnalysisTemplates and ClusterAnalysisTemplates they define,
// checked for what `ramp simulate` cannot run (experiment steps, step plugins other than
// ramp/webhook, a workloadRef, a template that no file defines).
//
// Thread-safety: LoadInput is a pure function of its arguments (it reads no files: the caller
// passes their text); the result is a plain value.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ramp/status.h"
#include "spec/analysis.h"
#include "spec/rollout.h"
#include "spec/webhooks.h"

namespace ramp::sim {

// One -f file: its name (as diagnostics print it) and its text.
struct SourceFile {
  std::string name;
  std::string text;
};

struct SimulationInput {
  spec::Rollout rollout;
  std::string rollout_file;  // the file that defines it
  // Every AnalysisTemplate and ClusterAnalysisTemplate of the files, in file order.
  std::vector<spec::AnalysisTemplate> templates;
  // The RolloutWebhooks hooks of the files attached to the Rollout, in calling order.
  std::vector<spec::AttachedWebhook> webhooks;
};

// Loads `files` and picks the Rollout named `rollout_name` (empty: the only one). Errors
// (InvalidArgument) list every problem, one per line, as "FILE:LINE:COL: path: message" where
// a position is known: lint errors, no or several Rollouts, unsupported steps, missing templates.
StatusOr<SimulationInput> LoadInput(const std::vector<SourceFile>& files,
                                    std::string_view rollout_name);

}  // namespace ramp::sim
