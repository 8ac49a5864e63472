// The APISIX router against the strict API-server fake: the weights it writes in the base
// ApisixRoute and the header-route ApisixRoute it clones from it (goldens written by hand from
// Argo's apisix.go), removal, ownership, read-back verification, and edits made behind its back
// set back.
#include "traffic/apisix/apisix_router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

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

class ApisixRouterTest : public testing::KubeRouterTest {
 protected:
  void SetUp() override {
    KubeRouterTest::SetUp();
    Put(json::parse(R"({
      "apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute",
      "metadata": {"name": "web-route", "namespace": "shop", "labels": {"app": "web"},
                   "annotations": {"team": "shop"}},
      "spec": {"ingressClassName": "apisix", "http": [
        {"name": "web-route", "priority": 2,
         "match": {"hosts": ["shop.example.com"], "paths": ["/*"],
                   "exprs": [{"subject": {"scope": "Query", "name": "debug"}, "op": "Equal",
                              "value": "1"}]},
         "backends": [{"serviceName": "web-stable", "servicePort": 80, "weight": 100},
                      {"serviceName": "web-canary", "servicePort": 80, "weight": 0}]},
        {"name": "admin", "match": {"paths": ["/admin/*"]},
         "backends": [{"serviceName": "web-stable", "servicePort": 80}]}]}})"));
  }

  std::unique_ptr<Router> Make(json config = {{"route", {{"name", "web-route"}}}},
                               std::vector<std::string> managed = {"beta"}) {
    auto r = NewApisixRouter(MakeEnv(std::move(config), Context(100, std::move(managed))));
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r ? std::move(*r) : nullptr;
  }

  json Backends(std::string_view route = "web-route", int rule = 0) {
    return Object("apisixroutes", route)["spec"]["http"][rule]["backends"];
  }
};

TEST_F(ApisixRouterTest, WritesTheWeightsArgoWrites) {
  auto router = Make();
  EXPECT_EQ(router->Type(), "Apisix");
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_TRUE(
      MatchesGolden(Object("apisixroutes", "web-route"), "apisix", "apisixroute-weight-30.yaml"));
}

TEST_F(ApisixRouterTest, RewritesTheWeightsAndLeavesAnUnchangedRouteAlone) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  ASSERT_TRUE(SetWeight(*router, 80).ok());
  EXPECT_EQ(Backends()[0]["weight"], 20);
  EXPECT_EQ(Backends()[1]["weight"], 80);
  EXPECT_FALSE(Backends("web-route", 1)[0].contains("weight"));
  fake_->ClearRequests();
  ASSERT_TRUE(SetWeight(*router, 80).ok());
  EXPECT_EQ(Writes(), 0);
}

TEST_F(ApisixRouterTest, ListedRulesAreEachWeighted) {
  json route = Object("apisixroutes", "web-route");
  route["spec"]["http"][1]["backends"].push_back({{"serviceName", "web-canary"}});
  Put(route);
  auto router = Make({{"route", {{"name", "web-route"}, {"rules", {"admin", "web-route"}}}}});
  ASSERT_TRUE(SetWeight(*router, 40).ok());
  EXPECT_EQ(Backends("web-route", 1),
            json::parse(R"([{"serviceName":"web-stable","servicePort":80,"weight":60},
                            {"serviceName":"web-canary","weight":40}])"));
  EXPECT_EQ(Backends()[1]["weight"], 40);
}

TEST_F(ApisixRouterTest, AnEditBehindItsBackIsSetBackWithAnEvent) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  json route = Object("apisixroutes", "web-route");
  route["spec"]["http"][0]["backends"][1]["weight"] = 90;
  Put(route);
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_TRUE(
      MatchesGolden(Object("apisixroutes", "web-route"), "apisix", "apisixroute-weight-30.yaml"));
  ASSERT_EQ(Events().size(), 1u);
  EXPECT_THAT(Events()[0], HasSubstr("ApisixRoute shop/web-route was changed outside the rollout"));
  ASSERT_TRUE(SetWeight(*router, 50).ok());
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(ApisixRouterTest, VerifiesByReadingBack) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  auto check = VerifyWeight(*router, 30);
  ASSERT_TRUE(check.has_value()) << check.error().message();
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
  EXPECT_EQ(check->observed_weight, 30);
  check = VerifyWeight(*router, 45);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kNotVerified);
  EXPECT_THAT(check->message, HasSubstr("ApisixRoute shop/web-route has rule web-route: "
                                        "web-canary 30, web-stable 70, not web-canary 45"));
}

