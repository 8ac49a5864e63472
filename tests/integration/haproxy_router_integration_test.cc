// ramp/haproxy against a real HAProxy (the Debian package): the test writes haproxy.cfg in the
// shape docs/manifests.md documents into a temp dir, starts `haproxy -f cfg -db` on a free
// loopback port in its own process group, and sends requests through its frontend to two
// loopback backends that answer with their revision's name.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "net/testing/http_test_server.h"
#include "ramp/traffic_router.h"
#include "tests/integration/prometheus_server.h"
#include "traffic/haproxy/haproxy_router.h"
#include "traffic/haproxy/haproxy_runtime.h"

namespace ramp::haproxy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kBinary[] = "/usr/sbin/haproxy";
constexpr int kSlots = 4;

// One HAProxy process in a temp dir; killed with its process group when the object goes.
class HaproxyProcess {
 public:
  static StatusOr<std::unique_ptr<HaproxyProcess>> Start() {
    ASSIGN_OR_RETURN(int port, testing::FreeLoopbackPort());
    ASSIGN_OR_RETURN(int api_port, testing::FreeLoopbackPort());
    std::unique_ptr<HaproxyProcess> p(new HaproxyProcess());
    char tmpl[] = "/tmp/ramp-haproxy-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      return Fail(InternalError(std::string("mkdtemp: ") + std::strerror(errno)));
    }
    p->dir_ = tmpl;
    p->port_ = port;
    p->api_port_ = api_port;
    {
      std::ofstream map(p->MapFile());
      map << "catalog 0\n";
      std::ofstream cfg(p->dir_ + "/haproxy.cfg");
      cfg << "global\n"
          << "    stats socket " << p->Socket() << " mode 600 level admin\n"
          << "    stats socket ipv4@127.0.0.1:" << api_port << " level admin\n"
          << "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n"
          << "    timeout server 10s\n"
          << "frontend catalog\n"
          << "    bind 127.0.0.1:" << port << "\n"
          << "    http-request set-var(txn.canary_weight) str(catalog),map_str_int(" << p->MapFile()
          << ",0)\n"
          << "    http-request set-var(txn.dice) rand(100)\n"
          << "    acl to_canary var(txn.canary_weight),sub(txn.dice) gt 0\n"
          << "    use_backend catalog-canary if to_canary\n"
          << "    default_backend catalog-stable\n"
          << "backend catalog-stable\n"
          << "    server-template srv 1-" << kSlots << " 127.0.0.1:1 disabled\n"
          << "backend catalog-canary\n"
          << "    server-template srv 1-" << kSlots << " 127.0.0.1:1 disabled\n";
      if (!map || !cfg) return Fail(InternalError("cannot write haproxy.cfg"));
    }
    const std::string cfg_path = p->dir_ + "/haproxy.cfg";
    const std::string log_path = p->dir_ + "/haproxy.log";
    pid_t pid = fork();
    if (pid < 0) return Fail(InternalError(std::string("fork: ") + std::strerror(errno)));
    if (pid == 0) {
      setpgid(0, 0);
      int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
      }
      // Master-worker mode (-W): SIGUSR2 reloads, as `systemctl reload haproxy` does.
      execl(kBinary, kBinary, "-W", "-f", cfg_path.c_str(), "-db", static_cast<char*>(nullptr));
      _exit(127);
    }
    setpgid(pid, pid);
    p->pid_ = pid;
    ASSIGN_OR_RETURN(RuntimeAddress api, ParseRuntimeAddress(p->Socket()));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        p->pid_ = -1;
        return Fail(InternalError("haproxy exited at start: " + p->Log().substr(0, 2000)));
      }
      auto info = RunRuntimeCommand(api, "show info", std::chrono::seconds(1));
      if (info.has_value() && info->find("Name: HAProxy") != std::string::npos) return p;
      // A child process with no readiness signal: a short pause between probes.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return Fail(DeadlineExceededError("haproxy's runtime API did not come up: " +
                                      p->Log().substr(0, 2000)));
  }

  ~HaproxyProcess() {
    Kill();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  void Kill() {
    if (pid_ <= 0) return;
    kill(-pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    bool reaped = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!reaped) {
      kill(-pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }

  // Asks the master for a reload: the new worker reads haproxy.cfg and the map file again, so
  // whatever ramp set through the runtime API is gone.
  void Reload() const {
    if (pid_ > 0) kill(pid_, SIGUSR2);
  }

  std::string Log() const {
    std::ifstream log(dir_ + "/haproxy.log");
    return std::string((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  }

  std::string Socket() const { return dir_ + "/admin.sock"; }
  std::string MapFile() const { return dir_ + "/ramp-weights.map"; }
  int port() const { return port_; }
  // The runtime API on TCP, "127.0.0.1:PORT".
  std::string TcpApi() const { return "127.0.0.1:" + std::to_string(api_port_); }

 private:
  HaproxyProcess() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  int api_port_ = 0;
  std::string dir_;
};

Status Wait(const std::function<void(StatusCallback)>& op) {
  std::promise<Status> p;
  auto f = p.get_future();
  op([&p](Status s) { p.set_value(std::move(s)); });
  if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return DeadlineExceededError("operation did not complete");
  }
  return f.get();
}

StatusOr<WeightCheck> Verify(TrafficRouter& r, int32_t weight) {
  std::promise<StatusOr<WeightCheck>> p;
  auto f = p.get_future();
  r.VerifyWeight(weight, {}, [&p](StatusOr<WeightCheck> c) { p.set_value(std::move(c)); });
  if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return Fail(DeadlineExceededError("VerifyWeight did not complete"));
  }
  return f.get();
}

struct Counts {
  int stable = 0;
  int canary = 0;
  int other = 0;
};

Counts Send(int port, int n) {
  Counts c;
  for (int i = 0; i < n; ++i) {
    auto r = testing::PlainGet(port, "/", std::chrono::seconds(5));
    if (r.has_value() && r->status == 200 && r->body == "stable") {
      ++c.stable;
    } else if (r.has_value() && r->status == 200 && r->body == "canary") {
      ++c.canary;
    } else {
      ++c.other;
    }
  }
  return c;
}

class HaproxyRouterIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kBinary, X_OK) != 0) {
      GTEST_SKIP() << kBinary << " is not installed (scripts/setup installs the haproxy package)";
    }
    auto started = HaproxyProcess::Start();
    ASSERT_TRUE(started.has_value()) << started.error().ToString();
    haproxy_ = std::move(*started);
    auto answer = [](std::string name) {
      return [name](const testing::TestRequest&) {
        testing::TestResponse r;
        r.body = name;
        return r;
      };
    };
    stable_ = std::make_unique<testing::HttpTestServer>(answer("stable"));
    canary_ = std::make_unique<testing::HttpTestServer>(answer("canary"));
  }

  RouterContext Context(const std::string& socket) const {
    RouterContext c;
    c.rollout = {"default", "catalog"};
    c.stable_service = "catalog-stable";
    c.canary_service = "catalog-canary";
    c.config_json = R"({"runtimeApi": ")" + socket + R"(", "weightMap": {"file": ")" +
                    haproxy_->MapFile() + R"("}, "timeout": "2s"})";
    return c;
  }

  // Reloads HAProxy and waits (bounded) until a new worker answers `get map` with `expect` in
  // it. Right after start-up the master re-executes itself and ignores SIGUSR2 meanwhile, so the
  // signal is repeated every 500 ms until the worker's pid changes.
  Status ReloadAndWait(const RuntimeAddress& api, std::string_view expect) {
    auto pid_of = [&]() -> std::string {
      auto info = RunRuntimeCommand(api, "show info", std::chrono::seconds(1));
      if (!info.has_value()) return "";
      auto pid = ParseInfoPid(*info);
      return pid.has_value() ? *pid : "";
    };
    const std::string before = pid_of();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    auto next_signal = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < deadline) {
      if (std::chrono::steady_clock::now() >= next_signal) {
        haproxy_->Reload();
        next_signal = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
      }
      const std::string now = pid_of();
      if (!now.empty() && now != before) {
        auto answer = RunRuntimeCommand(api, "get map " + haproxy_->MapFile() + " catalog",
                                        std::chrono::seconds(1));
        if (answer.has_value() && answer->find(expect) != std::string::npos) return OkStatus();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return DeadlineExceededError("haproxy did not reload");
  }

  std::string Addr(const testing::HttpTestServer& s) const {
    return "127.0.0.1:" + std::to_string(s.Port());
  }

  std::unique_ptr<HaproxyProcess> haproxy_;
  std::unique_ptr<testing::HttpTestServer> stable_;
  std::unique_ptr<testing::HttpTestServer> canary_;
};

