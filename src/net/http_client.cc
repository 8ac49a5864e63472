// The real ramp::HttpClient: Boost.Beast HTTP/1.1 over Asio, OpenSSL for https. One io_context
// on one thread owned by the client; one connection per request; a per-request deadline timer.
// Every Boost exception is caught here and becomes a Status.
//
// Send reads the whole response; Stream hands the header and then each body piece to handlers as
// they arrive. TLS contexts (trust anchors and client certificate) are built from the request
// and shared between requests with the same settings.
//
// Thread-safety: Send and Stream may be called from any thread; all request state lives on the
// loop thread. A stream's handle may be dropped on any thread (see StreamControl).

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/none.hpp>
#include <cctype>
#include <charconv>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "ramp/http_client.h"

#ifndef RAMP_VERSION
#define RAMP_VERSION "dev"
#endif

namespace ramp {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

struct ParsedUrl {
  bool https = false;
  std::string host;  // without brackets for IPv6 literals
  std::string port;
  std::string host_header;
  std::string target;
};

StatusOr<ParsedUrl> ParseUrl(const std::string& url) {
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Fail(InvalidArgumentError("malformed URL: contains a space or control character"));
    }
  }
  size_t sep = url.find("://");
  if (sep == std::string::npos || sep == 0) {
    return Fail(InvalidArgumentError("malformed URL: no scheme"));
  }
  std::string scheme = url.substr(0, sep);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  ParsedUrl out;
  if (scheme == "https") {
    out.https = true;
  } else if (scheme != "http") {
    return Fail(InvalidArgumentError("unsupported scheme \"" + scheme + "\""));
  }
  size_t start = sep + 3;
  size_t end = url.find_first_of("/?#", start);
  std::string authority =
      url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (authority.find('@') != std::string::npos) {
    return Fail(InvalidArgumentError("malformed URL: user information is not supported"));
  }
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return Fail(InvalidArgumentError("malformed URL: bad host"));
    out.host = authority.substr(1, close - 1);
    std::string rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return Fail(InvalidArgumentError("malformed URL: bad host"));
      port = rest.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return Fail(InvalidArgumentError("malformed URL: no host"));
  if (port.empty()) {
    out.port = out.https ? "443" : "80";
  } else {
    int value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value < 1 || value > 65535) {
      return Fail(InvalidArgumentError("malformed URL: bad port \"" + port + "\""));
    }
    out.port = port;
  }
  out.host_header = authority;
  std::string target = end == std::string::npos ? "" : url.substr(end);
  if (size_t hash = target.find('#'); hash != std::string::npos) target.resize(hash);
  if (target.empty() || target[0] != '/') target = "/" + target;
  out.target = target;
  return out;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool IsFieldValue(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

// PEM text (HttpRequest::ca_pem, client_cert_pem, client_key_pem) to OpenSSL objects. OpenSSL
// keeps its errors in a per-thread queue; these helpers read and clear it, so that nothing stale
// is blamed on the next TLS operation of the calling thread.
struct OpenSslFree {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
template <typename T>
using OpenSslPtr = std::unique_ptr<T, OpenSslFree>;

// The most recent OpenSSL error of this thread as text; clears the queue.
std::string TakeOpenSslError() {
  unsigned long code = ERR_peek_last_error();
  std::string out = "unknown OpenSSL error";
  if (code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof(text));
    out = text;
  }
  ERR_clear_error();
  return out;
}

// A PEM passphrase callback that refuses: without it OpenSSL prompts on the terminal for an
// encrypted key, which would block the daemon.
int RefusePassphrase(char*, int, int, void*) { return -1; }

StatusOr<OpenSslPtr<BIO>> PemBio(const std::string& pem, std::string_view field) {
  if (pem.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return Fail(InvalidArgumentError(std::string(field) + " is too large"));
  }
  OpenSslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Fail(InvalidArgumentError(std::string(field) + ": " + TakeOpenSslError()));
  return bio;
}

// Every certificate in `pem` (other PEM blocks are skipped); an error when there is none or one
// does not parse.
StatusOr<std::vector<OpenSslPtr<X509>>> ReadCertificates(const std::string& pem,
                                                         std::string_view field) {
  ERR_clear_error();
  auto bio = PemBio(pem, field);
  if (!bio) return Fail(bio.error());
  std::vector<OpenSslPtr<X509>> certs;
  for (;;) {
    OpenSslPtr<X509> cert(PEM_read_bio_X509(bio->get(), nullptr, RefusePassphrase, nullptr));
    if (!cert) {
      unsigned long err = ERR_peek_last_error();
      if (!certs.empty() && ERR_GET_LIB(err) == ERR_LIB_PEM &&
          ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
        ERR_clear_error();  // the end of the text after at least one certificate
        return certs;
      }
      return Fail(InvalidArgumentError(
          std::string(field) + " is not valid PEM certificate text: " + TakeOpenSslError()));
    }
    certs.push_back(std::move(cert));
  }
}

StatusOr<OpenSslPtr<EVP_PKEY>> ReadPrivateKey(const std::string& pem, std::string_view field) {
  ERR_clear_error();
  auto bio = PemBio(pem, field);
  if (!bio) return Fail(bio.error());
  OpenSslPtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio->get(), nullptr, RefusePassphrase, nullptr));
  if (!key) {
    return Fail(InvalidArgumentError(
        std::string(field) + " is not a valid unencrypted PEM private key: " + TakeOpenSslError()));
  }
  return key;
}

