#include "daemon/daemon.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "analysis/expr_evaluator.h"
#include "daemon/api.h"
#include "daemon/await.h"
#include "daemon/event_tap.h"
#include "engine/state_codec.h"
#include "net/event_loop.h"
#include "runtime/provider_set.h"
#include "spec/manifest.h"
#include "spec/webhooks.h"
#include "spec/yaml_tree.h"

namespace ramp::daemon {
namespace {

using nlohmann::json;

constexpr std::string_view kDefaultNamespace = "default";
constexpr std::string_view kTrafficRouterAnnotation = "ramp.dev/traffic-router";
constexpr std::string_view kPlatformAnnotation = "ramp.dev/platform";
// ramp's own kind: Flagger-type hooks attached to a Rollout (spec/webhooks.h). Stored and kept
// like the templates, keyed by kind.
constexpr std::string_view kKindRolloutWebhooks = "RolloutWebhooks";

std::string KindOf(const json& doc) {
  return doc.is_object() && doc.contains("kind") && doc["kind"].is_string()
             ? doc["kind"].get<std::string>()
             : "";
}

// Fills metadata.namespace with "default" when absent, as kubectl does.
void DefaultNamespace(json* doc) {
  json& meta = (*doc)["metadata"];
  if (!meta.is_object()) meta = json::object();
  if (!meta.contains("namespace") || !meta["namespace"].is_string() ||
      meta["namespace"].get<std::string>().empty()) {
    meta["namespace"] = kDefaultNamespace;
  }
}

ObjectRef RefOf(const json& doc) {
  ObjectRef ref;
  const json& meta = doc.at("metadata");
  ref.name = meta.value("name", "");
  ref.namespace_ = meta.value("namespace", "");
  return ref;
}

// The documents of `text` as JSON, in order, empty ones left out.
StatusOr<std::vector<json>> Documents(std::string_view text, std::string_view file) {
  auto docs = spec::ParseDocuments(text, file);
  if (!docs) return Fail(InvalidArgumentError(docs.error().message()));
  std::vector<json> out;
  for (const spec::Document& d : *docs) {
    if (d.root.IsNull()) continue;
    out.push_back(spec::ToJson(d.root));
  }
  return out;
}

struct Entry {
  std::unique_ptr<net::Strand> strand;
  std::shared_ptr<runtime::RolloutController> controller;
  std::string router_name;
  json router_config;
  Platform* platform = nullptr;  // where its instances run (PlatformFor)
  bool deleting = false;
};

class DaemonImpl : public Daemon, public std::enable_shared_from_this<DaemonImpl> {
 public:
  explicit DaemonImpl(DaemonOptions options)
      : options_(std::move(options)),
        providers_(options_.providers, options_.secrets),
        templates_(std::make_shared<const std::vector<spec::AnalysisTemplate>>()) {}

  ~DaemonImpl() override { Shutdown(); }

  Status Load() {
    if (options_.on_event) {
      std::weak_ptr<DaemonImpl> weak = weak_from_this();
      event_store_ = NewEventTapStore(options_.store, [weak](const StoredEvent& e) {
        if (auto self = weak.lock()) self->OnEvent(e);
      });
    }
    for (std::string_view kind :
         {kKindAnalysisTemplate, kKindClusterAnalysisTemplate, kKindRolloutWebhooks}) {
      auto listed = Await<std::vector<StoredObject>>(
          [&](auto done) { options_.store->List(kind, "", std::move(done)); });
      if (!listed) return listed.error();
      for (const StoredObject& o : *listed) {
        try {
          template_docs_[TemplateKey(kind, o.ref)] = json::parse(o.spec_json);
        } catch (const json::exception& e) {
          Log("",
              fmt::format("stored {} {} does not parse, skipped: {}", kind, o.ref.Key(), e.what()));
        }
      }
    }
    RebuildTemplates();
    auto listed = Await<std::vector<StoredObject>>(
        [&](auto done) { options_.store->List(kKindRollout, "", std::move(done)); });
    if (!listed) return listed.error();
    for (const StoredObject& o : *listed) {
      spec::ManifestSet set = spec::LoadManifests(o.spec_json, "stored:" + o.ref.Key());
      if (!set.ok() || set.rollouts.size() != 1) {
        Log(o.ref.Key(), "stored rollout does not decode, skipped: " + set.diagnostics.ErrorText());
        continue;
      }
      if (set.rollouts[0].object->spec.workload_ref &&
          set.rollouts[0].object->spec.template_.empty) {
        // Its template comes from the workload it names; the Kubernetes sync applies it once
        // resolved (and the stored state is picked up then).
        Log(o.ref.Key(), "waiting for its workloadRef to be resolved");
        continue;
      }
      std::optional<engine::RolloutState> state;
      try {
        json status = json::parse(o.status_json);
        if (status.is_object() && !status.empty()) {
          auto decoded = engine::DecodeRolloutState(status);
          if (!decoded) {
            Log(o.ref.Key(),
                "stored status does not decode, skipped: " + decoded.error().message());
            continue;
          }
          state = std::move(*decoded);
        }
      } catch (const json::exception& e) {
        Log(o.ref.Key(), std::string("stored status does not parse, skipped: ") + e.what());
        continue;
      }
      json manifest = json::parse(o.spec_json, nullptr, false);
      std::lock_guard<std::mutex> lock(mu_);
      Status started =
          StartController(*set.rollouts[0].object, std::move(manifest), std::move(state));
      if (!started.ok()) Log(o.ref.Key(), "not started: " + started.message());
    }
    return OkStatus();
  }

