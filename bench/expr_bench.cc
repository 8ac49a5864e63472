// Throughput of the condition language: compile once, evaluate many times (Google Benchmark).
// Run: ninja -C BUILD expr_bench && BUILD/bench/expr_bench
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>

#include "expr/expr.h"

namespace {

using ramp::expr::Compile;
using ramp::expr::Env;
using ramp::expr::EvaluateCondition;
using ramp::expr::FromJson;

void Run(benchmark::State& state, const char* condition, const char* result_json) {
  auto program = Compile(condition);
  if (!program.has_value()) {
    state.SkipWithError(program.error().message().c_str());
    return;
  }
  Env env;
  env.result = FromJson(nlohmann::json::parse(result_json));
  for (auto _ : state) {
    auto ok = EvaluateCondition(*program, env);
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_PrometheusVector(benchmark::State& state) { Run(state, "result[0] >= 0.95", "[0.99]"); }
BENCHMARK(BM_PrometheusVector);

void BM_GuardedVector(benchmark::State& state) {
  Run(state, "len(result) > 0 && result[0] >= 0.95", "[0.99]");
}
BENCHMARK(BM_GuardedVector);

void BM_DefaultNil(benchmark::State& state) { Run(state, "default(result, 0) < 5", "null"); }
BENCHMARK(BM_DefaultNil);

void BM_NewRelicMap(benchmark::State& state) {
  Run(state, "result.ok && result.successPercent >= 0.90",
      R"({"ok": true, "successPercent": 0.97})");
}
BENCHMARK(BM_NewRelicMap);

void BM_CloudWatchAll(benchmark::State& state) {
  Run(state, "len(result[0].Values) >= 5 and all(result[0].Values, {# <= 0.01})",
      R"([{"Id": "m1", "Values": [0.001, 0.002, 0.0, 0.004, 0.003, 0.001]}])");
}
BENCHMARK(BM_CloudWatchAll);

void BM_Compile(benchmark::State& state) {
  for (auto _ : state) {
    auto p = Compile("len(result) == 0 || result[0] >= 0.95");
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_Compile);

}  // namespace

BENCHMARK_MAIN();
