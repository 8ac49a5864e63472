#include "metrics/judge/judge_provider.h"

#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "metrics/common/fake_http_client_testing.h"
#include "metrics/common/signals_testing.h"

namespace ramp::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using json = nlohmann::json;

using Arm = testing::ProxyArm;

std::string Signals(const Arm& canary, const Arm& stable = {}) {
  return testing::ProxySignals(canary, stable);
}

std::string PromAnswer(const std::string& result) { return testing::PrometheusVector(result); }

std::string PromNumber(double v) { return testing::PrometheusNumber(v); }

class JudgeProviderTest : public ::testing::Test {
 protected:
  JudgeProviderTest() {
    options_.admin_url = "http://127.0.0.1:9901";
    ctx_.rollout = {.namespace_ = "default", .name = "shop"};
    ctx_.run = {.namespace_ = "default", .name = "shop-run"};
    ctx_.now = Time(std::chrono::seconds(1'700'000'000));
  }

  MetricRef Metric(spec::JudgeKind kind, const std::string& config) {
    return {.name = "judge",
            .provider_type = std::string(spec::JudgeProviderName(kind)),
            .provider_config_json = config};
  }

  MeasurementUpdate Run(MetricProvider& p, const MetricRef& metric) {
    std::optional<MeasurementUpdate> out;
    p.Run(ctx_, metric, [&](MeasurementUpdate u) { out = std::move(u); });
    EXPECT_TRUE(out.has_value());
    return *out;
  }

  MeasurementUpdate Resume(MetricProvider& p, const MetricRef& metric, const Measurement& m) {
    std::optional<MeasurementUpdate> out;
    p.Resume(ctx_, metric, m, [&](MeasurementUpdate u) { out = std::move(u); });
    EXPECT_TRUE(out.has_value());
    return *out;
  }

  // Runs, then resumes once per reading (one second apart) until the measurement ends; the
  // readings are cumulative totals.
  MeasurementUpdate Watch(MetricProvider& p, const MetricRef& metric,
                          const std::vector<std::pair<Arm, Arm>>& readings) {
    http_.Reply(200, Signals({}, {}));
    MeasurementUpdate u = Run(p, metric);
    for (const auto& [canary, stable] : readings) {
      if (u.kind != MeasurementUpdate::Kind::kRunning) break;
      ctx_.now += std::chrono::seconds(1);
      http_.Reply(200, Signals(canary, stable));
      u = Resume(p, metric, u.measurement);
    }
    return u;
  }

  FakeHttpClient http_;
  BuiltinProviderOptions options_;
  RunContext ctx_;
};

TEST_F(JudgeProviderTest, FailsAsSoonAsTheCanaryIsClearlyWorse) {
  auto p = NewJudgeProvider(spec::JudgeKind::kErrors, &http_, options_);
  const MetricRef metric = Metric(spec::JudgeKind::kErrors, "{}");
  http_.Reply(200, Signals({.requests = 1000, .errors = 3}, {.requests = 20000, .errors = 20}));
  MeasurementUpdate u = Run(*p, metric);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kRunning) << u.measurement.message;
  EXPECT_EQ(*u.measurement.resume_at, ctx_.now + std::chrono::seconds(1));
  EXPECT_EQ(http_.requests.back().url,
            "http://127.0.0.1:9901/v1/services/default.shop/signals?window=1s");
  ASSERT_TRUE(u.measurement.metadata.count(std::string(kJudgeStateKey)));

  // Counted from the first reading: 5 canary requests a second at 50 % errors.
  int64_t s = 0;
  while (u.kind == MeasurementUpdate::Kind::kRunning && s < 30) {
    ++s;
    ctx_.now += std::chrono::seconds(1);
    http_.Reply(200, Signals({.requests = 1000 + 5 * s, .errors = 3 + 3 * s},
                             {.requests = 20000 + 95 * s, .errors = 20}));
    u = Resume(*p, metric, u.measurement);
  }
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged);
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kFailed);
  EXPECT_LE(s, 2);
  EXPECT_THAT(u.measurement.message, StartsWith("canary worse: canary "));
  EXPECT_THAT(u.measurement.message, HasSubstr("Bayes factor"));
  json value = json::parse(u.measurement.value);
  EXPECT_EQ(value["canaryBad"], 3 * s);
  EXPECT_EQ(value["canaryRequests"], 5 * s);
}

