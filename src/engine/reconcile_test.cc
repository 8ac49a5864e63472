// Reconcile against a small in-memory world: instances that become ready a fixed time after they
// are asked for, an ideal traffic router, and metric answers chosen by each test. The world
// carries out intents exactly as types.h says the runtime does, and reconciles to a fixpoint at
// each time it is woken, so each test reads like one of the timelines of reference §2.7.
#include "engine/reconcile.h"
#include "engine/world_testing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "analysis/expr_evaluator.h"
#include "spec/manifest.h"

namespace ramp::engine {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

using testing_util::kT0;
using testing_util::SeenEvent;
using testing_util::Value;
using testing_util::World;

constexpr const char* kCanaryA = testing_util::kCanaryRollout;

TEST(ReconcileTest, FirstDeployGoesStraightToHealthy) {
  World w(kCanaryA);
  w.Deploy();
  const RolloutStatus& s = w.state_.status;
  EXPECT_EQ(s.phase, "Healthy") << s.message;
  EXPECT_EQ(s.stable_rs, s.current_pod_hash);
  EXPECT_EQ(s.current_step_index, 4);
  EXPECT_EQ(w.Pods(s.stable_rs), 10);
  EXPECT_EQ(s.observed_generation, "1");
}

TEST(ReconcileTest, TimelineA_TrafficRoutedCanary) {
  World w(kCanaryA);
  w.Deploy();
  const std::string h1 = w.state_.status.stable_rs;
  w.ready_after_ = std::chrono::seconds(5);
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(1));
  const RolloutStatus& s = w.state_.status;
  const std::string h2 = s.current_pod_hash;
  ASSERT_NE(h1, h2);
  EXPECT_EQ(s.stable_rs, h1);
  // Step 0: 2 canary pods, weight 20 once they are available; then the indefinite pause.
  EXPECT_EQ(w.Pods(h2), 2);
  EXPECT_EQ(w.Pods(h1), 10);
  EXPECT_EQ(s.current_step_index, 1);
  EXPECT_EQ(s.phase, "Paused");
  ASSERT_TRUE(s.canary.weights.has_value());
  EXPECT_EQ(s.canary.weights->canary.weight, 20);
  const SeenEvent* step1 = w.FindEvent("RolloutStepCompleted", "1/4");
  ASSERT_NE(step1, nullptr);
  EXPECT_EQ(step1->message, "Rollout step 1/4 completed (setWeight: 20)");
  EXPECT_EQ(step1->t, 5);  // the canary pods are ready (and available) 5 s after creation
  EXPECT_NE(w.FindEvent("RolloutPaused", "CanaryPauseStep"), nullptr);
  // The weight never moved before the canary was available.
  EXPECT_THAT(w.weights_set_, ElementsAre(20));

  // promote: the pause step completes, setWeight 50, then the 30 s pause.
  auto promoted = PromoteRollout(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(promoted.has_value());
  w.Apply(*promoted);
  w.RunFor(std::chrono::seconds(20));
  EXPECT_EQ(w.state_.status.current_step_index, 3);
  EXPECT_EQ(w.state_.status.canary.weights->canary.weight, 50);
  EXPECT_EQ(w.Pods(h2), 5);
  w.RunFor(std::chrono::minutes(2));
  const RolloutStatus& done = w.state_.status;
  EXPECT_EQ(done.phase, "Healthy") << done.message;
  EXPECT_EQ(done.stable_rs, h2);
  EXPECT_EQ(done.current_step_index, 4);
  const SeenEvent* completed = w.FindEvent("RolloutCompleted");
  ASSERT_NE(completed, nullptr);
  EXPECT_THAT(completed->message, HasSubstr("Completed all 4 canary steps"));
  // After the last step the weight goes to 100, then back to 0 once promoted.
  EXPECT_THAT(w.weights_set_, ElementsAre(20, 50, 100, 0));
  EXPECT_EQ(w.Pods(h2), 10);
  // The old stable keeps its pods for scaleDownDelaySeconds (30 s), then goes to 0.
  EXPECT_EQ(w.Pods(h1), 0);
  const SeenEvent* down = w.FindEvent("ScalingReplicaSet", "Scaled down ReplicaSet demo-" + h1);
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->t - completed->t, 30);
}

constexpr char kCanaryAnalysis[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo, namespace: default}
spec:
  replicas: 4
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
      - setWeight: 25
      - analysis:
          templates: [{templateName: success-rate}]
      - setWeight: 50
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  metrics:
  - name: success-rate
    interval: 1m
    count: 3
    successCondition: result[0] >= 0.95
    provider:
      prometheus: {address: "http://prom:9090", query: "x"}
)";

