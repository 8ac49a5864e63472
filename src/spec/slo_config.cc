#include "spec/slo_config.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "spec/common.h"
#include "spec/plugin_fields.h"

namespace ramp::spec {
namespace {

using json = nlohmann::json;

const PluginFields kFields(kSloProvider);

Status FieldError(std::string_view field, std::string_view what) {
  return kFields.Error(field, what);
}

StatusOr<double> Probability(const json& v, std::string_view field) {
  ASSIGN_OR_RETURN(double p, kFields.Number(v, field));
  if (!(p > 0 && p <= 0.5)) {
    return Fail(FieldError(field, fmt::format("must be in (0, 0.5], e.g. 0.01; got {}", p)));
  }
  return p;
}

// The fields each check accepts beyond file, slo, check, admin and prometheus.
const std::map<std::string, SloCheck, std::less<>>& CheckOnlyFields() {
  static const auto* fields = new std::map<std::string, SloCheck, std::less<>>{
      {"severities", SloCheck::kCanary},     {"alpha", SloCheck::kCanary},
      {"beta", SloCheck::kCanary},           {"alternativeFactor", SloCheck::kCanary},
      {"pollInterval", SloCheck::kCanary},   {"maxDuration", SloCheck::kCanary},
      {"readErrorLimit", SloCheck::kCanary}, {"revisionMatcher", SloCheck::kCanary},
      {"failOn", SloCheck::kService},        {"budgetPolicy", SloCheck::kBudget},
  };
  return *fields;
}

Status ParsePrometheus(const json& value, SloConfig* c) {
  if (!value.is_object()) return FieldError("prometheus", "must be an object {address}");
  c->source = SloSource::kPrometheus;
  for (const auto& [key, v] : value.items()) {
    const std::string field = "prometheus." + key;
    if (key == "address") {
      ASSIGN_OR_RETURN(c->prometheus_address, kFields.String(v, field));
      if (!c->prometheus_address.starts_with("http://") &&
          !c->prometheus_address.starts_with("https://")) {
        return FieldError(field, "must be a URL such as http://prometheus:9090, got \"" +
                                     c->prometheus_address + "\"");
      }
      while (c->prometheus_address.ends_with('/')) c->prometheus_address.pop_back();
    } else {
      return FieldError(field, "unknown field (known: address)");
    }
  }
  if (c->prometheus_address.empty()) return FieldError("prometheus.address", "required");
  return OkStatus();
}

Status ParseBudgetPolicy(const json& value, SloConfig* c) {
  if (!value.is_object()) {
    return FieldError("budgetPolicy", "must be an object {floor, action}");
  }
  for (const auto& [key, v] : value.items()) {
    const std::string field = "budgetPolicy." + key;
    if (key == "floor") {
      ASSIGN_OR_RETURN(c->budget_floor, kFields.Number(v, field));
      if (!(c->budget_floor >= 0 && c->budget_floor <= 1)) {
        return FieldError(field, fmt::format("must be a share of the budget in [0, 1], e.g. 0.25; "
                                             "got {}",
                                             c->budget_floor));
      }
    } else if (key == "action") {
      ASSIGN_OR_RETURN(std::string a, kFields.String(v, field));
      if (a == "refuse") {
        c->budget_action = SloBudgetAction::kRefuse;
      } else if (a == "approve") {
        c->budget_action = SloBudgetAction::kApprove;
      } else {
        return FieldError(field, "must be refuse or approve, got \"" + a + "\"");
      }
    } else {
      return FieldError(field, "unknown field (known: floor, action)");
    }
  }
  return OkStatus();
}

Status ParseSeverities(const json& value, SloConfig* c) {
  if (!value.is_array() || value.empty()) {
    return FieldError("severities",
                      "must be a non-empty list of page and ticket, got " + value.dump());
  }
  c->severities.clear();
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string field = fmt::format("severities[{}]", i);
    ASSIGN_OR_RETURN(std::string s, kFields.String(value[i], field));
    if (s != "page" && s != "ticket") {
      return FieldError(field, "must be page or ticket, got \"" + s + "\"");
    }
    if (std::find(c->severities.begin(), c->severities.end(), s) != c->severities.end()) {
      return FieldError(field, "\"" + s + "\" is listed twice");
    }
    c->severities.push_back(std::move(s));
  }
  return OkStatus();
}

}  // namespace

std::string_view SloCheckName(SloCheck check) {
  switch (check) {
    case SloCheck::kCanary:
      return "canary";
    case SloCheck::kService:
      return "service";
    case SloCheck::kBudget:
      return "budget";
  }
  return "canary";
}

