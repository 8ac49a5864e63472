// Test helpers for KubeApiServerFake's tests: a blocking JSON client over ramp's real HttpClient,
// a blocking POSIX-socket reader for chunked watch streams (independent of the HTTP client's
// streaming API), query escaping and polling with a deadline. Test-only.
//
// Thread-safety: KubeApi may be used from any thread; a WatchReader belongs to one thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ramp/http_client.h"

namespace ramp::fakes::testing {

using nlohmann::json;

// Polls `done` (every 5 ms) until it holds or `limit` passes; returns its last value.
inline bool Eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

// Percent-encodes a query value.
inline std::string Escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

struct ApiReply {
  int status = 0;  // 0: no response (error holds why)
  std::string error;
  std::string content_type;
  std::string raw;
  json body;  // parsed raw, or discarded
};

// Blocking calls through ramp::NewHttpClient().
class KubeApi {
 public:
  explicit KubeApi(std::string base, std::string token = "", std::string ca_file = "")
      : base_(std::move(base)), token_(std::move(token)), ca_file_(std::move(ca_file)) {}

  ApiReply Call(const std::string& method, const std::string& path, const std::string& body = "",
                const std::string& content_type = "application/json",
                const HttpHeaders& extra = {}) const {
    HttpRequest req;
    req.method = method;
    req.url = base_ + path;
    req.body = body;
    req.ca_file = ca_file_;
    req.timeout = std::chrono::seconds(20);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      req.headers.emplace_back("Content-Type", content_type);
    }
    if (!token_.empty()) req.headers.emplace_back("Authorization", "Bearer " + token_);
    for (const auto& h : extra) req.headers.push_back(h);
    std::promise<StatusOr<HttpResponse>> done;
    auto answer = done.get_future();
    client_->Send(std::move(req),
                  [&done](StatusOr<HttpResponse> r) { done.set_value(std::move(r)); });
    StatusOr<HttpResponse> r = answer.get();
    ApiReply out;
    if (!r.has_value()) {
      out.error = r.error().ToString();
      return out;
    }
    out.status = r->status;
    out.raw = r->body;
    if (const std::string* t = FindHeader(r->headers, "Content-Type")) out.content_type = *t;
    out.body = json::parse(out.raw, nullptr, /*allow_exceptions=*/false);
    return out;
  }

  ApiReply Get(const std::string& path, const HttpHeaders& extra = {}) const {
    return Call("GET", path, "", "application/json", extra);
  }
  ApiReply Post(const std::string& path, const json& body) const {
    return Call("POST", path, body.dump());
  }
  ApiReply Put(const std::string& path, const json& body) const {
    return Call("PUT", path, body.dump());
  }
  ApiReply Merge(const std::string& path, const json& patch) const {
    return Call("PATCH", path, patch.dump(), "application/merge-patch+json");
  }
  ApiReply JsonPatch(const std::string& path, const json& ops) const {
    return Call("PATCH", path, ops.dump(), "application/json-patch+json");
  }
  ApiReply Delete(const std::string& path, const json& options = nullptr) const {
    return Call("DELETE", path, options.is_null() ? "" : options.dump());
  }

 private:
  std::string base_;
  std::string token_;
  std::string ca_file_;
  std::unique_ptr<HttpClient> client_ = NewHttpClient();
};

// Reads one watch response from 127.0.0.1 over a plain socket: the head, then chunked JSON lines.
class WatchReader {
 public:
  enum class End { kOpen, kClean, kAbrupt };

  WatchReader(int port, const std::string& target, const std::string& token = "") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      end_ = End::kAbrupt;
      return;
    }
    std::string req =
        "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    req += "\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      end_ = End::kAbrupt;
    }
  }
  ~WatchReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  WatchReader(const WatchReader&) = delete;
  WatchReader& operator=(const WatchReader&) = delete;

  // Waits for the response head; false when none came within `limit`.
  bool ReadHead(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!head_done_) {
      if (size_t end = raw_.find("\r\n\r\n"); end != std::string::npos) {
        ParseHead(raw_.substr(0, end));
        raw_.erase(0, end + 4);
        head_done_ = true;
        break;
      }
      if (!ReadMore(deadline)) return false;
    }
    return true;
  }

  int status() const { return status_; }
  // A response header (name lower-case), or "".
  std::string Header(const std::string& name) const {
    auto it = headers_.find(name);
    return it == headers_.end() ? "" : it->second;
  }

  // The next event line, or nullopt when none came within `limit` or the stream ended (see
  // end()).
  std::optional<json> Next(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    if (!ReadHead(limit)) return std::nullopt;
    for (;;) {
      Dechunk();
      if (size_t nl = body_.find('\n'); nl != std::string::npos) {
        json event = json::parse(body_.substr(0, nl), nullptr, /*allow_exceptions=*/false);
        body_.erase(0, nl + 1);
        return event;
      }
      if (end_ != End::kOpen) return std::nullopt;
      if (!ReadMore(deadline)) return std::nullopt;
    }
  }

  // Reads events until one of `type` arrives, skipping the others.
  std::optional<json> NextOfType(const std::string& type,
                                 std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto ev = Next(left);
      if (!ev) return std::nullopt;
      if ((*ev)["type"] == type) return ev;
    }
    return std::nullopt;
  }

  // How the stream ended so far: kClean after the final chunk, kAbrupt when the connection
  // closed without it.
  End end() const { return end_; }

  // Waits until the stream ends (discarding events); returns how it ended, or kOpen on timeout.
  End WaitForEnd(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (end_ == End::kOpen && std::chrono::steady_clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      Next(left);
    }
    return end_;
  }

 private:
  void ParseHead(const std::string& head) {
    size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.size() >= 12) status_ = std::stoi(status_line.substr(9, 3));
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t next = head.find("\r\n", pos);
      if (next == std::string::npos) next = head.size();
      const std::string line = head.substr(pos, next - pos);
      if (size_t colon = line.find(':'); colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(value.begin());
        headers_[name] = value;
      }
      pos = next + 2;
    }
  }

  // Moves complete chunks from raw_ to body_.
  void Dechunk() {
    while (head_done_ && end_ != End::kClean) {
      size_t line = raw_.find("\r\n");
      if (line == std::string::npos) break;
      const size_t size = std::stoul(raw_.substr(0, line), nullptr, 16);
      if (size == 0) {
        end_ = End::kClean;
        raw_.clear();
        break;
      }
      if (raw_.size() < line + 2 + size + 2) break;
      body_ += raw_.substr(line + 2, size);
      raw_.erase(0, line + 2 + size + 2);
    }
  }

  // Reads what is there (waiting until `deadline`); false on timeout or when the peer closed.
  bool ReadMore(std::chrono::steady_clock::time_point deadline) {
    if (end_ != End::kOpen) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[16384];
    const ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
    if (got <= 0) {
      Dechunk();
      if (end_ == End::kOpen) end_ = End::kAbrupt;
      return false;
    }
    raw_.append(buf, static_cast<size_t>(got));
    return true;
  }

  int fd_ = -1;
  std::string raw_;   // bytes not yet de-chunked
  std::string body_;  // de-chunked bytes not yet returned as events
  bool head_done_ = false;
  int status_ = 0;
  std::map<std::string, std::string> headers_;
  End end_ = End::kOpen;
};

}  // namespace ramp::fakes::testing
