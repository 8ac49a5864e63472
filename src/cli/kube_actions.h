// The CLI's rollout verbs in Kubernetes mode: they act on Argo Rollout objects in the API server
// by writing exactly the requests `kubectl argo rollouts` writes (reference §2.6), so ramp's CLI
// and Argo's plugin can be used on the same objects, under ramp's controller or Argo's.
//
// Two layers:
//   * pure functions that compute what a verb writes from the objects read (the Rollout, and its
//     ReplicaSets for undo) — KubeActionPlan: the patches in order, what replaces them on a
//     Rollout CRD without the status subresource, and the line printed on success;
//   * KubeCli: the I/O, through ramp's KubeClient, synchronously with a deadline per request.
//
// Which Argo source each plan follows is named at the function (paths under
// pkg/kubectl-argo-rollouts/cmd/ of argoproj/argo-rollouts).
//
// Thread-safety: the pure functions are stateless. A KubeCli belongs to one thread (the CLI's);
// its callbacks run on the HTTP client's and the timers' threads and only fulfil promises.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/kube_client.h"
#include "ramp/clock.h"
#include "ramp/http_client.h"
#include "ramp/status.h"

namespace ramp::net {
class EventLoop;
}  // namespace ramp::net

namespace ramp::cli {

// argoproj.io/v1alpha1 Experiments and core/v1 PodTemplates (kube_client.h lists neither).
const kube::Resource& ExperimentsResource();
const kube::Resource& PodTemplatesResource();

// One PATCH request.
struct KubePatch {
  kube::Resource resource;
  std::string name;
  bool status_subresource = false;  // PATCH …/<name>/status
  kube::PatchType type = kube::PatchType::kMerge;
  nlohmann::json body;
};

// What one verb writes.
struct KubeActionPlan {
  // Sent in order; the first error stops the verb.
  std::vector<KubePatch> patches;
  // When a patch to the status subresource answers 404 — a Rollout CRD without the status
  // subresource (Argo Rollouts before v0.10) — these are sent instead of it and of every patch
  // after it. Empty: no such fallback.
  std::vector<KubePatch> without_status_subresource;
  // Printed on success (without the final newline).
  std::string message;
};

// The deprecated flags of promote.
struct PromoteOptions {
  bool full = false;
  bool skip_current_step = false;  // -c
  bool skip_all_steps = false;     // -a
};

// promote (promote/promote.go PromoteRollout, getPatches). Errors (kInvalidArgument) are Argo's:
// both skip flags; a skip flag on a blue-green rollout or a canary without steps.
StatusOr<KubeActionPlan> PromotePlan(const nlohmann::json& rollout, const PromoteOptions& options);

// abort (abort/abort.go AbortRollout).
KubeActionPlan AbortPlan(std::string_view name);

// retry rollout (retry/retry.go RetryRollout).
KubeActionPlan RetryRolloutPlan(std::string_view name);

// retry experiment (retry/retry.go RetryExperiment).
KubeActionPlan RetryExperimentPlan(std::string_view name);

// pause (pause/pause.go).
KubeActionPlan PausePlan(std::string_view name);

// resume: ramp's verb (Argo's plugin has none; its promote unpauses with this same spec patch).
// kFailedPrecondition "rollout is not manually paused" when spec.paused is not true, as ramp's
// daemon answers.
StatusOr<KubeActionPlan> ResumePlan(const nlohmann::json& rollout);

// restart [--in D] (restart/restart.go RestartRollout): restartAt = now + in, RFC 3339 UTC in whole
// seconds. `in_text` is the flag as given ("" = "0s"), echoed in the message.
KubeActionPlan RestartPlan(std::string_view name, Time now, Duration in, std::string_view in_text);

// Go's time.ParseDuration: "300ms", "-1.5h", "2h45m", "0"; units ns, us (µs), ms, s, m, h.
StatusOr<Duration> ParseGoDuration(std::string_view text);

// The label selector of the Rollout's spec.selector in the API's text form (metav1
// LabelSelectorAsSelector(…).String()): "app=web,tier in (a,b)". kInvalidArgument for an
// unknown operator.
StatusOr<std::string> SelectorText(const nlohmann::json& label_selector);

// undo [--to-revision N] (undo/undo.go RunUndoRollout). `replicasets` are those listed with the
// Rollout's selector; only those it controls count. The target is the second newest revision
// (rollout.argoproj.io/revision) or revision N; when its template already matches the Rollout's
// (ignoring rollouts-pod-template-hash, unset fields of the Rollout's ignored as Argo's
// DeepDerivative does) the plan has no patches and the message says so. Otherwise one JSON
// patch replacing /spec/template of the Rollout, or of its workloadRef Deployment, ReplicaSet or
// PodTemplate. Errors are Argo's messages.
StatusOr<KubeActionPlan> UndoPlan(const nlohmann::json& rollout,
                                  const std::vector<nlohmann::json>& replicasets,
                                  int64_t to_revision);

// Argo's equalIgnoreHash: `rollout_template` (spec.template of the Rollout) is a derivative of
// `rs_template` once both lose the rollouts-pod-template-hash label.
bool TemplateMatchesIgnoringHash(const nlohmann::json& rollout_template,
                                 const nlohmann::json& rs_template);

// set image (set/set_image.go newRolloutSetImage): sets the image of every init, regular and
// ephemeral container of spec.template named `container` (all for "*") in `object` (a Rollout or
// a Deployment). kInvalidArgument `unable to find container named "<container>"`.
Status SetImageInObject(nlohmann::json& object, std::string_view container, std::string_view image);

// Where set image writes: the Rollout itself, or the Deployment its spec.workloadRef names (as
// Argo, whatever the kind). kInvalidArgument when workloadRef.name is not a string.
StatusOr<std::pair<kube::Resource, std::string>> SetImageTarget(const nlohmann::json& rollout);

// The `get rollout` view (cli/rollout_view.h) of a Rollout from its ReplicaSets, Pods and
// AnalysisRuns as listed from the API server; only objects the Rollout (or its ReplicaSets)
// control are used.
nlohmann::json RolloutViewFromCluster(const nlohmann::json& rollout,
                                      const std::vector<nlohmann::json>& replicasets,
                                      const std::vector<nlohmann::json>& pods,
                                      const std::vector<nlohmann::json>& analysis_runs);

// --- I/O ----------------------------------------------------------------------------------------

struct KubeCliOptions {
  std::string kubeconfig;  // --kubeconfig ("" = KUBECONFIG, in-cluster, ~/.kube/config)
  std::string context;     // --context ("" = current-context)
  // How long each request may take before the verb gives up.
  Duration deadline = std::chrono::seconds(30);
};

// The Kubernetes side of the CLI: a KubeClient with its own HTTP client, timers and clock.
class KubeCli {
 public:
  // Resolves the kubeconfig and builds the client. Errors name the kubeconfig problem.
  static StatusOr<std::unique_ptr<KubeCli>> Connect(const KubeCliOptions& options);
  ~KubeCli();
  KubeCli(const KubeCli&) = delete;
  KubeCli& operator=(const KubeCli&) = delete;