StatusOr<SloConfig> ParseSloConfig(const json& config) {
  if (!config.is_object()) return Fail(FieldError("configuration", "must be an object"));
  SloConfig c;
  std::optional<int64_t> poll;
  std::optional<int64_t> max_duration_ms;
  // The check goes first: the other fields are judged against it.
  if (auto it = config.find("check"); it != config.end()) {
    ASSIGN_OR_RETURN(std::string check, kFields.String(*it, "check"));
    if (check == "canary") {
      c.check = SloCheck::kCanary;
    } else if (check == "service") {
      c.check = SloCheck::kService;
    } else if (check == "budget") {
      c.check = SloCheck::kBudget;
    } else {
      return Fail(FieldError("check", "must be canary, service or budget, got \"" + check + "\""));
    }
  }
  for (const auto& [key, value] : config.items()) {
    if (auto only = CheckOnlyFields().find(key);
        only != CheckOnlyFields().end() && only->second != c.check) {
      return Fail(FieldError(key, fmt::format("applies to check {} only (this is check {})",
                                              SloCheckName(only->second), SloCheckName(c.check))));
    }
    if (key == "check") {
      continue;
    } else if (key == "file") {
      ASSIGN_OR_RETURN(c.file, kFields.String(value, key));
    } else if (key == "slo") {
      ASSIGN_OR_RETURN(c.slo, kFields.String(value, key));
    } else if (key == "admin") {
      if (!value.is_object()) {
        return Fail(FieldError(key, "must be an object with address and tokenFile"));
      }
      c.admin_json = value.dump();
    } else if (key == "prometheus") {
      RETURN_IF_ERROR(ParsePrometheus(value, &c));
    } else if (key == "revisionMatcher") {
      ASSIGN_OR_RETURN(c.revision_matcher, kFields.String(value, key));
    } else if (key == "severities") {
      RETURN_IF_ERROR(ParseSeverities(value, &c));
    } else if (key == "alpha") {
      ASSIGN_OR_RETURN(c.alpha, Probability(value, key));
    } else if (key == "beta") {
      ASSIGN_OR_RETURN(c.beta, Probability(value, key));
    } else if (key == "alternativeFactor") {
      ASSIGN_OR_RETURN(c.alternative_factor, kFields.Number(value, key));
      if (!(c.alternative_factor > 1)) {
        return Fail(FieldError(key, "must be greater than 1, e.g. 3.5"));
      }
    } else if (key == "pollInterval") {
      ASSIGN_OR_RETURN(poll, kFields.Millis(value, key));
      if (*poll < 100 || *poll > 600'000) {
        return Fail(FieldError(key, "must be from 100ms to 10m"));
      }
    } else if (key == "maxDuration") {
      ASSIGN_OR_RETURN(max_duration_ms, kFields.Millis(value, key));
      if (*max_duration_ms < 1000) return Fail(FieldError(key, "must be at least 1s"));
      c.max_duration_seconds = *max_duration_ms / 1000;
    } else if (key == "readErrorLimit") {
      ASSIGN_OR_RETURN(c.read_error_limit, kFields.Integer(value, key));
      if (c.read_error_limit < 1) return Fail(FieldError(key, "must be at least 1"));
    } else if (key == "failOn") {
      ASSIGN_OR_RETURN(std::string f, kFields.String(value, key));
      if (f == "page") {
        c.fail_on = SloFailOn::kPage;
      } else if (f == "ticket") {
        c.fail_on = SloFailOn::kTicket;
      } else {
        return Fail(FieldError(key, "must be page or ticket, got \"" + f + "\""));
      }
    } else if (key == "budgetPolicy") {
      RETURN_IF_ERROR(ParseBudgetPolicy(value, &c));
    } else {
      return Fail(FieldError(
          key,
          "unknown field (known: file, slo, check, admin, prometheus, revisionMatcher, "
          "severities, alpha, beta, alternativeFactor, pollInterval, maxDuration, readErrorLimit, "
          "failOn, budgetPolicy)"));
    }
  }
  if (c.file.empty()) {
    return Fail(FieldError("file", "required: the path of a Sloth or OpenSLO file"));
  }
  if (c.source == SloSource::kPrometheus && !c.admin_json.empty()) {
    return Fail(FieldError("admin", "reads the built-in proxy; it cannot be set with prometheus"));
  }
  if (c.check == SloCheck::kCanary && c.source == SloSource::kPrometheus &&
      c.revision_matcher.empty()) {
    return Fail(FieldError("revisionMatcher",
                           "required with prometheus: the label matcher that selects the "
                           "canary's series, e.g. version=\"{{args.canary-hash}}\""));
  }
  if (c.check == SloCheck::kCanary && c.source == SloSource::kBuiltin &&
      !c.revision_matcher.empty()) {
    return Fail(FieldError("revisionMatcher",
                           "applies to prometheus only: the built-in proxy counts the canary's "
                           "requests itself"));
  }
  if (c.check == SloCheck::kBudget && c.source == SloSource::kBuiltin) {
    return Fail(FieldError("prometheus",
                           "required for check budget: the error ratio over the SLO's period "
                           "(30d by default) comes from Prometheus; the built-in proxy keeps one "
                           "hour of counters"));
  }
  c.poll_interval_ms = poll.value_or(c.source == SloSource::kPrometheus ? 15'000 : 1'000);
  if (c.max_duration_seconds * 1000 < c.poll_interval_ms) {
    return Fail(FieldError("maxDuration", "must be at least pollInterval"));
  }
  return c;
}

}  // namespace ramp::spec
