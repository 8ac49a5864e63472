// The evaluator: walks the compiled tree with a step budget. Every failure becomes a Status whose
// message names the failing sub-expression; nothing throws and nothing recurses deeper than the
// tree (whose depth the parser caps) or a value (whose depth kMaxValueDepth caps).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <numeric>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <re2/re2.h>
#include <nlohmann/json.hpp>

#include "expr/expr.h"
#include "expr/internal.h"

namespace ramp::expr::internal {

// ---- The builtin table --------------------------------------------------------------------------

namespace {

constexpr BuiltinInfo kBuiltins[] = {
    {"all", Builtin::kAll, 2, 2, true, true},
    {"none", Builtin::kNone, 2, 2, true, true},
    {"any", Builtin::kAny, 2, 2, true, true},
    {"one", Builtin::kOne, 2, 2, true, true},
    {"filter", Builtin::kFilter, 2, 2, true, true},
    {"map", Builtin::kMap, 2, 2, true, true},
    {"count", Builtin::kCount, 1, 2, true, true},
    {"sum", Builtin::kSum, 1, 2, true, true},
    {"find", Builtin::kFind, 2, 2, true, true},
    {"findIndex", Builtin::kFindIndex, 2, 2, true, true},
    {"findLast", Builtin::kFindLast, 2, 2, true, true},
    {"findLastIndex", Builtin::kFindLastIndex, 2, 2, true, true},
    {"groupBy", Builtin::kGroupBy, 2, 2, true, true},
    {"sortBy", Builtin::kSortBy, 2, 3, true, true},
    {"reduce", Builtin::kReduce, 2, 3, true, true},
    {"len", Builtin::kLen, 1, 1, true, false},
    {"type", Builtin::kType, 1, 1, true, false},
    {"abs", Builtin::kAbs, 1, 1, true, false},
    {"ceil", Builtin::kCeil, 1, 1, true, false},
    {"floor", Builtin::kFloor, 1, 1, true, false},
    {"round", Builtin::kRound, 1, 1, true, false},
    {"int", Builtin::kInt, 1, 1, true, false},
    {"float", Builtin::kFloat, 1, 1, true, false},
    {"string", Builtin::kString, 1, 1, true, false},
    {"trim", Builtin::kTrim, 1, 2, true, false},
    {"trimPrefix", Builtin::kTrimPrefix, 1, 2, true, false},
    {"trimSuffix", Builtin::kTrimSuffix, 1, 2, true, false},
    {"upper", Builtin::kUpper, 1, 1, true, false},
    {"lower", Builtin::kLower, 1, 1, true, false},
    {"split", Builtin::kSplit, 2, 3, true, false},
    {"splitAfter", Builtin::kSplitAfter, 2, 3, true, false},
    {"replace", Builtin::kReplace, 3, 4, true, false},
    {"repeat", Builtin::kRepeat, 2, 2, true, false},
    {"join", Builtin::kJoin, 1, 2, true, false},
    {"indexOf", Builtin::kIndexOf, 2, 2, true, false},
    {"lastIndexOf", Builtin::kLastIndexOf, 2, 2, true, false},
    {"hasPrefix", Builtin::kHasPrefix, 2, 2, true, false},
    {"hasSuffix", Builtin::kHasSuffix, 2, 2, true, false},
    {"max", Builtin::kMax, 1, -1, true, false},
    {"min", Builtin::kMin, 1, -1, true, false},
    {"mean", Builtin::kMean, 1, -1, true, false},
    {"median", Builtin::kMedian, 1, -1, true, false},
    {"toJSON", Builtin::kToJson, 1, 1, true, false},
    {"fromJSON", Builtin::kFromJson, 1, 1, true, false},
    {"toBase64", Builtin::kToBase64, 1, 1, true, false},
    {"fromBase64", Builtin::kFromBase64, 1, 1, true, false},
    {"now", Builtin::kNow, 0, 0, false, false},
    {"duration", Builtin::kDuration, 1, 1, true, false},
    {"date", Builtin::kDate, 1, 3, true, false},
    {"timezone", Builtin::kTimezone, 1, 1, true, false},
    {"first", Builtin::kFirst, 1, 1, true, false},
    {"last", Builtin::kLast, 1, 1, true, false},
    {"get", Builtin::kGet, 2, 2, true, false},
    {"take", Builtin::kTake, 2, 2, true, false},
    {"keys", Builtin::kKeys, 1, 1, true, false},
    {"values", Builtin::kValues, 1, 1, true, false},
    {"toPairs", Builtin::kToPairs, 1, 1, true, false},
    {"fromPairs", Builtin::kFromPairs, 1, 1, true, false},
    {"reverse", Builtin::kReverse, 1, 1, true, false},
    {"uniq", Builtin::kUniq, 1, 1, true, false},
    {"concat", Builtin::kConcat, 1, -1, true, false},
    {"flatten", Builtin::kFlatten, 1, 1, true, false},
    {"sort", Builtin::kSort, 1, 2, true, false},
    {"bitand", Builtin::kBitAnd, 2, 2, true, false},
    {"bitor", Builtin::kBitOr, 2, 2, true, false},
    {"bitxor", Builtin::kBitXor, 2, 2, true, false},
    {"bitnand", Builtin::kBitNand, 2, 2, true, false},
    {"bitshl", Builtin::kBitShl, 2, 2, true, false},
    {"bitshr", Builtin::kBitShr, 2, 2, true, false},
    {"bitushr", Builtin::kBitUshr, 2, 2, true, false},
    {"bitnot", Builtin::kBitNot, 1, 1, true, false},
    {"asInt", Builtin::kAsInt, 1, 1, true, false},
    {"asFloat", Builtin::kAsFloat, 1, 1, true, false},
    {"isNaN", Builtin::kIsNaN, 1, 1, true, false},
    {"isInf", Builtin::kIsInf, 1, 1, true, false},
    {"isNil", Builtin::kIsNil, 1, 1, false, false},
    {"default", Builtin::kDefault, 2, 2, false, false},
};

}  // namespace

const BuiltinInfo* FindBuiltin(std::string_view name) {
  for (const BuiltinInfo& b : kBuiltins) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

// kBuiltins lists the builtins in the order of the Builtin enum.
constexpr bool InEnumOrder() {
  for (size_t i = 0; i < std::size(kBuiltins); ++i) {
    if (static_cast<size_t>(kBuiltins[i].id) != i) return false;
  }
  return true;
}
static_assert(InEnumOrder());

const BuiltinInfo& GetBuiltin(Builtin id) { return kBuiltins[static_cast<size_t>(id)]; }

std::string_view OpName(Op op) {
  switch (op) {
    case Op::kNone:
      return "?";
    case Op::kNeg:
    case Op::kSub:
      return "-";
    case Op::kPlus:
    case Op::kAdd:
      return "+";
    case Op::kNot:
      return "!";
    case Op::kMul:
      return "*";
    case Op::kDiv:
      return "/";
    case Op::kMod:
      return "%";
    case Op::kPow:
      return "**";
    case Op::kEq:
      return "==";
    case Op::kNe:
      return "!=";
    case Op::kLt:
      return "<";
    case Op::kGt:
      return ">";
    case Op::kLe:
      return "<=";
    case Op::kGe:
      return ">=";
    case Op::kIn:
      return "in";
    case Op::kMatches:
      return "matches";
    case Op::kContains:
      return "contains";
    case Op::kStartsWith:
      return "startsWith";
    case Op::kEndsWith:
      return "endsWith";
    case Op::kRange:
      return "..";
  }
  return "?";
}

namespace {

// ---- Evaluation context -------------------------------------------------------------------------

struct Frame {
  const Array* items = nullptr;
  size_t index = 0;
  Value acc;
};

struct Ctx {
  const Compiled& program;
  const Env& env;
  uint64_t budget;
  uint64_t steps = 0;
  bool short_circuit = false;  // a ?. met nil: the enclosing chain yields nil
  Status error;
  std::vector<Value> vars;
  std::vector<Frame> frames;
};

const Value& NilValue() {
  static const Value* const kNil = new Value();
  return *kNil;
}

// The source text of a node for messages, on one line, at most 80 characters.
std::string Snippet(const Ctx& c, const Node& n) {
  const std::string& src = c.program.source;
  size_t b = std::min<size_t>(n.begin, src.size());
  size_t e = std::min<size_t>(std::max(n.end, n.begin), src.size());
  std::string out;
  bool space = false;
  for (size_t i = b; i < e; ++i) {
    char ch = src[i];
    if (ch == '\n' || ch == '\r' || ch == '\t' || ch == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += ch;
  }
  if (out.size() > 80) {
    size_t cut = 77;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out = out.substr(0, cut) + "...";
  }
  return out;
}

bool Raise(Ctx& c, const Node& n, std::string_view message) {
  if (c.error.ok()) {
    std::string snippet = Snippet(c, n);
    std::string m = snippet.empty() ? std::string(message) : snippet + ": " + std::string(message);
    c.error = InvalidArgumentError(std::move(m));
  }
  return false;
}

bool OverBudget(Ctx& c) {
  if (c.error.ok()) {
    c.error =
        ResourceExhaustedError("evaluation exceeded its budget of " + std::to_string(c.budget) +
                               " steps (is a range or a loop too large?)");
  }
  return false;
}

inline bool Step(Ctx& c) { return ++c.steps <= c.budget || OverBudget(c); }

// Charges `n` steps for building `n` elements (or 8n bytes).
bool Charge(Ctx& c, uint64_t n) {
  c.steps += n;
  return c.steps <= c.budget || OverBudget(c);
}

// A hint appended to messages about `result`, the value most conditions read.
std::string Hint(const Node& operand, const Value& v) {
  if (operand.kind != NodeKind::kResult) return "";
  if (v.is_nil()) {
    return " (result is nil \xE2\x80\x94 the provider returned no value; isNil(result) or "
           "default(result, \xE2\x80\xA6) can guard it)";
  }
  if (v.kind() == Kind::kArray) {
    return " (result is an array \xE2\x80\x94 did you mean result[0]?)";
  }
  return "";
}

int64_t GoFloatToInt(double d) {
  // What Go's int(f) gives on amd64 for NaN and values out of range.
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
    return std::numeric_limits<int64_t>::min();
  }
  return static_cast<int64_t>(d);
}

int64_t WrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
int64_t WrapSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
int64_t WrapMul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

// runtime.ToInt: ints, and floats truncated.
bool ToIntArg(const Value& v, int64_t* out) {
  if (v.kind() == Kind::kInt) {
    *out = v.int_value();
    return true;
  }
  if (v.kind() == Kind::kFloat) {
    *out = GoFloatToInt(v.float_value());
    return true;
  }
  return false;
}

std::string IntConversionError(const Value& v) {
  return "invalid operation: int(" + std::string(v.TypeName()) + ")";
}

// A map key from a non-string value, as Go's %v prints it (maps here have string keys).
bool KeyOf(const Value& v, std::string* out) {
  switch (v.kind()) {
    case Kind::kString:
      *out = v.string_value();
      return true;
    case Kind::kArray:
    case Kind::kMap:
      return false;
    default:
      *out = v.ToString();
      return true;
  }
}

// ---- Operators ----------------------------------------------------------------------------------

std::string OpError(Op op, const Value& a, const Value& b) {
  return "invalid operation: " + std::string(a.TypeName()) + " " + std::string(OpName(op)) + " " +
         std::string(b.TypeName());
}

bool TimeAdd(int64_t t, int64_t d, int64_t* out) { return !__builtin_add_overflow(t, d, out); }

// Arithmetic. Returns false with *err set when the operands do not fit the operator.
bool Arith(Op op, const Value& a, const Value& b, Value& out, std::string* err) {
  const Kind ka = a.kind();
  const Kind kb = b.kind();
  const bool nums = a.is_number() && b.is_number();
  const bool ints = ka == Kind::kInt && kb == Kind::kInt;
  switch (op) {
    case Op::kAdd:
      if (ints) {
        out = Value::Int(WrapAdd(a.int_value(), b.int_value()));
        return true;
      }
      if (nums) {
        out = Value::Float(a.AsDouble() + b.AsDouble());
        return true;
      }
      if (ka == Kind::kString && kb == Kind::kString) {
        out = Value::String(a.string_value() + b.string_value());
        return true;
      }
      if (ka == Kind::kDuration && kb == Kind::kDuration) {
        out = Value::MakeDuration(Duration(WrapAdd(a.int_value(), b.int_value())));
        return true;
      }
      if ((ka == Kind::kTime && kb == Kind::kDuration) ||
          (ka == Kind::kDuration && kb == Kind::kTime)) {
        int64_t t = 0;
        if (!TimeAdd(a.int_value(), b.int_value(), &t)) {
          *err = "time out of range";
          return false;
        }
        out = Value::MakeTime(Time(Duration(t)));
        return true;
      }
      break;
    case Op::kSub:
      if (ints) {
        out = Value::Int(WrapSub(a.int_value(), b.int_value()));
        return true;
      }
      if (nums) {
        out = Value::Float(a.AsDouble() - b.AsDouble());
        return true;
      }
      if (ka == Kind::kDuration && kb == Kind::kDuration) {
        out = Value::MakeDuration(Duration(WrapSub(a.int_value(), b.int_value())));
        return true;
      }
      if (ka == Kind::kTime && kb == Kind::kTime) {
        int64_t d = 0;
        if (__builtin_sub_overflow(a.int_value(), b.int_value(), &d)) {
          d = a.int_value() > b.int_value() ? std::numeric_limits<int64_t>::max()
                                            : std::numeric_limits<int64_t>::min();
        }
        out = Value::MakeDuration(Duration(d));
        return true;
      }
      if (ka == Kind::kTime && kb == Kind::kDuration) {
        int64_t t = 0;
        if (__builtin_sub_overflow(a.int_value(), b.int_value(), &t)) {
          *err = "time out of range";
          return false;
        }
        out = Value::MakeTime(Time(Duration(t)));
        return true;
      }
      break;
    case Op::kMul:
      if (ints) {
        out = Value::Int(WrapMul(a.int_value(), b.int_value()));
        return true;
      }
      if (nums) {
        out = Value::Float(a.AsDouble() * b.AsDouble());
        return true;
      }
      if ((ka == Kind::kDuration && (kb == Kind::kInt || kb == Kind::kDuration)) ||
          (kb == Kind::kDuration && ka == Kind::kInt)) {
        out = Value::MakeDuration(Duration(WrapMul(a.int_value(), b.int_value())));
        return true;
      }
      if ((ka == Kind::kDuration && kb == Kind::kFloat) ||
          (ka == Kind::kFloat && kb == Kind::kDuration)) {
        double x = ka == Kind::kDuration ? static_cast<double>(a.int_value()) : a.float_value();
        double y = kb == Kind::kDuration ? static_cast<double>(b.int_value()) : b.float_value();
        out = Value::Float(x * y);
        return true;
      }
      break;
    case Op::kDiv:
      if (nums) {
        out = Value::Float(a.AsDouble() / b.AsDouble());
        return true;
      }
      break;
    case Op::kMod:
      if (ints) {
        if (b.int_value() == 0) {
          *err = "integer divide by zero";
          return false;
        }
        if (b.int_value() == -1) {
          out = Value::Int(0);
          return true;
        }
        out = Value::Int(a.int_value() % b.int_value());
        return true;
      }
      break;
    case Op::kPow:
      if (nums) {
        out = Value::Float(std::pow(a.AsDouble(), b.AsDouble()));
        return true;
      }
      break;
    default:
      break;
  }
  *err = OpError(op, a, b);
  return false;
}

// Ordering: numbers, strings, times, durations. NaN compares false.
bool Compare(Op op, const Value& a, const Value& b, bool* result) {
  auto decide = [&](auto x, auto y) {
    switch (op) {
      case Op::kLt:
        return x < y;
      case Op::kGt:
        return x > y;
      case Op::kLe:
        return x <= y;
      default:
        return x >= y;
    }
  };
  if (a.kind() == Kind::kInt && b.kind() == Kind::kInt) {
    *result = decide(a.int_value(), b.int_value());
    return true;
  }
  if (a.is_number() && b.is_number()) {
    *result = decide(a.AsDouble(), b.AsDouble());
    return true;
  }
  if (a.kind() == Kind::kString && b.kind() == Kind::kString) {
    *result = decide(a.string_value(), b.string_value());
    return true;
  }
  if ((a.kind() == Kind::kTime && b.kind() == Kind::kTime) ||
      (a.kind() == Kind::kDuration && b.kind() == Kind::kDuration)) {
    *result = decide(a.int_value(), b.int_value());
    return true;
  }
  return false;
}

// A strict total order for sorting comparable values (NaN first, as Go's sort.Float64s).
bool SortLess(const Value& a, const Value& b) {
  if (a.is_number()) {
    if (a.kind() == Kind::kInt && b.kind() == Kind::kInt) return a.int_value() < b.int_value();
    double x = a.AsDouble();
    double y = b.AsDouble();
    if (std::isnan(x)) return !std::isnan(y);
    if (std::isnan(y)) return false;
    return x < y;
  }
  if (a.kind() == Kind::kString) return a.string_value() < b.string_value();
  return a.int_value() < b.int_value();
}

// Whether all values can be ordered against each other; else *err names the first mismatch.
bool Sortable(const std::vector<const Value*>& values, std::string* err) {
  if (values.empty()) return true;
  const Value& first = *values[0];
  auto cls = [](const Value& v) {
    if (v.is_number()) return 1;
    if (v.kind() == Kind::kString) return 2;
    if (v.kind() == Kind::kTime) return 3;
    if (v.kind() == Kind::kDuration) return 4;
    return 0;
  };
  int c0 = cls(first);
  for (const Value* v : values) {
    if (cls(*v) == 0 || cls(*v) != c0) {
      *err = OpError(Op::kLt, first, *v);
      return false;
    }
  }
  return true;
}

bool InOp(const Value& needle, const Value& hay, bool* result, std::string* err) {
  switch (hay.kind()) {
    case Kind::kNil:
      *result = false;
      return true;
    case Kind::kArray:
      for (const Value& item : hay.array()) {
        if (Equal(item, needle)) {
          *result = true;
          return true;
        }
      }
      *result = false;
      return true;
    case Kind::kMap: {
      std::string key;
      if (!KeyOf(needle, &key)) {
        *err = "cannot use " + std::string(needle.TypeName()) + " as a map key";
        return false;
      }
      *result = hay.Find(key) != nullptr;
      return true;
    }
    default:
      *err = "operator \"in\" not defined on " + std::string(hay.TypeName());
      return false;
  }
}

// ---- UTF-8 and string helpers -------------------------------------------------------------------

// Decodes one code point at s[i]; invalid sequences decode as U+FFFD of length 1.
uint32_t DecodeRune(std::string_view s, size_t i, size_t* len) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    *len = 1;
    return c;
  }
  size_t n = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) {
    *len = 1;
    return 0xFFFD;
  }
  uint32_t cp = c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) {
      *len = 1;
      return 0xFFFD;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
      (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) {
    *len = 1;
    return 0xFFFD;
  }
  *len = n;
  return cp;
}

