#include "metrics/slo/slo_provider.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
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

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using json = nlohmann::json;

// A Sloth file with an events SLI (99.9 %) and a raw-ratio SLI (99.5 %).
constexpr char kSlothFile[] = R"(version: "prometheus/v1"
service: "shop"
slos:
  - name: "availability"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="shop",code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="shop"}[{{.window}}]))
  - name: "latency"
    objective: 99.5
    sli:
      raw:
        error_ratio_query: sum(rate(slow_total{job="shop"}[{{.window}}])) / sum(rate(all_total{job="shop"}[{{.window}}]))
)";

using Arm = testing::ProxyArm;

std::string Signals(const Arm& canary, const Arm& stable = {}) {
  return testing::ProxySignals(canary, stable);
}

std::string PromAnswer(const std::string& result) { return testing::PrometheusVector(result); }

std::string PromNumber(double v) { return testing::PrometheusNumber(v); }

class SloProviderTest : public ::testing::Test {
 protected:
  SloProviderTest() {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("slo_provider_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    file_ = Write("slos.yaml", kSlothFile);
    options_.admin_url = "http://127.0.0.1:9901";
    ctx_.rollout = {.namespace_ = "default", .name = "shop"};
    ctx_.run = {.namespace_ = "default", .name = "shop-run"};
    ctx_.now = Time(std::chrono::seconds(1'700'000'000));
    provider_ = NewSloProvider(&http_, options_);
  }
  ~SloProviderTest() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // A metric on the file's "availability" SLO with the extra configuration `fields` (JSON
  // members, without braces).
  MetricRef Metric(const std::string& fields = "", const std::string& slo = "availability") {
    json config = fields.empty() ? json::object() : json::parse("{" + fields + "}");
    config["file"] = file_;
    if (!slo.empty()) config["slo"] = slo;
    return {.name = "slo", .provider_type = "ramp/slo", .provider_config_json = config.dump()};
  }

  MeasurementUpdate Run(const MetricRef& metric) {
    std::optional<MeasurementUpdate> out;
    provider_->Run(ctx_, metric, [&](MeasurementUpdate u) { out = std::move(u); });
    EXPECT_TRUE(out.has_value());
    return *out;
  }

  MeasurementUpdate Resume(const MetricRef& metric, const Measurement& m) {
    std::optional<MeasurementUpdate> out;
    provider_->Resume(ctx_, metric, m, [&](MeasurementUpdate u) { out = std::move(u); });
    EXPECT_TRUE(out.has_value());
    return *out;
  }

  // Runs with the canary's counters at `base`, then resumes once a second with `per_second` more
  // requests each second, of which errors are one in `error_every` (0: none), until the
  // measurement ends or `max_seconds` pass. `*seconds` is how many resumes it took.
  MeasurementUpdate Watch(const MetricRef& metric, Arm base, int64_t per_second,
                          int64_t error_every, int max_seconds, int* seconds = nullptr) {
    http_.Reply(200, Signals(base));
    MeasurementUpdate u = Run(metric);
    int s = 0;
    while (u.kind == MeasurementUpdate::Kind::kRunning && s < max_seconds) {
      ++s;
      ctx_.now += std::chrono::seconds(1);
      const int64_t n = per_second * s;
      http_.Reply(
          200, Signals({base.requests + n, base.errors + (error_every > 0 ? n / error_every : 0)}));
      u = Resume(metric, u.measurement);
    }
    if (seconds != nullptr) *seconds = s;
    return u;
  }

  std::filesystem::path dir_;
  std::string file_;
  FakeHttpClient http_;
  BuiltinProviderOptions options_;
  RunContext ctx_;
  std::unique_ptr<MetricProvider> provider_;
};

// ---------------------------------------------------------------------------------------------
// check: canary

TEST_F(SloProviderTest, AFivePercentCanaryFailsThePageRuleWithinAFewHundredRequests) {
  const MetricRef metric = Metric(R"("severities": ["page"])");
  int seconds = 0;
  // 5 canary requests a second, one in twenty an error, on top of what the canary served before.
  MeasurementUpdate u = Watch(metric, {.requests = 1000, .errors = 3}, 5, 20, 200, &seconds);
  EXPECT_EQ(http_.requests.front().url,
            "http://127.0.0.1:9901/v1/services/default.shop/signals?window=1s");
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kFailed);
  const json value = json::parse(u.measurement.value);
  EXPECT_LE(value["requests"].get<int64_t>(), 400);
  EXPECT_EQ(value["requests"].get<int64_t>(), 5 * seconds);  // counted from the start
  EXPECT_EQ(value["verdict"], "Fail");
  EXPECT_THAT(u.measurement.message,
              AllOf(StartsWith("canary error ratio 5.0"), HasSubstr("of a 99.9 % SLO (page, ")));
  EXPECT_EQ(u.measurement.finished_at, ctx_.now);
}

TEST_F(SloProviderTest, AFivePercentCanaryFailsSoonerWithTheTicketRules) {
  int seconds = 0;
  MeasurementUpdate u = Watch(Metric(), {}, 5, 20, 200, &seconds);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kFailed);
  EXPECT_LE(5 * seconds, 200);
}

TEST_F(SloProviderTest, AHealthyCanaryPasses) {
  MeasurementUpdate u = Watch(Metric(), {.requests = 20}, 100, 0, 100);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kSuccessful) << u.measurement.message;
  EXPECT_THAT(u.measurement.message,
              StartsWith("canary error ratio 0.00 % over 1900 requests is below every burn-rate "
                         "threshold of the 99.9 % SLO \"availability\""));
  EXPECT_EQ(json::parse(u.measurement.value)["verdict"], "Pass");
}

