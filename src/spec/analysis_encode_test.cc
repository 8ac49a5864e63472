// The analysis encoders: hand-written documents against JSON written by hand from Argo's field
// names, and the round trip encode → decode → encode over every AnalysisTemplate,
// ClusterAnalysisTemplate and AnalysisRun of ../shared/conformance.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "spec/analysis.h"

namespace ramp::spec {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string Conformance() { return std::string(RAMP_SHARED_DIR) + "/conformance"; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "path: message" of every diagnostic of one severity.
std::vector<std::string> Messages(const Diagnostics& d, Severity severity) {
  std::vector<std::string> out;
  for (const auto& item : d.items()) {
    if (item.severity == severity) out.push_back(item.path + ": " + item.message);
  }
  return out;
}

std::string Dump(const Diagnostics& d) {
  std::string out;
  for (const auto& item : d.items()) out += item.ToString() + "\n";
  return out;
}

// One document decoded by its kind and encoded again.
struct Decoded {
  std::string kind;
  json encoded;  // null when the kind is not an analysis kind
  Diagnostics diagnostics;
  AnalysisTemplate tmpl;
  AnalysisRun run;
};

Decoded DecodeRoot(const Node& root, const std::string& file) {
  Decoded d;
  const Node* kind = root.Find("kind");
  if (kind == nullptr || !kind->IsScalar()) return d;
  d.kind = kind->scalar;
  DecodeContext ctx(file, &d.diagnostics, nullptr);
  if (d.kind == "AnalysisTemplate") {
    d.tmpl = DecodeAnalysisTemplate(&ctx, root);
    d.encoded = ToJson(d.tmpl);
  } else if (d.kind == "ClusterAnalysisTemplate") {
    d.tmpl = DecodeClusterAnalysisTemplate(&ctx, root);
    d.encoded = ToJson(d.tmpl);
  } else if (d.kind == "AnalysisRun") {
    d.run = DecodeAnalysisRun(&ctx, root);
    d.encoded = ToJson(d.run);
  }
  return d;
}

// Parses JSON text (JSON is YAML) and decodes its one document.
Decoded DecodeJson(const json& j) {
  auto docs = ParseDocuments(j.dump(), "encoded.json");
  if (!docs.has_value() || docs->size() != 1) {
    ADD_FAILURE() << "encoded JSON does not parse: "
                  << (docs.has_value() ? "several documents" : docs.error().message());
    return {};
  }
  return DecodeRoot((*docs)[0].root, "encoded.json");
}

// decode(encode(x)) has no errors, the same warnings as x, and encodes to the same JSON.
void ExpectRoundTrip(const Decoded& first, const std::string& where) {
  Decoded second = DecodeJson(first.encoded);
  EXPECT_EQ(Messages(second.diagnostics, Severity::kError), std::vector<std::string>{})
      << where << "\n"
      << first.encoded.dump(2);
  EXPECT_EQ(Messages(second.diagnostics, Severity::kWarning),
            Messages(first.diagnostics, Severity::kWarning))
      << where;
  EXPECT_EQ(second.encoded.dump(2), first.encoded.dump(2)) << where;
}

// The one document of `yaml`, which must decode without errors.
Decoded DecodeYaml(const std::string& yaml) {
  auto docs = ParseDocuments(yaml, "test.yaml");
  if (!docs.has_value() || docs->size() != 1) {
    ADD_FAILURE() << "test YAML does not parse: "
                  << (docs.has_value() ? "several documents" : docs.error().message());
    return {};
  }
  Decoded d = DecodeRoot((*docs)[0].root, "test.yaml");
  EXPECT_FALSE(d.diagnostics.HasErrors()) << Dump(d.diagnostics);
  return d;
}

// ---- The conformance corpus ----

TEST(AnalysisEncodeTest, ConformanceDocumentsRoundTrip) {
  ASSERT_TRUE(fs::is_directory(Conformance())) << Conformance();
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(Conformance())) {
    if (!entry.is_regular_file()) continue;
    std::string ext = entry.path().extension().string();
    if (ext == ".yaml" || ext == ".yml" || ext == ".json") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  int covered = 0;
  int skipped = 0;
  std::set<std::string> providers;
  for (const std::string& file : files) {
    auto docs = ParseDocuments(ReadFile(file), file);
    if (!docs.has_value()) continue;
    for (const Document& doc : *docs) {
      Decoded first = DecodeRoot(doc.root, file);
      if (first.encoded.is_null()) continue;
      if (first.diagnostics.HasErrors()) {
        ++skipped;
        continue;
      }
      ++covered;
      const std::string rel = fs::relative(file, Conformance()).string();
      ExpectRoundTrip(first, rel + " document " + std::to_string(doc.index));
      const auto& metrics =
          first.kind == "AnalysisRun" ? first.run.spec.metrics : first.tmpl.spec.metrics;
      for (const Metric& m : metrics) {
        for (ProviderKind k : m.provider.Kinds()) providers.emplace(ProviderFieldName(k));
      }
    }
  }
  std::string names;
  for (const auto& p : providers) names += (names.empty() ? "" : ", ") + p;
  std::cout << "analysis encode round trip: " << covered << " conformance documents covered ("
            << skipped << " skipped: they do not decode without errors); providers: " << names
            << "\n";
  RecordProperty("covered", covered);
  EXPECT_GT(covered, 20);
}

// ---- Hand-written documents ----

constexpr char kEveryProvider[] = R"~(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: every-provider
  namespace: team-a
  labels: {app: demo}
  annotations: {owner: sre}
spec:
  args:
  - name: service
  - name: api-token
    valueFrom:
      secretKeyRef: {name: tokens, key: api}
  - name: empty
    value: ""
  dryRun: [{metricName: "dd|graphite"}]
  measurementRetention: [{metricName: prom, limit: 20}]
  templates:
  - templateName: base
  - templateName: global
    clusterScope: true
  metrics:
  - name: prom
    interval: 1m30s
    initialDelay: 90s
    count: "3"
    successCondition: result[0] >= 0.95
    failureCondition: result[0] < 0.5
    failureLimit: 1
    inconclusiveLimit: 0
    consecutiveErrorLimit: 2
    consecutiveSuccessLimit: 2
    provider:
      prometheus:
        address: http://prometheus:9090
        query: sum(rate(x{service="{{args.service}}"}[5m]))
        timeout: 20
        insecure: true
        headers: [{key: Authorization, value: "Bearer {{args.api-token}}"}]
        rangeQuery: {start: 'now() - duration("1h")', end: now(), step: 1m}
        authentication:
          sigv4: {region: us-east-1, profile: prod, roleArn: "arn:aws:iam::1:role/r"}
          oauth2: {tokenUrl: "https://auth/token", clientId: id, clientSecret: secret, scopes: [read, write]}
  - name: dd
    provider:
      datadog:
        apiVersion: v2
        interval: 5m
        queries: {a: "sum:requests.errors{*}", b: "sum:requests{*}"}
        formula: a / b
        aggregator: last
        secretRef: {name: dd-creds, namespaced: true}
        requestTimeout: 15s
  - name: nr
    provider:
      newRelic: {profile: nr, query: "SELECT count(*) FROM Transaction", timeout: 10}
  - name: cw
    provider:
      cloudWatch:
        interval: 10m
        metricDataQueries:
        - id: rate
          expression: errors / requests
          label: ratio
          returnData: true
        - id: errors
          metricStat:
            metric:
              namespace: AWS/ApplicationELB
              metricName: HTTPCode_Target_5XX_Count
              dimensions: [{name: LoadBalancer, value: app/lb/1}]
            period: 300
            stat: Sum
            unit: Count
          returnData: false
        - id: requests
          period: "60"
          metricStat: {metric: {metricName: RequestCount}, stat: Sum}
  - name: wf
    provider:
      wavefront: {address: example.wavefront.com, query: "ts(requests)"}
  - name: graphite
    provider:
      graphite: {address: "http://graphite:8080", query: "target=x&from=-5min"}
  - name: influx
    provider:
      influxdb: {profile: influx, query: 'from(bucket: "b")'}
  - name: sky
    provider:
      skywalking: {address: "http://oap:12800", query: "query x", interval: 5m}
  - name: web
    provider:
      web:
        method: POST
        url: "http://svc:8080/check?x={{args.service}}"
        headers: [{key: X-Token, value: t}]
        timeoutSeconds: 20
        jsonPath: "{$.ok}"
        insecure: true
        jsonBody: {service: "{{args.service}}", threshold: 0.5, tags: [a, b], nested: {enabled: true, n: 3}}
        authentication:
          basicAuth: {username: u, password: p}
  - name: kayenta
    provider:
      kayenta:
        address: "http://kayenta:8090"
        application: demo
        canaryConfigName: cfg
        metricsAccountName: m
        configurationAccountName: c
        storageAccountName: s
        threshold: {pass: 90, marginal: 75}
        scopes:
        - name: default
          controlScope: {scope: app=stable, region: us-east-1, step: 60, start: "2024-01-01T00:00:00Z", end: "2024-01-01T01:00:00Z"}
          experimentScope: {scope: app=canary, region: us-east-1, step: 60, start: "2024-01-01T00:00:00Z", end: "2024-01-01T01:00:00Z"}
        lookback: true
  - name: job
    provider:
      job:
        metadata: {labels: {job: smoke}, annotations: {a: b}}
        spec:
          backoffLimit: 1
          activeDeadlineSeconds: 120
          template:
            spec:
              restartPolicy: Never
              containers:
              - name: smoke
                image: busybox:1.36
                command: [sh, -c, "exit 0"]
                env: [{name: X, value: "1"}]
  - name: plugin
    provider:
      plugin:
        argoproj-labs/sample-prometheus: {address: "http://prom:9090", query: up, weights: [1, 2.5]}
)~";

// Written by hand from the Go json tags of analysis_types.go.
constexpr char kEveryProviderJson[] = R"~({
  "apiVersion": "argoproj.io/v1alpha1",
  "kind": "AnalysisTemplate",
  "metadata": {"name": "every-provider", "namespace": "team-a", "labels": {"app": "demo"},
               "annotations": {"owner": "sre"}},
  "spec": {
    "args": [
      {"name": "service"},
      {"name": "api-token", "valueFrom": {"secretKeyRef": {"name": "tokens", "key": "api"}}},
      {"name": "empty", "value": ""}
    ],
    "dryRun": [{"metricName": "dd|graphite"}],
    "measurementRetention": [{"metricName": "prom", "limit": 20}],
    "templates": [{"templateName": "base"}, {"templateName": "global", "clusterScope": true}],
    "metrics": [
      {"name": "prom", "interval": "1m30s", "initialDelay": "90s", "count": "3",
       "successCondition": "result[0] >= 0.95", "failureCondition": "result[0] < 0.5",
       "failureLimit": 1, "inconclusiveLimit": 0, "consecutiveErrorLimit": 2,
       "consecutiveSuccessLimit": 2,
       "provider": {"prometheus": {
         "address": "http://prometheus:9090",
         "query": "sum(rate(x{service=\"{{args.service}}\"}[5m]))",
         "timeout": 20, "insecure": true,
         "headers": [{"key": "Authorization", "value": "Bearer {{args.api-token}}"}],
         "rangeQuery": {"start": "now() - duration(\"1h\")", "end": "now()", "step": "1m"},
         "authentication": {
           "sigv4": {"region": "us-east-1", "profile": "prod", "roleArn": "arn:aws:iam::1:role/r"},
           "oauth2": {"tokenUrl": "https://auth/token", "clientId": "id", "clientSecret": "secret",
                      "scopes": ["read", "write"]}}}}},
      {"name": "dd", "provider": {"datadog": {
         "apiVersion": "v2", "interval": "5m",
         "queries": {"a": "sum:requests.errors{*}", "b": "sum:requests{*}"},
         "formula": "a / b", "aggregator": "last",
         "secretRef": {"name": "dd-creds", "namespaced": true}, "requestTimeout": "15s"}}},
      {"name": "nr", "provider": {"newRelic": {
         "profile": "nr", "query": "SELECT count(*) FROM Transaction", "timeout": 10}}},
      {"name": "cw", "provider": {"cloudWatch": {"interval": "10m", "metricDataQueries": [
         {"id": "rate", "expression": "errors / requests", "label": "ratio", "returnData": true},
         {"id": "errors", "returnData": false, "metricStat": {
            "metric": {"namespace": "AWS/ApplicationELB", "metricName": "HTTPCode_Target_5XX_Count",
                       "dimensions": [{"name": "LoadBalancer", "value": "app/lb/1"}]},
            "period": 300, "stat": "Sum", "unit": "Count"}},
         {"id": "requests", "period": "60",
          "metricStat": {"metric": {"metricName": "RequestCount"}, "stat": "Sum"}}]}}},
      {"name": "wf", "provider": {"wavefront": {
         "address": "example.wavefront.com", "query": "ts(requests)"}}},
      {"name": "graphite", "provider": {"graphite": {
         "address": "http://graphite:8080", "query": "target=x&from=-5min"}}},
      {"name": "influx", "provider": {"influxdb": {
         "profile": "influx", "query": "from(bucket: \"b\")"}}},
      {"name": "sky", "provider": {"skywalking": {
         "address": "http://oap:12800", "query": "query x", "interval": "5m"}}},
      {"name": "web", "provider": {"web": {
         "method": "POST", "url": "http://svc:8080/check?x={{args.service}}",
         "headers": [{"key": "X-Token", "value": "t"}], "timeoutSeconds": 20,
         "jsonPath": "{$.ok}", "insecure": true,
         "jsonBody": {"service": "{{args.service}}", "threshold": 0.5, "tags": ["a", "b"],
                      "nested": {"enabled": true, "n": 3}},
         "authentication": {"basicAuth": {"username": "u", "password": "p"}}}}},
      {"name": "kayenta", "provider": {"kayenta": {
         "address": "http://kayenta:8090", "application": "demo", "canaryConfigName": "cfg",
         "metricsAccountName": "m", "configurationAccountName": "c", "storageAccountName": "s",
         "threshold": {"pass": 90, "marginal": 75},
         "scopes": [{"name": "default",
           "controlScope": {"scope": "app=stable", "region": "us-east-1", "step": 60,
                            "start": "2024-01-01T00:00:00Z", "end": "2024-01-01T01:00:00Z"},
           "experimentScope": {"scope": "app=canary", "region": "us-east-1", "step": 60,
                               "start": "2024-01-01T00:00:00Z", "end": "2024-01-01T01:00:00Z"}}],
         "lookback": true}}},
      {"name": "job", "provider": {"job": {
         "metadata": {"labels": {"job": "smoke"}, "annotations": {"a": "b"}},
         "spec": {"backoffLimit": 1, "activeDeadlineSeconds": 120, "template": {"spec": {
           "restartPolicy": "Never",
           "containers": [{"name": "smoke", "image": "busybox:1.36",
                           "command": ["sh", "-c", "exit 0"],
                           "env": [{"name": "X", "value": "1"}]}]}}}}}},
      {"name": "plugin", "provider": {"plugin": {"argoproj-labs/sample-prometheus": {
         "address": "http://prom:9090", "query": "up", "weights": [1, 2.5]}}}}
    ]
  }
})~";

