// The "prometheus" metric provider: Argo Rollouts' provider.prometheus over HTTP (instant query
// /api/v1/query, range query /api/v1/query_range), with Argo's result shapes. See
// docs/providers.md.
//
// Thread-safety: the provider is stateless apart from the HttpClient it was given; every method
// may be called concurrently. ParsePrometheusResponse is a pure function.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/sigv4.h"
#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/status.h"

namespace ramp::metrics {

// What a Prometheus API answer yields, shaped as Argo shapes it.
struct PrometheusResult {
  // scalar → a float; vector → an array of floats (one per series, response order); matrix → an
  // array of every sample of every series. NaN and ±Inf kept.
  MetricValue result;
  // Measurement.value: "0.99", "[0.99,NaN]".
  std::string value_text;
  // The response's "warnings", Argo's metadata.warnings text: "\"w1\", \"w2\"" (empty if none).
  std::string warnings;
};

// Parses the body of /api/v1/query or /api/v1/query_range. Errors (INVALID_ARGUMENT or
// UNAVAILABLE for Prometheus' own errors) carry a message saying what was wrong: not JSON, an HTML
// page, an empty body, status "error" with its errorType and error, an unsupported result type.
StatusOr<PrometheusResult> ParsePrometheusResponse(std::string_view body);

// What `authentication.sigv4` (Amazon Managed Prometheus) signs with.
struct PrometheusOptions {
  auth::AwsCredentials credentials;  // empty: a sigv4 measurement is an Error saying so
  std::string region;                // used when sigv4.region is empty
};

// The provider. `http` must outlive it.
std::unique_ptr<MetricProvider> NewPrometheusProvider(HttpClient* http,
                                                      PrometheusOptions options = {});

}  // namespace ramp::metrics
