// The Rollout kind (argoproj.io/v1alpha1), as Argo Rollouts defines it, as immutable values.
//
// Every field of Argo's RolloutSpec is here with Argo's defaults available through the Effective*
// accessors (the raw optional stays as written, so a saved object round-trips). The pod template
// is kept whole as JSON (it is hashed into the revision) with the parts ramp reads typed in
// `containers`. DecodeRollout reads a document strictly and validates it with Argo's rules;
// errors name the exact field path and its position.
//
// Thread-safety: a decoded Rollout is immutable; share it freely (usually as
// std::shared_ptr<const Rollout>).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/common.h"

namespace ramp::spec {

struct StringMatch {
  std::string exact;
  std::string prefix;
  std::string regex;
};

struct PodTemplate {
  ObjectMeta metadata;
  std::vector<Container> containers;
  nlohmann::json raw = nlohmann::json::object();  // the whole template as written
  bool empty = true;                              // no template given
};

// Argo's annotation holding the metadata.generation of the workloadRef target the template was
// resolved from (rollout/templateref.go). A Rollout document carrying a template next to its
// workloadRef is a resolved one when it has this annotation (daemon/kube_workload.h writes both);
// it is validated as a Rollout with its own template, as Argo does once TemplateResolvedFromRef.
inline constexpr char kWorkloadGenerationAnnotation[] = "rollout.argoproj.io/workload-generation";

struct WorkloadRef {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string scale_down;  // never | onsuccess | progressively
};

// RolloutAnalysis: step analysis, blue-green pre/post promotion, and (with starting_step)
// background analysis.
struct RolloutAnalysis {
  std::vector<AnalysisTemplateRef> templates;
  std::vector<Argument> args;
  std::vector<DryRun> dry_run;
  std::vector<MeasurementRetention> measurement_retention;
  std::optional<PodMetadata> analysis_run_metadata;
  std::optional<int32_t> starting_step;  // background analysis only
};

struct RolloutPause {
  std::optional<IntOrString> duration;
  // Whole seconds as Argo computes them: integers and unit-less numeric strings are seconds,
  // Go durations are truncated; -1 when unparsable; nullopt when indefinite.
  std::optional<int64_t> DurationSeconds() const;
};

struct ExperimentTemplateRef {
  std::string name;
  std::string spec_ref;  // canary | stable
  std::optional<int32_t> replicas;
  PodMetadata metadata;
  std::optional<LabelSelector> selector;
  std::optional<int32_t> weight;
  std::optional<std::string> service_name;  // service: {name}
  bool has_service = false;
};

struct ExperimentAnalysisRef {
  std::string name;
  std::string template_name;
  std::optional<bool> cluster_scope;
  std::vector<Argument> args;
  bool required_for_completion = false;
};

struct ExperimentStep {
  std::vector<ExperimentTemplateRef> templates;
  DurationString duration;
  std::vector<ExperimentAnalysisRef> analyses;
  std::vector<DryRun> dry_run;
  PodMetadata analysis_run_metadata;
  std::optional<int32_t> scale_down_delay_seconds;
};

struct SetCanaryScale {
  std::optional<int32_t> weight;
  std::optional<int32_t> replicas;
  bool match_traffic_weight = false;
};

struct HeaderRoutingMatch {
  std::string header_name;
  std::optional<StringMatch> header_value;
};

struct SetHeaderRoute {
  std::string name;
  std::vector<HeaderRoutingMatch> match;
};

struct RouteMatch {
  std::optional<StringMatch> method;
  std::optional<StringMatch> path;
  std::map<std::string, StringMatch> headers;
};

struct SetMirrorRoute {
  std::string name;
  std::vector<RouteMatch> match;
  std::optional<int32_t> percentage;
  int32_t EffectivePercentage() const { return percentage.value_or(100); }
};

struct PluginStep {
  std::string name;
  std::optional<nlohmann::json> config;
};

// Exactly one action is set in a valid step.
struct CanaryStep {
  std::optional<int32_t> set_weight;
  std::optional<RolloutPause> pause;
  std::optional<ExperimentStep> experiment;
  std::optional<RolloutAnalysis> analysis;
  std::optional<SetCanaryScale> set_canary_scale;
  std::optional<SetHeaderRoute> set_header_route;
  std::optional<SetMirrorRoute> set_mirror_route;
  std::optional<PluginStep> plugin;
};

struct IstioVirtualService {
  std::string name;
  std::vector<std::string> routes;
  struct TlsRoute {
    int64_t port = 0;
    std::vector<std::string> sni_hosts;
  };
  std::vector<TlsRoute> tls_routes;
  std::vector<int64_t> tcp_route_ports;
};

struct IstioTrafficRouting {
  std::optional<IstioVirtualService> virtual_service;
  std::vector<IstioVirtualService> virtual_services;
  struct DestinationRule {
    std::string name;
    std::string canary_subset_name;
    std::string stable_subset_name;
    std::vector<std::string> additional_subset_names;
  };
  std::optional<DestinationRule> destination_rule;
};

struct NginxTrafficRouting {
  std::string annotation_prefix;  // default nginx.ingress.kubernetes.io
  std::string stable_ingress;
  std::vector<std::string> stable_ingresses;
  std::map<std::string, std::string> additional_ingress_annotations;
  std::map<std::string, std::string> canary_ingress_annotations;
};

struct AlbTrafficRouting {
  std::string ingress;
  std::vector<std::string> ingresses;
  int32_t service_port = 0;
  std::string root_service;
  std::string annotation_prefix;  // default alb.ingress.kubernetes.io
  struct Stickiness {
    bool enabled = false;
    int64_t duration_seconds = 0;
  };
  std::optional<Stickiness> stickiness_config;
};

struct SmiTrafficRouting {
  std::string root_service;
  std::string traffic_split_name;
};

struct AppMeshTrafficRouting {
  std::optional<IstioVirtualService> virtual_service;  // {name, routes}
  std::string canary_virtual_node;
  std::string stable_virtual_node;
  bool has_virtual_node_group = false;
};

struct RolloutTrafficRouting {
  std::optional<IstioTrafficRouting> istio;
  std::optional<NginxTrafficRouting> nginx;
  std::optional<AlbTrafficRouting> alb;
  std::optional<SmiTrafficRouting> smi;
  std::optional<std::vector<std::string>> ambassador_mappings;
  std::optional<AppMeshTrafficRouting> app_mesh;
  std::optional<std::string> traefik_weighted_service;
  std::optional<std::string> apisix_route_name;
  std::vector<std::string> apisix_route_rules;
  bool has_apisix = false;
  std::optional<std::vector<std::string>> managed_routes;  // names, in precedence order
  std::map<std::string, nlohmann::json> plugins;
  std::optional<int32_t> max_traffic_weight;
  // The whole section as written: Kubernetes-mode routers read their own parts of it
  // (traffic/kubernetes/kube_traffic_router.h).
  nlohmann::json raw = nlohmann::json::object();

