// ProviderSet: the metric providers one runtime measures with — one instance per provider type,
// built from the registry on first use — and the single place where a Measure intent is carried
// to its provider in real time: the provider is looked up, secret arguments are filled into the
// configuration just before the call (and passed on for redaction, never stored), and every
// failure to call becomes an Error measurement rather than a lost answer.
//
// `ramp analyze` (analysis_runner.h) and the daemon's rollout controllers use it.
//
// Thread-safety: Dispatch may be called concurrently from any thread; a provider type is built
// once. Answers arrive on whatever thread the provider answers on. The set must outlive the
// answers it owes (the owner drains or waits before destroying it).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "analysis/analysis.h"
#include "engine/types.h"
#include "ramp/clock.h"
#include "ramp/metric_provider.h"
#include "ramp/registry.h"

namespace ramp::runtime {

class ProviderSet {
 public:
  // `providers` must outlive the set; `secrets` resolves secretKeyRef arguments (may be null:
  // such a measurement is an Error saying secrets are not available).
  ProviderSet(const Registry<MetricProvider>* providers, analysis::SecretLookup secrets);

  ProviderSet(const ProviderSet&) = delete;
  ProviderSet& operator=(const ProviderSet&) = delete;

  // Carries `m` to its provider with measurement time `now`. Run, Resume and Terminate answer
  // through `done` exactly once (an Error measurement when the provider cannot be built or a
  // secret cannot be read); GarbageCollect answers nothing. Returns whether `done` will run.
  bool Dispatch(engine::Measure m, Time now, MeasurementCallback done);

 private:
  // The provider registered as `type`, built once; null with `*error` set when none is.
  MetricProvider* Provider(const std::string& type, std::string* error);

  const Registry<MetricProvider>* registry_;
  analysis::SecretLookup secrets_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<MetricProvider>> providers_;  // guarded by mu_
  std::map<std::string, std::string> errors_;                         // guarded by mu_
};

}  // namespace ramp::runtime
