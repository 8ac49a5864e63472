#include "metrics/cloudwatch/cloudwatch_provider.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/common/provider_util.h"
#include "spec/common.h"

namespace ramp::metrics {
namespace {

using json = nlohmann::json;

constexpr std::string_view kType = "cloudwatch";
constexpr std::string_view kTarget = "GraniteServiceVersion20100801.GetMetricData";
constexpr auto kHttpTimeout = std::chrono::seconds(30);

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Epoch seconds → "2023-11-14T22:13:20Z".
std::string Rfc3339(double seconds) {
  auto whole = static_cast<std::time_t>(std::floor(seconds));
  std::tm tm{};
  gmtime_r(&whole, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// An int or a numeric string ("60").
StatusOr<int64_t> IntField(const json& v, const std::string& what) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    char* end = nullptr;
    long long n = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && end == s.c_str() + s.size()) return static_cast<int64_t>(n);
  }
  return Fail(InvalidArgumentError("cloudwatch " + what + " is not an integer: " + Dump(v)));
}

// metricDataQueries (Argo's lower-camel JSON) → the API's MetricDataQueries.
StatusOr<json> Queries(const json& in) {
  if (!in.is_array() || in.empty()) {
    return Fail(InvalidArgumentError("cloudwatch metricDataQueries is empty"));
  }
  json out = json::array();
  for (const json& q : in) {
    if (!q.is_object()) return Fail(InvalidArgumentError("cloudwatch query is not an object"));
    json o = json::object();
    std::string id = q.value("id", std::string());
    if (id.empty()) return Fail(InvalidArgumentError("cloudwatch query has no id"));
    o["Id"] = id;
    if (q.contains("expression")) o["Expression"] = q["expression"];
    if (q.contains("label")) o["Label"] = q["label"];
    if (q.contains("period")) {
      ASSIGN_OR_RETURN(int64_t p, IntField(q["period"], "period of query " + id));
      o["Period"] = p;
    }
    if (q.contains("returnData")) o["ReturnData"] = q["returnData"];
    if (q.contains("metricStat") && q["metricStat"].is_object()) {
      const json& s = q["metricStat"];
      json stat = json::object();
      json metric = json::object();
      const json m = s.value("metric", json::object());
      if (m.contains("namespace")) metric["Namespace"] = m["namespace"];
      if (m.contains("metricName")) metric["MetricName"] = m["metricName"];
      if (m.contains("dimensions") && m["dimensions"].is_array()) {
        json dims = json::array();
        for (const json& d : m["dimensions"]) {
          dims.push_back({{"Name", d.value("name", std::string())},
                          {"Value", d.value("value", std::string())}});
        }
        metric["Dimensions"] = std::move(dims);
      }
      stat["Metric"] = std::move(metric);
      if (s.contains("period")) {
        ASSIGN_OR_RETURN(int64_t p, IntField(s["period"], "metricStat.period of query " + id));
        stat["Period"] = p;
      }
      if (s.contains("stat")) stat["Stat"] = s["stat"];
      if (s.contains("unit")) stat["Unit"] = s["unit"];
      o["MetricStat"] = std::move(stat);
    }
    out.push_back(std::move(o));
  }
  return out;
}

struct Config {
  int64_t interval_ns = 5LL * 60 * 1'000'000'000;
  json queries;
};

StatusOr<Config> ParseConfig(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Fail(InvalidArgumentError("cloudwatch: configuration is not a JSON object"));
  }
  Config c;
  std::string interval = j.value("interval", std::string());
  if (!interval.empty()) {
    std::optional<int64_t> d = spec::ParseGoDuration(interval);
    if (!d || *d <= 0) {
      return Fail(InvalidArgumentError("cloudwatch interval is not a positive duration: \"" +
                                       interval + "\""));
    }
    c.interval_ns = *d;
  }
  ASSIGN_OR_RETURN(c.queries, Queries(j.value("metricDataQueries", json::array())));
  return c;
}