  int32_t EffectiveMaxTrafficWeight() const { return max_traffic_weight.value_or(100); }
};

struct AntiAffinity {
  std::optional<int32_t> preferred_weight;  // preferredDuringSchedulingIgnoredDuringExecution
  bool has_preferred = false;
  bool has_required = false;  // requiredDuringSchedulingIgnoredDuringExecution
};

struct ReplicaProgressThreshold {
  std::string type;  // Percent | Pods
  int32_t value = 0;
};

struct CanaryStrategy {
  std::string canary_service;
  std::string stable_service;
  std::vector<CanaryStep> steps;
  std::optional<RolloutTrafficRouting> traffic_routing;
  std::optional<IntOrString> max_unavailable;
  std::optional<IntOrString> max_surge;
  std::optional<RolloutAnalysis> analysis;
  std::optional<AntiAffinity> anti_affinity;
  std::optional<PodMetadata> canary_metadata;
  std::optional<PodMetadata> stable_metadata;
  std::optional<int32_t> scale_down_delay_seconds;
  std::optional<int32_t> scale_down_delay_revision_limit;
  std::optional<int32_t> abort_scale_down_delay_seconds;
  bool dynamic_stable_scale = false;
  std::optional<std::pair<std::string, std::string>> ping_pong;  // ping, pong
  std::optional<int32_t> min_pods_per_replica_set;
  std::optional<ReplicaProgressThreshold> replica_progress_threshold;

