#include "metrics/judge/judge_provider.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/judge.h"
#include "analysis/stats.h"
#include "metrics/common/provider_util.h"
#include "metrics/prometheus/prometheus_provider.h"

namespace ramp::metrics {
namespace {

using analysis::ArmCounts;
using analysis::JudgeDecision;
using analysis::JudgeVerdict;
using analysis::SequentialJudge;
using json = nlohmann::json;
using Buckets = std::vector<std::pair<double, double>>;

constexpr Duration kReadTimeout = std::chrono::seconds(10);

// One read of both arms: cumulative counts (since the proxy or the counters started) and, from
// the built-in proxy, the latency histograms.
struct Reading {
  ArmCounts canary;
  ArmCounts stable;
  Buckets canary_buckets;
  Buckets stable_buckets;
};
using ReadCallback = std::function<void(StatusOr<Reading>)>;

// "500ms", "1.5s".
std::string BoundText(double seconds) {
  return seconds < 1 ? fmt::format("{}ms", std::lround(seconds * 1000))
                     : fmt::format("{}s", seconds);
}

analysis::JudgeOptions ToOptions(const spec::JudgeConfig& c) {
  analysis::JudgeOptions o;
  o.alpha = c.alpha;
  o.tolerance = c.tolerance;
  o.min_samples = c.min_samples;
  o.direction =
      c.direction == spec::JudgeDirection::kIncrease   ? analysis::stats::Direction::kIncrease
      : c.direction == spec::JudgeDirection::kDecrease ? analysis::stats::Direction::kDecrease
                                                       : analysis::stats::Direction::kEither;
  o.baseline_rate = c.baseline_rate;
  o.detect_ratio = c.detect_ratio;
  o.max_duration_seconds = c.max_duration_seconds;
  o.pass_early = c.pass_early;
  o.bad_noun = c.kind == spec::JudgeKind::kErrors
                   ? "errors"
                   : "requests slower than " + BoundText(c.latency_bound_seconds);
  return o;
}

// Requests over `bound` seconds in cumulative `buckets`: total − count at the bound, which must be
// one of the bucket bounds.
StatusOr<int64_t> SlowCount(const Buckets& buckets, double bound) {
  if (buckets.empty()) return Fail(InvalidArgumentError("no latency buckets in the answer"));
  const double total = buckets.back().second;
  std::string bounds;
  for (const auto& [le, count] : buckets) {
    if (std::isinf(le)) continue;
    if (std::abs(le - bound) <= 1e-9 * std::max(1.0, bound)) {
      return static_cast<int64_t>(std::llround(total - count));
    }
    bounds += (bounds.empty() ? "" : ", ") + fmt::format("{}ms", le * 1000);
  }
  return Fail(InvalidArgumentError(
      fmt::format("latencyBound {}ms is not one of the proxy's latency bucket bounds ({})",
                  bound * 1000, bounds)));
}

int64_t CountOf(uint64_t n) {
  return static_cast<int64_t>(std::min<uint64_t>(n, std::numeric_limits<int64_t>::max()));
}

// The saved baseline and judge, kept in the Running measurement.
struct SavedState {
  Reading base;
  std::string judge_json;
  int64_t read_errors = 0;
  int64_t resets = 0;
};

json BucketCounts(const Buckets& b) {
  json out = json::array();
  for (const auto& entry : b) out.push_back(entry.second);
  return out;
}

std::string EncodeState(const SavedState& s) {
  json j = {{"base",
             {{"canary", {s.base.canary.requests, s.base.canary.bad}},
              {"stable", {s.base.stable.requests, s.base.stable.bad}},
              {"canaryBuckets", BucketCounts(s.base.canary_buckets)},
              {"stableBuckets", BucketCounts(s.base.stable_buckets)}}},
            {"judge", s.judge_json},  // SequentialJudge::ToJson text, kept as it is
            {"readErrors", s.read_errors},
            {"resets", s.resets}};
  return j.dump();
}

StatusOr<SavedState> DecodeState(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  auto bad = [&] {
    return Fail(InvalidArgumentError("the measurement's " + std::string(kJudgeStateKey) +
                                     " is not a judge state: " + BodyExcerpt(text, 120)));
  };
  if (!j.is_object() || !j.contains("base") || !j["base"].is_object() || !j.contains("judge") ||
      !j["judge"].is_string() || !j.contains("readErrors") ||
      !j["readErrors"].is_number_integer()) {
    return bad();
  }
  SavedState s;
  const json& base = j["base"];
  auto arm = [&](const char* key, ArmCounts* out) {
    if (!base.contains(key) || !base[key].is_array() || base[key].size() != 2 ||
        !base[key][0].is_number_integer() || !base[key][1].is_number_integer()) {
      return false;
    }
    out->requests = base[key][0].get<int64_t>();
    out->bad = base[key][1].get<int64_t>();
    return true;
  };
  auto buckets = [&](const char* key, Buckets* out) {
    if (!base.contains(key) || !base[key].is_array()) return false;
    for (const json& c : base[key]) {
      if (!c.is_number()) return false;
      out->emplace_back(0, c.get<double>());
    }
    return true;
  };
  if (!arm("canary", &s.base.canary) || !arm("stable", &s.base.stable) ||
      !buckets("canaryBuckets", &s.base.canary_buckets) ||
      !buckets("stableBuckets", &s.base.stable_buckets)) {
    return bad();
  }
  s.judge_json = j["judge"].get<std::string>();
  s.read_errors = j["readErrors"].get<int64_t>();
  s.resets = j.value("resets", int64_t{0});
  return s;
}

// `now` − `base` per bucket (bounds from `now`); empty when the two do not line up.
Buckets Since(const Buckets& now, const Buckets& base) {
  if (now.size() != base.size()) return {};
  Buckets out;
  for (size_t i = 0; i < now.size(); ++i) {
    out.emplace_back(now[i].first, std::max(0.0, now[i].second - base[i].second));
  }
  return out;
}

std::string ValueText(const SequentialJudge& judge, const JudgeDecision& d) {
  return json{{"canaryRequests", judge.canary().requests},
              {"canaryBad", judge.canary().bad},
              {"stableRequests", judge.stable().requests},
              {"stableBad", judge.stable().bad},
              {"logEvidence", std::round(d.log_evidence * 1000) / 1000},
              {"logThreshold", std::round(d.log_threshold * 1000) / 1000}}
      .dump();
}

class JudgeProvider final : public WatchingProvider {
 public:
  JudgeProvider(spec::JudgeKind kind, HttpClient* http, BuiltinProviderOptions builtin)
      : kind_(kind),
        name_(spec::JudgeProviderName(kind)),
        http_(http),
        builtin_(std::move(builtin)) {}

