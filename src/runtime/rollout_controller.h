// RolloutController: the imperative shell around one Rollout in the daemon. It runs the engine's
// reconcile loop in real time — observe the platform, call engine::Reconcile, persist the state,
// carry out the intents through the Platform, the TrafficRouter, the metric providers and the
// hooks, feed their answers back — and applies the user's actions and spec changes.
//
// The loop (types.h says how intents are carried out):
//   1. Platform::ListRevisions; the ready instances of each revision are handed to the router
//      (SetRevisionEndpoints) whenever they change — off Kubernetes the runtime is the endpoints
//      controller.
//   2. engine::Reconcile with the observations that arrived since the previous cycle.
//   3. The new state is written to the StateStore BEFORE any intent runs, so an effect is never
//      ahead of the status that commits to it; a failed write runs no intent and retries.
//   4. Intents run in order, each after the previous one's `done`; Measure and CallHook are
//      started and not waited for; the first failure skips the rest and is observed next cycle.
//   5. Again at once while the state changes or answers are pending; otherwise at the engine's
//      wake-up time, or after `resync` (the platform does not push readiness changes).
// After a restart the controller starts from the stored state: requests whose answers were lost
// with the old process are forgotten (analysis::ForgetDispatched) and asked again, and the
// router is told again where every role points and what the weight is (all idempotent), so the
// rollout resumes to the same outcome.
//
// Thread-safety: every public method may be called from any thread; the work runs on the
// controller's serial executor, one task at a time, so one rollout's reconciles never overlap
// while different controllers run in parallel. Callbacks (`done`, on_change) run on that
// executor. Stop must be called (and its `done` awaited) before the dependencies are destroyed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/analysis.h"
#include "engine/reconcile.h"
#include "engine/user_action.h"
#include "ramp/clock.h"
#include "ramp/hook.h"
#include "ramp/platform.h"
#include "ramp/state_store.h"
#include "ramp/status.h"
#include "ramp/traffic_router.h"
#include "spec/analysis.h"
#include "spec/rollout.h"
#include "spec/webhooks.h"

namespace ramp::runtime {

class ProviderSet;

// What one controller needs from the daemon. Pointers must outlive the controller's Stop.
struct RolloutControllerDeps {
  Platform* platform = nullptr;      // required
  StateStore* store = nullptr;       // required
  ProviderSet* providers = nullptr;  // required
  Hook* hooks = nullptr;             // null: every hook call answers Error
  const Clock* clock = nullptr;      // required
  Timers* timers = nullptr;          // required
  // Runs tasks one at a time in posting order (a strand of the daemon's event loop). Required.
  std::function<void(std::function<void()>)> post;
  analysis::Evaluator evaluator;
  // The AnalysisTemplates and ClusterAnalysisTemplates analysis steps may name, as of now.
  std::function<std::shared_ptr<const std::vector<spec::AnalysisTemplate>>()> templates;
  // Every RolloutWebhooks object, as of now; those naming this rollout attach their hooks
  // (spec::AttachedWebhooksFor). Null: no hooks but the rollout's own ramp/webhook steps.
  std::function<std::shared_ptr<const std::vector<spec::RolloutWebhooks>>()> webhooks;
  std::string instance_id;
  // The API server owns metadata.generation (Kubernetes mode): Update keeps the document's.
  bool external_generation = false;
  // Re-read the platform this often while waiting (instances do not push readiness changes).
  Duration resync = std::chrono::seconds(1);
  // How often the router is told the weight and Service selectors again, so routing objects
  // edited outside ramp are set back (Kubernetes mode); zero = only after a restart or a new
  // router.
  Duration router_resync{0};
  // One log line about this rollout ("<namespace>/<name>: …" is the caller's prefix).
  std::function<void(std::string_view line)> log;
  // Called after every cycle that changed the state, and after events, so watchers refresh.
  std::function<void()> on_change;
  // Called at the end of every reconcile cycle with its wall time (platform read, reconcile,
  // store write, intents): the daemon's reconcile latency.
  std::function<void(Duration)> on_cycle;
};

// A consistent copy of what the controller holds, for the API.
struct RolloutSnapshot {
  spec::Rollout rollout;
  nlohmann::json manifest;  // the applied document (apiVersion, kind, metadata, spec)
  engine::RolloutState state;
  std::vector<RevisionStatus> revisions;  // as last read from the platform
  int64_t reconciles = 0;
  bool deleting = false;
};

class RolloutController {
 public:
  // Starts the controller for `rollout` (decoded from `manifest`), from `restored` state when the
  // store had one. `router` may be null for a rollout without traffic routing. The first cycle
  // is posted at once.
  static std::shared_ptr<RolloutController> Start(RolloutControllerDeps deps, spec::Rollout rollout,
                                                  nlohmann::json manifest,
                                                  std::unique_ptr<TrafficRouter> router,
                                                  std::optional<engine::RolloutState> restored);

  virtual ~RolloutController() = default;

  // A new spec for the rollout (an apply): stored, then reconciled.
  virtual void Update(spec::Rollout rollout, nlohmann::json manifest,
                      std::unique_ptr<TrafficRouter> router, StatusCallback done) = 0;

  // A user action (promote, abort, …): applied, stored, its events recorded, then reconciled.
  // Answers what the CLI prints after "rollout '<name>' ".
  virtual void Act(engine::UserAction action, StatusOrCallback<std::string> done) = 0;

  // Argo's `terminate analysisrun`: sets spec.terminate on the rollout's AnalysisRun `name`, stores
  // it, then reconciles (a terminated run completes as Argo completes it: running measurements
  // are stopped, and a run with nothing failed is Successful). kNotFound when the rollout has no
  // such run. Answers what the CLI prints after "analysisrun '<name>' ".
  virtual void TerminateAnalysisRun(std::string name, StatusOrCallback<std::string> done) = 0;

  // Asks for a cycle soon (something changed outside: a template, the platform).
  virtual void Kick() = 0;

  virtual RolloutSnapshot Snapshot() const = 0;

  // Stops the loop; with `remove`, first scales every revision to zero, deletes them, removes
  // managed routes and deletes the stored rollout (nothing is left running). Pending answers
  // are dropped. `done` runs once everything stopped.
  virtual void Stop(bool remove, StatusCallback done) = 0;
};

// The stored document of a rollout after a user action changed its spec: spec.paused,
// spec.template, spec.restartAt and metadata.generation taken from `after`.
nlohmann::json PatchManifest(nlohmann::json manifest, const spec::Rollout& after);

}  // namespace ramp::runtime
