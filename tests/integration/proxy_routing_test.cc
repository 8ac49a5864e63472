// The built-in proxy's routing features end to end, in-process: mirroring, sticky sessions,
// leastRequest balancing, passive health ejection, graceful drain of a removed instance and
// WebSocket pass-through. ProxyServer on 127.0.0.1 (port 0) in front of TestBackend instances
// (src/proxy/test_backend.h), spoken to over raw sockets. Every wait is a bounded poll on an
// observable condition; nothing sleeps and nothing asserts on timing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "proxy/proxy_server.h"
#include "proxy/test_backend.h"
#include "tests/integration/raw_http_testing.h"

namespace ramp::proxy {
namespace {

using nlohmann::json;
using testing::TestBackend;

using raw_http::Body;
using raw_http::Conn;
using raw_http::Get;
using raw_http::StatusOf;

// The value of response header `name` (case-insensitive), or "".
std::string HeaderOf(const std::string& response, const std::string& name) {
  size_t end = response.find("\r\n\r\n");
  size_t pos = response.find("\r\n");
  while (pos != std::string::npos && pos < end) {
    size_t next = response.find("\r\n", pos + 2);
    std::string line = response.substr(pos + 2, next - pos - 2);
    size_t colon = line.find(':');
    if (colon != std::string::npos && colon == name.size() &&
        std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      size_t v = line.find_first_not_of(' ', colon + 1);
      return v == std::string::npos ? "" : line.substr(v);
    }
    pos = next;
  }
  return "";
}

// The value of the metrics line that starts with `series` ("name{labels}"), or -1.
double Metric(const std::string& text, const std::string& series) {
  size_t pos = text.find("\n" + series + " ");
  if (pos == std::string::npos) return -1;
  return std::strtod(text.c_str() + pos + series.size() + 2, nullptr);
}

std::string Addr(int port) { return "127.0.0.1:" + std::to_string(port); }

RouteTable Table(json j) {
  if (!j.contains("listen")) j["listen"] = "127.0.0.1:0";
  auto t = DecodeRouteTable(j);
  EXPECT_TRUE(t.has_value()) << t.error().ToString();
  return t ? *t : RouteTable{};
}

int FreeDeadPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class ProxyRoutingTest : public ::testing::Test {
 protected:
  std::unique_ptr<ProxyServer> StartProxy(ProxyOptions o = {}) {
    if (o.threads == 0) o.threads = 1;
    auto s = ProxyServer::Start(std::move(o));
    EXPECT_TRUE(s.has_value()) << s.error().ToString();
    return s ? std::move(*s) : nullptr;
  }
  // Polls the proxy's metrics until `series` reaches `at_least` (bounded); returns its value.
  double WaitForMetric(ProxyServer* proxy, const TestBackend& any, const std::string& series,
                       double at_least) {
    any.WaitUntil([&] { return Metric(proxy->MetricsText(), series) >= at_least; });
    return Metric(proxy->MetricsText(), series);
  }
  TestBackend stable_{"stable"};
  TestBackend canary_{"canary"};
};

TEST_F(ProxyRoutingTest, MirrorsMatchingRequestsToTheCanaryWithoutAffectingThem) {
  ProxyOptions o;
  o.limits.max_mirrors_per_worker = 1;
  auto proxy = StartProxy(o);
  ASSERT_TRUE(proxy);
  json cfg = json::parse(R"({
    "mirrorRoutes": [
      {"name": "reads", "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/m/"}}]},
      {"name": "writes", "match": [{"headers": {"X-Mirror": {"exact": "1"}}}]}]})");
  cfg["stable"] = {Addr(stable_.Port())};
  cfg["canary"] = {Addr(canary_.Port())};
  ASSERT_TRUE(proxy->Apply("shop", Table(cfg)).has_value());
  const int port = proxy->ServicePort("shop");
  const std::string mirrored = "ramp_proxy_mirrored_requests_total{service=\"shop\"}";
  const std::string dropped_body =
      "ramp_proxy_mirror_dropped_total{service=\"shop\",reason=\"body\"}";
  const std::string dropped_overload =
      "ramp_proxy_mirror_dropped_total{service=\"shop\",reason=\"overload\"}";

  // A matching GET is served by the stable revision and copied to the canary.
  EXPECT_EQ(Body(Get(port, "/m/items?page=2", "X-Forwarded-For: 10.1.1.1\r\n")), "stable");
  ASSERT_TRUE(canary_.WaitUntil([&] { return canary_.RequestCount() == 1; }));
  {
    auto copy = canary_.Requests()[0];
    EXPECT_EQ(copy.method, "GET");
    EXPECT_EQ(copy.target, "/m/items?page=2");
    EXPECT_EQ(copy.Header("x-forwarded-for").value_or(""), "10.1.1.1, 127.0.0.1");
  }
  // Not matching: neither the path nor the method of "reads", no header for "writes".
  EXPECT_EQ(Body(Get(port, "/other")), "stable");
  {
    Conn c(port);
    c.Send("HEAD /m/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(StatusOf(c.ReadHead().value_or("")), 200);  // a HEAD answer has no body
  }
  // A POST with a small body: the copy carries the body.
  {
    Conn c(port);
    c.Send(
        "POST /orders HTTP/1.1\r\nHost: x\r\nX-Mirror: 1\r\nContent-Length: 11\r\n"
        "Connection: close\r\n\r\nhello world");
    EXPECT_EQ(Body(c.ReadResponse().value_or("")), "stable");
  }
  ASSERT_TRUE(canary_.WaitUntil([&] { return canary_.RequestCount() == 2; }));
  EXPECT_EQ(canary_.Requests()[1].method, "POST");
  EXPECT_EQ(canary_.Requests()[1].body, "hello world");
  // Bodies that cannot be buffered are not mirrored (the request itself is served): chunked,
  // and larger than 64 KiB.
  {
    Conn c(port);
    c.Send(
        "POST /chunked HTTP/1.1\r\nHost: x\r\nX-Mirror: 1\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    EXPECT_EQ(Body(c.ReadResponse().value_or("")), "stable");
  }
  {
    Conn c(port);
    const std::string big(70 * 1024, 'b');
    c.Send("POST /big HTTP/1.1\r\nHost: x\r\nX-Mirror: 1\r\nContent-Length: " +
           std::to_string(big.size()) + "\r\nConnection: close\r\n\r\n" + big);
    EXPECT_EQ(Body(c.ReadResponse().value_or("")), "stable");
  }
  EXPECT_EQ(stable_.Requests().back().body.size(), 70u * 1024);
  std::string metrics = proxy->MetricsText();
  EXPECT_EQ(Metric(metrics, mirrored), 2) << metrics;
  EXPECT_EQ(Metric(metrics, dropped_body), 2) << metrics;
  EXPECT_EQ(Metric(metrics, dropped_overload), 0) << metrics;

  // A canary that does not answer never delays the real request; over the cap (1 per worker
  // here) further copies are dropped and counted.
  canary_.Hold(true);
  EXPECT_EQ(Body(Get(port, "/m/1")), "stable");
  ASSERT_TRUE(canary_.WaitUntil([&] { return canary_.RequestCount() == 3; }));
  EXPECT_EQ(Body(Get(port, "/m/2")), "stable");
  EXPECT_EQ(Metric(proxy->MetricsText(), dropped_overload), 1);
  canary_.ReleaseAll();
  canary_.Hold(false);
  // Once the held copy is answered its slot is free again.
  EXPECT_TRUE(canary_.WaitUntil([&] {
    EXPECT_EQ(Body(Get(port, "/m/3")), "stable");
    return canary_.RequestCount() >= 4;
  }));
  // Every copy counted as mirrored reaches the canary.
  EXPECT_TRUE(canary_.WaitUntil([&] {
    return canary_.RequestCount() == static_cast<size_t>(Metric(proxy->MetricsText(), mirrored));
  }));

  // A canary that cannot be reached: the real request is unaffected, the failure is counted.
  cfg = json::parse(R"({"mirrorRoutes": [{"match": [{}]}]})");
  cfg["stable"] = {Addr(stable_.Port())};
  cfg["canary"] = {Addr(FreeDeadPort())};
  ASSERT_TRUE(proxy->Apply("shop", Table(cfg)).has_value());
  EXPECT_EQ(Body(Get(port, "/anything")), "stable");
  EXPECT_GE(
      WaitForMetric(proxy.get(), canary_, "ramp_proxy_mirror_failures_total{service=\"shop\"}", 1),
      1);
}

TEST_F(ProxyRoutingTest, StickyCookieAndHeaderKeepAClientOnItsRevision) {
  auto proxy = StartProxy();
  ASSERT_TRUE(proxy);
  json cfg = {{"stable", {Addr(stable_.Port())}},
              {"canary", {Addr(canary_.Port())}},
              {"canaryWeight", 50},
              {"sticky", {{"cookie", "rev"}, {"ttl", "1h"}}}};
  ASSERT_TRUE(proxy->Apply("shop", Table(cfg)).has_value());
  const int port = proxy->ServicePort("shop");
  // A client without the cookie gets one with its first answer, then stays where it landed.
  std::map<std::string, std::string> revision_of;  // cookie → revision
  for (int client = 0; client < 30; ++client) {
    std::string first = Get(port, "/");
    ASSERT_EQ(StatusOf(first), 200);
    std::string set_cookie = HeaderOf(first, "Set-Cookie");
    ASSERT_EQ(set_cookie.rfind("rev=", 0), 0u) << first;
    EXPECT_NE(set_cookie.find("; Path=/; HttpOnly; Max-Age=3600"), std::string::npos);
    std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
    revision_of[cookie] = Body(first);
    Conn c(port);
    for (int i = 0; i < 8; ++i) {
      c.Send("GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1; " + cookie + "\r\n\r\n");
      auto r = c.ReadResponse();
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(Body(*r), revision_of[cookie]) << cookie;
      EXPECT_EQ(HeaderOf(*r, "Set-Cookie"), "");  // already assigned
    }
  }
  std::set<std::string> seen;
  for (const auto& [cookie, rev] : revision_of) seen.insert(rev);
  EXPECT_EQ(seen, (std::set<std::string>{"stable", "canary"}));  // both, at weight 50
  // Raising the weight moves clients only from stable to canary.
  cfg["canaryWeight"] = 80;
  ASSERT_TRUE(proxy->Apply("shop", Table(cfg)).has_value());
  for (const auto& [cookie, rev] : revision_of) {
    std::string now = Body(Get(port, "/", "Cookie: " + cookie + "\r\n"));
    if (rev == "canary") {
      EXPECT_EQ(now, "canary") << cookie;
    }
  }
  // Header routes still win over the cookie.
  cfg["headerRoutes"] = {{{"match", {{{"header", "x-beta"}, {"exact", "yes"}}}}}};
  cfg["canaryWeight"] = 0;
  ASSERT_TRUE(proxy->Apply("shop", Table(cfg)).has_value());
  const std::string any_cookie = revision_of.begin()->first;
  EXPECT_EQ(Body(Get(port, "/", "Cookie: " + any_cookie + "\r\nX-Beta: yes\r\n")), "canary");
  EXPECT_EQ(Body(Get(port, "/", "Cookie: " + any_cookie + "\r\n")), "stable");  // weight 0

  // Keyed by a request header: the same value always lands on the same revision, no cookie set.
  ASSERT_TRUE(proxy
                  ->Apply("users", Table({{"stable", {Addr(stable_.Port())}},
                                          {"canary", {Addr(canary_.Port())}},
                                          {"canaryWeight", 50},
                                          {"sticky", {{"header", "X-User"}}}}))
                  .has_value());
  const int users_port = proxy->ServicePort("users");
  std::set<std::string> user_revisions;
  for (int u = 0; u < 20; ++u) {
    const std::string header = "X-User: user-" + std::to_string(u) + "\r\n";
    std::string first = Get(users_port, "/", header);
    EXPECT_EQ(HeaderOf(first, "Set-Cookie"), "");
    user_revisions.insert(Body(first));
    for (int i = 0; i < 5; ++i) EXPECT_EQ(Body(Get(users_port, "/", header)), Body(first));
  }
  EXPECT_EQ(user_revisions.size(), 2u);
}

TEST_F(ProxyRoutingTest, LeastRequestAvoidsABusyInstance) {
  TestBackend busy("busy");
  TestBackend idle("idle");
  busy.Hold(true);
  auto proxy = StartProxy();
  ASSERT_TRUE(proxy);
  ASSERT_TRUE(proxy
                  ->Apply("svc", Table({{"stable", {Addr(busy.Port()), Addr(idle.Port())}},
                                        {"loadBalancing", "leastRequest"}}))
                  .has_value());
  const int port = proxy->ServicePort("svc");
  // Make one request hang on `busy` (with both idle, either may be picked: retry until so).
  std::unique_ptr<Conn> hanging;
  for (int attempt = 0; attempt < 50 && busy.RequestCount() == 0; ++attempt) {
    auto c = std::make_unique<Conn>(port);
    const size_t idle_before = idle.RequestCount();
    c->Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(busy.WaitUntil(
        [&] { return busy.RequestCount() == 1 || idle.RequestCount() > idle_before; }));
    if (busy.RequestCount() == 1) {
      hanging = std::move(c);
    } else {
      EXPECT_EQ(Body(c->ReadResponse().value_or("")), "idle");
    }
  }
  ASSERT_TRUE(hanging);
  // With one request in flight on `busy`, every new request goes to `idle` (round robin would
  // send every other one to `busy`, where it would hang).
  Conn c(port);
  for (int i = 0; i < 20; ++i) {
    c.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value()) << i;
    EXPECT_EQ(Body(*r), "idle");
  }
  EXPECT_EQ(busy.RequestCount(), 1u);
  busy.ReleaseAll();
  EXPECT_EQ(Body(hanging->ReadResponse().value_or("")), "busy");
  EXPECT_EQ(proxy->Get("svc")->load_balancing, LoadBalancing::kLeastRequest);
}

