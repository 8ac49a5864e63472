#include "metrics/prometheus/prometheus_provider.h"

#include <chrono>
#include <cmath>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "metrics/common/fake_http_client_testing.h"

namespace ramp::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

constexpr char kVector[] =
    R"({"status":"success","data":{"resultType":"vector","result":[)"
    R"({"metric":{"a":"1"},"value":[1700000000,"0.99"]},{"metric":{},"value":[1700000000,"NaN"]}]}})";

class PrometheusProviderTest : public ::testing::Test {
 protected:
  PrometheusProviderTest() : provider_(NewPrometheusProvider(&http_)) {
    ctx_.now = Time(std::chrono::seconds(1700000000) + std::chrono::milliseconds(500));
    metric_.name = "success-rate";
    metric_.provider_type = "prometheus";
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

  static json Config() {
    return {{"address", "http://prom:9090/"}, {"query", "sum(rate(x[5m])) / 2"}};
  }

  FakeHttpClient http_;
  std::unique_ptr<MetricProvider> provider_;
  RunContext ctx_;
  MetricRef metric_;
};

TEST_F(PrometheusProviderTest, InstantQueryRequestAndVectorResult) {
  http_.Reply(200, kVector);
  json config = Config();
  config["headers"] = json::array({{{"key", "X-Scope-OrgID"}, {"value", "team"}}});
  config["timeout"] = 5;
  config["insecure"] = true;
  MeasurementUpdate u = Run(config);
  ASSERT_EQ(http_.requests.size(), 1u);
  const HttpRequest& r = http_.requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "http://prom:9090/api/v1/query");
  EXPECT_EQ(r.body, "query=sum%28rate%28x%5B5m%5D%29%29+%2F+2&time=1700000000.5");
  ASSERT_NE(FindHeader(r.headers, "x-scope-orgid"), nullptr);
  EXPECT_EQ(*FindHeader(r.headers, "X-Scope-OrgID"), "team");
  EXPECT_EQ(*FindHeader(r.headers, "Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(r.timeout, std::chrono::seconds(5));
  EXPECT_TRUE(r.insecure_skip_verify);

  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  EXPECT_EQ(u.measurement.value, "[0.99,NaN]");
  EXPECT_EQ(u.measurement.started_at, ctx_.now);
  ASSERT_TRUE(u.result->is_array());
  ASSERT_EQ(u.result->size(), 2u);
  EXPECT_DOUBLE_EQ((*u.result)[0].get<double>(), 0.99);
  EXPECT_TRUE(std::isnan((*u.result)[1].get<double>()));
}

TEST_F(PrometheusProviderTest, DefaultTimeoutIsThirtySeconds) {
  http_.Reply(200, kVector);
  Run(Config());
  ASSERT_EQ(http_.requests.size(), 1u);
  EXPECT_EQ(http_.requests[0].timeout, std::chrono::seconds(30));
  EXPECT_FALSE(http_.requests[0].insecure_skip_verify);
}

TEST_F(PrometheusProviderTest, FallsBackToGetOn405) {
  http_.Reply(405, "method not allowed");
  http_.Reply(200, kVector);
  MeasurementUpdate u = Run(Config());
  ASSERT_EQ(http_.requests.size(), 2u);
  EXPECT_EQ(http_.requests[1].method, "GET");
  EXPECT_EQ(
      http_.requests[1].url,
      "http://prom:9090/api/v1/query?query=sum%28rate%28x%5B5m%5D%29%29+%2F+2&time=1700000000.5");
  EXPECT_TRUE(http_.requests[1].body.empty());
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kValue);
}

TEST_F(PrometheusProviderTest, BasicAuthHeader) {
  http_.Reply(200, kVector);
  json config = Config();
  config["authentication"] = {{"basicAuth", {{"username", "user"}, {"password", "pass"}}}};
  Run(config);
  ASSERT_EQ(http_.requests.size(), 1u);
  EXPECT_EQ(*FindHeader(http_.requests[0].headers, "Authorization"), "Basic dXNlcjpwYXNz");
}

TEST_F(PrometheusProviderTest, OAuth2NeedsClientIdAndSecret) {
  json config = Config();
  config["authentication"] = {{"oauth2", {{"tokenUrl", "http://t"}, {"clientId", "c"}}}};
  MeasurementUpdate u = Run(config);
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("missing mandatory parameter"));
  EXPECT_TRUE(http_.requests.empty());
}

