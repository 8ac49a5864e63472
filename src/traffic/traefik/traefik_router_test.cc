// The Traefik router against the strict API-server fake: the two weights it rewrites in the
// weighted TraefikService (golden written by hand from Argo's traefik.go), what it refuses,
// read-back verification, and an edit made behind its back set back with an event.
#include "traffic/traefik/traefik_router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "traffic/kubernetes/router_testing.h"

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

class TraefikRouterTest : public testing::KubeRouterTest {
 protected:
  void SetUp() override {
    KubeRouterTest::SetUp();
    Put(json::parse(R"({
      "apiVersion": "traefik.io/v1alpha1", "kind": "TraefikService",
      "metadata": {"name": "web-traefik", "namespace": "shop", "labels": {"app": "web"}},
      "spec": {"weighted": {"sticky": {"cookie": {"name": "lvl"}}, "services": [
        {"name": "web-stable", "port": 80, "weight": 100},
        {"name": "web-canary", "port": 80, "weight": 0},
        {"name": "web-legacy", "port": 8080, "weight": 5}]}}})"));
  }

  std::unique_ptr<Router> Make(json config = {{"weightedTraefikServiceName", "web-traefik"}},
                               ApiVersions versions = {}) {
    auto r = NewTraefikRouter(MakeEnv(std::move(config), Context(), std::move(versions)));
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r ? std::move(*r) : nullptr;
  }

  json Services() {
    return Object("traefikservices", "web-traefik")["spec"]["weighted"]["services"];
  }
};

TEST_F(TraefikRouterTest, WritesTheTwoWeightsArgoWrites) {
  auto router = Make();
  EXPECT_EQ(router->Type(), "Traefik");
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_TRUE(MatchesGolden(Object("traefikservices", "web-traefik"), "traefik",
                            "traefikservice-weight-30.yaml"));
}

TEST_F(TraefikRouterTest, RewritesTheWeightsAndLeavesAnUnchangedServiceAlone) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  ASSERT_TRUE(SetWeight(*router, 75).ok());
  EXPECT_EQ(Services()[0]["weight"], 25);
  EXPECT_EQ(Services()[1]["weight"], 75);
  EXPECT_EQ(Services()[2]["weight"], 5);
  fake_->ClearRequests();
  ASSERT_TRUE(SetWeight(*router, 75).ok());
  EXPECT_EQ(Writes(), 0);
  // Experiment destinations do not change the stable weight (Argo: 100 − w).
  ASSERT_TRUE(SetWeight(*router, 75, {{"web-exp", "abc", 10}}).ok());
  EXPECT_EQ(Writes(), 0);
}

TEST_F(TraefikRouterTest, AnEditBehindItsBackIsSetBackWithAnEvent) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_TRUE(Events().empty());
  json service = Object("traefikservices", "web-traefik");
  service["spec"]["weighted"]["services"][0]["weight"] = 0;
  service["spec"]["weighted"]["services"][1]["weight"] = 100;
  Put(service);
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_TRUE(MatchesGolden(Object("traefikservices", "web-traefik"), "traefik",
                            "traefikservice-weight-30.yaml"));
  ASSERT_EQ(Events().size(), 1u);
  EXPECT_THAT(Events()[0],
              HasSubstr("TraefikService shop/web-traefik was changed outside the rollout"));
  ASSERT_TRUE(SetWeight(*router, 50).ok());  // a new weight is not a change made outside
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(TraefikRouterTest, VerifiesByReadingBack) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  auto check = VerifyWeight(*router, 30);
  ASSERT_TRUE(check.has_value()) << check.error().message();
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
  EXPECT_EQ(check->observed_weight, 30);
  check = VerifyWeight(*router, 60);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kNotVerified);
  EXPECT_EQ(check->observed_weight, 30);
  EXPECT_THAT(check->message, HasSubstr("TraefikService shop/web-traefik weighs web-canary 30 "
                                        "and web-stable 70, not 60 and 40"));
}

TEST_F(TraefikRouterTest, RefusesMissingObjectsAndEntries) {
  auto router = Make({{"weightedTraefikServiceName", "nope"}});
  Status s = SetWeight(*router, 30);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("traefik: TraefikService shop/nope does not exist"));
  auto v = VerifyWeight(*router, 30);
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code(), StatusCode::kFailedPrecondition);

  json service = Object("traefikservices", "web-traefik");
  service["spec"]["weighted"]["services"].erase(1);
  Put(service);
  s = SetWeight(*Make(), 30);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("TraefikService shop/web-traefik: spec.weighted.services "
                                     "has no entry named web-canary"));
  EXPECT_EQ(Services()[0]["weight"], 100);  // nothing written

  service["spec"] = {{"mirroring", {{"name", "web-stable"}}}};
  Put(service);
  s = SetWeight(*Make(), 30);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("no spec.weighted.services"));
}

TEST_F(TraefikRouterTest, OtherApiGroupAndVersion) {
  ASSERT_TRUE(fake_
                  ->RegisterResource({.group = "traefik.containo.us",
                                      .version = "v1alpha1",
                                      .kind = "TraefikService",
                                      .plural = "traefikservices",
                                      .custom = true})
                  .ok());
  Put(json::parse(R"({"apiVersion": "traefik.containo.us/v1alpha1", "kind": "TraefikService",
      "metadata": {"name": "old", "namespace": "shop"},
      "spec": {"weighted": {"services": [{"name": "web-canary"}, {"name": "web-stable"}]}}})"));
  ApiVersions v;
  v.traefik_group = "traefik.containo.us";
  v.traefik_version = "traefik.containo.us/v1alpha1";
  auto router = Make({{"weightedTraefikServiceName", "old"}}, v);
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  json old = Object("traefikservices.traefik.containo.us", "old");
  EXPECT_EQ(
      old["spec"]["weighted"]["services"],
      json::parse(R"([{"name":"web-canary","weight":10},{"name":"web-stable","weight":90}])"));
}

TEST_F(TraefikRouterTest, HasNoHeaderOrMirrorRoutes) {
  auto router = Make();
  Status h = SetHeaderRoute(*router, HeaderRoute{"h", {}});
  EXPECT_EQ(h.code(), StatusCode::kUnimplemented);
  EXPECT_THAT(h.message(), HasSubstr("istio, apisix and the Gateway API have them"));
  EXPECT_EQ(SetMirrorRoute(*router, MirrorRoute{"m", {}, {}}).code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(RemoveManagedRoutes(*router).ok());
  EXPECT_TRUE(UpdateHash(*router, "abc", "def").ok());
}

TEST_F(TraefikRouterTest, RefusesBadConfiguration) {
  EXPECT_THAT(NewTraefikRouter(MakeEnv(json::object())).error().message(),
              HasSubstr("traefik.weightedTraefikServiceName: required"));
  EXPECT_THAT(NewTraefikRouter(MakeEnv({{"weightedTraefikServiceName", 3}})).error().message(),
              HasSubstr("traefik.weightedTraefikServiceName: expected a string"));
  EXPECT_EQ(NewTraefikRouter(MakeEnv(json::array())).error().code(), StatusCode::kInvalidArgument);
  auto wide = NewTraefikRouter(MakeEnv({{"weightedTraefikServiceName", "x"}}, Context(1000)));
  ASSERT_FALSE(wide.has_value());
  EXPECT_THAT(wide.error().message(), HasSubstr("maxTrafficWeight 1000 is not supported"));
}

}  // namespace
}  // namespace ramp::kube_traffic
