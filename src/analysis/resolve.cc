// Argument templating, provider configuration JSON and metric validation (see resolve.h).
#include "analysis/resolve.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

namespace ramp::analysis::internal {
namespace {

using nlohmann::json;

// ---- Provider configuration as Argo's JSON (omitempty, as Go marshals it) ----

void PutString(json* j, const char* key, const std::string& v) {
  if (!v.empty()) (*j)[key] = v;
}

void PutObject(json* j, const char* key, json v) {
  if (!v.empty()) (*j)[key] = std::move(v);
}

json Headers(const std::vector<spec::WebMetricHeader>& headers) {
  json out = json::array();
  for (const auto& h : headers) out.push_back({{"key", h.key}, {"value", h.value}});
  return out;
}

json AuthenticationJson(const spec::Authentication& a) {
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

json IntOrStringJson(const spec::IntOrString& v) {
  return v.is_string ? json(v.str_value) : json(v.int_value);
}

json PrometheusJson(const spec::PrometheusMetric& m) {
  json j = json::object();
  PutString(&j, "address", m.address);
  PutString(&j, "query", m.query);
  PutObject(&j, "authentication", AuthenticationJson(m.authentication));
  if (m.timeout) j["timeout"] = *m.timeout;
  if (m.insecure) j["insecure"] = true;
  if (!m.headers.empty()) j["headers"] = Headers(m.headers);
  if (m.range_query) {
    json q = json::object();
    PutString(&q, "start", m.range_query->start);
    PutString(&q, "end", m.range_query->end);
    PutString(&q, "step", m.range_query->step.text);
    j["rangeQuery"] = std::move(q);
  }
  return j;
}

json DatadogJson(const spec::DatadogMetric& m) {
  json j = json::object();
  PutString(&j, "interval", m.interval.text);
  PutString(&j, "query", m.query);
  if (!m.queries.empty()) j["queries"] = m.queries;
  PutString(&j, "formula", m.formula);
  PutString(&j, "apiVersion", m.api_version);
  PutString(&j, "aggregator", m.aggregator);
  json secret = json::object();
  PutString(&secret, "name", m.secret_ref.name);
  if (m.secret_ref.namespaced) secret["namespaced"] = true;
  PutObject(&j, "secretRef", std::move(secret));
  PutString(&j, "requestTimeout", m.request_timeout.text);
  return j;
}

json NewRelicJson(const spec::NewRelicMetric& m) {
  json j = json::object();
  PutString(&j, "profile", m.profile);
  PutString(&j, "query", m.query);
  if (m.timeout) j["timeout"] = *m.timeout;
  return j;
}

json CloudWatchJson(const spec::CloudWatchMetric& m) {
  json j = json::object();
  PutString(&j, "interval", m.interval.text);
  json queries = json::array();
  for (const auto& q : m.metric_data_queries) {
    json qj = json::object();
    qj["id"] = q.id;
    if (q.expression) qj["expression"] = *q.expression;
    if (q.label) qj["label"] = *q.label;
    if (q.metric_stat) {
      json stat = json::object();
      json metric = json::object();
      if (!q.metric_stat->metric.dimensions.empty()) {
        json dims = json::array();
        for (const auto& d : q.metric_stat->metric.dimensions) {
          dims.push_back({{"name", d.name}, {"value", d.value}});
        }
        metric["dimensions"] = std::move(dims);
      }
      PutString(&metric, "metricName", q.metric_stat->metric.metric_name);
      if (q.metric_stat->metric.namespace_) metric["namespace"] = *q.metric_stat->metric.namespace_;
      stat["metric"] = std::move(metric);
      if (q.metric_stat->period) stat["period"] = IntOrStringJson(*q.metric_stat->period);
      PutString(&stat, "stat", q.metric_stat->stat);
      PutString(&stat, "unit", q.metric_stat->unit);
      qj["metricStat"] = std::move(stat);
    }
    if (q.period) qj["period"] = IntOrStringJson(*q.period);
    if (q.return_data) qj["returnData"] = *q.return_data;
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

json WebJson(const spec::WebMetric& m) {
  json j = json::object();
  PutString(&j, "method", m.method);
  PutString(&j, "url", m.url);
  if (!m.headers.empty()) j["headers"] = Headers(m.headers);
  PutString(&j, "body", m.body);
  if (m.timeout_seconds != 0) j["timeoutSeconds"] = m.timeout_seconds;
  PutString(&j, "jsonPath", m.json_path);
  if (m.insecure) j["insecure"] = true;
  if (m.json_body) j["jsonBody"] = *m.json_body;
  PutObject(&j, "authentication", AuthenticationJson(m.authentication));
  return j;
}

json ScopeDetailJson(const spec::KayentaScopeDetail& d) {
  json j = json::object();
  j["scope"] = d.scope;
  j["region"] = d.region;
  j["step"] = d.step;
  j["start"] = d.start;
  j["end"] = d.end;
  return j;
}

json KayentaJson(const spec::KayentaMetric& m) {
  json j = json::object();
  j["address"] = m.address;
  j["application"] = m.application;
  j["canaryConfigName"] = m.canary_config_name;
  j["metricsAccountName"] = m.metrics_account_name;
  j["configurationAccountName"] = m.configuration_account_name;
  j["storageAccountName"] = m.storage_account_name;
  j["threshold"] = {{"pass", m.threshold.pass}, {"marginal", m.threshold.marginal}};
  json scopes = json::array();
  for (const auto& s : m.scopes) {
    scopes.push_back({{"name", s.name},
                      {"controlScope", ScopeDetailJson(s.control_scope)},
                      {"experimentScope", ScopeDetailJson(s.experiment_scope)}});
  }
  j["scopes"] = std::move(scopes);
  if (m.lookback) j["lookback"] = true;
  return j;
}

json JobJson(const spec::JobMetric& m) {
  json j = json::object();
  json meta = json::object();
  PutString(&meta, "name", m.metadata.name);
  PutString(&meta, "namespace", m.metadata.namespace_);
  if (!m.metadata.labels.empty()) meta["labels"] = m.metadata.labels;
  if (!m.metadata.annotations.empty()) meta["annotations"] = m.metadata.annotations;
  PutObject(&j, "metadata", std::move(meta));
  j["spec"] = m.spec.is_null() ? json::object() : m.spec;
  return j;
}

// ---- Substitution ----

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Substitutes in every string and key of `j`; remembers the last unresolved error.
void SubstituteJson(json* j, const ArgTable& args, bool keep_secret_tags, Status* last_error) {
  if (j->is_string()) {
    auto r = SubstituteArgs(j->get_ref<const std::string&>(), args, keep_secret_tags);
    if (r.has_value()) {
      *j = *r;
    } else {
      *last_error = r.error();
    }
    return;
  }
  if (j->is_array()) {
    for (auto& item : *j) SubstituteJson(&item, args, keep_secret_tags, last_error);
    return;
  }
  if (!j->is_object()) return;
  json out = json::object();
  for (auto& [key, value] : j->items()) {
    std::string new_key = key;
    if (key.find("{{") != std::string::npos) {
      auto r = SubstituteArgs(key, args, keep_secret_tags);
      if (r.has_value()) {
        new_key = *r;
      } else {
        *last_error = r.error();
      }
    }
    json v = value;
    SubstituteJson(&v, args, keep_secret_tags, last_error);
    out[new_key] = std::move(v);
  }
  *j = std::move(out);
}

// Substitutes in one string field; remembers the last unresolved error.
std::string SubstituteField(const std::string& text, const ArgTable& args, Status* last_error) {
  auto r = SubstituteArgs(text, args, /*keep_secret_tags=*/false);
  if (r.has_value()) return *r;
  *last_error = r.error();
  return text;
}

std::optional<spec::IntOrString> SubstituteIntOrString(const std::optional<spec::IntOrString>& v,
                                                       const ArgTable& args, Status* last_error) {
  if (!v || !v->is_string) return v;
  return spec::IntOrString::Str(SubstituteField(v->str_value, args, last_error));
}

int32_t IntValue(const std::optional<spec::IntOrString>& v, int32_t def) {
  return v ? spec::IntOrStringValue(*v) : def;
}

// Go's time.ParseDuration error text.
std::string GoDurationError(const std::string& text) {
  return "time: invalid duration \"" + text + "\"";
}

}  // namespace

StatusOr<ArgTable> MakeArgTable(const std::vector<spec::Argument>& args,
                                const std::map<std::string, std::string>& secret_values) {
  ArgTable table;
  for (const spec::Argument& arg : args) {
    if (arg.value_from && arg.value_from->secret_key_ref) {
      auto it = secret_values.find(arg.name);
      table.values[arg.name] = it != secret_values.end() ? it->second : kSecretPlaceholderValue;
      table.secret.insert(arg.name);
      continue;
    }
    if (!arg.value) {
      return Fail(InvalidArgumentError("argument \"" + arg.name + "\" was not supplied"));
    }
    table.values[arg.name] = *arg.value;
  }
  return table;
}

StatusOr<std::string> SubstituteArgs(std::string_view text, const ArgTable& args,
                                     bool keep_secret_tags) {
  std::string out;
  std::optional<Status> unresolved;
  size_t pos = 0;
  while (true) {
    size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      return Fail(
          InvalidArgumentError("cannot find end tag \"}}\" in \"" + std::string(text) + "\""));
    }
    out.append(text.substr(pos, open - pos));
    std::string_view tag = text.substr(open + 2, close - open - 2);
    std::string_view cleaned = Trim(tag);
    bool resolved = false;
    if (cleaned.substr(0, 5) == "args.") {
      std::string name(cleaned.substr(5));
      auto it = args.values.find(name);
      if (it != args.values.end()) {
        resolved = true;
        if (keep_secret_tags && args.secret.count(name) > 0) {
          out += "{{args." + name + "}}";
        } else {
          out += it->second;
        }
      }
    }
    if (!resolved) {
      unresolved = InvalidArgumentError("failed to resolve {{" + std::string(tag) + "}}");
    }
    pos = close + 2;
  }
  if (unresolved) return Fail(*unresolved);
  return out;
}

std::vector<std::pair<std::string, json>> ProviderConfigs(const spec::MetricProvider& p) {
  std::vector<std::pair<std::string, json>> out;
  if (p.prometheus) out.emplace_back("prometheus", PrometheusJson(*p.prometheus));
  if (p.datadog) out.emplace_back("datadog", DatadogJson(*p.datadog));
  if (p.new_relic) out.emplace_back("newrelic", NewRelicJson(*p.new_relic));
  if (p.cloud_watch) out.emplace_back("cloudwatch", CloudWatchJson(*p.cloud_watch));
  if (p.wavefront) {
    out.emplace_back("wavefront", AddressQueryJson(p.wavefront->address, p.wavefront->query));
  }
  if (p.graphite) {
    out.emplace_back("graphite", AddressQueryJson(p.graphite->address, p.graphite->query));
  }
  if (p.influxdb) {
    json j = json::object();
    PutString(&j, "profile", p.influxdb->profile);
    PutString(&j, "query", p.influxdb->query);
    out.emplace_back("influxdb", std::move(j));
  }
  if (p.skywalking) {
    json j = AddressQueryJson(p.skywalking->address, p.skywalking->query);
    PutString(&j, "interval", p.skywalking->interval.text);
    out.emplace_back("skywalking", std::move(j));
  }
  if (p.web) out.emplace_back("web", WebJson(*p.web));
  if (p.kayenta) out.emplace_back("kayenta", KayentaJson(*p.kayenta));
  if (p.job) out.emplace_back("job", JobJson(*p.job));
  for (const auto& [name, config] : p.plugin) {
    out.emplace_back(name, config.is_null() ? json::object() : config);
  }
  return out;
}

std::optional<int32_t> ResolvedMetric::EffectiveCount() const {
  if (!count || spec::IntOrStringValue(*count) == 0) {
    if (interval.empty()) return 1;
    return std::nullopt;
  }
  return spec::IntOrStringValue(*count);
}

int32_t ResolvedMetric::FailureLimit() const { return IntValue(failure_limit, 0); }
int32_t ResolvedMetric::InconclusiveLimit() const { return IntValue(inconclusive_limit, 0); }
int32_t ResolvedMetric::ConsecutiveErrorLimit() const {
  return IntValue(consecutive_error_limit, spec::kDefaultConsecutiveErrorLimit);
}
int32_t ResolvedMetric::ConsecutiveSuccessLimit() const {
  return IntValue(consecutive_success_limit, 0);
}

std::optional<Duration> ResolvedMetric::Interval() const {
  if (interval.empty()) return std::nullopt;
  auto nanos = spec::ParseGoDuration(interval);
  if (!nanos) return std::nullopt;
  return Duration(*nanos);
}

Duration ResolvedMetric::InitialDelay() const {
  if (initial_delay.empty()) return Duration(0);
  return Duration(spec::ParseGoDuration(initial_delay).value_or(0));
}

StatusOr<ResolvedMetric> ResolveMetric(const spec::Metric& metric, const ArgTable& args,
                                       bool with_providers) {
  // Argo marshals the metric and resolves the whole text; the error it reports is the last
  // unresolved tag in field order (name, interval, initialDelay, count, conditions, limits,
  // provider).
  Status last_error;
  ResolvedMetric r;
  r.name = SubstituteField(metric.name, args, &last_error);
  r.interval = SubstituteField(metric.interval.text, args, &last_error);
  r.initial_delay = SubstituteField(metric.initial_delay.text, args, &last_error);
  r.count = SubstituteIntOrString(metric.count, args, &last_error);
  r.success_condition = SubstituteField(metric.success_condition, args, &last_error);
  r.failure_condition = SubstituteField(metric.failure_condition, args, &last_error);
  r.failure_limit = SubstituteIntOrString(metric.failure_limit, args, &last_error);
  r.inconclusive_limit = SubstituteIntOrString(metric.inconclusive_limit, args, &last_error);
  r.consecutive_error_limit =
      SubstituteIntOrString(metric.consecutive_error_limit, args, &last_error);
  r.consecutive_success_limit =
      SubstituteIntOrString(metric.consecutive_success_limit, args, &last_error);
  if (with_providers) {
    r.providers = ProviderConfigs(metric.provider);
    for (auto& [type, config] : r.providers) {
      SubstituteJson(&config, args, /*keep_secret_tags=*/true, &last_error);
    }
  }
  if (!last_error.ok()) return Fail(last_error);
  return r;
}

StatusOr<std::vector<std::pair<std::string, nlohmann::json>>> ResolveProviders(
    const spec::Metric& metric, const ArgTable& args) {
  Status last_error;
  auto providers = ProviderConfigs(metric.provider);
  for (auto& [type, config] : providers) {
    SubstituteJson(&config, args, /*keep_secret_tags=*/true, &last_error);
  }
  if (!last_error.ok()) return Fail(last_error);
  return providers;
}

namespace {

Status ValidateMetric(const ResolvedMetric& m) {
  const int32_t count = IntValue(m.count, 0);
  const int32_t failure_limit = m.FailureLimit();
  const int32_t consecutive_success_limit = m.ConsecutiveSuccessLimit();
  const int32_t inconclusive_limit = m.InconclusiveLimit();
  auto err = [](std::string msg) { return InvalidArgumentError(std::move(msg)); };
  auto num = [](int32_t v) { return std::to_string(v); };
  if (consecutive_success_limit < 0) return err("consecutiveSuccessLimit must be >= 0");
  if (failure_limit < -1) return err("failureLimit must be >= 0, or -1 to be disabled");
  if (consecutive_success_limit == 0 && failure_limit == -1) {
    return err("failureLimit and consecutiveSuccessLimit cannot both be disabled");
  }
  if (inconclusive_limit < 0) return err("inconclusiveLimit must be >= 0");
  if (m.consecutive_error_limit && spec::IntOrStringValue(*m.consecutive_error_limit) < 0) {
    return err("consecutiveErrorLimit must be >= 0");
  }
  if (count > 0) {
    if (consecutive_success_limit >= 0 && failure_limit >= 0) {
      if (count < failure_limit + consecutive_success_limit) {
        return err("count (" + num(count) +
                   ") must be >= failureLimit + consecutiveSuccessLimit (" + num(failure_limit) +
                   " + " + num(consecutive_success_limit) + ") if both >= 0");
      }
    } else if (consecutive_success_limit >= 0 && failure_limit < 0) {
      if (count < consecutive_success_limit) {
        return err("count must be >= consecutiveSuccessLimit");
      }
    }
    if (count < inconclusive_limit) return err("count must be >= inconclusiveLimit");
  }
  if (count > 1 && m.interval.empty()) return err("interval must be specified when count > 1");
  if (!m.interval.empty() && !spec::ParseGoDuration(m.interval)) {
    return err("invalid interval string: " + GoDurationError(m.interval));
  }
  if (!m.initial_delay.empty() && !spec::ParseGoDuration(m.initial_delay)) {
    return err("invalid startDelay string: " + GoDurationError(m.initial_delay));
  }
  if (m.providers.empty()) return err("no provider specified");
  if (m.providers.size() > 1) return err("multiple providers specified");
  return OkStatus();
}

}  // namespace

Status ValidateMetrics(const std::vector<ResolvedMetric>& metrics) {
  if (metrics.empty()) return InvalidArgumentError("no metrics specified");
  std::set<std::string> names;
  for (size_t i = 0; i < metrics.size(); ++i) {
    const std::string prefix = "metrics[" + std::to_string(i) + "]: ";
    if (!names.insert(metrics[i].name).second) {
      return InvalidArgumentError(prefix + "duplicate name '" + metrics[i].name + "'");
    }
    Status s = ValidateMetric(metrics[i]);
    if (!s.ok()) return InvalidArgumentError(prefix + s.message());
  }
  return OkStatus();
}

std::string FormatGoFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  // %v is strconv's 'g' with the shortest round-trip digits, which switches to exponent form
  // when the decimal exponent is < -4 or >= 6 ("1e+06", "1.5e-05").
  auto sci = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string s(buf, sci.ptr);
  size_t e = s.find('e');
  int exp = std::atoi(s.c_str() + e + 1);
  if (exp < -4 || exp >= 6) {
    // Go writes at least two exponent digits.
    std::string mantissa = s.substr(0, e);
    std::string exponent = s.substr(e + 1);
    char sign = exponent[0] == '-' ? '-' : '+';
    if (exponent[0] == '-' || exponent[0] == '+') exponent.erase(0, 1);
    while (exponent.size() > 2 && exponent[0] == '0') exponent.erase(0, 1);
    if (exponent.size() < 2) exponent.insert(0, "0");
    return mantissa + "e" + sign + exponent;
  }
  auto fixed = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  return std::string(buf, fixed.ptr);
}

}  // namespace ramp::analysis::internal
