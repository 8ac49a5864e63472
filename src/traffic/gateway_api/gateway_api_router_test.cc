// The Gateway API router against the strict API-server fake: the weights and the header rules it
// writes in HTTPRoutes (goldens written by hand from the argoproj-labs/gatewayAPI plugin), the
// in-progress label, managed rules found by name (and by shape where names are not kept),
// removal, read-back verification, and edits made behind its back set back.
#include "traffic/gateway_api/gateway_api_router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "traffic/kubernetes/router_testing.h"

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

HeaderRoute Beta() {
  return HeaderRoute{"beta",
                     {{"X-Canary", {StringMatch::Kind::kExact, "yes"}},
                      {"X-Version", {StringMatch::Kind::kPrefix, "v2"}}}};
}

json HttpRoute(const std::string& name, const std::string& ns = "shop") {
  json r = json::parse(R"({
    "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
    "metadata": {"labels": {"app": "web"}},
    "spec": {
      "parentRefs": [{"name": "shop-gateway", "namespace": "infra"}],
      "hostnames": ["shop.example.com"],
      "rules": [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
         "backendRefs": [{"name": "web-stable", "port": 80, "weight": 100},
                         {"name": "web-canary", "port": 80, "weight": 0}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}, "method": "GET",
                      "headers": [{"name": "X-Api", "value": "1"}]}],
         "filters": [{"type": "RequestHeaderModifier",
                      "requestHeaderModifier": {"add": [{"name": "X-From", "value": "gateway"}]}}],
         "backendRefs": [{"name": "web-stable", "port": 8080, "weight": 100},
                         {"name": "web-canary", "port": 8080, "weight": 0}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/docs"}}],
         "backendRefs": [{"name": "web-docs", "port": 80}]}]}})");
  r["metadata"]["name"] = name;
  r["metadata"]["namespace"] = ns;
  return r;
}

class GatewayApiRouterTest : public testing::KubeRouterTest {
 protected:
  void SetUp() override {
    KubeRouterTest::SetUp();
    Put(HttpRoute("web-route"));
  }

  std::unique_ptr<Router> Make(json config = {{"httpRoute", "web-route"}},
                               std::vector<std::string> managed = {"beta", "gamma"},
                               int32_t max_weight = 100) {
    auto r = NewGatewayApiRouter(MakeEnv(std::move(config), Context(max_weight, managed)));
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r ? std::move(*r) : nullptr;
  }

  json Route(std::string_view name = "web-route", std::string_view ns = kNs) {
    return Object("httproutes", name, ns);
  }
  json Rules(std::string_view name = "web-route") { return Route(name)["spec"]["rules"]; }
};

TEST_F(GatewayApiRouterTest, WritesTheWeightsThePluginWrites) {
  auto router = Make();
  EXPECT_EQ(router->Type(), "GatewayAPI");
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_TRUE(MatchesGolden(Route(), "gateway_api", "httproute-weight-30.yaml"));
}

TEST_F(GatewayApiRouterTest, RewritesTheWeightsAndLeavesAnUnchangedRouteAlone) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  ASSERT_TRUE(SetWeight(*router, 90).ok());
  EXPECT_EQ(Rules()[0]["backendRefs"][0]["weight"], 10);
  EXPECT_EQ(Rules()[0]["backendRefs"][1]["weight"], 90);
  EXPECT_EQ(Rules()[1]["backendRefs"][1]["weight"], 90);
  fake_->ClearRequests();
  ASSERT_TRUE(SetWeight(*router, 90).ok());
  EXPECT_EQ(Writes(), 0);
  // Weight 0 removes the in-progress label.
  ASSERT_TRUE(SetWeight(*router, 0).ok());
  EXPECT_EQ(Route()["metadata"]["labels"], json({{"app", "web"}}));
}

