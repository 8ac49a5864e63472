// Lexer, parser and compile-time checks of the condition language. The grammar, the operator
// precedences and the token rules follow expr-lang v1.17: `|` 0, `or ||` 10, `and &&` 15,
// comparisons/in/matches/contains/startsWith/endsWith 20 (`<`-family comparisons chain: a < b < c
// is a < b && b < c), `..` 25, `+ -` 30, `* / %` 60, unary `not !` 50, unary `- +` 90, `** ^` 100
// (right-associative), `??` 500 (not mixable with other operators without parentheses), `?:`
// at the top of an expression.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <re2/re2.h>

#include "expr/expr.h"
#include "expr/internal.h"

namespace ramp::expr {
namespace internal {
namespace {

// ---- Positions ----------------------------------------------------------------------------------

// "col 12" or "line 2, col 5" for a byte offset; columns count code points from 1.
std::string Position(std::string_view src, size_t offset) {
  offset = std::min(offset, src.size());
  size_t line = 1;
  size_t line_start = 0;
  bool multiline = src.find('\n') != std::string_view::npos;
  for (size_t i = 0; i < offset; ++i) {
    if (src[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  size_t col = 1;
  for (size_t i = line_start; i < offset; ++i) {
    if ((static_cast<unsigned char>(src[i]) & 0xC0) != 0x80) ++col;
  }
  std::string out = multiline ? "line " + std::to_string(line) + ", col " : "col ";
  return out + std::to_string(col);
}

// ---- Lexer --------------------------------------------------------------------------------------

enum class Tok : uint8_t { kIdent, kNumber, kString, kOperator, kBracket, kEof };

struct Token {
  Tok kind = Tok::kEof;
  std::string value;  // strings unescaped
  uint32_t begin = 0;
  uint32_t end = 0;
};

bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }
// Letters, `_` and `$`; every non-ASCII byte counts as a letter.
bool IsAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' ||
         (static_cast<unsigned char>(c) & 0x80) != 0;
}
bool IsAlnum(char c) { return IsAlpha(c) || IsAsciiDigit(c); }

bool IsValidIdentifier(std::string_view s) {
  if (s.empty() || !IsAlpha(s[0])) return false;
  for (char c : s) {
    if (!IsAlnum(c)) return false;
  }
  return true;
}

bool IsWordOperator(std::string_view w) {
  return w == "not" || w == "in" || w == "or" || w == "and" || w == "matches" || w == "contains" ||
         w == "startsWith" || w == "endsWith" || w == "let" || w == "if" || w == "else";
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  // Tokenizes everything; on error returns false with error() set.
  bool Run(std::vector<Token>* out) {
    while (true) {
      SkipSpaceAndComments();
      if (!error_.ok()) return false;
      if (i_ >= src_.size()) {
        out->push_back(Token{Tok::kEof, "", static_cast<uint32_t>(src_.size()),
                             static_cast<uint32_t>(src_.size())});
        return true;
      }
      Token t;
      if (!Next(&t)) return false;
      out->push_back(std::move(t));
    }
  }

  const Status& error() const { return error_; }

 private:
  bool Error(size_t at, const std::string& message) {
    if (error_.ok()) error_ = InvalidArgumentError(Position(src_, at) + ": " + message);
    return false;
  }

  char Peek(size_t k = 0) const { return i_ + k < src_.size() ? src_[i_ + k] : '\0'; }

  void SkipSpaceAndComments() {
    while (i_ < src_.size()) {
      char c = src_[i_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
        ++i_;
      } else if (c == '\xC2' && (Peek(1) == '\xA0' || Peek(1) == '\x85')) {
        i_ += 2;  // NBSP, NEL
      } else if (c == '/' && Peek(1) == '/') {
        while (i_ < src_.size() && src_[i_] != '\n') ++i_;
      } else if (c == '/' && Peek(1) == '*') {
        size_t start = i_;
        size_t close = src_.find("*/", i_ + 2);
        if (close == std::string_view::npos) {
          Error(start, "unclosed comment");
          i_ = src_.size();
          return;
        }
        i_ = close + 2;
      } else {
        return;
      }
    }
  }

  Token Make(Tok kind, size_t begin, std::string value) {
    return Token{kind, std::move(value), static_cast<uint32_t>(begin), static_cast<uint32_t>(i_)};
  }

  bool Next(Token* t) {
    const size_t start = i_;
    const char c = src_[i_];
    if (c == '\'' || c == '"') return ScanString(c, t);
    if (c == '`') return ScanRawString(t);
    if ((c == 'b' || c == 'B') && (Peek(1) == '\'' || Peek(1) == '"')) {
      return Error(start, "bytes literals (b\"…\") are not supported");
    }
    if (IsAsciiDigit(c) || (c == '.' && IsAsciiDigit(Peek(1)))) return ScanNumber(t);
    if (IsAlpha(c)) {
      while (i_ < src_.size() && IsAlnum(src_[i_])) ++i_;
      std::string word(src_.substr(start, i_ - start));
      const Tok kind = IsWordOperator(word) ? Tok::kOperator : Tok::kIdent;
      *t = Make(kind, start, std::move(word));
      return true;
    }
    ++i_;
    auto op = [&](Tok kind) {
      *t = Make(kind, start, std::string(src_.substr(start, i_ - start)));
      return true;
    };
    switch (c) {
      case '?':
        if (Peek() == '.' || Peek() == '?') ++i_;
        return op(Tok::kOperator);
      case '#':
        return op(Tok::kOperator);  // the name that may follow lexes as an identifier
      case '|':
        if (Peek() == '|') ++i_;
        return op(Tok::kOperator);
      case ':':
        if (Peek() == ':') ++i_;
        return op(Tok::kOperator);
      case '(':
      case '[':
      case '{':
      case ')':
      case ']':
      case '}':
        return op(Tok::kBracket);
      case ',':
      case ';':
      case '%':
      case '+':
      case '-':
      case '^':
      case '/':
        return op(Tok::kOperator);
      case '&':
      case '!':
      case '=':
      case '*':
      case '<':
      case '>':
        if (Peek() == '&' || Peek() == '=' || Peek() == '*') ++i_;
        return op(Tok::kOperator);
      case '.':
        if (Peek() == '.') ++i_;
        return op(Tok::kOperator);
      default: {
        static constexpr char kHex[] = "0123456789ABCDEF";
        unsigned char u = static_cast<unsigned char>(c);
        std::string code = "U+00";
        code += kHex[u >> 4];
        code += kHex[u & 0xF];
        std::string shown = u >= 0x20 && u < 0x7F ? std::string(" '") + c + "'" : "";
        return Error(start, "unrecognized character: " + code + shown);
      }
    }
  }

  bool ScanNumber(Token* t) {
    const size_t start = i_;
    std::string_view digits = "0123456789_";
    if (Peek() == '0') {
      ++i_;
      char p = Peek();
      if (p == 'x' || p == 'X') {
        ++i_;
        digits = "0123456789abcdefABCDEF_";
      } else if (p == 'o' || p == 'O') {
        ++i_;
        digits = "01234567_";
      } else if (p == 'b' || p == 'B') {
        ++i_;
        digits = "01_";
      }
    }
    auto run = [&] {
      while (i_ < src_.size() && digits.find(src_[i_]) != std::string_view::npos) ++i_;
    };
    run();
    if (Peek() == '.') {
      if (Peek(1) == '.') {
        // `1..3`: the dots are the range operator.
        *t = Make(Tok::kNumber, start, std::string(src_.substr(start, i_ - start)));
        return true;
      }
      ++i_;
      run();
    }
    if (Peek() == 'e' || Peek() == 'E') {
      ++i_;
      if (Peek() == '+' || Peek() == '-') ++i_;
      run();
    }
    if (IsAlnum(Peek())) {
      ++i_;
      return Error(start, "bad number syntax: " + Quote(src_.substr(start, i_ - start)));
    }
    *t = Make(Tok::kNumber, start, std::string(src_.substr(start, i_ - start)));
    return true;
  }

  bool ScanString(char quote, Token* t) {
    const size_t start = i_;
    ++i_;
    std::string value;
    while (true) {
      if (i_ >= src_.size() || src_[i_] == '\n') return Error(start, "literal not terminated");
      char c = src_[i_];
      if (c == quote) {
        ++i_;
        break;
      }
      if (c == '\r') {
        // Newlines are normalized to \n (a bare CR ends nothing: it stays a CR → LF).
        value += '\n';
        i_ += Peek(1) == '\n' ? 2 : 1;
        continue;
      }
      if (c != '\\') {
        value += c;
        ++i_;
        continue;
      }
      const size_t esc = i_;
      ++i_;
      if (i_ >= src_.size()) return Error(esc, "literal not terminated");
      char e = src_[i_++];
      switch (e) {
        case 'a':
          value += '\a';
          break;
        case 'b':
          value += '\b';
          break;
        case 'f':
          value += '\f';
          break;
        case 'n':
          value += '\n';
          break;
        case 'r':
          value += '\r';
          break;
        case 't':
          value += '\t';
          break;
        case 'v':
          value += '\v';
          break;
        case '\\':
        case '\'':
        case '"':
        case '`':
        case '?':
          if ((e == '\'' || e == '"') && e != quote) return Error(esc, "invalid char escape");
          if (e == '`' || e == '?') return Error(esc, "invalid char escape");
          value += e;
          break;
        case 'x':
        case 'u':
        case 'U': {
          uint32_t cp = 0;
          if (e == 'u' && Peek() == '{') {
            ++i_;
            int n = 0;
            while (Peek() != '}') {
              int h = HexVal(Peek());
              if (h < 0 || n >= 6) return Error(esc, "invalid char escape");
              cp = cp << 4 | static_cast<uint32_t>(h);
              ++i_;
              ++n;
            }
            if (n == 0) return Error(esc, "invalid char escape");
            ++i_;
          } else {
            int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            for (int k = 0; k < n; ++k) {
              int h = HexVal(Peek());
              if (h < 0) return Error(esc, "invalid char escape");
              cp = cp << 4 | static_cast<uint32_t>(h);
              ++i_;
            }
          }
          if (cp > 0x10FFFF) return Error(esc, "invalid char escape");
          AppendUtf8(value, cp);
          break;
        }
        case '0':
        case '1':
        case '2':
        case '3': {
          uint32_t cp = static_cast<uint32_t>(e - '0');
          for (int k = 0; k < 2; ++k) {
            char d = Peek();
            if (d < '0' || d > '7') return Error(esc, "invalid char escape");
            cp = cp * 8 + static_cast<uint32_t>(d - '0');
            ++i_;
          }
          AppendUtf8(value, cp);
          break;
        }
        default:
          return Error(esc, "invalid char escape");
      }
    }
    *t = Make(Tok::kString, start, std::move(value));
    return true;
  }

  bool ScanRawString(Token* t) {
    const size_t start = i_;
    ++i_;
    std::string value;
    while (true) {
      if (i_ >= src_.size()) return Error(start, "literal not terminated");
      char c = src_[i_++];
      if (c == '`') {
        if (Peek() == '`') {  // `` inside a raw string is one backtick
          value += '`';
          ++i_;
          continue;
        }
        break;
      }
      value += c;
    }
    *t = Make(Tok::kString, start, std::move(value));
    return true;
  }

  std::string_view src_;
  size_t i_ = 0;
  Status error_;
};

// ---- Parser -------------------------------------------------------------------------------------

struct BinaryOp {
  int precedence;
  bool right_assoc;
};

const BinaryOp* FindBinary(std::string_view op) {
  static constexpr std::pair<std::string_view, BinaryOp> kOps[] = {
      {"|", {0, false}},         {"or", {10, false}},       {"||", {10, false}},
      {"and", {15, false}},      {"&&", {15, false}},       {"==", {20, false}},
      {"!=", {20, false}},       {"<", {20, false}},        {">", {20, false}},
      {">=", {20, false}},       {"<=", {20, false}},       {"in", {20, false}},
      {"matches", {20, false}},  {"contains", {20, false}}, {"startsWith", {20, false}},
      {"endsWith", {20, false}}, {"..", {25, false}},       {"+", {30, false}},
      {"-", {30, false}},        {"*", {60, false}},        {"/", {60, false}},
      {"%", {60, false}},        {"**", {100, true}},       {"^", {100, true}},
      {"??", {500, false}},
  };
  for (const auto& [name, info] : kOps) {
    if (name == op) return &info;
  }
  return nullptr;
}

bool IsComparison(std::string_view op) {
  return op == "<" || op == ">" || op == "<=" || op == ">=";
}

bool IsNegatable(std::string_view op) {
  return op == "in" || op == "matches" || op == "contains" || op == "startsWith" ||
         op == "endsWith";
}

Op BinaryOpOf(std::string_view op) {
  static constexpr std::pair<std::string_view, Op> kOps[] = {
      {"+", Op::kAdd},
      {"-", Op::kSub},
      {"*", Op::kMul},
      {"/", Op::kDiv},
      {"%", Op::kMod},
      {"**", Op::kPow},
      {"^", Op::kPow},
      {"==", Op::kEq},
      {"!=", Op::kNe},
      {"<", Op::kLt},
      {">", Op::kGt},
      {"<=", Op::kLe},
      {">=", Op::kGe},
      {"in", Op::kIn},
      {"matches", Op::kMatches},
      {"contains", Op::kContains},
      {"startsWith", Op::kStartsWith},
      {"endsWith", Op::kEndsWith},
      {"..", Op::kRange},
  };
  for (const auto& [name, o] : kOps) {
    if (name == op) return o;
  }
  return Op::kNone;
}

// The argument shape of the predicate builtins: expr, closure, optional trailing argument.
struct PredicateShape {
  bool closure_optional;  // count(xs) and sum(xs) may omit the closure
  bool has_third;         // sortBy/reduce take an optional third argument
};

PredicateShape ShapeOf(Builtin b) {
  switch (b) {
    case Builtin::kCount:
    case Builtin::kSum:
      return {true, false};
    case Builtin::kSortBy:
    case Builtin::kReduce:
      return {false, true};
    default:
      return {false, false};
  }
}

using NodePtr = std::unique_ptr<Node>;

class Parser {
 public:
  Parser(std::string_view src, std::vector<Token> tokens) : src_(src), toks_(std::move(tokens)) {}

  NodePtr Parse() {
    NodePtr node = ParseSequence();
    if (ok() && Cur().kind != Tok::kEof) Unexpected();
    return ok() ? std::move(node) : nullptr;
  }

  const Status& error() const { return error_; }
  int slots() const { return slots_; }

 private:
  // RAII recursion guard.
  struct Depth {
    explicit Depth(Parser* p) : parser(p) { ++parser->depth_; }
    ~Depth() { --parser->depth_; }
    Depth(const Depth&) = delete;
    Depth& operator=(const Depth&) = delete;
    Parser* parser;
  };

  bool ok() const { return error_.ok(); }
  const Token& Cur() const { return toks_[pos_]; }
  void Advance() {
    last_end_ = Cur().end;
    if (pos_ + 1 < toks_.size()) ++pos_;
  }
  bool Is(Tok kind, std::string_view value) const {
    return Cur().kind == kind && Cur().value == value;
  }
  bool IsOp(std::string_view value) const { return Is(Tok::kOperator, value); }
  bool IsBracket(std::string_view value) const { return Is(Tok::kBracket, value); }

  bool ErrorAt(size_t at, const std::string& message) {
    if (error_.ok()) error_ = InvalidArgumentError(Position(src_, at) + ": " + message);
    return false;
  }

  std::string Describe(const Token& t) const {
    if (t.kind == Tok::kEof) return "end of expression";
    if (t.kind == Tok::kString)
      return "token " + std::string(src_.substr(t.begin, t.end - t.begin));
    return "token " + Quote(t.value);
  }

  bool Unexpected() {
    const Token& t = Cur();
    if (t.kind == Tok::kEof) return ErrorAt(t.begin, "unexpected end of expression");
    return ErrorAt(t.begin, "unexpected " + Describe(t));
  }

  bool Expect(Tok kind, std::string_view value) {
    if (Cur().kind == kind && (value.empty() || Cur().value == value)) {
      Advance();
      return true;
    }
    return Unexpected();
  }

  NodePtr New(NodeKind kind, uint32_t begin, uint32_t end, std::vector<NodePtr> kids = {}) {
    if (!ok()) return nullptr;
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->begin = begin;
    n->end = std::max(begin, end);
    int depth = 0;
    for (const auto& k : kids) {
      if (k != nullptr) depth = std::max<int>(depth, k->depth);
    }
    n->depth = static_cast<uint16_t>(std::min(depth + 1, 60000));
    n->kids = std::move(kids);
    if (n->depth > kMaxNesting) {
      ErrorAt(begin, "expression is nested too deeply (more than " + std::to_string(kMaxNesting) +
                         " levels)");
      return nullptr;
    }
    if (++nodes_ > kMaxNodes) {
      ErrorAt(begin, "expression is too large (more than " + std::to_string(kMaxNodes) + " nodes)");
      return nullptr;
    }
    return n;
  }

  NodePtr Const(Value v, uint32_t begin, uint32_t end) {
    NodePtr n = New(NodeKind::kConst, begin, end);
    if (n != nullptr) n->constant = std::move(v);
    return n;
  }

  NodePtr Clone(const Node& n) {
    std::vector<NodePtr> kids;
    for (const auto& k : n.kids) {
      kids.push_back(k == nullptr ? nullptr : Clone(*k));
      if (!ok()) return nullptr;
    }
    NodePtr c = New(n.kind, n.begin, n.end, std::move(kids));
    if (c == nullptr) return nullptr;
    c->op = n.op;
    c->builtin = n.builtin;
    c->optional = n.optional;
    c->slot = n.slot;
    c->name = n.name;
    c->constant = n.constant;
    return c;
  }

  NodePtr ParseSequence() {
    std::vector<NodePtr> nodes;
    nodes.push_back(ParseExpression(0));
    while (ok() && IsOp(";")) {
      Advance();
      if (Cur().kind == Tok::kEof) break;
      nodes.push_back(ParseExpression(0));
    }
    if (!ok()) return nullptr;
    if (nodes.size() == 1) return std::move(nodes[0]);
    uint32_t b = nodes.front()->begin;
    uint32_t e = nodes.back()->end;
    return New(NodeKind::kSeq, b, e, std::move(nodes));
  }

  NodePtr Binary(const Token& op_tok, NodePtr left, NodePtr right) {
    if (!ok()) return nullptr;
    const std::string& op = op_tok.value;
    uint32_t b = left->begin;
    uint32_t e = right->end;
    std::vector<NodePtr> kids;
    kids.push_back(std::move(left));
    kids.push_back(std::move(right));
    NodeKind kind = NodeKind::kBinary;
    if (op == "or" || op == "||") kind = NodeKind::kOr;
    if (op == "and" || op == "&&") kind = NodeKind::kAnd;
    if (op == "??") kind = NodeKind::kCoalesce;
    NodePtr n = New(kind, b, e, std::move(kids));
    if (n != nullptr) {
      n->op = BinaryOpOf(op);
      if (kind == NodeKind::kAnd || kind == NodeKind::kOr) n->name = op;
    }
    return n;
  }

  NodePtr ParseExpression(int precedence) {
    if (!ok()) return nullptr;
    Depth guard(this);
    if (depth_ > kMaxNesting) {
      ErrorAt(Cur().begin, "expression is nested too deeply (more than " +
                               std::to_string(kMaxNesting) + " levels)");
      return nullptr;
    }
    if (precedence == 0 && IsOp("let")) return ParseLet();
    if (precedence == 0 && IsOp("if")) return ParseIf();
    NodePtr left = ParsePrimary();
    std::string prev_op;
    while (ok() && Cur().kind == Tok::kOperator) {
      Token op_tok = Cur();
      bool negate = op_tok.value == "not";
      uint32_t not_begin = op_tok.begin;
      if (negate) {
        size_t saved = pos_;
        uint32_t saved_end = last_end_;
        Advance();
        if (!IsNegatable(Cur().value) || Cur().kind != Tok::kOperator) {
          Unexpected();
          break;
        }
        const BinaryOp* info = FindBinary(Cur().value);
        if (info == nullptr || info->precedence < precedence) {
          pos_ = saved;
          last_end_ = saved_end;
          break;
        }
        op_tok = Cur();
      }
      const BinaryOp* info = FindBinary(op_tok.value);
      if (info == nullptr || info->precedence < precedence) break;
      Advance();
      if (op_tok.value == "|") {
        Token ident = Cur();
        if (!Expect(Tok::kIdent, "")) break;
        left = ParseCall(ident, std::move(left));
        prev_op = "|";
        continue;
      }
      if (prev_op == "??" && op_tok.value != "??") {
        ErrorAt(op_tok.begin, "operator " + Quote(op_tok.value) +
                                  " and coalesce expressions (?\?) cannot be mixed; wrap either "
                                  "in parentheses");
        break;
      }
      if (IsComparison(op_tok.value)) {
        left = ParseComparison(std::move(left), op_tok, info->precedence);
        prev_op = op_tok.value;
        continue;
      }
      NodePtr right = ParseExpression(info->right_assoc ? info->precedence : info->precedence + 1);
      if (!ok()) return nullptr;
      left = Binary(op_tok, std::move(left), std::move(right));
      if (negate && left != nullptr) {
        const uint32_t b = std::min(not_begin, left->begin);
        const uint32_t e = left->end;
        std::vector<NodePtr> kids;
        kids.push_back(std::move(left));
        left = New(NodeKind::kUnary, b, e, std::move(kids));
        if (left != nullptr) left->op = Op::kNot;
      }
      prev_op = op_tok.value;
    }
    if (!ok()) return nullptr;
    if (precedence == 0) left = ParseConditional(std::move(left));
    return left;
  }

  NodePtr ParseComparison(NodePtr left, Token op_tok, int precedence) {
    NodePtr root;
    while (true) {
      NodePtr right = ParseExpression(precedence + 1);
      if (!ok()) return nullptr;
      NodePtr cmp = Binary(op_tok, std::move(left), std::move(right));
      if (!ok()) return nullptr;
      const bool more = Cur().kind == Tok::kOperator && IsComparison(Cur().value);
      if (more) {
        left = Clone(*cmp->kids[1]);
        if (!ok()) return nullptr;
      }
      if (root == nullptr) {
        root = std::move(cmp);
      } else {
        Token and_tok{Tok::kOperator, "&&", op_tok.begin, op_tok.end};
        root = Binary(and_tok, std::move(root), std::move(cmp));
        if (!ok()) return nullptr;
      }
      if (!more) break;
      op_tok = Cur();
      Advance();
    }
    return root;
  }

  NodePtr ParseConditional(NodePtr node) {
    while (ok() && IsOp("?")) {
      Advance();
      NodePtr e1;
      NodePtr e2;
      if (!IsOp(":")) {
        e1 = ParseExpression(0);
        if (!Expect(Tok::kOperator, ":")) return nullptr;
        e2 = ParseExpression(0);
      } else {
        Advance();
        e2 = ParseExpression(0);  // a ?: b
      }
      if (!ok()) return nullptr;
      uint32_t b = node->begin;
      uint32_t e = e2->end;
      std::vector<NodePtr> kids;
      kids.push_back(std::move(node));
      kids.push_back(std::move(e1));
      kids.push_back(std::move(e2));
      node = New(NodeKind::kCond, b, e, std::move(kids));
    }
    return node;
  }

  bool Redeclares(const Token& name) {
    const std::string& v = name.value;
    if (v == "result" || v == "$env") return ErrorAt(name.begin, "cannot redeclare " + v);
    if (const BuiltinInfo* b = FindBuiltin(v); b != nullptr) {
      return ErrorAt(name.begin, "cannot redeclare builtin " + v);
    }
    for (const auto& [var, slot] : scopes_) {
      if (var == v) return ErrorAt(name.begin, "cannot redeclare variable " + v);
    }
    return true;
  }

  NodePtr ParseLet() {
    const uint32_t begin = Cur().begin;
    Advance();  // let
    Token name = Cur();
    if (!Expect(Tok::kIdent, "") || !Expect(Tok::kOperator, "=")) return nullptr;
    NodePtr value = ParseExpression(0);
    if (!ok() || !Expect(Tok::kOperator, ";")) return nullptr;
    if (!Redeclares(name)) return nullptr;
    const int slot = slots_++;
    scopes_.emplace_back(name.value, slot);
    NodePtr body = ParseSequence();
    scopes_.pop_back();
    if (!ok()) return nullptr;
    uint32_t end = body->end;
    std::vector<NodePtr> kids;
    kids.push_back(std::move(value));
    kids.push_back(std::move(body));
    NodePtr n = New(NodeKind::kLet, begin, end, std::move(kids));
    if (n != nullptr) {
      n->slot = slot;
      n->name = name.value;
    }
    return n;
  }

  NodePtr ParseIf() {
    Depth guard(this);
    if (depth_ > kMaxNesting) {
      ErrorAt(Cur().begin, "expression is nested too deeply");
      return nullptr;
    }
    const uint32_t begin = Cur().begin;
    Advance();  // if
    NodePtr cond = ParseExpression(0);
    if (!ok() || !Expect(Tok::kBracket, "{")) return nullptr;
    NodePtr e1 = ParseSequence();
    if (!ok() || !Expect(Tok::kBracket, "}") || !Expect(Tok::kOperator, "else")) return nullptr;
    NodePtr e2;
    if (IsOp("if")) {
      e2 = ParseIf();
    } else {
      if (!Expect(Tok::kBracket, "{")) return nullptr;
      e2 = ParseSequence();
      if (!ok() || !Expect(Tok::kBracket, "}")) return nullptr;
    }
    if (!ok()) return nullptr;
    std::vector<NodePtr> kids;
    kids.push_back(std::move(cond));
    kids.push_back(std::move(e1));
    kids.push_back(std::move(e2));
    return New(NodeKind::kCond, begin, last_end_, std::move(kids));
  }

  NodePtr ParsePrimary() {
    const Token tok = Cur();
    if (tok.kind == Tok::kOperator &&
        (tok.value == "not" || tok.value == "!" || tok.value == "-" || tok.value == "+")) {
      Advance();
      const bool logical = tok.value == "not" || tok.value == "!";
      NodePtr e = ParseExpression(logical ? 50 : 90);
      if (!ok()) return nullptr;
      uint32_t end = e->end;
      std::vector<NodePtr> kids;
      kids.push_back(std::move(e));
      NodePtr n = New(NodeKind::kUnary, tok.begin, end, std::move(kids));
      if (n == nullptr) return nullptr;
      n->op = logical ? Op::kNot : tok.value == "-" ? Op::kNeg : Op::kPlus;
      return ParsePostfix(std::move(n));
    }
    if (tok.kind == Tok::kBracket && tok.value == "(") {
      Advance();
      NodePtr e = ParseSequence();
      if (!ok() || !Expect(Tok::kBracket, ")")) return nullptr;
      e->begin = tok.begin;
      e->end = last_end_;
      return ParsePostfix(std::move(e));
    }
    if (!predicates_.empty() && tok.kind == Tok::kOperator &&
        (tok.value == "#" || tok.value == ".")) {
      NodePtr n;
      if (tok.value == "#") {
        Advance();
        std::string name;
        if (Cur().kind == Tok::kIdent && Cur().begin == tok.end) {
          name = Cur().value;
          Advance();
        }
        if (name.empty()) {
          n = New(NodeKind::kPointer, tok.begin, last_end_);
        } else if (name == "index" && (predicates_.back() == Builtin::kMap ||
                                       predicates_.back() == Builtin::kReduce)) {
          n = New(NodeKind::kPointerIndex, tok.begin, last_end_);
        } else if (name == "acc" && predicates_.back() == Builtin::kReduce) {
          n = New(NodeKind::kPointerAcc, tok.begin, last_end_);
        } else {
          std::string hint = name == "index" ? " (#index is available in map() and reduce())"
                             : name == "acc" ? " (#acc is available in reduce())"
                                             : "";
          ErrorAt(tok.begin, "unknown pointer #" + name + hint);
          return nullptr;
        }
      } else {
        n = New(NodeKind::kPointer, tok.begin, tok.begin);  // `.field` is `#.field`
      }
      if (n == nullptr) return nullptr;
      return ParsePostfix(std::move(n));
    }
    if (tok.kind == Tok::kOperator && tok.value == "::") {
      Advance();
      Token ident = Cur();
      if (!Expect(Tok::kIdent, "")) return nullptr;
      return ParsePostfix(ParseCall(ident, nullptr));
    }
    return ParseSecondary();
  }

  NodePtr ParseNumber(const Token& tok) {
    std::string v;
    for (char c : tok.value) {
      if (c != '_') v += c;
    }
    std::string lower = v;
    for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    auto parse_int = [&](std::string_view digits, int base, std::string_view what) -> NodePtr {
      uint64_t value = 0;
      bool bad = digits.empty();
      for (char c : digits) {
        int d = HexVal(c);
        if (d < 0 || d >= base) {
          bad = true;
          break;
        }
        if (value > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) -
                     static_cast<uint64_t>(d)) /
                        static_cast<uint64_t>(base)) {
          ErrorAt(tok.begin, "invalid " + std::string(what) + " literal: " + Quote(tok.value) +
                                 " is out of range");
          return nullptr;
        }
        value = value * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
      }
      if (bad) {
        ErrorAt(tok.begin, "invalid " + std::string(what) + " literal: " + Quote(tok.value));
        return nullptr;
      }
      return Const(Value::Int(static_cast<int64_t>(value)), tok.begin, tok.end);
    };
    if (lower.rfind("0x", 0) == 0) return parse_int(std::string_view(v).substr(2), 16, "hex");
    if (lower.find_first_of(".e") != std::string::npos) {
      double d = 0;
      auto res = std::from_chars(v.data(), v.data() + v.size(), d, std::chars_format::general);
      if (res.ec != std::errc() || res.ptr != v.data() + v.size()) {
        ErrorAt(tok.begin, "invalid float literal: " + Quote(tok.value));
        return nullptr;
      }
      return Const(Value::Float(d), tok.begin, tok.end);
    }
    if (lower.rfind("0b", 0) == 0) return parse_int(std::string_view(v).substr(2), 2, "binary");
    if (lower.rfind("0o", 0) == 0) return parse_int(std::string_view(v).substr(2), 8, "octal");
    return parse_int(v, 10, "integer");
  }

