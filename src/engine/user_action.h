// User actions as one value: what `kubectl argo rollouts` verbs do to a Rollout (promote, abort,
// retry, pause, resume, restart, undo, set image), applied to a rollout and its engine state.
// The daemon (an API call), `ramp simulate` (a scenario action) and tests apply them through
// ApplyUserAction, so every caller records the same spec/status change and the same events.
//
// Thread-safety: pure functions over values; call from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/actions.h"
#include "engine/reconcile.h"
#include "engine/types.h"
#include "ramp/clock.h"
#include "ramp/status.h"
#include "spec/rollout.h"

namespace ramp::engine {

enum class UserActionKind {
  kPromote,
  kPromoteFull,
  kAbort,
  kRetry,
  kPause,
  kResume,
  kRestart,
  kUndo,
  kSetImage,
};

// "promote", "promote-full", "abort", "retry", "pause", "resume", "restart", "undo",
// "set-image".
std::string_view UserActionKindName(UserActionKind kind);

// Every spelling of UserActionKindName, in enum order.
const std::vector<std::string>& UserActionKindNames();

// The kind spelled `name`, or nullopt.
std::optional<UserActionKind> ParseUserActionKind(std::string_view name);

struct UserAction {
  UserActionKind kind = UserActionKind::kPromote;
  int64_t to_revision = 0;                 // undo; 0: the revision before the newest
  std::string container = "*";             // set-image: the container name, "*" for every container
  std::string image;                       // set-image
  Duration restart_in = Duration::zero();  // restart: restartAt = now + restart_in
};

// The rollout and status after an action, and the events the caller records for it.
struct AppliedUserAction {
  spec::Rollout rollout;  // spec changed as the action patches it; generation bumped when so
  RolloutStatus status;
  bool changed = false;
  std::string message;  // what the CLI prints after "rollout '<name>' "
  // RolloutPaused / RolloutResumed when the action itself changes whether the rollout is paused
  // (spec.paused, or pause conditions the patch clears), RolloutRetry for a retry. Reconcile
  // records RolloutAborted and RolloutUpdated itself when it reconciles the change.
  std::vector<EmitEvent> events;
};

// Applies `action` to `rollout` with `state` at `now`. The errors of actions.h (an unknown
// container, an undo to a revision that does not exist, …).
StatusOr<AppliedUserAction> ApplyUserAction(const UserAction& action, const spec::Rollout& rollout,
                                            const RolloutState& state, Time now);

}  // namespace ramp::engine
