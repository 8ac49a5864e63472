// The Ambassador router against the strict API-server fake: the canary Mapping it creates from
// the base Mapping (golden written by hand from Argo's ambassador.go), its weights, the delete
// 5 s after weight 0 on a manual clock, what it refuses, read-back verification, and an edit
// made behind its back set back with an event.
#include "traffic/ambassador/ambassador_router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/fakes/kube_test_util.h"
#include "traffic/kubernetes/router_testing.h"

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;
using ::testing::HasSubstr;

class AmbassadorRouterTest : public testing::KubeRouterTest {
 protected:
  void SetUp() override {
    KubeRouterTest::SetUp();
    Put(BaseMapping("web-mapping"));
  }

  static json BaseMapping(const std::string& name) {
    json m = json::parse(R"({
      "apiVersion": "getambassador.io/v2", "kind": "Mapping",
      "metadata": {"namespace": "shop", "labels": {"app": "web"},
                   "annotations": {"team": "shop"}},
      "spec": {"host": "shop.example.com", "prefix": "/web/", "rewrite": "/",
               "service": "web-stable.shop:80", "timeout_ms": 3000}})");
    m["metadata"]["name"] = name;
    return m;
  }

  std::unique_ptr<Router> Make(json config = {{"mappings", {"web-mapping"}}},
                               ApiVersions versions = {}) {
    Env env = MakeEnv(std::move(config), Context(), std::move(versions));
    env.timers = &manual_;
    env.clock = &manual_;
    auto r = NewAmbassadorRouter(std::move(env));
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r ? std::move(*r) : nullptr;
  }

  json Canary(std::string_view name = "web-mapping-canary") { return Object("mappings", name); }

  // Waits (10 s at most) until the canary Mapping is gone.
  bool CanaryDeleted(std::string_view name = "web-mapping-canary") {
    return fakes::testing::Eventually([&] { return Canary(name).is_null(); });
  }

  ManualClock manual_{FromUnixNanos(1'800'000'000'000'000'000)};
};

TEST_F(AmbassadorRouterTest, CreatesTheCanaryMappingArgoCreates) {
  auto router = Make();
  EXPECT_EQ(router->Type(), "Ambassador");
  const json base = Object("mappings", "web-mapping");
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_TRUE(MatchesGolden(Canary(), "ambassador", "mapping-canary-weight-30.yaml"));
  EXPECT_EQ(Object("mappings", "web-mapping"), base);  // the base is never written
}

TEST_F(AmbassadorRouterTest, RewritesTheWeightFollowsTheBaseAndLeavesAnUnchangedMappingAlone) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  ASSERT_TRUE(SetWeight(*router, 60).ok());
  EXPECT_EQ(Canary()["spec"]["weight"], 60);
  fake_->ClearRequests();
  ASSERT_TRUE(SetWeight(*router, 60).ok());
  EXPECT_EQ(Writes(), 0);
  // The base mapping changed: the canary follows it (not an outside change of the canary).
  json base = Object("mappings", "web-mapping");
  base["spec"]["prefix"] = "/shop/";
  Put(base);
  ASSERT_TRUE(SetWeight(*router, 60).ok());
  EXPECT_EQ(Canary()["spec"]["prefix"], "/shop/");
  EXPECT_TRUE(Events().empty());
}

