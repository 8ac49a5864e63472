// Encoding of the analysis kinds' spec side (metrics, providers, template and run specs, whole
// documents) as Argo writes them: the JSON field names of analysis_types.go, omitempty fields
// left out, required ones always written. The run status has its own encoder in analysis.cc.
#include <string>
#include <vector>

#include "spec/analysis.h"

namespace ramp::spec {
namespace {

using json = nlohmann::json;

void PutString(json* j, const char* key, const std::string& v) {
  if (!v.empty()) (*j)[key] = v;
}

void PutBool(json* j, const char* key, bool v) {
  if (v) (*j)[key] = true;
}

void PutMap(json* j, const char* key, const std::map<std::string, std::string>& m) {
  if (!m.empty()) (*j)[key] = m;
}

void PutDuration(json* j, const char* key, const DurationString& d) {
  if (!d.text.empty()) (*j)[key] = d.text;
}

json IntOrStringJson(const IntOrString& v) {
  return v.is_string ? json(v.str_value) : json(v.int_value);
}

void PutIntOrString(json* j, const char* key, const std::optional<IntOrString>& v) {
  if (v) (*j)[key] = IntOrStringJson(*v);
}

template <typename T>
void PutOptional(json* j, const char* key, const std::optional<T>& v) {
  if (v) (*j)[key] = *v;
}

// Puts `value` unless it is an empty object (a Go struct value with nothing set).
void PutObject(json* j, const char* key, json value) {
  if (!value.is_object() || !value.empty()) (*j)[key] = std::move(value);
}

json HeadersJson(const std::vector<WebMetricHeader>& headers) {
  json a = json::array();
  for (const auto& h : headers) a.push_back(json{{"key", h.key}, {"value", h.value}});
  return a;
}

void PutHeaders(json* j, const std::vector<WebMetricHeader>& headers) {
  if (!headers.empty()) (*j)["headers"] = HeadersJson(headers);
}

json AuthenticationJson(const Authentication& a) {
  json j = json::object();
  json sigv4 = json::object();
  PutString(&sigv4, "region", a.sigv4.region);
  PutString(&sigv4, "profile", a.sigv4.profile);
  PutString(&sigv4, "roleArn", a.sigv4.role_arn);
  PutObject(&j, "sigv4", std::move(sigv4));
  json oauth2 = json::object();
  PutString(&oauth2, "tokenUrl", a.oauth2.token_url);
  PutString(&oauth2, "clientId", a.oauth2.client_id);
  PutString(&oauth2, "clientSecret", a.oauth2.client_secret);
  if (!a.oauth2.scopes.empty()) oauth2["scopes"] = a.oauth2.scopes;
  PutObject(&j, "oauth2", std::move(oauth2));
  json basic = json::object();
  PutString(&basic, "username", a.basic_auth.username);
  PutString(&basic, "password", a.basic_auth.password);
  PutObject(&j, "basicAuth", std::move(basic));
  return j;
}

json PrometheusJson(const PrometheusMetric& m) {
  json j = json::object();
  PutString(&j, "address", m.address);
  PutString(&j, "query", m.query);
  PutObject(&j, "authentication", AuthenticationJson(m.authentication));
  PutOptional(&j, "timeout", m.timeout);
  PutBool(&j, "insecure", m.insecure);
  PutHeaders(&j, m.headers);
  if (m.range_query) {
    json q = json::object();
    PutString(&q, "start", m.range_query->start);
    PutString(&q, "end", m.range_query->end);
    PutDuration(&q, "step", m.range_query->step);
    j["rangeQuery"] = std::move(q);
  }
  return j;
}

json DatadogJson(const DatadogMetric& m) {
  json j = json::object();
  PutDuration(&j, "interval", m.interval);
  PutString(&j, "query", m.query);
  PutMap(&j, "queries", m.queries);
  PutString(&j, "formula", m.formula);
  PutString(&j, "apiVersion", m.api_version);
  PutString(&j, "aggregator", m.aggregator);
  json ref = json::object();
  PutString(&ref, "name", m.secret_ref.name);
  PutBool(&ref, "namespaced", m.secret_ref.namespaced);
  PutObject(&j, "secretRef", std::move(ref));
  PutDuration(&j, "requestTimeout", m.request_timeout);
  return j;
}

json NewRelicJson(const NewRelicMetric& m) {
  json j = json::object();
  PutString(&j, "profile", m.profile);
  j["query"] = m.query;  // no omitempty in Go
  PutOptional(&j, "timeout", m.timeout);
  return j;
}

json CloudWatchStatJson(const CloudWatchMetricStat& s) {
  json j = json::object();
  json metric = json::object();
  if (!s.metric.dimensions.empty()) {
    json dims = json::array();
    for (const auto& d : s.metric.dimensions) {
      json dj = json::object();
      PutString(&dj, "name", d.name);
      PutString(&dj, "value", d.value);
      dims.push_back(std::move(dj));
    }
    metric["dimensions"] = std::move(dims);
  }
  PutString(&metric, "metricName", s.metric.metric_name);
  PutOptional(&metric, "namespace", s.metric.namespace_);
  PutObject(&j, "metric", std::move(metric));
  PutIntOrString(&j, "period", s.period);
  PutString(&j, "stat", s.stat);
  PutString(&j, "unit", s.unit);
  return j;
}

json CloudWatchJson(const CloudWatchMetric& m) {
  json j = json::object();
  PutDuration(&j, "interval", m.interval);
  json queries = json::array();  // no omitempty in Go
  for (const auto& q : m.metric_data_queries) {
    json qj = json::object();
    PutString(&qj, "id", q.id);
    PutOptional(&qj, "expression", q.expression);
    PutOptional(&qj, "label", q.label);
    if (q.metric_stat) qj["metricStat"] = CloudWatchStatJson(*q.metric_stat);
    PutIntOrString(&qj, "period", q.period);
    PutOptional(&qj, "returnData", q.return_data);
    queries.push_back(std::move(qj));
  }
  j["metricDataQueries"] = std::move(queries);
  return j;
}

json AddressQueryJson(const std::string& address, const std::string& query) {
  json j = json::object();
  PutString(&j, "address", address);
  PutString(&j, "query", query);
  return j;
}

json SkyWalkingJson(const SkyWalkingMetric& m) {
  json j = AddressQueryJson(m.address, m.query);
  PutDuration(&j, "interval", m.interval);
  return j;
}

json InfluxdbJson(const InfluxdbMetric& m) {
  json j = json::object();
  PutString(&j, "profile", m.profile);
  PutString(&j, "query", m.query);
  return j;
}

json WebJson(const WebMetric& m) {
  json j = json::object();
  PutString(&j, "method", m.method);
  j["url"] = m.url;  // no omitempty in Go
  PutHeaders(&j, m.headers);
  PutString(&j, "body", m.body);
  if (m.timeout_seconds != 0) j["timeoutSeconds"] = m.timeout_seconds;
  PutString(&j, "jsonPath", m.json_path);
  PutBool(&j, "insecure", m.insecure);
  PutOptional(&j, "jsonBody", m.json_body);
  PutObject(&j, "authentication", AuthenticationJson(m.authentication));
  return j;
}

// ScopeDetail: scope, region and step have no omitempty in Go.
json ScopeDetailJson(const KayentaScopeDetail& d) {
  json j{{"scope", d.scope}, {"region", d.region}, {"step", d.step}};
  PutString(&j, "start", d.start);
  PutString(&j, "end", d.end);
  return j;
}

json KayentaJson(const KayentaMetric& m) {
  json j{{"address", m.address},
         {"application", m.application},
         {"canaryConfigName", m.canary_config_name},
         {"metricsAccountName", m.metrics_account_name},
         {"configurationAccountName", m.configuration_account_name},
         {"storageAccountName", m.storage_account_name},
         {"threshold", {{"pass", m.threshold.pass}, {"marginal", m.threshold.marginal}}}};
  json scopes = json::array();
  for (const auto& s : m.scopes) {
    scopes.push_back(json{{"name", s.name},
                          {"controlScope", ScopeDetailJson(s.control_scope)},
                          {"experimentScope", ScopeDetailJson(s.experiment_scope)}});
  }
  j["scopes"] = std::move(scopes);
  PutBool(&j, "lookback", m.lookback);
  return j;
}

json JobJson(const JobMetric& m) {
  json j = json::object();
  PutObject(&j, "metadata", ToJson(m.metadata));
  // The container, deadline and backoff limit are read from the spec when it is decoded.
  j["spec"] = m.spec;
  return j;
}

json ProviderJson(const MetricProvider& p) {
  json j = json::object();
  if (p.prometheus) j["prometheus"] = PrometheusJson(*p.prometheus);
  if (p.datadog) j["datadog"] = DatadogJson(*p.datadog);
  if (p.new_relic) j["newRelic"] = NewRelicJson(*p.new_relic);
  if (p.cloud_watch) j["cloudWatch"] = CloudWatchJson(*p.cloud_watch);
  if (p.wavefront) j["wavefront"] = AddressQueryJson(p.wavefront->address, p.wavefront->query);
  if (p.graphite) j["graphite"] = AddressQueryJson(p.graphite->address, p.graphite->query);
  if (p.influxdb) j["influxdb"] = InfluxdbJson(*p.influxdb);
  if (p.skywalking) j["skywalking"] = SkyWalkingJson(*p.skywalking);
  if (p.web) j["web"] = WebJson(*p.web);
  if (p.kayenta) j["kayenta"] = KayentaJson(*p.kayenta);
  if (p.job) j["job"] = JobJson(*p.job);
  if (!p.plugin.empty()) {
    json plugins = json::object();
    for (const auto& [name, config] : p.plugin) plugins[name] = config;
    j["plugin"] = std::move(plugins);
  }
  return j;
}

json ArgumentJson(const Argument& a) {
  json j{{"name", a.name}};
  PutOptional(&j, "value", a.value);
  if (a.value_from) {
    json from = json::object();
    if (a.value_from->secret_key_ref) {
      from["secretKeyRef"] = json{{"name", a.value_from->secret_key_ref->name},
                                  {"key", a.value_from->secret_key_ref->key}};
    }
    if (a.value_from->field_ref) from["fieldRef"] = json{{"fieldPath", *a.value_from->field_ref}};
    // A Rollout argument's source; the analysis kinds never hold one after decoding.
    PutOptional(&from, "podTemplateHashValue", a.value_from->pod_template_hash_value);
    j["valueFrom"] = std::move(from);
  }
  return j;
}

template <typename T, typename F>
void PutList(json* j, const char* key, const std::vector<T>& items, F encode) {
  if (items.empty()) return;
  json a = json::array();
  for (const T& item : items) a.push_back(encode(item));
  (*j)[key] = std::move(a);
}

json MetricsJson(const std::vector<Metric>& metrics) {
  json a = json::array();
  for (const Metric& m : metrics) a.push_back(ToJson(m));
  return a;
}

void PutArgsAndRules(json* j, const std::vector<Argument>& args, const std::vector<DryRun>& dry_run,
                     const std::vector<MeasurementRetention>& retention) {
  PutList(j, "args", args, ArgumentJson);
  PutList(j, "dryRun", dry_run, [](const DryRun& d) {
    return json{{"metricName", d.metric_name}};
  });
  PutList(j, "measurementRetention", retention, [](const MeasurementRetention& m) {
    return json{{"metricName", m.metric_name}, {"limit", m.limit}};
  });
}

bool IsEmptyStatus(const AnalysisRunStatus& s) {
  const RunSummary& r = s.run_summary;
  return s.phase == AnalysisPhase::kNone && s.message.empty() && s.metric_results.empty() &&
         !s.started_at && !s.completed_at && !s.dry_run_summary && r.count == 0 &&
         r.successful == 0 && r.failed == 0 && r.inconclusive == 0 && r.error == 0;
}

}  // namespace

json ToJson(const ObjectMeta& meta) {
  json j = json::object();
  PutString(&j, "name", meta.name);
  PutString(&j, "generateName", meta.generate_name);
  PutString(&j, "namespace", meta.namespace_);
  PutString(&j, "uid", meta.uid);
  PutString(&j, "resourceVersion", meta.resource_version);
  PutOptional(&j, "generation", meta.generation);
  PutString(&j, "creationTimestamp", meta.creation_timestamp);
  PutMap(&j, "labels", meta.labels);
  PutMap(&j, "annotations", meta.annotations);
  return j;
}

json ToJson(const Metric& m) {
  json j{{"name", m.name}};
  PutDuration(&j, "interval", m.interval);
  PutDuration(&j, "initialDelay", m.initial_delay);
  PutIntOrString(&j, "count", m.count);
  PutString(&j, "successCondition", m.success_condition);
  PutString(&j, "failureCondition", m.failure_condition);
  PutIntOrString(&j, "failureLimit", m.failure_limit);
  PutIntOrString(&j, "inconclusiveLimit", m.inconclusive_limit);
  PutIntOrString(&j, "consecutiveErrorLimit", m.consecutive_error_limit);
  PutIntOrString(&j, "consecutiveSuccessLimit", m.consecutive_success_limit);
  j["provider"] = ProviderJson(m.provider);
  return j;
}

json ToJson(const AnalysisTemplateSpec& spec) {
  json j = json::object();
  if (!spec.metrics.empty()) j["metrics"] = MetricsJson(spec.metrics);
  PutArgsAndRules(&j, spec.args, spec.dry_run, spec.measurement_retention);
  PutList(&j, "templates", spec.templates, [](const AnalysisTemplateRef& t) {
    json tj{{"templateName", t.template_name}};
    PutBool(&tj, "clusterScope", t.cluster_scope);
    return tj;
  });
  return j;
}

json ToJson(const AnalysisRunSpec& spec) {
  json j{{"metrics", MetricsJson(spec.metrics)}};  // no omitempty in Go
  PutArgsAndRules(&j, spec.args, spec.dry_run, spec.measurement_retention);
  PutBool(&j, "terminate", spec.terminate);
  if (spec.ttl_strategy) {
    json t = json::object();
    PutOptional(&t, "secondsAfterCompletion", spec.ttl_strategy->seconds_after_completion);
    PutOptional(&t, "secondsAfterFailure", spec.ttl_strategy->seconds_after_failure);
    PutOptional(&t, "secondsAfterSuccess", spec.ttl_strategy->seconds_after_success);
    j["ttlStrategy"] = std::move(t);
  }
  return j;
}

json ToJson(const AnalysisTemplate& tmpl) {
  return json{{"apiVersion", kArgoApiVersion},
              {"kind", tmpl.cluster_scoped ? "ClusterAnalysisTemplate" : "AnalysisTemplate"},
              {"metadata", ToJson(tmpl.metadata)},
              {"spec", ToJson(tmpl.spec)}};
}

json ToJson(const AnalysisRun& run) {
  json j{{"apiVersion", kArgoApiVersion},
         {"kind", "AnalysisRun"},
         {"metadata", ToJson(run.metadata)},
         {"spec", ToJson(run.spec)}};
  if (run.has_status || !IsEmptyStatus(run.status)) j["status"] = ToJson(run.status);
  return j;
}

}  // namespace ramp::spec
