// The ALB router against the strict API-server fake: the annotations and paths it writes on the
// Ingress (goldens written by hand from Argo's alb.go, JSON compared byte for byte), header routes
// and their removal, read-back verification, refusals, and an edit made behind its back set back
// with an event.
#include "traffic/alb/alb_router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "traffic/kubernetes/router_testing.h"

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

constexpr char kAction[] = "alb.ingress.kubernetes.io/actions.web-stable";
constexpr char kAction10[] =
    R"({"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"web-canary",)"
    R"("ServicePort":"80","Weight":10},{"ServiceName":"web-stable","ServicePort":"80",)"
    R"("Weight":90}]}})";

json UseAnnotationPath(const std::string& service) {
  return {{"path", "/*"},
          {"pathType", "ImplementationSpecific"},
          {"backend", {{"service", {{"name", service}, {"port", {{"name", "use-annotation"}}}}}}}};
}

HeaderRoute Exact(std::string name, std::vector<std::pair<std::string, std::string>> headers) {
  HeaderRoute r;
  r.name = std::move(name);
  for (auto& [h, v] : headers) {
    r.matches.push_back({h, StringMatch{StringMatch::Kind::kExact, v}});
  }
  return r;
}

class AlbRouterTest : public testing::KubeRouterTest {
 protected:
  static json Config(json extra = json::object()) {
    json c = {{"ingress", "web"}, {"servicePort", 80}};
    c.update(extra);
    return c;
  }

  std::unique_ptr<Router> Make(json config = Config(), RouterContext context = Context(),
                               ApiVersions versions = {}) {
    auto r = NewAlbRouter(MakeEnv(std::move(config), context, std::move(versions)));
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r ? std::move(*r) : nullptr;
  }

  // The Ingress `name`: two hosts, each /* on web-stable:use-annotation.
  json PutIngress(const std::string& name = "web",
                  json annotations = {{"alb.ingress.kubernetes.io/scheme", "internet-facing"}}) {
    return Put({{"apiVersion", "networking.k8s.io/v1"},
                {"kind", "Ingress"},
                {"metadata",
                 {{"name", name},
                  {"namespace", kNs},
                  {"labels", {{"app", "web"}}},
                  {"annotations", std::move(annotations)}}},
                {"spec",
                 {{"ingressClassName", "alb"},
                  {"rules",
                   {{{"host", "shop.example.com"},
                     {"http", {{"paths", {UseAnnotationPath("web-stable")}}}}},
                    {{"host", "www.example.com"},
                     {"http", {{"paths", {UseAnnotationPath("web-stable")}}}}}}}}}});
  }

  std::string Annotation(const std::string& key, const std::string& ingress = "web") {
    json a = Object("ingresses", ingress)["metadata"]["annotations"];
    return a.contains(key) ? a[key].get<std::string>() : "<absent>";
  }
};

TEST_F(AlbRouterTest, WritesTheActionArgoWrites) {
  PutIngress();
  auto router = Make();
  EXPECT_EQ(router->Type(), "ALB");
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  EXPECT_TRUE(MatchesGolden(Object("ingresses", "web"), "alb", "ingress-weight-10.yaml"));
  EXPECT_EQ(Annotation(kAction), kAction10);  // byte for byte
}

TEST_F(AlbRouterTest, WritesTheStickinessConfig) {
  PutIngress();
  auto router =
      Make(Config({{"stickinessConfig", {{"enabled", true}, {"durationSeconds", 3600}}}}));
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  EXPECT_TRUE(MatchesGolden(Object("ingresses", "web"), "alb", "ingress-weight-10-sticky.yaml"));
  // Disabled stickiness writes nothing of it.
  auto plain = Make(Config({{"stickinessConfig", {{"enabled", false}, {"durationSeconds", 0}}}}));
  ASSERT_TRUE(SetWeight(*plain, 10).ok());
  EXPECT_EQ(Annotation(kAction), kAction10);
}

