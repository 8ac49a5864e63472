#include "runtime/provider_set.h"

#include <utility>

#include "runtime/measure.h"

namespace ramp::runtime {

ProviderSet::ProviderSet(const Registry<MetricProvider>* providers, analysis::SecretLookup secrets)
    : registry_(providers), secrets_(std::move(secrets)) {}

MetricProvider* ProviderSet::Provider(const std::string& type, std::string* error) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = providers_.find(type);
  if (it != providers_.end()) {
    if (it->second == nullptr) *error = errors_[type];
    return it->second.get();
  }
  auto made = registry_->Create(type);
  if (!made.has_value()) {
    *error = errors_[type] = made.error().message();
    providers_[type] = nullptr;
    return nullptr;
  }
  return (providers_[type] = std::move(*made)).get();
}

bool ProviderSet::Dispatch(engine::Measure m, Time now, MeasurementCallback done) {
  std::string error;
  MetricProvider* provider = Provider(m.metric_ref.provider_type, &error);
  if (m.action == engine::MeasureAction::kGarbageCollect) {
    if (provider != nullptr) CallProvider(*provider, m, now, nullptr);
    return false;
  }
  auto fail = [&](std::string message) {
    Measurement measurement;
    measurement.started_at = now;
    measurement.finished_at = now;
    done(MeasurementUpdate::Error(std::move(measurement), std::move(message)));
    return true;
  };
  if (provider == nullptr) return fail(error);
  if (!m.secret_args.empty()) {
    auto filled = analysis::FillSecretArgs(m.metric_ref.provider_config_json, m.secret_args,
                                           secrets_, &m.context.secrets);
    if (!filled.has_value()) return fail(filled.error().message());
    m.metric_ref.provider_config_json = std::move(*filled);
  }
  return CallProvider(*provider, m, now, std::move(done));
}

}  // namespace ramp::runtime
