// The "graphite" metric provider: Argo Rollouts' provider.graphite over HTTP
// (GET {address}/render?<query>&format=json), with Argo's result shape: the non-null datapoints of
// the first target. See docs/providers.md.
//
// Thread-safety: the provider is stateless apart from the HttpClient it was given; every method
// may be called concurrently. ParseGraphiteResponse is a pure function.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/status.h"

namespace ramp::metrics {

// What a Graphite /render answer yields, shaped as Argo shapes it.
struct GraphiteResult {
  // An array of the non-null datapoint values of the first target, in response order.
  MetricValue result;
  // Measurement.value as Argo prints it: "[1.000000,2.500000]" (Go's %f).
  std::string value_text;
};

// Parses the body of /render?format=json: [{"target":…,"datapoints":[[value,ts],…]},…]. Values
// may be numbers, numeric strings or null (skipped). Errors (INVALID_ARGUMENT) say what was wrong:
// an empty body, an HTML page, not JSON, the wrong shape, "no values found".
StatusOr<GraphiteResult> ParseGraphiteResponse(std::string_view body);

// The provider. `http` must outlive it.
std::unique_ptr<MetricProvider> NewGraphiteProvider(HttpClient* http);

}  // namespace ramp::metrics
