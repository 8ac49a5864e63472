#include "analysis/analysis.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "analysis/resolve.h"
#include "spec/manifest.h"

namespace ramp::analysis {
namespace {

using nlohmann::json;
using spec::AnalysisPhase;

// 2024-05-01T10:00:00Z + s seconds.
Time T(int64_t s) { return FromUnixNanos((1714557600 + s) * 1'000'000'000LL); }

// A stand-in for the condition language: "true", "false", "result <op> <number>" (op one of
// > < >= <= ==) over a number or a one-element list; anything else is a compile error.
StatusOr<bool> FakeCondition(std::string_view cond, const MetricValue& result, Time) {
  if (cond == "true") return true;
  if (cond == "false") return false;
  std::string c(cond);
  size_t sp1 = c.find(' ');
  size_t sp2 = sp1 == std::string::npos ? std::string::npos : c.find(' ', sp1 + 1);
  if (sp2 == std::string::npos || c.substr(0, sp1) != "result") {
    return Fail(InvalidArgumentError("unexpected token \"" + c + "\""));
  }
  std::string op = c.substr(sp1 + 1, sp2 - sp1 - 1);
  double rhs = std::stod(c.substr(sp2 + 1));
  if (result == nullptr || result->is_null()) {
    return Fail(InvalidArgumentError("invalid operation: <nil> " + op + " float64"));
  }
  const json* v = result.get();
  if (v->is_array()) {
    if (v->empty()) return Fail(InvalidArgumentError("index out of range"));
    v = &(*v)[0];
  }
  if (!v->is_number()) return Fail(InvalidArgumentError("not a number"));
  double x = v->get<double>();
  if (op == ">") return x > rhs;
  if (op == "<") return x < rhs;
  if (op == ">=") return x >= rhs;
  if (op == "<=") return x <= rhs;
  if (op == "==") return x == rhs;
  return Fail(InvalidArgumentError("unknown operator " + op));
}

std::vector<spec::AnalysisTemplate> Templates(const std::string& yaml) {
  spec::ManifestSet set = spec::LoadManifests(yaml, "t.yaml");
  std::string diags;
  for (const auto& d : set.diagnostics.items()) diags += d.ToString() + "\n";
  EXPECT_TRUE(set.ok()) << diags;
  std::vector<spec::AnalysisTemplate> out;
  for (const auto& t : set.analysis_templates) out.push_back(*t.object);
  for (const auto& t : set.cluster_analysis_templates) out.push_back(*t.object);
  return out;
}

// An AnalysisTemplate document named `name` with the given `spec:` body (indented by 2).
std::string TemplateDoc(const std::string& name, const std::string& spec_body,
                        const std::string& kind = "AnalysisTemplate") {
  return "apiVersion: argoproj.io/v1alpha1\nkind: " + kind + "\nmetadata:\n  name: " + name +
         "\nspec:\n" + spec_body + "---\n";
}

std::string PromMetric(const std::string& name, const std::string& extra) {
  return "  - name: " + name +
         "\n    provider:\n      prometheus:\n        address: http://prom:9090\n"
         "        query: q_" +
         name + "\n" + extra;
}

spec::AnalysisTemplateRef Ref(const std::string& name, bool cluster = false) {
  return spec::AnalysisTemplateRef{name, cluster};
}

spec::Argument Arg(const std::string& name, const std::string& value) {
  spec::Argument a;
  a.name = name;
  a.value = value;
  return a;
}

// A run made from the template "t" of `yaml`.
spec::AnalysisRun MakeRun(const std::string& yaml, std::vector<spec::Argument> args = {},
                          std::vector<spec::DryRun> dry_run = {}) {
  TemplateRunOptions o;
  o.name = "run";
  o.namespace_ = "default";
  o.templates = {Ref("t")};
  o.args = std::move(args);
  o.dry_run = std::move(dry_run);
  auto r = NewAnalysisRunFromTemplates(o, Templates(yaml), nullptr);
  EXPECT_TRUE(r.has_value()) << (r.has_value() ? "" : r.error().ToString());
  return r.has_value() ? r->run : spec::AnalysisRun{};
}

Measurement Done(Time now) {
  Measurement m;
  m.started_at = now;
  m.finished_at = now;
  return m;
}

engine::MeasurementObservation ValueObs(const std::string& metric, json v, Time now) {
  Measurement m = Done(now);
  m.value = v.dump();
  return {"run", metric, MeasurementUpdate::Value(m, std::make_shared<const json>(std::move(v)))};
}

engine::MeasurementObservation ErrorObs(const std::string& metric, const std::string& msg,
                                        Time now) {
  return {"run", metric, MeasurementUpdate::Error(Done(now), msg)};
}

engine::MeasurementObservation JudgedObs(const std::string& metric, ramp::AnalysisPhase phase,
                                         Time now, const std::string& msg = "") {
  Measurement m = Done(now);
  m.phase = phase;
  m.message = msg;
  return {"run", metric, MeasurementUpdate::Judged(m)};
}

engine::MeasurementObservation RunningObs(const std::string& metric, Time resume_at, Time now) {
  Measurement m;
  m.started_at = now;
  m.metadata["job-name"] = "run-job-1";
  return {"run", metric, MeasurementUpdate::Running(m, resume_at)};
}

// Drives Reconcile on a virtual time line.
struct Harness {
  spec::AnalysisRun run;
  Time now = T(0);
  Evaluator ev{FakeCondition, nullptr};
  AssessResult last;

  explicit Harness(spec::AnalysisRun r) : run(std::move(r)) {}

  AssessResult& Step(std::vector<engine::MeasurementObservation> obs = {}) {
    last = Reconcile(run, obs, now, ev);
    run = last.run;
    return last;
  }
  void At(int64_t seconds) { now = T(seconds); }

  // "metric:Action" of the last step's requests.
  std::vector<std::string> Requests() const {
    std::vector<std::string> out;
    for (const auto& r : last.requests) {
      out.push_back(r.metric + ":" + std::string(engine::MeasureActionName(r.action)));
    }
    return out;
  }
  const spec::MetricResult& Result(const std::string& name) const {
    for (const auto& r : run.status.metric_results) {
      if (r.name == name) return r;
    }
    static const spec::MetricResult kNone;
    ADD_FAILURE() << "no result for " << name;
    return kNone;
  }
  std::vector<std::string> EventReasons() const {
    std::vector<std::string> out;
    for (const auto& e : last.events) out.push_back(e.reason);
    return out;
  }
};

using Strings = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// Run creation

TEST(FlattenTemplates, NestedTemplatesResolvedRecursivelyAndDuplicatesDropped) {
  std::string yaml =
      TemplateDoc("a", "  metrics:\n" + PromMetric("m-a", "") +
                           "  templates:\n  - templateName: b\n  - templateName: c\n") +
      TemplateDoc("b", "  metrics:\n" + PromMetric("m-b", "")) +
      TemplateDoc("c", "  metrics:\n" + PromMetric("m-c", "") +
                           "  templates:\n  - templateName: b\n  - templateName: d\n"
                           "    clusterScope: true\n") +
      TemplateDoc("d", "  metrics:\n" + PromMetric("m-d", ""), "ClusterAnalysisTemplate");
  auto flat = FlattenTemplates({Ref("a")}, Templates(yaml), "default");
  ASSERT_TRUE(flat.has_value()) << flat.error().ToString();
  Strings names;
  for (const auto& m : flat->metrics) names.push_back(m.name);
  // Namespaced templates first (a, b, c; the second b dropped), then cluster ones.
  EXPECT_EQ(names, (Strings{"m-a", "m-b", "m-c", "m-d"}));
}

TEST(FlattenTemplates, DuplicateMetricNameIsAnError) {
  std::string yaml = TemplateDoc("a", "  metrics:\n" + PromMetric("same", "")) +
                     TemplateDoc("b", "  metrics:\n" + PromMetric("same", ""));
  auto flat = FlattenTemplates({Ref("a"), Ref("b")}, Templates(yaml), "default");
  ASSERT_FALSE(flat.has_value());
  EXPECT_EQ(flat.error().message(), "two metrics have the same name 'same'");
}

TEST(FlattenTemplates, SameArgWithTwoValuesIsAnErrorAndAValueFillsAMissingOne) {
  std::string a = TemplateDoc(
      "a", "  args:\n  - name: svc\n    value: x\n  metrics:\n" + PromMetric("m-a", ""));
  std::string b = TemplateDoc(
      "b", "  args:\n  - name: svc\n    value: y\n  metrics:\n" + PromMetric("m-b", ""));
  std::string c = TemplateDoc("c", "  args:\n  - name: svc\n  metrics:\n" + PromMetric("m-c", ""));
  auto bad = FlattenTemplates({Ref("a"), Ref("b")}, Templates(a + b), "default");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message(),
            "Argument `svc` specified multiple times with different values: 'x', 'y'");
  auto ok = FlattenTemplates({Ref("c"), Ref("a")}, Templates(a + c), "default");
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->args.size(), 1u);
  EXPECT_EQ(ok->args[0].value, "x");
}

TEST(FlattenTemplates, MissingTemplateAndCyclesAreErrors) {
  auto missing = FlattenTemplates({Ref("nope", true)}, {}, "default");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.error().message(), "clusteranalysistemplate.argoproj.io \"nope\" not found");
  std::string yaml = TemplateDoc("a", "  metrics:\n" + PromMetric("m-a", "") +
                                          "  templates:\n"
                                          "  - templateName: b\n") +
                     TemplateDoc("b", "  metrics:\n" + PromMetric("m-b", "") +
                                          "  templates:\n"
                                          "  - templateName: a\n");
  auto cycle = FlattenTemplates({Ref("a")}, Templates(yaml), "default");
  ASSERT_FALSE(cycle.has_value());
  EXPECT_EQ(cycle.error().message(),
            "nested templates form a cycle: AnalysisTemplate a -> AnalysisTemplate b -> "
            "AnalysisTemplate a");
}

TEST(MergeArgs, CallerArgsOverrideAndAMissingValueIsNamed) {
  spec::Argument required;
  required.name = "service";
  std::vector<spec::Argument> tmpl = {required, Arg("threshold", "0.9")};
  auto merged =
      MergeArgs({Arg("service", "web"), Arg("threshold", "0.95"), Arg("extra", "x")}, tmpl);
  ASSERT_TRUE(merged.has_value());
  ASSERT_EQ(merged->size(), 2u);  // "extra" is not a template arg: ignored, as in Argo
  EXPECT_EQ((*merged)[0].value, "web");
  EXPECT_EQ((*merged)[1].value, "0.95");
  auto missing = MergeArgs({Arg("threshold", "1")}, tmpl);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().message(), "args.service was not resolved");
}

