// Platform: where versions run. A platform makes a revision of a Rollout (a pod template and its
// hash) exist as N instances, reports those instances and their readiness, scales revisions
// up and down, and deletes them.
//
// Implementations (registered by name from main): "process" (a local supervisor; the template's
// containers[0] command/args/env describe the process, the platform sets PORT per instance),
// "static" (instances that other tooling deploys on any hosts, listed per image in the
// Rollout's ramp.dev/ annotations; it cannot change how many there are), "kubernetes"
// (ReplicaSets named <rollout>-<hash>).
//
// Contract:
//   * Every operation is asynchronous (see ramp/common.h): `done` runs exactly once, perhaps
//     inline. EnsureRevision/ScaleRevision/DeleteRevision are idempotent and return when the
//     request is accepted, not when instances are ready; readiness is observed via
//     ListRevisions (and Watch, where supported). Nothing here waits for instances.
//   * What a platform cannot do fails with StatusCode::kUnimplemented and a message naming the
//     platform and the operation (e.g. static cannot restart an instance; a platform without
//     push notifications returns it from Watch). Static never starts or stops instances: its
//     ScaleRevision records how many ready instances the revision needs (docs/platforms.md).
//   * Other errors: kInvalidArgument for a template the platform cannot run (e.g. no `command`
//     off Kubernetes, with a message saying so), kNotFound for an unknown revision in
//     ScaleRevision, kUnavailable for a platform that cannot be reached (retry later).
//   * Availability is not decided here: the platform reports when each instance became ready and
//     the engine counts it available after minReadySeconds (Argo's availableReplicas).
//
// Thread-safety: one Platform serves every rollout of the daemon; all methods may be called
// concurrently from any thread. Calls for one rollout are issued in order from that rollout's
// queue, and the platform applies them in that order.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ramp/clock.h"
#include "ramp/common.h"
#include "ramp/status.h"

namespace ramp {

// One revision to run: what EnsureRevision needs to create or adopt it.
struct RevisionSpec {
  ObjectRef rollout;
  // The revision's identity: Argo's pod-template hash (FNV-32a over the template's JSON).
  std::string hash;
  // Argo's rollout.argoproj.io/revision number.
  int64_t revision = 0;
  // spec.template of the Rollout (a Kubernetes PodTemplateSpec) as JSON text; each platform reads
  // the fields it honours (process: containers[0] command, args, env, ports, probes).
  std::string pod_template_json;
  // Extra labels/annotations for the instances (canaryMetadata/stableMetadata, Argo's ephemeral
  // metadata); platforms without labels ignore them.
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  // The Rollout's own annotations: the static platform reads its instance list from them.
  std::map<std::string, std::string> rollout_annotations;
  // When the revision may be scaled to zero (scaleDownDelaySeconds, abortScaleDownDelaySeconds):
  // the kubernetes platform writes it as Argo's scale-down-deadline annotation; others ignore it.
  std::optional<Time> scale_down_at;
};

// The state of one instance (a process, a listed host, a pod).
enum class InstanceState {
  kPending,      // asked for, not started (no free port, image being pulled, waiting to schedule)
  kStarting,     // running, not ready yet
  kReady,        // running and passing its readiness check
  kUnready,      // running but failing its readiness check after having been ready
  kTerminating,  // being stopped
  kFailed,       // exited or crash-looping; `message` says why
};

// "Pending", "Starting", "Ready", "Unready", "Terminating", "Failed".
std::string_view InstanceStateName(InstanceState state);

struct InstanceStatus {
  std::string id;       // unique within the platform: "pid:1234", "10.0.0.7:8080", a pod name
  std::string address;  // host:port serving traffic; empty until known
  InstanceState state = InstanceState::kPending;
  // When it last became ready; set only while state == kReady.
  std::optional<Time> ready_since;
  // When the instance was created (a restart compares it with spec.restartAt); nullopt when the
  // platform cannot tell, which counts as "before any restart".
  std::optional<Time> created_at;
  int32_t restarts = 0;
  std::string message;  // why it is not ready / failed; empty when ready

  friend bool operator==(const InstanceStatus&, const InstanceStatus&) = default;
};

// What the platform knows about one revision of one rollout.
struct RevisionStatus {
  std::string hash;
  int64_t revision = 0;
  int32_t desired_replicas = 0;           // the count it was last asked for
  std::vector<InstanceStatus> instances;  // including terminating ones

  // Instances not terminating (Argo's status.replicas contribution).
  int32_t Current() const;
  // Instances in state kReady.
  int32_t Ready() const;
  // Ready instances whose readiness began at or before `now - min_ready` (Argo's available).
  int32_t Available(Time now, Duration min_ready) const;

  friend bool operator==(const RevisionStatus&, const RevisionStatus&) = default;
};

class Platform {
 public:
  virtual ~Platform() = default;

  // The registered name: "process", "static", "kubernetes", "sim".
  virtual std::string_view Type() const = 0;

  // Whether the platform records a revision's scale-down deadline (RevisionSpec::scale_down_at)
  // with the revision, as Argo's scale-down-deadline ReplicaSet annotation: then a deadline
  // that changes without a change of size is sent again (EnsureRevision at the same size).
  // Platforms that keep no such record answer false and are not told.
  virtual bool RecordsScaleDownDeadlines() const { return false; }

  // Makes `revision` exist with `replicas` instances (≥ 0): creates it when absent, else scales
  // it. A revision that exists with another template under the same hash is an error
  // (kAlreadyExists, the hash-collision case).
  virtual void EnsureRevision(const RevisionSpec& revision, int32_t replicas,
                              StatusCallback done) = 0;

  // Scales an existing revision to `replicas` (0 stops every instance but keeps the revision, as
  // Argo keeps a scaled-down ReplicaSet). kNotFound when the revision does not exist.
  virtual void ScaleRevision(const ObjectRef& rollout, std::string_view hash, int32_t replicas,
                             StatusCallback done) = 0;

  // Replaces one instance of the revision with a new one (Argo evicts the pod and its
  // ReplicaSet creates another): `rollout restart`. kNotFound when there is no such instance.
  virtual void RestartInstance(const ObjectRef& rollout, std::string_view hash,
                               std::string_view instance_id, StatusCallback done) = 0;

  // Stops every instance of the revision and forgets it. Deleting an absent revision succeeds.
  virtual void DeleteRevision(const ObjectRef& rollout, std::string_view hash,
                              StatusCallback done) = 0;

  // Reads back every revision of `rollout` the platform knows, with their instances.
  virtual void ListRevisions(const ObjectRef& rollout,
                             StatusOrCallback<std::vector<RevisionStatus>> done) = 0;

  // Calls `on_change(rollout)` whenever an instance of that rollout changes state (so the
  // runtime re-reads with ListRevisions instead of polling). kUnimplemented when the platform
  // cannot push changes.
  virtual StatusOr<std::unique_ptr<Subscription>> Watch(
      std::function<void(const ObjectRef& rollout)> on_change) = 0;
};

}  // namespace ramp
