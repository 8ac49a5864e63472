// HttpTestServer: a test fake — a tiny HTTP/1.1 server on 127.0.0.1 (port chosen by the kernel)
// for tests of the HTTP client and of everything built on it (metric providers, webhooks).
// Each request is answered by a handler; optional TLS with a self-signed certificate generated in
// memory at start-up (CN and subjectAltName 127.0.0.1 / localhost), optionally requiring a client
// certificate. A response body can be streamed piece by piece while the test watches the client
// (TestBodyStream). Never use it in production.
//
// Thread-safety: the server runs on its own thread; the handler runs on that thread (one request
// at a time; delays do not block other connections). Url(), Port(), CertPem() and
// RequestCount() may be called from any thread, and so may every TestBodyStream method.
// Destroying the server closes every connection, including those waiting on a delay or streaming,
// and joins the thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ramp/clock.h"
#include "ramp/http_client.h"

namespace ramp::testing {

struct TestRequest {
  std::string method;
  std::string target;  // path and query, as sent
  HttpHeaders headers;
  std::string body;
  // With HttpTestServerOptions::client_ca_pem: the subject CN of the client's certificate.
  std::string client_cert_cn;
};

// A response body the test writes while the response is on the wire: the server sends the
// header at once, then each piece as soon as it is written — one chunk per piece with
// TestResponse::chunked, else the raw bytes (set a Content-Length header, or until_close).
// The connection closes when the body ends: streamed responses are never kept alive.
class TestBodyStream {
 public:
  void Write(std::string piece);
  // Ends the body (chunked: sends the last chunk; otherwise closes the connection).
  void End();
  // Closes the connection after the pieces written so far, without ending the body.
  void Abort();
  // True once the client closed the connection (or it broke) while the body was being sent.
  bool ClientClosed() const;

  // For HttpTestServer's thread.
  struct Pending {
    std::vector<std::string> pieces;
    bool end = false;
    bool abort = false;
  };
  // `wake` runs (under the stream's lock, so it must only post work) whenever there is something
  // to send, and once on attaching; after Detach() returns it never runs again.
  void Attach(std::function<void()> wake);
  void Detach();
  Pending Take();
  void SetClientClosed();

 private:
  mutable std::mutex mu_;
  std::function<void()> wake_;
  Pending pending_;
  bool client_closed_ = false;
};

// A certificate and its private key, both PEM.
struct TestCertificate {
  std::string cert_pem;
  std::string key_pem;
};

// A self-signed CA certificate (P-256) with subject CN `cn`, valid for a week.
TestCertificate MakeTestCa(const std::string& cn);
// A client certificate (extendedKeyUsage clientAuth) with subject CN `cn`, signed by `ca`.
TestCertificate MakeTestClientCertificate(const std::string& cn, const TestCertificate& ca);

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
  // When set, `body` and `delay` are ignored and the body is whatever the test writes here. One
  // response per TestBodyStream.
  std::shared_ptr<TestBodyStream> body_stream;
};

using TestHandler = std::function<TestResponse(const TestRequest&)>;

struct HttpTestServerOptions {
  bool tls = false;
  // With tls: require a client certificate that verifies against these CA certificates (PEM);
  // a connection without one fails its handshake. Empty = no client certificate asked for.
  std::string client_ca_pem;
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
