// The daemon's HTTP API: JSON over HTTP/1.1 (TLS when given a certificate), bearer tokens with
// two roles, an audit log of every change, and server-sent events for watching rollouts.
// docs/serve.md lists the routes; the CLI (src/cli) is its client.
//
// Roles: a read-only token may read everything; an operator token may also apply, delete and
// act. /healthz and /metrics need no token. Every request that changes something — and every
// refused one — is appended to the audit log with its time, role, peer, method, path and status.
//
// Thread-safety: ApiServer's handlers run on the HTTP server's threads and call the Daemon,
// which is thread-safe; Stop may be called from any thread except a handler.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "daemon/daemon.h"
#include "ramp/clock.h"
#include "ramp/status.h"

namespace ramp::daemon {

class StandaloneRuns;

enum class Role { kNone, kReadOnly, kOperator };

// The two bearer tokens. Created on first start as <dir>/operator.token and <dir>/readonly.token
// (mode 0600, 32 random bytes as hex), read on later starts.
struct Tokens {
  std::string operator_token;
  std::string readonly_token;

  // The role of an "Authorization: Bearer …" header value (compared in constant time).
  Role RoleOf(std::string_view authorization) const;
};

// Reads the tokens in `dir`, creating the directory (0700) and missing tokens.
StatusOr<Tokens> LoadOrCreateTokens(const std::string& dir);

struct ApiOptions {
  std::string address = "127.0.0.1:9900";
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string audit_log;  // file the audit lines are appended to; required
  Tokens tokens;
  size_t max_body_bytes = 4 << 20;
  int threads = 2;
  const Clock* clock = nullptr;  // required
  // AnalysisRuns created through the API (`ramp create analysisrun`); null: refused (501).
  StandaloneRuns* runs = nullptr;
  // The process platform's state directory, whose instance output `GET …/logs` reads; empty: the
  // platform keeps no logs (501).
  std::string instance_logs_dir;
  // More Prometheus text appended to /metrics (the notifier's notification_send_* counters).
  std::function<std::string()> extra_metrics;
};

class ApiServer {
 public:
  // Starts serving `daemon` (which must outlive the server).
  static StatusOr<std::unique_ptr<ApiServer>> Start(ApiOptions options, Daemon* daemon);
  virtual ~ApiServer() = default;
  // The bound address, "127.0.0.1:9900".
  virtual std::string Address() const = 0;
  virtual bool Tls() const = 0;
  virtual void Stop() = 0;
};

// The API's view of a rollout: {"rollout": Argo's Rollout object with its status, "revisions":
// [...instances], "analysisRuns": [Argo's AnalysisRun objects]}.
nlohmann::json RolloutViewJson(const RolloutView& view);

}  // namespace ramp::daemon