TEST(ReconcileTest, FailedStepAnalysisAborts) {
  World w(kCanaryAnalysis);
  w.Deploy();
  const std::string h1 = w.state_.status.stable_rs;
  w.metrics = [](const std::string&, int64_t t) { return Value(t < 60 ? 0.99 : 0.5); };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(10));
  const RolloutStatus& s = w.state_.status;
  EXPECT_EQ(s.phase, "Degraded");
  EXPECT_TRUE(s.abort);
  EXPECT_EQ(s.current_step_index, 0);
  EXPECT_EQ(s.stable_rs, h1);
  const RolloutCondition* p = GetCondition(s, condition_type::kProgressing);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->reason, "RolloutAborted");
  EXPECT_THAT(p->message, HasSubstr("Step-based analysis phase error/failed"));
  EXPECT_NE(w.FindEvent("AnalysisRunFailed"), nullptr);
  EXPECT_NE(w.FindEvent("RolloutAborted"), nullptr);
  ASSERT_EQ(w.state_.analysis_runs.size(), 1u);
  EXPECT_EQ(w.state_.analysis_runs[0].metadata.name, "demo-" + s.current_pod_hash + "-2-1");
  EXPECT_EQ(w.state_.analysis_runs[0].status.phase, spec::AnalysisPhase::kFailed);
  // Weight back to 0 and the canary scaled to 0 after abortScaleDownDelaySeconds.
  EXPECT_EQ(s.canary.weights->canary.weight, 0);
  EXPECT_EQ(w.Pods(s.current_pod_hash), 0);
  EXPECT_EQ(w.Pods(h1), 4);
}

TEST(ReconcileTest, SuccessfulAnalysisCompletesTheRollout) {
  World w(kCanaryAnalysis);
  w.Deploy();
  w.metrics = [](const std::string&, int64_t) { return Value(0.99); };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(10));
  const RolloutStatus& s = w.state_.status;
  EXPECT_EQ(s.phase, "Healthy") << s.message;
  EXPECT_EQ(s.stable_rs, s.current_pod_hash);
  EXPECT_NE(w.FindEvent("AnalysisRunSuccessful"), nullptr);
  const SeenEvent* step2 = w.FindEvent("RolloutStepCompleted", "2/3");
  ASSERT_NE(step2, nullptr);
  EXPECT_EQ(step2->message, "Rollout step 2/3 completed (analysis)");
  // count 3 at 1m interval: first measurement at once, the third at +2m.
  EXPECT_EQ(step2->t, 120);
}

constexpr char kBasic[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo, namespace: default}
spec:
  replicas: 5
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      containers: [{name: app, image: demo:v1}]
  strategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {}
)";

TEST(ReconcileTest, TimelineB_BasicCanary) {
  World w(kBasic);
  w.Deploy();
  const std::string h1 = w.state_.status.stable_rs;
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(1));
  const RolloutStatus& s = w.state_.status;
  EXPECT_EQ(w.Pods(s.current_pod_hash), 1);
  EXPECT_EQ(w.Pods(h1), 4);
  EXPECT_EQ(s.current_step_index, 1);
  EXPECT_EQ(s.phase, "Paused");
  EXPECT_FALSE(s.canary.weights.has_value());
  auto aborted = AbortRollout(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(aborted.has_value());
  w.Apply(*aborted);
  w.RunFor(std::chrono::seconds(10));
  EXPECT_EQ(w.Pods(w.state_.status.current_pod_hash), 0);
  EXPECT_EQ(w.Pods(h1), 5);
  EXPECT_EQ(w.state_.status.phase, "Degraded");
  EXPECT_EQ(w.state_.canary_selector, h1);
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
      autoPromotionEnabled: false
      previewReplicaCount: 1
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

TEST(ReconcileTest, TimelineC_BlueGreen) {
  World w(kBlueGreen);
  w.metrics = [](const std::string&, int64_t) { return Value(1); };
  w.Deploy();
  const std::string h1 = w.state_.status.stable_rs;
  ASSERT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  EXPECT_EQ(w.state_.status.blue_green.active_selector, h1);
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(1));
  const RolloutStatus& s = w.state_.status;
  const std::string h2 = s.current_pod_hash;
  EXPECT_EQ(s.blue_green.preview_selector, h2);
  EXPECT_EQ(s.blue_green.active_selector, h1);
  EXPECT_EQ(w.Pods(h2), 1);
  EXPECT_EQ(s.phase, "Paused") << s.message;
  ASSERT_TRUE(s.blue_green.pre_promotion_analysis_run_status.has_value());
  EXPECT_EQ(s.blue_green.pre_promotion_analysis_run_status->status,
            spec::AnalysisPhase::kSuccessful);
  EXPECT_THAT(s.blue_green.pre_promotion_analysis_run_status->name, HasSubstr("-pre"));
  auto promoted = PromoteRollout(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(promoted.has_value());
  w.Apply(*promoted);
  w.RunFor(std::chrono::minutes(2));
  const RolloutStatus& done = w.state_.status;
  EXPECT_EQ(done.phase, "Healthy") << done.message;
  EXPECT_EQ(done.blue_green.active_selector, h2);
  EXPECT_EQ(done.stable_rs, h2);
  EXPECT_EQ(w.Pods(h2), 3);
  EXPECT_EQ(w.Pods(h1), 0);
  EXPECT_NE(w.FindEvent("SwitchService", "demo-active"), nullptr);
}

TEST(ReconcileTest, ExperimentStepsAreRefused) {
  World w(R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo}
spec:
  replicas: 1
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      containers: [{name: app, image: demo:v1}]
  strategy:
    canary:
      steps:
      - experiment:
          templates: [{name: a, specRef: canary}]
)");
  w.Deploy();
  EXPECT_EQ(w.state_.status.phase, "Degraded");
  EXPECT_THAT(w.state_.status.message, HasSubstr("not supported yet"));
}

