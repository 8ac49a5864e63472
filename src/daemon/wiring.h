// Wiring: the registries of metric providers and traffic routers that `ramp serve` (and
// `ramp demo`) build at start-up — every provider and router ramp ships, registered by name.
//
// Thread-safety: BuildRegistries is for start-up; the registries it returns are then read-only
// and safe to share (see ramp/registry.h).
#pragma once

#include <memory>
#include <string>

#include "daemon/daemon.h"
#include "metrics/register.h"
#include "ramp/clock.h"
#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/registry.h"
#include "ramp/status.h"

namespace ramp::daemon {

struct WiringOptions {
  HttpClient* http = nullptr;    // required; must outlive the registries' products
  const Clock* clock = nullptr;  // required
  metrics::ProviderSecretLookup secrets;
  // The admin API of the `ramp proxy` that ramp/proxy rollouts and ramp/builtin metrics use when
  // their configuration names none: "127.0.0.1:PORT" and its token file (may be empty).
  std::string proxy_admin;
  std::string proxy_token_file;
};

struct Registries {
  Registry<MetricProvider> providers{"metric provider"};
  RouterRegistry routers{"traffic router"};
};

// Registers every metric provider (prometheus, web, datadog, newrelic, cloudwatch, graphite,
// wavefront, influxdb, job, ramp/builtin) and router (ramp/proxy, ramp/haproxy, ramp/nginx).
// kInvalidArgument for missing options; kFailedPrecondition when proxy_token_file cannot be read.
StatusOr<std::unique_ptr<Registries>> BuildRegistries(const WiringOptions& options);

}  // namespace ramp::daemon
