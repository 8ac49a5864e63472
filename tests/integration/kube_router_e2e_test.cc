// Kubernetes traffic routers end to end: a real `ramp serve --platform kubernetes` against the
// strict API-server fake takes a canary with trafficRouting through its steps for each router
// Argo Rollouts has (argo-rollouts.md §6). At the paused setWeight step every object the router
// writes matches a golden written by hand from §6 (testdata/kube/routers/); an edit made behind
// ramp's back is set back within --traffic-resync with a TrafficRoutingReasserted event; after
// promotion the objects match their promoted goldens.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/integration/kube_e2e_testing.h"

namespace ramp {
namespace {

using json = nlohmann::json;
using kube_e2e::CanaryRollout;
using kube_e2e::Eventually;
using kube_e2e::EventuallyMatches;
using kube_e2e::Hash;
using kube_e2e::kRollouts;
using kube_e2e::kServices;
using kube_e2e::ObjectMatches;
using kube_e2e::Service;

// An object a router writes, and its goldens (testdata/kube/routers/) at the paused setWeight 20
// step and after promotion ("" = absent after promotion).
struct Written {
  std::string resource;  // the fake's plural: "trafficsplits", "virtualservices", …
  std::string name;
  std::string at_20;
  std::string promoted;
};

struct RouterCase {
  std::string name;
  json traffic_routing;          // spec.strategy.canary.trafficRouting
  std::vector<json> objects;     // what the user created before the Rollout
  std::vector<Written> written;  // checked against goldens
  // Edits written[0] as someone else would (a weight put back by hand).
  std::function<void(json&)> edit;
};

// gtest prints a failing parameter with this.
void PrintTo(const RouterCase& c, std::ostream* os) { *os << c.name; }

std::string PrintName(const ::testing::TestParamInfo<RouterCase>& info) { return info.param.name; }

class KubeRouterE2eTest : public kube_e2e::KubeE2eFixture,
                          public ::testing::WithParamInterface<RouterCase> {
 protected:
  // The golden values: the Rollout's uid and the revisions' hashes.
  std::map<std::string, std::string> Values() const {
    return {{"ROLLOUT_UID", uid_},
            {"HASH1", Hash("web", "ghcr.io/example/web:1.0")},
            {"HASH2", Hash("web", "ghcr.io/example/web:2.0")}};
  }

  json Object(const Written& w) { return Get(w.resource, w.name); }

  // On a real cluster, a router whose kinds are not installed there is skipped.
  bool Served(const std::string& resource) {
    return !Real() || Kubectl({"get", resource, "-n", kube_e2e::TestNamespace()}).code == 0;
  }

  int Events(const std::string& reason) {
    int n = 0;
    for (const json& e : List("events")) {
      if (e.value("reason", "") == reason && e["involvedObject"].value("name", "") == "web") ++n;
    }
    return n;
  }

  std::vector<std::string> ServeArgs() const override { return {"--traffic-resync", "1"}; }

  std::string uid_;
};

// The user's VirtualService: one http route, everything on the stable Service.
json IstioVirtualService() {
  return json::parse(R"({
    "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
    "metadata": {"name": "web-vsvc", "namespace": "default"},
    "spec": {"hosts": ["web.example.com"], "http": [{"name": "primary", "route": [
      {"destination": {"host": "web-stable"}, "weight": 100},
      {"destination": {"host": "web-canary"}, "weight": 0}]}]}})");
}

json RouterRollout(const json& traffic_routing, json steps) {
  json ro = CanaryRollout();
  json& canary = ro["spec"]["strategy"]["canary"];
  canary["trafficRouting"] = traffic_routing;
  canary["steps"] = std::move(steps);
  return ro;
}

TEST_P(KubeRouterE2eTest, CanaryThroughTheRouter) {
  const RouterCase& c = GetParam();
  Create(kServices, Service("web-stable", "web"));
  Create(kServices, Service("web-canary", "web"));
  for (const Written& w : c.written) {
    if (!Served(w.resource)) GTEST_SKIP() << w.resource << " are not served by this cluster";
  }
  for (const json& o : c.objects) Put(o);
  Create(kRollouts, RouterRollout(c.traffic_routing,
                                  json::array({{{"setWeight", 20}}, {{"pause", json::object()}}})));
  uid_ = Rollout("web")["metadata"].value("uid", "");
  ASSERT_TRUE(WaitFor("web", "Healthy"));

  SetImage("web", "ghcr.io/example/web:2.0");
  ASSERT_TRUE(WaitFor("web", "Paused", 1));
  for (const Written& w : c.written) {
    EXPECT_TRUE(EventuallyMatches([&] { return ObjectMatches(Object(w), w.at_20, Values()); }))
        << w.resource << " " << w.name;
  }
  EXPECT_TRUE(Eventually([&] {
    json weights = Status("web").value("canary", json::object()).value("weights", json());
    return weights.is_object() && weights["canary"].value("weight", -1) == 20 &&
           weights["stable"].value("weight", -1) == 80;
  })) << Status("web").dump();

  // Someone edits the router's object by hand: ramp sets it back and says so.
  ASSERT_FALSE(c.written.empty());
  json edited = Object(c.written[0]);
  c.edit(edited);
  Put(edited);
  EXPECT_TRUE(EventuallyMatches(
      [&] { return ObjectMatches(Object(c.written[0]), c.written[0].at_20, Values()); }));
  EXPECT_TRUE(Eventually([&] { return Events("TrafficRoutingReasserted") >= 1; }));

  PatchStatus("web", json{{"pauseConditions", nullptr}});
  ASSERT_TRUE(WaitFor("web", "Healthy"));
  const std::string h2 = Hash("web", "ghcr.io/example/web:2.0");
  EXPECT_TRUE(Eventually([&] { return Selected("web-stable") == h2; }));
  for (const Written& w : c.written) {
    if (w.promoted.empty()) {
      EXPECT_TRUE(Eventually([&] { return Object(w).is_null(); })) << w.name << " still exists";
    } else {
      EXPECT_TRUE(EventuallyMatches([&] { return ObjectMatches(Object(w), w.promoted, Values()); }))
          << w.resource << " " << w.name;
    }
  }
}

// Header and mirror routes on Istio: set by their steps in managedRoutes order, removed when the
// rollout is promoted.
TEST_F(KubeRouterE2eTest, IstioHeaderAndMirrorRoutes) {
  Create(kServices, Service("web-stable", "web"));
  Create(kServices, Service("web-canary", "web"));
  if (!Served("virtualservices")) GTEST_SKIP() << "Istio is not installed in this cluster";
  Put(IstioVirtualService());
  json routing = {
      {"managedRoutes", json::array({{{"name", "header-route"}}, {{"name", "mirror-route"}}})},
      {"istio", {{"virtualService", {{"name", "web-vsvc"}, {"routes", {"primary"}}}}}}};
  json steps = json::parse(R"([
    {"setWeight": 20},
    {"setHeaderRoute": {"name": "header-route",
                        "match": [{"headerName": "x-canary", "headerValue": {"exact": "yes"}}]}},
    {"setMirrorRoute": {"name": "mirror-route", "percentage": 50,
                        "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/api"}}]}},
    {"pause": {}}])");
  Create(kRollouts, RouterRollout(routing, steps));
  uid_ = Rollout("web")["metadata"].value("uid", "");
  ASSERT_TRUE(WaitFor("web", "Healthy"));
  SetImage("web", "ghcr.io/example/web:2.0");
  ASSERT_TRUE(WaitFor("web", "Paused", 3));
  const Written vs{"virtualservices", "web-vsvc", "", ""};
  EXPECT_TRUE(EventuallyMatches([&] {
    return ObjectMatches(Object(vs), "routers/istio-virtualservice-managed-routes.yaml", Values());
  }));
  // The header route deleted by hand comes back.
  json edited = Object(vs);
  edited["spec"]["http"].erase(0);
  Put(edited);
  EXPECT_TRUE(EventuallyMatches([&] {
    return ObjectMatches(Object(vs), "routers/istio-virtualservice-managed-routes.yaml", Values());
  }));
  PatchStatus("web", json{{"pauseConditions", nullptr}});
  ASSERT_TRUE(WaitFor("web", "Healthy"));
  EXPECT_TRUE(EventuallyMatches([&] {
    return ObjectMatches(Object(vs), "routers/istio-virtualservice-promoted.yaml", Values());
  }));
}

