// The CLI verbs. Each verb lives in its own file and exposes one Register function that adds
// its subcommand to the application; main.cc calls them explicitly.
//
// Thread-safety: the CLI runs on one thread.
#pragma once

#include <cstddef>
#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace ramp::cli {

// Exit code a verb's callback leaves for main (CLI11 callbacks cannot return one).
int& ExitCode();

// The largest file a verb reads.
inline constexpr size_t kMaxInputFileBytes = 32u << 20;

// Reads a whole file ("-" is stdin); false with the reason in `error` when it cannot be read or
// is larger than kMaxInputFileBytes.
bool ReadInputFile(const std::string& path, std::string* out, std::string* error);

void RegisterAnalyze(CLI::App* app);
void RegisterDemo(CLI::App* app);
// install-manifests (install_manifests.cc).
void RegisterInstallManifests(CLI::App* app);
void RegisterLint(CLI::App* app);
void RegisterProxy(CLI::App* app);
void RegisterServe(CLI::App* app);
// apply, get, list, promote, abort, retry, pause, resume, restart, undo, set image, status,
// delete (rollouts.cc).
void RegisterRolloutVerbs(CLI::App* app);
void RegisterSimulate(CLI::App* app);
void RegisterVersion(CLI::App* app);

}  // namespace ramp::cli
