// Replays the timelines of reference/argo-rollouts.md §2.7 (A, B, C) and the edge cases of §11
// and §11.1 through the real `ramp simulate -o json` binary, and checks the event sequence, the
// weights and the final status against expectations written by hand from the reference.
//
// Each case names a manifest and a scenario under tests/conformance/simulate/. Expected events
// are a subsequence: they must appear in this order (other events may come between them), each
// with the reason, a substring of the message, and — where given — its time, step and weight.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using nlohmann::json;

constexpr int kAny = -2;   // do not check
constexpr int kNull = -1;  // must be null

struct Ev {
  std::string reason;
  std::string contains;
  double t = kAny;
  int step = kAny;
  int weight = kAny;
};

struct SimRun {
  int exit_code = -1;
  std::vector<json> events;
  json summary;
  std::string stderr_text;
  std::string raw;
};

std::string Dir() { return std::string(RAMP_SOURCE_DIR) + "/tests/conformance/simulate/"; }

SimRun Simulate(const std::string& manifest, const std::string& scenario) {
  const std::string err = std::string(RAMP_BINARY_DIR) + "/simulate-" + scenario + ".stderr";
  std::string cmd = std::string(RAMP_BINARY_DIR) + "/src/cli/ramp simulate -f '" + Dir() +
                    manifest + "' --scenario '" + Dir() + scenario + "' -o json 2>'" + err + "'";
  SimRun r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.raw.append(buf.data(), n);
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (FILE* f = fopen(err.c_str(), "r")) {
    while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) r.stderr_text.append(buf.data(), n);
    fclose(f);
  }
  std::istringstream lines(r.raw);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      ADD_FAILURE() << "not a JSON line: " << line;
      continue;
    }
    if (j.contains("summary")) {
      r.summary = j["summary"];
    } else {
      r.events.push_back(j);
    }
  }
  return r;
}

std::string Show(const std::vector<json>& events) {
  std::string out;
  for (const json& e : events) out += e.dump() + "\n";
  return out;
}

bool IntMatches(const json& v, int want) {
  if (want == kAny) return true;
  if (want == kNull) return v.is_null();
  return v.is_number_integer() && v.get<int>() == want;
}

bool Matches(const json& e, const Ev& want) {
  if (e.value("reason", "") != want.reason) return false;
  if (e.value("message", "").find(want.contains) == std::string::npos) return false;
  if (want.t != kAny && (!e["t"].is_number() || e["t"].get<double>() != want.t)) return false;
  return IntMatches(e["step"], want.step) && IntMatches(e["weight"], want.weight);
}

void ExpectSequence(const SimRun& r, const std::vector<Ev>& want) {
  size_t next = 0;
  for (const json& e : r.events) {
    if (next < want.size() && Matches(e, want[next])) ++next;
  }
  if (next < want.size()) {
    const Ev& missing = want[next];
    ADD_FAILURE() << "expected event #" << next << " {" << missing.reason << ", \""
                  << missing.contains << "\", t=" << missing.t << ", step=" << missing.step
                  << ", weight=" << missing.weight << "} not found in order in:\n"
                  << Show(r.events) << "stderr:\n"
                  << r.stderr_text;
  }
}

