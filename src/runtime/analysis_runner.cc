#include "runtime/analysis_runner.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "runtime/measure.h"

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
      : options_(options), inbox_(std::make_shared<Inbox>()) {}

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
    auto fail = [&](std::string message) {
      {
        std::lock_guard<std::mutex> lock(inbox_->mu);
        ++inbox_->outstanding;
      }
      Measurement measurement;
      measurement.started_at = now;
      measurement.finished_at = now;
      answer(MeasurementUpdate::Error(std::move(measurement), std::move(message)));
    };
    if (m.action == engine::MeasureAction::kGarbageCollect) {
      if (MetricProvider* p = Provider(m.metric_ref.provider_type)) {
        CallProvider(*p, m, now, nullptr);
      }
      return;
    }
    MetricProvider* provider = Provider(m.metric_ref.provider_type);
    if (provider == nullptr) {
      fail(provider_errors_[m.metric_ref.provider_type]);
      return;
    }
    auto filled = analysis::FillSecretArgs(m.metric_ref.provider_config_json, m.secret_args,
                                           options_.evaluator.secrets, &m.context.secrets);
    if (!filled.has_value()) {
      fail(filled.error().message());
      return;
    }
    m.metric_ref.provider_config_json = std::move(*filled);
    {
      std::lock_guard<std::mutex> lock(inbox_->mu);
      ++inbox_->outstanding;
    }
    CallProvider(*provider, m, now, answer);
  }

  // The provider registered as `type`, built once; null (with the reason kept) when none is.
  MetricProvider* Provider(const std::string& type) {
    auto it = providers_.find(type);
    if (it != providers_.end()) return it->second.get();
    auto made = options_.providers->Create(type);
    if (!made.has_value()) {
      provider_errors_[type] = made.error().message();
      providers_[type] = nullptr;
      return nullptr;
    }
    return (providers_[type] = std::move(*made)).get();
  }

  const AnalysisRunnerOptions& options_;
  std::shared_ptr<Inbox> inbox_;
  std::map<std::string, std::unique_ptr<MetricProvider>> providers_;
  std::map<std::string, std::string> provider_errors_;
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
