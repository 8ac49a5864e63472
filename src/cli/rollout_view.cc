#include "cli/rollout_view.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace ramp::cli {

using nlohmann::json;

namespace {

std::string Str(const json& j, const char* key, std::string fallback = "") {
  if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
  return fallback;
}

int64_t Int(const json& j, const char* key, int64_t fallback = 0) {
  if (j.is_object() && j.contains(key) && j[key].is_number_integer()) return j[key].get<int64_t>();
  return fallback;
}

const json& At(const json& j, std::initializer_list<const char*> path) {
  static const json kNull;
  const json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->contains(k)) return kNull;
    cur = &(*cur)[k];
  }
  return *cur;
}

std::string MeasurementIcon(const std::string& phase) {
  if (phase == "Successful") return "✔";
  if (phase == "Failed") return "✖";
  if (phase == "Error") return "⚠";
  if (phase == "Inconclusive") return "?";
  return "◌";
}

}  // namespace

std::string PhaseWithIcon(const std::string& phase) {
  if (phase == "Healthy" || phase == "Successful") return "✔ " + phase;
  if (phase == "Paused") return "॥ " + phase;
  if (phase == "Degraded" || phase == "Failed" || phase == "Error") return "✖ " + phase;
  if (phase.empty()) return "◌ Progressing";
  return "◌ " + phase;
}

std::string RenderRolloutTree(const json& view) {
  const json& rollout = At(view, {"rollout"});
  const json& status = At(rollout, {"status"});
  const json& spec = At(rollout, {"spec"});
  const std::string name = Str(At(rollout, {"metadata"}), "name");
  const bool blue_green = At(spec, {"strategy", "blueGreen"}).is_object();
  std::string out;
  out += fmt::format("Name:            {}\n", name);
  out += fmt::format("Namespace:       {}\n", Str(At(rollout, {"metadata"}), "namespace"));
  out += fmt::format("Status:          {}\n", PhaseWithIcon(Str(status, "phase")));
  if (!Str(status, "message").empty()) {
    out += fmt::format("Message:         {}\n", Str(status, "message"));
  }
  out += fmt::format("Strategy:        {}\n", blue_green ? "BlueGreen" : "Canary");
  if (!blue_green) {
    const json& steps = At(spec, {"strategy", "canary", "steps"});
    if (steps.is_array() && !steps.empty()) {
      out += fmt::format("  Step:          {}/{}\n", Int(status, "currentStepIndex"), steps.size());
    }
    const json& weights = At(status, {"canary", "weights"});
    if (weights.is_object()) {
      out += fmt::format("  ActualWeight:  {}\n", Int(At(weights, {"canary"}), "weight"));
    }
  }
  const std::string stable = Str(status, "stableRS");
  const std::string current = Str(status, "currentPodHash");
  out += "Images:          ";
  bool first = true;
  const json& revisions = At(view, {"revisions"});
  for (const json& r : revisions.is_array() ? revisions : json::array()) {
    const std::string hash = Str(r, "hash");
    std::string role;
    if (hash == stable) role = blue_green ? "active" : "stable";
    if (hash == current && hash != stable) role = blue_green ? "preview" : "canary";
    if (role.empty() || Str(r, "image").empty()) continue;
    out += fmt::format("{}{} ({})\n", first ? "" : "                 ", Str(r, "image"), role);
    first = false;
  }
  if (first) out += "\n";
  out += "Replicas:\n";
  out += fmt::format("  Desired:       {}\n", Int(spec, "replicas", 1));
  out += fmt::format("  Current:       {}\n", Int(status, "replicas"));
  out += fmt::format("  Updated:       {}\n", Int(status, "updatedReplicas"));
  out += fmt::format("  Ready:         {}\n", Int(status, "readyReplicas"));
  out += fmt::format("  Available:     {}\n", Int(status, "availableReplicas"));
  out += "\n";
  out += fmt::format("{:<40} {:<12} {:<16} {}\n", "NAME", "KIND", "STATUS", "INFO");
  out += fmt::format("{:<40} {:<12} {:<16}\n", "⟳ " + name, "Rollout",
                     PhaseWithIcon(Str(status, "phase")));
  // Newest revision first, as Argo lists them.
  std::vector<json> revs;
  for (const json& r : revisions.is_array() ? revisions : json::array()) revs.push_back(r);
  std::sort(revs.begin(), revs.end(),
            [](const json& a, const json& b) { return Int(a, "revision") > Int(b, "revision"); });
  for (size_t i = 0; i < revs.size(); ++i) {
    const json& r = revs[i];
    const std::string hash = Str(r, "hash");
    const bool last_rev = i + 1 == revs.size();
    std::string info;
    if (hash == stable) info = blue_green ? "active,stable" : "stable";
    if (hash == current && hash != stable) info = blue_green ? "preview" : "canary";
    const json& instances = At(r, {"instances"});
    const size_t n = instances.is_array() ? instances.size() : 0;
    const std::string rev_status = n == 0 ? "• ScaledDown" : "✔ Running";
    out += fmt::format("{}──# revision:{}\n", last_rev ? "└" : "├", Int(r, "revision"));
    const std::string pad = last_rev ? "   " : "│  ";
    out += fmt::format("{}└──{:<34} {:<12} {:<16} {}\n", pad, "⧉ " + name + "-" + hash, "Revision",
                       rev_status, info);
    for (size_t k = 0; k < n; ++k) {
      const json& inst = instances[k];
      const std::string state = Str(inst, "state");
      std::string istatus = state == "Ready" ? "✔ Running" : "◌ " + state;
      std::string iinfo = Str(inst, "address");
      if (Int(inst, "restarts") > 0) iinfo += fmt::format(", {} restarts", Int(inst, "restarts"));
      if (!Str(inst, "message").empty()) iinfo += " (" + Str(inst, "message") + ")";
      out += fmt::format("{}   {}──{:<31} {:<12} {:<16} {}\n", pad, k + 1 == n ? "└" : "├",
                         "□ " + Str(inst, "id"), "Instance", istatus, iinfo);
    }
  }
  const json& runs = At(view, {"analysisRuns"});
  for (const json& run : runs.is_array() ? runs : json::array()) {
    const std::string phase = Str(At(run, {"status"}), "phase", "Pending");
    out += fmt::format("α {:<37} {:<12} {:<16}\n", Str(At(run, {"metadata"}), "name"),
                       "AnalysisRun", PhaseWithIcon(phase));
    const json& metrics = At(run, {"status", "metricResults"});
    for (const json& m : metrics.is_array() ? metrics : json::array()) {
      std::string counts;
      const std::pair<const char*, const char*> kinds[] = {{"successful", "Successful"},
                                                           {"failed", "Failed"},
                                                           {"inconclusive", "Inconclusive"},
                                                           {"error", "Error"}};
      for (const auto& [key, phase] : kinds) {
        if (Int(m, key) > 0) counts += fmt::format("{} {} ", MeasurementIcon(phase), Int(m, key));
      }
      std::string last;
      const json& ms = At(m, {"measurements"});
      if (ms.is_array() && !ms.empty()) {
        const json& lm = ms.back();
        last = Str(lm, "value");
        if (!Str(lm, "message").empty()) last += (last.empty() ? "" : " ") + Str(lm, "message");
      }
      out += fmt::format("  └── {:<34} {:<12} {:<16} {}{}\n", Str(m, "name"), "Metric",
                         PhaseWithIcon(Str(m, "phase", "Pending")), counts,
                         last.empty() ? "" : "last: " + last);
    }
  }
  return out;
}