  NodePtr ParseSecondary() {
    const Token tok = Cur();
    NodePtr node;
    switch (tok.kind) {
      case Tok::kIdent:
        Advance();
        if (tok.value == "true" || tok.value == "false") {
          return Const(Value::Bool(tok.value == "true"), tok.begin, tok.end);
        }
        if (tok.value == "nil") return Const(Value(), tok.begin, tok.end);
        if (IsBracket("(")) {
          node = ParseCall(tok, nullptr);
        } else {
          node = Identifier(tok);
        }
        break;
      case Tok::kNumber:
        Advance();
        return ParseNumber(tok);
      case Tok::kString:
        Advance();
        node = Const(Value::String(tok.value), tok.begin, tok.end);
        break;
      default:
        if (IsBracket("[")) {
          node = ParseArray();
        } else if (IsBracket("{")) {
          node = ParseMap();
        } else {
          Unexpected();
          return nullptr;
        }
    }
    if (!ok()) return nullptr;
    return ParsePostfix(std::move(node));
  }

  NodePtr Identifier(const Token& tok) {
    const std::string& name = tok.value;
    if (name == "result") return New(NodeKind::kResult, tok.begin, tok.end);
    if (name == "$env") return New(NodeKind::kEnvMap, tok.begin, tok.end);
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      if (it->first == name) {
        NodePtr n = New(NodeKind::kVar, tok.begin, tok.end);
        if (n != nullptr) {
          n->slot = it->second;
          n->name = name;
        }
        return n;
      }
    }
    if (FindBuiltin(name) != nullptr) {
      ErrorAt(tok.begin, name + " is a function: call it, " + name + "(…)");
      return nullptr;
    }
    std::string hint = name == "results" ? " (did you mean result?)" : "";
    ErrorAt(tok.begin, "unknown name " + name + hint);
    return nullptr;
  }

