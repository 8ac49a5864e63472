#include "platform/process/process_platform.h"

#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/subprocess.h"
#include "platform/probe.h"
#include "platform/process/instance_process.h"
#include "platform/process/instance_record.h"

namespace ramp::platform {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

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
    ::poll(nullptr, 0, 20);
  }
  return cond();
}

std::string ReadFile(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

json Template(json container, std::optional<int> grace = std::nullopt) {
  container["name"] = "app";
  container["image"] = "demo:v1";
  json spec = {{"containers", json::array({container})}};
  if (grace) spec["terminationGracePeriodSeconds"] = *grace;
  return {{"metadata", {{"labels", {{"app", "demo"}}}}}, {"spec", spec}};
}

// The demo app, its pid recorded in its working directory (exec keeps the pid; "$$$$" is "$$"
// after Kubernetes' escaping).
json DemoApp() {
  return {
      {"command",
       {"sh", "-c",
        std::string("echo $$$$ > pid; exec ") + RAMP_DEMO_APP + " --port $(PORT) --version v1"}},
      {"ports", {{{"name", "http"}, {"containerPort", 8080}}}},
      {"readinessProbe",
       {{"httpGet", {{"path", "/healthz"}, {"port", "http"}}}, {"periodSeconds", 1}}}};
}

class ProcessPlatformTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "ramp-process-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto p = NewProcessPlatform(Options(true));
    ASSERT_TRUE(p.has_value()) << p.error().message();
    platform_ = std::move(*p);
  }
  // These tests rely on destruction stopping everything; the adoption tests set it false.
  ProcessPlatformOptions Options(bool stop_instances_on_exit) {
    ProcessPlatformOptions o;
    o.state_dir = dir_;
    o.clock = clock_.get();
    o.port_min = 30000 + (::getpid() % 300) * 100;
    o.port_max = o.port_min + 99;
    o.restart_backoff = 100ms;
    o.restart_backoff_max = 400ms;
    o.shutdown_grace = 2s;
    o.secrets = [](std::string_view secret, std::string_view key) -> StatusOr<std::string> {
      if (secret == "shop" && key == "api-key") return std::string("s3cret");
      return Fail(NotFoundError("no secret"));
    };
    o.stop_instances_on_exit = stop_instances_on_exit;
    return o;
  }
  void TearDown() override {
    platform_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Status Ensure(const json& tmpl, int replicas, const std::string& hash = "abc123") {
    RevisionSpec spec;
    spec.rollout = rollout_;
    spec.hash = hash;
    spec.revision = 1;
    spec.pod_template_json = tmpl.dump();
    Status out = InternalError("not called");
    platform_->EnsureRevision(spec, replicas, [&](Status s) { out = s; });
    return out;
  }
  Status Scale(int replicas, const std::string& hash = "abc123") {
    Status out = InternalError("not called");
    platform_->ScaleRevision(rollout_, hash, replicas, [&](Status s) { out = s; });
    return out;
  }
  std::vector<RevisionStatus> List() {
    std::vector<RevisionStatus> out;
    platform_->ListRevisions(rollout_, [&](StatusOr<std::vector<RevisionStatus>> r) {
      if (r) out = std::move(*r);
    });
    return out;
  }
  // Polls ListRevisions until `pred` holds for revision `hash` (or the deadline passes).
  bool WaitRevision(const std::function<bool(const RevisionStatus&)>& pred,
                    std::chrono::milliseconds limit = 15s, const std::string& hash = "abc123") {
    return WaitUntil(
        [&] {
          for (const RevisionStatus& r : List()) {
            if (r.hash == hash) return pred(r);
          }
          return false;
        },
        limit);
  }
  fs::path InstanceDir(const std::string& id, const std::string& hash = "abc123") {
    return fs::path(dir_) / "instances" / "default" / "shop" / hash / id;
  }
  pid_t PidOf(const std::string& id) {
    pid_t pid = 0;
    WaitUntil(
        [&] {
          std::ifstream f(InstanceDir(id) / "pid");
          return static_cast<bool>(f >> pid) && pid > 0;
        },
        5s);
    return pid;
  }

  std::string dir_;
  ObjectRef rollout_{"default", "shop"};
  std::unique_ptr<Clock> clock_ = NewSystemClock();
  std::unique_ptr<Platform> platform_;
};