bool HasEvent(const SimRun& r, const std::string& reason, const std::string& contains = "") {
  for (const json& e : r.events) {
    if (e.value("reason", "") == reason &&
        e.value("message", "").find(contains) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// §2.7 A: canary with a traffic router, a manual promote and a timed pause.
TEST(SimulateConformance, TimelineA) {
  SimRun r = Simulate("canary-routed.yaml", "timeline-a.scenario.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ExpectSequence(
      r, {
             {"NewReplicaSetCreated", "(revision 2)", 0},
             {"ScalingReplicaSet", "from 0 to 2", 0},
             {"TrafficWeightUpdated", "to 20", 5, kAny, 20},
             {"RolloutStepCompleted", "Rollout step 1/4 completed (setWeight: 20)", 5, 1, 20},
             {"RolloutPaused", "Rollout is paused (CanaryPauseStep)", 5},
             {"RolloutResumed", "", 60},
             {"RolloutStepCompleted", "Rollout step 2/4 completed (pause)", 60, 2},
             {"ScalingReplicaSet", "from 2 to 5", 60},
             {"TrafficWeightUpdated", "from 20 to 50", 65, kAny, 50},
             {"RolloutStepCompleted", "Rollout step 3/4 completed (setWeight: 50)", 65, 3, 50},
             {"RolloutPaused", "(CanaryPauseStep)", 65},
             {"RolloutStepCompleted", "Rollout step 4/4 completed (pause: 30s)", 95, 4},
             {"ScalingReplicaSet", "from 5 to 10", 95},
             {"TrafficWeightUpdated", "from 50 to 100", 100, kAny, 100},
             {"RolloutCompleted", "Completed all 4 canary steps", 100},
             {"TrafficWeightUpdated", "from 100 to 0", 100, kAny, 0},
         });
  const json& s = r.summary;
  ASSERT_TRUE(s.is_object()) << r.raw;
  EXPECT_EQ(s["schemaVersion"], 1);
  EXPECT_EQ(s["phase"], "Healthy");
  EXPECT_EQ(s["settledBy"], "Completed");
  EXPECT_EQ(s["t"], 100);
  EXPECT_EQ(s["aborted"], false);
  EXPECT_EQ(s["currentStepIndex"], 4);
  EXPECT_EQ(s["weight"], 0);
  EXPECT_EQ(s["stableRS"], s["currentPodHash"]);
  EXPECT_TRUE(s["analysisRuns"].empty());
  // The weight never moved before the canary pods were available.
  for (const json& e : r.events) {
    if (e["reason"] == "TrafficWeightUpdated" && e["t"].get<double>() < 5) {
      EXPECT_EQ(e["weight"], 0) << e.dump();
    }
  }
}

// §2.7 A item 6: a failing step analysis aborts: weight 0, index 0, Degraded.
TEST(SimulateConformance, TimelineAAbort) {
  SimRun r = Simulate("canary-routed-analysis.yaml", "timeline-a-abort.scenario.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ExpectSequence(
      r, {
             {"RolloutStepCompleted", "Rollout step 1/3 completed (setWeight: 20)", 5, 1, 20},
             {"AnalysisRunRunning", "Step Analysis Run", 5},
             {"AnalysisRunFailed", "Step Analysis Run", 65},
             {"RolloutAborted",
              "Rollout aborted update to revision 2: Step-based analysis phase "
              "error/failed",
              65},
             {"TrafficWeightUpdated", "from 20 to 0", 65, kAny, 0},
         });
  EXPECT_FALSE(HasEvent(r, "RolloutStepCompleted", "2/3"));
  const json& s = r.summary;
  ASSERT_TRUE(s.is_object()) << r.raw;
  EXPECT_EQ(s["phase"], "Degraded");
  EXPECT_EQ(s["settledBy"], "RolloutAborted");
  EXPECT_EQ(s["aborted"], true);
  EXPECT_EQ(s["currentStepIndex"], 0);
  EXPECT_EQ(s["weight"], 0);
  EXPECT_NE(s["stableRS"], s["currentPodHash"]);
  ASSERT_EQ(s["analysisRuns"].size(), 1u);
  const json& run = s["analysisRuns"][0];
  EXPECT_EQ(run["phase"], "Failed");
  EXPECT_THAT(run["name"].get<std::string>(), testing::EndsWith("-2-1"));
  ASSERT_EQ(run["metrics"].size(), 1u);
  EXPECT_EQ(run["metrics"][0]["name"], "success-rate");
  EXPECT_EQ(run["metrics"][0]["phase"], "Failed");
  EXPECT_EQ(run["metrics"][0]["measurements"], 2);
}

// §2.7 B: basic canary, 5 replicas, setWeight 20: 1 canary / 4 stable within the surge budget;
// abort sends the canary to 0 at once.
TEST(SimulateConformance, TimelineB) {
  SimRun r = Simulate("canary-basic.yaml", "timeline-b.scenario.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ExpectSequence(
      r, {
             // The stable first (Argo reconciles it before the new revision) within
             // maxUnavailable 1, then the canary within maxSurge 2.
             {"ScalingReplicaSet", "(revision 1) from 5 to 4", 0},
             {"ScalingReplicaSet", "(revision 2) from 0 to 1", 0},
             {"RolloutStepCompleted", "Rollout step 1/2 completed (setWeight: 20)", 5, 1, kNull},
             {"RolloutPaused", "(CanaryPauseStep)", 5},
             // Abort: the stable back to 5 first; the condition (and its event) is written at the
             // end of that reconcile; the canary goes to 0 on the next one, at the same time.
             {"ScalingReplicaSet", "(revision 1) from 4 to 5", 60},
             {"RolloutAborted", "Rollout aborted update to revision 2", 60},
             {"ScalingReplicaSet", "(revision 2) from 1 to 0", 60},
         });
  const json& s = r.summary;
  ASSERT_TRUE(s.is_object()) << r.raw;
  EXPECT_EQ(s["phase"], "Degraded");
  EXPECT_EQ(s["settledBy"], "RolloutAborted");
  EXPECT_EQ(s["t"], 60);
  EXPECT_EQ(s["currentStepIndex"], 0);
  EXPECT_TRUE(s["weight"].is_null());
}

// §2.7 C: blue-green with a preview replica, pre-promotion analysis and a manual promote.
TEST(SimulateConformance, TimelineC) {
  SimRun r = Simulate("bluegreen.yaml", "timeline-c.scenario.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ExpectSequence(r, {
                        {"SwitchService", "Switched selector for service 'demo-preview'", 0},
                        {"ScalingReplicaSet", "(revision 2) from 0 to 1", 0},
                        {"AnalysisRunSuccessful", "PrePromotion Analysis Run", 10},
                        {"RolloutPaused", "Rollout is paused (BlueGreenPause)", 10},
                        {"RolloutResumed", "", 120},
                        {"ScalingReplicaSet", "(revision 2) from 1 to 3", 120},
                        {"SwitchService", "Switched selector for service 'demo-active'", 130},
                        {"RolloutCompleted", "Completed blue-green update", 130},
                    });
  const json& s = r.summary;
  ASSERT_TRUE(s.is_object()) << r.raw;
  EXPECT_EQ(s["phase"], "Healthy");
  EXPECT_EQ(s["settledBy"], "Completed");
  EXPECT_EQ(s["t"], 130);
  EXPECT_TRUE(s["weight"].is_null());
  EXPECT_TRUE(s["currentStepIndex"].is_null());
  ASSERT_EQ(s["analysisRuns"].size(), 1u);
  EXPECT_THAT(s["analysisRuns"][0]["name"].get<std::string>(), testing::EndsWith("-pre"));
  EXPECT_EQ(s["analysisRuns"][0]["phase"], "Successful");
}

// §11 item 8: errors do not count toward count, are retried every 10 s, and the default
// consecutiveErrorLimit (4) ends the metric at the fifth consecutive error.
TEST(SimulateConformance, ErrorsEndTheMetric) {
  SimRun r = Simulate("canary-analysis-limits.yaml", "errors-end-the-metric.scenario.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ExpectSequence(r, {
                        {"AnalysisRunError", "Step Analysis Run", 40},
                        {"RolloutAborted", "consecutiveErrors (5) > consecutiveErrorLimit (4)", 40},
                    });
  const json& s = r.summary;
  ASSERT_TRUE(s.is_object()) << r.raw;
  EXPECT_EQ(s["settledBy"], "RolloutAborted");
  ASSERT_EQ(s["analysisRuns"].size(), 1u);
  EXPECT_EQ(s["analysisRuns"][0]["phase"], "Error");
  EXPECT_EQ(s["analysisRuns"][0]["metrics"][0]["phase"], "Error");
  EXPECT_EQ(s["analysisRuns"][0]["metrics"][0]["measurements"], 5);
}

// §11 item 14, §11.1 item 5: promote during a running step analysis moves past the step without
// completing it; the run is terminated.
TEST(SimulateConformance, PromoteDuringAnalysisSkipsTheStep) {
  SimRun r = Simulate("canary-analysis-limits.yaml", "promote-mid-analysis.scenario.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ExpectSequence(r, {
                        {"RolloutStepCompleted", "Rollout step 1/3 completed (setWeight: 50)", 0},
                        {"RolloutStepCompleted", "Rollout step 3/3 completed (setWeight: 100)", 30},
                        {"RolloutCompleted", "Completed all 3 canary steps", 30},
                    });
  EXPECT_FALSE(HasEvent(r, "RolloutStepCompleted", "2/3"));
  const json& s = r.summary;
  ASSERT_TRUE(s.is_object()) << r.raw;
  EXPECT_EQ(s["phase"], "Healthy");
  EXPECT_EQ(s["t"], 30);
  ASSERT_EQ(s["analysisRuns"].size(), 1u);
  EXPECT_EQ(s["analysisRuns"][0]["metrics"][0]["measurements"], 1);
}

