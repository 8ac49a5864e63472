// Rollback strategies of the blast-radius benchmark (bench/blast_radius): what decides to take a
// canary's weight to 0, fed the request counts a controller sees, interval by interval. Each
// strategy is a small class behind one interface, `Strategy::Observe(t, canary, stable)` → a
// verdict, so the virtual-clock simulation (simulation.h) and a driver fed real per-second counts
// by the built-in proxy can run the same code:
//
//   * RollingStrategy: a rolling update without analysis; never rolls back.
//   * FlaggerStrategy: Flagger's defaults — a check every 1 m over the last 1 m of canary traffic
//     (success rate ≥ 99 %, p99 ≤ the latency bound; no requests fails the check), roll back at
//     `threshold` failed checks.
//   * ArgoStrategy: Argo Rollouts' documented AnalysisTemplate — a measurement every 5 m over the
//     last 5 m (success ratio ≥ 0.95, p99 ≤ the bound), a metric fails when its failed
//     measurements exceed failureLimit 3.
//   * RampStrategy: ramp's error and latency judges (analysis::SequentialJudge) on both arms'
//     cumulative counts, as a background analysis over the canary (α 0.5 % each, watching until
//     maxDuration); roll back at the first Fail.
//   * SprtStrategy: Wald's SPRT against the true baseline rate (the reference's floor).
//
// Times are seconds since the first canary request. No strategy reads a clock or does I/O.
//
// Thread-safety: each strategy is a mutable object that is not synchronised; distinct objects
// may be used concurrently.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>

#include "analysis/judge.h"

namespace ramp::bench {

inline constexpr double kNever = std::numeric_limits<double>::infinity();

// The requests one arm served over one interval: how many, how many failed (5xx) and how many
// were slower than the SLO latency bound (500 ms). A request may be both.
struct ArmInterval {
  int64_t requests = 0;
  int64_t errors = 0;
  int64_t slow = 0;
};

enum class Verdict {
  kContinue,  // keep feeding me
  kRollback,  // take the canary's weight to 0 now
  kDone,      // stopped watching without rolling back (passed, accepted, inconclusive)
};

// Which bad requests a single-stream test counts.
enum class BadKind { kErrors, kSlow };

class Strategy {
 public:
  virtual ~Strategy() = default;

  virtual std::string_view Name() const = 0;

  // The counts of the interval that ends at `t`, since the previous call (the first interval
  // starts at 0). Calls come in non-decreasing `t`; once a call returned kRollback or kDone the
  // strategy is not fed again.
  virtual Verdict Observe(double t, const ArmInterval& canary, const ArmInterval& stable) = 0;

  // The next time after the last `t` observed (`t` itself) at which the strategy needs a data
  // point even if no bad request happened: a check, a measurement, a once-a-second decision.
  // kNever: it will not decide anything more (a driver may stop feeding it; it never rolled back).
  virtual double NextCheck(double t) const = 0;

  // Whether it reads the stable arm's counts (a driver may skip simulating them otherwise).
  virtual bool UsesStable() const { return false; }

  // When the new version starts serving all traffic (a rolling update), kNever for a canary.
  virtual double FullTrafficAfter() const { return kNever; }
};

// ---------------------------------------------------------------------------------------------

struct RollingOptions {
  double full_traffic_after_seconds = 60;  // the new version serves the canary share until then
};

class RollingStrategy : public Strategy {
 public:
  explicit RollingStrategy(RollingOptions options = {}) : options_(options) {}
  std::string_view Name() const override { return "rolling"; }
  Verdict Observe(double, const ArmInterval&, const ArmInterval&) override {
    return Verdict::kContinue;
  }
  double NextCheck(double) const override { return kNever; }
  double FullTrafficAfter() const override { return options_.full_traffic_after_seconds; }

