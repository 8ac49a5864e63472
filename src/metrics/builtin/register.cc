#include "metrics/builtin/register.h"

#include <memory>
#include <string>
#include <utility>

namespace ramp::metrics {

Status RegisterBuiltinMetricProvider(Registry<MetricProvider>& registry, HttpClient* http,
                                     BuiltinProviderOptions options) {
  if (http == nullptr) return InvalidArgumentError("RegisterBuiltinMetricProvider: no HTTP client");
  return registry.Register(
      std::string(kBuiltinProviderName),
      [http, options = std::move(options)]() -> StatusOr<std::unique_ptr<MetricProvider>> {
        return NewBuiltinProvider(http, options);
      });
}

}  // namespace ramp::metrics
