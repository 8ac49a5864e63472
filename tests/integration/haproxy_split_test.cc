// Split accuracy of HAProxy driven by the ramp/haproxy router (NewHaproxyRouter over the runtime
// socket): a real HAProxy (Debian package) in the documented shape (data_plane_testing.h) in
// front of two ramp-demo-app processes, v1 and v2, on loopback. Canary weights 0, 5, 50 and 100
// with 4000 requests each, checked against the exact 99.9 % binomial interval; header routes,
// the refused mirror route and blue-green switches observed on the answers.
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <future>
#include <string>

#include "ramp/traffic_router.h"
#include "tests/integration/data_plane_testing.h"
#include "tests/integration/split_checks.h"
#include "traffic/haproxy/haproxy_router.h"

namespace ramp::dataplane_testing {
namespace {

constexpr int kRequests = 4000;

std::string DemoBinary() { return std::string(RAMP_BINARY_DIR) + "/src/demo_app/ramp-demo-app"; }

StatusOr<WeightCheck> Verify(TrafficRouter& r, int32_t weight) {
  auto p = std::make_shared<std::promise<StatusOr<WeightCheck>>>();
  auto f = p->get_future();
  r.VerifyWeight(weight, {}, [p](StatusOr<WeightCheck> c) { p->set_value(std::move(c)); });
  if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return Fail(DeadlineExceededError("VerifyWeight did not complete"));
  }
  return f.get();
}

class HaproxySplitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kHaproxyBinary, X_OK) != 0) {
      GTEST_SKIP() << kHaproxyBinary << " is not installed (scripts/setup installs haproxy)";
    }
    auto haproxy = HaproxyProcess::Start();
    ASSERT_TRUE(haproxy.has_value()) << haproxy.error().ToString();
    haproxy_ = std::move(*haproxy);
    auto v1 = DemoApp::Start(DemoBinary(), "v1");
    ASSERT_TRUE(v1.has_value()) << v1.error().ToString();
    v1_ = std::move(*v1);
    auto v2 = DemoApp::Start(DemoBinary(), "v2");
    ASSERT_TRUE(v2.has_value()) << v2.error().ToString();
    v2_ = std::move(*v2);
  }

  // A router for a canary (stable/canary roles) or a blue-green (active/preview) Rollout.
  std::unique_ptr<TrafficRouter> Router(bool blue_green) const {
    RouterContext c;
    c.rollout = {"default", "catalog"};
    (blue_green ? c.active_service : c.stable_service) = "catalog-stable";
    (blue_green ? c.preview_service : c.canary_service) = "catalog-canary";
    c.config_json = haproxy_->RouterConfigJson();
    auto r = haproxy::NewHaproxyRouter(c);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r.has_value() ? std::move(*r) : nullptr;
  }

  // Both revisions' instances known, v1 in `role_a` and v2 in `role_b`.
  void Wire(TrafficRouter& r, ServiceRole role_a, ServiceRole role_b) {
    ASSERT_TRUE(Await([&](auto d) { r.SetRevisionEndpoints("v1", {v1_->Address()}, d); }).ok());
    ASSERT_TRUE(Await([&](auto d) { r.SetRevisionEndpoints("v2", {v2_->Address()}, d); }).ok());
    ASSERT_TRUE(Await([&](auto d) { r.SwitchService(role_a, "v1", d); }).ok());
    ASSERT_TRUE(Await([&](auto d) { r.SwitchService(role_b, "v2", d); }).ok());
  }

  SplitCounts Send(int n, std::vector<std::string> headers = {}) const {
    return SendRequests(
        {.port = haproxy_->port(), .total = n, .connections = 8, .headers = headers});
  }

  std::unique_ptr<HaproxyProcess> haproxy_;
  std::unique_ptr<DemoApp> v1_, v2_;
};

TEST_F(HaproxySplitTest, CanaryShareLiesInThe999PercentIntervalAtWeights0To100) {
  auto router = Router(false);
  ASSERT_NE(router, nullptr);
  Wire(*router, ServiceRole::kStable, ServiceRole::kCanary);
  for (int weight : {0, 5, 50, 100}) {
    SCOPED_TRACE("canary weight " + std::to_string(weight));
    Status set = Await([&](auto d) { router->SetWeight(weight, {}, d); });
    ASSERT_TRUE(set.ok()) << set.ToString();
    auto check = Verify(*router, weight);
    ASSERT_TRUE(check.has_value()) << check.error().ToString();
    EXPECT_EQ(check->verification, WeightVerification::kVerified) << check->message;

    ExpectSplitWithinInterval("haproxy", weight, kRequests, Send(kRequests));
  }
}