TEST(NewAnalysisRunFromTemplates, DryRunAndRetentionRulesMergedAndChecked) {
  std::string yaml =
      TemplateDoc("t", "  metrics:\n" + PromMetric("error-rate", "") + PromMetric("latency", "") +
                           "  dryRun:\n  - metricName: latency\n"
                           "  measurementRetention:\n  - metricName: error-rate\n    limit: 3\n");
  auto templates = Templates(yaml);
  TemplateRunOptions o;
  o.name = "run";
  o.templates = {Ref("t")};
  o.dry_run = {spec::DryRun{"error.*"}};
  auto ok = NewAnalysisRunFromTemplates(o, templates, nullptr);
  ASSERT_TRUE(ok.has_value()) << ok.error().ToString();
  ASSERT_EQ(ok->run.spec.dry_run.size(), 2u);
  EXPECT_EQ(ok->run.spec.dry_run[0].metric_name, "error.*");  // the caller's rules first
  EXPECT_EQ(ok->run.spec.measurement_retention.size(), 1u);

  o.dry_run = {spec::DryRun{"latency"}};
  auto dup = NewAnalysisRunFromTemplates(o, templates, nullptr);
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().message(), "two Dry-Run metric rules have the same name 'latency'");

  o.dry_run = {spec::DryRun{"^nothing$"}};
  auto nomatch = NewAnalysisRunFromTemplates(o, templates, nullptr);
  ASSERT_FALSE(nomatch.has_value());
  EXPECT_EQ(nomatch.error().message(), "dryRun[0]: Rule didn't match any metric name(s)");

  o.dry_run = {};
  o.measurement_retention = {spec::MeasurementRetention{"error-rate", 5}};
  auto rdup = NewAnalysisRunFromTemplates(o, templates, nullptr);
  ASSERT_FALSE(rdup.has_value());
  EXPECT_EQ(rdup.error().message(),
            "two Measurement Retention metric rules have the same name 'error-rate'");
  o.measurement_retention = {spec::MeasurementRetention{"zzz", 5}};
  auto rnomatch = NewAnalysisRunFromTemplates(o, templates, nullptr);
  ASSERT_FALSE(rnomatch.has_value());
  EXPECT_EQ(rnomatch.error().message(),
            "measurementRetention[0]: Rule didn't match any metric name(s)");
}

spec::Rollout SampleRollout() {
  spec::Rollout r;
  r.metadata.name = "guestbook";
  r.metadata.namespace_ = "shop";
  r.metadata.uid = "uid-1";
  r.metadata.labels = {{"app", "guestbook"}, {"tier", "web"}};
  r.metadata.annotations = {{"owner", "team-a"}};
  r.spec.replicas = 3;
  spec::LabelSelector sel;
  sel.match_labels = {{"app", "guestbook"}};
  r.spec.selector = sel;
  r.spec.template_.empty = false;
  r.spec.template_.raw =
      json::parse(R"({"spec":{"containers":[{"name":"app","image":"guestbook:v2"}]}})");
  return r;
}

spec::Argument FromField(const std::string& name, const std::string& path) {
  spec::Argument a;
  a.name = name;
  a.value_from = spec::ArgumentValueFrom{};
  a.value_from->field_ref = path;
  return a;
}

