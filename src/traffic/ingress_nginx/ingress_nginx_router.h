// The ingress-nginx router of Kubernetes mode ("Nginx", trafficRouting.nginx): for every stable
// Ingress it keeps a canary Ingress that ingress-nginx reads as the canary of that host and
// path. Argo Rollouts' rollout/trafficrouting/nginx/nginx.go (buildCanaryIngress,
// buildLegacyCanaryIngress, SetWeightPerIngress, getDesiredAnnotations) and
// utils/ingress/ingress.go (GetCanaryIngressName).
//
// For each name in nginx.stableIngresses (or the one nginx.stableIngress) the router reads that
// Ingress (--ingress-api-version: networking.k8s.io/v1, or extensions/v1beta1 whose backends
// are {serviceName, servicePort}) and creates or rewrites the Ingress
// `<rollout>-<stableIngress>-canary` (the prefix cut to 246 bytes so the name fits in 253),
// controlled by the Rollout:
//   spec        = the stable Ingress's rules that have a path whose backend is the stable
//                 Service — each kept whole, those backends renamed to the canary Service (the
//                 other rules are dropped) — with its tls and ingressClassName; nothing else.
//   annotations = kubernetes.io/ingress.class (copied from the stable Ingress), then
//                 additionalIngressAnnotations (keys not starting with the prefix get
//                 "<prefix>/"), then canaryIngressAnnotations verbatim, then
//                 <prefix>/canary: "true", <prefix>/canary-weight: "<w>", and
//                 <prefix>/canary-weight-total: "<maxTrafficWeight>" when maxTrafficWeight is set;
//                 annotations already on the canary Ingress that these do not name are kept.
//   labels      = none: Argo's patch carries the desired object's labels, and it has none.
// <prefix> is nginx.annotationPrefix (default nginx.ingress.kubernetes.io). Additional
// destinations (experiments) are not routed by nginx, as in Argo.
//
// Refused: a stable Ingress that does not exist or has no rule using the stable Service, and a
// canary Ingress controlled by something other than the Rollout (kFailedPrecondition). Header
// and mirror routes: Argo's nginx has none (a header route is configured through
// additionalIngressAnnotations, e.g. canary-by-header) — kUnimplemented. VerifyWeight reads each
// canary Ingress back and compares its canary and canary-weight annotations (Argo answers "not
// supported"; reading back is ramp's addition).
//
// Thread-safety: as kube_router.h. Beyond what its ObjectSync remembers, the router keeps no
// state between calls (each SetWeight recomputes the canary Ingresses from the stable ones as
// read), and its callbacks hold what they need by shared_ptr.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "traffic/kubernetes/kube_router.h"

namespace ramp::kube_traffic {

// trafficRouting.nginx, parsed and checked.
struct NginxIngressConfig {
  std::string annotation_prefix = "nginx.ingress.kubernetes.io";
  std::vector<std::string> stable_ingresses;  // stableIngresses, or [stableIngress]
  std::map<std::string, std::string> additional_annotations;
  std::map<std::string, std::string> canary_annotations;
  // The Ingress resource at env.versions.ingress; `legacy` for extensions/v1beta1 (backends
  // {serviceName, servicePort}).
  kube::Resource resource;
  bool legacy = false;
  // Whether to write <prefix>/canary-weight-total. Argo writes it when the Rollout sets
  // trafficRouting.maxTrafficWeight; the RouterContext only carries the effective value, so a
  // max weight other than 100 counts as set (an explicit maxTrafficWeight: 100 writes nothing,
  // which ingress-nginx reads the same: its default total is 100).
  bool weight_total = false;
  int32_t max_weight = 100;
};

// kInvalidArgument for a malformed section ("nginx.stableIngress: expected a string"), neither
// stableIngress nor stableIngresses, an Ingress API version other than networking.k8s.io/v1 or
// extensions/v1beta1, or no stable/canary Service.
StatusOr<NginxIngressConfig> ParseNginxIngressConfig(const Env& env);

StatusOr<std::unique_ptr<Router>> NewNginxIngressRouter(Env env);

// Argo's GetCanaryIngressName: "<rollout>-<stable>" cut to 246 bytes, then "-canary".
std::string NginxCanaryIngressName(std::string_view rollout, std::string_view stable_ingress);

// What the canary Ingress of `stable` (the stable Ingress as read) must carry at `weight`:
// {"metadata": {"annotations": {…}}, "spec": {…}} — the annotations this router sets (others
// on the canary Ingress are kept) and the whole spec. kFailedPrecondition when no rule of
// `stable` uses the stable Service.
StatusOr<nlohmann::json> NginxCanaryIngress(const Env& env, const NginxIngressConfig& config,
                                            const nlohmann::json& stable, int32_t weight);

}  // namespace ramp::kube_traffic