// §11 item 14 and §11.1 item 5: promote during a running step analysis moves past the step.
TEST(ReconcileTest, PromoteDuringStepAnalysisSkipsTheStep) {
  World w(kCanaryAnalysis);
  w.Deploy();
  w.metrics = [](const std::string&, int64_t) { return Value(0.99); };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(30));
  ASSERT_EQ(w.state_.status.current_step_index, 1);
  auto promoted = PromoteRollout(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(promoted.has_value());
  w.Apply(*promoted);
  w.RunFor(std::chrono::seconds(5));
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  // The step run was terminated, not completed by its count.
  ASSERT_EQ(w.state_.analysis_runs.size(), 1u);
  EXPECT_TRUE(w.state_.analysis_runs[0].spec.terminate);
}

// §11 item 15: retry after an abort re-creates the analysis and restarts from step 0.
TEST(ReconcileTest, RetryCreatesAFreshAnalysisRun) {
  World w(kCanaryAnalysis);
  w.Deploy();
  bool healthy = false;
  w.metrics = [&](const std::string&, int64_t) { return Value(healthy ? 0.99 : 0.5); };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(5));
  ASSERT_TRUE(w.state_.status.abort);
  healthy = true;
  auto retried = RetryRollout(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(retried.has_value());
  w.Apply(*retried);
  w.RunFor(std::chrono::minutes(10));
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  ASSERT_EQ(w.state_.analysis_runs.size(), 2u);
  EXPECT_EQ(w.state_.analysis_runs[1].metadata.name,
            w.state_.analysis_runs[0].metadata.name + ".1");
  EXPECT_EQ(w.state_.analysis_runs[1].status.phase, spec::AnalysisPhase::kSuccessful);
  EXPECT_NE(w.FindEvent("RolloutStepCompleted", "1/3"), nullptr);
}

// An inconclusive step run pauses the rollout; promote moves past the step.
TEST(ReconcileTest, InconclusiveAnalysisPauses) {
  World w(kCanaryAnalysis);
  w.Deploy();
  w.metrics = [](const std::string&, int64_t) {
    Measurement m;
    m.phase = AnalysisPhase::kInconclusive;
    return MeasurementUpdate::Judged(m);
  };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(5));
  const RolloutStatus& s = w.state_.status;
  EXPECT_EQ(s.phase, "Paused") << s.message;
  ASSERT_FALSE(s.pause_conditions.empty());
  EXPECT_EQ(s.pause_conditions[0].reason, "InconclusiveAnalysisRun");
  auto promoted = PromoteRollout(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(promoted.has_value());
  w.Apply(*promoted);
  w.RunFor(std::chrono::minutes(5));
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
}

// §11.1 item 4: no progress within progressDeadlineSeconds → ProgressDeadlineExceeded, Degraded.
TEST(ReconcileTest, ProgressDeadline) {
  World w(std::string(kBasic).replace(std::string(kBasic).find("  replicas: 5"), 13,
                                      "  replicas: 5\n  progressDeadlineSeconds: 60"));
  w.Deploy();
  w.ready_after_ = std::chrono::hours(10);  // never ready within the test
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(5));
  const RolloutStatus& s = w.state_.status;
  EXPECT_EQ(s.phase, "Degraded") << s.message;
  const RolloutCondition* p = GetCondition(s, condition_type::kProgressing);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->reason, "ProgressDeadlineExceeded");
  EXPECT_FALSE(s.abort);
}

TEST(ReconcileTest, ProgressDeadlineAbort) {
  World w(std::string(kBasic).replace(
      std::string(kBasic).find("  replicas: 5"), 13,
      "  replicas: 5\n  progressDeadlineSeconds: 60\n  progressDeadlineAbort: true"));
  w.Deploy();
  w.ready_after_ = std::chrono::hours(10);
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(5));
  const RolloutStatus& s = w.state_.status;
  EXPECT_TRUE(s.abort);
  EXPECT_EQ(s.phase, "Degraded");
  EXPECT_NE(w.FindEvent("RolloutAborted", "timed out progressing"), nullptr);
}

