#include "spec/analysis.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ramp::spec {
namespace {

std::string ConformancePath(const std::string& rel) {
  return std::string(RAMP_SHARED_DIR) + "/conformance/" + rel;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Dump(const Diagnostics& d) {
  std::string out;
  for (const auto& item : d.items()) out += item.ToString() + "\n";
  return out;
}

// Decodes every document of the analysis kinds in `text`; returns how many were decoded.
int DecodeKinds(const std::string& text, const std::string& file, Diagnostics* diags) {
  auto docs = ParseDocuments(text, file);
  if (!docs.has_value()) {
    diags->Error(file, Mark{}, "", docs.error().message());
    return 0;
  }
  int decoded = 0;
  for (const auto& doc : *docs) {
    const Node* kind = doc.root.Find("kind");
    if (kind == nullptr || !kind->IsScalar()) continue;
    SourceMap sources;
    DecodeContext ctx(file, diags, &sources);
    if (kind->scalar == "AnalysisTemplate") {
      DecodeAnalysisTemplate(&ctx, doc.root);
    } else if (kind->scalar == "ClusterAnalysisTemplate") {
      DecodeClusterAnalysisTemplate(&ctx, doc.root);
    } else if (kind->scalar == "AnalysisRun") {
      DecodeAnalysisRun(&ctx, doc.root);
    } else if (kind->scalar == "Experiment") {
      DecodeExperiment(&ctx, doc.root);
    } else {
      continue;
    }
    ++decoded;
  }
  return decoded;
}

int DecodeFile(const std::string& rel, Diagnostics* diags) {
  return DecodeKinds(ReadFile(ConformancePath(rel)), rel, diags);
}

// One decode of one document, keeping everything the assertions need.
struct Decode {
  Diagnostics diags;
  SourceMap sources;
  std::vector<Document> docs;
  std::unique_ptr<DecodeContext> ctx;

  explicit Decode(const std::string& text) {
    auto d = ParseDocuments(text, "t.yaml");
    EXPECT_TRUE(d.has_value()) << (d.has_value() ? "" : d.error().message());
    if (d.has_value()) docs = std::move(*d);
    ctx = std::make_unique<DecodeContext>("t.yaml", &diags, &sources);
  }
  const Node& root() const { return docs.at(0).root; }
  AnalysisTemplate Template() { return DecodeAnalysisTemplate(ctx.get(), root()); }
  AnalysisRun Run() { return DecodeAnalysisRun(ctx.get(), root()); }
  Experiment Exp() { return DecodeExperiment(ctx.get(), root()); }

  std::vector<Diagnostic> Errors() const {
    std::vector<Diagnostic> out;
    for (const auto& d : diags.items()) {
      if (d.severity == Severity::kError) out.push_back(d);
    }
    return out;
  }
  std::vector<Diagnostic> Warnings() const {
    std::vector<Diagnostic> out;
    for (const auto& d : diags.items()) {
      if (d.severity == Severity::kWarning) out.push_back(d);
    }
    return out;
  }
};

// Asserts exactly one error, at `path` on `line`, whose message contains `text`.
void ExpectOneError(const Decode& d, const std::string& path, int line, const std::string& text) {
  auto errors = d.Errors();
  ASSERT_EQ(errors.size(), 1u) << Dump(d.diags);
  EXPECT_EQ(errors[0].path, path) << Dump(d.diags);
  EXPECT_EQ(errors[0].mark.line, line) << Dump(d.diags);
  EXPECT_NE(errors[0].message.find(text), std::string::npos)
      << "want \"" << text << "\" in: " << Dump(d.diags);
}

void ExpectClean(const Decode& d) { EXPECT_EQ(d.diags.items().size(), 0u) << Dump(d.diags); }

// An AnalysisTemplate with one metric named "m"; `metric` holds the metric's other fields,
// indented by 4 spaces, starting on line 8.
std::string TemplateWithMetric(const std::string& metric) {
  std::string out =
      "apiVersion: argoproj.io/v1alpha1\n"  // 1
      "kind: AnalysisTemplate\n"            // 2
      "metadata:\n"                         // 3
      "  name: t\n"                         // 4
      "spec:\n"                             // 5
      "  metrics:\n"                        // 6
      "  - name: m\n";                      // 7
  std::istringstream in(metric);
  std::string line;
  while (std::getline(in, line)) out += "    " + line + "\n";
  return out;
}

constexpr char kWeb[] = "provider:\n  web:\n    url: http://svc/metrics\n";

// ---------------------------------------------------------------------------------------------
// Conformance inputs from Argo's repository.

TEST(AnalysisConformance, ExamplesDecodeClean) {
  for (const char* rel :
       {"argo-examples/analysis-templates.yaml", "argo-examples/cluster-analysis-templates.yaml",
        "argo-examples/experiment-with-analysis.yaml", "argo-examples/rollout-secret.yaml",
        "argo-examples/appmesh/canary-rollout.yaml", "argo-examples/traffic-management/job.yaml"}) {
    Diagnostics diags;
    EXPECT_GT(DecodeFile(rel, &diags), 0) << rel;
    EXPECT_EQ(diags.ErrorCount(), 0u) << rel << "\n" << Dump(diags);
  }
}

TEST(AnalysisConformance, ExampleTemplatesDecodeToTheirValues) {
  auto docs = ParseDocuments(ReadFile(ConformancePath("argo-examples/analysis-templates.yaml")),
                             "analysis-templates.yaml");
  ASSERT_TRUE(docs.has_value());
  std::vector<AnalysisTemplate> templates;
  Diagnostics diags;
  for (const auto& doc : *docs) {
    if (doc.root.IsNull()) continue;
    DecodeContext ctx("analysis-templates.yaml", &diags, nullptr);
    templates.push_back(DecodeAnalysisTemplate(&ctx, doc.root));
  }
  ASSERT_EQ(templates.size(), 2u);
  EXPECT_EQ(diags.ErrorCount(), 0u) << Dump(diags);
  const AnalysisTemplate& random_fail = templates[1];
  EXPECT_EQ(random_fail.metadata.name, "random-fail");
  EXPECT_FALSE(random_fail.cluster_scoped);
  ASSERT_EQ(random_fail.spec.metrics.size(), 1u);
  const Metric& m = random_fail.spec.metrics[0];
  EXPECT_EQ(m.name, "random-fail");
  EXPECT_EQ(m.count, IntOrString::Int(2));
  EXPECT_EQ(m.interval.nanos, 5'000'000'000);
  EXPECT_EQ(m.EffectiveFailureLimit(), 1);
  EXPECT_EQ(m.EffectiveCount(), 2);
  ASSERT_EQ(m.provider.kind(), ProviderKind::kJob);
  const JobMetric& job = *m.provider.job;
  EXPECT_EQ(job.backoff_limit, 0);
  EXPECT_EQ(job.spec["backoffLimit"], 0);
  ASSERT_TRUE(job.container.has_value());
  EXPECT_EQ(job.container->image, "alpine:3.8");
  EXPECT_EQ(job.container->command, (std::vector<std::string>{"sh", "-c"}));
  EXPECT_EQ(job.container->args,
            (std::vector<std::string>{"FLIP=$(($(($RANDOM%10))%2)) && exit $FLIP"}));
}

TEST(AnalysisConformance, ClusterTemplateIsClusterScoped) {
  Decode d(ReadFile(ConformancePath("argo-examples/cluster-analysis-templates.yaml")));
  AnalysisTemplate t = DecodeClusterAnalysisTemplate(d.ctx.get(), d.root());
  ExpectClean(d);
  EXPECT_TRUE(t.cluster_scoped);
  EXPECT_EQ(t.metadata.name, "always-pass");
  ASSERT_EQ(t.spec.metrics.size(), 1u);
  EXPECT_EQ(t.spec.metrics[0].name, "pass");
}

TEST(AnalysisConformance, ExperimentExampleDecodes) {
  Decode d(ReadFile(ConformancePath("argo-examples/experiment-with-analysis.yaml")));
  Experiment e = d.Exp();
  ExpectClean(d);
  ASSERT_EQ(e.spec.templates.size(), 2u);
  EXPECT_EQ(e.spec.templates[0].name, "purple");
  EXPECT_EQ(e.spec.templates[0].EffectiveReplicas(), 1);
  EXPECT_EQ(e.spec.templates[0].selector.match_labels.at("app"), "rollouts-demo");
  EXPECT_EQ(e.spec.templates[0].pod_metadata.labels.at("app"), "rollouts-demo");
  ASSERT_TRUE(e.spec.templates[1].container.has_value());
  EXPECT_EQ(e.spec.templates[1].container->image, "argoproj/rollouts-demo:orange");
  EXPECT_EQ(e.spec.templates[1].pod_template["spec"]["containers"][0]["imagePullPolicy"], "Always");
  ASSERT_EQ(e.spec.analyses.size(), 2u);
  EXPECT_EQ(e.spec.analyses[1].template_name, "pass");
  EXPECT_TRUE(e.spec.duration.empty());
  EXPECT_EQ(e.spec.EffectiveProgressDeadlineSeconds(), 600);
  EXPECT_EQ(e.spec.EffectiveScaleDownDelaySeconds(), 30);
}

TEST(AnalysisConformance, E2eFunctionalTemplatesDecodeClean) {
  namespace fs = std::filesystem;
  int files = 0;
  for (const auto& entry : fs::directory_iterator(ConformancePath("argo-e2e-functional"))) {
    std::string name = entry.path().filename().string();
    bool analysis = name.rfind("analysistemplate-", 0) == 0 || name.rfind("experiment-", 0) == 0 ||
                    name == "analysis-run-job.yaml" || name == "rollout-secret-withArgs.yaml" ||
                    name == "rollout-bg-analysis-withArgs.yaml" ||
                    name == "rollout-experiment-analysis.yaml";
    if (!analysis) continue;
    ++files;
    Diagnostics diags;
    int decoded = DecodeKinds(ReadFile(entry.path().string()), name, &diags);
    if (name.rfind("analysistemplate-", 0) == 0) {
      EXPECT_GT(decoded, 0) << name;
    }
    EXPECT_EQ(diags.ErrorCount(), 0u) << name << "\n" << Dump(diags);
  }
  EXPECT_GE(files, 8);
}

TEST(AnalysisConformance, TemplatedValuesAreKeptAndSkipChecks) {
  Decode d(ReadFile(ConformancePath("argo-e2e-functional/rollout-secret-withArgs.yaml")));
  for (const auto& doc : d.docs) {
    const Node* kind = doc.root.Find("kind");
    if (kind == nullptr || kind->scalar != "AnalysisTemplate") continue;
    AnalysisTemplate t = DecodeAnalysisTemplate(d.ctx.get(), doc.root);
    ASSERT_EQ(t.spec.metrics.size(), 1u);
    const Metric& m = t.spec.metrics[0];
    EXPECT_EQ(m.count, IntOrString::Str("{{args.analysis-runs}}"));
    EXPECT_EQ(m.interval.text, "{{args.analysis-interval}}");
    EXPECT_FALSE(m.interval.nanos.has_value());
    EXPECT_EQ(m.provider.web->url, "{{args.secret-url}}");
    ASSERT_EQ(t.spec.args.size(), 6u);
    EXPECT_EQ(t.spec.args[5].value_from->secret_key_ref->key, "secretUrl");
  }
  EXPECT_EQ(d.diags.ErrorCount(), 0u) << Dump(d.diags);
}

// The malformed objects of Argo's expected-failure suite carry an invalid resource quantity in
// the job's (or experiment's) pod template.
void ExpectInvalidQuantity(const std::string& rel, const std::string& path, int line) {
  Diagnostics diags;
  EXPECT_EQ(DecodeFile(rel, &diags), 1) << rel;
  ASSERT_EQ(diags.ErrorCount(), 1u) << rel << "\n" << Dump(diags);
  const Diagnostic& e = diags.items()[0];
  EXPECT_EQ(e.path, path);
  EXPECT_EQ(e.mark.line, line);
  EXPECT_EQ(e.mark.column, 29);
  EXPECT_NE(e.message.find("invalid quantity \"invalid\""), std::string::npos) << e.ToString();
}

TEST(AnalysisConformance, MalformedAnalysisTemplate) {
  ExpectInvalidQuantity(
      "argo-e2e-expectedfailures/malformed-analysistemplate.yaml",
      "spec.metrics[0].provider.job.spec.template.spec.containers[0].resources.requests.memory",
      18);
}

TEST(AnalysisConformance, MalformedClusterAnalysisTemplate) {
  ExpectInvalidQuantity(
      "argo-e2e-expectedfailures/malformed-clusteranalysistemplate.yaml",
      "spec.metrics[0].provider.job.spec.template.spec.containers[0].resources.requests.memory",
      18);
}

TEST(AnalysisConformance, MalformedAnalysisRun) {
  ExpectInvalidQuantity(
      "argo-e2e-expectedfailures/malformed-analysisrun.yaml",
      "spec.metrics[0].provider.job.spec.template.spec.containers[0].resources.requests.memory",
      18);
}

TEST(AnalysisConformance, MalformedExperiment) {
  Diagnostics diags;
  EXPECT_EQ(DecodeFile("argo-e2e-expectedfailures/malformed-experiment.yaml", &diags), 1);
  ASSERT_EQ(diags.ErrorCount(), 1u) << Dump(diags);
  EXPECT_EQ(diags.items()[0].path,
            "spec.templates[0].template.spec.containers[0].resources.requests.memory");
  EXPECT_EQ(diags.items()[0].mark.line, 22);
}

TEST(AnalysisConformance, ExperimentWithoutPodSpec) {
  Diagnostics diags;
  EXPECT_EQ(DecodeFile("argo-e2e-expectedfailures/experiment-invalid.yaml", &diags), 1);
  ASSERT_EQ(diags.ErrorCount(), 1u) << Dump(diags);
  EXPECT_EQ(diags.items()[0].path, "spec.templates[1].template.spec");
  EXPECT_NE(diags.items()[0].message.find("Required value"), std::string::npos);
}

TEST(AnalysisConformance, PrometheusRunWithoutQuery) {
  Diagnostics diags;
  EXPECT_EQ(DecodeFile("argo-e2e-expectedfailures/analysis-run-prometheus-bad-server.yaml", &diags),
            1);
  ASSERT_EQ(diags.ErrorCount(), 1u) << Dump(diags);
  EXPECT_EQ(diags.items()[0].path, "spec.metrics[0].provider.prometheus.query");
  EXPECT_EQ(diags.items()[0].mark.line, 10);  // the prometheus map (its first key)
}

TEST(AnalysisConformance, FailFastRunIsNotValidYaml) {
  // Argo's file indents its second metric under the first one's provider: a YAML syntax error.
  auto docs = ParseDocuments(
      ReadFile(ConformancePath("argo-e2e-expectedfailures/analysis-run-failfast.yaml")),
      "analysis-run-failfast.yaml");
  EXPECT_FALSE(docs.has_value());
}

TEST(AnalysisConformance, RuntimeFailuresStillDecode) {
  // These fail while running (missing template, failing job, image that does not exist), not
  // when they are read.
  for (const char* rel : {"argo-e2e-expectedfailures/experiment-degrade.yaml",
                          "argo-e2e-expectedfailures/experiment-error-template-missing.yaml",
                          "argo-e2e-expectedfailures/experiment-failed-analysis.yaml"}) {
    Diagnostics diags;
    EXPECT_GT(DecodeFile(rel, &diags), 0) << rel;
    EXPECT_EQ(diags.ErrorCount(), 0u) << rel << "\n" << Dump(diags);
  }
}

// ---------------------------------------------------------------------------------------------
// Metric rules (utils/analysis/factory.go ValidateMetric).

TEST(MetricRules, CleanMetric) {
  Decode d(TemplateWithMetric(std::string("interval: 1m\ncount: 5\nfailureLimit: 2\n") + kWeb));
  AnalysisTemplate t = d.Template();
  ExpectClean(d);
  EXPECT_EQ(t.spec.metrics[0].EffectiveCount(), 5);
}

TEST(MetricRules, ConsecutiveSuccessLimitNegative) {
  Decode d(TemplateWithMetric(std::string("consecutiveSuccessLimit: -1\n") + kWeb));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].consecutiveSuccessLimit", 8, "must be >= 0 (got -1)");
}

TEST(MetricRules, FailureLimitBelowMinusOne) {
  Decode d(TemplateWithMetric(std::string("failureLimit: -2\n") + kWeb));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].failureLimit", 8, "must be >= 0, or -1 to disable it");
}

TEST(MetricRules, FailureLimitDisabledNeedsConsecutiveSuccessLimit) {
  Decode d(TemplateWithMetric(std::string("failureLimit: -1\n") + kWeb));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].failureLimit", 8,
                 "failureLimit and consecutiveSuccessLimit cannot both be disabled");

  Decode ok(TemplateWithMetric(
      std::string("failureLimit: -1\nconsecutiveSuccessLimit: 3\ninterval: 1m\n") + kWeb));
  ok.Template();
  ExpectClean(ok);
}

