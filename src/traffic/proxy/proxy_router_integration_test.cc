// ramp/proxy against the real `ramp proxy` binary: the proxy runs on loopback with its admin API
// on a token-protected TCP port, two loopback backends answer with their revision's name, and
// requests sent through the proxy's listener show where the router's changes send traffic.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/testing/http_test_server.h"
#include "ramp/http_client.h"
#include "ramp/traffic_router.h"
#include "traffic/proxy/proxy_process_testing.h"
#include "traffic/proxy/proxy_router.h"

namespace ramp::proxy_router {
namespace {

using ::testing::HasSubstr;
using SteadyClock = std::chrono::steady_clock;

Status Wait(const std::function<void(StatusCallback)>& op) {
  auto p = std::make_shared<std::promise<Status>>();
  auto f = p->get_future();
  op([p](Status s) { p->set_value(std::move(s)); });
  if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return DeadlineExceededError("operation did not complete");
  }
  return f.get();
}

StatusOr<WeightCheck> Verify(TrafficRouter& r, int32_t weight) {
  auto p = std::make_shared<std::promise<StatusOr<WeightCheck>>>();
  auto f = p->get_future();
  r.VerifyWeight(weight, {}, [p](StatusOr<WeightCheck> c) { p->set_value(std::move(c)); });
  if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return Fail(DeadlineExceededError("VerifyWeight did not complete"));
  }
  return f.get();
}

struct Counts {
  int stable = 0;
  int canary = 0;
  int other = 0;
  std::string last_other;
};

// A backend that answers with its name and records the targets it was sent.
class Backend {
 public:
  explicit Backend(std::string name)
      : server_([this, name](const ramp::testing::TestRequest& r) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            targets_.push_back(r.target);
          }
          ramp::testing::TestResponse out;
          out.body = name;
          return out;
        }) {}

  std::string Address() const { return "127.0.0.1:" + std::to_string(server_.Port()); }
  std::vector<std::string> Targets() const {
    std::lock_guard<std::mutex> lock(mu_);
    return targets_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> targets_;
  ramp::testing::HttpTestServer server_;
};

class ProxyRouterIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = testing::ProxyProcess::Start();
    ASSERT_TRUE(started.has_value()) << started.error().ToString();
    proxy_ = std::move(*started);
    auto port = testing::FreeLoopbackPort();
    ASSERT_TRUE(port.has_value());
    port_ = *port;
    http_ = NewHttpClient();
    stable_ = std::make_unique<Backend>("stable");
    canary_ = std::make_unique<Backend>("canary");
  }

  RouterContext Context(std::string config = "") const {
    RouterContext c;
    c.rollout = {"default", "shop"};
    c.stable_service = "shop-stable";
    c.canary_service = "shop-canary";
    c.managed_routes = {"beta"};
    c.config_json = config.empty() ? R"({"listen": "127.0.0.1:)" + std::to_string(port_) +
                                         R"(", "connectTimeout": "1s", "requestTimeout": "5s"})"
                                   : config;
    return c;
  }

  std::unique_ptr<TrafficRouter> Make(std::string token = "") {
    ProxyRouterOptions options;
    options.http = http_.get();
    options.admin_url = proxy_->AdminUrl();
    options.admin_token = token.empty() ? proxy_->Token() : token;
    auto made = NewProxyRouter(Context(), options);
    EXPECT_TRUE(made.has_value()) << made.error().ToString();
    return made.has_value() ? std::move(*made) : nullptr;
  }

  StatusOr<HttpResponse> Get(const std::string& target, HttpHeaders headers = {}) {
    HttpRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(port_) + target;
    req.headers = std::move(headers);
    req.timeout = std::chrono::seconds(5);
    return testing::SendAndWait(*http_, std::move(req));
  }

  Counts Send(int n, const HttpHeaders& headers = {}) {
    Counts c;
    for (int i = 0; i < n; ++i) {
      auto r = Get("/", headers);
      if (r.has_value() && r->status == 200 && r->body == "stable") {
        ++c.stable;
      } else if (r.has_value() && r->status == 200 && r->body == "canary") {
        ++c.canary;
      } else {
        ++c.other;
        c.last_other =
            r.has_value() ? std::to_string(r->status) + " " + r->body : r.error().ToString();
      }
    }
    return c;
  }

  // Where one request with `headers` goes: "stable", "canary" or what went wrong.
  std::string Where(const HttpHeaders& headers) {
    auto r = Get("/", headers);
    if (!r.has_value()) return r.error().ToString();
    return r->status == 200 ? r->body : std::to_string(r->status) + " " + r->body;
  }

  // The stable revision s1 and the canary revision c1 on the two backends.
  void PointRolesAtBackends(TrafficRouter& r) {
    ASSERT_TRUE(Wait([&](auto d) { r.SetRevisionEndpoints("s1", {stable_->Address()}, d); }).ok());
    ASSERT_TRUE(Wait([&](auto d) { r.SwitchService(ServiceRole::kStable, "s1", d); }).ok());
    ASSERT_TRUE(Wait([&](auto d) { r.SwitchService(ServiceRole::kCanary, "c1", d); }).ok());
    ASSERT_TRUE(Wait([&](auto d) { r.SetRevisionEndpoints("c1", {canary_->Address()}, d); }).ok());
  }

  std::unique_ptr<testing::ProxyProcess> proxy_;
  int port_ = 0;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<Backend> stable_;
  std::unique_ptr<Backend> canary_;
};

