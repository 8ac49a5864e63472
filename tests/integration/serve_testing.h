// A test fixture around a real `ramp serve`: the built-in proxy and the daemon as processes on
// loopback with a temporary state directory, the CLI to drive them, `ramp-demo-app` manifests,
// plain HTTP traffic through the proxy, and the instance records the process platform keeps.
// The serve_* integration tests share it. Test-only.
//
// Thread-safety: one fixture per test; Traffic may run on a second thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/cli_testing.h"
#include "common/subprocess.h"
#include "ramp/clock.h"

namespace ramp::serve_testing {

namespace fs = std::filesystem;
using cli::testing_util::CliResult;
using cli::testing_util::RunRamp;
using nlohmann::json;

inline int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Polls `done` every 100 ms until it holds or `limit` passes.
inline bool Eventually(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

// Sends `n` requests to 127.0.0.1:`port`, one connection each; counts answers per version (the
// demo app answers {"version": …}); anything else counts as "error".
inline std::map<std::string, int> Traffic(int port, int n) {
  std::map<std::string, int> seen;
  for (int i = 0; i < n; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string response;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      const std::string req = "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
      if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
        char buf[1024];
        ssize_t got;
        while ((got = ::read(fd, buf, sizeof buf)) > 0) response.append(buf, got);
      }
    }
    ::close(fd);
    const size_t body = response.find("\r\n\r\n");
    json j =
        body == std::string::npos ? json() : json::parse(response.substr(body + 4), nullptr, false);
    ++seen[j.is_object() ? j.value("version", "?") : "error"];
  }
  return seen;
}

// What a demo-app Rollout looks like in these tests.
struct AppSpec {
  std::string name = "web";
  std::string version = "v1";
  double error_rate = 0;
  int port = 0;              // the proxy's listen port for the rollout
  std::string steps;         // YAML list items, each line starting "        - "
  std::string extra_env;     // more env entries, each line starting "            - "
  std::string canary_extra;  // more canary strategy fields, each line starting "      "
};

class ServeFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           fmt::format("ramp-serve-{}-{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    demo_app_ = std::string(RAMP_BINARY_DIR) + "/src/demo_app/ramp-demo-app";
    ramp_ = std::string(RAMP_BINARY_DIR) + "/src/cli/ramp";
    admin_port_ = FreePort();
    token_file_ = (dir_ / "proxy.token").string();
    std::ofstream(token_file_) << "serve-test-proxy-token-0123456789\n";
    SubprocessOptions proxy;
    proxy.argv = {ramp_,
                  "proxy",
                  "--admin-address",
                  fmt::format("127.0.0.1:{}", admin_port_),
                  "--admin-token-file",
                  token_file_,
                  "--state-file",
                  (dir_ / "proxy.json").string(),
                  "--threads",
                  "1"};
    proxy.env = {"PATH=/usr/bin:/bin"};
    proxy.output_path = (dir_ / "proxy.log").string();
    auto p = Subprocess::Start(proxy);
    ASSERT_TRUE(p.has_value()) << p.error().message();
    proxy_ = std::move(*p);
    state_ = "--state " + (dir_ / "state").string();
    StartServe();
  }

  void TearDown() override {
    auto clock = NewSystemClock();
    if (serve_) serve_->Stop(*clock, std::chrono::seconds(10));
    if (proxy_) proxy_->Stop(*clock, std::chrono::seconds(10));
    // Instances outlive the daemon on purpose; the test's own are stopped here.
    for (int pid : InstancePids()) ::kill(pid, SIGKILL);
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // Starts `ramp serve` on the state directory and waits until the CLI reaches it.
  void StartServe() {
    const int base = 32000 + (::getpid() % 50) * 40;
    SubprocessOptions serve;
    serve.argv = {ramp_,
                  "serve",
                  "--state",
                  (dir_ / "state").string(),
                  "--listen",
                  "127.0.0.1:0",
                  "--proxy-admin",
                  fmt::format("127.0.0.1:{}", admin_port_),
                  "--proxy-token-file",
                  token_file_,
                  "--resync",
                  "0.2",
                  "--port-min",
                  std::to_string(base),
                  "--port-max",
                  std::to_string(base + 39)};
    serve.argv.insert(serve.argv.end(), serve_args_.begin(), serve_args_.end());
    serve.env = {"PATH=/usr/bin:/bin"};
    serve.output_path = (dir_ / "serve.log").string();
    std::error_code ec;
    fs::remove(dir_ / "state" / "endpoint.json", ec);
    auto s = Subprocess::Start(serve);
    ASSERT_TRUE(s.has_value()) << s.error().message();
    serve_ = std::move(*s);
    ASSERT_TRUE(Eventually(
        [&] {
          return fs::exists(dir_ / "state" / "endpoint.json") &&
                 RunRamp("list", "rollouts " + state_).exit_code == 0;
        },
        std::chrono::seconds(20)))
        << Log("serve.log");
  }

  // kill -9 of the daemon.
  void KillServe() {
    if (!serve_) return;
    serve_->Kill();
    serve_.reset();
  }

  std::set<int> InstancePids() {
    std::set<int> pids;
    std::error_code ec;
    if (!fs::exists(dir_ / "state" / "platform", ec)) return pids;
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "state" / "platform", ec)) {
      if (e.path().filename() != "instance.json") continue;
      std::ifstream in(e.path());
      json j = json::parse(in, nullptr, false);
      if (j.is_object() && j.value("pid", 0) > 0) pids.insert(j.value("pid", 0));
    }
    return pids;
  }

  std::string Log(const std::string& name) {
    std::ifstream in(dir_ / name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::string Manifest(const AppSpec& a) {
    return fmt::format(R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: errors}}
spec:
  metrics:
    - name: error-rate
      interval: 2s
      count: 2
      successCondition: result < 0.05
      provider:
        plugin:
          ramp/builtin: {{signal: errorRate, window: 5s, minRequests: 10}}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: {name}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: web
          image: web:{version}
          command: ["{app}"]
          env:
            - {{name: VERSION, value: "{version}"}}
            - {{name: ERROR_RATE, value: "{rate}"}}
{env}          ports: [{{name: http, containerPort: 8080}}]
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            periodSeconds: 1
  strategy:
    canary:
      scaleDownDelaySeconds: 2
      canaryService: {name}-canary
      stableService: {name}-stable
{canary}      trafficRouting:
        plugins:
          ramp/proxy: {{listen: "127.0.0.1:{port}"}}
      steps:
{steps})",
                       fmt::arg("name", a.name), fmt::arg("version", a.version),
                       fmt::arg("rate", a.error_rate), fmt::arg("app", demo_app_),
                       fmt::arg("port", a.port), fmt::arg("steps", a.steps),
                       fmt::arg("env", a.extra_env), fmt::arg("canary", a.canary_extra));
  }

  CliResult Apply(const std::string& text) {
    const std::string file = (dir_ / "manifest.yaml").string();
    std::ofstream(file) << text;
    return RunRamp("apply", "-f " + file + " " + state_);
  }

  // Argo's Rollout object of `name` (with status), or {} when it cannot be read.
  json Rollout(const std::string& name) {
    CliResult r = RunRamp("get", "rollout " + name + " -o json " + state_);
    json j = json::parse(r.out, nullptr, false);
    return j.is_object() ? j : json::object();
  }

  std::string Phase(const std::string& name) {
    return Rollout(name).value("status", json::object()).value("phase", "");
  }

  fs::path dir_;
  std::string ramp_;
  std::string demo_app_;
  std::string state_;
  std::string token_file_;
  int admin_port_ = 0;
  std::unique_ptr<Subprocess> proxy_;
  std::unique_ptr<Subprocess> serve_;
  std::vector<std::string> serve_args_;  // more `ramp serve` flags, set before StartServe
};

}  // namespace ramp::serve_testing