  std::string_view Type() const override { return name_; }

  void Run(const RunContext& ctx, const MetricRef& metric, MeasurementCallback done) override {
    Measurement m;
    m.started_at = ctx.now;
    StatusOr<spec::JudgeConfig> config = Config(metric);
    if (!config)
      return done(MeasurementUpdate::Error(m, Redact(config.error().message(), ctx.secrets)));
    Read(ctx, *config,
         [this, ctx, config = *config, m = std::move(m),
          done = std::move(done)](StatusOr<Reading> r) mutable {
           if (!r) {
             return done(MeasurementUpdate::Error(
                 std::move(m),
                 Redact(std::string(name_) + ": " + r.error().message(), ctx.secrets)));
           }
           SequentialJudge judge(ToOptions(config));
           SavedState state{.base = std::move(*r), .judge_json = judge.ToJson()};
           JudgeDecision d = judge.Decide(0);
           m.message = d.message;
           m.value = ValueText(judge, d);
           m.metadata[std::string(kJudgeStateKey)] = EncodeState(state);
           done(MeasurementUpdate::Running(std::move(m), ctx.now + PollInterval(config)));
         });
  }

  void Resume(const RunContext& ctx, const MetricRef& metric, const Measurement& measurement,
              MeasurementCallback done) override {
    Measurement m = measurement;
    StatusOr<spec::JudgeConfig> config = Config(metric);
    if (!config)
      return done(MeasurementUpdate::Error(m, Redact(config.error().message(), ctx.secrets)));
    auto it = m.metadata.find(std::string(kJudgeStateKey));
    StatusOr<SavedState> state =
        it == m.metadata.end()
            ? Fail(InvalidArgumentError("the measurement has no " + std::string(kJudgeStateKey)))
            : DecodeState(it->second);
    if (!state) {
      return done(MeasurementUpdate::Error(m, std::string(name_) + ": " + state.error().message()));
    }
    StatusOr<SequentialJudge> judge =
        SequentialJudge::FromJson(state->judge_json, ToOptions(*config));
    if (!judge) {
      return done(MeasurementUpdate::Error(m, std::string(name_) + ": " + judge.error().message()));
    }
    Read(ctx, *config,
         [this, ctx, config = *config, m = std::move(m), state = std::move(*state),
          judge = std::move(*judge), done = std::move(done)](StatusOr<Reading> r) mutable {
           done(Step(ctx, config, std::move(m), std::move(state), std::move(judge), std::move(r)));
         });
  }

