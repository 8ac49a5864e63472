#include "spec/manifest.h"

#include "spec/manifest_testing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace ramp::spec {
namespace {

using testing_util::Diag;
using testing_util::Indent;
using testing_util::Loaded;

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

// ---------------------------------------------------------------------------------------------
// Helpers.

// A valid Rollout named shop whose pods carry app=shop and tier=web; `strategy` (column 0) is
// the content of spec.strategy and starts on line 19.
std::string RolloutDoc(std::string_view strategy) {
  return std::string(
             "apiVersion: argoproj.io/v1alpha1\n"  // 1
             "kind: Rollout\n"                     // 2
             "metadata:\n"                         // 3
             "  name: shop\n"                      // 4
             "spec:\n"                             // 5
             "  selector:\n"                       // 6
             "    matchLabels:\n"                  // 7
             "      app: shop\n"                   // 8
             "  template:\n"                       // 9
             "    metadata:\n"                     // 10
             "      labels:\n"                     // 11
             "        app: shop\n"                 // 12
             "        tier: web\n"                 // 13
             "    spec:\n"                         // 14
             "      containers:\n"                 // 15
             "      - name: shop\n"                // 16
             "        image: shop:1.0\n"           // 17
             "  strategy:\n") +                    // 18
         Indent(strategy, 4);
}

constexpr char kCanary[] =
    "canary:\n"
    "  canaryService: shop-canary\n"   // line 20
    "  stableService: shop-stable\n";  // line 21

// A v1 Service document (with its leading ---) selecting `selector` (a YAML flow map body).
std::string ServiceDoc(std::string_view name, std::string_view selector) {
  return "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: " + std::string(name) +
         "\nspec:\n  selector: {" + std::string(selector) + "}\n  ports:\n  - port: 80\n";
}

// A networking.k8s.io/v1 Ingress document routing / to each of `backends`.
std::string IngressDoc(std::string_view name, const std::vector<std::string>& backends) {
  std::string out = "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " +
                    std::string(name) + "\nspec:\n  rules:\n  - http:\n      paths:\n";
  for (const auto& b : backends) {
    out +=
        "      - path: /\n        pathType: Prefix\n        backend:\n          service:\n"
        "            name: " +
        b + "\n            port: {number: 80}\n";
  }
  return out;
}

// An Istio VirtualService document; `http` is the content of spec.http (column 0).
std::string VirtualServiceDoc(std::string_view name, std::string_view http) {
  return "---\napiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata:\n"
         "  name: " +
         std::string(name) + "\nspec:\n  hosts: [shop]\n  http:\n" + Indent(http, 2);
}

// ---------------------------------------------------------------------------------------------
// Services.

TEST(ServiceCrossCheck, MatchingServicesAreClean) {
  Loaded l(RolloutDoc(kCanary) + ServiceDoc("shop-canary", "app: shop") +
           ServiceDoc("shop-stable", "app: shop, tier: web"));
  EXPECT_THAT(l.Strings(), IsEmpty());
  EXPECT_EQ(l.set.rollouts.size(), 1u);
  EXPECT_EQ(l.set.others.size(), 2u);
  EXPECT_TRUE(l.set.ok());
}

TEST(ServiceCrossCheck, CanaryServiceLabelMismatch) {
  Loaded l(RolloutDoc(kCanary) + ServiceDoc("shop-canary", "app: other"));
  EXPECT_THAT(
      l.Strings(),
      ElementsAre("r.yaml:20:7: spec.strategy.canary.canaryService: Service \"shop-canary\" "
                  "has unmatch label \"app\" in rollout (its selector would not select "
                  "the rollout's pods)"));
  EXPECT_FALSE(l.set.ok());
}

TEST(ServiceCrossCheck, EveryServiceRoleIsChecked) {
  struct Case {
    std::string strategy;
    std::string service;
    std::string path;
    std::string field;  // where the error points
  };
  const std::string ping_pong =
      "canary:\n"
      "  pingPong:\n"
      "    pingService: shop-ping\n"
      "    pongService: shop-pong\n"
      "  trafficRouting:\n"
      "    istio: {virtualService: {name: shop-vs}}\n";
  const std::string blue_green =
      "blueGreen:\n  activeService: shop-active\n  previewService: shop-preview\n";
  const Case cases[] = {
      {kCanary, "shop-canary", "spec.strategy.canary.canaryService", "canaryService:"},
      {kCanary, "shop-stable", "spec.strategy.canary.stableService", "stableService:"},
      {ping_pong, "shop-ping", "spec.strategy.canary.pingPong.pingService", "pingService:"},
      {ping_pong, "shop-pong", "spec.strategy.canary.pingPong.pongService", "pongService:"},
      {blue_green, "shop-active", "spec.strategy.blueGreen.activeService", "activeService:"},
      {blue_green, "shop-preview", "spec.strategy.blueGreen.previewService", "previewService:"},
  };
  for (const Case& c : cases) {
    Loaded l(RolloutDoc(c.strategy) + ServiceDoc(c.service, "app: shop, tier: api"));
    EXPECT_THAT(l.Errors(), ElementsAre(Diag(l.Pos(c.field), c.path,
                                             "Service \"" + c.service +
                                                 "\" has unmatch label \"tier\" in rollout")))
        << c.service;
    // The same Service selecting the rollout's pods is fine.
    Loaded ok(RolloutDoc(c.strategy) + ServiceDoc(c.service, "app: shop"));
    EXPECT_THAT(ok.Strings(), IsEmpty()) << c.service;
  }
}

TEST(ServiceCrossCheck, EveryMismatchedLabelIsNamed) {
  Loaded l(RolloutDoc(kCanary) + ServiceDoc("shop-stable", "app: web, zone: eu"));
  EXPECT_THAT(
      l.Errors(),
      ElementsAre(
          Diag("21:7", "spec.strategy.canary.stableService", "has unmatch label \"app\""),
          Diag("21:7", "spec.strategy.canary.stableService", "has unmatch label \"zone\"")));
}

TEST(ServiceCrossCheck, PodTemplateHashLabelIsIgnored) {
  Loaded l(RolloutDoc(kCanary) +
           ServiceDoc("shop-canary", "app: shop, rollouts-pod-template-hash: 6d4f8c9b7"));
  EXPECT_THAT(l.Strings(), IsEmpty());
}

TEST(ServiceCrossCheck, AbsentOrSelectorlessServiceIsNotAnError) {
  EXPECT_THAT(Loaded(RolloutDoc(kCanary)).Strings(), IsEmpty());
  // A Service of another name, and one without a selector.
  Loaded l(RolloutDoc(kCanary) + ServiceDoc("unrelated", "app: other") +
           "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: shop-canary\nspec:\n"
           "  type: ExternalName\n  externalName: shop.example.com\n");
  EXPECT_THAT(l.Strings(), IsEmpty());
}

TEST(ServiceCrossCheck, OnlyCoreV1ServicesAreChecked) {
  Loaded l(RolloutDoc(kCanary) +
           "---\napiVersion: example.com/v1\nkind: Service\nmetadata:\n  name: shop-canary\n"
           "spec:\n  selector: {app: other}\n");
  EXPECT_THAT(l.Strings(), IsEmpty());
}

TEST(ServiceCrossCheck, SetsMergedFromSeveralFiles) {
  ManifestSet set = LoadManifests(RolloutDoc(kCanary), "rollout.yaml");
  ManifestSet services = LoadManifests(ServiceDoc("shop-canary", "app: other"), "svc.yaml");
  EXPECT_TRUE(set.ok());
  EXPECT_TRUE(services.ok());
  for (auto& o : services.others) set.others.push_back(std::move(o));
  CrossCheckReferences(&set);
  ASSERT_EQ(set.diagnostics.items().size(), 1u);
  EXPECT_EQ(set.diagnostics.items()[0].ToString(),
            "rollout.yaml:20:7: spec.strategy.canary.canaryService: Service \"shop-canary\" has "
            "unmatch label \"app\" in rollout (its selector would not select the rollout's pods)");
}

// ---------------------------------------------------------------------------------------------
// Ingresses.

std::string NginxRollout(std::string_view ingress_fields) {
  return RolloutDoc(std::string(kCanary) + "  trafficRouting:\n    nginx:\n" +
                    Indent(ingress_fields, 6));
}

TEST(IngressCrossCheck, NginxStableIngressWithoutStableServiceRuleWarns) {
  Loaded l(NginxRollout("stableIngress: shop-ingress\n") +
           IngressDoc("shop-ingress", {"shop-canary", "other"}));
  EXPECT_THAT(l.Errors(), IsEmpty());
  EXPECT_THAT(l.Strings(),
              ElementsAre("r.yaml:24:11: warning: spec.strategy.canary.trafficRouting.nginx."
                          "stableIngress: ingress `shop-ingress` has no rules using service "
                          "shop-stable backend; the router will refuse it"));
  // A warning: the Rollout is loaded.
  EXPECT_EQ(l.set.rollouts.size(), 1u);
  EXPECT_TRUE(l.set.ok());
}

TEST(IngressCrossCheck, NginxStableIngressWithStableServiceRuleIsClean) {
  EXPECT_THAT(Loaded(NginxRollout("stableIngress: shop-ingress\n") +
                     IngressDoc("shop-ingress", {"other", "shop-stable"}))
                  .Strings(),
              IsEmpty());
  // The extensions/v1beta1 backend form.
  EXPECT_THAT(Loaded(NginxRollout("stableIngress: shop-ingress\n") +
                     "---\napiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n"
                     "  name: shop-ingress\nspec:\n  rules:\n  - http:\n      paths:\n"
                     "      - backend: {serviceName: shop-stable, servicePort: 80}\n")
                  .Strings(),
              IsEmpty());
  // An Ingress ramp was not pointed at is not checked.
  EXPECT_THAT(
      Loaded(NginxRollout("stableIngress: shop-ingress\n") + IngressDoc("other-ingress", {"other"}))
          .Strings(),
      IsEmpty());
}

TEST(IngressCrossCheck, NginxStableIngressesAreEachChecked) {
  Loaded l(NginxRollout("stableIngresses: [good-ingress, bad-ingress]\n") +
           IngressDoc("good-ingress", {"shop-stable"}) + IngressDoc("bad-ingress", {"other"}));
  EXPECT_THAT(l.Errors(), IsEmpty());
  EXPECT_THAT(l.Warnings(),
              ElementsAre(Diag(l.Pos("stableIngresses"),
                               "spec.strategy.canary.trafficRouting.nginx.stableIngresses[1]",
                               "ingress `bad-ingress` has no rules using service shop-stable")));
}

std::string AlbRollout(std::string_view root_service) {
  std::string alb = "alb:\n  ingress: shop-ingress\n  servicePort: 80\n";
  if (!root_service.empty()) alb += "  rootService: " + std::string(root_service) + "\n";
  return RolloutDoc(std::string(kCanary) + "  trafficRouting:\n" + Indent(alb, 4));
}

TEST(IngressCrossCheck, AlbIngressMustRouteToTheRootService) {
  EXPECT_THAT(Loaded(AlbRollout("shop-root") + IngressDoc("shop-ingress", {"shop-root"})).Strings(),
              IsEmpty());
  Loaded l(AlbRollout("shop-root") + IngressDoc("shop-ingress", {"shop-stable"}));
  EXPECT_THAT(l.Strings(),
              ElementsAre("r.yaml:24:11: warning: spec.strategy.canary.trafficRouting.alb.ingress: "
                          "ingress `shop-ingress` has no rules using service shop-root backend; "
                          "the router will refuse it"));
}

TEST(IngressCrossCheck, AlbIngressWithoutRootServiceMustRouteToTheStableService) {
  EXPECT_THAT(Loaded(AlbRollout("") + IngressDoc("shop-ingress", {"shop-stable"})).Strings(),
              IsEmpty());
  Loaded l(AlbRollout("") + IngressDoc("shop-ingress", {"shop-canary"}));
  EXPECT_THAT(l.Warnings(), ElementsAre(Diag("24:11",
                                             "spec.strategy.canary.trafficRouting.alb."
                                             "ingress",
                                             "has no rules using service shop-stable backend")));
}

// ---------------------------------------------------------------------------------------------
// Istio VirtualServices.

std::string IstioRollout(std::string_view istio) {
  return RolloutDoc(std::string(kCanary) + "  trafficRouting:\n    istio:\n" + Indent(istio, 6));
}

constexpr char kBothDestinations[] =
    "- name: primary\n"
    "  route:\n"
    "  - destination: {host: shop-stable}\n"
    "    weight: 100\n"
    "  - destination: {host: shop-canary}\n"
    "    weight: 0\n";

TEST(VirtualServiceCrossCheck, NamedRouteWithBothDestinationsIsClean) {
  Loaded l(IstioRollout("virtualService:\n  name: shop-vs\n  routes: [primary]\n") +
           VirtualServiceDoc("shop-vs", kBothDestinations));
  EXPECT_THAT(l.Strings(), IsEmpty());
  EXPECT_EQ(l.set.others.size(), 1u);
}

TEST(VirtualServiceCrossCheck, MissingRouteName) {
  Loaded l(IstioRollout("virtualService:\n  name: shop-vs\n  routes: [primary, canary-route]\n") +
           VirtualServiceDoc("shop-vs", kBothDestinations));
  EXPECT_THAT(
      l.Strings(),
      ElementsAre("r.yaml:25:13: spec.strategy.canary.trafficRouting.istio.virtualService."
                  "name: Istio VirtualService has invalid HTTP routes. Error: HTTP Route "
                  "'canary-route' is not found in the defined Virtual Service \"shop-vs\""));
  EXPECT_FALSE(l.set.ok());
}

TEST(VirtualServiceCrossCheck, RouteWithoutBothDestinations) {
  Loaded l(IstioRollout("virtualService:\n  name: shop-vs\n  routes: [primary]\n") +
           VirtualServiceDoc("shop-vs",
                             "- name: primary\n  route:\n  - destination: {host: shop-stable}\n"));
  EXPECT_THAT(
      l.Errors(),
      ElementsAre(Diag("25:13", "spec.strategy.canary.trafficRouting.istio.virtualService.name",
                       "route 'primary' of Virtual Service \"shop-vs\" must have "
                       "destinations for both the canary and stable services")));
}

TEST(VirtualServiceCrossCheck, FullyQualifiedHostsAreShortened) {
  Loaded l(IstioRollout("virtualService:\n  name: shop-vs\n  routes: [primary]\n") +
           VirtualServiceDoc("shop-vs",
                             "- name: primary\n  route:\n"
                             "  - destination: {host: shop-stable.web.svc.cluster.local}\n"
                             "  - destination: {host: shop-canary.web.svc.cluster.local}\n"));
  EXPECT_THAT(l.Strings(), IsEmpty());
}

TEST(VirtualServiceCrossCheck, DestinationRuleSubsets) {
  const std::string istio =
      "virtualService:\n  name: shop-vs\n  routes: [primary]\n"
      "destinationRule:\n  name: shop-dr\n  canarySubsetName: canary\n  stableSubsetName: stable\n";
  Loaded ok(IstioRollout(istio) +
            VirtualServiceDoc("shop-vs",
                              "- name: primary\n  route:\n"
                              "  - destination: {host: shop, subset: stable}\n"
                              "  - destination: {host: shop, subset: canary}\n"));
  EXPECT_THAT(ok.Strings(), IsEmpty());
  Loaded bad(IstioRollout(istio) +
             VirtualServiceDoc("shop-vs",
                               "- name: primary\n  route:\n"
                               "  - destination: {host: shop, subset: stable}\n"
                               "  - destination: {host: shop-canary}\n"));
  EXPECT_THAT(bad.Errors(), ElementsAre(Diag("25:13",
                                             "spec.strategy.canary.trafficRouting.istio."
                                             "virtualService.name",
                                             "must have destinations for both the canary and "
                                             "stable subsets")));
}

TEST(VirtualServiceCrossCheck, UnnamedRoutes) {
  // One HTTP route may be managed without naming it; with several, routes must name them.
  const std::string unnamed = "- route:\n  - destination: {host: shop-stable}\n";
  EXPECT_THAT(Loaded(IstioRollout("virtualService: {name: shop-vs}\n") +
                     VirtualServiceDoc("shop-vs", unnamed))
                  .Strings(),
              IsEmpty());
  Loaded l(IstioRollout("virtualService: {name: shop-vs}\n") +
           VirtualServiceDoc("shop-vs", unnamed + unnamed));
  EXPECT_THAT(l.Errors(),
              ElementsAre(Diag(l.Pos("name: shop-vs"),
                               "spec.strategy.canary.trafficRouting.istio.virtualService.name",
                               "Istio VirtualService \"shop-vs\" has more than one HTTP route: "
                               "list the managed ones in routes")));
}

TEST(VirtualServiceCrossCheck, VirtualServiceWithoutRoutes) {
  Loaded l(IstioRollout("virtualService: {name: shop-vs}\n") +
           "---\napiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata:\n"
           "  name: shop-vs\nspec:\n  hosts: [shop]\n");
  EXPECT_THAT(l.Errors(),
              ElementsAre(Diag(l.Pos("name: shop-vs"),
                               "spec.strategy.canary.trafficRouting.istio.virtualService.name",
                               "Unable to get any of the HTTP, TCP or TLS routes for the Istio "
                               "VirtualService \"shop-vs\"")));
}

TEST(VirtualServiceCrossCheck, VirtualServicesListAndNamespacedNames) {
  Loaded l(IstioRollout("virtualServices:\n- name: shop-vs.web\n  routes: [primary]\n"
                        "- name: other-vs\n  routes: [missing]\n") +
           VirtualServiceDoc("shop-vs", kBothDestinations) +
           VirtualServiceDoc("other-vs", kBothDestinations));
  EXPECT_THAT(l.Errors(),
              ElementsAre(Diag(l.Pos("name: other-vs"),
                               "spec.strategy.canary.trafficRouting.istio.virtualServices[1].name",
                               "HTTP Route 'missing' is not found in the defined Virtual Service "
                               "\"other-vs\"")));
}

TEST(VirtualServiceCrossCheck, AbsentVirtualServiceIsNotAnError) {
  EXPECT_THAT(
      Loaded(IstioRollout("virtualService:\n  name: shop-vs\n  routes: [primary]\n")).Strings(),
      IsEmpty());
}

// ---------------------------------------------------------------------------------------------
// Documents and kinds.

TEST(ManifestDocuments, UnknownArgoKindSuggestsTheClosest) {
  Loaded l("apiVersion: argoproj.io/v1alpha1\nkind: Rolout\nmetadata: {name: x}\n");
  EXPECT_THAT(l.Strings(), ElementsAre("r.yaml:2:1: kind: unknown kind \"Rolout\" in "
                                       "argoproj.io/v1alpha1 (did you mean \"Rollout\"?)"));
  EXPECT_TRUE(l.set.rollouts.empty());
  EXPECT_TRUE(l.set.others.empty());
  Loaded far("apiVersion: argoproj.io/v1alpha1\nkind: Widget\n");
  EXPECT_THAT(far.Strings(),
              ElementsAre("r.yaml:2:1: kind: unknown kind \"Widget\" in argoproj.io/v1alpha1"));
  Loaded analysis("apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplates\n");
  EXPECT_THAT(analysis.Strings(), ElementsAre(HasSubstr("(did you mean \"AnalysisTemplate\"?)")));
}

TEST(ManifestDocuments, DocumentMustBeAnObject) {
  Loaded list("- a\n- b\n");
  EXPECT_THAT(list.Strings(),
              ElementsAre("r.yaml:1:1: a manifest document must be an object, got sequence"));
  EXPECT_EQ(list.set.documents, 1u);
  Loaded scalar("---\nhello\n");
  EXPECT_THAT(scalar.Strings(),
              ElementsAre("r.yaml:2:1: a manifest document must be an object, got string"));
}

TEST(ManifestDocuments, ApiVersionAndKindAreRequired) {
  Loaded api("kind: ConfigMap\nmetadata: {name: c}\n");
  EXPECT_THAT(api.Strings(), ElementsAre("r.yaml:1:1: Object 'apiVersion' is missing: every "
                                         "document needs apiVersion and kind"));
  EXPECT_TRUE(api.set.others.empty());
  Loaded kind("apiVersion: v1\nmetadata: {name: c}\n");
  EXPECT_THAT(kind.Strings(),
              ElementsAre("r.yaml:1:1: Object 'Kind' is missing: every document needs apiVersion "
                          "and kind"));
  Loaded empty_kind("apiVersion: argoproj.io/v1alpha1\nkind: \"\"\n");
  EXPECT_THAT(empty_kind.Strings(), ElementsAre(HasSubstr("Object 'Kind' is missing")));
}

TEST(ManifestDocuments, EmptyDocumentsAreSkipped) {
  Loaded l("---\n---\n" + RolloutDoc("canary: {}\n") + "---\n");
  EXPECT_THAT(l.Strings(), IsEmpty());
  EXPECT_EQ(l.set.documents, 1u);
  EXPECT_EQ(l.set.rollouts.size(), 1u);
  Loaded none("");
  EXPECT_THAT(none.Strings(), IsEmpty());
  EXPECT_EQ(none.set.documents, 0u);
}

TEST(ManifestDocuments, UnquotedTemplateWarns) {
  Loaded l(
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  service: "
      "{{args.service}}\n");
  EXPECT_THAT(l.Errors(), IsEmpty());
  EXPECT_THAT(l.Warnings(),
              ElementsAre(AllOf(StartsWith(l.Pos("{{args.service}}") + " "),
                                HasSubstr("unquoted \"{{args.service}}\" is a YAML "
                                          "mapping; read as a string, but quote it"))));
  EXPECT_EQ(l.set.others.size(), 1u);
}

TEST(ManifestDocuments, UnquotedTemplateInARolloutIsReadAsAString) {
  Loaded l(
      RolloutDoc("canary:\n  steps:\n  - analysis:\n      templates: [{templateName: t}]\n"
                 "      args:\n      - name: svc\n        value: {{args.svc}}\n"));
  EXPECT_THAT(l.Errors(), IsEmpty());
  EXPECT_THAT(l.Warnings(), ElementsAre(HasSubstr("unquoted \"{{args.svc}}\"")));
  ASSERT_EQ(l.set.rollouts.size(), 1u);
  EXPECT_EQ(l.set.rollouts[0].object->spec.canary->steps.at(0).analysis->args.at(0).value,
            "{{args.svc}}");
}

TEST(ManifestDocuments, SyntaxErrorHasLineAndColumnAndLoadsNothing) {
  Loaded l(RolloutDoc("canary: {}\n") + "---\napiVersion: v1\nkind: ConfigMap\ndata: [1, 2\n");
  ASSERT_EQ(l.set.diagnostics.items().size(), 1u);
  const Diagnostic& d = l.set.diagnostics.items()[0];
  EXPECT_EQ(d.severity, Severity::kError);
  EXPECT_EQ(d.file, "r.yaml");
  // The unclosed flow sequence on line 23 is found at the end of the input.
  EXPECT_EQ(d.mark.line, 24);
  EXPECT_EQ(d.mark.column, 1);
  EXPECT_THAT(d.message, HasSubstr("YAML syntax error"));
  EXPECT_THAT(d.ToString(), StartsWith("r.yaml:" + std::to_string(d.mark.line) + ":" +
                                       std::to_string(d.mark.column) + ": "));
  // The message is not repeated with its own position prefix.
  EXPECT_THAT(d.message, Not(StartsWith("r.yaml")));
  EXPECT_TRUE(l.set.rollouts.empty());
  EXPECT_EQ(l.set.documents, 0u);
}

TEST(ManifestDocuments, SyntaxErrorPosition) {
  Loaded l("a: 1\nb: [1, 2\nc: 3\n");
  ASSERT_EQ(l.set.diagnostics.items().size(), 1u);
  EXPECT_EQ(l.set.diagnostics.items()[0].ToString(),
            "r.yaml:3:2: YAML syntax error: end of sequence flow not found");
}

constexpr char kWebhooks[] =
    "apiVersion: ramp.dev/v1alpha1\n"
    "kind: RolloutWebhooks\n"
    "metadata:\n"
    "  name: shop-hooks\n"
    "spec:\n"
    "  rolloutRef:\n"
    "    name: shop\n"
    "  webhooks:\n"
    "  - name: notify\n"
    "    type: event\n"
    "    url: https://hooks.example.com/ramp\n";

TEST(ManifestDocuments, RampKindsAreValidatedAndKept) {
  Loaded l(kWebhooks);
  EXPECT_THAT(l.Strings(), IsEmpty());
  ASSERT_EQ(l.set.others.size(), 1u);
  EXPECT_EQ(l.set.others[0].api_version, "ramp.dev/v1alpha1");
  EXPECT_EQ(l.set.others[0].kind, "RolloutWebhooks");
  EXPECT_EQ(l.set.others[0].name, "shop-hooks");
  EXPECT_EQ(l.set.others[0].file, "r.yaml");
}

TEST(ManifestDocuments, InvalidRampKindsAreNotKept) {
  Loaded unknown(std::string(kWebhooks).replace(std::string(kWebhooks).find("RolloutWebhooks"), 15,
                                                "RolloutWebhook"));
  EXPECT_THAT(unknown.Errors(), ElementsAre(Diag("2:7", "kind",
                                                 "unknown kind \"RolloutWebhook\" (did you mean "
                                                 "\"RolloutWebhooks\"?)")));
  EXPECT_TRUE(unknown.set.others.empty());
  Loaded bad(std::string(kWebhooks) + "  hooks: []\n");
  EXPECT_THAT(bad.Errors(), ElementsAre(Diag("12:3", "spec.hooks", "unknown field \"hooks\"")));
  EXPECT_TRUE(bad.set.others.empty());
}

TEST(ManifestDocuments, OtherKindsAreKeptUnchecked) {
  Loaded l(
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  anything: 1\n"
      "whatever: {free: form}\n");
  EXPECT_THAT(l.Strings(), IsEmpty());
  ASSERT_EQ(l.set.others.size(), 1u);
  EXPECT_EQ(l.set.others[0].kind, "ConfigMap");
  EXPECT_EQ(l.set.others[0].name, "settings");
  EXPECT_TRUE(l.set.others[0].doc.root.Find("whatever")->IsMap());
}

TEST(ManifestDocuments, ArgoKindsAreDispatched) {
  const std::string metric =
      "spec:\n  metrics:\n  - name: m\n    provider:\n      web:\n        url: http://svc/m\n";
  Loaded l(RolloutDoc("canary: {}\n") +
           "---\napiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n"
           "  name: t\n" +
           metric +
           "---\napiVersion: argoproj.io/v1alpha1\nkind: ClusterAnalysisTemplate\nmetadata:\n"
           "  name: ct\n" +
           metric);
  EXPECT_THAT(l.Strings(), IsEmpty());
  EXPECT_EQ(l.set.rollouts.size(), 1u);
  ASSERT_EQ(l.set.analysis_templates.size(), 1u);
  EXPECT_EQ(l.set.analysis_templates[0].object->metadata.name, "t");
  ASSERT_EQ(l.set.cluster_analysis_templates.size(), 1u);
  EXPECT_EQ(l.set.cluster_analysis_templates[0].object->metadata.name, "ct");
  EXPECT_TRUE(l.set.others.empty());
  EXPECT_EQ(l.set.documents, 3u);
}

TEST(ManifestDocuments, DiagnosticsOfEachDocumentKeepTheirOwnPositions) {
  std::string bad_second = RolloutDoc("canary:\n  steps:\n  - setWeight: 101\n");
  Loaded l(RolloutDoc("canary: {}\n") + "---\n" + bad_second);
  // The first document has 19 lines, then ---; the second starts on line 21.
  EXPECT_THAT(l.Strings(), ElementsAre("r.yaml:41:9: spec.strategy.canary.steps[0].setWeight: "
                                       "SetWeight needs to be between 0 and 100"));
  EXPECT_EQ(l.set.rollouts.size(), 1u);
}

}  // namespace
}  // namespace ramp::spec
