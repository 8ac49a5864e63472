// Informer: a local cache of one resource kind (optionally one namespace and label selector),
// kept current by list + watch, as client-go's informers do. It lists, then watches from the
// list's resourceVersion with bookmarks; when a watch ends (server timeout, dropped connection)
// it watches again from the last resourceVersion seen; when the server answers 410 Gone (the
// resourceVersion is too old) it lists again and reports the difference (objects that vanished
// meanwhile as deletions). Errors — garbage answers, refused connections — are retried with
// exponential backoff; nothing here ever gives up or crashes.
//
// Thread-safety: Get/List/Synced/Stats may be called from any thread. `on_change` calls are
// serialized (never two at once) and arrive in the order the server reported the changes; they
// run on the HTTP client's or the timers' thread and must not block. Stop (or the destructor)
// waits for a running `on_change` to finish, so it must not be called from inside one.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/kube_client.h"
#include "ramp/clock.h"

namespace ramp::kube {

struct InformerEvent {
  enum class Type { kAdded, kUpdated, kDeleted };
  Type type = Type::kAdded;
  nlohmann::json object;              // the object now (for kDeleted: its last known state)
  std::optional<nlohmann::json> old;  // kUpdated: the cached state before
};

struct InformerOptions {
  Resource resource;
  std::string namespace_;  // "" = every namespace
  std::string label_selector;
  Duration watch_timeout = std::chrono::minutes(5);
  Duration backoff_base = std::chrono::milliseconds(200);
  Duration backoff_max = std::chrono::seconds(30);
};

struct InformerStats {
  int64_t lists = 0;             // successful lists (1 + relists)
  int64_t watches = 0;           // watches opened
  int64_t expired = 0;           // 410 answers
  int64_t errors = 0;            // failed lists/watches (retried)
  std::string resource_version;  // the last one seen
  std::string last_error;
};

class Informer {
 public:
  // Starts listing at once. `client` and `timers` must outlive the informer.
  static std::unique_ptr<Informer> Start(KubeClient* client, Timers* timers, const Clock* clock,
                                         InformerOptions options,
                                         std::function<void(const InformerEvent&)> on_change);
  virtual ~Informer() = default;

  // True once the first list has been delivered.
  virtual bool Synced() const = 0;
  // The cached object, or nullopt.
  virtual std::optional<nlohmann::json> Get(std::string_view ns, std::string_view name) const = 0;
  // The cached objects of `ns` ("" = all), ordered by namespace then name.
  virtual std::vector<nlohmann::json> List(std::string_view ns = "") const = 0;
  virtual InformerStats Stats() const = 0;
  // Stops watching; no on_change runs after it returns.
  virtual void Stop() = 0;
};

// "namespace/name" of an object (or "name" for cluster-scoped ones).
std::string ObjectKey(const nlohmann::json& object);

}  // namespace ramp::kube
