// Conn: a blocking loopback TCP connection for raw HTTP/1.1 in tests — send any bytes, read one
// response (Content-Length, chunked, or up to what arrived when it has neither), a head alone,
// an exact number of bytes, or notice the peer closing. The proxy tests use it to speak to
// `ramp proxy` byte by byte, including what no client library would send. Test-only.
//
// Thread-safety: one Conn per thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>

namespace ramp::raw_http {

class Conn {
 public:
  // Connects to 127.0.0.1:`port`; every read gives up after 10 s.
  explicit Conn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Conn() { ::close(fd_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool ok() const { return ok_; }
  void Send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  // Reads what is there (waiting up to the timeout); false on close or timeout.
  bool Fill() {
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  // Reads one response (Content-Length or chunked; with neither, the head and whatever came
  // with it); nullopt on close or timeout before it ends.
  std::optional<std::string> ReadResponse() {
    for (int i = 0; i < 100000; ++i) {
      size_t end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::string lower = buf_.substr(0, end + 4);
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        size_t cl = lower.find("content-length:");
        if (lower.find("transfer-encoding: chunked") != std::string::npos) {
          size_t term = buf_.find("\r\n0\r\n\r\n", end);
          if (term == std::string::npos && buf_.compare(end + 4, 5, "0\r\n\r\n") == 0) {
            term = end + 2;
          }
          if (term != std::string::npos) {
            std::string out = buf_.substr(0, term + 7);
            buf_.erase(0, term + 7);
            return out;
          }
        } else if (cl != std::string::npos) {
          size_t len = std::strtoul(lower.c_str() + cl + 15, nullptr, 10);
          if (buf_.size() >= end + 4 + len) {
            std::string out = buf_.substr(0, end + 4 + len);
            buf_.erase(0, end + 4 + len);
            return out;
          }
        } else {
          std::string out = buf_;
          buf_.clear();
          return out;
        }
      }
      if (!Fill()) return std::nullopt;
    }
    return std::nullopt;
  }
  // Reads a response head only (e.g. a 101); what follows stays buffered.
  std::optional<std::string> ReadHead() {
    for (int i = 0; i < 100000; ++i) {
      size_t end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::string out = buf_.substr(0, end + 4);
        buf_.erase(0, end + 4);
        return out;
      }
      if (!Fill()) return std::nullopt;
    }
    return std::nullopt;
  }
  std::optional<std::string> ReadExactly(size_t n) {
    while (buf_.size() < n) {
      if (!Fill()) return std::nullopt;
    }
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }
  // True when the peer closes within the receive timeout (any bytes before are discarded).
  bool ClosedByPeer() {
    buf_.clear();
    char tmp[4096];
    for (int i = 0; i < 1000; ++i) {
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
    return false;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::string buf_;
};

// One GET on a fresh connection ("Connection: close"); "" when nothing came back.
inline std::string Get(int port, const std::string& path, const std::string& extra = "") {
  Conn c(port);
  c.Send("GET " + path + " HTTP/1.1\r\nHost: x\r\n" + extra + "Connection: close\r\n\r\n");
  return c.ReadResponse().value_or("");
}

// The body of a raw response, and its status code (0 when there is none).
inline std::string Body(const std::string& response) {
  size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}
inline int StatusOf(const std::string& response) {
  if (response.size() < 12) return 0;
  return std::atoi(response.c_str() + 9);
}

}  // namespace ramp::raw_http
