#include "traffic/ambassador/ambassador_router.h"

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;

constexpr char kRouter[] = "ambassador";

std::optional<int64_t> WeightOf(const json& mapping) {
  if (!mapping.is_object() || !mapping.contains("spec") || !mapping["spec"].is_object()) {
    return std::nullopt;
  }
  const json& spec = mapping["spec"];
  if (!spec.contains("weight") || !spec["weight"].is_number_integer()) return std::nullopt;
  return spec["weight"].get<int64_t>();
}

std::string ResourceVersionOf(const json& object) {
  if (!object.contains("metadata") || !object["metadata"].is_object()) return "";
  return object["metadata"].value("resourceVersion", "");
}

// The state the router and its delayed deletes share.
struct Shared {
  Shared(Env e, kube::Resource r) : env(std::move(e)), sync(env, kRouter), resource(std::move(r)) {}

  const std::string& Ns() const { return env.context.rollout.namespace_; }

  // Refuses a canary Mapping that another object controls (one without a controller, as Argo
  // creates them, is the rollout's).
  Status CheckNotForeign(const json& canary, const std::string& name) const {
    const std::string controller = RolloutOwner::ControllerOf(canary);
    if (controller.empty() || env.owner->Controls(canary)) return OkStatus();
    return FailedPreconditionError(
        fmt::format("{}: {} exists and is controlled by {}, not by rollout {}", kRouter,
                    Describe(resource, Ns(), name), controller, env.context.rollout.name));
  }

  // Cancels the delayed delete of `name`, if any.
  void CancelDelete(const std::string& name) {
    Timers::TimerId timer = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = pending.find(name);
      if (it == pending.end()) return;
      timer = it->second.timer;
      pending.erase(it);
    }
    // A callback already running finds its entry gone and does nothing.
    env.timers->Cancel(timer);
  }

  // Schedules the delete of `name` in kAmbassadorCanaryDeleteDelay unless one is pending.
  static void ScheduleDelete(const std::shared_ptr<Shared>& s, const std::string& name) {
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->pending.count(name) > 0) return;
    const uint64_t generation = ++s->generation;
    const Timers::TimerId id =
        s->env.timers->ScheduleAt(s->env.clock->Now() + kAmbassadorCanaryDeleteDelay,
                                  [s, name, generation] { DelayedDelete(s, name, generation); });
    s->pending[name] = Pending{id, generation};
  }

  // The delayed delete: only a canary Mapping still at weight 0 goes. Failures are left for
  // the next SetWeight(0), which finds the Mapping and schedules its delete again.
  static void DelayedDelete(const std::shared_ptr<Shared>& s, const std::string& name,
                            uint64_t generation) {
    {
      std::lock_guard<std::mutex> lock(s->mu);
      auto it = s->pending.find(name);
      if (it == s->pending.end() || it->second.generation != generation) return;
      s->pending.erase(it);
    }
    s->env.client->Get(s->resource, s->Ns(), name, [s, name](StatusOr<json> got) {
      if (!got) return;
      if (!s->CheckNotForeign(*got, name).ok() || WeightOf(*got).value_or(0) != 0) return;
      kube::DeleteOptions options;
      options.precondition_resource_version = ResourceVersionOf(*got);
      // Deleted by ramp's own hand: a later canary Mapping is a new one, not a set-back.
      s->sync.Forget(s->resource, s->Ns(), name);
      s->env.client->Delete(s->resource, s->Ns(), name, options, [](Status) {});
    });
  }

  struct Pending {
    Timers::TimerId timer = 0;
    uint64_t generation = 0;
  };

  Env env;
  ObjectSync sync;
  kube::Resource resource;
  std::mutex mu;
  std::map<std::string, Pending> pending;  // guarded by mu: canary Mapping → its delete
  uint64_t generation = 0;                 // guarded by mu
};

class AmbassadorRouter : public Router {
 public:
  AmbassadorRouter(std::shared_ptr<Shared> shared, std::vector<std::string> mappings)
      : s_(std::move(shared)), mappings_(std::move(mappings)) {}

  std::string_view Type() const override { return "Ambassador"; }

  void SetWeight(int32_t weight, const std::vector<WeightDestination>&,
                 StatusCallback done) override {
    auto steps = std::make_shared<std::vector<AsyncStep>>();
    for (const std::string& base : mappings_) {
      steps->push_back([s = s_, base, weight](StatusCallback next) {
        if (weight > 0) return Raise(s, base, weight, std::move(next));
        Lower(s, base, std::move(next));
      });
    }
    RunEach(steps, std::move(done));
  }

