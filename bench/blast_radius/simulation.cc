#include "bench/blast_radius/simulation.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>

#include "analysis/stats.h"

namespace ramp::bench {
namespace {

constexpr int64_t kNoRequest = std::numeric_limits<int64_t>::max();

int64_t Binomial(std::mt19937_64& rng, int64_t n, double p) {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  return std::binomial_distribution<int64_t>(n, p)(rng);
}

// The bad requests of one arm of one kind, request by request: the index of the next bad one is
// drawn from geometric gaps.
struct Stream {
  double rate = 0;  // the arm's requests per second
  double p = 0;     // probability that a request is bad
  bool canary = false;
  BadKind kind = BadKind::kErrors;
  std::mt19937_64 rng;
  int64_t next = kNoRequest;  // index of the next bad request
  int64_t seen = 0;           // bad requests processed so far

  int64_t Gap() {
    if (p >= 1) return 0;
    const int64_t gap = std::geometric_distribution<int64_t>(p)(rng);
    return gap > (int64_t{1} << 50) ? kNoRequest : gap;
  }
  void Start() { next = p > 0 ? Gap() : kNoRequest; }
  void Advance() {
    const int64_t gap = Gap();
    next = gap == kNoRequest ? kNoRequest : next + 1 + gap;
  }
  double Time() const { return next == kNoRequest ? kNever : static_cast<double>(next) / rate; }
};

void Bump(ArmInterval* arm, BadKind kind) {
  ++(kind == BadKind::kErrors ? arm->errors : arm->slow);
}

ArmInterval Minus(const ArmInterval& a, const ArmInterval& b) {
  return {
      .requests = a.requests - b.requests, .errors = a.errors - b.errors, .slow = a.slow - b.slow};
}

// The strategies of one run with what each has been fed.
class Feeder {
 public:
  Feeder(std::span<Strategy* const> strategies, int64_t horizon)
      : strategies_(strategies), fed_(strategies.size()), outcomes_(strategies.size()) {
    for (size_t i = 0; i < strategies.size(); ++i) {
      fed_[i].next_check = strategies[i]->NextCheck(0);
      fed_[i].active = fed_[i].next_check != kNever;
      outcomes_[i].seconds = static_cast<double>(horizon);
    }
  }

  bool AnyActive() const {
    return std::any_of(fed_.begin(), fed_.end(), [](const Fed& f) { return f.active; });
  }
  bool StableNeeded() const {
    for (size_t i = 0; i < fed_.size(); ++i) {
      if (fed_[i].active && strategies_[i]->UsesStable()) return true;
    }
    return false;
  }
  double NextCheck() const {
    double t = kNever;
    for (const Fed& f : fed_) {
      if (f.active) t = std::min(t, f.next_check);
    }
    return t;
  }

  // Feeds every active strategy the counts since it was last fed; `failed` is the canary's bad
  // requests of the failed kind so far.
  void Feed(double t, const ArmInterval& canary, const ArmInterval& stable, int64_t failed) {
    for (size_t i = 0; i < fed_.size(); ++i) {
      Fed& f = fed_[i];
      if (!f.active) continue;
      const Verdict v =
          strategies_[i]->Observe(t, Minus(canary, f.canary), Minus(stable, f.stable));
      f.canary = canary;
      f.stable = stable;
      if (v == Verdict::kRollback) {
        outcomes_[i] = {.rolled_back = true, .seconds = t, .failed_requests = failed};
        f.active = false;
      } else if (v == Verdict::kDone) {
        f.active = false;
      } else {
        f.next_check = strategies_[i]->NextCheck(t);
        f.active = f.next_check != kNever;
      }
    }
  }

  // Every strategy that did not roll back served the canary's bad requests until the horizon.
  std::vector<StrategyOutcome> Finish(int64_t failed_by_horizon) {
    for (StrategyOutcome& o : outcomes_) {
      if (!o.rolled_back) o.failed_requests = failed_by_horizon;
    }
    return std::move(outcomes_);
  }

