// The traffic routers ramp builds in Kubernetes mode, by their key in trafficRouting.
#include "traffic/alb/alb_router.h"
#include "traffic/ambassador/ambassador_router.h"
#include "traffic/apisix/apisix_router.h"
#include "traffic/gateway_api/gateway_api_router.h"
#include "traffic/ingress_nginx/ingress_nginx_router.h"
#include "traffic/istio/istio_router.h"
#include "traffic/kubernetes/kube_traffic_router.h"
#include "traffic/smi/smi_router.h"
#include "traffic/traefik/traefik_router.h"

namespace ramp::kube_traffic {

const RouterFactories& BuiltinRouters() {
  static const RouterFactories kRouters = {
      {"alb", NewAlbRouter},
      {"ambassador", NewAmbassadorRouter},
      {"apisix", NewApisixRouter},
      {"istio", NewIstioRouter},
      {"nginx", NewNginxIngressRouter},
      {"plugins/argoproj-labs/gatewayAPI", NewGatewayApiRouter},
      {"smi", NewSmiRouter},
      {"traefik", NewTraefikRouter},
  };
  return kRouters;
}

}  // namespace ramp::kube_traffic
