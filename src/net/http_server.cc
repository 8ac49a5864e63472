// HttpServer implementation: Beast's request parser under Asio C++20 coroutines. Each worker is
// one io_context on one thread; a connection lives on one worker, so its state needs no lock.
// The listener lives on worker 0. Handlers answer through an Exchange — the only state shared
// with other threads, guarded by its mutex — which wakes the connection by posting to its
// worker. Every Boost exception is caught here and becomes a Status or a closed connection.
//
// Thread-safety: see http_server.h. Connection state is touched only on its worker's thread;
// Exchange fields under Exchange::mu; Core::running under Core::mu (it keeps posts off workers
// that Stop is tearing down).

#include "net/http_server.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <type_traits>

namespace ramp::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using asio::awaitable;
using Fields = std::vector<std::pair<std::string, std::string>>;

auto Tok(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

constexpr size_t kReadSize = 4096;
// After an answer that closes the connection, unread input is drained this long (at most this
// much) so that closing does not reset the connection before the client read the answer.
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr size_t kLingerBytes = 1 << 20;
// Timer durations are clamped so that now() + d cannot overflow.
constexpr Duration kMaxTimer = std::chrono::hours(24 * 365);

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
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
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
  }
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = HexDigit(in[i + 1]);
      int lo = HexDigit(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

// Splits a request target into its decoded path and query. False when malformed.
bool ParseTarget(std::string_view target, std::string* path,
                 std::map<std::string, std::string>* query) {
  if (target == "*") {
    *path = "*";
    return true;
  }
  if (target.empty()) return false;
  std::string_view rest = target;
  if (rest[0] != '/') {
    // absolute-form: scheme://authority[/path][?query]
    size_t sep = rest.find("://");
    if (sep == std::string_view::npos || sep == 0) return false;
    size_t start = rest.find_first_of("/?", sep + 3);
    rest = start == std::string_view::npos ? std::string_view() : rest.substr(start);
  }
  if (size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  std::string_view raw_path = rest;
  std::string_view raw_query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    raw_path = rest.substr(0, q);
    raw_query = rest.substr(q + 1);
  }
  auto decoded = PercentDecode(raw_path, false);
  if (!decoded || decoded->find('\0') != std::string::npos) return false;
  *path = decoded->empty() ? "/" : *std::move(decoded);
  while (!raw_query.empty()) {
    size_t amp = raw_query.find('&');
    std::string_view item = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view() : raw_query.substr(amp + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    auto key = PercentDecode(item.substr(0, eq), true);
    auto value = PercentDecode(
        eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1), true);
    if (!key || !value) return false;
    query->emplace(*std::move(key), *std::move(value));
  }
  return true;
}

std::string FormatEndpoint(const asio::ip::address& address, uint16_t port) {
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}

ServerResponse TextResponse(int status, std::string_view text) {
  ServerResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::string(text) + "\n";
  return r;
}

// Why an answer cannot be sent as given, or "".
std::string CheckAnswer(int status, const std::string& content_type, const Fields& headers) {
  if (status < 200 || status > 599) {
    return "status " + std::to_string(status) + " is not in 200..599";
  }
  if (!IsFieldValue(content_type)) return "the content type is not a valid header value";
  for (const auto& [name, value] : headers) {
    if (!IsToken(name) || !IsFieldValue(value)) return "a header name or value is not valid HTTP";
  }
  return "";
}

bool HasCloseToken(std::string_view value) {
  for (auto token : http::token_list(value)) {
    if (beast::iequals(token, "close")) return true;
  }
  return false;
}

// The response head up to (not including) the framing headers and the final CRLF. Clears
// *keep_alive when the handler asked for "Connection: close".
std::string ResponseHead(int status, const std::string& content_type, const Fields& headers,
                         bool* keep_alive) {
  auto beast_reason = http::obsolete_reason(static_cast<http::status>(status));
  std::string_view reason(beast_reason.data(), beast_reason.size());
  if (reason.empty() || reason[0] == '<') reason = "Status";
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  bool has_type = false;
  for (const auto& [name, value] : headers) {
    if (beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding")) {
      continue;
    }
    if (beast::iequals(name, "connection")) {
      if (HasCloseToken(value)) *keep_alive = false;
      continue;
    }
    if (beast::iequals(name, "content-type")) has_type = true;
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  if (!has_type && !content_type.empty()) head += "Content-Type: " + content_type + "\r\n";
  return head;
}

std::string ConnectionHeader(bool keep_alive, unsigned version) {
  if (!keep_alive) return "Connection: close\r\n";
  if (version < 11) return "Connection: keep-alive\r\n";
  return "";
}

// Lets handler-side objects (any thread) post to a worker while the server runs. Stop clears
// `running` before it tears the workers down, so nothing is posted to a dying io_context.
struct Core {
  std::mutex mu;
  bool running = true;  // guarded by mu

  void Post(asio::io_context* ioc, std::function<void()> fn) {
    std::lock_guard lock(mu);
    if (!running) return;
    try {
      asio::post(*ioc, std::move(fn));
    } catch (...) {
      // Out of memory: the answer is lost; the connection ends with the server or the client.
    }
  }
};

// A connection as the handler side sees it: something to wake.
class ConnectionBase : public std::enable_shared_from_this<ConnectionBase> {
 public:
  virtual ~ConnectionBase() = default;
  // Wakes the connection's coroutine to look at its Exchange. Worker thread only.
  virtual void Wake() = 0;
  // Closes the socket and makes the coroutine finish. Worker thread only.
  virtual void Shutdown() = 0;
};

// One request's answer, shared between the connection and the handler's ServerReply and
// ServerStream.
struct Exchange {
  enum class Answer { kNone, kResponse, kStream };

  // Set before the handler runs, then constant.
  std::shared_ptr<Core> core;
  asio::io_context* ioc = nullptr;
  std::weak_ptr<ConnectionBase> connection;
  size_t max_queue = 0;

  std::mutex mu;
  // Guarded by mu.
  Answer answer = Answer::kNone;
  ServerResponse response;  // kResponse, until the connection takes it
  int stream_status = 0;    // kStream
  std::string stream_type;
  Fields stream_headers;
  std::deque<std::string> chunks;  // written in order by the connection
  size_t queued = 0;               // bytes in chunks and in the write in progress
  bool ended = false;              // End ran (or the stream was dropped)
  bool overflow = false;           // a Write went over max_queue
  bool closed = false;             // the connection is done with this exchange
  bool wake_posted = false;

  // Wakes the connection unless a wake is already on its way. Requires mu.
  void WakeLocked() {
    if (wake_posted || closed) return;
    wake_posted = true;
    core->Post(ioc, [weak = connection] {
      if (auto c = weak.lock()) c->Wake();
    });
  }
};

class StreamImpl final : public ServerStream {
 public:
  explicit StreamImpl(std::shared_ptr<Exchange> ex) : ex_(std::move(ex)) {}
  ~StreamImpl() override { End(); }

  bool Write(std::string data) override {
    std::lock_guard lock(ex_->mu);
    if (ex_->closed || ex_->ended || ex_->overflow) return false;
    if (data.empty()) return true;
    if (data.size() > ex_->max_queue || ex_->queued > ex_->max_queue - data.size()) {
      ex_->overflow = true;
      ex_->WakeLocked();
      return false;
    }
    ex_->queued += data.size();
    ex_->chunks.push_back(std::move(data));
    ex_->WakeLocked();
    return true;
  }

  void End() override {
    std::lock_guard lock(ex_->mu);
    if (ex_->ended) return;
    ex_->ended = true;
    ex_->WakeLocked();
  }

  bool Open() const override {
    std::lock_guard lock(ex_->mu);
    return !ex_->closed && !ex_->ended && !ex_->overflow;
  }

 private:
  std::shared_ptr<Exchange> ex_;
};

class ReplyImpl final : public ServerReply {
 public:
  explicit ReplyImpl(std::shared_ptr<Exchange> ex) : ex_(std::move(ex)) {}

  ~ReplyImpl() override {
    std::lock_guard lock(ex_->mu);
    if (ex_->answer != Exchange::Answer::kNone) return;
    ex_->answer = Exchange::Answer::kResponse;
    ex_->response = TextResponse(500, "handler did not answer");
    ex_->WakeLocked();
  }

  void Send(ServerResponse response) override {
    std::lock_guard lock(ex_->mu);
    if (ex_->answer != Exchange::Answer::kNone) return;
    ex_->answer = Exchange::Answer::kResponse;
    ex_->response = std::move(response);
    ex_->WakeLocked();
  }

  std::shared_ptr<ServerStream> Stream(int status, std::string content_type,
                                       Fields headers) override {
    {
      std::lock_guard lock(ex_->mu);
      if (ex_->answer == Exchange::Answer::kNone) {
        ex_->answer = Exchange::Answer::kStream;
        ex_->stream_status = status;
        ex_->stream_type = std::move(content_type);
        ex_->stream_headers = std::move(headers);
        ex_->WakeLocked();
        return std::make_shared<StreamImpl>(ex_);
      }
    }
    auto dead = std::make_shared<Exchange>();
    dead->closed = true;
    return std::make_shared<StreamImpl>(std::move(dead));
  }

 private:
  std::shared_ptr<Exchange> ex_;
};

// One io_context and its thread.
struct Worker {
  // This worker's live connections; its thread only. Declared before ioc: connections destroyed
  // with the io_context still unregister themselves.
  std::set<ConnectionBase*> connections;
  asio::io_context ioc{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
};

class Server {
 public:
  Server(HttpServerOptions options, ServerHandler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {}
  ~Server() { Stop(); }

  Status Init();
  void Run();
  void Stop();

  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  const HttpServerOptions& options() const { return options_; }
  const ServerHandler& handler() const { return handler_; }
  const std::shared_ptr<Core>& core() const { return core_; }
  ssl::context* tls() const { return tls_.get(); }
  bool stopping() const { return stopping_.load(); }
  void ConnectionClosed() { active_.fetch_sub(1); }

 private:
  Status InitTls();
  Status Listen();
  void Accept();
  void Spawn(Worker* worker, tcp::socket socket);

  HttpServerOptions options_;
  ServerHandler handler_;
  std::shared_ptr<Core> core_ = std::make_shared<Core>();
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_{0};
  size_t next_worker_ = 0;  // worker 0's thread only
  std::shared_ptr<ssl::context> tls_;
  std::string address_;
  uint16_t port_ = 0;
  // Declared after what connections use: they may be destroyed with their io_context.
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<tcp::acceptor> acceptor_;           // on worker 0
  std::unique_ptr<asio::steady_timer> accept_retry_;  // on worker 0
  std::mutex stop_mu_;
  bool stopped_ = false;  // guarded by stop_mu_
};

template <class Stream>
class Connection final : public ConnectionBase {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

  Connection(Server* server, Worker* worker, tcp::socket socket)
      : server_(server),
        worker_(worker),
        options_(server->options()),
        stream_(MakeStream(server, std::move(socket))),
        deadline_(worker->ioc),
        signal_(worker->ioc) {
    signal_.expires_at(asio::steady_timer::time_point::max());
  }

  ~Connection() override {
    if (registered_) worker_->connections.erase(this);
    CloseExchange();
    server_->ConnectionClosed();
  }

  void Wake() override { signal_.cancel(); }

  void Shutdown() override {
    stopping_ = true;
    error_code ignored;
    Socket().close(ignored);
    deadline_.cancel();
    signal_.cancel();
  }

  awaitable<void> Run();

 private:
  static Stream MakeStream(Server* server, tcp::socket socket) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *server->tls());
    } else {
      return socket;
    }
  }

  tcp::socket& Socket() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  // Serves one request; false when the connection must close.
  awaitable<bool> ServeOne(bool first);
  awaitable<bool> WriteResponse(ServerResponse response, bool is_head, unsigned version,
                                bool* keep_alive);
  awaitable<bool> RunStream(std::shared_ptr<Exchange> ex, bool is_head, unsigned version,
                            bool* keep_alive);
  // Answers a failed read of a request (nothing when the client is simply gone).
  awaitable<void> AnswerReadError(const error_code& ec, bool got_some, std::string_view what);
  awaitable<void> SendError(int status, std::string text);
  awaitable<void> Close();
  awaitable<void> WaitSignal() {
    error_code ec;
    co_await signal_.async_wait(Tok(ec));
  }

  // A pending read while a stream runs: it notices the client going away.
  void StartWatchRead();
  // Cancels pending socket operations after `d`, setting timed_out_.
  void Arm(Duration d);
  void Disarm() {
    ++deadline_gen_;
    deadline_.cancel();
  }
  void CloseExchange() {
    if (!exchange_) return;
    std::lock_guard lock(exchange_->mu);
    exchange_->closed = true;
  }

  Server* server_;
  Worker* worker_;
  const HttpServerOptions& options_;
  Stream stream_;
  asio::steady_timer deadline_;
  asio::steady_timer signal_;  // never expires; Wake cancels waits on it
  beast::flat_buffer buffer_;
  std::string peer_;
  std::shared_ptr<Exchange> exchange_;
  uint64_t deadline_gen_ = 0;
  bool registered_ = false;
  bool stopping_ = false;
  bool timed_out_ = false;
  bool read_pending_ = false;
  bool watching_ = false;
  bool peer_gone_ = false;
};

template <class Stream>
void Connection<Stream>::Arm(Duration d) {
  timed_out_ = false;
  ++deadline_gen_;
  if (stopping_) return;
  deadline_.expires_after(std::clamp(d, Duration(0), kMaxTimer));
  std::weak_ptr<ConnectionBase> weak = weak_from_this();
  deadline_.async_wait([this, weak, gen = deadline_gen_](const error_code& ec) {
    if (ec) return;
    auto self = weak.lock();
    if (!self || gen != deadline_gen_) return;
    timed_out_ = true;
    error_code ignored;
    Socket().cancel(ignored);
  });
}

template <class Stream>
void Connection<Stream>::StartWatchRead() {
  read_pending_ = true;
  auto self = std::static_pointer_cast<Connection>(shared_from_this());
  stream_.async_read_some(buffer_.prepare(kReadSize), [self](const error_code& ec, size_t n) {
    self->read_pending_ = false;
    if (!ec) {
      self->buffer_.commit(n);
      // Bytes sent during a stream wait for the next request; a client that sends more than a
      // request header's worth meanwhile is not playing by the rules.
      if (self->buffer_.size() > self->options_.max_header_bytes) {
        self->peer_gone_ = true;
      } else if (self->watching_) {
        self->StartWatchRead();
      }
    } else if (ec != asio::error::operation_aborted || self->timed_out_ || self->stopping_ ||
               self->watching_) {
      self->peer_gone_ = true;
    }
    self->signal_.cancel();
  });
}

template <class Stream>
awaitable<void> Connection<Stream>::Run() {
  worker_->connections.insert(this);
  registered_ = true;
  if (server_->stopping()) co_return;
  error_code ec;
  auto remote = Socket().remote_endpoint(ec);
  peer_ = ec ? "unknown" : FormatEndpoint(remote.address(), remote.port());
  Socket().set_option(tcp::no_delay(true), ec);
  if constexpr (kTls) {
    Arm(options_.header_timeout);
    co_await stream_.async_handshake(ssl::stream_base::server, Tok(ec));
    Disarm();
    if (ec) {
      Socket().close(ec);
      co_return;
    }
  }
  bool first = true;
  while (!stopping_) {
    bool keep = co_await ServeOne(first);
    first = false;
    if (!keep) break;
  }
  co_await Close();
}

template <class Stream>
awaitable<bool> Connection<Stream>::ServeOne(bool first) {
  error_code ec;
  if (!first && buffer_.size() == 0) {
    // Wait for the next request on a kept-alive connection.
    Arm(options_.idle_timeout);
    size_t n = co_await stream_.async_read_some(buffer_.prepare(kReadSize), Tok(ec));
    Disarm();
    if (ec || stopping_) co_return false;
    buffer_.commit(n);
  }
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(
      std::min<size_t>(options_.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  parser.body_limit(static_cast<std::uint64_t>(options_.max_body_bytes));
  Arm(options_.header_timeout);
  co_await http::async_read_header(stream_, buffer_, parser, Tok(ec));
  Disarm();
  if (ec) {
    co_await AnswerReadError(ec, parser.got_some() || buffer_.size() > 0, "header");
    co_return false;
  }
  auto& req = parser.get();
  const bool is_head = req.method() == http::verb::head;
  const unsigned version = req.version();
  bool keep_alive = req.keep_alive();
  if (!parser.is_done()) {
    auto expect = req.find(http::field::expect);
    if (version >= 11 && expect != req.end() && beast::iequals(expect->value(), "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      Arm(options_.idle_timeout);
      co_await asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                                 Tok(ec));
      Disarm();
      if (ec) co_return false;
    }
    Arm(options_.idle_timeout);
    co_await http::async_read(stream_, buffer_, parser, Tok(ec));
    Disarm();
    if (ec) {
      co_await AnswerReadError(ec, true, "body");
      co_return false;
    }
  }

  ServerRequest request;
  request.method = std::string(req.method_string());
  request.target = std::string(req.target());
  if (!ParseTarget(request.target, &request.path, &request.query)) {
    co_await SendError(400, "malformed request: bad target");
    co_return false;
  }
  for (const auto& field : req) {
    std::string name = Lower(field.name_string());
    std::string_view value(field.value().data(), field.value().size());
    auto [it, inserted] = request.headers.try_emplace(std::move(name), value);
    if (!inserted) {
      it->second += ", ";
      it->second += value;
    }
  }
  request.body = std::move(req.body());
  request.peer = peer_;

  auto ex = std::make_shared<Exchange>();
  ex->core = server_->core();
  ex->ioc = &worker_->ioc;
  ex->connection = weak_from_this();
  ex->max_queue = options_.max_stream_buffer_bytes;
  exchange_ = ex;
  {
    auto reply = std::make_shared<ReplyImpl>(ex);
    try {
      server_->handler()(std::move(request), reply);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ramp http server: the handler threw: %s\n", e.what());
      reply->Send(TextResponse(500, "handler failed"));
    } catch (...) {
      std::fprintf(stderr, "ramp http server: the handler threw\n");
      reply->Send(TextResponse(500, "handler failed"));
    }
  }
  // Wait for the answer (the reply, or its last reference going away).
  Exchange::Answer answer = Exchange::Answer::kNone;
  ServerResponse response;
  for (;;) {
    {
      std::lock_guard lock(ex->mu);
      ex->wake_posted = false;
      answer = ex->answer;
      if (answer == Exchange::Answer::kResponse) {
        response = std::move(ex->response);
        ex->closed = true;
      }
    }
    if (answer != Exchange::Answer::kNone || stopping_) break;
    co_await WaitSignal();
  }
  if (stopping_) co_return false;
  bool ok = false;
  if (answer == Exchange::Answer::kResponse) {
    ok = co_await WriteResponse(std::move(response), is_head, version, &keep_alive);
  } else {
    ok = co_await RunStream(ex, is_head, version, &keep_alive);
  }
  CloseExchange();
  exchange_.reset();
  co_return ok&& keep_alive && !stopping_;
}

template <class Stream>
awaitable<bool> Connection<Stream>::WriteResponse(ServerResponse r, bool is_head, unsigned version,
                                                  bool* keep_alive) {
  if (std::string problem = CheckAnswer(r.status, r.content_type, r.headers); !problem.empty()) {
    std::fprintf(stderr, "ramp http server: the handler's response was not sent: %s\n",
                 problem.c_str());
    r = TextResponse(500, "handler answered with an invalid response");
  }
  std::string head = ResponseHead(r.status, r.content_type, r.headers, keep_alive);
  // No body may follow a 204 or a 304; a 204 has no Content-Length either (RFC 9110).
  const bool bodiless = r.status == 204 || r.status == 304;
  if (!bodiless) head += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  head += ConnectionHeader(*keep_alive, version);
  head += "\r\n";
  std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::const_buffer()};
  if (!is_head && !bodiless) buffers[1] = asio::buffer(r.body);
  error_code ec;
  Arm(options_.idle_timeout);
  co_await asio::async_write(stream_, buffers, Tok(ec));
  Disarm();
  co_return !ec;
}

template <class Stream>
awaitable<bool> Connection<Stream>::RunStream(std::shared_ptr<Exchange> ex, bool is_head,
                                              unsigned version, bool* keep_alive) {
  int status;
  std::string type;
  Fields headers;
  {
    std::lock_guard lock(ex->mu);
    status = ex->stream_status;
    type = std::move(ex->stream_type);
    headers = std::move(ex->stream_headers);
  }
  if (std::string problem = CheckAnswer(status, type, headers); !problem.empty()) {
    std::fprintf(stderr, "ramp http server: the handler's stream was not started: %s\n",
                 problem.c_str());
    CloseExchange();
    co_return co_await WriteResponse(TextResponse(500, "handler answered with an invalid stream"),
                                     is_head, version, keep_alive);
  }
  const bool bodiless = status == 204 || status == 304;
  // HTTP/1.0 has no chunked encoding: the body ends when the connection closes.
  const bool chunked = version >= 11 && !bodiless;
  if (version < 11 && !bodiless) *keep_alive = false;
  std::string head = ResponseHead(status, type, headers, keep_alive);
  if (chunked) head += "Transfer-Encoding: chunked\r\n";
  head += ConnectionHeader(*keep_alive, version);
  head += "\r\n";
  error_code ec;
  Arm(options_.idle_timeout);
  co_await asio::async_write(stream_, asio::buffer(head), Tok(ec));
  Disarm();
  if (ec || is_head || bodiless) {
    CloseExchange();
    co_return !ec;
  }

  peer_gone_ = false;
  watching_ = true;
  StartWatchRead();
  bool ok = true;
  for (;;) {
    std::deque<std::string> chunks;
    bool ended = false;
    bool overflow = false;
    {
      std::lock_guard lock(ex->mu);
      ex->wake_posted = false;
      chunks.swap(ex->chunks);
      ended = ex->ended;
      overflow = ex->overflow;
    }
    if (stopping_ || peer_gone_ || overflow) {
      ok = false;
      break;
    }
    if (!chunks.empty()) {
      std::string out;
      size_t bytes = 0;
      for (const std::string& chunk : chunks) {
        bytes += chunk.size();
        if (chunked) {
          char size[20];
          auto res = std::to_chars(size, size + sizeof(size), chunk.size(), 16);
          out.append(size, res.ptr);
          out += "\r\n";
          out += chunk;
          out += "\r\n";
        } else {
          out += chunk;
        }
      }
      chunks.clear();
      Arm(options_.idle_timeout);
      co_await asio::async_write(stream_, asio::buffer(out), Tok(ec));
      Disarm();
      {
        std::lock_guard lock(ex->mu);
        ex->queued -= std::min(ex->queued, bytes);
      }
      if (ec) {
        ok = false;
        break;
      }
      continue;
    }
    if (ended) {
      if (chunked) {
        static constexpr std::string_view kLast = "0\r\n\r\n";
        Arm(options_.idle_timeout);
        co_await asio::async_write(stream_, asio::buffer(kLast.data(), kLast.size()), Tok(ec));
        Disarm();
        if (ec) ok = false;
      }
      break;
    }
    co_await WaitSignal();
  }
  CloseExchange();
  // Stop watching: cancel the pending read and let its handler run before reading again.
  watching_ = false;
  if (read_pending_) {
    error_code ignored;
    Socket().cancel(ignored);
    while (read_pending_) co_await WaitSignal();
  }
  co_return ok && !peer_gone_;
}

template <class Stream>
awaitable<void> Connection<Stream>::AnswerReadError(const error_code& ec, bool got_some,
                                                    std::string_view what) {
  if (stopping_) co_return;
  if (timed_out_) {
    // A connection that never sent a byte is just closed.
    if (got_some) co_await SendError(408, "request " + std::string(what) + " not received in time");
    co_return;
  }
  if (ec == http::error::header_limit) {
    co_await SendError(431, "request header too large");
  } else if (ec == http::error::body_limit) {
    co_await SendError(413, "request body too large");
  } else if (ec == http::error::end_of_stream) {
    // The client closed between requests.
  } else if (ec.category() == http::make_error_code(http::error::end_of_stream).category()) {
    co_await SendError(400, "malformed request: " + ec.message());
  }
  // Anything else is the transport failing (reset, TLS error): nothing to answer.
}

template <class Stream>
awaitable<void> Connection<Stream>::SendError(int status, std::string text) {
  if (stopping_) co_return;
  bool keep_alive = false;
  co_await WriteResponse(TextResponse(status, text), false, 11, &keep_alive);
}

template <class Stream>
awaitable<void> Connection<Stream>::Close() {
  error_code ec;
  if (!stopping_ && Socket().is_open()) {
    // Half-close, then drain what the client still sends, so that the close does not reset the
    // connection before the client has read the last answer.
    Socket().shutdown(tcp::socket::shutdown_send, ec);
    if (!ec) {
      Arm(std::min<Duration>(kLingerTime, options_.idle_timeout));
      std::array<char, kReadSize> sink;
      size_t total = 0;
      while (total < kLingerBytes && !stopping_) {
        size_t n = co_await Socket().async_read_some(asio::buffer(sink), Tok(ec));
        if (ec) break;
        total += n;
      }
      Disarm();
    }
  }
  Socket().close(ec);
}

template <class C>
awaitable<void> RunConnection(std::shared_ptr<C> connection) {
  co_await connection->Run();
}

void LogSessionEnd(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::fprintf(stderr, "ramp http server: a connection failed: %s\n", x.what());
  } catch (...) {
    std::fprintf(stderr, "ramp http server: a connection failed\n");
  }
}

struct HostPort {
  std::string host;  // without brackets; empty = any IPv4 address
  uint16_t port = 0;
};

StatusOr<HostPort> SplitHostPort(const std::string& address) {
  auto bad = [&](std::string_view why) {
    return Fail(InvalidArgumentError("http server: address \"" + address +
                                     "\": " + std::string(why) + " (expected host:port)"));
  };
  HostPort out;
  std::string port;
  if (!address.empty() && address[0] == '[') {
    size_t close = address.find(']');
    if (close == std::string::npos) return bad("unclosed '['");
    out.host = address.substr(1, close - 1);
    if (out.host.empty()) return bad("empty host");
    if (address.size() < close + 2 || address[close + 1] != ':') return bad("no port");
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos) return bad("no port");
    out.host = address.substr(0, colon);
    if (out.host.find(':') != std::string::npos) return bad("an IPv6 host needs [brackets]");
    port = address.substr(colon + 1);
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || port.size() > 5 || ec != std::errc() || ptr != port.data() + port.size() ||
      value > 65535) {
    return bad("bad port");
  }
  out.port = static_cast<uint16_t>(value);
  return out;
}