TEST(BuildRolloutArgs, PodTemplateHashAndFieldRefs) {
  spec::Rollout r = SampleRollout();
  spec::Argument stable;
  stable.name = "stable";
  stable.value_from = spec::ArgumentValueFrom{};
  stable.value_from->pod_template_hash_value = "Stable";
  spec::Argument latest = stable;
  latest.name = "latest";
  latest.value_from->pod_template_hash_value = "Latest";
  RolloutArgSource src{&r, nullptr, "s111", "l222"};
  auto args = BuildRolloutArgs(
      {Arg("plain", "v"), stable, latest, FromField("name", "metadata.name"),
       FromField("ns", "metadata.namespace"), FromField("uid", "metadata.uid"),
       FromField("app", "metadata.labels['app']"), FromField("none", "metadata.labels['x']"),
       FromField("owner", "metadata.annotations['owner']"), FromField("labels", "metadata.labels"),
       FromField("image", "spec.template.spec.containers[0].image"),
       FromField("replicas", "spec.replicas")},
      src);
  ASSERT_TRUE(args.has_value()) << args.error().ToString();
  Strings values;
  for (const auto& a : *args) {
    EXPECT_FALSE(a.value_from.has_value());
    values.push_back(a.value.value_or("<none>"));
  }
  EXPECT_EQ(values, (Strings{"v", "s111", "l222", "guestbook", "shop", "uid-1", "guestbook", "",
                             "team-a", "app=\"guestbook\"\ntier=\"web\"", "guestbook:v2", "3"}));
}

TEST(BuildRolloutArgs, FieldRefErrors) {
  spec::Rollout r = SampleRollout();
  RolloutArgSource src{&r, nullptr, "s", "l"};
  auto msg = [&](const std::string& path) {
    auto a = BuildRolloutArgs({FromField("x", path)}, src);
    return a.has_value() ? std::string("ok") : a.error().message();
  };
  EXPECT_EQ(msg("spec.template.spec.containers"),
            "path spec.template.spec.containers in rollout must terminate in a primitive value");
  EXPECT_EQ(msg("spec.nothing.here"), "invalid path spec.nothing.here in rollout");
  EXPECT_EQ(msg("spec.template.spec.containers[5].image"), "index 5 out of range");
  EXPECT_EQ(msg("spec.template.spec.containers[x]"), "invalid index 'x'");
  EXPECT_EQ(msg("metadata.generation"), "unsupported fieldPath: metadata.generation");
  // Rollout JSON given by the caller is walked as it is; numbers print as Go's %v does.
  json doc = json::parse(R"({"spec":{"big":1000000,"ratio":0.25,"on":true}})");
  RolloutArgSource with_json{&r, &doc, "s", "l"};
  auto a = BuildRolloutArgs(
      {FromField("big", "spec.big"), FromField("ratio", "spec.ratio"), FromField("on", "spec.on")},
      with_json);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ((*a)[0].value, "1e+06");
  EXPECT_EQ((*a)[1].value, "0.25");
  EXPECT_EQ((*a)[2].value, "true");
}

TEST(NewRolloutAnalysisRun, NameLabelsAndAnnotations) {
  std::string yaml =
      TemplateDoc("success-rate", "  args:\n  - name: hash\n  metrics:\n" + PromMetric("sr", ""));
  auto templates = Templates(yaml);
  spec::Rollout r = SampleRollout();
  spec::RolloutAnalysis analysis;
  analysis.templates = {Ref("success-rate")};
  spec::Argument latest;
  latest.name = "hash";
  latest.value_from = spec::ArgumentValueFrom{};
  latest.value_from->pod_template_hash_value = "Latest";
  analysis.args = {latest};
  analysis.analysis_run_metadata = spec::PodMetadata{{{"team", "a"}}, {{"note", "n"}}};
  RolloutRunOptions o;
  o.rollout = &r;
  o.analysis = &analysis;
  o.kind = engine::AnalysisRunKind::kStep;
  o.step_index = 2;
  o.latest_hash = "6d9f8b7c4";
  o.stable_hash = "58f7d9c5b";
  o.revision = "3";
  auto run = NewRolloutAnalysisRun(o, templates, nullptr);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  EXPECT_EQ(run->run.metadata.name, "guestbook-6d9f8b7c4-3-2");
  EXPECT_EQ(run->run.metadata.namespace_, "shop");
  std::map<std::string, std::string> labels = {{"rollouts-pod-template-hash", "6d9f8b7c4"},
                                               {"rollout-type", "Step"},
                                               {"step-index", "2"},
                                               {"team", "a"},
                                               {"app", "guestbook"}};
  EXPECT_EQ(run->run.metadata.labels, labels);
  std::map<std::string, std::string> annotations = {{"rollout.argoproj.io/revision", "3"},
                                                    {"note", "n"}};
  EXPECT_EQ(run->run.metadata.annotations, annotations);
  ASSERT_EQ(run->run.spec.args.size(), 1u);
  EXPECT_EQ(run->run.spec.args[0].value, "6d9f8b7c4");

  o.kind = engine::AnalysisRunKind::kBackground;
  EXPECT_EQ(NewRolloutAnalysisRun(o, templates, nullptr)->run.metadata.name,
            "guestbook-6d9f8b7c4-3");
  o.kind = engine::AnalysisRunKind::kPrePromotion;
  auto pre = NewRolloutAnalysisRun(o, templates, nullptr);
  EXPECT_EQ(pre->run.metadata.name, "guestbook-6d9f8b7c4-3-pre");
  EXPECT_EQ(pre->run.metadata.labels.at("rollout-type"), "PrePromotion");
  EXPECT_EQ(pre->run.metadata.labels.count("step-index"), 0u);
  o.kind = engine::AnalysisRunKind::kPostPromotion;
  EXPECT_EQ(NewRolloutAnalysisRun(o, templates, nullptr)->run.metadata.name,
            "guestbook-6d9f8b7c4-3-post");
}

// ---------------------------------------------------------------------------------------------
// Arguments and validation at reconcile time

const char kArgsTemplate[] = R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: t
spec:
  args:
  - name: service
  - name: threshold
  - name: count
  - name: interval
  metrics:
  - name: success-rate
    interval: "{{args.interval}}"
    count: "{{args.count}}"
    failureLimit: "{{ args.count }}"
    successCondition: result >= {{args.threshold}}
    provider:
      prometheus:
        address: http://{{args.service}}.monitoring:9090
        query: sum(rate(http_requests_total{service="{{args.service}}"}[5m]))
)";

TEST(Reconcile, ArgsSubstitutedInEveryString) {
  Harness h(MakeRun(kArgsTemplate, {Arg("service", "web"), Arg("threshold", "0.95"),
                                    Arg("count", "2"), Arg("interval", "1m")}));
  h.Step();
  ASSERT_EQ(h.Requests(), (Strings{"success-rate:Run"}));
  const MetricRef& ref = h.last.requests[0].metric_ref;
  EXPECT_EQ(ref.provider_type, "prometheus");
  json config = json::parse(ref.provider_config_json);
  EXPECT_EQ(config["address"], "http://web.monitoring:9090");
  EXPECT_EQ(config["query"], "sum(rate(http_requests_total{service=\"web\"}[5m]))");
  EXPECT_EQ(ref.interval, Duration(std::chrono::minutes(1)));
  // successCondition "result >= 0.95": 0.9 fails; failureLimit "2" tolerates it; count "2".
  h.Step({ValueObs("success-rate", 0.9, h.now)});
  EXPECT_EQ(h.Result("success-rate").failed, 1);
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kRunning);
  h.At(60);
  h.Step();
  h.Step({ValueObs("success-rate", 0.99, h.now)});
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kSuccessful);
  EXPECT_EQ(h.Result("success-rate").count, 2);
}

