#include "traffic/kubernetes/kube_router.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;

std::string ResourceVersionOf(const json& object) {
  const json* meta =
      object.is_object() && object.contains("metadata") ? &object["metadata"] : nullptr;
  if (meta == nullptr || !meta->is_object()) return "";
  auto it = meta->find("resourceVersion");
  return it != meta->end() && it->is_string() ? it->get<std::string>() : "";
}

const json* ControllerRef(const json& object) {
  if (!object.is_object()) return nullptr;
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return nullptr;
  auto refs = meta->find("ownerReferences");
  if (refs == meta->end() || !refs->is_array()) return nullptr;
  for (const json& ref : *refs) {
    if (ref.is_object() && ref.value("controller", false)) return &ref;
  }
  return nullptr;
}

}  // namespace

namespace {

// Runs a Mutation; a JSON type error (an object whose fields have other types than its kind's:
// a spec that is a string, rules that are a number) is an error value, never an exception
// unwinding through the client's thread.
StatusOr<bool> SafeMutate(const Mutation& mutate, json& object) {
  try {
    return mutate(object);
  } catch (const json::exception& e) {
    return Fail(FailedPreconditionError(
        fmt::format("the object does not have the shape of its kind ({})", e.what())));
  }
}

}  // namespace

// ---- RolloutOwner ----

RolloutOwner::RolloutOwner(kube::KubeClient* client, ObjectRef rollout)
    : client_(client), rollout_(std::move(rollout)) {}

void RolloutOwner::OwnerReference(StatusOrCallback<json> done) {
  auto make = [name = rollout_.name](const std::string& uid) {
    return json{{"apiVersion", kube::Rollouts().ApiVersion()},
                {"kind", kube::Rollouts().kind},
                {"name", name},
                {"uid", uid},
                {"controller", true},
                {"blockOwnerDeletion", true}};
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!uid_.empty()) return done(make(uid_));
  }
  client_->Get(
      kube::Rollouts(), rollout_.namespace_, rollout_.name,
      [self = shared_from_this(), make, done = std::move(done)](StatusOr<json> got) {
        if (!got) return done(Fail(got.error()));
        std::string uid;
        if (got->contains("metadata") && (*got)["metadata"].is_object()) {
          uid = (*got)["metadata"].value("uid", "");
        }
        if (uid.empty()) {
          return done(Fail(UnavailableError(fmt::format(
              "rollout {}: the API server answered without metadata.uid", self->rollout_.Key()))));
        }
        {
          std::lock_guard<std::mutex> lock(self->mu_);
          self->uid_ = uid;
        }
        done(make(uid));
      });
}

bool RolloutOwner::Controls(const json& object) const {
  const json* ref = ControllerRef(object);
  if (ref == nullptr) return false;
  if (ref->value("kind", "") != kube::Rollouts().kind) return false;
  std::lock_guard<std::mutex> lock(mu_);
  if (!uid_.empty() && ref->contains("uid")) return ref->value("uid", "") == uid_;
  return ref->value("name", "") == rollout_.name;
}

std::string RolloutOwner::ControllerOf(const json& object) {
  const json* ref = ControllerRef(object);
  if (ref == nullptr) return "";
  return fmt::format("{} {}", ref->value("kind", ""), ref->value("name", ""));
}

// ---- ObjectSync ----

struct ObjectSync::Shared {
  Env env_copy;
  const Env* env = &env_copy;
  std::string router;
  std::mutex mu;
  std::map<std::string, json> last;  // guarded by mu: the object as last written or confirmed

  static std::string Key(const kube::Resource& r, std::string_view ns, std::string_view name) {
    return fmt::format("{}/{}/{}", r.GroupResource(), ns, name);
  }

  Status Wrap(const kube::Resource& r, std::string_view ns, std::string_view name,
              const Status& s) const {
    if (s.code() == StatusCode::kNotFound) {
      return FailedPreconditionError(
          fmt::format("{}: {} does not exist", router, Describe(r, ns, name)));
    }
    return Status(s.code(), fmt::format("{}: {}: {}", router, Describe(r, ns, name), s.message()));
  }

