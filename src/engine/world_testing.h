// A small in-memory world that runs the engine the way types.h says a runtime does, for tests:
// instances that become ready a fixed time after they are asked for, an ideal traffic router
// (weights read back at once), hook answers and metric answers chosen by the test — or a real
// MetricProvider, whose asynchronous answers the world waits for before the next reconcile. It
// reconciles to a fixpoint at each time it is woken and jumps from wake-up to wake-up, so a test
// reads like a timeline of reference §2.7.
//
// Test-only (it uses GoogleTest assertions). Thread-safety: one test thread drives a World; a
// real provider's callbacks may come from any thread.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "analysis/expr_evaluator.h"
#include "engine/reconcile.h"
#include "runtime/measure.h"
#include "spec/manifest.h"

namespace ramp::engine::testing_util {

inline constexpr Time kT0 = Time(std::chrono::seconds(1'767'225'600));  // 2026-01-01T00:00:00Z

// A traffic-routed canary of 10 replicas: setWeight 20, pause, setWeight 50, pause 30s.
inline constexpr char kCanaryRollout[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo, namespace: default}
spec:
  replicas: 10
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      containers: [{name: app, image: demo:v1}]
  strategy:
    canary:
      canaryService: demo-canary
      stableService: demo-stable
      trafficRouting:
        plugins: {ramp/proxy: {listen: ":8080"}}
      steps:
      - setWeight: 20
      - pause: {}
      - setWeight: 50
      - pause: {duration: 30s}
)";

struct SeenEvent {
  int64_t t;  // seconds since kT0
  std::string reason;
  std::string message;
  std::optional<int32_t> step;
  std::optional<int32_t> weight;
};

class World {
 public:
  // `t0` is the time of the update (Deploy runs before it); integration tests pass the real
  // time so that a real metric backend has data there.
  explicit World(const std::string& yaml, Time t0 = kT0) : t0_(t0) {
    set_ = spec::LoadManifests(yaml, "w.yaml");
    EXPECT_TRUE(set_.ok()) << [&] {
      std::string d;
      for (const auto& x : set_.diagnostics.items()) d += x.ToString() + "\n";
      return d;
    }();
    if (!set_.rollouts.empty()) rollout_ = *set_.rollouts[0].object;
    if (!rollout_.metadata.generation) rollout_.metadata.generation = 1;
    for (const auto& t : set_.analysis_templates) templates_.push_back(*t.object);
    for (const auto& t : set_.cluster_analysis_templates) templates_.push_back(*t.object);
    std::vector<spec::RolloutWebhooks> hooks;
    for (const auto& h : set_.rollout_webhooks) hooks.push_back(*h.object);
    attached_ = spec::AttachedWebhooksFor(rollout_, hooks);
    ctx_.evaluator.condition = analysis::ExprConditionEvaluator();
  }

  // Deploys the spec as it is, before kT0, with instances ready at once.
  void Deploy() {
    Duration saved = ready_after_;
    ready_after_ = Duration::zero();
    now_ = t0_ - std::chrono::hours(1);
    RunUntil(t0_ - std::chrono::seconds(1));
    ready_after_ = saved;
    events_.clear();
    weights_set_.clear();
    now_ = t0_;
  }

  void SetImage(const std::string& image) {
    auto result = SetRolloutImage(rollout_.spec, state_.status, "*", image);
    ASSERT_TRUE(result.has_value()) << result.error().message();
    Apply(*result);
  }
  void Apply(const ActionResult& r) {
    if (r.spec.template_.raw != rollout_.spec.template_.raw ||
        r.spec.paused != rollout_.spec.paused || r.spec.restart_at != rollout_.spec.restart_at) {
      rollout_.metadata.generation = *rollout_.metadata.generation + 1;
    }
    rollout_.spec = r.spec;
    state_.status = r.status;
  }

  // Runs the event-driven loop until `until` (or until nothing is left to wake for).
  void RunUntil(Time until) {
    for (int guard = 0; guard < 10'000; ++guard) {
      Settle();
      std::optional<Time> next = NextWake();
      if (!next || *next > until) break;
      now_ = *next;
    }
  }
  void RunFor(Duration d) { RunUntil(now_ + d); }

  // Reconciles at now_ until nothing changes.
  void Settle() {
    for (int i = 0; i < 200; ++i) {
      CollectAnswers();
      Observed obs = Observe();
      ReconcileResult r = Reconcile(ctx(), state_, obs, now_);
      pending_measurements_.clear();
      const bool had_hooks = !pending_hooks_.empty() || pending_weight_.has_value();
      pending_hooks_.clear();
      pending_weight_.reset();
      const std::string before = Fingerprint(state_);
      state_ = std::move(r.state);
      wake_ = r.wake_at;
      bool changed = Execute(r.intents);
      if (!changed && !had_hooks && before == Fingerprint(state_) &&
          pending_measurements_.empty() && pending_hooks_.empty() && !pending_weight_) {
        return;
      }
    }
    ADD_FAILURE() << "no fixpoint at t=" << Seconds(now_);
  }

  std::function<MeasurementUpdate(const std::string& metric, int64_t t)> metrics;
  // When set, Measure intents go to this real provider instead of `metrics`; the world waits
  // (bounded, in real time) for its answers before the next reconcile.
  MetricProvider* provider = nullptr;
  Duration provider_wait = std::chrono::seconds(30);
  std::function<HookResult(const HookCall& call, int64_t t)> hooks;
  std::vector<CallHook> calls_;
  Duration ready_after_ = Duration::zero();

  spec::Rollout rollout_;
  RolloutState state_;
  std::vector<SeenEvent> events_;
  std::vector<int32_t> weights_set_;
  std::vector<Intent> all_intents_;
  int restarts_ = 0;
  // Instances of a revision beyond this many never become ready (except in the revision named by
  // never_ready_hash_, which is exempt: the one deployed before the test).
  int32_t ready_cap_ = INT32_MAX;
  std::optional<std::string> never_ready_hash_;
  int64_t verified_from_ = INT64_MIN;  // the router reads back nothing before this t
  Time now_ = kT0;

  std::vector<std::string> Reasons() const {
    std::vector<std::string> out;
    for (const auto& e : events_) out.push_back(e.reason);
    return out;
  }
  const SeenEvent* FindEvent(std::string_view reason, std::string_view text = "") const {
    for (const auto& e : events_) {
      if (e.reason == reason && e.message.find(text) != std::string::npos) return &e;
    }
    return nullptr;
  }
  int32_t Pods(const std::string& hash) const {
    auto it = pods_.find(hash);
    return it == pods_.end() ? 0 : static_cast<int32_t>(it->second.size());
  }
  int64_t Seconds(Time t) const {
    return std::chrono::duration_cast<std::chrono::seconds>(t - t0_).count();
  }

 private:
  struct Pod {
    std::optional<Time> ready_at;
    Time created;
  };

  // Starts a measurement on the real provider; the answer is collected by CollectAnswers.
  void Ask(const Measure& m) {
    {
      std::lock_guard<std::mutex> lock(async_->mu);
      ++async_->outstanding;
    }
    auto async = async_;
    auto done = [async, run = m.run, metric = m.metric](MeasurementUpdate u) {
      std::lock_guard<std::mutex> lock(async->mu);
      async->answers.push_back({run, metric, std::move(u)});
      --async->outstanding;
      async->cv.notify_all();
    };
    if (!runtime::CallProvider(*provider, m, now_, done)) {
      std::lock_guard<std::mutex> lock(async_->mu);
      --async_->outstanding;  // GarbageCollect: no answer comes
    }
  }

  // Waits for every outstanding answer of the real provider and queues them for the next
  // reconcile.
  void CollectAnswers() {
    if (provider == nullptr) return;
    std::unique_lock<std::mutex> lock(async_->mu);
    const bool all =
        async_->cv.wait_for(lock, provider_wait, [&] { return async_->outstanding == 0; });
    if (!all) ADD_FAILURE() << "the provider did not answer within the wait";
    for (auto& a : async_->answers) pending_measurements_.push_back(std::move(a));
    async_->answers.clear();
  }

  struct Async {
    std::mutex mu;
    std::condition_variable cv;
    int outstanding = 0;
    std::vector<MeasurementObservation> answers;
  };
  std::shared_ptr<Async> async_ = std::make_shared<Async>();
  Time t0_;

  const ReconcileContext& ctx() {
    ctx_.rollout = &rollout_;
    ctx_.templates = &templates_;
    ctx_.webhooks = attached_.empty() ? nullptr : &attached_;
    return ctx_;
  }

  std::string Fingerprint(const RolloutState& s) const {
    std::string f = ToJson(s.status).dump();
    for (const auto& r : s.analysis_runs) {
      f += r.metadata.name + (r.spec.terminate ? "T" : "") + spec::ToJson(r.status).dump();
    }
    f += s.stable_selector + "/" + s.canary_selector + (s.managed_routes ? "M" : "");
    f +=
        "h" + std::to_string(s.hooks.calls) + s.hooks.ended + std::to_string(s.hooks.passed.size());
    for (const auto& r : s.revisions) {
      f += r.hash + std::to_string(r.revision) +
           (r.scale_down_at ? std::to_string(Seconds(*r.scale_down_at)) : "");
    }
    return f;
  }

  Observed Observe() {
    Observed obs;
    std::vector<RevisionStatus> revs;
    for (const auto& [hash, pods] : pods_) {
      RevisionStatus r;
      r.hash = hash;
      r.desired_replicas = desired_[hash];
      int i = 0;
      for (const Pod& p : pods) {
        InstanceStatus inst;
        inst.id = hash + "-" + std::to_string(i++);
        inst.created_at = p.created;
        if (p.ready_at && *p.ready_at <= now_) {
          inst.state = InstanceState::kReady;
          inst.ready_since = *p.ready_at;
        } else {
          inst.state = InstanceState::kStarting;
        }
        r.instances.push_back(inst);
      }
      revs.push_back(std::move(r));
    }
    obs.revisions = std::move(revs);
    obs.measurements = pending_measurements_;
    obs.hooks = pending_hooks_;
    obs.weight = pending_weight_;
    return obs;
  }

  bool Execute(const std::vector<Intent>& intents) {
    bool changed = false;
    for (const Intent& intent : intents) {
      all_intents_.push_back(intent);
      if (const auto* s = std::get_if<ScaleRevision>(&intent)) {
        auto& pods = pods_[s->hash];
        desired_[s->hash] = s->replicas;
        while (static_cast<int32_t>(pods.size()) < s->replicas) {
          std::optional<Time> ready = now_ + ready_after_;
          if (s->hash != never_ready_hash_.value_or("") &&
              static_cast<int32_t>(pods.size()) >= ready_cap_) {
            ready.reset();
          }
          pods.push_back(Pod{ready, now_});
          changed = true;
        }
        while (static_cast<int32_t>(pods.size()) > s->replicas) {
          pods.pop_back();
          changed = true;
        }
      } else if (const auto* ri = std::get_if<RestartInstance>(&intent)) {
        auto& pods = pods_[ri->hash];
        const size_t index = std::stoul(ri->instance.substr(ri->hash.size() + 1));
        if (index < pods.size()) pods[index] = Pod{now_ + ready_after_, now_};
        ++restarts_;
        changed = true;
      } else if (const auto* d = std::get_if<DeleteRevision>(&intent)) {
        pods_.erase(d->hash);
        desired_.erase(d->hash);
      } else if (const auto* w = std::get_if<SetWeight>(&intent)) {
        weights_set_.push_back(w->weight);
        router_weight_ = w->weight;
      } else if (const auto* v = std::get_if<VerifyWeight>(&intent)) {
        WeightCheck check;
        check.verification = router_weight_ == v->weight && Seconds(now_) >= verified_from_
                                 ? WeightVerification::kVerified
                                 : WeightVerification::kNotVerified;
        check.observed_weight = router_weight_;
        pending_weight_ = WeightObservation{v->weight, check};
      } else if (const auto* m = std::get_if<Measure>(&intent)) {
        if (m->action == MeasureAction::kGarbageCollect) continue;
        if (provider != nullptr) {
          Ask(*m);
          continue;
        }
        MeasurementUpdate u;
        if (m->action == MeasureAction::kTerminate) {
          Measurement done = *m->in_flight;
          done.phase = AnalysisPhase::kSuccessful;
          done.finished_at = now_;
          u = MeasurementUpdate::Judged(done);
        } else {
          u = metrics(m->metric, Seconds(now_));
          u.measurement.started_at = now_;
          u.measurement.finished_at = now_;
        }
        pending_measurements_.push_back({m->run, m->metric, u});
      } else if (const auto* h = std::get_if<CallHook>(&intent)) {
        calls_.push_back(*h);
        HookResult answer =
            hooks ? hooks(h->call, Seconds(now_)) : HookResult{HookVerdict::kAllowed, "", 200, 1};
        // Event hooks' answers are ignored by the engine: they wake nothing.
        if (h->call.type != HookType::kEvent) pending_hooks_.push_back({h->id, answer});
      } else if (const auto* e = std::get_if<EmitEvent>(&intent)) {
        std::optional<int32_t> weight;
        if (state_.status.canary.weights) weight = state_.status.canary.weights->canary.weight;
        events_.push_back(
            {Seconds(now_), e->reason, e->message, state_.status.current_step_index, weight});
      }
    }
    return changed;
  }

  std::optional<Time> NextWake() const {
    std::optional<Time> next = wake_;
    auto consider = [&](Time t) {
      if (t > now_ && (!next || t < *next)) next = t;
    };
    const Duration min_ready = std::chrono::seconds(rollout_.spec.min_ready_seconds);
    for (const auto& [hash, pods] : pods_) {
      for (const Pod& p : pods) {
        if (p.ready_at) {
          consider(*p.ready_at);
          consider(*p.ready_at + min_ready);
        }
      }
    }
    return next;
  }

  spec::ManifestSet set_;
  std::vector<spec::AnalysisTemplate> templates_;
  std::vector<spec::AttachedWebhook> attached_;
  ReconcileContext ctx_;
  std::map<std::string, std::vector<Pod>> pods_;
  std::map<std::string, int32_t> desired_;
  std::vector<MeasurementObservation> pending_measurements_;
  std::vector<HookObservation> pending_hooks_;
  std::optional<WeightObservation> pending_weight_;
  int32_t router_weight_ = 0;
  std::optional<Time> wake_;
};

// A measurement whose result is [v].
inline MeasurementUpdate Value(double v) {
  return MeasurementUpdate::Value(Measurement{},
                                  std::make_shared<nlohmann::json>(nlohmann::json::array({v})));
}

}  // namespace ramp::engine::testing_util
