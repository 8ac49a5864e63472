// Vocabulary shared by every port in include/ramp/: object references, event types, and the
// completion callbacks through which asynchronous operations report back.
//
// The asynchronous contract (every port that may do I/O follows it):
//   * An operation that takes a `done` callback calls it exactly once, with the outcome.
//   * `done` may run inline, before the operation returns (an in-memory fake, a cached answer, an
//     argument error), or later on another thread (an event loop, a worker). Callers must handle
//     both and must not hold a lock that `done` takes.
//   * `done` must not block: it hands the outcome on (typically it posts to the rollout's queue).
//   * Implementations never throw; failures arrive as a non-OK Status.
//
// Thread-safety: the types here are plain values. Subscription objects are owned by one thread.
#pragma once

#include <compare>
#include <functional>
#include <string>
#include <string_view>

#include "ramp/status.h"

namespace ramp {

// Names one object: a Rollout, an AnalysisRun, a template. `namespace_` is "default" for objects
// that were given none; cluster-scoped objects (ClusterAnalysisTemplate) leave it empty.
struct ObjectRef {
  std::string namespace_;
  std::string name;

  // "namespace/name", or "name" for cluster-scoped objects.
  std::string Key() const { return namespace_.empty() ? name : namespace_ + "/" + name; }

  friend bool operator==(const ObjectRef&, const ObjectRef&) = default;
  friend auto operator<=>(const ObjectRef&, const ObjectRef&) = default;
};

// The type of a Kubernetes-style event (Argo's and Flagger's events use these two).
enum class EventType { kNormal, kWarning };

// "Normal" or "Warning".
std::string_view EventTypeName(EventType type);

// Completion of an operation that yields nothing but success or failure.
using StatusCallback = std::function<void(Status)>;

// Completion of an operation that yields a value or the reason there is none.
template <typename T>
using StatusOrCallback = std::function<void(StatusOr<T>)>;

// A live registration (a watch, a change listener). Destroying it unsubscribes: once the
// destructor returns the listener is not called again; a call already running on another thread
// finishes before the destructor returns. Destroying it from inside the listener is allowed.
class Subscription {
 public:
  virtual ~Subscription() = default;
};

}  // namespace ramp
