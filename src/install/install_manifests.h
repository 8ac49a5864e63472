// The Kubernetes install of ramp as objects: what `ramp install-manifests` prints and
// deploy/kubernetes/ commits (scripts/gen-kube-manifests regenerates it).
//
// In order, so `kubectl apply -f` creates each object after what it needs:
//   * the CRDs of Argo's kinds (crd_schema.h);
//   * Namespace (labelled for the Pod Security Standard "restricted", which the pod meets);
//   * ServiceAccount; ClusterRole with exactly RequiredPermissions()' cluster-wide rules, and its
//     ClusterRoleBinding; Role for the leader-election Lease in the controller's namespace (get
//     and update limited to the Lease's name), and its RoleBinding;
//   * Service `<name>-metrics` on the API port (GET /metrics; docs/serve.md);
//   * Deployment: `ramp serve --platform kubernetes --leader-elect=true
//     --leader-election-namespace=$(POD_NAMESPACE)`, listening on 0.0.0.0:9900 (probes on
//     /healthz, metrics on /metrics; the operator API behind it needs the tokens in the state
//     directory), replicas spread across nodes by a preferred pod anti-affinity, a non-root
//     numeric user, a read-only root filesystem with an emptyDir for --state (Kubernetes mode
//     writes only its API tokens, the audit log and endpoint.json there), resource requests and
//     limits.
// Objects are named "ramp", or "ramp-<instance id>" with an instance id, so shards can be
// installed side by side.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramp/status.h"

namespace ramp::install {

// Where ramp installs by default: its own namespace, so it never collides with an Argo Rollouts
// install in `argo-rollouts` that it may run beside while taking Rollouts over.
inline constexpr char kDefaultNamespace[] = "ramp-system";
// The controller's API and metrics port (`ramp serve --listen`).
inline constexpr int kApiPort = 9900;
// `ramp serve --healthz`: answered by every replica, leader or standby.
inline constexpr int kHealthzPort = 8080;
// The state directory in the pod (an emptyDir).
inline constexpr char kStateDir[] = "/var/lib/ramp";
// The numeric user and group the image and the pod run as (deploy/kubernetes/Dockerfile).
inline constexpr int kRunAsUser = 65532;

struct InstallOptions {
  std::string version;  // ramp's version: labels, the default image and the header
  std::string namespace_ = kDefaultNamespace;
  std::string image;  // "" = DefaultImage(version)
  int replicas = 2;
  bool crds = true;        // false: --no-crds
  bool controller = true;  // false: --crds-only
  std::string instance_id;
};

// "ramp:<version>": the tag deploy/kubernetes/Dockerfile is built with.
std::string DefaultImage(std::string_view version);

// kInvalidArgument naming the flag: a namespace that is not a DNS label, an instance id that
// cannot be part of an object name, replicas below 1, both --crds-only and --no-crds.
Status ValidateInstallOptions(const InstallOptions& options);

// "ramp" or "ramp-<instance id>".
std::string InstallName(const InstallOptions& options);

// The objects, in apply order (the options must be valid).
std::vector<nlohmann::ordered_json> InstallObjects(const InstallOptions& options);

// The objects as multi-document YAML, after a header that names the command line producing it.
std::string InstallYaml(const InstallOptions& options);

}  // namespace ramp::install
