#include "sim/input.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace ramp::sim {
namespace {

using ::testing::HasSubstr;

constexpr char kRollout[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo}
spec:
  replicas: 2
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      containers: [{name: app, image: demo:v1}]
  strategy:
    canary:
      steps:
      - setWeight: 50
      - analysis:
          templates:
          - templateName: checks
)";

constexpr char kTemplate[] = R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: checks}
spec:
  metrics:
  - name: latency
    successCondition: result[0] < 0.5
    provider:
      prometheus: {address: "http://prometheus:9090", query: latency}
)";

std::string ErrorOf(const std::vector<SourceFile>& files, std::string_view name = "") {
  StatusOr<SimulationInput> in = LoadInput(files, name);
  EXPECT_FALSE(in.has_value());
  return in.has_value() ? "" : in.error().message();
}

TEST(InputTest, PicksTheOnlyRolloutWithTemplatesFromEveryFile) {
  StatusOr<SimulationInput> in =
      LoadInput({{"r.yaml", kRollout}, {"t.yaml", kTemplate}}, /*rollout_name=*/"");
  ASSERT_TRUE(in.has_value()) << in.error().message();
  EXPECT_EQ(in->rollout.metadata.name, "demo");
  EXPECT_EQ(in->rollout_file, "r.yaml");
  EXPECT_EQ(in->rollout.metadata.generation, 1);
  ASSERT_EQ(in->templates.size(), 1u);
  EXPECT_EQ(in->templates[0].metadata.name, "checks");
}

TEST(InputTest, ATemplateNoFileDefinesIsAnErrorAtTheReference) {
  EXPECT_EQ(ErrorOf({{"r.yaml", kRollout}}),
            "r.yaml:17:13: spec.strategy.canary.steps[1].analysis.templates[0].templateName: "
            "analysistemplate.argoproj.io \"checks\" not found: no -f file defines it");
}

TEST(InputTest, SeveralRolloutsNeedAName) {
  std::string other = kRollout;
  other.replace(other.find("name: demo"), 10, "name: web");
  const std::string both = std::string(kRollout) + "---\n" + other + "---\n" + kTemplate;
  EXPECT_EQ(ErrorOf({{"r.yaml", both}}),
            "the -f files hold 2 Rollouts (demo, web): choose one with --rollout NAME");
  StatusOr<SimulationInput> web = LoadInput({{"r.yaml", both}}, "web");
  ASSERT_TRUE(web.has_value()) << web.error().message();
  EXPECT_EQ(web->rollout.metadata.name, "web");
  EXPECT_EQ(ErrorOf({{"r.yaml", both}}, "api"),
            "no Rollout named \"api\" in the -f files (found: demo, web)");
  EXPECT_EQ(ErrorOf({{"t.yaml", kTemplate}}), "no Rollout in the -f files");
}

TEST(InputTest, AManifestThatDoesNotLintIsAnError) {
  std::string bad = kRollout;
  bad.replace(bad.find("setWeight: 50"), 13, "setWeight: 150");
  EXPECT_THAT(ErrorOf({{"r.yaml", bad}, {"t.yaml", kTemplate}}),
              HasSubstr("r.yaml:14:9: spec.strategy.canary.steps[0].setWeight:"));
}

TEST(InputTest, ExperimentStepsAreNotSupportedYet) {
  std::string r = kRollout;
  r += R"(      - experiment:
          duration: 1m
          templates:
          - {name: canary, specRef: canary}
)";
  EXPECT_EQ(ErrorOf({{"r.yaml", r}, {"t.yaml", kTemplate}}),
            "r.yaml:18:9: spec.strategy.canary.steps[2].experiment: experiment steps are not "
            "supported yet");
}

TEST(InputTest, StepPluginsOtherThanWebhookAreNotSupportedYet) {
  std::string r = kRollout;
  r += R"(      - plugin:
          name: example/step
          config: {x: 1}
)";
  EXPECT_EQ(ErrorOf({{"r.yaml", r}, {"t.yaml", kTemplate}}),
            "r.yaml:18:9: spec.strategy.canary.steps[2].plugin: step plugins are not supported "
            "yet (only ramp/webhook steps run)");
}

}  // namespace
}  // namespace ramp::sim
