// Wiring: the registries of metric providers and traffic routers that `ramp serve` (and
// `ramp demo`) build at start-up — every provider and router ramp ships, registered by name.
//
// Thread-safety: BuildRegistries is for start-up; the registries it returns are then read-only
// and safe to share (see ramp/registry.h).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "daemon/daemon.h"
#include "metrics/register.h"
#include "ramp/clock.h"
#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/registry.h"
#include "ramp/status.h"

namespace ramp::kube {
class KubeClient;
}  // namespace ramp::kube

namespace ramp::daemon {

struct WiringOptions {
  HttpClient* http = nullptr;    // required; must outlive the registries' products
  const Clock* clock = nullptr;  // required
  metrics::ProviderSecretLookup secrets;
  // The admin API of the `ramp proxy` that ramp/proxy rollouts and ramp/builtin metrics use when
  // their configuration names none: "127.0.0.1:PORT" and its token file (may be empty).
  std::string proxy_admin;
  std::string proxy_token_file;
  // Kubernetes mode: when set, "job" measurements are batch/v1 Jobs created through this client
  // (metrics::NewKubeJobProvider) instead of local processes. Must outlive the registries'
  // products.
  kube::KubeClient* kube = nullptr;
  // With `kube`: the namespace every analysis Job goes to; empty = the value of
  // $ARGO_ROLLOUTS_ANALYSIS_JOB_NAMESPACE, and when that is unset too, each AnalysisRun's own.
  std::string analysis_job_namespace;
  // With `kube`: the uid the API server gave an AnalysisRun (the kubernetes store's ClusterUid).
  std::function<std::string(const ObjectRef&)> analysis_run_uid;
};

struct Registries {
  Registry<MetricProvider> providers{"metric provider"};
  RouterRegistry routers{"traffic router"};
};

// Registers every metric provider (prometheus, web, datadog, newrelic, cloudwatch, graphite,
// wavefront, influxdb, job — a Kubernetes Job when options.kube is set, else a local process —,
// ramp/builtin) and router (ramp/proxy, ramp/haproxy, ramp/nginx).
// kInvalidArgument for missing options; kFailedPrecondition when proxy_token_file cannot be read.
StatusOr<std::unique_ptr<Registries>> BuildRegistries(const WiringOptions& options);

}  // namespace ramp::daemon