// A client TLS context for `request`: the trust anchors (system store, ca_file, ca_pem) and the
// client certificate. Errors name the field at fault; the caller adds the method and URL.
StatusOr<std::shared_ptr<ssl::context>> NewTlsContext(const HttpRequest& request) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = context->native_handle();
  if (request.insecure_skip_verify) {
    context->set_verify_mode(ssl::verify_none);
  } else {
    if (request.ca_file.empty() && request.ca_pem.empty()) context->set_default_verify_paths();
    if (!request.ca_file.empty()) {
      error_code ec;
      context->load_verify_file(request.ca_file, ec);
      if (ec) {
        ERR_clear_error();
        return Fail(
            InvalidArgumentError("cannot read ca_file " + request.ca_file + ": " + ec.message()));
      }
    }
    if (!request.ca_pem.empty()) {
      auto cas = ReadCertificates(request.ca_pem, "ca_pem");
      if (!cas) return Fail(cas.error());
      X509_STORE* store = SSL_CTX_get_cert_store(native);
      for (const auto& ca : *cas) {
        if (X509_STORE_add_cert(store, ca.get()) != 1) {
          return Fail(
              InvalidArgumentError("ca_pem: cannot trust a certificate: " + TakeOpenSslError()));
        }
      }
    }
    context->set_verify_mode(ssl::verify_peer);
  }
  const bool has_cert = !request.client_cert_pem.empty();
  const bool has_key = !request.client_key_pem.empty();
  if (has_cert != has_key) {
    return Fail(InvalidArgumentError(
        has_cert ? "client_cert_pem is set but client_key_pem is empty: mutual TLS needs both"
                 : "client_key_pem is set but client_cert_pem is empty: mutual TLS needs both"));
  }
  if (has_cert) {
    auto chain = ReadCertificates(request.client_cert_pem, "client_cert_pem");
    if (!chain) return Fail(chain.error());
    auto key = ReadPrivateKey(request.client_key_pem, "client_key_pem");
    if (!key) return Fail(key.error());
    if (SSL_CTX_use_certificate(native, chain->front().get()) != 1) {
      return Fail(InvalidArgumentError("client_cert_pem: the certificate cannot be used: " +
                                       TakeOpenSslError()));
    }
    for (size_t i = 1; i < chain->size(); ++i) {
      if (SSL_CTX_add1_chain_cert(native, (*chain)[i].get()) != 1) {
        return Fail(InvalidArgumentError("client_cert_pem: a chain certificate cannot be used: " +
                                         TakeOpenSslError()));
      }
    }
    // SSL_CTX_use_PrivateKey refuses a key that does not match the certificate set above.
    if (SSL_CTX_use_PrivateKey(native, key->get()) != 1 || SSL_CTX_check_private_key(native) != 1) {
      return Fail(InvalidArgumentError("client_key_pem does not match client_cert_pem: " +
                                       TakeOpenSslError()));
    }
  }
  return context;
}

