// Internals of the condition language shared by the parser (parse.cc), the evaluator (eval.cc)
// and the value helpers (value.cc, gotime.cc). Not part of the API.
//
// Thread-safety: a Compiled tree is immutable after Compile returns.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "expr/expr.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace ramp::expr::internal {

// Limits that keep hostile input bounded.
inline constexpr int kMaxNesting = 256;           // parser recursion and tree depth
inline constexpr int kMaxNodes = 10'000;          // nodes in one expression
inline constexpr uint64_t kFoldBudget = 100'000;  // steps spent folding one constant
inline constexpr size_t kMaxRepeat = 1'000'000;   // repeat()'s count, as in expr

enum class Op : uint8_t {
  kNone,
  kNeg,
  kPlus,
  kNot,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
  kEq,
  kNe,
  kLt,
  kGt,
  kLe,
  kGe,
  kIn,
  kMatches,
  kContains,
  kStartsWith,
  kEndsWith,
  kRange,
};

// The spelling of an operator in messages ("+", "in", …).
std::string_view OpName(Op op);

enum class NodeKind : uint8_t {
  kConst,         // constant
  kResult,        // `result`
  kEnvMap,        // `$env`
  kVar,           // a `let` variable: slot
  kPointer,       // `#` (or the implicit base of `.field`) in a predicate
  kPointerIndex,  // `#index`
  kPointerAcc,    // `#acc`
  kUnary,         // op kids[0]
  kBinary,        // kids[0] op kids[1] (not and/or/??)
  kAnd,           // short-circuit
  kOr,            // short-circuit
  kCoalesce,      // kids[0] ?? kids[1]
  kCond,          // kids[0] ? kids[1] : kids[2]   (elvis: kids[1] is null)
  kArray,         // [kids...]
  kMap,           // {kids[0]: kids[1], ...}
  kIndex,         // kids[0][kids[1]] and kids[0].name
  kSlice,         // kids[0][kids[1]:kids[2]] (either bound may be null)
  kChain,         // wraps a postfix chain that holds ?.: nil when it short-circuits
  kMethod,        // kids[0].name(kids[1..])
  kBuiltin,       // builtin(kids...)
  kLet,           // let slot = kids[0]; kids[1]
  kSeq,           // kids[0]; kids[1]; ...
};

enum class Builtin : uint8_t {
  // Predicate builtins (an argument is a closure).
  kAll,
  kNone,
  kAny,
  kOne,
  kFilter,
  kMap,
  kCount,
  kSum,
  kFind,
  kFindIndex,
  kFindLast,
  kFindLastIndex,
  kGroupBy,
  kSortBy,
  kReduce,
  // Plain builtins.
  kLen,
  kType,
  kAbs,
  kCeil,
  kFloor,
  kRound,
  kInt,
  kFloat,
  kString,
  kTrim,
  kTrimPrefix,
  kTrimSuffix,
  kUpper,
  kLower,
  kSplit,
  kSplitAfter,
  kReplace,
  kRepeat,
  kJoin,
  kIndexOf,
  kLastIndexOf,
  kHasPrefix,
  kHasSuffix,
  kMax,
  kMin,
  kMean,
  kMedian,
  kToJson,
  kFromJson,
  kToBase64,
  kFromBase64,
  kNow,
  kDuration,
  kDate,
  kTimezone,
  kFirst,
  kLast,
  kGet,
  kTake,
  kKeys,
  kValues,
  kToPairs,
  kFromPairs,
  kReverse,
  kUniq,
  kConcat,
  kFlatten,
  kSort,
  kBitAnd,
  kBitOr,
  kBitXor,
  kBitNand,
  kBitShl,
  kBitShr,
  kBitUshr,
  kBitNot,
  // Argo's environment functions.
  kAsInt,
  kAsFloat,
  kIsNaN,
  kIsInf,
  kIsNil,
  kDefault,
};

struct BuiltinInfo {
  std::string_view name;
  Builtin id;
  int min_args;
  int max_args;    // -1: any number
  bool pure;       // depends on its arguments only (may be folded)
  bool predicate;  // argument 1 is a closure
};

// The builtin called `name`, or nullptr.
const BuiltinInfo* FindBuiltin(std::string_view name);
const BuiltinInfo& GetBuiltin(Builtin id);

struct Node {
  NodeKind kind = NodeKind::kConst;
  Op op = Op::kNone;
  Builtin builtin = Builtin::kLen;
  bool optional = false;  // kIndex / kMethod reached through ?.
  uint16_t depth = 1;     // 1 + deepest child
  int slot = -1;          // kVar, kLet
  uint32_t begin = 0;     // source span [begin, end) in bytes
  uint32_t end = 0;
  std::string name;  // kMethod: method; kBuiltin: builtin; kIndex via `.`: the field
  Value constant;    // kConst
  std::vector<std::unique_ptr<Node>> kids;
  std::shared_ptr<const re2::RE2> regex;  // kBinary matches with a constant pattern
};

struct Compiled {
  std::string source;
  std::unique_ptr<Node> root;
  int slots = 0;  // number of `let` variables
};

// Evaluates `node` with the given env and budget; used by Program::Evaluate and by constant
// folding (which passes a default Env and a small budget).
StatusOr<Value> EvaluateTree(const Compiled& compiled, const Node& node, const Env& env,
                             uint64_t budget);

// Go's "%v" formatting of a float64 (strconv 'g', shortest): 1e+06, 0.5, NaN, +Inf.
std::string FormatGoFloat(double d);
// encoding/json's formatting of a float64 (finite only).
std::string FormatJsonFloat(double d);
// Go's JSON string quoting (HTML-safe, as json.Marshal).
void AppendJsonString(std::string& out, std::string_view s);
// Go's strconv.Quote-like quoting for messages: "a\"b".
std::string Quote(std::string_view s);

// Go's time.ParseDuration and Duration.String.
StatusOr<Duration> ParseGoDuration(std::string_view s);
std::string FormatGoDuration(Duration d);
// Go's time.Parse (UTC; zone abbreviations other than UTC keep the wall clock as UTC, as Go
// does when the abbreviation is unknown) and Time.Format for UTC times.
StatusOr<Time> ParseGoTime(std::string_view layout, std::string_view value);
std::string FormatGoTime(Time t, std::string_view layout);
// Time.String(): "2006-01-02 15:04:05.999999999 +0000 UTC".
std::string GoTimeString(Time t);
// RFC 3339 with nanoseconds, as time.Time's MarshalJSON.
std::string Rfc3339Nano(Time t);

}  // namespace ramp::expr::internal
