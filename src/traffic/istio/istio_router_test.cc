// The Istio router against the strict API-server fake: the VirtualService weights of http, tls
// and tcp routes, DestinationRule subsets, header and mirror routes in managedRoutes order
// (goldens written by hand from Argo's istio.go), read-back verification, refusals, and the
// re-assertion of an edited weight and of a deleted managed route.
#include "traffic/istio/istio_router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "traffic/kubernetes/router_testing.h"

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

constexpr char kCanaryHash[] = "6d4f8b9c7";
constexpr char kStableHash[] = "59b7c6d5f";
constexpr char kExpHash[] = "7f8e9d0c1";

class IstioRouterTest : public testing::KubeRouterTest {
 protected:
  std::unique_ptr<Router> Make(json config, RouterContext context = Context()) {
    auto r = NewIstioRouter(MakeEnv(std::move(config), std::move(context)));
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r ? std::move(*r) : nullptr;
  }

  static json HttpConfig() {
    return json::parse(
        R"({"virtualService": {"name": "web", "routes": ["primary", "secondary"]}})");
  }

  static RouterContext Managed() { return Context(100, {"mirror-get", "canary-header"}); }

  // VirtualService shop/web: two http routes between web-stable and web-canary (the second with
  // fully qualified hosts) and an unrelated route.
  json PutWebVirtualService(const std::string& ns = kNs) {
    return Put(json::parse(R"({
      "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
      "metadata": {"name": "web", "namespace": ")" +
                           ns + R"("},
      "spec": {
        "hosts": ["web.example.com"], "gateways": ["web-gateway"],
        "http": [
          {"name": "primary", "route": [
            {"destination": {"host": "web-stable", "port": {"number": 8080}}, "weight": 100},
            {"destination": {"host": "web-canary", "port": {"number": 8080}}, "weight": 0}]},
          {"name": "secondary", "match": [{"uri": {"prefix": "/v2"}}], "route": [
            {"destination": {"host": "web-stable.shop.svc.cluster.local"}, "weight": 100},
            {"destination": {"host": "web-canary.shop.svc.cluster.local"}, "weight": 0}],
           "timeout": "5s"},
          {"name": "static", "route": [{"destination": {"host": "cdn"}}]}]}})"));
  }

  json PutTlsTcpVirtualService() {
    return Put(json::parse(R"({
      "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
      "metadata": {"name": "web", "namespace": "shop"},
      "spec": {
        "hosts": ["web.example.com"],
        "tls": [
          {"match": [{"port": 443, "sniHosts": ["web.example.com"]}], "route": [
            {"destination": {"host": "web-stable", "port": {"number": 8443}}, "weight": 100},
            {"destination": {"host": "web-canary", "port": {"number": 8443}}, "weight": 0}]},
          {"match": [{"port": 443, "sniHosts": ["admin.example.com"]}], "route": [
            {"destination": {"host": "admin"}, "weight": 100}]}],
        "tcp": [
          {"match": [{"port": 5432}], "route": [
            {"destination": {"host": "web-stable", "port": {"number": 5432}}, "weight": 100},
            {"destination": {"host": "web-canary", "port": {"number": 5432}}, "weight": 0}]},
          {"match": [{"port": 6379}], "route": [{"destination": {"host": "cache"}}]}]}})"));
  }

