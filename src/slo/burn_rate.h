// Burn-rate decisions on an SLO (../shared/reference/science-and-performance.md §2.1–§2.3):
//   * the canary-scoped sequential test: the SLO's burn-rate thresholds, tested with Wald's SPRT
//     on the canary's own cumulative (requests, errors), so a bad canary fails in a few hundred
//     requests instead of being diluted in the service-wide ratio;
//   * the service-wide multiwindow multi-burn-rate rules, as an absolute guard;
//   * the error-budget policy: refuse (or ask for approval) when too little budget is left.
// Messages are plain English with the numbers: percentages with two decimals, burn rates,
// windows.
//
// Part of the functional core: pure functions of their arguments, no I/O, no clock.
//
// Thread-safety: pure functions returning plain values; safe to call concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "slo/slo.h"

namespace ramp::slo {

enum class Verdict { kContinue, kPass, kFail, kInconclusive };
// "Continue", "Pass", "Fail", "Inconclusive".
std::string_view VerdictName(Verdict v);

struct CanaryBurnOptions {
  double alpha = 0.01;  // per rule: chance of failing a canary that burns exactly at the rule
  double beta = 0.01;   // per rule: chance of passing one that burns at factor × the rule
  double alternative_factor = 3.5;  // H1 burn = factor × the rule's burn (§2.3: 14.4 vs 50)
  std::vector<std::string> severities = {"page", "ticket"};
};

// The sequential test of one window rule.
struct RuleDecision {
  enum class State { kSkipped, kContinue, kAccepted, kRejected };
  BurnWindow window;
  State state = State::kSkipped;
  double p0 = 0;  // H0 error ratio: burn × budget
  double p1 = 0;  // H1 error ratio: min(factor × p0, 0.999)
  double log_likelihood_ratio = 0;
  double upper = 0;  // reject H0 (fail) at or above
  double lower = 0;  // accept H0 at or below
  std::string message;
};

struct CanaryBurnResult {
  Verdict verdict = Verdict::kInconclusive;
  std::string message;
  std::vector<RuleDecision> rules;  // the rules of the chosen severities, in the SLO's order
};

// The canary-scoped sequential burn-rate test (§2.3). For each window rule of `slo` whose
// severity is in options.severities: Wald's SPRT on the canary's cumulative requests and errors
// (counted from the canary's start) with H0: p = burn·budget and
// H1: p = min(factor·burn·budget, 0.999); a rule whose p0 ≥ 1 (or whose H1 is not above H0) is
// skipped and the message says so. kFail as soon as any rule rejects H0, naming the rule with
// the highest burn rate among those that did; kPass when every tested rule accepted H0;
// kContinue otherwise (also with no requests yet); kInconclusive when no rule can be tested or
// the options or counts are invalid. Each rule's false-fail rate is at most about alpha however
// often this is called, so the whole test's is at most about alpha × the number of rules.
CanaryBurnResult EvaluateCanaryBurn(const Slo& slo, int64_t canary_requests, int64_t canary_errors,
                                    const CanaryBurnOptions& options = {});

// The service-wide multiwindow multi-burn-rate rules (the absolute guard): a rule fires when
// the whole service's error ratio over its long window AND over its short window are both above
// burn·budget. A window missing from `error_ratio_by_window`, or NaN there, leaves the rules
// that need it unevaluated (not firing; the message and `unevaluated` say which).
struct ServiceWideResult {
  bool page_firing = false;
  bool ticket_firing = false;
  int unevaluated = 0;  // rules that lacked a window's ratio
  std::string message;
};
ServiceWideResult EvaluateServiceWide(
    const Slo& slo, const std::map<std::chrono::seconds, double>& error_ratio_by_window);

// The windows (long and short, deduplicated, ascending) the service-wide guard must query.
std::vector<std::chrono::seconds> GuardWindows(const Slo& slo);

// Error-budget policy: remaining budget = 1 − (error ratio over the period)/(1 − objective),
// negative when overspent.
double RemainingBudget(const Slo& slo, double period_error_ratio);
struct BudgetPolicy {
  double floor = 0.25;  // in [0, 1]
  enum class Action { kRefuse, kRequireApproval } action = Action::kRefuse;
};
// kPass when the remaining budget is at least the floor; below it kFail (kRefuse) or
// kInconclusive (kRequireApproval: a person must approve). kInconclusive also for a NaN or
// out-of-range ratio or floor. The message has the numbers, e.g. "error budget 12.30 % left of
// 30d, below the policy floor of 25.00 %".
CanaryBurnResult EvaluateBudget(const Slo& slo, double period_error_ratio,
                                const BudgetPolicy& policy = {});

}  // namespace ramp::slo
