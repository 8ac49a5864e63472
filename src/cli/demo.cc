// `ramp demo`: the main job on the embedded default, with nothing but ramp installed. It starts
// a controller (`ramp serve`) on a temporary state directory, the built-in proxy (`ramp proxy`),
// `ramp-demo-app` v1 behind it and a load generator; rolls out v2 (healthy: promoted through its
// steps) and v3 (5 % errors: ramp's error judge, watching the proxy's per-revision counters,
// fails the canary within seconds, the rollout aborts and traffic returns to v2); prints live
// progress and a table per release, and exits 0 only if both outcomes were the expected ones.
// docs/demo.md.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/api_client.h"
#include "cli/commands.h"
#include "common/subprocess.h"
#include "ramp/clock.h"
#include "ramp/http_client.h"

namespace ramp::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

struct DemoFlags {
  std::string demo_app;  // path of ramp-demo-app; default: beside ramp, then PATH
  int rps = 100;
  double bad_error_rate = 0.05;
  bool keep = false;
};

// A free loopback TCP port (bound, read, released).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string SelfPath() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "ramp" : p.string();
}

std::optional<std::string> FindDemoApp(const std::string& flag) {
  if (!flag.empty()) return flag;
  const fs::path self = fs::path(SelfPath()).parent_path();
  for (const fs::path& candidate :
       {self / "ramp-demo-app", self.parent_path() / "demo_app" / "ramp-demo-app"}) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  const char* path = std::getenv("PATH");
  return FindExecutable("ramp-demo-app", path ? path : "/usr/bin:/bin");
}

// The demo's manifests: one template, and the rollout at a version with an error rate. The
// template is ramp's error judge: one measurement that watches both revisions' requests and
// errors in the built-in proxy every second and fails as soon as the evidence says the canary is
// worse (docs/judges.md); a healthy canary passes once its error rate is bounded within 2 points
// of the stable's.
std::string TemplateManifest() {
  return R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: demo-error-judge
spec:
  metrics:
    - name: errors
      provider:
        plugin:
          ramp/judge-errors:
            alpha: 0.01
            tolerance: 0.02
            minSamples: 200
            maxDuration: 2m
)";
}

std::string RolloutManifest(const std::string& demo_app, int listen_port,
                            const std::string& version, double error_rate) {
  return fmt::format(R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: demo
spec:
  replicas: 2
  selector:
    matchLabels: {{app: demo}}
  template:
    metadata:
      labels: {{app: demo}}
    spec:
      containers:
        - name: demo
          image: ramp-demo-app:{version}
          command: ["{app}"]
          env:
            - {{name: VERSION, value: "{version}"}}
            - {{name: ERROR_RATE, value: "{rate}"}}
          ports:
            - {{name: http, containerPort: 8080}}
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            periodSeconds: 1
  strategy:
    canary:
      scaleDownDelaySeconds: 5
      canaryService: demo-canary
      stableService: demo-stable
      trafficRouting:
        plugins:
          ramp/proxy:
            listen: "127.0.0.1:{port}"
      steps:
        - setWeight: 25
        - analysis:
            templates: [{{templateName: demo-error-judge}}]
        - setWeight: 75
        - pause: {{duration: 5s}}
)",
                     fmt::arg("version", version), fmt::arg("app", demo_app),
                     fmt::arg("rate", error_rate), fmt::arg("port", listen_port));
}

// Requests at a steady rate against the proxy, counted by the version that answered.
class LoadGenerator {
 public:
  LoadGenerator(std::string url, int rps) : url_(std::move(url)), rps_(rps) {}
  ~LoadGenerator() { Stop(); }

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    // Answers still owed arrive within the request timeout.
    const auto deadline = SteadyClock::now() + std::chrono::seconds(6);
    while (in_flight_.load() > 0 && SteadyClock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  struct Counts {
    std::map<std::string, int64_t> served;  // version → 2xx answers
    int64_t failed = 0;                     // 5xx answers and transport errors
    int64_t total = 0;
  };
  Counts Snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_;
  }

