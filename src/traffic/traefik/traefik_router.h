// The Traefik router: the weighted TraefikService (group --traefik-api-group, default
// traefik.io; version --traefik-api-version, default v1alpha1) named
// trafficRouting.traefik.weightedTraefikServiceName. It must exist and list both Services; the
// router rewrites two weights and nothing else (Argo's traefik.go, Reconciler.SetWeight):
//
//   spec.weighted.services[name == canary].weight = w
//   spec.weighted.services[name == stable].weight = 100 − w
//
// (the first entry of each name; Argo ignores experiment destinations here, and so does ramp).
// A missing TraefikService, a missing spec.weighted.services or a missing entry for either
// Service is kFailedPrecondition, as Argo refuses them. No header or mirror routes
// (kUnimplemented). VerifyWeight reads the TraefikService back (Argo's answers "not
// supported"; ramp can tell, so it does).
//
// Thread-safety: as kube_router.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "traffic/kubernetes/kube_router.h"

namespace ramp::kube_traffic {

// `env.config` is trafficRouting.traefik: {weightedTraefikServiceName}. kInvalidArgument for a
// malformed section, a missing name or a maxTrafficWeight other than 100.
StatusOr<std::unique_ptr<Router>> NewTraefikRouter(Env env);

// Sets the two weights in `traefik_service` (a TraefikService as read) for canary weight
// `weight`: answers whether anything changed, kFailedPrecondition when an entry is missing
// (pure; for tests and the router).
StatusOr<bool> SetTraefikWeights(nlohmann::json& traefik_service, const std::string& canary,
                                 const std::string& stable, int32_t weight);

}  // namespace ramp::kube_traffic
