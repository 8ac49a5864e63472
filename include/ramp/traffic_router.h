// TrafficRouter: who shifts traffic between the revisions of one Rollout. It sets the canary
// weight, header and mirror routes, points the named service roles (stable/canary for a canary,
// active/preview for blue-green) at revisions, and reads back what it applied.
//
// This is Argo's TrafficRoutingReconciler (reference/argo-rollouts.md §6): SetWeight,
// SetHeaderRoute, SetMirrorRoute, VerifyWeight, RemoveManagedRoutes, Type, with UpdateHash and
// the Service selector switch folded into SwitchService. Implementations (registered by name from
// main, built per Rollout from a RouterContext): "ramp/proxy" (built-in), "ramp/haproxy",
// "ramp/nginx", "sim", and on Kubernetes "nginx", "istio", "smi", "alb", ….
//
// Contract:
//   * Every operation is asynchronous (see ramp/common.h). An operation's `done` reports that the
//     change was applied (or handed to a system that applies it); VerifyWeight says whether it is
//     in effect.
//   * Operations are idempotent: setting what is already set succeeds and changes nothing.
//   * What a router cannot do fails with StatusCode::kUnimplemented (e.g. "ramp/nginx: mirror
//     routes are not supported"); VerifyWeight instead answers kNotSupported.
//   * kInvalidArgument for a request the router rejects (weight out of range, bad regex),
//     kUnavailable when the data plane cannot be reached (the engine retries), kFailedPrecondition
//     when the objects it manages are missing or owned by someone else.
//   * Weights are in 0..RouterContext::max_weight; the stable backend gets
//     max_weight − weight − Σ additional weights.
//
// Thread-safety: a router instance belongs to one Rollout and is called from that rollout's queue
// only, one operation at a time (the next call may come before the previous `done` ran; a router
// applies calls in the order received). Different instances may run concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ramp/common.h"
#include "ramp/status.h"

namespace ramp {

// Everything a router is built from, per Rollout (the factory argument).
struct RouterContext {
  ObjectRef rollout;
  // The service names of the strategy: they name the router's backend sets (proxy clusters,
  // HAProxy backends, NGINX upstreams, Kubernetes Services). Unused ones are empty.
  std::string stable_service;
  std::string canary_service;
  std::string active_service;
  std::string preview_service;
  // trafficRouting.maxTrafficWeight (default 100).
  int32_t max_weight = 100;
  // trafficRouting.managedRoutes, in precedence order (header and mirror route names).
  std::vector<std::string> managed_routes;
  // The router's own configuration as JSON text: the value of trafficRouting.plugins["ramp/…"]
  // or of Argo's section for the router (trafficRouting.nginx, .istio, …). "{}" when absent.
  std::string config_json = "{}";
};

// Argo's StringMatch: exactly one of exact, prefix, regex (RE2 syntax).
struct StringMatch {
  enum class Kind { kExact, kPrefix, kRegex };
  Kind kind = Kind::kExact;
  std::string value;

  friend bool operator==(const StringMatch&, const StringMatch&) = default;
};

// "exact", "prefix" or "regex".
std::string_view StringMatchKindName(StringMatch::Kind kind);

// A traffic destination besides canary and stable (Argo's WeightDestination; experiments).
struct WeightDestination {
  std::string service_name;
  std::string pod_template_hash;
  int32_t weight = 0;

  friend bool operator==(const WeightDestination&, const WeightDestination&) = default;
};

// One header condition of a header route (Argo's HeaderRoutingMatch).
struct HeaderMatch {
  std::string header_name;
  StringMatch header_value;

  friend bool operator==(const HeaderMatch&, const HeaderMatch&) = default;
};

// A managed route sending 100% of matching requests to the canary (setHeaderRoute step). A route
// with no matches removes the route of that name. Matches are ORed (a request that satisfies any
// one is routed), as Argo's Istio router writes each as its own match block.
struct HeaderRoute {
  std::string name;
  std::vector<HeaderMatch> matches;

  friend bool operator==(const HeaderRoute&, const HeaderRoute&) = default;
};

// One request condition of a mirror route (Argo's RouteMatch); unset parts match anything, and
// the set parts are ANDed.
struct RouteMatch {
  std::optional<StringMatch> method;
  std::optional<StringMatch> path;
  std::map<std::string, StringMatch> headers;

  friend bool operator==(const RouteMatch&, const RouteMatch&) = default;
};

// A managed route copying `percentage` of matching requests to the canary, responses discarded
// (setMirrorRoute step). Matches are ORed. A route with no matches removes the route of that name.
struct MirrorRoute {
  std::string name;
  std::vector<RouteMatch> matches;
  std::optional<int32_t> percentage;  // 0..100; unset = 100

  friend bool operator==(const MirrorRoute&, const MirrorRoute&) = default;
};

// The backend sets a Rollout names; SwitchService points one at a revision.
enum class ServiceRole { kStable, kCanary, kActive, kPreview };

// "stable", "canary", "active", "preview".
std::string_view ServiceRoleName(ServiceRole role);

// Whether a weight is in effect (Argo's VerifyWeight: true, false, or nil for "not implemented").
enum class WeightVerification { kVerified, kNotVerified, kNotSupported };

// "Verified", "NotVerified", "NotSupported".
std::string_view WeightVerificationName(WeightVerification v);

struct WeightCheck {
  WeightVerification verification = WeightVerification::kNotSupported;
  // The canary weight the data plane reports, when it can say.
  std::optional<int32_t> observed_weight;
  std::string message;  // what differs, when not verified

  friend bool operator==(const WeightCheck&, const WeightCheck&) = default;
};

class TrafficRouter {
 public:
  virtual ~TrafficRouter() = default;

  // The registered name: "ramp/proxy", "ramp/haproxy", "ramp/nginx", "istio", "sim", ….
  virtual std::string_view Type() const = 0;

  // Sends `weight` (0..max_weight) to the canary, each additional destination its own weight,
  // and the rest to stable.
  virtual void SetWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                         StatusCallback done) = 0;

  // Creates, replaces or (with no matches) removes the header route named `route.name`.
  virtual void SetHeaderRoute(const HeaderRoute& route, StatusCallback done) = 0;

  // Creates, replaces or (with no matches) removes the mirror route named `route.name`.
  virtual void SetMirrorRoute(const MirrorRoute& route, StatusCallback done) = 0;

  // Removes every header and mirror route this rollout manages.
  virtual void RemoveManagedRoutes(StatusCallback done) = 0;

  // Points the backend set of `role` at the instances of revision `hash`: blue-green's switch of
  // the active and preview services, and a canary's stable/canary service selectors (Argo's
  // Service patch and UpdateHash). An empty hash leaves the backend set without instances.
  virtual void SwitchService(ServiceRole role, std::string_view hash, StatusCallback done) = 0;

  // Off Kubernetes the runtime is the endpoints controller: it tells the router which instances
  // serve revision `hash` ("host:port" each, ready ones only), every time that list changes (an
  // empty list when none is left). The backend set of each role that SwitchService points at
  // `hash` is made of these addresses. Routers whose backend sets select instances themselves
  // (Kubernetes Services) accept the call and ignore it.
  virtual void SetRevisionEndpoints(std::string_view hash,
                                    const std::vector<std::string>& addresses,
                                    StatusCallback done) = 0;

  // Reads back the weights in effect and compares them with the expected ones. Routers that
  // cannot read back answer kNotSupported (not an error).
  virtual void VerifyWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                            StatusOrCallback<WeightCheck> done) = 0;
};

}  // namespace ramp
