#include "traffic/istio/istio_router.h"

#include <algorithm>
#include <mutex>
#include <utility>

#include <fmt/format.h>

namespace ramp::kube_traffic {
namespace {

using json = nlohmann::json;

constexpr char kRouter[] = "istio";
constexpr char kManagedByKey[] = "argo-rollouts.argoproj.io/managed-by-rollouts";
constexpr char kHashLabel[] = "rollouts-pod-template-hash";

// ---- configuration ----

Status ConfigError(const std::string& path, std::string_view what) {
  return InvalidArgumentError(fmt::format("{}: {}", path, what));
}

StatusOr<std::vector<std::string>> StringList(const json& parent, const char* key,
                                              const std::string& path) {
  std::vector<std::string> out;
  if (!parent.contains(key) || parent[key].is_null()) return out;
  const json& list = parent[key];
  if (!list.is_array()) {
    return Fail(ConfigError(path + "." + key, "expected a list of strings"));
  }
  for (const json& item : list) {
    if (!item.is_string()) {
      return Fail(ConfigError(path + "." + key, "expected a list of strings"));
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

StatusOr<int64_t> Port(const json& entry, const std::string& path) {
  if (!entry.is_object()) return Fail(ConfigError(path, "expected an object {port, …}"));
  if (!entry.contains("port") || !entry["port"].is_number_integer()) {
    return Fail(ConfigError(path + ".port", "expected an integer"));
  }
  return entry["port"].get<int64_t>();
}

// "name.namespace" (a trailing ".cluster.local" ignored) names a VirtualService in another
// namespace; the namespace is the last dot-separated part, as Istio's shorthand.
std::pair<std::string, std::string> SplitVirtualServiceName(std::string name,
                                                            std::string_view rollout_ns) {
  constexpr std::string_view kSuffix = ".cluster.local";
  if (name.size() > kSuffix.size() && name.ends_with(kSuffix)) {
    name.resize(name.size() - kSuffix.size());
  }
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return {name, std::string(rollout_ns)};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

StatusOr<IstioVirtualServiceConfig> ParseVirtualService(const json& v, const std::string& path,
                                                        std::string_view rollout_ns) {
  if (!v.is_object()) {
    return Fail(ConfigError(path, "expected an object {name, routes, tlsRoutes, tcpRoutes}"));
  }
  IstioVirtualServiceConfig out;
  if (!v.contains("name") || !v["name"].is_string() || v["name"].get<std::string>().empty()) {
    return Fail(ConfigError(path + ".name", "expected a non-empty string"));
  }
  std::tie(out.name, out.ns) = SplitVirtualServiceName(v["name"].get<std::string>(), rollout_ns);
  if (out.name.empty() || out.ns.empty()) {
    return Fail(ConfigError(path + ".name", "expected \"name\" or \"name.namespace\""));
  }
  auto routes = StringList(v, "routes", path);
  if (!routes) return Fail(routes.error());
  out.routes = std::move(*routes);
  if (v.contains("tlsRoutes") && !v["tlsRoutes"].is_null()) {
    if (!v["tlsRoutes"].is_array()) {
      return Fail(ConfigError(path + ".tlsRoutes", "expected a list of {port, sniHosts}"));
    }
    for (size_t i = 0; i < v["tlsRoutes"].size(); ++i) {
      const json& t = v["tlsRoutes"][i];
      const std::string tp = fmt::format("{}.tlsRoutes[{}]", path, i);
      IstioVirtualServiceConfig::TlsRoute route;
      if (!t.is_object()) return Fail(ConfigError(tp, "expected an object {port, sniHosts}"));
      if (t.contains("port") && !t["port"].is_null()) {
        if (!t["port"].is_number_integer()) {
          return Fail(ConfigError(tp + ".port", "expected an integer"));
        }
        route.port = t["port"].get<int64_t>();
      }
      auto hosts = StringList(t, "sniHosts", tp);
      if (!hosts) return Fail(hosts.error());
      route.sni_hosts = std::move(*hosts);
      out.tls_routes.push_back(std::move(route));
    }
  }
  if (v.contains("tcpRoutes") && !v["tcpRoutes"].is_null()) {
    if (!v["tcpRoutes"].is_array()) {
      return Fail(ConfigError(path + ".tcpRoutes", "expected a list of {port}"));
    }
    for (size_t i = 0; i < v["tcpRoutes"].size(); ++i) {
      auto port = Port(v["tcpRoutes"][i], fmt::format("{}.tcpRoutes[{}]", path, i));
      if (!port) return Fail(port.error());
      out.tcp_ports.push_back(*port);
    }
  }
  return out;
}

// ---- VirtualService routes ----

// Argo's getHost: the host up to its first '.', "" for a host starting with '.'.
std::string ShortHostOf(const json& destination) {
  if (!destination.is_object()) return "";
  const json& d = destination.value("destination", json::object());
  if (!d.is_object()) return "";
  const std::string host = d.value("host", "");
  if (host.starts_with('.')) return "";
  return std::string(ShortHost(host));
}

std::string SubsetOf(const json& destination) {
  if (!destination.is_object()) return "";
  const json& d = destination.value("destination", json::object());
  return d.is_object() && d.contains("subset") && d["subset"].is_string()
             ? d["subset"].get<std::string>()
             : "";
}

int64_t WeightOf(const json& destination) {
  if (!destination.is_object() || !destination.contains("weight")) return 0;
  const json& w = destination["weight"];
  return w.is_number() ? w.get<int64_t>() : 0;
}

std::string RouteName(const json& route) {
  return route.is_object() && route.contains("name") && route["name"].is_string()
             ? route["name"].get<std::string>()
             : "";
}

bool Contains(const std::vector<std::string>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

// A weighted route: its place and a label for messages ("http route \"primary\"").
struct Weighted {
  const char* kind;  // "http", "tls", "tcp"
  size_t index;
  std::string label;
};

// The distinct match ports of a tls/tcp route (0 for a match without one).
std::set<int64_t> MatchPorts(const json& route) {
  std::set<int64_t> ports;
  const json& matches = route.is_object() ? route.value("match", json::array()) : json::array();
  if (matches.is_array()) {
    for (const json& m : matches) {
      ports.insert(m.is_object() && m.contains("port") && m["port"].is_number()
                       ? m["port"].get<int64_t>()
                       : 0);
    }
  }
  return ports;
}

std::set<std::string> SniHosts(const json& route) {
  std::set<std::string> hosts;
  const json& matches = route.is_object() ? route.value("match", json::array()) : json::array();
  if (!matches.is_array()) return hosts;
  for (const json& m : matches) {
    if (!m.is_object() || !m.contains("sniHosts") || !m["sniHosts"].is_array()) continue;
    for (const json& h : m["sniHosts"]) {
      if (h.is_string()) hosts.insert(h.get<std::string>());
    }
  }
  return hosts;
}

// Argo's searchTlsRoute / searchTcpRoute: one port at most across the match blocks, equal to
// `port`; for tls also the same set of SNI hosts.
bool MatchesPort(const json& route, int64_t port) {
  std::set<int64_t> ports = MatchPorts(route);
  if (ports.size() > 1) return false;
  return (ports.empty() ? 0 : *ports.begin()) == port;
}

class Rewriter {
 public:
  Rewriter(const RouterContext& context, const IstioConfig& config,
           const IstioVirtualServiceConfig& vs, const IstioDesired& desired)
      : ctx_(context), config_(config), vs_(vs), d_(desired) {}

  StatusOr<bool> Run(json& object) {
    const json before = object;
    if (!object.is_object() || !object.contains("spec") || !object["spec"].is_object()) {
      return Fail(FailedPreconditionError("has no spec"));
    }
    json& spec = object["spec"];
    for (const char* kind : {"http", "tls", "tcp"}) {
      if (spec.contains(kind) && !spec[kind].is_null() && !spec[kind].is_array()) {
        return Fail(FailedPreconditionError(fmt::format("spec.{} is not a list", kind)));
      }
      for (const json& route : spec.value(kind, json::array())) {
        if (!route.is_object()) {
          return Fail(FailedPreconditionError(fmt::format("spec.{} holds a non-object", kind)));
        }
        const json dests = route.value("route", json::array());
        if (!dests.is_null() && !dests.is_array()) {
          return Fail(FailedPreconditionError(fmt::format("spec.{}[].route is not a list", kind)));
        }
        for (const json& d : dests) {
          if (!d.is_object()) {
            return Fail(
                FailedPreconditionError(fmt::format("spec.{}[].route holds a non-object", kind)));
          }
        }
      }
    }
    const bool has_http = spec.contains("http") && spec["http"].is_array();
    if (d_.manage_routes && has_http) RemoveManaged(spec["http"]);

    StatusOr<std::vector<Weighted>> weighted = WeightedRoutes(spec);
    if (d_.weight) {
      if (!weighted) return Fail(weighted.error());
      for (const Weighted& w : *weighted) {
        if (Status s = Validate(spec[w.kind][w.index], w.label); !s.ok()) return Fail(s);
      }
      for (const Weighted& w : *weighted) ApplyWeights(spec[w.kind][w.index]);
      if (d_.manage_routes && has_http) {
        // Mirror routes of managed names the router did not set itself (written before a
        // restart) keep following the weights, as Argo patches every managed mirror route.
        for (json& route : spec["http"]) {
          const std::string name = RouteName(route);
          if (route.contains("mirror") && Contains(ctx_.managed_routes, name) &&
              !d_.routes.contains(name)) {
            ApplyWeights(route);
          }
        }
      }
    }

    if (d_.manage_routes && !d_.routes.empty()) {
      if (!has_http) {
        return Fail(FailedPreconditionError(
            "has no http routes to put the header and mirror routes beside"));
      }
      // The destinations of the first weighted http route, after the weights.
      const json* weighted_route = nullptr;
      if (weighted) {
        for (const Weighted& w : *weighted) {
          if (std::string_view(w.kind) == "http") {
            weighted_route = &spec["http"][w.index];
            break;
          }
        }
      }
      json added = json::array();
      for (const std::string& name : ctx_.managed_routes) {
        auto it = d_.routes.find(name);
        if (it == d_.routes.end()) continue;
        if (const auto* h = std::get_if<HeaderRoute>(&it->second)) {
          added.push_back(HeaderRouteJson(*h, weighted_route));
        } else {
          if (weighted_route == nullptr) {
            return Fail(FailedPreconditionError(
                fmt::format("mirror route \"{}\" needs a weighted http route to copy: {}", name,
                            weighted ? "none found" : weighted.error().message())));
          }
          added.push_back(MirrorRouteJson(std::get<MirrorRoute>(it->second), *weighted_route));
        }
      }
      for (json& r : spec["http"]) added.push_back(std::move(r));
      spec["http"] = std::move(added);
    }
    if (d_.manage_routes && has_http && !ctx_.managed_routes.empty()) Order(spec["http"]);
    return object != before;
  }

  // The weighted routes of `spec` (see the header).
  StatusOr<std::vector<Weighted>> WeightedRoutes(const json& spec) const {
    std::vector<Weighted> out;
    const json http = spec.value("http", json::array());
    if (!vs_.routes.empty()) {
      for (const std::string& name : vs_.routes) {
        bool found = false;
        for (size_t i = 0; i < http.size() && !found; ++i) {
          if (RouteName(http[i]) == name) {
            out.push_back({"http", i, fmt::format("http route \"{}\"", name)});
            found = true;
          }
        }
        if (!found) {
          return Fail(FailedPreconditionError(fmt::format("has no http route named \"{}\"", name)));
        }
      }
    } else if (!http.empty()) {
      std::vector<size_t> unmanaged;
      for (size_t i = 0; i < http.size(); ++i) {
        if (!Contains(ctx_.managed_routes, RouteName(http[i])) || RouteName(http[i]).empty()) {
          unmanaged.push_back(i);
        }
      }
      if (unmanaged.size() > 1) {
        return Fail(FailedPreconditionError(
            fmt::format("has {} http routes besides the managed routes; name the ones to weight in "
                        "virtualService.routes",
                        unmanaged.size())));
      }
      if (unmanaged.size() == 1) {
        const std::string name = RouteName(http[unmanaged[0]]);
        out.push_back({"http", unmanaged[0],
                       name.empty() ? "the http route" : fmt::format("http route \"{}\"", name)});
      }
    }

    const json tls = spec.value("tls", json::array());
    if (vs_.tls_routes.empty()) {
      if (tls.size() > 1) {
        return Fail(FailedPreconditionError(
            fmt::format("has {} tls routes; choose the ones to weight in virtualService.tlsRoutes",
                        tls.size())));
      }
      if (tls.size() == 1) out.push_back({"tls", 0, "the tls route"});
    } else {
      for (const auto& want : vs_.tls_routes) {
        const std::set<std::string> hosts(want.sni_hosts.begin(), want.sni_hosts.end());
        const size_t before = out.size();
        for (size_t i = 0; i < tls.size(); ++i) {
          if (MatchesPort(tls[i], want.port) && SniHosts(tls[i]) == hosts) {
            out.push_back({"tls", i, fmt::format("tls route [{}] (port {})", i, want.port)});
          }
        }
        if (out.size() == before) {
          return Fail(FailedPreconditionError(
              fmt::format("has no tls route matching port {} and sniHosts [{}]", want.port,
                          fmt::join(want.sni_hosts, ", "))));
        }
      }
    }

    const json tcp = spec.value("tcp", json::array());
    if (vs_.tcp_ports.empty()) {
      if (tcp.size() > 1) {
        return Fail(FailedPreconditionError(
            fmt::format("has {} tcp routes; choose the ones to weight in virtualService.tcpRoutes",
                        tcp.size())));
      }
      if (tcp.size() == 1) out.push_back({"tcp", 0, "the tcp route"});
    } else {
      for (int64_t port : vs_.tcp_ports) {
        const size_t before = out.size();
        for (size_t i = 0; i < tcp.size(); ++i) {
          if (MatchesPort(tcp[i], port)) {
            out.push_back({"tcp", i, fmt::format("tcp route [{}] (port {})", i, port)});
          }
        }
        if (out.size() == before) {
          return Fail(
              FailedPreconditionError(fmt::format("has no tcp route matching port {}", port)));
        }
      }
    }
    return out;
  }

 private:
  const std::string& CanarySubset() const {
    static const std::string kNone;
    return config_.destination_rule ? config_.destination_rule->canary_subset : kNone;
  }
  const std::string& StableSubset() const {
    static const std::string kNone;
    return config_.destination_rule ? config_.destination_rule->stable_subset : kNone;
  }
  bool IsAdditionalSubset(const std::string& subset) const {
    return !subset.empty() && config_.destination_rule &&
           Contains(config_.destination_rule->additional_subsets, subset);
  }
  bool IsCanary(const json& dest) const {
    const std::string host = ShortHostOf(dest);
    const std::string subset = SubsetOf(dest);
    return (!ctx_.canary_service.empty() && host == ctx_.canary_service) ||
           (!subset.empty() && subset == CanarySubset());
  }
  bool IsStable(const json& dest) const {
    const std::string host = ShortHostOf(dest);
    const std::string subset = SubsetOf(dest);
    return (!ctx_.stable_service.empty() && host == ctx_.stable_service) ||
           (!subset.empty() && subset == StableSubset());
  }

  // Argo's validateVirtualServiceRouteDestinations.
  Status Validate(const json& route, const std::string& label) const {
    const json dests = route.value("route", json::array());
    bool canary = false, stable = false;
    for (const json& d : dests) {
      if (ShortHostOf(d).empty()) continue;
      if (config_.destination_rule) {
        canary |= SubsetOf(d) == CanarySubset();
        stable |= SubsetOf(d) == StableSubset();
      } else {
        canary |= ShortHostOf(d) == ctx_.canary_service;
        stable |= ShortHostOf(d) == ctx_.stable_service;
      }
    }
    if (config_.destination_rule) {
      if (!canary) {
        return FailedPreconditionError(fmt::format(
            "{} has no destination with the canary subset \"{}\"", label, CanarySubset()));
      }
      if (!stable) {
        return FailedPreconditionError(fmt::format(
            "{} has no destination with the stable subset \"{}\"", label, StableSubset()));
      }
    } else {
      if (!canary) {
        return FailedPreconditionError(fmt::format(
            "{} has no destination with the canary Service \"{}\"", label, ctx_.canary_service));
      }
      if (!stable) {
        return FailedPreconditionError(fmt::format(
            "{} has no destination with the stable Service \"{}\"", label, ctx_.stable_service));
      }
    }
    return OkStatus();
  }

  // Argo's processRoutes on one route's destinations.
  void ApplyWeights(json& route) const {
    if (!route.contains("route") || !route["route"].is_array()) return;
    const json& dests = route["route"];
    const int64_t w = *d_.weight;
    int64_t stable = ctx_.max_weight - w;
    std::map<std::string, int64_t> experiments;
    for (const WeightDestination& a : d_.additional) {
      experiments[a.service_name] = a.weight;
      stable -= a.weight;
    }
    for (const json& d : dests) {
      if (IsAdditionalSubset(SubsetOf(d))) stable -= WeightOf(d);
    }
    stable = std::max<int64_t>(stable, 0);
    json out = json::array();
    for (json d : dests) {
      const std::string host = ShortHostOf(d);
      if (host.empty()) {
        out.push_back(std::move(d));
        continue;
      }
      std::optional<int64_t> want;
      if (IsCanary(d)) {
        want = w;
      } else if (IsStable(d)) {
        want = stable;
      } else if (auto it = experiments.find(host); it != experiments.end()) {
        want = it->second;
        experiments.erase(it);
      } else if (IsAdditionalSubset(SubsetOf(d))) {
        want = WeightOf(d);
      } else if (WeightOf(d) != 0) {
        continue;  // another destination with traffic: removed
      } else {
        want = 0;
      }
      if (*want != WeightOf(d)) d["weight"] = *want;
      out.push_back(std::move(d));
    }
    for (const auto& [service, weight] : experiments) {  // sorted by name
      if (weight != 0) out.push_back({{"destination", {{"host", service}}}, {"weight", weight}});
    }
    route["route"] = std::move(out);
  }

  // The port of the weighted route's first destination, as Argo's getVirtualServiceCanaryPort.
  static std::optional<int64_t> CanaryPort(const json* weighted_route) {
    if (weighted_route == nullptr) return std::nullopt;
    const json dests = weighted_route->value("route", json::array());
    if (dests.empty() || !dests[0].is_object()) return std::nullopt;
    const json d = dests[0].value("destination", json::object());
    if (!d.is_object() || !d.contains("port") || !d["port"].is_object()) return std::nullopt;
    const json& n = d["port"].value("number", json());
    if (!n.is_number() || n.get<int64_t>() <= 0) return std::nullopt;
    return n.get<int64_t>();
  }

  json CanaryDestination(std::optional<int64_t> port) const {
    json dest = {{"host", d_.canary_host}};
    if (!CanarySubset().empty()) dest["subset"] = CanarySubset();
    if (port) dest["port"] = {{"number", *port}};
    return dest;
  }

  static json StringMatchJson(const StringMatch& m) {
    json out = json::object();
    if (!m.value.empty()) out[std::string(StringMatchKindName(m.kind))] = m.value;
    return out;
  }

  json HeaderRouteJson(const HeaderRoute& h, const json* weighted_route) const {
    json match = json::array();
    for (const HeaderMatch& m : h.matches) {
      match.push_back({{"headers", {{m.header_name, StringMatchJson(m.header_value)}}}});
    }
    return {{"name", h.name},
            {"match", std::move(match)},
            {"route", json::array({{{"destination", CanaryDestination(CanaryPort(weighted_route))},
                                    {"weight", 100}}})}};
  }

  // A copy of a destination in the fields Argo keeps (destination host, subset, port; weight).
  static json CopyDestination(const json& d) {
    json dest = json::object();
    const json src = d.value("destination", json::object());
    if (src.is_object()) {
      if (src.contains("host") && src["host"].is_string() &&
          !src["host"].get<std::string>().empty())
        dest["host"] = src["host"];
      if (!SubsetOf(d).empty()) dest["subset"] = SubsetOf(d);
      if (src.contains("port") && src["port"].is_object()) {
        const json& n = src["port"].value("number", json());
        dest["port"] = n.is_number() && n.get<int64_t>() > 0 ? json{{"number", n}} : json::object();
      }
    }
    json out = {{"destination", std::move(dest)}};
    if (WeightOf(d) != 0) out["weight"] = WeightOf(d);
    return out;
  }

  json MirrorRouteJson(const MirrorRoute& m, const json& weighted_route) const {
    json match = json::array();
    for (const RouteMatch& rm : m.matches) {
      json one = json::object();
      if (rm.method) one["method"] = StringMatchJson(*rm.method);
      if (rm.path) one["uri"] = StringMatchJson(*rm.path);
      if (!rm.headers.empty()) {
        json headers = json::object();
        for (const auto& [name, value] : rm.headers) headers[name] = StringMatchJson(value);
        one["headers"] = std::move(headers);
      }
      match.push_back(std::move(one));
    }
    json route = json::array();
    for (const json& d : weighted_route.value("route", json::array())) {
      route.push_back(CopyDestination(d));
    }
    return {{"name", m.name},
            {"match", std::move(match)},
            {"route", std::move(route)},
            {"mirror", CanaryDestination(CanaryPort(&weighted_route))},
            {"mirrorPercentage", {{"value", m.percentage.value_or(100)}}}};
  }

  // Takes out the managed routes the router sets or keeps out; they are put back built anew.
  void RemoveManaged(json& http) const {
    json kept = json::array();
    for (json& r : http) {
      const std::string name = RouteName(r);
      if (!name.empty() && (d_.routes.contains(name) || d_.removed.contains(name))) continue;
      kept.push_back(std::move(r));
    }
    http = std::move(kept);
  }

  // Argo's orderRoutes: the managed routes first, in managedRoutes order, then the others in
  // their order.
  void Order(json& http) const {
    json ordered = json::array();
    for (const std::string& name : ctx_.managed_routes) {
      for (const json& r : http) {
        if (!name.empty() && RouteName(r) == name) ordered.push_back(r);
      }
    }
    for (const json& r : http) {
      const std::string name = RouteName(r);
      if (name.empty() || !Contains(ctx_.managed_routes, name)) ordered.push_back(r);
    }
    http = std::move(ordered);
  }

  const RouterContext& ctx_;
  const IstioConfig& config_;
  const IstioVirtualServiceConfig& vs_;
  const IstioDesired& d_;
};

// "web-stable=80 web-canary=20" for the destinations of a route.
std::string DescribeWeights(const json& route) {
  std::vector<std::string> parts;
  for (const json& d : route.value("route", json::array())) {
    std::string who = ShortHostOf(d);
    if (!SubsetOf(d).empty()) who += "/" + SubsetOf(d);
    parts.push_back(fmt::format("{}={}", who, WeightOf(d)));
  }
  return fmt::format("[{}]", fmt::join(parts, " "));
}

// ---- the router ----

// What the router's calls and their callbacks share; callbacks hold it, so the router may be
// destroyed before they run.
struct Core {
  Core(Env e, IstioConfig c)
      : env(std::move(e)),
        sync(env, kRouter),
        config(std::move(c)),
        vs_resource(MakeResource("networking.istio.io", env.versions.istio, "virtualservices",
                                 "VirtualService")),
        dr_resource(MakeResource("networking.istio.io", env.versions.istio, "destinationrules",
                                 "DestinationRule")) {
    if (!config.destination_rule) desired.canary_host = env.context.canary_service;
  }

  const Env env;
  ObjectSync sync;
  const IstioConfig config;
  const kube::Resource vs_resource;
  const kube::Resource dr_resource;
  std::mutex mu;
  IstioDesired desired;  // guarded by mu
};

void Append(std::string& message, const std::string& more) {
  if (!message.empty()) message += "; ";
  message += more;
}

// Converges VirtualService i, then the next ones, to `desired`. With `skip_missing`, a
// VirtualService that does not exist is passed over (RemoveManagedRoutes: nothing to remove).
void ConvergeFrom(std::shared_ptr<Core> core, std::shared_ptr<const IstioDesired> desired,
                  bool skip_missing, size_t i, StatusCallback done) {
  if (i == core->config.virtual_services.size()) return done(OkStatus());
  const IstioVirtualServiceConfig& vs = core->config.virtual_services[i];
  auto converge = [core, desired, skip_missing, i, done](Status read) mutable {
    const IstioVirtualServiceConfig& vs = core->config.virtual_services[i];
    if (!read.ok()) {
      if (skip_missing && read.code() == StatusCode::kFailedPrecondition) {
        return ConvergeFrom(core, desired, skip_missing, i + 1, std::move(done));
      }
      return done(read);
    }
    core->sync.Converge(
        core->vs_resource, vs.ns, vs.name,
        [core, desired, i](json& object) {
          return RewriteIstioVirtualService(core->env.context, core->config,
                                            core->config.virtual_services[i], *desired, object);
        },
        [core, desired, skip_missing, i, done](Status s) mutable {
          if (!s.ok()) return done(s);
          ConvergeFrom(core, desired, skip_missing, i + 1, std::move(done));
        });
  };
  if (!skip_missing) return converge(OkStatus());
  core->sync.Read(core->vs_resource, vs.ns, vs.name,
                  [converge = std::move(converge)](StatusOr<json> got) mutable {
                    converge(got ? OkStatus() : got.error());
                  });
}

// Converges every VirtualService to the desired state as it is now.
void ConvergeAll(std::shared_ptr<Core> core, StatusCallback done, bool skip_missing = false) {
  auto desired = std::make_shared<IstioDesired>();
  {
    std::lock_guard<std::mutex> lock(core->mu);
    *desired = core->desired;
  }
  ConvergeFrom(std::move(core), std::move(desired), skip_missing, 0, std::move(done));
}

struct VerifyState {
  IstioDesired desired;
  WeightCheck check;
};

// Reads VirtualService i back and compares its weighted routes with `state->desired`.
void VerifyFrom(std::shared_ptr<Core> core, std::shared_ptr<VerifyState> state, size_t i,
                StatusOrCallback<WeightCheck> done) {
  if (i == core->config.virtual_services.size()) {
    state->check.verification = state->check.message.empty() ? WeightVerification::kVerified
                                                             : WeightVerification::kNotVerified;
    return done(state->check);
  }
  const IstioVirtualServiceConfig& vs = core->config.virtual_services[i];
  core->sync.Read(
      core->vs_resource, vs.ns, vs.name,
      [core, state, i, done = std::move(done)](StatusOr<json> object) mutable {
        if (!object) return done(Fail(object.error()));
        const IstioVirtualServiceConfig& vs = core->config.virtual_services[i];
        const std::string what = Describe(core->vs_resource, vs.ns, vs.name);
        const RouterContext& ctx = core->env.context;
        Rewriter rewriter(ctx, core->config, vs, state->desired);
        json copy = *object;
        StatusOr<bool> changed = rewriter.Run(copy);
        if (!changed) {
          Append(state->check.message, fmt::format("{}: {}", what, changed.error().message()));
          return VerifyFrom(core, state, i + 1, std::move(done));
        }
        // Run accepted the object: its spec and routes have the shapes read below.
        const json& spec = (*object)["spec"];
        std::vector<std::string> found;
        auto weighted = rewriter.WeightedRoutes(spec);
        for (const Weighted& w : weighted ? *weighted : std::vector<Weighted>{}) {
          const json& route = spec[w.kind][w.index];
          found.push_back(fmt::format("{} {}", w.label, DescribeWeights(route)));
          if (state->check.observed_weight) continue;
          for (const json& d : route.value("route", json::array())) {
            const std::string subset = SubsetOf(d);
            if ((!ctx.canary_service.empty() && ShortHostOf(d) == ctx.canary_service) ||
                (core->config.destination_rule && !subset.empty() &&
                 subset == core->config.destination_rule->canary_subset)) {
              state->check.observed_weight = static_cast<int32_t>(WeightOf(d));
              break;
            }
          }
        }
        if (*changed) {
          const int32_t want = *state->desired.weight;
          Append(state->check.message,
                 fmt::format("{} has {}, not canary {} and stable {}", what, fmt::join(found, ", "),
                             want, StableWeight(ctx.max_weight, want, state->desired.additional)));
        }
        VerifyFrom(core, state, i + 1, std::move(done));
      });
}

class IstioRouter : public Router {
 public:
  IstioRouter(Env env, IstioConfig config)
      : core_(std::make_shared<Core>(std::move(env), std::move(config))) {}

  std::string_view Type() const override { return "Istio"; }

  void UpdateHash(std::string_view canary_hash, std::string_view stable_hash,
                  const std::vector<WeightDestination>& additional, StatusCallback done) override {
    if (!core_->config.destination_rule) return done(OkStatus());  // routes by Service name
    const IstioDestinationRuleConfig& rule = *core_->config.destination_rule;
    core_->sync.Converge(
        core_->dr_resource, core_->env.context.rollout.namespace_, rule.name,
        [core = core_, canary = std::string(canary_hash), stable = std::string(stable_hash),
         additional](json& object) {
          return RewriteIstioDestinationRule(core->env.context.rollout.name,
                                             *core->config.destination_rule, canary, stable,
                                             additional, object);
        },
        std::move(done));
  }

  void SetWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                 StatusCallback done) override {
    const int32_t max = core_->env.context.max_weight;
    if (weight < 0 || weight > max) {
      return done(
          InvalidArgumentError(fmt::format("istio: weight {} is outside 0..{}", weight, max)));
    }
    {
      std::lock_guard<std::mutex> lock(core_->mu);
      core_->desired.weight = weight;
      core_->desired.additional = additional;
    }
    ConvergeAll(core_, std::move(done));
  }

  void SetHeaderRoute(const HeaderRoute& route, StatusCallback done) override {
    SetRoute(route.name, route.matches.empty(), route, std::move(done));
  }

  void SetMirrorRoute(const MirrorRoute& route, StatusCallback done) override {
    if (route.percentage && (*route.percentage < 0 || *route.percentage > 100)) {
      return done(InvalidArgumentError(
          fmt::format("istio: mirror route \"{}\": percentage {} is outside 0..100", route.name,
                      *route.percentage)));
    }
    SetRoute(route.name, route.matches.empty(), route, std::move(done));
  }

  void RemoveManagedRoutes(StatusCallback done) override {
    {
      std::lock_guard<std::mutex> lock(core_->mu);
      IstioDesired& d = core_->desired;
      for (const auto& [name, route] : d.routes) d.removed.insert(name);
      for (const std::string& name : core_->env.context.managed_routes) d.removed.insert(name);
      d.routes.clear();
    }
    ConvergeAll(core_, std::move(done), /*skip_missing=*/true);
  }

  void VerifyWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                    StatusOrCallback<WeightCheck> done) override {
    auto state = std::make_shared<VerifyState>();
    state->desired.weight = weight;
    state->desired.additional = additional;
    state->desired.manage_routes = false;
    VerifyFrom(core_, std::move(state), 0, std::move(done));
  }

 private:
  void SetRoute(const std::string& name, bool remove, std::variant<HeaderRoute, MirrorRoute> route,
                StatusCallback done) {
    const char* kind = std::holds_alternative<HeaderRoute>(route) ? "header" : "mirror";
    if (!Contains(core_->env.context.managed_routes, name)) {
      return done(InvalidArgumentError(fmt::format(
          "istio: {} route \"{}\" is not listed in trafficRouting.managedRoutes", kind, name)));
    }
    bool need_host = false;
    {
      std::lock_guard<std::mutex> lock(core_->mu);
      IstioDesired& d = core_->desired;
      if (remove) {
        d.routes.erase(name);
        d.removed.insert(name);
      } else {
        d.routes.insert_or_assign(name, std::move(route));
        d.removed.erase(name);
      }
      need_host = core_->config.destination_rule.has_value() && !d.routes.empty();
    }
    if (!need_host) return ConvergeAll(core_, std::move(done));
    // With a DestinationRule, header and mirror destinations name its host (read on every call,
    // as Argo's getDestinationRuleHost).
    const std::string& rule = core_->config.destination_rule->name;
    core_->sync.Read(core_->dr_resource, core_->env.context.rollout.namespace_, rule,
                     [core = core_, done = std::move(done)](StatusOr<json> got) mutable {
                       if (!got) return done(got.error());
                       const json spec = got->value("spec", json::object());
                       const json host = spec.is_object() ? spec.value("host", json()) : json();
                       if (!host.is_string() || host.get<std::string>().empty()) {
                         return done(FailedPreconditionError(fmt::format(
                             "istio: {} has no spec.host for the header and mirror routes",
                             Describe(core->dr_resource, core->env.context.rollout.namespace_,
                                      core->config.destination_rule->name))));
                       }
                       {
                         std::lock_guard<std::mutex> lock(core->mu);
                         core->desired.canary_host = host.get<std::string>();
                       }
                       ConvergeAll(core, std::move(done));
                     });
  }

  std::shared_ptr<Core> core_;
};

}  // namespace

StatusOr<IstioConfig> ParseIstioConfig(const json& config, std::string_view rollout_ns) {
  if (!config.is_object()) {
    return Fail(InvalidArgumentError(
        "istio: expected an object {virtualService | virtualServices, destinationRule}"));
  }
  IstioConfig out;
  const bool one = config.contains("virtualService") && !config["virtualService"].is_null();
  const bool many = config.contains("virtualServices") && !config["virtualServices"].is_null();
  if (one == many) {
    return Fail(InvalidArgumentError(
        "istio: exactly one of virtualService and virtualServices must be set"));
  }
  if (one) {
    auto vs = ParseVirtualService(config["virtualService"], "istio.virtualService", rollout_ns);
    if (!vs) return Fail(vs.error());
    out.virtual_services.push_back(std::move(*vs));
  } else {
    const json& list = config["virtualServices"];
    if (!list.is_array() || list.empty()) {
      return Fail(ConfigError("istio.virtualServices", "expected a non-empty list"));
    }
    for (size_t i = 0; i < list.size(); ++i) {
      auto vs =
          ParseVirtualService(list[i], fmt::format("istio.virtualServices[{}]", i), rollout_ns);
      if (!vs) return Fail(vs.error());
      out.virtual_services.push_back(std::move(*vs));
    }
  }
  if (config.contains("destinationRule") && !config["destinationRule"].is_null()) {
    const json& dr = config["destinationRule"];
    const std::string path = "istio.destinationRule";
    if (!dr.is_object()) {
      return Fail(ConfigError(path,
                              "expected an object {name, canarySubsetName, stableSubsetName, "
                              "additionalSubsetNames}"));
    }
    IstioDestinationRuleConfig rule;
    for (auto [key, field] :
         {std::pair{"name", &rule.name}, std::pair{"canarySubsetName", &rule.canary_subset},
          std::pair{"stableSubsetName", &rule.stable_subset}}) {
      if (!dr.contains(key) || !dr[key].is_string() || dr[key].get<std::string>().empty()) {
        return Fail(ConfigError(path + "." + key, "expected a non-empty string"));
      }
      *field = dr[key].get<std::string>();
    }
    auto additional = StringList(dr, "additionalSubsetNames", path);
    if (!additional) return Fail(additional.error());
    rule.additional_subsets = std::move(*additional);
    out.destination_rule = std::move(rule);
  }
  return out;
}

StatusOr<bool> RewriteIstioVirtualService(const RouterContext& context, const IstioConfig& config,
                                          const IstioVirtualServiceConfig& vs,
                                          const IstioDesired& desired, json& object) {
  return Rewriter(context, config, vs, desired).Run(object);
}

StatusOr<bool> RewriteIstioDestinationRule(
    std::string_view rollout, const IstioDestinationRuleConfig& rule, std::string_view canary_hash,
    std::string_view stable_hash, const std::vector<WeightDestination>& additional, json& object) {
  const json before = object;
  if (!object.is_object() || !object.contains("spec") || !object["spec"].is_object()) {
    return Fail(FailedPreconditionError("has no spec"));
  }
  json& spec = object["spec"];
  json subsets = spec.value("subsets", json::array());
  if (subsets.is_null()) subsets = json::array();
  if (!subsets.is_array()) return Fail(FailedPreconditionError("spec.subsets is not a list"));

  // Sets (or, for an empty hash, removes) the hash label of a subset.
  auto label = [](json& subset, std::string_view hash) {
    if (!hash.empty()) {
      if (!subset.contains("labels") || !subset["labels"].is_object()) {
        subset["labels"] = json::object();
      }
      subset["labels"][kHashLabel] = std::string(hash);
    } else if (subset.contains("labels") && subset["labels"].is_object()) {
      subset["labels"].erase(kHashLabel);
      if (subset["labels"].empty()) subset.erase("labels");
    }
  };

  std::vector<const WeightDestination*> pending;
  for (const WeightDestination& a : additional) pending.push_back(&a);
  bool canary = false, stable = false;
  json out = json::array();
  for (json subset : subsets) {
    if (!subset.is_object())
      return Fail(FailedPreconditionError("spec.subsets holds a non-object"));
    const std::string name = subset.value("name", "");
    if (name == rule.canary_subset) {
      label(subset, canary_hash);
      canary = true;
    } else if (name == rule.stable_subset) {
      label(subset, stable_hash);
      stable = true;
    } else if (auto it = std::find_if(
                   pending.begin(), pending.end(),
                   [&](const WeightDestination* a) { return a->service_name == name; });
               it != pending.end()) {
      label(subset, (*it)->pod_template_hash);
      pending.erase(it);
    } else if (!Contains(rule.additional_subsets, name)) {
      continue;  // a subset of a finished experiment (or anything else): dropped, as Argo does
    }
    out.push_back(std::move(subset));
  }
  if (!canary) {
    return Fail(FailedPreconditionError(fmt::format(
        "has no subset named \"{}\" (destinationRule.canarySubsetName)", rule.canary_subset)));
  }
  if (!stable) {
    return Fail(FailedPreconditionError(fmt::format(
        "has no subset named \"{}\" (destinationRule.stableSubsetName)", rule.stable_subset)));
  }
  for (const WeightDestination* a : pending) {
    out.push_back({{"name", a->service_name}, {"labels", {{kHashLabel, a->pod_template_hash}}}});
  }
  spec["subsets"] = std::move(out);
  if (!object["metadata"].is_object()) object["metadata"] = json::object();
  json& meta = object["metadata"];
  if (!meta.contains("annotations") || !meta["annotations"].is_object()) {
    meta["annotations"] = json::object();
  }
  meta["annotations"][kManagedByKey] = std::string(rollout);
  return object != before;
}

StatusOr<std::unique_ptr<Router>> NewIstioRouter(Env env) {
  const std::string& v = env.versions.istio;
  if (v != "v1alpha3" && v != "v1beta1" && v != "v1") {
    return Fail(InvalidArgumentError(fmt::format(
        "istio: unsupported networking.istio.io API version \"{}\" (v1alpha3, v1beta1 or v1)", v)));
  }
  auto config = ParseIstioConfig(env.config, env.context.rollout.namespace_);
  if (!config) return Fail(config.error());
  if (!config->destination_rule &&
      (env.context.canary_service.empty() || env.context.stable_service.empty())) {
    return Fail(InvalidArgumentError(
        "istio: without a destinationRule the canary needs canaryService and stableService to "
        "route between"));
  }
  if (env.context.max_weight <= 0) {
    return Fail(InvalidArgumentError("istio: maxTrafficWeight must be positive"));
  }
  return std::unique_ptr<Router>(std::make_unique<IstioRouter>(std::move(env), std::move(*config)));
}

}  // namespace ramp::kube_traffic
