// `ramp lint [-f] FILE...`: strict decoding and validation of manifests, as `kubectl argo
// rollouts lint` does, plus ramp's extensions. Exit 0 and silent when every file is valid,
// 1 with every error listed (file:line:col: path: message), 2 when a file cannot be read.
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "spec/manifest.h"

namespace ramp::cli {
namespace {

struct LintOptions {
  std::vector<std::string> files;
  std::vector<std::string> positional;
  bool warnings = false;
};

int RunLint(const LintOptions& opts) {
  std::vector<std::string> files = opts.files;
  files.insert(files.end(), opts.positional.begin(), opts.positional.end());
  if (files.empty()) {
    std::cerr << "ramp lint: no file given (usage: ramp lint [-f] FILE...)\n";
    return 2;
  }
  bool unreadable = false;
  size_t errors = 0;
  for (const std::string& file : files) {
    std::string text, why;
    if (!ReadInputFile(file, &text, &why)) {
      std::cerr << "ramp lint: cannot read " << file << ": " << why << "\n";
      unreadable = true;
      continue;
    }
    spec::ManifestSet set = spec::LoadManifests(text, file == "-" ? "<stdin>" : file);
    set.diagnostics.SortByPosition();
    for (const spec::Diagnostic& d : set.diagnostics.items()) {
      if (d.severity == spec::Severity::kWarning && !opts.warnings) continue;
      std::cout << d.ToString() << "\n";
    }
    errors += set.diagnostics.ErrorCount();
  }
  if (unreadable) return 2;
  return errors > 0 ? 1 : 0;
}

}  // namespace

void RegisterLint(CLI::App* app) {
  auto opts = std::make_shared<LintOptions>();
  CLI::App* cmd = app->add_subcommand(
      "lint", "Validate Rollout, AnalysisTemplate and ramp manifests (exit 1 on any error)");
  cmd->add_option("-f,--filename", opts->files, "File to lint (repeatable; - reads stdin)");
  cmd->add_option("files", opts->positional, "Files to lint");
  cmd->add_flag("-w,--warnings", opts->warnings,
                "Also print warnings (fields ramp ignores off Kubernetes, reserved names)");
  cmd->callback([opts] { ExitCode() = RunLint(*opts); });
}

}  // namespace ramp::cli
