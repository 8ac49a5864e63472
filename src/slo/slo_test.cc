#include "slo/slo.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ramp::slo {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr seconds kDay{86400};

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(RAMP_SOURCE_DIR) + "/src/slo/testdata/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<Slo> ParseTestdata(const std::string& name) {
  auto r = ParseSloFile(ReadTestdata(name), name);
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return r.value_or(std::vector<Slo>{});
}

// The error of parsing `text` as slos.yaml, which must fail with `code`.
std::string ErrorOf(std::string_view text, StatusCode code = StatusCode::kInvalidArgument) {
  auto r = ParseSloFile(text, "slos.yaml");
  EXPECT_FALSE(r.has_value());
  if (r.has_value()) return "";
  EXPECT_EQ(r.error().code(), code) << r.error().ToString();
  return r.error().message();
}

// (severity, long, short, burn, budget percent) of every window, for compact assertions.
struct W {
  std::string severity;
  seconds long_window, short_window;
  double burn, percent;
};
void ExpectWindows(const std::vector<BurnWindow>& got, const std::vector<W>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(got[i].severity, want[i].severity);
    EXPECT_EQ(got[i].long_window, want[i].long_window);
    EXPECT_EQ(got[i].short_window, want[i].short_window);
    EXPECT_NEAR(got[i].burn_rate, want[i].burn, 1e-9);
    EXPECT_NEAR(got[i].budget_percent, want[i].percent, 1e-9);
  }
}

// ---------------------------------------------------------------------------------------------
// Default windows (workbook Table 5-8, §2.1/§2.4).

TEST(DefaultWindowsTest, ThirtyDaysGiveTheWorkbookBurnRates) {
  ExpectWindows(DefaultWindows(30 * kDay), {{"page", hours(1), minutes(5), 14.4, 2},
                                            {"page", hours(6), minutes(30), 6, 5},
                                            {"ticket", hours(24), hours(2), 3, 10},
                                            {"ticket", hours(72), hours(6), 1, 10}});
}

TEST(DefaultWindowsTest, TwentyEightDaysKeepThePercentsAndRecomputeTheBurn) {
  ExpectWindows(DefaultWindows(28 * kDay), {{"page", hours(1), minutes(5), 13.44, 2},
                                            {"page", hours(6), minutes(30), 5.6, 5},
                                            {"ticket", hours(24), hours(2), 2.8, 10},
                                            {"ticket", hours(72), hours(6), 28.0 * 24 / 720, 10}});
}

TEST(DefaultWindowsTest, WindowsLongerThanThePeriodAreLeftOut) {
  EXPECT_EQ(DefaultWindows(2 * kDay).size(), 3u);
  EXPECT_TRUE(DefaultWindows(minutes(30)).empty());
}

// ---------------------------------------------------------------------------------------------
// Durations and window rendering.

TEST(DurationTest, PrometheusDurations) {
  EXPECT_EQ(ParsePromDuration("30d").value(), 30 * kDay);
  EXPECT_EQ(ParsePromDuration("5m").value(), minutes(5));
  EXPECT_EQ(ParsePromDuration("1w").value(), 7 * kDay);
  EXPECT_EQ(ParsePromDuration("1h30m").value(), minutes(90));
  EXPECT_EQ(ParsePromDuration("45s").value(), seconds(45));
  EXPECT_THAT(ParsePromDuration("1M").error().message(),
              HasSubstr("duration \"1M\": the calendar unit 'M'"));
  EXPECT_THAT(ParsePromDuration("1y").error().message(), HasSubstr("calendar unit 'y'"));
  EXPECT_THAT(ParsePromDuration("30").error().message(), HasSubstr("missing unit"));
  EXPECT_THAT(ParsePromDuration("5x").error().message(), HasSubstr("unknown unit 'x'"));
  EXPECT_THAT(ParsePromDuration("0d").error().message(), HasSubstr("longer than zero"));
  EXPECT_THAT(ParsePromDuration("100ms").error().message(), HasSubstr("milliseconds"));
  EXPECT_FALSE(ParsePromDuration("").has_value());
  EXPECT_FALSE(ParsePromDuration("-5m").has_value());
  EXPECT_FALSE(ParsePromDuration("99999999999999999999d").has_value());
}

