// Secrets stay secret in `ramp serve`: a Rollout whose instances get a secretKeyRef env value and
// whose analysis sends a secretKeyRef argument to its metric backend (a loopback fake of the
// `web` provider's endpoint, which checks it got the secret) runs to the end, and neither value
// appears in the daemon's log, the audit log, the API's answers (rollout, events, analysis runs,
// metrics) or any file of the state directory.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "net/testing/http_test_server.h"
#include "tests/integration/serve_testing.h"

namespace ramp::serve_testing {
namespace {

constexpr char kDbPassword[] = "db-pw-7Kq2xV9mZr";
constexpr char kApiToken[] = "api-token-Wd4hN8sLp3";

fs::path SecretsDir() {
  return fs::path(::testing::TempDir()) / ("ramp-serve-secrets-" + std::to_string(::getpid()));
}

class ServeSecretsTest : public ServeFixture {
 protected:
  ServeSecretsTest()
      : backend_([this](const ramp::testing::TestRequest& r) {
          ramp::testing::TestResponse out;
          for (const auto& [k, v] : r.headers) {
            if (k == "Authorization" || k == "authorization") {
              if (v == std::string("Bearer ") + kApiToken) ++authorized_;
            }
          }
          out.body = R"({"ok": true})";
          return out;
        }) {
    fs::remove_all(SecretsDir());
    fs::create_directories(SecretsDir() / "db");
    fs::create_directories(SecretsDir() / "api");
    std::ofstream(SecretsDir() / "db" / "password") << kDbPassword;
    std::ofstream(SecretsDir() / "api" / "token") << kApiToken;
    serve_args_ = {"--secrets-dir", SecretsDir().string()};
  }
  ~ServeSecretsTest() override { fs::remove_all(SecretsDir()); }

  std::string Manifest(const std::string& version) {
    AppSpec a;
    a.version = version;
    a.port = FreePort();
    a.extra_env =
        "            - {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: "
        "password}}}\n";
    a.steps =
        "        - setWeight: 50\n"
        "        - analysis: {templates: [{templateName: authorized}]}\n";
    return fmt::format(R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: authorized}}
spec:
  args: [{{name: token, valueFrom: {{secretKeyRef: {{name: api, key: token}}}}}}]
  metrics:
    - name: ok
      count: 2
      interval: 1s
      successCondition: result == true
      provider:
        web:
          url: "{}/"
          headers: [{{key: Authorization, value: "Bearer {{{{args.token}}}}"}}]
          jsonPath: "{{$.ok}}"
---
)",
                       backend_.Url()) +
           ServeFixture::Manifest(a);
  }

  static std::string ReadAll(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::atomic<int> authorized_{0};
  ramp::testing::HttpTestServer backend_;
};

TEST_F(ServeSecretsTest, SecretValuesAppearInNoLogStatusEventApiAnswerOrStateFile) {
  CliResult v1 = Apply(Manifest("v1"));
  ASSERT_EQ(v1.exit_code, 0) << v1.out << v1.err;
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0) << Log("serve.log");
  ASSERT_EQ(Apply(Manifest("v2")).exit_code, 0);
  CliResult status = RunRamp("status", "web --timeout 90s " + state_);
  ASSERT_EQ(status.exit_code, 0) << status.out << Log("serve.log");
  // The secrets were used: the backend saw the token, the instances got the password.
  EXPECT_GE(authorized_.load(), 2);
  bool env_seen = false;
  for (int pid : InstancePids()) {
    const std::string env = ReadAll(fs::path("/proc") / std::to_string(pid) / "environ");
    env_seen = env_seen || env.find(std::string("DB_PASSWORD=") + kDbPassword) != std::string::npos;
  }
  EXPECT_TRUE(env_seen);

  // Everything a user or an operator can read.
  std::vector<std::pair<std::string, std::string>> outputs = {
      {"get rollout -o json", RunRamp("get", "rollout web -o json " + state_).out},
      {"get rollout -o yaml", RunRamp("get", "rollout web -o yaml " + state_).out},
      {"get rollout (tree)", RunRamp("get", "rollout web " + state_).out},
      {"get analysisruns -o json", RunRamp("get", "analysisruns -o json " + state_).out},
      {"list rollouts", RunRamp("list", "rollouts " + state_).out},
      {"serve.log", Log("serve.log")},
  };
  for (const auto& [what, text] : outputs) {
    SCOPED_TRACE(what);
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(text.find(kDbPassword), std::string::npos);
    EXPECT_EQ(text.find(kApiToken), std::string::npos);
  }
  // The analysis run names its secret argument but carries no value.
  EXPECT_NE(outputs[3].second.find("secretKeyRef"), std::string::npos) << outputs[3].second;

  // Every file the daemon wrote: database (and its WAL), audit log, tokens, instance records.
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "state")) {
    if (!e.is_regular_file()) continue;
    ++files;
    const std::string text = ReadAll(e.path());
    EXPECT_EQ(text.find(kDbPassword), std::string::npos) << e.path();
    EXPECT_EQ(text.find(kApiToken), std::string::npos) << e.path();
  }
  EXPECT_GT(files, 5);
}

}  // namespace
}  // namespace ramp::serve_testing
