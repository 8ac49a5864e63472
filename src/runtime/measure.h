// Carrying one Measure intent to a MetricProvider: the single place where the four measure
// actions map onto the provider's methods, shared by the runtime, `ramp simulate` and the engine
// tests' world.
//
// Thread-safety: a plain function; the provider's own rules apply (ramp/metric_provider.h).
#pragma once

#include "engine/types.h"
#include "ramp/clock.h"
#include "ramp/metric_provider.h"

namespace ramp::runtime {

// Calls `provider` for `m` with the measurement time `now`: Run, Resume or Terminate, whose
// answer goes to `done`, or GarbageCollect, whose completion is not reported. Returns whether
// `done` will be called.
inline bool CallProvider(MetricProvider& provider, const engine::Measure& m, Time now,
                         MeasurementCallback done) {
  RunContext context = m.context;
  context.now = now;
  switch (m.action) {
    case engine::MeasureAction::kRun:
      provider.Run(context, m.metric_ref, std::move(done));
      return true;
    case engine::MeasureAction::kResume:
      provider.Resume(context, m.metric_ref, m.in_flight.value_or(Measurement{}), std::move(done));
      return true;
    case engine::MeasureAction::kTerminate:
      provider.Terminate(context, m.metric_ref, m.in_flight.value_or(Measurement{}),
                         std::move(done));
      return true;
    case engine::MeasureAction::kGarbageCollect:
      provider.GarbageCollect(context, m.metric_ref, m.keep, [](Status) {});
      return false;
  }
  return false;
}

}  // namespace ramp::runtime
