// bench/blast-radius on real traffic: the built-in proxy (`ramp proxy`) in front of two
// `ramp-demo-app` revisions — the stable one healthy (0.1 % errors), the canary a bad release
// (5 % errors) — with a steady load through the proxy at the canary weight. Every second the
// driver reads both revisions' counters from the proxy's admin API and feeds the same strategy
// classes the virtual-clock simulation runs (strategies.h). Traffic is never shifted back, so all
// strategies see the same requests; each one's rollback time is when it would have set the
// canary weight to 0, and its failed requests are the canary's 5xx answers up to then. A
// strategy that has not decided by --duration is censored there.
//
// A benchmark, not a test: run it by hand (docs/benchmarks.md "Blast radius"):
//   blast_radius_real [--rate 100] [--share 0.05] [--bad-error-rate 0.05] [--duration 600]
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bench/blast_radius/strategies.h"
#include "metrics/builtin/builtin_provider.h"
#include "tests/integration/data_plane_testing.h"

namespace ramp::bench {
namespace {

using json = nlohmann::json;

struct Flags {
  double rate = 100;
  double share = 0.05;
  double stable_error_rate = 0.001;
  double bad_error_rate = 0.05;
  int duration = 600;
  std::string ramp = RAMP_BINARY_DIR "/src/cli/ramp";
  std::string demo_app = RAMP_BINARY_DIR "/src/demo_app/ramp-demo-app";
};

// Cumulative counts of one revision as the proxy reports them (`total`).
struct Totals {
  ArmInterval canary;
  ArmInterval stable;
};

// One revision's `total` out of a signals answer (metrics::ParseSignalWindow, as ramp/builtin
// reads it); slow = over 500 ms, from the cumulative latency buckets.
std::optional<ArmInterval> ReadArm(std::string_view body, std::string_view revision) {
  StatusOr<metrics::SignalWindow> w = metrics::ParseSignalWindow(body, revision, "total");
  if (!w) return std::nullopt;
  const double all = static_cast<double>(w->requests);
  const double within = all * metrics::HistogramFractionAtOrBelow(0.5, w->buckets);
  return ArmInterval{.requests = static_cast<int64_t>(w->requests),
                     .errors = static_cast<int64_t>(w->errors),
                     .slow = all > 0 ? std::llround(all - within) : 0};
}

ArmInterval Minus(const ArmInterval& a, const ArmInterval& b) {
  return {a.requests - b.requests, a.errors - b.errors, a.slow - b.slow};
}

struct Outcome {
  std::unique_ptr<Strategy> strategy;
  double rollback_s = kNever;
  double done_s = kNever;
  int64_t failed = 0;  // canary 5xx answers up to the rollback (or the end)
};

int Main(int argc, char** argv) {
  Flags f;
  CLI::App app{"bench/blast-radius on real traffic through the built-in proxy"};
  app.add_option("--rate", f.rate, "Requests per second through the proxy");
  app.add_option("--share", f.share, "Canary share of the traffic (0..1)");
  app.add_option("--stable-error-rate", f.stable_error_rate, "Error rate of the stable revision");
  app.add_option("--bad-error-rate", f.bad_error_rate, "Error rate of the canary (bad release)");
  app.add_option("--duration", f.duration, "Seconds of traffic; undecided strategies censored");
  app.add_option("--ramp", f.ramp, "The ramp binary");
  app.add_option("--demo-app", f.demo_app, "The ramp-demo-app binary");
  CLI11_PARSE(app, argc, argv);

  using dataplane_testing::DemoApp;
  using dataplane_testing::RampProxy;
  auto stable =
      DemoApp::Start(f.demo_app, "v1", {"--error-rate", fmt::format("{}", f.stable_error_rate)});
  auto canary =
      DemoApp::Start(f.demo_app, "v3", {"--error-rate", fmt::format("{}", f.bad_error_rate)});
  auto proxy = RampProxy::Start({.binary = f.ramp, .threads = 1});
  auto port = dataplane_testing::FreePort();
  if (!stable || !canary || !proxy || !port) {
    std::fprintf(stderr, "blast_radius_real: could not start the demo apps or the proxy\n");
    return 1;
  }
  const int weight = static_cast<int>(f.share * 10000 + 0.5);
  json table = {{"listen", "127.0.0.1:" + std::to_string(*port)},
                {"stable", {(*stable)->Address()}},
                {"canary", {(*canary)->Address()}},
                {"maxWeight", 10000},
                {"canaryWeight", weight}};
  if (auto v = (*proxy)->Put("blast", table); !v) {
    std::fprintf(stderr, "blast_radius_real: %s\n", v.error().ToString().c_str());
    return 1;
  }

  // The load: one keep-alive connection paced at --rate (the demo app answers in microseconds).
  std::atomic<bool> stop{false};
  std::atomic<int64_t> sent{0}, client_failures{0};
  std::thread load([&] {
    dataplane_testing::HttpConnection conn(*port);
    const auto period = std::chrono::duration<double>(1.0 / f.rate);
    auto next = std::chrono::steady_clock::now();
    while (!stop) {
      next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(period);
      auto r = conn.Get("/");
      ++sent;
      if (!r || r->status >= 500) ++client_failures;
      std::this_thread::sleep_until(next);  // the load's pacing
    }
  });

  auto read = [&]() -> std::optional<Totals> {
    dataplane_testing::AdminAnswer a =
        (*proxy)->Admin("GET", "/v1/services/blast/signals?window=1s");
    if (a.status != 200) return std::nullopt;
    std::optional<ArmInterval> canary = ReadArm(a.body, "canary");
    std::optional<ArmInterval> stable = ReadArm(a.body, "stable");
    if (!canary || !stable) return std::nullopt;
    return Totals{*canary, *stable};
  };

  std::vector<Outcome> outcomes;
  outcomes.push_back({std::make_unique<RollingStrategy>()});
  outcomes.push_back({std::make_unique<FlaggerStrategy>()});
  outcomes.push_back({std::make_unique<ArgoStrategy>()});
  outcomes.push_back(
      {std::make_unique<RampStrategy>(RampOptions{.max_duration_seconds = f.duration})});
  outcomes.push_back({std::make_unique<SprtStrategy>(
      SprtOptions{.p0 = f.stable_error_rate, .p1 = f.bad_error_rate})});

  std::optional<Totals> base = read();
  if (!base) {
    std::fprintf(stderr, "blast_radius_real: cannot read the proxy's signals\n");
    stop = true;
    load.join();
    return 1;
  }
  std::printf(
      "blast_radius_real: %g req/s, canary share %g, stable %g errors, canary %g errors, "
      "%d s; rollbacks are decisions only (traffic keeps its split)\n",
      f.rate, f.share, f.stable_error_rate, f.bad_error_rate, f.duration);
  Totals last = *base;
  const auto t0 = std::chrono::steady_clock::now();
  for (int s = 1; s <= f.duration; ++s) {
    std::this_thread::sleep_until(t0 + std::chrono::seconds(s));  // one data point a second
    std::optional<Totals> now = read();
    if (!now) continue;
    const ArmInterval dc = Minus(now->canary, last.canary), ds = Minus(now->stable, last.stable);
    last = *now;
    const int64_t canary_errors = now->canary.errors - base->canary.errors;
    bool undecided = false;
    for (Outcome& o : outcomes) {
      if (o.rollback_s != kNever || o.done_s != kNever) continue;
      o.failed = canary_errors;
      Verdict v = o.strategy->Observe(s, dc, ds);
      if (v == Verdict::kRollback) {
        o.rollback_s = s;
        std::printf("[%4ds] %s rolls back (canary: %lld errors in %lld requests)\n", s,
                    std::string(o.strategy->Name()).c_str(), static_cast<long long>(canary_errors),
                    static_cast<long long>(now->canary.requests - base->canary.requests));
      } else if (v == Verdict::kDone) {
        o.done_s = s;
        std::printf("[%4ds] %s stops watching without a rollback\n", s,
                    std::string(o.strategy->Name()).c_str());
      } else if (o.strategy->NextCheck(s) != kNever) {
        undecided = true;
      }
    }
    std::fflush(stdout);
    if (!undecided) break;
  }
  stop = true;
  load.join();
  std::printf("\n%-8s %12s %16s\n", "strategy", "rollback_s", "failed_requests");
  for (const Outcome& o : outcomes) {
    std::printf("%-8s %12s %16lld\n", std::string(o.strategy->Name()).c_str(),
                o.rollback_s == kNever ? "never" : fmt::format("{:.0f}", o.rollback_s).c_str(),
                static_cast<long long>(o.failed));
  }
  for (const Outcome& o : outcomes) {
    std::printf(
        "real strategy=%s rate=%g share=%g from=%g to=%g rollback_s=%s failed_requests=%lld\n",
        std::string(o.strategy->Name()).c_str(), f.rate, f.share, f.stable_error_rate,
        f.bad_error_rate,
        o.rollback_s == kNever ? "never" : fmt::format("{:.0f}", o.rollback_s).c_str(),
        static_cast<long long>(o.failed));
  }
  std::printf("load: %lld requests sent, %lld answered 5xx or failed at the client\n",
              static_cast<long long>(sent.load()), static_cast<long long>(client_failures.load()));
  return 0;
}

}  // namespace
}  // namespace ramp::bench

int main(int argc, char** argv) { return ramp::bench::Main(argc, argv); }
