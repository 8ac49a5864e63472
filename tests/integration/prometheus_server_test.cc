// The Prometheus harness itself: a real server scrapes a target whose values the test controls.
#include "tests/integration/prometheus_server.h"

#include <gtest/gtest.h>

namespace ramp::testing {
namespace {

TEST(PrometheusServer, ScrapesTheValuesTheTestSets) {
  auto target = ScrapeTarget::Start();
  ASSERT_TRUE(target.has_value()) << target.error().message();
  (*target)->SetText("# TYPE ramp_test_value gauge\nramp_test_value 0.25\n");
  auto prom = PrometheusServer::Start((*target)->Address(), std::chrono::milliseconds(200),
                                      std::chrono::seconds(30));
  ASSERT_TRUE(prom.has_value()) << prom.error().message();
  Status seen =
      (*prom)->WaitUntilQueryContains("ramp_test_value", "\"0.25\"", std::chrono::seconds(30));
  ASSERT_TRUE(seen.ok()) << seen.message();
  (*target)->SetText("# TYPE ramp_test_value gauge\nramp_test_value 0.75\n");
  seen = (*prom)->WaitUntilQueryContains("ramp_test_value", "\"0.75\"", std::chrono::seconds(30));
  EXPECT_TRUE(seen.ok()) << seen.message();
  EXPECT_GE((*target)->scrapes(), 2);
}

}  // namespace
}  // namespace ramp::testing