  json PutDestinationRule() {
    return Put(json::parse(R"({
      "apiVersion": "networking.istio.io/v1alpha3", "kind": "DestinationRule",
      "metadata": {"name": "web", "namespace": "shop"},
      "spec": {
        "host": "web.shop.svc.cluster.local",
        "trafficPolicy": {"loadBalancer": {"simple": "LEAST_CONN"}},
        "subsets": [
          {"name": "stable", "labels": {"app": "web"}},
          {"name": "canary", "labels": {"app": "web"},
           "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}}},
          {"name": "old-experiment", "labels": {"rollouts-pod-template-hash": "0000"}},
          {"name": "shadow", "labels": {"track": "shadow"}}]}})"));
  }

  // VirtualService shop/web routing to subsets of one host.
  json PutSubsetVirtualService() {
    return Put(json::parse(R"({
      "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
      "metadata": {"name": "web", "namespace": "shop"},
      "spec": {"hosts": ["web.example.com"], "http": [{"route": [
        {"destination": {"host": "web", "subset": "stable", "port": {"number": 80}}, "weight": 90},
        {"destination": {"host": "web", "subset": "canary", "port": {"number": 80}}, "weight": 0},
        {"destination": {"host": "web", "subset": "shadow", "port": {"number": 80}},
         "weight": 10}]}]}})"));
  }

  static json SubsetConfig() {
    return json::parse(R"({"virtualService": {"name": "web"}, "destinationRule": {"name": "web",
        "canarySubsetName": "canary", "stableSubsetName": "stable",
        "additionalSubsetNames": ["shadow"]}})");
  }

  static HeaderRoute CanaryHeader() {
    return HeaderRoute{"canary-header",
                       {{"x-canary", {StringMatch::Kind::kExact, "yes"}},
                        {"user-agent", {StringMatch::Kind::kRegex, ".*Firefox.*"}}}};
  }

  static MirrorRoute MirrorGet() {
    RouteMatch m;
    m.method = StringMatch{StringMatch::Kind::kExact, "GET"};
    m.path = StringMatch{StringMatch::Kind::kPrefix, "/api"};
    m.headers["x-debug"] = StringMatch{StringMatch::Kind::kExact, "1"};
    return MirrorRoute{"mirror-get", {m}, 50};
  }

  json Vs(const std::string& ns = kNs) { return Object("virtualservices", "web", ns); }
};

TEST_F(IstioRouterTest, WeightsTheNamedHttpRoutes) {
  PutWebVirtualService();
  auto router = Make(HttpConfig());
  EXPECT_EQ(router->Type(), "Istio");
  ASSERT_TRUE(SetWeight(*router, 20).ok());
  EXPECT_TRUE(MatchesGolden(Vs(), "istio", "virtualservice-http-weight-20.yaml"));

  ASSERT_TRUE(SetWeight(*router, 60).ok());
  json http = Vs()["spec"]["http"];
  EXPECT_EQ(http[0]["route"][0]["weight"], 40);
  EXPECT_EQ(http[0]["route"][1]["weight"], 60);
  EXPECT_EQ(http[1]["route"][0]["weight"], 40);
  EXPECT_EQ(http[1]["route"][1]["weight"], 60);

  fake_->ClearRequests();
  ASSERT_TRUE(SetWeight(*router, 60).ok());
  EXPECT_EQ(Writes(), 0);
  EXPECT_TRUE(Events().empty());
}

TEST_F(IstioRouterTest, WeightsMatchingTlsAndTcpRoutes) {
  PutTlsTcpVirtualService();
  auto router = Make(json::parse(R"({"virtualService": {"name": "web",
      "tlsRoutes": [{"port": 443, "sniHosts": ["web.example.com"]}],
      "tcpRoutes": [{"port": 5432}]}})"));
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_TRUE(MatchesGolden(Vs(), "istio", "virtualservice-tls-tcp-weight-30.yaml"));
  auto check = VerifyWeight(*router, 30);
  ASSERT_TRUE(check.has_value()) << check.error().message();
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
}

