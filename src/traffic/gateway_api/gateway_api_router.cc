#include "traffic/gateway_api/gateway_api_router.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;

constexpr char kRouter[] = "gatewayAPI";
constexpr char kInProgressLabelKey[] = "rollouts.argoproj.io/gatewayapi-canary";
constexpr char kInProgressLabelValue[] = "in-progress";

// ---- rules ----

std::string RuleName(const json& rule) {
  if (!rule.is_object() || !rule.contains("name") || !rule["name"].is_string()) return "";
  return rule["name"].get<std::string>();
}

const json& BackendRefs(const json& rule) {
  static const json kNone = json::array();
  if (!rule.is_object() || !rule.contains("backendRefs") || !rule["backendRefs"].is_array()) {
    return kNone;
  }
  return rule["backendRefs"];
}

bool RefNamed(const json& ref, const std::string& name) {
  return ref.is_object() && ref.contains("name") && ref["name"] == name;
}

bool HasRef(const json& rule, const std::string& name) {
  const json& refs = BackendRefs(rule);
  return std::any_of(refs.begin(), refs.end(), [&](const json& r) { return RefNamed(r, name); });
}

// Whether rule name `name` is managed route `route`'s: "<route>" or "<route>-<n>".
bool NameOf(const std::string& name, const std::string& route) {
  if (name == route) return true;
  if (name.size() <= route.size() + 1 || name.compare(0, route.size(), route) != 0 ||
      name[route.size()] != '-') {
    return false;
  }
  return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(route.size()) + 1, name.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

// An unnamed rule whose only backendRef is the canary: a header rule written where rule names
// are not kept (the plugin's fallback).
bool UnnamedCanaryRule(const json& rule, const std::string& canary) {
  const json& refs = BackendRefs(rule);
  return RuleName(rule).empty() && refs.size() == 1 && RefNamed(refs[0], canary);
}

// Whether `rule` is one of header route `h`'s rules.
bool OwnedBy(const json& rule, const HeaderRoute& h, const std::string& canary) {
  const std::string name = RuleName(rule);
  if (!name.empty()) return NameOf(name, h.name);
  if (!UnnamedCanaryRule(rule, canary) || h.matches.empty()) return false;
  for (const json& m : rule.value("matches", json::array())) {
    const json headers = m.is_object() ? m.value("headers", json::array()) : json::array();
    const bool all = std::all_of(h.matches.begin(), h.matches.end(), [&](const HeaderMatch& hm) {
      return std::any_of(headers.begin(), headers.end(), [&](const json& x) {
        return x.is_object() && x.contains("name") && x["name"] == hm.header_name;
      });
    });
    if (all) return true;
  }
  return false;
}

void Default(json& object, const char* key, const json& value) {
  if (!object.contains(key) || object[key].is_null()) object[key] = value;
}

// A rule as the API server stores it after applying the route CRDs' defaults, without its
// name: what two rules are compared by.
json Normalized(json rule, GatewayRouteKind kind) {
  if (!rule.is_object()) return rule;
  rule.erase("name");
  for (const char* list : {"filters", "matches"}) {
    if (rule.contains(list) && rule[list].is_array() && rule[list].empty()) rule.erase(list);
  }
  const bool http = kind == GatewayRouteKind::kHttp;
  if (http && !rule.contains("matches")) rule["matches"] = json::array({json::object()});
  if (rule.contains("matches") && rule["matches"].is_array()) {
    for (json& m : rule["matches"]) {
      if (!m.is_object()) continue;
      if (http) {
        Default(m, "path", json::object());
        if (m["path"].is_object()) {
          Default(m["path"], "type", "PathPrefix");
          Default(m["path"], "value", "/");
        }
      } else if (m.contains("method") && m["method"].is_object()) {
        Default(m["method"], "type", "Exact");
      }
      for (const char* list : {"headers", "queryParams"}) {
        if (!m.contains(list) || !m[list].is_array()) continue;
        for (json& x : m[list]) {
          if (x.is_object()) Default(x, "type", "Exact");
        }
      }
    }
  }
  if (rule.contains("backendRefs") && rule["backendRefs"].is_array()) {
    for (json& ref : rule["backendRefs"]) {
      if (!ref.is_object()) continue;
      Default(ref, "group", "");
      Default(ref, "kind", "Service");
      Default(ref, "weight", 1);
    }
  }
  return rule;
}

// Whether stored rule `have` is desired rule `want` (a name the server did not keep counts as
// the same).
bool SameRule(const json& have, const json& want, GatewayRouteKind kind) {
  const std::string name = RuleName(have);
  if (!name.empty() && name != RuleName(want)) return false;
  return Normalized(have, kind) == Normalized(want, kind);
}

// Header route `h`'s rules, one per source rule.
std::vector<json> HeaderRules(const std::vector<const json*>& sources, const HeaderRoute& h,
                              const std::string& canary, GatewayRouteKind kind) {
  const json headers = GatewayHeaderMatches(h);
  std::vector<json> out;
  for (size_t i = 0; i < sources.size(); ++i) {
    const json& src = *sources[i];
    json ref = {{"group", ""}, {"kind", "Service"}, {"name", canary}};
    for (const json& r : BackendRefs(src)) {
      if (RefNamed(r, canary)) {
        if (r.contains("port")) ref["port"] = r["port"];
        break;
      }
    }
    json rule = {{"name", i == 0 ? h.name : fmt::format("{}-{}", h.name, i)},
                 {"backendRefs", json::array({ref})}};
    if (src.contains("filters") && src["filters"].is_array() && !src["filters"].empty()) {
      rule["filters"] = src["filters"];
    }
    json matches = json::array();
    const json& from =
        src.contains("matches") && src["matches"].is_array() ? src["matches"] : json::array();
    if (from.empty()) matches.push_back({{"headers", headers}});
    for (const json& m : from) {
      json match = json::object();
      if (m.is_object()) {
        // An HTTPRouteMatch's path, query parameters and method; a GRPCRouteMatch's method.
        for (const char* key : {"path", "queryParams", "method"}) {
          if (kind != GatewayRouteKind::kHttp && std::string_view(key) != "method") continue;
          if (m.contains(key) && !m[key].is_null()) match[key] = m[key];
        }
      }
      json merged = m.is_object() && m.contains("headers") && m["headers"].is_array()
                        ? m["headers"]
                        : json::array();
      for (const json& x : headers) merged.push_back(x);
      match["headers"] = std::move(merged);
      matches.push_back(std::move(match));
    }
    rule["matches"] = std::move(matches);
    out.push_back(std::move(rule));
  }
  return out;
}

// Whether `rule` is a header rule (never weighted): named after a managed route, or an
// unnamed rule whose only backendRef is the canary. TCPRoutes and TLSRoutes have none.
bool ManagedRule(const json& rule, const GatewayRouteWant& want) {
  if (want.kind == GatewayRouteKind::kTcp || want.kind == GatewayRouteKind::kTls) return false;
  const std::string name = RuleName(rule);
  if (name.empty()) return UnnamedCanaryRule(rule, want.canary);
  return std::any_of(want.managed_names.begin(), want.managed_names.end(),
                     [&](const std::string& m) { return NameOf(name, m); });
}

// ---- the router ----

struct RouteRef {
  GatewayRouteKind kind = GatewayRouteKind::kHttp;
  std::string name;
  bool use_header_routes = false;  // HTTPRoutes and GRPCRoutes only
};

// The resource of a kind: HTTPRoute and GRPCRoute at the configured version, TCPRoute and
// TLSRoute at v1alpha2 (as the plugin).
kube::Resource ResourceOf(GatewayRouteKind kind, const std::string& version) {
  const std::string group = "gateway.networking.k8s.io";
  switch (kind) {
    case GatewayRouteKind::kHttp:
      return MakeResource(group, version, "httproutes", "HTTPRoute");
    case GatewayRouteKind::kGrpc:
      return MakeResource(group, version, "grpcroutes", "GRPCRoute");
    case GatewayRouteKind::kTcp:
      return MakeResource(group, "v1alpha2", "tcproutes", "TCPRoute");
    case GatewayRouteKind::kTls:
      return MakeResource(group, "v1alpha2", "tlsroutes", "TLSRoute");
  }
  return {};
}

std::string WeightText(const json& ref) {
  return ref.contains("weight") ? ref["weight"].dump() : std::string("unset");
}

// A label selector of the plugin's configuration (*RouteSelector), as selector text.
struct RouteSelector {
  GatewayRouteKind kind = GatewayRouteKind::kHttp;
  std::string text;
};

// The routes a router drives: the ones named in its configuration and, on every call, the ones
// its selectors find (as the plugin, which lists them on every call; those take no header
// routes).
struct RouteSet {
  kube::KubeClient* client = nullptr;
  std::string ns;
  std::string version;  // of HTTPRoutes and GRPCRoutes
  std::vector<RouteRef> configured;
  std::vector<RouteSelector> selectors;
};

// Lists what the selectors find; `done` gets every route, in the plugin's order (per kind:
// the configured ones, then the discovered ones).
void ResolveRoutes(std::shared_ptr<const RouteSet> set,
                   std::function<void(StatusOr<std::vector<RouteRef>>)> done) {
  auto found = std::make_shared<std::vector<RouteRef>>();
  auto steps = std::make_shared<std::vector<AsyncStep>>();
  for (const RouteSelector& sel : set->selectors) {
    steps->push_back([set, sel, found](StatusCallback next) {
      kube::ListOptions options;
      options.label_selector = sel.text;
      const kube::Resource resource = ResourceOf(sel.kind, set->version);
      set->client->List(
          resource, set->ns, options,
          [resource, set, sel, found, next = std::move(next)](StatusOr<kube::ListResult> list) {
            if (!list) {
              return next(
                  Status(list.error().code(),
                         fmt::format("{}: listing {} in {} with selector \"{}\": {}", kRouter,
                                     resource.plural, set->ns, sel.text, list.error().message())));
            }
            for (const json& item : list->items) {
              const json& meta = item.value("metadata", json::object());
              if (meta.is_object() && meta.contains("name") && meta["name"].is_string()) {
                found->push_back({sel.kind, meta["name"].get<std::string>(), false});
              }
            }
            next(OkStatus());
          });
    });
  }
  RunInOrder(steps, [set, found, done = std::move(done)](Status s) {
    if (!s.ok()) return done(Fail(s));
    std::vector<RouteRef> all;
    for (GatewayRouteKind kind : {GatewayRouteKind::kHttp, GatewayRouteKind::kGrpc,
                                  GatewayRouteKind::kTcp, GatewayRouteKind::kTls}) {
      for (const std::vector<RouteRef>* from :
           {&set->configured, static_cast<const std::vector<RouteRef>*>(found.get())}) {
        for (const RouteRef& r : *from) {
          if (r.kind != kind) continue;
          if (std::none_of(all.begin(), all.end(), [&](const RouteRef& have) {
                return have.kind == r.kind && have.name == r.name;
              })) {
            all.push_back(r);
          }
        }
      }
    }
    done(std::move(all));
  });
}

// Resolves the routes, then runs the step `make` builds for each, in order; the first error
// stops. With `require` no route at all is kFailedPrecondition.
void ForEachRoute(std::shared_ptr<const RouteSet> set, bool require,
                  std::function<AsyncStep(const RouteRef&)> make, StatusCallback done) {
  ResolveRoutes(set, [set, require, make = std::move(make),
                      done = std::move(done)](StatusOr<std::vector<RouteRef>> routes) mutable {
    if (!routes) return done(routes.error());
    if (require && routes->empty()) {
      return done(FailedPreconditionError(
          fmt::format("{}: no route to weigh: the route selectors found none in namespace {}",
                      kRouter, set->ns)));
    }
    auto steps = std::make_shared<std::vector<AsyncStep>>();
    for (const RouteRef& r : *routes) steps->push_back(make(r));
    RunInOrder(steps, std::move(done));
  });
}

class GatewayApiRouter : public Router {
 public:
  GatewayApiRouter(Env env, std::shared_ptr<const RouteSet> routes, std::string label_key,
                   std::string label_value)
      : env_(std::move(env)),
        sync_(env_, kRouter),
        routes_(std::move(routes)),
        label_key_(std::move(label_key)),
        label_value_(std::move(label_value)) {}

  std::string_view Type() const override { return "GatewayAPI"; }

  void SetWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                 StatusCallback done) override {
    if (!additional.empty()) {
      return done(UnimplementedError(fmt::format(
          "{}: experiment destinations ({}, …) are not supported yet by the Gateway API router",
          kRouter, additional.front().service_name)));
    }
    weight_ = weight;
    ConvergeAll(false, true, std::move(done));
  }

  void SetHeaderRoute(const HeaderRoute& route, StatusCallback done) override {
    if (route.name.empty()) {
      return done(InvalidArgumentError(fmt::format("{}: a header route needs a name", kRouter)));
    }
    for (const HeaderMatch& m : route.matches) {
      if (m.header_name.empty() || m.header_value.value.empty()) {
        return done(InvalidArgumentError(
            fmt::format("{}: header route {}: every match needs a header name and a value", kRouter,
                        route.name)));
      }
    }
    if (std::none_of(routes_->configured.begin(), routes_->configured.end(),
                     [](const RouteRef& r) { return r.use_header_routes; })) {
      return done(UnimplementedError(fmt::format(
          "{}: no HTTPRoute or GRPCRoute has useHeaderRoutes: true, so header routes are not "
          "applied",
          kRouter)));
    }
    if (route.matches.empty()) {
      auto it = active_.find(route.name);
      absent_[route.name] = it != active_.end() ? it->second : route;
      if (it != active_.end()) active_.erase(it);
    } else {
      active_[route.name] = route;
      absent_.erase(route.name);
    }
    ConvergeAll(false, false, std::move(done));
  }

  void SetMirrorRoute(const MirrorRoute&, StatusCallback done) override {
    done(UnimplementedError(fmt::format(
        "{}: mirror routes are not supported (the Gateway API plugin has none; istio has them)",
        kRouter)));
  }

  void RemoveManagedRoutes(StatusCallback done) override {
    for (auto& [name, route] : active_) absent_[name] = route;
    active_.clear();
    for (const std::string& name : env_.context.managed_routes) {
      absent_.emplace(name, HeaderRoute{name, {}});
    }
    ConvergeAll(true, false, std::move(done));
  }

  void VerifyWeight(int32_t weight, const std::vector<WeightDestination>&,
                    StatusOrCallback<WeightCheck> done) override {
    auto check = std::make_shared<WeightCheck>();
    check->verification = WeightVerification::kVerified;
    GatewayRouteWant base = Template();
    base.weight = weight;
    base.label_key.clear();
    auto make = [sync = sync_, version = routes_->version, ns = routes_->ns, base,
                 check](const RouteRef& r) -> AsyncStep {
      GatewayRouteWant want = base;
      want.kind = r.kind;  // weights only: no header rules
      return [sync, resource = ResourceOf(r.kind, version), ns, name = r.name, want,
              check](StatusCallback next) mutable {
        sync.Read(
            resource, ns, name,
            [resource, ns, name, want, check, next = std::move(next)](StatusOr<json> got) mutable {
              if (!got) return next(got.error());
              json copy = *got;
              StatusOr<bool> differs = ConvergeGatewayRoute(copy, want);
              if (!differs) {
                return next(Status(differs.error().code(),
                                   fmt::format("{}: {}: {}", kRouter, Describe(resource, ns, name),
                                               differs.error().message())));
              }
              std::vector<std::string> found;
              for (const json& rule : (*got)["spec"]["rules"]) {
                if (ManagedRule(rule, want)) continue;
                for (const json& ref : BackendRefs(rule)) {
                  if (RefNamed(ref, want.canary) && !check->observed_weight &&
                      ref.contains("weight") && ref["weight"].is_number_integer()) {
                    check->observed_weight = ref["weight"].get<int32_t>();
                  }
                  if (RefNamed(ref, want.canary) || RefNamed(ref, want.stable)) {
                    found.push_back(
                        fmt::format("{} {}", ref["name"].get<std::string>(), WeightText(ref)));
                  }
                }
              }
              if (*differs) {
                check->verification = WeightVerification::kNotVerified;
                std::string list;
                for (const std::string& f : found) list += (list.empty() ? "" : ", ") + f;
                if (!check->message.empty()) check->message += "; ";
                check->message += fmt::format(
                    "{} has backendRefs {}, not {} {} and {} {}", Describe(resource, ns, name),
                    list, want.canary, *want.weight, want.stable, want.max_weight - *want.weight);
              }
              next(OkStatus());
            });
      };
    };
    ForEachRoute(routes_, true, make, [check, done = std::move(done)](Status s) {
      if (!s.ok()) return done(Fail(s));
      done(*check);
    });
  }

 private:
  // The desired state every route shares (kind and header routes are per route).
  GatewayRouteWant Template() const {
    GatewayRouteWant want;
    want.canary = env_.context.canary_service;
    want.stable = env_.context.stable_service;
    want.max_weight = env_.context.max_weight;
    want.weight = weight_;
    // Active header routes in managedRoutes order, then the others by name.
    std::set<std::string> placed;
    for (const std::string& name : env_.context.managed_routes) {
      auto it = active_.find(name);
      if (it != active_.end() && placed.insert(name).second) want.active.push_back(it->second);
    }
    for (const auto& [name, route] : active_) {
      if (placed.insert(name).second) want.active.push_back(route);
    }
    for (const auto& [name, route] : absent_) want.absent.push_back(route);
    std::set<std::string> names(env_.context.managed_routes.begin(),
                                env_.context.managed_routes.end());
    for (const auto& [name, route] : active_) names.insert(name);
    for (const auto& [name, route] : absent_) names.insert(name);
    want.managed_names.assign(names.begin(), names.end());
    want.label_key = label_key_;
    want.label_value = label_value_;
    return want;
  }

  // Converges every route to the whole desired state, in order; the first error stops.
  void ConvergeAll(bool remove_unnamed, bool require, StatusCallback done) {
    auto make = [sync = sync_, version = routes_->version, ns = routes_->ns, base = Template(),
                 remove_unnamed](const RouteRef& r) -> AsyncStep {
      GatewayRouteWant want = base;
      want.kind = r.kind;
      want.header_routes = r.use_header_routes;
      want.remove_unnamed_canary_rules = remove_unnamed && r.use_header_routes;
      return [sync, resource = ResourceOf(r.kind, version), ns, name = r.name,
              want](StatusCallback next) mutable {
        sync.Converge(
            resource, ns, name, [want](json& route) { return ConvergeGatewayRoute(route, want); },
            std::move(next));
      };
    };
    ForEachRoute(routes_, require, make, std::move(done));
  }

  Env env_;
  ObjectSync sync_;
  std::shared_ptr<const RouteSet> routes_;
  std::string label_key_;
  std::string label_value_;
  std::optional<int32_t> weight_;
  std::map<std::string, HeaderRoute> active_;  // header routes set and not removed
  std::map<std::string, HeaderRoute> absent_;  // header routes removed
};