TEST_F(AmbassadorRouterTest, AnEditBehindItsBackIsSetBackWithAnEvent) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  json canary = Canary();
  canary["spec"]["weight"] = 100;
  Put(canary);
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_TRUE(MatchesGolden(Canary(), "ambassador", "mapping-canary-weight-30.yaml"));
  ASSERT_EQ(Events().size(), 1u);
  EXPECT_THAT(Events()[0],
              HasSubstr("Mapping shop/web-mapping-canary was changed outside the rollout"));
  ASSERT_TRUE(SetWeight(*router, 50).ok());
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(AmbassadorRouterTest, WeightZeroDeletesTheCanaryMappingFiveSecondsLater) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  ASSERT_TRUE(SetWeight(*router, 0).ok());
  EXPECT_EQ(Canary()["spec"]["weight"], 0);
  EXPECT_EQ(manual_.Pending(), 1u);
  ASSERT_TRUE(SetWeight(*router, 0).ok());  // one delete pending, not two
  EXPECT_EQ(manual_.Pending(), 1u);
  manual_.Advance(seconds(4));
  EXPECT_EQ(manual_.Pending(), 1u);
  EXPECT_FALSE(Canary().is_null());
  manual_.Advance(seconds(1));
  EXPECT_EQ(manual_.Pending(), 0u);
  EXPECT_TRUE(CanaryDeleted());
  // At weight 0 a missing canary Mapping stays missing.
  fake_->ClearRequests();
  ASSERT_TRUE(SetWeight(*router, 0).ok());
  EXPECT_EQ(Writes(), 0);
  EXPECT_EQ(manual_.Pending(), 0u);
  // And a new canary brings it back; ramp deleted it itself, so that is no set-back.
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  EXPECT_EQ(Canary()["spec"]["weight"], 10);
  EXPECT_TRUE(Events().empty());
}

TEST_F(AmbassadorRouterTest, ACanaryMappingDeletedByHandIsCreatedAgainWithAnEvent) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  ASSERT_TRUE(testing::Await<Status>([&](auto done) {
                client_->Delete(kube::Resource{"getambassador.io", "v2", "mappings", "Mapping"},
                                kNs, "web-mapping-canary", {}, done);
              }).ok());
  ASSERT_TRUE(SetWeight(*router, 30).ok());  // the periodic re-assertion
  EXPECT_EQ(Canary()["spec"]["weight"], 30);
  ASSERT_EQ(Events().size(), 1u);
  EXPECT_THAT(Events()[0], HasSubstr("Mapping shop/web-mapping-canary was changed outside"));
}

TEST_F(AmbassadorRouterTest, ARaiseBeforeTheDeleteCancelsIt) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  ASSERT_TRUE(SetWeight(*router, 0).ok());
  ASSERT_TRUE(SetWeight(*router, 20).ok());
  EXPECT_EQ(manual_.Pending(), 0u);
  manual_.Advance(seconds(10));
  EXPECT_EQ(Canary()["spec"]["weight"], 20);
}

TEST_F(AmbassadorRouterTest, TheDelayedDeleteRunsAfterTheRouterIsDestroyed) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  ASSERT_TRUE(SetWeight(*router, 0).ok());
  router.reset();
  manual_.Advance(seconds(5));
  EXPECT_TRUE(CanaryDeleted());
}

TEST_F(AmbassadorRouterTest, VerifiesByReadingBack) {
  auto router = Make();
  auto check = VerifyWeight(*router, 0);  // no canary Mapping: nothing goes to the canary
  ASSERT_TRUE(check.has_value()) << check.error().message();
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
  check = VerifyWeight(*router, 30);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kNotVerified);
  EXPECT_THAT(check->message, HasSubstr("Mapping shop/web-mapping-canary does not exist"));
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  check = VerifyWeight(*router, 30);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
  EXPECT_EQ(check->observed_weight, 30);
  check = VerifyWeight(*router, 40);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kNotVerified);
  EXPECT_THAT(check->message, HasSubstr("Mapping shop/web-mapping-canary has weight 30, not 40"));
}

TEST_F(AmbassadorRouterTest, RefusesWhatArgoRefuses) {
  Status s = SetWeight(*Make({{"mappings", {"nope"}}}), 30);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("ambassador: Mapping shop/nope does not exist"));

  json weighted = BaseMapping("weighted");
  weighted["spec"]["weight"] = 10;
  Put(weighted);
  s = SetWeight(*Make({{"mappings", {"weighted"}}}), 30);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("Mapping shop/weighted: it sets spec.weight 10"));

  json other = BaseMapping("other");
  other["spec"]["service"] = "checkout:80";
  Put(other);
  s = SetWeight(*Make({{"mappings", {"other"}}}), 30);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      s.message(),
      HasSubstr("spec.service \"checkout:80\" does not name the stable Service web-stable"));
  EXPECT_TRUE(Canary("weighted-canary").is_null());
  EXPECT_TRUE(Canary("other-canary").is_null());
}