Status Server::InitTls() {
  const std::string& cert = options_.tls_cert_file;
  const std::string& key = options_.tls_key_file;
  if (cert.empty() && key.empty()) return OkStatus();
  if (cert.empty() || key.empty()) {
    return InvalidArgumentError("http server: tls_cert_file and tls_key_file must be set together");
  }
  const std::pair<const char*, const std::string*> files[] = {{"tls_cert_file", &cert},
                                                              {"tls_key_file", &key}};
  for (const auto& [option, file] : files) {
    std::ifstream in(*file);
    if (!in) {
      return InvalidArgumentError("http server: cannot read " + std::string(option) + " " + *file +
                                  ": " + std::strerror(errno));
    }
  }
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                       ec);
  context->use_certificate_chain_file(cert, ec);
  if (ec) {
    return InvalidArgumentError("http server: tls_cert_file " + cert +
                                ": not a valid PEM certificate chain (" + ec.message() + ")");
  }
  context->use_private_key_file(key, ssl::context::pem, ec);
  if (ec) {
    return InvalidArgumentError("http server: tls_key_file " + key +
                                ": not a valid PEM private key (" + ec.message() + ")");
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return InvalidArgumentError("http server: tls_key_file " + key +
                                " does not match the certificate in " + cert);
  }
  tls_ = std::move(context);
  return OkStatus();
}

