// The simulator on small rollouts: each test states what Argo's controller does with the
// rollout and the scenario (reference/argo-rollouts.md §2.7, §11) and checks the timeline and
// the summary against that, not against recorded output.
#include "sim/simulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/output.h"

namespace ramp::sim {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

struct Result {
  Status status;
  Summary summary;
  std::vector<Event> events;

  const Event* Find(std::string_view reason, std::string_view text = "") const {
    for (const Event& e : events) {
      if (e.reason == reason && e.message.find(text) != std::string::npos) return &e;
    }
    return nullptr;
  }
  int64_t Count(std::string_view reason) const {
    int64_t n = 0;
    for (const Event& e : events) n += e.reason == reason ? 1 : 0;
    return n;
  }
};

int64_t Sec(Duration d) { return std::chrono::duration_cast<std::chrono::seconds>(d).count(); }

Result Simulate(const std::string& manifests, const std::string& scenario_text,
                const Limits& limits = {}) {
  Result r;
  StatusOr<SimulationInput> in = LoadInput({{"m.yaml", manifests}}, "");
  EXPECT_TRUE(in.has_value()) << in.error().message();
  StatusOr<Scenario> scenario = ParseScenario(scenario_text, "s.yaml");
  EXPECT_TRUE(scenario.has_value()) << scenario.error().message();
  if (!in || !scenario) return r;
  StatusOr<Summary> s = sim::Simulate(
      *in, *scenario, [&](const Event& e) { r.events.push_back(e); }, limits);
  if (s) {
    r.summary = *s;
  } else {
    r.status = s.error();
  }
  return r;
}

// A canary with a traffic router: setWeight 20, an indefinite pause, setWeight 50.
constexpr char kCanary[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo}
spec:
  replicas: 10
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      containers: [{name: app, image: demo:v1}]
  strategy:
    canary:
      canaryService: demo-canary
      stableService: demo-stable
      trafficRouting:
        plugins: {ramp/proxy: {listen: ":8080"}}
      steps:
      - setWeight: 20
      - pause: {}
      - setWeight: 50
)";

TEST(SimulatorTest, PromotedCanaryFinishesHealthy) {
  Result r = Simulate(kCanary, R"(update: {image: demo:v2}
readyAfter: 5s
actions:
- {at: 1m, do: promote}
)");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  // Nothing from the deploy before t = 0 is reported; the update creates revision 2.
  ASSERT_FALSE(r.events.empty());
  EXPECT_EQ(r.events.front().t, Duration::zero());
  for (const Event& e : r.events) EXPECT_GE(e.t, Duration::zero()) << e.reason;
  const Event* created = r.Find("NewReplicaSetCreated");
  ASSERT_NE(created, nullptr);
  EXPECT_THAT(created->message, HasSubstr("(revision 2)"));

  // The first step completes once the 2 canary pods are ready, 5 s after they were created.
  const Event* step1 = r.Find("RolloutStepCompleted", "1/3");
  ASSERT_NE(step1, nullptr);
  EXPECT_EQ(Sec(step1->t), 5);
  EXPECT_EQ(step1->step, 1);
  EXPECT_EQ(step1->weight, 20);
  const Event* paused = r.Find("RolloutPaused");
  ASSERT_NE(paused, nullptr);
  EXPECT_EQ(Sec(paused->t), 5);
  // The promote at 1m ends the pause; 5 s later the 5 canary pods are ready at weight 50, and
  // after the last step the canary becomes stable.
  const Event* resumed = r.Find("RolloutResumed");
  ASSERT_NE(resumed, nullptr);
  EXPECT_EQ(Sec(resumed->t), 60);
  const Event* step3 = r.Find("RolloutStepCompleted", "3/3");
  ASSERT_NE(step3, nullptr);
  EXPECT_EQ(Sec(step3->t), 65);
  EXPECT_EQ(step3->weight, 50);
  const Event* completed = r.Find("RolloutCompleted");
  ASSERT_NE(completed, nullptr);

  const Summary& s = r.summary;
  EXPECT_EQ(s.settled_by, SettledBy::kCompleted);
  EXPECT_EQ(s.phase, "Healthy");
  EXPECT_EQ(s.t, completed->t);  // it stops at the fixpoint where it completed
  EXPECT_FALSE(s.aborted);
  EXPECT_EQ(s.current_step_index, 3);
  EXPECT_EQ(s.weight, 0);  // all traffic on the new stable
  EXPECT_EQ(s.stable_rs, s.current_pod_hash);
  EXPECT_THAT(created->message, HasSubstr(s.current_pod_hash));
  EXPECT_TRUE(s.analysis_runs.empty());
}

