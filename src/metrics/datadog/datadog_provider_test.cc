#include "metrics/datadog/datadog_provider.h"

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

constexpr char kV1[] =
    R"({"status":"ok","series":[{"pointlist":[[1699999700000,0.1],[1699999990000,0.25]]},)"
    R"({"pointlist":[[1699999990000,9]]}]})";
constexpr char kV2Grouped[] =
    R"({"data":{"type":"scalar_response","attributes":{"columns":[)"
    R"({"name":"a","type":"group","values":[["env:prod"],["env:dev"],["env:qa"]]},)"
    R"({"name":"a","type":"number","values":[1.5,null,3]}]}}})";
constexpr char kV2Single[] = R"({"data":{"type":"scalar_response","attributes":{"columns":[)"
                             R"({"name":"a","type":"number","values":[0.75]}]}}})";

class DatadogProviderTest : public ::testing::Test {
 protected:
  DatadogProviderTest() {
    ctx_.now = Time(std::chrono::seconds(1700000000) + std::chrono::milliseconds(500));
    metric_.name = "errors";
    metric_.provider_type = "datadog";
    secrets_["datadog/api-key"] = "APIKEY123";
    secrets_["datadog/app-key"] = "APPKEY456";
    DatadogOptions options;
    options.lookup_secret = [this](std::string_view s,
                                   std::string_view k) -> StatusOr<std::string> {
      auto it = secrets_.find(std::string(s) + "/" + std::string(k));
      if (it == secrets_.end()) return Fail(NotFoundError("no such key"));
      return it->second;
    };
    options.getenv = [this](std::string_view n) -> std::optional<std::string> {
      auto it = env_.find(std::string(n));
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    provider_ = NewDatadogProvider(&http_, std::move(options));
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

  static json V1Config() { return {{"apiVersion", "v1"}, {"query", "avg:errors{svc:a}"}}; }
  static json V2Config() { return {{"apiVersion", "v2"}, {"query", "avg:errors{svc:a}"}}; }

  std::map<std::string, std::string> secrets_;
  std::map<std::string, std::string> env_;
  FakeHttpClient http_;
  std::unique_ptr<MetricProvider> provider_;
  RunContext ctx_;
  MetricRef metric_;
};

TEST_F(DatadogProviderTest, V1RequestAndLastPointOfFirstSeries) {
  http_.Reply(200, kV1);
  MeasurementUpdate u = Run(V1Config());
  ASSERT_EQ(http_.requests.size(), 1u);
  const HttpRequest& r = http_.requests[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.url,
            "https://api.datadoghq.com/api/v1/query?from=1699999700&query=avg%3Aerrors%7Bsvc%3Aa%7D"
            "&to=1700000000");
  EXPECT_EQ(*FindHeader(r.headers, "DD-API-KEY"), "APIKEY123");
  EXPECT_EQ(*FindHeader(r.headers, "DD-APPLICATION-KEY"), "APPKEY456");
  EXPECT_EQ(*FindHeader(r.headers, "Content-Type"), "application/json");
  EXPECT_EQ(r.timeout, std::chrono::seconds(10));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  EXPECT_EQ(u.measurement.value, "0.25");
  EXPECT_DOUBLE_EQ(u.result->get<double>(), 0.25);
}

TEST_F(DatadogProviderTest, MissingApiVersionMeansV1) {
  http_.Reply(200, kV1);
  Run({{"query", "q"}, {"interval", "1m"}, {"requestTimeout", "3s"}});
  ASSERT_EQ(http_.requests.size(), 1u);
  EXPECT_EQ(http_.requests[0].method, "GET");
  EXPECT_EQ(http_.requests[0].url,
            "https://api.datadoghq.com/api/v1/query?from=1699999940&query=q&to=1700000000");
  EXPECT_EQ(http_.requests[0].timeout, std::chrono::seconds(3));
}

TEST_F(DatadogProviderTest, V1NoSeriesIsNull) {
  http_.Reply(200, R"({"status":"ok","series":[]})");
  MeasurementUpdate u = Run(V1Config());
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  EXPECT_TRUE(u.result->is_null());
  EXPECT_EQ(u.measurement.value, "[]");
}

TEST_F(DatadogProviderTest, V2RequestBodyAndSingleValue) {
  http_.Reply(200, kV2Single);
  json config = V2Config();
  config["aggregator"] = "avg";
  config["formula"] = "query * 2";
  MeasurementUpdate u = Run(config);
  ASSERT_EQ(http_.requests.size(), 1u);
  const HttpRequest& r = http_.requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "https://api.datadoghq.com/api/v2/query/scalar");
  json body = json::parse(r.body);
  json want = {{"data",
                {{"type", "scalar_request"},
                 {"attributes",
                  {{"from", 1699999700500LL},
                   {"to", 1700000000500LL},
                   {"queries", json::array({{{"data_source", "metrics"},
                                             {"name", "query"},
                                             {"query", "avg:errors{svc:a}"},
                                             {"aggregator", "avg"}}})},
                   {"formulas", json::array({{{"formula", "query * 2"}}})}}}}}};
  EXPECT_EQ(body, want) << body.dump();
  EXPECT_EQ(*FindHeader(r.headers, "DD-API-KEY"), "APIKEY123");
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  EXPECT_EQ(u.measurement.value, "0.75");
  EXPECT_DOUBLE_EQ(u.result->get<double>(), 0.75);
}

TEST_F(DatadogProviderTest, V2DefaultAggregatorLastAndQueries) {
  http_.Reply(200, kV2Single);
  Run({{"apiVersion", "v2"},
       {"queries", {{"a", "sum:x{*}"}, {"b", "sum:y{*}"}}},
       {"formula", "a / b"}});
  ASSERT_EQ(http_.requests.size(), 1u);
  json body = json::parse(http_.requests[0].body);
  const json& queries = body["data"]["attributes"]["queries"];
  ASSERT_EQ(queries.size(), 2u);
  EXPECT_EQ(queries[0]["name"], "a");
  EXPECT_EQ(queries[0]["aggregator"], "last");
  EXPECT_EQ(queries[1]["query"], "sum:y{*}");
}

TEST_F(DatadogProviderTest, V2GroupsKeepTagsAndSkipNulls) {
  http_.Reply(200, kV2Grouped);
  MeasurementUpdate u = Run(V2Config());
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  EXPECT_EQ(u.measurement.value, "[1.5,3]");
  ASSERT_TRUE(u.result->is_array());
  EXPECT_EQ(*u.result, json::array({1.5, 3.0}));
  EXPECT_EQ(u.measurement.metadata["groups"], R"([["env:prod"],["env:qa"]])");
}

TEST_F(DatadogProviderTest, V2NoValuesIsNull) {
  http_.Reply(200, R"({"data":{"type":"scalar_response","attributes":{"columns":[]}}})");
  MeasurementUpdate u = Run(V2Config());
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  EXPECT_TRUE(u.result->is_null());
}

TEST_F(DatadogProviderTest, SecretRefNameAndAddress) {
  secrets_["dd-prod/api-key"] = "K1";
  secrets_["dd-prod/app-key"] = "K2";
  secrets_["dd-prod/address"] = "https://api.datadoghq.eu/";
  http_.Reply(200, kV1);
  json config = V1Config();
  config["secretRef"] = {{"name", "dd-prod"}};
  Run(config);
  ASSERT_EQ(http_.requests.size(), 1u);
  EXPECT_THAT(http_.requests[0].url, ::testing::StartsWith("https://api.datadoghq.eu/api/v1/"));
  EXPECT_EQ(*FindHeader(http_.requests[0].headers, "DD-API-KEY"), "K1");
}

TEST_F(DatadogProviderTest, EnvironmentNeedsAllThree) {
  env_ = {{"DD_API_KEY", "E1"}, {"DD_APP_KEY", "E2"}, {"DD_ADDRESS", "http://dd.local"}};
  http_.Reply(200, kV1);
  Run(V1Config());
  EXPECT_THAT(http_.requests[0].url, ::testing::StartsWith("http://dd.local/api/v1/query?"));
  EXPECT_EQ(*FindHeader(http_.requests[0].headers, "DD-APPLICATION-KEY"), "E2");

  env_.erase("DD_ADDRESS");  // incomplete → Secret "datadog"
  http_.Reply(200, kV1);
  Run(V1Config());
  EXPECT_EQ(*FindHeader(http_.requests[1].headers, "DD-API-KEY"), "APIKEY123");
}

TEST_F(DatadogProviderTest, MissingSecretKeyIsNamed) {
  secrets_.erase("datadog/app-key");
  MeasurementUpdate u = Run(V1Config());
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("\"app-key\" of Secret \"datadog\""));
  EXPECT_TRUE(http_.requests.empty());
}

