#include "metrics/job/job_provider.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "secrets/secret_source.h"

namespace ramp::metrics {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Collects the updates of `done` callbacks; waits with a deadline, never a fixed sleep.
class Collector {
 public:
  MeasurementCallback Callback() {
    return [this](MeasurementUpdate u) {
      std::lock_guard<std::mutex> lock(mu_);
      updates_.push_back(std::move(u));
      cv_.notify_all();
    };
  }
  std::vector<MeasurementUpdate> WaitFor(size_t n, std::chrono::seconds limit = 20s) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, limit, [&] { return updates_.size() >= n; });
    return updates_;
  }
  size_t Count() {
    std::lock_guard<std::mutex> lock(mu_);
    return updates_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<MeasurementUpdate> updates_;
};

json Job(std::vector<std::string> command, json env = json::array(),
         std::optional<int> deadline = std::nullopt) {
  json container = {{"name", "check"}, {"image", "alpine"}, {"command", command}};
  if (!env.empty()) container["env"] = env;
  json spec = {
      {"backoffLimit", 0},
      {"template",
       {{"spec", {{"containers", json::array({container})}, {"restartPolicy", "Never"}}}}}};
  if (deadline) spec["activeDeadlineSeconds"] = *deadline;
  return {{"spec", spec}};
}

MetricRef Metric(const json& cfg, std::string name = "check") {
  MetricRef m;
  m.name = std::move(name);
  m.provider_type = "job";
  m.provider_config_json = cfg.dump();
  return m;
}

RunContext Ctx(int n = 1) {
  RunContext ctx;
  ctx.run = {"default", "run-1"};
  ctx.run_uid = "uid-1";
  ctx.now = FromUnixNanos(1'000'000'000);
  ctx.measurement_number = n;
  return ctx;
}

// Whether any live (not zombie) process is in process group `pgid`.
bool GroupAlive(pid_t pgid) {
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return ::kill(-pgid, 0) == 0;
  bool alive = false;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    char state = 0;
    long ppid = 0, pgrp = 0;
    if (std::sscanf(stat.c_str() + paren + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3) continue;
    if (pgrp == pgid && state != 'Z' && state != 'X') alive = true;
  }
  ::closedir(d);
  return alive;
}

bool WaitUntil(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::yield();
    ::poll(nullptr, 0, 10);
  }
  return cond();
}

class JobProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "ramp-job-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    JobProviderOptions o;
    o.kill_grace = 300ms;
    o.temp_root = dir_;
    provider_ = NewJobProvider(clock_.get(), o);
  }
  void TearDown() override {
    provider_.reset();
    // Every working directory was removed.
    for (const auto& e : fs::directory_iterator(dir_)) {
      EXPECT_NE(e.path().filename().string().rfind("ramp-job-", 0), 0u) << e.path();
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  MeasurementUpdate RunOne(const json& cfg, RunContext ctx = Ctx()) {
    Collector c;
    provider_->Run(ctx, Metric(cfg), c.Callback());
    auto u = c.WaitFor(1);
    EXPECT_EQ(u.size(), 1u);
    return u.empty() ? MeasurementUpdate{} : u[0];
  }
  // Waits for the file a job writes its process group into.
  pid_t WaitPgid(const std::string& file) {
    pid_t pgid = 0;
    WaitUntil(
        [&] {
          std::ifstream f(file);
          return static_cast<bool>(f >> pgid) && pgid > 0;
        },
        10s);
    return pgid;
  }

  std::string dir_;
  std::unique_ptr<Clock> clock_ = NewSystemClock();
  std::unique_ptr<MetricProvider> provider_;
};

TEST_F(JobProviderTest, TrueIsSuccessful) {
  auto u = RunOne(Job({"true"}));
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kJudged);
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kSuccessful);
  EXPECT_EQ(u.measurement.message, "");
  EXPECT_EQ(u.measurement.metadata.at("job-name"), "uid-1.check.1");
  EXPECT_EQ(u.measurement.metadata.at("job-namespace"), "default");
  ASSERT_TRUE(u.measurement.started_at && u.measurement.finished_at);
  EXPECT_GE(*u.measurement.finished_at, *u.measurement.started_at);
  EXPECT_EQ(provider_->Type(), "job");
  EXPECT_TRUE(provider_->Metadata(Metric(Job({"true"}))).empty());
}

