#include "metrics/builtin/builtin_provider.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "metrics/common/provider_util.h"
#include "spec/common.h"
#include "traffic/proxy/service_name.h"

namespace ramp::metrics {
namespace {

using json = nlohmann::json;

constexpr std::string_view kKnownFields =
    "signal, revision, window, quantile, le, minRequests, admin";
constexpr int64_t kSecond = 1'000'000'000;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Status FieldError(std::string_view field, std::string_view what) {
  return InvalidArgumentError("ramp/builtin: " + std::string(field) + ": " + std::string(what));
}

StatusOr<std::string> GetString(const json& v, std::string_view field) {
  if (!v.is_string()) return Fail(FieldError(field, "must be a string, got " + v.dump()));
  return v.get<std::string>();
}

// A number, also as text ("0.99" after an {{args.…}} substitution).
StatusOr<double> GetNumber(const json& v, std::string_view field) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size()) return d;
  }
  return Fail(FieldError(field, "must be a number, got " + v.dump()));
}

StatusOr<int64_t> GetDurationNanos(const json& v, std::string_view field) {
  ASSIGN_OR_RETURN(std::string text, GetString(v, field));
  std::optional<int64_t> nanos = spec::ParseGoDuration(text);
  if (!nanos) {
    return Fail(FieldError(field, "\"" + text + "\" is not a duration (e.g. \"30s\", \"1m\")"));
  }
  return *nanos;
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "[::1]") return true;
  in_addr v4{};
  return inet_pton(AF_INET, std::string(host).c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

}  // namespace

Status ParseBuiltinAdmin(const nlohmann::json& admin, std::string_view provider,
                         std::string* admin_url, std::string* token_file) {
  auto field_error = [&](std::string_view field, std::string_view what) {
    return InvalidArgumentError(std::string(provider) + ": " + std::string(field) + ": " +
                                std::string(what));
  };
  if (!admin.is_object()) {
    return field_error("admin",
                       "must be an object with address and tokenFile, got " + admin.dump());
  }
  for (const auto& [key, value] : admin.items()) {
    const std::string field = "admin." + key;
    if (key == "socket") {
      return UnimplementedError(
          std::string(provider) +
          ": admin.socket: the provider reaches the proxy's admin API over loopback "
          "TCP only (a unix socket is not supported yet); run the proxy with --admin-address and "
          "set admin.address and admin.tokenFile");
    }
    if (key == "address") {
      if (!value.is_string()) return field_error(field, "must be a string, got " + value.dump());
      const std::string address = value.get<std::string>();
      size_t colon = address.rfind(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
        return field_error(field, "\"" + address + "\" is not host:port");
      }
      if (!IsLoopbackHost(address.substr(0, colon))) {
        return field_error(
            field,
            "must be a loopback address (127.0.0.1, [::1] or localhost), got \"" + address + "\"");
      }
      *admin_url = "http://" + address;
    } else if (key == "tokenFile") {
      if (!value.is_string()) return field_error(field, "must be a string, got " + value.dump());
      *token_file = value.get<std::string>();
    } else {
      return field_error(field, "unknown field (known: address, tokenFile, socket)");
    }
  }
  if (admin_url->empty()) return field_error("admin.address", "required");
  if (token_file->empty()) return field_error("admin.tokenFile", "required with admin.address");
  return OkStatus();
}

namespace {

StatusOr<std::string> ReadToken(const std::string& path, std::string_view provider) {
  std::ifstream in(path);
  if (!in) {
    return Fail(
        FailedPreconditionError(std::string(provider) + ": admin.tokenFile: cannot read " + path));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ' ||
                            token.back() == '\t')) {
    token.pop_back();
  }
  if (token.empty()) {
    return Fail(FailedPreconditionError(std::string(provider) + ": admin.tokenFile: " + path +
                                        " is empty"));
  }
  return token;
}

// "1m0s" for 60 seconds: how Argo prints a window.
std::string WindowText(int64_t seconds) { return spec::FormatGoDuration(seconds * kSecond); }

