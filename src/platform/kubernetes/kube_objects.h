// Kubernetes objects of the "kubernetes" platform, as Argo Rollouts writes them: the ReplicaSet of
// each revision of a Rollout, the merge patches that scale it, time its scale-down and renumber it,
// the Service selector switch, and the way back from ReplicaSets and Pods to RevisionStatus.
// Pure values in, values out: no I/O and no clock (times come in as arguments), so the platform
// (which talks to the API server) and the golden tests (testdata/) share one definition of the
// wire format.
//
// What follows Argo (argoproj/argo-rollouts v1.9; reference/argo-rollouts.md §0):
//   * BuildReplicaSet: rollout/sync.go createDesiredReplicaSet, utils/annotations
//     SetNewReplicaSetAnnotations, utils/replicaset GenerateReplicaSetAffinity and
//     SyncReplicaSetEphemeralPodMetadata.
//   * ScalePatch: rollout/sync.go scaleReplicaSet; SetScaleDownDeadlinePatch /
//     ClearScaleDownDeadlinePatch: rollout/replicaset.go addScaleDownDelay / removeScaleDownDelay
//     (Argo sends JSON patches "add"/"remove" there; the merge patches here have the same effect).
//   * RevisionUpdatePatch: rollout/sync.go syncReplicaSetRevision.
//   * EphemeralMetadataPatch: rollout/ephemeralmetadata.go syncEphemeralMetadata.
//   * ServiceSelectorPatch(For): rollout/service.go switchServiceSelector; un-pointing:
//     service/service.go generateRemovePatch.
//   * ReplicaSetMatchesTemplate / TemplatesMatchForAdoption: utils/replicaset FindNewReplicaSet's
//     last resort and PodTemplateEqualIgnoreHash.
// Argo replaces whole ReplicaSets with Update where these are merge patches (RFC 7386,
// Content-Type application/merge-patch+json); the resulting objects are the same.
//
// Not done here: Argo creates a ReplicaSet with spec.replicas 0 and scales it up in the same
// reconcile; BuildReplicaSet writes the wanted count at once (pass 0 to get Argo's create body).
// RevisionUpdatePatch does not refresh an injected anti-affinity rule whose stable hash changed
// (Argo's IfInjectedAntiAffinityRuleNeedsUpdate).
//
// Pod-template hashes. ramp's revision identity is src/engine PodTemplateHash: FNV-32a over
// nlohmann's dump of the template JSON as written in the Rollout (keys sorted, no Go defaults),
// plus the decimal text of collisionCount. Argo's (utils/hash/hash.go ComputePodTemplateHash)
// decodes the template into a Go corev1.PodTemplateSpec, hashes Go's json.Marshal of it — fields
// in Go struct order, zero-valued non-omitempty fields written (every container gets
// "resources":{}), HTML characters escaped — and then the collision count as 8 bytes (uint32
// little-endian + 4 zero bytes). Both write the sum's decimal text in SafeEncodeString's
// alphabet. So the two hashes differ for every real template. Worked example (reproduce with
// testdata/argo_pod_template_hash.py against k8s.io/api and apimachinery v0.34.5 types.go):
//
//   {"metadata":{"labels":{"app":"demo"}},"spec":{"containers":[{"name":"demo",
//    "image":"ghcr.io/example/demo:2.0","ports":[{"name":"http","containerPort":8080}]}]}}
//
//   Argo v1.9 hashes {"metadata":{"labels":{"app":"demo"}},"spec":{"containers":[{"name":"demo",
//     "image":"ghcr.io/example/demo:2.0","ports":[{"name":"http","containerPort":8080}],
//     "resources":{}}]}}                                             -> "5974d4668d"
//   Argo ≤ v1.8 (apimachinery < v0.34: no omitzero on creationTimestamp) hashes the same with
//     "metadata":{"creationTimestamp":null,…}                        -> "77cc4b55d8"
//   ramp hashes {"metadata":{"labels":{"app":"demo"}},"spec":{"containers":[{"image":…,
//     "name":"demo","ports":[{"containerPort":8080,"name":"http"}]}]}} -> "bb66fd4dc"
//
// Argo itself changed hashes between v1.8 and v1.9 and therefore finds its current ReplicaSet by
// template equality when no hash matches; the kubernetes platform does the same with
// ReplicaSetMatchesTemplate, so a ReplicaSet Argo created under another hash is adopted (kept,
// renumbered with RevisionUpdatePatch) instead of rolled again.
//
// Errors: builders return kInvalidArgument naming the object and the field ("rollout shop/demo:
// metadata.uid: required"). Nothing throws.
//
// Thread-safety: pure functions over values; call from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramp/clock.h"
#include "ramp/platform.h"
#include "ramp/status.h"

