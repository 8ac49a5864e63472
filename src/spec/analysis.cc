// Model helpers of the analysis kinds: phases, times, Argo's effective values, name rules.
#include "spec/analysis.h"

#include <re2/re2.h>

#include <array>
#include <charconv>
#include <limits>

namespace ramp::spec {
namespace {

constexpr std::array<std::pair<AnalysisPhase, std::string_view>, 7> kPhaseNames = {{
    {AnalysisPhase::kNone, ""},
    {AnalysisPhase::kPending, "Pending"},
    {AnalysisPhase::kRunning, "Running"},
    {AnalysisPhase::kSuccessful, "Successful"},
    {AnalysisPhase::kFailed, "Failed"},
    {AnalysisPhase::kError, "Error"},
    {AnalysisPhase::kInconclusive, "Inconclusive"},
}};

// Reads exactly `n` digits at `*pos`.
bool ReadDigits(std::string_view s, size_t* pos, size_t n, int* out) {
  if (*pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool Expect(std::string_view s, size_t* pos, char c) {
  if (*pos >= s.size() || s[*pos] != c) return false;
  ++*pos;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

}  // namespace

std::string_view AnalysisPhaseName(AnalysisPhase phase) {
  for (const auto& [p, name] : kPhaseNames) {
    if (p == phase) return name;
  }
  return "";
}

std::optional<AnalysisPhase> ParseAnalysisPhase(std::string_view text) {
  for (const auto& [p, name] : kPhaseNames) {
    if (name == text) return p;
  }
  return std::nullopt;
}

bool IsCompleted(AnalysisPhase phase) {
  return phase == AnalysisPhase::kSuccessful || phase == AnalysisPhase::kFailed ||
         phase == AnalysisPhase::kError || phase == AnalysisPhase::kInconclusive;
}

std::optional<int64_t> ParseMetaTime(std::string_view s) {
  size_t pos = 0;
  int year, month, day, hour, minute, second;
  if (!ReadDigits(s, &pos, 4, &year) || !Expect(s, &pos, '-') || !ReadDigits(s, &pos, 2, &month) ||
      !Expect(s, &pos, '-') || !ReadDigits(s, &pos, 2, &day) || !Expect(s, &pos, 'T') ||
      !ReadDigits(s, &pos, 2, &hour) || !Expect(s, &pos, ':') || !ReadDigits(s, &pos, 2, &minute) ||
      !Expect(s, &pos, ':') || !ReadDigits(s, &pos, 2, &second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return std::nullopt;
  }
  int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t digits = 0;
    int64_t scale = 100'000'000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 9) nanos += (s[pos] - '0') * scale;
      scale /= 10;
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
  }
  int64_t offset_seconds = 0;
  if (pos < s.size() && s[pos] == 'Z') {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int oh, om;
    if (!ReadDigits(s, &pos, 2, &oh) || !Expect(s, &pos, ':') || !ReadDigits(s, &pos, 2, &om) ||
        oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_seconds = sign * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  int64_t seconds =
      DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  return seconds * 1'000'000'000 + nanos;
}

int32_t IntOrStringValue(const IntOrString& v) {
  if (!v.is_string) return v.int_value;
  std::string_view s = v.str_value;
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  int64_t out = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return 0;
  if (out < std::numeric_limits<int32_t>::min() || out > std::numeric_limits<int32_t>::max()) {
    return 0;
  }
  return static_cast<int32_t>(out);
}

std::string_view ProviderFieldName(ProviderKind kind) {
  switch (kind) {
    case ProviderKind::kNone:
      return "";
    case ProviderKind::kPrometheus:
      return "prometheus";
    case ProviderKind::kDatadog:
      return "datadog";
    case ProviderKind::kNewRelic:
      return "newRelic";
    case ProviderKind::kCloudWatch:
      return "cloudWatch";
    case ProviderKind::kWavefront:
      return "wavefront";
    case ProviderKind::kGraphite:
      return "graphite";
    case ProviderKind::kInfluxdb:
      return "influxdb";
    case ProviderKind::kSkyWalking:
      return "skywalking";
    case ProviderKind::kWeb:
      return "web";
    case ProviderKind::kKayenta:
      return "kayenta";
    case ProviderKind::kJob:
      return "job";
    case ProviderKind::kPlugin:
      return "plugin";
  }
  return "";
}

std::vector<ProviderKind> MetricProvider::Kinds() const {
  std::vector<ProviderKind> out;
  if (prometheus) out.push_back(ProviderKind::kPrometheus);
  if (datadog) out.push_back(ProviderKind::kDatadog);
  if (new_relic) out.push_back(ProviderKind::kNewRelic);
  if (cloud_watch) out.push_back(ProviderKind::kCloudWatch);
  if (wavefront) out.push_back(ProviderKind::kWavefront);
  if (graphite) out.push_back(ProviderKind::kGraphite);
  if (influxdb) out.push_back(ProviderKind::kInfluxdb);
  if (skywalking) out.push_back(ProviderKind::kSkyWalking);
  if (web) out.push_back(ProviderKind::kWeb);
  if (kayenta) out.push_back(ProviderKind::kKayenta);
  if (job) out.push_back(ProviderKind::kJob);
  for (size_t i = 0; i < plugin.size(); ++i) out.push_back(ProviderKind::kPlugin);
  return out;
}

ProviderKind MetricProvider::kind() const {
  std::vector<ProviderKind> kinds = Kinds();
  return kinds.empty() ? ProviderKind::kNone : kinds.front();
}

std::string MetricProvider::PluginName() const {
  return plugin.empty() ? std::string() : plugin.begin()->first;
}

std::optional<int32_t> Metric::EffectiveCount() const {
  if (!count || IntOrStringValue(*count) == 0) {
    if (interval.empty()) return 1;
    return std::nullopt;
  }
  return IntOrStringValue(*count);
}

int32_t Metric::EffectiveFailureLimit() const {
  return failure_limit ? IntOrStringValue(*failure_limit) : 0;
}

int32_t Metric::EffectiveInconclusiveLimit() const {
  return inconclusive_limit ? IntOrStringValue(*inconclusive_limit) : 0;
}

int32_t Metric::EffectiveConsecutiveErrorLimit() const {
  return consecutive_error_limit ? IntOrStringValue(*consecutive_error_limit)
                                 : kDefaultConsecutiveErrorLimit;
}

int32_t Metric::EffectiveConsecutiveSuccessLimit() const {
  return consecutive_success_limit ? IntOrStringValue(*consecutive_success_limit) : 0;
}

namespace {

void PutTime(nlohmann::json* j, const char* key, const std::optional<MetaTime>& t) {
  if (t) (*j)[key] = t->text;
}

void PutInt(nlohmann::json* j, const char* key, int32_t v) {
  if (v != 0) (*j)[key] = v;
}

void PutString(nlohmann::json* j, const char* key, const std::string& v) {
  if (!v.empty()) (*j)[key] = v;
}

void PutMap(nlohmann::json* j, const char* key, const std::map<std::string, std::string>& m) {
  if (!m.empty()) (*j)[key] = m;
}

nlohmann::json SummaryJson(const RunSummary& s) {
  nlohmann::json j = nlohmann::json::object();
  PutInt(&j, "count", s.count);
  PutInt(&j, "successful", s.successful);
  PutInt(&j, "failed", s.failed);
  PutInt(&j, "inconclusive", s.inconclusive);
  PutInt(&j, "error", s.error);
  return j;
}

}  // namespace

nlohmann::json ToJson(const AnalysisRunStatus& status) {
  nlohmann::json j = nlohmann::json::object();
  j["phase"] = std::string(AnalysisPhaseName(status.phase));
  PutString(&j, "message", status.message);
  if (!status.metric_results.empty()) {
    nlohmann::json results = nlohmann::json::array();
    for (const MetricResult& r : status.metric_results) {
      nlohmann::json rj = nlohmann::json::object();
      rj["name"] = r.name;
      rj["phase"] = std::string(AnalysisPhaseName(r.phase));
      if (!r.measurements.empty()) {
        nlohmann::json ms = nlohmann::json::array();
        for (const Measurement& m : r.measurements) {
          nlohmann::json mj = nlohmann::json::object();
          mj["phase"] = std::string(AnalysisPhaseName(m.phase));
          PutString(&mj, "message", m.message);
          PutTime(&mj, "startedAt", m.started_at);
          PutTime(&mj, "finishedAt", m.finished_at);
          PutString(&mj, "value", m.value);
          PutMap(&mj, "metadata", m.metadata);
          PutTime(&mj, "resumeAt", m.resume_at);
          ms.push_back(std::move(mj));
        }
        rj["measurements"] = std::move(ms);
      }
      PutString(&rj, "message", r.message);
      PutInt(&rj, "count", r.count);
      PutInt(&rj, "successful", r.successful);
      PutInt(&rj, "failed", r.failed);
      PutInt(&rj, "inconclusive", r.inconclusive);
      PutInt(&rj, "error", r.error);
      PutInt(&rj, "consecutiveError", r.consecutive_error);
      if (r.dry_run) rj["dryRun"] = true;
      PutMap(&rj, "metadata", r.metadata);
      PutInt(&rj, "consecutiveSuccess", r.consecutive_success);
      results.push_back(std::move(rj));
    }
    j["metricResults"] = std::move(results);
  }
  PutTime(&j, "startedAt", status.started_at);
  j["runSummary"] = SummaryJson(status.run_summary);
  if (status.dry_run_summary) j["dryRunSummary"] = SummaryJson(*status.dry_run_summary);
  PutTime(&j, "completedAt", status.completed_at);
  return j;
}

bool MetricNameMatchesRule(std::string_view rule, std::string_view metric_name) {
  RE2::Options options;
  options.set_log_errors(false);
  RE2 re(re2::StringPiece(rule.data(), rule.size()), options);
  if (!re.ok()) return false;
  return RE2::PartialMatch(re2::StringPiece(metric_name.data(), metric_name.size()), re);
}

}  // namespace ramp::spec