TEST(BuildProcessCommandTest, ArgvEnvAndExpansion) {
  json c = {{"command", {"app", "--port=$(PORT)"}},
            {"args", {"$(GREETING)", "$(UNDEFINED)", "$$(PORT)"}},
            {"env",
             {{{"name", "NAME"}, {"value", "world"}},
              {{"name", "GREETING"}, {"value", "hello $(NAME) on $(PORT)"}},
              {{"name", "PORT"}, {"value", "9999"}},
              {{"name", "API_KEY"},
               {"valueFrom", {{"secretKeyRef", {{"name", "shop"}, {"key", "api-key"}}}}}},
              {{"name", "CM"}, {"valueFrom", {{"configMapKeyRef", {{"name", "x"}}}}}}}},
            {"workingDir", "/srv"}};
  auto secrets = [](std::string_view, std::string_view) -> StatusOr<std::string> {
    return std::string("s3cret");
  };
  auto cmd = BuildProcessCommand(Template(c).dump(), 20001, "/usr/bin:/bin", secrets);
  ASSERT_TRUE(cmd.has_value()) << cmd.error().message();
  EXPECT_EQ(cmd->argv, (std::vector<std::string>{"app", "--port=20001", "hello world on 20001",
                                                 "$(UNDEFINED)", "$(PORT)"}));
  EXPECT_EQ(cmd->env,
            (std::vector<std::string>{"PORT=20001", "NAME=world", "GREETING=hello world on 20001",
                                      "API_KEY=s3cret", "PATH=/usr/bin:/bin"}));
  EXPECT_EQ(cmd->working_dir, "/srv");
}

TEST(BuildProcessCommandTest, Errors) {
  auto none = std::function<StatusOr<std::string>(std::string_view, std::string_view)>();
  auto missing = BuildProcessCommand(Template({{"image", "x"}}).dump(), 1, "/bin", none);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.error().message().find("containers[0].command is needed"), std::string::npos);
  json secret = {
      {"command", {"x"}},
      {"env", {{{"name", "K"}, {"valueFrom", {{"secretKeyRef", {{"name", "s"}, {"key", "k"}}}}}}}}};
  auto no_source = BuildProcessCommand(Template(secret).dump(), 1, "/bin", none);
  ASSERT_FALSE(no_source.has_value());
  EXPECT_NE(no_source.error().message().find("needs a secret source"), std::string::npos);
  EXPECT_FALSE(BuildProcessCommand("{", 1, "/bin", none).has_value());
  EXPECT_FALSE(
      BuildProcessCommand(json({{"spec", json::object()}}).dump(), 1, "/bin", none).has_value());
}

TEST_F(ProcessPlatformTest, MissingCommandIsInvalidArgument) {
  Status s = Ensure(Template({{"image", "demo:v1"}}), 1);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("containers[0].command is needed"), std::string::npos);
  EXPECT_TRUE(List().empty());
  EXPECT_EQ(Scale(1).code(), StatusCode::kNotFound);
  EXPECT_EQ(platform_->Watch([](const ObjectRef&) {}).error().code(), StatusCode::kUnimplemented);
}

