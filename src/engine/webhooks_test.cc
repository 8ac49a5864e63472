// RolloutWebhooks hooks in the engine (docs/manifests.md, "RolloutWebhooks"): each type at the
// point the table "When each type runs" names, on the virtual clock of world_testing.h.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/reconcile.h"
#include "engine/state_codec.h"
#include "engine/world_testing.h"

namespace ramp::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using testing_util::SeenEvent;
using testing_util::Value;
using testing_util::World;

constexpr const char* kCanary = testing_util::kCanaryRollout;

constexpr char kShortCanary[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      containers: [{name: app, image: demo:v1}]
  strategy:
    canary:
      trafficRouting:
        plugins: {ramp/proxy: {listen: ":8080"}}
      steps:
      - setWeight: 50
)";

// A RolloutWebhooks document naming `demo`, with one hook per entry of `hooks` ("name:type").
std::string Hooks(const std::vector<std::string>& hooks, const std::string& extra = "",
                  const std::string& object = "demo-hooks") {
  std::string y =
      "---\napiVersion: ramp.dev/v1alpha1\nkind: RolloutWebhooks\nmetadata: {name: " + object +
      ", namespace: default}\nspec:\n  rolloutRef: {name: demo}\n" + extra + "  webhooks:\n";
  for (const std::string& h : hooks) {
    const std::string name = h.substr(0, h.find(':'));
    const std::string type = h.substr(h.find(':') + 1);
    y += "  - {name: " + name + ", type: " + type + ", url: \"http://hooks.test/" + name +
         "\", metadata: {k: v}}\n";
  }
  return y;
}

HookResult Allow() { return HookResult{HookVerdict::kAllowed, "", 200, 1}; }
HookResult Deny(std::string why = "closed") {
  return HookResult{HookVerdict::kDenied, std::move(why), 403, 1};
}

// A world that records when each call was made.
struct Recorder {
  std::vector<int64_t> times;
  std::function<HookResult(const HookCall&, int64_t)> answer;
  std::function<HookResult(const HookCall&, int64_t)> Wrap() {
    return [this](const HookCall& c, int64_t t) {
      times.push_back(t);
      return answer(c, t);
    };
  }
};

void Promote(World& w) {
  auto promoted = PromoteRollout(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(promoted.has_value());
  w.Apply(*promoted);
}

TEST(RolloutWebhooksEngine, ConfirmRolloutHoldsInstanceCreation) {
  World w(std::string(kCanary) + Hooks({"approve:confirm-rollout"}, "  interval: 30s\n"));
  w.Deploy();
  const std::string h1 = w.state_.status.stable_rs;
  Recorder rec;
  rec.answer = [](const HookCall&, int64_t t) { return t >= 60 ? Allow() : Deny(); };
  w.hooks = rec.Wrap();
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(50));
  const std::string h2 = w.state_.status.current_pod_hash;
  ASSERT_NE(h1, h2);
  EXPECT_EQ(w.Pods(h2), 0);
  EXPECT_EQ(w.Pods(h1), 10);
  EXPECT_EQ(w.state_.status.phase, "Progressing");
  EXPECT_EQ(w.state_.status.message, "waiting for confirm-rollout");
  EXPECT_THAT(w.weights_set_, IsEmpty());
  EXPECT_EQ(w.state_.status.current_step_index, 0);
  EXPECT_EQ(w.FindEvent("ScalingReplicaSet", "Scaled up ReplicaSet demo-" + h2), nullptr);
  EXPECT_THAT(rec.times, ElementsAre(0, 30));
  ASSERT_FALSE(w.calls_.empty());
  EXPECT_EQ(w.calls_[0].call.phase, "Progressing");
  EXPECT_EQ(w.calls_[0].call.checksum, h2);
  EXPECT_EQ(w.calls_[0].call.url, "http://hooks.test/approve");
  EXPECT_EQ(w.calls_[0].call.metadata.at("k"), "v");
  EXPECT_EQ(w.calls_[0].call.target.name, "demo");
  // Opened at 60 s: the update starts and reaches the indefinite pause.
  w.RunFor(std::chrono::seconds(60));
  EXPECT_THAT(rec.times, ElementsAre(0, 30, 60));
  EXPECT_EQ(w.Pods(h2), 2);
  EXPECT_EQ(w.state_.status.phase, "Paused");
  EXPECT_EQ(w.state_.status.current_step_index, 1);
  EXPECT_THAT(w.weights_set_, ElementsAre(20));
  const SeenEvent* up = w.FindEvent("ScalingReplicaSet", "Scaled up ReplicaSet demo-" + h2);
  ASSERT_NE(up, nullptr);
  EXPECT_EQ(up->t, 60);
  // Not called again in this update.
  w.RunFor(std::chrono::minutes(3));
  EXPECT_EQ(rec.times.size(), 3u);
}

