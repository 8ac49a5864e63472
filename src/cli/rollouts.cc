// The rollout verbs, with `kubectl argo rollouts`' meanings, against a running `ramp serve`:
// apply, get, list, promote, abort, retry, pause, resume, restart, undo, set image, status,
// delete. docs/cli.md. In Kubernetes mode (--kubeconfig, --context or RAMP_KUBE=1) get, list,
// status and the action verbs work on Rollout objects in the API server instead, writing the
// patches `kubectl argo rollouts` writes (cli/kube_actions.h).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "cli/api_client.h"
#include "cli/commands.h"
#include "cli/kube_actions.h"
#include "cli/rollout_view.h"

namespace ramp::cli {
namespace {

using nlohmann::json;

struct Common {
  ConnectionFlags connection;
  std::string namespace_ = "default";
  CLI::Option* namespace_option = nullptr;
  std::string output;  // "", "json", "yaml"
  // Kubernetes mode (verbs that have it).
  bool kube_capable = false;
  std::string kubeconfig;
  std::string context;
};

// Whether the verb acts on the cluster: --kubeconfig or --context given, or RAMP_KUBE=1.
bool KubeMode(const Common& c) {
  if (!c.kube_capable) return false;
  if (!c.kubeconfig.empty() || !c.context.empty()) return true;
  const char* env = std::getenv("RAMP_KUBE");
  return env != nullptr && std::string(env) == "1";
}

void AddCommon(CLI::App* cmd, Common* c, bool output = false, bool kube = false) {
  AddConnectionFlags(cmd, &c->connection);
  c->namespace_option =
      cmd->add_option(
             "-n,--namespace", c->namespace_,
             kube ? "Namespace (Kubernetes mode: default the kubeconfig context's)" : "Namespace")
          ->capture_default_str();
  if (output) {
    cmd->add_option("-o,--output", c->output, "Output format: json or yaml")
        ->check(CLI::IsMember({"json", "yaml"}));
  }
  if (kube) {
    c->kube_capable = true;
    cmd->add_option("--kubeconfig", c->kubeconfig,
                    "Kubernetes mode: act on the Rollout in this cluster (kubeconfig file)");
    cmd->add_option("--context", c->context, "Kubernetes mode: the kubeconfig context");
  }
}

// Prints the error and what to do; returns the exit code.
int Report(const std::string& verb, const Status& s) {
  std::cerr << "ramp " << verb << ": " << s.message() << "\n";
  if (s.code() == StatusCode::kNotFound) {
    std::cerr << "  (ramp list rollouts -A shows what exists)\n";
  }
  return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

// JSON → YAML text (block style), for -o yaml.
void EmitYaml(YAML::Emitter& out, const json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (auto it = j.begin(); it != j.end(); ++it) {
      out << YAML::Key << it.key() << YAML::Value;
      EmitYaml(out, it.value());
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    out << YAML::BeginSeq;
    for (const json& e : j) EmitYaml(out, e);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    out << YAML::DoubleQuoted << j.get<std::string>();
  } else if (j.is_null()) {
    out << YAML::Null;
  } else {
    out << j.dump();
  }
}

void Print(const json& j, const std::string& format) {
  if (format == "yaml") {
    YAML::Emitter out;
    EmitYaml(out, j);
    std::cout << out.c_str() << "\n";
  } else {
    std::cout << j.dump(2) << "\n";
  }
}

std::string RolloutPath(const Common& c, const std::string& name) {
  return "/v1/rollouts/" + PathSegment(c.namespace_) + "/" + PathSegment(name);
}

// Runs `f` with a connected client, turning errors into exit codes.
template <typename F>
void WithClient(const std::string& verb, const Common& c, F f) {
  auto client = ApiClient::Connect(c.connection);
  if (!client) {
    ExitCode() = Report(verb, client.error());
    return;
  }
  ExitCode() = f(**client);
}

// Kubernetes mode: runs `f` with a client of the cluster and the namespace (-n, else the
// kubeconfig context's).
template <typename F>
void WithKube(const std::string& verb, const Common& c, F f) {
  KubeCliOptions options;
  options.kubeconfig = c.kubeconfig;
  options.context = c.context;
  auto kube = KubeCli::Connect(options);
  if (!kube) {
    ExitCode() = Report(verb, kube.error());
    return;
  }
  const bool given = c.namespace_option != nullptr && c.namespace_option->count() > 0;
  const std::string ns = given ? c.namespace_ : (*kube)->DefaultNamespace();
  ExitCode() = f(**kube, ns);
}

// Prints the line of a Kubernetes-mode verb, or its error.
int PrintOutcome(const std::string& verb, const StatusOr<std::string>& r) {
  if (!r) return Report(verb, r.error());
  std::cout << *r << "\n";
  return 0;
}

void RegisterApply(CLI::App* app) {
  auto c = std::make_shared<Common>();
  auto files = std::make_shared<std::vector<std::string>>();
  auto* cmd = app->add_subcommand("apply", "Create or update Rollouts and AnalysisTemplates");
  cmd->add_option("-f,--filename", *files, "Manifest files (- for stdin)")->required();
  AddCommon(cmd, c.get());
  cmd->callback([c, files] {
    WithClient("apply", *c, [&](ApiClient& client) {
      for (const std::string& f : *files) {
        std::string text, error;
        if (!ReadInputFile(f, &text, &error)) {
          std::cerr << "ramp apply: " << f << ": " << error << "\n";
          return 2;
        }
        auto r = client.Call("POST", "/v1/apply", text, "application/yaml");
        if (!r) return Report("apply", r.error());
        for (const json& a : (*r)["applied"]) {
          std::cout << fmt::format("{} {} {}\n", a.value("kind", ""), a.value("name", ""),
                                   a.value("action", ""));
        }
      }
      return 0;
    });
  });
}

int GetRollout(const std::function<StatusOr<json>()>& fetch, const Common& c, bool watch) {
  std::string last;
  for (;;) {
    auto r = fetch();
    if (!r) return Report("get rollout", r.error());
    if (!c.output.empty()) {
      Print((*r)["rollout"], c.output);
      return 0;
    }
    const std::string text = RenderRolloutTree(*r);
    if (text != last) {
      if (watch) std::cout << "\033[H\033[2J";  // clear, as a live view
      std::cout << text << std::flush;
      last = text;
    }
    if (!watch) return 0;
    std::this_thread::sleep_for(std::chrono::seconds(1));  // the refresh period of the view
  }
}

void RegisterGet(CLI::App* app) {
  auto* get = app->add_subcommand("get", "Show a rollout (tree) or other objects");
  get->require_subcommand(1);
  {
    auto c = std::make_shared<Common>();
    auto name = std::make_shared<std::string>();
    auto watch = std::make_shared<bool>(false);
    auto* cmd = get->add_subcommand("rollout", "A rollout's revisions, instances and analysis");
    cmd->alias("ro");
    cmd->add_option("NAME", *name, "Rollout name")->required();
    cmd->add_flag("-w,--watch", *watch, "Keep showing the live tree");
    AddCommon(cmd, c.get(), true, true);
    cmd->callback([c, name, watch] {
      if (KubeMode(*c)) {
        WithKube("get rollout", *c, [&](KubeCli& kube, const std::string& ns) {
          return GetRollout([&] { return kube.RolloutView(ns, *name); }, *c, *watch);
        });
        return;
      }
      WithClient("get rollout", *c, [&](ApiClient& client) {
        return GetRollout([&] { return client.Call("GET", RolloutPath(*c, *name)); }, *c, *watch);
      });
    });
  }
  {
    auto c = std::make_shared<Common>();
    auto* cmd = get->add_subcommand("analysisruns", "Every AnalysisRun of the namespace");
    cmd->alias("analysisrun")->alias("ar");
    AddCommon(cmd, c.get(), true);
    cmd->callback([c] {
      WithClient("get analysisruns", *c, [&](ApiClient& client) {
        auto r = client.Call("GET", "/v1/analysisruns?namespace=" + PathSegment(c->namespace_));
        if (!r) return Report("get analysisruns", r.error());
        if (!c->output.empty()) {
          Print(*r, c->output);
          return 0;
        }
        std::cout << fmt::format("{:<48} {}\n", "NAME", "STATUS");
        for (const json& run : (*r)["items"]) {
          std::cout << fmt::format(
              "{:<48} {}\n", run["metadata"].value("name", ""),
              PhaseWithIcon(run.contains("status") ? run["status"].value("phase", "Pending")
                                                   : "Pending"));
        }
        return 0;
      });
    });
  }
}

void RegisterList(CLI::App* app) {
  auto* list = app->add_subcommand("list", "List rollouts");
  list->require_subcommand(1);
  auto c = std::make_shared<Common>();
  auto all = std::make_shared<bool>(false);
  auto watch = std::make_shared<bool>(false);
  auto name = std::make_shared<std::string>();
  auto* cmd = list->add_subcommand("rollouts", "One line per rollout");
  cmd->alias("rollout")->alias("ro");
  cmd->add_flag("-A,--all-namespaces", *all, "Every namespace");
  cmd->add_flag("-w,--watch", *watch, "Keep listing as they change");
  cmd->add_option("--name", *name, "Only this rollout");
  AddCommon(cmd, c.get(), false, true);
  cmd->callback([c, all, watch, name] {
    // Lists {"items": [{"rollout": …}, …]} again and again while -w.
    auto list = [c, all, watch, name](const std::function<StatusOr<json>()>& fetch) {
      std::string last;
      for (;;) {
        auto r = fetch();
        if (!r) return Report("list rollouts", r.error());
        json items = json::array();
        for (const json& v : (*r)["items"]) {
          if (!name->empty() && v["rollout"]["metadata"].value("name", "") != *name) continue;
          items.push_back(v);
        }
        if (items.empty() && !*watch) {
          std::cout << "No resources found.\n";
          return 0;
        }
        const std::string text = RenderRolloutTable(items, *all);
        if (text != last) std::cout << text << std::flush;
        last = text;
        if (!*watch) return 0;
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
    };
    if (KubeMode(*c)) {
      WithKube("list rollouts", *c, [&](KubeCli& kube, const std::string& ns) {
        return list([&]() -> StatusOr<json> {
          auto items = kube.RolloutList(*all ? "" : ns);
          if (!items) return Fail(items.error());
          return json{{"items", std::move(*items)}};
        });
      });
      return;
    }
    WithClient("list rollouts", *c, [&](ApiClient& client) {
      return list([&] {
        return client.Call(
            "GET",
            "/v1/rollouts" + (*all ? std::string() : "?namespace=" + PathSegment(c->namespace_)));
      });
    });
  });
}

// promote, abort, retry rollout, pause, resume, restart, undo.
// The verbs in Kubernetes mode: what `kubectl argo rollouts` writes (cli/kube_actions.h).
int KubeAction(KubeCli& kube, const std::string& ns, const std::string& action,
               const std::string& name, const PromoteOptions& promote, int64_t to_revision,
               Duration in, const std::string& in_text) {
  if (action == "promote") return PrintOutcome(action, kube.Promote(ns, name, promote));
  if (action == "abort") return PrintOutcome(action, kube.Abort(ns, name));
  if (action == "retry") return PrintOutcome("retry rollout", kube.RetryRollout(ns, name));
  if (action == "retry-experiment") {
    return PrintOutcome("retry experiment", kube.RetryExperiment(ns, name));
  }
  if (action == "pause") return PrintOutcome(action, kube.Pause(ns, name));
  if (action == "resume") return PrintOutcome(action, kube.Resume(ns, name));
  if (action == "restart") return PrintOutcome(action, kube.Restart(ns, name, in, in_text));
  if (action == "undo") return PrintOutcome(action, kube.Undo(ns, name, to_revision));
  return Report(action, InvalidArgumentError("no such verb in Kubernetes mode"));
}

void RegisterAction(CLI::App* parent, const std::string& verb, const std::string& action,
                    const std::string& help) {
  auto c = std::make_shared<Common>();
  auto name = std::make_shared<std::string>();
  auto promote = std::make_shared<PromoteOptions>();
  auto to_revision = std::make_shared<int64_t>(0);
  auto in = std::make_shared<std::string>();
  auto* cmd = parent->add_subcommand(verb, help);
  cmd->add_option("NAME", *name, action == "retry-experiment" ? "Experiment name" : "Rollout name")
      ->required();
  if (action == "promote") {
    cmd->add_flag("--full", promote->full, "Skip every remaining step and analysis");
    cmd->add_flag("-c,--skip-current-step", promote->skip_current_step,
                  "Deprecated (Kubernetes mode only): skip the current canary step");
    cmd->add_flag("-a,--skip-all-steps", promote->skip_all_steps,
                  "Deprecated (Kubernetes mode only): skip the remaining steps");
  }
  if (action == "undo") cmd->add_option("--to-revision", *to_revision, "Revision to go back to");
  if (action == "restart") {
    cmd->add_option("-i,--in", *in, "Restart after this long (e.g. 30s, 5m, 1h)");
  }
  AddCommon(cmd, c.get(), false, true);
  cmd->callback([c, name, promote, to_revision, in, action] {
    Duration delay(0);
    if (!in->empty()) {
      auto parsed = ParseGoDuration(*in);
      if (!parsed) {
        ExitCode() = Report(action, parsed.error().WithPrefix("--in"));
        return;
      }
      delay = *parsed;
    }
    // As cobra prints for Argo's deprecated flags.
    if (promote->skip_current_step) {
      std::cerr << "Flag --skip-current-step has been deprecated, use without the flag instead ex: "
                   "promote ROLLOUT_NAME\n";
    }
    if (promote->skip_all_steps) {
      std::cerr << "Flag --skip-all-steps has been deprecated, use --full instead\n";
    }
    if (KubeMode(*c)) {
      WithKube(action, *c, [&](KubeCli& kube, const std::string& ns) {
        return KubeAction(kube, ns, action, *name, *promote, *to_revision, delay, *in);
      });
      return;
    }
    if (action == "retry-experiment" || promote->skip_current_step || promote->skip_all_steps) {
      ExitCode() = Report(
          action, InvalidArgumentError("experiments and the skip flags exist only in Kubernetes "
                                       "mode (--kubeconfig, --context or RAMP_KUBE=1)"));
      return;
    }
    WithClient(action, *c, [&](ApiClient& client) {
      const std::string chosen = action == "promote" && promote->full ? "promote-full" : action;
      json body = json::object();
      if (*to_revision > 0) body["toRevision"] = *to_revision;
      if (!in->empty()) {
        body["inSeconds"] = std::chrono::duration_cast<std::chrono::seconds>(delay).count();
      }
      auto r = client.Call("POST", RolloutPath(*c, *name) + "/actions/" + chosen, body.dump());
      if (!r) return Report(action, r.error());
      const std::string message = (*r).value("message", "");
      if (message.rfind("skipped", 0) == 0) {
        std::cout << message << "\n";
      } else {
        std::cout << fmt::format("rollout '{}' {}\n", *name, message);
      }
      return 0;
    });
  });
}

void RegisterSetImage(CLI::App* app) {
  auto* set = app->add_subcommand("set", "Change a rollout");
  set->require_subcommand(1);
  auto c = std::make_shared<Common>();
  auto name = std::make_shared<std::string>();
  auto assignment = std::make_shared<std::string>();
  auto* cmd = set->add_subcommand("image", "Set a container's image: starts a new revision");
  cmd->add_option("NAME", *name, "Rollout name")->required();
  cmd->add_option("CONTAINER=IMAGE", *assignment, "Container name (* for all) and image")
      ->required();
  AddCommon(cmd, c.get(), false, true);
  cmd->callback([c, name, assignment] {
    const size_t eq = assignment->find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == assignment->size()) {
      std::cerr << "ramp set image: expected CONTAINER=IMAGE, got \"" << *assignment << "\"\n";
      ExitCode() = 2;
      return;
    }
    if (KubeMode(*c)) {
      WithKube("set image", *c, [&](KubeCli& kube, const std::string& ns) {
        return PrintOutcome("set image", kube.SetImage(ns, *name, assignment->substr(0, eq),
                                                       assignment->substr(eq + 1)));
      });
      return;
    }
    WithClient("set image", *c, [&](ApiClient& client) {
      json body = {{"container", assignment->substr(0, eq)}, {"image", assignment->substr(eq + 1)}};
      auto r = client.Call("POST", RolloutPath(*c, *name) + "/actions/set-image", body.dump());
      if (!r) return Report("set image", r.error());
      std::cout << fmt::format("rollout '{}' {}\n", *name, (*r).value("message", ""));
      return 0;
    });
  });
}

// Go's ParseDuration for the simple forms the flag takes: 90s, 5m, 1h30m, 0.
StatusOr<std::chrono::milliseconds> ParseTimeout(const std::string& text) {
  if (text == "0") return std::chrono::milliseconds(0);
  int64_t total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) != 0)) ++j;
    if (j == i) break;
    const int64_t n = std::stoll(text.substr(i, j - i));
    if (text.compare(j, 2, "ms") == 0) {
      total_ms += n;
      i = j + 2;
    } else if (j < text.size() && (text[j] == 's' || text[j] == 'm' || text[j] == 'h')) {
      total_ms += n * (text[j] == 's' ? 1000 : text[j] == 'm' ? 60000 : 3600000);
      i = j + 1;
    } else {
      break;
    }
  }
  if (i != text.size() || text.empty()) {
    return Fail(InvalidArgumentError("--timeout \"" + text +
                                     "\": expected a duration like 90s, "
                                     "5m or 1h30m"));
  }
  return std::chrono::milliseconds(total_ms);
}