class ClientImpl;

// What a stream's handle and its Exchange share. `mu` is held while a handler or `done` runs, so
// a handle dropped on another thread waits for the running call; `cancelled` (set under `mu`)
// stops every later call. A handle dropped from inside a handler runs on the thread that already
// holds `mu`: `handler_thread` recognises that case so the drop does not deadlock.
class StreamControl {
 public:
  StreamControl(HttpStreamHandlers handlers, StatusCallback done)
      : handlers_(std::move(handlers)), done_(std::move(done)) {}

  bool Cancelled() const { return cancelled_.load(); }

  // From the handle, on any thread: after it returns no handler and no `done` starts, and none
  // is running (unless called from inside one, which then is the last).
  void Cancel() {
    if (handler_thread_.load() == std::this_thread::get_id()) {
      cancelled_.store(true);  // inside our own handler: this thread holds mu_
      return;
    }
    std::lock_guard lock(mu_);
    cancelled_.store(true);
  }

  // The loop thread's calls. Each returns false when the stream is cancelled (before or during
  // the call), so the exchange stops reading.
  bool Head(const HttpResponse& head) {
    return Deliver([&] {
      if (handlers_.on_head) handlers_.on_head(head);
    });
  }
  bool Data(std::string_view data) {
    return Deliver([&] {
      if (handlers_.on_data) handlers_.on_data(data);
    });
  }
  // The last call. The handlers are destroyed here, outside mu_, on the loop thread: their
  // captures may own objects whose destructors drop this very stream's handle.
  void Done(Status status) {
    HttpStreamHandlers handlers = std::move(handlers_);
    StatusCallback done = std::move(done_);
    Deliver([&] {
      if (done) done(std::move(status));
    });
  }

 private:
  template <typename Call>
  bool Deliver(Call&& call) {
    std::lock_guard lock(mu_);
    if (cancelled_.load()) return false;
    handler_thread_.store(std::this_thread::get_id());
    try {
      call();
    } catch (...) {
      // Handlers must not throw; swallow rather than kill the loop.
    }
    handler_thread_.store(std::thread::id());
    return !cancelled_.load();
  }

  std::mutex mu_;
  std::atomic<bool> cancelled_{false};
  std::atomic<std::thread::id> handler_thread_{};
  // Loop thread only.
  HttpStreamHandlers handlers_;
  StatusCallback done_;
};

// The client's event loop as seen by stream handles, which may outlive the client: `ioc` is null
// once the client has begun shutting down (it then cancels every stream itself).
struct LoopRef {
  std::mutex mu;
  asio::io_context* ioc = nullptr;
};