  // A call of `ident`; `piped` is the left side of `|`, which becomes the first argument.
  NodePtr ParseCall(const Token& ident, NodePtr piped) {
    if (!ok()) return nullptr;
    const BuiltinInfo* info = FindBuiltin(ident.value);
    if (info == nullptr) {
      bool known = ident.value == "result" || ident.value == "$env";
      for (const auto& [var, slot] : scopes_) known = known || var == ident.value;
      ErrorAt(ident.begin,
              known ? ident.value + " is not a function" : "unknown function " + ident.value);
      return nullptr;
    }
    const uint32_t begin = piped != nullptr ? std::min(piped->begin, ident.begin) : ident.begin;
    std::vector<NodePtr> args;
    if (piped != nullptr) args.push_back(std::move(piped));
    if (info->predicate) {
      if (!Expect(Tok::kBracket, "(")) return nullptr;
      const PredicateShape shape = ShapeOf(info->id);
      // Argument kinds: 0 = expression, 1 = closure; `optional` past the required ones.
      struct Spec {
        bool closure;
        bool optional;
      };
      std::vector<Spec> specs = {{false, false}, {true, shape.closure_optional}};
      if (shape.has_third) specs.push_back({false, true});
      const size_t first = args.size();
      for (size_t i = first; i < specs.size(); ++i) {
        if (specs[i].optional) {
          if (IsBracket(")")) break;
        } else if (IsBracket(")")) {
          ErrorAt(Cur().begin, info->name.data() + std::string("() expects at least ") +
                                   std::to_string(specs.size() - (shape.has_third ? 1 : 0) -
                                                  (shape.closure_optional ? 1 : 0)) +
                                   " arguments");
          return nullptr;
        }
        if (i > first && !Expect(Tok::kOperator, ",")) return nullptr;
        args.push_back(specs[i].closure ? ParseClosure(info->id) : ParseExpression(0));
        if (!ok()) return nullptr;
      }
      if (IsOp(",")) Advance();
      if (!Expect(Tok::kBracket, ")")) return nullptr;
    } else {
      if (!ParseArguments(&args)) return nullptr;
      const int n = static_cast<int>(args.size());
      if (n < info->min_args || (info->max_args >= 0 && n > info->max_args)) {
        std::string expected = info->min_args == info->max_args ? std::to_string(info->min_args)
                               : info->max_args < 0 ? "at least " + std::to_string(info->min_args)
                                                    : std::to_string(info->min_args) + " to " +
                                                          std::to_string(info->max_args);
        ErrorAt(ident.begin, "invalid number of arguments for " + std::string(info->name) +
                                 " (expected " + expected + ", got " + std::to_string(n) + ")");
        return nullptr;
      }
    }
    NodePtr n = New(NodeKind::kBuiltin, begin, last_end_, std::move(args));
    if (n != nullptr) {
      n->builtin = info->id;
      n->name = std::string(info->name);
    }
    return n;
  }

