// End to end through the CLI against a real `ramp serve`: the process platform runs
// `ramp-demo-app` instances, the built-in proxy (`ramp proxy`) routes to them, and every action
// is a `ramp` command as a user types it.
#include <atomic>
#include <csignal>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/serve_testing.h"

namespace ramp::serve_testing {
namespace {

constexpr std::string_view kPauseSteps = "        - setWeight: 50\n        - pause: {}\n";
constexpr std::string_view kAnalysisSteps =
    "        - setWeight: 50\n"
    "        - analysis: {templates: [{templateName: errors}]}\n"
    "        - pause: {}\n";

class ServeEndToEndTest : public ServeFixture {
 protected:
  void SetUp() override {
    ServeFixture::SetUp();
    listen_port_ = FreePort();
  }

  std::string Manifest(const std::string& version, double error_rate, bool analysis) {
    AppSpec a;
    a.version = version;
    a.error_rate = error_rate;
    a.port = listen_port_;
    a.steps = std::string(analysis ? kAnalysisSteps : kPauseSteps);
    return ServeFixture::Manifest(a);
  }
  json View() { return Rollout("web"); }
  std::string Phase() { return ServeFixture::Phase("web"); }
  std::map<std::string, int> Traffic(int n) { return serve_testing::Traffic(listen_port_, n); }

  int listen_port_ = 0;
};

TEST_F(ServeEndToEndTest, CanaryPromoteAbortRetryUndoPauseResumeAndDelete) {
  CliResult applied = Apply(Manifest("v1", 0, false));
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  EXPECT_NE(applied.out.find("Rollout default/web created"), std::string::npos) << applied.out;
  CliResult status = RunRamp("status", "web --timeout 60s " + state_);
  ASSERT_EQ(status.exit_code, 0) << status.out << status.err << Log("serve.log");
  ASSERT_TRUE(Eventually([&] { return Traffic(1)["v1"] == 1; }, std::chrono::seconds(20)))
      << Log("serve.log");

  // A canary: paused at 50 %, both versions serve; promote finishes it.
  CliResult v2 = Apply(Manifest("v2", 0, false));
  ASSERT_EQ(v2.exit_code, 0) << v2.err;
  EXPECT_NE(v2.out.find("Rollout default/web configured"), std::string::npos) << v2.out;
  ASSERT_TRUE(Eventually([&] { return Phase() == "Paused"; }, std::chrono::seconds(60)))
      << Log("serve.log");
  ASSERT_TRUE(Eventually(
      [&] {
        auto seen = Traffic(40);
        return seen["v1"] > 0 && seen["v2"] > 0;
      },
      std::chrono::seconds(20)));
  CliResult tree = RunRamp("get", "rollout web " + state_);
  EXPECT_NE(tree.out.find("Paused"), std::string::npos) << tree.out;
  EXPECT_NE(tree.out.find("revision:2"), std::string::npos) << tree.out;
  CliResult promoted = RunRamp("promote", "web " + state_);
  ASSERT_EQ(promoted.exit_code, 0) << promoted.err;
  EXPECT_EQ(promoted.out, "rollout 'web' promoted\n");
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0);