TEST(RolloutWebhooksEngine, ConfirmRolloutIsNotAskedOnTheFirstDeploy) {
  World w(std::string(kCanary) + Hooks({"approve:confirm-rollout"}));
  w.hooks = [](const HookCall&, int64_t) { return Deny(); };
  w.Deploy();
  EXPECT_EQ(w.state_.status.phase, "Healthy");
  EXPECT_TRUE(w.calls_.empty());
}

TEST(RolloutWebhooksEngine, PreRolloutRunsBeforeTheFirstTrafficStep) {
  World w(std::string(kCanary) + Hooks({"load:pre-rollout"}));
  w.Deploy();
  w.ready_after_ = std::chrono::seconds(5);
  Recorder rec;
  rec.answer = [](const HookCall&, int64_t) { return Allow(); };
  w.hooks = rec.Wrap();
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(1));
  // Called once the first step's instances are available (5 s), then the weight moves.
  EXPECT_THAT(rec.times, ElementsAre(5));
  EXPECT_THAT(w.weights_set_, ElementsAre(20));
  EXPECT_EQ(w.state_.status.phase, "Paused");
  ASSERT_EQ(w.calls_.size(), 1u);
  EXPECT_EQ(w.calls_[0].call.type, HookType::kPreRollout);
  EXPECT_EQ(w.calls_[0].call.phase, "Progressing");
  EXPECT_EQ(w.calls_[0].call.checksum, w.state_.status.current_pod_hash);
  // Once per update.
  Promote(w);
  w.RunFor(std::chrono::minutes(3));
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  EXPECT_EQ(rec.times.size(), 1u);
}

TEST(RolloutWebhooksEngine, PreRolloutFailingThresholdTimesAborts) {
  World w(std::string(kCanary) + Hooks({"load:pre-rollout"}, "  interval: 30s\n  threshold: 2\n"));
  w.Deploy();
  const std::string h1 = w.state_.status.stable_rs;
  Recorder rec;
  rec.answer = [](const HookCall&, int64_t) { return Deny("load test failed"); };
  w.hooks = rec.Wrap();
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(3));
  EXPECT_THAT(rec.times, ElementsAre(0, 30));
  const RolloutStatus& s = w.state_.status;
  EXPECT_TRUE(s.abort);
  EXPECT_EQ(s.phase, "Degraded");
  const RolloutCondition* p = GetCondition(s, condition_type::kProgressing);
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(p->message, HasSubstr("pre-rollout webhook load failed: load test failed"));
  // The first failure was only a warning; no traffic ever reached the canary.
  const SeenEvent* warn = w.FindEvent("WebhookFailed", "1 of 2");
  ASSERT_NE(warn, nullptr);
  EXPECT_EQ(warn->t, 0);
  for (int32_t weight : w.weights_set_) EXPECT_EQ(weight, 0);
  EXPECT_EQ(w.Pods(h1), 10);
}

