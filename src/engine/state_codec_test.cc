// The RolloutState codec: round trips of states the real engine produces (canary with analysis,
// mid-measurement, paused, aborted; blue-green), a daemon "restart" at every checkpoint that must
// not change what happens next, secrets never written, and malformed input refused with the path
// of the problem.
#include "engine/state_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/actions.h"
#include "engine/world_testing.h"

namespace ramp::engine {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using testing_util::kT0;
using testing_util::Value;
using testing_util::World;

// ---- Comparison ----

void ExpectSameTemplate(const spec::PodTemplate& a, const spec::PodTemplate& b,
                        const std::string& where) {
  EXPECT_EQ(a.raw, b.raw) << where;
  EXPECT_EQ(a.empty, b.empty) << where;
  EXPECT_EQ(spec::ToJson(a.metadata), spec::ToJson(b.metadata)) << where;
  ASSERT_EQ(a.containers.size(), b.containers.size()) << where;
  for (size_t i = 0; i < a.containers.size(); ++i) {
    const spec::Container& x = a.containers[i];
    const spec::Container& y = b.containers[i];
    EXPECT_EQ(x.name, y.name) << where;
    EXPECT_EQ(x.image, y.image) << where;
    EXPECT_EQ(x.command, y.command) << where;
    EXPECT_EQ(x.args, y.args) << where;
    ASSERT_EQ(x.env.size(), y.env.size()) << where;
    for (size_t e = 0; e < x.env.size(); ++e) {
      EXPECT_EQ(x.env[e].name, y.env[e].name) << where;
      EXPECT_EQ(x.env[e].value, y.env[e].value) << where;
      EXPECT_EQ(x.env[e].value_from, y.env[e].value_from) << where;
    }
    ASSERT_EQ(x.ports.size(), y.ports.size()) << where;
    for (size_t p = 0; p < x.ports.size(); ++p) {
      EXPECT_EQ(x.ports[p].name, y.ports[p].name) << where;
      EXPECT_EQ(x.ports[p].container_port, y.ports[p].container_port) << where;
      EXPECT_EQ(x.ports[p].protocol, y.ports[p].protocol) << where;
    }
  }
}

// Field by field where the types compare, through the Argo encoders where they do not.
void ExpectSameState(const RolloutState& want, const RolloutState& got, const std::string& where) {
  EXPECT_EQ(got.status, want.status) << where;
  ASSERT_EQ(got.revisions.size(), want.revisions.size()) << where;
  for (size_t i = 0; i < want.revisions.size(); ++i) {
    EXPECT_EQ(got.revisions[i], want.revisions[i]) << where << " revision " << i;
    ExpectSameTemplate(want.revisions[i].pod_template, got.revisions[i].pod_template,
                       where + " revision " + std::to_string(i));
  }
  ASSERT_EQ(got.analysis_runs.size(), want.analysis_runs.size()) << where;
  for (size_t i = 0; i < want.analysis_runs.size(); ++i) {
    const spec::AnalysisRun& w = want.analysis_runs[i];
    const spec::AnalysisRun& g = got.analysis_runs[i];
    EXPECT_EQ(g.metadata.name, w.metadata.name) << where;
    EXPECT_EQ(spec::ToJson(g.metadata), spec::ToJson(w.metadata)) << where;
    EXPECT_EQ(spec::ToJson(g.spec), spec::ToJson(w.spec)) << where;
    EXPECT_EQ(spec::ToJson(g.status), spec::ToJson(w.status)) << where;
    EXPECT_EQ(g.status.phase, w.status.phase) << where;
    EXPECT_EQ(g.spec.terminate, w.spec.terminate) << where;
    ASSERT_EQ(g.status.metric_results.size(), w.status.metric_results.size()) << where;
    for (size_t r = 0; r < w.status.metric_results.size(); ++r) {
      const auto& wm = w.status.metric_results[r].measurements;
      const auto& gm = g.status.metric_results[r].measurements;
      ASSERT_EQ(gm.size(), wm.size()) << where;
      for (size_t m = 0; m < wm.size(); ++m) {
        EXPECT_EQ(gm[m].phase, wm[m].phase) << where;
        EXPECT_EQ(gm[m].metadata, wm[m].metadata) << where;
        for (auto [a, b] : {std::pair{&gm[m].started_at, &wm[m].started_at},
                            std::pair{&gm[m].finished_at, &wm[m].finished_at},
                            std::pair{&gm[m].resume_at, &wm[m].resume_at}}) {
          ASSERT_EQ(a->has_value(), b->has_value()) << where;
          if (a->has_value()) {
            EXPECT_EQ((*a)->unix_nanos, (*b)->unix_nanos) << where;
          }
        }
      }
    }
  }
  EXPECT_EQ(got.stable_selector, want.stable_selector) << where;
  EXPECT_EQ(got.canary_selector, want.canary_selector) << where;
  EXPECT_EQ(got.managed_routes, want.managed_routes) << where;
  EXPECT_EQ(got.weight_verify_sent, want.weight_verify_sent) << where;
  EXPECT_TRUE(got.secrets.empty()) << where;
}

// Encodes `s`, saves it as text, reads it back and decodes it; the result must encode to the
// same JSON and equal `s`.
RolloutState RoundTrip(const RolloutState& s, const std::string& where) {
  const json encoded = EncodeRolloutState(s);
  // As a store keeps it (text), and as the encoder returns it (signed integers).
  for (const json& input : {json::parse(encoded.dump()), encoded}) {
    StatusOr<RolloutState> decoded = DecodeRolloutState(input);
    if (!decoded.has_value()) {
      ADD_FAILURE() << where << ": " << decoded.error().message() << "\n" << encoded.dump(2);
      return s;
    }
    EXPECT_EQ(EncodeRolloutState(*decoded).dump(2), encoded.dump(2)) << where;
    ExpectSameState(s, *decoded, where);
  }
  return *DecodeRolloutState(json::parse(encoded.dump()));
}

// ---- Engine-produced states ----

constexpr char kCanaryAnalysis[] = R"~(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo, namespace: default}
spec:
  replicas: 4
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}, annotations: {team: a}}
    spec:
      containers:
      - name: app
        image: demo:v1
        args: [--port, "8080"]
        env: [{name: MODE, value: canary}, {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
        ports: [{name: http, containerPort: 8080}]
        resources: {limits: {cpu: 500m, memory: 128Mi}}
  strategy:
    canary:
      trafficRouting:
        plugins: {ramp/proxy: {listen: ":8080"}}
      analysis:
        templates: [{templateName: background}]
        startingStep: 1
      steps:
      - setWeight: 25
      - analysis:
          templates: [{templateName: success-rate}]
          args: [{name: service, value: demo}]
      - setWeight: 50
      - pause: {}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args: [{name: service}]
  dryRun: [{metricName: latency}]
  metrics:
  - name: success-rate
    interval: 1m
    count: 3
    successCondition: result[0] >= 0.95
    provider:
      prometheus: {address: "http://prom:9090", query: "rate(ok{svc=\"{{args.service}}\"}[1m])"}
  - name: latency
    interval: 30s
    count: "4"
    failureLimit: 2
    provider:
      web: {url: "http://metrics/{{args.service}}/p99", jsonPath: "{$.p99}"}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: background}
spec:
  metrics:
  - name: errors
    interval: 45s
    failureCondition: result[0] > 0.5
    failureLimit: 3
    provider:
      job:
        spec:
          template:
            spec:
              restartPolicy: Never
              containers: [{name: check, image: busybox, command: [sh, -c, "exit 0"]}]
)~";