TEST_F(JudgeProviderTest, PassesAHealthyCanaryWithEnoughTraffic) {
  auto p = NewJudgeProvider(spec::JudgeKind::kErrors, &http_, options_);
  const MetricRef metric =
      Metric(spec::JudgeKind::kErrors, R"({"tolerance": 0.02, "minSamples": 200})");
  std::vector<std::pair<Arm, Arm>> readings;
  for (int64_t s = 1; s <= 120; ++s) {
    readings.push_back(
        {{.requests = 50 * s, .errors = s / 40}, {.requests = 950 * s, .errors = s}});
  }
  MeasurementUpdate u = Watch(*p, metric, readings);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kSuccessful) << u.measurement.message;
  EXPECT_THAT(u.measurement.message, StartsWith("canary no worse than stable"));
}

TEST_F(JudgeProviderTest, ATrickleOfTrafficEndsInconclusiveAtMaxDuration) {
  auto p = NewJudgeProvider(spec::JudgeKind::kErrors, &http_, options_);
  const MetricRef metric = Metric(spec::JudgeKind::kErrors, R"({"maxDuration": "10s"})");
  std::vector<std::pair<Arm, Arm>> readings;
  for (int64_t s = 1; s <= 20; ++s) readings.push_back({{.requests = s}, {.requests = 19 * s}});
  MeasurementUpdate u = Watch(*p, metric, readings);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged);
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kInconclusive);
  EXPECT_THAT(u.measurement.message, StartsWith("not enough traffic to detect ×3 in 10s: 10 canary "
                                                "requests, fewer than minSamples 100"));
}

TEST_F(JudgeProviderTest, FailedReadsAreToleratedUpToTheLimit) {
  auto p = NewJudgeProvider(spec::JudgeKind::kErrors, &http_, options_);
  const MetricRef metric = Metric(spec::JudgeKind::kErrors, R"({"readErrorLimit": 2})");
  http_.Reply(200, Signals({}, {}));
  MeasurementUpdate u = Run(*p, metric);
  ctx_.now += std::chrono::seconds(1);
  http_.ReplyError(UnavailableError("connection refused"));
  u = Resume(*p, metric, u.measurement);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kRunning);
  EXPECT_THAT(
      u.measurement.message,
      HasSubstr("the last read failed: unreachable: connection refused; 1 of 2 allowed in a row"));
  ctx_.now += std::chrono::seconds(1);
  http_.Reply(200, "<html>bad gateway</html>");
  u = Resume(*p, metric, u.measurement);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, StartsWith("ramp/judge-errors: 2 reads failed in a row"));
}

TEST_F(JudgeProviderTest, AProxyRestartDoesNotLoseWhatWasCounted) {
  auto p = NewJudgeProvider(spec::JudgeKind::kErrors, &http_, options_);
  const MetricRef metric = Metric(spec::JudgeKind::kErrors, "{}");
  MeasurementUpdate u = Watch(*p, metric, {{{.requests = 40, .errors = 1}, {.requests = 760}}});
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kRunning);
  ctx_.now += std::chrono::seconds(1);
  http_.Reply(200, Signals({.requests = 5}, {.requests = 95}));  // counters restarted
  u = Resume(*p, metric, u.measurement);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kRunning);
  EXPECT_THAT(u.measurement.message, HasSubstr("the counters were reset"));
  ctx_.now += std::chrono::seconds(1);
  http_.Reply(200, Signals({.requests = 10}, {.requests = 190}));
  u = Resume(*p, metric, u.measurement);
  json value = json::parse(u.measurement.value);
  EXPECT_EQ(value["canaryRequests"], 45);  // 40 before the restart, 5 since its first reading
  EXPECT_EQ(value["canaryBad"], 1);
}