  void Remember(const std::string& key, json object) {
    std::lock_guard<std::mutex> lock(mu);
    last[key] = std::move(object);
  }

  // Whether `mutate` would leave the copy last written alone while the object read differs
  // from it: someone else changed what this router owns.
  bool ChangedOutside(const std::string& key, const json& read, const Mutation& mutate) {
    json copy;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = last.find(key);
      if (it == last.end()) return false;
      if (ResourceVersionOf(it->second) == ResourceVersionOf(read)) return false;
      copy = it->second;
    }
    StatusOr<bool> again = SafeMutate(mutate, copy);
    return again && !*again;
  }

  // What Ensure adds to Converge: a check of the object as read before it is rewritten (its
  // error is the answer, as it is), and what to do when the object does not exist.
  struct Extra {
    std::function<Status(const json& object)> check;
    std::function<void(StatusCallback done)> if_missing;
  };

  static void Converge(std::shared_ptr<Shared> s, const kube::Resource& resource, std::string ns,
                       std::string name, Mutation mutate, StatusCallback done, int attempt = 1,
                       Extra extra = {});
  // Creates `object`; one created meanwhile is converged instead, with `check` applied.
  static void CreateObject(std::shared_ptr<Shared> s, const kube::Resource& resource,
                           std::string ns, std::string name, json object, Mutation mutate,
                           StatusCallback done, std::function<Status(const json&)> check = {});
  static void Ensure(std::shared_ptr<Shared> s, const kube::Resource& resource, std::string ns,
                     std::string name, std::function<json()> create, Mutation mutate,
                     StatusCallback done);

  // After a write: reads the object back and checks that nothing is left to change. `written`
  // is the object as the write stored it. When someone else wrote after it, the object is
  // converged again (at most kAttempts times in all), which reports their change; when the
  // object read back is the one written, the server itself rewrote it (an admission webhook,
  // defaulting) and no retry can help.
  static constexpr int kAttempts = 3;

  static void ReadBack(std::shared_ptr<Shared> s, const kube::Resource& r, std::string ns,
                       std::string name, Mutation mutate, bool outside, json written, int attempt,
                       StatusCallback done) {
    const std::string key = Key(r, ns, name);
    s->env->client->Get(
        r, ns, name,
        [s, r, ns, name, key, mutate = std::move(mutate), outside, written = std::move(written),
         attempt, done = std::move(done)](StatusOr<json> back) mutable {
          if (!back) return done(s->Wrap(r, ns, name, back.error()));
          json copy = *back;
          StatusOr<bool> again = SafeMutate(mutate, copy);
          if (!again) return done(s->Wrap(r, ns, name, again.error()));
          if (*again) {
            const bool rewritten_by_server = ResourceVersionOf(*back) == ResourceVersionOf(written);
            if (rewritten_by_server || attempt >= kAttempts) {
              return done(UnavailableError(fmt::format(
                  "{}: {} did not keep the write: read back, it still differs from what the "
                  "rollout wants ({})",
                  s->router, Describe(r, ns, name),
                  rewritten_by_server
                      ? "the API server changed it as it stored it: an admission webhook?"
                      : "another writer keeps changing it")));
            }
            // Someone changed it right after the write: what was written is what they changed.
            s->Remember(key, std::move(written));
            return Converge(s, r, ns, name, std::move(mutate), std::move(done), attempt + 1);
          }
          s->Remember(key, std::move(*back));
          if (outside && s->env->changed_outside) {
            s->env->changed_outside(fmt::format(
                "{} was changed outside the rollout; {} set it back to the rollout's traffic "
                "routing",
                Describe(r, ns, name), s->router));
          }
          done(OkStatus());
        });
  }
};

ObjectSync::ObjectSync(Env env, std::string router) : shared_(std::make_shared<Shared>()) {
  shared_->env_copy = std::move(env);
  shared_->env = &shared_->env_copy;
  shared_->router = std::move(router);
}