// ---- configuration ----

// A metav1.LabelSelector {matchLabels, matchExpressions} as selector text ("a=b,c in (d,e)").
StatusOr<std::string> SelectorText(const json& selector, const std::string& where) {
  if (!selector.is_object()) {
    return Fail(InvalidArgumentError(
        fmt::format("{}: expected a label selector {{matchLabels, matchExpressions}}", where)));
  }
  std::vector<std::string> parts;
  if (selector.contains("matchLabels") && !selector["matchLabels"].is_null()) {
    const json& labels = selector["matchLabels"];
    if (!labels.is_object()) {
      return Fail(InvalidArgumentError(fmt::format("{}.matchLabels: expected a map", where)));
    }
    for (const auto& [k, v] : labels.items()) {
      if (!v.is_string()) {
        return Fail(InvalidArgumentError(
            fmt::format("{}.matchLabels[\"{}\"]: expected a string", where, k)));
      }
      parts.push_back(fmt::format("{}={}", k, v.get<std::string>()));
    }
  }
  if (selector.contains("matchExpressions") && !selector["matchExpressions"].is_null()) {
    const json& list = selector["matchExpressions"];
    if (!list.is_array()) {
      return Fail(InvalidArgumentError(fmt::format("{}.matchExpressions: expected a list", where)));
    }
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string at = fmt::format("{}.matchExpressions[{}]", where, i);
      const json& e = list[i];
      const json& key = e.is_object() ? e.value("key", json()) : json();
      const json& op = e.is_object() ? e.value("operator", json()) : json();
      const json& values = e.is_object() ? e.value("values", json::array()) : json();
      if (!key.is_string() || key.get<std::string>().empty() || !op.is_string() ||
          !values.is_array()) {
        return Fail(
            InvalidArgumentError(fmt::format("{}: expected {{key, operator, values}}", at)));
      }
      std::vector<std::string> vs;
      for (const json& v : values) {
        if (!v.is_string()) {
          return Fail(InvalidArgumentError(fmt::format("{}.values: expected strings", at)));
        }
        vs.push_back(v.get<std::string>());
      }
      const std::string k = key.get<std::string>();
      const std::string o = op.get<std::string>();
      if ((o == "In" || o == "NotIn") && !vs.empty()) {
        parts.push_back(
            fmt::format("{} {} ({})", k, o == "In" ? "in" : "notin", fmt::join(vs, ",")));
      } else if ((o == "Exists" || o == "DoesNotExist") && vs.empty()) {
        parts.push_back(o == "Exists" ? k : "!" + k);
      } else {
        return Fail(InvalidArgumentError(
            fmt::format("{}: operator \"{}\" with {} values (In and NotIn take values, Exists and "
                        "DoesNotExist none)",
                        at, o, vs.size())));
      }
    }
  }
  return fmt::format("{}", fmt::join(parts, ","));
}

