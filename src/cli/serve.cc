// `ramp serve`: the controller daemon (src/daemon) — the state store, the platform, the routers
// and metric providers, the HTTP API — until SIGTERM or SIGINT. docs/serve.md.
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "daemon/api.h"
#include "daemon/daemon.h"
#include "daemon/kube_sync.h"
#include "daemon/standalone_runs.h"
#include "daemon/wiring.h"
#include "hooks/notification_config.h"
#include "hooks/notifier.h"
#include "hooks/webhook.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"
#include "kube/leader_election.h"
#include "metrics/register.h"
#include "net/event_loop.h"
#include "net/http_server.h"
#include "platform/kubernetes/kube_platform.h"
#include "platform/process/process_platform.h"
#include "platform/static/static_platform.h"
#include "ramp/http_client.h"
#include "secrets/secret_source.h"
#include "store/kubernetes/kube_store.h"
#include "store/sqlite/sqlite_store.h"
#include "traffic/kube_services/service_router.h"
#include "traffic/kubernetes/kube_traffic_router.h"

namespace ramp::cli {
namespace {

struct ServeFlags {
  std::string state_dir;
  std::string listen = "127.0.0.1:9900";
  std::string platform = "process";
  std::string tls_cert;
  std::string tls_key;
  std::string instance_id;
  std::string secrets_dir;
  std::string proxy_admin;
  std::string proxy_token_file;
  std::string notifications;         // Argo's notifications ConfigMap (docs/notifications.md)
  std::string notifications_secret;  // its Secret
  // Kubernetes mode (--platform kubernetes).
  std::string kubeconfig;
  std::string context;
  std::string namespace_;  // "" = every namespace
  double qps = 40;
  int burst = 80;
  // Leader election (Argo's --leader-elect and its three durations, in seconds).
  bool leader_elect = true;
  std::string leader_namespace;
  double lease_duration = 15;
  double renew_deadline = 10;
  double retry_period = 2;
  // Kubernetes traffic routers: the API versions of the routed kinds (Argo's flags) and how
  // often routing objects are re-read and set back when edited outside ramp.
  kube_traffic::ApiVersions router_versions;
  double traffic_resync = 10;
  // Where GET /healthz answers from start-up on every replica, leader or standby ("" = only
  // the API's /healthz, which a standby does not serve yet).
  std::string healthz;
  int threads = 2;
  double resync_seconds = 1;
  int port_min = 20000;
  int port_max = 29999;
};

std::mutex log_mu;

// One structured line on stderr: time, level, rollout, message. Secrets never reach it: the
// runtime redacts measurement messages before they are stored or logged.
void LogLine(std::string_view rollout, std::string_view line) {
  std::lock_guard<std::mutex> lock(log_mu);
  std::time_t t = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  if (rollout.empty()) {
    std::cerr << fmt::format("{} level=info msg=\"{}\"\n", stamp, line);
  } else {
    std::cerr << fmt::format("{} level=info rollout={} msg=\"{}\"\n", stamp, rollout, line);
  }
}

// The notifications ConfigMap and Secret of --notifications / --notifications-secret; warnings
// are logged (they never carry secret values).
StatusOr<std::shared_ptr<const hooks::NotificationConfig>> LoadNotifications(const ServeFlags& f) {
  auto read = [](const std::string& path) -> StatusOr<std::string> {
    std::ifstream in(path);
    if (!in) return Fail(FailedPreconditionError(path + ": cannot read"));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  hooks::NotificationSecrets secrets;
  if (!f.notifications_secret.empty()) {
    ASSIGN_OR_RETURN(std::string text, read(f.notifications_secret));
    ASSIGN_OR_RETURN(secrets, hooks::ParseNotificationSecret(text, f.notifications_secret));
  }
  ASSIGN_OR_RETURN(std::string text, read(f.notifications));
  ASSIGN_OR_RETURN(hooks::NotificationConfig config,
                   hooks::ParseNotificationConfig(text, f.notifications, secrets));
  for (const std::string& w : config.warnings) LogLine("", "notifications: " + w);
  std::vector<std::string> services;
  for (const auto& [name, service] : config.services) services.push_back(name);
  LogLine("",
          fmt::format("notifications: services {} from {}",
                      services.empty() ? "(none)" : fmt::format("{}", fmt::join(services, ", ")),
                      f.notifications));
  return std::shared_ptr<const hooks::NotificationConfig>(
      std::make_shared<hooks::NotificationConfig>(std::move(config)));
}

int RunServe(const ServeFlags& f) {
  if (f.state_dir.empty()) {
    std::cerr << "ramp serve: --state DIR is required (or set RAMP_STATE)\n";
    return 2;
  }
  if (f.platform != "process" && f.platform != "static" && f.platform != "kubernetes") {
    std::cerr << "ramp serve: --platform " << f.platform
              << ": expected process, static or kubernetes\n";
    return 2;
  }
  const bool kube_mode = f.platform == "kubernetes";
  ::mkdir(f.state_dir.c_str(), 0700);

  // Block the stop signals before any thread starts, then wait for one of them below.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto clock = NewSystemClock();
  auto http = NewHttpClient();
  auto loop = net::EventLoop::Start(f.threads);
  // Kubernetes mode: the API server is the store, ReplicaSets the platform, Services the switch.
  std::unique_ptr<kube::KubeClient> kube_client;
  std::unique_ptr<kube::LeaderElector> elector;
  std::unique_ptr<net::HttpServer> health_server;                           // --healthz
  auto health_role = std::make_shared<std::atomic<bool>>(!f.leader_elect);  // true: leading
  std::shared_ptr<std::atomic<bool>> releasing;  // set while handing the lease over
  std::unique_ptr<store::KubeStateStore> kube_store;
  std::unique_ptr<Platform> kube_platform;
  char host[256] = {0};
  if (kube_mode) {
    auto config = kube::ResolveKubeConfig(f.kubeconfig, f.context);
    if (!config) {
      std::cerr << "ramp serve: Kubernetes: " << config.error().message() << "\n";
      return 1;
    }
    kube::KubeClientOptions ko;
    ko.config = *config;
    ko.http = http.get();
    ko.timers = loop.get();
    ko.clock = clock.get();
    ko.qps = f.qps;
    ko.burst = f.burst;
    ::gethostname(host, sizeof host - 1);
    ko.instance = host;
    auto client = kube::KubeClient::New(std::move(ko));
    if (!client) {
      std::cerr << "ramp serve: Kubernetes: " << client.error().message() << "\n";
      return 1;
    }
    kube_client = std::move(*client);
    if (!f.healthz.empty()) {
      // The kubelet probes every replica; a standby is healthy while it waits for the Lease.
      net::HttpServerOptions ho;
      ho.address = f.healthz;
      auto started = net::HttpServer::Start(ho, [role = health_role](
                                                    net::ServerRequest req,
                                                    std::shared_ptr<net::ServerReply> reply) {
        if (req.method != "GET" || req.path != "/healthz") {
          return reply->Send(net::ServerResponse{404, "text/plain", {}, "not found\n"});
        }
        reply->Send(net::ServerResponse{
            200,
            "application/json",
            {},
            nlohmann::json{{"status", "ok"}, {"role", role->load() ? "leader" : "standby"}}.dump() +
                "\n"});
      });
      if (!started) {
        std::cerr << "ramp serve: --healthz " << f.healthz << ": " << started.error().message()
                  << "\n";
        return 1;
      }
      health_server = std::move(*started);
      LogLine("", fmt::format("ramp serve: health on http://{}/healthz", health_server->Address()));
    }
    if (f.leader_elect) {
      // Only the leader acts; a standby waits here until it leads (or is told to stop).
      auto leading = std::make_shared<std::atomic<bool>>(false);
      releasing = std::make_shared<std::atomic<bool>>(false);
      kube::LeaderElectionOptions lo;
      lo.client = kube_client.get();
      lo.timers = loop.get();
      lo.clock = clock.get();
      lo.namespace_ = f.leader_namespace.empty() ? config->namespace_ : f.leader_namespace;
      lo.lock_name = kube::LeaderLockName(f.instance_id);
      lo.identity = kube::NewLeaderIdentity(host);
      auto seconds = [](double s) {
        return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
      };
      lo.lease_duration = seconds(f.lease_duration);
      lo.renew_deadline = seconds(f.renew_deadline);
      lo.retry_period = seconds(f.retry_period);
      lo.on_started_leading = [leading] { leading->store(true); };
      lo.on_stopped_leading = [releasing] {
        if (releasing->load()) return;  // our own graceful handover at shutdown
        // As client-go controllers do: a controller that may no longer be the only one acting
        // stops at once; its Deployment restarts it as a standby.
        LogLine("", "leader election: leadership lost, exiting");
        std::_Exit(1);
      };
      lo.log = [](std::string_view line) { LogLine("", fmt::format("leader election: {}", line)); };
      const std::string lock = lo.namespace_ + "/" + lo.lock_name;
      const std::string identity = lo.identity;
      auto started = kube::LeaderElector::Start(std::move(lo));
      if (!started) {
        std::cerr << "ramp serve: leader election: " << started.error().message() << "\n";
        return 2;
      }
      elector = std::move(*started);
      LogLine("", fmt::format("leader election: {} waiting to lead (Lease {})", identity, lock));
      while (!leading->load()) {
        timespec wait{0, 200'000'000};
        const int sig = sigtimedwait(&set, nullptr, &wait);
        if (sig > 0) {
          LogLine("", fmt::format("signal {}: stopping before leading", sig));
          elector.reset();
          loop->Stop();
          return 0;
        }
      }
      LogLine("", fmt::format("leader election: {} leads", identity));
      health_role->store(true);
    }
    store::KubeStoreOptions so;
    so.client = kube_client.get();
    so.timers = loop.get();
    so.clock = clock.get();
    so.namespace_ = f.namespace_;
    so.instance_id = f.instance_id;
    auto made_store = store::NewKubeStateStore(so);
    if (!made_store) {
      std::cerr << "ramp serve: state store: " << made_store.error().message() << "\n";
      return 1;
    }
    kube_store = std::move(*made_store);
    platform::KubePlatformOptions kp;
    kp.client = kube_client.get();
    kp.timers = loop.get();
    kp.clock = clock.get();
    kp.namespace_ = f.namespace_;
    auto made_platform = platform::NewKubePlatform(kp);
    if (!made_platform) {
      std::cerr << "ramp serve: platform: " << made_platform.error().message() << "\n";
      return 1;
    }
    kube_platform = std::move(*made_platform);
    LogLine("", fmt::format("Kubernetes: API server {} (context {}), namespace {}", config->server,
                            config->context, f.namespace_.empty() ? "(all)" : f.namespace_));
  }
  std::unique_ptr<StateStore> sqlite_store;
  if (!kube_mode) {
    auto made = store::NewSqliteStateStore(f.state_dir);
    if (!made) {
      std::cerr << "ramp serve: state store: " << made.error().message() << "\n";
      return 1;
    }
    sqlite_store = std::move(*made);
  }
  StateStore* state_store = kube_mode ? kube_store.get() : sqlite_store.get();
  auto tokens = daemon::LoadOrCreateTokens(f.state_dir + "/tokens");
  if (!tokens) {
    std::cerr << "ramp serve: " << tokens.error().message() << "\n";
    return 1;
  }
  secrets::SecretSourceOptions secret_options;
  secret_options.secrets_dir = f.secrets_dir;
  auto secrets = secrets::NewSecretLookup(secret_options);

  platform::ProcessPlatformOptions po;
  po.state_dir = f.state_dir + "/platform";
  po.clock = clock.get();
  po.secrets = secrets;
  po.port_min = f.port_min;
  po.port_max = f.port_max;
  auto platform = platform::NewProcessPlatform(po);
  if (!platform) {
    std::cerr << "ramp serve: platform: " << platform.error().message() << "\n";
    return 1;
  }

  daemon::WiringOptions wiring;
  wiring.http = http.get();
  wiring.clock = clock.get();
  wiring.secrets = secrets;
  wiring.proxy_admin = f.proxy_admin;
  wiring.proxy_token_file = f.proxy_token_file;
  // Kubernetes mode: the job provider runs batch/v1 Jobs in the cluster.
  wiring.kube = kube_client.get();
  if (kube_store) {
    wiring.analysis_run_uid = [s = kube_store.get()](const ObjectRef& run) {
      return s->ClusterUid(kKindAnalysisRun, run);
    };
  }
  auto registries = daemon::BuildRegistries(wiring);
  if (!registries) {
    std::cerr << "ramp serve: " << registries.error().message() << "\n";
    return 1;
  }
  if (kube_mode) {
    Status registered =
        (*registries)
            ->routers.Register(kube_services::kServiceRouterName,
                               [c = kube_client.get()](const RouterContext& context) {
                                 return kube_services::NewServiceRouter(c, context);
                               });
    if (registered.ok()) {
      kube_traffic::KubeTrafficOptions to;
      to.client = kube_client.get();
      to.timers = loop.get();
      to.clock = clock.get();
      to.versions = f.router_versions;
      to.factories = &kube_traffic::BuiltinRouters();
      registered = (*registries)
                       ->routers.Register(kube_traffic::kKubeTrafficRouterName,
                                          [to](const RouterContext& context) {
                                            return kube_traffic::NewKubeTrafficRouter(to, context);
                                          });
    }
    if (!registered.ok()) {
      std::cerr << "ramp serve: " << registered.message() << "\n";
      return 1;
    }
  }

  std::shared_ptr<const hooks::NotificationConfig> notification_config;
  if (!f.notifications.empty()) {
    auto loaded = LoadNotifications(f);
    if (!loaded) {
      std::cerr << "ramp serve: notifications: " << loaded.error().message() << "\n";
      return 1;
    }
    notification_config = *loaded;
  }

  std::unique_ptr<hooks::Notifier> notifier;
  if (notification_config) {
    hooks::NotifierOptions no;
    no.http = http.get();
    no.timers = loop.get();
    no.clock = clock.get();
    no.config = notification_config;
    no.log = LogLine;
    auto made = hooks::Notifier::New(std::move(no));
    if (!made) {
      std::cerr << "ramp serve: " << made.error().message() << "\n";
      return 1;
    }
    notifier = std::move(*made);
  }
  hooks::WebhookOptions webhook_options;
  webhook_options.http = http.get();
  webhook_options.timers = loop.get();
  webhook_options.clock = clock.get();
  auto webhooks = hooks::NewWebhookHook(webhook_options);
  if (!webhooks) {
    std::cerr << "ramp serve: " << webhooks.error().message() << "\n";
    return 1;
  }
  daemon::DaemonOptions options;
  options.loop = loop.get();
  options.clock = clock.get();
  options.store = state_store;
  // Instances that other tooling runs (ramp.dev/platform: static, or every rollout with
  // --platform static): ramp only probes and routes to them.
  platform::StaticPlatformOptions so;
  so.clock = clock.get();
  auto static_platform = platform::NewStaticPlatform(so);
  if (!static_platform) {
    std::cerr << "ramp serve: static platform: " << static_platform.error().message() << "\n";
    return 1;
  }
  if (kube_mode) {
    options.platform = kube_platform.get();
    options.external_generation = true;
    options.default_router = kube_services::kServiceRouterName;
    options.argo_traffic_router = kube_traffic::kKubeTrafficRouterName;
    options.router_resync =
        std::chrono::milliseconds(static_cast<int64_t>(f.traffic_resync * 1000));
  } else if (f.platform == "static") {
    options.platform = static_platform->get();
    options.platforms["process"] = platform->get();
  } else {
    options.platform = platform->get();
    options.platforms["static"] = static_platform->get();
  }
  options.providers = &(*registries)->providers;
  options.routers = &(*registries)->routers;
  options.hooks = webhooks->get();
  options.secrets = secrets;
  options.instance_id = f.instance_id;
  options.resync = std::chrono::milliseconds(static_cast<int64_t>(f.resync_seconds * 1000));
  options.log = LogLine;
  if (notifier) {
    options.on_event = [n = notifier.get()](const StoredEvent& e, const nlohmann::json& rollout) {
      n->Notify(hooks::NotificationEvent{e.ref, e.type, e.reason, e.message, e.time, rollout});
    };
  }
  auto d = daemon::Daemon::Start(std::move(options));
  if (!d) {
    std::cerr << "ramp serve: " << d.error().message() << "\n";
    return 1;
  }

  std::unique_ptr<daemon::KubeSync> sync;
  if (kube_mode) {
    daemon::KubeSyncOptions ko;
    ko.daemon = d->get();
    ko.store = kube_store.get();
    ko.client = kube_client.get();
    ko.timers = loop.get();
    ko.clock = clock.get();
    ko.namespace_ = f.namespace_;
    ko.log = LogLine;
    auto started = daemon::KubeSync::Start(std::move(ko));
    if (!started) {
      std::cerr << "ramp serve: Kubernetes sync: " << started.error().message() << "\n";
      return 1;
    }
    sync = std::move(*started);
  }

  // AnalysisRuns created on their own (`ramp create analysisrun --from`).
  daemon::StandaloneRunsOptions ro;
  ro.store = state_store;
  ro.providers = &(*registries)->providers;
  ro.clock = clock.get();
  ro.secrets = secrets;
  ro.log = [](std::string_view run, std::string_view line) {
    LogLine("", fmt::format("analysisrun {}: {}", run, line));
  };
  auto runs = daemon::StandaloneRuns::Start(std::move(ro));
  if (!runs) {
    std::cerr << "ramp serve: analysis runs: " << runs.error().message() << "\n";
    return 1;
  }

  daemon::ApiOptions api_options;
  api_options.runs = runs->get();
  api_options.address = f.listen;
  api_options.tls_cert_file = f.tls_cert;
  api_options.tls_key_file = f.tls_key;
  api_options.audit_log = f.state_dir + "/audit.log";
  api_options.tokens = *tokens;
  api_options.clock = clock.get();
  api_options.instance_logs_dir = po.state_dir;
  if (notifier) api_options.extra_metrics = [n = notifier.get()] { return n->MetricsText(); };
  auto api = daemon::ApiServer::Start(api_options, d->get());
  if (!api) {
    std::cerr << "ramp serve: API on " << f.listen << ": " << api.error().message() << "\n";
    return 1;
  }
  const std::string scheme = (*api)->Tls() ? "https" : "http";
  const std::string url = scheme + "://" + (*api)->Address();
  {
    // Where the CLI finds this daemon (ramp --state DIR …).
    nlohmann::json endpoint = {{"server", url}, {"pid", ::getpid()}};
    const std::string path = f.state_dir + "/endpoint.json";
    std::ofstream out(path + ".tmp");
    out << endpoint.dump() << "\n";
    out.close();
    std::rename((path + ".tmp").c_str(), path.c_str());
  }
  LogLine("", fmt::format("ramp serve: API on {} (tokens in {}/tokens), metrics at {}/metrics", url,
                          f.state_dir, url));

  int sig = 0;
  sigwait(&set, &sig);
  LogLine("", fmt::format("signal {}: stopping (instances and the proxy keep running)", sig));
  (*api)->Stop();
  sync.reset();
  (*runs)->Shutdown();
  (*d)->Shutdown();
  d->reset();
  if (elector) {
    // A graceful stop hands the lease over at once instead of making the standby wait it out.
    auto released = std::make_shared<std::promise<Status>>();
    auto answer = released->get_future();
    releasing->store(true);
    elector->Release([released](Status s) { released->set_value(std::move(s)); });
    if (answer.wait_for(std::chrono::seconds(3)) == std::future_status::ready) {
      Status s = answer.get();
      if (!s.ok()) LogLine("", "leader election: releasing the lease: " + s.message());
    }
    elector.reset();
  }
  loop->Stop();
  return 0;
}

}  // namespace

void RegisterServe(CLI::App* app) {
  auto flags = std::make_shared<ServeFlags>();
  if (const char* env = std::getenv("RAMP_STATE")) flags->state_dir = env;
  auto* cmd = app->add_subcommand("serve", "Run the controller daemon (docs/serve.md)");
  cmd->add_option("--state", flags->state_dir,
                  "State directory: database, tokens, audit log, instance logs (RAMP_STATE)");
  cmd->add_option("--listen", flags->listen, "API address (loopback by default)")
      ->capture_default_str();
  cmd->add_option("--platform", flags->platform,
                  "Where instances of rollouts without ramp.dev/platform run: process, static, or "
                  "kubernetes (Kubernetes mode: docs/kubernetes.md)")
      ->capture_default_str();
  cmd->add_option("--kubeconfig", flags->kubeconfig,
                  "Kubernetes mode: kubeconfig file(s) (default: KUBECONFIG, in-cluster, "
                  "~/.kube/config)");
  cmd->add_option("--context", flags->context, "Kubernetes mode: kubeconfig context");
  cmd->add_option("--namespace", flags->namespace_,
                  "Kubernetes mode: watch only this namespace (default: every namespace)");
  cmd->add_option("--leader-elect", flags->leader_elect,
                  "Kubernetes mode: act only while holding the Lease ramp-controller-lock[-ID]")
      ->capture_default_str();
  cmd->add_option("--leader-election-namespace", flags->leader_namespace,
                  "Kubernetes mode: the Lease's namespace (default: the kubeconfig's)");
  cmd->add_option("--leader-election-lease-duration", flags->lease_duration,
                  "Kubernetes mode: seconds a standby waits before taking an unrenewed lease")
      ->capture_default_str();
  cmd->add_option("--leader-election-renew-deadline", flags->renew_deadline,
                  "Kubernetes mode: seconds the leader may fail to renew before it stops")
      ->capture_default_str();
  cmd->add_option("--leader-election-retry-period", flags->retry_period,
                  "Kubernetes mode: seconds between lease attempts")
      ->capture_default_str();
  cmd->add_option("--qps", flags->qps, "Kubernetes mode: API requests per second")
      ->capture_default_str();
  cmd->add_option("--burst", flags->burst, "Kubernetes mode: API request burst")
      ->capture_default_str();
  cmd->add_option("--healthz", flags->healthz,
                  "Kubernetes mode: answer GET /healthz on this address from start-up, on the "
                  "leader and on standbys (the kubelet's probes)");
  cmd->add_option("--traffic-resync", flags->traffic_resync,
                  "Kubernetes mode: seconds between re-reads of the traffic routing objects "
                  "(VirtualServices, Ingresses, …); one changed outside ramp is set back")
      ->capture_default_str();
  cmd->add_option("--istio-api-version", flags->router_versions.istio,
                  "Kubernetes mode: networking.istio.io version")
      ->capture_default_str();
  cmd->add_option("--traffic-split-api-version", flags->router_versions.smi,
                  "Kubernetes mode: split.smi-spec.io version")
      ->capture_default_str();
  cmd->add_option("--ambassador-api-version", flags->router_versions.ambassador,
                  "Kubernetes mode: Ambassador Mapping group/version")
      ->capture_default_str();
  cmd->add_option("--traefik-api-group", flags->router_versions.traefik_group,
                  "Kubernetes mode: TraefikService group")
      ->capture_default_str();
  cmd->add_option("--traefik-api-version", flags->router_versions.traefik_version,
                  "Kubernetes mode: TraefikService version")
      ->capture_default_str();
  cmd->add_option("--ingress-api-version", flags->router_versions.ingress,
                  "Kubernetes mode: Ingress group/version (networking.k8s.io/v1 or "
                  "extensions/v1beta1)")
      ->capture_default_str();
  cmd->add_option("--apisix-api-version", flags->router_versions.apisix,
                  "Kubernetes mode: apisix.apache.org version")
      ->capture_default_str();
  cmd->add_option("--gateway-api-version", flags->router_versions.gateway,
                  "Kubernetes mode: gateway.networking.k8s.io version")
      ->capture_default_str();
  cmd->add_option("--tls-cert", flags->tls_cert, "PEM certificate: serve the API over HTTPS");
  cmd->add_option("--tls-key", flags->tls_key, "PEM private key of --tls-cert");
  cmd->add_option("--instance-id", flags->instance_id, "Controller instance id label");
  cmd->add_option("--secrets-dir", flags->secrets_dir, "Directory of Secrets (docs/secrets.md)");
  cmd->add_option("--proxy-admin", flags->proxy_admin,
                  "Admin address of the ramp proxy that ramp/proxy rollouts use by default "
                  "(127.0.0.1:PORT)");
  cmd->add_option("--proxy-token-file", flags->proxy_token_file,
                  "Bearer token file of --proxy-admin");
  cmd->add_option("--notifications", flags->notifications,
                  "Argo's notifications ConfigMap (YAML): services, templates, triggers "
                  "(docs/notifications.md)");
  cmd->add_option("--notifications-secret", flags->notifications_secret,
                  "The Secret (YAML) whose keys --notifications refers to as $key");
  cmd->add_option("--threads", flags->threads, "Event loop threads")->capture_default_str();
  cmd->add_option("--resync", flags->resync_seconds,
                  "Seconds between instance re-reads of a waiting rollout")
      ->capture_default_str();
  cmd->add_option("--port-min", flags->port_min, "Lowest instance PORT")->capture_default_str();
  cmd->add_option("--port-max", flags->port_max, "Highest instance PORT")->capture_default_str();
  cmd->callback([flags] {
    if (!flags->tls_cert.empty() != !flags->tls_key.empty()) {
      std::cerr << "ramp serve: give both --tls-cert and --tls-key\n";
      ExitCode() = 2;
      return;
    }
    if (!flags->notifications_secret.empty() && flags->notifications.empty()) {
      std::cerr << "ramp serve: --notifications-secret needs --notifications\n";
      ExitCode() = 2;
      return;
    }
    ExitCode() = RunServe(*flags);
  });
}

}  // namespace ramp::cli
