#include "engine/user_action.h"

#include <algorithm>
#include <utility>

#include "engine/phase.h"

namespace ramp::engine {

const std::vector<std::string>& UserActionKindNames() {
  static const std::vector<std::string> names = {"promote", "promote-full", "abort",
                                                 "retry",   "pause",        "resume",
                                                 "restart", "undo",         "set-image"};
  return names;
}

std::string_view UserActionKindName(UserActionKind kind) {
  return UserActionKindNames()[static_cast<size_t>(kind)];
}

std::optional<UserActionKind> ParseUserActionKind(std::string_view name) {
  const auto& names = UserActionKindNames();
  auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) return std::nullopt;
  return static_cast<UserActionKind>(it - names.begin());
}

StatusOr<AppliedUserAction> ApplyUserAction(const UserAction& action, const spec::Rollout& rollout,
                                            const RolloutState& state, Time now) {
  const spec::RolloutSpec& spec = rollout.spec;
  const RolloutStatus& status = state.status;
  StatusOr<ActionResult> result;
  switch (action.kind) {
    case UserActionKind::kPromote:
      result = PromoteRollout(spec, status);
      break;
    case UserActionKind::kPromoteFull:
      result = PromoteRolloutFull(spec, status);
      break;
    case UserActionKind::kAbort:
      result = AbortRollout(spec, status);
      break;
    case UserActionKind::kRetry:
      result = RetryRollout(spec, status);
      break;
    case UserActionKind::kPause:
      result = PauseRollout(spec, status);
      break;
    case UserActionKind::kResume:
      result = ResumeRollout(spec, status);
      break;
    case UserActionKind::kRestart:
      result = RestartRollout(spec, status, now, action.restart_in);
      break;
    case UserActionKind::kUndo:
      result = UndoRollout(spec, status, rollout.metadata.name, RevisionTemplates(state),
                           action.to_revision);
      break;
    case UserActionKind::kSetImage:
      result = SetRolloutImage(spec, status, action.container, action.image);
      break;
  }
  if (!result) return Fail(result.error());

  AppliedUserAction out;
  out.rollout = rollout;
  out.changed = result->changed;
  out.message = result->message;
  const bool paused_before = spec.paused || !status.pause_conditions.empty();
  const bool paused_after = result->spec.paused || !result->status.pause_conditions.empty();
  if (paused_before != paused_after) {
    out.events.push_back(
        EmitEvent{std::string(paused_after ? reason::kRolloutPaused : reason::kRolloutResumed),
                  std::string(paused_after ? condition_message::kRolloutPaused
                                           : condition_message::kRolloutResumed),
                  EventType::kNormal});
  } else if (result->event_reason == reason::kRolloutRetry) {
    out.events.push_back(EmitEvent{std::string(reason::kRolloutRetry),
                                   std::string(condition_message::kRolloutRetry),
                                   EventType::kNormal});
  }
  const spec::RolloutSpec& old = rollout.spec;
  const bool spec_changed = result->spec.template_.raw != old.template_.raw ||
                            result->spec.paused != old.paused ||
                            result->spec.restart_at != old.restart_at;
  if (spec_changed) {
    out.rollout.metadata.generation = rollout.metadata.generation.value_or(1) + 1;
  }
  out.rollout.spec = std::move(result->spec);
  out.status = std::move(result->status);
  return out;
}

}  // namespace ramp::engine
