#include "platform/kubernetes/kube_platform.h"

#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kube/informer.h"
#include "kube/json_path.h"
#include "platform/kubernetes/kube_objects.h"

namespace ramp::platform {
namespace {

using json = nlohmann::json;
namespace k = ramp::kube;

constexpr char kHashLabel[] = "rollouts-pod-template-hash";
// Lets ramp roll a Rollout whose current ReplicaSet another controller created under another
// hash (see CheckNoForeignTwin).
constexpr char kReplaceAnnotation[] = "ramp.dev/replace-replicasets";

std::string Str(const json& o, std::initializer_list<const char*> path) {
  return k::JsonString(o, path);
}

// The Rollout that controls `object` (an ownerReference of kind Rollout), or "".
std::string OwningRollout(const json& object) {
  const json& meta = object.value("metadata", json::object());
  auto refs = meta.find("ownerReferences");
  if (refs == meta.end() || !refs->is_array()) return "";
  for (const json& r : *refs) {
    if (r.is_object() && r.value("kind", "") == "Rollout" && r.value("controller", false)) {
      return r.value("name", "");
    }
  }
  return "";
}

class KubePlatform : public Platform {
 public:
  explicit KubePlatform(KubePlatformOptions o) : o_(std::move(o)) {}

  ~KubePlatform() override {
    // Stop the informers before the watchers list goes away.
    pods_.reset();
    replica_sets_.reset();
    rollouts_.reset();
  }

  void Start() {
    auto changed = [this](const k::InformerEvent& e) { OnChange(e); };
    k::InformerOptions ro{k::Rollouts(), o_.namespace_, ""};
    rollouts_ = k::Informer::Start(o_.client, o_.timers, o_.clock, ro, [](const auto&) {});
    k::InformerOptions rs{k::ReplicaSets(), o_.namespace_, kHashLabel};
    replica_sets_ = k::Informer::Start(o_.client, o_.timers, o_.clock, rs, changed);
    k::InformerOptions po{k::Pods(), o_.namespace_, kHashLabel};
    pods_ = k::Informer::Start(o_.client, o_.timers, o_.clock, po, changed);
  }

  std::string_view Type() const override { return "kubernetes"; }
  bool RecordsScaleDownDeadlines() const override { return true; }

  void EnsureRevision(const RevisionSpec& revision, int32_t replicas,
                      StatusCallback done) override {
    const std::string ns = revision.rollout.namespace_;
    const std::string name = RsName(revision.rollout, revision.hash);
    ReadRollout(revision.rollout, [this, revision, replicas, ns, name,
                                   done = std::move(done)](StatusOr<json> rollout) {
      if (!rollout) {
        return done(Status(rollout.error().code(),
                           fmt::format("kubernetes: rollout {}: {}", revision.rollout.Key(),
                                       rollout.error().message())));
      }
      WithSelector(std::move(*rollout), [this, revision, replicas, ns, name,
                                         done = std::move(done)](StatusOr<json> rollout) {
        if (!rollout) return done(rollout.error());
        o_.client->Get(
            k::ReplicaSets(), ns, name,
            [this, revision, replicas, ns, name, rollout = *rollout,
             done = std::move(done)](StatusOr<json> existing) mutable {
              if (existing) return Adopt(revision, replicas, rollout, *existing, done);
              if (existing.error().code() != StatusCode::kNotFound) {
                return done(existing.error());
              }
              if (Status s = CheckNoForeignTwin(revision, rollout); !s.ok()) return done(s);
              StatusOr<json> rs = kube_objects::BuildReplicaSet(revision, replicas, rollout);
              if (!rs) return done(rs.error());
              o_.client->Create(
                  k::ReplicaSets(), ns, std::move(*rs),
                  [this, revision, replicas, done = std::move(done)](StatusOr<json> made) {
                    if (made) Remember(*made);
                    if (made || made.error().code() != StatusCode::kAlreadyExists) {
                      return done(made ? OkStatus() : made.error());
                    }
                    // Created meanwhile (a second controller, or a retried request).
                    ScaleRevision(revision.rollout, revision.hash, replicas, done);
                  });
            });
      });
    });
  }

  // The Rollout from the informer's cache, read from the API server only while the cache does not
  // have it yet (every scale of a revision passes here).
  void ReadRollout(const ObjectRef& ref, StatusOrCallback<json> done) {
    if (auto cached = rollouts_->Get(ref.namespace_, ref.name); cached) return done(*cached);
    o_.client->Get(k::Rollouts(), ref.namespace_, ref.name, std::move(done));
  }