TEST(Reconcile, UnresolvableArgumentEndsTheRunInError) {
  std::string yaml = TemplateDoc(
      "t", "  metrics:\n" + PromMetric("m", "    successCondition: result > {{args.nope}}\n"));
  Harness h(MakeRun(yaml));
  h.Step();
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kError);
  EXPECT_EQ(h.run.status.message,
            "Unable to resolve metric arguments: failed to resolve "
            "{{args.nope}}");
  EXPECT_TRUE(h.last.requests.empty());
  EXPECT_FALSE(h.run.status.started_at.has_value());  // as Argo: this path sets no times
  EXPECT_EQ(h.EventReasons(), (Strings{"AnalysisRunError"}));
  EXPECT_EQ(h.last.events[0].type, EventType::kWarning);
}

TEST(Reconcile, TemplateFieldRefArgumentIsNotSupplied) {
  std::string yaml = TemplateDoc("t",
                                 "  args:\n  - name: image\n    valueFrom:\n      fieldRef:\n"
                                 "        fieldPath: spec.template.spec.containers[0].image\n"
                                 "  metrics:\n" +
                                     PromMetric("m", ""));
  Harness h(MakeRun(yaml));
  h.Step();
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kError);
  EXPECT_EQ(h.run.status.message,
            "Unable to resolve metric arguments: argument \"image\" was not supplied");
}

TEST(Reconcile, ResolvedSpecIsValidated) {
  Harness h(MakeRun(kArgsTemplate, {Arg("service", "web"), Arg("threshold", "0.95"),
                                    Arg("count", "3"), Arg("interval", "")}));
  h.Step();
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kError);
  EXPECT_EQ(h.run.status.message,
            "Analysis spec invalid: metrics[0]: interval must be specified when count > 1");
  Harness bad_interval(MakeRun(kArgsTemplate, {Arg("service", "web"), Arg("threshold", "0.95"),
                                               Arg("count", "3"), Arg("interval", "soon")}));
  bad_interval.Step();
  EXPECT_EQ(bad_interval.run.status.message,
            "Analysis spec invalid: metrics[0]: invalid interval string: time: invalid duration "
            "\"soon\"");
}

TEST(Substitution, FasttemplateSemantics) {
  internal::ArgTable t;
  t.values = {{"a", "1"}, {"s", "hunter2"}};
  t.secret = {"s"};
  EXPECT_EQ(internal::SubstituteArgs("x{{ args.a }}y{{args.s}}", t, false).value(), "x1yhunter2");
  EXPECT_EQ(internal::SubstituteArgs("{{ args.s }}", t, true).value(), "{{args.s}}");
  auto bad = internal::SubstituteArgs("{{args.b}} {{other}}", t, false);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message(), "failed to resolve {{other}}");  // the last one, as Argo
}

// ---------------------------------------------------------------------------------------------
// Measurement → phase (evaluate.go)

TEST(EvaluateResult, ConditionTable) {
  auto v = [](double x) { return std::make_shared<const json>(x); };
  auto phase = [&](const char* s, const char* f, double x) {
    return EvaluateResult(s, f, v(x), T(0), FakeCondition).phase;
  };
  EXPECT_EQ(phase("", "", 1), AnalysisPhase::kSuccessful);  // §11 gotcha 1
  EXPECT_EQ(phase("result > 0", "", 1), AnalysisPhase::kSuccessful);
  EXPECT_EQ(phase("result > 0", "", -1), AnalysisPhase::kFailed);
  EXPECT_EQ(phase("", "result > 0", 1), AnalysisPhase::kFailed);
  EXPECT_EQ(phase("", "result > 0", -1), AnalysisPhase::kSuccessful);
  EXPECT_EQ(phase("result > 5", "result < 0", 10), AnalysisPhase::kSuccessful);
  EXPECT_EQ(phase("result > 5", "result < 0", -1), AnalysisPhase::kFailed);
  EXPECT_EQ(phase("result > 5", "result < 0", 2), AnalysisPhase::kInconclusive);
  EXPECT_EQ(phase("true", "true", 0), AnalysisPhase::kFailed);  // failure wins

  Verdict err = EvaluateResult("result >", "", v(1), T(0), FakeCondition);
  EXPECT_EQ(err.phase, AnalysisPhase::kError);
  EXPECT_EQ(err.message,
            "could not evaluate successCondition \"result >\": unexpected token \"result >\"");
  Verdict nil = EvaluateResult("", "result > 1", nullptr, T(0), FakeCondition);
  EXPECT_EQ(nil.message,
            "could not evaluate failureCondition \"result > 1\": metric result is nil or empty: "
            "no data returned from the metric provider");
  Verdict empty = EvaluateResult("result > 1", "", std::make_shared<const json>(json::array()),
                                 T(0), FakeCondition);
  EXPECT_EQ(empty.message,
            "could not evaluate successCondition \"result > 1\": metric result is nil or empty: "
            "no data returned from the metric provider");
  // No conditions: a nil result is still Successful.
  EXPECT_EQ(EvaluateResult("", "", nullptr, T(0), nullptr).phase, AnalysisPhase::kSuccessful);
}

// ---------------------------------------------------------------------------------------------
// Scheduling

TEST(Reconcile, FirstMeasurementImmediatelyWhateverTheInterval) {  // §11.1 item 5
  Harness h(
      MakeRun(TemplateDoc("t", "  metrics:\n" + PromMetric("m",
                                                           "    interval: 5m\n    count: 3\n"
                                                           "    successCondition: result > 0\n"))));
  h.Step();
  EXPECT_EQ(h.Requests(), (Strings{"m:Run"}));
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kRunning);
  EXPECT_EQ(h.run.status.started_at->text, "2024-05-01T10:00:00Z");
  EXPECT_EQ(h.last.requests[0].measurement_number, 1);
  EXPECT_FALSE(h.last.next_wakeup.has_value());  // waiting for the answer
  // The request is recorded: another call before the answer asks nothing more.
  h.Step();
  EXPECT_TRUE(h.last.requests.empty());
  h.Step({ValueObs("m", 1, h.now)});
  EXPECT_TRUE(h.last.requests.empty());
  EXPECT_EQ(h.last.next_wakeup, T(300));
  h.At(299);
  h.Step();
  EXPECT_TRUE(h.last.requests.empty());
  h.At(300);
  h.Step();
  EXPECT_EQ(h.Requests(), (Strings{"m:Run"}));
  EXPECT_EQ(h.last.requests[0].measurement_number, 2);
}

TEST(Reconcile, InitialDelayCountsFromStartedAt) {  // §11.1 item 5
  Harness h(
      MakeRun(TemplateDoc("t", "  metrics:\n" + PromMetric("slow", "    initialDelay: 60s\n") +
                                   PromMetric("fast", ""))));
  h.Step();
  EXPECT_EQ(h.Requests(), (Strings{"fast:Run"}));
  EXPECT_EQ(h.last.next_wakeup, T(60));
  h.At(10);
  h.Step({ValueObs("fast", 1, h.now)});
  // "fast" is done but "slow" has not started: the run keeps Running.
  EXPECT_EQ(h.Result("fast").phase, AnalysisPhase::kSuccessful);
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kRunning);
  EXPECT_EQ(h.last.next_wakeup, T(60));
  h.At(59);
  h.Step();
  EXPECT_TRUE(h.last.requests.empty());
  h.At(60);
  h.Step();
  EXPECT_EQ(h.Requests(), (Strings{"slow:Run"}));
  h.Step({ValueObs("slow", 1, h.now)});
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kSuccessful);
}

