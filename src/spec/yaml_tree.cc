#include "spec/yaml_tree.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

namespace ramp::spec {
namespace {

Mark ToMark(const YAML::Mark& m) {
  if (m.line < 0 || m.column < 0) return Mark{};
  return Mark{m.line + 1, m.column + 1};
}

class Converter {
 public:
  explicit Converter(const ParseLimits& limits) : limits_(limits) {}

  std::vector<ParseWarning> TakeWarnings() { return std::move(warnings_); }

  Status Convert(const YAML::Node& in, Node* out, int depth) {
    if (depth > limits_.max_depth) {
      return InvalidArgumentError("nesting deeper than " + std::to_string(limits_.max_depth) +
                                  " levels");
    }
    if (++nodes_ > limits_.max_nodes) {
      return InvalidArgumentError("document has more than " + std::to_string(limits_.max_nodes) +
                                  " nodes (aliases expanded)");
    }
    out->mark = ToMark(in.Mark());
    switch (in.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        out->kind = Node::Kind::kNull;
        return OkStatus();
      case YAML::NodeType::Scalar:
        out->kind = Node::Kind::kScalar;
        out->scalar = in.Scalar();
        out->quoted = in.Tag() == "!" || in.Tag() == "tag:yaml.org,2002:str";
        return OkStatus();
      case YAML::NodeType::Sequence:
        out->kind = Node::Kind::kSequence;
        out->items.reserve(in.size());
        for (const auto& item : in) {
          Node child;
          RETURN_IF_ERROR(Convert(item, &child, depth + 1));
          out->items.push_back(std::move(child));
        }
        return OkStatus();
      case YAML::NodeType::Map:
        if (std::string inner; IsUnquotedTemplate(in, &inner)) {
          // `key: {{args.x}}` parses as a mapping inside a mapping; Argo authors mean the
          // string "{{args.x}}" (Argo's own examples do this), so read it as that string.
          out->kind = Node::Kind::kScalar;
          out->scalar = "{{" + inner + "}}";
          out->quoted = true;
          warnings_.push_back(ParseWarning{
              out->mark,
              "unquoted \"{{" + inner + "}}\" is a YAML mapping; read as a string, but quote it"});
          return OkStatus();
        }
        out->kind = Node::Kind::kMap;
        for (auto it = in.begin(); it != in.end(); ++it) {
          MapEntry entry;
          if (!it->first.IsScalar()) {
            return InvalidArgumentError(std::to_string(ToMark(it->first.Mark()).line) + ":" +
                                        std::to_string(ToMark(it->first.Mark()).column) +
                                        ": map keys must be scalars");
          }
          entry.key = it->first.Scalar();
          entry.key_mark = ToMark(it->first.Mark());
          RETURN_IF_ERROR(Convert(it->second, &entry.value, depth + 1));
          if (!entry.value.mark.known()) entry.value.mark = entry.key_mark;
          out->entries.push_back(std::move(entry));
        }
        return OkStatus();
    }
    return OkStatus();
  }

 private:
  // {{x}} written without quotes: a one-entry map whose key is a one-entry map with a null
  // value, and whose own value is null.
  static bool IsUnquotedTemplate(const YAML::Node& in, std::string* inner) {
    if (in.size() != 1) return false;
    // yaml-cpp's iterators yield temporaries: copy the nodes out (they are handles).
    auto it = in.begin();
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    if (!value.IsNull() || !key.IsMap() || key.size() != 1) return false;
    auto kit = key.begin();
    YAML::Node inner_key = kit->first;
    YAML::Node inner_value = kit->second;
    if (!inner_key.IsScalar() || !inner_value.IsNull()) return false;
    *inner = inner_key.Scalar();
    return true;
  }

