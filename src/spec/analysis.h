// The analysis kinds of Argo Rollouts: AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun
// (spec and status) and Experiment, as typed immutable values, with their strict decoders.
//
// Decoding follows Argo's schema field for field (analysis_types.go, experiment_types.go): every
// Argo field is typed and an unknown field is an error; embedded Kubernetes objects (a job
// provider's JobSpec, an experiment template's PodTemplateSpec) are kept as JSON and only the
// fields ramp reads are type-checked. Validation runs during decoding, so each problem is
// reported at the line and column of the field it concerns, with Argo's rules
// (utils/analysis/factory.go ValidateMetric, the providers' own checks, the CRD's required
// fields) plus the Kubernetes checks that would reject the embedded objects.
//
// Values written as "{{args.name}}" are kept as written and skip format checks: they are
// resolved when a run is created. Conditions are kept as strings; the condition language parses
// them.
//
// A `status` on an AnalysisTemplate or ClusterAnalysisTemplate is accepted and ignored, as the
// API server drops it (the CRDs declare no status). AnalysisRun and Experiment status is decoded
// strictly when present, so a saved object reads back unchanged.
//
// Thread-safety: decoded values are immutable and safe to share; a decode uses one context.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/common.h"
#include "spec/decode.h"

namespace ramp::spec {

// Defaults Argo applies when a field is unset (analysis/analysis.go, utils/defaults).
inline constexpr int32_t kDefaultConsecutiveErrorLimit = 4;
inline constexpr int32_t kDefaultMeasurementRetention = 10;
inline constexpr int64_t kErrorRetryIntervalNanos = 10'000'000'000;  // 10 s after an Error
inline constexpr int64_t kDefaultPrometheusTimeoutSeconds = 30;
inline constexpr int64_t kDefaultNewRelicTimeoutSeconds = 5;
inline constexpr int64_t kDefaultWebTimeoutSeconds = 10;
inline constexpr int64_t kDefaultDatadogIntervalNanos = 300'000'000'000;  // 5m
inline constexpr int64_t kDefaultDatadogRequestTimeoutNanos = 10'000'000'000;
inline constexpr int64_t kDefaultCloudWatchIntervalNanos = 300'000'000'000;
inline constexpr int32_t kDefaultExperimentProgressDeadlineSeconds = 600;
inline constexpr int32_t kDefaultExperimentScaleDownDelaySeconds = 30;
inline constexpr int32_t kDefaultExperimentTemplateReplicas = 1;

// AnalysisPhase of a run, a metric result or a measurement. kNone is the empty string (a run
// that has not been reconciled yet).
enum class AnalysisPhase { kNone, kPending, kRunning, kSuccessful, kFailed, kError, kInconclusive };
std::string_view AnalysisPhaseName(AnalysisPhase phase);
std::optional<AnalysisPhase> ParseAnalysisPhase(std::string_view text);
// Successful, Failed, Error and Inconclusive are terminal.
bool IsCompleted(AnalysisPhase phase);

// A metav1.Time: RFC 3339 as written, and its value in nanoseconds since the Unix epoch.
struct MetaTime {
  std::string text;
  int64_t unix_nanos = 0;
};
// Parses RFC 3339 as metav1.Time does ("2024-05-01T10:00:00Z", optional fraction, "Z" or
// "+hh:mm") into nanoseconds since the Unix epoch.
std::optional<int64_t> ParseMetaTime(std::string_view text);

// Go's intstr.IntValue(): the integer, or a string parsed as a decimal integer (0 when it is
// not one, e.g. an unresolved "{{args.x}}").
int32_t IntOrStringValue(const IntOrString& v);

// ---- Providers (analysis_types.go, one struct per provider) ----

struct WebMetricHeader {
  std::string key;
  std::string value;
};
struct Sigv4Config {
  std::string region;
  std::string profile;
  std::string role_arn;
};
struct OAuth2Config {
  std::string token_url;
  std::string client_id;
  std::string client_secret;
  std::vector<std::string> scopes;
};
struct BasicAuthConfig {
  std::string username;
  std::string password;
};
struct Authentication {
  Sigv4Config sigv4;
  OAuth2Config oauth2;
  BasicAuthConfig basic_auth;
};

struct PrometheusRangeQuery {
  std::string start;  // an expression, e.g. now() - duration("1h")
  std::string end;
  DurationString step;
};
struct PrometheusMetric {
  std::string address;  // empty: ARGO_ROLLOUTS_PROMETHEUS_ADDRESS
  std::string query;
  Authentication authentication;
  std::optional<int64_t> timeout;  // seconds
  bool insecure = false;
  std::vector<WebMetricHeader> headers;
  std::optional<PrometheusRangeQuery> range_query;
  int64_t EffectiveTimeoutSeconds() const {
    return timeout.value_or(kDefaultPrometheusTimeoutSeconds);
  }
};

struct DatadogSecretRef {
  std::string name;
  bool namespaced = false;
};
struct DatadogMetric {
  DurationString interval;  // the query window (default 5m), not the polling rate
  std::string query;
  std::map<std::string, std::string> queries;  // v2: name → query
  std::string formula;
  std::string api_version;  // v1 | v2; empty is the CRD default v1
  std::string aggregator;   // v2: avg, min, max, sum, last, percentile, mean, l2norm, area
  DatadogSecretRef secret_ref;
  DurationString request_timeout;  // default 10s
  std::string EffectiveApiVersion() const { return api_version.empty() ? "v1" : api_version; }
  int64_t EffectiveIntervalNanos() const {
    return interval.nanos.value_or(kDefaultDatadogIntervalNanos);
  }
  int64_t EffectiveRequestTimeoutNanos() const {
    return request_timeout.nanos.value_or(kDefaultDatadogRequestTimeoutNanos);
  }
};

struct NewRelicMetric {
  std::string profile;  // Secret name; empty: "newrelic"
  std::string query;
  std::optional<int64_t> timeout;  // seconds
  int64_t EffectiveTimeoutSeconds() const {
    return timeout.value_or(kDefaultNewRelicTimeoutSeconds);
  }
};

struct CloudWatchDimension {
  std::string name;
  std::string value;
};
struct CloudWatchMetricStatMetric {
  std::vector<CloudWatchDimension> dimensions;
  std::string metric_name;
  std::optional<std::string> namespace_;
};
struct CloudWatchMetricStat {
  CloudWatchMetricStatMetric metric;
  std::optional<IntOrString> period;
  std::string stat;
  std::string unit;
};
struct CloudWatchMetricDataQuery {
  std::string id;
  std::optional<std::string> expression;
  std::optional<std::string> label;
  std::optional<CloudWatchMetricStat> metric_stat;
  std::optional<IntOrString> period;
  std::optional<bool> return_data;
};
struct CloudWatchMetric {
  DurationString interval;  // default 5m
  std::vector<CloudWatchMetricDataQuery> metric_data_queries;
  int64_t EffectiveIntervalNanos() const {
    return interval.nanos.value_or(kDefaultCloudWatchIntervalNanos);
  }
};

struct WavefrontMetric {
  std::string address;
  std::string query;
};
struct GraphiteMetric {
  std::string address;
  std::string query;  // raw render parameters: target=…&from=…
};
struct InfluxdbMetric {
  std::string profile;  // Secret name; empty: "influxdb"
  std::string query;    // Flux
};
struct SkyWalkingMetric {
  std::string address;
  std::string query;
  DurationString interval;
};

struct WebMetric {
  std::string method;  // GET (default), POST, PUT
  std::string url;
  std::vector<WebMetricHeader> headers;
  std::string body;
  int64_t timeout_seconds = 0;  // ≤ 0: 10
  std::string json_path;        // default "{$}"
  bool insecure = false;
  std::optional<nlohmann::json> json_body;  // free JSON; sets Content-Type: application/json
  Authentication authentication;
  std::string EffectiveMethod() const { return method.empty() ? "GET" : method; }
  std::string EffectiveJsonPath() const { return json_path.empty() ? "{$}" : json_path; }
  int64_t EffectiveTimeoutSeconds() const {
    return timeout_seconds > 0 ? timeout_seconds : kDefaultWebTimeoutSeconds;
  }
};

struct KayentaScopeDetail {
  std::string scope;
  std::string region;
  int64_t step = 0;
  std::string start;
  std::string end;
};
struct KayentaScope {
  std::string name;
  KayentaScopeDetail control_scope;
  KayentaScopeDetail experiment_scope;
};
struct KayentaThreshold {
  int64_t pass = 0;
  int64_t marginal = 0;
};
struct KayentaMetric {
  std::string address;
  std::string application;
  std::string canary_config_name;
  std::string metrics_account_name;
  std::string configuration_account_name;
  std::string storage_account_name;
  KayentaThreshold threshold;
  std::vector<KayentaScope> scopes;
  bool lookback = false;
};

// An environment variable of a container; value_from is kept as JSON.
// A Kubernetes batch/v1 Job run as a measurement (off Kubernetes: a local process built from
// the first container). `spec` is the whole JobSpec as JSON.
struct JobMetric {
  ObjectMeta metadata;
  nlohmann::json spec;
  std::optional<Container> container;  // spec.template.spec.containers[0]
  std::optional<int64_t> active_deadline_seconds;
  std::optional<int32_t> backoff_limit;
};

enum class ProviderKind {
  kNone,
  kPrometheus,
  kDatadog,
  kNewRelic,
  kCloudWatch,
  kWavefront,
  kGraphite,
  kInfluxdb,
  kSkyWalking,
  kWeb,
  kKayenta,
  kJob,
  kPlugin,
};
// The field name in the manifest ("prometheus", "newRelic", …; "plugin").
std::string_view ProviderFieldName(ProviderKind kind);

// Exactly one member is set in a valid metric.
struct MetricProvider {
  std::optional<PrometheusMetric> prometheus;
  std::optional<DatadogMetric> datadog;
  std::optional<NewRelicMetric> new_relic;
  std::optional<CloudWatchMetric> cloud_watch;
  std::optional<WavefrontMetric> wavefront;
  std::optional<GraphiteMetric> graphite;
  std::optional<InfluxdbMetric> influxdb;
  std::optional<SkyWalkingMetric> skywalking;
  std::optional<WebMetric> web;
  std::optional<KayentaMetric> kayenta;
  std::optional<JobMetric> job;
  std::map<std::string, nlohmann::json> plugin;  // plugin name → its free-form config