  void Apply(std::string text, std::string file,
             StatusOrCallback<std::vector<Applied>> done) override {
    spec::ManifestSet set = spec::LoadManifests(text, file);
    if (!set.ok()) {
      return done(Fail(InvalidArgumentError(set.diagnostics.ErrorText())));
    }
    auto docs = Documents(text, file);
    if (!docs) return done(Fail(docs.error()));
    // Every document is checked before anything is applied.
    std::vector<json> rollouts;
    std::vector<json> templates;
    for (json& doc : *docs) {
      const std::string kind = KindOf(doc);
      if (kind == kKindRollout) {
        DefaultNamespace(&doc);
        rollouts.push_back(std::move(doc));
      } else if (kind == kKindAnalysisTemplate) {
        DefaultNamespace(&doc);
        templates.push_back(std::move(doc));
      } else if (kind == kKindClusterAnalysisTemplate) {
        templates.push_back(std::move(doc));
      } else if (kind == kKindRolloutWebhooks) {
        DefaultNamespace(&doc);
        auto parsed = spec::ParseRolloutWebhooks(doc);
        if (!parsed) {
          return done(Fail(InvalidArgumentError(fmt::format(
              "{}: RolloutWebhooks {}: {}", file, RefOf(doc).Key(), parsed.error().message()))));
        }
        templates.push_back(std::move(doc));
      } else {
        return done(Fail(InvalidArgumentError(fmt::format(
            "{}: kind \"{}\" cannot be applied to ramp serve (Rollout, AnalysisTemplate, "
            "ClusterAnalysisTemplate, RolloutWebhooks)",
            file, kind))));
      }
    }
    for (const json& doc : rollouts) {
      spec::ManifestSet one = spec::LoadManifests(doc.dump(), file);
      if (!one.ok() || one.rollouts.size() != 1) {
        return done(Fail(InvalidArgumentError(one.diagnostics.ErrorText())));
      }
      auto platform = PlatformFor(*one.rollouts[0].object);
      if (!platform) return done(Fail(platform.error()));
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = entries_.find(RefOf(doc));
        if (it != entries_.end() && it->second.platform != *platform) {
          return done(Fail(FailedPreconditionError(fmt::format(
              "rollout {}: its instances run on the {} platform; ramp.dev/platform cannot move "
              "it to {} (delete the rollout and apply it again)",
              RefOf(doc).Key(), it->second.platform->Type(), (*platform)->Type()))));
        }
      }
      auto router = ChooseRouter(*one.rollouts[0].object);
      if (!router) return done(Fail(router.error()));
      if (*router && !options_.routers->Contains((*router)->first)) {
        return done(Fail(InvalidArgumentError(
            fmt::format("rollout {}: traffic router \"{}\" is not available in this daemon",
                        RefOf(doc).Key(), (*router)->first))));
      }
    }
    auto results = std::make_shared<std::vector<Applied>>();
    auto pending = std::make_shared<std::vector<json>>(std::move(rollouts));
    ApplyTemplates(std::move(templates), results,
                   [self = shared_from_this(), results, pending, file,
                    done = std::move(done)](Status s) mutable {
                     if (!s.ok()) return done(Fail(s));
                     self->ApplyRollouts(pending, 0, file, results, std::move(done));
                   });
  }

