// "kubernetes/traffic" against the API-server fake: the Service switch and UpdateHash in order,
// every configured router called in turn, header routes refused only when no router has them,
// combined verification, the event for an object set back, and clear refusals of routers ramp
// does not build.
#include "traffic/kubernetes/kube_traffic_router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "tests/fakes/kube_test_util.h"
#include "traffic/kubernetes/router_testing.h"
#include "traffic/smi/smi_router.h"

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A router that records its calls and answers as told.
struct Calls {
  std::mutex mu;
  std::vector<std::string> log;
  void Add(std::string s) {
    std::lock_guard<std::mutex> lock(mu);
    log.push_back(std::move(s));
  }
};

class RecordingRouter : public Router {
 public:
  RecordingRouter(std::shared_ptr<Calls> calls, bool headers, WeightVerification verify)
      : calls_(std::move(calls)), headers_(headers), verify_(verify) {}
  std::string_view Type() const override { return "Recording"; }
  void UpdateHash(std::string_view canary, std::string_view stable,
                  const std::vector<WeightDestination>&, StatusCallback done) override {
    calls_->Add(fmt::format("UpdateHash {} {}", canary, stable));
    done(OkStatus());
  }
  void SetWeight(int32_t w, const std::vector<WeightDestination>&, StatusCallback done) override {
    calls_->Add(fmt::format("SetWeight {}", w));
    done(OkStatus());
  }
  void SetHeaderRoute(const HeaderRoute& r, StatusCallback done) override {
    if (!headers_) return done(UnimplementedError("recording: no header routes"));
    calls_->Add("SetHeaderRoute " + r.name);
    done(OkStatus());
  }
  void SetMirrorRoute(const MirrorRoute&, StatusCallback done) override {
    done(UnimplementedError("recording: no mirror routes"));
  }
  void RemoveManagedRoutes(StatusCallback done) override {
    done(UnimplementedError("recording: no managed routes"));
  }
  void VerifyWeight(int32_t, const std::vector<WeightDestination>&,
                    StatusOrCallback<WeightCheck> done) override {
    done(WeightCheck{
        verify_, std::nullopt,
        verify_ == WeightVerification::kNotVerified ? "recording: weight 0 in effect" : ""});
  }

 private:
  std::shared_ptr<Calls> calls_;
  bool headers_;
  WeightVerification verify_;
};

class KubeTrafficRouterTest : public testing::KubeRouterTest {
 protected:
  void SetUp() override {
    KubeRouterTest::SetUp();
    for (const char* svc : {"web-stable", "web-canary"}) {
      Put({{"apiVersion", "v1"},
           {"kind", "Service"},
           {"metadata", {{"name", svc}, {"namespace", kNs}}},
           {"spec", {{"selector", {{"app", "web"}}}}}});
    }
    calls_ = std::make_shared<Calls>();
  }

  StatusOr<std::unique_ptr<TrafficRouter>> Make(
      json routing, bool headers = false,
      WeightVerification verify = WeightVerification::kNotSupported) {
    factories_ = {{"smi", NewSmiRouter},
                  {"recording", [this, headers, verify](Env) -> StatusOr<std::unique_ptr<Router>> {
                     return std::unique_ptr<Router>(
                         std::make_unique<RecordingRouter>(calls_, headers, verify));
                   }}};
    KubeTrafficOptions o;
    o.client = client_.get();
    o.timers = loop_.get();
    o.clock = clock_.get();
    o.factories = &factories_;
    RouterContext c = Context();
    c.config_json = routing.dump();
    return NewKubeTrafficRouter(o, c);
  }

  static Status Call(const std::function<void(StatusCallback)>& f) {
    return testing::Await<Status>([&](auto done) { f(done); });
  }

  std::shared_ptr<Calls> calls_;
  RouterFactories factories_;
};

