#include "install/permissions.h"

namespace ramp::install {

const std::vector<Permission>& RequiredPermissions() {
  using S = PermissionScope;
  static const std::vector<Permission>* table = new std::vector<Permission>{
      // argoproj.io: the objects ramp serves.
      {"argoproj.io",
       "rollouts",
       {"get", "list", "watch", "create", "update", "delete"},
       S::kCluster,
       "store/kubernetes/kube_store.cc: informer (KubeSync), Get, Put (update; create when the "
       "Rollout vanished under a running controller), Delete (`ramp delete` through ramp's API); "
       "platform/kubernetes/kube_platform.cc: informer and Get; traffic/kubernetes/kube_router.cc: "
       "RolloutOwner's Get"},
      {"argoproj.io",
       "rollouts/status",
       {"update"},
       S::kCluster,
       "store/kubernetes/kube_store.cc WriteStatus: Modify of the status subresource"},
      {"argoproj.io",
       "analysisruns",
       {"get", "list", "create", "update"},
       S::kCluster,
       "store/kubernetes/kube_store.cc WriteRuns and Put (get, create, update); "
       "daemon/standalone_runs.cc: List at start, create for `ramp create analysisrun`"},
      {"argoproj.io",
       "analysisruns/status",
       {"update"},
       S::kCluster,
       "store/kubernetes/kube_store.cc WriteStatus of each run"},
      {"argoproj.io",
       "analysistemplates",
       {"get", "list", "watch", "create", "update", "delete"},
       S::kCluster,
       "daemon/daemon.cc Load (list) and daemon/kube_sync.cc (informer); `ramp apply` and "
       "`ramp delete` of templates through ramp's API (kube_store.cc Put: get, create, update; "
       "Delete)"},
      {"argoproj.io",
       "clusteranalysistemplates",
       {"get", "list", "watch", "create", "update", "delete"},
       S::kCluster,
       "as analysistemplates"},
      // ramp.dev: ramp's own kind (no CRD is installed for it yet; a 404 reads as none, but a 403
      // would stop `ramp serve` at start).
      {"ramp.dev",
       "rolloutwebhooks",
       {"get", "list", "create", "update", "delete"},
       S::kCluster,
       "daemon/daemon.cc Load lists them; `ramp apply` / `ramp delete` through ramp's API"},
      // apps: the revisions.
      {"apps",
       "replicasets",
       {"get", "list", "watch", "create", "patch", "delete"},
       S::kCluster,
       "platform/kubernetes/kube_platform.cc: informer, Get, Create, merge patches (scale, "
       "renumber, scale-down deadline), Delete of old revisions; daemon/kube_workload.cc Get"},
      {"apps",
       "deployments",
       {"get", "list", "watch", "patch"},
       S::kCluster,
       "daemon/kube_workload.cc: informer (workloadRef), merge patch of spec.replicas (scaleDown); "
       "kube_platform.cc Get of a workloadRef's selector"},
      // core.
      {"",
       "pods",
       {"list", "watch", "delete"},
       S::kCluster,
       "kube_platform.cc: informer, Delete (`ramp restart`); metrics/job/kube_job_provider.cc: "
       "List of a Job's pods"},
      {"",
       "services",
       {"get", "patch"},
       S::kCluster,
       "traffic/kube_services/service_router.cc: Get, merge patch of the selector"},
      {"",
       "configmaps",
       {"get", "list", "create", "update"},
       S::kCluster,
       "store/kubernetes/kube_store.cc: the <rollout>-ramp-state ConfigMaps (Get, List by label, "
       "Modify, Create)"},
      {"",
       "events",
       {"list", "create"},
       S::kCluster,
       "kube_client.cc RecordEvent; kube_store.cc ListEvents (`ramp get rollout` events)"},
      // batch: the job metric provider.
      {"batch",
       "jobs",
       {"get", "list", "create", "delete"},
       S::kCluster,
       "metrics/job/kube_job_provider.cc: Create, Get, List (orphans at start), Delete"},
      // Traffic routers (src/traffic/<router>, through ObjectSync).
      {"networking.istio.io",
       "virtualservices",
       {"get", "update"},
       S::kCluster,
       "traffic/istio: Converge of the VirtualServices"},
      {"networking.istio.io",
       "destinationrules",
       {"get", "update"},
       S::kCluster,
       "traffic/istio: Converge of the DestinationRule's subsets"},
      {"networking.k8s.io",
       "ingresses",
       {"get", "create", "update"},
       S::kCluster,
       "traffic/ingress_nginx: Read of the stable Ingress, Ensure of the canary Ingress; "
       "traffic/alb: Converge of the Ingress annotations"},
      {"split.smi-spec.io",
       "trafficsplits",
       {"get", "create", "update"},
       S::kCluster,
       "traffic/smi: Ensure of the TrafficSplit"},
      {"traefik.io",
       "traefikservices",
       {"get", "update"},
       S::kCluster,
       "traffic/traefik: Converge of the weighted TraefikService"},
      {"getambassador.io",
       "mappings",
       {"get", "create", "update", "delete"},
       S::kCluster,
       "traffic/ambassador: Converge of the Mappings, Create and (5 s after weight 0) Delete of "
       "the canary Mappings"},
      {"apisix.apache.org",
       "apisixroutes",
       {"get", "create", "update", "delete"},
       S::kCluster,
       "traffic/apisix: Converge of the route, Ensure and DeleteOwned of header routes"},
      // The Gateway API plugin's routes: those named in its configuration (Converge) and those
      // its label selectors find (List); TCPRoutes and TLSRoutes at v1alpha2.
      {"gateway.networking.k8s.io",
       "httproutes",
       {"get", "list", "update"},
       S::kCluster,
       "traffic/gateway_api: Converge of the routes, List by label selector"},
      {"gateway.networking.k8s.io",
       "grpcroutes",
       {"get", "list", "update"},
       S::kCluster,
       "as httproutes"},
      {"gateway.networking.k8s.io",
       "tcproutes",
       {"get", "list", "update"},
       S::kCluster,
       "as httproutes"},
      {"gateway.networking.k8s.io",
       "tlsroutes",
       {"get", "list", "update"},
       S::kCluster,
       "as httproutes"},
      // Leader election: only in the controller's own namespace.
      {"coordination.k8s.io",
       "leases",
       {"get", "create", "update"},
       S::kControllerNamespace,
       "kube/leader_election.cc: Get, Create, Update (renew, release) of ramp-controller-lock"},
  };
  return *table;
}

}  // namespace ramp::install