TEST_F(AlbRouterTest, RewritesTheWeightAndLeavesAnUnchangedIngressAlone) {
  PutIngress();
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  ASSERT_TRUE(SetWeight(*router, 60, {{"web-exp", "abc123", 15}}).ok());
  EXPECT_EQ(Annotation(kAction),
            R"({"Type":"forward","ForwardConfig":{"TargetGroups":[)"
            R"({"ServiceName":"web-canary","ServicePort":"80","Weight":60},)"
            R"({"ServiceName":"web-exp","ServicePort":"80","Weight":15},)"
            R"({"ServiceName":"web-stable","ServicePort":"80","Weight":25}]}})");
  fake_->ClearRequests();
  ASSERT_TRUE(SetWeight(*router, 60, {{"web-exp", "abc123", 15}}).ok());
  EXPECT_EQ(Writes(), 0);
  EXPECT_TRUE(Events().empty());
}

TEST_F(AlbRouterTest, RootServiceNamesTheActionAndAnotherPrefix) {
  Put({{"apiVersion", "networking.k8s.io/v1"},
       {"kind", "Ingress"},
       {"metadata", {{"name", "web"}, {"namespace", kNs}}},
       {"spec", {{"rules", {{{"http", {{"paths", {UseAnnotationPath("web-root")}}}}}}}}}});
  auto router =
      Make(Config({{"rootService", "web-root"}, {"annotationPrefix", "custom.alb.example.com"}}));
  ASSERT_TRUE(SetWeight(*router, 0).ok());
  EXPECT_EQ(Object("ingresses", "web")["metadata"]["annotations"],
            json({{"custom.alb.example.com/actions.web-root",
                   R"({"Type":"forward","ForwardConfig":{"TargetGroups":[)"
                   R"({"ServiceName":"web-canary","ServicePort":"80","Weight":0},)"
                   R"({"ServiceName":"web-stable","ServicePort":"80","Weight":100}]}})"},
                  {"rollouts.argoproj.io/managed-alb-annotations",
                   R"({"web":["custom.alb.example.com/actions.web-root"]})"}}));
}

TEST_F(AlbRouterTest, KeepsOtherRolloutsManagedKeys) {
  PutIngress("web", {{"rollouts.argoproj.io/managed-alb-annotations",
                      R"({"zeta":["alb.ingress.kubernetes.io/actions.z"],"api":null})"}});
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  EXPECT_EQ(Annotation("rollouts.argoproj.io/managed-alb-annotations"),
            R"({"api":null,"web":["alb.ingress.kubernetes.io/actions.web-stable"],)"
            R"("zeta":["alb.ingress.kubernetes.io/actions.z"]})");
}

TEST_F(AlbRouterTest, RefusesAnUnreadableManagedAnnotation) {
  PutIngress("web", {{"rollouts.argoproj.io/managed-alb-annotations", "web:actions.web"}});
  auto router = Make();
  Status s = SetWeight(*router, 10);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("alb: Ingress shop/web: annotation "
                                     "rollouts.argoproj.io/managed-alb-annotations is not"));
  EXPECT_EQ(Annotation(kAction), "<absent>");
}

TEST_F(AlbRouterTest, HeaderRouteAndItsRemoval) {
  PutIngress();
  auto router = Make(Config(), Context(100, {"canary-header"}));
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  ASSERT_TRUE(
      SetHeaderRoute(*router, Exact("canary-header",
                                    {{"X-Canary", "yes"}, {"X-Canary", "always"}, {"X-Beta", "1"}}))
          .ok());
  EXPECT_TRUE(MatchesGolden(Object("ingresses", "web"), "alb", "ingress-header-route.yaml"));
  fake_->ClearRequests();
  ASSERT_TRUE(
      SetHeaderRoute(*router, Exact("canary-header",
                                    {{"X-Canary", "yes"}, {"X-Canary", "always"}, {"X-Beta", "1"}}))
          .ok());
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  EXPECT_EQ(Writes(), 0);
  ASSERT_TRUE(RemoveManagedRoutes(*router).ok());
  EXPECT_TRUE(MatchesGolden(Object("ingresses", "web"), "alb", "ingress-routes-removed.yaml"));
  // Removed routes stay removed on the next calls.
  fake_->ClearRequests();
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  ASSERT_TRUE(RemoveManagedRoutes(*router).ok());
  EXPECT_EQ(Writes(), 0);
  EXPECT_TRUE(Events().empty());
}