TEST_F(KubeTrafficRouterTest, SwitchesTheServiceThenTellsEveryRouterTheHashes) {
  auto r = Make({{"recording", json::object()}, {"smi", json::object()}});
  ASSERT_TRUE(r.has_value()) << r.error().message();
  TrafficRouter& router = **r;
  ASSERT_TRUE(Call([&](auto d) { router.SwitchService(ServiceRole::kStable, "aaa", d); }).ok());
  ASSERT_TRUE(Call([&](auto d) { router.SwitchService(ServiceRole::kCanary, "bbb", d); }).ok());
  EXPECT_EQ(Object("services", "web-stable")["spec"]["selector"]["rollouts-pod-template-hash"],
            "aaa");
  EXPECT_EQ(Object("services", "web-canary")["spec"]["selector"]["rollouts-pod-template-hash"],
            "bbb");
  ASSERT_TRUE(Call([&](auto d) { router.SetWeight(40, {}, d); }).ok());
  EXPECT_EQ(Object("trafficsplits", "web")["spec"]["backends"][0]["weight"], "40");
  std::lock_guard<std::mutex> lock(calls_->mu);
  EXPECT_THAT(calls_->log, ElementsAre("UpdateHash  aaa", "UpdateHash bbb aaa", "SetWeight 40"));
}

TEST_F(KubeTrafficRouterTest, HeaderRoutesNeedOneRouterThatHasThem) {
  auto without = Make({{"recording", json::object()}, {"smi", json::object()}});
  ASSERT_TRUE(without.has_value());
  Status s = Call([&](auto d) { (*without)->SetHeaderRoute(HeaderRoute{"beta", {}}, d); });
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_THAT(s.message(), HasSubstr("header routes are not supported by Recording, SMI"));
  auto with = Make({{"recording", json::object()}, {"smi", json::object()}}, true);
  ASSERT_TRUE(with.has_value());
  EXPECT_TRUE(Call([&](auto d) { (*with)->SetHeaderRoute(HeaderRoute{"beta", {}}, d); }).ok());
  EXPECT_TRUE(Call([&](auto d) { (*with)->RemoveManagedRoutes(d); }).ok());
}

TEST_F(KubeTrafficRouterTest, VerificationCombinesTheRouters) {
  auto r = Make({{"recording", json::object()}, {"smi", json::object()}}, false,
                WeightVerification::kNotVerified);
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(Call([&](auto d) { (*r)->SetWeight(30, {}, d); }).ok());
  auto check =
      testing::Await<StatusOr<WeightCheck>>([&](auto done) { (*r)->VerifyWeight(30, {}, done); });
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kNotVerified);
  EXPECT_THAT(check->message, HasSubstr("recording"));
  auto ok = Make({{"recording", json::object()}, {"smi", json::object()}});
  ASSERT_TRUE(Call([&](auto d) { (*ok)->SetWeight(30, {}, d); }).ok());
  check =
      testing::Await<StatusOr<WeightCheck>>([&](auto done) { (*ok)->VerifyWeight(30, {}, done); });
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
}

TEST_F(KubeTrafficRouterTest, AnObjectSetBackIsAnEventOnTheRollout) {
  auto r = Make({{"smi", json::object()}});
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(Call([&](auto d) { (*r)->SetWeight(30, {}, d); }).ok());
  json split = Object("trafficsplits", "web");
  split["spec"]["backends"][0]["weight"] = "90";
  Put(split);
  ASSERT_TRUE(Call([&](auto d) { (*r)->SetWeight(30, {}, d); }).ok());
  json event;
  ASSERT_TRUE(fakes::testing::Eventually([&] {
    auto events = fake_->Objects("events", kNs);
    for (const json& e : events.value_or(std::vector<json>{})) {
      if (e.value("reason", "") == kReassertedReason) event = e;
    }
    return !event.is_null();
  }));
  EXPECT_EQ(event["type"], "Warning");
  EXPECT_EQ(event["involvedObject"]["kind"], "Rollout");
  EXPECT_EQ(event["involvedObject"]["name"], "web");
  EXPECT_EQ(event["involvedObject"]["uid"], rollout_uid_);
  EXPECT_THAT(event.value("message", ""), HasSubstr("TrafficSplit shop/web was changed outside"));
}

TEST_F(KubeTrafficRouterTest, RefusesRoutersRampDoesNotBuild) {
  auto mesh = Make({{"appMesh", {{"virtualService", {{"name", "vs"}}}}}});
  ASSERT_FALSE(mesh.has_value());
  EXPECT_EQ(mesh.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(mesh.error().message(),
              HasSubstr("rollout shop/web: spec.strategy.canary.trafficRouting.appMesh: ramp does "
                        "not drive this traffic router on Kubernetes"));
  auto plugin = Make({{"plugins", {{"example.com/consul", json::object()}}}});
  ASSERT_FALSE(plugin.has_value());
  EXPECT_THAT(plugin.error().message(), HasSubstr("plugins[\"example.com/consul\"]"));
  auto none = Make({{"maxTrafficWeight", 100}});
  ASSERT_FALSE(none.has_value());
  EXPECT_THAT(none.error().message(), HasSubstr("names no traffic router"));
  auto bad = Make({{"smi", {{"rootService", 7}}}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message(), HasSubstr("trafficRouting.smi: smi.rootService"));
}

}  // namespace
}  // namespace ramp::kube_traffic

