#include "slo/promql_matcher.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace ramp::slo {
namespace {

enum class Tok {
  kIdent,     // metric names, function names, keywords, label names in label lists
  kNumber,    // numbers and durations: 0.99, 0x1f, 1e-3, 5m, 1h30m, Inf is an identifier
  kString,    // "…", '…' (with escapes) and `…` (raw)
  kTemplate,  // {{ … }}: a Go template placeholder such as Sloth's {{.window}}
  kBraces,    // a whole label-matcher block {…}
  kBrackets,  // a whole range or subquery block […]
  kLParen,
  kRParen,
  kOther,  // operators, commas, @
};

struct Token {
  Tok kind;
  size_t begin;  // [begin, end) in the input
  size_t end;
};

bool IsIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_' || c == ':';
}
bool IsIdentChar(char c) { return IsIdentStart(c) || std::isdigit(static_cast<unsigned char>(c)); }
bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

Status LexError(std::string what) { return InvalidArgumentError("PromQL: " + std::move(what)); }

// The end of the string literal opening at `pos`, or an error.
StatusOr<size_t> SkipString(std::string_view text, size_t pos) {
  const char quote = text[pos];
  for (size_t i = pos + 1; i < text.size(); ++i) {
    if (quote != '`' && text[i] == '\\') {
      ++i;  // the escaped character, whatever it is
      continue;
    }
    if (text[i] == quote) return i + 1;
  }
  return Fail(
      LexError(fmt::format("unterminated string {}…{} starting at byte {}", quote, quote, pos)));
}

// The end of the `{{ … }}` placeholder opening at `pos`, or an error.
StatusOr<size_t> SkipTemplate(std::string_view text, size_t pos) {
  size_t close = text.find("}}", pos + 2);
  if (close == std::string_view::npos) {
    return Fail(LexError(fmt::format("unterminated template placeholder '{{{{' at byte {}", pos)));
  }
  return close + 2;
}

// The end of the `{…}` or `[…]` block opening at `pos` (strings and placeholders inside are
// skipped), or an error.
StatusOr<size_t> SkipBlock(std::string_view text, size_t pos) {
  const char open = text[pos];
  const char close = open == '{' ? '}' : ']';
  for (size_t i = pos + 1; i < text.size();) {
    const char c = text[i];
    if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      ASSIGN_OR_RETURN(i, SkipTemplate(text, i));
      continue;
    }
    if (open == '{' && (c == '"' || c == '\'' || c == '`')) {
      ASSIGN_OR_RETURN(i, SkipString(text, i));
      continue;
    }
    if (c == close) return i + 1;
    if (c == '{' || c == '[' || c == '(' || c == ')' || (open == '{' && c == ']') ||
        (open == '[' && c == '}')) {
      return Fail(LexError(fmt::format(
          "unexpected '{}' at byte {} inside the '{}' opened at byte {}", c, i, open, pos)));
    }
    ++i;
  }
  return Fail(LexError(fmt::format("unclosed '{}' opened at byte {}", open, pos)));
}

// The end of the number or duration starting at `pos`: digits, letters (hex, units), dots,
// underscores, and a sign right after a decimal exponent.
size_t SkipNumber(std::string_view text, size_t pos) {
  const bool hex = text.substr(pos, 2) == "0x" || text.substr(pos, 2) == "0X";
  size_t i = pos;
  while (i < text.size()) {
    const char c = text[i];
    if (IsIdentChar(c) && c != ':') {
      ++i;
    } else if (c == '.') {
      ++i;
    } else if ((c == '+' || c == '-') && !hex && i > pos &&
               (text[i - 1] == 'e' || text[i - 1] == 'E') && i + 1 < text.size() &&
               IsDigit(text[i + 1])) {
      ++i;
    } else {
      break;
    }
  }
  return i;
}

StatusOr<std::vector<Token>> Lex(std::string_view text) {
  std::vector<Token> tokens;
  std::vector<size_t> open_parens;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const size_t start = i;
    if (IsSpace(c)) {
      ++i;
      continue;
    }
    if (c == '#') {  // a comment runs to the end of the line
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    Tok kind = Tok::kOther;
    if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      kind = Tok::kTemplate;
      ASSIGN_OR_RETURN(i, SkipTemplate(text, i));
    } else if (c == '{' || c == '[') {
      kind = c == '{' ? Tok::kBraces : Tok::kBrackets;
      ASSIGN_OR_RETURN(i, SkipBlock(text, i));
    } else if (c == '}' || c == ']') {
      return Fail(LexError(fmt::format("unbalanced '{}' at byte {}", c, i)));
    } else if (c == '(') {
      kind = Tok::kLParen;
      open_parens.push_back(i++);
    } else if (c == ')') {
      if (open_parens.empty()) return Fail(LexError(fmt::format("unbalanced ')' at byte {}", i)));
      open_parens.pop_back();
      kind = Tok::kRParen;
      ++i;
    } else if (c == '"' || c == '\'' || c == '`') {
      kind = Tok::kString;
      ASSIGN_OR_RETURN(i, SkipString(text, i));
    } else if (IsDigit(c) || (c == '.' && i + 1 < text.size() && IsDigit(text[i + 1]))) {
      kind = Tok::kNumber;
      i = SkipNumber(text, i);
    } else if (IsIdentStart(c)) {
      kind = Tok::kIdent;
      while (i < text.size() && IsIdentChar(text[i])) ++i;
    } else {
      ++i;
    }
    tokens.push_back(Token{kind, start, i});
  }
  if (!open_parens.empty()) {
    return Fail(LexError(fmt::format("unclosed '(' opened at byte {}", open_parens.back())));
  }
  return tokens;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Keywords PromQL's lexer recognizes (case-insensitively): binary set operators, modifiers and
