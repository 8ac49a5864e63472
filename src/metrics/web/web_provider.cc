#include "metrics/web/web_provider.h"

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/common/oauth2.h"
#include "metrics/common/provider_util.h"

namespace ramp::metrics {
namespace {

using json = nlohmann::json;

constexpr std::string_view kType = "web";

using PathStep = std::variant<std::string, size_t>;

StatusOr<std::vector<PathStep>> ParsePath(std::string_view path) {
  auto unsupported = [&](std::string_view why) {
    return Fail(InvalidArgumentError("unsupported jsonPath \"" + std::string(path) + "\" (" +
                                     std::string(why) +
                                     "); supported: {$}, {$.a.b}, {$.a[0].b}, {$['a']}"));
  };
  std::string_view p = path;
  if (p.empty()) p = "{$}";
  if (!p.starts_with('{') || !p.ends_with('}')) return unsupported("must be wrapped in { }");
  p = p.substr(1, p.size() - 2);
  if (p.starts_with('$')) p.remove_prefix(1);
  std::vector<PathStep> steps;
  while (!p.empty()) {
    if (p[0] == '.') {
      p.remove_prefix(1);
      size_t n = 0;
      while (n < p.size() && p[n] != '.' && p[n] != '[') ++n;
      std::string_view key = p.substr(0, n);
      if (key.empty()) return unsupported("empty field name");
      for (char c : key) {
        if (c == '*' || c == '?' || c == '(' || c == ' ' || c == '@') {
          return unsupported("wildcards, filters and ranges are not supported");
        }
      }
      steps.emplace_back(std::string(key));
      p.remove_prefix(n);
    } else if (p[0] == '[') {
      size_t close = p.find(']');
      if (close == std::string_view::npos) return unsupported("unclosed [");
      std::string_view inner = p.substr(1, close - 1);
      if (inner.size() >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner.back() == inner[0]) {
        steps.emplace_back(std::string(inner.substr(1, inner.size() - 2)));
      } else {
        if (inner.empty() || inner.size() > 9) return unsupported("bad index");
        size_t index = 0;
        for (char c : inner) {
          if (c < '0' || c > '9') return unsupported("only non-negative indexes");
          index = index * 10 + static_cast<size_t>(c - '0');
        }
        steps.emplace_back(index);
      }
      p.remove_prefix(close + 1);
    } else {
      return unsupported("expected . or [");
    }
  }
  return steps;
}

std::string PathText(const std::vector<PathStep>& steps, size_t upto) {
  std::string out = "$";
  for (size_t i = 0; i < upto && i < steps.size(); ++i) {
    if (const auto* key = std::get_if<std::string>(&steps[i])) {
      out += "." + *key;
    } else {
      out += "[" + std::to_string(std::get<size_t>(steps[i])) + "]";
    }
  }
  return out;
}

struct Config {
  std::string method = "GET";
  std::string url;
  HttpHeaders headers;
  std::string body;
  Duration timeout = std::chrono::seconds(10);
  std::string json_path;
  bool insecure = false;
  std::optional<OAuth2Config> oauth2;
};

StatusOr<Config> ParseConfig(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Fail(InvalidArgumentError("web: configuration is not a JSON object"));
  }
  Config c;
  std::string method = j.value("method", std::string());
  if (!method.empty()) c.method = method;
  if (c.method != "GET" && c.method != "POST" && c.method != "PUT") {
    return Fail(InvalidArgumentError("web: method must be GET, POST or PUT, not " + c.method));
  }
  c.url = j.value("url", std::string());
  if (!IsHttpUrl(c.url)) {
    return Fail(InvalidArgumentError("web: url is not an http(s) URL: \"" + c.url + "\""));
  }
  if (j.contains("headers") && j["headers"].is_array()) {
    for (const json& h : j["headers"]) {
      c.headers.emplace_back(h.value("key", std::string()), h.value("value", std::string()));
    }
  }
  if (j.contains("timeoutSeconds") && j["timeoutSeconds"].is_number_integer() &&
      j["timeoutSeconds"].get<int64_t>() > 0) {
    c.timeout = std::chrono::seconds(j["timeoutSeconds"].get<int64_t>());
  }
  c.json_path = j.value("jsonPath", std::string());
  c.insecure = j.value("insecure", false);
  if (j.contains("authentication")) {
    StatusOr<std::optional<OAuth2Config>> oauth2 = ParseOAuth2(j["authentication"]);
    if (!oauth2) return Fail(oauth2.error().WithPrefix("web"));
    c.oauth2 = std::move(*oauth2);
  }
  if (c.method != "GET") {
    if (j.contains("jsonBody") && !j["jsonBody"].is_null()) {
      c.body = j["jsonBody"].dump();
      if (!FindHeader(c.headers, "Content-Type")) {
        c.headers.emplace_back("Content-Type", "application/json");
      }
    } else {
      c.body = j.value("body", std::string());
    }
  }
  return c;
}

class WebProvider final : public OneShotProvider {
 public:
  explicit WebProvider(HttpClient* http) : http_(http), tokens_(http) {}

