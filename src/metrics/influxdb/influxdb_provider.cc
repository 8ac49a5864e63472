#include "metrics/influxdb/influxdb_provider.h"

#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/common/provider_util.h"

namespace ramp::metrics {
namespace {

using json = nlohmann::json;

constexpr std::string_view kType = "influxdb";

// One CSV line split into fields (RFC 4180 quoting; quoted newlines are not supported).
std::vector<std::string> SplitCsv(std::string_view line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

StatusOr<json> TypedValue(const std::string& type, const std::string& text) {
  if (type == "double" || type == "long" || type == "unsignedLong") {
    if (text.empty()) return json(nullptr);
    char* end = nullptr;
    if (type == "double") {
      double d = std::strtod(text.c_str(), &end);
      if (end == text.c_str() + text.size()) return json(d);
    } else if (type == "long") {
      long long v = std::strtoll(text.c_str(), &end, 10);
      if (end == text.c_str() + text.size()) return json(v);
    } else {
      unsigned long long v = std::strtoull(text.c_str(), &end, 10);
      if (end == text.c_str() + text.size()) return json(v);
    }
    return Fail(InvalidArgumentError("influxdb _value \"" + text + "\" is not a " + type));
  }
  if (type == "boolean") {
    if (text == "true") return json(true);
    if (text == "false") return json(false);
    return Fail(InvalidArgumentError("influxdb _value \"" + text + "\" is not a boolean"));
  }
  return json(text);
}

std::string GoText(const json& v) {
  if (v.is_null()) return "<nil>";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return FormatGoFloat(v.get<double>());
  return v.dump();
}

struct Secrets {
  std::string token, org, address;
};

class InfluxDbProvider final : public OneShotProvider {
 public:
  InfluxDbProvider(HttpClient* http, InfluxDbOptions options)
      : http_(http), options_(std::move(options)) {}

  std::string_view Type() const override { return kType; }

  void Run(const RunContext& ctx, const MetricRef& metric, MeasurementCallback done) override {
    Measurement m;
    m.started_at = ctx.now;
    m.finished_at = ctx.now;
    std::vector<std::string> secrets = ctx.secrets;
    auto fail = [&](const std::string& message) {
      done(MeasurementUpdate::Error(std::move(m), Redact("influxdb: " + message, secrets)));
    };
    json j = json::parse(metric.provider_config_json, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return fail("configuration is not a JSON object");
    std::string profile, query;
    if (j.contains("profile") && j["profile"].is_string()) profile = j["profile"];
    if (j.contains("query") && j["query"].is_string()) query = j["query"];
    std::string secret = profile.empty() ? "influxdb" : profile;
    if (!options_.secret_lookup) {
      return fail("no source for Secret \"" + secret + "\" (authToken, org, address)");
    }
    Secrets s;
    for (auto [key, out] : {std::pair<const char*, std::string*>{"authToken", &s.token},
                            {"org", &s.org},
                            {"address", &s.address}}) {
      StatusOr<std::string> v = options_.secret_lookup(secret, key);
      if (!v) {
        return fail("cannot read key \"" + std::string(key) + "\" of Secret \"" + secret +
                    "\": " + v.error().message());
      }
      *out = *v;
    }
    if (!s.token.empty()) secrets.push_back(s.token);
    if (!IsHttpUrl(s.address)) {
      return fail("address of Secret \"" + secret + "\" is not in URL format: " + s.address);
    }
    while (s.address.ends_with('/')) s.address.pop_back();
    HttpRequest req;
    req.method = "POST";
    req.url = s.address + "/api/v2/query?org=" + QueryEscape(s.org);
    req.headers.emplace_back("Authorization", "Token " + s.token);
    req.headers.emplace_back("Content-Type", "application/vnd.flux");
    req.headers.emplace_back("Accept", "application/csv");
    req.body = query;
    req.timeout = std::chrono::seconds(30);
    http_->Send(std::move(req),
                [m = std::move(m), secrets = std::move(secrets), done = std::move(done)](
                    StatusOr<HttpResponse> r) mutable { done(Finish(std::move(m), r, secrets)); });
  }

 private:
  static MeasurementUpdate Finish(Measurement m, const StatusOr<HttpResponse>& response,
                                  const std::vector<std::string>& secrets) {
    auto error = [&](const std::string& message) {
      return MeasurementUpdate::Error(std::move(m), Redact("influxdb: " + message, secrets));
    };
    if (!response) return error(TransportErrorMessage(response.error()));
    if (response->status < 200 || response->status >= 300) {
      json j = json::parse(response->body, nullptr, false);
      if (j.is_object() && j.contains("message") && j["message"].is_string()) {
        return error("HTTP " + std::to_string(response->status) + ": " +
                     j["message"].get<std::string>());
      }
      return error("HTTP " + std::to_string(response->status) + ": " + BodyExcerpt(response->body));
    }
    StatusOr<InfluxDbResult> parsed = ParseInfluxDbResponse(response->body);
    if (!parsed) return error(parsed.error().message());
    m.value = parsed->value_text;
    return MeasurementUpdate::Value(std::move(m), std::move(parsed->result));
  }

  HttpClient* http_;
  InfluxDbOptions options_;
};

}  // namespace

StatusOr<InfluxDbResult> ParseInfluxDbResponse(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Fail(InvalidArgumentError("empty response body"));
  }
  if (LooksLikeHtml(body)) {
    return Fail(
        InvalidArgumentError("response is an HTML page, not InfluxDB CSV: " + BodyExcerpt(body)));
  }
  if (body[body.find_first_not_of(" \t\r\n")] == '{') {
    return Fail(InvalidArgumentError("response is JSON, not InfluxDB CSV: " + BodyExcerpt(body)));
  }
  json values = json::array();
  std::vector<std::string> types, header;
  int value_col = -1, error_col = -1;
  bool in_table = false;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t nl = body.find('\n', pos);
    std::string_view line = body.substr(pos, nl == std::string_view::npos ? body.npos : nl - pos);
    pos = nl == std::string_view::npos ? body.size() + 1 : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {  // a blank line ends a table
      in_table = false;
      types.clear();
      continue;
    }
    std::vector<std::string> fields = SplitCsv(line);
    if (!fields[0].empty() && fields[0][0] == '#') {
      if (fields[0] == "#datatype") types = fields;
      in_table = false;
      continue;
    }
    if (!in_table) {  // the header row
      header = fields;
      value_col = error_col = -1;
      for (size_t i = 0; i < header.size(); ++i) {
        if (header[i] == "_value") value_col = static_cast<int>(i);
        if (header[i] == "error") error_col = static_cast<int>(i);
      }
      if (value_col < 0 && error_col < 0) {
        return Fail(
            InvalidArgumentError("influxdb table has no _value column: " + BodyExcerpt(line)));
      }
      in_table = true;
      continue;
    }
    if (fields.size() != header.size()) {
      return Fail(InvalidArgumentError("influxdb CSV row has " + std::to_string(fields.size()) +
                                       " fields, header has " + std::to_string(header.size())));
    }
    if (value_col < 0) {
      return Fail(InvalidArgumentError("influxdb query error: " + fields[error_col]));
    }
    std::string type =
        static_cast<size_t>(value_col) < types.size() ? types[value_col] : std::string();
    ASSIGN_OR_RETURN(json v, TypedValue(type, fields[value_col]));
    values.push_back(std::move(v));
  }
  if (values.empty()) return Fail(InvalidArgumentError("no results returned from query"));
  InfluxDbResult out;
  out.value_text = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.value_text += ' ';
    out.value_text += GoText(values[i]);
  }
  out.value_text += "]";
  out.result = std::make_shared<const json>(std::move(values));
  return out;
}

std::unique_ptr<MetricProvider> NewInfluxDbProvider(HttpClient* http, InfluxDbOptions options) {
  return std::make_unique<InfluxDbProvider>(http, std::move(options));
}

}  // namespace ramp::metrics
