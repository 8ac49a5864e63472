// The "datadog" metric provider: Argo Rollouts' provider.datadog over HTTP, API v1
// (GET /api/v1/query, time series) and v2 (POST /api/v2/query/scalar), with Argo's result shapes
// and credential sources. See docs/providers.md.
//
// Thread-safety: the provider is stateless apart from the HttpClient and the option functions it
// was given (which must be safe to call concurrently); every method may be called concurrently.
// ParseDatadogV1Response and ParseDatadogV2Response are pure functions.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/status.h"

namespace ramp::metrics {

struct DatadogOptions {
  // Reads key `key` of Secret `secret` (src/secrets provides one). Null: no Secrets.
  std::function<StatusOr<std::string>(std::string_view secret, std::string_view key)> lookup_secret;
  // The environment (DD_API_KEY, DD_APP_KEY, DD_ADDRESS); null = the process environment.
  std::function<std::optional<std::string>(std::string_view name)> getenv;
};

// What a Datadog answer yields, shaped as Argo shapes it.
struct DatadogResult {
  // A float, an array of floats (v2 grouped), or null (no data: `default(result, 0)` works).
  MetricValue result;
  // Measurement.value: "0.5", "[1,2]", or for no data "[]".
  std::string value_text;
  // v2 grouped results: the group tags, one JSON array per value (at most 100); empty otherwise.
  std::string groups;
};

// Parses a /api/v1/query body: the last point of the first series. Errors carry a message saying
// what was wrong (not JSON, an HTML page, an empty body, Datadog's own "error"/"errors").
StatusOr<DatadogResult> ParseDatadogV1Response(std::string_view body);
// Parses a /api/v2/query/scalar body: the first number column of data.attributes.columns.
StatusOr<DatadogResult> ParseDatadogV2Response(std::string_view body);

// The provider. `http` must outlive it.
std::unique_ptr<MetricProvider> NewDatadogProvider(HttpClient* http, DatadogOptions options);

}  // namespace ramp::metrics