Status Server::Listen() {
  ASSIGN_OR_RETURN(HostPort hp, SplitHostPort(options_.address));
  const std::string what = "http server: cannot listen on " + options_.address;
  asio::io_context& ioc = workers_[0]->ioc;
  std::vector<tcp::endpoint> endpoints;
  error_code ec;
  if (hp.host.empty()) {
    endpoints.emplace_back(tcp::v4(), hp.port);
  } else if (auto literal = asio::ip::make_address(hp.host, ec); !ec) {
    endpoints.emplace_back(literal, hp.port);
  } else {
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(hp.host, std::to_string(hp.port),
                                    tcp::resolver::numeric_service | tcp::resolver::passive, ec);
    if (ec) return UnavailableError(what + ": cannot resolve \"" + hp.host + "\": " + ec.message());
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    if (endpoints.empty()) return UnavailableError(what + ": \"" + hp.host + "\" has no address");
  }
  for (const tcp::endpoint& endpoint : endpoints) {
    auto acceptor = std::make_unique<tcp::acceptor>(ioc);
    ec = {};
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) continue;
    auto local = acceptor->local_endpoint(ec);
    if (ec) continue;
    port_ = local.port();
    address_ = FormatEndpoint(local.address(), local.port());
    acceptor_ = std::move(acceptor);
    return OkStatus();
  }
  return UnavailableError(what + ": " + ec.message());
}

