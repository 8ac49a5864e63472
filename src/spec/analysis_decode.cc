// Strict decoding and validation of AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun and
// Experiment documents. Every rule is checked where the nodes are at hand, so each error points
// at the field it concerns.
#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "spec/analysis.h"
#include "spec/extensions.h"

namespace ramp::spec {
namespace {

using Mode = ObjectReader::Mode;

constexpr char kRequired[] = "Required value";

bool IsTemplated(std::string_view s) { return s.find("{{") != std::string_view::npos; }

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// Reports a problem with field `key` of the map `obj` (at the key, or at `obj` when absent).
void FieldError(DecodeContext* ctx, const Node* obj, const std::string& path, std::string_view key,
                std::string message) {
  Mark mark = obj != nullptr ? obj->KeyMark(key) : Mark{};
  ctx->Error(mark, ChildPath(path, key), std::move(message));
}

void FieldWarning(DecodeContext* ctx, const Node* obj, const std::string& path,
                  std::string_view key, std::string message) {
  Mark mark = obj != nullptr ? obj->KeyMark(key) : Mark{};
  ctx->Warning(mark, ChildPath(path, key), std::move(message));
}

// The item nodes of a list field, or nullptr.
const Node* ListField(const Node* obj, std::string_view key) {
  if (obj == nullptr || !obj->IsMap()) return nullptr;
  const Node* n = obj->Find(key);
  return n != nullptr && n->IsSequence() ? n : nullptr;
}

// A Go duration field (interval, initialDelay, step, …). "{{args.x}}" is kept unparsed; a bare
// number is an error that names the missing unit.
DurationString ReadDuration(ObjectReader* r, std::string_view key) {
  const Node* n = r->Field(key);
  if (n == nullptr) return {};
  if (n->IsScalar() && IsTemplated(n->scalar)) return DurationString{n->scalar, std::nullopt};
  return ReadDurationString(r->ctx(), *n, r->FieldPath(key)).value_or(DurationString{});
}

// A decimal integer as Go's strconv.Atoi reads it (optional sign, digits, fits 32 bits here).
bool IsDecimalInt(std::string_view s) {
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  if (s.empty()) return false;
  int32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size();
}

// An IntOrString count or limit: an integer, a numeric string, or a "{{args.x}}" template.
std::optional<IntOrString> ReadCountField(ObjectReader* r, std::string_view key) {
  const Node* n = r->Field(key);
  if (n == nullptr) return std::nullopt;
  auto v = ReadIntOrString(r->ctx(), *n, r->FieldPath(key));
  if (v && v->is_string && !IsTemplated(v->str_value)) {
    if (!IsDecimalInt(v->str_value)) {
      r->ctx()->Error(
          n->mark, r->FieldPath(key),
          "expected an integer or an \"{{args.name}}\" template, got " + Quote(v->str_value));
      return std::nullopt;
    }
  }
  return v;
}

// What validation knows about an IntOrString limit: unset (Argo's default applies), a known
// integer, or unknown until the run resolves its arguments.
struct Limit {
  bool unknown = false;
  std::optional<int32_t> value;  // set when known and present
  int32_t Or(int32_t def) const { return value.value_or(def); }
};
Limit ToLimit(const std::optional<IntOrString>& v) {
  if (!v) return {};
  if (v->is_string && IsTemplated(v->str_value)) return Limit{true, std::nullopt};
  return Limit{false, IntOrStringValue(*v)};
}

// True for "scheme://host…" (Go's url.ParseRequestURI with a scheme and a host).
bool IsUrlWithHost(std::string_view s) {
  size_t colon = s.find("://");
  if (colon == std::string_view::npos || colon == 0) return false;
  for (size_t i = 0; i < colon; ++i) {
    char c = s[i];
    bool ok = std::isalpha(static_cast<unsigned char>(c)) ||
              (i > 0 &&
               (std::isdigit(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.'));
    if (!ok) return false;
  }
  std::string_view rest = s.substr(colon + 3);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority.remove_prefix(at + 1);
  std::string_view host =
      authority.substr(0, authority.rfind(':') == std::string_view::npos || authority.front() == '['
                              ? authority.size()
                              : authority.rfind(':'));
  if (host.empty()) return false;
  return std::none_of(host.begin(), host.end(),
                      [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

void CheckUrl(DecodeContext* ctx, const Node* obj, const std::string& path, std::string_view key,
              const std::string& value, std::string_view example) {
  if (value.empty() || IsTemplated(value) || IsUrlWithHost(value)) return;
  FieldError(ctx, obj, path, key,
             "must be a URL with a scheme and a host, e.g. " + std::string(example) + " (got " +
                 Quote(value) + ")");
}

// ---- Kubernetes quantities and embedded pod templates ----

enum class PodOwner { kJob, kReplicaSet };

std::optional<Container> CheckPodTemplate(DecodeContext* ctx, const Node& tmpl,
                                          const std::string& path, PodOwner owner,
                                          PodMetadata* metadata) {
  ObjectReader r(ctx, &tmpl, path, Mode::kLenient);
  if (!r.valid()) return std::nullopt;
  ObjectMeta meta = DecodeObjectMeta(ctx, r.Field("metadata"), r.FieldPath("metadata"));
  if (metadata != nullptr) *metadata = PodMetadata{meta.labels, meta.annotations};
  const Node* spec = r.Field("spec");
  std::string sp = r.FieldPath("spec");
  if (spec == nullptr) {
    FieldError(ctx, &tmpl, path, "spec",
               "Required value: a pod spec with at least one container is required");
    return std::nullopt;
  }
  ObjectReader sr(ctx, spec, sp, Mode::kLenient);
  if (!sr.valid()) return std::nullopt;
  std::optional<Container> first;
  std::set<std::string> names;
  for (std::string_view list : {"initContainers", "containers"}) {
    const Node* cn = sr.Field(list);
    std::string lp = sr.FieldPath(list);
    if (cn == nullptr) {
      if (list == "containers") {
        FieldError(ctx, spec, sp, "containers", "Required value: at least one container");
      }
      continue;
    }
    if (!cn->IsSequence()) {
      ctx->Error(cn->mark, lp, "expected a list, got " + std::string(cn->TypeName()));
      continue;
    }
    if (list == "containers" && cn->items.empty()) {
      ctx->Error(cn->mark, lp, "Required value: at least one container");
    }
    for (size_t i = 0; i < cn->items.size(); ++i) {
      std::string ip = IndexPath(lp, i);
      ctx->Record(ip, cn->items[i].mark);
      Container c = DecodeContainer(ctx, cn->items[i], ip);
      if (!c.name.empty() && !names.insert(c.name).second) {
        FieldError(ctx, &cn->items[i], ip, "name",
                   "Duplicate value: container name " + Quote(c.name) + " is used twice");
      }
      if (list == "containers" && i == 0) first = std::move(c);
    }
  }
  if (auto policy = sr.String("restartPolicy")) {
    if (owner == PodOwner::kJob && *policy != "Never" && *policy != "OnFailure") {
      FieldError(ctx, spec, sp, "restartPolicy",
                 "Unsupported value " + Quote(*policy) +
                     ": a Job's pods must use Never or "
                     "OnFailure");
    } else if (owner == PodOwner::kReplicaSet && *policy != "Always") {
      FieldError(ctx, spec, sp, "restartPolicy",
                 "Unsupported value " + Quote(*policy) + ": a ReplicaSet's pods must use Always");
    }
  } else if (owner == PodOwner::kJob && sr.valid()) {
    // Off Kubernetes the job runs as a local process and the policy does not matter; on
    // Kubernetes the pod default (Always) makes the API server refuse the Job.
    FieldWarning(ctx, spec, sp, "restartPolicy",
                 "a Job's pods must set restartPolicy Never or OnFailure on Kubernetes (the pod "
                 "default, Always, is rejected for Jobs)");
  }
  return first;
}

// ---- Shared pieces ----

std::vector<WebMetricHeader> DecodeHeaders(ObjectReader* r) {
  return r->List("headers", [](DecodeContext* c, const Node& n, const std::string& p) {
    ObjectReader hr(c, &n, p);
    WebMetricHeader h{hr.String("key").value_or(""), hr.String("value").value_or("")};
    hr.Finish();
    if (hr.valid() && !hr.Has("key")) FieldError(c, &n, p, "key", kRequired);
    if (hr.valid() && !hr.Has("value")) FieldError(c, &n, p, "value", kRequired);
    return h;
  });
}

Authentication DecodeAuthentication(DecodeContext* ctx, const Node* n, const std::string& path) {
  Authentication a;
  ObjectReader r(ctx, n, path);
  if (const Node* s = r.Field("sigv4")) {
    std::string p = r.FieldPath("sigv4");
    ObjectReader sr(ctx, s, p);
    a.sigv4.region = sr.String("region").value_or("");
    a.sigv4.profile = sr.String("profile").value_or("");
    a.sigv4.role_arn = sr.String("roleArn").value_or("");
    sr.Finish();
  }
  if (const Node* o = r.Field("oauth2")) {
    std::string p = r.FieldPath("oauth2");
    ObjectReader orr(ctx, o, p);
    a.oauth2.token_url = orr.String("tokenUrl").value_or("");
    a.oauth2.client_id = orr.String("clientId").value_or("");
    a.oauth2.client_secret = orr.String("clientSecret").value_or("");
    a.oauth2.scopes = orr.StringList("scopes");
    orr.Finish();
    if (!a.oauth2.token_url.empty()) {
      if (a.oauth2.client_id.empty()) {
        FieldError(ctx, o, p, "clientId", "Required value: oauth2 with a tokenUrl needs clientId");
      }
      if (a.oauth2.client_secret.empty()) {
        FieldError(ctx, o, p, "clientSecret",
                   "Required value: oauth2 with a tokenUrl needs clientSecret");
      }
    } else if (!a.oauth2.client_id.empty() || !a.oauth2.client_secret.empty()) {
      FieldError(ctx, o, p, "tokenUrl",
                 "Required value: oauth2 client credentials need the tokenUrl to request a token "
                 "from");
    }
  }
  if (const Node* b = r.Field("basicAuth")) {
    std::string p = r.FieldPath("basicAuth");
    ObjectReader br(ctx, b, p);
    a.basic_auth.username = br.String("username").value_or("");
    a.basic_auth.password = br.String("password").value_or("");
    br.Finish();
    if (!a.basic_auth.username.empty() && a.basic_auth.password.empty()) {
      FieldError(ctx, b, p, "password",
                 "Required value: basicAuth needs both username and password");
    } else if (a.basic_auth.username.empty() && !a.basic_auth.password.empty()) {
      FieldError(ctx, b, p, "username",
                 "Required value: basicAuth needs both username and password");
    }
  }
  r.Finish();
  return a;
}

void RequireString(DecodeContext* ctx, const Node& obj, const std::string& path,
                   std::string_view key, const std::string& value, std::string_view what) {
  if (value.empty()) {
    std::string msg = kRequired;
    if (!what.empty()) msg += ": " + std::string(what);
    FieldError(ctx, &obj, path, key, msg);
  }
}

void CheckNonNegative(DecodeContext* ctx, const Node& obj, const std::string& path,
                      std::string_view key, std::optional<int64_t> v, std::string_view unit) {
  if (v && *v < 0) {
    FieldError(ctx, &obj, path, key,
               "must be >= 0" + std::string(unit) + " (got " + std::to_string(*v) + ")");
  }
}

// ---- Providers ----

PrometheusMetric DecodePrometheus(DecodeContext* ctx, const Node& n, const std::string& path) {
  PrometheusMetric m;
  ObjectReader r(ctx, &n, path);
  m.address = r.String("address").value_or("");
  m.query = r.String("query").value_or("");
  m.authentication =
      DecodeAuthentication(ctx, r.Field("authentication"), r.FieldPath("authentication"));
  m.timeout = r.Int64("timeout");
  m.insecure = r.Bool("insecure").value_or(false);
  m.headers = DecodeHeaders(&r);
  if (const Node* rq = r.Field("rangeQuery")) {
    std::string p = r.FieldPath("rangeQuery");
    ObjectReader qr(ctx, rq, p);
    PrometheusRangeQuery q;
    q.start = qr.String("start").value_or("");
    q.end = qr.String("end").value_or("");
    q.step = ReadDuration(&qr, "step");
    qr.Finish();
    if (qr.valid()) {
      RequireString(ctx, *rq, p, "start", q.start,
                    "an expression such as now() - duration(\"1h\")");
      RequireString(ctx, *rq, p, "end", q.end, "an expression such as now()");
      RequireString(ctx, *rq, p, "step", q.step.text, "a Go duration such as 1m");
    }
    m.range_query = q;
  }
  r.Finish();
  if (!r.valid()) return m;
  RequireString(ctx, n, path, "query", m.query, "the PromQL query to run");
  CheckUrl(ctx, &n, path, "address", m.address, "http://prometheus:9090");
  CheckNonNegative(ctx, n, path, "timeout", m.timeout, " seconds");
  return m;
}

DatadogMetric DecodeDatadog(DecodeContext* ctx, const Node& n, const std::string& path) {
  DatadogMetric m;
  ObjectReader r(ctx, &n, path);
  m.interval = ReadDuration(&r, "interval");
  m.query = r.String("query").value_or("");
  m.queries = r.StringMap("queries");
  m.formula = r.String("formula").value_or("");
  m.api_version = r.String("apiVersion").value_or("");
  m.aggregator = r.String("aggregator").value_or("");
  if (const Node* s = r.Field("secretRef")) {
    std::string p = r.FieldPath("secretRef");
    ObjectReader sr(ctx, s, p);
    m.secret_ref.name = sr.String("name").value_or("");
    m.secret_ref.namespaced = sr.Bool("namespaced").value_or(false);
    sr.Finish();
    if (m.secret_ref.namespaced && m.secret_ref.name.empty()) {
      FieldError(ctx, s, p, "name", "Required value: namespaced credentials need a secret name");
    }
  }
  m.request_timeout = ReadDuration(&r, "requestTimeout");
  r.Finish();
  if (!r.valid()) return m;

  bool version_ok = true;
  if (!m.api_version.empty() && !IsTemplated(m.api_version) && m.api_version != "v1" &&
      m.api_version != "v2") {
    FieldError(ctx, &n, path, "apiVersion",
               "Unsupported value " + Quote(m.api_version) + ": must be v1 or v2");
    version_ok = false;
  }
  static const std::vector<std::string> kAggregators = {
      "avg", "min", "max", "sum", "last", "percentile", "mean", "l2norm", "area"};
  if (!m.aggregator.empty() && !IsTemplated(m.aggregator) &&
      std::find(kAggregators.begin(), kAggregators.end(), m.aggregator) == kAggregators.end()) {
    FieldError(
        ctx, &n, path, "aggregator",
        "Unsupported value " + Quote(m.aggregator) + ": must be one of " + JoinNames(kAggregators));
  }
  bool v1 = m.EffectiveApiVersion() == "v1";
  if (m.query.empty() && m.queries.empty()) {
    FieldError(ctx, &n, path, "query", "Required value: set query, or queries with apiVersion v2");
  } else if (!m.query.empty() && !m.queries.empty()) {
    FieldError(ctx, &n, path, "queries", "set either query or queries, not both");
  } else if (version_ok && v1 && m.query.empty()) {
    FieldError(ctx, &n, path, "queries",
               "queries need apiVersion: v2 (v1, the default, takes only query)");
  }
  if (!m.formula.empty() && m.queries.empty()) {
    FieldError(ctx, &n, path, "formula", "a formula is only valid with queries");
  }
  if (m.formula.empty() && m.queries.size() > 1) {
    FieldError(ctx, &n, path, "formula",
               "Required value: several queries need a formula that combines them");
  }
  if (version_ok && v1 && !m.aggregator.empty()) {
    FieldError(ctx, &n, path, "aggregator", "aggregator is only supported with apiVersion v2");
  }
  if (m.request_timeout.nanos && *m.request_timeout.nanos <= 0) {
    FieldError(
        ctx, &n, path, "requestTimeout",
        "must be a positive duration such as 30s (got " + Quote(m.request_timeout.text) + ")");
  }
  if (m.interval.nanos && *m.interval.nanos <= 0) {
    FieldError(ctx, &n, path, "interval",
               "must be a positive duration such as 5m (got " + Quote(m.interval.text) + ")");
  }
  return m;
}

NewRelicMetric DecodeNewRelic(DecodeContext* ctx, const Node& n, const std::string& path) {
  NewRelicMetric m;
  ObjectReader r(ctx, &n, path);
  m.profile = r.String("profile").value_or("");
  m.query = r.String("query").value_or("");
  m.timeout = r.Int64("timeout");
  r.Finish();
  if (!r.valid()) return m;
  RequireString(ctx, n, path, "query", m.query, "the NRQL query to run");
  CheckNonNegative(ctx, n, path, "timeout", m.timeout, " seconds");
  return m;
}

std::optional<IntOrString> ReadPeriod(ObjectReader* r) { return ReadCountField(r, "period"); }

CloudWatchMetricDataQuery DecodeCloudWatchQuery(DecodeContext* ctx, const Node& n,
                                                const std::string& path) {
  CloudWatchMetricDataQuery q;
  ObjectReader r(ctx, &n, path);
  q.id = r.String("id").value_or("");
  q.expression = r.String("expression");
  q.label = r.String("label");
  if (const Node* ms = r.Field("metricStat")) {
    std::string p = r.FieldPath("metricStat");
    ObjectReader sr(ctx, ms, p);
    CloudWatchMetricStat stat;
    if (const Node* mn = sr.Field("metric")) {
      std::string mp = sr.FieldPath("metric");
      ObjectReader mr(ctx, mn, mp);
      stat.metric.dimensions =
          mr.List("dimensions", [](DecodeContext* c, const Node& dn, const std::string& dp) {
            ObjectReader dr(c, &dn, dp);
            CloudWatchDimension d{dr.String("name").value_or(""), dr.String("value").value_or("")};
            dr.Finish();
            return d;
          });
      stat.metric.metric_name = mr.String("metricName").value_or("");
      stat.metric.namespace_ = mr.String("namespace");
      mr.Finish();
    }
    stat.period = ReadPeriod(&sr);
    stat.stat = sr.String("stat").value_or("");
    stat.unit = sr.String("unit").value_or("");
    sr.Finish();
    q.metric_stat = stat;
  }
  q.period = ReadPeriod(&r);
  q.return_data = r.Bool("returnData");
  r.Finish();
  if (!r.valid()) return q;
  RequireString(ctx, n, path, "id", q.id, "CloudWatch needs an id for every query");
  if (q.expression.has_value() == q.metric_stat.has_value()) {
    FieldError(ctx, &n, path, q.expression ? "metricStat" : "expression",
               "set exactly one of expression or metricStat");
  }
  return q;
}

CloudWatchMetric DecodeCloudWatch(DecodeContext* ctx, const Node& n, const std::string& path) {
  CloudWatchMetric m;
  ObjectReader r(ctx, &n, path);
  m.interval = ReadDuration(&r, "interval");
  m.metric_data_queries = r.List("metricDataQueries", DecodeCloudWatchQuery);
  r.Finish();
  if (r.valid() && m.metric_data_queries.empty()) {
    FieldError(ctx, &n, path, "metricDataQueries", "Required value: at least one query");
  }
  return m;
}

WavefrontMetric DecodeWavefront(DecodeContext* ctx, const Node& n, const std::string& path) {
  WavefrontMetric m;
  ObjectReader r(ctx, &n, path);
  m.address = r.String("address").value_or("");
  m.query = r.String("query").value_or("");
  r.Finish();
  if (!r.valid()) return m;
  RequireString(ctx, n, path, "query", m.query, "the Wavefront query to run");
  RequireString(ctx, n, path, "address", m.address,
                "the Wavefront host (its API token is looked up by this address)");
  return m;
}

GraphiteMetric DecodeGraphite(DecodeContext* ctx, const Node& n, const std::string& path) {
  GraphiteMetric m;
  ObjectReader r(ctx, &n, path);
  m.address = r.String("address").value_or("");
  m.query = r.String("query").value_or("");
  r.Finish();
  if (!r.valid()) return m;
  RequireString(ctx, n, path, "query", m.query,
                "the render parameters, e.g. target=...&from=-5min");
  RequireString(ctx, n, path, "address", m.address, "the Graphite URL, e.g. http://graphite:8080");
  CheckUrl(ctx, &n, path, "address", m.address, "http://graphite:8080");
  return m;
}

InfluxdbMetric DecodeInfluxdb(DecodeContext* ctx, const Node& n, const std::string& path) {
  InfluxdbMetric m;
  ObjectReader r(ctx, &n, path);
  m.profile = r.String("profile").value_or("");
  m.query = r.String("query").value_or("");
  r.Finish();
  if (r.valid()) RequireString(ctx, n, path, "query", m.query, "the Flux query to run");
  return m;
}

SkyWalkingMetric DecodeSkyWalking(DecodeContext* ctx, const Node& n, const std::string& path) {
  SkyWalkingMetric m;
  ObjectReader r(ctx, &n, path);
  m.address = r.String("address").value_or("");
  m.query = r.String("query").value_or("");
  m.interval = ReadDuration(&r, "interval");
  r.Finish();
  if (!r.valid()) return m;
  RequireString(ctx, n, path, "query", m.query, "the GraphQL query to run");
  RequireString(ctx, n, path, "address", m.address, "the SkyWalking OAP URL");
  CheckUrl(ctx, &n, path, "address", m.address, "http://skywalking-oap:12800");
  RequireString(ctx, n, path, "interval", m.interval.text, "the query window, e.g. 5m");
  return m;
}

WebMetric DecodeWeb(DecodeContext* ctx, const Node& n, const std::string& path) {
  WebMetric m;
  ObjectReader r(ctx, &n, path);
  m.method = r.String("method").value_or("");
  m.url = r.String("url").value_or("");
  m.headers = DecodeHeaders(&r);
  m.body = r.String("body").value_or("");
  m.timeout_seconds = r.Int64("timeoutSeconds").value_or(0);
  m.json_path = r.String("jsonPath").value_or("");
  m.insecure = r.Bool("insecure").value_or(false);
  m.json_body = r.Json("jsonBody");
  m.authentication =
      DecodeAuthentication(ctx, r.Field("authentication"), r.FieldPath("authentication"));
  r.Finish();
  if (!r.valid()) return m;
  RequireString(ctx, n, path, "url", m.url, "the URL to query");
  CheckUrl(ctx, &n, path, "url", m.url, "http://service:8080/metrics");
  bool method_ok = true;
  if (!m.method.empty() && !IsTemplated(m.method) && m.method != "GET" && m.method != "POST" &&
      m.method != "PUT") {
    FieldError(ctx, &n, path, "method",
               "Unsupported value " + Quote(m.method) + ": must be GET, POST or PUT");
    method_ok = false;
  }
  if (!m.body.empty() && m.json_body) {
    FieldError(ctx, &n, path, "jsonBody", "use either body or jsonBody, not both");
  } else if (method_ok && m.EffectiveMethod() == "GET" && (!m.body.empty() || m.json_body)) {
    FieldError(ctx, &n, path, m.json_body ? "jsonBody" : "body",
               "a request body needs method POST or PUT (the method is GET)");
  }
  CheckNonNegative(ctx, n, path, "timeoutSeconds", m.timeout_seconds, "");
  return m;
}

KayentaScopeDetail DecodeScopeDetail(DecodeContext* ctx, const Node* n, const std::string& path) {
  KayentaScopeDetail d;
  ObjectReader r(ctx, n, path);
  d.scope = r.String("scope").value_or("");
  d.region = r.String("region").value_or("");
  auto step = r.Int64("step");
  d.step = step.value_or(0);
  d.start = r.String("start").value_or("");
  d.end = r.String("end").value_or("");
  r.Finish();
  if (n != nullptr && r.valid()) {
    RequireString(ctx, *n, path, "scope", d.scope, "");
    RequireString(ctx, *n, path, "region", d.region, "");
    if (!r.Has("step")) FieldError(ctx, n, path, "step", kRequired);
  }
  return d;
}

KayentaMetric DecodeKayenta(DecodeContext* ctx, const Node& n, const std::string& path) {
  KayentaMetric m;
  ObjectReader r(ctx, &n, path);
  m.address = r.String("address").value_or("");
  m.application = r.String("application").value_or("");
  m.canary_config_name = r.String("canaryConfigName").value_or("");
  m.metrics_account_name = r.String("metricsAccountName").value_or("");
  m.configuration_account_name = r.String("configurationAccountName").value_or("");
  m.storage_account_name = r.String("storageAccountName").value_or("");
  const Node* th = r.Field("threshold");
  if (th != nullptr) {
    std::string p = r.FieldPath("threshold");
    ObjectReader tr(ctx, th, p);
    auto pass = tr.Int64("pass");
    auto marginal = tr.Int64("marginal");
    tr.Finish();
    m.threshold = KayentaThreshold{pass.value_or(0), marginal.value_or(0)};
    if (tr.valid() && !tr.Has("pass")) FieldError(ctx, th, p, "pass", kRequired);
    if (tr.valid() && !tr.Has("marginal")) FieldError(ctx, th, p, "marginal", kRequired);
  }
  m.scopes = r.List("scopes", [](DecodeContext* c, const Node& sn, const std::string& sp) {
    KayentaScope s;
    ObjectReader sr(c, &sn, sp);
    s.name = sr.String("name").value_or("");
    const Node* control = sr.Field("controlScope");
    const Node* experiment = sr.Field("experimentScope");
    s.control_scope = DecodeScopeDetail(c, control, sr.FieldPath("controlScope"));
    s.experiment_scope = DecodeScopeDetail(c, experiment, sr.FieldPath("experimentScope"));
    sr.Finish();
    if (!sr.valid()) return s;
    RequireString(c, sn, sp, "name", s.name, "");
    if (control == nullptr) FieldError(c, &sn, sp, "controlScope", kRequired);
    if (experiment == nullptr) FieldError(c, &sn, sp, "experimentScope", kRequired);
    if (control != nullptr && experiment != nullptr) {
      if (s.control_scope.start.empty() != s.experiment_scope.start.empty()) {
        FieldError(
            c, &sn, sp, "experimentScope",
            "controlScope.start and experimentScope.start must both be set or both be empty");
      }
      if (s.control_scope.end.empty() != s.experiment_scope.end.empty()) {
        FieldError(c, &sn, sp, "experimentScope",
                   "controlScope.end and experimentScope.end must both be set or both be empty");
      }
    }
    return s;
  });
  m.lookback = r.Bool("lookback").value_or(false);
  r.Finish();
  if (!r.valid()) return m;
  RequireString(ctx, n, path, "address", m.address, "the Kayenta URL");
  CheckUrl(ctx, &n, path, "address", m.address, "http://kayenta:8090");
  RequireString(ctx, n, path, "application", m.application, "");
  RequireString(ctx, n, path, "canaryConfigName", m.canary_config_name, "");
  RequireString(ctx, n, path, "metricsAccountName", m.metrics_account_name, "");
  RequireString(ctx, n, path, "configurationAccountName", m.configuration_account_name, "");
  RequireString(ctx, n, path, "storageAccountName", m.storage_account_name, "");
  if (th == nullptr) FieldError(ctx, &n, path, "threshold", kRequired);
  if (m.scopes.empty()) FieldError(ctx, &n, path, "scopes", "Required value: at least one scope");
  return m;
}

JobMetric DecodeJob(DecodeContext* ctx, const Node& n, const std::string& path) {
  JobMetric m;
  ObjectReader r(ctx, &n, path);
  m.metadata = DecodeObjectMeta(ctx, r.Field("metadata"), r.FieldPath("metadata"));
  const Node* spec = r.Field("spec");
  std::string sp = r.FieldPath("spec");
  r.Finish();
  if (!r.valid()) return m;
  if (spec == nullptr) {
    FieldError(ctx, &n, path, "spec", "Required value: the JobSpec to run");
    return m;
  }
  m.spec = ToJson(*spec);
  ObjectReader sr(ctx, spec, sp, Mode::kLenient);
  if (!sr.valid()) return m;
  m.active_deadline_seconds = sr.Int64("activeDeadlineSeconds");
  m.backoff_limit = sr.Int32("backoffLimit");
  CheckNonNegative(ctx, *spec, sp, "backoffLimit", m.backoff_limit, "");
  if (m.active_deadline_seconds && *m.active_deadline_seconds <= 0) {
    FieldError(ctx, spec, sp, "activeDeadlineSeconds",
               "must be > 0 (got " + std::to_string(*m.active_deadline_seconds) + ")");
  }
  const Node* tmpl = sr.Field("template");
  if (tmpl == nullptr) {
    FieldError(ctx, spec, sp, "template", "Required value: the pod template of the Job");
    return m;
  }
  m.container = CheckPodTemplate(ctx, *tmpl, sr.FieldPath("template"), PodOwner::kJob, nullptr);
  return m;
}

std::map<std::string, nlohmann::json> DecodePlugins(DecodeContext* ctx, const Node& n,
                                                    const std::string& path) {
  std::map<std::string, nlohmann::json> out;
  if (!n.IsMap()) {
    ctx->Error(n.mark, path,
               "expected a map of plugin name to configuration, got " + std::string(n.TypeName()));
    return out;
  }
  for (const auto& e : n.entries) {
    std::string p = KeyPath(path, e.key);
    ctx->Record(p, e.key_mark);
    if (IsRampPluginName(e.key)) ValidateRampMetricPlugin(ctx, e.key, e.value, p);
    out[e.key] = ToJson(e.value);
  }
  return out;
}

MetricProvider DecodeProvider(DecodeContext* ctx, const Node* n, const std::string& path) {
  MetricProvider p;
  ObjectReader r(ctx, n, path);
  auto decode = [&](std::string_view key, auto fn, auto* out) {
    if (const Node* f = r.Field(key)) *out = fn(ctx, *f, r.FieldPath(key));
  };
  decode("prometheus", DecodePrometheus, &p.prometheus);
  decode("datadog", DecodeDatadog, &p.datadog);
  decode("newRelic", DecodeNewRelic, &p.new_relic);
  decode("cloudWatch", DecodeCloudWatch, &p.cloud_watch);
  decode("wavefront", DecodeWavefront, &p.wavefront);
  decode("graphite", DecodeGraphite, &p.graphite);
  decode("influxdb", DecodeInfluxdb, &p.influxdb);
  decode("skywalking", DecodeSkyWalking, &p.skywalking);
  decode("web", DecodeWeb, &p.web);
  decode("kayenta", DecodeKayenta, &p.kayenta);
  decode("job", DecodeJob, &p.job);
  if (const Node* pl = r.Field("plugin")) p.plugin = DecodePlugins(ctx, *pl, r.FieldPath("plugin"));
  r.Finish();
  return p;
}

// Argo's ValidateMetric, with each rule reported at the field it concerns.
void ValidateMetricRules(DecodeContext* ctx, const Metric& m, const Node& node,
                         const std::string& path, bool check_provider) {
  if (m.name.empty()) FieldError(ctx, &node, path, "name", kRequired);

  Limit count = ToLimit(m.count);
  Limit failure = ToLimit(m.failure_limit);
  Limit inconclusive = ToLimit(m.inconclusive_limit);
  Limit consecutive_error = ToLimit(m.consecutive_error_limit);
  Limit consecutive_success = ToLimit(m.consecutive_success_limit);
  auto num = [](int32_t v) { return std::to_string(v); };

  bool limits_ok = true;
  if (consecutive_success.Or(0) < 0) {
    FieldError(ctx, &node, path, "consecutiveSuccessLimit",
               "must be >= 0 (got " + num(*consecutive_success.value) + ")");
    limits_ok = false;
  }
  if (failure.Or(0) < -1) {
    FieldError(ctx, &node, path, "failureLimit",
               "must be >= 0, or -1 to disable it (got " + num(*failure.value) + ")");
    limits_ok = false;
  }
  if (!failure.unknown && !consecutive_success.unknown && failure.Or(0) == -1 &&
      consecutive_success.Or(0) == 0) {
    FieldError(ctx, &node, path, "failureLimit",
               "failureLimit and consecutiveSuccessLimit cannot both be disabled: "
               "failureLimit -1 needs a consecutiveSuccessLimit > 0");
    limits_ok = false;
  }
  if (inconclusive.Or(0) < 0) {
    FieldError(ctx, &node, path, "inconclusiveLimit",
               "must be >= 0 (got " + num(*inconclusive.value) + ")");
    limits_ok = false;
  }
  if (consecutive_error.Or(0) < 0) {
    FieldError(ctx, &node, path, "consecutiveErrorLimit",
               "must be >= 0 (got " + num(*consecutive_error.value) + ")");
  }
  if (count.Or(0) < 0) {
    FieldError(ctx, &node, path, "count", "must be >= 0 (got " + num(*count.value) + ")");
  }

  int32_t c = count.Or(0);
  if (!count.unknown && c > 0 && limits_ok) {
    int32_t fl = failure.Or(0);
    int32_t csl = consecutive_success.Or(0);
    if (!failure.unknown && !consecutive_success.unknown) {
      if (fl >= 0 && csl >= 0 && c < fl + csl) {
        FieldError(ctx, &node, path, "count",
                   "count (" + num(c) + ") must be >= failureLimit + consecutiveSuccessLimit (" +
                       num(fl) + " + " + num(csl) + ")");
      } else if (fl < 0 && csl >= 0 && c < csl) {
        FieldError(ctx, &node, path, "count",
                   "count (" + num(c) + ") must be >= consecutiveSuccessLimit (" + num(csl) + ")");
      }
    }
    if (!inconclusive.unknown && c < inconclusive.Or(0)) {
      FieldError(
          ctx, &node, path, "count",
          "count (" + num(c) + ") must be >= inconclusiveLimit (" + num(inconclusive.Or(0)) + ")");
    }
  }
  if (!count.unknown && c > 1 && m.interval.empty()) {
    FieldError(ctx, &node, path, "count",
               "interval must be specified when count > 1 (count is " + num(c) + ")");
  }

  std::vector<ProviderKind> kinds = m.provider.Kinds();
  if (!check_provider) return;
  if (kinds.empty()) {
    FieldError(ctx, &node, path, "provider",
               "no provider specified: set one of prometheus, datadog, newRelic, cloudWatch, "
               "wavefront, graphite, influxdb, skywalking, web, kayenta, job or plugin");
  } else if (kinds.size() > 1) {
    std::vector<std::string> names;
    for (ProviderKind k : kinds) {
      if (k == ProviderKind::kPlugin) continue;
      names.emplace_back(ProviderFieldName(k));
    }
    for (const auto& [name, config] : m.provider.plugin) names.push_back("plugin " + Quote(name));
    FieldError(
        ctx, &node, path, "provider",
        "multiple providers specified (" + JoinNames(names) + "): a metric uses exactly one");
  }
}

// Unique names in a list: reports every repeat at its item's `key`.
template <typename T, typename GetName>
void CheckUniqueNames(DecodeContext* ctx, const Node* list, const std::string& list_path,
                      const std::vector<T>& items, GetName get, std::string_view what) {
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& name = get(items[i]);
    if (name.empty()) continue;
    auto [it, inserted] = seen.emplace(name, i);
    if (inserted) continue;
    const Node* item = list != nullptr && i < list->items.size() ? &list->items[i] : nullptr;
    FieldError(ctx, item, IndexPath(list_path, i), "name",
               "Duplicate value: " + std::string(what) + " " + Quote(name) +
                   " is already defined at " + IndexPath(list_path, it->second));
  }
}

enum class RuleMatch { kIgnore, kWarn, kError };

// dryRun / measurementRetention metricName rules: each must compile, and (when `match` asks)
// match at least one of `metrics`.
template <typename Rule>
void CheckMetricNameRules(DecodeContext* ctx, const Node* list, const std::string& list_path,
                          const std::vector<Rule>& rules, const std::vector<Metric>& metrics,
                          RuleMatch match) {
  for (size_t i = 0; i < rules.size(); ++i) {
    const std::string& rule = rules[i].metric_name;
    if (rule.empty()) continue;
    const Node* item = list != nullptr && i < list->items.size() ? &list->items[i] : nullptr;
    std::string ip = IndexPath(list_path, i);
    RE2::Options options;
    options.set_log_errors(false);
    RE2 re(rule, options);
    if (!re.ok()) {
      FieldError(ctx, item, ip, "metricName",
                 "invalid regular expression " + Quote(rule) + ": " + re.error());
      continue;
    }
    if (match == RuleMatch::kIgnore) continue;
    bool any = std::any_of(metrics.begin(), metrics.end(),
                           [&](const Metric& m) { return RE2::PartialMatch(m.name, re); });
    if (any) continue;
    std::string msg = "rule " + Quote(rule) + " didn't match any metric name(s)";
    if (match == RuleMatch::kError) {
      FieldError(ctx, item, ip, "metricName", msg);
    } else {
      FieldWarning(ctx, item, ip, "metricName",
                   msg +
                       " of this template (an error when the run is created unless another "
                       "template supplies a matching metric)");
    }
  }
}

std::vector<Argument> DecodeArgs(ObjectReader* r) {
  return r->List("args", [](DecodeContext* c, const Node& n, const std::string& p) {
    return DecodeArgument(c, n, p, /*rollout_arg=*/false);
  });
}

void CheckArgs(DecodeContext* ctx, const Node* spec, const std::string& spec_path,
               const std::vector<Argument>& args) {
  CheckUniqueNames(
      ctx, ListField(spec, "args"), ChildPath(spec_path, "args"), args,
      [](const Argument& a) -> const std::string& { return a.name; }, "argument");
}

void CheckMetrics(DecodeContext* ctx, const Node* spec, const std::string& spec_path,
                  const std::vector<Metric>& metrics) {
  CheckUniqueNames(
      ctx, ListField(spec, "metrics"), ChildPath(spec_path, "metrics"), metrics,
      [](const Metric& m) -> const std::string& { return m.name; }, "metric");
}

void RequireNamed(DecodeContext* ctx, const Node& root, const ObjectMeta& meta) {
  if (meta.name.empty() && meta.generate_name.empty()) {
    const Node* md = root.Find("metadata");
    ctx->Error(md != nullptr ? md->mark : root.KeyMark("metadata"), "metadata.name",
               "Required value: name or generateName is required");
  }
}

AnalysisTemplateSpec DecodeTemplateSpec(DecodeContext* ctx, const Node* n,
                                        const std::string& path) {
  AnalysisTemplateSpec s;
  ObjectReader r(ctx, n, path);
  s.metrics = r.List("metrics", DecodeMetric);
  s.args = DecodeArgs(&r);
  s.dry_run = r.List("dryRun", DecodeDryRun);
  s.measurement_retention = r.List("measurementRetention", DecodeMeasurementRetention);
  s.templates = r.List("templates", DecodeAnalysisTemplateRef);
  r.Finish();
  if (!r.valid()) return s;
  if (s.metrics.empty() && s.templates.empty()) {
    FieldError(ctx, n, path, "metrics",
               "Required value: no metrics specified (a template needs at least one metric or "
               "nested template)");
  }
  CheckMetrics(ctx, n, path, s.metrics);
  CheckArgs(ctx, n, path, s.args);
  for (size_t i = 0; i < s.args.size(); ++i) {
    const auto& a = s.args[i];
    if (a.value_from && a.value_from->field_ref) {
      const Node* list = ListField(n, "args");
      FieldWarning(ctx, list != nullptr ? &list->items[i] : nullptr,
                   IndexPath(ChildPath(path, "args"), i), "valueFrom",
                   "a fieldRef in a template argument is not resolved by the analysis "
                   "controller; pass the value from the Rollout's analysis args");
    }
  }
  // Only a template without nested templates knows all the metrics of its runs; even then a
  // Rollout may combine it with other templates, so a rule matching nothing is a warning here.
  RuleMatch match = s.templates.empty() ? RuleMatch::kWarn : RuleMatch::kIgnore;
  CheckMetricNameRules(ctx, ListField(n, "dryRun"), ChildPath(path, "dryRun"), s.dry_run, s.metrics,
                       match);
  CheckMetricNameRules(ctx, ListField(n, "measurementRetention"),
                       ChildPath(path, "measurementRetention"), s.measurement_retention, s.metrics,
                       match);
  return s;
}

AnalysisTemplate DecodeTemplateDocument(DecodeContext* ctx, const Node& root, std::string_view kind,
                                        bool cluster) {
  AnalysisTemplate t;
  t.cluster_scoped = cluster;
  ObjectReader r(ctx, &root, "");
  CheckTypeMeta(&r, kind);
  t.metadata = DecodeObjectMeta(ctx, r.Field("metadata"), "metadata");
  const Node* spec = r.Field("spec");
  // The CRDs declare no status subresource: the API server drops a status, and so does ramp.
  r.Field("status");
  r.Finish();
  if (!r.valid()) return t;
  RequireNamed(ctx, root, t.metadata);
  if (spec == nullptr) {
    ctx->Error(root.mark, "spec", kRequired);
    return t;
  }
  t.spec = DecodeTemplateSpec(ctx, spec, "spec");
  return t;
}

// ---- AnalysisRun status ----

AnalysisPhase ReadPhase(ObjectReader* r, std::string_view key) {
  auto s = r->String(key);
  if (!s) return AnalysisPhase::kNone;
  auto p = ParseAnalysisPhase(*s);
  if (!p) {
    r->ctx()->Error(r->FieldMark(key), r->FieldPath(key),
                    "Unsupported value " + Quote(*s) +
                        ": must be one of Pending, Running, Successful, Failed, Error, "
                        "Inconclusive");
    return AnalysisPhase::kNone;
  }
  return *p;
}

std::optional<MetaTime> ReadTime(ObjectReader* r, std::string_view key) {
  const Node* n = r->Field(key);
  if (n == nullptr) return std::nullopt;
  auto s = ReadString(r->ctx(), *n, r->FieldPath(key));
  if (!s) return std::nullopt;
  auto t = ParseMetaTime(*s);
  if (!t) {
    r->ctx()->Error(
        n->mark, r->FieldPath(key),
        "invalid time " + Quote(*s) + ": expected RFC 3339 such as 2024-05-01T10:00:00Z");
    return std::nullopt;
  }
  return MetaTime{*s, *t};
}

RunSummary DecodeRunSummary(DecodeContext* ctx, const Node* n, const std::string& path) {
  RunSummary s;
  ObjectReader r(ctx, n, path);
  s.count = r.Int32("count").value_or(0);
  s.successful = r.Int32("successful").value_or(0);
  s.failed = r.Int32("failed").value_or(0);
  s.inconclusive = r.Int32("inconclusive").value_or(0);
  s.error = r.Int32("error").value_or(0);
  r.Finish();
  return s;
}

Measurement DecodeMeasurement(DecodeContext* ctx, const Node& n, const std::string& path) {
  Measurement m;
  ObjectReader r(ctx, &n, path);
  m.phase = ReadPhase(&r, "phase");
  m.message = r.String("message").value_or("");
  m.started_at = ReadTime(&r, "startedAt");
  m.finished_at = ReadTime(&r, "finishedAt");
  m.value = r.String("value").value_or("");
  m.metadata = r.StringMap("metadata");
  m.resume_at = ReadTime(&r, "resumeAt");
  r.Finish();
  return m;
}

MetricResult DecodeMetricResult(DecodeContext* ctx, const Node& n, const std::string& path) {
  MetricResult m;
  ObjectReader r(ctx, &n, path);
  m.name = r.String("name").value_or("");
  m.phase = ReadPhase(&r, "phase");
  m.measurements = r.List("measurements", DecodeMeasurement);
  m.message = r.String("message").value_or("");
  m.count = r.Int32("count").value_or(0);
  m.successful = r.Int32("successful").value_or(0);
  m.failed = r.Int32("failed").value_or(0);
  m.inconclusive = r.Int32("inconclusive").value_or(0);
  m.error = r.Int32("error").value_or(0);
  m.consecutive_error = r.Int32("consecutiveError").value_or(0);
  m.dry_run = r.Bool("dryRun").value_or(false);
  m.metadata = r.StringMap("metadata");
  m.consecutive_success = r.Int32("consecutiveSuccess").value_or(0);
  r.Finish();
  if (r.valid()) RequireString(ctx, n, path, "name", m.name, "");
  return m;
}

AnalysisRunStatus DecodeRunStatus(DecodeContext* ctx, const Node* n, const std::string& path) {
  AnalysisRunStatus s;
  ObjectReader r(ctx, n, path);
  s.phase = ReadPhase(&r, "phase");
  s.message = r.String("message").value_or("");
  s.metric_results = r.List("metricResults", DecodeMetricResult);
  s.started_at = ReadTime(&r, "startedAt");
  s.run_summary = DecodeRunSummary(ctx, r.Field("runSummary"), r.FieldPath("runSummary"));
  if (const Node* d = r.Field("dryRunSummary")) {
    s.dry_run_summary = DecodeRunSummary(ctx, d, r.FieldPath("dryRunSummary"));
  }
  s.completed_at = ReadTime(&r, "completedAt");
  r.Finish();
  CheckUniqueNames(
      ctx, ListField(n, "metricResults"), ChildPath(path, "metricResults"), s.metric_results,
      [](const MetricResult& m) -> const std::string& { return m.name; }, "metric result");
  return s;
}

AnalysisRunSpec DecodeRunSpec(DecodeContext* ctx, const Node* n, const std::string& path) {
  AnalysisRunSpec s;
  ObjectReader r(ctx, n, path);
  s.metrics = r.List("metrics", DecodeMetric);
  s.args = DecodeArgs(&r);
  s.terminate = r.Bool("terminate").value_or(false);
  s.dry_run = r.List("dryRun", DecodeDryRun);
  s.measurement_retention = r.List("measurementRetention", DecodeMeasurementRetention);
  if (const Node* t = r.Field("ttlStrategy")) {
    std::string p = r.FieldPath("ttlStrategy");
    ObjectReader tr(ctx, t, p);
    TtlStrategy ttl;
    ttl.seconds_after_completion = tr.Int32("secondsAfterCompletion");
    ttl.seconds_after_failure = tr.Int32("secondsAfterFailure");
    ttl.seconds_after_success = tr.Int32("secondsAfterSuccess");
    tr.Finish();
    CheckNonNegative(ctx, *t, p, "secondsAfterCompletion", ttl.seconds_after_completion, "");
    CheckNonNegative(ctx, *t, p, "secondsAfterFailure", ttl.seconds_after_failure, "");
    CheckNonNegative(ctx, *t, p, "secondsAfterSuccess", ttl.seconds_after_success, "");
    s.ttl_strategy = ttl;
  }
  r.Finish();
  if (!r.valid()) return s;
  if (s.metrics.empty()) {
    FieldError(ctx, n, path, "metrics", "Required value: no metrics specified");
  }
  CheckMetrics(ctx, n, path, s.metrics);
  CheckArgs(ctx, n, path, s.args);
  // A run holds all of its metrics: a rule that matches none of them fails the run.
  CheckMetricNameRules(ctx, ListField(n, "dryRun"), ChildPath(path, "dryRun"), s.dry_run, s.metrics,
                       RuleMatch::kError);
  CheckMetricNameRules(ctx, ListField(n, "measurementRetention"),
                       ChildPath(path, "measurementRetention"), s.measurement_retention, s.metrics,
                       RuleMatch::kError);
  return s;
}

// ---- Experiment ----

bool SelectorMatches(const LabelSelector& s, const std::map<std::string, std::string>& labels) {
  for (const auto& [k, v] : s.match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const auto& req : s.match_expressions) {
    auto it = labels.find(req.key);
    bool has = it != labels.end();
    bool in =
        has && std::find(req.values.begin(), req.values.end(), it->second) != req.values.end();
    if ((req.op == "In" && !in) || (req.op == "NotIn" && in) || (req.op == "Exists" && !has) ||
        (req.op == "DoesNotExist" && has)) {
      return false;
    }
  }
  return true;
}

ExperimentTemplate DecodeExperimentTemplate(DecodeContext* ctx, const Node& n,
                                            const std::string& path) {
  ExperimentTemplate t;
  ObjectReader r(ctx, &n, path);
  t.name = r.String("name").value_or("");
  t.replicas = r.Int32("replicas");
  t.min_ready_seconds = r.Int32("minReadySeconds").value_or(0);
  const Node* sel = r.Field("selector");
  if (sel != nullptr) t.selector = DecodeLabelSelector(ctx, sel, r.FieldPath("selector"));
  const Node* tmpl = r.Field("template");
  if (tmpl != nullptr) {
    t.pod_template = ToJson(*tmpl);
    t.container = CheckPodTemplate(ctx, *tmpl, r.FieldPath("template"), PodOwner::kReplicaSet,
                                   &t.pod_metadata);
  }
  if (const Node* svc = r.Field("service")) {
    ObjectReader sr(ctx, svc, r.FieldPath("service"));
    t.service = ExperimentTemplateService{sr.String("name").value_or("")};
    sr.Finish();
  }
  r.Finish();
  if (!r.valid()) return t;
  RequireString(ctx, n, path, "name", t.name, "");
  if (t.replicas && *t.replicas < 0) {
    FieldError(ctx, &n, path, "replicas", "must be >= 0 (got " + std::to_string(*t.replicas) + ")");
  }
  CheckNonNegative(ctx, n, path, "minReadySeconds", t.min_ready_seconds, "");
  if (sel == nullptr) {
    FieldError(ctx, &n, path, "selector",
               "Required value: a label selector for the template's pods");
  } else if (t.selector.empty()) {
    FieldError(ctx, &n, path, "selector", "selects all pods: a non-empty selector is required");
  } else if (tmpl != nullptr && !SelectorMatches(t.selector, t.pod_metadata.labels)) {
    FieldError(ctx, &n, path, "selector", "Invalid value: selector does not match template labels");
  }
  if (tmpl == nullptr) FieldError(ctx, &n, path, "template", "Required value: a pod template");
  return t;
}

ExperimentAnalysisTemplateRef DecodeExperimentAnalysis(DecodeContext* ctx, const Node& n,
                                                       const std::string& path) {
  ExperimentAnalysisTemplateRef a;
  ObjectReader r(ctx, &n, path);
  a.name = r.String("name").value_or("");
  a.template_name = r.String("templateName").value_or("");
  a.cluster_scope = r.Bool("clusterScope").value_or(false);
  a.args = DecodeArgs(&r);
  a.required_for_completion = r.Bool("requiredForCompletion").value_or(false);
  r.Finish();
  if (!r.valid()) return a;
  RequireString(ctx, n, path, "name", a.name, "");
  RequireString(ctx, n, path, "templateName", a.template_name, "");
  CheckArgs(ctx, &n, path, a.args);
  return a;
}

ExperimentStatus DecodeExperimentStatus(DecodeContext* ctx, const Node* n,
                                        const std::string& path) {
  ExperimentStatus s;
  ObjectReader r(ctx, n, path);
  s.phase = ReadPhase(&r, "phase");
  s.message = r.String("message").value_or("");
  s.template_statuses = r.List("templateStatuses", [](DecodeContext* c, const Node& tn,
                                                      const std::string& tp) {
    ExperimentTemplateStatus t;
    ObjectReader tr(c, &tn, tp);
    t.name = tr.String("name").value_or("");
    t.replicas = tr.Int32("replicas").value_or(0);
    t.updated_replicas = tr.Int32("updatedReplicas").value_or(0);
    t.ready_replicas = tr.Int32("readyReplicas").value_or(0);
    t.available_replicas = tr.Int32("availableReplicas").value_or(0);
    t.collision_count = tr.Int32("collisionCount");
    t.status = tr.String("status").value_or("");
    t.message = tr.String("message").value_or("");
    t.last_transition_time = ReadTime(&tr, "lastTransitionTime");
    t.service_name = tr.String("serviceName").value_or("");
    t.pod_template_hash = tr.String("podTemplateHash").value_or("");
    tr.Finish();
    static const std::vector<std::string> kCodes = {"Progressing", "Running", "Successful",
                                                    "Failed", "Error"};
    if (!t.status.empty() && std::find(kCodes.begin(), kCodes.end(), t.status) == kCodes.end()) {
      FieldError(c, &tn, tp, "status",
                 "Unsupported value " + Quote(t.status) + ": must be one of " + JoinNames(kCodes));
    }
    return t;
  });
  s.available_at = ReadTime(&r, "availableAt");
  s.conditions = r.List("conditions", [](DecodeContext* c, const Node& cn, const std::string& cp) {
    ExperimentCondition cond;
    ObjectReader cr(c, &cn, cp);
    cond.type = cr.String("type").value_or("");
    cond.status = cr.String("status").value_or("");
    cond.last_update_time = ReadTime(&cr, "lastUpdateTime");
    cond.last_transition_time = ReadTime(&cr, "lastTransitionTime");
    cond.reason = cr.String("reason").value_or("");
    cond.message = cr.String("message").value_or("");
    cr.Finish();
    if (!cond.status.empty() && cond.status != "True" && cond.status != "False" &&
        cond.status != "Unknown") {
      FieldError(c, &cn, cp, "status",
                 "Unsupported value " + Quote(cond.status) + ": must be True, False or Unknown");
    }
    return cond;
  });
  s.analysis_runs =
      r.List("analysisRuns", [](DecodeContext* c, const Node& an, const std::string& ap) {
        ExperimentAnalysisRunStatus a;
        ObjectReader ar(c, &an, ap);
        a.name = ar.String("name").value_or("");
        a.analysis_run = ar.String("analysisRun").value_or("");
        a.phase = ReadPhase(&ar, "phase");
        a.message = ar.String("message").value_or("");
        ar.Finish();
        return a;
      });
  r.Finish();
  return s;
}

ExperimentSpec DecodeExperimentSpec(DecodeContext* ctx, const Node* n, const std::string& path) {
  ExperimentSpec s;
  ObjectReader r(ctx, n, path);
  s.templates = r.List("templates", DecodeExperimentTemplate);
  s.duration = ReadDuration(&r, "duration");
  s.progress_deadline_seconds = r.Int32("progressDeadlineSeconds");
  s.terminate = r.Bool("terminate").value_or(false);
  s.analyses = r.List("analyses", DecodeExperimentAnalysis);
  s.scale_down_delay_seconds = r.Int32("scaleDownDelaySeconds");
  s.dry_run = r.List("dryRun", DecodeDryRun);
  s.measurement_retention = r.List("measurementRetention", DecodeMeasurementRetention);
  s.analysis_run_metadata =
      DecodePodMetadata(ctx, r.Field("analysisRunMetadata"), r.FieldPath("analysisRunMetadata"));
  r.Finish();
  if (!r.valid()) return s;

  if (s.templates.empty()) {
    FieldError(ctx, n, path, "templates", "Required value: at least one template");
  }
  const Node* tlist = ListField(n, "templates");
  CheckUniqueNames(
      ctx, tlist, ChildPath(path, "templates"), s.templates,
      [](const ExperimentTemplate& t) -> const std::string& { return t.name; }, "template name");
  int32_t deadline = s.EffectiveProgressDeadlineSeconds();
  for (size_t i = 0; i < s.templates.size() && tlist != nullptr; ++i) {
    if (s.templates[i].min_ready_seconds > deadline) {
      FieldError(
          ctx, &tlist->items[i], IndexPath(ChildPath(path, "templates"), i), "minReadySeconds",
          "minReadySeconds (" + std::to_string(s.templates[i].min_ready_seconds) +
              ") cannot be longer than progressDeadlineSeconds (" + std::to_string(deadline) + ")");
    }
  }
  CheckUniqueNames(
      ctx, ListField(n, "analyses"), ChildPath(path, "analyses"), s.analyses,
      [](const ExperimentAnalysisTemplateRef& a) -> const std::string& { return a.name; },
      "analysis");
  CheckNonNegative(ctx, *n, path, "progressDeadlineSeconds", s.progress_deadline_seconds, "");
  CheckNonNegative(ctx, *n, path, "scaleDownDelaySeconds", s.scale_down_delay_seconds, "");
  if (s.duration.nanos && *s.duration.nanos < 0) {
    FieldError(ctx, n, path, "duration",
               "must not be negative (got " + Quote(s.duration.text) + ")");
  }
  // The analyses' metrics live in their templates, so only the expressions are checked here.
  CheckMetricNameRules(ctx, ListField(n, "dryRun"), ChildPath(path, "dryRun"), s.dry_run,
                       std::vector<Metric>{}, RuleMatch::kIgnore);
  CheckMetricNameRules(ctx, ListField(n, "measurementRetention"),
                       ChildPath(path, "measurementRetention"), s.measurement_retention,
                       std::vector<Metric>{}, RuleMatch::kIgnore);
  return s;
}

}  // namespace

Metric DecodeMetric(DecodeContext* ctx, const Node& node, const std::string& path) {
  Metric m;
  ObjectReader r(ctx, &node, path);
  m.name = r.String("name").value_or("");
  m.interval = ReadDuration(&r, "interval");
  m.initial_delay = ReadDuration(&r, "initialDelay");
  m.count = ReadCountField(&r, "count");
  m.success_condition = r.String("successCondition").value_or("");
  m.failure_condition = r.String("failureCondition").value_or("");
  m.failure_limit = ReadCountField(&r, "failureLimit");
  m.inconclusive_limit = ReadCountField(&r, "inconclusiveLimit");
  m.consecutive_error_limit = ReadCountField(&r, "consecutiveErrorLimit");
  m.consecutive_success_limit = ReadCountField(&r, "consecutiveSuccessLimit");
  const Node* provider = r.Field("provider");
  m.provider = DecodeProvider(ctx, provider, r.FieldPath("provider"));
  r.Finish();
  // A provider that is not a map was reported by its reader; counting providers adds nothing.
  bool provider_ok = provider == nullptr || provider->IsMap();
  if (r.valid()) ValidateMetricRules(ctx, m, node, path, provider_ok);
  return m;
}

AnalysisTemplate DecodeAnalysisTemplate(DecodeContext* ctx, const Node& root) {
  return DecodeTemplateDocument(ctx, root, "AnalysisTemplate", /*cluster=*/false);
}

AnalysisTemplate DecodeClusterAnalysisTemplate(DecodeContext* ctx, const Node& root) {
  return DecodeTemplateDocument(ctx, root, "ClusterAnalysisTemplate", /*cluster=*/true);
}

namespace {

// AnalysisRun and Experiment documents share one shape: metadata (named), a required spec and
// an optional status, each with its own decoder.
template <typename T, typename SpecDecoder, typename StatusDecoder>
T DecodeObjectWithStatus(DecodeContext* ctx, const Node& root, std::string_view kind,
                         SpecDecoder decode_spec, StatusDecoder decode_status) {
  T obj;
  ObjectReader r(ctx, &root, "");
  CheckTypeMeta(&r, kind);
  obj.metadata = DecodeObjectMeta(ctx, r.Field("metadata"), "metadata");
  const Node* spec = r.Field("spec");
  const Node* status = r.Field("status");
  r.Finish();
  if (!r.valid()) return obj;
  RequireNamed(ctx, root, obj.metadata);
  if (spec == nullptr) {
    ctx->Error(root.mark, "spec", kRequired);
  } else {
    obj.spec = decode_spec(ctx, spec, "spec");
  }
  if (status != nullptr) {
    obj.has_status = true;
    obj.status = decode_status(ctx, status, "status");
  }
  return obj;
}

}  // namespace

AnalysisRun DecodeAnalysisRun(DecodeContext* ctx, const Node& root) {
  return DecodeObjectWithStatus<AnalysisRun>(ctx, root, "AnalysisRun", DecodeRunSpec,
                                             DecodeRunStatus);
}

Experiment DecodeExperiment(DecodeContext* ctx, const Node& root) {
  return DecodeObjectWithStatus<Experiment>(ctx, root, "Experiment", DecodeExperimentSpec,
                                            DecodeExperimentStatus);
}

}  // namespace ramp::spec
