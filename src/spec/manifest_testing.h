// Test helpers shared by the manifest tests: building YAML text and reading diagnostics of one
// LoadManifests run as "LINE:COL PATH | MESSAGE" strings. Test-only.
//
// Thread-safety: none; each test builds its own.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "spec/manifest.h"

namespace ramp::spec::testing_util {

// Indents every non-empty line of `text` by `n` spaces.
inline std::string Indent(std::string_view text, int n) {
  std::string out;
  std::string pad(static_cast<size_t>(n), ' ');
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty()) out += pad + std::string(line);
    out += '\n';
    start = end + 1;
  }
  return out;
}

// One LoadManifests run over `text` as r.yaml.
struct Loaded {
  explicit Loaded(std::string t) : text(std::move(t)), set(LoadManifests(text, "r.yaml")) {}

  // "LINE:COL PATH | MESSAGE" of every diagnostic of one severity, in report order.
  std::vector<std::string> Of(Severity severity) const {
    std::vector<std::string> out;
    for (const auto& d : set.diagnostics.items()) {
      if (d.severity != severity) continue;
      out.push_back(std::to_string(d.mark.line) + ":" + std::to_string(d.mark.column) + " " +
                    d.path + " | " + d.message);
    }
    return out;
  }
  std::vector<std::string> Errors() const { return Of(Severity::kError); }
  std::vector<std::string> Warnings() const { return Of(Severity::kWarning); }
  std::vector<std::string> Strings() const {
    std::vector<std::string> out;
    for (const auto& d : set.diagnostics.items()) out.push_back(d.ToString());
    return out;
  }
  std::string Dump() const {
    std::string out;
    for (const auto& d : set.diagnostics.items()) out += d.ToString() + "\n";
    return out;
  }

  // "LINE:COL" of the `nth` occurrence of `needle` in the text.
  std::string Pos(std::string_view needle, int nth = 0) const {
    size_t at = text.find(needle);
    for (int i = 0; i < nth && at != std::string::npos; ++i) at = text.find(needle, at + 1);
    EXPECT_NE(at, std::string::npos) << "no \"" << needle << "\" in the text";
    if (at == std::string::npos) return "?";
    size_t line_start = text.rfind('\n', at);
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + at, '\n'));
    return std::to_string(line) + ":" + std::to_string(at - line_start + 1);
  }

  // The only Rollout loaded.
  const Rollout& ro() const {
    static const Rollout kNone;
    if (set.rollouts.size() != 1) {
      ADD_FAILURE() << "expected one loaded Rollout, got " << set.rollouts.size() << "\n" << Dump();
      return kNone;
    }
    return *set.rollouts[0].object;
  }
  const CanaryStrategy& canary() const {
    static const CanaryStrategy kNone;
    if (!ro().spec.canary) {
      ADD_FAILURE() << "no canary strategy";
      return kNone;
    }
    return *ro().spec.canary;
  }
  const RolloutTrafficRouting& routing() const {
    static const RolloutTrafficRouting kNone;
    if (!canary().traffic_routing) {
      ADD_FAILURE() << "no trafficRouting";
      return kNone;
    }
    return *canary().traffic_routing;
  }
  const CanaryStep& step(size_t i) const {
    static const CanaryStep kNone;
    if (i >= canary().steps.size()) {
      ADD_FAILURE() << "no step " << i;
      return kNone;
    }
    return canary().steps[i];
  }

  std::string text;
  ManifestSet set;
};

// A diagnostic at POS ("LINE:COL") on PATH whose message contains `fragment`.
inline auto Diag(const std::string& pos, const std::string& path, const std::string& fragment) {
  return ::testing::AllOf(::testing::StartsWith(pos + " " + path + " | "),
                          ::testing::HasSubstr(fragment));
}

}  // namespace ramp::spec::testing_util