// success-rate and errors answer at once; latency is asynchronous: each of its measurements is
// Running first (to be resumed 20 s later) and answers when resumed.
std::function<MeasurementUpdate(const std::string&, int64_t)> CanaryMetrics(bool fail) {
  auto latency_calls = std::make_shared<int>(0);
  return [fail, latency_calls](const std::string& metric, int64_t t) {
    if (metric == "latency") {
      if ((*latency_calls)++ % 2 == 0) {
        Measurement m;
        m.metadata["request"] = "p99-" + std::to_string(t);
        return MeasurementUpdate::Running(m, kT0 + std::chrono::seconds(t + 20));
      }
      return Value(120);
    }
    if (metric == "errors") return Value(0.0);
    return Value(fail && t >= 60 ? 0.5 : 0.99);
  };
}

// Lets `d` pass in the world: every wake-up within it, then the clock at its end (a reconcile
// happens there on the next call, as when something is observed).
void Advance(World* w, Duration d) {
  const Time until = w->now_ + d;
  w->RunUntil(until);
  if (w->now_ < until) w->now_ = until;
}

// Advances the world in steps of `step` until `total`, calling `check` after each.
void Drive(World* w, Duration step, Duration total, const std::function<void(int)>& check) {
  for (int i = 0; i * step < total; ++i) {
    Advance(w, step);
    check(i);
  }
}

