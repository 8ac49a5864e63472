// ConditionEvaluator over ramp::expr (see expr_evaluator.h).
#include "analysis/expr_evaluator.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "expr/expr.h"

namespace ramp::analysis {
namespace {

// Compiled conditions by text. Conditions are few (one or two per metric, once their arguments
// are substituted); the cache is dropped whole if it ever grows past kMaxEntries.
class CompileCache {
 public:
  StatusOr<expr::Program> Get(std::string_view condition) {
    std::string key(condition);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = programs_.find(key);
      if (it != programs_.end()) return it->second;
    }
    StatusOr<expr::Program> program = expr::Compile(condition);
    if (!program.has_value()) return program;
    std::lock_guard<std::mutex> lock(mu_);
    if (programs_.size() >= kMaxEntries) programs_.clear();
    programs_.emplace(std::move(key), *program);
    return program;
  }

 private:
  static constexpr size_t kMaxEntries = 4096;
  std::mutex mu_;
  std::map<std::string, expr::Program> programs_;  // guarded by mu_
};

}  // namespace

ConditionEvaluator ExprConditionEvaluator() {
  auto cache = std::make_shared<CompileCache>();
  return
      [cache](std::string_view condition, const MetricValue& result, Time now) -> StatusOr<bool> {
        ASSIGN_OR_RETURN(expr::Program program, cache->Get(condition));
        expr::Env env;
        if (result != nullptr) env.result = expr::FromJson(*result);
        env.now = now;
        return expr::EvaluateCondition(program, env);
      };
}

}  // namespace ramp::analysis