TEST_F(PrometheusProviderTest, OAuth2ClientCredentialsTokenIsSentAndKept) {
  json config = Config();
  config["authentication"] = {{"oauth2",
                               {{"tokenUrl", "https://auth.example/token"},
                                {"clientId", "ramp"},
                                {"clientSecret", "s3cret"},
                                {"scopes", {"read", "metrics"}}}}};
  http_.Reply(200, R"({"access_token":"tok-1","token_type":"bearer","expires_in":3600})");
  http_.Reply(200, R"({"status":"success","data":{"resultType":"scalar","result":[0,"1"]}})");
  http_.Reply(200, R"({"status":"success","data":{"resultType":"scalar","result":[0,"1"]}})");
  MeasurementUpdate first = Run(config);
  MeasurementUpdate second = Run(config);
  EXPECT_EQ(first.kind, MeasurementUpdate::Kind::kValue) << first.measurement.message;
  EXPECT_EQ(second.kind, MeasurementUpdate::Kind::kValue) << second.measurement.message;
  ASSERT_EQ(http_.requests.size(), 3u) << "the token is fetched once";
  const HttpRequest& token = http_.requests[0];
  EXPECT_EQ(token.url, "https://auth.example/token");
  EXPECT_EQ(token.body, "grant_type=client_credentials&scope=read+metrics");
  EXPECT_EQ(*FindHeader(token.headers, "Authorization"), "Basic cmFtcDpzM2NyZXQ=");
  EXPECT_EQ(*FindHeader(http_.requests[1].headers, "Authorization"), "Bearer tok-1");
  EXPECT_EQ(*FindHeader(http_.requests[2].headers, "Authorization"), "Bearer tok-1");
}

TEST_F(PrometheusProviderTest, OAuth2RetriesWithCredentialsInTheFormThenReportsTheAnswer) {
  json config = Config();
  config["authentication"] = {
      {"oauth2", {{"tokenUrl", "http://t/token"}, {"clientId", "c"}, {"clientSecret", "s3cret"}}}};
  http_.Reply(401, R"({"error":"invalid_client"})");
  http_.Reply(400, R"({"error":"invalid_client","error_description":"bad s3cret"})");
  MeasurementUpdate u = Run(config);
  ASSERT_EQ(http_.requests.size(), 2u);
  EXPECT_EQ(http_.requests[1].body,
            "grant_type=client_credentials&client_id=c&client_secret=s3cret");
  EXPECT_EQ(FindHeader(http_.requests[1].headers, "Authorization"), nullptr);
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message,
              HasSubstr("cannot fetch a token from http://t/token: HTTP 400"));
  EXPECT_THAT(u.measurement.message, Not(HasSubstr("s3cret")));
}

TEST_F(PrometheusProviderTest, Sigv4OnlyForAmazonManagedPrometheus) {
  json config = Config();
  config["authentication"] = {{"sigv4", {{"region", "us-east-1"}}}};
  http_.Reply(200, kVector);
  EXPECT_EQ(Run(config).kind, MeasurementUpdate::Kind::kValue);
  config["address"] = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1";
  MeasurementUpdate u = Run(config);
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("sigv4 needs AWS credentials"));
  config["authentication"]["sigv4"]["roleArn"] = "arn:aws:iam::1:role/r";
  EXPECT_THAT(Run(config).measurement.message, HasSubstr("roleArn is not supported yet"));
}

