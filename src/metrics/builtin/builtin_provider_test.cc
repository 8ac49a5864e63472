#include "metrics/builtin/builtin_provider.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "metrics/builtin/register.h"
#include "metrics/common/fake_http_client_testing.h"

namespace ramp::metrics {
namespace {

using ::testing::DoubleNear;
using ::testing::HasSubstr;
using json = nlohmann::json;
using Buckets = std::vector<std::pair<double, double>>;

constexpr double kInf = std::numeric_limits<double>::infinity();

// The proxy's bucket bounds (src/proxy/stats.h) with the given cumulative counts.
Buckets ProxyBuckets(std::vector<double> cumulative) {
  const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, kInf};
  Buckets out;
  for (size_t i = 0; i < cumulative.size(); ++i) out.emplace_back(bounds[i], cumulative[i]);
  return out;
}

// 100 requests: 10 by 10ms, 30 by 25ms, 60 by 50ms, 80 by 100ms, 90 by 250ms, 95 by 500ms, 99 by
// 1s, all by 2.5s.
Buckets Typical() { return ProxyBuckets({0, 10, 30, 60, 80, 90, 95, 99, 100, 100, 100, 100}); }

// A signals answer as the proxy writes it, with `canary` and `stable` windows.
std::string SignalsBody(uint64_t requests, uint64_t errors, const Buckets& buckets,
                        uint64_t stable_requests = 7) {
  auto window = [](uint64_t r, uint64_t e, const Buckets& b) {
    json bs = json::array();
    for (const auto& [le, count] : b) {
      json jb = {{"count", static_cast<uint64_t>(count)}};
      if (std::isinf(le)) {
        jb["le"] = "+Inf";
      } else {
        jb["le"] = le;
      }
      bs.push_back(jb);
    }
    return json{{"requests", r}, {"errors", e}, {"latencySumSeconds", 1.5}, {"latencyBuckets", bs}};
  };
  Buckets empty = ProxyBuckets({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  json doc = {
      {"service", "default.shop"},
      {"version", 3},
      {"now", 1700000000},
      {"windowSeconds", 60},
      {"revisions",
       {{"canary", {{"window", window(requests, errors, buckets)}, {"total", window(0, 0, empty)}}},
        {"stable",
         {{"window", window(stable_requests, 0, empty)}, {"total", window(0, 0, empty)}}}}}};
  return doc.dump();
}

// ---------------------------------------------------------------------------------------------
// The histogram arithmetic, against hand-computed values.

TEST(BuiltinHistogramQuantile, InterpolatesLinearlyInsideTheBucket) {
  // p50: rank 50 is in (25ms, 50ms] holding 30..60 → 25ms + 25ms·20/30.
  EXPECT_THAT(HistogramQuantile(0.5, Typical()), DoubleNear(0.025 + 0.025 * 20.0 / 30.0, 1e-12));
  // p90: rank 90 is the top of (100ms, 250ms].
  EXPECT_THAT(HistogramQuantile(0.9, Typical()), DoubleNear(0.25, 1e-12));
  // p99: rank 99 is the top of (500ms, 1s] holding 95..99.
  EXPECT_THAT(HistogramQuantile(0.99, Typical()), DoubleNear(1.0, 1e-12));
  // p5: rank 5 is halfway through (5ms, 10ms] holding 0..10.
  EXPECT_THAT(HistogramQuantile(0.05, Typical()), DoubleNear(0.0075, 1e-12));
  // p99.5: rank 99.5 is halfway through (1s, 2.5s] holding 99..100.
  EXPECT_THAT(HistogramQuantile(0.995, Typical()), DoubleNear(1.75, 1e-12));
}

TEST(BuiltinHistogramQuantile, FirstBucketStartsAtZeroAndInfReturnsTheLastBound) {
  Buckets b = ProxyBuckets({50, 60, 70, 80, 85, 90, 90, 90, 90, 90, 90, 100});
  // Rank 25 in [0, 5ms] holding 0..50.
  EXPECT_THAT(HistogramQuantile(0.25, b), DoubleNear(0.0025, 1e-12));
  // Rank 95 is in the +Inf bucket: the largest finite bound, as Prometheus answers.
  EXPECT_EQ(HistogramQuantile(0.95, b), 10.0);
}

TEST(BuiltinHistogramQuantile, EdgeCasesFollowPrometheus) {
  EXPECT_TRUE(
      std::isnan(HistogramQuantile(0.5, ProxyBuckets({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}))));
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.5, {{kInf, 3}})));           // one bucket
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.5, {{0.1, 1}, {0.2, 2}})));  // no +Inf
  EXPECT_EQ(HistogramQuantile(-0.1, Typical()), -kInf);
  EXPECT_EQ(HistogramQuantile(1.1, Typical()), kInf);
  // Counts that decrease are made monotonic first.
  Buckets dip = {{0.1, 10}, {0.2, 5}, {kInf, 10}};
  EXPECT_THAT(HistogramQuantile(0.5, dip), DoubleNear(0.05, 1e-12));
}