TEST(RolloutWebhooksEngine, RolloutHooksAreCalledEveryInterval) {
  World w(std::string(kCanary) + Hooks({"check:rollout"}, "  interval: 30s\n"));
  w.Deploy();
  Recorder rec;
  rec.answer = [](const HookCall&, int64_t) { return Allow(); };
  w.hooks = rec.Wrap();
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(100));
  // Progressing, then Paused at the indefinite pause: called all along.
  EXPECT_EQ(w.state_.status.phase, "Paused");
  EXPECT_THAT(rec.times, ElementsAre(0, 30, 60, 90));
  EXPECT_EQ(w.calls_[0].call.phase, "Progressing");
  // Not after the update completed.
  Promote(w);
  w.RunFor(std::chrono::minutes(5));
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  const size_t n = rec.times.size();
  w.RunFor(std::chrono::minutes(5));
  EXPECT_EQ(rec.times.size(), n);
}

TEST(RolloutWebhooksEngine, FailingRolloutHooksAbortAtThreshold) {
  World w(std::string(kCanary) + Hooks({"check:rollout"}, "  interval: 30s\n  threshold: 3\n"));
  w.Deploy();
  Recorder rec;
  rec.answer = [](const HookCall&, int64_t) { return Deny("error rate 7%"); };
  w.hooks = rec.Wrap();
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(5));
  EXPECT_THAT(rec.times, ElementsAre(0, 30, 60));
  EXPECT_TRUE(w.state_.status.abort);
  const RolloutCondition* p = GetCondition(w.state_.status, condition_type::kProgressing);
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(p->message, HasSubstr("rollout webhook check failed: error rate 7%"));
}

TEST(RolloutWebhooksEngine, ConfirmTrafficIncreaseHoldsTheWeight) {
  World w(std::string(kCanary) + Hooks({"more:confirm-traffic-increase"}, "  interval: 20s\n"));
  w.Deploy();
  Recorder rec;
  rec.answer = [](const HookCall&, int64_t t) { return t >= 40 ? Allow() : Deny(); };
  w.hooks = rec.Wrap();
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(30));
  const std::string h2 = w.state_.status.current_pod_hash;
  EXPECT_EQ(w.state_.status.phase, "Progressing");
  EXPECT_EQ(w.state_.status.message, "waiting for confirm-traffic-increase");
  EXPECT_EQ(w.state_.status.current_step_index, 0);
  for (int32_t weight : w.weights_set_) EXPECT_EQ(weight, 0);
  EXPECT_EQ(w.Pods(h2), 2);  // the step's instances exist; traffic waits
  w.RunFor(std::chrono::seconds(30));
  EXPECT_THAT(rec.times, ElementsAre(0, 20, 40));
  EXPECT_EQ(w.state_.status.phase, "Paused");
  EXPECT_EQ(w.state_.status.canary.weights->canary.weight, 20);
  // promote: setWeight 50 raises the weight again, so the gate is asked again (now open).
  Promote(w);
  w.RunFor(std::chrono::seconds(10));
  EXPECT_EQ(rec.times.size(), 4u);
  EXPECT_EQ(w.state_.status.canary.weights->canary.weight, 50);
  w.RunFor(std::chrono::minutes(3));
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  EXPECT_EQ(rec.times.size(), 4u);
}

TEST(RolloutWebhooksEngine, ConfirmPromotionWaitsWithAnalysisGoingOn) {
  World w(std::string(kShortCanary) + Hooks({"ship:confirm-promotion"}, "  interval: 25s\n"));
  w.Deploy();
  Recorder rec;
  rec.answer = [](const HookCall&, int64_t t) { return t >= 100 ? Allow() : Deny(); };
  w.hooks = rec.Wrap();
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(90));
  const RolloutStatus& s = w.state_.status;
  EXPECT_EQ(s.phase, "Progressing");
  EXPECT_EQ(s.message, "waiting for confirm-promotion");
  EXPECT_EQ(s.current_step_index, 1);
  EXPECT_NE(s.stable_rs, s.current_pod_hash);
  EXPECT_EQ(s.canary.weights->canary.weight, 50);  // not 100 while the gate is closed
  EXPECT_THAT(rec.times, ElementsAre(0, 25, 50, 75));
  w.RunFor(std::chrono::minutes(2));
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  EXPECT_EQ(w.state_.status.stable_rs, w.state_.status.current_pod_hash);
  EXPECT_THAT(rec.times, ElementsAre(0, 25, 50, 75, 100));
}

