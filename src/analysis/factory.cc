// AnalysisRun creation: template flattening, argument building and merging, names and labels
// (rollout/analysis.go, utils/analysis/helpers.go, utils/analysis/factory.go).
#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "analysis/analysis.h"
#include "analysis/resolve.h"

namespace ramp::analysis {
namespace {

using nlohmann::json;

std::string TemplateKind(bool cluster) {
  return cluster ? "ClusterAnalysisTemplate" : "AnalysisTemplate";
}

const spec::AnalysisTemplate* FindTemplate(const std::vector<spec::AnalysisTemplate>& available,
                                           const spec::AnalysisTemplateRef& ref,
                                           std::string_view namespace_) {
  for (const spec::AnalysisTemplate& t : available) {
    if (t.cluster_scoped != ref.cluster_scope || t.metadata.name != ref.template_name) continue;
    if (!t.cluster_scoped && !t.metadata.namespace_.empty() && !namespace_.empty() &&
        t.metadata.namespace_ != namespace_) {
      continue;
    }
    return &t;
  }
  return nullptr;
}

struct Collected {
  std::vector<const spec::AnalysisTemplate*> namespaced;
  std::vector<const spec::AnalysisTemplate*> cluster;
};

// Argo's getAnalysisTemplatesFromRefs: each template, then its nested templates, recursively.
Status Collect(const std::vector<spec::AnalysisTemplateRef>& refs,
               const std::vector<spec::AnalysisTemplate>& available, std::string_view namespace_,
               std::vector<std::string>* chain, Collected* out) {
  for (const spec::AnalysisTemplateRef& ref : refs) {
    const spec::AnalysisTemplate* t = FindTemplate(available, ref, namespace_);
    std::string kind = TemplateKind(ref.cluster_scope);
    if (t == nullptr) {
      std::string lower = kind;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      return NotFoundError(lower + ".argoproj.io \"" + ref.template_name + "\" not found");
    }
    std::string key = kind + " " + ref.template_name;
    if (std::find(chain->begin(), chain->end(), key) != chain->end()) {
      std::string path;
      for (const std::string& k : *chain) path += k + " -> ";
      return InvalidArgumentError("nested templates form a cycle: " + path + key);
    }
    (t->cluster_scoped ? out->cluster : out->namespaced).push_back(t);
    if (!t->spec.templates.empty()) {
      chain->push_back(key);
      Status s = Collect(t->spec.templates, available, namespace_, chain, out);
      chain->pop_back();
      if (!s.ok()) return s;
    }
  }
  return OkStatus();
}

std::vector<const spec::AnalysisTemplate*> UniqueByName(
    const std::vector<const spec::AnalysisTemplate*>& in) {
  std::vector<const spec::AnalysisTemplate*> out;
  std::set<std::string> seen;
  for (const spec::AnalysisTemplate* t : in) {
    if (seen.insert(t->metadata.name).second) out.push_back(t);
  }
  return out;
}

template <typename Rule>
Status CheckDuplicateRules(const std::vector<Rule>& rules, std::string_view what) {
  std::set<std::string> seen;
  for (const Rule& r : rules) {
    if (!seen.insert(r.metric_name).second) {
      return InvalidArgumentError("two " + std::string(what) +
                                  " metric rules have the same name '" + r.metric_name + "'");
    }
  }
  return OkStatus();
}

template <typename Rule>
Status CheckRulesMatch(const std::vector<Rule>& rules, const std::vector<spec::Metric>& metrics,
                       std::string_view field) {
  for (size_t i = 0; i < rules.size(); ++i) {
    bool any = std::any_of(metrics.begin(), metrics.end(), [&](const spec::Metric& m) {
      return spec::MetricNameMatchesRule(rules[i].metric_name, m.name);
    });
    if (!any) {
      return InvalidArgumentError(std::string(field) + "[" + std::to_string(i) +
                                  "]: Rule didn't match any metric name(s)");
    }
  }
  return OkStatus();
}

// Go's %q for the strings of FormatMap.
std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

// k8s.io/kubernetes/pkg/fieldpath FormatMap: sorted `key="value"` lines.
std::string FormatMap(const std::map<std::string, std::string>& m) {
  std::string out;
  for (const auto& [k, v] : m) {
    if (!out.empty()) out += "\n";
    out += k + "=" + GoQuote(v);
  }
  return out;
}

std::string RolloutNamespace(const spec::Rollout& r) {
  return r.metadata.namespace_.empty() ? "default" : r.metadata.namespace_;
}

// fieldpath.ExtractFieldPathAsString on the Rollout's metadata.
StatusOr<std::string> ExtractMetadataField(const spec::Rollout& r, const std::string& path) {
  const spec::ObjectMeta& meta = r.metadata;
  if (path.size() > 2 && path.compare(path.size() - 2, 2, "']") == 0) {
    std::string s = path.substr(0, path.size() - 2);
    size_t open = s.find("['");
    if (open != std::string::npos && open > 0) {
      std::string base = s.substr(0, open);
      std::string key = s.substr(open + 2);
      if (base == "metadata.annotations") {
        auto it = meta.annotations.find(key);
        return it == meta.annotations.end() ? std::string() : it->second;
      }
      if (base == "metadata.labels") {
        auto it = meta.labels.find(key);
        return it == meta.labels.end() ? std::string() : it->second;
      }
      return Fail(InvalidArgumentError("fieldPath \"" + path + "\" does not support subscript"));
    }
  }
  if (path == "metadata.annotations") return FormatMap(meta.annotations);
  if (path == "metadata.labels") return FormatMap(meta.labels);
  if (path == "metadata.name") return meta.name;
  if (path == "metadata.namespace") return RolloutNamespace(r);
  if (path == "metadata.uid") return meta.uid;
  return Fail(InvalidArgumentError("unsupported fieldPath: " + path));
}

json RolloutAsJson(const spec::Rollout& r) {
  json meta = json::object();
  meta["name"] = r.metadata.name;
  meta["namespace"] = RolloutNamespace(r);
  if (!r.metadata.uid.empty()) meta["uid"] = r.metadata.uid;
  if (!r.metadata.labels.empty()) meta["labels"] = r.metadata.labels;
  if (!r.metadata.annotations.empty()) meta["annotations"] = r.metadata.annotations;
  json spec = json::object();
  if (r.spec.replicas) spec["replicas"] = *r.spec.replicas;
  if (!r.spec.template_.empty) spec["template"] = r.spec.template_.raw;
  return json{{"metadata", std::move(meta)}, {"spec", std::move(spec)}};
}

// Argo's extractValueFromRollout: the path split on runs of '.', '[' and ']'.
StatusOr<std::string> ExtractValueFromJson(const json& root, const std::string& path) {
  std::vector<std::string> sections;
  std::string cur;
  for (char c : path) {
    if (c == '.' || c == '[' || c == ']') {
      if (!cur.empty()) sections.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) sections.push_back(std::move(cur));
  const json null_value;
  const json* m = &root;
  auto invalid = [&] { return Fail(InvalidArgumentError("invalid path " + path + " in rollout")); };
  for (const std::string& section : sections) {
    if (m->is_array()) {
      size_t used = 0;
      long long i = 0;
      try {
        i = std::stoll(section, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != section.size() || used == 0) {
        return Fail(InvalidArgumentError("invalid index '" + section + "'"));
      }
      if (i < 0 || static_cast<size_t>(i) >= m->size()) {
        return Fail(InvalidArgumentError("index " + std::to_string(i) + " out of range"));
      }
      m = &(*m)[static_cast<size_t>(i)];
    } else if (m->is_object()) {
      auto it = m->find(section);
      m = it == m->end() ? &null_value : &*it;
    } else {
      return invalid();
    }
  }
  if (m->is_null()) return invalid();
  if (m->is_array() || m->is_object()) {
    return Fail(
        InvalidArgumentError("path " + path + " in rollout must terminate in a primitive value"));
  }
  if (m->is_string()) return m->get<std::string>();
  if (m->is_boolean()) return std::string(m->get<bool>() ? "true" : "false");
  return internal::FormatGoFloat(m->get<double>());
}

std::string Infix(const RolloutRunOptions& o) {
  switch (o.kind) {
    case engine::AnalysisRunKind::kStep:
      return std::to_string(o.step_index.value_or(0));
    case engine::AnalysisRunKind::kPrePromotion:
      return "pre";
    case engine::AnalysisRunKind::kPostPromotion:
      return "post";
    case engine::AnalysisRunKind::kBackground:
      return "";
  }
  return "";
}

}  // namespace

StatusOr<spec::AnalysisTemplateSpec> FlattenTemplates(
    const std::vector<spec::AnalysisTemplateRef>& refs,
    const std::vector<spec::AnalysisTemplate>& available, std::string_view namespace_) {
  Collected collected;
  std::vector<std::string> chain;
  RETURN_IF_ERROR(Collect(refs, available, namespace_, &chain, &collected));
  std::vector<const spec::AnalysisTemplate*> all = UniqueByName(collected.namespaced);
  for (const spec::AnalysisTemplate* t : UniqueByName(collected.cluster)) all.push_back(t);

  spec::AnalysisTemplateSpec out;
  std::set<std::string> metric_names;
  for (const spec::AnalysisTemplate* t : all) {
    for (const spec::Metric& m : t->spec.metrics) {
      if (!metric_names.insert(m.name).second) {
        return Fail(InvalidArgumentError("two metrics have the same name '" + m.name + "'"));
      }
      out.metrics.push_back(m);
    }
    out.dry_run.insert(out.dry_run.end(), t->spec.dry_run.begin(), t->spec.dry_run.end());
    out.measurement_retention.insert(out.measurement_retention.end(),
                                     t->spec.measurement_retention.begin(),
                                     t->spec.measurement_retention.end());
  }
  RETURN_IF_ERROR(CheckDuplicateRules(out.dry_run, "Dry-Run"));
  RETURN_IF_ERROR(CheckDuplicateRules(out.measurement_retention, "Measurement Retention"));

  for (const spec::AnalysisTemplate* t : all) {
    for (const spec::Argument& arg : t->spec.args) {
      auto prev = std::find_if(out.args.begin(), out.args.end(),
                               [&](const spec::Argument& a) { return a.name == arg.name; });
      if (prev == out.args.end()) {
        out.args.push_back(arg);
        continue;
      }
      if (prev->value && arg.value && *prev->value != *arg.value) {
        return Fail(InvalidArgumentError("Argument `" + arg.name +
                                         "` specified multiple times with different values: '" +
                                         *prev->value + "', '" + *arg.value + "'"));
      }
      if (!prev->value) *prev = arg;
    }
  }
  return out;
}

StatusOr<std::vector<spec::Argument>> BuildRolloutArgs(const std::vector<spec::Argument>& args,
                                                       const RolloutArgSource& source) {
  if (source.rollout == nullptr) return Fail(InvalidArgumentError("no rollout given"));
  std::optional<json> made;
  std::vector<spec::Argument> out;
  for (const spec::Argument& arg : args) {
    std::string value = arg.value.value_or("");
    if (arg.value_from) {
      if (arg.value_from->pod_template_hash_value) {
        if (*arg.value_from->pod_template_hash_value == "Latest") value = source.latest_hash;
        if (*arg.value_from->pod_template_hash_value == "Stable") value = source.stable_hash;
      } else if (arg.value_from->field_ref) {
        const std::string& path = *arg.value_from->field_ref;
        if (path.rfind("metadata", 0) == 0) {
          ASSIGN_OR_RETURN(value, ExtractMetadataField(*source.rollout, path));
        } else {
          const json* root = source.rollout_json;
          if (root == nullptr) {
            if (!made) made = RolloutAsJson(*source.rollout);
            root = &*made;
          }
          ASSIGN_OR_RETURN(value, ExtractValueFromJson(*root, path));
        }
      }
    }
    spec::Argument resolved;
    resolved.name = arg.name;
    resolved.value = std::move(value);
    out.push_back(std::move(resolved));
  }
  return out;
}

StatusOr<std::vector<spec::Argument>> MergeArgs(const std::vector<spec::Argument>& incoming,
                                                const std::vector<spec::Argument>& template_args) {
  std::vector<spec::Argument> out = template_args;
  for (const spec::Argument& arg : incoming) {
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const spec::Argument& a) { return a.name == arg.name; });
    if (it == out.end()) continue;
    if (arg.value) {
      it->value = arg.value;
    } else if (arg.value_from) {
      it->value_from = arg.value_from;
    }
  }
  for (const spec::Argument& arg : out) {
    if (!arg.value && !arg.value_from) {
      return Fail(InvalidArgumentError("args." + arg.name + " was not resolved"));
    }
  }
  return out;
}

std::string AnalysisRunName(std::string_view rollout, std::string_view pod_hash,
                            std::string_view revision, std::string_view infix) {
  std::string name =
      std::string(rollout) + "-" + std::string(pod_hash) + "-" + std::string(revision);
  if (!infix.empty()) name += "-" + std::string(infix);
  return name;
}

StatusOr<NewRun> NewAnalysisRunFromTemplates(const TemplateRunOptions& options,
                                             const std::vector<spec::AnalysisTemplate>& available,
                                             const SecretLookup& secrets) {
  ASSIGN_OR_RETURN(spec::AnalysisTemplateSpec flat,
                   FlattenTemplates(options.templates, available, options.namespace_));
  ASSIGN_OR_RETURN(std::vector<spec::Argument> args, MergeArgs(options.args, flat.args));

  std::vector<spec::DryRun> dry_run = options.dry_run;
  dry_run.insert(dry_run.end(), flat.dry_run.begin(), flat.dry_run.end());
  RETURN_IF_ERROR(CheckDuplicateRules(dry_run, "Dry-Run"));
  std::vector<spec::MeasurementRetention> retention = options.measurement_retention;
  retention.insert(retention.end(), flat.measurement_retention.begin(),
                   flat.measurement_retention.end());
  RETURN_IF_ERROR(CheckDuplicateRules(retention, "Measurement Retention"));
  RETURN_IF_ERROR(CheckRulesMatch(dry_run, flat.metrics, "dryRun"));
  RETURN_IF_ERROR(CheckRulesMatch(retention, flat.metrics, "measurementRetention"));

  NewRun out;
  for (const spec::Argument& arg : args) {
    if (!arg.value_from || !arg.value_from->secret_key_ref || !secrets) continue;
    auto value = secrets(arg.value_from->secret_key_ref->name, arg.value_from->secret_key_ref->key);
    if (!value.has_value() || value->empty()) continue;
    if (std::find(out.secrets.begin(), out.secrets.end(), *value) == out.secrets.end()) {
      out.secrets.push_back(*value);
    }
  }
  spec::AnalysisRun& run = out.run;
  run.metadata.name = options.name;
  run.metadata.namespace_ = options.namespace_;
  run.metadata.labels = options.labels;
  run.metadata.annotations = options.annotations;
  run.spec.metrics = std::move(flat.metrics);
  run.spec.args = std::move(args);
  run.spec.dry_run = std::move(dry_run);
  run.spec.measurement_retention = std::move(retention);
  return out;
}

StatusOr<NewRun> NewRolloutAnalysisRun(const RolloutRunOptions& options,
                                       const std::vector<spec::AnalysisTemplate>& available,
                                       const SecretLookup& secrets) {
  if (options.rollout == nullptr || options.analysis == nullptr) {
    return Fail(InvalidArgumentError("a rollout and its analysis are required"));
  }
  const spec::Rollout& rollout = *options.rollout;
  const spec::RolloutAnalysis& analysis = *options.analysis;
  if (options.latest_hash.empty()) {
    return Fail(InvalidArgumentError("Latest ReplicaSet of '" + rollout.metadata.name +
                                     "' has no pod hash"));
  }
  RolloutArgSource source{&rollout, options.rollout_json, options.stable_hash, options.latest_hash};
  TemplateRunOptions t;
  ASSIGN_OR_RETURN(t.args, BuildRolloutArgs(analysis.args, source));
  t.name =
      AnalysisRunName(rollout.metadata.name, options.latest_hash, options.revision, Infix(options));
  t.namespace_ = RolloutNamespace(rollout);
  t.templates = analysis.templates;
  t.dry_run = analysis.dry_run;
  t.measurement_retention = analysis.measurement_retention;

  t.labels[kPodTemplateHashLabel] = options.latest_hash;
  t.labels[kRolloutTypeLabel] = std::string(engine::AnalysisRunKindName(options.kind));
  if (options.kind == engine::AnalysisRunKind::kStep) {
    t.labels[kStepIndexLabel] = std::to_string(options.step_index.value_or(0));
  }
  if (!options.instance_id.empty()) t.labels[kControllerInstanceIdLabel] = options.instance_id;
  if (analysis.analysis_run_metadata) {
    for (const auto& [k, v] : analysis.analysis_run_metadata->labels) t.labels[k] = v;
  }
  if (rollout.spec.selector) {
    for (const auto& [k, v] : rollout.spec.selector->match_labels) t.labels[k] = v;
  }
  t.annotations[kRevisionAnnotation] = options.revision;
  if (analysis.analysis_run_metadata) {
    for (const auto& [k, v] : analysis.analysis_run_metadata->annotations) t.annotations[k] = v;
  }
  return NewAnalysisRunFromTemplates(t, available, secrets);
}

}  // namespace ramp::analysis
