#include "slo/burn_rate.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "analysis/stats.h"

namespace ramp::slo {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// Numbers from ../shared/reference/science-and-performance.md §2.1–§2.3.

Slo ThirtyDaySlo(double objective = 0.999) {
  Slo slo;
  slo.name = "availability";
  slo.service = "checkout";
  slo.objective = objective;
  slo.period = hours(30 * 24);
  slo.windows = DefaultWindows(slo.period);
  return slo;
}

// Only the 14.4× page rule (2 % of the budget over 1h/5m): the §2.3 example's test.
Slo PageQuickOnly() {
  Slo slo = ThirtyDaySlo();
  slo.windows.resize(1);
  return slo;
}

// The §2.3 alternative: B₁ = 50 against B = 14.4.
CanaryBurnOptions ReferenceOptions() {
  CanaryBurnOptions o;
  o.alternative_factor = 50 / 14.4;
  return o;
}

// A reproducible Bernoulli stream.
class Requests {
 public:
  explicit Requests(uint64_t seed) : rng_(seed) {}
  bool Fails(double p) {
    return static_cast<double>(rng_() >> 11) * 0x1.0p-53 < p;  // uniform in [0, 1)
  }

 private:
  std::mt19937_64 rng_;
};

TEST(CanaryBurnTest, RuleThresholdsAreTheWorkbookBurnRatesTimesTheBudget) {
  CanaryBurnResult r = EvaluateCanaryBurn(ThirtyDaySlo(), 0, 0, {});
  ASSERT_EQ(r.rules.size(), 4u);
  const double want_burn[] = {14.4, 6, 3, 1};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(r.rules[i].window.burn_rate, want_burn[i], 1e-9);
    EXPECT_NEAR(r.rules[i].p0, want_burn[i] * 0.001, 1e-12);
    EXPECT_NEAR(r.rules[i].p1, 3.5 * want_burn[i] * 0.001, 1e-12);
    EXPECT_EQ(r.rules[i].state, RuleDecision::State::kContinue);
  }
  EXPECT_EQ(r.verdict, Verdict::kContinue);
  EXPECT_EQ(r.message, "no canary requests yet for the 99.9 % SLO \"availability\"");
}

TEST(CanaryBurnTest, WaldsExpectationForTheReferenceExampleIs165Requests) {
  // §2.3: p_B = 14.4 · 0.1 % = 1.44 %, p₁ = 50 · 0.1 % = 5 %, α = β = 1 %.
  auto e = analysis::stats::WaldExpectedSamples(0.0144, 0.05, 0.01, 0.01);
  ASSERT_TRUE(e.has_value());
  EXPECT_NEAR(e->under_h1, 165, 1.5);
}

TEST(CanaryBurnTest, FailMessageNamesTheRuleAndTheNumbers) {
  // 9 errors in 180 requests: Λ = 9 ln(5/1.44) + 171 ln(0.95/0.9856) = 4.91 ≥ ln(99) = 4.60.
  CanaryBurnResult r = EvaluateCanaryBurn(PageQuickOnly(), 180, 9, ReferenceOptions());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.message,
            "canary error ratio 5.00 % over 180 requests ≥ burn 14.4× of a 99.9 % SLO (page, "
            "1h/5m): would exhaust 2 % of the 30d budget in 1h (SPRT log-likelihood ratio 4.91, "
            "bounds -4.60 and 4.60; H0 1.44 %, H1 5.00 %)");
  ASSERT_EQ(r.rules.size(), 1u);
  EXPECT_NEAR(r.rules[0].log_likelihood_ratio, 4.912, 1e-3);
  EXPECT_NEAR(r.rules[0].upper, std::log(99), 1e-12);

  // One error fewer is not enough evidence yet.
  CanaryBurnResult c = EvaluateCanaryBurn(PageQuickOnly(), 180, 8, ReferenceOptions());
  EXPECT_EQ(c.verdict, Verdict::kContinue);
  EXPECT_THAT(c.message, HasSubstr("canary error ratio 4.44 % over 180 requests: not enough "
                                   "evidence yet for 1 of 1 burn-rate rules (14.4× (page, "
                                   "1h/5m))"));
}

