#include "daemon/wiring.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "metrics/builtin/register.h"
#include "metrics/judge/judge_provider.h"
#include "metrics/slo/slo_provider.h"
#include "traffic/haproxy/haproxy_router.h"
#include "traffic/nginx/nginx_router.h"
#include "traffic/proxy/register.h"

namespace ramp::daemon {

StatusOr<std::unique_ptr<Registries>> BuildRegistries(const WiringOptions& options) {
  if (options.http == nullptr || options.clock == nullptr) {
    return Fail(InvalidArgumentError("BuildRegistries: http and clock are required"));
  }
  std::string token;
  if (!options.proxy_token_file.empty()) {
    std::ifstream in(options.proxy_token_file);
    if (!in) {
      return Fail(
          FailedPreconditionError("cannot read the proxy token file " + options.proxy_token_file));
    }
    std::getline(in, token);
  }
  auto r = std::make_unique<Registries>();
  RETURN_IF_ERROR(
      metrics::RegisterHttpMetricProviders(r->providers, options.http, options.secrets));
  if (options.kube != nullptr) {
    metrics::KubeJobProviderOptions job;
    job.client = options.kube;
    job.run_uid = options.analysis_run_uid;
    job.job_namespace = !options.analysis_job_namespace.empty()
                            ? options.analysis_job_namespace
                            : metrics::AnalysisJobNamespaceFromEnv();
    RETURN_IF_ERROR(metrics::RegisterKubeJobMetricProvider(r->providers, std::move(job)));
  } else {
    RETURN_IF_ERROR(
        metrics::RegisterJobMetricProvider(r->providers, options.clock, options.secrets));
  }

  metrics::BuiltinProviderOptions builtin;
  if (!options.proxy_admin.empty()) builtin.admin_url = "http://" + options.proxy_admin;
  builtin.admin_token = token;
  RETURN_IF_ERROR(metrics::RegisterBuiltinMetricProvider(r->providers, options.http, builtin));
  RETURN_IF_ERROR(metrics::RegisterJudgeMetricProviders(r->providers, options.http, builtin));
  RETURN_IF_ERROR(metrics::RegisterSloMetricProvider(r->providers, options.http, builtin));

  proxy_router::ProxyRouterOptions proxy;
  proxy.http = options.http;
  if (!options.proxy_admin.empty()) proxy.admin_url = "http://" + options.proxy_admin;
  proxy.admin_token = token;
  RETURN_IF_ERROR(proxy_router::RegisterProxyRouter(r->routers, proxy));
  RETURN_IF_ERROR(r->routers.Register(
      "ramp/haproxy", [](const RouterContext& c) { return haproxy::NewHaproxyRouter(c); }));
  RETURN_IF_ERROR(r->routers.Register(
      "ramp/nginx", [](const RouterContext& c) { return nginx::NewNginxRouter(c); }));
  return r;
}

}  // namespace ramp::daemon
