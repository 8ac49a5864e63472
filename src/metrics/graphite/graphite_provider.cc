#include "metrics/graphite/graphite_provider.h"

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/common/provider_util.h"

namespace ramp::metrics {
namespace {

using json = nlohmann::json;

constexpr std::string_view kType = "graphite";

// Go's fmt "%f": six decimals, "NaN", "+Inf", "-Inf".
std::string GoPercentF(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%f", v);
  return buf;
}

// A datapoint value: a number, a numeric string, or null (nullopt with *ok = true).
std::optional<double> PointValue(const json& v, bool* ok) {
  *ok = true;
  if (v.is_null()) return std::nullopt;
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    char* end = nullptr;
    double d = s.empty() ? 0 : std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size()) return d;
  }
  *ok = false;
  return std::nullopt;
}

StatusOr<GraphiteResult> ParseJson(const json& doc) {
  if (!doc.is_array()) {
    return Fail(InvalidArgumentError(
        "graphite response is not a JSON array of targets: " +
        BodyExcerpt(doc.dump(-1, ' ', false, json::error_handler_t::replace))));
  }
  std::vector<double> values;
  if (!doc.empty()) {
    const json& target = doc[0];
    if (!target.is_object()) {
      return Fail(InvalidArgumentError("graphite target is not an object"));
    }
    auto points = target.find("datapoints");
    if (points == target.end() || !points->is_array()) {
      return Fail(InvalidArgumentError("graphite target has no \"datapoints\" array"));
    }
    for (const json& p : *points) {
      if (!p.is_array() || p.size() != 2) {
        return Fail(InvalidArgumentError("graphite datapoint is not [value, timestamp]: " +
                                         BodyExcerpt(p.dump())));
      }
      bool ok = false;
      std::optional<double> v = PointValue(p[0], &ok);
      if (!ok) {
        return Fail(InvalidArgumentError("graphite datapoint value is not a number: " +
                                         BodyExcerpt(p[0].dump())));
      }
      if (v) values.push_back(*v);
    }
  }
  if (values.empty()) return Fail(InvalidArgumentError("no values found"));
  GraphiteResult out;
  json arr = json::array();
  out.value_text = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.value_text += ',';
    out.value_text += GoPercentF(values[i]);
    arr.push_back(values[i]);
  }
  out.value_text += "]";
  out.result = std::make_shared<const json>(std::move(arr));
  return out;
}

struct Config {
  std::string address;
  std::string query;
};

StatusOr<Config> ParseConfig(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Fail(InvalidArgumentError("graphite: configuration is not a JSON object"));
  }
  Config c;
  c.address = j.value("address", std::string());
  c.query = j.value("query", std::string());
  if (c.address.empty()) return Fail(InvalidArgumentError("graphite address is not configured"));
  if (!IsHttpUrl(c.address)) {
    return Fail(InvalidArgumentError("graphite address is not in URL format (http(s)://host): " +
                                     c.address));
  }
  while (c.address.ends_with('/')) c.address.pop_back();
  std::erase_if(c.query, [](char ch) { return std::isspace(static_cast<unsigned char>(ch)); });
  return c;
}

class GraphiteProvider final : public OneShotProvider {
 public:
  explicit GraphiteProvider(HttpClient* http) : http_(http) {}

  std::string_view Type() const override { return kType; }

  void Run(const RunContext& ctx, const MetricRef& metric, MeasurementCallback done) override {
    Measurement m;
    m.started_at = ctx.now;
    m.finished_at = ctx.now;
    StatusOr<Config> config;
    try {
      config = ParseConfig(metric.provider_config_json);
    } catch (const std::exception& e) {
      config = Fail(InvalidArgumentError(std::string("graphite: bad configuration: ") + e.what()));
    }
    if (!config) {
      done(MeasurementUpdate::Error(std::move(m), Redact(config.error().message(), ctx.secrets)));
      return;
    }
    HttpRequest req;
    req.method = "GET";
    req.url = config->address + "/render?" + config->query + "&format=json";
    req.timeout = std::chrono::seconds(10);
    http_->Send(std::move(req), [m = std::move(m), secrets = ctx.secrets,
                                 done = std::move(done)](StatusOr<HttpResponse> response) mutable {
      done(Finish(std::move(m), response, secrets));
    });
  }

 private:
  static MeasurementUpdate Finish(Measurement m, const StatusOr<HttpResponse>& response,
                                  const std::vector<std::string>& secrets) {
    auto error = [&](const std::string& message) {
      return MeasurementUpdate::Error(std::move(m), Redact("graphite: " + message, secrets));
    };
    if (!response) return error(TransportErrorMessage(response.error()));
    if (response->status >= 400) {
      return error("HTTP " + std::to_string(response->status) + ": " + BodyExcerpt(response->body));
    }
    StatusOr<GraphiteResult> parsed = ParseGraphiteResponse(response->body);
    if (!parsed) return error(parsed.error().message());
    m.value = parsed->value_text;
    return MeasurementUpdate::Value(std::move(m), std::move(parsed->result));
  }

  HttpClient* http_;
};

}  // namespace

StatusOr<GraphiteResult> ParseGraphiteResponse(std::string_view body) {
  ASSIGN_OR_RETURN(json doc, ParseJsonBody(body, "Graphite JSON"));
  try {
    return ParseJson(doc);
  } catch (const std::exception& e) {
    return Fail(InvalidArgumentError(std::string("cannot read response: ") + e.what()));
  }
}

std::unique_ptr<MetricProvider> NewGraphiteProvider(HttpClient* http) {
  return std::make_unique<GraphiteProvider>(http);
}

}  // namespace ramp::metrics
