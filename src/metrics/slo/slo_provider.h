// The "ramp/slo" metric provider: release gates on the SLOs of a Sloth or OpenSLO file
// (docs/slo.md "The `ramp/slo` provider"). Each measurement reads the file, picks one SLO and
// makes one of three checks with the pure core of src/slo:
//   * canary (default): the sequential burn-rate test on the canary's own requests, counted from
//     the measurement's start — the built-in proxy's per-revision counters, or the SLO's own
//     queries scoped to the canary with a label matcher. The measurement stays Running, reading
//     new counts every pollInterval, until the test fails (Failed), passes (Successful) or
//     maxDuration passes (Inconclusive with the reason). The SLO as read at Run and the counting
//     state live in the Running measurement's metadata (`slo.state`), so a restarted daemon
//     resumes the same test against the same thresholds.
//   * service: the SLO's multiwindow multi-burn-rate rules on the whole service (one shot).
//   * budget: the error-budget policy on the error ratio over the SLO's period (one shot).
//
// Thread-safety: the provider holds no mutable state; every method may be called concurrently.
#pragma once

#include <memory>
#include <string_view>

#include "metrics/builtin/builtin_provider.h"
#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/registry.h"
#include "ramp/status.h"

namespace ramp::metrics {

// The metadata key of the canary test's state in a Running measurement.
inline constexpr std::string_view kSloStateKey = "slo.state";

// The provider, reading the built-in proxy through `builtin` (the same options as ramp/builtin's)
// or Prometheus over `http`, which must outlive it.
std::unique_ptr<MetricProvider> NewSloProvider(HttpClient* http,
                                               BuiltinProviderOptions builtin = {});

// Registers "ramp/slo". InvalidArgument for a null `http`.
Status RegisterSloMetricProvider(Registry<MetricProvider>& registry, HttpClient* http,
                                 BuiltinProviderOptions builtin = {});

}  // namespace ramp::metrics