TEST(CanaryBurnTest, WithEveryRuleTheFailureNamesTheHighestBurnThatRejected) {
  CanaryBurnResult r = EvaluateCanaryBurn(ThirtyDaySlo(), 180, 9, {});
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_THAT(r.message, HasSubstr("≥ burn 14.4× of a 99.9 % SLO (page, 1h/5m)"));
  for (const RuleDecision& d : r.rules) EXPECT_EQ(d.state, RuleDecision::State::kRejected);

  // 5 errors in 180 (2.78 %) is below the 14.4× page rule but enough for the ticket rules.
  CanaryBurnResult t = EvaluateCanaryBurn(ThirtyDaySlo(), 180, 5, {});
  EXPECT_EQ(t.verdict, Verdict::kFail);
  EXPECT_THAT(t.message, HasSubstr("≥ burn 3× of a 99.9 % SLO (ticket, 1d/2h): would exhaust 10 % "
                                   "of the 30d budget in 1d"));
  EXPECT_EQ(t.rules[0].state, RuleDecision::State::kContinue);
  EXPECT_EQ(t.rules[1].state, RuleDecision::State::kContinue);
  EXPECT_EQ(t.rules[2].state, RuleDecision::State::kRejected);
  EXPECT_EQ(t.rules[3].state, RuleDecision::State::kRejected);
}

TEST(CanaryBurnTest, CleanTrafficPassesEveryRule) {
  CanaryBurnResult r = EvaluateCanaryBurn(ThirtyDaySlo(), 5000, 0, {});
  EXPECT_EQ(r.verdict, Verdict::kPass);
  EXPECT_EQ(r.message,
            "canary error ratio 0.00 % over 5000 requests is below every burn-rate threshold of "
            "the 99.9 % SLO \"availability\": 14.4× (page, 1h/5m), 6× (page, 6h/30m), 3× "
            "(ticket, 1d/2h), 1× (ticket, 3d/6h)");
  // Few requests: the page rules have accepted, the slow ticket rule has not.
  CanaryBurnResult early = EvaluateCanaryBurn(ThirtyDaySlo(), 400, 0, {});
  EXPECT_EQ(early.verdict, Verdict::kContinue);
  EXPECT_EQ(early.rules[0].state, RuleDecision::State::kAccepted);
  EXPECT_EQ(early.rules[3].state, RuleDecision::State::kContinue);
}

TEST(CanaryBurnTest, SeveritiesChooseTheRules) {
  CanaryBurnOptions page;
  page.severities = {"page"};
  CanaryBurnResult r = EvaluateCanaryBurn(ThirtyDaySlo(), 400, 0, page);
  EXPECT_EQ(r.rules.size(), 2u);
  EXPECT_EQ(r.verdict, Verdict::kPass);

  CanaryBurnOptions none;
  none.severities = {"sms"};
  CanaryBurnResult n = EvaluateCanaryBurn(ThirtyDaySlo(), 400, 0, none);
  EXPECT_EQ(n.verdict, Verdict::kInconclusive);
  EXPECT_EQ(n.message,
            "SLO \"availability\" has no burn-rate rule of severity sms that can be tested");
}

TEST(CanaryBurnTest, RulesThatCannotBeReachedAreSkippedAndSaidSo) {
  // A 90 % SLO: 14.4× burn is a 144 % error ratio (§2.1 "Extreme SLOs").
  CanaryBurnResult r = EvaluateCanaryBurn(ThirtyDaySlo(0.9), 100, 0, {});
  ASSERT_EQ(r.rules.size(), 4u);
  EXPECT_EQ(r.rules[0].state, RuleDecision::State::kSkipped);
  EXPECT_EQ(r.rules[0].message,
            "skipped burn 14.4× (page, 1h/5m): its threshold error ratio 144.00 % cannot be "
            "reached with a 90 % SLO");
  // 6× is 60 %: H1 is capped at 99.9 %.
  EXPECT_NEAR(r.rules[1].p1, 0.999, 1e-12);
  EXPECT_NE(r.rules[1].state, RuleDecision::State::kSkipped);
  EXPECT_THAT(r.message, HasSubstr("skipped burn 14.4×"));

  CanaryBurnOptions page;
  page.severities = {"page"};
  CanaryBurnResult half = EvaluateCanaryBurn(ThirtyDaySlo(0.5), 100, 0, page);
  EXPECT_EQ(half.verdict, Verdict::kInconclusive);
  EXPECT_THAT(half.message, HasSubstr("no burn-rate rule of severity page that can be tested"));
  EXPECT_THAT(half.message, HasSubstr("threshold error ratio 300.00 % cannot be reached"));
}