  // Another canary, aborted by hand: Degraded, and `status` says so with exit 1.
  ASSERT_EQ(RunRamp("set", "image web web=web:v3 " + state_).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return Phase() == "Paused"; }, std::chrono::seconds(60)));
  ASSERT_EQ(RunRamp("abort", "web " + state_).exit_code, 0);
  CliResult degraded = RunRamp("status", "web --timeout 30s " + state_);
  EXPECT_EQ(degraded.exit_code, 1) << degraded.out;
  EXPECT_NE(degraded.out.find("RolloutAborted"), std::string::npos) << degraded.out;

  // Retry runs the steps again; pause and resume hold it by hand.
  ASSERT_EQ(RunRamp("retry", "rollout web " + state_).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return Phase() == "Paused"; }, std::chrono::seconds(60)));
  ASSERT_EQ(RunRamp("pause", "web " + state_).exit_code, 0);
  EXPECT_TRUE(View()["spec"].value("paused", false));
  ASSERT_EQ(RunRamp("resume", "web " + state_).exit_code, 0);
  EXPECT_FALSE(View()["spec"].value("paused", false));

  // Undo goes back to the stable template (v2): a rollback skips the steps.
  CliResult undo = RunRamp("undo", "web " + state_);
  ASSERT_EQ(undo.exit_code, 0) << undo.err;
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0) << Log("serve.log");
  EXPECT_EQ(View()["spec"]["template"]["spec"]["containers"][0]["image"], "web:v2");
  ASSERT_TRUE(Eventually([&] { return Traffic(10)["v2"] == 10; }, std::chrono::seconds(30)));

  // Delete stops every instance.
  std::set<int> pids = InstancePids();
  ASSERT_FALSE(pids.empty());
  CliResult deleted = RunRamp("delete", "rollout web " + state_);
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_TRUE(Eventually(
      [&] {
        for (int pid : pids) {
          if (::kill(pid, 0) == 0) return false;
        }
        return true;
      },
      std::chrono::seconds(30)));
  EXPECT_NE(RunRamp("get", "rollout web " + state_).exit_code, 0);
}

TEST_F(ServeEndToEndTest, FailingAnalysisAbortsAndTrafficReturnsToStable) {
  ASSERT_EQ(Apply(Manifest("v1", 0, true)).exit_code, 0);
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0) << Log("serve.log");
  CliResult applied = Apply(Manifest("v2", 0.5, true));
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  // Requests reach the canary so the analysis has data.
  std::atomic<bool> stop{false};
  std::thread load([&] {
    while (!stop) Traffic(5);
  });
  CliResult status = RunRamp("status", "web --timeout 90s " + state_);
  stop = true;
  load.join();
  EXPECT_EQ(status.exit_code, 1) << status.out << Log("serve.log");
  EXPECT_NE(status.out.find("Metric \"error-rate\" assessed Failed"), std::string::npos)
      << status.out;
  ASSERT_TRUE(Eventually([&] { return Traffic(10)["v1"] == 10; }, std::chrono::seconds(30)));
  CliResult runs = RunRamp("get", "analysisruns " + state_);
  EXPECT_NE(runs.out.find("Failed"), std::string::npos) << runs.out;
}

// Blue-green off Kubernetes: the built-in proxy serves the active revision on one port and the
// preview on another (annotation ramp.dev/traffic-router); a manual promote switches the active
// one.
TEST_F(ServeEndToEndTest, BlueGreenWithManualPromoteSwitchesTheActiveService) {
  const int preview_port = FreePort();
  auto manifest = [&](const std::string& version) {
    return fmt::format(R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
  annotations:
    ramp.dev/traffic-router: |
      ramp/proxy: {{listen: "127.0.0.1:{port}", previewListen: "127.0.0.1:{preview}"}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
        - name: web
          image: web:{version}
          command: ["{app}"]
          env: [{{name: VERSION, value: "{version}"}}]
          ports: [{{name: http, containerPort: 8080}}]
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            periodSeconds: 1
  strategy:
    blueGreen:
      activeService: web-active
      previewService: web-preview
      autoPromotionEnabled: false
      scaleDownDelaySeconds: 2
)",
                       fmt::arg("port", listen_port_), fmt::arg("preview", preview_port),
                       fmt::arg("version", version), fmt::arg("app", demo_app_));
  };
  CliResult applied = Apply(manifest("v1"));
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0) << Log("serve.log");
  ASSERT_TRUE(Eventually([&] { return Traffic(5)["v1"] == 5; }, std::chrono::seconds(20)))
      << Log("serve.log");

  // v2 comes up behind the preview port and waits for a promote; the active port keeps v1.
  ASSERT_EQ(Apply(manifest("v2")).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return Phase() == "Paused"; }, std::chrono::seconds(60)))
      << Log("serve.log");
  ASSERT_TRUE(Eventually([&] { return serve_testing::Traffic(preview_port, 5)["v2"] == 5; },
                         std::chrono::seconds(20)))
      << Log("serve.log");
  EXPECT_EQ(Traffic(20)["v1"], 20);

  // Requests keep flowing while the active service switches: none fails.
  std::atomic<bool> stop{false};
  std::map<std::string, int> during;
  std::thread load([&] {
    while (!stop) {
      for (const auto& [version, n] : Traffic(5)) during[version] += n;
    }
  });
  CliResult promoted = RunRamp("promote", "web " + state_);
  ASSERT_EQ(promoted.exit_code, 0) << promoted.err;
  CliResult status = RunRamp("status", "web --timeout 60s " + state_);
  ASSERT_TRUE(Eventually([&] { return Traffic(10)["v2"] == 10; }, std::chrono::seconds(30)));
  stop = true;
  load.join();
  EXPECT_EQ(status.exit_code, 0) << status.out << Log("serve.log");
  EXPECT_EQ(during["error"], 0);
  EXPECT_GT(during["v2"], 0);
  EXPECT_EQ(View()["status"]["blueGreen"].value("activeSelector", ""),
            View()["status"].value("currentPodHash", "?"));
}

