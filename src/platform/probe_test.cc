#include "platform/probe.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

namespace ramp::platform {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// A loopback listener on a free port answering each connection with `response` (if not empty).
class Listener {
 public:
  explicit Listener(std::string response) : response_(std::move(response)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0 || stop_) {
          if (c >= 0) ::close(c);
          return;
        }
        char buf[4096];
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n > 0) last_request_.assign(buf, static_cast<size_t>(n));
        if (!response_.empty()) (void)!::send(c, response_.data(), response_.size(), 0);
        ::close(c);
      }
    });
  }
  ~Listener() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  std::string last_request() const { return last_request_; }

 private:
  std::string response_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::string last_request_;
  std::thread thread_;
};

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class ProbeTest : public ::testing::Test {
 protected:
  std::unique_ptr<Clock> clock_ = NewSystemClock();
};

TEST_F(ProbeTest, ParsesProbesWithDefaultsAndPortNames) {
  json c = json::parse(R"({
    "ports": [{"name": "http", "containerPort": 8080}, {"name": "admin", "containerPort": 9000}],
    "readinessProbe": {"httpGet": {"path": "/ready", "port": "http",
                       "httpHeaders": [{"name": "X-A", "value": "b"}]}, "periodSeconds": 2},
    "livenessProbe": {"tcpSocket": {"port": 9000}, "failureThreshold": 0},
    "lifecycle": {"preStop": {"sleep": {"seconds": 3}}}})");
  auto set = ParseProbes(c);
  ASSERT_TRUE(set.has_value()) << set.error().message();
  ASSERT_TRUE(set->readiness && set->liveness && set->pre_stop);
  EXPECT_EQ(set->readiness->check.kind, Check::Kind::kHttpGet);
  EXPECT_TRUE(set->readiness->check.instance_port);
  EXPECT_EQ(set->readiness->check.path, "/ready");
  EXPECT_EQ(set->readiness->period, 2s);
  EXPECT_EQ(set->readiness->timeout, 1s);
  EXPECT_EQ(set->readiness->failure_threshold, 3);
  EXPECT_EQ(set->readiness->check.headers.size(), 1u);
  EXPECT_EQ(set->liveness->check.kind, Check::Kind::kTcpSocket);
  EXPECT_FALSE(set->liveness->check.instance_port);  // not ports[0]: used as written
  EXPECT_EQ(set->liveness->check.port, 9000);
  EXPECT_EQ(set->liveness->failure_threshold, 3);  // 0 means the default
  EXPECT_EQ(set->pre_stop->kind, Check::Kind::kSleep);
  EXPECT_EQ(set->pre_stop->sleep, 3s);
  EXPECT_FALSE(ParseProbes(json::object())->readiness.has_value());
}

TEST_F(ProbeTest, RejectsWhatCannotRun) {
  auto err = [](const char* text) {
    auto r = ParseProbes(json::parse(text));
    return r.has_value() ? std::string("ok") : r.error().message();
  };
  EXPECT_EQ(err(R"({"readinessProbe": {}})"),
            "containers[0].readinessProbe must have exactly one handler (httpGet, tcpSocket, "
            "exec)");
  EXPECT_EQ(err(R"({"readinessProbe": {"tcpSocket": {"port": 1}, "exec": {"command": ["x"]}}})"),
            "containers[0].readinessProbe must have exactly one handler (httpGet, tcpSocket, "
            "exec)");
  EXPECT_EQ(err(R"({"readinessProbe": {"tcpSocket": {"port": "web"}}})"),
            "containers[0].readinessProbe.tcpSocket.port web names no port of "
            "containers[0].ports");
  EXPECT_EQ(err(R"({"readinessProbe": {"grpc": {"port": 1}}})"),
            "containers[0].readinessProbe.grpc is not supported off Kubernetes");
  EXPECT_EQ(err(R"({"readinessProbe": {"httpGet": {"port": 1, "scheme": "HTTPS"}}})"),
            "containers[0].readinessProbe.httpGet.scheme HTTPS is not supported off Kubernetes "
            "yet (HTTP only)");
  EXPECT_EQ(err(R"({"readinessProbe": {"exec": {"command": []}}})"),
            "containers[0].readinessProbe.exec.command must be a non-empty list");
  EXPECT_EQ(err(R"({"livenessProbe": {"tcpSocket": {"port": 1}, "periodSeconds": -1}})"),
            "containers[0].livenessProbe.periodSeconds must be an integer >= 0");
  EXPECT_EQ(err(R"({"lifecycle": {"preStop": {"tcpSocket": {"port": 1}}}})"),
            "containers[0].lifecycle.preStop.tcpSocket is not supported off Kubernetes");
}