TEST(BuiltinHistogramFraction, ExactAtBoundsInterpolatedBetween) {
  EXPECT_THAT(HistogramFractionAtOrBelow(0.25, Typical()), DoubleNear(0.9, 1e-12));
  // 75ms: halfway through (50ms, 100ms] holding 60..80 → 70 of 100.
  EXPECT_THAT(HistogramFractionAtOrBelow(0.075, Typical()), DoubleNear(0.7, 1e-12));
  // 2.5ms: halfway through [0, 5ms] holding 0 → 0.
  EXPECT_THAT(HistogramFractionAtOrBelow(0.0025, Typical()), DoubleNear(0.0, 1e-12));
  // Beyond 10s the +Inf bucket says nothing: the fraction at 10s.
  Buckets slow = ProxyBuckets({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 80, 100});
  EXPECT_THAT(HistogramFractionAtOrBelow(30, slow), DoubleNear(0.8, 1e-12));
  EXPECT_TRUE(std::isnan(
      HistogramFractionAtOrBelow(0.1, ProxyBuckets({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}))));
}

// ---------------------------------------------------------------------------------------------
// Configuration.

TEST(BuiltinProviderConfig, Defaults) {
  auto c = ParseBuiltinConfig(R"({"signal": "errorRate"})");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->signal, BuiltinSignal::kErrorRate);
  EXPECT_EQ(c->revision, "canary");
  EXPECT_EQ(c->window_seconds, 60);
  EXPECT_EQ(c->min_requests, 1);
  EXPECT_EQ(c->admin_url, "");
  auto requests = ParseBuiltinConfig(R"({"signal": "requests"})");
  ASSERT_TRUE(requests.has_value());
  EXPECT_EQ(requests->min_requests, 0);
}

TEST(BuiltinProviderConfig, EveryField) {
  auto c = ParseBuiltinConfig(R"({"signal": "latency", "quantile": "0.99", "revision": "stable",
      "window": "1500ms", "minRequests": 20,
      "admin": {"address": "127.0.0.1:9901", "tokenFile": "/etc/ramp/proxy.token"}})");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->signal, BuiltinSignal::kLatency);
  EXPECT_EQ(c->quantile, 0.99);
  EXPECT_EQ(c->revision, "stable");
  EXPECT_EQ(c->window_seconds, 1);
  EXPECT_EQ(c->min_requests, 20);
  EXPECT_EQ(c->admin_url, "http://127.0.0.1:9901");
  EXPECT_EQ(c->admin_token_file, "/etc/ramp/proxy.token");
  auto bucket = ParseBuiltinConfig(R"({"signal": "latencyBucket", "le": "250ms"})");
  ASSERT_TRUE(bucket.has_value());
  EXPECT_EQ(bucket->le_seconds, 0.25);
}

