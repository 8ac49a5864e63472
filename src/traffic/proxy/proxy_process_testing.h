// ProxyProcess: the real `ramp proxy` binary of the build, started for an integration test with
// its admin API on 127.0.0.1 port 0 and a bearer token, in a temp dir of its own. The chosen admin
// port is read from the line the proxy prints at start ("…; admin on port N"). The process is
// stopped with its process group (SIGTERM, then SIGKILL) when the object goes. Test-only.
//
// Also: a free loopback port, and a blocking GET through ramp's real HttpClient.
//
// Thread-safety: Start, Stop and the destructor from one thread; the accessors from any.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "ramp/clock.h"
#include "ramp/http_client.h"
#include "ramp/status.h"

namespace ramp::proxy_router::testing {

class ProxyProcess {
 public:
  // Starts `<RAMP_BINARY_DIR>/src/cli/ramp proxy` and waits (bounded by `within`) until its admin
  // API answers /healthz. kNotFound when the binary has not been built.
  static StatusOr<std::unique_ptr<ProxyProcess>> Start(Duration within = std::chrono::seconds(20));

  ~ProxyProcess();
  ProxyProcess(const ProxyProcess&) = delete;
  ProxyProcess& operator=(const ProxyProcess&) = delete;

  // SIGTERM (then SIGKILL after 10 s) and wait; idempotent.
  void Stop();

  // "http://127.0.0.1:PORT".
  const std::string& AdminUrl() const { return admin_url_; }
  const std::string& Token() const { return token_; }
  // What the proxy printed so far (stdout and stderr).
  std::string Log() const;

 private:
  ProxyProcess() = default;

  pid_t pid_ = -1;
  std::string dir_;
  std::string admin_url_;
  std::string token_;
};

// A free TCP port on 127.0.0.1 (bound, read and released; a small race is accepted in tests).
StatusOr<int> FreeLoopbackPort();

// Sends `request` through `http` and waits for the answer (bounded by the request's timeout plus
// a margin).
StatusOr<HttpResponse> SendAndWait(HttpClient& http, HttpRequest request);

}  // namespace ramp::proxy_router::testing