TEST(CanaryBurnTest, InvalidInputsAreInconclusive) {
  EXPECT_EQ(EvaluateCanaryBurn(ThirtyDaySlo(), 10, 11, {}).verdict, Verdict::kInconclusive);
  EXPECT_EQ(EvaluateCanaryBurn(ThirtyDaySlo(), -1, 0, {}).verdict, Verdict::kInconclusive);
  CanaryBurnOptions bad;
  bad.alpha = 0;
  EXPECT_THAT(EvaluateCanaryBurn(ThirtyDaySlo(), 10, 0, bad).message,
              HasSubstr("alpha and beta must be in (0, 1)"));
  bad = {};
  bad.alternative_factor = 1;
  EXPECT_THAT(EvaluateCanaryBurn(ThirtyDaySlo(), 10, 0, bad).message,
              HasSubstr("alternative factor must be above 1"));
  EXPECT_EQ(EvaluateCanaryBurn(ThirtyDaySlo(1.0), 10, 0, {}).verdict, Verdict::kInconclusive);
  EXPECT_EQ(VerdictName(Verdict::kFail), "Fail");
}

// The number of canary requests until the test first says kFail, evaluating after every
// request; 0 when it never does within `limit`. The log-likelihood ratio only rises on an
// error, so checking right after each error (and not after the successes) finds the same point.
int64_t RequestsToFail(const Slo& slo, const CanaryBurnOptions& options, double error_ratio,
                       int64_t limit, Requests* requests) {
  int64_t errors = 0;
  for (int64_t n = 1; n <= limit; ++n) {
    if (!requests->Fails(error_ratio)) continue;
    ++errors;
    if (EvaluateCanaryBurn(slo, n, errors, options).verdict == Verdict::kFail) return n;
  }
  return 0;
}

TEST(CanaryBurnSimulationTest, AFivePercentCanaryFailsInAbout165Requests) {
  // §2.3: 99.9 % SLO, B = 14.4, B₁ = 50, true canary error ratio 5 % ⇒ ≈ 165 requests.
  Requests requests(20240601);
  std::vector<int64_t> to_fail;
  for (int run = 0; run < 400; ++run) {
    int64_t n = RequestsToFail(PageQuickOnly(), ReferenceOptions(), 0.05, 5000, &requests);
    to_fail.push_back(n == 0 ? std::numeric_limits<int64_t>::max() : n);
  }
  std::sort(to_fail.begin(), to_fail.end());
  const double median = static_cast<double>(to_fail[to_fail.size() / 2]);
  EXPECT_GT(median, 165 * 0.6);
  EXPECT_LT(median, 165 * 1.4);
  // β = 1 %: hardly any run accepts the bad canary instead (it then never fails here).
  EXPECT_LE(std::count(to_fail.begin(), to_fail.end(), std::numeric_limits<int64_t>::max()), 12);
}

TEST(CanaryBurnSimulationTest, ACanaryAtTheSloErrorRatioRarelyFails) {
  // 200 runs × 20 000 requests at exactly 0.1 % errors with the four default rules, checked after
  // every request: each rule's false-fail chance is at most about α however often it is checked,
  // so at most about α × rules of the runs may fail.
  const Slo slo = ThirtyDaySlo();
  const CanaryBurnOptions options;
  int failed = 0, passed_at_end = 0;
  for (int run = 0; run < 200; ++run) {
    Requests stream(1000 + run);
    int64_t errors = 0;
    bool failed_run = false;
    for (int64_t n = 1; n <= 20000 && !failed_run; ++n) {
      if (!stream.Fails(0.001)) continue;
      ++errors;
      failed_run = EvaluateCanaryBurn(slo, n, errors, options).verdict == Verdict::kFail;
    }
    failed += failed_run;
    if (!failed_run) {
      passed_at_end += EvaluateCanaryBurn(slo, 20000, errors, options).verdict == Verdict::kPass;
    }
  }
  EXPECT_LE(failed, 200 * options.alpha * 4);
  EXPECT_EQ(passed_at_end, 200 - failed);  // and every other run ends with kPass
}

