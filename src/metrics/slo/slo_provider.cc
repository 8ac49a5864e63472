#include "metrics/slo/slo_provider.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "metrics/common/provider_util.h"
#include "metrics/prometheus/prometheus_provider.h"
#include "slo/burn_rate.h"
#include "slo/promql_matcher.h"
#include "slo/slo.h"
#include "spec/slo_config.h"

namespace ramp::metrics {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;
using std::chrono::seconds;

constexpr Duration kReadTimeout = std::chrono::seconds(10);
// The built-in proxy keeps per-second counters for the last hour (docs/proxy.md).
constexpr seconds kBuiltinLongestWindow{3600};
constexpr std::string_view kName = spec::kSloProvider;

std::string Prefixed(std::string_view text) { return fmt::format("{}: {}", kName, text); }

int64_t CountOf(uint64_t n) {
  return static_cast<int64_t>(std::min<uint64_t>(n, std::numeric_limits<int64_t>::max()));
}

// A number as a person writes it: 14.4, 6, 0.93.
std::string Num(double v) { return fmt::format("{:.4g}", v); }

// An Error update: `message` after the provider's name, redacted of the run's secrets.
MeasurementUpdate ErrorUpdate(Measurement m, std::string_view message, const RunContext& ctx) {
  return MeasurementUpdate::Error(std::move(m), Redact(Prefixed(message), ctx.secrets));
}

// A ratio for a measurement's value: null when there is none (JSON has no NaN).
json RatioJson(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// ---------------------------------------------------------------------------------------------
// The SLO file.

StatusOr<std::string> ReadFileText(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Fail(FailedPreconditionError(
        fmt::format("file: cannot read {}: {}", path, std::strerror(errno))));
  }
  std::string text;
  char buf[1 << 14];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return Fail(FailedPreconditionError(
          fmt::format("file: cannot read {}: {}", path, std::strerror(err))));
    }
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

// The configured SLO of the configured file. Errors are unprefixed.
StatusOr<slo::Slo> LoadSlo(const spec::SloConfig& c) {
  ASSIGN_OR_RETURN(std::string text, ReadFileText(c.file));
  StatusOr<std::vector<slo::Slo>> slos = slo::ParseSloFile(text, c.file);
  if (!slos) return Fail(slos.error());
  if (c.slo.empty()) {
    if (slos->size() == 1) return slos->front();
    std::string names;
    for (const slo::Slo& s : *slos) names += (names.empty() ? "\"" : ", \"") + s.name + "\"";
    return Fail(InvalidArgumentError(
        fmt::format("slo: required: {} declares {} SLOs ({}); name the one to check", c.file,
                    slos->size(), names)));
  }
  StatusOr<slo::Slo> found = slo::FindSlo(*slos, c.slo);
  if (!found) return Fail(found.error().WithPrefix("slo"));
  return found;
}

// The SLI's queries as Prometheus reads them, with `{{.window}}` still in them. Exactly one form.
struct SliQueries {
  std::string errors, good, total;  // counts: errors or good, and total
  std::string ratio;                // a single error (or success) ratio query
  bool ratio_is_success = false;
};

// The SLO's queries, scoped to the canary by `matcher` unless it is empty. Every query must have
// Sloth's `{{.window}}` placeholder: each check reads the ratio over windows it chooses.
StatusOr<SliQueries> Queries(const slo::Slo& s, const std::string& matcher) {
  const slo::Sli& sli = s.sli;
  SliQueries q;
  if (!sli.error_query.empty()) {
    q.errors = sli.error_query;
    q.total = sli.total_query;
  } else if (!sli.good_query.empty()) {
    q.good = sli.good_query;
    q.total = sli.total_query;
  } else {
    q.ratio = sli.error_ratio_query;
    q.ratio_is_success = sli.raw_is_success;
  }
  for (std::string* query : {&q.errors, &q.good, &q.total, &q.ratio}) {
    if (query->empty()) continue;
    if (slo::RenderWindow(*query, seconds(1)) == *query) {
      return Fail(InvalidArgumentError(fmt::format(
          "the SLI query of SLO \"{}\" has no {{{{.window}}}} placeholder, so ramp cannot choose "
          "the window it reads the ratio over: {}",
          s.name, *query)));
    }
    if (matcher.empty()) continue;
    StatusOr<std::string> scoped = slo::InjectLabelMatcher(*query, matcher);
    if (!scoped) {
      return Fail(scoped.error().WithPrefix(
          fmt::format("revisionMatcher: cannot scope the SLI query of SLO \"{}\"", s.name)));
    }
    *query = std::move(*scoped);
  }
  return q;
}

// ---------------------------------------------------------------------------------------------
// The canary test's state, kept in the Running measurement: the SLO as read at Run, the scoped
// queries (prometheus) or the counters' baseline (builtin), and what was counted so far.

struct Counts {
  int64_t requests = 0;
  int64_t errors = 0;
};

struct CanaryState {
  slo::Slo slo;        // name, service, objective, period and windows
  SliQueries queries;  // prometheus: errors or good, and total, scoped to the canary
  Counts base;         // builtin: the canary's cumulative counters at the start
  Counts counted;      // since the start, as of the last successful read
  int64_t read_errors = 0;
  int64_t resets = 0;
};

std::string EncodeState(const CanaryState& s) {
  json windows = json::array();
  for (const slo::BurnWindow& w : s.slo.windows) {
    windows.push_back(
        {w.severity, w.long_window.count(), w.short_window.count(), w.burn_rate, w.budget_percent});
  }
  json j = {{"slo",
             {{"name", s.slo.name},
              {"service", s.slo.service},
              {"objective", s.slo.objective},
              {"period", s.slo.period.count()},
              {"windows", windows}}},
            {"queries",
             {{"errors", s.queries.errors}, {"good", s.queries.good}, {"total", s.queries.total}}},
            {"base", {s.base.requests, s.base.errors}},
            {"counted", {s.counted.requests, s.counted.errors}},
            {"readErrors", s.read_errors},
            {"resets", s.resets}};
  return j.dump();
}

StatusOr<CanaryState> DecodeState(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  auto bad = [&](std::string_view what) {
    return Fail(
        InvalidArgumentError(fmt::format("the measurement's {} is not a ramp/slo state ({}): {}",
                                         kSloStateKey, what, BodyExcerpt(text, 120))));
  };
  if (!j.is_object()) return bad("not an object");
  auto pair = [&](const char* key, Counts* out) {
    if (!j.contains(key) || !j[key].is_array() || j[key].size() != 2 ||
        !j[key][0].is_number_integer() || !j[key][1].is_number_integer()) {
      return false;
    }
    out->requests = j[key][0].get<int64_t>();
    out->errors = j[key][1].get<int64_t>();
    return true;
  };
  CanaryState s;
  if (!pair("base", &s.base) || !pair("counted", &s.counted)) return bad("counts");
  if (!j.contains("readErrors") || !j["readErrors"].is_number_integer()) return bad("readErrors");
  s.read_errors = j["readErrors"].get<int64_t>();
  s.resets = j.value("resets", int64_t{0});
  if (!j.contains("slo") || !j["slo"].is_object()) return bad("slo");
  const json& o = j["slo"];
  if (!o.contains("name") || !o["name"].is_string() || !o.contains("objective") ||
      !o["objective"].is_number() || !o.contains("period") || !o["period"].is_number_integer() ||
      !o.contains("windows") || !o["windows"].is_array()) {
    return bad("slo");
  }
  s.slo.name = o["name"].get<std::string>();
  s.slo.service = o.value("service", std::string());
  s.slo.objective = o["objective"].get<double>();
  s.slo.period = seconds(o["period"].get<int64_t>());
  for (const json& w : o["windows"]) {
    if (!w.is_array() || w.size() != 5 || !w[0].is_string() || !w[1].is_number_integer() ||
        !w[2].is_number_integer() || !w[3].is_number() || !w[4].is_number()) {
      return bad("slo.windows");
    }
    s.slo.windows.push_back({.severity = w[0].get<std::string>(),
                             .long_window = seconds(w[1].get<int64_t>()),
                             .short_window = seconds(w[2].get<int64_t>()),
                             .burn_rate = w[3].get<double>(),
                             .budget_percent = w[4].get<double>()});
  }
  if (j.contains("queries")) {
    const json& q = j["queries"];
    if (!q.is_object()) return bad("queries");
    s.queries.errors = q.value("errors", std::string());
    s.queries.good = q.value("good", std::string());
    s.queries.total = q.value("total", std::string());
  }
  return s;
}

slo::CanaryBurnOptions ToOptions(const spec::SloConfig& c) {
  slo::CanaryBurnOptions o;
  o.alpha = c.alpha;
  o.beta = c.beta;
  o.alternative_factor = c.alternative_factor;
  o.severities = c.severities;
  return o;
}

std::string CanaryValue(const Counts& n, slo::Verdict verdict) {
  return ordered_json{{"requests", n.requests},
                      {"errors", n.errors},
                      {"verdict", std::string(slo::VerdictName(verdict))}}
      .dump();
}

// "burn 14.4× (page, 1h/5m) undecided, burn 3× (ticket, 1d/2h) passed, …"
std::string RuleStates(const slo::CanaryBurnResult& r) {
  std::string out;
  for (const slo::RuleDecision& d : r.rules) {
    const char* state = "skipped";
    switch (d.state) {
      case slo::RuleDecision::State::kSkipped:
        state = "skipped";
        break;
      case slo::RuleDecision::State::kContinue:
        state = "undecided";
        break;
      case slo::RuleDecision::State::kAccepted:
        state = "passed";
        break;
      case slo::RuleDecision::State::kRejected:
        state = "failed";
        break;
    }
    if (!out.empty()) out += ", ";
    out += fmt::format("burn {}× ({}, {}/{}) {}", Num(d.window.burn_rate), d.window.severity,
                       slo::FormatPromDuration(d.window.long_window),
                       slo::FormatPromDuration(d.window.short_window), state);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The provider.

class SloProvider final : public WatchingProvider {
 public:
  SloProvider(HttpClient* http, BuiltinProviderOptions builtin)
      : http_(http), builtin_(std::move(builtin)) {}

  std::string_view Type() const override { return kName; }

  void Run(const RunContext& ctx, const MetricRef& metric, MeasurementCallback done) override {
    Measurement m;
    m.started_at = ctx.now;
    StatusOr<spec::SloConfig> config = Config(metric);
    if (!config) {
      // The configuration's errors already name the provider.
      return done(MeasurementUpdate::Error(m, Redact(config.error().message(), ctx.secrets)));
    }
    StatusOr<slo::Slo> s = LoadSlo(*config);
    if (!s) return done(ErrorUpdate(m, s.error().message(), ctx));
    switch (config->check) {
      case spec::SloCheck::kCanary:
        return StartCanary(ctx, *config, std::move(*s), std::move(m), std::move(done));
      case spec::SloCheck::kService:
        return CheckService(ctx, *config, std::move(*s), std::move(m), std::move(done));
      case spec::SloCheck::kBudget:
        return CheckBudget(ctx, *config, std::move(*s), std::move(m), std::move(done));
    }
  }

  void Resume(const RunContext& ctx, const MetricRef& metric, const Measurement& measurement,
              MeasurementCallback done) override {
    Measurement m = measurement;
    StatusOr<spec::SloConfig> config = Config(metric);
    if (!config) {
      // The configuration's errors already name the provider.
      return done(MeasurementUpdate::Error(m, Redact(config.error().message(), ctx.secrets)));
    }
    if (config->check != spec::SloCheck::kCanary) {
      return done(ErrorUpdate(m,
                              fmt::format("check {} answers at once; there is nothing to resume",
                                          spec::SloCheckName(config->check)),
                              ctx));
    }
    auto it = m.metadata.find(std::string(kSloStateKey));
    StatusOr<CanaryState> state =
        it == m.metadata.end()
            ? Fail(InvalidArgumentError("the measurement has no " + std::string(kSloStateKey)))
            : DecodeState(it->second);
    if (!state) return done(ErrorUpdate(m, state.error().message(), ctx));
    const spec::SloConfig c = *config;
    const Duration elapsed = m.started_at ? ctx.now - *m.started_at : Duration(0);
    const CanaryState snapshot = *state;  // the lambda below takes *state first
    ReadCanary(ctx, c, snapshot, elapsed,
               [this, ctx, c, m = std::move(m), state = std::move(*state),
                done = std::move(done)](StatusOr<Counts> r) mutable {
                 done(Step(ctx, c, std::move(m), std::move(state), std::move(r)));
               });
  }

 private:
  static StatusOr<spec::SloConfig> Config(const MetricRef& metric) {
    ASSIGN_OR_RETURN(nlohmann::json j, ProviderConfigJson(metric, kName));
    return spec::ParseSloConfig(j);
  }

  static Duration PollInterval(const spec::SloConfig& c) {
    return std::chrono::milliseconds(c.poll_interval_ms);
  }

  // ----- canary check -------------------------------------------------------------------------

  void StartCanary(const RunContext& ctx, const spec::SloConfig& c, slo::Slo s, Measurement m,
                   MeasurementCallback done) const {
    CanaryState state;
    if (c.source == spec::SloSource::kPrometheus) {
      StatusOr<SliQueries> q = Queries(s, c.revision_matcher);
      if (!q) return done(ErrorUpdate(m, q.error().message(), ctx));
      if (!q->ratio.empty()) {
        return done(ErrorUpdate(
            m,
            fmt::format("check canary: the SLI of SLO \"{}\" is a single ratio query (Sloth "
                        "sli.raw, OpenSLO ratioMetric.raw), which gives no request counts for "
                        "the sequential test: write it as Sloth sli.events or OpenSLO "
                        "ratioMetric good or bad over total, or count the canary at the "
                        "built-in proxy (leave out prometheus)",
                        s.name),
            ctx));
      }
      state.slo = std::move(s);
      state.queries = std::move(*q);
      // The window starts now: nothing to read yet.
      return done(StartedCanary(ctx, c, std::move(m), std::move(state)));
    }
    state.slo = std::move(s);
    ReadBuiltinTotal(ctx, c,
                     [this, ctx, c, m = std::move(m), state = std::move(state),
                      done = std::move(done)](StatusOr<Counts> r) mutable {
                       if (!r) {
                         return done(ErrorUpdate(std::move(m), r.error().message(), ctx));
                       }
                       state.base = *r;
                       done(StartedCanary(ctx, c, std::move(m), std::move(state)));
                     });
  }

  static MeasurementUpdate StartedCanary(const RunContext& ctx, const spec::SloConfig& c,
                                         Measurement m, CanaryState state) {
    slo::CanaryBurnResult r = slo::EvaluateCanaryBurn(state.slo, 0, 0, ToOptions(c));
    m.value = CanaryValue({}, r.verdict);
    m.message = Redact(r.message, ctx.secrets);
    if (r.verdict == slo::Verdict::kInconclusive) {
      // No rule of the chosen severities can be tested: no traffic will change that.
      m.finished_at = ctx.now;
      m.phase = AnalysisPhase::kInconclusive;
      return MeasurementUpdate::Judged(std::move(m));
    }
    m.metadata[std::string(kSloStateKey)] = EncodeState(state);
    return MeasurementUpdate::Running(std::move(m), ctx.now + PollInterval(c));
  }

  MeasurementUpdate Step(const RunContext& ctx, const spec::SloConfig& c, Measurement m,
                         CanaryState state, StatusOr<Counts> r) const {
    const Duration elapsed = m.started_at ? ctx.now - *m.started_at : Duration(0);
    const bool out_of_time = elapsed >= seconds(c.max_duration_seconds);
    auto redact = [&](std::string text) { return Redact(std::move(text), ctx.secrets); };
    std::string note;
    if (!r) {
      FailedRead failed =
          CountFailedRead(&state.read_errors, c.read_error_limit, out_of_time, r.error().message());
      if (failed.give_up) return ErrorUpdate(std::move(m), failed.text, ctx);
      note = std::move(failed.text);
    } else {
      state.read_errors = 0;
      Counts now = *r;
      if (c.source == spec::SloSource::kBuiltin) {
        Counts since{now.requests - state.base.requests, now.errors - state.base.errors};
        if (since.requests < state.counted.requests || since.errors < state.counted.errors) {
          // The counters went backwards (the proxy restarted): carry on from their new values,
          // keeping what was counted so far.
          state.base = {now.requests - state.counted.requests, now.errors - state.counted.errors};
          since = state.counted;
          ++state.resets;
          note = " (the counters were reset; counting goes on from their new values)";
        }
        now = since;
      }
      state.counted = now;
    }
    slo::CanaryBurnResult d = slo::EvaluateCanaryBurn(state.slo, state.counted.requests,
                                                      state.counted.errors, ToOptions(c));
    m.value = CanaryValue(state.counted, d.verdict);
    m.metadata[std::string(kSloStateKey)] = EncodeState(state);
    m.message = redact(d.message + note);
    if (d.verdict == slo::Verdict::kContinue) {
      if (!out_of_time) return MeasurementUpdate::Running(std::move(m), ctx.now + PollInterval(c));
      m.message = redact(fmt::format(
          "not enough canary traffic to decide in {}: {} canary requests, {} errors; {}{}",
          slo::FormatPromDuration(seconds(c.max_duration_seconds)), state.counted.requests,
          state.counted.errors, RuleStates(d), note));
      m.value = CanaryValue(state.counted, slo::Verdict::kInconclusive);
    }
    m.finished_at = ctx.now;
    m.phase = d.verdict == slo::Verdict::kFail   ? AnalysisPhase::kFailed
              : d.verdict == slo::Verdict::kPass ? AnalysisPhase::kSuccessful
                                                 : AnalysisPhase::kInconclusive;
    return MeasurementUpdate::Judged(std::move(m));
  }

  // The canary's counts: the built-in proxy's cumulative counters (the caller subtracts the
  // baseline), or Prometheus' count over the `elapsed` time since the measurement started.
  void ReadCanary(const RunContext& ctx, const spec::SloConfig& c, const CanaryState& state,
                  Duration elapsed, std::function<void(StatusOr<Counts>)> done) const {
    if (c.source == spec::SloSource::kBuiltin) return ReadBuiltinTotal(ctx, c, std::move(done));
    ReadPrometheusCanary(ctx, c, state, elapsed, std::move(done));
  }

  // The canary's counts over [start, now] from Prometheus: the scoped rate queries rendered at
  // the elapsed time (whole seconds, rounded up, at least 1s), times that window —
  // rate(…[elapsed]) × elapsed approximates what the canary counted since the start.
  void ReadPrometheusCanary(const RunContext& ctx, const spec::SloConfig& c,
                            const CanaryState& state, Duration elapsed,
                            std::function<void(StatusOr<Counts>)> done) const {
    const auto whole = std::chrono::ceil<seconds>(elapsed);
    const seconds window = std::max(seconds(1), whole);
    const std::string w = slo::FormatPromDuration(window);
    const bool good = !state.queries.good.empty();
    std::vector<PrometheusQuery> queries = {
        {fmt::format("canary {} over {}", good ? "good" : "errors", w),
         slo::RenderWindow(good ? state.queries.good : state.queries.errors, window)},
        {fmt::format("canary total over {}", w), slo::RenderWindow(state.queries.total, window)}};
    QueryPrometheus(ctx, c.prometheus_address, std::move(queries),
                    [window, good, done = std::move(done)](StatusOr<PrometheusNumbers> r) {
                      if (!r) return done(Fail(r.error()));
                      const double bad_or_good = (*r)[0].value_or(0);
                      const double total = (*r)[1].value_or(0);
                      for (double v : {bad_or_good, total}) {
                        if (!std::isfinite(v) || v < 0) {
                          return done(Fail(InvalidArgumentError(fmt::format(
                              "the canary's SLI queries must return rates ≥ 0, got {} and {}",
                              FormatGoFloat(bad_or_good), FormatGoFloat(total)))));
                        }
                      }
                      const double secs = static_cast<double>(window.count());
                      Counts n;
                      n.requests = std::llround(total * secs);
                      n.errors = std::llround((good ? total - bad_or_good : bad_or_good) * secs);
                      n.errors = std::clamp<int64_t>(n.errors, 0, n.requests);
                      done(n);
                    });
  }

  // ----- service check ------------------------------------------------------------------------

  void CheckService(const RunContext& ctx, const spec::SloConfig& c, slo::Slo s, Measurement m,
                    MeasurementCallback done) const {
    const std::vector<seconds> windows = slo::GuardWindows(s);
    auto finish = [ctx, c, s, m, done, windows](std::map<seconds, double> ratios,
                                                const std::string& note) mutable {
      slo::ServiceWideResult r = slo::EvaluateServiceWide(s, ratios);
      const bool fails =
          r.page_firing || (c.fail_on == spec::SloFailOn::kTicket && r.ticket_firing);
      ordered_json by_window = ordered_json::object();
      for (seconds w : windows) {
        auto it = ratios.find(w);
        by_window[slo::FormatPromDuration(w)] =
            RatioJson(it == ratios.end() ? std::nan("") : it->second);
      }
      m.value = ordered_json{{"errorRatio", by_window},
                             {"pageFiring", r.page_firing},
                             {"ticketFiring", r.ticket_firing}}
                    .dump();
      m.message = Redact(r.message + note, ctx.secrets);
      m.finished_at = ctx.now;
      m.phase = fails ? AnalysisPhase::kFailed : AnalysisPhase::kSuccessful;
      done(MeasurementUpdate::Judged(std::move(m)));
    };
    if (c.source == spec::SloSource::kPrometheus) {
      StatusOr<SliQueries> q = Queries(s, "");
      if (!q) return done(ErrorUpdate(m, q.error().message(), ctx));
      ReadRatios(ctx, c, *q, windows,
                 [ctx, m, done,
                  finish = std::move(finish)](StatusOr<std::map<seconds, double>> r) mutable {
                   if (!r) {
                     return done(ErrorUpdate(std::move(m), r.error().message(), ctx));
                   }
                   finish(std::move(*r), "");
                 });
      return;
    }
    std::vector<seconds> readable;
    std::string unread;
    for (seconds w : windows) {
      if (w <= kBuiltinLongestWindow) {
        readable.push_back(w);
      } else {
        unread += (unread.empty() ? "" : ", ") + slo::FormatPromDuration(w);
      }
    }
    const std::string note =
        unread.empty() ? ""
                       : fmt::format(
                             " (the built-in proxy keeps one hour of per-second counters, so {} "
                             "cannot be read there; give prometheus to evaluate every rule)",
                             unread);
    ReadBuiltinRatios(ctx, c, readable,
                      [ctx, m, done, note,
                       finish = std::move(finish)](StatusOr<std::map<seconds, double>> r) mutable {
                        if (!r) {
                          return done(ErrorUpdate(std::move(m), r.error().message(), ctx));
                        }
                        finish(std::move(*r), note);
                      });
  }

  // ----- budget check -------------------------------------------------------------------------

  void CheckBudget(const RunContext& ctx, const spec::SloConfig& c, slo::Slo s, Measurement m,
                   MeasurementCallback done) const {
    StatusOr<SliQueries> q = Queries(s, "");
    if (!q) return done(ErrorUpdate(m, q.error().message(), ctx));
    const seconds period = s.period;
    ReadRatios(ctx, c, *q, {period},
               [ctx, c, s, period, m = std::move(m),
                done = std::move(done)](StatusOr<std::map<seconds, double>> r) mutable {
                 if (!r) {
                   return done(ErrorUpdate(std::move(m), r.error().message(), ctx));
                 }
                 const double ratio = (*r)[period];
                 slo::BudgetPolicy policy;
                 policy.floor = c.budget_floor;
                 policy.action = c.budget_action == spec::SloBudgetAction::kRefuse
                                     ? slo::BudgetPolicy::Action::kRefuse
                                     : slo::BudgetPolicy::Action::kRequireApproval;
                 slo::CanaryBurnResult b = slo::EvaluateBudget(s, ratio, policy);
                 m.value =
                     ordered_json{{"remainingBudget",
                                   RatioJson(std::isfinite(ratio) ? slo::RemainingBudget(s, ratio)
                                                                  : std::nan(""))},
                                  {"errorRatio", RatioJson(ratio)}}
                         .dump();
                 m.message = Redact(b.message, ctx.secrets);
                 m.finished_at = ctx.now;
                 m.phase = b.verdict == slo::Verdict::kPass   ? AnalysisPhase::kSuccessful
                           : b.verdict == slo::Verdict::kFail ? AnalysisPhase::kFailed
                                                              : AnalysisPhase::kInconclusive;
                 done(MeasurementUpdate::Judged(std::move(m)));
               });
  }

  // ----- reading ------------------------------------------------------------------------------

  // The whole service's error ratio over each of `windows` from the SLO's (unscoped) queries:
  // errors / total, (total − good) / total, or the ratio query. NaN when there is no traffic.
  void ReadRatios(const RunContext& ctx, const spec::SloConfig& c, const SliQueries& q,
                  const std::vector<seconds>& windows,
                  std::function<void(StatusOr<std::map<seconds, double>>)> done) const {
    std::vector<PrometheusQuery> queries;
    const int per_window = q.ratio.empty() ? 2 : 1;
    for (seconds w : windows) {
      const std::string text = slo::FormatPromDuration(w);
      if (!q.ratio.empty()) {
        queries.push_back({"error ratio over " + text, slo::RenderWindow(q.ratio, w)});
      } else {
        const bool good = !q.good.empty();
        queries.push_back({fmt::format("{} over {}", good ? "good" : "errors", text),
                           slo::RenderWindow(good ? q.good : q.errors, w)});
        queries.push_back({"total over " + text, slo::RenderWindow(q.total, w)});
      }
    }
    QueryPrometheus(
        ctx, c.prometheus_address, std::move(queries),
        [q, windows, per_window, done = std::move(done)](StatusOr<PrometheusNumbers> r) {
          if (!r) return done(Fail(r.error()));
          std::map<seconds, double> ratios;
          const double nan = std::nan("");
          for (size_t i = 0; i < windows.size(); ++i) {
            double ratio = nan;
            if (per_window == 1) {
              const std::optional<double> x = (*r)[i];
              if (x) ratio = q.ratio_is_success ? 1 - *x : *x;
            } else {
              const std::optional<double> part = (*r)[2 * i];
              const std::optional<double> total = (*r)[2 * i + 1];
              if (total && *total > 0) {
                const double p = part.value_or(0);
                ratio = (q.good.empty() ? p : *total - p) / *total;
              }
            }
            ratios[windows[i]] = ratio;
          }
          done(std::move(ratios));
        });
  }

  void QueryPrometheus(const RunContext& ctx, const std::string& address,
                       std::vector<PrometheusQuery> queries,
                       std::function<void(StatusOr<PrometheusNumbers>)> done) const {
    for (PrometheusQuery& q : queries) q.what = "prometheus " + q.what;
    QueryPrometheusNumbers(http_, address, std::move(queries), ctx.now, kReadTimeout,
                           std::move(done));
  }

  StatusOr<BuiltinTarget> Target(const RunContext& ctx, const spec::SloConfig& c) const {
    std::string admin_url, token_file;
    if (!c.admin_json.empty()) {
      RETURN_IF_ERROR(ParseBuiltinAdmin(json::parse(c.admin_json), kName, &admin_url, &token_file));
    }
    return ResolveBuiltinTarget(builtin_, admin_url, token_file, ctx.rollout, kName);
  }

  // The canary revision's cumulative counters at the built-in proxy.
  void ReadBuiltinTotal(const RunContext& ctx, const spec::SloConfig& c,
                        std::function<void(StatusOr<Counts>)> done) const {
    StatusOr<BuiltinTarget> target = Target(ctx, c);
    if (!target) return done(Fail(target.error()));
    const std::string service = target->service;
    http_->Send(BuiltinSignalsRequest(*target, 1, kReadTimeout),
                [service, done = std::move(done)](StatusOr<HttpResponse> r) {
                  if (!r) return done(Fail(UnavailableError(TransportErrorMessage(r.error()))));
                  if (std::optional<std::string> failed = BuiltinAnswerError(*r, service)) {
                    return done(Fail(UnavailableError(*failed)));
                  }
                  StatusOr<SignalWindow> canary = ParseSignalWindow(r->body, "canary", "total");
                  if (!canary) return done(Fail(canary.error()));
                  done(Counts{CountOf(canary->requests), CountOf(canary->errors)});
                });
  }

  // Both revisions' requests and errors over each of `windows` (each at most an hour), summed.
  void ReadBuiltinRatios(const RunContext& ctx, const spec::SloConfig& c,
                         const std::vector<seconds>& windows,
                         std::function<void(StatusOr<std::map<seconds, double>>)> done) const {
    StatusOr<BuiltinTarget> target = Target(ctx, c);
    if (!target) return done(Fail(target.error()));
    struct Batch {
      std::mutex mu;
      size_t left = 0;
      std::map<seconds, double> ratios;
      std::optional<Status> error;
      std::function<void(StatusOr<std::map<seconds, double>>)> done;
    };
    auto batch = std::make_shared<Batch>();
    batch->left = windows.size();
    batch->done = std::move(done);
    if (windows.empty()) return batch->done(std::map<seconds, double>{});
    const std::string service = target->service;
    for (seconds w : windows) {
      http_->Send(BuiltinSignalsRequest(*target, w.count(), kReadTimeout),
                  [batch, w, service](StatusOr<HttpResponse> r) {
                    auto ratio = [&]() -> StatusOr<double> {
                      if (!r) return Fail(UnavailableError(TransportErrorMessage(r.error())));
                      if (std::optional<std::string> failed = BuiltinAnswerError(*r, service)) {
                        return Fail(UnavailableError(*failed));
                      }
                      ASSIGN_OR_RETURN(SignalWindow canary, ParseSignalWindow(r->body, "canary"));
                      ASSIGN_OR_RETURN(SignalWindow stable, ParseSignalWindow(r->body, "stable"));
                      const double requests =
                          static_cast<double>(canary.requests + stable.requests);
                      const double errors = static_cast<double>(canary.errors + stable.errors);
                      return requests > 0 ? errors / requests : std::nan("");
                    }();
                    std::unique_lock lock(batch->mu);
                    if (ratio) {
                      batch->ratios[w] = *ratio;
                    } else if (!batch->error) {
                      batch->error = ratio.error().WithPrefix(fmt::format(
                          "reading the last {} at the built-in proxy", slo::FormatPromDuration(w)));
                    }
                    if (--batch->left > 0) return;
                    lock.unlock();
                    if (batch->error) return batch->done(Fail(*batch->error));
                    batch->done(std::move(batch->ratios));
                  });
    }
  }

  HttpClient* const http_;
  const BuiltinProviderOptions builtin_;
};

}  // namespace

std::unique_ptr<MetricProvider> NewSloProvider(HttpClient* http, BuiltinProviderOptions builtin) {
  return std::make_unique<SloProvider>(http, std::move(builtin));
}

Status RegisterSloMetricProvider(Registry<MetricProvider>& registry, HttpClient* http,
                                 BuiltinProviderOptions builtin) {
  if (http == nullptr) return InvalidArgumentError("RegisterSloMetricProvider: no HTTP client");
  return registry.Register(std::string(kName),
                           [http, builtin]() -> StatusOr<std::unique_ptr<MetricProvider>> {
                             return NewSloProvider(http, builtin);
                           });
}

}  // namespace ramp::metrics
