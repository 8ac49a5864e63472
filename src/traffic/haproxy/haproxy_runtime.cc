#include "traffic/haproxy/haproxy_runtime.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

namespace ramp::haproxy {
namespace {

constexpr size_t kMaxAnswerBytes = 4 << 20;

using SteadyTime = std::chrono::steady_clock::time_point;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

int MillisLeft(SteadyTime deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

// Waits until `fd` is ready for `events`; false on timeout.
bool WaitFor(int fd, short events, SteadyTime deadline) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, MillisLeft(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
  return false;
}

// Connects a non-blocking socket to `addr`, bounded by `deadline`; the errno text on failure.
std::string ConnectWithin(int fd, const sockaddr* addr, socklen_t len, SteadyTime deadline) {
  if (connect(fd, addr, len) == 0) return "";
  if (errno != EINPROGRESS && errno != EAGAIN) return std::strerror(errno);
  if (!WaitFor(fd, POLLOUT, deadline)) return "connect timed out";
  int err = 0;
  socklen_t err_len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) return std::strerror(errno);
  return err == 0 ? "" : std::strerror(err);
}

StatusOr<int> Connect(const RuntimeAddress& address, SteadyTime deadline) {
  const std::string where = "HAProxy runtime API at " + address.Describe();
  if (!address.unix_path.empty()) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (address.unix_path.size() >= sizeof(sun.sun_path)) {
      return Fail(InvalidArgumentError("unix socket path too long: " + address.unix_path));
    }
    std::memcpy(sun.sun_path, address.unix_path.data(), address.unix_path.size());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Fail(InternalError(std::string("socket: ") + std::strerror(errno)));
    std::string err =
        ConnectWithin(fd, reinterpret_cast<const sockaddr*>(&sun), sizeof(sun), deadline);
    if (!err.empty()) {
      close(fd);
      return Fail(UnavailableError("cannot connect to the " + where + ": " + err));
    }
    return fd;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(address.port);
  int rc = getaddrinfo(address.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    return Fail(UnavailableError("cannot resolve the " + where + ": " + gai_strerror(rc)));
  }
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    last_error = ConnectWithin(fd, ai->ai_addr, ai->ai_addrlen, deadline);
    if (last_error.empty()) {
      freeaddrinfo(res);
      return fd;
    }
    close(fd);
  }
  freeaddrinfo(res);
  return Fail(UnavailableError("cannot connect to the " + where + ": " + last_error));
}

bool Contains(std::string_view text, std::string_view needle) {
  return text.find(needle) != std::string_view::npos;
}

}  // namespace

std::string RuntimeAddress::Describe() const {
  if (!unix_path.empty()) return "unix socket " + unix_path;
  if (host.find(':') != std::string::npos) return "tcp [" + host + "]:" + std::to_string(port);
  return "tcp " + host + ":" + std::to_string(port);
}

