// Runs the built `ramp simulate` binary on the shipped example and on bad input, and checks the
// exit codes (0 when it ran, 2 on bad input before t = 0), where output and diagnostics go, and
// that -o json prints one JSON object per line with the summary last.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli_testing.h"

namespace {

using ::testing::HasSubstr;

using Result = ramp::cli::testing_util::CliResult;
using ramp::cli::testing_util::ReadAll;

std::string Example(const std::string& name) {
  return std::string(RAMP_SOURCE_DIR) + "/examples/" + name;
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  return ramp::cli::testing_util::WriteTemp("simulate", name, text);
}

Result Ramp(const std::string& args) { return ramp::cli::testing_util::RunRamp("simulate", args); }

const std::string kExample = "-f '" + Example("canary-proxy.yaml") + "' --scenario '" +
                             Example("canary-proxy.scenario.yaml") + "'";

TEST(SimulateCli, ExampleRunsAsText) {
  Result r = Ramp(kExample);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, HasSubstr("Simulating rollout shop: python:3.12-slim -> python:3.13-slim"));
  EXPECT_THAT(r.out, HasSubstr("RolloutStepCompleted"));
  EXPECT_THAT(r.out, HasSubstr("Rollout step 6/6 completed (analysis)"));
  EXPECT_THAT(r.out, HasSubstr("RolloutCompleted"));
  EXPECT_THAT(r.out, HasSubstr(": Healthy, settled by Completed\n"));
}

TEST(SimulateCli, ExampleRunsAsJsonLines) {
  Result r = Ramp(kExample + " -o json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  std::string line;
  std::vector<nlohmann::json> lines;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << "not a JSON object: " << line;
    lines.push_back(j);
  }
  ASSERT_GE(lines.size(), 2u);
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_TRUE(lines[i].contains("reason")) << lines[i].dump();
    EXPECT_FALSE(lines[i].contains("summary"));
  }
  const nlohmann::json& s = lines.back()["summary"];
  EXPECT_EQ(s["schemaVersion"], 1);
  EXPECT_EQ(s["phase"], "Healthy");
  EXPECT_EQ(s["settledBy"], "Completed");
  EXPECT_EQ(s["analysisRuns"].size(), 2u);
}

TEST(SimulateCli, BadScenarioExitsTwoWithItsPosition) {
  const std::string scenario =
      WriteTemp("bad.scenario.yaml", "update: {image: x:2}\nactions:\n- {at: 1m, do: promot}\n");
  Result r = Ramp("-f '" + Example("canary-proxy.yaml") + "' --scenario '" + scenario + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr(scenario + ":3:16: actions[0].do: unknown action \"promot\""));
}

TEST(SimulateCli, ManifestThatDoesNotLintExitsTwo) {
  std::string manifest = ReadAll(Example("canary-proxy.yaml"));
  manifest.replace(manifest.find("setWeight: 10"), 13, "setWeight: 101");
  const std::string path = WriteTemp("bad-rollout.yaml", manifest);
  Result r = Ramp("-f '" + path + "' --scenario '" + Example("canary-proxy.scenario.yaml") + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr(path + ":"));
  EXPECT_THAT(r.err, HasSubstr("setWeight"));
}

TEST(SimulateCli, MissingTemplateExitsTwo) {
  std::string manifest = ReadAll(Example("canary-proxy.yaml"));
  manifest.replace(manifest.find("name: shop-golden-signals"), 25, "name: other-signals");
  const std::string path = WriteTemp("no-template.yaml", manifest);
  Result r = Ramp("-f '" + path + "' --scenario '" + Example("canary-proxy.scenario.yaml") + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(".templateName: analysistemplate.argoproj.io "
                               "\"shop-golden-signals\" not found: no -f file defines it"));
}

TEST(SimulateCli, UsageErrorsExitTwo) {
  Result no_scenario = Ramp("-f '" + Example("canary-proxy.yaml") + "'");
  EXPECT_EQ(no_scenario.exit_code, 2);
  EXPECT_THAT(no_scenario.err, HasSubstr("no scenario given (--scenario FILE)"));

  Result no_files = Ramp("--scenario '" + Example("canary-proxy.scenario.yaml") + "'");
  EXPECT_EQ(no_files.exit_code, 2);
  EXPECT_THAT(no_files.err, HasSubstr("no manifest given (-f FILE)"));

  Result bad_output = Ramp(kExample + " -o yaml");
  EXPECT_EQ(bad_output.exit_code, 2);
  EXPECT_THAT(bad_output.err, HasSubstr("-o must be text or json"));

  Result unreadable =
      Ramp("-f /nonexistent/ramp.yaml --scenario '" + Example("canary-proxy.scenario.yaml") + "'");
  EXPECT_EQ(unreadable.exit_code, 2);
  EXPECT_THAT(unreadable.err, HasSubstr("cannot read /nonexistent/ramp.yaml"));
}

}  // namespace
