// The Kubernetes Service switch: on Kubernetes a Rollout's stable/canary (canary) and
// active/preview (blue-green) Services select the Pods of one revision through the
// `rollouts-pod-template-hash` selector, which this router writes exactly as Argo Rollouts does
// (kube_objects.h ServiceSelectorPatch). It is the whole traffic layer of a rollout without
// trafficRouting (a basic canary's weight is its replica ratio), and the Service part of every
// Kubernetes traffic router.
//
// SwitchService patches the Service of the role (kFailedPrecondition when the Service does not
// exist, or when another Rollout manages it); SetRevisionEndpoints is accepted and ignored (the
// Service selects its Pods itself); weights, header and mirror routes are kUnimplemented (they
// need a traffic router); VerifyWeight answers kNotSupported.
//
// Thread-safety: as ramp/traffic_router.h (one rollout's queue calls one instance).
#pragma once

#include <memory>

#include "kube/kube_client.h"
#include "ramp/status.h"
#include "ramp/traffic_router.h"

namespace ramp::kube_services {

// The registered name of the router for Rollouts without trafficRouting on Kubernetes.
inline constexpr char kServiceRouterName[] = "kubernetes/services";

// `client` must outlive the router.
StatusOr<std::unique_ptr<TrafficRouter>> NewServiceRouter(kube::KubeClient* client,
                                                          const RouterContext& context);

}  // namespace ramp::kube_services