TEST(PrometheusSigV4Test, SignsTheQueryForAmazonManagedPrometheus) {
  FakeHttpClient http;
  auto provider = NewPrometheusProvider(
      &http, PrometheusOptions{{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""},
                               "eu-west-1"});
  http.Reply(200, kVector);
  MetricRef metric;
  metric.name = "m";
  metric.provider_type = "prometheus";
  metric.provider_config_json =
      json{{"address", "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1"},
           {"query", "up"},
           {"authentication", {{"sigv4", {{"region", "us-east-1"}}}}}}
          .dump();
  RunContext ctx;
  ctx.now = Time(std::chrono::seconds(1'440'938'160));  // 2015-08-30T12:36:00Z
  std::optional<MeasurementUpdate> got;
  provider->Run(ctx, metric, [&](MeasurementUpdate u) { got = std::move(u); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->kind, MeasurementUpdate::Kind::kValue) << got->measurement.message;
  ASSERT_EQ(http.requests.size(), 1u);
  const HttpRequest& req = http.requests[0];
  EXPECT_EQ(req.url, "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/query");
  const std::string* authorization = FindHeader(req.headers, "Authorization");
  ASSERT_NE(authorization, nullptr);
  EXPECT_THAT(*authorization,
              HasSubstr("Credential=AKIDEXAMPLE/20150830/us-east-1/aps/aws4_request"));
  EXPECT_EQ(*FindHeader(req.headers, "X-Amz-Date"), "20150830T123600Z");
  // The signature covers what is sent: signing the same request again gives the same value.
  auth::SigV4Request again;
  again.method = "POST";
  again.host = "aps-workspaces.us-east-1.amazonaws.com";
  again.path = "/workspaces/ws-1/api/v1/query";
  for (const auto& h : req.headers) {
    if (h.first != "Authorization" && h.first != "X-Amz-Date") again.headers.push_back(h);
  }
  again.body = req.body;
  EXPECT_EQ(auth::SignV4(again, {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""},
                         "us-east-1", "aps", ctx.now)
                .authorization,
            *authorization);
}

TEST_F(PrometheusProviderTest, RangeQueryEvaluatesStartAndEnd) {
  http_.Reply(200, R"({"status":"success","data":{"resultType":"matrix","result":[
      {"metric":{"a":"1"},"values":[[1,"1"],[2,"2"]]},
      {"metric":{"a":"2"},"values":[[1,"+Inf"]]}]}})");
  json config = Config();
  config["rangeQuery"] = {{"start", "now() - duration(\"10m\")"}, {"end", "now()"}, {"step", "1m"}};
  MeasurementUpdate u = Run(config);
  ASSERT_EQ(http_.requests.size(), 1u);
  EXPECT_EQ(http_.requests[0].url, "http://prom:9090/api/v1/query_range");
  EXPECT_EQ(http_.requests[0].body,
            "end=1700000000.5&query=sum%28rate%28x%5B5m%5D%29%29+%2F+2&start=1699999400.5&step=60");
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  EXPECT_EQ(u.measurement.value, "[1,2,+Inf]");
  ASSERT_EQ(u.result->size(), 3u);
  EXPECT_TRUE(std::isinf((*u.result)[2].get<double>()));
}

TEST_F(PrometheusProviderTest, RangeQueryBadExpressionIsAnError) {
  json config = Config();
  config["rangeQuery"] = {{"start", "now() -"}, {"end", "now()"}, {"step", "1m"}};
  MeasurementUpdate u = Run(config);
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("rangeQuery.start"));
  config["rangeQuery"] = {{"start", "1"}, {"end", "now()"}, {"step", "1m"}};
  EXPECT_THAT(Run(config).measurement.message, HasSubstr("must evaluate to a time"));
  config["rangeQuery"] = {{"start", "now()"}, {"end", "now()"}, {"step", "soon"}};
  EXPECT_THAT(Run(config).measurement.message, HasSubstr("rangeQuery.step"));
  EXPECT_TRUE(http_.requests.empty());
}

TEST_F(PrometheusProviderTest, ScalarResult) {
  http_.Reply(200, R"({"status":"success","data":{"resultType":"scalar","result":[1,"100"]}})");
  MeasurementUpdate u = Run(Config());
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue);
  EXPECT_EQ(u.measurement.value, "100");
  EXPECT_DOUBLE_EQ(u.result->get<double>(), 100.0);
}

TEST_F(PrometheusProviderTest, EmptyVectorIsAnEmptyList) {
  http_.Reply(200, R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  MeasurementUpdate u = Run(Config());
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue);
  EXPECT_EQ(u.measurement.value, "[]");
  EXPECT_TRUE(u.result->is_array());
  EXPECT_TRUE(u.result->empty());
}

TEST_F(PrometheusProviderTest, WarningsGoToMetadata) {
  http_.Reply(200, R"({"status":"success","warnings":["w1","w2"],
      "data":{"resultType":"scalar","result":[1,"0.5"]}})");
  MeasurementUpdate u = Run(Config());
  EXPECT_EQ(u.measurement.metadata.at("warnings"), "\"w1\", \"w2\"");
}

TEST_F(PrometheusProviderTest, StringResultIsNotSupported) {
  http_.Reply(200, R"({"status":"success","data":{"resultType":"string","result":[1,"x"]}})");
  MeasurementUpdate u = Run(Config());
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("Prometheus metric type not supported"));
}

