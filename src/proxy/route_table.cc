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

StatusOr<std::chrono::milliseconds> GetDuration(const json& obj, std::string_view path,
                                                const std::string& key,
                                                std::chrono::milliseconds min) {
  ASSIGN_OR_RETURN(std::string text, GetString(obj, path, key));
  const std::string field = Join(path, key);
  std::optional<int64_t> nanos = spec::ParseGoDuration(text);
  if (!nanos) {
    return Fail(Err(field, "invalid duration \"" + text + "\" (e.g. \"300ms\", \"5s\")"));
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds(*nanos));
  if (*nanos < 0 || ms < min) {
    return Fail(Err(field, "must be at least " +
                               spec::FormatGoDuration(std::chrono::nanoseconds(min).count())));
  }
  return ms;
}

StatusOr<std::chrono::milliseconds> GetDuration(const json& obj, const std::string& key,
                                                std::chrono::milliseconds min) {
  return GetDuration(obj, "", key, min);
}

StatusOr<std::shared_ptr<const RE2>> CompileRegex(const std::string& pattern,
                                                  const std::string& path) {
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<RE2>(pattern, options);
  if (!re->ok()) return Fail(Err(path, "invalid regex: " + re->error()));
  return std::shared_ptr<const RE2>(std::move(re));
}

// {"exact"|"prefix"|"regex": "v"}: exactly one of the three.
StatusOr<StringMatch> DecodeStringMatch(const json& j, const std::string& path) {
  RETURN_IF_ERROR(CheckFields(j, path, {"exact", "prefix", "regex"}));
  StringMatch sm;
  int kinds = 0;
  for (const auto& [key, kind] :
       {std::pair{"exact", MatchKind::kExact}, std::pair{"prefix", MatchKind::kPrefix},
        std::pair{"regex", MatchKind::kRegex}}) {
    if (!j.contains(key)) continue;
    ++kinds;
    ASSIGN_OR_RETURN(sm.value, GetString(j, path, key));
    sm.kind = kind;
  }
  if (kinds != 1) return Fail(Err(path, "exactly one of exact, prefix and regex is required"));
  if (sm.kind == MatchKind::kRegex) {
    ASSIGN_OR_RETURN(sm.regex, CompileRegex(sm.value, Join(path, "regex")));
  }
  return sm;
}

const char* KindKey(MatchKind kind) {
  return kind == MatchKind::kExact ? "exact" : kind == MatchKind::kPrefix ? "prefix" : "regex";
}

json EncodeStringMatch(const StringMatch& sm) { return {{KindKey(sm.kind), sm.value}}; }

bool MatchValue(MatchKind kind, const std::string& value, const RE2* regex, std::string_view v) {
  switch (kind) {
    case MatchKind::kExact:
      return v == value;
    case MatchKind::kPrefix:
      return v.substr(0, value.size()) == value;
    case MatchKind::kRegex:
      return regex != nullptr && RE2::FullMatch(re2::StringPiece(v.data(), v.size()), *regex);
  }
  return false;
}

StatusOr<MirrorRoute> DecodeMirrorRoute(const json& j, const std::string& path) {
  RETURN_IF_ERROR(CheckFields(j, path, {"name", "percentage", "match"}));
  MirrorRoute route;
  if (j.contains("name")) {
    ASSIGN_OR_RETURN(route.name, GetString(j, path, "name"));
  }
  if (j.contains("percentage")) {
    ASSIGN_OR_RETURN(int64_t p, GetInt(j, path, "percentage", 0, 100));
    route.percentage = static_cast<int32_t>(p);
  }
  if (!j.contains("match") || !j["match"].is_array() || j["match"].empty()) {
    return Fail(Err(Join(path, "match"), "must be a non-empty list"));
  }
  for (size_t i = 0; i < j["match"].size(); ++i) {
    const json& m = j["match"][i];
    std::string mp = Join(path, "match") + "[" + std::to_string(i) + "]";
    RETURN_IF_ERROR(CheckFields(m, mp, {"method", "path", "headers"}));
    MirrorMatch mm;
    if (m.contains("method")) {
      ASSIGN_OR_RETURN(mm.method, DecodeStringMatch(m["method"], Join(mp, "method")));
    }
    if (m.contains("path")) {
      ASSIGN_OR_RETURN(mm.path, DecodeStringMatch(m["path"], Join(mp, "path")));
    }
    if (m.contains("headers")) {
      const json& hs = m["headers"];
      const std::string hp = Join(mp, "headers");
      if (!hs.is_object()) {
        return Fail(Err(hp, "must be an object of header name to {exact|prefix|regex}"));
      }
      for (const auto& [name, cond] : hs.items()) {
        const std::string np = Join(hp, name);
        if (!IsToken(name)) return Fail(Err(np, "not an HTTP header name"));
        ASSIGN_OR_RETURN(StringMatch sm, DecodeStringMatch(cond, np));
        mm.headers.emplace_back(Lower(name), std::move(sm));
      }
    }
    route.matches.push_back(std::move(mm));
  }
  return route;
}

