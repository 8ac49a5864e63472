// HttpClient: outbound HTTP(S) for everything that talks to a server — metric providers
// (Prometheus, Datadog, web, …), webhooks, the built-in proxy's admin API, the Kubernetes and
// etcd clients.
//
// Asynchronous: Send returns at once and reports through a callback (see ramp/common.h), so a
// slow server never blocks a rollout's queue. The implementation (Asio/Beast) lives in src/net/;
// tests use fakes. One request, one response: no automatic retries, no redirects followed
// (a 3xx is returned as a response), no cookies.
//
// Contract: any response that arrives is a value, whatever its status code — a 500 is an
// HttpResponse, not an error; the caller decides what a status means. Errors are requests that
// got no complete response, each with a message naming the method and URL:
//   kInvalidArgument   malformed URL, unsupported scheme, bad header, unreadable ca_file
//   kUnavailable       DNS failure, connection refused/reset, TLS handshake or verification
//                      failure (the message says which)
//   kDeadlineExceeded  no complete response within the timeout
//   kResourceExhausted response body larger than max_response_bytes
//   kCancelled         the client was shut down before the response arrived
//
// Thread-safety: one client serves the whole daemon; Send may be called concurrently from any
// thread. `done` runs on the client's event-loop thread (or inline for argument errors) and must
// not block.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ramp/clock.h"
#include "ramp/common.h"
#include "ramp/status.h"

namespace ramp {

// Header fields in order; names compare case-insensitively, repeated names are allowed.
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// The value of the first header named `name` (case-insensitive), or nullptr.
const std::string* FindHeader(const HttpHeaders& headers, std::string_view name);

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // http://host[:port]/path?query or https://…
  HttpHeaders headers;
  std::string body;
  // From the first byte sent to the last byte received (connect included).
  Duration timeout = std::chrono::seconds(30);
  // Skip TLS certificate and host-name verification (Argo's `insecure`, Flagger's disableTLS).
  bool insecure_skip_verify = false;
  // PEM file of CA certificates to trust instead of the system's; empty = system store.
  std::string ca_file;
  size_t max_response_bytes = size_t{64} << 20;  // 64 MiB
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;
};

using HttpCallback = std::function<void(StatusOr<HttpResponse>)>;

class HttpClient {
 public:
  virtual ~HttpClient() = default;

  // Sends `request` and reports the response or why there is none.
  virtual void Send(HttpRequest request, HttpCallback done) = 0;
};

struct HttpClientOptions {
  // A User-Agent header added to requests that carry none.
  std::string user_agent;  // empty = "ramp/<version>"
};

// The real client (src/net): HTTP/1.1 over TCP, HTTPS with OpenSSL (SNI, verification against the
// system store or the request's ca_file, host-name verification). One connection per request.
// It owns one event-loop thread. Destroying it completes every request still in flight with
// kCancelled and joins that thread; no callback runs after the destructor returns. It must not be
// destroyed from inside one of its callbacks.
std::unique_ptr<HttpClient> NewHttpClient(const HttpClientOptions& options = {});

}  // namespace ramp
