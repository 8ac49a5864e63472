// The traffic routers ramp builds in Kubernetes mode, by their key in trafficRouting.
#include "traffic/alb/alb_router.h"
#include "traffic/ingress_nginx/ingress_nginx_router.h"
#include "traffic/istio/istio_router.h"
#include "traffic/kubernetes/kube_traffic_router.h"
#include "traffic/smi/smi_router.h"

namespace ramp::kube_traffic {

const RouterFactories& BuiltinRouters() {
  static const RouterFactories kRouters = {
      {"alb", NewAlbRouter},
      {"istio", NewIstioRouter},
      {"nginx", NewNginxIngressRouter},
      {"smi", NewSmiRouter},
  };
  return kRouters;
}

}  // namespace ramp::kube_traffic
