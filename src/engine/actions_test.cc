#include "engine/actions.h"

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace ramp::engine {
namespace {

using nlohmann::json;

constexpr int64_t kBase = 1714557600;  // 2024-05-01T10:00:00Z

Time At(int64_t seconds_after_base) {
  return FromUnixNanos((kBase + seconds_after_base) * 1'000'000'000);
}

spec::CanaryStep WeightStep(int32_t weight) {
  spec::CanaryStep s;
  s.set_weight = weight;
  return s;
}

spec::CanaryStep PauseStep() {
  spec::CanaryStep s;
  s.pause = spec::RolloutPause{};
  return s;
}

spec::CanaryStep AnalysisStep() {
  spec::CanaryStep s;
  s.analysis = spec::RolloutAnalysis{};
  return s;
}

spec::PodTemplate Template(const std::string& image, const std::string& hash = "") {
  spec::PodTemplate t;
  t.empty = false;
  t.metadata.labels["app"] = "shop";
  t.raw = {{"metadata", {{"labels", {{"app", "shop"}}}}},
           {"spec",
            {{"initContainers", json::array({{{"name", "init"}, {"image", "busybox:1"}}})},
             {"containers", json::array({{{"name", "app"}, {"image", image}},
                                         {{"name", "sidecar"}, {"image", "envoy:1"}}})}}}};
  if (!hash.empty()) {
    t.metadata.labels["rollouts-pod-template-hash"] = hash;
    t.raw["metadata"]["labels"]["rollouts-pod-template-hash"] = hash;
  }
  spec::Container app;
  app.name = "app";
  app.image = image;
  spec::Container sidecar;
  sidecar.name = "sidecar";
  sidecar.image = "envoy:1";
  t.containers = {app, sidecar};
  return t;
}

// Canary [setWeight 20, pause {}, analysis, setWeight 50], template at app:2, stable at h1.
spec::RolloutSpec CanarySpec() {
  spec::RolloutSpec s;
  s.replicas = 5;
  s.template_ = Template("app:2");
  s.canary = spec::CanaryStrategy{};
  s.canary->steps = {WeightStep(20), PauseStep(), AnalysisStep(), WeightStep(50)};
  return s;
}

spec::RolloutSpec BlueGreenSpec() {
  spec::RolloutSpec s;
  s.replicas = 3;
  s.template_ = Template("app:2");
  s.blue_green = spec::BlueGreenStrategy{};
  s.blue_green->active_service = "shop-active";
  s.blue_green->auto_promotion_enabled = false;
  return s;
}

RolloutStatus Updating(int32_t step_index) {
  RolloutStatus s;
  s.current_pod_hash = "h2";
  s.stable_rs = "h1";
  s.current_step_index = step_index;
  return s;
}

// At the pause step: CanaryPauseStep condition, controllerPause.
RolloutStatus AtPauseStep() {
  RolloutStatus s = Updating(1);
  s.pause_conditions = {{std::string(pause_reason::kCanaryPauseStep), At(0)}};
  s.controller_pause = true;
  return s;
}

// At the analysis step with its run in `phase`.
RolloutStatus AtAnalysisStep(spec::AnalysisPhase phase) {
  RolloutStatus s = Updating(2);
  s.canary.current_step_analysis_run_status = RolloutAnalysisRunStatus{"shop-h2-2", phase, ""};
  return s;
}

// ---- promote ----

TEST(PromoteRolloutTest, PauseStepClearsConditionAndKeepsIndex) {
  auto r = PromoteRollout(CanarySpec(), AtPauseStep());
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->status.pause_conditions.empty());
  EXPECT_TRUE(r->status.controller_pause);  // "controllerPause && no conditions" = resumed
  EXPECT_EQ(r->status.current_step_index, 1);
  EXPECT_FALSE(r->spec.paused);
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->event_reason, "RolloutResumed");
  EXPECT_EQ(r->message, "promoted");
}

TEST(PromoteRolloutTest, MidAnalysisSkipsTheCurrentStep) {
  RolloutStatus status = AtAnalysisStep(spec::AnalysisPhase::kRunning);
  auto r = PromoteRollout(CanarySpec(), status);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.current_step_index, 3);
  EXPECT_TRUE(r->status.pause_conditions.empty());
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->event_reason, "");  // nothing was paused
  // Only the index moved.
  RolloutStatus expected = status;
  expected.current_step_index = 3;
  EXPECT_EQ(r->status, expected);
}

