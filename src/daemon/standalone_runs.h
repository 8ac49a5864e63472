// StandaloneRuns: the AnalysisRuns `ramp serve` runs on their own, outside any rollout — Argo's
// `create analysisrun --from TEMPLATE`. Each run is stored (kind AnalysisRun, the whole object
// with its status) after every assessment that changed it, measured through the daemon's metric
// providers by runtime::RunAnalysis on a thread of its own, and kept (completed) until deleted.
// After a restart every stored run that had not completed is resumed from its stored status, the
// measurements that were in flight taken again.
//
// Thread-safety: all methods may be called from any thread. Shutdown (and the destructor) stops
// the runs without completing them — they resume on the next start — and joins their threads.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/analysis.h"
#include "ramp/clock.h"
#include "ramp/metric_provider.h"
#include "ramp/registry.h"
#include "ramp/state_store.h"
#include "ramp/status.h"
#include "spec/analysis.h"

namespace ramp::daemon {

struct StandaloneRunsOptions {
  StateStore* store = nullptr;                          // required
  const Registry<MetricProvider>* providers = nullptr;  // required
  const Clock* clock = nullptr;                         // required
  analysis::SecretLookup secrets;                       // for secretKeyRef arguments
  std::function<void(std::string_view run, std::string_view line)> log;  // "ns/name", a line
  std::function<void(const std::string& key)> on_change;  // a run's status changed ("ns/name")
};

class StandaloneRuns {
 public:
  // Loads the stored runs and resumes those not completed. A stored run that no longer decodes
  // is skipped with a log line; a store that cannot be read is an error.
  static StatusOr<std::unique_ptr<StandaloneRuns>> Start(StandaloneRunsOptions options);

  virtual ~StandaloneRuns() = default;

  // A new run of templates among `available`, its secretKeyRef arguments read with the
  // options' secrets (analysis::NewAnalysisRunFromTemplates).
  virtual StatusOr<analysis::NewRun> MakeRun(
      const analysis::TemplateRunOptions& options,
      const std::vector<spec::AnalysisTemplate>& available) const = 0;
  // Stores `run` (kAlreadyExists when a run of that namespace/name exists) and starts it.
  virtual Status Create(analysis::NewRun run) = 0;
  // The runs of `namespace_` (all when empty), ordered by namespace and name.
  virtual std::vector<spec::AnalysisRun> List(std::string_view namespace_) const = 0;
  // Sets spec.terminate on the run: it stops measuring and completes. kNotFound when there is
  // no such run; a completed run is left as it is.
  virtual Status Terminate(const ObjectRef& run) = 0;
  virtual void Shutdown() = 0;
};

}  // namespace ramp::daemon
