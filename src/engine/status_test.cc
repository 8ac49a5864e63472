#include "engine/status.h"

#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "spec/diagnostics.h"

namespace ramp::engine {
namespace {

constexpr int64_t kBase = 1714557600;  // 2024-05-01T10:00:00Z

Time At(int64_t seconds_after_base) {
  return FromUnixNanos((kBase + seconds_after_base) * 1'000'000'000);
}

struct Decoded {
  RolloutStatus status;
  size_t errors = 0;
  std::string diagnostics;
};

Decoded Decode(const std::string& text) {
  Decoded out;
  auto docs = spec::ParseDocuments(text, "status.yaml");
  EXPECT_TRUE(docs.has_value());
  if (!docs.has_value()) return out;
  spec::Diagnostics diags;
  spec::SourceMap sources;
  spec::DecodeContext ctx("status.yaml", &diags, &sources);
  out.status = DecodeRolloutStatus(&ctx, (*docs)[0].root, "status");
  out.errors = ctx.error_count();
  for (const auto& item : diags.items()) out.diagnostics += item.ToString() + "\n";
  return out;
}

RolloutStatus FullStatus() {
  RolloutStatus s;
  s.abort = true;
  s.pause_conditions = {{"CanaryPauseStep", At(0)}};
  s.controller_pause = true;
  s.aborted_at = At(60);
  s.current_pod_hash = "new";
  s.current_step_hash = "steps";
  s.replicas = 5;
  s.updated_replicas = 2;
  s.ready_replicas = 4;
  s.available_replicas = 3;
  s.current_step_index = 0;
  s.collision_count = 1;
  s.observed_generation = "7";
  s.conditions = {{"Progressing", "True", At(30), At(0), "ReplicaSetUpdated", "msg"}};
  s.canary.current_step_analysis_run_status =
      RolloutAnalysisRunStatus{"ar-1", spec::AnalysisPhase::kRunning, ""};
  s.canary.current_background_analysis_run_status =
      RolloutAnalysisRunStatus{"ar-2", spec::AnalysisPhase::kFailed, "boom"};
  s.canary.current_experiment = "exp";
  s.canary.weights = TrafficWeightsStatus{
      {"canary-svc", "new", 20}, {"stable-svc", "old", 80}, {{"extra", "", 5}}, false};
  s.canary.stable_ping_pong = "ping";
  StepPluginStatus plugin;
  plugin.index = 2;
  plugin.name = "acme/step";
  plugin.operation = "Run";
  plugin.phase = "Running";
  plugin.message = "working";
  plugin.started_at = At(1);
  plugin.updated_at = At(2);
  plugin.finished_at = At(3);
  plugin.backoff = "30s";
  plugin.executions = 4;
  plugin.disabled = true;
  plugin.status = nlohmann::json{{"k", 1}};
  s.canary.step_plugin_statuses = {plugin};
  s.blue_green.preview_selector = "p";
  s.blue_green.active_selector = "a";
  s.blue_green.scale_up_preview_check_point = true;
  s.blue_green.pre_promotion_analysis_run_status =
      RolloutAnalysisRunStatus{"pre", spec::AnalysisPhase::kSuccessful, ""};
  s.blue_green.post_promotion_analysis_run_status =
      RolloutAnalysisRunStatus{"post", spec::AnalysisPhase::kInconclusive, ""};
  s.hpa_replicas = 5;
  s.selector = "app=x";
  s.stable_rs = "old";
  s.restarted_at = At(-60);
  s.promote_full = true;
  s.phase = "Paused";
  s.message = "CanaryPauseStep";
  s.workload_observed_generation = "3";
  AlbStatus alb{
      {"lb", "arn:lb", "app/lb/1"}, {"ctg", "arn:ctg", "c"}, {"stg", "arn:stg", "s"}, "ing"};
  s.alb = alb;
  s.albs = {alb};
  s.duration = RolloutDurationStatus{At(0), At(10), 42, At(100), "Aborted"};
  return s;
}

TEST(FormatMetaTime, UtcSecondsWithZ) {
  EXPECT_EQ(FormatMetaTime(At(0)), "2024-05-01T10:00:00Z");
  EXPECT_EQ(FormatMetaTime(At(0) + std::chrono::milliseconds(999)), "2024-05-01T10:00:00Z");
  EXPECT_EQ(FormatMetaTime(FromUnixNanos(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatMetaTime(At(86400 * 300 + 3661)), "2025-02-25T11:01:01Z");
}

TEST(RolloutStatusJson, EmptyStatusKeepsStructFields) {
  EXPECT_EQ(ToJson(RolloutStatus{}).dump(), R"({"blueGreen":{},"canary":{}})");
}

TEST(RolloutStatusJson, ExactArgoShape) {
  const nlohmann::json expected = nlohmann::json::parse(R"({
    "abort": true,
    "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2024-05-01T10:00:00Z"}],
    "controllerPause": true,
    "abortedAt": "2024-05-01T10:01:00Z",
    "currentPodHash": "new",
    "currentStepHash": "steps",
    "replicas": 5,
    "updatedReplicas": 2,
    "readyReplicas": 4,
    "availableReplicas": 3,
    "currentStepIndex": 0,
    "collisionCount": 1,
    "observedGeneration": "7",
    "conditions": [{"type": "Progressing", "status": "True",
                    "lastUpdateTime": "2024-05-01T10:00:30Z",
                    "lastTransitionTime": "2024-05-01T10:00:00Z",
                    "reason": "ReplicaSetUpdated", "message": "msg"}],
    "canary": {
      "currentStepAnalysisRunStatus": {"name": "ar-1", "status": "Running"},
      "currentBackgroundAnalysisRunStatus": {"name": "ar-2", "status": "Failed",
                                             "message": "boom"},
      "currentExperiment": "exp",
      "weights": {
        "canary": {"weight": 20, "serviceName": "canary-svc", "podTemplateHash": "new"},
        "stable": {"weight": 80, "serviceName": "stable-svc", "podTemplateHash": "old"},
        "additional": [{"weight": 5, "serviceName": "extra"}],
        "verified": false
      },
      "stablePingPong": "ping",
      "stepPluginStatuses": [{"index": 2, "name": "acme/step", "operation": "Run",
                              "phase": "Running", "message": "working",
                              "startedAt": "2024-05-01T10:00:01Z",
                              "updatedAt": "2024-05-01T10:00:02Z",
                              "finishedAt": "2024-05-01T10:00:03Z", "backoff": "30s",
                              "executions": 4, "disabled": true, "status": {"k": 1}}]
    },
    "blueGreen": {
      "previewSelector": "p", "activeSelector": "a", "scaleUpPreviewCheckPoint": true,
      "prePromotionAnalysisRunStatus": {"name": "pre", "status": "Successful"},
      "postPromotionAnalysisRunStatus": {"name": "post", "status": "Inconclusive"}
    },
    "HPAReplicas": 5,
    "selector": "app=x",
    "stableRS": "old",
    "restartedAt": "2024-05-01T09:59:00Z",
    "promoteFull": true,
    "phase": "Paused",
    "message": "CanaryPauseStep",
    "workloadObservedGeneration": "3",
    "alb": {"loadBalancer": {"name": "lb", "arn": "arn:lb", "fullName": "app/lb/1"},
            "canaryTargetGroup": {"name": "ctg", "arn": "arn:ctg", "fullName": "c"},
            "stableTargetGroup": {"name": "stg", "arn": "arn:stg", "fullName": "s"},
            "ingress": "ing"},
    "albs": [{"loadBalancer": {"name": "lb", "arn": "arn:lb", "fullName": "app/lb/1"},
              "canaryTargetGroup": {"name": "ctg", "arn": "arn:ctg", "fullName": "c"},
              "stableTargetGroup": {"name": "stg", "arn": "arn:stg", "fullName": "s"},
              "ingress": "ing"}],
    "duration": {"rolloutStartedAt": "2024-05-01T10:00:00Z",
                 "manualPauseStartedAt": "2024-05-01T10:00:10Z",
                 "totalManualPauseDurationSeconds": 42,
                 "finishedAt": "2024-05-01T10:01:40Z", "completionStatus": "Aborted"}
  })");
  EXPECT_EQ(ToJson(FullStatus()).dump(2), expected.dump(2));
}

TEST(RolloutStatusJson, ZeroConditionTimesAreNull) {
  RolloutStatus s;
  s.conditions = {{"Available", "False", std::nullopt, std::nullopt, "AvailableReason", ""}};
  s.pause_conditions = {{"BlueGreenPause", std::nullopt}};
  const nlohmann::json j = ToJson(s);
  EXPECT_TRUE(j["conditions"][0]["lastUpdateTime"].is_null());
  EXPECT_EQ(j["conditions"][0]["message"].get<std::string>(), "");
  EXPECT_TRUE(j["pauseConditions"][0]["startTime"].is_null());
  EXPECT_EQ(Decode(j.dump()).status, s);
}

TEST(RolloutStatusDecode, HandBuiltRoundTrips) {
  const RolloutStatus s = FullStatus();
  Decoded d = Decode(ToJson(s).dump());
  EXPECT_EQ(d.errors, 0u) << d.diagnostics;
  EXPECT_EQ(d.status, s);
}

TEST(RolloutStatusDecode, DecodeEncodeDecode) {
  const std::string yaml = R"(
abort: true
abortedAt: "2024-05-01T12:01:00+02:00"
pauseConditions:
- reason: InconclusiveAnalysisRun
  startTime: 2024-05-01T10:00:00.750Z
currentStepIndex: 3
observedGeneration: "12"
replicas: 4
HPAReplicas: 4
conditions:
- type: Progressing
  status: "False"
  lastUpdateTime: 2024-05-01T10:00:00Z
  lastTransitionTime: 2024-05-01T10:00:00Z
  reason: RolloutAborted
  message: "Rollout aborted update to revision 2"
canary:
  currentStepAnalysisRunStatus: {name: r, status: Inconclusive, message: meh}
  weights:
    canary: {weight: 0}
    stable: {weight: 100, podTemplateHash: abc}
    verified: true
  stepPluginStatuses:
  - {index: 0, name: p, operation: Abort, status: [1, "two"]}
blueGreen: {}
albs: []
duration: {totalManualPauseDurationSeconds: 0, completionStatus: Promoted}
)";
  Decoded first = Decode(yaml);
  ASSERT_EQ(first.errors, 0u) << first.diagnostics;
  EXPECT_EQ(first.status.aborted_at, At(60));
  EXPECT_EQ(first.status.pause_conditions[0].start_time, At(0));  // fraction dropped
  EXPECT_EQ(first.status.current_step_index, 3);
  EXPECT_EQ(first.status.canary.weights->verified, true);
  const nlohmann::json encoded = ToJson(first.status);
  EXPECT_EQ(encoded["abortedAt"].get<std::string>(), "2024-05-01T10:01:00Z");
  EXPECT_EQ(encoded["duration"]["totalManualPauseDurationSeconds"].get<int64_t>(), 0);
  Decoded second = Decode(encoded.dump());
  ASSERT_EQ(second.errors, 0u) << second.diagnostics;
  EXPECT_EQ(second.status, first.status);
  EXPECT_EQ(ToJson(second.status).dump(), encoded.dump());
}

TEST(RolloutStatusDecode, NullIsEmpty) {
  Decoded d = Decode("null");
  EXPECT_EQ(d.errors, 0u);
  EXPECT_EQ(d.status, RolloutStatus{});
}

TEST(RolloutStatusDecode, Strict) {
  Decoded d = Decode(R"(
replicas: "3"
bogus: 1
abortedAt: yesterday
canary: {currentStepAnalysisRunStatus: {name: r, status: Great}, nope: 1}
conditions: [{type: Healthy, extra: x}]
)");
  EXPECT_EQ(d.errors, 6u) << d.diagnostics;
  EXPECT_NE(d.diagnostics.find("status.bogus"), std::string::npos) << d.diagnostics;
  EXPECT_NE(d.diagnostics.find("status.abortedAt"), std::string::npos) << d.diagnostics;
  EXPECT_NE(d.diagnostics.find("status.canary.currentStepAnalysisRunStatus.status"),
            std::string::npos)
      << d.diagnostics;
  EXPECT_NE(d.diagnostics.find("status.conditions[0].extra"), std::string::npos) << d.diagnostics;
}

TEST(ToPhaseStatus, CopiesPhaseInputs) {
  const PhaseStatus p = ToPhaseStatus(FullStatus());
  EXPECT_EQ(p.pause_reasons, std::vector<std::string>{"CanaryPauseStep"});
  EXPECT_EQ(p.restarted_at, "2024-05-01T09:59:00Z");
  EXPECT_EQ(p.active_selector, "a");
  EXPECT_TRUE(p.post_promotion_analysis_completed);
  ASSERT_EQ(p.conditions.size(), 1u);
  EXPECT_EQ(p.conditions[0].reason, "ReplicaSetUpdated");
}

// ---- Condition helpers ----

TEST(Conditions, NewGetSetRemove) {
  RolloutStatus s;
  const RolloutCondition c = NewCondition("Paused", "True", "RolloutPaused", "Rollout is paused",
                                          At(5) + std::chrono::milliseconds(400));
  EXPECT_EQ(c.last_update_time, At(5));
  EXPECT_EQ(c.last_transition_time, At(5));
  EXPECT_EQ(GetCondition(s, "Paused"), nullptr);
  EXPECT_TRUE(SetCondition(&s, c));
  ASSERT_NE(GetCondition(s, "Paused"), nullptr);

  // Same status and reason: nothing changes, times included.
  EXPECT_FALSE(SetCondition(&s, NewCondition("Paused", "True", "RolloutPaused", "other", At(9))));
  EXPECT_EQ(*GetCondition(s, "Paused"), c);

  // Same status, new reason: lastTransitionTime kept, lastUpdateTime refreshed.
  SetCondition(&s, NewCondition("Available", "True", "AvailableReason", "", At(6)));
  EXPECT_TRUE(SetCondition(&s, NewCondition("Paused", "True", "Other", "m", At(10))));
  const RolloutCondition* p = GetCondition(s, "Paused");
  EXPECT_EQ(p->last_transition_time, At(5));
  EXPECT_EQ(p->last_update_time, At(10));
  EXPECT_EQ(s.conditions.back().type, "Paused");  // replaced, appended at the end

  // Status change: both times new.
  EXPECT_TRUE(SetCondition(&s, NewCondition("Paused", "False", "Other", "m", At(20))));
  EXPECT_EQ(GetCondition(s, "Paused")->last_transition_time, At(20));
  EXPECT_EQ(s.conditions.size(), 2u);

  RemoveCondition(&s, "Paused");
  EXPECT_EQ(GetCondition(s, "Paused"), nullptr);
  RemoveCondition(&s, "Paused");
  EXPECT_EQ(s.conditions.size(), 1u);
}

TEST(Conditions, Available) {
  const RolloutCondition yes = AvailableCondition(true, At(0));
  EXPECT_EQ(yes.status, "True");
  EXPECT_EQ(yes.reason, "AvailableReason");
  EXPECT_EQ(yes.message, "Rollout has minimum availability");
  const RolloutCondition no = AvailableCondition(false, At(0));
  EXPECT_EQ(no.status, "False");
  EXPECT_EQ(no.reason, "AvailableReason");
  EXPECT_EQ(no.message, "Rollout does not have minimum availability");
}

TEST(Conditions, PausedResumedRetry) {
  RolloutStatus s;
  s.current_pod_hash = "new";
  s.stable_rs = "old";
  EXPECT_TRUE(CheckPausedConditions(true, &s, At(0)));
  EXPECT_EQ(GetCondition(s, "Progressing")->status, "Unknown");
  EXPECT_EQ(GetCondition(s, "Progressing")->reason, "RolloutPaused");
  EXPECT_EQ(GetCondition(s, "Progressing")->message, "Rollout is paused");
  EXPECT_EQ(GetCondition(s, "Paused")->status, "True");
  EXPECT_FALSE(CheckPausedConditions(true, &s, At(5)));

  EXPECT_TRUE(CheckPausedConditions(false, &s, At(10)));
  EXPECT_EQ(GetCondition(s, "Progressing")->reason, "RolloutResumed");
  EXPECT_EQ(GetCondition(s, "Progressing")->message, "Rollout is resumed");
  EXPECT_EQ(GetCondition(s, "Paused")->status, "False");
  EXPECT_EQ(GetCondition(s, "Paused")->reason, "RolloutPaused");

  // Aborted: pausing does not touch the conditions while the abort flag is set.
  SetCondition(&s, NewCondition("Progressing", "False", "RolloutAborted", "x", At(20)));
  s.abort = true;
  EXPECT_FALSE(CheckPausedConditions(true, &s, At(21)));
  // Retry: the flag cleared under a RolloutAborted condition.
  s.abort = false;
  EXPECT_TRUE(CheckPausedConditions(false, &s, At(22)));
  EXPECT_EQ(GetCondition(s, "Progressing")->reason, "RolloutRetry");
  EXPECT_EQ(GetCondition(s, "Progressing")->message, "Retrying Rollout after abort");

  // Completed: the Progressing condition is not switched to RolloutPaused.
  RolloutStatus done;
  done.current_pod_hash = done.stable_rs = "h";
  CheckPausedConditions(true, &done, At(0));
  EXPECT_EQ(GetCondition(done, "Progressing"), nullptr);
  EXPECT_EQ(GetCondition(done, "Paused")->status, "True");
}

// ---- calculateRolloutConditions ----

spec::RolloutSpec Canary() {
  spec::RolloutSpec s;
  s.replicas = 3;
  s.canary.emplace();
  s.canary->steps.resize(2);
  s.progress_deadline_seconds = 60;
  return s;
}

// Mid-update: new RS 1/3 updated, stable "old".
RolloutStatus Updating() {
  RolloutStatus s;
  s.observed_generation = "2";
  s.current_pod_hash = "new";
  s.stable_rs = "old";
  s.current_step_index = 1;
  s.replicas = 4;
  s.updated_replicas = 1;
  s.ready_replicas = 4;
  s.available_replicas = 4;
  return s;
}

ConditionInputs Inputs() {
  ConditionInputs in;
  in.generation = 2;
  in.rollout_name = "app";
  in.new_rs_name = "app-new";
  in.revision = 2;
  in.available = true;
  return in;
}

TEST(CalculateRolloutConditions, ProgressAndCompletion) {
  const spec::RolloutSpec spec = Canary();
  RolloutStatus old_status = Updating();
  RolloutStatus next = old_status;
  next.updated_replicas = 2;
  ConditionEvents ev = CalculateRolloutConditions(spec, Inputs(), old_status, &next, At(0));
  const RolloutCondition* prog = GetCondition(next, "Progressing");
  ASSERT_NE(prog, nullptr);
  EXPECT_EQ(prog->status, "True");
  EXPECT_EQ(prog->reason, "ReplicaSetUpdated");
  EXPECT_EQ(prog->message, "ReplicaSet \"app-new\" is progressing.");
  EXPECT_EQ(GetCondition(next, "Available")->status, "True");
  EXPECT_EQ(GetCondition(next, "Completed")->status, "False");
  EXPECT_EQ(GetCondition(next, "Completed")->message, "RolloutCompleted");
  EXPECT_EQ(GetCondition(next, "Healthy"), nullptr);  // never healthy yet: not written
  EXPECT_TRUE(ev.not_completed);
  EXPECT_FALSE(ev.aborted);

  // Without a new RS the message names the rollout.
  ConditionInputs no_rs = Inputs();
  no_rs.new_rs_name.clear();
  RolloutStatus other = old_status;
  other.updated_replicas = 2;
  CalculateRolloutConditions(spec, no_rs, old_status, &other, At(0));
  EXPECT_EQ(GetCondition(other, "Progressing")->message, "Rollout \"app\" is progressing.");

  // Further progress refreshes lastUpdateTime, keeps lastTransitionTime.
  old_status = next;
  next.updated_replicas = 3;
  ev = CalculateRolloutConditions(spec, Inputs(), old_status, &next, At(30));
  EXPECT_EQ(GetCondition(next, "Progressing")->last_update_time, At(30));
  EXPECT_EQ(GetCondition(next, "Progressing")->last_transition_time, At(0));
  EXPECT_FALSE(ev.not_completed);  // Completed False already

  // Done: stable == current, all steps, replicas == 3.
  old_status = next;
  next.stable_rs = "new";
  next.current_step_index = 2;
  next.replicas = 3;
  next.available_replicas = 3;
  CalculateRolloutConditions(spec, Inputs(), old_status, &next, At(40));
  prog = GetCondition(next, "Progressing");
  EXPECT_EQ(prog->reason, "NewReplicaSetAvailable");
  EXPECT_EQ(prog->message, "ReplicaSet \"app-new\" has successfully progressed.");
  EXPECT_EQ(prog->last_transition_time, At(0));
  EXPECT_EQ(GetCondition(next, "Healthy")->status, "True");
  EXPECT_EQ(GetCondition(next, "Healthy")->message, "Rollout is healthy");
  EXPECT_EQ(GetCondition(next, "Completed")->status, "True");

  // Losing availability after completion: Healthy False, Progressing ReplicaSetNotAvailable.
  old_status = next;
  next.available_replicas = 2;
  ConditionInputs in = Inputs();
  in.available = false;
  CalculateRolloutConditions(spec, in, old_status, &next, At(50));
  EXPECT_EQ(GetCondition(next, "Healthy")->status, "False");
  EXPECT_EQ(GetCondition(next, "Healthy")->message, "Rollout is not healthy");
  EXPECT_EQ(GetCondition(next, "Progressing")->reason, "ReplicaSetNotAvailable");
  EXPECT_EQ(GetCondition(next, "Progressing")->message,
            "Rollout does not have minimum availability");
  EXPECT_EQ(GetCondition(next, "Available")->status, "False");
}

TEST(CalculateRolloutConditions, Healthy) {
  spec::RolloutSpec spec = Canary();
  RolloutStatus st = Updating();
  st.stable_rs = "new";
  st.current_step_index = 2;
  st.replicas = st.updated_replicas = st.available_replicas = 3;
  EXPECT_TRUE(RolloutHealthy(spec, 2, st, st));
  EXPECT_FALSE(RolloutHealthy(spec, 3, st, st));  // generation not observed
  RolloutStatus mid = st;
  mid.current_step_index = 1;
  EXPECT_FALSE(RolloutHealthy(spec, 2, mid, mid));

  // Paused: Healthy not set True even when otherwise healthy.
  RolloutStatus next = st;
  next.pause_conditions = {{"CanaryPauseStep", At(0)}};
  CalculateRolloutConditions(spec, Inputs(), st, &next, At(0));
  EXPECT_EQ(GetCondition(next, "Healthy"), nullptr);

  spec::RolloutSpec bg;
  bg.replicas = 3;
  bg.blue_green.emplace();
  bg.blue_green->preview_service = "preview";
  RolloutStatus b = st;
  b.blue_green.active_selector = "new";
  EXPECT_FALSE(RolloutHealthy(bg, 2, b, b));
  b.blue_green.preview_selector = "new";
  EXPECT_TRUE(RolloutHealthy(bg, 2, b, b));
}

TEST(CalculateRolloutConditions, Aborted) {
  const spec::RolloutSpec spec = Canary();
  RolloutStatus old_status = Updating();
  RolloutStatus next = old_status;
  ConditionInputs in = Inputs();
  in.aborted = true;
  in.abort_message = "metric \"errors\" assessed Failed";
  ConditionEvents ev = CalculateRolloutConditions(spec, in, old_status, &next, At(0));
  EXPECT_TRUE(ev.aborted);
  const RolloutCondition* prog = GetCondition(next, "Progressing");
  EXPECT_EQ(prog->status, "False");
  EXPECT_EQ(prog->reason, "RolloutAborted");
  EXPECT_EQ(prog->message,
            "Rollout aborted update to revision 2: metric \"errors\" assessed Failed");
  old_status = next;
  ev = CalculateRolloutConditions(spec, in, old_status, &next, At(10));
  EXPECT_FALSE(ev.aborted);  // already set
  // An aborted rollout never times out.
  EXPECT_FALSE(RolloutTimedOut(next, 60, At(1000)));
}

TEST(ProgressDeadline, RunsFromLastUpdateTime) {
  const spec::RolloutSpec spec = Canary();  // 60 s
  RolloutStatus old_status = Updating();
  old_status.conditions = {NewCondition("Progressing", "True", "ReplicaSetUpdated",
                                        "ReplicaSet \"app-new\" is "
                                        "progressing.",
                                        At(0))};
  old_status.conditions[0].last_transition_time = At(-500);
  EXPECT_EQ(ProgressDeadline(old_status, 60), At(60));

  // No progress, exactly at the deadline: not yet (strictly before now).
  RolloutStatus next = old_status;
  CalculateRolloutConditions(spec, Inputs(), old_status, &next, At(60));
  EXPECT_EQ(GetCondition(next, "Progressing")->reason, "ReplicaSetUpdated");

  // One second later: exceeded.
  next = old_status;
  CalculateRolloutConditions(spec, Inputs(), old_status, &next, At(61));
  const RolloutCondition* prog = GetCondition(next, "Progressing");
  EXPECT_EQ(prog->status, "False");
  EXPECT_EQ(prog->reason, "ProgressDeadlineExceeded");
  EXPECT_EQ(prog->message, "ReplicaSet \"app-new\" has timed out progressing.");
  EXPECT_EQ(prog->last_transition_time, At(61));
  EXPECT_EQ(ProgressDeadline(next, 60), std::nullopt);
  EXPECT_TRUE(RolloutTimedOut(next, 60, At(0)));  // stays exceeded without progress

  // Still no progress: unchanged.
  RolloutStatus later = next;
  CalculateRolloutConditions(spec, Inputs(), next, &later, At(200));
  EXPECT_EQ(*GetCondition(later, "Progressing"), *prog);

  // Progress resumes: the condition is replaced and a new deadline runs from the update.
  RolloutStatus resumed = later;
  resumed.updated_replicas = 2;
  CalculateRolloutConditions(spec, Inputs(), later, &resumed, At(300));
  prog = GetCondition(resumed, "Progressing");
  EXPECT_EQ(prog->status, "True");
  EXPECT_EQ(prog->reason, "ReplicaSetUpdated");
  EXPECT_EQ(prog->last_update_time, At(300));
  EXPECT_EQ(prog->last_transition_time, At(300));  // it was False
  EXPECT_EQ(ProgressDeadline(resumed, 60), At(360));
  EXPECT_FALSE(RolloutTimedOut(resumed, 60, At(360)));
  EXPECT_TRUE(RolloutTimedOut(resumed, 60, At(361)));
}

TEST(ProgressDeadline, NotCountedWhilePaused) {
  const spec::RolloutSpec spec = Canary();
  RolloutStatus old_status = Updating();
  old_status.conditions = {NewCondition("Progressing", "True", "ReplicaSetUpdated", "m", At(0))};
  // Pausing switches Progressing to RolloutPaused: no deadline while it holds.
  EXPECT_TRUE(CheckPausedConditions(true, &old_status, At(10)));
  EXPECT_EQ(ProgressDeadline(old_status, 60), std::nullopt);
  EXPECT_FALSE(RolloutTimedOut(old_status, 60, At(10000)));
  RolloutStatus next = old_status;
  next.pause_conditions = {{"CanaryPauseStep", At(10)}};
  CalculateRolloutConditions(spec, Inputs(), old_status, &next, At(10000));
  EXPECT_EQ(GetCondition(next, "Progressing")->reason, "RolloutPaused");

  // Resuming sets RolloutResumed at the resume time; the deadline runs from there.
  RolloutStatus resumed = next;
  resumed.pause_conditions.clear();
  EXPECT_TRUE(CheckPausedConditions(false, &resumed, At(10000)));
  EXPECT_EQ(GetCondition(resumed, "Progressing")->reason, "RolloutResumed");
  EXPECT_EQ(ProgressDeadline(resumed, 60), At(10060));
  EXPECT_FALSE(RolloutTimedOut(resumed, 60, At(10060)));

  // An indefinite step (pause/analysis/experiment, or Paused True) never times out either.
  RolloutStatus stuck = old_status;
  stuck.conditions = {NewCondition("Progressing", "True", "ReplicaSetUpdated", "m", At(0))};
  RolloutStatus stuck_next = stuck;
  ConditionInputs in = Inputs();
  in.indefinite_step = true;
  CalculateRolloutConditions(spec, in, stuck, &stuck_next, At(10000));
  EXPECT_EQ(GetCondition(stuck_next, "Progressing")->reason, "ReplicaSetUpdated");
  in.indefinite_step = false;
  in.waiting_for_scale_down = true;
  CalculateRolloutConditions(spec, in, stuck, &stuck_next, At(10000));
  EXPECT_EQ(GetCondition(stuck_next, "Progressing")->reason, "ReplicaSetUpdated");
}

TEST(CalculateRolloutConditions, ReplicaFailure) {
  const spec::RolloutSpec spec = Canary();
  RolloutStatus old_status = Updating();
  RolloutStatus next = old_status;
  ConditionInputs in = Inputs();
  in.replica_failure =
      RolloutCondition{"ReplicaFailure", "True", At(1), At(1), "FailedCreate", "quota"};
  CalculateRolloutConditions(spec, in, old_status, &next, At(5));
  EXPECT_EQ(GetCondition(next, "ReplicaFailure")->message, "quota");
  in.replica_failure.reset();
  CalculateRolloutConditions(spec, in, old_status, &next, At(6));
  EXPECT_EQ(GetCondition(next, "ReplicaFailure"), nullptr);
}

TEST(RolloutProgressing, Signals) {
  const spec::RolloutSpec spec = Canary();
  const RolloutStatus base = Updating();
  RolloutStatus s = base;
  EXPECT_FALSE(RolloutProgressing(spec, base, s));
  s.ready_replicas = base.ready_replicas - 1;  // fewer ready is not progress
  EXPECT_FALSE(RolloutProgressing(spec, base, s));
  s = base;
  s.current_step_index = 2;
  EXPECT_TRUE(RolloutProgressing(spec, base, s));
  s = base;
  s.replicas = 3;  // one old replica gone
  EXPECT_TRUE(RolloutProgressing(spec, base, s));
  s = base;
  s.current_step_hash = "changed";
  EXPECT_TRUE(RolloutProgressing(spec, base, s));
}

}  // namespace
}  // namespace ramp::engine
