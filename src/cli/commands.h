// The CLI verbs. Each verb lives in its own file and exposes one Register function that adds
// its subcommand to the application; main.cc calls them explicitly.
//
// Thread-safety: the CLI runs on one thread.
#pragma once

namespace CLI {
class App;
}  // namespace CLI

namespace ramp::cli {

// Exit code a verb's callback leaves for main (CLI11 callbacks cannot return one).
int& ExitCode();

void RegisterLint(CLI::App* app);
void RegisterSimulate(CLI::App* app);
void RegisterVersion(CLI::App* app);

}  // namespace ramp::cli
