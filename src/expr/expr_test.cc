#include "expr/expr.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace ramp::expr {
namespace {

// 2023-08-14T08:00:00.123456789Z
const Time kNow = FromUnixNanos(1692000000123456789LL);

Value J(const char* json) { return FromJson(nlohmann::json::parse(json)); }

// "type value", "error: message" or "compile error: message".
std::string Show(std::string_view src, const Value& result = Value(), uint64_t budget = 0) {
  auto program = Compile(src);
  if (!program.has_value()) return "compile error: " + program.error().message();
  Env env;
  env.result = result;
  env.now = kNow;
  if (budget != 0) env.step_budget = budget;
  auto v = program->Evaluate(env);
  if (!v.has_value()) return "error: " + v.error().message();
  return std::string(v->TypeName()) + " " + v->ToString();
}

std::string ShowJ(std::string_view src, const char* result_json) {
  return Show(src, J(result_json));
}

// Evaluates a condition; "true", "false" or the error.
std::string Cond(std::string_view src, const Value& result) {
  auto program = Compile(src);
  if (!program.has_value()) return "compile error: " + program.error().message();
  auto v = EvaluateCondition(*program, Env{result, kNow});
  if (!v.has_value()) return "error: " + v.error().message();
  return *v ? "true" : "false";
}

std::string CompileError(std::string_view src) {
  auto program = Compile(src);
  return program.has_value() ? "compiled" : program.error().message();
}

// ---- Literals -----------------------------------------------------------------------------------

TEST(ExprLiterals, Numbers) {
  EXPECT_EQ(Show("42"), "int 42");
  EXPECT_EQ(Show("0x2A"), "int 42");
  EXPECT_EQ(Show("0o52"), "int 42");
  EXPECT_EQ(Show("0b101010"), "int 42");
  EXPECT_EQ(Show("1_000_000"), "int 1000000");
  EXPECT_EQ(Show("0.5"), "float 0.5");
  EXPECT_EQ(Show(".5"), "float 0.5");
  EXPECT_EQ(Show("1e3"), "float 1000");
  EXPECT_EQ(Show("1.5e-3"), "float 0.0015");
  EXPECT_EQ(Show("012"), "int 12");
  EXPECT_EQ(Show("9223372036854775807"), "int 9223372036854775807");
  EXPECT_EQ(CompileError("9223372036854775808"),
            "col 1: invalid integer literal: \"9223372036854775808\" is out of range");
  EXPECT_EQ(CompileError("1e400"), "col 1: invalid float literal: \"1e400\"");
  EXPECT_EQ(CompileError("12abc"), "col 1: bad number syntax: \"12a\"");
}

TEST(ExprLiterals, Strings) {
  EXPECT_EQ(Show("'single'"), "string single");
  EXPECT_EQ(Show("\"double\""), "string double");
  EXPECT_EQ(Show(R"("tab\tnew\nline")"), "string tab\tnew\nline");
  EXPECT_EQ(Show(R"("\u00e9\x41\101\"")"),
            "string \xC3\xA9"
            "AA\"");
  EXPECT_EQ(Show(R"("\u{1F600}")"), "string \xF0\x9F\x98\x80");
  EXPECT_EQ(Show(R"('it\'s')"), "string it's");
  EXPECT_EQ(Show("`raw \\n ``x```"), "string raw \\n `x`");
  EXPECT_EQ(CompileError(R"("\q")"), "col 2: invalid char escape");
  EXPECT_EQ(CompileError("'open"), "col 1: literal not terminated");
  EXPECT_EQ(CompileError("\"a\nb\""), "line 1, col 1: literal not terminated");
}

TEST(ExprLiterals, BoolsNilArraysMaps) {
  EXPECT_EQ(Show("true"), "bool true");
  EXPECT_EQ(Show("false"), "bool false");
  EXPECT_EQ(Show("nil"), "nil <nil>");
  EXPECT_EQ(Show("[1, 'a', nil, [2.5]]"), "array [1 a <nil> [2.5]]");
  EXPECT_EQ(Show("[1, 2,]"), "array [1 2]");
  EXPECT_EQ(Show("[]"), "array []");
  EXPECT_EQ(Show("{a: 1, \"b\": 2, 3: 'x', (\"c\" + \"d\"): true,}"),
            "map map[3:x a:1 b:2 cd:true]");
  EXPECT_EQ(Show("{b: 1, b: 2}"), "map map[b:2]");
  EXPECT_EQ(Show("{}"), "map map[]");
  EXPECT_EQ(Show("({(1): 2})"), "error: (1): a map key must be a string, got int");
}

TEST(ExprLiterals, Comments) {
  EXPECT_EQ(Show("1 + /* two */ 2 // three"), "int 3");
  EXPECT_EQ(CompileError("1 /* open"), "col 3: unclosed comment");
}

// ---- Operators ----------------------------------------------------------------------------------

TEST(ExprOperators, Arithmetic) {
  EXPECT_EQ(Show("1 + 2"), "int 3");
  EXPECT_EQ(Show("1 + 2.5"), "float 3.5");
  EXPECT_EQ(Show("'a' + 'b'"), "string ab");
  EXPECT_EQ(Show("5 - 7"), "int -2");
  EXPECT_EQ(Show("3 * 4"), "int 12");
  EXPECT_EQ(Show("3 * 0.5"), "float 1.5");
  EXPECT_EQ(Show("7 / 2"), "float 3.5");  // int / int is a float, as in expr
  EXPECT_EQ(Show("6 / 3"), "float 2");
  EXPECT_EQ(Show("1 / 0"), "float +Inf");
  EXPECT_EQ(Show("-1 / 0"), "float -Inf");
  EXPECT_EQ(Show("0 / 0"), "float NaN");
  EXPECT_EQ(Show("7 % 3"), "int 1");
  EXPECT_EQ(Show("-7 % 3"), "int -1");
  EXPECT_EQ(Show("7.5 % 2"), "error: 7.5 % 2: invalid operation: float % int");
  EXPECT_EQ(Show("7 % 0"), "error: 7 % 0: integer divide by zero");
  EXPECT_EQ(Show("2 ** 10"), "float 1024");
  EXPECT_EQ(Show("2 ^ 3 ^ 2"), "float 512");  // right-associative
  EXPECT_EQ(Show("-2 ** 2"), "float -4");     // ** binds tighter than unary minus
  EXPECT_EQ(Show("1 + 2 * 3 - 4 / 2"), "float 5");
  EXPECT_EQ(Show("(1 + 2) * 3"), "int 9");
  EXPECT_EQ(Show("9223372036854775807 + 1"), "int -9223372036854775808");  // wraps, as Go
  EXPECT_EQ(Show("1 + 'a'"), "error: 1 + 'a': invalid operation: int + string");
  EXPECT_EQ(Show("'a' - 'b'"), "error: 'a' - 'b': invalid operation: string - string");
}

TEST(ExprOperators, Unary) {
  EXPECT_EQ(Show("-5"), "int -5");
  EXPECT_EQ(Show("-(-5.5)"), "float 5.5");
  EXPECT_EQ(Show("+5"), "int 5");
  EXPECT_EQ(Show("!true"), "bool false");
  EXPECT_EQ(Show("not false"), "bool true");
  EXPECT_EQ(Show("not true == false"), "bool true");  // (not true) == false
  EXPECT_EQ(Show("!nil"), "error: !nil: not needs a bool, got nil");
  EXPECT_EQ(Show("-'a'"), "error: -'a': invalid operation: -string");
}

TEST(ExprOperators, Comparison) {
  EXPECT_EQ(Show("1 == 1.0"), "bool true");
  EXPECT_EQ(Show("1 != 2"), "bool true");
  EXPECT_EQ(Show("'a' == 'a'"), "bool true");
  EXPECT_EQ(Show("1 == '1'"), "bool false");
  EXPECT_EQ(Show("nil == nil"), "bool true");
  EXPECT_EQ(Show("nil == false"), "bool false");
  EXPECT_EQ(Show("[1, 2] == [1, 2.0]"), "bool true");
  EXPECT_EQ(Show("{a: [1]} == {a: [1]}"), "bool true");
  EXPECT_EQ(Show("2 > 1"), "bool true");
  EXPECT_EQ(Show("2 >= 2.0"), "bool true");
  EXPECT_EQ(Show("1 < 1.5"), "bool true");
  EXPECT_EQ(Show("3 <= 2"), "bool false");
  EXPECT_EQ(Show("'abc' < 'abd'"), "bool true");
  EXPECT_EQ(Show("1 < 2 < 3"), "bool true");  // chains: 1 < 2 && 2 < 3
  EXPECT_EQ(Show("3 > 2 > 2"), "bool false");
  EXPECT_EQ(Show("duration('1m') > duration('59s')"), "bool true");
  EXPECT_EQ(Show("now() > date('2023-01-01')"), "bool true");
  EXPECT_EQ(Show("1 < 'a'"), "error: 1 < 'a': invalid operation: int < string");
  EXPECT_EQ(Show("0 / 0 >= 0"), "bool false");  // NaN compares false
}

TEST(ExprOperators, Logical) {
  EXPECT_EQ(Show("true && false"), "bool false");
  EXPECT_EQ(Show("true and true"), "bool true");
  EXPECT_EQ(Show("false || true"), "bool true");
  EXPECT_EQ(Show("false or false"), "bool false");
  // Short circuit: the right side is not evaluated.
  EXPECT_EQ(Show("false && result[0] > 1", J("[]")), "bool false");
  EXPECT_EQ(Show("true || result[0] > 1", J("[]")), "bool true");
  EXPECT_EQ(Show("1 && true"), "error: 1 && true: && needs bool operands, got int");
  EXPECT_EQ(Show("true and nil"), "error: true and nil: and needs bool operands, got nil");
  EXPECT_EQ(Show("true or false and false"), "bool true");  // and binds tighter
}

TEST(ExprOperators, Conditionals) {
  EXPECT_EQ(Show("1 > 0 ? 'yes' : 'no'"), "string yes");
  EXPECT_EQ(Show("1 < 0 ? 'yes' : 1 < 2 ? 'inner' : 'no'"), "string inner");
  EXPECT_EQ(Show("false ?: 'other'"), "string other");
  EXPECT_EQ(Show("true ?: 'other'"), "bool true");
  EXPECT_EQ(Show("if 1 > 2 { 'a' } else if true { 'b' } else { 'c' }"), "string b");
  EXPECT_EQ(Show("nil ?? 5"), "int 5");
  EXPECT_EQ(Show("3 ?? 5"), "int 3");
  EXPECT_EQ(Show("result?.x ?? 'none'"), "string none");
  EXPECT_EQ(Show("1 ? 2 : 3"), "error: 1 ? 2 : 3: the condition of ?: must be a bool, got int");
}

TEST(ExprOperators, Membership) {
  EXPECT_EQ(Show("2 in [1, 2, 3]"), "bool true");
  EXPECT_EQ(Show("2.0 in [1, 2, 3]"), "bool true");
  EXPECT_EQ(Show("'x' not in ['a']"), "bool true");
  EXPECT_EQ(Show("'a' in {a: 1}"), "bool true");
  EXPECT_EQ(Show("'b' in {a: 1}"), "bool false");
  EXPECT_EQ(Show("1 in nil"), "bool false");
  EXPECT_EQ(Show("'a' in 'abc'"), "error: 'a' in 'abc': operator \"in\" not defined on string");
  EXPECT_EQ(Show("'result' in $env"), "bool true");
  EXPECT_EQ(ShowJ("$env.result + $env['result']", "2"), "int 4");
}

TEST(ExprOperators, Strings) {
  EXPECT_EQ(Show("'foobar' contains 'oba'"), "bool true");
  EXPECT_EQ(Show("'foobar' startsWith 'foo'"), "bool true");
  EXPECT_EQ(Show("'foobar' endsWith 'bar'"), "bool true");
  EXPECT_EQ(Show("'foobar' not contains 'x'"), "bool true");
  EXPECT_EQ(Show("'foobar' not startsWith 'bar'"), "bool true");
  EXPECT_EQ(Show("'foobar' not endsWith 'foo'"), "bool true");
  EXPECT_EQ(Show("nil contains 'x'"), "bool false");
  EXPECT_EQ(Show("1 contains 'x'"),
            "error: 1 contains 'x': invalid operation: int contains string (both sides must be "
            "strings)");
}

TEST(ExprOperators, Matches) {
  EXPECT_EQ(Show("'abc-123' matches '^[a-z]+-\\\\d+$'"), "bool true");
  EXPECT_EQ(Show("'abc' matches 'b'"), "bool true");  // unanchored, as Go's MatchString
  EXPECT_EQ(Show("'abc' not matches '^b'"), "bool true");
  EXPECT_EQ(Show("'ABC' matches '(?i)abc'"), "bool true");
  EXPECT_EQ(Show("nil matches 'a'"), "bool false");
  EXPECT_EQ(ShowJ("result matches ('^' + 'I am')", "\"I am OK\""), "bool true");
  // A constant pattern is compiled (and checked) at compile time; a dynamic one when evaluated.
  EXPECT_EQ(CompileError("'a' matches '('"),
            "col 13: invalid regular expression \"(\": missing ): (");
  EXPECT_EQ(ShowJ("'a' matches result", "\"(\""),
            "error: 'a' matches result: invalid regular expression \"(\": missing ): (");
}

TEST(ExprOperators, RangeSliceIndex) {
  EXPECT_EQ(Show("1..4"), "array [1 2 3 4]");
  EXPECT_EQ(Show("3..1"), "array []");
  EXPECT_EQ(Show("[1, 2, 3][0]"), "int 1");
  EXPECT_EQ(Show("[1, 2, 3][-1]"), "int 3");
  EXPECT_EQ(Show("[1, 2, 3][1.9]"), "int 2");
  EXPECT_EQ(Show("[1, 2, 3, 4, 5][1:3]"), "array [2 3]");
  EXPECT_EQ(Show("[1, 2, 3, 4, 5][1:-1]"), "array [2 3 4]");
  EXPECT_EQ(Show("[1, 2, 3, 4, 5][:2]"), "array [1 2]");
  EXPECT_EQ(Show("[1, 2, 3, 4, 5][3:]"), "array [4 5]");
  EXPECT_EQ(Show("[1, 2, 3][:]"), "array [1 2 3]");
  EXPECT_EQ(Show("[1, 2, 3][2:1]"), "array []");
  EXPECT_EQ(Show("[1, 2, 3][-10:10]"), "array [1 2 3]");
  EXPECT_EQ(Show("'hello'[1:3]"), "string el");
  EXPECT_EQ(Show("'abc'[0]"), "int 97");  // a byte, as Go indexes strings
  EXPECT_EQ(Show("{a: 1}.a"), "int 1");
  EXPECT_EQ(Show("{a: 1}['a']"), "int 1");
  EXPECT_EQ(Show("{a: 1}.b"), "nil <nil>");
  EXPECT_EQ(Show("{a: {b: [10, 20]}}.a.b[1]"), "int 20");
  EXPECT_EQ(Show("[1, 2, 3][3]"),
            "error: [1, 2, 3][3]: index out of range: 3 (the array has 3 elements)");
  EXPECT_EQ(Show("[1][-2]"), "error: [1][-2]: index out of range: -2 (the array has 1 elements)");
  EXPECT_EQ(Show("[1]['a']"), "error: [1]['a']: cannot index array with string");
  EXPECT_EQ(Show("1[0]"), "compile error: col 2: unexpected token \"[\"");
  EXPECT_EQ(Show("true.x"), "compile error: col 5: unexpected token \".\"");
  EXPECT_EQ(ShowJ("result.x", "5"), "error: result.x: cannot read field \"x\" of int");
  EXPECT_EQ(ShowJ("result[1:]", "{}"), "error: result[1:]: cannot slice map");
}

TEST(ExprOperators, OptionalChaining) {
  EXPECT_EQ(Show("result?.a"), "nil <nil>");
  EXPECT_EQ(Show("result?.a.b.c"), "nil <nil>");  // the whole chain short-circuits
  EXPECT_EQ(Show("result?.[0]"), "nil <nil>");
  EXPECT_EQ(ShowJ("result.a?.b", "{\"a\": {\"b\": 2}}"), "int 2");
  EXPECT_EQ(ShowJ("result.a?.b.c", "{\"a\": {\"b\": null}}"),
            "error: result.a?.b.c: cannot read field \"c\" of nil");
  EXPECT_EQ(Show("result.a"),
            "error: result.a: cannot read field \"a\" of nil (result is nil \xE2\x80\x94 the "
            "provider returned no value; isNil(result) or default(result, \xE2\x80\xA6) can "
            "guard it)");
}

TEST(ExprOperators, PipeLetSequence) {
  EXPECT_EQ(ShowJ("result | len()", "[1, 2]"), "int 2");
  EXPECT_EQ(Show("[1, 2, 3] | map(# * 2) | filter(# > 2) | sum()"), "int 10");
  EXPECT_EQ(Show("'a,b' | split(',') | join('+')"), "string a+b");
  EXPECT_EQ(Show("let x = 2; x * x"), "int 4");
  EXPECT_EQ(Show("let x = 2; let y = x + 1; x * y"), "int 6");
  EXPECT_EQ(Show("1; 2; 3"), "int 3");
  EXPECT_EQ(Show("map([1, 2], {let d = # * 2; d + 1})"), "array [3 5]");
  EXPECT_EQ(CompileError("let result = 1; result"), "col 5: cannot redeclare result");
  EXPECT_EQ(CompileError("let len = 1; len"), "col 5: cannot redeclare builtin len");
  EXPECT_EQ(CompileError("let x = 1; let x = 2; x"), "col 16: cannot redeclare variable x");
  EXPECT_EQ(CompileError("let x = x; x"), "col 9: unknown name x");
}

TEST(ExprOperators, Closures) {
  EXPECT_EQ(Show("filter([{a: 1}, {a: 2}], .a > 1)"), "array [map[a:2]]");
  EXPECT_EQ(Show("filter([{a: 1}, {a: 2}], {#.a > 1})"), "array [map[a:2]]");
  EXPECT_EQ(Show("map([[1, 2], [3]], {map(#, # * 10)})"), "array [[10 20] [30]]");
  EXPECT_EQ(Show("map([10, 20], #index)"), "array [0 1]");
  EXPECT_EQ(Show("reduce([1, 2, 3], #acc * 10 + # + #index, 0)"), "int 135");
  EXPECT_EQ(CompileError("filter([1], #index > 0)"),
            "col 13: unknown pointer #index (#index is available in map() and reduce())");
  EXPECT_EQ(CompileError("map([1], #acc)"),
            "col 10: unknown pointer #acc (#acc is available in reduce())");
  EXPECT_EQ(CompileError("# > 1"), "col 1: unexpected token \"#\"");
  EXPECT_EQ(CompileError("all([1], # > 0; true)"), "col 15: wrap predicate with brackets { and }");
  EXPECT_EQ(Show("all([1, 2], # + 1)"),
            "error: # + 1: the predicate of all() must return a bool, got int");
  EXPECT_EQ(Show("all(nil, # > 0)"), "error: all(nil, # > 0): all() needs an array, got nil");
}

// ---- Builtins -----------------------------------------------------------------------------------

TEST(ExprBuiltins, Predicates) {
  EXPECT_EQ(Show("all([1, 2], # > 0)"), "bool true");
  EXPECT_EQ(Show("all([], # > 0)"), "bool true");
  EXPECT_EQ(Show("any([1, 2], # > 1)"), "bool true");
  EXPECT_EQ(Show("any([], # > 1)"), "bool false");
  EXPECT_EQ(Show("none([1, 2], # > 2)"), "bool true");
  EXPECT_EQ(Show("one([1, 2, 3], # > 2)"), "bool true");
  EXPECT_EQ(Show("one([1, 2, 3], # > 1)"), "bool false");
  EXPECT_EQ(Show("filter(1..6, # % 2 == 0)"), "array [2 4 6]");
  EXPECT_EQ(Show("map(1..3, # * #)"), "array [1 4 9]");
  EXPECT_EQ(Show("find([1, 2, 3, 4], # > 2)"), "int 3");
  EXPECT_EQ(Show("find([1], # > 2)"), "nil <nil>");
  EXPECT_EQ(Show("findIndex([1, 2, 3, 4], # > 2)"), "int 2");
  EXPECT_EQ(Show("findLast([1, 2, 3, 4], # > 2)"), "int 4");
  EXPECT_EQ(Show("findLastIndex([1, 2, 3, 4], # > 2)"), "int 3");
  EXPECT_EQ(Show("findIndex([1], # > 2)"), "nil <nil>");
  EXPECT_EQ(Show("count([1, 2, 3], # > 1)"), "int 2");
  EXPECT_EQ(Show("count([true, false, true])"), "int 2");
  EXPECT_EQ(Show("sum([1, 2, 3])"), "int 6");
  EXPECT_EQ(Show("sum([1, 2.5])"), "float 3.5");
  EXPECT_EQ(Show("sum([])"), "int 0");
  EXPECT_EQ(Show("sum([{v: 1}, {v: 2}], .v)"), "int 3");
  EXPECT_EQ(Show("groupBy(1..5, # % 2)"), "map map[0:[2 4] 1:[1 3 5]]");
  EXPECT_EQ(Show("groupBy(1..3, # > 1)[true]"), "array [2 3]");
  EXPECT_EQ(Show("groupBy(1..4, # % 2)[0]"), "array [2 4]");
  EXPECT_EQ(Show("sortBy([{a: 3}, {a: 1}, {a: 2}], .a)"), "array [map[a:1] map[a:2] map[a:3]]");
  EXPECT_EQ(Show("sortBy([1, 3, 2], #, 'desc')"), "array [3 2 1]");
  EXPECT_EQ(Show("sortBy([1, 'a'], #)"),
            "error: sortBy([1, 'a'], #): sortBy(): invalid operation: int < string");
  EXPECT_EQ(Show("reduce(1..4, #acc + #)"), "int 10");
  EXPECT_EQ(Show("reduce([], #acc + #, 42)"), "int 42");
  EXPECT_EQ(Show("reduce([], #acc)"),
            "error: reduce([], #acc): reduce of empty array with no initial value");
}

TEST(ExprBuiltins, Arrays) {
  EXPECT_EQ(Show("first([1, 2])"), "int 1");
  EXPECT_EQ(Show("first([])"), "nil <nil>");
  EXPECT_EQ(Show("last([1, 2])"), "int 2");
  EXPECT_EQ(Show("last(nil)"), "nil <nil>");
  EXPECT_EQ(Show("take([1, 2, 3], 2)"), "array [1 2]");
  EXPECT_EQ(Show("take([1, 2, 3], 9)"), "array [1 2 3]");
  EXPECT_EQ(Show("take([1], 1.5)"), "error: take([1], 1.5): cannot take float elements");
  EXPECT_EQ(Show("reverse([1, 2, 3])"), "array [3 2 1]");
  EXPECT_EQ(Show("uniq([1, 2, 1.0, 'a', 'a'])"), "array [1 2 a]");
  EXPECT_EQ(Show("concat([1], [2, 3], [])"), "array [1 2 3]");
  EXPECT_EQ(Show("concat([1], 2)"), "error: concat([1], 2): cannot concat int");
  EXPECT_EQ(Show("flatten([1, [2, [3, [4]]]])"), "array [1 2 3 4]");
  EXPECT_EQ(Show("sort([3, 1.5, 2])"), "array [1.5 2 3]");
  EXPECT_EQ(Show("sort(['b', 'a'], 'desc')"), "array [b a]");
  EXPECT_EQ(Show("sort([1], 'up')"),
            "error: sort([1], 'up'): invalid order up, expected asc or desc");
  EXPECT_EQ(Show("mean([1, 2, 3, 4])"), "float 2.5");
  EXPECT_EQ(Show("mean([])"), "float 0");
  EXPECT_EQ(Show("mean(10, [1, 2, 3], 1..9)"), "float 4.6923076923076925");
  EXPECT_EQ(Show("median([1, 2, 3, 4])"), "float 2.5");
  EXPECT_EQ(Show("median(1..5, 4.9)"), "float 3.5");
  EXPECT_EQ(Show("median(['a'])"),
            "error: median(['a']): invalid argument for median (type string)");
  EXPECT_EQ(Show("len([1, 2])"), "int 2");
  EXPECT_EQ(Show("len({a: 1})"), "int 1");
  EXPECT_EQ(Show("len('h\xC3\xA9llo')"), "int 5");  // code points
  EXPECT_EQ(Show("len(1)"),
            "error: len(1): invalid argument for len (expected an array, a map or a string, got "
            "int)");
  EXPECT_EQ(Show("get([1, 2], 1)"), "int 2");
  EXPECT_EQ(Show("get([1, 2], -1)"), "int 2");
  EXPECT_EQ(Show("get([1, 2], 5)"), "nil <nil>");
  EXPECT_EQ(Show("get({a: 1}, 'a')"), "int 1");
  EXPECT_EQ(Show("get({a: 1}, 'b')"), "nil <nil>");
  EXPECT_EQ(Show("get(nil, 1)"), "nil <nil>");
}

TEST(ExprBuiltins, Numbers) {
  EXPECT_EQ(Show("abs(-5)"), "int 5");
  EXPECT_EQ(Show("abs(-2.5)"), "float 2.5");
  EXPECT_EQ(Show("ceil(1.2)"), "float 2");
  EXPECT_EQ(Show("ceil(5)"), "float 5");
  EXPECT_EQ(Show("floor(1.8)"), "float 1");
  EXPECT_EQ(Show("round(2.5)"), "float 3");
  EXPECT_EQ(Show("round(-2.5)"), "float -3");  // half away from zero
  EXPECT_EQ(Show("max(1, 2.5, [3, [7]])"), "int 7");
  EXPECT_EQ(Show("min([1, 2, 4, 10], 20, [29, 23, -19])"), "int -19");
  EXPECT_EQ(Show("max([])"), "nil <nil>");
  EXPECT_EQ(Show("max('a', 1)"), "error: max('a', 1): invalid argument for max (type string)");
  EXPECT_EQ(CompileError("max()"),
            "col 1: invalid number of arguments for max (expected at least 1, got 0)");
}

TEST(ExprBuiltins, Conversions) {
  EXPECT_EQ(Show("int('42')"), "int 42");
  EXPECT_EQ(Show("int(3.9)"), "int 3");
  EXPECT_EQ(Show("int(-3.9)"), "int -3");
  EXPECT_EQ(Show("int('x')"), "error: int('x'): invalid operation: int(\"x\")");
  EXPECT_EQ(Show("float(2)"), "float 2");
  EXPECT_EQ(Show("float('1.5e2')"), "float 150");
  EXPECT_EQ(Show("float('x')"), "error: float('x'): invalid operation: float(\"x\")");
  EXPECT_EQ(Show("string(1.5)"), "string 1.5");
  EXPECT_EQ(Show("string(1000000.0)"), "string 1e+06");  // Go's %v
  EXPECT_EQ(Show("string(123456.0)"), "string 123456");
  EXPECT_EQ(Show("string(0.00001)"), "string 1e-05");
  EXPECT_EQ(Show("string([1, 'a', nil, {x: true}])"), "string [1 a <nil> map[x:true]]");
  EXPECT_EQ(Show("string(duration('90m'))"), "string 1h30m0s");
  EXPECT_EQ(Show("type(1) + type(1.5) + type('') + type([]) + type({}) + type(nil) + type(true)"),
            "string intfloatstringarraymapnilbool");
  EXPECT_EQ(Show("type(now()) + ' ' + type(duration('1s'))"), "string time.Time time.Duration");
  EXPECT_EQ(Show("toJSON({b: 1.5, a: [1, 'x<'], c: {}, d: []})"),
            "string {\n  \"a\": [\n    1,\n    \"x\\u003c\"\n  ],\n  \"b\": 1.5,\n  \"c\": {},\n  "
            "\"d\": []\n}");
  EXPECT_EQ(Show("toJSON(1e21) + ' ' + toJSON(0.0000001) + ' ' + toJSON(nil)"),
            "string 1e+21 1e-7 null");
  EXPECT_EQ(Show("toJSON(0 / 0)"), "error: toJSON(0 / 0): json: unsupported value: NaN");
  EXPECT_EQ(Show("toJSON(date('2023-08-14T10:00:00.5Z'))"), "string \"2023-08-14T10:00:00.5Z\"");
  EXPECT_EQ(Show("fromJSON('{\"a\": [1, true, null, \"s\"]}')"), "map map[a:[1 true <nil> s]]");
  EXPECT_EQ(Show("type(fromJSON('1'))"), "string float");  // Go decodes numbers as float64
  EXPECT_EQ(Show("fromJSON('{')"), "error: fromJSON('{'): fromJSON(): invalid JSON");
  EXPECT_EQ(Show("toBase64('Hello World')"), "string SGVsbG8gV29ybGQ=");
  EXPECT_EQ(Show("fromBase64('SGVsbG8gV29ybGQ=')"), "string Hello World");
  EXPECT_EQ(Show("fromBase64('SGVsbG8')"),
            "error: fromBase64('SGVsbG8'): illegal base64 data at input byte 7");
  EXPECT_EQ(Show("toPairs({a: 1, b: 'x'})"), "array [[a 1] [b x]]");
  EXPECT_EQ(Show("fromPairs([['a', 1], ['b', 2]])"), "map map[a:1 b:2]");
  EXPECT_EQ(Show("fromPairs(toPairs({a: 1}))"), "map map[a:1]");
  EXPECT_EQ(Show("fromPairs([[1]])"), "error: fromPairs([[1]]): invalid pair [1]");
  EXPECT_EQ(Show("keys({b: 1, a: 2})"), "array [a b]");
  EXPECT_EQ(Show("values({b: 1, a: 2})"), "array [2 1]");
  EXPECT_EQ(Show("keys([1])"), "error: keys([1]): cannot get keys from array");
}

TEST(ExprBuiltins, Strings) {
  EXPECT_EQ(Show("trim('  x  ')"), "string x");
  EXPECT_EQ(Show("trim('__x__', '_')"), "string x");
  EXPECT_EQ(Show("trimPrefix('HelloWorld', 'Hello')"), "string World");
  EXPECT_EQ(Show("trimSuffix('HelloWorld', 'World')"), "string Hello");
  EXPECT_EQ(Show("trimPrefix(' x')"), "string x");
  EXPECT_EQ(Show("upper('abc')"), "string ABC");
  EXPECT_EQ(Show("lower('ABC')"), "string abc");
  EXPECT_EQ(Show("split('a,b,c', ',')"), "array [a b c]");
  EXPECT_EQ(Show("split('a,b,c', ',', 2)"), "array [a b,c]");
  EXPECT_EQ(Show("split('abc', '')"), "array [a b c]");
  EXPECT_EQ(Show("len(split('', ','))"), "int 1");
  EXPECT_EQ(Show("splitAfter('a,b,c', ',')"), "array [a, b, c]");
  EXPECT_EQ(Show("splitAfter('a,b,c', ',', 2)"), "array [a, b,c]");
  EXPECT_EQ(Show("replace('a-b-c', '-', '+')"), "string a+b+c");
  EXPECT_EQ(Show("replace('a-b-c', '-', '+', 1)"), "string a+b-c");
  EXPECT_EQ(Show("replace('ab', '', '.')"), "string .a.b.");
  EXPECT_EQ(Show("repeat('ab', 3)"), "string ababab");
  EXPECT_EQ(Show("repeat('ab', -1)"),
            "error: repeat('ab', -1): invalid argument for repeat (expected positive integer, got "
            "-1)");
  EXPECT_EQ(Show("join(['a', 'b'], '-')"), "string a-b");
  EXPECT_EQ(Show("join(['a', 'b'])"), "string ab");
  EXPECT_EQ(Show("join(['a', 1])"),
            "error: join(['a', 1]): join() needs strings, element 1 is int");
  EXPECT_EQ(Show("indexOf('apple pie', 'pie')"), "int 6");
  EXPECT_EQ(Show("indexOf('apple', 'x')"), "int -1");
  EXPECT_EQ(Show("lastIndexOf('apple pie apple', 'apple')"), "int 10");
  EXPECT_EQ(Show("hasPrefix('HelloWorld', 'Hello')"), "bool true");
  EXPECT_EQ(Show("hasSuffix('HelloWorld', 'World')"), "bool true");
  EXPECT_EQ(Show("upper(1)"),
            "error: upper(1): invalid argument for upper (expected a string, got int)");
}

TEST(ExprBuiltins, Bits) {
  EXPECT_EQ(Show("bitand(0b1010, 0b1100)"), "int 8");
  EXPECT_EQ(Show("bitor(0b1010, 0b1100)"), "int 14");
  EXPECT_EQ(Show("bitxor(0b1010, 0b1100)"), "int 6");
  EXPECT_EQ(Show("bitnand(0b1010, 0b1100)"), "int 2");
  EXPECT_EQ(Show("bitnot(0b1010)"), "int -11");
  EXPECT_EQ(Show("bitshl(0b101101, 2)"), "int 180");
  EXPECT_EQ(Show("bitshr(0b101101, 2)"), "int 11");
  EXPECT_EQ(Show("bitushr(-0b101, 2)"), "int 4611686018427387902");
  EXPECT_EQ(Show("bitshl(1, 64)"), "int 0");
  EXPECT_EQ(Show("bitshr(-8, 70)"), "int -1");
  EXPECT_EQ(Show("bitshl(1, -1)"),
            "error: bitshl(1, -1): invalid operation: negative shift count -1 (type int)");
  EXPECT_EQ(Show("bitand(1.5, 1)"),
            "error: bitand(1.5, 1): cannot use float as argument (type int) to call bitand");
}

TEST(ExprBuiltins, Time) {
  EXPECT_EQ(Show("now()"), "time.Time 2023-08-14 08:00:00.123456789 +0000 UTC");
  EXPECT_EQ(Show("now() - duration('5m')"), "time.Time 2023-08-14 07:55:00.123456789 +0000 UTC");
  EXPECT_EQ(Show("duration('1h30m')"), "time.Duration 1h30m0s");
  EXPECT_EQ(Show("duration('1.5s') + duration('-250ms')"), "time.Duration 1.25s");
  EXPECT_EQ(Show("duration('1us')"), "time.Duration 1\xC2\xB5s");
  EXPECT_EQ(Show("duration('2m') * 3"), "time.Duration 6m0s");
  EXPECT_EQ(Show("duration('1x')"),
            "error: duration('1x'): time: unknown unit \"x\" in duration \"1x\"");
  EXPECT_EQ(Show("duration('')"), "error: duration(''): time: invalid duration \"\"");
  EXPECT_EQ(Show("duration('1h').Seconds()"), "float 3600");
  EXPECT_EQ(Show("duration('90s').Minutes()"), "float 1.5");
  EXPECT_EQ(Show("duration('1500ms').Milliseconds()"), "int 1500");
  EXPECT_EQ(Show("date('2023-08-14')"), "time.Time 2023-08-14 00:00:00 +0000 UTC");
  EXPECT_EQ(Show("date('2023-08-14 10:11:12')"), "time.Time 2023-08-14 10:11:12 +0000 UTC");
  EXPECT_EQ(Show("date('2023-08-14T10:00:00+02:00')"), "time.Time 2023-08-14 08:00:00 +0000 UTC");
  EXPECT_EQ(Show("date('2023-08-14T10:00:00.25Z')"), "time.Time 2023-08-14 10:00:00.25 +0000 UTC");
  EXPECT_EQ(Show("date('Mon, 14 Aug 2023 15:04:05 UTC')"),
            "time.Time 2023-08-14 15:04:05 +0000 UTC");
  EXPECT_EQ(Show("date('14 Aug 23 15:04 GMT')"), "time.Time 2023-08-14 15:04:00 +0000 UTC");
  EXPECT_EQ(Show("date('2023.08.14', '2006.01.02')"), "time.Time 2023-08-14 00:00:00 +0000 UTC");
  EXPECT_EQ(Show("date('Aug 14, 2023 at 3:04pm', 'Jan 2, 2006 at 3:04pm')"),
            "time.Time 2023-08-14 15:04:00 +0000 UTC");
  EXPECT_EQ(Show("date('2023-08-14', '2006-01-02', 'UTC')"),
            "time.Time 2023-08-14 00:00:00 +0000 UTC");
  EXPECT_EQ(Show("date('2023-02-30')"), "error: date('2023-02-30'): invalid date 2023-02-30");
  EXPECT_EQ(Show("date('2023-13-01', '2006-01-02')"),
            "error: date('2023-13-01', '2006-01-02'): parsing time \"2023-13-01\": month out of "
            "range");
  EXPECT_EQ(Show("date('x', '2006')"),
            "error: date('x', '2006'): parsing time \"x\" as \"2006\": cannot parse \"x\" as "
            "\"2006\"");
  EXPECT_EQ(Show("now().Year() * 100 + now().Month()"), "int 202308");
  EXPECT_EQ(Show("[now().Day(), now().Hour(), now().Minute(), now().Second(), now().Weekday()]"),
            "array [14 8 0 0 1]");
  EXPECT_EQ(Show("now().YearDay()"), "int 226");
  EXPECT_EQ(Show("now().Unix()"), "int 1692000000");
  EXPECT_EQ(Show("now().Format('2006-01-02T15:04:05.000Z07:00 Mon Jan _2')"),
            "string 2023-08-14T08:00:00.123Z Mon Aug 14");
  EXPECT_EQ(Show("now().Add(duration('1h')).Sub(now())"), "time.Duration 1h0m0s");
  EXPECT_EQ(Show("now().Truncate(duration('1h'))"), "time.Time 2023-08-14 08:00:00 +0000 UTC");
  EXPECT_EQ(Show("now().AddDate(0, 1, 20)"), "time.Time 2023-10-04 08:00:00.123456789 +0000 UTC");
  EXPECT_EQ(Show("now().Before(date('2024-01-01'))"), "bool true");
  EXPECT_EQ(Show("(now() - date('2023-08-14')).Hours() > 8"), "bool true");
  EXPECT_EQ(Show("now().Foo()"), "error: now().Foo(): time.Time has no method Foo");
  EXPECT_EQ(Show("now().Year"),
            "error: now().Year: Year is not a field of time.Time (methods are called: .Year())");
  EXPECT_EQ(Show("date('15:04:05')"),
            "error: date('15:04:05'): date out of range: ramp represents times from 1677-09-21 "
            "to 2262-04-11 (UTC)");
}

TEST(ExprBuiltins, TimeZonesAreACompileError) {
  EXPECT_EQ(CompileError("timezone('Europe/Paris')"),
            "col 1: timezone(): ramp evaluates times in UTC only; named time zones are not "
            "supported");
  EXPECT_EQ(CompileError("date('2023-08-14 00:00', '2006-01-02 15:04', 'Europe/Paris')"),
            "col 46: date(): time zone \"Europe/Paris\": ramp evaluates times in UTC only; named "
            "time zones are not supported");
  EXPECT_EQ(CompileError("now(timezone('UTC'))"),
            "col 1: invalid number of arguments for now (expected 0, got 1)");
  EXPECT_EQ(ShowJ("date('2023-08-14', '2006-01-02', result)", "\"Asia/Tokyo\""),
            "error: date('2023-08-14', '2006-01-02', result): time zone \"Asia/Tokyo\": ramp "
            "evaluates times in UTC only; named time zones are not supported");
}

// ---- Argo's functions ---------------------------------------------------------------------------

TEST(ExprArgo, AsIntAsFloat) {
  EXPECT_EQ(ShowJ("asInt(result)", "\"42\""), "int 42");
  EXPECT_EQ(ShowJ("asInt(result)", "42.9"), "int 42");
  EXPECT_EQ(ShowJ("asInt(result)", "-7"), "int -7");
  EXPECT_EQ(ShowJ("asInt(result)", "\"1.1\""),
            "error: asInt(result): strconv.ParseInt: parsing \"1.1\": invalid syntax");
  EXPECT_EQ(ShowJ("asInt(result)", "true"),
            "error: asInt(result): asInt() not supported on bool true");
  EXPECT_EQ(ShowJ("asFloat(result)", "\"0.95\""), "float 0.95");
  EXPECT_EQ(ShowJ("asFloat(result)", "3"), "float 3");
  EXPECT_EQ(ShowJ("asFloat(result)", "\"NaN\""), "float NaN");
  EXPECT_EQ(ShowJ("asFloat(result)", "\"abc\""),
            "error: asFloat(result): strconv.ParseFloat: parsing \"abc\": invalid syntax");
  EXPECT_EQ(
      Show("asFloat(result)"),
      "error: asFloat(result): asFloat() not supported on nil <nil> (result is nil \xE2\x80\x94 "
      "the provider returned no value; isNil(result) or default(result, \xE2\x80\xA6) can "
      "guard it)");
}

TEST(ExprArgo, IsNaNIsInf) {
  EXPECT_EQ(Show("isNaN(result)", Value::Float(std::nan(""))), "bool true");
  EXPECT_EQ(Show("isNaN(result)", Value::Float(0.5)), "bool false");
  EXPECT_EQ(Show("isNaN(1)"), "bool false");
  EXPECT_EQ(Show("isInf(result)", Value::Float(-std::numeric_limits<double>::infinity())),
            "bool true");
  EXPECT_EQ(Show("isInf(1.5)"), "bool false");
  EXPECT_EQ(Show("isNaN('x')"),
            "error: isNaN('x'): invalid argument for isNaN (expected a number, got string)");
}

TEST(ExprArgo, IsNilAndDefaultLookAtTheWholeResult) {
  // isNil(_) ignores its argument: it is true when the whole result is nil.
  EXPECT_EQ(Show("isNil(result)"), "bool true");
  EXPECT_EQ(Show("isNil(5)"), "bool true");
  EXPECT_EQ(ShowJ("isNil(nil)", "[]"), "bool false");  // an empty vector is not nil
  EXPECT_EQ(ShowJ("isNil(result)", "0"), "bool false");
  // default(_, d) ignores its first argument: d when the whole result is nil, else result.
  EXPECT_EQ(Show("default(result, 0)"), "int 0");
  EXPECT_EQ(ShowJ("default(result, 0)", "[0.5]"), "array [0.5]");
  EXPECT_EQ(ShowJ("default(1234, 0)", "7"), "int 7");
  EXPECT_EQ(Show("default(nil, 3) < 5"), "bool true");
  // §11.6: the first argument is still evaluated, so it does not guard an empty vector.
  EXPECT_EQ(ShowJ("default(result[0], 0) < 5", "[]"),
            "error: result[0]: index out of range (the array is empty \xE2\x80\x94 e.g. the "
            "query returned an empty vector)");
  EXPECT_EQ(CompileError("isNil()"),
            "col 1: invalid number of arguments for isNil (expected 1, got 0)");
  EXPECT_EQ(CompileError("default(result)"),
            "col 1: invalid number of arguments for default (expected 2, got 1)");
}

// ---- The conditions of reference §4, with realistic results -------------------------------------

struct CondCase {
  const char* condition;
  const char* result;  // JSON
  const char* want;    // "true", "false" or the error
};

TEST(ExprArgo, ReferenceConditions) {
  const CondCase cases[] = {
      // Prometheus instant vector: []float64.
      {"result[0] >= 0.95", "[0.99]", "true"},
      {"result[0] >= 0.95", "[0.5]", "false"},
      {"result[0] >= 10", "[12]", "true"},
      {"result[0] <= 0.95", "[0.9]", "true"},
      {"result[0] >= 0.90", "[0.91]", "true"},
      {"result[0] < 0.50", "[0.4]", "true"},
      {"result[0] >= 0.99", "[0.995, 0.2]", "true"},
      {"len(result) > 0 && result[0] >= 0.95", "[]", "false"},
      {"len(result) > 0 && result[0] >= 0.95", "[0.97]", "true"},
      {"len(result) == 0 || result[0] >= 0.95", "[]", "true"},
      {"len(result) == 0 || result[0] >= 0.95", "[0.5]", "false"},
      {"all(result, # < 1000)", "[100, 200, 999]", "true"},
      {"all(result, # < 1000)", "[100, 2000]", "false"},
      // Prometheus scalar / Datadog: float64 or nil.
      {"result >= 0.95", "0.97", "true"},
      {"result <= 0.01", "0.001", "true"},
      {"result < 0.95", "0.5", "true"},
      {"default(result, 0) < 5", "null", "true"},
      {"default(result, 0) < 5", "7", "false"},
      {"default(result, 0) < 0.05", "null", "true"},
      {"default(result, 0) > 3", "null", "false"},
      {"max(result) < 0.05", "[0.01, 0.04]", "true"},
      {"max(result) < 0.05", "[0.01, 0.06]", "false"},
      {"isNaN(result) || result >= 0.95", "0.96", "true"},
      {"isInf(result)", "1.5", "false"},
      // Web / Job-like results.
      {"result == true", "true", "true"},
      {"result == true", "false", "false"},
      {"result == 'true'", "\"true\"", "true"},
      {"result == 'It worked!'", "\"It worked!\"", "true"},
      {"result == \"I am OK\"", "\"I am OK\"", "true"},
      {"result == \"I am OK\"", "\"I am not OK\"", "false"},
      {"result.major == '1'", "{\"major\": \"1\", \"minor\": \"27\"}", "true"},
      {"result.Status == 999", "{\"Status\": 999}", "true"},
      {"result.Status == -1", "{\"Status\": -1}", "true"},
      // New Relic: one row → a map.
      {"result.successRate >= 0.95", "{\"successRate\": 0.99}", "true"},
      {"result.ok && result.successPercent >= 0.90", "{\"ok\": true, \"successPercent\": 0.93}",
       "true"},
      {"result.ok && result.successPercent >= 0.90", "{\"ok\": false, \"successPercent\": 0.93}",
       "false"},
      // CloudWatch: []MetricDataResult.
      {"len(result[0].Values) >= 5 and all(result[0].Values, {# <= 0.01})",
       "[{\"Id\": \"m1\", \"Label\": \"errors\", \"Values\": [0.001, 0, 0.002, 0.01, 0.005], "
       "\"Timestamps\": [], \"StatusCode\": \"Complete\"}]",
       "true"},
      {"len(result[0].Values) >= 5 and all(result[0].Values, {# <= 0.01})",
       "[{\"Id\": \"m1\", \"Values\": [0.001, 0.2]}]", "false"},
      // SkyWalking: decoded GraphQL data.
      {"all(result.service_apdex.values.values, {asFloat(.value) >= 9900})",
       "{\"service_apdex\": {\"values\": {\"values\": [{\"id\": \"a\", \"value\": \"9950\"}, "
       "{\"id\": \"b\", \"value\": 9999}]}}}",
       "true"},
      // §11.5: the Graphite docs' `results` is an unknown name.
      {"results[0] >= 0.95", "[1]",
       "compile error: col 1: unknown name results (did you mean result?)"},
      // Typical errors.
      {"result[0] >= 0.95", "[]",
       "error: result[0]: index out of range (the array is empty \xE2\x80\x94 e.g. the query "
       "returned an empty vector)"},
      {"result >= 0.95", "[0.99]",
       "error: result >= 0.95: invalid operation: array >= float (result is an array \xE2\x80\x94 "
       "did you mean result[0]?)"},
      {"result.Values[0] > 1", "[{\"Values\": [2]}]",
       "error: result.Values: cannot index array with string (result is an array \xE2\x80\x94 "
       "did you mean result[0].Values?)"},
      {"result.successRate >= 0.95", "null",
       "error: result.successRate: cannot read field \"successRate\" of nil (result is nil "
       "\xE2\x80\x94 the provider returned no value; isNil(result) or default(result, "
       "\xE2\x80\xA6) "
       "can guard it)"},
      {"result", "0.5", "error: condition must return a bool, got float"},
  };
  for (const CondCase& c : cases) {
    EXPECT_EQ(Cond(c.condition, J(c.result)), c.want) << c.condition << " with " << c.result;
  }
}

TEST(ExprArgo, TemplatedConditionsAfterArgumentSubstitution) {
  // `result == "{{args.success-condition}}"` and `default(result, 0) > {{ args.x }}` are
  // substituted before compiling.
  EXPECT_EQ(Cond("result == \"ok\"", J("\"ok\"")), "true");
  EXPECT_EQ(Cond("default(result, 0) > 3", J("5")), "true");
}

TEST(ExprArgo, DocumentedNaNInfBehaviours) {
  const Value nan = Value::Float(std::numeric_limits<double>::quiet_NaN());
  const Value inf = Value::Float(std::numeric_limits<double>::infinity());
  // NaN with success `result >= 0.95` (and no failure condition) ⇒ Failed.
  EXPECT_EQ(Cond("result >= 0.95", nan), "false");
  // NaN with success >= 0.95 and failure < 0.95 ⇒ neither holds ⇒ Inconclusive.
  EXPECT_EQ(Cond("result < 0.95", nan), "false");
  // +Inf with `result >= 0.95` ⇒ Successful.
  EXPECT_EQ(Cond("result >= 0.95", inf), "true");
  // The guards of the docs.
  EXPECT_EQ(Cond("isNaN(result) || result >= 0.95", nan), "true");
  EXPECT_EQ(Cond("isInf(result)", inf), "true");
  // An empty vector is neither nil nor guarded by default().
  EXPECT_EQ(Cond("len(result) == 0", J("[]")), "true");
  EXPECT_EQ(Cond("isNil(result)", J("[]")), "false");
}

// ---- Errors -------------------------------------------------------------------------------------

TEST(ExprErrors, ParseErrorsCarryTheColumn) {
  EXPECT_EQ(CompileError("result[0] >= )"), "col 14: unexpected token \")\"");
  EXPECT_EQ(CompileError("(1 + 2"), "col 7: unexpected end of expression");
  EXPECT_EQ(CompileError("result[0] >="), "col 13: unexpected end of expression");
  EXPECT_EQ(CompileError("1 2"), "col 3: unexpected token \"2\"");
  EXPECT_EQ(CompileError("'a' 'b'"), "col 5: unexpected token 'b'");
  EXPECT_EQ(CompileError("result @ 1"), "col 8: unrecognized character: U+0040 '@'");
  EXPECT_EQ(CompileError("result.\n  foo(1)\n  .bar +"),
            "line 3, col 9: unexpected end of expression");
  EXPECT_EQ(CompileError("len(result) >\n  )"), "line 2, col 3: unexpected token \")\"");
  EXPECT_EQ(CompileError("\xC3\xA9t\xC3\xA9 )"), "col 1: unknown name \xC3\xA9t\xC3\xA9");
  EXPECT_EQ(CompileError("'\xC3\xA9' )"), "col 5: unexpected token \")\"");  // code points
  EXPECT_EQ(CompileError("foo(1)"), "col 1: unknown function foo");
  EXPECT_EQ(CompileError("result(1)"), "col 1: result is not a function");
  EXPECT_EQ(CompileError("len"), "col 1: len is a function: call it, len(\xE2\x80\xA6)");
  EXPECT_EQ(CompileError("len(1, 2)"),
            "col 1: invalid number of arguments for len (expected 1, got 2)");
  EXPECT_EQ(CompileError("all([1])"), "col 8: all() expects at least 2 arguments");
  EXPECT_EQ(CompileError("1 ?? 2 + 3"),
            "col 8: operator \"+\" and coalesce expressions (?\?) cannot be mixed; wrap either in "
            "parentheses");
  EXPECT_EQ(Show("1 ?? (2 + 3)"), "int 1");
  EXPECT_EQ(CompileError("a not b"), "col 1: unknown name a");
  EXPECT_EQ(CompileError("1 not 2"), "col 7: unexpected token \"2\"");
  EXPECT_EQ(CompileError("{a 1}"), "col 4: unexpected token \"1\"");
  EXPECT_EQ(CompileError("{[1]: 2}"),
            "col 2: a map key must be a quoted string, a number, an identifier, or an expression "
            "in parentheses (unexpected token \"[\")");
  EXPECT_EQ(CompileError("result."), "col 8: expected a name after \".\"");
  EXPECT_EQ(CompileError("b'x'"), "col 1: bytes literals (b\"\xE2\x80\xA6\") are not supported");
  EXPECT_EQ(CompileError(""), "col 1: unexpected end of expression");
}

TEST(ExprErrors, EvaluateConditionNeedsABool) {
  auto p = Compile("result");
  ASSERT_TRUE(p.has_value());
  auto r = EvaluateCondition(*p, Env{J("[1]"), kNow});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.error().message(), "condition must return a bool, got array");
  EXPECT_EQ(Cond("nil", Value()), "error: condition must return a bool, got nil");
}

