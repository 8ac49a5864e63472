// ramp: the command-line entry point. Each verb lives in its own file and registers itself
// here explicitly, as every factory in ramp is registered explicitly from main.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "cli/commands.h"

namespace ramp::cli {

int& ExitCode() {
  static int code = 0;
  return code;
}

void RegisterVersion(CLI::App* app) {
  auto* cmd = app->add_subcommand("version", "Print the ramp version");
  auto short_flag = std::make_shared<bool>(false);
  cmd->add_flag("--short", *short_flag, "Print the version number only");
  cmd->callback(
      [short_flag] { std::cout << (*short_flag ? "" : "ramp ") << RAMP_VERSION << "\n"; });
}

}  // namespace ramp::cli

int main(int argc, char** argv) {
  // Installed as kubectl-ramp (a symlink to ramp), ramp is the kubectl plugin `kubectl ramp`:
  // its verbs act on the cluster of the kubeconfig, as with RAMP_KUBE=1.
  const char* slash = argc > 0 ? std::strrchr(argv[0], '/') : nullptr;
  const bool kubectl_plugin =
      argc > 0 && std::string(slash != nullptr ? slash + 1 : argv[0]) == "kubectl-ramp";
  if (kubectl_plugin) ::setenv("RAMP_KUBE", "1", 1);
  CLI::App app{kubectl_plugin
                   ? "kubectl ramp — ramp's rollout verbs on the cluster of your kubeconfig"
                   : "ramp — progressive delivery for Argo Rollouts manifests, on Kubernetes or "
                     "not",
               kubectl_plugin ? "kubectl ramp" : ""};
  app.require_subcommand(1);
  ramp::cli::RegisterAnalyze(&app);
  ramp::cli::RegisterDemo(&app);
  ramp::cli::RegisterInstallManifests(&app);
  ramp::cli::RegisterLint(&app);
  ramp::cli::RegisterProxy(&app);
  ramp::cli::RegisterServe(&app);
  ramp::cli::RegisterRolloutVerbs(&app);
  ramp::cli::RegisterSimulate(&app);
  ramp::cli::RegisterVersion(&app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return ramp::cli::ExitCode();
}
