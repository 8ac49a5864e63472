#include "install/install_manifests.h"

#include <cctype>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "install/crd_schema.h"
#include "install/permissions.h"
#include "install/yaml_emit.h"
#include "kube/leader_election.h"

namespace ramp::install {
namespace {

using json = nlohmann::ordered_json;

// RFC 1123 label: lower-case alphanumerics and '-', alphanumeric at both ends, at most 63.
bool IsDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (!(std::islower(u) || std::isdigit(u) || c == '-')) return false;
  }
  return s.front() != '-' && s.back() != '-';
}

std::string MetricsServiceName(const InstallOptions& o) { return InstallName(o) + "-metrics"; }

// The labels that select the controller's pods.
json SelectorLabels(const InstallOptions& o) {
  return json{{"app.kubernetes.io/name", "ramp"}, {"app.kubernetes.io/instance", InstallName(o)}};
}

json Labels(const InstallOptions& o) {
  json labels = SelectorLabels(o);
  labels["app.kubernetes.io/component"] = "controller";
  labels["app.kubernetes.io/part-of"] = "ramp";
  labels["app.kubernetes.io/version"] = o.version;
  return labels;
}

json Meta(const InstallOptions& o, const std::string& name, bool namespaced) {
  json meta{{"name", name}};
  if (namespaced) meta["namespace"] = o.namespace_;
  meta["labels"] = Labels(o);
  return meta;
}

json Namespace(const InstallOptions& o) {
  json meta{{"name", o.namespace_}};
  json labels = Labels(o);
  // The pod meets the "restricted" Pod Security Standard; say so, so nothing weaker runs here.
  labels["pod-security.kubernetes.io/enforce"] = "restricted";
  meta["labels"] = std::move(labels);
  return json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", std::move(meta)}};
}

json ServiceAccount(const InstallOptions& o) {
  return json{{"apiVersion", "v1"},
              {"kind", "ServiceAccount"},
              {"metadata", Meta(o, InstallName(o), true)}};
}

json Rule(const Permission& p) {
  return json{{"apiGroups", json::array({p.api_group})},
              {"resources", json::array({p.resource})},
              {"verbs", p.verbs}};
}

json ClusterRole(const InstallOptions& o) {
  json rules = json::array();
  for (const Permission& p : RequiredPermissions()) {
    if (p.scope == PermissionScope::kCluster) rules.push_back(Rule(p));
  }
  return json{{"apiVersion", "rbac.authorization.k8s.io/v1"},
              {"kind", "ClusterRole"},
              {"metadata", Meta(o, InstallName(o), false)},
              {"rules", std::move(rules)}};
}

json Subjects(const InstallOptions& o) {
  return json::array(
      {json{{"kind", "ServiceAccount"}, {"name", InstallName(o)}, {"namespace", o.namespace_}}});
}

json ClusterRoleBinding(const InstallOptions& o) {
  return json{{"apiVersion", "rbac.authorization.k8s.io/v1"},
              {"kind", "ClusterRoleBinding"},
              {"metadata", Meta(o, InstallName(o), false)},
              {"roleRef",
               {{"apiGroup", "rbac.authorization.k8s.io"},
                {"kind", "ClusterRole"},
                {"name", InstallName(o)}}},
              {"subjects", Subjects(o)}};
}

std::string LeaderRoleName(const InstallOptions& o) { return InstallName(o) + "-leader-election"; }

// The namespace-scoped permissions. RBAC cannot name the object of a create, so create stays
// unnamed; every other verb is limited to the Lease this controller campaigns for.
json Role(const InstallOptions& o) {
  json rules = json::array();
  const std::string lock = kube::LeaderLockName(o.instance_id);
  for (const Permission& p : RequiredPermissions()) {
    if (p.scope != PermissionScope::kControllerNamespace) continue;
    std::vector<std::string> named;
    std::vector<std::string> unnamed;
    for (const std::string& verb : p.verbs) (verb == "create" ? unnamed : named).push_back(verb);
    if (!unnamed.empty()) {
      Permission q = p;
      q.verbs = unnamed;
      rules.push_back(Rule(q));
    }
    if (!named.empty()) {
      Permission q = p;
      q.verbs = named;
      json rule = Rule(q);
      rule["resourceNames"] = json::array({lock});
      rules.push_back(std::move(rule));
    }
  }
  return json{{"apiVersion", "rbac.authorization.k8s.io/v1"},
              {"kind", "Role"},
              {"metadata", Meta(o, LeaderRoleName(o), true)},
              {"rules", std::move(rules)}};
}