 private:
  StatusOr<spec::JudgeConfig> Config(const MetricRef& metric) const {
    ASSIGN_OR_RETURN(nlohmann::json j, ProviderConfigJson(metric, name_));
    return spec::ParseJudgeConfig(j, kind_);
  }

  static Duration PollInterval(const spec::JudgeConfig& c) {
    return std::chrono::milliseconds(c.poll_interval_ms);
  }

  MeasurementUpdate Step(const RunContext& ctx, const spec::JudgeConfig& config, Measurement m,
                         SavedState state, SequentialJudge judge, StatusOr<Reading> r) const {
    const int64_t elapsed =
        m.started_at
            ? std::chrono::duration_cast<std::chrono::seconds>(ctx.now - *m.started_at).count()
            : 0;
    auto redact = [&](std::string text) { return Redact(std::move(text), ctx.secrets); };
    std::string note;
    if (!r) {
      const bool out_of_time = elapsed >= config.max_duration_seconds;
      FailedRead failed = CountFailedRead(&state.read_errors, config.read_error_limit, out_of_time,
                                          r.error().message());
      if (failed.give_up) {
        return MeasurementUpdate::Error(std::move(m),
                                        redact(fmt::format("{}: {}", name_, failed.text)));
      }
      note = std::move(failed.text);
    } else {
      state.read_errors = 0;
      ArmCounts canary{r->canary.requests - state.base.canary.requests,
                       r->canary.bad - state.base.canary.bad};
      ArmCounts stable{r->stable.requests - state.base.stable.requests,
                       r->stable.bad - state.base.stable.bad};
      if (Status s = judge.Observe(canary, stable); !s.ok()) {
        // Counters went backwards (the proxy or the exporter restarted): carry on from the new
        // values, keeping what was counted so far.
        state.base.canary = {r->canary.requests - judge.canary().requests,
                             r->canary.bad - judge.canary().bad};
        state.base.stable = {r->stable.requests - judge.stable().requests,
                             r->stable.bad - judge.stable().bad};
        state.base.canary_buckets.clear();
        state.base.stable_buckets.clear();
        ++state.resets;
        note = " (the counters were reset; counting goes on from their new values)";
      }
    }
    JudgeDecision d = judge.Decide(elapsed);
    state.judge_json = judge.ToJson();
    m.value = ValueText(judge, d);
    m.metadata[std::string(kJudgeStateKey)] = EncodeState(state);
    m.message = redact(d.message + note);
    if (d.verdict == JudgeVerdict::kContinue) {
      return MeasurementUpdate::Running(std::move(m), ctx.now + PollInterval(config));
    }
    m.finished_at = ctx.now;
    m.phase = d.verdict == JudgeVerdict::kFail   ? AnalysisPhase::kFailed
              : d.verdict == JudgeVerdict::kPass ? AnalysisPhase::kSuccessful
                                                 : AnalysisPhase::kInconclusive;
    if (r && d.verdict != JudgeVerdict::kFail && config.kind == spec::JudgeKind::kLatency &&
        config.kayenta && config.source == spec::JudgeSource::kBuiltin) {
      LatencyClassification k =
          ClassifyLatencyHistograms(Since(r->canary_buckets, state.base.canary_buckets),
                                    Since(r->stable_buckets, state.base.stable_buckets));
      if (k.classification == "High") {
        m.phase = AnalysisPhase::kFailed;
        m.message = redact("canary slower by Kayenta's rule: " + k.message + "; " + d.message);
      } else {
        m.message += "; Kayenta: " + k.message;
      }
    }
    return MeasurementUpdate::Judged(std::move(m));
  }

