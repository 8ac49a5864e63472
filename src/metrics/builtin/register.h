// Registration of the ramp/builtin metric provider in a Registry<MetricProvider>: what main calls
// at start-up, with the admin API of the proxy it manages.
//
// Thread-safety: call during start-up, before other threads use the registry (see registry.h).
#pragma once

#include "metrics/builtin/builtin_provider.h"
#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/registry.h"
#include "ramp/status.h"

namespace ramp::metrics {

// Registers "ramp/builtin" (the name an AnalysisTemplate's provider.plugin["ramp/builtin"] is
// looked up by), built on `http`, which must outlive every provider the registry creates. Fails
// with kInvalidArgument for a null `http`, or with the registry's error when the name is taken.
Status RegisterBuiltinMetricProvider(Registry<MetricProvider>& registry, HttpClient* http,
                                     BuiltinProviderOptions options = {});

}  // namespace ramp::metrics