TEST_F(PrometheusProviderTest, BadBackends) {
  struct Case {
    int status;
    std::string body;
    std::string expect;
  } cases[] = {
      {200, "<!DOCTYPE html><html><body>Bad gateway</body></html>", "HTML page"},
      {200, "", "empty response body"},
      {200, "   \n", "empty response body"},
      {200, "{\"status\":\"success\"", "not JSON"},
      {200, "[1,2]", "not a JSON object"},
      {200, R"({"status":"success","data":{"resultType":"vector","result":[{"value":[1,"x"]}]}})",
       "no valid \"value\""},
      {200, R"({"status":"success","data":{}})", "data.resultType"},
      {400, R"({"status":"error","errorType":"bad_data","error":"parse error at char 5"})",
       "HTTP 400: prometheus returned an error: bad_data: parse error at char 5"},
      {200, R"({"status":"error","errorType":"timeout","error":"query timed out"})",
       "timeout: query timed out"},
      {503, "<html><body>Service Unavailable</body></html>", "HTTP 503: <html><body>Service"},
      {404, "404 page not found", "HTTP 404: 404 page not found"},
  };
  for (const Case& c : cases) {
    http_.Reply(c.status, c.body);
    MeasurementUpdate u = Run(Config());
    EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError) << c.body;
    EXPECT_EQ(u.measurement.phase, AnalysisPhase::kError);
    EXPECT_THAT(u.measurement.message, HasSubstr(c.expect)) << c.body;
    EXPECT_EQ(u.result, nullptr);
  }
}

TEST_F(PrometheusProviderTest, TransportErrors) {
  http_.ReplyError(
      DeadlineExceededError("POST http://prom:9090/api/v1/query: timed out after 30s"));
  EXPECT_THAT(Run(Config()).measurement.message, HasSubstr("timed out"));
  http_.ReplyError(UnavailableError("POST http://prom:9090/api/v1/query: connection refused"));
  EXPECT_THAT(Run(Config()).measurement.message, HasSubstr("connection refused"));
  http_.ReplyError(UnavailableError("TLS handshake failed: certificate verify failed"));
  MeasurementUpdate u = Run(Config());
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("certificate verify failed"));
}

TEST_F(PrometheusProviderTest, SecretsAreRedacted) {
  ctx_.secrets = {"s3cr3t"};
  http_.Reply(500, "upstream said: token s3cr3t rejected");
  MeasurementUpdate u = Run(Config());
  EXPECT_THAT(u.measurement.message, Not(HasSubstr("s3cr3t")));
  EXPECT_THAT(u.measurement.message, HasSubstr("*****"));
  http_.Reply(200, R"({"status":"success","warnings":["s3cr3t"],
      "data":{"resultType":"scalar","result":[1,"0.5"]}})");
  u = Run(Config());
  EXPECT_EQ(u.measurement.metadata.at("warnings"), "\"*****\"");
}

TEST_F(PrometheusProviderTest, BadConfiguration) {
  EXPECT_THAT(Run({{"query", "up"}}).measurement.message, HasSubstr("address is not configured"));
  EXPECT_THAT(Run({{"address", "prom:9090"}, {"query", "up"}}).measurement.message,
              HasSubstr("not in URL format"));
  json config = Config();
  config["timeout"] = -1;
  EXPECT_THAT(Run(config).measurement.message, HasSubstr("timeout should not be negative"));
  EXPECT_TRUE(http_.requests.empty());
}

TEST_F(PrometheusProviderTest, AnswersLaterThroughTheCallback) {
  http_.hold = true;
  http_.Reply(200, kVector);
  metric_.provider_config_json = Config().dump();
  int calls = 0;
  provider_->Run(ctx_, metric_, [&](MeasurementUpdate u) {
    ++calls;
    EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kValue);
  });
  EXPECT_EQ(calls, 0);
  http_.Release();
  EXPECT_EQ(calls, 1);
}

TEST_F(PrometheusProviderTest, MetadataAndLifecycle) {
  metric_.provider_config_json = Config().dump();
  EXPECT_EQ(provider_->Type(), "prometheus");
  EXPECT_EQ(provider_->Metadata(metric_).at("ResolvedPrometheusQuery"), "sum(rate(x[5m])) / 2");
  int calls = 0;
  provider_->Resume(ctx_, metric_, Measurement{}, [&](MeasurementUpdate u) {
    ++calls;
    EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  });
  provider_->Terminate(ctx_, metric_, Measurement{}, [&](MeasurementUpdate u) {
    ++calls;
    EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  });
  provider_->GarbageCollect(ctx_, metric_, 1, [&](Status s) {
    ++calls;
    EXPECT_TRUE(s.ok());
  });
  EXPECT_EQ(calls, 3);
}

TEST(ParsePrometheusResponseTest, ValueTextAsGoPrintsIt) {
  auto r = ParsePrometheusResponse(
      R"({"status":"success","data":{"resultType":"vector","result":[
          {"value":[1,"1e-7"]},{"value":[1,"123456789012"]},{"value":[1,"-Inf"]}]}})");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->value_text, "[0.0000001,123456789012,-Inf]");
}

}  // namespace
}  // namespace ramp::metrics
