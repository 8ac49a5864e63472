// Canned answers for provider tests: the built-in proxy's signals JSON for two revisions
// (docs/proxy.md), and Prometheus instant-query answers. Test-only, header-only.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace ramp::metrics::testing {

// Counts of one revision (the same in `window` and `total`): all requests answer within 5 ms
// except `slow_250ms` (between 250 and 500 ms) and `slow_500ms` (between 500 ms and 1 s).
struct ProxyArm {
  int64_t requests = 0;
  int64_t errors = 0;
  int64_t slow_500ms = 0;
  int64_t slow_250ms = 0;
};

inline nlohmann::json ProxyArmJson(const ProxyArm& a) {
  using json = nlohmann::json;
  const double fast = static_cast<double>(a.requests - a.slow_500ms - a.slow_250ms);
  json buckets = json::array();
  for (double le : {0.005, 0.01, 0.025, 0.05, 0.1, 0.25}) {
    buckets.push_back({{"le", le}, {"count", fast}});
  }
  buckets.push_back({{"le", 0.5}, {"count", fast + static_cast<double>(a.slow_250ms)}});
  for (double le : {1.0, 2.5, 5.0, 10.0}) {
    buckets.push_back({{"le", le}, {"count", static_cast<double>(a.requests)}});
  }
  buckets.push_back({{"le", "+Inf"}, {"count", static_cast<double>(a.requests)}});
  json counts = {{"requests", a.requests},
                 {"errors", a.errors},
                 {"latencySumSeconds", 0.0},
                 {"latencyBuckets", buckets}};
  return {{"window", counts}, {"total", counts}};
}

// GET /v1/services/default.shop/signals as the proxy answers it.
inline std::string ProxySignals(const ProxyArm& canary, const ProxyArm& stable = {}) {
  return nlohmann::json{
      {"service", "default.shop"},
      {"revisions", {{"canary", ProxyArmJson(canary)}, {"stable", ProxyArmJson(stable)}}}}
      .dump();
}

// An instant-query answer with `result` (a JSON array of samples) as a vector.
inline std::string PrometheusVector(const std::string& result) {
  return R"({"status":"success","data":{"resultType":"vector","result":)" + result + "}}";
}

// An instant-query answer holding one sample of value `v`.
inline std::string PrometheusNumber(double v) {
  return PrometheusVector(R"([{"metric":{},"value":[1700000000,")" + std::to_string(v) + R"("]}])");
}

}  // namespace ramp::metrics::testing
