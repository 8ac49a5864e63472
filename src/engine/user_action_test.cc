#include "engine/user_action.h"

#include <chrono>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/phase.h"

namespace ramp::engine {
namespace {

using nlohmann::json;

const Time kNow = FromUnixNanos(int64_t{1714557600} * 1'000'000'000);

spec::Rollout CanaryRollout() {
  spec::Rollout r;
  r.metadata.name = "shop";
  r.metadata.generation = 3;
  r.spec.template_.empty = false;
  r.spec.template_.raw = {
      {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "shop:1"}}})}}}};
  spec::Container app;
  app.name = "app";
  app.image = "shop:1";
  r.spec.template_.containers = {app};
  spec::CanaryStrategy canary;
  spec::CanaryStep pause;
  pause.pause = spec::RolloutPause{};
  canary.steps = {pause};
  r.spec.canary = canary;
  return r;
}

TEST(UserActionKindTest, NamesRoundTrip) {
  for (const std::string& name : UserActionKindNames()) {
    std::optional<UserActionKind> kind = ParseUserActionKind(name);
    ASSERT_TRUE(kind.has_value()) << name;
    EXPECT_EQ(UserActionKindName(*kind), name);
  }
  EXPECT_FALSE(ParseUserActionKind("promote-all").has_value());
  EXPECT_EQ(ParseUserActionKind("set-image"), UserActionKind::kSetImage);
}

TEST(ApplyUserActionTest, PromoteOfAPausedStepRecordsResumed) {
  RolloutState state;
  PauseCondition pc;
  pc.reason = std::string(pause_reason::kCanaryPauseStep);
  pc.start_time = kNow;
  state.status.pause_conditions = {pc};
  state.status.current_step_index = 0;
  auto applied = ApplyUserAction({UserActionKind::kPromote}, CanaryRollout(), state, kNow);
  ASSERT_TRUE(applied.has_value()) << applied.error().message();
  EXPECT_TRUE(applied->status.pause_conditions.empty());
  ASSERT_EQ(applied->events.size(), 1u);
  EXPECT_EQ(applied->events[0].reason, reason::kRolloutResumed);
  // Promote only changes the status: the spec and its generation stay.
  EXPECT_EQ(applied->rollout.metadata.generation, 3);
}

TEST(ApplyUserActionTest, PauseChangesTheSpecAndBumpsTheGeneration) {
  auto applied = ApplyUserAction({UserActionKind::kPause}, CanaryRollout(), RolloutState{}, kNow);
  ASSERT_TRUE(applied.has_value());
  EXPECT_TRUE(applied->rollout.spec.paused);
  EXPECT_EQ(applied->rollout.metadata.generation, 4);
  ASSERT_EQ(applied->events.size(), 1u);
  EXPECT_EQ(applied->events[0].reason, reason::kRolloutPaused);
}

TEST(ApplyUserActionTest, SetImageChangesTheTemplate) {
  UserAction a;
  a.kind = UserActionKind::kSetImage;
  a.container = "app";
  a.image = "shop:2";
  auto applied = ApplyUserAction(a, CanaryRollout(), RolloutState{}, kNow);
  ASSERT_TRUE(applied.has_value());
  EXPECT_EQ(applied->rollout.spec.template_.containers[0].image, "shop:2");
  EXPECT_EQ(applied->rollout.spec.template_.raw["spec"]["containers"][0]["image"], "shop:2");
  EXPECT_EQ(applied->rollout.metadata.generation, 4);
  EXPECT_TRUE(applied->events.empty());
}

TEST(ApplyUserActionTest, RetryAfterAbortRecordsRetry) {
  RolloutState state;
  state.status.abort = true;
  auto applied = ApplyUserAction({UserActionKind::kRetry}, CanaryRollout(), state, kNow);
  ASSERT_TRUE(applied.has_value());
  EXPECT_FALSE(applied->status.abort);
  ASSERT_EQ(applied->events.size(), 1u);
  EXPECT_EQ(applied->events[0].reason, reason::kRolloutRetry);
}

TEST(ApplyUserActionTest, ErrorsComeBackAsValues) {
  UserAction a;
  a.kind = UserActionKind::kSetImage;
  a.container = "nope";
  a.image = "x";
  auto applied = ApplyUserAction(a, CanaryRollout(), RolloutState{}, kNow);
  ASSERT_FALSE(applied.has_value());
  EXPECT_NE(applied.error().message().find("nope"), std::string::npos);
  auto resume = ApplyUserAction({UserActionKind::kResume}, CanaryRollout(), RolloutState{}, kNow);
  ASSERT_FALSE(resume.has_value());
  EXPECT_EQ(resume.error().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace ramp::engine