  void Read(const RunContext& ctx, const spec::JudgeConfig& config, ReadCallback done) const {
    if (config.source == spec::JudgeSource::kPrometheus) return ReadPrometheus(ctx, config, done);
    std::string admin_url, token_file;
    if (!config.admin_json.empty()) {
      Status s = ParseBuiltinAdmin(json::parse(config.admin_json), name_, &admin_url, &token_file);
      if (!s.ok()) return done(Fail(s));
    }
    StatusOr<BuiltinTarget> target =
        ResolveBuiltinTarget(builtin_, admin_url, token_file, ctx.rollout, name_);
    if (!target) return done(Fail(target.error()));
    const std::string service = target->service;
    const spec::JudgeConfig c = config;
    http_->Send(BuiltinSignalsRequest(*target, 1, kReadTimeout),
                [c, service, done = std::move(done)](StatusOr<HttpResponse> r) {
                  if (!r) return done(Fail(UnavailableError(TransportErrorMessage(r.error()))));
                  if (std::optional<std::string> failed = BuiltinAnswerError(*r, service)) {
                    return done(Fail(UnavailableError(*failed)));
                  }
                  done(ParseBuiltinReading(c, r->body));
                });
  }

  static StatusOr<Reading> ParseBuiltinReading(const spec::JudgeConfig& c, std::string_view body) {
    ASSIGN_OR_RETURN(SignalWindow canary, ParseSignalWindow(body, "canary", "total"));
    ASSIGN_OR_RETURN(SignalWindow stable, ParseSignalWindow(body, "stable", "total"));
    Reading out;
    out.canary.requests = CountOf(canary.requests);
    out.stable.requests = CountOf(stable.requests);
    if (c.kind == spec::JudgeKind::kErrors) {
      out.canary.bad = CountOf(canary.errors);
      out.stable.bad = CountOf(stable.errors);
    } else {
      ASSIGN_OR_RETURN(out.canary.bad, SlowCount(canary.buckets, c.latency_bound_seconds));
      ASSIGN_OR_RETURN(out.stable.bad, SlowCount(stable.buckets, c.latency_bound_seconds));
    }
    out.canary_buckets = std::move(canary.buckets);
    out.stable_buckets = std::move(stable.buckets);
    return out;
  }

  void ReadPrometheus(const RunContext& ctx, const spec::JudgeConfig& c, ReadCallback done) const {
    const char* bad = c.kind == spec::JudgeKind::kErrors ? "errors" : "slow";
    std::vector<PrometheusQuery> queries = {
        {"prometheus.canary.requests", c.canary.requests},
        {fmt::format("prometheus.canary.{}", bad), c.canary.bad},
        {"prometheus.stable.requests", c.stable.requests},
        {fmt::format("prometheus.stable.{}", bad), c.stable.bad},
    };
    QueryPrometheusNumbers(http_, c.prometheus_address, queries, ctx.now, kReadTimeout,
                           [queries, done = std::move(done)](StatusOr<PrometheusNumbers> r) {
                             if (!r) return done(Fail(r.error()));
                             std::array<int64_t, 4> counts{};
                             for (size_t i = 0; i < counts.size(); ++i) {
                               const double x =
                                   (*r)[i].value_or(0);  // no series yet: nothing counted
                               if (!std::isfinite(x) || x < 0) {
                                 return done(Fail(InvalidArgumentError(fmt::format(
                                     "{} ({}): must be a count ≥ 0, got {}", queries[i].what,
                                     queries[i].query, FormatGoFloat(x)))));
                               }
                               counts[i] = std::llround(x);
                             }
                             Reading out;
                             out.canary = {counts[0], counts[1]};
                             out.stable = {counts[2], counts[3]};
                             done(std::move(out));
                           });
  }

