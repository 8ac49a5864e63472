#include "slo/promql_matcher.h"

#include <random>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ramp::slo {
namespace {

using ::testing::HasSubstr;

constexpr char kVersion[] = R"(version="v2")";

std::string Inject(std::string_view promql, std::string_view matcher = kVersion) {
  auto r = InjectLabelMatcher(promql, matcher);
  EXPECT_TRUE(r.has_value()) << promql << ": " << r.error().message();
  return r.value_or("<error>");
}

std::string ErrorOf(std::string_view promql, std::string_view matcher = kVersion) {
  auto r = InjectLabelMatcher(promql, matcher);
  EXPECT_FALSE(r.has_value()) << promql << " gave " << *r;
  if (r.has_value()) return "";
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  return r.error().message();
}

TEST(InjectLabelMatcherTest, SelectorForms) {
  EXPECT_EQ(Inject(R"(metric{a="b"})"), R"(metric{a="b",version="v2"})");
  EXPECT_EQ(Inject("metric[5m]"), R"(metric{version="v2"}[5m])");
  EXPECT_EQ(Inject("metric"), R"(metric{version="v2"})");
  EXPECT_EQ(Inject("metric{}"), R"(metric{version="v2"})");
  EXPECT_EQ(Inject(R"({__name__="x"})"), R"({__name__="x",version="v2"})");
  EXPECT_EQ(Inject(R"(metric{a="b",})"), R"(metric{a="b",version="v2"})");
  EXPECT_EQ(Inject(R"(metric{ a="b" })"), R"(metric{ a="b",version="v2" })");
  EXPECT_EQ(Inject(R"(metric {a="b"})"), R"(metric {a="b",version="v2"})");
  EXPECT_EQ(Inject("job:http_errors:rate5m"), R"(job:http_errors:rate5m{version="v2"})");
}

TEST(InjectLabelMatcherTest, SlothEventsQueries) {
  EXPECT_EQ(
      Inject(
          R"q(sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}])))q"),
      R"q(sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)",version="v2"}[{{.window}}])))q");
  EXPECT_EQ(Inject("sum(rate(http_requests_total[{{ .window }}]))"),
            R"(sum(rate(http_requests_total{version="v2"}[{{ .window }}])))");
}

TEST(InjectLabelMatcherTest, SlothRawRatioWithBinaryOperator) {
  const std::string raw = R"q(
sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
/
sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}])))q";
  EXPECT_EQ(Inject(raw), R"q(
sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)",version="v2"}[{{.window}}]))
/
sum(rate(http_request_duration_seconds_count{job="myservice",version="v2"}[{{.window}}])))q");
}

TEST(InjectLabelMatcherTest, AggregationModifiersAndLabelLists) {
  EXPECT_EQ(Inject("histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))"),
            R"(histogram_quantile(0.99, sum by (le) (rate(x_bucket{version="v2"}[5m]))))");
  EXPECT_EQ(Inject("sum(rate(errors_total[5m])) by (service, code)"),
            R"(sum(rate(errors_total{version="v2"}[5m])) by (service, code))");
  EXPECT_EQ(Inject("sum without (instance) (up)"), R"(sum without (instance) (up{version="v2"}))");
  EXPECT_EQ(Inject("SUM BY (job) (up)"), R"(SUM BY (job) (up{version="v2"}))");
  EXPECT_EQ(Inject("topk(5, count_values(\"build\", build_info))"),
            R"(topk(5, count_values("build", build_info{version="v2"})))");
}

TEST(InjectLabelMatcherTest, VectorMatchingKeepsItsLabelLists) {
  EXPECT_EQ(Inject("a / on(job, instance) group_left(zone) b"),
            R"(a{version="v2"} / on(job, instance) group_left(zone) b{version="v2"})");
  EXPECT_EQ(Inject("a * ignoring (code) group_right b"),
            R"(a{version="v2"} * ignoring (code) group_right b{version="v2"})");
  EXPECT_EQ(Inject("a > bool 0.5"), R"(a{version="v2"} > bool 0.5)");
  EXPECT_EQ(Inject("a and b or c unless d"),
            R"(a{version="v2"} and b{version="v2"} or c{version="v2"} unless d{version="v2"})");
}

TEST(InjectLabelMatcherTest, OffsetAtSubqueriesAndNumbers) {
  EXPECT_EQ(Inject("rate(errors[5m] offset 1h)"), R"(rate(errors{version="v2"}[5m] offset 1h))");
  EXPECT_EQ(Inject("errors offset -5m"), R"(errors{version="v2"} offset -5m)");
  EXPECT_EQ(Inject("errors @ 1609746000"), R"(errors{version="v2"} @ 1609746000)");
  EXPECT_EQ(Inject("errors @ end()"), R"(errors{version="v2"} @ end())");
  EXPECT_EQ(Inject("max_over_time(rate(errors[5m])[30m:1m])"),
            R"(max_over_time(rate(errors{version="v2"}[5m])[30m:1m]))");
  EXPECT_EQ(Inject("errors > 1e-3 * 2 + Inf - NaN + 0x1F"),
            R"(errors{version="v2"} > 1e-3 * 2 + Inf - NaN + 0x1F)");
  EXPECT_EQ(Inject("1 - (good / total)"), R"(1 - (good{version="v2"} / total{version="v2"}))");
  EXPECT_EQ(Inject("vector(1)"), "vector(1)");
  EXPECT_EQ(Inject("time() - 5"), "time() - 5");
}

