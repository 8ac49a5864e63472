// The names of the services a Rollout gets in the built-in proxy (`ramp proxy`, src/proxy): the
// one naming rule that the ramp/proxy router (which PUTs the route tables) and the ramp/builtin
// metric provider (which reads their golden signals) share, so that both find the same service
// from the Rollout alone. docs/proxy.md "Using the proxy from a Rollout" documents it.
//
// A Rollout's service is "<namespace>.<name>" ("default.shop"); the preview service of a
// blue-green Rollout adds "_preview" ("default.shop_preview"). Kubernetes namespaces have no '.'
// and neither namespaces nor object names have '_', so two Rollouts never share a name. Every
// character is one the proxy accepts in a service name (letters, digits, '-', '.', '_').
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "ramp/common.h"

namespace ramp::proxy_router {

// What the preview service's name adds to the Rollout's service name.
inline constexpr std::string_view kPreviewServiceSuffix = "_preview";

// "<namespace>.<name>", or "<name>" for an object without a namespace.
inline std::string ProxyServiceName(const ObjectRef& rollout) {
  return rollout.namespace_.empty() ? rollout.name : rollout.namespace_ + "." + rollout.name;
}

// The blue-green preview service of the Rollout whose service is `service`.
inline std::string ProxyPreviewServiceName(std::string_view service) {
  return std::string(service) + std::string(kPreviewServiceSuffix);
}

// Whether the proxy accepts `name` as a service name: 1-253 letters, digits, '-', '.', '_'.
inline bool IsProxyServiceName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace ramp::proxy_router