TEST(DurationTest, Formatting) {
  EXPECT_EQ(FormatPromDuration(minutes(5)), "5m");
  EXPECT_EQ(FormatPromDuration(hours(1)), "1h");
  EXPECT_EQ(FormatPromDuration(hours(72)), "3d");
  EXPECT_EQ(FormatPromDuration(30 * kDay), "30d");
  EXPECT_EQ(FormatPromDuration(minutes(90)), "1h30m");
  EXPECT_EQ(FormatPromDuration(seconds(0)), "0s");
  EXPECT_EQ(FormatPromDuration(seconds(61)), "1m1s");
}

TEST(RenderWindowTest, ReplacesEveryWindowPlaceholder) {
  EXPECT_EQ(RenderWindow("sum(rate(x[{{.window}}])) / sum(rate(y[{{ .window }}]))", minutes(5)),
            "sum(rate(x[5m])) / sum(rate(y[5m]))");
  EXPECT_EQ(RenderWindow("rate(x[{{.window}}])", hours(72)), "rate(x[3d])");
  EXPECT_EQ(RenderWindow("rate(x[{{.other}}]) {{.window", hours(1)),
            "rate(x[{{.other}}]) {{.window");
  EXPECT_EQ(RenderWindow("", hours(1)), "");
}

// ---------------------------------------------------------------------------------------------
// Sloth.

TEST(SlothTest, EventsAndRawSlisWithDefaultWindows) {
  std::vector<Slo> slos = ParseTestdata("sloth_myservice.yaml");
  ASSERT_EQ(slos.size(), 2u);

  const Slo& a = slos[0];
  EXPECT_EQ(a.name, "requests-availability");
  EXPECT_EQ(a.service, "myservice");
  EXPECT_EQ(a.description, "Common SLO based on availability for HTTP request responses.");
  EXPECT_DOUBLE_EQ(a.objective, 0.999);
  EXPECT_NEAR(a.ErrorBudget(), 0.001, 1e-12);
  EXPECT_EQ(a.period, 30 * kDay);
  EXPECT_EQ(a.source, "sloth_myservice.yaml:7");
  EXPECT_EQ(
      a.sli.error_query,
      R"q(sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}])))q");
  EXPECT_EQ(a.sli.total_query,
            R"(sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}])))");
  EXPECT_TRUE(a.sli.error_ratio_query.empty());
  EXPECT_TRUE(a.sli.good_query.empty());
  ExpectWindows(a.windows, {{"page", hours(1), minutes(5), 14.4, 2},
                            {"page", hours(6), minutes(30), 6, 5},
                            {"ticket", hours(24), hours(2), 3, 10},
                            {"ticket", hours(72), hours(6), 1, 10}});

  const Slo& l = slos[1];
  EXPECT_EQ(l.name, "requests-latency");
  EXPECT_DOUBLE_EQ(l.objective, 0.995);
  EXPECT_THAT(l.sli.error_ratio_query, HasSubstr("le=\"0.3\"}[{{ .window }}]"));
  EXPECT_FALSE(l.sli.raw_is_success);
  EXPECT_TRUE(l.sli.error_query.empty());
  // ticket_alert.disable: true drops the ticket rules.
  ExpectWindows(l.windows,
                {{"page", hours(1), minutes(5), 14.4, 2}, {"page", hours(6), minutes(30), 6, 5}});
}

TEST(SlothTest, CustomAlertWindowsReplaceTheDefaults) {
  std::vector<Slo> slos = ParseTestdata("sloth_custom_windows.yaml");
  ASSERT_EQ(slos.size(), 1u);
  EXPECT_EQ(slos[0].name, "availability");
  EXPECT_DOUBLE_EQ(slos[0].objective, 0.9995);
  // page_alert.disable: true leaves the two ticket windows of the AlertWindows object.
  ExpectWindows(slos[0].windows, {{"ticket", hours(12), hours(1), 8.0 * 720 / 100 / 12, 8},
                                  {"ticket", hours(48), hours(4), 15.0 * 720 / 100 / 48, 15}});
}

