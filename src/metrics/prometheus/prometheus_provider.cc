#include "metrics/prometheus/prometheus_provider.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "expr/expr.h"
#include "metrics/common/oauth2.h"
#include "metrics/common/provider_util.h"
#include "spec/common.h"

namespace ramp::metrics {
namespace {

using json = nlohmann::json;

constexpr std::string_view kType = "prometheus";

// A sample value as Prometheus sends it: a string "0.99", "NaN", "+Inf".
std::optional<double> SampleValue(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return d;
}

// [timestamp, "value"] → the value.
std::optional<double> PairValue(const json& pair) {
  if (!pair.is_array() || pair.size() != 2) return std::nullopt;
  return SampleValue(pair[1]);
}

std::string ListText(const std::vector<double>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += FormatGoFloat(values[i]);
  }
  return out + "]";
}

StatusOr<PrometheusResult> ParseJson(const json& doc) {
  if (!doc.is_object()) {
    return Fail(InvalidArgumentError(
        "prometheus response is not a JSON object: " +
        BodyExcerpt(doc.dump(-1, ' ', false, json::error_handler_t::replace))));
  }
  auto status = doc.find("status");
  if (status == doc.end() || !status->is_string()) {
    return Fail(InvalidArgumentError("prometheus response has no \"status\""));
  }
  if (*status != "success") {
    std::string type = doc.contains("errorType") && doc["errorType"].is_string()
                           ? doc["errorType"].get<std::string>()
                           : "error";
    std::string error = doc.contains("error") && doc["error"].is_string()
                            ? doc["error"].get<std::string>()
                            : "(no message)";
    return Fail(UnavailableError("prometheus returned an error: " + type + ": " + error));
  }
  auto data = doc.find("data");
  if (data == doc.end() || !data->is_object()) {
    return Fail(InvalidArgumentError("prometheus response has no \"data\" object"));
  }
  auto type = data->find("resultType");
  auto result = data->find("result");
  if (type == data->end() || !type->is_string() || result == data->end()) {
    return Fail(InvalidArgumentError("prometheus response has no data.resultType or data.result"));
  }
  PrometheusResult out;
  auto warnings = doc.find("warnings");
  if (warnings != doc.end() && warnings->is_array()) {
    for (const json& w : *warnings) {
      if (!out.warnings.empty()) out.warnings += ", ";
      out.warnings += "\"" + (w.is_string() ? w.get<std::string>() : w.dump()) + "\"";
    }
  }
  const std::string& kind = type->get_ref<const std::string&>();
  if (kind == "scalar") {
    std::optional<double> v = PairValue(*result);
    if (!v) return Fail(InvalidArgumentError("prometheus scalar result is not [time, \"value\"]"));
    out.result = std::make_shared<const json>(*v);
    out.value_text = FormatGoFloat(*v);
    return out;
  }
  if (kind == "vector" || kind == "matrix") {
    if (!result->is_array()) {
      return Fail(InvalidArgumentError("prometheus " + kind + " result is not an array"));
    }
    std::vector<double> values;
    for (const json& series : *result) {
      if (!series.is_object()) {
        return Fail(InvalidArgumentError("prometheus " + kind + " element is not an object"));
      }
      if (kind == "vector") {
        auto it = series.find("value");
        std::optional<double> v = it == series.end() ? std::nullopt : PairValue(*it);
        if (!v)
          return Fail(InvalidArgumentError("prometheus vector sample has no valid \"value\""));
        values.push_back(*v);
      } else {
        auto it = series.find("values");
        if (it == series.end() || !it->is_array()) {
          return Fail(InvalidArgumentError("prometheus matrix series has no \"values\" array"));
        }
        for (const json& pair : *it) {
          std::optional<double> v = PairValue(pair);
          if (!v)
            return Fail(InvalidArgumentError("prometheus matrix sample is not [time, value]"));
          values.push_back(*v);
        }
      }
    }
    json arr = json::array();
    for (double v : values) arr.push_back(v);
    out.result = std::make_shared<const json>(std::move(arr));
    out.value_text = ListText(values);
    return out;
  }
  return Fail(InvalidArgumentError("Prometheus metric type not supported: " + kind));
}

struct Config {
  std::string address;
  std::string query;
  Duration timeout = std::chrono::seconds(30);
  bool insecure = false;
  HttpHeaders headers;
  std::optional<std::pair<std::string, std::string>> basic_auth;
  std::optional<OAuth2Config> oauth2;
  // authentication.sigv4 on Amazon Managed Prometheus (an address with "aps-workspaces").
  bool sigv4 = false;
  std::string sigv4_region;
  bool range = false;
  std::string start, end, step;
};

StatusOr<Config> ParseConfig(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Fail(InvalidArgumentError("prometheus: configuration is not a JSON object"));
  }
  Config c;
  c.address = j.value("address", std::string());
  c.query = j.value("query", std::string());
  if (c.address.empty()) return Fail(InvalidArgumentError("prometheus address is not configured"));
  if (!IsHttpUrl(c.address)) {
    return Fail(InvalidArgumentError("prometheus address is not in URL format (http(s)://host): " +
                                     c.address));
  }
  while (c.address.ends_with('/')) c.address.pop_back();
  if (j.contains("timeout")) {
    if (!j["timeout"].is_number_integer() || j["timeout"].get<int64_t>() < 0) {
      return Fail(InvalidArgumentError("prometheus timeout should not be negative"));
    }
    int64_t s = j["timeout"].get<int64_t>();
    if (s > 0) c.timeout = std::chrono::seconds(s);
  }
  c.insecure = j.value("insecure", false);
  if (j.contains("headers") && j["headers"].is_array()) {
    for (const json& h : j["headers"]) {
      c.headers.emplace_back(h.value("key", std::string()), h.value("value", std::string()));
    }
  }
  if (j.contains("authentication") && j["authentication"].is_object()) {
    const json& a = j["authentication"];
    StatusOr<std::optional<OAuth2Config>> oauth2 = ParseOAuth2(a);
    if (!oauth2) return Fail(oauth2.error().WithPrefix("prometheus"));
    c.oauth2 = std::move(*oauth2);
    if (a.contains("sigv4") && a["sigv4"].is_object() &&
        c.address.find("aps-workspaces") != std::string::npos) {
      const json& v = a["sigv4"];
      if (!v.value("profile", std::string()).empty()) {
        return Fail(UnimplementedError(
            "prometheus authentication.sigv4.profile is not supported yet: credentials come from "
            "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN"));
      }
      if (!v.value("roleArn", std::string()).empty()) {
        return Fail(UnimplementedError(
            "prometheus authentication.sigv4.roleArn is not supported yet: credentials come "
            "from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN"));
      }
      c.sigv4 = true;
      c.sigv4_region = v.value("region", std::string());
    }
    if (a.contains("basicAuth") && a["basicAuth"].is_object()) {
      c.basic_auth.emplace(a["basicAuth"].value("username", std::string()),
                           a["basicAuth"].value("password", std::string()));
    }
  }
  if (j.contains("rangeQuery") && j["rangeQuery"].is_object()) {
    const json& r = j["rangeQuery"];
    c.range = true;
    c.start = r.value("start", std::string());
    c.end = r.value("end", std::string());
    c.step = r.value("step", std::string());
  }
  return c;
}