TEST_F(JobProviderTest, FalseAndExitCodeAreFailed) {
  auto f = RunOne(Job({"false"}));
  EXPECT_EQ(f.kind, MeasurementUpdate::Kind::kJudged);
  EXPECT_EQ(f.measurement.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(f.measurement.message, "exit code 1");
  auto e = RunOne(Job({"sh", "-c", "echo bad thing >&2; exit 3"}));
  EXPECT_EQ(e.measurement.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(e.measurement.message, "exit code 3\nbad thing");
}

TEST_F(JobProviderTest, KilledBySignal) {
  auto u = RunOne(Job({"sh", "-c", "kill -KILL $$$$"}));
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(u.measurement.message, "killed by signal SIGKILL (9)");
}

TEST_F(JobProviderTest, OutputCapturedAndTruncated) {
  auto u = RunOne(Job({"sh", "-c", "echo out; echo err >&2"}));
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kSuccessful);
  EXPECT_NE(u.measurement.message.find("out"), std::string::npos);
  EXPECT_NE(u.measurement.message.find("err"), std::string::npos);

  auto big = RunOne(Job({"sh", "-c",
                         "i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); "
                         "done; echo THE-END; exit 2"}));
  EXPECT_EQ(big.measurement.phase, AnalysisPhase::kFailed);
  const std::string& msg = big.measurement.message;
  EXPECT_EQ(msg.rfind("exit code 2\n…", 0), 0u) << msg.substr(0, 40);
  EXPECT_LE(msg.size(), 4096u + 20u);
  EXPECT_EQ(msg.substr(msg.size() - 7), "THE-END");
  EXPECT_EQ(msg.find("line0\n"), std::string::npos);
}

TEST_F(JobProviderTest, EnvAndVarExpansion) {
  json env = json::array(
      {{{"name", "GREETING"}, {"value", "hello"}},
       {{"name", "WHO"}, {"value", "$(GREETING) world"}},
       {{"name", "NS"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.namespace"}}}}}}});
  auto u = RunOne(Job(
      {"sh", "-c", "echo \"$1|$2|$3|$WHO|$NS\"", "sh", "$(WHO)", "$(UNDEFINED)", "$$(WHO)"}, env));
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kSuccessful) << u.measurement.message;
  EXPECT_EQ(u.measurement.message, "hello world|$(UNDEFINED)|$(WHO)|hello world|default");

  auto f = [](std::string_view n) -> const std::string* {
    static const std::string a = "A";
    return n == "X" ? &a : nullptr;
  };
  EXPECT_EQ(ExpandKubernetesVars("$(X)-$(Y)-$$(X)-$$-$-$(", f), "A-$(Y)-$(X)-$-$-$(");
}

TEST_F(JobProviderTest, OnlyPathAndHomeInherited) {
  ::setenv("RAMP_JOB_TEST_LEAK", "leaked", 1);
  JobProviderOptions o;
  o.temp_root = dir_;
  auto p = NewJobProvider(clock_.get(), o);
  Collector c;
  p->Run(Ctx(), Metric(Job({"sh", "-c", "echo \"[$RAMP_JOB_TEST_LEAK]\"; pwd"})), c.Callback());
  auto u = c.WaitFor(1);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].measurement.message.rfind("[]\n" + dir_ + "/ramp-job-", 0), 0u)
      << u[0].measurement.message;
  ::unsetenv("RAMP_JOB_TEST_LEAK");
}

TEST_F(JobProviderTest, DeadlineKillsTheWholeGroup) {
  std::string pidfile = dir_ + "/pgid";
  auto start = std::chrono::steady_clock::now();
  Collector c;
  provider_->Run(Ctx(),
                 Metric(Job({"sh", "-c", "echo $$$$ > " + pidfile + "; sleep 30 & sleep 30"},
                            json::array(), 1)),
                 c.Callback());
  pid_t pgid = WaitPgid(pidfile);
  ASSERT_GT(pgid, 0);
  auto u = c.WaitFor(1);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_EQ(u[0].kind, MeasurementUpdate::Kind::kJudged);
  EXPECT_EQ(u[0].measurement.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(u[0].measurement.message, "deadline exceeded after 1s");
  EXPECT_TRUE(WaitUntil([&] { return !GroupAlive(pgid); }, 5s));
}

TEST_F(JobProviderTest, TerminateIsInconclusiveAndKillsTheGroup) {
  std::string pidfile = dir_ + "/pgid";
  Collector run, term;
  RunContext ctx = Ctx(2);
  MetricRef metric =
      Metric(Job({"sh", "-c", "trap '' TERM; echo $$$$ > " + pidfile + "; sleep 30 & sleep 30"}));
  provider_->Run(ctx, metric, run.Callback());
  pid_t pgid = WaitPgid(pidfile);
  ASSERT_GT(pgid, 0);
  Measurement m;
  m.phase = AnalysisPhase::kRunning;
  m.metadata["job-name"] = "uid-1.check.2";
  provider_->Terminate(ctx, metric, m, term.Callback());
  auto t = term.WaitFor(1);
  auto r = run.WaitFor(1);
  ASSERT_EQ(t.size(), 1u);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(t[0].kind, MeasurementUpdate::Kind::kJudged);
  EXPECT_EQ(t[0].measurement.phase, AnalysisPhase::kInconclusive);
  EXPECT_EQ(r[0].measurement.phase, AnalysisPhase::kInconclusive);
  EXPECT_TRUE(WaitUntil([&] { return !GroupAlive(pgid); }, 5s));

  // Nothing running under that name: Inconclusive at once; a finished result as it is.
  Collector none;
  provider_->Terminate(ctx, metric, m, none.Callback());
  ASSERT_EQ(none.WaitFor(1).size(), 1u);
  EXPECT_EQ(none.WaitFor(1)[0].measurement.phase, AnalysisPhase::kInconclusive);
  Measurement done_m;
  done_m.phase = AnalysisPhase::kSuccessful;
  Collector fin;
  provider_->Terminate(ctx, metric, done_m, fin.Callback());
  EXPECT_EQ(fin.WaitFor(1)[0].measurement.phase, AnalysisPhase::kSuccessful);
}

TEST_F(JobProviderTest, LeftoverChildrenAreKilledWhenTheMainProcessExits) {
  std::string pidfile = dir_ + "/pgid";
  auto start = std::chrono::steady_clock::now();
  auto u = RunOne(Job({"sh", "-c", "echo $$$$ > " + pidfile + "; sleep 30 & echo started"}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kSuccessful);
  EXPECT_EQ(u.measurement.message, "started");
  pid_t pgid = WaitPgid(pidfile);
  ASSERT_GT(pgid, 0);
  EXPECT_TRUE(WaitUntil([&] { return !GroupAlive(pgid); }, 5s));
}

TEST_F(JobProviderTest, DestructionKillsRunningJobs) {
  std::string pidfile = dir_ + "/pgid";
  Collector c;
  provider_->Run(Ctx(), Metric(Job({"sh", "-c", "echo $$$$ > " + pidfile + "; sleep 30"})),
                 c.Callback());
  pid_t pgid = WaitPgid(pidfile);
  ASSERT_GT(pgid, 0);
  provider_.reset();
  auto u = c.WaitFor(1, 1s);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].kind, MeasurementUpdate::Kind::kError);
  EXPECT_TRUE(WaitUntil([&] { return !GroupAlive(pgid); }, 5s));
}

TEST_F(JobProviderTest, AMissingCommandFailsTheJobAsAContainerThatCannotStart) {
  auto u = RunOne(Job({"no-such-command-ramp-test"}));
  EXPECT_EQ(u.kind, MeasurementUpdate::Kind::kJudged);
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(u.measurement.message,
            "cannot run no-such-command-ramp-test: No such file or directory");
  auto abs = RunOne(Job({"/nonexistent/bin/x"}));
  EXPECT_EQ(abs.kind, MeasurementUpdate::Kind::kJudged);
  EXPECT_EQ(abs.measurement.message, "cannot run /nonexistent/bin/x: No such file or directory");
}

TEST_F(JobProviderTest, ConfigurationErrors) {
  EXPECT_EQ(RunOne(json::object()).kind, MeasurementUpdate::Kind::kError);
  json no_cmd = Job({"x"});
  no_cmd["spec"]["template"]["spec"]["containers"][0].erase("command");
  EXPECT_EQ(RunOne(no_cmd).kind, MeasurementUpdate::Kind::kError);
  auto cm = RunOne(Job(
      {"true"},
      json::array(
          {{{"name", "A"}, {"valueFrom", {{"configMapKeyRef", {{"name", "c"}, {"key", "k"}}}}}}})));
  EXPECT_EQ(cm.kind, MeasurementUpdate::Kind::kError);
  EXPECT_NE(cm.measurement.message.find("not supported off Kubernetes"), std::string::npos);
}

TEST_F(JobProviderTest, SecretsAreRedacted) {
  RunContext ctx = Ctx();
  ctx.secrets = {"hunter2"};
  auto u = RunOne(Job({"sh", "-c", "echo password is hunter2; exit 1"}), ctx);
  EXPECT_EQ(u.measurement.message, "exit code 1\npassword is *****");

  // A secretKeyRef resolved through src/secrets is passed in and redacted too.
  JobProviderOptions o;
  o.temp_root = dir_;
  o.secrets = secrets::NewSecretLookup({"", [](const std::string& n) -> std::optional<std::string> {
                                          if (n == "RAMP_SECRET_DB_PASSWORD") return "s3cr3t-value";
                                          return std::nullopt;
                                        }});
  auto p = NewJobProvider(clock_.get(), o);
  Collector c;
  json env = json::array(
      {{{"name", "PW"}, {"valueFrom", {{"secretKeyRef", {{"name", "db"}, {"key", "password"}}}}}}});
  p->Run(Ctx(), Metric(Job({"sh", "-c", "echo got $PW; test \"$PW\" = s3cr3t-value"}, env)),
         c.Callback());
  auto r = c.WaitFor(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].measurement.phase, AnalysisPhase::kSuccessful);
  EXPECT_EQ(r[0].measurement.message, "got *****");
}

TEST_F(JobProviderTest, ManyConcurrentJobs) {
  constexpr int kJobs = 20;
  Collector c;
  for (int i = 0; i < kJobs; ++i) {
    std::string code = std::to_string(i % 3);
    provider_->Run(Ctx(i + 1),
                   Metric(Job({"sh", "-c", "echo job" + std::to_string(i) + "; exit " + code})),
                   c.Callback());
  }
  auto u = c.WaitFor(kJobs, 30s);
  ASSERT_EQ(u.size(), static_cast<size_t>(kJobs));
  int ok = 0;
  for (const auto& x : u) {
    EXPECT_EQ(x.kind, MeasurementUpdate::Kind::kJudged);
    if (x.measurement.phase == AnalysisPhase::kSuccessful) ++ok;
  }
  EXPECT_EQ(ok, 7);  // i % 3 == 0 for 0, 3, …, 18
}

TEST_F(JobProviderTest, ResumeAndGarbageCollect) {
  Collector c;
  provider_->Resume(Ctx(), Metric(Job({"true"})), Measurement{}, c.Callback());
  EXPECT_EQ(c.WaitFor(1)[0].kind, MeasurementUpdate::Kind::kError);
  std::optional<Status> gc;
  provider_->GarbageCollect(Ctx(), Metric(Job({"true"})), 5, [&](Status s) { gc = s; });
  ASSERT_TRUE(gc.has_value());
  EXPECT_TRUE(gc->ok());
}

// backoffLimit: the retries after failed attempts, after Kubernetes' back-off (10 s, 20 s, …)
// measured on the provider's clock.
class JobBackoffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "ramp-job-backoff-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    JobProviderOptions o;
    o.kill_grace = 300ms;
    o.temp_root = dir_;
    provider_ = NewJobProvider(&clock_, o);
  }
  void TearDown() override {
    provider_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // A job that records each attempt in `attempts` and exits with `code` until attempt `ok_at`.
  json CountingJob(int backoff_limit, int ok_at = 1000) {
    json cfg = Job({"sh", "-c",
                    "echo $$$$ >> '" + Attempts() + "'; n=$(wc -l < '" + Attempts() +
                        "'); echo attempt $n; [ $n -ge " + std::to_string(ok_at) + " ] || exit 5"});
    cfg["spec"]["backoffLimit"] = backoff_limit;
    return cfg;
  }
  std::string Attempts() const { return dir_ + "/attempts"; }
  int CountAttempts() const {
    std::ifstream f(Attempts());
    int n = 0;
    for (std::string line; std::getline(f, line);) ++n;
    return n;
  }
  // Waits until attempt `n` has run and its process has been reaped by the provider (so the
  // provider has seen the exit before the test moves the clock).
  bool WaitAttempts(int n) {
    return WaitUntil(
        [&] {
          std::ifstream f(Attempts());
          std::string line;
          int count = 0;
          while (std::getline(f, line) && ++count < n) {
          }
          return count == n && !line.empty() && !fs::exists("/proc/" + line);
        },
        10s);
  }

  std::string dir_;
  ManualClock clock_{FromUnixNanos(1'000'000'000'000)};
  std::unique_ptr<MetricProvider> provider_;
};