// One request: resolve, connect, (handshake), write, read. Lives on the loop thread. Send mode
// reads the whole response into `parser_`; stream mode (SetStream) reads the header, then body
// pieces into `piece_`, handing each to the stream's handlers.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(ClientImpl* client, asio::io_context& ioc, std::shared_ptr<ssl::context> tls,
           ParsedUrl url, HttpRequest request, const std::string& user_agent)
      : client_(client),
        resolver_(ioc),
        timer_(ioc),
        tls_context_(std::move(tls)),
        url_(std::move(url)),
        request_(std::move(request)) {
    what_ = request_.method + " " + request_.url;
    out_.method_string(request_.method);
    out_.target(url_.target);
    out_.version(11);
    out_.set(http::field::host, url_.host_header);
    for (const auto& [name, value] : request_.headers) out_.insert(name, value);
    if (FindHeader(request_.headers, "User-Agent") == nullptr) {
      out_.set(http::field::user_agent, user_agent);
    }
    out_.set(http::field::connection, "close");
    out_.body() = request_.body;
    if (!request_.body.empty() || request_.method == "POST" || request_.method == "PUT" ||
        request_.method == "PATCH") {
      out_.prepare_payload();
    }
    if (tls_context_) {
      tls_stream_.emplace(ioc, *tls_context_);
    } else {
      plain_stream_.emplace(ioc);
    }
    parser_.body_limit(request_.max_response_bytes);
    if (request_.method == "HEAD") parser_.skip(true);
    parser_.header_limit(1 << 20);
  }

  void SetCallback(HttpCallback done) { done_ = std::move(done); }
  void SetStream(std::shared_ptr<StreamControl> stream) {
    stream_ = std::move(stream);
    stream_parser_.emplace();
    // A stream may run for hours (a Kubernetes watch): no body limit.
    stream_parser_->body_limit(boost::none);
    stream_parser_->header_limit(1 << 20);
    if (request_.method == "HEAD") stream_parser_->skip(true);
    piece_.resize(kPieceSize);
  }
  void Start();
  // The client shuts down: complete with kCancelled.
  void Cancel() {
    cancelled_ = true;
    Abort();
  }
  // The stream's handle was dropped: close the connection; `done` does not run.
  void Abandon() {
    if (!finished_) Fail(CancelledError(what_ + ": the stream was cancelled"));
  }

 private:
  static constexpr size_t kPieceSize = 16 * 1024;

  tcp::socket& Socket() { return tls_stream_ ? tls_stream_->next_layer() : *plain_stream_; }
  void Abort() {
    error_code ignored;
    resolver_.cancel();
    timer_.cancel();
    Socket().close(ignored);
  }
  bool Stopped() const { return cancelled_ || timed_out_; }

  void OnResolved(const error_code& ec, const tcp::resolver::results_type& results);
  void OnConnected(const error_code& ec);
  void OnHandshake(const error_code& ec);
  template <typename Stream>
  void WriteAndRead(Stream& stream);
  void OnRead(const error_code& ec);
  template <typename Stream>
  void ReadStreamBody(Stream& stream);
  void OnStreamHead(const error_code& ec);
  template <typename Stream>
  void OnStreamBody(Stream& stream, error_code ec);
  // A TLS peer that closes without close_notify ends a body delimited by the connection's end;
  // true when that ended the message.
  template <typename Parser>
  bool EndsAtTruncation(const error_code& ec, Parser& parser) {
    if (ec != ssl::error::stream_truncated || Stopped()) return false;
    error_code eof_ec;
    parser.put_eof(eof_ec);
    return !eof_ec && parser.is_done();
  }
  void Fail(Status status);
  void Finish(StatusOr<HttpResponse> result);
  // Closes the connection and forgets the exchange; true the first time.
  bool Close(bool clean);

  // Maps an error to the contract's codes, preferring what stopped the exchange.
  Status ErrorFor(const error_code& ec, std::string_view stage) {
    if (cancelled_) return CancelledError(what_ + ": the HTTP client shut down");
    if (timed_out_) {
      return DeadlineExceededError(what_ + ": no complete response within the timeout");
    }
    return UnavailableError(what_ + ": " + std::string(stage) + ": " + ec.message());
  }

  ClientImpl* client_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  std::shared_ptr<ssl::context> tls_context_;
  std::optional<tcp::socket> plain_stream_;
  std::optional<ssl::stream<tcp::socket>> tls_stream_;
  ParsedUrl url_;
  HttpRequest request_;
  HttpCallback done_;
  std::string what_;
  http::request<http::string_body> out_;
  http::response_parser<http::string_body> parser_;
  beast::flat_buffer buffer_;
  // Stream mode only.
  std::shared_ptr<StreamControl> stream_;
  std::optional<http::response_parser<http::buffer_body>> stream_parser_;
  std::vector<char> piece_;
  bool cancelled_ = false;
  bool timed_out_ = false;
  bool finished_ = false;
};

// The handle Stream returns. Dropping it cancels the stream (waiting for a running handler, see
// StreamControl) and asks the loop to close the connection.
class StreamHandle final : public Subscription {
 public:
  StreamHandle(std::shared_ptr<StreamControl> control, std::weak_ptr<Exchange> exchange,
               std::shared_ptr<LoopRef> loop)
      : control_(std::move(control)), exchange_(std::move(exchange)), loop_(std::move(loop)) {}

  ~StreamHandle() override {
    control_->Cancel();
    std::lock_guard lock(loop_->mu);
    if (loop_->ioc == nullptr) return;  // the client is shutting down and cancels the stream
    try {
      asio::post(*loop_->ioc, [exchange = std::move(exchange_)] {
        if (auto e = exchange.lock()) e->Abandon();
      });
    } catch (...) {
      // Out of memory: the stream is cancelled all the same; its connection closes at its
      // timeout or when the client shuts down.
    }
  }

