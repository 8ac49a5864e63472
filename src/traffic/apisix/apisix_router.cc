#include "traffic/apisix/apisix_router.h"

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;

constexpr char kRouter[] = "apisix";

// spec.http of an ApisixRoute, or nullptr.
json* HttpRules(json& route) {
  if (!route.is_object() || !route.contains("spec") || !route["spec"].is_object()) return nullptr;
  json& spec = route["spec"];
  if (!spec.contains("http") || !spec["http"].is_array()) return nullptr;
  return &spec["http"];
}

StatusOr<json*> FindRule(json& http, const std::string& name) {
  for (json& rule : http) {
    if (rule.is_object() && rule.contains("name") && rule["name"] == name) {
      if (!rule.contains("backends") || !rule["backends"].is_array()) {
        return Fail(
            FailedPreconditionError(fmt::format("spec.http rule {} has no backends list", name)));
      }
      return &rule;
    }
  }
  return Fail(FailedPreconditionError(fmt::format("spec.http has no rule named {}", name)));
}

// The first backend of `rule` whose serviceName is `service`, or an error naming it.
StatusOr<json*> FindBackend(json& rule, const std::string& service) {
  for (json& b : rule["backends"]) {
    if (b.is_object() && b.contains("serviceName") && b["serviceName"] == service) return &b;
  }
  return Fail(
      FailedPreconditionError(fmt::format("spec.http rule {} has no backend with serviceName {}",
                                          rule["name"].get<std::string>(), service)));
}

std::optional<int64_t> WeightOf(const json& backend) {
  if (!backend.contains("weight") || !backend["weight"].is_number_integer()) return std::nullopt;
  return backend["weight"].get<int64_t>();
}

std::string StringMatchText(const StringMatch& m) {
  return fmt::format("{} \"{}\"", StringMatchKindName(m.kind), m.value);
}

class ApisixRouter : public Router {
 public:
  ApisixRouter(Env env, std::string route, std::vector<std::string> rules)
      : env_(std::move(env)),
        sync_(env_, kRouter),
        route_(std::move(route)),
        rules_(std::move(rules)),
        resource_(MakeResource("apisix.apache.org", env_.versions.apisix, "apisixroutes",
                               "ApisixRoute")) {}

  std::string_view Type() const override { return "Apisix"; }

  void SetWeight(int32_t weight, const std::vector<WeightDestination>&,
                 StatusCallback done) override {
    auto steps = std::make_shared<std::vector<AsyncStep>>();
    steps->push_back([sync = sync_, resource = resource_, ns = Ns(), name = route_, rules = rules_,
                      canary = env_.context.canary_service, stable = env_.context.stable_service,
                      weight](StatusCallback next) mutable {
      sync.Converge(
          resource, ns, name,
          [rules, canary, stable, weight](json& route) {
            return SetApisixWeights(route, rules, canary, stable, weight);
          },
          std::move(next));
    });
    // The header routes still active are put back as they should be.
    for (const auto& [name, route] : active_) steps->push_back(ConvergeHeaderRoute(route));
    RunInOrder(steps, std::move(done));
  }

  void SetHeaderRoute(const HeaderRoute& route, StatusCallback done) override {
    if (route.name.empty()) {
      return done(InvalidArgumentError("apisix: a header route needs a name"));
    }
    if (route.name == route_) {
      return done(InvalidArgumentError(
          fmt::format("apisix: header route {} would replace the rollout's own ApisixRoute {}",
                      route.name, route_)));
    }
    for (const HeaderMatch& m : route.matches) {
      if (m.header_name.empty() || m.header_value.value.empty()) {
        return done(InvalidArgumentError(fmt::format(
            "apisix: header route {}: every match needs a header name and a value (got {} {})",
            route.name, m.header_name.empty() ? "no name" : m.header_name,
            StringMatchText(m.header_value))));
      }
    }
    if (route.matches.empty()) {
      active_.erase(route.name);
      return sync_.DeleteOwned(resource_, Ns(), route.name, std::move(done));
    }
    active_[route.name] = route;
    ConvergeHeaderRoute(route)(std::move(done));
  }

  void SetMirrorRoute(const MirrorRoute&, StatusCallback done) override {
    done(UnimplementedError("apisix: mirror routes are not supported (istio has them)"));
  }

  void RemoveManagedRoutes(StatusCallback done) override {
    std::set<std::string> names(env_.context.managed_routes.begin(),
                                env_.context.managed_routes.end());
    for (const auto& [name, route] : active_) names.insert(name);
    active_.clear();
    auto steps = std::make_shared<std::vector<AsyncStep>>();
    for (const std::string& name : names) {
      if (name == route_) continue;  // never the rollout's own route
      steps->push_back(
          [sync = sync_, resource = resource_, ns = Ns(), name](StatusCallback next) mutable {
            sync.DeleteOwned(resource, ns, name, std::move(next));
          });
    }
    RunInOrder(steps, std::move(done));
  }