  const ParseLimits& limits_;
  size_t nodes_ = 0;
  std::vector<ParseWarning> warnings_;
};

// yaml-cpp reports "end of map not found" style errors; keep its wording but drop the
// "yaml-cpp: error at line X, column Y:" prefix since we print the position ourselves.
std::string CleanMessage(const std::string& what, const std::string& msg) {
  if (!msg.empty()) return msg;
  return what;
}

// yaml-cpp 0.7 allocates without bound (or loops) when a ',' stands where a document-level node
// is expected (",", " ,", "[a]\n,"), follows a closed flow collection or quoted scalar outside
// any flow collection ('{"a": 1}, x'), or ends an anchor, alias or tag name there ("&a,b"). Such
// text is invalid YAML anyway (',' cannot start a plain scalar outside a flow collection), so
// refuse it before the parser sees it. Returns the 1-based line and column of the offending comma,
// or {0, 0}.
struct ParserTrap {
  Mark mark;
  const char* reason = "";
};

// Static storage: a ParserTrap points at these after FindParserTrap returns.
constexpr char kComma[] = "unexpected ',' outside a flow collection";
constexpr char kAfterRoot[] =
    "unexpected content after the document's root collection or quoted scalar (start a new "
    "document with ---)";
constexpr char kDirective[] = "unknown YAML directive (only %YAML and %TAG are allowed)";
constexpr char kExplicitKey[] =
    "explicit mapping keys ('? ') are not supported; write the key before its ':'";
constexpr char kDirectiveInDocument[] =
    "a line starting with '%' is a YAML directive, allowed only before a document's content "
    "(quote a value that starts with '%')";

ParserTrap FindParserTrap(std::string_view text) {
  int line = 1;
  int flow_depth = 0;
  bool seen_content = false;
  char quote = 0;             // an open quoted scalar, which may span lines
  bool after_closed = false;  // the last token closed a quote or a flow collection at depth 0
  int block_indent = -1;      // inside a block scalar: the indentation of its header line
  int doc_tokens = 0;         // tokens seen in the current document
  bool root_open = false;     // the document's root is a flow collection or quoted scalar
  bool root_closed = false;   // ... and it has ended: nothing but comments may follow
  size_t i = 0;
  while (i < text.size()) {
    size_t end = text.find('\n', i);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(i, end - i);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    size_t first = l.find_first_not_of(" \t");
    ++line;
    i = end + 1;
    int at = line - 1;
    if (block_indent >= 0) {
      // Block scalar content: blank lines and lines indented deeper than the header.
      if (first == std::string_view::npos || static_cast<int>(first) > block_indent) continue;
      block_indent = -1;
    }
    if (quote == 0 && (l.rfind("---", 0) == 0 || l.rfind("...", 0) == 0) &&
        (l.size() == 3 || l[3] == ' ' || l[3] == '\t')) {
      // A document marker; "--- x" starts the new document's content on the same line.
      seen_content = false;
      flow_depth = 0;
      after_closed = false;
      doc_tokens = 0;
      root_open = false;
      root_closed = false;
      first = l.find_first_not_of(" \t", 3);
    }
    if (first == std::string_view::npos) continue;
    if (quote == 0 && l[first] == '#') continue;
    if (quote == 0 && flow_depth == 0 && first == 0 && l[0] == '%') {
      // A directive line before the document: yaml-cpp reads others in ways the rest of this
      // screen cannot follow. After content a '%' line is never valid YAML (a plain scalar
      // cannot start with '%'), and yaml-cpp takes it for a directive and can allocate without
      // bound (":\n%: {\n,").
      if (seen_content) return ParserTrap{Mark{at, 1}, kDirectiveInDocument};
      if (l.rfind("%YAML ", 0) == 0 || l.rfind("%TAG ", 0) == 0) continue;
      return ParserTrap{Mark{at, 1}, kDirective};
    }
    if (quote == 0 && l[first] == ',' && flow_depth == 0 &&
        (first == 0 || !seen_content || after_closed)) {
      return ParserTrap{Mark{at, static_cast<int>(first) + 1}, kComma};
    }
    seen_content = true;
    // A small mirror of yaml-cpp's scanner: brackets and quotes open something only where a
    // token starts; inside a plain scalar ("a[b", "x\"y", `spec":{`) they are ordinary
    // characters, and a plain scalar outside flow collections runs to ": ", " #" or the end of
    // the line.
    bool in_plain = false;
    for (size_t k = first; k < l.size(); ++k) {
      char c = l[k];
      char next = k + 1 < l.size() ? l[k + 1] : ' ';
      if (quote != 0) {
        if (quote == '"' && c == '\\') {
          ++k;
        } else if (c == quote) {
          quote = 0;
          after_closed = flow_depth == 0;
          if (root_open && flow_depth == 0) root_closed = true;
        }
        continue;
      }
      if (in_plain) {
        bool ends = (c == ':' && (next == ' ' || next == '\t')) ||
                    (c == '#' && (l[k - 1] == ' ' || l[k - 1] == '\t')) ||
                    (flow_depth > 0 && (c == ',' || c == '[' || c == ']' || c == '{' || c == '}' ||
                                        (c == ':' && next == ',')));
        if (!ends) continue;
        in_plain = false;
      }
      if (c == ' ' || c == '\t') continue;
      if (root_closed && c != '#' && c != ',') {
        // yaml-cpp starts a document of its own after "[a]" and can loop on what follows
        // ("[a]x\n?").
        return ParserTrap{Mark{at, static_cast<int>(k) + 1}, kAfterRoot};
      }
      if (c == ',' && flow_depth == 0) {
        // A ',' token outside a flow collection: `{"a": 1}, x`, `"a", b`, `&a ,`. (Inside a
        // plain scalar, `a: b, c`, it is content and never reaches here.) A plain scalar cannot
        // start with ',' in YAML; yaml-cpp 0.7 can allocate without bound on it.
        return ParserTrap{Mark{at, static_cast<int>(k) + 1}, kComma};
      }
      after_closed = false;
      if (c == '#') break;
      if ((c == '&' || c == '*' || c == '!') && flow_depth == 0) {
        // A flow indicator ends an anchor, alias or tag name, so `&a,b` or `!t,b` puts a
        // ',' token in block context: the same unbounded allocation.
        size_t name_end = l.find_first_of(" \t", k);
        size_t comma = l.substr(0, name_end).find(',', k);
        if (comma != std::string_view::npos) {
          return ParserTrap{Mark{at, static_cast<int>(comma) + 1}, kComma};
        }
        if (name_end == std::string_view::npos) break;
        k = name_end;
        continue;
      }
      if ((c == '|' || c == '>') && flow_depth == 0) {
        // A block scalar header: `|`, `>-`, `|2+`, optionally followed by a comment.
        size_t h = k + 1;
        while (h < l.size() && (l[h] == '+' || l[h] == '-' || (l[h] >= '1' && l[h] <= '9'))) {
          ++h;
        }
        size_t rest = l.find_first_not_of(" \t", h);
        if (rest == std::string_view::npos || l[rest] == '#') {
          block_indent = static_cast<int>(first);
          break;
        }
      }
      bool first_token = doc_tokens++ == 0;
      if (c == '\'' || c == '"') {
        quote = c;
        root_open = root_open || first_token;
      } else if (c == '[' || c == '{') {
        root_open = root_open || first_token;
        ++flow_depth;
      } else if (c == ']' || c == '}') {
        if (flow_depth > 0) --flow_depth;
        after_closed = flow_depth == 0;
        if (root_open && flow_depth == 0) root_closed = true;
      } else if (c == ',' && flow_depth > 0) {
        // a flow entry separator
      } else if (c == '?' && (next == ' ' || next == '\t' || k + 1 == l.size())) {
        // An explicit mapping key. Kubernetes manifests never need one, and yaml-cpp 0.7 can
        // allocate without bound on some ("&a C\n? ").
        return ParserTrap{Mark{at, static_cast<int>(k) + 1}, kExplicitKey};
      } else if ((c == '-' || c == ':') && (next == ' ' || next == '\t' || k + 1 == l.size())) {
        // a block indicator
      } else {
        in_plain = true;
      }
    }
  }
  return ParserTrap{};
}

}  // namespace

const Node* Node::Find(std::string_view key) const {
  if (kind != Kind::kMap) return nullptr;
  for (const auto& e : entries) {
    if (e.key == key) return &e.value;
  }
  return nullptr;
}

Mark Node::KeyMark(std::string_view key) const {
  for (const auto& e : entries) {
    if (e.key == key) return e.key_mark;
  }
  return mark;
}

bool Node::IsPlainNull() const {
  if (kind == Kind::kNull) return true;
  if (kind != Kind::kScalar || quoted) return false;
  return scalar.empty() || scalar == "~" || scalar == "null" || scalar == "Null" ||
         scalar == "NULL";
}

std::string_view Node::TypeName() const {
  switch (kind) {
    case Kind::kNull:
      return "null";
    case Kind::kSequence:
      return "sequence";
    case Kind::kMap:
      return "map";
    case Kind::kScalar:
      break;
  }
  if (quoted) return "string";
  int64_t i;
  double d;
  bool b;
  if (IsPlainNull()) return "null";
  if (ParseYamlBool(scalar, &b)) return "bool";
  if (ParseYamlInt(scalar, &i)) return "int";
  if (ParseYamlFloat(scalar, &d)) return "float";
  return "string";
}

bool ParseYamlBool(std::string_view t, bool* out) {
  if (t == "true" || t == "True" || t == "TRUE") {
    *out = true;
    return true;
  }
  if (t == "false" || t == "False" || t == "FALSE") {
    *out = false;
    return true;
  }
  return false;
}

bool ParseYamlInt(std::string_view t, int64_t* out) {
  if (t.empty()) return false;
  bool neg = false;
  std::string_view s = t;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  } else if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
    base = 8;
    s.remove_prefix(2);
  }
  if (s.empty()) return false;
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || ptr != s.data() + s.size()) return false;
  if (neg) {
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) return false;
    *out = static_cast<int64_t>(0 - v);
  } else {
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = static_cast<int64_t>(v);
  }
  return true;
}