TEST_F(AmbassadorRouterTest, RefusesACanaryMappingAnotherObjectControls) {
  json foreign = BaseMapping("web-mapping-canary");
  foreign["metadata"]["ownerReferences"] = json::array({{{"apiVersion", "argoproj.io/v1alpha1"},
                                                         {"kind", "Rollout"},
                                                         {"name", "other"},
                                                         {"uid", "1111"},
                                                         {"controller", true}}});
  Put(foreign);
  auto router = Make();
  Status s = SetWeight(*router, 30);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("Mapping shop/web-mapping-canary exists and is controlled by "
                                     "Rollout other"));
  EXPECT_EQ(SetWeight(*router, 0).code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(Canary()["spec"].contains("weight"));
  // One without a controller (as Argo creates them) is taken over.
  foreign["metadata"].erase("ownerReferences");
  Put(foreign);
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_EQ(Canary()["spec"]["weight"], 30);
}

TEST_F(AmbassadorRouterTest, EveryMappingIsHandledEvenWhenOneFails) {
  Put(BaseMapping("web-admin"));
  auto router = Make({{"mappings", {"nope", "web-mapping", "web-admin", "gone"}}});
  Status s = SetWeight(*router, 30);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("2 errors:"));
  EXPECT_THAT(s.message(), HasSubstr("Mapping shop/gone does not exist"));
  EXPECT_EQ(Canary()["spec"]["weight"], 30);
  EXPECT_EQ(Canary("web-admin-canary")["spec"]["weight"], 30);
}

TEST_F(AmbassadorRouterTest, AmbassadorMappingsOfEmissary) {
  ASSERT_TRUE(fake_
                  ->RegisterResource({.group = "x.getambassador.io",
                                      .version = "v3alpha1",
                                      .kind = "AmbassadorMapping",
                                      .plural = "ambassadormappings",
                                      .custom = true})
                  .ok());
  json base = BaseMapping("web-x");
  base["apiVersion"] = "x.getambassador.io/v3alpha1";
  base["kind"] = "AmbassadorMapping";
  Put(base);
  ApiVersions v;
  v.ambassador = "x.getambassador.io/v3alpha1";
  auto router = Make({{"mappings", {"web-x"}}}, v);
  ASSERT_TRUE(SetWeight(*router, 25).ok());
  json canary = Object("ambassadormappings", "web-x-canary");
  EXPECT_EQ(canary["kind"], "AmbassadorMapping");
  EXPECT_EQ(canary["spec"]["weight"], 25);
  EXPECT_EQ(canary["spec"]["service"], "web-canary.shop:80");
}

TEST_F(AmbassadorRouterTest, CanaryNamesAreCutAsArgoCutsThem) {
  EXPECT_EQ(AmbassadorCanaryName("web"), "web-canary");
  EXPECT_EQ(AmbassadorCanaryName(std::string(300, 'a')), std::string(246, 'a') + "-canary");
}

TEST_F(AmbassadorRouterTest, HasNoHeaderOrMirrorRoutes) {
  auto router = Make();
  EXPECT_EQ(SetHeaderRoute(*router, HeaderRoute{"h", {}}).code(), StatusCode::kUnimplemented);
  EXPECT_EQ(SetMirrorRoute(*router, MirrorRoute{"m", {}, {}}).code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(RemoveManagedRoutes(*router).ok());
}

TEST_F(AmbassadorRouterTest, RefusesBadConfiguration) {
  EXPECT_THAT(NewAmbassadorRouter(MakeEnv(json::object())).error().message(),
              HasSubstr("ambassador.mappings: required"));
  EXPECT_THAT(NewAmbassadorRouter(MakeEnv({{"mappings", "a"}})).error().message(),
              HasSubstr("ambassador.mappings: expected a list"));
  EXPECT_THAT(NewAmbassadorRouter(MakeEnv({{"mappings", {"a", 1}}})).error().message(),
              HasSubstr("ambassador.mappings[1]: expected a Mapping name"));
  EXPECT_THAT(NewAmbassadorRouter(MakeEnv({{"mappings", json::array()}})).error().message(),
              HasSubstr("at least one"));
  EXPECT_EQ(NewAmbassadorRouter(MakeEnv({{"mappings", {"a"}}}, Context(1000))).error().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ramp::kube_traffic