TEST(MetricRules, InconclusiveAndConsecutiveErrorLimitsNegative) {
  Decode d(TemplateWithMetric(std::string("inconclusiveLimit: -1\n") + kWeb));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].inconclusiveLimit", 8, "must be >= 0");
  Decode e(TemplateWithMetric(std::string("consecutiveErrorLimit: \"-3\"\n") + kWeb));
  e.Template();
  ExpectOneError(e, "spec.metrics[0].consecutiveErrorLimit", 8, "must be >= 0 (got -3)");
}

TEST(MetricRules, CountBelowFailurePlusSuccessLimits) {
  Decode d(TemplateWithMetric(
      std::string("interval: 5s\ncount: 3\nfailureLimit: 2\nconsecutiveSuccessLimit: 2\n") + kWeb));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].count", 9,
                 "count (3) must be >= failureLimit + consecutiveSuccessLimit (2 + 2)");
}

TEST(MetricRules, CountBelowConsecutiveSuccessLimitWhenFailureDisabled) {
  Decode d(TemplateWithMetric(
      std::string("interval: 5s\ncount: 2\nfailureLimit: -1\nconsecutiveSuccessLimit: 3\n") +
      kWeb));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].count", 9, "count (2) must be >= consecutiveSuccessLimit (3)");
}