TEST_F(ProcessPlatformTest, ScaleUpReadyThenDownAndDelete) {
  ASSERT_TRUE(Ensure(Template(DemoApp(), 5), 2).ok());
  // Same template again: idempotent. Another template under the same hash: a collision.
  EXPECT_TRUE(Ensure(Template(DemoApp(), 5), 2).ok());
  EXPECT_EQ(Ensure(Template(DemoApp(), 6), 2).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) { return r.Ready() == 2; }));
  auto revs = List();
  ASSERT_EQ(revs.size(), 1u);
  const RevisionStatus& r = revs[0];
  EXPECT_EQ(r.desired_replicas, 2);
  ASSERT_EQ(r.instances.size(), 2u);
  EXPECT_NE(r.instances[0].address, r.instances[1].address);
  for (const auto& in : r.instances) {
    EXPECT_EQ(in.state, InstanceState::kReady);
    EXPECT_TRUE(in.ready_since.has_value());
    EXPECT_TRUE(in.created_at.has_value());
    EXPECT_EQ(in.address.rfind("127.0.0.1:", 0), 0u);
    // The instance serves on its PORT (checked with the probe code) and logs to its file.
    auto hp = SplitHostPort(in.address);
    ASSERT_TRUE(hp.has_value());
    Check get;
    get.kind = Check::Kind::kHttpGet;
    get.path = "/version";
    get.port = hp->second;
    EXPECT_TRUE(RunCheck(get, CheckTarget{}, 2s, *clock_).ok());
    EXPECT_NE(ReadFile(InstanceDir(in.id) / "output.log").find("listening"), std::string::npos);
  }
  pid_t first = PidOf(r.instances[0].id);
  pid_t second = PidOf(r.instances[1].id);
  ASSERT_GT(first, 0);
  ASSERT_GT(second, 0);
  // Scale down: the newest goes (both are ready).
  ASSERT_TRUE(Scale(1).ok());
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) { return r.instances.size() == 1; }));
  EXPECT_EQ(List()[0].instances[0].id, r.instances[0].id);
  EXPECT_TRUE(WaitUntil([&] { return !GroupAlive(second); }, 5s));
  EXPECT_TRUE(GroupAlive(first));
  // Delete: forgotten at once, stopped soon.
  Status del = InternalError("not called");
  platform_->DeleteRevision(rollout_, "abc123", [&](Status s) { del = s; });
  EXPECT_TRUE(del.ok());
  EXPECT_TRUE(List().empty());
  EXPECT_TRUE(WaitUntil([&] { return !GroupAlive(first); }, 5s));
  // Its logs go with it, once its instances have stopped.
  EXPECT_TRUE(
      WaitUntil([&] { return !fs::exists(fs::path(dir_) / "instances/default/shop/abc123"); }, 5s));
  platform_->DeleteRevision(rollout_, "abc123", [&](Status s) { del = s; });
  EXPECT_TRUE(del.ok());
}

TEST_F(ProcessPlatformTest, CrashIsFailedThenRestarted) {
  json c = {{"command", {"sh", "-c", "echo run >> ../runs; exit 3"}}};
  ASSERT_TRUE(Ensure(Template(c), 1).ok());
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) {
    return r.instances.size() == 1 && r.instances[0].state == InstanceState::kFailed &&
           r.instances[0].message.find("exited with exit code 3") != std::string::npos;
  }));
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) {
    return r.instances.size() == 1 && r.instances[0].restarts >= 2;
  }));
  // Restart 2 is the third run (it may still be starting when the count is reported).
  EXPECT_TRUE(WaitUntil(
      [&] {
        std::string runs = ReadFile(fs::path(dir_) / "instances/default/shop/abc123/runs");
        return std::count(runs.begin(), runs.end(), '\n') >= 3;
      },
      5s));
}

TEST_F(ProcessPlatformTest, PreStopRunsBeforeTermAndGraceEndsWithKill) {
  json c = {{"command",
             {"sh", "-c",
              "echo $$$$ > pid; trap 'echo TERM >> ../order' TERM; echo up; "
              "while :; do sleep 0.05; done"}},
            {"lifecycle",
             {{"preStop", {{"exec", {{"command", {"sh", "-c", "echo PRESTOP >> ../order"}}}}}}}}};
  ASSERT_TRUE(Ensure(Template(c, 1), 1).ok());
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) { return r.Ready() == 1; }));
  std::string id = List()[0].instances[0].id;
  pid_t pid = PidOf(id);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(Scale(0).ok());
  // The trap keeps it alive after SIGTERM: SIGKILL comes at the end of the 1 s grace.
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) { return r.instances.empty(); }));
  EXPECT_TRUE(WaitUntil([&] { return !GroupAlive(pid); }, 5s));
  EXPECT_EQ(ReadFile(fs::path(dir_) / "instances/default/shop/abc123/order"), "PRESTOP\nTERM\n");
  // The revision stays, scaled to 0.
  ASSERT_EQ(List().size(), 1u);
  EXPECT_EQ(List()[0].desired_replicas, 0);
}

