// Golden files for Kubernetes objects, for tests: load a hand-written expected object (YAML or
// JSON, in src/platform/kubernetes/testdata/ or any path) and compare an object the code built
// with it, reporting every JSON path that differs.
//
// The golden is the expected object exactly: every field it has must be in the built object with
// an equal value (numbers compare by value, 1 == 1.0), and the built object may have no other
// field except those in the ignored list. Only fields absent from the golden are ignored; a
// golden that names an ignored field still has it checked. DefaultIgnoredPaths() lists the
// fields the API server sets, which hand-written goldens leave out:
//   metadata.uid, metadata.resourceVersion, metadata.creationTimestamp, metadata.generation,
//   metadata.managedFields, metadata.selfLink, status,
//   spec.template.metadata.creationTimestamp (null in templates from older API servers).
// Paths are written `metadata.annotations["rollout.argoproj.io/revision"]`,
// `spec.template.spec.containers[0].image`; in ignored paths `[*]` matches any index.
//
// YAML is read with spec::ParseDocuments and converted as Kubernetes does (a quoted "1" is a
// string, a plain 1 a number); a golden holds exactly one document, comments allowed. Link
// `ramp_platform_kube_golden_testing` (ramp_spec + GoogleTest); RAMP_SOURCE_DIR (set by
// ramp_test) locates testdata/.
//
// Thread-safety: pure functions; call from any thread.
#pragma once

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ramp/status.h"
#include "spec/yaml_tree.h"

namespace ramp::platform::kube_objects::testing {

// The path of `name` in src/platform/kubernetes/testdata/ (`name` absolute: itself).
inline std::string GoldenPath(std::string_view name) {
  if (!name.empty() && name.front() == '/') return std::string(name);
#ifdef RAMP_SOURCE_DIR
  return std::string(RAMP_SOURCE_DIR) + "/src/platform/kubernetes/testdata/" + std::string(name);
#else
  return "src/platform/kubernetes/testdata/" + std::string(name);
#endif
}

// The single document of the golden file `name` (see GoldenPath) as JSON.
inline StatusOr<nlohmann::json> LoadGolden(std::string_view name) {
  const std::string path = GoldenPath(name);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(NotFoundError("golden " + path + ": cannot be opened"));
  std::stringstream text;
  text << in.rdbuf();
  auto docs = spec::ParseDocuments(text.str(), path);
  if (!docs) return Fail(docs.error());
  std::vector<const spec::Document*> non_empty;
  for (const spec::Document& d : *docs) {
    if (!d.root.IsNull()) non_empty.push_back(&d);
  }
  if (non_empty.size() != 1) {
    return Fail(InvalidArgumentError("golden " + path + ": must hold exactly one document, has " +
                                     std::to_string(non_empty.size())));
  }
  return spec::ToJson(non_empty.front()->root);
}

inline const std::vector<std::string>& DefaultIgnoredPaths() {
  static const std::vector<std::string> kPaths = {"metadata.uid",
                                                  "metadata.resourceVersion",
                                                  "metadata.creationTimestamp",
                                                  "metadata.generation",
                                                  "metadata.managedFields",
                                                  "metadata.selfLink",
                                                  "status",
                                                  "spec.template.metadata.creationTimestamp"};
  return kPaths;
}

namespace internal {

inline std::string ChildPath(const std::string& parent, const std::string& key) {
  static const std::regex kPlain("[A-Za-z_][A-Za-z0-9_]*");
  if (std::regex_match(key, kPlain)) return parent.empty() ? key : parent + "." + key;
  return parent + "[" + nlohmann::json(key).dump() + "]";
}

inline std::string Show(const nlohmann::json& v) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > 200) s = s.substr(0, 197) + "...";
  return s;
}

inline bool Ignored(const std::string& path, const std::vector<std::string>& ignored) {
  static const std::regex kIndex(R"(\[[0-9]+\])");
  const std::string wildcard = std::regex_replace(path, kIndex, "[*]");
  for (const std::string& p : ignored) {
    if (p == path || p == wildcard) return true;
  }
  return false;
}

inline void Diff(const nlohmann::json& golden, const nlohmann::json& actual,
                 const std::string& path, const std::vector<std::string>& ignored,
                 std::vector<std::string>* out) {
  const std::string where = path.empty() ? "(root)" : path;
  if (golden.is_object() && actual.is_object()) {
    for (const auto& [k, v] : golden.items()) {
      const std::string p = ChildPath(path, k);
      auto it = actual.find(k);
      if (it == actual.end()) {
        out->push_back(p + ": missing (golden has " + Show(v) + ")");
      } else {
        Diff(v, *it, p, ignored, out);
      }
    }
    for (const auto& [k, v] : actual.items()) {
      const std::string p = ChildPath(path, k);
      if (!golden.contains(k) && !Ignored(p, ignored)) {
        out->push_back(p + ": unexpected field " + Show(v) + " (not in the golden)");
      }
    }
    return;
  }
  if (golden.is_array() && actual.is_array()) {
    if (golden.size() != actual.size()) {
      out->push_back(where + ": golden has " + std::to_string(golden.size()) + " items, got " +
                     std::to_string(actual.size()));
    }
    for (size_t i = 0; i < std::min(golden.size(), actual.size()); ++i) {
      Diff(golden[i], actual[i], path + "[" + std::to_string(i) + "]", ignored, out);
    }
    return;
  }
  if (golden != actual) {
    out->push_back(where + ": golden " + Show(golden) + ", got " + Show(actual));
  }
}

}  // namespace internal

// Every difference between `golden` and `actual`, one line each ("PATH: what"); empty when
// they match.
inline std::vector<std::string> DiffAgainstGolden(
    const nlohmann::json& golden, const nlohmann::json& actual,
    const std::vector<std::string>& ignored = DefaultIgnoredPaths()) {
  std::vector<std::string> out;
  internal::Diff(golden, actual, "", ignored, &out);
  return out;
}

// EXPECT_TRUE(MatchesGolden(object, "replicaset-canary-v2.yaml"));
inline ::testing::AssertionResult MatchesGolden(
    const nlohmann::json& actual, std::string_view name,
    const std::vector<std::string>& ignored = DefaultIgnoredPaths()) {
  StatusOr<nlohmann::json> golden = LoadGolden(name);
  if (!golden) return ::testing::AssertionFailure() << golden.error().ToString();
  std::vector<std::string> diffs = DiffAgainstGolden(*golden, actual, ignored);
  if (diffs.empty()) return ::testing::AssertionSuccess();
  ::testing::AssertionResult r = ::testing::AssertionFailure();
  r << "differs from golden " << GoldenPath(name) << " at " << diffs.size() << " path(s):";
  for (const std::string& d : diffs) r << "\n  " << d;
  return r;
}

}  // namespace ramp::platform::kube_objects::testing