TEST(AnalysisEncodeTest, EveryProviderAsArgoWritesIt) {
  Decoded d = DecodeYaml(kEveryProvider);
  EXPECT_EQ(d.encoded.dump(2), json::parse(kEveryProviderJson).dump(2));
  ExpectRoundTrip(d, "every provider");
  // Each provider's own encoder, through ToJson(Metric).
  ASSERT_EQ(d.tmpl.spec.metrics.size(), 12u);
  EXPECT_EQ(ToJson(d.tmpl.spec.metrics[2]),
            json::parse(R"~({"name": "nr", "provider": {"newRelic": {"profile": "nr",
                "query": "SELECT count(*) FROM Transaction", "timeout": 10}}})~"));
}

TEST(AnalysisEncodeTest, ClusterTemplateKindAndSpecOnly) {
  Decoded d = DecodeYaml(R"~(apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata: {name: global}
spec:
  metrics:
  - name: up
    provider: {newRelic: {query: "SELECT 1"}}
)~");
  EXPECT_EQ(d.encoded, json::parse(R"~({"apiVersion": "argoproj.io/v1alpha1",
      "kind": "ClusterAnalysisTemplate", "metadata": {"name": "global"},
      "spec": {"metrics": [{"name": "up", "provider": {"newRelic": {"query": "SELECT 1"}}}]}})~"));
  EXPECT_EQ(ToJson(d.tmpl.spec), json::parse(R"~({"metrics": [{"name": "up",
                "provider": {"newRelic": {"query": "SELECT 1"}}}]})~"));
  ExpectRoundTrip(d, "cluster template");
}

