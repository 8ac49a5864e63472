#include "metrics/newrelic/newrelic_provider.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/common/provider_util.h"

namespace ramp::metrics {
namespace {

using json = nlohmann::json;

constexpr std::string_view kType = "newrelic";
constexpr std::string_view kUsEndpoint = "https://api.newrelic.com/graphql";
constexpr std::string_view kEuEndpoint = "https://api.eu.newrelic.com/graphql";
// newrelic-client-go's HTTP timeout.
constexpr auto kHttpTimeout = std::chrono::seconds(60);

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

struct Config {
  std::string secret = "newrelic";
  std::string query;
  int64_t timeout = 5;
};

StatusOr<Config> ParseConfig(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Fail(InvalidArgumentError("newrelic: configuration is not a JSON object"));
  }
  Config c;
  std::string profile = j.value("profile", std::string());
  if (!profile.empty()) c.secret = profile;
  c.query = j.value("query", std::string());
  if (c.query.empty()) return Fail(InvalidArgumentError("newrelic query is empty"));
  if (j.contains("timeout")) {
    if (!j["timeout"].is_number_integer() || j["timeout"].get<int64_t>() < 0) {
      return Fail(InvalidArgumentError("newrelic timeout must be a non-negative integer"));
    }
    if (j["timeout"].get<int64_t>() > 0) c.timeout = j["timeout"].get<int64_t>();
  }
  return c;
}

class NewRelicProvider final : public OneShotProvider {
 public:
  NewRelicProvider(HttpClient* http, NewRelicOptions options)
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
      config = Fail(InvalidArgumentError(std::string("newrelic: bad configuration: ") + e.what()));
    }
    if (!config) return fail(config.error());
    StatusOr<std::string> key = Read(config->secret, "personal-api-key", true);
    if (!key) return fail(key.error());
    secrets.push_back(*key);
    StatusOr<std::string> account = Read(config->secret, "account-id", true);
    if (!account) return fail(account.error());
    if (account->find_first_not_of("0123456789") != std::string::npos) {
      return fail(InvalidArgumentError("newrelic: key \"account-id\" of Secret \"" +
                                       config->secret + "\" is not a number"));
    }
    StatusOr<std::string> endpoint = Read(config->secret, "base-url-nerdgraph", false);
    if (!endpoint) return fail(endpoint.error());
    if (endpoint->empty()) {
      StatusOr<std::string> region = Read(config->secret, "region", false);
      if (!region) return fail(region.error());
      if (region->empty() || *region == "us" || *region == "US") {
        *endpoint = std::string(kUsEndpoint);
      } else if (*region == "eu" || *region == "EU") {
        *endpoint = std::string(kEuEndpoint);
      } else {
        return fail(InvalidArgumentError("newrelic: key \"region\" of Secret \"" + config->secret +
                                         "\" must be us or eu, not \"" + *region + "\""));
      }
    }
    std::string graphql = "{ actor { account(id: " + *account +
                          ") { nrql(query: " + GraphQLString(config->query) +
                          ", timeout: " + std::to_string(config->timeout) + ") { results } } } }";
    HttpRequest req;
    req.method = "POST";
    req.url = *endpoint;
    req.headers.emplace_back("API-Key", *key);
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = json{{"query", graphql}}.dump();
    req.timeout = kHttpTimeout;
    http_->Send(std::move(req), [base = std::move(base), secrets = std::move(secrets),
                                 done = std::move(done)](StatusOr<HttpResponse> r) mutable {
      done(Finish(std::move(base), r, secrets));
    });
  }

 private:
  StatusOr<std::string> Read(const std::string& secret, std::string_view key, bool required) const {
    StatusOr<std::string> v =
        options_.lookup_secret
            ? options_.lookup_secret(secret, key)
            : StatusOr<std::string>(Fail(FailedPreconditionError("no secret source configured")));
    if (!v) {
      if (!required) return std::string();
      return Fail(FailedPreconditionError("newrelic: cannot read key \"" + std::string(key) +
                                          "\" of Secret \"" + secret +
                                          "\": " + v.error().message()));
    }
    if (required && v->empty()) {
      return Fail(FailedPreconditionError("newrelic: key \"" + std::string(key) +
                                          "\" of Secret \"" + secret + "\" is empty"));
    }
    return v;
  }

  static MeasurementUpdate Finish(Measurement m, const StatusOr<HttpResponse>& response,
                                  const std::vector<std::string>& secrets) {
    auto error = [&](const std::string& message) {
      return MeasurementUpdate::Error(std::move(m), Redact("newrelic: " + message, secrets));
    };
    if (!response) return error(TransportErrorMessage(response.error()));
    StatusOr<MetricValue> parsed = ParseNewRelicResponse(response->body);
    if (response->status < 200 || response->status >= 300) {
      if (!parsed && parsed.error().code() == StatusCode::kUnavailable) {
        return error("HTTP " + std::to_string(response->status) + ": " + parsed.error().message());
      }
      return error("HTTP " + std::to_string(response->status) + ": " + BodyExcerpt(response->body));
    }
    if (!parsed) return error(parsed.error().message());
    m.value = Dump(**parsed);
    return MeasurementUpdate::Value(std::move(m), std::move(*parsed));
  }

  HttpClient* http_;
  NewRelicOptions options_;
};

}  // namespace

std::string GraphQLString(std::string_view text) {
  std::string out = "\"";
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04X", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

StatusOr<MetricValue> ParseNewRelicResponse(std::string_view body) {
  ASSIGN_OR_RETURN(json doc, ParseJsonBody(body, "NerdGraph JSON"));
  try {
    if (!doc.is_object()) {
      return Fail(InvalidArgumentError("response is not a JSON object: " + BodyExcerpt(body)));
    }
    auto errors = doc.find("errors");
    if (errors != doc.end() && errors->is_array() && !errors->empty()) {
      std::string out;
      for (const json& e : *errors) {
        if (!out.empty()) out += "; ";
        out += e.is_object() && e.contains("message") && e["message"].is_string()
                   ? e["message"].get<std::string>()
                   : Dump(e);
      }
      return Fail(UnavailableError("NerdGraph returned errors: " + out));
    }
    const json* results = &doc;
    for (const char* key : {"data", "actor", "account", "nrql", "results"}) {
      if (!results->is_object() || !results->contains(key)) {
        return Fail(InvalidArgumentError(std::string("response has no data.actor.account.nrql."
                                                     "results (missing \"") +
                                         key + "\"): " + BodyExcerpt(body)));
      }
      results = &(*results)[key];
    }
    if (!results->is_array()) {
      return Fail(InvalidArgumentError("nrql results is not an array: " + BodyExcerpt(body)));
    }
    if (results->empty()) return Fail(InvalidArgumentError("no results returned from NRQL query"));
    if (results->size() == 1) return std::make_shared<const json>((*results)[0]);
    return std::make_shared<const json>(*results);
  } catch (const std::exception& e) {
    return Fail(InvalidArgumentError(std::string("cannot read response: ") + e.what()));
  }
}

std::unique_ptr<MetricProvider> NewNewRelicProvider(HttpClient* http, NewRelicOptions options) {
  return std::make_unique<NewRelicProvider>(http, std::move(options));
}

}  // namespace ramp::metrics