TEST_F(ProxyRoutingTest, FailingInstancesAreEjectedButNeverTheLastOne) {
  TestBackend bad("bad");
  TestBackend good("good");
  bad.SetStatus(503);
  auto proxy = StartProxy();
  ASSERT_TRUE(proxy);
  ASSERT_TRUE(proxy
                  ->Apply("svc", Table({{"stable", {Addr(bad.Port()), Addr(good.Port())}},
                                        {"outlierDetection",
                                         {{"consecutiveFailures", 2}, {"ejectionTime", "1h"}}}}))
                  .has_value());
  const int port = proxy->ServicePort("svc");
  // Round robin alternates, so `bad` answers every other request until its second 503.
  int failures = 0;
  Conn c(port);
  for (int i = 0; i < 10 && failures < 2; ++i) {
    c.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value());
    failures += StatusOf(*r) == 503;
  }
  ASSERT_EQ(failures, 2);
  const size_t bad_seen = bad.RequestCount();
  for (int i = 0; i < 20; ++i) {
    c.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(StatusOf(*r), 200);
    EXPECT_EQ(Body(*r), "good");
  }
  EXPECT_EQ(bad.RequestCount(), bad_seen);  // skipped while ejected
  std::string metrics = proxy->MetricsText();
  EXPECT_EQ(Metric(metrics, "ramp_proxy_ejections_total{service=\"svc\"}"), 1) << metrics;
  EXPECT_EQ(Metric(metrics, "ramp_proxy_ejected_endpoints{service=\"svc\",revision=\"stable\"}"),
            1);

  // A set of one is never ejected: its 503s pass through.
  ASSERT_TRUE(proxy
                  ->Apply("solo", Table({{"stable", {Addr(bad.Port())}},
                                         {"outlierDetection", {{"consecutiveFailures", 1}}}}))
                  .has_value());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(StatusOf(Get(proxy->ServicePort("solo"), "/")), 503);
  EXPECT_EQ(Metric(proxy->MetricsText(), "ramp_proxy_ejections_total{service=\"solo\"}"), 0);

  // Connect failures count too, and an ejected instance comes back after ejectionTime.
  ASSERT_TRUE(
      proxy
          ->Apply("flaky", Table({{"stable", {Addr(FreeDeadPort()), Addr(good.Port())}},
                                  {"outlierDetection",
                                   {{"consecutiveFailures", 1}, {"ejectionTime", "200ms"}}}}))
          .has_value());
  const int flaky = proxy->ServicePort("flaky");
  const std::string ejections = "ramp_proxy_ejections_total{service=\"flaky\"}";
  bool ejected_twice = good.WaitUntil([&] {
    EXPECT_EQ(StatusOf(Get(flaky, "/")), 200);  // the retry on `good` hides the failure
    return Metric(proxy->MetricsText(), ejections) >= 2;
  });
  EXPECT_TRUE(ejected_twice) << proxy->MetricsText();
}