TEST_F(JudgeProviderTest, AMangledStateIsAnErrorNotACrash) {
  auto p = NewJudgeProvider(spec::JudgeKind::kErrors, &http_, options_);
  const MetricRef metric = Metric(spec::JudgeKind::kErrors, "{}");
  Measurement m;
  m.phase = AnalysisPhase::kRunning;
  m.started_at = ctx_.now;
  m.metadata[std::string(kJudgeStateKey)] = R"({"base": 3})";
  MeasurementUpdate u = Resume(*p, metric, m);
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("is not a judge state"));
}

TEST_F(JudgeProviderTest, ReadsFourPrometheusQueries) {
  auto p = NewJudgeProvider(spec::JudgeKind::kErrors, &http_, options_);
  const MetricRef metric = Metric(spec::JudgeKind::kErrors, R"j({"prometheus": {
      "address": "http://127.0.0.1:9090/",
      "canary": {"requests": "sum(http_requests_total{version=\"v2\"})",
                 "errors": "sum(http_requests_total{version=\"v2\",code=~\"5..\"})"},
      "stable": {"requests": "sum(http_requests_total{version=\"v1\"})",
                 "errors": "sum(http_requests_total{version=\"v1\",code=~\"5..\"})"}}})j");
  http_.Reply(200, PromNumber(100));
  http_.Reply(200, PromAnswer("[]"));  // no 5xx series yet: 0
  http_.Reply(200, PromNumber(2000));
  http_.Reply(200, PromNumber(2));
  MeasurementUpdate u = Run(*p, metric);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kRunning) << u.measurement.message;
  EXPECT_EQ(*u.measurement.resume_at, ctx_.now + std::chrono::seconds(15));
  ASSERT_EQ(http_.requests.size(), 4u);
  EXPECT_EQ(http_.requests[0].url,
            "http://127.0.0.1:9090/api/v1/query?query=sum%28http_requests_total%7Bversion%3D%22v2%"
            "22%7D%29&time=1700000000.000");

  ctx_.now += std::chrono::seconds(15);
  http_.Reply(200, PromNumber(175));
  http_.Reply(200, PromNumber(6));
  http_.Reply(200, PromNumber(3425));
  http_.Reply(200, PromNumber(2));
  u = Resume(*p, metric, u.measurement);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kFailed);
  EXPECT_THAT(u.measurement.message, HasSubstr("canary 6 errors in 75 requests (8.00 %)"));

  // Several series are a mistake in the query, said as such.
  http_.Reply(
      200,
      PromAnswer(R"([{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]}])"));
  http_.Reply(200, PromNumber(1));
  http_.Reply(200, PromNumber(1));
  http_.Reply(200, PromNumber(1));
  u = Run(*p, metric);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message,
              HasSubstr("prometheus.canary.requests (sum(http_requests_total{version=\"v2\"})): "
                        "must return one number (wrap it in sum(…))"));
}

TEST_F(JudgeProviderTest, TheLatencyJudgeCountsRequestsOverTheBound) {
  auto p = NewJudgeProvider(spec::JudgeKind::kLatency, &http_, options_);
  const MetricRef metric = Metric(spec::JudgeKind::kLatency, R"({"latencyBound": "500ms"})");
  std::vector<std::pair<Arm, Arm>> readings;
  for (int64_t s = 1; s <= 30; ++s) {
    readings.push_back({{.requests = 5 * s, .slow_500ms = s}, {.requests = 95 * s}});
  }
  MeasurementUpdate u = Watch(*p, metric, readings);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kFailed);
  EXPECT_THAT(u.measurement.message, HasSubstr("requests slower than 500ms in"));

  auto q = NewJudgeProvider(spec::JudgeKind::kLatency, &http_, options_);
  http_.Reply(200, Signals({}, {}));
  u = Run(*q, Metric(spec::JudgeKind::kLatency, R"({"latencyBound": "300ms"})"));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message,
              HasSubstr("latencyBound 300ms is not one of the proxy's latency bucket bounds (5ms, "
                        "10ms, 25ms, 50ms, 100ms, 250ms, 500ms, 1000ms"));
}

