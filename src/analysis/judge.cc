#include "analysis/judge.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ramp::analysis {
namespace {

using stats::Direction;

// The mixture's alternatives: 64 ratios per side, evenly spaced in ln ρ over (1, 10⁴] (a stable
// rate of 0.01 % against a canary failing everything), equal weights (a log-uniform prior). A
// discrete mixture of likelihood ratios is itself a test martingale, so the grid costs a little
// power, never validity.
constexpr int kRatiosPerSide = 64;
constexpr double kLargestRatio = 10000;

std::vector<double> Ratios(Direction direction) {
  std::vector<double> out;
  const double step = std::log(kLargestRatio) / kRatiosPerSide;
  for (int k = 0; k < kRatiosPerSide; ++k) {
    const double rho = std::exp((k + 0.5) * step);
    if (direction != Direction::kDecrease) out.push_back(rho);
    if (direction != Direction::kIncrease) out.push_back(1 / rho);
  }
  return out;
}

double Rate(const ArmCounts& arm) {
  return arm.requests > 0 ? static_cast<double>(arm.bad) / static_cast<double>(arm.requests) : 0;
}

std::string Count(int64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') out += ' ';
    out += digits[i];
  }
  return out;
}

std::string Number(double x) {
  if (!std::isfinite(x)) return x > 0 ? "∞" : "-∞";
  if (std::abs(x) >= 1e6) return fmt::format("{:.3g}", x);
  if (std::abs(x) >= 100) return fmt::format("{:.0f}", x);
  if (std::abs(x) >= 10) return fmt::format("{:.1f}", x);
  return fmt::format("{:.2f}", x);
}

// "3", "9.77", "76.2", "250": a ratio with three significant digits, never in exponent form.
std::string Times(double x) {
  if (!std::isfinite(x)) return "∞";
  return std::abs(x) >= 100 ? fmt::format("{:.0f}", x) : fmt::format("{:.3g}", x);
}

std::string_view DirectionWord(Direction d) {
  switch (d) {
    case Direction::kIncrease:
      return "worse";
    case Direction::kDecrease:
      return "better";
    case Direction::kEither:
      return "different";
  }
  return "different";
}

// Canary requests needed to tell a bad rate `ratio`× the stable's `p` from `p` at level α
// (Wald's bound ln(1/α)/KL); NaN when p is 0 or the regression would exceed a rate of 1.
double RequestsToDetect(double ratio, double p, double alpha) {
  const double p1 = ratio * p;
  if (!(p > 0) || !(p1 < 1)) return std::numeric_limits<double>::quiet_NaN();
  return std::log(1 / alpha) / stats::KlBernoulli(p1, p);
}

// The smallest ratio r with n·KL(r·p‖p) ≥ ln(1/α): what `n` canary requests can detect.
double DetectableRatio(int64_t n, double p, double alpha) {
  if (!(p > 0) || n <= 0) return std::numeric_limits<double>::infinity();
  const double need = std::log(1 / alpha) / static_cast<double>(n);
  double lo = 1, hi = 1 / p;  // KL(hi·p‖p) is the most n can show
  if (stats::KlBernoulli(std::min(hi * p, 1.0), p) < need) {
    return std::numeric_limits<double>::infinity();
  }
  for (int i = 0; i < 100; ++i) {
    const double mid = (lo + hi) / 2;
    (stats::KlBernoulli(std::min(mid * p, 1.0), p) >= need ? hi : lo) = mid;
  }
  return hi;
}

}  // namespace

std::string HumanDuration(int64_t seconds) {
  if (seconds < 60) return fmt::format("{}s", seconds);
  std::string out;
  if (seconds >= 3600) out += fmt::format("{}h", seconds / 3600);
  if (seconds % 3600 >= 60) out += fmt::format("{}m", seconds % 3600 / 60);
  if (seconds % 60 != 0) out += fmt::format("{}s", seconds % 60);
  return out;
}

std::string Percent(double rate) {
  const double pct = rate * 100;
  if (pct == 0 || std::abs(pct) >= 0.01) return fmt::format("{:.2f} %", pct);
  return fmt::format("{:.2g} %", pct);
}

