// The "kubernetes" StateStore: ramp's records live in the API server, where Argo Rollouts keeps
// them, so `kubectl argo rollouts`, Argo CD and ramp read the same objects.
//
//   Rollout                  argoproj.io/v1alpha1 rollouts: the spec is the user's object; the
//                            status subresource gets Argo's RolloutStatus (phase, conditions,
//                            currentStepIndex, canary.weights, …) on every status write.
//   AnalysisRun              argoproj.io/v1alpha1 analysisruns: each run of the rollout's state
//                            is written as an object (spec, then its status subresource).
//   (ramp's engine state)    a ConfigMap <rollout>-ramp-state owned by the Rollout (garbage
//                            collected with it) holding the state codec's JSON — the parts of
//                            the state Argo's status has no field for (revision records, hook
//                            progress, selectors); a restarted or standby controller resumes
//                            from it.
//   AnalysisTemplate,        argoproj.io/v1alpha1 analysistemplates / clusteranalysistemplates.
//   ClusterAnalysisTemplate
//   RolloutWebhooks          ramp.dev/v1alpha1 rolloutwebhooks.
//   events                   core/v1 Events on the involved object.
//
// Versions are the objects' resourceVersions (decimal integers on every real API server). Writes
// with a version are conditional (409 → kAborted); kAnyVersion writes read the object first and
// retry on 409 (status writes race with `kubectl argo rollouts` patches only in that window,
// which the KubeSync re-reads). A spec write that changes nothing sends nothing, so applying
// the cluster's own object back is free. A kind whose resource the server does not serve lists
// as empty (a cluster without ramp's RolloutWebhooks CRD).
//
// Thread-safety: as ramp/state_store.h.
#pragma once

#include <memory>
#include <string>

#include "kube/kube_client.h"
#include "ramp/clock.h"
#include "ramp/state_store.h"

namespace ramp::store {

struct KubeStoreOptions {
  kube::KubeClient* client = nullptr;  // required; must outlive the store
  Timers* timers = nullptr;            // required (watches)
  const Clock* clock = nullptr;        // required
  std::string namespace_;              // "" = every namespace
  // Argo's controller sharding (--instance-id): List and Watch of Rollouts show only those whose
  // label argo-rollouts.argoproj.io/controller-instance-id equals this (empty: only Rollouts
  // without the label), so this controller never acts on another instance's Rollouts.
  std::string instance_id;
};

// The store plus what the Kubernetes sync needs to tell ramp's own writes from other writers'.
class KubeStateStore : public StateStore {
 public:
  // True when the object at `version` with status `status_json` (as Watch reports it) is one
  // ramp wrote through this store: its version came back from a write here, or its status is one
  // of the last statuses sent from here (a watch event can arrive before the write's answer).
  virtual bool WrittenHere(std::string_view kind, const ObjectRef& ref, int64_t version,
                           std::string_view status_json) const = 0;

  // The uid the API server gave the object, as last written or read here; "" when unknown. An
  // AnalysisRun's Jobs are owned by it (the job provider's owner references).
  virtual std::string ClusterUid(std::string_view kind, const ObjectRef& ref) const = 0;
};

// (KubeStateStore::ClusterUid is below.)
StatusOr<std::unique_ptr<KubeStateStore>> NewKubeStateStore(const KubeStoreOptions& options);

// The name of the ConfigMap holding a rollout's engine state.
std::string RampStateConfigMapName(std::string_view rollout);

}  // namespace ramp::store