TEST_F(SloProviderTest, ATrickleOfTrafficEndsInconclusiveAtMaxDuration) {
  MeasurementUpdate u = Watch(Metric(R"("maxDuration": "10s")"), {}, 1, 0, 100);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kInconclusive);
  EXPECT_EQ(u.measurement.message,
            "not enough canary traffic to decide in 10s: 10 canary requests, 0 errors; burn 14.4× "
            "(page, 1h/5m) undecided, burn 6× (page, 6h/30m) undecided, burn 3× (ticket, 1d/2h) "
            "undecided, burn 1× (ticket, 3d/6h) undecided");
  EXPECT_EQ(json::parse(u.measurement.value)["verdict"], "Inconclusive");
}

TEST_F(SloProviderTest, PollIntervalSetsTheResumeTime) {
  http_.Reply(200, Signals({}));
  MeasurementUpdate u = Run(Metric(R"("pollInterval": "5s")"));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kRunning) << u.measurement.message;
  EXPECT_EQ(*u.measurement.resume_at, ctx_.now + std::chrono::seconds(5));
  EXPECT_EQ(u.measurement.message, "no canary requests yet for the 99.9 % SLO \"availability\"");
  EXPECT_EQ(u.measurement.value, R"({"requests":0,"errors":0,"verdict":"Continue"})");
}

TEST_F(SloProviderTest, TheSloReadAtRunIsKeptWhenTheFileChanges) {
  const MetricRef metric = Metric();
  http_.Reply(200, Signals({}));
  MeasurementUpdate u = Run(metric);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kRunning);
  std::filesystem::remove(file_);
  ctx_.now += std::chrono::seconds(1);
  http_.Reply(200, Signals({.requests = 100, .errors = 50}));
  u = Resume(metric, u.measurement);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kFailed);
  EXPECT_THAT(u.measurement.message, HasSubstr("of a 99.9 % SLO"));
}

TEST_F(SloProviderTest, FailedReadsAreToleratedUpToTheLimit) {
  const MetricRef metric = Metric(R"("readErrorLimit": 2)");
  http_.Reply(200, Signals({}));
  MeasurementUpdate u = Run(metric);
  ctx_.now += std::chrono::seconds(1);
  http_.ReplyError(UnavailableError("connection refused"));
  u = Resume(metric, u.measurement);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kRunning);
  EXPECT_THAT(
      u.measurement.message,
      HasSubstr("the last read failed: unreachable: connection refused; 1 of 2 allowed in a row"));
  // A good read resets the count.
  ctx_.now += std::chrono::seconds(1);
  http_.Reply(200, Signals({.requests = 5}));
  u = Resume(metric, u.measurement);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kRunning);
  EXPECT_THAT(u.measurement.message, Not(HasSubstr("failed")));
  for (int i = 0; i < 2; ++i) {
    ctx_.now += std::chrono::seconds(1);
    http_.Reply(200, "<html>bad gateway</html>");
    u = Resume(metric, u.measurement);
  }
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, StartsWith("ramp/slo: 2 reads failed in a row; the last: "));
}

