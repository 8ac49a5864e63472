#include "install/crd_schema.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ramp::install {
namespace {

using Schema = nlohmann::ordered_json;
using Fields = std::vector<std::pair<std::string, Schema>>;

// ---- Schema building blocks: one per ObjectReader getter --------------------------------------

Schema Str() { return Schema{{"type", "string"}}; }
Schema Int32() { return Schema{{"type", "integer"}, {"format", "int32"}}; }
Schema Int64() { return Schema{{"type", "integer"}, {"format", "int64"}}; }
Schema Bool() { return Schema{{"type", "boolean"}}; }
Schema IntOrStr() { return Schema{{"x-kubernetes-int-or-string", true}}; }
Schema List(Schema item) { return Schema{{"type", "array"}, {"items", std::move(item)}}; }
Schema StrList() { return List(Str()); }
Schema MapOf(Schema value) {
  return Schema{{"type", "object"}, {"additionalProperties", std::move(value)}};
}
Schema StrMap() { return MapOf(Str()); }
// An object ramp keeps as written (ToJson, or a lenient reader over an embedded Kubernetes
// object): the API server must not prune it.
Schema FreeObject() {
  return Schema{{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
}
// Any JSON value ramp keeps as written (a plugin's configuration, a web metric's jsonBody).
Schema AnyValue() { return Schema{{"x-kubernetes-preserve-unknown-fields", true}}; }

// An object with exactly these fields (properties sorted by name), some of them required.
Schema Obj(Fields fields, std::vector<std::string> required = {}) {
  std::map<std::string, Schema> sorted;
  for (auto& [name, schema] : fields) sorted.emplace(name, std::move(schema));
  Schema properties = Schema::object();
  for (auto& [name, schema] : sorted) properties[name] = std::move(schema);
  Schema s{{"type", "object"}};
  if (!properties.empty()) s["properties"] = std::move(properties);
  if (!required.empty()) s["required"] = required;
  return s;
}

// ---- Shared pieces (common.cc) -----------------------------------------------------------------

// DecodePodMetadata.
Schema PodMetadata() { return Obj({{"labels", StrMap()}, {"annotations", StrMap()}}); }

// DecodeLabelSelector.
Schema LabelSelector() {
  return Obj(
      {{"matchLabels", StrMap()},
       {"matchExpressions", List(Obj({{"key", Str()}, {"operator", Str()}, {"values", StrList()}},
                                     {"key", "operator"}))}});
}

// DecodePodTemplate / CheckPodTemplate: read leniently, kept as written.
Schema PodTemplate() { return FreeObject(); }

// DecodeArgument: a Rollout's argument may take the pod-template hash, a template's a Secret.
Schema Argument(bool rollout_arg) {
  Fields value_from = {{"fieldRef", Obj({{"fieldPath", Str()}}, {"fieldPath"})}};
  if (rollout_arg) {
    value_from.emplace_back("podTemplateHashValue", Str());
  } else {
    value_from.emplace_back("secretKeyRef",
                            Obj({{"name", Str()}, {"key", Str()}}, {"name", "key"}));
  }
  return Obj({{"name", Str()}, {"value", Str()}, {"valueFrom", Obj(std::move(value_from))}},
             {"name"});
}

// DecodeAnalysisTemplateRef.
Schema TemplateRef() {
  return Obj({{"templateName", Str()}, {"clusterScope", Bool()}}, {"templateName"});
}

// DecodeDryRun.
Schema DryRun() { return Obj({{"metricName", Str()}}, {"metricName"}); }

// DecodeMeasurementRetention.
Schema MeasurementRetention() {
  return Obj({{"metricName", Str()}, {"limit", Int32()}}, {"metricName", "limit"});
}

// ---- Rollout (rollout_decode.cc) ---------------------------------------------------------------

Schema StringMatch() { return Obj({{"exact", Str()}, {"prefix", Str()}, {"regex", Str()}}); }

// DecodeRolloutAnalysis: a background analysis may start at a step.
Schema RolloutAnalysis(bool background) {
  Fields f = {{"templates", List(TemplateRef())},
              {"args", List(Argument(true))},
              {"dryRun", List(DryRun())},
              {"measurementRetention", List(MeasurementRetention())},
              {"analysisRunMetadata", PodMetadata()}};
  if (background) f.emplace_back("startingStep", Int32());
  return Obj(std::move(f));
}

// DecodeAntiAffinity.
Schema AntiAffinity() {
  return Obj({{"preferredDuringSchedulingIgnoredDuringExecution", Obj({{"weight", Int32()}})},
              {"requiredDuringSchedulingIgnoredDuringExecution", Obj({})}});
}

// DecodeExperimentStep.
Schema ExperimentStep() {
  Schema template_ref = Obj({{"name", Str()},
                             {"specRef", Str()},
                             {"replicas", Int32()},
                             {"metadata", PodMetadata()},
                             {"selector", LabelSelector()},
                             {"weight", Int32()},
                             {"service", Obj({{"name", Str()}})}},
                            {"name", "specRef"});
  Schema analysis = Obj({{"name", Str()},
                         {"templateName", Str()},
                         {"clusterScope", Bool()},
                         {"args", List(Argument(true))},
                         {"requiredForCompletion", Bool()}},
                        {"name", "templateName"});
  return Obj({{"templates", List(std::move(template_ref))},
              {"duration", Str()},
              {"analyses", List(std::move(analysis))},
              {"dryRun", List(DryRun())},
              {"analysisRunMetadata", PodMetadata()},
              {"scaleDownDelaySeconds", Int32()}},
             {"templates"});
}

// DecodeCanaryStep.
Schema CanaryStep() {
  Schema header_route =
      Obj({{"name", Str()},
           {"match",
            List(Obj({{"headerName", Str()}, {"headerValue", StringMatch()}}, {"headerName"}))}});
  Schema mirror_route = Obj({{"name", Str()},
                             {"match", List(Obj({{"method", StringMatch()},
                                                 {"path", StringMatch()},
                                                 {"headers", MapOf(StringMatch())}}))},
                             {"percentage", Int32()}},
                            {"name"});
  return Obj({{"setWeight", Int32()},
              {"pause", Obj({{"duration", IntOrStr()}})},
              {"experiment", ExperimentStep()},
              {"analysis", RolloutAnalysis(false)},
              {"setCanaryScale",
               Obj({{"weight", Int32()}, {"replicas", Int32()}, {"matchTrafficWeight", Bool()}})},
              {"setHeaderRoute", std::move(header_route)},
              {"setMirrorRoute", std::move(mirror_route)},
              {"plugin", Obj({{"name", Str()}, {"config", AnyValue()}}, {"name"})}});
}

// DecodeVirtualService: Istio's has TLS and TCP routes, App Mesh's only HTTP ones.
Schema VirtualService(bool istio) {
  Fields f = {{"name", Str()}, {"routes", StrList()}};
  if (istio) {
    f.emplace_back("tlsRoutes", List(Obj({{"port", Int64()}, {"sniHosts", StrList()}})));
    f.emplace_back("tcpRoutes", List(Obj({{"port", Int64()}})));
  }
  return Obj(std::move(f), {"name"});
}

// DecodeTrafficRouting.
Schema TrafficRouting() {
  Schema istio = Obj({{"virtualService", VirtualService(true)},
                      {"virtualServices", List(VirtualService(true))},
                      {"destinationRule", Obj({{"name", Str()},
                                               {"canarySubsetName", Str()},
                                               {"stableSubsetName", Str()},
                                               {"additionalSubsetNames", StrList()}},
                                              {"name", "canarySubsetName", "stableSubsetName"})}});
  Schema nginx = Obj({{"annotationPrefix", Str()},
                      {"stableIngress", Str()},
                      {"stableIngresses", StrList()},
                      {"additionalIngressAnnotations", StrMap()},
                      {"canaryIngressAnnotations", StrMap()}});
  Schema alb = Obj({{"ingress", Str()},
                    {"ingresses", StrList()},
                    {"servicePort", Int32()},
                    {"rootService", Str()},
                    {"annotationPrefix", Str()},
                    {"stickinessConfig", Obj({{"enabled", Bool()}, {"durationSeconds", Int64()}})}},
                   {"servicePort"});
  Schema node_ref = Obj({{"name", Str()}});
  Schema app_mesh =
      Obj({{"virtualService", VirtualService(false)},
           {"virtualNodeGroup",
            Obj({{"canaryVirtualNodeRef", node_ref}, {"stableVirtualNodeRef", node_ref}},
                {"canaryVirtualNodeRef", "stableVirtualNodeRef"})}});
  return Obj(
      {{"istio", std::move(istio)},
       {"nginx", std::move(nginx)},
       {"alb", std::move(alb)},
       {"smi", Obj({{"rootService", Str()}, {"trafficSplitName", Str()}})},
       {"ambassador", Obj({{"mappings", StrList()}}, {"mappings"})},
       {"appMesh", std::move(app_mesh)},
       {"traefik", Obj({{"weightedTraefikServiceName", Str()}}, {"weightedTraefikServiceName"})},
       {"apisix", Obj({{"route", Obj({{"name", Str()}, {"rules", StrList()}}, {"name"})}})},
       {"managedRoutes", List(Obj({{"name", Str()}}, {"name"}))},
       {"plugins", FreeObject()},
       {"maxTrafficWeight", Int32()}});
}

// DecodeCanary.
Schema Canary() {
  return Obj({{"canaryService", Str()},
              {"stableService", Str()},
              {"steps", List(CanaryStep())},
              {"trafficRouting", TrafficRouting()},
              {"maxUnavailable", IntOrStr()},
              {"maxSurge", IntOrStr()},
              {"analysis", RolloutAnalysis(true)},
              {"antiAffinity", AntiAffinity()},
              {"canaryMetadata", PodMetadata()},
              {"stableMetadata", PodMetadata()},
              {"scaleDownDelaySeconds", Int32()},
              {"scaleDownDelayRevisionLimit", Int32()},
              {"abortScaleDownDelaySeconds", Int32()},
              {"dynamicStableScale", Bool()},
              {"pingPong", Obj({{"pingService", Str()}, {"pongService", Str()}})},
              {"minPodsPerReplicaSet", Int32()},
              {"replicaProgressThreshold", Obj({{"type", Str()}, {"value", Int32()}}, {"type"})}});
}

// DecodeBlueGreen.
Schema BlueGreen() {
  return Obj({{"activeService", Str()},
              {"previewService", Str()},
              {"previewReplicaCount", Int32()},
              {"autoPromotionEnabled", Bool()},
              {"autoPromotionSeconds", Int32()},
              {"maxUnavailable", IntOrStr()},
              {"scaleDownDelaySeconds", Int32()},
              {"scaleDownDelayRevisionLimit", Int32()},
              {"prePromotionAnalysis", RolloutAnalysis(false)},
              {"postPromotionAnalysis", RolloutAnalysis(false)},
              {"antiAffinity", AntiAffinity()},
              {"previewMetadata", PodMetadata()},
              {"activeMetadata", PodMetadata()},
              {"abortScaleDownDelaySeconds", Int32()}},
             {"activeService"});
}

// DecodeRollout's spec.
Schema RolloutSpec() {
  return Obj(
      {{"replicas", Int32()},
       {"selector", LabelSelector()},
       {"template", PodTemplate()},
       {"workloadRef",
        Obj({{"apiVersion", Str()}, {"kind", Str()}, {"name", Str()}, {"scaleDown", Str()}})},
       {"minReadySeconds", Int32()},
       {"rollbackWindow", Obj({{"revisions", Int32()}})},
       {"strategy", Obj({{"canary", Canary()}, {"blueGreen", BlueGreen()}})},
       {"revisionHistoryLimit", Int32()},
       {"paused", Bool()},
       {"progressDeadlineSeconds", Int32()},
       {"progressDeadlineAbort", Bool()},
       {"restartAt", Str()},
       {"analysis",
        Obj({{"successfulRunHistoryLimit", Int32()}, {"unsuccessfulRunHistoryLimit", Int32()}})}});
}

// ---- Analysis (analysis_decode.cc) -------------------------------------------------------------

// DecodeAuthentication.
Schema Authentication() {
  return Obj({{"sigv4", Obj({{"region", Str()}, {"profile", Str()}, {"roleArn", Str()}})},
              {"oauth2", Obj({{"tokenUrl", Str()},
                              {"clientId", Str()},
                              {"clientSecret", Str()},
                              {"scopes", StrList()}})},
              {"basicAuth", Obj({{"username", Str()}, {"password", Str()}})}});
}

// DecodeHeaders.
Schema Headers() { return List(Obj({{"key", Str()}, {"value", Str()}}, {"key", "value"})); }

// DecodeScopeDetail.
Schema KayentaScopeDetail() {
  return Obj(
      {{"scope", Str()}, {"region", Str()}, {"step", Int64()}, {"start", Str()}, {"end", Str()}},
      {"scope", "region", "step"});
}

// DecodeProvider and the provider decoders.
Schema Provider() {
  Schema prometheus = Obj({{"address", Str()},
                           {"query", Str()},
                           {"authentication", Authentication()},
                           {"timeout", Int64()},
                           {"insecure", Bool()},
                           {"headers", Headers()},
                           {"rangeQuery", Obj({{"start", Str()}, {"end", Str()}, {"step", Str()}},
                                              {"start", "end", "step"})}},
                          {"query"});
  Schema datadog = Obj({{"interval", Str()},
                        {"query", Str()},
                        {"queries", StrMap()},
                        {"formula", Str()},
                        {"apiVersion", Str()},
                        {"aggregator", Str()},
                        {"secretRef", Obj({{"name", Str()}, {"namespaced", Bool()}})},
                        {"requestTimeout", Str()}});
  Schema cloud_watch_query =
      Obj({{"id", Str()},
           {"expression", Str()},
           {"label", Str()},
           {"metricStat",
            Obj({{"metric", Obj({{"dimensions", List(Obj({{"name", Str()}, {"value", Str()}}))},
                                 {"metricName", Str()},
                                 {"namespace", Str()}})},
                 {"period", IntOrStr()},
                 {"stat", Str()},
                 {"unit", Str()}})},
           {"period", IntOrStr()},
           {"returnData", Bool()}},
          {"id"});
  Schema cloud_watch =
      Obj({{"interval", Str()}, {"metricDataQueries", List(std::move(cloud_watch_query))}},
          {"metricDataQueries"});
  Schema web = Obj({{"method", Str()},
                    {"url", Str()},
                    {"headers", Headers()},
                    {"body", Str()},
                    {"timeoutSeconds", Int64()},
                    {"jsonPath", Str()},
                    {"insecure", Bool()},
                    {"jsonBody", AnyValue()},
                    {"authentication", Authentication()}},
                   {"url"});
  Schema kayenta =
      Obj({{"address", Str()},
           {"application", Str()},
           {"canaryConfigName", Str()},
           {"metricsAccountName", Str()},
           {"configurationAccountName", Str()},
           {"storageAccountName", Str()},
           {"threshold", Obj({{"pass", Int64()}, {"marginal", Int64()}}, {"pass", "marginal"})},
           {"scopes", List(Obj({{"name", Str()},
                                {"controlScope", KayentaScopeDetail()},
                                {"experimentScope", KayentaScopeDetail()}},
                               {"name", "controlScope", "experimentScope"}))},
           {"lookback", Bool()}},
          {"address", "application", "canaryConfigName", "metricsAccountName",
           "configurationAccountName", "storageAccountName", "threshold", "scopes"});
  return Obj(
      {{"prometheus", std::move(prometheus)},
       {"datadog", std::move(datadog)},
       {"newRelic", Obj({{"profile", Str()}, {"query", Str()}, {"timeout", Int64()}}, {"query"})},
       {"cloudWatch", std::move(cloud_watch)},
       {"wavefront", Obj({{"address", Str()}, {"query", Str()}}, {"address", "query"})},
       {"graphite", Obj({{"address", Str()}, {"query", Str()}}, {"address", "query"})},
       {"influxdb", Obj({{"profile", Str()}, {"query", Str()}}, {"query"})},
       {"skywalking", Obj({{"address", Str()}, {"query", Str()}, {"interval", Str()}},
                          {"address", "query", "interval"})},
       {"web", std::move(web)},
       {"kayenta", std::move(kayenta)},
       {"job", Obj({{"metadata", FreeObject()}, {"spec", FreeObject()}}, {"spec"})},
       {"plugin", FreeObject()}});
}

// DecodeMetric.
Schema Metric() {
  return Obj({{"name", Str()},
              {"interval", Str()},
              {"initialDelay", Str()},
              {"count", IntOrStr()},
              {"successCondition", Str()},
              {"failureCondition", Str()},
              {"failureLimit", IntOrStr()},
              {"inconclusiveLimit", IntOrStr()},
              {"consecutiveErrorLimit", IntOrStr()},
              {"consecutiveSuccessLimit", IntOrStr()},
              {"provider", Provider()}},
             {"name", "provider"});
}

// DecodeTemplateSpec.
Schema AnalysisTemplateSpec() {
  return Obj({{"metrics", List(Metric())},
              {"args", List(Argument(false))},
              {"dryRun", List(DryRun())},
              {"measurementRetention", List(MeasurementRetention())},
              {"templates", List(TemplateRef())}});
}

// DecodeRunSpec.
Schema AnalysisRunSpec() {
  return Obj({{"metrics", List(Metric())},
              {"args", List(Argument(false))},
              {"terminate", Bool()},
              {"dryRun", List(DryRun())},
              {"measurementRetention", List(MeasurementRetention())},
              {"ttlStrategy", Obj({{"secondsAfterCompletion", Int32()},
                                   {"secondsAfterFailure", Int32()},
                                   {"secondsAfterSuccess", Int32()}})}},
             {"metrics"});
}

// DecodeExperimentSpec.
Schema ExperimentSpec() {
  Schema tmpl = Obj({{"name", Str()},
                     {"replicas", Int32()},
                     {"minReadySeconds", Int32()},
                     {"selector", LabelSelector()},
                     {"template", PodTemplate()},
                     {"service", Obj({{"name", Str()}})}},
                    {"name", "selector", "template"});
  Schema analysis = Obj({{"name", Str()},
                         {"templateName", Str()},
                         {"clusterScope", Bool()},
                         {"args", List(Argument(false))},
                         {"requiredForCompletion", Bool()}},
                        {"name", "templateName"});
  return Obj({{"templates", List(std::move(tmpl))},
              {"duration", Str()},
              {"progressDeadlineSeconds", Int32()},
              {"terminate", Bool()},
              {"analyses", List(std::move(analysis))},
              {"scaleDownDelaySeconds", Int32()},
              {"dryRun", List(DryRun())},
              {"measurementRetention", List(MeasurementRetention())},
              {"analysisRunMetadata", PodMetadata()}},
             {"templates"});
}

// ---- Kinds -------------------------------------------------------------------------------------

// The top level of every kind: type meta, ObjectMeta (the API server's own), spec and, for kinds
// the controller reports on, a status kept as written.
Schema Root(Schema spec, bool spec_required, bool with_status) {
  Fields f = {{"apiVersion", Str()},
              {"kind", Str()},
              {"metadata", Schema{{"type", "object"}}},
              {"spec", std::move(spec)}};
  if (with_status) f.emplace_back("status", FreeObject());
  std::vector<std::string> required;
  if (spec_required) required.push_back("spec");
  return Obj(std::move(f), std::move(required));
}

PrinterColumn Age() {
  return PrinterColumn{"Age", "date", ".metadata.creationTimestamp", "Time since creation"};
}

}  // namespace

std::vector<CrdModel> ArgoCrdModels() {
  std::vector<CrdModel> out;
  {
    CrdModel ro;
    ro.kind = "Rollout";
    ro.plural = "rollouts";
    ro.singular = "rollout";
    ro.short_names = {"ro"};
    ro.categories = {"all"};
    ro.status_subresource = true;
    // What an HPA scales: spec.replicas, read back from the replicas ramp counts for it.
    ro.scale = ScaleSubresource{".spec.replicas", ".status.HPAReplicas", ".status.selector"};
    ro.columns = {
        {"Desired", "integer", ".spec.replicas", "Pods the Rollout asks for"},
        {"Current", "integer", ".status.replicas",
         "Pods of every revision that are not terminated"},
        {"Up-to-date", "integer", ".status.updatedReplicas", "Pods of the newest revision"},
        {"Available", "integer", ".status.availableReplicas",
         "Pods ready for at least minReadySeconds"},
        Age()};
    ro.schema = Root(RolloutSpec(), false, true);
    out.push_back(std::move(ro));
  }
  for (bool cluster : {false, true}) {
    CrdModel at;
    at.kind = cluster ? "ClusterAnalysisTemplate" : "AnalysisTemplate";
    at.plural = cluster ? "clusteranalysistemplates" : "analysistemplates";
    at.singular = cluster ? "clusteranalysistemplate" : "analysistemplate";
    at.short_names = {cluster ? "cat" : "at"};
    at.namespaced = !cluster;
    at.columns = {Age()};
    // No status: the decoders ignore one and the API server prunes it.
    at.schema = Root(AnalysisTemplateSpec(), true, false);
    out.push_back(std::move(at));
  }
  {
    CrdModel ar;
    ar.kind = "AnalysisRun";
    ar.plural = "analysisruns";
    ar.singular = "analysisrun";
    ar.short_names = {"ar"};
    ar.status_subresource = true;
    ar.columns = {{"Status", "string", ".status.phase", "The run's phase"}, Age()};
    ar.schema = Root(AnalysisRunSpec(), true, true);
    out.push_back(std::move(ar));
  }
  {
    CrdModel exp;
    exp.kind = "Experiment";
    exp.plural = "experiments";
    exp.singular = "experiment";
    exp.short_names = {"exp"};
    exp.status_subresource = true;
    exp.columns = {{"Status", "string", ".status.phase", "The experiment's phase"}, Age()};
    exp.schema = Root(ExperimentSpec(), true, true);
    out.push_back(std::move(exp));
  }
  return out;
}

nlohmann::ordered_json CustomResourceDefinition(const CrdModel& model) {
  using json = nlohmann::ordered_json;
  json names = {{"kind", model.kind},
                {"listKind", model.kind + "List"},
                {"plural", model.plural},
                {"singular", model.singular}};
  if (!model.short_names.empty()) names["shortNames"] = model.short_names;
  if (!model.categories.empty()) names["categories"] = model.categories;
  json version = {{"name", kArgoVersion}, {"served", true}, {"storage", true}};
  if (model.status_subresource || model.scale) {
    json sub = json::object();
    if (model.status_subresource) sub["status"] = json::object();
    if (model.scale) {
      sub["scale"] = {{"specReplicasPath", model.scale->spec_replicas_path},
                      {"statusReplicasPath", model.scale->status_replicas_path},
                      {"labelSelectorPath", model.scale->label_selector_path}};
    }
    version["subresources"] = std::move(sub);
  }
  if (!model.columns.empty()) {
    json columns = json::array();
    for (const PrinterColumn& c : model.columns) {
      columns.push_back({{"name", c.name},
                         {"type", c.type},
                         {"jsonPath", c.json_path},
                         {"description", c.description}});
    }
    version["additionalPrinterColumns"] = std::move(columns);
  }
  version["schema"] = {{"openAPIV3Schema", model.schema}};
  return json{{"apiVersion", "apiextensions.k8s.io/v1"},
              {"kind", "CustomResourceDefinition"},
              {"metadata",
               {{"name", model.plural + "." + kArgoGroup},
                {"labels", {{"app.kubernetes.io/part-of", "ramp"}}}}},
              {"spec",
               {{"group", kArgoGroup},
                {"names", std::move(names)},
                {"scope", model.namespaced ? "Namespaced" : "Cluster"},
                {"versions", json::array({std::move(version)})}}}};
}

}  // namespace ramp::install