  void SetHeaderRoute(const HeaderRoute&, StatusCallback done) override {
    done(UnimplementedError(
        "ambassador: Mappings have no header routes here (istio, apisix and the Gateway API "
        "have them)"));
  }
  void SetMirrorRoute(const MirrorRoute&, StatusCallback done) override {
    done(UnimplementedError("ambassador: Mappings have no mirror routes here (istio has them)"));
  }
  void RemoveManagedRoutes(StatusCallback done) override { done(OkStatus()); }

  void VerifyWeight(int32_t weight, const std::vector<WeightDestination>&,
                    StatusOrCallback<WeightCheck> done) override {
    auto check = std::make_shared<WeightCheck>();
    check->verification = WeightVerification::kVerified;
    auto steps = std::make_shared<std::vector<AsyncStep>>();
    for (const std::string& base : mappings_) {
      steps->push_back([s = s_, base, weight, check](StatusCallback next) {
        const std::string name = AmbassadorCanaryName(base);
        s->env.client->Get(s->resource, s->Ns(), name,
                           [s, name, weight, check, next = std::move(next)](StatusOr<json> got) {
                             if (!got && got.error().code() != StatusCode::kNotFound) {
                               return next(Status(got.error().code(),
                                                  fmt::format("{}: {}: {}", kRouter,
                                                              Describe(s->resource, s->Ns(), name),
                                                              got.error().message())));
                             }
                             std::optional<int64_t> have;
                             if (got) have = WeightOf(*got).value_or(0);
                             if (!check->observed_weight) {
                               check->observed_weight = static_cast<int32_t>(have.value_or(0));
                             }
                             const bool ok = weight == 0 ? have.value_or(0) == 0 : have == weight;
                             if (!ok) {
                               check->verification = WeightVerification::kNotVerified;
                               if (!check->message.empty()) check->message += "; ";
                               check->message +=
                                   got ? fmt::format("{} has weight {}, not {}",
                                                     Describe(s->resource, s->Ns(), name), *have,
                                                     weight)
                                       : fmt::format("{} does not exist (wanted weight {})",
                                                     Describe(s->resource, s->Ns(), name), weight);
                             }
                             next(OkStatus());
                           });
      });
    }
    RunEach(steps, [check, done = std::move(done)](Status s) {
      if (!s.ok()) return done(Fail(s));
      done(*check);
    });
  }

 private:
  // Weight > 0: the canary Mapping is created or converged from the base.
  static void Raise(std::shared_ptr<Shared> s, const std::string& base, int32_t weight,
                    StatusCallback done) {
    const std::string name = AmbassadorCanaryName(base);
    s->CancelDelete(name);
    s->sync.Read(
        s->resource, s->Ns(), base,
        [s, base, name, weight, done = std::move(done)](StatusOr<json> read) mutable {
          if (!read) return done(read.error());
          StatusOr<json> spec = AmbassadorCanarySpec(*read, s->env.context.canary_service,
                                                     s->env.context.stable_service, weight);
          if (!spec) {
            return done(
                Status(spec.error().code(),
                       fmt::format("{}: {}: {}", kRouter, Describe(s->resource, s->Ns(), base),
                                   spec.error().message())));
          }
          Mutation mutate = [spec = *spec](json& m) -> StatusOr<bool> {
            if (m.contains("spec") && m["spec"] == spec) return false;
            m["spec"] = spec;
            return true;
          };
          s->env.client->Get(
              s->resource, s->Ns(), name,
              [s, name, spec = *spec, mutate, done = std::move(done)](StatusOr<json> got) mutable {
                if (got) {
                  if (Status f = s->CheckNotForeign(*got, name); !f.ok()) return done(f);
                  return s->sync.Converge(s->resource, s->Ns(), name, mutate, std::move(done));
                }
                if (got.error().code() != StatusCode::kNotFound) {
                  return done(Status(
                      got.error().code(),
                      fmt::format("{}: {}: {}", kRouter, Describe(s->resource, s->Ns(), name),
                                  got.error().message())));
                }
                s->sync.Create(s->resource, s->Ns(), name, json{{"spec", spec}}, mutate,
                               std::move(done));
              });
        });
  }

