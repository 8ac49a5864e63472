// Cost of one rollout reconcile (engine::Reconcile) of a traffic-routed canary in the middle of
// its steps, with a background AnalysisRun running (Google Benchmark).
//
// The state is reached honestly: a small driver calls Reconcile from an empty state, carries out
// the ScaleRevision intents at once (every instance ready as soon as it is asked for), answers
// every Measure with a good value and every VerifyWeight with "verified" a second later, calls
// again a second later when the status changed (as the informer of Argo's controller would) and
// otherwise jumps to wake_at, through the first deploy, an image update and the steps up to a
// timed pause.
// Run: ninja -C BUILD reconcile_bench && BUILD/bench/reconcile_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/expr_evaluator.h"
#include "engine/reconcile.h"
#include "spec/manifest.h"

namespace {

using nlohmann::json;
using ramp::Time;
using ramp::engine::MeasurementObservation;
using ramp::engine::Observed;
using ramp::engine::ReconcileContext;
using ramp::engine::ReconcileResult;
using ramp::engine::RolloutState;

// Templates for the background analysis (every minute while the canary runs) and the analysis
// step (three measurements 20 s apart).
constexpr char kTemplates[] = R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
spec:
  args:
  - name: service
  metrics:
  - name: success-rate
    interval: 1m
    failureLimit: 2
    successCondition: result[0] >= 0.95
    provider:
      prometheus:
        address: http://prometheus.monitoring:9090
        query: |
          sum(irate(istio_requests_total{destination_service=~"{{args.service}}",
            response_code!~"5.*"}[1m])) /
          sum(irate(istio_requests_total{destination_service=~"{{args.service}}"}[1m]))
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: smoke
spec:
  args:
  - name: service
  metrics:
  - name: error-rate
    interval: 20s
    count: 3
    failureLimit: 0
    failureCondition: result[0] > 0.01
    provider:
      prometheus:
        address: http://prometheus.monitoring:9090
        query: |
          sum(rate(http_requests_total{service="{{args.service}}",code=~"5.."}[1m])) /
          sum(rate(http_requests_total{service="{{args.service}}"}[1m]))
---
)";

// A 10-step traffic-routed canary; IMAGE is replaced by the image of the revision.
constexpr char kRollout[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
  namespace: default
spec:
  replicas: 10
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: IMAGE
        ports:
        - name: http
          containerPort: 8080
        readinessProbe:
          httpGet:
            path: /healthz
            port: http
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      trafficRouting:
        plugins:
          ramp/proxy:
            listen: 0.0.0.0:8080
      analysis:
        templates:
        - templateName: success-rate
        args:
        - name: service
          value: web-canary.default.svc.cluster.local
      steps:
      - setWeight: 10
      - pause: {duration: 1m}
      - setWeight: 20
      - analysis:
          templates:
          - templateName: smoke
          args:
          - name: service
            value: web-canary
      - setWeight: 40
      - pause: {duration: 5m}
      - setWeight: 60
      - pause: {duration: 5m}
      - setWeight: 80
      - pause: {duration: 5m}
)";

// The step the benchmark's state sits in: `pause: {duration: 5m}` after setWeight 40.
constexpr int32_t kTargetStep = 5;
// Bounds the driver: far more calls than the path needs.
constexpr int kMaxCalls = 500;