 private:
  std::shared_ptr<StreamControl> control_;
  // Weak: an exchange owns sockets of the client's io_context and must not outlive the client
  // because a handle does.
  std::weak_ptr<Exchange> exchange_;
  std::shared_ptr<LoopRef> loop_;
};

class ClientImpl final : public HttpClient {
 public:
  explicit ClientImpl(const HttpClientOptions& options)
      : user_agent_(options.user_agent.empty() ? std::string("ramp/") + RAMP_VERSION
                                               : options.user_agent),
        work_(asio::make_work_guard(ioc_)),
        loop_(std::make_shared<LoopRef>()) {
    loop_->ioc = &ioc_;
    thread_ = std::thread([this] {
      for (;;) {
        try {
          ioc_.run();
          return;
        } catch (...) {
          // A handler threw (it should not); keep the loop alive.
        }
      }
    });
  }

  ~ClientImpl() override {
    {
      // From here on stream handles post nothing: the shutdown below cancels their streams.
      std::lock_guard lock(loop_->mu);
      loop_->ioc = nullptr;
    }
    asio::post(ioc_, [this] {
      shutting_down_ = true;
      auto live = live_;
      for (const auto& exchange : live) exchange->Cancel();
    });
    work_.reset();
    thread_.join();
  }

  void Send(HttpRequest request, HttpCallback done) override {
    auto exchange = NewExchange(std::move(request));
    if (!exchange) {
      done(::ramp::Fail(exchange.error()));
      return;
    }
    (*exchange)->SetCallback(std::move(done));
    Launch(*exchange);
  }

  std::unique_ptr<Subscription> Stream(HttpRequest request, HttpStreamHandlers handlers,
                                       StatusCallback done) override {
    auto exchange = NewExchange(std::move(request));
    if (!exchange) {
      done(exchange.error());
      return std::make_unique<Subscription>();
    }
    auto control = std::make_shared<StreamControl>(std::move(handlers), std::move(done));
    (*exchange)->SetStream(control);
    auto handle = std::make_unique<StreamHandle>(std::move(control), *exchange, loop_);
    Launch(*exchange);
    return handle;
  }

  void Done(const std::shared_ptr<Exchange>& exchange) { live_.erase(exchange); }

 private:
  // Validates `request` and builds its exchange; errors name the method and URL.
  StatusOr<std::shared_ptr<Exchange>> NewExchange(HttpRequest request) {
    std::string what = request.method + " " + request.url;
    auto url = ParseUrl(request.url);
    if (!url) return ::ramp::Fail(url.error().WithPrefix(what));
    if (!IsToken(request.method)) {
      return ::ramp::Fail(InvalidArgumentError(what + ": bad method"));
    }
    for (const auto& [name, value] : request.headers) {
      if (!IsToken(name) || !IsFieldValue(value)) {
        return ::ramp::Fail(InvalidArgumentError(what + ": bad header \"" + name + "\""));
      }
    }
    std::shared_ptr<ssl::context> tls;
    if (url->https) {
      auto context = TlsContext(request);
      if (!context) return ::ramp::Fail(context.error().WithPrefix(what));
      tls = *std::move(context);
    }
    try {
      return std::make_shared<Exchange>(this, ioc_, std::move(tls), *std::move(url),
                                        std::move(request), user_agent_);
    } catch (const std::exception& e) {
      return ::ramp::Fail(UnavailableError(what + ": cannot start the request: " + e.what()));
    }
  }

  void Launch(std::shared_ptr<Exchange> exchange) {
    asio::post(ioc_, [this, exchange = std::move(exchange)] {
      if (shutting_down_) exchange->Cancel();
      live_.insert(exchange);
      exchange->Start();
    });
  }

