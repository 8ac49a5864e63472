// Cost of one AnalysisRun assessment (analysis::Reconcile) with the real condition language
// (Google Benchmark). The run is made from an AnalysisTemplate document as the tests make it and
// driven on a virtual time line to a run that already holds several measurements per metric.
// Run: ninja -C BUILD analysis_bench && BUILD/bench/analysis_bench
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/analysis.h"
#include "analysis/expr_evaluator.h"
#include "spec/manifest.h"

namespace {

using nlohmann::json;
using ramp::Time;
using ramp::analysis::AssessResult;
using ramp::analysis::Evaluator;
using ramp::analysis::Reconcile;
using ramp::engine::MeasurementObservation;

// A canary's background analysis: a success rate that must stay at 95 % and (with two metrics) a
// p99 latency that fails above half a second, measured every minute, ten times, two failures
// tolerated.
constexpr char kTemplateHead[] = R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
spec:
  args:
  - name: service
  metrics:
)";
constexpr char kSuccessRate[] = R"(  - name: success-rate
    interval: 1m
    count: 10
    failureLimit: 2
    successCondition: result[0] >= 0.95
    provider:
      prometheus:
        address: http://prometheus.monitoring:9090
        query: |
          sum(irate(istio_requests_total{destination_service=~"{{args.service}}",
            response_code!~"5.*"}[1m])) /
          sum(irate(istio_requests_total{destination_service=~"{{args.service}}"}[1m]))
)";
constexpr char kLatency[] = R"(  - name: latency-p99
    interval: 1m
    count: 10
    failureLimit: 2
    failureCondition: result[0] > 0.5
    provider:
      prometheus:
        address: http://prometheus.monitoring:9090
        query: |
          histogram_quantile(0.99, sum(rate(
            istio_request_duration_seconds_bucket{destination_service=~"{{args.service}}"}[1m]
          )) by (le))
)";

constexpr char kRunName[] = "web-6d4b9c7f8-2";