TEST(SimulatorTest, AnIndefinitePauseWithNoActionLeftIsSettled) {
  Result r = Simulate(kCanary, "update: {image: demo:v2}\nreadyAfter: 5s\n");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.summary.settled_by, SettledBy::kPaused);
  EXPECT_EQ(r.summary.phase, "Paused");
  EXPECT_EQ(r.summary.message, "CanaryPauseStep");
  EXPECT_EQ(Sec(r.summary.t), 5);
  EXPECT_EQ(r.summary.current_step_index, 1);
  EXPECT_EQ(r.summary.weight, 20);
  EXPECT_NE(r.summary.stable_rs, r.summary.current_pod_hash);
}

TEST(SimulatorTest, ATimedPauseIsNotSettled) {
  std::string timed = kCanary;
  timed.replace(timed.find("pause: {}"), 9, "pause: {duration: 1m}");
  Result r = Simulate(timed, "update: {image: demo:v2}\nreadyAfter: 5s\n");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.summary.settled_by, SettledBy::kCompleted);
  const Event* step2 = r.Find("RolloutStepCompleted", "2/3");
  ASSERT_NE(step2, nullptr);
  EXPECT_EQ(Sec(step2->t), 65);  // the pause started at 5 s
}

TEST(SimulatorTest, UntilStopsTheSimulation) {
  Result r = Simulate(kCanary, "update: {image: demo:v2}\nreadyAfter: 5s\nuntil: 3s\n");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.summary.settled_by, SettledBy::kUntil);
  EXPECT_EQ(Sec(r.summary.t), 3);
  EXPECT_EQ(r.summary.phase, "Progressing");
  EXPECT_EQ(r.Find("RolloutStepCompleted"), nullptr);
}

TEST(SimulatorTest, AnActionThatIsNotValidProducesActionFailed) {
  Result r = Simulate(kCanary, R"(update: {image: demo:v2}
readyAfter: 5s
actions:
- {at: 30s, do: resume}
- {at: 40s, do: undo, toRevision: 7}
- {at: 1m, do: promote}
)");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  const Event* resume = r.Find("ActionFailed", "resume");
  ASSERT_NE(resume, nullptr);
  EXPECT_EQ(Sec(resume->t), 30);
  EXPECT_EQ(resume->type, EventType::kWarning);
  EXPECT_THAT(resume->message, HasSubstr("rollout is not manually paused"));
  const Event* undo = r.Find("ActionFailed", "undo");
  ASSERT_NE(undo, nullptr);
  EXPECT_THAT(undo->message, HasSubstr("unable to find specified revision 7 in history"));
  // The simulation went on: the promote still finishes the rollout.
  EXPECT_EQ(r.summary.settled_by, SettledBy::kCompleted);
}

TEST(SimulatorTest, AManualPauseIsSettledAndResumeMovesOn) {
  std::string no_pause = kCanary;
  no_pause.replace(no_pause.find("      - pause: {}\n"), 18, "");
  Result paused = Simulate(no_pause, R"(update: {image: demo:v2}
readyAfter: 5s
actions:
- {at: 0s, do: pause}
)");
  ASSERT_TRUE(paused.status.ok()) << paused.status.message();
  EXPECT_EQ(paused.summary.settled_by, SettledBy::kPaused);
  EXPECT_EQ(paused.summary.message, "manually paused");
  EXPECT_EQ(Sec(paused.summary.t), 0);

  Result resumed = Simulate(no_pause, R"(update: {image: demo:v2}
readyAfter: 5s
actions:
- {at: 0s, do: pause}
- {at: 1m, do: resume}
)");
  ASSERT_TRUE(resumed.status.ok()) << resumed.status.message();
  EXPECT_EQ(resumed.summary.settled_by, SettledBy::kCompleted);
  const Event* resume = resumed.Find("RolloutResumed");
  ASSERT_NE(resume, nullptr);
  EXPECT_EQ(Sec(resume->t), 60);
  EXPECT_GT(resumed.summary.t, std::chrono::seconds(60));
}

