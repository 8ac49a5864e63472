// The condition language of Argo Rollouts' AnalysisTemplate `successCondition` and
// `failureCondition`: the subset of expr-lang (github.com/expr-lang/expr v1.17) that Argo
// evaluates, plus Argo's own functions asInt, asFloat, isNaN, isInf, isNil and default
// (reference/argo-rollouts.md §4, §11.5–11.6).
//
//   ASSIGN_OR_RETURN(Program p, Compile("len(result) > 0 && result[0] >= 0.95"));
//   ASSIGN_OR_RETURN(bool ok, EvaluateCondition(p, Env{.result = FromJson(json), .now = now}));
//
// Compile parses and checks the text once (syntax, names, arities, constant regular expressions,
// time zones) and folds constant sub-expressions; a compile error is a Status whose message
// starts with the position: `col 12: unexpected token ")"` (`line 2, col 5: …` for text on several
// lines; columns count code points from 1). Program::Evaluate runs the tree against an Env;
// runtime errors (index out of range, wrong operand types, member access on nil, …) are Status
// values whose message names the failing sub-expression: `result[0]: index out of range (the
// array is empty — e.g. the query returned an empty vector)`. Work is bounded: expression nesting
// (256), nodes (10 000), value nesting (kMaxValueDepth) and the steps of one evaluation
// (Env::step_budget) are capped, so hostile input yields an error, never a crash or a hang.
//
// Part of the functional core: nothing here reads the clock, sleeps or does I/O; `now()` returns
// Env::now. Times are UTC only: a named time zone is a compile error.
//
// Where ramp differs from expr-lang (none of it changes the conditions of reference §4):
//  * Not supported: bytes literals (b"…"); functions as values; methods other than those of
//    time.Time (Year Month Day Hour Minute Second Nanosecond Weekday YearDay Unix UnixMilli
//    UnixMicro UnixNano Add Sub AddDate Before After Equal Compare IsZero UTC Local Format String
//    Truncate Round) and time.Duration (Hours Minutes Seconds Milliseconds Microseconds
//    Nanoseconds String Abs Round Truncate); timezone(), now(tz), date(tz, …), .In().
//  * date() parses Go layouts (every layout element of Go's time package); an abbreviated zone
//    such as "MST" keeps the wall clock as UTC, as Go does for an abbreviation it does not know.
//    Times exist from 1677-09-21 to 2262-04-11, so a time-only layout ("15:04:05", year 0) is an
//    error.
//  * `and`, `or`, `not` and `?:` need bools on both sides; `a?.b[0]` short-circuits the whole
//    chain when a is nil; unary `+` needs a number.
//  * Maps have string keys, kept sorted: keys() and values() are in key order, and a non-string
//    key (groupBy, fromPairs, m[1]) is the key's `string()` form.
//  * `$env` holds `result` only; upper() and lower() change ASCII letters only; every non-ASCII
//    character may appear in an identifier.
//  * Type errors that expr's checker would report at compile time (it knows Argo's env types)
//    are reported when evaluating; either way the measurement is an Error.
//  * sort() and sortBy() are stable and put NaN first; a step budget replaces expr's memory
//    budget (repeat() keeps its 1e6 cap).
//
// Thread-safety: Value and Program are immutable once built. Copies share storage through
// reference counts, so any number of threads may read the same Value or evaluate the same
// Program at once; Evaluate keeps all of its state on the calling thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "ramp/clock.h"
#include "ramp/status.h"

namespace ramp::expr {

// The kinds of Value. `type()` in the language names them: nil bool int float string array map
// time.Time time.Duration.
enum class Kind : uint8_t { kNil, kBool, kInt, kFloat, kString, kArray, kMap, kTime, kDuration };

class Value;
using Array = std::vector<Value>;
// Map entries, sorted by key, keys unique.
using MapEntries = std::vector<std::pair<std::string, Value>>;

// Arrays and maps nest at most this deep; deeper JSON is cut (see FromJson) and building a deeper
// value in an expression is an evaluation error.
inline constexpr int kMaxValueDepth = 512;

// A dynamic value: nil, bool, int64, double, string, array, map (string keys, kept sorted), a UTC
// instant (ns) or a duration (ns). Strings, arrays and maps are shared and immutable.
class Value {
 public:
  Value() = default;  // nil

  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double d);
  static Value String(std::string s);
  static Value MakeArray(Array items);
  // Entries in any order; of duplicate keys the last one wins.
  static Value MakeMap(MapEntries entries);
  static Value MakeTime(Time t);
  static Value MakeDuration(Duration d);