TEST(Reconcile, CountReachedCompletesTheRun) {
  Harness h(
      MakeRun(TemplateDoc("t", "  metrics:\n" + PromMetric("m",
                                                           "    interval: 30s\n    count: 2\n"
                                                           "    successCondition: result > 0\n"))));
  h.Step();
  h.Step({ValueObs("m", 1, h.now)});
  h.At(30);
  h.Step();
  h.At(31);
  h.Step({ValueObs("m", 2, h.now)});
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kSuccessful);
  EXPECT_EQ(h.run.status.message, "");
  EXPECT_EQ(h.run.status.completed_at->text, "2024-05-01T10:00:31Z");
  EXPECT_EQ(h.EventReasons(), (Strings{"MetricSuccessful", "AnalysisRunSuccessful"}));
  EXPECT_EQ(h.last.events[1].message, "Analysis Completed. Result: Successful");
  EXPECT_EQ(h.run.status.run_summary.count, 1);
  EXPECT_EQ(h.run.status.run_summary.successful, 1);
  const auto& r = h.Result("m");
  EXPECT_EQ(r.count, 2);
  EXPECT_EQ(r.successful, 2);
  EXPECT_EQ(r.consecutive_success, 2);
  EXPECT_EQ(r.measurements[1].finished_at->text, "2024-05-01T10:00:31Z");
  EXPECT_EQ(r.measurements[1].value, "2");
  EXPECT_EQ(r.measurements[1].metadata.count(kAwaitingKey), 0u);
  EXPECT_FALSE(h.last.next_wakeup.has_value());
  // A completed run is left as it is.
  h.At(100);
  AssessResult again = h.Step({ValueObs("m", 3, h.now)});
  EXPECT_TRUE(again.requests.empty());
  EXPECT_EQ(h.Result("m").count, 2);
}

TEST(Reconcile, ErrorsRetryAfterTenSecondsAndDoNotCount) {  // §11 gotcha 8
  Harness h(MakeRun(TemplateDoc("t", "  metrics:\n" + PromMetric("m", "    interval: 5m\n"))));
  for (int i = 0; i < 5; ++i) {
    h.At(i * 10);
    h.Step();
    ASSERT_EQ(h.Requests(), (Strings{"m:Run"})) << "attempt " << i;
    EXPECT_EQ(h.last.requests[0].measurement_number, i + 1);
    h.Step({ErrorObs("m", "dial tcp: connection refused", h.now)});
    if (i < 4) {
      EXPECT_EQ(h.last.next_wakeup, T(i * 10 + 10));
      EXPECT_EQ(h.run.status.phase, AnalysisPhase::kRunning);
    }
  }
  const auto& r = h.Result("m");
  EXPECT_EQ(r.count, 0);
  EXPECT_EQ(r.error, 5);
  EXPECT_EQ(r.consecutive_error, 5);
  EXPECT_EQ(r.phase, AnalysisPhase::kError);
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kError);
  EXPECT_EQ(h.run.status.message,
            "Metric \"m\" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4): "
            "\"Error Message: dial tcp: connection refused\"");
  EXPECT_EQ(h.run.status.run_summary.error, 1);
  EXPECT_EQ(h.EventReasons(), (Strings{"MetricError", "AnalysisRunError"}));
}

TEST(Reconcile, ASuccessAfterErrorsResetsTheStreakAndUsesTheInterval) {
  Harness h(MakeRun(TemplateDoc("t", "  metrics:\n" + PromMetric("m", "    interval: 1m\n"))));
  h.Step();
  h.Step({ErrorObs("m", "timeout", h.now)});
  h.At(10);
  h.Step();
  h.Step({ValueObs("m", 1, h.now)});
  EXPECT_EQ(h.Result("m").consecutive_error, 0);
  EXPECT_EQ(h.Result("m").count, 1);
  EXPECT_EQ(h.last.next_wakeup, T(70));
}

TEST(Reconcile, FailureLimit) {
  Harness h(
      MakeRun(TemplateDoc("t", "  metrics:\n" + PromMetric("m",
                                                           "    interval: 1m\n    count: 5\n"
                                                           "    failureLimit: 1\n"
                                                           "    successCondition: result > 0\n"))));
  h.Step();
  h.Step({ValueObs("m", 0, h.now)});
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kRunning);
  h.At(60);
  h.Step();
  h.Step({ValueObs("m", 0, h.now)});
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(h.run.status.message,
            "Metric \"m\" assessed Failed due to failed (2) > failureLimit (1)");
  EXPECT_EQ(h.run.status.run_summary.failed, 1);
  EXPECT_EQ(h.last.events[0].type, EventType::kWarning);
}

TEST(Reconcile, FailureLimitMinusOneWithConsecutiveSuccessLimit) {
  Harness h(
      MakeRun(TemplateDoc("t", "  metrics:\n" + PromMetric("m",
                                                           "    interval: 1m\n    count: 5\n"
                                                           "    failureLimit: -1\n"
                                                           "    consecutiveSuccessLimit: 2\n"
                                                           "    successCondition: result > 0\n"))));
  std::vector<int> values = {1, 0, 0, 1, 1};
  for (size_t i = 0; i < values.size(); ++i) {
    h.At(static_cast<int64_t>(i) * 60);
    h.Step();
    h.Step({ValueObs("m", values[i], h.now)});
  }
  EXPECT_EQ(h.Result("m").failed, 2);
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kSuccessful);
}

TEST(Reconcile, CountReachedWithoutTheSuccessStreak) {
  // Only consecutiveSuccessLimit applies (failureLimit -1): Failed.
  Harness only(
      MakeRun(TemplateDoc("t", "  metrics:\n" + PromMetric("m",
                                                           "    interval: 1m\n    count: 2\n"
                                                           "    failureLimit: -1\n"
                                                           "    consecutiveSuccessLimit: 2\n"
                                                           "    successCondition: result > 0\n"))));
  // Both apply: Inconclusive.
  Harness both(
      MakeRun(TemplateDoc("t", "  metrics:\n" + PromMetric("m",
                                                           "    interval: 1m\n    count: 3\n"
                                                           "    failureLimit: 1\n"
                                                           "    consecutiveSuccessLimit: 2\n"
                                                           "    successCondition: result > 0\n"))));
  for (Harness* h : {&only, &both}) {
    std::vector<int> values = {1, 0, 1};
    for (size_t i = 0; i < values.size(); ++i) {
      if (spec::IsCompleted(h->run.status.phase)) break;
      h->At(static_cast<int64_t>(i) * 60);
      h->Step();
      h->Step({ValueObs("m", values[i], h->now)});
    }
  }
  EXPECT_EQ(only.run.status.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(only.run.status.message, "");                // no limit was exceeded
  EXPECT_EQ(only.run.status.run_summary.successful, 1);  // Argo counts it so
  EXPECT_EQ(both.run.status.phase, AnalysisPhase::kInconclusive);
}

TEST(Reconcile, InconclusiveLimit) {
  Harness h(
      MakeRun(TemplateDoc("t", "  metrics:\n" + PromMetric("m",
                                                           "    successCondition: result > 5\n"
                                                           "    failureCondition: result < 0\n"))));
  h.Step();
  h.Step({ValueObs("m", 2, h.now)});
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kInconclusive);
  EXPECT_EQ(h.run.status.message,
            "Metric \"m\" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0)");
  EXPECT_EQ(h.run.status.run_summary.inconclusive, 1);
  EXPECT_EQ(h.last.events.back().type, EventType::kNormal);
}

