// bench/blast-radius: how long each rollback strategy takes to take a bad canary's weight to 0,
// how many failed user requests the canary serves before that, and how often it rolls back a
// healthy one. A virtual-clock simulation (simulation.h) of a grid of total rates × canary shares
// × regressions (error rate 0.1 % → 0.2 %, 1 %, 5 %, 50 %; latency ×1.2, ×2), each cell run
// `--runs` times per strategy (strategies.h: rolling, flagger, argo, ramp, sprt) plus as many
// paired runs of a healthy release for the false-rollback rate. Prints checks against
// ../shared/reference/science-and-performance.md §5, the goal lines, a table, and one machine
// line per cell and strategy:
//   cell rate=100 share=0.05 from=0.001 to=0.05 strategy=ramp runs=1000 median_s=… p90_s=…
//   failed_requests=… false_rollbacks=…
// Thread-safety: main only; the worker threads share nothing but an atomic task counter and
// write disjoint slots of the result arrays.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "analysis/stats.h"
#include "bench/blast_radius/simulation.h"
#include "bench/blast_radius/strategies.h"

namespace ramp::bench {
namespace {

constexpr double kStableErrorRate = 0.001;
constexpr int kStrategies = 5;  // rolling, flagger, argo, ramp, sprt
constexpr const char* kStrategyNames[kStrategies] = {"rolling", "flagger", "argo", "ramp", "sprt"};
constexpr int kRolling = 0, kFlagger = 1, kArgo = 2, kRamp = 3, kSprt = 4;

// ---------------------------------------------------------------------------------------------
// Numbers.

// Shortest decimal form (std::to_chars, fixed notation, shortest round trip).
std::string Num(double x) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::fixed);
  return ec == std::errc() ? std::string(buf, end) : fmt::format("{}", x);
}

double Round1(double x) { return std::round(x * 10) / 10; }

// The q-quantile with linear interpolation between order statistics (R type 7, numpy's default).
double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const double h = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (h - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

// P(X > k) for X ~ Binomial(n, p).
double BinomialTailAbove(int64_t k, int64_t n, double p) {
  double cdf = 0;
  for (int64_t i = 0; i <= std::min(k, n); ++i) {
    const double log_term = std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) +
                            static_cast<double>(i) * std::log(p) +
                            static_cast<double>(n - i) * std::log1p(-p);
    cdf += std::exp(log_term);
  }
  return std::max(0.0, 1 - cdf);
}

// Runs fn(i) for i in [0, n) on `threads` threads.
void ParallelFor(int64_t n, int threads, const std::function<void(int64_t)>& fn) {
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
}

// ---------------------------------------------------------------------------------------------
// Cells.

struct Cell {
  double rate = 100;    // total req/s
  double share = 0.05;  // canary share
  bool latency = false;
  double to = 0.05;  // the canary's error rate, or its latency multiplier

  double CanaryRate() const { return rate * share; }
  // The stable's and the canary's bad rate of the cell's kind.
  double From() const { return latency ? SlowFraction(1) : kStableErrorRate; }
  double To() const { return latency ? SlowFraction(to) : to; }
  BadKind Kind() const { return latency ? BadKind::kSlow : BadKind::kErrors; }

  std::string Key() const {
    return latency ? fmt::format("rate={} share={} from=latency*1 to=latency*{}", Num(rate),
                                 Num(share), Num(to))
                   : fmt::format("rate={} share={} from={} to={}", Num(rate), Num(share),
                                 Num(kStableErrorRate), Num(to));
  }
  std::string Title() const {
    const std::string what =
        latency ? fmt::format("latency ×{} (slow {} → {})", Num(to), analysis::Percent(From()),
                              analysis::Percent(To()))
                : fmt::format("errors {} → {}", analysis::Percent(kStableErrorRate),
                              analysis::Percent(to));
    return fmt::format("rate {} req/s, canary {} ({} req/s, {}): {}", Num(rate),
                       analysis::Percent(share), Num(CanaryRate()),
                       CanaryRate() <= 100 ? "per request" : "per-second counts", what);
  }