TEST_F(GatewayApiRouterTest, MaxTrafficWeightIsHonoured) {
  auto router = Make({{"httpRoute", "web-route"}}, {}, 1000);
  ASSERT_TRUE(SetWeight(*router, 250).ok());
  EXPECT_EQ(Rules()[0]["backendRefs"][0]["weight"], 750);
  EXPECT_EQ(Rules()[0]["backendRefs"][1]["weight"], 250);
}

TEST_F(GatewayApiRouterTest, TheInProgressLabelCanBeRenamedOrDisabled) {
  auto renamed = Make({{"httpRoute", "web-route"},
                       {"inProgressLabelKey", "example.com/canary"},
                       {"inProgressLabelValue", "yes"}});
  ASSERT_TRUE(SetWeight(*renamed, 30).ok());
  EXPECT_EQ(Route()["metadata"]["labels"], json({{"app", "web"}, {"example.com/canary", "yes"}}));
  Put(HttpRoute("web-route"));
  auto off = Make({{"httpRoute", "web-route"}, {"disableInProgressLabel", true}});
  ASSERT_TRUE(SetWeight(*off, 30).ok());
  EXPECT_EQ(Route()["metadata"]["labels"], json({{"app", "web"}}));
}

TEST_F(GatewayApiRouterTest, AnEditBehindItsBackIsSetBackWithAnEvent) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  json route = Route();
  route["spec"]["rules"][1]["backendRefs"][1]["weight"] = 100;
  Put(route);
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_TRUE(MatchesGolden(Route(), "gateway_api", "httproute-weight-30.yaml"));
  ASSERT_EQ(Events().size(), 1u);
  EXPECT_THAT(Events()[0], HasSubstr("HTTPRoute shop/web-route was changed outside the rollout"));
  ASSERT_TRUE(SetWeight(*router, 50).ok());
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(GatewayApiRouterTest, HeaderRouteAddsANamedRulePerRoutedRule) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  ASSERT_TRUE(SetHeaderRoute(*router, Beta()).ok());
  EXPECT_TRUE(MatchesGolden(Route(), "gateway_api", "httproute-header-route.yaml"));
  // Nothing changes when it is set again or the weight is set again; header rules get no weight.
  fake_->ClearRequests();
  ASSERT_TRUE(SetHeaderRoute(*router, Beta()).ok());
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_EQ(Writes(), 0);
  ASSERT_TRUE(SetWeight(*router, 40).ok());
  EXPECT_FALSE(Rules()[3]["backendRefs"][0].contains("weight"));
  // A second header route comes after it; changing the first keeps its place.
  ASSERT_TRUE(
      SetHeaderRoute(*router, {"gamma", {{"X-Beta", {StringMatch::Kind::kRegex, "^on$"}}}}).ok());
  ASSERT_TRUE(
      SetHeaderRoute(*router, {"beta", {{"X-Canary", {StringMatch::Kind::kExact, "1"}}}}).ok());
  json rules = Rules();
  ASSERT_EQ(rules.size(), 7u);
  EXPECT_EQ(rules[3]["name"], "beta");
  EXPECT_EQ(rules[3]["matches"][0]["headers"],
            json::parse(R"([{"name":"X-Canary","type":"Exact","value":"1"}])"));
  EXPECT_EQ(rules[4]["name"], "beta-1");
  EXPECT_EQ(rules[5]["name"], "gamma");
  EXPECT_EQ(rules[5]["matches"][0]["headers"],
            json::parse(R"([{"name":"X-Beta","type":"RegularExpression","value":"^on$"}])"));
  EXPECT_EQ(rules[6]["name"], "gamma-1");
  // No matches: that header route's rules go, the other's stay.
  ASSERT_TRUE(SetHeaderRoute(*router, {"beta", {}}).ok());
  rules = Rules();
  ASSERT_EQ(rules.size(), 5u);
  EXPECT_EQ(rules[3]["name"], "gamma");
  EXPECT_EQ(rules[4]["name"], "gamma-1");
  EXPECT_TRUE(Events().empty());
}

