// The ramp/haproxy traffic router: drives an HAProxy 2.x through its runtime API, without
// reloads. Each revision role has a backend of `server-template` slots that ramp fills with the
// revision's instances, and the canary weight is a value in an HAProxy map that the frontend
// compares with rand(100) on every request (docs/manifests.md "### ramp/haproxy").
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

// Builds a router for one Rollout. kInvalidArgument for a bad configuration.
StatusOr<std::unique_ptr<TrafficRouter>> NewHaproxyRouter(const RouterContext& context);

}  // namespace ramp::haproxy