// The proxy's {"error": "…"} message, or an excerpt of the body.
std::string ErrorText(const HttpResponse& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    return j["error"].get<std::string>();
  }
  return BodyExcerpt(r.body);
}

StatusOr<uint64_t> GetCount(const json& obj, const std::string& path, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) return Fail(InvalidArgumentError(path + "." + key + ": missing"));
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
    return Fail(InvalidArgumentError(path + "." + key + ": must be a count, got " + it->dump()));
  }
  return it->get<uint64_t>();
}

class BuiltinProvider final : public OneShotProvider {
 public:
  BuiltinProvider(HttpClient* http, BuiltinProviderOptions options)
      : http_(http), options_(std::move(options)) {}

  std::string_view Type() const override { return kBuiltinProviderName; }

  void Run(const RunContext& ctx, const MetricRef& metric, MeasurementCallback done) override {
    Measurement base;
    base.started_at = ctx.now;
    base.finished_at = ctx.now;
    std::vector<std::string> secrets = ctx.secrets;
    auto fail = [&](const std::string& message) {
      done(MeasurementUpdate::Error(base, Redact(message, secrets)));
    };
    StatusOr<BuiltinConfig> config = ParseBuiltinConfig(metric.provider_config_json);
    if (!config) return fail(config.error().message());
    StatusOr<BuiltinTarget> target = ResolveBuiltinTarget(
        options_, config->admin_url, config->admin_token_file, ctx.rollout, kBuiltinProviderName);
    if (!target) return fail(target.error().message());
    const std::string service = target->service;
    secrets.push_back(target->token);
    HttpRequest req = BuiltinSignalsRequest(*target, config->window_seconds, options_.timeout);
    base.metadata["service"] = service;
    base.metadata["revision"] = config->revision;
    base.metadata["window"] = WindowText(config->window_seconds);
    http_->Send(std::move(req), [config = std::move(*config), service, base = std::move(base),
                                 secrets = std::move(secrets),
                                 done = std::move(done)](StatusOr<HttpResponse> r) mutable {
      done(Finish(config, service, std::move(base), r, secrets));
    });
  }

 private:
  static MeasurementUpdate Finish(const BuiltinConfig& c, const std::string& service, Measurement m,
                                  const StatusOr<HttpResponse>& r,
                                  const std::vector<std::string>& secrets) {
    auto error = [&](const std::string& message) {
      return MeasurementUpdate::Error(std::move(m), Redact("ramp/builtin: " + message, secrets));
    };
    if (!r) return error(TransportErrorMessage(r.error()));
    if (std::optional<std::string> failed = BuiltinAnswerError(*r, service)) return error(*failed);
    StatusOr<SignalWindow> w = ParseSignalWindow(r->body, c.revision);
    if (!w) return error(w.error().message());
    m.metadata["requests"] = std::to_string(w->requests);
    if (static_cast<int64_t>(std::min<uint64_t>(w->requests, INT64_MAX)) < c.min_requests) {
      return error(std::to_string(w->requests) + " requests reached the " + c.revision +
                   " revision of proxy service \"" + service + "\" in the last " +
                   WindowText(c.window_seconds) + ", fewer than minRequests " +
                   std::to_string(c.min_requests) + ": no " + c.signal_name +
                   " to judge (a revision without traffic is never judged healthy)");
    }
    json result;
    switch (c.signal) {
      case BuiltinSignal::kRequests:
        result = w->requests;
        break;
      case BuiltinSignal::kErrors:
        result = w->errors;
        break;
      case BuiltinSignal::kErrorRate:
        result = w->requests == 0
                     ? kNaN
                     : static_cast<double>(w->errors) / static_cast<double>(w->requests);
        break;
      case BuiltinSignal::kSuccessRate:
        result = w->requests == 0
                     ? kNaN
                     : 1.0 - static_cast<double>(w->errors) / static_cast<double>(w->requests);
        break;
      case BuiltinSignal::kLatency:
        result = HistogramQuantile(c.quantile, w->buckets);
        break;
      case BuiltinSignal::kLatencyBucket:
        result = HistogramFractionAtOrBelow(c.le_seconds, w->buckets);
        break;
    }
    m.value = result.is_number_float() ? FormatGoFloat(result.get<double>()) : result.dump();
    RedactAll(&m.metadata, secrets);
    return MeasurementUpdate::Value(std::move(m), std::make_shared<const json>(std::move(result)));
  }

