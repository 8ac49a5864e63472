// The SMI router against the strict API-server fake: the TrafficSplit it creates and rewrites
// (golden written by hand from Argo's smi.go), ownership refusal, API versions, read-back
// verification, and an edit made behind its back set back with an event.
#include "traffic/smi/smi_router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "traffic/kubernetes/router_testing.h"

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

class SmiRouterTest : public testing::KubeRouterTest {
 protected:
  std::unique_ptr<Router> Make(json config = json::object(), ApiVersions versions = {}) {
    auto r = NewSmiRouter(MakeEnv(std::move(config), Context(), std::move(versions)));
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r ? std::move(*r) : nullptr;
  }
};

TEST_F(SmiRouterTest, CreatesTheTrafficSplitArgoWrites) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_TRUE(MatchesGolden(Object("trafficsplits", "web"), "smi", "trafficsplit-weight-30.yaml"));
}

TEST_F(SmiRouterTest, RewritesTheWeightsAndLeavesAnUnchangedSplitAlone) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  ASSERT_TRUE(SetWeight(*router, 60).ok());
  json split = Object("trafficsplits", "web");
  EXPECT_EQ(split["spec"]["backends"][0]["weight"], "60");
  EXPECT_EQ(split["spec"]["backends"][1]["weight"], "40");
  fake_->ClearRequests();
  ASSERT_TRUE(SetWeight(*router, 60).ok());
  EXPECT_EQ(Writes(), 0);
}

TEST_F(SmiRouterTest, RootServiceAndAdditionalDestinationsAtV1alpha3) {
  ApiVersions v;
  v.smi = "v1alpha3";
  json spec = SmiTrafficSplitSpec(MakeEnv({{"rootService", "web"}}, Context(), v), 20,
                                  {{"web-exp", "abc123", 10}});
  EXPECT_EQ(spec, json::parse(R"({"service":"web","backends":[
      {"service":"web-canary","weight":20},{"service":"web-exp","weight":10},
      {"service":"web-stable","weight":70}]})"));
}

TEST_F(SmiRouterTest, RefusesASplitAnotherObjectControls) {
  Put({{"apiVersion", "split.smi-spec.io/v1alpha1"},
       {"kind", "TrafficSplit"},
       {"metadata",
        {{"name", "web"},
         {"namespace", kNs},
         {"ownerReferences", json::array({{{"apiVersion", "argoproj.io/v1alpha1"},
                                           {"kind", "Rollout"},
                                           {"name", "other"},
                                           {"uid", "1111"},
                                           {"controller", true}}})}}},
       {"spec", {{"service", "web-stable"}, {"backends", json::array()}}}});
  auto router = Make();
  Status s = SetWeight(*router, 30);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("controlled by Rollout other"));
  EXPECT_EQ(Object("trafficsplits", "web")["spec"]["backends"].size(), 0u);
}

TEST_F(SmiRouterTest, VerifiesByReadingBack) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  auto check = VerifyWeight(*router, 30);
  ASSERT_TRUE(check.has_value()) << check.error().message();
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
  EXPECT_EQ(check->observed_weight, 30);
  check = VerifyWeight(*router, 50);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kNotVerified);
  EXPECT_THAT(check->message, HasSubstr("TrafficSplit shop/web"));
}

TEST_F(SmiRouterTest, AnEditBehindItsBackIsSetBackWithAnEvent) {
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_TRUE(Events().empty());
  json split = Object("trafficsplits", "web");
  split["spec"]["backends"][0]["weight"] = "100";
  split["spec"]["backends"][1]["weight"] = "0";
  Put(split);
  ASSERT_TRUE(SetWeight(*router, 30).ok());  // the controller's periodic re-assertion
  EXPECT_TRUE(MatchesGolden(Object("trafficsplits", "web"), "smi", "trafficsplit-weight-30.yaml"));
  ASSERT_EQ(Events().size(), 1u);
  EXPECT_THAT(Events()[0], HasSubstr("TrafficSplit shop/web was changed outside the rollout"));
  // A new weight is not a change made outside.
  ASSERT_TRUE(SetWeight(*router, 50).ok());
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(SmiRouterTest, HasNoHeaderOrMirrorRoutes) {
  auto router = Make();
  EXPECT_EQ(SetHeaderRoute(*router, HeaderRoute{"h", {}}).code(), StatusCode::kUnimplemented);
  EXPECT_EQ(SetMirrorRoute(*router, MirrorRoute{"m", {}, {}}).code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(RemoveManagedRoutes(*router).ok());
}

TEST_F(SmiRouterTest, RefusesBadConfiguration) {
  ApiVersions v;
  v.smi = "v2";
  EXPECT_EQ(NewSmiRouter(MakeEnv(json::object(), Context(), v)).error().code(),
            StatusCode::kInvalidArgument);
  EXPECT_THAT(NewSmiRouter(MakeEnv({{"rootService", 3}})).error().message(),
              HasSubstr("smi.rootService: expected a string"));
}

}  // namespace
}  // namespace ramp::kube_traffic
