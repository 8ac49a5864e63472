// KubeClient: ramp's client of the Kubernetes REST API (JSON over HTTPS through ramp's
// HttpClient) — get, list, create, update, merge/JSON patches, the status and scale
// subresources, delete, watch streams, and Events. Informers (informer.h) build caches on it.
//
// Behaviour a controller needs from it:
//   * Errors are ramp Statuses built from the server's metav1 Status: 404 → kNotFound, 409
//     AlreadyExists → kAlreadyExists, 409 Conflict → kAborted (re-read and retry; Modify does),
//     410 Gone/Expired → kOutOfRange (a watch must relist), 400/422 → kInvalidArgument, 401 →
//     kUnauthenticated, 403 → kPermissionDenied, 415 → kUnimplemented, 429 and 5xx →
//     kUnavailable. Every message names the verb and path: "PUT /apis/argoproj.io/v1alpha1/
//     namespaces/default/rollouts/web/status: 409 Conflict: the object has been modified …".
//   * A 2xx answer whose body is not the JSON object expected is kUnavailable ("garbage from the
//     API server"), never a crash.
//   * Reads (Get, List) are retried on kUnavailable and kDeadlineExceeded with exponential
//     backoff (options.read_retries times); writes are not retried here — the caller re-reads
//     and decides (the controller's reconcile loop), except Modify's 409 loop.
//   * Client-side rate limit: a token bucket of `qps` with `burst`, as client-go; requests over
//     it wait on the timers (never block a thread). Watches are not rate limited once open.
//
// Thread-safety: every method may be called from any thread; callbacks run on the HttpClient's
// thread or the timers' thread and must not block. The client must outlive its requests'
// callbacks: destroy it only after the HttpClient stopped calling back.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/kube_config.h"
#include "ramp/clock.h"
#include "ramp/common.h"
#include "ramp/http_client.h"
#include "ramp/status.h"

namespace ramp::kube {

// One kind of object of the API: where it lives and what it is called.
struct Resource {
  std::string group;  // "" for the core group
  std::string version;
  std::string plural;
  std::string kind;
  bool namespaced = true;

  // "v1", "apps/v1", "argoproj.io/v1alpha1".
  std::string ApiVersion() const;
  // "rollouts.argoproj.io", "services".
  std::string GroupResource() const;
};

// The resources ramp reads and writes.
const Resource& Rollouts();
const Resource& AnalysisRuns();
const Resource& AnalysisTemplates();
const Resource& ClusterAnalysisTemplates();
const Resource& ReplicaSets();
const Resource& Deployments();
const Resource& Pods();
const Resource& Services();
const Resource& ConfigMaps();
const Resource& Events();
const Resource& Jobs();
const Resource& Leases();

enum class PatchType { kMerge, kJson, kStrategicMerge };

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
};

struct ListResult {
  std::vector<nlohmann::json> items;  // each with kind and apiVersion filled in
  std::string resource_version;       // of the list: where a watch starts
};

struct WatchOptions {
  std::string resource_version;  // "" = the current state first (synthetic ADDED events)
  std::string label_selector;
  std::string field_selector;
  bool bookmarks = true;
  Duration timeout = std::chrono::minutes(5);  // the server ends the watch after it
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark };
  Type type = Type::kAdded;
  nlohmann::json object;
};

struct DeleteOptions {
  std::string precondition_resource_version;  // empty = none
  std::string propagation = "Background";     // Background, Foreground, Orphan
};

// A Kubernetes Event about an object (core/v1 Event, as client-go's recorder writes it).
struct EventRecord {
  Resource resource;        // of the involved object
  nlohmann::json involved;  // the involved object (metadata.name/namespace/uid are used)
  EventType type = EventType::kNormal;
  std::string reason;
  std::string message;
};

