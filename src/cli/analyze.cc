// `ramp analyze -f FILE [--template NAME] [--arg NAME=VALUE ...] [--secrets-dir DIR]
// [--timeout D] [--terminate-after D] [-o text|json]`: runs an AnalysisTemplate (or
// ClusterAnalysisTemplate) or an AnalysisRun from files against the real metric backends, in
// real time, with the same providers and analysis core the daemon uses, and prints each
// measurement as it is taken. Exit 0 when the run is Successful, 1 when it is Failed, Error or
// Inconclusive, did not complete in time or was interrupted (SIGINT/SIGTERM terminate the run,
// stopping its jobs), 2 on bad input. docs/analyze.md is the reference.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/analysis.h"
#include "analysis/expr_evaluator.h"
#include "cli/commands.h"
#include "metrics/register.h"
#include "ramp/http_client.h"
#include "runtime/analysis_runner.h"
#include "secrets/secret_source.h"
#include "spec/common.h"
#include "spec/manifest.h"

namespace ramp::cli {
namespace {

// Set by SIGINT/SIGTERM: the run is terminated, so running jobs are stopped and nothing is left
// behind. The handler is reset after the first signal, so a second one ends the process at once.
volatile sig_atomic_t interrupted = 0;

extern "C" void OnInterrupt(int) { interrupted = 1; }

void CatchInterrupts() {
  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

struct AnalyzeOptions {
  std::vector<std::string> files;
  std::string template_name;
  std::vector<std::string> args;
  std::string secrets_dir;
  std::string timeout = "1h";
  std::string terminate_after;
  std::string output = "text";
};

constexpr char kUsage[] =
    "usage: ramp analyze -f FILE [-f FILE ...] [--template NAME] [--arg NAME=VALUE ...] "
    "[--secrets-dir DIR] [--timeout D] [--terminate-after D] [-o text|json]\n";

// What the files hold: every template and run, with the file diagnostics already printed.
struct Loaded {
  std::vector<spec::AnalysisTemplate> templates;  // namespaced and cluster-scoped
  std::vector<bool> cluster;                      // per template
  std::vector<spec::AnalysisRun> runs;
};

bool LoadFiles(const std::vector<std::string>& paths, Loaded* out) {
  bool ok = true;
  for (const std::string& path : paths) {
    std::string text, why;
    if (!ReadInputFile(path, &text, &why)) {
      std::cerr << "ramp analyze: cannot read " << path << ": " << why << "\n";
      ok = false;
      continue;
    }
    spec::ManifestSet set = spec::LoadManifests(text, path);
    for (const auto& d : set.diagnostics.items()) {
      if (d.severity == spec::Severity::kError) std::cerr << d.ToString() << "\n";
    }
    if (!set.ok()) {
      ok = false;
      continue;
    }
    for (const auto& t : set.analysis_templates) {
      out->templates.push_back(*t.object);
      out->cluster.push_back(false);
    }
    for (const auto& t : set.cluster_analysis_templates) {
      out->templates.push_back(*t.object);
      out->cluster.push_back(true);
    }
    for (const auto& r : set.analysis_runs) out->runs.push_back(*r.object);
  }
  return ok;
}

// The run to execute: the one AnalysisRun, or a new run of the chosen template.
StatusOr<analysis::NewRun> ChooseRun(const Loaded& loaded, const AnalyzeOptions& opts,
                                     const analysis::SecretLookup& secrets) {
  std::vector<spec::Argument> args;
  for (const std::string& a : opts.args) {
    size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Fail(InvalidArgumentError("--arg \"" + a + "\": expected NAME=VALUE"));
    }
    spec::Argument arg;
    arg.name = a.substr(0, eq);
    arg.value = a.substr(eq + 1);
    args.push_back(std::move(arg));
  }
  std::string names;
  for (const auto& t : loaded.templates) names += (names.empty() ? "" : ", ") + t.metadata.name;
  if (opts.template_name.empty() && loaded.runs.size() == 1 && !loaded.templates.empty()) {
    return Fail(InvalidArgumentError(
        "the files hold an AnalysisRun and templates; name a template with --template to run "
        "it instead"));
  }
  if (opts.template_name.empty() && loaded.runs.size() == 1) {
    if (!args.empty()) {
      return Fail(
          InvalidArgumentError("--arg applies to templates; an AnalysisRun carries its own args"));
    }
    analysis::NewRun run;
    run.run = loaded.runs[0];
    run.run.status = spec::AnalysisRunStatus{};
    run.run.has_status = false;
    if (run.run.metadata.name.empty()) run.run.metadata.name = run.run.metadata.generate_name;
    if (run.run.metadata.namespace_.empty()) run.run.metadata.namespace_ = "default";
    return run;
  }
  if (loaded.runs.size() > 1 && opts.template_name.empty()) {
    return Fail(InvalidArgumentError("the files hold several AnalysisRuns; give one file each"));
  }
  size_t chosen = loaded.templates.size();
  for (size_t i = 0; i < loaded.templates.size(); ++i) {
    if (opts.template_name.empty() ? loaded.templates.size() == 1
                                   : loaded.templates[i].metadata.name == opts.template_name) {
      chosen = i;
      break;
    }
  }
  if (chosen == loaded.templates.size()) {
    if (loaded.templates.empty()) {
      return Fail(InvalidArgumentError("the files hold no AnalysisTemplate or AnalysisRun"));
    }
    return Fail(InvalidArgumentError(
        opts.template_name.empty()
            ? "the files hold several templates (" + names + "); choose one with --template"
            : "no template named \"" + opts.template_name + "\"; the files hold: " + names));
  }
  const spec::AnalysisTemplate& t = loaded.templates[chosen];
  analysis::TemplateRunOptions o;
  o.name = t.metadata.name + "-analyze";
  o.namespace_ = t.metadata.namespace_.empty() ? "default" : t.metadata.namespace_;
  o.templates = {spec::AnalysisTemplateRef{t.metadata.name, loaded.cluster[chosen]}};
  o.args = std::move(args);
  return analysis::NewAnalysisRunFromTemplates(o, loaded.templates, secrets);
}

std::optional<Duration> ParseFlagDuration(const std::string& flag, const std::string& text) {
  auto nanos = spec::ParseGoDuration(text);
  if (!nanos || *nanos <= 0) {
    std::cerr << "ramp analyze: " << flag << " must be a positive duration such as 90s or 10m, "
              << "not \"" << text << "\"\n";
    return std::nullopt;
  }
  return Duration(*nanos);
}

// Prints the measurements and events that are new since the last call.
class Printer {
 public:
  explicit Printer(Time start) : start_(start) {}
  void Update(const spec::AnalysisRun& run, const std::vector<engine::EmitEvent>& events) {
    for (const spec::MetricResult& r : run.status.metric_results) {
      size_t& printed = printed_[r.name];
      for (size_t i = printed; i < r.measurements.size(); ++i) {
        const spec::Measurement& m = r.measurements[i];
        if (m.phase == spec::AnalysisPhase::kRunning || m.phase == spec::AnalysisPhase::kNone ||
            m.phase == spec::AnalysisPhase::kPending) {
          break;  // printed once it finishes
        }
        std::cout << Stamp(m) << " " << r.name << " #" << (i + 1) << ": "
                  << spec::AnalysisPhaseName(m.phase);
        if (!m.value.empty()) std::cout << " value=" << m.value;
        if (!m.message.empty()) std::cout << " (" << m.message << ")";
        std::cout << "\n";
        printed = i + 1;
      }
    }
    for (const engine::EmitEvent& e : events)
      std::cout << "  " << e.reason << ": " << e.message << "\n";
    std::cout.flush();
  }

