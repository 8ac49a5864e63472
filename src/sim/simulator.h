// The simulator behind `ramp simulate`: the real engine (engine::Reconcile, with AnalysisRuns
// assessed by src/analysis and conditions by src/expr) driven on a virtual clock by a world that
// a scenario describes. It is the imperative shell of DESIGN.md on a virtual clock: it carries
// out the engine's intents as types.h says a runtime does, and feeds the results back.
//
// The world:
//   * Pods: per revision, pods created when a ScaleRevision asks for them, each ready
//     `readyAfter` (for the revision's containers[0] image) after its creation, or never; surplus
//     pods are deleted at once, newest first. The engine counts a pod available minReadySeconds
//     after it is ready.
//   * Traffic: an ideal router. SetWeight applies at once; VerifyWeight is answered "verified"
//     on the next reconcile. Header/mirror routes and service switches are recorded.
//   * Metrics: a Measure goes through the MetricProvider interface to the scenario's provider
//     (scenario_provider.h): metric M at time t is answered, on the next
//     reconcile, with the scenario's last entry for M with at <= t (a value, an error or a
//     verdict), or an Error "no scenario value for metric M at t=…". The simulated provider
//     never reports Running, so Resume and Terminate arise only in theory; they are answered
//     the same way. GarbageCollect has nothing to collect.
//   * Hooks (ramp/webhook steps and the RolloutWebhooks of the -f files attached to the
//     Rollout): every call is answered Allowed on the next reconcile, except a RolloutWebhooks
//     rollback hook (Denied: an allowed one would abort); calls of `event` hooks are made but
//     not answered, as the engine ignores their results.
//   * Secrets (secretKeyRef arguments) cannot be read: "secrets are not available in ramp
//     simulate", which ends such a run in Error as a missing Secret does in Argo.
//
// The clock: the rollout is first deployed at its spec before t = 0 (pods ready at once) until it
// is Healthy; those events are not reported. At t = 0 (kUpdateTime) the scenario's update sets
// containers[0]'s image. The engine is reconciled at t = 0, at each pod readiness and
// availability time, at each wake-up it asked for and at each action time (actions at one time
// first, in file order), and after each of these again at the same t until nothing changes (a
// fixpoint: the status, the AnalysisRuns, the revisions and selectors unchanged, no pod, weight,
// route or selector changed, no answer pending). The stop rule is read only at a fixpoint:
// `until`, or earlier, once no action is left, a settled rollout (docs/simulate.md).
//
// Thread-safety: Simulate is a pure function of its arguments apart from the `on_event` calls,
// which it makes synchronously on the calling thread, in order.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ramp/clock.h"
#include "ramp/common.h"
#include "ramp/status.h"
#include "sim/input.h"
#include "sim/scenario.h"

namespace ramp::sim {

// The moment of the update (t = 0): 2026-01-01T00:00:00Z, fixed so that output is reproducible.
inline constexpr Time kUpdateTime = Time(std::chrono::seconds(1'767'225'600));

// One event on the timeline: an event the engine emitted (Argo's reasons), or ActionFailed when
// a scenario action could not be taken.
struct Event {
  Duration t = Duration::zero();  // since the update
  std::string reason;
  std::string message;
  EventType type = EventType::kNormal;
  // status.currentStepIndex after the reconcile that emitted the event (for an action's event,
  // at the action).
  std::optional<int32_t> step;
  // The canary weight of status.canary.weights at the same moment; nullopt when Argo sets no
  // weights (blue-green, a canary without traffic routing).
  std::optional<int32_t> weight;
};

// Why the simulation stopped.
enum class SettledBy {
  kCompleted,                 // Healthy, currentPodHash == stableRS
  kRolloutAborted,            // Degraded: aborted
  kProgressDeadlineExceeded,  // Degraded: the progress deadline passed
  kInvalidSpec,               // Degraded: the spec (as an action left it) is invalid
  kPaused,                    // Paused with nothing that resumes it by itself
  kUntil,                     // `until` was reached first
};

// "Completed", "RolloutAborted", "ProgressDeadlineExceeded", "InvalidSpec", "Paused", "Until".
std::string_view SettledByName(SettledBy s);

struct MetricSummary {
  std::string name;
  std::string phase;         // Argo's: Pending, Running, Successful, Failed, Error, Inconclusive
  int32_t measurements = 0;  // taken, errors included
};

struct AnalysisRunSummary {
  std::string name;
  std::string phase;
  std::vector<MetricSummary> metrics;  // in the run's metric order
};

struct Summary {
  Duration t = Duration::zero();  // when it stopped, since the update
  std::string phase;              // Healthy | Progressing | Paused | Degraded
  std::string message;
  SettledBy settled_by = SettledBy::kUntil;
  bool aborted = false;  // status.abort
  std::optional<int32_t> current_step_index;
  std::optional<int32_t> weight;  // as on Event
  std::string stable_rs;
  std::string current_pod_hash;
  std::vector<AnalysisRunSummary> analysis_runs;  // every run created, in creation order
};

// Bounds that turn an engine that never settles into an error instead of a hang.
struct Limits {
  int32_t reconciles_per_time = 1000;  // reconciles at one t without a fixpoint
  int64_t reconciles = 1'000'000;      // reconciles in all
};

using EventSink = std::function<void(const Event&)>;

// Runs `scenario` against `input`, reporting each event to `on_event` as it happens, and
// returns the summary. Errors: InvalidArgument when the rollout cannot be started (it does not
// become Healthy at its spec, or the update cannot be applied) — nothing has been reported yet;
// Internal when a limit is exceeded.
StatusOr<Summary> Simulate(const SimulationInput& input, const Scenario& scenario,
                           const EventSink& on_event, const Limits& limits = {});

}  // namespace ramp::sim