struct KubeClientOptions {
  KubeConfig config;
  HttpClient* http = nullptr;    // required; must outlive the client
  Timers* timers = nullptr;      // required (rate limit and backoff waits)
  const Clock* clock = nullptr;  // required
  double qps = 40;               // Argo's defaults (--qps, --burst)
  int burst = 80;
  Duration request_timeout = std::chrono::seconds(30);
  int read_retries = 4;
  Duration backoff_base = std::chrono::milliseconds(200);
  Duration backoff_max = std::chrono::seconds(10);
  // Events' source.component and reportingComponent; requests carry User-Agent ramp/<component>.
  std::string component = "rollouts-controller";
  std::string instance;  // reportingInstance (the host name)
};

class KubeClient {
 public:
  // kInvalidArgument for missing dependencies or a config without a server.
  static StatusOr<std::unique_ptr<KubeClient>> New(KubeClientOptions options);
  virtual ~KubeClient() = default;

  // The namespace of the kubeconfig context (or the pod's).
  virtual const std::string& DefaultNamespace() const = 0;

  virtual void Get(const Resource& r, std::string_view ns, std::string_view name,
                   StatusOrCallback<nlohmann::json> done) = 0;
  virtual void List(const Resource& r, std::string_view ns, const ListOptions& options,
                    StatusOrCallback<ListResult> done) = 0;
  virtual void Create(const Resource& r, std::string_view ns, nlohmann::json object,
                      StatusOrCallback<nlohmann::json> done) = 0;
  // PUT of the whole object (`subresource` "" or "status"); metadata.resourceVersion, when set,
  // makes it conditional (kAborted on a conflict).
  virtual void Update(const Resource& r, std::string_view ns, nlohmann::json object,
                      std::string_view subresource, StatusOrCallback<nlohmann::json> done) = 0;
  virtual void Patch(const Resource& r, std::string_view ns, std::string_view name, PatchType type,
                     const nlohmann::json& patch, std::string_view subresource,
                     StatusOrCallback<nlohmann::json> done) = 0;
  virtual void Delete(const Resource& r, std::string_view ns, std::string_view name,
                      const DeleteOptions& options, StatusCallback done) = 0;

  // Opens a watch. `on_event` gets each event in order; `done` once when the stream ends: OK
  // (the server's timeout), kOutOfRange (410: the resourceVersion is too old — relist),
  // kUnavailable (dropped connection, garbage line, an ERROR event), kUnauthenticated, ….
  // Dropping the handle stops it (neither callback runs after the destructor returns).
  virtual std::unique_ptr<Subscription> Watch(const Resource& r, std::string_view ns,
                                              const WatchOptions& options,
                                              std::function<void(const WatchEvent&)> on_event,
                                              StatusCallback done) = 0;

  // Optimistic read-modify-write: reads the object, lets `mutate` change it (answering false
  // when nothing needs to change: no write), PUTs it (to `subresource` when set) with the
  // resourceVersion read; on 409 reads again and retries, up to 5 attempts. Reports the object
  // as stored.
  virtual void Modify(const Resource& r, std::string_view ns, std::string_view name,
                      std::string_view subresource,
                      std::function<StatusOr<bool>(nlohmann::json&)> mutate,
                      StatusOrCallback<nlohmann::json> done) = 0;

  // Records a core/v1 Event on the involved object.
  virtual void RecordEvent(const EventRecord& event, StatusCallback done) = 0;
};

// The API path of a resource: /apis/<group>/<version>/namespaces/<ns>/<plural>[/<name>[/<sub>]]
// (/api/v1/… for the core group; no namespaces part when `ns` is empty or r is cluster-scoped).
std::string ResourcePath(const Resource& r, std::string_view ns, std::string_view name = "",
                         std::string_view subresource = "");

// The Status a non-2xx answer stands for (see the header comment).
Status StatusFromResponse(std::string_view verb, std::string_view path, int http_status,
                          std::string_view body);

// RFC 3339 UTC with seconds, as Kubernetes writes metav1.Time: "2026-11-27T09:00:00Z".
std::string KubeTime(Time t);
// Parses metav1.Time / MicroTime (fractional seconds and offsets accepted).
StatusOr<Time> ParseKubeTime(std::string_view text);

}  // namespace ramp::kube
