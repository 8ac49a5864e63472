#include "hooks/template.h"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace ramp::hooks {
namespace {

using nlohmann::json;

json Vars() {
  return json::parse(R"({
    "rollout": {"metadata": {"name": "shop", "namespace": "prod"},
                "status": {"phase": "Degraded", "replicas": 3, "paused": false},
                "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}]}}}},
    "event": {"reason": "RolloutAborted", "message": "Rollout aborted update to revision 2"},
    "recipient": "deploys",
    "time": "2026-11-27T01:12:22Z",
    "nothing": null
  })");
}

std::string Render(const std::string& text) {
  auto t = MessageTemplate::Compile(text);
  EXPECT_TRUE(t.has_value()) << (t ? "" : t.error().message());
  return t ? t->Render(Vars()) : "";
}

std::string CompileError(const std::string& text) {
  auto t = MessageTemplate::Compile(text);
  EXPECT_FALSE(t.has_value()) << text;
  return t ? "" : t.error().message();
}

TEST(MessageTemplateTest, RendersDottedPaths) {
  EXPECT_EQ(Render("Rollout {{.rollout.metadata.name}} in {{ .rollout.metadata.namespace }} is "
                   "{{.rollout.status.phase}}: {{.event.message}} ({{.event.reason}})"),
            "Rollout shop in prod is Degraded: Rollout aborted update to revision 2 "
            "(RolloutAborted)");
  EXPECT_EQ(Render("to {{.recipient}} at {{.time}}"), "to deploys at 2026-11-27T01:12:22Z");
}

TEST(MessageTemplateTest, TextWithoutActionsIsCopied) {
  EXPECT_EQ(Render(""), "");
  EXPECT_EQ(Render("plain } { text"), "plain } { text");
}

TEST(MessageTemplateTest, NonStringsRenderAsJsonAndMissingAsEmpty) {
  EXPECT_EQ(Render("{{.rollout.status.replicas}} {{.rollout.status.paused}}"), "3 false");
  EXPECT_EQ(Render("{{.rollout.spec.strategy.canary.steps}}"), R"([{"setWeight":20}])");
  EXPECT_EQ(Render("[{{.rollout.status.message}}][{{.nothing}}][{{.recipient.deeper}}]"), "[][][]");
}

TEST(MessageTemplateTest, TrimMarkersRemoveWhiteSpace) {
  EXPECT_EQ(Render("a   {{- .recipient -}}   \n b"), "adeploysb");
  EXPECT_EQ(Render("a {{.recipient -}}\n  b"), "a deploysb");
}

TEST(MessageTemplateTest, UnsupportedConstructsAreRefusedWithTheirPosition) {
  const std::string e = CompileError("ok\n  {{if .rollout}}x{{end}}");
  EXPECT_NE(e.find("line 2, column 3"), std::string::npos) << e;
  EXPECT_NE(e.find("{{if .rollout}}"), std::string::npos) << e;
  EXPECT_NE(e.find("only {{.path}} is supported"), std::string::npos) << e;
  EXPECT_NE(CompileError("{{range .rollout.spec}}{{end}}").find("range"), std::string::npos);
  EXPECT_NE(CompileError("{{.rollout.metadata.name | upper}}").find("a pipe"), std::string::npos);
  EXPECT_NE(CompileError("{{.rollout.metadata.name \"x\"}}").find("more than a path"),
            std::string::npos);
  EXPECT_NE(CompileError("{{.rollout[0]}}").find("unexpected \"[\""), std::string::npos);
  EXPECT_NE(CompileError("{{printf \"%s\" .recipient}}").find("not a path"), std::string::npos);
  EXPECT_NE(CompileError("{{/* note */}}").find("not a path"), std::string::npos);
  EXPECT_NE(CompileError("{{$x := 1}}").find("not a path"), std::string::npos);
  EXPECT_NE(CompileError("{{.}}").find("empty path element"), std::string::npos);
  EXPECT_NE(CompileError("{{.a..b}}").find("empty path element"), std::string::npos);
  EXPECT_NE(CompileError("{{ }}").find("empty action"), std::string::npos);
  EXPECT_NE(CompileError("x {{.recipient").find("line 1, column 3: \"{{\" is not closed"),
            std::string::npos);
}

}  // namespace
}  // namespace ramp::hooks