TEST_F(ProcessPlatformTest, PreStopHttpGetRunsBeforeTermOnDelete) {
  // A loopback listener that appends "HTTP" to the order file when the preStop request arrives.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::listen(fd, 4);
  fs::path order = fs::path(dir_) / "instances/default/shop/order";
  std::thread server([&] {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) return;
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return;
    char buf[2048];
    (void)::recv(c, buf, sizeof buf, 0);
    { std::ofstream(order, std::ios::app) << "HTTP\n"; }
    static constexpr char kOk[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    (void)!::send(c, kOk, sizeof kOk - 1, MSG_NOSIGNAL);
    ::close(c);
  });
  json c = {
      {"command",
       {"sh", "-c",
        "echo $$$$ > pid; trap 'echo TERM >> ../../order; exit 0' TERM; "
        "while :; do sleep 0.05; done"}},
      {"lifecycle",
       {{"preStop",
         {{"httpGet", {{"path", "/drain"}, {"port", static_cast<int>(ntohs(a.sin_port))}}}}}}}};
  ASSERT_TRUE(Ensure(Template(c, 5), 1).ok());
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) { return r.Ready() == 1; }));
  pid_t pid = PidOf(List()[0].instances[0].id);
  ASSERT_GT(pid, 0);
  Status del = InternalError("not called");
  platform_->DeleteRevision(rollout_, "abc123", [&](Status s) { del = s; });
  EXPECT_TRUE(del.ok());
  EXPECT_TRUE(WaitUntil([&] { return !GroupAlive(pid); }, 8s));
  server.join();
  ::close(fd);
  EXPECT_EQ(ReadFile(order), "HTTP\nTERM\n");
}

TEST_F(ProcessPlatformTest, LivenessFailureRestartsAndRestartInstanceReplaces) {
  json c = DemoApp();
  // Fails from the start: a port nobody listens on.
  c["livenessProbe"] = {
      {"tcpSocket", {{"port", 1}}}, {"periodSeconds", 1}, {"failureThreshold", 1}};
  ASSERT_TRUE(Ensure(Template(c, 1), 1).ok());
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) {
    return r.instances.size() == 1 && r.instances[0].restarts >= 2;
  }));
  // RestartInstance: another instance replaces it.
  std::string id = List()[0].instances[0].id;
  Status s = InternalError("not called");
  platform_->RestartInstance(rollout_, "abc123", id, [&](Status st) { s = st; });
  EXPECT_TRUE(s.ok());
  ASSERT_TRUE(WaitRevision(
      [&](const RevisionStatus& r) { return r.instances.size() == 1 && r.instances[0].id != id; }));
  platform_->RestartInstance(rollout_, "abc123", "nope", [&](Status st) { s = st; });
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
}

TEST_F(ProcessPlatformTest, DestructionLeavesNothingRunning) {
  // With stop_instances_on_exit (set by this fixture; the daemon leaves instances running).
  json c = {{"command", {"sh", "-c", "echo $$$$ > pid; sleep 30 & sleep 30"}}};
  ASSERT_TRUE(Ensure(Template(c), 3).ok());
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) { return r.Ready() == 3; }));
  std::vector<pid_t> pids;
  auto revs = List();
  for (const auto& in : revs[0].instances) pids.push_back(PidOf(in.id));
  for (pid_t p : pids) ASSERT_GT(p, 0);
  platform_.reset();
  for (pid_t p : pids) EXPECT_TRUE(WaitUntil([&] { return !GroupAlive(p); }, 5s)) << p;
}

TEST_F(ProcessPlatformTest, SecondPlatformOnTheSameStateDirIsRefused) {
  auto second = NewProcessPlatform(Options(true));
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.error().message().find("in use"), std::string::npos);
}