// §11 item 16 and §2.4: going back to the stable template skips every step.
TEST(ReconcileTest, RollbackToStableSkipsSteps) {
  World w(kCanaryA);
  w.Deploy();
  const std::string h1 = w.state_.status.stable_rs;
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(1));
  ASSERT_EQ(w.state_.status.phase, "Paused");
  w.SetImage("demo:v1");
  w.RunFor(std::chrono::minutes(2));
  EXPECT_EQ(w.state_.status.current_pod_hash, h1);
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  EXPECT_NE(w.FindEvent("SkipSteps", "Rollback to stable ReplicaSets"), nullptr);
  EXPECT_EQ(w.Pods(h1), 10);
}

TEST(ReconcileTest, PromoteFullSkipsRemainingSteps) {
  World w(kCanaryA);
  w.Deploy();
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(1));
  auto full = PromoteRolloutFull(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(full.has_value());
  w.Apply(*full);
  w.RunFor(std::chrono::minutes(2));
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  EXPECT_NE(w.FindEvent("RolloutCompleted", "Full promotion requested"), nullptr);
  EXPECT_FALSE(w.state_.status.promote_full);
}

TEST(ReconcileTest, ManualPauseHaltsAndResumeContinues) {
  World w(kCanaryA);
  w.Deploy();
  auto paused = PauseRollout(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(paused.has_value());
  w.Apply(*paused);
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(1));
  EXPECT_EQ(w.state_.status.phase, "Paused");
  EXPECT_EQ(w.state_.status.message, "manually paused");
  EXPECT_EQ(w.Pods(w.state_.status.current_pod_hash), 0);
  auto resumed = ResumeRollout(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(resumed.has_value());
  w.Apply(*resumed);
  w.RunFor(std::chrono::minutes(1));
  EXPECT_EQ(w.Pods(w.state_.status.current_pod_hash), 2);
  EXPECT_EQ(w.state_.status.current_step_index, 1);
}

constexpr char kBackground[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo, namespace: default}
spec:
  replicas: 4
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      containers: [{name: app, image: demo:v1}]
  strategy:
    canary:
      analysis:
        templates: [{templateName: errors}]
        startingStep: 1
      steps:
      - setWeight: 25
      - pause: {duration: 5m}
      - setWeight: 50
      - pause: {duration: 5m}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: errors}
spec:
  metrics:
  - name: errors
    interval: 30s
    failureLimit: 1
    failureCondition: result[0] > 0.05
    provider:
      prometheus: {address: "http://prom:9090", query: "x"}
)";

TEST(ReconcileTest, BackgroundAnalysisFromStartingStepAbortsOnFailure) {
  World w(kBackground);
  w.Deploy();
  w.metrics = [](const std::string&, int64_t t) { return Value(t < 120 ? 0.01 : 0.2); };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(10));
  const RolloutStatus& s = w.state_.status;
  EXPECT_TRUE(s.abort);
  const RolloutCondition* p = GetCondition(s, condition_type::kProgressing);
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(p->message, HasSubstr("Background analysis phase error/failed"));
  ASSERT_EQ(w.state_.analysis_runs.size(), 1u);
  // Created when step 1 began (after setWeight 25), not before.
  const SeenEvent* step1 = w.FindEvent("RolloutStepCompleted", "1/4");
  ASSERT_NE(step1, nullptr);
  EXPECT_EQ(w.state_.analysis_runs[0].metadata.labels.at("rollout-type"), "Background");
  // failureLimit 1: the second failing measurement (at 120 s and 150 s) fails the run.
  const SeenEvent* aborted = w.FindEvent("RolloutAborted");
  ASSERT_NE(aborted, nullptr);
  EXPECT_EQ(aborted->t, 150);
}

TEST(ReconcileTest, BackgroundAnalysisSucceedsWhenTheRolloutCompletes) {
  World w(kBackground);
  w.Deploy();
  w.metrics = [](const std::string&, int64_t) { return Value(0.0); };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(20));
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  ASSERT_EQ(w.state_.analysis_runs.size(), 1u);
  EXPECT_EQ(w.state_.analysis_runs[0].status.phase, spec::AnalysisPhase::kSuccessful);
}

TEST(ReconcileTest, BlueGreenAutoPromotionSeconds) {
  std::string yaml = kBlueGreen;
  yaml.replace(yaml.find("autoPromotionEnabled: false"), 27, "autoPromotionSeconds: 60");
  World w(yaml);
  w.metrics = [](const std::string&, int64_t) { return Value(1); };
  w.Deploy();
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(5));
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  const SeenEvent* sw = w.FindEvent("SwitchService", "demo-active");
  ASSERT_NE(sw, nullptr);
  EXPECT_GE(sw->t, 60);
}

