// StateStore: the durable record of everything the controller must not lose across a restart —
// specs (Rollouts, AnalysisTemplates), their statuses, AnalysisRuns, revision history and events.
//
// Objects are JSON documents addressed by (kind, namespace/name), each with a spec part and a
// status part and one version that changes on every write (Kubernetes' resourceVersion, etcd's
// mod revision, a sqlite counter). Writes are compare-and-swap on that version, so two writers
// (a user action and the controller, or two controllers) never silently overwrite each other.
// Events are append-only. Implementations (registered by name from main): "sqlite" (embedded
// default), "kubernetes" (CRs and their status subresource), "etcd" (standalone HA), "memory".
//
// Contract:
//   * Every operation is asynchronous (see ramp/common.h); a write's `done` runs after the write
//     is durable (sqlite: committed; kubernetes/etcd: acknowledged by the server).
//   * Errors: kNotFound (no such object), kAlreadyExists (create of an existing object),
//     kAborted (version conflict: re-read, re-apply, retry), kInvalidArgument (a document that is
//     not a JSON object, an empty name), kUnavailable (store unreachable; retry), kDataLoss
//     (corrupt record).
//   * Watch is optional: kUnimplemented when the store cannot push changes.
//
// Thread-safety: one store serves the whole daemon; all methods may be called concurrently from
// any thread. Writes to one object are linearizable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ramp/clock.h"
#include "ramp/common.h"
#include "ramp/status.h"

namespace ramp {

// Kinds the controller stores. Kinds are open-ended strings so later kinds (Experiment) need no
// interface change.
inline constexpr std::string_view kKindRollout = "Rollout";
inline constexpr std::string_view kKindAnalysisTemplate = "AnalysisTemplate";
inline constexpr std::string_view kKindClusterAnalysisTemplate = "ClusterAnalysisTemplate";
inline constexpr std::string_view kKindAnalysisRun = "AnalysisRun";
// One revision of a Rollout (Argo keeps these as old ReplicaSets): name "<rollout>-<hash>", spec
// = {hash, revision, template}. Pruned to revisionHistoryLimit by the controller.
inline constexpr std::string_view kKindRevision = "Revision";

// A version no object has: Put with it creates (kAlreadyExists if the object exists).
inline constexpr int64_t kNoVersion = 0;
// Put/PutStatus/Delete with it skip the version check.
inline constexpr int64_t kAnyVersion = -1;

struct StoredObject {
  std::string kind;
  ObjectRef ref;
  std::string spec_json = "{}";    // the object without status (apiVersion, kind, metadata, spec)
  std::string status_json = "{}";  // the status part
  int64_t version = kNoVersion;    // set by the store; > 0 for a stored object
};

// An event recorded on an object (a Kubernetes Event's essentials).
struct StoredEvent {
  std::string kind;  // of the involved object
  ObjectRef ref;
  EventType type = EventType::kNormal;
  std::string reason;  // Argo's reasons: RolloutStepCompleted, TrafficWeightUpdated, …
  std::string message;
  Time time;
  int64_t sequence = 0;  // set by the store: increasing per store
};

// What a Watch reports: the object after the change, or only its key and kind when deleted.
struct StoreChange {
  enum class Type { kPut, kDeleted };
  Type type = Type::kPut;
  StoredObject object;
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // The registered name: "sqlite", "kubernetes", "etcd", "memory".
  virtual std::string_view Type() const = 0;

  // Reads one object.
  virtual void Get(std::string_view kind, const ObjectRef& ref,
                   StatusOrCallback<StoredObject> done) = 0;

  // Reads every object of `kind` in `namespace_` (every namespace when empty), ordered by
  // namespace then name.
  virtual void List(std::string_view kind, std::string_view namespace_,
                    StatusOrCallback<std::vector<StoredObject>> done) = 0;

  // Writes the spec part of `object` (its status part is kept, or "{}" on create) if the stored
  // version equals `expected_version`. kNoVersion: create only (kAlreadyExists if present);
  // kAnyVersion: create or overwrite unconditionally. `object.version` is ignored. Reports the
  // new version.
  virtual void Put(const StoredObject& object, int64_t expected_version,
                   StatusOrCallback<int64_t> done) = 0;

  // Writes only the status part of an existing object, under the same version rule (kNotFound
  // when absent). Reports the new version.
  virtual void PutStatus(std::string_view kind, const ObjectRef& ref, std::string status_json,
                         int64_t expected_version, StatusOrCallback<int64_t> done) = 0;

  // Deletes one object under the same version rule. Deleting an absent object is kNotFound.
  virtual void Delete(std::string_view kind, const ObjectRef& ref, int64_t expected_version,
                      StatusCallback done) = 0;

  // Appends an event (the store assigns `sequence`). Stores may drop old events to bound their
  // size (Kubernetes expires them); they never drop the newest ones.
  virtual void AppendEvent(const StoredEvent& event, StatusCallback done) = 0;

  // The events of one object, oldest first, at most `limit` of the newest (0 = all kept).
  virtual void ListEvents(std::string_view kind, const ObjectRef& ref, size_t limit,
                          StatusOrCallback<std::vector<StoredEvent>> done) = 0;

  // Calls `on_change` for every later change to objects of `kind` (all kinds when empty), in
  // version order per object. kUnimplemented when the store cannot push changes.
  virtual StatusOr<std::unique_ptr<Subscription>> Watch(
      std::string_view kind, std::function<void(const StoreChange&)> on_change) = 0;
};

}  // namespace ramp
