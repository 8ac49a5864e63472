#include "tests/fakes/kube_fake_selectors.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <utility>

#include <fmt/format.h>

namespace ramp::fakes {
namespace {

using nlohmann::json;

bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// A label value, or the name part of a key: at most 63 characters of [A-Za-z0-9-_.], starting
// and ending alphanumeric; values may also be empty.
bool IsQualifiedNamePart(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// A lower-case RFC 1123 DNS subdomain (the optional prefix of a label key).
bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) dot = s.size();
    std::string_view label = s.substr(start, dot - start);
    if (label.empty() || label.size() > 63) return false;
    auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!ok(label.front()) || !ok(label.back())) return false;
    for (char c : label) {
      if (!ok(c) && c != '-') return false;
    }
    start = dot + 1;
  }
  return true;
}

Status CheckKey(std::string_view key) {
  std::string_view name = key;
  if (size_t slash = key.find('/'); slash != std::string_view::npos) {
    if (!IsDnsSubdomain(key.substr(0, slash))) {
      return InvalidArgumentError(
          fmt::format("invalid label key \"{}\": prefix part must be a DNS subdomain", key));
    }
    name = key.substr(slash + 1);
  }
  if (!IsQualifiedNamePart(name)) {
    return InvalidArgumentError(fmt::format(
        "invalid label key \"{}\": name part must consist of alphanumeric characters, '-', '_' "
        "or '.', and must start and end with an alphanumeric character (at most 63)",
        key));
  }
  return OkStatus();
}

Status CheckValue(std::string_view value) {
  if (value.empty() || IsQualifiedNamePart(value)) return OkStatus();
  return InvalidArgumentError(fmt::format(
      "invalid label value \"{}\": must be 63 characters or less and consist of alphanumeric "
      "characters, '-', '_' or '.', starting and ending with an alphanumeric character",
      value));
}

// Tokens of the label-selector language.
enum class Tok {
  kIdent,
  kEquals,
  kDoubleEquals,
  kNotEquals,
  kBang,
  kOpen,
  kClose,
  kComma,
  kIn,
  kNotIn,
  kGreater,
  kLess,
  kEnd
};

struct Token {
  Tok kind;
  std::string text;
};

bool IsSpecial(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '<' || c == '>';
}

std::vector<Token> Lex(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (c == '=' && i + 1 < s.size() && s[i + 1] == '=') {
      out.push_back({Tok::kDoubleEquals, "=="});
      i += 2;
    } else if (c == '!' && i + 1 < s.size() && s[i + 1] == '=') {
      out.push_back({Tok::kNotEquals, "!="});
      i += 2;
    } else if (IsSpecial(c)) {
      static constexpr std::pair<char, Tok> kSingle[] = {
          {'=', Tok::kEquals}, {'!', Tok::kBang},    {'(', Tok::kOpen}, {')', Tok::kClose},
          {',', Tok::kComma},  {'>', Tok::kGreater}, {'<', Tok::kLess}};
      for (const auto& [ch, tok] : kSingle) {
        if (ch == c) out.push_back({tok, std::string(1, c)});
      }
      ++i;
    } else {
      size_t j = i;
      while (j < s.size() && !IsSpecial(s[j]) && !std::isspace(static_cast<unsigned char>(s[j]))) {
        ++j;
      }
      std::string word(s.substr(i, j - i));
      Tok kind = word == "in" ? Tok::kIn : word == "notin" ? Tok::kNotIn : Tok::kIdent;
      out.push_back({kind, std::move(word)});
      i = j;
    }
  }
  out.push_back({Tok::kEnd, ""});
  return out;
}

bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto res = std::from_chars(s.data(), s.data() + s.size(), *out);
  return res.ec == std::errc() && res.ptr == s.data() + s.size();
}

std::string Describe(const Token& t) { return t.kind == Tok::kEnd ? "end of input" : t.text; }

}  // namespace

Status LabelSelector::Add(std::vector<Requirement>& out, Requirement r) {
  RETURN_IF_ERROR(CheckKey(r.key));
  for (const std::string& v : r.values) {
    if (r.op == Op::kGreater || r.op == Op::kLess) {
      int64_t ignored;
      if (!ParseInt(v, &ignored)) {
        return InvalidArgumentError(
            fmt::format("invalid value \"{}\" for key \"{}\": must be an integer", v, r.key));
      }
    } else {
      RETURN_IF_ERROR(CheckValue(v));
    }
  }
  if ((r.op == Op::kIn || r.op == Op::kNotIn) && r.values.empty()) {
    return InvalidArgumentError(
        fmt::format("for 'in', 'notin' operators, values set can't be empty (key \"{}\")", r.key));
  }
  std::sort(r.values.begin(), r.values.end());
  r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
  out.push_back(std::move(r));
  return OkStatus();
}