size_t RuneCount(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    size_t len = 0;
    DecodeRune(s, i, &len);
    i += len;
    ++n;
  }
  return n;
}

bool IsUnicodeSpace(uint32_t cp) {
  switch (cp) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

template <typename Pred>
std::string TrimFunc(std::string_view s, Pred cut) {
  size_t b = 0;
  while (b < s.size()) {
    size_t len = 0;
    uint32_t cp = DecodeRune(s, b, &len);
    if (!cut(cp)) break;
    b += len;
  }
  size_t e = s.size();
  while (e > b) {
    // Step back to the start of the last code point.
    size_t start = e - 1;
    while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 && e - start < 4) {
      --start;
    }
    size_t len = 0;
    uint32_t cp = DecodeRune(s, start, &len);
    if (start + len != e) {
      start = e - 1;
      cp = 0xFFFD;
    }
    if (!cut(cp)) break;
    e = start;
  }
  return std::string(s.substr(b, e - b));
}

std::vector<uint32_t> Runes(std::string_view s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    size_t len = 0;
    out.push_back(DecodeRune(s, i, &len));
    i += len;
  }
  return out;
}

size_t CountOf(std::string_view s, std::string_view sep) {
  if (sep.empty()) return RuneCount(s) + 1;
  size_t n = 0;
  for (size_t pos = s.find(sep); pos != std::string_view::npos;
       pos = s.find(sep, pos + sep.size())) {
    ++n;
  }
  return n;
}

// strings.SplitN / SplitAfterN.
Array GoSplit(std::string_view s, std::string_view sep, size_t keep, int64_t n) {
  Array out;
  if (n == 0) return out;
  if (sep.empty()) {
    // One element per UTF-8 sequence; with n > 0 the last one holds the rest.
    size_t total = RuneCount(s);
    if (n < 0 || static_cast<uint64_t>(n) > total) n = static_cast<int64_t>(total);
    size_t i = 0;
    for (int64_t k = 0; k < n - 1 && i < s.size(); ++k) {
      size_t len = 0;
      DecodeRune(s, i, &len);
      out.push_back(Value::String(std::string(s.substr(i, len))));
      i += len;
    }
    if (n > 0) out.push_back(Value::String(std::string(s.substr(i))));
    return out;
  }
  if (n < 0) n = static_cast<int64_t>(CountOf(s, sep)) + 1;
  if (static_cast<uint64_t>(n) > s.size() + 1) n = static_cast<int64_t>(s.size()) + 1;
  int64_t i = 0;
  while (i < n - 1) {
    size_t m = s.find(sep);
    if (m == std::string_view::npos) break;
    out.push_back(Value::String(std::string(s.substr(0, m + keep))));
    s.remove_prefix(m + sep.size());
    ++i;
  }
  out.push_back(Value::String(std::string(s)));
  return out;
}

// strings.Replace.
std::string GoReplace(std::string_view s, std::string_view old, std::string_view repl, int64_t n) {
  if (old == repl || n == 0) return std::string(s);
  size_t m = CountOf(s, old);
  if (m == 0) return std::string(s);
  if (n < 0 || m < static_cast<uint64_t>(n)) n = static_cast<int64_t>(m);
  std::string out;
  size_t start = 0;
  for (int64_t i = 0; i < n; ++i) {
    size_t j = start;
    if (old.empty()) {
      if (i > 0 && start < s.size()) {
        size_t len = 0;
        DecodeRune(s, start, &len);
        j += len;
      }
    } else {
      j = s.find(old, start);
    }
    out.append(s.substr(start, j - start));
    out.append(repl);
    start = j + old.size();
  }
  if (start < s.size()) out.append(s.substr(start));
  return out;
}

