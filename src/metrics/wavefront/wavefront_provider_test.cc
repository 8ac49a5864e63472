#include "metrics/wavefront/wavefront_provider.h"

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

constexpr char kToken[] = "wf-t0ken";

class WavefrontProviderTest : public ::testing::Test {
 protected:
  WavefrontProviderTest() {
    WavefrontOptions options;
    options.secret_lookup = [this](std::string_view secret,
                                   std::string_view key) -> StatusOr<std::string> {
      lookups_.push_back(std::string(secret) + "/" + std::string(key));
      if (secret == "wavefront-api-tokens" && key == "example.wavefront.com") return kToken;
      return Fail(NotFoundError("no such key"));
    };
    provider_ = NewWavefrontProvider(&http_, std::move(options));
    ctx_.now = Time(std::chrono::seconds(1700000000) + std::chrono::milliseconds(250));
    metric_.name = "latency";
    metric_.provider_type = "wavefront";
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
    return {{"address", "example.wavefront.com"}, {"query", "ts(app.latency, env=prod)"}};
  }

  MeasurementUpdate ErrorFor(int status, const std::string& body) {
    http_.Reply(status, body);
    MeasurementUpdate u = Run(Config());
    EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError) << u.measurement.value;
    return u;
  }

  FakeHttpClient http_;
  std::unique_ptr<MetricProvider> provider_;
  std::vector<std::string> lookups_;
  RunContext ctx_;
  MetricRef metric_;
};

TEST_F(WavefrontProviderTest, RequestAndOneSeries) {
  http_.Reply(200, R"({"warnings":"slow query","timeseries":[{"label":"a","data":)"
                   R"([[1699999900,1.5],[1699999990,0.126],[1699999000,9]]}]})");
  MeasurementUpdate u = Run(Config());
  ASSERT_EQ(http_.requests.size(), 1u);
  const HttpRequest& r = http_.requests[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.url,
            "https://example.wavefront.com/api/v2/chart/api?q=ts%28app.latency%2C+env%3Dprod%29"
            "&s=1700000000250&e=1700000000250&g=s&p=1&i=true");
  ASSERT_NE(FindHeader(r.headers, "Authorization"), nullptr);
  EXPECT_EQ(*FindHeader(r.headers, "Authorization"), "Bearer wf-t0ken");
  EXPECT_EQ(lookups_, std::vector<std::string>{"wavefront-api-tokens/example.wavefront.com"});
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  EXPECT_EQ(u.measurement.value, "0.13");
  ASSERT_TRUE(u.result->is_number());
  EXPECT_DOUBLE_EQ(u.result->get<double>(), 0.126);
  EXPECT_EQ(u.measurement.metadata["timestamps"], "1699999990");
  EXPECT_EQ(u.measurement.metadata["drift"], "10");
  EXPECT_EQ(u.measurement.metadata["warnings"], "slow query");
}

TEST_F(WavefrontProviderTest, ManySeriesIsArray) {
  http_.Reply(200, R"({"timeseries":[{"data":[[1700000000,1]]},{"data":[[1700000005,2.345]]}]})");
  MeasurementUpdate u = Run(Config());
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  EXPECT_EQ(u.measurement.value, "[1.00,2.35]");
  ASSERT_TRUE(u.result->is_array());
  EXPECT_EQ(u.result->size(), 2u);
  EXPECT_EQ(u.measurement.metadata["timestamps"], "1700000000,1700000005");
  EXPECT_EQ(u.measurement.metadata["drift"], "0,5");
  EXPECT_EQ(u.measurement.metadata.count("warnings"), 0u);
}

TEST_F(WavefrontProviderTest, BadBodies) {
  EXPECT_THAT(ErrorFor(200, R"({"timeseries":[]})").measurement.message,
              HasSubstr("No TimeSeries found"));
  EXPECT_THAT(ErrorFor(200, R"({"name":"q"})").measurement.message,
              HasSubstr("No TimeSeries found"));
  EXPECT_THAT(ErrorFor(200, "").measurement.message, HasSubstr("empty response body"));
  EXPECT_THAT(ErrorFor(200, "<html><body>login</body></html>").measurement.message,
              HasSubstr("HTML page"));
  EXPECT_THAT(ErrorFor(200, "NaN").measurement.message, HasSubstr("not JSON"));
  EXPECT_THAT(ErrorFor(200, "[1,2]").measurement.message, HasSubstr("not a JSON object"));
  EXPECT_THAT(ErrorFor(200, R"({"timeseries":{}})").measurement.message, HasSubstr("not an array"));
  EXPECT_THAT(ErrorFor(200, R"({"timeseries":[{"data":[]}]})").measurement.message,
              HasSubstr("no \"data\" points"));
  EXPECT_THAT(ErrorFor(200, R"({"timeseries":[{"data":[[1,"x"]]}]})").measurement.message,
              HasSubstr("not [timestamp, value]"));
}

TEST_F(WavefrontProviderTest, HttpAndTransportErrors) {
  EXPECT_THAT(ErrorFor(401, "unauthorized").measurement.message,
              HasSubstr("HTTP 401: unauthorized"));
  EXPECT_THAT(ErrorFor(500, "boom").measurement.message, HasSubstr("HTTP 500"));
  for (const Status& s : {DeadlineExceededError("GET https://x: timed out after 30s"),
                          UnavailableError("GET https://x: connection refused"),
                          UnavailableError("GET https://x: TLS handshake failed")}) {
    http_.ReplyError(s);
    MeasurementUpdate u = Run(Config());
    ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
    EXPECT_THAT(u.measurement.message, HasSubstr(s.message().substr(16)));
  }
}

TEST_F(WavefrontProviderTest, TokenMissingAndRedacted) {
  MeasurementUpdate u = Run(json{{"address", "other.wavefront.com"}, {"query", "ts(x)"}});
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("key \"other.wavefront.com\""));
  EXPECT_THAT(u.measurement.message, HasSubstr("wavefront-api-tokens"));
  EXPECT_TRUE(http_.requests.empty());

  http_.Reply(403, std::string("bad token ") + kToken);
  u = Run(Config());
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, Not(HasSubstr(kToken)));

  auto none = NewWavefrontProvider(&http_, WavefrontOptions{});
  metric_.provider_config_json = Config().dump();
  std::string message;
  none->Run(ctx_, metric_, [&](MeasurementUpdate u) { message = u.measurement.message; });
  EXPECT_THAT(message, HasSubstr("API token not found"));
}

}  // namespace
}  // namespace ramp::metrics