TEST_F(ProbeTest, HttpGetStatusDecides) {
  Listener ok("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
  Listener bad("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
  Check c;
  c.kind = Check::Kind::kHttpGet;
  c.path = "/healthz";
  c.instance_port = true;
  c.headers = {{"X-Probe", "yes"}};
  CheckTarget t;
  t.port = ok.port();
  EXPECT_TRUE(RunCheck(c, t, 2s, *clock_).ok());
  EXPECT_NE(ok.last_request().find("GET /healthz HTTP/1.1\r\n"), std::string::npos);
  EXPECT_NE(ok.last_request().find("X-Probe: yes\r\n"), std::string::npos);
  t.port = bad.port();
  Status s = RunCheck(c, t, 2s, *clock_);
  EXPECT_EQ(s.message(), "HTTP probe failed with statuscode: 503");
}

TEST_F(ProbeTest, TcpSocketAndRefused) {
  Listener l("");
  Check c;
  c.kind = Check::Kind::kTcpSocket;
  c.port = l.port();  // used as written
  CheckTarget t;
  t.port = 1;
  EXPECT_TRUE(RunCheck(c, t, 2s, *clock_).ok());
  c.port = FreePort();
  Status s = RunCheck(c, t, 2s, *clock_);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("connection refused"), std::string::npos) << s.message();
}

TEST_F(ProbeTest, HttpGetTimesOut) {
  // A listener that accepts (backlog) but never answers.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::listen(fd, 4);
  Check c;
  c.kind = Check::Kind::kHttpGet;
  c.port = ntohs(a.sin_port);
  Status s = RunCheck(c, CheckTarget{}, 200ms, *clock_);
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(s.message().find("timed out"), std::string::npos) << s.message();
  ::close(fd);
}

TEST_F(ProbeTest, ExecUsesExitCodeEnvAndTimeout) {
  Check c;
  c.kind = Check::Kind::kExec;
  c.command = {"sh", "-c", "test \"$FOO\" = bar"};
  CheckTarget t;
  t.env = {"PATH=/usr/bin:/bin", "FOO=bar"};
  EXPECT_TRUE(RunCheck(c, t, 5s, *clock_).ok());
  t.env = {"PATH=/usr/bin:/bin", "FOO=baz"};
  EXPECT_EQ(RunCheck(c, t, 5s, *clock_).message(), "command sh: exit code 1");
  c.command = {"sleep", "10"};
  Status s = RunCheck(c, t, 100ms, *clock_);
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded);
}

TEST(SplitHostPortTest, Forms) {
  EXPECT_EQ(*SplitHostPort("10.0.0.1:8080"), std::make_pair(std::string("10.0.0.1"), 8080));
  EXPECT_EQ(*SplitHostPort("[fd00::1]:80"), std::make_pair(std::string("fd00::1"), 80));
  EXPECT_FALSE(SplitHostPort("host").has_value());
  EXPECT_FALSE(SplitHostPort("host:0").has_value());
  EXPECT_FALSE(SplitHostPort("host:99999").has_value());
  EXPECT_FALSE(SplitHostPort(":80").has_value());
}

}  // namespace
}  // namespace ramp::platform
