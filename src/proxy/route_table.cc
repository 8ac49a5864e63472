// RouteTable decoding, encoding and Pick.
#include "proxy/route_table.h"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <set>

#include "spec/common.h"

namespace ramp::proxy {
namespace {

using nlohmann::json;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos)
      return false;
  }
  return true;
}

Status Err(std::string_view path, std::string_view what) {
  return InvalidArgumentError(std::string(path) + ": " + std::string(what));
}

Status CheckFields(const json& obj, std::string_view path, const std::set<std::string>& known) {
  if (!obj.is_object()) return Err(path.empty() ? "(body)" : path, "must be an object");
  for (const auto& [key, value] : obj.items()) {
    if (known.count(key) == 0) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      return Err(path.empty() ? key : std::string(path) + "." + key,
                 "unknown field \"" + key + "\" (known: " + list + ")");
    }
  }
  return OkStatus();
}

std::string Join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
}

StatusOr<std::string> GetString(const json& obj, std::string_view path, const std::string& key) {
  const auto& v = obj.at(key);
  if (!v.is_string()) return Fail(Err(Join(path, key), "must be a string"));
  return v.get<std::string>();
}

StatusOr<int64_t> GetInt(const json& obj, std::string_view path, const std::string& key, int64_t lo,
                         int64_t hi) {
  const auto& v = obj.at(key);
  if (!v.is_number_integer()) return Fail(Err(Join(path, key), "must be an integer"));
  int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) {
    return Fail(Err(Join(path, key), "must be between " + std::to_string(lo) + " and " +
                                         std::to_string(hi) + ", got " + std::to_string(x)));
  }
  return x;
}

StatusOr<std::chrono::milliseconds> GetDuration(const json& obj, const std::string& key,
                                                std::chrono::milliseconds min) {
  ASSIGN_OR_RETURN(std::string text, GetString(obj, "", key));
  std::optional<int64_t> nanos = spec::ParseGoDuration(text);
  if (!nanos) return Fail(Err(key, "invalid duration \"" + text + "\" (e.g. \"300ms\", \"5s\")"));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds(*nanos));
  if (*nanos < 0 || ms < min) {
    return Fail(Err(
        key, "must be at least " + spec::FormatGoDuration(std::chrono::nanoseconds(min).count())));
  }
  return ms;
}

StatusOr<std::vector<Endpoint>> GetEndpoints(const json& obj, const std::string& key) {
  const auto& v = obj.at(key);
  if (!v.is_array()) return Fail(Err(key, "must be a list of \"host:port\""));
  if (v.size() > 4096) return Fail(Err(key, "more than 4096 endpoints"));
  std::vector<Endpoint> out;
  for (size_t i = 0; i < v.size(); ++i) {
    std::string path = key + "[" + std::to_string(i) + "]";
    if (!v[i].is_string()) return Fail(Err(path, "must be a string \"host:port\""));
    auto ep = ParseEndpoint(v[i].get<std::string>(), false);
    if (!ep) return Fail(ep.error().WithPrefix(path));
    out.push_back(*ep);
  }
  return out;
}

StatusOr<HeaderRoute> DecodeRoute(const json& j, const std::string& path) {
  RETURN_IF_ERROR(CheckFields(j, path, {"name", "match"}));
  HeaderRoute route;
  if (j.contains("name")) {
    ASSIGN_OR_RETURN(route.name, GetString(j, path, "name"));
  }
  if (!j.contains("match") || !j["match"].is_array() || j["match"].empty()) {
    return Fail(Err(Join(path, "match"), "must be a non-empty list"));
  }
  for (size_t i = 0; i < j["match"].size(); ++i) {
    const json& m = j["match"][i];
    std::string mp = Join(path, "match") + "[" + std::to_string(i) + "]";
    RETURN_IF_ERROR(CheckFields(m, mp, {"header", "exact", "prefix", "regex"}));
    HeaderMatch hm;
    if (!m.contains("header")) return Fail(Err(Join(mp, "header"), "required"));
    ASSIGN_OR_RETURN(std::string header, GetString(m, mp, "header"));
    if (!IsToken(header)) return Fail(Err(Join(mp, "header"), "not an HTTP header name"));
    hm.header = Lower(header);
    int kinds = 0;
    for (const auto& [key, kind] :
         {std::pair{"exact", MatchKind::kExact}, std::pair{"prefix", MatchKind::kPrefix},
          std::pair{"regex", MatchKind::kRegex}}) {
      if (!m.contains(key)) continue;
      ++kinds;
      ASSIGN_OR_RETURN(hm.value, GetString(m, mp, key));
      hm.kind = kind;
    }
    if (kinds != 1) return Fail(Err(mp, "exactly one of exact, prefix and regex is required"));
    if (hm.kind == MatchKind::kRegex) {
      RE2::Options options;
      options.set_log_errors(false);
      auto re = std::make_shared<RE2>(hm.value, options);
      if (!re->ok()) return Fail(Err(Join(mp, "regex"), "invalid regex: " + re->error()));
      hm.regex = std::move(re);
    }
    route.matches.push_back(std::move(hm));
  }
  return route;
}

}  // namespace