  bool ParseArguments(std::vector<NodePtr>* args) {
    const size_t offset = args->size();
    if (!Expect(Tok::kBracket, "(")) return false;
    while (ok() && !IsBracket(")")) {
      if (args->size() > offset && !Expect(Tok::kOperator, ",")) return false;
      if (IsBracket(")")) break;
      args->push_back(ParseExpression(0));
    }
    return ok() && Expect(Tok::kBracket, ")");
  }

  NodePtr ParseClosure(Builtin builtin) {
    const bool braces = IsBracket("{");
    const uint32_t begin = Cur().begin;
    if (braces) Advance();
    predicates_.push_back(builtin);
    NodePtr body = braces ? ParseSequence() : ParseExpression(0);
    predicates_.pop_back();
    if (!ok()) return nullptr;
    if (!braces && IsOp(";")) {
      ErrorAt(Cur().begin, "wrap predicate with brackets { and }");
      return nullptr;
    }
    if (braces) {
      if (!Expect(Tok::kBracket, "}")) return nullptr;
      body->begin = begin;
      body->end = last_end_;
    }
    return body;
  }

  NodePtr ParseArray() {
    const uint32_t begin = Cur().begin;
    Advance();  // [
    std::vector<NodePtr> items;
    while (ok() && !IsBracket("]")) {
      if (!items.empty()) {
        if (!Expect(Tok::kOperator, ",")) return nullptr;
        if (IsBracket("]")) break;
      }
      items.push_back(ParseExpression(0));
    }
    if (!ok() || !Expect(Tok::kBracket, "]")) return nullptr;
    return New(NodeKind::kArray, begin, last_end_, std::move(items));
  }