TEST_F(IstioRouterTest, ASingleHttpRouteNeedsNoName) {
  Put(json::parse(R"({
      "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
      "metadata": {"name": "web", "namespace": "shop"},
      "spec": {"http": [{"route": [
        {"destination": {"host": "web-stable"}, "weight": 100},
        {"destination": {"host": "web-canary"}}]}]}})"));
  auto router = Make(json::parse(R"({"virtualService": {"name": "web"}})"));
  ASSERT_TRUE(SetWeight(*router, 25).ok());
  json route = Vs()["spec"]["http"][0]["route"];
  EXPECT_EQ(route[0]["weight"], 75);
  EXPECT_EQ(route[1]["weight"], 25);

  // Managed routes beside it do not make it ambiguous.
  auto managed = Make(json::parse(R"({"virtualService": {"name": "web"}})"), Managed());
  ASSERT_TRUE(SetHeaderRoute(*managed, CanaryHeader()).ok());
  ASSERT_TRUE(SetWeight(*managed, 35).ok());
  json http = Vs()["spec"]["http"];
  ASSERT_EQ(http.size(), 2u);
  EXPECT_EQ(http[0]["route"], json::parse(R"([
      {"destination": {"host": "web-canary"}, "weight": 100}])"));  // no port to copy
  EXPECT_EQ(http[1]["route"][0]["weight"], 65);
  EXPECT_EQ(http[1]["route"][1]["weight"], 35);

  // Several routes and none named in the configuration: which one is ambiguous.
  PutWebVirtualService();
  Status s = SetWeight(*router, 25);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("istio: VirtualService shop/web: has 3 http routes"));
}

TEST_F(IstioRouterTest, ExperimentDestinationsAreAddedAndRemoved) {
  Put(json::parse(R"({
      "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
      "metadata": {"name": "web", "namespace": "shop"},
      "spec": {"http": [{"name": "primary", "route": [
        {"destination": {"host": "web-stable"}, "weight": 95},
        {"destination": {"host": "web-canary"}, "weight": 0},
        {"destination": {"host": "legacy"}, "weight": 5},
        {"destination": {"host": "idle"}, "weight": 0}]}]}})"));
  auto router = Make(json::parse(R"({"virtualService": {"name": "web", "routes": ["primary"]}})"));
  ASSERT_TRUE(SetWeight(*router, 20, {{"web-exp-b", "b1", 5}, {"web-exp-a", "a1", 10}}).ok());
  EXPECT_EQ(Vs()["spec"]["http"][0]["route"], json::parse(R"([
      {"destination": {"host": "web-stable"}, "weight": 65},
      {"destination": {"host": "web-canary"}, "weight": 20},
      {"destination": {"host": "idle"}, "weight": 0},
      {"destination": {"host": "web-exp-a"}, "weight": 10},
      {"destination": {"host": "web-exp-b"}, "weight": 5}])"));
  auto check = VerifyWeight(*router, 20, {{"web-exp-b", "b1", 5}, {"web-exp-a", "a1", 10}});
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kVerified);

  // The experiment is over: its destinations carry traffic no more and are removed.
  ASSERT_TRUE(SetWeight(*router, 20).ok());
  EXPECT_EQ(Vs()["spec"]["http"][0]["route"], json::parse(R"([
      {"destination": {"host": "web-stable"}, "weight": 80},
      {"destination": {"host": "web-canary"}, "weight": 20},
      {"destination": {"host": "idle"}, "weight": 0}])"));
}

