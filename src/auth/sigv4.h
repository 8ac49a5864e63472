// AWS Signature Version 4 request signing, for the providers that call AWS APIs (CloudWatch
// GetMetricData; Amazon Managed Prometheus through the prometheus provider's
// `authentication.sigv4`). A pure function of the request, the credentials, the region and
// service, and the signing time: it computes the canonical request, the string to sign and the
// signature exactly as AWS specifies, and the headers to add (Authorization, X-Amz-Date, and
// X-Amz-Security-Token with temporary credentials). Checked against AWS's published test suite.
//
// Thread-safety: stateless functions over values; call from any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ramp/clock.h"

namespace ramp::auth {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term credentials
};

// The request as it will be sent. `path` and the query names/values are raw (not yet
// percent-encoded); `host` is the Host header value (host[:port]).
struct SigV4Request {
  std::string method = "GET";
  std::string host;
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Host and X-Amz-Date
  std::string body;
};

struct SigV4Result {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // lowercase hex
  std::string authorization;  // the Authorization header value
  std::string amz_date;       // X-Amz-Date: 20150830T123600Z
  // Headers to add to the request: X-Amz-Date, X-Amz-Security-Token when there is a session
  // token, and Authorization.
  std::vector<std::pair<std::string, std::string>> headers_to_add;
};

// Signs `request` for `region` and `service` at `now` (UTC, whole seconds used).
SigV4Result SignV4(const SigV4Request& request, const AwsCredentials& credentials,
                   std::string_view region, std::string_view service, Time now);

// Percent-encoding of RFC 3986: unreserved characters (A–Z a–z 0–9 - . _ ~) stay, every other
// byte is %XX (uppercase); '/' is kept when `keep_slash`.
std::string UriEncode(std::string_view s, bool keep_slash);

// Lowercase hex of SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

}  // namespace ramp::auth
