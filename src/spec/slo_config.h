// The configuration of the "ramp/slo" metric provider, metrics[].provider.plugin["ramp/slo"]
// (docs/slo.md "The `ramp/slo` provider"): which SLO of which Sloth or OpenSLO file, which check
// to make with it (the canary's sequential burn-rate test, the service-wide multiwindow rules, or
// the error-budget policy), where the counts come from (the built-in proxy or Prometheus) and the
// check's options. Parsed here, below both `ramp lint` (src/spec/extensions.cc) and the provider
// (src/metrics/slo), so both say the same thing about the same mistake. The SLO file itself is
// read by the provider at each measurement, not here.
//
// Pure: JSON in, a value or an error naming the field out. Thread-safety: reentrant functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "ramp/status.h"

namespace ramp::spec {

inline constexpr std::string_view kSloProvider = "ramp/slo";

enum class SloCheck { kCanary, kService, kBudget };
enum class SloSource { kBuiltin, kPrometheus };
// service check: which firing rules fail the measurement.
enum class SloFailOn { kPage, kTicket };
// budget check: what a remaining budget below the floor does.
enum class SloBudgetAction { kRefuse, kApprove };

struct SloConfig {
  std::string file;  // path of the Sloth or OpenSLO file, required
  std::string slo;   // the SLO's name; empty = the file's only SLO
  SloCheck check = SloCheck::kCanary;
  SloSource source = SloSource::kBuiltin;
  std::string admin_json;          // builtin: the `admin` object as JSON text, empty = none
  std::string prometheus_address;  // prometheus: http(s)://host:port, no trailing slash
  // canary check with prometheus (required there): the label matcher selecting the canary's
  // series, e.g. version="abc123".
  std::string revision_matcher;

  // canary check.
  std::vector<std::string> severities = {"page", "ticket"};
  double alpha = 0.01;
  double beta = 0.01;
  double alternative_factor = 3.5;
  int64_t poll_interval_ms = 1000;  // default 1s for builtin, 15s for prometheus
  int64_t max_duration_seconds = 1800;
  int64_t read_error_limit = 5;  // reads that may fail in a row while watching

  // service check.
  SloFailOn fail_on = SloFailOn::kPage;

  // budget check.
  double budget_floor = 0.25;
  SloBudgetAction budget_action = SloBudgetAction::kRefuse;
};

// Parses the plugin configuration. Numbers may be written as text (an {{args.…}} substitution).
// Errors are InvalidArgument "ramp/slo: <field>: <what>": unknown fields, wrong types, values out
// of range, and options that belong to another check ("failOn: applies to check service only").
StatusOr<SloConfig> ParseSloConfig(const nlohmann::json& config);

// "canary", "service", "budget".
std::string_view SloCheckName(SloCheck check);

}  // namespace ramp::spec