// ---- Limits -------------------------------------------------------------------------------------

TEST(ExprLimits, NestingIsCapped) {
  std::string deep(300, '(');
  deep += "1";
  deep += std::string(300, ')');
  EXPECT_EQ(CompileError(deep), "col 257: expression is nested too deeply (more than 256 levels)");
  std::string sum = "1";
  for (int i = 0; i < 300; ++i) sum += "+1";
  EXPECT_EQ(CompileError(sum), "col 1: expression is nested too deeply (more than 256 levels)");
  std::string arrays;
  for (int i = 0; i < 300; ++i) arrays += "[";
  for (int i = 0; i < 300; ++i) arrays += "]";
  EXPECT_NE(CompileError(arrays).find("nested too deeply"), std::string::npos);
  std::string nots(100000, '!');
  EXPECT_NE(CompileError(nots + "true").find("nested too deeply"), std::string::npos);
  // Well below the cap is fine.
  std::string ok = "1";
  for (int i = 0; i < 200; ++i) ok += "+1";
  EXPECT_EQ(Show(ok), "int 201");
}

TEST(ExprLimits, NodeCountIsCapped) {
  std::string wide = "[";
  for (int i = 0; i < 12000; ++i) wide += "1,";
  wide += "1]";
  EXPECT_NE(CompileError(wide).find("expression is too large (more than 10000 nodes)"),
            std::string::npos);
}

