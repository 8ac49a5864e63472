#include "hooks/template.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include <fmt/format.h>

namespace ramp::hooks {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// 1-based line and column of byte `offset` in `text`.
std::string Position(std::string_view text, size_t offset) {
  int line = 1;
  int column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return fmt::format("line {}, column {}", line, column);
}

bool IsKeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
}

}  // namespace

StatusOr<MessageTemplate> MessageTemplate::Compile(std::string_view text) {
  MessageTemplate t;
  t.source_ = std::string(text);
  size_t i = 0;
  std::string literal;
  bool trim_next = false;
  while (i <= text.size()) {
    const size_t open = text.find("{{", i);
    std::string_view chunk = text.substr(i, open == std::string_view::npos ? text.npos : open - i);
    if (trim_next) {
      while (!chunk.empty() && IsSpace(chunk.front())) chunk.remove_prefix(1);
      trim_next = false;
    }
    if (open == std::string_view::npos) {
      literal += chunk;
      break;
    }
    const size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      return Fail(InvalidArgumentError(
          fmt::format("{}: \"{{{{\" is not closed by \"}}}}\"", Position(text, open))));
    }
    std::string_view action = text.substr(open + 2, close - open - 2);
    const std::string shown = fmt::format("{{{{{}}}}}", action);
    if (action.starts_with("-") && action.size() > 1 && IsSpace(action[1])) {
      while (!chunk.empty() && IsSpace(chunk.back())) chunk.remove_suffix(1);
      action.remove_prefix(1);
    }
    if (action.ends_with("-") && action.size() > 1 && IsSpace(action[action.size() - 2])) {
      trim_next = true;
      action.remove_suffix(1);
    }
    literal += chunk;
    while (!action.empty() && IsSpace(action.front())) action.remove_prefix(1);
    while (!action.empty() && IsSpace(action.back())) action.remove_suffix(1);
    auto unsupported = [&](std::string_view why) {
      return Fail(InvalidArgumentError(fmt::format(
          "{}: {}: {}; only {{{{.path}}}} is supported (no if, range, with, pipes, functions, "
          "variables or comments)",
          Position(text, open), shown, why)));
    };
    if (action.empty()) return unsupported("an empty action");
    if (action.front() != '.') return unsupported("not a path starting with \".\"");
    if (action.find('|') != std::string_view::npos) return unsupported("a pipe");
    if (std::any_of(action.begin(), action.end(), IsSpace)) {
      return unsupported("more than a path (arguments or functions)");
    }
    Part part;
    part.is_action = true;
    size_t k = 1;
    while (k <= action.size()) {
      size_t end = k;
      while (end < action.size() && IsKeyChar(action[end])) ++end;
      if (end == k) return unsupported("an empty path element");
      part.path.emplace_back(action.substr(k, end - k));
      if (end == action.size()) break;
      if (action[end] != '.') {
        return unsupported(
            fmt::format("unexpected \"{}\" after .{}", action[end], fmt::join(part.path, ".")));
      }
      k = end + 1;
    }
    if (!literal.empty()) {
      t.parts_.push_back(Part{std::move(literal), {}, false});
      literal.clear();
    }
    t.parts_.push_back(std::move(part));
    i = close + 2;
  }
  if (!literal.empty()) t.parts_.push_back(Part{std::move(literal), {}, false});
  return t;
}

std::string RenderValue(const nlohmann::json& vars, const std::vector<std::string>& path) {
  const nlohmann::json* at = &vars;
  for (const std::string& key : path) {
    if (!at->is_object()) return "";
    auto it = at->find(key);
    if (it == at->end()) return "";
    at = &*it;
  }
  if (at->is_string()) return at->get<std::string>();
  if (at->is_null()) return "";
  return at->dump();
}

std::string MessageTemplate::Render(const nlohmann::json& vars) const {
  std::string out;
  for (const Part& p : parts_) {
    out += p.is_action ? RenderValue(vars, p.path) : p.literal;
  }
  return out;
}

}  // namespace ramp::hooks