TEST(RolloutWebhooksEngine, PromoteFullEndsAGateWait) {
  World w(std::string(kShortCanary) + Hooks({"ship:confirm-promotion"}));
  w.Deploy();
  w.hooks = [](const HookCall&, int64_t) { return Deny(); };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(30));
  EXPECT_EQ(w.state_.status.message, "waiting for confirm-promotion");
  auto full = PromoteRolloutFull(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(full.has_value());
  w.Apply(*full);
  w.RunFor(std::chrono::minutes(2));
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
}

TEST(RolloutWebhooksEngine, AbortEndsAGateWait) {
  World w(std::string(kShortCanary) + Hooks({"ship:confirm-promotion"}));
  w.Deploy();
  w.hooks = [](const HookCall&, int64_t) { return Deny(); };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(30));
  auto aborted = AbortRollout(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(aborted.has_value());
  w.Apply(*aborted);
  w.RunFor(std::chrono::minutes(2));
  EXPECT_EQ(w.state_.status.phase, "Degraded");
  const size_t n = w.calls_.size();
  w.RunFor(std::chrono::minutes(5));
  EXPECT_EQ(w.calls_.size(), n);  // a closed gate of an aborted update is not asked again
}

TEST(RolloutWebhooksEngine, RollbackHookAllowedAbortsAtOnce) {
  World w(std::string(kCanary) + Hooks({"rb:rollback"}, "  interval: 30s\n"));
  w.Deploy();
  Recorder rec;
  rec.answer = [](const HookCall&, int64_t t) { return t >= 60 ? Allow() : Deny("no"); };
  w.hooks = rec.Wrap();
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(45));
  EXPECT_FALSE(w.state_.status.abort);
  w.RunFor(std::chrono::minutes(2));
  EXPECT_THAT(rec.times, ElementsAre(0, 30, 60));
  EXPECT_TRUE(w.state_.status.abort);
  EXPECT_EQ(w.state_.status.phase, "Degraded");
  const SeenEvent* aborted = w.FindEvent("RolloutAborted", "rollback webhook rb");
  ASSERT_NE(aborted, nullptr);
  EXPECT_EQ(aborted->t, 60);
}

TEST(RolloutWebhooksEngine, RollbackHooksFirstSuccessWins) {
  World w(std::string(kCanary) + Hooks({"a:rollback", "b:rollback", "c:rollback"}));
  w.Deploy();
  std::vector<std::string> called;
  w.hooks = [&](const HookCall& c, int64_t) {
    called.push_back(c.name);
    return c.name == "b" ? Allow() : Deny();
  };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(10));
  EXPECT_THAT(called, ElementsAre("a", "b"));
  EXPECT_TRUE(w.state_.status.abort);
}

TEST(RolloutWebhooksEngine, HooksOfATypeRunInOrderAndTheFirstFailureStopsTheRest) {
  // Two objects: "a-hooks" before "demo-hooks" by name.
  World w(std::string(kCanary) +
          Hooks({"second:pre-rollout", "third:pre-rollout"}, "  threshold: 5\n") +
          Hooks({"first:pre-rollout"}, "", "a-hooks"));
  w.Deploy();
  std::vector<std::string> called;
  w.hooks = [&](const HookCall& c, int64_t t) {
    called.push_back(c.name);
    return c.name == "second" && t < 60 ? Deny() : Allow();
  };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(30));
  EXPECT_THAT(called, ElementsAre("first", "second"));
  EXPECT_THAT(w.weights_set_, IsEmpty());
  w.RunFor(std::chrono::seconds(60));
  EXPECT_THAT(called, ElementsAre("first", "second", "first", "second", "third"));
  EXPECT_THAT(w.weights_set_, ElementsAre(20));
}

