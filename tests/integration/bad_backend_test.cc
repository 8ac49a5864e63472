// Every HTTP metric provider against bad backends, through the real HttpClient and a real
// loopback server (a fake of each service that misbehaves on purpose): an HTML page, an empty
// body, NaN, a wrong JSON shape, 4xx, 5xx, an answer slower than the timeout, a refused
// connection and a TLS failure each end as an Error measurement whose message says what
// happened — never a crash — and a slow backend does not hold up a measurement elsewhere.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "metrics/cloudwatch/cloudwatch_provider.h"
#include "metrics/datadog/datadog_provider.h"
#include "metrics/graphite/graphite_provider.h"
#include "metrics/influxdb/influxdb_provider.h"
#include "metrics/newrelic/newrelic_provider.h"
#include "metrics/prometheus/prometheus_provider.h"
#include "metrics/wavefront/wavefront_provider.h"
#include "metrics/web/web_provider.h"
#include "net/testing/http_test_server.h"
#include "tests/integration/prometheus_server.h"

namespace ramp {
namespace {

using Lookup = std::function<StatusOr<std::string>(std::string_view, std::string_view)>;

// How to point one provider at a base URL: its configuration, and the provider built with the
// credentials it needs.
struct ProviderSetup {
  std::string name;
  // The timeout the provider applies to one request (to make "slower than the timeout").
  Duration timeout;
  std::function<std::string(const std::string& base)> config;
  std::function<std::unique_ptr<MetricProvider>(HttpClient*, const std::string& base)> make;
};

Lookup Secrets(std::map<std::string, std::string> values) {
  return [values](std::string_view secret, std::string_view key) -> StatusOr<std::string> {
    auto it = values.find(std::string(secret) + "/" + std::string(key));
    if (it == values.end()) return Fail(NotFoundError("no such secret"));
    return it->second;
  };
}

std::vector<ProviderSetup> Providers() {
  using std::chrono::seconds;
  return {
      {"prometheus", seconds(1),
       [](const std::string& b) {
         return R"({"address":")" + b + R"(","query":"up","timeout":1})";
       },
       [](HttpClient* h, const std::string&) { return metrics::NewPrometheusProvider(h); }},
      {"web", seconds(1),
       [](const std::string& b) {
         return R"({"url":")" + b + R"(/value","timeoutSeconds":1,"jsonPath":"{$.value}"})";
       },
       [](HttpClient* h, const std::string&) { return metrics::NewWebProvider(h); }},
      {"datadog", seconds(1),
       [](const std::string&) {
         return R"({"query":"avg:errors{*}","apiVersion":"v1","requestTimeout":"1s"})";
       },
       [](HttpClient* h, const std::string& b) {
         metrics::DatadogOptions o;
         o.lookup_secret = Secrets({{"datadog/api-key", "dd-api-key-1234"},
                                    {"datadog/app-key", "dd-app-key-5678"},
                                    {"datadog/address", b}});
         o.getenv = [](std::string_view) { return std::optional<std::string>(); };
         return metrics::NewDatadogProvider(h, std::move(o));
       }},
      {"newrelic", seconds(60),
       [](const std::string&) { return R"({"query":"SELECT count(*) FROM Transaction"})"; },
       [](HttpClient* h, const std::string& b) {
         metrics::NewRelicOptions o;
         o.lookup_secret = Secrets({{"newrelic/personal-api-key", "NRAK-1234567890"},
                                    {"newrelic/account-id", "4242"},
                                    {"newrelic/base-url-nerdgraph", b + "/graphql"}});
         return metrics::NewNewRelicProvider(h, std::move(o));
       }},
      {"cloudwatch", seconds(30),
       [](const std::string&) {
         return R"J({"metricDataQueries":[{"id":"q","expression":"SUM(METRICS())"}]})J";
       },
       [](HttpClient* h, const std::string& b) {
         metrics::CloudWatchOptions o;
         o.credentials = {"AKIDEXAMPLE", "secret", ""};
         o.region = "us-east-1";
         o.endpoint = b + "/";
         return metrics::NewCloudWatchProvider(h, std::move(o));
       }},
      {"graphite", seconds(10),
       [](const std::string& b) {
         return R"({"address":")" + b + R"J(","query":"sumSeries(errors)"})J";
       },
       [](HttpClient* h, const std::string&) { return metrics::NewGraphiteProvider(h); }},
      {"influxdb", seconds(30),
       [](const std::string&) {
         return R"J({"query":"from(bucket: \"b\") |> range(start: -5m)"})J";
       },
       [](HttpClient* h, const std::string& b) {
         metrics::InfluxDbOptions o;
         o.secret_lookup = Secrets({{"influxdb/authToken", "influx-token-abcdef"},
                                    {"influxdb/org", "ramp-org"},
                                    {"influxdb/address", b}});
         return metrics::NewInfluxDbProvider(h, std::move(o));
       }},
      {"wavefront", seconds(30),
       [](const std::string& b) { return R"({"address":")" + b + R"J(","query":"ts(errors)"})J"; },
       [](HttpClient* h, const std::string& b) {
         metrics::WavefrontOptions o;
         o.secret_lookup = Secrets({{"wavefront-api-tokens/" + b, "wavefront-token-abcdef"}});
         return metrics::NewWavefrontProvider(h, std::move(o));
       }},
  };
}

// One way a backend can be bad, and the words the Error message must contain (a regex).
struct BadCase {
  std::string name;
  std::function<testing::TestResponse(Duration timeout)> answer;  // null: no server answers
  bool tls = false;      // the server speaks TLS with a certificate nobody trusts
  bool refused = false;  // nothing listens on the port
  std::string expect;    // regex over the message (case-insensitive)
};

testing::TestResponse Answer(int status, std::string content_type, std::string body) {
  testing::TestResponse r;
  r.status = status;
  if (!content_type.empty()) r.headers = {{"Content-Type", std::move(content_type)}};
  r.body = std::move(body);
  return r;
}

std::vector<BadCase> Cases() {
  return {
      {"html_page",
       [](Duration) {
         return Answer(200, "text/html",
                       "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>");
       },
       false, false, "html|json|parse|invalid|unexpected|syntax|not"},
      {"empty_body", [](Duration) { return Answer(200, "application/json", ""); }, false, false,
       "empty|json|parse|no data|unexpected|invalid|end of"},
      {"nan", [](Duration) { return Answer(200, "application/json", "NaN"); }, false, false,
       "nan|json|parse|invalid|unexpected|syntax|not"},
      {"wrong_json_shape",
       [](Duration) { return Answer(200, "application/json", R"({"unexpected":[1,2,3]})"); }, false,
       false, "missing|expected|shape|no |not|field|unexpected|invalid|empty"},
      {"http_404", [](Duration) { return Answer(404, "text/plain", "not found"); }, false, false,
       "404"},
      {"http_503", [](Duration) { return Answer(503, "text/plain", "overloaded"); }, false, false,
       "503"},
      {"slower_than_timeout",
       [](Duration timeout) {
         testing::TestResponse r = Answer(200, "application/json", "{}");
         r.delay = timeout + std::chrono::seconds(2);
         return r;
       },
       false, false, "timed out|timeout|deadline"},
      {"connection_refused", nullptr, false, true, "refused|connect"},
      {"tls_failure", [](Duration) { return Answer(200, "application/json", "{}"); }, true, false,
       "certificate|tls|ssl|handshake|verify"},
  };
}

struct Param {
  ProviderSetup provider;
  BadCase bad;
};

// A loopback URL that refuses connections: a free port nothing listens on.
std::string ClosedBaseUrl() {
  auto port = testing::FreeLoopbackPort();
  return "http://127.0.0.1:" + std::to_string(port.has_value() ? *port : 1);
}

// Runs one measurement and waits (bounded) for its answer.
std::optional<MeasurementUpdate> Measure(MetricProvider& provider, const std::string& config,
                                         Duration bound) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<MeasurementUpdate> got;
  RunContext ctx;
  ctx.run = ObjectRef{"default", "run"};
  ctx.run_uid = "uid";
  ctx.now = Time(std::chrono::seconds(1'767'225'600));
  MetricRef metric;
  metric.name = "m";
  metric.provider_type = std::string(provider.Type());
  metric.provider_config_json = config;
  metric.interval = std::chrono::minutes(5);
  provider.Run(ctx, metric, [&](MeasurementUpdate u) {
    std::lock_guard<std::mutex> lock(mu);
    got = std::move(u);
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, bound, [&] { return got.has_value(); });
  return got;
}

// Where Argo's provider hands a response to the conditions instead of failing, ramp does the
// same (AnalysisTemplates keep their meaning); a condition that compares the value with a number
// then makes the measurement an Error in the analysis core.
struct ValueInstead {
  std::string value;  // Measurement.value
  std::string why;
};
const std::map<std::string, ValueInstead>& ValueCases() {
  static const auto* cases = new std::map<std::string, ValueInstead>{
      {"web/nan", {"NaN", "Argo's web provider passes text that is not JSON on as a string"}},
      {"datadog/wrong_json_shape",
       {"null", "Argo decodes unknown fields away: an answer without series is no data (nil)"}},
  };
  return *cases;
}

class BadBackendTest : public ::testing::TestWithParam<Param> {};

TEST_P(BadBackendTest, EndsAsAnErrorThatSaysWhatHappened) {
  const ProviderSetup& p = GetParam().provider;
  const BadCase& bad = GetParam().bad;
  std::unique_ptr<testing::HttpTestServer> server;
  std::string base;
  if (bad.refused) {
    base = ClosedBaseUrl();
  } else {
    server = std::make_unique<testing::HttpTestServer>(
        [&](const testing::TestRequest&) { return bad.answer(p.timeout); },
        testing::HttpTestServerOptions{.tls = bad.tls});
    base = server->Url();
  }
  std::unique_ptr<HttpClient> http = NewHttpClient();
  std::unique_ptr<MetricProvider> provider = p.make(http.get(), base);
  auto update = Measure(*provider, p.config(base), p.timeout + std::chrono::seconds(20));
  ASSERT_TRUE(update.has_value()) << "no answer";
  if (auto it = ValueCases().find(p.name + "/" + bad.name); it != ValueCases().end()) {
    EXPECT_EQ(update->kind, MeasurementUpdate::Kind::kValue) << it->second.why;
    EXPECT_EQ(update->measurement.value, it->second.value) << it->second.why;
    return;
  }
  EXPECT_EQ(update->kind, MeasurementUpdate::Kind::kError)
      << "phase " << AnalysisPhaseName(update->measurement.phase) << ", value "
      << update->measurement.value;
  EXPECT_EQ(update->measurement.phase, AnalysisPhase::kError);
  const std::string& message = update->measurement.message;
  EXPECT_TRUE(std::regex_search(message, std::regex(bad.expect, std::regex::icase)))
      << "message: " << message;
}

std::vector<Param> AllParams() {
  std::vector<Param> out;
  for (const ProviderSetup& p : Providers()) {
    for (const BadCase& c : Cases()) out.push_back({p, c});
  }
  return out;
}

void PrintTo(const Param& p, std::ostream* os) { *os << p.provider.name << "/" << p.bad.name; }

INSTANTIATE_TEST_SUITE_P(Providers, BadBackendTest, ::testing::ValuesIn(AllParams()),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           return info.param.provider.name + "_" + info.param.bad.name;
                         });

// A backend that does not answer holds only its own measurement: another provider instance
// (another rollout's) measures meanwhile.
TEST(BadBackendIsolationTest, prometheus_SlowBackendDoesNotHoldUpAnotherMeasurement) {
  testing::HttpTestServer slow([](const testing::TestRequest&) {
    testing::TestResponse r = Answer(200, "application/json", "{}");
    r.delay = std::chrono::seconds(5);
    return r;
  });
  testing::HttpTestServer fast([](const testing::TestRequest&) {
    return Answer(
        200, "application/json",
        R"({"status":"success","data":{"resultType":"scalar","result":[1767225600,"1"]}})");
  });
  std::unique_ptr<HttpClient> http = NewHttpClient();
  auto slow_provider = metrics::NewPrometheusProvider(http.get());
  auto fast_provider = metrics::NewPrometheusProvider(http.get());
  std::mutex mu;
  std::condition_variable cv;
  bool slow_done = false;
  RunContext ctx;
  ctx.run = ObjectRef{"default", "slow"};
  ctx.now = Time(std::chrono::seconds(1'767'225'600));
  MetricRef metric;
  metric.name = "m";
  metric.provider_type = "prometheus";
  metric.provider_config_json = R"({"address":")" + slow.Url() + R"(","query":"up","timeout":10})";
  slow_provider->Run(ctx, metric, [&](MeasurementUpdate) {
    std::lock_guard<std::mutex> lock(mu);
    slow_done = true;
    cv.notify_all();
  });
  auto quick =
      Measure(*fast_provider, R"({"address":")" + fast.Url() + R"(","query":"up","timeout":10})",
              std::chrono::seconds(4));
  ASSERT_TRUE(quick.has_value()) << "the fast measurement waited for the slow backend";
  EXPECT_EQ(quick->kind, MeasurementUpdate::Kind::kValue);
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_FALSE(slow_done) << "the slow backend answered first: nothing was shown";
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, std::chrono::seconds(20), [&] { return slow_done; });
  EXPECT_TRUE(slow_done);
}

}  // namespace
}  // namespace ramp