TEST_F(ProxyRoutingTest, RemovedInstanceFinishesItsRequestsAndItsIdleConnectionsClose) {
  TestBackend a("a");
  TestBackend b("b");
  auto proxy = StartProxy();
  ASSERT_TRUE(proxy);
  ASSERT_TRUE(proxy->Apply("svc", Table({{"stable", {Addr(a.Port())}}})).has_value());
  const int port = proxy->ServicePort("svc");
  a.Hold(true);
  // Request 0 stays in flight on `a`; request 1 (on a second upstream connection) is answered,
  // so that connection goes back to the pool, idle.
  Conn slow(port);
  slow.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(a.WaitUntil([&] { return a.RequestCount() == 1; }));
  Conn quick(port);
  quick.Send("GET /quick HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(a.WaitUntil([&] { return a.RequestCount() == 2; }));
  a.Release(1);
  EXPECT_EQ(Body(quick.ReadResponse().value_or("")), "a");
  const int busy_conn = a.Requests()[0].connection;
  const int idle_conn = a.Requests()[1].connection;
  ASSERT_NE(busy_conn, idle_conn);

  // `a` leaves the table.
  ASSERT_TRUE(proxy->Apply("svc", Table({{"stable", {Addr(b.Port())}}})).has_value());
  EXPECT_TRUE(a.WaitUntil([&] { return a.ConnectionClosedByPeer(idle_conn); }))
      << "the idle pooled connection to the removed instance was not closed";
  EXPECT_FALSE(a.ConnectionClosedByPeer(busy_conn));
  EXPECT_EQ(Body(Get(port, "/new")), "b");
  // The request in flight completes normally on the instance that was removed.
  a.Release(0);
  auto r = slow.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(StatusOf(*r), 200);
  EXPECT_EQ(Body(*r), "a");
  // Its connection is closed after it instead of going back to the pool.
  EXPECT_TRUE(a.WaitUntil([&] { return a.ConnectionClosedByPeer(busy_conn); }));
  EXPECT_EQ(a.RequestCount(), 2u);
  EXPECT_EQ(Metric(proxy->MetricsText(), "ramp_proxy_upstream_closed_on_removal_total"), 2);
  // The client connection of the drained request keeps working, now on `b`.
  slow.Send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Body(slow.ReadResponse().value_or("")), "b");
}

