// Label and field selectors as the Kubernetes API server reads them from ?labelSelector= and
// ?fieldSelector=, for KubeApiServerFake (a test fake; never used in production).
//
// Label selectors: comma-separated requirements that must all hold — `key=value`, `key==value`,
// `key!=value` (also true when the key is absent), `key in (a,b)`, `key notin (a,b)` (also true
// when absent), `key` (present), `!key` (absent), `key>N` and `key<N` (integer comparison).
// Keys are qualified names with an optional DNS-subdomain prefix (`example.com/name`); values are
// empty or at most 63 characters of [A-Za-z0-9-_.] starting and ending alphanumeric. Anything
// else is a parse error, which the fake answers 400 BadRequest.
//
// Field selectors: comma-separated `path=value`, `path==value` or `path!=value` terms over
// string-valued fields; `\,`, `\=` and `\\` escape those characters in values. Only paths the
// resource supports are allowed (metadata.name and metadata.namespace always); another path is
// the real server's "field label not supported" error.
//
// Thread-safety: both are immutable values once parsed; share them freely.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramp/status.h"

namespace ramp::fakes {

class LabelSelector {
 public:
  // The selector that matches everything.
  LabelSelector() = default;

  // Parses the query-parameter form; "" (or only spaces) matches everything.
  static StatusOr<LabelSelector> Parse(std::string_view text);
  // Reads a metav1.LabelSelector object ({matchLabels, matchExpressions}); null matches
  // everything.
  static StatusOr<LabelSelector> FromJson(const nlohmann::json& selector);

  // Whether an object with these labels (a JSON object of strings, or null) is selected.
  bool Matches(const nlohmann::json& labels) const;
  bool Empty() const { return requirements_.empty(); }
  // The canonical string form (requirements sorted by key), what a Scale's status.selector
  // carries: "app=web,tier in (a,b)".
  std::string ToString() const;

 private:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist, kGreater, kLess };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;  // sorted for kIn/kNotIn
  };
  static Status Add(std::vector<Requirement>& out, Requirement r);

  std::vector<Requirement> requirements_;
};

class FieldSelector {
 public:
  // The selector that matches everything.
  FieldSelector() = default;

  // Parses the query-parameter form; `supported` lists the field paths the resource allows
  // beyond metadata.name and metadata.namespace (e.g. "status.phase").
  static StatusOr<FieldSelector> Parse(std::string_view text,
                                       const std::vector<std::string>& supported);

  // Whether `object` is selected; a missing field reads as "".
  bool Matches(const nlohmann::json& object) const;
  bool Empty() const { return terms_.empty(); }

  // The value of the dotted `path` in `object` as a field selector compares it: strings as is,
  // numbers and booleans in their JSON spelling, anything else (or missing) "".
  static std::string FieldValue(const nlohmann::json& object, std::string_view path);

 private:
  struct Term {
    std::string path;
    bool equals;
    std::string value;
  };
  std::vector<Term> terms_;
};

}  // namespace ramp::fakes
