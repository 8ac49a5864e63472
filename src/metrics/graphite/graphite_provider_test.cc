#include "metrics/graphite/graphite_provider.h"

#include <chrono>
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

constexpr char kTwoTargets[] =
    R"([{"target":"a","datapoints":[[1,1700000000],[null,1700000060],[2.5,1700000120]]},)"
    R"({"target":"b","datapoints":[[9,1700000000]]}])";

class GraphiteProviderTest : public ::testing::Test {
 protected:
  GraphiteProviderTest() : provider_(NewGraphiteProvider(&http_)) {
    ctx_.now = Time(std::chrono::seconds(1700000000));
    metric_.name = "errors";
    metric_.provider_type = "graphite";
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
    return {{"address", "http://graphite:8080/"},
            {"query", "target=summarize(app.errors, '5min', 'sum')\n &from=-5min"}};
  }

  MeasurementUpdate ErrorFor(int status, const std::string& body) {
    http_.Reply(status, body);
    MeasurementUpdate u = Run(Config());
    EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError) << u.measurement.value;
    return u;
  }

  FakeHttpClient http_;
  std::unique_ptr<MetricProvider> provider_;
  RunContext ctx_;
  MetricRef metric_;
};

TEST_F(GraphiteProviderTest, RequestAndFirstTargetValues) {
  http_.Reply(200, kTwoTargets);
  MeasurementUpdate u = Run(Config());
  ASSERT_EQ(http_.requests.size(), 1u);
  const HttpRequest& r = http_.requests[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.url,
            "http://graphite:8080/render?target=summarize(app.errors,'5min','sum')&from=-5min"
            "&format=json");
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.timeout, std::chrono::seconds(10));
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  EXPECT_EQ(u.measurement.value, "[1.000000,2.500000]");
  EXPECT_EQ(u.measurement.started_at, ctx_.now);
  ASSERT_TRUE(u.result->is_array());
  ASSERT_EQ(u.result->size(), 2u);
  EXPECT_DOUBLE_EQ((*u.result)[1].get<double>(), 2.5);
}

TEST_F(GraphiteProviderTest, StringValuesAccepted) {
  auto r = ParseGraphiteResponse(R"([{"target":"a","datapoints":[["0.5","1700000000"]]}])");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->value_text, "[0.500000]");
}

TEST_F(GraphiteProviderTest, AllNullIsNoValuesFound) {
  MeasurementUpdate u = ErrorFor(200, R"([{"target":"a","datapoints":[[null,1700000000]]}])");
  EXPECT_THAT(u.measurement.message, HasSubstr("no values found"));
}

TEST_F(GraphiteProviderTest, NoTargetsIsNoValuesFound) {
  EXPECT_THAT(ErrorFor(200, "[]").measurement.message, HasSubstr("no values found"));
}

TEST_F(GraphiteProviderTest, BadBodies) {
  EXPECT_THAT(ErrorFor(200, "").measurement.message, HasSubstr("empty response body"));
  EXPECT_THAT(ErrorFor(200, "<!DOCTYPE html><html>login</html>").measurement.message,
              HasSubstr("HTML page"));
  EXPECT_THAT(ErrorFor(200, "NaN").measurement.message, HasSubstr("not JSON"));
  EXPECT_THAT(ErrorFor(200, R"({"target":"a"})").measurement.message,
              HasSubstr("not a JSON array"));
  EXPECT_THAT(ErrorFor(200, R"([{"target":"a"}])").measurement.message,
              HasSubstr("no \"datapoints\""));
  EXPECT_THAT(ErrorFor(200, R"([{"datapoints":[[1]]}])").measurement.message,
              HasSubstr("not [value, timestamp]"));
  EXPECT_THAT(ErrorFor(200, R"([{"datapoints":[[true,1]]}])").measurement.message,
              HasSubstr("not a number"));
}

TEST_F(GraphiteProviderTest, HttpErrors) {
  EXPECT_THAT(ErrorFor(400, "bad target").measurement.message, HasSubstr("HTTP 400: bad target"));
  EXPECT_THAT(ErrorFor(503, "down").measurement.message, HasSubstr("HTTP 503"));
}

TEST_F(GraphiteProviderTest, TransportErrors) {
  http_.ReplyError(DeadlineExceededError("GET http://graphite:8080/render: timed out after 10s"));
  MeasurementUpdate u = Run(Config());
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("timed out"));
  http_.ReplyError(UnavailableError("GET http://graphite:8080/render: connection refused"));
  u = Run(Config());
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("connection refused"));
  http_.ReplyError(UnavailableError("GET https://graphite/render: TLS handshake failed"));
  u = Run(Config());
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("TLS"));
}

TEST_F(GraphiteProviderTest, BadConfigAndSecretsRedacted) {
  MeasurementUpdate u = Run(json{{"query", "target=a"}});
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("address is not configured"));
  u = Run(json{{"address", "graphite:8080"}, {"query", "target=a"}});
  EXPECT_THAT(u.measurement.message, HasSubstr("not in URL format"));
  EXPECT_TRUE(http_.requests.empty());

  ctx_.secrets = {"s3cret"};
  http_.Reply(500, "token s3cret rejected");
  u = Run(Config());
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, Not(HasSubstr("s3cret")));
  EXPECT_THAT(u.measurement.message, HasSubstr("*****"));
}

}  // namespace
}  // namespace ramp::metrics