constexpr char kRun[] = R"~(apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata:
  name: demo-6f9-2-1
  namespace: default
  uid: a1b2
  resourceVersion: "17"
  generation: 2
  creationTimestamp: "2024-05-01T09:59:59Z"
  labels: {rollout-type: Step, step-index: "1"}
  annotations: {rollout.argoproj.io/revision: "2"}
spec:
  terminate: true
  args:
  - {name: service, value: demo}
  - {name: token, valueFrom: {secretKeyRef: {name: s, key: k}}}
  dryRun: [{metricName: latency}]
  measurementRetention: [{metricName: ".*", limit: 5}]
  ttlStrategy: {secondsAfterCompletion: 600, secondsAfterFailure: 60}
  metrics:
  - name: success-rate
    interval: 60s
    count: 0
    failureLimit: -1
    consecutiveSuccessLimit: "{{args.streak}}"
    successCondition: result[0] > 0.9
    provider: {prometheus: {query: up}}
  - name: latency
    provider: {web: {url: "http://x/latency", jsonPath: "{$.p99}"}}
status:
  phase: Running
  message: waiting
  startedAt: "2024-05-01T10:00:00Z"
  runSummary: {count: 2, successful: 1}
  dryRunSummary: {count: 1, successful: 1}
  metricResults:
  - name: success-rate
    phase: Running
    count: 2
    successful: 2
    consecutiveSuccess: 2
    metadata: {ResolvedPrometheusQuery: up}
    measurements:
    - {phase: Successful, startedAt: "2024-05-01T10:00:00Z", finishedAt: "2024-05-01T10:00:01.5Z", value: "[0.99]"}
    - {phase: Running, startedAt: "2024-05-01T12:01:00+02:00", resumeAt: "2024-05-01T10:01:30Z", metadata: {job-name: x}}
  - name: latency
    phase: Successful
    dryRun: true
    count: 1
    successful: 1
    measurements:
    - {phase: Successful, startedAt: "2024-05-01T10:00:00Z", finishedAt: "2024-05-01T10:00:00Z", value: "120"}
)~";

