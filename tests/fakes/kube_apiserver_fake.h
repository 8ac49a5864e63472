// KubeApiServerFake: a test fake — a strict, in-memory Kubernetes API server on loopback for the
// tests of ramp's Kubernetes mode and for wire checks with kubectl. Never used in production.
//
// It speaks the real server's JSON wire protocol (no protobuf) over ramp::net::HttpServer, HTTP or
// HTTPS, optionally requiring a bearer token:
//   - discovery: /version, /api, /api/v1, /apis, /apis/<group>, /apis/<group>/<version> in the
//     legacy (unaggregated) JSON shapes; clients that ask for aggregated discovery get the legacy
//     document with Content-Type application/json, which makes them fall back. /openapi/* is 404.
//   - /api/v1/... and /apis/<g>/<v>/... for every registered resource: get, list (label and field
//     selectors, limit/continue), watch, create, update, patch, delete, deletecollection, and the
//     status and scale subresources where the resource has them.
//   - create sets uid, creationTimestamp, resourceVersion (one global counter, decimal strings),
//     generation 1 and the namespace; generateName; status is dropped on create where the resource
//     has a status subresource (the CRD and built-in strategies do that).
//   - update and patch: resourceVersion preconditions (409 Conflict with the real message); the
//     main resource ignores .status and /status changes only .status; generation increments when
//     anything outside metadata (and, with a status subresource, status) changes; a write that
//     changes nothing keeps the resourceVersion and emits no event.
//   - patch: application/merge-patch+json (RFC 7386), application/json-patch+json (RFC 6902; a
//     failed op or test is 422), application/strategic-merge-patch+json — refused with 415 for
//     custom resources like the real server, and applied as a plain merge patch for built-in
//     types: strategic list merge keys and patch directives are NOT modelled. Server-side apply
//     (application/apply-patch+yaml) is refused with 415.
//   - delete: DeleteOptions preconditions; finalizers (deletionTimestamp is set and the object
//     stays until they are gone); garbage collection of objects whose ownerReferences name the
//     deleted uid, recursively and synchronously (Background and Foreground alike; Orphan removes
//     the owner reference instead); deleting a namespace deletes what is in it. Namespaces need
//     not exist to hold objects.
//   - watch: ADDED/MODIFIED/DELETED/BOOKMARK/ERROR lines on a chunked stream; resourceVersion
//     unset or "0" starts with a synthetic ADDED per object; "N" replays the changes after N from
//     a bounded history (older: one ERROR event with a 410 Expired Status, then the stream ends);
//     sendInitialEvents=true ends the initial ADDED events with the initial-events-end bookmark;
//     an object that stops (starts) matching a watch's selectors reaches it as DELETED (ADDED);
//     timeoutSeconds ends the stream cleanly.
//   - errors are metav1 Status objects with the real reasons, messages and codes.
//   - an optional ReplicaSet controller: pods follow spec.replicas (named <rs>-<5 chars>, Running
//     with a pod IP and a Ready condition, owned by the ReplicaSet) and the ReplicaSet's status
//     follows its pods. It runs synchronously inside the write that changed the ReplicaSet or one
//     of its pods, after the API answer is computed, so a test sees its effects once that request
//     has been answered.
// A control API (the methods below, and the same over HTTP under /fake/, listed in
// kube_apiserver_fake.cc) breaks watches, compacts the history, injects conflicts and failures,
// holds pods not ready and reads the request log. /fake/ requests need no token and are never
// logged or failed.
//
// Thread-safety: every public method may be called from any thread; one mutex guards the store,
// the watches and the control state. The destructor stops the server (open watch streams end).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramp/clock.h"
#include "ramp/status.h"