  HttpClient* const http_;
  const BuiltinProviderOptions options_;
};

}  // namespace

StatusOr<BuiltinTarget> ResolveBuiltinTarget(const BuiltinProviderOptions& options,
                                             std::string_view metric_admin_url,
                                             std::string_view metric_token_file,
                                             const ObjectRef& rollout, std::string_view provider) {
  const std::string p(provider);
  if (rollout.name.empty()) {
    return Fail(FailedPreconditionError(
        p + ": the run belongs to no Rollout, so there is no proxy service to read: " + p +
        " measures the traffic of the Rollout that started the AnalysisRun"));
  }
  BuiltinTarget t;
  t.service = options.service_name ? options.service_name(rollout)
                                   : proxy_router::ProxyServiceName(rollout);
  if (!metric_admin_url.empty()) {
    t.admin_url = metric_admin_url;
    ASSIGN_OR_RETURN(t.token, ReadToken(std::string(metric_token_file), provider));
  } else if (std::optional<BuiltinAdmin> own =
                 options.rollout_admin ? options.rollout_admin(rollout) : std::nullopt) {
    t.admin_url = own->url;
    t.token = own->token;
  } else {
    t.admin_url = options.admin_url;
    t.token = options.admin_token;
  }
  while (!t.admin_url.empty() && t.admin_url.back() == '/') t.admin_url.pop_back();
  if (t.admin_url.empty()) {
    return Fail(FailedPreconditionError(
        p +
        ": no proxy admin API is known: set admin.address and admin.tokenFile, or give ramp "
        "the admin API of the proxy it manages"));
  }
  return t;
}

HttpRequest BuiltinSignalsRequest(const BuiltinTarget& target, int64_t window_seconds,
                                  Duration timeout) {
  HttpRequest req;
  req.method = "GET";
  req.url = target.admin_url + "/v1/services/" + target.service +
            "/signals?window=" + std::to_string(window_seconds) + "s";
  if (!target.token.empty()) req.headers.emplace_back("Authorization", "Bearer " + target.token);
  req.timeout = timeout;
  req.max_response_bytes = size_t{1} << 20;
  return req;
}

std::optional<std::string> BuiltinAnswerError(const HttpResponse& r, const std::string& service) {
  if (r.status == 404) {
    return "the proxy has no service \"" + service +
           "\" (is the Rollout routed by ramp/proxy, and has its stable revision got ready "
           "instances?): " +
           ErrorText(r);
  }
  if (r.status == 401) return "admin token refused by the proxy (HTTP 401: " + ErrorText(r) + ")";
  if (r.status < 200 || r.status >= 300) {
    return "HTTP " + std::to_string(r.status) + ": " + ErrorText(r);
  }
  return std::nullopt;
}

