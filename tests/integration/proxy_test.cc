// The built-in proxy end to end, in-process: ProxyServer on 127.0.0.1 (port 0) in front of
// loopback test backends, spoken to over raw sockets and through its admin API.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "net/testing/http_test_server.h"
#include "proxy/proxy_server.h"
#include "tests/integration/raw_http_testing.h"

namespace ramp::proxy {
namespace {

using nlohmann::json;
using testing::HttpTestServer;
using testing::TestRequest;
using testing::TestResponse;

using raw_http::Body;
using raw_http::Conn;
using raw_http::Get;
using raw_http::StatusOf;

RouteTable Table(int stable_port, std::optional<int> canary_port, int weight,
                 json extra = json::object()) {
  json j = {{"listen", "127.0.0.1:0"},
            {"stable", {"127.0.0.1:" + std::to_string(stable_port)}},
            {"canaryWeight", weight}};
  if (canary_port) j["canary"] = {"127.0.0.1:" + std::to_string(*canary_port)};
  for (auto& [k, v] : extra.items()) j[k] = v;
  auto t = DecodeRouteTable(j);
  EXPECT_TRUE(t.has_value()) << t.error().ToString();
  return *t;
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

TestResponse Named(const std::string& name) {
  TestResponse r;
  r.body = name;
  return r;
}

class ProxyTest : public ::testing::Test {
 protected:
  std::unique_ptr<ProxyServer> StartProxy(ProxyOptions o = {}) {
    if (o.threads == 0) o.threads = 2;
    auto s = ProxyServer::Start(std::move(o));
    EXPECT_TRUE(s.has_value()) << s.error().ToString();
    return s ? std::move(*s) : nullptr;
  }
  HttpTestServer stable_{[](const TestRequest&) { return Named("stable"); }};
  HttpTestServer canary_{[](const TestRequest&) { return Named("canary"); }};
};

TEST_F(ProxyTest, WeightSplitAndTableSwapTakeEffectForTheNextRequest) {
  auto proxy = StartProxy();
  ASSERT_TRUE(proxy);
  auto v1 = proxy->Apply("shop", Table(stable_.Port(), canary_.Port(), 0));
  ASSERT_TRUE(v1.has_value()) << v1.error().ToString();
  const int port = proxy->ServicePort("shop");
  ASSERT_GT(port, 0);
  auto count_canary = [&](int n) {
    Conn c(port);
    int canary = 0;
    for (int i = 0; i < n; ++i) {
      c.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      auto r = c.ReadResponse();
      EXPECT_TRUE(r.has_value());
      if (!r) return -1;
      canary += Body(*r) == "canary";
    }
    return canary;
  };
  EXPECT_EQ(count_canary(500), 0);  // weight 0: exactly none
  auto v2 = proxy->Apply("shop", Table(stable_.Port(), canary_.Port(), 50));
  ASSERT_TRUE(v2.has_value());
  EXPECT_GT(*v2, *v1);
  EXPECT_EQ(proxy->Get("shop")->canary_weight, 50);
  EXPECT_EQ(proxy->Get("shop")->version, *v2);
  const int n = 4000;
  const int canary = count_canary(n);
  EXPECT_NEAR(canary, n * 0.5, 3.3 * std::sqrt(n * 0.25));  // 99.9 % binomial interval
  ASSERT_TRUE(proxy->Apply("shop", Table(stable_.Port(), canary_.Port(), 100)).has_value());
  EXPECT_EQ(count_canary(200), 200);
  // Header routes send matching requests to the canary at weight 0.
  ASSERT_TRUE(
      proxy
          ->Apply("shop", Table(stable_.Port(), canary_.Port(), 0,
                                {{"headerRoutes",
                                  {{{"match", {{{"header", "x-beta"}, {"exact", "yes"}}}}}}}}))
          .has_value());
  EXPECT_EQ(Body(Get(port, "/", "X-Beta: yes\r\n")), "canary");
  EXPECT_EQ(Body(Get(port, "/", "X-Beta: no\r\n")), "stable");
  // The signals count what was served.
  auto signals = json::parse(*proxy->SignalsJson("shop", 60));
  EXPECT_EQ(signals["revisions"]["canary"]["total"]["requests"].get<int>(), canary + 201);
  EXPECT_NE(
      proxy->MetricsText().find("ramp_proxy_requests_total{service=\"shop\",revision=\"stable\"}"),
      std::string::npos);
}

TEST_F(ProxyTest, KeepAliveReusesUpstreamConnectionsAndForwardsHeaders) {
  std::string seen_xff, seen_connection;
  HttpTestServer backend([&](const TestRequest& r) {
    if (auto* v = FindHeader(r.headers, "x-forwarded-for")) seen_xff = *v;
    if (auto* v = FindHeader(r.headers, "x-private")) seen_connection = *v;
    return Named("ok");
  });
  ProxyOptions o;
  o.threads = 1;
  auto proxy = StartProxy(o);
  ASSERT_TRUE(proxy->Apply("svc", Table(backend.Port(), std::nullopt, 0)).has_value());
  Conn c(proxy->ServicePort("svc"));
  for (int i = 0; i < 20; ++i) {
    c.Send(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\n"
        "Connection: keep-alive, x-private\r\nX-Private: secret\r\n\r\n");
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value()) << i;
    EXPECT_EQ(StatusOf(*r), 200);
  }
  EXPECT_EQ(seen_xff, "10.0.0.1, 127.0.0.1");
  EXPECT_EQ(seen_connection, "");  // named in Connection: hop-by-hop, removed
  std::string metrics = proxy->MetricsText();
  EXPECT_NE(metrics.find("ramp_proxy_upstream_connects_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("ramp_proxy_upstream_reused_total 19\n"), std::string::npos);
}

TEST_F(ProxyTest, ChunkedBodiesPassBothWays) {
  HttpTestServer backend([](const TestRequest& r) {
    TestResponse out;
    out.chunked = true;
    out.body = "got " + std::to_string(r.body.size()) + ":" + r.body.substr(0, 5);
    return out;
  });
  auto proxy = StartProxy();
  ASSERT_TRUE(proxy->Apply("svc", Table(backend.Port(), std::nullopt, 0)).has_value());
  Conn c(proxy->ServicePort("svc"));
  std::string big(100000, 'a');
  char size[32];
  std::snprintf(size, sizeof size, "%zx", big.size());
  c.Send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n" +
         std::string(size) + "\r\n" + big + "\r\n0\r\n\r\n");
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(StatusOf(*r), 200);
  EXPECT_NE(r->find("ransfer-Encoding: chunked"), std::string::npos) << *r;
  EXPECT_NE(r->find("got 100005:hello"), std::string::npos) << *r;
}

TEST_F(ProxyTest, UpstreamFailuresAnswer502And504AndCountAsErrors) {
  HttpTestServer slow([](const TestRequest&) {
    TestResponse r = Named("late");
    r.delay = std::chrono::seconds(5);
    return r;
  });
  auto proxy = StartProxy();
  ASSERT_TRUE(proxy->Apply("dead", Table(FreeDeadPort(), std::nullopt, 0)).has_value());
  EXPECT_EQ(StatusOf(Get(proxy->ServicePort("dead"), "/")), 502);
  ASSERT_TRUE(
      proxy->Apply("slow", Table(slow.Port(), std::nullopt, 0, {{"requestTimeout", "300ms"}}))
          .has_value());
  EXPECT_EQ(StatusOf(Get(proxy->ServicePort("slow"), "/")), 504);
  auto signals = json::parse(*proxy->SignalsJson("dead", 60));
  EXPECT_EQ(signals["revisions"]["stable"]["window"]["errors"].get<int>(), 1);
  // A dead endpoint beside a live one: idempotent requests retry on the other.
  json two = {{"stable",
               {"127.0.0.1:" + std::to_string(FreeDeadPort()),
                "127.0.0.1:" + std::to_string(stable_.Port())}}};
  ASSERT_TRUE(proxy->Apply("half", Table(stable_.Port(), std::nullopt, 0, two)).has_value());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(StatusOf(Get(proxy->ServicePort("half"), "/")), 200);
}

TEST_F(ProxyTest, BadClientsAreRefused) {
  ProxyOptions o;
  o.limits.header_read_timeout = std::chrono::milliseconds(300);
  o.limits.max_header_bytes = 4096;
  auto proxy = StartProxy(o);
  ASSERT_TRUE(proxy->Apply("svc", Table(stable_.Port(), std::nullopt, 0)).has_value());
  const int port = proxy->ServicePort("svc");
  {
    Conn c(port);
    c.Send("THIS IS NOT HTTP\r\n\r\n");
    EXPECT_EQ(StatusOf(c.ReadResponse().value_or("")), 400);
  }
  EXPECT_EQ(StatusOf(Get(port, "/", "X-Big: " + std::string(8000, 'b') + "\r\n")), 431);
  {
    Conn c(port);  // slowloris: an unfinished header is cut off
    c.Send("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    EXPECT_TRUE(c.ClosedByPeer());
  }
  {
    Conn c(port);
    c.Send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    EXPECT_EQ(StatusOf(c.ReadResponse().value_or("")), 400);
  }
  {
    Conn c(port);
    c.Send(std::string("\x16\x03\x01\x00\x05hello", 10));
    EXPECT_TRUE(c.ClosedByPeer());
  }
  EXPECT_EQ(Body(Get(port, "/")), "stable");  // still serving
}

TEST_F(ProxyTest, OversizedMalformedAndSlowRequestsGetTheirStatus) {
  ProxyOptions o;
  o.limits.header_read_timeout = std::chrono::milliseconds(300);
  o.limits.max_body_bytes = 1000;
  o.limits.max_header_count = 20;
  auto proxy = StartProxy(o);
  ASSERT_TRUE(proxy->Apply("svc", Table(stable_.Port(), std::nullopt, 0)).has_value());
  const int port = proxy->ServicePort("svc");
  // Sends `raw` on a fresh connection; the status of the answer, and whether the proxy closed.
  auto answer = [&](const std::string& raw, bool* closed = nullptr) {
    Conn c(port);
    c.Send(raw);
    int status = StatusOf(c.ReadResponse().value_or(""));
    if (closed != nullptr) *closed = c.ClosedByPeer();
    return status;
  };
  bool closed = false;
  // 413: a declared body over the limit is refused before any of it is read.
  EXPECT_EQ(answer("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", &closed), 413);
  EXPECT_TRUE(closed);
  // A chunked body that grows over the limit: 413 when it does, then the connection closes.
  EXPECT_EQ(answer("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" +
                       std::string(2000, 'a') + "\r\n0\r\n\r\n",
                   &closed),
            413);
  EXPECT_TRUE(closed);
  // 431: too many header fields, each of them small.
  std::string many;
  for (int i = 0; i < 30; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(answer("GET / HTTP/1.1\r\nHost: x\r\n" + many + "\r\n", &closed), 431);
  EXPECT_TRUE(closed);
  // 400: malformed heads and bodies.
  for (const std::string raw : {
           "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
           "GET / HTTP/9.1\r\nHost: x\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n",
           "GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n",
       }) {
    EXPECT_EQ(answer(raw, &closed), 400) << raw;
    EXPECT_TRUE(closed) << raw;
  }
  // 408: a request head that stops arriving (slowloris) is answered, then closed.
  {
    Conn c(port);
    c.Send("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(StatusOf(*r), 408);
    EXPECT_EQ(Body(*r), "request header not received in time\n");
    EXPECT_TRUE(c.ClosedByPeer());
  }
  // The same limit applies to the next request of a keep-alive connection.
  {
    Conn c(port);
    c.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHo");
    EXPECT_EQ(StatusOf(c.ReadResponse().value_or("")), 200);
    EXPECT_EQ(StatusOf(c.ReadResponse().value_or("")), 408);
  }
  EXPECT_EQ(Body(Get(port, "/")), "stable");  // still serving
}

// A change to a running service is in effect at once and stored; one that cannot be stored is
// refused and taken back, so what serves is always what a restart would bring back.
TEST_F(ProxyTest, AChangeThatCannotBeStoredIsTakenBack) {
  auto dir = std::filesystem::temp_directory_path() /
             ("ramp-proxy-unstored-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ProxyOptions o;
  o.state_file = (dir / "state.json").string();
  auto proxy = StartProxy(o);
  ASSERT_TRUE(proxy);
  ASSERT_TRUE(proxy->Apply("shop", Table(stable_.Port(), canary_.Port(), 0)).has_value());
  const int port = proxy->ServicePort("shop");
  Conn c(port);  // one keep-alive client throughout
  auto next = [&] {
    c.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    auto r = c.ReadResponse();
    return r ? Body(*r) : std::string("no answer");
  };
  EXPECT_EQ(next(), "stable");
  ASSERT_TRUE(proxy->Apply("shop", Table(stable_.Port(), canary_.Port(), 100)).has_value());
  EXPECT_EQ(next(), "canary");
  // The state file cannot be written: its temporary name is taken by a directory.
  std::filesystem::create_directories(dir / "state.json.tmp");
  auto refused = proxy->Apply("shop", Table(stable_.Port(), canary_.Port(), 0));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.error().message().find("state file"), std::string::npos);
  EXPECT_EQ(proxy->Get("shop")->canary_weight, 100);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(next(), "canary");
  std::filesystem::remove_all(dir / "state.json.tmp");
  proxy.reset();
  auto again = StartProxy(o);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->Get("shop")->canary_weight, 100);
  again.reset();
  std::filesystem::remove_all(dir);
}

TEST_F(ProxyTest, AdminApiAndPersistenceAcrossRestart) {
  auto dir =
      std::filesystem::temp_directory_path() / ("ramp-proxy-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);  // a run that crashed under the same pid left its state
  std::filesystem::create_directories(dir);
  ProxyOptions o;
  o.admin_address = "127.0.0.1:0";
  o.admin_token = "s3cret";
  o.state_file = (dir / "state.json").string();
  auto proxy = StartProxy(o);
  ASSERT_TRUE(proxy);
  int admin = proxy->AdminPort();
  ASSERT_GT(admin, 0);
  auto call = [&](const std::string& method, const std::string& path, const std::string& body,
                  bool auth = true) {
    Conn c(admin);
    c.Send(method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
           (auth ? "Authorization: Bearer s3cret\r\n" : "") +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    return c.ReadResponse().value_or("");
  };
  json cfg = {{"listen", "127.0.0.1:0"},
              {"stable", {"127.0.0.1:" + std::to_string(stable_.Port())}},
              {"canary", {"127.0.0.1:" + std::to_string(canary_.Port())}},
              {"canaryWeight", 100}};
  EXPECT_EQ(StatusOf(call("PUT", "/v1/services/shop", cfg.dump(), false)), 401);
  std::string put = call("PUT", "/v1/services/shop", cfg.dump());
  ASSERT_EQ(StatusOf(put), 200) << put;
  EXPECT_EQ(json::parse(Body(put))["version"].get<int>(), 1);
  cfg["canaryWeight"] = 1000;
  std::string bad = call("PUT", "/v1/services/shop", cfg.dump());
  EXPECT_EQ(StatusOf(bad), 400);
  EXPECT_NE(bad.find("canaryWeight"), std::string::npos) << bad;
  std::string got = call("GET", "/v1/services/shop", "");
  EXPECT_EQ(json::parse(Body(got))["canaryWeight"].get<int>(), 100);
  EXPECT_EQ(json::parse(Body(call("GET", "/v1/services", "")))["services"], json({"shop"}));
  EXPECT_EQ(Body(Get(proxy->ServicePort("shop"), "/")), "canary");
  EXPECT_EQ(StatusOf(call("GET", "/healthz", "")), 200);
  // The proxy counts a request once its answer is written, which can be just after the client
  // has read it: the counters are polled (with a deadline) rather than read once.
  const std::string counted = "ramp_proxy_requests_total{service=\"shop\",revision=\"canary\"} 1";
  std::string metrics;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(std::chrono::milliseconds(10))) {
    metrics = call("GET", "/metrics", "");
    if (metrics.find(counted) != std::string::npos) break;
  }
  EXPECT_NE(metrics.find(counted), std::string::npos) << metrics;
  std::string signals = call("GET", "/v1/services/shop/signals?window=5m", "");
  ASSERT_EQ(StatusOf(signals), 200) << signals;
  EXPECT_EQ(json::parse(Body(signals))["revisions"]["canary"]["window"]["requests"].get<int>(), 1);
  // Restart: the table comes back from the state file (the port was 0, so it rebinds anew).
  proxy.reset();
  auto again = StartProxy(o);
  ASSERT_TRUE(again);
  admin = again->AdminPort();
  auto table = again->Get("shop");
  ASSERT_TRUE(table.has_value());
  EXPECT_EQ(table->canary_weight, 100);
  EXPECT_EQ(table->version, 1u);
  EXPECT_EQ(Body(Get(again->ServicePort("shop"), "/")), "canary");
  EXPECT_EQ(StatusOf(call("DELETE", "/v1/services/shop", "")), 200);
  EXPECT_EQ(StatusOf(call("GET", "/v1/services/shop", "")), 404);
  again.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ramp::proxy
