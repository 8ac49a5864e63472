// `ramp simulate -f FILE [-f FILE ...] [--rollout NAME] --scenario FILE [-o text|json]`: runs a
// Rollout through a scenario on a virtual clock with the real engine (src/sim) and prints the
// timeline: readable text by default, JSON lines (schema version 1) with -o json. Diagnostics go
// to stderr. Exit 0 when it ran, 2 on bad input before t = 0 (with file:line errors), 1 when the
// simulation itself failed (a limit was exceeded). docs/simulate.md is the reference.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "sim/input.h"
#include "sim/output.h"
#include "sim/scenario.h"
#include "sim/simulator.h"

namespace ramp::cli {
namespace {

struct SimulateOptions {
  std::vector<std::string> files;
  std::string rollout;
  std::string scenario;
  std::string output = "text";
};

int RunSimulate(const SimulateOptions& opts) {
  bool usage = false;
  if (opts.files.empty()) {
    std::cerr << "ramp simulate: no manifest given (-f FILE)\n";
    usage = true;
  }
  if (opts.scenario.empty()) {
    std::cerr << "ramp simulate: no scenario given (--scenario FILE)\n";
    usage = true;
  }
  if (opts.output != "text" && opts.output != "json") {
    std::cerr << "ramp simulate: -o must be text or json, not \"" << opts.output << "\"\n";
    usage = true;
  }
  if (usage) {
    std::cerr << "usage: ramp simulate -f FILE [-f FILE ...] [--rollout NAME] --scenario FILE "
                 "[-o text|json]\n";
    return 2;
  }
  std::vector<sim::SourceFile> files;
  bool unreadable = false;
  for (const std::string& path : opts.files) {
    sim::SourceFile f{path, ""};
    std::string why;
    if (!ReadInputFile(path, &f.text, &why)) {
      std::cerr << "ramp simulate: cannot read " << path << ": " << why << "\n";
      unreadable = true;
      continue;
    }
    files.push_back(std::move(f));
  }
  std::string scenario_text, why;
  if (!ReadInputFile(opts.scenario, &scenario_text, &why)) {
    std::cerr << "ramp simulate: cannot read " << opts.scenario << ": " << why << "\n";
    unreadable = true;
  }
  if (unreadable) return 2;

  StatusOr<sim::SimulationInput> input = sim::LoadInput(files, opts.rollout);
  StatusOr<sim::Scenario> scenario = sim::ParseScenario(scenario_text, opts.scenario);
  if (!input) std::cerr << input.error().message() << "\n";
  if (!scenario) std::cerr << scenario.error().message() << "\n";
  if (!input || !scenario) return 2;

  const bool json = opts.output == "json";
  if (!json) {
    const auto& containers = input->rollout.spec.template_.containers;
    std::cout << "Simulating rollout " << input->rollout.metadata.name << ": "
              << (containers.empty() ? "?" : containers[0].image) << " -> "
              << scenario->update_image << " at +0s (until +"
              << sim::FormatDuration(scenario->until) << ")\n\n";
  }
  sim::EventSink sink = [json](const sim::Event& e) {
    std::cout << (json ? sim::JsonLine(sim::EventJson(e)) : sim::EventText(e)) << "\n";
  };
  StatusOr<sim::Summary> summary = sim::Simulate(*input, *scenario, sink);
  if (!summary) {
    std::cout.flush();
    std::cerr << "ramp simulate: " << summary.error().message() << "\n";
    return summary.error().code() == StatusCode::kInternal ? 1 : 2;
  }
  if (json) {
    std::cout << sim::JsonLine(sim::SummaryJson(*summary)) << "\n";
  } else {
    std::cout << sim::SummaryText(*summary);
  }
  std::cout.flush();
  return 0;
}

}  // namespace

void RegisterSimulate(CLI::App* app) {
  auto opts = std::make_shared<SimulateOptions>();
  CLI::App* cmd = app->add_subcommand(
      "simulate", "Run a Rollout through a scenario on a virtual clock and print its timeline");
  cmd->add_option("-f,--filename", opts->files,
                  "Manifest file: the Rollout and its AnalysisTemplates (repeatable)");
  cmd->add_option("--rollout", opts->rollout,
                  "The Rollout to simulate, when the files hold several");
  cmd->add_option("--scenario", opts->scenario, "The scenario file (docs/simulate.md)");
  cmd->add_option("-o,--output", opts->output,
                  "Output format: text (default) or json (JSON lines)");
  cmd->callback([opts] { ExitCode() = RunSimulate(*opts); });
}

}  // namespace ramp::cli
