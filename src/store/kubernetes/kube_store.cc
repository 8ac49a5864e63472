#include "store/kubernetes/kube_store.h"

#include <algorithm>
#include <charconv>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kube/informer.h"

namespace ramp::store {
namespace {

using json = nlohmann::json;
namespace k = ramp::kube;

constexpr char kStateKey[] = "state.json";
constexpr char kStateOfLabel[] = "ramp.dev/state-of";
constexpr int kWriteAttempts = 5;
constexpr char kInstanceIdLabel[] = "argo-rollouts.argoproj.io/controller-instance-id";

const k::Resource& RolloutWebhooksResource() {
  static const k::Resource* r =
      new k::Resource{"ramp.dev", "v1alpha1", "rolloutwebhooks", "RolloutWebhooks", true};
  return *r;
}

std::optional<k::Resource> ResourceFor(std::string_view kind) {
  if (kind == kKindRollout) return k::Rollouts();
  if (kind == kKindAnalysisRun) return k::AnalysisRuns();
  if (kind == kKindAnalysisTemplate) return k::AnalysisTemplates();
  if (kind == kKindClusterAnalysisTemplate) return k::ClusterAnalysisTemplates();
  if (kind == "RolloutWebhooks") return RolloutWebhooksResource();
  return std::nullopt;
}

int64_t VersionOf(const json& object) {
  const json& meta = object.value("metadata", json::object());
  const std::string rv = meta.is_object() ? meta.value("resourceVersion", "") : "";
  int64_t v = 0;
  std::from_chars(rv.data(), rv.data() + rv.size(), v);
  return v;
}

ObjectRef RefOf(const json& object) {
  const json& meta = object.value("metadata", json::object());
  return ObjectRef{meta.value("namespace", ""), meta.value("name", "")};
}

// The object as ramp's records show it: without the status part and the server's field
// bookkeeping.
StoredObject Split(std::string_view kind, json object) {
  StoredObject out;
  out.kind = std::string(kind);
  out.ref = RefOf(object);
  out.version = VersionOf(object);
  if (object.contains("status")) {
    out.status_json = object["status"].is_object() ? object["status"].dump() : "{}";
    object.erase("status");
  }
  if (object.contains("metadata") && object["metadata"].is_object()) {
    object["metadata"].erase("managedFields");
  }
  out.spec_json = object.dump();
  return out;
}

// `current` with the user-owned parts of `doc` (labels, annotations, every top-level field but
// metadata and status) written over it.
json MergeSpec(const json& current, const json& doc) {
  json out = current;
  for (const char* key : {"labels", "annotations"}) {
    const json& meta = doc.value("metadata", json::object());
    if (meta.is_object() && meta.contains(key) && !meta[key].empty()) {
      out["metadata"][key] = meta[key];
    } else if (out.contains("metadata")) {
      out["metadata"].erase(key);
    }
  }
  std::vector<std::string> drop;
  for (auto it = out.begin(); it != out.end(); ++it) {
    const std::string& key = it.key();
    if (key == "metadata" || key == "status" || key == "apiVersion" || key == "kind") continue;
    if (!doc.contains(key)) drop.push_back(key);
  }
  for (const std::string& key : drop) out.erase(key);
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& key = it.key();
    if (key == "metadata" || key == "status" || key == "apiVersion" || key == "kind") continue;
    out[key] = it.value();
  }
  // A Rollout with a workloadRef keeps the template and selector it has in the cluster (none,
  // usually): the ones ramp applied were resolved from the workload and are never written back,
  // as Argo's RolloutSpec marshalling drops them.
  const json& spec = doc.value("spec", json::object());
  if (spec.is_object() && spec.contains("workloadRef") && out["spec"].is_object()) {
    const json& was = current.value("spec", json::object());
    for (const char* key : {"template", "selector"}) {
      if (was.is_object() && was.contains(key)) {
        out["spec"][key] = was[key];
      } else {
        out["spec"].erase(key);
      }
    }
  }
  return out;
}

class KubeStore : public KubeStateStore {
 public:
  explicit KubeStore(KubeStoreOptions o) : o_(std::move(o)) {}

  std::string_view Type() const override { return "kubernetes"; }

