// Registration of the ramp/proxy traffic router in the daemon's router registry: what main calls
// at start-up, with the admin API of the proxy it manages.
//
// Thread-safety: call during start-up, before other threads use the registry (see registry.h).
#pragma once

#include "ramp/registry.h"
#include "ramp/status.h"
#include "ramp/traffic_router.h"
#include "traffic/proxy/proxy_router.h"

namespace ramp::proxy_router {

// Registers "ramp/proxy": each Rollout's router is NewProxyRouter(context, options).
// options.http must outlive every router the registry creates. Fails with kInvalidArgument when
// options.http is null, or with the registry's error when the name is taken.
Status RegisterProxyRouter(Registry<TrafficRouter, const RouterContext&>& registry,
                           ProxyRouterOptions options);

}  // namespace ramp::proxy_router
