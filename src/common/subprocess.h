// Subprocess: one child process started in its own session (and so its own process group), with
// an exact argv, environment and working directory, its stdout and stderr going to a file or a
// descriptor, and stdin from /dev/null. Signals go to the whole group; reaping never blocks
// except in Kill/the destructor, which SIGKILL the group first, so nothing is left running.
//
// Thread-safety: a Subprocess is used by one thread at a time (its owner's supervisor).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ramp/clock.h"
#include "ramp/status.h"

namespace ramp {

struct SubprocessOptions {
  // argv[0] is the program: a path, or a bare name searched in the PATH of `env` (or "/usr/bin:
  // /bin" when env has none).
  std::vector<std::string> argv;
  // The whole environment, "NAME=value" each; nothing is inherited.
  std::vector<std::string> env;
  // The working directory; empty = the caller's.
  std::string working_dir;
  // Where stdout and stderr go: appended to `output_path` (created 0644), else to `output_fd`
  // (not closed here), else /dev/null.
  std::string output_path;
  int output_fd = -1;
};

class Subprocess {
 public:
  // Starts the process. kNotFound when argv[0] cannot be found or executed, kInvalidArgument for
  // an empty argv, kInternal when fork/exec machinery fails; messages name the program.
  static StatusOr<std::unique_ptr<Subprocess>> Start(const SubprocessOptions& options);

  // SIGKILLs the group and reaps the process if it is still unreaped.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // The process id, which is also its process group id.
  pid_t pid() const { return pid_; }

  // The wait status once the process has exited (non-blocking; idempotent afterwards).
  std::optional<int> Poll();

  // Sends `sig` to every process of the group (no-op once the group is gone).
  void SignalGroup(int sig);

  // SIGKILLs the group and waits for the process; returns its wait status.
  int Kill();

  // SIGTERM to the group, then up to `grace` (measured on `clock`, polled every 10 ms and
  // bounded in count) for the process to exit, then SIGKILL. Returns the wait status. The
  // remaining members of the group are SIGKILLed either way.
  int Stop(const Clock& clock, Duration grace);

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  std::optional<int> status_;
};

// Searches a bare command name in `path_var` (':'-separated); a name with '/' is returned as is.
std::optional<std::string> FindExecutable(const std::string& command, std::string_view path_var);

// Kubernetes' $(VAR) expansion of a command, argument or env value: $(NAME) → the value of a
// variable defined in `vars`, left as is when undefined; "$$" → "$". Pure.
std::string ExpandKubernetesVars(std::string_view text,
                                 const std::function<const std::string*(std::string_view)>& vars);

// "exit code N", "killed by signal SIGKILL (9)".
std::string DescribeWaitStatus(int wait_status);

}  // namespace ramp