TEST(RolloutWebhooksEngine, PostRolloutAfterPromotion) {
  World w(std::string(kShortCanary) + Hooks({"done:post-rollout"}));
  w.Deploy();
  std::vector<std::string> phases;
  w.hooks = [&](const HookCall& c, int64_t) {
    phases.push_back(c.phase);
    return Allow();
  };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(3));
  EXPECT_EQ(w.state_.status.phase, "Healthy");
  EXPECT_THAT(phases, ElementsAre("Healthy"));
  EXPECT_NE(w.FindEvent("WebhookSucceeded"), nullptr);
  EXPECT_EQ(w.state_.hooks.ended, "Healthy");
  w.RunFor(std::chrono::minutes(3));
  EXPECT_EQ(phases.size(), 1u);
}

TEST(RolloutWebhooksEngine, PostRolloutAfterAbortAndItsFailureIsAWarning) {
  World w(std::string(kCanary) + Hooks({"done:post-rollout"}));
  w.Deploy();
  std::vector<std::string> phases;
  w.hooks = [&](const HookCall& c, int64_t) {
    phases.push_back(c.phase);
    return Deny("receiver down");
  };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(1));
  EXPECT_THAT(phases, IsEmpty());
  auto aborted = AbortRollout(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(aborted.has_value());
  w.Apply(*aborted);
  w.RunFor(std::chrono::minutes(1));
  EXPECT_EQ(w.state_.status.phase, "Degraded");
  EXPECT_THAT(phases, ElementsAre("Degraded"));
  const SeenEvent* warn = w.FindEvent("WebhookFailed", "post-rollout webhook done failed");
  ASSERT_NE(warn, nullptr);
  EXPECT_THAT(warn->message, HasSubstr("receiver down"));
}

TEST(RolloutWebhooksEngine, EventHooksGetEveryEvent) {
  World w(std::string(kShortCanary) + Hooks({"audit:event"}));
  w.Deploy();
  w.calls_.clear();
  w.all_intents_.clear();
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(3));
  EXPECT_EQ(w.state_.status.phase, "Healthy");
  std::vector<std::string> emitted;
  for (const Intent& i : w.all_intents_) {
    if (const auto* e = std::get_if<EmitEvent>(&i)) emitted.push_back(e->message);
  }
  std::vector<std::string> posted;
  for (const CallHook& c : w.calls_) {
    ASSERT_EQ(c.call.type, HookType::kEvent);
    EXPECT_EQ(c.call.metadata.at("k"), "v");
    EXPECT_FALSE(c.call.metadata.at("timestamp").empty());
    EXPECT_TRUE(c.call.metadata.at("eventType") == "Normal" ||
                c.call.metadata.at("eventType") == "Warning");
    posted.push_back(c.call.metadata.at("eventMessage"));
  }
  EXPECT_FALSE(emitted.empty());
  EXPECT_EQ(posted, emitted);
  // Ids are unique.
  std::set<std::string> ids;
  for (const CallHook& c : w.calls_) ids.insert(c.id);
  EXPECT_EQ(ids.size(), w.calls_.size());
}

constexpr char kBlueGreen[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      containers: [{name: app, image: demo:v1}]
  strategy:
    blueGreen:
      activeService: demo-active
      previewService: demo-preview
      prePromotionAnalysis:
        templates: [{templateName: smoke}]
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke}
spec:
  metrics:
  - name: smoke
    successCondition: result[0] > 0
    provider:
      prometheus: {address: "http://prom:9090", query: "x"}
)";