StatusOr<BuiltinConfig> ParseBuiltinConfig(std::string_view config_json) {
  json j = json::parse(config_json.empty() ? std::string_view("{}") : config_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Fail(InvalidArgumentError("ramp/builtin: configuration is not a JSON object"));
  }
  BuiltinConfig c;
  std::optional<double> quantile;
  std::optional<int64_t> le;
  std::optional<int64_t> min_requests;
  for (const auto& [key, value] : j.items()) {
    if (key == "signal") {
      ASSIGN_OR_RETURN(c.signal_name, GetString(value, key));
    } else if (key == "revision") {
      ASSIGN_OR_RETURN(c.revision, GetString(value, key));
      if (c.revision != "canary" && c.revision != "stable") {
        return Fail(FieldError(key, "must be canary or stable, got \"" + c.revision + "\""));
      }
    } else if (key == "window") {
      ASSIGN_OR_RETURN(int64_t nanos, GetDurationNanos(value, key));
      if (nanos < kSecond || nanos > 3600 * kSecond) {
        return Fail(FieldError(key,
                               "must be from 1s to 1h (the proxy keeps one hour of "
                               "per-second counters), got " +
                                   spec::FormatGoDuration(nanos)));
      }
      c.window_seconds = nanos / kSecond;
    } else if (key == "quantile") {
      ASSIGN_OR_RETURN(quantile, GetNumber(value, key));
      if (!(*quantile > 0 && *quantile < 1)) {
        return Fail(FieldError(key, "must be between 0 and 1 exclusive, e.g. 0.99 for p99"));
      }
    } else if (key == "le") {
      ASSIGN_OR_RETURN(le, GetDurationNanos(value, key));
      if (*le <= 0) return Fail(FieldError(key, "must be a positive latency bound such as 250ms"));
    } else if (key == "minRequests") {
      ASSIGN_OR_RETURN(double n, GetNumber(value, key));
      if (n < 0 || n != std::floor(n) || n > 1e15) {
        return Fail(FieldError(key, "must be a whole number >= 0, got " + value.dump()));
      }
      min_requests = static_cast<int64_t>(n);
    } else if (key == "admin") {
      RETURN_IF_ERROR(
          ParseBuiltinAdmin(value, kBuiltinProviderName, &c.admin_url, &c.admin_token_file));
    } else {
      return Fail(FieldError(key, "unknown field (known: " + std::string(kKnownFields) + ")"));
    }
  }
  static const std::pair<const char*, BuiltinSignal> kSignals[] = {
      {"requests", BuiltinSignal::kRequests},   {"errors", BuiltinSignal::kErrors},
      {"errorRate", BuiltinSignal::kErrorRate}, {"successRate", BuiltinSignal::kSuccessRate},
      {"latency", BuiltinSignal::kLatency},     {"latencyBucket", BuiltinSignal::kLatencyBucket}};
  bool known = false;
  for (const auto& [name, signal] : kSignals) {
    if (c.signal_name == name) {
      c.signal = signal;
      known = true;
    }
  }
  if (!known) {
    return Fail(FieldError(
        "signal", (c.signal_name.empty() ? std::string("required") : "\"" + c.signal_name + "\"") +
                      ": one of requests, errors, errorRate, successRate, latency, latencyBucket"));
  }
  const bool is_latency = c.signal == BuiltinSignal::kLatency;
  const bool is_bucket = c.signal == BuiltinSignal::kLatencyBucket;
  if (is_latency && !quantile) {
    return Fail(FieldError("quantile", "required with signal latency, e.g. 0.99"));
  }
  if (!is_latency && quantile) {
    return Fail(FieldError("quantile",
                           "applies to signal latency only (signal is \"" + c.signal_name + "\")"));
  }
  if (is_bucket && !le) {
    return Fail(FieldError("le", "required with signal latencyBucket, e.g. 250ms"));
  }
  if (!is_bucket && le) {
    return Fail(FieldError(
        "le", "applies to signal latencyBucket only (signal is \"" + c.signal_name + "\")"));
  }
  if (quantile) c.quantile = *quantile;
  if (le) c.le_seconds = static_cast<double>(*le) / 1e9;
  const bool count = c.signal == BuiltinSignal::kRequests || c.signal == BuiltinSignal::kErrors;
  c.min_requests = min_requests.value_or(count ? 0 : 1);
  return c;
}