TEST_F(ApisixRouterTest, RefusesMissingRoutesRulesAndBackends) {
  auto router = Make({{"route", {{"name", "nope"}}}});
  Status s = SetWeight(*router, 30);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("apisix: ApisixRoute shop/nope does not exist"));

  s = SetWeight(*Make({{"route", {{"name", "web-route"}, {"rules", {"other"}}}}}), 30);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("ApisixRoute shop/web-route: spec.http has no rule named "
                                     "other"));

  s = SetWeight(*Make({{"route", {{"name", "web-route"}, {"rules", {"admin"}}}}}), 30);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("spec.http rule admin has no backend with serviceName "
                                     "web-canary"));
  EXPECT_EQ(Backends()[0]["weight"], 100);  // nothing written
}

TEST_F(ApisixRouterTest, HeaderRouteIsAnApisixRouteClonedFromTheBase) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  ASSERT_TRUE(SetHeaderRoute(*router, Beta()).ok());
  EXPECT_TRUE(
      MatchesGolden(Object("apisixroutes", "beta"), "apisix", "apisixroute-header-route.yaml"));
  // The base route is not changed by it.
  EXPECT_TRUE(
      MatchesGolden(Object("apisixroutes", "web-route"), "apisix", "apisixroute-weight-30.yaml"));
  // Setting it again changes nothing; a regex match replaces the expressions.
  fake_->ClearRequests();
  ASSERT_TRUE(SetHeaderRoute(*router, Beta()).ok());
  EXPECT_EQ(Writes(), 0);
  ASSERT_TRUE(
      SetHeaderRoute(*router, {"beta", {{"X-Canary", {StringMatch::Kind::kRegex, "y.s"}}}}).ok());
  EXPECT_EQ(Object("apisixroutes", "beta")["spec"]["http"][0]["match"]["exprs"],
            json::parse(R"([{"subject":{"scope":"Header","name":"X-Canary"},"op":"RegexMatch",
                             "value":"y.s"}])"));
  EXPECT_EQ(Object("apisixroutes", "beta")["spec"]["http"][0]["priority"], 3);
  // No matches: the route is deleted.
  ASSERT_TRUE(SetHeaderRoute(*router, {"beta", {}}).ok());
  EXPECT_TRUE(Object("apisixroutes", "beta").is_null());
  EXPECT_TRUE(SetHeaderRoute(*router, {"beta", {}}).ok());  // already gone
}

TEST_F(ApisixRouterTest, AHeaderRouteEditedOrDeletedBehindItsBackIsPutBack) {
  auto router = Make();
  ASSERT_TRUE(SetHeaderRoute(*router, Beta()).ok());
  json beta = Object("apisixroutes", "beta");
  beta["spec"]["http"][0]["backends"][0]["weight"] = 1;
  Put(beta);
  ASSERT_TRUE(SetWeight(*router, 30).ok());  // every call re-asserts the active header routes
  EXPECT_TRUE(
      MatchesGolden(Object("apisixroutes", "beta"), "apisix", "apisixroute-header-route.yaml"));
  ASSERT_EQ(Events().size(), 1u);
  EXPECT_THAT(Events()[0], HasSubstr("ApisixRoute shop/beta was changed outside the rollout"));
  ASSERT_TRUE(fake_->Object("apisixroutes", kNs, "beta").has_value());
  // Deleted: created again.
  ASSERT_TRUE(testing::Await<Status>([&](auto done) {
                client_->Delete(
                    MakeResource("apisix.apache.org", "v2", "apisixroutes", "ApisixRoute"), kNs,
                    "beta", {}, done);
              }).ok());
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_TRUE(
      MatchesGolden(Object("apisixroutes", "beta"), "apisix", "apisixroute-header-route.yaml"));
}