TEST_F(AlbRouterTest, AHeaderRouteWithoutMatchesIsRemoved) {
  PutIngress();
  auto router = Make(Config(), Context(100, {"first", "second"}));
  ASSERT_TRUE(SetHeaderRoute(*router, Exact("second", {{"X-Second", "1"}})).ok());
  ASSERT_TRUE(SetHeaderRoute(*router, Exact("first", {{"X-First", "1"}})).ok());
  // Paths ordered by managedRoutes: first, second, then the rest.
  json paths = Object("ingresses", "web")["spec"]["rules"][0]["http"]["paths"];
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(paths[0]["backend"]["service"]["name"], "first");
  EXPECT_EQ(paths[1]["backend"]["service"]["name"], "second");
  EXPECT_EQ(paths[2]["backend"]["service"]["name"], "web-stable");
  EXPECT_EQ(Annotation("rollouts.argoproj.io/managed-alb-annotations"),
            R"({"web":["alb.ingress.kubernetes.io/actions.second",)"
            R"("alb.ingress.kubernetes.io/conditions.second",)"
            R"("alb.ingress.kubernetes.io/actions.first",)"
            R"("alb.ingress.kubernetes.io/conditions.first"]})");
  ASSERT_TRUE(SetHeaderRoute(*router, HeaderRoute{"second", {}}).ok());
  paths = Object("ingresses", "web")["spec"]["rules"][1]["http"]["paths"];
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(paths[0]["backend"]["service"]["name"], "first");
  EXPECT_EQ(Annotation("alb.ingress.kubernetes.io/actions.second"), "<absent>");
  EXPECT_EQ(Annotation("alb.ingress.kubernetes.io/conditions.second"), "<absent>");
  EXPECT_EQ(Annotation("alb.ingress.kubernetes.io/conditions.first"),
            R"([{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-First",)"
            R"("values":["1"]}}])");
  EXPECT_EQ(Annotation("rollouts.argoproj.io/managed-alb-annotations"),
            R"({"web":["alb.ingress.kubernetes.io/actions.first",)"
            R"("alb.ingress.kubernetes.io/conditions.first"]})");
}

TEST_F(AlbRouterTest, RefusesPrefixAndRegexHeaderMatches) {
  PutIngress();
  auto router = Make(Config(), Context(100, {"h"}));
  HeaderRoute route{"h", {{"X-Canary", StringMatch{StringMatch::Kind::kPrefix, "ye"}}}};
  Status s = SetHeaderRoute(*router, route);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("header X-Canary uses a prefix match; ALB matches header "
                                     "values exactly only"));
  route.matches[0].header_value.kind = StringMatch::Kind::kRegex;
  EXPECT_EQ(SetHeaderRoute(*router, route).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Annotation("alb.ingress.kubernetes.io/actions.h"), "<absent>");
  EXPECT_EQ(Object("ingresses", "web")["spec"]["rules"][0]["http"]["paths"].size(), 1u);
}

TEST_F(AlbRouterTest, HasNoMirrorRoutes) {
  auto router = Make();
  Status s = SetMirrorRoute(*router, MirrorRoute{"m", {}, {}});
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_THAT(s.message(), HasSubstr("no mirror routes"));
  EXPECT_TRUE(UpdateHash(*router, "abc", "def").ok());
  // No managedRoutes: nothing to remove, nothing read.
  fake_->ClearRequests();
  EXPECT_TRUE(RemoveManagedRoutes(*router).ok());
  EXPECT_TRUE(fake_->Requests().empty());
}