TEST(SlothTest, ObjectiveOutOfRangeNamesFileLineAndField) {
  auto r = ParseSloFile(ReadTestdata("bad_objective.yaml"), "bad_objective.yaml");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.error().message(),
            "bad_objective.yaml:7:5: slos[0].objective: must be between 0 and 100");
}

constexpr char kSlothHead[] = "version: prometheus/v1\nservice: s\nslos:\n";

TEST(SlothTest, MalformedInputs) {
  // Line 4 is the first SLO.
  EXPECT_EQ(ErrorOf(std::string(kSlothHead) + "  - name: a\n"
                                              "    objectiv: 99.9\n"
                                              "    sli: {raw: {error_ratio_query: x}}\n"),
            "slos.yaml:4:5: slos[0].objective: required (a percentage such as 99.9)\n"
            "slos.yaml:5:5: slos[0].objectiv: unknown field \"objectiv\" (did you mean "
            "\"objective\"?)");
  EXPECT_EQ(ErrorOf(std::string(kSlothHead) + "  - name: a\n    objective: 99\n"),
            "slos.yaml:4:5: slos[0].sli: required: one of events, raw or plugin");
  EXPECT_EQ(ErrorOf(std::string(kSlothHead) + "  - name: a\n"
                                              "    objective: 0\n"
                                              "    sli:\n"
                                              "      raw: {error_ratio_query: x}\n"
                                              "      events: {error_query: x, total_query: y}\n"),
            "slos.yaml:5:5: slos[0].objective: must be between 0 and 100\n"
            "slos.yaml:7:7: slos[0].sli: only one of events, raw or plugin may be set");
  EXPECT_EQ(ErrorOf(std::string(kSlothHead) + "  - name: a\n"
                                              "    objective: 99\n"
                                              "    sli:\n"
                                              "      events:\n"
                                              "        error_query: sum(rate(x{code=\"5xx\"[5m]))\n"
                                              "        total_query: ''\n"),
            "slos.yaml:8:9: slos[0].sli.events.error_query: PromQL: unexpected '[' at byte 21 "
            "inside the '{' opened at byte 10\n"
            "slos.yaml:9:9: slos[0].sli.events.total_query: must not be empty");
  EXPECT_EQ(ErrorOf("version: prometheus/v2\nservice: s\nslos: []\n"),
            "slos.yaml:1:1: version: unsupported Sloth version \"prometheus/v2\" (ramp reads "
            "prometheus/v1)\n"
            "slos.yaml:3:1: slos: at least one SLO is required");
  EXPECT_THAT(ErrorOf("version: prometheus/v1\nslos:\n  - name: a\n    objective: 99\n"
                      "    sli: {raw: {error_ratio_query: x}}\n"),
              HasSubstr("slos.yaml:1:1: service: required"));
  EXPECT_THAT(ErrorOf(std::string(kSlothHead) +
                      "  - {name: a, objective: 99, sli: {raw: {error_ratio_query: x}}}\n"
                      "  - {name: a, objective: 98, sli: {raw: {error_ratio_query: y}}}\n"),
              HasSubstr("slos.yaml:5:5: slos[1]: a second SLO named \"a\" for service \"s\" "
                        "(the first is at line 4)"));
  EXPECT_THAT(ErrorOf(std::string(kSlothHead) +
                      "  - name: a\n    objective: 99\n    sli: {raw: {error_ratio_query: x}}\n"
                      "    alerting: {page_alert: {disable: maybe}}\n"),
              HasSubstr("slos[0].alerting.page_alert.disable: expected true or false"));
}

