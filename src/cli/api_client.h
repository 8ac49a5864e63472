// ApiClient: how the CLI's rollout verbs reach a running `ramp serve` — its address and token
// resolved from flags, the environment or the daemon's state directory — and one synchronous
// JSON call at a time.
//
// Resolution, first match wins: --server / RAMP_SERVER, else <state>/endpoint.json; --token-file
// / RAMP_TOKEN_FILE, else RAMP_TOKEN (the token itself), else <state>/tokens/operator.token;
// <state> is --state / RAMP_STATE.
//
// Thread-safety: one client per thread.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "ramp/http_client.h"
#include "ramp/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace ramp::cli {

struct ConnectionFlags {
  std::string server;
  std::string token_file;
  std::string state_dir;
  std::string ca_file;
  bool insecure = false;
};

// Adds --server, --token-file, --state, --ca-file, --insecure to `cmd`.
void AddConnectionFlags(CLI::App* cmd, ConnectionFlags* flags);

class ApiClient {
 public:
  // kFailedPrecondition with what to do when no server or token can be found.
  static StatusOr<std::unique_ptr<ApiClient>> Connect(const ConnectionFlags& flags);

  // Sends a request; the answer's JSON body, or an error carrying the server's message (and its
  // hint) with a code from the HTTP status (404 → kNotFound, 401 → kPermissionDenied, …).
  StatusOr<nlohmann::json> Call(const std::string& method, const std::string& path,
                                const std::string& body = "",
                                const std::string& content_type = "application/json");

  const std::string& server() const { return server_; }

 private:
  ApiClient() = default;
  std::string server_;
  std::string token_;
  std::string ca_file_;
  bool insecure_ = false;
  std::unique_ptr<HttpClient> http_;
};

// "ns/name" path segments, percent-encoded.
std::string PathSegment(const std::string& s);

}  // namespace ramp::cli
