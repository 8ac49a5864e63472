#include "traffic/ingress_nginx/ingress_nginx_router.h"

#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;

constexpr char kRouter[] = "nginx";
constexpr char kIngressClassAnnotation[] = "kubernetes.io/ingress.class";
constexpr size_t kMaxNameLength = 253;
constexpr char kCanarySuffix[] = "-canary";

// The service a path's backend names ("" when it has none: a resource backend).
std::string BackendService(const json& path, bool legacy) {
  if (!path.is_object()) return "";
  auto backend = path.find("backend");
  if (backend == path.end() || !backend->is_object()) return "";
  if (legacy) {
    auto name = backend->find("serviceName");
    return name != backend->end() && name->is_string() ? name->get<std::string>() : "";
  }
  auto service = backend->find("service");
  if (service == backend->end() || !service->is_object()) return "";
  auto name = service->find("name");
  return name != service->end() && name->is_string() ? name->get<std::string>() : "";
}

void SetBackendService(json& path, bool legacy, const std::string& service) {
  if (legacy) {
    path["backend"]["serviceName"] = service;
  } else {
    path["backend"]["service"]["name"] = service;
  }
}

// metadata.annotations[key] of an object, "" when absent or not a string.
std::string AnnotationOf(const json& object, const std::string& key) {
  if (!object.is_object()) return "";
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto annotations = meta->find("annotations");
  if (annotations == meta->end() || !annotations->is_object()) return "";
  auto value = annotations->find(key);
  return value != annotations->end() && value->is_string() ? value->get<std::string>() : "";
}

// Rewrites a canary Ingress as read into the desired one: the router's annotations set (others
// kept, as Argo's getDesiredAnnotations merges them), no labels, the whole spec.
Mutation CanaryMutation(json desired) {
  return [desired = std::move(desired)](json& ingress) -> StatusOr<bool> {
    if (!ingress.is_object()) {
      return Fail(FailedPreconditionError("the API server answered with a non-object"));
    }
    const json before = ingress;
    json& meta = ingress["metadata"];
    if (!meta.is_object()) meta = json::object();
    json& annotations = meta["annotations"];
    if (!annotations.is_object()) annotations = json::object();
    for (const auto& [key, value] : desired.at("metadata").at("annotations").items()) {
      annotations[key] = value;
    }
    meta.erase("labels");
    ingress["spec"] = desired.at("spec");
    return ingress != before;
  };
}

StatusOr<std::map<std::string, std::string>> StringMap(const json& config, const char* key) {
  std::map<std::string, std::string> out;
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return out;
  if (!it->is_object()) {
    return Fail(InvalidArgumentError(
        fmt::format("{}.{}: expected a map of annotation names to strings", kRouter, key)));
  }
  for (const auto& [name, value] : it->items()) {
    if (!value.is_string()) {
      return Fail(InvalidArgumentError(
          fmt::format("{}.{}[\"{}\"]: expected a string", kRouter, key, name)));
    }
    out[name] = value.get<std::string>();
  }
  return out;
}

struct State {
  Env env;
  NginxIngressConfig config;
  ObjectSync sync;

  State(Env e, NginxIngressConfig c)
      : env(std::move(e)), config(std::move(c)), sync(env, kRouter) {}

  const std::string& ns() const { return env.context.rollout.namespace_; }
  std::string CanaryName(const std::string& stable) const {
    return NginxCanaryIngressName(env.context.rollout.name, stable);
  }
};

// Reads the stable Ingress and converges its canary Ingress to `weight`.
void EnsureCanary(std::shared_ptr<State> s, const std::string& stable_name, int32_t weight,
                  StatusCallback done) {
  s->sync.Read(s->config.resource, s->ns(), stable_name,
               [s, stable_name, weight, done = std::move(done)](StatusOr<json> stable) mutable {
                 if (!stable) return done(stable.error());
                 StatusOr<json> desired = NginxCanaryIngress(s->env, s->config, *stable, weight);
                 if (!desired) return done(desired.error());
                 s->sync.Ensure(
                     s->config.resource, s->ns(), s->CanaryName(stable_name),
                     [] { return json::object(); }, CanaryMutation(std::move(*desired)),
                     std::move(done));
               });
}

class NginxIngressRouter : public Router {
 public:
  NginxIngressRouter(Env env, NginxIngressConfig config)
      : s_(std::make_shared<State>(std::move(env), std::move(config))) {}

  std::string_view Type() const override { return "Nginx"; }