TEST_F(HaproxySplitTest, HeaderRouteSendsMatchingRequestsToTheCanaryAtWeightZero) {
  auto router = Router(false);
  ASSERT_NE(router, nullptr);
  Wire(*router, ServiceRole::kStable, ServiceRole::kCanary);
  ASSERT_TRUE(Await([&](auto d) { router->SetWeight(0, {}, d); }).ok());
  HeaderRoute route{"beta-testers", {{"X-Canary", {StringMatch::Kind::kExact, "yes"}}}};
  Status s = Await([&](auto d) { router->SetHeaderRoute(route, d); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  ExpectExactHeaderRoute(
      [this](int n, std::vector<std::string> h) { return Send(n, std::move(h)); });

  // Prefix and regex matches in a second route (the routes are ORed), weight 100 unaffected.
  HeaderRoute more{"mobile",
                   {{"User-Agent", {StringMatch::Kind::kPrefix, "Mobile Safari/"}},
                    {"X-User", {StringMatch::Kind::kRegex, "^u[0-9]+;beta$"}}}};
  ASSERT_TRUE(Await([&](auto d) { router->SetHeaderRoute(more, d); }).ok());
  ExpectPrefixAndRegexRoute(
      [this](int n, std::vector<std::string> h) { return Send(n, std::move(h)); });
  EXPECT_EQ(Send(200, {"X-Canary: yes"}).Of("v2"), 200);
  auto check = Verify(*router, 0);
  ASSERT_TRUE(check.has_value()) << check.error().ToString();
  EXPECT_EQ(check->verification, WeightVerification::kVerified) << check->message;

  // Removing a route (no matches) stops it; RemoveManagedRoutes removes the rest.
  ASSERT_TRUE(Await([&](auto d) { router->SetHeaderRoute({"beta-testers", {}}, d); }).ok());
  EXPECT_EQ(Send(200, {"X-Canary: yes"}).Of("v1"), 200);
  EXPECT_EQ(Send(200, {"X-User: u7;beta"}).Of("v2"), 200);
  ASSERT_TRUE(Await([&](auto d) { router->RemoveManagedRoutes(d); }).ok());
  EXPECT_EQ(Send(200, {"X-User: u7;beta"}).Of("v1"), 200);
  EXPECT_EQ(ReadFileText(haproxy::HeaderRouteAclFile(haproxy_->MapFile(), "catalog")), "")
      << "ramp changes the ACL at runtime only";
}

TEST_F(HaproxySplitTest, MirrorRouteIsUnimplementedBecauseHaproxyCannotMirror) {
  auto router = Router(false);
  ASSERT_NE(router, nullptr);
  Wire(*router, ServiceRole::kStable, ServiceRole::kCanary);
  MirrorRoute mirror{"shadow", {RouteMatch{}}, 50};
  Status s = Await([&](auto d) { router->SetMirrorRoute(mirror, d); });
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented) << s.ToString();
  EXPECT_NE(s.message().find("no native traffic mirroring"), std::string::npos) << s.message();
  // Nothing changed: weight 0 still sends everything to v1, and v2 sees no copies.
  auto v2_before = v2_->RequestCount();
  ASSERT_TRUE(v2_before.has_value());
  EXPECT_EQ(Send(300).Of("v1"), 300);
  auto v2_after = v2_->RequestCount();
  ASSERT_TRUE(v2_after.has_value());
  EXPECT_EQ(*v2_after, *v2_before + 1) << "v2 answered more than the /metrics read before";
  // Removing a mirror route that cannot exist succeeds.
  EXPECT_TRUE(Await([&](auto d) { router->SetMirrorRoute({"shadow", {}, {}}, d); }).ok());
}

// SwitchService fills a free slot with the new revision, sets it ready, then puts the old slot in
// maint (HAProxy lets its running requests finish): no request fails, and none reaches the old
// revision afterwards, also when switching back reuses the slot the old revision had.
TEST_F(HaproxySplitTest, BlueGreenSwitchSendsEverythingToTheNewActiveRevision) {
  auto router = Router(true);
  ASSERT_NE(router, nullptr);
  Wire(*router, ServiceRole::kActive, ServiceRole::kPreview);
  SplitCounts before = Send(1000);
  EXPECT_EQ(before.Of("v1"), 1000) << before.Describe();

  // Switch the active role to v2 while requests are flowing: none may fail.
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
  Status s = Await([&](auto d) { router->SwitchService(ServiceRole::kActive, "v2", d); });
  SplitCounts flowing = during.get();
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::printf("haproxy, during the switch: %s\n", flowing.Describe().c_str());
  EXPECT_EQ(flowing.failures, 0) << flowing.Describe();
  EXPECT_GT(flowing.Of("v2"), 0) << flowing.Describe();

  // Everything after the switch goes to v2, including requests HAProxy would send over server
  // connections it opened to v1 while they were busy at the switch.
  SplitCounts after = Send(1000);
  EXPECT_EQ(after.failures, 0) << after.Describe();
  EXPECT_EQ(after.Of("v2"), 1000) << after.Describe();

  // Back to v1 under load (a rollback), then forward again: the slots are reused both ways.
  for (const char* target : {"v1", "v2"}) {
    SCOPED_TRACE(std::string("switch to ") + target);
    DemoApp& old_app = std::string(target) == "v1" ? *v2_ : *v1_;
    const int64_t old_served = old_app.RequestCount().value_or(0);
    auto load = std::async(std::launch::async, [&] { return Send(3000); });
    EXPECT_TRUE(PollUntil([&] { return old_app.RequestCount().value_or(0) >= old_served + 300; },
                          std::chrono::seconds(10), std::chrono::milliseconds(5)));
    Status back = Await([&](auto d) { router->SwitchService(ServiceRole::kActive, target, d); });
    SplitCounts mixed = load.get();
    ASSERT_TRUE(back.ok()) << back.ToString();
    EXPECT_EQ(mixed.failures, 0) << mixed.Describe();
    SplitCounts settled = Send(1000);
    EXPECT_EQ(settled.failures, 0) << settled.Describe();
    EXPECT_EQ(settled.Of(target), 1000) << settled.Describe();
  }
}

}  // namespace
}  // namespace ramp::dataplane_testing
