// Split accuracy of the built-in proxy: `ramp proxy` (the built binary, configured over its admin
// socket) in front of two ramp-demo-app processes, v1 as stable and v2 as canary, on loopback.
// At canary weights 0, 5, 50 and 100, 4000 requests over 8 keep-alive connections each; the
// canary count must lie in the exact 99.9 % binomial interval (data_plane_testing.h), with 0 and
// 100 exact. Also a header route and a blue-green switch, each observed on the answers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <future>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/data_plane_testing.h"
#include "tests/integration/split_checks.h"

namespace ramp::dataplane_testing {
namespace {

using nlohmann::json;

constexpr int kRequests = 4000;

std::string RampBinary() { return std::string(RAMP_BINARY_DIR) + "/src/cli/ramp"; }
std::string DemoBinary() { return std::string(RAMP_BINARY_DIR) + "/src/demo_app/ramp-demo-app"; }

TEST(SplitStatistics, BinomialIntervalIsExactAndAgreesWithTheNormalApproximation) {
  // 0 and 1 are exact.
  EXPECT_EQ(BinomialInterval(4000, 0.0).lo, 0);
  EXPECT_EQ(BinomialInterval(4000, 0.0).hi, 0);
  EXPECT_EQ(BinomialInterval(4000, 1.0).lo, 4000);
  EXPECT_EQ(BinomialInterval(4000, 1.0).hi, 4000);
  // Away from the edges the exact interval is within a count or two of mean ± z·sd, where
  // z = 3.2905 is the two-sided 99.9 % normal quantile.
  for (double p : {0.05, 0.3, 0.5, 0.9}) {
    CountInterval in = BinomialInterval(4000, p);
    const double mean = 4000 * p, sd = std::sqrt(4000 * p * (1 - p));
    EXPECT_NEAR(static_cast<double>(in.lo), mean - 3.2905 * sd, 3.0) << "p=" << p;
    EXPECT_NEAR(static_cast<double>(in.hi), mean + 3.2905 * sd, 3.0) << "p=" << p;
  }
  // Small n against hand-computed tails: Binomial(10, 0.5) puts 1/1024 on 0 and on 10, more than
  // the 0.0005 tail each, so the 99.9 % interval is the whole range; at 95 % it is [2, 8]
  // (P(X <= 1) = 11/1024 < 0.025 < P(X <= 2) = 56/1024).
  EXPECT_EQ(BinomialInterval(10, 0.5).lo, 0);
  EXPECT_EQ(BinomialInterval(10, 0.5).hi, 10);
  EXPECT_EQ(BinomialInterval(10, 0.5, 0.95).lo, 2);
  EXPECT_EQ(BinomialInterval(10, 0.5, 0.95).hi, 8);
}

class ProxySplitTest : public ::testing::Test {
 protected:
  void SetUp() override {
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

  json Table(const DemoApp& stable, const DemoApp& canary, int weight) const {
    return {{"listen", "127.0.0.1:" + std::to_string(port_)},
            {"stable", {stable.Address()}},
            {"canary", {canary.Address()}},
            {"canaryWeight", weight}};
  }

  // PUTs the table and reads it back: the version the PUT answered is in effect.
  void Apply(const json& table) {
    auto version = proxy_->Put("web", table);
    ASSERT_TRUE(version.has_value()) << version.error().ToString();
    auto got = proxy_->Table("web");
    ASSERT_TRUE(got.has_value()) << got.error().ToString();
    EXPECT_EQ((*got)["version"], *version);
    EXPECT_EQ((*got)["canaryWeight"], table["canaryWeight"]);
    EXPECT_EQ((*got)["stable"], table["stable"]);
  }

  SplitCounts Send(int n, std::vector<std::string> headers = {}) const {
    return SendRequests({.port = port_, .total = n, .connections = 8, .headers = headers});
  }

  std::unique_ptr<DemoApp> v1_, v2_;
  std::unique_ptr<RampProxy> proxy_;
  int port_ = 0;
};

TEST_F(ProxySplitTest, CanaryShareLiesInThe999PercentIntervalAtWeights0To100) {
  for (int weight : {0, 5, 50, 100}) {
    SCOPED_TRACE("canary weight " + std::to_string(weight));
    Apply(Table(*v1_, *v2_, weight));
    ExpectSplitWithinInterval("built-in proxy", weight, kRequests, Send(kRequests));
  }
}

TEST_F(ProxySplitTest, HeaderRouteSendsMatchingRequestsToTheCanaryAtWeightZero) {
  json t = Table(*v1_, *v2_, 0);
  t["headerRoutes"] = json::array(
      {{{"name", "beta-testers"}, {"match", {{{"header", "X-Canary"}, {"exact", "yes"}}}}}});
  Apply(t);
  SplitCounts with = Send(1000, {"X-Canary: yes"});
  EXPECT_EQ(with.failures, 0) << with.Describe();
  EXPECT_EQ(with.Of("v2"), 1000) << with.Describe();
  SplitCounts without = Send(1000);
  EXPECT_EQ(without.Of("v1"), 1000) << without.Describe();
  SplitCounts other_value = Send(1000, {"X-Canary: no"});
  EXPECT_EQ(other_value.Of("v1"), 1000) << other_value.Describe();
}

TEST_F(ProxySplitTest, BlueGreenSwitchSendsEverythingToTheNewActiveRevision) {
  // Blue-green on the proxy: the active revision is the stable set, the preview the canary set
  // (weight 0, so only header routes could reach it).
  Apply(Table(*v1_, *v2_, 0));
  SplitCounts before = Send(1000);
  EXPECT_EQ(before.Of("v1"), 1000) << before.Describe();

  // Switch while requests are flowing: none may fail.
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
  Apply(Table(*v2_, *v1_, 0));
  SplitCounts flowing = during.get();
  EXPECT_EQ(flowing.failures, 0) << flowing.Describe();
  std::printf("built-in proxy, during the switch: %s\n", flowing.Describe().c_str());

  SplitCounts after = Send(1000);
  EXPECT_EQ(after.failures, 0) << after.Describe();
  EXPECT_EQ(after.Of("v2"), 1000) << after.Describe();
}

}  // namespace
}  // namespace ramp::dataplane_testing
