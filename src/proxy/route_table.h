// RouteTable: the immutable routing configuration of one service the built-in proxy serves (one
// per Rollout) — where it listens, the stable and canary backend sets, the canary weight, header
// routes, mirror routes, sticky sessions, timeouts, the load-balancing mode and passive health
// ejection — with strict JSON decoding and the pure functions that choose the backend set of one
// request (Pick) and whether it is mirrored (MatchMirrorRoute, ShouldMirror).
//
// Thread-safety: a RouteTable is immutable once decoded; the proxy shares it between threads as a
// std::shared_ptr<const RouteTable> and swaps the pointer atomically to apply a change.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "ramp/status.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace ramp::proxy {

// One upstream instance: an IPv4/IPv6 literal or host name and a port.
struct Endpoint {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const;  // "host:port", IPv6 bracketed
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// Parses "host:port" / "[v6]:port". For a listen address (`listen`) the host may be empty (all
// interfaces) and the port 0 (any free port, useful in tests).
StatusOr<Endpoint> ParseEndpoint(std::string_view text, bool listen);

enum class Revision : uint8_t { kStable = 0, kCanary = 1 };
std::string_view RevisionName(Revision r);

enum class MatchKind : uint8_t { kExact, kPrefix, kRegex };

// One string condition: exact, prefix, or RE2 matched against the whole value.
struct StringMatch {
  MatchKind kind = MatchKind::kExact;
  std::string value;
  std::shared_ptr<const re2::RE2> regex;  // set for kRegex
  bool Matches(std::string_view s) const;
};

// One header condition of a header route; the header name is stored lower-case.
struct HeaderMatch {
  std::string header;
  MatchKind kind = MatchKind::kExact;
  std::string value;
  std::shared_ptr<const re2::RE2> regex;  // set for kRegex (full match)
};

// A header route (Argo's setHeaderRoute): every match must hold (AND); when one route of the
// table matches, the request goes to the canary set (routes are ORed).
struct HeaderRoute {
  std::string name;
  std::vector<HeaderMatch> matches;
};

// One match of a mirror route (Argo's RouteMatch): every part that is set must hold (AND); an
// unset part matches anything.
struct MirrorMatch {
  std::optional<StringMatch> method;  // the request method, as sent
  std::optional<StringMatch> path;    // the request target's path, without the query string
  // Header conditions: lower-case name and its condition on the first header of that name.
  std::vector<std::pair<std::string, StringMatch>> headers;
};

// A mirror route (Argo's setMirrorRoute): a request that one of `matches` selects (ORed) is
// served normally and a copy of `percentage` % of them is sent to the canary set.
struct MirrorRoute {
  std::string name;
  int32_t percentage = 100;  // 0..100
  std::vector<MirrorMatch> matches;
};

// Sticky sessions: the value of a cookie or of a request header chooses the revision by hash.
struct Sticky {
  enum class Kind : uint8_t { kNone, kCookie, kHeader };
  Kind kind = Kind::kNone;
  std::string name;             // the cookie name as given, or the lower-case header name
  std::chrono::seconds ttl{0};  // cookie only: Max-Age of the cookie the proxy sets; 0: session
};

enum class LoadBalancing : uint8_t { kRoundRobin, kLeastRequest };

// Passive health ejection: an instance that fails `consecutive_failures` times in a row (connect
// failure, no answer, or 502/503/504) is skipped for `ejection_time`.
struct OutlierDetection {
  bool enabled = false;  // set when the table has "outlierDetection"
  int32_t consecutive_failures = 5;
  std::chrono::milliseconds ejection_time{30000};
};

struct RouteTable {
  std::string name;  // the service name (set by the admin API from the URL)
  Endpoint listen;
  std::vector<Endpoint> stable;
  std::vector<Endpoint> canary;
  int32_t max_weight = 100;   // 1..10000
  int32_t canary_weight = 0;  // 0..max_weight
  std::vector<HeaderRoute> header_routes;
  std::vector<MirrorRoute> mirror_routes;
  Sticky sticky;
  LoadBalancing load_balancing = LoadBalancing::kRoundRobin;
  OutlierDetection outlier_detection;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{60000};  // 0: none
  std::chrono::milliseconds idle_timeout{60000};
  uint64_t version = 0;  // assigned by the proxy when the table is applied
};

// The little of a request Pick needs: a header lookup (case-insensitive name, lower-case given).
class RequestView {
 public:
  virtual ~RequestView() = default;
  // The value of the first header `lower_name`, or nullopt.
  virtual std::optional<std::string_view> Header(std::string_view lower_name) const = 0;
  // The value of cookie `name` (case-sensitive) in the Cookie header(s), or nullopt. The default
  // reads the first Cookie header.
  virtual std::optional<std::string_view> Cookie(std::string_view name) const;
};

// The value of cookie `name` in one Cookie header value ("a=1; b=2"), or nullopt.
std::optional<std::string_view> FindCookie(std::string_view cookie_header, std::string_view name);

// The sticky value of a request (its sticky cookie or header), or nullopt (also without sticky).
std::optional<std::string_view> StickyValue(const RouteTable& table, const RequestView& request);
// A stable 64-bit hash of a sticky value (the same in every process and version).
uint64_t StickyHash(std::string_view value);

// Chooses the revision of a request: a matching header route → canary; otherwise canary when the
// draw is below canary_weight. The draw is StickyHash(value) % max_weight when the request carries
// its sticky value, else `draw` (uniform in [0, max_weight)). Weight 0 never picks canary, weight
// max_weight always does, and raising the weight only moves sticky values from stable to canary.
// An empty canary set always yields stable.
Revision Pick(const RouteTable& table, const RequestView& request, uint32_t draw);

// The first mirror route one of whose matches selects the request, or nullptr. `target` is the
// request target as sent (origin or absolute form); its path without the query is matched.
const MirrorRoute* MatchMirrorRoute(const RouteTable& table, std::string_view method,
                                    std::string_view target, const RequestView& request);
// True when the request is to be mirrored: a route matches and `draw100` (uniform in [0, 100))
// is below its percentage. Never true with an empty canary set.
bool ShouldMirror(const RouteTable& table, std::string_view method, std::string_view target,
                  const RequestView& request, uint32_t draw100);

// Decodes the JSON body of `PUT /v1/services/<name>`. Unknown fields and wrong types are errors
// naming the field path (e.g. "headerRoutes[0].match[1].regex: invalid regex ...").
StatusOr<RouteTable> DecodeRouteTable(const nlohmann::json& j);
// The JSON form that DecodeRouteTable reads (plus "version"), as `GET` returns it.
nlohmann::json EncodeRouteTable(const RouteTable& table);

}  // namespace ramp::proxy