// `terminate analysisrun`: a step analysis that would measure forever (interval, no count) is
// ended by hand; it completes Successful and the rollout finishes its steps.
TEST_F(ServeEndToEndTest, TerminatingAnAnalysisRunLetsTheRolloutGoOn) {
  AppSpec a;
  a.port = listen_port_;
  a.steps =
      "        - setWeight: 50\n"
      "        - analysis: {templates: [{templateName: forever}]}\n";
  const std::string forever = fmt::format(R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: forever}}
spec:
  metrics:
    - name: answers
      interval: 1s
      successCondition: result == 'v1' || result == 'v2'
      provider:
        web: {{url: "http://127.0.0.1:{}/", jsonPath: "{{$.version}}"}}
---
)",
                                          listen_port_);
  ASSERT_EQ(Apply(forever + ServeFixture::Manifest(a)).exit_code, 0);
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0) << Log("serve.log");
  a.version = "v2";
  ASSERT_EQ(Apply(forever + ServeFixture::Manifest(a)).exit_code, 0);

  std::string run;
  ASSERT_TRUE(Eventually(
      [&] {
        const json s = View()["status"]["canary"];
        run = s.value("currentStepAnalysisRunStatus", json::object()).value("name", "");
        return !run.empty();
      },
      std::chrono::seconds(60)))
      << Log("serve.log");
  // It keeps measuring: still Progressing with its run Running after several intervals.
  ASSERT_TRUE(Eventually(
      [&] {
        CliResult runs = RunRamp("get", "analysisruns " + state_);
        return runs.out.find(run) != std::string::npos &&
               runs.out.find("Running") != std::string::npos;
      },
      std::chrono::seconds(30)));
  EXPECT_EQ(Phase(), "Progressing");

  CliResult unknown = RunRamp("terminate", "analysisrun no-such-run " + state_);
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("not found"), std::string::npos) << unknown.err;

  CliResult terminated = RunRamp("terminate", "analysisrun " + run + " " + state_);
  ASSERT_EQ(terminated.exit_code, 0) << terminated.err;
  EXPECT_EQ(terminated.out, "analysisrun '" + run + "' terminated\n");
  CliResult status = RunRamp("status", "web --timeout 60s " + state_);
  EXPECT_EQ(status.exit_code, 0) << status.out << Log("serve.log");
  CliResult runs = RunRamp("get", "analysisruns " + state_);
  EXPECT_NE(runs.out.find("Successful"), std::string::npos) << runs.out;
}