void ObjectSync::Shared::Converge(std::shared_ptr<Shared> s, const kube::Resource& resource,
                                  std::string ns, std::string name, Mutation mutate,
                                  StatusCallback done, int attempt, Extra extra) {
  const std::string key = Shared::Key(resource, ns, name);
  auto outside = std::make_shared<bool>(false);
  auto changed = std::make_shared<bool>(false);
  auto refused = std::make_shared<Status>();
  s->env->client->Modify(
      resource, ns, name, "",
      [s, key, mutate, outside, changed, refused,
       check = extra.check](json& object) -> StatusOr<bool> {
        if (check) {
          *refused = check(object);
          if (!refused->ok()) return Fail(*refused);
        }
        const json before = object;
        StatusOr<bool> r = SafeMutate(mutate, object);
        if (!r) return r;
        *changed = *r;
        *outside = *r && s->ChangedOutside(key, before, mutate);
        return r;
      },
      [s, resource, ns, name, key, mutate, outside, changed, attempt, refused,
       if_missing = std::move(extra.if_missing),
       done = std::move(done)](StatusOr<json> stored) mutable {
        if (!refused->ok()) return done(*refused);
        if (!stored && stored.error().code() == StatusCode::kNotFound && if_missing) {
          return if_missing(std::move(done));
        }
        if (!stored) return done(s->Wrap(resource, ns, name, stored.error()));
        if (!*changed) {
          s->Remember(key, std::move(*stored));
          return done(OkStatus());
        }
        Shared::ReadBack(s, resource, ns, name, std::move(mutate), *outside, std::move(*stored),
                         attempt, std::move(done));
      });
}

void ObjectSync::Shared::Ensure(std::shared_ptr<Shared> s, const kube::Resource& resource,
                                std::string ns, std::string name, std::function<json()> create,
                                Mutation mutate, StatusCallback done) {
  // One read: the object is checked for its owner as Converge reads it, and created when absent.
  Extra extra;
  extra.check = [s, resource, ns, name](const json& object) {
    if (s->env->owner->Controls(object)) return OkStatus();
    const std::string controller = RolloutOwner::ControllerOf(object);
    return FailedPreconditionError(fmt::format(
        "{}: {} exists and is {}, not by rollout {}", s->router, Describe(resource, ns, name),
        controller.empty() ? std::string("not controlled by the rollout")
                           : "controlled by " + controller,
        s->env->owner->rollout().name));
  };
  extra.if_missing = [s, resource, ns, name, create = std::move(create), mutate,
                      check = extra.check](StatusCallback done) mutable {
    s->env->owner->OwnerReference([s, resource, ns, name, create = std::move(create),
                                   mutate = std::move(mutate), check = std::move(check),
                                   done = std::move(done)](StatusOr<json> owner) mutable {
      if (!owner) return done(s->Wrap(resource, ns, name, owner.error()));
      json object = create();
      object["apiVersion"] = resource.ApiVersion();
      object["kind"] = resource.kind;
      object["metadata"]["name"] = name;
      object["metadata"]["namespace"] = ns;
      object["metadata"]["ownerReferences"] = json::array({*owner});
      CreateObject(s, resource, ns, name, std::move(object), std::move(mutate), std::move(done),
                   check);
    });
  };
  Converge(s, resource, ns, name, std::move(mutate), std::move(done), 1, std::move(extra));
}

void ObjectSync::Shared::CreateObject(std::shared_ptr<Shared> s, const kube::Resource& resource,
                                      std::string ns, std::string name, json object,
                                      Mutation mutate, StatusCallback done,
                                      std::function<Status(const json&)> check) {
  StatusOr<bool> r = SafeMutate(mutate, object);
  if (!r) return done(s->Wrap(resource, ns, name, r.error()));
  bool deleted_outside = false;  // written here before, and not deleted by this router
  {
    std::lock_guard<std::mutex> lock(s->mu);
    deleted_outside = s->last.count(Key(resource, ns, name)) > 0;
  }
  s->env->client->Create(
      resource, ns, std::move(object),
      [s, resource, ns, name, mutate = std::move(mutate), deleted_outside, check = std::move(check),
       done = std::move(done)](StatusOr<json> created) mutable {
        if (!created && created.error().code() == StatusCode::kAlreadyExists) {
          // Created meanwhile (another writer, or a retry): converge what is there.
          Extra extra;
          extra.check = std::move(check);
          return Converge(s, resource, ns, name, std::move(mutate), std::move(done), 1,
                          std::move(extra));
        }
        if (!created) return done(s->Wrap(resource, ns, name, created.error()));
        Shared::ReadBack(s, resource, ns, name, std::move(mutate), deleted_outside,
                         std::move(*created), 1, std::move(done));
      });
}

