#include "daemon/kube_sync.h"

#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "daemon/kube_workload.h"
#include "engine/status.h"

namespace ramp::daemon {
namespace {

using json = nlohmann::json;

// What a spec change is judged by: the user-owned parts of the object.
json UserParts(const json& object) {
  json out = json::object();
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (it.key() == "metadata" || it.key() == "status") continue;
    out[it.key()] = it.value();
  }
  const json& meta = object.value("metadata", json::object());
  if (meta.is_object()) {
    out["labels"] = meta.value("labels", json::object());
    out["annotations"] = meta.value("annotations", json::object());
  }
  return out;
}

bool Truthy(const json& status, const char* key) {
  auto it = status.find(key);
  return it != status.end() && it->is_boolean() && it->get<bool>();
}

class SyncImpl : public KubeSync {
 public:
  explicit SyncImpl(KubeSyncOptions o) : o_(std::move(o)) {}

  ~SyncImpl() override {
    // Stop the watches before the state they call into goes.
    workloads_.reset();
    subs_.clear();
  }

  Status Start() {
    KubeWorkloadsOptions wo;
    wo.client = o_.client;
    wo.timers = o_.timers;
    wo.clock = o_.clock;
    wo.namespace_ = o_.namespace_;
    wo.on_workload_change = [this](const std::vector<json>& rollouts) {
      for (const json& r : rollouts) {
        const json& meta = r.value("metadata", json::object());
        const ObjectRef ref{meta.value("namespace", ""), meta.value("name", "")};
        std::optional<json> latest;
        {
          std::lock_guard<std::mutex> lock(mu_);
          auto it = seen_.find(ref);
          if (it != seen_.end()) latest = it->second.doc;
        }
        if (latest) ApplyRollout(ref, *latest);
      }
    };
    wo.log = o_.log;
    auto workloads = KubeWorkloads::Start(std::move(wo));
    if (!workloads) return workloads.error();
    workloads_ = std::move(*workloads);
    for (std::string_view kind : {kKindAnalysisTemplate, kKindClusterAnalysisTemplate}) {
      const std::string k(kind);
      auto sub = o_.store->Watch(kind, [this, k](const StoreChange& c) { OnTemplate(k, c); });
      if (!sub) return sub.error();
      subs_.push_back(std::move(*sub));
    }
    auto sub = o_.store->Watch(kKindRollout, [this](const StoreChange& c) { OnRollout(c); });
    if (!sub) return sub.error();
    subs_.push_back(std::move(*sub));
    return OkStatus();
  }

 private:
  void Log(const ObjectRef& ref, const std::string& line) {
    if (o_.log) o_.log(ref.Key(), line);
  }

