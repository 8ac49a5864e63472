#include "platform/probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/subprocess.h"

namespace ramp::platform {
namespace {

using json = nlohmann::json;

std::string Seconds(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count() / 1000.0)
             .substr(0, 4) +
         "s";
}

int MillisLeft(Time deadline, const Clock& clock) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock.Now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left.count(), 60'000));
}

StatusOr<int> ParsePort(const json& c, const json& port, const std::string& field, bool* instance) {
  const json* ports = c.contains("ports") && c["ports"].is_array() ? &c["ports"] : nullptr;
  const json* first =
      ports != nullptr && !ports->empty() && (*ports)[0].is_object() ? &(*ports)[0] : nullptr;
  if (port.is_number_integer()) {
    int p = port.get<int>();
    if (p < 1 || p > 65535) return Fail(InvalidArgumentError(field + ".port must be 1-65535"));
    *instance = first != nullptr && first->value("containerPort", 0) == p;
    return p;
  }
  if (port.is_string()) {
    std::string name = port.get<std::string>();
    if (ports != nullptr) {
      for (size_t i = 0; i < ports->size(); ++i) {
        const json& p = (*ports)[i];
        if (p.is_object() && p.value("name", "") == name) {
          *instance = i == 0;
          return p.value("containerPort", 0);
        }
      }
    }
    return Fail(
        InvalidArgumentError(field + ".port " + name + " names no port of containers[0].ports"));
  }
  return Fail(InvalidArgumentError(field + ".port must be a number or a port name"));
}

StatusOr<Check> ParseHandler(const json& c, const json& h, const std::string& field,
                             bool allow_sleep) {
  if (!h.is_object()) return Fail(InvalidArgumentError(field + " must be an object"));
  std::vector<std::string> kinds;
  for (const char* k : {"httpGet", "tcpSocket", "exec", "grpc", "sleep"}) {
    if (h.contains(k) && !h[k].is_null()) kinds.emplace_back(k);
  }
  if (kinds.size() != 1) {
    return Fail(InvalidArgumentError(field + " must have exactly one handler (httpGet, " +
                                     "tcpSocket, exec" + (allow_sleep ? ", sleep)" : ")")));
  }
  const std::string& kind = kinds[0];
  const json& v = h[kind];
  std::string where = field + "." + kind;
  if (!v.is_object()) return Fail(InvalidArgumentError(where + " must be an object"));
  Check check;
  if (kind == "grpc" || (kind == "sleep" && !allow_sleep)) {
    return Fail(InvalidArgumentError(where + " is not supported off Kubernetes"));
  }
  if (kind == "sleep") {
    check.kind = Check::Kind::kSleep;
    if (!v.contains("seconds") || !v["seconds"].is_number_integer() ||
        v["seconds"].get<int64_t>() < 0) {
      return Fail(InvalidArgumentError(where + ".seconds must be an integer >= 0"));
    }
    check.sleep = std::chrono::seconds(v["seconds"].get<int64_t>());
    return check;
  }
  if (kind == "exec") {
    check.kind = Check::Kind::kExec;
    auto cmd = v.find("command");
    if (cmd == v.end() || !cmd->is_array() || cmd->empty()) {
      return Fail(InvalidArgumentError(where + ".command must be a non-empty list"));
    }
    for (const json& a : *cmd) {
      if (!a.is_string()) return Fail(InvalidArgumentError(where + ".command must be strings"));
      check.command.push_back(a.get<std::string>());
    }
    return check;
  }
  check.kind = kind == "httpGet" ? Check::Kind::kHttpGet : Check::Kind::kTcpSocket;
  if (!v.contains("port")) return Fail(InvalidArgumentError(where + ".port is required"));
  ASSIGN_OR_RETURN(check.port, ParsePort(c, v["port"], where, &check.instance_port));
  check.host = v.value("host", "");
  if (check.kind == Check::Kind::kHttpGet) {
    check.path = v.value("path", "/");
    if (check.path.empty() || check.path[0] != '/') check.path = "/" + check.path;
    std::string scheme = v.value("scheme", "HTTP");
    if (scheme != "HTTP") {
      return Fail(InvalidArgumentError(where + ".scheme " + scheme +
                                       " is not supported off Kubernetes yet (HTTP only)"));
    }
    if (auto hs = v.find("httpHeaders"); hs != v.end() && hs->is_array()) {
      for (const json& hd : *hs) {
        if (hd.is_object()) check.headers.emplace_back(hd.value("name", ""), hd.value("value", ""));
      }
    }
  }
  return check;
}