TEST(CanaryBurnSimulationTest, ACanaryExactlyAtThePageBurnFailsAboutAlphaOfTheTime) {
  // H0 itself: 1.44 % errors against the 14.4× rule alone. Wald: P(fail) ≤ α/(1 − β) ≈ 1 %.
  Requests requests(99);
  int failed = 0;
  for (int run = 0; run < 200; ++run) {
    failed += RequestsToFail(PageQuickOnly(), ReferenceOptions(), 0.0144, 20000, &requests) > 0;
  }
  EXPECT_LE(failed, 6);
}

// ---------------------------------------------------------------------------------------------
// Service-wide guard.

std::map<seconds, double> Everywhere(double ratio) {
  std::map<seconds, double> m;
  for (seconds w : GuardWindows(ThirtyDaySlo())) m[w] = ratio;
  return m;
}

TEST(ServiceWideTest, GuardWindowsAreEveryLongAndShortWindow) {
  EXPECT_THAT(GuardWindows(ThirtyDaySlo()), ElementsAre(minutes(5), minutes(30), hours(1), hours(2),
                                                        hours(6), hours(24), hours(72)));
}

TEST(ServiceWideTest, DilutedCanaryDoesNotPage) {
  // §2.3: 5 % canary at 5 % errors on a 0.1 % service: 0.05·0.05 + 0.95·0.001 = 0.345 %.
  const double diluted = 0.05 * 0.05 + 0.95 * 0.001;
  EXPECT_NEAR(diluted, 0.00345, 1e-12);
  ServiceWideResult r = EvaluateServiceWide(ThirtyDaySlo(), Everywhere(diluted));
  EXPECT_FALSE(r.page_firing);
  EXPECT_TRUE(r.ticket_firing);  // 3.45× > 3× (once the 1d window has filled, §2.3: ≈ 21 h)
  EXPECT_EQ(r.unevaluated, 0);
  EXPECT_THAT(r.message,
              HasSubstr("burn 3× (ticket, 1d/2h) is firing: error ratio 0.35 % over 1d and "
                        "0.35 % over 2h, threshold 0.30 %"));
  EXPECT_THAT(r.message,
              HasSubstr("burn 14.4× (page, 1h/5m) is not firing: error ratio 0.35 % over 1h"));
}

TEST(ServiceWideTest, BothWindowsMustExceedTheThreshold) {
  ServiceWideResult outage = EvaluateServiceWide(ThirtyDaySlo(), Everywhere(1.0));
  EXPECT_TRUE(outage.page_firing);
  EXPECT_TRUE(outage.ticket_firing);

  // Recovered: the 1h, 1d and 3d windows still remember, the short ones are clean (6h is the
  // long window of a page rule and the short one of a ticket rule).
  auto ratios = Everywhere(0.02);
  for (seconds w :
       {seconds(minutes(5)), seconds(minutes(30)), seconds(hours(2)), seconds(hours(6))}) {
    ratios[w] = 0;
  }
  ServiceWideResult r = EvaluateServiceWide(ThirtyDaySlo(), ratios);
  EXPECT_FALSE(r.page_firing);
  EXPECT_FALSE(r.ticket_firing);
  EXPECT_THAT(r.message, HasSubstr("no service-wide burn-rate rule of the 99.9 % SLO"));

  ServiceWideResult clean = EvaluateServiceWide(ThirtyDaySlo(), Everywhere(0.0005));
  EXPECT_FALSE(clean.page_firing || clean.ticket_firing);
}

