#include "analysis/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace ramp::analysis::stats {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double LogGamma(double x) {
  int sign = 0;
  return lgamma_r(x, &sign);
}

double LogBeta(double p, double q) { return LogGamma(p) + LogGamma(q) - LogGamma(p + q); }

// Bisection for a root of a monotone `f` on [lo, hi] where f(lo) and f(hi) have opposite signs
// (or one is 0); stops at a width of 1e-9 of the span, or after 200 halvings.
template <typename F>
double Bisect(F f, double lo, double hi) {
  double f_lo = f(lo);
  const double width = std::max(std::abs(hi - lo), 1e-300) * 1e-9;
  for (int i = 0; i < 200 && hi - lo > width; ++i) {
    double mid = lo + (hi - lo) / 2;
    double f_mid = f(mid);
    if (f_mid == 0) return mid;
    if ((f_mid > 0) == (f_lo > 0)) {
      lo = mid;
      f_lo = f_mid;
    } else {
      hi = mid;
    }
  }
  return lo + (hi - lo) / 2;
}

// Rank statistics of `x` within x ∪ y: the U of x and σ_U with the tie correction.
struct RankSums {
  double u = 0;
  double sigma = 0;
};

RankSums Ranks(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n1 = x.size(), n2 = y.size(), n = n1 + n2;
  std::vector<std::pair<double, bool>> pooled;  // value, is x
  pooled.reserve(n);
  for (double v : x) pooled.emplace_back(v, true);
  for (double v : y) pooled.emplace_back(v, false);
  std::sort(pooled.begin(), pooled.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  double rank_sum_x = 0, ties = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && pooled[j].first == pooled[i].first) ++j;
    const double t = static_cast<double>(j - i);
    const double average_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (size_t k = i; k < j; ++k) {
      if (pooled[k].second) rank_sum_x += average_rank;
    }
    ties += t * t * t - t;
    i = j;
  }
  const double dn1 = static_cast<double>(n1), dn2 = static_cast<double>(n2);
  const double dn = static_cast<double>(n);
  RankSums r;
  r.u = rank_sum_x - dn1 * (dn1 + 1) / 2;
  r.sigma = std::sqrt(dn1 * dn2 / 12 * ((dn + 1) - ties / (dn * (dn - 1))));
  return r;
}

// The continuity-corrected z of x shifted by −d against y (R's wdiff without the quantile).
double ShiftedZ(const std::vector<double>& x, const std::vector<double>& y, double d) {
  std::vector<double> shifted(x);
  for (double& v : shifted) v -= d;
  RankSums r = Ranks(shifted, y);
  if (r.sigma == 0) return 0;
  const double dz = r.u - static_cast<double>(x.size()) * static_cast<double>(y.size()) / 2;
  const double correction = dz > 0 ? 0.5 : dz < 0 ? -0.5 : 0;
  return (dz - correction) / r.sigma;
}

double Mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

}  // namespace

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double NormalQuantile(double p) {
  if (!(p > 0 && p < 1)) return p == 0 ? -kInf : p == 1 ? kInf : std::nan("");
  // Acklam's coefficients.
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  constexpr double kLow = 0.02425;
  double x;
  if (p < kLow) {
    double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - kLow) {
    double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // One Halley step on Φ(x) − p.
  double e = NormalCdf(x) - p;
  double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

StatusOr<MannWhitneyResult> MannWhitney(const std::vector<double>& experiment,
                                        const std::vector<double>& control, double confidence) {
  if (experiment.empty() || control.empty()) {
    return Fail(InvalidArgumentError("Mann-Whitney: both samples need at least one value"));
  }
  if (!(confidence > 0 && confidence < 1)) {
    return Fail(InvalidArgumentError(
        fmt::format("Mann-Whitney: confidence must be in (0, 1), got {}", confidence)));
  }
  auto finite = [](double v) { return std::isfinite(v); };
  if (!std::all_of(experiment.begin(), experiment.end(), finite) ||
      !std::all_of(control.begin(), control.end(), finite)) {
    return Fail(InvalidArgumentError("Mann-Whitney: the samples hold a NaN or infinite value"));
  }
  RankSums r = Ranks(experiment, control);
  if (r.sigma == 0) {
    return Fail(InvalidArgumentError("Mann-Whitney: every value is the same; nothing to rank"));
  }
  MannWhitneyResult out;
  out.u = r.u;
  out.sigma = r.sigma;
  out.z = ShiftedZ(experiment, control, 0);
  out.p_two_sided = std::erfc(std::abs(out.z) / std::sqrt(2.0));

  const double mu_min = *std::min_element(experiment.begin(), experiment.end()) -
                        *std::max_element(control.begin(), control.end());
  const double mu_max = *std::max_element(experiment.begin(), experiment.end()) -
                        *std::min_element(control.begin(), control.end());
  // The shift d where z(d) = zq; z(d) does not increase with d.
  auto root = [&](double zq) {
    auto f = [&](double d) { return ShiftedZ(experiment, control, d) - zq; };
    if (f(mu_min) <= 0) return mu_min;
    if (f(mu_max) >= 0) return mu_max;
    return Bisect(f, mu_min, mu_max);
  };
  const double zq = NormalQuantile(1 - (1 - confidence) / 2);
  out.ci_low = root(zq);
  out.ci_high = root(-zq);
  // Hodges-Lehmann: the median of the pairwise differences. (R and Kayenta take a root of z(d) = 0,
  // which with the continuity correction is any point of a flat stretch that holds this median.)
  std::vector<double> differences;
  differences.reserve(experiment.size() * control.size());
  for (double x : experiment) {
    for (double y : control) differences.push_back(x - y);
  }
  const size_t mid = differences.size() / 2;
  std::nth_element(differences.begin(), differences.begin() + mid, differences.end());
  out.estimate = differences[mid];
  if (differences.size() % 2 == 0) {
    const double below = *std::max_element(differences.begin(), differences.begin() + mid);
    out.estimate = (out.estimate + below) / 2;
  }
  return out;
}

KayentaResult ClassifyKayenta(std::vector<double> experiment, std::vector<double> control,
                              const KayentaOptions& options) {
  auto drop_nan = [](std::vector<double>& v) {
    std::erase_if(v, [](double x) { return std::isnan(x); });
  };
  drop_nan(experiment);
  drop_nan(control);
  KayentaResult out;
  if (experiment.empty() || control.empty()) {
    out.classification = KayentaClass::kNodata;
    return out;
  }
  out.effect_size = Mean(experiment) / Mean(control);
  std::vector<double> se(experiment), sc(control);
  std::sort(se.begin(), se.end());
  std::sort(sc.begin(), sc.end());
  if (se == sc) return out;  // identical samples: Pass
  const bool const_e = se.front() == se.back(), const_c = sc.front() == sc.back();
  if (const_e && const_c && se.front() == sc.front()) return out;  // one value overall
  if (const_e && const_c) {
    // Two constant, different samples: a tiny spread so the rank test has no total ties.
    for (size_t i = 0; i < experiment.size(); ++i) {
      experiment[i] += (i % 2 ? -1 : 1) * 1e-5 * experiment[i];
    }
    for (size_t i = 0; i < control.size(); ++i) {
      control[i] += (i % 2 ? -1 : 1) * 1e-5 * control[i];
    }
  }
  auto test = MannWhitney(experiment, control, options.confidence);
  if (!test.has_value()) return out;  // nothing to rank: Pass, as identical data
  out.test = *test;
  const double bound = options.tolerance * std::abs(test->estimate);
  const bool effect_unknown = std::isnan(out.effect_size);
  if (options.direction != Direction::kDecrease && test->ci_low > bound &&
      (effect_unknown || out.effect_size >= options.allowed_increase)) {
    out.classification = KayentaClass::kHigh;
  } else if (options.direction != Direction::kIncrease && test->ci_high < -bound &&
             (effect_unknown || out.effect_size <= options.allowed_decrease)) {
    out.classification = KayentaClass::kLow;
  }
  return out;
}

namespace {

Status CheckSprt(double p0, double p1, double alpha, double beta) {
  if (!(p0 > 0 && p0 < p1 && p1 < 1)) {
    return InvalidArgumentError(
        fmt::format("SPRT: need 0 < p0 < p1 < 1, got p0 = {}, p1 = {}", p0, p1));
  }
  if (!(alpha > 0 && alpha < 1 && beta > 0 && beta < 1)) {
    return InvalidArgumentError(
        fmt::format("SPRT: alpha and beta must be in (0, 1), got {} and {}", alpha, beta));
  }
  return OkStatus();
}

// The ends of {θ : ln B(a+x, b+n−x) − ln B(a, b) − ln(θ^x (1−θ)^(n−x)) < ln(1/α)}: the function
// is convex in θ with its minimum at x/n, so each end is one bisection.
RateInterval MixtureInterval(double x, double n, double alpha, double a, double b) {
  const double log_mixture = LogBeta(a + x, b + n - x) - LogBeta(a, b);
  const double threshold = std::log(1 / alpha);
  auto excess = [&](double theta) {
    double log_lik = 0;
    if (x > 0) log_lik += x * std::log(theta);
    if (n - x > 0) log_lik += (n - x) * std::log(1 - theta);
    return log_mixture - log_lik - threshold;
  };
  const double mle = n > 0 ? x / n : 0.5;
  return {.low = x == 0 ? 0.0 : Bisect(excess, 0.0, mle),
          .high = x == n ? 1.0 : Bisect(excess, mle, 1.0)};
}

}  // namespace

double KlBernoulli(double p, double q) {
  double kl = 0;
  if (p > 0) kl += p * std::log(p / q);
  if (p < 1) kl += (1 - p) * std::log((1 - p) / (1 - q));
  return kl;
}

RateInterval BernoulliConfidenceSequence(int64_t events, int64_t trials, double alpha) {
  if (trials <= 0) return {};
  return MixtureInterval(static_cast<double>(events), static_cast<double>(trials), alpha, 1, 1);
}

StatusOr<SprtResult> WaldSprt(double p0, double p1, double alpha, double beta, int64_t requests,
                              int64_t errors) {
  if (Status s = CheckSprt(p0, p1, alpha, beta); !s.ok()) return Fail(s);
  if (errors < 0 || errors > requests) {
    return Fail(InvalidArgumentError(
        fmt::format("SPRT: need 0 <= errors <= requests, got {} of {}", errors, requests)));
  }
  SprtResult r;
  const double k = static_cast<double>(errors), n = static_cast<double>(requests);
  r.log_likelihood_ratio = k * std::log(p1 / p0) + (n - k) * std::log((1 - p1) / (1 - p0));
  r.upper = std::log((1 - beta) / alpha);
  r.lower = std::log(beta / (1 - alpha));
  if (r.log_likelihood_ratio >= r.upper) {
    r.decision = SequentialDecision::kRejectH0;
  } else if (r.log_likelihood_ratio <= r.lower) {
    r.decision = SequentialDecision::kAcceptH0;
  }
  return r;
}

StatusOr<SprtExpectation> WaldExpectedSamples(double p0, double p1, double alpha, double beta) {
  if (Status s = CheckSprt(p0, p1, alpha, beta); !s.ok()) return Fail(s);
  const double a = std::log((1 - beta) / alpha), b = std::log(beta / (1 - alpha));
  return SprtExpectation{.under_h1 = ((1 - beta) * a + beta * b) / KlBernoulli(p1, p0),
                         .under_h0 = (alpha * a + (1 - alpha) * b) / -KlBernoulli(p0, p1)};
}

StatusOr<AttributionResult> ErrorAttribution(int64_t canary_errors, int64_t total_errors,
                                             double canary_share, double alpha, double a,
                                             double b) {
  if (!(canary_share > 0 && canary_share < 1)) {
    return Fail(InvalidArgumentError(fmt::format(
        "error attribution: the canary share must be in (0, 1), got {}", canary_share)));
  }
  if (!(alpha > 0 && alpha < 1) || !(a > 0) || !(b > 0)) {
    return Fail(InvalidArgumentError(fmt::format(
        "error attribution: need 0 < alpha < 1 and a, b > 0, got {}, {}, {}", alpha, a, b)));
  }
  if (canary_errors < 0 || canary_errors > total_errors) {
    return Fail(InvalidArgumentError(
        fmt::format("error attribution: need 0 <= canary errors <= errors, got {} of {}",
                    canary_errors, total_errors)));
  }
  const double x = static_cast<double>(canary_errors), n = static_cast<double>(total_errors);
  const double pi = canary_share;
  const double log_mixture = LogBeta(a + x, b + n - x) - LogBeta(a, b);
  AttributionResult out;
  out.log_bayes_factor = log_mixture - (x * std::log(pi) + (n - x) * std::log(1 - pi));
  const double threshold = std::log(1 / alpha);
  out.canary_worse = n > 0 && out.log_bayes_factor >= threshold && x / n > pi;

  const RateInterval theta = MixtureInterval(x, n, alpha, a, b);
  out.theta_low = theta.low;
  out.theta_high = theta.high;
  auto ratio = [pi](double theta) {
    return theta >= 1 ? kInf : theta * (1 - pi) / ((1 - theta) * pi);
  };
  out.ratio_low = ratio(out.theta_low);
  out.ratio_high = ratio(out.theta_high);
  return out;
}

}  // namespace ramp::analysis::stats