Status ValidateJudgeOptions(const JudgeOptions& o) {
  auto bad = [](std::string what) { return InvalidArgumentError(std::move(what)); };
  if (!(o.alpha > 0 && o.alpha <= 0.5)) {
    return bad(fmt::format("alpha must be in (0, 0.5], got {}", o.alpha));
  }
  if (!(o.tolerance >= 0 && o.tolerance < 1)) {
    return bad(fmt::format("tolerance must be in [0, 1), got {}", o.tolerance));
  }
  if (o.min_samples < 1) return bad(fmt::format("minSamples must be ≥ 1, got {}", o.min_samples));
  if (!(o.detect_ratio > 1 && std::isfinite(o.detect_ratio))) {
    return bad(fmt::format("detectRatio must be > 1, got {}", o.detect_ratio));
  }
  if (o.max_duration_seconds < 1) {
    return bad(fmt::format("maxDuration must be at least 1s, got {}s", o.max_duration_seconds));
  }
  if (o.baseline_rate) {
    const double p0 = *o.baseline_rate;
    if (!(p0 > 0 && p0 < 1)) {
      return bad(fmt::format("baselineRate must be in (0, 1), got {}", p0));
    }
    if (o.direction != Direction::kIncrease) {
      return bad("baselineRate (Wald's SPRT) judges an increase only: drop direction");
    }
  }
  return OkStatus();
}

SequentialJudge::SequentialJudge(JudgeOptions options)
    : options_(std::move(options)),
      ratios_(Ratios(options_.direction)),
      log_lr_(ratios_.size(), 0.0) {}

Status SequentialJudge::Observe(ArmCounts canary, ArmCounts stable, std::optional<double> share) {
  const int64_t dc = canary.requests - canary_.requests, ds = stable.requests - stable_.requests;
  const int64_t x = canary.bad - canary_.bad, y = stable.bad - stable_.bad;
  if (dc < 0 || ds < 0 || x < 0 || y < 0) {
    return InvalidArgumentError(
        fmt::format("counts went backwards: canary {}/{} → {}/{}, stable {}/{} → {}/{}",
                    canary_.bad, canary_.requests, canary.bad, canary.requests, stable_.bad,
                    stable_.requests, stable.bad, stable.requests));
  }
  canary_ = canary;
  stable_ = stable;
  if (x + y == 0) return OkStatus();
  double pi = share.value_or(dc + ds > 0 ? static_cast<double>(dc) / static_cast<double>(dc + ds)
                                         : std::numeric_limits<double>::quiet_NaN());
  if (!(pi > 0 && pi < 1)) {
    // Only one arm had traffic: where the bad requests landed says nothing about the ratio (a
    // stable-only interval's likelihood ratio is 1 for every ρ; a canary-only one's is undefined).
    if (pi >= 1) unweighed_bad_ += x;
    return OkStatus();
  }
  const double dx = static_cast<double>(x), dy = static_cast<double>(y);
  for (size_t k = 0; k < ratios_.size(); ++k) {
    const double q = ratios_[k] * pi / (ratios_[k] * pi + 1 - pi);
    log_lr_[k] += dx * std::log(q / pi) + dy * std::log((1 - q) / (1 - pi));
  }
  return OkStatus();
}

std::string SequentialJudge::Counts() const {
  return fmt::format("canary {} {} in {} requests ({}), stable {} in {} ({})", Count(canary_.bad),
                     options_.bad_noun, Count(canary_.requests), Percent(Rate(canary_)),
                     Count(stable_.bad), Count(stable_.requests), Percent(Rate(stable_)));
}

JudgeDecision SequentialJudge::Decide(int64_t elapsed_seconds) const {
  return options_.baseline_rate ? DecideSprt(elapsed_seconds) : DecideMixture(elapsed_seconds);
}

