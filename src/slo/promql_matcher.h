// Label-matcher injection for PromQL: turns a service-wide SLI query into a canary-scoped one by
// adding a matcher such as version="v2" to every vector selector of the expression.
//
// A small hand-written lexer, not a PromQL parser: it knows enough of the language (strings with
// escapes, numbers and durations, range and subquery brackets, label lists of by/without/on/
// ignoring/group_left/group_right, keywords, function calls, comments and Sloth's `{{.window}}`
// template placeholders) to find every selector and leave everything else byte for byte as it
// was. Part of the functional core: no I/O.
//
// Thread-safety: pure functions; safe to call concurrently.
#pragma once

#include <string>
#include <string_view>

#include "ramp/status.h"

namespace ramp::slo {

// Checks that `matcher` is one label matcher, `label(=|!=|=~|!~)"value"` (spaces around the
// operator allowed), and returns it normalized without spaces. InvalidArgument otherwise.
StatusOr<std::string> NormalizeLabelMatcher(std::string_view matcher);

// Adds `matcher` to every vector selector of `promql`:
//   metric{a="b"}[5m]  → metric{a="b",version="v2"}[5m]
//   metric[5m], metric → metric{version="v2"}[5m], metric{version="v2"}
//   {__name__="x"}     → {__name__="x",version="v2"}
// Function names, keywords, aggregation modifiers and their label lists, strings, numbers,
// durations and template placeholders are untouched. InvalidArgument for a bad matcher, and for
// unbalanced brackets, braces or parentheses and unterminated strings or placeholders, naming
// the byte offset (0-based) where the problem is.
StatusOr<std::string> InjectLabelMatcher(std::string_view promql, std::string_view matcher);

// The lexical check InjectLabelMatcher makes (balanced brackets, terminated strings and
// placeholders), for validating a query without rewriting it.
Status CheckPromQlLexically(std::string_view promql);

}  // namespace ramp::slo
