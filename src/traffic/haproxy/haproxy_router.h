// The ramp/haproxy traffic router: drives an HAProxy 2.x through its runtime API, without
// reloads. Each revision role has a backend of `server-template` slots that ramp fills with the
// revision's instances (make-before-break: new instances into free slots set ready, then the old
// slots put in maint), the canary weight is a value in an HAProxy map that the frontend compares
// with rand(100) on every request, and header routes are entries of an ACL on `req.hdrs` that
// sends what it matches to the canary backend. Mirror routes are Unimplemented: HAProxy 2.6 has
// no native mirroring (docs/manifests.md "### ramp/haproxy", docs/routers.md).
//
// Thread-safety: the router follows include/ramp/traffic_router.h (one rollout calls it, one
// operation at a time). It applies operations in order on its own worker thread, which calls the
// `done` callbacks; destroying the router cancels queued operations (their `done` gets
// kCancelled) and joins the worker after at most the running command's timeout. The decoding and
// rendering functions are pure.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ramp/clock.h"
#include "ramp/status.h"
#include "ramp/traffic_router.h"

namespace ramp::haproxy {

inline constexpr std::string_view kHaproxyRouterName = "ramp/haproxy";

// trafficRouting.plugins["ramp/haproxy"], with the defaults applied.
struct HaproxyConfig {
  std::string runtime_api;     // unix socket path or host:port
  std::string stable_backend;  // also the backend of the active role (blue-green)
  std::string canary_backend;  // also the backend of the preview role
  std::string server_template = "srv";
  std::string map_file;
  std::string map_key;  // default: the Rollout's name
  Duration timeout = std::chrono::seconds(5);
  // Derived, not a field: the ACL file of the header routes (HeaderRouteAclFile).
  std::string header_acl_file;
};

// Decodes RouterContext::config_json; unknown fields and wrong types are errors naming the field.
StatusOr<HaproxyConfig> DecodeHaproxyConfig(const RouterContext& context);

// The map value for a canary weight of `weight` out of `max_weight`: a percentage 0..100 for the
// frontend's rand(100), rounded to the nearest percent, except that a weight above 0 is at least 1
// and a weight below max_weight at most 99 (so 0 and max_weight keep their exact meaning).
int32_t MapPercent(int32_t weight, int32_t max_weight);

// The runtime commands, rendered (no trailing newline).
std::string SetMapCommand(const HaproxyConfig& config, int32_t percent);
std::string AddMapCommand(const HaproxyConfig& config, int32_t percent);
std::string GetMapCommand(const HaproxyConfig& config);
std::string SetServerAddrCommand(std::string_view backend, std::string_view server,
                                 std::string_view ip, int port);
std::string SetServerStateCommand(std::string_view backend, std::string_view server, bool ready);

// One resolved instance address.
struct Endpoint {
  std::string ip;  // numeric IPv4 or IPv6
  int port = 0;
};

// Splits "host:port" / "[v6]:port" and resolves the host (getaddrinfo; numeric addresses are
// taken as they are). kInvalidArgument for a malformed address, kUnavailable when the name does
// not resolve.
StatusOr<Endpoint> ResolveEndpoint(std::string_view address);

// The file of the ACL that selects this Rollout's header routes: "ramp-headers-<key>.acl" in the
// directory of the weight map ('/' in the key becomes '_'). haproxy.cfg loads it (empty) with
// `acl … req.hdrs -m reg -f <file>`; ramp changes its entries with `add acl` / `del acl`.
std::string HeaderRouteAclFile(std::string_view map_file, std::string_view map_key);

// The PCRE patterns (one per match, in order) that select the requests of `route` when matched
// against `req.hdrs` (HAProxy's header block: "name: value\r\n" per header line, names in lower
// case). exact and prefix values are matched literally; a regex (RE2 syntax, which HAProxy's PCRE2
// reads the same for the common constructs) must match the whole value, and a leading '^' or
// trailing '$' is dropped. kInvalidArgument for a header name that is not an HTTP token, a value
// with control characters, or a regex RE2 rejects.
StatusOr<std::vector<std::string>> HeaderRoutePatterns(const HeaderRoute& route);

// Builds a router for one Rollout. kInvalidArgument for a bad configuration.
StatusOr<std::unique_ptr<TrafficRouter>> NewHaproxyRouter(const RouterContext& context);

}  // namespace ramp::haproxy
