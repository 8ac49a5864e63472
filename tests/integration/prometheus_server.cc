// The Prometheus test harness (prometheus_server.h).
#include "tests/integration/prometheus_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

namespace ramp::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kBinary[] = "/usr/bin/prometheus";

std::string UrlEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::chrono::steady_clock::time_point Deadline(Duration d) {
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
}

}  // namespace

StatusOr<int> FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(InternalError(std::string("socket: ") + std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string why = std::strerror(errno);
    close(fd);
    return Fail(InternalError("bind 127.0.0.1:0: " + why));
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

StatusOr<PlainResponse> PlainGet(int port, std::string_view target, Duration timeout) {
  const auto deadline = Deadline(timeout);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Fail(UnavailableError(std::string("socket: ") + std::strerror(errno)));
  auto fail = [&](std::string why) {
    close(fd);
    return Fail(UnavailableError(fmt::format("GET 127.0.0.1:{}{}: {}", port, target, why)));
  };
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 && errno != EINPROGRESS) {
    return fail(std::strerror(errno));
  }
  auto wait = [&](short events) -> bool {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    return poll(&p, 1, static_cast<int>(left.count())) == 1;
  };
  if (!wait(POLLOUT)) return fail("connect timed out");
  int err = 0;
  socklen_t elen = sizeof(err);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
  if (err != 0) return fail(std::strerror(err));
  const std::string request = fmt::format(
      "GET {} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", target, port);
  size_t sent = 0;
  while (sent < request.size()) {
    if (!wait(POLLOUT)) return fail("send timed out");
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) return fail(std::strerror(errno));
    if (n > 0) sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[8192];
  for (;;) {
    if (!wait(POLLIN)) return fail("read timed out");
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN) continue;
      return fail(std::strerror(errno));
    }
    raw.append(buf, static_cast<size_t>(n));
    if (raw.size() > (size_t{16} << 20)) return fail("response too large");
  }
  close(fd);
  PlainResponse r;
  const size_t head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/", 0) != 0 || head_end == std::string::npos) {
    return Fail(UnavailableError("not an HTTP response"));
  }
  r.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
  r.body = raw.substr(head_end + 4);
  return r;
}

StatusOr<std::unique_ptr<ScrapeTarget>> ScrapeTarget::Start() {
  std::unique_ptr<ScrapeTarget> t(new ScrapeTarget());
  t->fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (t->fd_ < 0) return Fail(InternalError(std::string("socket: ") + std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(t->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(t->fd_, 16) != 0 ||
      getsockname(t->fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Fail(InternalError(std::string("scrape target: ") + std::strerror(errno)));
  }
  t->port_ = ntohs(addr.sin_port);
  t->thread_ = std::thread([raw = t.get()] { raw->Serve(); });
  return t;
}

ScrapeTarget::~ScrapeTarget() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
}

std::string ScrapeTarget::Address() const { return fmt::format("127.0.0.1:{}", port_); }

void ScrapeTarget::SetText(std::string text) {
  std::lock_guard<std::mutex> lock(mu_);
  text_ = std::move(text);
}

void ScrapeTarget::Serve() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 100) != 1) continue;
    int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    // Read the request head (bounded), then answer and close.
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
      pollfd q{c, POLLIN, 0};
      if (poll(&q, 1, 2000) != 1) break;
      ssize_t n = recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      head.append(buf, static_cast<size_t>(n));
    }
    std::string body;
    {
      std::lock_guard<std::mutex> lock(mu_);
      body = text_;
    }
    ++scrapes_;
    const std::string response = fmt::format(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: "
        "{}\r\nConnection: close\r\n\r\n{}",
        body.size(), body);
    size_t sent = 0;
    while (sent < response.size()) {
      ssize_t n = send(c, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    close(c);
  }
}

StatusOr<std::unique_ptr<PrometheusServer>> PrometheusServer::Start(std::string_view target,
                                                                    Duration scrape_interval,
                                                                    Duration ready_within) {
  if (access(kBinary, X_OK) != 0) {
    return Fail(NotFoundError(std::string(kBinary) +
                              " is not installed (scripts/setup installs the prometheus package)"));
  }
  ASSIGN_OR_RETURN(int port, FreeLoopbackPort());
  std::unique_ptr<PrometheusServer> server(new PrometheusServer());
  server->port_ = port;
  server->url_ = fmt::format("http://127.0.0.1:{}", port);
  char tmpl[] = "/tmp/ramp-prometheus-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    return Fail(InternalError(std::string("mkdtemp: ") + std::strerror(errno)));
  }
  server->dir_ = tmpl;
  const auto interval_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(scrape_interval).count();
  {
    std::ofstream config(server->dir_ + "/prometheus.yml");
    config << "global:\n  scrape_interval: " << interval_ms
           << "ms\n  evaluation_interval: " << interval_ms
           << "ms\nscrape_configs:\n- job_name: app\n  static_configs:\n"
           << "  - targets: ['" << target << "']\n";
    if (!config) return Fail(InternalError("cannot write the Prometheus configuration"));
  }
  const std::string config_arg = "--config.file=" + server->dir_ + "/prometheus.yml";
  const std::string data_arg = "--storage.tsdb.path=" + server->dir_ + "/data";
  const std::string listen_arg = fmt::format("--web.listen-address=127.0.0.1:{}", port);
  const std::string log_path = server->dir_ + "/prometheus.log";
  pid_t pid = fork();
  if (pid < 0) return Fail(InternalError(std::string("fork: ") + std::strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);
    int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (log >= 0) {
      dup2(log, 1);
      dup2(log, 2);
    }
    execl(kBinary, kBinary, config_arg.c_str(), data_arg.c_str(), listen_arg.c_str(),
          "--log.level=warn", "--web.enable-lifecycle", static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  server->pid_ = pid;
  const auto deadline = Deadline(ready_within);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      server->pid_ = -1;
      std::ifstream log(log_path);
      std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
      return Fail(InternalError("prometheus exited at start: " + text.substr(0, 2000)));
    }
    auto ready = PlainGet(port, "/-/ready", std::chrono::seconds(1));
    if (ready.has_value() && ready->status == 200) return server;
    // Polling a child process that gives no readiness signal: a short pause between probes.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Fail(DeadlineExceededError("prometheus did not become ready"));
}

PrometheusServer::~PrometheusServer() {
  if (pid_ > 0) {
    kill(-pid_, SIGTERM);
    const auto deadline = Deadline(std::chrono::seconds(10));
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
  }
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

StatusOr<std::string> PrometheusServer::Query(std::string_view promql) const {
  ASSIGN_OR_RETURN(PlainResponse r, PlainGet(port_, "/api/v1/query?query=" + UrlEncode(promql),
                                             std::chrono::seconds(5)));
  if (r.status != 200) {
    return Fail(UnavailableError(fmt::format("query answered {}: {}", r.status, r.body)));
  }
  return r.body;
}

Status PrometheusServer::WaitUntilQueryContains(std::string_view promql, std::string_view needle,
                                                Duration within) const {
  const auto deadline = Deadline(within);
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto body = Query(promql);
    if (body.has_value()) {
      if (body->find(needle) != std::string::npos) return OkStatus();
      last = *body;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return DeadlineExceededError(
      fmt::format("query {} never contained {}; last answer: {}", promql, needle, last));
}

}  // namespace ramp::testing
