// TestBackend: a test fake for the built-in proxy's tests and fuzz target — a loopback HTTP/1.1
// upstream instance (port chosen by the kernel) that answers every request with its name, can
// hold answers until the test releases them, answers a WebSocket handshake with 101 and then
// echoes bytes, and reports what it saw: requests, connections, connections its peer closed.
// Never use it in production.
//
// Thread-safety: every method may be called from any thread. The backend serves each connection
// on a thread of its own; destroying it closes every connection (held answers included) and waits
// for those threads.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ramp::proxy::testing {

struct BackendRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // as received
  std::string body;
  int connection = 0;  // index of the connection it came on (0 = first accepted)
  // The first header `name` (case-insensitive), or nullopt.
  std::optional<std::string> Header(std::string_view name) const;
};

class TestBackend {
 public:
  explicit TestBackend(std::string name);
  ~TestBackend();
  TestBackend(const TestBackend&) = delete;
  TestBackend& operator=(const TestBackend&) = delete;

  int Port() const;
  const std::string& Name() const;
  // The status of later answers (default 200); the body is always the name.
  void SetStatus(int status);
  // While holding, a request that arrives is recorded at once but answered only when released.
  void Hold(bool hold);
  // Answers held request number `index` (in arrival order, as in Requests()).
  void Release(size_t index);
  // Answers every held request.
  void ReleaseAll();

  // Forgets the requests recorded so far (numbering restarts at 0); for long runs (fuzzing).
  void ClearRequests();

  std::vector<BackendRequest> Requests() const;
  size_t RequestCount() const;
  int Connections() const;              // accepted so far
  int ConnectionsClosedByPeer() const;  // connections whose peer closed (EOF or reset)
  bool ConnectionClosedByPeer(int connection) const;

  // Waits until `done()` holds, re-checking whenever the backend sees something (and at least
  // every 50 ms), for at most `limit`; returns done().
  bool WaitUntil(const std::function<bool()>& done,
                 std::chrono::milliseconds limit = std::chrono::seconds(10)) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace ramp::proxy::testing