 private:
  std::string Stamp(const spec::Measurement& m) const {
    const auto& t = m.finished_at ? m.finished_at : m.started_at;
    if (!t) return "[+?s]";
    auto secs =
        std::chrono::duration_cast<std::chrono::seconds>(Time(Duration(t->unix_nanos)) - start_)
            .count();
    return "[+" + std::to_string(std::max<int64_t>(secs, 0)) + "s]";
  }
  Time start_;
  std::map<std::string, size_t> printed_;
};

int RunAnalyze(const AnalyzeOptions& opts) {
  if (opts.files.empty() || (opts.output != "text" && opts.output != "json")) {
    if (opts.files.empty()) std::cerr << "ramp analyze: no manifest given (-f FILE)\n";
    if (opts.output != "text" && opts.output != "json") {
      std::cerr << "ramp analyze: -o must be text or json, not \"" << opts.output << "\"\n";
    }
    std::cerr << kUsage;
    return 2;
  }
  auto timeout = ParseFlagDuration("--timeout", opts.timeout);
  std::optional<Duration> terminate_after;
  if (!opts.terminate_after.empty()) {
    terminate_after = ParseFlagDuration("--terminate-after", opts.terminate_after);
    if (!terminate_after) return 2;
  }
  if (!timeout) return 2;

  Loaded loaded;
  if (!LoadFiles(opts.files, &loaded)) return 2;
  secrets::SecretSourceOptions secret_options;
  secret_options.secrets_dir = opts.secrets_dir;
  analysis::SecretLookup lookup = secrets::NewSecretLookup(secret_options);
  auto chosen = ChooseRun(loaded, opts, lookup);
  if (!chosen.has_value()) {
    std::cerr << "ramp analyze: " << chosen.error().message() << "\n";
    return 2;
  }
  // Names this run's external artefacts (job names), as a stored run's uid does.
  if (chosen->run.metadata.uid.empty()) {
    chosen->run.metadata.uid = "analyze-" + std::to_string(::getpid());
  }

  std::unique_ptr<Clock> clock = NewSystemClock();
  std::unique_ptr<HttpClient> http = NewHttpClient();
  Registry<MetricProvider> providers("metric provider");
  if (Status s = metrics::RegisterHttpMetricProviders(providers, http.get(), lookup); !s.ok()) {
    std::cerr << "ramp analyze: " << s.message() << "\n";
    return 1;
  }
  if (Status s = metrics::RegisterJobMetricProvider(providers, clock.get(), lookup); !s.ok()) {
    std::cerr << "ramp analyze: " << s.message() << "\n";
    return 1;
  }

  const bool json = opts.output == "json";
  Printer printer(clock->Now());
  runtime::AnalysisRunnerOptions run_options;
  run_options.providers = &providers;
  run_options.clock = clock.get();
  run_options.evaluator.condition = analysis::ExprConditionEvaluator();
  run_options.evaluator.secrets = lookup;
  run_options.terminate_after = terminate_after;
  run_options.timeout = *timeout;
  run_options.terminate_requested = [] { return interrupted != 0; };
  CatchInterrupts();
  if (!json) {
    std::cout << "Analyzing " << chosen->run.metadata.name << " ("
              << chosen->run.spec.metrics.size() << " metric"
              << (chosen->run.spec.metrics.size() == 1 ? "" : "s") << ")\n";
    run_options.on_update = [&](const spec::AnalysisRun& run,
                                const std::vector<engine::EmitEvent>& events) {
      printer.Update(run, events);
    };
  }
  auto run = runtime::RunAnalysis(chosen->run, run_options);
  if (!run.has_value()) {
    std::cerr << "ramp analyze: " << run.error().message() << "\n";
    return 1;
  }
  if (json) {
    nlohmann::json out = {
        {"apiVersion", "argoproj.io/v1alpha1"},
        {"kind", "AnalysisRun"},
        {"metadata", {{"name", run->metadata.name}, {"namespace", run->metadata.namespace_}}},
        {"status", spec::ToJson(run->status)}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "AnalysisRun " << run->metadata.name << ": "
              << spec::AnalysisPhaseName(run->status.phase);
    if (!run->status.message.empty()) std::cout << " (" << run->status.message << ")";
    std::cout << "\n";
  }
  if (interrupted != 0) {
    std::cerr << "ramp analyze: interrupted; the run was terminated\n";
    return 1;
  }
  return run->status.phase == spec::AnalysisPhase::kSuccessful ? 0 : 1;
}

}  // namespace

void RegisterAnalyze(CLI::App* app) {
  auto opts = std::make_shared<AnalyzeOptions>();
  auto* cmd = app->add_subcommand(
      "analyze", "Run an AnalysisTemplate or AnalysisRun against the real metric backends");
  cmd->add_option("-f,--filename", opts->files, "Manifest file(s) with the template or run")
      ->allow_extra_args(false);
  cmd->add_option("--template", opts->template_name,
                  "The AnalysisTemplate or ClusterAnalysisTemplate to run (when several)");
  cmd->add_option("--arg", opts->args, "A template argument, NAME=VALUE (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--secrets-dir", opts->secrets_dir,
                  "Directory of Secrets: DIR/<secret>/<key> (else RAMP_SECRET_<SECRET>_<KEY>)");
  cmd->add_option("--timeout", opts->timeout, "Give up after this long (default 1h)");
  cmd->add_option("--terminate-after", opts->terminate_after,
                  "Terminate the run after this long, as `terminate analysisrun` does");
  cmd->add_option("-o,--output", opts->output, "text (default) or json");
  cmd->callback([opts] { ExitCode() = RunAnalyze(*opts); });
}

}  // namespace ramp::cli