  void SetWeight(int32_t weight, const std::vector<WeightDestination>&,
                 StatusCallback done) override {
    auto s = s_;
    auto step = IndexedStep([s, weight](size_t i, StatusCallback next) {
      EnsureCanary(s, s->config.stable_ingresses[i], weight, std::move(next));
    });
    RunIndexed(s->config.stable_ingresses.size(), std::move(step), std::move(done));
  }

  void SetHeaderRoute(const HeaderRoute&, StatusCallback done) override {
    done(UnimplementedError(
        "nginx: ingress-nginx takes header routing only through "
        "nginx.additionalIngressAnnotations (canary-by-header, canary-by-header-value); "
        "setHeaderRoute steps are supported by istio, alb, apisix and the Gateway API plugin"));
  }

  void SetMirrorRoute(const MirrorRoute&, StatusCallback done) override {
    done(UnimplementedError(
        "nginx: the canary Ingress has no mirror routes; setMirrorRoute steps are supported by "
        "istio and the Gateway API plugin"));
  }

  void RemoveManagedRoutes(StatusCallback done) override { done(OkStatus()); }

  void VerifyWeight(int32_t weight, const std::vector<WeightDestination>&,
                    StatusOrCallback<WeightCheck> done) override {
    auto s = s_;
    auto check = std::make_shared<WeightCheck>();
    check->verification = WeightVerification::kVerified;
    const std::string weight_key = s->config.annotation_prefix + "/canary-weight";
    const std::string canary_key = s->config.annotation_prefix + "/canary";
    auto step =
        IndexedStep([s, check, weight, weight_key, canary_key](size_t i, StatusCallback next) {
          const std::string name = s->CanaryName(s->config.stable_ingresses[i]);
          s->sync.Read(s->config.resource, s->ns(), name,
                       [s, check, weight, weight_key, canary_key, name,
                        next = std::move(next)](StatusOr<json> canary) {
                         if (!canary) return next(canary.error());
                         const std::string have = AnnotationOf(*canary, weight_key);
                         const std::string is_canary = AnnotationOf(*canary, canary_key);
                         const std::string want = std::to_string(weight);
                         std::optional<int32_t> observed;
                         if (!have.empty()) observed = std::atoi(have.c_str());
                         if (have == want && is_canary == "true") {
                           if (!check->observed_weight) check->observed_weight = observed;
                           return next(OkStatus());
                         }
                         if (check->verification == WeightVerification::kVerified) {
                           check->observed_weight = observed;
                         }
                         check->verification = WeightVerification::kNotVerified;
                         if (!check->message.empty()) check->message += "; ";
                         check->message += fmt::format(
                             "{} has {}: \"{}\" and {}: \"{}\", not \"true\" and \"{}\"",
                             Describe(s->config.resource, s->ns(), name), canary_key, is_canary,
                             weight_key, have, want);
                         next(OkStatus());
                       });
        });
    RunIndexed(s->config.stable_ingresses.size(), std::move(step),
               [check, done = std::move(done)](Status st) {
                 if (!st.ok()) return done(Fail(std::move(st)));
                 done(*check);
               });
  }

 private:
  std::shared_ptr<State> s_;
};

}  // namespace

std::string NginxCanaryIngressName(std::string_view rollout, std::string_view stable_ingress) {
  if (stable_ingress.empty()) return "";
  std::string prefix = fmt::format("{}-{}", rollout, stable_ingress);
  const size_t limit = kMaxNameLength - (sizeof(kCanarySuffix) - 1);
  if (prefix.size() > limit) prefix.resize(limit);
  return prefix + kCanarySuffix;
}