TEST_F(AlbRouterTest, AnEditBehindItsBackIsSetBackWithAnEvent) {
  PutIngress();
  auto router = Make(Config(), Context(100, {"canary-header"}));
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  ASSERT_TRUE(
      SetHeaderRoute(*router, Exact("canary-header",
                                    {{"X-Canary", "yes"}, {"X-Canary", "always"}, {"X-Beta", "1"}}))
          .ok());
  EXPECT_TRUE(Events().empty());
  json ingress = Object("ingresses", "web");
  ingress["metadata"]["annotations"][kAction] =
      R"({"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"web-stable",)"
      R"("ServicePort":"80","Weight":100}]}})";
  ingress["metadata"]["annotations"].erase("alb.ingress.kubernetes.io/conditions.canary-header");
  ingress["spec"]["rules"][1]["http"]["paths"].erase(0);
  ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/scheme"] = "internal";  // not ours
  Put(ingress);
  ASSERT_TRUE(SetWeight(*router, 10).ok());  // the controller's periodic re-assertion
  ingress = Object("ingresses", "web");
  EXPECT_EQ(ingress["metadata"]["annotations"][kAction], kAction10);
  EXPECT_EQ(ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/scheme"], "internal");
  EXPECT_TRUE(ingress["metadata"]["annotations"].contains(
      "alb.ingress.kubernetes.io/conditions.canary-header"));
  // As Argo's CreateAnnotationBasedPath: a route path is added only when no rule has one.
  EXPECT_EQ(ingress["spec"]["rules"][1]["http"]["paths"].size(), 1u);
  ASSERT_EQ(Events().size(), 1u);
  EXPECT_THAT(Events()[0], HasSubstr("Ingress shop/web was changed outside the rollout"));
  // A new weight is not a change made outside.
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(AlbRouterTest, VerifiesByReadingBack) {
  PutIngress();
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  auto check = VerifyWeight(*router, 10);
  ASSERT_TRUE(check.has_value()) << check.error().message();
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
  EXPECT_EQ(check->observed_weight, 10);
  check = VerifyWeight(*router, 50);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kNotVerified);
  EXPECT_EQ(check->observed_weight, 10);
  EXPECT_THAT(check->message, HasSubstr("Ingress shop/web has " + std::string(kAction)));
  // The same action written with other spacing is the same action.
  json ingress = Object("ingresses", "web");
  ingress["metadata"]["annotations"][kAction] = json::parse(kAction10).dump(2);
  Put(ingress);
  check = VerifyWeight(*router, 10);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
  // An Ingress without the action: not verified.
  ingress["metadata"]["annotations"].erase(kAction);
  Put(ingress);
  check = VerifyWeight(*router, 10);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kNotVerified);
  EXPECT_THAT(check->message, HasSubstr("absent"));
}

TEST_F(AlbRouterTest, EveryIngressOfIngresses) {
  PutIngress("web-public");
  PutIngress("web-private");
  auto router = Make(
      {{"ingress", "ignored"}, {"ingresses", {"web-public", "web-private"}}, {"servicePort", 80}});
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  EXPECT_EQ(Annotation(kAction, "web-public"), kAction10);
  EXPECT_EQ(Annotation(kAction, "web-private"), kAction10);
  auto check = VerifyWeight(*router, 10);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
}

TEST_F(AlbRouterTest, RefusesAMissingIngress) {
  auto router = Make();
  Status s = SetWeight(*router, 10);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("alb: Ingress shop/web does not exist"));
  EXPECT_EQ(VerifyWeight(*router, 10).error().code(), StatusCode::kFailedPrecondition);
}

TEST_F(AlbRouterTest, RefusesAnIngressWithoutAUseAnnotationBackend) {
  json ingress = PutIngress();
  ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] = {{"number", 80}};
  ingress["spec"]["rules"][1]["http"]["paths"][0]["backend"]["service"]["name"] = "other";
  Put(ingress);
  auto router = Make();
  Status s = SetWeight(*router, 10);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(),
              HasSubstr("alb: Ingress shop/web: no rule has a path on service web-stable with "
                        "port name use-annotation"));
  EXPECT_EQ(Annotation(kAction), "<absent>");
}