 private:
  void Loop() {
    auto http = NewHttpClient();
    const auto period = std::chrono::microseconds(1'000'000 / std::max(1, rps_));
    auto next = SteadyClock::now();
    while (!stop_) {
      next += period;
      if (in_flight_.load() < 64) {
        ++in_flight_;
        HttpRequest req;
        req.url = url_;
        req.timeout = std::chrono::seconds(5);
        http->Send(req, [this](StatusOr<HttpResponse> r) {
          Record(r);
          --in_flight_;
        });
      }
      std::this_thread::sleep_until(next);  // the load's pacing
    }
    while (in_flight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  void Record(const StatusOr<HttpResponse>& r) {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_.total;
    if (!r || r->status >= 500) {
      ++counts_.failed;
      return;
    }
    json body = json::parse(r->body, nullptr, false);
    if (body.is_object() && body.contains("version") && body["version"].is_string()) {
      ++counts_.served[body["version"].get<std::string>()];
    } else {
      ++counts_.served["?"];
    }
  }

  std::string url_;
  int rps_;
  std::atomic<bool> stop_{false};
  std::atomic<int> in_flight_{0};
  std::thread thread_;
  std::mutex mu_;
  Counts counts_;
};

struct ReleaseResult {
  std::string version;
  std::string expected;  // "promoted" or "aborted"
  std::string outcome;
  double seconds = 0;
  int64_t served_by_new = 0;
  int64_t failed = 0;
};

class Demo {
 public:
  explicit Demo(DemoFlags flags) : flags_(std::move(flags)) {}

  ~Demo() { Cleanup(); }

  int Run() {
    const auto start = SteadyClock::now();
    auto demo_app = FindDemoApp(flags_.demo_app);
    if (!demo_app) {
      std::cerr << "ramp demo: ramp-demo-app not found beside ramp or in PATH; pass --demo-app\n";
      return 2;
    }
    demo_app_ = *demo_app;
    char tmpl[] = "/tmp/ramp-demo-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      std::cerr << "ramp demo: cannot create a temporary directory\n";
      return 1;
    }
    dir_ = tmpl;
    if (!StartProcesses()) return 1;
    std::cout << fmt::format(
        "ramp demo: controller API {}  (RAMP_STATE={} ramp list rollouts)\n"
        "           metrics {}/metrics, proxy admin http://127.0.0.1:{}/metrics\n"
        "           traffic http://127.0.0.1:{}/ at {} req/s\n\n",
        client_->server(), dir_ + "/state", client_->server(), admin_port_, listen_port_,
        flags_.rps);

    auto applied =
        Apply(TemplateManifest() + "---\n" + RolloutManifest(demo_app_, listen_port_, "v1", 0));
    if (!applied) return 1;
    Progress("v1", "first deploy");
    if (!WaitFor("v1", std::chrono::seconds(60), [this](const json& v) {
          const json& s = v["rollout"]["status"];
          if (s.value("phase", "") != "Healthy" || s.value("stableRS", "") == "") return false;
          last_stable_ = s.value("stableRS", "");
          return true;
        })) {
      return 1;
    }
    load_ = std::make_unique<LoadGenerator>(fmt::format("http://127.0.0.1:{}/", listen_port_),
                                            flags_.rps);
    load_->Start();

    std::vector<ReleaseResult> results;
    results.push_back(Release("v2", 0, "promoted"));
    results.push_back(Release("v3", flags_.bad_error_rate, "aborted"));
    load_->Stop();

    // After the abort every request must be served by v2 again.
    const LoadGenerator::Counts end = load_->Snapshot();
    std::cout << "\n"
              << fmt::format("{:<8} {:<10} {:<10} {:>9} {:>22} {:>16}\n", "RELEASE", "EXPECTED",
                             "OUTCOME", "DURATION", "REQUESTS TO NEW REV", "FAILED REQUESTS");
    bool ok = true;
    for (const ReleaseResult& r : results) {
      std::cout << fmt::format("{:<8} {:<10} {:<10} {:>8.1f}s {:>22} {:>16}\n", r.version,
                               r.expected, r.outcome, r.seconds, r.served_by_new, r.failed);
      ok = ok && r.outcome == r.expected;
    }
    std::cout << fmt::format(
        "\n{} requests in all; {} s\n", end.total,
        std::chrono::duration_cast<std::chrono::seconds>(SteadyClock::now() - start).count());
    if (!ok) {
      std::cout << "ramp demo: FAILED — an outcome differs from the expected one (logs in " << dir_
                << ")\n";
      flags_.keep = true;
      return 1;
    }
    std::cout << "ramp demo: OK — v2 was promoted, v3 was aborted by the error judge and traffic "
                 "returned to v2\n";
    return 0;
  }

 private:
  bool StartProcesses() {
    admin_port_ = FreePort();
    listen_port_ = FreePort();
    const std::string token_file = dir_ + "/proxy.token";
    {
      std::ofstream out(token_file);
      out << "demo-proxy-token-" << ::getpid() << "-" << admin_port_ << "\n";
    }
    ::chmod(token_file.c_str(), 0600);
    const std::string self = SelfPath();
    std::vector<std::string> env = {
        "PATH=" + std::string(std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin")};
    SubprocessOptions proxy;
    proxy.argv = {self,
                  "proxy",
                  "--admin-address",
                  fmt::format("127.0.0.1:{}", admin_port_),
                  "--admin-token-file",
                  token_file,
                  "--state-file",
                  dir_ + "/proxy-state.json",
                  "--threads",
                  "1"};
    proxy.env = env;
    proxy.output_path = dir_ + "/proxy.log";
    auto p = Subprocess::Start(proxy);
    if (!p) {
      std::cerr << "ramp demo: cannot start ramp proxy: " << p.error().message() << "\n";
      return false;
    }
    proxy_ = std::move(*p);

    SubprocessOptions serve;
    serve.argv = {self,
                  "serve",
                  "--state",
                  dir_ + "/state",
                  "--listen",
                  "127.0.0.1:0",
                  "--proxy-admin",
                  fmt::format("127.0.0.1:{}", admin_port_),
                  "--proxy-token-file",
                  token_file,
                  "--resync",
                  "0.25",
                  "--port-min",
                  "31000",
                  "--port-max",
                  "31999"};
    serve.env = env;
    serve.output_path = dir_ + "/serve.log";
    auto s = Subprocess::Start(serve);
    if (!s) {
      std::cerr << "ramp demo: cannot start ramp serve: " << s.error().message() << "\n";
      return false;
    }
    serve_ = std::move(*s);

    // The daemon writes its address once it listens.
    const auto deadline = SteadyClock::now() + std::chrono::seconds(20);
    while (SteadyClock::now() < deadline) {
      if (serve_->Poll()) {
        std::cerr << "ramp demo: ramp serve exited: see " << dir_ << "/serve.log\n";
        flags_.keep = true;
        return false;
      }
      if (fs::exists(dir_ + "/state/endpoint.json")) {
        ConnectionFlags cf;
        cf.state_dir = dir_ + "/state";
        auto c = ApiClient::Connect(cf);
        if (c && (*c)->Call("GET", "/v1/rollouts")) {
          client_ = std::move(*c);
          return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::cerr << "ramp demo: ramp serve did not start within 20s: see " << dir_ << "/serve.log\n";
    flags_.keep = true;
    return false;
  }

  bool Apply(const std::string& text) {
    auto r = client_->Call("POST", "/v1/apply", text, "application/yaml");
    if (!r) {
      std::cerr << "ramp demo: apply: " << r.error().message() << "\n";
      return false;
    }
    return true;
  }

  // " (judge: canary 3/120 errors, stable 0/360, Bayes factor 2.1 of 100)" from a judge
  // measurement's value; the value as it is for any other provider.
  static std::string JudgeSummary(const json& measurement) {
    const json v = json::parse(measurement.value("value", ""), nullptr, false);
    if (!v.is_object() || !v.contains("canaryRequests")) {
      return fmt::format(" ({})", measurement.value("value", "?"));
    }
    return fmt::format(" (judge: canary {}/{} errors, stable {}/{}, Bayes factor {:.3g} of {:.0f})",
                       v.value("canaryBad", 0), v.value("canaryRequests", 0),
                       v.value("stableBad", 0), v.value("stableRequests", 0),
                       std::exp(v.value("logEvidence", 0.0)),
                       std::exp(v.value("logThreshold", 0.0)));
  }

  void Progress(const std::string& version, const std::string& what) {
    const double t = std::chrono::duration<double>(SteadyClock::now() - t0_).count();
    std::cout << fmt::format("[{:6.1f}s] {:<3} {}\n", t, version, what) << std::flush;
  }

  // Polls the rollout, printing each change of phase, step or weight, until `done` holds.
  template <typename Pred>
  bool WaitFor(const std::string& version, std::chrono::seconds limit, Pred done) {
    const auto deadline = SteadyClock::now() + limit;
    std::string last;
    while (SteadyClock::now() < deadline) {
      auto v = client_->Call("GET", "/v1/rollouts/default/demo");
      if (v) {
        const json& s = (*v)["rollout"]["status"];
        std::string line = s.value("phase", "Progressing");
        if (s.contains("currentStepIndex")) {
          line += fmt::format(", step {}/4", s["currentStepIndex"].get<int>());
        }
        if (s.contains("canary") && s["canary"].contains("weights")) {
          line += fmt::format(", canary weight {}",
                              s["canary"]["weights"]["canary"].value("weight", 0));
        }
        for (const json& run : (*v)["analysisRuns"]) {
          if (!run.contains("status")) continue;
          const std::string phase = run["status"].value("phase", "");
          if (phase.empty()) continue;
          line += fmt::format(", analysis {}", phase);
          for (const json& m : run["status"].value("metricResults", json::array())) {
            const json& ms = m.value("measurements", json::array());
            if (ms.empty()) continue;
            line += JudgeSummary(ms.back());
            const std::string mphase = ms.back().value("phase", "");
            if (mphase != "Running" && mphase != "Pending" &&
                !ms.back().value("message", "").empty()) {
              verdicts_[run.value("metadata", json::object()).value("name", "")] =
                  ms.back().value("message", "");
            }
          }
        }
        if (!s.value("message", "").empty()) line += " — " + s.value("message", "");
        if (line != last) Progress(version, line);
        last = line;
        if (done(*v)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));  // the progress refresh
    }
    Progress(version, fmt::format("did not finish within {}s", limit.count()));
    return false;
  }

  ReleaseResult Release(const std::string& version, double error_rate,
                        const std::string& expected) {
    ReleaseResult result;
    result.version = version;
    result.expected = expected;
    const auto before = load_->Snapshot();
    const auto start = SteadyClock::now();
    Progress(version, fmt::format("apply: VERSION={} ERROR_RATE={}", version, error_rate));
    if (!Apply(RolloutManifest(demo_app_, listen_port_, version, error_rate))) {
      result.outcome = "error";
      return result;
    }
    std::string outcome = "timeout";
    WaitFor(version, std::chrono::seconds(90), [&](const json& v) {
      const json& s = v["rollout"]["status"];
      const std::string phase = s.value("phase", "");
      if (phase == "Degraded") {
        const json& weights = s["canary"].value("weights", json::object());
        const int weight = weights.is_object() && weights.contains("canary")
                               ? weights["canary"].value("weight", 0)
                               : 0;
        if (s.value("abort", false) && weight == 0) {
          outcome = "aborted";
          return true;
        }
        return false;
      }
      if (phase == "Healthy" && s.value("stableRS", "") == s.value("currentPodHash", "") &&
          s.value("stableRS", "") != last_stable_) {
        last_stable_ = s.value("stableRS", "");
        outcome = "promoted";
        return true;
      }
      return false;
    });
    result.outcome = outcome;
    result.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
    const auto after = load_->Snapshot();
    result.served_by_new = after.served.count(version) ? after.served.at(version) : 0;
    if (before.served.count(version)) result.served_by_new -= before.served.at(version);
    result.failed = after.failed - before.failed;
    Progress(version, "outcome: " + outcome);
    for (const auto& [run, message] : verdicts_) {
      if (printed_verdicts_.insert(run).second) Progress(version, "judge: " + message);
    }
    return result;
  }

  void Cleanup() {
    if (client_) {
      auto deleted = client_->Call("DELETE", "/v1/rollouts/default/demo");
      (void)deleted;
    }
    std::unique_ptr<Clock> clock = NewSystemClock();
    if (serve_) serve_->Stop(*clock, std::chrono::seconds(10));
    if (proxy_) proxy_->Stop(*clock, std::chrono::seconds(10));
    if (!dir_.empty() && !flags_.keep) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    } else if (!dir_.empty()) {
      std::cout << "ramp demo: logs and state kept in " << dir_ << "\n";
    }
  }

  DemoFlags flags_;
  std::map<std::string, std::string> verdicts_;  // AnalysisRun → its judge's final message
  std::set<std::string> printed_verdicts_;
  std::string demo_app_;
  std::string dir_;
  int admin_port_ = 0;
  int listen_port_ = 0;
  std::unique_ptr<Subprocess> proxy_;
  std::unique_ptr<Subprocess> serve_;
  std::unique_ptr<ApiClient> client_;
  std::unique_ptr<LoadGenerator> load_;
  std::string last_stable_;
  SteadyClock::time_point t0_ = SteadyClock::now();
};

}  // namespace

void RegisterDemo(CLI::App* app) {
  auto flags = std::make_shared<DemoFlags>();
  auto* cmd = app->add_subcommand(
      "demo",
      "Roll out a healthy and a failing release of ramp-demo-app behind the built-in "
      "proxy, with live progress (docs/demo.md)");
  cmd->add_option("--demo-app", flags->demo_app, "Path of ramp-demo-app");
  cmd->add_option("--rps", flags->rps, "Load generator requests per second")
      ->capture_default_str()
      ->check(CLI::Range(10, 2000));
  cmd->add_option("--bad-error-rate", flags->bad_error_rate, "Error rate of the failing release")
      ->capture_default_str()
      ->check(CLI::Range(0.03, 1.0));
  cmd->add_flag("--keep", flags->keep, "Keep the temporary state and logs");
  cmd->callback([flags] {
    ::signal(SIGPIPE, SIG_IGN);
    Demo demo(*flags);
    ExitCode() = demo.Run();
  });
}

}  // namespace ramp::cli