TEST_F(IstioRouterTest, AnEditedWeightIsSetBackWithOneEvent) {
  PutWebVirtualService();
  auto router = Make(HttpConfig());
  ASSERT_TRUE(SetWeight(*router, 20).ok());
  json vs = Vs();
  vs["spec"]["http"][0]["route"][0]["weight"] = 0;
  vs["spec"]["http"][0]["route"][1]["weight"] = 100;
  Put(vs);
  ASSERT_TRUE(SetWeight(*router, 20).ok());  // the controller's periodic re-assertion
  EXPECT_TRUE(MatchesGolden(Vs(), "istio", "virtualservice-http-weight-20.yaml"));
  ASSERT_EQ(Events().size(), 1u);
  EXPECT_THAT(Events()[0], HasSubstr("VirtualService shop/web was changed outside the rollout"));
  // A new weight is not a change made outside; an unrelated edit is not set back.
  ASSERT_TRUE(SetWeight(*router, 50).ok());
  vs = Vs();
  vs["spec"]["hosts"].push_back("www.example.com");
  Put(vs);
  fake_->ClearRequests();
  ASSERT_TRUE(SetWeight(*router, 50).ok());
  EXPECT_EQ(Writes(), 0);
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(IstioRouterTest, VerifiesByReadingBack) {
  PutWebVirtualService();
  auto router = Make(HttpConfig());
  ASSERT_TRUE(SetWeight(*router, 20).ok());
  auto check = VerifyWeight(*router, 20);
  ASSERT_TRUE(check.has_value()) << check.error().message();
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
  EXPECT_EQ(check->observed_weight, 20);
  check = VerifyWeight(*router, 40);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kNotVerified);
  EXPECT_EQ(check->observed_weight, 20);
  EXPECT_THAT(check->message, HasSubstr("VirtualService shop/web has http route \"primary\" "
                                        "[web-stable=80 web-canary=20]"));
  EXPECT_THAT(check->message, HasSubstr("not canary 40 and stable 60"));
  const kube::Resource vs_resource =
      MakeResource("networking.istio.io", "v1alpha3", "virtualservices", "VirtualService");
  ASSERT_TRUE(testing::Await<Status>([&](auto done) {
                client_->Delete(vs_resource, kNs, "web", kube::DeleteOptions{}, done);
              }).ok());
  check = VerifyWeight(*router, 20);
  ASSERT_FALSE(check.has_value());
  EXPECT_EQ(check.error().code(), StatusCode::kFailedPrecondition);
}

TEST_F(IstioRouterTest, RefusesVirtualServicesItCannotWeight) {
  auto router = Make(HttpConfig());
  Status s = SetWeight(*router, 20);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("istio: VirtualService shop/web does not exist"));

  PutWebVirtualService();
  router =
      Make(json::parse(R"({"virtualService": {"name": "web", "routes": ["primary", "nope"]}})"));
  s = SetWeight(*router, 20);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("has no http route named \"nope\""));
  EXPECT_EQ(Vs()["spec"]["http"][0]["route"][0]["weight"], 100);  // nothing written

  router = Make(json::parse(R"({"virtualService": {"name": "web", "routes": ["static"]}})"));
  s = SetWeight(*router, 20);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("http route \"static\" has no destination with the canary "
                                     "Service \"web-canary\""));

  PutTlsTcpVirtualService();
  router = Make(json::parse(R"({"virtualService": {"name": "web",
      "tlsRoutes": [{"port": 8443, "sniHosts": ["web.example.com"]}]}})"));
  s = SetWeight(*router, 20);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("no tls route matching port 8443"));
}

TEST_F(IstioRouterTest, VirtualServicesInOtherNamespacesAndSeveralAtOnce) {
  PutWebVirtualService("mesh");
  Put(json::parse(R"({
      "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
      "metadata": {"name": "web-internal", "namespace": "shop"},
      "spec": {"http": [{"name": "internal", "route": [
        {"destination": {"host": "web-stable"}, "weight": 100},
        {"destination": {"host": "web-canary"}, "weight": 0}]}]}})"));
  auto router = Make(json::parse(R"({"virtualServices": [
      {"name": "web.mesh", "routes": ["primary"]},
      {"name": "web-internal", "routes": ["internal"]}]})"));
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  EXPECT_EQ(Vs("mesh")["spec"]["http"][0]["route"][1]["weight"], 10);
  EXPECT_EQ(Vs("mesh")["spec"]["http"][1]["route"][1]["weight"], 0);  // not configured
  EXPECT_EQ(Object("virtualservices", "web-internal")["spec"]["http"][0]["route"][1]["weight"], 10);
  auto check = VerifyWeight(*router, 10);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
}