TEST(ExprLimits, StepBudget) {
  EXPECT_EQ(Show("len(1..1000000000)"),
            "error: evaluation exceeded its budget of 10000000 steps (is a range or a loop too "
            "large?)");
  EXPECT_EQ(Show("reduce(1..100, #acc + #acc, 'x')"),
            "error: evaluation exceeded its budget of 10000000 steps (is a range or a loop too "
            "large?)");
  EXPECT_EQ(Show("all(1..1000, {all(1..1000, {all(1..1000, # > 0)})})"),
            "error: evaluation exceeded its budget of 10000000 steps (is a range or a loop too "
            "large?)");
  EXPECT_EQ(Show("repeat('a', 2000000)"), "error: repeat('a', 2000000): memory budget exceeded");
  // The budget is per evaluation and can be lowered.
  EXPECT_EQ(Show("sum(1..result)", Value::Int(100), 50),
            "error: evaluation exceeded its budget of 50 steps (is a range or a loop too large?)");
  EXPECT_EQ(Show("sum(1..result)", Value::Int(100), 1000), "int 5050");
  auto p = Compile("sum(1..1000000)");
  ASSERT_TRUE(p.has_value());
  auto r = p->Evaluate(Env{Value(), kNow, 1000});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kResourceExhausted);
}