TEST(SlothTest, PluginSlisAreUnimplemented) {
  EXPECT_EQ(ErrorOf(std::string(kSlothHead) +
                        "  - name: a\n"
                        "    objective: 99.9\n"
                        "    sli:\n"
                        "      plugin:\n"
                        "        id: sloth-common/kubernetes/apiserver/availability\n",
                    StatusCode::kUnimplemented),
            "slos.yaml:7:7: slos[0].sli.plugin: Sloth SLI plugins (id "
            "\"sloth-common/kubernetes/apiserver/availability\") are not supported; write the SLI "
            "as sli.events or sli.raw");
}

constexpr char kAlertWindowsHead[] = R"(version: prometheus/v1
service: s
slos:
  - {name: a, objective: 99.9, sli: {raw: {error_ratio_query: x}}}
---
apiVersion: sloth.slok.dev/v1
kind: AlertWindows
spec:
)";

TEST(SlothTest, MalformedAlertWindows) {
  EXPECT_THAT(ErrorOf(std::string(kAlertWindowsHead) + R"(  sloPeriod: 28d
  page:
    quick: {errorBudgetPercent: 2, shortWindow: 5m, longWindow: 1h}
    slow: {errorBudgetPercent: 5, shortWindow: 30m, longWindow: 6h}
  ticket:
    quick: {errorBudgetPercent: 10, shortWindow: 2h, longWindow: 1d}
    slow: {errorBudgetPercent: 10, shortWindow: 6h, longWindow: 3d}
)"),
              HasSubstr("slos.yaml:6:1: spec.sloPeriod: no SLO in this file has a 28d period"));
  EXPECT_EQ(ErrorOf(std::string(kAlertWindowsHead) + R"(  sloPeriod: 30d
  page:
    quick: {errorBudgetPercent: 2, shortWindow: 1h, longWindow: 5m}
    slow: {errorBudgetPercent: 0, shortWindow: 30m, longWindow: 6h}
  ticket:
    quick: {errorBudgetPercent: 10, shortWindow: 2h, longWindow: 40d}
)"),
            "slos.yaml:11:36: spec.page.quick.shortWindow: must be shorter than longWindow (1h "
            "is not shorter than 5m)\n"
            "slos.yaml:12:12: spec.page.slow.errorBudgetPercent: must be more than 0 and at most "
            "100\n"
            "slos.yaml:13:3: spec.ticket.slow: required\n"
            "slos.yaml:14:54: spec.ticket.quick.longWindow: 40d is longer than the SLO period 30d");
}

// ---------------------------------------------------------------------------------------------
// OpenSLO.

TEST(OpenSloTest, MultiDocumentFileWithReferencesAndInlineObjects) {
  std::vector<Slo> slos = ParseTestdata("openslo_checkout.yaml");
  ASSERT_EQ(slos.size(), 4u);

  const Slo& a = slos[0];
  EXPECT_EQ(a.name, "checkout-availability");
  EXPECT_EQ(a.service, "checkout");
  EXPECT_EQ(a.description, "99.9 % of checkout requests succeed over 28 days");
  EXPECT_DOUBLE_EQ(a.objective, 0.999);
  EXPECT_EQ(a.period, 28 * kDay);
  EXPECT_EQ(a.source, "openslo_checkout.yaml:42");
  EXPECT_EQ(a.sli.good_query, R"(sum(rate(checkout_requests_total{code!~"5.."}[{{.window}}])))");
  EXPECT_EQ(a.sli.total_query, "sum(rate(checkout_requests_total[{{.window}}]))");
  EXPECT_TRUE(a.sli.error_query.empty());
  // Burn-rate conditions: the lookback is the long window, a twelfth of it the short one.
  ExpectWindows(a.windows, {{"page", hours(1), minutes(5), 13.44, 2},
                            {"ticket", hours(72), hours(6), 1, 100.0 * 72 / (28 * 24)}});

  const Slo& e = slos[1];
  EXPECT_EQ(e.name, "checkout-errors");
  EXPECT_DOUBLE_EQ(e.objective, 0.995);
  EXPECT_EQ(e.period, 30 * kDay);
  EXPECT_EQ(e.sli.error_query, R"(sum(rate(checkout_requests_total{code=~"5.."}[{{.window}}])))");
  EXPECT_EQ(e.sli.total_query, "sum(rate(checkout_requests_total[{{.window}}]))");
  EXPECT_EQ(e.windows, DefaultWindows(30 * kDay));

  // Two objectives: one SLO each, named by index; no timeWindow: 30 days.
  EXPECT_EQ(slos[2].name, "checkout-latency/0");
  EXPECT_EQ(slos[3].name, "checkout-latency/1");
  EXPECT_DOUBLE_EQ(slos[2].objective, 0.99);
  EXPECT_DOUBLE_EQ(slos[3].objective, 0.95);
  EXPECT_TRUE(slos[2].sli.raw_is_success);
  EXPECT_THAT(slos[2].sli.error_ratio_query, HasSubstr("checkout_duration_seconds_bucket"));
  EXPECT_EQ(slos[2].period, 30 * kDay);
}