TEST_F(IstioRouterTest, UpdateHashLabelsTheDestinationRuleSubsets) {
  PutDestinationRule();
  auto router = Make(SubsetConfig());
  ASSERT_TRUE(UpdateHash(*router, kCanaryHash, kStableHash, {{"web-exp", kExpHash, 10}}).ok());
  const std::map<std::string, std::string> values = {
      {"$CANARY_HASH", kCanaryHash}, {"$STABLE_HASH", kStableHash}, {"$EXP_HASH", kExpHash}};
  EXPECT_TRUE(MatchesGolden(Object("destinationrules", "web"), "istio",
                            "destinationrule-update-hash.yaml", values));

  fake_->ClearRequests();
  ASSERT_TRUE(UpdateHash(*router, kCanaryHash, kStableHash, {{"web-exp", kExpHash, 10}}).ok());
  EXPECT_EQ(Writes(), 0);

  // A label edited by hand is set back on the next call, with one event.
  json dr = Object("destinationrules", "web");
  dr["spec"]["subsets"][1]["labels"]["rollouts-pod-template-hash"] = kStableHash;
  Put(dr);
  ASSERT_TRUE(UpdateHash(*router, kCanaryHash, kStableHash, {{"web-exp", kExpHash, 10}}).ok());
  EXPECT_TRUE(MatchesGolden(Object("destinationrules", "web"), "istio",
                            "destinationrule-update-hash.yaml", values));
  ASSERT_EQ(Events().size(), 1u);
  EXPECT_THAT(Events()[0], HasSubstr("DestinationRule shop/web was changed outside"));

  // The experiment ends and the canary has no hash: its subset and label go.
  ASSERT_TRUE(UpdateHash(*router, "", kStableHash).ok());
  json subsets = Object("destinationrules", "web")["spec"]["subsets"];
  ASSERT_EQ(subsets.size(), 3u);
  EXPECT_EQ(subsets[1], json::parse(R"({"name": "canary", "labels": {"app": "web"},
      "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}}})"));
  EXPECT_EQ(subsets[2]["name"], "shadow");
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(IstioRouterTest, UpdateHashWithoutADestinationRuleWritesNothing) {
  PutWebVirtualService();
  auto router = Make(HttpConfig());
  fake_->ClearRequests();
  ASSERT_TRUE(UpdateHash(*router, kCanaryHash, kStableHash).ok());
  EXPECT_TRUE(fake_->Requests().empty());

  auto with_rule = Make(SubsetConfig());
  Status s = UpdateHash(*with_rule, kCanaryHash, kStableHash);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("DestinationRule shop/web does not exist"));
  Put(json::parse(R"({"apiVersion": "networking.istio.io/v1alpha3", "kind": "DestinationRule",
      "metadata": {"name": "web", "namespace": "shop"},
      "spec": {"host": "web", "subsets": [{"name": "stable"}]}})"));
  s = UpdateHash(*with_rule, kCanaryHash, kStableHash);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("has no subset named \"canary\""));
}

TEST_F(IstioRouterTest, WeightsSubsetsAndKeepsAdditionalSubsets) {
  PutSubsetVirtualService();
  PutDestinationRule();
  RouterContext ctx = Context(100, {"canary-header"});
  ctx.canary_service = "";
  ctx.stable_service = "";
  auto router = Make(SubsetConfig(), ctx);
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_EQ(Vs()["spec"]["http"][0]["route"], json::parse(R"([
      {"destination": {"host": "web", "subset": "stable", "port": {"number": 80}}, "weight": 60},
      {"destination": {"host": "web", "subset": "canary", "port": {"number": 80}}, "weight": 30},
      {"destination": {"host": "web", "subset": "shadow", "port": {"number": 80}},
       "weight": 10}])"));

  // Header routes go to the DestinationRule's host and canary subset.
  ASSERT_TRUE(
      SetHeaderRoute(
          *router, HeaderRoute{"canary-header", {{"x-canary", {StringMatch::Kind::kPrefix, "y"}}}})
          .ok());
  EXPECT_EQ(Vs()["spec"]["http"][0], json::parse(R"({"name": "canary-header",
      "match": [{"headers": {"x-canary": {"prefix": "y"}}}],
      "route": [{"destination": {"host": "web.shop.svc.cluster.local", "subset": "canary",
                                 "port": {"number": 80}}, "weight": 100}]})"));
  EXPECT_EQ(Vs()["spec"]["http"].size(), 2u);

  // Without a canary subset in the route the weights cannot be set.
  json vs = Vs();
  vs["spec"]["http"][1]["route"].erase(1);
  Put(vs);
  Status s = SetWeight(*router, 30);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("has no destination with the canary subset \"canary\""));
}