  StatusOr<RolloutView> GetRollout(const ObjectRef& ref) const override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(ref);
    if (it == entries_.end()) {
      return Fail(NotFoundError(fmt::format("rollout {} not found", ref.Key())));
    }
    return RolloutView{it->second.controller->Snapshot(), {}};
  }

  std::vector<RolloutView> ListRollouts(std::string_view namespace_) const override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<RolloutView> out;
    for (const auto& [ref, entry] : entries_) {
      if (!namespace_.empty() && ref.namespace_ != namespace_) continue;
      out.push_back(RolloutView{entry.controller->Snapshot(), {}});
    }
    return out;
  }

  void Events(const ObjectRef& ref, size_t limit,
              StatusOrCallback<std::vector<StoredEvent>> done) override {
    options_.store->ListEvents(kKindRollout, ref, limit, std::move(done));
  }

  void Act(const ObjectRef& ref, engine::UserAction action,
           StatusOrCallback<std::string> done) override {
    std::shared_ptr<runtime::RolloutController> controller;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = entries_.find(ref);
      if (it == entries_.end()) {
        return done(Fail(NotFoundError(fmt::format("rollout {} not found", ref.Key()))));
      }
      controller = it->second.controller;
    }
    Log(ref.Key(), fmt::format("action {}", engine::UserActionKindName(action.kind)));
    controller->Act(std::move(action), std::move(done));
  }

  void TerminateAnalysisRun(const ObjectRef& run, StatusOrCallback<std::string> done) override {
    // A run belongs to the rollout whose state holds it (its name starts with the rollout's).
    std::shared_ptr<runtime::RolloutController> owner;
    ObjectRef owner_ref;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [ref, entry] : entries_) {
        if (ref.namespace_ != run.namespace_ || !entry.controller) continue;
        const runtime::RolloutSnapshot snap = entry.controller->Snapshot();
        for (const spec::AnalysisRun& r : snap.state.analysis_runs) {
          if (r.metadata.name == run.name) {
            owner = entry.controller;
            owner_ref = ref;
          }
        }
        if (owner) break;
      }
    }
    if (!owner) {
      return done(Fail(NotFoundError(fmt::format("analysisrun {} not found", run.Key()))));
    }
    Log(owner_ref.Key(), fmt::format("action terminate analysisrun {}", run.name));
    owner->TerminateAnalysisRun(run.name, std::move(done));
  }

  void DeleteRollout(const ObjectRef& ref, StatusCallback done) override {
    std::shared_ptr<runtime::RolloutController> controller;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = entries_.find(ref);
      if (it == entries_.end()) {
        return done(NotFoundError(fmt::format("rollout {} not found", ref.Key())));
      }
      if (it->second.deleting) {
        return done(FailedPreconditionError(fmt::format("rollout {} is being deleted", ref.Key())));
      }
      it->second.deleting = true;
      controller = it->second.controller;
    }
    Log(ref.Key(), "deleting");
    controller->Stop(true, [self = shared_from_this(), ref, done = std::move(done)](Status s) {
      std::shared_ptr<runtime::RolloutController> keep;
      {
        std::lock_guard<std::mutex> lock(self->mu_);
        auto it = self->entries_.find(ref);
        if (it != self->entries_.end()) {
          keep = it->second.controller;
          // The strand is running this callback: it is released after the callback returns.
          self->retired_.push_back(std::move(it->second.strand));
          self->entries_.erase(it);
        }
      }
      self->Notify(ref.Key());
      done(s);
    });
  }

  std::shared_ptr<const std::vector<spec::AnalysisTemplate>> AnalysisTemplates() const override {
    return std::atomic_load(&templates_);
  }

  std::vector<json> Templates() const override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<json> out;
    for (const auto& [key, doc] : template_docs_) {
      if (KindOf(doc) != kKindRolloutWebhooks) out.push_back(doc);
    }
    return out;
  }

  void DeleteTemplate(std::string_view kind, const ObjectRef& ref, StatusCallback done) override {
    const std::string key = TemplateKey(kind, ref);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (template_docs_.count(key) == 0) {
        return done(NotFoundError(fmt::format("{} {} not found", kind, ref.Key())));
      }
    }
    options_.store->Delete(kind, ref, kAnyVersion,
                           [self = shared_from_this(), key, done = std::move(done)](Status s) {
                             // Already gone from the store (deleted in the cluster) is gone.
                             if (!s.ok() && s.code() != StatusCode::kNotFound) return done(s);
                             {
                               std::lock_guard<std::mutex> lock(self->mu_);
                               self->template_docs_.erase(key);
                               self->RebuildTemplates();
                               // Hooks or templates may have left running rollouts.
                               for (auto& [ref, entry] : self->entries_) entry.controller->Kick();
                             }
                             done(OkStatus());
                           });
  }

  std::unique_ptr<Subscription> Subscribe(
      std::function<void(const std::string& key)> on_change) override {
    std::lock_guard<std::mutex> lock(watch_mu_);
    const int64_t id = ++next_watcher_;
    watchers_[id] = std::make_shared<std::function<void(const std::string&)>>(std::move(on_change));
    struct Sub : Subscription {
      std::weak_ptr<DaemonImpl> daemon;
      int64_t id = 0;
      ~Sub() override {
        if (auto d = daemon.lock()) {
          std::lock_guard<std::mutex> lock(d->watch_mu_);
          d->watchers_.erase(id);
        }
      }
    };
    auto sub = std::make_unique<Sub>();
    sub->daemon = weak_from_this();
    sub->id = id;
    return sub;
  }

  void Shutdown() override {
    std::vector<std::shared_ptr<runtime::RolloutController>> controllers;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shut_down_) return;
      shut_down_ = true;
      for (auto& [ref, entry] : entries_) controllers.push_back(entry.controller);
    }
    for (auto& c : controllers) {
      auto stopped = Await<bool>([&](auto done) {
        c->Stop(false, [done](Status s) { done(s.ok() ? StatusOr<bool>(true) : Fail(s)); });
      });
      (void)stopped;
    }
  }

 private:
  static std::string TemplateKey(std::string_view kind, const ObjectRef& ref) {
    return std::string(kind) + "/" + ref.Key();
  }

  void Log(std::string_view rollout, std::string_view line) {
    if (options_.log) options_.log(rollout, line);
  }

  // A rollout recorded an event: once the task that recorded it has published the new state,
  // on_event gets the event with the rollout as the API shows it.
  void OnEvent(const StoredEvent& event) {
    if (event.kind != kKindRollout) return;
    net::Strand* strand = nullptr;
    std::shared_ptr<runtime::RolloutController> controller;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = entries_.find(event.ref);
      if (it == entries_.end() || !it->second.strand) return;
      strand = it->second.strand.get();
      controller = it->second.controller;
    }
    strand->Post([self = shared_from_this(), controller, event] {
      const json view = RolloutViewJson(RolloutView{controller->Snapshot(), {}});
      self->options_.on_event(event, view.value("rollout", json::object()));
    });
  }

  void Notify(const std::string& key) {
    std::vector<std::shared_ptr<std::function<void(const std::string&)>>> watchers;
    {
      std::lock_guard<std::mutex> lock(watch_mu_);
      for (auto& [id, w] : watchers_) watchers.push_back(w);
    }
    for (auto& w : watchers) (*w)(key);
  }

  // Rebuilds the typed templates from their documents. Requires mu_.
  void RebuildTemplates() {
    auto typed = std::make_shared<std::vector<spec::AnalysisTemplate>>();
    auto hooks = std::make_shared<std::vector<spec::RolloutWebhooks>>();
    for (const auto& [key, doc] : template_docs_) {
      if (KindOf(doc) == kKindRolloutWebhooks) {
        auto parsed = spec::ParseRolloutWebhooks(doc);
        if (parsed) {
          hooks->push_back(std::move(*parsed));
        } else {
          Log("",
              fmt::format("stored {} does not decode, skipped: {}", key, parsed.error().message()));
        }
        continue;
      }
      spec::ManifestSet set = spec::LoadManifests(doc.dump(), key);
      for (const auto& t : set.analysis_templates) typed->push_back(*t.object);
      for (const auto& t : set.cluster_analysis_templates) typed->push_back(*t.object);
    }
    std::atomic_store(&templates_,
                      std::shared_ptr<const std::vector<spec::AnalysisTemplate>>(typed));
    std::atomic_store(&webhooks_, std::shared_ptr<const std::vector<spec::RolloutWebhooks>>(hooks));
  }

  void ApplyTemplates(std::vector<json> docs, std::shared_ptr<std::vector<Applied>> results,
                      StatusCallback done) {
    if (docs.empty()) return done(OkStatus());
    json doc = std::move(docs.back());
    docs.pop_back();
    const std::string kind = KindOf(doc);
    const ObjectRef ref = RefOf(doc);
    const std::string key = TemplateKey(kind, ref);
    std::string action = "created";
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = template_docs_.find(key);
      if (it != template_docs_.end()) action = it->second == doc ? "unchanged" : "configured";
    }
    StoredObject object;
    object.kind = kind;
    object.ref = ref;
    object.spec_json = doc.dump();
    options_.store->Put(object, kAnyVersion,
                        [self = shared_from_this(), docs = std::move(docs), doc, key, kind, ref,
                         action, results, done = std::move(done)](StatusOr<int64_t> put) mutable {
                          if (!put) return done(put.error());
                          {
                            std::lock_guard<std::mutex> lock(self->mu_);
                            self->template_docs_[key] = doc;
                            self->RebuildTemplates();
                          }
                          results->push_back(Applied{kind, ref.Key(), action});
                          self->ApplyTemplates(std::move(docs), results, std::move(done));
                        });
  }

  void ApplyRollouts(std::shared_ptr<std::vector<json>> docs, size_t i, std::string file,
                     std::shared_ptr<std::vector<Applied>> results,
                     StatusOrCallback<std::vector<Applied>> done) {
    if (i == docs->size()) {
      // Templates may have changed under running rollouts.
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [ref, entry] : entries_) entry.controller->Kick();
      return done(*results);
    }
    json doc = (*docs)[i];
    spec::ManifestSet set = spec::LoadManifests(doc.dump(), file);
    spec::Rollout rollout = *set.rollouts[0].object;
    const ObjectRef ref = RefOf(doc);
    auto next = [self = shared_from_this(), docs, i, file, results,
                 done = std::move(done)](StatusOr<Applied> r) mutable {
      if (!r) return done(Fail(r.error()));
      results->push_back(*r);
      self->ApplyRollouts(docs, i + 1, file, results, std::move(done));
    };
    std::shared_ptr<runtime::RolloutController> existing;
    std::unique_ptr<TrafficRouter> router;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = entries_.find(ref);
      if (it != entries_.end()) {
        if (it->second.deleting) {
          return next(Fail(FailedPreconditionError(fmt::format(
              "rollout {} is being deleted; apply it again when it is gone", ref.Key()))));
        }
        existing = it->second.controller;
        auto chosen = ChooseRouter(rollout);
        const std::string name = *chosen ? (*chosen)->first : "";
        const json config = *chosen ? json::parse((*chosen)->second.config_json) : json();
        if (name != it->second.router_name || config != it->second.router_config) {
          auto made = MakeRouter(rollout);
          if (!made) return next(Fail(made.error()));
          router = std::move(*made);
          it->second.router_name = name;
          it->second.router_config = config;
        }
      }
    }
    if (existing) {
      const json before = existing->Snapshot().manifest;
      const bool same = before.value("spec", json()) == doc.value("spec", json());
      existing->Update(
          rollout, doc, std::move(router), [ref, same, next = std::move(next)](Status s) mutable {
            if (!s.ok()) return next(Fail(s));
            next(Applied{std::string(kKindRollout), ref.Key(), same ? "unchanged" : "configured"});
          });
      return;
    }
    if (!options_.external_generation || !rollout.metadata.generation) {
      doc["metadata"]["generation"] = 1;
      rollout.metadata.generation = 1;
    }
    StoredObject object;
    object.kind = std::string(kKindRollout);
    object.ref = ref;
    object.spec_json = doc.dump();
    options_.store->Put(
        object, kAnyVersion,
        [self = shared_from_this(), rollout, doc, ref,
         next = std::move(next)](StatusOr<int64_t> put) mutable {
          if (!put) return next(Fail(put.error()));
          // A rollout new to this daemon may have a stored state (Kubernetes mode:
          // a Rollout whose workloadRef was resolved only now): it continues from
          // it.
          self->options_.store->Get(
              kKindRollout, ref,
              [self, rollout, doc, ref,
               next = std::move(next)](StatusOr<StoredObject> stored) mutable {
                std::optional<engine::RolloutState> state;
                if (stored) {
                  json status = json::parse(stored->status_json, nullptr, false);
                  if (status.is_object() && !status.empty()) {
                    auto decoded = engine::DecodeRolloutState(status);
                    if (decoded) state = std::move(*decoded);
                  }
                }
                Status started;
                std::shared_ptr<runtime::RolloutController> existing;
                {
                  std::lock_guard<std::mutex> lock(self->mu_);
                  // Another apply of the same new rollout may have started it meanwhile: a second
                  // controller would replace the first under its feet.
                  auto it = self->entries_.find(ref);
                  if (it != self->entries_.end()) {
                    existing = it->second.controller;
                  } else {
                    started = self->StartController(rollout, doc, std::move(state));
                  }
                }
                if (existing) {
                  return existing->Update(
                      rollout, doc, nullptr, [ref, next = std::move(next)](Status s) mutable {
                        if (!s.ok()) return next(Fail(s));
                        next(Applied{std::string(kKindRollout), ref.Key(), "configured"});
                      });
                }
                if (!started.ok()) return next(Fail(started));
                next(Applied{std::string(kKindRollout), ref.Key(), "created"});
              });
        });
  }

  // The platform a rollout's annotation ramp.dev/platform names, else the daemon's default.
  StatusOr<Platform*> PlatformFor(const spec::Rollout& rollout) const {
    auto a = rollout.metadata.annotations.find(std::string(kPlatformAnnotation));
    if (a == rollout.metadata.annotations.end() || a->second == options_.platform->Type()) {
      return options_.platform;
    }
    auto p = options_.platforms.find(a->second);
    if (p == options_.platforms.end() || p->second == nullptr) {
      std::vector<std::string> names = {std::string(options_.platform->Type())};
      for (const auto& [name, platform] : options_.platforms) {
        if (platform != nullptr && name != names[0]) names.push_back(name);
      }
      return Fail(InvalidArgumentError(fmt::format(
          "rollout {}: {}: {} is not a platform of this daemon (it runs {})", rollout.metadata.name,
          kPlatformAnnotation, a->second, fmt::join(names, ", "))));
    }
    return p->second;
  }

  // RouterFor, or the daemon's default router with every Service the strategy names.
  StatusOr<std::optional<std::pair<std::string, RouterContext>>> ChooseRouter(
      const spec::Rollout& rollout) const {
    auto chosen = RouterFor(rollout);
    if (!chosen || *chosen || options_.default_router.empty()) return chosen;
    if (rollout.spec.canary && rollout.spec.canary->traffic_routing &&
        !options_.argo_traffic_router.empty()) {
      const spec::CanaryStrategy& c = *rollout.spec.canary;
      RouterContext context;
      context.rollout = ObjectRef{rollout.metadata.namespace_, rollout.metadata.name};
      context.stable_service = c.stable_service;
      context.canary_service = c.canary_service;
      context.max_weight = c.traffic_routing->EffectiveMaxTrafficWeight();
      if (c.traffic_routing->managed_routes)
        context.managed_routes = *c.traffic_routing->managed_routes;
      context.config_json = c.traffic_routing->raw.dump();
      return std::optional<std::pair<std::string, RouterContext>>(
          std::make_pair(options_.argo_traffic_router, std::move(context)));
    }
    if (rollout.spec.canary && rollout.spec.canary->traffic_routing) {
      // trafficRouting names a router this daemon does not drive (Argo's nginx, istio, smi, …):
      // weights would silently not move, so the rollout is refused instead.
      return Fail(InvalidArgumentError(fmt::format(
          "rollout {}: spec.strategy.canary.trafficRouting names a traffic router this daemon "
          "does not drive; in Kubernetes mode a canary without trafficRouting shifts traffic by "
          "replica counts through its Services",
          rollout.metadata.name)));
    }
    RouterContext context;
    context.rollout = ObjectRef{rollout.metadata.namespace_, rollout.metadata.name};
    if (const auto& c = rollout.spec.canary) {
      context.stable_service = c->stable_service;
      context.canary_service = c->canary_service;
    }
    if (const auto& b = rollout.spec.blue_green) {
      context.active_service = b->active_service;
      context.preview_service = b->preview_service;
    }
    return std::optional<std::pair<std::string, RouterContext>>(
        std::make_pair(options_.default_router, std::move(context)));
  }

  StatusOr<std::unique_ptr<TrafficRouter>> MakeRouter(const spec::Rollout& rollout) {
    auto chosen = ChooseRouter(rollout);
    if (!chosen) return Fail(chosen.error());
    if (!*chosen) return std::unique_ptr<TrafficRouter>();
    return options_.routers->Create((*chosen)->first, (*chosen)->second);
  }

  // Requires mu_.
  Status StartController(const spec::Rollout& rollout, json manifest,
                         std::optional<engine::RolloutState> state) {
    const ObjectRef ref{rollout.metadata.namespace_, rollout.metadata.name};
    auto router = MakeRouter(rollout);
    if (!router) return router.error();
    Entry entry;
    entry.strand = options_.loop->NewStrand();
    auto chosen = ChooseRouter(rollout);
    if (chosen && *chosen) {
      entry.router_name = (*chosen)->first;
      entry.router_config = json::parse((*chosen)->second.config_json, nullptr, false);
    }
    auto platform = PlatformFor(rollout);
    if (!platform) return platform.error();
    entry.platform = *platform;
    runtime::RolloutControllerDeps deps;
    deps.platform = *platform;
    deps.store = event_store_ ? event_store_.get() : options_.store;
    deps.providers = &providers_;
    deps.hooks = options_.hooks;
    deps.clock = options_.clock;
    deps.timers = options_.loop;
    net::Strand* strand = entry.strand.get();
    deps.post = [strand](std::function<void()> task) { strand->Post(std::move(task)); };
    deps.evaluator.condition = analysis::ExprConditionEvaluator();
    deps.evaluator.secrets = options_.secrets;
    std::weak_ptr<DaemonImpl> weak = weak_from_this();
    deps.templates = [weak]() -> std::shared_ptr<const std::vector<spec::AnalysisTemplate>> {
      auto self = weak.lock();
      if (!self) return nullptr;
      return std::atomic_load(&self->templates_);
    };
    deps.webhooks = [weak]() -> std::shared_ptr<const std::vector<spec::RolloutWebhooks>> {
      auto self = weak.lock();
      if (!self) return nullptr;
      return std::atomic_load(&self->webhooks_);
    };
    deps.instance_id = options_.instance_id;
    deps.external_generation = options_.external_generation;
    deps.resync = options_.resync;
    deps.router_resync = options_.router_resync;
    deps.on_cycle = options_.on_cycle;
    const std::string key = ref.Key();
    deps.log = [weak, key](std::string_view line) {
      if (auto self = weak.lock()) self->Log(key, line);
    };
    deps.on_change = [weak, key] {
      if (auto self = weak.lock()) self->Notify(key);
    };
    entry.controller = runtime::RolloutController::Start(
        std::move(deps), rollout, std::move(manifest), std::move(*router), std::move(state));
    entries_[ref] = std::move(entry);
    return OkStatus();
  }

  DaemonOptions options_;
  std::unique_ptr<StateStore> event_store_;  // options_.store, telling OnEvent; set by Load
  runtime::ProviderSet providers_;
  mutable std::mutex mu_;
  std::map<ObjectRef, Entry> entries_;                                    // guarded by mu_
  std::vector<std::unique_ptr<net::Strand>> retired_;                     // guarded by mu_
  std::map<std::string, json> template_docs_;                             // guarded by mu_
  std::shared_ptr<const std::vector<spec::AnalysisTemplate>> templates_;  // atomic access
  std::shared_ptr<const std::vector<spec::RolloutWebhooks>> webhooks_;    // atomic access
  bool shut_down_ = false;                                                // guarded by mu_

  std::mutex watch_mu_;
  int64_t next_watcher_ = 0;  // guarded by watch_mu_
  std::map<int64_t, std::shared_ptr<std::function<void(const std::string&)>>>
      watchers_;  // guarded by watch_mu_
};

}  // namespace