TEST_F(SloProviderTest, AProxyRestartDoesNotLoseWhatWasCounted) {
  const MetricRef metric = Metric();
  http_.Reply(200, Signals({.requests = 1000}));
  MeasurementUpdate u = Run(metric);
  ctx_.now += std::chrono::seconds(1);
  http_.Reply(200, Signals({.requests = 1040, .errors = 1}));
  u = Resume(metric, u.measurement);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kRunning) << u.measurement.message;
  ctx_.now += std::chrono::seconds(1);
  http_.Reply(200, Signals({.requests = 5}));  // counters restarted
  u = Resume(metric, u.measurement);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kRunning);
  EXPECT_THAT(u.measurement.message, HasSubstr("the counters were reset"));
  EXPECT_EQ(u.measurement.value, R"({"requests":40,"errors":1,"verdict":"Continue"})");
  ctx_.now += std::chrono::seconds(1);
  http_.Reply(200, Signals({.requests = 10}));
  u = Resume(metric, u.measurement);
  EXPECT_EQ(u.measurement.value, R"({"requests":45,"errors":1,"verdict":"Continue"})");
}

TEST_F(SloProviderTest, PrometheusCanaryQueriesAreScopedAndReadSinceTheStart) {
  const MetricRef metric = Metric(
      R"("prometheus": {"address": "http://127.0.0.1:9090/"}, "revisionMatcher": "version=\"v2\"")");
  const Time start = ctx_.now;
  MeasurementUpdate u = Run(metric);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kRunning) << u.measurement.message;
  EXPECT_TRUE(http_.requests.empty());  // the window starts now: nothing to read yet
  EXPECT_EQ(*u.measurement.resume_at, start + std::chrono::seconds(15));

  ctx_.now = start + std::chrono::seconds(15);
  http_.Reply(200, PromAnswer("[]"));  // no 5xx series yet
  http_.Reply(200, PromNumber(1));     // 1 request a second
  u = Resume(metric, u.measurement);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kRunning) << u.measurement.message;
  ASSERT_EQ(http_.requests.size(), 2u);
  EXPECT_EQ(http_.requests[0].url,
            "http://127.0.0.1:9090/api/v1/query?query=sum%28rate%28http_requests_total%7Bjob%3D%22"
            "shop%22%2Ccode%3D~%225..%22%2Cversion%3D%22v2%22%7D%5B15s%5D%29%29"
            "&time=1700000015.000");
  EXPECT_EQ(http_.requests[1].url,
            "http://127.0.0.1:9090/api/v1/query?query=sum%28rate%28http_requests_total%7Bjob%3D%22"
            "shop%22%2Cversion%3D%22v2%22%7D%5B15s%5D%29%29&time=1700000015.000");
  EXPECT_EQ(u.measurement.value, R"({"requests":15,"errors":0,"verdict":"Continue"})");

  // Elapsed time is rounded up to whole seconds: 30.5s reads [31s].
  ctx_.now = start + std::chrono::milliseconds(30'500);
  http_.Reply(200, PromNumber(0.5));
  http_.Reply(200, PromNumber(10));
  u = Resume(metric, u.measurement);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_THAT(http_.requests[2].url, HasSubstr("%5B31s%5D"));
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(u.measurement.value, R"({"requests":310,"errors":16,"verdict":"Fail"})");
}

TEST_F(SloProviderTest, PrometheusCanaryReadsAnOpenSloGoodOverTotalSli) {
  file_ = std::string(RAMP_SOURCE_DIR) + "/src/slo/testdata/openslo_checkout.yaml";
  const MetricRef metric = Metric(
      R"("prometheus": {"address": "http://127.0.0.1:9090"}, "revisionMatcher": "version=\"v2\"")",
      "checkout-availability");
  MeasurementUpdate u = Run(metric);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kRunning) << u.measurement.message;
  ctx_.now += std::chrono::seconds(20);
  http_.Reply(200, PromNumber(9.5));  // good a second
  http_.Reply(200, PromNumber(10));   // total a second
  u = Resume(metric, u.measurement);
  ASSERT_EQ(http_.requests.size(), 2u);
  EXPECT_THAT(
      http_.requests[0].url,
      HasSubstr("checkout_requests_total%7Bcode%21~%225..%22%2Cversion%3D%22v2%22%7D%5B20s%5D"));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(u.measurement.value, R"({"requests":200,"errors":10,"verdict":"Fail"})");
}

