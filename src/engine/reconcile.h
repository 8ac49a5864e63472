// The rollout engine: one reconcile of one Rollout, as Argo Rollouts' controller decides it
// (reference/argo-rollouts.md §2.4–§2.7, §3.5, §11, §11.1).
//
//   Reconcile(context, state, observed, now) → (state, intents, wake-up)
//
// `RolloutState` is everything the engine remembers between calls: Argo's RolloutStatus, the
// revisions it created (Argo keeps these as ReplicaSets with their annotations) and the
// AnalysisRuns of the rollout. The caller persists the returned state, carries out the intents
// in order (types.h says how) and calls again when an observation arrives or `wake_at` is
// reached. Like Argo's controller, one call moves one stage forward: when the returned state
// differs from the one passed in, the caller calls again at once with fresh observations, until
// the state stops changing (a fixpoint). Nothing here reads a clock, sleeps or does I/O.
//
// What is followed from Argo: the canary path (steps setWeight, pause, analysis, setCanaryScale,
// setHeaderRoute, setMirrorRoute; background analysis with startingStep; basic and
// traffic-routed replica math; dynamicStableScale; scale-down delays; rolling update without
// steps; the first deploy and a rollback to the stable revision skipping steps; rollbackWindow),
// the blue-green path (preview/active, previewReplicaCount, auto promotion, pre- and
// post-promotion analysis), user actions as the patches of actions.h leave them, the progress
// deadline, phases, conditions and events with Argo's reasons and messages.
//
// RolloutWebhooks: the hooks of ReconcileContext::webhooks run at the points docs/manifests.md
// ("RolloutWebhooks") names — gates hold the new revision, the weight, the step or the active
// switch; failed checks abort at the threshold; their progress is RolloutState::hooks. With no
// hooks attached, nothing of this runs and the output is the same as without the feature.
//
// What is refused: experiment steps and step plugins (the rollout gets the InvalidSpec
// condition "… not supported yet" and does not progress).
//
// Thread-safety: a pure function over values; call from any thread. The injected evaluator is
// called synchronously on the calling thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/analysis.h"
#include "engine/actions.h"
#include "engine/status.h"
#include "engine/types.h"
#include "ramp/clock.h"
#include "spec/analysis.h"
#include "spec/rollout.h"
#include "spec/webhooks.h"

namespace ramp::engine {

// One revision (Argo's ReplicaSet) as the engine remembers it.
struct RevisionRecord {
  std::string hash;      // pod-template hash
  int64_t revision = 0;  // rollout.argoproj.io/revision; a reused revision gets a new number
  spec::PodTemplate pod_template;
  // scale-down-deadline: when this revision is scaled to 0 (set after a promotion or an abort).
  std::optional<Time> scale_down_at;
  // When the engine first asked for this revision (Argo's ReplicaSet creationTimestamp).
  std::optional<Time> created_at;
};

// Compares hash, revision, template JSON and times.
bool operator==(const RevisionRecord& a, const RevisionRecord& b);

// One round of the attached hooks of one type (RolloutWebhooks): hooks of a type are called one
// after the other, each call after the previous one's answer; the first failure ends the round
// (for rollback hooks, the first success).
struct HookRound {
  std::string key;       // "confirm-rollout", "pre-rollout", "confirm-traffic-increase@<step>", …
  int32_t next = 0;      // index, among the type's hooks, of the call in flight (or next call)
  std::string awaiting;  // the CallHook id in flight; empty when none
  std::optional<Time> called_at;   // when the call in flight was made
  std::optional<Time> started_at;  // when the round began (rounds repeat every interval)
  std::string phase;               // the payload's phase for every call of the round
  std::string result;              // "" while running; "Passed", "Failed", "Triggered" (rollback)
  std::string message;             // the deciding hook and its answer

