#include "runtime/rollout_controller.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "engine/state_codec.h"
#include "engine/status.h"
#include "runtime/provider_set.h"

namespace ramp::runtime {
namespace {

using nlohmann::json;

// Consecutive immediate cycles after which the loop yields for a moment (an engine that keeps
// changing its state is a bug; it must not spin a core).
constexpr int kImmediateCycles = 100;
constexpr Duration kRetryAfterStoreFailure = std::chrono::seconds(1);

RevisionSpec MakeRevisionSpec(const ObjectRef& ref, const spec::Rollout& rollout,
                              const engine::RevisionRecord& record,
                              const engine::ScaleRevision& scale) {
  RevisionSpec rs;
  rs.rollout = ref;
  rs.hash = record.hash;
  rs.revision = record.revision;
  rs.pod_template_json = record.pod_template.raw.dump();
  rs.labels = scale.labels;
  rs.annotations = scale.annotations;
  rs.rollout_annotations = rollout.metadata.annotations;
  rs.scale_down_at = record.scale_down_at;
  return rs;
}

class ControllerImpl : public RolloutController,
                       public std::enable_shared_from_this<ControllerImpl> {
 public:
  ControllerImpl(RolloutControllerDeps deps, spec::Rollout rollout, json manifest,
                 std::unique_ptr<TrafficRouter> router, std::optional<engine::RolloutState> state)
      : deps_(std::move(deps)),
        rollout_(std::move(rollout)),
        manifest_(std::move(manifest)),
        router_(std::move(router)) {
    ref_ = ObjectRef{rollout_.metadata.namespace_, rollout_.metadata.name};
    if (state) {
      state_ = std::move(*state);
      for (spec::AnalysisRun& run : state_.analysis_runs) {
        run = analysis::ForgetDispatched(std::move(run));
      }
    }
    Publish();
  }

  void Begin() {
    Post([](ControllerImpl* self) {
      self->reassert_router_ = true;
      self->Cycle();
    });
  }

 private:
  // Posts `task` to the executor; it runs only while this controller is alive.
  template <typename F>
  void Post(F task) {
    std::weak_ptr<ControllerImpl> weak = weak_from_this();
    deps_.post([weak, task = std::move(task)]() mutable {
      if (auto self = weak.lock()) task(self.get());
    });
  }

  // A callback for an asynchronous operation that continues on the executor.
  template <typename F>
  auto Bind(F f) {
    std::weak_ptr<ControllerImpl> weak = weak_from_this();
    auto shared_f = std::make_shared<F>(std::move(f));
    return [weak, post = deps_.post, shared_f](auto result) {
      post([weak, shared_f, result = std::move(result)]() mutable {
        if (auto self = weak.lock()) (*shared_f)(self.get(), std::move(result));
      });
    };
  }

 public:
  void Update(spec::Rollout rollout, json manifest, std::unique_ptr<TrafficRouter> router,
              StatusCallback done) override {
    auto shared_router = std::shared_ptr<TrafficRouter>(std::move(router));
    Post([rollout = std::move(rollout), manifest = std::move(manifest), shared_router,
          done = std::move(done)](ControllerImpl* self) mutable {
      if (self->stopping_) return done(FailedPreconditionError("the rollout is being deleted"));
      // A changed spec gets the next generation, as the API server gives one.
      const bool spec_changed =
          manifest.value("spec", json::object()) != self->manifest_.value("spec", json::object());
      const int64_t generation = self->rollout_.metadata.generation.value_or(1);
      if (!self->deps_.external_generation || !rollout.metadata.generation) {
        rollout.metadata.generation = spec_changed ? generation + 1 : generation;
      }
      manifest["metadata"]["generation"] = *rollout.metadata.generation;
      StoredObject object;
      object.kind = std::string(kKindRollout);
      object.ref = self->ref_;
      object.spec_json = manifest.dump();
      self->deps_.store->Put(
          object, kAnyVersion,
          self->Bind([rollout = std::move(rollout), manifest = std::move(manifest), shared_router,
                      done = std::move(done)](ControllerImpl* self, StatusOr<int64_t> put) mutable {
            if (!put) return done(put.error());
            self->rollout_ = std::move(rollout);
            self->manifest_ = std::move(manifest);
            if (shared_router) {
              self->router_ = shared_router;
              self->reassert_router_ = true;
              self->sent_endpoints_.clear();
            }
            self->Publish();
            done(OkStatus());
            self->Kick();
          }));
    });
  }

  void Act(engine::UserAction action, StatusOrCallback<std::string> done) override {
    Post([action = std::move(action), done = std::move(done)](ControllerImpl* self) mutable {
      if (self->stopping_) {
        return done(Fail(FailedPreconditionError("the rollout is being deleted")));
      }
      StatusOr<engine::AppliedUserAction> applied =
          engine::ApplyUserAction(action, self->rollout_, self->state_, self->deps_.clock->Now());
      if (!applied) return done(Fail(applied.error()));
      if (!applied->changed) return done(applied->message);
      const bool spec_changed =
          applied->rollout.metadata.generation != self->rollout_.metadata.generation;
      auto finish = [applied = *applied, spec_changed, done = std::move(done)](
                        ControllerImpl* self, Status written) mutable {
        if (!written.ok()) return done(Fail(written));
        if (spec_changed) {
          self->manifest_ = PatchManifest(std::move(self->manifest_), applied.rollout);
          self->rollout_ = std::move(applied.rollout);
        } else {
          self->state_.status = std::move(applied.status);
        }
        for (const engine::EmitEvent& e : applied.events) self->RecordEvent(e);
        self->Publish();
        done(applied.message);
        self->Kick();
      };
      if (spec_changed) {
        StoredObject object;
        object.kind = std::string(kKindRollout);
        object.ref = self->ref_;
        object.spec_json = PatchManifest(self->manifest_, applied->rollout).dump();
        self->deps_.store->Put(object, kAnyVersion,
                               self->Bind([finish = std::move(finish)](
                                              ControllerImpl* self, StatusOr<int64_t> r) mutable {
                                 finish(self, r ? OkStatus() : r.error());
                               }));
      } else {
        engine::RolloutState next = self->state_;
        next.status = applied->status;
        self->WriteStatus(
            engine::EncodeRolloutState(next).dump(),
            [self, finish = std::move(finish)](Status s) mutable { finish(self, std::move(s)); });
      }
    });
  }

  void TerminateAnalysisRun(std::string name, StatusOrCallback<std::string> done) override {
    Post([name = std::move(name), done = std::move(done)](ControllerImpl* self) mutable {
      if (self->stopping_) {
        return done(Fail(FailedPreconditionError("the rollout is being deleted")));
      }
      auto& runs = self->state_.analysis_runs;
      auto run = std::find_if(runs.begin(), runs.end(),
                              [&](const spec::AnalysisRun& r) { return r.metadata.name == name; });
      if (run == runs.end()) {
        return done(Fail(NotFoundError(
            fmt::format("analysisrun {} not found in rollout {}", name, self->ref_.Key()))));
      }
      if (run->spec.terminate) return done(std::string("terminated"));
      // Kept in the state at once, so a cycle that writes before this write completes stores
      // it too; the answer waits for the store.
      run->spec.terminate = true;
      self->WriteStatus(engine::EncodeRolloutState(self->state_).dump(),
                        [self, done = std::move(done)](Status s) mutable {
                          if (!s.ok()) return done(Fail(s));
                          self->Publish();
                          done(std::string("terminated"));
                          self->Kick();
                        });
    });
  }

  void Kick() override {
    Post([](ControllerImpl* self) {
      if (self->cycle_running_) {
        self->again_ = true;
        return;
      }
      self->Cycle();
    });
  }

  RolloutSnapshot Snapshot() const override {
    std::lock_guard<std::mutex> lock(snapshot_mu_);
    return snapshot_;
  }

  void Stop(bool remove, StatusCallback done) override {
    Post([remove, done = std::move(done)](ControllerImpl* self) mutable {
      self->stopping_ = true;
      self->CancelTimer();
      {
        std::lock_guard<std::mutex> lock(self->snapshot_mu_);
        self->snapshot_.deleting = remove;
      }
      if (!remove) {
        return done(OkStatus());
      }
      self->Remove(std::move(done));
    });
  }

 private:
  TrafficRouter* Router() { return router_.get(); }

  void Log(std::string_view line) {
    if (deps_.log) deps_.log(line);
  }

  void CancelTimer() {
    if (timer_) deps_.timers->Cancel(*timer_);
    timer_.reset();
  }

  // Makes the current state visible to Snapshot and tells watchers when it changed.
  void Publish() {
    json encoded = engine::EncodeRolloutState(state_);
    bool changed = false;
    {
      std::lock_guard<std::mutex> lock(snapshot_mu_);
      changed = encoded != published_state_ || listed_ != snapshot_.revisions ||
                manifest_ != snapshot_.manifest;
      snapshot_.rollout = rollout_;
      snapshot_.manifest = manifest_;
      snapshot_.state = state_;
      snapshot_.revisions = listed_;
      snapshot_.reconciles = reconciles_;
      published_state_ = std::move(encoded);
    }
    if (changed && deps_.on_change) deps_.on_change();
  }

  void RecordEvent(const engine::EmitEvent& e) {
    StoredEvent event;
    event.kind = std::string(kKindRollout);
    event.ref = ref_;
    event.type = e.type;
    event.reason = e.reason;
    event.message = e.message;
    event.time = deps_.clock->Now();
    Log(fmt::format("event {} {}: {}", EventTypeName(e.type), e.reason, e.message));
    deps_.store->AppendEvent(event, [](Status) {});
  }

  // ---- the loop ----

  void Cycle() {
    if (stopping_) return;
    cycle_running_ = true;
    cycle_started_ = deps_.clock->Now();
    again_ = false;
    CancelTimer();
    deps_.platform->ListRevisions(
        ref_, Bind([](ControllerImpl* self, StatusOr<std::vector<RevisionStatus>> listed) {
          self->OnListed(std::move(listed));
        }));
  }

  void OnListed(StatusOr<std::vector<RevisionStatus>> listed) {
    if (stopping_) return EndCycle(false);
    engine::Observed observed;
    const bool listed_ok = listed.has_value();
    if (listed) {
      listed_ = *listed;
      observed.revisions = std::move(*listed);
    } else {
      Log(fmt::format("cannot list instances: {}", listed.error().message()));
    }
    observed.measurements = std::move(measurements_);
    observed.hooks = std::move(hooks_);
    observed.weight = std::move(weight_);
    observed.failures = std::move(failures_);
    measurements_.clear();
    hooks_.clear();
    weight_.reset();
    failures_.clear();
    const bool answered = !observed.measurements.empty() || !observed.hooks.empty() ||
                          observed.weight.has_value() || !observed.failures.empty();

    std::shared_ptr<const std::vector<spec::AnalysisTemplate>> templates =
        deps_.templates ? deps_.templates() : nullptr;
    static const std::vector<spec::AnalysisTemplate> kNone;
    engine::ReconcileContext context;
    context.rollout = &rollout_;
    context.templates = templates ? templates.get() : &kNone;
    context.evaluator = deps_.evaluator;
    context.instance_id = deps_.instance_id;
    std::vector<spec::AttachedWebhook> attached;
    if (deps_.webhooks) {
      if (auto all = deps_.webhooks(); all && !all->empty()) {
        attached = spec::AttachedWebhooksFor(rollout_, *all);
      }
    }
    context.webhooks = &attached;
    const Time now = deps_.clock->Now();
    engine::ReconcileResult result = engine::Reconcile(context, state_, observed, now);
    ++reconciles_;
    wake_at_ = result.wake_at;

    json before = engine::EncodeRolloutState(state_);
    json after = engine::EncodeRolloutState(result.state);
    const bool changed = before != after || !stored_once_;
    std::vector<engine::Intent> intents = std::move(result.intents);
    std::vector<engine::Intent> pre;
    if (listed_ok) AddEndpointChanges();
    if (deps_.router_resync > Duration::zero() &&
        (!last_reassert_ || now - *last_reassert_ >= deps_.router_resync)) {
      reassert_router_ = true;
    }
    if (reassert_router_) {
      AddRouterReassertion(result.state, &pre);
      reassert_router_ = false;
      last_reassert_ = now;
    }
    AddScaleDownDeadlines(state_, result.state, intents, &pre);
    engine::RolloutState previous = std::move(state_);
    state_ = std::move(result.state);
    Publish();
    auto run = [this, changed, answered, pre = std::move(pre), intents = std::move(intents),
                previous = std::move(previous)](Status written) mutable {
      if (!written.ok()) {
        // Nothing runs ahead of the stored status: the cycle is undone and tried again.
        Log(fmt::format("cannot store the status: {} (retrying in 1s)", written.message()));
        state_ = std::move(previous);
        Publish();
        return EndCycle(true, kRetryAfterStoreFailure);
      }
      stored_once_ = true;
      for (engine::Intent& i : intents) pre.push_back(std::move(i));
      batch_ = std::move(pre);
      batch_index_ = 0;
      batch_failed_ = false;
      batch_changed_ = changed || answered;
      SendEndpoints();
    };
    if (!changed) return run(OkStatus());
    WriteStatus(after.dump(), std::move(run));
  }

  // Writes the status part of the stored rollout; a rollout missing from the store (never
  // stored, or removed behind the daemon's back) is stored again with its manifest first.
  // `done` runs on the executor.
  void WriteStatus(std::string status_json, std::function<void(Status)> done) {
    deps_.store->PutStatus(
        kKindRollout, ref_, status_json, kAnyVersion,
        Bind([status_json, done = std::move(done)](ControllerImpl* self,
                                                   StatusOr<int64_t> r) mutable {
          if (r || r.error().code() != StatusCode::kNotFound) {
            return done(r ? OkStatus() : r.error());
          }
          StoredObject object;
          object.kind = std::string(kKindRollout);
          object.ref = self->ref_;
          object.spec_json = self->manifest_.dump();
          object.status_json = status_json;
          self->deps_.store->Put(
              object, kAnyVersion,
              self->Bind([status_json, done = std::move(done)](ControllerImpl* self,
                                                               StatusOr<int64_t> put) mutable {
                if (!put) return done(put.error());
                self->deps_.store->PutStatus(
                    kKindRollout, self->ref_, status_json, kAnyVersion,
                    self->Bind([done = std::move(done)](ControllerImpl*, StatusOr<int64_t> r) {
                      done(r ? OkStatus() : r.error());
                    }));
              }));
        }));
  }

  // Queues the endpoints of each revision whose ready instances changed since they were last
  // sent; they go to the router before the batch's intents.
  void AddEndpointChanges() {
    if (Router() == nullptr) return;
    std::map<std::string, std::vector<std::string>> now;
    for (const RevisionStatus& r : listed_) {
      std::vector<std::string>& addresses = now[r.hash];
      for (const InstanceStatus& i : r.instances) {
        if (i.state == InstanceState::kReady && !i.address.empty()) {
          addresses.push_back(i.address);
        }
      }
      std::sort(addresses.begin(), addresses.end());
    }
    for (const auto& [hash, addresses] : sent_endpoints_) {
      if (now.count(hash) == 0) now[hash] = {};
    }
    for (auto& [hash, addresses] : now) {
      auto it = sent_endpoints_.find(hash);
      if (it != sent_endpoints_.end() && it->second == addresses) continue;
      endpoint_updates_.push_back({hash, addresses});
    }
  }

  // A revision whose scale-down deadline changed without a change of its size: a platform that
  // records the deadline with the revision (Kubernetes: Argo's scale-down-deadline annotation on
  // the ReplicaSet) is told again at the size it has.
  void AddScaleDownDeadlines(const engine::RolloutState& before, const engine::RolloutState& after,
                             const std::vector<engine::Intent>& intents,
                             std::vector<engine::Intent>* out) {
    if (!deps_.platform->RecordsScaleDownDeadlines()) return;
    for (const engine::RevisionRecord& r : after.revisions) {
      std::optional<Time> was;
      for (const engine::RevisionRecord& b : before.revisions) {
        if (b.hash == r.hash) was = b.scale_down_at;
      }
      if (was == r.scale_down_at) continue;
      bool scaled = false;
      for (const engine::Intent& i : intents) {
        if (const auto* s = std::get_if<engine::ScaleRevision>(&i); s && s->hash == r.hash) {
          scaled = true;
        }
      }
      if (scaled) continue;
      for (const RevisionStatus& l : listed_) {
        if (l.hash == r.hash)
          out->push_back(engine::ScaleRevision{r.hash, l.desired_replicas, {}, {}});
      }
    }
  }

  // After a restart or a new router: where each role points and the weight, told again.
  void AddRouterReassertion(const engine::RolloutState& state, std::vector<engine::Intent>* out) {
    if (Router() == nullptr) return;
    const engine::RolloutStatus& s = state.status;
    auto sw = [&](ServiceRole role, const std::string& hash) {
      if (!hash.empty()) out->push_back(engine::SwitchService{role, hash});
    };
    if (rollout_.spec.blue_green) {
      sw(ServiceRole::kActive, s.blue_green.active_selector);
      sw(ServiceRole::kPreview, s.blue_green.preview_selector);
      return;
    }
    sw(ServiceRole::kStable, state.stable_selector.empty() ? s.stable_rs : state.stable_selector);
    sw(ServiceRole::kCanary, state.canary_selector);
    if (s.canary.weights) {
      engine::SetWeight w;
      w.weight = s.canary.weights->canary.weight;
      for (const auto& d : s.canary.weights->additional) {
        w.additional.push_back(WeightDestination{d.service_name, d.pod_template_hash, d.weight});
      }
      out->push_back(std::move(w));
    }
  }

  void RunNext() {
    if (stopping_) return EndCycle(false);
    while (batch_index_ < batch_.size()) {
      engine::Intent& intent = batch_[batch_index_++];
      if (const auto* e = std::get_if<engine::EmitEvent>(&intent)) {
        RecordEvent(*e);
        continue;
      }
      if (batch_failed_) continue;
      if (Start(intent)) return;  // continues in Done()
    }
    const bool again = batch_changed_ || again_ || !measurements_.empty() || !hooks_.empty() ||
                       weight_.has_value() || !failures_.empty();
    EndCycle(again);
  }

  // Sends the queued endpoint changes one after the other, then runs the batch.
  void SendEndpoints() {
    if (stopping_) return EndCycle(false);
    if (endpoint_updates_.empty() || Router() == nullptr) {
      endpoint_updates_.clear();
      return RunNext();
    }
    auto [hash, addresses] = std::move(endpoint_updates_.front());
    endpoint_updates_.erase(endpoint_updates_.begin());
    Router()->SetRevisionEndpoints(
        hash, addresses, Bind([hash, addresses](ControllerImpl* self, Status s) {
          if (s.ok()) {
            if (addresses.empty()) {
              self->sent_endpoints_.erase(hash);
            } else {
              self->sent_endpoints_[hash] = addresses;
            }
          } else {
            self->Log(fmt::format("router: cannot set the instances of revision {}: {}", hash,
                                  s.message()));
          }
          self->SendEndpoints();
        }));
  }

  void Done(const engine::Intent& intent, Status s) {
    if (!s.ok()) {
      Log(fmt::format("{} failed: {}", engine::IntentName(intent), s.message()));
      failures_.push_back(engine::IntentFailure{intent, std::move(s)});
      batch_failed_ = true;
    }
    RunNext();
  }

  // Starts one intent; true when it continues asynchronously (Done runs later).
  bool Start(const engine::Intent& intent) {
    auto done =
        Bind([intent](ControllerImpl* self, Status s) { self->Done(intent, std::move(s)); });
    TrafficRouter* router = Router();
    auto no_router = [&] {
      done(UnimplementedError(fmt::format(
          "{}: the rollout has no traffic router (trafficRouting.plugins[\"ramp/proxy\"] …)",
          engine::IntentName(intent))));
      return true;
    };
    if (const auto* s = std::get_if<engine::ScaleRevision>(&intent)) {
      const engine::RevisionRecord* record = nullptr;
      for (const engine::RevisionRecord& r : state_.revisions) {
        if (r.hash == s->hash) record = &r;
      }
      if (record != nullptr) {
        deps_.platform->EnsureRevision(MakeRevisionSpec(ref_, rollout_, *record, *s), s->replicas,
                                       done);
      } else {
        deps_.platform->ScaleRevision(ref_, s->hash, s->replicas, done);
      }
      return true;
    }
    if (const auto* d = std::get_if<engine::DeleteRevision>(&intent)) {
      deps_.platform->DeleteRevision(ref_, d->hash, done);
      return true;
    }
    if (const auto* r = std::get_if<engine::RestartInstance>(&intent)) {
      deps_.platform->RestartInstance(ref_, r->hash, r->instance, done);
      return true;
    }
    if (const auto* w = std::get_if<engine::SetWeight>(&intent)) {
      if (router == nullptr) return no_router();
      router->SetWeight(w->weight, w->additional, done);
      return true;
    }
    if (const auto* v = std::get_if<engine::VerifyWeight>(&intent)) {
      if (router == nullptr) return no_router();
      router->VerifyWeight(
          v->weight, v->additional,
          Bind([weight = v->weight, intent](ControllerImpl* self, StatusOr<WeightCheck> check) {
            if (check) {
              self->weight_ = engine::WeightObservation{weight, *check};
              self->Done(intent, OkStatus());
            } else {
              self->Done(intent, check.error());
            }
          }));
      return true;
    }
    if (const auto* h = std::get_if<engine::SetHeaderRoute>(&intent)) {
      if (router == nullptr) return no_router();
      router->SetHeaderRoute(h->route, done);
      return true;
    }
    if (const auto* m = std::get_if<engine::SetMirrorRoute>(&intent)) {
      if (router == nullptr) return no_router();
      router->SetMirrorRoute(m->route, done);
      return true;
    }
    if (std::holds_alternative<engine::RemoveManagedRoutes>(intent)) {
      if (router == nullptr) return no_router();
      router->RemoveManagedRoutes(done);
      return true;
    }
    if (const auto* sw = std::get_if<engine::SwitchService>(&intent)) {
      if (router == nullptr) return false;  // nothing selects instances off a router
      router->SwitchService(sw->role, sw->hash, done);
      return true;
    }
    if (const auto* m = std::get_if<engine::Measure>(&intent)) {
      deps_.providers->Dispatch(
          *m, deps_.clock->Now(),
          Bind([run = m->run, metric = m->metric](ControllerImpl* self, MeasurementUpdate u) {
            self->measurements_.push_back({run, metric, std::move(u)});
            self->Kick();
          }));
      return false;
    }
    if (const auto* c = std::get_if<engine::CallHook>(&intent)) {
      // The engine reads no answer to an event hook: one would only wake the rollout, whose
      // next cycle may record another event, and so on.
      const bool event = c->call.type == HookType::kEvent;
      auto answer = Bind([id = c->id, event](ControllerImpl* self, HookResult r) {
        if (event) {
          if (r.verdict != HookVerdict::kAllowed) {
            self->Log(fmt::format("event webhook {}: {}", id, r.message));
          }
          return;
        }
        self->hooks_.push_back({id, std::move(r)});
        self->Kick();
      });
      if (deps_.hooks == nullptr) {
        HookResult r;
        r.verdict = HookVerdict::kError;
        r.message = "this daemon has no webhook client";
        answer(std::move(r));
      } else {
        deps_.hooks->Call(c->call, answer);
      }
      return false;
    }
    // StartAnalysisRun, TerminateAnalysisRun: the runs live in the stored state already.
    return false;
  }

  void EndCycle(bool again, std::optional<Duration> delay = std::nullopt) {
    cycle_running_ = false;
    if (deps_.on_cycle) deps_.on_cycle(deps_.clock->Now() - cycle_started_);
    if (stopping_) return;
    if (again && !delay) {
      if (++immediate_cycles_ < kImmediateCycles) {
        Post([](ControllerImpl* self) {
          if (!self->cycle_running_) self->Cycle();
        });
        return;
      }
      delay = std::chrono::milliseconds(100);
    }
    immediate_cycles_ = 0;
    const Time now = deps_.clock->Now();
    Time when = now + (delay ? *delay : deps_.resync);
    if (!delay && wake_at_ && *wake_at_ < when) when = std::max(*wake_at_, now);
    std::weak_ptr<ControllerImpl> weak = weak_from_this();
    timer_ = deps_.timers->ScheduleAt(when, [weak] {
      if (auto self = weak.lock()) self->Kick();
    });
  }

  // ---- delete ----

  void Remove(StatusCallback done) {
    std::set<std::string> hashes;
    for (const engine::RevisionRecord& r : state_.revisions) hashes.insert(r.hash);
    for (const RevisionStatus& r : listed_) hashes.insert(r.hash);
    auto remaining = std::make_shared<std::vector<std::string>>(hashes.begin(), hashes.end());
    auto errors = std::make_shared<std::vector<std::string>>();
    auto finish = [this, errors, done = std::move(done)]() mutable {
      deps_.store->Delete(
          kKindRollout, ref_, kAnyVersion,
          Bind([errors, done = std::move(done)](ControllerImpl* self, Status s) mutable {
            if (!s.ok() && s.code() != StatusCode::kNotFound) errors->push_back(s.message());
            if (errors->empty()) return done(OkStatus());
            std::string all;
            for (const std::string& e : *errors) all += (all.empty() ? "" : "; ") + e;
            done(InternalError("deleting rollout " + self->ref_.Key() + ": " + all));
          }));
    };
    auto step = std::make_shared<std::function<void()>>();
    *step = [this, remaining, errors, finish = std::move(finish), step]() mutable {
      if (remaining->empty()) {
        TrafficRouter* router = Router();
        if (router == nullptr || !state_.managed_routes) return finish();
        router->RemoveManagedRoutes(Bind([finish, errors](ControllerImpl*, Status s) mutable {
          if (!s.ok()) errors->push_back("removing managed routes: " + s.message());
          finish();
        }));
        return;
      }
      const std::string hash = remaining->back();
      remaining->pop_back();
      deps_.platform->DeleteRevision(ref_, hash,
                                     Bind([hash, errors, step](ControllerImpl*, Status s) {
                                       if (!s.ok())
                                         errors->push_back("revision " + hash + ": " + s.message());
                                       (*step)();
                                     }));
    };
    (*step)();
  }

  RolloutControllerDeps deps_;
  ObjectRef ref_;
  spec::Rollout rollout_;
  json manifest_;
  std::shared_ptr<TrafficRouter> router_;
  engine::RolloutState state_;
  bool stored_once_ = false;
  bool reassert_router_ = false;
  std::optional<Time> last_reassert_;  // when the router was last told its routes again

  // Observations that arrived since the last reconcile.
  std::vector<engine::MeasurementObservation> measurements_;
  std::vector<engine::HookObservation> hooks_;
  std::optional<engine::WeightObservation> weight_;
  std::vector<engine::IntentFailure> failures_;

  // The current batch.
  std::vector<engine::Intent> batch_;
  size_t batch_index_ = 0;
  bool batch_failed_ = false;
  bool batch_changed_ = false;
  std::vector<std::pair<std::string, std::vector<std::string>>> endpoint_updates_;
  std::map<std::string, std::vector<std::string>> sent_endpoints_;

  std::vector<RevisionStatus> listed_;
  std::optional<Time> wake_at_;
  std::optional<Timers::TimerId> timer_;
  bool cycle_running_ = false;
  Time cycle_started_;
  bool again_ = false;
  bool stopping_ = false;
  int immediate_cycles_ = 0;
  int64_t reconciles_ = 0;

  mutable std::mutex snapshot_mu_;
  RolloutSnapshot snapshot_;  // guarded by snapshot_mu_
  json published_state_;      // guarded by snapshot_mu_
};

}  // namespace

std::shared_ptr<RolloutController> RolloutController::Start(
    RolloutControllerDeps deps, spec::Rollout rollout, nlohmann::json manifest,
    std::unique_ptr<TrafficRouter> router, std::optional<engine::RolloutState> restored) {
  auto controller =
      std::make_shared<ControllerImpl>(std::move(deps), std::move(rollout), std::move(manifest),
                                       std::move(router), std::move(restored));
  controller->Begin();
  return controller;
}

nlohmann::json PatchManifest(nlohmann::json manifest, const spec::Rollout& after) {
  if (!manifest.is_object()) manifest = json::object();
  json& spec = manifest["spec"];
  if (!spec.is_object()) spec = json::object();
  if (after.spec.paused) {
    spec["paused"] = true;
  } else {
    spec.erase("paused");
  }
  if (after.spec.restart_at.empty()) {
    spec.erase("restartAt");
  } else {
    spec["restartAt"] = after.spec.restart_at;
  }
  if (!after.spec.template_.empty) spec["template"] = after.spec.template_.raw;
  if (after.metadata.generation) manifest["metadata"]["generation"] = *after.metadata.generation;
  return manifest;
}

}  // namespace ramp::runtime