  IntOrString EffectiveMaxSurge() const { return max_surge.value_or(IntOrString::Str("25%")); }
  IntOrString EffectiveMaxUnavailable() const {
    return max_unavailable.value_or(IntOrString::Str("25%"));
  }
  // 30 with traffic routing; basic canaries scale down at once.
  int32_t EffectiveScaleDownDelaySeconds() const {
    return scale_down_delay_seconds.value_or(traffic_routing ? 30 : 0);
  }
  int32_t EffectiveAbortScaleDownDelaySeconds() const {
    return abort_scale_down_delay_seconds.value_or(30);
  }
};

struct BlueGreenStrategy {
  std::string active_service;
  std::string preview_service;
  std::optional<int32_t> preview_replica_count;
  std::optional<bool> auto_promotion_enabled;
  int32_t auto_promotion_seconds = 0;
  std::optional<IntOrString> max_unavailable;
  std::optional<int32_t> scale_down_delay_seconds;
  std::optional<int32_t> scale_down_delay_revision_limit;
  std::optional<RolloutAnalysis> pre_promotion_analysis;
  std::optional<RolloutAnalysis> post_promotion_analysis;
  std::optional<AntiAffinity> anti_affinity;
  std::optional<PodMetadata> preview_metadata;
  std::optional<PodMetadata> active_metadata;
  std::optional<int32_t> abort_scale_down_delay_seconds;

  bool EffectiveAutoPromotionEnabled() const { return auto_promotion_enabled.value_or(true); }
  int32_t EffectiveScaleDownDelaySeconds() const { return scale_down_delay_seconds.value_or(30); }
  int32_t EffectiveAbortScaleDownDelaySeconds() const {
    return abort_scale_down_delay_seconds.value_or(30);
  }
};

struct RolloutSpec {
  std::optional<int32_t> replicas;
  std::optional<LabelSelector> selector;
  PodTemplate template_;
  std::optional<WorkloadRef> workload_ref;
  int32_t min_ready_seconds = 0;
  std::optional<int32_t> rollback_window_revisions;
  std::optional<CanaryStrategy> canary;
  std::optional<BlueGreenStrategy> blue_green;
  std::optional<int32_t> revision_history_limit;
  bool paused = false;
  std::optional<int32_t> progress_deadline_seconds;
  bool progress_deadline_abort = false;
  std::string restart_at;
  std::optional<int32_t> successful_run_history_limit;
  std::optional<int32_t> unsuccessful_run_history_limit;

  int32_t EffectiveReplicas() const { return replicas.value_or(1); }
  int32_t EffectiveRevisionHistoryLimit() const { return revision_history_limit.value_or(10); }
  int32_t EffectiveProgressDeadlineSeconds() const {
    return progress_deadline_seconds.value_or(600);
  }
  int32_t EffectiveSuccessfulRunHistoryLimit() const {
    return successful_run_history_limit.value_or(5);
  }
  int32_t EffectiveUnsuccessfulRunHistoryLimit() const {
    return unsuccessful_run_history_limit.value_or(5);
  }
};

struct Rollout {
  ObjectMeta metadata;
  RolloutSpec spec;
  std::optional<nlohmann::json> status;  // as stored; typed by the engine
};

// Decodes and validates one Rollout document (root = the whole document).
Rollout DecodeRollout(DecodeContext* ctx, const Node& root);

// Argo's rules that need the whole decoded object (strategy combinations, step rules, …).
// Called by DecodeRollout; exposed for objects built from other sources (API bodies).
void ValidateRollout(const Rollout& r, DecodeContext* ctx, const SourceMap& sources);

// Resolves "25%" or 3 against a total, rounding up (maxSurge) or down (maxUnavailable).
// Returns nullopt for a malformed value.
std::optional<int32_t> ResolveIntOrPercent(const IntOrString& v, int32_t total, bool round_up);

}  // namespace ramp::spec