TEST(MetricRules, CountBelowInconclusiveLimit) {
  Decode d(
      TemplateWithMetric(std::string("interval: 5s\ncount: 2\ninconclusiveLimit: 3\n") + kWeb));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].count", 9, "count (2) must be >= inconclusiveLimit (3)");
}

TEST(MetricRules, CountAboveOneNeedsInterval) {
  Decode d(TemplateWithMetric(std::string("count: 3\n") + kWeb));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].count", 8, "interval must be specified when count > 1");
}

TEST(MetricRules, TemplatedCountSkipsChecks) {
  Decode d(TemplateWithMetric(std::string("count: \"{{args.n}}\"\nfailureLimit: 5\n") + kWeb));
  AnalysisTemplate t = d.Template();
  ExpectClean(d);
  // Unresolved, the count reads as 0 (Go's IntValue): one measurement without an interval.
  EXPECT_EQ(t.spec.metrics[0].EffectiveCount(), 1);
}

TEST(MetricRules, CountMustBeIntegerOrTemplate) {
  Decode d(TemplateWithMetric(std::string("count: three\n") + kWeb));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].count", 8,
                 "expected an integer or an \"{{args.name}}\" template, got \"three\"");
  Decode quoted(TemplateWithMetric(std::string("count: \"1\"\n") + kWeb));
  AnalysisTemplate t = quoted.Template();
  ExpectClean(quoted);
  EXPECT_EQ(t.spec.metrics[0].EffectiveCount(), 1);
}

TEST(MetricRules, CountNegative) {
  Decode d(TemplateWithMetric(std::string("count: -1\n") + kWeb));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].count", 8, "must be >= 0");
}

TEST(MetricRules, IntervalNeedsUnit) {
  Decode d(TemplateWithMetric(std::string("interval: \"30\"\n") + kWeb));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].interval", 8, "missing unit");
}

TEST(MetricRules, InitialDelayMustParse) {
  Decode d(TemplateWithMetric(std::string("initialDelay: 5 minutes\n") + kWeb));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].initialDelay", 8, "invalid duration \"5 minutes\"");
}