void RegisterStatus(CLI::App* app) {
  auto c = std::make_shared<Common>();
  auto name = std::make_shared<std::string>();
  auto timeout = std::make_shared<std::string>("0");
  auto watch = std::make_shared<bool>(true);
  auto* cmd = app->add_subcommand(
      "status", "Wait for a rollout to finish: exit 0 Healthy, 1 Degraded or timed out");
  cmd->add_option("NAME", *name, "Rollout name")->required();
  cmd->add_option("-t,--timeout", *timeout, "Give up after this long (0: never)")
      ->capture_default_str();
  cmd->add_flag("-w,--watch,!--no-watch", *watch, "Wait until it finishes (default)");
  AddCommon(cmd, c.get(), false, true);
  cmd->callback([c, name, timeout, watch] {
    auto limit = ParseTimeout(*timeout);
    if (!limit) {
      ExitCode() = Report("status", limit.error());
      return;
    }
    // Reads {"rollout": …} again and again until the rollout settles.
    auto wait = [&](const std::function<StatusOr<json>()>& fetch) {
      const auto start = std::chrono::steady_clock::now();
      std::string last;
      for (;;) {
        auto r = fetch();
        if (!r) return Report("status", r.error());
        if (!(*r)["rollout"]["status"].is_object()) (*r)["rollout"]["status"] = json::object();
        const json& status = (*r)["rollout"]["status"];
        std::string phase = status.value("phase", "Progressing");
        std::string message = status.value("message", "");
        // As Argo's CLI: a spec the controller has not yet seen is still Progressing, so a
        // `status` right after `apply` never reports the previous update's outcome.
        const json& meta = (*r)["rollout"]["metadata"];
        if (meta.is_object() && meta.contains("generation") &&
            status.value("observedGeneration", "") != meta["generation"].dump()) {
          phase = "Progressing";
          message = "waiting for rollout spec update to be observed";
        } else if (phase == "Degraded" && !status.value("abort", false) &&
                   message.rfind("RolloutAborted", 0) == 0) {
          // An update of an aborted rollout clears `abort` first; its Progressing condition
          // turns from RolloutAborted to RolloutRetry one reconcile later (Argo's order).
          phase = "Progressing";
          message = "retrying after abort";
        }
        const std::string line = message.empty() ? phase : phase + " - " + message;
        if (line != last) std::cout << line << "\n" << std::flush;
        last = line;
        if (phase == "Healthy") return 0;
        if (phase == "Degraded") return 1;
        if (!*watch) return phase == "Paused" ? 0 : 1;
        if (limit->count() > 0 && std::chrono::steady_clock::now() - start >= *limit) {
          std::cout << "Error: rollout status watch exceeded timeout\n";
          return 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    };
    if (KubeMode(*c)) {
      WithKube("status", *c, [&](KubeCli& kube, const std::string& ns) {
        return wait([&]() -> StatusOr<json> {
          auto ro = kube.Get(kube::Rollouts(), ns, *name);
          if (!ro) return Fail(ro.error());
          return json{{"rollout", std::move(*ro)}};
        });
      });
      return;
    }
    WithClient("status", *c, [&](ApiClient& client) {
      return wait([&] { return client.Call("GET", RolloutPath(*c, *name)); });
    });
  });
}

void RegisterDelete(CLI::App* app) {
  auto* del = app->add_subcommand(
      "delete", "Delete a rollout (its instances stop), a template or a RolloutWebhooks");
  del->require_subcommand(1);
  for (const std::string kind : {"rollout", "analysistemplate", "rolloutwebhooks"}) {
    auto c = std::make_shared<Common>();
    auto name = std::make_shared<std::string>();
    auto* cmd = del->add_subcommand(kind, "Delete a " + kind);
    cmd->add_option("NAME", *name, "Name")->required();
    AddCommon(cmd, c.get());
    cmd->callback([c, name, kind] {
      WithClient("delete " + kind, *c, [&](ApiClient& client) {
        const std::string path =
            kind == "rollout" ? RolloutPath(*c, *name)
                              : "/v1/" +
                                    std::string(kind == "analysistemplate" ? "analysistemplates"
                                                                           : "rolloutwebhooks") +
                                    "/" + PathSegment(c->namespace_) + "/" + PathSegment(*name);
        auto r = client.Call("DELETE", path);
        if (!r) return Report("delete " + kind, r.error());
        std::cout << fmt::format("{} \"{}\" deleted\n", kind, *name);
        return 0;
      });
    });
  }
}

// `create analysisrun --from TEMPLATE`, as Argo's: a run of a stored template on its own.
void RegisterCreate(CLI::App* app) {
  auto* create = app->add_subcommand("create", "Create an AnalysisRun from a template");
  create->require_subcommand(1);
  auto c = std::make_shared<Common>();
  auto from = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto generate_name = std::make_shared<std::string>();
  auto global = std::make_shared<bool>(false);
  auto args = std::make_shared<std::vector<std::string>>();
  auto* cmd = create->add_subcommand("analysisrun", "Run an AnalysisTemplate on its own");
  cmd->alias("ar");
  cmd->add_option("--from", *from, "The AnalysisTemplate (--global: ClusterAnalysisTemplate)")
      ->required();
  cmd->add_flag("--global", *global, "--from names a ClusterAnalysisTemplate");
  auto* n = cmd->add_option("--name", *name, "The run's name");
  cmd->add_option("--generate-name", *generate_name,
                  "A name prefix; five random characters follow (default: TEMPLATE-)")
      ->excludes(n);
  cmd->add_option("-a,--argument", *args, "An argument NAME=VALUE (repeatable)");
  AddCommon(cmd, c.get());
  cmd->callback([c, from, name, generate_name, global, args] {
    json body = {{"from", *from}, {"clusterScope", *global}, {"namespace", c->namespace_}};
    if (!name->empty()) body["name"] = *name;
    if (!generate_name->empty()) body["generateName"] = *generate_name;
    json values = json::object();
    for (const std::string& a : *args) {
      const size_t eq = a.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "Error: --argument \"" << a << "\": expected NAME=VALUE\n";
        ExitCode() = 2;
        return;
      }
      values[a.substr(0, eq)] = a.substr(eq + 1);
    }
    body["args"] = values;
    WithClient("create analysisrun", *c, [&](ApiClient& client) {
      auto r = client.Call("POST", "/v1/analysisruns", body.dump());
      if (!r) return Report("create analysisrun", r.error());
      std::cout << fmt::format("analysisrun.argoproj.io/{} created\n", r->value("name", "?"));
      return 0;
    });
  });
}

// `terminate analysisrun NAME` (aliases ar, analysisruns), as Argo's: the run stops taking
// measurements and completes; a step or background analysis that ends Successful lets its rollout
// go on.
void RegisterTerminate(CLI::App* app) {
  auto* terminate = app->add_subcommand("terminate", "Terminate an AnalysisRun");
  terminate->require_subcommand(1);
  auto c = std::make_shared<Common>();
  auto name = std::make_shared<std::string>();
  auto* cmd = terminate->add_subcommand("analysisrun", "Terminate an AnalysisRun");
  cmd->alias("ar");
  cmd->alias("analysisruns");
  cmd->add_option("NAME", *name, "AnalysisRun name (see `ramp get analysisruns`)")->required();
  AddCommon(cmd, c.get());
  cmd->callback([c, name] {
    WithClient("terminate analysisrun", *c, [&](ApiClient& client) {
      auto r = client.Call("POST", "/v1/analysisruns/" + PathSegment(c->namespace_) + "/" +
                                       PathSegment(*name) + "/actions/terminate");
      if (!r) return Report("terminate analysisrun", r.error());
      std::cout << fmt::format("analysisrun '{}' {}\n", *name, r->value("message", "terminated"));
      return 0;
    });
  });
}

// `logs NAME [--revision N] [--tail L]`: what the rollout's process instances wrote to stdout and
// stderr, each line prefixed with its revision and instance.
void RegisterLogs(CLI::App* app) {
  auto c = std::make_shared<Common>();
  auto name = std::make_shared<std::string>();
  auto revision = std::make_shared<int64_t>(0);
  auto tail = std::make_shared<size_t>(200);
  auto* cmd = app->add_subcommand(
      "logs", "Print the output of a rollout's process instances (ramp serve --platform process)");
  cmd->add_option("NAME", *name, "Rollout name")->required();
  cmd->add_option("--revision", *revision,
                  "Only this revision (default: every revision with instances now)");
  cmd->add_option("--tail", *tail, "Lines per instance, from the end (0: all, up to 1 MiB)")
      ->capture_default_str();
  AddCommon(cmd, c.get());
  cmd->callback([c, name, revision, tail] {
    WithClient("logs", *c, [&](ApiClient& client) {
      std::string path = RolloutPath(*c, *name) + "/logs?tail=" + std::to_string(*tail);
      if (*revision > 0) path += "&revision=" + std::to_string(*revision);
      auto r = client.Call("GET", path);
      if (!r) return Report("logs", r.error());
      const json& items = (*r)["items"];
      if (!items.is_array() || items.empty()) {
        std::cerr << fmt::format("rollout '{}' has no instance output{}\n", *name,
                                 *revision > 0 ? " for that revision" : "");
        return 0;
      }
      for (const json& item : items) {
        const std::string prefix = fmt::format("[revision {} {}] ", item.value("revision", 0),
                                               item.value("instance", "?"));
        std::istringstream lines(item.value("text", ""));
        for (std::string line; std::getline(lines, line);) std::cout << prefix << line << "\n";
      }
      return 0;
    });
  });
}

}  // namespace