TEST(ReconcileTest, BlueGreenAbortSwitchesBack) {
  World w(kBlueGreen);
  w.metrics = [](const std::string&, int64_t) { return Value(1); };
  w.Deploy();
  const std::string h1 = w.state_.status.stable_rs;
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(1));
  auto aborted = AbortRollout(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(aborted.has_value());
  w.Apply(*aborted);
  w.RunFor(std::chrono::minutes(2));
  EXPECT_EQ(w.state_.status.phase, "Degraded");
  EXPECT_EQ(w.state_.status.blue_green.active_selector, h1);
  EXPECT_EQ(w.Pods(w.state_.status.current_pod_hash), 0);
  EXPECT_EQ(w.Pods(h1), 3);
}

TEST(ReconcileTest, NothingObservedChangesNothing) {
  World w(kCanaryA);
  w.Deploy();
  RolloutState before = w.state_;
  spec::Rollout ro = w.rollout_;
  ReconcileContext ctx;
  ctx.rollout = &ro;
  ReconcileResult r = Reconcile(ctx, before, Observed{}, kT0);
  EXPECT_EQ(ToJson(r.state.status), ToJson(before.status));
  EXPECT_TRUE(r.intents.empty());
}

TEST(ReconcileTest, PodTemplateHashIsStableAndSafe) {
  nlohmann::json t = {{"spec", {{"containers", {{{"name", "a"}, {"image", "x"}}}}}}};
  const std::string a = PodTemplateHash(t, std::nullopt);
  EXPECT_EQ(a, PodTemplateHash(t, std::nullopt));
  EXPECT_NE(a, PodTemplateHash(t, 1));
  EXPECT_EQ(a.find_first_not_of("bcdfghjklmnpqrstvwxz2456789"), std::string::npos);
}

// §2.6 restart: every instance older than restartAt is replaced, max(maxUnavailable, 1) at a
// time while enough stay available, then status.restartedAt = spec.restartAt.
TEST(ReconcileTest, RestartReplacesEveryOldInstance) {
  World w(kBasic);
  w.Deploy();
  w.ready_after_ = std::chrono::seconds(10);
  auto restarted =
      RestartRollout(w.rollout_.spec, w.state_.status, w.now_, std::chrono::seconds(60));
  ASSERT_TRUE(restarted.has_value());
  w.Apply(*restarted);
  w.RunFor(std::chrono::seconds(30));
  EXPECT_EQ(w.restarts_, 0);  // not before restartAt, though the phase already says it is coming
  EXPECT_EQ(w.state_.status.phase, "Progressing");
  EXPECT_EQ(w.state_.status.message, "rollout is restarting");
  w.RunFor(std::chrono::minutes(5));
  EXPECT_EQ(w.restarts_, 5);
  const RolloutStatus& s = w.state_.status;
  ASSERT_TRUE(s.restarted_at.has_value());
  EXPECT_EQ(w.Seconds(*s.restarted_at), 60);
  EXPECT_EQ(s.phase, "Healthy") << s.message;
  EXPECT_EQ(w.Pods(s.stable_rs), 5);
}

constexpr char kWebhookGate[] = R"(apiVersion: argoproj.io/v1alpha1
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
      - plugin:
          name: ramp/webhook
          config: {type: confirm-promotion, url: "http://gate.test/check", interval: 15s}
)";

// A closed confirm-promotion gate holds the rollout Progressing and is called every interval.
TEST(ReconcileTest, WebhookGateWaitsUntilOpened) {
  World w(kWebhookGate);
  w.Deploy();
  w.hooks = [](const HookCall&, int64_t t) {
    return HookResult{t >= 60 ? HookVerdict::kAllowed : HookVerdict::kDenied, "closed", 403, 1};
  };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(30));
  EXPECT_EQ(w.state_.status.phase, "Progressing");
  EXPECT_EQ(w.state_.status.message, "waiting for confirm-promotion");
  EXPECT_EQ(w.state_.status.current_step_index, 1);
  w.RunFor(std::chrono::minutes(2));
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  ASSERT_FALSE(w.calls_.empty());
  EXPECT_EQ(w.calls_[0].call.url, "http://gate.test/check");
  EXPECT_EQ(w.calls_[0].call.type, HookType::kConfirmPromotion);
  // Called at 0, 15, 30, 45 and 60 s: closed four times, then open.
  EXPECT_EQ(w.calls_.size(), 5u);
}

TEST(ReconcileTest, FailingRolloutWebhookAborts) {
  std::string yaml = kWebhookGate;
  yaml.replace(yaml.find("type: confirm-promotion"), 23, "type: pre-rollout");
  World w(yaml);
  w.Deploy();
  w.hooks = [](const HookCall&, int64_t) {
    return HookResult{HookVerdict::kDenied, "load test failed", 500, 1};
  };
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(2));
  EXPECT_TRUE(w.state_.status.abort);
  const RolloutCondition* p = GetCondition(w.state_.status, condition_type::kProgressing);
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(p->message, HasSubstr("load test failed"));
}