TEST_F(HaproxyRouterIntegration, SplitsTrafficAndReassertsWeights) {
  auto made = NewHaproxyRouter(Context(haproxy_->Socket()));
  ASSERT_TRUE(made.has_value()) << made.error().ToString();
  TrafficRouter& r = **made;
  ASSERT_TRUE(Wait([&](auto d) { r.SetRevisionEndpoints("s1", {Addr(*stable_)}, d); }).ok());
  ASSERT_TRUE(Wait([&](auto d) { r.SwitchService(ServiceRole::kStable, "s1", d); }).ok());
  ASSERT_TRUE(Wait([&](auto d) { r.SwitchService(ServiceRole::kCanary, "c1", d); }).ok());
  // Endpoints arriving after the switch fill the canary backend.
  ASSERT_TRUE(Wait([&](auto d) { r.SetRevisionEndpoints("c1", {Addr(*canary_)}, d); }).ok());

  ASSERT_TRUE(Wait([&](auto d) { r.SetWeight(0, {}, d); }).ok());
  Counts zero = Send(haproxy_->port(), 300);
  EXPECT_EQ(zero.canary, 0);
  EXPECT_EQ(zero.stable, 300);

  // Weight-change latency, printed for docs/benchmarks.md (no timing assertion): from the
  // SetWeight call to its `done`, and to the first response from the canary.
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(Wait([&](auto d) { r.SetWeight(100, {}, d); }).ok());
  const auto t1 = std::chrono::steady_clock::now();
  bool saw_canary = false;
  for (int i = 0; i < 100 && !saw_canary; ++i) saw_canary = Send(haproxy_->port(), 1).canary == 1;
  const auto t2 = std::chrono::steady_clock::now();
  EXPECT_TRUE(saw_canary);
  auto us = [](auto d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); };
  std::printf("weight change: SetWeight done after %lld us, first canary response after %lld us\n",
              static_cast<long long>(us(t1 - t0)), static_cast<long long>(us(t2 - t0)));
  Counts full = Send(haproxy_->port(), 200);
  EXPECT_EQ(full.canary, 200);

  ASSERT_TRUE(Wait([&](auto d) { r.SetWeight(30, {}, d); }).ok());
  // 400 requests at p = 0.3: mean 120, sigma 9.2; 4 sigma is ±37.
  Counts part = Send(haproxy_->port(), 400);
  EXPECT_EQ(part.other, 0);
  EXPECT_GE(part.canary, 83);
  EXPECT_LE(part.canary, 157);
  std::printf("weight 30: %d of 400 requests to the canary\n", part.canary);

  auto verified = Verify(r, 30);
  ASSERT_TRUE(verified.has_value()) << verified.error().ToString();
  EXPECT_EQ(verified->verification, WeightVerification::kVerified);
  EXPECT_EQ(verified->observed_weight, 30);

  // Someone resets the weight behind ramp's back (what a reload with the file's 0 does).
  auto api = ParseRuntimeAddress(haproxy_->Socket());
  ASSERT_TRUE(api.has_value());
  auto reset = RunRuntimeCommand(*api, "set map " + haproxy_->MapFile() + " catalog 0",
                                 std::chrono::seconds(2));
  ASSERT_TRUE(reset.has_value()) << reset.error().ToString();
  auto lost = Verify(r, 30);
  ASSERT_TRUE(lost.has_value()) << lost.error().ToString();
  EXPECT_EQ(lost->verification, WeightVerification::kNotVerified);
  EXPECT_EQ(lost->observed_weight, 0);
  EXPECT_THAT(lost->message, HasSubstr("re-asserts"));
  // The engine asks again: the weight is back.
  ASSERT_TRUE(Wait([&](auto d) { r.SetWeight(30, {}, d); }).ok());
  auto back = Verify(r, 30);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->verification, WeightVerification::kVerified);

  // The key removed from the map: VerifyWeight says so, SetWeight adds it again.
  auto del = RunRuntimeCommand(*api, "del map " + haproxy_->MapFile() + " catalog",
                               std::chrono::seconds(2));
  ASSERT_TRUE(del.has_value());
  auto missing = Verify(r, 100);
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->verification, WeightVerification::kNotVerified);
  EXPECT_THAT(missing->message, HasSubstr("missing"));
  ASSERT_TRUE(Wait([&](auto d) { r.SetWeight(100, {}, d); }).ok());
  EXPECT_EQ(Send(haproxy_->port(), 50).canary, 50);
  auto again = Verify(r, 100);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->verification, WeightVerification::kVerified);
}