TEST_F(GatewayApiRouterTest, AHeaderRuleRemovedBehindItsBackIsPutBack) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  ASSERT_TRUE(SetHeaderRoute(*router, Beta()).ok());
  json route = Route();
  route["spec"]["rules"].erase(3);
  route["spec"]["rules"].erase(3);
  Put(route);
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_TRUE(MatchesGolden(Route(), "gateway_api", "httproute-header-route.yaml"));
  ASSERT_EQ(Events().size(), 1u);
}

TEST_F(GatewayApiRouterTest, RemoveManagedRoutesRemovesExactlyTheManagedRules) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  ASSERT_TRUE(SetHeaderRoute(*router, Beta()).ok());
  // A rule of managed route gamma left by an earlier controller, a legacy unnamed header rule,
  // and rules of the user's that are not managed.
  json route = Route();
  json& rules = route["spec"]["rules"];
  rules.push_back({{"name", "gamma-2"}, {"backendRefs", {{{"name", "web-canary"}}}}});
  rules.push_back({{"matches", {{{"headers", {{{"name", "X-Old"}, {"value", "1"}}}}}}},
                   {"backendRefs", {{{"name", "web-canary"}}}}});
  rules.push_back({{"name", "gamma-x"}, {"backendRefs", {{{"name", "web-docs"}}}}});
  rules.push_back({{"name", "canary-preview"}, {"backendRefs", {{{"name", "web-canary"}}}}});
  Put(route);
  ASSERT_TRUE(RemoveManagedRoutes(*router).ok());
  json left = Rules();
  ASSERT_EQ(left.size(), 5u);
  EXPECT_EQ(left[3]["name"], "gamma-x");
  EXPECT_EQ(left[4]["name"], "canary-preview");
  // A new router (after a restart) finds the rules by their names too.
  ASSERT_TRUE(SetHeaderRoute(*router, Beta()).ok());
  ASSERT_EQ(Rules().size(), 7u);
  ASSERT_TRUE(RemoveManagedRoutes(*Make()).ok());
  EXPECT_EQ(Rules().size(), 5u);
  // Removed routes stay removed on later calls.
  ASSERT_TRUE(RemoveManagedRoutes(*router).ok());
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_EQ(Rules().size(), 5u);
}

TEST_F(GatewayApiRouterTest, RuleNamesTheServerDoesNotKeepAndItsDefaultsAreNotChanges) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  ASSERT_TRUE(SetHeaderRoute(*router, Beta()).ok());
  json route = Route();
  for (int i : {3, 4}) {
    json& rule = route["spec"]["rules"][i];
    rule.erase("name");                    // a CRD without rule names prunes them
    rule["backendRefs"][0]["weight"] = 1;  // the CRD's default
  }
  route["spec"]["rules"][4]["matches"][0]["headers"][0]["type"] = "Exact";  // X-Api, defaulted
  Put(route);
  fake_->ClearRequests();
  ASSERT_TRUE(SetHeaderRoute(*router, Beta()).ok());
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_EQ(Writes(), 0);
  EXPECT_TRUE(Events().empty());
  // And they are still found to be removed.
  ASSERT_TRUE(SetHeaderRoute(*router, {"beta", {}}).ok());
  EXPECT_EQ(Rules().size(), 3u);
}

TEST_F(GatewayApiRouterTest, OnlyRoutesWithUseHeaderRoutesGetHeaderRules) {
  Put(HttpRoute("web-route-2"));
  auto router =
      Make({{"httpRoutes",
             {{{"name", "web-route"}, {"useHeaderRoutes", true}}, {{"name", "web-route-2"}}}}});
  ASSERT_TRUE(SetWeight(*router, 20).ok());
  ASSERT_TRUE(SetHeaderRoute(*router, Beta()).ok());
  EXPECT_EQ(Rules().size(), 5u);
  EXPECT_EQ(Rules("web-route-2").size(), 3u);
  EXPECT_EQ(Rules("web-route-2")[0]["backendRefs"][1]["weight"], 20);

  auto none = Make({{"httpRoutes", {{{"name", "web-route-2"}}}}});
  Status s = SetHeaderRoute(*none, Beta());
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_THAT(s.message(), HasSubstr("no HTTPRoute or GRPCRoute has useHeaderRoutes: true"));
}