StatusOr<Sticky> DecodeSticky(const json& j) {
  RETURN_IF_ERROR(CheckFields(j, "sticky", {"cookie", "header", "ttl"}));
  Sticky sticky;
  if (j.contains("cookie") == j.contains("header")) {
    return Fail(Err("sticky", "exactly one of cookie and header is required"));
  }
  const std::string key = j.contains("cookie") ? "cookie" : "header";
  ASSIGN_OR_RETURN(std::string name, GetString(j, "sticky", key));
  if (!IsToken(name)) {
    return Fail(
        Err("sticky." + key, "must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~)"));
  }
  sticky.kind = key == "cookie" ? Sticky::Kind::kCookie : Sticky::Kind::kHeader;
  sticky.name = key == "cookie" ? name : Lower(name);
  if (j.contains("ttl")) {
    if (sticky.kind != Sticky::Kind::kCookie) {
      return Fail(Err("sticky.ttl", "applies to a sticky cookie only; set cookie"));
    }
    ASSIGN_OR_RETURN(auto ttl, GetDuration(j, "sticky", "ttl", std::chrono::seconds(1)));
    sticky.ttl = std::chrono::duration_cast<std::chrono::seconds>(ttl);
  }
  return sticky;
}

StatusOr<OutlierDetection> DecodeOutlierDetection(const json& j) {
  const std::string path = "outlierDetection";
  RETURN_IF_ERROR(CheckFields(j, path, {"consecutiveFailures", "ejectionTime"}));
  OutlierDetection od;
  od.enabled = true;
  if (j.contains("consecutiveFailures")) {
    ASSIGN_OR_RETURN(int64_t n, GetInt(j, path, "consecutiveFailures", 1, 10000));
    od.consecutive_failures = static_cast<int32_t>(n);
  }
  if (j.contains("ejectionTime")) {
    ASSIGN_OR_RETURN(od.ejection_time,
                     GetDuration(j, path, "ejectionTime", std::chrono::milliseconds(1)));
  }
  return od;
}

