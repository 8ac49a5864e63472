// Diagnostics: the errors and warnings found while decoding and validating manifests.
//
// Every diagnostic names the file, the line and column, the field path and what is wrong:
//   rollout.yaml:14:9: spec.strategy.canary.steps[2].setWeight: must be between 0 and 100
// Decoding records the position of every field it visits in a SourceMap, so validation — which
// runs on typed objects — can point at the field it complains about.
//
// Thread-safety: none; a Diagnostics or SourceMap belongs to one decode at a time.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "spec/yaml_tree.h"

namespace ramp::spec {

enum class Severity { kError, kWarning };

struct Diagnostic {
  Severity severity = Severity::kError;
  std::string file;
  Mark mark;
  std::string path;  // e.g. spec.strategy.canary.steps[2].setWeight; may be empty
  std::string message;

  // "file:line:col: path: message" (warnings carry "warning: " before the path).
  std::string ToString() const;
};

// Field path → where it was written. Paths use the notation of Diagnostic::path.
class SourceMap {
 public:
  void Record(const std::string& path, Mark mark);
  // The mark of `path`, or of its closest recorded ancestor, or an unknown mark.
  Mark Lookup(std::string_view path) const;

 private:
  std::unordered_map<std::string, Mark> marks_;
};

class Diagnostics {
 public:
  void Add(Diagnostic d) { items_.push_back(std::move(d)); }
  void Error(std::string file, Mark mark, std::string path, std::string message);
  void Warning(std::string file, Mark mark, std::string path, std::string message);

  const std::vector<Diagnostic>& items() const { return items_; }
  bool HasErrors() const;
  size_t ErrorCount() const;
  size_t WarningCount() const;
  void Append(const Diagnostics& other);
  // Sorted by file, line, column: the order a person reads a file in.
  void SortByPosition();
  // Every error's ToString, one per line, in position order (warnings left out).
  std::string ErrorText() const;

 private:
  std::vector<Diagnostic> items_;
};

// Path helpers: Child("spec", "strategy") = "spec.strategy"; Index("steps", 2) = "steps[2]";
// Key("plugins", "ramp/proxy") = plugins["ramp/proxy"].
std::string ChildPath(std::string_view parent, std::string_view field);
std::string IndexPath(std::string_view parent, size_t index);
std::string KeyPath(std::string_view parent, std::string_view key);

// The candidate closest to `word` by edit distance when close enough to be a likely typo
// (distance ≤ max(2, len/3)), else empty.
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace ramp::spec