TEST(BuiltinProviderConfig, ErrorsNameTheField) {
  struct Case {
    const char* config;
    StatusCode code;
    const char* message;
  };
  const Case cases[] = {
      {R"({})", StatusCode::kInvalidArgument, "ramp/builtin: signal: required"},
      {R"({"signal": "latencyP99"})", StatusCode::kInvalidArgument,
       "signal: \"latencyP99\": one of requests, errors, errorRate"},
      {R"({"signal": "errors", "servce": "x"})", StatusCode::kInvalidArgument,
       "servce: unknown field"},
      {R"({"signal": "latency"})", StatusCode::kInvalidArgument, "quantile: required"},
      {R"({"signal": "errors", "quantile": 0.5})", StatusCode::kInvalidArgument,
       "quantile: applies to signal latency only"},
      {R"({"signal": "latency", "quantile": 1})", StatusCode::kInvalidArgument,
       "quantile: must be between 0 and 1"},
      {R"({"signal": "latencyBucket"})", StatusCode::kInvalidArgument, "le: required"},
      {R"({"signal": "errors", "le": "1s"})", StatusCode::kInvalidArgument,
       "le: applies to signal latencyBucket only"},
      {R"({"signal": "errors", "window": "2h"})", StatusCode::kInvalidArgument,
       "window: must be from 1s to 1h"},
      {R"({"signal": "errors", "window": "60"})", StatusCode::kInvalidArgument,
       "window: \"60\" is not a duration"},
      {R"({"signal": "errors", "revision": "preview"})", StatusCode::kInvalidArgument,
       "revision: must be canary or stable"},
      {R"({"signal": "errors", "minRequests": -1})", StatusCode::kInvalidArgument,
       "minRequests: must be a whole number"},
      {R"({"signal": "errors", "admin": {"address": "10.1.1.1:9901", "tokenFile": "/t"}})",
       StatusCode::kInvalidArgument, "admin.address: must be a loopback address"},
      {R"({"signal": "errors", "admin": {"socket": "/run/ramp/proxy.sock"}})",
       StatusCode::kUnimplemented, "admin.socket"},
      {R"([1])", StatusCode::kInvalidArgument, "not a JSON object"},
  };
  for (const Case& c : cases) {
    auto got = ParseBuiltinConfig(c.config);
    ASSERT_FALSE(got.has_value()) << c.config;
    EXPECT_EQ(got.error().code(), c.code) << c.config << ": " << got.error().ToString();
    EXPECT_THAT(got.error().message(), HasSubstr(c.message)) << c.config;
  }
}

// ---------------------------------------------------------------------------------------------
// Measurements.

class BuiltinProviderTest : public ::testing::Test {
 protected:
  BuiltinProviderTest() { Make({}); }

  void Make(BuiltinProviderOptions options) {
    if (options.admin_url.empty()) options.admin_url = "http://127.0.0.1:9901/";
    if (options.admin_token.empty()) options.admin_token = "s3cret";
    provider_ = NewBuiltinProvider(&http_, std::move(options));
    ctx_.now = Time(std::chrono::seconds(1700000000));
    ctx_.rollout = {"default", "shop"};
    metric_.name = "errors";
    metric_.provider_type = "ramp/builtin";
  }

  MeasurementUpdate Run(const std::string& config) {
    metric_.provider_config_json = config;
    std::optional<MeasurementUpdate> out;
    int calls = 0;
    provider_->Run(ctx_, metric_, [&](MeasurementUpdate u) {
      ++calls;
      out = std::move(u);
    });
    EXPECT_EQ(calls, 1);
    return out.value_or(MeasurementUpdate{});
  }

  FakeHttpClient http_;
  std::unique_ptr<MetricProvider> provider_;
  RunContext ctx_;
  MetricRef metric_;
};

TEST_F(BuiltinProviderTest, ErrorRateOfTheCanary) {
  http_.Reply(200, SignalsBody(200, 40, Typical()));
  MeasurementUpdate u = Run(R"({"signal": "errorRate"})");
  ASSERT_EQ(http_.requests.size(), 1u);
  const HttpRequest& r = http_.requests[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.url, "http://127.0.0.1:9901/v1/services/default.shop/signals?window=60s");
  EXPECT_EQ(*FindHeader(r.headers, "Authorization"), "Bearer s3cret");
  EXPECT_EQ(r.timeout, std::chrono::seconds(10));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  EXPECT_EQ(u.measurement.value, "0.2");
  ASSERT_TRUE(u.result->is_number_float());
  EXPECT_EQ(u.result->get<double>(), 0.2);
  EXPECT_EQ(u.measurement.started_at, ctx_.now);
  EXPECT_EQ(u.measurement.metadata.at("service"), "default.shop");
  EXPECT_EQ(u.measurement.metadata.at("revision"), "canary");
  EXPECT_EQ(u.measurement.metadata.at("window"), "1m0s");
  EXPECT_EQ(u.measurement.metadata.at("requests"), "200");
}

TEST_F(BuiltinProviderTest, EverySignal) {
  struct Case {
    const char* config;
    const char* value;
  };
  const Case cases[] = {
      {R"({"signal": "requests"})", "200"},
      {R"({"signal": "errors"})", "40"},
      {R"({"signal": "successRate"})", "0.8"},
      {R"({"signal": "latency", "quantile": 0.9})", "0.25"},
      {R"({"signal": "latencyBucket", "le": "75ms"})", "0.7"},
      {R"({"signal": "requests", "revision": "stable"})", "7"},
  };
  for (const Case& c : cases) {
    http_.Reply(200, SignalsBody(200, 40, Typical()));
    MeasurementUpdate u = Run(c.config);
    ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << c.config << ": " << u.measurement.message;
    EXPECT_EQ(u.measurement.value, c.value) << c.config;
  }
  http_.Reply(200, SignalsBody(200, 40, Typical()));
  MeasurementUpdate counted = Run(R"({"signal": "errors", "window": "5m"})");
  EXPECT_TRUE(counted.result->is_number_unsigned());
  EXPECT_THAT(http_.requests.back().url, HasSubstr("/signals?window=300s"));
}

