// The data plane: accept loops and the per-connection HTTP/1.1 reverse-proxy session (Asio C++20
// coroutines on the connection's worker io_context).
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <optional>

#include "proxy/server_internal.h"

namespace ramp::proxy {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using error_code = boost::system::error_code;
using asio::awaitable;
using Clock = std::chrono::steady_clock;

auto Tok(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

constexpr size_t kChunk = 16 * 1024;
constexpr size_t kMaxPooledPerEndpoint = 64;

bool IsHopByHop(std::string_view lower) {
  return lower == "connection" || lower == "keep-alive" || lower == "proxy-connection" ||
         lower == "proxy-authenticate" || lower == "proxy-authorization" || lower == "te" ||
         lower == "trailer" || lower == "transfer-encoding" || lower == "upgrade";
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Copies end-to-end headers: drops hop-by-hop ones and those the Connection header names.
void CopyEndToEnd(const http::fields& from, http::fields* to, bool drop_expect) {
  std::vector<std::string> listed;
  for (auto it = from.find(http::field::connection);
       it != from.end() && it->name() == http::field::connection; ++it) {
    for (const auto& token : http::token_list(it->value())) listed.push_back(Lower(token));
  }
  for (const auto& f : from) {
    std::string name = Lower(f.name_string());
    if (IsHopByHop(name)) continue;
    if (drop_expect && name == "expect") continue;
    if (std::find(listed.begin(), listed.end(), name) != listed.end()) continue;
    to->insert(f.name_string(), f.value());
  }
}

class FieldsView : public RequestView {
 public:
  explicit FieldsView(const http::fields& f) : f_(f) {}
  std::optional<std::string_view> Header(std::string_view lower_name) const override {
    auto it = f_.find(lower_name);
    if (it == f_.end()) return std::nullopt;
    return std::string_view(it->value().data(), it->value().size());
  }

 private:
  const http::fields& f_;
};

bool IsIdempotent(http::verb v) {
  return v == http::verb::get || v == http::verb::head || v == http::verb::options ||
         v == http::verb::put || v == http::verb::delete_ || v == http::verb::trace;
}

// True when a pooled connection was closed by its peer (or has unexpected bytes).
bool LooksDead(beast::tcp_stream& s) {
  char c;
  ssize_t n = ::recv(s.socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

template <class Stream>
awaitable<void> SendSimple(Stream& stream, int status, std::string body) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "text/plain");
  res.set(http::field::connection, "close");
  res.body() = std::move(body) + "\n";
  res.prepare_payload();
  error_code ec;
  stream.expires_after(std::chrono::seconds(5));
  co_await http::async_write(stream, res, Tok(ec));
}

// Streams a message body from `in` (read by parser `p`) to `out` (written by serializer `sr` of
// message `msg`), one chunk at a time. `client` (the client side) gets `client_timeout` per step.
template <class Parser, class Message, class Serializer>
awaitable<error_code> Relay(beast::tcp_stream& in, beast::flat_buffer& in_buf, Parser& p,
                            beast::tcp_stream& out, Message& msg, Serializer& sr,
                            beast::tcp_stream* client, std::chrono::milliseconds client_timeout,
                            bool* read_failed) {
  std::vector<char> chunk(kChunk);
  error_code ec;
  do {
    if (!p.is_done()) {
      p.get().body().data = chunk.data();
      p.get().body().size = chunk.size();
      if (client == &in) client->expires_after(client_timeout);
      co_await http::async_read(in, in_buf, p, Tok(ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        *read_failed = true;
        co_return ec;
      }
      msg.body().size = chunk.size() - p.get().body().size;
      msg.body().data = chunk.data();
      msg.body().more = !p.is_done();
    } else {
      msg.body().data = nullptr;
      msg.body().size = 0;
      msg.body().more = false;
    }
    if (client == &out) client->expires_after(client_timeout);
    co_await http::async_write(out, sr, Tok(ec));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return ec;
  } while (!p.is_done() || !sr.is_done());
  co_return ec;
}

class Session {
 public:
  Session(ProxyServer::Impl* impl, Worker* worker, std::shared_ptr<Service> service,
          tcp::socket socket)
      : impl_(impl), worker_(worker), service_(std::move(service)), client_(std::move(socket)) {}

  ~Session() {
    worker_->idle.erase(&client_);
    impl_->connections.fetch_sub(1);
  }

  awaitable<void> Run();

 private:
  // Serves one request; false when the connection must close.
  awaitable<bool> ServeOne(bool first);
  awaitable<std::unique_ptr<beast::tcp_stream>> Connect(const Endpoint& ep,
                                                        std::chrono::milliseconds timeout,
                                                        error_code* ec);
  std::unique_ptr<beast::tcp_stream> TakePooled(const std::string& key);
  void Record(Revision rev, int status, Clock::time_point start);

  ProxyServer::Impl* impl_;
  Worker* worker_;
  std::shared_ptr<Service> service_;
  beast::tcp_stream client_;
  beast::flat_buffer buf_;
  std::string peer_;
};

void Session::Record(Revision rev, int status, Clock::time_point start) {
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  service_->stats[static_cast<int>(rev)].Record(status, seconds, now);
}

std::unique_ptr<beast::tcp_stream> Session::TakePooled(const std::string& key) {
  auto it = worker_->pool.find(key);
  if (it == worker_->pool.end()) return nullptr;
  while (!it->second.empty()) {
    std::unique_ptr<beast::tcp_stream> s = std::move(it->second.back());
    it->second.pop_back();
    if (!LooksDead(*s)) return s;
  }
  return nullptr;
}

awaitable<std::unique_ptr<beast::tcp_stream>> Session::Connect(const Endpoint& ep,
                                                               std::chrono::milliseconds timeout,
                                                               error_code* ec) {
  auto stream = std::make_unique<beast::tcp_stream>(worker_->ioc);
  stream->expires_after(timeout);
  error_code addr_ec;
  auto address = asio::ip::make_address(ep.host == "localhost" ? "127.0.0.1" : ep.host, addr_ec);
  if (!addr_ec) {
    co_await stream->async_connect(tcp::endpoint(address, ep.port), Tok(*ec));
  } else {
    tcp::resolver resolver(worker_->ioc);
    auto results = co_await resolver.async_resolve(ep.host, std::to_string(ep.port), Tok(*ec));
    if (!*ec) co_await stream->async_connect(results, Tok(*ec));
  }
  if (*ec) co_return nullptr;
  stream->socket().set_option(tcp::no_delay(true), addr_ec);
  impl_->upstream_connects.fetch_add(1);
  co_return stream;
}

awaitable<void> Session::Run() {
  error_code ec;
  auto remote = client_.socket().remote_endpoint(ec);
  peer_ = ec ? "unknown" : remote.address().to_string();
  client_.socket().set_option(tcp::no_delay(true), ec);
  // Refuse what is not HTTP/1.x: a TLS ClientHello or the HTTP/2 connection preface.
  {
    client_.expires_after(impl_->options.limits.header_read_timeout);
    size_t n = co_await client_.async_read_some(buf_.prepare(4096), Tok(ec));
    if (ec) co_return;
    buf_.commit(n);
    std::string_view head(static_cast<const char*>(buf_.data().data()), buf_.size());
    if (!head.empty() && head[0] == '\x16') {
      impl_->protocol_refusals.fetch_add(1);
      std::fprintf(stderr,
                   "ramp proxy: %s: refused a TLS handshake from %s (TLS is not supported; "
                   "terminate TLS in front of the proxy)\n",
                   service_->name.c_str(), peer_.c_str());
      co_return;
    }
    constexpr std::string_view kPreface = "PRI * HTTP/2.0";
    if (head.substr(0, std::min(head.size(), kPreface.size())) ==
        kPreface.substr(0, std::min(head.size(), kPreface.size()))) {
      impl_->protocol_refusals.fetch_add(1);
      std::fprintf(stderr, "ramp proxy: %s: refused an HTTP/2 connection from %s\n",
                   service_->name.c_str(), peer_.c_str());
      co_await SendSimple(client_, 400, "HTTP/2 is not supported by ramp proxy; use HTTP/1.1");
      co_return;
    }
  }
  bool first = true;
  while (!impl_->stopping.load()) {
    bool keep = co_await ServeOne(first);
    first = false;
    if (!keep) break;
  }
  client_.socket().shutdown(tcp::socket::shutdown_send, ec);
}

awaitable<bool> Session::ServeOne(bool first) {
  const ProxyLimits& limits = impl_->options.limits;
  error_code ec;
  std::shared_ptr<const RouteTable> table = service_->table.load();
  if (!first && buf_.size() == 0) {
    // Wait for the next request on a keep-alive connection.
    worker_->idle.insert(&client_);
    client_.expires_after(table->idle_timeout);
    size_t n = co_await client_.async_read_some(buf_.prepare(4096), Tok(ec));
    worker_->idle.erase(&client_);
    if (ec || impl_->stopping.load()) co_return false;
    buf_.commit(n);
    table = service_->table.load();
  }
  http::request_parser<http::buffer_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  parser.body_limit(limits.max_body_bytes);
  client_.expires_after(limits.header_read_timeout);
  co_await http::async_read_header(client_, buf_, parser, Tok(ec));
  if (ec == http::error::header_limit) {
    co_await SendSimple(client_, 431, "request header too large");
    co_return false;
  }
  if (ec == beast::error::timeout) {
    co_await SendSimple(client_, 408, "request header not received in time");
    co_return false;
  }
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
    co_return false;
  }
  if (ec == http::error::body_limit) {
    co_await SendSimple(client_, 413, "request body too large");
    co_return false;
  }
  if (ec) {
    co_await SendSimple(client_, 400, "malformed request: " + ec.message());
    co_return false;
  }
  const Clock::time_point start = Clock::now();
  auto& req = parser.get();
  if (static_cast<size_t>(std::distance(req.begin(), req.end())) > limits.max_header_count) {
    co_await SendSimple(client_, 431, "too many request headers");
    co_return false;
  }
  bool keep_alive = req.keep_alive() && !impl_->stopping.load();
  const bool has_body = !parser.is_done();
  const bool expect_continue = [&] {
    auto it = req.find(http::field::expect);
    return it != req.end() && beast::iequals(it->value(), "100-continue");
  }();

  // Choose the revision and build the upstream request head.
  const uint32_t draw = std::uniform_int_distribution<uint32_t>(
      0, static_cast<uint32_t>(table->max_weight) - 1)(worker_->rng);
  const Revision rev = Pick(*table, FieldsView(req), draw);
  const std::vector<Endpoint>& set = rev == Revision::kCanary ? table->canary : table->stable;

  http::request<http::buffer_body> up_req;
  up_req.method_string(req.method_string());
  up_req.target(req.target());
  up_req.version(11);
  CopyEndToEnd(req, &up_req, expect_continue);
  {
    std::string xff;
    for (const auto& f : req) {
      if (!beast::iequals(f.name_string(), "x-forwarded-for")) continue;
      if (!xff.empty()) xff += ", ";
      xff.append(f.value().data(), f.value().size());
    }
    up_req.erase("X-Forwarded-For");
    up_req.set("X-Forwarded-For", xff.empty() ? peer_ : xff + ", " + peer_);
  }
  if (req.chunked()) up_req.chunked(true);

  const size_t first_index = service_->round_robin[static_cast<int>(rev)].fetch_add(1);
  std::unique_ptr<beast::tcp_stream> up;
  Endpoint ep;
  beast::flat_buffer up_buf;
  std::optional<http::response_parser<http::buffer_body>> rpo;
  rpo.emplace();
  bool continue_sent = false;
  bool request_sent = false;
  int status = 0;
  int connect_attempts = 0;
  bool fresh_retry_used = false;
  for (;;) {
    ep = set[(first_index + static_cast<size_t>(connect_attempts)) % set.size()];
    const std::string key = ep.ToString();
    up = TakePooled(key);
    const bool reused = up != nullptr;
    if (reused) {
      impl_->upstream_reused.fetch_add(1);
    } else {
      up = co_await Connect(ep, table->connect_timeout, &ec);
      ++connect_attempts;
      if (!up) {
        if (IsIdempotent(req.method()) && connect_attempts < 2) continue;
        status = ec == beast::error::timeout ? 504 : 502;
        break;
      }
    }
    if (table->request_timeout.count() > 0) {
      up->expires_after(table->request_timeout);
    } else {
      up->expires_never();
    }
    if (expect_continue && !continue_sent) {
      continue_sent = true;
      client_.expires_after(table->idle_timeout);
      co_await asio::async_write(client_, asio::buffer("HTTP/1.1 100 Continue\r\n\r\n", 25),
                                 Tok(ec));
      if (ec) co_return false;
    }
    http::request_serializer<http::buffer_body> sr(up_req);
    co_await http::async_write_header(*up, sr, Tok(ec));
    if (!ec && has_body) {
      bool read_failed = false;
      ec = co_await Relay(client_, buf_, parser, *up, up_req, sr, &client_, table->idle_timeout,
                          &read_failed);
      if (read_failed) {
        if (ec == http::error::body_limit) {
          co_await SendSimple(client_, 413, "request body too large");
        }
        co_return false;
      }
    } else if (!ec && !has_body) {
      up_req.body().data = nullptr;
      up_req.body().size = 0;
      up_req.body().more = false;
      co_await http::async_write(*up, sr, Tok(ec));
      if (ec == http::error::need_buffer) ec = {};
    }
    if (!ec) {
      request_sent = true;
      rpo->body_limit(boost::none);
      if (req.method() == http::verb::head) rpo->skip(true);
      co_await http::async_read_header(*up, up_buf, *rpo, Tok(ec));
      // Interim 1xx answers (we answered Expect ourselves) are skipped.
      while (!ec && rpo->get().result_int() >= 100 && rpo->get().result_int() < 200 &&
             rpo->get().result_int() != 101) {
        rpo.emplace();
        rpo->body_limit(boost::none);
        if (req.method() == http::verb::head) rpo->skip(true);
        co_await http::async_read_header(*up, up_buf, *rpo, Tok(ec));
      }
    }
    if (!ec) break;
    // A pooled connection the upstream closed meanwhile: retry once on a fresh one when no
    // request body was consumed.
    if (reused && !has_body && !fresh_retry_used &&
        (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::eof)) {
      fresh_retry_used = true;
      up.reset();
      up_buf.clear();
      rpo.emplace();
      continue;
    }
    status = ec == beast::error::timeout ? 504 : 502;
    break;
  }
  (void)request_sent;
  if (status != 0) {
    Record(rev, status, start);
    std::fprintf(stderr, "ramp proxy: %s: upstream %s (%s): %s\n", service_->name.c_str(),
                 ep.ToString().c_str(), std::string(RevisionName(rev)).c_str(),
                 ec.message().c_str());
    co_await SendSimple(client_, status,
                        status == 504 ? "upstream timed out" : "upstream unavailable");
    co_return false;
  }

  // Relay the response.
  auto& rp = *rpo;
  auto& up_res = rp.get();
  http::response<http::buffer_body> res;
  res.result(up_res.result_int());
  res.reason(up_res.reason());
  res.version(req.version());
  CopyEndToEnd(up_res, &res, false);
  const bool res_has_body = !rp.is_done();
  if (res_has_body && (up_res.chunked() || !up_res.has_content_length())) {
    if (req.version() >= 11) {
      res.chunked(true);
    } else {
      keep_alive = false;
    }
  }
  if (impl_->stopping.load()) keep_alive = false;
  res.keep_alive(keep_alive);
  http::response_serializer<http::buffer_body> rsr(res);
  client_.expires_after(table->idle_timeout);
  co_await http::async_write_header(client_, rsr, Tok(ec));
  if (!ec && res_has_body) {
    bool read_failed = false;
    ec = co_await Relay(*up, up_buf, rp, client_, res, rsr, &client_, table->idle_timeout,
                        &read_failed);
    if (ec && read_failed) {
      Record(rev, ec == beast::error::timeout ? 504 : 502, start);
      co_return false;  // the client sees a truncated body; the connection closes
    }
  } else if (!ec && res.chunked()) {
    res.body().data = nullptr;
    res.body().size = 0;
    res.body().more = false;
    co_await http::async_write(client_, rsr, Tok(ec));
    if (ec == http::error::need_buffer) ec = {};
  }
  Record(rev, up_res.result_int(), start);
  if (!ec && rp.is_done() && rp.keep_alive() && up_buf.size() == 0) {
    up->expires_never();
    auto& slot = worker_->pool[ep.ToString()];
    if (slot.size() < kMaxPooledPerEndpoint) slot.push_back(std::move(up));
  }
  if (ec) co_return false;
  co_return keep_alive;
}

awaitable<void> RunSession(std::unique_ptr<Session> session) { co_await session->Run(); }

void AcceptNext(ProxyServer::Impl* impl, std::shared_ptr<Service> service) {
  std::shared_ptr<tcp::acceptor> acceptor = service->acceptor;
  size_t index = impl->next_worker.fetch_add(1) % impl->workers.size();
  Worker* worker = impl->workers[index].get();
  acceptor->async_accept(
      worker->ioc, [impl, service, worker, acceptor](error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open() || service->removed) {
          return;
        }
        if (!ec) {
          if (impl->stopping.load() ||
              impl->connections.load() >= impl->options.limits.max_connections) {
            impl->connections_refused.fetch_add(1);
            socket.close(ec);
          } else {
            impl->connections.fetch_add(1);
            auto session = std::make_unique<Session>(impl, worker, service, std::move(socket));
            asio::co_spawn(worker->ioc, RunSession(std::move(session)), asio::detached);
          }
        }
        AcceptNext(impl, service);
      });
}

}  // namespace

void StartAccepting(ProxyServer::Impl* impl, std::shared_ptr<Service> service) {
  asio::post(impl->accept_ioc, [impl, service] { AcceptNext(impl, service); });
}

}  // namespace ramp::proxy