  NodePtr ParseMap() {
    const uint32_t begin = Cur().begin;
    Advance();  // {
    std::vector<NodePtr> kids;
    while (ok() && !IsBracket("}")) {
      if (!kids.empty()) {
        if (!Expect(Tok::kOperator, ",")) return nullptr;
        if (IsBracket("}")) break;
        if (IsOp(",")) {
          Unexpected();
          return nullptr;
        }
      }
      NodePtr key;
      const Token tok = Cur();
      if (tok.kind == Tok::kNumber || tok.kind == Tok::kString || tok.kind == Tok::kIdent) {
        key = Const(Value::String(tok.value), tok.begin, tok.end);
        Advance();
      } else if (IsBracket("(")) {
        key = ParseExpression(0);
      } else {
        ErrorAt(tok.begin,
                "a map key must be a quoted string, a number, an identifier, or an expression "
                "in parentheses (unexpected " +
                    Describe(tok) + ")");
        return nullptr;
      }
      if (!ok() || !Expect(Tok::kOperator, ":")) return nullptr;
      NodePtr value = ParseExpression(0);
      if (!ok()) return nullptr;
      kids.push_back(std::move(key));
      kids.push_back(std::move(value));
    }
    if (!ok() || !Expect(Tok::kBracket, "}")) return nullptr;
    return New(NodeKind::kMap, begin, last_end_, std::move(kids));
  }

