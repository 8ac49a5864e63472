// The statistics of ramp's canary judges (../shared/reference/science-and-performance.md §1.4):
// the Mann-Whitney U test with Kayenta-compatible classification (F1), Wald's sequential
// probability ratio test for an error rate against a known baseline (F2), and the anytime-valid
// error-attribution test with its confidence sequence (F4). These are the decision rules; the
// judges that feed them counts and samples come with the ramp/judge-* providers.
//
// Part of the functional core: pure functions of their arguments, no I/O, no clock.
//
// Thread-safety: pure functions; safe to call concurrently (lgamma_r, not lgamma).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ramp/status.h"

namespace ramp::analysis::stats {

// Φ(z), the standard normal CDF.
double NormalCdf(double z);
// Φ⁻¹(p) for 0 < p < 1 (Acklam's rational approximation refined by one Halley step; absolute
// error below 1e-12).
double NormalQuantile(double p);

// ---------------------------------------------------------------------------------------------
// F1: Mann-Whitney U (Wilcoxon rank-sum) with tie and continuity correction, as R's
// wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE) and Kayenta compute it.

struct MannWhitneyResult {
  double u = 0;            // U of `experiment`: R₁ − n₁(n₁+1)/2
  double sigma = 0;        // σ_U with the tie correction
  double z = 0;            // continuity-corrected z of U
  double p_two_sided = 1;  // 2(1 − Φ(|z|))
  double estimate = 0;     // location shift experiment − control (the z = 0 root, as R)
  double ci_low = 0;       // confidence interval of the shift at `confidence`
  double ci_high = 0;
};

// InvalidArgument when either sample is empty, a value is not finite, confidence is not in
// (0, 1), or every value is the same (σ_U = 0: there is nothing to rank).
StatusOr<MannWhitneyResult> MannWhitney(const std::vector<double>& experiment,
                                        const std::vector<double>& control, double confidence);

// Kayenta's per-metric classification (NetflixACAJudge + MannWhitneyClassifier, §1.1).
enum class KayentaClass { kPass, kHigh, kLow, kNodata };
enum class Direction { kIncrease, kDecrease, kEither };

struct KayentaOptions {
  Direction direction = Direction::kEither;
  double confidence = 0.98;  // hard-coded in Kayenta
  double tolerance = 0.25;   // hard-coded in Kayenta
  // Effect size mean(experiment)/mean(control) must reach these for High/Low (default 1.0).
  double allowed_increase = 1.0;
  double allowed_decrease = 1.0;
};

struct KayentaResult {
  KayentaClass classification = KayentaClass::kPass;
  std::optional<MannWhitneyResult> test;  // absent for the early exits
  double effect_size = 0;                 // mean ratio; NaN when the control mean is 0
};

// NaN values are removed first ("remove" strategy); an empty sample is kNodata; identical
// sorted samples or a single distinct value overall are kPass; otherwise the 98 % interval of
// the shift decides with bound b = tolerance·|estimate|: High when direction allows an
// increase, ci_low > b and effect ≥ allowed_increase; Low when it allows a decrease,
// ci_high < −b and effect ≤ allowed_decrease; else Pass. Two constant but different samples get
// Kayenta's tiny deterministic spread (±1e-5·value alternating) instead of Gaussian noise.
KayentaResult ClassifyKayenta(std::vector<double> experiment, std::vector<double> control,
                              const KayentaOptions& options = {});

// ---------------------------------------------------------------------------------------------
// F2: Wald's SPRT for a Bernoulli error rate. H0: p = p0, H1: p = p1 (> p0).

enum class SequentialDecision { kContinue, kAcceptH0, kRejectH0 };

struct SprtResult {
  double log_likelihood_ratio = 0;  // Λ_n
  double upper = 0;                 // A = ln((1−β)/α): reject H0 (the canary is worse)
  double lower = 0;                 // B = ln(β/(1−α)): accept H0
  SequentialDecision decision = SequentialDecision::kContinue;
};

// After `requests` canary requests of which `errors` failed. InvalidArgument unless
// 0 < p0 < p1 < 1, 0 < alpha, beta < 1 and 0 ≤ errors ≤ requests.
StatusOr<SprtResult> WaldSprt(double p0, double p1, double alpha, double beta, int64_t requests,
                              int64_t errors);

// Wald's expected sample sizes (requests) under H1 and under H0.
struct SprtExpectation {
  double under_h1 = 0;
  double under_h0 = 0;
};
StatusOr<SprtExpectation> WaldExpectedSamples(double p0, double p1, double alpha, double beta);

// ---------------------------------------------------------------------------------------------
// F4: anytime-valid error attribution. With canary traffic share π, each error lands on the
// canary with probability π when both arms fail at the same rate; a Beta(a, b) mixture over that
// probability θ gives the Bayes factor BF_n, a test martingale under H0 (Ville's inequality
// bounds P(∃n: BF_n ≥ 1/α) by α however often it is checked).

struct AttributionResult {
  double log_bayes_factor = 0;
  bool canary_worse = false;  // BF ≥ 1/α and x/n > π
  // The confidence sequence for θ at level 1 − α, and the canary/stable error-rate ratio it
  // implies: RR(θ) = θ(1−π) / ((1−θ)π). With no errors yet: θ in [0, 1], ratio in [0, ∞).
  double theta_low = 0;
  double theta_high = 1;
  double ratio_low = 0;
  double ratio_high = 0;  // +∞ when theta_high is 1
};

// `canary_errors` of `total_errors` errors (both arms) landed on the canary. InvalidArgument
// unless 0 < π < 1, 0 < α < 1, a, b > 0 and 0 ≤ canary_errors ≤ total_errors.
// The anytime-valid confidence sequence of a Bernoulli rate after `events` of `trials` (the
// Beta(1, 1) mixture; the same construction as AttributionResult's θ interval): every rate p
// whose mixture-vs-p likelihood ratio is below 1/α. Valid at every trial count at once.
struct RateInterval {
  double low = 0;
  double high = 1;
};
RateInterval BernoulliConfidenceSequence(int64_t events, int64_t trials, double alpha);

// KL(p‖q) of two Bernoulli distributions, 0 < q < 1, 0 ≤ p ≤ 1.
double KlBernoulli(double p, double q);

StatusOr<AttributionResult> ErrorAttribution(int64_t canary_errors, int64_t total_errors,
                                             double canary_share, double alpha, double a = 1,
                                             double b = 1);

}  // namespace ramp::analysis::stats
