// AnalysisRuns on their own through `ramp serve` (Argo's `create analysisrun --from`): created
// from a stored template with arguments, measured against a loopback metric endpoint (a fake of
// the `web` provider's backend), terminated by hand, and resumed after the daemon is killed.
#include <map>
#include <mutex>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "net/testing/http_test_server.h"
#include "tests/integration/serve_testing.h"

namespace ramp::serve_testing {
namespace {

class ServeAnalysisTest : public ServeFixture {
 protected:
  ServeAnalysisTest()
      : backend_([](const ramp::testing::TestRequest&) {
          ramp::testing::TestResponse r;
          r.body = R"({"ok": true})";
          return r;
        }) {}

  // Two templates: `probe` measures 3 times, `watch` until terminated.
  std::string Templates() const {
    auto one = [](const std::string& name, const std::string& count) {
      return fmt::format(R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: {}}}
spec:
  args: [{{name: url}}]
  metrics:
    - name: ok
      interval: 1s
{}      successCondition: result == true
      provider:
        web: {{url: "{{{{args.url}}}}", jsonPath: "{{$.ok}}"}}
)",
                         name, count);
    };
    return one("probe", "      count: 3\n") + "---\n" + one("watch", "");
  }

  // The run `name` as `get analysisruns -o json` shows it ({} when absent).
  json Run(const std::string& name) {
    CliResult r = RunRamp("get", "analysisruns -o json " + state_);
    json j = json::parse(r.out, nullptr, false);
    if (!j.is_object()) return json::object();
    for (const json& run : j.value("items", json::array())) {
      if (run["metadata"].value("name", "") == name) return run;
    }
    return json::object();
  }
  std::string RunPhase(const std::string& name) {
    return Run(name).value("status", json::object()).value("phase", "");
  }

  ramp::testing::HttpTestServer backend_;
};

TEST_F(ServeAnalysisTest, CreateFromATemplateTerminateAndResumeAfterAKill) {
  ASSERT_EQ(Apply(Templates()).exit_code, 0);
  const std::string url = "-a url=" + backend_.Url() + "/ ";

  CliResult created = RunRamp("create", "analysisrun --from probe --name probe-1 " + url + state_);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(created.out, "analysisrun.argoproj.io/probe-1 created\n");
  ASSERT_TRUE(
      Eventually([&] { return RunPhase("probe-1") == "Successful"; }, std::chrono::seconds(30)))
      << Run("probe-1").dump() << Log("serve.log");
  const json done = Run("probe-1");
  EXPECT_EQ(done["spec"]["args"][0].value("value", ""), backend_.Url() + "/");
  EXPECT_EQ(done["status"]["metricResults"][0].value("count", 0), 3);

  // Mistakes are answered with what to do.
  CliResult again = RunRamp("create", "analysisrun --from probe --name probe-1 " + url + state_);
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  CliResult missing = RunRamp("create", "analysisrun --from nope " + state_);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("nope"), std::string::npos) << missing.err;
  CliResult no_arg = RunRamp("create", "analysisrun --from probe --name probe-2 " + state_);
  EXPECT_NE(no_arg.exit_code, 0);
  EXPECT_NE(no_arg.err.find("url"), std::string::npos) << no_arg.err;

  // A run with no count measures until terminated; a generated name starts with the template's.
  CliResult watch = RunRamp("create", "analysisrun --from watch " + url + state_);
  ASSERT_EQ(watch.exit_code, 0) << watch.err;
  const std::string prefix = "analysisrun.argoproj.io/watch-";
  ASSERT_EQ(watch.out.rfind(prefix, 0), 0u) << watch.out;
  const std::string name =
      watch.out.substr(std::string("analysisrun.argoproj.io/").size(), watch.out.size() - 33);
  ASSERT_EQ(name.size(), std::string("watch-xxxxx").size()) << name;
  ASSERT_TRUE(Eventually(
      [&] {
        const json r = Run(name);
        return r.value("status", json::object()).value("phase", "") == "Running" &&
               r["status"]["metricResults"][0].value("count", 0) >= 2;
      },
      std::chrono::seconds(30)))
      << Run(name).dump();

  // kill -9 and a new daemon: the run is read back and goes on measuring.
  const int before = Run(name)["status"]["metricResults"][0].value("count", 0);
  KillServe();
  StartServe();
  ASSERT_TRUE(Eventually(
      [&] { return Run(name)["status"]["metricResults"][0].value("count", 0) > before + 1; },
      std::chrono::seconds(30)))
      << Run(name).dump() << Log("serve.log");
  EXPECT_EQ(RunPhase("probe-1"), "Successful");

  CliResult terminated = RunRamp("terminate", "analysisrun " + name + " " + state_);
  ASSERT_EQ(terminated.exit_code, 0) << terminated.err;
  ASSERT_TRUE(Eventually([&] { return RunPhase(name) == "Successful"; }, std::chrono::seconds(30)))
      << Run(name).dump();
  EXPECT_TRUE(Run(name)["spec"].value("terminate", false));
}

}  // namespace
}  // namespace ramp::serve_testing
