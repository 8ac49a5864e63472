// The "ramp/builtin" metric provider: the golden signals the built-in proxy (`ramp proxy`,
// src/proxy) records per revision of a Rollout — requests, 5xx errors, latency — read from its
// admin API (`GET /v1/services/<name>/signals?window=…`, docs/proxy.md) with no metrics system in
// between. Written in an AnalysisTemplate as `provider: {plugin: {ramp/builtin: {…}}}`
// (docs/manifests.md "### ramp/builtin"); the result is a number. See docs/providers.md.
//
// Thread-safety: the provider is stateless apart from the HttpClient it was given; every method
// may be called concurrently. The parsing and histogram functions are pure.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "ramp/clock.h"
#include "ramp/common.h"
#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/status.h"

namespace ramp::metrics {

inline constexpr std::string_view kBuiltinProviderName = "ramp/builtin";

// A proxy's admin API: "http://127.0.0.1:9901" and its bearer token ("" = none).
struct BuiltinAdmin {
  std::string url;
  std::string token;
};

// What the daemon gives the provider: the proxy it manages. The admin API of a measurement is,
// in order: the metric's own `admin`; rollout_admin(rollout) when it answers one (the Rollout's
// ramp/proxy `admin`); admin_url.
struct BuiltinProviderOptions {
  // The admin API of the proxy ramp manages, "http://127.0.0.1:9901". Used when the metric names
  // no `admin`; empty = every metric must name one.
  std::string admin_url;
  std::string admin_token;  // bearer token of admin_url; empty = send none
  Duration timeout = std::chrono::seconds(10);
  // The admin API that the Rollout's ramp/proxy router uses, when it names its own; null or
  // nullopt = admin_url.
  std::function<std::optional<BuiltinAdmin>(const ObjectRef& rollout)> rollout_admin;
  // The proxy service of the Rollout that started a run. Null = proxy_router::ProxyServiceName
  // (src/traffic/proxy/service_name.h), the name the ramp/proxy router gives it.
  std::function<std::string(const ObjectRef& rollout)> service_name;
};

enum class BuiltinSignal { kRequests, kErrors, kErrorRate, kSuccessRate, kLatency, kLatencyBucket };

// metrics[].provider.plugin["ramp/builtin"], with the defaults applied.
struct BuiltinConfig {
  BuiltinSignal signal = BuiltinSignal::kRequests;
  std::string signal_name;          // as written: "errorRate", …
  std::string revision = "canary";  // or "stable"
  int64_t window_seconds = 60;      // 1..3600
  double quantile = 0;              // signal latency: 0 < q < 1
  double le_seconds = 0;            // signal latencyBucket: > 0
  int64_t min_requests = 0;         // default 1 for ratios and latencies, 0 for counts
  std::string admin_url;            // admin.address as "http://host:port"; empty = the options'
  std::string admin_token_file;     // admin.tokenFile
};

// Parses the plugin's configuration (JSON text). Unknown fields, wrong types and values out of
// range are kInvalidArgument naming the field; admin.socket is kUnimplemented (the HTTP client
// speaks TCP only).
StatusOr<BuiltinConfig> ParseBuiltinConfig(std::string_view config_json);

// One revision's counters over the window, as the proxy reports them.
struct SignalWindow {
  uint64_t requests = 0;
  uint64_t errors = 0;
  double latency_sum_seconds = 0;
  // Cumulative buckets in increasing order: (upper bound in seconds, count); the last is +Inf.
  std::vector<std::pair<double, double>> buckets;
};

// Reads revisions.<revision>.<part> out of a signals answer: part "window" (the sliding window) or
// "total" (since the proxy started serving the service). Errors name what is missing or of the
// wrong type ("revisions.canary.window.requests: missing").
StatusOr<SignalWindow> ParseSignalWindow(std::string_view body, std::string_view revision,
                                         std::string_view part = "window");

// The `admin` object of a provider configuration ({address, tokenFile}): address must be a
// loopback host:port. Errors start with `provider` and name the field.
Status ParseBuiltinAdmin(const nlohmann::json& admin, std::string_view provider,
                         std::string* admin_url, std::string* token_file);

// Where a measurement of a Rollout's proxied traffic is read: the admin API, its token and the
// proxy service.
struct BuiltinTarget {
  std::string admin_url;
  std::string token;
  std::string service;
};

// The admin API is the metric's own (`metric_admin_url`, token read from `metric_token_file`),
// else the Rollout's ramp/proxy admin, else the options'. FailedPrecondition (message starting
// with `provider`) for a run without a Rollout, an unreadable token file, or no admin API.
StatusOr<BuiltinTarget> ResolveBuiltinTarget(const BuiltinProviderOptions& options,
                                             std::string_view metric_admin_url,
                                             std::string_view metric_token_file,
                                             const ObjectRef& rollout, std::string_view provider);

// GET <admin>/v1/services/<service>/signals?window=<window>s with the bearer token.
HttpRequest BuiltinSignalsRequest(const BuiltinTarget& target, int64_t window_seconds,
                                  Duration timeout);

// What is wrong with a signals answer that is not 2xx (no such service, token refused, other
// status); nothing for a 2xx answer.
std::optional<std::string> BuiltinAnswerError(const HttpResponse& r, const std::string& service);

// Prometheus' histogram_quantile (promql bucketQuantile) over cumulative `buckets`: the bucket
// holding rank q·total, linearly interpolated inside it (from 0 for the first bucket); the
// largest finite bound when the rank falls in the +Inf bucket; NaN with no observations, with
// fewer than two buckets or without a +Inf bucket.
double HistogramQuantile(double q, const std::vector<std::pair<double, double>>& buckets);

// The fraction (0..1) of observations at or below `le` seconds: exact at a bucket bound, linearly
// interpolated inside a bucket; above the largest finite bound, the fraction at that bound (the
// +Inf bucket has no known latencies). NaN with no observations.
double HistogramFractionAtOrBelow(double le, const std::vector<std::pair<double, double>>& buckets);

// The provider. `http` must outlive it.
std::unique_ptr<MetricProvider> NewBuiltinProvider(HttpClient* http,
                                                   BuiltinProviderOptions options = {});

}  // namespace ramp::metrics