TEST(Reconcile, WithinAMetricErrorOverridesInconclusiveOverridesFailed) {  // §11 gotcha 7
  spec::AnalysisRun run =
      MakeRun(TemplateDoc("t", "  metrics:\n" + PromMetric("m",
                                                           "    interval: 1m\n    failureLimit: 1\n"
                                                           "    inconclusiveLimit: 1\n"
                                                           "    consecutiveErrorLimit: 1\n")));
  // A status as a previous process left it: every limit exceeded at once.
  spec::MetricResult r;
  r.name = "m";
  r.phase = AnalysisPhase::kRunning;
  spec::Measurement last;
  last.phase = AnalysisPhase::kError;
  last.message = "boom";
  last.started_at = ToMetaTime(T(0));
  last.finished_at = ToMetaTime(T(0));
  r.measurements = {last};
  r.failed = 2;
  r.inconclusive = 2;
  r.error = 2;
  r.consecutive_error = 2;
  run.status.started_at = ToMetaTime(T(0));
  run.status.phase = AnalysisPhase::kRunning;
  run.status.metric_results = {r};
  Harness h(run);
  h.Step();
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kError);
  EXPECT_EQ(h.run.status.message,
            "Metric \"m\" assessed Error due to consecutiveErrors (2) > consecutiveErrorLimit (1): "
            "\"Error Message: boom\"");
  h.run.status.phase = AnalysisPhase::kRunning;
  h.run.status.metric_results[0].phase = AnalysisPhase::kRunning;
  h.run.status.metric_results[0].consecutive_error = 0;
  h.Step();
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kInconclusive);
}

TEST(Reconcile, AcrossMetricsFailedIsWorseThanErrorIsWorseThanInconclusive) {  // §11 gotcha 7
  std::string yaml =
      TemplateDoc("t", "  metrics:\n" + PromMetric("a-error", "    consecutiveErrorLimit: 0\n") +
                           PromMetric("b-failed", "    successCondition: result > 0\n") +
                           PromMetric("c-inconclusive",
                                      "    successCondition: result > 5\n"
                                      "    failureCondition: result < 0\n"));
  Harness h(MakeRun(yaml));
  h.Step();
  EXPECT_EQ(h.Requests(), (Strings{"a-error:Run", "b-failed:Run", "c-inconclusive:Run"}));
  h.Step({ErrorObs("a-error", "bad gateway", h.now), ValueObs("b-failed", 0, h.now),
          ValueObs("c-inconclusive", 2, h.now)});
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(h.run.status.message,
            "Metric \"b-failed\" assessed Failed due to failed (1) > failureLimit (0)");
  EXPECT_EQ(h.run.status.run_summary.count, 3);
  EXPECT_EQ(h.run.status.run_summary.error, 1);
  EXPECT_EQ(h.run.status.run_summary.failed, 1);
  EXPECT_EQ(h.run.status.run_summary.inconclusive, 1);

  Harness h2(MakeRun(yaml));
  h2.Step();
  h2.Step({ErrorObs("a-error", "bad gateway", h2.now), ValueObs("b-failed", 1, h2.now),
           ValueObs("c-inconclusive", 2, h2.now)});
  EXPECT_EQ(h2.run.status.phase, AnalysisPhase::kError);
  EXPECT_EQ(h2.run.status.message,
            "Metric \"a-error\" assessed Error due to consecutiveErrors (1) > "
            "consecutiveErrorLimit (0): \"Error Message: bad gateway\"");
}

// ---------------------------------------------------------------------------------------------
// Termination

const char kBackgroundTemplate[] = R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: t
spec:
  metrics:
  - name: error-rate
    interval: 1m
    successCondition: result < 0.05
    provider:
      prometheus:
        address: http://prom:9090
        query: errors
  - name: smoke
    provider:
      job:
        spec:
          template:
            spec:
              restartPolicy: Never
              containers:
              - name: smoke
                image: smoke:1
)";

TEST(Reconcile, TerminateMakesUnlimitedMetricsSuccessful) {  // §11 gotcha 9
  std::string yaml =
      TemplateDoc("t", "  metrics:\n" +
                           PromMetric("m", "    interval: 1m\n    successCondition: result > 0\n"));
  Harness h(MakeRun(yaml));
  h.Step();
  h.Step({ValueObs("m", 1, h.now)});
  h.At(30);
  h.run.spec.terminate = true;
  h.Step();
  EXPECT_TRUE(h.last.requests.empty());
  EXPECT_EQ(h.Result("m").phase, AnalysisPhase::kSuccessful);
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kSuccessful);
  EXPECT_EQ(h.run.status.message, "Run Terminated");
  EXPECT_EQ(h.run.status.completed_at->text, "2024-05-01T10:00:30Z");

  // Terminated before any measurement: Successful too.
  Harness early(MakeRun(yaml));
  early.run.spec.terminate = true;
  early.Step();
  EXPECT_TRUE(early.last.requests.empty());
  EXPECT_EQ(early.run.status.phase, AnalysisPhase::kSuccessful);
}

TEST(Reconcile, TerminatedInFlightJobMeasurementBecomesInconclusive) {  // §11 gotcha 9
  Harness h(MakeRun(kBackgroundTemplate));
  h.Step();
  EXPECT_EQ(h.Requests(), (Strings{"error-rate:Run", "smoke:Run"}));
  EXPECT_EQ(h.last.requests[1].metric_ref.provider_type, "job");
  h.Step({ValueObs("error-rate", 0.01, h.now), RunningObs("smoke", T(15), h.now)});
  EXPECT_EQ(h.last.next_wakeup, T(15));
  h.At(5);
  h.run.spec.terminate = true;  // the rollout completed
  h.Step();
  EXPECT_EQ(h.Requests(), (Strings{"smoke:Terminate"}));
  ASSERT_TRUE(h.last.requests[0].in_flight.has_value());
  EXPECT_EQ(h.last.requests[0].in_flight->metadata.at("job-name"), "run-job-1");
  EXPECT_EQ(h.last.requests[0].in_flight->metadata.count(kAwaitingKey), 0u);
  // The run waits for the answer; the unlimited metric is already Successful.
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kRunning);
  EXPECT_EQ(h.Result("error-rate").phase, AnalysisPhase::kSuccessful);
  h.Step();
  EXPECT_TRUE(h.last.requests.empty());
  h.Step({JudgedObs("smoke", ramp::AnalysisPhase::kInconclusive, h.now)});
  const auto& smoke = h.Result("smoke");
  EXPECT_EQ(smoke.measurements.back().message, "Metric Terminated");
  EXPECT_EQ(smoke.phase, AnalysisPhase::kInconclusive);
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kInconclusive);
  EXPECT_EQ(h.run.status.message,
            "Metric \"smoke\" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit "
            "(0): \"Error Message: Metric Terminated\"");
}

