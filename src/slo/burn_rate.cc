#include "slo/burn_rate.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "analysis/stats.h"

namespace ramp::slo {
namespace {

using std::chrono::seconds;

constexpr double kMaxAlternative = 0.999;

// 2 decimals, as every ratio in a message: "5.00 %".
std::string Percent(double fraction) { return fmt::format("{:.2f} %", fraction * 100); }
// A number as a person writes it: 14.4, 6, 0.93.
std::string Num(double v) { return fmt::format("{:.4g}", v); }
// The objective as written: "99.9 %".
std::string Objective(const Slo& slo) { return fmt::format("{:.6g} %", slo.objective * 100); }

// "page, 1h/5m"
std::string RuleName(const BurnWindow& w) {
  return fmt::format("{}, {}/{}", w.severity, FormatPromDuration(w.long_window),
                     FormatPromDuration(w.short_window));
}

// "burn 14.4× of a 99.9 % SLO (page, 1h/5m): would exhaust 2 % of the 30d budget in 1h"
std::string RuleStatement(const Slo& slo, const BurnWindow& w) {
  return fmt::format("burn {}× of a {} SLO ({}): would exhaust {} % of the {} budget in {}",
                     Num(w.burn_rate), Objective(slo), RuleName(w), Num(w.budget_percent),
                     FormatPromDuration(slo.period), FormatPromDuration(w.long_window));
}

std::string Join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

CanaryBurnResult Inconclusive(std::string message) {
  CanaryBurnResult r;
  r.verdict = Verdict::kInconclusive;
  r.message = std::move(message);
  return r;
}

}  // namespace

std::string_view VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kContinue:
      return "Continue";
    case Verdict::kPass:
      return "Pass";
    case Verdict::kFail:
      return "Fail";
    case Verdict::kInconclusive:
      return "Inconclusive";
  }
  return "Unknown";
}