  // The cell's traffic; `healthy`: the canary is the same release as the stable (to = from).
  Traffic MakeTraffic(int64_t horizon, bool healthy) const {
    Traffic t;
    t.stable = {.requests_per_second = rate * (1 - share),
                .error_rate = kStableErrorRate,
                .slow_rate = SlowFraction(1)};
    t.canary = t.stable;
    t.canary.requests_per_second = CanaryRate();
    if (!healthy) (latency ? t.canary.slow_rate : t.canary.error_rate) = To();
    t.failed_kind = Kind();
    t.horizon_seconds = horizon;
    return t;
  }
};

// The five strategies for a cell, in output order. The paired healthy runs use the same ones.
std::vector<std::unique_ptr<Strategy>> MakeStrategies(const Cell& cell, int64_t horizon) {
  std::vector<std::unique_ptr<Strategy>> s;
  s.push_back(std::make_unique<RollingStrategy>());
  s.push_back(std::make_unique<FlaggerStrategy>());
  s.push_back(std::make_unique<ArgoStrategy>());
  s.push_back(std::make_unique<RampStrategy>(
      RampOptions{.max_duration_seconds = horizon, .share = cell.share}));
  s.push_back(std::make_unique<SprtStrategy>(
      SprtOptions{.p0 = cell.From(), .p1 = cell.To(), .kind = cell.Kind()}));
  return s;
}

struct StrategyResult {
  double median_s = 0;
  double p90_s = 0;
  double detected = 0;  // share of the regressed runs rolled back within the horizon
  double failed_requests = 0;
  double false_rollbacks = 0;
  bool median_rolls_back = false;  // the median run rolled back within the horizon
};

struct CellResult {
  Cell cell;
  StrategyResult by_strategy[kStrategies];
};

struct Config {
  int64_t runs = 1000;
  int threads = 2;
  uint64_t seed = 20240607;
  std::vector<double> rates = {10, 100, 1000};
  std::vector<double> shares = {0.01, 0.05, 0.20};
  std::string only;
  int64_t horizon = 3600;
};

