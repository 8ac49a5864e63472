// The notifier (src/hooks/notifier.h) through the real HTTP client against loopback receivers: a
// fake Slack API (a test fake that answers like chat.postMessage) and a generic webhook receiver.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hooks/notification_config.h"
#include "hooks/notifier.h"
#include "net/event_loop.h"
#include "net/testing/http_test_server.h"

namespace ramp::hooks {
namespace {

using nlohmann::json;
using testing::HttpTestServer;
using testing::TestRequest;
using testing::TestResponse;

constexpr char kToken[] = "xoxb-fake-secret-token-42";

// Requests a receiver got, readable from the test thread.
class Recorder {
 public:
  void Add(const TestRequest& r) {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(r);
  }
  std::vector<TestRequest> Requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<TestRequest> requests_;
};

// Polls `done` until it holds or `limit` passes.
bool Eventually(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// A loopback port nothing listens on.
int ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class NotificationTest : public ::testing::Test {
 protected:
  void TearDown() override {
    notifier_.reset();
    loop_->Stop();
  }

  // A notifier for the ConfigMap with the fake Slack API at `slack_url` and the webhook `hook`
  // at `hook_url`.
  void Start(const std::string& slack_url, const std::string& hook_url) {
    const std::string cm = fmt::format(R"(apiVersion: v1
kind: ConfigMap
metadata: {{name: argo-rollouts-notification-configmap}}
data:
  service.slack: |
    token: $slack-token
    apiURL: {}/api/chat.postMessage
    username: ramp
  service.webhook.hook: |
    url: {}
    headers:
    - name: X-Ramp-Test
      value: "yes"
  template.aborted-hook: |
    message: "{{{{.rollout.metadata.name}}}} aborted"
    webhook:
      hook:
        method: POST
        path: /events/{{{{.rollout.metadata.name}}}}
        body: |
          {{"name": "{{{{.rollout.metadata.name}}}}", "phase": "{{{{.rollout.status.phase}}}}"}}
  trigger.on-rollout-aborted: |
    - send: [rollout-aborted, aborted-hook]
)",
                                       slack_url, hook_url);
    auto config = ParseNotificationConfig(cm, "cm.yaml", {{"slack-token", kToken}});
    ASSERT_TRUE(config.has_value()) << config.error().message();
    NotifierOptions o;
    o.http = http_.get();
    o.timers = loop_.get();
    o.clock = clock_.get();
    o.config = std::make_shared<NotificationConfig>(std::move(*config));
    o.backoff_min = std::chrono::milliseconds(10);
    o.backoff_max = std::chrono::milliseconds(40);
    o.timeout = std::chrono::seconds(2);
    o.log = [this](std::string_view rollout, std::string_view line) {
      std::lock_guard<std::mutex> lock(log_mu_);
      log_ += fmt::format("{}: {}\n", rollout, line);
    };
    auto n = Notifier::New(std::move(o));
    ASSERT_TRUE(n.has_value());
    notifier_ = std::move(*n);
  }

  std::string Log() {
    std::lock_guard<std::mutex> lock(log_mu_);
    return log_;
  }

  NotificationEvent Aborted(const json& annotations) {
    NotificationEvent e;
    e.rollout = ObjectRef{"shop-ns", "shop"};
    e.type = EventType::kWarning;
    e.reason = "RolloutAborted";
    e.message = "Rollout aborted update to revision 2: metric \"errors\" assessed Failed";
    e.time = clock_->Now();
    e.rollout_json = {
        {"apiVersion", "argoproj.io/v1alpha1"},
        {"kind", "Rollout"},
        {"metadata", {{"name", "shop"}, {"namespace", "shop-ns"}, {"annotations", annotations}}},
        {"status", {{"phase", "Degraded"}}}};
    return e;
  }

  NotificationCounts Counts(const std::string& service, const std::string& trigger) {
    auto all = notifier_->Counters();
    auto it = all.find({"shop-ns", "shop", service, trigger});
    return it == all.end() ? NotificationCounts{} : it->second;
  }

  std::unique_ptr<Clock> clock_ = NewSystemClock();
  std::unique_ptr<net::EventLoop> loop_ = net::EventLoop::Start(1);
  std::unique_ptr<HttpClient> http_ = NewHttpClient();
  std::unique_ptr<Notifier> notifier_;
  std::mutex log_mu_;
  std::string log_;
};

TEST_F(NotificationTest, EventsReachTheFakeSlackApiAndTheWebhook) {
  Recorder slack_requests;
  HttpTestServer fake_slack_api([&](const TestRequest& r) {
    slack_requests.Add(r);
    return TestResponse{200, {{"Content-Type", "application/json"}}, R"({"ok":true})"};
  });
  Recorder hook_requests;
  HttpTestServer hook([&](const TestRequest& r) {
    hook_requests.Add(r);
    return TestResponse{204, {}, ""};
  });
  Start(fake_slack_api.Url(), hook.Url());
  const json annotations = {
      {"notifications.argoproj.io/subscribe.on-rollout-aborted.slack", "deploys;oncall"},
      {"notifications.argoproj.io/subscribe.on-rollout-aborted.hook", ""},
      {"notifications.argoproj.io/subscribe.on-rollout-completed.slack", "releases"}};
  // The rollout-aborted template goes to slack (twice) and hook; aborted-hook to both as well.
  EXPECT_EQ(notifier_->Notify(Aborted(annotations)), 6);
  ASSERT_TRUE(Eventually([&] {
    return slack_requests.Requests().size() == 4 && hook_requests.Requests().size() == 2 &&
           Counts("slack", "on-rollout-aborted").success == 4 &&
           Counts("hook", "on-rollout-aborted").success == 2;
  })) << Log();

  std::vector<std::string> channels;
  for (const TestRequest& r : slack_requests.Requests()) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/api/chat.postMessage");
    ASSERT_NE(FindHeader(r.headers, "Authorization"), nullptr);
    EXPECT_EQ(*FindHeader(r.headers, "Authorization"), std::string("Bearer ") + kToken);
    json body = json::parse(r.body);
    channels.push_back(body["channel"]);
    EXPECT_EQ(body["username"], "ramp");
    const std::string text = body["text"];
    EXPECT_TRUE(text == "shop aborted" ||
                text ==
                    "Rollout shop-ns/shop was aborted (phase Degraded): Rollout aborted "
                    "update to revision 2: metric \"errors\" assessed Failed")
        << text;
  }
  std::sort(channels.begin(), channels.end());
  EXPECT_EQ(channels, (std::vector<std::string>{"deploys", "deploys", "oncall", "oncall"}));

