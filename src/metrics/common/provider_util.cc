#include "metrics/common/provider_util.h"

#include <charconv>
#include <cmath>
#include <string>

#include <fmt/format.h>

namespace ramp::metrics {

std::string Redact(std::string text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    size_t pos = 0;
    while ((pos = text.find(secret, pos)) != std::string::npos) {
      text.replace(pos, secret.size(), "*****");
      pos += 5;
    }
  }
  return text;
}

void RedactAll(std::map<std::string, std::string>* metadata,
               const std::vector<std::string>& secrets) {
  for (auto& [key, value] : *metadata) value = Redact(std::move(value), secrets);
}

std::string FormatGoFloat(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[512];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

std::string QueryEscape(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) |
                 uint8_t(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t n = uint32_t(uint8_t(bytes[i])) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t n = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string BodyExcerpt(std::string_view body, size_t max) {
  if (body.empty()) return "(empty body)";
  std::string out;
  for (size_t i = 0; i < body.size() && i < max; ++i) {
    unsigned char c = body[i];
    out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
  }
  if (body.size() > max) out += "…";
  return out;
}

bool LooksLikeHtml(std::string_view body) {
  size_t i = body.find_first_not_of(" \t\r\n");
  if (i == std::string_view::npos) return false;
  std::string head;
  for (size_t k = i; k < body.size() && head.size() < 9; ++k) {
    head += static_cast<char>(std::tolower(static_cast<unsigned char>(body[k])));
  }
  return head.starts_with("<!doctype") || head.starts_with("<html") || head.starts_with("<head") ||
         head.starts_with("<body") || head.starts_with("<!--") || head.starts_with("<h1") ||
         head.starts_with("<title");
}

std::string TransportErrorMessage(const Status& status) {
  switch (status.code()) {
    case StatusCode::kDeadlineExceeded:
      return "timed out: " + status.message();
    case StatusCode::kUnavailable:
      return "unreachable: " + status.message();
    case StatusCode::kResourceExhausted:
      return "response too large: " + status.message();
    case StatusCode::kCancelled:
      return "cancelled: " + status.message();
    case StatusCode::kInvalidArgument:
      return "bad request: " + status.message();
    default:
      return status.message().empty() ? std::string(StatusCodeName(status.code()))
                                      : status.message();
  }
}

bool IsHttpUrl(std::string_view url) {
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else {
    return false;
  }
  return !rest.empty() && rest[0] != '/' && rest[0] != '?' && rest[0] != '#';
}

void SplitHostPath(std::string_view url, std::string* host, std::string* path) {
  size_t start = url.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  size_t slash = url.find('/', start);
  *host = std::string(
      url.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
  *path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
}

StatusOr<nlohmann::json> ParseJsonBody(std::string_view body, std::string_view format) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Fail(InvalidArgumentError("empty response body"));
  }
  if (LooksLikeHtml(body)) {
    return Fail(InvalidArgumentError("response is an HTML page, not " + std::string(format) + ": " +
                                     BodyExcerpt(body)));
  }
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return Fail(InvalidArgumentError("response is not JSON: " + BodyExcerpt(body)));
  }
  return doc;
}

void OneShotProvider::Resume(const RunContext& ctx, const MetricRef&,
                             const Measurement& measurement, MeasurementCallback done) {
  done(MeasurementUpdate::Error(
      measurement,
      Redact(std::string(Type()) + " provider does not resume measurements", ctx.secrets)));
}

void OneShotProvider::Terminate(const RunContext& ctx, const MetricRef&,
                                const Measurement& measurement, MeasurementCallback done) {
  done(MeasurementUpdate::Error(
      measurement, Redact(std::string(Type()) + " provider has no running measurement to terminate",
                          ctx.secrets)));
}

void OneShotProvider::GarbageCollect(const RunContext&, const MetricRef&, int32_t,
                                     StatusCallback done) {
  done(OkStatus());
}

std::map<std::string, std::string> OneShotProvider::Metadata(const MetricRef&) const { return {}; }

void WatchingProvider::Terminate(const RunContext&, const MetricRef&,
                                 const Measurement& measurement, MeasurementCallback done) {
  Measurement m = measurement;
  if (!IsTerminal(m.phase)) {
    m.phase = AnalysisPhase::kInconclusive;
    m.message = "stopped before a decision: " + m.message;
  }
  done(MeasurementUpdate::Judged(std::move(m)));
}

void WatchingProvider::GarbageCollect(const RunContext&, const MetricRef&, int32_t,
                                      StatusCallback done) {
  done(OkStatus());
}

std::map<std::string, std::string> WatchingProvider::Metadata(const MetricRef&) const { return {}; }

FailedRead CountFailedRead(int64_t* read_errors, int64_t limit, bool out_of_time,
                           std::string_view why) {
  ++*read_errors;
  if (!out_of_time && *read_errors >= limit) {
    return {.give_up = true,
            .text = fmt::format("{} reads failed in a row; the last: {}", *read_errors, why)};
  }
  return {.give_up = false,
          .text = fmt::format(" (the last read failed: {}; {} of {} allowed in a row)", why,
                              *read_errors, limit)};
}

StatusOr<nlohmann::json> ProviderConfigJson(const MetricRef& metric, std::string_view provider) {
  nlohmann::json j = nlohmann::json::parse(
      metric.provider_config_json.empty() ? std::string("{}") : metric.provider_config_json,
      nullptr, false);
  if (j.is_discarded()) {
    return Fail(InvalidArgumentError(std::string(provider) + ": configuration is not JSON"));
  }
  return j;
}

}  // namespace ramp::metrics
