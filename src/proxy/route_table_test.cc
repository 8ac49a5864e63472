#include "proxy/route_table.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <random>

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
  j["loadBalancing"] = "leastRequest";
  EXPECT_NE(ErrorOf(j).find("not supported yet"), std::string::npos);
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

}  // namespace
}  // namespace ramp::proxy