  bool WrittenHere(std::string_view kind, const ObjectRef& ref, int64_t version,
                   std::string_view status_json) const override {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string key = Key(kind, ref);
    if (auto it = own_.find(key); it != own_.end()) {
      if (std::find(it->second.begin(), it->second.end(), version) != it->second.end()) {
        return true;
      }
    }
    auto sent = sent_status_.find(key);
    if (sent == sent_status_.end()) return false;
    json status = json::parse(status_json, nullptr, false);
    return std::find(sent->second.begin(), sent->second.end(), status) != sent->second.end();
  }

  void Get(std::string_view kind, const ObjectRef& ref,
           StatusOrCallback<StoredObject> done) override {
    auto r = ResourceFor(kind);
    if (!r) return done(Fail(Unknown(kind)));
    const std::string k(kind);
    o_.client->Get(*r, ref.namespace_, ref.name,
                   [this, k, ref, done = std::move(done)](StatusOr<json> got) mutable {
                     if (!got) return done(Fail(got.error()));
                     StoredObject object = Split(k, std::move(*got));
                     if (k != kKindRollout) return done(std::move(object));
                     ReadState(ref, [object = std::move(object),
                                     done = std::move(done)](StatusOr<std::string> state) mutable {
                       if (!state) return done(Fail(state.error()));
                       object.status_json = *state;
                       done(std::move(object));
                     });
                   });
  }

  void List(std::string_view kind, std::string_view namespace_,
            StatusOrCallback<std::vector<StoredObject>> done) override {
    auto r = ResourceFor(kind);
    if (!r) return done(Fail(Unknown(kind)));
    const std::string k(kind);
    const std::string ns = namespace_.empty() ? o_.namespace_ : std::string(namespace_);
    o_.client->List(
        *r, ns, {}, [this, k, ns, done = std::move(done)](StatusOr<k::ListResult> listed) mutable {
          if (!listed) {
            // A cluster that does not serve the kind has none of it.
            if (listed.error().code() == StatusCode::kNotFound) {
              return done(std::vector<StoredObject>{});
            }
            return done(Fail(listed.error()));
          }
          std::vector<StoredObject> out;
          for (json& item : listed->items) {
            if (k == kKindRollout && !OwnedHere(item)) continue;
            out.push_back(Split(k, std::move(item)));
          }
          std::sort(out.begin(), out.end(),
                    [](const StoredObject& a, const StoredObject& b) { return a.ref < b.ref; });
          if (k != kKindRollout) return done(std::move(out));
          o_.client->List(k::ConfigMaps(), ns, k::ListOptions{kStateOfLabel, ""},
                          [out = std::move(out),
                           done = std::move(done)](StatusOr<k::ListResult> states) mutable {
                            if (!states) return done(Fail(states.error()));
                            std::map<ObjectRef, std::string> by_rollout;
                            for (const json& cm : states->items) {
                              const json& meta = cm.value("metadata", json::object());
                              const std::string of =
                                  meta.value("labels", json::object()).value(kStateOfLabel, "");
                              const json& data = cm.value("data", json::object());
                              if (of.empty() || !data.is_object() || !data.contains(kStateKey))
                                continue;
                              by_rollout[ObjectRef{meta.value("namespace", ""), of}] =
                                  data[kStateKey].get<std::string>();
                            }
                            for (StoredObject& o : out) {
                              auto it = by_rollout.find(o.ref);
                              o.status_json = it == by_rollout.end() ? "{}" : it->second;
                            }
                            done(std::move(out));
                          });
        });
  }

  void Put(const StoredObject& object, int64_t expected_version,
           StatusOrCallback<int64_t> done) override {
    auto r = ResourceFor(object.kind);
    if (!r) return done(Fail(Unknown(object.kind)));
    json doc = json::parse(object.spec_json, nullptr, false);
    if (!doc.is_object() || object.ref.name.empty()) {
      return done(Fail(InvalidArgumentError(
          fmt::format("{} {}: not a JSON object with a name", object.kind, object.ref.Key()))));
    }
    doc.erase("status");
    doc["metadata"]["name"] = object.ref.name;
    if (r->namespaced) doc["metadata"]["namespace"] = object.ref.namespace_;
    for (const char* server_owned :
         {"resourceVersion", "uid", "generation", "creationTimestamp", "managedFields"}) {
      doc["metadata"].erase(server_owned);
    }
    if (expected_version == kNoVersion) {
      return o_.client->Create(*r, object.ref.namespace_, std::move(doc),
                               [this, object, done = std::move(done)](StatusOr<json> made) {
                                 if (!made) return done(Fail(made.error()));
                                 RememberUid(object.kind, object.ref, *made);
                                 done(Own(object.kind, object.ref, VersionOf(*made)));
                               });
    }
    PutAttempt(*r, object, std::move(doc), expected_version, 1, std::move(done));
  }

