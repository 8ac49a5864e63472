// The traffic of the blast-radius benchmark on a virtual clock: one canary run — a stable and a
// canary arm, each request failing (5xx) and being slow (over the 500 ms SLO bound)
// independently with its arm's probabilities — fed to a set of rollback strategies
// (strategies.h), which all see the same traffic (common random numbers) until each decides.
//
// Arrivals are deterministic: arm a's k-th request (k = 0, 1, …) comes at k / rate_a seconds, so
// [t0, t1) holds ⌈t1·rate⌉ − ⌈t0·rate⌉ requests (a fractional accumulator). When the canary gets
// at most `per_request_limit` req/s the run is simulated request by request: the gaps between bad
// requests of each stream (canary errors, canary slow, stable errors, stable slow) are drawn
// geometric, and the strategies are fed only at a bad request or at a time one of them asks for
// (Strategy::NextCheck). Above that, per-second binomial counts, fed every second. No real time
// and no I/O.
//
// Thread-safety: pure functions of their arguments (each run owns its random engines); safe to
// call concurrently with distinct strategy objects.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "bench/blast_radius/strategies.h"

namespace ramp::bench {

struct ArmModel {
  double requests_per_second = 0;
  double error_rate = 0;
  double slow_rate = 0;
};

struct Traffic {
  ArmModel canary;
  ArmModel stable;
  // Which of the canary's bad requests are the "failed user requests" counted per strategy.
  BadKind failed_kind = BadKind::kErrors;
  int64_t horizon_seconds = 3600;
  double per_request_limit = 100;  // canary req/s up to which requests are simulated one by one
};

struct StrategyOutcome {
  bool rolled_back = false;
  // When the strategy decided to roll back (the moment of the weight-0 decision; no actuation
  // delay), or the horizon when it never did.
  double seconds = 0;
  // Canary bad requests of Traffic::failed_kind served until then (until the horizon when it
  // never rolled back). For a rolling update: every such request the new version served.
  int64_t failed_requests = 0;
};

// One run; `strategies` are fresh and are left as the run ended (for inspection). Outcomes in the
// order of `strategies`. The same seed gives the same run whatever else runs concurrently.
std::vector<StrategyOutcome> SimulateRun(const Traffic& traffic,
                                         std::span<Strategy* const> strategies, uint64_t seed);

// Requests of an arm at `rate` req/s that arrived before `t`: ⌈t·rate⌉ (robust to rounding).
int64_t RequestsBefore(double t, double rate);

// The share of lognormal latencies (median 100 ms × multiplier, log-σ 0.5) over 500 ms:
// 1 − Φ((ln 0.5 − ln(0.1·m)) / 0.5).
double SlowFraction(double latency_multiplier);

// The seed of one run: mixes the base seed, a key naming the cell and the run's index and variant
// (std::seed_seq), so a cell's runs do not depend on which other cells run or on thread count.
uint64_t RunSeed(uint64_t base_seed, std::string_view cell_key, int64_t run, int variant);

}  // namespace ramp::bench
