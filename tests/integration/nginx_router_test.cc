// ramp/nginx against a real NGINX (the Debian package's /usr/sbin/nginx): the harness writes a
// minimal nginx.conf into a temp dir (pid, logs and temp paths inside it; never /etc/nginx) that
// includes the file ramp owns, serves a front on a free loopback port that proxies to the
// variable, and two loopback backends answering "stable" and "canary". NGINX runs in the
// foreground in its own process group, which the test kills at the end.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "traffic/nginx/nginx_router.h"

extern char** environ;

namespace ramp::nginx {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

constexpr char kNginx[] = "/usr/sbin/nginx";

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// One blocking GET on 127.0.0.1:port (test plumbing); the body, or nothing on any failure.
std::optional<std::string> Get(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return std::nullopt;
  }
  std::string resp;
  char buf[4096];
  for (int i = 0; i < 1000; ++i) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t body = resp.find("\r\n\r\n");
  if (resp.rfind("HTTP/1.1 200", 0) != 0 || body == std::string::npos) return std::nullopt;
  return resp.substr(body + 4);
}

class NginxServer {
 public:
  ~NginxServer() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Writes the configuration and starts NGINX; false (with a failure added) when it does not
  // answer within 15 s.
  bool Start() {
    char tmpl[] = "/tmp/ramp-nginx-it-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return false;
    dir_ = tmpl;
    front_ = FreePort();
    stable_ = FreePort();
    canary_ = FreePort();
    std::ofstream conf(dir_ / "nginx.conf");
    std::string d = dir_.string();
    conf << "pid " << d << "/nginx.pid;\n"
         << "error_log " << d << "/error.log;\n"
         << "worker_processes 1;\n"
         << "events { worker_connections 256; }\n"
         << "http {\n"
         << "  access_log off;\n"
         << "  client_body_temp_path " << d << "/client_body;\n"
         << "  proxy_temp_path " << d << "/proxy;\n"
         << "  fastcgi_temp_path " << d << "/fastcgi;\n"
         << "  uwsgi_temp_path " << d << "/uwsgi;\n"
         << "  scgi_temp_path " << d << "/scgi;\n"
         << "  include " << d << "/ramp.conf;\n"
         << "  server { listen 127.0.0.1:" << front_
         << "; location / { proxy_pass http://$ramp_shop; } }\n"
         << "  server { listen 127.0.0.1:" << stable_ << "; return 200 \"stable\"; }\n"
         << "  server { listen 127.0.0.1:" << canary_ << "; return 200 \"canary\"; }\n"
         << "}\n";
    conf.close();
    // NGINX needs the included file to start; ramp rewrites it from the first call on.
    std::ofstream(dir_ / "ramp.conf")
        << "upstream shop-stable { server 127.0.0.1:" << stable_ << "; }\n"
        << "upstream shop-canary { server 127.0.0.1:1 down; }\n"
        << "split_clients \"${request_id}\" $ramp_shop {\n    * shop-stable;\n}\n";
    std::vector<std::string> args = Argv({"-g", "daemon off;"});
    std::vector<char*> cargv;
    for (auto& a : args) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    int rc = ::posix_spawn(&pid_, kNginx, nullptr, &attr, cargv.data(), environ);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      ADD_FAILURE() << "cannot start nginx: " << std::strerror(rc);
      pid_ = -1;
      return false;
    }
    auto deadline = Clock::now() + std::chrono::seconds(15);
    while (Clock::now() < deadline) {
      if (Get(front_) == "stable") return true;
      ::usleep(50'000);
    }
    ADD_FAILURE() << "nginx did not answer on port " << front_ << "; error.log:\n" << ErrorLog();
    return false;
  }

  // nginx -p DIR -e DIR/error.log -c DIR/nginx.conf <extra...>
  std::vector<std::string> Argv(std::vector<std::string> extra) const {
    std::vector<std::string> v = {kNginx,
                                  "-p",
                                  dir_.string() + "/",
                                  "-e",
                                  (dir_ / "error.log").string(),
                                  "-c",
                                  (dir_ / "nginx.conf").string()};
    v.insert(v.end(), extra.begin(), extra.end());
    return v;
  }

