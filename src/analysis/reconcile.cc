// AnalysisRun assessment (analysis/analysis.go reconcileAnalysisRun and its helpers), with
// asynchronous measurements: requests go out, answers come back as observations.
#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "analysis/analysis.h"
#include "analysis/resolve.h"

namespace ramp::analysis {
namespace {

using spec::AnalysisPhase;

constexpr char kAwaitRun[] = "Run";
constexpr char kAwaitResume[] = "Resume";
constexpr char kAwaitTerminate[] = "Terminate";
// A Run still out when the run began terminating, whose provider was asked to stop it: its answer
// is recorded as the Run's (a value is a value), and it is not asked again.
constexpr char kAwaitRunStopping[] = "Run,Terminate";

bool AwaitsRun(const std::string& marker) {
  return marker == kAwaitRun || marker == kAwaitRunStopping;
}

// One metric of the run as this reconcile sees it.
struct MetricInfo {
  internal::ResolvedMetric resolved;  // secrets as placeholders (scheduling, provider config)
  // Where the provider configuration is resolved from when `resolved` was made without it.
  const spec::Metric* source = nullptr;
  const internal::ArgTable* table = nullptr;
  std::string success_condition;  // with secret values
  std::string failure_condition;
  bool dry_run = false;
  int32_t retention = kDefaultMeasurementRetention;
};

std::string PhaseName(AnalysisPhase p) { return std::string(spec::AnalysisPhaseName(p)); }

// utils/analysis/helpers.go analysisStatusOrder, best to worst; other phases rank as the best.
int Rank(AnalysisPhase p) {
  static constexpr std::array<AnalysisPhase, 6> kOrder = {
      AnalysisPhase::kSuccessful,   AnalysisPhase::kRunning, AnalysisPhase::kPending,
      AnalysisPhase::kInconclusive, AnalysisPhase::kError,   AnalysisPhase::kFailed};
  for (size_t i = 0; i < kOrder.size(); ++i) {
    if (kOrder[i] == p) return static_cast<int>(i);
  }
  return 0;
}
bool IsWorse(AnalysisPhase current, AnalysisPhase candidate) {
  return Rank(candidate) > Rank(current);
}

spec::MetricResult* FindResult(spec::AnalysisRunStatus* st, std::string_view name) {
  for (spec::MetricResult& r : st->metric_results) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

bool Finished(const spec::Measurement& m) { return m.finished_at.has_value(); }
bool Awaiting(const spec::Measurement& m) { return m.metadata.count(kAwaitingKey) > 0; }

// helpers.go IsTerminating.
bool IsTerminating(const spec::AnalysisRun& run) {
  if (run.spec.terminate) return true;
  for (const spec::MetricResult& r : run.status.metric_results) {
    if (r.dry_run) continue;
    if (r.phase == AnalysisPhase::kFailed || r.phase == AnalysisPhase::kError ||
        r.phase == AnalysisPhase::kInconclusive) {
      return true;
    }
  }
  return false;
}

std::string Redact(std::string s, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    size_t pos = 0;
    while ((pos = s.find(secret, pos)) != std::string::npos) {
      s.replace(pos, secret.size(), kRedacted);
      pos += sizeof(kRedacted) - 1;
    }
  }
  return s;
}

void RedactMeasurement(spec::Measurement* m, const std::vector<std::string>& secrets) {
  if (secrets.empty()) return;
  m->message = Redact(std::move(m->message), secrets);
  m->value = Redact(std::move(m->value), secrets);
  for (auto& [k, v] : m->metadata) v = Redact(std::move(v), secrets);
}

AnalysisPhase ToSpecPhase(ramp::AnalysisPhase p) {
  return spec::ParseAnalysisPhase(ramp::AnalysisPhaseName(p)).value_or(AnalysisPhase::kNone);
}

ramp::AnalysisPhase ToRampPhase(AnalysisPhase p) {
  return ramp::ParseAnalysisPhase(spec::AnalysisPhaseName(p))
      .value_or(ramp::AnalysisPhase::kPending);
}

std::optional<spec::MetaTime> ToMeta(const std::optional<Time>& t) {
  if (!t) return std::nullopt;
  return ToMetaTime(*t);
}

std::optional<Time> FromMeta(const std::optional<spec::MetaTime>& t) {
  if (!t) return std::nullopt;
  return FromMetaTime(*t);
}

spec::Measurement ToSpecMeasurement(const Measurement& m) {
  spec::Measurement out;
  out.phase = ToSpecPhase(m.phase);
  out.message = m.message;
  out.started_at = ToMeta(m.started_at);
  out.finished_at = ToMeta(m.finished_at);
  out.value = m.value;
  out.metadata = m.metadata;
  out.resume_at = ToMeta(m.resume_at);
  return out;
}

Measurement ToProviderMeasurement(const spec::Measurement& m) {
  Measurement out;
  out.phase = ToRampPhase(m.phase);
  out.message = m.message;
  out.started_at = FromMeta(m.started_at);
  out.finished_at = FromMeta(m.finished_at);
  out.value = m.value;
  out.metadata = m.metadata;
  out.metadata.erase(kAwaitingKey);
  out.resume_at = FromMeta(m.resume_at);
  return out;
}

engine::EmitEvent RunEvent(AnalysisPhase phase) {
  engine::EmitEvent e;
  e.reason = "AnalysisRun" + PhaseName(phase);
  e.message = "Analysis Completed. Result: " + PhaseName(phase);
  e.type = phase == AnalysisPhase::kError || phase == AnalysisPhase::kFailed ? EventType::kWarning
                                                                             : EventType::kNormal;
  return e;
}

engine::EmitEvent MetricEvent(const std::string& metric, AnalysisPhase phase) {
  engine::EmitEvent e;
  e.reason = "Metric" + PhaseName(phase);
  e.message = "Metric '" + metric + "' Completed. Result: " + PhaseName(phase);
  e.type = phase == AnalysisPhase::kError || phase == AnalysisPhase::kFailed ? EventType::kWarning
                                                                             : EventType::kNormal;
  return e;
}

// The measurement an answer makes of the awaited one; the answer to a Terminate that ended
// Successful or Inconclusive reads "Metric Terminated".
spec::Measurement RecordAnswer(const MeasurementUpdate& update, const spec::Measurement& awaited,
                               const MetricInfo& info, Time now, const Evaluator& ev,
                               bool terminated) {
  spec::Measurement m = ToSpecMeasurement(update.measurement);
  // The answer's metadata over what the measurement already had (a job's name, …).
  std::map<std::string, std::string> metadata = awaited.metadata;
  for (auto& [k, v] : m.metadata) metadata[k] = std::move(v);
  metadata.erase(kAwaitingKey);
  m.metadata = std::move(metadata);
  // A resumed or terminated measurement started when it was first run.
  const bool continued =
      awaited.metadata.count(kAwaitingKey) > 0 && !AwaitsRun(awaited.metadata.at(kAwaitingKey));
  if (!m.started_at || (continued && awaited.started_at)) m.started_at = awaited.started_at;
  switch (update.kind) {
    case MeasurementUpdate::Kind::kValue: {
      Verdict v = EvaluateResult(info.success_condition, info.failure_condition, update.result, now,
                                 ev.condition);
      m.phase = v.phase;
      if (v.phase == AnalysisPhase::kError) m.message = v.message;
      break;
    }
    case MeasurementUpdate::Kind::kJudged:
      if (!spec::IsCompleted(m.phase)) {
        m.message = "the provider reported phase \"" + PhaseName(m.phase) + "\" as a verdict";
        m.phase = AnalysisPhase::kError;
      }
      break;
    case MeasurementUpdate::Kind::kRunning:
      m.phase = AnalysisPhase::kRunning;
      m.finished_at.reset();
      break;
    case MeasurementUpdate::Kind::kError:
      m.phase = AnalysisPhase::kError;
      break;
  }
  if (terminated &&
      (m.phase == AnalysisPhase::kSuccessful || m.phase == AnalysisPhase::kInconclusive)) {
    m.message = "Metric Terminated";
  }
  if (spec::IsCompleted(m.phase)) {
    if (!m.finished_at) m.finished_at = ToMetaTime(now);
    m.resume_at.reset();
  }
  return m;
}

// analysis.go runMeasurements' bookkeeping of a completed measurement.
void CountMeasurement(AnalysisPhase phase, spec::MetricResult* r) {
  switch (phase) {
    case AnalysisPhase::kSuccessful:
      ++r->successful;
      ++r->count;
      r->consecutive_error = 0;
      ++r->consecutive_success;
      break;
    case AnalysisPhase::kFailed:
      ++r->failed;
      ++r->count;
      r->consecutive_error = 0;
      r->consecutive_success = 0;
      break;
    case AnalysisPhase::kInconclusive:
      ++r->inconclusive;
      ++r->count;
      r->consecutive_error = 0;
      r->consecutive_success = 0;
      break;
    case AnalysisPhase::kError:
      ++r->error;
      ++r->consecutive_error;
      r->consecutive_success = 0;
      break;
    default:
      break;
  }
}

// analysis.go assessMetricFailureInconclusiveOrError: later checks override earlier ones.
std::pair<AnalysisPhase, std::string> FailureInconclusiveOrError(const internal::ResolvedMetric& m,
                                                                 const spec::MetricResult& r) {
  AnalysisPhase phase = AnalysisPhase::kNone;
  std::string message;
  const int32_t failure_limit = m.FailureLimit();
  if (failure_limit >= 0 && r.failed > failure_limit) {
    phase = AnalysisPhase::kFailed;
    message = "failed (" + std::to_string(r.failed) + ") > failureLimit (" +
              std::to_string(failure_limit) + ")";
  }
  const int32_t inconclusive_limit = m.InconclusiveLimit();
  if (r.inconclusive > inconclusive_limit) {
    phase = AnalysisPhase::kInconclusive;
    message = "inconclusive (" + std::to_string(r.inconclusive) + ") > inconclusiveLimit (" +
              std::to_string(inconclusive_limit) + ")";
  }
  const int32_t error_limit = m.ConsecutiveErrorLimit();
  if (r.consecutive_error > error_limit) {
    phase = AnalysisPhase::kError;
    message = "consecutiveErrors (" + std::to_string(r.consecutive_error) +
              ") > consecutiveErrorLimit (" + std::to_string(error_limit) + ")";
  }
  return {phase, message};
}

// analysis.go assessMetricStatus.
AnalysisPhase AssessMetric(const internal::ResolvedMetric& m, const spec::MetricResult& r,
                           bool terminating) {
  if (spec::IsCompleted(r.phase)) return r.phase;
  if (r.measurements.empty()) {
    return terminating ? AnalysisPhase::kSuccessful : AnalysisPhase::kPending;
  }
  if (!spec::IsCompleted(r.measurements.back().phase)) return AnalysisPhase::kRunning;
  auto [bad, message] = FailureInconclusiveOrError(m, r);
  if (bad != AnalysisPhase::kNone) return bad;
  const int32_t success_limit = m.ConsecutiveSuccessLimit();
  if (success_limit > 0 && r.consecutive_success >= success_limit) {
    return AnalysisPhase::kSuccessful;
  }
  std::optional<int32_t> count = m.EffectiveCount();
  if (count && r.count >= *count) {
    const bool failure_applicable = !m.failure_limit || m.FailureLimit() >= 0;
    const bool success_applicable = m.consecutive_success_limit && success_limit > 0;
    if (failure_applicable && success_applicable) return AnalysisPhase::kInconclusive;
    if (success_applicable) return AnalysisPhase::kFailed;
    return AnalysisPhase::kSuccessful;
  }
  return terminating ? AnalysisPhase::kSuccessful : AnalysisPhase::kRunning;
}

void CountSummary(AnalysisPhase phase, spec::RunSummary* s) {
  switch (phase) {
    case AnalysisPhase::kError:
      ++s->error;
      break;
    case AnalysisPhase::kFailed:
      ++s->failed;
      break;
    case AnalysisPhase::kInconclusive:
      ++s->inconclusive;
      break;
    default:
      ++s->successful;
      break;
  }
}

std::string TrimSpace(std::string s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.back())) s.pop_back();
  size_t i = 0;
  while (i < s.size() && space(s[i])) ++i;
  return s.substr(i);
}

