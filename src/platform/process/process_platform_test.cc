#include "platform/process/process_platform.h"

#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "platform/probe.h"

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
    ProcessPlatformOptions o;
    o.state_dir = dir_;
    o.clock = clock_.get();
    o.port_min = 31000 + (::getpid() % 100) * 100;
    o.port_max = o.port_min + 99;
    o.restart_backoff = 100ms;
    o.restart_backoff_max = 400ms;
    o.shutdown_grace = 2s;
    o.secrets = [](std::string_view secret, std::string_view key) -> StatusOr<std::string> {
      if (secret == "shop" && key == "api-key") return std::string("s3cret");
      return Fail(NotFoundError("no secret"));
    };
    auto p = NewProcessPlatform(o);
    ASSERT_TRUE(p.has_value()) << p.error().message();
    platform_ = std::move(*p);
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

}  // namespace
}  // namespace ramp::platform
