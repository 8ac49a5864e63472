// proxy_bench: the built-in proxy (`ramp proxy --threads 1`) against NGINX (1 worker, upstream
// keep-alive) and HAProxy (nbthread 1) on the same machine, in the same run (DESIGN.md, Quality
// bars: "≥ NGINX's req/s, p99 ≤ NGINX's"; "weight change reaches traffic < 10 ms").
//
// Setup, all on loopback: a static upstream — NGINX, 1 worker, keep-alive, two server blocks
// answering `return 200 "stable\n"` and `"canary\n"` — and in front of it, in turn, each proxy
// splitting the traffic 90/10 between the two blocks the way ramp configures it (the built-in
// proxy's route table; NGINX split_clients on $request_id; HAProxy's rand(100) against a map
// value, filled by the ramp/haproxy router). With two or more CPUs the proxy under test runs on
// CPU 1 and wrk plus the upstream on CPU 0 (taskset); the upstream shares wrk's CPU so that the
// proxy has one to itself. Every proxy gets the same wrk settings (-t1 -c50 -d10s --latency); the
// runs are interleaved (one of each proxy per round, 5 rounds) after a 2 s warm-up each, and the
// median of the 5 runs is reported. A direct wrk → upstream run is the reference ceiling.
//
// Weight-change latency (built-in proxy and HAProxy): the weight is flipped between 0 and 100
// (exact all-stable / all-canary) `--changes` times; for each, the time from the admin call
// returning (PUT /v1/services/<name> answered; the router's SetWeight done, i.e. `set map`
// answered) to the first answer from the newly selected block, sending single requests in a loop
// on one keep-alive connection. The call's own duration is reported too, and the time from the
// call being made to the first new-block answer seen by a second client that keeps sending
// requests while the call runs. The built-in proxy runs with --state-file (every PUT is persisted
// and fsync'd before it answers; the new table is in effect before that), as in production; a
// second one without a state file shows what the PUT costs without the fsync.
//
// The last line is exactly:
//   proxy rps_ratio_vs_nginx=<x> p99_ratio_vs_nginx=<y> rps_ratio_vs_haproxy=<z>
// Usage: proxy_bench [--ramp PATH] [--runs N] [--duration S] [--connections N] [--changes N]
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ramp/traffic_router.h"
#include "tests/integration/data_plane_testing.h"
#include "traffic/haproxy/haproxy_router.h"