// 2024-05-01T10:00:00Z + s seconds.
Time T(int64_t s) { return ramp::FromUnixNanos((1714557600 + s) * 1'000'000'000LL); }

MeasurementObservation ValueObs(const std::string& metric, double v, Time now) {
  ramp::Measurement m;
  m.started_at = now;
  m.finished_at = now;
  json result = json::array({v});
  m.value = result.dump();
  return {kRunName, metric,
          ramp::MeasurementUpdate::Value(std::move(m),
                                         std::make_shared<const json>(std::move(result)))};
}

struct Fixture {
  size_t metrics = 0;
  Evaluator evaluator{ramp::analysis::ExprConditionEvaluator(), nullptr};
  // Five measurements per metric finished; the sixth requested (at 5m10s) and awaited.
  ramp::spec::AnalysisRun awaiting;
  // The same run once the sixth answers arrived (at answered_at); the seventh is due at
  // next_due.
  ramp::spec::AnalysisRun idle;
  Time answered_at;
  Time next_due;
  std::string error;
};

// Answers for every metric of the run.
std::vector<MeasurementObservation> Answers(size_t metrics, Time at) {
  std::vector<MeasurementObservation> out = {ValueObs("success-rate", 0.97, at)};
  if (metrics == 2) out.push_back(ValueObs("latency-p99", 0.21, at));
  return out;
}

Fixture MakeFixture(size_t metrics) {
  Fixture f;
  f.metrics = metrics;
  std::string yaml = std::string(kTemplateHead) + kSuccessRate + (metrics == 2 ? kLatency : "");
  ramp::spec::ManifestSet set = ramp::spec::LoadManifests(yaml, "bench.yaml");
  if (!set.ok() || set.analysis_templates.size() != 1) {
    f.error = "template did not load";
    return f;
  }
  std::vector<ramp::spec::AnalysisTemplate> templates = {*set.analysis_templates[0].object};
  ramp::analysis::TemplateRunOptions options;
  options.name = kRunName;
  options.namespace_ = "default";
  options.templates = {ramp::spec::AnalysisTemplateRef{"success-rate", false}};
  ramp::spec::Argument service;
  service.name = "service";
  service.value = "web-canary.default.svc.cluster.local";
  options.args = {service};
  auto made = ramp::analysis::NewAnalysisRunFromTemplates(options, templates, nullptr);
  if (!made.has_value()) {
    f.error = made.error().ToString();
    return f;
  }
  ramp::spec::AnalysisRun run = std::move(made->run);
  // Each metric is asked for when due (a minute after the previous answer) and answered two
  // seconds later; the sixth ask is left awaited.
  Time ask = T(0);
  for (int i = 1;; ++i) {
    AssessResult asked = Reconcile(run, {}, ask, f.evaluator);
    if (asked.requests.size() != metrics) {
      f.error = "expected a request per metric for measurement " + std::to_string(i);
      return f;
    }
    run = std::move(asked.run);
    if (i == 6) break;
    Time answered = ask + std::chrono::seconds(2);
    AssessResult done = Reconcile(run, Answers(metrics, answered), answered, f.evaluator);
    run = std::move(done.run);
    ask = answered + std::chrono::minutes(1);
  }
  f.awaiting = run;
  f.answered_at = ask + std::chrono::seconds(2);
  AssessResult done = Reconcile(run, Answers(metrics, f.answered_at), f.answered_at, f.evaluator);
  f.idle = std::move(done.run);
  f.next_due = f.answered_at + std::chrono::minutes(1);
  for (const auto& r : f.idle.status.metric_results) {
    if (r.count != 6 || r.successful != 6) f.error = "unexpected counts for " + r.name;
  }
  if (f.idle.status.phase != ramp::spec::AnalysisPhase::kRunning) f.error = "run not Running";
  return f;
}

// The fixture of a run with state.range(0) metrics (1 or 2), made once.
const Fixture& Shared(const benchmark::State& state) {
  static const Fixture one = MakeFixture(1);
  static const Fixture two = MakeFixture(2);
  return state.range(0) == 1 ? one : two;
}

// A value for success-rate arrives and completes its Running measurement: the condition is
// evaluated, counters and phases are updated (with two metrics, latency-p99 stays awaited).
void BM_AnalysisValueArrives(benchmark::State& state) {
  const Fixture& f = Shared(state);
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  const std::vector<MeasurementObservation> observed = {
      ValueObs("success-rate", 0.97, f.answered_at)};
  {
    AssessResult check = Reconcile(f.awaiting, observed, f.answered_at, f.evaluator);
    const auto& r = check.run.status.metric_results[0];
    if (r.name != "success-rate" || r.count != 6 || !check.requests.empty() ||
        check.run.status.phase != ramp::spec::AnalysisPhase::kRunning) {
      state.SkipWithError("the observation was not recorded as expected");
      return;
    }
  }
  for (auto _ : state) {
    AssessResult result = Reconcile(f.awaiting, observed, f.answered_at, f.evaluator);
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AnalysisValueArrives)->ArgName("metrics")->Arg(1)->Arg(2);

// A wake-up with nothing observed and nothing due (half a minute before the next measurements).
void BM_AnalysisNothingDue(benchmark::State& state) {
  const Fixture& f = Shared(state);
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  const std::vector<MeasurementObservation> observed;
  {
    AssessResult check =
        Reconcile(f.idle, observed, f.next_due - std::chrono::seconds(30), f.evaluator);
    if (!check.requests.empty() || check.next_wakeup != f.next_due) {
      state.SkipWithError("expected no requests and a wake-up when the next is due");
      return;
    }
  }
  for (auto _ : state) {
    AssessResult result =
        Reconcile(f.idle, observed, f.next_due - std::chrono::seconds(30), f.evaluator);
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AnalysisNothingDue)->ArgName("metrics")->Arg(1)->Arg(2);

// The next measurements fall due: every metric is asked for (requests built, run marked).
void BM_AnalysisMeasurementDue(benchmark::State& state) {
  const Fixture& f = Shared(state);
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  const std::vector<MeasurementObservation> observed;
  {
    AssessResult check = Reconcile(f.idle, observed, f.next_due, f.evaluator);
    if (check.requests.size() != f.metrics) {
      state.SkipWithError("expected a request per metric when due");
      return;
    }
  }
  for (auto _ : state) {
    AssessResult result = Reconcile(f.idle, observed, f.next_due, f.evaluator);
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AnalysisMeasurementDue)->ArgName("metrics")->Arg(1)->Arg(2);

// For reference: copying and destroying the run alone, which Reconcile does once per call as it
// returns the run by value.
void BM_AnalysisRunCopy(benchmark::State& state) {
  const Fixture& f = Shared(state);
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  for (auto _ : state) {
    ramp::spec::AnalysisRun copy = f.idle;
    benchmark::DoNotOptimize(copy);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AnalysisRunCopy)->ArgName("metrics")->Arg(1)->Arg(2);

}  // namespace

BENCHMARK_MAIN();
