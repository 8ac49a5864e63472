// 200 rollouts at once in one daemon: every rollout is applied, deployed, then updated and run
// through its canary steps (setWeight, a 2 s pause, an analysis, setWeight, promote) at the same
// time. The platform and the router are the in-memory fakes of src/runtime/runtime_testing.h
// (instances ready at once), the store is the real SQLite store on a temporary directory, so
// what is measured is the daemon itself: reconcile cycle latency (platform read, engine,
// durable status write, intents) and memory. Prints the figures and one summary line:
//   daemon rollouts=200 cycles=N p50_ms=… p99_ms=… max_ms=… rss_mib=… wall_s=…
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "daemon/daemon.h"
#include "net/event_loop.h"
#include "runtime/runtime_testing.h"
#include "store/sqlite/sqlite_store.h"

namespace {

using namespace ramp;

std::string Manifest(int i, const std::string& image) {
  return fmt::format(R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: app-{i}}}
spec:
  replicas: 4
  selector: {{matchLabels: {{app: app-{i}}}}}
  template:
    metadata: {{labels: {{app: app-{i}}}}}
    spec:
      containers:
        - {{name: app, image: "{image}", command: [app]}}
  strategy:
    canary:
      canaryService: app-{i}-canary
      stableService: app-{i}-stable
      scaleDownDelaySeconds: 1
      trafficRouting:
        plugins:
          ramp/proxy: {{listen: "127.0.0.1:{port}"}}
      steps:
        - setWeight: 25
        - pause: {{duration: 2s}}
        - analysis: {{templates: [{{templateName: errors}}]}}
        - setWeight: 75
)",
                     fmt::arg("i", i), fmt::arg("image", image), fmt::arg("port", 40000 + i));
}

constexpr const char* kTemplate = R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: errors}
spec:
  metrics:
    - name: error-rate
      successCondition: result < 0.05
      provider:
        plugin:
          ramp/builtin: {signal: errorRate}
)";

double RssMib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 200;
  const auto dir =
      std::filesystem::temp_directory_path() / ("ramp-daemon-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto clock = NewSystemClock();
  auto store = store::NewSqliteStateStore(dir.string());
  if (!store) {
    std::cerr << store.error().message() << "\n";
    return 1;
  }
  runtime::FakePlatform platform(clock.get());
  auto rate = std::make_shared<std::atomic<double>>(0.0);
  Registry<MetricProvider> providers("metric provider");
  (void)providers.Register("ramp/builtin", [rate]() -> StatusOr<std::unique_ptr<MetricProvider>> {
    return std::make_unique<runtime::FixedProvider>(rate);
  });
  daemon::RouterRegistry routers("traffic router");
  // Each rollout's router keeps its own weights, as each proxy service does.
  (void)routers.Register(
      "ramp/proxy", [](const RouterContext&) -> StatusOr<std::unique_ptr<TrafficRouter>> {
        return std::make_unique<runtime::FakeRouter>(std::make_shared<runtime::RouterLog>());
      });
  auto loop = net::EventLoop::Start(2);
  std::mutex mu;
  std::vector<double> cycles_ms;
  daemon::DaemonOptions o;
  o.loop = loop.get();
  o.clock = clock.get();
  o.store = store->get();
  o.platform = &platform;
  o.providers = &providers;
  o.routers = &routers;
  o.resync = std::chrono::seconds(1);
  if (std::getenv("RAMP_BENCH_LOG") != nullptr) {
    o.log = [&](std::string_view rollout, std::string_view line) {
      std::lock_guard<std::mutex> lock(mu);
      std::cerr << rollout << ": " << line << "\n";
    };
  }
  o.on_cycle = [&](Duration d) {
    std::lock_guard<std::mutex> lock(mu);
    cycles_ms.push_back(std::chrono::duration<double, std::milli>(d).count());
  };
  auto d = daemon::Daemon::Start(std::move(o));
  if (!d) {
    std::cerr << d.error().message() << "\n";
    return 1;
  }
  auto apply = [&](const std::string& text) {
    std::promise<StatusOr<std::vector<daemon::Applied>>> p;
    auto f = p.get_future();
    (*d)->Apply(text, "bench.yaml", [&p](auto r) { p.set_value(std::move(r)); });
    auto r = f.get();
    if (!r) std::cerr << r.error().message() << "\n";
    return r.has_value();
  };
  // Waits until every rollout satisfies `done`, at most `limit`.
  auto wait_all = [&](auto done, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int ok = 0;
      for (const auto& v : (*d)->ListRollouts("")) ok += done(v.snapshot) ? 1 : 0;
      if (ok == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  };
  if (!apply(kTemplate)) return 1;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    if (!apply(Manifest(i, "app:1"))) return 1;
  }
  if (!wait_all([](const runtime::RolloutSnapshot& s) { return s.state.status.phase == "Healthy"; },
                std::chrono::seconds(120))) {
    std::cerr << "not every rollout became Healthy\n";
    return 1;
  }
  const double deploy_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto update = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    if (!apply(Manifest(i, "app:2"))) return 1;
  }
  const bool promoted = wait_all(
      [](const runtime::RolloutSnapshot& s) {
        const auto& st = s.state.status;
        return st.phase == "Healthy" && st.stable_rs == st.current_pod_hash &&
               s.rollout.spec.template_.containers[0].image == "app:2";
      },
      std::chrono::seconds(300));
  const double update_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - update).count();
  const double rss = RssMib();
  if (!promoted) {
    std::map<std::string, int> phases;
    for (const auto& v : (*d)->ListRollouts("")) {
      const auto& st = v.snapshot.state.status;
      ++phases[fmt::format("{} step {}", st.phase, st.current_step_index.value_or(-1))];
    }
    for (const auto& [phase, count] : phases) std::cerr << count << " " << phase << "\n";
  }
  (*d)->Shutdown();
  d->reset();
  loop->Stop();
  std::filesystem::remove_all(dir);
  if (!promoted) {
    std::cerr << fmt::format("not every rollout was promoted within 300s (deployed in {:.1f}s)\n",
                             deploy_s);
    return 1;
  }
  std::sort(cycles_ms.begin(), cycles_ms.end());
  auto pct = [&](double p) {
    return cycles_ms[std::min(cycles_ms.size() - 1, static_cast<size_t>(p * cycles_ms.size()))];
  };
  std::cout << fmt::format(
      "{} rollouts: deployed in {:.1f}s, updated through 4 canary steps "
      "(a 2 s pause, an analysis) in {:.1f}s\n",
      n, deploy_s, update_s);
  std::cout << fmt::format(
      "daemon rollouts={} cycles={} p50_ms={:.2f} p99_ms={:.2f} max_ms={:.2f} rss_mib={:.1f} "
      "wall_s={:.1f}\n",
      n, cycles_ms.size(), pct(0.5), pct(0.99), cycles_ms.back(), rss, deploy_s + update_s);
  return 0;
}