StatusOr<std::optional<Probe>> ParseProbe(const json& c, const char* field) {
  auto it = c.find(field);
  if (it == c.end() || it->is_null()) return std::optional<Probe>();
  std::string where = std::string("containers[0].") + field;
  Probe p;
  ASSIGN_OR_RETURN(p.check, ParseHandler(c, *it, where, false));
  auto num = [&](const char* name, int64_t def) -> StatusOr<int64_t> {
    auto f = it->find(name);
    if (f == it->end() || f->is_null()) return def;
    if (!f->is_number_integer() || f->get<int64_t>() < 0) {
      return Fail(InvalidArgumentError(where + "." + name + " must be an integer >= 0"));
    }
    int64_t n = f->get<int64_t>();
    return n == 0 ? def : n;
  };
  int64_t n = 0;
  ASSIGN_OR_RETURN(n, num("initialDelaySeconds", 0));
  p.initial_delay = std::chrono::seconds(n);
  ASSIGN_OR_RETURN(n, num("periodSeconds", 10));
  p.period = std::chrono::seconds(n);
  ASSIGN_OR_RETURN(n, num("timeoutSeconds", 1));
  p.timeout = std::chrono::seconds(n);
  ASSIGN_OR_RETURN(n, num("successThreshold", 1));
  p.success_threshold = static_cast<int>(n);
  ASSIGN_OR_RETURN(n, num("failureThreshold", 3));
  p.failure_threshold = static_cast<int>(n);
  return std::optional<Probe>(std::move(p));
}

// A connected socket to host:port within the deadline, or why not.
StatusOr<int> Connect(const std::string& host, int port, Time deadline, const Clock& clock) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port_text = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res); rc != 0) {
    return Fail(UnavailableError("cannot resolve " + host + ": " + ::gai_strerror(rc)));
  }
  std::string last = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int ready = ::poll(&p, 1, MillisLeft(deadline, clock));
      if (ready <= 0) {
        ::close(fd);
        last = "timed out";
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc == 0) {
      ::freeaddrinfo(res);
      return fd;
    }
    last = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  for (char& ch : last) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return Fail(UnavailableError("dial " + host + ":" + port_text + ": " + last));
}

Status HttpGet(const Check& check, const std::string& host, int port, Time deadline,
               const Clock& clock) {
  ASSIGN_OR_RETURN(int fd, Connect(host, port, deadline, clock));
  std::string host_header = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::string req = "GET " + check.path + " HTTP/1.1\r\nHost: " + host_header + ":" +
                    std::to_string(port) + "\r\nUser-Agent: ramp-probe/1\r\nAccept: */*\r\n";
  for (const auto& [k, v] : check.headers) req += k + ": " + v + "\r\n";
  req += "Connection: close\r\n\r\n";
  size_t sent = 0;
  std::string response;
  Status result = OkStatus();
  while (sent < req.size()) {
    ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, MillisLeft(deadline, clock)) <= 0) {
        result = DeadlineExceededError("timed out sending the request");
        break;
      }
      continue;
    }
    result = UnavailableError(std::string("send: ") + std::strerror(errno));
    break;
  }
  // Only the status line is needed.
  while (result.ok() && response.find("\r\n") == std::string::npos && response.size() < 8192) {
    pollfd p{fd, POLLIN, 0};
    int left = MillisLeft(deadline, clock);
    if (left == 0 || ::poll(&p, 1, left) <= 0) {
      result = DeadlineExceededError("timed out awaiting the response");
      break;
    }
    char buf[2048];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      response.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      result = UnavailableError("connection closed before a response");
    } else if (errno != EAGAIN && errno != EINTR) {
      result = UnavailableError(std::string("recv: ") + std::strerror(errno));
    }
  }
  ::close(fd);
  if (!result.ok()) return result;
  // "HTTP/1.x NNN reason"
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) {
    return UnavailableError("malformed HTTP response");
  }
  int code = std::atoi(response.substr(9, 3).c_str());
  if (code >= 200 && code < 400) return OkStatus();
  return UnavailableError("HTTP probe failed with statuscode: " + std::to_string(code));
}

