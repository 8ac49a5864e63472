// AWS Signature Version 4 (sigv4.h), following AWS's specification of the signing process.
#include "auth/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "date/date.h"

namespace ramp::auth {
namespace {

std::string Hex(const unsigned char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Trims and collapses runs of spaces, as the canonical header value requires.
std::string CanonicalValue(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0xf]);
    }
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return Hex(digest, sizeof(digest));
}

SigV4Result SignV4(const SigV4Request& request, const AwsCredentials& credentials,
                   std::string_view region, std::string_view service, Time now) {
  SigV4Result r;
  const auto seconds = date::floor<std::chrono::seconds>(now);
  r.amz_date = date::format("%Y%m%dT%H%M%SZ", seconds);
  const std::string day = r.amz_date.substr(0, 8);

  // Canonical headers: lowercase names, sorted; repeated names joined with ',' in order.
  std::map<std::string, std::string> headers;
  auto add = [&](std::string_view name, std::string_view value) {
    std::string& slot = headers[Lower(name)];
    if (!slot.empty()) slot += ',';
    slot += CanonicalValue(value);
  };
  bool has_host = false;
  for (const auto& [name, value] : request.headers) has_host |= Lower(name) == "host";
  if (!has_host) add("host", request.host);
  for (const auto& [name, value] : request.headers) add(name, value);
  add("x-amz-date", r.amz_date);
  if (!credentials.session_token.empty()) add("x-amz-security-token", credentials.session_token);
  std::string canonical_headers, signed_headers;
  for (const auto& [name, value] : headers) {
    canonical_headers += name + ":" + value + "\n";
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += name;
  }

  // Canonical query: encoded names and values, sorted by name then value.
  std::vector<std::pair<std::string, std::string>> query;
  for (const auto& [name, value] : request.query) {
    query.emplace_back(UriEncode(name, false), UriEncode(value, false));
  }
  std::sort(query.begin(), query.end());
  std::string canonical_query;
  for (const auto& [name, value] : query) {
    if (!canonical_query.empty()) canonical_query += '&';
    canonical_query += name + "=" + value;
  }

  const std::string path = request.path.empty() ? "/" : request.path;
  const std::string payload_hash = Sha256Hex(request.body);
  r.canonical_request = request.method + "\n" + UriEncode(path, true) + "\n" + canonical_query +
                        "\n" + canonical_headers + "\n" + signed_headers + "\n" + payload_hash;
  const std::string scope =
      day + "/" + std::string(region) + "/" + std::string(service) + "/aws4_request";
  r.string_to_sign =
      "AWS4-HMAC-SHA256\n" + r.amz_date + "\n" + scope + "\n" + Sha256Hex(r.canonical_request);
  std::string key = Hmac("AWS4" + credentials.secret_access_key, day);
  key = Hmac(key, region);
  key = Hmac(key, service);
  key = Hmac(key, "aws4_request");
  const std::string mac = Hmac(key, r.string_to_sign);
  r.signature = Hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
  r.authorization = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
                    ", SignedHeaders=" + signed_headers + ", Signature=" + r.signature;
  r.headers_to_add.emplace_back("X-Amz-Date", r.amz_date);
  if (!credentials.session_token.empty()) {
    r.headers_to_add.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  r.headers_to_add.emplace_back("Authorization", r.authorization);
  return r;
}

}  // namespace ramp::auth