StatusOr<SignalWindow> ParseSignalWindow(std::string_view body, std::string_view revision,
                                         std::string_view part) {
  ASSIGN_OR_RETURN(json doc, ParseJsonBody(body, "ramp proxy signals JSON"));
  const std::string rev(revision);
  if (!doc.is_object() || !doc.contains("revisions") || !doc["revisions"].is_object()) {
    return Fail(
        InvalidArgumentError("signals answer has no \"revisions\" object: " + BodyExcerpt(body)));
  }
  const json& revisions = doc["revisions"];
  const std::string key(part);
  if (!revisions.contains(rev) || !revisions[rev].is_object() || !revisions[rev].contains(key) ||
      !revisions[rev][key].is_object()) {
    return Fail(InvalidArgumentError("revisions." + rev + "." + key + ": missing"));
  }
  const json& w = revisions[rev][key];
  const std::string path = "revisions." + rev + "." + key;
  SignalWindow out;
  ASSIGN_OR_RETURN(out.requests, GetCount(w, path, "requests"));
  ASSIGN_OR_RETURN(out.errors, GetCount(w, path, "errors"));
  if (w.contains("latencySumSeconds") && w["latencySumSeconds"].is_number()) {
    out.latency_sum_seconds = w["latencySumSeconds"].get<double>();
  }
  auto buckets = w.find("latencyBuckets");
  if (buckets == w.end() || !buckets->is_array()) {
    return Fail(InvalidArgumentError(path + ".latencyBuckets: missing or not a list"));
  }
  for (size_t i = 0; i < buckets->size(); ++i) {
    const json& b = (*buckets)[i];
    const std::string bp = path + ".latencyBuckets[" + std::to_string(i) + "]";
    if (!b.is_object() || !b.contains("le") || !b.contains("count") || !b["count"].is_number()) {
      return Fail(InvalidArgumentError(bp + ": must be {\"le\", \"count\"}, got " + b.dump()));
    }
    double le = 0;
    if (b["le"].is_number()) {
      le = b["le"].get<double>();
    } else if (b["le"] == "+Inf") {
      le = std::numeric_limits<double>::infinity();
    } else {
      return Fail(
          InvalidArgumentError(bp + ".le: must be a number or \"+Inf\", got " + b["le"].dump()));
    }
    if (!out.buckets.empty() && le <= out.buckets.back().first) {
      return Fail(InvalidArgumentError(bp + ".le: bounds must increase"));
    }
    out.buckets.emplace_back(le, b["count"].get<double>());
  }
  if (out.buckets.empty() || !std::isinf(out.buckets.back().first)) {
    return Fail(InvalidArgumentError(path + ".latencyBuckets: the last bucket must be +Inf"));
  }
  return out;
}

double HistogramQuantile(double q, const std::vector<std::pair<double, double>>& buckets) {
  if (std::isnan(q)) return kNaN;
  if (q < 0) return -std::numeric_limits<double>::infinity();
  if (q > 1) return std::numeric_limits<double>::infinity();
  if (buckets.size() < 2 || !std::isinf(buckets.back().first)) return kNaN;
  // Counts must not decrease (promql's ensureMonotonic).
  std::vector<std::pair<double, double>> b = buckets;
  for (size_t i = 1; i < b.size(); ++i) b[i].second = std::max(b[i].second, b[i - 1].second);
  const double observations = b.back().second;
  if (observations == 0) return kNaN;
  double rank = q * observations;
  size_t i = 0;
  while (i < b.size() && b[i].second < rank) ++i;
  if (i >= b.size() - 1) return b[b.size() - 2].first;
  if (i == 0 && b[0].first <= 0) return b[0].first;
  double start = 0;
  double end = b[i].first;
  double count = b[i].second;
  if (i > 0) {
    start = b[i - 1].first;
    count -= b[i - 1].second;
    rank -= b[i - 1].second;
  }
  return start + (end - start) * (rank / count);
}

double HistogramFractionAtOrBelow(double le,
                                  const std::vector<std::pair<double, double>>& buckets) {
  if (buckets.empty()) return kNaN;
  const double total = buckets.back().second;
  if (total == 0 || std::isnan(le)) return kNaN;
  double below = 0;  // cumulative count at the previous bound
  double lower = 0;  // the previous bound
  for (const auto& [bound, cumulative] : buckets) {
    if (std::isinf(bound)) return below / total;  // beyond the last finite bound
    if (le <= bound) {
      const double width = bound - lower;
      const double part = width > 0 ? (le - lower) / width : 1.0;
      return (below + (cumulative - below) * std::clamp(part, 0.0, 1.0)) / total;
    }
    below = cumulative;
    lower = bound;
  }
  return below / total;
}

std::unique_ptr<MetricProvider> NewBuiltinProvider(HttpClient* http,
                                                   BuiltinProviderOptions options) {
  return std::make_unique<BuiltinProvider>(http, std::move(options));
}

}  // namespace ramp::metrics
