// The "influxdb" metric provider: Argo Rollouts' provider.influxdb over HTTP (Flux through
// POST {address}/api/v2/query?org=<org>), with Argo's result shape: every record's _value. See
// docs/providers.md.
//
// Thread-safety: the provider keeps only the HttpClient and options it was given; every method
// may be called concurrently if the secret lookup may. ParseInfluxDbResponse is a pure function.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/status.h"

namespace ramp::metrics {

// Reads key `key` of Secret `secret` (src/secrets' signature).
using InfluxDbSecretLookup =
    std::function<StatusOr<std::string>(std::string_view secret, std::string_view key)>;

struct InfluxDbOptions {
  // authToken, org and address are keys of Secret "influxdb" (or the config's `profile`), as in
  // Argo. Unset: every measurement is an Error saying no Secret source is configured.
  InfluxDbSecretLookup secret_lookup;
};

// What a Flux query answer yields, shaped as Argo shapes it.
struct InfluxDbResult {
  // An array of each record's _value, typed by the #datatype annotation (double/long → number,
  // boolean → bool, anything else → string), all tables in order.
  MetricValue result;
  // Go's fmt of the slice: "[1.5 2 true]".
  std::string value_text;
};

// Parses an annotated-CSV body. Errors (INVALID_ARGUMENT) say what was wrong: an empty body, an
// HTML page, a JSON error, a CSV error table, no _value column, a malformed value, no records.
StatusOr<InfluxDbResult> ParseInfluxDbResponse(std::string_view body);

// The provider. `http` must outlive it.
std::unique_ptr<MetricProvider> NewInfluxDbProvider(HttpClient* http, InfluxDbOptions options);

}  // namespace ramp::metrics
