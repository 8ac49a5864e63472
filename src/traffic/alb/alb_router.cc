#include "traffic/alb/alb_router.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;

constexpr char kRouter[] = "alb";
constexpr char kUseAnnotation[] = "use-annotation";
constexpr int64_t kMaxStickinessSeconds = 604800;  // AWS's limit: 7 days

// ---- the Go structs of utils/ingress/ingress.go, marshalled as encoding/json does ----

// ALBTargetGroup: ServiceName and ServicePort are omitempty, Weight a pointer that is always set.
std::string TargetGroup(std::string_view service, const std::string& port, int64_t weight) {
  std::string out = "{";
  if (!service.empty()) out += "\"ServiceName\":" + GoJsonString(service) + ",";
  if (!port.empty()) out += "\"ServicePort\":" + GoJsonString(port) + ",";
  out += "\"Weight\":" + std::to_string(weight) + "}";
  return out;
}

// ALBAction{Type, ForwardConfig{TargetGroups, TargetGroupStickinessConfig (omitempty)}}.
std::string ForwardAction(const std::vector<std::string>& groups,
                          const std::optional<int64_t>& stickiness_seconds) {
  std::string out = "{\"Type\":\"forward\",\"ForwardConfig\":{\"TargetGroups\":[";
  for (size_t i = 0; i < groups.size(); ++i) {
    if (i > 0) out += ",";
    out += groups[i];
  }
  out += "]";
  if (stickiness_seconds) {
    out +=
        fmt::format(",\"TargetGroupStickinessConfig\":{{\"Enabled\":true,\"DurationSeconds\":{}}}",
                    *stickiness_seconds);
  }
  out += "}}";
  return out;
}

// ManagedALBAnnotations (map[string][]string): keys sorted, a nil list as null.
std::string ManagedString(const json& managed) {
  std::string out = "{";
  bool first = true;
  for (const auto& [rollout, keys] : managed.items()) {
    if (!first) out += ",";
    first = false;
    out += GoJsonString(rollout) + ":";
    if (keys.is_null()) {
      out += "null";
      continue;
    }
    out += "[";
    for (size_t i = 0; i < keys.size(); ++i) {
      if (i > 0) out += ",";
      out += GoJsonString(keys[i].get<std::string>());
    }
    out += "]";
  }
  return out + "}";
}

// The managed-annotations value as read ({} when absent or empty).
StatusOr<json> ParseManaged(const std::string& text) {
  if (text.empty()) return json::object();
  json managed = json::parse(text, nullptr, false);
  if (managed.is_null()) return json::object();
  bool ok = managed.is_object();
  if (ok) {
    for (const auto& [rollout, keys] : managed.items()) {
      if (keys.is_null()) continue;
      if (!keys.is_array()) ok = false;
      for (const json& k : keys) ok = ok && k.is_string();
    }
  }
  if (!ok) {
    return Fail(FailedPreconditionError(
        fmt::format("annotation {} is not a JSON map of rollout names to lists of annotation keys: "
                    "{}",
                    kAlbManagedAnnotations, text)));
  }
  return managed;
}

// ---- Ingress paths, networking.k8s.io/v1 or extensions/v1beta1 ----