  void VerifyWeight(int32_t weight, const std::vector<WeightDestination>&,
                    StatusOrCallback<WeightCheck> done) override {
    const std::string what = Describe(resource_, Ns(), route_);
    sync_.Read(resource_, Ns(), route_,
               [what, weight, rules = rules_, canary = env_.context.canary_service,
                stable = env_.context.stable_service, done = std::move(done)](StatusOr<json> got) {
                 if (!got) return done(Fail(got.error()));
                 // What SetWeight would change is what is not in effect.
                 json copy = *got;
                 StatusOr<bool> differs = SetApisixWeights(copy, rules, canary, stable, weight);
                 if (!differs) {
                   return done(Fail(
                       Status(differs.error().code(),
                              fmt::format("apisix: {}: {}", what, differs.error().message()))));
                 }
                 WeightCheck check;
                 std::vector<std::string> found;
                 json* http = HttpRules(*got);
                 for (const std::string& r : rules) {
                   auto rule = FindRule(*http, r);
                   auto c = FindBackend(**rule, canary);
                   auto s = FindBackend(**rule, stable);
                   const auto cw = WeightOf(**c);
                   const auto sw = WeightOf(**s);
                   if (cw && !check.observed_weight) check.observed_weight = *cw;
                   found.push_back(fmt::format("rule {}: {} {}, {} {}", r, canary,
                                               cw ? std::to_string(*cw) : "unset", stable,
                                               sw ? std::to_string(*sw) : "unset"));
                 }
                 if (!*differs) {
                   check.verification = WeightVerification::kVerified;
                 } else {
                   check.verification = WeightVerification::kNotVerified;
                   std::string list;
                   for (const std::string& f : found) list += (list.empty() ? "" : "; ") + f;
                   check.message = fmt::format("{} has {}, not {} {} and {} {}", what, list, canary,
                                               weight, stable, 100 - weight);
                 }
                 done(check);
               });
  }

 private:
  const std::string& Ns() const { return env_.context.rollout.namespace_; }

  // Reads the base route, clones the header route from it and converges the header route's
  // ApisixRoute (created, controlled by the Rollout, when absent).
  AsyncStep ConvergeHeaderRoute(const HeaderRoute& route) const {
    return [sync = sync_, resource = resource_, ns = Ns(), base_name = route_, rules = rules_,
            canary = env_.context.canary_service, stable = env_.context.stable_service,
            route](StatusCallback done) mutable {
      sync.Read(resource, ns, base_name,
                [sync, resource, ns, base_name, rules, canary, stable, route,
                 done = std::move(done)](StatusOr<json> base) mutable {
                  if (!base) return done(base.error());
                  StatusOr<json> spec = ApisixHeaderRouteSpec(*base, rules, canary, stable, route);
                  if (!spec) {
                    return done(Status(
                        spec.error().code(),
                        fmt::format("apisix: header route {}: {}: {}", route.name,
                                    Describe(resource, ns, base_name), spec.error().message())));
                  }
                  json meta = json::object();
                  for (const char* key : {"labels", "annotations"}) {
                    if (base->contains("metadata") && (*base)["metadata"].contains(key)) {
                      meta[key] = (*base)["metadata"][key];
                    }
                  }
                  sync.Ensure(
                      resource, ns, route.name,
                      [meta] {
                        return json{{"metadata", meta}};
                      },
                      [spec = *spec](json& object) -> StatusOr<bool> {
                        if (object.contains("spec") && object["spec"] == spec) return false;
                        object["spec"] = spec;
                        return true;
                      },
                      std::move(done));
                });
    };
  }

  Env env_;
  ObjectSync sync_;
  std::string route_;
  std::vector<std::string> rules_;
  kube::Resource resource_;
  std::map<std::string, HeaderRoute> active_;  // header routes set and not removed
};

}  // namespace

StatusOr<bool> SetApisixWeights(json& apisix_route, const std::vector<std::string>& rules,
                                const std::string& canary, const std::string& stable,
                                int32_t weight) {
  json* http = HttpRules(apisix_route);
  if (http == nullptr) return Fail(FailedPreconditionError("it has no spec.http rules"));
  bool changed = false;
  for (const std::string& name : rules) {
    auto rule = FindRule(*http, name);
    if (!rule) return Fail(rule.error());
    for (const auto& [service, w] :
         {std::pair<std::string, int64_t>(canary, weight),
          std::pair<std::string, int64_t>(stable, 100 - int64_t{weight})}) {
      auto backend = FindBackend(**rule, service);
      if (!backend) return Fail(backend.error());
      if (WeightOf(**backend) != w) {
        (**backend)["weight"] = w;
        changed = true;
      }
    }
  }
  return changed;
}