StatusOr<std::string> OptionalString(const json& config, const char* key) {
  if (!config.contains(key) || config[key].is_null()) return std::string();
  if (!config[key].is_string()) {
    return Fail(InvalidArgumentError(fmt::format("{}.{}: expected a string", kRouter, key)));
  }
  return config[key].get<std::string>();
}

}  // namespace

json GatewayHeaderMatches(const HeaderRoute& route) {
  json out = json::array();
  for (const HeaderMatch& m : route.matches) {
    json x = {{"name", m.header_name}};
    switch (m.header_value.kind) {
      case StringMatch::Kind::kExact:
        x["type"] = "Exact";
        x["value"] = m.header_value.value;
        break;
      case StringMatch::Kind::kPrefix:
        x["type"] = "RegularExpression";
        x["value"] = m.header_value.value + ".*";
        break;
      case StringMatch::Kind::kRegex:
        x["type"] = "RegularExpression";
        x["value"] = m.header_value.value;
        break;
    }
    out.push_back(std::move(x));
  }
  return out;
}

StatusOr<bool> ConvergeGatewayRoute(json& route, const GatewayRouteWant& want) {
  if (!route.is_object() || !route.contains("spec") || !route["spec"].is_object() ||
      !route["spec"].contains("rules") || !route["spec"]["rules"].is_array()) {
    return Fail(FailedPreconditionError("it has no spec.rules"));
  }
  const json before = route;
  json& rules = route["spec"]["rules"];
  const bool with_headers =
      want.kind == GatewayRouteKind::kHttp || want.kind == GatewayRouteKind::kGrpc;
  auto managed = [&](const json& rule) { return ManagedRule(rule, want); };

  // Weights, on every rule that is not a header rule.
  if (want.weight) {
    bool canary = false;
    bool stable = false;
    for (json& rule : rules) {
      if (managed(rule) || !rule.is_object() || !rule.contains("backendRefs") ||
          !rule["backendRefs"].is_array()) {
        continue;
      }
      for (json& ref : rule["backendRefs"]) {
        if (RefNamed(ref, want.canary)) {
          ref["weight"] = *want.weight;
          canary = true;
        } else if (RefNamed(ref, want.stable)) {
          ref["weight"] = want.max_weight - *want.weight;
          stable = true;
        }
      }
    }
    if (!canary || !stable) {
      return Fail(FailedPreconditionError(fmt::format(
          "spec.rules has no backendRef named {} (it must route to the canary and the stable "
          "Service)",
          canary ? want.stable : want.canary)));
    }
    if (!want.label_key.empty()) {
      json& meta = route["metadata"];
      if (meta.is_null()) meta = json::object();
      if (!meta.is_object() ||
          (meta.contains("labels") && !meta["labels"].is_object() && !meta["labels"].is_null())) {
        return Fail(FailedPreconditionError("its metadata.labels is not a map"));
      }
      if (*want.weight > 0) {
        meta["labels"][want.label_key] = want.label_value;
      } else if (meta.contains("labels") && meta["labels"].is_object()) {
        meta["labels"].erase(want.label_key);
        if (meta["labels"].empty()) meta.erase("labels");
      }
    }
  }

  if (want.header_routes && with_headers) {
    // Removed header routes (and, on RemoveManagedRoutes, every legacy unnamed canary rule).
    json kept = json::array();
    for (json& rule : rules) {
      const bool drop =
          (want.remove_unnamed_canary_rules && UnnamedCanaryRule(rule, want.canary)) ||
          std::any_of(want.absent.begin(), want.absent.end(),
                      [&](const HeaderRoute& h) { return OwnedBy(rule, h, want.canary); });
      if (!drop) kept.push_back(std::move(rule));
    }
    rules = std::move(kept);
    // Active header routes: their rules replaced in place, or appended.
    for (const HeaderRoute& h : want.active) {
      std::vector<const json*> sources;
      for (const json& rule : rules) {
        if (!managed(rule) && HasRef(rule, want.canary) && HasRef(rule, want.stable)) {
          sources.push_back(&rule);
        }
      }
      if (sources.empty()) {
        return Fail(FailedPreconditionError(
            fmt::format("header route {}: no rule routes to both {} and {} to copy it from", h.name,
                        want.canary, want.stable)));
      }
      std::vector<json> desired = HeaderRules(sources, h, want.canary, want.kind);
      std::vector<size_t> owned;
      for (size_t i = 0; i < rules.size(); ++i) {
        if (OwnedBy(rules[i], h, want.canary)) owned.push_back(i);
      }
      bool same = owned.size() == desired.size();
      for (size_t i = 0; same && i < owned.size(); ++i) {
        same = SameRule(rules[owned[i]], desired[i], want.kind);
      }
      if (same) continue;
      const size_t at = owned.empty() ? rules.size() : owned.front();
      json next = json::array();
      for (size_t i = 0; i < rules.size(); ++i) {
        if (i == at) {
          for (json& d : desired) next.push_back(std::move(d));
        }
        if (!OwnedBy(rules[i], h, want.canary)) next.push_back(std::move(rules[i]));
      }
      if (at == rules.size()) {
        for (json& d : desired) next.push_back(std::move(d));
      }
      rules = std::move(next);
    }
  }
  return route != before;
}

