// The "cloudwatch" metric provider: Argo Rollouts' provider.cloudWatch, one CloudWatch
// GetMetricData call (AWS JSON 1.0 protocol, signed with AWS Signature V4) over the window
// now − interval … now, with Argo's result shape ([]MetricDataResult). See docs/providers.md.
//
// Thread-safety: the provider is stateless apart from the HttpClient it was given; every method
// may be called concurrently. ParseCloudWatchResponse and CloudWatchOptionsFromEnv are pure
// functions (the latter of the getenv it is given).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/sigv4.h"
#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/status.h"

namespace ramp::metrics {

struct CloudWatchOptions {
  auth::AwsCredentials credentials;
  std::string region;
  // Base URL; empty = https://monitoring.<region>.amazonaws.com/.
  std::string endpoint;
};

// Options from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_REGION (or
// AWS_DEFAULT_REGION); null `getenv` = the process environment. Missing values stay empty (the
// provider then answers every measurement with an Error naming what is missing).
CloudWatchOptions CloudWatchOptionsFromEnv(
    std::function<std::optional<std::string>(std::string_view name)> getenv = nullptr);

struct CloudWatchResult {
  // An array of {Id, Label, Values, Timestamps (RFC 3339 text), StatusCode, Messages} objects.
  MetricValue result;
  std::string value_text;  // "[[1,2],[3]]": each result's Values
  std::string messages;    // JSON of the response's Messages; empty if none
};

// Parses a GetMetricData JSON 1.0 answer. Errors say what was wrong (AWS's __type and message,
// not JSON, HTML, empty, wrong shape).
StatusOr<CloudWatchResult> ParseCloudWatchResponse(std::string_view body);

// The provider. `http` must outlive it.
std::unique_ptr<MetricProvider> NewCloudWatchProvider(HttpClient* http, CloudWatchOptions options);

}  // namespace ramp::metrics
