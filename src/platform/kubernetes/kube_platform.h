// The "kubernetes" Platform: each revision of a Rollout is a ReplicaSet named
// <rollout>-<pod-template-hash>, created, labelled and annotated as Argo Rollouts creates it
// (kube_objects.h), owned by the Rollout; its Pods are the instances. ramp never creates Pods
// itself: the cluster's ReplicaSet controller does, and the kubelet reports readiness, which
// this platform reads from informer caches of ReplicaSets and Pods (a watch, not polling).
//
// Operations: EnsureRevision creates the ReplicaSet or scales an existing one (an existing one
// owned by another object is kAlreadyExists); ScaleRevision patches spec.replicas and
// rollout.argoproj.io/desired-replicas; RestartInstance deletes one Pod (its ReplicaSet replaces
// it); DeleteRevision deletes the ReplicaSet (its Pods go by garbage collection). Errors from
// the API server arrive as the KubeClient maps them (kUnavailable: retry later).
//
// Thread-safety: as ramp/platform.h — every method from any thread.
#pragma once

#include <memory>
#include <string>

#include "kube/kube_client.h"
#include "ramp/clock.h"
#include "ramp/platform.h"
#include "ramp/status.h"

namespace ramp::platform {

struct KubePlatformOptions {
  kube::KubeClient* client = nullptr;  // required; must outlive the platform
  Timers* timers = nullptr;            // required (informer retries)
  const Clock* clock = nullptr;        // required
  std::string namespace_;              // "" = every namespace
};

// Starts the ReplicaSet and Pod informers; kInvalidArgument for missing options.
StatusOr<std::unique_ptr<Platform>> NewKubePlatform(const KubePlatformOptions& options);

}  // namespace ramp::platform