void ObjectSync::Converge(const kube::Resource& resource, std::string ns, std::string name,
                          Mutation mutate, StatusCallback done) {
  Shared::Converge(shared_, resource, std::move(ns), std::move(name), std::move(mutate),
                   std::move(done));
}

void ObjectSync::Ensure(const kube::Resource& resource, std::string ns, std::string name,
                        std::function<json()> create, Mutation mutate, StatusCallback done) {
  Shared::Ensure(shared_, resource, std::move(ns), std::move(name), std::move(create),
                 std::move(mutate), std::move(done));
}

void ObjectSync::Create(const kube::Resource& resource, std::string ns, std::string name,
                        json object, Mutation mutate, StatusCallback done) {
  object["apiVersion"] = resource.ApiVersion();
  object["kind"] = resource.kind;
  object["metadata"]["name"] = name;
  object["metadata"]["namespace"] = ns;
  Shared::CreateObject(shared_, resource, std::move(ns), std::move(name), std::move(object),
                       std::move(mutate), std::move(done));
}

void ObjectSync::Forget(const kube::Resource& resource, std::string_view ns,
                        std::string_view name) {
  std::lock_guard<std::mutex> lock(shared_->mu);
  shared_->last.erase(Shared::Key(resource, ns, name));
}

void ObjectSync::DeleteOwned(const kube::Resource& resource, std::string ns, std::string name,
                             StatusCallback done) {
  auto s = shared_;
  s->env->client->Get(resource, ns, name,
                      [s, resource, ns, name, done = std::move(done)](StatusOr<json> got) mutable {
                        if (!got && got.error().code() == StatusCode::kNotFound)
                          return done(OkStatus());
                        if (!got) return done(s->Wrap(resource, ns, name, got.error()));
                        if (!s->env->owner->Controls(*got)) return done(OkStatus());
                        kube::DeleteOptions options;
                        options.precondition_resource_version = ResourceVersionOf(*got);
                        s->env->client->Delete(
                            resource, ns, name, options,
                            [s, resource, ns, name, done = std::move(done)](Status deleted) {
                              if (!deleted.ok() && deleted.code() != StatusCode::kNotFound) {
                                return done(s->Wrap(resource, ns, name, deleted));
                              }
                              {
                                std::lock_guard<std::mutex> lock(s->mu);
                                s->last.erase(Shared::Key(resource, ns, name));
                              }
                              done(OkStatus());
                            });
                      });
}

void ObjectSync::Read(const kube::Resource& resource, std::string ns, std::string name,
                      StatusOrCallback<json> done) {
  auto s = shared_;
  s->env->client->Get(resource, ns, name,
                      [s, resource, ns, name, done = std::move(done)](StatusOr<json> got) {
                        if (!got) return done(Fail(s->Wrap(resource, ns, name, got.error())));
                        done(std::move(got));
                      });
}

// ---- helpers ----

void RunInOrder(std::shared_ptr<std::vector<AsyncStep>> steps, StatusCallback done) {
  RunIndexed(
      steps->size(), [steps](size_t i, StatusCallback next) { (*steps)[i](std::move(next)); },
      std::move(done));
}