TEST(ServiceWideTest, MissingOrNanWindowsLeaveRulesUnevaluated) {
  auto ratios = Everywhere(1.0);
  ratios.erase(hours(72));
  ratios[hours(2)] = std::nan("");
  ServiceWideResult r = EvaluateServiceWide(ThirtyDaySlo(), ratios);
  EXPECT_TRUE(r.page_firing);
  EXPECT_FALSE(r.ticket_firing);
  EXPECT_EQ(r.unevaluated, 2);
  EXPECT_THAT(r.message,
              HasSubstr("burn 3× (ticket, 1d/2h) cannot be evaluated: no error ratio over 2h"));
  EXPECT_THAT(r.message,
              HasSubstr("burn 1× (ticket, 3d/6h) cannot be evaluated: no error ratio over 3d"));
  EXPECT_THAT(r.message, Not(HasSubstr("no service-wide burn-rate rule")));

  ServiceWideResult none = EvaluateServiceWide(ThirtyDaySlo(), {});
  EXPECT_FALSE(none.page_firing || none.ticket_firing);
  EXPECT_EQ(none.unevaluated, 4);
  EXPECT_THAT(none.message, HasSubstr("no error ratio over 1h or 5m"));
}

// ---------------------------------------------------------------------------------------------
// Error-budget policy.

TEST(BudgetTest, RemainingBudget) {
  EXPECT_NEAR(RemainingBudget(ThirtyDaySlo(), 0.0), 1, 1e-12);
  EXPECT_NEAR(RemainingBudget(ThirtyDaySlo(), 0.000877), 0.123, 1e-9);
  EXPECT_NEAR(RemainingBudget(ThirtyDaySlo(), 0.001), 0, 1e-9);
  EXPECT_NEAR(RemainingBudget(ThirtyDaySlo(), 0.002), -1, 1e-9);
}

TEST(BudgetTest, BelowTheFloorRefusesOrAsksForApproval) {
  CanaryBurnResult refuse = EvaluateBudget(ThirtyDaySlo(), 0.000877, {});
  EXPECT_EQ(refuse.verdict, Verdict::kFail);
  EXPECT_EQ(refuse.message,
            "error budget 12.30 % left of 30d, below the policy floor of 25.00 % (error ratio "
            "0.09 % over the period against a budget of 0.10 %): the release is refused");

  BudgetPolicy approve;
  approve.action = BudgetPolicy::Action::kRequireApproval;
  CanaryBurnResult ask = EvaluateBudget(ThirtyDaySlo(), 0.000877, approve);
  EXPECT_EQ(ask.verdict, Verdict::kInconclusive);
  EXPECT_THAT(ask.message, HasSubstr("the release needs approval"));

  CanaryBurnResult overspent = EvaluateBudget(ThirtyDaySlo(), 0.002, {});
  EXPECT_EQ(overspent.verdict, Verdict::kFail);
  EXPECT_THAT(overspent.message, HasSubstr("error budget -100.00 % left of 30d"));
}

TEST(BudgetTest, AtOrAboveTheFloorPasses) {
  CanaryBurnResult r = EvaluateBudget(ThirtyDaySlo(), 0.0002, {});
  EXPECT_EQ(r.verdict, Verdict::kPass);
  EXPECT_THAT(
      r.message,
      HasSubstr("error budget 80.00 % left of 30d, at or above the policy floor of 25.00 %"));
  BudgetPolicy zero;
  zero.floor = 0;
  EXPECT_EQ(EvaluateBudget(ThirtyDaySlo(), 0.001, zero).verdict, Verdict::kPass);
}

TEST(BudgetTest, UnknownInputsAreInconclusive) {
  EXPECT_EQ(EvaluateBudget(ThirtyDaySlo(), std::nan(""), {}).verdict, Verdict::kInconclusive);
  EXPECT_EQ(EvaluateBudget(ThirtyDaySlo(), -0.1, {}).verdict, Verdict::kInconclusive);
  BudgetPolicy bad;
  bad.floor = 1.5;
  EXPECT_THAT(EvaluateBudget(ThirtyDaySlo(), 0, bad).message,
              HasSubstr("the floor must be between 0 and 1, got 1.5"));
}

}  // namespace
}  // namespace ramp::slo
