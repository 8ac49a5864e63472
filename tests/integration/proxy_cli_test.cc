// `ramp proxy` as a process: configured over its admin unix socket, stopped by SIGTERM (exit 0),
// and started again from its state file with the same configuration.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "net/testing/http_test_server.h"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// One request over a unix socket or TCP loopback; reads until the peer closes.
std::string Exchange(int fd, const std::string& request) {
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  for (int i = 0; i < 10000; ++i) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string Admin(const std::string& socket_path, const std::string& method,
                  const std::string& path, const std::string& body = "") {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "";
  }
  return Exchange(fd, method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
}

std::string Fetch(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "";
  }
  return Exchange(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

std::string BodyOf(const std::string& r) {
  size_t end = r.find("\r\n\r\n");
  return end == std::string::npos ? "" : r.substr(end + 4);
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

pid_t StartProxy(const std::string& socket_path, const std::string& state) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    std::string bin = std::string(RAMP_BINARY_DIR) + "/src/cli/ramp";
    ::execl(bin.c_str(), "ramp", "proxy", "--admin-socket", socket_path.c_str(), "--state-file",
            state.c_str(), "--threads", "1", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

bool WaitHealthy(const std::string& socket_path) {
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < deadline) {
    if (Admin(socket_path, "GET", "/healthz").find(" 200 ") != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// SIGTERM, then the exit status within a deadline (-1: had to be killed).
int Terminate(pid_t pid) {
  ::kill(pid, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  int status = 0;
  while (Clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

TEST(ProxyCliTest, ServesStopsOnSigtermAndRestartsFromItsStateFile) {
  ramp::testing::HttpTestServer backend([](const ramp::testing::TestRequest&) {
    ramp::testing::TestResponse r;
    r.body = "from-backend";
    return r;
  });
  auto dir =
      std::filesystem::temp_directory_path() / ("ramp-proxy-cli-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string sock = (dir / "admin.sock").string();
  const std::string state = (dir / "state.json").string();

  pid_t pid = StartProxy(sock, state);
  ASSERT_TRUE(WaitHealthy(sock));
  const int port = FreePort();
  json cfg = {{"listen", "127.0.0.1:" + std::to_string(port)},
              {"stable", {"127.0.0.1:" + std::to_string(backend.Port())}}};
  std::string put = Admin(sock, "PUT", "/v1/services/web", cfg.dump());
  EXPECT_NE(put.find(" 200 "), std::string::npos) << put;
  EXPECT_EQ(BodyOf(Fetch(port)), "from-backend");
  std::string got = Admin(sock, "GET", "/v1/services/web");
  EXPECT_NE(got.find("\"version\":1"), std::string::npos) << got;
  EXPECT_EQ(Terminate(pid), 0);
  EXPECT_FALSE(std::filesystem::exists(sock));

  // Restart: the service comes back from the state file.
  pid = StartProxy(sock, state);
  ASSERT_TRUE(WaitHealthy(sock));
  std::string list = Admin(sock, "GET", "/v1/services");
  EXPECT_NE(list.find("[\"web\"]"), std::string::npos) << list;
  EXPECT_EQ(BodyOf(Fetch(port)), "from-backend");
  EXPECT_EQ(Terminate(pid), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
