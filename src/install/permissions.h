// What ramp's controller (`ramp serve --platform kubernetes`) asks of the Kubernetes API: every
// (API group, resource, verb) its code sends, each with the code that sends it. The install's
// ClusterRole and Role are built from this table and from nothing else, so they grant exactly
// this — least privilege — and install_manifests_test checks both directions.
//
// How the verbs follow from the code: an Informer lists and watches; KubeClient::Get is get,
// Create create, Update and Modify (a read-modify-PUT) get and update, Patch patch, Delete delete,
// RecordEvent creates an Event; a write to the status subresource is the verb on
// "<resource>/status". The traffic routers converge their objects with ObjectSync
// (src/traffic/kubernetes/kube_router.h): Converge reads and updates, Ensure and Create also
// create, DeleteOwned reads and deletes. Router objects are granted at the API groups and kinds
// of the routers' defaults (serve's --ingress-api-version, --ambassador-api-version,
// --traefik-api-group choose others: extensions Ingresses, x.getambassador.io
// AmbassadorMappings, traefik.containo.us; grant those by hand when you use them).
//
// When code starts sending a new verb, add it here with the reason and regenerate the committed
// manifests (scripts/gen-kube-manifests).
//
// Thread-safety: immutable data.
#pragma once

#include <string>
#include <vector>

namespace ramp::install {

enum class PermissionScope {
  kCluster,              // every namespace: a ClusterRole
  kControllerNamespace,  // only where the controller runs: a Role
};

struct Permission {
  std::string api_group;  // "" = the core group
  std::string resource;   // plural, or "plural/subresource"
  std::vector<std::string> verbs;
  PermissionScope scope = PermissionScope::kCluster;
  std::string why;  // the code that sends these requests
};

// The table, grouped by API group; verbs in the order get, list, watch, create, update, patch,
// delete.
const std::vector<Permission>& RequiredPermissions();

}  // namespace ramp::install
