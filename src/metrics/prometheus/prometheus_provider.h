// The "prometheus" metric provider: Argo Rollouts' provider.prometheus over HTTP (instant query
// /api/v1/query, range query /api/v1/query_range), with Argo's result shapes. See
// docs/providers.md.
//
// Thread-safety: the provider is stateless apart from the HttpClient it was given; every method
// may be called concurrently. ParsePrometheusResponse is a pure function.
#pragma once

#include <functional>
#include <memory>
#include <optional>
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

// One instant query of a batch: what it is, for messages ("prometheus.canary.requests"), and the
// PromQL.
struct PrometheusQuery {
  std::string what;
  std::string query;
};
// One number per query, in order: the answer's value (NaN kept), or nothing when the answer holds
// no series at all.
using PrometheusNumbers = std::vector<std::optional<double>>;

// Sends every query as an instant query at `at` to `address` (http(s)://host:port, no trailing
// slash) at once and calls `done` once with all the answers, or with the first failure, worded
// "<what> (<query>): …" (kUnavailable for transport and HTTP errors, kInvalidArgument for an
// answer that is not one number — several series must be summed in the query). Used by the
// providers that read counters (ramp/judge-*, ramp/slo); `http` must outlive the call.
void QueryPrometheusNumbers(HttpClient* http, const std::string& address,
                            std::vector<PrometheusQuery> queries, Time at, Duration timeout,
                            std::function<void(StatusOr<PrometheusNumbers>)> done);

// The provider. `http` must outlive it.
std::unique_ptr<MetricProvider> NewPrometheusProvider(HttpClient* http,
                                                      PrometheusOptions options = {});

}  // namespace ramp::metrics
