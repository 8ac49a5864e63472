#include "daemon/standalone_runs.h"

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/expr_evaluator.h"
#include "daemon/await.h"
#include "runtime/analysis_runner.h"
#include "spec/decode.h"
#include "spec/yaml_tree.h"

namespace ramp::daemon {
namespace {

StatusOr<spec::AnalysisRun> DecodeStoredRun(const std::string& text, const std::string& key) {
  auto docs = spec::ParseDocuments(text, key);
  if (!docs || docs->size() != 1) {
    return Fail(DataLossError(fmt::format("stored AnalysisRun {} is not one JSON document", key)));
  }
  spec::Diagnostics diags;
  spec::DecodeContext ctx(key, &diags, nullptr);
  spec::AnalysisRun run = spec::DecodeAnalysisRun(&ctx, docs->front().root);
  if (diags.HasErrors()) {
    return Fail(DataLossError(
        fmt::format("stored AnalysisRun {} does not decode: {}", key, diags.ErrorText())));
  }
  return run;
}

class StandaloneRunsImpl : public StandaloneRuns {
 public:
  explicit StandaloneRunsImpl(StandaloneRunsOptions options) : options_(std::move(options)) {}
  ~StandaloneRunsImpl() override { Shutdown(); }

  Status Load() {
    auto listed = Await<std::vector<StoredObject>>(
        [&](auto done) { options_.store->List(kKindAnalysisRun, "", std::move(done)); });
    if (!listed) return listed.error();
    for (const StoredObject& o : *listed) {
      auto run = DecodeStoredRun(o.spec_json, o.ref.Key());
      if (!run) {
        Log(o.ref.Key(), run.error().message() + "; skipped");
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      Entry& e = runs_[o.ref];
      e.run = *run;
      if (!spec::IsCompleted(run->status.phase)) {
        Launch(o.ref, &e, analysis::ForgetDispatched(std::move(*run)));
      }
    }
    return OkStatus();
  }

  StatusOr<analysis::NewRun> MakeRun(
      const analysis::TemplateRunOptions& o,
      const std::vector<spec::AnalysisTemplate>& available) const override {
    return analysis::NewAnalysisRunFromTemplates(o, available, options_.secrets);
  }

  Status Create(analysis::NewRun made) override {
    const ObjectRef ref{made.run.metadata.namespace_, made.run.metadata.name};
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return UnavailableError("the daemon is stopping");
      if (runs_.count(ref) != 0) {
        return AlreadyExistsError(fmt::format("analysisrun {} already exists", ref.Key()));
      }
      runs_[ref].run = made.run;  // reserves the name
    }
    StoredObject object;
    object.kind = std::string(kKindAnalysisRun);
    object.ref = ref;
    object.spec_json = spec::ToJson(made.run).dump();
    auto put = Await<int64_t>([&](auto done) { options_.store->Put(object, kNoVersion, done); });
    std::lock_guard<std::mutex> lock(mu_);
    if (!put) {
      runs_.erase(ref);
      return put.error();
    }
    Log(ref.Key(), "created");
    Launch(ref, &runs_[ref], std::move(made.run));
    return OkStatus();
  }

  std::vector<spec::AnalysisRun> List(std::string_view namespace_) const override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<spec::AnalysisRun> out;
    for (const auto& [ref, e] : runs_) {
      if (namespace_.empty() || ref.namespace_ == namespace_) out.push_back(e.run);
    }
    return out;
  }

  Status Terminate(const ObjectRef& ref) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = runs_.find(ref);
    if (it == runs_.end()) {
      return NotFoundError(fmt::format("analysisrun {} not found", ref.Key()));
    }
    if (it->second.terminate) it->second.terminate->store(true);
    return OkStatus();
  }

  void Shutdown() override {
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      for (auto& [ref, e] : runs_) {
        if (e.thread.joinable()) threads.push_back(std::move(e.thread));
      }
    }
    for (std::thread& t : threads) t.join();
  }

 private:
  struct Entry {
    spec::AnalysisRun run;  // as last stored
    std::shared_ptr<std::atomic<bool>> terminate;
    std::thread thread;
  };

  void Log(const std::string& key, std::string_view line) const {
    if (options_.log) options_.log(key, line);
  }

  // Runs `run` on a thread of its own until it completes or the daemon stops. mu_ held.
  // Secret arguments reach providers through the evaluator's secret lookup, read at each call.
  void Launch(const ObjectRef& ref, Entry* e, spec::AnalysisRun run) {
    e->terminate = std::make_shared<std::atomic<bool>>(run.spec.terminate);
    e->thread = std::thread([this, ref, run = std::move(run), terminate = e->terminate]() mutable {
      runtime::AnalysisRunnerOptions o;
      o.providers = options_.providers;
      o.clock = options_.clock;
      o.evaluator.condition = analysis::ExprConditionEvaluator();
      o.evaluator.secrets = options_.secrets;
      o.drain = std::chrono::seconds(2);
      o.timeout = std::chrono::hours(24 * 365);
      // Shutdown ends the call too; what it completes then is not stored, so the run resumes
      // on the next start.
      o.terminate_requested = [this, terminate] { return terminate->load() || Stopping(); };
      o.on_update = [this, ref](const spec::AnalysisRun& updated,
                                const std::vector<engine::EmitEvent>& events) {
        if (Stopping()) return;
        for (const engine::EmitEvent& ev : events) Log(ref.Key(), ev.reason + ": " + ev.message);
        Store(ref, updated);
      };
      auto done = runtime::RunAnalysis(std::move(run), o);
      if (!done) Log(ref.Key(), "stopped: " + done.error().message());
    });
  }

  bool Stopping() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  }

  void Store(const ObjectRef& ref, const spec::AnalysisRun& run) {
    StoredObject object;
    object.kind = std::string(kKindAnalysisRun);
    object.ref = ref;
    object.spec_json = spec::ToJson(run).dump();
    auto put = Await<int64_t>([&](auto done) { options_.store->Put(object, kAnyVersion, done); });
    if (!put) Log(ref.Key(), "cannot store the run: " + put.error().message());
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = runs_.find(ref);
      if (it != runs_.end()) it->second.run = run;
    }
    if (options_.on_change) options_.on_change(ref.Key());
  }

  StandaloneRunsOptions options_;
  mutable std::mutex mu_;
  std::map<ObjectRef, Entry> runs_;  // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
};

}  // namespace

StatusOr<std::unique_ptr<StandaloneRuns>> StandaloneRuns::Start(StandaloneRunsOptions options) {
  if (options.store == nullptr || options.providers == nullptr || options.clock == nullptr) {
    return Fail(InvalidArgumentError("StandaloneRuns: store, providers and clock are required"));
  }
  auto runs = std::make_unique<StandaloneRunsImpl>(std::move(options));
  if (Status s = runs->Load(); !s.ok()) return Fail(s);
  return std::unique_ptr<StandaloneRuns>(std::move(runs));
}

}  // namespace ramp::daemon