std::string Endpoint::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

StatusOr<Endpoint> ParseEndpoint(std::string_view text, bool listen) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return Fail(InvalidArgumentError("\"" + std::string(text) + "\" is not host:port"));
  }
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return Fail(InvalidArgumentError("\"" + std::string(text) +
                                     "\": an IPv6 address must be bracketed ([::1]:80)"));
  }
  if (host.empty() && !listen) {
    return Fail(InvalidArgumentError("\"" + std::string(text) + "\" has no host"));
  }
  for (unsigned char c : host) {
    if (std::isalnum(c) == 0 && c != '.' && c != '-' && c != ':' && c != '_') {
      return Fail(InvalidArgumentError("\"" + std::string(text) + "\": bad host"));
    }
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || ptr != port.data() + port.size() || (value < 1 && !listen) ||
      value > 65535) {
    return Fail(InvalidArgumentError("\"" + std::string(text) + "\": port must be 1-65535"));
  }
  return Endpoint{std::string(host), static_cast<uint16_t>(value)};
}

std::string_view RevisionName(Revision r) { return r == Revision::kCanary ? "canary" : "stable"; }

Revision Pick(const RouteTable& table, const RequestView& request, uint32_t draw) {
  if (table.canary.empty()) return Revision::kStable;
  for (const HeaderRoute& route : table.header_routes) {
    bool all = true;
    for (const HeaderMatch& m : route.matches) {
      std::optional<std::string_view> v = request.Header(m.header);
      bool ok = false;
      if (v) {
        switch (m.kind) {
          case MatchKind::kExact:
            ok = *v == m.value;
            break;
          case MatchKind::kPrefix:
            ok = v->substr(0, m.value.size()) == m.value;
            break;
          case MatchKind::kRegex:
            ok = RE2::FullMatch(re2::StringPiece(v->data(), v->size()), *m.regex);
            break;
        }
      }
      if (!ok) {
        all = false;
        break;
      }
    }
    if (all) return Revision::kCanary;
  }
  if (table.canary_weight <= 0) return Revision::kStable;
  return static_cast<int64_t>(draw % static_cast<uint32_t>(table.max_weight)) < table.canary_weight
             ? Revision::kCanary
             : Revision::kStable;
}