TEST_F(IstioRouterTest, HeaderAndMirrorRoutesInManagedRoutesOrder) {
  PutWebVirtualService();
  auto router = Make(HttpConfig(), Managed());
  ASSERT_TRUE(SetWeight(*router, 20).ok());
  ASSERT_TRUE(SetHeaderRoute(*router, CanaryHeader()).ok());
  ASSERT_TRUE(SetMirrorRoute(*router, MirrorGet()).ok());
  EXPECT_TRUE(MatchesGolden(Vs(), "istio", "virtualservice-managed-routes.yaml"));
  EXPECT_TRUE(Events().empty());

  // The mirror route's copy of the weighted route follows the weights.
  ASSERT_TRUE(SetWeight(*router, 40).ok());
  json http = Vs()["spec"]["http"];
  ASSERT_EQ(http.size(), 5u);
  EXPECT_EQ(http[0]["route"][0]["weight"], 60);
  EXPECT_EQ(http[0]["route"][1]["weight"], 40);
  EXPECT_EQ(http[1]["name"], "canary-header");
  auto check = VerifyWeight(*router, 40);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kVerified);

  ASSERT_TRUE(RemoveManagedRoutes(*router).ok());
  EXPECT_TRUE(MatchesGolden(Vs(), "istio", "virtualservice-managed-routes-removed.yaml"));
  fake_->ClearRequests();
  ASSERT_TRUE(SetWeight(*router, 40).ok());
  EXPECT_EQ(Writes(), 0);
  EXPECT_TRUE(Events().empty());
}

TEST_F(IstioRouterTest, ADeletedHeaderRouteIsPutBackWithOneEvent) {
  PutWebVirtualService();
  auto router = Make(HttpConfig(), Managed());
  ASSERT_TRUE(SetWeight(*router, 20).ok());
  ASSERT_TRUE(SetHeaderRoute(*router, CanaryHeader()).ok());
  json with_route = Vs();
  ASSERT_EQ(with_route["spec"]["http"][0]["name"], "canary-header");
  json vs = with_route;
  vs["spec"]["http"].erase(0);
  Put(vs);
  ASSERT_TRUE(SetWeight(*router, 20).ok());  // the periodic re-assertion
  EXPECT_EQ(Vs()["spec"]["http"], with_route["spec"]["http"]);
  ASSERT_EQ(Events().size(), 1u);
  EXPECT_THAT(Events()[0], HasSubstr("VirtualService shop/web was changed outside the rollout"));

  // A route moved behind the others is put back in front, by a re-call of the step too.
  vs = Vs();
  vs["spec"]["http"].push_back(vs["spec"]["http"][0]);
  vs["spec"]["http"].erase(0);
  Put(vs);
  ASSERT_TRUE(SetHeaderRoute(*router, CanaryHeader()).ok());
  EXPECT_EQ(Vs()["spec"]["http"], with_route["spec"]["http"]);
  EXPECT_EQ(Events().size(), 2u);
}

TEST_F(IstioRouterTest, ARouteWithoutMatchesIsRemoved) {
  PutWebVirtualService();
  auto router = Make(HttpConfig(), Managed());
  ASSERT_TRUE(SetWeight(*router, 20).ok());
  ASSERT_TRUE(SetHeaderRoute(*router, CanaryHeader()).ok());
  ASSERT_TRUE(SetMirrorRoute(*router, MirrorGet()).ok());
  ASSERT_TRUE(SetHeaderRoute(*router, HeaderRoute{"canary-header", {}}).ok());
  json http = Vs()["spec"]["http"];
  ASSERT_EQ(http.size(), 4u);
  EXPECT_EQ(http[0]["name"], "mirror-get");
  EXPECT_EQ(http[1]["name"], "primary");
  // Mirror route percentage unset: 100.
  MirrorRoute all = MirrorGet();
  all.percentage.reset();
  ASSERT_TRUE(SetMirrorRoute(*router, all).ok());
  EXPECT_EQ(Vs()["spec"]["http"][0]["mirrorPercentage"], json::parse(R"({"value": 100})"));
  EXPECT_TRUE(Events().empty());
}