TEST_F(SloProviderTest, PrometheusCanaryNeedsCountsNotARawRatio) {
  MeasurementUpdate u = Run(Metric(
      R"("prometheus": {"address": "http://prom:9090"}, "revisionMatcher": "version=\"v2\"")",
      "latency"));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message,
              AllOf(StartsWith("ramp/slo: check canary: the SLI of SLO \"latency\" is a single "
                               "ratio query"),
                    HasSubstr("Sloth sli.events"), HasSubstr("built-in proxy")));
}

TEST_F(SloProviderTest, ABadRevisionMatcherIsAnError) {
  MeasurementUpdate u = Run(
      Metric(R"("prometheus": {"address": "http://prom:9090"}, "revisionMatcher": "version v2")"));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message,
              StartsWith("ramp/slo: revisionMatcher: cannot scope the SLI query of SLO "
                         "\"availability\": "));
}

TEST_F(SloProviderTest, TerminateEndsInconclusive) {
  http_.Reply(200, Signals({}));
  MeasurementUpdate u = Run(Metric());
  std::optional<MeasurementUpdate> out;
  provider_->Terminate(ctx_, Metric(), u.measurement, [&](MeasurementUpdate t) { out = t; });
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->kind, MeasurementUpdate::Kind::kJudged);
  EXPECT_EQ(out->measurement.phase, AnalysisPhase::kInconclusive);
  EXPECT_THAT(out->measurement.message, StartsWith("stopped before a decision: "));
}

TEST_F(SloProviderTest, AMangledStateIsAnErrorNotACrash) {
  Measurement m;
  m.phase = AnalysisPhase::kRunning;
  m.started_at = ctx_.now;
  m.metadata[std::string(kSloStateKey)] = R"({"base": 3})";
  MeasurementUpdate u = Resume(Metric(), m);
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("is not a ramp/slo state"));
}

// ---------------------------------------------------------------------------------------------
// check: service

// The 14 answers of a service check over Prometheus: errors and total for each guard window
// (5m, 30m, 1h, 2h, 6h, 1d, 3d), all at the same error ratio.
void ReplyServiceRatio(FakeHttpClient& http, double ratio) {
  for (int i = 0; i < 7; ++i) {
    http.Reply(200, PromNumber(10 * ratio));
    http.Reply(200, PromNumber(10));
  }
}

TEST_F(SloProviderTest, ServiceCheckFailsOnAPageLevelRatio) {
  const MetricRef metric =
      Metric(R"("check": "service", "prometheus": {"address": "http://127.0.0.1:9090"})");
  ReplyServiceRatio(http_, 0.02);
  MeasurementUpdate u = Run(metric);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kFailed);
  EXPECT_THAT(u.measurement.message, HasSubstr("burn 14.4× (page, 1h/5m) is firing"));
  ASSERT_EQ(http_.requests.size(), 14u);
  // The whole service's queries, without a matcher.
  EXPECT_EQ(http_.requests[0].url,
            "http://127.0.0.1:9090/api/v1/query?query=sum%28rate%28http_requests_total%7Bjob%3D%22"
            "shop%22%2Ccode%3D~%225..%22%7D%5B5m%5D%29%29&time=1700000000.000");
  const json value = json::parse(u.measurement.value);
  EXPECT_NEAR(value["errorRatio"]["5m"].get<double>(), 0.02, 1e-9);
  EXPECT_NEAR(value["errorRatio"]["3d"].get<double>(), 0.02, 1e-9);
  EXPECT_EQ(value["pageFiring"], true);
}

