// The statistics against reference values computed outside ramp with 50-digit arithmetic
// (testdata/generate_stats_reference.py, run by hand; its output testdata/stats_reference.tsv is
// committed). Each row: function, arguments, expected values.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "analysis/stats.h"

namespace ramp::analysis::stats {
namespace {

struct Row {
  std::string function;
  std::vector<std::string> args;
  std::vector<double> expected;
};

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, sep)) out.push_back(part);
  return out;
}

std::vector<double> Numbers(const std::string& text, char sep) {
  std::vector<double> out;
  for (const std::string& s : Split(text, sep)) out.push_back(std::stod(s));
  return out;
}

std::vector<Row> ReadRows() {
  std::ifstream in(RAMP_STATS_REFERENCE);
  std::vector<Row> rows;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cols = Split(line, '\t');
    if (cols.size() != 3) continue;
    rows.push_back({cols[0], Split(cols[1], ','), Numbers(cols[2], ',')});
  }
  return rows;
}

// Relative tolerance, with an absolute floor for values near 0.
void ExpectClose(double actual, double expected, double rel, const std::string& what) {
  EXPECT_NEAR(actual, expected, std::max(1e-12, std::abs(expected) * rel)) << what;
}

TEST(StatsReferenceTest, EveryRowMatches) {
  const std::vector<Row> rows = ReadRows();
  ASSERT_GE(rows.size(), 40u) << "cannot read " << RAMP_STATS_REFERENCE;
  int checked = 0;
  for (const Row& r : rows) {
    const std::string what = r.function + "(" + [&] {
      std::string s;
      for (const auto& a : r.args) s += (s.empty() ? "" : ",") + a;
      return s;
    }() + ")";
    auto arg = [&](size_t i) { return std::stod(r.args.at(i)); };
    auto count = [&](size_t i) { return static_cast<int64_t>(std::stoll(r.args.at(i))); };
    if (r.function == "NormalCdf") {
      ExpectClose(NormalCdf(arg(0)), r.expected[0], 1e-12, what);
    } else if (r.function == "NormalQuantile") {
      ExpectClose(NormalQuantile(arg(0)), r.expected[0], 1e-11, what);
    } else if (r.function == "ErrorAttribution") {
      auto a = ErrorAttribution(count(0), count(1), arg(2), arg(3));
      ASSERT_TRUE(a.has_value()) << what;
      ExpectClose(a->log_bayes_factor, r.expected[0], 1e-10, what + " ln BF");
      ExpectClose(a->theta_low, r.expected[1], 1e-7, what + " θ low");
      ExpectClose(a->theta_high, r.expected[2], 1e-7, what + " θ high");
    } else if (r.function == "BernoulliConfidenceSequence") {
      RateInterval i = BernoulliConfidenceSequence(count(0), count(1), arg(2));
      ExpectClose(i.low, r.expected[0], 1e-7, what + " low");
      ExpectClose(i.high, r.expected[1], 1e-7, what + " high");
    } else if (r.function == "WaldSprt") {
      auto s = WaldSprt(arg(0), arg(1), arg(2), arg(3), count(4), count(5));
      ASSERT_TRUE(s.has_value()) << what;
      ExpectClose(s->log_likelihood_ratio, r.expected[0], 1e-10, what + " Λ");
      ExpectClose(s->upper, r.expected[1], 1e-12, what + " A");
      ExpectClose(s->lower, r.expected[2], 1e-12, what + " B");
    } else if (r.function == "WaldExpectedSamples") {
      auto e = WaldExpectedSamples(arg(0), arg(1), arg(2), arg(3));
      ASSERT_TRUE(e.has_value()) << what;
      ExpectClose(e->under_h1, r.expected[0], 1e-10, what + " E1");
      ExpectClose(e->under_h0, r.expected[1], 1e-10, what + " E0");
    } else if (r.function == "KlBernoulli") {
      ExpectClose(KlBernoulli(arg(0), arg(1)), r.expected[0], 1e-12, what);
    } else if (r.function == "MannWhitney") {
      std::vector<std::string> xy = Split(r.args.at(0), '|');
      ASSERT_EQ(xy.size(), 2u) << what;
      auto m = MannWhitney(Numbers(xy[0], ' '), Numbers(xy[1], ' '), 0.98);
      ASSERT_TRUE(m.has_value()) << what;
      ExpectClose(m->u, r.expected[0], 1e-12, what + " U");
      ExpectClose(m->sigma, r.expected[1], 1e-12, what + " σ");
      ExpectClose(m->z, r.expected[2], 1e-12, what + " z");
      ExpectClose(m->p_two_sided, r.expected[3], 1e-9, what + " p");
    } else {
      ADD_FAILURE() << "unknown function in the reference file: " << r.function;
      continue;
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(rows.size()));
}

// Wald's expected sample sizes (the reference's F2 example: 30.5 requests under H1, 97 under H0)
// against the SPRT run on seeded Bernoulli streams. Wald's formula ignores the overshoot of the
// last step, so the simulated mean sits a little above it; the error rates stay within α and β.
TEST(StatsReferenceTest, SprtSampleSizesAndErrorRatesBySimulation) {
  auto e = WaldExpectedSamples(0.001, 0.05, 0.01, 0.01);
  ASSERT_TRUE(e.has_value());
  EXPECT_NEAR(e->under_h1, 30.46, 0.01);
  EXPECT_NEAR(e->under_h0, 97.20, 0.01);
  constexpr int kRuns = 4000;
  std::mt19937_64 rng(20261127);
  auto run = [&](double p, int64_t* n_out) {
    std::bernoulli_distribution bad(p);
    int64_t n = 0, k = 0;
    while (true) {
      ++n;
      k += bad(rng) ? 1 : 0;
      auto s = WaldSprt(0.001, 0.05, 0.01, 0.01, n, k);
      if (s->decision != SequentialDecision::kContinue) {
        *n_out = n;
        return s->decision;
      }
    }
  };
  double sum_h1 = 0, sum_h0 = 0;
  int missed = 0, false_alarms = 0;
  for (int i = 0; i < kRuns; ++i) {
    int64_t n = 0;
    if (run(0.05, &n) == SequentialDecision::kAcceptH0) ++missed;
    sum_h1 += static_cast<double>(n);
    if (run(0.001, &n) == SequentialDecision::kRejectH0) ++false_alarms;
    sum_h0 += static_cast<double>(n);
  }
  printf("SPRT mean n: H1 %.1f (Wald %.1f), H0 %.1f (Wald %.1f); missed %d, false alarms %d\n",
         sum_h1 / kRuns, e->under_h1, sum_h0 / kRuns, e->under_h0, missed, false_alarms);
  EXPECT_GE(sum_h1 / kRuns, e->under_h1 * 0.9);
  EXPECT_LE(sum_h1 / kRuns, e->under_h1 * 1.6);
  EXPECT_GE(sum_h0 / kRuns, e->under_h0 * 0.9);
  EXPECT_LE(sum_h0 / kRuns, e->under_h0 * 1.6);
  // β = α = 1 %: at most 1 % plus three binomial standard deviations of 4 000 runs.
  const double limit = kRuns * 0.01 + 3 * std::sqrt(kRuns * 0.01 * 0.99);
  EXPECT_LE(missed, limit);
  EXPECT_LE(false_alarms, limit);
}

}  // namespace
}  // namespace ramp::analysis::stats
