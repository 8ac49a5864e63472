#include "proxy/route_table.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

namespace ramp::proxy {
namespace {

using nlohmann::json;

using Headers = std::map<std::string, std::string>;

class MapView : public RequestView {
 public:
  explicit MapView(Headers h) : h_(std::move(h)) {}
  std::optional<std::string_view> Header(std::string_view name) const override {
    auto it = h_.find(std::string(name));
    if (it == h_.end()) return std::nullopt;
    return std::string_view(it->second);
  }

 private:
  std::map<std::string, std::string> h_;
};

json Base() {
  return {{"listen", "127.0.0.1:8080"},
          {"stable", {"127.0.0.1:9001", "127.0.0.1:9002"}},
          {"canary", {"127.0.0.1:9101"}}};
}

RouteTable Decode(const json& j) {
  auto t = DecodeRouteTable(j);
  EXPECT_TRUE(t.has_value()) << (t ? "" : t.error().ToString());
  return t ? *t : RouteTable{};
}

std::string ErrorOf(const json& j) {
  auto t = DecodeRouteTable(j);
  return t ? std::string("no error") : t.error().message();
}

TEST(RouteTableTest, DecodesDefaultsAndRoundTrips) {
  json j = Base();
  j["canaryWeight"] = 5;
  j["headerRoutes"] = {{{"name", "beta"}, {"match", {{{"header", "X-Canary"}, {"exact", "1"}}}}}};
  j["connectTimeout"] = "300ms";
  RouteTable t = Decode(j);
  EXPECT_EQ(t.listen.port, 8080);
  EXPECT_EQ(t.stable.size(), 2u);
  EXPECT_EQ(t.max_weight, 100);
  EXPECT_EQ(t.canary_weight, 5);
  EXPECT_EQ(t.connect_timeout.count(), 300);
  EXPECT_EQ(t.request_timeout.count(), 60000);
  ASSERT_EQ(t.header_routes.size(), 1u);
  EXPECT_EQ(t.header_routes[0].matches[0].header, "x-canary");
  RouteTable again = Decode(EncodeRouteTable(t));
  EXPECT_EQ(EncodeRouteTable(again), EncodeRouteTable(t));
}

TEST(RouteTableTest, ErrorsNameTheField) {
  json j = Base();
  j["canaryWieght"] = 5;
  EXPECT_NE(ErrorOf(j).find("canaryWieght: unknown field"), std::string::npos) << ErrorOf(j);
  j = Base();
  j["canaryWeight"] = 101;
  EXPECT_NE(ErrorOf(j).find("canaryWeight: must be between 0 and 100"), std::string::npos);
  j = Base();
  j["maxWeight"] = 10001;
  EXPECT_NE(ErrorOf(j).find("maxWeight"), std::string::npos);
  j = Base();
  j["stable"] = {"127.0.0.1:0"};
  EXPECT_NE(ErrorOf(j).find("stable[0]"), std::string::npos) << ErrorOf(j);
  j = Base();
  j["stable"] = json::array();
  EXPECT_NE(ErrorOf(j).find("stable: needs at least one"), std::string::npos);
  j = Base();
  j["headerRoutes"] = {{{"match", {{{"header", "x"}, {"regex", "("}}}}}};
  EXPECT_NE(ErrorOf(j).find("headerRoutes[0].match[0].regex: invalid regex"), std::string::npos)
      << ErrorOf(j);
  j = Base();
  j["headerRoutes"] = {{{"match", {{{"header", "x"}, {"exact", "a"}, {"prefix", "b"}}}}}};
  EXPECT_NE(ErrorOf(j).find("exactly one of"), std::string::npos);
  j = Base();
  j["connectTimeout"] = "5";
  EXPECT_NE(ErrorOf(j).find("connectTimeout: invalid duration"), std::string::npos);
  j = Base();
  j.erase("listen");
  EXPECT_NE(ErrorOf(j).find("listen: required"), std::string::npos);
  j = Base();
  j["loadBalancing"] = "random";
  EXPECT_NE(ErrorOf(j).find("loadBalancing: must be \"roundRobin\" or \"leastRequest\""),
            std::string::npos)
      << ErrorOf(j);
  j = Base();
  j.erase("canary");
  j["canaryWeight"] = 1;
  EXPECT_NE(ErrorOf(j).find("canary: needs at least one endpoint"), std::string::npos);
  EXPECT_NE(ErrorOf(json::array()).find("must be an object"), std::string::npos);
}

TEST(RouteTableTest, ParseEndpoint) {
  EXPECT_EQ(ParseEndpoint("[::1]:80", false)->host, "::1");
  EXPECT_EQ(ParseEndpoint(":8080", true)->port, 8080);
  EXPECT_FALSE(ParseEndpoint(":8080", false));
  EXPECT_FALSE(ParseEndpoint("::1:80", false));
  EXPECT_FALSE(ParseEndpoint("host:65536", false));
  EXPECT_FALSE(ParseEndpoint("host", false));
  EXPECT_EQ(ParseEndpoint("[::1]:80", false)->ToString(), "[::1]:80");
}

TEST(RouteTableTest, WeightZeroAndMax) {
  json j = Base();
  j["maxWeight"] = 10000;
  RouteTable t = Decode(j);
  MapView none(Headers{});
  for (uint32_t d = 0; d < 10000; ++d) EXPECT_EQ(Pick(t, none, d), Revision::kStable);
  t.canary_weight = 10000;
  for (uint32_t d = 0; d < 10000; ++d) EXPECT_EQ(Pick(t, none, d), Revision::kCanary);
  t.canary_weight = 10;  // 0.1 %
  int canary = 0;
  for (uint32_t d = 0; d < 10000; ++d) canary += Pick(t, none, d) == Revision::kCanary;
  EXPECT_EQ(canary, 10);
}

TEST(RouteTableTest, SeededSplitLiesInItsBinomialInterval) {
  json j = Base();
  RouteTable t = Decode(j);
  MapView none(Headers{});
  std::mt19937 rng(12345);
  for (int weight : {1, 5, 50, 95}) {
    t.canary_weight = weight;
    const int n = 20000;
    int canary = 0;
    for (int i = 0; i < n; ++i) {
      uint32_t draw = std::uniform_int_distribution<uint32_t>(0, 99)(rng);
      canary += Pick(t, none, draw) == Revision::kCanary;
    }
    const double p = weight / 100.0;
    const double mean = n * p;
    const double sd = std::sqrt(n * p * (1 - p));
    EXPECT_NEAR(canary, mean, 3.3 * sd) << "weight " << weight;  // 99.9 % interval
  }
}

TEST(RouteTableTest, HeaderRoutesOverrideWeight) {
  json j = Base();
  j["headerRoutes"] = {
      {{"match",
        {{{"header", "x-user"}, {"prefix", "beta-"}}, {{"header", "x-b"}, {"exact", "1"}}}}},
      {{"match", {{{"header", "x-re"}, {"regex", "v[0-9]+"}}}}}};
  RouteTable t = Decode(j);
  EXPECT_EQ(Pick(t, MapView(Headers{{"x-user", "beta-7"}, {"x-b", "1"}}), 0), Revision::kCanary);
  EXPECT_EQ(Pick(t, MapView(Headers{{"x-user", "beta-7"}}), 0), Revision::kStable);  // AND inside
  EXPECT_EQ(Pick(t, MapView(Headers{{"x-re", "v12"}}), 0), Revision::kCanary);       // OR across
  EXPECT_EQ(Pick(t, MapView(Headers{{"x-re", "v12x"}}), 0), Revision::kStable);      // full match
  EXPECT_EQ(Pick(t, MapView(Headers{{"x-user", "alpha"}}), 0), Revision::kStable);
}

json MirrorBase() {
  json j = Base();
  j["mirrorRoutes"] = {
      {{"name", "reads"},
       {"percentage", 30},
       {"match",
        {{{"method", {{"exact", "GET"}}}, {"path", {{"prefix", "/api/"}}}},
         {{"headers", {{"X-Mirror", {{"regex", "y(es)?"}}}, {"X-Team", {{"exact", "a"}}}}}}}}},
      {{"name", "all-posts"}, {"match", {{{"method", {{"exact", "POST"}}}}}}}};
  return j;
}

TEST(RouteTableTest, MirrorRoutesDecodeAndRoundTrip) {
  RouteTable t = Decode(MirrorBase());
  ASSERT_EQ(t.mirror_routes.size(), 2u);
  EXPECT_EQ(t.mirror_routes[0].name, "reads");
  EXPECT_EQ(t.mirror_routes[0].percentage, 30);
  EXPECT_EQ(t.mirror_routes[1].percentage, 100);  // the default
  ASSERT_EQ(t.mirror_routes[0].matches.size(), 2u);
  const MirrorMatch& m0 = t.mirror_routes[0].matches[0];
  ASSERT_TRUE(m0.method && m0.path);
  EXPECT_EQ(m0.method->kind, MatchKind::kExact);
  EXPECT_EQ(m0.path->kind, MatchKind::kPrefix);
  EXPECT_TRUE(m0.headers.empty());
  const MirrorMatch& m1 = t.mirror_routes[0].matches[1];
  EXPECT_FALSE(m1.method || m1.path);
  ASSERT_EQ(m1.headers.size(), 2u);
  EXPECT_EQ(m1.headers[0].first, "x-mirror");  // names are stored lower-case
  json encoded = EncodeRouteTable(t);
  EXPECT_EQ(encoded["mirrorRoutes"][0]["match"][1]["headers"]["x-team"], json({{"exact", "a"}}));
  EXPECT_EQ(encoded["mirrorRoutes"][1]["percentage"], 100);
  RouteTable again = Decode(encoded);
  EXPECT_EQ(EncodeRouteTable(again), encoded);
  // Without mirror routes the list is empty in the read-back.
  EXPECT_EQ(EncodeRouteTable(Decode(Base()))["mirrorRoutes"], json::array());
}

TEST(RouteTableTest, MirrorRouteErrorsNameTheField) {
  json j = MirrorBase();
  j["mirrorRoutes"][0]["match"][1]["headers"]["X-Mirror"] = {{"regex", "("}};
  EXPECT_NE(ErrorOf(j).find("mirrorRoutes[0].match[1].headers.X-Mirror.regex: invalid regex"),
            std::string::npos)
      << ErrorOf(j);
  j = MirrorBase();
  j["mirrorRoutes"][1]["match"][0]["path"] = {{"regex", "[a-"}};
  EXPECT_NE(ErrorOf(j).find("mirrorRoutes[1].match[0].path.regex: invalid regex"),
            std::string::npos)
      << ErrorOf(j);
  j = MirrorBase();
  j["mirrorRoutes"][0]["percentage"] = 101;
  EXPECT_NE(ErrorOf(j).find("mirrorRoutes[0].percentage: must be between 0 and 100"),
            std::string::npos)
      << ErrorOf(j);
  j = MirrorBase();
  j["mirrorRoutes"][0]["match"][0]["methd"] = {{"exact", "GET"}};
  EXPECT_NE(ErrorOf(j).find("mirrorRoutes[0].match[0].methd: unknown field"), std::string::npos)
      << ErrorOf(j);
  j = MirrorBase();
  j["mirrorRoutes"][0]["match"][0]["method"] = {{"exact", "GET"}, {"prefix", "G"}};
  EXPECT_NE(ErrorOf(j).find("mirrorRoutes[0].match[0].method: exactly one of"), std::string::npos)
      << ErrorOf(j);
  j = MirrorBase();
  j["mirrorRoutes"][0]["match"][0]["method"] = "GET";
  EXPECT_NE(ErrorOf(j).find("mirrorRoutes[0].match[0].method: must be an object"),
            std::string::npos)
      << ErrorOf(j);
  j = MirrorBase();
  j["mirrorRoutes"][0]["match"][1]["headers"] = {{"bad header", {{"exact", "1"}}}};
  EXPECT_NE(ErrorOf(j).find("mirrorRoutes[0].match[1].headers.bad header: not an HTTP header"),
            std::string::npos)
      << ErrorOf(j);
  j = MirrorBase();
  j["mirrorRoutes"][1]["match"] = json::array();
  EXPECT_NE(ErrorOf(j).find("mirrorRoutes[1].match: must be a non-empty list"), std::string::npos);
  j = MirrorBase();
  j["mirrorRoutes"] = json::array({"x"});
  EXPECT_NE(ErrorOf(j).find("mirrorRoutes[0]: must be an object"), std::string::npos) << ErrorOf(j);
  j = MirrorBase();
  j.erase("canary");
  EXPECT_NE(ErrorOf(j).find("canary: needs at least one endpoint when mirrorRoutes are set"),
            std::string::npos)
      << ErrorOf(j);
}

TEST(RouteTableTest, MirrorMatchesAreOredAndTheirPartsAnded) {
  RouteTable t = Decode(MirrorBase());
  MapView none(Headers{});
  auto route = [&](std::string_view method, std::string_view target, const RequestView& v) {
    const MirrorRoute* r = MatchMirrorRoute(t, method, target, v);
    return r == nullptr ? std::string("none") : r->name;
  };
  EXPECT_EQ(route("GET", "/api/items?x=1", none), "reads");
  EXPECT_EQ(route("GET", "http://shop.example/api/items", none), "reads");  // absolute form
  EXPECT_EQ(route("HEAD", "/api/items", none), "none");                     // method AND path
  EXPECT_EQ(route("GET", "/web/api/", none), "none");
  EXPECT_EQ(route("GET", "/other?/api/", none), "none");  // the query is not part of the path
  // The second match: headers only (method and path unset match anything).
  EXPECT_EQ(route("DELETE", "/x", MapView(Headers{{"x-mirror", "yes"}, {"x-team", "a"}})), "reads");
  EXPECT_EQ(route("DELETE", "/x", MapView(Headers{{"x-mirror", "yes"}})), "none");
  EXPECT_EQ(route("DELETE", "/x", MapView(Headers{{"x-mirror", "yess"}, {"x-team", "a"}})),
            "none");  // regex: full match
  EXPECT_EQ(route("POST", "/anything", none), "all-posts");
  // Percentage: 30 % of the draws of "reads", all of "all-posts".
  int mirrored = 0;
  for (uint32_t d = 0; d < 100; ++d) mirrored += ShouldMirror(t, "GET", "/api/a", none, d);
  EXPECT_EQ(mirrored, 30);
  for (uint32_t d = 0; d < 100; ++d) EXPECT_TRUE(ShouldMirror(t, "POST", "/a", none, d));
  for (uint32_t d = 0; d < 100; ++d) EXPECT_FALSE(ShouldMirror(t, "PUT", "/a", none, d));
  t.mirror_routes[1].percentage = 0;
  for (uint32_t d = 0; d < 100; ++d) EXPECT_FALSE(ShouldMirror(t, "POST", "/a", none, d));
}

TEST(RouteTableTest, StickyDecodesAndRoundTrips) {
  json j = Base();
  j["sticky"] = {{"cookie", "shop-rev"}, {"ttl", "30m"}};
  RouteTable t = Decode(j);
  EXPECT_EQ(t.sticky.kind, Sticky::Kind::kCookie);
  EXPECT_EQ(t.sticky.name, "shop-rev");
  EXPECT_EQ(t.sticky.ttl.count(), 1800);
  EXPECT_EQ(EncodeRouteTable(t)["sticky"], json({{"cookie", "shop-rev"}, {"ttl", "30m0s"}}));
  EXPECT_EQ(EncodeRouteTable(Decode(EncodeRouteTable(t))), EncodeRouteTable(t));
  j["sticky"] = {{"header", "X-User-Id"}};
  t = Decode(j);
  EXPECT_EQ(t.sticky.kind, Sticky::Kind::kHeader);
  EXPECT_EQ(t.sticky.name, "x-user-id");
  EXPECT_EQ(EncodeRouteTable(t)["sticky"], json({{"header", "x-user-id"}}));
  EXPECT_FALSE(EncodeRouteTable(Decode(Base())).contains("sticky"));

  j["sticky"] = {{"cookie", "a"}, {"header", "b"}};
  EXPECT_NE(ErrorOf(j).find("sticky: exactly one of cookie and header"), std::string::npos);
  j["sticky"] = json::object();
  EXPECT_NE(ErrorOf(j).find("sticky: exactly one of cookie and header"), std::string::npos);
  j["sticky"] = {{"cookie", "a b"}};
  EXPECT_NE(ErrorOf(j).find("sticky.cookie: must be an HTTP token"), std::string::npos);
  j["sticky"] = {{"header", "x"}, {"ttl", "1m"}};
  EXPECT_NE(ErrorOf(j).find("sticky.ttl: applies to a sticky cookie only"), std::string::npos);
  j["sticky"] = {{"cookie", "x"}, {"ttl", "10ms"}};
  EXPECT_NE(ErrorOf(j).find("sticky.ttl: must be at least 1s"), std::string::npos) << ErrorOf(j);
  j["sticky"] = {{"cookie", "x"}, {"path", "/"}};
  EXPECT_NE(ErrorOf(j).find("sticky.path: unknown field"), std::string::npos) << ErrorOf(j);
}

TEST(RouteTableTest, FindCookie) {
  EXPECT_EQ(FindCookie("a=1; user=abc; b=2", "user"), "abc");
  EXPECT_EQ(FindCookie("user=abc", "user"), "abc");
  EXPECT_EQ(FindCookie("  user = \"q\" ;x=1", "user"), "q");
  EXPECT_EQ(FindCookie("xuser=1; user=2", "user"), "2");
  EXPECT_EQ(FindCookie("User=1", "user"), std::nullopt);  // names are case-sensitive
  EXPECT_EQ(FindCookie("user", "user"), std::nullopt);
  EXPECT_EQ(FindCookie("", "user"), std::nullopt);
}

TEST(RouteTableTest, StickyValuesAreAssignedConsistently) {
  json j = Base();
  j["maxWeight"] = 1000;
  j["sticky"] = {{"cookie", "u"}};
  RouteTable t = Decode(j);
  std::mt19937 rng(7);
  const int users = 20000;
  std::vector<Revision> at_100(users);
  for (int weight : {100, 250, 500, 900}) {
    t.canary_weight = weight;
    int canary = 0;
    for (int u = 0; u < users; ++u) {
      MapView v(Headers{{"cookie", "a=b; u=user-" + std::to_string(u)}});
      // Whatever the random draw, the cookie decides.
      const Revision r = Pick(t, v, std::uniform_int_distribution<uint32_t>(0, 999)(rng));
      EXPECT_EQ(r, Pick(t, v, 0));
      canary += r == Revision::kCanary;
      if (weight == 100) {
        at_100[u] = r;
      } else if (at_100[u] == Revision::kCanary) {
        EXPECT_EQ(r, Revision::kCanary) << "raising the weight moved user " << u << " back";
      }
    }
    const double p = weight / 1000.0;
    EXPECT_NEAR(canary, users * p, 3.3 * std::sqrt(users * p * (1 - p))) << "weight " << weight;
  }
  // Weight 0 and maxWeight hold for every value; header routes still win.
  t.canary_weight = 0;
  t.header_routes = Decode([] {
                      json b = Base();
                      b["headerRoutes"] = {{{"match", {{{"header", "x-b"}, {"exact", "1"}}}}}};
                      return b;
                    }())
                        .header_routes;
  for (int u = 0; u < 200; ++u) {
    MapView v(Headers{{"cookie", "u=" + std::to_string(u)}});
    EXPECT_EQ(Pick(t, v, 999), Revision::kStable);
    MapView beta(Headers{{"cookie", "u=" + std::to_string(u)}, {"x-b", "1"}});
    EXPECT_EQ(Pick(t, beta, 0), Revision::kCanary);
  }
  t.canary_weight = 1000;
  for (int u = 0; u < 200; ++u) {
    EXPECT_EQ(Pick(t, MapView(Headers{{"cookie", "u=" + std::to_string(u)}}), 0),
              Revision::kCanary);
  }
  // A header-keyed table reads the header; without the value the draw decides.
  t = Decode([] {
    json b = Base();
    b["sticky"] = {{"header", "X-User"}};
    b["canaryWeight"] = 50;
    return b;
  }());
  MapView none(Headers{});
  EXPECT_EQ(Pick(t, none, 0), Revision::kCanary);
  EXPECT_EQ(Pick(t, none, 99), Revision::kStable);
  const Revision alice = Pick(t, MapView(Headers{{"x-user", "alice"}}), 0);
  for (uint32_t d = 0; d < 100; ++d) {
    EXPECT_EQ(Pick(t, MapView(Headers{{"x-user", "alice"}}), d), alice);
  }
  EXPECT_EQ(StickyHash("alice"), StickyHash("alice"));
  EXPECT_NE(StickyHash("alice"), StickyHash("alicf"));
}

TEST(RouteTableTest, LoadBalancingAndOutlierDetection) {
  json j = Base();
  j["loadBalancing"] = "leastRequest";
  j["outlierDetection"] = json::object();
  RouteTable t = Decode(j);
  EXPECT_EQ(t.load_balancing, LoadBalancing::kLeastRequest);
  EXPECT_TRUE(t.outlier_detection.enabled);
  EXPECT_EQ(t.outlier_detection.consecutive_failures, 5);  // defaults
  EXPECT_EQ(t.outlier_detection.ejection_time.count(), 30000);
  json e = EncodeRouteTable(t);
  EXPECT_EQ(e["loadBalancing"], "leastRequest");
  EXPECT_EQ(e["outlierDetection"], json({{"consecutiveFailures", 5}, {"ejectionTime", "30s"}}));
  EXPECT_EQ(EncodeRouteTable(Decode(e)), e);
  json d = EncodeRouteTable(Decode(Base()));
  EXPECT_EQ(d["loadBalancing"], "roundRobin");
  EXPECT_FALSE(d.contains("outlierDetection"));  // off unless configured
  EXPECT_FALSE(Decode(Base()).outlier_detection.enabled);

  j["outlierDetection"] = {{"consecutiveFailures", 2}, {"ejectionTime", "250ms"}};
  t = Decode(j);
  EXPECT_EQ(t.outlier_detection.consecutive_failures, 2);
  EXPECT_EQ(t.outlier_detection.ejection_time.count(), 250);
  j["outlierDetection"] = {{"consecutiveFailures", 0}};
  EXPECT_NE(ErrorOf(j).find("outlierDetection.consecutiveFailures: must be between 1 and 10000"),
            std::string::npos)
      << ErrorOf(j);
  j["outlierDetection"] = {{"ejectionTime", "30"}};
  EXPECT_NE(ErrorOf(j).find("outlierDetection.ejectionTime: invalid duration"), std::string::npos)
      << ErrorOf(j);
  j["outlierDetection"] = {{"interval", "1s"}};
  EXPECT_NE(ErrorOf(j).find("outlierDetection.interval: unknown field"), std::string::npos);
  j["outlierDetection"] = 5;
  EXPECT_NE(ErrorOf(j).find("outlierDetection: must be an object"), std::string::npos);
}

}  // namespace
}  // namespace ramp::proxy
