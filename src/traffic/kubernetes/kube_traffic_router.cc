#include "traffic/kubernetes/kube_traffic_router.h"

#include <algorithm>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "traffic/kube_services/service_router.h"

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;

// Keys of trafficRouting that are not integrations.
bool IsSetting(std::string_view key) {
  return key == "managedRoutes" || key == "maxTrafficWeight" || key == "plugins";
}

using Routers = std::shared_ptr<std::vector<std::unique_ptr<Router>>>;

// Runs `step(router, next)` for each router in order; `done` gets the first error or OK.
void ForEach(Routers routers, std::function<void(Router& router, StatusCallback next)> step,
             StatusCallback done) {
  const size_t n = routers->size();
  RunIndexed(
      n,
      [routers = std::move(routers), step = std::move(step)](size_t i, StatusCallback next) {
        step(*(*routers)[i], std::move(next));
      },
      std::move(done));
}

class KubeTrafficRouter : public TrafficRouter {
 public:
  KubeTrafficRouter(std::unique_ptr<TrafficRouter> services, Routers routers)
      : services_(std::move(services)), routers_(std::move(routers)) {}

  std::string_view Type() const override { return kKubeTrafficRouterName; }

  void SetWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                 StatusCallback done) override {
    additional_ = additional;
    ForEach(
        routers_,
        [weight, additional](Router& r, StatusCallback next) {
          r.SetWeight(weight, additional, std::move(next));
        },
        std::move(done));
  }

  void SetHeaderRoute(const HeaderRoute& route, StatusCallback done) override {
    RouteCall(
        "header routes",
        [route](Router& r, StatusCallback next) { r.SetHeaderRoute(route, std::move(next)); },
        std::move(done));
  }

  void SetMirrorRoute(const MirrorRoute& route, StatusCallback done) override {
    RouteCall(
        "mirror routes",
        [route](Router& r, StatusCallback next) { r.SetMirrorRoute(route, std::move(next)); },
        std::move(done));
  }

  void RemoveManagedRoutes(StatusCallback done) override {
    ForEach(
        routers_,
        [](Router& r, StatusCallback next) {
          r.RemoveManagedRoutes([next = std::move(next)](Status s) {
            next(s.code() == StatusCode::kUnimplemented ? OkStatus() : s);
          });
        },
        std::move(done));
  }

  void SwitchService(ServiceRole role, std::string_view hash, StatusCallback done) override {
    const std::string h(hash);
    if (role == ServiceRole::kCanary && !h.empty()) canary_hash_ = h;
    if (role == ServiceRole::kStable && !h.empty()) stable_hash_ = h;
    const bool routed = role == ServiceRole::kCanary || role == ServiceRole::kStable;
    services_->SwitchService(
        role, hash,
        [routers = routers_, routed, canary = canary_hash_, stable = stable_hash_,
         additional = additional_, done = std::move(done)](Status s) mutable {
          if (!s.ok() || !routed) return done(s);
          ForEach(
              routers,
              [canary, stable, additional](Router& r, StatusCallback next) {
                r.UpdateHash(canary, stable, additional, std::move(next));
              },
              std::move(done));
        });
  }

  void SetRevisionEndpoints(std::string_view, const std::vector<std::string>&,
                            StatusCallback done) override {
    done(OkStatus());  // Services select their Pods themselves
  }

  void VerifyWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                    StatusOrCallback<WeightCheck> done) override {
    auto checks = std::make_shared<std::vector<WeightCheck>>();
    ForEach(
        routers_,
        [weight, additional, checks](Router& r, StatusCallback next) {
          r.VerifyWeight(weight, additional,
                         [checks, next = std::move(next)](StatusOr<WeightCheck> c) {
                           if (!c) return next(c.error());
                           checks->push_back(*c);
                           next(OkStatus());
                         });
        },
        [checks, done = std::move(done)](Status s) {
          if (!s.ok()) return done(Fail(s));
          WeightCheck out;
          for (const WeightCheck& c : *checks) {
            if (c.verification == WeightVerification::kNotVerified) return done(c);
            if (c.verification == WeightVerification::kVerified) {
              out.verification = WeightVerification::kVerified;
              if (c.observed_weight) out.observed_weight = c.observed_weight;
            }
          }
          done(out);
        });
  }

 private:
  // A header or mirror route call: routers without such routes are skipped; kUnimplemented
  // only when every router lacks them.
  void RouteCall(std::string_view what, std::function<void(Router&, StatusCallback)> call,
                 StatusCallback done) {
    auto supported = std::make_shared<size_t>(0);
    auto names = std::make_shared<std::vector<std::string>>();
    ForEach(
        routers_,
        [call, supported, names](Router& r, StatusCallback next) {
          names->emplace_back(r.Type());
          call(r, [supported, next = std::move(next)](Status s) {
            if (s.code() == StatusCode::kUnimplemented) return next(OkStatus());
            if (s.ok()) ++*supported;
            next(s);
          });
        },
        [what = std::string(what), supported, names, done = std::move(done)](Status s) {
          if (!s.ok()) return done(s);
          if (*supported == 0) {
            return done(UnimplementedError(fmt::format(
                "{}: {} are not supported by {} (istio, apisix and the Gateway API have them; "
                "nginx takes a header route through additionalIngressAnnotations)",
                kKubeTrafficRouterName, what, fmt::join(*names, ", "))));
          }
          done(OkStatus());
        });
  }

  std::unique_ptr<TrafficRouter> services_;
  Routers routers_;
  std::string canary_hash_;
  std::string stable_hash_;
  std::vector<WeightDestination> additional_;
};

}  // namespace

