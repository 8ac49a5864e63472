#include "sim/output.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace ramp::sim {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;

TEST(OutputTest, FormatDuration) {
  EXPECT_EQ(FormatDuration(Duration::zero()), "0s");
  EXPECT_EQ(FormatDuration(seconds(5)), "5s");
  EXPECT_EQ(FormatDuration(seconds(90)), "1m30s");
  EXPECT_EQ(FormatDuration(minutes(2)), "2m");
  EXPECT_EQ(FormatDuration(hours(24)), "24h");
  EXPECT_EQ(FormatDuration(hours(1) + seconds(5)), "1h5s");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "0.25s");
}

TEST(OutputTest, SecondsAreIntegersWhenWhole) {
  EXPECT_TRUE(Seconds(seconds(65)).is_number_integer());
  EXPECT_EQ(Seconds(seconds(65)), 65);
  EXPECT_TRUE(Seconds(milliseconds(2500)).is_number_float());
  EXPECT_EQ(Seconds(milliseconds(2500)), 2.5);
}

TEST(OutputTest, EventJsonHasTheSchemaKeysInOrder) {
  Event e;
  e.t = seconds(5);
  e.reason = "RolloutStepCompleted";
  e.message = "Rollout step 1/4 completed (setWeight: 20)";
  e.step = 1;
  e.weight = 20;
  EXPECT_EQ(JsonLine(EventJson(e)),
            R"j({"t":5,"reason":"RolloutStepCompleted","message":"Rollout step 1/4 completed )j"
            R"j((setWeight: 20)","step":1,"weight":20})j");
  e.step.reset();
  e.weight.reset();
  nlohmann::ordered_json j = EventJson(e);
  EXPECT_TRUE(j["step"].is_null());
  EXPECT_TRUE(j["weight"].is_null());
}

TEST(OutputTest, InvalidUtf8IsReplacedNotThrown) {
  Event e;
  e.reason = "X";
  e.message = "bad \xff byte";
  EXPECT_THAT(JsonLine(EventJson(e)), HasSubstr("bad \xEF\xBF\xBD byte"));
}

Summary ASummary() {
  Summary s;
  s.t = seconds(100);
  s.phase = "Degraded";
  s.message = "RolloutAborted: Rollout aborted update to revision 2";
  s.settled_by = SettledBy::kRolloutAborted;
  s.aborted = true;
  s.current_step_index = 0;
  s.weight = 0;
  s.stable_rs = "abc";
  s.current_pod_hash = "def";
  s.analysis_runs = {{"demo-def-2-1", "Failed", {{"success-rate", "Failed", 2}}}};
  return s;
}

TEST(OutputTest, SummaryJson) {
  nlohmann::ordered_json j = SummaryJson(ASummary());
  EXPECT_EQ(JsonLine(j),
            R"({"summary":{"schemaVersion":1,"t":100,"phase":"Degraded","message":)"
            R"("RolloutAborted: Rollout aborted update to revision 2","settledBy":)"
            R"("RolloutAborted","aborted":true,"currentStepIndex":0,"weight":0,"stableRS":"abc",)"
            R"("currentPodHash":"def","analysisRuns":[{"name":"demo-def-2-1","phase":"Failed",)"
            R"("metrics":[{"name":"success-rate","phase":"Failed","measurements":2}]}]}})");
  Summary bg = ASummary();
  bg.current_step_index.reset();
  bg.weight.reset();
  bg.analysis_runs.clear();
  nlohmann::ordered_json k = SummaryJson(bg)["summary"];
  EXPECT_TRUE(k["currentStepIndex"].is_null());
  EXPECT_TRUE(k["weight"].is_null());
  EXPECT_TRUE(k["analysisRuns"].is_array());
  EXPECT_TRUE(k["analysisRuns"].empty());
}

TEST(OutputTest, Text) {
  Event e;
  e.t = seconds(150);
  e.reason = "RolloutStepCompleted";
  e.message = "Rollout step 1/4 completed (setWeight: 20)";
  e.step = 1;
  e.weight = 20;
  EXPECT_EQ(EventText(e),
            "    +2m30s  RolloutStepCompleted      Rollout step 1/4 completed (setWeight: 20)  "
            "[step 1, weight 20]");
  e.weight.reset();
  EXPECT_THAT(EventText(e), testing::EndsWith("[step 1]"));
  e.step.reset();
  EXPECT_THAT(EventText(e), testing::EndsWith("(setWeight: 20)"));

  std::string text = SummaryText(ASummary());
  EXPECT_THAT(text, HasSubstr("Stopped at +1m40s: Degraded (RolloutAborted: Rollout aborted "
                              "update to revision 2), settled by RolloutAborted\n"));
  EXPECT_THAT(text, HasSubstr("    demo-def-2-1  Failed\n"));
  EXPECT_THAT(text, HasSubstr("      success-rate  Failed  (2 measurements)\n"));
}

}  // namespace
}  // namespace ramp::sim