StatusOr<json> NginxCanaryIngress(const Env& env, const NginxIngressConfig& config,
                                  const json& stable, int32_t weight) {
  const std::string& stable_service = env.context.stable_service;
  const std::string& canary_service = env.context.canary_service;
  const json meta = stable.is_object() ? stable.value("metadata", json::object()) : json::object();
  const json stable_spec = stable.is_object() ? stable.value("spec", json::object()) : json();

  json rules = json::array();
  if (stable_spec.is_object() && stable_spec.contains("rules") && stable_spec["rules"].is_array()) {
    for (const json& rule : stable_spec["rules"]) {
      if (!rule.is_object() || !rule.contains("http") || !rule["http"].is_object()) continue;
      json copy = rule;
      json& paths = copy["http"]["paths"];
      if (!paths.is_array()) continue;
      bool uses_stable = false;
      for (json& path : paths) {
        if (BackendService(path, config.legacy) == stable_service) {
          uses_stable = true;
          SetBackendService(path, config.legacy, canary_service);
        }
      }
      if (uses_stable) rules.push_back(std::move(copy));
    }
  }
  if (rules.empty()) {
    return Fail(FailedPreconditionError(fmt::format(
        "{}: {} has no rules using service {} as a backend", kRouter,
        Describe(config.resource, meta.value("namespace", env.context.rollout.namespace_),
                 meta.value("name", "")),
        stable_service)));
  }

  json spec = json::object();
  if (stable_spec.contains("tls") && stable_spec["tls"].is_array() && !stable_spec["tls"].empty()) {
    spec["tls"] = stable_spec["tls"];
  }
  if (stable_spec.contains("ingressClassName") && stable_spec["ingressClassName"].is_string()) {
    spec["ingressClassName"] = stable_spec["ingressClassName"];
  }
  spec["rules"] = std::move(rules);

  // In Argo's order: each later source overrides an earlier one.
  json annotations = json::object();
  if (const std::string cls = AnnotationOf(stable, kIngressClassAnnotation); !cls.empty()) {
    annotations[kIngressClassAnnotation] = cls;
  }
  const std::string& prefix = config.annotation_prefix;
  for (const auto& [key, value] : config.additional_annotations) {
    annotations[key.rfind(prefix, 0) == 0 ? key : prefix + "/" + key] = value;
  }
  for (const auto& [key, value] : config.canary_annotations) annotations[key] = value;
  annotations[prefix + "/canary"] = "true";
  annotations[prefix + "/canary-weight"] = std::to_string(weight);
  if (config.weight_total) {
    annotations[prefix + "/canary-weight-total"] = std::to_string(config.max_weight);
  }
  return json{{"metadata", {{"annotations", std::move(annotations)}}}, {"spec", std::move(spec)}};
}

StatusOr<NginxIngressConfig> ParseNginxIngressConfig(const Env& env) {
  NginxIngressConfig c;
  auto api = IngressApiFor(kRouter, env.versions.ingress);
  if (!api) return Fail(api.error());
  c.resource = api->resource;
  c.legacy = api->legacy;
  const json& config = env.config;
  if (!config.is_object()) {
    return Fail(InvalidArgumentError(
        fmt::format("{}: expected an object {{stableIngress | stableIngresses, annotationPrefix, "
                    "additionalIngressAnnotations, canaryIngressAnnotations}}",
                    kRouter)));
  }
  auto prefix = ConfigString(config, "annotationPrefix", kRouter);
  if (!prefix) return Fail(prefix.error());
  if (!prefix->empty()) c.annotation_prefix = *prefix;
  auto stable = ConfigString(config, "stableIngress", kRouter);
  if (!stable) return Fail(stable.error());
  auto names = ConfigNames(config, "stableIngresses", kRouter, "Ingress");
  if (!names) return Fail(names.error());
  c.stable_ingresses = std::move(*names);
  // As Argo: stableIngresses, when given, replaces stableIngress.
  if (c.stable_ingresses.empty() && !stable->empty()) c.stable_ingresses.push_back(*stable);
  if (c.stable_ingresses.empty()) {
    return Fail(InvalidArgumentError(fmt::format(
        "{}: stableIngress or stableIngresses must name the Ingress to canary", kRouter)));
  }
  auto additional = StringMap(config, "additionalIngressAnnotations");
  if (!additional) return Fail(additional.error());
  c.additional_annotations = std::move(*additional);
  auto canary = StringMap(config, "canaryIngressAnnotations");
  if (!canary) return Fail(canary.error());
  c.canary_annotations = std::move(*canary);
  if (env.context.stable_service.empty() || env.context.canary_service.empty()) {
    return Fail(InvalidArgumentError(fmt::format(
        "{}: the canary needs canaryService and stableService: the canary Ingress routes to the "
        "first the paths of the stable Ingress that use the second",
        kRouter)));
  }
  c.max_weight = env.context.max_weight;
  c.weight_total = env.context.max_weight != 100;
  return c;
}

StatusOr<std::unique_ptr<Router>> NewNginxIngressRouter(Env env) {
  auto config = ParseNginxIngressConfig(env);
  if (!config) return Fail(config.error());
  return std::unique_ptr<Router>(
      std::make_unique<NginxIngressRouter>(std::move(env), std::move(*config)));
}

}  // namespace ramp::kube_traffic
