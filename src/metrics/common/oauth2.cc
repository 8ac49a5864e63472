#include "metrics/common/oauth2.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include <nlohmann/json.hpp>

#include "metrics/common/provider_util.h"

namespace ramp::metrics {
namespace {

using nlohmann::json;

// Tokens are renewed this long before they expire (golang.org/x/oauth2's expiryDelta).
constexpr Duration kExpiryMargin = std::chrono::seconds(10);

std::string CacheKey(const OAuth2Config& c) {
  std::string key = c.token_url + '\n' + c.client_id + '\n' + c.client_secret;
  for (const std::string& s : c.scopes) key += '\n' + s;
  return key;
}

// golang.org/x/oauth2 Token.Type(): "Bearer" unless the server says otherwise.
std::string TokenType(std::string type) {
  std::string lower = type;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.empty() || lower == "bearer") return "Bearer";
  if (lower == "mac") return "MAC";
  if (lower == "basic") return "Basic";
  return type;
}

// The form fields of an `application/x-www-form-urlencoded` answer (some servers send those).
std::map<std::string, std::string> FormFields(std::string_view body) {
  std::map<std::string, std::string> out;
  auto unescape = [](std::string_view s) {
    std::string r;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') {
        r += ' ';
      } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(s[i + 1]) &&
                 std::isxdigit(s[i + 2])) {
        r += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else {
        r += s[i];
      }
    }
    return r;
  };
  while (!body.empty()) {
    size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    size_t eq = pair.find('=');
    if (eq != std::string_view::npos)
      out[unescape(pair.substr(0, eq))] = unescape(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace

StatusOr<std::optional<OAuth2Config>> ParseOAuth2(const json& authentication) {
  if (!authentication.is_object() || !authentication.contains("oauth2") ||
      !authentication["oauth2"].is_object()) {
    return std::optional<OAuth2Config>();
  }
  const json& o = authentication["oauth2"];
  OAuth2Config c;
  c.token_url = o.value("tokenUrl", std::string());
  c.client_id = o.value("clientId", std::string());
  c.client_secret = o.value("clientSecret", std::string());
  if (o.contains("scopes") && o["scopes"].is_array()) {
    for (const json& s : o["scopes"]) {
      if (s.is_string()) c.scopes.push_back(s.get<std::string>());
    }
  }
  if (c.token_url.empty()) return std::optional<OAuth2Config>();
  if (c.client_id.empty() || c.client_secret.empty()) {
    return Fail(InvalidArgumentError("missing mandatory parameter in metric for OAuth2 setup"));
  }
  if (!IsHttpUrl(c.token_url)) {
    return Fail(InvalidArgumentError("oauth2 tokenUrl is not an http(s) URL: " + c.token_url));
  }
  return std::optional<OAuth2Config>(std::move(c));
}

void OAuth2Tokens::Authorization(const OAuth2Config& config, Time now, Duration timeout,
                                 bool insecure, std::function<void(StatusOr<std::string>)> done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(CacheKey(config));
    if (it != cache_.end() && (!it->second.expires || now + kExpiryMargin < *it->second.expires)) {
      std::string header = it->second.header;
      done(std::move(header));
      return;
    }
  }
  Fetch(config, now, timeout, insecure, /*credentials_in_body=*/false, std::move(done));
}

void OAuth2Tokens::Fetch(const OAuth2Config& config, Time now, Duration timeout, bool insecure,
                         bool credentials_in_body,
                         std::function<void(StatusOr<std::string>)> done) {
  HttpRequest req;
  req.method = "POST";
  req.url = config.token_url;
  req.timeout = timeout;
  req.insecure_skip_verify = insecure;
  req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  req.body = "grant_type=client_credentials";
  if (!config.scopes.empty()) {
    std::string scope;
    for (const std::string& s : config.scopes) scope += (scope.empty() ? "" : " ") + s;
    req.body += "&scope=" + QueryEscape(scope);
  }
  if (credentials_in_body) {
    req.body += "&client_id=" + QueryEscape(config.client_id) +
                "&client_secret=" + QueryEscape(config.client_secret);
  } else {
    req.headers.emplace_back(
        "Authorization",
        "Basic " + Base64(QueryEscape(config.client_id) + ":" + QueryEscape(config.client_secret)));
  }
  http_->Send(std::move(req), [this, config, now, timeout, insecure, credentials_in_body,
                               done = std::move(done)](StatusOr<HttpResponse> r) mutable {
    const std::vector<std::string> secrets = {config.client_secret};
    auto fail = [&](const std::string& why) {
      done(Fail(UnavailableError(
          Redact("oauth2: cannot fetch a token from " + config.token_url + ": " + why, secrets))));
    };
    if (!r) return fail(TransportErrorMessage(r.error()));
    if (r->status < 200 || r->status >= 300) {
      if (!credentials_in_body) {
        // As clientcredentials' auto-detection: try the credentials in the form instead.
        Fetch(config, now, timeout, insecure, /*credentials_in_body=*/true, std::move(done));
        return;
      }
      return fail("HTTP " + std::to_string(r->status) + ": " + BodyExcerpt(r->body));
    }
    std::string token, type;
    std::optional<int64_t> expires_in;
    json j = json::parse(r->body, nullptr, false);
    if (j.is_object()) {
      if (j.contains("access_token") && j["access_token"].is_string()) {
        token = j["access_token"].get<std::string>();
      }
      if (j.contains("token_type") && j["token_type"].is_string()) {
        type = j["token_type"].get<std::string>();
      }
      if (j.contains("expires_in") && j["expires_in"].is_number()) {
        expires_in = j["expires_in"].get<int64_t>();
      } else if (j.contains("expires_in") && j["expires_in"].is_string()) {
        expires_in = std::atoll(j["expires_in"].get<std::string>().c_str());
      }
    } else if (!LooksLikeHtml(r->body)) {
      auto fields = FormFields(r->body);
      token = fields["access_token"];
      type = fields["token_type"];
      if (!fields["expires_in"].empty()) expires_in = std::atoll(fields["expires_in"].c_str());
    }
    if (token.empty()) return fail("the answer has no access_token: " + BodyExcerpt(r->body));
    Cached cached{TokenType(type) + " " + token, std::nullopt};
    if (expires_in && *expires_in > 0) cached.expires = now + std::chrono::seconds(*expires_in);
    {
      std::lock_guard<std::mutex> lock(mu_);
      cache_[CacheKey(config)] = cached;
    }
    done(std::move(cached.header));
  });
}

}  // namespace ramp::metrics