class CloudWatchProvider final : public OneShotProvider {
 public:
  CloudWatchProvider(HttpClient* http, CloudWatchOptions options)
      : http_(http), options_(std::move(options)) {}

  std::string_view Type() const override { return kType; }

  void Run(const RunContext& ctx, const MetricRef& metric, MeasurementCallback done) override {
    Measurement base;
    base.started_at = ctx.now;
    base.finished_at = ctx.now;
    std::vector<std::string> secrets = ctx.secrets;
    secrets.push_back(options_.credentials.secret_access_key);
    secrets.push_back(options_.credentials.session_token);
    auto fail = [&](const Status& s) {
      done(MeasurementUpdate::Error(base, Redact(s.message(), secrets)));
    };
    StatusOr<Config> config;
    try {
      config = ParseConfig(metric.provider_config_json);
    } catch (const std::exception& e) {
      config =
          Fail(InvalidArgumentError(std::string("cloudwatch: bad configuration: ") + e.what()));
    }
    if (!config) return fail(config.error());
    if (options_.region.empty()) {
      return fail(FailedPreconditionError("cloudwatch: no AWS region (set AWS_REGION)"));
    }
    if (options_.credentials.access_key_id.empty() ||
        options_.credentials.secret_access_key.empty()) {
      return fail(FailedPreconditionError(
          "cloudwatch: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"));
    }
    int64_t now_ns = ctx.now.time_since_epoch().count();
    json body = {{"StartTime", (now_ns - config->interval_ns) / 1'000'000'000},
                 {"EndTime", now_ns / 1'000'000'000},
                 {"MetricDataQueries", config->queries}};
    std::string url = options_.endpoint.empty()
                          ? "https://monitoring." + options_.region + ".amazonaws.com/"
                          : options_.endpoint;
    auth::SigV4Request sign;
    sign.method = "POST";
    SplitHostPath(url, &sign.host, &sign.path);
    sign.headers = {{"Content-Type", "application/x-amz-json-1.0"},
                    {"X-Amz-Target", std::string(kTarget)}};
    sign.body = body.dump();
    auth::SigV4Result signature =
        auth::SignV4(sign, options_.credentials, options_.region, "monitoring", ctx.now);
    HttpRequest req;
    req.method = "POST";
    req.url = url;
    req.headers = sign.headers;
    for (const auto& h : signature.headers_to_add) req.headers.push_back(h);
    req.body = std::move(sign.body);
    req.timeout = kHttpTimeout;
    http_->Send(std::move(req), [base = std::move(base), secrets = std::move(secrets),
                                 done = std::move(done)](StatusOr<HttpResponse> r) mutable {
      done(Finish(std::move(base), r, secrets));
    });
  }

 private:
  static MeasurementUpdate Finish(Measurement m, const StatusOr<HttpResponse>& response,
                                  const std::vector<std::string>& secrets) {
    auto error = [&](const std::string& message) {
      return MeasurementUpdate::Error(std::move(m), Redact("cloudwatch: " + message, secrets));
    };
    if (!response) return error(TransportErrorMessage(response.error()));
    StatusOr<CloudWatchResult> parsed = ParseCloudWatchResponse(response->body);
    if (response->status < 200 || response->status >= 300) {
      if (!parsed && parsed.error().code() == StatusCode::kUnavailable) {
        return error("HTTP " + std::to_string(response->status) + ": " + parsed.error().message());
      }
      return error("HTTP " + std::to_string(response->status) + ": " + BodyExcerpt(response->body));
    }
    if (!parsed) return error(parsed.error().message());
    m.value = parsed->value_text;
    if (!parsed->messages.empty()) m.metadata["messages"] = parsed->messages;
    RedactAll(&m.metadata, secrets);
    return MeasurementUpdate::Value(std::move(m), std::move(parsed->result));
  }

  HttpClient* http_;
  CloudWatchOptions options_;
};

StatusOr<CloudWatchResult> ParseJson(const json& doc) {
  if (!doc.is_object()) return Fail(InvalidArgumentError("response is not a JSON object"));
  if (doc.contains("__type")) {
    std::string type = doc["__type"].is_string() ? doc["__type"].get<std::string>() : "error";
    std::string message;
    for (const char* key : {"message", "Message"}) {
      if (doc.contains(key) && doc[key].is_string()) message = doc[key].get<std::string>();
    }
    if (auto hash = type.rfind('#'); hash != std::string::npos) type = type.substr(hash + 1);
    return Fail(UnavailableError("AWS returned " + type + (message.empty() ? "" : ": " + message)));
  }
  auto results = doc.find("MetricDataResults");
  if (results == doc.end() || !results->is_array()) {
    return Fail(InvalidArgumentError("response has no MetricDataResults array"));
  }
  CloudWatchResult out;
  json arr = json::array();
  out.value_text = "[";
  for (const json& r : *results) {
    if (!r.is_object()) return Fail(InvalidArgumentError("MetricDataResult is not an object"));
    json o = json::object();
    o["Id"] = r.value("Id", std::string());
    o["Label"] = r.value("Label", std::string());
    json values = json::array();
    std::string text = "[";
    for (const json& v : r.value("Values", json::array())) {
      if (!v.is_number()) {
        return Fail(InvalidArgumentError("MetricDataResult value is not a number: " + Dump(v)));
      }
      if (text.size() > 1) text += ',';
      text += FormatGoFloat(v.get<double>());
      values.push_back(v.get<double>());
    }
    json stamps = json::array();
    for (const json& t : r.value("Timestamps", json::array())) {
      if (!t.is_number()) {
        return Fail(InvalidArgumentError("MetricDataResult timestamp is not a number: " + Dump(t)));
      }
      stamps.push_back(Rfc3339(t.get<double>()));
    }
    o["Values"] = std::move(values);
    o["Timestamps"] = std::move(stamps);
    o["StatusCode"] = r.value("StatusCode", std::string());
    json messages = json::array();
    for (const json& msg : r.value("Messages", json::array())) {
      messages.push_back({{"Code", msg.value("Code", std::string())},
                          {"Value", msg.value("Value", std::string())}});
    }
    o["Messages"] = std::move(messages);
    arr.push_back(std::move(o));
    if (out.value_text.size() > 1) out.value_text += ',';
    out.value_text += text + "]";
  }
  out.value_text += "]";
  if (doc.contains("Messages") && doc["Messages"].is_array() && !doc["Messages"].empty()) {
    out.messages = Dump(doc["Messages"]);
  }
  out.result = std::make_shared<const json>(std::move(arr));
  return out;
}

}  // namespace

CloudWatchOptions CloudWatchOptionsFromEnv(
    std::function<std::optional<std::string>(std::string_view name)> getenv) {
  auto get = [&](const char* name) -> std::string {
    if (getenv) return getenv(name).value_or("");
    const char* v = std::getenv(name);
    return v == nullptr ? "" : v;
  };
  CloudWatchOptions o;
  o.credentials.access_key_id = get("AWS_ACCESS_KEY_ID");
  o.credentials.secret_access_key = get("AWS_SECRET_ACCESS_KEY");
  o.credentials.session_token = get("AWS_SESSION_TOKEN");
  o.region = get("AWS_REGION");
  if (o.region.empty()) o.region = get("AWS_DEFAULT_REGION");
  return o;
}

StatusOr<CloudWatchResult> ParseCloudWatchResponse(std::string_view body) {
  ASSIGN_OR_RETURN(json doc, ParseJsonBody(body, "CloudWatch JSON"));
  try {
    return ParseJson(doc);
  } catch (const std::exception& e) {
    return Fail(InvalidArgumentError(std::string("cannot read response: ") + e.what()));
  }
}

std::unique_ptr<MetricProvider> NewCloudWatchProvider(HttpClient* http, CloudWatchOptions options) {
  return std::make_unique<CloudWatchProvider>(http, std::move(options));
}

}  // namespace ramp::metrics