TEST(StateCodecTest, CanaryWithAnalysisRoundTripsAtEveryStep) {
  World w(kCanaryAnalysis);
  w.metrics = CanaryMetrics(false);
  w.Deploy();
  RoundTrip(w.state_, "deployed");
  w.SetImage("demo:v2");
  bool saw_running = false;
  bool saw_paused = false;
  bool saw_runs = false;
  Drive(&w, std::chrono::seconds(5), std::chrono::minutes(6), [&](int i) {
    for (const auto& run : w.state_.analysis_runs) {
      saw_runs = true;
      for (const auto& r : run.status.metric_results) {
        if (!r.measurements.empty() &&
            r.measurements.back().phase == spec::AnalysisPhase::kRunning) {
          saw_running = true;
        }
      }
    }
    if (w.state_.status.phase == "Paused") saw_paused = true;
    RoundTrip(w.state_, "canary at step " + std::to_string(i));
  });
  EXPECT_TRUE(saw_runs);
  EXPECT_TRUE(saw_running) << "no Running measurement was captured";
  EXPECT_TRUE(saw_paused);
  EXPECT_EQ(w.state_.status.phase, "Paused") << w.state_.status.message << "\n"
                                             << EncodeRolloutState(w.state_).dump(1);
  EXPECT_EQ(w.state_.status.current_step_index, 3);
}

TEST(StateCodecTest, MidAnalysisRunningMeasurementKeepsResumeAt) {
  World w(kCanaryAnalysis);
  w.metrics = CanaryMetrics(false);
  w.Deploy();
  w.SetImage("demo:v2");
  // Until the step analysis has a latency measurement in flight.
  const spec::Measurement* running = nullptr;
  for (int i = 0; i < 120 && running == nullptr; ++i) {
    Advance(&w, std::chrono::seconds(1));
    for (const auto& run : w.state_.analysis_runs) {
      for (const auto& r : run.status.metric_results) {
        if (r.name == "latency" && !r.measurements.empty() &&
            r.measurements.back().phase == spec::AnalysisPhase::kRunning) {
          running = &r.measurements.back();
        }
      }
    }
  }
  ASSERT_NE(running, nullptr);
  ASSERT_TRUE(running->resume_at.has_value());
  const RolloutState decoded = RoundTrip(w.state_, "mid-analysis");
  const json runs = EncodeRolloutState(w.state_)["analysisRuns"];
  EXPECT_THAT(runs.dump(), HasSubstr("\"resumeAt\""));
  EXPECT_THAT(runs.dump(), HasSubstr("\"phase\":\"Running\""));
  EXPECT_EQ(decoded.status.canary.current_step_analysis_run_status,
            w.state_.status.canary.current_step_analysis_run_status);
}

// A daemon restarted at every checkpoint (the state saved, the process gone, the state read
// back) does exactly what one that never stopped does.
TEST(StateCodecTest, RestartAtEveryCheckpointChangesNothing) {
  for (bool fail : {false, true}) {
    World steady(kCanaryAnalysis);
    World restarted(kCanaryAnalysis);
    for (World* w : {&steady, &restarted}) {
      w->metrics = CanaryMetrics(fail);
      w->Deploy();
      w->SetImage("demo:v2");
    }
    const std::string label = fail ? "failing" : "passing";
    for (int i = 0; i < 60; ++i) {
      Advance(&steady, std::chrono::seconds(7));
      auto decoded = DecodeRolloutState(json::parse(EncodeRolloutState(restarted.state_).dump()));
      ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
      restarted.state_ = *decoded;
      Advance(&restarted, std::chrono::seconds(7));
      ASSERT_EQ(EncodeRolloutState(restarted.state_).dump(2),
                EncodeRolloutState(steady.state_).dump(2))
          << label << " checkpoint " << i;
    }
    EXPECT_EQ(restarted.Reasons(), steady.Reasons()) << label;
    EXPECT_EQ(steady.state_.status.phase, fail ? "Degraded" : "Paused") << label;
    if (fail) {
      EXPECT_TRUE(steady.state_.status.abort);
    }
  }
}