  // The Rollout with a selector: its own, or — for a workloadRef Rollout that has none — the
  // selector of the Deployment it names (Argo's templateref copies it the same way).
  void WithSelector(json rollout, StatusOrCallback<json> done) {
    const json& spec = rollout.value("spec", json::object());
    if (!spec.is_object() || spec.contains("selector") || !spec.contains("workloadRef")) {
      return done(std::move(rollout));
    }
    const json& ref = spec["workloadRef"];
    if (!ref.is_object() || ref.value("kind", "") != "Deployment") return done(std::move(rollout));
    const std::string ns = Str(rollout, {"metadata", "namespace"});
    o_.client->Get(
        k::Deployments(), ns, ref.value("name", ""),
        [rollout = std::move(rollout), done = std::move(done)](StatusOr<json> deployment) mutable {
          if (!deployment) return done(Fail(deployment.error()));
          const json& ds = deployment->value("spec", json::object());
          if (ds.is_object() && ds.contains("selector")) {
            rollout["spec"]["selector"] = ds["selector"];
          }
          done(std::move(rollout));
        });
  }

  void ScaleRevision(const ObjectRef& rollout, std::string_view hash, int32_t replicas,
                     StatusCallback done) override {
    const std::string name = RsName(rollout, hash);
    int32_t desired = replicas;
    if (auto r = rollouts_->Get(rollout.namespace_, rollout.name); r) {
      const json& spec = r->value("spec", json::object());
      if (spec.contains("replicas") && spec["replicas"].is_number_integer()) {
        desired = spec["replicas"].get<int32_t>();
      }
    }
    o_.client->Patch(
        k::ReplicaSets(), rollout.namespace_, name, k::PatchType::kMerge,
        kube_objects::ScalePatch(replicas, desired), "",
        [done = std::move(done)](StatusOr<json> r) { done(r ? OkStatus() : r.error()); });
  }

  void RestartInstance(const ObjectRef& rollout, std::string_view hash,
                       std::string_view instance_id, StatusCallback done) override {
    auto pod = pods_->Get(rollout.namespace_, instance_id);
    if (!pod || Str(*pod, {"metadata", "labels", kHashLabel}) != hash) {
      return done(NotFoundError(fmt::format("kubernetes: rollout {}: no pod {} in revision {}",
                                            rollout.Key(), instance_id, hash)));
    }
    o_.client->Delete(k::Pods(), rollout.namespace_, instance_id, k::DeleteOptions{},
                      std::move(done));
  }

  void DeleteRevision(const ObjectRef& rollout, std::string_view hash,
                      StatusCallback done) override {
    o_.client->Delete(k::ReplicaSets(), rollout.namespace_, RsName(rollout, hash),
                      k::DeleteOptions{}, [done = std::move(done)](Status s) {
                        done(s.code() == StatusCode::kNotFound ? OkStatus() : s);
                      });
  }

  void ListRevisions(const ObjectRef& rollout,
                     StatusOrCallback<std::vector<RevisionStatus>> done) override {
    if (!replica_sets_->Synced() || !pods_->Synced()) {
      return done(Fail(UnavailableError(
          "kubernetes: the ReplicaSet and Pod caches are not filled yet (listing)")));
    }
    std::map<std::string, std::vector<json>> pods_by_hash;
    for (json& pod : pods_->List(rollout.namespace_)) {
      std::string hash = Str(pod, {"metadata", "labels", kHashLabel});
      pods_by_hash[hash].push_back(std::move(pod));
    }
    std::vector<RevisionStatus> out;
    for (json rs : replica_sets_->List(rollout.namespace_)) {
      if (OwningRollout(rs) != rollout.name) continue;
      rs = Freshest(std::move(rs));
      const std::string hash = Str(rs, {"metadata", "labels", kHashLabel});
      std::vector<json> pods;
      for (json& pod : pods_by_hash[hash]) {
        // Only the pods this ReplicaSet controls (a pod of another rollout may share the hash).
        const json& meta = pod.value("metadata", json::object());
        bool owned = false;
        if (meta.contains("ownerReferences") && meta["ownerReferences"].is_array()) {
          for (const json& r : meta["ownerReferences"]) {
            if (r.is_object() && r.value("kind", "") == "ReplicaSet" &&
                r.value("name", "") == Str(rs, {"metadata", "name"})) {
              owned = true;
            }
          }
        }
        if (owned) pods.push_back(pod);
      }
      out.push_back(kube_objects::RevisionFromReplicaSet(rs, pods));
    }
    done(std::move(out));
  }

