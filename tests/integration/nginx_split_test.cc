// Split accuracy of NGINX driven by the ramp/nginx router: a real NGINX (Debian package, one
// worker) whose front server proxies to the variable of the file ramp owns, in front of two
// ramp-demo-app processes, v1 and v2, on loopback. Every change rewrites the file and reloads
// NGINX; each step waits (bounded) until the reloaded worker runs alone, then sends its requests
// on new connections. Canary weights 0, 5, 50 and 100 with 4000 requests each, checked against
// the exact 99.9 % binomial interval; header routes, mirror routes (copies counted at the
// canary) and a blue-green switch observed.
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <future>
#include <string>

#include "ramp/traffic_router.h"
#include "tests/integration/data_plane_testing.h"
#include "tests/integration/split_checks.h"
#include "traffic/nginx/nginx_router.h"

namespace ramp::dataplane_testing {
namespace {

constexpr int kRequests = 4000;

std::string DemoBinary() { return std::string(RAMP_BINARY_DIR) + "/src/demo_app/ramp-demo-app"; }

class NginxSplitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kNginxBinary, X_OK) != 0) {
      GTEST_SKIP() << kNginxBinary << " is not installed (scripts/setup installs nginx-light)";
    }
    auto v1 = DemoApp::Start(DemoBinary(), "v1");
    ASSERT_TRUE(v1.has_value()) << v1.error().ToString();
    v1_ = std::move(*v1);
    auto v2 = DemoApp::Start(DemoBinary(), "v2");
    ASSERT_TRUE(v2.has_value()) << v2.error().ToString();
    v2_ = std::move(*v2);
    auto front = FreePort();
    ASSERT_TRUE(front.has_value());
    front_ = *front;
    NginxOptions o;
    // The server of docs/routers.md: it proxies to $ramp_shop and mirrors every request to an
    // internal location that proxies to $ramp_shop_mirror when a mirror route selected it.
    o.http_body =
        "  include @DIR@/ramp.conf;\n  server {\n    listen 127.0.0.1:" + std::to_string(front_) +
        ";\n"
        "    location / { mirror /.ramp-mirror; proxy_pass http://$ramp_shop; }\n"
        "    location = /.ramp-mirror {\n      internal;\n"
        "      if ($ramp_shop_mirror = \"\") { return 204; }\n"
        "      proxy_pass http://$ramp_shop_mirror$request_uri;\n    }\n  }\n";
    // NGINX needs the included file to start; the router rewrites it from its first change on.
    o.files["ramp.conf"] = "upstream shop-stable { server " + v1_->Address() +
                           "; }\nupstream shop-canary { server 127.0.0.1:1 down; }\n"
                           "split_clients \"${request_id}\" $ramp_shop {\n    * shop-stable;\n}\n"
                           "map \"\" $ramp_shop_mirror {\n    default \"\";\n}\n";
    o.probe_port = front_;
    auto nginx = NginxProcess::Start(o);
    ASSERT_TRUE(nginx.has_value()) << nginx.error().ToString();
    nginx_ = std::move(*nginx);
  }

  std::unique_ptr<TrafficRouter> Router(bool blue_green) const {
    RouterContext c;
    c.rollout = {"default", "shop"};
    (blue_green ? c.active_service : c.stable_service) = "shop-stable";
    (blue_green ? c.preview_service : c.canary_service) = "shop-canary";
    c.config_json = NginxRouterConfigJson(*nginx_);
    auto r = nginx::NewNginxRouter(c);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r.has_value() ? std::move(*r) : nullptr;
  }

  // Runs a router operation; when it changed the file, waits until the reloaded worker runs
  // alone (old workers gone), so new connections see the new configuration.
  Status Apply(const std::function<void(StatusCallback)>& op) {
    const std::string file = nginx_->dir() + "/ramp.conf";
    const std::string before = ReadFileText(file);
    const pid_t worker = nginx_->WaitSettled();
    if (worker <= 0) return DeadlineExceededError("nginx has no settled worker");
    RETURN_IF_ERROR(Await(op));
    if (ReadFileText(file) != before && nginx_->WaitReloaded(worker) <= 0) {
      return DeadlineExceededError("nginx did not reload: " + nginx_->ErrorLog());
    }
    return OkStatus();
  }

  void Wire(TrafficRouter& r, ServiceRole role_a, ServiceRole role_b) {
    ASSERT_TRUE(Apply([&](auto d) { r.SetRevisionEndpoints("v1", {v1_->Address()}, d); }).ok());
    ASSERT_TRUE(Apply([&](auto d) { r.SetRevisionEndpoints("v2", {v2_->Address()}, d); }).ok());
    ASSERT_TRUE(Apply([&](auto d) { r.SwitchService(role_a, "v1", d); }).ok());
    ASSERT_TRUE(Apply([&](auto d) { r.SwitchService(role_b, "v2", d); }).ok());
  }

  SplitCounts Send(int n, std::vector<std::string> headers = {}) const {
    return SendRequests({.port = front_, .total = n, .connections = 8, .headers = headers});
  }

  std::unique_ptr<DemoApp> v1_, v2_;
  std::unique_ptr<NginxProcess> nginx_;
  int front_ = 0;
};