TEST_F(GatewayApiRouterTest, RouteSelectorsFindRoutesOnEveryCall) {
  json found = HttpRoute("found");
  found["metadata"]["labels"] = {{"rollout", "web"}, {"tier", "edge"}};
  Put(found);
  auto router = Make(json::parse(R"({"httpRoute": "web-route", "httpRouteSelector": {
      "matchLabels": {"rollout": "web"},
      "matchExpressions": [{"key": "tier", "operator": "In", "values": ["edge", "core"]}]}})"));
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_EQ(Rules("found")[0]["backendRefs"][1]["weight"], 30);
  EXPECT_EQ(Rules()[0]["backendRefs"][1]["weight"], 30);
  // Header rules only go to the named route (discovered routes take none, as in the plugin).
  ASSERT_TRUE(SetHeaderRoute(*router, Beta()).ok());
  EXPECT_EQ(Rules().size(), 5u);
  EXPECT_EQ(Rules("found").size(), 3u);
  // A route labelled later is found by the next call.
  json late = HttpRoute("late");
  late["metadata"]["labels"] = {{"rollout", "web"}, {"tier", "core"}};
  Put(late);
  ASSERT_TRUE(SetWeight(*router, 60).ok());
  EXPECT_EQ(Rules("late")[0]["backendRefs"][1]["weight"], 60);
  auto check = VerifyWeight(*router, 60);
  ASSERT_TRUE(check.has_value()) << check.error().message();
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
  // A selector that finds nothing, and no named route: nothing to weigh.
  auto none = Make({{"httpRouteSelector", {{"matchLabels", {{"rollout", "other"}}}}}});
  Status s = SetWeight(*none, 10);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("the route selectors found none in namespace shop"));
}

TEST_F(GatewayApiRouterTest, RoutesInTheConfiguredNamespace) {
  Put(HttpRoute("edge", "gateways"));
  auto router = Make({{"httpRoute", "edge"}, {"namespace", "gateways"}});
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  EXPECT_EQ(Route("edge", "gateways")["spec"]["rules"][0]["backendRefs"][1]["weight"], 10);
}

TEST_F(GatewayApiRouterTest, VerifiesByReadingBack) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  ASSERT_TRUE(SetHeaderRoute(*router, Beta()).ok());
  auto check = VerifyWeight(*router, 30);
  ASSERT_TRUE(check.has_value()) << check.error().message();
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
  EXPECT_EQ(check->observed_weight, 30);
  check = VerifyWeight(*router, 55);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kNotVerified);
  EXPECT_THAT(check->message,
              HasSubstr("HTTPRoute shop/web-route has backendRefs web-stable 70, web-canary 30, "
                        "web-stable 70, web-canary 30, not web-canary 55 and web-stable 45"));
}

TEST_F(GatewayApiRouterTest, RefusesMissingRoutesAndBackends) {
  Status s = SetWeight(*Make({{"httpRoute", "nope"}}), 30);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("gatewayAPI: HTTPRoute shop/nope does not exist"));

  json route = HttpRoute("stable-only");
  route["spec"]["rules"][0]["backendRefs"].erase(1);
  route["spec"]["rules"][1]["backendRefs"].erase(1);
  Put(route);
  auto router = Make({{"httpRoute", "stable-only"}});
  s = SetWeight(*router, 30);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("HTTPRoute shop/stable-only: spec.rules has no backendRef "
                                     "named web-canary"));
  s = SetHeaderRoute(*Make({{"httpRoute", "stable-only"}}), Beta());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("header route beta: no rule routes to both web-canary and "
                                     "web-stable"));
  EXPECT_EQ(Object("httproutes", "stable-only")["spec"], route["spec"]);  // nothing written
}