// A weight that does not read back holds the setWeight step; it is checked again every 10 s.
TEST(ReconcileTest, UnverifiedWeightHoldsTheStep) {
  World w(kCanaryA);
  w.Deploy();
  w.ready_after_ = std::chrono::seconds(5);
  w.verified_from_ = 25;
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(1));
  const SeenEvent* step1 = w.FindEvent("RolloutStepCompleted", "1/4");
  ASSERT_NE(step1, nullptr);
  EXPECT_EQ(step1->t, 25);  // weight set at 5 s; read back at 5, 15 and 25 s
  int verifies = 0;
  for (const Intent& i : w.all_intents_) verifies += std::holds_alternative<VerifyWeight>(i);
  EXPECT_GE(verifies, 3);
}

// What the previous batch failed to do is asked again, with a Warning event.
TEST(ReconcileTest, FailedIntentsAreAskedAgain) {
  World w(kCanaryA);
  w.Deploy();
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(10));
  ASSERT_TRUE(w.state_.status.canary.weights.has_value());
  const int32_t weight = w.state_.status.canary.weights->canary.weight;
  ReconcileContext ctx;
  ctx.rollout = &w.rollout_;
  Observed obs;
  obs.revisions = std::vector<RevisionStatus>{};
  for (const auto& rec : w.state_.revisions) {
    RevisionStatus r;
    r.hash = rec.hash;
    r.desired_replicas = w.Pods(rec.hash);
    for (int i = 0; i < r.desired_replicas; ++i) {
      InstanceStatus inst;
      inst.id = rec.hash + std::to_string(i);
      inst.state = InstanceState::kReady;
      inst.ready_since = kT0;
      r.instances.push_back(inst);
    }
    obs.revisions->push_back(r);
  }
  obs.failures.push_back({SetWeight{weight, {}}, UnavailableError("proxy admin socket refused")});
  obs.failures.push_back(
      {SwitchService{ServiceRole::kCanary, w.state_.canary_selector}, UnavailableError("down")});
  ReconcileResult r = Reconcile(ctx, w.state_, obs, w.now_);
  bool set_weight = false, switched = false, warned = false;
  for (const Intent& i : r.intents) {
    if (const auto* sw = std::get_if<SetWeight>(&i)) set_weight = sw->weight == weight;
    if (const auto* ss = std::get_if<SwitchService>(&i))
      switched = ss->role == ServiceRole::kCanary;
    if (const auto* e = std::get_if<EmitEvent>(&i)) {
      warned =
          warned || (e->reason == "TrafficRoutingError" &&
                     e->message == "proxy admin socket refused" && e->type == EventType::kWarning);
    }
  }
  EXPECT_TRUE(set_weight);
  EXPECT_TRUE(switched);
  EXPECT_TRUE(warned);
}

// A new image mid-canary: the intermediate revision goes to 0 and the steps start again.
TEST(ReconcileTest, NewImageMidCanaryRestartsTheSteps) {
  World w(kCanaryA);
  w.Deploy();
  const std::string h1 = w.state_.status.stable_rs;
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(1));
  const std::string h2 = w.state_.status.current_pod_hash;
  ASSERT_EQ(w.Pods(h2), 2);
  w.SetImage("demo:v3");
  w.RunFor(std::chrono::minutes(1));
  const RolloutStatus& s = w.state_.status;
  EXPECT_NE(s.current_pod_hash, h2);
  EXPECT_EQ(s.stable_rs, h1);
  EXPECT_EQ(w.Pods(h2), 0);
  EXPECT_EQ(w.Pods(s.current_pod_hash), 2);
  EXPECT_EQ(s.current_step_index, 1);
  ASSERT_EQ(w.state_.revisions.size(), 3u);
  EXPECT_EQ(w.state_.revisions.back().revision, 3);
}

// undo: the previous revision's template comes back; as it is the stable one, steps are skipped.
TEST(ReconcileTest, UndoToTheStableRevision) {
  World w(kCanaryA);
  w.Deploy();
  const std::string h1 = w.state_.status.stable_rs;
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(1));
  auto undone =
      UndoRollout(w.rollout_.spec, w.state_.status, "demo", RevisionTemplates(w.state_), 0);
  ASSERT_TRUE(undone.has_value()) << undone.error().message();
  w.Apply(*undone);
  w.RunFor(std::chrono::minutes(1));
  EXPECT_EQ(w.state_.status.current_pod_hash, h1);
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  // The revision that came back is the newest again.
  EXPECT_EQ(w.state_.revisions.back().hash, h1);
  EXPECT_EQ(w.state_.revisions.back().revision, 3);
}