  NodePtr ParsePostfix(NodePtr node) {
    if (!ok() || node == nullptr) return nullptr;
    bool chain = false;
    while (ok() && (Cur().kind == Tok::kOperator || Cur().kind == Tok::kBracket)) {
      const Token tok = Cur();
      bool optional = tok.value == "?.";
      bool bracket = tok.value == "[";
      if (tok.value == "." || optional) {
        Advance();
        if (optional && IsBracket("[")) {
          bracket = true;
        } else {
          const Token prop = Cur();
          Advance();
          if (prop.kind != Tok::kIdent &&
              !(prop.kind == Tok::kOperator && IsValidIdentifier(prop.value))) {
            ErrorAt(prop.begin, "expected a name after " + Quote(tok.value));
            return nullptr;
          }
          chain = chain || optional;
          if (IsBracket("(")) {
            std::vector<NodePtr> args;
            args.push_back(std::move(node));
            if (!ParseArguments(&args)) return nullptr;
            uint32_t b = args[0]->begin;
            node = New(NodeKind::kMethod, b, last_end_, std::move(args));
          } else {
            std::vector<NodePtr> kids;
            uint32_t b = node->begin;
            kids.push_back(std::move(node));
            kids.push_back(Const(Value::String(prop.value), prop.begin, prop.end));
            node = New(NodeKind::kIndex, b, prop.end, std::move(kids));
          }
          if (node == nullptr) return nullptr;
          node->name = prop.value;
          node->optional = optional;
          continue;
        }
      }
      if (!bracket) break;
      Advance();  // [
      chain = chain || optional;
      NodePtr from;
      NodePtr to;
      bool slice = false;
      if (IsOp(":")) {
        slice = true;
        Advance();
        if (!IsBracket("]")) to = ParseExpression(0);
      } else {
        from = ParseExpression(0);
        if (ok() && IsOp(":")) {
          slice = true;
          Advance();
          if (!IsBracket("]")) to = ParseExpression(0);
        }
      }
      if (!ok() || !Expect(Tok::kBracket, "]")) return nullptr;
      uint32_t b = node->begin;
      std::vector<NodePtr> kids;
      kids.push_back(std::move(node));
      kids.push_back(std::move(from));
      if (slice) kids.push_back(std::move(to));
      node = New(slice ? NodeKind::kSlice : NodeKind::kIndex, b, last_end_, std::move(kids));
      if (node == nullptr) return nullptr;
      node->optional = optional;
    }
    if (chain && ok()) {
      uint32_t b = node->begin;
      uint32_t e = node->end;
      std::vector<NodePtr> kids;
      kids.push_back(std::move(node));
      node = New(NodeKind::kChain, b, e, std::move(kids));
    }
    return ok() ? std::move(node) : nullptr;
  }

