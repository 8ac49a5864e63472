// The CustomResourceDefinitions ramp installs for Argo Rollouts' group argoproj.io/v1alpha1:
// Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun and Experiment, each with an
// OpenAPI v3 structural schema generated from ramp's own model of the fields its strict decoders
// accept (src/spec/rollout_decode.cc, analysis_decode.cc, common.cc) — not copied from Argo's
// CRDs. A field the decoders read is declared with the type their getter checks (String →
// string, Int32/Int64 → integer, Bool → boolean, Float → number, IntOrStr → int-or-string,
// StringList → array of strings, StringMap → map of strings, List → array of objects); what they
// keep as JSON without reading it (pod templates, Job specs, plugin configurations, a web
// metric's jsonBody) and every status are x-kubernetes-preserve-unknown-fields, so the API
// server keeps them as written. crd_schema_test proves the model against the decoders in both
// directions.
//
// Names, scope and subresources follow Argo's CRDs so kubectl, `kubectl argo rollouts`, HPAs and
// Argo CD see the same API: Rollout (ro, category all, status and scale subresources), analysis
// templates (at, cat — cluster-scoped), AnalysisRun (ar, status), Experiment (exp, status).
//
// Thread-safety: pure functions over immutable data.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ramp::install {

// The scale subresource's JSON paths.
struct ScaleSubresource {
  std::string spec_replicas_path;
  std::string status_replicas_path;
  std::string label_selector_path;
};

// One column of `kubectl get`.
struct PrinterColumn {
  std::string name;
  std::string type;  // integer, string, date
  std::string json_path;
  std::string description;
};

// One kind of argoproj.io/v1alpha1 as ramp installs it.
struct CrdModel {
  std::string kind;
  std::string plural;
  std::string singular;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  bool namespaced = true;
  bool status_subresource = false;
  std::optional<ScaleSubresource> scale;
  std::vector<PrinterColumn> columns;
  // The openAPIV3Schema of the one version, v1alpha1.
  nlohmann::ordered_json schema;
};

inline constexpr char kArgoGroup[] = "argoproj.io";
inline constexpr char kArgoVersion[] = "v1alpha1";

// Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun, Experiment — in that order.
std::vector<CrdModel> ArgoCrdModels();

// The apiextensions.k8s.io/v1 CustomResourceDefinition of `model`: one version, v1alpha1,
// served and stored. Labels it app.kubernetes.io/part-of: ramp.
nlohmann::ordered_json CustomResourceDefinition(const CrdModel& model);

}  // namespace ramp::install
