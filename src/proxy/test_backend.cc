// TestBackend: blocking sockets, one thread per connection, Beast's parser for requests.
#include "proxy/test_backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>

namespace ramp::proxy::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

bool SendAll(int fd, std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::optional<std::string> BackendRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, name)) return v;
  }
  return std::nullopt;
}

struct TestBackend::Impl : std::enable_shared_from_this<TestBackend::Impl> {
  std::string name;
  int listen_fd = -1;
  int port = 0;

  mutable std::mutex mu;
  mutable std::condition_variable cv;  // notified on every event
  bool stopping = false;
  int status = 200;
  bool hold = false;
  std::set<size_t> held;  // request indices waiting for Release
  std::vector<BackendRequest> requests;
  int connections = 0;
  std::set<int> closed_by_peer;
  std::set<int> open_fds;
  int threads = 0;  // connection threads (and the accept thread) still running

  void Event() { cv.notify_all(); }
  void AcceptLoop();
  void Serve(int fd, int index);
};

void TestBackend::Impl::AcceptLoop() {
  for (;;) {
    int fd = ::accept(listen_fd, nullptr, nullptr);
    std::unique_lock<std::mutex> lock(mu);
    if (stopping) {
      if (fd >= 0) ::close(fd);
      break;
    }
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break;
    }
    const int index = connections++;
    open_fds.insert(fd);
    ++threads;
    std::thread([self = shared_from_this(), fd, index] { self->Serve(fd, index); }).detach();
    Event();
  }
  std::lock_guard<std::mutex> lock(mu);
  --threads;
  Event();
}

void TestBackend::Impl::Serve(int fd, int index) {
  asio::io_context ioc;
  tcp::socket socket(ioc);
  boost::system::error_code ec;
  socket.assign(tcp::v4(), fd, ec);
  beast::flat_buffer buffer;
  bool peer_closed = false;
  while (!ec) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(1 << 20);
    parser.body_limit(64u << 20);
    http::read(socket, buffer, parser, ec);
    if (ec) {
      peer_closed = ec == http::error::end_of_stream || ec == http::error::partial_message ||
                    ec == asio::error::eof || ec == asio::error::connection_reset;
      break;
    }
    const auto& req = parser.get();
    BackendRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    for (const auto& f : req) r.headers.emplace_back(f.name_string(), f.value());
    r.body = req.body();
    r.connection = index;
    const bool websocket = r.Header("upgrade").value_or("").find("websocket") != std::string::npos;
    int answer_status = 200;
    {
      std::unique_lock<std::mutex> lock(mu);
      const size_t number = requests.size();
      requests.push_back(std::move(r));
      if (hold) held.insert(number);
      Event();
      cv.wait(lock, [&] { return stopping || held.count(number) == 0; });
      if (stopping) break;
      answer_status = status;
    }
    if (websocket) {
      const std::string head =
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Accept: test\r\n\r\n";
      if (!SendAll(fd, head)) break;
      // Echo whatever follows, starting with bytes already buffered.
      if (buffer.size() > 0) {
        std::string_view rest(static_cast<const char*>(buffer.data().data()), buffer.size());
        if (!SendAll(fd, rest)) break;
        buffer.consume(buffer.size());
      }
      char chunk[16384];
      for (;;) {
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) {
          peer_closed = true;
          break;
        }
        if (!SendAll(fd, std::string_view(chunk, static_cast<size_t>(n)))) break;
      }
      break;
    }
    const bool head = req.method() == http::verb::head;
    std::string out =
        "HTTP/1.1 " + std::to_string(answer_status) +
        " Test\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(name.size()) +
        "\r\n";
    if (!req.keep_alive()) out += "Connection: close\r\n";
    out += "\r\n";
    if (!head) out += name;
    if (!SendAll(fd, out) || !req.keep_alive()) break;
  }
  std::lock_guard<std::mutex> lock(mu);
  if (peer_closed) closed_by_peer.insert(index);
  open_fds.erase(fd);
  socket.close(ec);  // closes fd
  --threads;
  Event();
}

TestBackend::TestBackend(std::string name) : impl_(std::make_shared<Impl>()) {
  impl_->name = std::move(name);
  impl_->listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(impl_->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(impl_->listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(impl_->listen_fd, 128) != 0) {
    std::abort();
  }
  socklen_t len = sizeof addr;
  ::getsockname(impl_->listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  impl_->port = ntohs(addr.sin_port);
  impl_->threads = 1;
  std::thread([impl = impl_] { impl->AcceptLoop(); }).detach();
}

TestBackend::~TestBackend() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->stopping = true;
  ::shutdown(impl_->listen_fd, SHUT_RDWR);  // wakes accept()
  for (int fd : impl_->open_fds) ::shutdown(fd, SHUT_RDWR);
  impl_->Event();
  impl_->cv.wait(lock, [&] { return impl_->threads == 0; });
  ::close(impl_->listen_fd);
}

int TestBackend::Port() const { return impl_->port; }
const std::string& TestBackend::Name() const { return impl_->name; }

void TestBackend::SetStatus(int status) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->status = status;
}

void TestBackend::Hold(bool hold) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->hold = hold;
}

void TestBackend::Release(size_t index) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->held.erase(index);
  impl_->Event();
}

void TestBackend::ReleaseAll() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->held.clear();
  impl_->Event();
}

void TestBackend::ClearRequests() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->requests.clear();
  impl_->held.clear();
  impl_->Event();
}

std::vector<BackendRequest> TestBackend::Requests() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->requests;
}

size_t TestBackend::RequestCount() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->requests.size();
}

int TestBackend::Connections() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->connections;
}

int TestBackend::ConnectionsClosedByPeer() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return static_cast<int>(impl_->closed_by_peer.size());
}

bool TestBackend::ConnectionClosedByPeer(int connection) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->closed_by_peer.count(connection) != 0;
}

bool TestBackend::WaitUntil(const std::function<bool()>& done,
                            std::chrono::milliseconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (done()) return true;
    std::unique_lock<std::mutex> lock(impl_->mu);
    if (std::chrono::steady_clock::now() >= deadline) break;
    // `done` may read other state than the backend's (e.g. the proxy's metrics): re-check
    // at least every 50 ms.
    impl_->cv.wait_until(
        lock, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(50)));
  }
  return done();
}

}  // namespace ramp::proxy::testing