  Kind kind() const { return kind_; }
  bool is_nil() const { return kind_ == Kind::kNil; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat; }

  // Accessors; each requires the matching kind.
  bool bool_value() const { return scalar_.b; }
  int64_t int_value() const { return scalar_.i; }
  double float_value() const { return scalar_.d; }
  // An int or a float as a double.
  double AsDouble() const {
    return kind_ == Kind::kInt ? static_cast<double>(scalar_.i) : scalar_.d;
  }
  const std::string& string_value() const;
  const Array& array() const;
  const MapEntries& map() const;
  Time time_value() const { return Time(Duration(scalar_.i)); }
  Duration duration_value() const { return Duration(scalar_.i); }

  // The value under `key` of a map; nullptr when absent or when this is not a map.
  const Value* Find(std::string_view key) const;

  // Nesting depth: 0 for scalars, 1 + the deepest element for arrays and maps.
  int depth() const;

  // What `type()` returns: "nil", "bool", "int", "float", "string", "array", "map", "time.Time",
  // "time.Duration".
  std::string_view TypeName() const;

  // Go's "%v" of the value, which is what `string()` returns: 1e+06, [1 2 3], map[a:1], <nil>.
  std::string ToString() const;

  // JSON: nil → null, time → RFC 3339 string (ns precision), duration → integer nanoseconds;
  // NaN and ±Inf stay doubles (nlohmann::json holds them; its dump() writes null).
  nlohmann::json ToJson() const;

 private:
  struct ArrayRep;
  struct MapRep;

  Kind kind_ = Kind::kNil;
  union Scalar {
    bool b;
    int64_t i;
    double d;
  } scalar_{.i = 0};
  std::shared_ptr<const void> ptr_;  // std::string, ArrayRep or MapRep
};

// expr's `==`: numbers compare across int and float (NaN equals nothing), arrays and maps
// element-wise, times by instant; values of different kinds are unequal.
bool Equal(const Value& a, const Value& b);

// A value from JSON. Integers stay int (unsigned ones above INT64_MAX become float), other numbers
// are float, NaN and ±Inf included. Arrays and maps deeper than kMaxValueDepth are cut: the
// parts below that depth become nil. Note that Go's decoder (and so Argo) would give float for
// every number; the two differ only for `%`, the bit functions and type().
Value FromJson(const nlohmann::json& json);

// The default cap on evaluation steps (one per node visit and one per element built).
inline constexpr uint64_t kDefaultStepBudget = 10'000'000;

// What an expression sees: the measured `result` and the time `now()` returns.
struct Env {
  Value result;
  Time now{};
  uint64_t step_budget = kDefaultStepBudget;
};

namespace internal {
struct Compiled;
}  // namespace internal

// A compiled expression. Cheap to copy (shared, immutable).
class Program {
 public:
  // An empty program, to be assigned from Compile; evaluating it is FAILED_PRECONDITION.
  Program() = default;

  // Runs the expression. Never throws; every failure is a Status.
  StatusOr<Value> Evaluate(const Env& env) const;

  // The text it was compiled from.
  const std::string& source() const;

 private:
  friend StatusOr<Program> Compile(std::string_view source);
  explicit Program(std::shared_ptr<const internal::Compiled> impl) : impl_(std::move(impl)) {}

  std::shared_ptr<const internal::Compiled> impl_;
};

// Parses and checks `source` (INVALID_ARGUMENT with a positioned message on error).
StatusOr<Program> Compile(std::string_view source);

// Evaluates a condition, which must produce a bool: otherwise INVALID_ARGUMENT
// "condition must return a bool, got <type>".
StatusOr<bool> EvaluateCondition(const Program& program, const Env& env);

}  // namespace ramp::expr