  // Weight 0: an existing canary Mapping gets weight 0 and its delete is scheduled.
  static void Lower(std::shared_ptr<Shared> s, const std::string& base, StatusCallback done) {
    const std::string name = AmbassadorCanaryName(base);
    s->env.client->Get(
        s->resource, s->Ns(), name, [s, name, done = std::move(done)](StatusOr<json> got) mutable {
          if (!got && got.error().code() == StatusCode::kNotFound) return done(OkStatus());
          if (!got) {
            return done(Status(got.error().code(), fmt::format("{}: {}: {}", kRouter,
                                                               Describe(s->resource, s->Ns(), name),
                                                               got.error().message())));
          }
          if (Status f = s->CheckNotForeign(*got, name); !f.ok()) return done(f);
          s->sync.Converge(
              s->resource, s->Ns(), name,
              [](json& m) -> StatusOr<bool> {
                if (WeightOf(m) == 0) return false;
                if (!m.contains("spec") || !m["spec"].is_object()) m["spec"] = json::object();
                m["spec"]["weight"] = 0;
                return true;
              },
              [s, name, done = std::move(done)](Status converged) {
                if (converged.ok()) Shared::ScheduleDelete(s, name);
                done(converged);
              });
        });
  }

  std::shared_ptr<Shared> s_;
  std::vector<std::string> mappings_;
};

}  // namespace

std::string AmbassadorCanaryName(const std::string& mapping) {
  return mapping.substr(0, 246) + "-canary";
}

StatusOr<json> AmbassadorCanarySpec(const json& base, const std::string& canary,
                                    const std::string& stable, int32_t weight) {
  if (!base.contains("spec") || !base["spec"].is_object()) {
    return Fail(FailedPreconditionError("it has no spec"));
  }
  json spec = base["spec"];
  if (const auto w = WeightOf(base); w && *w != 0) {
    return Fail(FailedPreconditionError(fmt::format(
        "it sets spec.weight {}; a mapping the rollout routes must not set a weight (the canary "
        "weight goes to the canary Mapping ramp adds)",
        *w)));
  }
  const json& service = spec.value("service", json());
  if (!service.is_string()) {
    return Fail(FailedPreconditionError("it has no spec.service"));
  }
  std::string svc = service.get<std::string>();
  const size_t at = svc.find(stable);
  if (stable.empty() || at == std::string::npos) {
    return Fail(FailedPreconditionError(
        fmt::format("its spec.service \"{}\" does not name the stable Service {}", svc, stable)));
  }
  svc.replace(at, stable.size(), canary);
  spec["service"] = svc;
  spec["weight"] = weight;
  return spec;
}

StatusOr<std::unique_ptr<Router>> NewAmbassadorRouter(Env env) {
  if (!env.config.is_object()) {
    return Fail(InvalidArgumentError("ambassador: expected an object {mappings: [names]}"));
  }
  const json& list = env.config.value("mappings", json());
  if (!list.is_array()) {
    return Fail(InvalidArgumentError(list.is_null() ? "ambassador.mappings: required"
                                                    : "ambassador.mappings: expected a list of "
                                                      "Mapping names"));
  }
  std::vector<std::string> mappings;
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_string() || list[i].get<std::string>().empty()) {
      return Fail(
          InvalidArgumentError(fmt::format("ambassador.mappings[{}]: expected a Mapping name", i)));
    }
    mappings.push_back(list[i].get<std::string>());
  }
  if (mappings.empty()) {
    return Fail(InvalidArgumentError("ambassador.mappings: needs at least one Mapping"));
  }
  if (env.context.canary_service.empty() || env.context.stable_service.empty()) {
    return Fail(InvalidArgumentError(
        "ambassador: the canary needs canaryService and stableService to weigh traffic between"));
  }
  if (env.context.max_weight != 100) {
    return Fail(InvalidArgumentError(fmt::format(
        "ambassador: maxTrafficWeight {} is not supported (Mapping weights are percentages; "
        "only nginx and plugins honour maxTrafficWeight)",
        env.context.max_weight)));
  }
  if (env.timers == nullptr || env.clock == nullptr || env.owner == nullptr ||
      env.client == nullptr) {
    return Fail(InvalidArgumentError("ambassador: needs a client, timers, a clock and an owner"));
  }
  auto [group, version] = SplitApiVersion(env.versions.ambassador);
  if (group.empty()) group = "getambassador.io";
  if (version.empty()) {
    return Fail(InvalidArgumentError(
        fmt::format("ambassador: API version \"{}\" has no version", env.versions.ambassador)));
  }
  const bool x = group == "x.getambassador.io";
  kube::Resource resource = MakeResource(group, version, x ? "ambassadormappings" : "mappings",
                                         x ? "AmbassadorMapping" : "Mapping");
  auto shared = std::make_shared<Shared>(std::move(env), std::move(resource));
  return std::unique_ptr<Router>(
      std::make_unique<AmbassadorRouter>(std::move(shared), std::move(mappings)));
}

}  // namespace ramp::kube_traffic
