// Registration of the HTTP-based metric providers in a Registry<MetricProvider>: what main (the
// daemon, `ramp simulate` against real backends) calls at start-up.
//
// Thread-safety: call during start-up, before other threads use the registry (see registry.h).
#pragma once

#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/registry.h"
#include "ramp/status.h"

namespace ramp::metrics {

// Registers every provider that measures over HTTP — "prometheus", "web", "datadog", "newrelic",
// "cloudwatch", "graphite", "wavefront", "influxdb" — each built on `http` (which must outlive
// every provider the registry creates). Fails with the registry's error if a name is taken.
Status RegisterHttpMetricProviders(Registry<MetricProvider>& registry, HttpClient* http);

}  // namespace ramp::metrics
