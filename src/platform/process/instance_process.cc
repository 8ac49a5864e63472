#include "platform/process/instance_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace ramp::platform {
namespace {

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  long fd = ::syscall(SYS_pidfd_open, pid, 0);  // always close-on-exec
  return fd < 0 ? -1 : static_cast<int>(fd);
#else
  (void)pid;
  return -1;
#endif
}

std::string ReadSmallFile(const char* path) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > 64 * 1024) break;
  }
  ::close(fd);
  return out;
}

// A wait status from what waitid reports, for DescribeWaitStatus.
int WaitStatusOf(const siginfo_t& si) {
  if (si.si_code == CLD_EXITED) return (si.si_status & 0xff) << 8;
  return (si.si_status & 0x7f) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
}

constexpr char kUnknownStatus[] = "an unknown status (not a child of this ramp process)";

// Kills what is left of group `pgid` once its leader (pid == pgid, started at `start_time`) has
// exited. A group id stays reserved while any member lives, so it can only have been reused when
// the whole group is gone and a new process got the number; when /proc shows a process `pgid`
// with another start time, that happened and nothing is signalled.
void KillLeftovers(pid_t pgid, uint64_t start_time) {
  if (pgid <= 1) return;
  std::optional<ProcStat> st = ReadProcStat(pgid);
  if (st && st->start_time != start_time) return;
  ::kill(-pgid, SIGKILL);
}

// The child between fork and exec: only async-signal-safe calls. Never returns.
[[noreturn]] void RunChild(int go_read, int err_write, const char* exe, char* const* argv,
                           char* const* envp, const char* output_path, const char* working_dir) {
  ::setsid();
  // Wait for the parent to record this process. End-of-file (the parent failed or died) means
  // the program must not run.
  char go = 0;
  ssize_t n;
  do {
    n = ::read(go_read, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) ::_exit(127);
  auto fail = [&err_write](int e) {
    ssize_t w;
    do {
      w = ::write(err_write, &e, sizeof e);
    } while (w < 0 && errno == EINTR);
    ::_exit(127);
  };
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
  // The error pipe above the standard descriptors, close-on-exec.
  int ew = ::fcntl(err_write, F_DUPFD_CLOEXEC, 3);
  if (ew < 0) fail(errno);
  int in = ::open("/dev/null", O_RDONLY);
  if (in < 0) fail(errno);
  int out = output_path[0] != '\0' ? ::open(output_path, O_WRONLY | O_CREAT | O_APPEND, 0644)
                                   : ::open("/dev/null", O_WRONLY);
  if (out < 0) fail(errno);
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) fail(errno);
  err_write = ew;
  // Nothing else is inherited.
  if (ew > 3) ::close_range(3, static_cast<unsigned>(ew) - 1, 0);
  if (::close_range(static_cast<unsigned>(ew) + 1, ~0U, 0) != 0) {
    for (int fd = ew + 1; fd < 65536; ++fd) ::close(fd);
  }
  if (working_dir[0] != '\0' && ::chdir(working_dir) != 0) fail(errno);
  ::execve(exe, argv, envp);
  fail(errno);
  ::_exit(127);
}

}  // namespace

std::optional<ProcStat> ReadProcStat(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  std::string stat = ReadSmallFile(path.c_str());
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  // Fields 3… after the command name: state ppid pgrp session tty_nr tpgid flags minflt cminflt
  // majflt cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime.
  ProcStat s;
  long ppid = 0, pgrp = 0;
  unsigned long long start = 0;
  int got = std::sscanf(stat.c_str() + paren + 1,
                        " %c %ld %ld %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
                        "%*d %llu",
                        &s.state, &ppid, &pgrp, &start);
  if (got != 4) return std::nullopt;
  s.ppid = static_cast<pid_t>(ppid);
  s.pgrp = static_cast<pid_t>(pgrp);
  s.start_time = start;
  return s;
}

std::string ReadBootId() {
  std::string id = ReadSmallFile("/proc/sys/kernel/random/boot_id");
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  return id;
}