TEST_F(HaproxyRouterIntegration, ReassertsAfterAReload) {
  auto made = NewHaproxyRouter(Context(haproxy_->Socket()));
  ASSERT_TRUE(made.has_value()) << made.error().ToString();
  TrafficRouter& r = **made;
  ASSERT_TRUE(Wait([&](auto d) { r.SetRevisionEndpoints("s1", {Addr(*stable_)}, d); }).ok());
  ASSERT_TRUE(Wait([&](auto d) { r.SetRevisionEndpoints("c1", {Addr(*canary_)}, d); }).ok());
  ASSERT_TRUE(Wait([&](auto d) { r.SwitchService(ServiceRole::kStable, "s1", d); }).ok());
  ASSERT_TRUE(Wait([&](auto d) { r.SwitchService(ServiceRole::kCanary, "c1", d); }).ok());
  ASSERT_TRUE(Wait([&](auto d) { r.SetWeight(100, {}, d); }).ok());
  EXPECT_EQ(Send(haproxy_->port(), 20).canary, 20);

  auto api = ParseRuntimeAddress(haproxy_->Socket());
  ASSERT_TRUE(api.has_value());
  ASSERT_TRUE(ReloadAndWait(*api, "value=\"0\"").ok()) << haproxy_->Log();
  EXPECT_EQ(Send(haproxy_->port(), 10).canary, 0);  // the reload emptied the backends

  auto lost = Verify(r, 100);
  ASSERT_TRUE(lost.has_value()) << lost.error().ToString();
  EXPECT_EQ(lost->verification, WeightVerification::kNotVerified);
  EXPECT_EQ(lost->observed_weight, 0);
  // The engine asks again; the router re-fills the server slots the reload emptied, too.
  ASSERT_TRUE(Wait([&](auto d) { r.SetWeight(100, {}, d); }).ok());
  EXPECT_EQ(Send(haproxy_->port(), 20).canary, 20);
  ASSERT_TRUE(Wait([&](auto d) { r.SetWeight(0, {}, d); }).ok());
  EXPECT_EQ(Send(haproxy_->port(), 20).stable, 20);
  auto back = Verify(r, 0);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->verification, WeightVerification::kVerified);

  // A reload at weight 0 leaves the map value as it was (the file says 0 too), but the slots are
  // gone: the new worker's pid tells.
  ASSERT_TRUE(ReloadAndWait(*api, "\"sint\"").ok()) << haproxy_->Log();
  auto same_value = Verify(r, 0);
  ASSERT_TRUE(same_value.has_value()) << same_value.error().ToString();
  EXPECT_EQ(same_value->verification, WeightVerification::kNotVerified);
  EXPECT_THAT(same_value->message, HasSubstr("worker changed"));
  EXPECT_EQ(Send(haproxy_->port(), 10).stable, 0);
  ASSERT_TRUE(Wait([&](auto d) { r.SetWeight(0, {}, d); }).ok());
  EXPECT_EQ(Send(haproxy_->port(), 20).stable, 20);
  auto healed = Verify(r, 0);
  ASSERT_TRUE(healed.has_value());
  EXPECT_EQ(healed->verification, WeightVerification::kVerified);
}