TEST(RolloutWebhooksEngine, BlueGreenGates) {
  World w(std::string(kBlueGreen) + Hooks({"load:pre-rollout", "ship:confirm-promotion"},
                                          "  interval: 20s\n  threshold: 5\n"));
  w.metrics = [](const std::string&, int64_t) { return Value(1); };
  w.Deploy();
  const std::string h1 = w.state_.status.stable_rs;
  w.ready_after_ = std::chrono::seconds(5);
  std::vector<std::pair<std::string, int64_t>> called;
  w.hooks = [&](const HookCall& c, int64_t t) {
    called.emplace_back(c.name, t);
    if (c.type == HookType::kPreRollout) return t >= 25 ? Allow() : Deny("warming up");
    return t >= 60 ? Allow() : Deny();
  };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(20));
  const std::string h2 = w.state_.status.current_pod_hash;
  EXPECT_EQ(w.Pods(h2), 3);
  EXPECT_FALSE(w.state_.status.blue_green.pre_promotion_analysis_run_status.has_value());
  EXPECT_EQ(w.state_.status.blue_green.active_selector, h1);
  // Pre-rollout at 5 s (instances ready), again at 25 s: passes; then the analysis, then the
  // gate until 60 s, then the switch.
  w.RunFor(std::chrono::seconds(30));
  EXPECT_TRUE(w.state_.status.blue_green.pre_promotion_analysis_run_status.has_value());
  EXPECT_EQ(w.state_.status.blue_green.active_selector, h1);
  EXPECT_EQ(w.state_.status.message, "waiting for confirm-promotion");
  w.RunFor(std::chrono::minutes(2));
  EXPECT_EQ(w.state_.status.blue_green.active_selector, h2);
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  ASSERT_GE(called.size(), 3u);
  EXPECT_EQ(called[0], std::make_pair(std::string("load"), int64_t{5}));
  EXPECT_EQ(called[1], std::make_pair(std::string("load"), int64_t{25}));
  EXPECT_EQ(called[2], std::make_pair(std::string("ship"), int64_t{25}));
  EXPECT_EQ(called.back(), std::make_pair(std::string("ship"), int64_t{65}));
}

TEST(RolloutWebhooksEngine, RetryAfterAnAbortRunsTheHooksAgain) {
  World w(std::string(kCanary) + Hooks({"load:pre-rollout"}));
  w.Deploy();
  bool allow = false;
  std::vector<int64_t> times;
  w.hooks = [&](const HookCall&, int64_t t) {
    times.push_back(t);
    return allow ? Allow() : Deny("not yet");
  };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(40));
  EXPECT_TRUE(w.state_.status.abort);  // threshold 1
  EXPECT_EQ(w.state_.hooks.ended, "Degraded");
  allow = true;
  auto retried = RetryRollout(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(retried.has_value());
  w.Apply(*retried);
  w.RunFor(std::chrono::minutes(1));
  EXPECT_FALSE(w.state_.status.abort);
  EXPECT_EQ(w.state_.status.phase, "Paused") << w.state_.status.message;
  EXPECT_EQ(w.state_.status.canary.weights->canary.weight, 20);
  EXPECT_EQ(times.size(), 2u);
  EXPECT_TRUE(w.state_.hooks.ended.empty());
}

