#include "metrics/register.h"

#include <memory>

#include "metrics/prometheus/prometheus_provider.h"
#include "metrics/web/web_provider.h"

namespace ramp::metrics {

Status RegisterHttpMetricProviders(Registry<MetricProvider>& registry, HttpClient* http) {
  RETURN_IF_ERROR(
      registry.Register("prometheus", [http]() -> StatusOr<std::unique_ptr<MetricProvider>> {
        return NewPrometheusProvider(http);
      }));
  RETURN_IF_ERROR(registry.Register("web", [http]() -> StatusOr<std::unique_ptr<MetricProvider>> {
    return NewWebProvider(http);
  }));
  return OkStatus();
}

}  // namespace ramp::metrics
