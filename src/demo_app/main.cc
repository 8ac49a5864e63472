// ramp-demo-app: a small HTTP/1.1 server that ramp's demo and tests run as the versions of a
// Rollout. It answers GET /healthz, /version and /metrics, and any other request with its version
// as JSON, failing with a configured probability after a configured delay (behavior.h). Blocking
// sockets, one thread per connection up to --max-connections (more are answered 503 and
// closed); SIGTERM or SIGINT stops accepting and lets open requests finish (at most 5 s).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "demo_app/behavior.h"

namespace ramp::demo_app {
namespace {

constexpr size_t kMaxHead = 16 * 1024;
constexpr size_t kMaxBody = 1024 * 1024;

std::atomic<bool> g_stop{false};
std::atomic<int> g_open{0};
DemoCounters g_counters;

void OnSignal(int) { g_stop.store(true); }

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

bool Respond(int fd, const DemoOptions& options, int status, std::string_view content_type,
             std::string_view body, bool head_only, bool keep_alive) {
  g_counters.Count(status);
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nX-Ramp-Version: {}\r\n"
      "Connection: {}\r\n\r\n",
      status, Reason(status), content_type, body.size(), options.version,
      keep_alive ? "keep-alive" : "close");
  if (!head_only) out += body;
  return SendAll(fd, out);
}

// Reads into `buffer` until it holds `want` bytes, the peer closes, or the idle timeout passes.
bool ReadMore(int fd, std::string* buffer, const DemoOptions& options) {
  pollfd p{fd, POLLIN, 0};
  int timeout_ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(options.idle_timeout).count());
  if (::poll(&p, 1, timeout_ms) <= 0) return false;
  char chunk[8192];
  ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
  if (n <= 0) return false;
  buffer->append(chunk, static_cast<size_t>(n));
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void Serve(int fd, const DemoOptions& options) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::string buffer;
  while (!g_stop.load()) {
    size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (buffer.size() > kMaxHead) {
        Respond(fd, options, 431, "text/plain", "request head too large\n", false, false);
        return;
      }
      if (!ReadMore(fd, &buffer, options)) return;
    }
    std::string_view head(buffer.data(), end);
    size_t line_end = head.find("\r\n");
    std::string_view line = head.substr(0, line_end);
    size_t sp1 = line.find(' ');
    size_t sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 <= sp1 ||
        !line.substr(sp2 + 1).starts_with("HTTP/1.")) {
      Respond(fd, options, 400, "text/plain", "malformed request line\n", false, false);
      return;
    }
    std::string method(line.substr(0, sp1));
    std::string target(line.substr(sp1 + 1, sp2 - sp1 - 1));
    bool keep_alive = line.substr(sp2 + 1) == "HTTP/1.1";
    size_t content_length = 0;
    std::string_view rest = line_end == std::string_view::npos ? "" : head.substr(line_end + 2);
    while (!rest.empty()) {
      size_t eol = rest.find("\r\n");
      std::string_view field = rest.substr(0, eol);
      rest = eol == std::string_view::npos ? "" : rest.substr(eol + 2);
      size_t colon = field.find(':');
      if (colon == std::string_view::npos) {
        Respond(fd, options, 400, "text/plain", "malformed header line\n", false, false);
        return;
      }
      std::string name = Lower(field.substr(0, colon));
      std::string_view value = field.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      if (name == "content-length") {
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), content_length);
        if (ec != std::errc() || p != value.data() + value.size()) {
          Respond(fd, options, 400, "text/plain", "bad Content-Length\n", false, false);
          return;
        }
      } else if (name == "transfer-encoding") {
        Respond(fd, options, 501, "text/plain", "chunked request bodies are not supported\n", false,
                false);
        return;
      } else if (name == "connection") {
        std::string v = Lower(value);
        if (v == "close") keep_alive = false;
        if (v == "keep-alive") keep_alive = true;
      }
    }
    if (content_length > kMaxBody) {
      Respond(fd, options, 413, "text/plain", "request body larger than 1 MiB\n", false, false);
      return;
    }
    buffer.erase(0, end + 4);
    while (buffer.size() < content_length) {
      if (!ReadMore(fd, &buffer, options)) return;
    }
    buffer.erase(0, content_length);

    Answer answer = AnswerRequest(options, method, target, uniform(rng));
    if (answer.delay && options.latency.count() > 0) std::this_thread::sleep_for(options.latency);
    if (answer.body.empty() && answer.status == 200 && target.starts_with("/metrics")) {
      answer.body = g_counters.Render(options.version);
    }
    if (g_stop.load()) keep_alive = false;
    if (!Respond(fd, options, answer.status, answer.content_type, answer.body, method == "HEAD",
                 keep_alive) ||
        !keep_alive) {
      return;
    }
  }
}

int Run(const DemoOptions& options) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(options.port));
  if (::inet_pton(AF_INET, options.bind.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "ramp-demo-app: bind address \"%s\" is not an IPv4 address\n",
                 options.bind.c_str());
    return 2;
  }
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listener, 512) != 0) {
    std::fprintf(stderr, "ramp-demo-app: cannot listen on %s:%d: %s\n", options.bind.c_str(),
                 options.port, std::strerror(errno));
    return 1;
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::printf("ramp-demo-app %s listening on %s:%d\n", options.version.c_str(),
              options.bind.c_str(), ntohs(addr.sin_port));
  std::fflush(stdout);

  while (!g_stop.load()) {
    pollfd p{listener, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (g_open.load() >= options.max_connections) {
      Respond(fd, options, 503, "text/plain", "too many connections\n", false, false);
      ::close(fd);
      continue;
    }
    g_open.fetch_add(1);
    std::thread([fd, &options] {
      Serve(fd, options);
      ::close(fd);
      g_open.fetch_sub(1);
    }).detach();
  }
  ::close(listener);
  // Let open requests finish; idle keep-alive connections end at their next poll timeout or exit.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (g_open.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

}  // namespace
}  // namespace ramp::demo_app

int main(int argc, char** argv) {
  using namespace ramp::demo_app;
  CLI::App app{
      "ramp-demo-app: an HTTP server with a version, an error rate and a latency, for "
      "ramp's demo and tests"};
  DemoFlags flags;
  app.add_option("--bind", flags.bind, "IPv4 address to listen on [BIND_ADDRESS, 127.0.0.1]");
  app.add_option("--port", flags.port, "Port; 0 picks a free one [PORT, 8080]");
  app.add_option("--version", flags.version, "Version name it reports [VERSION, v1]");
  app.add_option("--error-rate", flags.error_rate,
                 "Probability 0..1 that a request gets an injected 500 [ERROR_RATE, 0]");
  app.add_option("--latency", flags.latency,
                 "Delay before each answer, e.g. 50ms (health, version and metrics are not "
                 "delayed) [LATENCY, 0]");
  app.add_option("--max-connections", flags.max_connections,
                 "Open connections served at once; more get 503 [512]");
  CLI11_PARSE(app, argc, argv);
  auto options = ResolveOptions(flags, [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  });
  if (!options.has_value()) {
    std::fprintf(stderr, "ramp-demo-app: %s\n", std::string(options.error().message()).c_str());
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return Run(*options);
}
