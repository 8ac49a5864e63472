#include "metrics/register.h"

#include <memory>

#include "metrics/cloudwatch/cloudwatch_provider.h"
#include "metrics/datadog/datadog_provider.h"
#include "metrics/graphite/graphite_provider.h"
#include "metrics/influxdb/influxdb_provider.h"
#include "metrics/job/job_provider.h"
#include "metrics/job/kube_job_provider.h"
#include "metrics/newrelic/newrelic_provider.h"
#include "metrics/prometheus/prometheus_provider.h"
#include "metrics/wavefront/wavefront_provider.h"
#include "metrics/web/web_provider.h"

namespace ramp::metrics {

Status RegisterHttpMetricProviders(Registry<MetricProvider>& registry, HttpClient* http,
                                   ProviderSecretLookup secrets) {
  RETURN_IF_ERROR(
      registry.Register("prometheus", [http]() -> StatusOr<std::unique_ptr<MetricProvider>> {
        // Amazon Managed Prometheus (sigv4): the same AWS environment CloudWatch reads.
        CloudWatchOptions aws = CloudWatchOptionsFromEnv();
        return NewPrometheusProvider(http, PrometheusOptions{aws.credentials, aws.region});
      }));
  RETURN_IF_ERROR(registry.Register("web", [http]() -> StatusOr<std::unique_ptr<MetricProvider>> {
    return NewWebProvider(http);
  }));
  RETURN_IF_ERROR(
      registry.Register("datadog", [http, secrets]() -> StatusOr<std::unique_ptr<MetricProvider>> {
        return NewDatadogProvider(http, DatadogOptions{.lookup_secret = secrets});
      }));
  RETURN_IF_ERROR(
      registry.Register("newrelic", [http, secrets]() -> StatusOr<std::unique_ptr<MetricProvider>> {
        return NewNewRelicProvider(http, NewRelicOptions{.lookup_secret = secrets});
      }));
  // CloudWatch: AWS credentials and region read from the process environment at creation.
  RETURN_IF_ERROR(
      registry.Register("cloudwatch", [http]() -> StatusOr<std::unique_ptr<MetricProvider>> {
        return NewCloudWatchProvider(http, CloudWatchOptionsFromEnv());
      }));
  RETURN_IF_ERROR(registry.Register(
      "graphite",
      [http]() -> StatusOr<std::unique_ptr<MetricProvider>> { return NewGraphiteProvider(http); }));
  RETURN_IF_ERROR(registry.Register(
      "wavefront", [http, secrets]() -> StatusOr<std::unique_ptr<MetricProvider>> {
        return NewWavefrontProvider(http, WavefrontOptions{.secret_lookup = secrets});
      }));
  RETURN_IF_ERROR(
      registry.Register("influxdb", [http, secrets]() -> StatusOr<std::unique_ptr<MetricProvider>> {
        return NewInfluxDbProvider(http, InfluxDbOptions{.secret_lookup = secrets});
      }));
  return OkStatus();
}

Status RegisterJobMetricProvider(Registry<MetricProvider>& registry, const Clock* clock,
                                 ProviderSecretLookup secrets) {
  return registry.Register("job", [clock, secrets]() -> StatusOr<std::unique_ptr<MetricProvider>> {
    JobProviderOptions options;
    options.secrets = secrets;
    return NewJobProvider(clock, std::move(options));
  });
}

Status RegisterKubeJobMetricProvider(Registry<MetricProvider>& registry,
                                     KubeJobProviderOptions options) {
  if (options.client == nullptr) {
    return InvalidArgumentError(
        "RegisterKubeJobMetricProvider: a Kubernetes API client is required");
  }
  return registry.Register("job", [options]() { return NewKubeJobProvider(options); });
}

}  // namespace ramp::metrics
