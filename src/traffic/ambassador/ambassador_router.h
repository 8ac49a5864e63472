// The Ambassador router: for each Mapping named in trafficRouting.ambassador.mappings, a canary
// Mapping "<mapping>-canary" (the base name cut to 246 characters) that Ambassador/Emissary
// sends `w` percent of the base mapping's traffic to. Argo's ambassador.go
// (handleCanaryMapping, buildCanaryMapping):
//
//   API  --ambassador-api-version (default getambassador.io/v2): group getambassador.io →
//        resource mappings, kind Mapping; x.getambassador.io → ambassadormappings,
//        AmbassadorMapping (any other group: mappings, as Argo).
//   w > 0  the canary Mapping is created when absent — metadata is only its name and namespace
//          (no labels, annotations or owner: Argo drops the base's metadata and does not own
//          it), spec = the base mapping's spec with the first occurrence of the stable Service
//          name in spec.service replaced by the canary Service, and spec.weight = w. ramp
//          keeps that whole spec converged from the base on every call (Argo only rewrites the
//          weight after creating it), so an edit of either mapping is followed or set back.
//   w = 0  an existing canary Mapping gets spec.weight 0, and is deleted 5 s later (Argo
//          sleeps 5 s, "for propagation", then deletes it). The delete is scheduled on
//          Env::timers; a SetWeight > 0 before it fires cancels it, and it only deletes a
//          canary Mapping still at weight 0 (with the resourceVersion it read as
//          precondition). A missing canary Mapping at weight 0 is left missing.
// The base mapping must exist and must not set spec.weight (kFailedPrecondition, as Argo), and
// its spec.service must name the stable Service (ramp refuses a canary that would route to the
// same backend). A canary Mapping controlled by another object is refused. No header or mirror
// routes (kUnimplemented). VerifyWeight reads the canary Mappings back (Argo's answers "not
// supported").
//
// Thread-safety: as kube_router.h. The router's state lives in a shared block guarded by its
// mutex: the delayed delete runs on the timers' thread and holds that block, never the router,
// so it still runs (and is safe) after the router is destroyed. Env::client must outlive the
// timers' callbacks.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "traffic/kubernetes/kube_router.h"

namespace ramp::kube_traffic {

// How long after weight 0 the canary Mapping is deleted.
inline constexpr std::chrono::seconds kAmbassadorCanaryDeleteDelay{5};

// `env.config` is trafficRouting.ambassador: {mappings: [names]}. kInvalidArgument for a
// malformed section, a maxTrafficWeight other than 100, or missing timers/clock.
StatusOr<std::unique_ptr<Router>> NewAmbassadorRouter(Env env);

// The name of the canary Mapping of `mapping`: "<mapping cut to 246>-canary".
std::string AmbassadorCanaryName(const std::string& mapping);

// The spec of the canary Mapping for base mapping `base` (as read) at weight `weight` (pure;
// kFailedPrecondition when the base sets a weight or its service does not name `stable`).
StatusOr<nlohmann::json> AmbassadorCanarySpec(const nlohmann::json& base, const std::string& canary,
                                              const std::string& stable, int32_t weight);

}  // namespace ramp::kube_traffic
