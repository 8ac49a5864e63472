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
// What is refused: experiment steps and step plugins (the rollout gets the InvalidSpec
// condition "… not supported yet" and does not progress).
//
// Thread-safety: a pure function over values; call from any thread. The injected evaluator is
// called synchronously on the calling thread.
#pragma once

#include <cstdint>
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
