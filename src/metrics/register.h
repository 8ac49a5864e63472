// Registration of the HTTP-based metric providers and the job provider (a local process, or a
// Kubernetes Job in Kubernetes mode) in a Registry<MetricProvider>: what main (the daemon,
// `ramp simulate` against real backends) calls at start-up.
//
// Thread-safety: call during start-up, before other threads use the registry (see registry.h).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "metrics/job/kube_job_provider.h"
#include "ramp/clock.h"
#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/registry.h"
#include "ramp/status.h"

namespace ramp::metrics {

// Reads key `key` of Secret `secret` (src/secrets' NewSecretLookup; analysis::SecretLookup).
using ProviderSecretLookup =
    std::function<StatusOr<std::string>(std::string_view secret, std::string_view key)>;

// Registers every provider that measures over HTTP — "prometheus", "web", "datadog", "newrelic",
// "cloudwatch", "graphite", "wavefront", "influxdb" — each built on `http` (which must outlive
// every provider the registry creates). `secrets` resolves the credentials Argo reads from
// Secrets (Datadog's, New Relic's, Wavefront's, InfluxDB's); null leaves those providers
// without Secrets (each measurement that needs one is an Error saying so). Fails with the
// registry's error if a name is taken.
Status RegisterHttpMetricProviders(Registry<MetricProvider>& registry, HttpClient* http,
                                   ProviderSecretLookup secrets = nullptr);

// Registers "job": off Kubernetes a local process (src/metrics/job). `clock` must outlive every
// provider the registry creates; `secrets` resolves env[].valueFrom.secretKeyRef.
Status RegisterJobMetricProvider(Registry<MetricProvider>& registry, const Clock* clock,
                                 ProviderSecretLookup secrets = nullptr);

// Registers "job" in Kubernetes mode instead: each measurement a batch/v1 Job created through
// `options.client` (src/metrics/job/kube_job_provider.h), which must outlive every provider the
// registry creates. kInvalidArgument without a client.
Status RegisterKubeJobMetricProvider(Registry<MetricProvider>& registry,
                                     KubeJobProviderOptions options);

}  // namespace ramp::metrics