TEST(OpenSloTest, AlertWindowsApplyToAnOpenSloPeriod) {
  auto r = ParseSloFile(R"(apiVersion: openslo/v1
kind: SLO
metadata: {name: x}
spec:
  indicator:
    metadata: {name: x}
    spec:
      ratioMetric:
        rawType: failure
        raw: {metricSource: {spec: {query: 'errors:ratio_rate{{.window}}'}}}
  timeWindow: [{duration: 4w, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{targetPercent: 99}]
---
apiVersion: sloth.slok.dev/v1
kind: AlertWindows
spec:
  sloPeriod: 28d
  page:
    quick: {errorBudgetPercent: 2, shortWindow: 5m, longWindow: 1h}
    slow: {errorBudgetPercent: 5, shortWindow: 30m, longWindow: 6h}
  ticket:
    quick: {errorBudgetPercent: 10, shortWindow: 2h, longWindow: 1d}
    slow: {errorBudgetPercent: 10, shortWindow: 6h, longWindow: 3d}
)",
                        "x.yaml");
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].period, 28 * kDay);
  EXPECT_EQ((*r)[0].windows, DefaultWindows(28 * kDay));
  EXPECT_FALSE((*r)[0].sli.raw_is_success);
}

constexpr char kSli[] = R"(apiVersion: openslo/v1
kind: SLI
metadata: {name: good}
spec:
  ratioMetric:
    good: {metricSource: {spec: {query: good}}}
    total: {metricSource: {spec: {query: total}}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: s}
spec:
)";