TEST(RolloutWebhooksEngine, PromoteFullEndsConfirmRollout) {
  World w(std::string(kCanary) + Hooks({"approve:confirm-rollout", "check:rollout"}));
  w.Deploy();
  w.SetImage("demo:v2");
  w.hooks = [](const HookCall& c, int64_t) {
    return c.type == HookType::kConfirmRollout ? Deny() : Allow();
  };
  w.RunFor(std::chrono::seconds(30));
  EXPECT_EQ(w.state_.status.message, "waiting for confirm-rollout");
  // Promote --full ends the wait.
  auto full = PromoteRolloutFull(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(full.has_value());
  w.Apply(*full);
  w.RunFor(std::chrono::minutes(2));
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
}

TEST(RolloutWebhooksEngine, HooksOfAnotherRolloutChangeNothing) {
  std::string other = Hooks({"a:confirm-rollout", "b:rollout", "c:event"});
  other.replace(other.find("rolloutRef: {name: demo}"), 24, "rolloutRef: {name: cart}");
  World plain(kCanary);
  World with(std::string(kCanary) + other);
  for (World* w : {&plain, &with}) {
    w->Deploy();
    w->SetImage("demo:v2");
    w->RunFor(std::chrono::minutes(1));
    Promote(*w);
    w->RunFor(std::chrono::minutes(3));
  }
  EXPECT_TRUE(with.calls_.empty());
  EXPECT_EQ(plain.all_intents_, with.all_intents_);
  EXPECT_EQ(EncodeRolloutState(plain.state_), EncodeRolloutState(with.state_));
  EXPECT_FALSE(EncodeRolloutState(plain.state_).contains("hooks"));
}

TEST(RolloutWebhooksEngine, EmptyListBehavesAsNoHooks) {
  World w(kCanary);
  w.Deploy();
  w.SetImage("demo:v2");
  RolloutState state = w.state_;
  ReconcileContext a;
  a.rollout = &w.rollout_;
  std::vector<spec::AttachedWebhook> none;
  ReconcileContext b = a;
  b.webhooks = &none;
  Observed obs;
  obs.revisions = std::vector<RevisionStatus>{};
  ReconcileResult ra = Reconcile(a, state, obs, testing_util::kT0);
  ReconcileResult rb = Reconcile(b, state, obs, testing_util::kT0);
  EXPECT_EQ(ra.intents, rb.intents);
  EXPECT_EQ(EncodeRolloutState(ra.state), EncodeRolloutState(rb.state));
  EXPECT_EQ(ra.wake_at, rb.wake_at);
}

TEST(RolloutWebhooksEngine, StateCodecRoundTripsHookProgress) {
  World w(std::string(kCanary) + Hooks({"approve:confirm-rollout", "check:rollout"}));
  w.Deploy();
  w.hooks = [](const HookCall&, int64_t) { return Deny(); };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(10));
  ASSERT_FALSE(w.state_.hooks.rounds.empty());
  w.state_.hooks.failed_checks["demo-hooks"] = 2;
  w.state_.hooks.passed.push_back("pre-rollout");
  w.state_.hooks.rounds[0].awaiting = "hooks/x/confirm-rollout/approve/7";
  w.state_.hooks.rounds[0].called_at = testing_util::kT0 + std::chrono::milliseconds(1500);
  const nlohmann::json j = EncodeRolloutState(w.state_);
  ASSERT_TRUE(j.contains("hooks"));
  StatusOr<RolloutState> back = DecodeRolloutState(j);
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(back->hooks, w.state_.hooks);
  EXPECT_EQ(EncodeRolloutState(*back), j);

  // A state written before the field existed decodes to no progress.
  nlohmann::json old = j;
  old.erase("hooks");
  StatusOr<RolloutState> legacy = DecodeRolloutState(old);
  ASSERT_TRUE(legacy.has_value()) << legacy.error().message();
  EXPECT_EQ(legacy->hooks, HookProgress{});

  nlohmann::json bad = j;
  bad["hooks"]["rounds"][0]["next"] = "one";
  bad["hooks"]["bogus"] = 1;
  StatusOr<RolloutState> refused = DecodeRolloutState(bad);
  ASSERT_FALSE(refused.has_value());
  EXPECT_THAT(refused.error().message(), HasSubstr("hooks.rounds[0].next"));
  EXPECT_THAT(refused.error().message(), HasSubstr("hooks.bogus"));
}

TEST(RolloutWebhooksEngine, CallIdsAreUniqueAndDeterministic) {
  auto run = [] {
    World w(std::string(kCanary) + Hooks({"check:rollout", "rb:rollback"}, "  interval: 10s\n"));
    w.Deploy();
    w.hooks = [](const HookCall& c, int64_t) {
      return c.type == HookType::kRollback ? Deny() : Allow();
    };
    w.SetImage("demo:v2");
    w.RunFor(std::chrono::minutes(2));
    std::vector<std::string> ids;
    for (const CallHook& c : w.calls_) ids.push_back(c.id);
    return ids;
  };
  std::vector<std::string> a = run();
  EXPECT_EQ(a, run());
  std::set<std::string> unique(a.begin(), a.end());
  EXPECT_EQ(unique.size(), a.size());
  EXPECT_GT(a.size(), 10u);
}

}  // namespace
}  // namespace ramp::engine