  // Contexts are shared between requests with the same TLS settings: building one (and parsing
  // its PEM) costs more than a request. A ca_file is re-read for every request, so that a
  // rotated file takes effect.
  StatusOr<std::shared_ptr<ssl::context>> TlsContext(const HttpRequest& request) {
    try {
      if (!request.ca_file.empty() && !request.insecure_skip_verify) {
        return NewTlsContext(request);
      }
      // ca_file (and ca_pem) are ignored when verification is off.
      TlsKey key{request.insecure_skip_verify,
                 request.insecure_skip_verify ? std::string() : request.ca_pem,
                 request.client_cert_pem, request.client_key_pem};
      {
        std::lock_guard lock(mu_);
        if (auto it = contexts_.find(key); it != contexts_.end()) return it->second;
      }
      auto context = NewTlsContext(request);
      if (!context) return context;
      std::lock_guard lock(mu_);
      // Bounded: a daemon that talks to ever-changing credentials does not grow without limit.
      if (contexts_.size() >= kMaxContexts) contexts_.clear();
      contexts_.emplace(std::move(key), *context);
      return context;
    } catch (const std::exception& e) {
      ERR_clear_error();
      return ::ramp::Fail(UnavailableError(std::string("TLS setup failed: ") + e.what()));
    }
  }

  // insecure_skip_verify, ca_pem, client_cert_pem, client_key_pem.
  using TlsKey = std::tuple<bool, std::string, std::string, std::string>;
  static constexpr size_t kMaxContexts = 32;

  const std::string user_agent_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::shared_ptr<LoopRef> loop_;
  std::thread thread_;
  std::mutex mu_;
  std::map<TlsKey, std::shared_ptr<ssl::context>> contexts_;  // guarded by mu_
  // Loop thread only.
  bool shutting_down_ = false;
  std::set<std::shared_ptr<Exchange>> live_;
};

void Exchange::Start() {
  if (cancelled_) return Fail(CancelledError(what_ + ": the HTTP client shut down"));
  if (stream_ && stream_->Cancelled()) return Abandon();
  auto self = shared_from_this();
  timer_.expires_after(request_.timeout);
  timer_.async_wait([self](const error_code& ec) {
    if (ec || self->finished_) return;
    self->timed_out_ = true;
    self->Abort();
  });
  resolver_.async_resolve(url_.host, url_.port,
                          [self](const error_code& ec, const tcp::resolver::results_type& r) {
                            self->OnResolved(ec, r);
                          });
}

void Exchange::OnResolved(const error_code& ec, const tcp::resolver::results_type& results) {
  if (finished_) return;
  if (ec || Stopped()) return Fail(ErrorFor(ec, "DNS resolution failed"));
  auto self = shared_from_this();
  asio::async_connect(Socket(), results, [self](const error_code& ec, const tcp::endpoint&) {
    self->OnConnected(ec);
  });
}

void Exchange::OnConnected(const error_code& ec) {
  if (finished_) return;
  if (ec || Stopped()) return Fail(ErrorFor(ec, "connect failed"));
  if (!tls_stream_) return WriteAndRead(*plain_stream_);
  SSL* native = tls_stream_->native_handle();
  error_code addr_ec;
  asio::ip::make_address(url_.host, addr_ec);
  if (addr_ec) SSL_set_tlsext_host_name(native, url_.host.c_str());
  if (!request_.insecure_skip_verify) {
    tls_stream_->set_verify_callback(ssl::host_name_verification(url_.host));
  }
  auto self = shared_from_this();
  tls_stream_->async_handshake(ssl::stream_base::client,
                               [self](const error_code& ec) { self->OnHandshake(ec); });
}

void Exchange::OnHandshake(const error_code& ec) {
  if (finished_) return;
  if (ec || Stopped()) {
    if (!Stopped()) {
      long verify = SSL_get_verify_result(tls_stream_->native_handle());
      if (verify != X509_V_OK) {
        return Fail(UnavailableError(what_ + ": TLS certificate verification failed: " +
                                     X509_verify_cert_error_string(verify)));
      }
    }
    return Fail(ErrorFor(ec, "TLS handshake failed"));
  }
  WriteAndRead(*tls_stream_);
}

