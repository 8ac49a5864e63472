// The configuration of ramp's canary judges, metrics[].provider.plugin["ramp/judge-errors"] and
// ["ramp/judge-latency"] (docs/judges.md): the statistics' parameters, where the counts come
// from (the built-in proxy or Prometheus queries per arm), and how often to read them. Parsed
// here, below both `ramp lint` (src/spec/extensions.cc) and the providers (src/metrics/judge),
// so both say the same thing about the same mistake.
//
// Pure: JSON in, a value or an error naming the field out. Thread-safety: reentrant functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "ramp/status.h"

namespace ramp::spec {

inline constexpr std::string_view kJudgeErrorsProvider = "ramp/judge-errors";
inline constexpr std::string_view kJudgeLatencyProvider = "ramp/judge-latency";

enum class JudgeKind { kErrors, kLatency };
enum class JudgeSource { kBuiltin, kPrometheus };
enum class JudgeDirection { kIncrease, kDecrease, kEither };

// PromQL returning one number each: cumulative counts of one arm (a counter's current value,
// e.g. sum(http_requests_total{version="v2"})).
struct JudgeArmQueries {
  std::string requests;
  std::string bad;  // `errors` for ramp/judge-errors, `slow` for ramp/judge-latency
};

struct JudgeConfig {
  JudgeKind kind = JudgeKind::kErrors;
  double alpha = 0.01;
  double tolerance = 0.01;
  int64_t min_samples = 100;
  JudgeDirection direction = JudgeDirection::kIncrease;
  std::optional<double> baseline_rate;
  double detect_ratio = 3;
  int64_t max_duration_seconds = 600;
  int64_t poll_interval_ms = 1000;  // default 1s for builtin, 15s for prometheus
  int64_t read_error_limit = 5;     // reads that may fail in a row while watching
  bool pass_early = true;           // watchUntil: decision (true) or maxDuration (false)
  JudgeSource source = JudgeSource::kBuiltin;
  std::string admin_json;          // builtin: the `admin` object as JSON text, empty = none
  std::string prometheus_address;  // prometheus: http(s)://host:port
  JudgeArmQueries canary;
  JudgeArmQueries stable;
  double latency_bound_seconds = 0;  // ramp/judge-latency: required, > 0
  bool kayenta = true;               // ramp/judge-latency: Mann-Whitney on the histograms
};

// Parses the plugin configuration of `kind`. Numbers may be written as text (an {{args.…}}
// substitution). Errors are InvalidArgument "<provider>: <field>: <what>".
StatusOr<JudgeConfig> ParseJudgeConfig(const nlohmann::json& config, JudgeKind kind);

// "ramp/judge-errors" or "ramp/judge-latency".
std::string_view JudgeProviderName(JudgeKind kind);

}  // namespace ramp::spec
