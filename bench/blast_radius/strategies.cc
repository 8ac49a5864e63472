#include "bench/blast_radius/strategies.h"

#include <cmath>
#include <utility>

#include "analysis/stats.h"

namespace ramp::bench {
namespace {

void Add(ArmInterval* sum, const ArmInterval& more) {
  sum->requests += more.requests;
  sum->errors += more.errors;
  sum->slow += more.slow;
}

// The first multiple of `interval` after `t`.
double NextMultiple(double t, double interval) {
  return (std::floor(t / interval + 1e-9) + 1) * interval;
}

}  // namespace

bool ErrorsPass(const WindowCheck& check, const ArmInterval& window) {
  // (n − e)/n ≥ s/100  ⇔  100·e ≤ (100 − s)·n
  return window.requests > 0 &&
         100 * window.errors <= (100 - check.min_success_percent) * window.requests;
}

bool LatencyPasses(const WindowCheck& check, const ArmInterval& window) {
  // The q-th percentile is over the bound iff more than ⌊n·(100 − q)/100⌋ requests are.
  return window.requests > 0 &&
         100 * window.slow <= (100 - check.quantile_percent) * window.requests;
}

// ---------------------------------------------------------------------------------------------

FlaggerStrategy::FlaggerStrategy(FlaggerOptions options)
    : options_(options), next_check_(options.interval_seconds) {}

Verdict FlaggerStrategy::Observe(double t, const ArmInterval& canary, const ArmInterval&) {
  Add(&window_, canary);
  if (t < next_check_) return Verdict::kContinue;
  ++checks_;
  if (!ErrorsPass(options_.check, window_) || !LatencyPasses(options_.check, window_)) {
    ++failed_checks_;
  }
  window_ = {};
  next_check_ = NextMultiple(t, options_.interval_seconds);
  return failed_checks_ >= options_.threshold ? Verdict::kRollback : Verdict::kContinue;
}

// ---------------------------------------------------------------------------------------------

ArgoStrategy::ArgoStrategy(ArgoOptions options)
    : options_(options), next_check_(options.interval_seconds) {}

Verdict ArgoStrategy::Observe(double t, const ArmInterval& canary, const ArmInterval&) {
  Add(&window_, canary);
  if (t < next_check_) return Verdict::kContinue;
  if (!ErrorsPass(options_.check, window_)) ++failed_errors_;
  if (!LatencyPasses(options_.check, window_)) ++failed_latency_;
  window_ = {};
  next_check_ = NextMultiple(t, options_.interval_seconds);
  return failed_errors_ > options_.failure_limit || failed_latency_ > options_.failure_limit
             ? Verdict::kRollback
             : Verdict::kContinue;
}

// ---------------------------------------------------------------------------------------------

namespace {

analysis::JudgeOptions JudgeOptionsFor(const RampOptions& options, std::string noun) {
  analysis::JudgeOptions o;
  o.max_duration_seconds = options.max_duration_seconds;
  o.alpha = options.alpha;
  o.pass_early = options.pass_early;
  o.bad_noun = std::move(noun);
  return o;
}

}  // namespace

RampStrategy::RampStrategy(RampOptions options)
    : options_(options),
      errors_{.judge = analysis::SequentialJudge(JudgeOptionsFor(options, "errors"))},
      latency_{.judge = analysis::SequentialJudge(
                   JudgeOptionsFor(options, "requests slower than 500ms"))} {}

bool RampStrategy::Feed(Watch* w, double t, int64_t canary_requests, int64_t canary_bad,
                        int64_t stable_requests, int64_t stable_bad) {
  if (w->done) return false;
  w->canary.requests += canary_requests;
  w->canary.bad += canary_bad;
  w->stable.requests += stable_requests;
  w->stable.bad += stable_bad;
  if (!w->judge.Observe(w->canary, w->stable, options_.share).ok()) return false;  // never: ≥ 0
  // Evidence against the canary grows only with its bad requests: ask then, and once a second
  // for a pass (or, at maxDuration, inconclusive).
  // Watching until maxDuration, only a canary bad request or the end can change the verdict.
  const bool end = t >= static_cast<double>(options_.max_duration_seconds);
  if (canary_bad == 0 && !end &&
      (!options_.pass_early || t - w->last_decided < options_.decide_every_seconds)) {
    return false;
  }
  w->last_decided = t;
  const analysis::JudgeVerdict v =
      w->judge.Decide(static_cast<int64_t>(std::floor(t + 1e-9))).verdict;
  if (v == analysis::JudgeVerdict::kFail) return true;
  if (v != analysis::JudgeVerdict::kContinue) w->done = true;  // pass or inconclusive: stop
  return false;
}

Verdict RampStrategy::Observe(double t, const ArmInterval& canary, const ArmInterval& stable) {
  if (Feed(&errors_, t, canary.requests, canary.errors, stable.requests, stable.errors) ||
      Feed(&latency_, t, canary.requests, canary.slow, stable.requests, stable.slow)) {
    return Verdict::kRollback;
  }
  return errors_.done && latency_.done ? Verdict::kDone : Verdict::kContinue;
}

double RampStrategy::NextCheck(double t) const {
  const double end = static_cast<double>(options_.max_duration_seconds);
  if (!options_.pass_early) return t < end ? end : kNever;  // bad requests come on their own
  return NextMultiple(t, options_.decide_every_seconds);
}

// ---------------------------------------------------------------------------------------------

SprtStrategy::SprtStrategy(SprtOptions options) : options_(options) {}

Verdict SprtStrategy::Observe(double, const ArmInterval& canary, const ArmInterval&) {
  requests_ += canary.requests;
  bad_ += options_.kind == BadKind::kErrors ? canary.errors : canary.slow;
  StatusOr<analysis::stats::SprtResult> r = analysis::stats::WaldSprt(
      options_.p0, options_.p1, options_.alpha, options_.beta, requests_, bad_);
  if (!r) return Verdict::kDone;  // p0, p1, α or β out of range: nothing to judge with
  switch (r->decision) {
    case analysis::stats::SequentialDecision::kRejectH0:
      return Verdict::kRollback;
    case analysis::stats::SequentialDecision::kAcceptH0:
      return Verdict::kDone;
    case analysis::stats::SequentialDecision::kContinue:
      break;
  }
  return Verdict::kContinue;
}

double SprtStrategy::NextCheck(double t) const { return NextMultiple(t, 1); }

}  // namespace ramp::bench