  void PutStatus(std::string_view kind, const ObjectRef& ref, std::string status_json,
                 int64_t expected_version, StatusOrCallback<int64_t> done) override {
    auto r = ResourceFor(kind);
    if (!r) return done(Fail(Unknown(kind)));
    json status = json::parse(status_json, nullptr, false);
    if (!status.is_object()) {
      return done(Fail(InvalidArgumentError(
          fmt::format("{} {}: the status is not a JSON object", kind, ref.Key()))));
    }
    if (kind != kKindRollout) {
      return WriteStatus(*r, std::string(kind), ref, std::move(status), expected_version,
                         std::move(done));
    }
    // A Rollout: the engine state to its ConfigMap, the runs to AnalysisRun objects, Argo's
    // status to the Rollout — in that order, so the status never runs ahead of the state a
    // restarted controller resumes from.
    json argo_status = status.value("status", json::object());
    json runs = status.value("analysisRuns", json::array());
    WriteState(ref, status_json,
               [this, r = *r, ref, argo_status = std::move(argo_status), runs = std::move(runs),
                expected_version, done = std::move(done)](Status s) mutable {
                 if (!s.ok()) return done(Fail(s));
                 WriteRuns(ref, std::move(runs), 0,
                           [this, r, ref, argo_status = std::move(argo_status), expected_version,
                            done = std::move(done)](Status s) mutable {
                             if (!s.ok()) return done(Fail(s));
                             WriteStatus(r, std::string(kKindRollout), ref, std::move(argo_status),
                                         expected_version, std::move(done));
                           });
               });
  }

  void Delete(std::string_view kind, const ObjectRef& ref, int64_t expected_version,
              StatusCallback done) override {
    auto r = ResourceFor(kind);
    if (!r) return done(Unknown(kind));
    k::DeleteOptions options;
    if (expected_version > 0)
      options.precondition_resource_version = std::to_string(expected_version);
    o_.client->Delete(*r, ref.namespace_, ref.name, options, std::move(done));
  }

  void AppendEvent(const StoredEvent& event, StatusCallback done) override {
    auto r = ResourceFor(event.kind);
    if (!r) return done(Unknown(event.kind));
    json involved = {{"metadata", {{"name", event.ref.name}, {"namespace", event.ref.namespace_}}}};
    // The involved object's uid is known from this store's own reads and writes; only an object
    // it has not seen yet is read for it (one GET, not one per event).
    if (std::string uid = ClusterUid(event.kind, event.ref); !uid.empty()) {
      involved["metadata"]["uid"] = uid;
      return RecordEvent(*r, std::move(involved), event, std::move(done));
    }
    o_.client->Get(*r, event.ref.namespace_, event.ref.name,
                   [this, r = *r, involved = std::move(involved), event,
                    done = std::move(done)](StatusOr<json> got) mutable {
                     if (got) {
                       RememberUid(event.kind, event.ref, *got);
                       involved = std::move(*got);
                     }
                     RecordEvent(r, std::move(involved), event, std::move(done));
                   });
  }

  void ListEvents(std::string_view kind, const ObjectRef& ref, size_t limit,
                  StatusOrCallback<std::vector<StoredEvent>> done) override {
    const std::string k(kind);
    o_.client->List(
        k::Events(), ref.namespace_.empty() ? "default" : ref.namespace_, {},
        [k, ref, limit, done = std::move(done)](StatusOr<k::ListResult> listed) {
          if (!listed) return done(Fail(listed.error()));
          std::vector<StoredEvent> out;
          for (const json& e : listed->items) {
            const json& inv = e.value("involvedObject", json::object());
            if (inv.value("kind", "") != k || inv.value("name", "") != ref.name) continue;
            StoredEvent s;
            s.kind = k;
            s.ref = ref;
            s.type = e.value("type", "") == "Warning" ? EventType::kWarning : EventType::kNormal;
            s.reason = e.value("reason", "");
            s.message = e.value("message", "");
            std::string when = e.value("lastTimestamp", "");
            if (when.empty()) when = e.value("eventTime", "");
            if (auto t = k::ParseKubeTime(when); t) s.time = *t;
            s.sequence = VersionOf(e);
            out.push_back(std::move(s));
          }
          std::sort(out.begin(), out.end(), [](const StoredEvent& a, const StoredEvent& b) {
            return a.sequence < b.sequence;
          });
          if (limit > 0 && out.size() > limit) out.erase(out.begin(), out.end() - limit);
          done(std::move(out));
        });
  }

