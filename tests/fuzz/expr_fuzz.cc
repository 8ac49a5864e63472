// Fuzz target for the condition language: compile any input, then evaluate it against the shapes
// of `result` the metric providers produce. Any input must yield a value or an error with a
// message, never a crash or a hang. Built with clang's libFuzzer by scripts/fuzz; its seeds
// replay under g++ as the CTest label fuzz-seeds (see replay_main.cc).
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "expr/expr.h"

namespace {

const std::vector<ramp::expr::Value>& Results() {
  static const auto* const kResults = [] {
    using ramp::expr::FromJson;
    using ramp::expr::Value;
    auto* v = new std::vector<Value>;
    v->push_back(Value());                                                 // Datadog: no data
    v->push_back(FromJson(nlohmann::json::parse("[0.99]")));               // Prometheus vector
    v->push_back(FromJson(nlohmann::json::parse("[]")));                   // empty vector
    v->push_back(Value::Float(std::numeric_limits<double>::quiet_NaN()));  // NaN scalar
    v->push_back(FromJson(nlohmann::json::parse(R"({"ok": true, "successRate": 0.97})")));
    v->push_back(FromJson(nlohmann::json::parse(R"([{"Id": "m", "Values": [0.1, 0.2]}])")));
    v->push_back(Value::String("I am OK"));
    return v;
  }();
  return *kResults;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto program = ramp::expr::Compile(text);
  if (!program.has_value()) {
    if (program.error().message().empty()) __builtin_trap();  // every error must say something
    return 0;
  }
  for (const ramp::expr::Value& result : Results()) {
    ramp::expr::Env env;
    env.result = result;
    env.now = ramp::FromUnixNanos(1692000000000000000LL);
    env.step_budget = 200'000;
    auto value = program->Evaluate(env);
    if (!value.has_value() && value.error().message().empty()) __builtin_trap();
    if (value.has_value()) (void)value->ToString();
  }
  return 0;
}