// rollbackWindow: going back to a revision older than the stable one, within the window, is
// fast-tracked (no steps, no analysis) once it is available.
TEST(ReconcileTest, RollbackWithinWindowIsFastTracked) {
  std::string yaml = kCanaryA;
  yaml.replace(yaml.find("  replicas: 10"), 14, "  replicas: 10\n  rollbackWindow: {revisions: 3}");
  World w(yaml);
  w.Deploy();
  const std::string h1 = w.state_.status.stable_rs;
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(1));
  auto full = PromoteRolloutFull(w.rollout_.spec, w.state_.status);
  w.Apply(*full);
  w.RunFor(std::chrono::minutes(2));
  ASSERT_EQ(w.state_.status.phase, "Healthy");
  ASSERT_NE(w.state_.status.stable_rs, h1);
  w.events_.clear();
  w.SetImage("demo:v1");
  w.RunFor(std::chrono::minutes(2));
  EXPECT_EQ(w.state_.status.stable_rs, h1);
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  // The old revision was already scaled to 0, so Argo's SkipSteps event (for an active one) is
  // not recorded; the fast track shows in the promotion reason.
  EXPECT_NE(w.FindEvent("RolloutCompleted", "Rollback within window"), nullptr);
  EXPECT_EQ(w.FindEvent("RolloutPaused"), nullptr);
}

constexpr char kScaleAndRoutes[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo, namespace: default}
spec:
  replicas: 10
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      containers: [{name: app, image: demo:v1}]
  strategy:
    canary:
      canaryMetadata: {labels: {role: canary}}
      trafficRouting:
        plugins: {ramp/proxy: {listen: ":8080"}}
        managedRoutes: [{name: beta}]
      steps:
      - setCanaryScale: {replicas: 3}
      - setHeaderRoute:
          name: beta
          match: [{headerName: x-beta, headerValue: {exact: "1"}}]
      - setWeight: 10
      - pause: {}
)";

TEST(ReconcileTest, SetCanaryScaleAndHeaderRoute) {
  World w(kScaleAndRoutes);
  w.Deploy();
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(1));
  const RolloutStatus& s = w.state_.status;
  EXPECT_EQ(s.current_step_index, 3);
  // setCanaryScale 3 holds through setWeight 10 (ceil(10% of 10) = 1 would be fewer).
  EXPECT_EQ(w.Pods(s.current_pod_hash), 3);
  EXPECT_EQ(s.canary.weights->canary.weight, 10);
  const HeaderRoute* route = nullptr;
  std::vector<std::map<std::string, std::string>> canary_labels;
  for (const Intent& i : w.all_intents_) {
    if (const auto* h = std::get_if<SetHeaderRoute>(&i)) route = &h->route;
    if (const auto* sc = std::get_if<ScaleRevision>(&i); sc && sc->hash == s.current_pod_hash) {
      canary_labels.push_back(sc->labels);
    }
  }
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->name, "beta");
  ASSERT_EQ(route->matches.size(), 1u);
  EXPECT_EQ(route->matches[0].header_name, "x-beta");
  EXPECT_EQ(route->matches[0].header_value.value, "1");
  ASSERT_FALSE(canary_labels.empty());
  EXPECT_EQ(canary_labels.back().at("role"), "canary");
  // Promoting to the end removes the managed route.
  auto full = PromoteRolloutFull(w.rollout_.spec, w.state_.status);
  w.Apply(*full);
  w.RunFor(std::chrono::minutes(2));
  EXPECT_EQ(w.state_.status.phase, "Healthy");
  EXPECT_TRUE(std::holds_alternative<RemoveManagedRoutes>(*std::find_if(
      w.all_intents_.rbegin(), w.all_intents_.rend(),
      [](const Intent& i) { return std::holds_alternative<RemoveManagedRoutes>(i); })));
}

TEST(ReconcileTest, DynamicStableScaleShrinksTheStable) {
  std::string yaml = kCanaryA;
  yaml.replace(yaml.find("      canaryService"), 0, "      dynamicStableScale: true\n");
  World w(yaml);
  w.Deploy();
  const std::string h1 = w.state_.status.stable_rs;
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(1));
  EXPECT_EQ(w.state_.status.canary.weights->canary.weight, 20);
  EXPECT_EQ(w.Pods(h1), 8);  // stable sized to the 80 % it carries
  auto full = PromoteRolloutFull(w.rollout_.spec, w.state_.status);
  w.Apply(*full);
  w.RunFor(std::chrono::minutes(2));
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  EXPECT_EQ(w.Pods(h1), 0);  // no scale-down delay with dynamicStableScale
}

constexpr char kBlueGreenPost[] = R"(apiVersion: argoproj.io/v1alpha1
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
    blueGreen:
      activeService: demo-active
      postPromotionAnalysis:
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

TEST(ReconcileTest, BlueGreenPostPromotionFailureSwitchesBack) {
  World w(kBlueGreenPost);
  w.metrics = [](const std::string&, int64_t t) { return Value(t < 0 ? 1 : 0); };
  w.Deploy();
  const std::string h1 = w.state_.status.stable_rs;
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(2));
  const RolloutStatus& s = w.state_.status;
  EXPECT_TRUE(s.abort);
  EXPECT_EQ(s.phase, "Degraded");
  EXPECT_EQ(s.stable_rs, h1);
  EXPECT_EQ(s.blue_green.active_selector, h1);
  const RolloutCondition* p = GetCondition(s, condition_type::kProgressing);
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(p->message, HasSubstr("post-promotion analysis phase error/failed"));
}