StatusOr<std::optional<std::pair<std::string, RouterContext>>> RouterFor(
    const spec::Rollout& rollout) {
  using Result = std::optional<std::pair<std::string, RouterContext>>;
  const auto& canary = rollout.spec.canary;
  auto annotation = rollout.metadata.annotations.find(std::string(kTrafficRouterAnnotation));
  if (annotation != rollout.metadata.annotations.end()) {
    if (!rollout.spec.blue_green) {
      return Fail(InvalidArgumentError(fmt::format(
          "rollout {}: the annotation {} is for blue-green rollouts; a canary names its router "
          "in spec.strategy.canary.trafficRouting.plugins",
          rollout.metadata.name, kTrafficRouterAnnotation)));
    }
    // Lint has checked the value: one ramp router and its configuration.
    auto docs = spec::ParseDocuments(annotation->second, kTrafficRouterAnnotation);
    const json value = docs && docs->size() == 1 ? spec::ToJson(docs->front().root) : json();
    if (!value.is_object() || value.size() != 1) {
      return Fail(InvalidArgumentError(
          fmt::format("rollout {}: the annotation {} must map one ramp router to its "
                      "configuration",
                      rollout.metadata.name, kTrafficRouterAnnotation)));
    }
    RouterContext context;
    context.rollout = ObjectRef{rollout.metadata.namespace_, rollout.metadata.name};
    context.active_service = rollout.spec.blue_green->active_service;
    context.preview_service = rollout.spec.blue_green->preview_service;
    context.config_json = value.begin().value().dump();
    return Result(std::make_pair(value.begin().key(), std::move(context)));
  }
  if (!canary || !canary->traffic_routing) return Result();
  const spec::RolloutTrafficRouting& tr = *canary->traffic_routing;
  std::vector<std::string> names;
  for (const auto& [name, config] : tr.plugins) {
    if (name.rfind("ramp/", 0) == 0) names.push_back(name);
  }
  if (names.empty()) return Result();
  if (names.size() > 1) {
    return Fail(InvalidArgumentError(
        fmt::format("rollout {}: trafficRouting.plugins names {} ramp routers ({}); use one",
                    rollout.metadata.name, names.size(), fmt::join(names, ", "))));
  }
  RouterContext context;
  context.rollout = ObjectRef{rollout.metadata.namespace_, rollout.metadata.name};
  context.stable_service = canary->stable_service;
  context.canary_service = canary->canary_service;
  context.max_weight = tr.EffectiveMaxTrafficWeight();
  if (tr.managed_routes) context.managed_routes = *tr.managed_routes;
  context.config_json = tr.plugins.at(names[0]).dump();
  return Result(std::make_pair(names[0], std::move(context)));
}