// Adoption: platforms that leave their instances running (the daemon's default), and platforms
// created again on the same state directory.
class ProcessAdoptionTest : public ProcessPlatformTest {
 protected:
  void SetUp() override {
    ProcessPlatformTest::SetUp();
    platform_.reset();
    Reopen();
  }
  void TearDown() override {
    // Explicit clean-up: delete every revision and wait for every process seen to be gone; then a
    // SIGKILL for anything left (checked against its start time), so no test leaks processes.
    if (!platform_) Reopen();
    for (const char* hash : {"abc123", "def456"}) {
      platform_->DeleteRevision(rollout_, hash, [](Status) {});
    }
    for (const auto& [pid, start] : seen_) {
      EXPECT_TRUE(WaitUntil([&] { return !Alive(pid, start); }, 10s)) << pid;
    }
    platform_.reset();
    for (const auto& [pid, start] : seen_) {
      if (Alive(pid, start)) ::kill(-pid, SIGKILL);
    }
    ProcessPlatformTest::TearDown();
  }
  // Destroys the platform (if any) and creates another on the same state directory.
  void Reopen() {
    platform_.reset();
    auto p = NewProcessPlatform(Options(false));
    ASSERT_TRUE(p.has_value()) << p.error().message();
    platform_ = std::move(*p);
  }
  static bool Alive(pid_t pid, uint64_t start) {
    auto st = ReadProcStat(pid);
    return st && st->start_time == start && st->state != 'Z' && st->state != 'X';
  }
  std::optional<InstanceRecord> Record(const std::string& id, const std::string& hash = "abc123") {
    auto text = ReadWholeFile((InstanceDir(id, hash) / kInstanceRecordFile).string());
    if (!text) return std::nullopt;
    auto rec = DecodeInstanceRecord(*text);
    if (!rec) return std::nullopt;
    if (rec->pid > 0) seen_[rec->pid] = rec->start_time;
    return *rec;
  }
  // Instance id → pid of its process, from the records (every instance must have a process).
  std::map<std::string, pid_t> Pids(const std::string& hash = "abc123") {
    std::map<std::string, pid_t> out;
    for (const RevisionStatus& r : List()) {
      if (r.hash != hash) continue;
      for (const InstanceStatus& in : r.instances) {
        auto rec = Record(in.id, hash);
        out[in.id] = rec ? rec->pid : 0;
      }
    }
    return out;
  }
  // Live processes whose working directory is under the platform's instance directories.
  int CountInstanceProcesses() {
    std::string root = fs::canonical(fs::path(dir_) / "instances").string() + "/";
    int n = 0;
    for (const auto& e : fs::directory_iterator("/proc")) {
      std::string name = e.path().filename().string();
      if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
      std::error_code ec;
      fs::path cwd = fs::read_symlink(e.path() / "cwd", ec);
      if (ec || cwd.string().rfind(root, 0) != 0) continue;
      auto st = ReadProcStat(std::stoi(name));
      if (st && st->state != 'Z' && st->state != 'X') ++n;
    }
    return n;
  }
  // Waits `d` for a change that must not come (bounded; used only to give the supervisor ticks).
  bool StaysFor(const std::function<bool()>& unchanged, std::chrono::milliseconds d) {
    return !WaitUntil([&] { return !unchanged(); }, d);
  }

  std::map<pid_t, uint64_t> seen_;
};