// Unix seconds as client_golang sends them: "1700000000.5".
std::string TimeParam(Time t) {
  auto ns = t.time_since_epoch().count();
  return FormatGoFloat(static_cast<double>(ns / 1'000'000'000) +
                       static_cast<double>(ns % 1'000'000'000) / 1e9);
}

StatusOr<Time> EvalTime(std::string_view what, const std::string& source, Time now) {
  if (source.empty())
    return Fail(InvalidArgumentError("prometheus rangeQuery." + std::string(what) + " is empty"));
  auto program = expr::Compile(source);
  if (!program) {
    return Fail(InvalidArgumentError("prometheus rangeQuery." + std::string(what) + ": " +
                                     program.error().message()));
  }
  auto value = program->Evaluate(expr::Env{.now = now});
  if (!value) {
    return Fail(InvalidArgumentError("prometheus rangeQuery." + std::string(what) + ": " +
                                     value.error().message()));
  }
  if (value->kind() != expr::Kind::kTime) {
    return Fail(InvalidArgumentError("prometheus rangeQuery." + std::string(what) +
                                     " must evaluate to a time, got " +
                                     std::string(value->TypeName())));
  }
  return value->time_value();
}

// The form parameters of the request, in Go's url.Values.Encode order (sorted by key).
StatusOr<std::string> Params(const Config& c, Time now) {
  if (!c.range) return "query=" + QueryEscape(c.query) + "&time=" + QueryEscape(TimeParam(now));
  ASSIGN_OR_RETURN(Time start, EvalTime("start", c.start, now));
  ASSIGN_OR_RETURN(Time end, EvalTime("end", c.end, now));
  std::optional<int64_t> step = spec::ParseGoDuration(c.step);
  if (!step || *step <= 0) {
    return Fail(InvalidArgumentError("prometheus rangeQuery.step is not a positive duration: \"" +
                                     c.step + "\""));
  }
  return "end=" + QueryEscape(TimeParam(end)) + "&query=" + QueryEscape(c.query) +
         "&start=" + QueryEscape(TimeParam(start)) +
         "&step=" + QueryEscape(FormatGoFloat(static_cast<double>(*step) / 1e9));
}

class PrometheusProvider final : public OneShotProvider {
 public:
  PrometheusProvider(HttpClient* http, PrometheusOptions options)
      : http_(http), options_(std::move(options)), tokens_(http) {}

  std::string_view Type() const override { return kType; }

  void Run(const RunContext& ctx, const MetricRef& metric, MeasurementCallback done) override {
    Measurement base;
    base.started_at = ctx.now;
    auto fail = [&](const Status& s) {
      Measurement m = base;
      m.finished_at = ctx.now;
      done(MeasurementUpdate::Error(std::move(m), Redact(s.message(), ctx.secrets)));
    };
    StatusOr<Config> config;
    try {
      config = ParseConfig(metric.provider_config_json);
    } catch (const std::exception& e) {
      config =
          Fail(InvalidArgumentError(std::string("prometheus: bad configuration: ") + e.what()));
    }
    if (!config) return fail(config.error());
    StatusOr<std::string> params = Params(*config, ctx.now);
    if (!params) return fail(params.error());

    HttpRequest req;
    req.method = "POST";
    req.url = config->address + (config->range ? "/api/v1/query_range" : "/api/v1/query");
    req.headers = config->headers;
    if (config->basic_auth) {
      req.headers.emplace_back("Authorization", "Basic " + Base64(config->basic_auth->first + ":" +
                                                                  config->basic_auth->second));
    }
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    req.body = *params;
    req.timeout = config->timeout;
    req.insecure_skip_verify = config->insecure;
    base.finished_at = ctx.now;
    if (config->sigv4) {
      std::vector<std::string> secrets = ctx.secrets;
      secrets.push_back(options_.credentials.secret_access_key);
      secrets.push_back(options_.credentials.session_token);
      StatusOr<HttpRequest> signed_req = SignV4(std::move(req), *config, ctx.now);
      if (!signed_req) {
        done(MeasurementUpdate::Error(std::move(base),
                                      Redact(signed_req.error().message(), secrets)));
        return;
      }
      // A signed request is not re-sent as GET (AMP takes the form POST).
      Send(std::move(*signed_req), std::move(base), std::move(secrets), std::move(done), false);
      return;
    }
    if (!config->oauth2) {
      Send(std::move(req), std::move(base), ctx.secrets, std::move(done), /*may_retry=*/true);
      return;
    }
    std::vector<std::string> secrets = ctx.secrets;
    secrets.push_back(config->oauth2->client_secret);
    tokens_.Authorization(
        *config->oauth2, ctx.now, config->timeout, config->insecure,
        [this, req = std::move(req), base = std::move(base), secrets = std::move(secrets),
         done = std::move(done)](StatusOr<std::string> authorization) mutable {
          if (!authorization) {
            done(MeasurementUpdate::Error(
                std::move(base),
                Redact("prometheus: " + authorization.error().message(), secrets)));
            return;
          }
          req.headers.emplace_back("Authorization", *authorization);
          Send(std::move(req), std::move(base), std::move(secrets), std::move(done), true);
        });
  }

  std::map<std::string, std::string> Metadata(const MetricRef& metric) const override {
    std::map<std::string, std::string> out;
    json j = json::parse(metric.provider_config_json, nullptr, false);
    if (j.is_object() && j.contains("query") && j["query"].is_string() &&
        !j["query"].get<std::string>().empty()) {
      out["ResolvedPrometheusQuery"] = j["query"].get<std::string>();
    }
    return out;
  }

 private:
  void Send(HttpRequest req, Measurement base, std::vector<std::string> secrets,
            MeasurementCallback done, bool may_retry) {
    HttpRequest copy = may_retry ? req : HttpRequest();
    http_->Send(std::move(req), [this, copy = std::move(copy), base = std::move(base),
                                 secrets = std::move(secrets), done = std::move(done),
                                 may_retry](StatusOr<HttpResponse> response) mutable {
      if (response && may_retry && (response->status == 405 || response->status == 501)) {
        // client_golang falls back from the form POST to GET with the query in the URL.
        HttpRequest get = std::move(copy);
        get.method = "GET";
        get.url += "?" + get.body;
        get.body.clear();
        std::erase_if(get.headers, [](const auto& h) { return h.first == "Content-Type"; });
        Send(std::move(get), std::move(base), std::move(secrets), std::move(done), false);
        return;
      }
      done(Finish(std::move(base), response, secrets));
    });
  }

  // Adds the AWS Signature V4 headers for service "aps".
  StatusOr<HttpRequest> SignV4(HttpRequest req, const Config& config, Time now) const {
    const std::string region = config.sigv4_region.empty() ? options_.region : config.sigv4_region;
    if (region.empty()) {
      return Fail(FailedPreconditionError(
          "prometheus: sigv4 needs a region (authentication.sigv4.region or AWS_REGION)"));
    }
    if (options_.credentials.access_key_id.empty() ||
        options_.credentials.secret_access_key.empty()) {
      return Fail(
          FailedPreconditionError("prometheus: sigv4 needs AWS credentials (AWS_ACCESS_KEY_ID and "
                                  "AWS_SECRET_ACCESS_KEY)"));
    }
    auth::SigV4Request sign;
    sign.method = req.method;
    SplitHostPath(req.url, &sign.host, &sign.path);
    sign.headers = req.headers;
    sign.body = req.body;
    auth::SigV4Result signature = auth::SignV4(sign, options_.credentials, region, "aps", now);
    for (const auto& h : signature.headers_to_add) req.headers.push_back(h);
    return req;
  }

  static MeasurementUpdate Finish(Measurement m, const StatusOr<HttpResponse>& response,
                                  const std::vector<std::string>& secrets) {
    auto error = [&](const std::string& message) {
      return MeasurementUpdate::Error(std::move(m), Redact("prometheus: " + message, secrets));
    };
    if (!response) return error(TransportErrorMessage(response.error()));
    StatusOr<PrometheusResult> parsed = ParsePrometheusResponse(response->body);
    bool ok_status = response->status >= 200 && response->status < 300;
    if (!ok_status) {
      // Prometheus answers 400/422/503 with its JSON error; anything else is shown as is.
      if (!parsed && parsed.error().code() == StatusCode::kUnavailable) {
        return error("HTTP " + std::to_string(response->status) + ": " + parsed.error().message());
      }
      return error("HTTP " + std::to_string(response->status) + ": " + BodyExcerpt(response->body));
    }
    if (!parsed) return error(parsed.error().message());
    m.value = parsed->value_text;
    if (!parsed->warnings.empty()) m.metadata["warnings"] = parsed->warnings;
    RedactAll(&m.metadata, secrets);
    return MeasurementUpdate::Value(std::move(m), std::move(parsed->result));
  }

  HttpClient* http_;
  PrometheusOptions options_;
  OAuth2Tokens tokens_;
};

}  // namespace

StatusOr<PrometheusResult> ParsePrometheusResponse(std::string_view body) {
  ASSIGN_OR_RETURN(json doc, ParseJsonBody(body, "Prometheus JSON"));
  try {
    return ParseJson(doc);
  } catch (const std::exception& e) {
    return Fail(InvalidArgumentError(std::string("cannot read response: ") + e.what()));
  }
}

std::unique_ptr<MetricProvider> NewPrometheusProvider(HttpClient* http, PrometheusOptions options) {
  return std::make_unique<PrometheusProvider>(http, std::move(options));
}

namespace {

struct NumberBatch {
  std::mutex mu;
  size_t left = 0;
  PrometheusNumbers values;
  std::optional<Status> error;
  std::function<void(StatusOr<PrometheusNumbers>)> done;
};

StatusOr<std::optional<double>> OneNumber(const StatusOr<HttpResponse>& r,
                                          const std::string& what) {
  if (!r) return Fail(UnavailableError(what + ": " + TransportErrorMessage(r.error())));
  StatusOr<PrometheusResult> parsed = ParsePrometheusResponse(r->body);
  if (r->status < 200 || r->status >= 300) {
    return Fail(UnavailableError(what + ": HTTP " + std::to_string(r->status) + ": " +
                                 (parsed ? BodyExcerpt(r->body) : parsed.error().message())));
  }
  if (!parsed) return Fail(InvalidArgumentError(what + ": " + parsed.error().message()));
  const json& v = *parsed->result;
  if (v.is_number()) return std::optional<double>(v.get<double>());
  if (v.is_array() && v.empty()) return std::optional<double>();
  if (v.is_array() && v.size() == 1 && v[0].is_number()) {
    return std::optional<double>(v[0].get<double>());
  }
  return Fail(InvalidArgumentError(what + ": must return one number (wrap it in sum(…)), got " +
                                   parsed->value_text));
}

}  // namespace

void QueryPrometheusNumbers(HttpClient* http, const std::string& address,
                            std::vector<PrometheusQuery> queries, Time at, Duration timeout,
                            std::function<void(StatusOr<PrometheusNumbers>)> done) {
  auto batch = std::make_shared<NumberBatch>();
  batch->left = queries.size();
  batch->values.resize(queries.size());
  batch->done = std::move(done);
  if (queries.empty()) return batch->done(PrometheusNumbers{});
  char time_text[32];
  std::snprintf(time_text, sizeof time_text, "%.3f", static_cast<double>(ToUnixNanos(at)) / 1e9);
  for (size_t i = 0; i < queries.size(); ++i) {
    HttpRequest req;
    req.method = "GET";
    req.url =
        address + "/api/v1/query?query=" + QueryEscape(queries[i].query) + "&time=" + time_text;
    req.timeout = timeout;
    req.max_response_bytes = size_t{1} << 20;
    const std::string what = queries[i].what + " (" + queries[i].query + ")";
    http->Send(std::move(req), [batch, i, what](StatusOr<HttpResponse> r) {
      StatusOr<std::optional<double>> v = OneNumber(r, what);
      std::unique_lock lock(batch->mu);
      if (v) {
        batch->values[i] = *v;
      } else if (!batch->error) {
        batch->error = v.error();
      }
      if (--batch->left > 0) return;
      lock.unlock();
      if (batch->error) return batch->done(Fail(*batch->error));
      batch->done(std::move(batch->values));
    });
  }
}

}  // namespace ramp::metrics