TEST(SimulatorTest, PromoteFullSkipsTheRemainingSteps) {
  Result r = Simulate(kCanary, R"(update: {image: demo:v2}
readyAfter: 5s
actions:
- {at: 30s, do: promote-full}
)");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.Count("RolloutResumed"), 1);  // recorded once, whoever clears the pause
  EXPECT_EQ(r.Find("RolloutStepCompleted", "3/3"), nullptr);
  const Event* completed = r.Find("RolloutCompleted", "Full promotion requested");
  ASSERT_NE(completed, nullptr);
  EXPECT_EQ(Sec(completed->t), 35);  // the 8 more canary pods are ready 5 s later
  EXPECT_EQ(r.summary.settled_by, SettledBy::kCompleted);
}

constexpr char kAnalysis[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo}
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

TEST(SimulatorTest, AFailingMetricAbortsTheRollout) {
  Result r = Simulate(kAnalysis, R"(update: {image: demo:v2}
metrics:
  success-rate:
  - {at: 0s, value: [0.99]}
  - {at: 1m, value: [0.50]}
)");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  // Pods are ready at once: the run starts at 0 s, measures 0.99 then, 0.50 a minute later.
  const Event* failed = r.Find("AnalysisRunFailed");
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(Sec(failed->t), 60);
  const Event* aborted = r.Find("RolloutAborted");
  ASSERT_NE(aborted, nullptr);
  EXPECT_EQ(Sec(aborted->t), 60);
  EXPECT_THAT(aborted->message, HasSubstr("Step-based analysis phase error/failed"));
  EXPECT_EQ(r.Find("RolloutStepCompleted", "2/3"), nullptr);

  const Summary& s = r.summary;
  EXPECT_EQ(s.settled_by, SettledBy::kRolloutAborted);
  EXPECT_EQ(s.phase, "Degraded");
  EXPECT_THAT(s.message, StartsWith("RolloutAborted: "));
  EXPECT_TRUE(s.aborted);
  EXPECT_EQ(s.current_step_index, 0);
  EXPECT_EQ(s.weight, 0);
  EXPECT_EQ(Sec(s.t), 60);
  ASSERT_EQ(s.analysis_runs.size(), 1u);
  EXPECT_EQ(s.analysis_runs[0].phase, "Failed");
  ASSERT_EQ(s.analysis_runs[0].metrics.size(), 1u);
  EXPECT_EQ(s.analysis_runs[0].metrics[0].name, "success-rate");
  EXPECT_EQ(s.analysis_runs[0].metrics[0].phase, "Failed");
  EXPECT_EQ(s.analysis_runs[0].metrics[0].measurements, 2);
}

TEST(SimulatorTest, RetryAfterAnAbortRunsTheStepsAgain) {
  Result r = Simulate(kAnalysis, R"(update: {image: demo:v2}
metrics:
  success-rate:
  - {at: 0s, value: [0.50]}
  - {at: 2m, value: [0.99]}
actions:
- {at: 3m, do: retry}
)");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  const Event* aborted = r.Find("RolloutAborted");
  ASSERT_NE(aborted, nullptr);
  EXPECT_EQ(Sec(aborted->t), 0);
  const Event* retry = r.Find("RolloutRetry");
  ASSERT_NE(retry, nullptr);
  EXPECT_EQ(Sec(retry->t), 180);
  // A fresh run measures at 3m, 4m and 5m.
  EXPECT_EQ(r.summary.settled_by, SettledBy::kCompleted);
  EXPECT_EQ(Sec(r.summary.t), 300);
  EXPECT_FALSE(r.summary.aborted);
  ASSERT_EQ(r.summary.analysis_runs.size(), 2u);
  EXPECT_EQ(r.summary.analysis_runs[0].phase, "Failed");
  EXPECT_EQ(r.summary.analysis_runs[1].phase, "Successful");
  EXPECT_EQ(r.summary.analysis_runs[1].metrics[0].measurements, 3);
}

