// HAProxy under load, driven by the ramp/haproxy router: `wrk -t2 -c16 -d30s` against a real
// HAProxy (data_plane_testing.h) in front of two ramp-demo-app revisions while the router changes
// the canary weight every 100 ms (one `set map` on the runtime socket each). wrk's error lines
// are printed and must all be zero. Skipped when wrk or haproxy is missing (scripts/setup
// installs both).
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "ramp/traffic_router.h"
#include "tests/integration/data_plane_testing.h"
#include "traffic/haproxy/haproxy_router.h"

namespace ramp::dataplane_testing {
namespace {

std::string DemoBinary() { return std::string(RAMP_BINARY_DIR) + "/src/demo_app/ramp-demo-app"; }

TEST(HaproxyLoadTest, NoRequestFailsWhileTheWeightChangesEvery100ms) {
  if (!FindWrk()) GTEST_SKIP() << "wrk is not on PATH (scripts/setup installs the wrk package)";
  if (::access(kHaproxyBinary, X_OK) != 0) {
    GTEST_SKIP() << kHaproxyBinary << " is not installed (scripts/setup installs haproxy)";
  }
  auto haproxy = HaproxyProcess::Start();
  ASSERT_TRUE(haproxy.has_value()) << haproxy.error().ToString();
  auto v1 = DemoApp::Start(DemoBinary(), "v1");
  ASSERT_TRUE(v1.has_value()) << v1.error().ToString();
  auto v2 = DemoApp::Start(DemoBinary(), "v2");
  ASSERT_TRUE(v2.has_value()) << v2.error().ToString();

  RouterContext c;
  c.rollout = {"default", "catalog"};
  c.stable_service = "catalog-stable";
  c.canary_service = "catalog-canary";
  c.config_json = (*haproxy)->RouterConfigJson();
  auto made = haproxy::NewHaproxyRouter(c);
  ASSERT_TRUE(made.has_value()) << made.error().ToString();
  TrafficRouter& r = **made;
  ASSERT_TRUE(Await([&](auto d) { r.SetRevisionEndpoints("v1", {(*v1)->Address()}, d); }).ok());
  ASSERT_TRUE(Await([&](auto d) { r.SetRevisionEndpoints("v2", {(*v2)->Address()}, d); }).ok());
  ASSERT_TRUE(Await([&](auto d) { r.SwitchService(ServiceRole::kStable, "v1", d); }).ok());
  ASSERT_TRUE(Await([&](auto d) { r.SwitchService(ServiceRole::kCanary, "v2", d); }).ok());
  ASSERT_TRUE(Await([&](auto d) { r.SetWeight(0, {}, d); }).ok());

  const std::string url = "http://127.0.0.1:" + std::to_string((*haproxy)->port()) + "/";
  auto wrk = WrkProcess::Start({"-t2", "-c16", "-d30s", "--timeout", "10s", url});
  ASSERT_TRUE(wrk.has_value()) << wrk.error().ToString();
  WeightChanges changes = CycleWeightsWhileRunning(
      **wrk, [&](int weight) { return Await([&](auto d) { r.SetWeight(weight, {}, d); }); });
  auto result = (*wrk)->Wait(std::chrono::seconds(30));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  std::printf("haproxy, weight changed %d times under wrk: %s\n", changes.changes,
              result->Describe().c_str());
  std::printf("%s\n", (*wrk)->Output().c_str());
  EXPECT_EQ(changes.failed, 0) << changes.first_error;
  EXPECT_GE(changes.changes, 5) << "the weight went round its cycle at least once";
  EXPECT_GT(result->requests, 0);
  EXPECT_EQ(result->Failures(), 0) << (*wrk)->Output();
  auto n1 = (*v1)->RequestCount();
  auto n2 = (*v2)->RequestCount();
  ASSERT_TRUE(n1.has_value() && n2.has_value());
  EXPECT_GT(*n1, 0);
  EXPECT_GT(*n2, 0);
}

}  // namespace
}  // namespace ramp::dataplane_testing
