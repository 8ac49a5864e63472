#include "kube/kube_config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "spec/yaml_tree.h"

namespace ramp::kube {
namespace {

using json = nlohmann::json;

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(NotFoundError(path + ": cannot read"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Resolve(std::string_view base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return std::string(base_dir) + "/" + path;
}

std::string DirOf(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  return std::string(path.substr(0, slash == 0 ? 1 : slash));
}

// The named entries of a kubeconfig list ("clusters", "users", "contexts"): name → inner object.
StatusOr<std::map<std::string, json>> NamedEntries(const json& root, const char* list,
                                                   const char* inner, std::string_view file) {
  std::map<std::string, json> out;
  if (!root.contains(list) || root[list].is_null()) return out;
  if (!root[list].is_array()) {
    return Fail(InvalidArgumentError(fmt::format("kubeconfig {}: {} must be a list", file, list)));
  }
  size_t i = 0;
  for (const json& e : root[list]) {
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string()) {
      return Fail(
          InvalidArgumentError(fmt::format("kubeconfig {}: {}[{}] has no name", file, list, i)));
    }
    json body = e.value(inner, json::object());
    if (!body.is_object()) {
      return Fail(InvalidArgumentError(
          fmt::format("kubeconfig {}: {}[{}].{} must be a mapping", file, list, i, inner)));
    }
    out.emplace(e["name"].get<std::string>(), body);  // first wins
    ++i;
  }
  return out;
}

std::string Str(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A credential given inline as base64 `<key>-data` or as a file `<key>`.
StatusOr<std::string> DataOrFile(const json& o, const std::string& key, std::string_view base_dir,
                                 std::string_view where) {
  std::string data = Str(o, (key + "-data").c_str());
  if (!data.empty()) {
    auto decoded = DecodeBase64(data);
    if (!decoded) {
      return Fail(InvalidArgumentError(fmt::format("{}: {}-data is not base64", where, key)));
    }
    return *decoded;
  }
  std::string path = Str(o, key.c_str());
  if (path.empty()) return std::string();
  auto text = ReadFile(Resolve(base_dir, path));
  if (!text) {
    return Fail(
        InvalidArgumentError(fmt::format("{}: {}: {}", where, key, text.error().message())));
  }
  return *text;
}

StatusOr<json> ParseText(std::string_view text, std::string_view file) {
  auto docs = spec::ParseDocuments(text, file);
  if (!docs) {
    return Fail(
        InvalidArgumentError(fmt::format("kubeconfig {}: {}", file, docs.error().message())));
  }
  for (const spec::Document& d : *docs) {
    if (d.root.IsNull()) continue;
    json root = spec::ToJson(d.root);
    if (!root.is_object()) {
      return Fail(InvalidArgumentError(fmt::format("kubeconfig {}: not a mapping", file)));
    }
    return root;
  }
  return json::object();
}

std::string Known(const std::map<std::string, json>& m) {
  std::string out;
  for (const auto& [name, v] : m) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "(none)" : out;
}

// Builds the config of `context` from merged entries.
StatusOr<KubeConfig> FromEntries(const std::map<std::string, json>& clusters,
                                 const std::map<std::string, json>& users,
                                 const std::map<std::string, json>& contexts,
                                 const std::map<std::string, std::string>& base_dirs,
                                 std::string current, std::string_view context,
                                 std::string_view file) {
  std::string name = context.empty() ? current : std::string(context);
  if (name.empty()) {
    return Fail(InvalidArgumentError(
        fmt::format("kubeconfig {}: no current-context; name one with --context (known: {})", file,
                    Known(contexts))));
  }
  auto ctx = contexts.find(name);
  if (ctx == contexts.end()) {
    return Fail(InvalidArgumentError(fmt::format(
        "kubeconfig {}: context \"{}\" not found (known: {})", file, name, Known(contexts))));
  }
  KubeConfig c;
  c.context = name;
  const std::string cluster_name = Str(ctx->second, "cluster");
  const std::string user_name = Str(ctx->second, "user");
  if (std::string ns = Str(ctx->second, "namespace"); !ns.empty()) c.namespace_ = ns;
  auto cl = clusters.find(cluster_name);
  if (cl == clusters.end()) {
    return Fail(InvalidArgumentError(
        fmt::format("kubeconfig {}: context \"{}\" names cluster \"{}\", which is not defined",
                    file, name, cluster_name)));
  }
  const std::string where_cluster =
      fmt::format("kubeconfig {}: cluster \"{}\"", file, cluster_name);
  auto dir = [&](const std::string& kind_name) {
    auto it = base_dirs.find(kind_name);
    return it == base_dirs.end() ? std::string() : it->second;
  };
  c.server = Str(cl->second, "server");
  if (c.server.empty()) {
    return Fail(InvalidArgumentError(where_cluster + ": no server"));
  }
  while (!c.server.empty() && c.server.back() == '/') c.server.pop_back();
  if (c.server.rfind("https://", 0) != 0 && c.server.rfind("http://", 0) != 0) {
    return Fail(InvalidArgumentError(
        fmt::format("{}: server \"{}\" is not an http(s) URL", where_cluster, c.server)));
  }
  if (auto it = cl->second.find("insecure-skip-tls-verify"); it != cl->second.end()) {
    c.insecure_skip_verify =
        it->is_boolean() ? it->get<bool>() : Str(cl->second, "insecure-skip-tls-verify") == "true";
  }
  ASSIGN_OR_RETURN(c.ca_pem, DataOrFile(cl->second, "certificate-authority",
                                        dir("cluster/" + cluster_name), where_cluster));
  if (!user_name.empty()) {
    auto us = users.find(user_name);
    if (us == users.end()) {
      return Fail(InvalidArgumentError(
          fmt::format("kubeconfig {}: context \"{}\" names user \"{}\", which is not defined", file,
                      name, user_name)));
    }
    const json& u = us->second;
    const std::string where_user = fmt::format("kubeconfig {}: user \"{}\"", file, user_name);
    if (u.contains("exec") || u.contains("auth-provider")) {
      return Fail(InvalidArgumentError(where_user +
                                       ": exec and auth-provider credential plugins are not "
                                       "supported; use a token, tokenFile or client certificate"));
    }
    const std::string udir = dir("user/" + user_name);
    c.token = Str(u, "token");
    if (std::string tf = Str(u, "tokenFile"); !tf.empty() && c.token.empty()) {
      c.token_file = Resolve(udir, tf);
    }
    ASSIGN_OR_RETURN(c.client_cert_pem, DataOrFile(u, "client-certificate", udir, where_user));
    ASSIGN_OR_RETURN(c.client_key_pem, DataOrFile(u, "client-key", udir, where_user));
    if (c.client_cert_pem.empty() != c.client_key_pem.empty()) {
      return Fail(
          InvalidArgumentError(where_user + ": client-certificate and client-key go together"));
    }
    c.username = Str(u, "username");
    c.password = Str(u, "password");
  }
  return c;
}

}  // namespace

StatusOr<std::string> DecodeBase64(std::string_view in) {
  auto value = [](char ch) -> int {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char ch : in) {
    if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') continue;
    if (ch == '=') {
      padding = true;
      continue;
    }
    int v = value(ch);
    if (v < 0 || padding) return Fail(InvalidArgumentError("not base64"));
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits >= 6) return Fail(InvalidArgumentError("not base64"));
  return out;
}

StatusOr<KubeConfig> ParseKubeconfig(std::string_view text, std::string_view file,
                                     std::string_view base_dir, std::string_view context) {
  ASSIGN_OR_RETURN(json root, ParseText(text, file));
  ASSIGN_OR_RETURN(auto clusters, NamedEntries(root, "clusters", "cluster", file));
  ASSIGN_OR_RETURN(auto users, NamedEntries(root, "users", "user", file));
  ASSIGN_OR_RETURN(auto contexts, NamedEntries(root, "contexts", "context", file));
  std::map<std::string, std::string> dirs;
  for (const auto& [n, v] : clusters) dirs["cluster/" + n] = std::string(base_dir);
  for (const auto& [n, v] : users) dirs["user/" + n] = std::string(base_dir);
  return FromEntries(clusters, users, contexts, dirs, Str(root, "current-context"), context, file);
}

StatusOr<KubeConfig> LoadKubeconfig(std::string_view paths, std::string_view context) {
  std::map<std::string, json> clusters, users, contexts;
  std::map<std::string, std::string> dirs;
  std::string current;
  bool any = false;
  std::string first;
  size_t start = 0;
  while (start <= paths.size()) {
    size_t end = paths.find(':', start);
    if (end == std::string_view::npos) end = paths.size();
    std::string path(paths.substr(start, end - start));
    start = end + 1;
    if (path.empty()) continue;
    auto text = ReadFile(path);
    if (!text) continue;  // kubectl skips missing files in KUBECONFIG
    any = true;
    if (first.empty()) first = path;
    ASSIGN_OR_RETURN(json root, ParseText(*text, path));
    ASSIGN_OR_RETURN(auto cl, NamedEntries(root, "clusters", "cluster", path));
    ASSIGN_OR_RETURN(auto us, NamedEntries(root, "users", "user", path));
    ASSIGN_OR_RETURN(auto cx, NamedEntries(root, "contexts", "context", path));
    for (auto& [n, v] : cl) {
      if (clusters.emplace(n, v).second) dirs["cluster/" + n] = DirOf(path);
    }
    for (auto& [n, v] : us) {
      if (users.emplace(n, v).second) dirs["user/" + n] = DirOf(path);
    }
    for (auto& [n, v] : cx) contexts.emplace(n, v);
    if (current.empty()) current = Str(root, "current-context");
  }
  if (!any) {
    return Fail(NotFoundError(fmt::format("no kubeconfig file found in \"{}\"", paths)));
  }
  return FromEntries(clusters, users, contexts, dirs, current, context, first);
}

StatusOr<KubeConfig> LoadInCluster(const std::map<std::string, std::string>& env,
                                   const InClusterPaths& paths) {
  auto host = env.find("KUBERNETES_SERVICE_HOST");
  auto port = env.find("KUBERNETES_SERVICE_PORT");
  if (host == env.end() || host->second.empty()) {
    return Fail(NotFoundError("not in a cluster: KUBERNETES_SERVICE_HOST is not set"));
  }
  KubeConfig c;
  c.context = "in-cluster";
  const bool ipv6 = host->second.find(':') != std::string::npos;
  c.server = fmt::format("https://{}{}{}:{}", ipv6 ? "[" : "", host->second, ipv6 ? "]" : "",
                         port == env.end() || port->second.empty() ? "443" : port->second);
  auto token = ReadFile(paths.token_file);
  if (!token) {
    return Fail(FailedPreconditionError("in-cluster service account: " + token.error().message()));
  }
  c.token_file = paths.token_file;
  auto ca = ReadFile(paths.ca_file);
  if (!ca) {
    return Fail(FailedPreconditionError("in-cluster service account: " + ca.error().message()));
  }
  c.ca_pem = *ca;
  if (auto ns = ReadFile(paths.namespace_file); ns) {
    std::string n = *ns;
    while (!n.empty() && (n.back() == '\n' || n.back() == ' ')) n.pop_back();
    if (!n.empty()) c.namespace_ = n;
  }
  return c;
}

StatusOr<KubeConfig> ResolveKubeConfig(std::string_view kubeconfig_flag, std::string_view context) {
  if (!kubeconfig_flag.empty()) return LoadKubeconfig(kubeconfig_flag, context);
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    return LoadKubeconfig(env, context);
  }
  if (const char* host = std::getenv("KUBERNETES_SERVICE_HOST"); host != nullptr && *host != '\0') {
    std::map<std::string, std::string> env = {{"KUBERNETES_SERVICE_HOST", host}};
    if (const char* port = std::getenv("KUBERNETES_SERVICE_PORT")) {
      env["KUBERNETES_SERVICE_PORT"] = port;
    }
    return LoadInCluster(env);
  }
  const char* home = std::getenv("HOME");
  return LoadKubeconfig(std::string(home ? home : "") + "/.kube/config", context);
}

}  // namespace ramp::kube