TEST_F(SloProviderTest, ServiceCheckDoesNotPageOnADilutedRatio) {
  // A 5 % canary at 5 % errors on a 0.1 % service: 0.345 %, a burn of 3.45.
  ReplyServiceRatio(http_, 0.00345);
  MeasurementUpdate u =
      Run(Metric(R"("check": "service", "prometheus": {"address": "http://127.0.0.1:9090"})"));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kSuccessful) << u.measurement.message;
  EXPECT_THAT(u.measurement.message, HasSubstr("burn 14.4× (page, 1h/5m) is not firing"));
  EXPECT_THAT(u.measurement.message, HasSubstr("burn 3× (ticket, 1d/2h) is firing"));

  // failOn: ticket fails on the ticket rules too.
  ReplyServiceRatio(http_, 0.00345);
  u = Run(Metric(R"("check": "service", "failOn": "ticket",
                    "prometheus": {"address": "http://127.0.0.1:9090"})"));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kFailed);
}

TEST_F(SloProviderTest, ServiceCheckReadsTheLastHourAtTheBuiltinProxy) {
  // Each window: the canary 50 requests at 50 % errors, the stable 950 with 1 error: 2.6 %.
  for (int i = 0; i < 3; ++i) {
    http_.Reply(200, Signals({.requests = 50, .errors = 25}, {.requests = 950, .errors = 1}));
  }
  MeasurementUpdate u = Run(Metric(R"("check": "service")"));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  ASSERT_EQ(http_.requests.size(), 3u);
  EXPECT_EQ(http_.requests[0].url,
            "http://127.0.0.1:9901/v1/services/default.shop/signals?window=300s");
  EXPECT_EQ(http_.requests[2].url,
            "http://127.0.0.1:9901/v1/services/default.shop/signals?window=3600s");
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kFailed);
  EXPECT_THAT(u.measurement.message,
              AllOf(HasSubstr("burn 14.4× (page, 1h/5m) is firing: error ratio 2.60 % over 1h"),
                    HasSubstr("burn 6× (page, 6h/30m) cannot be evaluated: no error ratio over 6h"),
                    HasSubstr("the built-in proxy keeps one hour of per-second counters, so 2h, "
                              "6h, 1d, 3d cannot be read there")));
}

// ---------------------------------------------------------------------------------------------
// check: budget

TEST_F(SloProviderTest, BudgetCheckRefusesApprovesOrPasses) {
  const std::string prom = R"("prometheus": {"address": "http://127.0.0.1:9090"})";
  // 0.09 % errors over 30d against a 0.1 % budget: 10 % left, below the 25 % floor.
  http_.Reply(200, PromNumber(0.0009));
  http_.Reply(200, PromNumber(1));
  MeasurementUpdate u = Run(Metric(R"("check": "budget", )" + prom));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kFailed);
  EXPECT_THAT(u.measurement.message,
              AllOf(StartsWith("error budget 10.00 % left of 30d, below the policy floor of "
                               "25.00 %"),
                    HasSubstr("the release is refused")));
  ASSERT_EQ(http_.requests.size(), 2u);
  EXPECT_THAT(http_.requests[0].url, HasSubstr("%5B30d%5D"));
  EXPECT_NEAR(json::parse(u.measurement.value)["remainingBudget"].get<double>(), 0.1, 1e-9);

  http_.Reply(200, PromNumber(0.0009));
  http_.Reply(200, PromNumber(1));
  u = Run(Metric(R"("check": "budget", "budgetPolicy": {"action": "approve"}, )" + prom));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kInconclusive);
  EXPECT_THAT(u.measurement.message, HasSubstr("the release needs approval"));

  http_.Reply(200, PromNumber(0.0009));
  http_.Reply(200, PromNumber(1));
  u = Run(Metric(R"("check": "budget", "budgetPolicy": {"floor": 0.05}, )" + prom));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kSuccessful);
  EXPECT_THAT(u.measurement.message, StartsWith("error budget 10.00 % left of 30d, at or above"));
}

TEST_F(SloProviderTest, BudgetCheckReadsARawRatioToo) {
  http_.Reply(200, PromNumber(0.001));  // 0.1 % over 30d on a 99.5 % SLO: 80 % left
  MeasurementUpdate u = Run(Metric(
      R"("check": "budget", "prometheus": {"address": "http://127.0.0.1:9090"})", "latency"));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kJudged) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kSuccessful);
  EXPECT_THAT(u.measurement.message, StartsWith("error budget 80.00 % left of 30d"));
}

TEST_F(SloProviderTest, BudgetCheckNeedsPrometheus) {
  MeasurementUpdate u = Run(Metric(R"("check": "budget")"));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, StartsWith("ramp/slo: prometheus: required for check budget"));
  EXPECT_TRUE(http_.requests.empty());
}

TEST_F(SloProviderTest, PrometheusErrorsAreMeasurementErrors) {
  http_.Reply(500, R"({"status":"error","errorType":"internal","error":"boom"})");
  http_.Reply(200, PromNumber(1));
  MeasurementUpdate u =
      Run(Metric(R"("check": "budget", "prometheus": {"address": "http://127.0.0.1:9090"})"));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message,
              AllOf(StartsWith("ramp/slo: prometheus errors over 30d ("), HasSubstr("HTTP 500")));
}

// ---------------------------------------------------------------------------------------------
// Files, names and configuration.

TEST_F(SloProviderTest, AnUnreadableFileIsAnErrorNamingIt) {
  file_ = (dir_ / "missing.yaml").string();
  MeasurementUpdate u = Run(Metric());
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_EQ(u.measurement.message,
            "ramp/slo: file: cannot read " + file_ + ": No such file or directory");
}

TEST_F(SloProviderTest, AFileThatDoesNotParseIsAnErrorWithTheParsersPosition) {
  file_ = Write("bad.yaml",
                "version: prometheus/v1\nservice: shop\nslos:\n  - name: a\n"
                "    objective: 120\n");
  MeasurementUpdate u = Run(Metric("", "a"));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message,
              AllOf(StartsWith("ramp/slo: "),
                    HasSubstr(file_ + ":5:5: slos[0].objective: must be between 0 and 100")));
}

TEST_F(SloProviderTest, AnUnknownSloNameIsAnErrorListingTheNames) {
  MeasurementUpdate u = Run(Metric("", "availabilty"));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_EQ(u.measurement.message,
            "ramp/slo: slo: no SLO named \"availabilty\"; the SLOs are \"availability\", "
            "\"latency\"");
  u = Run(Metric("", ""));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, StartsWith("ramp/slo: slo: required: " + file_ +
                                                " declares 2 SLOs (\"availability\", "
                                                "\"latency\")"));
}

