#include "sim/output.h"

#include <fmt/format.h>

#include <cstdint>
#include <string>

namespace ramp::sim {
namespace {

nlohmann::ordered_json OptionalInt(const std::optional<int32_t>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

// Fractional seconds without trailing zeros: 1500000000 ns → "1.5".
std::string FractionText(int64_t nanos) {
  std::string s = fmt::format("{}.{:09d}", nanos / 1'000'000'000, nanos % 1'000'000'000);
  while (s.back() == '0') s.pop_back();
  return s;
}

}  // namespace

std::string FormatDuration(Duration d) {
  int64_t nanos = d.count();
  std::string out;
  if (nanos < 0) {
    out = "-";
    nanos = -nanos;
  }
  constexpr int64_t kSecond = 1'000'000'000;
  const int64_t hours = nanos / (3600 * kSecond);
  const int64_t minutes = nanos / (60 * kSecond) % 60;
  const int64_t rest = nanos % (60 * kSecond);
  if (hours > 0) out += std::to_string(hours) + "h";
  if (minutes > 0) out += std::to_string(minutes) + "m";
  if (rest > 0 || (hours == 0 && minutes == 0)) {
    out += (rest % kSecond == 0 ? std::to_string(rest / kSecond) : FractionText(rest)) + "s";
  }
  return out;
}

nlohmann::ordered_json Seconds(Duration d) {
  const int64_t nanos = d.count();
  if (nanos % 1'000'000'000 == 0) return nlohmann::ordered_json(nanos / 1'000'000'000);
  return nlohmann::ordered_json(static_cast<double>(nanos) / 1e9);
}

nlohmann::ordered_json EventJson(const Event& e) {
  nlohmann::ordered_json j;
  j["t"] = Seconds(e.t);
  j["reason"] = e.reason;
  j["message"] = e.message;
  j["step"] = OptionalInt(e.step);
  j["weight"] = OptionalInt(e.weight);
  return j;
}

nlohmann::ordered_json SummaryJson(const Summary& s) {
  nlohmann::ordered_json j;
  j["schemaVersion"] = kSchemaVersion;
  j["t"] = Seconds(s.t);
  j["phase"] = s.phase;
  j["message"] = s.message;
  j["settledBy"] = std::string(SettledByName(s.settled_by));
  j["aborted"] = s.aborted;
  j["currentStepIndex"] = OptionalInt(s.current_step_index);
  j["weight"] = OptionalInt(s.weight);
  j["stableRS"] = s.stable_rs;
  j["currentPodHash"] = s.current_pod_hash;
  nlohmann::ordered_json runs = nlohmann::ordered_json::array();
  for (const AnalysisRunSummary& r : s.analysis_runs) {
    nlohmann::ordered_json metrics = nlohmann::ordered_json::array();
    for (const MetricSummary& m : r.metrics) {
      nlohmann::ordered_json mj;
      mj["name"] = m.name;
      mj["phase"] = m.phase;
      mj["measurements"] = m.measurements;
      metrics.push_back(std::move(mj));
    }
    nlohmann::ordered_json rj;
    rj["name"] = r.name;
    rj["phase"] = r.phase;
    rj["metrics"] = std::move(metrics);
    runs.push_back(std::move(rj));
  }
  j["analysisRuns"] = std::move(runs);
  nlohmann::ordered_json out;
  out["summary"] = std::move(j);
  return out;
}

std::string JsonLine(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string EventText(const Event& e) {
  std::string out =
      fmt::format("{:>10}  {:<24}  {}", "+" + FormatDuration(e.t), e.reason, e.message);
  if (e.step || e.weight) {
    out += "  [";
    if (e.step) out += fmt::format("step {}", *e.step);
    if (e.step && e.weight) out += ", ";
    if (e.weight) out += fmt::format("weight {}", *e.weight);
    out += "]";
  }
  return out;
}

std::string SummaryText(const Summary& s) {
  std::string out = fmt::format("\nStopped at +{}: {}", FormatDuration(s.t), s.phase);
  if (!s.message.empty()) out += " (" + s.message + ")";
  out += fmt::format(", settled by {}\n", SettledByName(s.settled_by));
  auto row = [&](std::string_view key, const std::string& value) {
    out += fmt::format("  {:<16}{}\n", std::string(key) + ":", value);
  };
  row("aborted", s.aborted ? "true" : "false");
  row("step", s.current_step_index ? std::to_string(*s.current_step_index) : "-");
  row("weight", s.weight ? std::to_string(*s.weight) : "-");
  row("stableRS", s.stable_rs.empty() ? "-" : s.stable_rs);
  row("currentPodHash", s.current_pod_hash.empty() ? "-" : s.current_pod_hash);
  if (s.analysis_runs.empty()) {
    row("analysis runs", "none");
    return out;
  }
  out += "  analysis runs:\n";
  for (const AnalysisRunSummary& r : s.analysis_runs) {
    out += fmt::format("    {}  {}\n", r.name, r.phase);
    for (const MetricSummary& m : r.metrics) {
      out += fmt::format("      {}  {}  ({} measurement{})\n", m.name, m.phase, m.measurements,
                         m.measurements == 1 ? "" : "s");
    }
  }
  return out;
}

}  // namespace ramp::sim
