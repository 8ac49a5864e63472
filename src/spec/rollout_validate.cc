// Argo Rollouts' validation rules for a decoded Rollout (pkg/apis/rollouts/validation), with
// Argo's messages so that users recognise them, each at the field it concerns.
#include <algorithm>
#include <set>

#include "spec/rollout.h"

namespace ramp::spec {
namespace {

class Reporter {
 public:
  Reporter(DecodeContext* ctx, const SourceMap& sources) : ctx_(ctx), sources_(sources) {}
  void Error(const std::string& path, std::string message) {
    ctx_->Error(sources_.Lookup(path), path, std::move(message));
  }

 private:
  DecodeContext* ctx_;
  const SourceMap& sources_;
};

constexpr char kMissingField[] = "Rollout has missing field '";

bool Matches(const LabelSelector& sel, const std::map<std::string, std::string>& labels) {
  for (const auto& [k, v] : sel.match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const auto& req : sel.match_expressions) {
    auto it = labels.find(req.key);
    bool has = it != labels.end();
    bool in =
        has && std::find(req.values.begin(), req.values.end(), it->second) != req.values.end();
    if (req.op == "In" && !in) return false;
    if (req.op == "NotIn" && in) return false;
    if (req.op == "Exists" && !has) return false;
    if (req.op == "DoesNotExist" && has) return false;
  }
  return true;
}

// Downward-API style paths Argo accepts for analysis args: metadata.name, .namespace, .uid,
// .labels and .annotations (the whole map), and metadata.labels['k'] / metadata.annotations['k']
// (a missing key reads as "", as in Kubernetes' fieldpath, so it is not an error).
bool MetadataFieldResolves(const std::string& path) {
  if (path == "metadata.name" || path == "metadata.namespace" || path == "metadata.uid" ||
      path == "metadata.labels" || path == "metadata.annotations") {
    return true;
  }
  for (std::string_view prefix : {"metadata.labels['", "metadata.annotations['"}) {
    if (path.size() > prefix.size() + 2 && path.starts_with(prefix) && path.ends_with("']")) {
      return true;
    }
  }
  return false;
}

void ValidateAntiAffinity(const std::optional<AntiAffinity>& a, const std::string& path,
                          Reporter* rep) {
  if (!a) return;
  if (a->has_preferred == a->has_required) {
    rep->Error(path, "AntiAffinity must have exactly one strategy listed");
  }
  if (a->has_preferred) {
    int32_t w = a->preferred_weight.value_or(0);
    if (w < 1 || w > 100) {
      rep->Error(
          ChildPath(ChildPath(path, "preferredDuringSchedulingIgnoredDuringExecution"), "weight"),
          "AntiAffinity weight must be between 1-100");
    }
  }
}

void ValidateStringMatch(const std::optional<StringMatch>& m, const std::string& path, bool alb,
                         Reporter* rep) {
  if (!m) {
    rep->Error(path,
               "StringMatch value missed, match value must have one of the following: exact, "
               "regex, prefix");
    return;
  }
  int set = !m->exact.empty() + !m->prefix.empty() + !m->regex.empty();
  if (alb) {
    if (m->exact.empty() || set > 1) {
      rep->Error(path, "SetHeaderRoute match value invalid. ALB supports 'exact' value only");
    }
    return;
  }
  if (set == 0) {
    rep->Error(path,
               "StringMatch value missed, match value must have one of the following: exact, "
               "regex, prefix");
  } else if (set > 1) {
    rep->Error(path,
               "StringMatch match value must have exactly one of the following: exact, regex, "
               "prefix");
  }
}

bool IsPercentOrInt(const IntOrString& v, int* value) {
  if (!v.is_string) {
    *value = v.int_value;
    return true;
  }
  const std::string& s = v.str_value;
  std::string digits = s;
  if (!digits.empty() && digits.back() == '%') digits.pop_back();
  int64_t n = 0;
  if (digits.empty() || !ParseYamlInt(digits, &n) || n < 0) return false;
  *value = static_cast<int>(n);
  return true;
}

void ValidateCanary(const Rollout& ro, const CanaryStrategy& c, Reporter* rep) {
  const std::string p = "spec.strategy.canary";
  int surge = 0, unavailable = 0;
  bool surge_ok = IsPercentOrInt(c.EffectiveMaxSurge(), &surge);
  bool unavail_ok = IsPercentOrInt(c.EffectiveMaxUnavailable(), &unavailable);
  if (!surge_ok) rep->Error(p + ".maxSurge", "must be an integer or a percentage such as 25%");
  if (!unavail_ok) {
    rep->Error(p + ".maxUnavailable", "must be an integer or a percentage such as 25%");
  }
  if (surge_ok && unavail_ok && surge == 0 && unavailable == 0) {
    rep->Error(p + ".maxSurge", "MaxSurge and MaxUnavailable both can not be zero");
  }
  if (!c.canary_service.empty() && c.canary_service == c.stable_service) {
    rep->Error(p + ".stableService",
               "This rollout uses the same service for the stable and canary services, but two "
               "different services are required.");
  }
  const auto& tr = c.traffic_routing;
  bool has_plugins = tr && !tr->plugins.empty();
  if (c.ping_pong) {
    if (tr && !tr->alb && !tr->istio && !has_plugins) {
      rep->Error(p + ".trafficRouting.alb",
                 "Ping-pong feature works with the ALB, Istio, and plugin-based traffic routers "
                 "only");
    }
    if (c.ping_pong->first.empty()) {
      rep->Error(p + ".pingPong.pingService",
                 "Ping service and Pong service must to be set to use Ping-Pong feature");
    }
    if (c.ping_pong->second.empty()) {
      rep->Error(p + ".pingPong.pongService",
                 "Ping service and Pong service must to be set to use Ping-Pong feature");
    }
    if (c.ping_pong->first == c.ping_pong->second) {
      rep->Error(p + ".pingPong.pingService",
                 "This rollout uses the same service for the ping and pong services, but two "
                 "different services are required.");
    }
    if (tr && tr->alb && tr->alb->root_service.empty()) {
      rep->Error(p + ".trafficRouting.alb.rootService",
                 "Root service field is required for the configuration with ALB and ping-pong "
                 "feature enabled");
    }
  }
  if (tr) {
    bool needs_services = (tr->alb && !c.ping_pong) ||
                          (tr->istio && !tr->istio->destination_rule && !c.ping_pong) || tr->smi ||
                          tr->has_apisix || tr->ambassador_mappings || tr->nginx || tr->app_mesh ||
                          tr->traefik_weighted_service;
    if (needs_services) {
      if (c.stable_service.empty()) {
        rep->Error(p + ".stableService",
                   "Canary service and Stable service must to be set to use Traffic Routing");
      }
      if (c.canary_service.empty()) {
        rep->Error(p + ".canaryService",
                   "Canary service and Stable service must to be set to use Traffic Routing");
      }
    }
    if (c.scale_down_delay_seconds && c.dynamic_stable_scale) {
      rep->Error(p + ".dynamicStableScale",
                 "Canary dynamicStableScale cannot be used with scaleDownDelaySeconds");
    }
    if (tr->max_traffic_weight && !tr->nginx && !has_plugins) {
      rep->Error(p + ".trafficRouting.maxTrafficWeight",
                 "Canary maxTrafficWeight in traffic routing only supported in Nginx and Plugins");
    }
  } else {
    if (c.scale_down_delay_seconds) {
      rep->Error(p + ".scaleDownDelaySeconds",
                 "Canary scaleDownDelaySeconds can only be used with traffic routing");
    }
    if (c.dynamic_stable_scale) {
      rep->Error(p + ".dynamicStableScale",
                 "Canary dynamicStableScale can only be used with traffic routing");
    }
  }
  if (c.scale_down_delay_revision_limit &&
      *c.scale_down_delay_revision_limit > ro.spec.EffectiveRevisionHistoryLimit()) {
    rep->Error(p + ".scaleDownDelayRevisionLimit",
               "This rollout's revision history limit can not be smaller than the rollout's "
               "scale down limit");
  }
  for (const char* f : {"scaleDownDelaySeconds", "abortScaleDownDelaySeconds",
                        "scaleDownDelayRevisionLimit", "minPodsPerReplicaSet"}) {
    std::optional<int32_t> v;
    std::string_view name(f);
    if (name == "scaleDownDelaySeconds") v = c.scale_down_delay_seconds;
    if (name == "abortScaleDownDelaySeconds") v = c.abort_scale_down_delay_seconds;
    if (name == "scaleDownDelayRevisionLimit") v = c.scale_down_delay_revision_limit;
    if (name == "minPodsPerReplicaSet") v = c.min_pods_per_replica_set;
    if (v && *v < 0) rep->Error(ChildPath(p, name), "must be greater than or equal to 0");
  }
  if (c.analysis && c.analysis->starting_step) {
    int32_t s = *c.analysis->starting_step;
    if (s < 0 || (!c.steps.empty() && s >= static_cast<int32_t>(c.steps.size()))) {
      rep->Error(p + ".analysis.startingStep", "must refer to a step: between 0 and " +
                                                   std::to_string(c.steps.size()) + " (exclusive)");
    }
  }

  int32_t max_weight = tr ? tr->EffectiveMaxTrafficWeight() : 100;
  std::set<std::string> managed;
  if (tr && tr->managed_routes)
    managed.insert(tr->managed_routes->begin(), tr->managed_routes->end());
  for (size_t i = 0; i < c.steps.size(); ++i) {
    const CanaryStep& s = c.steps[i];
    std::string sp = IndexPath(p + ".steps", i);
    int actions = s.set_weight.has_value() + s.pause.has_value() + s.experiment.has_value() +
                  s.analysis.has_value() + s.set_canary_scale.has_value() +
                  s.set_header_route.has_value() + s.set_mirror_route.has_value() +
                  s.plugin.has_value();
    // Argo allows setCanaryScale, setHeaderRoute, setMirrorRoute and plugin beside one another
    // (its examples combine them); only setWeight, pause, experiment and analysis exclude
    // each other.
    int exclusive = s.set_weight.has_value() + s.pause.has_value() + s.experiment.has_value() +
                    s.analysis.has_value();
    if (actions == 0) {
      rep->Error(sp,
                 "Step must have one of the following set: experiment, setWeight, "
                 "setCanaryScale, plugin or pause");
    } else if (exclusive > 1) {
      rep->Error(sp,
                 "Step must have one of the following set: experiment, setWeight, "
                 "setCanaryScale, plugin or pause (setWeight, pause, experiment and analysis "
                 "each need a step of their own)");
    }
    if (s.set_weight && (*s.set_weight < 0 || *s.set_weight > max_weight)) {
      rep->Error(sp + ".setWeight",
                 "SetWeight needs to be between 0 and " + std::to_string(max_weight));
    }
    if (s.pause) {
      auto secs = s.pause->DurationSeconds();
      if (secs && *secs < 0)
        rep->Error(sp + ".pause.duration", "Duration needs to be greater than 0");
    }
    if (s.set_canary_scale) {
      if (!tr) {
        rep->Error(p + ".trafficRouting", "SetCanaryScale requires TrafficRouting to be set");
      }
      const auto& sc = *s.set_canary_scale;
      int set = sc.weight.has_value() + sc.replicas.has_value() + sc.match_traffic_weight;
      if (set != 1) {
        rep->Error(sp + ".setCanaryScale",
                   "must set exactly one of weight, replicas or matchTrafficWeight");
      }
      if (sc.weight && (*sc.weight < 0 || *sc.weight > 100)) {
        rep->Error(sp + ".setCanaryScale.weight", "must be between 0 and 100");
      }
      if (sc.replicas && *sc.replicas < 0) {
        rep->Error(sp + ".setCanaryScale.replicas", "must be greater than or equal to 0");
      }
    }
    if (s.set_header_route) {
      if (!tr || (!tr->istio && !tr->alb && !tr->has_apisix && !has_plugins)) {
        rep->Error(sp + ".setHeaderRoute",
                   "SetHeaderRoute requires TrafficRouting, supports Istio and ALB and Apisix");
      } else {
        for (size_t j = 0; j < s.set_header_route->match.size(); ++j) {
          ValidateStringMatch(s.set_header_route->match[j].header_value,
                              IndexPath(sp + ".setHeaderRoute.match", j), tr->alb.has_value(), rep);
        }
      }
    }
    if (s.set_mirror_route) {
      if (!tr || (!tr->istio && !has_plugins)) {
        rep->Error(sp + ".setMirrorRoute",
                   "SetMirrorRoute requires TrafficRouting, supports Istio and Plugins");
      }
      for (size_t j = 0; j < s.set_mirror_route->match.size(); ++j) {
        const RouteMatch& m = s.set_mirror_route->match[j];
        std::string mp = IndexPath(sp + ".setMirrorRoute.match", j);
        if (m.method) ValidateStringMatch(m.method, mp + ".method", false, rep);
        if (m.path) ValidateStringMatch(m.path, mp + ".path", false, rep);
        for (const auto& [name, hm] : m.headers) {
          ValidateStringMatch(hm, ChildPath(mp + ".headers", name), false, rep);
        }
      }
    }
    if (tr && (s.set_header_route || s.set_mirror_route)) {
      if (!tr->managed_routes) {
        rep->Error(
            p + ".trafficRouting.managedRoutes",
            std::string(kMissingField) + "spec.strategy.canary.trafficRouting.managedRoutes'");
      } else {
        // A step may set both routes: each name must be managed.
        auto check = [&](const std::string& name, const char* field) {
          if (managed.count(name)) return;
          rep->Error(sp + field,
                     "Steps define a route that does not exist in "
                     "spec.strategy.canary.trafficRouting.managedRoutes (route \"" +
                         name + "\")");
        };
        if (s.set_header_route) check(s.set_header_route->name, ".setHeaderRoute");
        if (s.set_mirror_route) check(s.set_mirror_route->name, ".setMirrorRoute");
      }
    }
    std::vector<const Argument*> args;
    if (s.experiment) {
      for (size_t t = 0; t < s.experiment->templates.size(); ++t) {
        const auto& tmpl = s.experiment->templates[t];
        if (!tmpl.weight) continue;
        std::string wp = IndexPath(sp + ".experiment.templates", t) + ".weight";
        if (!tr) {
          rep->Error(wp,
                     "Experiment template weight cannot be set unless TrafficRouting is enabled");
        } else if (!tr->alb && !tr->smi && !tr->istio && !has_plugins) {
          rep->Error(wp,
                     "Experiment template weight is only available for TrafficRouting with SMI, "
                     "ALB, Istio and Plugins at this time");
        }
      }
      for (const auto& a : s.experiment->analyses) {
        for (const auto& arg : a.args) args.push_back(&arg);
      }
    }
    if (s.analysis) {
      for (const auto& arg : s.analysis->args) args.push_back(&arg);
    }
    for (const Argument* arg : args) {
      if (arg->value_from && arg->value_from->field_ref &&
          arg->value_from->field_ref->rfind("metadata", 0) == 0 &&
          !MetadataFieldResolves(*arg->value_from->field_ref)) {
        rep->Error(sp,
                   "Analyses arguments must refer to valid object metadata supported by "
                   "downwardAPI (\"" +
                       *arg->value_from->field_ref + "\" does not resolve)");
      }
    }
  }
  ValidateAntiAffinity(c.anti_affinity, p + ".antiAffinity", rep);
}

void ValidateBlueGreen(const Rollout& ro, const BlueGreenStrategy& b, Reporter* rep) {
  const std::string p = "spec.strategy.blueGreen";
  if (b.active_service == b.preview_service) {
    rep->Error(p + ".activeService",
               "This rollout uses the same service for the active and preview services, but two "
               "different services are required.");
  }
  if (b.scale_down_delay_revision_limit &&
      *b.scale_down_delay_revision_limit > ro.spec.EffectiveRevisionHistoryLimit()) {
    rep->Error(p + ".scaleDownDelayRevisionLimit",
               "This rollout's revision history limit can not be smaller than the rollout's "
               "scale down limit");
  }
  if (b.preview_replica_count && *b.preview_replica_count < 0) {
    rep->Error(p + ".previewReplicaCount", "must be greater than or equal to 0");
  }
  if (b.auto_promotion_seconds < 0) {
    rep->Error(p + ".autoPromotionSeconds", "must be greater than or equal to 0");
  }
  if (b.auto_promotion_seconds > 0 && !b.EffectiveAutoPromotionEnabled()) {
    rep->Error(p + ".autoPromotionSeconds",
               "has no effect when autoPromotionEnabled is false; remove one of them");
  }
  ValidateAntiAffinity(b.anti_affinity, p + ".antiAffinity", rep);
}

void ValidatePodTemplate(const Rollout& ro, Reporter* rep) {
  const RolloutSpec& spec = ro.spec;
  if (spec.selector && !spec.selector->empty() &&
      !Matches(*spec.selector, spec.template_.metadata.labels)) {
    rep->Error("spec.template.metadata.labels", "`selector` does not match template `labels`");
  }
  if (spec.template_.containers.empty()) {
    rep->Error("spec.template.spec.containers", "Required value: at least one container");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < spec.template_.containers.size(); ++i) {
    const Container& c = spec.template_.containers[i];
    std::string cp = IndexPath("spec.template.spec.containers", i);
    if (!c.name.empty() && !names.insert(c.name).second) {
      rep->Error(cp + ".name", "Duplicate value: \"" + c.name + "\"");
    }
  }
}

}  // namespace

std::optional<int32_t> ResolveIntOrPercent(const IntOrString& v, int32_t total, bool round_up) {
  if (!v.is_string) return v.int_value;
  int value = 0;
  if (!IsPercentOrInt(v, &value)) return std::nullopt;
  // Every string is a percentage, "25" as much as "25%": Argo resolves these with Kubernetes'
  // legacy GetValueFromIntOrPercent.
  int64_t scaled = static_cast<int64_t>(value) * total;
  return static_cast<int32_t>(round_up ? (scaled + 99) / 100 : scaled / 100);
}

void ValidateRollout(const Rollout& ro, DecodeContext* ctx, const SourceMap& sources) {
  Reporter rep(ctx, sources);
  const RolloutSpec& spec = ro.spec;
  if (spec.EffectiveReplicas() < 0)
    rep.Error("spec.replicas", "must be greater than or equal to 0");
  if (!spec.workload_ref) {
    if (!spec.selector) {
      rep.Error("spec.selector", std::string(kMissingField) + ".spec.selector'");
    } else if (spec.selector->empty()) {
      rep.Error("spec.selector", "empty selector is invalid for deployment");
    }
    ValidatePodTemplate(ro, &rep);
  } else {
    // A template next to the workloadRef is an error unless it was resolved from the referenced
    // workload (the workload-generation annotation says so): then it is checked like a Rollout's
    // own, as Argo's validation does when TemplateResolvedFromRef is set.
    const bool resolved =
        ro.metadata.annotations.count(kWorkloadGenerationAnnotation) > 0 && !spec.template_.empty;
    if (resolved) {
      ValidatePodTemplate(ro, &rep);
    } else if (!spec.template_.empty) {
      rep.Error("spec.template", "template must be empty for workload reference rollout");
    }
    const WorkloadRef& w = *spec.workload_ref;
    bool known = (w.kind == "Deployment" && w.api_version == "apps/v1") ||
                 (w.kind == "ReplicaSet" && w.api_version == "apps/v1") ||
                 (w.kind == "PodTemplate" && w.api_version == "v1");
    if (!known) {
      rep.Error("spec.workloadRef",
                "must reference an apps/v1 Deployment, an apps/v1 ReplicaSet or a v1 PodTemplate "
                "(got " +
                    w.api_version + " " + w.kind + ")");
    }
    if (w.name.empty()) rep.Error("spec.workloadRef.name", "Required value");
    if (!w.scale_down.empty() && w.scale_down != "never" && w.scale_down != "onsuccess" &&
        w.scale_down != "progressively") {
      rep.Error("spec.workloadRef.scaleDown",
                "must be never, onsuccess or progressively (got \"" + w.scale_down + "\")");
    }
  }
  if (spec.min_ready_seconds < 0) {
    rep.Error("spec.minReadySeconds", "must be greater than or equal to 0");
  }
  if (spec.EffectiveRevisionHistoryLimit() < 0) {
    rep.Error("spec.revisionHistoryLimit", "must be greater than or equal to 0");
  }
  if (spec.EffectiveProgressDeadlineSeconds() < 0) {
    rep.Error("spec.progressDeadlineSeconds", "must be greater than or equal to 0");
  }
  if (spec.EffectiveProgressDeadlineSeconds() <= spec.min_ready_seconds) {
    rep.Error("spec.progressDeadlineSeconds", "must be greater than minReadySeconds");
  }
  if (spec.rollback_window_revisions && *spec.rollback_window_revisions < 0) {
    rep.Error("spec.rollbackWindow.revisions", "must be greater than or equal to 0");
  }
  if (!spec.canary && !spec.blue_green) {
    rep.Error("spec.strategy",
              std::string(kMissingField) + ".spec.strategy.canary or .spec.strategy.blueGreen'");
  } else if (spec.canary && spec.blue_green) {
    rep.Error("spec.strategy", "Multiple Strategies can not be listed");
  } else if (spec.blue_green) {
    ValidateBlueGreen(ro, *spec.blue_green, &rep);
  } else {
    ValidateCanary(ro, *spec.canary, &rep);
  }
}

}  // namespace ramp::spec