StatusOr<RuntimeAddress> ParseRuntimeAddress(std::string_view text) {
  RuntimeAddress a;
  if (text.empty()) return Fail(InvalidArgumentError("runtimeApi is empty"));
  if (text.front() == '/') {
    if (text.size() >= sizeof(sockaddr_un{}.sun_path)) {
      return Fail(InvalidArgumentError("runtimeApi: unix socket path longer than " +
                                       std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
                                       " bytes: " + std::string(text)));
    }
    a.unix_path = std::string(text);
    return a;
  }
  std::string_view host;
  std::string_view port;
  if (text.front() == '[') {
    size_t close_bracket = text.find(']');
    if (close_bracket == std::string_view::npos || close_bracket + 1 >= text.size() ||
        text[close_bracket + 1] != ':') {
      return Fail(InvalidArgumentError("runtimeApi: expected [v6-address]:port, got \"" +
                                       std::string(text) + "\""));
    }
    host = text.substr(1, close_bracket - 1);
    port = text.substr(close_bracket + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return Fail(InvalidArgumentError(
          "runtimeApi: expected a unix socket path (starting with '/') or host:port, got \"" +
          std::string(text) + "\""));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  int p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (host.empty() || ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535) {
    return Fail(
        InvalidArgumentError("runtimeApi: expected host:port with a port in 1..65535, got \"" +
                             std::string(text) + "\""));
  }
  a.host = std::string(host);
  a.port = p;
  return a;
}

StatusOr<std::string> RunRuntimeCommand(const RuntimeAddress& address, std::string_view command,
                                        Duration timeout) {
  if (command.find_first_of("\r\n") != std::string_view::npos) {
    return Fail(InvalidArgumentError("HAProxy runtime command contains a newline"));
  }
  const SteadyTime deadline =
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout);
  ASSIGN_OR_RETURN(int raw_fd, Connect(address, deadline));
  Fd fd(raw_fd);
  const std::string where = "HAProxy runtime API at " + address.Describe();
  std::string line = std::string(command) + "\n";
  size_t sent = 0;
  for (int attempt = 0; sent < line.size() && attempt < 10000; ++attempt) {
    ssize_t n = send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!WaitFor(fd.get(), POLLOUT, deadline)) {
        return Fail(DeadlineExceededError("timed out sending to the " + where));
      }
      continue;
    }
    return Fail(UnavailableError("cannot send to the " + where + ": " + std::strerror(errno)));
  }
  if (sent < line.size()) return Fail(UnavailableError("cannot send to the " + where));
  std::string answer;
  char buf[8192];
  for (;;) {  // bounded by the deadline and the size cap
    ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      answer.append(buf, static_cast<size_t>(n));
      if (answer.size() > kMaxAnswerBytes) {
        return Fail(ResourceExhaustedError("the answer of the " + where + " exceeds " +
                                           std::to_string(kMaxAnswerBytes) + " bytes"));
      }
      continue;
    }
    if (n == 0) return answer;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!WaitFor(fd.get(), POLLIN, deadline)) {
        return Fail(DeadlineExceededError("no complete answer from the " + where + " to \"" +
                                          std::string(command) + "\" within the timeout"));
      }
      continue;
    }
    return Fail(UnavailableError("cannot read from the " + where + ": " + std::strerror(errno)));
  }
}

std::string_view TrimAnswer(std::string_view answer) {
  constexpr std::string_view kSpace = " \t\r\n";
  size_t b = answer.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  size_t e = answer.find_last_not_of(kSpace);
  return answer.substr(b, e - b + 1);
}

Status CheckEmptyAnswer(std::string_view command, std::string_view answer) {
  std::string_view t = TrimAnswer(answer);
  if (t.empty()) return OkStatus();
  std::string msg = "HAProxy refused \"" + std::string(command) + "\": " + std::string(t);
  if (Contains(t, "entry not found")) return NotFoundError(msg);
  if (Contains(t, "No such") || Contains(t, "Unknown map") || Contains(t, "Can't find")) {
    return FailedPreconditionError(msg);
  }
  if (Contains(t, "Permission denied")) return PermissionDeniedError(msg);
  return InvalidArgumentError(msg);
}

Status CheckSetAddrAnswer(std::string_view command, std::string_view answer) {
  std::string_view t = TrimAnswer(answer);
  if (!t.empty() && (Contains(t, "changed from") || Contains(t, "no need to change"))) {
    return OkStatus();
  }
  if (t.empty()) {
    return InternalError("HAProxy gave no answer to \"" + std::string(command) + "\"");
  }
  return CheckEmptyAnswer(command, answer);
}

StatusOr<std::optional<std::string>> ParseGetMapAnswer(std::string_view answer) {
  std::string_view t = TrimAnswer(answer);
  if (Contains(t, "found=no")) return std::optional<std::string>();
  if (!Contains(t, "found=yes")) {
    Status s = CheckEmptyAnswer("get map", answer);
    if (!s.ok()) return Fail(s);
    return Fail(InternalError("unreadable answer to \"get map\": (empty)"));
  }
  constexpr std::string_view kValue = "value=\"";
  size_t v = t.find(kValue);
  if (v == std::string_view::npos) {
    return Fail(InternalError("unreadable answer to \"get map\": " + std::string(t)));
  }
  size_t start = v + kValue.size();
  size_t end = t.find('"', start);
  if (end == std::string_view::npos) {
    return Fail(InternalError("unreadable answer to \"get map\": " + std::string(t)));
  }
  return std::optional<std::string>(std::string(t.substr(start, end - start)));
}

