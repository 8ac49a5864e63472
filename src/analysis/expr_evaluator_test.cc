// Reconcile with the real condition language (built when ramp_expr exists).
#include "analysis/expr_evaluator.h"

#include <gtest/gtest.h>

#include <memory>

namespace ramp::analysis {
namespace {

using nlohmann::json;
using spec::AnalysisPhase;

Time T0() { return FromUnixNanos(1714557600LL * 1'000'000'000); }

MetricValue V(json j) { return std::make_shared<const json>(std::move(j)); }

TEST(ExprConditionEvaluator, EvaluatesArgoConditions) {
  ConditionEvaluator eval = ExprConditionEvaluator();
  EXPECT_EQ(eval("result[0] >= 0.95", V(json::array({0.99})), T0()), true);
  EXPECT_EQ(eval("result[0] >= 0.95", V(json::array({0.5})), T0()), false);
  EXPECT_EQ(eval("result > 0.9", V(0.91), T0()), true);  // cached program, second use
  EXPECT_EQ(eval("result > 0.9", V(0.5), T0()), false);
  EXPECT_EQ(eval("isNil(result)", nullptr, T0()), true);
  EXPECT_FALSE(eval("result >", V(1), T0()).has_value());
  EXPECT_FALSE(eval("result + 1", V(1), T0()).has_value());  // not a bool
}

TEST(ExprConditionEvaluator, DrivesEvaluateResult) {
  ConditionEvaluator eval = ExprConditionEvaluator();
  EXPECT_EQ(
      EvaluateResult("result[0] >= 0.95", "result[0] < 0.5", V(json::array({0.7})), T0(), eval)
          .phase,
      AnalysisPhase::kInconclusive);
  Verdict empty = EvaluateResult("result[0] >= 0.95", "", V(json::array()), T0(), eval);
  EXPECT_EQ(empty.phase, AnalysisPhase::kError);
  EXPECT_EQ(empty.message,
            "could not evaluate successCondition \"result[0] >= 0.95\": metric result is nil or "
            "empty: no data returned from the metric provider");
}

TEST(ExprConditionEvaluator, ReconcilesARunWithArgsInTheCondition) {
  spec::AnalysisRun run;
  run.metadata.name = "run";
  spec::Argument threshold;
  threshold.name = "threshold";
  threshold.value = "0.95";
  run.spec.args = {threshold};
  spec::Metric m;
  m.name = "success-rate";
  m.success_condition = "len(result) > 0 && result[0] >= {{args.threshold}}";
  m.provider.prometheus = spec::PrometheusMetric{};
  m.provider.prometheus->query = "q";
  run.spec.metrics = {m};
  Evaluator ev{ExprConditionEvaluator(), nullptr};
  AssessResult first = Reconcile(run, {}, T0(), ev);
  ASSERT_EQ(first.requests.size(), 1u);
  Measurement done;
  done.started_at = T0();
  done.finished_at = T0();
  engine::MeasurementObservation obs{"run", "success-rate",
                                     MeasurementUpdate::Value(done, V(json::array({0.9})))};
  AssessResult second = Reconcile(first.run, {obs}, T0(), ev);
  EXPECT_EQ(second.run.status.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(second.run.status.message,
            "Metric \"success-rate\" assessed Failed due to failed (1) > failureLimit (0)");
}

}  // namespace
}  // namespace ramp::analysis
