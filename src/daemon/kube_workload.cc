#include "daemon/kube_workload.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <mutex>
#include <utility>

#include <fmt/format.h>

#include "kube/informer.h"
#include "kube/json_path.h"
#include "spec/rollout.h"

namespace ramp::daemon {
namespace {

using json = nlohmann::json;

constexpr char kRevisionAnnotation[] = "rollout.argoproj.io/revision";

// Where a kind Argo accepts as a workloadRef keeps its pod template and selector
// (rollout/templateref.go's table, keyed by group and kind: the version is not looked at).
struct WorkloadKind {
  const char* group;
  const char* kind;
  std::vector<const char*> template_path;
  std::vector<const char*> selector_path;  // empty: the kind has no selector
};

const std::vector<WorkloadKind>& WorkloadKinds() {
  static const std::vector<WorkloadKind> kinds = {
      {"", "PodTemplate", {"template"}, {}},
      {"apps", "Deployment", {"spec", "template"}, {"spec", "selector"}},
      {"apps", "ReplicaSet", {"spec", "template"}, {"spec", "selector"}},
  };
  return kinds;
}

// "apps/v1" → "apps"; "v1" → "".
std::string GroupOf(std::string_view api_version) {
  const size_t slash = api_version.find('/');
  return slash == std::string_view::npos ? "" : std::string(api_version.substr(0, slash));
}

// Short names for the shared path reads (kube/json_path.h).
using kube::JsonAt;
const json* Find(const json& object, std::initializer_list<const char*> path) {
  return JsonAt(object, path);
}
const json* FindPath(const json& object, const std::vector<const char*>& path) {
  return JsonAt(object, path);
}
std::string Str(const json& object, std::initializer_list<const char*> path) {
  return kube::JsonString(object, path);
}

std::optional<int64_t> Int(const json& object, std::initializer_list<const char*> path) {
  const json* v = Find(object, path);
  if (v == nullptr || !v->is_number_integer()) return std::nullopt;
  return v->get<int64_t>();
}

std::string PathText(const std::vector<const char*>& path) {
  std::string out;
  for (const char* p : path) out += (out.empty() ? "" : ".") + std::string(p);
  return out;
}

// "namespace/name" of an object's metadata ("name" without a namespace).
std::string KeyOf(const json& object) {
  const std::string ns = Str(object, {"metadata", "namespace"});
  const std::string name = Str(object, {"metadata", "name"});
  return ns.empty() ? name : ns + "/" + name;
}

// Argo's RolloutSpec.EmptyTemplate: no labels and no annotations in spec.template.metadata.
bool EmptyTemplate(const json& rollout) {
  for (const char* key : {"labels", "annotations"}) {
    const json* m = Find(rollout, {"spec", "template", "metadata", key});
    if (m != nullptr && m->is_object() && !m->empty()) return false;
  }
  return true;
}

// metav1.LabelSelector semantics over JSON: matchLabels and matchExpressions (In, NotIn, Exists,
// DoesNotExist); anything malformed matches nothing.
bool SelectorMatches(const json& selector, const json& labels) {
  if (!selector.is_object()) return false;
  auto label = [&](const std::string& key) -> const json* {
    if (!labels.is_object()) return nullptr;
    auto it = labels.find(key);
    return it == labels.end() ? nullptr : &*it;
  };
  if (auto ml = selector.find("matchLabels"); ml != selector.end() && !ml->is_null()) {
    if (!ml->is_object()) return false;
    for (auto it = ml->begin(); it != ml->end(); ++it) {
      const json* have = label(it.key());
      if (have == nullptr || *have != it.value()) return false;
    }
  }
  if (auto me = selector.find("matchExpressions"); me != selector.end() && !me->is_null()) {
    if (!me->is_array()) return false;
    for (const json& req : *me) {
      if (!req.is_object()) return false;
      const json* have = label(Str(req, {"key"}));
      const std::string op = Str(req, {"operator"});
      bool in = false;
      if (have != nullptr) {
        const json values = req.value("values", json::array());
        in = values.is_array() && std::find(values.begin(), values.end(), *have) != values.end();
      }
      if (op == "In") {
        if (!in) return false;
      } else if (op == "NotIn") {
        if (in) return false;
      } else if (op == "Exists") {
        if (have == nullptr) return false;
      } else if (op == "DoesNotExist") {
        if (have != nullptr) return false;
      } else {
        return false;
      }
    }
  }
  return true;
}

void RemoveWorkloadGeneration(json* rollout) {
  json* meta = rollout->contains("metadata") ? &(*rollout)["metadata"] : nullptr;
  if (meta == nullptr || !meta->is_object()) return;
  auto a = meta->find("annotations");
  if (a == meta->end() || !a->is_object()) return;
  a->erase(spec::kWorkloadGenerationAnnotation);
  if (a->empty()) meta->erase("annotations");
}

std::optional<int64_t> ParseInt(std::string_view text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

StatusOr<json> ResolveWorkloadRef(const json& rollout, const json& workload) {
  if (!rollout.is_object() || Str(rollout, {"kind"}) != "Rollout") {
    return Fail(InvalidArgumentError("ResolveWorkloadRef: not a Rollout object"));
  }
  if (const json* meta = Find(rollout, {"metadata"}); meta != nullptr && !meta->is_object()) {
    return Fail(InvalidArgumentError("rollout: metadata must be an object"));
  }
  const std::string who = "rollout " + KeyOf(rollout);
  json out = rollout;
  const json* ref = Find(rollout, {"spec", "workloadRef"});
  if (ref == nullptr || ref->is_null()) {
    RemoveWorkloadGeneration(&out);
    return out;
  }
  if (!ref->is_object()) {
    return Fail(InvalidArgumentError(who + ": spec.workloadRef: must be an object"));
  }
  const std::string api_version = Str(*ref, {"apiVersion"});
  const std::string kind = Str(*ref, {"kind"});
  const std::string name = Str(*ref, {"name"});
  const std::string ns = Str(rollout, {"metadata", "namespace"});
  const std::string target = fmt::format("{} {}", kind, ns.empty() ? name : ns + "/" + name);
  if (!EmptyTemplate(rollout)) {
    return Fail(InvalidArgumentError(
        who + ": template must be empty for workload reference rollout (" + target + ")"));
  }
  const std::string group = GroupOf(api_version);
  const WorkloadKind* known = nullptr;
  for (const WorkloadKind& k : WorkloadKinds()) {
    if (k.group == group && k.kind == kind) known = &k;
  }
  if (known == nullptr) {
    return Fail(InvalidArgumentError(fmt::format(
        "{}: spec.workloadRef: workload of type {}/{} is not supported (apps/v1 Deployment, "
        "apps/v1 ReplicaSet or v1 PodTemplate)",
        who, group, kind)));
  }
  if (name.empty()) {
    return Fail(InvalidArgumentError(who + ": spec.workloadRef.name: required"));
  }
  if (workload.is_null()) {
    return Fail(
        FailedPreconditionError(fmt::format("{}: spec.workloadRef: {} not found", who, target)));
  }
  if (!workload.is_object()) {
    return Fail(InvalidArgumentError(
        fmt::format("{}: spec.workloadRef: {} is not an object", who, target)));
  }
  const std::string got_kind = Str(workload, {"kind"});
  const std::string got_group = GroupOf(Str(workload, {"apiVersion"}));
  const std::string got_ns = Str(workload, {"metadata", "namespace"});
  const std::string got_name = Str(workload, {"metadata", "name"});
  if (got_kind != kind || got_group != group || got_name != name ||
      (!ns.empty() && !got_ns.empty() && got_ns != ns)) {
    return Fail(InvalidArgumentError(fmt::format("{}: spec.workloadRef names {}, got {} {} ({})",
                                                 who, target, got_kind, KeyOf(workload),
                                                 Str(workload, {"apiVersion"}))));
  }
  const json* tmpl = FindPath(workload, known->template_path);
  if (tmpl == nullptr || !tmpl->is_object()) {
    return Fail(FailedPreconditionError(fmt::format("{}: spec.workloadRef: {} has no {}", who,
                                                    target, PathText(known->template_path))));
  }
  out["spec"]["template"] = *tmpl;
  const json* own = Find(rollout, {"spec", "selector"});
  const bool has_own = own != nullptr && !own->is_null();
  if (!has_own) {
    const json* sel =
        known->selector_path.empty() ? nullptr : FindPath(workload, known->selector_path);
    if (sel == nullptr || !sel->is_object()) {
      return Fail(InvalidArgumentError(
          fmt::format("{}: has no spec.selector and {} provides none to take", who, target)));
    }
    out["spec"]["selector"] = *sel;
  }
  const json& selector = out["spec"]["selector"];
  const json* labels = Find(*tmpl, {"metadata", "labels"});
  if (!SelectorMatches(selector, labels != nullptr ? *labels : json::object())) {
    return Fail(InvalidArgumentError(fmt::format(
        "{}: spec.selector{} {} does not match the labels {} of {}'s {}", who,
        has_own ? "" : fmt::format(" (from {})", target), selector.dump(),
        labels != nullptr ? labels->dump() : "{}", target, PathText(known->template_path))));
  }
  const int64_t generation = Int(workload, {"metadata", "generation"}).value_or(0);
  json& meta = out["metadata"];
  if (!meta.contains("annotations") || !meta["annotations"].is_object()) {
    meta["annotations"] = json::object();
  }
  meta["annotations"][spec::kWorkloadGenerationAnnotation] = std::to_string(generation);
  return out;
}

std::optional<json> DeploymentScaleDownPatch(const json& rollout, int64_t revision,
                                             const json& deployment) {
  const json* ref = Find(rollout, {"spec", "workloadRef"});
  if (ref == nullptr || !ref->is_object()) return std::nullopt;
  if (Str(*ref, {"kind"}) != "Deployment" || GroupOf(Str(*ref, {"apiVersion"})) != "apps") {
    return std::nullopt;
  }
  if (Str(*ref, {"name"}) != Str(deployment, {"metadata", "name"})) return std::nullopt;
  const std::string ns = Str(rollout, {"metadata", "namespace"});
  const std::string dep_ns = Str(deployment, {"metadata", "namespace"});
  if (!ns.empty() && !dep_ns.empty() && ns != dep_ns) return std::nullopt;
  const std::string mode = Str(*ref, {"scaleDown"});
  if (mode != "onsuccess" && mode != "progressively") return std::nullopt;
  // Argo scales the Deployment only while the Rollout is at its first revision.
  if (revision != 1) return std::nullopt;
  const json status = rollout.value("status", json::object());
  const bool healthy = status.is_object() && Str(status, {"phase"}) == "Healthy";
  std::optional<int64_t> target;
  if (healthy) {
    target = 0;
  } else if (mode == "progressively" && status.is_object()) {
    const int64_t replicas = Int(rollout, {"spec", "replicas"}).value_or(1);
    const int64_t ready = Int(status, {"readyReplicas"}).value_or(0);
    const json* abort = Find(status, {"abort"});
    const bool aborted = abort != nullptr && abort->is_boolean() && abort->get<bool>();
    if (ready > 0 || aborted) target = std::max<int64_t>(0, replicas - ready);
  }
  if (!target) return std::nullopt;
  if (Int(deployment, {"spec", "replicas"}).value_or(1) == *target) return std::nullopt;
  return json{{"spec", {{"replicas", *target}}}};
}

namespace {

class Workloads : public KubeWorkloads {
 public:
  // The state callbacks of requests in flight share; they do nothing once `stopped`.
  struct Core {
    KubeWorkloadsOptions o;
    std::mutex mu;
    bool stopped = false;
    std::unique_ptr<kube::Informer> informer;  // set once, right after starting it
    struct Tracked {
      json doc;            // without status
      json full;           // with status (RolloutChanged), else the doc
      std::string target;  // "namespace/name" of the Deployment, "" for none
      bool busy = false;   // a scale-down evaluation is in flight
      bool again = false;  // … and the Rollout or its Deployment changed meanwhile
      // The Deployment's generation after our last scale patch: a cached Deployment older than
      // that is not acted on (the informer's event for it follows and evaluates again).
      int64_t written_generation = 0;
    };
    std::map<ObjectRef, Tracked> rollouts;

    // Calls o.log unless stopped (log_mu, not mu: the callback runs outside ramp's locks here).
    std::mutex log_mu;
    bool log_stopped = false;
    void Log(const std::string& rollout, const std::string& line) {
      std::lock_guard<std::mutex> lock(log_mu);
      if (!log_stopped && o.log) o.log(rollout, line);
    }

    std::optional<json> Deployment(const std::string& ns, const std::string& name) {
      std::lock_guard<std::mutex> lock(mu);
      if (informer == nullptr) return std::nullopt;
      return informer->Get(ns, name);
    }
  };

  explicit Workloads(KubeWorkloadsOptions o) : core_(std::make_shared<Core>()) {
    core_->o = std::move(o);
  }

  ~Workloads() override {
    std::unique_ptr<kube::Informer> informer;
    {
      std::lock_guard<std::mutex> lock(core_->mu);
      core_->stopped = true;
      informer = std::move(core_->informer);
    }
    {
      std::lock_guard<std::mutex> lock(core_->log_mu);
      core_->log_stopped = true;
    }
    if (informer) informer->Stop();
  }

  void Start() {
    std::weak_ptr<Core> weak = core_;
    kube::InformerOptions io{kube::Deployments(), core_->o.namespace_, ""};
    auto informer = kube::Informer::Start(core_->o.client, core_->o.timers, core_->o.clock, io,
                                          [weak](const kube::InformerEvent& e) {
                                            if (auto core = weak.lock()) OnDeployment(core, e);
                                          });
    std::lock_guard<std::mutex> lock(core_->mu);
    core_->informer = std::move(informer);
  }

  bool Synced() const override {
    std::lock_guard<std::mutex> lock(core_->mu);
    return core_->informer != nullptr && core_->informer->Synced();
  }

  StatusOr<json> Resolve(const json& rollout) override {
    if (!rollout.is_object()) return Fail(InvalidArgumentError("Resolve: not a Rollout object"));
    json doc = rollout;
    doc.erase("status");
    const ObjectRef ref = RefOf(doc);
    const std::string target = TargetOf(doc);
    Track(ref, doc, std::nullopt, target);
    const json* wref = Find(doc, {"spec", "workloadRef"});
    if (wref == nullptr || wref->is_null()) return ResolveWorkloadRef(doc, json());
    if (target.empty()) {
      // Not a Deployment: ResolveWorkloadRef names what is wrong, else ramp does not watch it.
      auto resolved = ResolveWorkloadRef(doc, json());
      if (!resolved && resolved.error().code() == StatusCode::kInvalidArgument) return resolved;
      return Fail(UnimplementedError(fmt::format(
          "rollout {}: spec.workloadRef: ramp takes templates from apps/v1 Deployments only, not "
          "from {} {}",
          ref.Key(), Str(*wref, {"kind"}), Str(*wref, {"name"}))));
    }
    auto deployment = core_->Deployment(ref.namespace_, Str(*wref, {"name"}));
    if (!deployment) {
      auto resolved = ResolveWorkloadRef(doc, json());
      if (!resolved && resolved.error().code() == StatusCode::kInvalidArgument) return resolved;
      if (!Synced()) {
        return Fail(UnavailableError(fmt::format(
            "rollout {}: spec.workloadRef: the Deployments are not listed yet (Deployment {} is "
            "resolved once they are)",
            ref.Key(), target)));
      }
      return resolved;
    }
    return ResolveWorkloadRef(doc, *deployment);
  }

  void RolloutChanged(const json& rollout) override {
    if (!rollout.is_object()) return;
    json doc = rollout;
    doc.erase("status");
    const ObjectRef ref = RefOf(doc);
    Track(ref, std::move(doc), rollout, TargetOf(rollout));
    Evaluate(core_, ref);
  }

  void RolloutDeleted(const ObjectRef& rollout) override {
    std::lock_guard<std::mutex> lock(core_->mu);
    core_->rollouts.erase(rollout);
  }

 private:
  static ObjectRef RefOf(const json& doc) {
    std::string ns = Str(doc, {"metadata", "namespace"});
    return ObjectRef{ns.empty() ? "default" : ns, Str(doc, {"metadata", "name"})};
  }

  // "namespace/name" of the apps Deployment the Rollout's workloadRef names, or "".
  static std::string TargetOf(const json& doc) {
    const json* ref = Find(doc, {"spec", "workloadRef"});
    if (ref == nullptr || !ref->is_object()) return "";
    if (Str(*ref, {"kind"}) != "Deployment" || GroupOf(Str(*ref, {"apiVersion"})) != "apps") {
      return "";
    }
    const std::string name = Str(*ref, {"name"});
    if (name.empty()) return "";
    return RefOf(doc).namespace_ + "/" + name;
  }

  void Track(const ObjectRef& ref, json doc, std::optional<json> full, const std::string& target) {
    std::lock_guard<std::mutex> lock(core_->mu);
    Core::Tracked& t = core_->rollouts[ref];
    if (full) {
      t.full = std::move(*full);
    } else {
      // Keep the last status seen with the new spec.
      json status = t.full.is_object() ? t.full.value("status", json()) : json();
      t.full = doc;
      if (!status.is_null()) t.full["status"] = std::move(status);
    }
    t.doc = std::move(doc);
    t.target = target;
  }

  static void OnDeployment(const std::shared_ptr<Core>& core, const kube::InformerEvent& e) {
    const std::string key = kube::ObjectKey(e.object);
    bool changed = e.type != kube::InformerEvent::Type::kUpdated;
    if (!changed && e.old) {
      const json& before = *e.old;
      changed =
          Int(before, {"metadata", "generation"}) != Int(e.object, {"metadata", "generation"});
      for (const char* field : {"template", "selector"}) {
        const json* a = Find(before, {"spec", field});
        const json* b = Find(e.object, {"spec", field});
        if ((a == nullptr) != (b == nullptr) || (a != nullptr && *a != *b)) changed = true;
      }
    }
    std::vector<json> docs;
    std::vector<ObjectRef> refs;
    std::function<void(const std::vector<json>&)> callback;
    {
      std::lock_guard<std::mutex> lock(core->mu);
      if (core->stopped) return;
      for (const auto& [ref, t] : core->rollouts) {
        if (t.target != key) continue;
        docs.push_back(t.doc);
        refs.push_back(ref);
      }
      callback = core->o.on_workload_change;
    }
    if (docs.empty()) return;
    if (changed && callback) callback(docs);
    // Someone may have scaled the Deployment back up, or it came late: look again.
    if (e.type != kube::InformerEvent::Type::kDeleted) {
      for (const ObjectRef& ref : refs) Evaluate(core, ref);
    }
  }

  // Sends the scale-down patch the Rollout's latest state calls for; one evaluation at a time per
  // Rollout, repeated when it changed meanwhile.
  static void Evaluate(const std::shared_ptr<Core>& core, const ObjectRef& ref) {
    json full;
    std::string target;
    int64_t written = 0;
    {
      std::lock_guard<std::mutex> lock(core->mu);
      if (core->stopped) return;
      auto it = core->rollouts.find(ref);
      if (it == core->rollouts.end()) return;
      if (it->second.busy) {
        it->second.again = true;
        return;
      }
      if (it->second.target.empty()) return;
      full = it->second.full;
      target = it->second.target;
      written = it->second.written_generation;
      it->second.busy = true;
      it->second.again = false;
    }
    const std::string dep_name = target.substr(target.find('/') + 1);
    auto done = [core, ref] {
      bool again = false;
      {
        std::lock_guard<std::mutex> lock(core->mu);
        auto it = core->rollouts.find(ref);
        if (it == core->rollouts.end()) return;
        it->second.busy = false;
        again = it->second.again && !core->stopped;
      }
      if (again) Evaluate(core, ref);
    };
    auto deployment = core->Deployment(ref.namespace_, dep_name);
    if (!deployment || Int(*deployment, {"metadata", "generation"}).value_or(0) < written) {
      return done();
    }
    // Cheap first: would the first revision in this state scale it at all?
    if (!DeploymentScaleDownPatch(full, 1, *deployment)) return done();
    const std::string hash = Str(full, {"status", "currentPodHash"});
    if (hash.empty()) return done();
    const std::string rs_name = ref.name + "-" + hash;
    core->o.client->Get(
        kube::ReplicaSets(), ref.namespace_, rs_name,
        [core, ref, full, dep_name, rs_name, done](StatusOr<json> rs) {
          {
            std::lock_guard<std::mutex> lock(core->mu);
            if (core->stopped) return;
          }
          if (!rs) {
            core->Log(ref.Key(), fmt::format("workloadRef scale-down: ReplicaSet {}: {}", rs_name,
                                             rs.error().message()));
            return done();
          }
          const int64_t revision =
              ParseInt(Str(*rs, {"metadata", "annotations", kRevisionAnnotation})).value_or(0);
          auto deployment = core->Deployment(ref.namespace_, dep_name);
          if (!deployment) return done();
          auto patch = DeploymentScaleDownPatch(full, revision, *deployment);
          if (!patch) return done();
          const int64_t replicas = (*patch)["spec"]["replicas"].get<int64_t>();
          core->Log(ref.Key(),
                    fmt::format("workloadRef scaleDown {}: scaling Deployment {}/{} to {} replicas",
                                Str(full, {"spec", "workloadRef", "scaleDown"}), ref.namespace_,
                                dep_name, replicas));
          core->o.client->Patch(
              kube::Deployments(), ref.namespace_, dep_name, kube::PatchType::kMerge, *patch, "",
              [core, ref, dep_name, done](StatusOr<json> patched) {
                if (!patched) {
                  core->Log(ref.Key(), fmt::format("workloadRef scale-down of Deployment {}: {}",
                                                   dep_name, patched.error().message()));
                } else {
                  std::lock_guard<std::mutex> lock(core->mu);
                  auto it = core->rollouts.find(ref);
                  if (it != core->rollouts.end()) {
                    it->second.written_generation =
                        Int(*patched, {"metadata", "generation"}).value_or(0);
                  }
                }
                done();
              });
        });
  }

  std::shared_ptr<Core> core_;
};

}  // namespace

StatusOr<std::unique_ptr<KubeWorkloads>> KubeWorkloads::Start(KubeWorkloadsOptions options) {
  if (options.client == nullptr || options.timers == nullptr || options.clock == nullptr) {
    return Fail(InvalidArgumentError("KubeWorkloads: client, timers and clock are required"));
  }
  auto workloads = std::make_unique<Workloads>(std::move(options));
  workloads->Start();
  return std::unique_ptr<KubeWorkloads>(std::move(workloads));
}

}  // namespace ramp::daemon