  // The namespace of the kubeconfig context ("default" when it names none).
  const std::string& DefaultNamespace() const;

  StatusOr<nlohmann::json> Get(const kube::Resource& r, std::string_view ns, std::string_view name);
  StatusOr<std::vector<nlohmann::json>> List(const kube::Resource& r, std::string_view ns,
                                             const kube::ListOptions& options);
  StatusOr<nlohmann::json> Patch(const KubePatch& patch, std::string_view ns);
  StatusOr<nlohmann::json> Update(const kube::Resource& r, std::string_view ns,
                                  nlohmann::json object);

  // Sends a plan's patches (with its fallback for CRDs without the status subresource).
  Status Run(const KubeActionPlan& plan, std::string_view ns);

  // The verbs: each reads what it needs, writes as Argo's plugin does and returns the line to
  // print.
  StatusOr<std::string> Promote(std::string_view ns, std::string_view name,
                                const PromoteOptions& options);
  StatusOr<std::string> Abort(std::string_view ns, std::string_view name);
  StatusOr<std::string> RetryRollout(std::string_view ns, std::string_view name);
  StatusOr<std::string> RetryExperiment(std::string_view ns, std::string_view name);
  StatusOr<std::string> Pause(std::string_view ns, std::string_view name);
  StatusOr<std::string> Resume(std::string_view ns, std::string_view name);
  StatusOr<std::string> Restart(std::string_view ns, std::string_view name, Duration in,
                                std::string_view in_text);
  StatusOr<std::string> Undo(std::string_view ns, std::string_view name, int64_t to_revision);
  StatusOr<std::string> SetImage(std::string_view ns, std::string_view name,
                                 std::string_view container, std::string_view image);
  // The `get rollout` view of one Rollout.
  StatusOr<nlohmann::json> RolloutView(std::string_view ns, std::string_view name);
  // `list rollouts` items ({"rollout": …} each); `ns` "" = every namespace.
  StatusOr<nlohmann::json> RolloutList(std::string_view ns);

 private:
  KubeCli() = default;
  template <typename T, typename Start>
  StatusOr<T> Wait(const std::string& what, Start start);

  Duration deadline_ = std::chrono::seconds(30);
  const Clock* clock_ = nullptr;
  // Destroyed in reverse order: the HTTP client first (in-flight requests complete as
  // cancelled while the KubeClient still exists), then the timers, then the client.
  std::unique_ptr<Clock> clock_owner_;
  std::unique_ptr<kube::KubeClient> client_;
  std::unique_ptr<net::EventLoop> loop_;
  std::unique_ptr<HttpClient> http_;
};

}  // namespace ramp::cli
