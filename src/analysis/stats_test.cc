#include "analysis/stats.h"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

namespace ramp::analysis::stats {
namespace {

// Values computed outside ramp: the reference's scipy run (science-and-performance.md §1.1,
// §1.4 F2) and textbook normal quantiles.

TEST(NormalTest, QuantilesMatchTables) {
  EXPECT_NEAR(NormalQuantile(0.975), 1.959963984540054, 1e-9);
  EXPECT_NEAR(NormalQuantile(0.99), 2.326347874040841, 1e-9);
  EXPECT_NEAR(NormalQuantile(0.01), -2.326347874040841, 1e-9);
  EXPECT_NEAR(NormalQuantile(1e-10), -6.361340902404056, 1e-8);
  EXPECT_NEAR(NormalCdf(1.959963984540054), 0.975, 1e-12);
  EXPECT_TRUE(std::isinf(NormalQuantile(0)));
}

const std::vector<double> kCanary = {12.1, 14.3, 14.3, 15.0, 16.2, 18.9, 21.4, 14.3, 17.7, 19.5};
const std::vector<double> kBaseline = {11.0, 12.1, 12.9, 13.3, 14.3, 13.8,
                                       12.5, 15.1, 12.2, 13.0, 14.0};

TEST(MannWhitneyTest, MatchesTheReferenceVector) {
  auto r = MannWhitney(kCanary, kBaseline, 0.98);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_DOUBLE_EQ(r->u, 95);
  EXPECT_NEAR(r->sigma, 14.150, 5e-4);
  EXPECT_NEAR(r->z, 2.7915, 5e-4);
  EXPECT_NEAR(r->p_two_sided, 0.00525, 5e-5);
  EXPECT_NEAR(r->estimate, 2.85, 0.01);
  EXPECT_NEAR(r->ci_low, 0.5, 0.05);
  EXPECT_NEAR(r->ci_high, 6.3, 0.05);
}

TEST(MannWhitneyTest, RefusesWhatCannotBeRanked) {
  EXPECT_FALSE(MannWhitney({}, {1.0}, 0.98).has_value());
  EXPECT_FALSE(MannWhitney({1.0}, {1.0}, 0.98).has_value());
  EXPECT_FALSE(MannWhitney({1.0, NAN}, {2.0}, 0.98).has_value());
  EXPECT_FALSE(MannWhitney({1.0}, {2.0}, 1.0).has_value());
}

TEST(KayentaTest, TheReferenceVectorIsAPassDespiteASignificantShift) {
  KayentaResult k = ClassifyKayenta(kCanary, kBaseline);
  EXPECT_EQ(k.classification, KayentaClass::kPass);
  ASSERT_TRUE(k.test.has_value());
  EXPECT_LT(k.test->ci_low, 0.25 * std::abs(k.test->estimate));
}

TEST(KayentaTest, AClearShiftIsHighOrLowByDirection) {
  std::vector<double> base, worse;
  for (int i = 0; i < 30; ++i) {
    base.push_back(100 + i % 7);
    worse.push_back(200 + i % 5);
  }
  EXPECT_EQ(ClassifyKayenta(worse, base).classification, KayentaClass::kHigh);
  EXPECT_EQ(ClassifyKayenta(base, worse).classification, KayentaClass::kLow);
  KayentaOptions only_increase;
  only_increase.direction = Direction::kIncrease;
  EXPECT_EQ(ClassifyKayenta(base, worse, only_increase).classification, KayentaClass::kPass);
  KayentaOptions big_effect;
  big_effect.allowed_increase = 3.0;  // the canary is only about twice as large
  EXPECT_EQ(ClassifyKayenta(worse, base, big_effect).classification, KayentaClass::kPass);
}

TEST(KayentaTest, EarlyExits) {
  EXPECT_EQ(ClassifyKayenta({NAN, NAN}, {1, 2}).classification, KayentaClass::kNodata);
  EXPECT_EQ(ClassifyKayenta({3, 1, 2}, {1, 2, 3}).classification, KayentaClass::kPass);
  EXPECT_EQ(ClassifyKayenta({5, 5}, {5, 5, 5}).classification, KayentaClass::kPass);
  // Two constant, different samples are still compared.
  std::vector<double> high(20, 10.0), low(20, 1.0);
  EXPECT_EQ(ClassifyKayenta(high, low).classification, KayentaClass::kHigh);
}

TEST(SprtTest, ReferenceExampleIncrementsAndBounds) {
  auto none = WaldSprt(0.001, 0.05, 0.01, 0.01, 0, 0);
  ASSERT_TRUE(none.has_value());
  EXPECT_NEAR(none->upper, 4.595, 1e-3);
  EXPECT_NEAR(none->lower, -4.595, 1e-3);
  EXPECT_EQ(none->decision, SequentialDecision::kContinue);
  auto one_error = WaldSprt(0.001, 0.05, 0.01, 0.01, 1, 1);
  EXPECT_NEAR(one_error->log_likelihood_ratio, 3.912, 1e-3);
  auto one_success = WaldSprt(0.001, 0.05, 0.01, 0.01, 1, 0);
  EXPECT_NEAR(one_success->log_likelihood_ratio, -0.0503, 1e-4);
  EXPECT_EQ(WaldSprt(0.001, 0.05, 0.01, 0.01, 3, 2)->decision, SequentialDecision::kRejectH0);
  EXPECT_EQ(WaldSprt(0.001, 0.05, 0.01, 0.01, 100, 0)->decision, SequentialDecision::kAcceptH0);

  auto expected = WaldExpectedSamples(0.001, 0.05, 0.01, 0.01);
  ASSERT_TRUE(expected.has_value());
  EXPECT_NEAR(expected->under_h1, 30.5, 0.1);
  EXPECT_NEAR(expected->under_h0, 97, 0.5);

  EXPECT_FALSE(WaldSprt(0.05, 0.001, 0.01, 0.01, 1, 0).has_value());
  EXPECT_FALSE(WaldSprt(0.001, 0.05, 0.01, 0.01, 1, 2).has_value());
}

TEST(ErrorAttributionTest, BayesFactorMatchesTheFormula) {
  // ln BF = ln B(1+x, 1+n−x) − ln B(1, 1) − [x ln π + (n−x) ln(1−π)], computed separately.
  auto all_canary = ErrorAttribution(5, 5, 0.05, 0.01);
  ASSERT_TRUE(all_canary.has_value());
  EXPECT_NEAR(all_canary->log_bayes_factor, 13.186901898541898, 1e-9);
  EXPECT_TRUE(all_canary->canary_worse);
  auto fair = ErrorAttribution(1, 20, 0.05, 0.01);
  EXPECT_NEAR(fair->log_bayes_factor, -2.069949844359961, 1e-9);
  EXPECT_FALSE(fair->canary_worse);
  auto some = ErrorAttribution(3, 10, 0.05, 0.01);
  EXPECT_NEAR(some->log_bayes_factor, 2.1608628657944102, 1e-9);
  EXPECT_FALSE(some->canary_worse);  // BF ≈ 8.7 < 100
}

TEST(ErrorAttributionTest, TheConfidenceSequenceHoldsTheEstimateAndItsEndsAreOnTheBoundary) {
  auto r = ErrorAttribution(6, 40, 0.05, 0.01);
  ASSERT_TRUE(r.has_value());
  EXPECT_LT(r->theta_low, 6.0 / 40);
  EXPECT_GT(r->theta_high, 6.0 / 40);
  // At each end the mixture-vs-θ likelihood ratio equals 1/α (computed here from the formula).
  auto log_ratio = [](double theta) {
    double log_b = std::lgamma(7.0) + std::lgamma(35.0) - std::lgamma(42.0);
    return log_b - (6 * std::log(theta) + 34 * std::log(1 - theta));
  };
  EXPECT_NEAR(log_ratio(r->theta_low), std::log(100.0), 1e-6);
  EXPECT_NEAR(log_ratio(r->theta_high), std::log(100.0), 1e-6);
  EXPECT_NEAR(r->ratio_low, r->theta_low * 0.95 / ((1 - r->theta_low) * 0.05), 1e-9);

  auto nothing = ErrorAttribution(0, 0, 0.05, 0.01);
  EXPECT_EQ(nothing->theta_low, 0);
  EXPECT_EQ(nothing->theta_high, 1);
  EXPECT_TRUE(std::isinf(nothing->ratio_high));
  EXPECT_FALSE(nothing->canary_worse);
}

TEST(ErrorAttributionTest, RefusesBadArguments) {
  EXPECT_FALSE(ErrorAttribution(1, 2, 0.0, 0.01).has_value());
  EXPECT_FALSE(ErrorAttribution(1, 2, 0.05, 1.0).has_value());
  EXPECT_FALSE(ErrorAttribution(3, 2, 0.05, 0.01).has_value());
  EXPECT_FALSE(ErrorAttribution(1, 2, 0.05, 0.01, 0, 1).has_value());
}

// Anytime validity: checked after every error, a healthy canary is flagged in at most about α
// of the runs however long they go (Ville's inequality), and a 50× worse one is caught fast.
TEST(ErrorAttributionTest, ContinuousMonitoringKeepsTheFalseAlarmRate) {
  constexpr double kShare = 0.05, kAlpha = 0.05;
  constexpr int kRuns = 200, kErrors = 300;
  std::mt19937_64 rng(20261126);
  std::bernoulli_distribution on_canary(kShare);
  int false_alarms = 0;
  for (int run = 0; run < kRuns; ++run) {
    int64_t x = 0;
    for (int n = 1; n <= kErrors; ++n) {
      x += on_canary(rng) ? 1 : 0;
      if (ErrorAttribution(x, n, kShare, kAlpha)->canary_worse) {
        ++false_alarms;
        break;
      }
    }
  }
  // α plus three binomial standard deviations.
  EXPECT_LE(false_alarms, kRuns * kAlpha + 3 * std::sqrt(kRuns * kAlpha * (1 - kAlpha)));

  // Canary error rate 50× the stable's at a 5 % share: an error is on the canary with
  // probability 50·0.05 / (50·0.05 + 0.95) ≈ 0.72.
  std::bernoulli_distribution bad(50 * kShare / (50 * kShare + (1 - kShare)));
  int caught_within_20 = 0;
  for (int run = 0; run < kRuns; ++run) {
    int64_t x = 0;
    for (int n = 1; n <= 20; ++n) {
      x += bad(rng) ? 1 : 0;
      if (ErrorAttribution(x, n, kShare, kAlpha)->canary_worse) {
        ++caught_within_20;
        break;
      }
    }
  }
  EXPECT_GE(caught_within_20, kRuns * 95 / 100);
}

}  // namespace
}  // namespace ramp::analysis::stats
