// The data plane: accept loops and the per-connection HTTP/1.1 reverse-proxy session (Asio C++20
// coroutines on the connection's worker io_context).
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

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
  // Every Cookie header counts (HTTP/1.1 clients may send several).
  std::optional<std::string_view> Cookie(std::string_view name) const override {
    for (auto it = f_.find(http::field::cookie);
         it != f_.end() && it->name() == http::field::cookie; ++it) {
      auto v = FindCookie(std::string_view(it->value().data(), it->value().size()), name);
      if (v) return v;
    }
    return std::nullopt;
  }

 private:
  const http::fields& f_;
};

bool IsIdempotent(http::verb v) {
  return v == http::verb::get || v == http::verb::head || v == http::verb::options ||
         v == http::verb::put || v == http::verb::delete_ || v == http::verb::trace;
}

// True when a header list (e.g. Connection) holds `token` (case-insensitive).
bool HasToken(const http::fields& f, http::field name, std::string_view token) {
  for (auto it = f.find(name); it != f.end() && it->name() == name; ++it) {
    for (const auto& t : http::token_list(it->value())) {
      if (beast::iequals(t, token)) return true;
    }
  }
  return false;
}

// A WebSocket handshake: `Connection: Upgrade` and `Upgrade: websocket`.
bool IsWebSocketUpgrade(const http::fields& f) {
  return HasToken(f, http::field::connection, "upgrade") &&
         HasToken(f, http::field::upgrade, "websocket");
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
// When `tee` is set, every body byte read is also appended to it.
template <class Parser, class Message, class Serializer>
awaitable<error_code> Relay(beast::tcp_stream& in, beast::flat_buffer& in_buf, Parser& p,
                            beast::tcp_stream& out, Message& msg, Serializer& sr,
                            beast::tcp_stream* client, std::chrono::milliseconds client_timeout,
                            bool* read_failed, std::string* tee = nullptr) {
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
      if (tee != nullptr) tee->append(chunk.data(), msg.body().size);
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

// ---------------------------------------------------------------------------------------------
// Endpoint choice, in-flight counts and passive health ejection.

// Chooses the instance of set `rev` for one request: round robin, or the less loaded of two
// random instances (leastRequest). Ejected instances and `exclude` (the one that just failed) are
// skipped while another instance is left; otherwise ejection is ignored.
std::shared_ptr<EndpointState> ChooseEndpoint(Service& service, const Routing& routing,
                                              Revision rev, std::mt19937& rng,
                                              const EndpointState* exclude) {
  const auto& set = routing.sets[static_cast<int>(rev)];
  const size_t n = set.size();
  if (n == 0) return nullptr;
  if (n == 1) return set[0];
  const int64_t now = SteadyNowMs();
  auto usable = [&](size_t i) {
    return set[i].get() != exclude &&
           set[i]->ejected_until_ms.load(std::memory_order_relaxed) <= now;
  };
  auto load = [&](size_t i) { return set[i]->in_flight.load(std::memory_order_relaxed); };
  if (routing.table->load_balancing == LoadBalancing::kLeastRequest) {
    const size_t a = std::uniform_int_distribution<size_t>(0, n - 1)(rng);
    size_t b = std::uniform_int_distribution<size_t>(0, n - 2)(rng);
    if (b >= a) ++b;
    const bool ua = usable(a), ub = usable(b);
    if (ua && ub) return load(b) < load(a) ? set[b] : set[a];
    if (ua) return set[a];
    if (ub) return set[b];
    std::optional<size_t> best;
    for (size_t i = 0; i < n; ++i) {
      if (usable(i) && (!best || load(i) < load(*best))) best = i;
    }
    if (best) return set[*best];
  } else {
    const size_t start = service.round_robin[static_cast<int>(rev)].fetch_add(1);
    for (size_t k = 0; k < n; ++k) {
      if (usable((start + k) % n)) return set[(start + k) % n];
    }
  }
  const size_t start = service.round_robin[static_cast<int>(rev)].fetch_add(1);
  for (size_t k = 0; k < n; ++k) {
    if (set[(start + k) % n].get() != exclude) return set[(start + k) % n];
  }
  return set[start % n];
}

// Counts one request in flight to an instance for as long as it lives.
class InFlight {
 public:
  InFlight() = default;
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  ~InFlight() { Set(nullptr); }
  void Set(std::shared_ptr<EndpointState> ep) {
    if (ep_) ep_->in_flight.fetch_sub(1, std::memory_order_relaxed);
    ep_ = std::move(ep);
    if (ep_) ep_->in_flight.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  std::shared_ptr<EndpointState> ep_;
};

// Feeds one exchange's outcome to passive health ejection. A failure is a connect failure, no
// answer (timeout, reset) or a 502/503/504 from the instance; anything else resets the count.
void ReportOutcome(Service& service, const Routing& routing, Revision rev, EndpointState& ep,
                   bool failure) {
  const OutlierDetection& od = routing.table->outlier_detection;
  if (!od.enabled) return;
  if (!failure) {
    if (ep.consecutive_failures.load(std::memory_order_relaxed) != 0) {
      ep.consecutive_failures.store(0, std::memory_order_relaxed);
    }
    return;
  }
  if (ep.consecutive_failures.fetch_add(1) + 1 < od.consecutive_failures) return;
  std::lock_guard<std::mutex> lock(service.eject_mu);
  const int64_t now = SteadyNowMs();
  if (ep.ejected_until_ms.load() > now) return;
  const auto& set = routing.sets[static_cast<int>(rev)];
  size_t ejected = 0;
  for (const auto& other : set) ejected += other->ejected_until_ms.load() > now;
  // The cap: at most half of a set is ejected at once, so the last instance never is.
  if (ejected + 1 > set.size() / 2) return;
  ep.ejected_until_ms.store(now + od.ejection_time.count());
  ep.consecutive_failures.store(0);
  service.ejections.fetch_add(1);
  std::fprintf(stderr,
               "ramp proxy: %s: ejected %s (%s) for %lld ms after %d consecutive failures\n",
               service.name.c_str(), ep.key.c_str(), std::string(RevisionName(rev)).c_str(),
               static_cast<long long>(od.ejection_time.count()), od.consecutive_failures);
}

bool IsFailureStatus(int status) { return status == 502 || status == 503 || status == 504; }

// ---------------------------------------------------------------------------------------------
// Upstream connections: the per-worker pool and connecting.

std::unique_ptr<beast::tcp_stream> TakePooled(Worker* worker, const std::string& key) {
  auto it = worker->pool.find(key);
  if (it == worker->pool.end()) return nullptr;
  while (!it->second.empty()) {
    std::unique_ptr<beast::tcp_stream> s = std::move(it->second.back());
    it->second.pop_back();
    if (!LooksDead(*s)) return s;
  }
  return nullptr;
}

// Keeps an idle upstream connection for reuse, unless its instance left the service's table
// meanwhile (then it is closed: a removed instance is drained, not leaked).
void ReturnToPool(ProxyServer::Impl* impl, Worker* worker, const Service& service,
                  const std::string& key, std::unique_ptr<beast::tcp_stream> stream) {
  if (service.removed.load() || service.routing.load()->keys.count(key) == 0) {
    impl->pooled_closed_on_removal.fetch_add(1);
    return;
  }
  stream->expires_never();
  auto& slot = worker->pool[key];
  if (slot.size() < kMaxPooledPerEndpoint) slot.push_back(std::move(stream));
}

awaitable<std::unique_ptr<beast::tcp_stream>> Connect(ProxyServer::Impl* impl, Worker* worker,
                                                      const Endpoint& ep,
                                                      std::chrono::milliseconds timeout,
                                                      error_code* ec) {
  auto stream = std::make_unique<beast::tcp_stream>(worker->ioc);
  stream->expires_after(timeout);
  error_code addr_ec;
  auto address = asio::ip::make_address(ep.host == "localhost" ? "127.0.0.1" : ep.host, addr_ec);
  if (!addr_ec) {
    co_await stream->async_connect(tcp::endpoint(address, ep.port), Tok(*ec));
  } else {
    tcp::resolver resolver(worker->ioc);
    auto results = co_await resolver.async_resolve(ep.host, std::to_string(ep.port), Tok(*ec));
    if (!*ec) co_await stream->async_connect(results, Tok(*ec));
  }
  if (*ec) co_return nullptr;
  stream->socket().set_option(tcp::no_delay(true), addr_ec);
  impl->upstream_connects.fetch_add(1);
  co_return stream;
}

// ---------------------------------------------------------------------------------------------
// Mirroring: a copy of a request sent to the canary set; its answer is read and discarded.

awaitable<void> RunMirror(ProxyServer::Impl* impl, Worker* worker, std::shared_ptr<Service> service,
                          std::shared_ptr<const Routing> routing,
                          std::shared_ptr<http::request<http::string_body>> req) {
  struct Slot {
    Worker* worker;
    ~Slot() { --worker->mirrors_in_flight; }
  } slot{worker};
  const RouteTable& table = *routing->table;
  std::shared_ptr<EndpointState> ep =
      ChooseEndpoint(*service, *routing, Revision::kCanary, worker->rng, nullptr);
  if (!ep) co_return;
  const std::chrono::milliseconds timeout =
      table.request_timeout.count() > 0 ? table.request_timeout : std::chrono::seconds(60);
  const bool head = req->method() == http::verb::head;
  error_code ec;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<beast::tcp_stream> up = TakePooled(worker, ep->key);
    const bool reused = up != nullptr;
    if (!up) {
      up = co_await Connect(impl, worker, ep->endpoint, table.connect_timeout, &ec);
      if (!up) break;
    } else {
      impl->upstream_reused.fetch_add(1);
    }
    up->expires_after(timeout);
    co_await http::async_write(*up, *req, Tok(ec));
    beast::flat_buffer buf;
    std::optional<http::response_parser<http::buffer_body>> p;
    do {
      p.emplace();
      p->body_limit(boost::none);
      if (head) p->skip(true);
      if (!ec) co_await http::async_read_header(*up, buf, *p, Tok(ec));
    } while (!ec && p->get().result_int() >= 100 && p->get().result_int() < 200);
    if (ec && reused && attempt == 0) continue;  // a stale pooled connection: once more
    std::vector<char> scratch(kChunk);
    while (!ec && !p->is_done()) {
      p->get().body().data = scratch.data();
      p->get().body().size = scratch.size();
      co_await http::async_read(*up, buf, *p, Tok(ec));
      if (ec == http::error::need_buffer) ec = {};
    }
    if (!ec && p->keep_alive() && buf.size() == 0) {
      ReturnToPool(impl, worker, *service, ep->key, std::move(up));
    }
    break;
  }
  if (ec) service->mirror_failures.fetch_add(1);
}

// ---------------------------------------------------------------------------------------------
// WebSocket pass-through: after a 101, bytes flow both ways until either side closes or neither
// has sent anything for the idle timeout.

struct SpliceState {
  explicit SpliceState(asio::io_context& ioc) : timer(ioc) {}
  beast::tcp_stream* a = nullptr;
  beast::tcp_stream* b = nullptr;
  asio::steady_timer timer;
  Clock::time_point last = Clock::now();
  bool closed = false;
  void Close() {
    if (closed) return;
    closed = true;
    error_code ec;
    a->socket().shutdown(tcp::socket::shutdown_both, ec);
    b->socket().shutdown(tcp::socket::shutdown_both, ec);
    a->cancel();
    b->cancel();
    timer.cancel();
  }
};

awaitable<void> Pump(beast::tcp_stream& from, beast::tcp_stream& to, SpliceState& st) {
  std::vector<char> buf(kChunk);
  error_code ec;
  while (!st.closed) {
    size_t n = co_await from.async_read_some(asio::buffer(buf), Tok(ec));
    if (ec || st.closed) break;
    st.last = Clock::now();
    co_await asio::async_write(to, asio::buffer(buf.data(), n), Tok(ec));
    if (ec) break;
    st.last = Clock::now();
  }
  st.Close();
}

awaitable<void> Watchdog(SpliceState& st, std::chrono::milliseconds idle) {
  while (!st.closed) {
    st.timer.expires_at(st.last + idle);
    error_code ec;
    co_await st.timer.async_wait(Tok(ec));
    if (st.closed) break;
    if (Clock::now() >= st.last + idle) st.Close();
  }
}

// ---------------------------------------------------------------------------------------------

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
  // Reads a request head within `limit`; *timed_out tells a slow client from a closed one (the
  // connection stays open so that a 408 can be sent).
  awaitable<error_code> ReadHeader(http::request_parser<http::buffer_body>& parser,
                                   std::chrono::milliseconds limit, bool* timed_out);
  // Sends the mirror copy `mirror` unless the worker's mirrors are at their cap.
  void SpawnMirror(const std::shared_ptr<const Routing>& routing,
                   std::shared_ptr<http::request<http::string_body>> mirror);
  // Answers the client with the upstream's 101 and splices the two connections.
  awaitable<void> Splice(beast::tcp_stream& up, beast::flat_buffer& up_buf,
                         const http::response_header<>& up_res, const http::fields& req,
                         const std::string& set_cookie, std::chrono::milliseconds idle);
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

void Session::SpawnMirror(const std::shared_ptr<const Routing>& routing,
                          std::shared_ptr<http::request<http::string_body>> mirror) {
  if (worker_->mirrors_in_flight >= impl_->options.limits.max_mirrors_per_worker) {
    service_->mirror_dropped_overload.fetch_add(1);
    return;
  }
  ++worker_->mirrors_in_flight;
  service_->mirrored.fetch_add(1);
  asio::co_spawn(worker_->ioc, RunMirror(impl_, worker_, service_, routing, std::move(mirror)),
                 asio::detached);
}

awaitable<error_code> Session::ReadHeader(http::request_parser<http::buffer_body>& parser,
                                          std::chrono::milliseconds limit, bool* timed_out) {
  struct Deadline {
    bool done = false;
    bool fired = false;
  };
  auto deadline = std::make_shared<Deadline>();
  asio::steady_timer timer(worker_->ioc);
  timer.expires_after(limit);
  // The handler touches the session only when it fired before the read ended (the session is
  // alive then: it is awaiting the read).
  timer.async_wait([deadline, this](error_code ec) {
    if (ec || deadline->done) return;
    deadline->fired = true;
    error_code ignored;
    client_.socket().cancel(ignored);
  });
  client_.expires_never();
  error_code ec;
  co_await http::async_read_header(client_, buf_, parser, Tok(ec));
  deadline->done = true;
  timer.cancel();
  *timed_out = deadline->fired;
  co_return ec;
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

awaitable<void> Session::Splice(beast::tcp_stream& up, beast::flat_buffer& up_buf,
                                const http::response_header<>& up_res, const http::fields& req,
                                const std::string& set_cookie, std::chrono::milliseconds idle) {
  using namespace asio::experimental::awaitable_operators;  // NOLINT(build/namespaces)
  http::response<http::empty_body> res{http::status::switching_protocols, 11};
  res.reason(up_res.reason());
  CopyEndToEnd(up_res, &res, false);
  res.set(http::field::connection, "Upgrade");
  if (auto it = up_res.find(http::field::upgrade); it != up_res.end()) {
    res.set(http::field::upgrade, it->value());
  } else if (auto in = req.find(http::field::upgrade); in != req.end()) {
    res.set(http::field::upgrade, in->value());
  }
  if (!set_cookie.empty()) res.insert(http::field::set_cookie, set_cookie);
  error_code ec;
  client_.expires_after(idle);
  co_await http::async_write(client_, res, Tok(ec));
  // Bytes either side sent right behind the handshake.
  if (!ec && buf_.size() > 0) {
    up.expires_after(idle);
    co_await asio::async_write(up, buf_.data(), Tok(ec));
    buf_.consume(buf_.size());
  }
  if (!ec && up_buf.size() > 0) {
    co_await asio::async_write(client_, up_buf.data(), Tok(ec));
    up_buf.consume(up_buf.size());
  }
  if (ec) co_return;
  client_.expires_never();
  up.expires_never();
  SpliceState st(worker_->ioc);
  st.a = &client_;
  st.b = &up;
  worker_->idle.insert(&client_);  // Stop cancels it, which ends the splice
  co_await (Pump(client_, up, st) && Pump(up, client_, st) && Watchdog(st, idle));
  worker_->idle.erase(&client_);
}

awaitable<bool> Session::ServeOne(bool first) {
  const ProxyLimits& limits = impl_->options.limits;
  error_code ec;
  std::shared_ptr<const Routing> routing = service_->routing.load();
  if (!first && buf_.size() == 0) {
    // Wait for the next request on a keep-alive connection.
    worker_->idle.insert(&client_);
    client_.expires_after(routing->table->idle_timeout);
    size_t n = co_await client_.async_read_some(buf_.prepare(4096), Tok(ec));
    worker_->idle.erase(&client_);
    if (ec || impl_->stopping.load()) co_return false;
    buf_.commit(n);
    routing = service_->routing.load();
  }
  // The request holds this snapshot to its end: a table change (an instance removed) does not
  // affect a request in flight.
  const RouteTable& table = *routing->table;
  http::request_parser<http::buffer_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  parser.body_limit(limits.max_body_bytes);
  bool timed_out = false;
  ec = co_await ReadHeader(parser, limits.header_read_timeout, &timed_out);
  if (timed_out) {
    co_await SendSimple(client_, 408, "request header not received in time");
    co_return false;
  }
  if (ec == http::error::header_limit) {
    co_await SendSimple(client_, 431, "request header too large");
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
  const bool upgrade = req.version() == 11 && !has_body && IsWebSocketUpgrade(req);
  const FieldsView view(req);

  // Choose the revision. A sticky cookie the request lacks is assigned here (a random value,
  // whose hash is the draw) and set on the response.
  uint32_t draw = std::uniform_int_distribution<uint32_t>(
      0, static_cast<uint32_t>(table.max_weight) - 1)(worker_->rng);
  std::string set_cookie;
  if (table.sticky.kind == Sticky::Kind::kCookie && !StickyValue(table, view)) {
    char value[17];
    std::snprintf(
        value, sizeof value, "%016llx",
        static_cast<unsigned long long>(std::uniform_int_distribution<uint64_t>()(worker_->rng)));
    draw = static_cast<uint32_t>(StickyHash(value) % static_cast<uint64_t>(table.max_weight));
    set_cookie = table.sticky.name + "=" + value + "; Path=/; HttpOnly";
    if (table.sticky.ttl.count() > 0) {
      set_cookie += "; Max-Age=" + std::to_string(table.sticky.ttl.count());
    }
  }
  const Revision rev = Pick(table, view, draw);

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
  if (upgrade) {
    up_req.set(http::field::connection, "Upgrade");
    up_req.set(http::field::upgrade, req[http::field::upgrade]);
  }

  // Mirroring: a request without a body is copied now; one with a small body once it has been
  // read (it is teed into the copy while it streams to the instance).
  std::shared_ptr<http::request<http::string_body>> mirror;
  if (!upgrade && !table.mirror_routes.empty() && !table.canary.empty()) {
    const uint32_t draw100 = std::uniform_int_distribution<uint32_t>(0, 99)(worker_->rng);
    const std::string_view method(req.method_string().data(), req.method_string().size());
    const std::string_view target(req.target().data(), req.target().size());
    if (ShouldMirror(table, method, target, view, draw100)) {
      const auto length = parser.content_length();
      if (has_body && (req.chunked() || !length || *length > limits.max_mirror_body_bytes)) {
        service_->mirror_dropped_body.fetch_add(1);
      } else {
        mirror = std::make_shared<http::request<http::string_body>>(up_req.base());
        if (has_body) {
          mirror->body().reserve(static_cast<size_t>(*length));
        } else {
          SpawnMirror(routing, std::move(mirror));
        }
      }
    }
  }

  InFlight in_flight;
  std::shared_ptr<EndpointState> target =
      ChooseEndpoint(*service_, *routing, rev, worker_->rng, nullptr);
  in_flight.Set(target);
  std::unique_ptr<beast::tcp_stream> up;
  beast::flat_buffer up_buf;
  std::optional<http::response_parser<http::buffer_body>> rpo;
  rpo.emplace();
  bool continue_sent = false;
  int status = 0;
  int connect_attempts = 0;
  bool fresh_retry_used = false;
  for (;;) {
    up = TakePooled(worker_, target->key);
    const bool reused = up != nullptr;
    if (reused) {
      impl_->upstream_reused.fetch_add(1);
    } else {
      up = co_await Connect(impl_, worker_, target->endpoint, table.connect_timeout, &ec);
      ++connect_attempts;
      if (!up) {
        ReportOutcome(*service_, *routing, rev, *target, true);
        if (IsIdempotent(req.method()) && connect_attempts < 2) {
          target = ChooseEndpoint(*service_, *routing, rev, worker_->rng, target.get());
          in_flight.Set(target);
          continue;
        }
        status = ec == beast::error::timeout ? 504 : 502;
        break;
      }
    }
    if (table.request_timeout.count() > 0) {
      up->expires_after(table.request_timeout);
    } else {
      up->expires_never();
    }
    if (expect_continue && !continue_sent) {
      continue_sent = true;
      client_.expires_after(table.idle_timeout);
      co_await asio::async_write(client_, asio::buffer("HTTP/1.1 100 Continue\r\n\r\n", 25),
                                 Tok(ec));
      if (ec) co_return false;
    }
    http::request_serializer<http::buffer_body> sr(up_req);
    co_await http::async_write_header(*up, sr, Tok(ec));
    if (!ec && has_body) {
      bool read_failed = false;
      ec = co_await Relay(client_, buf_, parser, *up, up_req, sr, &client_, table.idle_timeout,
                          &read_failed, mirror ? &mirror->body() : nullptr);
      if (read_failed) {
        if (mirror) service_->mirror_dropped_body.fetch_add(1);
        if (ec == http::error::body_limit) {
          co_await SendSimple(client_, 413, "request body too large");
        } else if (ec.category() == http::make_error_code(http::error::bad_chunk).category() &&
                   ec != http::error::end_of_stream && ec != http::error::partial_message) {
          co_await SendSimple(client_, 400, "malformed request body: " + ec.message());
        }
        co_return false;
      }
      if (mirror) {
        if (parser.is_done()) {
          SpawnMirror(routing, std::move(mirror));
        } else {
          service_->mirror_dropped_body.fetch_add(1);
        }
        mirror.reset();
      }
    } else if (!ec && !has_body) {
      up_req.body().data = nullptr;
      up_req.body().size = 0;
      up_req.body().more = false;
      co_await http::async_write(*up, sr, Tok(ec));
      if (ec == http::error::need_buffer) ec = {};
    }
    if (!ec) {
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
    ReportOutcome(*service_, *routing, rev, *target, true);
    status = ec == beast::error::timeout ? 504 : 502;
    break;
  }
  if (mirror) service_->mirror_dropped_body.fetch_add(1);  // its body was never read in full
  if (status == 0 && rpo->get().result_int() == 101 && !upgrade) {
    status = 502;  // switching protocols without being asked to
    ec = http::error::bad_status;
  }
  if (status != 0) {
    Record(rev, status, start);
    std::fprintf(stderr, "ramp proxy: %s: upstream %s (%s): %s\n", service_->name.c_str(),
                 target->key.c_str(), std::string(RevisionName(rev)).c_str(), ec.message().c_str());
    co_await SendSimple(client_, status,
                        status == 504 ? "upstream timed out" : "upstream unavailable");
    co_return false;
  }

  auto& rp = *rpo;
  auto& up_res = rp.get();
  ReportOutcome(*service_, *routing, rev, *target, IsFailureStatus(up_res.result_int()));
  if (up_res.result_int() == 101) {
    Record(rev, 101, start);
    service_->upgrades.fetch_add(1);
    co_await Splice(*up, up_buf, up_res.base(), req, set_cookie, table.idle_timeout);
    co_return false;  // the upgraded connection is done; neither side is reused
  }

  // Relay the response.
  http::response<http::buffer_body> res;
  res.result(up_res.result_int());
  res.reason(up_res.reason());
  res.version(req.version());
  CopyEndToEnd(up_res, &res, false);
  if (!set_cookie.empty()) res.insert(http::field::set_cookie, set_cookie);
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
  client_.expires_after(table.idle_timeout);
  co_await http::async_write_header(client_, rsr, Tok(ec));
  if (!ec && res_has_body) {
    bool read_failed = false;
    ec = co_await Relay(*up, up_buf, rp, client_, res, rsr, &client_, table.idle_timeout,
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
    ReturnToPool(impl_, worker_, *service_, target->key, std::move(up));
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