TEST(Reconcile, TerminateWaitsForARunStillAwaited) {
  Harness h(MakeRun(TemplateDoc(
      "t",
      "  metrics:\n" + PromMetric("m", "    interval: 1m\n    successCondition: result > 0\n"))));
  h.Step();
  h.run.spec.terminate = true;
  h.Step();
  // The provider is asked once to stop the Run still out (a job that reports only at its end
  // would keep the run waiting); the run waits for the answer.
  EXPECT_EQ(h.Requests(), (Strings{"m:Terminate"}));
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kRunning);
  h.Step();
  EXPECT_TRUE(h.last.requests.empty());
  h.At(2);
  h.Step({ValueObs("m", 1, h.now)});
  EXPECT_EQ(h.Result("m").measurements.back().message, "");  // the Run's value, as measured
  EXPECT_EQ(h.Result("m").phase, AnalysisPhase::kSuccessful);
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kSuccessful);
  EXPECT_EQ(h.run.status.message, "Run Terminated");
  EXPECT_EQ(h.run.status.completed_at->text, "2024-05-01T10:00:02Z");
}

TEST(Reconcile, AFailedMetricTerminatesTheOthers) {
  Harness h(MakeRun(kBackgroundTemplate));
  h.Step();
  h.Step({ValueObs("error-rate", 0.01, h.now), RunningObs("smoke", T(100), h.now)});
  h.At(60);
  h.Step();
  EXPECT_EQ(h.Requests(), (Strings{"error-rate:Run"}));
  h.At(61);
  h.Step({ValueObs("error-rate", 0.5, h.now)});
  // error-rate failed → the run is terminating: the job is terminated, nothing new is measured.
  EXPECT_EQ(h.Result("error-rate").phase, AnalysisPhase::kFailed);
  EXPECT_EQ(h.Requests(), (Strings{"smoke:Terminate"}));
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kRunning);
  EXPECT_FALSE(h.last.next_wakeup.has_value());
  h.Step({JudgedObs("smoke", ramp::AnalysisPhase::kSuccessful, h.now)});
  EXPECT_EQ(h.Result("smoke").measurements.back().message, "Metric Terminated");
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(h.run.status.message,
            "Metric \"error-rate\" assessed Failed due to failed (1) > failureLimit (0)");
}

TEST(Reconcile, ResumeWhenResumeAtHasPassed) {
  Harness h(MakeRun(kBackgroundTemplate));
  h.Step();
  h.Step({ValueObs("error-rate", 0.01, h.now), RunningObs("smoke", T(15), h.now)});
  h.At(14);
  h.Step();
  EXPECT_TRUE(h.last.requests.empty());
  h.At(15);
  h.Step();
  EXPECT_EQ(h.Requests(), (Strings{"smoke:Resume"}));
  EXPECT_EQ(h.last.requests[0].in_flight->resume_at, T(15));
  h.Step();  // the Resume is awaited: not asked again
  EXPECT_TRUE(h.last.requests.empty());
  h.At(16);
  h.Step({JudgedObs("smoke", ramp::AnalysisPhase::kFailed, h.now, "job failed")});
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(h.run.status.message,
            "Metric \"smoke\" assessed Failed due to failed (1) > failureLimit (0): "
            "\"Error Message: job failed\"");
  // The job measurement kept what the provider reported.
  EXPECT_EQ(h.Result("smoke").measurements.back().metadata.at("job-name"), "run-job-1");
  EXPECT_EQ(h.Result("smoke").measurements.back().started_at->text, "2024-05-01T10:00:00Z");
}

TEST(Reconcile, ForgetDispatchedAsksAgainAfterARestart) {
  Harness h(MakeRun(kBackgroundTemplate));
  h.Step();
  h.Step({RunningObs("smoke", T(15), h.now)});
  h.At(15);
  h.Step();
  EXPECT_EQ(h.Requests(), (Strings{"smoke:Resume"}));
  // The process restarts: neither the Run of error-rate nor the Resume of smoke will answer.
  h.run = ForgetDispatched(h.run);
  EXPECT_TRUE(h.Result("error-rate").measurements.empty());
  h.Step();
  EXPECT_EQ(h.Requests(), (Strings{"error-rate:Run", "smoke:Resume"}));
}

TEST(Reconcile, ObservationsOfOtherRunsOrNotAwaitedAreIgnored) {
  Harness h(MakeRun(TemplateDoc("t", "  metrics:\n" + PromMetric("m", ""))));
  h.Step();
  auto other = ValueObs("m", 1, h.now);
  other.run = "another-run";
  h.Step({other, ValueObs("unknown", 1, h.now)});
  EXPECT_EQ(h.Result("m").count, 0);
  h.Step({ValueObs("m", 1, h.now), ValueObs("m", 2, h.now)});  // the duplicate is dropped
  EXPECT_EQ(h.Result("m").count, 1);
  EXPECT_EQ(h.Result("m").measurements.size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Dry run

TEST(Reconcile, DryRunMetricsNeverAffectThePhase) {
  std::string yaml =
      TemplateDoc("t", "  metrics:\n" + PromMetric("gate", "    interval: 1m\n    count: 2\n") +
                           PromMetric("experimental", "    successCondition: result > 0\n"));
  Harness h(MakeRun(yaml, {}, {spec::DryRun{"experimental"}}));
  h.Step();
  h.Step({ValueObs("gate", 1, h.now), ValueObs("experimental", 0, h.now)});
  const auto& exp = h.Result("experimental");
  EXPECT_TRUE(exp.dry_run);
  EXPECT_EQ(exp.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(exp.message, "Metric assessed Failed due to failed (1) > failureLimit (0)");
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kRunning);  // not terminating
  ASSERT_TRUE(h.run.status.dry_run_summary.has_value());
  EXPECT_EQ(h.run.status.dry_run_summary->count, 1);
  EXPECT_EQ(h.run.status.dry_run_summary->failed, 1);
  EXPECT_EQ(h.run.status.run_summary.count, 1);
  h.At(60);
  h.Step();
  EXPECT_EQ(h.Requests(), (Strings{"gate:Run"}));
  h.Step({ValueObs("gate", 1, h.now)});
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kSuccessful);
  EXPECT_EQ(h.run.status.run_summary.successful, 1);
}

TEST(Reconcile, OnlyDryRunMetricsSucceedAsSoonAsTheyFinish) {  // §11.1 item 3
  std::string yaml =
      TemplateDoc("t", "  metrics:\n" +
                           PromMetric("m", "    interval: 1m\n    successCondition: result > 0\n"));
  Harness h(MakeRun(yaml, {}, {spec::DryRun{".*"}}));
  h.Step();
  h.Step({ValueObs("m", 0, h.now)});
  EXPECT_EQ(h.Result("m").phase, AnalysisPhase::kFailed);
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kSuccessful);
  EXPECT_EQ(h.run.status.message, "");
  EXPECT_EQ(h.run.status.dry_run_summary->failed, 1);
}

// ---------------------------------------------------------------------------------------------
// Retention

