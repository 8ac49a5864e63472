#include "sim/input.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "analysis/analysis.h"
#include "spec/diagnostics.h"
#include "spec/manifest.h"

namespace ramp::sim {
namespace {

// The one step plugin the engine runs (docs/manifests.md, "Step plugin ramp/webhook").
constexpr char kWebhookStep[] = "ramp/webhook";

std::string Join(spec::Diagnostics* diags) {
  diags->SortByPosition();
  std::string out;
  for (const spec::Diagnostic& d : diags->items()) {
    if (d.severity != spec::Severity::kError) continue;
    if (!out.empty()) out += "\n";
    out += d.ToString();
  }
  return out;
}

template <typename T>
void Move(std::vector<T>* from, std::vector<T>* to) {
  for (T& x : *from) to->push_back(std::move(x));
}

// The analysis references of a Rollout, each with the field path of its `templates` list.
struct AnalysisRefs {
  std::string path;
  const std::vector<spec::AnalysisTemplateRef>* refs;
};

std::vector<AnalysisRefs> CollectRefs(const spec::RolloutSpec& spec) {
  std::vector<AnalysisRefs> out;
  if (spec.canary) {
    const std::string base = "spec.strategy.canary";
    if (spec.canary->analysis) {
      out.push_back({base + ".analysis.templates", &spec.canary->analysis->templates});
    }
    for (size_t i = 0; i < spec.canary->steps.size(); ++i) {
      const auto& step = spec.canary->steps[i];
      if (step.analysis) {
        out.push_back({spec::IndexPath(base + ".steps", i) + ".analysis.templates",
                       &step.analysis->templates});
      }
    }
  }
  if (spec.blue_green) {
    const std::string base = "spec.strategy.blueGreen";
    if (spec.blue_green->pre_promotion_analysis) {
      out.push_back({base + ".prePromotionAnalysis.templates",
                     &spec.blue_green->pre_promotion_analysis->templates});
    }
    if (spec.blue_green->post_promotion_analysis) {
      out.push_back({base + ".postPromotionAnalysis.templates",
                     &spec.blue_green->post_promotion_analysis->templates});
    }
  }
  return out;
}

}  // namespace

StatusOr<SimulationInput> LoadInput(const std::vector<SourceFile>& files,
                                    std::string_view rollout_name) {
  spec::ManifestSet all;
  spec::Diagnostics diags;
  for (const SourceFile& f : files) {
    spec::ManifestSet set = spec::LoadManifests(f.text, f.name);
    diags.Append(set.diagnostics);
    Move(&set.rollouts, &all.rollouts);
    Move(&set.analysis_templates, &all.analysis_templates);
    Move(&set.cluster_analysis_templates, &all.cluster_analysis_templates);
    Move(&set.others, &all.others);
    Move(&set.rollout_webhooks, &all.rollout_webhooks);
  }
  if (files.size() > 1 && !diags.HasErrors()) {
    // Services and Ingresses in one file may belong to a Rollout in another.
    spec::CrossCheckReferences(&all);
    diags.Append(all.diagnostics);
  }
  if (diags.HasErrors()) return Fail(InvalidArgumentError(Join(&diags)));

  std::string names;
  for (const auto& r : all.rollouts) names += (names.empty() ? "" : ", ") + r.object->metadata.name;
  const spec::Located<spec::Rollout>* picked = nullptr;
  if (all.rollouts.empty()) {
    return Fail(InvalidArgumentError("no Rollout in the -f files"));
  }
  if (rollout_name.empty()) {
    if (all.rollouts.size() > 1) {
      return Fail(InvalidArgumentError("the -f files hold " + std::to_string(all.rollouts.size()) +
                                       " Rollouts (" + names +
                                       "): choose one with --rollout NAME"));
    }
    picked = &all.rollouts[0];
  } else {
    for (const auto& r : all.rollouts) {
      if (r.object->metadata.name == rollout_name) picked = &r;
    }
    if (picked == nullptr) {
      return Fail(InvalidArgumentError("no Rollout named \"" + std::string(rollout_name) +
                                       "\" in the -f files (found: " + names + ")"));
    }
  }

  SimulationInput in;
  in.rollout = *picked->object;
  in.rollout_file = picked->file;
  for (const auto& t : all.analysis_templates) in.templates.push_back(*t.object);
  for (const auto& t : all.cluster_analysis_templates) in.templates.push_back(*t.object);
  std::vector<spec::RolloutWebhooks> hooks;
  for (const auto& h : all.rollout_webhooks) hooks.push_back(*h.object);
  in.webhooks = spec::AttachedWebhooksFor(in.rollout, hooks);

  const spec::SourceMap& sources = *picked->sources;
  auto report = [&](const std::string& path, std::string message) {
    diags.Error(picked->file, sources.Lookup(path), path, std::move(message));
  };
  const spec::RolloutSpec& spec = in.rollout.spec;
  if (spec.workload_ref) {
    report("spec.workloadRef",
           "a Rollout with a workloadRef is not supported by ramp simulate (its template is "
           "in another object)");
  }
  if (spec.canary) {
    for (size_t i = 0; i < spec.canary->steps.size(); ++i) {
      const auto& step = spec.canary->steps[i];
      const std::string path = spec::IndexPath("spec.strategy.canary.steps", i);
      if (step.experiment) {
        report(path + ".experiment", "experiment steps are not supported yet");
      }
      if (step.plugin && step.plugin->name != kWebhookStep) {
        report(path + ".plugin", "step plugins are not supported yet (only " +
                                     std::string(kWebhookStep) + " steps run)");
      }
    }
  }
  const std::string ns =
      in.rollout.metadata.namespace_.empty() ? "default" : in.rollout.metadata.namespace_;
  for (const AnalysisRefs& refs : CollectRefs(spec)) {
    for (size_t j = 0; j < refs.refs->size(); ++j) {
      StatusOr<spec::AnalysisTemplateSpec> flat =
          analysis::FlattenTemplates({(*refs.refs)[j]}, in.templates, ns);
      if (!flat && flat.error().code() == StatusCode::kNotFound) {
        report(spec::IndexPath(refs.path, j) + ".templateName",
               flat.error().message() + ": no -f file defines it");
      }
    }
  }
  if (diags.HasErrors()) return Fail(InvalidArgumentError(Join(&diags)));
  if (!in.rollout.metadata.generation) in.rollout.metadata.generation = 1;
  return in;
}

}  // namespace ramp::sim