  friend bool operator==(const HookRound&, const HookRound&) = default;
};

// Progress of the attached hooks through one update (RolloutWebhooks); reset when the rollout's
// pod-template hash changes. Not part of Argo's status.
struct HookProgress {
  std::string revision;             // the pod-template hash this progress belongs to
  bool update = false;              // an update (not a first deploy or a rollback to stable)
  std::vector<std::string> passed;  // gates passed in this update (round keys)
  std::map<std::string, int32_t> failed_checks;  // per RolloutWebhooks object
  std::vector<HookRound> rounds;
  std::string ended;  // "Healthy" | "Degraded" once the update ended (post-rollout started)
  int64_t calls = 0;  // CallHooks made for this rollout (never reset: ids stay unique)

  friend bool operator==(const HookProgress&, const HookProgress&) = default;
};

// Everything the engine keeps for one rollout between reconciles.
struct RolloutState {
  RolloutStatus status;
  std::vector<RevisionRecord> revisions;  // ascending revision
  // Every AnalysisRun of the rollout, in creation order; finished ones are trimmed to
  // successfulRunHistoryLimit / unsuccessfulRunHistoryLimit.
  std::vector<spec::AnalysisRun> analysis_runs;
  // Secret values of the runs' secretKeyRef arguments, for redaction; never written anywhere.
  std::vector<std::string> secrets;
  // What the canary's stable and canary backend sets (Services) select, as last switched; a
  // blue-green rollout keeps its selectors in status.blueGreen as Argo does.
  std::string stable_selector;
  std::string canary_selector;
  // A setHeaderRoute/setMirrorRoute is in place and must be removed when the rollout ends.
  bool managed_routes = false;
  // When the last VerifyWeight was asked for; a weight not verified is asked again 10 s later.
  std::optional<Time> weight_verify_sent;
  // The attached hooks' progress (empty when the rollout has no RolloutWebhooks).
  HookProgress hooks;
};

// What Reconcile reads besides the state: the Rollout and what it may reference.
struct ReconcileContext {
  const spec::Rollout* rollout = nullptr;  // required; metadata.generation 1 when unset
  // Rollout as JSON for fieldRef arguments (nullptr: built from the typed Rollout).
  const nlohmann::json* rollout_json = nullptr;
  // AnalysisTemplates and ClusterAnalysisTemplates the analysis steps may name.
  const std::vector<spec::AnalysisTemplate>* templates = nullptr;
  analysis::Evaluator evaluator;
  std::string instance_id;  // controller instance id label on AnalysisRuns, when set
  // The RolloutWebhooks hooks attached to this rollout, in calling order
  // (spec::AttachedWebhooksFor); nullptr or empty: none, and Reconcile behaves exactly as
  // without the field.
  const std::vector<spec::AttachedWebhook>* webhooks = nullptr;
};

struct ReconcileResult {
  RolloutState state;
  std::vector<Intent> intents;  // in execution order
  // The earliest time-based transition (pause end, auto-promotion, analysis due, scale-down
  // deadline, progress deadline, availability after minReadySeconds, restart); nullopt: call
  // again only when something is observed.
  std::optional<Time> wake_at;
};

ReconcileResult Reconcile(const ReconcileContext& context, const RolloutState& state,
                          const Observed& observed, Time now);

// Argo's pod-template hash: FNV-32a over the template's canonical JSON (plus the collision count
// when set), written in the safe alphabet "bcdfghjklmnpqrstvwxz2456789" as Kubernetes does.
std::string PodTemplateHash(const nlohmann::json& pod_template,
                            std::optional<int32_t> collision_count);

// The hash of the rollout's current template (status.collisionCount included).
std::string CurrentPodHash(const spec::Rollout& rollout, const RolloutStatus& status);

// The revisions as undo needs them (actions.h UndoRollout).
std::vector<RevisionTemplate> RevisionTemplates(const RolloutState& state);

// The AnalysisRun `name` of the state, or nullptr.
const spec::AnalysisRun* FindAnalysisRun(const RolloutState& state, std::string_view name);

}  // namespace ramp::engine