Status Exec(const Check& check, const CheckTarget& target, Duration timeout, const Clock& clock) {
  SubprocessOptions o;
  o.argv = check.command;
  o.env = target.env;
  o.working_dir = target.working_dir;
  ASSIGN_OR_RETURN(std::unique_ptr<Subprocess> p, Subprocess::Start(o));
  Time deadline = clock.Now() + timeout;
  int64_t rounds = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count() / 5 + 1;
  for (int64_t i = 0; i < rounds && clock.Now() < deadline; ++i) {
    if (auto st = p->Poll()) {
      p->Kill();  // whatever it left behind
      if (WIFEXITED(*st) && WEXITSTATUS(*st) == 0) return OkStatus();
      return UnavailableError("command " + check.command[0] + ": " + DescribeWaitStatus(*st));
    }
    ::poll(nullptr, 0, 5);
  }
  p->Kill();
  return DeadlineExceededError("command " + check.command[0] + " timed out after " +
                               Seconds(timeout));
}

}  // namespace

StatusOr<ProbeSet> ParseProbes(const json& container) {
  if (!container.is_object()) return Fail(InvalidArgumentError("containers[0] is not an object"));
  ProbeSet set;
  ASSIGN_OR_RETURN(set.readiness, ParseProbe(container, "readinessProbe"));
  ASSIGN_OR_RETURN(set.liveness, ParseProbe(container, "livenessProbe"));
  if (auto lc = container.find("lifecycle"); lc != container.end() && lc->is_object()) {
    if (auto ps = lc->find("preStop"); ps != lc->end() && !ps->is_null()) {
      ASSIGN_OR_RETURN(set.pre_stop,
                       ParseHandler(container, *ps, "containers[0].lifecycle.preStop", true));
      if (set.pre_stop->kind == Check::Kind::kTcpSocket) {
        return Fail(InvalidArgumentError(
            "containers[0].lifecycle.preStop.tcpSocket is not supported off Kubernetes"));
      }
    }
  }
  return set;
}

Status RunCheck(const Check& check, const CheckTarget& target, Duration timeout,
                const Clock& clock) {
  Time deadline = clock.Now() + timeout;
  std::string host = check.host.empty() ? target.host : check.host;
  int port = check.instance_port ? target.port : check.port;
  switch (check.kind) {
    case Check::Kind::kHttpGet: {
      Status s = HttpGet(check, host, port, deadline, clock);
      if (s.code() == StatusCode::kDeadlineExceeded) {
        return DeadlineExceededError("GET http://" + host + ":" + std::to_string(port) +
                                     check.path + ": timed out after " + Seconds(timeout));
      }
      return s;
    }
    case Check::Kind::kTcpSocket: {
      StatusOr<int> fd = Connect(host, port, deadline, clock);
      if (!fd) return fd.error();
      ::close(*fd);
      return OkStatus();
    }
    case Check::Kind::kExec:
      return Exec(check, target, timeout, clock);
    case Check::Kind::kSleep:
      return OkStatus();
  }
  return InternalError("unknown check");
}

StatusOr<std::pair<std::string, int>> SplitHostPort(std::string_view address) {
  std::string host;
  std::string_view rest;
  if (!address.empty() && address[0] == '[') {
    size_t close = address.find(']');
    if (close == std::string_view::npos) {
      return Fail(InvalidArgumentError("address " + std::string(address) + ": missing ]"));
    }
    host = std::string(address.substr(1, close - 1));
    rest = address.substr(close + 1);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) {
      return Fail(InvalidArgumentError("address " + std::string(address) + ": missing :port"));
    }
    host = std::string(address.substr(0, colon));
    rest = address.substr(colon);
  }
  if (rest.size() < 2 || rest[0] != ':' || host.empty()) {
    return Fail(InvalidArgumentError("address " + std::string(address) + " is not host:port"));
  }
  int port = 0;
  for (char ch : rest.substr(1)) {
    if (ch < '0' || ch > '9' || port > 65535) {
      return Fail(InvalidArgumentError("address " + std::string(address) + ": bad port"));
    }
    port = port * 10 + (ch - '0');
  }
  if (port < 1 || port > 65535) {
    return Fail(InvalidArgumentError("address " + std::string(address) + ": port not 1-65535"));
  }
  return std::make_pair(host, port);
}

}  // namespace ramp::platform