std::vector<CellResult> RunCells(const std::vector<Cell>& cells, const Config& config) {
  const int64_t runs = config.runs;
  // outcomes[cell][variant][run][strategy]
  std::vector<StrategyOutcome> outcomes(cells.size() * 2 * runs * kStrategies);
  constexpr int64_t kChunk = 25;
  const int64_t chunks_per_variant = (runs + kChunk - 1) / kChunk;
  const auto tasks = static_cast<int64_t>(cells.size()) * 2 * chunks_per_variant;
  ParallelFor(tasks, config.threads, [&](int64_t task) {
    const int64_t cell_index = task / (2 * chunks_per_variant);
    const int variant = static_cast<int>(task / chunks_per_variant % 2);  // 0 regressed, 1 healthy
    const int64_t first = task % chunks_per_variant * kChunk;
    const Cell& cell = cells[cell_index];
    const Traffic traffic = cell.MakeTraffic(config.horizon, variant == 1);
    const std::string key = cell.Key();
    for (int64_t run = first; run < std::min(first + kChunk, runs); ++run) {
      std::vector<std::unique_ptr<Strategy>> owned = MakeStrategies(cell, config.horizon);
      std::vector<Strategy*> strategies;
      for (auto& s : owned) strategies.push_back(s.get());
      std::vector<StrategyOutcome> out =
          SimulateRun(traffic, strategies, RunSeed(config.seed, key, run, variant));
      std::copy(out.begin(), out.end(),
                outcomes.begin() + ((cell_index * 2 + variant) * runs + run) * kStrategies);
    }
  });

  std::vector<CellResult> results;
  for (size_t c = 0; c < cells.size(); ++c) {
    CellResult r{.cell = cells[c]};
    for (int s = 0; s < kStrategies; ++s) {
      auto at = [&](int variant, int64_t run) -> const StrategyOutcome& {
        return outcomes[((c * 2 + variant) * runs + run) * kStrategies + s];
      };
      std::vector<double> times;
      double failed = 0, detected = 0, false_rollbacks = 0;
      for (int64_t run = 0; run < runs; ++run) {
        times.push_back(at(0, run).seconds);
        failed += static_cast<double>(at(0, run).failed_requests);
        detected += at(0, run).rolled_back;
        false_rollbacks += at(1, run).rolled_back;
      }
      StrategyResult& out = r.by_strategy[s];
      out.median_s = Quantile(times, 0.5);
      out.p90_s = Quantile(times, 0.9);
      out.failed_requests = failed / static_cast<double>(runs);
      out.detected = detected / static_cast<double>(runs);
      out.false_rollbacks = false_rollbacks / static_cast<double>(runs);
      // The median run rolled back: more than half of the runs did.
      out.median_rolls_back = 2 * detected > static_cast<double>(runs);
    }
    results.push_back(r);
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// Checks against the reference.

// §5.2: Flagger's probability that one check fails, and that ≥ 1 of the first 10 fail, for a
// healthy canary (the success-rate check alone, as the reference's table).
void CheckFlaggerNoise(const Config& config) {
  constexpr int64_t kRuns = 10000;
  struct Row {
    double canary_rps, error_rate;
    const char* ref_one_text;
    const char* ref_ten_text;
  };
  const Row rows[] = {
      {0.5, 0.001, "3.0 %", "26 %"}, {5, 0.001, "0.03 %", "0.3 %"}, {50, 0.001, "≈0", "≈0"},
      {0.5, 0.005, "14 %", "78 %"},  {5, 0.005, "6.5 %", "49 %"},   {50, 0.005, "0.02 %", "0.2 %"},
  };
  fmt::print(
      "check (b) Flagger's fixed threshold on a healthy canary, reference §5.2: success rate at "
      "least 99 % over 1 m, a check every 1 m; {} simulated runs of 10 checks (the success-rate "
      "check alone, as the reference's table); exact = binomial\n",
      kRuns);
  for (const Row& row : rows) {
    std::vector<int> failed(kRuns), checks(kRuns);
    const Traffic traffic = {
        .canary = {.requests_per_second = row.canary_rps, .error_rate = row.error_rate},
        .stable = {.requests_per_second = row.canary_rps * 19, .error_rate = row.error_rate},
        .failed_kind = BadKind::kErrors,
        .horizon_seconds = 600};
    const std::string key =
        fmt::format("flagger-noise canary={} p={}", Num(row.canary_rps), Num(row.error_rate));
    ParallelFor(kRuns, config.threads, [&](int64_t run) {
      FlaggerStrategy flagger({.threshold = 1 << 30});
      Strategy* strategies[] = {&flagger};
      SimulateRun(traffic, strategies, RunSeed(config.seed, key, run, 2));
      failed[run] = flagger.failed_checks();
      checks[run] = flagger.checks();
    });
    int64_t all_checks = 0, all_failed = 0, any = 0;
    for (int64_t run = 0; run < kRuns; ++run) {
      all_checks += checks[run];
      all_failed += failed[run];
      any += failed[run] > 0;
    }
    const auto n = static_cast<int64_t>(std::llround(row.canary_rps * 60));
    const double exact_one = BinomialTailAbove(n / 100, n, row.error_rate);
    const double exact_ten = 1 - std::pow(1 - exact_one, 10);
    fmt::print(
        "check flagger_healthy canary_rps={} error_rate={} checks_per_run={} p_check_fails={:.4f} "
        "(ref {}, exact {:.4f}) p_any_of_10_fails={:.4f} (ref {}, exact {:.4f})\n",
        Num(row.canary_rps), Num(row.error_rate), Num(static_cast<double>(all_checks) / kRuns),
        static_cast<double>(all_failed) / static_cast<double>(std::max<int64_t>(all_checks, 1)),
        row.ref_one_text, exact_one, static_cast<double>(any) / kRuns, row.ref_ten_text, exact_ten);
  }
}

// §5.3: the worked example, 100 req/s, 5 % canary, 0.1 % → 5 % errors.
void CheckWorkedExample(const CellResult& r, const Config& config) {
  const StrategyResult* s = r.by_strategy;
  fmt::print("check (c) worked example, reference §5.3: {} ({} runs, horizon {} s)\n", r.cell.Key(),
             config.runs, config.horizon);
  auto line = [&](int i, const std::string& ref) {
    fmt::print(
        "check worked_example strategy={} median_s={} p90_s={} rolled_back={} "
        "failed_requests={} false_rollbacks={} | reference: {}\n",
        kStrategyNames[i], Num(Round1(s[i].median_s)), Num(Round1(s[i].p90_s)), Num(s[i].detected),
        Num(Round1(s[i].failed_requests)), Num(s[i].false_rollbacks), ref);
  };
  line(kFlagger, "~60-120 s (+ scrape + propagation); ≈15-30 failed requests");
  line(kArgo, "~15-20 min = 900-1200 s; ≈220-290 failed requests");
  line(kSprt, "median 8 s, p90 19 s (simulated floor); 0/300 wrong decisions");
  line(kRamp, "F4 median 9 s, p90 22 s; 1/300 false alarms in 1 h; ≈2 extra failed requests");
  const auto e = analysis::stats::WaldExpectedSamples(r.cell.From(), r.cell.To(), 0.01, 0.01);
  if (e) {
    fmt::print(
        "check wald_floor E1[n]={:.1f} canary requests = {:.1f} s at {} req/s (reference: ≈30.5 "
        "requests ≈ 6 s); E0[n]={:.0f} (reference ≈97)\n",
        e->under_h1, e->under_h1 / r.cell.CanaryRate(), Num(r.cell.CanaryRate()), e->under_h0);
  }
}

// ---------------------------------------------------------------------------------------------
// Output.

void PrintTable(const std::vector<CellResult>& results, const Config& config) {
  fmt::print("\n");
  for (const CellResult& r : results) {
    fmt::print("{}\n", r.cell.Title());
    fmt::print("  {:<8} {:>10} {:>10} {:>12} {:>16} {:>16}\n", "strategy", "median_s", "p90_s",
               "rolled_back", "failed_requests", "false_rollbacks");
    for (int s = 0; s < kStrategies; ++s) {
      const StrategyResult& x = r.by_strategy[s];
      fmt::print("  {:<8} {:>10.1f} {:>10.1f} {:>11.1f}% {:>16.1f} {:>15.1f}%\n", kStrategyNames[s],
                 x.median_s, x.p90_s, 100 * x.detected, x.failed_requests, 100 * x.false_rollbacks);
    }
  }
  fmt::print("\n");
  for (const CellResult& r : results) {
    for (int s = 0; s < kStrategies; ++s) {
      const StrategyResult& x = r.by_strategy[s];
      fmt::print(
          "cell {} strategy={} runs={} median_s={} p90_s={} failed_requests={} "
          "false_rollbacks={}\n",
          r.cell.Key(), kStrategyNames[s], config.runs, Num(Round1(x.median_s)),
          Num(Round1(x.p90_s)), Num(Round1(x.failed_requests)), Num(x.false_rollbacks));
    }
  }
}

void PrintGoals(const CellResult& key_cell, const std::vector<CellResult>& results) {
  const StrategyResult& ramp = key_cell.by_strategy[kRamp];
  const bool met = Round1(ramp.median_s) <= 9 && ramp.false_rollbacks <= 0.01;
  fmt::print("goal ramp_median_s={} (≤ 9) ramp_false_rollbacks={} (≤ 0.01) met={}\n",
             Num(Round1(ramp.median_s)), Num(ramp.false_rollbacks), met ? "yes" : "no");
  int ok = 0;
  std::vector<std::string> misses;
  for (const CellResult& r : results) {
    const StrategyResult& mine = r.by_strategy[kRamp];
    std::vector<std::string> why;
    for (int other : {kFlagger, kArgo}) {
      const StrategyResult& them = r.by_strategy[other];
      const bool strict = them.median_rolls_back;
      const bool fine = strict ? mine.failed_requests < them.failed_requests
                               : mine.failed_requests <= them.failed_requests;
      if (!fine) {
        why.push_back(fmt::format(
            "ramp {} {} {} {} (its median run {} back; its false_rollbacks={}, ramp's={})",
            Num(Round1(mine.failed_requests)), strict ? "≥" : ">", kStrategyNames[other],
            Num(Round1(them.failed_requests)), strict ? "rolls" : "does not roll",
            Num(them.false_rollbacks), Num(mine.false_rollbacks)));
      }
    }
    if (why.empty()) {
      ++ok;
    } else {
      std::string line = r.cell.Key() + ":";
      for (const std::string& w : why) line += " " + w + ";";
      misses.push_back(line);
    }
  }
  fmt::print("goal cells_failed_requests_ok={}/{}\n", ok, results.size());
  for (const std::string& m : misses) fmt::print("goal miss {}\n", m);
}

std::vector<Cell> Grid(const Config& config) {
  std::vector<Cell> cells;
  for (double rate : config.rates) {
    for (double share : config.shares) {
      if (config.only != "latency") {
        for (double to : {0.002, 0.01, 0.05, 0.5}) {
          cells.push_back({.rate = rate, .share = share, .to = to});
        }
      }
      if (config.only != "error") {
        for (double m : {1.2, 2.0}) {
          cells.push_back({.rate = rate, .share = share, .latency = true, .to = m});
        }
      }
    }
  }
  return cells;
}

int Main(int argc, char** argv) {
  Config config;
  CLI::App app{
      "bench/blast-radius: time to roll back a bad canary, failed requests served before "
      "that, and false rollbacks of a healthy one, per strategy (virtual clock)"};
  app.add_option("--runs", config.runs, "runs per cell and strategy (and as many healthy ones)")
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", config.threads, "worker threads")->check(CLI::Range(1, 256));
  app.add_option("--seed", config.seed, "base seed");
  app.add_option("--rates", config.rates, "total request rates, req/s")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option("--shares", config.shares, "canary shares, in (0, 1)")
      ->delimiter(',')
      ->check(CLI::Range(1e-9, 1 - 1e-9));
  app.add_option("--only", config.only, "only the error or the latency regressions")
      ->check(CLI::IsMember({"error", "latency"}));
  app.add_option("--horizon", config.horizon, "seconds of virtual time per run")
      ->check(CLI::Range(int64_t{60}, int64_t{30 * 24 * 3600}));
  CLI11_PARSE(app, argc, argv);

  const auto start = std::chrono::steady_clock::now();
  fmt::print(
      "# bench/blast-radius: virtual clock, {} runs per cell and strategy + {} paired healthy "
      "runs (to = from), horizon {} s, seed {}, {} threads\n",
      config.runs, config.runs, config.horizon, config.seed, config.threads);
  fmt::print(
      "# time to weight 0 = the moment a strategy decides to roll back; ZERO actuation delay for "
      "every strategy (no scrape lag, no reconcile, no router propagation); runs that never roll "
      "back count as the horizon\n"
      "# traffic: deterministic arrivals; stable 0.1 % errors, latency lognormal median 100 ms "
      "log-σ 0.5 (slow = over 500 ms: {} at ×1, {} at ×1.2, {} at ×2); per request up to 100 "
      "canary req/s, per-second binomial counts above\n"
      "# strategies: rolling (no analysis; all traffic after 60 s), flagger (1 m checks, "
      "success ≥ 99 % and p99 ≤ 500 ms, threshold 1), argo (5 m measurements, success ≥ 0.95 "
      "and p99 ≤ 500 ms, failureLimit 3), ramp (judges on errors and on slow requests as a "
      "background analysis: α 0.5 % each, watching until maxDuration = horizon, asked at every "
      "canary bad request and every second), "
      "sprt (Wald, true p0 and p1, α = β = 1 %)\n",
      analysis::Percent(SlowFraction(1)), analysis::Percent(SlowFraction(1.2)),
      analysis::Percent(SlowFraction(2)));

  const std::vector<Cell> cells = Grid(config);
  std::vector<CellResult> results = RunCells(cells, config);

  // The key cell (§5.3): from the grid, or simulated on its own when the grid lacks it.
  const Cell key{.rate = 100, .share = 0.05, .to = 0.05};
  std::optional<CellResult> key_result;
  for (const CellResult& r : results) {
    if (r.cell.Key() == key.Key()) key_result = r;
  }
  if (!key_result) key_result = RunCells({key}, config).front();

  CheckFlaggerNoise(config);
  CheckWorkedExample(*key_result, config);
  PrintGoals(*key_result, results);
  PrintTable(results, config);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("# wall_s={:.1f}\n", wall);
  return 0;
}

}  // namespace
}  // namespace ramp::bench

int main(int argc, char** argv) { return ramp::bench::Main(argc, argv); }