TEST(StateCodecTest, AbortedCanaryKeepsScaleDownDeadlines) {
  World w(kCanaryAnalysis);
  w.metrics = CanaryMetrics(true);
  w.Deploy();
  w.SetImage("demo:v2");
  bool saw_deadline = false;
  Drive(&w, std::chrono::seconds(3), std::chrono::minutes(5), [&](int i) {
    for (const auto& r : w.state_.revisions) saw_deadline |= r.scale_down_at.has_value();
    RoundTrip(w.state_, "aborting canary at step " + std::to_string(i));
  });
  EXPECT_TRUE(w.state_.status.abort);
  EXPECT_EQ(w.state_.status.phase, "Degraded");
  EXPECT_TRUE(w.state_.status.aborted_at.has_value());
  EXPECT_TRUE(saw_deadline);
  // A user abort of a paused rollout too.
  World basic(R"~(apiVersion: argoproj.io/v1alpha1
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
      steps: [{setWeight: 20}, {pause: {}}]
)~");
  basic.Deploy();
  basic.SetImage("demo:v2");
  basic.RunFor(std::chrono::minutes(1));
  EXPECT_EQ(basic.state_.status.phase, "Paused");
  EXPECT_FALSE(basic.state_.status.pause_conditions.empty());
  RoundTrip(basic.state_, "paused basic canary");
  auto aborted = AbortRollout(basic.rollout_.spec, basic.state_.status);
  ASSERT_TRUE(aborted.has_value());
  basic.Apply(*aborted);
  basic.RunFor(std::chrono::seconds(10));
  EXPECT_EQ(basic.state_.status.phase, "Degraded");
  RoundTrip(basic.state_, "aborted basic canary");
}

constexpr char kBlueGreen[] = R"~(apiVersion: argoproj.io/v1alpha1
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
      scaleDownDelaySeconds: 30
      prePromotionAnalysis:
        templates: [{templateName: smoke}]
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
)~";