namespace ramp::dataplane_testing {
namespace {

using Steady = std::chrono::steady_clock;

struct Flags {
  std::string ramp = std::string(RAMP_BINARY_DIR) + "/src/cli/ramp";
  int runs = 5;
  int duration_s = 10;
  int connections = 50;
  int changes = 50;
  int canary_weight = 10;
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

// The first line of `cmd`'s stdout and stderr.
std::string CommandLine(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return "";
  char buf[512];
  if (std::fgets(buf, sizeof buf, p) != nullptr) out = buf;
  ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

std::string LoadAverage() { return FirstLine(ReadFileText("/proc/loadavg")); }

struct Target {
  std::string name;
  int port = 0;
  std::vector<double> rps, p99;
  int64_t failures = 0;
};

std::optional<WrkResult> RunWrk(const Target& t, int seconds, int connections, int cpu) {
  const std::string url = "http://127.0.0.1:" + std::to_string(t.port) + "/";
  auto wrk = WrkProcess::Start({"-t1", "-c" + std::to_string(connections),
                                "-d" + std::to_string(seconds) + "s", "--latency", url},
                               cpu);
  if (!wrk.has_value()) {
    std::fprintf(stderr, "proxy_bench: %s\n", wrk.error().ToString().c_str());
    return std::nullopt;
  }
  auto r = (*wrk)->Wait(std::chrono::seconds(seconds + 30));
  if (!r.has_value()) {
    std::fprintf(stderr, "proxy_bench: %s: %s\n", t.name.c_str(), r.error().ToString().c_str());
    return std::nullopt;
  }
  return *r;
}

struct ChangeLatency {
  std::vector<double> call_ms;    // the admin call
  std::vector<double> effect_ms;  // call returned → first answer from the new block
  // Call made → first answer from the new block, seen by a second client that keeps sending
  // requests while the call runs.
  std::vector<double> from_call_ms;
  int64_t stale_answers = 0;  // answers from the old block after the call returned
  int misses = 0;             // changes never seen within the bound
};

// Flips the weight between 100 and 0 `changes` times through `set_weight`, timing each.
ChangeLatency MeasureChanges(int port, int changes, const std::function<Status(int)>& set_weight) {
  ChangeLatency out;
  HttpConnection conn(port, std::chrono::seconds(5));
  // The concurrent client keeps its own connection for the whole run: a new connection would be
  // accepted by the proxy's accept thread, the one that also serves the admin API.
  HttpConnection probe(port, std::chrono::seconds(5));
  auto ms = [](Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  if (!set_weight(0).ok()) return out;
  for (int i = 0; i < changes; ++i) {
    const int weight = i % 2 == 0 ? 100 : 0;
    const std::string want = weight == 100 ? "canary\n" : "stable\n";
    // A second client probes while the call runs (bounded: 10000 requests or 5 s).
    std::optional<Steady::time_point> probe_seen;
    const auto t0 = Steady::now();
    std::thread prober([&] {
      for (int n = 0; n < 10000 && Steady::now() < t0 + std::chrono::seconds(5); ++n) {
        auto r = probe.Get("/");
        if (r.has_value() && r->status == 200 && r->body == want) {
          probe_seen = Steady::now();
          return;
        }
      }
    });
    Status s = set_weight(weight);
    const auto t1 = Steady::now();
    if (!s.ok()) {
      std::fprintf(stderr, "proxy_bench: weight change failed: %s\n", s.ToString().c_str());
      ++out.misses;
      continue;
    }
    bool seen = false;
    // Bounded: at most 10000 requests or 5 s.
    for (int n = 0; n < 10000 && Steady::now() < t1 + std::chrono::seconds(5); ++n) {
      auto r = conn.Get("/");
      if (r.has_value() && r->status == 200 && r->body == want) {
        seen = true;
        break;
      }
      ++out.stale_answers;
    }
    const auto t2 = Steady::now();
    prober.join();
    if (!seen) {
      ++out.misses;
      continue;
    }
    out.call_ms.push_back(ms(t1 - t0));
    out.effect_ms.push_back(ms(t2 - t1));
    out.from_call_ms.push_back(ms((probe_seen ? *probe_seen : t2) - t0));
  }
  return out;
}

void PrintChanges(const char* name, const ChangeLatency& c) {
  std::printf(
      "weight change, %s: %zu changes; call median %.3f ms (p90 %.3f, max %.3f); call returned → "
      "first answer from the new block median %.3f ms (p90 %.3f, max %.3f); answers from the old "
      "block after the call returned: %lld; changes not seen: %d; call made → first answer from "
      "the new block to a client probing meanwhile median %.3f ms (p90 %.3f, max %.3f)\n",
      name, c.effect_ms.size(), Median(c.call_ms), Percentile(c.call_ms, 0.9),
      c.call_ms.empty() ? 0 : *std::max_element(c.call_ms.begin(), c.call_ms.end()),
      Median(c.effect_ms), Percentile(c.effect_ms, 0.9),
      c.effect_ms.empty() ? 0 : *std::max_element(c.effect_ms.begin(), c.effect_ms.end()),
      static_cast<long long>(c.stale_answers), c.misses, Median(c.from_call_ms),
      Percentile(c.from_call_ms, 0.9),
      c.from_call_ms.empty() ? 0 : *std::max_element(c.from_call_ms.begin(), c.from_call_ms.end()));
}

int Run(const Flags& f) {
  const auto started = Steady::now();
  for (const char* bin : {kNginxBinary, kHaproxyBinary}) {
    if (::access(bin, X_OK) != 0) {
      std::fprintf(stderr, "proxy_bench: %s is missing (scripts/setup installs it)\n", bin);
      return 2;
    }
  }
  if (!FindWrk()) {
    std::fprintf(stderr, "proxy_bench: wrk is not on PATH (scripts/setup installs it)\n");
    return 2;
  }
  if (::access(f.ramp.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "proxy_bench: %s is missing (build the `ramp` target)\n", f.ramp.c_str());
    return 2;
  }
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  const int proxy_cpu = cpus >= 2 ? 1 : -1;
  const int load_cpu = cpus >= 2 ? 0 : -1;
  utsname u{};
  ::uname(&u);
  std::printf("machine: %ld CPUs (%s), Linux %s; %s; %s; %s\n", cpus, CpuModel().c_str(), u.release,
              CommandLine(std::string(kNginxBinary) + " -v").c_str(),
              FirstLine(CommandLine(std::string(kHaproxyBinary) + " -v")).c_str(),
              FirstLine(CommandLine(*FindWrk() + " -v")).c_str());
  std::printf("pinning: %s\n", proxy_cpu >= 0
                                   ? "proxy under test on CPU 1; wrk and the upstream on CPU 0"
                                   : "none (one CPU)");
  std::printf(
      "wrk -t1 -c%d -d%ds --latency, %d interleaved runs per proxy, median; canary "
      "weight %d %%; load average at start: %s\n",
      f.connections, f.duration_s, f.runs, f.canary_weight, LoadAverage().c_str());
  std::fflush(stdout);

  // The static upstream.
  auto up_stable = FreePort();
  auto up_canary = FreePort();
  if (!up_stable || !up_canary) return 1;
  NginxOptions up;
  up.http_body =
      "  keepalive_requests 1000000;\n  keepalive_timeout 75s;\n"
      "  server { listen 127.0.0.1:" +
      std::to_string(*up_stable) +
      " backlog=4096; location / { return 200 \"stable\\n\"; } }\n"
      "  server { listen 127.0.0.1:" +
      std::to_string(*up_canary) + " backlog=4096; location / { return 200 \"canary\\n\"; } }\n";
  up.probe_port = *up_stable;
  up.cpu = load_cpu;
  up.worker_connections = 4096;
  auto upstream = NginxProcess::Start(up);
  if (!upstream) {
    std::fprintf(stderr, "proxy_bench: upstream: %s\n", upstream.error().ToString().c_str());
    return 1;
  }
  const std::string stable_addr = "127.0.0.1:" + std::to_string(*up_stable);
  const std::string canary_addr = "127.0.0.1:" + std::to_string(*up_canary);

  // The built-in proxy.
  auto ramp_port = FreePort();
  if (!ramp_port) return 1;
  auto proxy =
      RampProxy::Start({.binary = f.ramp, .threads = 1, .state_file = true, .cpu = proxy_cpu});
  if (!proxy) {
    std::fprintf(stderr, "proxy_bench: ramp proxy: %s\n", proxy.error().ToString().c_str());
    return 1;
  }
  auto ramp_table = [&](int weight) {
    return nlohmann::json{{"listen", "127.0.0.1:" + std::to_string(*ramp_port)},
                          {"stable", {stable_addr}},
                          {"canary", {canary_addr}},
                          {"canaryWeight", weight}};
  };
  if (auto v = (*proxy)->Put("bench", ramp_table(f.canary_weight)); !v) {
    std::fprintf(stderr, "proxy_bench: %s\n", v.error().ToString().c_str());
    return 1;
  }

  // NGINX as the proxy.
  auto nginx_port = FreePort();
  if (!nginx_port) return 1;
  NginxOptions np;
  np.http_body =
      "  keepalive_requests 1000000;\n  keepalive_timeout 75s;\n"
      "  upstream bench-stable { server " +
      stable_addr +
      "; keepalive 64; }\n"
      "  upstream bench-canary { server " +
      canary_addr +
      "; keepalive 64; }\n"
      "  split_clients \"${request_id}\" $bench_upstream {\n    " +
      std::to_string(f.canary_weight) +
      "% bench-canary;\n    * bench-stable;\n  }\n"
      "  server { listen 127.0.0.1:" +
      std::to_string(*nginx_port) +
      " backlog=4096; location / { proxy_pass http://$bench_upstream; "
      "proxy_http_version 1.1; proxy_set_header Connection \"\"; } }\n";
  np.probe_port = *nginx_port;
  np.cpu = proxy_cpu;
  np.worker_connections = 4096;
  auto nginx = NginxProcess::Start(np);
  if (!nginx) {
    std::fprintf(stderr, "proxy_bench: nginx proxy: %s\n", nginx.error().ToString().c_str());
    return 1;
  }

  // HAProxy, filled and weighted by the ramp/haproxy router.
  auto haproxy =
      HaproxyProcess::Start({.name = "bench", .slots = 2, .nbthread = 1, .cpu = proxy_cpu});
  if (!haproxy) {
    std::fprintf(stderr, "proxy_bench: haproxy: %s\n", haproxy.error().ToString().c_str());
    return 1;
  }
  RouterContext ctx;
  ctx.rollout = {"default", "bench"};
  ctx.stable_service = "bench-stable";
  ctx.canary_service = "bench-canary";
  ctx.config_json = (*haproxy)->RouterConfigJson();
  auto router = haproxy::NewHaproxyRouter(ctx);
  if (!router) {
    std::fprintf(stderr, "proxy_bench: %s\n", router.error().ToString().c_str());
    return 1;
  }
  TrafficRouter& r = **router;
  for (const auto& op : std::vector<std::function<void(StatusCallback)>>{
           [&](auto d) { r.SetRevisionEndpoints("s", {stable_addr}, d); },
           [&](auto d) { r.SetRevisionEndpoints("c", {canary_addr}, d); },
           [&](auto d) { r.SwitchService(ServiceRole::kStable, "s", d); },
           [&](auto d) { r.SwitchService(ServiceRole::kCanary, "c", d); },
           [&](auto d) { r.SetWeight(f.canary_weight, {}, d); }}) {
    if (Status s = Await(op); !s.ok()) {
      std::fprintf(stderr, "proxy_bench: ramp/haproxy: %s\n", s.ToString().c_str());
      return 1;
    }
  }

  std::vector<Target> targets = {{"upstream direct (reference)", *up_stable},
                                 {"ramp proxy", *ramp_port},
                                 {"nginx proxy", *nginx_port},
                                 {"haproxy", (*haproxy)->port()}};
  for (auto& t : targets) {
    HttpConnection probe(t.port);
    auto a = probe.Get("/");
    if (!a || a->status != 200) {
      std::fprintf(stderr, "proxy_bench: %s does not answer 200 on port %d\n", t.name.c_str(),
                   t.port);
      return 1;
    }
    RunWrk(t, 2, f.connections, load_cpu);  // warm-up
  }
  for (int run = 0; run < f.runs; ++run) {
    for (auto& t : targets) {
      auto w = RunWrk(t, f.duration_s, f.connections, load_cpu);
      if (!w) return 1;
      t.rps.push_back(w->requests_per_second);
      t.p99.push_back(w->p99_ms.value_or(0));
      t.failures += w->Failures();
      std::printf("  run %d %-28s %s\n", run + 1, t.name.c_str(), w->Describe().c_str());
      std::fflush(stdout);
    }
  }

  // Weight-change latency, with no other load.
  ChangeLatency ramp_changes = MeasureChanges(*ramp_port, f.changes, [&](int w) {
    auto v = (*proxy)->Put("bench", ramp_table(w));
    return v ? OkStatus() : v.error();
  });
  // The same on a second proxy without a state file: what the PUT costs without the fsync.
  ChangeLatency ramp_nofsync_changes;
  if (auto bare = RampProxy::Start({.binary = f.ramp, .threads = 1, .cpu = proxy_cpu})) {
    auto bare_port = FreePort();
    auto bare_table = [&](int w) {
      auto t = ramp_table(w);
      t["listen"] = "127.0.0.1:" + std::to_string(bare_port.value_or(0));
      return t;
    };
    if (bare_port && (*bare)->Put("bench", bare_table(0))) {
      ramp_nofsync_changes = MeasureChanges(*bare_port, f.changes, [&](int w) {
        auto v = (*bare)->Put("bench", bare_table(w));
        return v ? OkStatus() : v.error();
      });
    }
  }
  ChangeLatency haproxy_changes = MeasureChanges((*haproxy)->port(), f.changes, [&](int w) {
    return Await([&](auto d) { r.SetWeight(w, {}, d); });
  });

  std::printf("\n%-28s %12s %10s %14s %10s\n", "target", "req/s", "p99 ms", "min-max req/s",
              "failures");
  for (const auto& t : targets) {
    std::printf("%-28s %12.0f %10.3f %6.0f-%-7.0f %10lld\n", t.name.c_str(), Median(t.rps),
                Median(t.p99), *std::min_element(t.rps.begin(), t.rps.end()),
                *std::max_element(t.rps.begin(), t.rps.end()), static_cast<long long>(t.failures));
  }
  PrintChanges("ramp proxy (PUT /v1/services/bench, state file fsync'd)", ramp_changes);
  PrintChanges("haproxy (ramp/haproxy SetWeight: set map on the unix runtime socket)",
               haproxy_changes);
  PrintChanges("ramp proxy without --state-file (no fsync; for comparison)", ramp_nofsync_changes);
  std::printf("load average at end: %s; took %.0f s\n", LoadAverage().c_str(),
              std::chrono::duration<double>(Steady::now() - started).count());
  const double ramp_rps = Median(targets[1].rps), nginx_rps = Median(targets[2].rps);
  const double haproxy_rps = Median(targets[3].rps);
  const double ramp_p99 = Median(targets[1].p99), nginx_p99 = Median(targets[2].p99);
  std::printf("proxy rps_ratio_vs_nginx=%.3f p99_ratio_vs_nginx=%.3f rps_ratio_vs_haproxy=%.3f\n",
              nginx_rps > 0 ? ramp_rps / nginx_rps : 0, nginx_p99 > 0 ? ramp_p99 / nginx_p99 : 0,
              haproxy_rps > 0 ? ramp_rps / haproxy_rps : 0);
  return 0;
}

}  // namespace
}  // namespace ramp::dataplane_testing

int main(int argc, char** argv) {
  ramp::dataplane_testing::Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "proxy_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--ramp") {
      f.ramp = value();
    } else if (a == "--runs") {
      f.runs = std::max(1, std::atoi(value().c_str()));
    } else if (a == "--duration") {
      f.duration_s = std::max(1, std::atoi(value().c_str()));
    } else if (a == "--connections") {
      f.connections = std::max(1, std::atoi(value().c_str()));
    } else if (a == "--changes") {
      f.changes = std::max(2, std::atoi(value().c_str()));
    } else if (a == "--canary-weight") {
      f.canary_weight = std::clamp(std::atoi(value().c_str()), 0, 100);
    } else {
      std::fprintf(stderr,
                   "usage: proxy_bench [--ramp PATH] [--runs N] [--duration SECONDS] "
                   "[--connections N] [--changes N] [--canary-weight 0-100]\n");
      return 2;
    }
  }
  return ramp::dataplane_testing::Run(f);
}