TEST(SimulatorTest, AMetricWithoutAScenarioValueErrs) {
  // No entry for success-rate: every measurement is an Error ("no scenario value"), retried
  // every 10 s; the fifth consecutive error exceeds consecutiveErrorLimit (4).
  Result r = Simulate(kAnalysis, "update: {image: demo:v2}\n");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.summary.settled_by, SettledBy::kRolloutAborted);
  EXPECT_EQ(Sec(r.summary.t), 40);
  ASSERT_EQ(r.summary.analysis_runs.size(), 1u);
  EXPECT_EQ(r.summary.analysis_runs[0].phase, "Error");
  EXPECT_EQ(r.summary.analysis_runs[0].metrics[0].measurements, 5);
  const Event* aborted = r.Find("RolloutAborted");
  ASSERT_NE(aborted, nullptr);
  EXPECT_THAT(aborted->message, HasSubstr("no scenario value for metric success-rate at t=40s"));
}

TEST(SimulatorTest, ErrorAndPhaseEntries) {
  Result r = Simulate(kAnalysis, R"(update: {image: demo:v2}
metrics:
  success-rate:
  - {at: 0s, error: "connection refused"}
  - {at: 10s, phase: Successful}
  - {at: 1m10s, phase: Successful}
  - {at: 2m, value: [1.0]}
)");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  // 0 s: error; 10 s: Successful (a verdict); 1m10s: Successful; 2m10s: 1.0 → Successful.
  const Event* done = r.Find("AnalysisRunSuccessful");
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(Sec(done->t), 130);
  EXPECT_EQ(r.summary.settled_by, SettledBy::kCompleted);
  ASSERT_EQ(r.summary.analysis_runs.size(), 1u);
  EXPECT_EQ(r.summary.analysis_runs[0].metrics[0].measurements, 4);  // 3 taken + 1 error
}

TEST(SimulatorTest, PodsThatNeverGetReadyExceedTheProgressDeadline) {
  std::string r60 = kCanary;
  r60.replace(r60.find("  replicas: 10\n"), 15, "  replicas: 10\n  progressDeadlineSeconds: 60\n");
  Result r = Simulate(r60, "update: {image: demo:v2}\nreadyAfter: never\n");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  const Summary& s = r.summary;
  EXPECT_EQ(s.settled_by, SettledBy::kProgressDeadlineExceeded);
  EXPECT_EQ(s.phase, "Degraded");
  EXPECT_FALSE(s.aborted);
  EXPECT_EQ(Sec(s.t), 61);  // the deadline is strict: it has passed one second after 60 s
  EXPECT_THAT(s.message, StartsWith("ProgressDeadlineExceeded: "));
}

TEST(SimulatorTest, ReadyAfterPerImage) {
  // demo:v2 pods never get ready, so the canary waits; set-image demo:v3 (ready after 2 s)
  // replaces it and the rollout goes on.
  Result r = Simulate(kCanary, R"(update: {image: demo:v2}
readyAfter: {default: 2s, demo:v2: never}
actions:
- {at: 1m, do: set-image, image: demo:v3}
- {at: 2m, do: promote}
)");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  const Event* step1 = r.Find("RolloutStepCompleted", "1/3");
  ASSERT_NE(step1, nullptr);
  EXPECT_EQ(Sec(step1->t), 62);
  EXPECT_NE(r.Find("NewReplicaSetCreated", "(revision 3)"), nullptr);
  EXPECT_EQ(r.summary.settled_by, SettledBy::kCompleted);
}

