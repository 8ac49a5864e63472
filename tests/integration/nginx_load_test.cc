// NGINX under load, driven by the ramp/nginx router: `wrk -t2 -c16 -d30s` against a real NGINX
// (one worker; its front server proxies to the variable of the file ramp owns) in front of two
// ramp-demo-app revisions while the router changes the canary weight every 100 ms — each change
// rewrites the file, runs `nginx -t` and `nginx -s reload`, so a change takes as long as that
// and the next one follows at once when it took longer. A reload can cut keep-alive connections,
// so wrk's error counts are printed, not asserted; the test asserts that every change applied and
// that traffic kept flowing to both revisions. Skipped when wrk or nginx is missing.
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "ramp/traffic_router.h"
#include "tests/integration/data_plane_testing.h"
#include "traffic/nginx/nginx_router.h"

namespace ramp::dataplane_testing {
namespace {

std::string DemoBinary() { return std::string(RAMP_BINARY_DIR) + "/src/demo_app/ramp-demo-app"; }

TEST(NginxLoadTest, WeightChangesEvery100msUnderLoadAndTheFailuresCount) {
  if (!FindWrk()) GTEST_SKIP() << "wrk is not on PATH (scripts/setup installs the wrk package)";
  if (::access(kNginxBinary, X_OK) != 0) {
    GTEST_SKIP() << kNginxBinary << " is not installed (scripts/setup installs nginx-light)";
  }
  auto v1 = DemoApp::Start(DemoBinary(), "v1");
  ASSERT_TRUE(v1.has_value()) << v1.error().ToString();
  auto v2 = DemoApp::Start(DemoBinary(), "v2");
  ASSERT_TRUE(v2.has_value()) << v2.error().ToString();
  auto front = FreePort();
  ASSERT_TRUE(front.has_value());
  NginxOptions o;
  o.http_body =
      "  include @DIR@/ramp.conf;\n  server { listen 127.0.0.1:" + std::to_string(*front) +
      "; location / { proxy_pass http://$ramp_shop; } }\n";
  o.files["ramp.conf"] = "upstream shop-stable { server " + (*v1)->Address() +
                         "; }\nupstream shop-canary { server 127.0.0.1:1 down; }\n"
                         "split_clients \"${request_id}\" $ramp_shop {\n    * shop-stable;\n}\n";
  o.probe_port = *front;
  auto nginx = NginxProcess::Start(o);
  ASSERT_TRUE(nginx.has_value()) << nginx.error().ToString();

  RouterContext c;
  c.rollout = {"default", "shop"};
  c.stable_service = "shop-stable";
  c.canary_service = "shop-canary";
  c.config_json = NginxRouterConfigJson(**nginx);
  auto made = nginx::NewNginxRouter(c);
  ASSERT_TRUE(made.has_value()) << made.error().ToString();
  TrafficRouter& r = **made;
  ASSERT_TRUE(Await([&](auto d) { r.SetRevisionEndpoints("v1", {(*v1)->Address()}, d); }).ok());
  ASSERT_TRUE(Await([&](auto d) { r.SetRevisionEndpoints("v2", {(*v2)->Address()}, d); }).ok());
  ASSERT_TRUE(Await([&](auto d) { r.SwitchService(ServiceRole::kStable, "v1", d); }).ok());
  ASSERT_TRUE(Await([&](auto d) { r.SwitchService(ServiceRole::kCanary, "v2", d); }).ok());
  ASSERT_TRUE(Await([&](auto d) { r.SetWeight(0, {}, d); }).ok());
  ASSERT_GT((*nginx)->WaitSettled(), 0) << (*nginx)->ErrorLog();

  const std::string url = "http://127.0.0.1:" + std::to_string(*front) + "/";
  auto wrk = WrkProcess::Start({"-t2", "-c16", "-d30s", "--timeout", "10s", url});
  ASSERT_TRUE(wrk.has_value()) << wrk.error().ToString();
  WeightChanges changes = CycleWeightsWhileRunning(
      **wrk, [&](int weight) { return Await([&](auto d) { r.SetWeight(weight, {}, d); }); });
  auto result = (*wrk)->Wait(std::chrono::seconds(30));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  std::printf("nginx, weight changed %d times under wrk (each a reload): %s\n", changes.changes,
              result->Describe().c_str());
  std::printf("%s\n", (*wrk)->Output().c_str());
  RecordProperty("wrk_failures", static_cast<int>(result->Failures()));
  EXPECT_EQ(changes.failed, 0) << changes.first_error;
  EXPECT_GE(changes.changes, 5) << "the weight went round its cycle at least once";
  EXPECT_GT(result->requests, 0);
  auto n1 = (*v1)->RequestCount();
  auto n2 = (*v2)->RequestCount();
  ASSERT_TRUE(n1.has_value() && n2.has_value());
  EXPECT_GT(*n1, 0);
  EXPECT_GT(*n2, 0);
}

}  // namespace
}  // namespace ramp::dataplane_testing