TEST(ExprLimits, ValueDepthIsCapped) {
  EXPECT_EQ(Show("reduce(1..1000, [#acc], 0)"),
            "error: [#acc]: value nested too deeply (more than 512 levels)");
  std::string deep_json(100000, '[');
  deep_json += std::string(100000, ']');
  // Deep JSON from a provider is cut below kMaxValueDepth.
  Value v = FromJson(nlohmann::json::parse(deep_json));
  EXPECT_EQ(v.depth(), kMaxValueDepth);
  EXPECT_EQ(Show("len(result)", v), "int 1");
  // fromJSON refuses it.
  Value s = Value::String(deep_json);
  EXPECT_EQ(Show("fromJSON(result)", s),
            "error: fromJSON(result): fromJSON(): value nested too deeply (more than 512 levels)");
}

// ---- Folding, values, threads -------------------------------------------------------------------

TEST(ExprProgram, ConstantErrorsSurfaceOnlyWhenReached) {
  EXPECT_EQ(Show("false && [][0] == 1"), "bool false");
  EXPECT_EQ(Show("[][0] == 1"), "error: [][0]: index out of range (the array is empty)");
  EXPECT_EQ(Show("1 + 2 * 3 == 7 && result == nil"), "bool true");
}

TEST(ExprProgram, SourceAndReuse) {
  auto p = Compile("result * 2");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->source(), "result * 2");
  EXPECT_EQ(p->Evaluate(Env{Value::Int(2), kNow})->int_value(), 4);
  EXPECT_EQ(p->Evaluate(Env{Value::Float(1.5), kNow})->float_value(), 3.0);
  Program copy = *p;
  EXPECT_EQ(copy.Evaluate(Env{Value::Int(5), kNow})->int_value(), 10);
  Program empty;
  EXPECT_EQ(empty.Evaluate(Env{}).error().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(empty.source(), "");
}

