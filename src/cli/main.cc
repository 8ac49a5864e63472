// ramp: the command-line entry point. Each verb lives in its own file; main registers them.
#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"ramp — progressive delivery controller"};
  app.require_subcommand(1);
  auto* version = app.add_subcommand("version", "Print the version");
  version->callback([] { std::cout << "ramp 0.1.0\n"; });
  CLI11_PARSE(app, argc, argv);
  return 0;
}
