// The APISIX router: the ApisixRoute (apisix.apache.org, version ApiVersions::apisix, default
// v2) named trafficRouting.apisix.route.name, and one ApisixRoute per header route. Argo's
// apisix.go:
//
//   SetWeight:  in each http rule listed in route.rules (default: the rule named like the
//               route), backends[serviceName == canary].weight = w and
//               backends[serviceName == stable].weight = 100 − w (the first entry of each;
//               experiment destinations are ignored, as Argo does). A missing route, rule or
//               backend is kFailedPrecondition. Nothing else in the route is written.
//   SetHeaderRoute: the ApisixRoute <headerRoute.name>, controlled by the Rollout, cloned from
//               the base route (its labels, annotations and spec), where each listed rule sends
//               everything to the canary backend (weight 100; stable backends removed),
//               priority = the base rule's priority + 1, and match.exprs = one expression per
//               header: {subject: {scope: Header, name}, op: Equal (exact) | RegexMatch (regex,
//               or "^<prefix>.*" for a prefix), value}. APISIX ANDs the expressions of a rule,
//               so a header route with several matches needs all of them (as in Argo). A route
//               with no matches deletes that ApisixRoute; one that exists and is not controlled
//               by the Rollout is refused.
//   RemoveManagedRoutes: deletes the ApisixRoutes named in managedRoutes that the Rollout
//               controls.
// Mirror routes: kUnimplemented. VerifyWeight reads the base route back (Argo answers "not
// supported"). Every call converges the base route and the header routes still active to the
// whole desired state, so a header route edited or deleted behind ramp's back is put back by
// the next call.
//
// Thread-safety: as kube_router.h. The router's own state (weight, active header routes) is
// only touched by the calls, on the rollout's queue; callbacks use copies.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "traffic/kubernetes/kube_router.h"

namespace ramp::kube_traffic {

// `env.config` is trafficRouting.apisix: {route: {name, rules?}}. kInvalidArgument for a
// malformed section or a maxTrafficWeight other than 100.
StatusOr<std::unique_ptr<Router>> NewApisixRouter(Env env);

// Sets the canary and stable weights of `rules` in `apisix_route` (an ApisixRoute as read):
// answers whether anything changed; kFailedPrecondition naming what is missing (pure).
StatusOr<bool> SetApisixWeights(nlohmann::json& apisix_route, const std::vector<std::string>& rules,
                                const std::string& canary, const std::string& stable,
                                int32_t weight);

// The match.exprs of a header route (pure).
nlohmann::json ApisixHeaderExprs(const HeaderRoute& route);

// The spec of the header route's ApisixRoute, cloned from the base route `base` as read
// (pure; kFailedPrecondition as SetApisixWeights).
StatusOr<nlohmann::json> ApisixHeaderRouteSpec(const nlohmann::json& base,
                                               const std::vector<std::string>& rules,
                                               const std::string& canary, const std::string& stable,
                                               const HeaderRoute& route);

}  // namespace ramp::kube_traffic