TEST(SimulatorTest, UndoRollsBackToTheFirstRevision) {
  Result r = Simulate(kCanary, R"(update: {image: demo:v2}
actions:
- {at: 1m, do: undo}
)");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  // Before the undo the canary waits in its pause; the undo brings back revision 1's template,
  // which is still the stable one, so the rollout goes back to it without steps.
  const Event* updated = r.Find("RolloutUpdated", "revision 3");
  ASSERT_NE(updated, nullptr);
  EXPECT_EQ(Sec(updated->t), 60);
  EXPECT_EQ(r.summary.settled_by, SettledBy::kCompleted);
  EXPECT_EQ(r.summary.stable_rs, r.summary.current_pod_hash);
  const Event* created = r.Find("NewReplicaSetCreated");
  ASSERT_NE(created, nullptr);
  EXPECT_THAT(created->message, Not(HasSubstr(r.summary.current_pod_hash)));
}

constexpr char kBlueGreen[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo}
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
)";

TEST(SimulatorTest, BlueGreenWithoutAutoPromotionWaitsForAPromote) {
  Result waiting = Simulate(kBlueGreen, "update: {image: demo:v2}\nreadyAfter: 10s\n");
  ASSERT_TRUE(waiting.status.ok()) << waiting.status.message();
  EXPECT_EQ(waiting.summary.settled_by, SettledBy::kPaused);
  EXPECT_EQ(waiting.summary.message, "BlueGreenPause");
  EXPECT_EQ(Sec(waiting.summary.t), 10);
  EXPECT_EQ(waiting.summary.weight, std::nullopt);
  EXPECT_EQ(waiting.summary.current_step_index, std::nullopt);
  for (const Event& e : waiting.events) EXPECT_EQ(e.weight, std::nullopt) << e.reason;

  Result promoted = Simulate(kBlueGreen, R"(update: {image: demo:v2}
readyAfter: 10s
actions:
- {at: 1m, do: promote}
)");
  ASSERT_TRUE(promoted.status.ok()) << promoted.status.message();
  EXPECT_EQ(promoted.summary.settled_by, SettledBy::kCompleted);
  const Event* active = promoted.Find("SwitchService", "demo-active");
  ASSERT_NE(active, nullptr);
  EXPECT_GE(Sec(active->t), 60);
}

TEST(SimulatorTest, BlueGreenAutoPromotionSecondsIsNotSettled) {
  std::string auto_bg = kBlueGreen;
  auto_bg.replace(auto_bg.find("autoPromotionEnabled: false"), 27, "autoPromotionSeconds: 30");
  Result r = Simulate(auto_bg, "update: {image: demo:v2}\nreadyAfter: 10s\n");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.summary.settled_by, SettledBy::kCompleted);
  EXPECT_GE(Sec(r.summary.t), 40);
}

TEST(SimulatorTest, AnUnchangedImageIsHealthyAtOnce) {
  Result r = Simulate(kCanary, "update: {image: demo:v1}\n");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.summary.settled_by, SettledBy::kCompleted);
  EXPECT_EQ(r.summary.t, Duration::zero());
  EXPECT_TRUE(r.events.empty());
}

TEST(SimulatorTest, LimitsTurnANonSettlingRunIntoAnError) {
  Limits one;
  one.reconciles_per_time = 1;
  Result r = Simulate(kCanary, "update: {image: demo:v2}\n", one);
  EXPECT_EQ(r.status.code(), StatusCode::kInternal);
  EXPECT_THAT(r.status.message(), HasSubstr("no fixpoint after 1 reconciles"));

  Limits few;
  few.reconciles = 5;
  r = Simulate(kCanary, "update: {image: demo:v2}\n", few);
  EXPECT_EQ(r.status.code(), StatusCode::kInternal);
  EXPECT_THAT(r.status.message(), HasSubstr("more than 5 reconciles"));
}

TEST(SimulatorTest, ARolloutThatIsNotHealthyAtItsSpecCannotStart) {
  std::string paused = kCanary;
  paused.replace(paused.find("  replicas: 10\n"), 15, "  replicas: 10\n  paused: true\n");
  Result r = Simulate(paused, "update: {image: demo:v2}\n");
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("does not become Healthy"));
  EXPECT_TRUE(r.events.empty());
}

