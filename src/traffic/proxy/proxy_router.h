// The ramp/proxy traffic router: configures ramp's built-in proxy (`ramp proxy`, src/proxy) over
// its admin API (docs/proxy.md "Admin API"), one proxy service per Rollout. The router keeps the
// whole desired state of the Rollout — which revision each role points at, the instances of each
// revision, the canary weight, header and mirror routes — and after every change PUTs the whole
// route table (`PUT /v1/services/<name>`); VerifyWeight reads it back (`GET`). It only PUTs what
// the proxy accepts: nothing while the stable revision has no instances, and weight 0 without
// header or mirror routes while the canary has none; the change is kept and sent once the
// instances arrive (docs/proxy.md "Using the proxy from a Rollout").
//
// Thread-safety: the router follows include/ramp/traffic_router.h (one rollout calls it, one
// operation at a time). It applies operations strictly in order without a thread of its own: an
// operation starts when the previous one's admin request has answered, and `done` runs on the
// HttpClient's thread (or inline for argument errors and operations that change nothing).
// Destroying the router completes its queued operations with kCancelled; an operation whose
// admin request is in flight completes when that request does (bounded by admin_timeout). The
// decoding function is pure.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ramp/clock.h"
#include "ramp/http_client.h"
#include "ramp/status.h"
#include "ramp/traffic_router.h"

namespace ramp::proxy_router {

inline constexpr std::string_view kProxyRouterName = "ramp/proxy";

// What the daemon gives every ramp/proxy router: the proxy it manages and the client to reach it.
struct ProxyRouterOptions {
  // Must outlive every router built with these options.
  HttpClient* http = nullptr;
  // The admin API of the proxy the daemon manages, "http://127.0.0.1:9901" (no trailing path).
  // Used when the Rollout's configuration names no `admin`; empty = every Rollout must name one.
  std::string admin_url;
  // The bearer token of admin_url; empty = send none.
  std::string admin_token;
  // Timeout of each admin request.
  Duration admin_timeout = std::chrono::seconds(5);
};

// trafficRouting.plugins["ramp/proxy"] (docs/manifests.md "### ramp/proxy"), with the defaults
// applied. Durations and loadBalancing are passed to the proxy as written.
struct ProxyRouterConfig {
  // The proxy service. Default ProxyServiceName(rollout); `service` overrides it (not a manifest
  // field: for the daemon's own configurations).
  std::string service;
  // Blue-green preview service: ProxyPreviewServiceName(service).
  std::string preview_service;
  std::string listen;
  // Where the blue-green preview is served; empty = the preview gets no proxy service (not a
  // manifest field: for the daemon's blue-green configurations).
  std::string preview_listen;
  // admin.address as "http://host:port" and admin.tokenFile; empty = the options' admin.
  std::string admin_url;
  std::string admin_token_file;
  // sticky: exactly one of cookie and header; ttl (cookie only). Empty = none.
  std::string sticky_cookie;
  std::string sticky_header;
  std::string sticky_ttl;
  std::string load_balancing;   // "" = the proxy's default
  std::string connect_timeout;  // "" = the proxy's default
  std::string request_timeout;
  std::string idle_timeout;
};

// Decodes RouterContext::config_json. kInvalidArgument for unknown fields, wrong types and bad
// values, naming the field (`trafficRouting.plugins["ramp/proxy"].listen: …`); kUnimplemented for
// `admin.socket` (the router reaches the admin API over loopback TCP only).
StatusOr<ProxyRouterConfig> DecodeProxyRouterConfig(const RouterContext& context);

// Builds a router for one Rollout: kInvalidArgument for a bad configuration or context,
// kFailedPrecondition when no admin endpoint is known or admin.tokenFile cannot be read.
StatusOr<std::unique_ptr<TrafficRouter>> NewProxyRouter(const RouterContext& context,
                                                        const ProxyRouterOptions& options);

}  // namespace ramp::proxy_router
