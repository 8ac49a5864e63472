#include "traffic/smi/smi_router.h"

#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;

constexpr char kRouter[] = "smi";

json Weight(const std::string& version, int32_t w) {
  if (version == "v1alpha1") return std::to_string(w);  // a resource.Quantity
  return w;
}

class SmiRouter : public Router {
 public:
  SmiRouter(Env env, std::string split_name)
      : env_(std::move(env)),
        sync_(env_, kRouter),
        name_(std::move(split_name)),
        resource_(MakeResource("split.smi-spec.io", env_.versions.smi, "trafficsplits",
                               "TrafficSplit")) {}

  std::string_view Type() const override { return "SMI"; }

  void SetWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                 StatusCallback done) override {
    json spec = SmiTrafficSplitSpec(env_, weight, additional);
    sync_.Ensure(
        resource_, env_.context.rollout.namespace_, name_, [] { return json::object(); },
        [spec](json& split) -> StatusOr<bool> {
          if (split.contains("spec") && split["spec"] == spec) return false;
          split["spec"] = spec;
          return true;
        },
        std::move(done));
  }

  void SetHeaderRoute(const HeaderRoute&, StatusCallback done) override {
    done(UnimplementedError("smi: a TrafficSplit has no header routes"));
  }
  void SetMirrorRoute(const MirrorRoute&, StatusCallback done) override {
    done(UnimplementedError("smi: a TrafficSplit has no mirror routes"));
  }
  void RemoveManagedRoutes(StatusCallback done) override { done(OkStatus()); }

  void VerifyWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                    StatusOrCallback<WeightCheck> done) override {
    json spec = SmiTrafficSplitSpec(env_, weight, additional);
    const std::string what = Describe(resource_, env_.context.rollout.namespace_, name_);
    const std::string canary = env_.context.canary_service;
    sync_.Read(resource_, env_.context.rollout.namespace_, name_,
               [spec, what, canary, done = std::move(done)](StatusOr<json> split) {
                 if (!split) return done(Fail(split.error()));
                 WeightCheck check;
                 const json have = split->is_object() ? split->value("spec", json()) : json();
                 const json backends = have.is_object() ? have.value("backends", json()) : json();
                 for (const json& b : backends.is_array() ? backends : json::array()) {
                   if (b.is_object() && b.value("service", "") == canary) {
                     const json& w = b.value("weight", json());
                     if (w.is_number_integer()) check.observed_weight = w.get<int32_t>();
                     if (w.is_string())
                       check.observed_weight = std::atoi(w.get<std::string>().c_str());
                   }
                 }
                 if (have == spec) {
                   check.verification = WeightVerification::kVerified;
                 } else {
                   check.verification = WeightVerification::kNotVerified;
                   check.message =
                       fmt::format("{} has spec {}, not {}", what, have.dump(), spec.dump());
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

json SmiTrafficSplitSpec(const Env& env, int32_t weight,
                         const std::vector<WeightDestination>& additional) {
  const std::string& version = env.versions.smi;
  std::string root = env.config.value("rootService", "");
  if (root.empty()) root = env.context.stable_service;
  json backends = json::array();
  backends.push_back(
      {{"service", env.context.canary_service}, {"weight", Weight(version, weight)}});
  for (const WeightDestination& d : additional) {
    backends.push_back({{"service", d.service_name}, {"weight", Weight(version, d.weight)}});
  }
  backends.push_back(
      {{"service", env.context.stable_service},
       {"weight", Weight(version, StableWeight(env.context.max_weight, weight, additional))}});
  return json{{"service", root}, {"backends", std::move(backends)}};
}

StatusOr<std::unique_ptr<Router>> NewSmiRouter(Env env) {
  const std::string& v = env.versions.smi;
  if (v != "v1alpha1" && v != "v1alpha2" && v != "v1alpha3") {
    return Fail(InvalidArgumentError(fmt::format(
        "smi: unsupported TrafficSplit API version \"{}\" (v1alpha1, v1alpha2 or v1alpha3)", v)));
  }
  if (!env.config.is_object()) {
    return Fail(InvalidArgumentError("smi: expected an object {rootService, trafficSplitName}"));
  }
  for (const char* key : {"rootService", "trafficSplitName"}) {
    if (env.config.contains(key) && !env.config[key].is_string()) {
      return Fail(InvalidArgumentError(fmt::format("smi.{}: expected a string", key)));
    }
  }
  if (env.context.canary_service.empty() || env.context.stable_service.empty()) {
    return Fail(InvalidArgumentError(
        "smi: the canary needs canaryService and stableService to split traffic between"));
  }
  std::string name = env.config.value("trafficSplitName", "");
  if (name.empty()) name = env.context.rollout.name;
  return std::unique_ptr<Router>(std::make_unique<SmiRouter>(std::move(env), std::move(name)));
}

}  // namespace ramp::kube_traffic