TEST_F(ProxyRouterIntegration, WeightsAndHeaderRoutesReachTheRightBackends) {
  auto router = Make();
  ASSERT_NE(router, nullptr);
  TrafficRouter& r = *router;
  PointRolesAtBackends(r);

  ASSERT_TRUE(Wait([&](auto d) { r.SetWeight(0, {}, d); }).ok());
  Counts zero = Send(200);
  EXPECT_EQ(zero.stable, 200) << zero.last_other;
  EXPECT_EQ(zero.canary, 0);

  ASSERT_TRUE(Wait([&](auto d) { r.SetWeight(50, {}, d); }).ok());
  // 200 requests at p = 0.5: mean 100, sigma 7.1; ±40 is more than 5 sigma.
  Counts half = Send(200);
  EXPECT_EQ(half.other, 0) << half.last_other;
  EXPECT_GE(half.canary, 60);
  EXPECT_LE(half.canary, 140);
  std::printf("weight 50: %d of 200 requests to the canary\n", half.canary);
  auto verified = Verify(r, 50);
  ASSERT_TRUE(verified.has_value()) << verified.error().ToString();
  EXPECT_EQ(verified->verification, WeightVerification::kVerified) << verified->message;
  EXPECT_EQ(verified->observed_weight, 50);

  ASSERT_TRUE(Wait([&](auto d) { r.SetWeight(100, {}, d); }).ok());
  Counts full = Send(200);
  EXPECT_EQ(full.canary, 200) << full.last_other;
  auto at_full = Verify(r, 100);
  ASSERT_TRUE(at_full.has_value());
  EXPECT_EQ(at_full->verification, WeightVerification::kVerified);
  auto wrong = Verify(r, 30);
  ASSERT_TRUE(wrong.has_value());
  EXPECT_EQ(wrong->verification, WeightVerification::kNotVerified);
  EXPECT_EQ(wrong->observed_weight, 100);

  // Weight 0 and a header route whose two matches are ORed.
  ASSERT_TRUE(Wait([&](auto d) { r.SetWeight(0, {}, d); }).ok());
  HeaderRoute beta{"beta",
                   {{"X-Canary", {StringMatch::Kind::kExact, "yes"}},
                    {"X-User", {StringMatch::Kind::kRegex, "beta-[0-9]+"}}}};
  ASSERT_TRUE(Wait([&](auto d) { r.SetHeaderRoute(beta, d); }).ok());
  EXPECT_EQ(Where({{"X-Canary", "yes"}}), "canary");
  EXPECT_EQ(Where({{"X-User", "beta-42"}}), "canary");
  EXPECT_EQ(Where({{"X-Canary", "no"}}), "stable");
  EXPECT_EQ(Where({{"X-User", "beta-x"}}), "stable");
  EXPECT_EQ(Where({}), "stable");
  Counts routed = Send(50, {{"X-Canary", "yes"}});
  EXPECT_EQ(routed.canary, 50) << routed.last_other;

  ASSERT_TRUE(Wait([&](auto d) { r.RemoveManagedRoutes(d); }).ok());
  EXPECT_EQ(Where({{"X-Canary", "yes"}}), "stable");

  // Promotion: stable switches to the canary's revision.
  ASSERT_TRUE(Wait([&](auto d) { r.SwitchService(ServiceRole::kStable, "c1", d); }).ok());
  Counts promoted = Send(50);
  EXPECT_EQ(promoted.canary, 50) << promoted.last_other;  // the "canary" backend is stable now
}

