#include "metrics/cloudwatch/cloudwatch_provider.h"

#include <chrono>
#include <map>
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

constexpr char kAnswer[] =
    R"({"MetricDataResults":[{"Id":"rate","Label":"5xx","StatusCode":"Complete",)"
    R"("Timestamps":[1700000000,1699999940],"Values":[0.01,0.5],"Messages":[]},)"
    R"({"Id":"b","Label":"b","StatusCode":"PartialData","Timestamps":[],"Values":[],)"
    R"("Messages":[{"Code":"MaxQueryTimeRangeExceed","Value":"too long"}]}],)"
    R"("Messages":[{"Code":"Warn","Value":"w"}]})";

CloudWatchOptions Options() {
  CloudWatchOptions o;
  o.credentials = {"AKIDEXAMPLE", "SECRETKEYEXAMPLE", "SESSIONTOKEN"};
  o.region = "us-east-1";
  return o;
}

class CloudWatchProviderTest : public ::testing::Test {
 protected:
  CloudWatchProviderTest() : provider_(NewCloudWatchProvider(&http_, Options())) {
    ctx_.now = Time(std::chrono::seconds(1700000000));
    metric_.name = "errors";
    metric_.provider_type = "cloudwatch";
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
    return {
        {"interval", "10m"},
        {"metricDataQueries",
         json::array({{{"id", "rate"},
                       {"label", "5xx"},
                       {"returnData", true},
                       {"metricStat",
                        {{"metric",
                          {{"namespace", "AWS/ApplicationELB"},
                           {"metricName", "HTTPCode_Target_5XX_Count"},
                           {"dimensions", json::array({{{"name", "LB"}, {"value", "app/x"}}})}}},
                         {"period", "300"},
                         {"stat", "Sum"},
                         {"unit", "Count"}}}},
                      {{"id", "b"}, {"expression", "rate * 2"}, {"period", 60}}})}};
  }

  FakeHttpClient http_;
  std::unique_ptr<MetricProvider> provider_;
  RunContext ctx_;
  MetricRef metric_;
};

TEST_F(CloudWatchProviderTest, SignedRequestAndResults) {
  http_.Reply(200, kAnswer);
  MeasurementUpdate u = Run(Config());
  ASSERT_EQ(http_.requests.size(), 1u);
  const HttpRequest& r = http_.requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "https://monitoring.us-east-1.amazonaws.com/");
  EXPECT_EQ(*FindHeader(r.headers, "X-Amz-Target"), "GraniteServiceVersion20100801.GetMetricData");
  EXPECT_EQ(*FindHeader(r.headers, "Content-Type"), "application/x-amz-json-1.0");
  EXPECT_EQ(*FindHeader(r.headers, "X-Amz-Security-Token"), "SESSIONTOKEN");
  json body = json::parse(r.body);
  json want = {
      {"StartTime", 1699999400},
      {"EndTime", 1700000000},
      {"MetricDataQueries",
       json::array({{{"Id", "rate"},
                     {"Label", "5xx"},
                     {"ReturnData", true},
                     {"MetricStat",
                      {{"Metric",
                        {{"Namespace", "AWS/ApplicationELB"},
                         {"MetricName", "HTTPCode_Target_5XX_Count"},
                         {"Dimensions", json::array({{{"Name", "LB"}, {"Value", "app/x"}}})}}},
                       {"Period", 300},
                       {"Stat", "Sum"},
                       {"Unit", "Count"}}}},
                    {{"Id", "b"}, {"Expression", "rate * 2"}, {"Period", 60}}})}};
  EXPECT_EQ(body, want) << body.dump();

  auth::SigV4Request sign;
  sign.method = "POST";
  sign.host = "monitoring.us-east-1.amazonaws.com";
  sign.path = "/";
  sign.headers = {{"Content-Type", "application/x-amz-json-1.0"},
                  {"X-Amz-Target", "GraniteServiceVersion20100801.GetMetricData"}};
  sign.body = r.body;
  auth::SigV4Result expected =
      auth::SignV4(sign, Options().credentials, "us-east-1", "monitoring", ctx_.now);
  ASSERT_NE(FindHeader(r.headers, "Authorization"), nullptr);
  EXPECT_EQ(*FindHeader(r.headers, "Authorization"), expected.authorization);
  EXPECT_THAT(expected.authorization,
              HasSubstr("Credential=AKIDEXAMPLE/20231114/us-east-1/monitoring/aws4_request"));
  EXPECT_EQ(*FindHeader(r.headers, "X-Amz-Date"), "20231114T221320Z");

  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  EXPECT_EQ(u.measurement.value, "[[0.01,0.5],[]]");
  ASSERT_EQ(u.result->size(), 2u);
  const json& first = (*u.result)[0];
  EXPECT_EQ(first["Id"], "rate");
  EXPECT_EQ(first["Label"], "5xx");
  EXPECT_EQ(first["StatusCode"], "Complete");
  EXPECT_EQ(first["Values"], json::array({0.01, 0.5}));
  EXPECT_EQ(first["Timestamps"][0], "2023-11-14T22:13:20Z");
  EXPECT_EQ((*u.result)[1]["Messages"][0]["Code"], "MaxQueryTimeRangeExceed");
  EXPECT_EQ(u.measurement.metadata["messages"], R"([{"Code":"Warn","Value":"w"}])");
}