TEST_F(ProxyRoutingTest, WebSocketUpgradesAreSplicedBothWays) {
  TestBackend ws("ws");
  auto proxy = StartProxy();
  ASSERT_TRUE(proxy);
  ASSERT_TRUE(proxy->Apply("chat", Table({{"stable", {Addr(ws.Port())}}, {"idleTimeout", "1s"}}))
                  .has_value());
  const int port = proxy->ServicePort("chat");
  const std::string handshake =
      "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  {
    Conn c(port);
    c.Send(handshake);
    auto head = c.ReadHead();
    ASSERT_TRUE(head.has_value());
    EXPECT_EQ(StatusOf(*head), 101) << *head;
    EXPECT_EQ(HeaderOf(*head, "Upgrade"), "websocket");
    EXPECT_EQ(HeaderOf(*head, "Connection"), "Upgrade");
    EXPECT_EQ(HeaderOf(*head, "Sec-WebSocket-Accept"), "test");
    auto req = ws.Requests().at(0);
    EXPECT_EQ(req.Header("upgrade").value_or(""), "websocket");
    EXPECT_EQ(req.Header("connection").value_or(""), "Upgrade");
    EXPECT_EQ(req.Header("sec-websocket-key").value_or(""), "dGhlIHNhbXBsZSBub25jZQ==");
    // Bytes flow both ways, small and large.
    c.Send("ping-1");
    EXPECT_EQ(c.ReadExactly(6).value_or(""), "ping-1");
    std::string big(200 * 1024, 'x');
    for (size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>('a' + i % 26);
    c.Send(big);
    EXPECT_EQ(c.ReadExactly(big.size()).value_or(""), big);
  }
  // The client closed: the proxy closes the upstream side too.
  EXPECT_TRUE(ws.WaitUntil([&] { return ws.ConnectionClosedByPeer(0); }));
  // An upgraded connection with no traffic is closed after idleTimeout.
  {
    Conn c(port);
    c.Send(handshake);
    ASSERT_EQ(StatusOf(c.ReadHead().value_or("")), 101);
    EXPECT_TRUE(c.ClosedByPeer());
  }
  EXPECT_TRUE(ws.WaitUntil([&] { return ws.ConnectionsClosedByPeer() == 2; }));
  EXPECT_EQ(Metric(proxy->MetricsText(), "ramp_proxy_upgrades_total{service=\"chat\"}"), 2);
  // Other upgrade protocols are not performed: Upgrade is removed, the request is served.
  {
    Conn c(port);
    c.Send("GET /h2 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(StatusOf(*r), 200);
    EXPECT_FALSE(ws.Requests().back().Header("upgrade").has_value());
  }
}

TEST_F(ProxyRoutingTest, NewFieldsAreValidatedReadBackAndPersisted) {
  auto dir = std::filesystem::temp_directory_path() /
             ("ramp-proxy-routing-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ProxyOptions o;
  o.admin_address = "127.0.0.1:0";
  o.admin_token = "t0ken";
  o.state_file = (dir / "state.json").string();
  auto proxy = StartProxy(o);
  ASSERT_TRUE(proxy);
  auto call = [&](int admin, const std::string& method, const std::string& path,
                  const std::string& body) {
    Conn c(admin);
    c.Send(method + " " + path +
           " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer t0ken\r\n"
           "Content-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body);
    return c.ReadResponse().value_or("");
  };
  json cfg = json::parse(R"({
    "listen": "127.0.0.1:0",
    "canaryWeight": 10,
    "mirrorRoutes": [{"name": "m", "percentage": 25, "match": [{"method": {"exact": "GET"},
                      "path": {"regex": "/api/.*"}, "headers": {"X-Env": {"prefix": "prod"}}}]}],
    "sticky": {"cookie": "rev", "ttl": "30m"},
    "loadBalancing": "leastRequest",
    "outlierDetection": {"consecutiveFailures": 3, "ejectionTime": "10s"}})");
  cfg["stable"] = {Addr(stable_.Port())};
  cfg["canary"] = {Addr(canary_.Port())};
  // Validation errors name the field path.
  json bad = cfg;
  bad["mirrorRoutes"][0]["match"][0]["path"] = {{"regex", "("}};
  std::string answer = call(proxy->AdminPort(), "PUT", "/v1/services/shop", bad.dump());
  EXPECT_EQ(StatusOf(answer), 400);
  EXPECT_NE(answer.find("mirrorRoutes[0].match[0].path.regex: invalid regex"), std::string::npos)
      << answer;
  bad = cfg;
  bad["outlierDetection"]["ejectionTime"] = "soon";
  answer = call(proxy->AdminPort(), "PUT", "/v1/services/shop", bad.dump());
  EXPECT_EQ(StatusOf(answer), 400);
  EXPECT_NE(answer.find("outlierDetection.ejectionTime: invalid duration"), std::string::npos)
      << answer;
  bad = cfg;
  bad.erase("canary");
  bad["canaryWeight"] = 0;
  answer = call(proxy->AdminPort(), "PUT", "/v1/services/shop", bad.dump());
  EXPECT_NE(answer.find("canary: needs at least one endpoint when mirrorRoutes are set"),
            std::string::npos)
      << answer;
  // Accepted (leastRequest no longer answers 501) and read back.
  answer = call(proxy->AdminPort(), "PUT", "/v1/services/shop", cfg.dump());
  ASSERT_EQ(StatusOf(answer), 200) << answer;
  json got = json::parse(Body(call(proxy->AdminPort(), "GET", "/v1/services/shop", "")));
  EXPECT_EQ(got["loadBalancing"], "leastRequest");
  EXPECT_EQ(got["sticky"], json({{"cookie", "rev"}, {"ttl", "30m0s"}}));
  EXPECT_EQ(got["outlierDetection"], json({{"consecutiveFailures", 3}, {"ejectionTime", "10s"}}));
  EXPECT_EQ(got["mirrorRoutes"],
            json::parse(R"([{"name": "m", "percentage": 25, "match": [{"method": {"exact": "GET"},
              "path": {"regex": "/api/.*"}, "headers": {"x-env": {"prefix": "prod"}}}]}])"));
  // The state file brings it back after a restart.
  proxy.reset();
  auto again = StartProxy(o);
  ASSERT_TRUE(again);
  json after = json::parse(Body(call(again->AdminPort(), "GET", "/v1/services/shop", "")));
  EXPECT_EQ(after, got);
  again.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ramp::proxy