TEST_F(JudgeProviderTest, KayentaFailsACanaryShiftedBelowTheBound) {
  // Every canary request lands between 250ms and 500ms, every stable one under 5ms: no request
  // is over the bound, yet the distribution moved — Kayenta's rule calls it High.
  auto p = NewJudgeProvider(spec::JudgeKind::kLatency, &http_, options_);
  const MetricRef metric =
      Metric(spec::JudgeKind::kLatency,
             R"({"latencyBound": "500ms", "tolerance": 0.05, "minSamples": 100})");
  std::vector<std::pair<Arm, Arm>> readings;
  for (int64_t s = 1; s <= 200; ++s) {
    readings.push_back({{.requests = 10 * s, .slow_250ms = 10 * s}, {.requests = 90 * s}});
  }
  MeasurementUpdate u = Watch(*p, metric, readings);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kFailed) << u.measurement.message;
  EXPECT_THAT(u.measurement.message, StartsWith("canary slower by Kayenta's rule: High"));
}

TEST_F(JudgeProviderTest, TerminateEndsInconclusive) {
  auto p = NewJudgeProvider(spec::JudgeKind::kErrors, &http_, options_);
  const MetricRef metric = Metric(spec::JudgeKind::kErrors, "{}");
  http_.Reply(200, Signals({}, {}));
  MeasurementUpdate u = Run(*p, metric);
  std::optional<MeasurementUpdate> out;
  p->Terminate(ctx_, metric, u.measurement, [&](MeasurementUpdate t) { out = std::move(t); });
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->kind, MeasurementUpdate::Kind::kJudged);
  EXPECT_EQ(out->measurement.phase, AnalysisPhase::kInconclusive);
}

TEST_F(JudgeProviderTest, BadConfigurationIsAnErrorNamingTheField) {
  auto p = NewJudgeProvider(spec::JudgeKind::kLatency, &http_, options_);
  MeasurementUpdate u = Run(*p, Metric(spec::JudgeKind::kLatency, R"({"alpha": 0.01})"));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, StartsWith("ramp/judge-latency: latencyBound: required"));
  u = Run(*p, Metric(spec::JudgeKind::kLatency, R"({"latencyBound": "1s", "alpah": 0.01})"));
  EXPECT_THAT(u.measurement.message, StartsWith("ramp/judge-latency: alpah: unknown field"));
  auto e = NewJudgeProvider(spec::JudgeKind::kErrors, &http_, options_);
  u = Run(*e, Metric(spec::JudgeKind::kErrors, R"({"alpha": "lots"})"));
  EXPECT_THAT(u.measurement.message, StartsWith("ramp/judge-errors: alpha: must be a number"));
  u = Run(*e, Metric(spec::JudgeKind::kErrors, R"({"prometheus": {"address": "prom:9090"}})"));
  EXPECT_THAT(u.measurement.message, HasSubstr("prometheus.address: must be a URL"));
  EXPECT_TRUE(http_.requests.empty());
}

TEST(KayentaHistogramTest, ClassifiesShiftedHistograms) {
  std::vector<std::pair<double, double>> fast = {{0.1, 900}, {0.25, 1000}, {INFINITY, 1000}};
  std::vector<std::pair<double, double>> slow = {{0.1, 10}, {0.25, 900}, {INFINITY, 1000}};
  EXPECT_EQ(ClassifyLatencyHistograms(slow, fast).classification, "High");
  EXPECT_EQ(ClassifyLatencyHistograms(fast, slow).classification, "Pass");  // increase only
  EXPECT_EQ(ClassifyLatencyHistograms(fast, fast).classification, "Pass");
  EXPECT_EQ(ClassifyLatencyHistograms({}, fast).classification, "Nodata");
}

}  // namespace
}  // namespace ramp::metrics