  const spec::JudgeKind kind_;
  const std::string_view name_;
  HttpClient* const http_;
  const BuiltinProviderOptions builtin_;
};

std::vector<double> Samples(const Buckets& cumulative, int max_samples) {
  std::vector<double> out;
  if (cumulative.empty()) return out;
  const double total = cumulative.back().second;
  if (!(total > 0)) return out;
  const double scale = total > max_samples ? max_samples / total : 1.0;
  double largest_finite = 0, previous = 0;
  for (const auto& [le, count] : cumulative) {
    if (std::isfinite(le)) largest_finite = le;
  }
  for (const auto& [le, count] : cumulative) {
    const double in_bucket = count - previous;
    previous = count;
    const double value = std::isfinite(le) ? le : 2 * largest_finite;
    const auto n = static_cast<int64_t>(std::llround(in_bucket * scale));
    for (int64_t i = 0; i < n; ++i) out.push_back(value);
  }
  return out;
}

}  // namespace

LatencyClassification ClassifyLatencyHistograms(const Buckets& canary, const Buckets& stable,
                                                int max_samples) {
  std::vector<double> x = Samples(canary, max_samples), y = Samples(stable, max_samples);
  analysis::stats::KayentaOptions options;
  options.direction = analysis::stats::Direction::kIncrease;
  analysis::stats::KayentaResult k = analysis::stats::ClassifyKayenta(x, y, options);
  LatencyClassification out;
  switch (k.classification) {
    case analysis::stats::KayentaClass::kHigh:
      out.classification = "High";
      break;
    case analysis::stats::KayentaClass::kLow:
      out.classification = "Low";
      break;
    case analysis::stats::KayentaClass::kPass:
      out.classification = "Pass";
      break;
    case analysis::stats::KayentaClass::kNodata:
      out.classification = "Nodata";
      break;
  }
  if (k.test) {
    out.message = fmt::format(
        "{} (latency shift {:.1f}ms, 98 % interval [{:.1f}ms, {:.1f}ms], Mann-Whitney p = {:.3g}, "
        "{} canary and {} stable samples)",
        out.classification, k.test->estimate * 1000, k.test->ci_low * 1000, k.test->ci_high * 1000,
        k.test->p_two_sided, x.size(), y.size());
  } else {
    out.message =
        fmt::format("{} ({} canary and {} stable samples)", out.classification, x.size(), y.size());
  }
  return out;
}

std::unique_ptr<MetricProvider> NewJudgeProvider(spec::JudgeKind kind, HttpClient* http,
                                                 BuiltinProviderOptions builtin) {
  return std::make_unique<JudgeProvider>(kind, http, std::move(builtin));
}

Status RegisterJudgeMetricProviders(Registry<MetricProvider>& registry, HttpClient* http,
                                    BuiltinProviderOptions builtin) {
  if (http == nullptr) return InvalidArgumentError("RegisterJudgeMetricProviders: no HTTP client");
  for (spec::JudgeKind kind : {spec::JudgeKind::kErrors, spec::JudgeKind::kLatency}) {
    RETURN_IF_ERROR(
        registry.Register(std::string(spec::JudgeProviderName(kind)),
                          [kind, http, builtin]() -> StatusOr<std::unique_ptr<MetricProvider>> {
                            return NewJudgeProvider(kind, http, builtin);
                          }));
  }
  return OkStatus();
}

}  // namespace ramp::metrics