TEST(PromoteRolloutTest, InconclusiveAnalysisClearsPauseAndSkipsStep) {
  RolloutStatus status = AtAnalysisStep(spec::AnalysisPhase::kInconclusive);
  status.pause_conditions = {{std::string(pause_reason::kInconclusiveAnalysisRun), At(0)}};
  status.controller_pause = true;
  auto r = PromoteRollout(CanarySpec(), status);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->status.pause_conditions.empty());
  EXPECT_FALSE(r->status.controller_pause);
  EXPECT_EQ(r->status.current_step_index, 3);
  EXPECT_EQ(r->event_reason, "RolloutResumed");
}

TEST(PromoteRolloutTest, MidSetWeightSkipsTheStep) {
  auto r = PromoteRollout(CanarySpec(), Updating(0));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.current_step_index, 1);
}

TEST(PromoteRolloutTest, UnsetIndexCountsAsZero) {
  RolloutStatus status = Updating(0);
  status.current_step_index.reset();
  auto r = PromoteRollout(CanarySpec(), status);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.current_step_index, 1);
}

TEST(PromoteRolloutTest, AllStepsDoneChangesNothing) {
  RolloutStatus status = Updating(4);
  auto r = PromoteRollout(CanarySpec(), status);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, status);
  EXPECT_FALSE(r->changed);
}

TEST(PromoteRolloutTest, ManualPauseWithoutConditionsUnpausesAndSkipsStep) {
  spec::RolloutSpec spec = CanarySpec();
  spec.paused = true;
  auto r = PromoteRollout(spec, Updating(0));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->spec.paused);
  EXPECT_EQ(r->status.current_step_index, 1);
  EXPECT_EQ(r->event_reason, "RolloutResumed");
}

TEST(PromoteRolloutTest, BlueGreenClearsBlueGreenPause) {
  RolloutStatus status;
  status.current_pod_hash = "h2";
  status.stable_rs = "h1";
  status.pause_conditions = {{std::string(pause_reason::kBlueGreenPause), At(0)}};
  status.controller_pause = true;
  auto r = PromoteRollout(BlueGreenSpec(), status);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->status.pause_conditions.empty());
  EXPECT_TRUE(r->status.controller_pause);
  EXPECT_FALSE(r->status.current_step_index.has_value());
  EXPECT_EQ(r->event_reason, "RolloutResumed");
}

TEST(PromoteRolloutTest, BlueGreenNotPausedChangesNothing) {
  RolloutStatus status;
  status.current_pod_hash = "h2";
  status.stable_rs = "h2";
  auto r = PromoteRollout(BlueGreenSpec(), status);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->status, status);
}

TEST(PromoteRolloutFullTest, SetsPromoteFullAndUnpauses) {
  spec::RolloutSpec spec = CanarySpec();
  spec.paused = true;
  auto r = PromoteRolloutFull(spec, AtPauseStep());
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->status.promote_full);
  EXPECT_FALSE(r->spec.paused);
  EXPECT_EQ(r->status.pause_conditions.size(), 1u);  // the controller clears it
  EXPECT_EQ(r->message, "fully promoted");
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->event_reason, "RolloutResumed");
}

TEST(PromoteRolloutFullTest, AlreadyPromotedWritesNothing) {
  RolloutStatus status = Updating(4);
  status.stable_rs = "h2";
  auto r = PromoteRolloutFull(CanarySpec(), status);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->status.promote_full);
  EXPECT_FALSE(r->changed);
}