constexpr char kRunJson[] = R"~({
  "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
  "metadata": {"name": "demo-6f9-2-1", "namespace": "default", "uid": "a1b2",
               "resourceVersion": "17", "generation": 2,
               "creationTimestamp": "2024-05-01T09:59:59Z",
               "labels": {"rollout-type": "Step", "step-index": "1"},
               "annotations": {"rollout.argoproj.io/revision": "2"}},
  "spec": {
    "terminate": true,
    "args": [{"name": "service", "value": "demo"},
             {"name": "token", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
    "dryRun": [{"metricName": "latency"}],
    "measurementRetention": [{"metricName": ".*", "limit": 5}],
    "ttlStrategy": {"secondsAfterCompletion": 600, "secondsAfterFailure": 60},
    "metrics": [
      {"name": "success-rate", "interval": "60s", "count": 0, "failureLimit": -1,
       "consecutiveSuccessLimit": "{{args.streak}}", "successCondition": "result[0] > 0.9",
       "provider": {"prometheus": {"query": "up"}}},
      {"name": "latency", "provider": {"web": {"url": "http://x/latency", "jsonPath": "{$.p99}"}}}
    ]
  },
  "status": {
    "phase": "Running", "message": "waiting", "startedAt": "2024-05-01T10:00:00Z",
    "runSummary": {"count": 2, "successful": 1},
    "dryRunSummary": {"count": 1, "successful": 1},
    "metricResults": [
      {"name": "success-rate", "phase": "Running", "count": 2, "successful": 2,
       "consecutiveSuccess": 2, "metadata": {"ResolvedPrometheusQuery": "up"},
       "measurements": [
         {"phase": "Successful", "startedAt": "2024-05-01T10:00:00Z",
          "finishedAt": "2024-05-01T10:00:01.5Z", "value": "[0.99]"},
         {"phase": "Running", "startedAt": "2024-05-01T12:01:00+02:00",
          "resumeAt": "2024-05-01T10:01:30Z", "metadata": {"job-name": "x"}}]},
      {"name": "latency", "phase": "Successful", "dryRun": true, "count": 1, "successful": 1,
       "measurements": [{"phase": "Successful", "startedAt": "2024-05-01T10:00:00Z",
                         "finishedAt": "2024-05-01T10:00:00Z", "value": "120"}]}
    ]
  }
})~";

