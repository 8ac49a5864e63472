// TrackedProcess: the process of one process-platform instance, either started here (a child of
// this ramp process) or adopted from a durable record written by an earlier ramp process.
//
// Identity: a pid alone can be reused, so a process is named by (pid, start time), the start time
// being field 22 of /proc/<pid>/stat (clock ticks since boot), plus the boot id of the machine.
// A pid whose start time differs from the recorded one is another process and is never signalled.
//
// Starting: Launch forks a child that makes itself a session and process-group leader (setsid),
// then waits on a pipe. The parent reads the child's start time and calls `before_exec` (which
// writes the instance record) and only then lets the child exec. If `before_exec` fails or the
// parent dies before releasing the child, the child sees end-of-file and exits without running
// anything: a program only ever runs with a record naming it. The child gets stdin from
// /dev/null, stdout and stderr appended to a file, default signal dispositions and an empty signal
// mask, no other descriptors, and no parent-death signal: it survives its parent.
//
// Supervising: Poll detects the exit of a child with waitid(WNOWAIT) (reaped only by Kill, so its
// pid, which is also its group id, stays reserved until then); of an adopted process that is not
// our child, through a pidfd (or /proc when pidfds are unavailable). Signals go to the whole group.
// The destructor never signals: a TrackedProcess that is dropped leaves its process running.
//
// Thread-safety: a TrackedProcess is used by one thread at a time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/subprocess.h"
#include "ramp/status.h"

namespace ramp::platform {

// What /proc/<pid>/stat says about a process.
struct ProcStat {
  char state = 0;  // 'R', 'S', 'Z' (zombie), …
  pid_t ppid = 0;
  pid_t pgrp = 0;
  uint64_t start_time = 0;  // field 22: clock ticks after boot
};

// nullopt when there is no process `pid` (or its stat cannot be read).
std::optional<ProcStat> ReadProcStat(pid_t pid);

// /proc/sys/kernel/random/boot_id without the newline; empty when unreadable.
std::string ReadBootId();

class TrackedProcess {
 public:
  // Starts `options.argv` in its own session (see above). `before_exec(pid, start_time)` runs in
  // the parent while the child waits; the child execs only when it returns OK, else the child
  // exits unstarted and that error is returned. kNotFound when the program cannot be found or
  // executed, kInvalidArgument for an empty argv, kInternal when fork or pipes fail.
  static StatusOr<std::unique_ptr<TrackedProcess>> Launch(
      const SubprocessOptions& options,
      const std::function<Status(pid_t pid, uint64_t start_time)>& before_exec);

  // What became of a recorded process.
  enum class Found {
    kRunning,  // the same process (pid and start time match), not a zombie: adopted
    kExited,   // no such process, or it is that process's zombie
    kReused,   // the pid belongs to another process now: never signalled
  };
  struct Adoption {
    Found found = Found::kExited;
    std::unique_ptr<TrackedProcess> process;  // set for kRunning
  };
  // Looks up a recorded process. kRunning adopts it. kExited also kills what its group left
  // behind (when the group id cannot have been reused) and reaps it when it is our own zombie.
  static Adoption Adopt(pid_t pid, uint64_t start_time);

  // Closes the pidfd; never signals and never waits.
  ~TrackedProcess();
  TrackedProcess(const TrackedProcess&) = delete;
  TrackedProcess& operator=(const TrackedProcess&) = delete;

  pid_t pid() const { return pid_; }  // also the process group id
  uint64_t start_time() const { return start_time_; }
  bool child() const { return child_; }

  // Once the process has exited: how ("exit code 3", "killed by signal SIGKILL (9)", or "an
  // unknown status" for a process that is not our child). Non-blocking.
  std::optional<std::string> Poll();

  // Sends `sig` to the process group while its leader has not exited (no-op afterwards).
  void SignalGroup(int sig);

  // SIGKILLs the group (unless its id may have been reused since the leader exited) and reaps a
  // child (blocking until it is gone). Idempotent.
  void Kill();

 private:
  TrackedProcess(pid_t pid, uint64_t start_time, bool child, int pidfd)
      : pid_(pid), start_time_(start_time), child_(child), pidfd_(pidfd) {}
  // Whether the leader is still the recorded, not exited process.
  bool LeaderRunning();

  pid_t pid_;
  uint64_t start_time_;
  bool child_;
  int pidfd_;
  std::optional<std::string> exited_;
  bool reaped_ = false;
  bool killed_ = false;
};

}  // namespace ramp::platform