StatusOr<std::unique_ptr<TrackedProcess>> TrackedProcess::Launch(
    const SubprocessOptions& options,
    const std::function<Status(pid_t pid, uint64_t start_time)>& before_exec) {
  if (options.argv.empty() || options.argv[0].empty()) {
    return Fail(InvalidArgumentError("cannot start a process without a command"));
  }
  std::string_view path_var = "/usr/bin:/bin";
  for (const std::string& e : options.env) {
    if (e.rfind("PATH=", 0) == 0) path_var = std::string_view(e).substr(5);
  }
  std::optional<std::string> exe = FindExecutable(options.argv[0], path_var);
  if (!exe) {
    return Fail(NotFoundError("cannot run " + options.argv[0] + ": " + std::strerror(ENOENT)));
  }
  // Everything the child needs, prepared before fork.
  std::vector<char*> argv;
  for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : options.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int go[2], err[2];
  if (::pipe2(go, O_CLOEXEC) != 0) {
    return Fail(InternalError("cannot run " + options.argv[0] + ": pipe: " + std::strerror(errno)));
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(go[0]);
    ::close(go[1]);
    return Fail(InternalError("cannot run " + options.argv[0] + ": pipe: " + std::strerror(e)));
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(go[1]);
    ::close(err[0]);
    RunChild(go[0], err[1], exe->c_str(), argv.data(), envp.data(), options.output_path.c_str(),
             options.working_dir.c_str());
  }
  int fork_errno = errno;
  ::close(go[0]);
  ::close(err[1]);
  auto abandon = [&] {
    // Closing the pipe without a byte makes the child exit unstarted.
    ::close(go[1]);
    ::close(err[0]);
    if (pid > 0) {
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  };
  if (pid < 0) {
    abandon();
    return Fail(
        InternalError("cannot run " + options.argv[0] + ": fork: " + std::strerror(fork_errno)));
  }
  std::optional<ProcStat> st = ReadProcStat(pid);
  if (!st) {
    abandon();
    return Fail(InternalError("cannot run " + options.argv[0] + ": no /proc entry for the child"));
  }
  if (Status s = before_exec(pid, st->start_time); !s.ok()) {
    abandon();
    return Fail(s);
  }
  char go_byte = 'g';
  ssize_t w;
  do {
    w = ::write(go[1], &go_byte, 1);
  } while (w < 0 && errno == EINTR);
  ::close(go[1]);
  // The error pipe closes at exec (close-on-exec) or carries the errno of what failed. Bounded,
  // though the child does nothing that can block for long.
  int child_errno = 0;
  size_t got = 0;
  pollfd p{err[0], POLLIN, 0};
  for (int i = 0; i < 100 && got < sizeof child_errno; ++i) {
    int r = ::poll(&p, 1, 100);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) continue;
    ssize_t n =
        ::read(err[0], reinterpret_cast<char*>(&child_errno) + got, sizeof child_errno - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(err[0]);
  if (got == sizeof child_errno) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    std::string what = "cannot run " + options.argv[0] + ": " + std::strerror(child_errno);
    if (child_errno == ENOENT || child_errno == EACCES || child_errno == ENOEXEC ||
        child_errno == ENOTDIR) {
      return Fail(NotFoundError(what));
    }
    return Fail(InternalError(what));
  }
  return std::unique_ptr<TrackedProcess>(new TrackedProcess(pid, st->start_time, true, -1));
}

TrackedProcess::Adoption TrackedProcess::Adopt(pid_t pid, uint64_t start_time) {
  Adoption out;
  if (pid <= 1) return out;
  // The pidfd is opened before the start time is checked: when the check passes, it names the
  // recorded process (a reuse would show another start time).
  int fd = PidfdOpen(pid);
  std::optional<ProcStat> st = ReadProcStat(pid);
  if (!st) {
    if (fd >= 0) ::close(fd);
    KillLeftovers(pid, start_time);
    return out;
  }
  if (st->start_time != start_time) {
    if (fd >= 0) ::close(fd);
    out.found = Found::kReused;
    return out;
  }
  bool child = st->ppid == ::getpid();
  if (st->state == 'Z' || st->state == 'X') {
    // Its zombie holds the pid, so the group id is still its own.
    if (fd >= 0) ::close(fd);
    ::kill(-pid, SIGKILL);
    if (child) ::waitpid(pid, nullptr, WNOHANG);
    return out;
  }
  if (child && fd >= 0) {
    ::close(fd);  // a child is watched with waitid
    fd = -1;
  }
  out.found = Found::kRunning;
  out.process.reset(new TrackedProcess(pid, start_time, child, fd));
  return out;
}

TrackedProcess::~TrackedProcess() {
  if (pidfd_ >= 0) ::close(pidfd_);
}

bool TrackedProcess::LeaderRunning() {
  if (exited_ || reaped_) return false;
  if (child_) {
    siginfo_t si;
    std::memset(&si, 0, sizeof si);
    int r;
    do {
      r = ::waitid(P_PID, static_cast<id_t>(pid_), &si, WEXITED | WNOHANG | WNOWAIT);
    } while (r < 0 && errno == EINTR);
    if (r == 0 && si.si_pid == pid_) {
      exited_ = DescribeWaitStatus(WaitStatusOf(si));
      return false;
    }
    if (r < 0 && errno == ECHILD) {  // reaped elsewhere
      reaped_ = true;
      exited_ = kUnknownStatus;
      return false;
    }
    return true;
  }
  bool running;
  if (pidfd_ >= 0) {
    pollfd p{pidfd_, POLLIN, 0};
    running = ::poll(&p, 1, 0) == 0;
  } else {
    std::optional<ProcStat> st = ReadProcStat(pid_);
    running = st && st->start_time == start_time_ && st->state != 'Z' && st->state != 'X';
  }
  if (!running) exited_ = kUnknownStatus;
  return running;
}

std::optional<std::string> TrackedProcess::Poll() {
  if (!exited_) LeaderRunning();
  return exited_;
}

void TrackedProcess::SignalGroup(int sig) {
  if (LeaderRunning()) ::kill(-pid_, sig);
}

void TrackedProcess::Kill() {
  if (killed_) return;
  killed_ = true;
  if (child_) {
    if (reaped_) return;
    // Not reaped yet, so the group id is still this process's: kill the group, then reap.
    ::kill(-pid_, SIGKILL);
    int st = 0;
    pid_t r;
    do {
      r = ::waitpid(pid_, &st, 0);
    } while (r < 0 && errno == EINTR);
    reaped_ = true;
    if (!exited_) exited_ = r == pid_ ? DescribeWaitStatus(st) : kUnknownStatus;
    return;
  }
  if (LeaderRunning()) {
    ::kill(-pid_, SIGKILL);
  } else {
    KillLeftovers(pid_, start_time_);
  }
  if (!exited_) exited_ = kUnknownStatus;
}

}  // namespace ramp::platform
