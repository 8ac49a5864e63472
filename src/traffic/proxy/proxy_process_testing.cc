#include "traffic/proxy/proxy_process_testing.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

namespace ramp::proxy_router::testing {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string RandomToken() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 32; ++i) out += "0123456789abcdef"[rd() % 16];
  return out;
}

}  // namespace

StatusOr<std::unique_ptr<ProxyProcess>> ProxyProcess::Start(Duration within) {
  const std::string binary = std::string(RAMP_BINARY_DIR) + "/src/cli/ramp";
  if (access(binary.c_str(), X_OK) != 0) {
    return Fail(NotFoundError(binary + " is not built (ninja ramp)"));
  }
  std::unique_ptr<ProxyProcess> p(new ProxyProcess());
  char tmpl[] = "/tmp/ramp-proxy-router-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    return Fail(InternalError(std::string("mkdtemp: ") + std::strerror(errno)));
  }
  p->dir_ = tmpl;
  p->token_ = RandomToken();
  const std::string token_file = p->dir_ + "/admin.token";
  const std::string log_file = p->dir_ + "/proxy.log";
  {
    std::ofstream out(token_file);
    out << p->token_ << "\n";
    if (!out) return Fail(InternalError("cannot write " + token_file));
  }
  ::chmod(token_file.c_str(), 0600);
  pid_t pid = fork();
  if (pid < 0) return Fail(InternalError(std::string("fork: ") + std::strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);
    int log = open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (log >= 0) {
      dup2(log, 1);
      dup2(log, 2);
    }
    execl(binary.c_str(), "ramp", "proxy", "--admin-address", "127.0.0.1:0", "--admin-token-file",
          token_file.c_str(), "--threads", "2", static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  p->pid_ = pid;
  // The start-up line names the admin port; a process without a readiness signal is polled.
  const std::regex port_re("admin on port ([0-9]+)");
  const auto deadline = SteadyClock::now() + within;
  while (SteadyClock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      p->pid_ = -1;
      return Fail(InternalError("ramp proxy exited at start: " + p->Log()));
    }
    std::smatch m;
    const std::string log = p->Log();
    if (std::regex_search(log, m, port_re)) {
      p->admin_url_ = "http://127.0.0.1:" + m[1].str();
      return p;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Fail(DeadlineExceededError("ramp proxy did not print its admin port: " + p->Log()));
}

ProxyProcess::~ProxyProcess() {
  Stop();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

void ProxyProcess::Stop() {
  if (pid_ <= 0) return;
  kill(-pid_, SIGTERM);
  const auto deadline = SteadyClock::now() + std::chrono::seconds(10);
  int status = 0;
  while (SteadyClock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(-pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string ProxyProcess::Log() const {
  std::ifstream in(dir_ + "/proxy.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

StatusOr<int> FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(InternalError(std::string("socket: ") + std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
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

StatusOr<HttpResponse> SendAndWait(HttpClient& http, HttpRequest request) {
  auto promise = std::make_shared<std::promise<StatusOr<HttpResponse>>>();
  auto future = promise->get_future();
  const Duration limit = request.timeout + std::chrono::seconds(5);
  http.Send(std::move(request),
            [promise](StatusOr<HttpResponse> r) { promise->set_value(std::move(r)); });
  if (future.wait_for(limit) != std::future_status::ready) {
    return Fail(DeadlineExceededError("no answer from the HTTP client"));
  }
  return future.get();
}

}  // namespace ramp::proxy_router::testing