namespace {

void RunIndexedFrom(size_t i, size_t n, std::shared_ptr<const IndexedStep> step,
                    StatusCallback done) {
  if (i >= n) return done(OkStatus());
  (*step)(i, [i, n, step, done = std::move(done)](Status s) mutable {
    if (!s.ok()) return done(std::move(s));
    RunIndexedFrom(i + 1, n, std::move(step), std::move(done));
  });
}

void RunEachFrom(std::shared_ptr<std::vector<AsyncStep>> steps, size_t i,
                 std::shared_ptr<std::vector<Status>> errors, StatusCallback done) {
  if (i >= steps->size()) {
    if (errors->empty()) return done(OkStatus());
    if (errors->size() == 1) return done(errors->front());
    std::string message = fmt::format("{} errors:", errors->size());
    for (const Status& e : *errors) message += " [" + e.message() + "]";
    return done(Status(errors->front().code(), message));
  }
  (*steps)[i]([steps, i, errors, done = std::move(done)](Status s) mutable {
    if (!s.ok()) errors->push_back(s);
    RunEachFrom(steps, i + 1, errors, std::move(done));
  });
}

}  // namespace

void RunIndexed(size_t n, IndexedStep step, StatusCallback done) {
  RunIndexedFrom(0, n, std::make_shared<const IndexedStep>(std::move(step)), std::move(done));
}

void RunEach(std::shared_ptr<std::vector<AsyncStep>> steps, StatusCallback done) {
  RunEachFrom(std::move(steps), 0, std::make_shared<std::vector<Status>>(), std::move(done));
}

StatusOr<std::string> ConfigString(const json& config, const char* key, std::string_view router) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return Fail(InvalidArgumentError(fmt::format("{}.{}: expected a string", router, key)));
  }
  return it->get<std::string>();
}

StatusOr<std::vector<std::string>> ConfigNames(const json& config, const char* key,
                                               std::string_view router, std::string_view what) {
  std::vector<std::string> out;
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return out;
  if (!it->is_array()) {
    return Fail(
        InvalidArgumentError(fmt::format("{}.{}: expected a list of {} names", router, key, what)));
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& name = (*it)[i];
    if (!name.is_string() || name.get<std::string>().empty()) {
      return Fail(InvalidArgumentError(fmt::format(
          "{}.{}[{}]: expected a name (a non-empty string), got {}", router, key, i, name.dump())));
    }
    out.push_back(name.get<std::string>());
  }
  return out;
}

StatusOr<IngressApi> IngressApiFor(std::string_view router, const std::string& version) {
  IngressApi api;
  if (version == "networking.k8s.io/v1" || version == "networking/v1") {
    api.resource = MakeResource("networking.k8s.io", "v1", "ingresses", "Ingress");
  } else if (version == "extensions/v1beta1") {
    api.resource = MakeResource("extensions", "v1beta1", "ingresses", "Ingress");
    api.legacy = true;
  } else {
    return Fail(InvalidArgumentError(fmt::format(
        "{}: unsupported Ingress API version \"{}\" (networking.k8s.io/v1 or extensions/v1beta1)",
        router, version)));
  }
  return api;
}

std::string Describe(const kube::Resource& resource, std::string_view ns, std::string_view name) {
  if (ns.empty()) return fmt::format("{} {}", resource.kind, name);
  return fmt::format("{} {}/{}", resource.kind, ns, name);
}

std::string_view ShortHost(std::string_view host) {
  const size_t dot = host.find('.');
  return dot == std::string_view::npos ? host : host.substr(0, dot);
}

int32_t StableWeight(int32_t max_weight, int32_t weight,
                     const std::vector<WeightDestination>& additional) {
  int32_t rest = max_weight - weight;
  for (const WeightDestination& d : additional) rest -= d.weight;
  return std::max(rest, 0);
}

kube::Resource MakeResource(std::string group, std::string version, std::string plural,
                            std::string kind) {
  kube::Resource r;
  r.group = std::move(group);
  r.version = std::move(version);
  r.plural = std::move(plural);
  r.kind = std::move(kind);
  r.namespaced = true;
  return r;
}

std::pair<std::string, std::string> SplitApiVersion(std::string_view api_version) {
  const size_t slash = api_version.find('/');
  if (slash == std::string_view::npos) return {"", std::string(api_version)};
  return {std::string(api_version.substr(0, slash)), std::string(api_version.substr(slash + 1))};
}

}  // namespace ramp::kube_traffic
