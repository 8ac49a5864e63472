// Fuzz target for every metric provider's response parser (prometheus, web, graphite, wavefront,
// influxdb, datadog v1 and v2, newrelic, cloudwatch): any body must
// yield a result or an error with a message, never a crash or a hang. The whole input is parsed
// as a Prometheus answer and as a web answer; its first line is also tried as a web jsonPath over
// the rest. Built with clang's libFuzzer by scripts/fuzz; its seeds replay under g++ as the CTest
// label fuzz-seeds (see replay_main.cc).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "metrics/cloudwatch/cloudwatch_provider.h"
#include "metrics/datadog/datadog_provider.h"
#include "metrics/graphite/graphite_provider.h"
#include "metrics/influxdb/influxdb_provider.h"
#include "metrics/newrelic/newrelic_provider.h"
#include "metrics/prometheus/prometheus_provider.h"
#include "metrics/wavefront/wavefront_provider.h"
#include "metrics/web/web_provider.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto prom = ramp::metrics::ParsePrometheusResponse(text);
  if (!prom.has_value() && prom.error().message().empty()) __builtin_trap();
  if (prom.has_value() && prom->result == nullptr) __builtin_trap();
  auto web = ramp::metrics::ParseWebResponse(text, "{$.data.ok}");
  if (!web.has_value() && web.error().message().empty()) __builtin_trap();
  // Graphite, Wavefront and InfluxDB parsers: the same contract.
  auto graphite = ramp::metrics::ParseGraphiteResponse(text);
  if (!graphite.has_value() && graphite.error().message().empty()) __builtin_trap();
  auto wavefront = ramp::metrics::ParseWavefrontResponse(text, 1700000000);
  if (!wavefront.has_value() && wavefront.error().message().empty()) __builtin_trap();
  auto influx = ramp::metrics::ParseInfluxDbResponse(text);
  if (!influx.has_value() && influx.error().message().empty()) __builtin_trap();
  // Datadog (both API versions), New Relic and CloudWatch: the same contract.
  auto dd1 = ramp::metrics::ParseDatadogV1Response(text);
  if (!dd1.has_value() && dd1.error().message().empty()) __builtin_trap();
  auto dd2 = ramp::metrics::ParseDatadogV2Response(text);
  if (!dd2.has_value() && dd2.error().message().empty()) __builtin_trap();
  auto nr = ramp::metrics::ParseNewRelicResponse(text);
  if (!nr.has_value() && nr.error().message().empty()) __builtin_trap();
  if (nr.has_value() && *nr == nullptr) __builtin_trap();
  auto cw = ramp::metrics::ParseCloudWatchResponse(text);
  if (!cw.has_value() && cw.error().message().empty()) __builtin_trap();
  size_t nl = text.find('\n');
  if (nl != std::string_view::npos) {
    auto path_web = ramp::metrics::ParseWebResponse(text.substr(nl + 1), text.substr(0, nl));
    if (!path_web.has_value() && path_web.error().message().empty()) __builtin_trap();
    if (path_web.has_value())
      (void)path_web->result->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return 0;
}
