// A real Prometheus server for integration tests: the Debian package's `prometheus` binary,
// started on a free loopback port with a fresh data directory and a scrape configuration that
// scrapes one target the test runs, and stopped (with its process group) when the object goes.
//
// Test-only. Everything stays on 127.0.0.1; the server never outlives the test.
//
// Thread-safety: Start and the destructor from one thread; Url() from any.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "ramp/clock.h"
#include "ramp/status.h"

namespace ramp::testing {

class PrometheusServer {
 public:
  // Starts `prometheus` scraping http://<target>/metrics (target "127.0.0.1:PORT") every
  // `scrape_interval`, and waits (bounded by `ready_within`) until it answers /-/ready.
  // kNotFound when the binary is not installed (scripts/setup installs it).
  static StatusOr<std::unique_ptr<PrometheusServer>> Start(std::string_view target,
                                                           Duration scrape_interval,
                                                           Duration ready_within);

  ~PrometheusServer();
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  // "http://127.0.0.1:PORT".
  const std::string& Url() const { return url_; }

  // Runs an instant query with a blocking HTTP GET (test plumbing, independent of ramp's own
  // client) and returns the raw JSON body; an error when the server cannot be reached.
  StatusOr<std::string> Query(std::string_view promql) const;

  // Polls Query(`promql`) until its body contains `needle`, bounded by `within`.
  Status WaitUntilQueryContains(std::string_view promql, std::string_view needle,
                                Duration within) const;

 private:
  PrometheusServer() = default;

  pid_t pid_ = -1;
  int port_ = 0;
  std::string url_;
  std::string dir_;  // config and data, removed at the end
};

// A scrape target: serves GET /metrics on 127.0.0.1 with the text the test sets (Prometheus'
// text exposition format), one connection at a time on its own thread.
class ScrapeTarget {
 public:
  static StatusOr<std::unique_ptr<ScrapeTarget>> Start();
  ~ScrapeTarget();
  ScrapeTarget(const ScrapeTarget&) = delete;
  ScrapeTarget& operator=(const ScrapeTarget&) = delete;

  // "127.0.0.1:PORT".
  std::string Address() const;
  void SetText(std::string text);
  int scrapes() const { return scrapes_.load(); }

 private:
  ScrapeTarget() = default;
  void Serve();

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> scrapes_{0};
  mutable std::mutex mu_;
  std::string text_;
  std::thread thread_;
};

// A free TCP port on 127.0.0.1 (bound, read and released; a small race is accepted in tests).
StatusOr<int> FreeLoopbackPort();

// A blocking HTTP/1.0 GET of http://127.0.0.1:`port``target`: the status and body.
struct PlainResponse {
  int status = 0;
  std::string body;
};
StatusOr<PlainResponse> PlainGet(int port, std::string_view target, Duration timeout);

}  // namespace ramp::testing
