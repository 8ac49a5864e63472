// Loading a manifest file: every document decoded by kind, validated, and cross-checked.
//
// A file may hold many documents of many kinds. Argo kinds (Rollout, AnalysisTemplate,
// ClusterAnalysisTemplate, AnalysisRun, Experiment) are decoded strictly; ramp's own kinds
// (ramp.dev/v1alpha1) by their schema; other Kubernetes kinds are kept as trees, and Services,
// Ingresses and Istio VirtualServices are cross-checked against the Rollouts that name them, as
// Argo's lint does. An object with any error is not loaded (never partially); the diagnostics
// say why, each with file, line, column and field path.
//
// Thread-safety: LoadManifests is a pure function of its input; results are plain values.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "spec/analysis.h"
#include "spec/diagnostics.h"
#include "spec/rollout.h"
#include "spec/webhooks.h"

namespace ramp::spec {

// A loaded object with where it came from, so later checks can point at its fields.
template <typename T>
struct Located {
  std::shared_ptr<const T> object;
  std::string file;
  std::shared_ptr<const SourceMap> sources;
};

// A document of a kind ramp does not model (Service, Ingress, VirtualService, ConfigMap, …).
struct OtherObject {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string file;
  Document doc;
};

struct ManifestSet {
  std::vector<Located<Rollout>> rollouts;
  std::vector<Located<AnalysisTemplate>> analysis_templates;
  std::vector<Located<AnalysisTemplate>> cluster_analysis_templates;
  std::vector<Located<AnalysisRun>> analysis_runs;
  std::vector<Located<Experiment>> experiments;
  std::vector<OtherObject> others;  // ramp.dev kinds included, once validated
  // The RolloutWebhooks documents, decoded (each is also in `others`, as before).
  std::vector<Located<RolloutWebhooks>> rollout_webhooks;
  Diagnostics diagnostics;  // errors and warnings of every document
  size_t documents = 0;     // non-empty documents seen

  bool ok() const { return !diagnostics.HasErrors(); }
};

// Parses and loads every document of `text`; `file` names it in diagnostics.
ManifestSet LoadManifests(std::string_view text, std::string_view file);

// Argo lint's cross-checks between Rollouts and the Services, Ingresses and VirtualServices
// found beside them (LoadManifests runs it; exposed for sets merged from several files).
void CrossCheckReferences(ManifestSet* set);

}  // namespace ramp::spec