  // Reports each object's changes with its status part as the cluster has it (for a Rollout:
  // Argo's status, which `kubectl argo rollouts` patches — not ramp's engine state).
  StatusOr<std::unique_ptr<Subscription>> Watch(
      std::string_view kind, std::function<void(const StoreChange&)> on_change) override {
    auto r = ResourceFor(kind);
    if (!r) return Fail(Unknown(kind));
    const std::string k(kind);
    k::InformerOptions options{*r, o_.namespace_, ""};
    auto informer = k::Informer::Start(
        o_.client, o_.timers, o_.clock, options,
        [this, k, on_change = std::move(on_change)](const k::InformerEvent& e) {
          if (k == kKindRollout && !OwnedHere(e.object)) return;
          StoreChange c;
          c.type = e.type == k::InformerEvent::Type::kDeleted ? StoreChange::Type::kDeleted
                                                              : StoreChange::Type::kPut;
          c.object = Split(k, e.object);
          on_change(c);
        });
    return std::unique_ptr<Subscription>(
        std::make_unique<InformerSubscription>(std::move(informer)));
  }

 private:
  class InformerSubscription : public Subscription {
   public:
    explicit InformerSubscription(std::unique_ptr<k::Informer> i) : i_(std::move(i)) {}
    ~InformerSubscription() override { i_->Stop(); }

   private:
    std::unique_ptr<k::Informer> i_;
  };

  // Whether this controller instance serves `rollout` (KubeStoreOptions::instance_id).
  bool OwnedHere(const json& rollout) const {
    const json& meta = rollout.value("metadata", json::object());
    const json& labels = meta.is_object() ? meta.value("labels", json::object()) : json::object();
    const std::string id = labels.is_object() && labels.contains(kInstanceIdLabel) &&
                                   labels[kInstanceIdLabel].is_string()
                               ? labels[kInstanceIdLabel].get<std::string>()
                               : "";
    return id == o_.instance_id;
  }

  static std::string Key(std::string_view kind, const ObjectRef& ref) {
    return std::string(kind) + "/" + ref.Key();
  }

  static Status Unknown(std::string_view kind) {
    return InvalidArgumentError(
        fmt::format("kubernetes store: kind \"{}\" has no Kubernetes resource", kind));
  }

  std::string ClusterUid(std::string_view kind, const ObjectRef& ref) const override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = uids_.find(Key(kind, ref));
    return it == uids_.end() ? std::string() : it->second;
  }

  void RecordEvent(const k::Resource& r, json involved, const StoredEvent& event,
                   StatusCallback done) {
    k::EventRecord e;
    e.resource = r;
    e.involved = std::move(involved);
    e.type = event.type;
    e.reason = event.reason;
    e.message = event.message;
    o_.client->RecordEvent(e, std::move(done));
  }

  // Remembers the uid of an object written here.
  void RememberUid(std::string_view kind, const ObjectRef& ref, const json& object) {
    const json& meta = object.value("metadata", json::object());
    const std::string uid = meta.is_object() ? meta.value("uid", "") : "";
    if (uid.empty()) return;
    std::lock_guard<std::mutex> lock(mu_);
    uids_[Key(kind, ref)] = uid;
  }

