#include "hooks/webhook.h"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "net/event_loop.h"
#include "net/testing/http_test_server.h"

namespace ramp::hooks {
namespace {

using nlohmann::json;
using testing::HttpTestServer;
using testing::TestRequest;
using testing::TestResponse;

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WebhookOptions o;
    o.http = http_.get();
    o.timers = loop_.get();
    o.clock = clock_.get();
    o.backoff_min = std::chrono::milliseconds(10);
    o.backoff_max = std::chrono::milliseconds(40);
    auto hook = NewWebhookHook(o);
    ASSERT_TRUE(hook.has_value());
    hook_ = std::move(*hook);
  }
  void TearDown() override { loop_->Stop(); }

  HookResult Call(const HookCall& call) {
    std::promise<HookResult> p;
    auto f = p.get_future();
    hook_->Call(call, [&p](HookResult r) { p.set_value(std::move(r)); });
    EXPECT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    return f.get();
  }

  HookCall MakeCall(const std::string& url) {
    HookCall c;
    c.type = HookType::kPreRollout;
    c.name = "smoke";
    c.url = url;
    c.target = ObjectRef{"shop-ns", "shop"};
    c.phase = "Progressing";
    c.checksum = "abc123";
    c.timeout = std::chrono::seconds(2);
    return c;
  }

  std::unique_ptr<Clock> clock_ = NewSystemClock();
  std::unique_ptr<net::EventLoop> loop_ = net::EventLoop::Start(1);
  std::unique_ptr<HttpClient> http_ = NewHttpClient();
  std::unique_ptr<Hook> hook_;
};

TEST(WebhookPayloadTest, IsFlaggersShape) {
  HookCall c;
  c.target = ObjectRef{"ns", "app"};
  c.phase = "Progressing";
  c.checksum = "x1";
  json j = json::parse(WebhookPayload(c));
  EXPECT_EQ(j, json::parse(R"({"name":"app","namespace":"ns","phase":"Progressing",
                               "checksum":"x1"})"));
  c.metadata["type"] = "bash";
  EXPECT_EQ(json::parse(WebhookPayload(c))["metadata"]["type"], "bash");
}

TEST_F(WebhookTest, StatusUpTo202IsAllowedAndThePayloadIsPosted) {
  std::string body;
  std::string method;
  HttpTestServer server([&](const TestRequest& r) {
    body = r.body;
    method = r.method;
    return TestResponse{202};
  });
  HookResult r = Call(MakeCall(server.Url() + "/gate/check"));
  EXPECT_EQ(r.verdict, HookVerdict::kAllowed) << r.message;
  EXPECT_EQ(r.http_status, 202);
  EXPECT_EQ(method, "POST");
  json j = json::parse(body);
  EXPECT_EQ(j["name"], "shop");
  EXPECT_EQ(j["namespace"], "shop-ns");
  EXPECT_EQ(j["checksum"], "abc123");
}

TEST_F(WebhookTest, StatusAbove202IsDeniedWithTheBody) {
  HttpTestServer server([](const TestRequest&) {
    TestResponse r;
    r.status = 403;
    r.body = "Forbidden: gate closed\n";
    return r;
  });
  HookResult r = Call(MakeCall(server.Url() + "/gate/halt"));
  EXPECT_EQ(r.verdict, HookVerdict::kDenied);
  EXPECT_NE(r.message.find("gate closed"), std::string::npos) << r.message;
  HttpTestServer no_content([](const TestRequest&) { return TestResponse{204}; });
  EXPECT_EQ(Call(MakeCall(no_content.Url())).verdict, HookVerdict::kDenied);
}

TEST_F(WebhookTest, ServerErrorsAreRetriedThenGivenUp) {
  std::atomic<int> seen{0};
  HttpTestServer server([&](const TestRequest&) { return TestResponse{++seen < 3 ? 503 : 200}; });
  HookCall c = MakeCall(server.Url());
  c.retries = 2;
  HookResult r = Call(c);
  EXPECT_EQ(r.verdict, HookVerdict::kAllowed) << r.message;
  EXPECT_EQ(r.attempts, 3);
  HttpTestServer always([](const TestRequest&) { return TestResponse{500}; });
  c.url = always.Url();
  c.retries = 1;
  r = Call(c);
  EXPECT_EQ(r.verdict, HookVerdict::kError);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_NE(r.message.find("giving up after 2 attempt(s)"), std::string::npos) << r.message;
  // Without retries a 500 is an answer: denied.
  c.retries = 0;
  EXPECT_EQ(Call(c).verdict, HookVerdict::kDenied);
}

TEST_F(WebhookTest, DeadEndpointsAndTimeoutsAreErrors) {
  HookResult r = Call(MakeCall("http://127.0.0.1:1/"));
  EXPECT_EQ(r.verdict, HookVerdict::kError);
  HttpTestServer slow([](const TestRequest&) {
    TestResponse t;
    t.delay = std::chrono::seconds(3);
    return t;
  });
  HookCall c = MakeCall(slow.Url());
  c.timeout = std::chrono::milliseconds(200);
  EXPECT_EQ(Call(c).verdict, HookVerdict::kError);
}

}  // namespace
}  // namespace ramp::hooks
