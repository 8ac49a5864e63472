#include "sim/simulator.h"

#include "sim/scenario_provider.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/analysis.h"
#include "analysis/expr_evaluator.h"
#include "engine/actions.h"
#include "engine/phase.h"
#include "engine/reconcile.h"
#include "engine/status.h"
#include "engine/types.h"
#include "runtime/measure.h"
#include "sim/output.h"

namespace ramp::sim {
namespace {

using engine::Intent;

constexpr char kActionFailed[] = "ActionFailed";

struct Pod {
  std::string id;
  Time created;
  std::optional<Time> ready_at;  // nullopt: never ready

  friend bool operator==(const Pod&, const Pod&) = default;
};

// What the ideal traffic router holds.
struct Router {
  int32_t weight = 0;
  std::vector<WeightDestination> additional;
  std::map<std::string, HeaderRoute> header_routes;
  std::map<std::string, MirrorRoute> mirror_routes;
  std::map<ServiceRole, std::string> selectors;

  friend bool operator==(const Router&, const Router&) = default;
};

// Whether two engine states are the same for the fixpoint: status, AnalysisRuns (status and
// terminate), revisions and service selectors.
bool SameState(const engine::RolloutState& a, const engine::RolloutState& b) {
  if (!(a.status == b.status) || !(a.revisions == b.revisions) ||
      a.stable_selector != b.stable_selector || a.canary_selector != b.canary_selector ||
      a.managed_routes != b.managed_routes || !(a.hooks == b.hooks) ||
      a.analysis_runs.size() != b.analysis_runs.size()) {
    return false;
  }
  for (size_t i = 0; i < a.analysis_runs.size(); ++i) {
    const spec::AnalysisRun& x = a.analysis_runs[i];
    const spec::AnalysisRun& y = b.analysis_runs[i];
    if (x.metadata.name != y.metadata.name || x.spec.terminate != y.spec.terminate ||
        spec::ToJson(x.status) != spec::ToJson(y.status)) {
      return false;
    }
  }
  return true;
}

std::string RunPhaseName(spec::AnalysisPhase phase) {
  return phase == spec::AnalysisPhase::kNone ? "Pending" : std::string(AnalysisPhaseName(phase));
}

class World {
 public:
  World(const SimulationInput& input, const Scenario& scenario, const EventSink& sink,
        const Limits& limits)
      : input_(input),
        scenario_(scenario),
        sink_(sink),
        limits_(limits),
        rollout_(input.rollout),
        provider_(scenario, kUpdateTime) {
    if (!rollout_.metadata.generation) rollout_.metadata.generation = 1;
    ctx_.rollout = &rollout_;
    ctx_.templates = &input_.templates;
    if (!input_.webhooks.empty()) ctx_.webhooks = &input_.webhooks;
    ctx_.evaluator.condition = analysis::ExprConditionEvaluator();
    ctx_.evaluator.secrets = [](std::string_view, std::string_view) -> StatusOr<std::string> {
      return Fail(FailedPreconditionError("secrets are not available in ramp simulate"));
    };
  }

  // Deploys the rollout at its spec before t = 0, pods ready at once, until it is Healthy.
  Status Deploy();
  // Applies the update at t = 0 and runs to the stop rule.
  StatusOr<Summary> Run();

 private:
  Status Settle();
  engine::Observed Observe();
  bool Execute(const std::vector<Intent>& intents);
  Status Carry(const Intent& intent);
  void Scale(const std::string& hash, int32_t replicas);
  Pod NewPod(const std::string& hash);
  std::optional<Time> NextTime(size_t next_action) const;
  void ApplyAction(const Action& action);
  std::optional<SettledBy> Settled() const;
  Summary MakeSummary(SettledBy by) const;
  void RecordRuns();
  void Report(std::string reason, std::string message, EventType type);

  const SimulationInput& input_;
  const Scenario& scenario_;
  const EventSink& sink_;
  const Limits limits_;
  spec::Rollout rollout_;
  engine::ReconcileContext ctx_;
  ScenarioMetricProvider provider_;
  engine::RolloutState state_;
  Time now_ = kUpdateTime;
  bool deploying_ = false;  // before t = 0: pods ready at once, nothing reported
  std::optional<Time> wake_;
  int64_t reconciles_ = 0;