Status Server::Init() {
  if (!handler_) return InvalidArgumentError("http server: no handler");
  if (options_.max_connections < 1) {
    return InvalidArgumentError("http server: max_connections must be at least 1");
  }
  if (options_.max_header_bytes < 64) {
    return InvalidArgumentError("http server: max_header_bytes must be at least 64");
  }
  RETURN_IF_ERROR(InitTls());
  int threads = std::clamp(options_.threads, 1, 256);
  for (int i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>());
  RETURN_IF_ERROR(Listen());
  accept_retry_ = std::make_unique<asio::steady_timer>(workers_[0]->ioc);
  return OkStatus();
}

void Server::Run() {
  for (auto& worker : workers_) {
    Worker* w = worker.get();
    w->work.emplace(asio::make_work_guard(w->ioc));
    w->thread = std::thread([w] {
      for (;;) {
        try {
          w->ioc.run();
          return;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "ramp http server: %s\n", e.what());
        } catch (...) {
          // Handlers catch what they throw; anything else must not end the thread.
        }
      }
    });
  }
  asio::post(workers_[0]->ioc, [this] { Accept(); });
}

void Server::Accept() {
  Worker* worker = workers_[next_worker_++ % workers_.size()].get();
  acceptor_->async_accept(worker->ioc, [this, worker](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopping_.load() || !acceptor_->is_open()) return;
    if (ec) {
      // Out of file descriptors and the like: pause rather than spin.
      accept_retry_->expires_after(std::chrono::milliseconds(50));
      accept_retry_->async_wait([this](const error_code& ec) {
        if (!ec && !stopping_.load()) Accept();
      });
      return;
    }
    if (active_.load() >= options_.max_connections) {
      socket.close(ec);
    } else {
      active_.fetch_add(1);
      Spawn(worker, std::move(socket));
    }
    Accept();
  });
}