CanaryBurnResult EvaluateCanaryBurn(const Slo& slo, int64_t canary_requests, int64_t canary_errors,
                                    const CanaryBurnOptions& options) {
  const CanaryBurnOptions& o = options;
  if (!(o.alpha > 0 && o.alpha < 1) || !(o.beta > 0 && o.beta < 1)) {
    return Inconclusive(fmt::format(
        "invalid burn-rate test options: alpha and beta must be in (0, 1), got {} and {}", o.alpha,
        o.beta));
  }
  if (!(o.alternative_factor > 1) || !std::isfinite(o.alternative_factor)) {
    return Inconclusive(fmt::format(
        "invalid burn-rate test options: the alternative factor must be above 1, got {}",
        o.alternative_factor));
  }
  if (canary_requests < 0 || canary_errors < 0 || canary_errors > canary_requests) {
    return Inconclusive(fmt::format("invalid canary counts: {} errors of {} requests",
                                    canary_errors, canary_requests));
  }
  const double budget = slo.ErrorBudget();
  if (!(budget > 0 && budget < 1)) {
    return Inconclusive(fmt::format("SLO \"{}\" has no usable error budget (objective {})",
                                    slo.name, Objective(slo)));
  }

  CanaryBurnResult result;
  std::vector<std::string> skipped;
  const double observed =
      canary_requests > 0 ? static_cast<double>(canary_errors) / canary_requests : 0;
  for (const BurnWindow& w : slo.windows) {
    if (std::find(o.severities.begin(), o.severities.end(), w.severity) == o.severities.end()) {
      continue;
    }
    RuleDecision d;
    d.window = w;
    d.p0 = w.burn_rate * budget;
    d.p1 = std::min(o.alternative_factor * d.p0, kMaxAlternative);
    if (!(d.p0 > 0) || d.p0 >= 1) {
      d.message = fmt::format(
          "skipped burn {}× ({}): its threshold error ratio {} cannot be reached with a {} SLO",
          Num(w.burn_rate), RuleName(w), Percent(d.p0), Objective(slo));
      skipped.push_back(d.message);
      result.rules.push_back(std::move(d));
      continue;
    }
    if (d.p1 <= d.p0) {
      d.message = fmt::format(
          "skipped burn {}× ({}): its threshold error ratio {} leaves no room for a worse "
          "alternative below 99.9 %",
          Num(w.burn_rate), RuleName(w), Percent(d.p0));
      skipped.push_back(d.message);
      result.rules.push_back(std::move(d));
      continue;
    }
    auto sprt =
        analysis::stats::WaldSprt(d.p0, d.p1, o.alpha, o.beta, canary_requests, canary_errors);
    if (!sprt.has_value()) {  // unreachable after the checks above; kept as a guard
      d.message = fmt::format("skipped burn {}× ({}): {}", Num(w.burn_rate), RuleName(w),
                              sprt.error().message());
      skipped.push_back(d.message);
      result.rules.push_back(std::move(d));
      continue;
    }
    d.log_likelihood_ratio = sprt->log_likelihood_ratio;
    d.upper = sprt->upper;
    d.lower = sprt->lower;
    const std::string evidence =
        fmt::format("SPRT log-likelihood ratio {:.2f}, bounds {:.2f} and {:.2f}; H0 {}, H1 {}",
                    d.log_likelihood_ratio, d.lower, d.upper, Percent(d.p0), Percent(d.p1));
    switch (sprt->decision) {
      case analysis::stats::SequentialDecision::kRejectH0:
        d.state = RuleDecision::State::kRejected;
        d.message =
            fmt::format("canary error ratio {} over {} requests ≥ {} ({})", Percent(observed),
                        canary_requests, RuleStatement(slo, w), evidence);
        break;
      case analysis::stats::SequentialDecision::kAcceptH0:
        d.state = RuleDecision::State::kAccepted;
        d.message = fmt::format(
            "canary error ratio {} over {} requests is below burn {}× ({}) ({})", Percent(observed),
            canary_requests, Num(w.burn_rate), RuleName(w), evidence);
        break;
      case analysis::stats::SequentialDecision::kContinue:
        d.state = RuleDecision::State::kContinue;
        d.message = fmt::format("burn {}× ({}) not decided yet ({})", Num(w.burn_rate), RuleName(w),
                                evidence);
        break;
    }
    result.rules.push_back(std::move(d));
  }

  const RuleDecision* worst_rejected = nullptr;
  int tested = 0, accepted = 0;
  std::vector<std::string> open;
  for (const RuleDecision& d : result.rules) {
    if (d.state == RuleDecision::State::kSkipped) continue;
    ++tested;
    if (d.state == RuleDecision::State::kAccepted) ++accepted;
    if (d.state == RuleDecision::State::kContinue) {
      open.push_back(fmt::format("{}× ({})", Num(d.window.burn_rate), RuleName(d.window)));
    }
    if (d.state == RuleDecision::State::kRejected &&
        (worst_rejected == nullptr || d.window.burn_rate > worst_rejected->window.burn_rate)) {
      worst_rejected = &d;
    }
  }
  const std::string skipped_note = skipped.empty() ? "" : fmt::format(" ({})", Join(skipped, "; "));

  if (tested == 0) {
    result.verdict = Verdict::kInconclusive;
    result.message =
        fmt::format("SLO \"{}\" has no burn-rate rule of severity {} that can be tested{}",
                    slo.name, Join(o.severities, " or "), skipped_note);
  } else if (worst_rejected != nullptr) {
    result.verdict = Verdict::kFail;
    result.message = worst_rejected->message;
  } else if (accepted == tested) {
    std::vector<std::string> rules;
    for (const RuleDecision& d : result.rules) {
      if (d.state == RuleDecision::State::kAccepted) {
        rules.push_back(fmt::format("{}× ({})", Num(d.window.burn_rate), RuleName(d.window)));
      }
    }
    result.verdict = Verdict::kPass;
    result.message = fmt::format(
        "canary error ratio {} over {} requests is below every burn-rate threshold of the {} "
        "SLO \"{}\": {}{}",
        Percent(observed), canary_requests, Objective(slo), slo.name, Join(rules, ", "),
        skipped_note);
  } else {
    result.verdict = Verdict::kContinue;
    result.message =
        canary_requests == 0
            ? fmt::format("no canary requests yet for the {} SLO \"{}\"", Objective(slo), slo.name)
            : fmt::format(
                  "canary error ratio {} over {} requests: not enough evidence yet for "
                  "{} of {} burn-rate rules ({}){}",
                  Percent(observed), canary_requests, open.size(), tested, Join(open, ", "),
                  skipped_note);
  }
  return result;
}

