// SLO definitions read from the files users already have: Sloth (`version: prometheus/v1`, plus
// Sloth `AlertWindows`) and OpenSLO v1 (`SLO`, `SLI`, `AlertPolicy`, `AlertCondition`). Each SLO
// becomes one value: an error-ratio SLI (PromQL with Sloth's `{{.window}}` placeholder), the
// objective, the period and the multiwindow multi-burn-rate rules that gate on it
// (../shared/reference/science-and-performance.md §2.1, §2.4, §2.5; docs/slo.md).
//
// Part of the functional core: text comes in, values go out; no I/O, no clock.
//
// Thread-safety: pure functions returning plain values; safe to call concurrently, and the
// values may be shared for reading.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "ramp/status.h"

namespace ramp::slo {

// One multiwindow rule: fires when the error ratio over both windows exceeds
// burn_rate × error budget.
struct BurnWindow {
  std::string severity;  // "page" or "ticket"
  std::chrono::seconds long_window{0};
  std::chrono::seconds short_window{0};
  double burn_rate = 0;       // e.g. 14.4
  double budget_percent = 0;  // share of the period's budget this rule spends, e.g. 2

  friend bool operator==(const BurnWindow&, const BurnWindow&) = default;
};

// An error-ratio SLI; exactly one form is set.
struct Sli {
  std::string error_query, total_query;  // Sloth sli.events; OpenSLO ratioMetric bad/total
  std::string good_query;                // OpenSLO ratioMetric good/total (error = total - good)
  std::string error_ratio_query;         // Sloth sli.raw; OpenSLO rawType failure (success: 1 - x)
  bool raw_is_success = false;           // error_ratio_query is a success ratio (rawType success)
};

struct Slo {
  std::string name, service, description;
  double objective = 0;  // fraction, 0.999 for "99.9"
  std::chrono::seconds period{30 * 24 * 3600};
  Sli sli;
  std::vector<BurnWindow> windows;  // defaults: DefaultWindows(period)
  std::string source;               // "file:line" where the SLO was declared
  double ErrorBudget() const { return 1 - objective; }
};

// Every SLO declared in `text` (one or more YAML documents):
//   * Sloth `version: prometheus/v1`: service, slos[].{name, objective, description,
//     sli.events|raw, alerting.page_alert|ticket_alert.disable}; period 30d.
//   * Sloth `apiVersion: sloth.slok.dev/v1, kind: AlertWindows`: custom windows for the SLOs of
//     the text whose period equals spec.sloPeriod (an OpenSLO SLO with burn-rate alert policies
//     keeps those).
//   * OpenSLO `apiVersion: openslo/v1` kinds SLO (one Slo per objective; several objectives are
//     named "<name>/<index>"), SLI (indicatorRef resolved by metadata.name within the text),
//     AlertPolicy and AlertCondition with condition.kind burnrate (lookbackWindow is the long
//     window, a twelfth of it the short one, threshold the burn rate), Service, DataSource and
//     AlertNotificationTarget (accepted, ignored).
// Errors are InvalidArgument, every problem of the text on its own line as
// "<file>:<line>:<col>: <path>: <what>". Sloth sli.plugin, OpenSLO thresholdMetric, Timeslices
// budgeting, composite objectives and calendar windows are Unimplemented, naming the feature.
// A text that declares no SLO is InvalidArgument.
StatusOr<std::vector<Slo>> ParseSloFile(std::string_view text, std::string_view file_name);

// The SLO called `name` ("name", or "service/name" when names repeat across services) among
// `slos`; NotFound listing the names there are, InvalidArgument when the name is ambiguous.
StatusOr<Slo> FindSlo(const std::vector<Slo>& slos, std::string_view name);

// Replaces Sloth's `{{.window}}` (with or without spaces inside the braces) by a Prometheus
// duration ("5m", "1h", "3d").
std::string RenderWindow(std::string_view query, std::chrono::seconds window);

// The workbook's multiwindow rules (Table 5-8, Sloth google-30d) for `period`: page 2 % over
// 1h/5m, page 5 % over 6h/30m, ticket 10 % over 1d/2h, ticket 10 % over 3d/6h, with
// burn = budget_percent/100 × period / long window (14.4, 6, 3, 1 for 30d).
std::vector<BurnWindow> DefaultWindows(std::chrono::seconds period);

// Prometheus-style duration: a sequence of <integer><unit> with units s, m, h, d, w ("30d",
// "1h30m"). InvalidArgument naming the text otherwise; the calendar units M, Q, y and Y are
// refused by name (a month or a year is not a fixed length).
StatusOr<std::chrono::seconds> ParsePromDuration(std::string_view text);
// The shortest Prometheus spelling with units d, h, m, s: "5m", "1h30m", "30d"; "0s" for zero.
std::string FormatPromDuration(std::chrono::seconds d);

}  // namespace ramp::slo
