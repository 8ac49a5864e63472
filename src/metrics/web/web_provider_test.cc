#include "metrics/web/web_provider.h"

#include <chrono>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "metrics/common/fake_http_client_testing.h"
#include "metrics/register.h"

namespace ramp::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

class WebProviderTest : public ::testing::Test {
 protected:
  WebProviderTest() : provider_(NewWebProvider(&http_)) {
    ctx_.now = Time(std::chrono::seconds(1700000000));
    metric_.name = "webmetric";
    metric_.provider_type = "web";
  }

  MeasurementUpdate Run(const json& config) {
    metric_.provider_config_json = config.dump();
    std::optional<MeasurementUpdate> out;
    int calls = 0;
    provider_->Run(ctx_, metric_, [&](MeasurementUpdate u) {
      ++calls;
      out = std::move(u);
    });
    EXPECT_EQ(calls, 1);
    return out.value_or(MeasurementUpdate{});
  }

  static json Config(std::string path = "{$.data.ok}") {
    return {{"url", "http://svc:8080/api/health?x=1"}, {"jsonPath", std::move(path)}};
  }

  FakeHttpClient http_;
  std::unique_ptr<MetricProvider> provider_;
  RunContext ctx_;
  MetricRef metric_;
};

TEST_F(WebProviderTest, GetWithHeadersAndDefaults) {
  http_.Reply(200, R"({"data":{"ok":true}})");
  json config = Config();
  config["headers"] = json::array({{{"key", "Authorization"}, {"value", "Bearer t"}}});
  MeasurementUpdate u = Run(config);
  ASSERT_EQ(http_.requests.size(), 1u);
  const HttpRequest& r = http_.requests[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.url, "http://svc:8080/api/health?x=1");
  EXPECT_EQ(*FindHeader(r.headers, "authorization"), "Bearer t");
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.timeout, std::chrono::seconds(10));
  EXPECT_FALSE(r.insecure_skip_verify);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  EXPECT_EQ(u.measurement.value, "true");
  EXPECT_EQ(*u.result, json(true));
}

TEST_F(WebProviderTest, PostJsonBody) {
  http_.Reply(200, R"({"score":0.97})");
  json config = Config("{$.score}");
  config["method"] = "POST";
  config["jsonBody"] = {{"key", "value"}};
  config["timeoutSeconds"] = 3;
  config["insecure"] = true;
  MeasurementUpdate u = Run(config);
  const HttpRequest& r = http_.requests.at(0);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.body, R"({"key":"value"})");
  EXPECT_EQ(*FindHeader(r.headers, "Content-Type"), "application/json");
  EXPECT_EQ(r.timeout, std::chrono::seconds(3));
  EXPECT_TRUE(r.insecure_skip_verify);
  EXPECT_EQ(u.measurement.value, "0.97");
  EXPECT_DOUBLE_EQ(u.result->get<double>(), 0.97);
}

TEST_F(WebProviderTest, PutStringBody) {
  http_.Reply(200, R"({"a":1})");
  json config = Config("{$}");
  config["method"] = "PUT";
  config["body"] = "hello";
  MeasurementUpdate u = Run(config);
  EXPECT_EQ(http_.requests.at(0).method, "PUT");
  EXPECT_EQ(http_.requests.at(0).body, "hello");
  EXPECT_EQ(u.measurement.value, R"({"a":1})");
}

TEST_F(WebProviderTest, JsonPathSubset) {
  const char* body = R"({"data":{"items":[{"v":1},{"v":"two"}],"name":"x"}})";
  EXPECT_EQ(ParseWebResponse(body, "{$.data.items[1].v}")->value_text, "two");
  EXPECT_EQ(ParseWebResponse(body, "{.data.items[0].v}")->value_text, "1");
  EXPECT_EQ(ParseWebResponse(body, "{$['data'].name}")->value_text, "x");
  EXPECT_EQ(ParseWebResponse(body, "")->value_text, json::parse(body).dump());
  EXPECT_EQ(ParseWebResponse(body, "{$.data.items}")->value_text, R"([{"v":1},{"v":"two"}])");
  auto missing = ParseWebResponse(body, "{$.data.nope}");
  ASSERT_FALSE(missing.has_value());
  EXPECT_THAT(missing.error().message(), HasSubstr("$.data.nope is not found"));
  auto wildcard = ParseWebResponse(body, "{$.data.items[*].v}");
  ASSERT_FALSE(wildcard.has_value());
  EXPECT_THAT(wildcard.error().message(), HasSubstr("unsupported jsonPath"));
  EXPECT_FALSE(ParseWebResponse(body, "$.data").has_value());
}

TEST_F(WebProviderTest, PlainTextBodyIsTheResult) {
  http_.Reply(200, "I am OK");
  MeasurementUpdate u = Run(Config());
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue);
  EXPECT_EQ(u.measurement.value, "I am OK");
  EXPECT_EQ(*u.result, json("I am OK"));
}