TEST_F(CloudWatchProviderTest, DefaultIntervalIsFiveMinutes) {
  http_.Reply(200, R"({"MetricDataResults":[]})");
  json config = Config();
  config.erase("interval");
  MeasurementUpdate u = Run(config);
  EXPECT_EQ(json::parse(http_.requests[0].body)["StartTime"], 1699999700);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue);
  EXPECT_TRUE(u.result->empty());
  EXPECT_EQ(u.measurement.value, "[]");
}

TEST_F(CloudWatchProviderTest, MissingCredentialsOrRegion) {
  provider_ = NewCloudWatchProvider(&http_, CloudWatchOptions{});
  EXPECT_THAT(Run(Config()).measurement.message, HasSubstr("no AWS region"));
  CloudWatchOptions o = Options();
  o.credentials = {};
  provider_ = NewCloudWatchProvider(&http_, o);
  EXPECT_THAT(Run(Config()).measurement.message, HasSubstr("AWS_ACCESS_KEY_ID"));
  EXPECT_TRUE(http_.requests.empty());
}

TEST_F(CloudWatchProviderTest, OptionsFromEnv) {
  std::map<std::string, std::string> env = {{"AWS_ACCESS_KEY_ID", "A"},
                                            {"AWS_SECRET_ACCESS_KEY", "S"},
                                            {"AWS_DEFAULT_REGION", "eu-west-1"}};
  CloudWatchOptions o = CloudWatchOptionsFromEnv([&](std::string_view n) {
    auto it = env.find(std::string(n));
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  });
  EXPECT_EQ(o.credentials.access_key_id, "A");
  EXPECT_EQ(o.credentials.secret_access_key, "S");
  EXPECT_EQ(o.credentials.session_token, "");
  EXPECT_EQ(o.region, "eu-west-1");
}

TEST_F(CloudWatchProviderTest, BadConfigurations) {
  EXPECT_THAT(Run({{"metricDataQueries", json::array()}}).measurement.message,
              HasSubstr("metricDataQueries is empty"));
  EXPECT_THAT(Run({{"interval", "5"}, {"metricDataQueries", json::array({{{"id", "a"}}})}})
                  .measurement.message,
              HasSubstr("interval is not a positive duration"));
  EXPECT_THAT(Run({{"metricDataQueries", json::array({{{"id", "a"}, {"period", "x"}}})}})
                  .measurement.message,
              HasSubstr("period of query a is not an integer"));
  EXPECT_TRUE(http_.requests.empty());
}

struct BadBackend {
  const char* name;
  int status;
  const char* body;
  const char* message;
};

TEST_F(CloudWatchProviderTest, BadBackends) {
  const BadBackend cases[] = {
      {"html", 200, "<!doctype html><html></html>", "HTML page"},
      {"empty", 200, "", "empty response body"},
      {"nan", 200, R"({"MetricDataResults":[{"Values":[NaN]}]})", "not JSON"},
      {"shape", 200, R"({"Results":[]})", "no MetricDataResults array"},
      {"value", 200, R"({"MetricDataResults":[{"Values":["x"]}]})", "not a number"},
      {"403", 403,
       R"({"__type":"com.amazon.coral.service#AccessDeniedException",)"
       R"("message":"denied SECRETKEYEXAMPLE"})",
       "HTTP 403: AWS returned AccessDeniedException: denied *****"},
      {"500", 500, "internal", "HTTP 500: internal"},
  };
  for (const BadBackend& c : cases) {
    http_.Reply(c.status, c.body);
    MeasurementUpdate u = Run(Config());
    EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError) << c.name;
    EXPECT_THAT(u.measurement.message, HasSubstr(c.message)) << c.name;
    EXPECT_THAT(u.measurement.message, Not(HasSubstr("SECRETKEYEXAMPLE"))) << c.name;
  }
}

TEST_F(CloudWatchProviderTest, TransportErrors) {
  http_.ReplyError(DeadlineExceededError("timed out after 30s"));
  EXPECT_THAT(Run(Config()).measurement.message, HasSubstr("timed out"));
  http_.ReplyError(UnavailableError("connection refused"));
  EXPECT_THAT(Run(Config()).measurement.message, HasSubstr("refused"));
  http_.ReplyError(UnavailableError("TLS handshake failed"));
  EXPECT_THAT(Run(Config()).measurement.message, HasSubstr("TLS"));
}

TEST_F(CloudWatchProviderTest, HeldReplyCallsDoneOnce) {
  http_.hold = true;
  metric_.provider_config_json = Config().dump();
  int calls = 0;
  provider_->Run(ctx_, metric_, [&](MeasurementUpdate) { ++calls; });
  EXPECT_EQ(calls, 0);
  http_.Reply(200, kAnswer);
  http_.Release();
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace ramp::metrics