namespace ramp::fakes {

// Where a resource keeps what its scale subresource shows, as dotted JSON paths.
struct KubeScalePaths {
  std::string spec_replicas_path = ".spec.replicas";
  std::string status_replicas_path = ".status.replicas";
  // A string (a CRD's selector) or a metav1.LabelSelector object (Deployment, ReplicaSet); empty
  // = the Scale carries no selector.
  std::string label_selector_path;
};

// One API resource the fake serves.
struct KubeResource {
  std::string group;  // "" = the core group (/api/v1)
  std::string version;
  std::string kind;
  std::string list_kind;  // empty = kind + "List"
  std::string plural;
  std::string singular;  // empty = lower-case kind
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  bool status_subresource = false;
  std::optional<KubeScalePaths> scale;
  // A custom resource (CRD-defined): strategic merge patches are 415, as on a real server.
  bool custom = false;
  // Field-selector paths supported beyond metadata.name and metadata.namespace.
  std::vector<std::string> field_selectors;
};

struct KubeFakeOptions {
  // Where to listen; port 0 picks a free one (see Port()).
  std::string address = "127.0.0.1:0";
  // Non-empty: every API request must carry `Authorization: Bearer <token>` (else 401).
  std::string bearer_token;
  // Both set: HTTPS with this PEM certificate chain and key.
  std::string tls_cert_file;
  std::string tls_key_file;
  // How often watches that asked for allowWatchBookmarks=true get a BOOKMARK.
  Duration bookmark_interval = std::chrono::seconds(1);
  // How many change events a watch may replay from (resourceVersion=N older than the window
  // answers 410 Expired).
  size_t history = 1000;
  // Run the simulated ReplicaSet controller.
  bool replicaset_controller = true;
  // Timestamps (creationTimestamp, pod conditions) come from here; nullptr = the system clock.
  const Clock* clock = nullptr;
  int threads = 2;
};

// One API request as received (control requests under /fake/ are not logged).
struct KubeRequestRecord {
  std::string method;
  std::string path;   // percent-decoded, without the query
  std::string query;  // as sent, without '?'
  std::string content_type;
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-cased
};

class KubeApiServerFake {
 public:
  // Starts serving with the built-in resource table. Errors are HttpServer::Start's.
  static StatusOr<std::unique_ptr<KubeApiServerFake>> Start(KubeFakeOptions options = {});

  ~KubeApiServerFake();
  KubeApiServerFake(const KubeApiServerFake&) = delete;
  KubeApiServerFake& operator=(const KubeApiServerFake&) = delete;

  // "http://127.0.0.1:<port>" or "https://…", no trailing slash.
  std::string Url() const;
  uint16_t Port() const;

  // The built-in resource table: core/v1, apps/v1, batch/v1, coordination.k8s.io/v1,
  // events.k8s.io/v1, networking.k8s.io/v1, argoproj.io/v1alpha1 and the traffic providers'
  // CRDs (Istio, SMI, Gateway API, Traefik, Ambassador, APISIX).
  static std::vector<KubeResource> BuiltinResources();

  // Adds a resource. kInvalidArgument when version, kind or plural is empty; kAlreadyExists when
  // its group already has that plural (one version per group and plural is modelled).
  Status RegisterResource(KubeResource resource);

  // --- control API --------------------------------------------------------------------------
  // `resource` below is a plural ("rollouts"), optionally qualified by its group
  // ("events.events.k8s.io"); a bare plural prefers the core group.

  // Ends every open watch stream abruptly: the connection closes mid-stream, without the final
  // chunk. Returns how many streams were dropped.
  int DropWatches();
  // Forgets the watch history: watches from any resourceVersion older than the current one get
  // 410 Expired.
  void Compact();
  // The next `count` PUT/PATCH requests on `resource` (main resource or a subresource) answer 409
  // Conflict. kNotFound for an unknown resource.
  Status InjectConflicts(std::string_view resource, int count);
  // The next `count` API requests (not /fake/) answer `http_status` with exactly `body`.
  void InjectFailures(int count, int http_status, std::string body,
                      std::string content_type = "application/json");
  // Every API request so far (at most the last 10000), oldest first.
  std::vector<KubeRequestRecord> Requests() const;
  void ClearRequests();
  // A snapshot of the stored objects of `resource` in `ns` (empty = all namespaces), ordered by
  // namespace and name. kNotFound for an unknown resource.
  StatusOr<std::vector<nlohmann::json>> Objects(std::string_view resource,
                                                std::string_view ns = {}) const;
  // One stored object, or nullopt (also for an unknown resource).
  std::optional<nlohmann::json> Object(std::string_view resource, std::string_view ns,
                                       std::string_view name) const;
  // Stores `object` as given, bypassing the API rules (for setup): the resource comes from its
  // apiVersion and kind; a namespaced object without a namespace goes to "default"; a missing
  // uid, creationTimestamp or generation is filled in; it gets the next resourceVersion. Creates
  // or replaces, emits the watch event and runs the ReplicaSet controller. Returns what was
  // stored. kInvalidArgument for an unknown apiVersion/kind or a missing name.
  StatusOr<nlohmann::json> Put(nlohmann::json object);
  // Pods the ReplicaSet controller creates while their labels match `label_selector` start not
  // ready; existing matching pods turn not ready now. kInvalidArgument for a malformed selector.
  Status HoldPodsNotReady(std::string_view label_selector);
  // Removes the holds with exactly this selector text and makes the pods they held ready (unless
  // another hold still matches them).
  Status ReleasePods(std::string_view label_selector);
  // Sets a pod's Ready condition (and the owning ReplicaSet's status). kNotFound when absent.
  Status SetPodReady(std::string_view ns, std::string_view name, bool ready);
  // The newest resourceVersion handed out.
  int64_t CurrentResourceVersion() const;
  // How many watch streams are open.
  int OpenWatches() const;

 private:
  struct Impl;
  explicit KubeApiServerFake(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ramp::fakes
