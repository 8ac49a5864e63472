// The "web" metric provider: Argo Rollouts' provider.web — one HTTP call whose JSON (or text)
// answer, narrowed by a Kubernetes JSONPath, is the measured result. See docs/providers.md.
//
// Thread-safety: the provider is stateless apart from the HttpClient it was given; every method
// may be called concurrently. The parsing functions are pure.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/status.h"

namespace ramp::metrics {

struct WebResult {
  MetricValue result;      // the selected JSON value, or the raw body as a string
  std::string value_text;  // Measurement.value
};

// Parses a 2xx response body and selects `json_path` ("" = "{$}"). JSON bodies are narrowed by the
// path (the first match); a body that is not JSON is the raw text, as in Argo. Errors: an empty
// body, a path that matches nothing, a path outside the supported subset ({$}, {$.a.b},
// {$.a[0].b}, {.a}, {$['a']}).
StatusOr<WebResult> ParseWebResponse(std::string_view body, std::string_view json_path);

// The provider. `http` must outlive it.
std::unique_ptr<MetricProvider> NewWebProvider(HttpClient* http);

}  // namespace ramp::metrics
