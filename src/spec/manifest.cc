#include "spec/manifest.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "spec/extensions.h"

namespace ramp::spec {
namespace {

constexpr std::string_view kArgoKinds[] = {"Rollout", "AnalysisTemplate", "ClusterAnalysisTemplate",
                                           "AnalysisRun", "Experiment"};
constexpr char kPodTemplateHashLabel[] = "rollouts-pod-template-hash";

std::string ScalarOr(const Node* n) { return n != nullptr && n->IsScalar() ? n->scalar : ""; }

const Node* At(const Node* n, std::initializer_list<std::string_view> keys) {
  for (auto k : keys) {
    if (n == nullptr) return nullptr;
    n = n->Find(k);
  }
  return n;
}

// Turns the parser's "file:line:col: message" back into a positioned diagnostic.
Diagnostic SyntaxDiagnostic(const std::string& file, const std::string& message) {
  Diagnostic d;
  d.file = file;
  d.message = message;
  std::string prefix = file + ":";
  if (message.rfind(prefix, 0) != 0) return d;
  std::string rest = message.substr(prefix.size());
  int line = 0, col = 0, used = 0;
  if (std::sscanf(rest.c_str(), "%d:%d: %n", &line, &col, &used) >= 2 && used > 0) {
    d.mark = Mark{line, col};
    d.message = rest.substr(static_cast<size_t>(used));
  } else if (rest.rfind(' ', 0) == 0) {
    d.message = rest.substr(1);
  }
  return d;
}

template <typename T, typename Decode>
void LoadInto(std::vector<Located<T>>* out, DecodeContext* ctx, const Diagnostics& diags,
              std::shared_ptr<SourceMap> sources, const Node& root, Decode decode) {
  auto obj = std::make_shared<T>(decode(ctx, root));
  if (!diags.HasErrors()) out->push_back(Located<T>{std::move(obj), ctx->file(), sources});
}

}  // namespace

ManifestSet LoadManifests(std::string_view text, std::string_view file) {
  ManifestSet set;
  std::string fname(file);
  auto docs = ParseDocuments(text, file);
  if (!docs.has_value()) {
    set.diagnostics.Add(SyntaxDiagnostic(fname, docs.error().message()));
    return set;
  }
  for (Document& doc : *docs) {
    const Node& root = doc.root;
    for (const ParseWarning& w : doc.warnings) {
      set.diagnostics.Warning(fname, w.mark, "", w.message);
    }
    if (root.IsNull()) continue;
    ++set.documents;
    Diagnostics diags;
    auto sources = std::make_shared<SourceMap>();
    DecodeContext ctx(fname, &diags, sources.get());
    if (!root.IsMap()) {
      ctx.Error(root.mark, "",
                "a manifest document must be an object, got " + std::string(root.TypeName()));
      set.diagnostics.Append(diags);
      continue;
    }
    std::string api = ScalarOr(root.Find("apiVersion"));
    std::string kind = ScalarOr(root.Find("kind"));
    if (api.empty() || kind.empty()) {
      ctx.Error(root.mark, "",
                std::string("Object '") + (kind.empty() ? "Kind" : "apiVersion") +
                    "' is missing: every document needs apiVersion and kind");
      set.diagnostics.Append(diags);
      continue;
    }
    std::string group = api.substr(0, api.find('/'));
    if (group == kArgoGroup) {
      if (kind == "Rollout") {
        LoadInto(&set.rollouts, &ctx, diags, sources, root, DecodeRollout);
      } else if (kind == "AnalysisTemplate") {
        LoadInto(&set.analysis_templates, &ctx, diags, sources, root, DecodeAnalysisTemplate);
      } else if (kind == "ClusterAnalysisTemplate") {
        LoadInto(&set.cluster_analysis_templates, &ctx, diags, sources, root,
                 DecodeClusterAnalysisTemplate);
      } else if (kind == "AnalysisRun") {
        LoadInto(&set.analysis_runs, &ctx, diags, sources, root, DecodeAnalysisRun);
      } else if (kind == "Experiment") {
        LoadInto(&set.experiments, &ctx, diags, sources, root, DecodeExperiment);
      } else {
        std::vector<std::string> known(std::begin(kArgoKinds), std::end(kArgoKinds));
        std::string msg = "unknown kind \"" + kind + "\" in " + api;
        std::string hint = DidYouMean(kind, known);
        if (!hint.empty()) msg += " (did you mean \"" + hint + "\"?)";
        ctx.Error(root.KeyMark("kind"), "kind", msg);
      }
    } else {
      if (group == kRampGroup) ValidateRampObject(&ctx, root);
      if (!diags.HasErrors()) {
        if (group == kRampGroup && kind == kRolloutWebhooksKind) {
          LoadInto(&set.rollout_webhooks, &ctx, diags, sources, root, DecodeRolloutWebhooks);
        }
        std::string name = ScalarOr(At(&root, {"metadata", "name"}));
        set.others.push_back(OtherObject{api, kind, name, fname, std::move(doc)});
      }
    }
    set.diagnostics.Append(diags);
  }
  CrossCheckReferences(&set);
  return set;
}

namespace {

// Names of the Services an Ingress routes to (networking.k8s.io/v1 and extensions/v1beta1).
std::vector<std::string> IngressBackendServices(const Node& root) {
  std::vector<std::string> out;
  const Node* rules = At(&root, {"spec", "rules"});
  if (rules == nullptr || !rules->IsSequence()) return out;
  for (const Node& rule : rules->items) {
    const Node* paths = At(&rule, {"http", "paths"});
    if (paths == nullptr || !paths->IsSequence()) continue;
    for (const Node& p : paths->items) {
      for (const std::string& svc : {ScalarOr(At(&p, {"backend", "service", "name"})),
                                     ScalarOr(At(&p, {"backend", "serviceName"}))}) {
        if (!svc.empty()) out.push_back(svc);
      }
    }
  }
  return out;
}

struct ServiceRole {
  std::string name;
  std::string path;
};

std::vector<ServiceRole> ServiceRoles(const Rollout& ro) {
  std::vector<ServiceRole> out;
  if (const auto& c = ro.spec.canary) {
    out.push_back({c->canary_service, "spec.strategy.canary.canaryService"});
    out.push_back({c->stable_service, "spec.strategy.canary.stableService"});
    if (c->ping_pong) {
      out.push_back({c->ping_pong->first, "spec.strategy.canary.pingPong.pingService"});
      out.push_back({c->ping_pong->second, "spec.strategy.canary.pingPong.pongService"});
    }
  }
  if (const auto& b = ro.spec.blue_green) {
    out.push_back({b->active_service, "spec.strategy.blueGreen.activeService"});
    out.push_back({b->preview_service, "spec.strategy.blueGreen.previewService"});
  }
  std::erase_if(out, [](const ServiceRole& r) { return r.name.empty(); });
  return out;
}

bool IsIngress(const OtherObject& o) {
  return o.kind == "Ingress" &&
         (o.api_version == "networking.k8s.io/v1" || o.api_version == "extensions/v1beta1" ||
          o.api_version == "networking.k8s.io/v1beta1");
}

// The host's short name, as Istio's router compares destinations to Service names.
std::string ShortHost(const std::string& host) { return host.substr(0, host.find('.')); }

void CheckVirtualService(const Located<Rollout>& lr, const IstioVirtualService& ref,
                         const std::string& ref_path, const OtherObject& vs, Diagnostics* out) {
  const Rollout& ro = *lr.object;
  const CanaryStrategy& c = *ro.spec.canary;
  const auto& istio = *c.traffic_routing->istio;
  auto report = [&](std::string msg) {
    out->Error(lr.file, lr.sources->Lookup(ref_path), ref_path, std::move(msg));
  };
  const Node* http = At(&vs.doc.root, {"spec", "http"});
  const Node* tls = At(&vs.doc.root, {"spec", "tls"});
  const Node* tcp = At(&vs.doc.root, {"spec", "tcp"});
  if (http == nullptr && tls == nullptr && tcp == nullptr) {
    report("Unable to get any of the HTTP, TCP or TLS routes for the Istio VirtualService \"" +
           vs.name + "\"");
    return;
  }
  if (ref.routes.empty() && ref.tls_routes.empty() && ref.tcp_route_ports.empty()) {
    // A single unnamed HTTP route may be managed without naming it.
    if (http != nullptr && http->IsSequence() && http->items.size() > 1) {
      report("Istio VirtualService \"" + vs.name +
             "\" has more than one HTTP route: list the managed ones in routes");
    }
  }
  for (const std::string& route : ref.routes) {
    const Node* found = nullptr;
    if (http != nullptr && http->IsSequence()) {
      for (const Node& r : http->items) {
        if (ScalarOr(r.Find("name")) == route) found = &r;
      }
    }
    if (found == nullptr) {
      report("Istio VirtualService has invalid HTTP routes. Error: HTTP Route '" + route +
             "' is not found in the defined Virtual Service \"" + vs.name + "\"");
      continue;
    }
    bool canary = false, stable = false;
    if (const Node* dests = found->Find("route"); dests != nullptr && dests->IsSequence()) {
      for (const Node& d : dests->items) {
        std::string host = ShortHost(ScalarOr(At(&d, {"destination", "host"})));
        std::string subset = ScalarOr(At(&d, {"destination", "subset"}));
        if (istio.destination_rule) {
          canary |= subset == istio.destination_rule->canary_subset_name;
          stable |= subset == istio.destination_rule->stable_subset_name;
        } else {
          canary |= host == c.canary_service;
          stable |= host == c.stable_service;
        }
      }
    }
    if (!canary || !stable) {
      report("Istio VirtualService has invalid HTTP routes. Error: route '" + route +
             "' of Virtual Service \"" + vs.name + "\" must have destinations for both the " +
             (istio.destination_rule ? "canary and stable subsets" : "canary and stable services"));
    }
  }
}

}  // namespace

void CrossCheckReferences(ManifestSet* set) {
  for (const Located<Rollout>& lr : set->rollouts) {
    const Rollout& ro = *lr.object;
    auto report = [&](const std::string& path, std::string msg) {
      set->diagnostics.Error(lr.file, lr.sources->Lookup(path), path, std::move(msg));
    };
    // Services: their selectors must select this rollout's pods (besides the hash label).
    for (const ServiceRole& role : ServiceRoles(ro)) {
      for (const OtherObject& o : set->others) {
        if (o.kind != "Service" || o.api_version != "v1" || o.name != role.name) continue;
        const Node* selector = At(&o.doc.root, {"spec", "selector"});
        if (selector == nullptr || !selector->IsMap()) continue;
        for (const auto& e : selector->entries) {
          if (e.key == kPodTemplateHashLabel) continue;
          auto it = ro.spec.template_.metadata.labels.find(e.key);
          if (it == ro.spec.template_.metadata.labels.end() || !e.value.IsScalar() ||
              it->second != e.value.scalar) {
            report(role.path, "Service \"" + role.name + "\" has unmatch label \"" + e.key +
                                  "\" in rollout (its selector would not select the rollout's "
                                  "pods)");
          }
        }
      }
    }
    if (!ro.spec.canary || !ro.spec.canary->traffic_routing) continue;
    const CanaryStrategy& c = *ro.spec.canary;
    const RolloutTrafficRouting& tr = *c.traffic_routing;
    // Ingresses named by the nginx or ALB router must route to the stable (or root) Service.
    auto check_ingress = [&](const std::string& ingress, const std::string& service,
                             const std::string& path) {
      for (const OtherObject& o : set->others) {
        if (!IsIngress(o) || o.name != ingress) continue;
        auto backends = IngressBackendServices(o.doc.root);
        if (std::find(backends.begin(), backends.end(), service) == backends.end()) {
          // Argo's lint lets this pass (it only checks Ingresses that use the service), but
          // its router refuses such an Ingress at run time: warn.
          set->diagnostics.Warning(lr.file, lr.sources->Lookup(path), path,
                                   "ingress `" + ingress + "` has no rules using service " +
                                       service + " backend; the router will refuse it");
        }
      }
    };
    if (tr.nginx) {
      if (!tr.nginx->stable_ingress.empty()) {
        check_ingress(tr.nginx->stable_ingress, c.stable_service,
                      "spec.strategy.canary.trafficRouting.nginx.stableIngress");
      }
      for (size_t i = 0; i < tr.nginx->stable_ingresses.size(); ++i) {
        check_ingress(tr.nginx->stable_ingresses[i], c.stable_service,
                      IndexPath("spec.strategy.canary.trafficRouting.nginx.stableIngresses", i));
      }
    }
    if (tr.alb) {
      std::string svc = tr.alb->root_service.empty() ? c.stable_service : tr.alb->root_service;
      if (!tr.alb->ingress.empty()) {
        check_ingress(tr.alb->ingress, svc, "spec.strategy.canary.trafficRouting.alb.ingress");
      }
      for (size_t i = 0; i < tr.alb->ingresses.size(); ++i) {
        check_ingress(tr.alb->ingresses[i], svc,
                      IndexPath("spec.strategy.canary.trafficRouting.alb.ingresses", i));
      }
    }
    if (tr.istio) {
      std::vector<std::pair<const IstioVirtualService*, std::string>> refs;
      if (tr.istio->virtual_service) {
        refs.emplace_back(&*tr.istio->virtual_service,
                          "spec.strategy.canary.trafficRouting.istio.virtualService.name");
      }
      for (size_t i = 0; i < tr.istio->virtual_services.size(); ++i) {
        refs.emplace_back(
            &tr.istio->virtual_services[i],
            IndexPath("spec.strategy.canary.trafficRouting.istio.virtualServices", i) + ".name");
      }
      for (const auto& [ref, path] : refs) {
        for (const OtherObject& o : set->others) {
          if (o.kind != "VirtualService" || o.api_version.rfind("networking.istio.io/", 0) != 0) {
            continue;
          }
          std::string name = ref->name.substr(0, ref->name.find('.'));
          if (o.name == name) CheckVirtualService(lr, *ref, path, o, &set->diagnostics);
        }
      }
    }
  }
}

}  // namespace ramp::spec