TEST(MetricRules, NoProvider) {
  Decode d(TemplateWithMetric("successCondition: result > 1\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider", 7, "no provider specified");
}

TEST(MetricRules, EmptyProvider) {
  Decode d(TemplateWithMetric("provider: {}\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider", 8, "no provider specified");
}

TEST(MetricRules, MultipleProviders) {
  Decode d(
      TemplateWithMetric("provider:\n  web:\n    url: http://a\n  prometheus:\n    query: up\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider", 8,
                 "multiple providers specified (prometheus, web)");
}

TEST(MetricRules, NameRequired) {
  Decode d(
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: t\nspec:\n"
      "  metrics:\n  - provider:\n      web:\n        url: http://a\n");
  d.Template();
  ExpectOneError(d, "spec.metrics[0].name", 7, "Required value");
}

TEST(MetricRules, UnknownFieldSuggestsTheKnownOne) {
  Decode d(TemplateWithMetric(std::string("successCondtion: result > 1\n") + kWeb));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].successCondtion", 8,
                 "unknown field \"successCondtion\" (did you mean \"successCondition\"?)");
}

TEST(MetricRules, DecodeMetricStandalone) {
  Decode d("name: x\ninterval: 30s\nprovider:\n  prometheus:\n    query: up\n");
  Metric m = DecodeMetric(d.ctx.get(), d.root(), "metrics[0]");
  ExpectClean(d);
  EXPECT_EQ(m.name, "x");
  EXPECT_EQ(m.EffectiveCount(), std::nullopt);  // interval without count: unlimited
  EXPECT_EQ(m.IntervalNanos(), 30'000'000'000);
  EXPECT_EQ(m.provider.prometheus->query, "up");
}

// ---------------------------------------------------------------------------------------------
// Template-level rules.

TEST(TemplateRules, NoMetrics) {
  Decode d(
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: t\n"
      "spec:\n  args:\n  - name: a\n");
  d.Template();
  ExpectOneError(d, "spec.metrics", 6, "no metrics specified");
}

TEST(TemplateRules, NestedTemplatesOnly) {
  Decode d(
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: t\n"
      "spec:\n  templates:\n  - templateName: a\n  - templateName: b\n    clusterScope: true\n");
  AnalysisTemplate t = d.Template();
  ExpectClean(d);
  ASSERT_EQ(t.spec.templates.size(), 2u);
  EXPECT_TRUE(t.spec.templates[1].cluster_scope);
}

TEST(TemplateRules, NestedTemplateNeedsName) {
  Decode d(
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: t\n"
      "spec:\n  templates:\n  - clusterScope: true\n");
  d.Template();
  ExpectOneError(d, "spec.templates[0].templateName", 7, "Required value");
}

TEST(TemplateRules, DuplicateMetricNames) {
  Decode d(
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: t\n"
      "spec:\n  metrics:\n"
      "  - name: a\n    provider: {web: {url: http://a}}\n"
      "  - name: a\n    provider: {web: {url: http://a}}\n");
  d.Template();
  ExpectOneError(d, "spec.metrics[1].name", 9,
                 "metric \"a\" is already defined at spec.metrics[0]");
}

TEST(TemplateRules, DuplicateArgs) {
  Decode d(
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: t\n"
      "spec:\n  args:\n  - name: x\n  - name: x\n    value: \"1\"\n  metrics:\n"
      "  - name: a\n    provider: {web: {url: http://a}}\n");
  d.Template();
  ExpectOneError(d, "spec.args[1].name", 8, "argument \"x\" is already defined");
}

TEST(TemplateRules, DryRunInvalidRegex) {
  Decode d(
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: t\n"
      "spec:\n  dryRun:\n  - metricName: \"a(\"\n  metrics:\n"
      "  - name: a\n    provider: {web: {url: http://a}}\n");
  d.Template();
  ExpectOneError(d, "spec.dryRun[0].metricName", 7, "invalid regular expression \"a(\"");
}

TEST(TemplateRules, MeasurementRetentionInvalidRegex) {
  Decode d(
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: t\n"
      "spec:\n  measurementRetention:\n  - metricName: \"[\"\n    limit: 3\n  metrics:\n"
      "  - name: a\n    provider: {web: {url: http://a}}\n");
  d.Template();
  ExpectOneError(d, "spec.measurementRetention[0].metricName", 7, "invalid regular expression");
}

TEST(TemplateRules, DryRunMatchingNothingWarnsInATemplate) {
  Decode d(
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: t\n"
      "spec:\n  dryRun:\n  - metricName: nope\n  - metricName: \".*\"\n  metrics:\n"
      "  - name: a\n    provider: {web: {url: http://a}}\n");
  AnalysisTemplate t = d.Template();
  EXPECT_EQ(d.diags.ErrorCount(), 0u) << Dump(d.diags);
  auto warnings = d.Warnings();
  ASSERT_EQ(warnings.size(), 1u) << Dump(d.diags);
  EXPECT_EQ(warnings[0].path, "spec.dryRun[0].metricName");
  EXPECT_EQ(warnings[0].mark.line, 7);
  ASSERT_EQ(t.spec.dry_run.size(), 2u);
}

TEST(TemplateRules, StatusIsIgnored) {
  Decode d(
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: t\n"
      "spec:\n  metrics:\n  - name: a\n    provider: {web: {url: http://a}}\n"
      "status:\n  anything: 1\n");
  d.Template();
  ExpectClean(d);
}

TEST(TemplateRules, KindMismatch) {
  Decode d(
      "apiVersion: argoproj.io/v1alpha1\nkind: ClusterAnalysisTemplate\nmetadata:\n"
      "  name: t\nspec:\n  metrics:\n  - name: a\n    provider: {web: {url: http://a}}\n");
  d.Template();
  ExpectOneError(d, "kind", 2, "expected AnalysisTemplate");
}

TEST(TemplateRules, NameOrGenerateNameRequired) {
  Decode d(
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n"
      "  labels: {a: b}\nspec:\n  metrics:\n  - name: a\n    provider: {web: {url: http://a}}\n");
  d.Template();
  ExpectOneError(d, "metadata.name", 4, "name or generateName");
}

TEST(TemplateRules, SpecRequired) {
  Decode d("apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: t\n");
  d.Template();
  ExpectOneError(d, "spec", 1, "Required value");
}

// ---------------------------------------------------------------------------------------------
// Provider rules.

TEST(ProviderRules, PrometheusFields) {
  Decode d(TemplateWithMetric(
      "provider:\n"                               // 8
      "  prometheus:\n"                           // 9
      "    address: https://prom.example:9090\n"  // 10
      "    query: sum(rate(x[5m]))\n"             // 11
      "    timeout: 20\n"                         // 12
      "    insecure: true\n"                      // 13
      "    headers:\n"                            // 14
      "    - key: X-Scope-OrgID\n"                // 15
      "      value: tenant\n"                     // 16
      "    authentication:\n"                     // 17
      "      sigv4: {region: us-east-1, profile: p, roleArn: arn}\n"
      "      oauth2: {tokenUrl: https://t, clientId: c, clientSecret: s, scopes: [a]}\n"
      "      basicAuth: {username: u, password: p}\n"
      "    rangeQuery:\n"
      "      start: now() - duration(\"1h\")\n"
      "      end: now()\n"
      "      step: 1m\n"));
  AnalysisTemplate t = d.Template();
  ExpectClean(d);
  const PrometheusMetric& p = *t.spec.metrics[0].provider.prometheus;
  EXPECT_EQ(p.address, "https://prom.example:9090");
  EXPECT_EQ(p.EffectiveTimeoutSeconds(), 20);
  EXPECT_TRUE(p.insecure);
  ASSERT_EQ(p.headers.size(), 1u);
  EXPECT_EQ(p.headers[0].value, "tenant");
  EXPECT_EQ(p.authentication.sigv4.role_arn, "arn");
  EXPECT_EQ(p.authentication.oauth2.scopes, std::vector<std::string>{"a"});
  EXPECT_EQ(p.authentication.basic_auth.username, "u");
  EXPECT_EQ(p.range_query->step.nanos, 60'000'000'000);
}

TEST(ProviderRules, PrometheusQueryRequired) {
  Decode d(TemplateWithMetric("provider:\n  prometheus:\n    address: http://p:9090\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.prometheus.query", 10, "Required value");
}

TEST(ProviderRules, PrometheusAddressMustBeUrl) {
  Decode d(TemplateWithMetric(
      "provider:\n  prometheus:\n    address: prometheus:9090\n    query: up\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.prometheus.address", 10,
                 "must be a URL with a scheme and a host");
  Decode templated(TemplateWithMetric(
      "provider:\n  prometheus:\n    address: \"{{args.prom}}\"\n    query: up\n"));
  templated.Template();
  ExpectClean(templated);
}

TEST(ProviderRules, PrometheusTimeoutNegative) {
  Decode d(TemplateWithMetric("provider:\n  prometheus:\n    query: up\n    timeout: -5\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.prometheus.timeout", 11, "must be >= 0");
}

TEST(ProviderRules, PrometheusBasicAuthNeedsBoth) {
  Decode d(
      TemplateWithMetric("provider:\n  prometheus:\n    query: up\n    authentication:\n"
                         "      basicAuth:\n        username: u\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.prometheus.authentication.basicAuth.password", 13,
                 "needs both username and password");
}

TEST(ProviderRules, OAuth2NeedsClientCredentials) {
  Decode d(
      TemplateWithMetric("provider:\n  web:\n    url: http://a\n    authentication:\n"
                         "      oauth2:\n        tokenUrl: http://t\n        clientId: c\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.web.authentication.oauth2.clientSecret", 13,
                 "needs clientSecret");
}

TEST(ProviderRules, PrometheusRangeQueryNeedsStep) {
  Decode d(
      TemplateWithMetric("provider:\n  prometheus:\n    query: up\n    rangeQuery:\n"
                         "      start: now()\n      end: now()\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.prometheus.rangeQuery.step", 12, "Required value");
}

TEST(ProviderRules, DatadogV2WithQueriesAndFormula) {
  Decode d(TemplateWithMetric(
      "provider:\n  datadog:\n    apiVersion: v2\n    interval: 10m\n    aggregator: avg\n"
      "    queries:\n      a: sum:errors{*}\n      b: sum:requests{*}\n    formula: a / b\n"
      "    secretRef: {name: dd, namespaced: true}\n    requestTimeout: 30s\n"));
  AnalysisTemplate t = d.Template();
  ExpectClean(d);
  const DatadogMetric& dd = *t.spec.metrics[0].provider.datadog;
  EXPECT_EQ(dd.queries.size(), 2u);
  EXPECT_EQ(dd.EffectiveIntervalNanos(), 600'000'000'000);
  EXPECT_EQ(dd.EffectiveRequestTimeoutNanos(), 30'000'000'000);
  EXPECT_TRUE(dd.secret_ref.namespaced);
}

TEST(ProviderRules, DatadogDefaults) {
  Decode d(TemplateWithMetric("provider:\n  datadog:\n    query: avg:x{*}\n"));
  AnalysisTemplate t = d.Template();
  ExpectClean(d);
  const DatadogMetric& dd = *t.spec.metrics[0].provider.datadog;
  EXPECT_EQ(dd.EffectiveApiVersion(), "v1");
  EXPECT_EQ(dd.EffectiveIntervalNanos(), 300'000'000'000);
  EXPECT_EQ(dd.EffectiveRequestTimeoutNanos(), 10'000'000'000);
}

TEST(ProviderRules, DatadogNeedsQuery) {
  Decode d(TemplateWithMetric("provider:\n  datadog:\n    interval: 5m\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.datadog.query", 10, "set query, or queries");
}

TEST(ProviderRules, DatadogQueryAndQueries) {
  Decode d(TemplateWithMetric(
      "provider:\n  datadog:\n    apiVersion: v2\n    query: a\n    queries:\n      q: b\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.datadog.queries", 12, "not both");
}

TEST(ProviderRules, DatadogQueriesNeedV2) {
  Decode d(TemplateWithMetric("provider:\n  datadog:\n    queries:\n      q: b\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.datadog.queries", 10, "need apiVersion: v2");
}

TEST(ProviderRules, DatadogApiVersionEnum) {
  Decode d(TemplateWithMetric("provider:\n  datadog:\n    apiVersion: v3\n    query: a\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.datadog.apiVersion", 10, "must be v1 or v2");
}

TEST(ProviderRules, DatadogAggregatorEnum) {
  Decode d(TemplateWithMetric(
      "provider:\n  datadog:\n    apiVersion: v2\n    query: a\n    aggregator: median\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.datadog.aggregator", 12, "must be one of avg");
}

TEST(ProviderRules, DatadogAggregatorNeedsV2) {
  Decode d(TemplateWithMetric("provider:\n  datadog:\n    query: a\n    aggregator: avg\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.datadog.aggregator", 11,
                 "only supported with apiVersion v2");
}

TEST(ProviderRules, DatadogFormulaRules) {
  Decode d(TemplateWithMetric("provider:\n  datadog:\n    query: a\n    formula: a * 2\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.datadog.formula", 11, "only valid with queries");
  Decode e(TemplateWithMetric(
      "provider:\n  datadog:\n    apiVersion: v2\n    queries:\n      a: x\n      b: y\n"));
  e.Template();
  ExpectOneError(e, "spec.metrics[0].provider.datadog.formula", 10, "need a formula");
}

TEST(ProviderRules, WebFields) {
  Decode d(TemplateWithMetric(
      "provider:\n  web:\n    method: POST\n    url: https://api/check\n"
      "    headers: [{key: Authorization, value: Bearer x}]\n    timeoutSeconds: 20\n"
      "    jsonPath: \"{$.data.ok}\"\n    insecure: true\n"
      "    jsonBody:\n      query: {a: [1, 2]}\n      flag: true\n"));
  AnalysisTemplate t = d.Template();
  ExpectClean(d);
  const WebMetric& w = *t.spec.metrics[0].provider.web;
  EXPECT_EQ(w.EffectiveMethod(), "POST");
  EXPECT_EQ(w.EffectiveTimeoutSeconds(), 20);
  EXPECT_EQ(w.EffectiveJsonPath(), "{$.data.ok}");
  ASSERT_TRUE(w.json_body.has_value());
  EXPECT_EQ((*w.json_body)["query"]["a"][1], 2);
  EXPECT_EQ((*w.json_body)["flag"], true);
}

TEST(ProviderRules, WebDefaults) {
  Decode d(TemplateWithMetric(kWeb));
  AnalysisTemplate t = d.Template();
  ExpectClean(d);
  const WebMetric& w = *t.spec.metrics[0].provider.web;
  EXPECT_EQ(w.EffectiveMethod(), "GET");
  EXPECT_EQ(w.EffectiveTimeoutSeconds(), 10);
  EXPECT_EQ(w.EffectiveJsonPath(), "{$}");
}

TEST(ProviderRules, WebUrlRequired) {
  Decode d(TemplateWithMetric("provider:\n  web:\n    jsonPath: \"{$}\"\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.web.url", 10, "Required value");
}

TEST(ProviderRules, WebMethodEnum) {
  Decode d(TemplateWithMetric("provider:\n  web:\n    url: http://a\n    method: DELETE\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.web.method", 11, "must be GET, POST or PUT");
}

TEST(ProviderRules, WebBodyNeedsPostOrPut) {
  Decode d(TemplateWithMetric("provider:\n  web:\n    url: http://a\n    body: \"{}\"\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.web.body", 11, "needs method POST or PUT");
}

TEST(ProviderRules, WebBodyAndJsonBody) {
  Decode d(
      TemplateWithMetric("provider:\n  web:\n    url: http://a\n    method: PUT\n"
                         "    body: x\n    jsonBody: {a: 1}\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.web.jsonBody", 13, "either body or jsonBody");
}

TEST(ProviderRules, JobSpecRequired) {
  Decode d(TemplateWithMetric("provider:\n  job:\n    metadata:\n      labels: {a: b}\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.job.spec", 10, "Required value");
}

TEST(ProviderRules, JobRestartPolicy) {
  // Unset: a warning (Kubernetes refuses the pod default Always for a Job; a local process does
  // not care).
  Decode d(
      TemplateWithMetric("provider:\n  job:\n    spec:\n      template:\n        spec:\n"
                         "          containers:\n          - name: c\n            image: i\n"));
  d.Template();
  EXPECT_EQ(d.diags.ErrorCount(), 0u) << Dump(d.diags);
  auto warnings = d.Warnings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].path, "spec.metrics[0].provider.job.spec.template.spec.restartPolicy");
  EXPECT_EQ(warnings[0].mark.line, 13);

  Decode e(
      TemplateWithMetric("provider:\n  job:\n    spec:\n      template:\n        spec:\n"
                         "          restartPolicy: Always\n"
                         "          containers:\n          - name: c\n            image: i\n"));
  e.Template();
  ExpectOneError(e, "spec.metrics[0].provider.job.spec.template.spec.restartPolicy", 13,
                 "must use Never or OnFailure");
}

TEST(ProviderRules, JobContainerFieldsAreTypeChecked) {
  Decode d(TemplateWithMetric(
      "provider:\n  job:\n    spec:\n      template:\n        spec:\n"
      "          restartPolicy: Never\n          containers:\n          - name: c\n"
      "            image: i\n            command: sh -c\n"
      "            env: [{name: A, value: x}, {name: B, valueFrom: {secretKeyRef: {name: s}}}]\n"));
  AnalysisTemplate t = d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.job.spec.template.spec.containers[0].command", 17,
                 "expected a list of strings");
  const JobMetric& job = *t.spec.metrics[0].provider.job;
  ASSERT_TRUE(job.container.has_value());
  ASSERT_EQ(job.container->env.size(), 2u);
  EXPECT_EQ(job.container->env[0].value, "x");
  EXPECT_TRUE(job.container->env[1].value_from.has_value());
}

TEST(ProviderRules, JobNeedsContainers) {
  Decode d(
      TemplateWithMetric("provider:\n  job:\n    spec:\n      template:\n        spec:\n"
                         "          restartPolicy: Never\n          containers: []\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.job.spec.template.spec.containers", 14,
                 "at least one container");
}

TEST(ProviderRules, JobSpecIsLenient) {
  Decode d(TemplateWithMetric(
      "provider:\n  job:\n    spec:\n      ttlSecondsAfterFinished: 30\n      template:\n"
      "        spec:\n          restartPolicy: OnFailure\n          nodeSelector: {a: b}\n"
      "          containers:\n          - name: c\n            image: i\n"
      "            resources: {limits: {cpu: 500m, memory: 1Gi}, requests: {cpu: 0.1}}\n"
      "            securityContext: {runAsUser: 1000}\n"));
  d.Template();
  ExpectClean(d);
}

TEST(ProviderRules, NewRelic) {
  Decode d(TemplateWithMetric("provider:\n  newRelic:\n    profile: nr\n    timeout: 10\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.newRelic.query", 10, "Required value");
  Decode ok(TemplateWithMetric("provider:\n  newRelic:\n    query: SELECT 1\n"));
  AnalysisTemplate t = ok.Template();
  ExpectClean(ok);
  EXPECT_EQ(t.spec.metrics[0].provider.new_relic->EffectiveTimeoutSeconds(), 5);
}

TEST(ProviderRules, Graphite) {
  Decode d(TemplateWithMetric("provider:\n  graphite:\n    address: http://g:8080\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.graphite.query", 10, "Required value");
}

TEST(ProviderRules, Influxdb) {
  Decode d(TemplateWithMetric("provider:\n  influxdb:\n    profile: p\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.influxdb.query", 10, "Required value");
}

TEST(ProviderRules, Wavefront) {
  Decode d(TemplateWithMetric("provider:\n  wavefront:\n    query: ts(x)\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.wavefront.address", 10, "Required value");
}

TEST(ProviderRules, SkyWalking) {
  Decode d(TemplateWithMetric(
      "provider:\n  skywalking:\n    address: http://oap:12800\n    query: q\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.skywalking.interval", 10, "Required value");
}

TEST(ProviderRules, CloudWatch) {
  Decode d(TemplateWithMetric("provider:\n  cloudWatch:\n    interval: 5m\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.cloudWatch.metricDataQueries", 10, "Required value");

  Decode ok(TemplateWithMetric(
      "provider:\n  cloudWatch:\n    metricDataQueries:\n    - id: rate\n"
      "      expression: errors / requests\n    - id: errors\n      returnData: false\n"
      "      metricStat:\n        metric:\n          namespace: AWS/ApplicationELB\n"
      "          metricName: HTTPCode_Target_5XX_Count\n"
      "          dimensions: [{name: LoadBalancer, value: lb}]\n"
      "        period: 300\n        stat: Sum\n        unit: Count\n"));
  AnalysisTemplate t = ok.Template();
  ExpectClean(ok);
  const CloudWatchMetric& cw = *t.spec.metrics[0].provider.cloud_watch;
  EXPECT_EQ(cw.EffectiveIntervalNanos(), 300'000'000'000);
  ASSERT_EQ(cw.metric_data_queries.size(), 2u);
  EXPECT_EQ(cw.metric_data_queries[1].metric_stat->period, IntOrString::Int(300));
  EXPECT_EQ(cw.metric_data_queries[1].return_data, false);
}

TEST(ProviderRules, CloudWatchQueryNeedsOneSource) {
  Decode d(TemplateWithMetric("provider:\n  cloudWatch:\n    metricDataQueries:\n    - id: a\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider.cloudWatch.metricDataQueries[0].expression", 11,
                 "exactly one of expression or metricStat");
}

TEST(ProviderRules, Kayenta) {
  std::string full =
      "provider:\n  kayenta:\n    address: http://kayenta:8090\n    application: app\n"
      "    canaryConfigName: cfg\n    metricsAccountName: m\n    configurationAccountName: c\n"
      "    storageAccountName: s\n    threshold: {pass: 90, marginal: 75}\n    scopes:\n"
      "    - name: default\n"
      "      controlScope: {scope: app-baseline, region: us, step: 60}\n"
      "      experimentScope: {scope: app-canary, region: us, step: 60}\n";
  Decode ok(TemplateWithMetric(full));
  AnalysisTemplate t = ok.Template();
  ExpectClean(ok);
  EXPECT_EQ(t.spec.metrics[0].provider.kayenta->threshold.marginal, 75);
  EXPECT_EQ(t.spec.metrics[0].provider.kayenta->scopes[0].experiment_scope.scope, "app-canary");

  Decode d(
      TemplateWithMetric("provider:\n  kayenta:\n    address: http://kayenta:8090\n"
                         "    application: app\n    canaryConfigName: cfg\n"
                         "    metricsAccountName: m\n    configurationAccountName: c\n"
                         "    threshold: {pass: 90, marginal: 75}\n    scopes:\n"
                         "    - name: default\n"
                         "      controlScope: {scope: a, region: us, step: 60}\n"
                         "      experimentScope: {scope: b, region: us}\n"));
  d.Template();
  auto errors = d.Errors();
  ASSERT_EQ(errors.size(), 2u) << Dump(d.diags);
  EXPECT_EQ(errors[0].path, "spec.metrics[0].provider.kayenta.scopes[0].experimentScope.step");
  EXPECT_EQ(errors[0].mark.line, 19);
  EXPECT_EQ(errors[1].path, "spec.metrics[0].provider.kayenta.storageAccountName");
}

TEST(ProviderRules, PluginsKeepTheirConfig) {
  Decode d(TemplateWithMetric(
      "provider:\n  plugin:\n    argoproj-labs/sample-prometheus:\n"
      "      address: http://p:9090\n      query: up\n      nested: {list: [1, 2]}\n"));
  AnalysisTemplate t = d.Template();
  ExpectClean(d);
  const MetricProvider& p = t.spec.metrics[0].provider;
  EXPECT_EQ(p.kind(), ProviderKind::kPlugin);
  EXPECT_EQ(p.PluginName(), "argoproj-labs/sample-prometheus");
  EXPECT_EQ(p.plugin.at("argoproj-labs/sample-prometheus")["nested"]["list"][1], 2);
}

TEST(ProviderRules, RampPluginsAreValidatedStrictly) {
  Decode d(TemplateWithMetric("provider:\n  plugin:\n    ramp/no-such-provider: {}\n"));
  AnalysisTemplate t = d.Template();
  auto errors = d.Errors();
  ASSERT_GE(errors.size(), 1u) << Dump(d.diags);
  EXPECT_EQ(errors[0].path, "spec.metrics[0].provider.plugin[\"ramp/no-such-provider\"]");
  EXPECT_EQ(t.spec.metrics[0].provider.PluginName(), "ramp/no-such-provider");
}

TEST(ProviderRules, TwoPluginsAreTwoProviders) {
  Decode d(TemplateWithMetric("provider:\n  plugin:\n    a/x: {}\n    b/y: {}\n"));
  d.Template();
  ExpectOneError(d, "spec.metrics[0].provider", 8, "multiple providers specified");
}

// ---------------------------------------------------------------------------------------------
// AnalysisRun spec and status.

constexpr char kRunWithStatus[] =
    "apiVersion: argoproj.io/v1alpha1\n"
    "kind: AnalysisRun\n"
    "metadata:\n"
    "  name: run-1\n"
    "  namespace: default\n"
    "spec:\n"
    "  args:\n"
    "  - name: service\n"
    "    value: checkout\n"
    "  terminate: true\n"
    "  dryRun:\n"
    "  - metricName: latency\n"
    "  measurementRetention:\n"
    "  - metricName: \".*\"\n"
    "    limit: 20\n"
    "  ttlStrategy:\n"
    "    secondsAfterCompletion: 3600\n"
    "    secondsAfterFailure: 7200\n"
    "  metrics:\n"
    "  - name: success-rate\n"
    "    interval: 1m\n"
    "    successCondition: result[0] >= 0.95\n"
    "    failureLimit: 3\n"
    "    provider:\n"
    "      prometheus:\n"
    "        address: http://prometheus:9090\n"
    "        query: sum(rate(ok[5m])) / sum(rate(all[5m]))\n"
    "  - name: latency\n"
    "    provider:\n"
    "      job:\n"
    "        spec:\n"
    "          template:\n"
    "            spec:\n"
    "              restartPolicy: Never\n"
    "              containers: [{name: c, image: i}]\n"
    "status:\n"
    "  phase: Running\n"
    "  message: in progress\n"
    "  startedAt: \"2024-05-01T10:00:00Z\"\n"
    "  runSummary:\n"
    "    count: 2\n"
    "    successful: 1\n"
    "  dryRunSummary:\n"
    "    count: 1\n"
    "    failed: 1\n"
    "  metricResults:\n"
    "  - name: success-rate\n"
    "    phase: Running\n"
    "    count: 2\n"
    "    successful: 2\n"
    "    consecutiveSuccess: 2\n"
    "    metadata:\n"
    "      ResolvedPrometheusQuery: sum(rate(ok[5m])) / sum(rate(all[5m]))\n"
    "    measurements:\n"
    "    - phase: Successful\n"
    "      startedAt: \"2024-05-01T10:00:00Z\"\n"
    "      finishedAt: \"2024-05-01T10:00:01.5Z\"\n"
    "      value: \"[0.99]\"\n"
    "    - phase: Successful\n"
    "      startedAt: 2024-05-01T11:01:00+01:00\n"
    "      finishedAt: 2024-05-01T10:01:01Z\n"
    "      value: \"[0.98]\"\n"
    "  - name: latency\n"
    "    phase: Failed\n"
    "    dryRun: true\n"
    "    failed: 1\n"
    "    count: 1\n"
    "    consecutiveError: 0\n"
    "    message: job failed\n"
    "    measurements:\n"
    "    - phase: Failed\n"
    "      startedAt: \"2024-05-01T10:00:00Z\"\n"
    "      finishedAt: \"2024-05-01T10:00:30Z\"\n"
    "      resumeAt: \"2024-05-01T10:00:15Z\"\n"
    "      metadata: {job-name: abc.latency.1, job-namespace: default}\n";

TEST(AnalysisRunDecode, SpecAndStatus) {
  Decode d(kRunWithStatus);
  AnalysisRun run = d.Run();
  ExpectClean(d);
  EXPECT_EQ(run.metadata.name, "run-1");
  EXPECT_TRUE(run.spec.terminate);
  ASSERT_EQ(run.spec.args.size(), 1u);
  EXPECT_EQ(run.spec.args[0].value, "checkout");
  EXPECT_EQ(run.spec.dry_run[0].metric_name, "latency");
  EXPECT_EQ(run.spec.measurement_retention[0].limit, 20);
  ASSERT_TRUE(run.spec.ttl_strategy.has_value());
  EXPECT_EQ(run.spec.ttl_strategy->seconds_after_failure, 7200);
  EXPECT_FALSE(run.spec.ttl_strategy->seconds_after_success.has_value());
  ASSERT_EQ(run.spec.metrics.size(), 2u);

  ASSERT_TRUE(run.has_status);
  const AnalysisRunStatus& s = run.status;
  EXPECT_EQ(s.phase, AnalysisPhase::kRunning);
  EXPECT_EQ(s.message, "in progress");
  ASSERT_TRUE(s.started_at.has_value());
  EXPECT_EQ(s.started_at->text, "2024-05-01T10:00:00Z");
  EXPECT_EQ(s.started_at->unix_nanos, 1714557600LL * 1'000'000'000);
  EXPECT_FALSE(s.completed_at.has_value());
  EXPECT_EQ(s.run_summary.count, 2);
  EXPECT_EQ(s.run_summary.successful, 1);
  ASSERT_TRUE(s.dry_run_summary.has_value());
  EXPECT_EQ(s.dry_run_summary->failed, 1);
  ASSERT_EQ(s.metric_results.size(), 2u);
  const MetricResult& sr = s.metric_results[0];
  EXPECT_EQ(sr.consecutive_success, 2);
  EXPECT_EQ(sr.metadata.at("ResolvedPrometheusQuery"), "sum(rate(ok[5m])) / sum(rate(all[5m]))");
  ASSERT_EQ(sr.measurements.size(), 2u);
  EXPECT_EQ(sr.measurements[0].finished_at->unix_nanos, 1714557601LL * 1'000'000'000 + 500'000'000);
  // 11:01:00+01:00 is 10:01:00Z.
  EXPECT_EQ(sr.measurements[1].started_at->unix_nanos, 1714557660LL * 1'000'000'000);
  EXPECT_EQ(sr.measurements[1].value, "[0.98]");
  const MetricResult& lat = s.metric_results[1];
  EXPECT_TRUE(lat.dry_run);
  EXPECT_EQ(lat.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(lat.measurements[0].resume_at->text, "2024-05-01T10:00:15Z");
  EXPECT_EQ(lat.measurements[0].metadata.at("job-name"), "abc.latency.1");
}

TEST(AnalysisRunDecode, StatusRoundTrips) {
  Decode d(kRunWithStatus);
  AnalysisRun run = d.Run();
  ExpectClean(d);
  nlohmann::json saved = ToJson(run.status);
  EXPECT_EQ(saved["metricResults"][0]["measurements"][1]["startedAt"], "2024-05-01T11:01:00+01:00");
  EXPECT_EQ(saved["runSummary"], (nlohmann::json{{"count", 2}, {"successful", 1}}));
  EXPECT_FALSE(saved["metricResults"][1].contains("consecutiveError"));  // omitempty

  // Decode the saved status again (JSON is YAML) and compare the two encodings.
  Decode again(
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisRun\nmetadata: {name: r}\n"
      "spec:\n  metrics: [{name: a, provider: {web: {url: http://a}}}]\n"
      "status: " +
      saved.dump() + "\n");
  AnalysisRun reread = again.Run();
  ExpectClean(again);
  EXPECT_EQ(ToJson(reread.status), saved);
  EXPECT_EQ(reread.status.metric_results[0].measurements[0].finished_at->unix_nanos,
            run.status.metric_results[0].measurements[0].finished_at->unix_nanos);
}

TEST(AnalysisRunDecode, WithoutStatus) {
  Diagnostics diags;
  EXPECT_EQ(DecodeFile("argo-e2e-functional/analysis-run-job.yaml", &diags), 1);
  EXPECT_EQ(diags.ErrorCount(), 0u) << Dump(diags);
  Decode d(ReadFile(ConformancePath("argo-e2e-functional/analysis-run-job.yaml")));
  AnalysisRun run = d.Run();
  EXPECT_FALSE(run.has_status);
  EXPECT_EQ(run.status.phase, AnalysisPhase::kNone);
  EXPECT_EQ(run.metadata.generate_name, "analysis-run-job-");
}

TEST(AnalysisRunDecode, InvalidPhase) {
  std::string text = kRunWithStatus;
  text.replace(text.find("  phase: Running"), 16, "  phase: Runing!");
  Decode d(text);
  d.Run();
  ExpectOneError(d, "status.phase", 37, "must be one of Pending, Running");
}

TEST(AnalysisRunDecode, InvalidTime) {
  std::string text = kRunWithStatus;
  text.replace(text.find("\"2024-05-01T10:00:00Z\""), 22, "\"2024-05-01 10:00:00\"");
  Decode d(text);
  d.Run();
  ExpectOneError(d, "status.startedAt", 39, "expected RFC 3339");
}

TEST(AnalysisRunDecode, UnknownStatusField) {
  std::string text = kRunWithStatus;
  text += "  finishedAt: \"2024-05-01T10:00:00Z\"\n";
  Decode d(text);
  d.Run();
  auto errors = d.Errors();
  ASSERT_EQ(errors.size(), 1u) << Dump(d.diags);
  EXPECT_EQ(errors[0].path, "status.finishedAt");
  EXPECT_NE(errors[0].message.find("unknown field"), std::string::npos);
}

TEST(AnalysisRunDecode, DryRunMatchingNothingIsAnError) {
  std::string text = kRunWithStatus;
  text.replace(text.find("metricName: latency"), 19, "metricName: latenc$");
  Decode d(text);
  d.Run();
  ExpectOneError(d, "spec.dryRun[0].metricName", 12, "didn't match any metric name(s)");
}

TEST(AnalysisRunDecode, RetentionMatchingNothingIsAnError) {
  std::string text = kRunWithStatus;
  text.replace(text.find("metricName: \".*\""), 16, "metricName: \"^x\"");
  Decode d(text);
  d.Run();
  ExpectOneError(d, "spec.measurementRetention[0].metricName", 14, "didn't match any");
}

TEST(AnalysisRunDecode, NeedsMetrics) {
  Decode d(
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisRun\nmetadata:\n  name: r\n"
      "spec:\n  terminate: false\n");
  d.Run();
  ExpectOneError(d, "spec.metrics", 6, "no metrics specified");
}

TEST(AnalysisRunDecode, TtlNegative) {
  Decode d(
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisRun\nmetadata:\n  name: r\n"
      "spec:\n  ttlStrategy:\n    secondsAfterSuccess: -1\n  metrics:\n"
      "  - name: a\n    provider: {web: {url: http://a}}\n");
  d.Run();
  ExpectOneError(d, "spec.ttlStrategy.secondsAfterSuccess", 7, "must be >= 0");
}

// ---------------------------------------------------------------------------------------------
// Experiment.

// An Experiment whose first template starts on line 8.
std::string ExperimentWith(const std::string& spec_tail, const std::string& template_extra = "") {
  return "apiVersion: argoproj.io/v1alpha1\n"  // 1
         "kind: Experiment\n"                  // 2
         "metadata:\n"                         // 3
         "  name: e\n"                         // 4
         "spec:\n"                             // 5
         "  duration: 1m\n"                    // 6
         "  templates:\n"                      // 7
         "  - name: baseline\n"                // 8
         "    selector:\n"                     // 9
         "      matchLabels: {app: demo}\n"    // 10
         "    template:\n"                     // 11
         "      metadata:\n"                   // 12
         "        labels: {app: demo}\n"       // 13
         "      spec:\n"                       // 14
         "        containers:\n"               // 15
         "        - name: demo\n"              // 16
         "          image: demo:1\n" +         // 17
         template_extra +
         spec_tail;
}

TEST(ExperimentDecode, FullSpecAndStatus) {
  Decode d(ExperimentWith(
      "    replicas: 2\n    minReadySeconds: 10\n    service: {name: baseline-svc}\n"
      "  progressDeadlineSeconds: 300\n  scaleDownDelaySeconds: 0\n  terminate: false\n"
      "  analyses:\n  - name: smoke\n    templateName: smoke\n    clusterScope: true\n"
      "    requiredForCompletion: true\n    args: [{name: host, value: baseline}]\n"
      "  dryRun: [{metricName: \"smoke.*\"}]\n"
      "  measurementRetention: [{metricName: smoke, limit: 5}]\n"
      "  analysisRunMetadata: {labels: {team: a}}\n"
      "status:\n  phase: Running\n  availableAt: \"2024-05-01T10:00:00Z\"\n"
      "  templateStatuses:\n  - name: baseline\n    replicas: 2\n    updatedReplicas: 2\n"
      "    readyReplicas: 2\n    availableReplicas: 2\n    status: Running\n"
      "    podTemplateHash: abc\n    serviceName: baseline-svc\n"
      "    lastTransitionTime: \"2024-05-01T10:00:00Z\"\n"
      "  conditions:\n  - type: Running\n    status: \"True\"\n"
      "    lastUpdateTime: \"2024-05-01T10:00:00Z\"\n"
      "    lastTransitionTime: \"2024-05-01T10:00:00Z\"\n    reason: ExperimentRunning\n"
      "    message: running\n"
      "  analysisRuns:\n  - name: smoke\n    analysisRun: e-smoke\n    phase: Running\n"));
  Experiment e = d.Exp();
  ExpectClean(d);
  EXPECT_EQ(e.spec.duration.nanos, 60'000'000'000);
  EXPECT_EQ(e.spec.EffectiveProgressDeadlineSeconds(), 300);
  EXPECT_EQ(e.spec.EffectiveScaleDownDelaySeconds(), 0);
  const ExperimentTemplate& t = e.spec.templates[0];
  EXPECT_EQ(t.EffectiveReplicas(), 2);
  EXPECT_EQ(t.min_ready_seconds, 10);
  EXPECT_EQ(t.service->name, "baseline-svc");
  const ExperimentAnalysisTemplateRef& a = e.spec.analyses[0];
  EXPECT_TRUE(a.cluster_scope);
  EXPECT_TRUE(a.required_for_completion);
  EXPECT_EQ(a.args[0].value, "baseline");
  EXPECT_EQ(e.spec.analysis_run_metadata.labels.at("team"), "a");
  ASSERT_TRUE(e.has_status);
  EXPECT_EQ(e.status.phase, AnalysisPhase::kRunning);
  EXPECT_EQ(e.status.template_statuses[0].pod_template_hash, "abc");
  EXPECT_EQ(e.status.conditions[0].reason, "ExperimentRunning");
  EXPECT_EQ(e.status.analysis_runs[0].analysis_run, "e-smoke");
}

TEST(ExperimentDecode, TemplatesRequired) {
  Decode d(
      "apiVersion: argoproj.io/v1alpha1\nkind: Experiment\nmetadata:\n  name: e\n"
      "spec:\n  duration: 1m\n");
  d.Exp();
  ExpectOneError(d, "spec.templates", 6, "at least one template");
}

TEST(ExperimentDecode, DuplicateTemplateNames) {
  Decode d(
      ExperimentWith("  - name: baseline\n    selector: {matchLabels: {app: demo}}\n"
                     "    template: {metadata: {labels: {app: demo}}, spec: {containers: [{name: "
                     "c, image: i}]}}\n"));
  d.Exp();
  ExpectOneError(d, "spec.templates[1].name", 18, "template name \"baseline\" is already defined");
}

TEST(ExperimentDecode, ReplicasNegative) {
  Decode d(ExperimentWith("    replicas: -1\n"));
  d.Exp();
  ExpectOneError(d, "spec.templates[0].replicas", 18, "must be >= 0");
}

TEST(ExperimentDecode, DurationNeedsUnit) {
  std::string text = ExperimentWith("");
  text.replace(text.find("duration: 1m"), 12, "duration: 60");
  Decode d(text);
  d.Exp();
  ExpectOneError(d, "spec.duration", 6, "missing unit");
}

TEST(ExperimentDecode, AnalysisNeedsTemplateName) {
  Decode d(ExperimentWith("  analyses:\n  - name: a\n"));
  d.Exp();
  ExpectOneError(d, "spec.analyses[0].templateName", 19, "Required value");
}

TEST(ExperimentDecode, AnalysisNeedsName) {
  Decode d(ExperimentWith("  analyses:\n  - templateName: a\n"));
  d.Exp();
  ExpectOneError(d, "spec.analyses[0].name", 19, "Required value");
}

TEST(ExperimentDecode, DuplicateAnalysisNames) {
  Decode d(
      ExperimentWith("  analyses:\n  - {name: a, templateName: x}\n"
                     "  - {name: a, templateName: y}\n"));
  d.Exp();
  ExpectOneError(d, "spec.analyses[1].name", 20, "analysis \"a\" is already defined");
}

TEST(ExperimentDecode, EmptySelector) {
  std::string text = ExperimentWith("");
  text.replace(text.find("matchLabels: {app: demo}"), 24, "matchLabels: {}");
  Decode d(text);
  d.Exp();
  ExpectOneError(d, "spec.templates[0].selector", 9, "a non-empty selector is required");
}

TEST(ExperimentDecode, SelectorMustMatchLabels) {
  std::string text = ExperimentWith("");
  text.replace(text.find("matchLabels: {app: demo}"), 24, "matchLabels: {app: other}");
  Decode d(text);
  d.Exp();
  ExpectOneError(d, "spec.templates[0].selector", 9, "does not match template labels");
}

TEST(ExperimentDecode, SelectorRequired) {
  std::string text = ExperimentWith("");
  text.replace(text.find("    selector:\n      matchLabels: {app: demo}\n"), 45, "");
  Decode d(text);
  d.Exp();
  ExpectOneError(d, "spec.templates[0].selector", 8, "Required value");
}

TEST(ExperimentDecode, MinReadyLongerThanDeadline) {
  Decode d(ExperimentWith("    minReadySeconds: 700\n"));
  d.Exp();
  ExpectOneError(d, "spec.templates[0].minReadySeconds", 18,
                 "cannot be longer than progressDeadlineSeconds (600)");
}

TEST(ExperimentDecode, RestartPolicyMustBeAlways) {
  Decode d(ExperimentWith("", "        restartPolicy: Never\n"));
  d.Exp();
  ExpectOneError(d, "spec.templates[0].template.spec.restartPolicy", 18, "must use Always");
}

TEST(ExperimentDecode, DryRunRegex) {
  Decode d(ExperimentWith("  dryRun: [{metricName: \"(\"}]\n"));
  d.Exp();
  ExpectOneError(d, "spec.dryRun[0].metricName", 18, "invalid regular expression");
}

// ---------------------------------------------------------------------------------------------
// Model helpers.

TEST(AnalysisModel, EffectiveCount) {
  Metric m;
  EXPECT_EQ(m.EffectiveCount(), 1);  // no count, no interval
  m.interval = DurationString{"1m", 60'000'000'000};
  EXPECT_EQ(m.EffectiveCount(), std::nullopt);  // interval only: unlimited
  m.count = IntOrString::Int(0);
  EXPECT_EQ(m.EffectiveCount(), std::nullopt);
  m.count = IntOrString::Int(4);
  EXPECT_EQ(m.EffectiveCount(), 4);
  m.count = IntOrString::Str("7");
  EXPECT_EQ(m.EffectiveCount(), 7);
  m.count = IntOrString::Str("{{args.n}}");
  EXPECT_EQ(m.EffectiveCount(), std::nullopt);
  m.interval = DurationString{};
  EXPECT_EQ(m.EffectiveCount(), 1);
}

TEST(AnalysisModel, EffectiveLimits) {
  Metric m;
  EXPECT_EQ(m.EffectiveFailureLimit(), 0);
  EXPECT_EQ(m.EffectiveInconclusiveLimit(), 0);
  EXPECT_EQ(m.EffectiveConsecutiveErrorLimit(), 4);
  EXPECT_EQ(m.EffectiveConsecutiveSuccessLimit(), 0);
  EXPECT_EQ(m.InitialDelayNanos(), 0);
  EXPECT_EQ(m.IntervalNanos(), std::nullopt);
  m.failure_limit = IntOrString::Int(-1);
  m.consecutive_error_limit = IntOrString::Int(0);
  m.consecutive_success_limit = IntOrString::Str("3");
  m.inconclusive_limit = IntOrString::Int(2);
  EXPECT_EQ(m.EffectiveFailureLimit(), -1);
  EXPECT_EQ(m.EffectiveConsecutiveErrorLimit(), 0);
  EXPECT_EQ(m.EffectiveConsecutiveSuccessLimit(), 3);
  EXPECT_EQ(m.EffectiveInconclusiveLimit(), 2);
}

TEST(AnalysisModel, IntOrStringValue) {
  EXPECT_EQ(IntOrStringValue(IntOrString::Int(5)), 5);
  EXPECT_EQ(IntOrStringValue(IntOrString::Str("12")), 12);
  EXPECT_EQ(IntOrStringValue(IntOrString::Str("-3")), -3);
  EXPECT_EQ(IntOrStringValue(IntOrString::Str("{{args.x}}")), 0);
  EXPECT_EQ(IntOrStringValue(IntOrString::Str("25%")), 0);
}

TEST(AnalysisModel, Phases) {
  EXPECT_EQ(ParseAnalysisPhase("Inconclusive"), AnalysisPhase::kInconclusive);
  EXPECT_EQ(ParseAnalysisPhase(""), AnalysisPhase::kNone);
  EXPECT_EQ(ParseAnalysisPhase("failed"), std::nullopt);
  EXPECT_EQ(AnalysisPhaseName(AnalysisPhase::kError), "Error");
  EXPECT_TRUE(IsCompleted(AnalysisPhase::kError));
  EXPECT_TRUE(IsCompleted(AnalysisPhase::kSuccessful));
  EXPECT_FALSE(IsCompleted(AnalysisPhase::kRunning));
  EXPECT_FALSE(IsCompleted(AnalysisPhase::kNone));
}

TEST(AnalysisModel, MetaTime) {
  EXPECT_EQ(ParseMetaTime("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseMetaTime("2000-03-01T00:00:00Z"), 951868800LL * 1'000'000'000);
  EXPECT_EQ(ParseMetaTime("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(ParseMetaTime("1970-01-01T00:00:00.000000001Z"), 1);
  EXPECT_EQ(ParseMetaTime("2024-02-29T12:00:00Z"), 1709208000LL * 1'000'000'000);
  EXPECT_EQ(ParseMetaTime("2023-02-29T12:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseMetaTime("2024-05-01T10:00:00"), std::nullopt);
  EXPECT_EQ(ParseMetaTime("2024-05-01"), std::nullopt);
  EXPECT_EQ(ParseMetaTime("2024-05-01T10:00:00Zjunk"), std::nullopt);
}

TEST(AnalysisModel, MetricNameRules) {
  EXPECT_TRUE(MetricNameMatchesRule(".*", "anything"));
  EXPECT_TRUE(MetricNameMatchesRule("rate", "error-rate-5m"));  // unanchored, like Go
  EXPECT_FALSE(MetricNameMatchesRule("^rate$", "error-rate"));
  EXPECT_FALSE(MetricNameMatchesRule("(", "("));
}

TEST(AnalysisModel, ProviderKinds) {
  MetricProvider p;
  EXPECT_EQ(p.kind(), ProviderKind::kNone);
  p.web = WebMetric{};
  EXPECT_EQ(p.kind(), ProviderKind::kWeb);
  EXPECT_EQ(ProviderFieldName(p.kind()), "web");
  p.prometheus = PrometheusMetric{};
  EXPECT_EQ(p.Kinds(), (std::vector<ProviderKind>{ProviderKind::kPrometheus, ProviderKind::kWeb}));
  EXPECT_EQ(ProviderFieldName(ProviderKind::kNewRelic), "newRelic");
}

}  // namespace
}  // namespace ramp::spec