// analysis.go assessRunStatus, updating metric phases, messages and the summaries. A
// terminating run with a measurement still in flight stays Running until its answer is in.
std::pair<AnalysisPhase, std::string> AssessRun(spec::AnalysisRun* run,
                                                const std::vector<MetricInfo>& metrics,
                                                std::vector<engine::EmitEvent>* events) {
  const bool terminating = IsTerminating(*run);
  AnalysisPhase worst = AnalysisPhase::kNone;
  std::string worst_message = run->spec.terminate ? "Run Terminated" : "";
  bool everything_completed = true;
  bool in_flight = false;
  spec::RunSummary summary;
  spec::RunSummary dry_summary;
  for (const MetricInfo& info : metrics) {
    const std::string& name = info.resolved.name;
    ++(info.dry_run ? dry_summary : summary).count;
    spec::MetricResult* r = FindResult(&run->status, name);
    if (r == nullptr) {
      everything_completed = false;
      continue;
    }
    if (!r->measurements.empty() && !Finished(r->measurements.back())) in_flight = true;
    AnalysisPhase phase = AssessMetric(info.resolved, *r, terminating);
    if (r->phase != phase) {
      if (spec::IsCompleted(phase)) events->push_back(MetricEvent(name, phase));
      if (!r->measurements.empty()) r->message = r->measurements.back().message;
      r->phase = phase;
    }
    if (!spec::IsCompleted(phase)) {
      everything_completed = false;
      continue;
    }
    auto [bad, message] = FailureInconclusiveOrError(info.resolved, *r);
    if (!info.dry_run) {
      if (worst == AnalysisPhase::kNone || IsWorse(worst, phase)) {
        worst = phase;
        if (!message.empty()) {
          worst_message =
              "Metric \"" + name + "\" assessed " + PhaseName(phase) + " due to " + message;
          if (!r->message.empty()) worst_message += ": \"Error Message: " + r->message + "\"";
        }
      }
      CountSummary(bad, &summary);
    } else {
      if (worst == AnalysisPhase::kNone) worst = AnalysisPhase::kSuccessful;
      if (!message.empty()) {
        r->message = "Metric assessed " + PhaseName(phase) + " due to " + message;
      }
      CountSummary(bad, &dry_summary);
    }
  }
  worst_message = TrimSpace(std::move(worst_message));
  run->status.run_summary = summary;
  run->status.dry_run_summary = dry_summary;
  if (terminating) {
    if (in_flight) return {AnalysisPhase::kRunning, ""};
    if (worst == AnalysisPhase::kNone) return {AnalysisPhase::kSuccessful, worst_message};
    return {worst, worst_message};
  }
  if (!everything_completed || worst == AnalysisPhase::kNone) return {AnalysisPhase::kRunning, ""};
  return {worst, worst_message};
}