TEST_F(GatewayApiRouterTest, RefusesWhatItDoesNotDo) {
  auto router = Make();
  EXPECT_EQ(SetWeight(*router, 30, {{"web-exp", "abc", 10}}).code(), StatusCode::kUnimplemented);
  Status m = SetMirrorRoute(*router, MirrorRoute{"m", {}, {}});
  EXPECT_EQ(m.code(), StatusCode::kUnimplemented);
  EXPECT_THAT(m.message(), HasSubstr("istio has them"));
  EXPECT_EQ(SetHeaderRoute(*router, {"beta", {{"X", {StringMatch::Kind::kExact, ""}}}}).code(),
            StatusCode::kInvalidArgument);
}

TEST_F(GatewayApiRouterTest, RefusesBadConfiguration) {
  auto error = [&](json config) {
    auto r = NewGatewayApiRouter(MakeEnv(std::move(config)));
    return r ? Status() : r.error();
  };
  EXPECT_THAT(error(json::object()).message(), HasSubstr("no route configured"));
  EXPECT_THAT(error({{"httpRoute", 1}}).message(),
              HasSubstr("gatewayAPI.httpRoute: expected a string"));
  EXPECT_THAT(error({{"httpRoutes", {{{"useHeaderRoutes", true}}}}}).message(),
              HasSubstr("gatewayAPI.httpRoutes[0].name: required"));
  EXPECT_THAT(error({{"httpRoutes", {{{"name", "a"}, {"useHeaderRoutes", "yes"}}}}}).message(),
              HasSubstr("gatewayAPI.httpRoutes[0].useHeaderRoutes: expected true or false"));
  EXPECT_THAT(error({{"tcpRoutes", {{{"name", 3}}}}}).message(),
              HasSubstr("gatewayAPI.tcpRoutes[0].name: expected a string"));
  EXPECT_THAT(error({{"grpcRoute", true}}).message(),
              HasSubstr("gatewayAPI.grpcRoute: expected a string"));
  EXPECT_THAT(error({{"httpRouteSelector", {{"matchLabels", {{"app", 1}}}}}}).message(),
              HasSubstr("gatewayAPI.httpRouteSelector.matchLabels[\"app\"]: expected a string"));
  EXPECT_THAT(
      error({{"tlsRouteSelector", {{"matchExpressions", {{{"key", "a"}, {"operator", "In"}}}}}}})
          .message(),
      HasSubstr("gatewayAPI.tlsRouteSelector.matchExpressions[0]: operator \"In\" with 0 "
                "values"));
  EXPECT_TRUE(error({{"grpcRouteSelector", json::object()}}).ok());
  // configMap, the plugin's record of managed routes before v0.13, is accepted.
  EXPECT_TRUE(error({{"httpRoute", "web-route"}, {"configMap", "argo-gatewayapi-configmap"}}).ok());
}

class GatewayApiOtherRoutesTest : public GatewayApiRouterTest {
 protected:
  void SetUp() override {
    GatewayApiRouterTest::SetUp();
    for (const auto& [version, kind, plural] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"v1", "GRPCRoute", "grpcroutes"},
             {"v1alpha2", "TCPRoute", "tcproutes"},
             {"v1alpha2", "TLSRoute", "tlsroutes"}}) {
      ASSERT_TRUE(fake_
                      ->RegisterResource({.group = "gateway.networking.k8s.io",
                                          .version = version,
                                          .kind = kind,
                                          .plural = plural,
                                          .custom = true})
                      .ok());
    }
    Put(json::parse(R"({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
      "metadata": {"name": "web-grpc", "namespace": "shop"},
      "spec": {"parentRefs": [{"name": "shop-gateway"}], "rules": [
        {"matches": [{"method": {"service": "shop.Cart", "method": "Add"},
                      "headers": [{"name": "x-tenant", "value": "a"}]}],
         "backendRefs": [{"name": "web-stable", "port": 9090, "weight": 100},
                         {"name": "web-canary", "port": 9090, "weight": 0}]}]}})"));
    for (const char* kind : {"TCPRoute", "TLSRoute"}) {
      Put({{"apiVersion", "gateway.networking.k8s.io/v1alpha2"},
           {"kind", kind},
           {"metadata", {{"name", "web-l4"}, {"namespace", kNs}}},
           {"spec",
            {{"rules",
              {{{"backendRefs", {{{"name", "web-stable"}, {"port", 5432}}}}},
               {{"backendRefs", {{{"name", "web-canary"}, {"port", 5432}}}}}}}}}});
    }
  }
};