  std::string_view src_;
  std::vector<Token> toks_;
  size_t pos_ = 0;
  uint32_t last_end_ = 0;
  Status error_;
  int depth_ = 0;
  int nodes_ = 0;
  int slots_ = 0;
  std::vector<Builtin> predicates_;                  // enclosing closures, innermost last
  std::vector<std::pair<std::string, int>> scopes_;  // let variables in scope → slot
};

// ---- Checks and constant folding ----------------------------------------------------------------

bool IsFoldable(const Node& n) {
  switch (n.kind) {
    case NodeKind::kUnary:
    case NodeKind::kBinary:
    case NodeKind::kAnd:
    case NodeKind::kOr:
    case NodeKind::kCoalesce:
    case NodeKind::kCond:
    case NodeKind::kArray:
    case NodeKind::kMap:
    case NodeKind::kIndex:
    case NodeKind::kSlice:
    case NodeKind::kMethod:
      break;
    case NodeKind::kBuiltin:
      if (!GetBuiltin(n.builtin).pure) return false;
      break;
    default:
      return false;
  }
  for (const auto& k : n.kids) {
    if (k != nullptr && k->kind != NodeKind::kConst) return false;
  }
  return true;
}

class Checker {
 public:
  explicit Checker(Compiled* program) : program_(program) {}

