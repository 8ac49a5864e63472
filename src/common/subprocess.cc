#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ramp {

std::optional<std::string> FindExecutable(const std::string& command, std::string_view path_var) {
  if (command.empty()) return std::nullopt;
  if (command.find('/') != std::string::npos) return command;
  size_t start = 0;
  while (start <= path_var.size()) {
    size_t end = path_var.find(':', start);
    if (end == std::string_view::npos) end = path_var.size();
    std::string dir(path_var.substr(start, end - start));
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + command;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return std::nullopt;
}

std::string ExpandKubernetesVars(std::string_view text,
                                 const std::function<const std::string*(std::string_view)>& vars) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out.push_back(c);
      ++i;
      continue;
    }
    char next = text[i + 1];
    if (next == '$') {
      out.push_back('$');
      i += 2;
      continue;
    }
    if (next == '(') {
      size_t close = text.find(')', i + 2);
      if (close != std::string_view::npos) {
        std::string_view name = text.substr(i + 2, close - i - 2);
        if (const std::string* v = vars(name); v != nullptr) {
          out += *v;
        } else {
          out.append(text.substr(i, close - i + 1));
        }
        i = close + 1;
        continue;
      }
    }
    out.push_back('$');
    ++i;
  }
  return out;
}

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return "exit code " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    const char* abbrev = ::sigabbrev_np(sig);
    if (abbrev == nullptr) return "killed by signal " + std::to_string(sig);
    return "killed by signal SIG" + std::string(abbrev) + " (" + std::to_string(sig) + ")";
  }
  return "ended abnormally";
}

StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(const SubprocessOptions& options) {
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
  std::vector<char*> argv;
  for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : options.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (!options.output_path.empty()) {
    posix_spawn_file_actions_addopen(&fa, 1, options.output_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
  } else if (options.output_fd >= 0) {
    posix_spawn_file_actions_adddup2(&fa, options.output_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, options.output_fd, 2);
  } else {
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
  }
  if (!options.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&fa, options.working_dir.c_str());
  }
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  sigset_t mask;
  sigemptyset(&mask);
  posix_spawnattr_setsigmask(&attr, &mask);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int err = ::posix_spawn(&pid, exe->c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    std::string what = "cannot run " + options.argv[0] + ": " + std::strerror(err);
    if (err == ENOENT || err == EACCES || err == ENOEXEC) return Fail(NotFoundError(what));
    return Fail(InternalError(what));
  }
  return std::unique_ptr<Subprocess>(new Subprocess(pid));
}

Subprocess::~Subprocess() { Kill(); }

std::optional<int> Subprocess::Poll() {
  if (status_) return status_;
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &st, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) status_ = st;
  return status_;
}

void Subprocess::SignalGroup(int sig) { ::kill(-pid_, sig); }

int Subprocess::Kill() {
  // The group may outlive its leader (a child that kept running): kill it either way.
  ::kill(-pid_, SIGKILL);
  if (!status_) {
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    status_ = st;
  }
  return *status_;
}

int Subprocess::Stop(const Clock& clock, Duration grace) {
  if (!Poll()) {
    SignalGroup(SIGTERM);
    Time end = clock.Now() + grace;
    // Bounded in count too, for a clock that does not move.
    int64_t rounds = std::chrono::duration_cast<std::chrono::milliseconds>(grace).count() / 10 + 1;
    for (int64_t i = 0; i < rounds && !Poll() && clock.Now() < end; ++i) {
      ::poll(nullptr, 0, 10);
    }
  }
  return Kill();
}

}  // namespace ramp
