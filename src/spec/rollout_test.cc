#include "spec/rollout.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "spec/manifest.h"
#include "spec/manifest_testing.h"

namespace ramp::spec {
namespace {

using testing_util::Diag;
using testing_util::Indent;
using testing_util::Loaded;

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// ---------------------------------------------------------------------------------------------
// Helpers.

// A valid Rollout up to `strategy:`; the strategy starts on line 18 at column 5.
constexpr char kHead[] =
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
    "    spec:\n"                         // 13
    "      containers:\n"                 // 14
    "      - name: shop\n"                // 15
    "        image: shop:1.0\n"           // 16
    "  strategy:\n";                      // 17

// A complete Rollout: `strategy` is the content of spec.strategy and `spec_extra` more fields of
// spec, both written at column 0.
std::string RolloutDoc(std::string_view strategy, std::string_view spec_extra = "") {
  return std::string(kHead) + Indent(strategy, 4) + Indent(spec_extra, 2);
}

// A Rollout with a canary strategy whose fields are `body` (column 0; starts on line 19).
std::string Canary(std::string_view body, std::string_view spec_extra = "") {
  std::string strategy = body.empty() ? "canary: {}\n" : "canary:\n" + Indent(body, 2);
  return RolloutDoc(strategy, spec_extra);
}

constexpr char kServices[] = "canaryService: shop-canary\nstableService: shop-stable\n";

// A canary with both services set and `body` after them.
std::string RoutedCanary(std::string_view body, std::string_view spec_extra = "") {
  return Canary(std::string(kServices) + std::string(body), spec_extra);
}

// A Rollout with a blue-green strategy whose fields are `body` (column 0; starts on line 19).
std::string BlueGreen(std::string_view body, std::string_view spec_extra = "") {
  return RolloutDoc("blueGreen:\n" + Indent(body, 2), spec_extra);
}

constexpr char kBlueGreenServices[] = "activeService: shop-active\npreviewService: shop-preview\n";

// `text` with the single occurrence of `from` replaced by `to`.
std::string Replace(std::string text, std::string_view from, std::string_view to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "no \"" << from << "\" in:\n" << text;
  if (at == std::string::npos) return text;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << "\"" << from << "\" is not unique";
  return text.replace(at, from.size(), to);
}

// The document loads as one Rollout with no diagnostics at all.
void ExpectClean(const Loaded& l) {
  EXPECT_THAT(l.Strings(), IsEmpty());
  EXPECT_EQ(l.set.rollouts.size(), 1u);
}

// The document has exactly one error, matching, and is not loaded.
void ExpectOnlyError(const Loaded& l, const std::string& pos, const std::string& path,
                     const std::string& fragment) {
  EXPECT_THAT(l.Errors(), ElementsAre(Diag(pos, path, fragment)));
  EXPECT_TRUE(l.set.rollouts.empty());
}

// ---------------------------------------------------------------------------------------------
// The helper itself.

TEST(RolloutHelper, BaseDocumentsAreValid) {
  ExpectClean(Loaded(Canary("")));
  ExpectClean(Loaded(Canary("steps:\n- setWeight: 20\n- pause: {}\n")));
  ExpectClean(Loaded(BlueGreen(kBlueGreenServices)));
  Loaded l(Canary("maxSurge: 1\n"));
  EXPECT_EQ(l.Pos("maxSurge"), "19:7");
  EXPECT_EQ(l.Pos("strategy:"), "17:3");
}

// ---------------------------------------------------------------------------------------------
// Decoding.

TEST(RolloutDecode, TopLevelSpecFields) {
  Loaded l(R"y(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: shop
  namespace: prod
  labels:
    team: web
  annotations:
    note: hello
spec:
  replicas: 5
  selector:
    matchLabels:
      app: shop
    matchExpressions:
    - key: tier
      operator: In
      values: [web, api]
  template:
    metadata:
      labels:
        app: shop
        tier: web
      annotations:
        prometheus.io/scrape: "true"
    spec:
      containers:
      - name: shop
        image: shop:1.0
        command: [/bin/shop]
        args: [--port, "8080"]
        env:
        - name: MODE
          value: fast
        ports:
        - name: http
          containerPort: 8080
        - name: metrics
          containerPort: 9090
          protocol: UDP
  minReadySeconds: 10
  rollbackWindow:
    revisions: 3
  revisionHistoryLimit: 4
  paused: true
  progressDeadlineSeconds: 120
  progressDeadlineAbort: true
  restartAt: "2024-01-02T03:04:05Z"
  analysis:
    successfulRunHistoryLimit: 7
    unsuccessfulRunHistoryLimit: 2
  strategy:
    canary: {}
status:
  phase: Healthy
  currentPodHash: abc
)y");
  EXPECT_THAT(l.Errors(), IsEmpty()) << l.Dump();
  const Rollout& ro = l.ro();
  EXPECT_EQ(ro.metadata.name, "shop");
  EXPECT_EQ(ro.metadata.namespace_, "prod");
  EXPECT_EQ(ro.metadata.labels.at("team"), "web");
  EXPECT_EQ(ro.metadata.annotations.at("note"), "hello");
  const RolloutSpec& s = ro.spec;
  EXPECT_EQ(s.replicas, 5);
  EXPECT_EQ(s.EffectiveReplicas(), 5);
  ASSERT_TRUE(s.selector.has_value());
  EXPECT_EQ(s.selector->match_labels.at("app"), "shop");
  ASSERT_EQ(s.selector->match_expressions.size(), 1u);
  EXPECT_EQ(s.selector->match_expressions[0].key, "tier");
  EXPECT_EQ(s.selector->match_expressions[0].op, "In");
  EXPECT_THAT(s.selector->match_expressions[0].values, ElementsAre("web", "api"));
  EXPECT_FALSE(s.template_.empty);
  EXPECT_EQ(s.template_.metadata.labels.at("tier"), "web");
  EXPECT_EQ(s.template_.metadata.annotations.at("prometheus.io/scrape"), "true");
  EXPECT_EQ(s.template_.raw["spec"]["containers"][0]["image"], "shop:1.0");
  EXPECT_EQ(s.template_.raw["metadata"]["labels"]["app"], "shop");
  ASSERT_EQ(s.template_.containers.size(), 1u);
  const Container& c = s.template_.containers[0];
  EXPECT_EQ(c.name, "shop");
  EXPECT_EQ(c.image, "shop:1.0");
  EXPECT_THAT(c.command, ElementsAre("/bin/shop"));
  EXPECT_THAT(c.args, ElementsAre("--port", "8080"));
  ASSERT_EQ(c.env.size(), 1u);
  EXPECT_EQ(c.env[0].name, "MODE");
  EXPECT_EQ(c.env[0].value, "fast");
  EXPECT_FALSE(c.env[0].value_from.has_value());
  ASSERT_EQ(c.ports.size(), 2u);
  EXPECT_EQ(c.ports[0].name, "http");
  EXPECT_EQ(c.ports[0].container_port, 8080);
  EXPECT_EQ(c.ports[0].protocol, "TCP");
  EXPECT_EQ(c.ports[1].container_port, 9090);
  EXPECT_EQ(c.ports[1].protocol, "UDP");
  EXPECT_EQ(s.min_ready_seconds, 10);
  EXPECT_EQ(s.rollback_window_revisions, 3);
  EXPECT_EQ(s.revision_history_limit, 4);
  EXPECT_EQ(s.EffectiveRevisionHistoryLimit(), 4);
  EXPECT_TRUE(s.paused);
  EXPECT_EQ(s.progress_deadline_seconds, 120);
  EXPECT_EQ(s.EffectiveProgressDeadlineSeconds(), 120);
  EXPECT_TRUE(s.progress_deadline_abort);
  EXPECT_EQ(s.restart_at, "2024-01-02T03:04:05Z");
  EXPECT_EQ(s.successful_run_history_limit, 7);
  EXPECT_EQ(s.unsuccessful_run_history_limit, 2);
  EXPECT_EQ(s.EffectiveSuccessfulRunHistoryLimit(), 7);
  EXPECT_EQ(s.EffectiveUnsuccessfulRunHistoryLimit(), 2);
  EXPECT_TRUE(s.canary.has_value());
  EXPECT_FALSE(s.blue_green.has_value());
  EXPECT_FALSE(s.workload_ref.has_value());
  ASSERT_TRUE(ro.status.has_value());
  EXPECT_EQ((*ro.status)["phase"], "Healthy");
  EXPECT_EQ((*ro.status)["currentPodHash"], "abc");
}

TEST(RolloutDecode, EnvValueFromIsKeptAsJson) {
  Loaded l(Replace(Canary(""), "        image: shop:1.0\n",
                   "        image: shop:1.0\n"
                   "        env:\n"
                   "        - name: POD\n"
                   "          valueFrom:\n"
                   "            fieldRef:\n"
                   "              fieldPath: metadata.name\n"));
  EXPECT_THAT(l.Errors(), IsEmpty()) << l.Dump();
  const auto& env = l.ro().spec.template_.containers.at(0).env;
  ASSERT_EQ(env.size(), 1u);
  ASSERT_TRUE(env[0].value_from.has_value());
  EXPECT_EQ((*env[0].value_from)["fieldRef"]["fieldPath"], "metadata.name");
}

TEST(RolloutDecode, CanaryStrategyFields) {
  Loaded l(RoutedCanary(R"y(maxSurge: "50%"
maxUnavailable: 1
scaleDownDelaySeconds: 45
scaleDownDelayRevisionLimit: 2
abortScaleDownDelaySeconds: 0
minPodsPerReplicaSet: 2
replicaProgressThreshold:
  type: Percent
  value: 90
antiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    weight: 40
canaryMetadata:
  labels:
    role: canary
  annotations:
    owner: web
stableMetadata:
  labels:
    role: stable
analysis:
  templates:
  - templateName: success-rate
  - templateName: latency
    clusterScope: true
  startingStep: 1
  args:
  - name: service
    value: shop
  dryRun:
  - metricName: latency
  measurementRetention:
  - metricName: .*
    limit: 20
  analysisRunMetadata:
    labels:
      run: background
trafficRouting:
  smi:
    rootService: shop
    trafficSplitName: shop-split
steps:
- setWeight: 20
- pause: {duration: 1m}
)y"));
  EXPECT_THAT(l.Strings(), IsEmpty());
  const CanaryStrategy& c = l.canary();
  EXPECT_EQ(c.canary_service, "shop-canary");
  EXPECT_EQ(c.stable_service, "shop-stable");
  EXPECT_EQ(c.max_surge, IntOrString::Str("50%"));
  EXPECT_EQ(c.EffectiveMaxSurge(), IntOrString::Str("50%"));
  EXPECT_EQ(c.max_unavailable, IntOrString::Int(1));
  EXPECT_EQ(c.EffectiveMaxUnavailable(), IntOrString::Int(1));
  EXPECT_EQ(c.scale_down_delay_seconds, 45);
  EXPECT_EQ(c.EffectiveScaleDownDelaySeconds(), 45);
  EXPECT_EQ(c.scale_down_delay_revision_limit, 2);
  EXPECT_EQ(c.abort_scale_down_delay_seconds, 0);
  EXPECT_EQ(c.EffectiveAbortScaleDownDelaySeconds(), 0);
  EXPECT_EQ(c.min_pods_per_replica_set, 2);
  ASSERT_TRUE(c.replica_progress_threshold.has_value());
  EXPECT_EQ(c.replica_progress_threshold->type, "Percent");
  EXPECT_EQ(c.replica_progress_threshold->value, 90);
  ASSERT_TRUE(c.anti_affinity.has_value());
  EXPECT_TRUE(c.anti_affinity->has_preferred);
  EXPECT_FALSE(c.anti_affinity->has_required);
  EXPECT_EQ(c.anti_affinity->preferred_weight, 40);
  ASSERT_TRUE(c.canary_metadata.has_value());
  EXPECT_EQ(c.canary_metadata->labels.at("role"), "canary");
  EXPECT_EQ(c.canary_metadata->annotations.at("owner"), "web");
  ASSERT_TRUE(c.stable_metadata.has_value());
  EXPECT_EQ(c.stable_metadata->labels.at("role"), "stable");
  EXPECT_FALSE(c.dynamic_stable_scale);
  EXPECT_FALSE(c.ping_pong.has_value());
  ASSERT_TRUE(c.analysis.has_value());
  const RolloutAnalysis& a = *c.analysis;
  ASSERT_EQ(a.templates.size(), 2u);
  EXPECT_EQ(a.templates[0].template_name, "success-rate");
  EXPECT_EQ(a.templates[0].cluster_scope, false);
  EXPECT_EQ(a.templates[1].template_name, "latency");
  EXPECT_EQ(a.templates[1].cluster_scope, true);
  EXPECT_EQ(a.starting_step, 1);
  ASSERT_EQ(a.args.size(), 1u);
  EXPECT_EQ(a.args[0].name, "service");
  EXPECT_EQ(a.args[0].value, "shop");
  ASSERT_EQ(a.dry_run.size(), 1u);
  EXPECT_EQ(a.dry_run[0].metric_name, "latency");
  ASSERT_EQ(a.measurement_retention.size(), 1u);
  EXPECT_EQ(a.measurement_retention[0].metric_name, ".*");
  EXPECT_EQ(a.measurement_retention[0].limit, 20);
  ASSERT_TRUE(a.analysis_run_metadata.has_value());
  EXPECT_EQ(a.analysis_run_metadata->labels.at("run"), "background");
  const RolloutTrafficRouting& t = l.routing();
  ASSERT_TRUE(t.smi.has_value());
  EXPECT_EQ(t.smi->root_service, "shop");
  EXPECT_EQ(t.smi->traffic_split_name, "shop-split");
  EXPECT_FALSE(t.istio || t.nginx || t.alb || t.ambassador_mappings || t.app_mesh ||
               t.traefik_weighted_service || t.has_apisix);
  ASSERT_EQ(c.steps.size(), 2u);
  EXPECT_EQ(c.steps[0].set_weight, 20);
  ASSERT_TRUE(c.steps[1].pause.has_value());
  EXPECT_EQ(c.steps[1].pause->DurationSeconds(), 60);
}

TEST(RolloutDecode, AntiAffinityRequired) {
  Loaded l(Canary("antiAffinity:\n  requiredDuringSchedulingIgnoredDuringExecution: {}\n"));
  ExpectClean(l);
  ASSERT_TRUE(l.canary().anti_affinity.has_value());
  EXPECT_TRUE(l.canary().anti_affinity->has_required);
  EXPECT_FALSE(l.canary().anti_affinity->has_preferred);
}

TEST(RolloutDecode, IstioVirtualServiceAndDestinationRule) {
  Loaded l(RoutedCanary(R"y(trafficRouting:
  istio:
    virtualService:
      name: shop-vs
      routes: [primary, secondary]
      tlsRoutes:
      - port: 443
        sniHosts: [shop.example.com, www.example.com]
      tcpRoutes:
      - port: 9000
    destinationRule:
      name: shop-dr
      canarySubsetName: canary
      stableSubsetName: stable
      additionalSubsetNames: [mirror]
)y"));
  ExpectClean(l);
  ASSERT_TRUE(l.routing().istio.has_value());
  const IstioTrafficRouting& i = *l.routing().istio;
  ASSERT_TRUE(i.virtual_service.has_value());
  EXPECT_TRUE(i.virtual_services.empty());
  EXPECT_EQ(i.virtual_service->name, "shop-vs");
  EXPECT_THAT(i.virtual_service->routes, ElementsAre("primary", "secondary"));
  ASSERT_EQ(i.virtual_service->tls_routes.size(), 1u);
  EXPECT_EQ(i.virtual_service->tls_routes[0].port, 443);
  EXPECT_THAT(i.virtual_service->tls_routes[0].sni_hosts,
              ElementsAre("shop.example.com", "www.example.com"));
  EXPECT_THAT(i.virtual_service->tcp_route_ports, ElementsAre(9000));
  ASSERT_TRUE(i.destination_rule.has_value());
  EXPECT_EQ(i.destination_rule->name, "shop-dr");
  EXPECT_EQ(i.destination_rule->canary_subset_name, "canary");
  EXPECT_EQ(i.destination_rule->stable_subset_name, "stable");
  EXPECT_THAT(i.destination_rule->additional_subset_names, ElementsAre("mirror"));
}

TEST(RolloutDecode, IstioVirtualServices) {
  Loaded l(RoutedCanary(R"y(trafficRouting:
  istio:
    virtualServices:
    - name: vs-a
      routes: [primary]
    - name: vs-b
)y"));
  ExpectClean(l);
  const IstioTrafficRouting& i = *l.routing().istio;
  EXPECT_FALSE(i.virtual_service.has_value());
  ASSERT_EQ(i.virtual_services.size(), 2u);
  EXPECT_EQ(i.virtual_services[0].name, "vs-a");
  EXPECT_THAT(i.virtual_services[0].routes, ElementsAre("primary"));
  EXPECT_EQ(i.virtual_services[1].name, "vs-b");
  EXPECT_TRUE(i.virtual_services[1].routes.empty());
}

TEST(RolloutDecode, IstioNeedsExactlyOneOfVirtualServiceAndVirtualServices) {
  Loaded both(RoutedCanary(R"y(trafficRouting:
  istio:
    virtualService: {name: a}
    virtualServices:
    - name: b
)y"));
  ExpectOnlyError(both, both.Pos("virtualService: {name: a}"),
                  "spec.strategy.canary.trafficRouting.istio",
                  "either VirtualService or VirtualServices must be configured");
  Loaded neither(
      RoutedCanary("trafficRouting:\n  istio:\n    destinationRule: {name: d, "
                   "canarySubsetName: c, stableSubsetName: s}\n"));
  EXPECT_THAT(neither.Errors(), ElementsAre(Diag(neither.Pos("destinationRule"),
                                                 "spec.strategy.canary.trafficRouting.istio",
                                                 "either VirtualService or VirtualServices")));
}

TEST(RolloutDecode, IstioDestinationRuleNeedsItsNames) {
  Loaded l(
      RoutedCanary("trafficRouting:\n  istio:\n    virtualService: {name: vs}\n"
                   "    destinationRule:\n      name: dr\n      stableSubsetName: stable\n"));
  ExpectOnlyError(l, l.Pos("name: dr"),
                  "spec.strategy.canary.trafficRouting.istio.destinationRule.canarySubsetName",
                  "Required value");
}

TEST(RolloutDecode, Nginx) {
  Loaded l(RoutedCanary(R"y(dynamicStableScale: true
trafficRouting:
  nginx:
    stableIngress: shop-ingress
    annotationPrefix: custom.nginx.org
    additionalIngressAnnotations:
      canary-by-header: X-Canary
    canaryIngressAnnotations:
      my-org.com/team: web
)y"));
  ExpectClean(l);
  ASSERT_TRUE(l.routing().nginx.has_value());
  const NginxTrafficRouting& n = *l.routing().nginx;
  EXPECT_EQ(n.stable_ingress, "shop-ingress");
  EXPECT_TRUE(n.stable_ingresses.empty());
  EXPECT_EQ(n.annotation_prefix, "custom.nginx.org");
  EXPECT_EQ(n.additional_ingress_annotations.at("canary-by-header"), "X-Canary");
  EXPECT_EQ(n.canary_ingress_annotations.at("my-org.com/team"), "web");
  EXPECT_TRUE(l.canary().dynamic_stable_scale);
}

TEST(RolloutDecode, NginxStableIngresses) {
  Loaded l(RoutedCanary("trafficRouting:\n  nginx:\n    stableIngresses: [a, b]\n"));
  ExpectClean(l);
  EXPECT_THAT(l.routing().nginx->stable_ingresses, ElementsAre("a", "b"));
  EXPECT_TRUE(l.routing().nginx->stable_ingress.empty());
}

TEST(RolloutDecode, NginxNeedsExactlyOneStableIngressField) {
  Loaded both(
      RoutedCanary("trafficRouting:\n  nginx:\n    stableIngress: a\n"
                   "    stableIngresses: [b]\n"));
  ExpectOnlyError(both, both.Pos("stableIngress: a"), "spec.strategy.canary.trafficRouting.nginx",
                  "Both are configured");
  Loaded neither(RoutedCanary("trafficRouting:\n  nginx: {annotationPrefix: x}\n"));
  ExpectOnlyError(neither, neither.Pos("{annotationPrefix"),
                  "spec.strategy.canary.trafficRouting.nginx", "Neither are configured");
}

TEST(RolloutDecode, AlbWithStickiness) {
  Loaded l(RoutedCanary(R"y(trafficRouting:
  alb:
    ingress: shop-ingress
    servicePort: 443
    rootService: shop-root
    annotationPrefix: custom.alb.ingress.kubernetes.io
    stickinessConfig:
      enabled: true
      durationSeconds: 3600
)y"));
  ExpectClean(l);
  ASSERT_TRUE(l.routing().alb.has_value());
  const AlbTrafficRouting& a = *l.routing().alb;
  EXPECT_EQ(a.ingress, "shop-ingress");
  EXPECT_EQ(a.service_port, 443);
  EXPECT_EQ(a.root_service, "shop-root");
  EXPECT_EQ(a.annotation_prefix, "custom.alb.ingress.kubernetes.io");
  ASSERT_TRUE(a.stickiness_config.has_value());
  EXPECT_TRUE(a.stickiness_config->enabled);
  EXPECT_EQ(a.stickiness_config->duration_seconds, 3600);
}

TEST(RolloutDecode, AlbIngresses) {
  Loaded l(RoutedCanary("trafficRouting:\n  alb:\n    ingresses: [a, b]\n    servicePort: 80\n"));
  ExpectClean(l);
  EXPECT_THAT(l.routing().alb->ingresses, ElementsAre("a", "b"));
  EXPECT_FALSE(l.routing().alb->stickiness_config.has_value());
}

TEST(RolloutDecode, AlbRules) {
  Loaded port(RoutedCanary("trafficRouting:\n  alb:\n    ingress: a\n"));
  ExpectOnlyError(port, port.Pos("ingress: a"),
                  "spec.strategy.canary.trafficRouting.alb.servicePort", "Required value");
  Loaded both(RoutedCanary(
      "trafficRouting:\n  alb:\n    ingress: a\n    ingresses: [b]\n    servicePort: 80\n"));
  ExpectOnlyError(both, both.Pos("ingress: a"), "spec.strategy.canary.trafficRouting.alb",
                  "Either Ingress or Ingresses must be configured. Both are configured.");
  Loaded neither(RoutedCanary("trafficRouting:\n  alb:\n    servicePort: 80\n"));
  ExpectOnlyError(neither, neither.Pos("servicePort"), "spec.strategy.canary.trafficRouting.alb",
                  "Neither are configured.");
  Loaded sticky(
      RoutedCanary("trafficRouting:\n  alb:\n    ingress: a\n    servicePort: 80\n"
                   "    stickinessConfig:\n      enabled: true\n      durationSeconds: 604801\n"));
  ExpectOnlyError(sticky, sticky.Pos("durationSeconds"),
                  "spec.strategy.canary.trafficRouting.alb.stickinessConfig.durationSeconds",
                  "must be between 1 and 604800 seconds");
}

TEST(RolloutDecode, Ambassador) {
  Loaded l(RoutedCanary("trafficRouting:\n  ambassador:\n    mappings: [shop-a, shop-b]\n"));
  ExpectClean(l);
  ASSERT_TRUE(l.routing().ambassador_mappings.has_value());
  EXPECT_THAT(*l.routing().ambassador_mappings, ElementsAre("shop-a", "shop-b"));

  Loaded empty(RoutedCanary("trafficRouting:\n  ambassador:\n    mappings: []\n"));
  ExpectOnlyError(empty, empty.Pos("mappings"),
                  "spec.strategy.canary.trafficRouting.ambassador.mappings", "Required value");
}

TEST(RolloutDecode, AppMesh) {
  Loaded l(RoutedCanary(R"y(trafficRouting:
  appMesh:
    virtualService:
      name: shop-vsvc
      routes: [primary]
    virtualNodeGroup:
      canaryVirtualNodeRef:
        name: shop-canary-vn
      stableVirtualNodeRef:
        name: shop-stable-vn
)y"));
  ExpectClean(l);
  ASSERT_TRUE(l.routing().app_mesh.has_value());
  const AppMeshTrafficRouting& m = *l.routing().app_mesh;
  ASSERT_TRUE(m.virtual_service.has_value());
  EXPECT_EQ(m.virtual_service->name, "shop-vsvc");
  EXPECT_THAT(m.virtual_service->routes, ElementsAre("primary"));
  EXPECT_TRUE(m.has_virtual_node_group);
  EXPECT_EQ(m.canary_virtual_node, "shop-canary-vn");
  EXPECT_EQ(m.stable_virtual_node, "shop-stable-vn");
}

TEST(RolloutDecode, AppMeshRules) {
  // App Mesh's virtualService has no Istio TLS/TCP routes.
  Loaded tls(
      RoutedCanary("trafficRouting:\n  appMesh:\n    virtualService:\n      name: v\n"
                   "      tlsRoutes: []\n"));
  ExpectOnlyError(tls, tls.Pos("tlsRoutes"),
                  "spec.strategy.canary.trafficRouting.appMesh.virtualService.tlsRoutes",
                  "unknown field \"tlsRoutes\"");
  Loaded node(
      RoutedCanary("trafficRouting:\n  appMesh:\n    virtualNodeGroup:\n"
                   "      canaryVirtualNodeRef: {name: c}\n"));
  ExpectOnlyError(node, node.Pos("canaryVirtualNodeRef"),
                  "spec.strategy.canary.trafficRouting.appMesh.virtualNodeGroup."
                  "stableVirtualNodeRef",
                  "Required value");
}

TEST(RolloutDecode, Traefik) {
  Loaded l(RoutedCanary("trafficRouting:\n  traefik:\n    weightedTraefikServiceName: shop-wts\n"));
  ExpectClean(l);
  EXPECT_EQ(l.routing().traefik_weighted_service, "shop-wts");

  Loaded empty(RoutedCanary("trafficRouting:\n  traefik: {}\n"));
  ExpectOnlyError(empty, empty.Pos("{}"),
                  "spec.strategy.canary.trafficRouting.traefik.weightedTraefikServiceName",
                  "Required value");
}

TEST(RolloutDecode, Apisix) {
  Loaded l(RoutedCanary(
      "trafficRouting:\n  apisix:\n    route:\n      name: shop-route\n      rules: [r1, r2]\n"));
  ExpectClean(l);
  EXPECT_TRUE(l.routing().has_apisix);
  EXPECT_EQ(l.routing().apisix_route_name, "shop-route");
  EXPECT_THAT(l.routing().apisix_route_rules, ElementsAre("r1", "r2"));

  Loaded unnamed(RoutedCanary("trafficRouting:\n  apisix:\n    route:\n      rules: [r1]\n"));
  ExpectOnlyError(unnamed, unnamed.Pos("rules"),
                  "spec.strategy.canary.trafficRouting.apisix.route.name", "Required value");
}

TEST(RolloutDecode, ManagedRoutesPluginsAndMaxTrafficWeight) {
  Loaded l(Canary(R"y(trafficRouting:
  managedRoutes:
  - name: header-route
  - name: mirror-route
  maxTrafficWeight: 1000
  plugins:
    argoproj-labs/gatewayAPI:
      httpRoute: shop-route
      namespace: web
    example.com/other: {}
steps:
- setWeight: 250
)y"));
  ExpectClean(l);
  const RolloutTrafficRouting& t = l.routing();
  ASSERT_TRUE(t.managed_routes.has_value());
  EXPECT_THAT(*t.managed_routes, ElementsAre("header-route", "mirror-route"));
  EXPECT_EQ(t.max_traffic_weight, 1000);
  EXPECT_EQ(t.EffectiveMaxTrafficWeight(), 1000);
  ASSERT_EQ(t.plugins.size(), 2u);
  EXPECT_EQ(t.plugins.at("argoproj-labs/gatewayAPI")["httpRoute"], "shop-route");
  EXPECT_TRUE(t.plugins.at("example.com/other").is_object());
  EXPECT_EQ(l.step(0).set_weight, 250);
}

TEST(RolloutDecode, TrafficRoutingRules) {
  Loaded name(Canary("trafficRouting:\n  plugins: {x/y: {}}\n  managedRoutes:\n  - {}\n"));
  ExpectOnlyError(name, name.Pos("{}", 1),
                  "spec.strategy.canary.trafficRouting.managedRoutes[0].name", "Required value");
  Loaded weight(Canary("trafficRouting:\n  plugins: {x/y: {}}\n  maxTrafficWeight: 0\n"));
  ExpectOnlyError(weight, weight.Pos("maxTrafficWeight"),
                  "spec.strategy.canary.trafficRouting.maxTrafficWeight", "must be at least 1");
  Loaded plugins(Canary("trafficRouting:\n  plugins: [x]\n"));
  ExpectOnlyError(plugins, plugins.Pos("[x]"), "spec.strategy.canary.trafficRouting.plugins",
                  "expected a map of plugin name to configuration");
}

TEST(RolloutDecode, ReplicaProgressThresholdType) {
  Loaded l(Canary("replicaProgressThreshold:\n  type: Percentage\n  value: 50\n"));
  ExpectOnlyError(l, l.Pos("type"), "spec.strategy.canary.replicaProgressThreshold.type",
                  "must be Percent or Pods (got \"Percentage\")");
  ExpectClean(Loaded(Canary("replicaProgressThreshold:\n  type: Pods\n  value: 2\n")));
}

TEST(RolloutDecode, PingPong) {
  Loaded l(Canary(R"y(pingPong:
  pingService: shop-ping
  pongService: shop-pong
trafficRouting:
  istio:
    virtualService: {name: shop-vs}
)y"));
  ExpectClean(l);
  ASSERT_TRUE(l.canary().ping_pong.has_value());
  EXPECT_EQ(l.canary().ping_pong->first, "shop-ping");
  EXPECT_EQ(l.canary().ping_pong->second, "shop-pong");
}

constexpr char kIstioManaged[] = R"y(trafficRouting:
  managedRoutes:
  - name: header
  - name: mirror
  istio:
    virtualService:
      name: shop-vs
)y";

TEST(RolloutDecode, EveryStepKind) {
  Loaded l(RoutedCanary(std::string(kIstioManaged) + R"y(steps:
- setCanaryScale:
    replicas: 2
- setCanaryScale:
    weight: 30
- setCanaryScale:
    matchTrafficWeight: true
- setWeight: 10
- setHeaderRoute:
    name: header
    match:
    - headerName: X-Canary
      headerValue:
        exact: "yes"
    - headerName: User-Agent
      headerValue:
        regex: .*Chrome.*
- setMirrorRoute:
    name: mirror
    percentage: 35
    match:
    - method:
        exact: GET
      path:
        prefix: /api
      headers:
        X-Debug:
          exact: "1"
- setMirrorRoute:
    name: mirror
- plugin:
    name: example.com/step
    config:
      level: 3
- plugin:
    name: example.com/bare
- setHeaderRoute:
    name: header
- pause: {}
)y"));
  ExpectClean(l);
  ASSERT_EQ(l.canary().steps.size(), 11u);
  ASSERT_TRUE(l.step(0).set_canary_scale.has_value());
  EXPECT_EQ(l.step(0).set_canary_scale->replicas, 2);
  EXPECT_FALSE(l.step(0).set_canary_scale->weight.has_value());
  EXPECT_FALSE(l.step(0).set_canary_scale->match_traffic_weight);
  EXPECT_EQ(l.step(1).set_canary_scale->weight, 30);
  EXPECT_TRUE(l.step(2).set_canary_scale->match_traffic_weight);
  EXPECT_EQ(l.step(3).set_weight, 10);
  EXPECT_FALSE(l.step(3).pause.has_value());

  ASSERT_TRUE(l.step(4).set_header_route.has_value());
  const SetHeaderRoute& h = *l.step(4).set_header_route;
  EXPECT_EQ(h.name, "header");
  ASSERT_EQ(h.match.size(), 2u);
  EXPECT_EQ(h.match[0].header_name, "X-Canary");
  ASSERT_TRUE(h.match[0].header_value.has_value());
  EXPECT_EQ(h.match[0].header_value->exact, "yes");
  EXPECT_EQ(h.match[1].header_value->regex, ".*Chrome.*");
  EXPECT_TRUE(h.match[1].header_value->exact.empty());

  ASSERT_TRUE(l.step(5).set_mirror_route.has_value());
  const SetMirrorRoute& m = *l.step(5).set_mirror_route;
  EXPECT_EQ(m.name, "mirror");
  EXPECT_EQ(m.percentage, 35);
  EXPECT_EQ(m.EffectivePercentage(), 35);
  ASSERT_EQ(m.match.size(), 1u);
  EXPECT_EQ(m.match[0].method->exact, "GET");
  EXPECT_EQ(m.match[0].path->prefix, "/api");
  EXPECT_EQ(m.match[0].headers.at("X-Debug").exact, "1");
  EXPECT_FALSE(l.step(6).set_mirror_route->percentage.has_value());
  EXPECT_EQ(l.step(6).set_mirror_route->EffectivePercentage(), 100);
  EXPECT_TRUE(l.step(6).set_mirror_route->match.empty());

  ASSERT_TRUE(l.step(7).plugin.has_value());
  EXPECT_EQ(l.step(7).plugin->name, "example.com/step");
  ASSERT_TRUE(l.step(7).plugin->config.has_value());
  EXPECT_EQ((*l.step(7).plugin->config)["level"], 3);
  EXPECT_FALSE(l.step(8).plugin->config.has_value());
  // A header route without match removes the route.
  ASSERT_TRUE(l.step(9).set_header_route.has_value());
  EXPECT_TRUE(l.step(9).set_header_route->match.empty());
  EXPECT_TRUE(l.step(10).pause.has_value());
}

TEST(RolloutDecode, PauseForms) {
  Loaded l(Canary(R"y(steps:
- pause: {duration: 30}
- pause: {duration: "30"}
- pause: {duration: 1h30m}
- pause: {}
- pause:
- pause: {duration: 1500ms}
- setWeight: 10
)y"));
  ExpectClean(l);
  ASSERT_EQ(l.canary().steps.size(), 7u);
  const auto& p0 = l.step(0).pause;
  ASSERT_TRUE(p0.has_value());
  EXPECT_EQ(p0->duration, IntOrString::Int(30));
  EXPECT_EQ(p0->DurationSeconds(), 30);
  EXPECT_EQ(l.step(1).pause->duration, IntOrString::Str("30"));
  EXPECT_EQ(l.step(1).pause->DurationSeconds(), 30);
  EXPECT_EQ(l.step(2).pause->duration, IntOrString::Str("1h30m"));
  EXPECT_EQ(l.step(2).pause->DurationSeconds(), 5400);
  // `pause: {}` and a bare `pause:` are both indefinite pauses.
  ASSERT_TRUE(l.step(3).pause.has_value());
  EXPECT_FALSE(l.step(3).pause->duration.has_value());
  EXPECT_EQ(l.step(3).pause->DurationSeconds(), std::nullopt);
  ASSERT_TRUE(l.step(4).pause.has_value());
  EXPECT_EQ(l.step(4).pause->DurationSeconds(), std::nullopt);
  EXPECT_EQ(l.step(5).pause->DurationSeconds(), 1);
  EXPECT_FALSE(l.step(6).pause.has_value());
}

TEST(RolloutDecode, ExperimentStep) {
  Loaded l(RoutedCanary(R"y(trafficRouting:
  istio:
    virtualService: {name: shop-vs}
steps:
- experiment:
    duration: 10m
    scaleDownDelaySeconds: 5
    templates:
    - name: baseline
      specRef: stable
      replicas: 1
      weight: 5
      metadata:
        labels:
          exp: baseline
      selector:
        matchLabels:
          app: shop-baseline
      service:
        name: shop-baseline
    - name: canary
      specRef: canary
      service: {}
    analyses:
    - name: compare
      templateName: compare
      clusterScope: true
      requiredForCompletion: true
      args:
      - name: baseline-hash
        valueFrom:
          podTemplateHashValue: Stable
    dryRun:
    - metricName: compare
    analysisRunMetadata:
      annotations:
        owner: web
)y"));
  ExpectClean(l);
  ASSERT_TRUE(l.step(0).experiment.has_value());
  const ExperimentStep& e = *l.step(0).experiment;
  EXPECT_EQ(e.duration.text, "10m");
  EXPECT_EQ(e.duration.nanos, int64_t{600} * 1'000'000'000);
  EXPECT_EQ(e.scale_down_delay_seconds, 5);
  ASSERT_EQ(e.templates.size(), 2u);
  const ExperimentTemplateRef& b = e.templates[0];
  EXPECT_EQ(b.name, "baseline");
  EXPECT_EQ(b.spec_ref, "stable");
  EXPECT_EQ(b.replicas, 1);
  EXPECT_EQ(b.weight, 5);
  EXPECT_EQ(b.metadata.labels.at("exp"), "baseline");
  ASSERT_TRUE(b.selector.has_value());
  EXPECT_EQ(b.selector->match_labels.at("app"), "shop-baseline");
  EXPECT_TRUE(b.has_service);
  EXPECT_EQ(b.service_name, "shop-baseline");
  EXPECT_EQ(e.templates[1].spec_ref, "canary");
  EXPECT_TRUE(e.templates[1].has_service);
  EXPECT_FALSE(e.templates[1].service_name.has_value());
  EXPECT_FALSE(e.templates[1].weight.has_value());
  ASSERT_EQ(e.analyses.size(), 1u);
  const ExperimentAnalysisRef& a = e.analyses[0];
  EXPECT_EQ(a.name, "compare");
  EXPECT_EQ(a.template_name, "compare");
  EXPECT_EQ(a.cluster_scope, true);
  EXPECT_TRUE(a.required_for_completion);
  ASSERT_EQ(a.args.size(), 1u);
  ASSERT_TRUE(a.args[0].value_from.has_value());
  EXPECT_EQ(a.args[0].value_from->pod_template_hash_value, "Stable");
  ASSERT_EQ(e.dry_run.size(), 1u);
  EXPECT_EQ(e.dry_run[0].metric_name, "compare");
  EXPECT_EQ(e.analysis_run_metadata.annotations.at("owner"), "web");
}

TEST(RolloutDecode, ExperimentStepRules) {
  Loaded none(Canary("steps:\n- experiment:\n    duration: 1m\n"));
  ExpectOnlyError(none, none.Pos("duration"), "spec.strategy.canary.steps[0].experiment.templates",
                  "Required value: at least one template");
  Loaded spec_ref(
      Canary("steps:\n- experiment:\n    templates:\n    - name: a\n"
             "      specRef: preview\n"));
  ExpectOnlyError(spec_ref, spec_ref.Pos("specRef"),
                  "spec.strategy.canary.steps[0].experiment.templates[0].specRef",
                  "must be canary or stable (got \"preview\")");
  Loaded duration(
      Canary("steps:\n- experiment:\n    duration: 30\n    templates:\n"
             "    - {name: a, specRef: canary}\n"));
  ExpectOnlyError(duration, duration.Pos("30"), "spec.strategy.canary.steps[0].experiment.duration",
                  "missing unit");
  Loaded analysis(
      Canary("steps:\n- experiment:\n    templates:\n    - {name: a, specRef: canary}\n"
             "    analyses:\n    - name: x\n"));
  ExpectOnlyError(analysis, analysis.Pos("name: x"),
                  "spec.strategy.canary.steps[0].experiment.analyses[0].templateName",
                  "Required value");
}

TEST(RolloutDecode, AnalysisStep) {
  Loaded l(Canary(R"y(steps:
- analysis:
    templates:
    - templateName: success-rate
    args:
    - name: service
      value: shop
    - name: hash
      valueFrom:
        podTemplateHashValue: Latest
    - name: region
      valueFrom:
        fieldRef:
          fieldPath: metadata.labels['region']
    dryRun:
    - metricName: error-rate
    measurementRetention:
    - metricName: latency
      limit: 5
    analysisRunMetadata:
      labels:
        step: analysis
)y"));
  ExpectClean(l);
  ASSERT_TRUE(l.step(0).analysis.has_value());
  const RolloutAnalysis& a = *l.step(0).analysis;
  ASSERT_EQ(a.templates.size(), 1u);
  EXPECT_EQ(a.templates[0].template_name, "success-rate");
  ASSERT_EQ(a.args.size(), 3u);
  EXPECT_EQ(a.args[0].value, "shop");
  EXPECT_FALSE(a.args[0].value_from.has_value());
  ASSERT_TRUE(a.args[1].value_from.has_value());
  EXPECT_EQ(a.args[1].value_from->pod_template_hash_value, "Latest");
  EXPECT_FALSE(a.args[1].value.has_value());
  ASSERT_TRUE(a.args[2].value_from.has_value());
  EXPECT_EQ(a.args[2].value_from->field_ref, "metadata.labels['region']");
  ASSERT_EQ(a.dry_run.size(), 1u);
  EXPECT_EQ(a.dry_run[0].metric_name, "error-rate");
  ASSERT_EQ(a.measurement_retention.size(), 1u);
  EXPECT_EQ(a.measurement_retention[0].limit, 5);
  EXPECT_EQ(a.analysis_run_metadata->labels.at("step"), "analysis");
  EXPECT_FALSE(a.starting_step.has_value());
}

TEST(RolloutDecode, AnalysisStepRules) {
  // startingStep belongs to background analysis only.
  Loaded start(
      Canary("steps:\n- analysis:\n    templates: [{templateName: a}]\n"
             "    startingStep: 1\n"));
  ExpectOnlyError(start, start.Pos("startingStep"),
                  "spec.strategy.canary.steps[0].analysis.startingStep",
                  "unknown field \"startingStep\"");
  Loaded hash(
      Canary("steps:\n- analysis:\n    templates: [{templateName: a}]\n    args:\n"
             "    - name: h\n      valueFrom: {podTemplateHashValue: Newest}\n"));
  ExpectOnlyError(hash, hash.Pos("podTemplateHashValue"),
                  "spec.strategy.canary.steps[0].analysis.args[0].valueFrom.podTemplateHashValue",
                  "must be Stable or Latest (got \"Newest\")");
  // secretKeyRef is for AnalysisTemplate arguments, not a Rollout's.
  Loaded secret(
      Canary("steps:\n- analysis:\n    templates: [{templateName: a}]\n    args:\n"
             "    - name: s\n      valueFrom: {secretKeyRef: {name: n, key: k}}\n"));
  ExpectOnlyError(secret, secret.Pos("secretKeyRef"),
                  "spec.strategy.canary.steps[0].analysis.args[0].valueFrom.secretKeyRef",
                  "unknown field \"secretKeyRef\"");
}

TEST(RolloutDecode, StepRules) {
  Loaded percentage(Canary(std::string(kIstioManaged) +
                           "steps:\n- setMirrorRoute:\n    name: mirror\n    percentage: 101\n"));
  EXPECT_THAT(percentage.Errors(),
              ElementsAre(Diag(percentage.Pos("percentage"),
                               "spec.strategy.canary.steps[0].setMirrorRoute.percentage",
                               "must be between 0 and 100")));
  Loaded plugin(Canary("steps:\n- plugin:\n    config: {}\n"));
  ExpectOnlyError(plugin, plugin.Pos("config"), "spec.strategy.canary.steps[0].plugin.name",
                  "Required value");
  Loaded header(Canary(std::string(kIstioManaged) +
                       "steps:\n- setHeaderRoute:\n    name: header\n    match:\n"
                       "    - headerValue: {exact: a}\n"));
  ExpectOnlyError(header, header.Pos("headerValue"),
                  "spec.strategy.canary.steps[0].setHeaderRoute.match[0].headerName",
                  "Required value");
}

TEST(RolloutDecode, BlueGreenStrategyFields) {
  Loaded l(BlueGreen(R"y(activeService: shop-active
previewService: shop-preview
previewReplicaCount: 1
autoPromotionEnabled: false
maxUnavailable: "10%"
scaleDownDelaySeconds: 60
scaleDownDelayRevisionLimit: 3
abortScaleDownDelaySeconds: 10
prePromotionAnalysis:
  templates:
  - templateName: smoke
  args:
  - name: svc
    value: shop-preview
postPromotionAnalysis:
  templates:
  - templateName: soak
antiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution: {}
previewMetadata:
  labels: {role: preview}
activeMetadata:
  labels: {role: active}
)y"));
  ExpectClean(l);
  ASSERT_TRUE(l.ro().spec.blue_green.has_value());
  EXPECT_FALSE(l.ro().spec.canary.has_value());
  const BlueGreenStrategy& b = *l.ro().spec.blue_green;
  EXPECT_EQ(b.active_service, "shop-active");
  EXPECT_EQ(b.preview_service, "shop-preview");
  EXPECT_EQ(b.preview_replica_count, 1);
  EXPECT_EQ(b.auto_promotion_enabled, false);
  EXPECT_FALSE(b.EffectiveAutoPromotionEnabled());
  EXPECT_EQ(b.auto_promotion_seconds, 0);
  EXPECT_EQ(b.max_unavailable, IntOrString::Str("10%"));
  EXPECT_EQ(b.scale_down_delay_seconds, 60);
  EXPECT_EQ(b.EffectiveScaleDownDelaySeconds(), 60);
  EXPECT_EQ(b.scale_down_delay_revision_limit, 3);
  EXPECT_EQ(b.abort_scale_down_delay_seconds, 10);
  EXPECT_EQ(b.EffectiveAbortScaleDownDelaySeconds(), 10);
  ASSERT_TRUE(b.pre_promotion_analysis.has_value());
  EXPECT_EQ(b.pre_promotion_analysis->templates.at(0).template_name, "smoke");
  EXPECT_EQ(b.pre_promotion_analysis->args.at(0).value, "shop-preview");
  ASSERT_TRUE(b.post_promotion_analysis.has_value());
  EXPECT_EQ(b.post_promotion_analysis->templates.at(0).template_name, "soak");
  ASSERT_TRUE(b.anti_affinity.has_value());
  EXPECT_TRUE(b.anti_affinity->has_required);
  EXPECT_EQ(b.preview_metadata->labels.at("role"), "preview");
  EXPECT_EQ(b.active_metadata->labels.at("role"), "active");
}

TEST(RolloutDecode, BlueGreenAutoPromotionSeconds) {
  Loaded l(BlueGreen(std::string(kBlueGreenServices) + "autoPromotionSeconds: 120\n"));
  ExpectClean(l);
  EXPECT_EQ(l.ro().spec.blue_green->auto_promotion_seconds, 120);
  EXPECT_TRUE(l.ro().spec.blue_green->EffectiveAutoPromotionEnabled());
}

TEST(RolloutDecode, WorkloadRef) {
  Loaded l(R"y(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: shop
spec:
  replicas: 2
  workloadRef:
    apiVersion: apps/v1
    kind: Deployment
    name: shop-deploy
    scaleDown: progressively
  strategy:
    canary: {}
)y");
  ExpectClean(l);
  const RolloutSpec& s = l.ro().spec;
  ASSERT_TRUE(s.workload_ref.has_value());
  EXPECT_EQ(s.workload_ref->api_version, "apps/v1");
  EXPECT_EQ(s.workload_ref->kind, "Deployment");
  EXPECT_EQ(s.workload_ref->name, "shop-deploy");
  EXPECT_EQ(s.workload_ref->scale_down, "progressively");
  EXPECT_TRUE(s.template_.empty);
  EXPECT_FALSE(s.selector.has_value());
}

TEST(RolloutDecode, JsonInput) {
  Loaded l(R"j({
  "apiVersion": "argoproj.io/v1alpha1",
  "kind": "Rollout",
  "metadata": {"name": "shop"},
  "spec": {
    "replicas": 2,
    "selector": {"matchLabels": {"app": "shop"}},
    "template": {
      "metadata": {"labels": {"app": "shop"}},
      "spec": {"containers": [{"name": "shop", "image": "shop:1.0"}]}
    },
    "strategy": {
      "canary": {
        "maxSurge": "50%",
        "steps": [{"setWeight": 20}, {"pause": {"duration": "30s"}}, {"pause": {}}]
      }
    }
  }
}
)j");
  ExpectClean(l);
  EXPECT_EQ(l.ro().spec.replicas, 2);
  EXPECT_EQ(l.canary().max_surge, IntOrString::Str("50%"));
  ASSERT_EQ(l.canary().steps.size(), 3u);
  EXPECT_EQ(l.step(0).set_weight, 20);
  EXPECT_EQ(l.step(1).pause->DurationSeconds(), 30);
  EXPECT_EQ(l.step(2).pause->DurationSeconds(), std::nullopt);
}

TEST(RolloutDecode, JsonErrorsHaveLineAndColumn) {
  Loaded l(R"j({
  "apiVersion": "argoproj.io/v1alpha1",
  "kind": "Rollout",
  "metadata": {"name": "shop"},
  "spec": {
    "replicas": "2",
    "selector": {"matchLabels": {"app": "shop"}},
    "template": {
      "metadata": {"labels": {"app": "shop"}},
      "spec": {"containers": [{"name": "shop", "image": "shop:1.0"}]}
    },
    "strategy": {"canary": {"stepz": []}}
  }
}
)j");
  EXPECT_THAT(l.Errors(),
              ElementsAre(Diag(l.Pos("\"2\""), "spec.replicas", "expected an integer, got string"),
                          Diag(l.Pos("\"stepz\""), "spec.strategy.canary.stepz",
                               "unknown field \"stepz\" (did you mean \"steps\"?)")));
  EXPECT_TRUE(l.set.rollouts.empty());
}

TEST(RolloutDecode, MultipleDocuments) {
  std::string second = Replace(Canary("steps:\n- setWeight: 50\n"), "metadata:\n  name: shop\n",
                               "metadata:\n  name: cart\n");
  Loaded l(Canary("") + "---\n" + second +
           "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: shop-svc\n---\n");
  EXPECT_THAT(l.Strings(), IsEmpty());
  ASSERT_EQ(l.set.rollouts.size(), 2u);
  EXPECT_EQ(l.set.rollouts[0].object->metadata.name, "shop");
  EXPECT_EQ(l.set.rollouts[1].object->metadata.name, "cart");
  EXPECT_EQ(l.set.rollouts[1].object->spec.canary->steps.at(0).set_weight, 50);
  EXPECT_EQ(l.set.rollouts[1].file, "r.yaml");
  // Each document has its own source map: the second Rollout's fields point into its own lines.
  EXPECT_EQ(l.set.rollouts[1].sources->Lookup("spec.strategy.canary.steps[0].setWeight").line,
            39);  // line 20 of the document starting on line 20
  ASSERT_EQ(l.set.others.size(), 1u);
  EXPECT_EQ(l.set.others[0].kind, "Service");
  EXPECT_EQ(l.set.documents, 3u);
}

// ---------------------------------------------------------------------------------------------
// Defaults.

TEST(RolloutDefaults, Spec) {
  Loaded l(Canary(""));
  ExpectClean(l);
  const RolloutSpec& s = l.ro().spec;
  EXPECT_FALSE(s.replicas.has_value());
  EXPECT_EQ(s.EffectiveReplicas(), 1);
  EXPECT_FALSE(s.revision_history_limit.has_value());
  EXPECT_EQ(s.EffectiveRevisionHistoryLimit(), 10);
  EXPECT_FALSE(s.progress_deadline_seconds.has_value());
  EXPECT_EQ(s.EffectiveProgressDeadlineSeconds(), 600);
  EXPECT_EQ(s.EffectiveSuccessfulRunHistoryLimit(), 5);
  EXPECT_EQ(s.EffectiveUnsuccessfulRunHistoryLimit(), 5);
  EXPECT_EQ(s.min_ready_seconds, 0);
  EXPECT_FALSE(s.paused);
  EXPECT_FALSE(s.progress_deadline_abort);
  EXPECT_FALSE(s.rollback_window_revisions.has_value());
  EXPECT_FALSE(l.ro().status.has_value());
}

TEST(RolloutDefaults, ReplicasZeroIsNotDefaulted) {
  Loaded l(Canary("", "replicas: 0\n"));
  ExpectClean(l);
  EXPECT_EQ(l.ro().spec.EffectiveReplicas(), 0);
}

TEST(RolloutDefaults, Canary) {
  Loaded l(Canary(""));
  const CanaryStrategy& c = l.canary();
  EXPECT_FALSE(c.max_surge.has_value());
  EXPECT_FALSE(c.max_unavailable.has_value());
  EXPECT_EQ(c.EffectiveMaxSurge(), IntOrString::Str("25%"));
  EXPECT_EQ(c.EffectiveMaxUnavailable(), IntOrString::Str("25%"));
  EXPECT_FALSE(c.traffic_routing.has_value());
  EXPECT_EQ(c.EffectiveScaleDownDelaySeconds(), 0);
  EXPECT_EQ(c.EffectiveAbortScaleDownDelaySeconds(), 30);
  EXPECT_TRUE(c.steps.empty());
}

TEST(RolloutDefaults, CanaryWithTrafficRouting) {
  Loaded l(RoutedCanary("trafficRouting:\n  nginx:\n    stableIngress: shop\n"));
  ExpectClean(l);
  EXPECT_EQ(l.canary().EffectiveScaleDownDelaySeconds(), 30);
  EXPECT_EQ(l.canary().EffectiveAbortScaleDownDelaySeconds(), 30);
  EXPECT_FALSE(l.routing().max_traffic_weight.has_value());
  EXPECT_EQ(l.routing().EffectiveMaxTrafficWeight(), 100);
  EXPECT_FALSE(l.routing().managed_routes.has_value());
}

TEST(RolloutDefaults, CanaryNullIsACanaryWithDefaults) {
  Loaded l(RolloutDoc("canary:\n"));
  ExpectClean(l);
  EXPECT_TRUE(l.ro().spec.canary.has_value());
}

TEST(RolloutDefaults, BlueGreen) {
  Loaded l(BlueGreen(kBlueGreenServices));
  ExpectClean(l);
  const BlueGreenStrategy& b = *l.ro().spec.blue_green;
  EXPECT_FALSE(b.auto_promotion_enabled.has_value());
  EXPECT_TRUE(b.EffectiveAutoPromotionEnabled());
  EXPECT_EQ(b.EffectiveScaleDownDelaySeconds(), 30);
  EXPECT_EQ(b.EffectiveAbortScaleDownDelaySeconds(), 30);
  EXPECT_FALSE(b.preview_replica_count.has_value());
  EXPECT_EQ(b.auto_promotion_seconds, 0);
}

TEST(RolloutDefaults, MirrorPercentage) {
  SetMirrorRoute m;
  EXPECT_EQ(m.EffectivePercentage(), 100);
  m.percentage = 0;
  EXPECT_EQ(m.EffectivePercentage(), 0);
}

TEST(RolloutPauseDuration, Forms) {
  RolloutPause p;
  EXPECT_EQ(p.DurationSeconds(), std::nullopt);
  p.duration = IntOrString::Int(45);
  EXPECT_EQ(p.DurationSeconds(), 45);
  p.duration = IntOrString::Int(0);
  EXPECT_EQ(p.DurationSeconds(), 0);
  p.duration = IntOrString::Str("45");
  EXPECT_EQ(p.DurationSeconds(), 45);
  p.duration = IntOrString::Str("90s");
  EXPECT_EQ(p.DurationSeconds(), 90);
  p.duration = IntOrString::Str("1h30m");
  EXPECT_EQ(p.DurationSeconds(), 5400);
  p.duration = IntOrString::Str("2m59.9s");  // truncated, not rounded
  EXPECT_EQ(p.DurationSeconds(), 179);
  p.duration = IntOrString::Str("999ms");
  EXPECT_EQ(p.DurationSeconds(), 0);
  p.duration = IntOrString::Str("-1m");
  EXPECT_EQ(p.DurationSeconds(), -60);
  p.duration = IntOrString::Str("-5");
  EXPECT_EQ(p.DurationSeconds(), -5);
  p.duration = IntOrString::Str("abc");
  EXPECT_EQ(p.DurationSeconds(), -1);
  p.duration = IntOrString::Str("30x");
  EXPECT_EQ(p.DurationSeconds(), -1);
  p.duration = IntOrString::Str("1d");  // Go durations have no days
  EXPECT_EQ(p.DurationSeconds(), -1);
  p.duration = IntOrString::Str("");
  EXPECT_EQ(p.DurationSeconds(), -1);
}

TEST(ResolveIntOrPercent, RoundsUpOrDown) {
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("25%"), 10, true), 3);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("25%"), 10, false), 2);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("33%"), 3, true), 1);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("33%"), 3, false), 0);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("50%"), 4, true), 2);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("50%"), 4, false), 2);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("100%"), 7, false), 7);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("0%"), 7, true), 0);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("1%"), 1, true), 1);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("1%"), 1, false), 0);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("25%"), 0, true), 0);
}

