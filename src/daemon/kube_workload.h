// KubeWorkloads: Kubernetes mode's side of a Rollout's spec.workloadRef, Argo Rollouts' way to
// take over a Deployment. Such a Rollout has no spec.template (and often no spec.selector): it
// names `workloadRef: {apiVersion: apps/v1, kind: Deployment, name, scaleDown}` and Argo reads
// the template and selector from that Deployment (rollout/templateref.go), then scales the
// Deployment down as its scaleDown mode says (rollout/sync.go, rollout/replicaset.go).
//
//   * ResolveWorkloadRef (pure): the document the daemon applies — the Rollout with the
//     Deployment's spec.template, its spec.selector when the Rollout has none, and the
//     rollout.argoproj.io/workload-generation annotation set to the Deployment's generation.
//   * DeploymentScaleDownPatch (pure): the merge patch scaling the Deployment for scaleDown
//     `onsuccess` / `progressively`, or nullopt.
//   * KubeWorkloads: an informer on apps/v1 Deployments that resolves Rollouts from its cache,
//     remembers which Rollouts reference which Deployment, calls back with them when their
//     Deployment is added, deleted or gets a new generation (template edits, scaling), and sends
//     the scale-down patch when a Rollout's status (or its Deployment) changes.
//
// Only Deployments are watched; Argo also accepts an apps/v1 ReplicaSet or a v1 PodTemplate
// (ResolveWorkloadRef resolves those too, KubeWorkloads::Resolve answers kUnimplemented).
//
// Thread-safety: the free functions are pure. KubeWorkloads' methods may be called from any
// thread; `on_workload_change` calls are serialized, run on the HTTP client's or the timers'
// thread, must not block and may call Resolve. Destroying a KubeWorkloads stops the informer
// (waiting for a running callback) — never destroy it from inside one — and no callback runs
// after the destructor returns.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/kube_client.h"
#include "ramp/clock.h"
#include "ramp/common.h"
#include "ramp/status.h"

namespace ramp::daemon {

// The Rollout `rollout` (as stored in the API server: no template of its own) with its template
// resolved from `workload`, the object its spec.workloadRef names, as Argo's templateref does:
//   * spec.template = the workload's spec.template (Deployment, ReplicaSet) or template
//     (PodTemplate), copied as is;
//   * spec.selector = the workload's spec.selector when the Rollout has none (a Rollout's own
//     selector is kept, and must select the template's labels);
//   * metadata.annotations["rollout.argoproj.io/workload-generation"] = the workload's
//     metadata.generation ("0" when absent).
// A Rollout without workloadRef comes back unchanged but for that annotation, which is removed
// (`workload` is not read). status is passed through. Errors name the Rollout and the workload:
//   kInvalidArgument — not a Rollout object; workloadRef not an object; a kind Argo does not
//     support ("workload of type apps/StatefulSet is not supported"); a template of the Rollout's
//     own next to the workloadRef (Argo: labels or annotations in spec.template.metadata); a
//     workload that is not the one named (kind, name, namespace); no selector anywhere; a
//     selector that does not match the template's labels;
//   kFailedPrecondition — the workload is missing (`workload` null) or has no template.
StatusOr<nlohmann::json> ResolveWorkloadRef(const nlohmann::json& rollout,
                                            const nlohmann::json& workload);

// The merge patch ({"spec":{"replicas":N}}) that Argo's controller would apply to `deployment`
// for the Rollout `rollout` (spec and status, as in the API server), or nullopt when it would
// leave the Deployment alone. `revision` is the rollout.argoproj.io/revision of the Rollout's
// current ReplicaSet (the one of status.currentPodHash); 0 when unknown. Argo scales only while
// that revision is 1 — the migration itself — and only a Deployment named by the workloadRef:
//   never (or unset)  nothing;
//   onsuccess         0 once status.phase is Healthy;
//   progressively     0 once Healthy; before, spec.replicas (default 1) − status.readyReplicas
//                     (at least 0) while readyReplicas > 0 or the Rollout is aborted (its new
//                     ReplicaSet is being scaled down: the Deployment takes the pods back).
// nullopt as well when the Deployment already has that spec.replicas (default 1).
std::optional<nlohmann::json> DeploymentScaleDownPatch(const nlohmann::json& rollout,
                                                       int64_t revision,
                                                       const nlohmann::json& deployment);

struct KubeWorkloadsOptions {
  kube::KubeClient* client = nullptr;  // required; must outlive the KubeWorkloads
  Timers* timers = nullptr;            // required (the informer); must outlive it
  const Clock* clock = nullptr;        // required
  std::string namespace_;              // "" = every namespace
  // The Rollouts (as last passed to Resolve or RolloutChanged, without status) whose workloadRef
  // names a Deployment that was added, deleted or changed generation: resolve and apply them
  // again. Optional.
  std::function<void(const std::vector<nlohmann::json>& rollouts)> on_workload_change;
  // Progress and failures of scale-down patches, by Rollout ("namespace/name"). Optional.
  std::function<void(std::string_view rollout, std::string_view line)> log;
};

class KubeWorkloads {
 public:
  // Starts the Deployment informer. kInvalidArgument when client, timers or clock is missing.
  static StatusOr<std::unique_ptr<KubeWorkloads>> Start(KubeWorkloadsOptions options);
  virtual ~KubeWorkloads() = default;

  // True once the Deployments were listed.
  virtual bool Synced() const = 0;

  // ResolveWorkloadRef against the cached Deployment, for a Rollout object from the API server
  // (its status, if any, is ignored), and remembers which Deployment it references (so a later
  // change of that Deployment is reported through on_workload_change, even when this call
  // failed). Errors beyond ResolveWorkloadRef's: kUnavailable while the Deployments are not
  // listed yet (on_workload_change follows when the list brings the Deployment),
  // kFailedPrecondition when the Deployment does not exist (on_workload_change follows when it is
  // created), kUnimplemented for a ReplicaSet or PodTemplate reference.
  virtual StatusOr<nlohmann::json> Resolve(const nlohmann::json& rollout) = 0;

  // A Rollout object from the API server, status included, was added or changed: remembers it
  // and, for scaleDown onsuccess/progressively, patches its Deployment as
  // DeploymentScaleDownPatch says (reading the revision from the ReplicaSet
  // <rollout>-<status.currentPodHash>). One patch at a time per Rollout; the latest status wins.
  // The same is re-evaluated whenever the Deployment changes (someone scaled it back up).
  virtual void RolloutChanged(const nlohmann::json& rollout) = 0;

  // The Rollout is gone: forgets it.
  virtual void RolloutDeleted(const ObjectRef& rollout) = 0;
};

}  // namespace ramp::daemon
