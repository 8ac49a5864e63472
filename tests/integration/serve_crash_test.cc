// The crash test: `ramp serve` is killed with SIGKILL at 20 random moments while three rollouts
// are under way — one that promotes, one whose analysis fails and aborts, one that sits at an
// indefinite pause — and restarted each time on the same state directory. Each must end in its
// outcome fixed in advance, with no orphaned instance (a process that no record tracks) and no
// duplicate (more instances of a revision than it wants). The seed is printed; RAMP_CRASH_SEED
// replays one schedule.
#include <dirent.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/serve_testing.h"

namespace ramp::serve_testing {
namespace {

// Live processes whose environment carries `marker` (every instance this test starts).
std::set<int> MarkedProcesses(const std::string& marker) {
  std::set<int> pids;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return pids;
  while (dirent* e = ::readdir(proc)) {
    const int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/environ", std::ios::binary);
    std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (env.find(marker) != std::string::npos) pids.insert(pid);  // zombies have no environ
  }
  ::closedir(proc);
  return pids;
}

class ServeCrashTest : public ServeFixture {};

TEST_F(ServeCrashTest, KilledAtRandomPointsEveryRolloutEndsInItsOutcome) {
  unsigned seed = std::random_device{}();
  if (const char* s = std::getenv("RAMP_CRASH_SEED")) seed = std::strtoul(s, nullptr, 10);
  std::cout << "crash test seed=" << seed << " (RAMP_CRASH_SEED to replay)\n";
  std::mt19937 rng(seed);
  const std::string marker = "RAMP_CRASH_MARK=" + dir_.filename().string();
  const std::string env =
      "            - {name: RAMP_CRASH_MARK, value: \"" + dir_.filename().string() + "\"}\n";

  struct Case {
    std::string name;
    std::string steps;
    double bad_rate;
    int port;
  };
  std::vector<Case> cases = {
      {"promote",
       "        - setWeight: 50\n        - pause: {duration: 3s}\n"
       "        - analysis: {templates: [{templateName: errors}]}\n"
       "        - pause: {duration: 3s}\n",
       0, FreePort()},
      {"abort",
       "        - setWeight: 50\n        - analysis: {templates: [{templateName: errors}]}\n"
       "        - pause: {}\n",
       0.5, FreePort()},
      {"paused", "        - setWeight: 50\n        - pause: {}\n", 0, FreePort()},
  };
  auto manifest = [&](const Case& c, const std::string& version, double rate) {
    AppSpec a;
    a.name = c.name;
    a.version = version;
    a.error_rate = rate;
    a.port = c.port;
    a.steps = c.steps;
    a.extra_env = env;
    a.canary_extra = "      abortScaleDownDelaySeconds: 2\n";
    return Manifest(a);
  };
  for (const Case& c : cases) {
    CliResult r = Apply(manifest(c, "v1", 0));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  for (const Case& c : cases) {
    ASSERT_EQ(RunRamp("status", c.name + " --timeout 60s " + state_).exit_code, 0)
        << Log("serve.log");
  }

  // Traffic on every rollout, so the analyses have data.
  std::atomic<bool> stop{false};
  std::thread load([&] {
    while (!stop) {
      for (const Case& c : cases) Traffic(c.port, 2);
    }
  });
  for (const Case& c : cases) {
    CliResult r = Apply(manifest(c, "v2", c.bad_rate));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::uniform_int_distribution<int> wait_ms(0, 1500);
  for (int i = 0; i < 20; ++i) {
    // The crash schedule: a random moment, then kill -9 and a restart.
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms(rng)));
    KillServe();
    StartServe();
  }

  auto stable_image = [&](const std::string& name) {
    json r = Rollout(name);
    const json& s = r.value("status", json::object());
    return s.value("phase", "") + " " +
           r["spec"]["template"]["spec"]["containers"][0].value("image", "");
  };
  EXPECT_TRUE(Eventually(
      [&] {
        json r = Rollout("promote");
        const json& s = r.value("status", json::object());
        return s.value("phase", "") == "Healthy" && s.value("stableRS", "") != "" &&
               s.value("stableRS", "") == s.value("currentPodHash", "") &&
               r["spec"]["template"]["spec"]["containers"][0].value("image", "") == "web:v2";
      },
      std::chrono::seconds(90)))
      << stable_image("promote") << Log("serve.log");
  EXPECT_TRUE(Eventually(
      [&] {
        json s = Rollout("abort").value("status", json::object());
        return s.value("phase", "") == "Degraded" && s.value("abort", false);
      },
      std::chrono::seconds(90)))
      << stable_image("abort");
  EXPECT_TRUE(Eventually(
      [&] {
        json s = Rollout("paused").value("status", json::object());
        return s.value("phase", "") == "Paused" && s.value("currentStepIndex", -1) == 1;
      },
      std::chrono::seconds(90)))
      << stable_image("paused");
  stop = true;
  load.join();

  // Instances settle once the promoted rollout's old revision and the aborted canary have
  // scaled down. A duplicate is an instance beyond what the three rollouts want.
  int orphans = -1;
  int duplicates = -1;
  const bool settled = Eventually(
      [&] {
        const std::set<int> live = MarkedProcesses(marker);
        const std::set<int> tracked = InstancePids();
        orphans = 0;
        for (int pid : live) {
          if (tracked.count(pid) == 0) ++orphans;
        }
        // promote: 2 of v2; abort: 2 of v1; paused: 2 of v1 and 1 canary of v2.
        duplicates = static_cast<int>(live.size()) - (2 + 2 + 3);
        return orphans == 0 && duplicates == 0;
      },
      std::chrono::seconds(60));
  std::cout << "crash test seed=" << seed << " orphans=" << orphans << " duplicates=" << duplicates
            << "\n";
  EXPECT_TRUE(settled);
  EXPECT_EQ(orphans, 0);
  EXPECT_EQ(duplicates, 0);
}

}  // namespace
}  // namespace ramp::serve_testing