// the aggregation operators, plus the number literals Inf and NaN.
bool IsKeyword(std::string_view lower) {
  static constexpr std::string_view kKeywords[] = {
      "and",      "or",           "unless",      "atan2",  "by",          "without", "on",
      "ignoring", "group_left",   "group_right", "bool",   "offset",      "sum",     "avg",
      "count",    "min",          "max",         "group",  "stddev",      "stdvar",  "topk",
      "bottomk",  "count_values", "quantile",    "limitk", "limit_ratio", "inf",     "nan"};
  return std::find(std::begin(kKeywords), std::end(kKeywords), lower) != std::end(kKeywords);
}

// Keywords whose parenthesized list that follows holds label names, not expressions.
bool TakesLabelList(std::string_view lower) {
  return lower == "by" || lower == "without" || lower == "on" || lower == "ignoring" ||
         lower == "group_left" || lower == "group_right";
}

}  // namespace

StatusOr<std::string> NormalizeLabelMatcher(std::string_view matcher) {
  auto bad = [&](std::string_view why) {
    return Fail(InvalidArgumentError(fmt::format(
        "label matcher '{}': {}; expected label(=|!=|=~|!~)\"value\", e.g. version=\"v2\"", matcher,
        why)));
  };
  std::string_view m = matcher;
  while (!m.empty() && IsSpace(m.front())) m.remove_prefix(1);
  while (!m.empty() && IsSpace(m.back())) m.remove_suffix(1);
  if (m.empty()) return bad("empty");
  size_t i = 0;
  if (!(std::isalpha(static_cast<unsigned char>(m[0])) != 0 || m[0] == '_')) {
    return bad("a label name starts with a letter or '_'");
  }
  while (i < m.size() && (std::isalnum(static_cast<unsigned char>(m[i])) != 0 || m[i] == '_')) {
    ++i;
  }
  const std::string_view label = m.substr(0, i);
  while (i < m.size() && IsSpace(m[i])) ++i;
  std::string_view op;
  for (std::string_view candidate : {"=~", "!~", "!=", "="}) {
    if (m.substr(i).starts_with(candidate)) {
      op = candidate;
      break;
    }
  }
  if (op.empty()) return bad(fmt::format("no operator after the label name '{}'", label));
  i += op.size();
  while (i < m.size() && IsSpace(m[i])) ++i;
  if (i >= m.size() || m[i] != '"') return bad("the value must be a double-quoted string");
  const size_t value_start = i;
  ++i;
  bool closed = false;
  for (; i < m.size(); ++i) {
    if (m[i] == '\\') {
      ++i;
      continue;
    }
    if (m[i] == '"') {
      closed = true;
      ++i;
      break;
    }
  }
  if (!closed) return bad("the value's closing quote is missing");
  if (i != m.size()) return bad(fmt::format("unexpected text after the value: '{}'", m.substr(i)));
  return fmt::format("{}{}{}", label, op, m.substr(value_start));
}

Status CheckPromQlLexically(std::string_view promql) {
  auto tokens = Lex(promql);
  if (!tokens.has_value()) return tokens.error();
  return OkStatus();
}

StatusOr<std::string> InjectLabelMatcher(std::string_view promql, std::string_view matcher) {
  ASSIGN_OR_RETURN(const std::string m, NormalizeLabelMatcher(matcher));
  ASSIGN_OR_RETURN(const std::vector<Token> tokens, Lex(promql));

  std::vector<std::pair<size_t, std::string>> inserts;  // position in promql → text
  for (size_t t = 0; t < tokens.size(); ++t) {
    const Token& tok = tokens[t];
    const Token* next = t + 1 < tokens.size() ? &tokens[t + 1] : nullptr;
    if (tok.kind == Tok::kBraces) {
      // Insert after the last non-blank character of the body: `{a="b"}` → `{a="b",m}`,
      // `{}` → `{m}`, a trailing comma is reused.
      size_t last = tok.end - 1;  // the closing brace
      while (last > tok.begin + 1 && IsSpace(promql[last - 1])) --last;
      if (last == tok.begin + 1) {
        inserts.emplace_back(tok.begin + 1, m);
      } else if (promql[last - 1] == ',') {
        inserts.emplace_back(last, m);
      } else {
        inserts.emplace_back(last, "," + m);
      }
      continue;
    }
    if (tok.kind != Tok::kIdent) continue;
    const std::string word = Lower(promql.substr(tok.begin, tok.end - tok.begin));
    if (IsKeyword(word)) {
      if (TakesLabelList(word) && next != nullptr && next->kind == Tok::kLParen) {
        // Skip the label list: names, commas and (PromQL 3) quoted names up to the ')'.
        ++t;
        while (t + 1 < tokens.size() && tokens[t + 1].kind != Tok::kRParen) ++t;
      }
      continue;
    }
    if (next != nullptr && next->kind == Tok::kLParen) continue;  // a function call
    if (next != nullptr && next->kind == Tok::kBraces) continue;  // the braces get the matcher
    inserts.emplace_back(tok.end, "{" + m + "}");
  }

  std::string out;
  out.reserve(promql.size() + inserts.size() * (m.size() + 3));
  size_t copied = 0;
  for (const auto& [pos, text] : inserts) {
    out.append(promql.substr(copied, pos - copied));
    out.append(text);
    copied = pos;
  }
  out.append(promql.substr(copied));
  return out;
}

}  // namespace ramp::slo
