// KubeConfig: where the Kubernetes API server is and how ramp authenticates to it — read from a
// kubeconfig file (the one kubectl uses: clusters, users and contexts; KUBECONFIG may list
// several files, merged first-wins as kubectl does) or from the pod's service account when ramp
// runs in a cluster.
//
// Supported credentials: bearer tokens (inline `token` or `tokenFile`, re-read on every request
// so rotated service-account tokens keep working), client certificates (`client-certificate`
// / `client-key` files or their `-data` forms), basic auth, CA certificates (file or data), and
// `insecure-skip-tls-verify`. `exec` and `auth-provider` plugins are refused with an error that
// names the user: ramp runs no external credential helpers.
//
// Thread-safety: plain values and pure functions (the loaders read files and the environment
// they are given; nothing is cached).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "ramp/status.h"

namespace ramp::kube {

struct KubeConfig {
  std::string server;  // https://host:port (or http:// for local fakes), no trailing slash
  std::string ca_pem;  // CA certificates; empty = the system store
  bool insecure_skip_verify = false;
  std::string token;       // bearer token; empty when token_file or none is used
  std::string token_file;  // read at each request when set
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string username;  // basic auth (rare; kept for completeness)
  std::string password;
  std::string namespace_ = "default";  // the context's namespace
  std::string context;                 // the context chosen ("in-cluster" for the pod's account)
};

// Where in-cluster credentials live (overridable for tests).
struct InClusterPaths {
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string namespace_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
};

// Parses kubeconfig text (YAML or JSON) and resolves `context` (empty = current-context). Relative
// file paths inside are resolved against `base_dir`. Errors (kInvalidArgument) name the file and
// what is wrong: "kubeconfig ~/.kube/config: context \"prod\" not found (known: a, b)".
StatusOr<KubeConfig> ParseKubeconfig(std::string_view text, std::string_view file,
                                     std::string_view base_dir, std::string_view context);

// Reads and merges the kubeconfig files of `paths` (colon-separated, as KUBECONFIG; the first
// file that defines a name wins, current-context from the first file that sets it) and resolves
// `context`. kNotFound when no file exists.
StatusOr<KubeConfig> LoadKubeconfig(std::string_view paths, std::string_view context);

// The service account of the pod ramp runs in: KUBERNETES_SERVICE_HOST/PORT from `env`, the token
// file (read per request), the CA and the namespace. kNotFound outside a cluster.
StatusOr<KubeConfig> LoadInCluster(const std::map<std::string, std::string>& env,
                                   const InClusterPaths& paths = {});

// What `ramp serve --platform kubernetes` and the CLI use: --kubeconfig if given, else
// KUBECONFIG, else in-cluster when KUBERNETES_SERVICE_HOST is set, else ~/.kube/config.
StatusOr<KubeConfig> ResolveKubeConfig(std::string_view kubeconfig_flag, std::string_view context);

// Standard Base64 (padding optional, whitespace ignored); nullopt-like error for other input.
StatusOr<std::string> DecodeBase64(std::string_view in);

}  // namespace ramp::kube
