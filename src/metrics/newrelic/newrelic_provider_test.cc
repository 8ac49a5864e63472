#include "metrics/newrelic/newrelic_provider.h"

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

constexpr char kOneRow[] =
    R"({"data":{"actor":{"account":{"nrql":{"results":[{"successRate":0.99}]}}}}})";
constexpr char kTwoRows[] =
    R"({"data":{"actor":{"account":{"nrql":{"results":[{"a":1},{"a":2}]}}}}})";

class NewRelicProviderTest : public ::testing::Test {
 protected:
  NewRelicProviderTest() {
    ctx_.now = Time(std::chrono::seconds(1700000000));
    metric_.name = "success";
    metric_.provider_type = "newrelic";
    secrets_["newrelic/personal-api-key"] = "NRAK-SECRET";
    secrets_["newrelic/account-id"] = "12345";
    NewRelicOptions options;
    options.lookup_secret = [this](std::string_view s,
                                   std::string_view k) -> StatusOr<std::string> {
      auto it = secrets_.find(std::string(s) + "/" + std::string(k));
      if (it == secrets_.end()) return Fail(NotFoundError("no such key"));
      return it->second;
    };
    provider_ = NewNewRelicProvider(&http_, std::move(options));
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
    return {{"query", "SELECT percentage(count(*), WHERE httpResponseCode != '500') FROM T"}};
  }

  std::map<std::string, std::string> secrets_;
  FakeHttpClient http_;
  std::unique_ptr<MetricProvider> provider_;
  RunContext ctx_;
  MetricRef metric_;
};

TEST_F(NewRelicProviderTest, RequestAndOneRowIsTheRow) {
  http_.Reply(200, kOneRow);
  MeasurementUpdate u = Run(Config());
  ASSERT_EQ(http_.requests.size(), 1u);
  const HttpRequest& r = http_.requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "https://api.newrelic.com/graphql");
  EXPECT_EQ(*FindHeader(r.headers, "API-Key"), "NRAK-SECRET");
  EXPECT_EQ(*FindHeader(r.headers, "Content-Type"), "application/json");
  json body = json::parse(r.body);
  EXPECT_EQ(body["query"],
            "{ actor { account(id: 12345) { nrql(query: \"SELECT percentage(count(*), WHERE "
            "httpResponseCode != '500') FROM T\", timeout: 5) { results } } } }");
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  EXPECT_DOUBLE_EQ((*u.result)["successRate"].get<double>(), 0.99);
  EXPECT_EQ(u.measurement.value, R"({"successRate":0.99})");
}

TEST_F(NewRelicProviderTest, ManyRowsAreAnArray) {
  http_.Reply(200, kTwoRows);
  MeasurementUpdate u = Run(Config());
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kValue) << u.measurement.message;
  ASSERT_TRUE(u.result->is_array());
  EXPECT_EQ((*u.result)[1]["a"], 2);
}

TEST_F(NewRelicProviderTest, NoRowsIsError) {
  http_.Reply(200, R"({"data":{"actor":{"account":{"nrql":{"results":[]}}}}})");
  MeasurementUpdate u = Run(Config());
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("no results"));
}

TEST_F(NewRelicProviderTest, GraphQLErrorsAreErrors) {
  http_.Reply(200, R"({"errors":[{"message":"NRQL Syntax Error"}],"data":null})");
  MeasurementUpdate u = Run(Config());
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(u.measurement.message, HasSubstr("NRQL Syntax Error"));
}

TEST_F(NewRelicProviderTest, QueryIsEscapedAndTimeoutAndProfileUsed) {
  secrets_["nr-eu/personal-api-key"] = "K";
  secrets_["nr-eu/account-id"] = "7";
  secrets_["nr-eu/region"] = "eu";
  http_.Reply(200, kOneRow);
  Run({{"profile", "nr-eu"}, {"query", "SELECT \"x\\y\"\nFROM T"}, {"timeout", 30}});
  ASSERT_EQ(http_.requests.size(), 1u);
  EXPECT_EQ(http_.requests[0].url, "https://api.eu.newrelic.com/graphql");
  EXPECT_EQ(json::parse(http_.requests[0].body)["query"],
            "{ actor { account(id: 7) { nrql(query: \"SELECT \\\"x\\\\y\\\"\\nFROM T\", "
            "timeout: 30) { results } } } }");
}