template <class C>
void SpawnConnection(Server* server, Worker* worker, tcp::socket socket) {
  std::shared_ptr<C> connection;
  try {
    connection = std::make_shared<C>(server, worker, std::move(socket));
  } catch (const std::exception& e) {
    server->ConnectionClosed();  // a connection that was never made counts itself out here
    std::fprintf(stderr, "ramp http server: cannot serve a connection: %s\n", e.what());
    return;
  }
  try {
    asio::co_spawn(worker->ioc, RunConnection(std::move(connection)), LogSessionEnd);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ramp http server: cannot serve a connection: %s\n", e.what());
  }
}

void Server::Spawn(Worker* worker, tcp::socket socket) {
  if (tls_) {
    SpawnConnection<Connection<ssl::stream<tcp::socket>>>(this, worker, std::move(socket));
  } else {
    SpawnConnection<Connection<tcp::socket>>(this, worker, std::move(socket));
  }
}

void Server::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  {
    std::lock_guard lock(core_->mu);
    core_->running = false;
  }
  stopping_.store(true);
  if (workers_.empty()) return;
  try {
    asio::post(workers_[0]->ioc, [this] {
      error_code ignored;
      if (acceptor_) acceptor_->close(ignored);
      if (accept_retry_) accept_retry_->cancel();
    });
    for (auto& worker : workers_) {
      Worker* w = worker.get();
      asio::post(w->ioc, [w] {
        auto connections = w->connections;
        for (ConnectionBase* c : connections) c->Shutdown();
      });
    }
  } catch (...) {
    // Out of memory: stop the loops the hard way.
    for (auto& worker : workers_) worker->ioc.stop();
  }
  for (auto& worker : workers_) worker->work.reset();
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
}

}  // namespace

std::string ServerRequest::Header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? std::string() : it->second;
}

struct HttpServer::Impl {
  std::unique_ptr<Server> server;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                        ServerHandler handler) {
  try {
    auto server = std::make_unique<Server>(std::move(options), std::move(handler));
    RETURN_IF_ERROR(server->Init());
    server->Run();
    auto impl = std::make_unique<Impl>();
    impl->server = std::move(server);
    return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
  } catch (const std::exception& e) {
    return Fail(InternalError(std::string("http server: cannot start: ") + e.what()));
  }
}

uint16_t HttpServer::Port() const { return impl_->server->port(); }

std::string HttpServer::Address() const { return impl_->server->address(); }

void HttpServer::Stop() { impl_->server->Stop(); }

}  // namespace ramp::net
