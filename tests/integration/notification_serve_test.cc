// Notifications end to end: a real `ramp serve --notifications` (integration/serve_testing.h)
// whose rollout is subscribed to on-rollout-aborted on slack, with the Slack service pointed at a
// fake Slack API on loopback (a test fake answering like chat.postMessage).
#include <chrono>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "net/testing/http_test_server.h"
#include "tests/integration/serve_testing.h"

namespace ramp::serve_testing {
namespace {

constexpr char kToken[] = "xoxb-serve-test-secret-token";

class NotificationServeTest : public ServeFixture {
 protected:
  void SetUp() override {
    ServeFixture::SetUp();
    if (HasFatalFailure()) return;
    listen_port_ = FreePort();
    fake_slack_api_ = std::make_unique<ramp::testing::HttpTestServer>(
        [this](const ramp::testing::TestRequest& r) {
          std::lock_guard<std::mutex> lock(mu_);
          slack_requests_.push_back(r);
          return ramp::testing::TestResponse{200, {}, R"({"ok":true})"};
        });
    std::ofstream(dir_ / "notifications.yaml") << fmt::format(R"(apiVersion: v1
kind: ConfigMap
metadata: {{name: argo-rollouts-notification-configmap}}
data:
  service.slack: |
    token: $slack-token
    apiURL: {}/api/chat.postMessage
)",
                                                              fake_slack_api_->Url());
    std::ofstream(dir_ / "notifications-secret.yaml")
        << "apiVersion: v1\nkind: Secret\nstringData:\n  slack-token: " << kToken << "\n";
    // The fixture's daemon again, with the notifications flags.
    auto clock = NewSystemClock();
    serve_->Stop(*clock, std::chrono::seconds(10));
    serve_.reset();
    serve_args_ = {"--notifications", (dir_ / "notifications.yaml").string(),
                   "--notifications-secret", (dir_ / "notifications-secret.yaml").string()};
    StartServe();
  }

  void TearDown() override {
    ServeFixture::TearDown();
    fake_slack_api_.reset();
  }

  std::string Manifest(const std::string& version) {
    AppSpec a;
    a.version = version;
    a.port = listen_port_;
    a.steps = "        - setWeight: 50\n        - pause: {}\n";
    std::string text = ServeFixture::Manifest(a);
    const std::string plain = "kind: Rollout\nmetadata: {name: web}\n";
    const size_t at = text.find(plain);
    EXPECT_NE(at, std::string::npos);
    text.replace(at, plain.size(),
                 "kind: Rollout\nmetadata:\n  name: web\n  annotations:\n"
                 "    notifications.argoproj.io/subscribe.on-rollout-aborted.slack: deploys\n");
    return text;
  }

  std::vector<ramp::testing::TestRequest> SlackRequests() {
    std::lock_guard<std::mutex> lock(mu_);
    return slack_requests_;
  }

  int listen_port_ = 0;
  std::unique_ptr<ramp::testing::HttpTestServer> fake_slack_api_;
  std::mutex mu_;
  std::vector<ramp::testing::TestRequest> slack_requests_;  // guarded by mu_
};

TEST_F(NotificationServeTest, AnAbortedRolloutPostsOnRolloutAbortedToSlack) {
  CliResult applied = Apply(Manifest("v1"));
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  ASSERT_TRUE(Eventually([&] { return Phase("web") == "Healthy"; }, std::chrono::seconds(30)))
      << Log("serve.log");
  ASSERT_EQ(RunRamp("set", "image web web=web:v2 " + state_).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return Phase("web") == "Paused"; }, std::chrono::seconds(60)))
      << Log("serve.log");
  EXPECT_TRUE(SlackRequests().empty());  // only on-rollout-aborted is subscribed
  ASSERT_EQ(RunRamp("abort", "web " + state_).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return !SlackRequests().empty(); }, std::chrono::seconds(20)))
      << Log("serve.log");

  const ramp::testing::TestRequest r = SlackRequests().front();
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/api/chat.postMessage");
  ASSERT_NE(FindHeader(r.headers, "Authorization"), nullptr);
  EXPECT_EQ(*FindHeader(r.headers, "Authorization"), std::string("Bearer ") + kToken);
  json body = json::parse(r.body);
  EXPECT_EQ(body["channel"], "deploys");
  const std::string text = body["text"];
  EXPECT_EQ(text.rfind("Rollout default/web was aborted (phase Degraded): Rollout aborted update "
                       "to revision 2",
                       0),
            0u)
      << text;
  ASSERT_TRUE(Eventually(
      [&] {
        return Log("serve.log")
                   .find(
                       "notification on-rollout-aborted to slack (recipient "
                       "\"deploys\", template rollout-aborted) sent") != std::string::npos;
      },
      std::chrono::seconds(10)))
      << Log("serve.log");
  EXPECT_EQ(Log("serve.log").find(kToken), std::string::npos);
}

}  // namespace
}  // namespace ramp::serve_testing
