// The admin API: JSON over HTTP/1.1 on a unix socket or on loopback TCP with a bearer token.
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>

#include "proxy/server_internal.h"
#include "spec/common.h"

namespace ramp::proxy {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using error_code = boost::system::error_code;
using asio::awaitable;
using nlohmann::json;

auto Tok(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

constexpr uint64_t kMaxAdminBody = 1u << 20;

struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

Reply JsonError(int status, const std::string& message) {
  return {status, "application/json", json{{"error", message}}.dump() + "\n"};
}

int HttpStatusOf(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kUnimplemented:
      return 501;
    default:
      return 503;
  }
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

Reply Handle(ProxyServer* server, const std::string& token,
             const http::request<http::string_body>& req) {
  if (!token.empty()) {
    auto it = req.find(http::field::authorization);
    std::string_view got = it == req.end()
                               ? std::string_view()
                               : std::string_view(it->value().data(), it->value().size());
    if (!ConstantTimeEquals(got, "Bearer " + token)) {
      return JsonError(401, "missing or wrong bearer token");
    }
  }
  std::string_view target(req.target().data(), req.target().size());
  std::string_view query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  const http::verb method = req.method();
  if (target == "/healthz") {
    if (method != http::verb::get) return JsonError(405, "use GET");
    return {200, "text/plain", "ok\n"};
  }
  if (target == "/metrics") {
    if (method != http::verb::get) return JsonError(405, "use GET");
    return {200, "text/plain; version=0.0.4", server->MetricsText()};
  }
  if (target == "/v1/services") {
    if (method != http::verb::get) return JsonError(405, "use GET");
    return {200, "application/json", json{{"services", server->List()}}.dump() + "\n"};
  }
  constexpr std::string_view kPrefix = "/v1/services/";
  if (target.substr(0, kPrefix.size()) != kPrefix) return JsonError(404, "no such endpoint");
  std::string name(target.substr(kPrefix.size()));
  bool signals = false;
  if (auto slash = name.find('/'); slash != std::string::npos) {
    if (name.substr(slash) != "/signals") return JsonError(404, "no such endpoint");
    name = name.substr(0, slash);
    signals = true;
  }
  if (signals) {
    if (method != http::verb::get) return JsonError(405, "use GET");
    int window = 60;
    constexpr std::string_view kWindow = "window=";
    if (auto w = query.find(kWindow); w != std::string_view::npos) {
      std::string_view value = query.substr(w + kWindow.size());
      value = value.substr(0, value.find('&'));
      std::optional<int64_t> nanos = spec::ParseGoDuration(value);
      if (!nanos || *nanos < 1'000'000'000LL || *nanos > 3600'000'000'000LL) {
        return JsonError(400, "window: a duration from 1s to 1h, e.g. 1m");
      }
      window = static_cast<int>(*nanos / 1'000'000'000LL);
    }
    auto out = server->SignalsJson(name, window);
    if (!out) return JsonError(HttpStatusOf(out.error()), out.error().message());
    return {200, "application/json", *out + "\n"};
  }
  switch (method) {
    case http::verb::get: {
      auto table = server->Get(name);
      if (!table) return JsonError(404, "no service \"" + name + "\"");
      return {200, "application/json", EncodeRouteTable(*table).dump() + "\n"};
    }
    case http::verb::put: {
      json body = json::parse(req.body(), nullptr, false);
      if (body.is_discarded()) return JsonError(400, "body: not valid JSON");
      auto table = DecodeRouteTable(body);
      if (!table) return JsonError(HttpStatusOf(table.error()), table.error().message());
      if (!table->name.empty() && table->name != name) {
        return JsonError(400,
                         "name: \"" + table->name + "\" differs from the URL's \"" + name + "\"");
      }
      auto version = server->Apply(name, std::move(*table));
      if (!version) return JsonError(HttpStatusOf(version.error()), version.error().message());
      return {200, "application/json", json{{"name", name}, {"version", *version}}.dump() + "\n"};
    }
    case http::verb::delete_: {
      Status st = server->Remove(name);
      if (!st.ok()) return JsonError(HttpStatusOf(st), st.message());
      return {200, "application/json", json{{"name", name}, {"deleted", true}}.dump() + "\n"};
    }
    default:
      return JsonError(405, "use GET, PUT or DELETE");
  }
}

template <class Protocol>
awaitable<void> AdminSession(ProxyServer* server, std::string token,
                             typename Protocol::socket socket) {
  beast::basic_stream<Protocol> stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    error_code ec;
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(kMaxAdminBody);
    stream.expires_after(std::chrono::seconds(30));
    co_await http::async_read(stream, buffer, parser, Tok(ec));
    if (ec) co_return;
    const auto& req = parser.get();
    Reply reply = Handle(server, token, req);
    http::response<http::string_body> res{static_cast<http::status>(reply.status), req.version()};
    res.set(http::field::content_type, reply.content_type);
    res.body() = std::move(reply.body);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    co_await http::async_write(stream, res, Tok(ec));
    if (ec || !req.keep_alive()) co_return;
  }
}

template <class Acceptor, class Protocol>
void AdminAccept(ProxyServer::Impl* impl, ProxyServer* server, Acceptor* acceptor) {
  acceptor->async_accept([impl, server, acceptor](error_code ec, typename Protocol::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
    if (!ec) {
      asio::co_spawn(impl->accept_ioc,
                     AdminSession<Protocol>(server, impl->options.admin_token, std::move(socket)),
                     asio::detached);
    }
    AdminAccept<Acceptor, Protocol>(impl, server, acceptor);
  });
}

}  // namespace

Status StartAdmin(ProxyServer::Impl* impl, ProxyServer* server) {
  const ProxyOptions& o = impl->options;
  error_code ec;
  if (!o.admin_socket.empty()) {
    using local = asio::local::stream_protocol;
    if (o.admin_socket.size() > 107) {
      return InvalidArgumentError("admin socket path longer than 107 bytes");
    }
    struct stat st;
    if (::lstat(o.admin_socket.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return FailedPreconditionError("admin socket " + o.admin_socket +
                                       " exists and is not a socket");
      }
      ::unlink(o.admin_socket.c_str());  // a stale socket of an earlier run
    }
    auto acceptor = std::make_unique<local::acceptor>(impl->accept_ioc);
    local::endpoint endpoint(o.admin_socket);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) ::chmod(o.admin_socket.c_str(), 0600);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return UnavailableError("admin socket " + o.admin_socket + ": " + ec.message());
    impl->admin_unix = std::move(acceptor);
    AdminAccept<local::acceptor, local>(impl, server, impl->admin_unix.get());
  } else if (!o.admin_address.empty()) {
    auto ep = ParseEndpoint(o.admin_address, false);
    if (!ep && o.admin_address.size() > 2 &&
        o.admin_address.substr(o.admin_address.size() - 2) == ":0") {
      ep = Endpoint{o.admin_address.substr(0, o.admin_address.size() - 2), 0};
    }
    if (!ep) return ep.error().WithPrefix("admin address");
    std::string host = ep->host == "localhost" ? "127.0.0.1" : ep->host;
    auto address = asio::ip::make_address(host, ec);
    if (ec || !address.is_loopback()) {
      return InvalidArgumentError("admin address " + o.admin_address +
                                  ": must be a loopback address (127.0.0.1, [::1], localhost)");
    }
    auto acceptor = std::make_unique<tcp::acceptor>(impl->accept_ioc);
    tcp::endpoint endpoint(address, ep->port);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return UnavailableError("admin address " + o.admin_address + ": " + ec.message());
    impl->admin_port = acceptor->local_endpoint(ec).port();
    impl->admin_tcp = std::move(acceptor);
    AdminAccept<tcp::acceptor, tcp>(impl, server, impl->admin_tcp.get());
  }
  return OkStatus();
}

}  // namespace ramp::proxy
