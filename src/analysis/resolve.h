// Metric resolution for AnalysisRuns: the "{{args.name}}" templating Argo applies to every string
// of a metric (utils/template/template.go ResolveQuotedArgs via utils/analysis/factory.go
// ResolveMetricArgs), the provider configuration as Argo's JSON, and Argo's ValidateMetrics over
// the resolved metric.
//
// Internal to src/analysis (the public API is analysis.h); exposed for its tests.
//
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramp/clock.h"
#include "ramp/status.h"
#include "spec/analysis.h"

namespace ramp::analysis::internal {

// The value Argo gives secret arguments while it resolves metrics for validation and scheduling
// (analysis/analysis.go getResolvedMetricsWithoutSecrets).
inline constexpr char kSecretPlaceholderValue[] = "temp-for-secret";

// The argument values a metric is resolved with.
struct ArgTable {
  // "name" → value, for every argument of the run.
  std::map<std::string, std::string> values;
  // Arguments whose value is a secret. Inside the provider configuration their tags are left as
  // the canonical "{{args.name}}" for the runtime to fill in (engine::SecretArg), so a secret
  // never travels in an intent; everywhere else (conditions, limits) `values` is used.
  std::set<std::string> secret;
};

// Builds the table from a run's arguments: a secretKeyRef argument takes `secret_values[name]`
// (kSecretPlaceholderValue when absent); any other argument must have a value, or the error is
// Argo's `argument "x" was not supplied`.
StatusOr<ArgTable> MakeArgTable(const std::vector<spec::Argument>& args,
                                const std::map<std::string, std::string>& secret_values);

// Replaces every "{{tag}}" in `text` as Argo's fasttemplate resolution does: the trimmed tag
// must be "args.<name>" of a known argument; otherwise the error is "failed to resolve {{tag}}"
// (the last such tag of the text). `keep_secret_tags` leaves secret tags in canonical form.
StatusOr<std::string> SubstituteArgs(std::string_view text, const ArgTable& args,
                                     bool keep_secret_tags);

// The providers of a metric as (registered type, configuration JSON in Argo's field names):
// "prometheus", "datadog", "newrelic", "cloudwatch", "wavefront", "graphite", "influxdb",
// "skywalking", "web", "kayenta", "job", or the plugin's name. A valid metric has exactly one.
std::vector<std::pair<std::string, nlohmann::json>> ProviderConfigs(const spec::MetricProvider& p);

// A metric after argument substitution: Argo's Metric fields as strings/IntOrString, with Argo's
// effective values.
struct ResolvedMetric {
  std::string name;
  std::string interval;       // Go duration text, "" when unset
  std::string initial_delay;  // Go duration text, "" when unset
  std::optional<spec::IntOrString> count;
  std::string success_condition;
  std::string failure_condition;
  std::optional<spec::IntOrString> failure_limit;
  std::optional<spec::IntOrString> inconclusive_limit;
  std::optional<spec::IntOrString> consecutive_error_limit;
  std::optional<spec::IntOrString> consecutive_success_limit;
  std::vector<std::pair<std::string, nlohmann::json>> providers;

  // Argo's EffectiveCount: nullopt = unlimited.
  std::optional<int32_t> EffectiveCount() const;
  int32_t FailureLimit() const;             // 0 when unset; -1 disables
  int32_t InconclusiveLimit() const;        // 0 when unset
  int32_t ConsecutiveErrorLimit() const;    // 4 when unset
  int32_t ConsecutiveSuccessLimit() const;  // 0 when unset (off)
  // Parsed durations (validation guarantees they parse when set).
  std::optional<Duration> Interval() const;
  Duration InitialDelay() const;
};

// Resolves every string of `metric` (name, durations, counts and limits written as strings,
// conditions, and — unless `with_providers` is false — the provider configuration, keys
// included).
StatusOr<ResolvedMetric> ResolveMetric(const spec::Metric& metric, const ArgTable& args,
                                       bool with_providers = true);

// Only the provider configurations of `metric`, resolved as ResolveMetric resolves them.
StatusOr<std::vector<std::pair<std::string, nlohmann::json>>> ResolveProviders(
    const spec::Metric& metric, const ArgTable& args);

// Argo's ValidateMetrics over resolved metrics; the message is Argo's ("no metrics specified",
// "metrics[1]: duplicate name 'x'", "metrics[0]: count (2) must be >= …", …).
Status ValidateMetrics(const std::vector<ResolvedMetric>& metrics);

// Go's fmt "%v" of a float64 ("3", "0.5", "1e+06"), as Argo prints JSON numbers it walked.
std::string FormatGoFloat(double v);

}  // namespace ramp::analysis::internal
