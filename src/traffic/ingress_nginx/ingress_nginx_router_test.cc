// The ingress-nginx router against the strict API-server fake: the canary Ingresses it creates
// and rewrites (goldens written by hand from Argo's nginx.go), the annotations it keeps, the
// extensions/v1beta1 shape, ownership refusal, read-back verification, and an edit made behind
// its back set back with an event.
#include "traffic/ingress_nginx/ingress_nginx_router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "traffic/kubernetes/router_testing.h"

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

constexpr char kCanary[] = "web-web-ingress-canary";

// A path of a networking.k8s.io/v1 rule: `path` to `service` at a port name or number.
json Path(const std::string& path, const std::string& service, json port) {
  return {{"path", path},
          {"pathType", "Prefix"},
          {"backend",
           {{"service",
             {{"name", service},
              {"port", port.is_string() ? json{{"name", port}} : json{{"number", port}}}}}}}};
}

json Rule(const std::string& host, json paths) {
  return {{"host", host}, {"http", {{"paths", std::move(paths)}}}};
}

class NginxIngressRouterTest : public testing::KubeRouterTest {
 protected:
  std::unique_ptr<Router> Make(json config = {{"stableIngress", "web-ingress"}},
                               RouterContext context = Context(), ApiVersions versions = {}) {
    auto r = NewNginxIngressRouter(MakeEnv(std::move(config), context, std::move(versions)));
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r ? std::move(*r) : nullptr;
  }

  // A stable Ingress named `name` with `spec`, labels and annotations that are not copied.
  json PutStable(const std::string& name, json spec, json annotations = json::object()) {
    annotations["nginx.ingress.kubernetes.io/rewrite-target"] = "/";
    return Put({{"apiVersion", "networking.k8s.io/v1"},
                {"kind", "Ingress"},
                {"metadata",
                 {{"name", name},
                  {"namespace", kNs},
                  {"labels", {{"app", "web"}}},
                  {"annotations", std::move(annotations)}}},
                {"spec", std::move(spec)}});
  }

  // web-ingress: shop.example.com / on web-stable (port name http) with TLS, and
  // admin.example.com / on another service.
  void PutWebIngress() {
    PutStable(
        "web-ingress",
        {{"ingressClassName", "nginx"},
         {"tls", json::array({{{"hosts", {"shop.example.com"}}, {"secretName", "shop-tls"}}})},
         {"rules", json::array({Rule("shop.example.com", {Path("/", "web-stable", "http")}),
                                Rule("admin.example.com", {Path("/", "admin", 80)})})}});
  }
};