TEST(ExprProgram, ConcurrentEvaluation) {
  auto p = Compile(
      "len(result) > 0 && all(result, # >= 0) && mean(result) > 1 && now() > date('2000-01-01')");
  ASSERT_TRUE(p.has_value());
  const Value result = J("[1, 2, 3]");
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        auto r = EvaluateCondition(*p, Env{result, kNow});
        if (r.has_value() && *r) ++ok[static_cast<size_t>(t)];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int n : ok) EXPECT_EQ(n, 2000);
}

TEST(ExprValue, Json) {
  Value v = J(R"({"b": [1, 2.5, "x", null, true], "a": {"n": -3}, "big": 18446744073709551615})");
  EXPECT_EQ(v.kind(), Kind::kMap);
  EXPECT_EQ(v.ToString(), "map[a:map[n:-3] b:[1 2.5 x <nil> true] big:1.8446744073709552e+19]");
  EXPECT_EQ(v.Find("b")->array()[0].kind(), Kind::kInt);
  EXPECT_EQ(v.Find("b")->array()[1].kind(), Kind::kFloat);
  EXPECT_EQ(v.Find("zz"), nullptr);
  EXPECT_EQ(v.depth(), 2);
  nlohmann::json back = v.ToJson();
  EXPECT_EQ(back["b"][2], "x");
  EXPECT_EQ(back["a"]["n"], -3);
  EXPECT_TRUE(back["b"][3].is_null());
  // NaN and infinities come in as doubles.
  nlohmann::json special = nlohmann::json::array(
      {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()});
  Value s = FromJson(special);
  EXPECT_TRUE(std::isnan(s.array()[0].float_value()));
  EXPECT_EQ(s.ToString(), "[NaN +Inf]");
  EXPECT_TRUE(std::isinf(s.ToJson()[1].get<double>()));
  EXPECT_EQ(Value::MakeTime(kNow).ToJson(), "2023-08-14T08:00:00.123456789Z");
  EXPECT_EQ(Value::MakeDuration(std::chrono::seconds(2)).ToJson(), 2000000000);
}

TEST(ExprValue, EqualityAndMaps) {
  EXPECT_TRUE(Equal(Value::Int(1), Value::Float(1.0)));
  EXPECT_FALSE(Equal(Value::Float(std::nan("")), Value::Float(std::nan(""))));
  EXPECT_FALSE(Equal(Value(), Value::Bool(false)));
  EXPECT_TRUE(Equal(Value(), Value()));
  Value m = Value::MakeMap({{"b", Value::Int(1)}, {"a", Value::Int(2)}, {"b", Value::Int(3)}});
  ASSERT_EQ(m.map().size(), 2u);
  EXPECT_EQ(m.map()[0].first, "a");
  EXPECT_EQ(m.Find("b")->int_value(), 3);
  EXPECT_EQ(Value::String("x").TypeName(), "string");
  EXPECT_EQ(Value().array().size(), 0u);  // wrong-kind accessors are empty, not a crash
}

}  // namespace
}  // namespace ramp::expr