  // The providers that are set, in declaration order (each plugin entry counts once).
  std::vector<ProviderKind> Kinds() const;
  // The single provider, kNone when none, or the first when several are set.
  ProviderKind kind() const;
  // The plugin's name when kind() is kPlugin ("ramp/builtin", "argoproj-labs/…").
  std::string PluginName() const;
};

// ---- Metric (analysis_types.go Metric) ----

struct Metric {
  std::string name;
  DurationString interval;
  DurationString initial_delay;
  std::optional<IntOrString> count;
  std::string success_condition;
  std::string failure_condition;
  std::optional<IntOrString> failure_limit;
  std::optional<IntOrString> inconclusive_limit;
  std::optional<IntOrString> consecutive_error_limit;
  std::optional<IntOrString> consecutive_success_limit;
  MetricProvider provider;

  // Argo's EffectiveCount: count unset or 0 → 1 without an interval, unlimited (nullopt) with
  // one; otherwise count. Unresolved "{{args.x}}" values read as 0, as in Go.
  std::optional<int32_t> EffectiveCount() const;
  int32_t EffectiveFailureLimit() const;             // default 0; -1 disables
  int32_t EffectiveInconclusiveLimit() const;        // default 0
  int32_t EffectiveConsecutiveErrorLimit() const;    // default 4
  int32_t EffectiveConsecutiveSuccessLimit() const;  // default 0 (off)
  // The wait between measurements; nullopt when no interval (single measurement or retry
  // path). Unresolved templates give nullopt.
  std::optional<int64_t> IntervalNanos() const { return interval.nanos; }
  int64_t InitialDelayNanos() const { return initial_delay.nanos.value_or(0); }
};

// Decodes and validates one metric (`node` is the metric's map, `path` e.g. spec.metrics[0]).
Metric DecodeMetric(DecodeContext* ctx, const Node& node, const std::string& path);

// True when `rule` (a dryRun / measurementRetention metricName) matches `metric_name` the way
// Go's regexp.MatchString does (unanchored search). An invalid expression matches nothing.
bool MetricNameMatchesRule(std::string_view rule, std::string_view metric_name);

// ---- AnalysisTemplate / ClusterAnalysisTemplate ----

struct AnalysisTemplateSpec {
  std::vector<Metric> metrics;
  std::vector<Argument> args;
  std::vector<DryRun> dry_run;
  std::vector<MeasurementRetention> measurement_retention;
  std::vector<AnalysisTemplateRef> templates;  // nested composition
};

// Both kinds share this type; `cluster_scoped` tells them apart.
struct AnalysisTemplate {
  ObjectMeta metadata;
  AnalysisTemplateSpec spec;
  bool cluster_scoped = false;
};

// `root` is the whole document (apiVersion, kind, metadata, spec).
AnalysisTemplate DecodeAnalysisTemplate(DecodeContext* ctx, const Node& root);
AnalysisTemplate DecodeClusterAnalysisTemplate(DecodeContext* ctx, const Node& root);

// ---- AnalysisRun ----

struct TtlStrategy {
  std::optional<int32_t> seconds_after_completion;
  std::optional<int32_t> seconds_after_failure;
  std::optional<int32_t> seconds_after_success;
};

struct AnalysisRunSpec {
  std::vector<Metric> metrics;
  std::vector<Argument> args;
  bool terminate = false;
  std::vector<DryRun> dry_run;
  std::vector<MeasurementRetention> measurement_retention;
  std::optional<TtlStrategy> ttl_strategy;
};

struct RunSummary {
  int32_t count = 0;
  int32_t successful = 0;
  int32_t failed = 0;
  int32_t inconclusive = 0;
  int32_t error = 0;
};

struct Measurement {
  AnalysisPhase phase = AnalysisPhase::kNone;
  std::string message;
  std::optional<MetaTime> started_at;
  std::optional<MetaTime> finished_at;
  std::string value;
  std::map<std::string, std::string> metadata;
  std::optional<MetaTime> resume_at;
};

struct MetricResult {
  std::string name;
  AnalysisPhase phase = AnalysisPhase::kNone;
  std::vector<Measurement> measurements;
  std::string message;
  int32_t count = 0;
  int32_t successful = 0;
  int32_t failed = 0;
  int32_t inconclusive = 0;
  int32_t error = 0;
  int32_t consecutive_error = 0;
  int32_t consecutive_success = 0;
  bool dry_run = false;
  std::map<std::string, std::string> metadata;
};

struct AnalysisRunStatus {
  AnalysisPhase phase = AnalysisPhase::kNone;
  std::string message;
  std::vector<MetricResult> metric_results;
  std::optional<MetaTime> started_at;
  std::optional<MetaTime> completed_at;
  RunSummary run_summary;
  std::optional<RunSummary> dry_run_summary;
};

// The status as Argo writes it (omitempty fields left out), for saving a run: decoding the
// result gives back an equal status.
nlohmann::json ToJson(const AnalysisRunStatus& status);

// ---- Encoding (analysis_encode.cc) ----
//
// The spec side as Argo writes it: the JSON field names of analysis_types.go, omitempty fields
// left out when unset or empty, IntOrString and duration strings with their original spelling,
// free-form parts (plugin config, jsonBody, a job's JobSpec) as decoded. Every field the decoders
// read is written, so decoding the result and encoding it again gives the same JSON. Where Go
// writes a struct value that is empty (authentication: {sigv4: {}, oauth2: {}, basicAuth: {}},
// a datadog secretRef, a job's metadata), it is left out: it decodes to the same value.

// metav1.ObjectMeta: the fields ObjectMeta keeps (name, generateName, namespace, uid,
// resourceVersion, generation, creationTimestamp, labels, annotations).
nlohmann::json ToJson(const ObjectMeta& meta);
nlohmann::json ToJson(const Metric& metric);
nlohmann::json ToJson(const AnalysisTemplateSpec& spec);
nlohmann::json ToJson(const AnalysisRunSpec& spec);
// The whole AnalysisTemplate (or, when cluster_scoped, ClusterAnalysisTemplate) document.
nlohmann::json ToJson(const AnalysisTemplate& tmpl);

struct AnalysisRun {
  ObjectMeta metadata;
  AnalysisRunSpec spec;
  AnalysisRunStatus status;
  bool has_status = false;  // a `status` was present in the document
};

// The whole document: apiVersion, kind, metadata, spec, and status when has_status is set or
// the status is not empty (runs made by the engine fill their status without has_status).
nlohmann::json ToJson(const AnalysisRun& run);

AnalysisRun DecodeAnalysisRun(DecodeContext* ctx, const Node& root);

// ---- Experiment (experiment_types.go) ----

struct ExperimentTemplateService {
  std::string name;  // empty: the controller names it
};

struct ExperimentTemplate {
  std::string name;
  std::optional<int32_t> replicas;
  int32_t min_ready_seconds = 0;
  LabelSelector selector;
  PodMetadata pod_metadata;            // template.metadata labels/annotations
  nlohmann::json pod_template;         // the whole PodTemplateSpec
  std::optional<Container> container;  // template.spec.containers[0]
  std::optional<ExperimentTemplateService> service;
  int32_t EffectiveReplicas() const {
    return replicas.value_or(kDefaultExperimentTemplateReplicas);
  }
};

struct ExperimentAnalysisTemplateRef {
  std::string name;
  std::string template_name;
  bool cluster_scope = false;
  std::vector<Argument> args;
  bool required_for_completion = false;
};

struct ExperimentSpec {
  std::vector<ExperimentTemplate> templates;
  DurationString duration;  // empty: until terminated or the analyses finish
  std::optional<int32_t> progress_deadline_seconds;
  bool terminate = false;
  std::vector<ExperimentAnalysisTemplateRef> analyses;
  std::optional<int32_t> scale_down_delay_seconds;
  std::vector<DryRun> dry_run;
  std::vector<MeasurementRetention> measurement_retention;
  PodMetadata analysis_run_metadata;
  int32_t EffectiveProgressDeadlineSeconds() const {
    return progress_deadline_seconds.value_or(kDefaultExperimentProgressDeadlineSeconds);
  }
  int32_t EffectiveScaleDownDelaySeconds() const {
    return scale_down_delay_seconds.value_or(kDefaultExperimentScaleDownDelaySeconds);
  }
};

struct ExperimentTemplateStatus {
  std::string name;
  int32_t replicas = 0;
  int32_t updated_replicas = 0;
  int32_t ready_replicas = 0;
  int32_t available_replicas = 0;
  std::optional<int32_t> collision_count;
  std::string status;  // Progressing, Running, Successful, Failed, Error
  std::string message;
  std::optional<MetaTime> last_transition_time;
  std::string service_name;
  std::string pod_template_hash;
};

struct ExperimentCondition {
  std::string type;    // InvalidSpec, Completed, Progressing, Running, ReplicaFailure
  std::string status;  // True, False, Unknown
  std::optional<MetaTime> last_update_time;
  std::optional<MetaTime> last_transition_time;
  std::string reason;
  std::string message;
};

struct ExperimentAnalysisRunStatus {
  std::string name;
  std::string analysis_run;
  AnalysisPhase phase = AnalysisPhase::kNone;
  std::string message;
};

struct ExperimentStatus {
  AnalysisPhase phase = AnalysisPhase::kNone;
  std::string message;
  std::vector<ExperimentTemplateStatus> template_statuses;
  std::optional<MetaTime> available_at;
  std::vector<ExperimentCondition> conditions;
  std::vector<ExperimentAnalysisRunStatus> analysis_runs;
};

struct Experiment {
  ObjectMeta metadata;
  ExperimentSpec spec;
  ExperimentStatus status;
  bool has_status = false;
};

Experiment DecodeExperiment(DecodeContext* ctx, const Node& root);

}  // namespace ramp::spec
