#include "traffic/proxy/register.h"

#include <memory>
#include <string>
#include <utility>

namespace ramp::proxy_router {

Status RegisterProxyRouter(Registry<TrafficRouter, const RouterContext&>& registry,
                           ProxyRouterOptions options) {
  if (options.http == nullptr) {
    return InvalidArgumentError("RegisterProxyRouter: no HTTP client");
  }
  return registry.Register(
      std::string(kProxyRouterName),
      [options = std::move(options)](const RouterContext& context)
          -> StatusOr<std::unique_ptr<TrafficRouter>> { return NewProxyRouter(context, options); });
}

}  // namespace ramp::proxy_router
