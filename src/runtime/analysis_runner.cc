#include "runtime/analysis_runner.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "runtime/provider_set.h"

namespace ramp::runtime {
namespace {

// Answers from providers, handed from their threads to the runner's.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<engine::MeasurementObservation> answers;  // guarded by mu
  int outstanding = 0;                                  // guarded by mu
};

class Runner {
 public:
  explicit Runner(const AnalysisRunnerOptions& options)
      : options_(options),
        inbox_(std::make_shared<Inbox>()),
        providers_(options.providers, options.evaluator.secrets) {}

  ~Runner() {
    // The providers are destroyed with this object: let the calls still running finish first
    // (bounded). Later answers go to the shared inbox, which outlives this object.
    std::unique_lock<std::mutex> lock(inbox_->mu);
    inbox_->cv.wait_for(lock, options_.drain, [&] { return inbox_->outstanding == 0; });
  }

  StatusOr<spec::AnalysisRun> Run(spec::AnalysisRun run) {
    const Time start = options_.clock->Now();
    const Time give_up = start + options_.timeout;
    std::vector<engine::MeasurementObservation> observed;
    for (;;) {
      const Time now = options_.clock->Now();
      if (!run.spec.terminate &&
          ((options_.terminate_after && now >= start + *options_.terminate_after) ||
           (options_.terminate_requested && options_.terminate_requested()))) {
        run.spec.terminate = true;
      }
      analysis::AssessResult r = analysis::Reconcile(run, observed, now, options_.evaluator);
      observed.clear();
      const bool changed = !r.events.empty() || !r.requests.empty() ||
                           spec::ToJson(r.run.status) != spec::ToJson(run.status);
      run = std::move(r.run);
      if (changed && options_.on_update) options_.on_update(run, r.events);
      for (const analysis::MeasureRequest& request : r.requests) Dispatch(run, request, now);
      if (spec::IsCompleted(run.status.phase)) return run;
      if (changed) continue;  // the core may act again at the same time (fixpoint)

      // Wait for an answer, the core's wake-up, the termination time or the timeout.
      Time until = give_up;
      if (r.next_wakeup) until = std::min(until, *r.next_wakeup);
      if (options_.terminate_after && !run.spec.terminate) {
        until = std::min(until, start + *options_.terminate_after);
      }
      if (now >= give_up) {
        return Fail(DeadlineExceededError(
            fmt::format("analysis run {} did not complete within {}s (phase {})", run.metadata.name,
                        std::chrono::duration_cast<std::chrono::seconds>(options_.timeout).count(),
                        spec::AnalysisPhaseName(run.status.phase))));
      }
      std::unique_lock<std::mutex> lock(inbox_->mu);
      // Wall-clock deadlines are waited for in bounded slices so a clock step is noticed.
      const Duration wait = std::clamp(until - options_.clock->Now(), Duration::zero(),
                                       Duration(std::chrono::seconds(1)));
      inbox_->cv.wait_for(lock, wait, [&] { return !inbox_->answers.empty(); });
      observed.swap(inbox_->answers);
    }
  }

 private:
  void Dispatch(const spec::AnalysisRun& run, const analysis::MeasureRequest& request, Time now) {
    engine::Measure m = analysis::ToMeasureIntent(run, request, ObjectRef{}, now);
    auto answer = [inbox = inbox_, run_name = m.run, metric = m.metric](MeasurementUpdate u) {
      std::lock_guard<std::mutex> lock(inbox->mu);
      inbox->answers.push_back({run_name, metric, std::move(u)});
      --inbox->outstanding;
      inbox->cv.notify_all();
    };
    {
      std::lock_guard<std::mutex> lock(inbox_->mu);
      ++inbox_->outstanding;
    }
    if (!providers_.Dispatch(std::move(m), now, answer)) {
      std::lock_guard<std::mutex> lock(inbox_->mu);
      --inbox_->outstanding;
    }
  }

  const AnalysisRunnerOptions& options_;
  std::shared_ptr<Inbox> inbox_;
  ProviderSet providers_;
};

}  // namespace

StatusOr<spec::AnalysisRun> RunAnalysis(spec::AnalysisRun run,
                                        const AnalysisRunnerOptions& options) {
  if (options.providers == nullptr || options.clock == nullptr) {
    return Fail(InvalidArgumentError("RunAnalysis: providers and clock are required"));
  }
  Runner runner(options);
  return runner.Run(std::move(run));
}

}  // namespace ramp::runtime