TEST_F(JobBackoffTest, RetriesAfterBackOffThenFails) {
  Collector c;
  provider_->Run(Ctx(), Metric(CountingJob(2)), c.Callback());
  ASSERT_TRUE(WaitAttempts(1));
  // The first retry waits 10 s of the clock: just short of it, nothing more runs.
  clock_.Advance(9s);
  EXPECT_EQ(c.Count(), 0u);
  EXPECT_EQ(CountAttempts(), 1);
  clock_.Advance(1s);
  ASSERT_TRUE(WaitAttempts(2));
  // Then 20 s.
  clock_.Advance(19s);
  EXPECT_EQ(CountAttempts(), 2);
  EXPECT_EQ(c.Count(), 0u);
  clock_.Advance(1s);
  auto u = c.WaitFor(1);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(CountAttempts(), 3);
  EXPECT_EQ(u[0].kind, MeasurementUpdate::Kind::kJudged);
  EXPECT_EQ(u[0].measurement.phase, AnalysisPhase::kFailed);
  // The output of the last attempt.
  EXPECT_EQ(u[0].measurement.message, "exit code 5 (failed 3 times, backoffLimit 2)\nattempt 3");
}

TEST_F(JobBackoffTest, ASuccessfulRetryIsSuccessful) {
  Collector c;
  provider_->Run(Ctx(), Metric(CountingJob(3, 2)), c.Callback());
  ASSERT_TRUE(WaitAttempts(1));
  clock_.Advance(10s);
  auto u = c.WaitFor(1);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].measurement.phase, AnalysisPhase::kSuccessful);
  EXPECT_EQ(u[0].measurement.message, "attempt 2");
}

