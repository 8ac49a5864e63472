// The "ramp/judge-errors" and "ramp/judge-latency" metric providers: ramp's sequential canary
// judges (docs/judges.md). A measurement watches both revisions' traffic — the built-in proxy's
// per-revision counters, or four Prometheus queries — reading new counts every pollInterval and
// handing them to analysis::SequentialJudge. It stays Running while the judge watches and ends
// Failed as soon as the evidence says the canary is worse, Successful once the canary is shown
// within tolerance, or Inconclusive at maxDuration with the reason. The judge's state lives in the
// Running measurement's metadata (`judge.state`), so a restarted daemon resumes the same test.
// ramp/judge-latency judges requests slower than latencyBound the same way and, with the
// built-in proxy, also classifies the latency histograms with Kayenta's Mann-Whitney rule.
//
// Thread-safety: the providers hold no mutable state; every method may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "metrics/builtin/builtin_provider.h"
#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/registry.h"
#include "ramp/status.h"
#include "spec/judge_config.h"

namespace ramp::metrics {

// The metadata key of the judge's state in a Running measurement.
inline constexpr std::string_view kJudgeStateKey = "judge.state";

// Kayenta's classification of two latency histograms (cumulative buckets, last +Inf, as
// SignalWindow holds them): each bucket's requests become samples at its upper bound (the +Inf
// bucket at twice the largest finite bound), thinned proportionally to at most `max_samples` per
// arm. "High", "Pass", "Low" or "Nodata", with the shift estimate and its interval in the
// message.
struct LatencyClassification {
  std::string classification;
  std::string message;
};
LatencyClassification ClassifyLatencyHistograms(
    const std::vector<std::pair<double, double>>& canary,
    const std::vector<std::pair<double, double>>& stable, int max_samples = 1000);

// A judge provider of `kind`, reading the built-in proxy through `builtin` (the same options as
// ramp/builtin's) or Prometheus over `http`, which must outlive it.
std::unique_ptr<MetricProvider> NewJudgeProvider(spec::JudgeKind kind, HttpClient* http,
                                                 BuiltinProviderOptions builtin = {});

// Registers "ramp/judge-errors" and "ramp/judge-latency". InvalidArgument for a null `http`.
Status RegisterJudgeMetricProviders(Registry<MetricProvider>& registry, HttpClient* http,
                                    BuiltinProviderOptions builtin = {});

}  // namespace ramp::metrics