// The secret arguments whose canonical tag the provider configuration holds.
std::vector<engine::SecretArg> SecretArgsIn(const std::string& config,
                                            const std::vector<spec::Argument>& args) {
  std::vector<engine::SecretArg> out;
  for (const spec::Argument& a : args) {
    if (!a.value_from || !a.value_from->secret_key_ref) continue;
    if (config.find("{{args." + a.name + "}}") == std::string::npos) continue;
    out.push_back(engine::SecretArg{a.name, a.value_from->secret_key_ref->name,
                                    a.value_from->secret_key_ref->key});
  }
  return out;
}

MeasureRequest MakeRequest(const MetricInfo& info, engine::MeasureAction action,
                           const spec::MetricResult& r, const spec::AnalysisRun& run) {
  MeasureRequest req;
  req.metric = info.resolved.name;
  req.action = action;
  req.metric_ref.name = info.resolved.name;
  const auto* providers = &info.resolved.providers;
  StatusOr<std::vector<std::pair<std::string, nlohmann::json>>> resolved;
  if (providers->empty() && info.source != nullptr && info.table != nullptr) {
    // The run was validated on its first reconcile, so this resolves.
    resolved = internal::ResolveProviders(*info.source, *info.table);
    if (resolved.has_value()) providers = &*resolved;
  }
  if (!providers->empty()) {
    req.metric_ref.provider_type = providers->front().first;
    req.metric_ref.provider_config_json = providers->front().second.dump();
  }
  req.metric_ref.interval = info.resolved.Interval();
  req.secret_args = SecretArgsIn(req.metric_ref.provider_config_json, run.spec.args);
  req.measurement_number = static_cast<int64_t>(r.count) + r.error + 1;
  return req;
}