  std::string ErrorLog() const {
    std::ifstream in(dir_ / "error.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // The master's worker processes: pid and whether it is an old one shutting down (from /proc).
  std::vector<std::pair<pid_t, bool>> Workers() const {
    std::vector<std::pair<pid_t, bool>> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
      std::string name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream stat(e.path() / "stat");
      std::string line;
      std::getline(stat, line);
      size_t close = line.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream rest(line.substr(close + 2));
      char state = 0;
      pid_t ppid = 0;
      rest >> state >> ppid;
      if (ppid != pid_) continue;
      std::ifstream cmd(e.path() / "cmdline");
      std::string cmdline;
      std::getline(cmd, cmdline, '\0');
      if (cmdline.rfind("nginx: worker process", 0) != 0) continue;
      out.emplace_back(static_cast<pid_t>(std::stol(name)),
                       cmdline.find("shutting down") != std::string::npos);
    }
    return out;
  }

  // The pid of the only worker, once exactly one runs and no old one is shutting down.
  std::optional<pid_t> SoleWorker() const {
    auto w = Workers();
    if (w.size() != 1 || w[0].second) return std::nullopt;
    return w[0].first;
  }

  // Polls (bounded) until a reload replaced worker `old`: a new worker runs alone. Returns how
  // long that took, or nothing after 20 s.
  std::optional<std::chrono::milliseconds> WaitReloaded(pid_t old) const {
    auto start = Clock::now();
    while (Clock::now() < start + std::chrono::seconds(20)) {
      auto w = SoleWorker();
      if (w && *w != old) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      }
      ::usleep(10'000);
    }
    return std::nullopt;
  }

  // Polls (bounded) until one worker runs alone; its pid, or -1.
  pid_t WaitSettled() const {
    auto start = Clock::now();
    while (Clock::now() < start + std::chrono::seconds(20)) {
      if (auto w = SoleWorker()) return *w;
      ::usleep(10'000);
    }
    return -1;
  }

  const std::filesystem::path& dir() const { return dir_; }
  int front() const { return front_; }
  int stable() const { return stable_; }
  int canary() const { return canary_; }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int front_ = 0, stable_ = 0, canary_ = 0;
};

std::string JsonArray(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    s += "\"" + v[i] + "\"";
  }
  return s + "]";
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status Await(std::future<Status> f) {
  if (f.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    return DeadlineExceededError("operation did not complete within 60s");
  }
  return f.get();
}

struct Counts {
  int stable = 0, canary = 0, failed = 0;
};

Counts Sample(int port, int n) {
  Counts c;
  for (int i = 0; i < n; ++i) {
    auto body = Get(port);
    if (body == "stable") {
      ++c.stable;
    } else if (body == "canary") {
      ++c.canary;
    } else {
      ++c.failed;
    }
  }
  return c;
}

class NginxRouterIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kNginx, X_OK) != 0) GTEST_SKIP() << kNginx << " is not installed";
    ASSERT_TRUE(server_.Start());
    std::string json = "{\"configFile\": \"" + (server_.dir() / "ramp.conf").string() +
                       "\", \"testCommand\": " + JsonArray(server_.Argv({"-t"})) +
                       ", \"reloadCommand\": " + JsonArray(server_.Argv({"-s", "reload"})) +
                       ", \"commandTimeout\": \"20s\"}";
    RouterContext ctx;
    ctx.rollout = {"default", "shop"};
    ctx.stable_service = "shop-stable";
    ctx.canary_service = "shop-canary";
    ctx.config_json = json;
    auto r = NewNginxRouter(ctx);
    ASSERT_TRUE(r.has_value()) << r.error().message();
    router_ = std::move(*r);
  }

  Status SetWeight(int32_t w) {
    std::promise<Status> p;
    router_->SetWeight(w, {}, [&p](Status s) { p.set_value(std::move(s)); });
    return Await(p.get_future());
  }
  Status Switch(ServiceRole role, const std::string& hash) {
    std::promise<Status> p;
    router_->SwitchService(role, hash, [&p](Status s) { p.set_value(std::move(s)); });
    return Await(p.get_future());
  }
  Status Endpoints(const std::string& hash, std::vector<std::string> a) {
    std::promise<Status> p;
    router_->SetRevisionEndpoints(hash, a, [&p](Status s) { p.set_value(std::move(s)); });
    return Await(p.get_future());
  }
  WeightCheck Verify(int32_t w) {
    std::promise<StatusOr<WeightCheck>> p;
    router_->VerifyWeight(w, {}, [&p](StatusOr<WeightCheck> c) { p.set_value(std::move(c)); });
    auto f = p.get_future();
    if (f.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      ADD_FAILURE() << "VerifyWeight did not complete";
      return {};
    }
    auto c = f.get();
    EXPECT_TRUE(c.has_value()) << c.error().message();
    return c.value_or(WeightCheck{});
  }

  NginxServer server_;
  std::unique_ptr<TrafficRouter> router_;
};