TEST(StateCodecTest, BlueGreenRoundTripsThroughPromotionAndAbort) {
  World w(kBlueGreen);
  w.metrics = [](const std::string&, int64_t) { return Value(1); };
  w.Deploy();
  RoundTrip(w.state_, "blue-green deployed");
  w.SetImage("demo:v2");
  Drive(&w, std::chrono::seconds(5), std::chrono::minutes(1),
        [&](int i) { RoundTrip(w.state_, "blue-green preview " + std::to_string(i)); });
  ASSERT_EQ(w.state_.status.phase, "Paused") << w.state_.status.message;
  EXPECT_FALSE(w.state_.status.blue_green.preview_selector.empty());
  EXPECT_TRUE(w.state_.status.blue_green.pre_promotion_analysis_run_status.has_value());
  auto promoted = PromoteRollout(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(promoted.has_value());
  w.Apply(*promoted);
  bool saw_deadline = false;
  Drive(&w, std::chrono::seconds(5), std::chrono::minutes(2), [&](int i) {
    for (const auto& r : w.state_.revisions) saw_deadline |= r.scale_down_at.has_value();
    RoundTrip(w.state_, "blue-green promoted " + std::to_string(i));
  });
  EXPECT_EQ(w.state_.status.phase, "Healthy") << w.state_.status.message;
  EXPECT_TRUE(saw_deadline);
  EXPECT_TRUE(w.state_.status.blue_green.post_promotion_analysis_run_status.has_value());
  // A third revision, aborted while paused.
  w.SetImage("demo:v3");
  w.RunFor(std::chrono::minutes(1));
  auto aborted = AbortRollout(w.rollout_.spec, w.state_.status);
  ASSERT_TRUE(aborted.has_value());
  w.Apply(*aborted);
  Drive(&w, std::chrono::seconds(5), std::chrono::minutes(1),
        [&](int i) { RoundTrip(w.state_, "blue-green aborted " + std::to_string(i)); });
  EXPECT_EQ(w.state_.status.phase, "Degraded");
  EXPECT_EQ(w.state_.revisions.size(), 3u);
}

// ---- Hand-made states ----

RolloutState EngineState() {
  World w(kCanaryAnalysis);
  w.metrics = CanaryMetrics(false);
  w.Deploy();
  w.SetImage("demo:v2");
  w.RunFor(std::chrono::seconds(40));
  EXPECT_FALSE(w.state_.analysis_runs.empty());
  return w.state_;
}

TEST(StateCodecTest, SubSecondTimesAreKeptExactly) {
  RolloutState s = EngineState();
  ASSERT_FALSE(s.revisions.empty());
  s.revisions[0].created_at = kT0 + std::chrono::nanoseconds(250'000'001);
  s.revisions[0].scale_down_at = kT0 - std::chrono::nanoseconds(1);
  s.weight_verify_sent = kT0 + std::chrono::milliseconds(1500);
  const json j = EncodeRolloutState(s);
  EXPECT_EQ(j["revisions"][0]["createdAt"], "2026-01-01T00:00:00.250000001Z");
  EXPECT_EQ(j["revisions"][0]["scaleDownAt"], "2025-12-31T23:59:59.999999999Z");
  EXPECT_EQ(j["weightVerifySent"], "2026-01-01T00:00:01.5Z");
  EXPECT_EQ(j["schema"], 1);
  RolloutState back = RoundTrip(s, "sub-second times");
  EXPECT_EQ(back.revisions[0].created_at, s.revisions[0].created_at);
  EXPECT_EQ(back.revisions[0].scale_down_at, s.revisions[0].scale_down_at);
  EXPECT_EQ(back.weight_verify_sent, s.weight_verify_sent);
}

TEST(StateCodecTest, SecretsAreNeverWritten) {
  RolloutState s = EngineState();
  const std::string secret = "s3cr3t-T0ken-9f8e7d";
  s.secrets = {secret, "another-secret-value"};
  spec::Argument arg;
  arg.name = "token";
  arg.value_from = spec::ArgumentValueFrom{spec::SecretKeyRef{"api", "token"}, {}, {}};
  s.analysis_runs[0].spec.args.push_back(arg);
  const std::string text = EncodeRolloutState(s).dump();
  EXPECT_EQ(text.find(secret), std::string::npos);
  EXPECT_EQ(text.find("another-secret-value"), std::string::npos);
  EXPECT_EQ(text.find("\"secrets\""), std::string::npos);
  // The reference to the secret is kept, as Argo keeps it in the run.
  EXPECT_THAT(text, HasSubstr(R"~("secretKeyRef":{"key":"token","name":"api"})~"));
  auto back = DecodeRolloutState(json::parse(text));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_TRUE(back->secrets.empty());
}

TEST(StateCodecTest, EmptyStateRoundTrips) {
  RolloutState s;
  const json j = EncodeRolloutState(s);
  EXPECT_EQ(j["revisions"], json::array());
  EXPECT_EQ(j["analysisRuns"], json::array());
  EXPECT_FALSE(j.contains("weightVerifySent"));
  RoundTrip(s, "empty state");
  // A revision whose template is empty or null, as the Rollout decoder keeps them.
  RevisionRecord none;
  none.hash = "abc";
  none.revision = 1;
  s.revisions.push_back(none);
  RevisionRecord null_template = none;
  null_template.hash = "def";
  null_template.pod_template.raw = nullptr;
  s.revisions.push_back(null_template);
  RolloutState back = RoundTrip(s, "empty templates");
  EXPECT_TRUE(back.revisions[0].pod_template.empty);
  EXPECT_TRUE(back.revisions[1].pod_template.raw.is_null());
}

// ---- Refused input ----

// The error message of decoding `j` (empty when it decodes).
std::string ErrorOf(const json& j) {
  StatusOr<RolloutState> s = DecodeRolloutState(j);
  if (s.has_value()) return "";
  EXPECT_EQ(s.error().code(), StatusCode::kInvalidArgument);
  return s.error().message();
}

json Valid() { return json::parse(EncodeRolloutState(EngineState()).dump()); }

TEST(StateCodecTest, SchemaVersionIsChecked) {
  json j = Valid();
  EXPECT_EQ(ErrorOf(j), "");
  j["schema"] = 2;
  EXPECT_THAT(ErrorOf(j), HasSubstr("rollout state: schema: unsupported version 2: this ramp "
                                    "reads schema 1 only"));
  j["schema"] = -1;
  EXPECT_THAT(ErrorOf(j), HasSubstr("schema: unsupported version -1"));
  j["schema"] = "1";
  EXPECT_THAT(ErrorOf(j), HasSubstr("schema: expected an integer, got string \"1\""));
  j["schema"] = 1.5;
  EXPECT_THAT(ErrorOf(j), HasSubstr("schema: expected an integer"));
  j.erase("schema");
  EXPECT_THAT(ErrorOf(j), HasSubstr("schema: Required value"));
}

TEST(StateCodecTest, GarbageIsRefused) {
  EXPECT_EQ(ErrorOf(json::array({1, 2})), "rollout state: expected a JSON object, got array");
  EXPECT_EQ(ErrorOf(json("garbage")), "rollout state: expected a JSON object, got string");
  EXPECT_EQ(ErrorOf(json()), "rollout state: expected a JSON object, got null");
  EXPECT_EQ(ErrorOf(json(42)), "rollout state: expected a JSON object, got number");
  EXPECT_THAT(ErrorOf(json::object()), HasSubstr("schema: Required value"));
  EXPECT_THAT(ErrorOf(json{{"schema", 1}}), HasSubstr("status: Required value"));
}

TEST(StateCodecTest, WrongTypesAndMissingFieldsNameThePath) {
  struct Case {
    std::function<void(json*)> mutate;
    std::string error;
  };
  const std::vector<Case> cases = {
      {[](json* j) { (*j)["status"] = json::array(); }, "status: expected a map (object), got"},
      {[](json* j) { (*j)["status"]["replicas"] = "four"; },
       "status.replicas: expected an integer, got string \"four\""},
      {[](json* j) { (*j)["status"]["pauseConditions"] = 3; },
       "status.pauseConditions: expected a list"},
      {[](json* j) { (*j)["status"]["abortedAt"] = "yesterday"; }, "status.abortedAt: "},
      {[](json* j) { (*j)["revisions"] = json::object(); }, "revisions: expected a list"},
      {[](json* j) { (*j)["revisions"][0]["revision"] = "two"; },
       "revisions[0].revision: expected an integer, got string \"two\""},
      {[](json* j) { (*j)["revisions"][0].erase("hash"); }, "revisions[0].hash: Required value"},
      {[](json* j) { (*j)["revisions"][1]["hash"] = ""; }, "revisions[1].hash: must not be empty"},
      {[](json* j) { (*j)["revisions"][0]["hash"] = 12; },
       "revisions[0].hash: expected a string, got int 12"},
      {[](json* j) { (*j)["revisions"][0].erase("podTemplate"); },
       "revisions[0].podTemplate: Required value"},
      {[](json* j) { (*j)["revisions"][0]["podTemplate"] = "tmpl"; },
       "revisions[0].podTemplate: expected a map (object)"},
      {[](json* j) { (*j)["revisions"][0]["podTemplate"]["spec"]["containers"][0].erase("image"); },
       "revisions[0].podTemplate.spec.containers[0].image: Required value"},
      {[](json* j) { (*j)["revisions"][0]["createdAt"] = "noon"; },
       "revisions[0].createdAt: invalid time \"noon\""},
      {[](json* j) { (*j)["revisions"][0]["createdAt"] = 1767225600; },
       "revisions[0].createdAt: expected a string, got int 1767225600"},
      {[](json* j) { (*j)["revisions"][0]["extra"] = 1; }, "revisions[0].extra: unknown field"},
      {[](json* j) { (*j)["stableSelector"] = 5; }, "stableSelector: expected a string, got int 5"},
      {[](json* j) { (*j)["managedRoutes"] = "yes"; },
       "managedRoutes: expected true or false, got string \"yes\""},
      {[](json* j) { j->erase("managedRoutes"); }, "managedRoutes: Required value"},
      {[](json* j) { j->erase("analysisRuns"); }, "analysisRuns: Required value"},
      {[](json* j) { (*j)["analysisRuns"] = "runs"; }, "analysisRuns: expected a list"},
      {[](json* j) { (*j)["analysisRuns"][0] = 7; }, "analysisRuns[0]: expected a map (object)"},
      {[](json* j) { (*j)["analysisRuns"][0]["spec"].erase("metrics"); },
       "analysisRuns[0].spec.metrics: Required value"},
      {[](json* j) { (*j)["analysisRuns"][0]["status"]["phase"] = "Bogus"; },
       "analysisRuns[0].status.phase: Unsupported value \"Bogus\""},
      {[](json* j) { (*j)["analysisRuns"][0]["kind"] = "Rollout"; },
       "analysisRuns[0].kind: expected AnalysisRun"},
      {[](json* j) {
         (*j)["analysisRuns"][0]["status"]["metricResults"][0]["measurements"][0]["startedAt"] =
             "then";
       },
       "analysisRuns[0].status.metricResults[0].measurements[0].startedAt: invalid time"},
      {[](json* j) { (*j)["weightVerifySent"] = true; }, "weightVerifySent: expected a string"},
      {[](json* j) { (*j)["secrets"] = json::array({"x"}); }, "secrets: unknown field"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    json j = Valid();
    ASSERT_GE(j["revisions"].size(), 2u);
    cases[i].mutate(&j);
    const std::string error = ErrorOf(j);
    EXPECT_THAT(error, HasSubstr(cases[i].error)) << "case " << i;
    EXPECT_EQ(error.rfind("rollout state: ", 0), 0u) << error;
  }
}

TEST(StateCodecTest, DeepNestingIsRefused) {
  json j = Valid();
  json deep = json::object();
  for (int i = 0; i < 2000; ++i) deep = json{{"x", std::move(deep)}};
  j["revisions"][0]["podTemplate"]["spec"]["deep"] = std::move(deep);
  EXPECT_THAT(ErrorOf(j), HasSubstr("rollout state: revisions[0].podTemplate.spec.deep.x.x.x"));
  EXPECT_THAT(ErrorOf(j), HasSubstr("nested deeper than 256 levels"));
}

// Random damage anywhere in a real state: an error or a state, never a crash or an exception.
TEST(StateCodecTest, RandomDamageNeverThrows) {
  const json valid = Valid();
  std::vector<json::json_pointer> leaves;
  std::function<void(const json&, const json::json_pointer&)> walk =
      [&](const json& j, const json::json_pointer& p) {
        leaves.push_back(p);
        if (j.is_object()) {
          for (auto it = j.begin(); it != j.end(); ++it) walk(it.value(), p / it.key());
        } else if (j.is_array()) {
          for (size_t i = 0; i < j.size(); ++i) walk(j[i], p / i);
        }
      };
  walk(valid, json::json_pointer());
  const std::vector<json> garbage = {nullptr,
                                     true,
                                     -1,
                                     4294967296u,
                                     1e300,
                                     "",
                                     "\xff\xfe",
                                     "{{x}}",
                                     json::array(),
                                     json::object(),
                                     json::array({nullptr})};
  std::mt19937 rng(20260101);
  int refused = 0;
  for (int i = 0; i < 3000; ++i) {
    json j = valid;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const auto& p = leaves[rng() % leaves.size()];
      if (!j.contains(p)) continue;
      if (p.empty()) {
        j = garbage[rng() % garbage.size()];
      } else if (rng() % 4 == 0 && j[p.parent_pointer()].is_object()) {
        j[p.parent_pointer()].erase(p.back());
      } else {
        j[p] = garbage[rng() % garbage.size()];
      }
    }
    StatusOr<RolloutState> s = DecodeRolloutState(j);
    if (!s.has_value()) {
      ++refused;
      EXPECT_THAT(s.error().message(), HasSubstr("rollout state: "));
    }
  }
  EXPECT_GT(refused, 1000);
}

}  // namespace
}  // namespace ramp::engine