TEST(OpenSloTest, MalformedInputs) {
  // Line 13 is the first line of the SLO's spec.
  EXPECT_EQ(ErrorOf(std::string(kSli) + R"(  indicatorRef: goood
  budgetingMethod: Occurrences
  objectives: [{target: 0.99, targetPercent: 99}]
)"),
            "slos.yaml:13:3: spec.indicatorRef: no SLI named \"goood\" in this file (SLIs here: "
            "\"good\")\n"
            "slos.yaml:15:16: spec.objectives[0]: only one of target or targetPercent may be set");
  EXPECT_EQ(ErrorOf(std::string(kSli) + R"(  indicatorRef: good
  budgetingMethod: Occurrences
  objectives:
    - target: 1.5
    - targetPercent: 100
    - displayName: none
)"),
            "slos.yaml:16:7: spec.objectives[0].target: must be between 0 and 1\n"
            "slos.yaml:17:7: spec.objectives[1].targetPercent: must be between 0 and 100\n"
            "slos.yaml:18:7: spec.objectives[2]: needs target (e.g. 0.999) or targetPercent (e.g. "
            "99.9)");
  EXPECT_EQ(ErrorOf(std::string(kSli) + R"(  indicatorRef: good
  objectives: [{target: 0.99, op: lte}]
  alertPolicies:
    - kind: AlertPolicy
      metadata: {name: p}
      spec:
        conditions:
          - kind: AlertCondition
            metadata: {name: c}
            spec:
              severity: critical
              condition: {kind: burnrate, op: lte, threshold: -1, lookbackWindow: 1h}
)"),
            "slos.yaml:13:3: spec.budgetingMethod: required: Occurrences\n"
            "slos.yaml:14:31: spec.objectives[0].op: applies to thresholdMetric SLIs only; ramp "
            "reads ratioMetric SLIs\n"
            "slos.yaml:23:15: spec.alertPolicies[0].spec.conditions[0].spec.severity: ramp reads "
            "severity page or ticket, got \"critical\"\n"
            "slos.yaml:24:43: spec.alertPolicies[0].spec.conditions[0].spec.condition.op: must be "
            "gte or gt (a burn rate at or above the threshold), got \"lte\"\n"
            "slos.yaml:24:52: spec.alertPolicies[0].spec.conditions[0].spec.condition.threshold: "
            "must be a positive burn rate");
  EXPECT_THAT(ErrorOf(R"(apiVersion: openslo/v1
kind: SLI
metadata: {name: a}
spec:
  ratioMetric:
    good: {metricSource: {spec: {query: good}}}
    bad: {metricSource: {spec: {promql: bad}}}
---
apiVersion: openslo/v1
kind: SLI
metadata: {name: a}
spec:
  ratioMetric:
    total: {metricSource: {type: Datadog, spec: {queries: x}}}
    rawType: success
)"),
              HasSubstr("slos.yaml:6:5: spec.ratioMetric: needs exactly one of good or bad"));
  const std::string errors = ErrorOf(R"(apiVersion: openslo/v1
kind: SLI
metadata: {name: a}
spec:
  ratioMetric:
    good: {metricSource: {spec: {query: good}}}
    bad: {metricSource: {spec: {promql: bad}}}
---
apiVersion: openslo/v1
kind: SLI
metadata: {name: a}
spec:
  ratioMetric:
    total: {metricSource: {type: Datadog, spec: {queries: x}}}
    rawType: success
)");
  EXPECT_THAT(errors, HasSubstr("slos.yaml:11:12: metadata.name: a second SLI named \"a\" (the "
                                "first is at line 3)"));
  EXPECT_THAT(errors, HasSubstr("spec.ratioMetric: raw/rawType cannot be combined"));
  EXPECT_THAT(errors, HasSubstr("slos.yaml:14:5: spec.ratioMetric.raw: required with rawType"));
  EXPECT_EQ(ErrorOf(R"(apiVersion: openslo/v1
kind: SLI
metadata: {name: a}
spec:
  ratioMetric:
    bad: {metricSource: {type: Datadog, spec: {queries: x}}}
    total: {}
)"),
            "slos.yaml:6:47: spec.ratioMetric.bad.metricSource.spec.query: required: ramp reads "
            "the Prometheus query of a metricSource from spec.query\n"
            "slos.yaml:7:12: spec.ratioMetric.total.metricSource: required");
  EXPECT_THAT(ErrorOf("apiVersion: openslo/v1\nkind: Dashboard\nmetadata: {name: x}\n"),
              HasSubstr("slos.yaml:2:7: kind: unknown OpenSLO kind \"Dashboard\""));
  EXPECT_THAT(ErrorOf("apiVersion: openslo/v1alpha\nkind: SLO\n"),
              HasSubstr("OpenSLO \"openslo/v1alpha\" is not read; ramp reads openslo/v1"));
  EXPECT_THAT(ErrorOf(std::string(kSli) + "  indicatorRef: good\n  budgetingMethod: Occurrences\n"
                                          "  objectives: [{target: 0.99}]\n"
                                          "  alertPolicies: [{alertPolicyRef: missing}]\n"),
              HasSubstr("slos.yaml:16:20: spec.alertPolicies[0].alertPolicyRef: no AlertPolicy "
                        "named \"missing\" in this file (it has no AlertPolicy)"));
}