  Status Run() { return Visit(program_->root); }

 private:
  Status At(const Node& n, const std::string& message) {
    return InvalidArgumentError(Position(program_->source, n.begin) + ": " + message);
  }

  Status Visit(std::unique_ptr<Node>& slot) {
    Node& n = *slot;
    for (auto& k : n.kids) {
      if (k != nullptr) RETURN_IF_ERROR(Visit(k));
    }
    if (n.kind == NodeKind::kBuiltin && n.builtin == Builtin::kTimezone) {
      return At(n,
                "timezone(): ramp evaluates times in UTC only; named time zones are not supported");
    }
    if (n.kind == NodeKind::kBuiltin && n.builtin == Builtin::kDate && n.kids.size() == 3 &&
        n.kids[2]->kind == NodeKind::kConst && n.kids[2]->constant.kind() == Kind::kString) {
      const std::string& tz = n.kids[2]->constant.string_value();
      if (!tz.empty() && tz != "UTC") {
        return At(*n.kids[2], "date(): time zone " + Quote(tz) +
                                  ": ramp evaluates times in UTC only; named time zones are "
                                  "not supported");
      }
    }
    if (n.kind == NodeKind::kBinary && n.op == Op::kMatches &&
        n.kids[1]->kind == NodeKind::kConst && n.kids[1]->constant.kind() == Kind::kString) {
      const std::string& pattern = n.kids[1]->constant.string_value();
      RE2::Options opts;
      opts.set_log_errors(false);
      auto re = std::make_shared<const RE2>(pattern, opts);
      if (!re->ok()) {
        return At(*n.kids[1], "invalid regular expression " + Quote(pattern) + ": " + re->error());
      }
      n.regex = std::move(re);
    }
    if (IsFoldable(n)) {
      Env env;
      StatusOr<Value> v = EvaluateTree(*program_, n, env, kFoldBudget);
      if (v.has_value()) {
        auto folded = std::make_unique<Node>();
        folded->kind = NodeKind::kConst;
        folded->begin = n.begin;
        folded->end = n.end;
        folded->constant = std::move(*v);
        slot = std::move(folded);
      }
      // On error the node stays: evaluation reports the error if it is reached.
    }
    return OkStatus();
  }

  Compiled* program_;
};

}  // namespace
}  // namespace internal

StatusOr<Program> Compile(std::string_view source) {
  if (source.size() > std::numeric_limits<uint32_t>::max() / 2) {
    return Fail(InvalidArgumentError("expression is too long"));
  }
  auto compiled = std::make_shared<internal::Compiled>();
  compiled->source = std::string(source);
  std::vector<internal::Token> tokens;
  internal::Lexer lexer(compiled->source);
  if (!lexer.Run(&tokens)) return Fail(lexer.error());
  internal::Parser parser(compiled->source, std::move(tokens));
  compiled->root = parser.Parse();
  if (compiled->root == nullptr) return Fail(parser.error());
  compiled->slots = parser.slots();
  RETURN_IF_ERROR(internal::Checker(compiled.get()).Run());
  return Program(std::move(compiled));
}

}  // namespace ramp::expr