ServiceWideResult EvaluateServiceWide(const Slo& slo,
                                      const std::map<seconds, double>& error_ratio_by_window) {
  ServiceWideResult r;
  const double budget = slo.ErrorBudget();
  std::vector<std::string> firing, quiet, unevaluated;
  auto ratio = [&](seconds w) -> std::optional<double> {
    auto it = error_ratio_by_window.find(w);
    if (it == error_ratio_by_window.end() || std::isnan(it->second)) return std::nullopt;
    return it->second;
  };
  for (const BurnWindow& w : slo.windows) {
    const double threshold = w.burn_rate * budget;
    const auto long_ratio = ratio(w.long_window);
    const auto short_ratio = ratio(w.short_window);
    const std::string rule = fmt::format("burn {}× ({})", Num(w.burn_rate), RuleName(w));
    if (!long_ratio || !short_ratio) {
      std::vector<std::string> missing;
      if (!long_ratio) missing.push_back(FormatPromDuration(w.long_window));
      if (!short_ratio) missing.push_back(FormatPromDuration(w.short_window));
      unevaluated.push_back(fmt::format("{} cannot be evaluated: no error ratio over {}", rule,
                                        Join(missing, " or ")));
      ++r.unevaluated;
      continue;
    }
    const std::string numbers =
        fmt::format("error ratio {} over {} and {} over {}, threshold {}", Percent(*long_ratio),
                    FormatPromDuration(w.long_window), Percent(*short_ratio),
                    FormatPromDuration(w.short_window), Percent(threshold));
    if (*long_ratio > threshold && *short_ratio > threshold) {
      firing.push_back(fmt::format("{} is firing: {}", rule, numbers));
      if (w.severity == "page") r.page_firing = true;
      if (w.severity == "ticket") r.ticket_firing = true;
    } else {
      quiet.push_back(fmt::format("{} is not firing: {}", rule, numbers));
    }
  }
  std::vector<std::string> parts;
  if (firing.empty() && unevaluated.empty()) {
    parts.push_back(fmt::format("no service-wide burn-rate rule of the {} SLO \"{}\" fires",
                                Objective(slo), slo.name));
  }
  parts.insert(parts.end(), firing.begin(), firing.end());
  parts.insert(parts.end(), unevaluated.begin(), unevaluated.end());
  parts.insert(parts.end(), quiet.begin(), quiet.end());
  r.message = Join(parts, "; ");
  return r;
}

std::vector<seconds> GuardWindows(const Slo& slo) {
  std::set<seconds> windows;
  for (const BurnWindow& w : slo.windows) {
    windows.insert(w.long_window);
    windows.insert(w.short_window);
  }
  return {windows.begin(), windows.end()};
}

double RemainingBudget(const Slo& slo, double period_error_ratio) {
  return 1 - period_error_ratio / slo.ErrorBudget();
}

CanaryBurnResult EvaluateBudget(const Slo& slo, double period_error_ratio,
                                const BudgetPolicy& policy) {
  if (!(policy.floor >= 0 && policy.floor <= 1)) {
    return Inconclusive(fmt::format(
        "invalid error-budget policy: the floor must be between 0 and 1, got {}", policy.floor));
  }
  if (std::isnan(period_error_ratio)) {
    return Inconclusive(fmt::format("no error ratio over the {} period of the SLO \"{}\"",
                                    FormatPromDuration(slo.period), slo.name));
  }
  if (period_error_ratio < 0 || period_error_ratio > 1) {
    return Inconclusive(fmt::format("the error ratio over the {} period must be in [0, 1], got {}",
                                    FormatPromDuration(slo.period), period_error_ratio));
  }
  if (!(slo.ErrorBudget() > 0)) {
    return Inconclusive(
        fmt::format("SLO \"{}\" has no error budget (objective {})", slo.name, Objective(slo)));
  }
  const double remaining = RemainingBudget(slo, period_error_ratio);
  const std::string left =
      fmt::format("error budget {} left of {}", Percent(remaining), FormatPromDuration(slo.period));
  const std::string numbers = fmt::format("error ratio {} over the period against a budget of {}",
                                          Percent(period_error_ratio), Percent(slo.ErrorBudget()));
  CanaryBurnResult r;
  if (remaining >= policy.floor) {
    r.verdict = Verdict::kPass;
    r.message = fmt::format("{}, at or above the policy floor of {} ({})", left,
                            Percent(policy.floor), numbers);
    return r;
  }
  const bool refuse = policy.action == BudgetPolicy::Action::kRefuse;
  r.verdict = refuse ? Verdict::kFail : Verdict::kInconclusive;
  r.message =
      fmt::format("{}, below the policy floor of {} ({}): {}", left, Percent(policy.floor), numbers,
                  refuse ? "the release is refused" : "the release needs approval");
  return r;
}

}  // namespace ramp::slo