TEST_F(NewRelicProviderTest, BaseUrlNerdgraphWins) {
  secrets_["newrelic/base-url-nerdgraph"] = "http://nr.local/graphql";
  secrets_["newrelic/region"] = "eu";
  http_.Reply(200, kOneRow);
  Run(Config());
  EXPECT_EQ(http_.requests[0].url, "http://nr.local/graphql");
}

TEST_F(NewRelicProviderTest, SecretProblemsAreNamed) {
  secrets_.erase("newrelic/account-id");
  EXPECT_THAT(Run(Config()).measurement.message,
              HasSubstr("\"account-id\" of Secret \"newrelic\""));
  secrets_["newrelic/account-id"] = "12x";
  EXPECT_THAT(Run(Config()).measurement.message, HasSubstr("is not a number"));
  secrets_["newrelic/account-id"] = "1";
  secrets_["newrelic/region"] = "mars";
  EXPECT_THAT(Run(Config()).measurement.message, HasSubstr("must be us or eu"));
  EXPECT_TRUE(http_.requests.empty());
}

TEST(NewRelicGraphQLStringTest, Escapes) {
  EXPECT_EQ(GraphQLString("a\"b\\c\td\x01"), "\"a\\\"b\\\\c\\td\\u0001\"");
}

struct BadBackend {
  const char* name;
  int status;
  const char* body;
  const char* message;
};

TEST_F(NewRelicProviderTest, BadBackends) {
  const BadBackend cases[] = {
      {"html", 200, "<html><body>gateway</body></html>", "HTML page"},
      {"empty", 200, "  ", "empty response body"},
      {"nan", 200, R"({"data":NaN})", "not JSON"},
      {"shape", 200, R"({"data":{"actor":{}}})", "missing \"account\""},
      {"results not array", 200, R"({"data":{"actor":{"account":{"nrql":{"results":1}}}}})",
       "not an array"},
      {"401", 401, R"({"errors":[{"message":"Invalid API key NRAK-SECRET"}]})",
       "HTTP 401: NerdGraph returned errors: Invalid API key *****"},
      {"502", 502, "bad gateway", "HTTP 502: bad gateway"},
  };
  for (const BadBackend& c : cases) {
    http_.Reply(c.status, c.body);
    MeasurementUpdate u = Run(Config());
    EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kError) << c.name;
    EXPECT_THAT(u.measurement.message, HasSubstr(c.message)) << c.name;
    EXPECT_THAT(u.measurement.message, Not(HasSubstr("NRAK-SECRET"))) << c.name;
  }
}

TEST_F(NewRelicProviderTest, TransportErrors) {
  http_.ReplyError(DeadlineExceededError("timed out after 60s"));
  EXPECT_THAT(Run(Config()).measurement.message, HasSubstr("timed out"));
  http_.ReplyError(UnavailableError("connection refused"));
  EXPECT_THAT(Run(Config()).measurement.message, HasSubstr("refused"));
  http_.ReplyError(UnavailableError("TLS handshake failed"));
  EXPECT_THAT(Run(Config()).measurement.message, HasSubstr("TLS"));
}

TEST_F(NewRelicProviderTest, HeldReplyCallsDoneOnce) {
  http_.hold = true;
  metric_.provider_config_json = Config().dump();
  int calls = 0;
  provider_->Run(ctx_, metric_, [&](MeasurementUpdate) { ++calls; });
  EXPECT_EQ(calls, 0);
  http_.Reply(200, kOneRow);
  http_.Release();
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace ramp::metrics