TEST(Reconcile, MeasurementRetentionTrimsTheOldest) {
  std::string yaml =
      TemplateDoc("t", "  metrics:\n" + PromMetric("kept", "    interval: 10s\n") +
                           PromMetric("short", "    interval: 10s\n") +
                           "  measurementRetention:\n  - metricName: short\n    limit: 3\n");
  Harness h(MakeRun(yaml));
  for (int i = 0; i < 12; ++i) {
    h.At(i * 10);
    h.Step();
    h.Step({ValueObs("kept", i, h.now), ValueObs("short", i, h.now)});
  }
  const auto& kept = h.Result("kept");
  ASSERT_EQ(kept.measurements.size(), 10u);
  EXPECT_EQ(kept.measurements.front().value, "2");
  EXPECT_EQ(kept.measurements.back().value, "11");
  EXPECT_EQ(kept.count, 12);
  const auto& shortened = h.Result("short");
  ASSERT_EQ(shortened.measurements.size(), 3u);
  EXPECT_EQ(shortened.measurements.front().value, "9");
  // Trimming asks the provider to collect what it made for the dropped measurements.
  h.At(120);
  AssessResult& r = h.Step();
  Strings gc;
  for (const auto& req : r.requests) {
    if (req.action == engine::MeasureAction::kGarbageCollect) {
      gc.push_back(req.metric + "=" + std::to_string(req.keep));
    }
  }
  EXPECT_EQ(gc, (Strings{"kept=10", "short=3"}));
}

// ---------------------------------------------------------------------------------------------
// Secrets

const char kSecretTemplate[] = R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: t
spec:
  args:
  - name: token
    valueFrom:
      secretKeyRef:
        name: api
        key: token
  metrics:
  - name: web
    successCondition: result > 0
    provider:
      web:
        url: http://svc/metrics
        headers:
        - key: Authorization
          value: "Bearer {{args.token}}"
)";

TEST(Secrets, ReadForRedactionAndNeverPutInRequestsOrStatus) {
  std::string yaml = kSecretTemplate;
  SecretLookup lookup = [](std::string_view name, std::string_view key) -> StatusOr<std::string> {
    if (name == "api" && key == "token") return std::string("s3cr3t");
    return Fail(NotFoundError("secrets \"" + std::string(name) + "\" not found"));
  };
  TemplateRunOptions o;
  o.name = "run";
  o.templates = {Ref("t")};
  auto created = NewAnalysisRunFromTemplates(o, Templates(yaml), lookup);
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(created->secrets, (Strings{"s3cr3t"}));
  ASSERT_EQ(created->run.spec.args.size(), 1u);
  EXPECT_FALSE(created->run.spec.args[0].value.has_value());  // stays a secretKeyRef

  Harness h(created->run);
  h.ev.secrets = lookup;
  h.Step();
  ASSERT_EQ(h.Requests(), (Strings{"web:Run"}));
  const MeasureRequest req = h.last.requests[0];  // a copy: Step replaces the requests
  EXPECT_EQ(json::parse(req.metric_ref.provider_config_json)["headers"][0]["value"],
            "Bearer {{args.token}}");
  ASSERT_EQ(req.secret_args.size(), 1u);
  EXPECT_EQ(req.secret_args[0], (engine::SecretArg{"token", "api", "token"}));
  Measurement m = Done(h.now);
  m.value = "token s3cr3t leaked";
  m.metadata["url"] = "http://svc/?t=s3cr3t";
  h.Step({{"run", "web", MeasurementUpdate::Error(m, "401 for Bearer s3cr3t")}});
  const auto& stored = h.Result("web").measurements.back();
  EXPECT_EQ(stored.message, "401 for Bearer *****");
  EXPECT_EQ(stored.value, "token ***** leaked");
  EXPECT_EQ(stored.metadata.at("url"), "http://svc/?t=*****");
  EXPECT_EQ(ToJson(h.run.status).dump().find("s3cr3t"), std::string::npos);

  engine::Measure intent = ToMeasureIntent(h.run, req, ObjectRef{"default", "guestbook"}, h.now);
  EXPECT_EQ(intent.run, "run");
  EXPECT_EQ(intent.context.rollout.name, "guestbook");
  EXPECT_EQ(intent.secret_args, req.secret_args);
}

TEST(Secrets, AFailedReadEndsTheRunInError) {
  TemplateRunOptions o;
  o.name = "run";
  o.templates = {Ref("t")};
  SecretLookup missing = [](std::string_view name, std::string_view) -> StatusOr<std::string> {
    return Fail(NotFoundError("secrets \"" + std::string(name) + "\" not found"));
  };
  auto created = NewAnalysisRunFromTemplates(o, Templates(kSecretTemplate), missing);
  ASSERT_TRUE(created.has_value());  // creation does not read-fail, as Argo's does not
  EXPECT_TRUE(created->secrets.empty());
  Harness h(created->run);
  h.ev.secrets = missing;
  h.Step();
  EXPECT_EQ(h.run.status.phase, AnalysisPhase::kError);
  EXPECT_EQ(h.run.status.message, "Unable to resolve metric arguments: secrets \"api\" not found");
}

// ---------------------------------------------------------------------------------------------
// Small pieces

TEST(Time, MetaTimeHasWholeSecondsInUtc) {
  spec::MetaTime t = ToMetaTime(T(0) + std::chrono::milliseconds(1500));
  EXPECT_EQ(t.text, "2024-05-01T10:00:01Z");
  EXPECT_EQ(FromMetaTime(t), T(1));
  EXPECT_EQ(spec::ParseMetaTime(t.text), t.unix_nanos);
  EXPECT_EQ(ToMetaTime(FromUnixNanos(0)).text, "1970-01-01T00:00:00Z");
  EXPECT_EQ(ToMetaTime(FromUnixNanos(951782400LL * 1'000'000'000)).text, "2000-02-29T00:00:00Z");
}

TEST(FormatGoFloat, AsGoPrintsWithPercentV) {
  EXPECT_EQ(internal::FormatGoFloat(3), "3");
  EXPECT_EQ(internal::FormatGoFloat(0.5), "0.5");
  EXPECT_EQ(internal::FormatGoFloat(123456), "123456");
  EXPECT_EQ(internal::FormatGoFloat(1234567), "1.234567e+06");
  EXPECT_EQ(internal::FormatGoFloat(0.00001), "1e-05");
  EXPECT_EQ(internal::FormatGoFloat(-2.5), "-2.5");
}

TEST(FillSecretArgs, FillsTagsInsideJsonStringsAndReportsTheValues) {
  SecretLookup lookup = [](std::string_view secret, std::string_view key) -> StatusOr<std::string> {
    if (secret == "creds" && key == "token") return std::string("s3\"cr\\et");
    return Fail(NotFoundError("secrets \"" + std::string(secret) + "\" not found"));
  };
  std::vector<std::string> values;
  auto filled = FillSecretArgs(
      R"({"headers":[{"key":"Authorization","value":"Bearer {{args.token}}"}],"url":"x"})",
      {engine::SecretArg{"token", "creds", "token"}}, lookup, &values);
  ASSERT_TRUE(filled.has_value()) << filled.error().message();
  json parsed = json::parse(*filled);
  EXPECT_EQ(parsed["headers"][0]["value"], "Bearer s3\"cr\\et");
  EXPECT_EQ(parsed["url"], "x");
  EXPECT_EQ(values, Strings{"s3\"cr\\et"});

  auto missing = FillSecretArgs(R"({"v":"{{args.k}}"})", {engine::SecretArg{"k", "nope", "k"}},
                                lookup, nullptr);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().message(), "args.k: secrets \"nope\" not found");

  auto untouched = FillSecretArgs(R"({"v":"plain"})", {}, nullptr, nullptr);
  EXPECT_EQ(*untouched, R"({"v":"plain"})");
}

}  // namespace
}  // namespace ramp::analysis
