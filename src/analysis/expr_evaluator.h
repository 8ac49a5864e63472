// The condition language of src/expr as the ConditionEvaluator that Reconcile takes: compiles a
// successCondition/failureCondition (cached by its text) and evaluates it with `result` bound to
// the measured value (nil when there is none) and now() to the reconcile's `now`.
//
// Built into ramp_analysis only when the ramp_expr library exists (see CMakeLists.txt).
//
// Thread-safety: the returned function may be copied and called from any number of threads at
// once; its compile cache is shared between copies and guarded by a mutex.
#pragma once

#include "analysis/analysis.h"

namespace ramp::analysis {

ConditionEvaluator ExprConditionEvaluator();

}  // namespace ramp::analysis