// analysis.go generateMetricTasks, with the requests recorded in the status.
void GenerateRequests(spec::AnalysisRun* run, const std::vector<MetricInfo>& metrics, Time now,
                      std::vector<MeasureRequest>* requests) {
  const bool terminating = IsTerminating(*run);
  const Time started = FromMetaTime(*run->status.started_at);
  for (const MetricInfo& info : metrics) {
    const std::string& name = info.resolved.name;
    spec::MetricResult* r = FindResult(&run->status, name);
    if (r != nullptr && spec::IsCompleted(r->phase)) continue;
    spec::Measurement* last =
        r != nullptr && !r->measurements.empty() ? &r->measurements.back() : nullptr;
    if (last != nullptr && !Finished(*last)) {
      if (Awaiting(*last)) {
        // Its answer is on the way. A Run still out when the run terminates (a provider that
        // answers only at the end, such as the local job) is asked to stop, once.
        if (!terminating || last->metadata.at(kAwaitingKey) != kAwaitRun) continue;
        MeasureRequest req = MakeRequest(info, engine::MeasureAction::kTerminate, *r, *run);
        req.in_flight = ToProviderMeasurement(*last);
        last->metadata[kAwaitingKey] = kAwaitRunStopping;
        requests->push_back(std::move(req));
        continue;
      }
      engine::MeasureAction action;
      if (terminating) {
        action = engine::MeasureAction::kTerminate;
      } else if (!last->resume_at || now >= FromMetaTime(*last->resume_at)) {
        action = engine::MeasureAction::kResume;
      } else {
        continue;
      }
      MeasureRequest req = MakeRequest(info, action, *r, *run);
      req.in_flight = ToProviderMeasurement(*last);
      last->metadata[kAwaitingKey] = terminating ? kAwaitTerminate : kAwaitResume;
      requests->push_back(std::move(req));
      continue;
    }
    if (terminating) continue;
    if (last == nullptr) {
      if (!info.resolved.initial_delay.empty() && now < started + info.resolved.InitialDelay()) {
        continue;
      }
    } else {
      std::optional<int32_t> count = info.resolved.EffectiveCount();
      if (count && r->count >= *count) continue;
      Duration wait = kErrorRetryInterval;
      if (last->phase != AnalysisPhase::kError && info.resolved.Interval()) {
        wait = *info.resolved.Interval();
      }
      if (now < FromMetaTime(*last->finished_at) + wait) continue;
    }
    if (r == nullptr) {
      spec::MetricResult created;
      created.name = name;
      created.phase = AnalysisPhase::kRunning;
      created.dry_run = info.dry_run;
      run->status.metric_results.push_back(std::move(created));
      r = &run->status.metric_results.back();
    }
    requests->push_back(MakeRequest(info, engine::MeasureAction::kRun, *r, *run));
    spec::Measurement placeholder;
    placeholder.phase = AnalysisPhase::kRunning;
    placeholder.started_at = ToMetaTime(now);
    placeholder.metadata[kAwaitingKey] = kAwaitRun;
    r->measurements.push_back(std::move(placeholder));
  }
}