json RoleBinding(const InstallOptions& o) {
  return json{
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", "RoleBinding"},
      {"metadata", Meta(o, LeaderRoleName(o), true)},
      {"roleRef",
       {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", LeaderRoleName(o)}}},
      {"subjects", Subjects(o)}};
}

json MetricsService(const InstallOptions& o) {
  return json{{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", Meta(o, MetricsServiceName(o), true)},
              {"spec",
               {{"selector", SelectorLabels(o)},
                {"ports", json::array({json{{"name", "metrics"},
                                            {"port", kApiPort},
                                            {"targetPort", "http"},
                                            {"protocol", "TCP"}}})}}}};
}

json Deployment(const InstallOptions& o) {
  json args = json::array({"serve", "--platform", "kubernetes", "--state", kStateDir, "--listen",
                           fmt::format("0.0.0.0:{}", kApiPort), "--leader-elect=true",
                           "--leader-election-namespace=$(POD_NAMESPACE)",
                           fmt::format("--healthz=0.0.0.0:{}", kHealthzPort)});
  if (!o.instance_id.empty()) args.push_back("--instance-id=" + o.instance_id);
  auto probe = [](int period, int failures) {
    // Every replica answers here, the standby too (the API port serves on the leader only).
    return json{{"httpGet", {{"path", "/healthz"}, {"port", "healthz"}}},
                {"periodSeconds", period},
                {"timeoutSeconds", 2},
                {"failureThreshold", failures}};
  };
  json container{
      {"name", "ramp"},
      {"image", o.image.empty() ? DefaultImage(o.version) : o.image},
      {"imagePullPolicy", "IfNotPresent"},
      {"command", json::array({"ramp"})},
      {"args", std::move(args)},
      {"env",
       json::array({json{{"name", "POD_NAMESPACE"},
                         {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.namespace"}}}}}}})},
      {"ports",
       json::array(
           {json{{"name", "http"}, {"containerPort", kApiPort}, {"protocol", "TCP"}},
            json{{"name", "healthz"}, {"containerPort", kHealthzPort}, {"protocol", "TCP"}}})},
      {"livenessProbe", probe(10, 3)},
      {"readinessProbe", probe(5, 1)},
      {"resources",
       {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}},
        {"limits", {{"cpu", "1"}, {"memory", "512Mi"}}}}},
      {"securityContext",
       {{"allowPrivilegeEscalation", false},
        {"readOnlyRootFilesystem", true},
        {"capabilities", {{"drop", json::array({"ALL"})}}}}},
      {"volumeMounts", json::array({json{{"name", "state"}, {"mountPath", kStateDir}}})}};
  json pod_labels = Labels(o);
  json pod_spec{
      {"serviceAccountName", InstallName(o)},
      {"securityContext",
       {{"runAsNonRoot", true},
        {"runAsUser", kRunAsUser},
        {"runAsGroup", kRunAsUser},
        {"fsGroup", kRunAsUser},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
      // Preferred, not required: a one-node cluster still runs both replicas.
      {"affinity",
       {{"podAntiAffinity",
         {{"preferredDuringSchedulingIgnoredDuringExecution",
           json::array({json{{"weight", 100},
                             {"podAffinityTerm",
                              {{"topologyKey", "kubernetes.io/hostname"},
                               {"labelSelector", {{"matchLabels", SelectorLabels(o)}}}}}}})}}}}},
      {"containers", json::array({std::move(container)})},
      {"volumes", json::array({json{{"name", "state"}, {"emptyDir", json::object()}}})}};
  return json{{"apiVersion", "apps/v1"},
              {"kind", "Deployment"},
              {"metadata", Meta(o, InstallName(o), true)},
              {"spec",
               {{"replicas", o.replicas},
                {"selector", {{"matchLabels", SelectorLabels(o)}}},
                {"template",
                 {{"metadata",
                   {{"labels", std::move(pod_labels)},
                    {"annotations",
                     {{"prometheus.io/scrape", "true"},
                      {"prometheus.io/port", std::to_string(kApiPort)},
                      {"prometheus.io/path", "/metrics"}}}}},
                  {"spec", std::move(pod_spec)}}}}}};
}

// The flags that reproduce `o` (defaults left out).
std::string CommandLine(const InstallOptions& o) {
  std::string line = "ramp install-manifests";
  if (o.namespace_ != kDefaultNamespace) line += " --namespace " + o.namespace_;
  if (!o.image.empty()) line += " --image " + o.image;
  if (o.replicas != 2) line += fmt::format(" --replicas {}", o.replicas);
  if (!o.controller) line += " --crds-only";
  if (!o.crds) line += " --no-crds";
  if (!o.instance_id.empty()) line += " --instance-id " + o.instance_id;
  return line;
}

}  // namespace

std::string DefaultImage(std::string_view version) { return "ramp:" + std::string(version); }

std::string InstallName(const InstallOptions& options) {
  return options.instance_id.empty() ? "ramp" : "ramp-" + options.instance_id;
}

Status ValidateInstallOptions(const InstallOptions& o) {
  if (!IsDnsLabel(o.namespace_)) {
    return InvalidArgumentError(fmt::format(
        "--namespace \"{}\": must be a DNS label (lower-case letters, digits and '-', at most 63)",
        o.namespace_));
  }
  // The longest name derived from the id is the leader-election Role's.
  if (!o.instance_id.empty() &&
      (!IsDnsLabel(o.instance_id) || !IsDnsLabel(LeaderRoleName(o)) ||
       !std::isalpha(static_cast<unsigned char>(o.instance_id.front())))) {
    return InvalidArgumentError(fmt::format(
        "--instance-id \"{}\": must start with a letter and be lower-case letters, digits and '-' "
        "(it names the objects ramp-<id>…, at most {} characters)",
        o.instance_id, 63 - std::string_view("ramp--leader-election").size()));
  }
  if (o.replicas < 1) {
    return InvalidArgumentError(fmt::format("--replicas {}: must be at least 1", o.replicas));
  }
  if (!o.crds && !o.controller) {
    return InvalidArgumentError("--crds-only and --no-crds together leave nothing to print");
  }
  return OkStatus();
}

std::vector<nlohmann::ordered_json> InstallObjects(const InstallOptions& o) {
  std::vector<json> out;
  if (o.crds) {
    for (const CrdModel& m : ArgoCrdModels()) out.push_back(CustomResourceDefinition(m));
  }
  if (o.controller) {
    out.push_back(Namespace(o));
    out.push_back(ServiceAccount(o));
    out.push_back(ClusterRole(o));
    out.push_back(ClusterRoleBinding(o));
    out.push_back(Role(o));
    out.push_back(RoleBinding(o));
    out.push_back(MetricsService(o));
    out.push_back(Deployment(o));
  }
  return out;
}

std::string InstallYaml(const InstallOptions& o) {
  std::string what = !o.controller ? "the CRDs of argoproj.io/v1alpha1"
                     : !o.crds     ? "the controller without the CRDs"
                                   : "the CRDs of argoproj.io/v1alpha1 and the controller";
  return ToYamlDocuments(InstallObjects(o),
                         {fmt::format("ramp {} on Kubernetes: {}.", o.version, what),
                          "Generated by `" + CommandLine(o) + "`; do not edit.",
                          "deploy/kubernetes/ is regenerated by scripts/gen-kube-manifests."});
}

}  // namespace ramp::install
