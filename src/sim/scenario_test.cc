#include "sim/scenario.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

namespace ramp::sim {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;

Scenario MustParse(const std::string& text) {
  StatusOr<Scenario> s = ParseScenario(text, "s.yaml");
  EXPECT_TRUE(s.has_value()) << s.error().message();
  return s.has_value() ? *s : Scenario{};
}

std::string ErrorOf(const std::string& text) {
  StatusOr<Scenario> s = ParseScenario(text, "s.yaml");
  EXPECT_FALSE(s.has_value());
  return s.has_value() ? "" : s.error().message();
}

TEST(ScenarioTest, ParsesEveryField) {
  Scenario s = MustParse(R"(update: {image: demo:v2}
readyAfter: {default: 5s, "demo:v3": never, demo:v4: 1m}
until: 2h
metrics:
  success-rate:
  - {at: 5m, value: [0.80]}
  - {at: 0s, value: [0.99]}
  latency:
  - {at: 0s, error: "connection refused"}
  smoke:
  - {at: 0s, phase: Successful}
  - {at: 1m, phase: Inconclusive}
actions:
- {at: 4m, do: set-image, image: demo:v3}
- {at: 2m, do: promote}
- {at: 3m, do: undo, toRevision: 1}
- {at: 2m, do: promote-full}
- {at: 5m, do: abort}
- {at: 5m, do: retry}
- {at: 6m, do: pause}
- {at: 7m, do: resume}
- {at: 8m, do: restart}
- {at: 9m, do: undo}
)");
  EXPECT_EQ(s.update_image, "demo:v2");
  EXPECT_EQ(s.until, hours(2));
  EXPECT_EQ(s.ready_after.For("demo:v2"), Duration(seconds(5)));
  EXPECT_EQ(s.ready_after.For("demo:v3"), std::nullopt);
  EXPECT_EQ(s.ready_after.For("demo:v4"), Duration(minutes(1)));

  ASSERT_EQ(s.metrics.size(), 3u);
  // Entries are ordered by `at`.
  const auto& rate = s.metrics.at("success-rate");
  ASSERT_EQ(rate.size(), 2u);
  EXPECT_EQ(rate[0].at, Duration::zero());
  EXPECT_EQ(*rate[0].value, nlohmann::json::parse("[0.99]"));
  EXPECT_EQ(rate[1].at, minutes(5));
  const auto& latency = s.metrics.at("latency");
  ASSERT_EQ(latency.size(), 1u);
  EXPECT_EQ(latency[0].kind, MetricEntry::Kind::kError);
  EXPECT_EQ(latency[0].error, "connection refused");
  const auto& smoke = s.metrics.at("smoke");
  EXPECT_EQ(smoke[0].kind, MetricEntry::Kind::kPhase);
  EXPECT_EQ(smoke[0].phase, AnalysisPhase::kSuccessful);
  EXPECT_EQ(smoke[1].phase, AnalysisPhase::kInconclusive);

  // Actions by time, file order within a time.
  ASSERT_EQ(s.actions.size(), 10u);
  EXPECT_EQ(s.actions[0].kind, ActionKind::kPromote);
  EXPECT_EQ(s.actions[1].kind, ActionKind::kPromoteFull);
  EXPECT_EQ(s.actions[2].kind, ActionKind::kUndo);
  EXPECT_EQ(s.actions[2].to_revision, 1);
  EXPECT_EQ(s.actions[3].kind, ActionKind::kSetImage);
  EXPECT_EQ(s.actions[3].image, "demo:v3");
  EXPECT_EQ(s.actions[4].kind, ActionKind::kAbort);
  EXPECT_EQ(s.actions[5].kind, ActionKind::kRetry);
  EXPECT_EQ(s.actions[6].kind, ActionKind::kPause);
  EXPECT_EQ(s.actions[7].kind, ActionKind::kResume);
  EXPECT_EQ(s.actions[8].kind, ActionKind::kRestart);
  EXPECT_EQ(s.actions[9].kind, ActionKind::kUndo);
  EXPECT_EQ(s.actions[9].to_revision, std::nullopt);
  EXPECT_EQ(s.actions[9].at, minutes(9));
  EXPECT_EQ(s.actions[2].mark.line, 16);
}

TEST(ScenarioTest, Defaults) {
  Scenario s = MustParse("update: {image: demo:v2}\n");
  EXPECT_EQ(s.until, hours(24));
  EXPECT_EQ(s.ready_after.For("demo:v2"), Duration::zero());
  EXPECT_TRUE(s.metrics.empty());
  EXPECT_TRUE(s.actions.empty());
}

TEST(ScenarioTest, ReadyAfterScalarAndNever) {
  EXPECT_EQ(MustParse("update: {image: a}\nreadyAfter: 1m30s\n").ready_after.For("x"),
            Duration(seconds(90)));
  EXPECT_EQ(MustParse("update: {image: a}\nreadyAfter: never\n").ready_after.For("x"),
            std::nullopt);
  EXPECT_EQ(MustParse("update: {image: a}\nreadyAfter: {b: never}\n").ready_after.For("x"),
            Duration::zero());
}

TEST(ScenarioTest, MetricAtReturnsTheLastEntryAtOrBeforeT) {
  Scenario s = MustParse(R"(update: {image: a}
metrics:
  m:
  - {at: 10s, value: 1}
  - {at: 1m, value: 2}
  - {at: 1m, value: 3}
)");
  EXPECT_EQ(s.MetricAt("m", seconds(9)), nullptr);
  EXPECT_EQ(*s.MetricAt("m", seconds(10))->value, 1);
  EXPECT_EQ(*s.MetricAt("m", seconds(59))->value, 1);
  EXPECT_EQ(s.MetricAt("m", minutes(1)), s.MetricAt("m", hours(1)));
  EXPECT_EQ(*s.MetricAt("m", minutes(1))->value, 3);  // the later of two at the same time
  EXPECT_EQ(s.MetricAt("other", minutes(1)), nullptr);
}

TEST(ScenarioTest, ValueIsAnyYamlValueVerbatim) {
  Scenario s = MustParse(R"(update: {image: a}
metrics:
  obj:
  - {at: 0s, value: {p99: 0.2, ok: true, name: "x"}}
  - {at: 1s, value: "0.5"}
  - {at: 2s, value: ~}
)");
  const auto& e = s.metrics.at("obj");
  EXPECT_EQ(*e[0].value, nlohmann::json::parse(R"({"p99": 0.2, "ok": true, "name": "x"})"));
  EXPECT_EQ(*e[1].value, "0.5");  // a quoted number stays a string
  EXPECT_TRUE(e[2].value->is_null());
}

TEST(ScenarioTest, ActionsAfterUntilAreDropped) {
  Scenario s = MustParse(R"(update: {image: a}
until: 10m
actions:
- {at: 10m, do: promote}
- {at: 11m, do: abort}
)");
  ASSERT_EQ(s.actions.size(), 1u);
  EXPECT_EQ(s.actions[0].kind, ActionKind::kPromote);
}

TEST(ScenarioTest, BadDurationNamesFileLineAndColumn) {
  EXPECT_EQ(ErrorOf("update: {image: a}\nuntil: 5x\n"),
            "s.yaml:2:8: until: invalid duration \"5x\" (a Go duration such as 30s, 5m or 1h30m)");
  EXPECT_EQ(ErrorOf("update: {image: a}\nreadyAfter: {default: soon}\n"),
            "s.yaml:2:23: readyAfter.default: invalid duration \"soon\" (a Go duration such as "
            "30s, 5m or 1h30m, or never)");
  EXPECT_EQ(ErrorOf("update: {image: a}\nactions:\n- {at: 30, do: promote}\n"),
            "s.yaml:3:8: actions[0].at: invalid duration \"30\" (a Go duration such as 30s, 5m or "
            "1h30m)");
  EXPECT_EQ(ErrorOf("update: {image: a}\nuntil: -1m\n"),
            "s.yaml:2:8: until: duration \"-1m\" must not be negative");
  EXPECT_THAT(ErrorOf("update: {image: a}\nmetrics:\n  m:\n  - {at: 1mm, value: 1}\n"),
              HasSubstr("s.yaml:4:10: metrics.m[0].at: invalid duration \"1mm\""));
}

TEST(ScenarioTest, UnknownKeysSuggestTheClosestField) {
  EXPECT_EQ(ErrorOf("update: {image: a}\nacions: []\n"),
            "s.yaml:2:1: acions: unknown field \"acions\" (did you mean \"actions\"?)");
  EXPECT_EQ(ErrorOf("update: {imag: a}\n"),
            "s.yaml:1:9: update.image: required field is missing (the new image of "
            "containers[0])\n"
            "s.yaml:1:10: update.imag: unknown field \"imag\" (did you mean \"image\"?)");
  EXPECT_EQ(ErrorOf("update: {image: a}\nactions:\n- {at: 1m, do: undo, toRevison: 2}\n"),
            "s.yaml:3:22: actions[0].toRevison: unknown field \"toRevison\" (did you mean "
            "\"toRevision\"?)");
  EXPECT_EQ(ErrorOf("update: {image: a}\nmetrics:\n  m:\n  - {at: 0s, valeu: 1}\n"),
            "s.yaml:4:5: metrics.m[0]: an entry needs one of value, error or phase\n"
            "s.yaml:4:14: metrics.m[0].valeu: unknown field \"valeu\" (did you mean \"value\"?)");
}

TEST(ScenarioTest, UnknownActionIsAnError) {
  EXPECT_EQ(ErrorOf("update: {image: a}\nactions:\n- {at: 1m, do: promot}\n"),
            "s.yaml:3:16: actions[0].do: unknown action \"promot\" (did you mean \"promote\"?); "
            "one of promote, promote-full, abort, retry, pause, resume, restart, undo, set-image");
  EXPECT_THAT(ErrorOf("update: {image: a}\nactions:\n- {at: 1m, do: rollback}\n"),
              HasSubstr("s.yaml:3:16: actions[0].do: unknown action \"rollback\"; one of"));
}

TEST(ScenarioTest, MissingUpdateIsAnError) {
  EXPECT_EQ(ErrorOf("until: 1h\n"),
            "s.yaml:1:1: update: required field is missing (the new image of containers[0]: "
            "update: {image: IMAGE})");
  EXPECT_EQ(ErrorOf(""),
            "s.yaml:1:1: update: required field is missing (the new image of containers[0]: "
            "update: {image: IMAGE})");
  EXPECT_EQ(ErrorOf("update: {}\n"),
            "s.yaml:1:9: update.image: required field is missing (the new image of "
            "containers[0])");
}

TEST(ScenarioTest, ActionFieldRules) {
  EXPECT_EQ(ErrorOf("update: {image: a}\nactions:\n- {at: 1m, do: set-image}\n"),
            "s.yaml:3:3: actions[0].image: required field is missing for set-image");
  EXPECT_EQ(ErrorOf("update: {image: a}\nactions:\n- {at: 1m, do: promote, image: b}\n"),
            "s.yaml:3:32: actions[0].image: image is only for set-image");
  EXPECT_EQ(ErrorOf("update: {image: a}\nactions:\n- {at: 1m, do: abort, toRevision: 1}\n"),
            "s.yaml:3:35: actions[0].toRevision: toRevision is only for undo");
  EXPECT_THAT(ErrorOf("update: {image: a}\nactions:\n- {at: 1m, do: undo, toRevision: two}\n"),
              HasSubstr("s.yaml:3:34: actions[0].toRevision: expected a revision number"));
  EXPECT_EQ(ErrorOf("update: {image: a}\nactions:\n- {do: abort}\n"),
            "s.yaml:3:3: actions[0].at: required field is missing");
}

TEST(ScenarioTest, MetricEntryRules) {
  EXPECT_EQ(ErrorOf("update: {image: a}\nmetrics:\n  m:\n  - {at: 0s, value: 1, error: x}\n"),
            "s.yaml:4:5: metrics.m[0]: an entry takes only one of value, error or phase");
  EXPECT_EQ(ErrorOf("update: {image: a}\nmetrics:\n  m:\n  - {at: 0s, phase: Succesful}\n"),
            "s.yaml:4:21: metrics.m[0].phase: unknown phase \"Succesful\" (one of Successful, "
            "Failed, Inconclusive, Error); did you mean \"Successful\"?");
  EXPECT_EQ(ErrorOf("update: {image: a}\nmetrics:\n  m: {at: 0s, value: 1}\n"),
            "s.yaml:3:6: metrics.m: expected a list of {at, value|error|phase}, got map");
}

TEST(ScenarioTest, ShapeErrors) {
  EXPECT_EQ(ErrorOf("- update\n"),
            "s.yaml:1:1: a scenario is a map (update, readyAfter, until, metrics, actions)");
  EXPECT_EQ(ErrorOf("update: {image: a}\n---\nupdate: {image: b}\n"),
            "s.yaml:3:1: a scenario file holds one YAML document");
  EXPECT_THAT(ErrorOf("update: {image: a\n"), HasSubstr("s.yaml:"));
}

TEST(ScenarioTest, EveryErrorIsReported) {
  std::string e = ErrorOf("update: {image: a}\nuntil: x\nactions:\n- {at: 1m, do: nope}\n");
  EXPECT_THAT(e, HasSubstr("s.yaml:2:8: until:"));
  EXPECT_THAT(e, HasSubstr("s.yaml:4:16: actions[0].do:"));
}

}  // namespace
}  // namespace ramp::sim