TEST_F(HaproxyRouterIntegration, SwitchesBackendsAndBoundsSlots) {
  auto made = NewHaproxyRouter(Context(haproxy_->Socket()));
  ASSERT_TRUE(made.has_value()) << made.error().ToString();
  TrafficRouter& r = **made;
  ASSERT_TRUE(Wait([&](auto d) { r.SetRevisionEndpoints("s1", {Addr(*stable_)}, d); }).ok());
  ASSERT_TRUE(Wait([&](auto d) { r.SetRevisionEndpoints("c1", {Addr(*canary_)}, d); }).ok());
  ASSERT_TRUE(Wait([&](auto d) { r.SwitchService(ServiceRole::kStable, "s1", d); }).ok());
  ASSERT_TRUE(Wait([&](auto d) { r.SetWeight(0, {}, d); }).ok());
  EXPECT_EQ(Send(haproxy_->port(), 20).stable, 20);
  // Promotion: the stable backend now points at the canary's revision.
  ASSERT_TRUE(Wait([&](auto d) { r.SwitchService(ServiceRole::kStable, "c1", d); }).ok());
  EXPECT_EQ(Send(haproxy_->port(), 20).canary, 20);
  // The revision's instances going away leave the backend without servers (HAProxy answers 503).
  ASSERT_TRUE(Wait([&](auto d) { r.SetRevisionEndpoints("c1", {}, d); }).ok());
  EXPECT_EQ(Send(haproxy_->port(), 10).other, 10);

  // More instances than slots: an error naming the counts, and nothing crashes.
  std::vector<std::string> many;
  for (int i = 0; i < kSlots + 1; ++i) many.push_back("127.0.0.1:" + std::to_string(20000 + i));
  Status too_many = Wait([&](auto d) { r.SetRevisionEndpoints("c1", many, d); });
  EXPECT_EQ(too_many.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(too_many.message(), HasSubstr("5 instances"));
  EXPECT_THAT(too_many.message(), HasSubstr("only 4 slots"));

  // This haproxy.cfg loads no header-route ACL: a header route says what to add to it, while
  // removing routes succeeds (there is nothing to remove). docs/routers.md.
  Status header = Wait([&](auto d) {
    r.SetHeaderRoute({"h", {{"X-Canary", {StringMatch::Kind::kExact, "1"}}}}, d);
  });
  EXPECT_EQ(header.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(header.message(), HasSubstr("ramp-headers-"));
  EXPECT_THAT(header.message(), HasSubstr("req.hdrs -m reg -f"));
  EXPECT_TRUE(Wait([&](auto d) { r.SetHeaderRoute({"h", {}}, d); }).ok());
  EXPECT_TRUE(Wait([&](auto d) { r.RemoveManagedRoutes(d); }).ok());
}

TEST_F(HaproxyRouterIntegration, WorksOverTcpRuntimeApi) {
  auto made = NewHaproxyRouter(Context(haproxy_->TcpApi()));
  ASSERT_TRUE(made.has_value()) << made.error().ToString();
  TrafficRouter& r = **made;
  ASSERT_TRUE(Wait([&](auto d) { r.SetRevisionEndpoints("c1", {Addr(*canary_)}, d); }).ok());
  ASSERT_TRUE(Wait([&](auto d) { r.SwitchService(ServiceRole::kCanary, "c1", d); }).ok());
  ASSERT_TRUE(Wait([&](auto d) { r.SetWeight(100, {}, d); }).ok());
  EXPECT_EQ(Send(haproxy_->port(), 20).canary, 20);
  auto v = Verify(r, 100);
  ASSERT_TRUE(v.has_value()) << v.error().ToString();
  EXPECT_EQ(v->verification, WeightVerification::kVerified);
}

TEST_F(HaproxyRouterIntegration, UnreachableRuntimeApiIsUnavailable) {
  auto made = NewHaproxyRouter(Context(haproxy_->Socket() + ".missing"));
  ASSERT_TRUE(made.has_value());
  Status s = Wait([&](auto d) { (*made)->SetWeight(10, {}, d); });
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr(".missing"));
  auto v = Verify(**made, 10);
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code(), StatusCode::kUnavailable);

  // HAProxy goes away under a working router.
  auto live = NewHaproxyRouter(Context(haproxy_->Socket()));
  ASSERT_TRUE(live.has_value());
  ASSERT_TRUE(Wait([&](auto d) { (*live)->SetWeight(10, {}, d); }).ok());
  haproxy_->Kill();
  Status gone = Wait([&](auto d) { (*live)->SetWeight(20, {}, d); });
  EXPECT_EQ(gone.code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ramp::haproxy
