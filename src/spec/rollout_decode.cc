// Strict decoding of the Rollout kind; validation lives in rollout_validate.cc.
#include "spec/extensions.h"
#include "spec/rollout.h"

namespace ramp::spec {
namespace {

using Mode = ObjectReader::Mode;

StringMatch DecodeStringMatch(DecodeContext* ctx, const Node& n, const std::string& path) {
  ObjectReader r(ctx, &n, path);
  StringMatch m;
  m.exact = r.String("exact").value_or("");
  m.prefix = r.String("prefix").value_or("");
  m.regex = r.String("regex").value_or("");
  r.Finish();
  return m;
}

std::optional<StringMatch> OptStringMatch(ObjectReader* r, std::string_view key) {
  const Node* n = r->Field(key);
  if (n == nullptr) return std::nullopt;
  return DecodeStringMatch(r->ctx(), *n, r->FieldPath(key));
}

std::vector<Argument> DecodeRolloutArgs(ObjectReader* r) {
  return r->List("args", [](DecodeContext* c, const Node& n, const std::string& p) {
    return DecodeArgument(c, n, p, /*rollout_arg=*/true);
  });
}

RolloutAnalysis DecodeRolloutAnalysis(DecodeContext* ctx, const Node& n, const std::string& path,
                                      bool background) {
  ObjectReader r(ctx, &n, path);
  RolloutAnalysis a;
  a.templates = r.List("templates", DecodeAnalysisTemplateRef);
  a.args = DecodeRolloutArgs(&r);
  a.dry_run = r.List("dryRun", DecodeDryRun);
  a.measurement_retention = r.List("measurementRetention", DecodeMeasurementRetention);
  if (const Node* m = r.Field("analysisRunMetadata")) {
    a.analysis_run_metadata = DecodePodMetadata(ctx, m, r.FieldPath("analysisRunMetadata"));
  }
  if (background) a.starting_step = r.Int32("startingStep");
  r.Finish();
  return a;
}

AntiAffinity DecodeAntiAffinity(DecodeContext* ctx, const Node& n, const std::string& path) {
  ObjectReader r(ctx, &n, path);
  AntiAffinity a;
  if (const Node* p = r.Field("preferredDuringSchedulingIgnoredDuringExecution")) {
    ObjectReader pr(ctx, p, r.FieldPath("preferredDuringSchedulingIgnoredDuringExecution"));
    a.has_preferred = true;
    a.preferred_weight = pr.Int32("weight");
    pr.Finish();
  }
  if (const Node* q = r.Field("requiredDuringSchedulingIgnoredDuringExecution")) {
    ObjectReader qr(ctx, q, r.FieldPath("requiredDuringSchedulingIgnoredDuringExecution"));
    a.has_required = true;
    qr.Finish();
  }
  r.Finish();
  return a;
}

std::optional<PodMetadata> OptPodMetadata(ObjectReader* r, std::string_view key) {
  const Node* n = r->Field(key);
  if (n == nullptr) return std::nullopt;
  return DecodePodMetadata(r->ctx(), n, r->FieldPath(key));
}

ExperimentStep DecodeExperimentStep(DecodeContext* ctx, const Node& n, const std::string& path) {
  ObjectReader r(ctx, &n, path);
  ExperimentStep e;
  e.templates = r.List("templates", [](DecodeContext* c, const Node& tn, const std::string& tp) {
    ObjectReader tr(c, &tn, tp);
    ExperimentTemplateRef t;
    t.name = tr.String("name").value_or("");
    t.spec_ref = tr.String("specRef").value_or("");
    t.replicas = tr.Int32("replicas");
    if (const Node* m = tr.Field("metadata")) {
      t.metadata = DecodePodMetadata(c, m, tr.FieldPath("metadata"));
    }
    if (const Node* s = tr.Field("selector")) {
      t.selector = DecodeLabelSelector(c, s, tr.FieldPath("selector"));
    }
    t.weight = tr.Int32("weight");
    if (const Node* s = tr.Field("service")) {
      ObjectReader sr(c, s, tr.FieldPath("service"));
      t.has_service = true;
      t.service_name = sr.String("name");
      sr.Finish();
    }
    tr.Finish();
    if (t.name.empty()) c->Error(tn.mark, ChildPath(tp, "name"), "Required value");
    if (t.spec_ref != "canary" && t.spec_ref != "stable") {
      c->Error(tr.FieldMark("specRef"), ChildPath(tp, "specRef"),
               "must be canary or stable (got \"" + t.spec_ref + "\")");
    }
    if (t.replicas && *t.replicas < 0) {
      c->Error(tr.FieldMark("replicas"), ChildPath(tp, "replicas"),
               "must be greater than or equal to 0");
    }
    return t;
  });
  if (const Node* d = r.Field("duration")) {
    e.duration = ReadDurationString(ctx, *d, r.FieldPath("duration")).value_or(DurationString{});
  }
  e.analyses = r.List("analyses", [](DecodeContext* c, const Node& an, const std::string& ap) {
    ObjectReader ar(c, &an, ap);
    ExperimentAnalysisRef a;
    a.name = ar.String("name").value_or("");
    a.template_name = ar.String("templateName").value_or("");
    a.cluster_scope = ar.Bool("clusterScope");
    a.args = DecodeRolloutArgs(&ar);
    a.required_for_completion = ar.Bool("requiredForCompletion").value_or(false);
    ar.Finish();
    if (a.name.empty()) c->Error(an.mark, ChildPath(ap, "name"), "Required value");
    if (a.template_name.empty()) {
      c->Error(an.mark, ChildPath(ap, "templateName"), "Required value");
    }
    return a;
  });
  e.dry_run = r.List("dryRun", DecodeDryRun);
  if (const Node* m = r.Field("analysisRunMetadata")) {
    e.analysis_run_metadata = DecodePodMetadata(ctx, m, r.FieldPath("analysisRunMetadata"));
  }
  e.scale_down_delay_seconds = r.Int32("scaleDownDelaySeconds");
  r.Finish();
  if (e.templates.empty() && r.valid()) {
    ctx->Error(n.mark, ChildPath(path, "templates"), "Required value: at least one template");
  }
  return e;
}

CanaryStep DecodeCanaryStep(DecodeContext* ctx, const Node& n, const std::string& path) {
  ObjectReader r(ctx, &n, path);
  CanaryStep s;
  s.set_weight = r.Int32("setWeight");
  if (const Node* p = r.Field("pause")) {
    ObjectReader pr(ctx, p, r.FieldPath("pause"));
    RolloutPause pause;
    pause.duration = pr.IntOrStr("duration");
    pr.Finish();
    s.pause = pause;
  } else if (const Node* raw = n.Find("pause"); raw != nullptr && raw->IsPlainNull()) {
    s.pause = RolloutPause{};  // `pause:` with nothing is `pause: {}`
  }
  if (const Node* e = r.Field("experiment")) {
    s.experiment = DecodeExperimentStep(ctx, *e, r.FieldPath("experiment"));
  }
  if (const Node* a = r.Field("analysis")) {
    s.analysis = DecodeRolloutAnalysis(ctx, *a, r.FieldPath("analysis"), false);
  }
  if (const Node* c = r.Field("setCanaryScale")) {
    ObjectReader cr(ctx, c, r.FieldPath("setCanaryScale"));
    SetCanaryScale scale;
    scale.weight = cr.Int32("weight");
    scale.replicas = cr.Int32("replicas");
    scale.match_traffic_weight = cr.Bool("matchTrafficWeight").value_or(false);
    cr.Finish();
    s.set_canary_scale = scale;
  }
  if (const Node* h = r.Field("setHeaderRoute")) {
    ObjectReader hr(ctx, h, r.FieldPath("setHeaderRoute"));
    SetHeaderRoute route;
    route.name = hr.String("name").value_or("");
    route.match = hr.List("match", [](DecodeContext* c, const Node& mn, const std::string& mp) {
      ObjectReader mr(c, &mn, mp);
      HeaderRoutingMatch m;
      m.header_name = mr.String("headerName").value_or("");
      m.header_value = OptStringMatch(&mr, "headerValue");
      mr.Finish();
      if (m.header_name.empty()) c->Error(mn.mark, ChildPath(mp, "headerName"), "Required value");
      return m;
    });
    hr.Finish();
    s.set_header_route = route;
  }
  if (const Node* m = r.Field("setMirrorRoute")) {
    ObjectReader mr(ctx, m, r.FieldPath("setMirrorRoute"));
    SetMirrorRoute route;
    route.name = mr.String("name").value_or("");
    route.match = mr.List("match", [](DecodeContext* c, const Node& rn, const std::string& rp) {
      ObjectReader rr(c, &rn, rp);
      RouteMatch match;
      match.method = OptStringMatch(&rr, "method");
      match.path = OptStringMatch(&rr, "path");
      if (const Node* hs = rr.Field("headers")) {
        std::string hp = rr.FieldPath("headers");
        if (!hs->IsMap()) {
          c->Error(hs->mark, hp, "expected a map of header name to StringMatch");
        } else {
          for (const auto& e : hs->entries) {
            std::string ep = ChildPath(hp, e.key);
            c->Record(ep, e.key_mark);
            match.headers[e.key] = DecodeStringMatch(c, e.value, ep);
          }
        }
      }
      rr.Finish();
      return match;
    });
    route.percentage = mr.Int32("percentage");
    mr.Finish();
    if (route.name.empty()) ctx->Error(m->mark, ChildPath(mr.path(), "name"), "Required value");
    if (route.percentage && (*route.percentage < 0 || *route.percentage > 100)) {
      ctx->Error(mr.FieldMark("percentage"), ChildPath(mr.path(), "percentage"),
                 "must be between 0 and 100");
    }
    s.set_mirror_route = route;
  }
  if (const Node* p = r.Field("plugin")) {
    std::string pp = r.FieldPath("plugin");
    ObjectReader pr(ctx, p, pp);
    PluginStep plugin;
    plugin.name = pr.String("name").value_or("");
    const Node* config = pr.Field("config");
    if (config != nullptr) plugin.config = ToJson(*config);
    pr.Finish();
    if (plugin.name.empty()) {
      ctx->Error(p->mark, ChildPath(pp, "name"), "Required value");
    } else if (IsRampPluginName(plugin.name)) {
      ValidateRampStepPlugin(ctx, plugin.name, config, ChildPath(pp, "config"));
    }
    s.plugin = plugin;
  }
  r.Finish();
  return s;
}

IstioVirtualService DecodeVirtualService(DecodeContext* ctx, const Node& n, const std::string& path,
                                         bool istio) {
  ObjectReader r(ctx, &n, path);
  IstioVirtualService vs;
  vs.name = r.String("name").value_or("");
  vs.routes = r.StringList("routes");
  if (istio) {
    vs.tls_routes =
        r.List("tlsRoutes", [](DecodeContext* c, const Node& tn, const std::string& tp) {
          ObjectReader tr(c, &tn, tp);
          IstioVirtualService::TlsRoute t;
          t.port = tr.Int64("port").value_or(0);
          t.sni_hosts = tr.StringList("sniHosts");
          tr.Finish();
          return t;
        });
    vs.tcp_route_ports =
        r.List("tcpRoutes", [](DecodeContext* c, const Node& tn, const std::string& tp) {
          ObjectReader tr(c, &tn, tp);
          int64_t port = tr.Int64("port").value_or(0);
          tr.Finish();
          return port;
        });
  }
  r.Finish();
  if (vs.name.empty() && r.valid()) ctx->Error(n.mark, ChildPath(path, "name"), "Required value");
  return vs;
}

RolloutTrafficRouting DecodeTrafficRouting(DecodeContext* ctx, const Node& n,
                                           const std::string& path) {
  ObjectReader r(ctx, &n, path);
  RolloutTrafficRouting t;
  t.raw = ToJson(n);
  if (const Node* i = r.Field("istio")) {
    std::string ip = r.FieldPath("istio");
    ObjectReader ir(ctx, i, ip);
    IstioTrafficRouting istio;
    if (const Node* vs = ir.Field("virtualService")) {
      istio.virtual_service = DecodeVirtualService(ctx, *vs, ir.FieldPath("virtualService"), true);
    }
    istio.virtual_services =
        ir.List("virtualServices", [](DecodeContext* c, const Node& vn, const std::string& vp) {
          return DecodeVirtualService(c, vn, vp, true);
        });
    if (const Node* dr = ir.Field("destinationRule")) {
      ObjectReader dr_r(ctx, dr, ir.FieldPath("destinationRule"));
      IstioTrafficRouting::DestinationRule d;
      d.name = dr_r.String("name").value_or("");
      d.canary_subset_name = dr_r.String("canarySubsetName").value_or("");
      d.stable_subset_name = dr_r.String("stableSubsetName").value_or("");
      d.additional_subset_names = dr_r.StringList("additionalSubsetNames");
      dr_r.Finish();
      for (const char* f : {"name", "canarySubsetName", "stableSubsetName"}) {
        if (dr->Find(f) == nullptr) {
          ctx->Error(dr->mark, ChildPath(dr_r.path(), f), "Required value");
        }
      }
      istio.destination_rule = d;
    }
    ir.Finish();
    if (istio.virtual_service.has_value() == !istio.virtual_services.empty() && ir.valid()) {
      ctx->Error(i->mark, ip, "either VirtualService or VirtualServices must be configured");
    }
    t.istio = istio;
  }
  if (const Node* x = r.Field("nginx")) {
    std::string xp = r.FieldPath("nginx");
    ObjectReader xr(ctx, x, xp);
    NginxTrafficRouting nginx;
    nginx.annotation_prefix = xr.String("annotationPrefix").value_or("");
    nginx.stable_ingress = xr.String("stableIngress").value_or("");
    nginx.stable_ingresses = xr.StringList("stableIngresses");
    nginx.additional_ingress_annotations = xr.StringMap("additionalIngressAnnotations");
    nginx.canary_ingress_annotations = xr.StringMap("canaryIngressAnnotations");
    xr.Finish();
    if (!nginx.stable_ingress.empty() && !nginx.stable_ingresses.empty()) {
      ctx->Error(x->mark, xp,
                 "Either StableIngress or StableIngresses must be configured. Both are "
                 "configured.");
    } else if (nginx.stable_ingress.empty() && nginx.stable_ingresses.empty() && xr.valid()) {
      ctx->Error(x->mark, xp,
                 "Either StableIngress or StableIngresses must be configured. Neither are "
                 "configured.");
    }
    t.nginx = nginx;
  }
  if (const Node* a = r.Field("alb")) {
    std::string ap = r.FieldPath("alb");
    ObjectReader ar(ctx, a, ap);
    AlbTrafficRouting alb;
    alb.ingress = ar.String("ingress").value_or("");
    alb.ingresses = ar.StringList("ingresses");
    alb.service_port = ar.Int32("servicePort").value_or(0);
    alb.root_service = ar.String("rootService").value_or("");
    alb.annotation_prefix = ar.String("annotationPrefix").value_or("");
    if (const Node* s = ar.Field("stickinessConfig")) {
      ObjectReader sr(ctx, s, ar.FieldPath("stickinessConfig"));
      AlbTrafficRouting::Stickiness st;
      st.enabled = sr.Bool("enabled").value_or(false);
      st.duration_seconds = sr.Int64("durationSeconds").value_or(0);
      sr.Finish();
      if (st.duration_seconds < 1 || st.duration_seconds > 604800) {
        ctx->Error(sr.FieldMark("durationSeconds"), ChildPath(sr.path(), "durationSeconds"),
                   "must be between 1 and 604800 seconds");
      }
      alb.stickiness_config = st;
    }
    ar.Finish();
    if (a->Find("servicePort") == nullptr && ar.valid()) {
      ctx->Error(a->mark, ChildPath(ap, "servicePort"), "Required value");
    }
    if (!alb.ingress.empty() && !alb.ingresses.empty()) {
      ctx->Error(a->mark, ap,
                 "Either Ingress or Ingresses must be configured. Both are configured.");
    } else if (alb.ingress.empty() && alb.ingresses.empty() && ar.valid()) {
      ctx->Error(a->mark, ap,
                 "Either Ingress or Ingresses must be configured. Neither are configured.");
    }
    t.alb = alb;
  }
  if (const Node* s = r.Field("smi")) {
    ObjectReader sr(ctx, s, r.FieldPath("smi"));
    SmiTrafficRouting smi;
    smi.root_service = sr.String("rootService").value_or("");
    smi.traffic_split_name = sr.String("trafficSplitName").value_or("");
    sr.Finish();
    t.smi = smi;
  }
  if (const Node* a = r.Field("ambassador")) {
    ObjectReader ar(ctx, a, r.FieldPath("ambassador"));
    t.ambassador_mappings = ar.StringList("mappings");
    ar.Finish();
    if (t.ambassador_mappings->empty() && ar.valid()) {
      ctx->Error(a->mark, ChildPath(ar.path(), "mappings"), "Required value");
    }
  }
  if (const Node* m = r.Field("appMesh")) {
    std::string mp = r.FieldPath("appMesh");
    ObjectReader mr(ctx, m, mp);
    AppMeshTrafficRouting mesh;
    if (const Node* vs = mr.Field("virtualService")) {
      mesh.virtual_service = DecodeVirtualService(ctx, *vs, mr.FieldPath("virtualService"), false);
    }
    if (const Node* g = mr.Field("virtualNodeGroup")) {
      std::string gp = mr.FieldPath("virtualNodeGroup");
      ObjectReader gr(ctx, g, gp);
      mesh.has_virtual_node_group = true;
      auto ref = [&](std::string_view key) {
        std::string out;
        if (const Node* rn = gr.Field(key)) {
          ObjectReader rr(ctx, rn, gr.FieldPath(key));
          out = rr.String("name").value_or("");
          rr.Finish();
        }
        if (out.empty()) ctx->Error(g->mark, ChildPath(gp, key), "Required value");
        return out;
      };
      mesh.canary_virtual_node = ref("canaryVirtualNodeRef");
      mesh.stable_virtual_node = ref("stableVirtualNodeRef");
      gr.Finish();
    }
    mr.Finish();
    t.app_mesh = mesh;
  }
  if (const Node* x = r.Field("traefik")) {
    ObjectReader xr(ctx, x, r.FieldPath("traefik"));
    t.traefik_weighted_service = xr.String("weightedTraefikServiceName").value_or("");
    xr.Finish();
    if (t.traefik_weighted_service->empty() && xr.valid()) {
      ctx->Error(x->mark, ChildPath(xr.path(), "weightedTraefikServiceName"), "Required value");
    }
  }
  if (const Node* x = r.Field("apisix")) {
    ObjectReader xr(ctx, x, r.FieldPath("apisix"));
    t.has_apisix = true;
    if (const Node* route = xr.Field("route")) {
      ObjectReader rr(ctx, route, xr.FieldPath("route"));
      t.apisix_route_name = rr.String("name").value_or("");
      t.apisix_route_rules = rr.StringList("rules");
      rr.Finish();
      if (t.apisix_route_name->empty()) {
        ctx->Error(route->mark, ChildPath(rr.path(), "name"), "Required value");
      }
    }
    xr.Finish();
  }
  if (r.Field("managedRoutes") != nullptr) {
    t.managed_routes =
        r.List("managedRoutes", [](DecodeContext* c, const Node& mn, const std::string& mp) {
          ObjectReader mr(c, &mn, mp);
          std::string name = mr.String("name").value_or("");
          mr.Finish();
          if (name.empty()) c->Error(mn.mark, ChildPath(mp, "name"), "Required value");
          return name;
        });
  }
  if (const Node* p = r.Field("plugins")) {
    std::string pp = r.FieldPath("plugins");
    if (!p->IsMap()) {
      ctx->Error(p->mark, pp, "expected a map of plugin name to configuration");
    } else {
      for (const auto& e : p->entries) {
        std::string ep = KeyPath(pp, e.key);
        ctx->Record(ep, e.key_mark);
        if (IsRampPluginName(e.key)) ValidateRampRouterPlugin(ctx, e.key, e.value, ep);
        t.plugins[e.key] = ToJson(e.value);
      }
    }
  }
  t.max_traffic_weight = r.Int32("maxTrafficWeight");
  r.Finish();
  if (t.max_traffic_weight && *t.max_traffic_weight < 1) {
    ctx->Error(r.FieldMark("maxTrafficWeight"), r.FieldPath("maxTrafficWeight"),
               "must be at least 1");
  }
  return t;
}

CanaryStrategy DecodeCanary(DecodeContext* ctx, const Node& n, const std::string& path) {
  ObjectReader r(ctx, &n, path);
  CanaryStrategy c;
  c.canary_service = r.String("canaryService").value_or("");
  c.stable_service = r.String("stableService").value_or("");
  c.steps = r.List("steps", DecodeCanaryStep);
  if (const Node* t = r.Field("trafficRouting")) {
    c.traffic_routing = DecodeTrafficRouting(ctx, *t, r.FieldPath("trafficRouting"));
  }
  c.max_unavailable = r.IntOrStr("maxUnavailable");
  c.max_surge = r.IntOrStr("maxSurge");
  if (const Node* a = r.Field("analysis")) {
    c.analysis = DecodeRolloutAnalysis(ctx, *a, r.FieldPath("analysis"), true);
  }
  if (const Node* a = r.Field("antiAffinity")) {
    c.anti_affinity = DecodeAntiAffinity(ctx, *a, r.FieldPath("antiAffinity"));
  }
  c.canary_metadata = OptPodMetadata(&r, "canaryMetadata");
  c.stable_metadata = OptPodMetadata(&r, "stableMetadata");
  c.scale_down_delay_seconds = r.Int32("scaleDownDelaySeconds");
  c.scale_down_delay_revision_limit = r.Int32("scaleDownDelayRevisionLimit");
  c.abort_scale_down_delay_seconds = r.Int32("abortScaleDownDelaySeconds");
  c.dynamic_stable_scale = r.Bool("dynamicStableScale").value_or(false);
  if (const Node* p = r.Field("pingPong")) {
    ObjectReader pr(ctx, p, r.FieldPath("pingPong"));
    c.ping_pong = std::make_pair(pr.String("pingService").value_or(""),
                                 pr.String("pongService").value_or(""));
    pr.Finish();
  }
  c.min_pods_per_replica_set = r.Int32("minPodsPerReplicaSet");
  if (const Node* t = r.Field("replicaProgressThreshold")) {
    ObjectReader tr(ctx, t, r.FieldPath("replicaProgressThreshold"));
    ReplicaProgressThreshold th;
    th.type = tr.String("type").value_or("");
    th.value = tr.Int32("value").value_or(0);
    tr.Finish();
    if (th.type != "Percent" && th.type != "Pods") {
      ctx->Error(tr.FieldMark("type"), ChildPath(tr.path(), "type"),
                 "must be Percent or Pods (got \"" + th.type + "\")");
    }
    c.replica_progress_threshold = th;
  }
  r.Finish();
  return c;
}

BlueGreenStrategy DecodeBlueGreen(DecodeContext* ctx, const Node& n, const std::string& path) {
  ObjectReader r(ctx, &n, path);
  BlueGreenStrategy b;
  b.active_service = r.String("activeService").value_or("");
  b.preview_service = r.String("previewService").value_or("");
  b.preview_replica_count = r.Int32("previewReplicaCount");
  b.auto_promotion_enabled = r.Bool("autoPromotionEnabled");
  b.auto_promotion_seconds = r.Int32("autoPromotionSeconds").value_or(0);
  b.max_unavailable = r.IntOrStr("maxUnavailable");
  b.scale_down_delay_seconds = r.Int32("scaleDownDelaySeconds");
  b.scale_down_delay_revision_limit = r.Int32("scaleDownDelayRevisionLimit");
  if (const Node* a = r.Field("prePromotionAnalysis")) {
    b.pre_promotion_analysis =
        DecodeRolloutAnalysis(ctx, *a, r.FieldPath("prePromotionAnalysis"), false);
  }
  if (const Node* a = r.Field("postPromotionAnalysis")) {
    b.post_promotion_analysis =
        DecodeRolloutAnalysis(ctx, *a, r.FieldPath("postPromotionAnalysis"), false);
  }
  if (const Node* a = r.Field("antiAffinity")) {
    b.anti_affinity = DecodeAntiAffinity(ctx, *a, r.FieldPath("antiAffinity"));
  }
  b.preview_metadata = OptPodMetadata(&r, "previewMetadata");
  b.active_metadata = OptPodMetadata(&r, "activeMetadata");
  b.abort_scale_down_delay_seconds = r.Int32("abortScaleDownDelaySeconds");
  r.Finish();
  if (b.active_service.empty() && r.valid()) {
    ctx->Error(n.mark, ChildPath(path, "activeService"), "Required value");
  }
  return b;
}

PodTemplate DecodePodTemplate(DecodeContext* ctx, const Node* n, const std::string& path) {
  PodTemplate t;
  if (n == nullptr) return t;
  ObjectReader r(ctx, n, path, Mode::kLenient);
  if (!r.valid()) return t;
  t.empty = n->entries.empty();
  t.raw = ToJson(*n);
  t.metadata = DecodeObjectMeta(ctx, r.Field("metadata"), r.FieldPath("metadata"));
  if (const Node* spec = r.Field("spec")) {
    std::string sp = r.FieldPath("spec");
    ObjectReader sr(ctx, spec, sp, Mode::kLenient);
    t.containers = sr.List("containers", DecodeContainer);
    for (const char* extra : {"initContainers", "ephemeralContainers"}) {
      sr.List(extra, DecodeContainer);
    }
    CheckProcessWorkload(ctx, spec, sp);
  }
  return t;
}

}  // namespace

std::optional<int64_t> RolloutPause::DurationSeconds() const {
  if (!duration) return std::nullopt;
  if (!duration->is_string) return duration->int_value;
  int64_t secs = 0;
  if (ParseYamlInt(duration->str_value, &secs)) return secs;
  auto nanos = ParseGoDuration(duration->str_value);
  if (!nanos) return -1;
  return *nanos / 1'000'000'000;
}

Rollout DecodeRollout(DecodeContext* ctx, const Node& root) {
  Rollout ro;
  size_t errors_before = ctx->error_count();
  ObjectReader r(ctx, &root, "");
  CheckTypeMeta(&r, "Rollout");
  const Node* meta = r.Field("metadata");
  ro.metadata = DecodeObjectMeta(ctx, meta, "metadata");
  if (meta != nullptr) {
    ValidateRolloutAnnotations(ctx, meta->Find("annotations"), "metadata.annotations");
  }
  if (const Node* status = r.Field("status")) ro.status = ToJson(*status);
  const Node* spec_node = r.Field("spec");
  ObjectReader s(ctx, spec_node, "spec");
  RolloutSpec& spec = ro.spec;
  spec.replicas = s.Int32("replicas");
  if (const Node* sel = s.Field("selector")) {
    spec.selector = DecodeLabelSelector(ctx, sel, "spec.selector");
  }
  spec.template_ = DecodePodTemplate(ctx, s.Field("template"), "spec.template");
  if (const Node* w = s.Field("workloadRef")) {
    ObjectReader wr(ctx, w, "spec.workloadRef");
    WorkloadRef ref;
    ref.api_version = wr.String("apiVersion").value_or("");
    ref.kind = wr.String("kind").value_or("");
    ref.name = wr.String("name").value_or("");
    ref.scale_down = wr.String("scaleDown").value_or("");
    wr.Finish();
    spec.workload_ref = ref;
  }
  spec.min_ready_seconds = s.Int32("minReadySeconds").value_or(0);
  if (const Node* rw = s.Field("rollbackWindow")) {
    ObjectReader rr(ctx, rw, "spec.rollbackWindow");
    spec.rollback_window_revisions = rr.Int32("revisions");
    rr.Finish();
  }
  if (const Node* st = s.Field("strategy")) {
    ObjectReader str(ctx, st, "spec.strategy");
    if (const Node* c = str.Field("canary")) {
      spec.canary = DecodeCanary(ctx, *c, "spec.strategy.canary");
    } else if (const Node* raw = st->IsMap() ? st->Find("canary") : nullptr) {
      (void)raw;
      spec.canary = CanaryStrategy{};  // `canary: {}` / `canary:` is a canary with defaults
    }
    if (const Node* b = str.Field("blueGreen")) {
      spec.blue_green = DecodeBlueGreen(ctx, *b, "spec.strategy.blueGreen");
    }
    str.Finish();
  }
  spec.revision_history_limit = s.Int32("revisionHistoryLimit");
  spec.paused = s.Bool("paused").value_or(false);
  spec.progress_deadline_seconds = s.Int32("progressDeadlineSeconds");
  spec.progress_deadline_abort = s.Bool("progressDeadlineAbort").value_or(false);
  spec.restart_at = s.String("restartAt").value_or("");
  if (const Node* a = s.Field("analysis")) {
    ObjectReader ar(ctx, a, "spec.analysis");
    spec.successful_run_history_limit = ar.Int32("successfulRunHistoryLimit");
    spec.unsuccessful_run_history_limit = ar.Int32("unsuccessfulRunHistoryLimit");
    ar.Finish();
  }
  s.Finish();
  r.Finish();
  // Argo validates only what decoded cleanly; rule errors on a half-read object would mislead.
  if (ctx->error_count() == errors_before) ValidateRollout(ro, ctx, ctx->sources());
  return ro;
}

}  // namespace ramp::spec