StatusOr<std::unique_ptr<Daemon>> Daemon::Start(DaemonOptions options) {
  if (options.loop == nullptr || options.clock == nullptr || options.store == nullptr ||
      options.platform == nullptr || options.providers == nullptr || options.routers == nullptr) {
    return Fail(
        InvalidArgumentError("Daemon::Start: loop, clock, store, platform, providers and "
                             "routers are required"));
  }
  auto daemon = std::make_shared<DaemonImpl>(std::move(options));
  RETURN_IF_ERROR(daemon->Load());
  // The API holds the daemon through a unique_ptr; the shared owner keeps weak callbacks valid.
  struct Holder : Daemon {
    std::shared_ptr<DaemonImpl> impl;
    ~Holder() override { impl->Shutdown(); }
    void Apply(std::string text, std::string file,
               StatusOrCallback<std::vector<Applied>> done) override {
      impl->Apply(std::move(text), std::move(file), std::move(done));
    }
    StatusOr<RolloutView> GetRollout(const ObjectRef& ref) const override {
      return impl->GetRollout(ref);
    }
    std::vector<RolloutView> ListRollouts(std::string_view ns) const override {
      return impl->ListRollouts(ns);
    }
    void Events(const ObjectRef& ref, size_t limit,
                StatusOrCallback<std::vector<StoredEvent>> done) override {
      impl->Events(ref, limit, std::move(done));
    }
    void Act(const ObjectRef& ref, engine::UserAction action,
             StatusOrCallback<std::string> done) override {
      impl->Act(ref, std::move(action), std::move(done));
    }
    void TerminateAnalysisRun(const ObjectRef& run, StatusOrCallback<std::string> done) override {
      impl->TerminateAnalysisRun(run, std::move(done));
    }
    void DeleteRollout(const ObjectRef& ref, StatusCallback done) override {
      impl->DeleteRollout(ref, std::move(done));
    }
    std::shared_ptr<const std::vector<spec::AnalysisTemplate>> AnalysisTemplates() const override {
      return impl->AnalysisTemplates();
    }
    std::vector<json> Templates() const override { return impl->Templates(); }
    void DeleteTemplate(std::string_view kind, const ObjectRef& ref, StatusCallback done) override {
      impl->DeleteTemplate(kind, ref, std::move(done));
    }
    std::unique_ptr<Subscription> Subscribe(
        std::function<void(const std::string& key)> on_change) override {
      return impl->Subscribe(std::move(on_change));
    }
    void Shutdown() override { impl->Shutdown(); }
  };
  auto holder = std::make_unique<Holder>();
  holder->impl = std::move(daemon);
  return std::unique_ptr<Daemon>(std::move(holder));
}

}  // namespace ramp::daemon
