// The "newrelic" metric provider: Argo Rollouts' provider.newRelic, an NRQL query through New
// Relic's NerdGraph GraphQL API, with Argo's result shapes and credential Secret. See
// docs/providers.md.
//
// Thread-safety: the provider is stateless apart from the HttpClient and the secret lookup it was
// given (which must be safe to call concurrently); every method may be called concurrently.
// ParseNewRelicResponse and GraphQLString are pure functions.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/status.h"

namespace ramp::metrics {

struct NewRelicOptions {
  // Reads key `key` of Secret `secret` (src/secrets provides one). Null: every lookup fails.
  std::function<StatusOr<std::string>(std::string_view secret, std::string_view key)> lookup_secret;
};

// `text` as a GraphQL string literal, quotes included: "a \"b\"\n".
std::string GraphQLString(std::string_view text);

// Parses a NerdGraph answer: 1 row → the row object, >1 rows → the array of rows; 0 rows, GraphQL
// `errors`, and anything that is not the expected JSON are errors saying what was wrong.
StatusOr<MetricValue> ParseNewRelicResponse(std::string_view body);

// The provider. `http` must outlive it.
std::unique_ptr<MetricProvider> NewNewRelicProvider(HttpClient* http, NewRelicOptions options);

}  // namespace ramp::metrics
