#include "demo_app/behavior.h"

#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ramp::demo_app {
namespace {

using ::testing::HasSubstr;

GetEnv Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(DemoOptionsTest, DefaultsWhenNothingIsGiven) {
  auto options = ResolveOptions({}, Env({}));
  ASSERT_TRUE(options.has_value()) << options.error().message();
  EXPECT_EQ(options->port, 8080);
  EXPECT_EQ(options->version, "v1");
  EXPECT_EQ(options->bind, "127.0.0.1");
  EXPECT_EQ(options->error_rate, 0.0);
  EXPECT_EQ(options->latency.count(), 0);
}

TEST(DemoOptionsTest, EnvironmentFillsWhatFlagsLeaveUnset) {
  DemoFlags flags;
  flags.version = "v2";
  auto options = ResolveOptions(
      flags,
      Env({{"PORT", "9001"}, {"VERSION", "v9"}, {"ERROR_RATE", "0.25"}, {"LATENCY", "1.5s"}}));
  ASSERT_TRUE(options.has_value()) << options.error().message();
  EXPECT_EQ(options->port, 9001);
  EXPECT_EQ(options->version, "v2");
  EXPECT_EQ(options->error_rate, 0.25);
  EXPECT_EQ(options->latency, std::chrono::milliseconds(1500));
}

TEST(DemoOptionsTest, BadValuesNameWhereTheyCameFrom) {
  auto port = ResolveOptions({}, Env({{"PORT", "70000"}}));
  ASSERT_FALSE(port.has_value());
  EXPECT_THAT(port.error().message(), HasSubstr("PORT"));
  EXPECT_THAT(port.error().message(), HasSubstr("70000"));

  DemoFlags flags;
  flags.error_rate = "1.5";
  auto rate = ResolveOptions(flags, Env({}));
  ASSERT_FALSE(rate.has_value());
  EXPECT_THAT(rate.error().message(), HasSubstr("--error-rate"));

  auto latency = ResolveOptions({}, Env({{"LATENCY", "-1s"}}));
  ASSERT_FALSE(latency.has_value());
  EXPECT_THAT(latency.error().message(), HasSubstr("LATENCY"));

  auto garbage = ResolveOptions({}, Env({{"LATENCY", "soon"}}));
  EXPECT_FALSE(garbage.has_value());

  DemoFlags connections;
  connections.max_connections = 0;
  EXPECT_FALSE(ResolveOptions(connections, Env({})).has_value());
}

TEST(AnswerRequestTest, HealthAndVersionAreNeverFailedOrDelayed) {
  DemoOptions options;
  options.version = "v7";
  options.error_rate = 1.0;
  Answer health = AnswerRequest(options, "GET", "/healthz", 0.0);
  EXPECT_EQ(health.status, 200);
  EXPECT_FALSE(health.delay);
  Answer version = AnswerRequest(options, "GET", "/version?x=1", 0.0);
  EXPECT_EQ(version.status, 200);
  EXPECT_EQ(version.body, "v7\n");
}

TEST(AnswerRequestTest, TheDrawDecidesAnInjectedError) {
  DemoOptions options;
  options.error_rate = 0.1;
  EXPECT_EQ(AnswerRequest(options, "GET", "/", 0.05).status, 500);
  Answer ok = AnswerRequest(options, "POST", "/orders", 0.5);
  EXPECT_EQ(ok.status, 200);
  EXPECT_TRUE(ok.delay);
  EXPECT_EQ(ok.body, "{\"version\":\"v1\",\"path\":\"/orders\"}\n");
  options.error_rate = 0.0;
  EXPECT_EQ(AnswerRequest(options, "GET", "/", 0.0).status, 200);
}

TEST(AnswerRequestTest, PathsAreEscapedInJson) {
  DemoOptions options;
  Answer a = AnswerRequest(options, "GET", "/a\"b\\c", 0.9);
  EXPECT_EQ(a.body, "{\"version\":\"v1\",\"path\":\"/a\\\"b\\\\c\"}\n");
}

TEST(DemoCountersTest, CountsByStatusClass) {
  DemoCounters counters;
  counters.Count(200);
  counters.Count(204);
  counters.Count(404);
  counters.Count(503);
  std::string text = counters.Render("v1");
  EXPECT_THAT(text, HasSubstr("ramp_demo_requests_total{code=\"2xx\",version=\"v1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("ramp_demo_requests_total{code=\"4xx\",version=\"v1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("ramp_demo_requests_total{code=\"5xx\",version=\"v1\"} 1\n"));
}

}  // namespace
}  // namespace ramp::demo_app