TEST_F(ApisixRouterTest, RemoveManagedRoutesDeletesOnlyRoutesTheRolloutControls) {
  auto router = Make(json{{"route", {{"name", "web-route"}}}}, {"beta", "gamma"});
  ASSERT_TRUE(SetHeaderRoute(*router, Beta()).ok());
  json gamma = Object("apisixroutes", "web-route");
  gamma["metadata"] = {{"name", "gamma"}, {"namespace", kNs}};  // not the rollout's
  Put(gamma);
  ASSERT_TRUE(RemoveManagedRoutes(*router).ok());
  EXPECT_TRUE(Object("apisixroutes", "beta").is_null());
  EXPECT_FALSE(Object("apisixroutes", "gamma").is_null());
  EXPECT_FALSE(Object("apisixroutes", "web-route").is_null());
  // Once removed, SetWeight does not bring it back.
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_TRUE(Object("apisixroutes", "beta").is_null());
}

TEST_F(ApisixRouterTest, RefusesAHeaderRouteAnotherObjectOwns) {
  json other = Object("apisixroutes", "web-route");
  other["metadata"] = {{"name", "beta"}, {"namespace", kNs}};
  Put(other);
  auto router = Make();
  Status s = SetHeaderRoute(*router, Beta());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("apisix: ApisixRoute shop/beta exists and is not controlled"));
  EXPECT_EQ(Object("apisixroutes", "beta")["spec"], Object("apisixroutes", "web-route")["spec"]);

  s = SetHeaderRoute(*Make(json{{"route", {{"name", "web-route"}, {"rules", {"admin"}}}}}),
                     {"delta", Beta().matches});
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("header route delta: ApisixRoute shop/web-route: spec.http "
                                     "rule admin has no backend with serviceName web-canary"));
  EXPECT_TRUE(Object("apisixroutes", "delta").is_null());
}

TEST_F(ApisixRouterTest, RefusesBadHeaderRoutesAndHasNoMirrorRoutes) {
  auto router = Make();
  EXPECT_EQ(SetHeaderRoute(*router, {"beta", {{"", {StringMatch::Kind::kExact, "x"}}}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(SetHeaderRoute(*router, {"beta", {{"X", {StringMatch::Kind::kExact, ""}}}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(SetHeaderRoute(*router, {"web-route", Beta().matches}).code(),
            StatusCode::kInvalidArgument);
  Status m = SetMirrorRoute(*router, MirrorRoute{"m", {}, {}});
  EXPECT_EQ(m.code(), StatusCode::kUnimplemented);
  EXPECT_THAT(m.message(), HasSubstr("istio has them"));
}

TEST_F(ApisixRouterTest, RefusesBadConfiguration) {
  EXPECT_THAT(NewApisixRouter(MakeEnv(json::object())).error().message(),
              HasSubstr("apisix.route: required"));
  EXPECT_THAT(NewApisixRouter(MakeEnv({{"route", {{"name", 1}}}})).error().message(),
              HasSubstr("apisix.route.name: expected a string"));
  EXPECT_THAT(NewApisixRouter(MakeEnv({{"route", {{"rules", {"a"}}}}})).error().message(),
              HasSubstr("apisix.route.name: required"));
  EXPECT_THAT(
      NewApisixRouter(MakeEnv({{"route", {{"name", "r"}, {"rules", "a"}}}})).error().message(),
      HasSubstr("apisix.route.rules: expected a list"));
  EXPECT_THAT(
      NewApisixRouter(MakeEnv({{"route", {{"name", "r"}, {"rules", {"a", 2}}}}})).error().message(),
      HasSubstr("apisix.route.rules[1]: expected a rule name"));
  EXPECT_EQ(NewApisixRouter(MakeEnv({{"route", {{"name", "r"}}}}, Context(1000))).error().code(),
            StatusCode::kInvalidArgument);
}

TEST(ApisixHeaderExprs, OneExpressionPerHeader) {
  EXPECT_EQ(ApisixHeaderExprs({"h",
                               {{"A", {StringMatch::Kind::kExact, "1"}},
                                {"B", {StringMatch::Kind::kRegex, "^x+$"}},
                                {"C", {StringMatch::Kind::kPrefix, "pre"}}}}),
            json::parse(R"([
              {"subject":{"scope":"Header","name":"A"},"op":"Equal","value":"1"},
              {"subject":{"scope":"Header","name":"B"},"op":"RegexMatch","value":"^x+$"},
              {"subject":{"scope":"Header","name":"C"},"op":"RegexMatch","value":"^pre.*"}])"));
}

}  // namespace
}  // namespace ramp::kube_traffic
