#include "metrics/datadog/datadog_provider.h"

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/common/provider_util.h"
#include "spec/common.h"

namespace ramp::metrics {
namespace {

using json = nlohmann::json;

constexpr std::string_view kType = "datadog";
constexpr std::string_view kDefaultAddress = "https://api.datadoghq.com";
constexpr size_t kMaxGroups = 100;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Datadog's own error answer: {"errors": ["…"]} or {"error": "…"}; empty if none.
std::string DatadogError(const json& doc) {
  if (!doc.is_object()) return "";
  auto errors = doc.find("errors");
  if (errors != doc.end() && errors->is_array() && !errors->empty()) {
    std::string out;
    for (const json& e : *errors) {
      if (!out.empty()) out += "; ";
      out += e.is_string() ? e.get<std::string>() : Dump(e);
    }
    return out;
  }
  auto error = doc.find("error");
  if (error != doc.end() && error->is_string() && !error->get<std::string>().empty()) {
    return error->get<std::string>();
  }
  return "";
}

StatusOr<json> ParseBody(std::string_view body) {
  ASSIGN_OR_RETURN(json doc, ParseJsonBody(body, "Datadog JSON"));
  if (!doc.is_object()) {
    return Fail(InvalidArgumentError("response is not a JSON object: " + BodyExcerpt(body)));
  }
  std::string error = DatadogError(doc);
  if (!error.empty()) return Fail(UnavailableError("datadog returned an error: " + error));
  return doc;
}

// A null result; `value` is Argo's text for it (v1: the JSON of the series).
DatadogResult NoData(std::string value_text = "[]") {
  return DatadogResult{std::make_shared<const json>(nullptr), std::move(value_text), ""};
}

StatusOr<DatadogResult> V1(const json& doc) {
  if (doc.contains("status") && doc["status"].is_string() && doc["status"] != "ok") {
    return Fail(
        UnavailableError("datadog returned status \"" + doc["status"].get<std::string>() + "\""));
  }
  auto series = doc.find("series");
  if (series == doc.end() || series->is_null()) return NoData("null");
  if (!series->is_array()) return Fail(InvalidArgumentError("datadog \"series\" is not an array"));
  if (series->empty()) return NoData();
  const json& first = (*series)[0];
  if (!first.is_object()) return Fail(InvalidArgumentError("datadog series is not an object"));
  auto points = first.find("pointlist");
  if (points == first.end() || points->is_null()) return NoData(Dump(*series));
  if (!points->is_array()) {
    return Fail(InvalidArgumentError("datadog series \"pointlist\" is not an array"));
  }
  if (points->empty()) return NoData(Dump(*series));
  const json& last = points->back();
  if (!last.is_array() || last.size() != 2) {
    return Fail(InvalidArgumentError("datadog point is not [time, value]: " + Dump(last)));
  }
  if (last[1].is_null()) return NoData();
  if (!last[1].is_number()) {
    return Fail(InvalidArgumentError("datadog point value is not a number: " + Dump(last[1])));
  }
  double v = last[1].get<double>();
  return DatadogResult{std::make_shared<const json>(v), FormatGoFloat(v), ""};
}

StatusOr<DatadogResult> V2(const json& doc) {
  auto data = doc.find("data");
  if (data == doc.end() || !data->is_object()) {
    return Fail(InvalidArgumentError("datadog response has no \"data\" object"));
  }
  auto attributes = data->find("attributes");
  if (attributes == data->end() || !attributes->is_object()) {
    return Fail(InvalidArgumentError("datadog response has no data.attributes object"));
  }
  auto columns = attributes->find("columns");
  if (columns == attributes->end() || columns->is_null()) return NoData();
  if (!columns->is_array()) {
    return Fail(InvalidArgumentError("datadog data.attributes.columns is not an array"));
  }
  const json* numbers = nullptr;
  const json* groups = nullptr;
  for (const json& c : *columns) {
    if (!c.is_object()) return Fail(InvalidArgumentError("datadog column is not an object"));
    std::string type = c.value("type", std::string());
    if (type == "number" && numbers == nullptr) numbers = &c;
    if (type == "group" && groups == nullptr) groups = &c;
  }
  if (numbers == nullptr) return NoData();
  auto values = numbers->find("values");
  if (values == numbers->end() || values->is_null()) return NoData();
  if (!values->is_array()) {
    return Fail(InvalidArgumentError("datadog number column \"values\" is not an array"));
  }
  const json* group_values = nullptr;
  if (groups != nullptr && groups->contains("values") && (*groups)["values"].is_array()) {
    group_values = &(*groups)["values"];
  }
  std::vector<double> kept;
  json kept_groups = json::array();
  for (size_t i = 0; i < values->size(); ++i) {
    const json& v = (*values)[i];
    if (v.is_null()) continue;  // a group or query without data
    if (!v.is_number()) {
      return Fail(InvalidArgumentError("datadog column value is not a number: " + Dump(v)));
    }
    kept.push_back(v.get<double>());
    if (group_values != nullptr && kept_groups.size() < kMaxGroups) {
      kept_groups.push_back(i < group_values->size() ? (*group_values)[i] : json(nullptr));
    }
  }
  if (kept.empty()) return NoData();
  if (groups == nullptr) {
    return DatadogResult{std::make_shared<const json>(kept[0]), FormatGoFloat(kept[0]), ""};
  }
  json arr = json::array();
  std::string text = "[";
  for (size_t i = 0; i < kept.size(); ++i) {
    arr.push_back(kept[i]);
    if (i > 0) text += ',';
    text += FormatGoFloat(kept[i]);
  }
  return DatadogResult{std::make_shared<const json>(std::move(arr)), text + "]", Dump(kept_groups)};
}

struct Config {
  std::string api_version = "v1";
  std::string query;
  std::map<std::string, std::string> queries;
  std::string formula;
  std::string aggregator = "last";
  std::string secret_name;
  int64_t interval_ns = 5LL * 60 * 1'000'000'000;
  Duration timeout = std::chrono::seconds(10);
};

StatusOr<int64_t> DurationField(const json& j, const char* name, int64_t fallback) {
  if (!j.contains(name)) return fallback;
  if (!j[name].is_string()) {
    return Fail(InvalidArgumentError(std::string("datadog ") + name + " is not a duration string"));
  }
  std::string text = j[name].get<std::string>();
  if (text.empty()) return fallback;
  std::optional<int64_t> d = spec::ParseGoDuration(text);
  if (!d || *d <= 0) {
    return Fail(InvalidArgumentError(std::string("datadog ") + name +
                                     " is not a positive duration: \"" + text + "\""));
  }
  return *d;
}

StatusOr<Config> ParseConfig(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Fail(InvalidArgumentError("datadog: configuration is not a JSON object"));
  }
  Config c;
  std::string version = j.value("apiVersion", std::string());
  if (!version.empty()) c.api_version = version;
  if (c.api_version != "v1" && c.api_version != "v2") {
    return Fail(
        InvalidArgumentError("datadog apiVersion must be v1 or v2, got \"" + c.api_version + "\""));
  }
  c.query = j.value("query", std::string());
  if (j.contains("queries") && j["queries"].is_object()) {
    for (const auto& [k, v] : j["queries"].items()) {
      if (v.is_string()) c.queries[k] = v.get<std::string>();
    }
  }
  c.formula = j.value("formula", std::string());
  std::string aggregator = j.value("aggregator", std::string());
  if (!aggregator.empty()) c.aggregator = aggregator;
  static const char* const kAggregators[] = {"avg",        "min",  "max",    "sum", "last",
                                             "percentile", "mean", "l2norm", "area"};
  bool known = false;
  for (const char* a : kAggregators) known = known || c.aggregator == a;
  if (!known) {
    return Fail(InvalidArgumentError("datadog aggregator \"" + c.aggregator +
                                     "\" is not one of avg, min, max, sum, last, percentile, "
                                     "mean, l2norm, area"));
  }
  if (j.contains("secretRef") && j["secretRef"].is_object()) {
    c.secret_name = j["secretRef"].value("name", std::string());
  }
  ASSIGN_OR_RETURN(c.interval_ns, DurationField(j, "interval", c.interval_ns));
  ASSIGN_OR_RETURN(int64_t timeout_ns, DurationField(j, "requestTimeout", 10'000'000'000LL));
  c.timeout = std::chrono::duration_cast<Duration>(std::chrono::nanoseconds(timeout_ns));
  if (c.api_version == "v1") {
    if (c.query.empty()) return Fail(InvalidArgumentError("datadog v1 needs a query"));
    if (!c.queries.empty()) {
      return Fail(InvalidArgumentError("datadog queries and formula need apiVersion v2"));
    }
  } else {
    if (!c.query.empty() && !c.queries.empty()) {
      return Fail(InvalidArgumentError("datadog: set either query or queries, not both"));
    }
    if (c.query.empty() && c.queries.empty()) {
      return Fail(InvalidArgumentError("datadog v2 needs a query or queries"));
    }
    if (!c.query.empty()) c.queries["query"] = c.query;
    if (c.queries.size() > 1 && c.formula.empty()) {
      return Fail(InvalidArgumentError("datadog: more than one query needs a formula"));
    }
  }
  return c;
}

struct Credentials {
  std::string address;
  std::string api_key;
  std::string app_key;
};

class DatadogProvider final : public OneShotProvider {
 public:
  DatadogProvider(HttpClient* http, DatadogOptions options)
      : http_(http), options_(std::move(options)) {}

  std::string_view Type() const override { return kType; }

  void Run(const RunContext& ctx, const MetricRef& metric, MeasurementCallback done) override {
    Measurement base;
    base.started_at = ctx.now;
    base.finished_at = ctx.now;
    std::vector<std::string> secrets = ctx.secrets;
    auto fail = [&](const Status& s) {
      done(MeasurementUpdate::Error(base, Redact(s.message(), secrets)));
    };
    StatusOr<Config> config;
    try {
      config = ParseConfig(metric.provider_config_json);
    } catch (const std::exception& e) {
      config = Fail(InvalidArgumentError(std::string("datadog: bad configuration: ") + e.what()));
    }
    if (!config) return fail(config.error());
    StatusOr<Credentials> creds = ReadCredentials(config->secret_name);
    if (!creds) return fail(creds.error());
    secrets.push_back(creds->api_key);
    secrets.push_back(creds->app_key);

    int64_t now_ns = ctx.now.time_since_epoch().count();
    int64_t from_ns = now_ns - config->interval_ns;
    HttpRequest req;
    std::string address = creds->address;
    while (address.ends_with('/')) address.pop_back();
    if (config->api_version == "v1") {
      req.method = "GET";
      req.url = address + "/api/v1/query?from=" + std::to_string(from_ns / 1'000'000'000) +
                "&query=" + QueryEscape(config->query) +
                "&to=" + std::to_string(now_ns / 1'000'000'000);
    } else {
      json queries = json::array();
      for (const auto& [name, q] : config->queries) {
        queries.push_back({{"aggregator", config->aggregator},
                           {"data_source", "metrics"},
                           {"name", name},
                           {"query", q}});
      }
      json attributes = {{"from", from_ns / 1'000'000},
                         {"to", now_ns / 1'000'000},
                         {"queries", std::move(queries)}};
      if (!config->formula.empty()) {
        attributes["formulas"] = json::array({{{"formula", config->formula}}});
      }
      json body = {{"data", {{"type", "scalar_request"}, {"attributes", std::move(attributes)}}}};
      req.method = "POST";
      req.url = address + "/api/v2/query/scalar";
      req.body = body.dump();
    }
    req.headers.emplace_back("DD-API-KEY", creds->api_key);
    req.headers.emplace_back("DD-APPLICATION-KEY", creds->app_key);
    req.headers.emplace_back("Content-Type", "application/json");
    req.timeout = config->timeout;
    bool v2 = config->api_version == "v2";
    http_->Send(std::move(req), [base = std::move(base), secrets = std::move(secrets),
                                 done = std::move(done), v2](StatusOr<HttpResponse> r) mutable {
      done(Finish(std::move(base), r, v2, secrets));
    });
  }

 private:
  std::optional<std::string> GetEnv(std::string_view name) const {
    if (options_.getenv) return options_.getenv(name);
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  }

  StatusOr<Credentials> FromSecret(const std::string& secret) const {
    if (!options_.lookup_secret) {
      return Fail(FailedPreconditionError("datadog: cannot read Secret \"" + secret +
                                          "\": no secret source configured"));
    }
    Credentials c;
    for (auto [key, out] : {std::pair<const char*, std::string*>{"api-key", &c.api_key},
                            std::pair<const char*, std::string*>{"app-key", &c.app_key}}) {
      StatusOr<std::string> v = options_.lookup_secret(secret, key);
      if (!v) {
        return Fail(FailedPreconditionError("datadog: cannot read key \"" + std::string(key) +
                                            "\" of Secret \"" + secret +
                                            "\": " + v.error().message()));
      }
      if (v->empty()) {
        return Fail(FailedPreconditionError("datadog: key \"" + std::string(key) +
                                            "\" of Secret \"" + secret + "\" is empty"));
      }
      *out = std::move(*v);
    }
    StatusOr<std::string> address = options_.lookup_secret(secret, "address");
    c.address = address && !address->empty() ? *address : std::string(kDefaultAddress);
    return c;
  }

  StatusOr<Credentials> ReadCredentials(const std::string& secret_name) const {
    if (!secret_name.empty()) return FromSecret(secret_name);
    std::optional<std::string> api = GetEnv("DD_API_KEY");
    std::optional<std::string> app = GetEnv("DD_APP_KEY");
    std::optional<std::string> address = GetEnv("DD_ADDRESS");
    if (api && app && address && !api->empty() && !app->empty() && !address->empty()) {
      return Credentials{*address, *api, *app};
    }
    return FromSecret("datadog");
  }

  static MeasurementUpdate Finish(Measurement m, const StatusOr<HttpResponse>& response, bool v2,
                                  const std::vector<std::string>& secrets) {
    auto error = [&](const std::string& message) {
      return MeasurementUpdate::Error(std::move(m), Redact("datadog: " + message, secrets));
    };
    if (!response) return error(TransportErrorMessage(response.error()));
    StatusOr<DatadogResult> parsed =
        v2 ? ParseDatadogV2Response(response->body) : ParseDatadogV1Response(response->body);
    if (response->status < 200 || response->status >= 300) {
      if (!parsed && parsed.error().code() == StatusCode::kUnavailable) {
        return error("HTTP " + std::to_string(response->status) + ": " + parsed.error().message());
      }
      return error("HTTP " + std::to_string(response->status) + ": " + BodyExcerpt(response->body));
    }
    if (!parsed) return error(parsed.error().message());
    m.value = parsed->value_text;
    if (!parsed->groups.empty()) m.metadata["groups"] = parsed->groups;
    RedactAll(&m.metadata, secrets);
    return MeasurementUpdate::Value(std::move(m), std::move(parsed->result));
  }

  HttpClient* http_;
  DatadogOptions options_;
};

template <typename F>
StatusOr<DatadogResult> Parse(std::string_view body, F shape) {
  try {
    ASSIGN_OR_RETURN(json doc, ParseBody(body));
    return shape(doc);
  } catch (const std::exception& e) {
    return Fail(InvalidArgumentError(std::string("cannot read response: ") + e.what()));
  }
}

}  // namespace

StatusOr<DatadogResult> ParseDatadogV1Response(std::string_view body) { return Parse(body, V1); }

StatusOr<DatadogResult> ParseDatadogV2Response(std::string_view body) { return Parse(body, V2); }

std::unique_ptr<MetricProvider> NewDatadogProvider(HttpClient* http, DatadogOptions options) {
  return std::make_unique<DatadogProvider>(http, std::move(options));
}

}  // namespace ramp::metrics