// analysis.go garbageCollectMeasurements: keeps the newest `retention` measurements.
void TrimMeasurements(spec::AnalysisRun* run, const std::vector<MetricInfo>& metrics,
                      std::vector<MeasureRequest>* requests) {
  for (spec::MetricResult& r : run->status.metric_results) {
    auto info = std::find_if(metrics.begin(), metrics.end(),
                             [&](const MetricInfo& m) { return m.resolved.name == r.name; });
    if (info == metrics.end()) continue;
    const size_t limit = static_cast<size_t>(info->retention);
    if (r.measurements.size() <= limit) continue;
    MeasureRequest req = MakeRequest(*info, engine::MeasureAction::kGarbageCollect, r, *run);
    req.keep = info->retention;
    requests->push_back(std::move(req));
    r.measurements.erase(r.measurements.begin(),
                         r.measurements.end() - static_cast<std::ptrdiff_t>(limit));
  }
}

// analysis.go calculateNextReconcileTime, for a run that is neither completed nor terminating.
std::optional<Time> NextWakeup(const spec::AnalysisRun& run, const std::vector<MetricInfo>& metrics,
                               Time now) {
  std::optional<Time> next;
  auto consider = [&](Time t) {
    if (t > now && (!next || t < *next)) next = t;
  };
  const Time started = FromMetaTime(*run.status.started_at);
  for (const MetricInfo& info : metrics) {
    const spec::MetricResult* r = nullptr;
    for (const spec::MetricResult& res : run.status.metric_results) {
      if (res.name == info.resolved.name) r = &res;
    }
    if (r != nullptr && spec::IsCompleted(r->phase)) continue;
    const spec::Measurement* last =
        r != nullptr && !r->measurements.empty() ? &r->measurements.back() : nullptr;
    if (last == nullptr) {
      if (!info.resolved.initial_delay.empty()) consider(started + info.resolved.InitialDelay());
      continue;
    }
    if (!Finished(*last)) {
      if (!Awaiting(*last) && last->resume_at) consider(FromMetaTime(*last->resume_at));
      continue;
    }
    std::optional<int32_t> count = info.resolved.EffectiveCount();
    if (count && r->count >= *count) continue;
    Duration wait;
    if (last->phase == AnalysisPhase::kError) {
      wait = kErrorRetryInterval;
    } else if (info.resolved.Interval()) {
      wait = *info.resolved.Interval();
    } else {
      continue;
    }
    consider(FromMetaTime(*last->finished_at) + wait);
  }
  return next;
}