TEST_F(SloProviderTest, TheSloNameIsOptionalWithOneSlo) {
  file_ = Write("one.yaml", R"(version: prometheus/v1
service: shop
slos:
  - name: only
    objective: 99
    sli:
      events:
        error_query: sum(rate(e[{{.window}}]))
        total_query: sum(rate(t[{{.window}}]))
)");
  http_.Reply(200, Signals({}));
  MeasurementUpdate u = Run(Metric("", ""));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kRunning) << u.measurement.message;
  EXPECT_THAT(u.measurement.message, HasSubstr("99 % SLO \"only\""));
}

TEST_F(SloProviderTest, BadConfigurationIsAnErrorNamingTheField) {
  EXPECT_EQ(Run(Metric(R"("aplha": 0.01)")).measurement.message,
            "ramp/slo: aplha: unknown field (known: file, slo, check, admin, prometheus, "
            "revisionMatcher, severities, alpha, beta, alternativeFactor, pollInterval, "
            "maxDuration, readErrorLimit, failOn, budgetPolicy)");
  EXPECT_EQ(Run(Metric(R"("failOn": "page")")).measurement.message,
            "ramp/slo: failOn: applies to check service only (this is check canary)");
  EXPECT_THAT(Run(Metric(R"("prometheus": {"address": "http://prom:9090"})")).measurement.message,
              StartsWith("ramp/slo: revisionMatcher: required with prometheus"));
  EXPECT_EQ(Run(Metric(R"("severities": ["pager"])")).measurement.message,
            "ramp/slo: severities[0]: must be page or ticket, got \"pager\"");
  EXPECT_EQ(Run(Metric(R"("check": "budget", "budgetPolicy": {"floor": 2},
                          "prometheus": {"address": "http://prom:9090"})"))
                .measurement.message,
            "ramp/slo: budgetPolicy.floor: must be a share of the budget in [0, 1], e.g. 0.25; "
            "got 2");
  MetricRef no_file = {.name = "slo", .provider_type = "ramp/slo", .provider_config_json = "{}"};
  EXPECT_EQ(Run(no_file).measurement.message,
            "ramp/slo: file: required: the path of a Sloth or OpenSLO file");
  EXPECT_TRUE(http_.requests.empty());
}

TEST_F(SloProviderTest, SecretsAreRedactedFromMessages) {
  ctx_.secrets = {"hunter2"};
  file_ = (dir_ / "hunter2.yaml").string();
  MeasurementUpdate u = Run(Metric());
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, AllOf(HasSubstr("*****.yaml"), Not(HasSubstr("hunter2"))));
}

TEST(RegisterSloMetricProvider, RefusesANullClient) {
  Registry<MetricProvider> registry{"metric provider"};
  EXPECT_FALSE(RegisterSloMetricProvider(registry, nullptr).ok());
  FakeHttpClient http;
  ASSERT_TRUE(RegisterSloMetricProvider(registry, &http).ok());
  StatusOr<std::unique_ptr<MetricProvider>> p = registry.Create("ramp/slo");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ((*p)->Type(), "ramp/slo");
}

}  // namespace
}  // namespace ramp::metrics