TEST_F(DatadogProviderTest, BadConfigurations) {
  EXPECT_THAT(Run({{"apiVersion", "v3"}, {"query", "q"}}).measurement.message,
              HasSubstr("apiVersion must be v1 or v2"));
  EXPECT_THAT(
      Run({{"apiVersion", "v2"}, {"query", "q"}, {"aggregator", "median"}}).measurement.message,
      HasSubstr("aggregator \"median\""));
  EXPECT_THAT(Run({{"query", "q"}, {"interval", "5"}}).measurement.message,
              HasSubstr("interval is not a positive duration"));
  EXPECT_THAT(
      Run({{"apiVersion", "v2"}, {"queries", {{"a", "x"}, {"b", "y"}}}}).measurement.message,
      HasSubstr("needs a formula"));
  EXPECT_TRUE(http_.requests.empty());
}

struct BadBackend {
  const char* name;
  int status;
  const char* body;
  const char* message;
};

TEST_F(DatadogProviderTest, BadBackendsAreErrorsWithoutSecrets) {
  const BadBackend cases[] = {
      {"html", 200, "<!DOCTYPE html><html>login</html>", "HTML page"},
      {"empty", 200, "", "empty response body"},
      {"nan", 200, R"({"series":[{"pointlist":[[1,NaN]]}]})", "not JSON"},
      {"shape", 200, R"({"series":{"a":1}})", "\"series\" is not an array"},
      {"string value", 200, R"({"series":[{"pointlist":[[1,"x"]]}]})", "not a number"},
      {"403", 403, R"({"errors":["Forbidden"]})", "HTTP 403: datadog returned an error: Forbidden"},
      {"500", 500, "oops", "HTTP 500: oops"},
      {"200 error", 200, R"({"status":"error","error":"bad query"})", "bad query"},
  };
  for (const BadBackend& c : cases) {
    http_.Reply(c.status, c.body);
    MeasurementUpdate u = Run(V1Config());
    EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError) << c.name;
    EXPECT_THAT(u.measurement.message, HasSubstr(c.message)) << c.name;
    EXPECT_THAT(u.measurement.message, Not(HasSubstr("APIKEY123"))) << c.name;
  }
  http_.Reply(200, R"({"data":{"attributes":{"columns":[{"type":"number","values":["x"]}]}}})");
  EXPECT_THAT(Run(V2Config()).measurement.message, HasSubstr("not a number"));
  http_.Reply(200, R"({"data":[]})");
  EXPECT_THAT(Run(V2Config()).measurement.message, HasSubstr("no \"data\" object"));
}