TEST_F(ProcessAdoptionTest, InstancesSurviveThePlatformAndAreAdoptedNotDuplicated) {
  ASSERT_TRUE(Ensure(Template(DemoApp(), 5), 2).ok());
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) { return r.Ready() == 2; }));
  std::vector<InstanceStatus> before = List()[0].instances;
  std::map<std::string, pid_t> pids = Pids();
  ASSERT_EQ(pids.size(), 2u);
  for (const auto& [id, pid] : pids) ASSERT_GT(pid, 0) << id;
  EXPECT_EQ(CountInstanceProcesses(), 2);
  // The revision's record: desired count and template reference.
  auto rev_text = ReadWholeFile(
      (fs::path(dir_) / "instances/default/shop/abc123" / kRevisionRecordFile).string());
  ASSERT_TRUE(rev_text.has_value());
  auto rev_rec = DecodeRevisionRecord(*rev_text);
  ASSERT_TRUE(rev_rec.has_value());
  EXPECT_EQ(rev_rec->desired_replicas, 2);
  EXPECT_EQ(rev_rec->rollout, rollout_);
  EXPECT_TRUE(fs::exists(fs::path(dir_) / "instances/default/shop/abc123" / kTemplateFile));

  // Platform A goes away: its instances keep running and serving.
  platform_.reset();
  for (const auto& [id, pid] : pids) {
    EXPECT_TRUE(Alive(pid, seen_[pid])) << id;
    EXPECT_TRUE(GroupAlive(pid)) << id;
  }
  for (const InstanceStatus& in : before) {
    auto hp = SplitHostPort(in.address);
    ASSERT_TRUE(hp.has_value());
    Check get;
    get.kind = Check::Kind::kHttpGet;
    get.path = "/healthz";
    get.port = hp->second;
    EXPECT_TRUE(RunCheck(get, CheckTarget{}, 2s, *clock_).ok()) << in.id;
  }

  // Platform B adopts them: listed at once (same ids, addresses, pids), Ready after probing.
  Reopen();
  auto revs = List();
  ASSERT_EQ(revs.size(), 1u);
  EXPECT_EQ(revs[0].desired_replicas, 2);
  ASSERT_EQ(revs[0].instances.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(revs[0].instances[i].id, before[i].id);
    EXPECT_EQ(revs[0].instances[i].address, before[i].address);
    EXPECT_NE(revs[0].instances[i].state, InstanceState::kFailed);
  }
  EXPECT_EQ(Pids(), pids);
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) { return r.Ready() == 2; }));
  revs = List();
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(revs[0].instances[i].created_at, before[i].created_at);
    // Still the same process: its readiness did not start over.
    EXPECT_EQ(revs[0].instances[i].ready_since, before[i].ready_since);
    EXPECT_EQ(revs[0].instances[i].restarts, 0);
  }

  // EnsureRevision with the same replicas (the restarted controller's first call) starts nothing.
  ASSERT_TRUE(Ensure(Template(DemoApp(), 5), 2).ok());
  EXPECT_TRUE(StaysFor([&] { return Pids() == pids && List()[0].instances.size() == 2u; }, 500ms));
  EXPECT_EQ(CountInstanceProcesses(), 2);

  // Scale-down stops exactly one (both ready: the newest), the other keeps running.
  ASSERT_TRUE(Scale(1).ok());
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) { return r.instances.size() == 1; }));
  std::string kept = List()[0].instances[0].id;
  EXPECT_EQ(kept, before[0].id);
  std::string stopped = before[1].id;
  EXPECT_TRUE(WaitUntil([&] { return !GroupAlive(pids[stopped]); }, 5s));
  EXPECT_TRUE(Alive(pids[kept], seen_[pids[kept]]));
  EXPECT_EQ(CountInstanceProcesses(), 1);
  EXPECT_FALSE(fs::exists(InstanceDir(stopped) / kInstanceRecordFile));

  // Delete stops the rest and removes every record.
  Status del = InternalError("not called");
  platform_->DeleteRevision(rollout_, "abc123", [&](Status s) { del = s; });
  EXPECT_TRUE(del.ok());
  EXPECT_TRUE(List().empty());
  EXPECT_TRUE(WaitUntil([&] { return !GroupAlive(pids[kept]); }, 5s));
  EXPECT_TRUE(
      WaitUntil([&] { return !fs::exists(fs::path(dir_) / "instances/default/shop/abc123"); }, 5s));
  // A platform created now adopts nothing.
  Reopen();
  EXPECT_TRUE(List().empty());
  EXPECT_EQ(CountInstanceProcesses(), 0);
}

TEST_F(ProcessAdoptionTest, InstanceKilledWhileNoPlatformRanIsRestarted) {
  ASSERT_TRUE(Ensure(Template(DemoApp(), 5), 2).ok());
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) { return r.Ready() == 2; }));
  std::map<std::string, pid_t> pids = Pids();
  ASSERT_EQ(pids.size(), 2u);
  platform_.reset();
  auto killed = pids.begin();
  auto survivor = std::next(pids.begin());
  ASSERT_EQ(::kill(killed->second, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return !GroupAlive(killed->second); }, 5s));

  Reopen();
  auto revs = List();
  ASSERT_EQ(revs.size(), 1u);
  ASSERT_EQ(revs[0].instances.size(), 2u);
  for (const InstanceStatus& in : revs[0].instances) {
    if (in.id == killed->first) {
      EXPECT_EQ(in.state, InstanceState::kFailed);
      EXPECT_NE(in.message.find("exited while ramp was not running"), std::string::npos)
          << in.message;
    }
  }
  // The revision still wants 2: the same instance comes back with a new process.
  ASSERT_TRUE(WaitRevision(
      [](const RevisionStatus& r) { return r.Ready() == 2 && r.instances.size() == 2; }));
  std::map<std::string, pid_t> now = Pids();
  ASSERT_EQ(now.size(), 2u);
  EXPECT_GT(now[killed->first], 0);
  EXPECT_NE(now[killed->first], killed->second);
  EXPECT_EQ(now[survivor->first], survivor->second);
  revs = List();
  ASSERT_EQ(revs.size(), 1u);
  for (const InstanceStatus& in : revs[0].instances) {
    EXPECT_EQ(in.restarts, in.id == killed->first ? 1 : 0) << in.id;
  }
  EXPECT_EQ(CountInstanceProcesses(), 2);
}

