// The ramp/nginx traffic router: drives NGINX through a configuration file that ramp owns. The
// file holds one `upstream` per revision role (stable/active and canary/preview) filled with the
// revision's instances, and a `split_clients` block that sets a variable to the upstream a request
// goes to. Every change rewrites the file (temporary file + rename), runs testCommand, puts the
// previous file back when the test fails, then runs reloadCommand (docs/manifests.md
// "### ramp/nginx").
//
// Thread-safety: the router follows include/ramp/traffic_router.h (one rollout calls it, one
// operation at a time). It applies operations in order on its own worker thread, which calls the
// `done` callbacks; destroying the router cancels queued operations (their `done` gets
// kCancelled) and joins the worker once the running operation ends (at most two commands, each
// bounded by commandTimeout). The decoding, rendering and parsing functions are pure; RunCommand
// is safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ramp/clock.h"
#include "ramp/status.h"
#include "ramp/traffic_router.h"

namespace ramp::nginx {

inline constexpr std::string_view kNginxRouterName = "ramp/nginx";

// trafficRouting.plugins["ramp/nginx"], with the defaults applied.
struct NginxConfig {
  std::string config_file;
  std::string stable_upstream;  // also the upstream of the active role (blue-green)
  std::string canary_upstream;  // also the upstream of the preview role
  std::string variable;         // without '$'
  std::string split_key = "$request_id";
  std::vector<std::string> test_command = {"nginx", "-t"};
  std::vector<std::string> reload_command = {"nginx", "-s", "reload"};
  Duration command_timeout = std::chrono::seconds(30);
};

// Decodes RouterContext::config_json; unknown fields, wrong types and bad names are
// kInvalidArgument errors naming the field.
StatusOr<NginxConfig> DecodeNginxConfig(const RouterContext& context);

// The canary share of `weight` out of `max_weight` in hundredths of a percent (0..10000): exact
// when weight*10000 divides by max_weight, else rounded to the nearest, except that a weight
// above 0 is at least 1 (0.01 %) and a weight below max_weight at most 9999.
int32_t CanaryBasisPoints(int32_t weight, int32_t max_weight);

// "20%", "12.5%", "0.01%" for basis points 2000, 1250, 1.
std::string FormatPercent(int32_t basis_points);

// What the file says: the upstreams with their instances ("host:port"; none = an upstream that
// never receives traffic) and the canary share.
struct NginxFileSpec {
  std::string header_comment;  // first line without "# "; empty = none
  std::string stable_upstream;
  std::vector<std::string> stable_endpoints;
  std::string canary_upstream;
  std::vector<std::string> canary_endpoints;
  std::string variable;
  std::string split_key;
  int32_t canary_basis_points = 0;  // 0..10000
  // Managed routes, in precedence order, already checked (CheckHeaderRoute/CheckMirrorRoute).
  std::vector<HeaderRoute> header_routes;
  std::vector<MirrorRoute> mirror_routes;
};

// The variable split_clients sets: `variable` itself, or `variable`_weighted when header routes
// exist (then a chain of `map`s sets `variable`: a matching request gets the canary upstream,
// any other one the value of `variable`_weighted).
std::string SplitVariable(const NginxFileSpec& spec);

// kInvalidArgument when NGINX cannot express the route: a header name that is not letters,
// digits, '-' and '_' (NGINX reads headers as $http_<name>), a value with a control character,
// a regex RE2 rejects, a percentage outside 0..100.
Status CheckHeaderRoute(const HeaderRoute& route);
Status CheckMirrorRoute(const MirrorRoute& route);

// Renders the file. An upstream without instances gets `server 127.0.0.1:1 down;` (NGINX needs a
// server; a down one is never picked). Basis points 0 write no canary line, 10000 only
// `* canary;`. Header routes become a chain of `map`s in front of the split (see SplitVariable);
// the file always defines `variable`_mirror: the canary upstream's name for a request that a
// mirror route selects (its matches, then its percentage by a split_clients on $request_id),
// else "" — the user's server mirrors to an internal location that proxies to it (docs/routers.md).
// Strings are matched case-sensitively, with `~` regexes: exact and prefix values literally, a
// regex against the whole value (a leading '^' or trailing '$' dropped); a path against
// $request_uri without its query string.
std::string RenderNginxFile(const NginxFileSpec& spec);

// Reads the canary share back from a file RenderNginxFile wrote: basis points, or kNotFound /
// kInvalidArgument when the split_clients block for `variable` is missing or malformed.
StatusOr<int32_t> ParseCanaryBasisPoints(std::string_view file_text, std::string_view variable,
                                         std::string_view canary_upstream);

// The outcome of one command.
struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  bool timed_out = false;
  std::string output;  // stdout and stderr interleaved, capped at 64 KiB
};

// Runs argv (PATH search for argv[0]) in its own process group with stdin from /dev/null,
// capturing its output; after `timeout` the whole group is SIGKILLed. An error only when the
// process cannot be started (kNotFound / kInternal).
StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv, Duration timeout);

// Builds a router for one Rollout. kInvalidArgument for a bad configuration.
StatusOr<std::unique_ptr<TrafficRouter>> NewNginxRouter(const RouterContext& context);

}  // namespace ramp::nginx
