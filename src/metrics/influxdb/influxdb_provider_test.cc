#include "metrics/influxdb/influxdb_provider.h"

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

constexpr char kCsv[] =
    "#datatype,string,long,dateTime:RFC3339,double,string\r\n"
    "#group,false,false,false,false,true\r\n"
    "#default,_result,,,,\r\n"
    ",result,table,_time,_value,_field\r\n"
    ",,0,2023-11-14T22:13:20Z,1.5,rate\r\n"
    ",,0,2023-11-14T22:14:20Z,2,rate\r\n"
    "\r\n"
    "#datatype,string,long,dateTime:RFC3339,boolean,string\r\n"
    "#group,false,false,false,false,true\r\n"
    "#default,_result,,,,\r\n"
    ",result,table,_time,_value,_field\r\n"
    ",,1,2023-11-14T22:13:20Z,true,\"ok,flag\"\r\n"
    "\r\n";

class InfluxDbProviderTest : public ::testing::Test {
 protected:
  InfluxDbProviderTest() {
    secret_ = {{"authToken", "infl-t0ken"}, {"org", "my org"}, {"address", "http://influx:8086/"}};
    InfluxDbOptions options;
    options.secret_lookup = [this](std::string_view secret,
                                   std::string_view key) -> StatusOr<std::string> {
      auto it = secret_.find(std::string(key));
      if (secret != "influxdb" || it == secret_.end()) return Fail(NotFoundError("not found"));
      return it->second;
    };
    provider_ = NewInfluxDbProvider(&http_, std::move(options));
    ctx_.now = Time(std::chrono::seconds(1700000000));
    metric_.name = "rate";
    metric_.provider_type = "influxdb";
  }

  MeasurementUpdate Run(const json& config = Config()) {
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

  static json Config() { return {{"query", "from(bucket: \"b\") |> range(start: -5m)"}}; }

  MeasurementUpdate ErrorFor(int status, const std::string& body) {
    http_.Reply(status, body);
    MeasurementUpdate u = Run();
    EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError) << u.measurement.value;
    return u;
  }

  std::map<std::string, std::string> secret_;
  FakeHttpClient http_;
  std::unique_ptr<MetricProvider> provider_;
  RunContext ctx_;
  MetricRef metric_;
};

TEST_F(InfluxDbProviderTest, RequestAndValues) {
  http_.Reply(200, kCsv);
  MeasurementUpdate u = Run();
  ASSERT_EQ(http_.requests.size(), 1u);
  const HttpRequest& r = http_.requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "http://influx:8086/api/v2/query?org=my+org");
  EXPECT_EQ(r.body, "from(bucket: \"b\") |> range(start: -5m)");
  EXPECT_EQ(*FindHeader(r.headers, "Authorization"), "Token infl-t0ken");
  EXPECT_EQ(*FindHeader(r.headers, "Content-Type"), "application/vnd.flux");
  EXPECT_EQ(r.timeout, std::chrono::seconds(30));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  EXPECT_EQ(u.measurement.value, "[1.5 2 true]");
  EXPECT_EQ(*u.result, json::parse("[1.5, 2.0, true]"));
}

TEST_F(InfluxDbProviderTest, LongAndStringValues) {
  auto r = ParseInfluxDbResponse(
      "#datatype,string,long,long\n,result,table,_value\n,,0,42\n\n"
      "#datatype,string,long,string\n,result,table,_value\n,,1,\"a \"\"b\"\"\"\n");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->value_text, "[42 a \"b\"]");
  EXPECT_EQ((*r->result)[0], json(42));
}

TEST_F(InfluxDbProviderTest, BadBodies) {
  EXPECT_THAT(ErrorFor(200, "").measurement.message, HasSubstr("empty response body"));
  EXPECT_THAT(ErrorFor(200, "\r\n").measurement.message, HasSubstr("empty response body"));
  EXPECT_THAT(
      ErrorFor(200, "#datatype,string,long,double\n,result,table,_value\n\n").measurement.message,
      HasSubstr("no results returned"));
  EXPECT_THAT(ErrorFor(200, "<!DOCTYPE html><html></html>").measurement.message,
              HasSubstr("HTML page"));
  EXPECT_THAT(ErrorFor(200, R"({"a":1})").measurement.message, HasSubstr("is JSON"));
  EXPECT_THAT(
      ErrorFor(200, "#datatype,string,double\n,result,_value\n,,NaNx\n").measurement.message,
      HasSubstr("is not a double"));
  EXPECT_THAT(ErrorFor(200, ",result,table,_time\n,,0,x\n").measurement.message,
              HasSubstr("no _value column"));
  EXPECT_THAT(ErrorFor(200, ",result,_value\n,,1,2\n").measurement.message, HasSubstr("fields"));
  EXPECT_THAT(ErrorFor(200, "#datatype,string,string\n,error,reference\n,bad flux,897\n")
                  .measurement.message,
              HasSubstr("query error: bad flux"));
}

TEST_F(InfluxDbProviderTest, HttpAndTransportErrors) {
  EXPECT_THAT(
      ErrorFor(400, R"({"code":"invalid","message":"compilation failed"})").measurement.message,
      HasSubstr("HTTP 400: compilation failed"));
  EXPECT_THAT(ErrorFor(503, "down").measurement.message, HasSubstr("HTTP 503: down"));
  for (const Status& s : {DeadlineExceededError("POST http://x: timed out after 30s"),
                          UnavailableError("POST http://x: connection refused"),
                          UnavailableError("POST https://x: TLS handshake failed")}) {
    http_.ReplyError(s);
    MeasurementUpdate u = Run();
    ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
    EXPECT_THAT(u.measurement.message, HasSubstr(s.message().substr(15)));
  }
}

TEST_F(InfluxDbProviderTest, SecretsMissingAndRedacted) {
  secret_.erase("org");
  MeasurementUpdate u = Run();
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("key \"org\" of Secret \"influxdb\""));
  u = Run(json{{"profile", "other"}, {"query", "x"}});
  EXPECT_THAT(u.measurement.message, HasSubstr("Secret \"other\""));
  EXPECT_TRUE(http_.requests.empty());

  secret_["org"] = "o";
  http_.Reply(401, "token infl-t0ken is invalid");
  u = Run();
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, Not(HasSubstr("infl-t0ken")));

  auto none = NewInfluxDbProvider(&http_, InfluxDbOptions{});
  std::string message;
  none->Run(ctx_, metric_, [&](MeasurementUpdate x) { message = x.measurement.message; });
  EXPECT_THAT(message, HasSubstr("no source for Secret \"influxdb\""));
}

}  // namespace
}  // namespace ramp::metrics
