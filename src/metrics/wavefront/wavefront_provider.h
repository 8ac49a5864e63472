// The "wavefront" metric provider: Argo Rollouts' provider.wavefront over HTTP
// (GET https://<address>/api/v2/chart/api), with Argo's result shapes: per time series the
// datapoint closest to now. See docs/providers.md.
//
// Thread-safety: the provider keeps only the HttpClient and options it was given; every method
// may be called concurrently if the secret lookup may. ParseWavefrontResponse is a pure function.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/status.h"

namespace ramp::metrics {

// Reads key `key` of Secret `secret` (src/secrets' signature).
using WavefrontSecretLookup =
    std::function<StatusOr<std::string>(std::string_view secret, std::string_view key)>;

struct WavefrontOptions {
  // The API token is key <address> of Secret "wavefront-api-tokens", as in Argo. Unset: every
  // measurement is an Error saying no token source is configured.
  WavefrontSecretLookup secret_lookup;
};

// What a chart API answer yields, shaped as Argo shapes it.
struct WavefrontResult {
  // One series → a float; more → an array of floats (response order).
  MetricValue result;
  // "%.2f" or "[%.2f,%.2f]".
  std::string value_text;
  // The chosen datapoints' timestamps (epoch s) and |now − timestamp| in s, comma-separated in
  // series order; the response's "warnings" (empty if none).
  std::string timestamps, drift, warnings;
};

// Parses a /api/v2/chart/api body: {"timeseries":[{"data":[[ts, value],…]},…],"warnings":…}.
// Errors (INVALID_ARGUMENT) say what was wrong: empty body, HTML, not JSON, wrong shape, no time
// series.
StatusOr<WavefrontResult> ParseWavefrontResponse(std::string_view body, int64_t now_seconds);

// The provider. `http` must outlive it.
std::unique_ptr<MetricProvider> NewWavefrontProvider(HttpClient* http, WavefrontOptions options);

}  // namespace ramp::metrics
