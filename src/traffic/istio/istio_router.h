// The Istio router: the weighted routes of one or more VirtualServices and, optionally, the
// subsets of a DestinationRule (networking.istio.io, --istio-api-version, default v1alpha3). It
// follows Argo Rollouts' rollout/trafficrouting/istio/istio.go (reference/argo-rollouts.md §6).
//
// SetWeight (Argo's reconcileVirtualService / processRoutes), in each configured VirtualService
// ("name" in the rollout's namespace, or "name.namespace"):
//   * the weighted routes are the http routes named in `routes` (when `routes` is empty: the one
//     http route that is not a managed route), the tls routes matching a `tlsRoutes` entry (same
//     single port and the same set of SNI hosts; when `tlsRoutes` is empty, the only tls route)
//     and the tcp routes matching a `tcpRoutes` port (likewise). Each must have a canary and a
//     stable destination: Services canaryService/stableService, or the DestinationRule's
//     canary/stable subsets when a destinationRule is configured;
//   * in each, the destination whose host's short name (before the first '.') is the canary
//     Service, or whose subset is the canary subset, gets weight w; the stable one gets
//     max − w − Σ additional − Σ weights of additionalSubsetNames destinations (never below 0);
//     an experiment (additional) Service gets its weight, appended (sorted by name) when
//     missing; additionalSubsetNames destinations are left alone; any other destination with a
//     non-zero weight is removed.
// SetHeaderRoute / SetMirrorRoute (Argo's createHeaderRoute / createMirrorRoute): an http route
// named after the managed route, placed with the other managed routes before every other http
// route, in trafficRouting.managedRoutes order (orderRoutes):
//   header: {name, match: [{headers: {<h>: {exact|regex|prefix: v}}} per header match],
//            route: [{destination: {host, subset?, port?}, weight: 100}]}
//   mirror: {name, match: [{method?, uri?, headers?} per match], route: <the destinations of the
//            first weighted http route>, mirror: {host, subset?, port?},
//            mirrorPercentage: {value: <percentage, default 100>}}
// with host = the DestinationRule's spec.host when one is configured (subset = canary subset),
// else the canary Service; port = the port of the weighted route's first destination. A route
// with no matches is removed; RemoveManagedRoutes removes every http route whose name is a
// managed route.
// UpdateHash (Argo's UpdateHash), only with a destinationRule: annotation
// argo-rollouts.argoproj.io/managed-by-rollouts = <rollout>; the canary and stable subsets'
// labels[rollouts-pod-template-hash] = the hashes (removed for an empty hash); a subset per
// additional destination (named after its Service) labelled with its hash; subsets that are
// none of these, nor named in additionalSubsetNames, are dropped.
//
// The router keeps its desired state (weight, additional destinations, managed routes, hashes)
// and converges each VirtualService to all of it on every call, so a periodic re-call puts back
// an edited weight or a deleted managed route (reported through Env::changed_outside).
// VerifyWeight reads the VirtualServices back (Argo has none).
// Not implemented from Argo: delaying the DestinationRule switch until the ReplicaSets are fully
// available (the router is not told about ReplicaSets), and multicluster VirtualServices.
//
// Thread-safety: as kube_router.h.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "traffic/kubernetes/kube_router.h"

namespace ramp::kube_traffic {

// `env.config` is trafficRouting.istio: {virtualService | virtualServices: [{name, routes[],
// tlsRoutes[{port, sniHosts[]}], tcpRoutes[{port}]}], destinationRule?: {name, canarySubsetName,
// stableSubsetName, additionalSubsetNames[]}}. kInvalidArgument for a malformed section, an
// unknown API version, or no canary/stable Service without a destinationRule.
StatusOr<std::unique_ptr<Router>> NewIstioRouter(Env env);

// One configured VirtualService.
struct IstioVirtualServiceConfig {
  std::string name;
  std::string ns;  // the rollout's namespace unless the name said otherwise
  std::vector<std::string> routes;
  struct TlsRoute {
    int64_t port = 0;
    std::vector<std::string> sni_hosts;
  };
  std::vector<TlsRoute> tls_routes;
  std::vector<int64_t> tcp_ports;
};

struct IstioDestinationRuleConfig {
  std::string name;
  std::string canary_subset;
  std::string stable_subset;
  std::vector<std::string> additional_subsets;
};

struct IstioConfig {
  std::vector<IstioVirtualServiceConfig> virtual_services;
  std::optional<IstioDestinationRuleConfig> destination_rule;
};

// Parses trafficRouting.istio; `rollout_ns` is the namespace of names without one.
StatusOr<IstioConfig> ParseIstioConfig(const nlohmann::json& config, std::string_view rollout_ns);

// What the router wants in every VirtualService.
struct IstioDesired {
  std::optional<int32_t> weight;  // unset: leave the weights alone
  std::vector<WeightDestination> additional;
  // The managed routes the router has set, by name.
  std::map<std::string, std::variant<HeaderRoute, MirrorRoute>> routes;
  // Managed route names to keep out (removed by a route without matches, RemoveManagedRoutes).
  std::set<std::string> removed;
  // The host of header route destinations and mirrors.
  std::string canary_host;
  // False: only the weights (VerifyWeight's comparison).
  bool manage_routes = true;
};

// Rewrites VirtualService `object` into what `desired` says (pure; for tests and the router).
// Answers whether anything changed; kFailedPrecondition when the object cannot carry it (a named
// route missing, a weighted route without canary or stable destination, no http routes for a
// managed route).
StatusOr<bool> RewriteIstioVirtualService(const RouterContext& context, const IstioConfig& config,
                                          const IstioVirtualServiceConfig& vs,
                                          const IstioDesired& desired, nlohmann::json& object);

// Rewrites DestinationRule `object` for UpdateHash (pure). kFailedPrecondition when it has no
// canary or stable subset.
StatusOr<bool> RewriteIstioDestinationRule(std::string_view rollout,
                                           const IstioDestinationRuleConfig& rule,
                                           std::string_view canary_hash,
                                           std::string_view stable_hash,
                                           const std::vector<WeightDestination>& additional,
                                           nlohmann::json& object);

}  // namespace ramp::kube_traffic