std::string AsciiCase(std::string_view s, bool upper) {
  std::string out(s);
  for (char& ch : out) {
    if (upper && ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
    if (!upper && ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return out;
}

// ---- Number parsing (Go's strconv) -------------------------------------------------------------

bool GoParseInt(std::string_view s, int64_t* out, std::string* err) {
  std::string_view orig = s;
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) {
    *err = "strconv.ParseInt: parsing " + Quote(orig) + ": invalid syntax";
    return false;
  }
  uint64_t v = 0;
  const uint64_t limit = neg ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  bool range = false;
  for (char ch : s) {
    if (ch < '0' || ch > '9') {
      *err = "strconv.ParseInt: parsing " + Quote(orig) + ": invalid syntax";
      return false;
    }
    if (!range) {
      if (v > (limit - static_cast<uint64_t>(ch - '0')) / 10) {
        range = true;
      } else {
        v = v * 10 + static_cast<uint64_t>(ch - '0');
      }
    }
  }
  if (range) {
    *err = "strconv.ParseInt: parsing " + Quote(orig) + ": value out of range";
    return false;
  }
  *out = neg ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
  return true;
}

bool GoParseFloat(std::string_view s, double* out, std::string* err) {
  std::string_view orig = s;
  auto syntax = [&] {
    *err = "strconv.ParseFloat: parsing " + Quote(orig) + ": invalid syntax";
    return false;
  };
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s[0] == '+' || s[0] == '-') return syntax();
  std::string lower = AsciiCase(s, false);
  if (lower == "inf" || lower == "infinity") {
    *out = neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    return true;
  }
  if (lower == "nan") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  double v = 0;
  std::from_chars_result res{};
  if (lower.size() > 2 && lower[0] == '0' && lower[1] == 'x') {
    std::string hex = lower.substr(2);
    hex.erase(std::remove(hex.begin(), hex.end(), '_'), hex.end());
    if (hex.find('p') == std::string::npos) return syntax();  // Go requires the p exponent
    res = std::from_chars(hex.data(), hex.data() + hex.size(), v, std::chars_format::hex);
    if (res.ptr != hex.data() + hex.size()) return syntax();
  } else {
    if (lower.find_first_of("infa") != std::string::npos) return syntax();
    res = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
    if (res.ptr != s.data() + s.size()) return syntax();
  }
  if (res.ec == std::errc::result_out_of_range) {
    *err = "strconv.ParseFloat: parsing " + Quote(orig) + ": value out of range";
    return false;
  }
  if (res.ec != std::errc()) return syntax();
  *out = neg ? -v : v;
  return true;
}

// ---- JSON and base64 ----------------------------------------------------------------------------

bool AppendJson(std::string& out, const Value& v, int level, std::string* err) {
  auto indent = [&](int l) {
    out += '\n';
    out.append(static_cast<size_t>(l) * 2, ' ');
  };
  switch (v.kind()) {
    case Kind::kNil:
      out += "null";
      return true;
    case Kind::kBool:
      out += v.bool_value() ? "true" : "false";
      return true;
    case Kind::kInt:
    case Kind::kDuration:
      out += std::to_string(v.int_value());
      return true;
    case Kind::kFloat:
      if (!std::isfinite(v.float_value())) {
        *err = "json: unsupported value: " + FormatGoFloat(v.float_value());
        return false;
      }
      out += FormatJsonFloat(v.float_value());
      return true;
    case Kind::kString:
      AppendJsonString(out, v.string_value());
      return true;
    case Kind::kTime:
      AppendJsonString(out, Rfc3339Nano(v.time_value()));
      return true;
    case Kind::kArray: {
      if (v.array().empty()) {
        out += "[]";
        return true;
      }
      out += '[';
      bool first = true;
      for (const Value& item : v.array()) {
        if (!first) out += ',';
        first = false;
        indent(level + 1);
        if (!AppendJson(out, item, level + 1, err)) return false;
      }
      indent(level);
      out += ']';
      return true;
    }
    case Kind::kMap: {
      if (v.map().empty()) {
        out += "{}";
        return true;
      }
      out += '{';
      bool first = true;
      for (const auto& [k, item] : v.map()) {
        if (!first) out += ',';
        first = false;
        indent(level + 1);
        AppendJsonString(out, k);
        out += ": ";
        if (!AppendJson(out, item, level + 1, err)) return false;
      }
      indent(level);
      out += '}';
      return true;
    }
  }
  return true;
}

// Go's json.Unmarshal into `any`: every number is a float64.
bool FromGoJson(const nlohmann::json& j, int depth, Value* out) {
  switch (j.type()) {
    case nlohmann::json::value_t::number_integer:
      *out = Value::Float(static_cast<double>(j.get<int64_t>()));
      return true;
    case nlohmann::json::value_t::number_unsigned:
      *out = Value::Float(static_cast<double>(j.get<uint64_t>()));
      return true;
    case nlohmann::json::value_t::array: {
      if (depth >= kMaxValueDepth) return false;
      Array items;
      items.reserve(j.size());
      for (const auto& e : j) {
        Value v;
        if (!FromGoJson(e, depth + 1, &v)) return false;
        items.push_back(std::move(v));
      }
      *out = Value::MakeArray(std::move(items));
      return true;
    }
    case nlohmann::json::value_t::object: {
      if (depth >= kMaxValueDepth) return false;
      MapEntries entries;
      for (auto it = j.begin(); it != j.end(); ++it) {
        Value v;
        if (!FromGoJson(it.value(), depth + 1, &v)) return false;
        entries.emplace_back(it.key(), std::move(v));
      }
      *out = Value::MakeMap(std::move(entries));
      return true;
    }
    default:
      *out = FromJson(j);
      return true;
  }
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string ToBase64(std::string_view s) {
  std::string out;
  out.reserve((s.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(s[i]) << 16) | (static_cast<uint8_t>(s[i + 1]) << 8) |
                 static_cast<uint8_t>(s[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i + 1 == s.size()) {
    uint32_t v = static_cast<uint8_t>(s[i]) << 16;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == s.size()) {
    uint32_t v = (static_cast<uint8_t>(s[i]) << 16) | (static_cast<uint8_t>(s[i + 1]) << 8);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

bool FromBase64(std::string_view s, std::string* out, std::string* err) {
  auto val = [](char ch) -> int {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
  };
  // Go's decoder skips \r and \n anywhere.
  std::string clean;
  std::vector<size_t> pos;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' || s[i] == '\n') continue;
    clean += s[i];
    pos.push_back(i);
  }
  auto bad = [&](size_t at) {
    size_t p = at < pos.size() ? pos[at] : s.size();
    *err = "illegal base64 data at input byte " + std::to_string(p);
    return false;
  };
  out->clear();
  for (size_t i = 0; i < clean.size(); i += 4) {
    int q[4];
    int n = 0;
    for (size_t k = 0; k < 4; ++k) {
      if (i + k >= clean.size()) return bad(i + k);
      char ch = clean[i + k];
      if (ch == '=') {
        // Padding: only in the last quantum, after at least two symbols.
        if (k < 2) return bad(i + k);
        for (size_t r = k; r < 4; ++r) {
          if (i + r >= clean.size() || clean[i + r] != '=') return bad(i + r);
        }
        if (i + 4 != clean.size()) return bad(i + 4);
        break;
      }
      q[k] = val(ch);
      if (q[k] < 0) return bad(i + k);
      ++n;
    }
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v = (v << 6) | static_cast<uint32_t>(k < n ? q[k] : 0);
    out->push_back(static_cast<char>(v >> 16));
    if (n > 2) out->push_back(static_cast<char>((v >> 8) & 0xFF));
    if (n > 3) out->push_back(static_cast<char>(v & 0xFF));
  }
  return true;
}

// ---- The tree walker ----------------------------------------------------------------------------

bool Eval(const Node& n, Ctx& c, Value& out);
const Value* Ref(const Node& n, Ctx& c, Value& tmp);

bool CheckDepth(Ctx& c, const Node& n, const Value& v) {
  if (v.depth() > kMaxValueDepth) {
    return Raise(
        c, n, "value nested too deeply (more than " + std::to_string(kMaxValueDepth) + " levels)");
  }
  return true;
}

// base[key]: a pointer into base, to NilValue(), or to `owned`; nullptr on error.
const Value* Lookup(const Node& n, Ctx& c, const Value& base, const Value& key, Value& owned) {
  const Node& base_node = *n.kids[0];
  const bool dot = !n.name.empty();
  switch (base.kind()) {
    case Kind::kArray:
    case Kind::kString: {
      int64_t i = 0;
      if (!ToIntArg(key, &i)) {
        std::string hint;
        if (dot && base.kind() == Kind::kArray) {
          hint = base_node.kind == NodeKind::kResult
                     ? " (result is an array \xE2\x80\x94 did you mean result[0]." + n.name + "?)"
                     : " (arrays have no fields)";
        }
        Raise(c, n,
              "cannot index " + std::string(base.TypeName()) + " with " +
                  std::string(key.TypeName()) + hint);
        return nullptr;
      }
      const size_t len =
          base.kind() == Kind::kArray ? base.array().size() : base.string_value().size();
      int64_t at = i < 0 ? i + static_cast<int64_t>(len) : i;
      if (at < 0 || static_cast<uint64_t>(at) >= len) {
        std::string msg = "index out of range";
        if (len == 0) {
          msg += base_node.kind == NodeKind::kResult && base.kind() == Kind::kArray
                     ? " (the array is empty \xE2\x80\x94 e.g. the query returned an empty vector)"
                 : base.kind() == Kind::kArray ? " (the array is empty)"
                                               : " (the string is empty)";
        } else {
          msg += ": " + std::to_string(i) + " (the " +
                 std::string(base.kind() == Kind::kArray ? "array has " : "string has ") +
                 std::to_string(len) + (base.kind() == Kind::kArray ? " elements)" : " bytes)");
        }
        Raise(c, n, msg);
        return nullptr;
      }
      if (base.kind() == Kind::kArray) return &base.array()[static_cast<size_t>(at)];
      owned = Value::Int(static_cast<unsigned char>(base.string_value()[static_cast<size_t>(at)]));
      return &owned;
    }
    case Kind::kMap: {
      if (key.kind() == Kind::kString) {
        const Value* v = base.Find(key.string_value());
        return v != nullptr ? v : &NilValue();
      }
      std::string k;
      if (!KeyOf(key, &k)) {
        Raise(c, n, "cannot use " + std::string(key.TypeName()) + " as a map key");
        return nullptr;
      }
      const Value* v = base.Find(k);
      return v != nullptr ? v : &NilValue();
    }
    case Kind::kNil:
      Raise(c, n,
            (dot ? "cannot read field " + Quote(n.name) + " of nil"
                 : "cannot index nil with " + key.ToString()) +
                Hint(base_node, base));
      return nullptr;
    default:
      if (dot && (base.kind() == Kind::kTime || base.kind() == Kind::kDuration)) {
        Raise(c, n,
              n.name + " is not a field of " + std::string(base.TypeName()) +
                  " (methods are called: ." + n.name + "())");
        return nullptr;
      }
      Raise(c, n,
            (dot ? "cannot read field " + Quote(n.name) + " of " : "cannot index ") +
                std::string(base.TypeName()));
      return nullptr;
  }
}

const Value* Ref(const Node& n, Ctx& c, Value& tmp) {
  switch (n.kind) {
    case NodeKind::kConst:
      if (!Step(c)) return nullptr;
      return &n.constant;
    case NodeKind::kResult:
      if (!Step(c)) return nullptr;
      return &c.env.result;
    case NodeKind::kVar:
      if (!Step(c)) return nullptr;
      return &c.vars[static_cast<size_t>(n.slot)];
    case NodeKind::kPointer: {
      if (!Step(c)) return nullptr;
      const Frame& f = c.frames.back();
      return &(*f.items)[f.index];
    }
    case NodeKind::kIndex: {
      if (!Step(c)) return nullptr;
      Value base_tmp;
      const Value* base = Ref(*n.kids[0], c, base_tmp);
      if (base == nullptr) return nullptr;
      if (c.short_circuit || (base->is_nil() && n.optional)) {
        c.short_circuit = true;
        tmp = Value();
        return &tmp;
      }
      Value key_tmp;
      const Value* key = Ref(*n.kids[1], c, key_tmp);
      if (key == nullptr) return nullptr;
      Value owned;
      const Value* r = Lookup(n, c, *base, *key, owned);
      if (r == nullptr) return nullptr;
      if (r == &owned || base == &base_tmp) {
        tmp = *r;
        return &tmp;
      }
      return r;
    }
    default:
      if (!Eval(n, c, tmp)) return nullptr;
      return &tmp;
  }
}

bool NeedBool(Ctx& c, const Node& where, const Node& operand, const Value& v,
              std::string_view what) {
  if (v.kind() == Kind::kBool) return true;
  return Raise(c, where,
               std::string(what) + ", got " + std::string(v.TypeName()) + Hint(operand, v));
}

bool EvalBinary(const Node& n, Ctx& c, Value& out) {
  Value lt;
  const Value* a = Ref(*n.kids[0], c, lt);
  if (a == nullptr) return false;
  Value rt;
  const Value* b = Ref(*n.kids[1], c, rt);
  if (b == nullptr) return false;
  std::string err;
  switch (n.op) {
    case Op::kEq:
      out = Value::Bool(Equal(*a, *b));
      return true;
    case Op::kNe:
      out = Value::Bool(!Equal(*a, *b));
      return true;
    case Op::kLt:
    case Op::kGt:
    case Op::kLe:
    case Op::kGe: {
      bool r = false;
      if (!Compare(n.op, *a, *b, &r)) {
        std::string hint = Hint(*n.kids[0], *a);
        if (hint.empty()) hint = Hint(*n.kids[1], *b);
        return Raise(c, n, OpError(n.op, *a, *b) + hint);
      }
      out = Value::Bool(r);
      return true;
    }
    case Op::kIn: {
      bool r = false;
      if (!InOp(*a, *b, &r, &err)) return Raise(c, n, err);
      out = Value::Bool(r);
      return true;
    }
    case Op::kContains:
    case Op::kStartsWith:
    case Op::kEndsWith: {
      if (a->is_nil() || b->is_nil()) {
        out = Value::Bool(false);
        return true;
      }
      if (a->kind() != Kind::kString || b->kind() != Kind::kString) {
        return Raise(c, n, OpError(n.op, *a, *b) + " (both sides must be strings)");
      }
      std::string_view s = a->string_value();
      std::string_view t = b->string_value();
      bool r = n.op == Op::kContains ? s.find(t) != std::string_view::npos
               : n.op == Op::kStartsWith
                   ? s.substr(0, t.size()) == t
                   : s.size() >= t.size() && s.substr(s.size() - t.size()) == t;
      out = Value::Bool(r);
      return true;
    }
    case Op::kMatches: {
      if (a->is_nil() || b->is_nil()) {
        out = Value::Bool(false);
        return true;
      }
      if (a->kind() != Kind::kString || b->kind() != Kind::kString) {
        return Raise(c, n, OpError(n.op, *a, *b) + " (both sides must be strings)");
      }
      if (n.regex != nullptr) {
        out = Value::Bool(RE2::PartialMatch(a->string_value(), *n.regex));
        return true;
      }
      RE2::Options opts;
      opts.set_log_errors(false);
      RE2 re(b->string_value(), opts);
      if (!re.ok()) {
        return Raise(c, n,
                     "invalid regular expression " + Quote(b->string_value()) + ": " + re.error());
      }
      out = Value::Bool(RE2::PartialMatch(a->string_value(), re));
      return true;
    }
    case Op::kRange: {
      int64_t lo = 0;
      int64_t hi = 0;
      if (!ToIntArg(*a, &lo) || !ToIntArg(*b, &hi)) return Raise(c, n, OpError(n.op, *a, *b));
      Array items;
      if (hi >= lo) {
        uint64_t size = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) + 1;
        if (size == 0 || size > c.budget - std::min(c.budget, c.steps)) {
          return OverBudget(c);
        }
        if (!Charge(c, size)) return false;
        items.reserve(size);
        for (uint64_t i = 0; i < size; ++i) {
          items.push_back(Value::Int(static_cast<int64_t>(static_cast<uint64_t>(lo) + i)));
        }
      }
      out = Value::MakeArray(std::move(items));
      return true;
    }
    default: {
      std::string hint = Hint(*n.kids[0], *a);
      if (hint.empty()) hint = Hint(*n.kids[1], *b);
      if (!Arith(n.op, *a, *b, out, &err)) return Raise(c, n, err + hint);
      if (out.kind() == Kind::kString && !Charge(c, out.string_value().size() / 8)) return false;
      return true;
    }
  }
}

// ---- Methods on time.Time and time.Duration -----------------------------------------------------

constexpr int64_t kNs = 1'000'000'000;

__extension__ typedef __int128 Int128;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

bool TimeMethod(const Node& n, Ctx& c, const Value& t, const std::vector<Value>& args, Value& out) {
  const std::string& m = n.name;
  const int64_t ns = t.int_value();
  auto civil = [&]() {
    int64_t days = FloorDiv(ns, 86400 * kNs);
    std::chrono::sys_days sd{std::chrono::days(days)};
    return std::make_pair(std::chrono::year_month_day(sd), ns - days * 86400 * kNs);
  };
  auto want = [&](size_t count, Kind kind) {
    if (args.size() != count) return false;
    for (const Value& a : args) {
      if (a.kind() != kind) return false;
    }
    return true;
  };
  auto usage = [&](std::string_view sig) {
    return Raise(c, n, "time.Time." + m + " takes " + std::string(sig));
  };
  if (m == "Year" || m == "Month" || m == "Day" || m == "Hour" || m == "Minute" || m == "Second" ||
      m == "Nanosecond" || m == "Weekday" || m == "YearDay") {
    if (!args.empty()) return usage("no arguments");
    auto [ymd, sod] = civil();
    int64_t v = 0;
    if (m == "Year") v = static_cast<int>(ymd.year());
    if (m == "Month") v = static_cast<unsigned>(ymd.month());
    if (m == "Day") v = static_cast<unsigned>(ymd.day());
    if (m == "Hour") v = sod / (3600 * kNs);
    if (m == "Minute") v = sod / (60 * kNs) % 60;
    if (m == "Second") v = sod / kNs % 60;
    if (m == "Nanosecond") v = sod % kNs;
    if (m == "Weekday") v = std::chrono::weekday(std::chrono::sys_days(ymd)).c_encoding();
    if (m == "YearDay") {
      v = (std::chrono::sys_days(ymd) - std::chrono::sys_days(ymd.year() / 1 / 1)).count() + 1;
    }
    out = Value::Int(v);
    return true;
  }
  if (m == "Unix" || m == "UnixMilli" || m == "UnixMicro" || m == "UnixNano") {
    if (!args.empty()) return usage("no arguments");
    int64_t div = m == "Unix" ? kNs : m == "UnixMilli" ? 1'000'000 : m == "UnixMicro" ? 1'000 : 1;
    out = Value::Int(FloorDiv(ns, div));
    return true;
  }
  if (m == "UTC" || m == "Local") {
    if (!args.empty()) return usage("no arguments");
    out = t;
    return true;
  }
  if (m == "IsZero") {
    if (!args.empty()) return usage("no arguments");
    out = Value::Bool(false);  // Go's zero time (year 1) is outside ramp's range
    return true;
  }
  if (m == "String") {
    if (!args.empty()) return usage("no arguments");
    out = Value::String(GoTimeString(t.time_value()));
    return true;
  }
  if (m == "Format") {
    if (!want(1, Kind::kString)) return usage("a layout string");
    out = Value::String(FormatGoTime(t.time_value(), args[0].string_value()));
    return true;
  }
  if (m == "Add") {
    if (!want(1, Kind::kDuration)) return usage("a time.Duration");
    int64_t r = 0;
    if (!TimeAdd(ns, args[0].int_value(), &r)) return Raise(c, n, "time out of range");
    out = Value::MakeTime(Time(Duration(r)));
    return true;
  }
  if (m == "Sub") {
    if (!want(1, Kind::kTime)) return usage("a time.Time");
    std::string err;
    return Arith(Op::kSub, t, args[0], out, &err) || Raise(c, n, err);
  }
  if (m == "Before" || m == "After" || m == "Equal" || m == "Compare") {
    if (!want(1, Kind::kTime)) return usage("a time.Time");
    int64_t o = args[0].int_value();
    if (m == "Before") out = Value::Bool(ns < o);
    if (m == "After") out = Value::Bool(ns > o);
    if (m == "Equal") out = Value::Bool(ns == o);
    if (m == "Compare") out = Value::Int(ns < o ? -1 : ns > o ? 1 : 0);
    return true;
  }
  if (m == "AddDate") {
    if (!want(3, Kind::kInt)) return usage("three ints (years, months, days)");
    auto [ymd, sod] = civil();
    int64_t months = static_cast<int64_t>(static_cast<int>(ymd.year())) * 12 +
                     static_cast<unsigned>(ymd.month()) - 1 + args[0].int_value() * 12 +
                     args[1].int_value();
    if (months < 0 || months > 12 * 10000) return Raise(c, n, "time out of range");
    std::chrono::year_month_day first{std::chrono::year(static_cast<int>(months / 12)),
                                      std::chrono::month(static_cast<unsigned>(months % 12 + 1)),
                                      std::chrono::day(1)};
    int64_t days = std::chrono::sys_days(first).time_since_epoch().count() +
                   static_cast<unsigned>(ymd.day()) - 1 + args[2].int_value();
    int64_t r = 0;
    if (__builtin_mul_overflow(days, 86400 * kNs, &r) || __builtin_add_overflow(r, sod, &r)) {
      return Raise(c, n, "time out of range");
    }
    out = Value::MakeTime(Time(Duration(r)));
    return true;
  }
  if (m == "Truncate" || m == "Round") {
    if (!want(1, Kind::kDuration)) return usage("a time.Duration");
    int64_t d = args[0].int_value();
    if (d <= 0) {
      out = t;
      return true;
    }
    // Go rounds relative to its zero time, 0001-01-01, 62135596800 s before the Unix epoch.
    Int128 abs = static_cast<Int128>(ns) + static_cast<Int128>(62135596800LL) * kNs;
    Int128 r = abs % d;
    Int128 res = static_cast<Int128>(ns) - r;
    if (m == "Round" && r + r >= d) res += d;
    if (res > std::numeric_limits<int64_t>::max() || res < std::numeric_limits<int64_t>::min()) {
      return Raise(c, n, "time out of range");
    }
    out = Value::MakeTime(Time(Duration(static_cast<int64_t>(res))));
    return true;
  }
  return Raise(c, n, "time.Time has no method " + m);
}

bool DurationMethod(const Node& n, Ctx& c, const Value& d, const std::vector<Value>& args,
                    Value& out) {
  const std::string& m = n.name;
  const int64_t ns = d.int_value();
  auto usage = [&](std::string_view sig) {
    return Raise(c, n, "time.Duration." + m + " takes " + std::string(sig));
  };
  auto frac = [&](int64_t unit) {
    return static_cast<double>(ns / unit) +
           static_cast<double>(ns % unit) / static_cast<double>(unit);
  };
  if (m == "Hours" || m == "Minutes" || m == "Seconds") {
    if (!args.empty()) return usage("no arguments");
    out = Value::Float(frac(m == "Hours" ? 3600 * kNs : m == "Minutes" ? 60 * kNs : kNs));
    return true;
  }
  if (m == "Milliseconds" || m == "Microseconds" || m == "Nanoseconds") {
    if (!args.empty()) return usage("no arguments");
    out = Value::Int(ns / (m == "Milliseconds" ? 1'000'000 : m == "Microseconds" ? 1'000 : 1));
    return true;
  }
  if (m == "String") {
    if (!args.empty()) return usage("no arguments");
    out = Value::String(FormatGoDuration(d.duration_value()));
    return true;
  }
  if (m == "Abs") {
    if (!args.empty()) return usage("no arguments");
    out = Value::MakeDuration(Duration(ns >= 0 ? ns
                                       : ns == std::numeric_limits<int64_t>::min()
                                           ? std::numeric_limits<int64_t>::max()
                                           : -ns));
    return true;
  }
  if (m == "Truncate" || m == "Round") {
    if (args.size() != 1 || args[0].kind() != Kind::kDuration) return usage("a time.Duration");
    int64_t u = args[0].int_value();
    if (u <= 0) {
      out = d;
      return true;
    }
    int64_t r = ns % u;
    Int128 res = static_cast<Int128>(ns) - r;
    if (m == "Round") {
      if (ns < 0) {
        r = -r;
        if (r + r >= u) res -= u;
      } else if (r + r >= u) {
        res += u;
      }
    }
    if (res > std::numeric_limits<int64_t>::max()) res = std::numeric_limits<int64_t>::max();
    if (res < std::numeric_limits<int64_t>::min()) res = std::numeric_limits<int64_t>::min();
    out = Value::MakeDuration(Duration(static_cast<int64_t>(res)));
    return true;
  }
  return Raise(c, n, "time.Duration has no method " + m);
}

bool EvalMethod(const Node& n, Ctx& c, Value& out) {
  Value base_tmp;
  const Value* base = Ref(*n.kids[0], c, base_tmp);
  if (base == nullptr) return false;
  if (c.short_circuit || (base->is_nil() && n.optional)) {
    c.short_circuit = true;
    out = Value();
    return true;
  }
  std::vector<Value> args;
  args.reserve(n.kids.size() - 1);
  for (size_t i = 1; i < n.kids.size(); ++i) {
    Value v;
    if (!Eval(*n.kids[i], c, v)) return false;
    args.push_back(std::move(v));
  }
  if (base->kind() == Kind::kTime) return TimeMethod(n, c, *base, args, out);
  if (base->kind() == Kind::kDuration) return DurationMethod(n, c, *base, args, out);
  return Raise(c, n,
               "cannot call method " + n.name + " on " + std::string(base->TypeName()) +
                   Hint(*n.kids[0], *base));
}

// ---- Predicate builtins -------------------------------------------------------------------------

struct FrameGuard {
  explicit FrameGuard(Ctx& ctx, const Array* items) : c(ctx) {
    c.frames.push_back(Frame{items, 0, Value()});
  }
  ~FrameGuard() { c.frames.pop_back(); }
  FrameGuard(const FrameGuard&) = delete;
  FrameGuard& operator=(const FrameGuard&) = delete;
  Frame& frame() { return c.frames.back(); }
  Ctx& c;
};

bool EvalPredicate(const Node& n, Ctx& c, Value& out) {
  const std::string_view name = GetBuiltin(n.builtin).name;
  Value coll_tmp;
  const Value* coll = Ref(*n.kids[0], c, coll_tmp);
  if (coll == nullptr) return false;
  if (coll->kind() != Kind::kArray) {
    return Raise(c, n,
                 std::string(name) + "() needs an array, got " + std::string(coll->TypeName()) +
                     Hint(*n.kids[0], *coll));
  }
  const Array& items = coll->array();
  const Node* pred = n.kids.size() > 1 ? n.kids[1].get() : nullptr;
  // sortBy's order is evaluated before the loop.
  bool desc = false;
  if (n.builtin == Builtin::kSortBy && n.kids.size() > 2) {
    Value order;
    if (!Eval(*n.kids[2], c, order)) return false;
    if (order.kind() != Kind::kString) {
      return Raise(c, n,
                   "sortBy order argument must be a string, got " + std::string(order.TypeName()));
    }
    if (order.string_value() == "desc") {
      desc = true;
    } else if (order.string_value() != "asc") {
      return Raise(c, n, "unknown order " + Quote(order.string_value()) + ", use asc or desc");
    }
  }
  FrameGuard guard(c, &items);
  Value v;
  // Evaluates the closure for element i into v.
  auto run = [&](size_t i) -> bool {
    guard.frame().index = i;
    return Eval(*pred, c, v);
  };
  auto run_bool = [&](size_t i, bool* r) -> bool {
    if (!run(i)) return false;
    if (v.kind() != Kind::kBool) {
      return Raise(c, *pred,
                   "the predicate of " + std::string(name) + "() must return a bool, got " +
                       std::string(v.TypeName()));
    }
    *r = v.bool_value();
    return true;
  };
  const size_t size = items.size();
  switch (n.builtin) {
    case Builtin::kAll:
    case Builtin::kNone:
    case Builtin::kAny: {
      const bool stop_on = n.builtin != Builtin::kAll;  // any/none stop on a true
      for (size_t i = 0; i < size; ++i) {
        bool r = false;
        if (!run_bool(i, &r)) return false;
        if (r == stop_on) {
          out = Value::Bool(n.builtin == Builtin::kAny);
          return true;
        }
      }
      out = Value::Bool(n.builtin != Builtin::kAny);
      return true;
    }
    case Builtin::kOne: {
      int64_t count = 0;
      for (size_t i = 0; i < size; ++i) {
        bool r = false;
        if (!run_bool(i, &r)) return false;
        count += r ? 1 : 0;
      }
      out = Value::Bool(count == 1);
      return true;
    }
    case Builtin::kFilter: {
      Array kept;
      for (size_t i = 0; i < size; ++i) {
        bool r = false;
        if (!run_bool(i, &r)) return false;
        if (r) {
          if (!Charge(c, 1)) return false;
          kept.push_back(items[i]);
        }
      }
      out = Value::MakeArray(std::move(kept));
      return true;
    }
    case Builtin::kMap: {
      Array mapped;
      mapped.reserve(size);
      for (size_t i = 0; i < size; ++i) {
        if (!run(i) || !Charge(c, 1)) return false;
        mapped.push_back(std::move(v));
      }
      out = Value::MakeArray(std::move(mapped));
      return CheckDepth(c, n, out);
    }
    case Builtin::kCount: {
      int64_t count = 0;
      for (size_t i = 0; i < size; ++i) {
        bool r = false;
        if (pred != nullptr) {
          if (!run_bool(i, &r)) return false;
        } else {
          if (!Step(c)) return false;
          if (items[i].kind() != Kind::kBool) {
            return Raise(c, n,
                         "count() without a predicate counts bools, got " +
                             std::string(items[i].TypeName()));
          }
          r = items[i].bool_value();
        }
        count += r ? 1 : 0;
      }
      out = Value::Int(count);
      return true;
    }
    case Builtin::kSum: {
      Value acc = Value::Int(0);
      for (size_t i = 0; i < size; ++i) {
        const Value* item = &items[i];
        if (pred != nullptr) {
          if (!run(i)) return false;
          item = &v;
        } else if (!Step(c)) {
          return false;
        }
        Value next;
        std::string err;
        if (!Arith(Op::kAdd, *item, acc, next, &err)) return Raise(c, n, "sum(): " + err);
        acc = std::move(next);
      }
      out = std::move(acc);
      return true;
    }
    case Builtin::kFind:
    case Builtin::kFindIndex:
      for (size_t i = 0; i < size; ++i) {
        bool r = false;
        if (!run_bool(i, &r)) return false;
        if (r) {
          out = n.builtin == Builtin::kFind ? items[i] : Value::Int(static_cast<int64_t>(i));
          return true;
        }
      }
      out = Value();
      return true;
    case Builtin::kFindLast:
    case Builtin::kFindLastIndex:
      for (size_t i = size; i-- > 0;) {
        bool r = false;
        if (!run_bool(i, &r)) return false;
        if (r) {
          out = n.builtin == Builtin::kFindLast ? items[i] : Value::Int(static_cast<int64_t>(i));
          return true;
        }
      }
      out = Value();
      return true;
    case Builtin::kGroupBy: {
      std::vector<std::pair<std::string, Array>> groups;
      for (size_t i = 0; i < size; ++i) {
        if (!run(i) || !Charge(c, 1)) return false;
        std::string key;
        if (!KeyOf(v, &key)) {
          return Raise(c, *pred,
                       "groupBy() keys must be scalars, got " + std::string(v.TypeName()));
        }
        auto it = std::find_if(groups.begin(), groups.end(),
                               [&](const auto& g) { return g.first == key; });
        if (it == groups.end()) {
          groups.emplace_back(std::move(key), Array{items[i]});
        } else {
          it->second.push_back(items[i]);
        }
      }
      MapEntries entries;
      entries.reserve(groups.size());
      for (auto& [k, members] : groups) {
        entries.emplace_back(std::move(k), Value::MakeArray(std::move(members)));
      }
      out = Value::MakeMap(std::move(entries));
      return CheckDepth(c, n, out);
    }
    case Builtin::kSortBy: {
      std::vector<Value> keys;
      keys.reserve(size);
      for (size_t i = 0; i < size; ++i) {
        if (!run(i) || !Charge(c, 1)) return false;
        keys.push_back(std::move(v));
      }
      std::vector<const Value*> key_ptrs;
      for (const Value& k : keys) key_ptrs.push_back(&k);
      std::string err;
      if (!Sortable(key_ptrs, &err)) return Raise(c, n, "sortBy(): " + err);
      std::vector<size_t> order(size);
      std::iota(order.begin(), order.end(), size_t{0});
      std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
        return desc ? SortLess(keys[y], keys[x]) : SortLess(keys[x], keys[y]);
      });
      Array sorted;
      sorted.reserve(size);
      for (size_t i : order) sorted.push_back(items[i]);
      out = Value::MakeArray(std::move(sorted));
      return true;
    }
    case Builtin::kReduce: {
      size_t start = 0;
      Value acc;
      if (n.kids.size() > 2) {
        if (!Eval(*n.kids[2], c, acc)) return false;
      } else {
        if (size == 0) return Raise(c, n, "reduce of empty array with no initial value");
        acc = items[0];
        start = 1;
      }
      for (size_t i = start; i < size; ++i) {
        guard.frame().acc = std::move(acc);
        if (!run(i)) return false;
        acc = std::move(v);
        if (!CheckDepth(c, n, acc)) return false;
      }
      out = std::move(acc);
      return true;
    }
    default:
      return Raise(c, n, "internal error: not a predicate builtin");
  }
}

// ---- Plain builtins -----------------------------------------------------------------------------

// Collects the numbers of nested arrays for max/min/mean/median.
bool CollectNumbers(const Value& v, std::vector<const Value*>* out, std::string_view name,
                    std::string* err) {
  if (v.is_number()) {
    out->push_back(&v);
    return true;
  }
  if (v.kind() == Kind::kArray) {
    for (const Value& item : v.array()) {
      if (!CollectNumbers(item, out, name, err)) return false;
    }
    return true;
  }
  *err = "invalid argument for " + std::string(name) + " (type " + std::string(v.TypeName()) + ")";
  return false;
}

bool NumberLess(const Value& a, const Value& b) {
  if (a.kind() == Kind::kInt && b.kind() == Kind::kInt) return a.int_value() < b.int_value();
  return a.AsDouble() < b.AsDouble();
}

void Flatten(const Value& v, Array* out) {
  for (const Value& item : v.array()) {
    if (item.kind() == Kind::kArray) {
      Flatten(item, out);
    } else {
      out->push_back(item);
    }
  }
}

bool IsUtcZone(std::string_view tz) { return tz.empty() || tz == "UTC"; }

bool EvalBuiltin(const Node& n, Ctx& c, Value& out) {
  const BuiltinInfo& info = GetBuiltin(n.builtin);
  if (info.predicate) return EvalPredicate(n, c, out);
  const std::string name(info.name);
  // Evaluate the arguments (by reference where possible: a long array is not copied).
  const size_t argc = n.kids.size();
  Value tmps[4];
  const Value* fixed[4] = {nullptr, nullptr, nullptr, nullptr};
  std::vector<Value> many;
  std::vector<const Value*> many_ptrs;
  const Value* const* args = fixed;
  if (argc <= 4) {
    for (size_t i = 0; i < argc; ++i) {
      fixed[i] = Ref(*n.kids[i], c, tmps[i]);
      if (fixed[i] == nullptr) return false;
    }
  } else {
    many.resize(argc);
    for (size_t i = 0; i < argc; ++i) {
      if (!Eval(*n.kids[i], c, many[i])) return false;
      many_ptrs.push_back(&many[i]);
    }
    args = many_ptrs.data();
  }
  auto arg = [&](size_t i) -> const Value& { return *args[i]; };
  auto bad_arg = [&](size_t i, std::string_view want) {
    return Raise(c, n,
                 "invalid argument for " + name + " (expected " + std::string(want) + ", got " +
                     std::string(arg(i).TypeName()) + ")" + Hint(*n.kids[i], arg(i)));
  };
  auto want_string = [&](size_t i) { return arg(i).kind() == Kind::kString; };
  auto str = [&](size_t i) -> const std::string& { return arg(i).string_value(); };
  auto set_string = [&](std::string s) {
    if (!Charge(c, s.size() / 8)) return false;
    out = Value::String(std::move(s));
    return true;
  };
  std::string err;
  switch (n.builtin) {
    case Builtin::kLen:
      switch (arg(0).kind()) {
        case Kind::kArray:
          out = Value::Int(static_cast<int64_t>(arg(0).array().size()));
          return true;
        case Kind::kMap:
          out = Value::Int(static_cast<int64_t>(arg(0).map().size()));
          return true;
        case Kind::kString:
          out = Value::Int(static_cast<int64_t>(RuneCount(arg(0).string_value())));
          return true;
        default:
          return bad_arg(0, "an array, a map or a string");
      }
    case Builtin::kType:
      out = Value::String(std::string(arg(0).TypeName()));
      return true;
    case Builtin::kAbs:
      if (arg(0).kind() == Kind::kInt) {
        int64_t v = arg(0).int_value();
        out = Value::Int(v < 0 ? static_cast<int64_t>(0 - static_cast<uint64_t>(v)) : v);
        return true;
      }
      if (arg(0).kind() == Kind::kFloat) {
        double d = arg(0).float_value();
        out = Value::Float(d < 0 ? -d : d);
        return true;
      }
      return bad_arg(0, "a number");
    case Builtin::kCeil:
    case Builtin::kFloor:
    case Builtin::kRound: {
      if (!arg(0).is_number()) return bad_arg(0, "a number");
      double d = arg(0).AsDouble();
      if (arg(0).kind() == Kind::kFloat) {
        d = n.builtin == Builtin::kCeil    ? std::ceil(d)
            : n.builtin == Builtin::kFloor ? std::floor(d)
                                           : std::round(d);
      }
      out = Value::Float(d);
      return true;
    }
    case Builtin::kInt:
      switch (arg(0).kind()) {
        case Kind::kInt:
        case Kind::kDuration:
          out = Value::Int(arg(0).int_value());
          return true;
        case Kind::kFloat:
          out = Value::Int(GoFloatToInt(arg(0).float_value()));
          return true;
        case Kind::kString: {
          int64_t v = 0;
          if (!GoParseInt(str(0), &v, &err)) {
            return Raise(c, n, "invalid operation: int(" + Quote(str(0)) + ")");
          }
          out = Value::Int(v);
          return true;
        }
        default:
          return Raise(c, n, IntConversionError(arg(0)) + Hint(*n.kids[0], arg(0)));
      }
    case Builtin::kFloat:
      switch (arg(0).kind()) {
        case Kind::kInt:
        case Kind::kFloat:
          out = Value::Float(arg(0).AsDouble());
          return true;
        case Kind::kString: {
          double d = 0;
          if (!GoParseFloat(str(0), &d, &err)) {
            return Raise(c, n, "invalid operation: float(" + Quote(str(0)) + ")");
          }
          out = Value::Float(d);
          return true;
        }
        default:
          return Raise(c, n,
                       "invalid operation: float(" + std::string(arg(0).TypeName()) + ")" +
                           Hint(*n.kids[0], arg(0)));
      }
    case Builtin::kString:
      return set_string(arg(0).ToString());
    case Builtin::kTrim:
      if (!want_string(0)) return bad_arg(0, "a string");
      if (argc == 1) {
        out = Value::String(TrimFunc(str(0), IsUnicodeSpace));
        return true;
      } else {
        if (!want_string(1)) return bad_arg(1, "a string");
        std::vector<uint32_t> cut = Runes(str(1));
        out = Value::String(TrimFunc(str(0), [&](uint32_t cp) {
          return std::find(cut.begin(), cut.end(), cp) != cut.end();
        }));
        return true;
      }
    case Builtin::kTrimPrefix:
    case Builtin::kTrimSuffix: {
      if (!want_string(0)) return bad_arg(0, "a string");
      if (argc == 2 && !want_string(1)) return bad_arg(1, "a string");
      std::string_view s = str(0);
      std::string_view affix = argc == 2 ? std::string_view(str(1)) : std::string_view(" ");
      if (n.builtin == Builtin::kTrimPrefix && s.substr(0, affix.size()) == affix) {
        s.remove_prefix(affix.size());
      } else if (n.builtin == Builtin::kTrimSuffix && s.size() >= affix.size() &&
                 s.substr(s.size() - affix.size()) == affix) {
        s.remove_suffix(affix.size());
      }
      out = Value::String(std::string(s));
      return true;
    }
    case Builtin::kUpper:
    case Builtin::kLower:
      if (!want_string(0)) return bad_arg(0, "a string");
      return set_string(AsciiCase(str(0), n.builtin == Builtin::kUpper));
    case Builtin::kSplit:
    case Builtin::kSplitAfter: {
      if (!want_string(0)) return bad_arg(0, "a string");
      if (!want_string(1)) return bad_arg(1, "a string");
      int64_t count = -1;
      if (argc == 3 && !ToIntArg(arg(2), &count)) return bad_arg(2, "an int");
      size_t keep = n.builtin == Builtin::kSplitAfter ? str(1).size() : 0;
      Array parts = GoSplit(str(0), str(1), keep, count);
      if (!Charge(c, parts.size() + str(0).size() / 8)) return false;
      out = Value::MakeArray(std::move(parts));
      return true;
    }
    case Builtin::kReplace: {
      for (size_t i = 0; i < 3; ++i) {
        if (!want_string(i)) return bad_arg(i, "a string");
      }
      int64_t count = -1;
      if (argc == 4 && !ToIntArg(arg(3), &count)) return bad_arg(3, "an int");
      // Bound the output before building it.
      uint64_t hits = CountOf(str(0), str(1));
      uint64_t size = str(0).size() + hits * str(2).size();
      if (!Charge(c, size / 8)) return false;
      return set_string(GoReplace(str(0), str(1), str(2), count));
    }
    case Builtin::kRepeat: {
      if (!want_string(0)) return bad_arg(0, "a string");
      int64_t count = 0;
      if (!ToIntArg(arg(1), &count)) return bad_arg(1, "an int");
      if (count < 0) {
        return Raise(c, n,
                     "invalid argument for repeat (expected positive integer, got " +
                         std::to_string(count) + ")");
      }
      if (static_cast<uint64_t>(count) > kMaxRepeat) return Raise(c, n, "memory budget exceeded");
      if (!Charge(c, static_cast<uint64_t>(count) * str(0).size() / 8)) return false;
      std::string s;
      s.reserve(static_cast<size_t>(count) * str(0).size());
      for (int64_t i = 0; i < count; ++i) s += str(0);
      out = Value::String(std::move(s));
      return true;
    }
    case Builtin::kJoin: {
      if (arg(0).kind() != Kind::kArray) return bad_arg(0, "an array of strings");
      if (argc == 2 && !want_string(1)) return bad_arg(1, "a string");
      std::string glue = argc == 2 ? str(1) : "";
      std::string s;
      const Array& items = arg(0).array();
      for (size_t i = 0; i < items.size(); ++i) {
        if (items[i].kind() != Kind::kString) {
          return Raise(c, n,
                       "join() needs strings, element " + std::to_string(i) + " is " +
                           std::string(items[i].TypeName()));
        }
        if (i > 0) s += glue;
        s += items[i].string_value();
        if (!Charge(c, 1 + items[i].string_value().size() / 8)) return false;
      }
      out = Value::String(std::move(s));
      return true;
    }
    case Builtin::kIndexOf:
    case Builtin::kLastIndexOf:
    case Builtin::kHasPrefix:
    case Builtin::kHasSuffix: {
      if (!want_string(0)) return bad_arg(0, "a string");
      if (!want_string(1)) return bad_arg(1, "a string");
      std::string_view s = str(0);
      std::string_view t = str(1);
      if (n.builtin == Builtin::kIndexOf || n.builtin == Builtin::kLastIndexOf) {
        size_t pos = n.builtin == Builtin::kIndexOf ? s.find(t) : s.rfind(t);
        out = Value::Int(pos == std::string_view::npos ? -1 : static_cast<int64_t>(pos));
      } else if (n.builtin == Builtin::kHasPrefix) {
        out = Value::Bool(s.substr(0, t.size()) == t);
      } else {
        out = Value::Bool(s.size() >= t.size() && s.substr(s.size() - t.size()) == t);
      }
      return true;
    }
    case Builtin::kMax:
    case Builtin::kMin: {
      const bool is_max = n.builtin == Builtin::kMax;
      if (argc == 1 && !arg(0).is_number() && arg(0).kind() != Kind::kArray) {
        out = arg(0);  // expr returns a lone non-number argument as it is
        return true;
      }
      std::vector<const Value*> nums;
      for (size_t i = 0; i < argc; ++i) {
        if (!CollectNumbers(arg(i), &nums, name, &err)) return Raise(c, n, err);
      }
      if (!Charge(c, nums.size())) return false;
      const Value* best = nullptr;
      for (const Value* v : nums) {
        if (best == nullptr || (is_max ? NumberLess(*best, *v) : NumberLess(*v, *best))) best = v;
      }
      out = best == nullptr ? Value() : *best;
      return true;
    }
    case Builtin::kMean:
    case Builtin::kMedian: {
      std::vector<const Value*> nums;
      for (size_t i = 0; i < argc; ++i) {
        if (!CollectNumbers(arg(i), &nums, name, &err)) return Raise(c, n, err);
      }
      if (!Charge(c, nums.size())) return false;
      if (nums.empty()) {
        out = Value::Float(0);
        return true;
      }
      if (n.builtin == Builtin::kMean) {
        double sum = 0;
        for (const Value* v : nums) sum += v->AsDouble();
        out = Value::Float(sum / static_cast<double>(nums.size()));
        return true;
      }
      std::vector<double> values;
      values.reserve(nums.size());
      for (const Value* v : nums) values.push_back(v->AsDouble());
      std::sort(values.begin(), values.end(), [](double x, double y) {
        if (std::isnan(x)) return !std::isnan(y);
        if (std::isnan(y)) return false;
        return x < y;
      });
      size_t k = values.size();
      out = Value::Float(k % 2 == 1 ? values[k / 2] : (values[k / 2 - 1] + values[k / 2]) / 2);
      return true;
    }
    case Builtin::kToJson: {
      std::string s;
      if (!AppendJson(s, arg(0), 0, &err)) return Raise(c, n, err);
      return set_string(std::move(s));
    }
    case Builtin::kFromJson: {
      if (!want_string(0)) return bad_arg(0, "a string");
      if (!Charge(c, str(0).size() / 8)) return false;
      nlohmann::json j = nlohmann::json::parse(str(0), nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) return Raise(c, n, "fromJSON(): invalid JSON");
      if (!FromGoJson(j, 0, &out)) {
        return Raise(c, n,
                     "fromJSON(): value nested too deeply (more than " +
                         std::to_string(kMaxValueDepth) + " levels)");
      }
      return true;
    }
    case Builtin::kToBase64:
      if (!want_string(0)) return bad_arg(0, "a string");
      return set_string(ToBase64(str(0)));
    case Builtin::kFromBase64: {
      if (!want_string(0)) return bad_arg(0, "a string");
      std::string s;
      if (!FromBase64(str(0), &s, &err)) return Raise(c, n, err);
      return set_string(std::move(s));
    }
    case Builtin::kNow:
      out = Value::MakeTime(c.env.now);
      return true;
    case Builtin::kDuration: {
      if (!want_string(0)) return bad_arg(0, "a string");
      auto d = ParseGoDuration(str(0));
      if (!d.has_value()) return Raise(c, n, d.error().message());
      out = Value::MakeDuration(*d);
      return true;
    }
    case Builtin::kDate: {
      for (size_t i = 0; i < argc; ++i) {
        if (!want_string(i)) return bad_arg(i, "a string");
      }
      if (argc == 3 && !IsUtcZone(str(2))) {
        return Raise(c, n,
                     "time zone " + Quote(str(2)) +
                         ": ramp evaluates times in UTC only; named time zones are not "
                         "supported");
      }
      if (argc >= 2) {
        auto t = ParseGoTime(str(1), str(0));
        if (!t.has_value()) return Raise(c, n, t.error().message());
        out = Value::MakeTime(*t);
        return true;
      }
      static constexpr std::string_view kLayouts[] = {
          "2006-01-02",
          "15:04:05",
          "2006-01-02 15:04:05",
          "2006-01-02T15:04:05Z07:00",
          "02 Jan 06 15:04 MST",
          "Monday, 02-Jan-06 15:04:05 MST",
          "Mon, 02 Jan 2006 15:04:05 MST",
      };
      for (std::string_view layout : kLayouts) {
        auto t = ParseGoTime(layout, str(0));
        if (t.has_value()) {
          out = Value::MakeTime(*t);
          return true;
        }
        if (t.error().message().rfind("date out of range", 0) == 0) {
          return Raise(c, n, t.error().message());
        }
      }
      return Raise(c, n, "invalid date " + str(0));
    }
    case Builtin::kTimezone:
      return Raise(c, n, "ramp evaluates times in UTC only; timezone() is not supported");
    case Builtin::kFirst:
    case Builtin::kLast: {
      const Value& a = arg(0);
      bool first = n.builtin == Builtin::kFirst;
      if (a.kind() == Kind::kArray && !a.array().empty()) {
        out = first ? a.array().front() : a.array().back();
      } else if (a.kind() == Kind::kString && !a.string_value().empty()) {
        out = Value::Int(
            static_cast<unsigned char>(first ? a.string_value().front() : a.string_value().back()));
      } else {
        out = Value();
      }
      return true;
    }
    case Builtin::kGet: {
      const Value& a = arg(0);
      if (a.kind() == Kind::kArray || a.kind() == Kind::kString) {
        int64_t i = 0;
        if (!ToIntArg(arg(1), &i)) return Raise(c, n, IntConversionError(arg(1)));
        int64_t len = static_cast<int64_t>(a.kind() == Kind::kArray ? a.array().size()
                                                                    : a.string_value().size());
        if (i < 0) i += len;
        if (i < 0 || i >= len) {
          out = Value();
        } else if (a.kind() == Kind::kArray) {
          out = a.array()[static_cast<size_t>(i)];
        } else {
          out = Value::Int(static_cast<unsigned char>(a.string_value()[static_cast<size_t>(i)]));
        }
        return true;
      }
      if (a.kind() == Kind::kMap) {
        std::string key;
        const Value* v = KeyOf(arg(1), &key) ? a.Find(key) : nullptr;
        out = v != nullptr ? *v : Value();
        return true;
      }
      out = Value();
      return true;
    }
    case Builtin::kTake: {
      if (arg(0).kind() != Kind::kArray) {
        return Raise(c, n, "cannot take from " + std::string(arg(0).TypeName()));
      }
      if (arg(1).kind() != Kind::kInt) {
        return Raise(c, n, "cannot take " + std::string(arg(1).TypeName()) + " elements");
      }
      const Array& items = arg(0).array();
      int64_t k = arg(1).int_value();
      if (k < 0) return Raise(c, n, "cannot take a negative number of elements");
      size_t to = std::min<uint64_t>(static_cast<uint64_t>(k), items.size());
      if (!Charge(c, to)) return false;
      out = Value::MakeArray(Array(items.begin(), items.begin() + static_cast<ptrdiff_t>(to)));
      return true;
    }
    case Builtin::kKeys:
    case Builtin::kValues:
    case Builtin::kToPairs: {
      if (arg(0).kind() != Kind::kMap) {
        return Raise(
            c, n,
            (n.builtin == Builtin::kToPairs
                 ? "cannot transform "
                 : "cannot get " + std::string(n.builtin == Builtin::kKeys ? "keys" : "values") +
                       " from ") +
                std::string(arg(0).TypeName()) +
                (n.builtin == Builtin::kToPairs ? " to pairs" : ""));
      }
      const MapEntries& entries = arg(0).map();
      if (!Charge(c, entries.size())) return false;
      Array items;
      items.reserve(entries.size());
      for (const auto& [k, v] : entries) {
        if (n.builtin == Builtin::kKeys) {
          items.push_back(Value::String(k));
        } else if (n.builtin == Builtin::kValues) {
          items.push_back(v);
        } else {
          items.push_back(Value::MakeArray({Value::String(k), v}));
        }
      }
      out = Value::MakeArray(std::move(items));
      return CheckDepth(c, n, out);
    }
    case Builtin::kFromPairs: {
      if (arg(0).kind() != Kind::kArray) {
        return Raise(c, n, "cannot transform " + std::string(arg(0).TypeName()) + " from pairs");
      }
      MapEntries entries;
      for (const Value& pair : arg(0).array()) {
        if (pair.kind() != Kind::kArray || pair.array().size() != 2) {
          return Raise(c, n, "invalid pair " + pair.ToString());
        }
        std::string key;
        if (!KeyOf(pair.array()[0], &key)) {
          return Raise(c, n,
                       "cannot use " + std::string(pair.array()[0].TypeName()) + " as a map key");
        }
        entries.emplace_back(std::move(key), pair.array()[1]);
      }
      if (!Charge(c, entries.size())) return false;
      out = Value::MakeMap(std::move(entries));
      return true;
    }
    case Builtin::kReverse:
    case Builtin::kUniq: {
      if (arg(0).kind() != Kind::kArray) {
        return Raise(c, n, "cannot " + name + " " + std::string(arg(0).TypeName()));
      }
      const Array& items = arg(0).array();
      if (!Charge(c, items.size())) return false;
      Array result;
      if (n.builtin == Builtin::kReverse) {
        result.assign(items.rbegin(), items.rend());
      } else {
        for (const Value& item : items) {
          if (!Charge(c, result.size())) return false;
          bool seen = std::any_of(result.begin(), result.end(),
                                  [&](const Value& r) { return Equal(r, item); });
          if (!seen) result.push_back(item);
        }
      }
      out = Value::MakeArray(std::move(result));
      return true;
    }
    case Builtin::kConcat: {
      Array result;
      for (size_t i = 0; i < argc; ++i) {
        if (arg(i).kind() != Kind::kArray) {
          return Raise(c, n, "cannot concat " + std::string(arg(i).TypeName()));
        }
        if (!Charge(c, arg(i).array().size())) return false;
        result.insert(result.end(), arg(i).array().begin(), arg(i).array().end());
      }
      out = Value::MakeArray(std::move(result));
      return true;
    }
    case Builtin::kFlatten: {
      if (arg(0).kind() != Kind::kArray) {
        return Raise(c, n, "cannot flatten " + std::string(arg(0).TypeName()));
      }
      Array result;
      Flatten(arg(0), &result);
      if (!Charge(c, result.size())) return false;
      out = Value::MakeArray(std::move(result));
      return true;
    }
    case Builtin::kSort: {
      if (arg(0).kind() != Kind::kArray) {
        return Raise(c, n, "sort() needs an array, got " + std::string(arg(0).TypeName()));
      }
      bool desc = false;
      if (argc == 2) {
        if (!want_string(1)) {
          return Raise(
              c, n,
              "sort order argument must be a string (got " + std::string(arg(1).TypeName()) + ")");
        }
        if (str(1) == "desc") {
          desc = true;
        } else if (str(1) != "asc") {
          return Raise(c, n, "invalid order " + str(1) + ", expected asc or desc");
        }
      }
      const Array& items = arg(0).array();
      std::vector<const Value*> ptrs;
      for (const Value& v : items) ptrs.push_back(&v);
      if (!Sortable(ptrs, &err)) return Raise(c, n, "sort(): " + err);
      if (!Charge(c, items.size())) return false;
      Array sorted = items;
      std::stable_sort(sorted.begin(), sorted.end(), [&](const Value& x, const Value& y) {
        return desc ? SortLess(y, x) : SortLess(x, y);
      });
      out = Value::MakeArray(std::move(sorted));
      return true;
    }
    case Builtin::kBitAnd:
    case Builtin::kBitOr:
    case Builtin::kBitXor:
    case Builtin::kBitNand:
    case Builtin::kBitShl:
    case Builtin::kBitShr:
    case Builtin::kBitUshr: {
      for (size_t i = 0; i < 2; ++i) {
        if (arg(i).kind() != Kind::kInt) {
          return Raise(c, n,
                       "cannot use " + std::string(arg(i).TypeName()) +
                           " as argument (type int) to call " + name);
        }
      }
      int64_t x = arg(0).int_value();
      int64_t y = arg(1).int_value();
      uint64_t ux = static_cast<uint64_t>(x);
      int64_t r = 0;
      switch (n.builtin) {
        case Builtin::kBitAnd:
          r = x & y;
          break;
        case Builtin::kBitOr:
          r = x | y;
          break;
        case Builtin::kBitXor:
          r = x ^ y;
          break;
        case Builtin::kBitNand:
          r = x & ~y;
          break;
        default:
          if (y < 0) {
            return Raise(
                c, n,
                "invalid operation: negative shift count " + std::to_string(y) + " (type int)");
          }
          if (n.builtin == Builtin::kBitShl) {
            r = y >= 64 ? 0 : static_cast<int64_t>(ux << y);
          } else if (n.builtin == Builtin::kBitShr) {
            r = y >= 64 ? (x < 0 ? -1 : 0) : (x >> y);
          } else {
            r = y >= 64 ? 0 : static_cast<int64_t>(ux >> y);
          }
      }
      out = Value::Int(r);
      return true;
    }
    case Builtin::kBitNot:
      if (arg(0).kind() != Kind::kInt) {
        return Raise(c, n,
                     "cannot use " + std::string(arg(0).TypeName()) +
                         " as argument (type int) to call bitnot");
      }
      out = Value::Int(~arg(0).int_value());
      return true;
    case Builtin::kAsInt:
    case Builtin::kAsFloat: {
      const Value& a = arg(0);
      const bool as_int = n.builtin == Builtin::kAsInt;
      if (a.is_number()) {
        out = as_int ? Value::Int(a.kind() == Kind::kInt ? a.int_value()
                                                         : GoFloatToInt(a.float_value()))
                     : Value::Float(a.AsDouble());
        return true;
      }
      if (a.kind() == Kind::kString) {
        if (as_int) {
          int64_t v = 0;
          if (!GoParseInt(a.string_value(), &v, &err)) return Raise(c, n, err);
          out = Value::Int(v);
        } else {
          double d = 0;
          if (!GoParseFloat(a.string_value(), &d, &err)) return Raise(c, n, err);
          out = Value::Float(d);
        }
        return true;
      }
      return Raise(c, n,
                   name + "() not supported on " + std::string(a.TypeName()) + " " + a.ToString() +
                       Hint(*n.kids[0], a));
    }
    case Builtin::kIsNaN:
    case Builtin::kIsInf: {
      const Value& a = arg(0);
      if (!a.is_number()) return bad_arg(0, "a number");
      double d = a.AsDouble();
      out = Value::Bool(n.builtin == Builtin::kIsNaN ? std::isnan(d) : std::isinf(d));
      return true;
    }
    case Builtin::kIsNil:
      // Argo: ignores its argument and tells whether the whole result is nil.
      out = Value::Bool(c.env.result.is_nil());
      return true;
    case Builtin::kDefault:
      // Argo: ignores its first argument; the default when the whole result is nil, else result.
      out = c.env.result.is_nil() ? arg(1) : c.env.result;
      return true;
    default:
      return Raise(c, n, "internal error: unknown builtin " + name);
  }
}

// ---- Eval ---------------------------------------------------------------------------------------

bool Eval(const Node& n, Ctx& c, Value& out) {
  if (!Step(c)) return false;
  switch (n.kind) {
    case NodeKind::kConst:
      out = n.constant;
      return true;
    case NodeKind::kResult:
      out = c.env.result;
      return true;
    case NodeKind::kEnvMap:
      out = Value::MakeMap({{"result", c.env.result}});
      return true;
    case NodeKind::kVar:
      out = c.vars[static_cast<size_t>(n.slot)];
      return true;
    case NodeKind::kPointer: {
      const Frame& f = c.frames.back();
      out = (*f.items)[f.index];
      return true;
    }
    case NodeKind::kPointerIndex:
      out = Value::Int(static_cast<int64_t>(c.frames.back().index));
      return true;
    case NodeKind::kPointerAcc:
      out = c.frames.back().acc;
      return true;
    case NodeKind::kUnary: {
      Value tmp;
      const Value* v = Ref(*n.kids[0], c, tmp);
      if (v == nullptr) return false;
      if (n.op == Op::kNot) {
        if (!NeedBool(c, n, *n.kids[0], *v, "not needs a bool")) return false;
        out = Value::Bool(!v->bool_value());
        return true;
      }
      if (v->kind() == Kind::kInt) {
        out = n.op == Op::kNeg ? Value::Int(WrapSub(0, v->int_value())) : *v;
        return true;
      }
      if (v->kind() == Kind::kFloat) {
        out = n.op == Op::kNeg ? Value::Float(-v->float_value()) : *v;
        return true;
      }
      return Raise(c, n,
                   "invalid operation: " + std::string(OpName(n.op)) + std::string(v->TypeName()) +
                       Hint(*n.kids[0], *v));
    }
    case NodeKind::kBinary:
      return EvalBinary(n, c, out);
    case NodeKind::kAnd:
    case NodeKind::kOr: {
      const bool is_and = n.kind == NodeKind::kAnd;
      auto what = [&] {
        return (n.name.empty() ? std::string(is_and ? "&&" : "||") : n.name) +
               " needs bool operands";
      };
      Value tmp;
      const Value* a = Ref(*n.kids[0], c, tmp);
      if (a == nullptr) return false;
      if (a->kind() != Kind::kBool) return NeedBool(c, n, *n.kids[0], *a, what());
      if (a->bool_value() != is_and) {
        out = Value::Bool(!is_and);
        return true;
      }
      const Value* b = Ref(*n.kids[1], c, tmp);
      if (b == nullptr) return false;
      if (b->kind() != Kind::kBool) return NeedBool(c, n, *n.kids[1], *b, what());
      out = Value::Bool(b->bool_value());
      return true;
    }
    case NodeKind::kCoalesce: {
      if (!Eval(*n.kids[0], c, out)) return false;
      if (!out.is_nil()) return true;
      return Eval(*n.kids[1], c, out);
    }
    case NodeKind::kCond: {
      Value tmp;
      const Value* cond = Ref(*n.kids[0], c, tmp);
      if (cond == nullptr ||
          !NeedBool(c, n, *n.kids[0], *cond, "the condition of ?: must be a bool")) {
        return false;
      }
      if (cond->bool_value()) {
        if (n.kids[1] == nullptr) {
          out = Value::Bool(true);  // a ?: b
          return true;
        }
        return Eval(*n.kids[1], c, out);
      }
      return Eval(*n.kids[2], c, out);
    }
    case NodeKind::kArray: {
      if (!Charge(c, n.kids.size())) return false;
      Array items(n.kids.size());
      for (size_t i = 0; i < n.kids.size(); ++i) {
        if (!Eval(*n.kids[i], c, items[i])) return false;
      }
      out = Value::MakeArray(std::move(items));
      return CheckDepth(c, n, out);
    }
    case NodeKind::kMap: {
      MapEntries entries;
      entries.reserve(n.kids.size() / 2);
      for (size_t i = 0; i + 1 < n.kids.size(); i += 2) {
        Value key;
        if (!Eval(*n.kids[i], c, key)) return false;
        if (key.kind() != Kind::kString) {
          return Raise(c, *n.kids[i],
                       "a map key must be a string, got " + std::string(key.TypeName()));
        }
        Value v;
        if (!Eval(*n.kids[i + 1], c, v)) return false;
        entries.emplace_back(key.string_value(), std::move(v));
      }
      out = Value::MakeMap(std::move(entries));
      return CheckDepth(c, n, out);
    }
    case NodeKind::kIndex: {
      Value tmp;
      --c.steps;  // Ref counts this node
      const Value* v = Ref(n, c, tmp);
      if (v == nullptr) return false;
      out = v == &tmp ? std::move(tmp) : *v;
      return true;
    }
    case NodeKind::kSlice: {
      Value base_tmp;
      const Value* base = Ref(*n.kids[0], c, base_tmp);
      if (base == nullptr) return false;
      if (c.short_circuit || (base->is_nil() && n.optional)) {
        c.short_circuit = true;
        out = Value();
        return true;
      }
      if (base->kind() != Kind::kArray && base->kind() != Kind::kString) {
        return Raise(c, n,
                     "cannot slice " + std::string(base->TypeName()) + Hint(*n.kids[0], *base));
      }
      const int64_t len = static_cast<int64_t>(
          base->kind() == Kind::kArray ? base->array().size() : base->string_value().size());
      int64_t from = 0;
      int64_t to = len;
      for (int k = 1; k <= 2; ++k) {
        if (n.kids[static_cast<size_t>(k)] == nullptr) continue;
        Value t;
        if (!Eval(*n.kids[static_cast<size_t>(k)], c, t)) return false;
        int64_t* dst = k == 1 ? &from : &to;
        if (!ToIntArg(t, dst)) return Raise(c, n, IntConversionError(t));
      }
      if (from < 0) from += len;
      if (from < 0) from = 0;
      if (to < 0) to += len;
      if (to < 0) to = 0;
      if (to > len) to = len;
      if (from > to) from = to;
      if (!Charge(c, static_cast<uint64_t>(to - from))) return false;
      if (base->kind() == Kind::kArray) {
        const Array& items = base->array();
        out = Value::MakeArray(Array(items.begin() + from, items.begin() + to));
      } else {
        out = Value::String(
            base->string_value().substr(static_cast<size_t>(from), static_cast<size_t>(to - from)));
      }
      return true;
    }
    case NodeKind::kChain:
      if (!Eval(*n.kids[0], c, out)) return false;
      if (c.short_circuit) out = Value();
      c.short_circuit = false;
      return true;
    case NodeKind::kMethod:
      return EvalMethod(n, c, out);
    case NodeKind::kBuiltin:
      return EvalBuiltin(n, c, out);
    case NodeKind::kLet:
      if (!Eval(*n.kids[0], c, c.vars[static_cast<size_t>(n.slot)])) return false;
      return Eval(*n.kids[1], c, out);
    case NodeKind::kSeq:
      for (const auto& kid : n.kids) {
        if (!Eval(*kid, c, out)) return false;
      }
      return true;
  }
  return Raise(c, n, "internal error: unknown node");
}

}  // namespace

StatusOr<Value> EvaluateTree(const Compiled& compiled, const Node& node, const Env& env,
                             uint64_t budget) {
  Ctx c{compiled, env, budget};
  if (compiled.slots > 0) c.vars.resize(static_cast<size_t>(compiled.slots));
  Value out;
  if (!Eval(node, c, out)) {
    if (c.error.ok()) c.error = InternalError("evaluation failed without a message");
    return Fail(std::move(c.error));
  }
  return out;
}

}  // namespace ramp::expr::internal

namespace ramp::expr {

StatusOr<Value> Program::Evaluate(const Env& env) const {
  if (impl_ == nullptr || impl_->root == nullptr) {
    return Fail(FailedPreconditionError("evaluating a program that was not compiled"));
  }
  return internal::EvaluateTree(*impl_, *impl_->root, env, env.step_budget);
}

const std::string& Program::source() const {
  static const std::string* const kEmpty = new std::string();
  return impl_ == nullptr ? *kEmpty : impl_->source;
}

StatusOr<bool> EvaluateCondition(const Program& program, const Env& env) {
  ASSIGN_OR_RETURN(Value v, program.Evaluate(env));
  if (v.kind() != Kind::kBool) {
    return Fail(
        InvalidArgumentError("condition must return a bool, got " + std::string(v.TypeName())));
  }
  return v.bool_value();
}

}  // namespace ramp::expr