StatusOr<std::unique_ptr<TrafficRouter>> NewKubeTrafficRouter(const KubeTrafficOptions& options,
                                                              const RouterContext& context) {
  kube::KubeClient* client = options.client;
  if (client == nullptr || options.timers == nullptr || options.clock == nullptr ||
      options.factories == nullptr) {
    return Fail(InvalidArgumentError(fmt::format(
        "{}: a Kubernetes client, timers, a clock and the router factories are required",
        kKubeTrafficRouterName)));
  }
  const RouterFactories& factories = *options.factories;
  const std::string where =
      fmt::format("rollout {}: spec.strategy.canary.trafficRouting", context.rollout.Key());
  json routing = json::parse(context.config_json, nullptr, false);
  if (!routing.is_object()) {
    return Fail(InvalidArgumentError(fmt::format("{}: not an object", where)));
  }
  auto services = kube_services::NewServiceRouter(client, context);
  if (!services) return Fail(services.error());
  auto owner = std::make_shared<RolloutOwner>(client, context.rollout);

  // Events about objects set back: on the Rollout, with its uid once known.
  auto changed_outside = [client, owner](std::string message) {
    owner->OwnerReference([client, owner, message](StatusOr<json> ref) {
      if (!ref) return;
      kube::EventRecord e;
      e.resource = kube::Rollouts();
      e.involved = {{"metadata",
                     {{"name", owner->rollout().name},
                      {"namespace", owner->rollout().namespace_},
                      {"uid", ref->value("uid", "")}}}};
      e.type = EventType::kWarning;
      e.reason = kReassertedReason;
      e.message = message;
      client->RecordEvent(e, [](Status) {});
    });
  };

  std::vector<std::pair<std::string, json>> sections;
  for (auto it = routing.begin(); it != routing.end(); ++it) {
    if (IsSetting(it.key())) continue;
    sections.emplace_back(it.key(), it.value());
  }
  if (auto plugins = routing.find("plugins"); plugins != routing.end() && plugins->is_object()) {
    for (auto it = plugins->begin(); it != plugins->end(); ++it) {
      if (it.key().rfind("ramp/", 0) == 0) continue;  // ramp's own routers run off Kubernetes
      sections.emplace_back("plugins/" + it.key(), it.value());
    }
  }
  auto routers = std::make_shared<std::vector<std::unique_ptr<Router>>>();
  for (const auto& [key, section] : sections) {
    auto factory = factories.find(key);
    if (factory == factories.end()) {
      std::vector<std::string> known;
      for (const auto& [name, f] : factories) known.push_back(name);
      return Fail(InvalidArgumentError(fmt::format(
          "{}.{}: ramp does not drive this traffic router on Kubernetes (it drives {})", where,
          key.rfind("plugins/", 0) == 0 ? "plugins[\"" + key.substr(8) + "\"]" : key,
          fmt::join(known, ", "))));
    }
    Env env;
    env.client = client;
    env.context = context;
    env.config = section.is_null() ? json::object() : section;
    env.versions = options.versions;
    env.timers = options.timers;
    env.clock = options.clock;
    env.owner = owner;
    env.changed_outside = changed_outside;
    auto made = factory->second(std::move(env));
    if (!made) {
      return Fail(Status(made.error().code(),
                         fmt::format("{}.{}: {}", where, key, made.error().message())));
    }
    routers->push_back(std::move(*made));
  }
  if (routers->empty()) {
    return Fail(InvalidArgumentError(
        fmt::format("{}: names no traffic router ramp drives on Kubernetes", where)));
  }
  return std::unique_ptr<TrafficRouter>(
      std::make_unique<KubeTrafficRouter>(std::move(*services), std::move(routers)));
}

}  // namespace ramp::kube_traffic
