#include "traffic/traefik/traefik_router.h"

#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;

constexpr char kRouter[] = "traefik";

// The first entry of spec.weighted.services named `name`, or nullptr.
json* FindService(json& services, const std::string& name) {
  for (json& s : services) {
    if (s.is_object() && s.contains("name") && s["name"] == name) return &s;
  }
  return nullptr;
}

std::optional<int64_t> WeightOf(const json* service) {
  if (service == nullptr || !service->contains("weight")) return std::nullopt;
  const json& w = (*service)["weight"];
  if (!w.is_number_integer()) return std::nullopt;
  return w.get<int64_t>();
}

std::string WeightText(std::optional<int64_t> w) {
  return w ? std::to_string(*w) : std::string("none");
}

class TraefikRouter : public Router {
 public:
  TraefikRouter(Env env, std::string name, kube::Resource resource)
      : env_(std::move(env)),
        sync_(env_, kRouter),
        name_(std::move(name)),
        resource_(std::move(resource)) {}

  std::string_view Type() const override { return "Traefik"; }

  void SetWeight(int32_t weight, const std::vector<WeightDestination>&,
                 StatusCallback done) override {
    sync_.Converge(
        resource_, env_.context.rollout.namespace_, name_,
        [canary = env_.context.canary_service, stable = env_.context.stable_service,
         weight](json& service) { return SetTraefikWeights(service, canary, stable, weight); },
        std::move(done));
  }

  void SetHeaderRoute(const HeaderRoute&, StatusCallback done) override {
    done(UnimplementedError(
        "traefik: a weighted TraefikService has no header routes (istio, apisix and the Gateway "
        "API have them)"));
  }
  void SetMirrorRoute(const MirrorRoute&, StatusCallback done) override {
    done(UnimplementedError(
        "traefik: a weighted TraefikService has no mirror routes (istio has them)"));
  }
  void RemoveManagedRoutes(StatusCallback done) override { done(OkStatus()); }

  void VerifyWeight(int32_t weight, const std::vector<WeightDestination>&,
                    StatusOrCallback<WeightCheck> done) override {
    const std::string what = Describe(resource_, env_.context.rollout.namespace_, name_);
    sync_.Read(
        resource_, env_.context.rollout.namespace_, name_,
        [what, weight, canary = env_.context.canary_service, stable = env_.context.stable_service,
         done = std::move(done)](StatusOr<json> got) {
          if (!got) return done(Fail(got.error()));
          json services = json::array();
          if (got->contains("spec") && (*got)["spec"].is_object() &&
              (*got)["spec"].contains("weighted") && (*got)["spec"]["weighted"].is_object()) {
            services = (*got)["spec"]["weighted"].value("services", json::array());
          }
          if (!services.is_array()) services = json::array();
          const auto c = WeightOf(FindService(services, canary));
          const auto s = WeightOf(FindService(services, stable));
          WeightCheck check;
          if (c) check.observed_weight = static_cast<int32_t>(*c);
          if (c == weight && s == 100 - weight) {
            check.verification = WeightVerification::kVerified;
          } else {
            check.verification = WeightVerification::kNotVerified;
            check.message = fmt::format("{} weighs {} {} and {} {}, not {} and {}", what, canary,
                                        WeightText(c), stable, WeightText(s), weight, 100 - weight);
          }
          done(check);
        });
  }

 private:
  Env env_;
  ObjectSync sync_;
  std::string name_;
  kube::Resource resource_;
};

}  // namespace

StatusOr<bool> SetTraefikWeights(json& traefik_service, const std::string& canary,
                                 const std::string& stable, int32_t weight) {
  json* services = nullptr;
  if (traefik_service.contains("spec") && traefik_service["spec"].is_object()) {
    json& spec = traefik_service["spec"];
    if (spec.contains("weighted") && spec["weighted"].is_object() &&
        spec["weighted"].contains("services") && spec["weighted"]["services"].is_array()) {
      services = &spec["weighted"]["services"];
    }
  }
  if (services == nullptr) {
    return Fail(FailedPreconditionError(
        "it has no spec.weighted.services list (the router needs a weighted TraefikService)"));
  }
  bool changed = false;
  auto set = [&](const std::string& service, int64_t w) -> Status {
    json* entry = FindService(*services, service);
    if (entry == nullptr) {
      return FailedPreconditionError(fmt::format(
          "spec.weighted.services has no entry named {} (it must list the canary and the "
          "stable Service)",
          service));
    }
    if (!entry->contains("weight") || (*entry)["weight"] != w) {
      (*entry)["weight"] = w;
      changed = true;
    }
    return OkStatus();
  };
  if (Status s = set(canary, weight); !s.ok()) return Fail(s);
  if (Status s = set(stable, 100 - weight); !s.ok()) return Fail(s);
  return changed;
}

StatusOr<std::unique_ptr<Router>> NewTraefikRouter(Env env) {
  if (!env.config.is_object()) {
    return Fail(InvalidArgumentError("traefik: expected an object {weightedTraefikServiceName}"));
  }
  const json& name = env.config.value("weightedTraefikServiceName", json());
  if (!name.is_string()) {
    return Fail(InvalidArgumentError(
        name.is_null() ? "traefik.weightedTraefikServiceName: required"
                       : "traefik.weightedTraefikServiceName: expected a string"));
  }
  if (name.get<std::string>().empty()) {
    return Fail(InvalidArgumentError("traefik.weightedTraefikServiceName: must not be empty"));
  }
  if (env.context.canary_service.empty() || env.context.stable_service.empty()) {
    return Fail(InvalidArgumentError(
        "traefik: the canary needs canaryService and stableService to weigh traffic between"));
  }
  if (env.context.max_weight != 100) {
    return Fail(InvalidArgumentError(fmt::format(
        "traefik: maxTrafficWeight {} is not supported (Traefik weighs canary and stable out of "
        "100; only nginx and plugins honour maxTrafficWeight)",
        env.context.max_weight)));
  }
  if (env.versions.traefik_group.empty() || env.versions.traefik_version.empty()) {
    return Fail(
        InvalidArgumentError("traefik: the TraefikService API group and version are empty"));
  }
  // "traefik.io/v1alpha1" and "v1alpha1" both name the version v1alpha1.
  const std::string& v = env.versions.traefik_version;
  const std::string version = v.substr(v.rfind('/') + 1);
  kube::Resource resource =
      MakeResource(env.versions.traefik_group, version, "traefikservices", "TraefikService");
  return std::unique_ptr<Router>(std::make_unique<TraefikRouter>(
      std::move(env), name.get<std::string>(), std::move(resource)));
}

}  // namespace ramp::kube_traffic