TEST(SimulatorTest, JsonLinesParseAndCarrySchemaVersion1) {
  Result r = Simulate(kAnalysis, R"(update: {image: demo:v2}
readyAfter: 1500ms
metrics:
  success-rate:
  - {at: 0s, value: [0.99]}
)");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  std::ostringstream out;
  for (const Event& e : r.events) out << JsonLine(EventJson(e)) << "\n";
  out << JsonLine(SummaryJson(r.summary)) << "\n";

  std::istringstream in(out.str());
  std::string line;
  std::vector<nlohmann::json> lines;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(j.is_discarded()) << line;
    lines.push_back(j);
  }
  ASSERT_EQ(lines.size(), r.events.size() + 1);
  bool fractional = false;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    const nlohmann::json& e = lines[i];
    for (const char* key : {"t", "reason", "message", "step", "weight"}) {
      EXPECT_TRUE(e.contains(key)) << key << " in " << line;
    }
    EXPECT_TRUE(e["t"].is_number());
    fractional = fractional || e["t"].is_number_float();
    EXPECT_TRUE(e["step"].is_number_integer() || e["step"].is_null());
  }
  // The canary pods are ready 1.5 s after creation: that time is written as a decimal.
  EXPECT_TRUE(fractional);
  const nlohmann::json& s = lines.back()["summary"];
  EXPECT_EQ(s["schemaVersion"], 1);
  EXPECT_EQ(s["settledBy"], "Completed");
  EXPECT_EQ(s["phase"], "Healthy");
  EXPECT_EQ(s["aborted"], false);
  EXPECT_EQ(s["stableRS"], s["currentPodHash"]);
  ASSERT_EQ(s["analysisRuns"].size(), 1u);
  EXPECT_EQ(s["analysisRuns"][0]["phase"], "Successful");
  EXPECT_EQ(s["analysisRuns"][0]["metrics"][0]["measurements"], 3);
}

}  // namespace
}  // namespace ramp::sim

namespace ramp::sim {
namespace {

// RolloutWebhooks in the -f files are attached: every hook is answered Allowed (rollback hooks
// Denied), so the update runs as without them.
TEST(SimulatorTest, RolloutWebhooksAreCalledAndAllowed) {
  const std::string hooks = std::string(kCanary) + R"(---
apiVersion: ramp.dev/v1alpha1
kind: RolloutWebhooks
metadata: {name: demo-hooks}
spec:
  rolloutRef: {name: demo}
  interval: 30s
  webhooks:
  - {name: approve, type: confirm-rollout, url: "http://h.test/a"}
  - {name: load, type: pre-rollout, url: "http://h.test/l"}
  - {name: check, type: rollout, url: "http://h.test/c"}
  - {name: more, type: confirm-traffic-increase, url: "http://h.test/m"}
  - {name: ship, type: confirm-promotion, url: "http://h.test/s"}
  - {name: rb, type: rollback, url: "http://h.test/r"}
  - {name: done, type: post-rollout, url: "http://h.test/d"}
  - {name: audit, type: event, url: "http://h.test/e"}
)";
  StatusOr<SimulationInput> in = LoadInput({{"m.yaml", hooks}}, "");
  ASSERT_TRUE(in.has_value()) << in.error().message();
  EXPECT_EQ(in->webhooks.size(), 8u);
  Result r = Simulate(hooks, R"(update: {image: demo:v2}
readyAfter: 5s
actions:
- {at: 1m, do: promote}
)");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.summary.settled_by, SettledBy::kCompleted);
  EXPECT_FALSE(r.summary.aborted);
  const Event* step1 = r.Find("RolloutStepCompleted", "1/3");
  ASSERT_NE(step1, nullptr);
  EXPECT_EQ(Sec(step1->t), 5);
  EXPECT_EQ(step1->weight, 20);
  const Event* step3 = r.Find("RolloutStepCompleted", "3/3");
  ASSERT_NE(step3, nullptr);
  EXPECT_EQ(Sec(step3->t), 65);
}

}  // namespace
}  // namespace ramp::sim