  std::map<std::string, std::vector<Pod>> pods_;  // by revision hash, oldest first
  std::map<std::string, int32_t> desired_;
  int64_t pods_created_ = 0;
  Router router_;
  // Answers for the next reconcile.
  std::vector<engine::MeasurementObservation> pending_measurements_;
  std::vector<engine::HookObservation> pending_hooks_;
  std::optional<engine::WeightObservation> pending_weight_;
  std::vector<engine::IntentFailure> pending_failures_;
  // Every AnalysisRun created since t = 0 as last seen, in creation order (the engine trims
  // finished runs from its state; the summary lists them all).
  std::vector<spec::AnalysisRun> runs_;
  std::set<std::string> deploy_runs_;
};

Status World::Deploy() {
  deploying_ = true;
  now_ =
      kUpdateTime - std::chrono::hours(1) - std::chrono::seconds(rollout_.spec.min_ready_seconds);
  for (;;) {
    RETURN_IF_ERROR(Settle());
    std::optional<Time> next = NextTime(scenario_.actions.size());
    if (!next || *next >= kUpdateTime) break;
    now_ = *next;
  }
  deploying_ = false;
  const engine::RolloutStatus& s = state_.status;
  if (s.phase != "Healthy" || s.stable_rs.empty() || s.stable_rs != s.current_pod_hash) {
    return InvalidArgumentError(fmt::format(
        "{}: rollout \"{}\" does not become Healthy when deployed at its spec ({}{}{}); ramp "
        "simulate starts from a deployed, Healthy rollout",
        input_.rollout_file, rollout_.metadata.name, s.phase.empty() ? "no phase" : s.phase,
        s.message.empty() ? "" : ": ", s.message));
  }
  for (const spec::AnalysisRun& r : state_.analysis_runs) deploy_runs_.insert(r.metadata.name);
  runs_.clear();
  return OkStatus();
}

StatusOr<Summary> World::Run() {
  now_ = kUpdateTime;
  engine::UserAction update;
  update.kind = engine::UserActionKind::kSetImage;
  update.image = scenario_.update_image;
  if (!rollout_.spec.template_.containers.empty()) {
    update.container = rollout_.spec.template_.containers[0].name;
  }
  StatusOr<engine::AppliedUserAction> applied =
      engine::ApplyUserAction(update, rollout_, state_, now_);
  if (!applied) {
    return Fail(InvalidArgumentError(
        fmt::format("{}: the update cannot be applied to rollout \"{}\": {}", input_.rollout_file,
                    rollout_.metadata.name, applied.error().message())));
  }
  rollout_ = std::move(applied->rollout);
  state_.status = std::move(applied->status);

  const Time until = kUpdateTime + scenario_.until;
  const std::vector<Action>& actions = scenario_.actions;
  size_t next_action = 0;
  for (;;) {
    while (next_action < actions.size() && kUpdateTime + actions[next_action].at <= now_) {
      ApplyAction(actions[next_action++]);
    }
    RETURN_IF_ERROR(Settle());
    const std::optional<SettledBy> settled = Settled();
    if (settled && next_action == actions.size()) return MakeSummary(*settled);
    if (now_ >= until) return MakeSummary(settled.value_or(SettledBy::kUntil));
    const std::optional<Time> next = NextTime(next_action);
    if (!next || *next > until) {
      now_ = until;
      return MakeSummary(SettledBy::kUntil);
    }
    now_ = *next;
  }
}

Status World::Settle() {
  for (int32_t i = 0; i < limits_.reconciles_per_time; ++i) {
    if (++reconciles_ > limits_.reconciles) {
      return InternalError(fmt::format("more than {} reconciles in all (at t={})",
                                       limits_.reconciles, FormatDuration(now_ - kUpdateTime)));
    }
    engine::Observed observed = Observe();
    const bool answered = !observed.measurements.empty() || !observed.hooks.empty() ||
                          observed.weight.has_value() || !observed.failures.empty();
    engine::ReconcileResult result = engine::Reconcile(ctx_, state_, observed, now_);
    const engine::RolloutState before = std::move(state_);
    state_ = std::move(result.state);
    wake_ = result.wake_at;
    RecordRuns();
    const bool changed = Execute(result.intents);
    const bool pending = !pending_measurements_.empty() || !pending_hooks_.empty() ||
                         pending_weight_.has_value() || !pending_failures_.empty();
    if (!answered && !changed && !pending && SameState(before, state_)) return OkStatus();
  }
  return InternalError(fmt::format("no fixpoint after {} reconciles at t={}",
                                   limits_.reconciles_per_time,
                                   FormatDuration(now_ - kUpdateTime)));
}

engine::Observed World::Observe() {
  engine::Observed obs;
  std::vector<RevisionStatus> revisions;
  std::set<std::string> listed;
  auto add = [&](const std::string& hash, int64_t revision) {
    RevisionStatus r;
    r.hash = hash;
    r.revision = revision;
    r.desired_replicas = desired_[hash];
    for (const Pod& p : pods_[hash]) {
      InstanceStatus inst;
      inst.id = p.id;
      inst.created_at = p.created;
      if (p.ready_at && *p.ready_at <= now_) {
        inst.state = InstanceState::kReady;
        inst.ready_since = *p.ready_at;
      } else {
        inst.state = InstanceState::kStarting;
        inst.message = p.ready_at ? "not ready yet" : "never ready (scenario readyAfter: never)";
      }
      r.instances.push_back(std::move(inst));
    }
    revisions.push_back(std::move(r));
    listed.insert(hash);
  };
  for (const engine::RevisionRecord& rec : state_.revisions) {
    if (pods_.count(rec.hash) > 0) add(rec.hash, rec.revision);
  }
  for (const auto& entry : pods_) {
    if (listed.count(entry.first) == 0) add(entry.first, 0);
  }
  obs.revisions = std::move(revisions);
  obs.measurements = std::move(pending_measurements_);
  obs.hooks = std::move(pending_hooks_);
  obs.weight = std::move(pending_weight_);
  obs.failures = std::move(pending_failures_);
  pending_measurements_.clear();
  pending_hooks_.clear();
  pending_weight_.reset();
  pending_failures_.clear();
  return obs;
}

// Carries out the intents in order; after a failure the rest are skipped (their events are
// still recorded) and the failure is observed on the next reconcile. True when the world (pods,
// router) differs afterwards: a change undone within the batch is no change.
bool World::Execute(const std::vector<Intent>& intents) {
  const auto pods_before = pods_;
  const auto desired_before = desired_;
  const Router router_before = router_;
  bool failed = false;
  for (const Intent& intent : intents) {
    if (const auto* e = std::get_if<engine::EmitEvent>(&intent)) {
      Report(e->reason, e->message, e->type);
      continue;
    }
    if (failed) continue;
    Status s = Carry(intent);
    if (!s.ok()) {
      pending_failures_.push_back(engine::IntentFailure{intent, std::move(s)});
      failed = true;
    }
  }
  return pods_ != pods_before || desired_ != desired_before || router_ != router_before;
}

Status World::Carry(const Intent& intent) {
  if (const auto* s = std::get_if<engine::ScaleRevision>(&intent)) {
    Scale(s->hash, s->replicas);
  } else if (const auto* d = std::get_if<engine::DeleteRevision>(&intent)) {
    pods_.erase(d->hash);
    desired_.erase(d->hash);
  } else if (const auto* ri = std::get_if<engine::RestartInstance>(&intent)) {
    auto& pods = pods_[ri->hash];
    auto it =
        std::find_if(pods.begin(), pods.end(), [&](const Pod& p) { return p.id == ri->instance; });
    if (it == pods.end()) {
      return NotFoundError(fmt::format("no instance {} of revision {}", ri->instance, ri->hash));
    }
    *it = NewPod(ri->hash);
  } else if (const auto* w = std::get_if<engine::SetWeight>(&intent)) {
    router_.weight = w->weight;
    router_.additional = w->additional;
  } else if (const auto* v = std::get_if<engine::VerifyWeight>(&intent)) {
    WeightCheck check;
    const bool in_effect = router_.weight == v->weight && router_.additional == v->additional;
    check.verification =
        in_effect ? WeightVerification::kVerified : WeightVerification::kNotVerified;
    check.observed_weight = router_.weight;
    if (!in_effect) {
      check.message =
          fmt::format("canary weight {} is in effect, not {}", router_.weight, v->weight);
    }
    pending_weight_ = engine::WeightObservation{v->weight, std::move(check)};
  } else if (const auto* h = std::get_if<engine::SetHeaderRoute>(&intent)) {
    if (h->route.matches.empty()) {
      router_.header_routes.erase(h->route.name);
    } else {
      router_.header_routes[h->route.name] = h->route;
    }
  } else if (const auto* m = std::get_if<engine::SetMirrorRoute>(&intent)) {
    if (m->route.matches.empty()) {
      router_.mirror_routes.erase(m->route.name);
    } else {
      router_.mirror_routes[m->route.name] = m->route;
    }
  } else if (std::holds_alternative<engine::RemoveManagedRoutes>(intent)) {
    router_.header_routes.clear();
    router_.mirror_routes.clear();
  } else if (const auto* sw = std::get_if<engine::SwitchService>(&intent)) {
    router_.selectors[sw->role] = sw->hash;
  } else if (const auto* ms = std::get_if<engine::Measure>(&intent)) {
    // Through the MetricProvider interface, as the daemon measures; the scenario's provider
    // answers inside the call.
    runtime::CallProvider(provider_, *ms, now_,
                          [this, run = ms->run, metric = ms->metric](MeasurementUpdate u) {
                            pending_measurements_.push_back({run, metric, std::move(u)});
                          });
  } else if (const auto* c = std::get_if<engine::CallHook>(&intent)) {
    // Event hooks' answers are ignored by the engine, so they are not fed back.
    if (c->call.type == HookType::kEvent) return OkStatus();
    // An attached rollback hook (RolloutWebhooks) allowed would roll back at once: the simulated
    // receiver never asks for a rollback, as every other hook passes.
    if (c->call.type == HookType::kRollback && c->id.rfind("hooks/", 0) == 0) {
      HookResult no;
      no.verdict = HookVerdict::kDenied;
      no.message = "ramp simulate never signals a rollback";
      no.http_status = 403;
      no.attempts = 1;
      pending_hooks_.push_back({c->id, std::move(no)});
      return OkStatus();
    }
    HookResult allowed;
    allowed.verdict = HookVerdict::kAllowed;
    allowed.message = "ramp simulate allows every hook call";
    allowed.http_status = 200;
    allowed.attempts = 1;
    pending_hooks_.push_back({c->id, std::move(allowed)});
  }
  // StartAnalysisRun and TerminateAnalysisRun: the runs live in the state already.
  return OkStatus();
}

Pod World::NewPod(const std::string& hash) {
  Pod p;
  p.id = fmt::format("{}-{}-{}", rollout_.metadata.name, hash, ++pods_created_);
  p.created = now_;
  if (deploying_) {
    p.ready_at = now_;
    return p;
  }
  std::string image;
  for (const engine::RevisionRecord& rec : state_.revisions) {
    if (rec.hash == hash && !rec.pod_template.containers.empty()) {
      image = rec.pod_template.containers[0].image;
    }
  }
  if (image.empty() && !rollout_.spec.template_.containers.empty()) {
    image = rollout_.spec.template_.containers[0].image;
  }
  if (ReadyDelay delay = scenario_.ready_after.For(image)) p.ready_at = now_ + *delay;
  return p;
}

void World::Scale(const std::string& hash, int32_t replicas) {
  desired_[hash] = replicas;
  std::vector<Pod>& pods = pods_[hash];
  while (static_cast<int32_t>(pods.size()) < replicas) pods.push_back(NewPod(hash));
  while (static_cast<int32_t>(pods.size()) > std::max(replicas, 0))
    pods.pop_back();  // newest first
}

std::optional<Time> World::NextTime(size_t next_action) const {
  std::optional<Time> next;
  auto consider = [&](Time t) {
    if (t > now_ && (!next || t < *next)) next = t;
  };
  if (wake_) consider(*wake_);
  const Duration min_ready = std::chrono::seconds(rollout_.spec.min_ready_seconds);
  for (const auto& entry : pods_) {
    for (const Pod& p : entry.second) {
      if (!p.ready_at) continue;
      consider(*p.ready_at);
      consider(*p.ready_at + min_ready);
    }
  }
  if (next_action < scenario_.actions.size()) {
    consider(kUpdateTime + scenario_.actions[next_action].at);
  }
  return next;
}

void World::ApplyAction(const Action& action) {
  engine::UserAction user;
  user.kind = action.kind;
  user.to_revision = action.to_revision.value_or(0);
  user.image = action.image;
  if (!rollout_.spec.template_.containers.empty()) {
    user.container = rollout_.spec.template_.containers[0].name;
  }
  StatusOr<engine::AppliedUserAction> applied =
      engine::ApplyUserAction(user, rollout_, state_, now_);
  if (!applied) {
    Report(kActionFailed,
           fmt::format("{}: {}", ActionKindName(action.kind), applied.error().message()),
           EventType::kWarning);
    return;
  }
  rollout_ = std::move(applied->rollout);
  state_.status = std::move(applied->status);
  for (const engine::EmitEvent& e : applied->events) Report(e.reason, e.message, e.type);
}

std::optional<SettledBy> World::Settled() const {
  const engine::RolloutStatus& s = state_.status;
  if (s.phase == "Healthy") {
    if (!s.stable_rs.empty() && s.stable_rs == s.current_pod_hash) return SettledBy::kCompleted;
    return std::nullopt;
  }
  if (s.phase == "Degraded") {
    // The conditions in the order the phase calculation reads them.
    for (const engine::RolloutCondition& c : s.conditions) {
      if (c.type == engine::condition_type::kInvalidSpec) return SettledBy::kInvalidSpec;
      if (c.reason == engine::condition_reason::kRolloutAborted) return SettledBy::kRolloutAborted;
      if (c.reason == engine::condition_reason::kProgressDeadlineExceeded) {
        return SettledBy::kProgressDeadlineExceeded;
      }
    }
    return std::nullopt;
  }
  if (s.phase != "Paused") return std::nullopt;
  for (const spec::AnalysisRun& run : state_.analysis_runs) {
    if (!spec::IsCompleted(run.status.phase)) return std::nullopt;
  }
  if (rollout_.spec.paused) return SettledBy::kPaused;  // only a person resumes a manual pause
  if (s.pause_conditions.empty()) return std::nullopt;
  for (const engine::PauseCondition& pc : s.pause_conditions) {
    if (pc.reason == engine::pause_reason::kCanaryPauseStep) {
      const spec::CanaryStep* step = nullptr;
      if (rollout_.spec.canary && s.current_step_index && *s.current_step_index >= 0 &&
          *s.current_step_index < static_cast<int32_t>(rollout_.spec.canary->steps.size())) {
        step = &rollout_.spec.canary->steps[static_cast<size_t>(*s.current_step_index)];
      }
      // A timed pause ends by itself.
      if (step == nullptr || !step->pause || step->pause->DurationSeconds().has_value()) {
        return std::nullopt;
      }
    } else if (pc.reason == engine::pause_reason::kBlueGreenPause) {
      // autoPromotionSeconds ends it when auto-promotion is enabled.
      if (!rollout_.spec.blue_green || rollout_.spec.blue_green->EffectiveAutoPromotionEnabled()) {
        return std::nullopt;
      }
    }
    // InconclusiveAnalysisRun (and any other reason): only a person moves it on.
  }
  return SettledBy::kPaused;
}

Summary World::MakeSummary(SettledBy by) const {
  const engine::RolloutStatus& s = state_.status;
  Summary out;
  out.t = now_ - kUpdateTime;
  out.phase = s.phase;
  out.message = s.message;
  out.settled_by = by;
  out.aborted = s.abort;
  out.current_step_index = s.current_step_index;
  if (s.canary.weights) out.weight = s.canary.weights->canary.weight;
  out.stable_rs = s.stable_rs;
  out.current_pod_hash = s.current_pod_hash;
  for (const spec::AnalysisRun& run : runs_) {
    AnalysisRunSummary r;
    r.name = run.metadata.name;
    r.phase = RunPhaseName(run.status.phase);
    for (const spec::Metric& metric : run.spec.metrics) {
      MetricSummary m;
      m.name = metric.name;
      m.phase = "Pending";
      for (const spec::MetricResult& result : run.status.metric_results) {
        if (result.name != metric.name) continue;
        m.phase = RunPhaseName(result.phase);
        m.measurements = result.count + result.error;
      }
      r.metrics.push_back(std::move(m));
    }
    out.analysis_runs.push_back(std::move(r));
  }
  return out;
}

void World::RecordRuns() {
  for (const spec::AnalysisRun& run : state_.analysis_runs) {
    if (deploy_runs_.count(run.metadata.name) > 0) continue;
    auto it = std::find_if(runs_.begin(), runs_.end(), [&](const spec::AnalysisRun& r) {
      return r.metadata.name == run.metadata.name;
    });
    if (it == runs_.end()) {
      runs_.push_back(run);
    } else {
      *it = run;
    }
  }
}

void World::Report(std::string reason, std::string message, EventType type) {
  if (deploying_ || !sink_) return;
  Event e;
  e.t = now_ - kUpdateTime;
  e.reason = std::move(reason);
  e.message = std::move(message);
  e.type = type;
  e.step = state_.status.current_step_index;
  if (state_.status.canary.weights) e.weight = state_.status.canary.weights->canary.weight;
  sink_(e);
}

}  // namespace

std::string_view SettledByName(SettledBy s) {
  switch (s) {
    case SettledBy::kCompleted:
      return "Completed";
    case SettledBy::kRolloutAborted:
      return "RolloutAborted";
    case SettledBy::kProgressDeadlineExceeded:
      return "ProgressDeadlineExceeded";
    case SettledBy::kInvalidSpec:
      return "InvalidSpec";
    case SettledBy::kPaused:
      return "Paused";
    case SettledBy::kUntil:
      return "Until";
  }
  return "Until";
}

StatusOr<Summary> Simulate(const SimulationInput& input, const Scenario& scenario,
                           const EventSink& on_event, const Limits& limits) {
  World world(input, scenario, on_event, limits);
  RETURN_IF_ERROR(world.Deploy());
  return world.Run();
}

}  // namespace ramp::sim