TEST_F(NginxIngressRouterTest, CreatesTheCanaryIngressArgoWrites) {
  PutWebIngress();
  auto router = Make();
  EXPECT_EQ(router->Type(), "Nginx");
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  EXPECT_TRUE(MatchesGolden(Object("ingresses", kCanary), "ingress_nginx",
                            "canary-ingress-weight-10.yaml"));
  // The stable Ingress is only read.
  EXPECT_EQ(
      Object("ingresses",
             "web-ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
      "web-stable");
}

TEST_F(NginxIngressRouterTest, MaxTrafficWeightAndAdditionalAnnotations) {
  PutStable("web-ingress", {{"rules", {Rule("shop.example.com", {Path("/", "web-stable", 80)})}}},
            {{"kubernetes.io/ingress.class", "nginx-internal"}});
  auto router = Make({{"stableIngress", "web-ingress"},
                      {"additionalIngressAnnotations",
                       {{"canary-by-header", "X-Canary"},
                        {"nginx.ingress.kubernetes.io/canary-by-header-value", "always"}}},
                      {"canaryIngressAnnotations",
                       {{"example.com/team", "shop"},
                        {"nginx.ingress.kubernetes.io/canary-by-header", "X-Shop-Canary"}}}},
                     Context(1000));
  ASSERT_TRUE(SetWeight(*router, 100).ok());
  EXPECT_TRUE(
      MatchesGolden(Object("ingresses", kCanary), "ingress_nginx", "canary-ingress-max-1000.yaml"));
}

TEST_F(NginxIngressRouterTest, OneCanaryIngressPerStableIngress) {
  PutStable("web-public", {{"ingressClassName", "nginx"},
                           {"rules", {Rule("shop.example.com", {Path("/", "web-stable", 80)})}}});
  PutStable("web-internal", {{"ingressClassName", "nginx-internal"},
                             {"rules", {Rule("shop.internal", {Path("/", "web-stable", 80)})}}});
  auto router = Make({{"stableIngress", "ignored-when-stableIngresses-is-set"},
                      {"stableIngresses", {"web-public", "web-internal"}}});
  ASSERT_TRUE(SetWeight(*router, 30).ok());
  EXPECT_TRUE(MatchesGolden(Object("ingresses", "web-web-public-canary"), "ingress_nginx",
                            "canary-ingress-two-public.yaml"));
  EXPECT_TRUE(MatchesGolden(Object("ingresses", "web-web-internal-canary"), "ingress_nginx",
                            "canary-ingress-two-internal.yaml"));
  auto check = VerifyWeight(*router, 30);
  ASSERT_TRUE(check.has_value()) << check.error().message();
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
  // One of the two edited: not verified, naming it.
  json internal = Object("ingresses", "web-web-internal-canary");
  internal["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] = "0";
  Put(internal);
  check = VerifyWeight(*router, 30);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kNotVerified);
  EXPECT_EQ(check->observed_weight, 0);
  EXPECT_THAT(check->message, HasSubstr("Ingress shop/web-web-internal-canary"));
  EXPECT_THAT(check->message, Not(HasSubstr("web-web-public-canary")));
}

TEST_F(NginxIngressRouterTest, RewritesTheWeightAndLeavesAnUnchangedIngressAlone) {
  PutWebIngress();
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  ASSERT_TRUE(SetWeight(*router, 40).ok());
  json canary = Object("ingresses", kCanary);
  EXPECT_EQ(canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"], "40");
  fake_->ClearRequests();
  ASSERT_TRUE(SetWeight(*router, 40).ok());
  EXPECT_EQ(Writes(), 0);
  EXPECT_TRUE(Events().empty());
}

TEST_F(NginxIngressRouterTest, FollowsTheStableIngress) {
  PutWebIngress();
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  json stable = Object("ingresses", "web-ingress");
  stable["spec"]["rules"][0]["http"]["paths"].push_back(Path("/api", "web-stable", "http"));
  Put(stable);
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  json paths = Object("ingresses", kCanary)["spec"]["rules"][0]["http"]["paths"];
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(paths[1]["path"], "/api");
  EXPECT_EQ(paths[1]["backend"]["service"]["name"], "web-canary");
  EXPECT_TRUE(Events().empty());  // a new desired state, not a change made outside
}

TEST_F(NginxIngressRouterTest, AnEditBehindItsBackIsSetBackWithAnEvent) {
  PutWebIngress();
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  EXPECT_TRUE(Events().empty());
  json canary = Object("ingresses", kCanary);
  canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] = "100";
  canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "web-stable";
  Put(canary);
  ASSERT_TRUE(SetWeight(*router, 10).ok());  // the controller's periodic re-assertion
  EXPECT_TRUE(MatchesGolden(Object("ingresses", kCanary), "ingress_nginx",
                            "canary-ingress-weight-10.yaml"));
  ASSERT_EQ(Events().size(), 1u);
  EXPECT_THAT(Events()[0],
              HasSubstr("Ingress shop/web-web-ingress-canary was changed outside the rollout"));
  // A new weight is not a change made outside.
  ASSERT_TRUE(SetWeight(*router, 50).ok());
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(NginxIngressRouterTest, KeepsForeignAnnotationsOfItsCanaryIngressButNotLabels) {
  PutWebIngress();
  auto router = Make();
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  json canary = Object("ingresses", kCanary);
  canary["metadata"]["annotations"]["field.cattle.io/publicEndpoints"] = "[]";
  Put(canary);
  fake_->ClearRequests();
  ASSERT_TRUE(SetWeight(*router, 10).ok());
  EXPECT_EQ(Writes(), 0);  // getDesiredAnnotations keeps what others add
  EXPECT_TRUE(Events().empty());
  ASSERT_TRUE(SetWeight(*router, 20).ok());
  canary = Object("ingresses", kCanary);
  EXPECT_EQ(canary["metadata"]["annotations"]["field.cattle.io/publicEndpoints"], "[]");
  EXPECT_EQ(canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"], "20");
  // Argo's patch carries the desired object's labels, which are none.
  canary["metadata"]["labels"] = {{"team", "shop"}};
  Put(canary);
  ASSERT_TRUE(SetWeight(*router, 20).ok());
  EXPECT_FALSE(Object("ingresses", kCanary)["metadata"].contains("labels"));
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(NginxIngressRouterTest, ExtensionsV1beta1Backends) {
  ASSERT_TRUE(fake_
                  ->RegisterResource({.group = "extensions",
                                      .version = "v1beta1",
                                      .kind = "Ingress",
                                      .plural = "ingresses",
                                      .status_subresource = true})
                  .ok());
  Put({{"apiVersion", "extensions/v1beta1"},
       {"kind", "Ingress"},
       {"metadata", {{"name", "web-ingress"}, {"namespace", kNs}}},
       {"spec",
        {{"rules",
          {{{"host", "shop.example.com"},
            {"http",
             {{"paths",
               {{{"path", "/"}, {"backend", {{"serviceName", "web-stable"}, {"servicePort", 80}}}},
                {{"path", "/admin"},
                 {"backend", {{"serviceName", "admin"}, {"servicePort", "http"}}}}}}}}}}}}}});
  ApiVersions v;
  v.ingress = "extensions/v1beta1";
  auto router = Make({{"stableIngress", "web-ingress"}}, Context(), v);
  ASSERT_TRUE(SetWeight(*router, 25).ok());
  json canary = Object("ingresses.extensions", kCanary);
  ASSERT_TRUE(canary.is_object());
  EXPECT_EQ(canary["apiVersion"], "extensions/v1beta1");
  // The whole rule is kept (Argo copies every rule with a path on the stable Service), only the
  // stable backends renamed.
  EXPECT_EQ(canary["spec"]["rules"][0]["http"]["paths"],
            json::parse(R"([{"path":"/","backend":{"serviceName":"web-canary","servicePort":80}},
                {"path":"/admin","backend":{"serviceName":"admin","servicePort":"http"}}])"));
  EXPECT_EQ(canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"], "25");
  auto check = VerifyWeight(*router, 25);
  ASSERT_TRUE(check.has_value()) << check.error().message();
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
}

TEST_F(NginxIngressRouterTest, AnnotationPrefix) {
  PutWebIngress();
  auto router = Make({{"stableIngress", "web-ingress"},
                      {"annotationPrefix", "custom.nginx.org"},
                      {"additionalIngressAnnotations", {{"canary-by-cookie", "beta"}}}});
  ASSERT_TRUE(SetWeight(*router, 5).ok());
  EXPECT_EQ(Object("ingresses", kCanary)["metadata"]["annotations"],
            json::parse(R"({"custom.nginx.org/canary":"true","custom.nginx.org/canary-weight":"5",
                "custom.nginx.org/canary-by-cookie":"beta"})"));
  auto check = VerifyWeight(*router, 5);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
  EXPECT_EQ(check->observed_weight, 5);
}

TEST_F(NginxIngressRouterTest, VerifiesByReadingBack) {
  PutWebIngress();
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
  EXPECT_THAT(check->message, HasSubstr("Ingress shop/web-web-ingress-canary"));
  EXPECT_THAT(check->message, HasSubstr("nginx.ingress.kubernetes.io/canary-weight: \"10\""));
}

TEST_F(NginxIngressRouterTest, VerifyWithoutACanaryIngressIsAnError) {
  PutWebIngress();
  auto router = Make();
  auto check = VerifyWeight(*router, 10);
  ASSERT_FALSE(check.has_value());
  EXPECT_EQ(check.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(check.error().message(), HasSubstr("web-web-ingress-canary does not exist"));
}

TEST_F(NginxIngressRouterTest, RefusesAMissingStableIngress) {
  auto router = Make();
  Status s = SetWeight(*router, 10);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("nginx: Ingress shop/web-ingress does not exist"));
  EXPECT_FALSE(Object("ingresses", kCanary).is_object());
}

TEST_F(NginxIngressRouterTest, RefusesAStableIngressWithoutTheStableService) {
  PutStable("web-ingress", {{"rules", {Rule("shop.example.com", {Path("/", "other", 80)})}}});
  auto router = Make();
  Status s = SetWeight(*router, 10);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(),
              HasSubstr("Ingress shop/web-ingress has no rules using service web-stable"));
  EXPECT_FALSE(Object("ingresses", kCanary).is_object());
}

TEST_F(NginxIngressRouterTest, RefusesACanaryIngressAnotherObjectControls) {
  PutWebIngress();
  Put({{"apiVersion", "networking.k8s.io/v1"},
       {"kind", "Ingress"},
       {"metadata",
        {{"name", kCanary},
         {"namespace", kNs},
         {"ownerReferences", json::array({{{"apiVersion", "argoproj.io/v1alpha1"},
                                           {"kind", "Rollout"},
                                           {"name", "other"},
                                           {"uid", "1111"},
                                           {"controller", true}}})}}},
       {"spec", {{"rules", json::array()}}}});
  auto router = Make();
  Status s = SetWeight(*router, 10);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("controlled by Rollout other"));
  EXPECT_EQ(Object("ingresses", kCanary)["spec"]["rules"].size(), 0u);
  // An Ingress of that name nobody controls is refused as well.
  json unowned = Object("ingresses", kCanary);
  unowned["metadata"].erase("ownerReferences");
  Put(unowned);
  s = SetWeight(*router, 10);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("not controlled by the rollout"));
}

TEST_F(NginxIngressRouterTest, CanaryIngressName) {
  EXPECT_EQ(NginxCanaryIngressName("web", "web-ingress"), "web-web-ingress-canary");
  const std::string long_name(250, 'a');
  const std::string name = NginxCanaryIngressName("web", long_name);
  EXPECT_EQ(name.size(), 253u);
  EXPECT_EQ(name, "web-" + std::string(242, 'a') + "-canary");
}

TEST_F(NginxIngressRouterTest, HasNoHeaderOrMirrorRoutes) {
  auto router = Make();
  Status s = SetHeaderRoute(*router, HeaderRoute{"h", {}});
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_THAT(s.message(), HasSubstr("additionalIngressAnnotations"));
  EXPECT_EQ(SetMirrorRoute(*router, MirrorRoute{"m", {}, {}}).code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(RemoveManagedRoutes(*router).ok());
  EXPECT_TRUE(UpdateHash(*router, "abc", "def").ok());
}

TEST_F(NginxIngressRouterTest, RefusesBadConfiguration) {
  auto error = [&](json config, ApiVersions v = {}) {
    auto r = NewNginxIngressRouter(MakeEnv(std::move(config), Context(), v));
    EXPECT_FALSE(r.has_value());
    if (r) return std::string();
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
    return r.error().message();
  };
  EXPECT_THAT(error({{"stableIngress", 3}}), HasSubstr("nginx.stableIngress: expected a string"));
  EXPECT_THAT(error(json::object()), HasSubstr("stableIngress or stableIngresses"));
  EXPECT_THAT(error({{"stableIngresses", {"a", 2}}}),
              HasSubstr("nginx.stableIngresses[1]: expected a name (a non-empty string), got 2"));
  EXPECT_THAT(error({{"stableIngresses", "a"}}),
              HasSubstr("nginx.stableIngresses: expected a list of Ingress names"));
  EXPECT_THAT(error({{"stableIngress", "a"}, {"additionalIngressAnnotations", {{"x", 1}}}}),
              HasSubstr("nginx.additionalIngressAnnotations[\"x\"]: expected a string"));
  EXPECT_THAT(error({{"stableIngress", "a"}, {"canaryIngressAnnotations", "x"}}),
              HasSubstr("nginx.canaryIngressAnnotations"));
  ApiVersions v;
  v.ingress = "networking.k8s.io/v1beta1";
  EXPECT_THAT(error({{"stableIngress", "a"}}, v), HasSubstr("unsupported Ingress API version"));
  RouterContext no_canary = Context();
  no_canary.canary_service.clear();
  auto r = NewNginxIngressRouter(MakeEnv({{"stableIngress", "a"}}, no_canary));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ramp::kube_traffic