// `ramp logs`: what each process instance printed, per revision.
TEST_F(ServeEndToEndTest, LogsShowWhatEachInstancePrinted) {
  ASSERT_EQ(Apply(Manifest("v1", 0, false)).exit_code, 0);
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0) << Log("serve.log");
  ASSERT_EQ(Apply(Manifest("v2", 0, false)).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return Phase() == "Paused"; }, std::chrono::seconds(60)));

  CliResult all;
  ASSERT_TRUE(Eventually(
      [&] {
        all = RunRamp("logs", "web " + state_);
        return all.out.find("ramp-demo-app v2 listening") != std::string::npos;
      },
      std::chrono::seconds(20)))
      << all.out << all.err;
  EXPECT_EQ(all.exit_code, 0);
  // Both revisions run now; every line names its revision and instance.
  EXPECT_NE(all.out.find("[revision 1 "), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("[revision 2 "), std::string::npos) << all.out;
  std::istringstream lines(all.out);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(line.rfind("[revision ", 0), 0u) << line;
  }

  CliResult one = RunRamp("logs", "web --revision 1 --tail 1 " + state_);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.out.find("ramp-demo-app v1 listening"), std::string::npos) << one.out;
  EXPECT_EQ(one.out.find("[revision 2 "), std::string::npos) << one.out;

  CliResult missing = RunRamp("logs", "web --revision 9 " + state_);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("has no revision 9"), std::string::npos) << missing.err;
}

// ramp.dev/platform: static in a process daemon: the instances are run by someone else (here the
// test), listed per image; ramp probes them, shifts traffic between them and never stops them.
TEST_F(ServeEndToEndTest, StaticInstancesAreRoutedNotRun) {
  std::map<std::string, std::vector<int>> ports;  // version → ports
  std::vector<std::unique_ptr<Subprocess>> apps;
  for (const std::string version : {"v1", "v2"}) {
    for (int i = 0; i < 2; ++i) {
      const int port = FreePort();
      SubprocessOptions o;
      o.argv = {demo_app_, "--port", std::to_string(port), "--version", version};
      o.env = {"PATH=/usr/bin:/bin"};
      o.output_path = (dir_ / fmt::format("app-{}-{}.log", version, i)).string();
      auto p = Subprocess::Start(o);
      ASSERT_TRUE(p.has_value()) << p.error().message();
      apps.push_back(std::move(*p));
      ports[version].push_back(port);
    }
  }
  auto manifest = [&](const std::string& version, const std::string& platform) {
    return fmt::format(R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
  annotations:
    ramp.dev/platform: {platform}
    ramp.dev/static-instances: |
      web:v1: ["127.0.0.1:{a}", "127.0.0.1:{b}"]
      web:v2: ["127.0.0.1:{c}", "127.0.0.1:{d}"]
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
        - name: web
          image: web:{version}
          ports: [{{name: http, containerPort: 8080}}]
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            periodSeconds: 1
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      trafficRouting:
        plugins:
          ramp/proxy: {{listen: "127.0.0.1:{listen}"}}
      steps: [{{setWeight: 50}}, {{pause: {{}}}}]
)",
                       fmt::arg("platform", platform), fmt::arg("a", ports["v1"][0]),
                       fmt::arg("b", ports["v1"][1]), fmt::arg("c", ports["v2"][0]),
                       fmt::arg("d", ports["v2"][1]), fmt::arg("version", version),
                       fmt::arg("listen", listen_port_));
  };
  // A platform this daemon does not run is refused with what it runs.
  CliResult k8s = Apply(manifest("v1", "kubernetes"));
  EXPECT_NE(k8s.exit_code, 0);
  EXPECT_NE(k8s.err.find("kubernetes is not a platform of this daemon"), std::string::npos)
      << k8s.err;

  ASSERT_EQ(Apply(manifest("v1", "static")).exit_code, 0);
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0) << Log("serve.log");
  ASSERT_TRUE(Eventually([&] { return Traffic(10)["v1"] == 10; }, std::chrono::seconds(20)));
  EXPECT_TRUE(InstancePids().empty()) << "ramp started a process for a static rollout";

  ASSERT_EQ(Apply(manifest("v2", "static")).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return Phase() == "Paused"; }, std::chrono::seconds(60)))
      << RunRamp("get", "rollout web " + state_).out;
  ASSERT_TRUE(Eventually(
      [&] {
        auto seen = Traffic(40);
        return seen["v1"] > 0 && seen["v2"] > 0 && seen["error"] == 0;
      },
      std::chrono::seconds(20)));
  ASSERT_EQ(RunRamp("promote", "web " + state_).exit_code, 0);
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0) << Log("serve.log");
  ASSERT_TRUE(Eventually([&] { return Traffic(10)["v2"] == 10; }, std::chrono::seconds(30)));

  // Moving it to the process platform is refused; deleting it stops none of the instances.
  CliResult moved = Apply(manifest("v2", "process"));
  EXPECT_NE(moved.exit_code, 0);
  EXPECT_NE(moved.err.find("cannot move"), std::string::npos) << moved.err;
  ASSERT_EQ(RunRamp("delete", "rollout web " + state_).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return RunRamp("get", "rollout web " + state_).exit_code != 0; },
                         std::chrono::seconds(30)));
  for (const auto& app : apps) EXPECT_EQ(::kill(app->pid(), 0), 0);
  auto clock = NewSystemClock();
  for (const auto& app : apps) app->Stop(*clock, std::chrono::seconds(5));
}