TEST(PromoteRolloutSkipTest, SkipCurrentStep) {
  auto r = PromoteRolloutSkipCurrentStep(CanarySpec(), AtPauseStep());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.current_step_index, 2);
  EXPECT_EQ(r->status.pause_conditions.size(), 1u);
}

TEST(PromoteRolloutSkipTest, SkipAllSteps) {
  auto r = PromoteRolloutSkipAllSteps(CanarySpec(), Updating(1));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.current_step_index, 4);
}

TEST(PromoteRolloutSkipTest, BlueGreenIsRefused) {
  auto r = PromoteRolloutSkipCurrentStep(BlueGreenSpec(), RolloutStatus{});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(),
            InvalidArgumentError("Cannot skip steps of a bluegreen rollout. Run without a flags"));
  EXPECT_FALSE(PromoteRolloutSkipAllSteps(BlueGreenSpec(), RolloutStatus{}).has_value());
}

TEST(PromoteRolloutSkipTest, NoStepsIsRefused) {
  spec::RolloutSpec spec = CanarySpec();
  spec.canary->steps.clear();
  auto r = PromoteRolloutSkipAllSteps(spec, RolloutStatus{});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), InvalidArgumentError("Cannot skip steps of a rollout without steps"));
  EXPECT_FALSE(PromoteRolloutSkipCurrentStep(spec, RolloutStatus{}).has_value());
}

// ---- abort / retry ----

TEST(AbortRolloutTest, SetsAbortOnly) {
  RolloutStatus status = AtAnalysisStep(spec::AnalysisPhase::kRunning);
  auto r = AbortRollout(CanarySpec(), status);
  ASSERT_TRUE(r.has_value());
  RolloutStatus expected = status;
  expected.abort = true;
  EXPECT_EQ(r->status, expected);  // abortedAt and the index are the controller's
  EXPECT_FALSE(r->status.aborted_at.has_value());
  EXPECT_EQ(r->event_reason, "RolloutAborted");
  EXPECT_EQ(r->message, "aborted");
}

TEST(AbortRolloutTest, AlreadyAbortedChangesNothing) {
  RolloutStatus status = Updating(0);
  status.abort = true;
  auto r = AbortRollout(CanarySpec(), status);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->changed);
}

TEST(RetryRolloutTest, AfterAbortClearsAbortAndKeepsAbortedAt) {
  // What the controller left after the abort: index 0, abortedAt set.
  RolloutStatus status = Updating(0);
  status.abort = true;
  status.aborted_at = At(10);
  auto r = RetryRollout(CanarySpec(), status);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->status.abort);
  EXPECT_EQ(r->status.aborted_at, At(10));  // makes the next reconcile create fresh runs
  EXPECT_EQ(r->status.current_step_index, 0);
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->event_reason, "RolloutRetry");
  EXPECT_EQ(r->message, "retried");
}

TEST(RetryRolloutTest, NotAbortedChangesNothing) {
  auto r = RetryRollout(CanarySpec(), Updating(2));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->event_reason, "");
}

// ---- pause / resume ----

TEST(PauseRolloutTest, SetsSpecPaused) {
  RolloutStatus status = Updating(0);
  auto r = PauseRollout(CanarySpec(), status);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->spec.paused);
  EXPECT_EQ(r->status, status);
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->event_reason, "RolloutPaused");
  EXPECT_EQ(r->message, "paused");
}

TEST(PauseRolloutTest, AlreadyPausedChangesNothing) {
  spec::RolloutSpec spec = CanarySpec();
  spec.paused = true;
  auto r = PauseRollout(spec, Updating(0));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->event_reason, "");
}

TEST(ResumeRolloutTest, ClearsManualPause) {
  spec::RolloutSpec spec = CanarySpec();
  spec.paused = true;
  RolloutStatus status = Updating(0);
  auto r = ResumeRollout(spec, status);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->spec.paused);
  EXPECT_EQ(r->status, status);  // no step skipped, unlike promote
  EXPECT_EQ(r->event_reason, "RolloutResumed");
  EXPECT_EQ(r->message, "resumed");
}

