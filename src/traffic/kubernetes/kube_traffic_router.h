// "kubernetes/traffic": the TrafficRouter of a Kubernetes-mode canary with trafficRouting. It
// reads Argo's trafficRouting section (the RouterContext's config_json), builds one
// kube_traffic::Router per configured integration — istio, nginx, alb, smi, ambassador, traefik,
// apisix and plugins["argoproj-labs/gatewayAPI"] — and calls each in turn, as Argo's
// reconcileTrafficRouting does, after the Service selector switch (kube_services).
//
// Operations:
//   * SwitchService: patches the role's Service (kube_services::NewServiceRouter), then tells
//     every router the canary and stable hashes (UpdateHash).
//   * SetWeight, RemoveManagedRoutes: every router, in the order of their keys; the first error
//     stops the call.
//   * SetHeaderRoute / SetMirrorRoute: every router that has such routes; kUnimplemented only
//     when none of the configured routers has them.
//   * VerifyWeight: kNotVerified when any router reads back other weights, kVerified when at
//     least one verified and none disagreed, kNotSupported otherwise.
//   * A router object found changed outside ramp and set back is reported as a Warning event
//     `TrafficRoutingReasserted` on the Rollout.
// A trafficRouting naming an integration ramp does not build (appMesh, other plugins) is
// refused at creation with kInvalidArgument naming it.
//
// Thread-safety: as ramp/traffic_router.h (one rollout's queue calls one instance).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "kube/kube_client.h"
#include "ramp/status.h"
#include "ramp/traffic_router.h"
#include "traffic/kubernetes/kube_router.h"

namespace ramp::kube_traffic {

// The registered name.
inline constexpr char kKubeTrafficRouterName[] = "kubernetes/traffic";

// Builds one integration from its Env (Env::config is its section).
using RouterFactory = std::function<StatusOr<std::unique_ptr<Router>>(Env env)>;

// The event reason for an object set back after a change made outside ramp.
inline constexpr char kReassertedReason[] = "TrafficRoutingReasserted";

// Keys of trafficRouting (and "plugins/<name>" for a plugin's section) → factory.
using RouterFactories = std::map<std::string, RouterFactory>;

// The integrations ramp builds: "istio", "nginx", "alb", "smi", "ambassador", "traefik",
// "apisix", "plugins/argoproj-labs/gatewayAPI" (builtin_routers.cc, library
// ramp_traffic_kube_builtin).
const RouterFactories& BuiltinRouters();

struct KubeTrafficOptions {
  kube::KubeClient* client = nullptr;  // required; must outlive the router
  Timers* timers = nullptr;            // required
  const Clock* clock = nullptr;        // required
  ApiVersions versions;
  const RouterFactories* factories = nullptr;  // required: usually &BuiltinRouters()
};

// `context.config_json` is the Rollout's trafficRouting as written.
StatusOr<std::unique_ptr<TrafficRouter>> NewKubeTrafficRouter(const KubeTrafficOptions& options,
                                                              const RouterContext& context);

}  // namespace ramp::kube_traffic