namespace ramp::platform::kube_objects {

// Label and annotation keys Argo writes (pkg/apis/rollouts/v1alpha1/types.go,
// utils/annotations/annotations.go, utils/replicaset/canary.go).
inline constexpr char kPodTemplateHashLabel[] = "rollouts-pod-template-hash";
inline constexpr char kRevisionAnnotation[] = "rollout.argoproj.io/revision";
inline constexpr char kRevisionHistoryAnnotation[] = "rollout.argoproj.io/revision-history";
inline constexpr char kDesiredReplicasAnnotation[] = "rollout.argoproj.io/desired-replicas";
inline constexpr char kEphemeralMetadataAnnotation[] = "rollout.argoproj.io/ephemeral-metadata";
inline constexpr char kScaleDownDeadlineAnnotation[] = "scale-down-deadline";
inline constexpr char kManagedByRolloutsAnnotation[] =
    "argo-rollouts.argoproj.io/managed-by-rollouts";

// "<rollout>-<hash>".
std::string ReplicaSetName(std::string_view rollout_name, std::string_view hash);

// The Rollout's spec.replicas, 1 when unset (Argo's GetReplicasOrDefault); kInvalidArgument when
// it is not a non-negative integer.
StatusOr<int32_t> RolloutReplicas(const nlohmann::json& rollout);

// The ReplicaSet of `revision`, as Argo creates it for `rollout` (the Rollout object as the API
// server returns it): name <rollout>-<hash>, namespace; labels = template labels + the hash label;
// annotations = the Rollout's annotations except kubectl's last-applied-configuration,
// rollout.argoproj.io/{revision,revision-history,desired-replicas} and
// notified.notifications.argoproj.io, then revision = revision.revision and desired-replicas =
// the Rollout's spec.replicas; ownerReferences = [the Rollout as controller]; spec.replicas =
// `replicas`; spec.minReadySeconds (left out when 0, as Go's omitempty does); spec.selector =
// the Rollout's selector with the hash label added to matchLabels (matchExpressions kept);
// spec.template = revision.pod_template_json with the hash label, and:
//   * revision.labels/annotations (canary/stable/preview/active metadata) injected into the
//     template's metadata, recorded in the rollout.argoproj.io/ephemeral-metadata annotation as
//     Go writes it ({"labels":{…},"annotations":{…}}, sorted keys) — only when the injection
//     changed something, as Argo does;
//   * Argo's anti-affinity rule (spec.strategy.canary|blueGreen.antiAffinity) appended to
//     spec.affinity.podAntiAffinity when the Rollout's status.stableRS is set and is not
//     revision.hash: pods avoid nodes running the stable revision (hostname topology).
// Server-set fields (uid, resourceVersion, creationTimestamp, status) are not written.
// kInvalidArgument when: the template is not JSON or not an object (or its metadata, labels or
// annotations are not objects of strings); the Rollout lacks metadata.name, metadata.namespace,
// metadata.uid or a non-empty spec.selector, or its name differs from revision.rollout; a
// selector matchLabels entry is missing from the template's labels (the API server would refuse
// the ReplicaSet); the hash is not a label value; revision.revision < 1; replicas < 0; the name
// is longer than 253 characters.
StatusOr<nlohmann::json> BuildReplicaSet(const RevisionSpec& revision, int32_t replicas,
                                         const nlohmann::json& rollout);

// Merge patch scaling a ReplicaSet to `replicas`: spec.replicas and desired-replicas =
// `rollout_replicas` (the Rollout's spec.replicas at scale time). Scaling to 0 also removes
// scale-down-deadline, except while an aborted rollout delays its scale-down
// (`keep_scale_down_deadline`, Argo's shouldDelayScaleDownOnAbort).
nlohmann::json ScalePatch(int32_t replicas, int32_t rollout_replicas,
                          bool keep_scale_down_deadline = false);

// scale-down-deadline as Argo writes it: RFC 3339 in UTC at whole seconds (Go's
// t.UTC().Format(time.RFC3339), fraction dropped), "2026-03-01T12:00:30Z".
std::string FormatScaleDownDeadline(Time deadline);
// Merge patch setting scale-down-deadline to `deadline` (now + scaleDownDelaySeconds).
nlohmann::json SetScaleDownDeadlinePatch(Time deadline);
// Merge patch removing scale-down-deadline.
nlohmann::json ClearScaleDownDeadlinePatch();
// The ReplicaSet's scale-down-deadline; nullopt when absent or not RFC 3339.
std::optional<Time> ScaleDownDeadline(const nlohmann::json& rs);

// Merge patch making an existing ReplicaSet the new revision `new_revision` (max revision of the
// others + 1), as Argo's syncReplicaSetRevision does when it re-uses one (rollback, adoption):
// copies the Rollout's annotations (same exclusions as BuildReplicaSet) that differ, raises
// rollout.argoproj.io/revision when lower (never lowers it), appends the previous number to
// rollout.argoproj.io/revision-history ("1,3") whenever it changed any annotation of a ReplicaSet
// that had a revision — also when only a copied Rollout annotation changed, an Argo quirk kept
// for compatibility — and sets spec.minReadySeconds when it differs from the Rollout's. An empty
// object when nothing changes. kInvalidArgument when the ReplicaSet's revision annotation is not
// an integer or the Rollout's minReadySeconds is not an integer.
StatusOr<nlohmann::json> RevisionUpdatePatch(const nlohmann::json& rs, int64_t new_revision,
                                             const nlohmann::json& rollout);

// Merge patch changing the ephemeral metadata of a ReplicaSet's pod template to `labels` and
// `annotations` (both empty: remove what was injected): adds/overwrites those keys, removes keys
// injected before (per the ephemeral-metadata annotation) that are no longer wanted, and
// rewrites or removes the annotation. An empty object when nothing changes. Existing pods are
// not touched (the platform relabels them, as Argo does).
nlohmann::json EphemeralMetadataPatch(const nlohmann::json& rs,
                                      const std::map<std::string, std::string>& labels,
                                      const std::map<std::string, std::string>& annotations);

// What the platform reports for one ReplicaSet and its pods: hash from the hash label, revision
// from the revision annotation (0 when absent or not a number), desired_replicas from
// spec.replicas (1 when unset, the API server's default), one instance per pod (InstanceFromPod)
// in the order given. Pods labelled with another hash, or controlled by another ReplicaSet (when
// both uids are known), are skipped.
RevisionStatus RevisionFromReplicaSet(const nlohmann::json& rs,
                                      const std::vector<nlohmann::json>& pods);

// One pod as an instance: id = metadata.name; address = status.podIP ":" the first container's
// first containerPort (podIP alone without ports, empty without podIP); created_at =
// metadata.creationTimestamp; restarts = Σ status.containerStatuses[].restartCount; state, first
// rule that applies:
//   kTerminating  metadata.deletionTimestamp is set;
//   kFailed       phase Failed or Succeeded (a ReplicaSet's pods never should exit), or a
//                 container or init container waiting in CrashLoopBackOff, ImagePullBackOff,
//                 ErrImagePull, ErrImageNeverPull, InvalidImageName, CreateContainerConfigError,
//                 CreateContainerError, RunContainerError, PreStartHookError or
//                 PostStartHookError — message "container <name>: <reason>: <message>";
//   kPending      phase Pending (or none yet) — message: the unschedulable reason, else the
//                 first waiting reason ("ContainerCreating");
//   kReady        condition Ready=True — ready_since = its lastTransitionTime;
//   kUnready      Ready is not True and was True before: the Ready condition's last transition
//                 (to False) is later than the start of every running container, which only a
//                 True→False transition after start explains; also phase Unknown (node lost);
//   kStarting     otherwise (running, not ready yet).
InstanceStatus InstanceFromPod(const nlohmann::json& pod);

// Merge patch pointing a Service at the pods of `hash`: spec.selector.rollouts-pod-template-hash
// = hash and the managed-by-rollouts annotation = rollout_name (Argo's
// switchSelectorAndAddManagedByPatch; applying it again changes nothing). An empty `hash`
// un-points the Service: both keys removed (Argo's removeSelectorAndManagedByPatch, what its
// service controller writes when no Rollout references the Service any more).
nlohmann::json ServiceSelectorPatch(std::string_view rollout_name, std::string_view hash);

// The patch Argo sends to this `service` exactly: an empty object when the selector already is
// `hash` and the annotation is present; the selector alone when the Service already carries
// managed-by-rollouts; both otherwise. With an empty `hash`: the removal patch when the Service
// has either key, else an empty object. (Argo's service controller, finding only the selector,
// sends a patch that removes the annotation alone and leaves the selector — a bug not kept here:
// un-pointing always removes both.)
nlohmann::json ServiceSelectorPatchFor(const nlohmann::json& service, std::string_view rollout_name,
                                       std::string_view hash);

// The hash a Service selects (spec.selector.rollouts-pod-template-hash); empty when none.
std::string ServiceSelectedHash(const nlohmann::json& service);
// The managed-by-rollouts annotation of a Service; nullopt when absent.
std::optional<std::string> ServiceManagedBy(const nlohmann::json& service);

// True when a ReplicaSet's pod template and a Rollout's spec.template describe the same pods
// (Argo's PodTemplateEqualIgnoreHash, which defaults the desired template and compares
// semantically). Both sides are normalised, then compared as JSON:
//   * the rollouts-pod-template-hash label is dropped (it differs by construction);
//   * metadata.creationTimestamp is dropped (old API servers write null in templates);
//   * spec.serviceAccount is dropped (deprecated; the server copies serviceAccountName there);
//   * fields the API server defaults are filled in when unset (the stored ReplicaSet has them,
//     the Rollout, a custom resource, does not): pod dnsPolicy ClusterFirst, restartPolicy
//     Always, securityContext {}, terminationGracePeriodSeconds 30, schedulerName
//     default-scheduler; per container and init container imagePullPolicy (Always for a
//     ":latest" or untagged image, else IfNotPresent), terminationMessagePath
//     /dev/termination-log, terminationMessagePolicy File, ports[].protocol TCP, probes
//     timeoutSeconds 1 / periodSeconds 10 / successThreshold 1 / failureThreshold 3, httpGet
//     (probes and lifecycle hooks) path "/" and scheme HTTP, env fieldRef apiVersion v1; volumes
//     secret/configMap/downwardAPI/projected defaultMode 420, serviceAccountToken
//     expirationSeconds 3600, downwardAPI fieldRef apiVersion v1, ephemeral volumeClaimTemplate
//     volumeMode Filesystem (k8s pkg/apis/core/v1/defaults.go; enableServiceLinks and the
//     hostNetwork hostPort default apply to Pods only, not to templates);
//   * resource quantities (resources limits/requests of containers and pod, overhead,
//     emptyDir sizeLimit) compare by value, rounded up to milli-units as the server stores them
//     ("0.5" = "500m", "1Gi" = "1024Mi");
//   * null, "", {} and [] are treated as absent (Go decodes them to the zero value it omits).
// Not ignored: explicit false and 0 (a pointer field set to false/0 differs from unset, e.g.
// runAsUser: 0), and everything else, so a template that really differs is never adopted.
// Legacy volume plugins' defaults (rbd, iscsi, azureDisk, scaleIO) are not filled in: such
// templates compare unequal and are rolled again, never wrongly adopted.
bool TemplatesMatchForAdoption(const nlohmann::json& rs_template,
                               const nlohmann::json& rollout_template);

// True when the ReplicaSet `rs` runs `rollout_template`: its template without the ephemeral
// metadata its rollout.argoproj.io/ephemeral-metadata annotation records and without an
// anti-affinity term Argo injected (a podAntiAffinity term selecting rollouts-pod-template-hash
// that the Rollout's template does not have) matches per TemplatesMatchForAdoption. The caller
// also checks that the Rollout controls the ReplicaSet (ownerReferences).
bool ReplicaSetMatchesTemplate(const nlohmann::json& rs, const nlohmann::json& rollout_template);

}  // namespace ramp::platform::kube_objects
