// The behaviour of ramp-demo-app, the HTTP server that ramp's demo and tests run as the versions
// of a Rollout: which answer a request gets (health, version, metrics, or the app's own answer,
// which fails with a configured probability after a configured delay), and how its options are
// read from flags and the environment. Pure: no sockets, no clock; randomness comes in as a draw.
//
// Thread-safety: DemoOptions is a value; AnswerRequest is a pure function; DemoCounters is safe
// to update and render from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ramp/status.h"

namespace ramp::demo_app {

struct DemoOptions {
  std::string bind = "127.0.0.1";
  int port = 8080;
  std::string version = "v1";
  double error_rate = 0.0;              // 0..1
  std::chrono::nanoseconds latency{0};  // added before each app answer
  int max_connections = 512;
  std::chrono::seconds idle_timeout{30};
};

// What the command line gave; unset fields fall back to the environment, then to defaults.
struct DemoFlags {
  std::optional<std::string> bind;        // BIND_ADDRESS
  std::optional<std::string> port;        // PORT
  std::optional<std::string> version;     // VERSION
  std::optional<std::string> error_rate;  // ERROR_RATE
  std::optional<std::string> latency;     // LATENCY
  std::optional<int> max_connections;
};

// Reads one environment variable; nothing when unset.
using GetEnv = std::function<std::optional<std::string>(const std::string&)>;

// Flags, then the environment, then defaults; checks ranges: port 0..65535 (0 = any free port),
// error rate 0..1, latency 0..60s ("250ms", "1.5s": Go's duration syntax without a sign),
// max connections >= 1. Errors name the flag or variable and the bad value.
StatusOr<DemoOptions> ResolveOptions(const DemoFlags& flags, const GetEnv& getenv);

struct Answer {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  bool delay = false;  // the configured latency applies before sending
};

// Counts answers by status class, for GET /metrics.
class DemoCounters {
 public:
  void Count(int status);
  // Prometheus text: ramp_demo_requests_total{code="2xx"|"4xx"|"5xx",version="…"}.
  std::string Render(std::string_view version) const;

 private:
  std::array<std::atomic<uint64_t>, 3> by_class_{};
};

// The answer to `method target`. `draw` is uniform in [0, 1) and decides an injected error:
// GET /healthz → 200 "ok"; GET /version → the version; GET /metrics → the counters; any other
// request → after the latency, 500 "injected error" with probability error_rate, else 200 with
// JSON {"version": …, "path": …}. The metrics body is filled in by the caller.
Answer AnswerRequest(const DemoOptions& options, std::string_view method, std::string_view target,
                     double draw);

}  // namespace ramp::demo_app