TEST_F(NginxRouterIntegrationTest, SplitsTrafficAndRestoresABrokenFile) {
  std::string stable_addr = "127.0.0.1:" + std::to_string(server_.stable());
  std::string canary_addr = "127.0.0.1:" + std::to_string(server_.canary());
  // Each call below changes the file, so each reloads: wait for the new worker every time.
  pid_t worker = server_.WaitSettled();
  ASSERT_GT(worker, 0);
  auto reloaded = [&]() {
    auto took = server_.WaitReloaded(worker);
    if (took) worker = *server_.SoleWorker();
    return took;
  };
  ASSERT_TRUE(Endpoints("s1", {stable_addr}).ok());
  ASSERT_TRUE(reloaded().has_value());
  ASSERT_TRUE(Switch(ServiceRole::kStable, "s1").ok());
  ASSERT_TRUE(reloaded().has_value());
  ASSERT_TRUE(Endpoints("c1", {canary_addr}).ok());  // canary points nowhere yet: no change
  ASSERT_TRUE(Switch(ServiceRole::kCanary, "c1").ok());
  ASSERT_TRUE(reloaded().has_value());

  // Weight 100: everything to the canary once the reload took effect.
  auto call = Clock::now();
  Status s = SetWeight(100);
  auto applied = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - call);
  ASSERT_TRUE(s.ok()) << s.message();
  auto took = reloaded();
  ASSERT_TRUE(took.has_value()) << server_.ErrorLog();
  RecordProperty("reload_ms", static_cast<int>(took->count()));
  std::printf(
      "SetWeight(100): call -> done (nginx -t + nginx -s reload) %lld ms; done -> new "
      "worker alone %lld ms\n",
      static_cast<long long>(applied.count()), static_cast<long long>(took->count()));
  Counts full = Sample(server_.front(), 200);
  EXPECT_EQ(full.stable, 0);
  EXPECT_EQ(full.failed, 0);
  EXPECT_EQ(Verify(100).verification, WeightVerification::kVerified);

  // Weight 0: no canary line, zero canary responses.
  s = SetWeight(0);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_TRUE(reloaded().has_value()) << server_.ErrorLog();
  Counts zero = Sample(server_.front(), 200);
  EXPECT_EQ(zero.canary, 0);
  EXPECT_EQ(zero.failed, 0);
  EXPECT_EQ(Verify(0).verification, WeightVerification::kVerified);

  // Weight 30: binomial(400, 0.3) has mean 120 and sd 9.2; accept about ±5 sd.
  s = SetWeight(30);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_TRUE(reloaded().has_value()) << server_.ErrorLog();
  Counts thirty = Sample(server_.front(), 400);
  EXPECT_EQ(thirty.failed, 0);
  EXPECT_GE(thirty.canary, 70);
  EXPECT_LE(thirty.canary, 170);
  WeightCheck ok = Verify(30);
  EXPECT_EQ(ok.verification, WeightVerification::kVerified) << ok.message;
  EXPECT_EQ(ok.observed_weight, 30);

  // Idempotence: the same weight again changes nothing and does not reload.
  ASSERT_TRUE(SetWeight(30).ok());
  EXPECT_EQ(server_.SoleWorker(), std::optional<pid_t>(worker));

  // A file NGINX rejects (a port out of range): testCommand fails, the previous file comes back,
  // the error carries nginx's output, and traffic keeps the 30 % split.
  std::string before = ReadFile(server_.dir() / "ramp.conf");
  s = Endpoints("c1", {"127.0.0.1:99999"});
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.message();
  EXPECT_THAT(s.message(), HasSubstr("invalid port"));
  EXPECT_THAT(s.message(), HasSubstr("previous file was restored"));
  EXPECT_EQ(ReadFile(server_.dir() / "ramp.conf"), before);
  EXPECT_EQ(server_.SoleWorker(), std::optional<pid_t>(worker));  // no reload happened
  Counts after = Sample(server_.front(), 400);
  EXPECT_EQ(after.failed, 0);
  EXPECT_GE(after.canary, 70);
  EXPECT_LE(after.canary, 170);
  EXPECT_EQ(Verify(30).verification, WeightVerification::kVerified);
  WeightCheck wrong = Verify(50);
  EXPECT_EQ(wrong.verification, WeightVerification::kNotVerified);
  EXPECT_EQ(wrong.observed_weight, 30);
}

}  // namespace
}  // namespace ramp::nginx
