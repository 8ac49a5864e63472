#include "spec/diagnostics.h"

#include <algorithm>
#include <cctype>
#include <tuple>

namespace ramp::spec {

std::string Diagnostic::ToString() const {
  std::string out = file;
  if (mark.known()) {
    out += ":" + std::to_string(mark.line) + ":" + std::to_string(mark.column);
  }
  out += ": ";
  if (severity == Severity::kWarning) out += "warning: ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

void SourceMap::Record(const std::string& path, Mark mark) {
  if (mark.known()) marks_.emplace(path, mark);
}

Mark SourceMap::Lookup(std::string_view path) const {
  std::string p(path);
  while (true) {
    auto it = marks_.find(p);
    if (it != marks_.end()) return it->second;
    if (p.empty()) return Mark{};
    // Strip the last component: ".field", "[3]" or ["key"].
    size_t cut = std::string::npos;
    if (p.back() == ']') {
      // Find the matching '[' that is not inside a quoted key.
      bool in_quote = false;
      for (size_t i = p.size(); i-- > 0;) {
        if (p[i] == '"') in_quote = !in_quote;
        if (p[i] == '[' && !in_quote) {
          cut = i;
          break;
        }
      }
    } else {
      cut = p.find_last_of('.');
      if (cut == std::string::npos) cut = 0;
    }
    if (cut == std::string::npos) return Mark{};
    p.resize(cut);
  }
}

void Diagnostics::Error(std::string file, Mark mark, std::string path, std::string message) {
  items_.push_back(
      Diagnostic{Severity::kError, std::move(file), mark, std::move(path), std::move(message)});
}

void Diagnostics::Warning(std::string file, Mark mark, std::string path, std::string message) {
  items_.push_back(
      Diagnostic{Severity::kWarning, std::move(file), mark, std::move(path), std::move(message)});
}

bool Diagnostics::HasErrors() const { return ErrorCount() > 0; }

size_t Diagnostics::ErrorCount() const {
  return static_cast<size_t>(std::count_if(items_.begin(), items_.end(), [](const Diagnostic& d) {
    return d.severity == Severity::kError;
  }));
}

size_t Diagnostics::WarningCount() const { return items_.size() - ErrorCount(); }

void Diagnostics::Append(const Diagnostics& other) {
  items_.insert(items_.end(), other.items_.begin(), other.items_.end());
}

void Diagnostics::SortByPosition() {
  std::stable_sort(items_.begin(), items_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.file, a.mark.line, a.mark.column) <
           std::tie(b.file, b.mark.line, b.mark.column);
  });
}

std::string ChildPath(std::string_view parent, std::string_view field) {
  if (parent.empty()) return std::string(field);
  std::string out(parent);
  out += '.';
  out += field;
  return out;
}

std::string IndexPath(std::string_view parent, size_t index) {
  std::string out(parent);
  out += '[';
  out += std::to_string(index);
  out += ']';
  return out;
}

std::string KeyPath(std::string_view parent, std::string_view key) {
  std::string out(parent);
  out += "[\"";
  out += key;
  out += "\"]";
  return out;
}

namespace {
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      char ca = static_cast<char>(std::tolower(static_cast<unsigned char>(a[i - 1])));
      char cb = static_cast<char>(std::tolower(static_cast<unsigned char>(b[j - 1])));
      size_t sub = prev[j - 1] + (ca == cb ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates) {
  if (word.size() > 256) return "";
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& c : candidates) {
    size_t d = EditDistance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  size_t limit = std::max<size_t>(2, word.size() / 3);
  // Distance 0 (case ignored) is a case-only typo such as "specref" for "specRef".
  if (best_d > limit || best == word) return "";
  return best;
}

std::string Diagnostics::ErrorText() const {
  Diagnostics sorted = *this;
  sorted.SortByPosition();
  std::string out;
  for (const Diagnostic& d : sorted.items()) {
    if (d.severity != Severity::kError) continue;
    if (!out.empty()) out += "\n";
    out += d.ToString();
  }
  return out;
}

}  // namespace ramp::spec
