// The user actions of `kubectl argo rollouts` (reference/argo-rollouts.md §2.6) as pure
// functions: each takes the Rollout's spec and status and returns the pair as it stands after the
// patch the Argo client writes (the spec and status merge patches of promote, abort, retry, pause
// and restart, the /spec/template replacement of undo, the update of set image), or the error
// the client reports when the action cannot be taken. Nothing else changes: what the controller
// does with the result (abortedAt, the step index reset on abort, new AnalysisRuns after a retry,
// the manual-pause duration bookkeeping, evictions for a restart) happens on the next reconcile.
//
// `resume` is a ramp extension: it clears a manual pause (spec.paused) and nothing else, where
// Argo's `promote` also clears pause conditions or skips the current canary step.
//
// Rollouts whose template comes from a workloadRef are refused by Undo and SetImage: the Argo
// client patches the referenced workload there, which is not a change to the Rollout itself.
//
// Nothing here reads the clock: Restart takes `now`.
//
// Thread-safety: stateless functions over plain values; call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "ramp/clock.h"
#include "ramp/status.h"
#include "spec/rollout.h"

namespace ramp::engine {

// The spec and status after a user action. `changed` is false when the client would write
// nothing (or a patch that changes nothing). `event_reason` is the reason of the event that
// follows the action (RolloutPaused, RolloutResumed, RolloutAborted, RolloutRetry,
// RolloutUpdated), empty when none does; Reconcile itself records RolloutAborted and
// RolloutUpdated when it reconciles the change, so a runtime records only the pause, resume and
// retry events (Argo records no retry event; ramp does, for notifications). `message` is what the
// Argo client prints after "rollout '<name>' " ("promoted", "fully promoted", "aborted", "retried",
// "paused", "restarts in 10s", "undo", "image updated"; ramp's resume: "resumed"), or, for an undo
// that is skipped, its whole line "skipped rollback (current template already matches revision N)".
struct ActionResult {
  spec::RolloutSpec spec;
  RolloutStatus status;
  bool changed = false;
  std::string event_reason;
  std::string message;
};

// `promote` without flags (Argo's promote getPatches, reference §2.6, §11 item 14, §11.1 item
// 5): spec.paused → false; then, first match wins:
//  (a) canary whose current step AnalysisRun is Inconclusive, with pause conditions and
//      controllerPause: pause conditions cleared, controllerPause false and the step index moved
//      past the current step (capped at len(steps));
//  (b) any pause conditions (CanaryPauseStep, BlueGreenPause, Inconclusive…): cleared;
//  (c) a canary with steps (mid-step: analysis, setWeight, experiment, …): pause conditions
//      cleared and the step index moved past the current step (capped at len(steps)).
// A blue-green rollout without pause conditions only loses spec.paused. Never an error.
StatusOr<ActionResult> PromoteRollout(const spec::RolloutSpec& spec, const RolloutStatus& status);

// `promote --full`: spec.paused → false; status.promoteFull → true unless currentPodHash equals
// stableRS (already promoted). Never an error.
StatusOr<ActionResult> PromoteRolloutFull(const spec::RolloutSpec& spec,
                                          const RolloutStatus& status);

// The deprecated `promote --skip-current-step` (step index + 1, capped at len(steps)) and
// `--skip-all-steps` (step index = len(steps)); neither touches spec.paused or pause conditions.
// Errors: "Cannot skip steps of a bluegreen rollout. Run without a flags" and "Cannot skip steps
// of a rollout without steps" (InvalidArgument).
StatusOr<ActionResult> PromoteRolloutSkipCurrentStep(const spec::RolloutSpec& spec,
                                                     const RolloutStatus& status);
StatusOr<ActionResult> PromoteRolloutSkipAllSteps(const spec::RolloutSpec& spec,
                                                  const RolloutStatus& status);

// `abort`: status.abort → true. The controller sets abortedAt, the RolloutAborted condition and
// resets the step index when it reconciles. Never an error.
StatusOr<ActionResult> AbortRollout(const spec::RolloutSpec& spec, const RolloutStatus& status);

// `retry rollout`: status.abort → false, nothing else. abortedAt stays set, so the reconcile that
// follows records RolloutRetry, creates fresh AnalysisRuns and runs the steps from the index the
// abort left (0) (§11 item 15, §11.1 item 2). Never an error.
StatusOr<ActionResult> RetryRollout(const spec::RolloutSpec& spec, const RolloutStatus& status);

// `pause`: spec.paused → true. Never an error.
StatusOr<ActionResult> PauseRollout(const spec::RolloutSpec& spec, const RolloutStatus& status);

// `resume` (ramp extension): spec.paused → false and nothing else: pause conditions (a canary
// pause step, a blue-green pause, an inconclusive run), controllerPause and the step index are
// left as they are. FailedPrecondition "rollout is not manually paused" when spec.paused is
// false.
StatusOr<ActionResult> ResumeRollout(const spec::RolloutSpec& spec, const RolloutStatus& status);

// One revision of the rollout: a ReplicaSet's revision annotation and its pod template.
struct RevisionTemplate {
  int64_t revision = 0;
  spec::PodTemplate pod_template;
};

// `undo [--to-revision N]`: the template of revision `to_revision` (0: the revision before the
// newest of `revisions`) replaces spec.template, without its rollouts-pod-template-hash label.
// When the current template already matches it (every field set in the current template equals
// the revision's, the hash label ignored) nothing changes and `message` is "skipped rollback
// (current template already matches revision <to_revision>)". Errors (NotFound): "unable to find
// specified revision N in history", `no revision found for rollout "<rollout_name>"`;
// Unimplemented for a workloadRef rollout.
StatusOr<ActionResult> UndoRollout(const spec::RolloutSpec& spec, const RolloutStatus& status,
                                   std::string_view rollout_name,
                                   const std::vector<RevisionTemplate>& revisions,
                                   int64_t to_revision);

// `restart [--in D]`: spec.restartAt → now + `in`, RFC 3339 in UTC at second precision.
// InvalidArgument when `in` is negative (a restartAt in the past restarts nothing).
StatusOr<ActionResult> RestartRollout(const spec::RolloutSpec& spec, const RolloutStatus& status,
                                      Time now, Duration in);

// `set image CONTAINER=IMAGE`: the image of every init, regular and ephemeral container named
// `container` (every one for "*") in spec.template, in the raw JSON and in the typed containers.
// Errors: InvalidArgument `unable to find container named "<container>"`; Unimplemented for a
// workloadRef rollout.
StatusOr<ActionResult> SetRolloutImage(const spec::RolloutSpec& spec, const RolloutStatus& status,
                                       std::string_view container, std::string_view image);

}  // namespace ramp::engine