TEST_F(DatadogProviderTest, SecretsInErrorsAreRedacted) {
  http_.Reply(401, "bad key APIKEY123");
  MeasurementUpdate u = Run(V1Config());
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, Not(HasSubstr("APIKEY123")));
  EXPECT_THAT(u.measurement.message, HasSubstr("*****"));
}

TEST_F(DatadogProviderTest, TransportErrors) {
  http_.ReplyError(DeadlineExceededError("timed out after 10s"));
  EXPECT_THAT(Run(V1Config()).measurement.message, HasSubstr("timed out"));
  http_.ReplyError(UnavailableError("connection refused"));
  EXPECT_THAT(Run(V1Config()).measurement.message, HasSubstr("refused"));
  http_.ReplyError(UnavailableError("TLS handshake failed: certificate verify failed"));
  MeasurementUpdate u = Run(V2Config());
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("certificate"));
}

TEST_F(DatadogProviderTest, HeldReplyCallsDoneOnce) {
  http_.hold = true;
  metric_.provider_config_json = V1Config().dump();
  int calls = 0;
  provider_->Run(ctx_, metric_, [&](MeasurementUpdate) { ++calls; });
  EXPECT_EQ(calls, 0);
  http_.Reply(200, kV1);
  http_.Release();
  EXPECT_EQ(calls, 1);
}

TEST(ParseDatadogResponse, V1NoDataValueIsTheSeriesJson) {
  EXPECT_EQ(ParseDatadogV1Response(R"({"status":"ok"})")->value_text, "null");
  EXPECT_EQ(ParseDatadogV1Response(R"({"series":[{"pointlist":[]}]})")->value_text,
            R"([{"pointlist":[]}])");
}

TEST(ParseDatadogResponse, PureFunctions) {
  auto v1 = ParseDatadogV1Response(R"({"series":[{"pointlist":[[1,null]]}]})");
  ASSERT_TRUE(static_cast<bool>(v1));
  EXPECT_TRUE(v1->result->is_null());
  auto v2 = ParseDatadogV2Response(kV2Single);
  ASSERT_TRUE(static_cast<bool>(v2));
  EXPECT_EQ(v2->value_text, "0.75");
}

}  // namespace
}  // namespace ramp::metrics