// Deleting a rollout in the middle of an update (paused at 50 %, both revisions running) stops
// the instances of both revisions: nothing is left running.
TEST_F(ServeEndToEndTest, DeleteDuringARolloutLeavesNothingRunning) {
  ASSERT_EQ(Apply(Manifest("v1", 0, false)).exit_code, 0);
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0) << Log("serve.log");
  ASSERT_EQ(Apply(Manifest("v2", 0, false)).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return Phase() == "Paused"; }, std::chrono::seconds(60)))
      << Log("serve.log");
  ASSERT_TRUE(Eventually(
      [&] {
        auto seen = Traffic(40);
        return seen["v1"] > 0 && seen["v2"] > 0;
      },
      std::chrono::seconds(20)));
  const std::set<int> pids = InstancePids();
  ASSERT_GE(pids.size(), 3u) << "two v1 instances and at least one v2 instance run";
  ASSERT_EQ(RunRamp("delete", "rollout web " + state_).exit_code, 0);
  EXPECT_TRUE(Eventually(
      [&] {
        for (int pid : pids) {
          if (::kill(pid, 0) == 0) return false;
        }
        return true;
      },
      std::chrono::seconds(30)));
  EXPECT_TRUE(InstancePids().empty());
  EXPECT_NE(RunRamp("get", "rollout web " + state_).exit_code, 0);
}

TEST_F(ServeEndToEndTest, TheCliNeedsAValidToken) {
  const std::string bad = (dir_ / "bad.token").string();
  std::ofstream(bad) << "not-the-token-0123456789\n";
  std::string server;
  {
    std::ifstream in(dir_ / "state" / "endpoint.json");
    server = json::parse(in)["server"];
  }
  CliResult r = RunRamp("list", "rollouts --server " + server + " --token-file " + bad);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("the token is not valid"), std::string::npos) << r.err;
  CliResult ro = RunRamp("apply", "-f /dev/null --server " + server + " --token-file " +
                                      (dir_ / "state" / "tokens" / "readonly.token").string());
  EXPECT_NE(ro.exit_code, 0);
  CliResult none = RunRamp("list", "rollouts --server http://127.0.0.1:1");
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.err.find("token"), std::string::npos) << none.err;
}

}  // namespace
}  // namespace ramp::serve_testing