TEST_F(IstioRouterTest, RefusesRoutesItDoesNotManage) {
  PutWebVirtualService();
  auto router = Make(HttpConfig(), Context(100, {"other"}));
  Status s = SetHeaderRoute(*router, CanaryHeader());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("header route \"canary-header\" is not listed in "
                                     "trafficRouting.managedRoutes"));
  EXPECT_EQ(SetMirrorRoute(*router, MirrorGet()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Vs()["spec"]["http"].size(), 3u);
}

TEST_F(IstioRouterTest, RemoveManagedRoutesPassesOverAMissingVirtualService) {
  auto router = Make(HttpConfig(), Managed());
  EXPECT_TRUE(RemoveManagedRoutes(*router).ok());
  EXPECT_EQ(Writes(), 0);
}

TEST_F(IstioRouterTest, PureRewriteIsIdempotent) {
  json vs = PutWebVirtualService();
  auto config = ParseIstioConfig(HttpConfig(), kNs);
  ASSERT_TRUE(config.has_value());
  IstioDesired desired;
  desired.weight = 35;
  desired.canary_host = "web-canary";
  desired.routes.emplace("canary-header", CanaryHeader());
  desired.routes.emplace("mirror-get", MirrorGet());
  auto changed =
      RewriteIstioVirtualService(Managed(), *config, config->virtual_services[0], desired, vs);
  ASSERT_TRUE(changed.has_value()) << changed.error().message();
  EXPECT_TRUE(*changed);
  changed =
      RewriteIstioVirtualService(Managed(), *config, config->virtual_services[0], desired, vs);
  ASSERT_TRUE(changed.has_value());
  EXPECT_FALSE(*changed);
}

TEST_F(IstioRouterTest, RefusesBadConfiguration) {
  auto error = [&](json config, RouterContext ctx = Context()) {
    auto r = NewIstioRouter(MakeEnv(std::move(config), std::move(ctx)));
    EXPECT_FALSE(r.has_value());
    if (r) return std::string();
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
    return r.error().message();
  };
  EXPECT_THAT(error(json::object()),
              HasSubstr("exactly one of virtualService and virtualServices"));
  EXPECT_THAT(error(json::parse(R"({"virtualService": {"name": 3}})")),
              HasSubstr("istio.virtualService.name: expected a non-empty string"));
  EXPECT_THAT(error(json::parse(R"({"virtualService": {"name": "web", "routes": "primary"}})")),
              HasSubstr("istio.virtualService.routes: expected a list of strings"));
  EXPECT_THAT(error(json::parse(
                  R"({"virtualServices": [{"name": "a"}, {"name": "b", "tcpRoutes": [{}]}]})")),
              HasSubstr("istio.virtualServices[1].tcpRoutes[0].port: expected an integer"));
  EXPECT_THAT(error(json::parse(R"({"virtualService": {"name": "web"},
                                   "destinationRule": {"name": "web", "canarySubsetName": "c"}})")),
              HasSubstr("istio.destinationRule.stableSubsetName: expected a non-empty string"));
  RouterContext no_services = Context();
  no_services.canary_service = "";
  EXPECT_THAT(error(json::parse(R"({"virtualService": {"name": "web"}})"), no_services),
              HasSubstr("canaryService and stableService"));
  ApiVersions v;
  v.istio = "v2";
  auto r =
      NewIstioRouter(MakeEnv(json::parse(R"({"virtualService": {"name": "web"}})"), Context(), v));
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("unsupported networking.istio.io API version"));
}

}  // namespace
}  // namespace ramp::kube_traffic