TEST_F(AlbRouterTest, ExtensionsV1beta1Paths) {
  ASSERT_TRUE(fake_
                  ->RegisterResource({.group = "extensions",
                                      .version = "v1beta1",
                                      .kind = "Ingress",
                                      .plural = "ingresses",
                                      .status_subresource = true})
                  .ok());
  Put({{"apiVersion", "extensions/v1beta1"},
       {"kind", "Ingress"},
       {"metadata", {{"name", "web"}, {"namespace", kNs}}},
       {"spec",
        {{"rules",
          {{{"http",
             {{"paths",
               {{{"path", "/*"},
                 {"backend",
                  {{"serviceName", "web-stable"}, {"servicePort", "use-annotation"}}}}}}}}}}}}}});
  ApiVersions v;
  v.ingress = "extensions/v1beta1";
  auto router = Make(Config(), Context(100, {"h"}), v);
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  ASSERT_TRUE(SetHeaderRoute(*router, Exact("h", {{"X-Canary", "yes"}})).ok());
  json ingress = Object("ingresses.extensions", "web");
  EXPECT_EQ(ingress["metadata"]["annotations"][kAction], kAction10);
  EXPECT_EQ(ingress["spec"]["rules"][0]["http"]["paths"],
            json::parse(R"([{"path":"/*","pathType":"ImplementationSpecific",
                "backend":{"serviceName":"h","servicePort":"use-annotation"}},
                {"path":"/*",
                 "backend":{"serviceName":"web-stable","servicePort":"use-annotation"}}])"));
  ASSERT_TRUE(RemoveManagedRoutes(*router).ok());
  EXPECT_EQ(Object("ingresses.extensions", "web")["spec"]["rules"][0]["http"]["paths"].size(), 1u);
}

TEST_F(AlbRouterTest, GoJsonEncoding) {
  EXPECT_EQ(GoJsonString("plain"), "\"plain\"");
  EXPECT_EQ(GoJsonString("<a&b>"), R"("\u003ca\u0026b\u003e")");
  EXPECT_EQ(GoJsonString("q\"b\\"), R"("q\"b\\")");
  EXPECT_EQ(GoJsonString("\n\r\t\b\f\x01\x1f\x7f"), "\"\\n\\r\\t\\b\\f\\u0001\\u001f\x7f\"");
  EXPECT_EQ(GoJsonString("caf\xc3\xa9 \xe2\x80\xa8"), "\"caf\xc3\xa9 \\u2028\"");
  EXPECT_EQ(GoJsonString("bad\xff\xc3"), R"("bad\ufffd\ufffd")");
  EXPECT_EQ(GoJsonString("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // a surrogate
  auto conditions = AlbHeaderRouteConditions(Exact("r", {{"X-A", "<v>"}}));
  ASSERT_TRUE(conditions.has_value());
  EXPECT_EQ(*conditions, R"([{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-A",)"
                         R"("values":["\u003cv\u003e"]}}])");
}

TEST_F(AlbRouterTest, RefusesBadConfiguration) {
  auto error = [&](json config, RouterContext context = Context(), ApiVersions v = {}) {
    auto r = NewAlbRouter(MakeEnv(std::move(config), context, v));
    EXPECT_FALSE(r.has_value());
    if (r) return std::string();
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
    return r.error().message();
  };
  EXPECT_THAT(error({{"servicePort", 80}}), HasSubstr("ingress or ingresses"));
  EXPECT_THAT(error({{"ingress", 3}, {"servicePort", 80}}),
              HasSubstr("alb.ingress: expected a string"));
  EXPECT_THAT(error({{"ingress", "web"}}), HasSubstr("alb.servicePort: required"));
  EXPECT_THAT(error({{"ingress", "web"}, {"servicePort", "80"}}),
              HasSubstr("alb.servicePort: expected a port number"));
  EXPECT_THAT(error(Config({{"stickinessConfig", {{"enabled", true}, {"durationSeconds", 0}}}})),
              HasSubstr("between 1 and 604800 seconds"));
  EXPECT_THAT(
      error(Config({{"stickinessConfig", {{"enabled", true}, {"durationSeconds", 604801}}}})),
      HasSubstr("alb.stickinessConfig.durationSeconds"));
  EXPECT_THAT(error(Config(), Context(1000)), HasSubstr("maxTrafficWeight 1000 is not supported"));
  ApiVersions v;
  v.ingress = "networking.k8s.io/v2";
  EXPECT_THAT(error(Config(), Context(), v), HasSubstr("unsupported Ingress API version"));
  RouterContext no_canary = Context();
  no_canary.canary_service.clear();
  EXPECT_THAT(error(Config(), no_canary), HasSubstr("canaryService and stableService"));
}

}  // namespace
}  // namespace ramp::kube_traffic
