// MessageTemplate: the small, safe subset of Go templates that ramp's notification templates
// accept (docs/notifications.md, "Templates"). Text outside actions is copied as it is; an action
// is `{{ .path.to.value }}`: a dotted path from the root of the variables
// (`.rollout.metadata.name`,
// `.event.reason`, `.recipient`, `.time`), with Go's `{{-` and `-}}` trimming the white space
// before or after it. A string renders as it is, a number or bool as JSON text, an object or
// array as compact JSON; null and a path that leads nowhere render as the empty string. Every other
// construct — `{{if}}`, `{{range}}`, pipes, functions, variables, comments — is refused by
// Compile with its position, so a template never does anything a reader cannot see.
//
// Pure: no I/O, no clock. Thread-safety: a compiled MessageTemplate is immutable; Render may be
// called from any number of threads at once.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramp/status.h"

namespace ramp::hooks {

class MessageTemplate {
 public:
  MessageTemplate() = default;  // renders as the empty string

  // kInvalidArgument for an unsupported or malformed action, e.g.
  // `line 2, column 5: {{if .x}}: only {{.path}} is supported (no if, range, pipes or functions)`.
  static StatusOr<MessageTemplate> Compile(std::string_view text);

  // The text with every action replaced by its value in `vars`.
  std::string Render(const nlohmann::json& vars) const;

  const std::string& source() const { return source_; }
  bool empty() const { return source_.empty(); }

 private:
  struct Part {
    std::string literal;            // when path is empty
    std::vector<std::string> path;  // the keys of an action (never empty: `{{.}}` is refused)
    bool is_action = false;
  };

  std::string source_;
  std::vector<Part> parts_;
};

// The value at `path` in `vars` rendered as MessageTemplate does ("" when absent).
std::string RenderValue(const nlohmann::json& vars, const std::vector<std::string>& path);

}  // namespace ramp::hooks