TEST_F(GatewayApiOtherRoutesTest, GrpcRoutesGetWeightsAndHeaderRules) {
  auto router = Make({{"grpcRoute", "web-grpc"}});
  ASSERT_TRUE(SetWeight(*router, 20).ok());
  ASSERT_TRUE(
      SetHeaderRoute(*router, {"beta", {{"X-Canary", {StringMatch::Kind::kExact, "yes"}}}}).ok());
  EXPECT_TRUE(MatchesGolden(Object("grpcroutes", "web-grpc"), "gateway_api",
                            "grpcroute-header-route.yaml"));
  fake_->ClearRequests();
  ASSERT_TRUE(SetWeight(*router, 20).ok());
  EXPECT_EQ(Writes(), 0);
  auto check = VerifyWeight(*router, 20);
  ASSERT_TRUE(check.has_value()) << check.error().message();
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
  ASSERT_TRUE(RemoveManagedRoutes(*router).ok());
  EXPECT_EQ(Object("grpcroutes", "web-grpc")["spec"]["rules"].size(), 1u);
}

TEST_F(GatewayApiOtherRoutesTest, TcpAndTlsRoutesGetWeightsOnly) {
  auto router = Make({{"tcpRoute", "web-l4"}, {"tlsRoutes", {{{"name", "web-l4"}}}}});
  ASSERT_TRUE(SetWeight(*router, 40).ok());
  for (const char* plural : {"tcproutes", "tlsroutes"}) {
    json rules = Object(plural, "web-l4")["spec"]["rules"];
    // A rule whose only backend is the canary is weighted too: L4 routes have no header rules.
    EXPECT_EQ(rules, json::parse(R"([
        {"backendRefs": [{"name": "web-stable", "port": 5432, "weight": 60}]},
        {"backendRefs": [{"name": "web-canary", "port": 5432, "weight": 40}]}])"))
        << plural;
    EXPECT_EQ(Object(plural, "web-l4")["metadata"]["labels"],
              json({{"rollouts.argoproj.io/gatewayapi-canary", "in-progress"}}));
  }
  EXPECT_EQ(SetHeaderRoute(*router, Beta()).code(), StatusCode::kUnimplemented);
  auto check = VerifyWeight(*router, 30);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kNotVerified);
  EXPECT_THAT(check->message, HasSubstr("TCPRoute shop/web-l4 has backendRefs web-stable 60, "
                                        "web-canary 40"));
  EXPECT_THAT(check->message, HasSubstr("TLSRoute shop/web-l4"));
}

TEST(GatewayHeaderMatches, ExactPrefixAndRegex) {
  EXPECT_EQ(GatewayHeaderMatches({"h",
                                  {{"A", {StringMatch::Kind::kExact, "1"}},
                                   {"B", {StringMatch::Kind::kPrefix, "pre"}},
                                   {"C", {StringMatch::Kind::kRegex, "^x+$"}}}}),
            json::parse(R"([{"name":"A","type":"Exact","value":"1"},
                            {"name":"B","type":"RegularExpression","value":"pre.*"},
                            {"name":"C","type":"RegularExpression","value":"^x+$"}])"));
}

}  // namespace
}  // namespace ramp::kube_traffic
