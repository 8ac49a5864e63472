// The ALB router of Kubernetes mode ("ALB", trafficRouting.alb): it writes the annotations the AWS
// Load Balancer Controller turns into listener rules on an existing Ingress. Argo Rollouts'
// rollout/trafficrouting/alb/alb.go (SetWeightPerIngress, getForwardActionString,
// SetHeaderRoutePerIngress, getDesiredHeaderAnnotations, getTrafficForwardConditionString,
// RemoveManagedRoutesPerIngress, modifyManagedAnnotation) and utils/ingress (ALBAction and the
// structs it marshals, CreateAnnotationBasedPath, RemovePathByServiceName, SortHttpPaths).
//
// On each Ingress named by alb.ingresses (or the one alb.ingress; --ingress-api-version
// networking.k8s.io/v1 or extensions/v1beta1), whose other fields it leaves alone:
//   <prefix>/actions.<action> = {"Type":"forward","ForwardConfig":{"TargetGroups":[
//       {"ServiceName":<canary>,"ServicePort":"<servicePort>","Weight":w},
//       {<each additional destination>},
//       {"ServiceName":<stable>,"ServicePort":"<servicePort>","Weight":100−w−Σ}],
//       "TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":N}}}
//     (TargetGroupStickinessConfig only with stickiness enabled)
//     where <action> is alb.rootService, default the stable Service, and <prefix> is
//     alb.annotationPrefix (default alb.ingress.kubernetes.io). The Ingress must have a rule whose
//     backend is the Service <action> with port name use-annotation (the controller reads the
//     action only for such a backend; Argo checks the Service name alone).
//   rollouts.argoproj.io/managed-alb-annotations = {"<rollout>":[<the keys above and below it
//     manages>], <other rollouts' entries kept>}.
// Every JSON value is encoding/json's output for Argo's Go structs, byte for byte: fields in
// declaration order, no spaces, map keys sorted, <, > and & escaped as \u003c, \u003e, \u0026.
// Stable weight is 100 − w − Σ additional (ALB does not take maxTrafficWeight; a RouterContext
// with another max weight is refused).
//
// Header routes (setHeaderRoute, exact header values only, as Argo's validation demands):
//   <prefix>/actions.<route>    = the forward action with the canary at weight 100 only;
//   <prefix>/conditions.<route> = [{"field":"http-header","httpHeaderConfig":{"httpHeaderName":h,
//                                  "values":[v…]}}…] (matches on one header merged into one
//                                  condition);
//   and, when no rule has a path on the Service <route>, a path {path: /*, pathType:
//   ImplementationSpecific, backend: <route>:use-annotation} inserted first in every rule; the
//   paths of each rule are then ordered by trafficRouting.managedRoutes (managed routes first).
// A route with no matches, and RemoveManagedRoutes (for every managedRoutes name), removes both
// annotations, the keys from the managed list and the first path on <route> in each rule.
// Mirror routes: the AWS Load Balancer Controller has none (kUnimplemented).
//
// VerifyWeight reads each Ingress back and compares its action annotation with the one for the
// weights asked (kVerified / kNotVerified). Argo verifies ALB weights against AWS instead (with
// --aws-verify-target-group: the load balancer of the Ingress's status hostname, the weights of
// its target groups, status.alb(s)); ramp cannot reach AWS and does NOT do that verification,
// nor the TargetGroupBinding endpoint check before scale-down.
//
// The router keeps its desired state — the weights last set, and each header route it was told
// about (present with its matches, or removed) — and converges every Ingress to all of it on each
// call, so whatever someone else changed in what it owns is set back (routes it was never told
// about are left alone). Refused: a missing Ingress, no use-annotation rule on the action
// Service, an unreadable managed-annotations value (kFailedPrecondition); prefix or regex header
// matches (kInvalidArgument).
//
// Thread-safety: as kube_router.h. The desired state is only touched by the calls (one at a time,
// from the rollout's queue); what a write needs is copied into its callbacks.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "traffic/kubernetes/kube_router.h"

namespace ramp::kube_traffic {

// trafficRouting.alb, parsed and checked.
struct AlbConfig {
  std::vector<std::string> ingresses;  // alb.ingresses, or [alb.ingress]
  int32_t service_port = 0;
  std::string root_service;  // "" = the stable Service
  std::string annotation_prefix = "alb.ingress.kubernetes.io";
  std::optional<int64_t> stickiness_seconds;  // set when stickinessConfig.enabled
  // The Ingress resource at env.versions.ingress; `legacy` for extensions/v1beta1.
  kube::Resource resource;
  bool legacy = false;
};

// kInvalidArgument for a malformed section ("alb.servicePort: expected an integer"), no Ingress,
// no servicePort, a stickiness duration outside 1..604800, an Ingress API version other than
// networking.k8s.io/v1 or extensions/v1beta1, no stable/canary Service, or a max weight not 100.
StatusOr<AlbConfig> ParseAlbConfig(const Env& env);

StatusOr<std::unique_ptr<Router>> NewAlbRouter(Env env);

// The annotation that holds the rollouts' managed keys.
inline constexpr char kAlbManagedAnnotations[] = "rollouts.argoproj.io/managed-alb-annotations";

// "<prefix>/actions.<name>" and "<prefix>/conditions.<name>".
std::string AlbActionKey(const AlbConfig& config, std::string_view name);
std::string AlbConditionKey(const AlbConfig& config, std::string_view name);

// The service the weighted action is named after: rootService, default the stable Service.
std::string AlbActionService(const Env& env, const AlbConfig& config);

// The weighted forward action (getForwardActionString).
std::string AlbForwardAction(const Env& env, const AlbConfig& config, int32_t weight,
                             const std::vector<WeightDestination>& additional);

// A header route's action: the canary at 100 (getTrafficForwardActionString).
std::string AlbHeaderRouteAction(const Env& env, const AlbConfig& config);

// A header route's conditions (getTrafficForwardConditionString). kInvalidArgument for a prefix
// or regex match, or an empty exact value: ALB matches header values exactly.
StatusOr<std::string> AlbHeaderRouteConditions(const HeaderRoute& route);

// `s` as Go's encoding/json writes a string, quotes included.
std::string GoJsonString(std::string_view s);

}  // namespace ramp::kube_traffic