StatusOr<LabelSelector> LabelSelector::Parse(std::string_view text) {
  const std::vector<Token> toks = Lex(text);
  LabelSelector sel;
  size_t i = 0;
  auto fail = [&](std::string_view what) {
    return Fail(InvalidArgumentError(
        fmt::format("unable to parse requirement: found '{}', expected: {} (in \"{}\")",
                    Describe(toks[i]), what, text)));
  };
  if (toks[0].kind == Tok::kEnd) return sel;
  for (;;) {
    Requirement r;
    if (toks[i].kind == Tok::kBang) {
      ++i;
      if (toks[i].kind != Tok::kIdent) return fail("identifier after '!'");
      r = {toks[i].text, Op::kDoesNotExist, {}};
      ++i;
    } else {
      if (toks[i].kind != Tok::kIdent) return fail("identifier");
      r.key = toks[i].text;
      ++i;
      switch (toks[i].kind) {
        case Tok::kComma:
        case Tok::kEnd:
          r.op = Op::kExists;
          break;
        case Tok::kEquals:
        case Tok::kDoubleEquals:
        case Tok::kNotEquals:
        case Tok::kGreater:
        case Tok::kLess: {
          const Tok op = toks[i].kind;
          r.op = op == Tok::kNotEquals ? Op::kNotEquals
                 : op == Tok::kGreater ? Op::kGreater
                 : op == Tok::kLess    ? Op::kLess
                                       : Op::kEquals;
          ++i;
          // `key=` selects the empty value; the next token then is ',' or the end.
          if (toks[i].kind == Tok::kIdent) {
            r.values.push_back(toks[i].text);
            ++i;
          } else if (toks[i].kind == Tok::kComma || toks[i].kind == Tok::kEnd) {
            if (r.op == Op::kGreater || r.op == Op::kLess) return fail("integer value");
            r.values.push_back("");
          } else {
            return fail("value");
          }
          break;
        }
        case Tok::kIn:
        case Tok::kNotIn: {
          r.op = toks[i].kind == Tok::kIn ? Op::kIn : Op::kNotIn;
          ++i;
          if (toks[i].kind != Tok::kOpen) return fail("'('");
          ++i;
          for (;;) {
            if (toks[i].kind == Tok::kIdent) {
              r.values.push_back(toks[i].text);
              ++i;
            } else {
              r.values.push_back("");  // an empty member, as in `in (a,)` or `in ()`
            }
            if (toks[i].kind == Tok::kComma) {
              ++i;
              continue;
            }
            if (toks[i].kind == Tok::kClose) {
              ++i;
              break;
            }
            return fail("',' or ')'");
          }
          break;
        }
        default:
          return fail("'=', '==', '!=', 'in', 'notin', '>', '<', ',' or end");
      }
    }
    if (Status s = Add(sel.requirements_, std::move(r)); !s.ok()) {
      return Fail(InvalidArgumentError("unable to parse requirement: " + s.message()));
    }
    if (toks[i].kind == Tok::kEnd) break;
    if (toks[i].kind != Tok::kComma) return fail("','");
    ++i;
  }
  return sel;
}

StatusOr<LabelSelector> LabelSelector::FromJson(const json& selector) {
  LabelSelector sel;
  if (selector.is_null()) return sel;
  if (!selector.is_object())
    return Fail(InvalidArgumentError("a label selector must be an object"));
  if (auto it = selector.find("matchLabels"); it != selector.end() && !it->is_null()) {
    if (!it->is_object()) return Fail(InvalidArgumentError("matchLabels must be an object"));
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) return Fail(InvalidArgumentError("matchLabels values must be strings"));
      RETURN_IF_ERROR(Add(sel.requirements_, {k, Op::kEquals, {v.get<std::string>()}}));
    }
  }
  if (auto it = selector.find("matchExpressions"); it != selector.end() && !it->is_null()) {
    if (!it->is_array()) return Fail(InvalidArgumentError("matchExpressions must be a list"));
    for (const json& e : *it) {
      if (!e.is_object() || !e.value("key", json()).is_string() ||
          !e.value("operator", json()).is_string()) {
        return Fail(InvalidArgumentError("a matchExpression needs a key and an operator"));
      }
      Requirement r;
      r.key = e["key"].get<std::string>();
      const std::string op = e["operator"].get<std::string>();
      if (op == "In") {
        r.op = Op::kIn;
      } else if (op == "NotIn") {
        r.op = Op::kNotIn;
      } else if (op == "Exists") {
        r.op = Op::kExists;
      } else if (op == "DoesNotExist") {
        r.op = Op::kDoesNotExist;
      } else {
        return Fail(
            InvalidArgumentError(fmt::format("\"{}\" is not a valid selector operator", op)));
      }
      for (const json& v : e.value("values", json::array())) {
        if (!v.is_string()) return Fail(InvalidArgumentError("matchExpression values: strings"));
        r.values.push_back(v.get<std::string>());
      }
      RETURN_IF_ERROR(Add(sel.requirements_, std::move(r)));
    }
  }
  return sel;
}