std::string PathService(const json& path, bool legacy) {
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

bool PathUsesAnnotation(const json& path, bool legacy) {
  if (!path.is_object()) return false;
  auto backend = path.find("backend");
  if (backend == path.end() || !backend->is_object()) return false;
  if (legacy) {
    auto port = backend->find("servicePort");
    return port != backend->end() && *port == kUseAnnotation;
  }
  auto service = backend->find("service");
  if (service == backend->end() || !service->is_object()) return false;
  auto port = service->find("port");
  return port != service->end() && port->is_object() &&
         port->value("name", json()) == kUseAnnotation;
}

// Each rule's http.paths that is a list.
template <typename F>
void ForEachPaths(json& ingress, F f) {
  if (!ingress.contains("spec") || !ingress["spec"].is_object()) return;
  json& spec = ingress["spec"];
  if (!spec.contains("rules") || !spec["rules"].is_array()) return;
  for (json& rule : spec["rules"]) {
    if (!rule.is_object() || !rule.contains("http") || !rule["http"].is_object()) continue;
    json& paths = rule["http"]["paths"];
    if (paths.is_array()) f(paths);
  }
}

// HasRuleWithService (with `use_annotation`: a path on `service` through port use-annotation).
bool HasPathOn(json& ingress, const std::string& service, bool legacy, bool use_annotation) {
  bool found = false;
  ForEachPaths(ingress, [&](json& paths) {
    for (const json& path : paths) {
      if (PathService(path, legacy) == service &&
          (!use_annotation || PathUsesAnnotation(path, legacy))) {
        found = true;
      }
    }
  });
  return found;
}

// CreateAnnotationBasedPath: a path /* on `route`:use-annotation, first in every rule.
void InsertRoutePath(json& ingress, const std::string& route, bool legacy) {
  json path = {{"path", "/*"}, {"pathType", "ImplementationSpecific"}};
  if (legacy) {
    path["backend"] = {{"serviceName", route}, {"servicePort", kUseAnnotation}};
  } else {
    path["backend"] = {{"service", {{"name", route}, {"port", {{"name", kUseAnnotation}}}}}};
  }
  ForEachPaths(ingress, [&](json& paths) { paths.insert(paths.begin(), path); });
}

// RemovePathByServiceName: the first path on `route` of every rule.
void RemoveRoutePath(json& ingress, const std::string& route, bool legacy) {
  ForEachPaths(ingress, [&](json& paths) {
    for (auto it = paths.begin(); it != paths.end(); ++it) {
      if (PathService(*it, legacy) == route) {
        paths.erase(it);
        return;
      }
    }
  });
}

// SortHttpPaths: paths on managed routes first, in managedRoutes order; the rest keep theirs.
void SortPaths(json& ingress, const std::vector<std::string>& managed_routes, bool legacy) {
  auto rank = [&](const json& path) {
    const std::string service = PathService(path, legacy);
    auto it = std::find(managed_routes.begin(), managed_routes.end(), service);
    return static_cast<size_t>(it - managed_routes.begin());
  };
  ForEachPaths(ingress, [&](json& paths) {
    std::vector<json> sorted(paths.begin(), paths.end());
    std::stable_sort(sorted.begin(), sorted.end(),
                     [&](const json& a, const json& b) { return rank(a) < rank(b); });
    paths = json(std::move(sorted));
  });
}

// ---- the router ----

// What every Ingress must carry: the weighted action once a weight was set, and each header
// route the router was told about (its conditions, or nullopt once removed), in managedRoutes
// order.
struct Desired {
  std::optional<std::string> action;
  std::vector<std::pair<std::string, std::optional<std::string>>> routes;
};

struct Shared {
  Env env;
  AlbConfig config;
  ObjectSync sync;
  std::string action_service;
  std::string action_key;
  std::string header_action;

  Shared(Env e, AlbConfig c) : env(std::move(e)), config(std::move(c)), sync(env, kRouter) {
    action_service = AlbActionService(env, config);
    action_key = AlbActionKey(config, action_service);
    header_action = AlbHeaderRouteAction(env, config);
  }

  const std::string& ns() const { return env.context.rollout.namespace_; }

  // Rewrites an Ingress as read into one carrying `d`; everything else is left as found.
  StatusOr<bool> Apply(const Desired& d, json& ingress) const {
    if (!ingress.is_object()) {
      return Fail(FailedPreconditionError("the API server answered with a non-object"));
    }
    if (!d.action && d.routes.empty()) return false;
    const bool legacy = config.legacy;
    const json before = ingress;
    json& meta = ingress["metadata"];
    if (!meta.is_object()) meta = json::object();
    json annotations = meta.contains("annotations") && meta["annotations"].is_object()
                           ? meta["annotations"]
                           : json::object();
    const json& managed_value =
        annotations.contains(kAlbManagedAnnotations) ? annotations[kAlbManagedAnnotations] : json();
    StatusOr<json> managed =
        ParseManaged(managed_value.is_string() ? managed_value.get<std::string>() : "");
    if (!managed) return Fail(managed.error());
    json& mine = (*managed)[env.context.rollout.name];
    if (!mine.is_array()) mine = json::array();
    auto add = [&mine](const std::string& key) {
      if (std::find(mine.begin(), mine.end(), key) == mine.end()) mine.push_back(key);
    };
    auto remove = [&mine](const std::string& key) {
      mine.erase(std::remove(mine.begin(), mine.end(), key), mine.end());
    };

    if (d.action) {
      if (!HasPathOn(ingress, action_service, legacy, true)) {
        return Fail(FailedPreconditionError(fmt::format(
            "no rule has a path on service {} with port name {}, which the action annotation "
            "{} needs (the AWS Load Balancer Controller reads it only for such a backend)",
            action_service, kUseAnnotation, action_key)));
      }
      annotations[action_key] = *d.action;
      add(action_key);
    }
    for (const auto& [route, conditions] : d.routes) {
      const std::string action_key_r = AlbActionKey(config, route);
      const std::string condition_key = AlbConditionKey(config, route);
      if (conditions) {
        annotations[action_key_r] = header_action;
        annotations[condition_key] = *conditions;
        add(action_key_r);
        add(condition_key);
        if (!HasPathOn(ingress, route, legacy, false)) InsertRoutePath(ingress, route, legacy);
      } else {
        annotations.erase(action_key_r);
        annotations.erase(condition_key);
        remove(action_key_r);
        remove(condition_key);
        RemoveRoutePath(ingress, route, legacy);
      }
    }
    if (!d.routes.empty()) SortPaths(ingress, env.context.managed_routes, legacy);
    annotations[kAlbManagedAnnotations] = ManagedString(*managed);
    ingress["metadata"]["annotations"] = std::move(annotations);
    return ingress != before;
  }
};

// The canary's Weight in an action annotation's value, if it has one.
std::optional<int32_t> CanaryWeight(const json& action, const std::string& canary) {
  if (!action.is_object() || !action.contains("ForwardConfig")) return std::nullopt;
  const json& forward = action["ForwardConfig"];
  if (!forward.is_object() || !forward.contains("TargetGroups")) return std::nullopt;
  for (const json& group : forward["TargetGroups"]) {
    if (group.is_object() && group.value("ServiceName", json()) == canary &&
        group.contains("Weight") && group["Weight"].is_number_integer()) {
      return group["Weight"].get<int32_t>();
    }
  }
  return std::nullopt;
}

class AlbRouter : public Router {
 public:
  AlbRouter(Env env, AlbConfig config)
      : s_(std::make_shared<Shared>(std::move(env), std::move(config))) {}

  std::string_view Type() const override { return "ALB"; }

  void SetWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                 StatusCallback done) override {
    action_ = AlbForwardAction(s_->env, s_->config, weight, additional);
    ConvergeAll(std::move(done));
  }

  void SetHeaderRoute(const HeaderRoute& route, StatusCallback done) override {
    if (route.matches.empty()) {
      routes_[route.name] = std::nullopt;
      return ConvergeAll(std::move(done));
    }
    StatusOr<std::string> conditions = AlbHeaderRouteConditions(route);
    if (!conditions) return done(conditions.error());
    routes_[route.name] = std::move(*conditions);
    ConvergeAll(std::move(done));
  }

  void SetMirrorRoute(const MirrorRoute&, StatusCallback done) override {
    done(UnimplementedError(
        "alb: the AWS Load Balancer Controller has no mirror routes; setMirrorRoute steps are "
        "supported by istio and the Gateway API plugin"));
  }

  void RemoveManagedRoutes(StatusCallback done) override {
    const std::vector<std::string>& managed = s_->env.context.managed_routes;
    if (managed.empty()) return done(OkStatus());
    for (const std::string& name : managed) routes_[name] = std::nullopt;
    ConvergeAll(std::move(done));
  }

  void VerifyWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                    StatusOrCallback<WeightCheck> done) override {
    auto s = s_;
    const std::string want = AlbForwardAction(s->env, s->config, weight, additional);
    auto check = std::make_shared<WeightCheck>();
    check->verification = WeightVerification::kVerified;
    auto step = IndexedStep([s, check, want](size_t i, StatusCallback next) {
      const std::string name = s->config.ingresses[i];
      s->sync.Read(s->config.resource, s->ns(), name,
                   [s, check, want, name, next = std::move(next)](StatusOr<json> ingress) {
                     if (!ingress) return next(ingress.error());
                     std::string have;
                     bool present = false;
                     const json meta = ingress->value("metadata", json::object());
                     if (meta.is_object() && meta.contains("annotations") &&
                         meta["annotations"].is_object()) {
                       auto it = meta["annotations"].find(s->action_key);
                       if (it != meta["annotations"].end() && it->is_string()) {
                         have = it->get<std::string>();
                         present = true;
                       }
                     }
                     const json have_json = json::parse(have, nullptr, false, true);
                     const std::optional<int32_t> observed =
                         CanaryWeight(have_json, s->env.context.canary_service);
                     if (present && !have_json.is_discarded() && have_json == json::parse(want)) {
                       if (!check->observed_weight) check->observed_weight = observed;
                       return next(OkStatus());
                     }
                     if (check->verification == WeightVerification::kVerified) {
                       check->observed_weight = observed;
                     }
                     check->verification = WeightVerification::kNotVerified;
                     if (!check->message.empty()) check->message += "; ";
                     check->message += fmt::format(
                         "{} has {} {}, not {}", Describe(s->config.resource, s->ns(), name),
                         s->action_key, present ? "= " + have : "absent", want);
                     next(OkStatus());
                   });
    });
    RunIndexed(s->config.ingresses.size(), std::move(step),
               [check, done = std::move(done)](Status st) {
                 if (!st.ok()) return done(Fail(std::move(st)));
                 done(*check);
               });
  }

 private:
  // Converges every Ingress to the whole desired state.
  void ConvergeAll(StatusCallback done) {
    Desired d;
    d.action = action_;
    for (const std::string& name : s_->env.context.managed_routes) {
      if (auto it = routes_.find(name); it != routes_.end()) d.routes.emplace_back(*it);
    }
    for (const auto& route : routes_) {
      const auto& managed = s_->env.context.managed_routes;
      if (std::find(managed.begin(), managed.end(), route.first) == managed.end()) {
        d.routes.emplace_back(route);
      }
    }
    auto s = s_;
    auto desired = std::make_shared<const Desired>(std::move(d));
    auto step = IndexedStep([s, desired](size_t i, StatusCallback next) {
      s->sync.Converge(
          s->config.resource, s->ns(), s->config.ingresses[i],
          [s, desired](json& ingress) { return s->Apply(*desired, ingress); }, std::move(next));
    });
    RunIndexed(s->config.ingresses.size(), std::move(step), std::move(done));
  }

  std::shared_ptr<Shared> s_;
  std::optional<std::string> action_;                         // the weighted action
  std::map<std::string, std::optional<std::string>> routes_;  // route → conditions
};