  StatusOr<std::unique_ptr<Subscription>> Watch(
      std::function<void(const ObjectRef& rollout)> on_change) override {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t id = ++next_watcher_;
    watchers_[id] = std::make_shared<std::function<void(const ObjectRef&)>>(std::move(on_change));
    return std::unique_ptr<Subscription>(std::make_unique<Unwatch>(this, id));
  }

 private:
  class Unwatch : public Subscription {
   public:
    Unwatch(KubePlatform* p, uint64_t id) : p_(p), id_(id) {}
    ~Unwatch() override {
      std::lock_guard<std::mutex> lock(p_->mu_);
      p_->watchers_.erase(id_);
    }

   private:
    KubePlatform* p_;
    uint64_t id_;
  };

  static std::string RsName(const ObjectRef& rollout, std::string_view hash) {
    return rollout.name + "-" + std::string(hash);
  }

  // An existing ReplicaSet under the revision's name: ours to scale when the Rollout controls it
  // and its template is the revision's; anything else is refused, never overwritten.
  void Adopt(const RevisionSpec& revision, int32_t replicas, const json& rollout, const json& rs,
             StatusCallback done) {
    const std::string owner = OwningRollout(rs);
    if (owner != revision.rollout.name) {
      return done(AlreadyExistsError(fmt::format(
          "kubernetes: ReplicaSet {}/{} exists and is not controlled by rollout {} (owner: {})",
          revision.rollout.namespace_, RsName(revision.rollout, revision.hash),
          revision.rollout.name, owner.empty() ? "none" : owner)));
    }
    json want = json::parse(revision.pod_template_json, nullptr, false);
    // A revision ramp only knows from the cluster (a ReplicaSet another controller created) has
    // no template of ramp's to compare: it is scaled as it is.
    const bool known_template = want.is_object() && !want.empty();
    if (known_template && !kube_objects::ReplicaSetMatchesTemplate(rs, want)) {
      return done(AlreadyExistsError(fmt::format(
          "kubernetes: ReplicaSet {}/{} has another pod template under the same hash (a hash "
          "collision): refusing to change it",
          revision.rollout.namespace_, RsName(revision.rollout, revision.hash))));
    }
    // A re-used ReplicaSet (a rollback, a retry) carries the revision number it has now, as
    // Argo's syncReplicaSetRevision renumbers it.
    StatusOr<json> renumber = kube_objects::RevisionUpdatePatch(rs, revision.revision, rollout);
    if (!renumber) return done(renumber.error());
    auto scale = [this, revision, replicas, rs](StatusCallback done) {
      const json& spec = rs.value("spec", json::object());
      if (spec.value("replicas", -1) == replicas) return Deadline(revision, rs, std::move(done));
      ScaleRevision(revision.rollout, revision.hash, replicas,
                    [this, revision, replicas, rs, done = std::move(done)](Status s) mutable {
                      // Scaling to zero removes the deadline itself (ScalePatch).
                      if (!s.ok() || replicas == 0) return done(s);
                      Deadline(revision, rs, std::move(done));
                    });
    };
    if (renumber->empty()) return scale(std::move(done));
    o_.client->Patch(k::ReplicaSets(), revision.rollout.namespace_,
                     RsName(revision.rollout, revision.hash), k::PatchType::kMerge, *renumber, "",
                     [this, scale, done = std::move(done)](StatusOr<json> r) mutable {
                       if (!r) return done(r.error());
                       Remember(*r);
                       scale(std::move(done));
                     });
  }

  // Writes or removes Argo's scale-down-deadline annotation so it says what the engine decided.
  void Deadline(const RevisionSpec& revision, const json& rs, StatusCallback done) {
    const std::optional<Time> have = kube_objects::ScaleDownDeadline(rs);
    const bool same =
        revision.scale_down_at
            ? have && kube_objects::FormatScaleDownDeadline(*have) ==
                          kube_objects::FormatScaleDownDeadline(*revision.scale_down_at)
            : !have;
    if (same) return done(OkStatus());
    const json patch = revision.scale_down_at
                           ? kube_objects::SetScaleDownDeadlinePatch(*revision.scale_down_at)
                           : kube_objects::ClearScaleDownDeadlinePatch();
    o_.client->Patch(k::ReplicaSets(), revision.rollout.namespace_,
                     RsName(revision.rollout, revision.hash), k::PatchType::kMerge, patch, "",
                     [this, done = std::move(done)](StatusOr<json> r) {
                       if (r) Remember(*r);
                       done(r ? OkStatus() : r.error());
                     });
  }

