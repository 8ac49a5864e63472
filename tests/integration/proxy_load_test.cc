// The built-in proxy under load: `wrk -t2 -c16 -d30s` against `ramp proxy` in front of two
// ramp-demo-app revisions while the test changes the canary weight every 100 ms over the admin
// API, and under load while an instance is removed from the table and then stopped. wrk's error
// lines are printed and must all be zero. Skipped when wrk is not on PATH (scripts/setup
// installs it).
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/data_plane_testing.h"

namespace ramp::dataplane_testing {
namespace {

using nlohmann::json;

std::string RampBinary() { return std::string(RAMP_BINARY_DIR) + "/src/cli/ramp"; }
std::string DemoBinary() { return std::string(RAMP_BINARY_DIR) + "/src/demo_app/ramp-demo-app"; }

class ProxyLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FindWrk()) GTEST_SKIP() << "wrk is not on PATH (scripts/setup installs the wrk package)";
    auto v1 = DemoApp::Start(DemoBinary(), "v1");
    ASSERT_TRUE(v1.has_value()) << v1.error().ToString();
    v1_ = std::move(*v1);
    auto v2 = DemoApp::Start(DemoBinary(), "v2");
    ASSERT_TRUE(v2.has_value()) << v2.error().ToString();
    v2_ = std::move(*v2);
    auto proxy = RampProxy::Start({.binary = RampBinary(), .threads = 2});
    ASSERT_TRUE(proxy.has_value()) << proxy.error().ToString();
    proxy_ = std::move(*proxy);
    auto port = FreePort();
    ASSERT_TRUE(port.has_value());
    port_ = *port;
  }

  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

  std::unique_ptr<DemoApp> v1_, v2_;
  std::unique_ptr<RampProxy> proxy_;
  int port_ = 0;
};

TEST_F(ProxyLoadTest, NoRequestFailsWhileTheWeightChangesEvery100ms) {
  auto table = [&](int weight) {
    return json{{"listen", "127.0.0.1:" + std::to_string(port_)},
                {"stable", {v1_->Address()}},
                {"canary", {v2_->Address()}},
                {"canaryWeight", weight}};
  };
  ASSERT_TRUE(proxy_->Put("web", table(0)).has_value());
  auto wrk = WrkProcess::Start({"-t2", "-c16", "-d30s", "--timeout", "10s", Url()});
  ASSERT_TRUE(wrk.has_value()) << wrk.error().ToString();

  WeightChanges changes = CycleWeightsWhileRunning(**wrk, [&](int weight) {
    auto v = proxy_->Put("web", table(weight));
    return v.has_value() ? OkStatus() : v.error();
  });
  auto result = (*wrk)->Wait(std::chrono::seconds(30));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  std::printf("built-in proxy, weight changed %d times under wrk: %s\n", changes.changes,
              result->Describe().c_str());
  std::printf("%s\n", (*wrk)->Output().c_str());
  EXPECT_EQ(changes.failed, 0) << changes.first_error;
  EXPECT_GE(changes.changes, 5) << "the weight went round its cycle at least once";
  EXPECT_GT(result->requests, 0);
  EXPECT_EQ(result->Failures(), 0) << (*wrk)->Output();
  // Both revisions answered.
  auto n1 = v1_->RequestCount();
  auto n2 = v2_->RequestCount();
  ASSERT_TRUE(n1.has_value() && n2.has_value());
  EXPECT_GT(*n1, 0);
  EXPECT_GT(*n2, 0);
}

TEST_F(ProxyLoadTest, NoRequestFailsWhenAnInstanceIsRemovedThenStopped) {
  // Two stable instances (v1_ and a second v1); the second leaves the table under load, drains,
  // then stops.
  auto second = DemoApp::Start(DemoBinary(), "v1");
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  std::unique_ptr<DemoApp> leaving = std::move(*second);
  auto table = [&](std::vector<std::string> stable) {
    return json{{"listen", "127.0.0.1:" + std::to_string(port_)}, {"stable", stable}};
  };
  ASSERT_TRUE(proxy_->Put("web", table({v1_->Address(), leaving->Address()})).has_value());
  auto wrk = WrkProcess::Start({"-t2", "-c16", "-d15s", "--timeout", "10s", Url()});
  ASSERT_TRUE(wrk.has_value()) << wrk.error().ToString();

  // Load reaches both instances.
  ASSERT_TRUE(PollUntil(
      [&] {
        auto a = v1_->RequestCount();
        auto b = leaving->RequestCount();
        return a.has_value() && b.has_value() && *a > 100 && *b > 100;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(50)))
      << (*wrk)->Output();

  // Remove it; the read-back shows the table in effect.
  auto version = proxy_->Put("web", table({v1_->Address()}));
  ASSERT_TRUE(version.has_value()) << version.error().ToString();
  auto got = proxy_->Table("web");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ((*got)["stable"], json::array({v1_->Address()}));

  // Drained: its own counter stops moving (between two reads only the first read itself is
  // counted), then it is stopped.
  int64_t last = -1;
  bool drained = PollUntil(
      [&] {
        auto n = leaving->RequestCount();
        if (!n.has_value()) return false;
        const bool quiet = last >= 0 && *n - last <= 1;
        last = *n;
        return quiet;
      },
      std::chrono::seconds(5), std::chrono::milliseconds(100));
  EXPECT_TRUE(drained) << "the removed instance kept receiving requests";
  const int stopped = leaving->Stop();
  EXPECT_TRUE(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0) << DescribeWaitStatus(stopped);

  // The remaining instance keeps serving until wrk ends.
  auto before = v1_->RequestCount();
  ASSERT_TRUE(before.has_value());
  EXPECT_TRUE(PollUntil(
      [&] {
        auto n = v1_->RequestCount();
        return n.has_value() && *n > *before + 100;
      },
      std::chrono::seconds(5), std::chrono::milliseconds(50)));

  auto result = (*wrk)->Wait(std::chrono::seconds(30));
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  std::printf("built-in proxy, instance removed and stopped under wrk: %s\n",
              result->Describe().c_str());
  std::printf("%s\n", (*wrk)->Output().c_str());
  EXPECT_GT(result->requests, 0);
  EXPECT_EQ(result->Failures(), 0) << (*wrk)->Output();
}

}  // namespace
}  // namespace ramp::dataplane_testing