// The path of a request target: origin form up to '?'; absolute form without scheme and host.
std::string_view TargetPath(std::string_view target) {
  if (!target.empty() && target.front() != '/') {
    size_t scheme = target.find("://");
    if (scheme != std::string_view::npos) {
      size_t slash = target.find('/', scheme + 3);
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  size_t cut = target.find_first_of("?#");
  return cut == std::string_view::npos ? target : target.substr(0, cut);
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

bool StringMatch::Matches(std::string_view s) const {
  return MatchValue(kind, value, regex.get(), s);
}

std::optional<std::string_view> FindCookie(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
    while (!pair.empty() && (pair.back() == ' ' || pair.back() == '\t')) pair.remove_suffix(1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = pair.substr(0, eq);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.remove_suffix(1);
    if (key != name) continue;
    std::string_view value = pair.substr(eq + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return std::nullopt;
}

std::optional<std::string_view> RequestView::Cookie(std::string_view name) const {
  std::optional<std::string_view> header = Header("cookie");
  if (!header) return std::nullopt;
  return FindCookie(*header, name);
}

std::optional<std::string_view> StickyValue(const RouteTable& table, const RequestView& request) {
  std::optional<std::string_view> v;
  switch (table.sticky.kind) {
    case Sticky::Kind::kNone:
      return std::nullopt;
    case Sticky::Kind::kCookie:
      v = request.Cookie(table.sticky.name);
      break;
    case Sticky::Kind::kHeader:
      v = request.Header(table.sticky.name);
      break;
  }
  if (!v || v->empty()) return std::nullopt;
  return v;
}

uint64_t StickyHash(std::string_view value) {
  // FNV-1a, then the MurmurHash3 finalizer so that the low digits (taken modulo maxWeight) mix.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : value) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

Revision Pick(const RouteTable& table, const RequestView& request, uint32_t draw) {
  if (table.canary.empty()) return Revision::kStable;
  for (const HeaderRoute& route : table.header_routes) {
    bool all = true;
    for (const HeaderMatch& m : route.matches) {
      std::optional<std::string_view> v = request.Header(m.header);
      if (!v || !MatchValue(m.kind, m.value, m.regex.get(), *v)) {
        all = false;
        break;
      }
    }
    if (all) return Revision::kCanary;
  }
  if (table.canary_weight <= 0) return Revision::kStable;
  const uint64_t max = static_cast<uint64_t>(table.max_weight);
  uint64_t point = draw % max;
  if (std::optional<std::string_view> sticky = StickyValue(table, request)) {
    point = StickyHash(*sticky) % max;
  }
  return static_cast<int64_t>(point) < table.canary_weight ? Revision::kCanary : Revision::kStable;
}

const MirrorRoute* MatchMirrorRoute(const RouteTable& table, std::string_view method,
                                    std::string_view target, const RequestView& request) {
  if (table.mirror_routes.empty()) return nullptr;
  const std::string_view path = TargetPath(target);
  for (const MirrorRoute& route : table.mirror_routes) {
    for (const MirrorMatch& m : route.matches) {
      if (m.method && !m.method->Matches(method)) continue;
      if (m.path && !m.path->Matches(path)) continue;
      bool headers = true;
      for (const auto& [name, cond] : m.headers) {
        std::optional<std::string_view> v = request.Header(name);
        if (!v || !cond.Matches(*v)) {
          headers = false;
          break;
        }
      }
      if (headers) return &route;
    }
  }
  return nullptr;
}

bool ShouldMirror(const RouteTable& table, std::string_view method, std::string_view target,
                  const RequestView& request, uint32_t draw100) {
  if (table.canary.empty()) return false;
  const MirrorRoute* route = MatchMirrorRoute(table, method, target, request);
  return route != nullptr && static_cast<int32_t>(draw100 % 100) < route->percentage;
}

StatusOr<RouteTable> DecodeRouteTable(const json& j) {
  RETURN_IF_ERROR(
      CheckFields(j, "",
                  {"listen", "stable", "canary", "maxWeight", "canaryWeight", "headerRoutes",
                   "mirrorRoutes", "sticky", "loadBalancing", "outlierDetection", "connectTimeout",
                   "requestTimeout", "idleTimeout", "version", "name"}));
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
  if (j.contains("mirrorRoutes")) {
    const json& routes = j["mirrorRoutes"];
    if (!routes.is_array()) return Fail(Err("mirrorRoutes", "must be a list"));
    for (size_t i = 0; i < routes.size(); ++i) {
      ASSIGN_OR_RETURN(MirrorRoute r,
                       DecodeMirrorRoute(routes[i], "mirrorRoutes[" + std::to_string(i) + "]"));
      t.mirror_routes.push_back(std::move(r));
    }
    if (!t.mirror_routes.empty() && t.canary.empty()) {
      return Fail(Err("canary", "needs at least one endpoint when mirrorRoutes are set"));
    }
  }
  if (j.contains("sticky")) {
    ASSIGN_OR_RETURN(t.sticky, DecodeSticky(j["sticky"]));
  }
  if (j.contains("loadBalancing")) {
    ASSIGN_OR_RETURN(std::string lb, GetString(j, "", "loadBalancing"));
    if (lb == "roundRobin") {
      t.load_balancing = LoadBalancing::kRoundRobin;
    } else if (lb == "leastRequest") {
      t.load_balancing = LoadBalancing::kLeastRequest;
    } else {
      return Fail(
          Err("loadBalancing", "must be \"roundRobin\" or \"leastRequest\", got \"" + lb + "\""));
    }
  }
  if (j.contains("outlierDetection")) {
    ASSIGN_OR_RETURN(t.outlier_detection, DecodeOutlierDetection(j["outlierDetection"]));
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
  json mirrors = json::array();
  for (const auto& r : t.mirror_routes) {
    json m = json::array();
    for (const auto& mm : r.matches) {
      json jm = json::object();
      if (mm.method) jm["method"] = EncodeStringMatch(*mm.method);
      if (mm.path) jm["path"] = EncodeStringMatch(*mm.path);
      if (!mm.headers.empty()) {
        json hs = json::object();
        for (const auto& [name, cond] : mm.headers) hs[name] = EncodeStringMatch(cond);
        jm["headers"] = hs;
      }
      m.push_back(jm);
    }
    json jr = {{"percentage", r.percentage}, {"match", m}};
    if (!r.name.empty()) jr["name"] = r.name;
    mirrors.push_back(jr);
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
            {"mirrorRoutes", mirrors},
            {"loadBalancing",
             t.load_balancing == LoadBalancing::kLeastRequest ? "leastRequest" : "roundRobin"},
            {"connectTimeout", dur(t.connect_timeout)},
            {"requestTimeout", dur(t.request_timeout)},
            {"idleTimeout", dur(t.idle_timeout)},
            {"version", t.version}};
  if (t.sticky.kind != Sticky::Kind::kNone) {
    json sticky = {{t.sticky.kind == Sticky::Kind::kCookie ? "cookie" : "header", t.sticky.name}};
    if (t.sticky.ttl.count() > 0) sticky["ttl"] = dur(t.sticky.ttl);
    j["sticky"] = sticky;
  }
  if (t.outlier_detection.enabled) {
    j["outlierDetection"] = {{"consecutiveFailures", t.outlier_detection.consecutive_failures},
                             {"ejectionTime", dur(t.outlier_detection.ejection_time)}};
  }
  return j;
}

}  // namespace ramp::proxy