namespace ramp::kube_traffic {
namespace {

// Every built-in router, pointed at objects of the wrong shape (a spec that is a string, rules
// that are numbers, …), answers with an error and never crashes the controller.
class GarbageObjectsTest : public testing::KubeRouterTest {};

TEST_F(GarbageObjectsTest, EveryRouterRefusesMalformedObjectsWithAnError) {
  struct Case {
    std::string key;
    json config;
    std::vector<json> objects;  // the routed objects, malformed
  };
  auto object = [](const std::string& api, const std::string& kind, const std::string& name,
                   json spec) {
    return json{{"apiVersion", api},
                {"kind", kind},
                {"metadata", {{"name", name}, {"namespace", "shop"}}},
                {"spec", std::move(spec)}};
  };
  const std::vector<json> garbage = {"x",
                                     7,
                                     json::array({1, 2}),
                                     json::object({{"http", 3}}),
                                     json::object({{"rules", "x"}}),
                                     json::object({{"weighted", {{"services", 5}}}})};
  std::vector<Case> cases = {
      {"istio",
       {{"virtualService", {{"name", "vs"}, {"routes", {"primary"}}}},
        {"destinationRule",
         {{"name", "dr"}, {"canarySubsetName", "canary"}, {"stableSubsetName", "stable"}}}},
       {}},
      {"nginx", {{"stableIngress", "ing"}}, {}},
      {"alb", {{"ingress", "ing"}, {"servicePort", 80}}, {}},
      {"smi", json::object(), {}},
      {"traefik", {{"weightedTraefikServiceName", "ts"}}, {}},
      {"ambassador", {{"mappings", {"map"}}}, {}},
      {"apisix", {{"route", {{"name", "ar"}, {"rules", {"r1"}}}}}, {}},
      {"plugins/argoproj-labs/gatewayAPI", {{"httpRoute", "hr"}, {"namespace", "shop"}}, {}},
  };
  for (const json& spec : garbage) {
    for (Case& c : cases) {
      c.objects = {
          object("networking.istio.io/v1alpha3", "VirtualService", "vs", spec),
          object("networking.istio.io/v1alpha3", "DestinationRule", "dr", spec),
          object("networking.k8s.io/v1", "Ingress", "ing", spec),
          object("networking.k8s.io/v1", "Ingress", "web-ing-canary", spec),
          object("split.smi-spec.io/v1alpha1", "TrafficSplit", "web", spec),
          object("traefik.io/v1alpha1", "TraefikService", "ts", spec),
          object("getambassador.io/v2", "Mapping", "map", spec),
          object("getambassador.io/v2", "Mapping", "map-canary", spec),
          object("apisix.apache.org/v2", "ApisixRoute", "ar", spec),
          object("gateway.networking.k8s.io/v1", "HTTPRoute", "hr", spec),
      };
      for (const json& o : c.objects) Put(o);
      auto factory = BuiltinRouters().find(c.key);
      ASSERT_NE(factory, BuiltinRouters().end()) << c.key;
      auto made = factory->second(MakeEnv(c.config));
      ASSERT_TRUE(made.has_value()) << c.key << ": " << made.error().message();
      Router& r = **made;
      const std::string what = c.key + " with spec " + spec.dump();
      Status s = SetWeight(r, 30);
      EXPECT_FALSE(s.ok()) << what;
      EXPECT_FALSE(s.message().empty()) << what;
      auto check = VerifyWeight(r, 30);
      EXPECT_TRUE(!check.has_value() || check->verification != WeightVerification::kVerified)
          << what;
      (void)UpdateHash(r, "aaa", "bbb");
      (void)SetHeaderRoute(r, HeaderRoute{"h", {{"x-canary", {StringMatch::Kind::kExact, "1"}}}});
      (void)RemoveManagedRoutes(r);
    }
  }
}

}  // namespace
}  // namespace ramp::kube_traffic
