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
  // PEM text of CA certificates to trust (kubeconfig certificate-authority-data); with ca_file
  // both are trusted; either replaces the system store.
  std::string ca_pem;
  // Mutual TLS: a PEM certificate (chain) and its PEM private key presented to the server
  // (kubeconfig client-certificate-data / client-key-data). Both or neither; kInvalidArgument for
  // PEM that does not parse or a key that does not match the certificate.
  std::string client_cert_pem;
  std::string client_key_pem;
  size_t max_response_bytes = size_t{64} << 20;  // 64 MiB
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;
};

using HttpCallback = std::function<void(StatusOr<HttpResponse>)>;

// How HttpClient::Stream delivers a response as it arrives.
struct HttpStreamHandlers {
  // Once, with the status code and headers (body empty), before any data.
  std::function<void(const HttpResponse& head)> on_head;
  // Each piece of the body in order as it arrives (chunked framing removed; piece boundaries are
  // arbitrary: a line may be split across pieces).
  std::function<void(std::string_view data)> on_data;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;

  // Sends `request` and reports the response or why there is none.
  virtual void Send(HttpRequest request, HttpCallback done) = 0;

  // Sends `request` and delivers its response while it arrives: long-lived responses such as
  // Kubernetes watches. `request.timeout` bounds the whole stream (head and body);
  // max_response_bytes does not apply. `done` runs once after the last handler call: OK when the
  // body ended, otherwise the errors of Send (kDeadlineExceeded when the timeout cut the stream,
  // kUnavailable when the connection broke mid-body, kCancelled when the client shut down).
  // Handlers and `done` run on the client's thread and must not block. Dropping the returned
  // handle cancels the stream and closes its connection under the Subscription rule of
  // ramp/common.h: once its destructor returns neither the handlers nor `done` run again (it may
  // be dropped from inside a handler). The default implementation (for fakes) buffers: it calls
  // Send and delivers the whole body as one piece.
  virtual std::unique_ptr<Subscription> Stream(HttpRequest request, HttpStreamHandlers handlers,
                                               StatusCallback done);
};

struct HttpClientOptions {
  // A User-Agent header added to requests that carry none.
  std::string user_agent;  // empty = "ramp/<version>"
};

// The real client (src/net): HTTP/1.1 over TCP, HTTPS with OpenSSL (SNI, verification against the
// system store or the request's ca_file/ca_pem, host-name verification, client certificates).
// One connection per request.
// It owns one event-loop thread. Destroying it completes every request still in flight with
// kCancelled and joins that thread; no callback runs after the destructor returns. It must not be
// destroyed from inside one of its callbacks.
std::unique_ptr<HttpClient> NewHttpClient(const HttpClientOptions& options = {});

}  // namespace ramp