JudgeDecision SequentialJudge::DecideMixture(int64_t elapsed_seconds) const {
  JudgeDecision d;
  const double top = *std::max_element(log_lr_.begin(), log_lr_.end());
  double sum = 0;
  for (double l : log_lr_) sum += std::exp(l - top);
  d.log_evidence = top + std::log(sum / static_cast<double>(log_lr_.size()));
  d.log_threshold = std::log(1 / options_.alpha);
  const double bayes_factor = std::exp(d.log_evidence);
  if (d.log_evidence >= d.log_threshold) {
    d.verdict = JudgeVerdict::kFail;
    const double rs = Rate(stable_);
    const std::string ratio =
        rs > 0 ? fmt::format(", ×{} the stable's rate", Times(Rate(canary_) / rs)) : "";
    d.message = fmt::format(
        "canary {}: {}{}. Bayes factor {} ≥ 1/α = {}: {} landing where they did would happen "
        "with probability below α = {} if the canary were as good as the stable revision",
        DirectionWord(options_.direction), Counts(), ratio, Number(bayes_factor),
        Number(1 / options_.alpha), options_.bad_noun, Percent(options_.alpha));
    return d;
  }
  const bool at_end = elapsed_seconds >= options_.max_duration_seconds;
  if (!options_.pass_early && !at_end) {
    // Passing waits for maxDuration: no need to bound the canary's rate yet.
    d.message = fmt::format("watching until {}: {}; Bayes factor {} (fails at {})",
                            HumanDuration(options_.max_duration_seconds), Counts(),
                            Number(bayes_factor), Number(1 / options_.alpha));
    return d;
  }
  if (std::optional<std::string> pass = PassReason()) {
    d.verdict = JudgeVerdict::kPass;
    d.message = fmt::format("{}; Bayes factor {} < 1/α = {}", *pass, Number(bayes_factor),
                            Number(1 / options_.alpha));
    return d;
  }
  if (at_end) {
    d.verdict = JudgeVerdict::kInconclusive;
    d.message = InconclusiveReason(elapsed_seconds);
    return d;
  }
  d.message = fmt::format("watching: {}; Bayes factor {} (fails at {})", Counts(),
                          Number(bayes_factor), Number(1 / options_.alpha));
  return d;
}

JudgeDecision SequentialJudge::DecideSprt(int64_t elapsed_seconds) const {
  JudgeDecision d;
  const double p0 = *options_.baseline_rate;
  const double p1 = std::min(p0 * options_.detect_ratio, 0.999);
  StatusOr<stats::SprtResult> r =
      stats::WaldSprt(p0, p1, options_.alpha, options_.alpha, canary_.requests, canary_.bad);
  if (!r) {  // the options were validated; only impossible counts get here
    d.verdict = JudgeVerdict::kInconclusive;
    d.message = "cannot judge: " + r.error().message();
    return d;
  }
  d.log_evidence = r->log_likelihood_ratio;
  d.log_threshold = r->upper;
  const std::string what = fmt::format(
      "canary {} {} in {} requests ({}); SPRT of the baseline {} against ×{} ({}): "
      "log-likelihood ratio {}",
      Count(canary_.bad), options_.bad_noun, Count(canary_.requests), Percent(Rate(canary_)),
      Percent(p0), Times(options_.detect_ratio), Percent(p1), Number(r->log_likelihood_ratio));
  if (r->decision == stats::SequentialDecision::kRejectH0) {
    d.verdict = JudgeVerdict::kFail;
    d.message = fmt::format(
        "canary worse than the baseline: {} ≥ ln((1−β)/α) = {}: its rate is nearer ×{} the "
        "baseline than the baseline (α = β = {})",
        what, Number(r->upper), Times(options_.detect_ratio), Percent(options_.alpha));
  } else if (r->decision == stats::SequentialDecision::kAcceptH0 &&
             canary_.requests >= options_.min_samples &&
             (options_.pass_early || elapsed_seconds >= options_.max_duration_seconds)) {
    d.verdict = JudgeVerdict::kPass;
    d.message = fmt::format(
        "canary consistent with the baseline: {} ≤ ln(β/(1−α)) = {} after at least minSamples "
        "{} requests",
        what, Number(r->lower), Count(options_.min_samples));
  } else if (elapsed_seconds >= options_.max_duration_seconds) {
    d.verdict = JudgeVerdict::kInconclusive;
    const double needed = RequestsToDetect(options_.detect_ratio, p0, options_.alpha);
    d.message = fmt::format(
        "not enough traffic to detect ×{} in {}: {}, between the bounds {} and {}; telling ×{} "
        "from the baseline {} takes about {} canary requests",
        Times(options_.detect_ratio), HumanDuration(elapsed_seconds), what, Number(r->lower),
        Number(r->upper), Times(options_.detect_ratio), Percent(p0),
        Count(static_cast<int64_t>(std::ceil(needed))));
  } else {
    d.message = "watching: " + what + fmt::format(" (fails at {})", Number(r->upper));
  }
  return d;
}