TEST_F(WebProviderTest, UnsupportedJsonPathFailsBeforeTheCall) {
  MeasurementUpdate u = Run(Config("{$..ok}"));
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("unsupported jsonPath"));
  EXPECT_TRUE(http_.requests.empty());
}

TEST_F(WebProviderTest, BadBackends) {
  struct Case {
    int status;
    std::string body;
    std::string expect;
  } cases[] = {
      {503, "<html><body>Service Unavailable</body></html>",
       "received non 2xx response code: 503: <html><body>Service Unavailable"},
      {404, "", "received non 2xx response code: 404: (empty body)"},
      {200, "", "empty response body"},
      {200, R"({"data":[1]})", "$.data.ok is not found"},
      {200, R"({"status":"error","error":"boom"})", "$.data is not found"},
  };
  for (const Case& c : cases) {
    http_.Reply(c.status, c.body);
    MeasurementUpdate u = Run(Config());
    EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError) << c.body;
    EXPECT_THAT(u.measurement.message, HasSubstr(c.expect)) << c.body;
  }
}

TEST_F(WebProviderTest, TransportErrors) {
  http_.ReplyError(
      DeadlineExceededError("GET http://svc:8080/api/health?x=1: timed out after 10s"));
  EXPECT_THAT(Run(Config()).measurement.message, HasSubstr("timed out"));
  http_.ReplyError(UnavailableError("GET http://svc:8080: connection refused"));
  EXPECT_THAT(Run(Config()).measurement.message, HasSubstr("connection refused"));
  http_.ReplyError(UnavailableError("TLS verification failed: self-signed certificate"));
  EXPECT_THAT(Run(Config()).measurement.message, HasSubstr("self-signed certificate"));
}

TEST_F(WebProviderTest, SecretsAreRedacted) {
  ctx_.secrets = {"tok-123"};
  http_.ReplyError(UnavailableError("GET http://svc:8080/?key=tok-123: connection refused"));
  MeasurementUpdate u = Run(Config());
  EXPECT_THAT(u.measurement.message, Not(HasSubstr("tok-123")));
  EXPECT_THAT(u.measurement.message, HasSubstr("*****"));
}

TEST_F(WebProviderTest, BadConfiguration) {
  EXPECT_THAT(Run({{"url", "svc:8080"}}).measurement.message, HasSubstr("not an http(s) URL"));
  EXPECT_THAT(Run({{"url", "http://svc"}, {"method", "DELETE"}}).measurement.message,
              HasSubstr("method must be GET, POST or PUT"));
  EXPECT_THAT(Run({{"url", "http://svc"},
                   {"authentication", {{"oauth2", {{"tokenUrl", "http://t"}, {"clientId", "c"}}}}}})
                  .measurement.message,
              HasSubstr("missing mandatory parameter in metric for OAuth2 setup"));
  EXPECT_TRUE(http_.requests.empty());
}

TEST_F(WebProviderTest, OAuth2TokenGoesOnTheRequest) {
  http_.Reply(200, "access_token=form-token&token_type=bearer",
              {{"Content-Type", "application/x-www-form-urlencoded"}});
  http_.Reply(200, R"({"ok":true})");
  MeasurementUpdate u = Run(
      {{"url", "http://svc/health"},
       {"jsonPath", "{$.ok}"},
       {"authentication",
        {{"oauth2", {{"tokenUrl", "http://t/token"}, {"clientId", "c"}, {"clientSecret", "s"}}}}}});
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  ASSERT_EQ(http_.requests.size(), 2u);
  EXPECT_EQ(*FindHeader(http_.requests[1].headers, "Authorization"), "Bearer form-token");
}

TEST_F(WebProviderTest, Lifecycle) {
  EXPECT_EQ(provider_->Type(), "web");
  EXPECT_TRUE(provider_->Metadata(metric_).empty());
  int calls = 0;
  provider_->Resume(ctx_, metric_, Measurement{}, [&](MeasurementUpdate u) {
    ++calls;
    EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  });
  provider_->GarbageCollect(ctx_, metric_, 1, [&](Status s) {
    ++calls;
    EXPECT_TRUE(s.ok());
  });
  EXPECT_EQ(calls, 2);
}

TEST(RegisterHttpMetricProvidersTest, RegistersPrometheusWebAndEveryOtherHttpProvider) {
  FakeHttpClient http;
  Registry<MetricProvider> registry("metric provider");
  ASSERT_TRUE(RegisterHttpMetricProviders(registry, &http).ok());
  EXPECT_EQ(registry.Names(),
            (std::vector<std::string>{"cloudwatch", "datadog", "graphite", "influxdb", "newrelic",
                                      "prometheus", "wavefront", "web"}));
  auto web = registry.Create("web");
  ASSERT_TRUE(web.has_value());
  EXPECT_EQ((*web)->Type(), "web");
  EXPECT_EQ((*registry.Create("prometheus"))->Type(), "prometheus");
  EXPECT_EQ(RegisterHttpMetricProviders(registry, &http).code(), StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace ramp::metrics