StatusOr<std::vector<ServerState>> ParseServerStates(std::string_view backend,
                                                     std::string_view answer) {
  std::string_view t = TrimAnswer(answer);
  if (t.empty() || t.front() != '1') {
    Status s = CheckEmptyAnswer("show servers state " + std::string(backend), answer);
    if (!s.ok()) return Fail(s);
    return Fail(InternalError("unreadable answer to \"show servers state\""));
  }
  std::vector<ServerState> servers;
  size_t pos = 0;
  while (pos < t.size()) {
    size_t eol = t.find('\n', pos);
    std::string_view line = t.substr(pos, eol == std::string_view::npos ? t.npos : eol - pos);
    pos = eol == std::string_view::npos ? t.size() : eol + 1;
    if (line.empty() || line.front() == '#' || line == "1") continue;
    // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state … srv_port (19th) …
    std::vector<std::string_view> fields;
    size_t f = 0;
    while (fields.size() < 19 && f < line.size()) {
      size_t sp = line.find(' ', f);
      fields.push_back(line.substr(f, sp == std::string_view::npos ? line.npos : sp - f));
      f = sp == std::string_view::npos ? line.size() : sp + 1;
    }
    if (fields.size() < 4) {
      return Fail(InternalError("unreadable line in \"show servers state\": " + std::string(line)));
    }
    if (fields[1] != backend) continue;
    ServerState s;
    s.name = std::string(fields[3]);
    if (fields.size() > 4) s.addr = std::string(fields[4]);
    auto number = [](std::string_view v, int* out) {
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
      return ec == std::errc() && end == v.data() + v.size();
    };
    if (fields.size() > 6 && !number(fields[6], &s.admin_state)) {
      return Fail(InternalError("unreadable srv_admin_state in \"show servers state\": " +
                                std::string(line)));
    }
    if (fields.size() > 18 && !number(fields[18], &s.port)) s.port = 0;
    servers.push_back(std::move(s));
  }
  return servers;
}

StatusOr<std::vector<std::string>> ParseServersState(std::string_view backend,
                                                     std::string_view answer) {
  ASSIGN_OR_RETURN(std::vector<ServerState> servers, ParseServerStates(backend, answer));
  std::vector<std::string> names;
  for (auto& s : servers) names.push_back(std::move(s.name));
  return names;
}

StatusOr<std::vector<std::string>> ParseShowAclAnswer(std::string_view answer) {
  std::string_view t = TrimAnswer(answer);
  if (Contains(t, "Unknown ACL identifier")) {
    return Fail(FailedPreconditionError("HAProxy answered: " + std::string(t)));
  }
  std::vector<std::string> patterns;
  size_t pos = 0;
  while (pos < t.size()) {
    size_t eol = t.find('\n', pos);
    std::string_view line = t.substr(pos, eol == std::string_view::npos ? t.npos : eol - pos);
    pos = eol == std::string_view::npos ? t.size() : eol + 1;
    if (line.empty()) continue;
    size_t sp = line.find(' ');
    if (!line.starts_with("0x") || sp == std::string_view::npos) {
      Status s = CheckEmptyAnswer("show acl", line);
      if (!s.ok()) return Fail(s);
      return Fail(InternalError("unreadable line in \"show acl\": " + std::string(line)));
    }
    patterns.emplace_back(line.substr(sp + 1));
  }
  return patterns;
}

std::string EscapeRuntimeArgument(std::string_view arg) {
  std::string out;
  out.reserve(arg.size() + 8);
  for (char c : arg) {
    if (c == '\\' || c == ' ' || c == '\t' || c == ';') out += '\\';
    out += c;
  }
  return out;
}

StatusOr<std::string> ParseInfoPid(std::string_view answer) {
  constexpr std::string_view kPid = "Pid: ";
  size_t pos = 0;
  while (pos < answer.size()) {
    size_t eol = answer.find('\n', pos);
    std::string_view line =
        answer.substr(pos, eol == std::string_view::npos ? answer.npos : eol - pos);
    pos = eol == std::string_view::npos ? answer.size() : eol + 1;
    if (line.starts_with(kPid)) {
      std::string_view pid = TrimAnswer(line.substr(kPid.size()));
      if (!pid.empty()) return std::string(pid);
    }
  }
  Status s = CheckEmptyAnswer("show info", answer);
  if (!s.ok()) return Fail(s);
  return Fail(InternalError("no \"Pid:\" line in the answer to \"show info\""));
}

}  // namespace ramp::haproxy