TEST(ResumeRolloutTest, NotManuallyPausedIsRefused) {
  auto r = ResumeRollout(CanarySpec(), AtPauseStep());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), FailedPreconditionError("rollout is not manually paused"));
}

TEST(ResumeRolloutTest, ResumeVersusPromoteOnAPauseStep) {
  spec::RolloutSpec spec = CanarySpec();
  spec.paused = true;
  const RolloutStatus status = AtPauseStep();

  auto resumed = ResumeRollout(spec, status);
  ASSERT_TRUE(resumed.has_value());
  EXPECT_FALSE(resumed->spec.paused);
  EXPECT_EQ(resumed->status, status);    // CanaryPauseStep and controllerPause stay
  EXPECT_EQ(resumed->event_reason, "");  // still paused by the step

  auto promoted = PromoteRollout(spec, status);
  ASSERT_TRUE(promoted.has_value());
  EXPECT_FALSE(promoted->spec.paused);
  EXPECT_TRUE(promoted->status.pause_conditions.empty());
  EXPECT_EQ(promoted->event_reason, "RolloutResumed");
}

// ---- undo ----

std::vector<RevisionTemplate> History() {
  return {{1, Template("app:1", "h1")}, {3, Template("app:3", "h3")}, {2, Template("app:2", "h2")}};
}

TEST(UndoRolloutTest, DefaultsToThePreviousRevision) {
  spec::RolloutSpec spec = CanarySpec();
  spec.template_ = Template("app:3");
  auto r = UndoRollout(spec, Updating(0), "shop", History(), 0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->spec.template_.containers[0].image, "app:2");
  EXPECT_EQ(r->spec.template_.raw["spec"]["containers"][0]["image"], "app:2");
  EXPECT_FALSE(r->spec.template_.raw["metadata"]["labels"].contains("rollouts-pod-template-hash"));
  EXPECT_EQ(r->spec.template_.metadata.labels.count("rollouts-pod-template-hash"), 0u);
  EXPECT_EQ(r->spec.template_.metadata.labels.at("app"), "shop");
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->event_reason, "RolloutUpdated");
  EXPECT_EQ(r->message, "undo");
}

TEST(UndoRolloutTest, ToASpecificRevision) {
  spec::RolloutSpec spec = CanarySpec();
  spec.template_ = Template("app:3");
  auto r = UndoRollout(spec, Updating(0), "shop", History(), 1);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->spec.template_.containers[0].image, "app:1");
  EXPECT_EQ(r->spec.template_.raw, Template("app:1").raw);
}

TEST(UndoRolloutTest, AlreadyMatchingIsSkipped) {
  spec::RolloutSpec spec = CanarySpec();
  spec.template_ = Template("app:2");
  auto r = UndoRollout(spec, Updating(0), "shop", History(), 2);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->spec.template_.raw, spec.template_.raw);
  EXPECT_EQ(r->message, "skipped rollback (current template already matches revision 2)");
}

TEST(UndoRolloutTest, MatchIgnoresFieldsUnsetInTheCurrentTemplate) {
  spec::RolloutSpec spec = CanarySpec();
  spec.template_ = Template("app:2");
  std::vector<RevisionTemplate> history = History();
  history[2].pod_template.raw["metadata"]["creationTimestamp"] = nullptr;
  history[2].pod_template.raw["spec"]["containers"][0]["resources"] = json::object();
  history[2].pod_template.raw["spec"]["restartPolicy"] = "Always";
  auto r = UndoRollout(spec, Updating(0), "shop", history, 0);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->message, "skipped rollback (current template already matches revision 0)");
}

TEST(UndoRolloutTest, UnknownRevisionIsAnError) {
  auto r = UndoRollout(CanarySpec(), Updating(0), "shop", History(), 7);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), NotFoundError("unable to find specified revision 7 in history"));
}

