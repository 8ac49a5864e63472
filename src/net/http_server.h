// HttpServer: the general-purpose HTTP/1.1 (and HTTPS) server the controller daemon (`ramp
// serve`) uses for its JSON API and its server-sent-event watch streams.
//
// Each request is handed to one ServerHandler together with a ServerReply; the handler answers
// through the reply, at once or later from any thread, either with one complete ServerResponse
// (Send) or with a response streamed in pieces (Stream). Connections are kept alive; requests on
// one connection are answered in order — the next request is read only after the previous reply
// was sent, so a stream occupies its connection until it ends. A reply dropped without an answer
// is answered "500 handler did not answer"; a handler that throws is answered 500 as well.
//
// The server enforces its limits itself and answers them with short text/plain bodies: a request
// header over max_header_bytes → 431, a body over max_body_bytes → 413 (Content-Length or
// chunked), malformed input → 400, a header not complete within header_timeout → 408; each of
// these closes the connection. The body must arrive within idle_timeout; an idle keep-alive
// connection is closed after idle_timeout; connections beyond max_connections are closed at
// accept. Non-stream replies always carry Content-Length (HEAD: the GET length, no body; 204 and
// 304: neither); streams use chunked encoding (HTTP/1.0 clients: the body until the connection
// closes). A stream notices its client leaving at once (the server keeps a read pending on the
// connection), which closes it; a client that leaves while a non-stream reply is still pending is
// noticed when the answer is written.
//
// Asio, Beast and OpenSSL stay in http_server.cc: this header exposes none of them.
//
// Thread-safety: HttpServer's methods may be called from any thread except Stop (and the
// destructor), which must not be called from a handler or any other server thread. The handler
// runs on one of the server's threads (`threads` of them) and must not block: slow work goes
// elsewhere and answers through the reply later. ServerReply and ServerStream are thread-safe;
// their methods may be called from any thread, also after Stop (they then do nothing).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ramp/clock.h"
#include "ramp/status.h"

namespace ramp::net {

// One request as received.
struct ServerRequest {
  std::string method;  // "GET", as sent (methods are case-sensitive)
  std::string target;  // "/v1/rollouts/default/x?watch=1", as sent
  std::string path;    // "/v1/rollouts/default/x", percent-decoded
  // The query, percent-decoded ('+' is a space); a key given twice keeps its first value; a key
  // without '=' maps to "".
  std::map<std::string, std::string> query;
  // Names lower-cased; a repeated header's values joined with ", ".
  std::map<std::string, std::string> headers;
  std::string body;  // de-chunked
  std::string peer;  // "127.0.0.1:5555", "[::1]:5555"

  // The value of the header `lower_name` (lower-case), or "" when absent.
  std::string Header(std::string_view lower_name) const;
};

// A complete answer. The server sets Content-Length (except on 204 and 304, which carry no body),
// Transfer-Encoding and Connection itself (such headers given here are ignored; "Connection:
// close" closes the connection after the response). A Content-Type in `headers` replaces
// content_type. A status outside 200..599 or a header name/value that is not valid HTTP is
// answered 500 instead (and logged to stderr).
struct ServerResponse {
  int status = 200;
  std::string content_type = "application/json";  // empty = no Content-Type header
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// A response streamed in pieces (server-sent events). Thread-safe: Write/End from any thread.
// Dropping the last reference ends the stream as End does.
class ServerStream {
 public:
  virtual ~ServerStream() = default;
  // Queues `data` as the next piece (an empty piece is ignored). False — and nothing queued —
  // once the client is gone, End ran or the server stopped, and when queueing `data` would put
  // more than max_stream_buffer_bytes in the queue: the client is not reading, so its connection
  // is closed and the stream is no longer Open.
  virtual bool Write(std::string data) = 0;
  // Ends the response after what is queued; the connection then serves its next request.
  virtual void End() = 0;
  // True until the client is gone, End ran, the server stopped or the queue overflowed.
  virtual bool Open() const = 0;
};

// How a handler answers: exactly one of Send or Stream, from any thread, any time later. Calls
// after the first answer are ignored (Stream then returns a stream that is not Open).
class ServerReply {
 public:
  virtual ~ServerReply() = default;
  virtual void Send(ServerResponse response) = 0;
  // Sends the head of a streamed response; the body follows through the returned stream.
  virtual std::shared_ptr<ServerStream> Stream(
      int status, std::string content_type,
      std::vector<std::pair<std::string, std::string>> headers = {}) = 0;
};

struct HttpServerOptions {
  // host:port to listen on. The host is an IP literal ("127.0.0.1", "[::1]"), a name to resolve
  // ("localhost": the first address that binds), or empty (":8080": every IPv4 interface).
  // Port 0 picks a free one (see Port()).
  std::string address = "127.0.0.1:0";
  // Both set: HTTPS with this PEM certificate chain and PEM private key.
  std::string tls_cert_file;
  std::string tls_key_file;
  size_t max_header_bytes = 16 * 1024;  // request line and headers
  size_t max_body_bytes = 1 << 20;
  Duration header_timeout = std::chrono::seconds(10);  // for the whole header (and TLS handshake)
  Duration idle_timeout = std::chrono::seconds(60);    // keep-alive idle; body; each write
  int max_connections = 1024;
  int threads = 1;
  // Bytes a stream may have queued and not yet written before its client counts as stuck.
  size_t max_stream_buffer_bytes = size_t{8} << 20;
};

using ServerHandler = std::function<void(ServerRequest, std::shared_ptr<ServerReply>)>;

class HttpServer {
 public:
  // Binds, listens and starts the threads. Errors: kInvalidArgument for bad options (malformed
  // address, a TLS file unreadable or not valid PEM, a key that does not match the certificate);
  // kUnavailable when the address cannot be resolved or bound (the message names the address).
  static StatusOr<std::unique_ptr<HttpServer>> Start(HttpServerOptions options,
                                                     ServerHandler handler);

  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port and "host:port" (IPv6 hosts in brackets), e.g. "127.0.0.1:43121".
  uint16_t Port() const;
  std::string Address() const;

  // Closes the listener and every connection (open streams end: Open() turns false), and waits
  // for the server's threads. Replies answered later are dropped. Idempotent; the destructor
  // calls it.
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ramp::net