bool ParseYamlFloat(std::string_view t, double* out) {
  if (t.empty()) return false;
  if (t == ".inf" || t == ".Inf" || t == ".INF" || t == "+.inf" || t == "+.Inf" || t == "+.INF") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (t == "-.inf" || t == "-.Inf" || t == "-.INF") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (t == ".nan" || t == ".NaN" || t == ".NAN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  // YAML 1.2 core: [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
  size_t i = 0;
  if (t[i] == '+' || t[i] == '-') ++i;
  size_t digits = 0;
  while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i, ++digits;
  if (i < t.size() && t[i] == '.') {
    ++i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  if (i != t.size()) return false;
  std::string copy(t);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return false;
  *out = v;
  return true;
}

StatusOr<std::vector<Document>> ParseDocuments(std::string_view text, std::string_view file,
                                               const ParseLimits& limits) {
  std::string prefix = std::string(file);
  if (text.size() > limits.max_bytes) {
    return Fail(InvalidArgumentError(prefix + ": file is larger than " +
                                     std::to_string(limits.max_bytes) + " bytes"));
  }
  if (text.find('\0') != std::string_view::npos) {
    return Fail(InvalidArgumentError(prefix + ": file contains a NUL byte (not a text file)"));
  }
  if (ParserTrap trap = FindParserTrap(text); trap.mark.known()) {
    return Fail(InvalidArgumentError(prefix + ":" + std::to_string(trap.mark.line) + ":" +
                                     std::to_string(trap.mark.column) +
                                     ": YAML syntax error: " + trap.reason));
  }
  std::vector<YAML::Node> raw;
  try {
    raw = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    Mark m = ToMark(e.mark);
    std::string where = prefix;
    if (m.known()) where += ":" + std::to_string(m.line) + ":" + std::to_string(m.column);
    return Fail(
        InvalidArgumentError(where + ": YAML syntax error: " + CleanMessage(e.what(), e.msg)));
  } catch (const std::exception& e) {
    return Fail(InvalidArgumentError(prefix + ": YAML syntax error: " + e.what()));
  }
  std::vector<Document> docs;
  docs.reserve(raw.size());
  Converter conv(limits);
  for (size_t i = 0; i < raw.size(); ++i) {
    Document d;
    d.index = static_cast<int>(i);
    Status s;
    try {
      s = conv.Convert(raw[i], &d.root, 0);
    } catch (const std::exception& e) {
      s = InvalidArgumentError(e.what());
    }
    if (!s.ok()) {
      std::string where = prefix;
      Mark m = ToMark(raw[i].Mark());
      if (m.known()) where += ":" + std::to_string(m.line) + ":" + std::to_string(m.column);
      return Fail(InvalidArgumentError(where + ": " + s.message()));
    }
    d.start = d.root.mark;
    d.warnings = conv.TakeWarnings();
    docs.push_back(std::move(d));
  }
  return docs;
}

nlohmann::json ToJson(const Node& node) {
  switch (node.kind) {
    case Node::Kind::kNull:
      return nullptr;
    case Node::Kind::kScalar: {
      if (node.quoted) return node.scalar;
      if (node.IsPlainNull()) return nullptr;
      bool b;
      int64_t i;
      double d;
      if (ParseYamlBool(node.scalar, &b)) return b;
      if (ParseYamlInt(node.scalar, &i)) return i;
      if (ParseYamlFloat(node.scalar, &d)) {
        if (!std::isfinite(d)) return node.scalar;  // JSON has no Inf/NaN
        return d;
      }
      return node.scalar;
    }
    case Node::Kind::kSequence: {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& item : node.items) arr.push_back(ToJson(item));
      return arr;
    }
    case Node::Kind::kMap: {
      nlohmann::json obj = nlohmann::json::object();
      for (const auto& e : node.entries) obj[e.key] = ToJson(e.value);
      return obj;
    }
  }
  return nullptr;
}

}  // namespace ramp::spec