TEST(ReconcileTest, BlueGreenPostPromotionSuccessPromotes) {
  World w(kBlueGreenPost);
  w.metrics = [](const std::string&, int64_t) { return Value(1); };
  w.Deploy();
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::minutes(2));
  const RolloutStatus& s = w.state_.status;
  EXPECT_EQ(s.phase, "Healthy") << s.message;
  EXPECT_EQ(s.stable_rs, s.current_pod_hash);
  ASSERT_TRUE(s.blue_green.post_promotion_analysis_run_status.has_value());
  EXPECT_THAT(s.blue_green.post_promotion_analysis_run_status->name, HasSubstr("-post"));
}

TEST(ReconcileTest, RevisionHistoryLimitDeletesOldRevisions) {
  std::string yaml = kBasic;
  yaml.replace(yaml.find("  replicas: 5"), 13, "  replicas: 5\n  revisionHistoryLimit: 1");
  World w(yaml);
  w.Deploy();
  for (int v = 2; v <= 5; ++v) {
    w.SetImage("demo:v" + std::to_string(v));
    w.RunFor(std::chrono::seconds(5));
    auto full = PromoteRolloutFull(w.rollout_.spec, w.state_.status);
    w.Apply(*full);
    w.RunFor(std::chrono::minutes(1));
    ASSERT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  }
  // The current revision and one old one.
  EXPECT_EQ(w.state_.revisions.size(), 2u);
  EXPECT_EQ(w.state_.revisions.back().revision, 5);
}

// canary.replicaProgressThreshold: promotion goes ahead once 8 of 10 new instances are available.
TEST(ReconcileTest, ReplicaProgressThresholdAllowsPartialPromotion) {
  std::string yaml = kCanaryA;
  yaml.replace(yaml.find("      canaryService"), 0,
               "      replicaProgressThreshold: {type: Pods, value: 8}\n");
  World w(yaml);
  w.Deploy();
  w.never_ready_hash_ = w.state_.status.stable_rs;
  w.ready_cap_ = 8;
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(1));
  auto full = PromoteRolloutFull(w.rollout_.spec, w.state_.status);
  w.Apply(*full);
  w.RunFor(std::chrono::minutes(1));
  EXPECT_EQ(w.state_.status.stable_rs, w.state_.status.current_pod_hash);
  EXPECT_NE(w.FindEvent("RolloutCompleted", "Full promotion requested"), nullptr);
}

TEST(ReconcileTest, WithoutThresholdPromotionWaitsForEveryInstance) {
  World w(kCanaryA);
  w.Deploy();
  w.never_ready_hash_ = w.state_.status.stable_rs;
  w.ready_cap_ = 8;
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(1));
  auto full = PromoteRolloutFull(w.rollout_.spec, w.state_.status);
  w.Apply(*full);
  w.RunFor(std::chrono::minutes(1));
  EXPECT_NE(w.state_.status.stable_rs, w.state_.status.current_pod_hash);
  EXPECT_EQ(w.FindEvent("RolloutCompleted"), nullptr);
}

// Instances of a revision the state does not know are adopted as an old revision and removed.
TEST(ReconcileTest, UnknownRevisionsAreScaledDown) {
  World w(kBasic);
  w.Deploy();
  ReconcileContext ctx;
  ctx.rollout = &w.rollout_;
  Observed obs;
  obs.revisions = std::vector<RevisionStatus>{};
  RevisionStatus stable;
  stable.hash = w.state_.status.stable_rs;
  stable.revision = 1;
  stable.desired_replicas = 5;
  RevisionStatus stray;
  stray.hash = "stray";
  stray.revision = 0;
  stray.desired_replicas = 2;
  for (int i = 0; i < 5; ++i) {
    InstanceStatus inst;
    inst.id = "s" + std::to_string(i);
    inst.state = InstanceState::kReady;
    inst.ready_since = kT0 - std::chrono::hours(1);
    stable.instances.push_back(inst);
    if (i < 2) stray.instances.push_back(inst);
  }
  obs.revisions->push_back(stable);
  obs.revisions->push_back(stray);
  ReconcileResult r = Reconcile(ctx, w.state_, obs, kT0);
  bool scaled = false;
  for (const Intent& i : r.intents) {
    if (const auto* s = std::get_if<ScaleRevision>(&i))
      scaled = scaled || (s->hash == "stray" && s->replicas == 0);
  }
  EXPECT_TRUE(scaled);
  EXPECT_TRUE(std::any_of(r.state.revisions.begin(), r.state.revisions.end(),
                          [](const RevisionRecord& rec) { return rec.hash == "stray"; }));
}
}  // namespace
}  // namespace ramp::engine
