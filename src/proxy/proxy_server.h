// ProxyServer: ramp's built-in HTTP/1.1 reverse proxy (the data plane). It serves any number of
// services, each on its own listen address with its own RouteTable, and is configured over an
// admin API (see docs/proxy.md). Route tables are immutable snapshots swapped atomically; every
// applied change is persisted to the state file and reloaded at start.
//
// Thread-safety: Start, Apply, Remove, Get, List, port lookups and Stop may be called from any
// thread. Worker threads (one io_context each) serve requests; the admin API has its own thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/route_table.h"
#include "ramp/status.h"

namespace ramp::proxy {

struct ProxyLimits {
  size_t max_header_bytes = 16 * 1024;  // request line and headers
  size_t max_header_count = 100;
  uint64_t max_body_bytes = 64ull << 20;  // request body (streamed, never buffered whole)
  std::chrono::milliseconds header_read_timeout{10000};  // slowloris bound
  size_t max_connections = 10000;                        // client connections, all services
  std::chrono::milliseconds shutdown_grace{10000};       // in-flight bound on Stop
  size_t max_mirrors_per_worker = 64;  // concurrent mirror copies per worker; more are dropped
  uint64_t max_mirror_body_bytes = 64 * 1024;  // larger (or chunked) bodies are not mirrored
};

struct ProxyOptions {
  int threads = 0;  // 0: hardware concurrency
  // Admin API: exactly one of admin_socket (unix socket path) and admin_address ("127.0.0.1:P";
  // port 0 picks a free one). admin_token, when not empty, is required as "Bearer <token>"; it
  // must be set with admin_address. Both empty: no admin API (tests use Apply directly).
  std::string admin_socket;
  std::string admin_address;
  std::string admin_token;
  std::string state_file;  // empty: no persistence
  ProxyLimits limits;
};

class ProxyServer {
 public:
  // Loads the state file (a missing file is an empty state), binds every service and the admin
  // API, and starts the threads.
  static StatusOr<std::unique_ptr<ProxyServer>> Start(ProxyOptions options);
  ~ProxyServer();  // Stop()
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  // Validates, binds (when the listen address changed), persists, then swaps the table of
  // service `name` in; returns the applied version.
  StatusOr<uint64_t> Apply(const std::string& name, RouteTable table);
  Status Remove(const std::string& name);
  std::optional<RouteTable> Get(const std::string& name) const;
  std::vector<std::string> List() const;

  // The bound port of a service's listener (useful with port 0), or 0.
  int ServicePort(const std::string& name) const;
  // The admin TCP port (admin_address mode), or 0.
  int AdminPort() const;
  // Prometheus text of every service's signals and the proxy's own counters.
  std::string MetricsText() const;
  // JSON signals of one service over the window ending now; NotFound when unknown.
  StatusOr<std::string> SignalsJson(const std::string& name, int window_seconds) const;

  // Stops accepting, lets in-flight requests finish (up to limits.shutdown_grace), closes idle
  // connections and joins the threads. Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit ProxyServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ramp::proxy