TEST(InjectLabelMatcherTest, StringsCommentsAndNestedFunctions) {
  EXPECT_EQ(Inject(R"q(label_replace(up{job="a}b"}, "dst", "$1", "src", "(.*)"))q"),
            R"q(label_replace(up{job="a}b",version="v2"}, "dst", "$1", "src", "(.*)"))q");
  EXPECT_EQ(Inject(R"(x{path="a\"}"})"), R"(x{path="a\"}",version="v2"})");
  EXPECT_EQ(Inject("x{path='it''s'}"), R"(x{path='it''s',version="v2"})");
  EXPECT_EQ(Inject("x{path=`a\\`}"), "x{path=`a\\`,version=\"v2\"}");
  EXPECT_EQ(Inject("# errors\nsum(rate(x[1m])) # per second\n"),
            "# errors\nsum(rate(x{version=\"v2\"}[1m])) # per second\n");
  EXPECT_EQ(Inject("clamp_max(abs(delta(x[5m])), 1)"),
            R"(clamp_max(abs(delta(x{version="v2"}[5m])), 1))");
  EXPECT_EQ(Inject(R"(absent(up{job="x"}))"), R"(absent(up{job="x",version="v2"}))");
}

TEST(InjectLabelMatcherTest, MatcherIsValidatedAndNormalized) {
  EXPECT_EQ(Inject("m", R"( version = "v2" )"), R"(m{version="v2"})");
  EXPECT_EQ(Inject("m", R"(version!="v1")"), R"(m{version!="v1"})");
  EXPECT_EQ(Inject("m", R"(pod=~"canary-.*")"), R"(m{pod=~"canary-.*"})");
  EXPECT_EQ(Inject("m", R"(pod!~"stable-\".*")"), R"(m{pod!~"stable-\".*"})");
  EXPECT_THAT(ErrorOf("m", "version"), HasSubstr("no operator"));
  EXPECT_THAT(ErrorOf("m", "version=v2"), HasSubstr("double-quoted"));
  EXPECT_THAT(ErrorOf("m", R"(version="v2)"), HasSubstr("closing quote"));
  EXPECT_THAT(ErrorOf("m", R"(version="v2" x)"), HasSubstr("unexpected text"));
  EXPECT_THAT(ErrorOf("m", R"(1version="v2")"), HasSubstr("label name"));
  EXPECT_THAT(ErrorOf("m", ""), HasSubstr("empty"));
  EXPECT_THAT(ErrorOf("m", R"(a="b",c="d")"), HasSubstr("unexpected text"));
}

TEST(InjectLabelMatcherTest, UnbalancedInputSaysWhere) {
  EXPECT_THAT(ErrorOf("sum(rate(x[5m])"), HasSubstr("unclosed '(' opened at byte 3"));
  EXPECT_THAT(ErrorOf("rate(x[5m]))"), HasSubstr("unbalanced ')' at byte 11"));
  EXPECT_THAT(ErrorOf(R"(x{a="b")"), HasSubstr("unclosed '{' opened at byte 1"));
  EXPECT_THAT(ErrorOf(R"(x{a="b})"), HasSubstr("unterminated string \"…\" starting at byte 4"));
  EXPECT_THAT(ErrorOf("x}"), HasSubstr("unbalanced '}' at byte 1"));
  EXPECT_THAT(ErrorOf("x[5m"), HasSubstr("unclosed '[' opened at byte 1"));
  EXPECT_THAT(ErrorOf("x[{{.window]"), HasSubstr("unterminated template placeholder"));
  EXPECT_THAT(ErrorOf("x[5m)"), HasSubstr("unexpected ')' at byte 4"));
  EXPECT_TRUE(CheckPromQlLexically(R"(sum(rate(x{a="("}[5m])))").ok());
  EXPECT_FALSE(CheckPromQlLexically("sum(").ok());
}

TEST(InjectLabelMatcherTest, RandomInputIsRewrittenOrRefusedNeverMangled) {
  // Every accepted input keeps its bytes: without the matchers, empty braces (a bare selector
  // gains them) and commas before a closing brace (a trailing comma is reused), the output is
  // the input.
  auto strip = [](std::string text) {
    for (bool changed = true; changed;) {
      changed = false;
      for (std::string_view piece : {",zz=\"9\"", "zz=\"9\"", "{}", ","}) {
        const std::string_view follow = piece == "," ? "}" : "";
        for (size_t at;
             (at = text.find(std::string(piece) + std::string(follow))) != std::string::npos;) {
          text.erase(at, piece.size());
          changed = true;
        }
      }
    }
    return text;
  };
  const std::string alphabet = "ab_:{}[]()\"'`\\=~!,. 5m#\n{{.window}}by(le)offset sum rate";
  std::mt19937 rng(1);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    const size_t len = rng() % 40;
    for (size_t j = 0; j < len; ++j) s += alphabet[rng() % alphabet.size()];
    auto r = InjectLabelMatcher(s, "zz=\"9\"");
    if (!r.has_value()) continue;
    ++accepted;
    EXPECT_EQ(strip(*r), strip(s)) << s;
  }
  EXPECT_GT(accepted, 1000);
}

}  // namespace
}  // namespace ramp::slo
