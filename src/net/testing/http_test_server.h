// HttpTestServer: a test fake — a tiny HTTP/1.1 server on 127.0.0.1 (port chosen by the kernel)
// for tests of the HTTP client and of everything built on it (metric providers, webhooks).
// Each request is answered by a handler; optional TLS with a self-signed certificate generated in
// memory at start-up (CN and subjectAltName 127.0.0.1 / localhost). Never use it in production.
//
// Thread-safety: the server runs on its own thread; the handler runs on that thread (one request
// at a time; delays do not block other connections). Url(), Port(), CertPem() and
// RequestCount() may be called from any thread. Destroying the server closes every connection,
// including those waiting on a delay, and joins the thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "ramp/clock.h"
#include "ramp/http_client.h"

namespace ramp::testing {

struct TestRequest {
  std::string method;
  std::string target;  // path and query, as sent
  HttpHeaders headers;
  std::string body;
};

struct TestResponse {
  int status = 200;
  HttpHeaders headers;
  std::string body;
  bool chunked = false;  // send the body with Transfer-Encoding: chunked
  // Send no Content-Length: the body ends when the server closes the connection (TLS: without
  // close_notify).
  bool until_close = false;
  Duration delay{0};  // wait this long before answering
  bool close_without_answer = false;
};

using TestHandler = std::function<TestResponse(const TestRequest&)>;

struct HttpTestServerOptions {
  bool tls = false;
};

class HttpTestServer {
 public:
  explicit HttpTestServer(TestHandler handler, HttpTestServerOptions options = {});
  ~HttpTestServer();
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  int Port() const;
  // "http://127.0.0.1:<port>" or "https://127.0.0.1:<port>", no trailing slash.
  std::string Url() const;
  // The self-signed certificate in PEM (empty without TLS).
  const std::string& CertPem() const;
  // Requests fully read so far.
  int RequestCount() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ramp::testing