TEST_F(ProxyRouterIntegration, ChangesWaitForInstancesAndAreVerified) {
  auto router = Make();
  ASSERT_NE(router, nullptr);
  TrafficRouter& r = *router;
  // Nothing is served yet: the stable revision has no instances.
  ASSERT_TRUE(Wait([&](auto d) { r.SetWeight(30, {}, d); }).ok());
  ASSERT_TRUE(Wait([&](auto d) { r.SwitchService(ServiceRole::kStable, "s1", d); }).ok());
  auto nothing = Verify(r, 30);
  ASSERT_TRUE(nothing.has_value()) << nothing.error().ToString();
  EXPECT_EQ(nothing->verification, WeightVerification::kNotVerified);
  EXPECT_THAT(nothing->message, HasSubstr("no service \"default.shop\""));

  // Stable instances arrive: served, with the canary (no instances yet) at weight 0.
  ASSERT_TRUE(Wait([&](auto d) { r.SetRevisionEndpoints("s1", {stable_->Address()}, d); }).ok());
  ASSERT_TRUE(Wait([&](auto d) { r.SwitchService(ServiceRole::kCanary, "c1", d); }).ok());
  Counts before = Send(100);
  EXPECT_EQ(before.stable, 100) << before.last_other;
  auto waiting = Verify(r, 30);
  ASSERT_TRUE(waiting.has_value());
  EXPECT_EQ(waiting->verification, WeightVerification::kNotVerified);
  EXPECT_EQ(waiting->observed_weight, 0);
  EXPECT_THAT(waiting->message, HasSubstr("the canary has no ready instances (revision c1)"));

  // The canary's instances arrive: the recorded weight goes out.
  ASSERT_TRUE(Wait([&](auto d) { r.SetRevisionEndpoints("c1", {canary_->Address()}, d); }).ok());
  auto applied = Verify(r, 30);
  ASSERT_TRUE(applied.has_value());
  EXPECT_EQ(applied->verification, WeightVerification::kVerified) << applied->message;
  // 400 requests at p = 0.3: mean 120, sigma 9.2; ±45 is almost 5 sigma.
  Counts part = Send(400);
  EXPECT_EQ(part.other, 0) << part.last_other;
  EXPECT_GE(part.canary, 75);
  EXPECT_LE(part.canary, 165);
}

TEST_F(ProxyRouterIntegration, ProxyDownIsUnavailableAndAWrongTokenIsRefused) {
  auto wrong = Make("not-the-token");
  ASSERT_NE(wrong, nullptr);
  ASSERT_TRUE(
      Wait([&](auto d) { wrong->SetRevisionEndpoints("s1", {stable_->Address()}, d); }).ok());
  Status denied = Wait([&](auto d) { wrong->SwitchService(ServiceRole::kStable, "s1", d); });
  EXPECT_EQ(denied.code(), StatusCode::kPermissionDenied) << denied.ToString();
  EXPECT_THAT(denied.message(), HasSubstr("admin token refused"));

  auto router = Make();
  ASSERT_NE(router, nullptr);
  PointRolesAtBackends(*router);
  proxy_->Stop();
  Status down = Wait([&](auto d) { router->SetWeight(10, {}, d); });
  EXPECT_EQ(down.code(), StatusCode::kUnavailable) << down.ToString();
  auto verify = Verify(*router, 10);
  ASSERT_FALSE(verify.has_value());
  EXPECT_EQ(verify.error().code(), StatusCode::kUnavailable);
}

TEST_F(ProxyRouterIntegration, BadConfigurationIsInvalidArgument) {
  ProxyRouterOptions options;
  options.http = http_.get();
  options.admin_url = proxy_->AdminUrl();
  options.admin_token = proxy_->Token();
  auto bad = NewProxyRouter(Context(R"({"listen": "127.0.0.1:99999"})"), options);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.error().message(), HasSubstr("plugins[\"ramp/proxy\"].listen"));
  auto unknown = NewProxyRouter(Context(R"({"listen": ":1", "weight": 5})"), options);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.error().message(), HasSubstr(".weight: unknown field"));
}

TEST_F(ProxyRouterIntegration, MirrorRoutesCopyRequestsToTheCanary) {
  auto router = Make();
  ASSERT_NE(router, nullptr);
  TrafficRouter& r = *router;
  PointRolesAtBackends(r);
  RouteMatch api;
  api.method = StringMatch{StringMatch::Kind::kExact, "GET"};
  api.path = StringMatch{StringMatch::Kind::kPrefix, "/mirror"};
  Status set = Wait([&](auto d) { r.SetMirrorRoute({"beta", {api}, 100}, d); });
  ASSERT_TRUE(set.ok()) << set.ToString();
  auto answer = Get("/mirror/a");
  ASSERT_TRUE(answer.has_value()) << answer.error().ToString();
  EXPECT_EQ(answer->body, "stable");  // served by stable; the copy's answer is discarded
  EXPECT_EQ(Where({}), "stable");
  // The copy reaches the canary asynchronously: poll with a deadline.
  const auto deadline = SteadyClock::now() + std::chrono::seconds(10);
  bool copied = false;
  while (!copied && SteadyClock::now() < deadline) {
    for (const auto& t : canary_->Targets()) copied = copied || t == "/mirror/a";
    if (!copied) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(copied);
  for (const auto& t : canary_->Targets()) EXPECT_EQ(t, "/mirror/a");  // "/" was not copied
  ASSERT_TRUE(Wait([&](auto d) { r.SetMirrorRoute({"beta", {}, std::nullopt}, d); }).ok());
}

}  // namespace
}  // namespace ramp::proxy_router