StatusOr<std::unique_ptr<Router>> NewGatewayApiRouter(Env env) {
  const json& c = env.config;
  if (!c.is_object()) {
    return Fail(InvalidArgumentError(
        fmt::format("{}: expected an object {{httpRoute | httpRoutes, …, namespace}}", kRouter)));
  }
  std::vector<RouteSelector> selectors;
  for (const auto& [kind, key] : std::vector<std::pair<GatewayRouteKind, const char*>>{
           {GatewayRouteKind::kHttp, "httpRouteSelector"},
           {GatewayRouteKind::kGrpc, "grpcRouteSelector"},
           {GatewayRouteKind::kTcp, "tcpRouteSelector"},
           {GatewayRouteKind::kTls, "tlsRouteSelector"}}) {
    if (!c.contains(key) || c[key].is_null()) continue;
    auto text = SelectorText(c[key], fmt::format("{}.{}", kRouter, key));
    if (!text) return Fail(text.error());
    selectors.push_back({kind, std::move(*text)});
  }
  // As the plugin: httpRoutes, then httpRoute (which takes header routes), then the GRPC, TCP
  // and TLS routes likewise.
  std::vector<RouteRef> routes;
  auto add = [&routes](RouteRef r) {
    for (RouteRef& have : routes) {
      if (have.kind == r.kind && have.name == r.name) {
        have.use_header_routes = have.use_header_routes || r.use_header_routes;
        return;
      }
    }
    routes.push_back(std::move(r));
  };
  for (const auto& [kind, one, list] :
       std::vector<std::tuple<GatewayRouteKind, const char*, const char*>>{
           {GatewayRouteKind::kHttp, "httpRoute", "httpRoutes"},
           {GatewayRouteKind::kGrpc, "grpcRoute", "grpcRoutes"},
           {GatewayRouteKind::kTcp, "tcpRoute", "tcpRoutes"},
           {GatewayRouteKind::kTls, "tlsRoute", "tlsRoutes"}}) {
    const bool headers = kind == GatewayRouteKind::kHttp || kind == GatewayRouteKind::kGrpc;
    if (c.contains(list) && !c[list].is_null()) {
      if (!c[list].is_array()) {
        return Fail(InvalidArgumentError(
            fmt::format("{}.{}: expected a list of {{name, useHeaderRoutes}}", kRouter, list)));
      }
      for (size_t i = 0; i < c[list].size(); ++i) {
        const json& r = c[list][i];
        if (!r.is_object()) {
          return Fail(InvalidArgumentError(fmt::format(
              "{}.{}[{}]: expected an object {{name, useHeaderRoutes}}", kRouter, list, i)));
        }
        const json& name = r.value("name", json());
        if (!name.is_string() || name.get<std::string>().empty()) {
          return Fail(InvalidArgumentError(
              fmt::format("{}.{}[{}].name: {}", kRouter, list, i,
                          name.is_null() || name.is_string() ? "required" : "expected a string")));
        }
        const json& use = r.value("useHeaderRoutes", json(false));
        if (!use.is_boolean()) {
          return Fail(InvalidArgumentError(
              fmt::format("{}.{}[{}].useHeaderRoutes: expected true or false", kRouter, list, i)));
        }
        add({kind, name.get<std::string>(), headers && use.get<bool>()});
      }
    }
    auto single = OptionalString(c, one);
    if (!single) return Fail(single.error());
    if (!single->empty()) add({kind, *single, headers});
  }
  if (routes.empty() && selectors.empty()) {
    return Fail(InvalidArgumentError(fmt::format(
        "{}: no route configured (set httpRoute(s), grpcRoute(s), tcpRoute(s), tlsRoute(s) or a "
        "route selector)",
        kRouter)));
  }
  auto ns = OptionalString(c, "namespace");
  if (!ns) return Fail(ns.error());
  if (auto cm = OptionalString(c, "configMap"); !cm) return Fail(cm.error());
  auto key = OptionalString(c, "inProgressLabelKey");
  if (!key) return Fail(key.error());
  auto value = OptionalString(c, "inProgressLabelValue");
  if (!value) return Fail(value.error());
  bool disable_label = false;
  if (c.contains("disableInProgressLabel") && !c["disableInProgressLabel"].is_null()) {
    if (!c["disableInProgressLabel"].is_boolean()) {
      return Fail(InvalidArgumentError(
          fmt::format("{}.disableInProgressLabel: expected true or false", kRouter)));
    }
    disable_label = c["disableInProgressLabel"].get<bool>();
  }
  if (env.context.canary_service.empty() || env.context.stable_service.empty()) {
    return Fail(InvalidArgumentError(fmt::format(
        "{}: the canary needs canaryService and stableService to weigh traffic between", kRouter)));
  }
  if (env.versions.gateway.empty()) {
    return Fail(
        InvalidArgumentError(fmt::format("{}: the HTTPRoute API version is empty", kRouter)));
  }
  auto set = std::make_shared<RouteSet>();
  set->client = env.client;
  set->ns = ns->empty() ? env.context.rollout.namespace_ : *ns;
  set->version = env.versions.gateway;
  set->configured = std::move(routes);
  set->selectors = std::move(selectors);
  std::string label_key = disable_label ? "" : key->empty() ? kInProgressLabelKey : *key;
  std::string label_value = value->empty() ? kInProgressLabelValue : *value;
  return std::unique_ptr<Router>(std::make_unique<GatewayApiRouter>(
      std::move(env), std::move(set), std::move(label_key), std::move(label_value)));
}

}  // namespace ramp::kube_traffic