std::optional<std::string> SequentialJudge::PassReason() const {
  if (canary_.requests < options_.min_samples || stable_.requests == 0) return std::nullopt;
  const stats::RateInterval cs =
      stats::BernoulliConfidenceSequence(canary_.bad, canary_.requests, options_.alpha);
  const double ps = Rate(stable_), delta = options_.tolerance;
  const bool upper_ok = options_.direction == Direction::kDecrease || cs.high <= ps + delta;
  const bool lower_ok = options_.direction == Direction::kIncrease || cs.low >= ps - delta;
  if (!upper_ok || !lower_ok) return std::nullopt;
  const std::string bound =
      options_.direction == Direction::kIncrease ? fmt::format("at most {}", Percent(cs.high))
      : options_.direction == Direction::kDecrease
          ? fmt::format("at least {}", Percent(cs.low))
          : fmt::format("between {} and {}", Percent(cs.low), Percent(cs.high));
  return fmt::format(
      "canary no {} than stable within the tolerance: {}; the canary's rate is {} "
      "({} confidence, valid however often checked), within the stable's {} ± tolerance {}",
      DirectionWord(options_.direction), Counts(), bound, Percent(1 - options_.alpha), Percent(ps),
      Percent(delta));
}

std::string SequentialJudge::InconclusiveReason(int64_t elapsed_seconds) const {
  const std::string head =
      fmt::format("not enough traffic to detect ×{} in {}", Times(options_.detect_ratio),
                  HumanDuration(elapsed_seconds));
  if (canary_.requests < options_.min_samples) {
    return fmt::format("{}: {} canary requests, fewer than minSamples {} ({})", head,
                       Count(canary_.requests), Count(options_.min_samples), Counts());
  }
  if (stable_.requests == 0) {
    return head + ": the stable revision served no requests to compare with (" + Counts() + ")";
  }
  const stats::RateInterval cs =
      stats::BernoulliConfidenceSequence(canary_.bad, canary_.requests, options_.alpha);
  const double ps = Rate(stable_);
  std::string out = fmt::format("{}: {}; the canary's rate is only known to lie in [{}, {}]", head,
                                Counts(), Percent(cs.low), Percent(cs.high));
  out += fmt::format(", not within the stable's {} ± tolerance {}", Percent(ps),
                     Percent(options_.tolerance));
  const double needed = RequestsToDetect(options_.detect_ratio, ps, options_.alpha);
  if (std::isfinite(needed)) {
    const double can = DetectableRatio(canary_.requests, ps, options_.alpha);
    out +=
        fmt::format("; detecting ×{} at the stable's rate takes about {} canary requests",
                    Times(options_.detect_ratio), Count(static_cast<int64_t>(std::ceil(needed))));
    if (std::isfinite(can))
      out += fmt::format(" (this traffic shows only ×{} or worse)", Times(can));
  } else if (stable_.bad == 0) {
    out += fmt::format("; the stable revision had no {} at all", options_.bad_noun);
  }
  if (unweighed_bad_ > 0) {
    out += fmt::format(
        "; {} of the canary's {} came while the stable revision served nothing and could not "
        "be compared",
        Count(unweighed_bad_), options_.bad_noun);
  }
  return out;
}

std::string SequentialJudge::ToJson() const {
  nlohmann::json j = {{"canary", {canary_.requests, canary_.bad}},
                      {"stable", {stable_.requests, stable_.bad}},
                      {"unweighed", unweighed_bad_},
                      {"logLr", log_lr_}};
  return j.dump();
}

StatusOr<SequentialJudge> SequentialJudge::FromJson(std::string_view json_text,
                                                    JudgeOptions options) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, false);
  SequentialJudge judge(std::move(options));
  auto pair = [&](const char* key, ArmCounts* out) {
    if (!j.contains(key) || !j[key].is_array() || j[key].size() != 2) return false;
    const auto& a = j[key];
    if (!a[0].is_number_integer() || !a[1].is_number_integer()) return false;
    out->requests = a[0].get<int64_t>();
    out->bad = a[1].get<int64_t>();
    return out->requests >= 0 && out->bad >= 0;
  };
  if (!j.is_object() || !pair("canary", &judge.canary_) || !pair("stable", &judge.stable_) ||
      !j.contains("unweighed") || !j["unweighed"].is_number_integer() || !j.contains("logLr") ||
      !j["logLr"].is_array() || j["logLr"].size() != judge.log_lr_.size()) {
    return Fail(InvalidArgumentError("judge state: not a state of this judge: " +
                                     std::string(json_text.substr(0, 120))));
  }
  judge.unweighed_bad_ = j["unweighed"].get<int64_t>();
  for (size_t k = 0; k < judge.log_lr_.size(); ++k) {
    if (!j["logLr"][k].is_number()) {
      return Fail(InvalidArgumentError("judge state: logLr holds a non-number"));
    }
    judge.log_lr_[k] = j["logLr"][k].get<double>();
  }
  return judge;
}

}  // namespace ramp::analysis
