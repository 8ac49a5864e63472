// SequentialJudge: the decision core of ramp's canary judges (the ramp/judge-errors and
// ramp/judge-latency providers, docs/judges.md). It compares the canary with the stable revision
// on one stream of "bad" requests — 5xx errors, or requests slower than an SLO latency bound — and
// decides as soon as the evidence allows, however often it is asked:
//
//   * Fail when an anytime-valid test says the canary is worse: a mixture over the canary/stable
//     bad-rate ratio ρ of the likelihood ratio of where each bad request landed (F4 of the
//     science reference, with the canary share π taken per data point so weight steps keep it
//     valid), crossing 1/α; or, given a known baseline rate, Wald's SPRT (F2) crossing its bound.
//   * Pass when at least `min_samples` canary requests were seen and the canary's confidence
//     sequence shows its bad rate no worse than the stable's plus the tolerance δ (SPRT: when it
//     accepts the baseline) — at once, or with `pass_early` off only at max_duration, so that a
//     background judge keeps watching the whole canary.
//   * Inconclusive once `max_duration` has passed without either, saying how much traffic it
//     would have needed — never a silent pass.
//
// Part of the functional core: counts and elapsed time come in, a decision goes out; no I/O, no
// clock. The state (counts and the mixture's log-likelihoods) is a plain value with a JSON form,
// so a provider keeps it in the Running measurement and resumes after a restart.
//
// Thread-safety: a value type; distinct objects may be used concurrently, one object is not
// synchronised.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/stats.h"
#include "ramp/status.h"

namespace ramp::analysis {

// Cumulative counts of one arm since the judge started.
struct ArmCounts {
  int64_t requests = 0;
  int64_t bad = 0;  // errors, or requests over the latency bound
  friend bool operator==(const ArmCounts&, const ArmCounts&) = default;
};

struct JudgeOptions {
  double alpha = 0.01;      // false-rollback probability over the whole watch (and 1 − CS level)
  double tolerance = 0.01;  // δ: how much higher than the stable's the canary's bad rate may be
  int64_t min_samples = 100;  // canary requests before the judge may pass
  stats::Direction direction = stats::Direction::kIncrease;
  // A known baseline bad rate: judge the canary alone with Wald's SPRT (increase only).
  std::optional<double> baseline_rate;
  // The regression the judge is sized for: the SPRT's alternative (baseline × ratio) and the
  // "×k" an Inconclusive message speaks of.
  double detect_ratio = 3;
  int64_t max_duration_seconds = 600;
  // Pass as soon as the canary is shown within tolerance (a gate in a canary step), or keep
  // watching until max_duration and pass then (background analysis over the whole canary).
  bool pass_early = true;
  // What a bad request is, for messages: "errors", "requests slower than 500ms".
  std::string bad_noun = "errors";
};

// InvalidArgument naming the option: α, δ, detect ratio, baseline, durations out of range, or a
// baseline with a direction other than increase.
Status ValidateJudgeOptions(const JudgeOptions& options);

enum class JudgeVerdict { kContinue, kFail, kPass, kInconclusive };

struct JudgeDecision {
  JudgeVerdict verdict = JudgeVerdict::kContinue;
  // The decision in words with its numbers: counts, rates, statistic and threshold.
  std::string message;
  double log_evidence = 0;   // ln of the mixture Bayes factor, or the SPRT log-likelihood ratio
  double log_threshold = 0;  // what log_evidence must reach to fail
};

class SequentialJudge {
 public:
  explicit SequentialJudge(JudgeOptions options);

  // A new data point: both arms' cumulative counts since the judge started. The bad requests
  // since the previous data point are weighed with the canary share of that interval's requests
  // (or `share`, when the router's split is known exactly). Counts that go backwards are
  // InvalidArgument and change nothing (a provider restarts its baseline on a counter reset).
  Status Observe(ArmCounts canary, ArmCounts stable, std::optional<double> share = std::nullopt);

  // The decision after `elapsed_seconds` of watching. Pure: may be asked any number of times.
  JudgeDecision Decide(int64_t elapsed_seconds) const;

  const ArmCounts& canary() const { return canary_; }
  const ArmCounts& stable() const { return stable_; }
  const JudgeOptions& options() const { return options_; }

  // The state as compact JSON, and back (with the same options). FromJson refuses text that is
  // not a state of these options (wrong mixture size, negative counts).
  std::string ToJson() const;
  static StatusOr<SequentialJudge> FromJson(std::string_view json_text, JudgeOptions options);

 private:
  JudgeDecision DecideSprt(int64_t elapsed_seconds) const;
  JudgeDecision DecideMixture(int64_t elapsed_seconds) const;
  // Pass (with its message) when the confidence sequence allows; nothing otherwise.
  std::optional<std::string> PassReason() const;
  std::string InconclusiveReason(int64_t elapsed_seconds) const;
  std::string Counts() const;

  JudgeOptions options_;
  ArmCounts canary_;
  ArmCounts stable_;
  std::vector<double> ratios_;  // the mixture's alternatives ρ_k (canary/stable bad-rate ratio)
  std::vector<double> log_lr_;  // ln likelihood ratio of ρ_k against ρ = 1, per alternative
  int64_t unweighed_bad_ = 0;   // canary bad requests in intervals the stable had no requests
};

// "45s", "10m", "1h30m": a duration the way people write it.
std::string HumanDuration(int64_t seconds);
// "5.00 %", "0.10 %", "0.0123 %": a rate as a percentage with at least two significant digits.
std::string Percent(double rate);

}  // namespace ramp::analysis