 private:
  struct Fed {
    ArmInterval canary, stable;  // cumulative counts fed so far
    double next_check = kNever;
    bool active = false;
  };
  std::span<Strategy* const> strategies_;
  std::vector<Fed> fed_;
  std::vector<StrategyOutcome> outcomes_;
};

}  // namespace

int64_t RequestsBefore(double t, double rate) {
  if (!(t > 0) || !(rate > 0)) return 0;
  const double x = t * rate;
  return static_cast<int64_t>(std::ceil(x - 1e-9 * (1 + x)));
}

double SlowFraction(double latency_multiplier) {
  return 1 - analysis::stats::NormalCdf((std::log(0.5) - std::log(0.1 * latency_multiplier)) / 0.5);
}

uint64_t RunSeed(uint64_t base_seed, std::string_view cell_key, int64_t run, int variant) {
  uint64_t key = 1469598103934665603ULL;  // FNV-1a
  for (char c : cell_key) {
    key ^= static_cast<unsigned char>(c);
    key *= 1099511628211ULL;
  }
  const auto run64 = static_cast<uint64_t>(run);
  std::seed_seq seq{static_cast<uint32_t>(base_seed), static_cast<uint32_t>(base_seed >> 32),
                    static_cast<uint32_t>(key),       static_cast<uint32_t>(key >> 32),
                    static_cast<uint32_t>(run64),     static_cast<uint32_t>(run64 >> 32),
                    static_cast<uint32_t>(variant)};
  std::array<uint32_t, 2> out;
  seq.generate(out.begin(), out.end());
  return (static_cast<uint64_t>(out[0]) << 32) | out[1];
}

std::vector<StrategyOutcome> SimulateRun(const Traffic& traffic,
                                         std::span<Strategy* const> strategies, uint64_t seed) {
  const double rc = traffic.canary.requests_per_second;
  const double rs = traffic.stable.requests_per_second;
  const double horizon = static_cast<double>(traffic.horizon_seconds);
  const int64_t canary_total = RequestsBefore(horizon, rc);
  std::mt19937_64 master(seed);

  // Streams: canary errors, canary slow, stable errors, stable slow; each its own engine so one
  // stream's draws never depend on whether another was simulated.
  std::array<Stream, 4> streams;
  streams[0] = {.rate = rc, .p = traffic.canary.error_rate, .canary = true};
  streams[1] = {.rate = rc, .p = traffic.canary.slow_rate, .canary = true, .kind = BadKind::kSlow};
  streams[2] = {.rate = rs, .p = traffic.stable.error_rate};
  streams[3] = {.rate = rs, .p = traffic.stable.slow_rate, .kind = BadKind::kSlow};
  for (Stream& s : streams) s.rng.seed(master());
  std::mt19937_64 rollout_rng(master());
  Stream& failed_stream = streams[traffic.failed_kind == BadKind::kErrors ? 0 : 1];

  Feeder feeder(strategies, traffic.horizon_seconds);
  ArmInterval canary, stable;  // cumulative
  int64_t failed_by_horizon = 0;

  if (rc <= traffic.per_request_limit) {
    for (Stream& s : streams) s.Start();
    while (feeder.AnyActive()) {
      const bool with_stable = feeder.StableNeeded();
      Stream* next = nullptr;
      double t_event = kNever;
      for (size_t i = 0; i < streams.size(); ++i) {
        if (i >= 2 && !with_stable) break;
        const double t = streams[i].Time();
        if (t < t_event && t < horizon) {
          t_event = t;
          next = &streams[i];
        }
      }
      const double t_check = feeder.NextCheck();
      if (next != nullptr && t_event < t_check) {  // a check at the same time goes first
        ArmInterval& arm = next->canary ? canary : stable;
        ArmInterval& other = next->canary ? stable : canary;
        arm.requests = std::max(arm.requests, next->next + 1);
        other.requests = std::max(other.requests, RequestsBefore(t_event, next->canary ? rs : rc));
        Bump(&arm, next->kind);
        ++next->seen;
        next->Advance();
        feeder.Feed(t_event, canary, stable, failed_stream.seen);
      } else if (t_check <= horizon) {
        canary.requests = std::max(canary.requests, RequestsBefore(t_check, rc));
        stable.requests = std::max(stable.requests, RequestsBefore(t_check, rs));
        feeder.Feed(t_check, canary, stable, failed_stream.seen);
      } else {
        break;
      }
    }
    // The failed kind's requests not yet drawn: the pending bad one and Bernoulli after it.
    failed_by_horizon = failed_stream.seen;
    if (failed_stream.next < canary_total) {
      failed_by_horizon +=
          1 + Binomial(failed_stream.rng, canary_total - failed_stream.next - 1, failed_stream.p);
    }
  } else {
    int64_t second = 0;
    for (; second < traffic.horizon_seconds && feeder.AnyActive(); ++second) {
      const double t0 = static_cast<double>(second), t1 = t0 + 1;
      const int64_t nc = RequestsBefore(t1, rc) - RequestsBefore(t0, rc);
      const int64_t ns = RequestsBefore(t1, rs) - RequestsBefore(t0, rs);
      const int64_t ce = Binomial(streams[0].rng, nc, streams[0].p);
      const int64_t cs = Binomial(streams[1].rng, nc, streams[1].p);
      streams[0].seen += ce;
      streams[1].seen += cs;
      canary.requests += nc;
      canary.errors += ce;
      canary.slow += cs;
      stable.requests += ns;
      if (feeder.StableNeeded()) {
        stable.errors += Binomial(streams[2].rng, ns, streams[2].p);
        stable.slow += Binomial(streams[3].rng, ns, streams[3].p);
      }
      feeder.Feed(t1, canary, stable, failed_stream.seen);
    }
    failed_by_horizon =
        failed_stream.seen +
        Binomial(failed_stream.rng, canary_total - RequestsBefore(static_cast<double>(second), rc),
                 failed_stream.p);
  }

  std::vector<StrategyOutcome> out = feeder.Finish(failed_by_horizon);
  for (size_t i = 0; i < strategies.size(); ++i) {
    const double after = strategies[i]->FullTrafficAfter();
    if (after == kNever || out[i].rolled_back) continue;
    // A rolling update: from `after` on, the new version also serves the stable arm's requests.
    const int64_t taken =
        RequestsBefore(horizon, rs) - RequestsBefore(std::min(after, horizon), rs);
    const double p = traffic.failed_kind == BadKind::kErrors ? traffic.canary.error_rate
                                                             : traffic.canary.slow_rate;
    out[i].failed_requests += Binomial(rollout_rng, taken, p);
  }
  return out;
}

}  // namespace ramp::bench