TEST_F(JobBackoffTest, DeadlineCoversEveryAttempt) {
  Collector c;
  json cfg = CountingJob(6);
  cfg["spec"]["activeDeadlineSeconds"] = 15;
  provider_->Run(Ctx(), Metric(cfg), c.Callback());
  ASSERT_TRUE(WaitAttempts(1));
  clock_.Advance(10s);
  ASSERT_TRUE(WaitAttempts(2));
  // The next retry would be 20 s later; the deadline comes first.
  clock_.Advance(6s);
  auto u = c.WaitFor(1);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].measurement.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(u[0].measurement.message, "deadline exceeded after 15s\nattempt 2");
  EXPECT_EQ(CountAttempts(), 2);
}

TEST_F(JobBackoffTest, TerminateDuringBackOffIsInconclusive) {
  Collector c;
  provider_->Run(Ctx(), Metric(CountingJob(6)), c.Callback());
  ASSERT_TRUE(WaitAttempts(1));
  Collector t;
  Measurement running;
  running.metadata["job-name"] = "uid-1.check.1";
  provider_->Terminate(Ctx(), Metric(CountingJob(6)), running, t.Callback());
  auto u = c.WaitFor(1);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].measurement.phase, AnalysisPhase::kInconclusive);
  EXPECT_EQ(t.WaitFor(1).size(), 1u);
}

TEST_F(JobBackoffTest, InvalidBackoffLimitIsAnError) {
  Collector c;
  json cfg = CountingJob(0);
  cfg["spec"]["backoffLimit"] = -1;
  provider_->Run(Ctx(), Metric(cfg), c.Callback());
  auto u = c.WaitFor(1);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].kind, MeasurementUpdate::Kind::kError);
  EXPECT_EQ(CountAttempts(), 0);
}

}  // namespace
}  // namespace ramp::metrics