// Days since 1970-01-01 → (year, month, day) (H. Hinnant's civil_from_days).
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2 ? 1 : 0);
}

std::string TwoDigits(unsigned v) {
  return std::string(1, static_cast<char>('0' + v / 10)) + static_cast<char>('0' + v % 10);
}

}  // namespace

spec::MetaTime ToMetaTime(Time t) {
  const int64_t nanos = ToUnixNanos(t);
  int64_t seconds = nanos / 1'000'000'000;
  if (nanos % 1'000'000'000 < 0) --seconds;
  int64_t days = seconds / 86400;
  int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  int64_t year;
  unsigned month, day;
  CivilFromDays(days, &year, &month, &day);
  std::string y = std::to_string(year);
  while (y.size() < 4) y.insert(0, "0");
  const unsigned secs = static_cast<unsigned>(rem);
  spec::MetaTime out;
  out.text = y + "-" + TwoDigits(month) + "-" + TwoDigits(day) + "T" + TwoDigits(secs / 3600) +
             ":" + TwoDigits(secs / 60 % 60) + ":" + TwoDigits(secs % 60) + "Z";
  out.unix_nanos = seconds * 1'000'000'000;
  return out;
}

Time FromMetaTime(const spec::MetaTime& t) { return FromUnixNanos(t.unix_nanos); }

Verdict EvaluateResult(std::string_view success_condition, std::string_view failure_condition,
                       const MetricValue& result, Time now, const ConditionEvaluator& evaluate) {
  auto eval = [&](std::string_view kind, std::string_view condition,
                  bool* out) -> std::optional<Verdict> {
    StatusOr<bool> r = evaluate ? evaluate(condition, result, now)
                                : StatusOr<bool>(Fail(InternalError("no condition evaluator")));
    if (r.has_value()) {
      *out = *r;
      return std::nullopt;
    }
    const bool nil_or_empty =
        result == nullptr || result->is_null() || (result->is_array() && result->empty());
    std::string why =
        nil_or_empty ? "metric result is nil or empty: no data returned from the metric provider"
                     : r.error().message();
    return Verdict{AnalysisPhase::kError, "could not evaluate " + std::string(kind) + " \"" +
                                              std::string(condition) + "\": " + why};
  };
  bool success = false;
  bool failure = false;
  if (!success_condition.empty()) {
    if (auto v = eval("successCondition", success_condition, &success)) return *v;
  }
  if (!failure_condition.empty()) {
    if (auto v = eval("failureCondition", failure_condition, &failure)) return *v;
  }
  if (success_condition.empty() && failure_condition.empty()) {
    return Verdict{AnalysisPhase::kSuccessful, ""};
  }
  if (!success_condition.empty() && failure_condition.empty()) failure = !success;
  if (success_condition.empty() && !failure_condition.empty()) success = !failure;
  if (failure) return Verdict{AnalysisPhase::kFailed, ""};
  if (!success) return Verdict{AnalysisPhase::kInconclusive, ""};
  return Verdict{AnalysisPhase::kSuccessful, ""};
}

AssessResult Reconcile(const spec::AnalysisRun& run,
                       const std::vector<engine::MeasurementObservation>& observed, Time now,
                       const Evaluator& evaluator) {
  AssessResult out;
  out.run = run;
  spec::AnalysisRunStatus& st = out.run.status;
  if (spec::IsCompleted(st.phase)) return out;

  // As Argo, these errors end the run without startedAt/completedAt.
  auto end_in_error = [&](std::string message) {
    st.phase = AnalysisPhase::kError;
    st.message = std::move(message);
    out.events.push_back(RunEvent(AnalysisPhase::kError));
    return out;
  };
  constexpr char kUnresolved[] = "Unable to resolve metric arguments: ";
  constexpr char kInvalid[] = "Analysis spec invalid: ";

  // 1. Metrics resolved with secrets as placeholders, validated; dry-run and retention rules.
  auto table = internal::MakeArgTable(run.spec.args, {});
  if (!table.has_value()) return end_in_error(kUnresolved + table.error().message());
  // The spec of a run never changes: it is resolved in full and validated on the first
  // reconcile (a run that fails ends there); later reconciles resolve only what scheduling and
  // evaluation read, and provider configurations when a request is made.
  const bool first = !st.started_at.has_value();
  std::vector<internal::ResolvedMetric> resolved;
  resolved.reserve(run.spec.metrics.size());
  for (const spec::Metric& m : run.spec.metrics) {
    auto r = internal::ResolveMetric(m, *table, /*with_providers=*/first);
    if (!r.has_value()) return end_in_error(kUnresolved + r.error().message());
    resolved.push_back(std::move(*r));
  }
  if (first) {
    Status valid = internal::ValidateMetrics(resolved);
    if (!valid.ok()) return end_in_error(kInvalid + valid.message());
  }
  std::vector<MetricInfo> metrics(resolved.size());
  for (size_t i = 0; i < resolved.size(); ++i) {
    metrics[i].success_condition = resolved[i].success_condition;
    metrics[i].failure_condition = resolved[i].failure_condition;
    metrics[i].resolved = std::move(resolved[i]);
    metrics[i].source = &run.spec.metrics[i];
    metrics[i].table = &*table;
  }
  for (size_t i = 0; i < run.spec.dry_run.size(); ++i) {
    int matched = 0;
    for (MetricInfo& info : metrics) {
      if (spec::MetricNameMatchesRule(run.spec.dry_run[i].metric_name, info.resolved.name)) {
        info.dry_run = true;
        ++matched;
      }
    }
    if (matched == 0) {
      return end_in_error(kInvalid + std::string("dryRun[") + std::to_string(i) +
                          "]: Rule didn't match any metric name(s)");
    }
  }
  for (size_t i = 0; i < run.spec.measurement_retention.size(); ++i) {
    const spec::MeasurementRetention& rule = run.spec.measurement_retention[i];
    int matched = 0;
    for (MetricInfo& info : metrics) {
      if (spec::MetricNameMatchesRule(rule.metric_name, info.resolved.name)) {
        info.retention = rule.limit > 0 ? rule.limit : kDefaultMeasurementRetention;
        ++matched;
      }
    }
    if (matched == 0) {
      return end_in_error(kInvalid + std::string("measurementRetention[") + std::to_string(i) +
                          "]: Rule didn't match any metric name(s)");
    }
  }

  // 2. Secret arguments: read, kept for redaction, and put into the conditions.
  std::map<std::string, std::string> secret_values;
  std::vector<std::string> secrets;
  for (const spec::Argument& a : run.spec.args) {
    if (!a.value_from || !a.value_from->secret_key_ref) continue;
    const spec::SecretKeyRef& ref = *a.value_from->secret_key_ref;
    if (!evaluator.secrets) {
      return end_in_error(kUnresolved + std::string("no secret lookup to read secret '") +
                          ref.name + "' for argument \"" + a.name + "\"");
    }
    auto value = evaluator.secrets(ref.name, ref.key);
    if (!value.has_value()) return end_in_error(kUnresolved + value.error().message());
    secret_values[a.name] = *value;
    if (!value->empty() && std::find(secrets.begin(), secrets.end(), *value) == secrets.end()) {
      secrets.push_back(*value);
    }
  }
  if (!secret_values.empty()) {
    auto real = internal::MakeArgTable(run.spec.args, secret_values);
    if (!real.has_value()) return end_in_error(kUnresolved + real.error().message());
    for (size_t i = 0; i < metrics.size(); ++i) {
      auto r = internal::ResolveMetric(run.spec.metrics[i], *real, /*with_providers=*/false);
      if (!r.has_value()) return end_in_error(kUnresolved + r.error().message());
      metrics[i].success_condition = r->success_condition;
      metrics[i].failure_condition = r->failure_condition;
    }
  }

  if (!st.started_at) st.started_at = ToMetaTime(now);

  // 3. Answers to earlier requests.
  for (const engine::MeasurementObservation& obs : observed) {
    if (!obs.run.empty() && obs.run != run.metadata.name) continue;
    auto info = std::find_if(metrics.begin(), metrics.end(),
                             [&](const MetricInfo& m) { return m.resolved.name == obs.metric; });
    spec::MetricResult* r = FindResult(&st, obs.metric);
    if (info == metrics.end() || r == nullptr || r->measurements.empty()) continue;
    spec::Measurement& last = r->measurements.back();
    auto awaited = last.metadata.find(kAwaitingKey);
    if (Finished(last) || awaited == last.metadata.end()) continue;
    const bool terminated = awaited->second == kAwaitTerminate;
    spec::Measurement m = RecordAnswer(obs.update, last, *info, now, evaluator, terminated);
    RedactMeasurement(&m, secrets);
    if (spec::IsCompleted(m.phase)) CountMeasurement(m.phase, r);
    last = std::move(m);
  }

  // 4. Metric and run phases. A run that became terminating is assessed again at once, as
  // Argo's next reconcile would (it is re-queued by its own status change).
  const bool was_terminating = IsTerminating(out.run);
  auto [phase, message] = AssessRun(&out.run, metrics, &out.events);
  if (!spec::IsCompleted(phase) && !was_terminating && IsTerminating(out.run)) {
    std::tie(phase, message) = AssessRun(&out.run, metrics, &out.events);
  }
  if (phase != st.phase) {
    st.phase = phase;
    st.message = Redact(message, secrets);
    if (spec::IsCompleted(phase)) {
      out.events.push_back(RunEvent(phase));
      if (!st.completed_at) st.completed_at = ToMetaTime(now);
    }
  }

  // 5. Requests, measurement retention, wake-up.
  if (!spec::IsCompleted(st.phase)) GenerateRequests(&out.run, metrics, now, &out.requests);
  TrimMeasurements(&out.run, metrics, &out.requests);
  if (!spec::IsCompleted(st.phase) && !IsTerminating(out.run)) {
    out.next_wakeup = NextWakeup(out.run, metrics, now);
  }
  return out;
}

engine::Measure ToMeasureIntent(const spec::AnalysisRun& run, const MeasureRequest& request,
                                const ObjectRef& rollout, Time now) {
  engine::Measure m;
  m.run = run.metadata.name;
  m.metric = request.metric;
  m.action = request.action;
  m.context.run = ObjectRef{run.metadata.namespace_, run.metadata.name};
  m.context.run_uid = run.metadata.uid;
  m.context.rollout = rollout;
  m.context.now = now;
  m.context.measurement_number = request.measurement_number;
  m.metric_ref = request.metric_ref;
  m.secret_args = request.secret_args;
  m.in_flight = request.in_flight;
  m.keep = request.keep;
  return m;
}

StatusOr<std::string> FillSecretArgs(std::string_view config_json,
                                     const std::vector<engine::SecretArg>& secret_args,
                                     const SecretLookup& secrets,
                                     std::vector<std::string>* values) {
  if (secret_args.empty()) return std::string(config_json);
  std::vector<std::pair<std::string, std::string>> tags;  // tag, value
  for (const engine::SecretArg& a : secret_args) {
    if (!secrets) return Fail(FailedPreconditionError("args." + a.arg + ": no secret source"));
    StatusOr<std::string> value = secrets(a.secret, a.key);
    if (!value.has_value()) return Fail(value.error().WithPrefix("args." + a.arg));
    tags.emplace_back("{{args." + a.arg + "}}", *value);
    if (values != nullptr) values->push_back(*value);
  }
  nlohmann::json config = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) {
    return Fail(InvalidArgumentError("the provider configuration is not JSON"));
  }
  auto fill = [&](std::string text) {
    for (const auto& [tag, value] : tags) {
      for (size_t at = text.find(tag); at != std::string::npos;
           at = text.find(tag, at + value.size())) {
        text.replace(at, tag.size(), value);
      }
    }
    return text;
  };
  std::function<nlohmann::json(const nlohmann::json&)> walk = [&](const nlohmann::json& j) {
    if (j.is_string()) return nlohmann::json(fill(j.get<std::string>()));
    if (j.is_array()) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& e : j) out.push_back(walk(e));
      return out;
    }
    if (j.is_object()) {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& [k, v] : j.items()) out[fill(k)] = walk(v);
      return out;
    }
    return j;
  };
  return walk(config).dump();
}

spec::AnalysisRun ForgetDispatched(spec::AnalysisRun run) {
  for (spec::MetricResult& r : run.status.metric_results) {
    if (r.measurements.empty()) continue;
    spec::Measurement& last = r.measurements.back();
    auto it = last.metadata.find(kAwaitingKey);
    if (Finished(last) || it == last.metadata.end()) continue;
    if (AwaitsRun(it->second)) {
      r.measurements.pop_back();
    } else {
      last.metadata.erase(it);
    }
  }
  return run;
}

}  // namespace ramp::analysis
