// The SMI router: a TrafficSplit (split.smi-spec.io, --traffic-split-api-version, default
// v1alpha1) named trafficRouting.smi.trafficSplitName (default: the rollout's name), controlled
// by the Rollout. Argo's smi.go: created when absent, its spec rewritten otherwise, refused when
// another object controls it.
//
//   spec.service  = smi.rootService, default the stable Service
//   spec.backends = [{service: canary, weight: w}, {additional…}, {service: stable, weight:
//                    100 − w − Σ additional}]
// v1alpha1 weights are resource quantities (the string "30"); v1alpha2 and v1alpha3 integers.
// No header or mirror routes (kUnimplemented); VerifyWeight reads the TrafficSplit back.
//
// Thread-safety: as kube_router.h.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "traffic/kubernetes/kube_router.h"

namespace ramp::kube_traffic {

// `env.config` is trafficRouting.smi: {rootService?, trafficSplitName?}. kInvalidArgument for
// an unknown API version or a malformed section.
StatusOr<std::unique_ptr<Router>> NewSmiRouter(Env env);

// The TrafficSplit spec Argo writes for `weight` (pure; for tests and the router).
nlohmann::json SmiTrafficSplitSpec(const Env& env, int32_t weight,
                                   const std::vector<WeightDestination>& additional);

}  // namespace ramp::kube_traffic