// A router ramp does not build is refused, and the Rollout says why.
TEST_F(KubeRouterE2eTest, ARouterRampDoesNotBuildIsRefusedWithTheReason) {
  Create(kServices, Service("web-stable", "web"));
  Create(kServices, Service("web-canary", "web"));
  Create(kRollouts, RouterRollout(json{{"appMesh", {{"virtualService", {{"name", "web-vs"}}}}}},
                                  json::array({{{"setWeight", 20}}})));
  std::string said;
  EXPECT_TRUE(Eventually([&] {
    for (const json& e : List("events")) {
      if (e["involvedObject"].value("name", "") == "web" && e.value("type", "") == "Warning") {
        said = e.value("message", "");
      }
    }
    said += " | " + Status("web").value("message", "");
    return said.find("appMesh") != std::string::npos;
  })) << said;
  EXPECT_TRUE(ReplicaSet("web-" + Hash("web", "ghcr.io/example/web:1.0")).is_null());
}

std::vector<RouterCase> Cases() {
  std::vector<RouterCase> cases;
  cases.push_back(RouterCase{"smi",
                             json{{"smi", json::object()}},
                             {},
                             {{"trafficsplits", "web", "routers/smi-trafficsplit-20.yaml",
                               "routers/smi-trafficsplit-promoted.yaml"}},
                             [](json& split) {
                               split["spec"]["backends"][0]["weight"] = "0";
                               split["spec"]["backends"][1]["weight"] = "100";
                             }});
  cases.push_back(RouterCase{
      "istio",
      json{{"istio", {{"virtualService", {{"name", "web-vsvc"}, {"routes", {"primary"}}}}}}},
      {IstioVirtualService()},
      {{"virtualservices", "web-vsvc", "routers/istio-virtualservice-20.yaml",
        "routers/istio-virtualservice-promoted.yaml"}},
      [](json& vs) {
        vs["spec"]["http"][0]["route"][0]["weight"] = 100;
        vs["spec"]["http"][0]["route"][1]["weight"] = 0;
      }});
  cases.push_back(RouterCase{
      "nginx",
      json{{"nginx", {{"stableIngress", "web-ingress"}}}},
      {json::parse(R"({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web-ingress", "namespace": "default"},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "web.example.com", "http": {
          "paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {
            "name": "web-stable", "port": {"number": 80}}}}]}}]}})")},
      {{"ingresses", "web-web-ingress-canary", "routers/nginx-canary-ingress-20.yaml",
        "routers/nginx-canary-ingress-promoted.yaml"}},
      [](json& ingress) {
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] = "100";
      }});
  cases.push_back(RouterCase{
      "alb",
      json{{"alb", {{"ingress", "web-alb"}, {"servicePort", 80}}}},
      {json::parse(R"({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web-alb", "namespace": "default",
                     "annotations": {"kubernetes.io/ingress.class": "alb"}},
        "spec": {"rules": [{"http": {"paths": [{"path": "/*", "pathType": "ImplementationSpecific",
          "backend": {"service": {"name": "web-stable", "port": {"name": "use-annotation"}}}}]}}]}})")},
      {{"ingresses", "web-alb", "routers/alb-ingress-20.yaml",
        "routers/alb-ingress-promoted.yaml"}},
      [](json& ingress) {
        ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/actions.web-stable"] =
            R"({"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"web-canary",)"
            R"("ServicePort":"80","Weight":100},{"ServiceName":"web-stable","ServicePort":"80",)"
            R"("Weight":0}]}})";
      }});
  cases.push_back(
      RouterCase{"traefik",
                 json{{"traefik", {{"weightedTraefikServiceName", "web-traefik"}}}},
                 {json::parse(R"({
        "apiVersion": "traefik.io/v1alpha1", "kind": "TraefikService",
        "metadata": {"name": "web-traefik", "namespace": "default"},
        "spec": {"weighted": {"services": [{"name": "web-stable", "port": 80, "weight": 100},
                                           {"name": "web-canary", "port": 80, "weight": 0}]}}})")},
                 {{"traefikservices", "web-traefik", "routers/traefik-traefikservice-20.yaml",
                   "routers/traefik-traefikservice-promoted.yaml"}},
                 [](json& ts) {
                   ts["spec"]["weighted"]["services"][0]["weight"] = 50;
                   ts["spec"]["weighted"]["services"][1]["weight"] = 50;
                 }});
  cases.push_back(RouterCase{
      "ambassador",
      json{{"ambassador", {{"mappings", {"web-mapping"}}}}},
      {json::parse(R"({
        "apiVersion": "getambassador.io/v2", "kind": "Mapping",
        "metadata": {"name": "web-mapping", "namespace": "default"},
        "spec": {"prefix": "/web/", "service": "web-stable:80"}})")},
      {{"mappings", "web-mapping-canary", "routers/ambassador-mapping-canary-20.yaml", ""}},
      [](json& mapping) { mapping["spec"]["weight"] = 100; }});
  cases.push_back(
      RouterCase{"apisix",
                 json{{"apisix", {{"route", {{"name", "web-apisix"}, {"rules", {"rule-1"}}}}}}},
                 {json::parse(R"({
        "apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute",
        "metadata": {"name": "web-apisix", "namespace": "default"},
        "spec": {"http": [{"name": "rule-1",
          "match": {"hosts": ["web.example.com"], "paths": ["/*"]},
          "backends": [{"serviceName": "web-stable", "servicePort": 80, "weight": 100},
                       {"serviceName": "web-canary", "servicePort": 80, "weight": 0}]}]}})")},
                 {{"apisixroutes", "web-apisix", "routers/apisix-route-20.yaml",
                   "routers/apisix-route-promoted.yaml"}},
                 [](json& route) {
                   route["spec"]["http"][0]["backends"][0]["weight"] = 0;
                   route["spec"]["http"][0]["backends"][1]["weight"] = 100;
                 }});
  cases.push_back(
      RouterCase{"gatewayapi",
                 json{{"plugins",
                       {{"argoproj-labs/gatewayAPI",
                         {{"httpRoute", "web-httproute"}, {"namespace", "default"}}}}}},
                 {json::parse(R"({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web-httproute", "namespace": "default"},
        "spec": {"parentRefs": [{"name": "web-gateway"}], "rules": [{"backendRefs": [
          {"name": "web-stable", "port": 80}, {"name": "web-canary", "port": 80}]}]}})")},
                 {{"httproutes", "web-httproute", "routers/gatewayapi-httproute-20.yaml",
                   "routers/gatewayapi-httproute-promoted.yaml"}},
                 [](json& route) {
                   route["spec"]["rules"][0]["backendRefs"][0]["weight"] = 100;
                   route["spec"]["rules"][0]["backendRefs"][1]["weight"] = 0;
                 }});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Routers, KubeRouterE2eTest, ::testing::ValuesIn(Cases()), PrintName);

}  // namespace
}  // namespace ramp