  std::string_view Type() const override { return kType; }

  void Run(const RunContext& ctx, const MetricRef& metric, MeasurementCallback done) override {
    Measurement base;
    base.started_at = ctx.now;
    base.finished_at = ctx.now;
    StatusOr<Config> config;
    try {
      config = ParseConfig(metric.provider_config_json);
      if (config) {
        auto path = ParsePath(config->json_path);
        if (!path) config = Fail(path.error().WithPrefix("web"));
      }
    } catch (const std::exception& e) {
      config = Fail(InvalidArgumentError(std::string("web: bad configuration: ") + e.what()));
    }
    if (!config) {
      done(
          MeasurementUpdate::Error(std::move(base), Redact(config.error().message(), ctx.secrets)));
      return;
    }
    HttpRequest req;
    req.method = config->method;
    req.url = config->url;
    req.headers = config->headers;
    req.body = config->body;
    req.timeout = config->timeout;
    req.insecure_skip_verify = config->insecure;
    std::vector<std::string> secrets = ctx.secrets;
    auto send = [this, path = config->json_path](HttpRequest req, Measurement base,
                                                 std::vector<std::string> secrets,
                                                 MeasurementCallback done) {
      http_->Send(std::move(req), [base = std::move(base), secrets = std::move(secrets), path,
                                   done = std::move(done)](StatusOr<HttpResponse> r) mutable {
        done(Finish(std::move(base), r, path, secrets));
      });
    };
    if (!config->oauth2) {
      send(std::move(req), std::move(base), std::move(secrets), std::move(done));
      return;
    }
    secrets.push_back(config->oauth2->client_secret);
    tokens_.Authorization(
        *config->oauth2, ctx.now, config->timeout, config->insecure,
        [send, req = std::move(req), base = std::move(base), secrets = std::move(secrets),
         done = std::move(done)](StatusOr<std::string> authorization) mutable {
          if (!authorization) {
            done(MeasurementUpdate::Error(
                std::move(base), Redact("web: " + authorization.error().message(), secrets)));
            return;
          }
          req.headers.emplace_back("Authorization", *authorization);
          send(std::move(req), std::move(base), std::move(secrets), std::move(done));
        });
  }

 private:
  static MeasurementUpdate Finish(Measurement m, const StatusOr<HttpResponse>& response,
                                  const std::string& path,
                                  const std::vector<std::string>& secrets) {
    auto error = [&](const std::string& message) {
      return MeasurementUpdate::Error(std::move(m), Redact("web: " + message, secrets));
    };
    if (!response) return error(TransportErrorMessage(response.error()));
    if (response->status < 200 || response->status >= 300) {
      return error("received non 2xx response code: " + std::to_string(response->status) + ": " +
                   BodyExcerpt(response->body));
    }
    StatusOr<WebResult> parsed = ParseWebResponse(response->body, path);
    if (!parsed) return error(parsed.error().message());
    m.value = parsed->value_text;
    return MeasurementUpdate::Value(std::move(m), std::move(parsed->result));
  }

  HttpClient* http_;
  OAuth2Tokens tokens_;
};

}  // namespace

StatusOr<WebResult> ParseWebResponse(std::string_view body, std::string_view json_path) {
  try {
    ASSIGN_OR_RETURN(std::vector<PathStep> steps, ParsePath(json_path));
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
      return Fail(InvalidArgumentError("empty response body"));
    }
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded()) {
      // An HTML page (a proxy's error or login page) is no metric; Argo would hand it to the
      // conditions as text.
      if (LooksLikeHtml(body)) {
        return Fail(InvalidArgumentError("the response is an HTML page, not a metric: " +
                                         BodyExcerpt(body, 120)));
      }
      // Other text: the raw text is the result, as in Argo.
      return WebResult{std::make_shared<const json>(std::string(body)), std::string(body)};
    }
    const json* node = &doc;
    for (size_t i = 0; i < steps.size(); ++i) {
      const json* next = nullptr;
      if (const auto* key = std::get_if<std::string>(&steps[i])) {
        if (node->is_object()) {
          auto it = node->find(*key);
          if (it != node->end()) next = &*it;
        }
      } else {
        size_t index = std::get<size_t>(steps[i]);
        if (node->is_array() && index < node->size()) next = &(*node)[index];
      }
      if (next == nullptr) {
        return Fail(NotFoundError("Could not find JSONPath in body: " + PathText(steps, i + 1) +
                                  " is not found in " + BodyExcerpt(body, 120)));
      }
      node = next;
    }
    std::string text = node->is_string()
                           ? node->get<std::string>()
                           : node->dump(-1, ' ', false, json::error_handler_t::replace);
    return WebResult{std::make_shared<const json>(*node), std::move(text)};
  } catch (const std::exception& e) {
    return Fail(InvalidArgumentError(std::string("cannot read response: ") + e.what()));
  }
}

std::unique_ptr<MetricProvider> NewWebProvider(HttpClient* http) {
  return std::make_unique<WebProvider>(http);
}

}  // namespace ramp::metrics