TEST(UndoRolloutTest, NoPreviousRevisionIsAnError) {
  auto r = UndoRollout(CanarySpec(), Updating(0), "shop", {{1, Template("app:1", "h1")}}, 0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), NotFoundError("no revision found for rollout \"shop\""));
}

TEST(UndoRolloutTest, WorkloadRefIsRefused) {
  spec::RolloutSpec spec = CanarySpec();
  spec.workload_ref = spec::WorkloadRef{"apps/v1", "Deployment", "shop", ""};
  auto r = UndoRollout(spec, Updating(0), "shop", History(), 0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kUnimplemented);
}

// ---- restart ----

TEST(RestartRolloutTest, NowPlusDelayAtSecondPrecision) {
  auto r = RestartRollout(CanarySpec(), Updating(0), At(0) + std::chrono::milliseconds(700),
                          std::chrono::seconds(30));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->spec.restart_at, "2024-05-01T10:00:30Z");
  EXPECT_EQ(r->message, "restarts in 30s");
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->event_reason, "");
}

TEST(RestartRolloutTest, NoDelay) {
  auto r = RestartRollout(CanarySpec(), Updating(0), At(0), Duration::zero());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->spec.restart_at, "2024-05-01T10:00:00Z");
  EXPECT_EQ(r->message, "restarts in 0s");
}

TEST(RestartRolloutTest, NegativeDelayIsAnError) {
  auto r = RestartRollout(CanarySpec(), Updating(0), At(0), -std::chrono::seconds(10));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), InvalidArgumentError("restart delay must not be negative: -10s"));
}

// ---- set image ----

TEST(SetRolloutImageTest, OneContainer) {
  auto r = SetRolloutImage(CanarySpec(), Updating(0), "sidecar", "envoy:2");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->spec.template_.containers[0].image, "app:2");
  EXPECT_EQ(r->spec.template_.containers[1].image, "envoy:2");
  EXPECT_EQ(r->spec.template_.raw["spec"]["containers"][0]["image"], "app:2");
  EXPECT_EQ(r->spec.template_.raw["spec"]["containers"][1]["image"], "envoy:2");
  EXPECT_EQ(r->spec.template_.raw["spec"]["initContainers"][0]["image"], "busybox:1");
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->event_reason, "RolloutUpdated");
  EXPECT_EQ(r->message, "image updated");
}

TEST(SetRolloutImageTest, InitContainer) {
  auto r = SetRolloutImage(CanarySpec(), Updating(0), "init", "busybox:2");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->spec.template_.raw["spec"]["initContainers"][0]["image"], "busybox:2");
  EXPECT_EQ(r->spec.template_.containers[0].image, "app:2");
}

TEST(SetRolloutImageTest, StarSetsEveryContainer) {
  auto r = SetRolloutImage(CanarySpec(), Updating(0), "*", "all:9");
  ASSERT_TRUE(r.has_value());
  const json& pod = r->spec.template_.raw["spec"];
  EXPECT_EQ(pod["initContainers"][0]["image"], "all:9");
  EXPECT_EQ(pod["containers"][0]["image"], "all:9");
  EXPECT_EQ(pod["containers"][1]["image"], "all:9");
  for (const spec::Container& c : r->spec.template_.containers) EXPECT_EQ(c.image, "all:9");
}

TEST(SetRolloutImageTest, SameImageIsUnchanged) {
  auto r = SetRolloutImage(CanarySpec(), Updating(0), "app", "app:2");
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->event_reason, "");
}

TEST(SetRolloutImageTest, UnknownContainerIsAnError) {
  auto r = SetRolloutImage(CanarySpec(), Updating(0), "db", "postgres:16");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), InvalidArgumentError("unable to find container named \"db\""));
}

TEST(SetRolloutImageTest, WorkloadRefIsRefused) {
  spec::RolloutSpec spec = CanarySpec();
  spec.workload_ref = spec::WorkloadRef{"apps/v1", "Deployment", "shop", ""};
  auto r = SetRolloutImage(spec, Updating(0), "app", "app:3");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace ramp::engine