  void OnTemplate(const std::string& kind, const StoreChange& c) {
    const std::string key = kind + "/" + c.object.ref.Key();
    if (c.type == StoreChange::Type::kDeleted) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        seen_templates_.erase(key);
      }
      o_.daemon->DeleteTemplate(kind, c.object.ref, [this, ref = c.object.ref](Status s) {
        if (!s.ok() && s.code() != StatusCode::kNotFound) {
          Log(ref, "template deletion: " + s.message());
        }
      });
      return;
    }
    json doc = json::parse(c.object.spec_json, nullptr, false);
    {
      std::lock_guard<std::mutex> lock(mu_);
      json& seen = seen_templates_[key];
      if (seen == UserParts(doc)) return;
      seen = UserParts(doc);
    }
    ApplyDoc(c.object.ref, std::move(doc), kind);
  }

  void OnRollout(const StoreChange& c) {
    const ObjectRef ref = c.object.ref;
    if (c.type == StoreChange::Type::kDeleted) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        seen_.erase(ref);
      }
      workloads_->RolloutDeleted(ref);
      Log(ref, "deleted in the cluster: stopping its rollout");
      o_.daemon->DeleteRollout(ref, [this, ref](Status s) {
        if (!s.ok() && s.code() != StatusCode::kNotFound) Log(ref, "deletion: " + s.message());
      });
      return;
    }
    json doc = json::parse(c.object.spec_json, nullptr, false);
    json status = json::parse(c.object.status_json, nullptr, false);
    if (!doc.is_object()) return;
    if (!status.is_object()) status = json::object();
    bool spec_changed = false;
    std::optional<engine::UserAction> action;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = seen_.find(ref);
      const bool ours =
          o_.store->WrittenHere(kKindRollout, ref, c.object.version, c.object.status_json);
      if (it == seen_.end()) {
        spec_changed = true;
        seen_[ref] = Seen{UserParts(doc), status, doc};
        // First sight since ramp started: a status patch written while no controller ran is
        // found by comparing the cluster's status with the one ramp's stored state holds.
        if (!ours) {
          if (auto view = o_.daemon->GetRollout(ref); view) {
            action = ActionFromStatusPatch(engine::ToJson(view->snapshot.state.status), status);
          }
        }
      } else {
        spec_changed = it->second.user_parts != UserParts(doc);
        if (!ours) action = ActionFromStatusPatch(it->second.status, status);
        it->second.user_parts = UserParts(doc);
        it->second.status = status;
        it->second.doc = doc;
      }
    }
    json full = doc;
    full["status"] = status;
    workloads_->RolloutChanged(full);
    if (spec_changed) ApplyRollout(ref, doc);
    if (action) {
      Log(ref, fmt::format("status patched in the cluster: {}",
                           engine::UserActionKindName(action->kind)));
      o_.daemon->Act(ref, *action, [this, ref](StatusOr<std::string> r) {
        if (!r) Log(ref, "user action from the cluster: " + r.error().message());
      });
    }
  }

  // A Rollout as the daemon must see it: with its workloadRef resolved.
  void ApplyRollout(const ObjectRef& ref, const json& doc) {
    // One at a time, so applies reach the daemon in the order their documents were resolved.
    std::lock_guard<std::mutex> lock(apply_mu_);
    StatusOr<json> resolved = workloads_->Resolve(doc);
    if (!resolved) {
      if (resolved.error().code() == StatusCode::kUnavailable) {
        // The Deployments are not listed yet; on_workload_change re-applies it when they are.
        Log(ref, "waiting for its workload: " + resolved.error().message());
        return;
      }
      return Refused(ref, std::string(kKindRollout), resolved.error().message());
    }
    ApplyDoc(ref, std::move(*resolved), std::string(kKindRollout));
  }

  void Refused(const ObjectRef& ref, const std::string& kind, const std::string& why) {
    Log(ref, fmt::format("{} not applied: {}", kind, why));
    StoredEvent e;
    e.kind = kind;
    e.ref = ref;
    e.type = EventType::kWarning;
    e.reason = "InvalidSpec";
    e.message = why;
    o_.store->AppendEvent(e, [](Status) {});
  }

  void ApplyDoc(const ObjectRef& ref, json doc, const std::string& kind) {
    doc.erase("status");
    const std::string file = fmt::format("kubernetes:{}/{}", kind, ref.Key());
    o_.daemon->Apply(doc.dump(), file, [this, ref, kind](StatusOr<std::vector<Applied>> applied) {
      if (!applied) Refused(ref, kind, applied.error().message());
    });
  }

  struct Seen {
    json user_parts;
    json status;
    json doc;  // the object as last seen, without status
  };

  KubeSyncOptions o_;
  std::mutex mu_;
  std::map<ObjectRef, Seen> seen_;
  std::map<std::string, json> seen_templates_;
  std::mutex apply_mu_;
  std::unique_ptr<KubeWorkloads> workloads_;
  std::vector<std::unique_ptr<Subscription>> subs_;
};

}  // namespace

std::optional<engine::UserAction> ActionFromStatusPatch(const json& before, const json& after) {
  using engine::UserActionKind;
  if (Truthy(after, "abort") && !Truthy(before, "abort")) {
    return engine::UserAction{UserActionKind::kAbort};
  }
  if (Truthy(before, "abort") && !Truthy(after, "abort")) {
    return engine::UserAction{UserActionKind::kRetry};
  }
  if (Truthy(after, "promoteFull") && !Truthy(before, "promoteFull")) {
    return engine::UserAction{UserActionKind::kPromoteFull};
  }
  auto pauses = [](const json& s) {
    auto it = s.find("pauseConditions");
    return it != s.end() && it->is_array() ? it->size() : size_t{0};
  };
  auto index = [](const json& s) -> int64_t {
    auto it = s.find("currentStepIndex");
    return it != s.end() && it->is_number_integer() ? it->get<int64_t>() : -1;
  };
  if ((pauses(before) > 0 && pauses(after) == 0) || index(after) > index(before)) {
    return engine::UserAction{UserActionKind::kPromote};
  }
  return std::nullopt;
}

StatusOr<std::unique_ptr<KubeSync>> KubeSync::Start(KubeSyncOptions options) {
  if (options.daemon == nullptr || options.store == nullptr || options.client == nullptr ||
      options.timers == nullptr || options.clock == nullptr) {
    return Fail(
        InvalidArgumentError("KubeSync: daemon, store, client, timers and clock are required"));
  }
  auto sync = std::make_unique<SyncImpl>(std::move(options));
  RETURN_IF_ERROR(sync->Start());
  return std::unique_ptr<KubeSync>(std::move(sync));
}

}  // namespace ramp::daemon