bool LabelSelector::Matches(const json& labels) const {
  for (const Requirement& r : requirements_) {
    const std::string* value = nullptr;
    if (labels.is_object()) {
      if (auto it = labels.find(r.key); it != labels.end() && it->is_string()) {
        value = it->get_ptr<const std::string*>();
      }
    }
    auto in_values = [&] {
      return value != nullptr && std::binary_search(r.values.begin(), r.values.end(), *value);
    };
    bool ok = false;
    switch (r.op) {
      case Op::kEquals:
      case Op::kIn:
        ok = in_values();
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        ok = !in_values();
        break;
      case Op::kExists:
        ok = value != nullptr;
        break;
      case Op::kDoesNotExist:
        ok = value == nullptr;
        break;
      case Op::kGreater:
      case Op::kLess: {
        int64_t have = 0;
        int64_t want = 0;
        ok = value != nullptr && ParseInt(*value, &have) && ParseInt(r.values[0], &want) &&
             (r.op == Op::kGreater ? have > want : have < want);
        break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

std::string LabelSelector::ToString() const {
  std::vector<const Requirement*> sorted;
  for (const Requirement& r : requirements_) sorted.push_back(&r);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Requirement* a, const Requirement* b) { return a->key < b->key; });
  std::string out;
  for (const Requirement* r : sorted) {
    if (!out.empty()) out += ',';
    switch (r->op) {
      case Op::kEquals:
        out += r->key + "=" + r->values[0];
        break;
      case Op::kNotEquals:
        out += r->key + "!=" + r->values[0];
        break;
      case Op::kIn:
      case Op::kNotIn:
        out += fmt::format("{} {} ({})", r->key, r->op == Op::kIn ? "in" : "notin",
                           fmt::join(r->values, ","));
        break;
      case Op::kExists:
        out += r->key;
        break;
      case Op::kDoesNotExist:
        out += "!" + r->key;
        break;
      case Op::kGreater:
        out += r->key + ">" + r->values[0];
        break;
      case Op::kLess:
        out += r->key + "<" + r->values[0];
        break;
    }
  }
  return out;
}

StatusOr<FieldSelector> FieldSelector::Parse(std::string_view text,
                                             const std::vector<std::string>& supported) {
  FieldSelector sel;
  // Split on commas that are not escaped; keep escapes for the term parser.
  std::vector<std::string> terms(1);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      terms.back() += text.substr(i, 2);
      ++i;
    } else if (text[i] == ',') {
      terms.emplace_back();
    } else {
      terms.back() += text[i];
    }
  }
  for (const std::string& term : terms) {
    if (term.empty()) continue;
    // The operator is the first unescaped "!=", "==" or "=".
    size_t op_at = std::string::npos;
    size_t op_len = 0;
    bool equals = true;
    for (size_t i = 0; i < term.size(); ++i) {
      if (term[i] == '\\') {
        ++i;
        continue;
      }
      if (term.compare(i, 2, "!=") == 0) {
        op_at = i, op_len = 2, equals = false;
      } else if (term.compare(i, 2, "==") == 0) {
        op_at = i, op_len = 2;
      } else if (term[i] == '=') {
        op_at = i, op_len = 1;
      }
      if (op_at != std::string::npos) break;
    }
    if (op_at == std::string::npos) {
      return Fail(InvalidArgumentError(
          fmt::format("invalid selector: '{}'; can't understand '{}'", text, term)));
    }
    Term t{term.substr(0, op_at), equals, ""};
    const std::string raw = term.substr(op_at + op_len);
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '\\') {
        t.value += raw[i];
        continue;
      }
      if (i + 1 >= raw.size() || (raw[i + 1] != '\\' && raw[i + 1] != ',' && raw[i + 1] != '=')) {
        return Fail(InvalidArgumentError(fmt::format(
            "invalid field selector: '{}': invalid escape sequence in '{}'", text, raw)));
      }
      t.value += raw[++i];
    }
    if (t.path != "metadata.name" && t.path != "metadata.namespace" &&
        std::find(supported.begin(), supported.end(), t.path) == supported.end()) {
      return Fail(InvalidArgumentError(fmt::format("field label not supported: {}", t.path)));
    }
    sel.terms_.push_back(std::move(t));
  }
  return sel;
}

std::string FieldSelector::FieldValue(const json& object, std::string_view path) {
  const json* at = &object;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    if (dot == std::string_view::npos) dot = path.size();
    const std::string key(path.substr(start, dot - start));
    if (!at->is_object()) return "";
    auto it = at->find(key);
    if (it == at->end()) return "";
    at = &*it;
    start = dot + 1;
  }
  if (at->is_string()) return at->get<std::string>();
  if (at->is_number() || at->is_boolean()) return at->dump();
  return "";
}

bool FieldSelector::Matches(const json& object) const {
  for (const Term& t : terms_) {
    if ((FieldValue(object, t.path) == t.value) != t.equals) return false;
  }
  return true;
}

}  // namespace ramp::fakes
