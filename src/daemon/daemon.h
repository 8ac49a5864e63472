// Daemon: what `ramp serve` runs — every Rollout and AnalysisTemplate the user applied, one
// RolloutController per Rollout (src/runtime), all on one event loop, with their state in a
// StateStore so a restarted daemon continues each rollout where the stored status left it.
//
// The daemon owns the objects and the controllers; the HTTP API (api.h) and tests call its
// operations. Applying a manifest stores each object before anything acts on it; a rollout's
// router is chosen from its trafficRouting.plugins ("ramp/proxy", "ramp/haproxy", "ramp/nginx")
// through the router registry.
//
// Thread-safety: every method may be called from any thread. Operations on one rollout run on
// that rollout's strand in call order; different rollouts never wait on each other. Callbacks
// run on a loop thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/analysis.h"
#include "engine/user_action.h"
#include "ramp/clock.h"
#include "ramp/hook.h"
#include "ramp/metric_provider.h"
#include "ramp/platform.h"
#include "ramp/registry.h"
#include "ramp/state_store.h"
#include "ramp/status.h"
#include "ramp/traffic_router.h"
#include "runtime/rollout_controller.h"

namespace ramp::net {
class EventLoop;
class Strand;
}  // namespace ramp::net

namespace ramp::runtime {
class ProviderSet;
}  // namespace ramp::runtime

namespace ramp::daemon {

using RouterRegistry = Registry<TrafficRouter, const RouterContext&>;

struct DaemonOptions {
  // All required except hooks; they must outlive the daemon.
  net::EventLoop* loop = nullptr;
  const Clock* clock = nullptr;
  StateStore* store = nullptr;
  Platform* platform = nullptr;  // the default: rollouts without ramp.dev/platform
  // More platforms by name ("static", …) for rollouts whose annotation ramp.dev/platform names
  // them; a rollout naming one that is not here is refused at apply.
  std::map<std::string, Platform*> platforms;
  const Registry<MetricProvider>* providers = nullptr;
  const RouterRegistry* routers = nullptr;
  Hook* hooks = nullptr;
  analysis::SecretLookup secrets;
  std::string instance_id;
  // Kubernetes mode: the API server owns metadata.generation, so an applied Rollout keeps the
  // generation its document carries instead of ramp counting spec changes itself.
  bool external_generation = false;
  // The router of rollouts that name none (Kubernetes mode: "kubernetes/services", the Service
  // selector switch); empty = none.
  std::string default_router;
  // The router of canaries whose trafficRouting names Argo's routers (istio, nginx, smi, alb,
  // traefik, ambassador, apisix, the Gateway API plugin) rather than one of ramp's: in
  // Kubernetes mode "kubernetes/traffic", built from the whole trafficRouting section; empty =
  // such canaries are refused.
  std::string argo_traffic_router;
  // How often a rollout's router is told its routes again (weights, Service selectors), so
  // objects edited outside ramp are set back; zero = only after a restart or a new router.
  Duration router_resync{0};
  Duration resync = std::chrono::seconds(1);
  // One log line; `rollout` is "namespace/name" or empty for the daemon itself.
  std::function<void(std::string_view rollout, std::string_view line)> log;
  // Called after every reconcile cycle of any rollout with its wall time (benchmarks, metrics).
  std::function<void(Duration)> on_cycle;
  // Called for every event recorded on a rollout, with Argo's Rollout object (status included)
  // as the API shows it just after the event: notifications (src/hooks/notifier.h). Runs on the
  // rollout's strand; must not block.
  std::function<void(const StoredEvent& event, const nlohmann::json& rollout)> on_event;
};

// The outcome of applying one document.
struct Applied {
  std::string kind;
  std::string key;     // namespace/name
  std::string action;  // "created", "configured", "unchanged"
};

// A rollout as the API shows it.
struct RolloutView {
  runtime::RolloutSnapshot snapshot;
  std::vector<StoredEvent> events;  // only when asked for
};

class Daemon {
 public:
  // Loads every stored AnalysisTemplate and Rollout and starts a controller for each Rollout
  // from its stored state. Errors: a stored object that no longer decodes is skipped with a log
  // line naming it (never fatal); a store that cannot be read is.
  static StatusOr<std::unique_ptr<Daemon>> Start(DaemonOptions options);

  virtual ~Daemon() = default;

  // Applies every document of `text` (YAML or JSON; Rollouts, AnalysisTemplates,
  // ClusterAnalysisTemplates). The whole text is validated first; any error applies nothing and
  // is kInvalidArgument with each diagnostic's file:line:column and field path.
  virtual void Apply(std::string text, std::string file,
                     StatusOrCallback<std::vector<Applied>> done) = 0;

  // The rollout, or kNotFound.
  virtual StatusOr<RolloutView> GetRollout(const ObjectRef& ref) const = 0;
  // Every rollout in `namespace_` (all when empty), ordered by namespace and name.
  virtual std::vector<RolloutView> ListRollouts(std::string_view namespace_) const = 0;
  // The stored events of a rollout, oldest first (at most `limit`).
  virtual void Events(const ObjectRef& ref, size_t limit,
                      StatusOrCallback<std::vector<StoredEvent>> done) = 0;

  // A user action; answers what the CLI prints after "rollout '<name>' ".
  virtual void Act(const ObjectRef& ref, engine::UserAction action,
                   StatusOrCallback<std::string> done) = 0;

  // Argo's `terminate analysisrun`: the AnalysisRun `run` of whichever rollout owns it is
  // terminated (runtime::RolloutController::TerminateAnalysisRun); kNotFound when none does.
  virtual void TerminateAnalysisRun(const ObjectRef& run, StatusOrCallback<std::string> done) = 0;

  // Deletes a rollout: every instance stopped, its routes removed, its stored record deleted.
  virtual void DeleteRollout(const ObjectRef& ref, StatusCallback done) = 0;

  // The stored AnalysisTemplates and ClusterAnalysisTemplates, decoded (as the rollouts see them).
  virtual std::shared_ptr<const std::vector<spec::AnalysisTemplate>> AnalysisTemplates() const = 0;
  // The stored AnalysisTemplates (both kinds) as the documents that were applied.
  virtual std::vector<nlohmann::json> Templates() const = 0;
  virtual void DeleteTemplate(std::string_view kind, const ObjectRef& ref, StatusCallback done) = 0;

  // Calls `on_change(key)` whenever a rollout's view changes (status, instances, deletion).
  virtual std::unique_ptr<Subscription> Subscribe(
      std::function<void(const std::string& key)> on_change) = 0;

  // Stops every controller (instances and routes are left as they are: a restarted daemon
  // adopts them). Idempotent.
  virtual void Shutdown() = 0;
};

// The router a rollout names and its context: a canary's trafficRouting.plugins["ramp/…"], a
// blue-green rollout's annotation ramp.dev/traffic-router (its active and preview services name
// the router's backend sets). nullopt (and no error) when the rollout has no traffic routing ramp
// drives off Kubernetes. kInvalidArgument when a canary names several, or carries the
// annotation.
StatusOr<std::optional<std::pair<std::string, RouterContext>>> RouterFor(
    const spec::Rollout& rollout);

}  // namespace ramp::daemon
