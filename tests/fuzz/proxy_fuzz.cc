// Fuzz target for the built-in proxy's request path (src/proxy): the input is the byte stream a
// client sends on one connection. A ProxyServer is started once, in-process, on loopback, in front
// of two TestBackend instances, with a route table that exercises every routing feature (weights,
// a header route, mirroring, a sticky cookie, leastRequest, passive ejection). For each input a
// fresh client connection writes the bytes, half-closes, and reads until the proxy closes (bounded
// by a deadline). The proxy must not crash or hang, whatever it answers must be HTTP/1.x, and it
// must still serve a plain GET afterwards. Built with clang's libFuzzer by scripts/fuzz; its seeds
// replay under g++ as the CTest label fuzz-seeds (see replay_main.cc).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "proxy/proxy_server.h"
#include "proxy/test_backend.h"

namespace {

using Clock = std::chrono::steady_clock;

struct World {
  ramp::proxy::testing::TestBackend stable{"stable"};
  ramp::proxy::testing::TestBackend canary{"canary"};
  std::unique_ptr<ramp::proxy::ProxyServer> proxy;
  int port = 0;

  World() {
    ramp::proxy::ProxyOptions options;
    options.threads = 1;
    options.limits.header_read_timeout = std::chrono::seconds(2);
    options.limits.max_body_bytes = 1 << 20;
    auto server = ramp::proxy::ProxyServer::Start(options);
    if (!server) {
      std::fprintf(stderr, "proxy_fuzz: %s\n", server.error().ToString().c_str());
      std::abort();
    }
    proxy = std::move(*server);
    nlohmann::json cfg = nlohmann::json::parse(R"({
      "listen": "127.0.0.1:0",
      "canaryWeight": 30,
      "headerRoutes": [{"name": "beta", "match": [{"header": "x-canary", "regex": "y(es)?"}]}],
      "mirrorRoutes": [{"name": "all", "percentage": 50, "match": [{}]},
                       {"name": "posts", "match": [{"method": {"exact": "POST"},
                        "path": {"prefix": "/"}, "headers": {"X-Mirror": {"exact": "1"}}}]}],
      "sticky": {"cookie": "ramp-rev", "ttl": "1h"},
      "loadBalancing": "leastRequest",
      "outlierDetection": {"consecutiveFailures": 3, "ejectionTime": "1s"},
      "connectTimeout": "1s",
      "requestTimeout": "3s",
      "idleTimeout": "2s"})");
    cfg["stable"] = {"127.0.0.1:" + std::to_string(stable.Port())};
    cfg["canary"] = {"127.0.0.1:" + std::to_string(canary.Port())};
    auto table = ramp::proxy::DecodeRouteTable(cfg);
    if (!table || !proxy->Apply("fuzz", *table)) std::abort();
    port = proxy->ServicePort("fuzz");
  }
};

// Never destroyed: the proxy's and the backends' threads run until the process exits.
World& TheWorld() {
  static World* world = new World();
  return *world;
}

// Writes `input` on a fresh connection (reading meanwhile, so that answers to pipelined requests
// never block the writer), half-closes, and returns what the proxy sent until it closed or the
// deadline passed. *closed tells whether the proxy closed the connection.
std::string Exchange(int port, std::string_view input, bool* closed) {
  *closed = false;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "";
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string out;
  size_t sent = 0;
  bool write_done = false;
  const auto deadline = Clock::now() + std::chrono::seconds(6);
  while (Clock::now() < deadline) {
    if (!write_done && sent == input.size()) {
      ::shutdown(fd, SHUT_WR);
      write_done = true;
    }
    pollfd p{fd, static_cast<short>(POLLIN | (write_done ? 0 : POLLOUT)), 0};
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (::poll(&p, 1, left > 0 ? left : 0) <= 0) continue;
    if ((p.revents & POLLOUT) != 0 && !write_done) {
      ssize_t n = ::send(fd, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        write_done = true;  // the proxy closed its side early (e.g. after a 431)
      }
    }
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char buf[16384];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        *closed = true;
        break;
      }
      if (n > 0 && out.size() < (4u << 20)) out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& world = TheWorld();
  world.stable.ClearRequests();  // the backends' records would grow with every input
  world.canary.ClearRequests();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  bool closed = false;
  const auto start = Clock::now();
  std::string answer = Exchange(world.port, input, &closed);
  if (std::getenv("PROXY_FUZZ_VERBOSE") != nullptr) {  // the first line of each answer
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    std::fprintf(stderr, "proxy_fuzz: %zu bytes in, %lld ms: %s\n", size,
                 static_cast<long long>(ms), answer.substr(0, answer.find('\r')).c_str());
  }
  // The proxy always ends a connection whose client half-closed (bounded by the idle and header
  // timeouts, well inside the deadline).
  if (!closed) __builtin_trap();
  // Whatever it sent starts as an HTTP/1.x response (a refused TLS handshake gets nothing).
  if (!answer.empty() && answer.compare(0, 7, "HTTP/1.") != 0) __builtin_trap();
  // And it still serves.
  std::string health = Exchange(
      world.port, "GET /health HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n", &closed);
  if (health.compare(0, 12, "HTTP/1.1 200") != 0) {
    std::fprintf(stderr, "proxy_fuzz: the proxy no longer serves: \"%s\"\n%s\n",
                 health.substr(0, 200).c_str(), world.proxy->MetricsText().c_str());
    __builtin_trap();
  }
  return 0;
}