  bool templated = false;
  bool default_body = false;
  for (const TestRequest& r : hook_requests.Requests()) {
    EXPECT_EQ(*FindHeader(r.headers, "X-Ramp-Test"), "yes");
    if (r.target == "/events/shop") {
      templated = true;
      EXPECT_EQ(json::parse(r.body), json::parse(R"({"name":"shop","phase":"Degraded"})"));
    } else {
      default_body = true;
      EXPECT_EQ(r.target, "/");
      json body = json::parse(r.body);
      EXPECT_EQ(body["trigger"], "on-rollout-aborted");
      EXPECT_EQ(body["name"], "shop");
    }
  }
  EXPECT_TRUE(templated && default_body);
  EXPECT_NE(notifier_->MetricsText().find(
                "notification_send_success{namespace=\"shop-ns\",name=\"shop\",type=\"slack\","
                "reason=\"on-rollout-aborted\"} 4"),
            std::string::npos)
      << notifier_->MetricsText();
  EXPECT_EQ(Log().find(kToken), std::string::npos);

  // An event no subscription names sends nothing.
  NotificationEvent paused = Aborted(annotations);
  paused.reason = "RolloutPaused";
  EXPECT_EQ(notifier_->Notify(paused), 0);
}

TEST_F(NotificationTest, AReceiverThatFailsTwiceGetsTheMessageOnTheThirdAttempt) {
  std::atomic<int> calls{0};
  Recorder got;
  HttpTestServer flaky([&](const TestRequest& r) {
    got.Add(r);
    if (++calls <= 2) return TestResponse{500, {}, "try later"};
    return TestResponse{200, {}, R"({"ok":true})"};
  });
  Start(flaky.Url(), flaky.Url());
  NotificationEvent paused =
      Aborted({{"notifications.argoproj.io/subscribe.on-rollout-paused.slack", "deploys"}});
  paused.type = EventType::kNormal;
  paused.reason = "RolloutPaused";
  paused.message = "Rollout is paused (CanaryPauseStep)";
  EXPECT_EQ(notifier_->Notify(paused), 1);
  ASSERT_TRUE(Eventually([&] { return Counts("slack", "on-rollout-paused").success == 1; }))
      << Log();
  EXPECT_EQ(Counts("slack", "on-rollout-paused").error, 0);
  ASSERT_EQ(got.Requests().size(), 3u);
  EXPECT_EQ(json::parse(got.Requests()[2].body)["text"],
            "Rollout shop-ns/shop is paused (phase Degraded): Rollout is paused (CanaryPauseStep)");
  EXPECT_NE(Log().find("attempt 1 failed: answered 500: try later"), std::string::npos) << Log();
  EXPECT_NE(Log().find("sent (3 attempt(s))"), std::string::npos) << Log();
}

TEST_F(NotificationTest, SlackOkFalseIsAnErrorAndIsNotRetried) {
  Recorder got;
  HttpTestServer fake_slack_api([&](const TestRequest& r) {
    got.Add(r);
    return TestResponse{200, {}, R"({"ok":false,"error":"channel_not_found"})"};
  });
  Start(fake_slack_api.Url(), fake_slack_api.Url());
  const json annotations = {
      {"notifications.argoproj.io/subscribe_yaml",
       "- trigger: [on-rollout-aborted]\n  destinations:\n  - service: slack\n    recipients: "
       "[nowhere]\n"}};
  notifier_->Notify(Aborted(annotations));
  ASSERT_TRUE(Eventually([&] { return Counts("slack", "on-rollout-aborted").error == 2; }))
      << Log();
  EXPECT_EQ(got.Requests().size(), 2u);
  EXPECT_NE(Log().find("to slack (recipient \"nowhere\", template rollout-aborted) failed after 1 "
                       "attempt(s): slack answered ok=false: channel_not_found"),
            std::string::npos)
      << Log();
  EXPECT_EQ(Log().find(kToken), std::string::npos);
}

TEST_F(NotificationTest, ADeadReceiverIsLoggedAndNeverBlocks) {
  const std::string dead = fmt::format("http://127.0.0.1:{}", ClosedPort());
  Start(dead, dead);
  const auto before = std::chrono::steady_clock::now();
  const int started = notifier_->Notify(
      Aborted({{"notifications.argoproj.io/subscribe.on-rollout-aborted.slack", "deploys"},
               {"notifications.argoproj.io/subscribe.on-rollout-aborted.hook", ""}}));
  const auto took = std::chrono::steady_clock::now() - before;
  EXPECT_EQ(started, 4);
  EXPECT_LT(took, std::chrono::milliseconds(200));
  ASSERT_TRUE(Eventually([&] {
    return Counts("slack", "on-rollout-aborted").error == 2 &&
           Counts("hook", "on-rollout-aborted").error == 2;
  })) << Log();
  EXPECT_NE(Log().find("shop-ns/shop: notification on-rollout-aborted to slack (recipient "
                       "\"deploys\", template rollout-aborted) failed after 3 attempt(s)"),
            std::string::npos)
      << Log();
  EXPECT_NE(notifier_->MetricsText().find(
                "notification_send_error{namespace=\"shop-ns\",name=\"shop\",type=\"hook\","
                "reason=\"on-rollout-aborted\"} 2"),
            std::string::npos);
  EXPECT_EQ(Log().find(kToken), std::string::npos);
}

TEST_F(NotificationTest, AnUnconfiguredServiceIsLoggedAndCounted) {
  Start("http://127.0.0.1:1", "http://127.0.0.1:1");
  EXPECT_EQ(notifier_->Notify(
                Aborted({{"notifications.argoproj.io/subscribe.on-rollout-aborted.teams", "x"}})),
            0);
  EXPECT_EQ(Counts("teams", "on-rollout-aborted").error, 2);
  EXPECT_NE(Log().find("not sent: service teams is not configured"), std::string::npos) << Log();
}

}  // namespace
}  // namespace ramp::hooks