  // A ReplicaSet of this Rollout that already runs the revision's template under another hash —
  // one Argo Rollouts created (its hash is computed from Go's encoding of the template, see
  // kube_objects.h) — is not replaced silently by a second ReplicaSet of the same pods: the
  // revision is refused until the Rollout says it may be (docs/kubernetes.md, "Taking over from
  // Argo Rollouts").
  Status CheckNoForeignTwin(const RevisionSpec& revision, const json& rollout) const {
    const json& annotations =
        rollout.value("metadata", json::object()).value("annotations", json::object());
    if (annotations.is_object() && annotations.value(kReplaceAnnotation, "") == "true") {
      return OkStatus();
    }
    if (!replica_sets_->Synced()) {
      return UnavailableError("kubernetes: the ReplicaSet cache is not filled yet (listing)");
    }
    json want = json::parse(revision.pod_template_json, nullptr, false);
    for (const json& rs : replica_sets_->List(revision.rollout.namespace_)) {
      if (OwningRollout(rs) != revision.rollout.name) continue;
      const std::string hash = Str(rs, {"metadata", "labels", kHashLabel});
      if (hash == revision.hash || !kube_objects::ReplicaSetMatchesTemplate(rs, want)) continue;
      return FailedPreconditionError(fmt::format(
          "kubernetes: rollout {}: ReplicaSet {} already runs this pod template under hash {} "
          "(created by another controller; ramp's hash is {}). ramp will not start a second "
          "copy of the same pods silently: annotate the Rollout {}=\"true\" to let it replace "
          "that ReplicaSet step by step (docs/kubernetes.md, \"Taking over from Argo Rollouts\")",
          revision.rollout.Key(), Str(rs, {"metadata", "name"}), hash, revision.hash,
          kReplaceAnnotation));
    }
    return OkStatus();
  }

  void OnChange(const k::InformerEvent& e) {
    const json& meta = e.object.value("metadata", json::object());
    ObjectRef ref;
    ref.namespace_ = meta.value("namespace", "");
    if (e.object.value("kind", "") == "ReplicaSet") {
      ref.name = OwningRollout(e.object);
    } else {
      // A pod: its ReplicaSet's owner.
      std::string rs_name;
      if (meta.contains("ownerReferences") && meta["ownerReferences"].is_array()) {
        for (const json& r : meta["ownerReferences"]) {
          if (r.is_object() && r.value("kind", "") == "ReplicaSet") rs_name = r.value("name", "");
        }
      }
      if (rs_name.empty()) return;
      auto rs = replica_sets_ ? replica_sets_->Get(ref.namespace_, rs_name) : std::nullopt;
      if (!rs) return;
      ref.name = OwningRollout(*rs);
    }
    if (ref.name.empty()) return;
    std::vector<std::shared_ptr<std::function<void(const ObjectRef&)>>> watchers;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, w] : watchers_) watchers.push_back(w);
    }
    for (const auto& w : watchers) (*w)(ref);
  }

  // Read-your-writes: the ReplicaSets as the API server answered this platform's own writes, used
  // by ListRevisions while the informer has not caught up with them (else the next reconcile
  // would see the old replica count and scale — and report it — again).
  void Remember(const json& rs) {
    const std::string key = k::ObjectKey(rs);
    if (key.empty()) return;
    std::lock_guard<std::mutex> lock(mu_);
    written_[key] = rs;
  }

  // The cached ReplicaSet, or this platform's newer write of it.
  json Freshest(json cached) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = written_.find(k::ObjectKey(cached));
    if (it == written_.end()) return cached;
    if (Version(it->second) > Version(cached)) return it->second;
    written_.erase(it);  // the cache has caught up
    return cached;
  }

  static int64_t Version(const json& o) {
    const std::string rv = Str(o, {"metadata", "resourceVersion"});
    int64_t v = 0;
    for (char c : rv) {
      if (c < '0' || c > '9') return 0;
      v = v * 10 + (c - '0');
    }
    return v;
  }

  KubePlatformOptions o_;
  std::map<std::string, json> written_;  // guarded by mu_
  std::unique_ptr<k::Informer> rollouts_;
  std::unique_ptr<k::Informer> replica_sets_;
  std::unique_ptr<k::Informer> pods_;
  std::mutex mu_;
  uint64_t next_watcher_ = 0;
  std::map<uint64_t, std::shared_ptr<std::function<void(const ObjectRef&)>>> watchers_;
};

}  // namespace

StatusOr<std::unique_ptr<Platform>> NewKubePlatform(const KubePlatformOptions& options) {
  if (options.client == nullptr || options.timers == nullptr || options.clock == nullptr) {
    return Fail(InvalidArgumentError("kubernetes platform: client, timers and clock are required"));
  }
  auto p = std::make_unique<KubePlatform>(options);
  p->Start();
  return std::unique_ptr<Platform>(std::move(p));
}

}  // namespace ramp::platform