StatusOr<RouteTable> DecodeRouteTable(const json& j) {
  RETURN_IF_ERROR(CheckFields(
      j, "",
      {"listen", "stable", "canary", "maxWeight", "canaryWeight", "headerRoutes", "loadBalancing",
       "connectTimeout", "requestTimeout", "idleTimeout", "version", "name"}));
  RouteTable t;
  if (!j.contains("listen")) return Fail(Err("listen", "required"));
  {
    ASSIGN_OR_RETURN(std::string listen, GetString(j, "", "listen"));
    auto ep = ParseEndpoint(listen, true);
    if (!ep) return Fail(ep.error().WithPrefix("listen"));
    t.listen = *ep;
  }
  if (!j.contains("stable")) return Fail(Err("stable", "required"));
  ASSIGN_OR_RETURN(t.stable, GetEndpoints(j, "stable"));
  if (t.stable.empty()) return Fail(Err("stable", "needs at least one endpoint"));
  if (j.contains("canary")) {
    ASSIGN_OR_RETURN(t.canary, GetEndpoints(j, "canary"));
  }
  if (j.contains("maxWeight")) {
    ASSIGN_OR_RETURN(int64_t w, GetInt(j, "", "maxWeight", 1, 10000));
    t.max_weight = static_cast<int32_t>(w);
  }
  if (j.contains("canaryWeight")) {
    ASSIGN_OR_RETURN(int64_t w, GetInt(j, "", "canaryWeight", 0, t.max_weight));
    t.canary_weight = static_cast<int32_t>(w);
  }
  if (t.canary_weight > 0 && t.canary.empty()) {
    return Fail(Err("canary", "needs at least one endpoint when canaryWeight > 0"));
  }
  if (j.contains("headerRoutes")) {
    const json& routes = j["headerRoutes"];
    if (!routes.is_array()) return Fail(Err("headerRoutes", "must be a list"));
    for (size_t i = 0; i < routes.size(); ++i) {
      ASSIGN_OR_RETURN(HeaderRoute r,
                       DecodeRoute(routes[i], "headerRoutes[" + std::to_string(i) + "]"));
      t.header_routes.push_back(std::move(r));
    }
    if (!t.header_routes.empty() && t.canary.empty()) {
      return Fail(Err("canary", "needs at least one endpoint when headerRoutes are set"));
    }
  }
  if (j.contains("loadBalancing")) {
    ASSIGN_OR_RETURN(std::string lb, GetString(j, "", "loadBalancing"));
    if (lb == "leastRequest") {
      return Fail(Status(StatusCode::kUnimplemented,
                         "loadBalancing: \"leastRequest\" is not supported yet (use roundRobin)"));
    }
    if (lb != "roundRobin") return Fail(Err("loadBalancing", "must be \"roundRobin\""));
  }
  using std::chrono::milliseconds;
  if (j.contains("connectTimeout")) {
    ASSIGN_OR_RETURN(t.connect_timeout, GetDuration(j, "connectTimeout", milliseconds(1)));
  }
  if (j.contains("requestTimeout")) {
    ASSIGN_OR_RETURN(t.request_timeout, GetDuration(j, "requestTimeout", milliseconds(0)));
  }
  if (j.contains("idleTimeout")) {
    ASSIGN_OR_RETURN(t.idle_timeout, GetDuration(j, "idleTimeout", milliseconds(1000)));
  }
  if (j.contains("name")) {
    ASSIGN_OR_RETURN(t.name, GetString(j, "", "name"));
  }
  if (j.contains("version")) {
    ASSIGN_OR_RETURN(int64_t v, GetInt(j, "", "version", 0, INT64_MAX));
    t.version = static_cast<uint64_t>(v);
  }
  return t;
}

json EncodeRouteTable(const RouteTable& t) {
  auto eps = [](const std::vector<Endpoint>& v) {
    json a = json::array();
    for (const auto& e : v) a.push_back(e.ToString());
    return a;
  };
  json routes = json::array();
  for (const auto& r : t.header_routes) {
    json m = json::array();
    for (const auto& hm : r.matches) {
      const char* key = hm.kind == MatchKind::kExact    ? "exact"
                        : hm.kind == MatchKind::kPrefix ? "prefix"
                                                        : "regex";
      m.push_back({{"header", hm.header}, {key, hm.value}});
    }
    json jr = {{"match", m}};
    if (!r.name.empty()) jr["name"] = r.name;
    routes.push_back(jr);
  }
  auto dur = [](std::chrono::milliseconds ms) {
    return spec::FormatGoDuration(std::chrono::nanoseconds(ms).count());
  };
  json j = {{"name", t.name},
            {"listen", t.listen.ToString()},
            {"stable", eps(t.stable)},
            {"canary", eps(t.canary)},
            {"maxWeight", t.max_weight},
            {"canaryWeight", t.canary_weight},
            {"headerRoutes", routes},
            {"loadBalancing", "roundRobin"},
            {"connectTimeout", dur(t.connect_timeout)},
            {"requestTimeout", dur(t.request_timeout)},
            {"idleTimeout", dur(t.idle_timeout)},
            {"version", t.version}};
  return j;
}

}  // namespace ramp::proxy