TEST_F(NginxSplitTest, CanaryShareLiesInThe999PercentIntervalAtWeights0To100) {
  auto router = Router(false);
  ASSERT_NE(router, nullptr);
  Wire(*router, ServiceRole::kStable, ServiceRole::kCanary);
  for (int weight : {0, 5, 50, 100}) {
    SCOPED_TRACE("canary weight " + std::to_string(weight));
    Status set = Apply([&](auto d) { router->SetWeight(weight, {}, d); });
    ASSERT_TRUE(set.ok()) << set.ToString();
    ExpectSplitWithinInterval("nginx", weight, kRequests, Send(kRequests));
  }
}

TEST_F(NginxSplitTest, HeaderRouteSendsMatchingRequestsToTheCanaryAtWeightZero) {
  auto router = Router(false);
  ASSERT_NE(router, nullptr);
  Wire(*router, ServiceRole::kStable, ServiceRole::kCanary);
  ASSERT_TRUE(Apply([&](auto d) { router->SetWeight(0, {}, d); }).ok());
  HeaderRoute route{"beta-testers", {{"X-Canary", {StringMatch::Kind::kExact, "yes"}}}};
  Status s = Apply([&](auto d) { router->SetHeaderRoute(route, d); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  ExpectExactHeaderRoute(
      [this](int n, std::vector<std::string> h) { return Send(n, std::move(h)); });

  // Prefix and regex matches in a second route; the weight still applies to the rest.
  HeaderRoute more{"mobile",
                   {{"User-Agent", {StringMatch::Kind::kPrefix, "Mobile Safari/"}},
                    {"X-User", {StringMatch::Kind::kRegex, "^u[0-9]+;beta$"}}}};
  ASSERT_TRUE(Apply([&](auto d) { router->SetHeaderRoute(more, d); }).ok());
  ExpectPrefixAndRegexRoute(
      [this](int n, std::vector<std::string> h) { return Send(n, std::move(h)); });
  ASSERT_TRUE(Apply([&](auto d) { router->SetWeight(100, {}, d); }).ok());
  EXPECT_EQ(Send(200).Of("v2"), 200);
  ASSERT_TRUE(Apply([&](auto d) { router->SetWeight(0, {}, d); }).ok());

  // Removing a route (no matches) stops it; RemoveManagedRoutes removes the rest.
  ASSERT_TRUE(Apply([&](auto d) { router->SetHeaderRoute({"beta-testers", {}}, d); }).ok());
  EXPECT_EQ(Send(200, {"X-Canary: yes"}).Of("v1"), 200);
  EXPECT_EQ(Send(200, {"X-User: u7;beta"}).Of("v2"), 200);
  ASSERT_TRUE(Apply([&](auto d) { router->RemoveManagedRoutes(d); }).ok());
  EXPECT_EQ(Send(200, {"X-User: u7;beta"}).Of("v1"), 200);
}

// Requests v2 answered since construction, not counting the /metrics reads themselves (each
// read is counted by the next one).
class AnswerCounter {
 public:
  explicit AnswerCounter(const DemoApp& app) : app_(app), base_(app.RequestCount().value_or(-1)) {}
  int64_t Since() {
    ++reads_;
    auto n = app_.RequestCount();
    return n.has_value() ? *n - base_ - reads_ : -1;
  }
  // Polls until the count stops moving (two reads 100 ms apart agree), at most `timeout`.
  int64_t Settled(Duration timeout = std::chrono::seconds(10)) {
    int64_t last = Since();
    PollUntil(
        [&] {
          int64_t now = Since();
          bool same = now == last;
          last = now;
          return same;
        },
        timeout, std::chrono::milliseconds(100));
    return last;
  }

 private:
  const DemoApp& app_;
  int64_t base_;
  int64_t reads_ = 0;
};

// setMirrorRoute with NGINX's `mirror`: a copy of each selected request goes to the canary, whose
// answer is discarded; the client's answer still comes from the weighted choice (v1 at weight 0).
TEST_F(NginxSplitTest, MirrorRouteCopiesSelectedRequestsToTheCanary) {
  auto router = Router(false);
  ASSERT_NE(router, nullptr);
  Wire(*router, ServiceRole::kStable, ServiceRole::kCanary);
  ASSERT_TRUE(Apply([&](auto d) { router->SetWeight(0, {}, d); }).ok());
  RouteMatch shadowed;
  shadowed.method = StringMatch{StringMatch::Kind::kExact, "GET"};
  shadowed.path = StringMatch{StringMatch::Kind::kPrefix, "/shadow"};
  MirrorRoute all{"shadow-all", {shadowed}, std::nullopt};
  Status s = Apply([&](auto d) { router->SetMirrorRoute(all, d); });
  ASSERT_TRUE(s.ok()) << s.ToString();

  // 100 %: every matching request is copied, and only those.
  {
    AnswerCounter v2(*v2_);
    SplitCounts c = SendRequests({.port = front_, .total = 500, .target = "/shadow/x?q=1"});
    EXPECT_EQ(c.failures, 0) << c.Describe();
    EXPECT_EQ(c.Of("v1"), 500) << c.Describe();
    EXPECT_EQ(v2.Settled(), 500);
    SplitCounts other = SendRequests({.port = front_, .total = 500, .target = "/other"});
    EXPECT_EQ(other.Of("v1"), 500) << other.Describe();
    EXPECT_EQ(v2.Settled(), 500) << "requests outside the route were mirrored";
  }

  // 30 % of the requests with X-Debug: 1 (the binomial interval), none of the others.
  RouteMatch debug;
  debug.headers["X-Debug"] = StringMatch{StringMatch::Kind::kExact, "1"};
  ASSERT_TRUE(Apply([&](auto d) { router->SetMirrorRoute({"shadow-all", {}, {}}, d); }).ok());
  ASSERT_TRUE(Apply([&](auto d) { router->SetMirrorRoute({"debug", {debug}, 30}, d); }).ok());
  {
    AnswerCounter v2(*v2_);
    SplitCounts c = Send(2000, {"X-Debug: 1"});
    EXPECT_EQ(c.failures, 0) << c.Describe();
    EXPECT_EQ(c.Of("v1"), 2000) << c.Describe();
    const int64_t mirrored = v2.Settled();
    const CountInterval in = BinomialInterval(2000, 0.3);
    std::printf("nginx, mirror 30 %%: %lld of 2000 copied; 99.9 %% interval [%lld, %lld]\n",
                static_cast<long long>(mirrored), static_cast<long long>(in.lo),
                static_cast<long long>(in.hi));
    EXPECT_TRUE(in.Contains(mirrored)) << mirrored;
    Send(500, {"X-Debug: 0"});
    Send(500, {"X-Debug: 1", "X-Other: 1"});  // extra headers do not matter
    const int64_t after = v2.Settled();
    EXPECT_GT(after, mirrored);
    EXPECT_LE(after - mirrored, 500);
  }

  // Removing the route stops the copies.
  ASSERT_TRUE(Apply([&](auto d) { router->RemoveManagedRoutes(d); }).ok());
  {
    AnswerCounter v2(*v2_);
    EXPECT_EQ(Send(300, {"X-Debug: 1"}).Of("v1"), 300);
    EXPECT_EQ(v2.Settled(), 0);
  }
}

TEST_F(NginxSplitTest, BlueGreenSwitchSendsEverythingToTheNewActiveRevision) {
  auto router = Router(true);
  ASSERT_NE(router, nullptr);
  Wire(*router, ServiceRole::kActive, ServiceRole::kPreview);
  SplitCounts before = Send(1000);
  EXPECT_EQ(before.Of("v1"), 1000) << before.Describe();

  // Switch while requests are flowing. A reload may cut a keep-alive connection, so failures
  // during the switch are printed, not asserted (the load test counts them under wrk).
  // The switch happens while requests are flowing: v1 has answered some of them (bounded poll).
  auto served = v1_->RequestCount();
  ASSERT_TRUE(served.has_value());
  auto during = std::async(std::launch::async, [&] { return Send(6000); });
  EXPECT_TRUE(PollUntil(
      [&] {
        auto n = v1_->RequestCount();
        return n.has_value() && *n >= *served + 300;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(5)));
  Status s = Apply([&](auto d) { router->SwitchService(ServiceRole::kActive, "v2", d); });
  SplitCounts flowing = during.get();
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::printf("nginx, during the switch: %s\n", flowing.Describe().c_str());

  SplitCounts after = Send(1000);
  EXPECT_EQ(after.failures, 0) << after.Describe();
  EXPECT_EQ(after.Of("v2"), 1000) << after.Describe();
}

}  // namespace
}  // namespace ramp::dataplane_testing
