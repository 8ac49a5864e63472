// KubeSync: Kubernetes mode's intake. Users apply Rollouts and AnalysisTemplates with kubectl,
// Argo CD or Helm, and `kubectl argo rollouts` acts on them by patching; KubeSync watches those
// objects in the API server (through the kubernetes StateStore) and turns each change into the
// daemon's own operations:
//   * a new or changed Rollout spec (including spec.paused, spec.restartAt and an undo's
//     spec.template) → Daemon::Apply of the object, as if applied through ramp's API;
//   * a Rollout status patch ramp did not write → the user action it stands for, as `kubectl
//     argo rollouts` writes them (reference §2.6): status.abort true → abort, abort cleared →
//     retry, promoteFull true → promote --full, pauseConditions cleared or currentStepIndex
//     moved on → promote;
//   * a deleted Rollout → Daemon::DeleteRollout; templates likewise;
//   * a Rollout with spec.workloadRef is applied with the template of the Deployment it names
//     (kube_workload.h), again whenever that Deployment changes, and the Deployment is scaled
//     down as its scaleDown says.
// A spec the daemon refuses is logged and recorded as an InvalidSpec warning event on the object.
//
// Thread-safety: Start once; the watches call back on the store's threads, serialized per kind.
// Destroying the sync stops the watches.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "daemon/daemon.h"
#include "kube/kube_client.h"
#include "ramp/clock.h"
#include "ramp/status.h"
#include "store/kubernetes/kube_store.h"

namespace ramp::daemon {

struct KubeSyncOptions {
  Daemon* daemon = nullptr;                // required; must outlive the sync
  store::KubeStateStore* store = nullptr;  // required; must outlive the sync
  // For Rollouts with a workloadRef (kube_workload.h): the Deployments are watched through
  // these. All required; they must outlive the sync.
  kube::KubeClient* client = nullptr;
  Timers* timers = nullptr;
  const Clock* clock = nullptr;
  std::string namespace_;  // "" = every namespace
  std::function<void(std::string_view rollout, std::string_view line)> log;
};

class KubeSync {
 public:
  static StatusOr<std::unique_ptr<KubeSync>> Start(KubeSyncOptions options);
  virtual ~KubeSync() = default;
};

// The user action a status change written by someone else stands for, or nullopt. `before` and
// `after` are Argo RolloutStatus objects.
std::optional<engine::UserAction> ActionFromStatusPatch(const nlohmann::json& before,
                                                        const nlohmann::json& after);

}  // namespace ramp::daemon