std::string RenderRolloutTable(const json& items, bool all_namespaces) {
  std::string out;
  if (all_namespaces) out += fmt::format("{:<16} ", "NAMESPACE");
  out += fmt::format("{:<24} {:<10} {:<12} {:<6} {:<11} {:<12} {:<8} {:<8} {:<11} {}\n", "NAME",
                     "STRATEGY", "STATUS", "STEP", "SET-WEIGHT", "READ-WEIGHT", "READY", "DESIRED",
                     "UP-TO-DATE", "AVAILABLE");
  for (const json& v : items.is_array() ? items : json::array()) {
    const json& rollout = At(v, {"rollout"});
    const json& status = At(rollout, {"status"});
    const json& spec = At(rollout, {"spec"});
    const bool blue_green = At(spec, {"strategy", "blueGreen"}).is_object();
    const json& steps = At(spec, {"strategy", "canary", "steps"});
    std::string step = "-";
    if (!blue_green && steps.is_array() && !steps.empty()) {
      step = fmt::format("{}/{}", Int(status, "currentStepIndex"), steps.size());
    }
    const json& weights = At(status, {"canary", "weights"});
    std::string weight =
        weights.is_object() ? std::to_string(Int(At(weights, {"canary"}), "weight")) : "-";
    const std::string verified = weights.is_object() && At(weights, {"verified"}).is_boolean()
                                     ? (At(weights, {"verified"}).get<bool>() ? weight : "-")
                                     : weight;
    if (all_namespaces) out += fmt::format("{:<16} ", Str(At(rollout, {"metadata"}), "namespace"));
    out += fmt::format("{:<24} {:<10} {:<12} {:<6} {:<11} {:<12} {:<8} {:<8} {:<11} {}\n",
                       Str(At(rollout, {"metadata"}), "name"), blue_green ? "BlueGreen" : "Canary",
                       Str(status, "phase", "Progressing"), step, weight, verified,
                       fmt::format("{}/{}", Int(status, "readyReplicas"), Int(spec, "replicas", 1)),
                       Int(spec, "replicas", 1), Int(status, "updatedReplicas"),
                       Int(status, "availableReplicas"));
  }
  return out;
}

}  // namespace ramp::cli
