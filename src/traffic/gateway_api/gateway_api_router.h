// The Gateway API router, built into ramp: what Argo does through the traffic router plugin
// argoproj-labs/gatewayAPI (rollouts-plugin-trafficrouter-gatewayapi v0.15, pkg/plugin/
// httproute.go, grpcroute.go, tcproute.go, tlsroute.go, plugin.go), configured by
// trafficRouting.plugins["argoproj-labs/gatewayAPI"]. It writes HTTPRoutes and GRPCRoutes
// (gateway.networking.k8s.io, version ApiVersions::gateway, default v1), TCPRoutes and
// TLSRoutes (v1alpha2), in `namespace` (default: the rollout's), in the plugin's order (HTTP,
// GRPC, TCP, TLS; per kind the named routes, then those its *RouteSelector label selector finds,
// listed again on every call and taking no header routes):
//
//   SetWeight      in every rule of each route that is not a managed header rule, each
//                  backendRefs[] entry named like the canary Service gets weight w and each one
//                  named like the stable Service maxTrafficWeight − w (Gateway weights are
//                  relative); both must be found. The label
//                  rollouts.argoproj.io/gatewayapi-canary: in-progress (inProgressLabelKey /
//                  inProgressLabelValue; off with disableInProgressLabel) is set while w > 0 and
//                  removed at w = 0.
//   SetHeaderRoute on each HTTPRoute and GRPCRoute with useHeaderRoutes (httpRoute and grpcRoute
//                  alone imply it), one rule per rule routing to both Services, named <route>
//                  (then <route>-1, -2, …), appended: its matches are the source rule's (path,
//                  query params, method and headers; a GRPCRoute's method and headers; a single
//                  match when it has none) with the header conditions added (exact → Exact,
//                  prefix p → RegularExpression "p.*", regex → RegularExpression), ANDed within a
//                  match as in the plugin; the source rule's filters; one backendRef {group: "",
//                  kind: Service, name: canary, port: the canary ref's}. A route with no matches
//                  removes that route's rules (the plugin removes every managed rule then; ramp
//                  removes the one named). TCPRoutes and TLSRoutes have no header rules.
//   RemoveManagedRoutes  removes the rules named after managedRoutes (and, as the plugin does
//                  for rules written before rules had names, unnamed rules whose only backendRef
//                  is the canary Service).
// The plugin's ConfigMap of managed routes (configMap, key httpManagedRoutes) is gone since its
// v0.13: managed rules are found by their name, as there; `configMap` is accepted and unused.
// A CRD that prunes rule names (Gateway API before named rules) still works: an unnamed rule
// whose only backendRef is the canary and whose matches carry the route's headers is taken as
// that route's, as the plugin does. Comparisons apply the CRDs' defaults (backendRef group,
// kind and weight; an HTTP match's path; header and method match types), so what the API
// server defaults is not taken for a change.
// Not supported yet: experiment destinations in SetWeight (kUnimplemented; the plugin adds
// their Services as backendRefs). Mirror routes: kUnimplemented (the plugin has none either).
// VerifyWeight reads the routes back (the plugin always answers "verified").
//
// Thread-safety: as kube_router.h. The router's state (weight, header routes) is only touched
// by the calls, on the rollout's queue; callbacks use copies.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "traffic/kubernetes/kube_router.h"

namespace ramp::kube_traffic {

// The key of the plugin's configuration in trafficRouting.plugins.
inline constexpr char kGatewayApiPluginName[] = "argoproj-labs/gatewayAPI";

// `env.config` is the plugin's configuration: {httpRoute | httpRoutes: [{name,
// useHeaderRoutes}], grpcRoute(s), tcpRoute(s), tlsRoute(s) likewise, httpRouteSelector,
// grpcRouteSelector, tcpRouteSelector, tlsRouteSelector, namespace, configMap,
// disableInProgressLabel, inProgressLabelKey, inProgressLabelValue}. kInvalidArgument for a
// malformed one or for no route at all.
StatusOr<std::unique_ptr<Router>> NewGatewayApiRouter(Env env);

enum class GatewayRouteKind { kHttp, kGrpc, kTcp, kTls };

// Everything one route should carry (the router's desired state for it).
struct GatewayRouteWant {
  GatewayRouteKind kind = GatewayRouteKind::kHttp;
  std::string canary;
  std::string stable;
  int32_t max_weight = 100;
  std::optional<int32_t> weight;    // unset: weights are not touched
  bool header_routes = false;       // useHeaderRoutes: the header rules below apply
  std::vector<HeaderRoute> active;  // header routes whose rules must be there, in order
  std::vector<HeaderRoute> absent;  // header routes whose rules must not (matches may be empty)
  std::vector<std::string> managed_names;    // every managed route name (never weighted)
  bool remove_unnamed_canary_rules = false;  // RemoveManagedRoutes: legacy rules too
  std::string label_key;                     // the in-progress label ("" = none)
  std::string label_value;
};

// Rewrites `route` (an HTTPRoute, GRPCRoute, TCPRoute or TLSRoute as read, per want.kind) to
// `want`: answers whether anything changed; kFailedPrecondition naming what is missing (pure;
// for tests and the router).
StatusOr<bool> ConvergeGatewayRoute(nlohmann::json& route, const GatewayRouteWant& want);

// The header match list (HTTPHeaderMatch, GRPCHeaderMatch) of a header route (pure).
nlohmann::json GatewayHeaderMatches(const HeaderRoute& route);

}  // namespace ramp::kube_traffic