json ApisixHeaderExprs(const HeaderRoute& route) {
  json exprs = json::array();
  for (const HeaderMatch& m : route.matches) {
    json e = {{"subject", {{"scope", "Header"}, {"name", m.header_name}}}};
    switch (m.header_value.kind) {
      case StringMatch::Kind::kExact:
        e["op"] = "Equal";
        e["value"] = m.header_value.value;
        break;
      case StringMatch::Kind::kRegex:
        e["op"] = "RegexMatch";
        e["value"] = m.header_value.value;
        break;
      case StringMatch::Kind::kPrefix:
        e["op"] = "RegexMatch";
        e["value"] = "^" + m.header_value.value + ".*";
        break;
    }
    exprs.push_back(std::move(e));
  }
  return exprs;
}

StatusOr<json> ApisixHeaderRouteSpec(const json& base, const std::vector<std::string>& rules,
                                     const std::string& canary, const std::string& stable,
                                     const HeaderRoute& route) {
  json copy = base;
  json* http = HttpRules(copy);
  if (http == nullptr) return Fail(FailedPreconditionError("it has no spec.http rules"));
  const json exprs = ApisixHeaderExprs(route);
  for (const std::string& name : rules) {
    auto rule = FindRule(*http, name);
    if (!rule) return Fail(rule.error());
    json& r = **rule;
    auto backend = FindBackend(r, canary);
    if (!backend) return Fail(backend.error());
    (**backend)["weight"] = 100;
    json kept = json::array();
    for (json& b : r["backends"]) {
      if (!(b.is_object() && b.contains("serviceName") && b["serviceName"] == stable)) {
        kept.push_back(std::move(b));
      }
    }
    r["backends"] = std::move(kept);
    const int64_t priority = r.contains("priority") && r["priority"].is_number_integer()
                                 ? r["priority"].get<int64_t>()
                                 : 0;
    r["priority"] = priority + 1;
    if (!r.contains("match") || !r["match"].is_object()) r["match"] = json::object();
    r["match"]["exprs"] = exprs;
  }
  return copy["spec"];
}

StatusOr<std::unique_ptr<Router>> NewApisixRouter(Env env) {
  if (!env.config.is_object()) {
    return Fail(InvalidArgumentError("apisix: expected an object {route: {name, rules}}"));
  }
  const json& route = env.config.value("route", json());
  if (!route.is_object()) {
    return Fail(InvalidArgumentError(route.is_null() ? "apisix.route: required"
                                                     : "apisix.route: expected an object"));
  }
  const json& name = route.value("name", json());
  if (!name.is_string() || name.get<std::string>().empty()) {
    return Fail(InvalidArgumentError(name.is_null() || name.is_string()
                                         ? "apisix.route.name: required"
                                         : "apisix.route.name: expected a string"));
  }
  std::vector<std::string> rules;
  if (route.contains("rules") && !route["rules"].is_null()) {
    const json& list = route["rules"];
    if (!list.is_array()) {
      return Fail(InvalidArgumentError("apisix.route.rules: expected a list of rule names"));
    }
    for (size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string() || list[i].get<std::string>().empty()) {
        return Fail(
            InvalidArgumentError(fmt::format("apisix.route.rules[{}]: expected a rule name", i)));
      }
      rules.push_back(list[i].get<std::string>());
    }
    if (rules.empty()) {
      return Fail(InvalidArgumentError(
          "apisix.route.rules: empty (omit it to use the rule named like the route)"));
    }
  } else {
    rules.push_back(name.get<std::string>());
  }
  if (env.context.canary_service.empty() || env.context.stable_service.empty()) {
    return Fail(InvalidArgumentError(
        "apisix: the canary needs canaryService and stableService to weigh traffic between"));
  }
  if (env.context.max_weight != 100) {
    return Fail(InvalidArgumentError(fmt::format(
        "apisix: maxTrafficWeight {} is not supported (APISIX weighs canary and stable out of "
        "100; only nginx and plugins honour maxTrafficWeight)",
        env.context.max_weight)));
  }
  if (env.versions.apisix.empty()) {
    return Fail(InvalidArgumentError("apisix: the ApisixRoute API version is empty"));
  }
  return std::unique_ptr<Router>(
      std::make_unique<ApisixRouter>(std::move(env), name.get<std::string>(), std::move(rules)));
}

}  // namespace ramp::kube_traffic
