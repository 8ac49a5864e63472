// A canary whose analysis reads a real Prometheus server (issue 4): the server (Debian's
// prometheus, started on loopback) scrapes a target whose success ratio the test sets; the
// rollout engine asks for measurements, the real prometheus provider queries the server over
// ramp's real HTTP client, and the analysis decides. One canary passes, one is aborted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "engine/world_testing.h"
#include "metrics/prometheus/prometheus_provider.h"
#include "ramp/http_client.h"
#include "tests/integration/prometheus_server.h"

namespace ramp {
namespace {

using engine::testing_util::World;
using ::testing::HasSubstr;

constexpr char kRollout[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: shop, namespace: default}
spec:
  replicas: 4
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers: [{name: app, image: shop:v1}]
  strategy:
    canary:
      trafficRouting:
        plugins: {ramp/proxy: {listen: ":8080"}}
      steps:
      - setWeight: 25
      - analysis:
          templates: [{templateName: success-rate}]
      - setWeight: 50
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  metrics:
  - name: success-rate
    interval: 10s
    count: 3
    successCondition: result[0] >= 0.95
    provider:
      prometheus:
        address: PROMETHEUS_URL
        query: max(shop_success_ratio{job="app"})
)";

class PrometheusCanary : public ::testing::Test {
 protected:
  void StartWith(double ratio) {
    auto target = testing::ScrapeTarget::Start();
    ASSERT_TRUE(target.has_value()) << target.error().message();
    target_ = std::move(*target);
    target_->SetText(
        fmt::format("# TYPE shop_success_ratio gauge\nshop_success_ratio {}\n", ratio));
    auto prom = testing::PrometheusServer::Start(target_->Address(), std::chrono::milliseconds(200),
                                                 std::chrono::seconds(30));
    ASSERT_TRUE(prom.has_value()) << prom.error().message();
    prom_ = std::move(*prom);
    Status scraped = prom_->WaitUntilQueryContains("shop_success_ratio", "shop_success_ratio",
                                                   std::chrono::seconds(30));
    ASSERT_TRUE(scraped.ok()) << scraped.message();
    http_ = NewHttpClient();
    provider_ = metrics::NewPrometheusProvider(http_.get());
  }

  // The canary, updated at the real time so that Prometheus has data at the measurement times.
  std::unique_ptr<World> Run() {
    const Time now =
        std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    std::string yaml = kRollout;
    yaml.replace(yaml.find("PROMETHEUS_URL"), 14, prom_->Url());
    auto w = std::make_unique<World>(yaml, Time(now));
    w->provider = provider_.get();
    w->Deploy();
    w->SetImage("shop:v2");
    w->RunFor(std::chrono::minutes(2));
    return w;
  }

  std::unique_ptr<testing::ScrapeTarget> target_;
  std::unique_ptr<testing::PrometheusServer> prom_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<MetricProvider> provider_;
};

TEST_F(PrometheusCanary, HealthyCanaryIsPromoted) {
  ASSERT_NO_FATAL_FAILURE(StartWith(0.99));
  auto w = Run();
  const auto& s = w->state_.status;
  EXPECT_EQ(s.phase, "Healthy") << s.message;
  EXPECT_EQ(s.stable_rs, s.current_pod_hash);
  ASSERT_EQ(w->state_.analysis_runs.size(), 1u);
  const auto& run = w->state_.analysis_runs[0];
  EXPECT_EQ(run.status.phase, spec::AnalysisPhase::kSuccessful);
  ASSERT_EQ(run.status.metric_results.size(), 1u);
  const auto& m = run.status.metric_results[0];
  EXPECT_EQ(m.count, 3);
  EXPECT_EQ(m.successful, 3);
  EXPECT_EQ(m.measurements.back().value, "[0.99]");
}

TEST_F(PrometheusCanary, FailingCanaryIsAborted) {
  ASSERT_NO_FATAL_FAILURE(StartWith(0.80));
  auto w = Run();
  const auto& s = w->state_.status;
  EXPECT_EQ(s.phase, "Degraded") << s.message;
  EXPECT_TRUE(s.abort);
  EXPECT_THAT(s.message, HasSubstr("Step-based analysis phase error/failed"));
  ASSERT_EQ(w->state_.analysis_runs.size(), 1u);
  EXPECT_EQ(w->state_.analysis_runs[0].status.phase, spec::AnalysisPhase::kFailed);
  EXPECT_EQ(w->state_.analysis_runs[0].status.metric_results[0].measurements.back().value, "[0.8]");
}

}  // namespace
}  // namespace ramp