  // Remembers a version ramp wrote; returns it.
  int64_t Own(std::string_view kind, const ObjectRef& ref, int64_t version) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& versions = own_[Key(kind, ref)];
    versions.push_back(version);
    while (versions.size() > 64) versions.pop_front();
    return version;
  }

  void PutAttempt(const k::Resource& r, StoredObject object, json doc, int64_t expected,
                  int attempt, StatusOrCallback<int64_t> done) {
    o_.client->Get(
        r, object.ref.namespace_, object.ref.name,
        [this, r, object, doc, expected, attempt,
         done = std::move(done)](StatusOr<json> current) mutable {
          if (!current) {
            if (current.error().code() == StatusCode::kNotFound && expected == kAnyVersion) {
              return o_.client->Create(r, object.ref.namespace_, std::move(doc),
                                       [this, object, done = std::move(done)](StatusOr<json> made) {
                                         if (!made) return done(Fail(made.error()));
                                         RememberUid(object.kind, object.ref, *made);
                                         done(Own(object.kind, object.ref, VersionOf(*made)));
                                       });
            }
            return done(Fail(current.error()));
          }
          RememberUid(object.kind, object.ref, *current);
          if (expected > 0 && VersionOf(*current) != expected) {
            return done(Fail(
                AbortedError(fmt::format("{} {}: version {} is not the expected {}", object.kind,
                                         object.ref.Key(), VersionOf(*current), expected))));
          }
          json merged = MergeSpec(*current, doc);
          if (merged == *current) return done(VersionOf(*current));
          merged.erase("status");
          k::KubeClient* client = o_.client;
          client->Update(r, object.ref.namespace_, std::move(merged), "",
                         [this, r, object, doc, expected, attempt,
                          done = std::move(done)](StatusOr<json> put) mutable {
                           if (put) return done(Own(object.kind, object.ref, VersionOf(*put)));
                           if (put.error().code() == StatusCode::kAborted &&
                               expected == kAnyVersion && attempt < kWriteAttempts) {
                             return PutAttempt(r, object, doc, expected, attempt + 1,
                                               std::move(done));
                           }
                           done(Fail(put.error()));
                         });
        });
  }

  void WriteStatus(const k::Resource& r, std::string kind, const ObjectRef& ref, json status,
                   int64_t expected, StatusOrCallback<int64_t> done) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto& sent = sent_status_[Key(kind, ref)];
      sent.push_back(status);
      while (sent.size() > 8) sent.pop_front();
    }
    o_.client->Modify(
        r, ref.namespace_, ref.name, "status",
        [status = std::move(status), expected, kind, ref](json& object) -> StatusOr<bool> {
          if (expected > 0 && VersionOf(object) != expected) {
            return Fail(AbortedError(fmt::format("{} {}: version {} is not the expected {}", kind,
                                                 ref.Key(), VersionOf(object), expected)));
          }
          if (object.contains("status") && object["status"] == status) return false;
          object["status"] = status;
          return true;
        },
        [this, kind, ref, done = std::move(done)](StatusOr<json> written) {
          if (!written) return done(Fail(written.error()));
          done(Own(kind, ref, VersionOf(*written)));
        });
  }

  void ReadState(const ObjectRef& ref, StatusOrCallback<std::string> done) {
    o_.client->Get(
        k::ConfigMaps(), ref.namespace_, RampStateConfigMapName(ref.name),
        [done = std::move(done)](StatusOr<json> cm) {
          if (!cm) {
            if (cm.error().code() == StatusCode::kNotFound) {
              return done(std::string("{}"));
            }
            return done(Fail(cm.error()));
          }
          const json& data = cm->value("data", json::object());
          if (!data.is_object() || !data.contains(kStateKey) || !data[kStateKey].is_string()) {
            return done(std::string("{}"));
          }
          done(data[kStateKey].get<std::string>());
        });
  }

  void WriteState(const ObjectRef& ref, std::string state, StatusCallback done) {
    const std::string name = RampStateConfigMapName(ref.name);
    bool unchanged = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = written_state_.find(ref);
      unchanged = it != written_state_.end() && it->second == state;
    }
    // (`done` runs without the lock: it goes on to write the runs and the status.)
    if (unchanged) return done(OkStatus());
    auto remember = [this, ref, state](Status s) {
      if (s.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        written_state_[ref] = state;
      }
      return s;
    };
    o_.client->Modify(
        k::ConfigMaps(), ref.namespace_, name, "",
        [state](json& cm) -> StatusOr<bool> {
          if (cm["data"].is_object() && cm["data"].value(kStateKey, "") == state) return false;
          cm["data"][kStateKey] = state;
          return true;
        },
        [this, ref, name, state, remember, done = std::move(done)](StatusOr<json> written) mutable {
          if (written) return done(remember(OkStatus()));
          if (written.error().code() != StatusCode::kNotFound) return done(written.error());
          // First write: create it, owned by the Rollout so it goes when the Rollout goes.
          o_.client->Get(
              k::Rollouts(), ref.namespace_, ref.name,
              [this, ref, name, state, remember,
               done = std::move(done)](StatusOr<json> rollout) mutable {
                if (!rollout) return done(rollout.error());
                const json& meta = rollout->value("metadata", json::object());
                json cm = {
                    {"metadata",
                     {{"name", name},
                      {"namespace", ref.namespace_},
                      {"labels",
                       {{kStateOfLabel, ref.name}, {"app.kubernetes.io/managed-by", "ramp"}}},
                      {"ownerReferences", json::array({{{"apiVersion", k::Rollouts().ApiVersion()},
                                                        {"kind", "Rollout"},
                                                        {"name", ref.name},
                                                        {"uid", meta.value("uid", "")},
                                                        {"controller", false},
                                                        {"blockOwnerDeletion", true}}})}}},
                    {"data", {{kStateKey, state}}}};
                o_.client->Create(
                    k::ConfigMaps(), ref.namespace_, std::move(cm),
                    [this, ref, state, remember, done = std::move(done)](StatusOr<json> made) {
                      // Created meanwhile by another write: update the one that exists.
                      if (!made && made.error().code() == StatusCode::kAlreadyExists) {
                        return WriteState(ref, state, std::move(done));
                      }
                      done(remember(made ? OkStatus() : made.error()));
                    });
              });
        });
  }

  // Creates or updates each AnalysisRun of a rollout's state that changed since it was last
  // written: the object (labels, annotations, spec), then its status.
  void WriteRuns(const ObjectRef& ref, json runs, size_t i, StatusCallback done) {
    for (; runs.is_array() && i < runs.size(); ++i) {
      const json& run = runs[i];
      const ObjectRef run_ref{ref.namespace_,
                              run.value("metadata", json::object()).value("name", "")};
      if (run_ref.name.empty()) continue;
      std::lock_guard<std::mutex> lock(mu_);
      auto it = written_runs_.find(run_ref);
      if (it == written_runs_.end() || it->second != run) break;
    }
    if (!runs.is_array() || i >= runs.size()) return done(OkStatus());
    json run = runs[i];
    const ObjectRef run_ref{ref.namespace_, run["metadata"].value("name", "")};
    StoredObject object;
    object.kind = std::string(kKindAnalysisRun);
    object.ref = run_ref;
    json spec_part = run;
    spec_part.erase("status");
    // Owned by its Rollout, as Argo creates runs (deleted with it by garbage collection).
    const std::string rollout_uid = ClusterUid(kKindRollout, ref);
    if (!rollout_uid.empty() && !spec_part["metadata"].contains("ownerReferences")) {
      spec_part["metadata"]["ownerReferences"] =
          json::array({{{"apiVersion", k::Rollouts().ApiVersion()},
                        {"kind", "Rollout"},
                        {"name", ref.name},
                        {"uid", rollout_uid},
                        {"controller", true},
                        {"blockOwnerDeletion", true}}});
    }
    object.spec_json = spec_part.dump();
    json status = run.value("status", json::object());
    Put(object, kAnyVersion,
        [this, ref, runs = std::move(runs), i, run_ref, run, status = std::move(status),
         done = std::move(done)](StatusOr<int64_t> put) mutable {
          if (!put) return done(put.error());
          WriteStatus(k::AnalysisRuns(), std::string(kKindAnalysisRun), run_ref, std::move(status),
                      kAnyVersion,
                      [this, ref, runs = std::move(runs), i, run_ref, run,
                       done = std::move(done)](StatusOr<int64_t> s) mutable {
                        if (!s) return done(s.error());
                        {
                          std::lock_guard<std::mutex> lock(mu_);
                          written_runs_[run_ref] = run;
                        }
                        WriteRuns(ref, std::move(runs), i + 1, std::move(done));
                      });
        });
  }

  KubeStoreOptions o_;
  mutable std::mutex mu_;
  std::map<std::string, std::deque<int64_t>> own_;
  std::map<std::string, std::deque<json>> sent_status_;
  std::map<std::string, std::string> uids_;
  std::map<ObjectRef, std::string> written_state_;
  std::map<ObjectRef, json> written_runs_;
};

}  // namespace

std::string RampStateConfigMapName(std::string_view rollout) {
  return std::string(rollout) + "-ramp-state";
}

StatusOr<std::unique_ptr<KubeStateStore>> NewKubeStateStore(const KubeStoreOptions& options) {
  if (options.client == nullptr || options.timers == nullptr || options.clock == nullptr) {
    return Fail(InvalidArgumentError("kubernetes store: client, timers and clock are required"));
  }
  return std::unique_ptr<KubeStateStore>(std::make_unique<KubeStore>(options));
}

}  // namespace ramp::store