TEST_F(ProcessAdoptionTest, ReusedPidIsNeverSignalledAndTheInstanceIsReplaced) {
  ASSERT_TRUE(Ensure(Template(DemoApp(), 5), 1).ok());
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) { return r.Ready() == 1; }));
  std::string id = List()[0].instances[0].id;
  auto rec = Record(id);
  ASSERT_TRUE(rec.has_value());
  platform_.reset();
  // The instance's process goes; an unrelated process (a decoy, in its own group) stands where
  // the record points, with another start time, as a reused pid would.
  ::kill(-rec->pid, SIGKILL);
  ::waitpid(rec->pid, nullptr, 0);
  SubprocessOptions so;
  so.argv = {"sh", "-c",
             "trap 'echo TERM >> signals' TERM; trap 'echo INT >> signals' INT; "
             "trap 'echo HUP >> signals' HUP; while :; do sleep 0.05; done"};
  so.env = {"PATH=/usr/bin:/bin"};
  so.working_dir = dir_;
  auto decoy = Subprocess::Start(so);
  ASSERT_TRUE(decoy.has_value()) << decoy.error().message();
  pid_t decoy_pid = (*decoy)->pid();
  auto decoy_stat = ReadProcStat(decoy_pid);
  ASSERT_TRUE(decoy_stat.has_value());
  InstanceRecord faked = *rec;
  faked.pid = faked.pgid = decoy_pid;
  faked.start_time = decoy_stat->start_time + 1;
  ASSERT_TRUE(WriteFileAtomically((InstanceDir(id) / kInstanceRecordFile).string(),
                                  EncodeInstanceRecord(faked))
                  .ok());

  Reopen();
  auto revs = List();
  ASSERT_EQ(revs.size(), 1u);
  ASSERT_EQ(revs[0].instances.size(), 1u);
  EXPECT_EQ(revs[0].instances[0].state, InstanceState::kFailed);
  EXPECT_NE(revs[0].instances[0].message.find("another process"), std::string::npos)
      << revs[0].instances[0].message;
  // Replaced by a new process of the same instance…
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) { return r.Ready() == 1; }));
  auto now = Record(id);
  ASSERT_TRUE(now.has_value());
  EXPECT_GT(now->pid, 0);
  EXPECT_NE(now->pid, decoy_pid);
  EXPECT_NE(now->pid, rec->pid);
  EXPECT_EQ(List()[0].instances[0].restarts, 1);
  // …and the decoy was left alone (no signal, still running), also after a delete.
  Status del = InternalError("not called");
  platform_->DeleteRevision(rollout_, "abc123", [&](Status s) { del = s; });
  EXPECT_TRUE(del.ok());
  EXPECT_TRUE(WaitUntil([&] { return !GroupAlive(now->pid); }, 5s));
  EXPECT_FALSE((*decoy)->Poll().has_value());
  EXPECT_TRUE(Alive(decoy_pid, decoy_stat->start_time));
  EXPECT_EQ(ReadFile(fs::path(dir_) / "signals"), "");
  decoy->reset();  // SIGKILLs its group
}

