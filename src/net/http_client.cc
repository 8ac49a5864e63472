// The real ramp::HttpClient: Boost.Beast HTTP/1.1 over Asio, OpenSSL for https. One io_context
// on one thread owned by the client; one connection per request; a per-request deadline timer.
// Every Boost exception is caught here and becomes a Status.
//
// Thread-safety: Send may be called from any thread; all request state lives on the loop thread.

#include <openssl/ssl.h>
#include <openssl/x509.h>

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
#include <cctype>
#include <charconv>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>

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

class ClientImpl;

// One request: resolve, connect, (handshake), write, read. Lives on the loop thread.
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
  void Start();
  void Cancel() {
    cancelled_ = true;
    Abort();
  }

 private:
  tcp::socket& Socket() { return tls_stream_ ? tls_stream_->next_layer() : *plain_stream_; }
  void Abort() {
    error_code ignored;
    resolver_.cancel();
    timer_.cancel();
    Socket().close(ignored);
  }

  void OnResolved(const error_code& ec, const tcp::resolver::results_type& results);
  void OnConnected(const error_code& ec);
  void OnHandshake(const error_code& ec);
  template <typename Stream>
  void WriteAndRead(Stream& stream);
  void OnRead(const error_code& ec);
  void Fail(Status status);
  void Finish(StatusOr<HttpResponse> result);

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
  bool cancelled_ = false;
  bool timed_out_ = false;
  bool finished_ = false;
};

class ClientImpl final : public HttpClient {
 public:
  explicit ClientImpl(const HttpClientOptions& options)
      : user_agent_(options.user_agent.empty() ? std::string("ramp/") + RAMP_VERSION
                                               : options.user_agent),
        work_(asio::make_work_guard(ioc_)) {
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
    asio::post(ioc_, [this] {
      shutting_down_ = true;
      auto live = live_;
      for (const auto& exchange : live) exchange->Cancel();
    });
    work_.reset();
    thread_.join();
  }

  void Send(HttpRequest request, HttpCallback done) override {
    std::string what = request.method + " " + request.url;
    auto url = ParseUrl(request.url);
    if (!url) {
      done(::ramp::Fail(url.error().WithPrefix(what)));
      return;
    }
    if (!IsToken(request.method)) {
      done(::ramp::Fail(InvalidArgumentError(what + ": bad method")));
      return;
    }
    for (const auto& [name, value] : request.headers) {
      if (!IsToken(name) || !IsFieldValue(value)) {
        done(::ramp::Fail(InvalidArgumentError(what + ": bad header \"" + name + "\"")));
        return;
      }
    }
    std::shared_ptr<ssl::context> tls;
    if (url->https) {
      auto context = TlsContext(request);
      if (!context) {
        done(::ramp::Fail(context.error().WithPrefix(what)));
        return;
      }
      tls = *std::move(context);
    }
    std::shared_ptr<Exchange> exchange;
    try {
      exchange = std::make_shared<Exchange>(this, ioc_, std::move(tls), *std::move(url),
                                            std::move(request), user_agent_);
    } catch (const std::exception& e) {
      done(::ramp::Fail(UnavailableError(what + ": cannot start the request: " + e.what())));
      return;
    }
    exchange->SetCallback(std::move(done));
    asio::post(ioc_, [this, exchange] {
      if (shutting_down_) exchange->Cancel();
      live_.insert(exchange);
      exchange->Start();
    });
  }

  void Done(const std::shared_ptr<Exchange>& exchange) { live_.erase(exchange); }

 private:
  StatusOr<std::shared_ptr<ssl::context>> TlsContext(const HttpRequest& request) {
    try {
      if (request.insecure_skip_verify) {
        std::lock_guard lock(mu_);
        if (!insecure_) {
          insecure_ = std::make_shared<ssl::context>(ssl::context::tls_client);
          insecure_->set_verify_mode(ssl::verify_none);
        }
        return insecure_;
      }
      if (!request.ca_file.empty()) {
        auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
        error_code ec;
        context->load_verify_file(request.ca_file, ec);
        if (ec) {
          return ::ramp::Fail(
              InvalidArgumentError("cannot read ca_file " + request.ca_file + ": " + ec.message()));
        }
        context->set_verify_mode(ssl::verify_peer);
        return context;
      }
      std::lock_guard lock(mu_);
      if (!system_) {
        auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
        context->set_default_verify_paths();
        context->set_verify_mode(ssl::verify_peer);
        system_ = std::move(context);
      }
      return system_;
    } catch (const std::exception& e) {
      return ::ramp::Fail(UnavailableError(std::string("TLS setup failed: ") + e.what()));
    }
  }

  const std::string user_agent_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::mutex mu_;
  std::shared_ptr<ssl::context> system_;
  std::shared_ptr<ssl::context> insecure_;
  // Loop thread only.
  bool shutting_down_ = false;
  std::set<std::shared_ptr<Exchange>> live_;
};

void Exchange::Start() {
  if (cancelled_) return Fail(CancelledError(what_ + ": the HTTP client shut down"));
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
  if (ec || cancelled_ || timed_out_) return Fail(ErrorFor(ec, "DNS resolution failed"));
  auto self = shared_from_this();
  asio::async_connect(Socket(), results, [self](const error_code& ec, const tcp::endpoint&) {
    self->OnConnected(ec);
  });
}

void Exchange::OnConnected(const error_code& ec) {
  if (finished_) return;
  if (ec || cancelled_ || timed_out_) return Fail(ErrorFor(ec, "connect failed"));
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
  if (ec || cancelled_ || timed_out_) {
    if (!cancelled_ && !timed_out_) {
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
    if (ec || self->cancelled_ || self->timed_out_) {
      return self->Fail(self->ErrorFor(ec, "sending the request failed"));
    }
    http::async_read(stream, self->buffer_, self->parser_,
                     [self](const error_code& ec, size_t) { self->OnRead(ec); });
  });
}

void Exchange::OnRead(const error_code& ec) {
  if (finished_) return;
  if (ec == http::error::body_limit && !cancelled_ && !timed_out_) {
    return Fail(ResourceExhaustedError(what_ + ": response body larger than " +
                                       std::to_string(request_.max_response_bytes) + " bytes"));
  }
  if (ec == ssl::error::stream_truncated && !cancelled_ && !timed_out_) {
    // A TLS peer that closes without close_notify ends a body delimited by the connection's end.
    error_code eof_ec;
    parser_.put_eof(eof_ec);
    if (eof_ec || !parser_.is_done()) return Fail(ErrorFor(ec, "reading the response failed"));
  } else if (ec || cancelled_ || timed_out_) {
    return Fail(ErrorFor(ec, "reading the response failed"));
  }
  auto& in = parser_.get();
  HttpResponse response;
  response.status = static_cast<int>(in.result_int());
  for (const auto& field : in) {
    response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  response.body = std::move(in.body());
  Finish(std::move(response));
}

void Exchange::Fail(Status status) { Finish(::ramp::Fail(std::move(status))); }

void Exchange::Finish(StatusOr<HttpResponse> result) {
  if (finished_) return;
  finished_ = true;
  error_code ignored;
  timer_.cancel();
  resolver_.cancel();
  if (tls_stream_ && result) {
    // Best effort; the connection closes either way.
    tls_stream_->next_layer().shutdown(tcp::socket::shutdown_both, ignored);
  }
  Socket().close(ignored);
  auto self = shared_from_this();
  HttpCallback done = std::move(done_);
  client_->Done(self);
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