// The length of the UTF-8 sequence at s[i] (its code point in *rune), or 0 when it is not valid
// UTF-8 (Go's rules: no overlong forms, no surrogates, nothing above U+10FFFF).
size_t Utf8Length(std::string_view s, size_t i, uint32_t* rune) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  size_t n = 0;
  uint32_t r = 0;
  uint32_t min = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, r = c & 0x1f, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, r = c & 0x0f, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, r = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xc0) != 0x80) return 0;
    r = (r << 6) | (b(k) & 0x3f);
  }
  if (r < min || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) return 0;
  *rune = r;
  return n;
}

}  // namespace

std::string GoJsonString(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    uint32_t rune = 0;
    const size_t n = Utf8Length(s, i, &rune);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    if (rune == 0x2028 || rune == 0x2029) {
      out += rune == 0x2028 ? "\\u2028" : "\\u2029";
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out + "\"";
}

std::string AlbActionKey(const AlbConfig& config, std::string_view name) {
  return fmt::format("{}/actions.{}", config.annotation_prefix, name);
}

std::string AlbConditionKey(const AlbConfig& config, std::string_view name) {
  return fmt::format("{}/conditions.{}", config.annotation_prefix, name);
}

std::string AlbActionService(const Env& env, const AlbConfig& config) {
  return config.root_service.empty() ? env.context.stable_service : config.root_service;
}

std::string AlbForwardAction(const Env& env, const AlbConfig& config, int32_t weight,
                             const std::vector<WeightDestination>& additional) {
  const std::string port = std::to_string(config.service_port);
  std::vector<std::string> groups;
  groups.push_back(TargetGroup(env.context.canary_service, port, weight));
  int64_t stable = 100 - static_cast<int64_t>(weight);  // as Argo: not clamped
  for (const WeightDestination& d : additional) {
    groups.push_back(TargetGroup(d.service_name, port, d.weight));
    stable -= d.weight;
  }
  groups.push_back(TargetGroup(env.context.stable_service, port, stable));
  return ForwardAction(groups, config.stickiness_seconds);
}

std::string AlbHeaderRouteAction(const Env& env, const AlbConfig& config) {
  return ForwardAction(
      {TargetGroup(env.context.canary_service, std::to_string(config.service_port), 100)},
      config.stickiness_seconds);
}

StatusOr<std::string> AlbHeaderRouteConditions(const HeaderRoute& route) {
  // upsertCondition: values of the same header gathered in one condition, in order.
  std::vector<std::pair<std::string, std::vector<std::string>>> conditions;
  for (const HeaderMatch& m : route.matches) {
    if (m.header_value.kind != StringMatch::Kind::kExact) {
      return Fail(InvalidArgumentError(fmt::format(
          "{}: header route \"{}\": header {} uses a {} match; ALB matches header values exactly "
          "only (istio, apisix and the Gateway API plugin take prefix and regex matches)",
          kRouter, route.name, m.header_name, StringMatchKindName(m.header_value.kind))));
    }
    if (m.header_value.value.empty()) {
      return Fail(InvalidArgumentError(
          fmt::format("{}: header route \"{}\": header {} needs a non-empty exact value", kRouter,
                      route.name, m.header_name)));
    }
    auto it = std::find_if(conditions.begin(), conditions.end(),
                           [&](const auto& c) { return c.first == m.header_name; });
    if (it == conditions.end()) {
      conditions.push_back({m.header_name, {m.header_value.value}});
    } else {
      it->second.push_back(m.header_value.value);
    }
  }
  std::string out = "[";
  for (size_t i = 0; i < conditions.size(); ++i) {
    if (i > 0) out += ",";
    out += "{\"field\":\"http-header\",\"httpHeaderConfig\":{\"httpHeaderName\":" +
           GoJsonString(conditions[i].first) + ",\"values\":[";
    for (size_t k = 0; k < conditions[i].second.size(); ++k) {
      if (k > 0) out += ",";
      out += GoJsonString(conditions[i].second[k]);
    }
    out += "]}}";
  }
  return out + "]";
}

StatusOr<AlbConfig> ParseAlbConfig(const Env& env) {
  AlbConfig c;
  auto api = IngressApiFor(kRouter, env.versions.ingress);
  if (!api) return Fail(api.error());
  c.resource = api->resource;
  c.legacy = api->legacy;
  const json& config = env.config;
  if (!config.is_object()) {
    return Fail(InvalidArgumentError(
        fmt::format("{}: expected an object {{ingress | ingresses, servicePort, rootService, "
                    "annotationPrefix, stickinessConfig}}",
                    kRouter)));
  }
  auto ingress = ConfigString(config, "ingress", kRouter);
  if (!ingress) return Fail(ingress.error());
  auto names = ConfigNames(config, "ingresses", kRouter, "Ingress");
  if (!names) return Fail(names.error());
  c.ingresses = std::move(*names);
  // As Argo: ingresses, when given, replaces ingress.
  if (c.ingresses.empty() && !ingress->empty()) c.ingresses.push_back(*ingress);
  if (c.ingresses.empty()) {
    return Fail(InvalidArgumentError(
        fmt::format("{}: ingress or ingresses must name the Ingress to annotate", kRouter)));
  }
  auto port = config.find("servicePort");
  if (port == config.end() || port->is_null()) {
    return Fail(InvalidArgumentError(fmt::format(
        "{}.servicePort: required (the Service port the target groups forward to)", kRouter)));
  }
  if (!port->is_number_integer() || port->get<int64_t>() < 1 || port->get<int64_t>() > 65535) {
    return Fail(InvalidArgumentError(
        fmt::format("{}.servicePort: expected a port number (1..65535)", kRouter)));
  }
  c.service_port = port->get<int32_t>();
  auto root = ConfigString(config, "rootService", kRouter);
  if (!root) return Fail(root.error());
  c.root_service = *root;
  auto prefix = ConfigString(config, "annotationPrefix", kRouter);
  if (!prefix) return Fail(prefix.error());
  if (!prefix->empty()) c.annotation_prefix = *prefix;
  if (auto it = config.find("stickinessConfig"); it != config.end() && !it->is_null()) {
    if (!it->is_object()) {
      return Fail(InvalidArgumentError(fmt::format(
          "{}.stickinessConfig: expected an object {{enabled, durationSeconds}}", kRouter)));
    }
    const json enabled = it->value("enabled", json(false));
    if (!enabled.is_boolean()) {
      return Fail(InvalidArgumentError(
          fmt::format("{}.stickinessConfig.enabled: expected a boolean", kRouter)));
    }
    const json seconds = it->value("durationSeconds", json(0));
    if (!seconds.is_number_integer()) {
      return Fail(InvalidArgumentError(
          fmt::format("{}.stickinessConfig.durationSeconds: expected an integer", kRouter)));
    }
    if (enabled.get<bool>()) {
      const int64_t s = seconds.get<int64_t>();
      if (s < 1 || s > kMaxStickinessSeconds) {
        return Fail(InvalidArgumentError(fmt::format(
            "{}.stickinessConfig.durationSeconds: the target group stickiness duration must be "
            "between 1 and {} seconds (7 days), not {}",
            kRouter, kMaxStickinessSeconds, s)));
      }
      c.stickiness_seconds = s;
    }
  }
  if (env.context.stable_service.empty() || env.context.canary_service.empty()) {
    return Fail(InvalidArgumentError(fmt::format(
        "{}: the canary needs canaryService and stableService: the action forwards to their "
        "target groups",
        kRouter)));
  }
  if (env.context.max_weight != 100) {
    return Fail(InvalidArgumentError(fmt::format(
        "{}: maxTrafficWeight {} is not supported: ALB target group weights are out of 100 "
        "(Argo allows maxTrafficWeight only with nginx and plugins)",
        kRouter, env.context.max_weight)));
  }
  return c;
}

StatusOr<std::unique_ptr<Router>> NewAlbRouter(Env env) {
  auto config = ParseAlbConfig(env);
  if (!config) return Fail(config.error());
  return std::unique_ptr<Router>(std::make_unique<AlbRouter>(std::move(env), std::move(*config)));
}

}  // namespace ramp::kube_traffic
