#include "metrics/wavefront/wavefront_provider.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/common/provider_util.h"

namespace ramp::metrics {
namespace {

using json = nlohmann::json;

constexpr std::string_view kType = "wavefront";
constexpr std::string_view kSecret = "wavefront-api-tokens";

// Go's fmt "%.2f".
std::string Fixed2(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

StatusOr<WavefrontResult> ParseJson(const json& doc, int64_t now_s) {
  if (!doc.is_object()) {
    return Fail(InvalidArgumentError("wavefront response is not a JSON object"));
  }
  WavefrontResult out;
  auto warnings = doc.find("warnings");
  if (warnings != doc.end() && !warnings->is_null()) {
    out.warnings = warnings->is_string() ? warnings->get<std::string>() : warnings->dump();
  }
  auto series = doc.find("timeseries");
  if (series == doc.end() || series->is_null() || (series->is_array() && series->empty())) {
    return Fail(InvalidArgumentError("No TimeSeries found in response from Wavefront"));
  }
  if (!series->is_array()) {
    return Fail(InvalidArgumentError("wavefront \"timeseries\" is not an array"));
  }
  std::vector<double> values;
  for (const json& s : *series) {
    auto data = s.is_object() ? s.find("data") : s.end();
    if (!s.is_object() || data == s.end() || !data->is_array() || data->empty()) {
      return Fail(InvalidArgumentError("wavefront time series has no \"data\" points"));
    }
    bool found = false;
    double best_ts = 0, best_v = 0;
    for (const json& p : *data) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_number()) {
        return Fail(InvalidArgumentError("wavefront datapoint is not [timestamp, value]: " +
                                         BodyExcerpt(p.dump())));
      }
      double ts = p[0].get<double>();
      if (!found || std::fabs(ts - now_s) < std::fabs(best_ts - now_s)) {
        best_ts = ts;
        best_v = p[1].get<double>();
        found = true;
      }
    }
    if (!out.timestamps.empty()) {
      out.timestamps += ',';
      out.drift += ',';
    }
    out.timestamps += std::to_string(static_cast<int64_t>(best_ts));
    out.drift += std::to_string(static_cast<int64_t>(std::fabs(best_ts - now_s)));
    values.push_back(best_v);
  }
  if (values.size() == 1) {
    out.result = std::make_shared<const json>(values[0]);
    out.value_text = Fixed2(values[0]);
    return out;
  }
  json arr = json::array();
  out.value_text = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.value_text += ',';
    out.value_text += Fixed2(values[i]);
    arr.push_back(values[i]);
  }
  out.value_text += "]";
  out.result = std::make_shared<const json>(std::move(arr));
  return out;
}

class WavefrontProvider final : public OneShotProvider {
 public:
  WavefrontProvider(HttpClient* http, WavefrontOptions options)
      : http_(http), options_(std::move(options)) {}

  std::string_view Type() const override { return kType; }

  void Run(const RunContext& ctx, const MetricRef& metric, MeasurementCallback done) override {
    Measurement m;
    m.started_at = ctx.now;
    m.finished_at = ctx.now;
    std::vector<std::string> secrets = ctx.secrets;
    auto fail = [&](const std::string& message) {
      done(MeasurementUpdate::Error(std::move(m), Redact("wavefront: " + message, secrets)));
    };
    json j = json::parse(metric.provider_config_json, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return fail("configuration is not a JSON object");
    std::string address, query;
    if (j.contains("address") && j["address"].is_string()) address = j["address"];
    if (j.contains("query") && j["query"].is_string()) query = j["query"];
    if (address.empty()) return fail("address is not configured");
    if (!options_.secret_lookup) {
      return fail("API token not found: no source for Secret \"" + std::string(kSecret) + "\"");
    }
    StatusOr<std::string> token = options_.secret_lookup(kSecret, address);
    if (!token || token->empty()) {
      return fail("API token not found: cannot read key \"" + address + "\" of Secret \"" +
                  std::string(kSecret) + "\"" + (token ? "" : ": " + token.error().message()));
    }
    secrets.push_back(*token);
    std::string base = IsHttpUrl(address) ? address : "https://" + address;
    while (base.ends_with('/')) base.pop_back();
    int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(ctx.now.time_since_epoch()).count();
    HttpRequest req;
    req.method = "GET";
    req.url = base + "/api/v2/chart/api?q=" + QueryEscape(query) + "&s=" + std::to_string(now_ms) +
              "&e=" + std::to_string(now_ms) + "&g=s&p=1&i=true";
    req.headers.emplace_back("Authorization", "Bearer " + *token);
    req.headers.emplace_back("Accept", "application/json");
    int64_t now_s = now_ms / 1000;
    http_->Send(std::move(req), [m = std::move(m), secrets = std::move(secrets), now_s,
                                 done = std::move(done)](StatusOr<HttpResponse> r) mutable {
      done(Finish(std::move(m), r, secrets, now_s));
    });
  }

 private:
  static MeasurementUpdate Finish(Measurement m, const StatusOr<HttpResponse>& response,
                                  const std::vector<std::string>& secrets, int64_t now_s) {
    auto error = [&](const std::string& message) {
      return MeasurementUpdate::Error(std::move(m), Redact("wavefront: " + message, secrets));
    };
    if (!response) return error(TransportErrorMessage(response.error()));
    if (response->status < 200 || response->status >= 300) {
      return error("HTTP " + std::to_string(response->status) + ": " + BodyExcerpt(response->body));
    }
    StatusOr<WavefrontResult> parsed = ParseWavefrontResponse(response->body, now_s);
    if (!parsed) return error(parsed.error().message());
    m.value = parsed->value_text;
    m.metadata["timestamps"] = parsed->timestamps;
    m.metadata["drift"] = parsed->drift;
    if (!parsed->warnings.empty()) m.metadata["warnings"] = parsed->warnings;
    RedactAll(&m.metadata, secrets);
    return MeasurementUpdate::Value(std::move(m), std::move(parsed->result));
  }

  HttpClient* http_;
  WavefrontOptions options_;
};

}  // namespace

StatusOr<WavefrontResult> ParseWavefrontResponse(std::string_view body, int64_t now_seconds) {
  ASSIGN_OR_RETURN(json doc, ParseJsonBody(body, "Wavefront JSON"));
  try {
    return ParseJson(doc, now_seconds);
  } catch (const std::exception& e) {
    return Fail(InvalidArgumentError(std::string("cannot read response: ") + e.what()));
  }
}

std::unique_ptr<MetricProvider> NewWavefrontProvider(HttpClient* http, WavefrontOptions options) {
  return std::make_unique<WavefrontProvider>(http, std::move(options));
}

}  // namespace ramp::metrics
