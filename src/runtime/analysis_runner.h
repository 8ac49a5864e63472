// The imperative shell around one AnalysisRun: assesses it with the pure core
// (analysis::Reconcile), takes its measurements through the registered MetricProviders, and
// waits in real time for their answers and for the core's next wake-up, until the run completes.
// `ramp analyze` runs templates with it, and the provider conformance tests run Argo's analysis
// manifests with it; the daemon runs many runs on its event loop with the same steps.
//
// Secret arguments are filled into each measurement's provider configuration just before the
// provider is called (analysis::FillSecretArgs) and passed as RunContext::secrets so providers
// redact them; they are never stored in the run.
//
// Thread-safety: RunAnalysis blocks its calling thread; provider answers may arrive on any
// thread. Distinct calls may run concurrently when the providers allow it (they must: see
// ramp/metric_provider.h). `on_update` runs on the calling thread.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "analysis/analysis.h"
#include "ramp/clock.h"
#include "ramp/metric_provider.h"
#include "ramp/registry.h"
#include "ramp/status.h"
#include "spec/analysis.h"

namespace ramp::runtime {

struct AnalysisRunnerOptions {
  // Where providers come from, by MetricRef::provider_type; one instance of each is built on
  // first use. Required.
  const Registry<MetricProvider>* providers = nullptr;
  // Conditions (required when metrics have them) and secretKeyRef arguments.
  analysis::Evaluator evaluator;
  // The time source; required.
  const Clock* clock = nullptr;
  // Terminates the run (Argo's spec.terminate) once it has run this long: running measurements
  // are asked to stop and the run completes as Argo completes a terminated run.
  std::optional<Duration> terminate_after;
  // Asked at least once a second (on the calling thread); once it returns true the run is
  // terminated as by `terminate_after` (for example when the user interrupts `ramp analyze`).
  std::function<bool()> terminate_requested;
  // Gives up when the run has not completed after this long (kDeadlineExceeded).
  Duration timeout = std::chrono::hours(24);
  // At the end, how long to wait for answers still owed before the providers are destroyed
  // (a provider's own timeouts normally end its calls well before).
  Duration drain = std::chrono::seconds(60);
  // Called after every assessment that changed the run, with its events.
  std::function<void(const spec::AnalysisRun&, const std::vector<engine::EmitEvent>&)> on_update;
};

// Runs `run` from its current status until it completes and returns it completed.
// kInvalidArgument for missing options; kDeadlineExceeded (naming the phase reached) when
// `timeout` passes first. Provider failures are measurements, not errors of this function.
StatusOr<spec::AnalysisRun> RunAnalysis(spec::AnalysisRun run,
                                        const AnalysisRunnerOptions& options);

}  // namespace ramp::runtime