 private:
  RollingOptions options_;
};

// ---------------------------------------------------------------------------------------------

// One fixed-threshold check on the canary's window: success rate ≥ min_success_percent and
// quantile ≤ the latency bound, that is at most ⌊n·(100 − quantile_percent)/100⌋ of the n
// requests slow. An empty window fails ("no values found"). Integer arithmetic, no rounding.
struct WindowCheck {
  int min_success_percent = 99;
  int quantile_percent = 99;
};
bool ErrorsPass(const WindowCheck& check, const ArmInterval& window);
bool LatencyPasses(const WindowCheck& check, const ArmInterval& window);

struct FlaggerOptions {
  double interval_seconds = 60;  // analysis.interval; the metrics' window is the same [1m]
  int threshold = 1;             // failed checks before rollback
  WindowCheck check;             // request-success-rate min 99, request-duration max 500 ms
};

class FlaggerStrategy : public Strategy {
 public:
  explicit FlaggerStrategy(FlaggerOptions options = {});
  std::string_view Name() const override { return "flagger"; }
  Verdict Observe(double t, const ArmInterval& canary, const ArmInterval& stable) override;
  double NextCheck(double) const override { return next_check_; }

  int checks() const { return checks_; }
  int failed_checks() const { return failed_checks_; }

 private:
  FlaggerOptions options_;
  double next_check_;
  ArmInterval window_;
  int checks_ = 0;
  int failed_checks_ = 0;
};

// ---------------------------------------------------------------------------------------------

struct ArgoOptions {
  double interval_seconds = 300;  // the metric's interval; the query window is the same [5m]
  int failure_limit = 3;          // a metric fails when failed measurements > failureLimit
  WindowCheck check = {.min_success_percent = 95, .quantile_percent = 99};
};

class ArgoStrategy : public Strategy {
 public:
  explicit ArgoStrategy(ArgoOptions options = {});
  std::string_view Name() const override { return "argo"; }
  Verdict Observe(double t, const ArmInterval& canary, const ArmInterval& stable) override;
  double NextCheck(double) const override { return next_check_; }

 private:
  ArgoOptions options_;
  double next_check_;
  ArmInterval window_;
  int failed_errors_ = 0;   // failed measurements of the success-rate metric
  int failed_latency_ = 0;  // of the p99 metric
};

// ---------------------------------------------------------------------------------------------

struct RampOptions {
  // Both judges' maxDuration (the rest of analysis::JudgeOptions stays at its defaults).
  int64_t max_duration_seconds = 3600;
  // Each judge's α: the family-wise false-rollback bound of the two is their sum (F8).
  double alpha = 0.005;
  // Background analysis over the whole canary: a judge within tolerance keeps watching until
  // maxDuration instead of passing at once.
  bool pass_early = false;
  // The router's canary share when known exactly; otherwise each interval's request split.
  std::optional<double> share;
  // Besides at every canary bad request, the judges are asked at least this often.
  double decide_every_seconds = 1;
};

class RampStrategy : public Strategy {
 public:
  explicit RampStrategy(RampOptions options = {});
  std::string_view Name() const override { return "ramp"; }
  Verdict Observe(double t, const ArmInterval& canary, const ArmInterval& stable) override;
  double NextCheck(double t) const override;
  bool UsesStable() const override { return true; }

 private:
  struct Watch {
    analysis::SequentialJudge judge;
    analysis::ArmCounts canary, stable;  // cumulative
    double last_decided = -kNever;
    bool done = false;
  };
  // Feeds one judge; true when it failed.
  bool Feed(Watch* watch, double t, int64_t canary_requests, int64_t canary_bad,
            int64_t stable_requests, int64_t stable_bad);

  RampOptions options_;
  Watch errors_;
  Watch latency_;
};

// ---------------------------------------------------------------------------------------------

struct SprtOptions {
  double p0 = 0.001;  // the baseline bad rate (H0), known
  double p1 = 0.05;   // the regressed rate (H1)
  double alpha = 0.01;
  double beta = 0.01;
  BadKind kind = BadKind::kErrors;
};

class SprtStrategy : public Strategy {
 public:
  explicit SprtStrategy(SprtOptions options);
  std::string_view Name() const override { return "sprt"; }
  Verdict Observe(double t, const ArmInterval& canary, const ArmInterval& stable) override;
  double NextCheck(double t) const override;

 private:
  SprtOptions options_;
  int64_t requests_ = 0;
  int64_t bad_ = 0;
};

}  // namespace ramp::bench