template <typename Stream>
void Exchange::WriteAndRead(Stream& stream) {
  auto self = shared_from_this();
  http::async_write(stream, out_, [self, &stream](const error_code& ec, size_t) {
    if (self->finished_) return;
    if (ec || self->Stopped()) return self->Fail(self->ErrorFor(ec, "sending the request failed"));
    if (self->stream_) {
      http::async_read_header(stream, self->buffer_, *self->stream_parser_,
                              [self, &stream](const error_code& ec, size_t) {
                                self->OnStreamHead(ec);
                                if (!self->finished_) self->ReadStreamBody(stream);
                              });
      return;
    }
    http::async_read(stream, self->buffer_, self->parser_,
                     [self](const error_code& ec, size_t) { self->OnRead(ec); });
  });
}

void Exchange::OnRead(const error_code& ec) {
  if (finished_) return;
  if (ec == http::error::body_limit && !Stopped()) {
    return Fail(ResourceExhaustedError(what_ + ": response body larger than " +
                                       std::to_string(request_.max_response_bytes) + " bytes"));
  }
  if (ec && !EndsAtTruncation(ec, parser_))
    return Fail(ErrorFor(ec, "reading the response failed"));
  if (Stopped()) return Fail(ErrorFor(ec, "reading the response failed"));
  auto& in = parser_.get();
  HttpResponse response;
  response.status = static_cast<int>(in.result_int());
  for (const auto& field : in) {
    response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  response.body = std::move(in.body());
  Finish(std::move(response));
}

void Exchange::OnStreamHead(const error_code& ec) {
  if (finished_) return;
  if (ec || Stopped()) return Fail(ErrorFor(ec, "reading the response header failed"));
  auto& in = stream_parser_->get();
  HttpResponse head;
  head.status = static_cast<int>(in.result_int());
  for (const auto& field : in) {
    head.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  if (!stream_->Head(head)) return Abandon();
  // No body (HEAD, 204, 304, Content-Length: 0): the stream is over.
  if (stream_parser_->is_done()) Finish(HttpResponse{});
}

template <typename Stream>
void Exchange::ReadStreamBody(Stream& stream) {
  auto& body = stream_parser_->get().body();
  body.data = piece_.data();
  body.size = piece_.size();
  auto self = shared_from_this();
  // read_some, not read: it completes with whatever arrived (read would wait to fill the piece).
  http::async_read_some(
      stream, buffer_, *stream_parser_,
      [self, &stream](const error_code& ec, size_t) { self->OnStreamBody(stream, ec); });
}

template <typename Stream>
void Exchange::OnStreamBody(Stream& stream, error_code ec) {
  if (finished_) return;
  // The piece is full: not an error, the next read continues the body.
  if (ec == http::error::need_buffer) ec = {};
  size_t size = piece_.size() - stream_parser_->get().body().size;
  if (size > 0 && !stream_->Data(std::string_view(piece_.data(), size))) return Abandon();
  if (ec && !EndsAtTruncation(ec, *stream_parser_)) {
    return Fail(ErrorFor(ec, "reading the response body failed"));
  }
  if (Stopped()) return Fail(ErrorFor(ec, "reading the response body failed"));
  if (stream_parser_->is_done()) return Finish(HttpResponse{});
  ReadStreamBody(stream);
}

void Exchange::Fail(Status status) { Finish(::ramp::Fail(std::move(status))); }

bool Exchange::Close(bool clean) {
  if (finished_) return false;
  finished_ = true;
  error_code ignored;
  timer_.cancel();
  resolver_.cancel();
  if (tls_stream_ && clean) {
    // Best effort; the connection closes either way.
    tls_stream_->next_layer().shutdown(tcp::socket::shutdown_both, ignored);
  }
  Socket().close(ignored);
  client_->Done(shared_from_this());
  return true;
}

// Completes the exchange. In stream mode only the status of `result` matters (the response went
// to the handlers as it arrived).
void Exchange::Finish(StatusOr<HttpResponse> result) {
  auto self = shared_from_this();  // Close() drops the client's reference
  if (!Close(result.has_value())) return;
  if (stream_) {
    stream_->Done(result ? OkStatus() : result.error());
    return;
  }
  HttpCallback done = std::move(done_);
  try {
    done(std::move(result));
  } catch (...) {
    // Callbacks must not throw; swallow rather than kill the loop.
  }
}

}  // namespace

std::unique_ptr<HttpClient> NewHttpClient(const HttpClientOptions& options) {
  return std::make_unique<ClientImpl>(options);
}

}  // namespace ramp