TEST_F(ProcessAdoptionTest, InstancesOfACrashedControllerAreAdopted) {
  // The "controller" is a forked child that creates a platform, starts 2 instances and is killed
  // (no destructor runs). Its instances are then orphans, not children of this process.
  platform_.reset();
  ProcessPlatformOptions o = Options(false);
  std::string tmpl = Template(DemoApp(), 5).dump();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t controller = ::fork();
  ASSERT_GE(controller, 0);
  if (controller == 0) {
    ::close(ready[0]);
    auto p = NewProcessPlatform(o);
    if (!p) ::_exit(2);
    RevisionSpec spec;
    spec.rollout = rollout_;
    spec.hash = "abc123";
    spec.revision = 1;
    spec.pod_template_json = tmpl;
    Status s = InternalError("not called");
    (*p)->EnsureRevision(spec, 2, [&](Status st) { s = st; });
    if (!s.ok()) ::_exit(3);
    bool up = WaitUntil(
        [&] {
          int n = 0;
          (*p)->ListRevisions(rollout_, [&](StatusOr<std::vector<RevisionStatus>> r) {
            if (r && !r->empty()) n = (*r)[0].Ready();
          });
          return n == 2;
        },
        15s);
    char c = up ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    ::kill(::getpid(), SIGKILL);  // a crash: no destructor, no clean-up
    ::_exit(4);
  }
  ::close(ready[1]);
  pollfd pfd{ready[0], POLLIN, 0};
  char c = 0;
  bool got = ::poll(&pfd, 1, 30'000) == 1 && ::read(ready[0], &c, 1) == 1;
  ::close(ready[0]);
  int wst = 0;
  bool reaped = WaitUntil([&] { return ::waitpid(controller, &wst, WNOHANG) == controller; }, 10s);
  if (!reaped) {
    ::kill(controller, SIGKILL);
    ::waitpid(controller, &wst, 0);
  }
  ASSERT_TRUE(got);
  ASSERT_EQ(c, 'y');
  ASSERT_TRUE(WIFSIGNALED(wst));

  // Records name both processes; they run, orphaned.
  std::map<std::string, pid_t> pids;
  for (const auto& e : fs::directory_iterator(fs::path(dir_) / "instances/default/shop/abc123")) {
    if (!e.is_directory()) continue;
    auto r = Record(e.path().filename().string());
    ASSERT_TRUE(r.has_value()) << e.path();
    pids[r->id] = r->pid;
  }
  ASSERT_EQ(pids.size(), 2u);
  for (const auto& [id, pid] : pids) {
    EXPECT_TRUE(Alive(pid, seen_[pid])) << id;
    auto st = ReadProcStat(pid);
    ASSERT_TRUE(st.has_value());
    EXPECT_NE(st->ppid, ::getpid());
  }
  EXPECT_EQ(CountInstanceProcesses(), 2);

  Reopen();
  EXPECT_EQ(Pids(), pids);
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) { return r.Ready() == 2; }));
  ASSERT_TRUE(Ensure(Template(DemoApp(), 5), 2).ok());
  EXPECT_TRUE(StaysFor([&] { return Pids() == pids && List()[0].instances.size() == 2u; }, 500ms));
  EXPECT_EQ(CountInstanceProcesses(), 2);
  // Supervised like its own: scale-down stops one, delete the other (not our children: their
  // exits are seen through pidfds).
  ASSERT_TRUE(Scale(1).ok());
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) { return r.instances.size() == 1; }));
  EXPECT_TRUE(WaitUntil([&] { return CountInstanceProcesses() == 1; }, 5s));
  Status del = InternalError("not called");
  platform_->DeleteRevision(rollout_, "abc123", [&](Status s) { del = s; });
  EXPECT_TRUE(del.ok());
  EXPECT_TRUE(WaitUntil([&] { return CountInstanceProcesses() == 0; }, 5s));
  for (const auto& [id, pid] : pids) {
    EXPECT_TRUE(WaitUntil([&] { return !Alive(pid, seen_[pid]); }, 5s)) << id;
  }
}

TEST_F(ProcessAdoptionTest, CrashedInstanceOfAnAdoptedRevisionIsRestarted) {
  // An adopted process that crashes later is restarted with back-off like an owned one.
  ASSERT_TRUE(Ensure(Template(DemoApp(), 5), 1).ok());
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) { return r.Ready() == 1; }));
  std::string id = List()[0].instances[0].id;
  pid_t pid = Pids()[id];
  ASSERT_GT(pid, 0);
  Reopen();
  ASSERT_TRUE(WaitRevision([](const RevisionStatus& r) { return r.Ready() == 1; }));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(WaitRevision([&](const RevisionStatus& r) {
    return r.instances.size() == 1 && r.instances[0].restarts == 1 && r.Ready() == 1;
  }));
  pid_t again = Pids()[id];
  EXPECT_GT(again, 0);
  EXPECT_NE(again, pid);
}

}  // namespace
}  // namespace ramp::platform