TEST(AnalysisEncodeTest, RunDocumentAsArgoWritesIt) {
  Decoded d = DecodeYaml(kRun);
  EXPECT_EQ(d.encoded.dump(2), json::parse(kRunJson).dump(2));
  EXPECT_EQ(ToJson(d.run.spec).dump(2), json::parse(kRunJson)["spec"].dump(2));
  ExpectRoundTrip(d, "run");
  // Times keep their spelling and their value.
  Decoded again = DecodeJson(d.encoded);
  const Measurement& m = again.run.status.metric_results[0].measurements[1];
  EXPECT_EQ(m.started_at->text, "2024-05-01T12:01:00+02:00");
  EXPECT_EQ(m.started_at->unix_nanos,
            d.run.status.metric_results[0].measurements[1].started_at->unix_nanos);
  EXPECT_EQ(
      again.run.status.metric_results[0].measurements[0].finished_at->unix_nanos % 1'000'000'000,
      500'000'000);
}

TEST(AnalysisEncodeTest, RunWithoutStatusHasNone) {
  Decoded d = DecodeYaml(R"~(apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {generateName: demo-}
spec:
  metrics:
  - name: once
    provider: {wavefront: {address: wf.example.com, query: "ts(x)"}}
)~");
  EXPECT_FALSE(d.run.has_status);
  EXPECT_EQ(d.encoded, json::parse(R"~({"apiVersion": "argoproj.io/v1alpha1",
      "kind": "AnalysisRun", "metadata": {"generateName": "demo-"},
      "spec": {"metrics": [{"name": "once",
          "provider": {"wavefront": {"address": "wf.example.com", "query": "ts(x)"}}}]}})~"));
  ExpectRoundTrip(d, "run without status");
  EXPECT_FALSE(DecodeJson(d.encoded).run.has_status);
}

