#include "spec/judge_config.h"

#include <cmath>
#include <cstdlib>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "spec/common.h"
#include "spec/plugin_fields.h"

namespace ramp::spec {
namespace {

using json = nlohmann::json;

class Fields : public PluginFields {
 public:
  explicit Fields(JudgeKind kind) : PluginFields(JudgeProviderName(kind)) {}

  StatusOr<JudgeArmQueries> Arm(const json& v, std::string_view field, JudgeKind kind) const {
    const char* bad_key = kind == JudgeKind::kErrors ? "errors" : "slow";
    if (!v.is_object()) {
      return Fail(Error(
          field, fmt::format("must be an object {{requests, {}}}, got {}", bad_key, v.dump())));
    }
    JudgeArmQueries q;
    for (const auto& [key, value] : v.items()) {
      const std::string f = fmt::format("{}.{}", field, key);
      if (key == "requests") {
        ASSIGN_OR_RETURN(q.requests, String(value, f));
      } else if (key == bad_key) {
        ASSIGN_OR_RETURN(q.bad, String(value, f));
      } else {
        return Fail(Error(f, fmt::format("unknown field (known: requests, {})", bad_key)));
      }
    }
    if (q.requests.empty()) return Fail(Error(std::string(field) + ".requests", "required"));
    if (q.bad.empty()) return Fail(Error(fmt::format("{}.{}", field, bad_key), "required"));
    return q;
  }
};

}  // namespace

std::string_view JudgeProviderName(JudgeKind kind) {
  return kind == JudgeKind::kErrors ? kJudgeErrorsProvider : kJudgeLatencyProvider;
}

StatusOr<JudgeConfig> ParseJudgeConfig(const json& config, JudgeKind kind) {
  Fields f(kind);
  if (!config.is_object()) return Fail(f.Error("configuration", "must be an object"));
  JudgeConfig c;
  c.kind = kind;
  std::optional<int64_t> poll;
  bool have_bound = false;
  for (const auto& [key, value] : config.items()) {
    if (key == "alpha") {
      ASSIGN_OR_RETURN(c.alpha, f.Number(value, key));
      if (!(c.alpha > 0 && c.alpha <= 0.5)) {
        return Fail(f.Error(key, fmt::format("must be in (0, 0.5], e.g. 0.01; got {}", c.alpha)));
      }
    } else if (key == "tolerance") {
      ASSIGN_OR_RETURN(c.tolerance, f.Number(value, key));
      if (!(c.tolerance >= 0 && c.tolerance < 1)) {
        return Fail(f.Error(key, fmt::format("must be a rate in [0, 1), e.g. 0.01 for one "
                                             "percentage point; got {}",
                                             c.tolerance)));
      }
    } else if (key == "minSamples") {
      ASSIGN_OR_RETURN(c.min_samples, f.Integer(value, key));
      if (c.min_samples < 1) return Fail(f.Error(key, "must be at least 1"));
    } else if (key == "direction") {
      ASSIGN_OR_RETURN(std::string d, f.String(value, key));
      if (d == "increase") {
        c.direction = JudgeDirection::kIncrease;
      } else if (d == "decrease") {
        c.direction = JudgeDirection::kDecrease;
      } else if (d == "either") {
        c.direction = JudgeDirection::kEither;
      } else {
        return Fail(f.Error(key, "must be increase, decrease or either, got \"" + d + "\""));
      }
    } else if (key == "baselineRate") {
      ASSIGN_OR_RETURN(double p, f.Number(value, key));
      if (!(p > 0 && p < 1)) {
        return Fail(f.Error(key, fmt::format("must be a rate in (0, 1), got {}", p)));
      }
      c.baseline_rate = p;
    } else if (key == "detectRatio") {
      ASSIGN_OR_RETURN(c.detect_ratio, f.Number(value, key));
      if (!(c.detect_ratio > 1)) return Fail(f.Error(key, "must be greater than 1, e.g. 3"));
    } else if (key == "maxDuration") {
      ASSIGN_OR_RETURN(int64_t ms, f.Millis(value, key));
      if (ms < 1000) return Fail(f.Error(key, "must be at least 1s"));
      c.max_duration_seconds = ms / 1000;
    } else if (key == "pollInterval") {
      ASSIGN_OR_RETURN(poll, f.Millis(value, key));
      if (*poll < 100 || *poll > 600'000) {
        return Fail(f.Error(key, "must be from 100ms to 10m"));
      }
    } else if (key == "readErrorLimit") {
      ASSIGN_OR_RETURN(c.read_error_limit, f.Integer(value, key));
      if (c.read_error_limit < 1) return Fail(f.Error(key, "must be at least 1"));
    } else if (key == "watchUntil") {
      ASSIGN_OR_RETURN(std::string w, f.String(value, key));
      if (w != "decision" && w != "maxDuration") {
        return Fail(f.Error(key, "must be decision or maxDuration, got \"" + w + "\""));
      }
      c.pass_early = w == "decision";
    } else if (key == "admin") {
      if (!value.is_object()) {
        return Fail(f.Error(key, "must be an object with address and tokenFile"));
      }
      c.admin_json = value.dump();
    } else if (key == "prometheus") {
      if (!value.is_object()) {
        return Fail(f.Error(key, "must be an object {address, canary, stable}"));
      }
      c.source = JudgeSource::kPrometheus;
      for (const auto& [pk, pv] : value.items()) {
        const std::string field = "prometheus." + pk;
        if (pk == "address") {
          ASSIGN_OR_RETURN(c.prometheus_address, f.String(pv, field));
          if (!c.prometheus_address.starts_with("http://") &&
              !c.prometheus_address.starts_with("https://")) {
            return Fail(f.Error(field, "must be a URL such as http://prometheus:9090, got \"" +
                                           c.prometheus_address + "\""));
          }
          while (c.prometheus_address.ends_with('/')) c.prometheus_address.pop_back();
        } else if (pk == "canary") {
          ASSIGN_OR_RETURN(c.canary, f.Arm(pv, field, kind));
        } else if (pk == "stable") {
          ASSIGN_OR_RETURN(c.stable, f.Arm(pv, field, kind));
        } else {
          return Fail(f.Error(field, "unknown field (known: address, canary, stable)"));
        }
      }
      if (c.prometheus_address.empty()) return Fail(f.Error("prometheus.address", "required"));
      if (c.canary.requests.empty()) return Fail(f.Error("prometheus.canary", "required"));
      if (c.stable.requests.empty()) return Fail(f.Error("prometheus.stable", "required"));
    } else if (kind == JudgeKind::kLatency && key == "latencyBound") {
      ASSIGN_OR_RETURN(int64_t ms, f.Millis(value, key));
      if (ms <= 0) return Fail(f.Error(key, "must be a positive latency such as 500ms"));
      c.latency_bound_seconds = static_cast<double>(ms) / 1000;
      have_bound = true;
    } else if (kind == JudgeKind::kLatency && key == "kayenta") {
      if (!value.is_boolean()) return Fail(f.Error(key, "must be true or false"));
      c.kayenta = value.get<bool>();
    } else {
      return Fail(f.Error(
          key, kind == JudgeKind::kErrors
                   ? "unknown field (known: alpha, tolerance, minSamples, direction, "
                     "baselineRate, detectRatio, maxDuration, watchUntil, pollInterval, "
                     "readErrorLimit, admin, prometheus)"
                   : "unknown field (known: latencyBound, kayenta, alpha, tolerance, minSamples, "
                     "direction, baselineRate, detectRatio, maxDuration, watchUntil, "
                     "pollInterval, readErrorLimit, admin, prometheus)"));
    }
  }
  if (kind == JudgeKind::kLatency && !have_bound) {
    return Fail(f.Error("latencyBound",
                        "required: the SLO latency bound; slower requests are the ones judged"));
  }
  if (c.source == JudgeSource::kPrometheus && !c.admin_json.empty()) {
    return Fail(f.Error("admin", "reads the built-in proxy; it cannot be set with prometheus"));
  }
  if (c.baseline_rate && c.direction != JudgeDirection::kIncrease) {
    return Fail(f.Error("baselineRate", "Wald's SPRT judges an increase only: drop direction"));
  }
  c.poll_interval_ms = poll.value_or(c.source == JudgeSource::kPrometheus ? 15'000 : 1'000);
  if (c.max_duration_seconds * 1000 < c.poll_interval_ms) {
    return Fail(f.Error("maxDuration", "must be at least pollInterval"));
  }
  return c;
}

}  // namespace ramp::spec
