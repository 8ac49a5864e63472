// A parsed YAML/JSON document as a plain tree that remembers where every node came from.
//
// The decoder needs three things yaml-cpp does not give it in one place: the line and column of
// every key (for "file:line:col: path: message" errors), whether a scalar was quoted (a quoted
// "5" is a string, a plain 5 an integer, as in Kubernetes' YAML-to-JSON conversion), and the
// order of keys. ParseDocuments turns text into that tree once; after that nothing throws.
// Bounded: input size, nesting depth and node count are capped so a hostile file (alias bombs,
// deep nesting) is an error, not an exhausted machine.
//
// Thread-safety: Nodes are immutable values once built; share them freely for reading.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "ramp/status.h"

namespace ramp::spec {

// A 1-based position in a source file; line 0 means "unknown".
struct Mark {
  int line = 0;
  int column = 0;
  bool known() const { return line > 0; }
};

struct MapEntry;

class Node {
 public:
  enum class Kind { kNull, kScalar, kSequence, kMap };

  Kind kind = Kind::kNull;
  Mark mark;
  std::string scalar;             // kScalar: the text as written (without quotes)
  bool quoted = false;            // kScalar: quoted or block scalar, i.e. always a string
  std::vector<Node> items;        // kSequence
  std::vector<MapEntry> entries;  // kMap, in source order

  bool IsNull() const { return kind == Kind::kNull; }
  bool IsScalar() const { return kind == Kind::kScalar; }
  bool IsSequence() const { return kind == Kind::kSequence; }
  bool IsMap() const { return kind == Kind::kMap; }

  // The value of `key` in a map, or nullptr (also for non-maps).
  const Node* Find(std::string_view key) const;
  // The mark of `key` itself in a map, or this node's mark.
  Mark KeyMark(std::string_view key) const;

  // A plain scalar that reads as YAML null/bool/int/float, or a quoted string.
  bool IsPlainNull() const;
  // How the scalar would be typed by a YAML 1.2 core-schema reader: "null", "bool", "int",
  // "float" or "string"; "map"/"sequence" for collections.
  std::string_view TypeName() const;
};

struct MapEntry {
  std::string key;
  Mark key_mark;
  Node value;
};

struct ParseWarning {
  Mark mark;
  std::string message;
};

struct Document {
  Node root;
  int index = 0;  // 0-based position of the document in its file
  Mark start;     // where the document starts
  // Things the parser accepted but a person should fix, e.g. an unquoted {{args.x}}.
  std::vector<ParseWarning> warnings;
};

struct ParseLimits {
  size_t max_bytes = 32u << 20;
  int max_depth = 256;
  size_t max_nodes = 2'000'000;
};

// Parses YAML (JSON is YAML) holding one or more documents. Empty documents (a bare `---`) are
// kept as null roots. On a syntax error the Status message is "FILE:LINE:COL: message".
StatusOr<std::vector<Document>> ParseDocuments(std::string_view text, std::string_view file,
                                               const ParseLimits& limits = {});

// Converts a node to JSON the way Kubernetes' YAML-to-JSON step does (plain scalars typed by the
// YAML 1.2 core schema, quoted scalars strings).
nlohmann::json ToJson(const Node& node);

// Parses an integer written as a plain YAML scalar (decimal, 0x hex, 0o octal, optional sign).
bool ParseYamlInt(std::string_view text, int64_t* out);
// Parses a float written as a plain YAML scalar (including .inf, -.inf, .nan).
bool ParseYamlFloat(std::string_view text, double* out);
// Parses a YAML 1.2 boolean (true/false in any of the three cases).
bool ParseYamlBool(std::string_view text, bool* out);

}  // namespace ramp::spec