// A run the engine made fills its status without has_status; the status is still written.
TEST(AnalysisEncodeTest, FilledStatusIsWrittenWithoutHasStatus) {
  AnalysisRun run;
  run.metadata.name = "r";
  Metric m;
  m.name = "m";
  m.provider.graphite = GraphiteMetric{"http://g:8080", "target=x"};
  run.spec.metrics.push_back(m);
  EXPECT_FALSE(ToJson(run).contains("status"));
  run.status.phase = AnalysisPhase::kRunning;
  json j = ToJson(run);
  ASSERT_TRUE(j.contains("status"));
  EXPECT_EQ(j["status"], json::parse(R"~({"phase": "Running", "runSummary": {}})~"));
  EXPECT_EQ(ToJson(run.metadata), json::parse(R"~({"name": "r"})~"));
}

TEST(AnalysisEncodeTest, IntOrStringAndDurationsKeepTheirSpelling) {
  Metric m;
  m.name = "m";
  m.interval = DurationString{"90s", 90'000'000'000};
  m.initial_delay = DurationString{"{{args.delay}}", std::nullopt};
  m.count = IntOrString::Str("5");
  m.failure_limit = IntOrString::Int(0);
  m.inconclusive_limit = IntOrString::Str("{{args.n}}");
  m.provider.plugin["ramp/example"] = nullptr;
  EXPECT_EQ(ToJson(m), json::parse(R"~({"name": "m", "interval": "90s",
      "initialDelay": "{{args.delay}}", "count": "5", "failureLimit": 0,
      "inconclusiveLimit": "{{args.n}}", "provider": {"plugin": {"ramp/example": null}}})~"));
}

TEST(AnalysisEncodeTest, EmptyGoStructsAreLeftOut) {
  Metric m;
  m.name = "p";
  m.provider.prometheus = PrometheusMetric{};
  m.provider.prometheus->query = "up";
  m.provider.datadog = DatadogMetric{};
  m.provider.datadog->query = "avg:x{*}";
  m.provider.job = JobMetric{};
  m.provider.job->spec = json::parse(R"~({"template": {}})~");
  EXPECT_EQ(ToJson(m), json::parse(R"~({"name": "p", "provider": {
      "prometheus": {"query": "up"}, "datadog": {"query": "avg:x{*}"},
      "job": {"spec": {"template": {}}}}})~"));
}

}  // namespace
}  // namespace ramp::spec
