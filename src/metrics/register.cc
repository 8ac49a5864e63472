#include "metrics/register.h"

#include <memory>

#include "metrics/cloudwatch/cloudwatch_provider.h"
#include "metrics/datadog/datadog_provider.h"
#include "metrics/graphite/graphite_provider.h"
#include "metrics/influxdb/influxdb_provider.h"
#include "metrics/newrelic/newrelic_provider.h"
#include "metrics/prometheus/prometheus_provider.h"
#include "metrics/wavefront/wavefront_provider.h"
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
  // Datadog: credentials from the environment only until the daemon passes a secret source.
  RETURN_IF_ERROR(
      registry.Register("datadog", [http]() -> StatusOr<std::unique_ptr<MetricProvider>> {
        return NewDatadogProvider(http, DatadogOptions{});
      }));
  // New Relic: no secret source yet, so a measurement is an Error naming the missing Secret key.
  RETURN_IF_ERROR(
      registry.Register("newrelic", [http]() -> StatusOr<std::unique_ptr<MetricProvider>> {
        return NewNewRelicProvider(http, NewRelicOptions{});
      }));
  // CloudWatch: AWS credentials and region read from the process environment at creation.
  RETURN_IF_ERROR(
      registry.Register("cloudwatch", [http]() -> StatusOr<std::unique_ptr<MetricProvider>> {
        return NewCloudWatchProvider(http, CloudWatchOptionsFromEnv());
      }));
  RETURN_IF_ERROR(registry.Register(
      "graphite",
      [http]() -> StatusOr<std::unique_ptr<MetricProvider>> { return NewGraphiteProvider(http); }));
  // Wavefront: no Secret source passed yet, so every measurement reports "API token not found".
  RETURN_IF_ERROR(
      registry.Register("wavefront", [http]() -> StatusOr<std::unique_ptr<MetricProvider>> {
        return NewWavefrontProvider(http, WavefrontOptions{});
      }));
  // InfluxDB: no Secret source passed yet, so every measurement reports the missing Secret.
  RETURN_IF_ERROR(
      registry.Register("influxdb", [http]() -> StatusOr<std::unique_ptr<MetricProvider>> {
        return NewInfluxDbProvider(http, InfluxDbOptions{});
      }));
  return OkStatus();
}

}  // namespace ramp::metrics