void RegisterRolloutVerbs(CLI::App* app) {
  RegisterCreate(app);
  RegisterTerminate(app);
  RegisterLogs(app);
  RegisterApply(app);
  RegisterGet(app);
  RegisterList(app);
  RegisterAction(app, "promote", "promote", "Move a paused rollout to its next step");
  RegisterAction(app, "abort", "abort", "Abort a rollout: traffic back to stable");
  RegisterAction(app, "pause", "pause", "Pause a rollout");
  RegisterAction(app, "resume", "resume", "Resume a manually paused rollout");
  RegisterAction(app, "restart", "restart", "Restart every instance of a rollout");
  RegisterAction(app, "undo", "undo", "Roll back to the previous (or a given) revision");
  auto* retry = app->add_subcommand("retry", "Retry an aborted rollout or a failed experiment");
  retry->require_subcommand(1);
  RegisterAction(retry, "rollout", "retry", "Retry an aborted rollout");
  RegisterAction(retry, "experiment", "retry-experiment",
                 "Retry an experiment (Kubernetes mode: status cleared)");
  if (auto* ro = retry->get_subcommand("rollout")) ro->alias("ro")->alias("rollouts");
  if (auto* exp = retry->get_subcommand("experiment")) exp->alias("exp")->alias("experiments");
  RegisterSetImage(app);
  RegisterStatus(app);
  RegisterDelete(app);
}

}  // namespace ramp::cli