// 2024-05-01T10:00:00Z + s seconds.
Time T(int64_t s) { return ramp::FromUnixNanos((1714557600 + s) * 1'000'000'000LL); }

MeasurementObservation ValueObs(const std::string& run, const std::string& metric, double v,
                                Time now) {
  ramp::Measurement m;
  m.started_at = now;
  m.finished_at = now;
  json result = json::array({v});
  m.value = result.dump();
  return {run, metric,
          ramp::MeasurementUpdate::Value(std::move(m),
                                         std::make_shared<const json>(std::move(result)))};
}

std::string RolloutYaml(const std::string& image) {
  std::string yaml = kRollout;
  yaml.replace(yaml.find("IMAGE"), 5, image);
  return yaml;
}

// The platform as the driver keeps it: each revision's instances, all ready.
class World {
 public:
  // Carries out the intents of one reconcile; true when any needs an answer or changes counts.
  bool Apply(const std::vector<ramp::engine::Intent>& intents, Time now) {
    bool acted = false;
    for (const auto& intent : intents) {
      if (const auto* scale = std::get_if<ramp::engine::ScaleRevision>(&intent)) {
        Scale(*scale, now);
        acted = true;
      } else if (const auto* measure = std::get_if<ramp::engine::Measure>(&intent)) {
        if (measure->action == ramp::engine::MeasureAction::kRun ||
            measure->action == ramp::engine::MeasureAction::kResume) {
          // Good values: the success rate is high, the error rate low.
          double value = measure->metric == "error-rate" ? 0.001 : 0.97;
          answers_.push_back({measure->run, measure->metric, value});
          acted = true;
        }
      } else if (const auto* verify = std::get_if<ramp::engine::VerifyWeight>(&intent)) {
        // The router reads the weight back: it is in effect.
        ramp::engine::WeightObservation answer;
        answer.weight = verify->weight;
        answer.check.verification = ramp::WeightVerification::kVerified;
        answer.check.observed_weight = verify->weight;
        weight_ = answer;
        acted = true;
      } else if (std::holds_alternative<ramp::engine::SetWeight>(intent) ||
                 std::holds_alternative<ramp::engine::DeleteRevision>(intent)) {
        acted = true;
      }
    }
    return acted;
  }

  // What the runtime would pass to the next call at `now`: the revisions read back and the
  // answers to the measurements and the weight check asked for by the previous call.
  Observed Observe(const RolloutState& state, Time now) {
    Observed observed;
    observed.revisions.emplace();
    for (const auto& record : state.revisions) {
      auto it = instances_.find(record.hash);
      if (it == instances_.end()) continue;
      ramp::RevisionStatus status;
      status.hash = record.hash;
      status.revision = record.revision;
      status.desired_replicas = static_cast<int32_t>(it->second.size());
      status.instances = it->second;
      observed.revisions->push_back(std::move(status));
    }
    for (const auto& a : answers_) {
      observed.measurements.push_back(ValueObs(a.run, a.metric, a.value, now));
    }
    answers_.clear();
    observed.weight = std::move(weight_);
    weight_.reset();
    return observed;
  }

 private:
  struct Answer {
    std::string run;
    std::string metric;
    double value = 0;
  };

  void Scale(const ramp::engine::ScaleRevision& scale, Time now) {
    std::vector<ramp::InstanceStatus>& instances = instances_[scale.hash];
    while (instances.size() > static_cast<size_t>(scale.replicas)) instances.pop_back();
    while (instances.size() < static_cast<size_t>(scale.replicas)) {
      ramp::InstanceStatus instance;
      instance.id = scale.hash + "-" + std::to_string(next_id_++);
      instance.address = "10.0.0." + std::to_string(next_id_ % 250) + ":8080";
      instance.state = ramp::InstanceState::kReady;
      instance.ready_since = now;
      instances.push_back(std::move(instance));
    }
  }

  std::map<std::string, std::vector<ramp::InstanceStatus>> instances_;
  std::vector<Answer> answers_;
  std::optional<ramp::engine::WeightObservation> weight_;
  int next_id_ = 0;
};

bool HasPauseStep(const RolloutState& state) {
  for (const auto& p : state.status.pause_conditions) {
    if (p.reason == "CanaryPauseStep") return true;
  }
  return false;
}

struct Fixture {
  Fixture() = default;
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  std::shared_ptr<const ramp::spec::Rollout> v1;
  std::shared_ptr<const ramp::spec::Rollout> v2;
  std::vector<ramp::spec::AnalysisTemplate> templates;
  ReconcileContext context;

  // Sitting in step kTargetStep (a 5-minute pause), nothing pending: the revisions as observed
  // and a time before anything is due.
  RolloutState paused;
  Observed paused_observed;
  Time paused_now;
  // The same state once the background run's next measurement was asked for, and the answer
  // arriving a second later.
  RolloutState awaiting;
  Observed answer_observed;
  Time answer_now;
  std::string answer_error;  // why the second state could not be made, if it could not

  int calls = 0;  // reconciles the driver made
  std::string error;
};

// Fills `f` in place: its context points into it.
void Build(Fixture& f) {
  ramp::spec::ManifestSet set =
      ramp::spec::LoadManifests(kTemplates + RolloutYaml("registry.example/web:1.0"), "v1.yaml");
  ramp::spec::ManifestSet next =
      ramp::spec::LoadManifests(RolloutYaml("registry.example/web:1.1"), "v2.yaml");
  if (!set.ok() || !next.ok() || set.rollouts.size() != 1 || next.rollouts.size() != 1) {
    for (const auto* s : {&set, &next}) {
      for (const auto& d : s->diagnostics.items()) f.error += d.ToString() + "\n";
    }
    if (f.error.empty()) f.error = "the manifests did not load";
    return;
  }
  f.v1 = set.rollouts[0].object;
  auto v2 = std::make_shared<ramp::spec::Rollout>(*next.rollouts[0].object);
  v2->metadata.generation = 2;
  f.v2 = v2;
  for (const auto& t : set.analysis_templates) f.templates.push_back(*t.object);
  f.context.rollout = f.v1.get();
  f.context.templates = &f.templates;
  f.context.evaluator = {ramp::analysis::ExprConditionEvaluator(), nullptr};

  World world;
  RolloutState state;
  Time now = T(0);
  bool updated = false;
  for (; f.calls < kMaxCalls; ++f.calls) {
    Observed observed = world.Observe(state, now);
    ReconcileResult r = ramp::engine::Reconcile(f.context, state, observed, now);
    // A changed status is written back, which (as Argo's informer does) brings another call.
    const bool status_changed = !(r.state.status == state.status);
    state = std::move(r.state);
    const bool acted = world.Apply(r.intents, now) || status_changed;
    if (!acted) {
      const ramp::engine::RolloutStatus& st = state.status;
      if (!updated && !st.stable_rs.empty() && st.stable_rs == st.current_pod_hash &&
          st.available_replicas == 10) {
        // The first deploy is done: the image changes.
        f.context.rollout = f.v2.get();
        updated = true;
        now += std::chrono::seconds(30);
        continue;
      }
      if (updated && st.current_step_index == kTargetStep && HasPauseStep(state)) {
        f.paused = state;
        f.paused_observed = world.Observe(state, now);
        if (!r.wake_at) {
          f.error = "nothing to wake for in the pause";
          return;
        }
        f.paused_now =
            now + std::chrono::duration_cast<std::chrono::seconds>((*r.wake_at - now) / 2);
        break;
      }
      if (!r.wake_at) {
        f.error = "stuck at step " + std::to_string(st.current_step_index.value_or(-1)) +
                  " (phase " + st.phase + ": " + st.message + ")";
        return;
      }
      now = std::max(now + std::chrono::seconds(1), *r.wake_at);
    } else {
      now += std::chrono::seconds(1);
    }
  }
  if (f.calls == kMaxCalls) {
    f.error = "the driver did not reach the pause step";
    return;
  }

  // Second state: go on to the background measurement that falls due during the pause.
  ReconcileResult check =
      ramp::engine::Reconcile(f.context, f.paused, f.paused_observed, f.paused_now);
  if (!check.intents.empty()) {
    f.error = "the paused state is not steady: " +
              std::string(ramp::engine::IntentName(check.intents[0]));
    return;
  }
  if (!check.wake_at) {
    f.answer_error = "nothing to wake for in the pause";
    return;
  }
  Time due = *check.wake_at;
  ReconcileResult asked =
      ramp::engine::Reconcile(f.context, f.paused, world.Observe(f.paused, due), due);
  bool measure = false;
  for (const auto& i : asked.intents) {
    measure = measure || std::holds_alternative<ramp::engine::Measure>(i);
  }
  if (!measure || asked.state.status.current_step_index != kTargetStep) {
    f.answer_error = "the next wake-up in the pause did not ask for a measurement";
    return;
  }
  world.Apply(asked.intents, due);
  f.awaiting = std::move(asked.state);
  f.answer_now = due + std::chrono::seconds(1);
  f.answer_observed = world.Observe(f.awaiting, f.answer_now);
}

const Fixture& Shared() {
  static Fixture f;
  static const bool built = (Build(f), true);
  (void)built;
  return f;
}

// Mid-pause, nothing observed but the revisions, nothing due: the reconcile a wake-up or a
// periodic resync makes.
void BM_EngineReconcilePaused(benchmark::State& state) {
  const Fixture& f = Shared();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  for (auto _ : state) {
    ReconcileResult r =
        ramp::engine::Reconcile(f.context, f.paused, f.paused_observed, f.paused_now);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["driver_calls"] = f.calls;
  state.counters["analysis_runs"] = static_cast<double>(f.paused.analysis_runs.size());
}
BENCHMARK(BM_EngineReconcilePaused);

// Mid-pause, the background run's measurement answer arrives (a value judged by its condition).
void BM_EngineReconcileMeasurement(benchmark::State& state) {
  const Fixture& f = Shared();
  if (!f.error.empty() || !f.answer_error.empty()) {
    state.SkipWithError((f.error + f.answer_error).c_str());
    return;
  }
  for (auto _ : state) {
    ReconcileResult r =
        ramp::engine::Reconcile(f.context, f.awaiting, f.answer_observed, f.answer_now);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EngineReconcileMeasurement);

}  // namespace

BENCHMARK_MAIN();
