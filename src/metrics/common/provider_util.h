// Helpers shared by the HTTP-based metric providers (prometheus, web, …): redaction of secrets,
// Go-style float text, URL encoding, Base64, and the messages of failed HTTP exchanges.
//
// Pure functions: no I/O, no clock. Thread-safety: all functions are reentrant.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/status.h"

namespace ramp::metrics {

// `text` with every non-empty string of `secrets` replaced by "*****".
std::string Redact(std::string text, const std::vector<std::string>& secrets);
// Redacts every value of `metadata` in place.
void RedactAll(std::map<std::string, std::string>* metadata,
               const std::vector<std::string>& secrets);

// Go's strconv.FormatFloat(f, 'f', -1, 64), which is Prometheus' SampleValue.String():
// "0.99", "100", "NaN", "+Inf", "-Inf".
std::string FormatGoFloat(double value);

// Go's url.QueryEscape: unreserved bytes kept, space as '+', the rest %XX.
std::string QueryEscape(std::string_view text);

// Standard Base64 with padding.
std::string Base64(std::string_view bytes);

// The first `max` bytes of `body` with control characters shown as spaces, "…" when cut;
// "(empty body)" for an empty body.
std::string BodyExcerpt(std::string_view body, size_t max = 200);

// Whether `body` looks like an HTML page ("<!DOCTYPE", "<html", … after whitespace).
bool LooksLikeHtml(std::string_view body);

// The message of a request that got no response: "connection refused …", "timed out after …".
std::string TransportErrorMessage(const Status& status);

// Whether `url` is http(s)://host[…].
bool IsHttpUrl(std::string_view url);

// "https://host:port/path" → "host:port" and "/path" ("/" when the URL has no path).
void SplitHostPath(std::string_view url, std::string* host, std::string* path);

// The JSON document of a response body in `format` ("Prometheus JSON", …): an error for an
// empty body ("empty response body"), an HTML page ("response is an HTML page, not <format>: …")
// and text that is not JSON ("response is not JSON: …").
StatusOr<nlohmann::json> ParseJsonBody(std::string_view body, std::string_view format);

// The base of providers whose Run answers once and never reports Running (every HTTP provider):
// Resume and Terminate, which only follow a Running measurement, answer an Error naming the
// provider; GarbageCollect has nothing to collect; no metric-level metadata unless overridden.
class OneShotProvider : public MetricProvider {
 public:
  void Resume(const RunContext& ctx, const MetricRef& metric, const Measurement& measurement,
              MeasurementCallback done) override;
  void Terminate(const RunContext& ctx, const MetricRef& metric, const Measurement& measurement,
                 MeasurementCallback done) override;
  void GarbageCollect(const RunContext& ctx, const MetricRef& metric, int32_t limit,
                      StatusCallback done) override;
  std::map<std::string, std::string> Metadata(const MetricRef& metric) const override;
};

// The base of providers whose measurement stays Running while they watch (ramp/judge-errors,
// ramp/judge-latency, ramp/slo): Terminate ends a Running measurement Inconclusive ("stopped
// before a decision: <its last message>") and reports a finished one as it is; GarbageCollect has
// nothing to collect; no metric-level metadata unless overridden.
class WatchingProvider : public MetricProvider {
 public:
  void Terminate(const RunContext& ctx, const MetricRef& metric, const Measurement& measurement,
                 MeasurementCallback done) override;
  void GarbageCollect(const RunContext& ctx, const MetricRef& metric, int32_t limit,
                      StatusCallback done) override;
  std::map<std::string, std::string> Metadata(const MetricRef& metric) const override;
};

// A failed read of a watching provider's measurement (ramp/judge-*, ramp/slo). It stays Running
// with `text` as a note until `limit` reads in a row have failed before its deadline; then
// `give_up` is set and `text` is the Error message (without the provider's name).
struct FailedRead {
  bool give_up = false;
  std::string text;
};
// Counts the failure in `*read_errors`.
FailedRead CountFailedRead(int64_t* read_errors, int64_t limit, bool out_of_time,
                           std::string_view why);

// The metric's provider configuration as JSON ({} when empty); InvalidArgument
// "<provider>: configuration is not JSON" otherwise.
StatusOr<nlohmann::json> ProviderConfigJson(const MetricRef& metric, std::string_view provider);

}  // namespace ramp::metrics
