// OAuth2 client credentials for the metric providers that accept
// `authentication.oauth2 {tokenUrl, clientId, clientSecret, scopes}` (prometheus, web), as Argo's
// providers get them through golang.org/x/oauth2/clientcredentials: a form POST of
// grant_type=client_credentials (and `scope`, space-separated) to tokenUrl with the client id and
// secret as HTTP Basic credentials — and, when the endpoint refuses that, once more with them in
// the form — then `Authorization: <token_type> <access_token>` on the metric request. Tokens are
// kept until 10 s before `expires_in` runs out (measured on the measurement's time), per
// (tokenUrl, clientId, clientSecret, scopes).
//
// Thread-safety: OAuth2Tokens may be used from any thread; `done` runs on the HttpClient's thread
// or inline (cached token, or a configuration error).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "ramp/clock.h"
#include "ramp/http_client.h"
#include "ramp/status.h"

namespace ramp::metrics {

struct OAuth2Config {
  std::string token_url;
  std::string client_id;
  std::string client_secret;
  std::vector<std::string> scopes;
};

// Reads `authentication.oauth2` of a provider configuration (`authentication` may be null or
// any JSON). Nothing when absent or when tokenUrl is empty (Argo then sends no token); Argo's
// error "missing mandatory parameter in metric for OAuth2 setup" when tokenUrl is set without
// clientId or clientSecret.
StatusOr<std::optional<OAuth2Config>> ParseOAuth2(const nlohmann::json& authentication);

class OAuth2Tokens {
 public:
  explicit OAuth2Tokens(HttpClient* http) : http_(http) {}

  // The Authorization header value for `config` ("Bearer eyJ…"), from the cache or the token
  // endpoint. Errors say what the endpoint answered, without the client secret.
  void Authorization(const OAuth2Config& config, Time now, Duration timeout, bool insecure,
                     std::function<void(StatusOr<std::string>)> done);

 private:
  struct Cached {
    std::string header;
    std::optional<Time> expires;
  };
  void Fetch(const OAuth2Config& config, Time now, Duration timeout, bool insecure,
             bool credentials_in_body, std::function<void(StatusOr<std::string>)> done);

  HttpClient* http_;
  std::mutex mu_;
  std::map<std::string, Cached> cache_;  // guarded by mu_
};

}  // namespace ramp::metrics
