// RouteTable: the immutable routing configuration of one service the built-in proxy serves (one
// per Rollout) — where it listens, the stable and canary backend sets, the canary weight, header
// routes, timeouts and the load-balancing mode — with strict JSON decoding and the pure Pick
// function that chooses the backend set of one request.
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

enum class LoadBalancing : uint8_t { kRoundRobin };

struct RouteTable {
  std::string name;  // the service name (set by the admin API from the URL)
  Endpoint listen;
  std::vector<Endpoint> stable;
  std::vector<Endpoint> canary;
  int32_t max_weight = 100;   // 1..10000
  int32_t canary_weight = 0;  // 0..max_weight
  std::vector<HeaderRoute> header_routes;
  LoadBalancing load_balancing = LoadBalancing::kRoundRobin;
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
};

// Chooses the revision of a request: a matching header route → canary; otherwise canary when
// `draw` (uniform in [0, max_weight)) is below canary_weight. Weight 0 never picks canary, weight
// max_weight always does. An empty canary set always yields stable.
Revision Pick(const RouteTable& table, const RequestView& request, uint32_t draw);

// Decodes the JSON body of `PUT /v1/services/<name>`. Unknown fields and wrong types are errors
// naming the field path (e.g. "headerRoutes[0].match[1].regex: invalid regex ...").
StatusOr<RouteTable> DecodeRouteTable(const nlohmann::json& j);
// The JSON form that DecodeRouteTable reads (plus "version"), as `GET` returns it.
nlohmann::json EncodeRouteTable(const RouteTable& table);

}  // namespace ramp::proxy