TEST_F(BuiltinProviderTest, NoTrafficIsAnErrorUnlessMinRequestsIsZero) {
  Buckets empty = ProxyBuckets({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  http_.Reply(200, SignalsBody(0, 0, empty));
  MeasurementUpdate none = Run(R"({"signal": "errorRate"})");
  ASSERT_EQ(none.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(none.measurement.message,
              HasSubstr("0 requests reached the canary revision of proxy service \"default.shop\" "
                        "in the last 1m0s, fewer than minRequests 1"));
  EXPECT_EQ(none.measurement.phase, AnalysisPhase::kError);

  http_.Reply(200, SignalsBody(5, 0, Typical()));
  MeasurementUpdate few = Run(R"({"signal": "latency", "quantile": 0.5, "minRequests": 20})");
  ASSERT_EQ(few.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(few.measurement.message, HasSubstr("5 requests"));

  // minRequests 0: NaN, as an empty Prometheus ratio; the conditions decide.
  http_.Reply(200, SignalsBody(0, 0, empty));
  MeasurementUpdate nan = Run(R"({"signal": "errorRate", "minRequests": 0})");
  ASSERT_EQ(nan.kind, MeasurementUpdate::Kind::kValue) << nan.measurement.message;
  EXPECT_EQ(nan.measurement.value, "NaN");
  EXPECT_TRUE(std::isnan(nan.result->get<double>()));

  // Counts are 0, never an error.
  http_.Reply(200, SignalsBody(0, 0, empty));
  MeasurementUpdate zero = Run(R"({"signal": "requests"})");
  ASSERT_EQ(zero.kind, MeasurementUpdate::Kind::kValue);
  EXPECT_EQ(zero.measurement.value, "0");
}

TEST_F(BuiltinProviderTest, BadAnswersAreErrorsNamingTheCause) {
  http_.Reply(200, "garbage{");
  EXPECT_THAT(Run(R"({"signal": "errors"})").measurement.message,
              HasSubstr("ramp/builtin: response is not JSON"));
  http_.Reply(200, "<html><body>proxy</body></html>");
  EXPECT_THAT(Run(R"({"signal": "errors"})").measurement.message,
              HasSubstr("response is an HTML page"));
  http_.Reply(200, "");
  EXPECT_THAT(Run(R"({"signal": "errors"})").measurement.message, HasSubstr("empty response body"));
  http_.Reply(200, R"({"revisions": {"canary": {"window": {"errors": 1}}}})");
  EXPECT_THAT(Run(R"({"signal": "errors"})").measurement.message,
              HasSubstr("revisions.canary.window.requests: missing"));
  http_.Reply(200, R"({"revisions": {}})");
  EXPECT_THAT(Run(R"({"signal": "errors"})").measurement.message,
              HasSubstr("revisions.canary.window: missing"));
  http_.Reply(200, R"({"revisions": {"canary": {"window": {"requests": 1, "errors": 0,
      "latencyBuckets": [{"le": 0.1, "count": 1}]}}}})");
  EXPECT_THAT(Run(R"({"signal": "errors"})").measurement.message,
              HasSubstr("the last bucket must be +Inf"));
  http_.Reply(404, R"({"error": "no service \"default.shop\""})");
  MeasurementUpdate missing = Run(R"({"signal": "errors"})");
  EXPECT_EQ(missing.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(missing.measurement.message,
              HasSubstr("ramp/builtin: the proxy has no service \"default.shop\""));
  http_.Reply(401, R"({"error": "missing or wrong bearer token"})");
  EXPECT_THAT(Run(R"({"signal": "errors"})").measurement.message, HasSubstr("admin token refused"));
  http_.Reply(400, R"({"error": "window: a duration from 1s to 1h, e.g. 1m"})");
  EXPECT_THAT(Run(R"({"signal": "errors"})").measurement.message,
              HasSubstr("HTTP 400: window: a duration from 1s to 1h"));
  http_.ReplyError(UnavailableError("GET http://127.0.0.1:9901/…: connection refused"));
  EXPECT_THAT(Run(R"({"signal": "errors"})").measurement.message,
              HasSubstr("ramp/builtin: unreachable: GET"));
  MeasurementUpdate bad = Run(R"({"signal": "nope"})");
  EXPECT_EQ(bad.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(bad.measurement.message, HasSubstr("signal: \"nope\""));
}

TEST_F(BuiltinProviderTest, NeedsARolloutAndAnAdminEndpoint) {
  ctx_.rollout = {};
  MeasurementUpdate standalone = Run(R"({"signal": "errors"})");
  EXPECT_EQ(standalone.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(standalone.measurement.message, HasSubstr("belongs to no Rollout"));

  provider_ = NewBuiltinProvider(&http_);
  ctx_.rollout = {"default", "shop"};
  MeasurementUpdate no_admin = Run(R"({"signal": "errors"})");
  EXPECT_THAT(no_admin.measurement.message, HasSubstr("no proxy admin API is known"));
  EXPECT_TRUE(http_.requests.empty());
}

TEST_F(BuiltinProviderTest, TheMetricsOwnAdminAndTheServiceNameHook) {
  auto path =
      std::filesystem::temp_directory_path() / ("ramp-builtin-token-" + std::to_string(::getpid()));
  std::ofstream(path) << "tok\n";
  BuiltinProviderOptions options;
  options.service_name = [](const ObjectRef& r) { return r.name + "-svc"; };
  Make(options);
  http_.Reply(200, SignalsBody(10, 1, Typical()));
  MeasurementUpdate u = Run(R"({"signal": "errors", "admin": {"address": "127.0.0.1:7000",
      "tokenFile": ")" + path.string() +
                            R"("}})");
  std::filesystem::remove(path);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  EXPECT_EQ(http_.requests.at(0).url,
            "http://127.0.0.1:7000/v1/services/shop-svc/signals?window=60s");
  EXPECT_EQ(*FindHeader(http_.requests.at(0).headers, "Authorization"), "Bearer tok");
  // The Rollout's own admin (what its ramp/proxy router uses) comes before the daemon's.
  BuiltinProviderOptions with_rollout_admin;
  with_rollout_admin.rollout_admin = [](const ObjectRef& r) -> std::optional<BuiltinAdmin> {
    if (r.name != "shop") return std::nullopt;
    return BuiltinAdmin{"http://127.0.0.1:7100", "rollout-token"};
  };
  Make(with_rollout_admin);
  http_.Reply(200, SignalsBody(10, 1, Typical()));
  ASSERT_EQ(Run(R"({"signal": "errors"})").kind, MeasurementUpdate::Kind::kValue);
  EXPECT_EQ(http_.requests.back().url,
            "http://127.0.0.1:7100/v1/services/default.shop/signals?window=60s");
  EXPECT_EQ(*FindHeader(http_.requests.back().headers, "Authorization"), "Bearer rollout-token");
  ctx_.rollout = {"default", "other"};
  http_.Reply(200, SignalsBody(10, 1, Typical()));
  ASSERT_EQ(Run(R"({"signal": "errors"})").kind, MeasurementUpdate::Kind::kValue);
  EXPECT_EQ(http_.requests.back().url,
            "http://127.0.0.1:9901/v1/services/default.other/signals?window=60s");
  MeasurementUpdate unreadable = Run(R"({"signal": "errors", "admin": {"address":
      "127.0.0.1:7000", "tokenFile": "/nonexistent/token"}})");
  EXPECT_THAT(unreadable.measurement.message,
              HasSubstr("admin.tokenFile: cannot read /nonexistent/token"));
}

TEST_F(BuiltinProviderTest, ResumeAndTerminateAreErrorsAndRegistrationUsesThePluginName) {
  std::optional<MeasurementUpdate> resumed;
  provider_->Resume(ctx_, metric_, Measurement{}, [&](MeasurementUpdate u) { resumed = u; });
  ASSERT_TRUE(resumed.has_value());
  EXPECT_EQ(resumed->kind, MeasurementUpdate::Kind::kError);
  EXPECT_EQ(provider_->Type(), "ramp/builtin");

  Registry<MetricProvider> registry("metric provider");
  EXPECT_EQ(RegisterBuiltinMetricProvider(registry, nullptr).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(RegisterBuiltinMetricProvider(registry, &http_, {.admin_url = "http://x:1"}).ok());
  auto made = registry.Create("ramp/builtin");
  ASSERT_TRUE(made.has_value()) << made.error().ToString();
  EXPECT_EQ((*made)->Type(), "ramp/builtin");
}

}  // namespace
}  // namespace ramp::metrics