TEST(OpenSloTest, UnsupportedFeaturesAreUnimplemented) {
  EXPECT_EQ(ErrorOf(std::string(kSli) + R"(  indicatorRef: good
  budgetingMethod: Timeslices
  objectives: [{target: 0.99}]
  timeWindow: [{duration: 1M, isRolling: true}]
)",
                    StatusCode::kUnimplemented),
            "slos.yaml:14:3: spec.budgetingMethod: Timeslices budgeting is not supported; ramp "
            "gates on Occurrences (the error ratio of all events)\n"
            "slos.yaml:16:17: spec.timeWindow[0].duration: duration \"1M\": the calendar unit 'M' "
            "(month, quarter or year) is not a fixed length; write days instead, e.g. 30d or 28d");
  EXPECT_THAT(ErrorOf(R"(apiVersion: openslo/v1
kind: SLI
metadata: {name: latency}
spec:
  thresholdMetric:
    metricSource: {spec: {query: x}}
)",
                      StatusCode::kUnimplemented),
              HasSubstr("slos.yaml:5:3: spec.thresholdMetric: OpenSLO thresholdMetric SLIs are not "
                        "supported"));
  EXPECT_THAT(ErrorOf(std::string(kSli) + R"(  indicatorRef: good
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
  timeWindow:
    - duration: 1w
      calendar: {startTime: "2024-01-01 00:00:00", timeZone: UTC}
)",
                      StatusCode::kUnimplemented),
              HasSubstr("calendar-aligned time windows are not supported"));
  EXPECT_EQ(ErrorOf(std::string(kSli) + R"(  budgetingMethod: Occurrences
  objectives:
    - {indicatorRef: good, compositeWeight: 1, target: 0.99}
)",
                    StatusCode::kUnimplemented),
            "slos.yaml:15:8: spec.objectives[0].indicatorRef: composite SLOs (an indicator per "
            "objective) are not supported\n"
            "slos.yaml:15:28: spec.objectives[0].compositeWeight: composite SLOs (an indicator "
            "per objective) are not supported");
  // Errors win over unimplemented features: the file is wrong either way.
  EXPECT_THAT(ErrorOf(std::string(kSli) + "  indicatorRef: good\n  budgetingMethod: Timeslices\n"
                                          "  objectives: [{target: 2}]\n"),
              HasSubstr("must be between 0 and 1"));
}

TEST(ParseSloFileTest, DocumentsThatAreNotSlos) {
  EXPECT_EQ(ErrorOf(""),
            "slos.yaml: no SLO in this file (expected Sloth `version: prometheus/v1` "
            "or OpenSLO `apiVersion: openslo/v1` with kind SLO)");
  EXPECT_THAT(ErrorOf("apiVersion: argoproj.io/v1alpha1\nkind: Rollout\n"),
              HasSubstr("slos.yaml:1:13: apiVersion: not an SLO document"));
  EXPECT_THAT(ErrorOf("- a\n- b\n"), HasSubstr("expected an SLO document (a map)"));
  EXPECT_THAT(ErrorOf("version: prometheus/v1\nservice: [unclosed\n"), HasSubstr("slos.yaml:"));
  EXPECT_THAT(ErrorOf("apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\n",
                      StatusCode::kUnimplemented),
              HasSubstr("PrometheusServiceLevel is not read"));
}

// ---------------------------------------------------------------------------------------------
// FindSlo.

TEST(FindSloTest, ByNameOrServiceSlashName) {
  std::vector<Slo> slos = ParseTestdata("sloth_myservice.yaml");
  EXPECT_EQ(FindSlo(slos, "requests-latency")->name, "requests-latency");
  EXPECT_EQ(FindSlo(slos, "myservice/requests-latency")->name, "requests-latency");
  auto missing = FindSlo(slos, "latency");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.error().message(),
            "no SLO named \"latency\"; the SLOs are \"requests-availability\", "
            "\"requests-latency\"");

  std::vector<Slo> twice = slos;
  twice.push_back(slos[1]);
  twice.back().service = "other";
  auto ambiguous = FindSlo(twice, "requests-latency");
  ASSERT_FALSE(ambiguous.has_value());
  EXPECT_THAT(ambiguous.error().message(),
              HasSubstr("name one of \"myservice/requests-latency\", \"other/requests-latency\""));
  EXPECT_EQ(FindSlo(twice, "other/requests-latency")->service, "other");
  EXPECT_EQ(FindSlo({}, "x").error().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace ramp::slo