// §11 item 15: retry creates a fresh AnalysisRun (the old one is kept) and restarts from step 0.
TEST(SimulateConformance, RetryCreatesAFreshRun) {
  SimRun r = Simulate("canary-analysis-limits.yaml", "retry.scenario.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ExpectSequence(r, {
                        {"RolloutAborted", "Step-based analysis phase error/failed", 0},
                        {"RolloutStepCompleted", "Rollout step 1/3 completed (setWeight: 50)", 180},
                        {"AnalysisRunSuccessful", "Step Analysis Run", 240},
                        {"RolloutCompleted", "Completed all 3 canary steps", 240},
                    });
  const json& s = r.summary;
  ASSERT_TRUE(s.is_object()) << r.raw;
  EXPECT_EQ(s["phase"], "Healthy");
  EXPECT_EQ(s["aborted"], false);
  ASSERT_EQ(s["analysisRuns"].size(), 2u);
  EXPECT_EQ(s["analysisRuns"][0]["phase"], "Failed");
  EXPECT_EQ(s["analysisRuns"][1]["phase"], "Successful");
  EXPECT_EQ(s["analysisRuns"][1]["name"].get<std::string>(),
            s["analysisRuns"][0]["name"].get<std::string>() + ".1");
  EXPECT_EQ(s["analysisRuns"][1]["metrics"][0]["measurements"], 2);
}

// §11.1 item 4: no progress for progressDeadlineSeconds: ProgressDeadlineExceeded, Degraded, not
// aborted.
TEST(SimulateConformance, ProgressDeadline) {
  SimRun r = Simulate("progress-deadline.yaml", "progress-deadline.scenario.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  const json& s = r.summary;
  ASSERT_TRUE(s.is_object()) << r.raw;
  EXPECT_EQ(s["phase"], "Degraded");
  EXPECT_EQ(s["settledBy"], "ProgressDeadlineExceeded");
  EXPECT_EQ(s["aborted"], false);
  EXPECT_EQ(s["t"], 61);  // Argo's deadline check is strict: one second after 60 s
  EXPECT_THAT(s["message"].get<std::string>(),
              testing::HasSubstr("ProgressDeadlineExceeded: ReplicaSet \"demo-"));
}

}  // namespace
