// ramp: the command-line entry point. Each verb lives in its own file and registers itself
// here explicitly, as every factory in ramp is registered explicitly from main.
#include <CLI/CLI.hpp>

#include <iostream>

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
  CLI::App app{"ramp — progressive delivery for Argo Rollouts manifests, on Kubernetes or not"};
  app.require_subcommand(1);
  ramp::cli::RegisterAnalyze(&app);
  ramp::cli::RegisterDemo(&app);
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