TEST(ResolveIntOrPercent, IntegersAreAbsolute) {
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Int(3), 10, true), 3);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Int(3), 10, false), 3);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Int(0), 10, true), 0);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Int(15), 10, true), 15);
}

TEST(ResolveIntOrPercent, BareNumericStringIsAPercentageAsInArgo) {
  // Argo resolves maxSurge/maxUnavailable with Kubernetes' legacy GetValueFromIntOrPercent,
  // which reads every string, with or without '%', as a percentage.
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("25"), 10, true), 3);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("25"), 10, false), 2);
}

TEST(ResolveIntOrPercent, MalformedIsNullopt) {
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("abc"), 10, true), std::nullopt);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("x%"), 10, true), std::nullopt);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("%"), 10, true), std::nullopt);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str(""), 10, true), std::nullopt);
  EXPECT_EQ(ResolveIntOrPercent(IntOrString::Str("-5%"), 10, true), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// Strictness.

TEST(RolloutStrict, UnknownFieldsAtEveryLevel) {
  struct Case {
    std::string text;
    std::string want;
  };
  const Case cases[] = {
      {Canary("") + "stauts: {}\n",
       "r.yaml:19:1: stauts: unknown field \"stauts\" (did you mean \"status\"?)"},
      {Canary("", "replica: 3\n"),
       "r.yaml:19:3: spec.replica: unknown field \"replica\" (did you mean \"replicas\"?)"},
      {Replace(Canary(""), "    canary: {}\n", "    canary: {}\n    canery: {}\n"),
       "r.yaml:19:5: spec.strategy.canery: unknown field \"canery\" (did you mean \"canary\"?)"},
      {Canary("stableSevice: s\n"),
       "r.yaml:19:7: spec.strategy.canary.stableSevice: unknown field \"stableSevice\" (did you "
       "mean \"stableService\"?)"},
      {Canary("steps:\n- setWeigth: 20\n"),
       "r.yaml:20:9: spec.strategy.canary.steps[0].setWeigth: unknown field \"setWeigth\" (did "
       "you mean \"setWeight\"?)"},
      {Canary("steps:\n- pause: {durations: 5}\n"),
       "r.yaml:20:17: spec.strategy.canary.steps[0].pause.durations: unknown field "
       "\"durations\" (did you mean \"duration\"?)"},
      {Canary("trafficRouting:\n  nginxx: {}\n"),
       "r.yaml:20:9: spec.strategy.canary.trafficRouting.nginxx: unknown field \"nginxx\" (did "
       "you mean \"nginx\"?)"},
      {Canary("trafficRouting:\n  istio:\n    virtualServices: [{name: b}]\n"
              "    virtualSevice: {name: vs}\n"),
       "r.yaml:22:11: spec.strategy.canary.trafficRouting.istio.virtualSevice: unknown field "
       "\"virtualSevice\" (did you mean \"virtualService\"?)"},
      {Canary("analysis:\n  templatess: []\n"),
       "r.yaml:20:9: spec.strategy.canary.analysis.templatess: unknown field \"templatess\" (did "
       "you mean \"templates\"?)"},
      {BlueGreen(std::string(kBlueGreenServices) + "autoPromotionEnable: true\n"),
       "r.yaml:21:7: spec.strategy.blueGreen.autoPromotionEnable: unknown field "
       "\"autoPromotionEnable\" (did you mean \"autoPromotionEnabled\"?)"},
      {Canary("", "analysis:\n  successfulRunHistoryLimt: 3\n"),
       "r.yaml:20:5: spec.analysis.successfulRunHistoryLimt: unknown field "
       "\"successfulRunHistoryLimt\" (did you mean \"successfulRunHistoryLimit\"?)"},
      {Canary("", "rollbackWindow:\n  revision: 3\n"),
       "r.yaml:20:5: spec.rollbackWindow.revision: unknown field \"revision\" (did you mean "
       "\"revisions\"?)"},
      {Replace(Canary(""), "    matchLabels:\n", "    matchLabel:\n"),
       "r.yaml:7:5: spec.selector.matchLabel: unknown field \"matchLabel\" (did you mean "
       "\"matchLabels\"?)"},
  };
  for (const Case& c : cases) {
    Loaded l(c.text);
    EXPECT_THAT(l.Strings(), ElementsAre(c.want)) << c.text;
    EXPECT_TRUE(l.set.rollouts.empty()) << c.text;
  }
}

TEST(RolloutStrict, UnknownFieldWithoutCloseMatchHasNoHint) {
  Loaded l(Canary("frobnicate: true\n"));
  EXPECT_THAT(l.Strings(), ElementsAre("r.yaml:19:7: spec.strategy.canary.frobnicate: unknown "
                                       "field \"frobnicate\""));
}

TEST(RolloutStrict, PodTemplateIsLenientButTypeChecked) {
  // Kubernetes owns the pod template: fields ramp does not read pass (with a warning off
  // Kubernetes), fields it reads are type-checked.
  Loaded extra(Replace(Canary(""), "        image: shop:1.0\n",
                       "        image: shop:1.0\n        imagePullPolicy: Always\n"));
  ExpectClean(extra);
  Loaded bad(Replace(Canary(""), "        image: shop:1.0\n", "        image: [shop]\n"));
  EXPECT_THAT(bad.Errors(), Contains(Diag("16:16", "spec.template.spec.containers[0].image",
                                          "expected a string, got sequence")));
  EXPECT_TRUE(bad.set.rollouts.empty());
}

TEST(RolloutStrict, WrongTypes) {
  struct Case {
    std::string text;
    std::string want;
  };
  const Case cases[] = {
      {Canary("", "replicas: \"3\"\n"),
       "r.yaml:19:13: spec.replicas: expected an integer, got string \"3\""},
      {Canary("", "paused: \"yes\"\n"),
       "r.yaml:19:11: spec.paused: expected true or false, got string \"yes\""},
      {RolloutDoc("[]\n"), "r.yaml:18:5: spec.strategy: expected a map (object), got sequence"},
      {Replace(Canary(""), "  selector:\n    matchLabels:\n      app: shop\n",
               "  selector: [app]\n"),
       "r.yaml:6:13: spec.selector: expected a map (object), got sequence"},
      {Canary("steps: {setWeight: 10}\n"),
       "r.yaml:19:14: spec.strategy.canary.steps: expected a list, got map"},
      {Canary("steps:\n- setWeight: 20%\n"),
       "r.yaml:20:20: spec.strategy.canary.steps[0].setWeight: expected an integer, got string "
       "\"20%\""},
      {Canary("canaryService: [a, b]\n"),
       "r.yaml:19:22: spec.strategy.canary.canaryService: expected a string, got sequence"},
      {Canary("maxSurge: {a: 1}\n"),
       "r.yaml:19:17: spec.strategy.canary.maxSurge: expected an integer or a string, got map"},
      {Canary("", "replicas: 3000000000\n"),
       "r.yaml:19:13: spec.replicas: integer 3000000000 does not fit in 32 bits"},
  };
  for (const Case& c : cases) {
    Loaded l(c.text);
    EXPECT_THAT(l.Strings(), ElementsAre(c.want)) << c.text;
    EXPECT_TRUE(l.set.rollouts.empty()) << c.text;
  }
}

TEST(RolloutStrict, WrongApiVersionOrKindForARollout) {
  Loaded l(Replace(Canary(""), "argoproj.io/v1alpha1", "argoproj.io/v1beta1"));
  EXPECT_THAT(l.Strings(),
              ElementsAre("r.yaml:1:1: apiVersion: expected \"argoproj.io/v1alpha1\" for kind "
                          "Rollout, got \"argoproj.io/v1beta1\""));
  EXPECT_TRUE(l.set.rollouts.empty());
}

TEST(RolloutStrict, EveryErrorIsReportedAndNoRuleRunsOnAHalfReadObject) {
  // Two decode errors are both reported; the rule violation (setWeight 200) is not, since rules
  // only run on objects that decoded cleanly.
  Loaded l(Canary("stableSevice: s\nsteps:\n- setWeight: 200\n- pause: {duration: [1]}\n"));
  EXPECT_THAT(l.Errors(),
              ElementsAre(Diag("22:27", "spec.strategy.canary.steps[1].pause.duration",
                               "expected an integer or a string, got sequence"),
                          Diag("19:7", "spec.strategy.canary.stableSevice", "unknown field")));
  EXPECT_TRUE(l.set.rollouts.empty());
}

TEST(RolloutStrict, AnObjectWithAnErrorIsNotLoadedButTheOthersAre) {
  std::string good = Replace(Canary(""), "metadata:\n  name: shop\n", "metadata:\n  name: good\n");
  std::string bad = Replace(Canary("steps:\n- setWeight: 200\n"), "metadata:\n  name: shop\n",
                            "metadata:\n  name: bad\n");
  Loaded l(bad + "---\n" + good);
  EXPECT_THAT(l.Errors(), ElementsAre(Diag("20:9", "spec.strategy.canary.steps[0].setWeight",
                                           "SetWeight needs to be between 0 and 100")));
  ASSERT_EQ(l.set.rollouts.size(), 1u);
  EXPECT_EQ(l.set.rollouts[0].object->metadata.name, "good");
  EXPECT_EQ(l.set.documents, 2u);
  EXPECT_FALSE(l.set.ok());
}

TEST(RolloutStrict, WarningsDoNotPreventLoading) {
  // A second container only runs on Kubernetes: a warning, and the Rollout still loads.
  Loaded l(Replace(Canary(""), "        image: shop:1.0\n",
                   "        image: shop:1.0\n      - name: sidecar\n        image: proxy:1\n"));
  EXPECT_THAT(l.Errors(), IsEmpty());
  EXPECT_THAT(l.Warnings(), ElementsAre(Diag("17:9", "spec.template.spec.containers[1]",
                                             "only containers[0] runs")));
  EXPECT_EQ(l.set.rollouts.size(), 1u);
  EXPECT_TRUE(l.set.ok());
}

// ---------------------------------------------------------------------------------------------
// Validation: the spec.

TEST(RolloutRules, MissingSelector) {
  Loaded l(Replace(Canary(""), "  selector:\n    matchLabels:\n      app: shop\n", ""));
  ExpectOnlyError(l, "5:1", "spec.selector", "Rollout has missing field '.spec.selector'");
}

TEST(RolloutRules, EmptySelector) {
  Loaded l(
      Replace(Canary(""), "  selector:\n    matchLabels:\n      app: shop\n", "  selector: {}\n"));
  ExpectOnlyError(l, "6:3", "spec.selector", "empty selector is invalid for deployment");
  Loaded labels(
      Replace(Canary(""), "    matchLabels:\n      app: shop\n", "    matchLabels: {}\n"));
  ExpectOnlyError(labels, "6:3", "spec.selector", "empty selector is invalid for deployment");
}

TEST(RolloutRules, SelectorMustMatchTemplateLabels) {
  Loaded l(Replace(Canary(""), "        app: shop\n", "        app: web\n"));
  ExpectOnlyError(l, "11:7", "spec.template.metadata.labels",
                  "`selector` does not match template `labels`");
  Loaded none(Replace(Canary(""), "      labels:\n        app: shop\n", "      labels: {}\n"));
  ExpectOnlyError(none, "11:7", "spec.template.metadata.labels",
                  "`selector` does not match template `labels`");
}

TEST(RolloutRules, SelectorMatchExpressions) {
  // Template labels: app=shop, tier=web.
  struct Case {
    std::string expression;
    bool matches;
  };
  const Case cases[] = {
      {"{key: tier, operator: In, values: [web, api]}", true},
      {"{key: tier, operator: In, values: [api]}", false},
      {"{key: zone, operator: In, values: [a]}", false},
      {"{key: tier, operator: NotIn, values: [web]}", false},
      {"{key: zone, operator: NotIn, values: [a]}", true},
      {"{key: tier, operator: Exists}", true},
      {"{key: zone, operator: Exists}", false},
      {"{key: tier, operator: DoesNotExist}", false},
      {"{key: zone, operator: DoesNotExist}", true},
  };
  for (const Case& c : cases) {
    std::string text =
        Replace(Replace(Canary(""), "    matchLabels:\n      app: shop\n",
                        "    matchLabels:\n      app: shop\n    matchExpressions: [" +
                            c.expression + "]\n"),
                "        app: shop\n", "        app: shop\n        tier: web\n");
    Loaded l(text);
    if (c.matches) {
      EXPECT_THAT(l.Strings(), IsEmpty()) << c.expression;
    } else {
      EXPECT_THAT(l.Errors(), ElementsAre(Diag(l.Pos("labels:"), "spec.template.metadata.labels",
                                               "does not match")))
          << c.expression;
    }
  }
}

TEST(RolloutRules, NoContainers) {
  Loaded l(Replace(Canary(""), "      containers:\n      - name: shop\n        image: shop:1.0\n",
                   "      containers: []\n"));
  ExpectOnlyError(l, "14:7", "spec.template.spec.containers",
                  "Required value: at least one container");
  Loaded no_template(Replace(Canary(""),
                             "  template:\n    metadata:\n      labels:\n        app: shop\n"
                             "    spec:\n      containers:\n      - name: shop\n"
                             "        image: shop:1.0\n",
                             ""));
  EXPECT_THAT(no_template.Errors(),
              ElementsAre(Diag("5:1", "spec.template.metadata.labels", "does not match"),
                          Diag("5:1", "spec.template.spec.containers",
                               "Required value: at least one container")));
}

TEST(RolloutRules, ContainerNameAndImageRequired) {
  Loaded name(Replace(Canary(""), "      - name: shop\n        image: shop:1.0\n",
                      "      - image: shop:1.0\n"));
  ExpectOnlyError(name, "15:9", "spec.template.spec.containers[0].name", "Required value");
  Loaded image(Replace(Canary(""), "        image: shop:1.0\n", ""));
  ExpectOnlyError(image, "15:9", "spec.template.spec.containers[0].image", "Required value");
}

TEST(RolloutRules, DuplicateContainerNames) {
  Loaded l(Replace(Canary(""), "        image: shop:1.0\n",
                   "        image: shop:1.0\n      - name: shop\n        image: other:1\n"));
  ExpectOnlyError(l, "17:9", "spec.template.spec.containers[1].name", "Duplicate value: \"shop\"");
}

TEST(RolloutRules, ContainerPortsAndEnv) {
  Loaded port(Replace(Canary(""), "        image: shop:1.0\n",
                      "        image: shop:1.0\n        ports:\n        - containerPort: 70000\n"));
  EXPECT_THAT(port.Errors(), ElementsAre(Diag("18:11",
                                              "spec.template.spec.containers[0].ports[0]."
                                              "containerPort",
                                              "must be between 1 and 65535, inclusive")));
  Loaded env(Replace(Canary(""), "        image: shop:1.0\n",
                     "        image: shop:1.0\n        env:\n        - value: x\n"));
  EXPECT_THAT(
      env.Errors(),
      ElementsAre(Diag("18:11", "spec.template.spec.containers[0].env[0].name", "Required value")));
}

TEST(RolloutRules, ResourceQuantities) {
  Loaded l(Replace(Canary(""), "        image: shop:1.0\n",
                   "        image: shop:1.0\n"
                   "        resources:\n"
                   "          limits:\n"
                   "            cpu: 500m\n"
                   "            memory: 12 GB\n"
                   "          requests:\n"
                   "            memory: 128Mi\n"
                   "            cpu: lots\n"));
  EXPECT_THAT(
      l.Errors(),
      ElementsAre(Diag(l.Pos("12 GB"),
                       "spec.template.spec.containers[0].resources.limits."
                       "memory",
                       "invalid quantity \"12 GB\""),
                  Diag(l.Pos("lots"), "spec.template.spec.containers[0].resources.requests.cpu",
                       "invalid quantity \"lots\"")));
  EXPECT_TRUE(l.set.rollouts.empty());
  Loaded ok(Replace(Canary(""), "        image: shop:1.0\n",
                    "        image: shop:1.0\n        resources:\n          limits: {cpu: \"1.5\", "
                    "memory: 1Gi, ephemeral-storage: 2e3}\n"));
  EXPECT_THAT(ok.Errors(), IsEmpty());
}

TEST(RolloutRules, WorkloadRefWithTemplate) {
  Loaded l(Canary("", "workloadRef:\n  apiVersion: apps/v1\n  kind: Deployment\n  name: shop\n"));
  ExpectOnlyError(l, "9:3", "spec.template",
                  "template must be empty for workload reference rollout");
}

// A template resolved from the workloadRef (daemon/kube_workload.h) carries the
// workload-generation annotation and is validated as the Rollout's own (Argo's
// TemplateResolvedFromRef): accepted, and its labels must match the selector.
TEST(RolloutRules, WorkloadRefWithResolvedTemplate) {
  const std::string ref = "workloadRef:\n  apiVersion: apps/v1\n  kind: Deployment\n  name: shop\n";
  const std::string annotated = Replace(
      Canary("", ref), "  name: shop\nspec:",
      "  name: shop\n  annotations:\n    rollout.argoproj.io/workload-generation: \"3\"\nspec:");
  ExpectClean(Loaded(annotated));
  Loaded mismatch(Replace(annotated, "        app: shop\n", "        app: other\n"));
  ExpectOnlyError(mismatch, "13:7", "spec.template.metadata.labels",
                  "`selector` does not match template `labels`");
}

TEST(RolloutRules, WorkloadRefFields) {
  std::string head =
      "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: shop\nspec:\n"
      "  strategy:\n    canary: {}\n  workloadRef:\n";
  Loaded kind(head + "    apiVersion: apps/v1\n    kind: StatefulSet\n    name: shop\n");
  ExpectOnlyError(kind, "8:3", "spec.workloadRef",
                  "must reference an apps/v1 Deployment, an apps/v1 ReplicaSet or a v1 "
                  "PodTemplate (got apps/v1 StatefulSet)");
  Loaded version(head + "    apiVersion: v1\n    kind: Deployment\n    name: shop\n");
  ExpectOnlyError(version, "8:3", "spec.workloadRef", "(got v1 Deployment)");
  Loaded name(head + "    apiVersion: apps/v1\n    kind: ReplicaSet\n");
  ExpectOnlyError(name, "8:3", "spec.workloadRef.name", "Required value");
  Loaded scale(
      head + "    apiVersion: v1\n    kind: PodTemplate\n    name: shop\n    scaleDown: always\n");
  ExpectOnlyError(scale, "12:5", "spec.workloadRef.scaleDown",
                  "must be never, onsuccess or progressively (got \"always\")");
  for (const char* mode : {"never", "onsuccess", "progressively"}) {
    SCOPED_TRACE(mode);
    ExpectClean(Loaded(head + "    apiVersion: apps/v1\n    kind: Deployment\n    name: shop\n" +
                       "    scaleDown: " + mode + "\n"));
  }
}

TEST(RolloutRules, NegativeCounts) {
  ExpectOnlyError(Loaded(Canary("", "replicas: -1\n")), "19:3", "spec.replicas",
                  "must be greater than or equal to 0");
  ExpectOnlyError(Loaded(Canary("", "minReadySeconds: -1\n")), "19:3", "spec.minReadySeconds",
                  "must be greater than or equal to 0");
  ExpectOnlyError(Loaded(Canary("", "revisionHistoryLimit: -1\n")), "19:3",
                  "spec.revisionHistoryLimit", "must be greater than or equal to 0");
  ExpectOnlyError(Loaded(Canary("", "rollbackWindow:\n  revisions: -1\n")), "20:5",
                  "spec.rollbackWindow.revisions", "must be greater than or equal to 0");
  Loaded deadline(Canary("", "progressDeadlineSeconds: -1\n"));
  EXPECT_THAT(
      deadline.Errors(),
      ElementsAre(
          Diag("19:3", "spec.progressDeadlineSeconds", "must be greater than or equal to 0"),
          Diag("19:3", "spec.progressDeadlineSeconds", "must be greater than minReadySeconds")));
}

TEST(RolloutRules, ProgressDeadlineMustExceedMinReadySeconds) {
  Loaded equal(Canary("", "minReadySeconds: 30\nprogressDeadlineSeconds: 30\n"));
  ExpectOnlyError(equal, "20:3", "spec.progressDeadlineSeconds",
                  "must be greater than minReadySeconds");
  // Against the default of 600 (the error then points at spec, there being no field).
  Loaded dflt(Canary("", "minReadySeconds: 600\n"));
  ExpectOnlyError(dflt, "5:1", "spec.progressDeadlineSeconds",
                  "must be greater than minReadySeconds");
  ExpectClean(Loaded(Canary("", "minReadySeconds: 30\nprogressDeadlineSeconds: 31\n")));
}

TEST(RolloutRules, NoStrategy) {
  Loaded empty(RolloutDoc("{}\n"));
  ExpectOnlyError(empty, "17:3", "spec.strategy",
                  "Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'");
  Loaded absent(Replace(Canary(""), "  strategy:\n    canary: {}\n", ""));
  ExpectOnlyError(absent, "5:1", "spec.strategy", "Rollout has missing field");
}

TEST(RolloutRules, BothStrategies) {
  Loaded l(RolloutDoc("canary: {}\nblueGreen:\n  activeService: a\n  previewService: p\n"));
  ExpectOnlyError(l, "17:3", "spec.strategy", "Multiple Strategies can not be listed");
}

// ---------------------------------------------------------------------------------------------
// Validation: blue-green.

TEST(BlueGreenRules, ActiveServiceRequired) {
  Loaded l(BlueGreen("previewService: p\n"));
  ExpectOnlyError(l, "19:7", "spec.strategy.blueGreen.activeService", "Required value");
}

TEST(BlueGreenRules, SameActiveAndPreview) {
  Loaded l(BlueGreen("activeService: shop\npreviewService: shop\n"));
  ExpectOnlyError(l, "19:7", "spec.strategy.blueGreen.activeService",
                  "This rollout uses the same service for the active and preview services, but "
                  "two different services are required.");
  ExpectClean(Loaded(BlueGreen("activeService: shop\n")));
}

TEST(BlueGreenRules, ScaleDownDelayRevisionLimit) {
  Loaded l(BlueGreen(std::string(kBlueGreenServices) + "scaleDownDelayRevisionLimit: 11\n"));
  ExpectOnlyError(l, "21:7", "spec.strategy.blueGreen.scaleDownDelayRevisionLimit",
                  "This rollout's revision history limit can not be smaller than the rollout's "
                  "scale down limit");
  ExpectClean(
      Loaded(BlueGreen(std::string(kBlueGreenServices) + "scaleDownDelayRevisionLimit: 10\n")));
  Loaded own(BlueGreen(std::string(kBlueGreenServices) + "scaleDownDelayRevisionLimit: 3\n",
                       "revisionHistoryLimit: 2\n"));
  ExpectOnlyError(own, "21:7", "spec.strategy.blueGreen.scaleDownDelayRevisionLimit",
                  "can not be smaller");
}

TEST(BlueGreenRules, NegativeCountsAndAutoPromotion) {
  ExpectOnlyError(Loaded(BlueGreen(std::string(kBlueGreenServices) + "previewReplicaCount: -1\n")),
                  "21:7", "spec.strategy.blueGreen.previewReplicaCount",
                  "must be greater than or equal to 0");
  ExpectOnlyError(Loaded(BlueGreen(std::string(kBlueGreenServices) + "autoPromotionSeconds: -1\n")),
                  "21:7", "spec.strategy.blueGreen.autoPromotionSeconds",
                  "must be greater than or equal to 0");
  ExpectOnlyError(Loaded(BlueGreen(std::string(kBlueGreenServices) +
                                   "autoPromotionEnabled: false\nautoPromotionSeconds: 30\n")),
                  "22:7", "spec.strategy.blueGreen.autoPromotionSeconds",
                  "has no effect when autoPromotionEnabled is false");
}

TEST(BlueGreenRules, AntiAffinity) {
  std::string base = kBlueGreenServices;
  ExpectOnlyError(Loaded(BlueGreen(base + "antiAffinity: {}\n")), "21:7",
                  "spec.strategy.blueGreen.antiAffinity",
                  "AntiAffinity must have exactly one strategy listed");
  ExpectOnlyError(
      Loaded(BlueGreen(base + "antiAffinity:\n  preferredDuringSchedulingIgnoredDuringExecution:\n"
                              "    weight: 101\n")),
      "23:11",
      "spec.strategy.blueGreen.antiAffinity.preferredDuringSchedulingIgnoredDuringExecution."
      "weight",
      "AntiAffinity weight must be between 1-100");
}

// ---------------------------------------------------------------------------------------------
// Validation: canary.

TEST(CanaryRules, ScaleDownDelayRevisionLimit) {
  Loaded l(Canary("scaleDownDelayRevisionLimit: 11\n"));
  ExpectOnlyError(l, "19:7", "spec.strategy.canary.scaleDownDelayRevisionLimit",
                  "This rollout's revision history limit can not be smaller than the rollout's "
                  "scale down limit");
  ExpectClean(Loaded(Canary("scaleDownDelayRevisionLimit: 5\n", "revisionHistoryLimit: 5\n")));
  ExpectOnlyError(Loaded(Canary("scaleDownDelayRevisionLimit: 6\n", "revisionHistoryLimit: 5\n")),
                  "19:7", "spec.strategy.canary.scaleDownDelayRevisionLimit", "can not be smaller");
}

TEST(CanaryRules, AntiAffinity) {
  ExpectOnlyError(Loaded(Canary("antiAffinity: {}\n")), "19:7", "spec.strategy.canary.antiAffinity",
                  "AntiAffinity must have exactly one strategy listed");
  ExpectOnlyError(
      Loaded(Canary("antiAffinity:\n  requiredDuringSchedulingIgnoredDuringExecution: {}\n"
                    "  preferredDuringSchedulingIgnoredDuringExecution: {weight: 50}\n")),
      "19:7", "spec.strategy.canary.antiAffinity",
      "AntiAffinity must have exactly one strategy listed");
  const std::string preferred =
      "spec.strategy.canary.antiAffinity.preferredDuringSchedulingIgnoredDuringExecution";
  for (const char* weight : {"0", "101", "-1"}) {
    SCOPED_TRACE(weight);
    Loaded l(Canary(std::string("antiAffinity:\n  preferredDuringSchedulingIgnoredDuringExecution:"
                                "\n    weight: ") +
                    weight + "\n"));
    ExpectOnlyError(l, "21:11", preferred + ".weight", "AntiAffinity weight must be between 1-100");
  }
  // Without a weight the weight is 0.
  ExpectOnlyError(
      Loaded(Canary("antiAffinity:\n  preferredDuringSchedulingIgnoredDuringExecution: {}\n")),
      "20:9", preferred + ".weight", "AntiAffinity weight must be between 1-100");
  for (const char* weight : {"1", "100"}) {
    SCOPED_TRACE(weight);
    ExpectClean(Loaded(
        Canary(std::string("antiAffinity:\n  preferredDuringSchedulingIgnoredDuringExecution:\n"
                           "    weight: ") +
               weight + "\n")));
  }
}

TEST(CanaryRules, MaxSurgeAndMaxUnavailableBothZero) {
  ExpectOnlyError(Loaded(Canary("maxSurge: 0\nmaxUnavailable: 0\n")), "19:7",
                  "spec.strategy.canary.maxSurge",
                  "MaxSurge and MaxUnavailable both can not be zero");
  ExpectOnlyError(Loaded(Canary("maxSurge: \"0%\"\nmaxUnavailable: \"0%\"\n")), "19:7",
                  "spec.strategy.canary.maxSurge",
                  "MaxSurge and MaxUnavailable both can not be zero");
  // One of them zero is fine (the other defaults to 25%).
  ExpectClean(Loaded(Canary("maxSurge: 0\n")));
  ExpectClean(Loaded(Canary("maxUnavailable: 0\n")));
  ExpectClean(Loaded(Canary("maxSurge: 0\nmaxUnavailable: 1\n")));
}

TEST(CanaryRules, MalformedMaxSurgeAndMaxUnavailable) {
  ExpectOnlyError(Loaded(Canary("maxSurge: abc\n")), "19:7", "spec.strategy.canary.maxSurge",
                  "must be an integer or a percentage such as 25%");
  ExpectOnlyError(Loaded(Canary("maxUnavailable: x%\n")), "19:7",
                  "spec.strategy.canary.maxUnavailable",
                  "must be an integer or a percentage such as 25%");
  ExpectClean(Loaded(Canary("maxSurge: \"100%\"\nmaxUnavailable: \"3\"\n")));
}

TEST(CanaryRules, SameCanaryAndStableService) {
  ExpectOnlyError(Loaded(Canary("canaryService: shop\nstableService: shop\n")), "20:7",
                  "spec.strategy.canary.stableService",
                  "This rollout uses the same service for the stable and canary services, but two "
                  "different services are required.");
}

TEST(CanaryRules, PingPongNeedsAlbIstioOrPlugins) {
  Loaded l(
      RoutedCanary("pingPong:\n  pingService: ping\n  pongService: pong\n"
                   "trafficRouting:\n  nginx:\n    stableIngress: shop\n"));
  ExpectOnlyError(l, l.Pos("trafficRouting"), "spec.strategy.canary.trafficRouting.alb",
                  "Ping-pong feature works with the ALB, Istio, and plugin-based traffic routers "
                  "only");
  ExpectClean(
      Loaded(Canary("pingPong:\n  pingService: ping\n  pongService: pong\n"
                    "trafficRouting:\n  plugins: {example.com/router: {}}\n")));
}

TEST(CanaryRules, PingPongServices) {
  const std::string istio = "trafficRouting:\n  istio:\n    virtualService: {name: vs}\n";
  Loaded ping(Canary("pingPong:\n  pongService: pong\n" + istio));
  ExpectOnlyError(ping, "19:7", "spec.strategy.canary.pingPong.pingService",
                  "Ping service and Pong service must to be set to use Ping-Pong feature");
  Loaded pong(Canary("pingPong:\n  pingService: ping\n" + istio));
  ExpectOnlyError(pong, "19:7", "spec.strategy.canary.pingPong.pongService",
                  "Ping service and Pong service must to be set to use Ping-Pong feature");
  Loaded same(Canary("pingPong:\n  pingService: shop\n  pongService: shop\n" + istio));
  ExpectOnlyError(same, "20:9", "spec.strategy.canary.pingPong.pingService",
                  "This rollout uses the same service for the ping and pong services, but two "
                  "different services are required.");
}

TEST(CanaryRules, PingPongWithAlbNeedsRootService) {
  Loaded l(
      Canary("pingPong:\n  pingService: ping\n  pongService: pong\n"
             "trafficRouting:\n  alb:\n    ingress: shop\n    servicePort: 80\n"));
  ExpectOnlyError(l, l.Pos("alb:"), "spec.strategy.canary.trafficRouting.alb.rootService",
                  "Root service field is required for the configuration with ALB and ping-pong "
                  "feature enabled");
  // With rootService, and no canary/stable services (ping-pong replaces them).
  ExpectClean(
      Loaded(Canary("pingPong:\n  pingService: ping\n  pongService: pong\n"
                    "trafficRouting:\n  alb:\n    ingress: shop\n    servicePort: 80\n"
                    "    rootService: shop\n")));
}

TEST(CanaryRules, TrafficRoutingNeedsCanaryAndStableServices) {
  const char* routers[] = {
      "alb: {ingress: shop, servicePort: 80}",
      "istio: {virtualService: {name: vs}}",
      "smi: {}",
      "apisix: {route: {name: r}}",
      "ambassador: {mappings: [m]}",
      "nginx: {stableIngress: shop}",
      "appMesh: {}",
      "traefik: {weightedTraefikServiceName: w}",
  };
  for (const char* router : routers) {
    SCOPED_TRACE(router);
    Loaded l(Canary(std::string("trafficRouting:\n  ") + router + "\n"));
    EXPECT_THAT(l.Errors(),
                ElementsAre(Diag("18:5", "spec.strategy.canary.stableService",
                                 "Canary service and Stable service must to be set to use Traffic "
                                 "Routing"),
                            Diag("18:5", "spec.strategy.canary.canaryService",
                                 "Canary service and Stable service must to be set to use Traffic "
                                 "Routing")))
        << router;
    EXPECT_TRUE(l.set.rollouts.empty());
    ExpectClean(Loaded(RoutedCanary(std::string("trafficRouting:\n  ") + router + "\n")));
  }
  Loaded stable_only(Canary(std::string("stableService: s\ntrafficRouting:\n  smi: {}\n")));
  ExpectOnlyError(stable_only, "18:5", "spec.strategy.canary.canaryService",
                  "Canary service and Stable service must to be set");
}

TEST(CanaryRules, TrafficRoutingServiceExemptions) {
  // Istio with a DestinationRule routes by subset; plugins bring their own rules.
  ExpectClean(Loaded(
      Canary("trafficRouting:\n  istio:\n    virtualService: {name: vs}\n"
             "    destinationRule: {name: dr, canarySubsetName: c, stableSubsetName: s}\n")));
  ExpectClean(Loaded(Canary("trafficRouting:\n  plugins: {example.com/router: {}}\n")));
}

TEST(CanaryRules, ScaleDownDelayAndDynamicStableScaleNeedTrafficRouting) {
  ExpectOnlyError(Loaded(Canary("scaleDownDelaySeconds: 30\n")), "19:7",
                  "spec.strategy.canary.scaleDownDelaySeconds",
                  "Canary scaleDownDelaySeconds can only be used with traffic routing");
  ExpectOnlyError(Loaded(Canary("dynamicStableScale: true\n")), "19:7",
                  "spec.strategy.canary.dynamicStableScale",
                  "Canary dynamicStableScale can only be used with traffic routing");
  ExpectClean(Loaded(Canary("dynamicStableScale: false\n")));
}

TEST(CanaryRules, DynamicStableScaleExcludesScaleDownDelay) {
  Loaded l(
      RoutedCanary("scaleDownDelaySeconds: 30\ndynamicStableScale: true\n"
                   "trafficRouting:\n  nginx: {stableIngress: shop}\n"));
  ExpectOnlyError(l, "22:7", "spec.strategy.canary.dynamicStableScale",
                  "Canary dynamicStableScale cannot be used with scaleDownDelaySeconds");
}

TEST(CanaryRules, MaxTrafficWeightNeedsNginxOrPlugins) {
  Loaded l(
      RoutedCanary("trafficRouting:\n  maxTrafficWeight: 1000\n"
                   "  istio: {virtualService: {name: vs}}\n"));
  ExpectOnlyError(l, "22:9", "spec.strategy.canary.trafficRouting.maxTrafficWeight",
                  "Canary maxTrafficWeight in traffic routing only supported in Nginx and Plugins");
  ExpectClean(
      Loaded(RoutedCanary("trafficRouting:\n  maxTrafficWeight: 1000\n"
                          "  nginx: {stableIngress: shop}\n")));
}

TEST(CanaryRules, NegativeDelays) {
  const std::string routing = "trafficRouting:\n  nginx: {stableIngress: shop}\n";
  for (const char* field : {"scaleDownDelaySeconds", "abortScaleDownDelaySeconds",
                            "scaleDownDelayRevisionLimit", "minPodsPerReplicaSet"}) {
    SCOPED_TRACE(field);
    Loaded l(RoutedCanary(std::string(field) + ": -1\n" + routing));
    ExpectOnlyError(l, "21:7", std::string("spec.strategy.canary.") + field,
                    "must be greater than or equal to 0");
  }
}

TEST(CanaryRules, BackgroundAnalysisStartingStep) {
  const std::string steps = "steps:\n- setWeight: 20\n- pause: {}\n";
  for (const char* step : {"2", "-1"}) {
    SCOPED_TRACE(step);
    Loaded l(Canary(steps + "analysis:\n  templates: [{templateName: a}]\n  startingStep: " + step +
                    "\n"));
    ExpectOnlyError(l, "24:9", "spec.strategy.canary.analysis.startingStep",
                    "must refer to a step: between 0 and 2 (exclusive)");
  }
  ExpectClean(Loaded(Canary(steps + "analysis:\n  templates: [{templateName: a}]\n"
                                    "  startingStep: 1\n")));
}

// ---------------------------------------------------------------------------------------------
// Validation: steps.

TEST(StepRules, EmptyStep) {
  Loaded l(Canary("steps:\n- setWeight: 10\n- {}\n"));
  ExpectOnlyError(l, "21:9", "spec.strategy.canary.steps[1]",
                  "Step must have one of the following set: experiment, setWeight, "
                  "setCanaryScale, plugin or pause");
}

TEST(StepRules, TwoExclusiveActionsInOneStep) {
  const char* steps[] = {
      "{setWeight: 10, pause: {}}",
      "{pause: {}, analysis: {templates: [{templateName: a}]}}",
      "{setWeight: 10, experiment: {templates: [{name: a, specRef: canary}]}}",
  };
  for (const char* step : steps) {
    SCOPED_TRACE(step);
    Loaded l(Canary(std::string("steps:\n- ") + step + "\n"));
    ExpectOnlyError(l, "20:9", "spec.strategy.canary.steps[0]",
                    "setWeight, pause, experiment and analysis each need a step of their own");
  }
}

TEST(StepRules, SetCanaryScaleAndSetHeaderRouteMayShareAStep) {
  Loaded l(RoutedCanary(std::string(kIstioManaged) +
                        "steps:\n- setCanaryScale: {replicas: 1}\n"
                        "  setHeaderRoute:\n    name: header\n"
                        "    match: [{headerName: X-Canary, headerValue: {exact: \"1\"}}]\n"));
  ExpectClean(l);
  EXPECT_TRUE(l.step(0).set_canary_scale.has_value());
  EXPECT_TRUE(l.step(0).set_header_route.has_value());
}

TEST(StepRules, SetWeightRange) {
  for (const char* weight : {"101", "-1"}) {
    SCOPED_TRACE(weight);
    Loaded l(Canary(std::string("steps:\n- setWeight: ") + weight + "\n"));
    ExpectOnlyError(l, "20:9", "spec.strategy.canary.steps[0].setWeight",
                    "SetWeight needs to be between 0 and 100");
  }
  ExpectClean(Loaded(Canary("steps:\n- setWeight: 0\n- setWeight: 100\n")));
}

TEST(StepRules, SetWeightRangeFollowsMaxTrafficWeight) {
  const std::string routing =
      "trafficRouting:\n  maxTrafficWeight: 1000\n  nginx: {stableIngress: shop}\n";
  ExpectClean(Loaded(RoutedCanary(routing + "steps:\n- setWeight: 1000\n")));
  Loaded l(RoutedCanary(routing + "steps:\n- setWeight: 1001\n"));
  ExpectOnlyError(l, "25:9", "spec.strategy.canary.steps[0].setWeight",
                  "SetWeight needs to be between 0 and 1000");
}

TEST(StepRules, PauseDuration) {
  for (const char* d : {"abc", "\"-5\"", "-5", "30x", "-1m"}) {
    SCOPED_TRACE(d);
    Loaded l(Canary(std::string("steps:\n- pause:\n    duration: ") + d + "\n"));
    ExpectOnlyError(l, "21:11", "spec.strategy.canary.steps[0].pause.duration",
                    "Duration needs to be greater than 0");
  }
  ExpectClean(Loaded(Canary("steps:\n- pause: {duration: 0}\n- pause: {duration: 0s}\n")));
}

TEST(StepRules, SetCanaryScaleNeedsTrafficRouting) {
  Loaded l(Canary("steps:\n- setCanaryScale: {replicas: 1}\n"));
  ExpectOnlyError(l, "18:5", "spec.strategy.canary.trafficRouting",
                  "SetCanaryScale requires TrafficRouting to be set");
}

TEST(StepRules, SetCanaryScaleFields) {
  const std::string routing = "trafficRouting:\n  nginx: {stableIngress: shop}\n";
  for (const char* scale :
       {"{}", "{replicas: 1, weight: 10}", "{weight: 10, matchTrafficWeight: true}",
        "{matchTrafficWeight: false}"}) {
    SCOPED_TRACE(scale);
    Loaded l(RoutedCanary(routing + "steps:\n- setCanaryScale: " + scale + "\n"));
    ExpectOnlyError(l, "24:9", "spec.strategy.canary.steps[0].setCanaryScale",
                    "must set exactly one of weight, replicas or matchTrafficWeight");
  }
  Loaded weight(RoutedCanary(routing + "steps:\n- setCanaryScale: {weight: 101}\n"));
  ExpectOnlyError(weight, weight.Pos("weight: 101"),
                  "spec.strategy.canary.steps[0].setCanaryScale.weight",
                  "must be between 0 and 100");
  Loaded replicas(RoutedCanary(routing + "steps:\n- setCanaryScale: {replicas: -1}\n"));
  ExpectOnlyError(replicas, replicas.Pos("replicas: -1"),
                  "spec.strategy.canary.steps[0].setCanaryScale.replicas",
                  "must be greater than or equal to 0");
}

TEST(StepRules, HeaderRouteNeedsASupportingRouter) {
  const std::string step = "steps:\n- setHeaderRoute:\n    name: header\n";
  Loaded nginx(RoutedCanary(
      "trafficRouting:\n  managedRoutes: [{name: header}]\n  nginx: {stableIngress: shop}\n" +
      step));
  ExpectOnlyError(nginx, nginx.Pos("setHeaderRoute"),
                  "spec.strategy.canary.steps[0].setHeaderRoute",
                  "SetHeaderRoute requires TrafficRouting, supports Istio and ALB and Apisix");
  Loaded none(Canary(step));
  ExpectOnlyError(none, none.Pos("setHeaderRoute"), "spec.strategy.canary.steps[0].setHeaderRoute",
                  "SetHeaderRoute requires TrafficRouting");
  for (const char* router : {"alb: {ingress: shop, servicePort: 80}", "apisix: {route: {name: r}}",
                             "plugins: {example.com/router: {}}"}) {
    SCOPED_TRACE(router);
    ExpectClean(
        Loaded(RoutedCanary(std::string("trafficRouting:\n  managedRoutes: [{name: header}]\n  ") +
                            router + "\n" + step)));
  }
}

TEST(StepRules, AlbHeaderRouteIsExactOnly) {
  const std::string routing =
      "trafficRouting:\n  managedRoutes: [{name: header}]\n"
      "  alb: {ingress: shop, servicePort: 80}\n"
      "steps:\n- setHeaderRoute:\n    name: header\n    match:\n";
  for (const char* value : {"{prefix: a}", "{regex: a.*}", "{exact: a, prefix: b}", "{}"}) {
    SCOPED_TRACE(value);
    Loaded l(
        RoutedCanary(routing + "    - headerName: X-Canary\n      headerValue: " + value + "\n"));
    ExpectOnlyError(l, "28:13", "spec.strategy.canary.steps[0].setHeaderRoute.match[0]",
                    "SetHeaderRoute match value invalid. ALB supports 'exact' value only");
  }
  Loaded missing(RoutedCanary(routing + "    - headerName: X-Canary\n"));
  ExpectOnlyError(missing, "28:13", "spec.strategy.canary.steps[0].setHeaderRoute.match[0]",
                  "StringMatch value missed");
  ExpectClean(Loaded(RoutedCanary(routing + "    - headerName: X-Canary\n"
                                            "      headerValue: {exact: a}\n")));
}

TEST(StepRules, HeaderRouteStringMatchNeedsExactlyOneValue) {
  const std::string routing = std::string(kIstioManaged) +
                              "steps:\n- setHeaderRoute:\n    name: header\n    match:\n"
                              "    - headerName: X-Canary\n";
  Loaded missing(RoutedCanary(routing));
  ExpectOnlyError(missing, "32:13", "spec.strategy.canary.steps[0].setHeaderRoute.match[0]",
                  "StringMatch value missed, match value must have one of the following: exact, "
                  "regex, prefix");
  Loaded zero(RoutedCanary(routing + "      headerValue: {}\n"));
  ExpectOnlyError(zero, "32:13", "spec.strategy.canary.steps[0].setHeaderRoute.match[0]",
                  "StringMatch value missed");
  Loaded two(RoutedCanary(routing + "      headerValue: {exact: a, regex: b}\n"));
  ExpectOnlyError(two, "32:13", "spec.strategy.canary.steps[0].setHeaderRoute.match[0]",
                  "StringMatch match value must have exactly one of the following: exact, regex, "
                  "prefix");
  ExpectClean(Loaded(RoutedCanary(routing + "      headerValue: {prefix: a}\n")));
}

TEST(StepRules, MirrorRouteNeedsIstioOrPlugins) {
  const std::string step = "steps:\n- setMirrorRoute:\n    name: mirror\n";
  Loaded nginx(RoutedCanary(
      "trafficRouting:\n  managedRoutes: [{name: mirror}]\n  nginx: {stableIngress: shop}\n" +
      step));
  ExpectOnlyError(nginx, nginx.Pos("setMirrorRoute"),
                  "spec.strategy.canary.steps[0].setMirrorRoute",
                  "SetMirrorRoute requires TrafficRouting, supports Istio and Plugins");
  Loaded alb(
      RoutedCanary("trafficRouting:\n  managedRoutes: [{name: mirror}]\n"
                   "  alb: {ingress: shop, servicePort: 80}\n" +
                   step));
  ExpectOnlyError(alb, alb.Pos("setMirrorRoute"), "spec.strategy.canary.steps[0].setMirrorRoute",
                  "SetMirrorRoute requires TrafficRouting");
  Loaded none(Canary(step));
  ExpectOnlyError(none, none.Pos("setMirrorRoute"), "spec.strategy.canary.steps[0].setMirrorRoute",
                  "SetMirrorRoute requires TrafficRouting");
  ExpectClean(
      Loaded(Canary("trafficRouting:\n  managedRoutes: [{name: mirror}]\n"
                    "  plugins: {example.com/router: {}}\n" +
                    step)));
}

TEST(StepRules, MirrorRouteStringMatches) {
  const std::string routing =
      std::string(kIstioManaged) + "steps:\n- setMirrorRoute:\n    name: mirror\n    match:\n";
  Loaded method(RoutedCanary(routing + "    - method: {exact: GET, prefix: G}\n"));
  ExpectOnlyError(method, method.Pos("method"),
                  "spec.strategy.canary.steps[0].setMirrorRoute.match[0].method",
                  "must have exactly one of the following");
  Loaded path(RoutedCanary(routing + "    - path: {}\n"));
  ExpectOnlyError(path, path.Pos("path: {}"),
                  "spec.strategy.canary.steps[0].setMirrorRoute.match[0].path",
                  "StringMatch value missed");
  Loaded header(RoutedCanary(routing + "    - headers:\n        X-Debug: {}\n"));
  ExpectOnlyError(header, header.Pos("X-Debug"),
                  "spec.strategy.canary.steps[0].setMirrorRoute.match[0].headers.X-Debug",
                  "StringMatch value missed");
}

TEST(StepRules, RoutesNeedManagedRoutes) {
  const std::string istio = "trafficRouting:\n  istio: {virtualService: {name: vs}}\n";
  Loaded header(RoutedCanary(istio + "steps:\n- setHeaderRoute: {name: header}\n"));
  ExpectOnlyError(header, header.Pos("trafficRouting"),
                  "spec.strategy.canary.trafficRouting.managedRoutes",
                  "Rollout has missing field 'spec.strategy.canary.trafficRouting.managedRoutes'");
  Loaded mirror(RoutedCanary(istio + "steps:\n- setMirrorRoute: {name: mirror}\n"));
  ExpectOnlyError(mirror, mirror.Pos("trafficRouting"),
                  "spec.strategy.canary.trafficRouting.managedRoutes",
                  "Rollout has missing field 'spec.strategy.canary.trafficRouting.managedRoutes'");
}

TEST(StepRules, RouteNamesMustBeManaged) {
  Loaded header(
      RoutedCanary(std::string(kIstioManaged) + "steps:\n- setHeaderRoute: {name: other}\n"));
  ExpectOnlyError(header, header.Pos("setHeaderRoute"),
                  "spec.strategy.canary.steps[0].setHeaderRoute",
                  "Steps define a route that does not exist in "
                  "spec.strategy.canary.trafficRouting.managedRoutes (route \"other\")");
  Loaded mirror(
      RoutedCanary(std::string(kIstioManaged) + "steps:\n- setMirrorRoute: {name: other}\n"));
  ExpectOnlyError(mirror, mirror.Pos("setMirrorRoute"),
                  "spec.strategy.canary.steps[0].setMirrorRoute",
                  "Steps define a route that does not exist");
}

TEST(StepRules, BothRoutesOfOneStepMustBeManaged) {
  // A step may set a header route and a mirror route together: both names are checked.
  Loaded l(RoutedCanary(std::string(kIstioManaged) + "steps:\n- setHeaderRoute: {name: header}\n"
                                                     "  setMirrorRoute: {name: other}\n"));
  ExpectOnlyError(l, l.Pos("setMirrorRoute"), "spec.strategy.canary.steps[0].setMirrorRoute",
                  "(route \"other\")");
  Loaded both(RoutedCanary(std::string(kIstioManaged) + "steps:\n- setHeaderRoute: {name: x}\n"
                                                        "  setMirrorRoute: {name: y}\n"));
  EXPECT_THAT(both.Errors(),
              ElementsAre(Diag(both.Pos("setHeaderRoute"),
                               "spec.strategy.canary.steps[0].setHeaderRoute", "(route \"x\")"),
                          Diag(both.Pos("setMirrorRoute"),
                               "spec.strategy.canary.steps[0].setMirrorRoute", "(route \"y\")")));
  ExpectClean(
      Loaded(RoutedCanary(std::string(kIstioManaged) + "steps:\n- setHeaderRoute: {name: header}\n"
                                                       "  setMirrorRoute: {name: mirror}\n")));
}

TEST(StepRules, ExperimentTemplateWeight) {
  const std::string step =
      "steps:\n- experiment:\n    templates:\n    - name: a\n      specRef: canary\n"
      "      weight: 10\n";
  Loaded none(Canary(step));
  ExpectOnlyError(none, none.Pos("weight"),
                  "spec.strategy.canary.steps[0].experiment.templates[0].weight",
                  "Experiment template weight cannot be set unless TrafficRouting is enabled");
  Loaded nginx(RoutedCanary("trafficRouting:\n  nginx: {stableIngress: shop}\n" + step));
  ExpectOnlyError(nginx, nginx.Pos("weight"),
                  "spec.strategy.canary.steps[0].experiment.templates[0].weight",
                  "Experiment template weight is only available for TrafficRouting with SMI, ALB, "
                  "Istio and Plugins at this time");
  for (const char* router :
       {"smi: {}", "alb: {ingress: shop, servicePort: 80}", "istio: {virtualService: {name: vs}}",
        "plugins: {example.com/router: {}}"}) {
    SCOPED_TRACE(router);
    ExpectClean(Loaded(RoutedCanary(std::string("trafficRouting:\n  ") + router + "\n" + step)));
  }
  // Without a weight no router is needed.
  ExpectClean(
      Loaded(Canary("steps:\n- experiment:\n    templates: [{name: a, specRef: canary}]\n")));
}

std::string StepArg(const std::string& field_path) {
  return Canary(
      "steps:\n- analysis:\n    templates: [{templateName: a}]\n    args:\n    - name: x\n"
      "      valueFrom:\n        fieldRef:\n          fieldPath: \"" +
      field_path + "\"\n");
}

TEST(StepRules, AnalysisArgFieldRefMustResolve) {
  for (const char* path : {"metadata.foo", "metadata.labels[x]", "metadata.labels['']",
                           "metadata.name['x']", "metadatas.name"}) {
    SCOPED_TRACE(path);
    Loaded l(StepArg(path));
    ExpectOnlyError(l, "20:9", "spec.strategy.canary.steps[0]",
                    std::string("Analyses arguments must refer to valid object metadata supported "
                                "by downwardAPI (\"") +
                        path + "\" does not resolve)");
  }
}

TEST(StepRules, AnalysisArgFieldRefThatResolves) {
  // A missing label or annotation reads as "", as in Kubernetes' field paths; the whole label and
  // annotation maps resolve too.
  for (const char* path :
       {"metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels['absent']",
        "metadata.annotations['example.com/owner']", "metadata.labels", "metadata.annotations",
        "spec.replicas", "status.stableRS"}) {
    SCOPED_TRACE(path);
    ExpectClean(Loaded(StepArg(path)));
  }
}

TEST(StepRules, ExperimentAnalysisArgFieldRef) {
  Loaded l(
      Canary("steps:\n- experiment:\n    templates: [{name: a, specRef: canary}]\n"
             "    analyses:\n    - name: x\n      templateName: t\n      args:\n"
             "      - name: y\n        valueFrom: {fieldRef: {fieldPath: metadata.bogus}}\n"));
  ExpectOnlyError(l, "20:9", "spec.strategy.canary.steps[0]",
                  "(\"metadata.bogus\" does not resolve)");
}

}  // namespace
}  // namespace ramp::spec
