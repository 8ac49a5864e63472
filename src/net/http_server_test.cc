#include "net/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ramp/http_client.h"

namespace ramp::net {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// Polls `pred` until it holds or `limit` passes; returns whether it held.
bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5s) {
  const auto deadline = SteadyClock::now() + limit;
  while (SteadyClock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

// A value set by one thread and awaited (with a deadline) by another.
template <typename T>
class Slot {
 public:
  void Set(T value) {
    std::lock_guard lock(mu_);
    value_ = std::move(value);
    cv_.notify_all();
  }
  std::optional<T> Wait(std::chrono::milliseconds limit = 5s) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, limit, [&] { return value_.has_value(); });
    return value_;
  }
  std::optional<T> Take(std::chrono::milliseconds limit = 5s) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, limit, [&] { return value_.has_value(); });
    std::optional<T> out = std::move(value_);
    value_.reset();
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<T> value_;
};

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  bool HasHeader(const std::string& name) const { return headers.count(name) > 0; }
};

// A blocking loopback TCP client that sends exactly the bytes it is given.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawClient() { Close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Reads what arrives before `deadline`: >0 bytes appended, 0 at EOF, -1 on timeout or error.
  int ReadMore(SteadyClock::time_point deadline) {
    for (;;) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      if (left.count() <= 0) return -1;
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0) return -1;
      if (r == 0) continue;
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n < 0) return errno == ECONNRESET ? 0 : -1;
      buf_.append(chunk, static_cast<size_t>(n));
      return static_cast<int>(n);
    }
  }

  // Reads until `text` is in the buffer; false on EOF or timeout.
  bool ReadUntil(std::string_view text, std::chrono::milliseconds limit = 5s) {
    const auto deadline = SteadyClock::now() + limit;
    while (buf_.find(text) == std::string::npos) {
      if (ReadMore(deadline) <= 0) return false;
    }
    return true;
  }

  // True when the server closes the connection within `limit` (whatever it sent before).
  bool WaitClosed(std::chrono::milliseconds limit = 5s) {
    const auto deadline = SteadyClock::now() + limit;
    for (;;) {
      int n = ReadMore(deadline);
      if (n == 0) return true;
      if (n < 0) return false;
    }
  }

  // Reads a response head (skipping 100 Continue); nullopt on EOF, timeout or garbage.
  std::optional<RawResponse> ReadHead(std::chrono::milliseconds limit = 5s) {
    for (;;) {
      if (!ReadUntil("\r\n\r\n", limit)) return std::nullopt;
      size_t end = buf_.find("\r\n\r\n");
      std::string head = buf_.substr(0, end);
      buf_.erase(0, end + 4);
      RawResponse r;
      if (head.compare(0, 9, "HTTP/1.1 ") != 0 || head.size() < 12) return std::nullopt;
      r.status = std::atoi(head.substr(9, 3).c_str());
      size_t pos = head.find("\r\n");
      while (pos != std::string::npos) {
        size_t next = head.find("\r\n", pos + 2);
        std::string line = head.substr(pos + 2, next == std::string::npos ? next : next - pos - 2);
        size_t colon = line.find(':');
        if (colon != std::string::npos) {
          std::string name = line.substr(0, colon);
          for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          size_t v = line.find_first_not_of(' ', colon + 1);
          r.headers[name] = v == std::string::npos ? "" : line.substr(v);
        }
        pos = next;
      }
      if (r.status == 100) continue;
      return r;
    }
  }

  // Reads one chunk of a chunked body: its data, "" for the last chunk, nullopt on failure.
  std::optional<std::string> ReadChunk(std::chrono::milliseconds limit = 5s) {
    if (!ReadUntil("\r\n", limit)) return std::nullopt;
    size_t eol = buf_.find("\r\n");
    size_t size = std::stoul(buf_.substr(0, eol), nullptr, 16);
    const auto deadline = SteadyClock::now() + limit;
    while (buf_.size() < eol + 2 + size + 2) {
      if (ReadMore(deadline) <= 0) return std::nullopt;
    }
    std::string data = buf_.substr(eol + 2, size);
    buf_.erase(0, eol + 2 + size + 2);
    return data;
  }

  // Reads one whole response; nullopt on EOF, timeout or garbage.
  std::optional<RawResponse> ReadResponse(bool head_request = false,
                                          std::chrono::milliseconds limit = 5s) {
    auto r = ReadHead(limit);
    if (!r || head_request) return r;
    if (r->Header("transfer-encoding") == "chunked") {
      for (;;) {
        auto chunk = ReadChunk(limit);
        if (!chunk) return std::nullopt;
        if (chunk->empty()) return r;
        r->body += *chunk;
      }
    }
    if (r->HasHeader("content-length")) {
      size_t n = std::stoul(r->Header("content-length"));
      const auto deadline = SteadyClock::now() + limit;
      while (buf_.size() < n) {
        if (ReadMore(deadline) <= 0) return std::nullopt;
      }
      r->body = buf_.substr(0, n);
      buf_.erase(0, n);
      return r;
    }
    if (r->status == 204 || r->status == 304) return r;
    if (!WaitClosed(limit)) return std::nullopt;  // body until close
    r->body = std::move(buf_);
    buf_.clear();
    return r;
  }

  std::string& buffer() { return buf_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

std::string Get(std::string_view target) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n\r\n";
}

// Answers every request with 200 and "<method> <path>".
void EchoHandler(ServerRequest request, std::shared_ptr<ServerReply> reply) {
  reply->Send({.status = 200,
               .content_type = "text/plain",
               .body = request.method + " " + request.path + " " + request.body});
}

std::unique_ptr<HttpServer> MustStart(HttpServerOptions options, ServerHandler handler) {
  auto server = HttpServer::Start(std::move(options), std::move(handler));
  if (!server) {
    ADD_FAILURE() << server.error().ToString();
    return nullptr;
  }
  return *std::move(server);
}

StatusOr<HttpResponse> SendAndWait(HttpClient& client, HttpRequest request) {
  Slot<StatusOr<HttpResponse>> result;
  client.Send(std::move(request), [&](StatusOr<HttpResponse> r) { result.Set(std::move(r)); });
  auto r = result.Wait(20s);
  if (!r) return Fail(InternalError("test: no callback within 20s"));
  return *r;
}

std::string BaseUrl(const HttpServer& server) {
  return "http://127.0.0.1:" + std::to_string(server.Port());
}

TEST(HttpServerTest, StartReportsTheBoundAddress) {
  auto server = MustStart({}, EchoHandler);
  ASSERT_NE(server, nullptr);
  EXPECT_NE(server->Port(), 0);
  EXPECT_EQ(server->Address(), "127.0.0.1:" + std::to_string(server->Port()));
  server->Stop();
  server->Stop();  // idempotent
}

TEST(HttpServerTest, GetDecodesPathQueryAndHeaders) {
  Slot<ServerRequest> seen;
  auto server = MustStart({}, [&](ServerRequest request, std::shared_ptr<ServerReply> reply) {
    seen.Set(request);
    reply->Send({.body = "{\"ok\":true}"});
  });
  ASSERT_NE(server, nullptr);
  auto client = NewHttpClient();
  HttpRequest request;
  request.url = BaseUrl(*server) +
                "/v1/rollouts/de%2Ffault/a%20b?watch=1&name=hello+world&e=%C3%A9&flag&dup=1&dup=2";
  request.headers = {{"X-Custom", "One"}, {"x-custom", "Two"}};
  auto r = SendAndWait(*client, request);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"ok\":true}");
  ASSERT_NE(FindHeader(r->headers, "Content-Type"), nullptr);
  EXPECT_EQ(*FindHeader(r->headers, "Content-Type"), "application/json");
  ASSERT_NE(FindHeader(r->headers, "Content-Length"), nullptr);
  EXPECT_EQ(*FindHeader(r->headers, "Content-Length"), "11");

  auto got = seen.Wait();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->method, "GET");
  EXPECT_EQ(got->target,
            "/v1/rollouts/de%2Ffault/a%20b?watch=1&name=hello+world&e=%C3%A9&flag&dup=1&dup=2");
  EXPECT_EQ(got->path, "/v1/rollouts/de/fault/a b");
  EXPECT_EQ(got->query.at("watch"), "1");
  EXPECT_EQ(got->query.at("name"), "hello world");
  EXPECT_EQ(got->query.at("e"), "\xC3\xA9");
  EXPECT_EQ(got->query.at("flag"), "");
  EXPECT_EQ(got->query.at("dup"), "1");
  EXPECT_EQ(got->Header("x-custom"), "One, Two");
  EXPECT_EQ(got->Header("host"), "127.0.0.1:" + std::to_string(server->Port()));
  EXPECT_EQ(got->Header("absent"), "");
  EXPECT_EQ(got->peer.rfind("127.0.0.1:", 0), 0u) << got->peer;
  EXPECT_TRUE(got->body.empty());
}

TEST(HttpServerTest, PostCarriesTheBody) {
  Slot<ServerRequest> seen;
  auto server = MustStart({}, [&](ServerRequest request, std::shared_ptr<ServerReply> reply) {
    seen.Set(request);
    reply->Send({.status = 201,
                 .headers = {{"Location", "/v1/x"}},
                 .body = "got " + std::to_string(request.body.size())});
  });
  ASSERT_NE(server, nullptr);
  auto client = NewHttpClient();
  HttpRequest request;
  request.method = "POST";
  request.url = BaseUrl(*server) + "/v1/x";
  request.headers = {{"Content-Type", "application/json"}};
  request.body = "{\"name\":\"x\",\"replicas\":3}";
  auto r = SendAndWait(*client, request);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "got " + std::to_string(request.body.size()));
  ASSERT_NE(FindHeader(r->headers, "Location"), nullptr);
  EXPECT_EQ(*FindHeader(r->headers, "Location"), "/v1/x");
  auto got = seen.Wait();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->method, "POST");
  EXPECT_EQ(got->body, "{\"name\":\"x\",\"replicas\":3}");
  EXPECT_EQ(got->Header("content-type"), "application/json");
}

TEST(HttpServerTest, KeepAliveServesRequestsInOrderOnOneConnection) {
  std::mutex mu;
  std::vector<std::string> peers;
  auto server = MustStart({}, [&](ServerRequest request, std::shared_ptr<ServerReply> reply) {
    {
      std::lock_guard lock(mu);
      peers.push_back(request.peer);
    }
    EchoHandler(std::move(request), std::move(reply));
  });
  ASSERT_NE(server, nullptr);
  RawClient c(server->Port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(Get("/one")));
  auto r1 = c.ReadResponse();
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(r1->body, "GET /one ");
  EXPECT_FALSE(r1->HasHeader("connection"));
  ASSERT_TRUE(c.Send(Get("/two")));
  auto r2 = c.ReadResponse();
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->body, "GET /two ");
  // Pipelined: both sent at once, answered in order.
  ASSERT_TRUE(c.Send(Get("/three") + Get("/four")));
  auto r3 = c.ReadResponse();
  auto r4 = c.ReadResponse();
  ASSERT_TRUE(r3.has_value() && r4.has_value());
  EXPECT_EQ(r3->body, "GET /three ");
  EXPECT_EQ(r4->body, "GET /four ");
  std::lock_guard lock(mu);
  ASSERT_EQ(peers.size(), 4u);
  for (const auto& peer : peers) EXPECT_EQ(peer, peers[0]);
}

TEST(HttpServerTest, AnswersFromAnotherThreadLater) {
  Slot<std::shared_ptr<ServerReply>> pending;
  auto server = MustStart({}, [&](ServerRequest request, std::shared_ptr<ServerReply> reply) {
    if (request.path == "/slow") {
      pending.Set(std::move(reply));
    } else {
      EchoHandler(std::move(request), std::move(reply));
    }
  });
  ASSERT_NE(server, nullptr);
  RawClient slow(server->Port());
  ASSERT_TRUE(slow.Send(Get("/slow")));
  auto reply = pending.Take();
  ASSERT_TRUE(reply.has_value());
  // Another connection is served while the first waits for its answer.
  RawClient fast(server->Port());
  ASSERT_TRUE(fast.Send(Get("/fast")));
  auto fast_response = fast.ReadResponse();
  ASSERT_TRUE(fast_response.has_value());
  EXPECT_EQ(fast_response->body, "GET /fast ");
  std::thread answerer([r = *std::move(reply)] {
    r->Send({.status = 202, .content_type = "text/plain", .body = "later"});
    r->Send({.status = 500, .body = "ignored: second answer"});
  });
  answerer.join();
  auto r = slow.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(r->body, "later");
  // The connection goes on.
  ASSERT_TRUE(slow.Send(Get("/next")));
  auto next = slow.ReadResponse();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->body, "GET /next ");
}

TEST(HttpServerTest, DroppedReplyAnswers500) {
  auto server = MustStart({}, [&](ServerRequest request, std::shared_ptr<ServerReply> reply) {
    if (request.path == "/drop") return;  // the reply goes away unanswered
    if (request.path == "/drop-later") {
      std::thread([r = std::move(reply)]() mutable { r.reset(); }).detach();
      return;
    }
    EchoHandler(std::move(request), std::move(reply));
  });
  ASSERT_NE(server, nullptr);
  RawClient c(server->Port());
  for (std::string target : {"/drop", "/drop-later"}) {
    ASSERT_TRUE(c.Send(Get(target)));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value()) << target;
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(r->body, "handler did not answer\n");
  }
  ASSERT_TRUE(c.Send(Get("/after")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServerTest, HandlerThatThrowsAnswers500) {
  auto server = MustStart(
      {}, [](ServerRequest, std::shared_ptr<ServerReply>) { throw std::runtime_error("boom"); });
  ASSERT_NE(server, nullptr);
  RawClient c(server->Port());
  ASSERT_TRUE(c.Send(Get("/")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, "handler failed\n");
}

TEST(HttpServerTest, InvalidHandlerResponseAnswers500WithoutInjection) {
  auto server = MustStart({}, [](ServerRequest request, std::shared_ptr<ServerReply> reply) {
    if (request.path == "/status") {
      reply->Send({.status = 42});
    } else {
      reply->Send({.headers = {{"X-Evil", "a\r\nSet-Cookie: x=1"}}, .body = "no"});
    }
  });
  ASSERT_NE(server, nullptr);
  RawClient c(server->Port());
  for (std::string target : {"/status", "/header"}) {
    ASSERT_TRUE(c.Send(Get(target)));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value()) << target;
    EXPECT_EQ(r->status, 500) << target;
    EXPECT_FALSE(r->HasHeader("set-cookie"));
    EXPECT_FALSE(r->HasHeader("x-evil"));
  }
}

TEST(HttpServerTest, HeadGetsContentLengthButNoBody) {
  auto server = MustStart({}, [](ServerRequest, std::shared_ptr<ServerReply> reply) {
    reply->Send({.body = "12345"});
  });
  ASSERT_NE(server, nullptr);
  RawClient c(server->Port());
  ASSERT_TRUE(c.Send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.ReadResponse(/*head_request=*/true);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("content-length"), "5");
  // No body bytes followed: the next response starts right away.
  ASSERT_TRUE(c.Send(Get("/")));
  auto next = c.ReadResponse();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(next->body, "12345");
}

TEST(HttpServerTest, ChunkedRequestBodyIsDecoded) {
  auto server = MustStart({}, EchoHandler);
  ASSERT_NE(server, nullptr);
  RawClient c(server->Port());
  ASSERT_TRUE(
      c.Send("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST /c hello world");
}

TEST(HttpServerTest, ExpectContinueIsAnswered) {
  auto server = MustStart({}, EchoHandler);
  ASSERT_NE(server, nullptr);
  RawClient c(server->Port());
  ASSERT_TRUE(
      c.Send("PUT /e HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  ASSERT_TRUE(c.ReadUntil("HTTP/1.1 100 Continue\r\n\r\n"));
  ASSERT_TRUE(c.Send("body"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "PUT /e body");
}

TEST(HttpServerTest, Http10GetsCloseUnlessKeepAlive) {
  auto server = MustStart({}, EchoHandler);
  ASSERT_NE(server, nullptr);
  RawClient keep(server->Port());
  ASSERT_TRUE(keep.Send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto r1 = keep.ReadResponse();
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(r1->Header("connection"), "keep-alive");
  RawClient once(server->Port());
  ASSERT_TRUE(once.Send("GET /b HTTP/1.0\r\n\r\n"));
  auto r2 = once.ReadResponse();
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->Header("connection"), "close");
  EXPECT_EQ(r2->body, "GET /b ");
  EXPECT_TRUE(once.WaitClosed());
}

TEST(HttpServerTest, StreamDeliversEventsAndNoticesTheClientLeaving) {
  Slot<std::shared_ptr<ServerStream>> streams;
  auto server = MustStart({}, [&](ServerRequest, std::shared_ptr<ServerReply> reply) {
    streams.Set(reply->Stream(200, "text/event-stream", {{"Cache-Control", "no-cache"}}));
  });
  ASSERT_NE(server, nullptr);
  RawClient c(server->Port());
  ASSERT_TRUE(c.Send(Get("/v1/rollouts/default/x?watch=1")));
  auto head = c.ReadHead();
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("content-type"), "text/event-stream");
  EXPECT_EQ(head->Header("cache-control"), "no-cache");
  EXPECT_EQ(head->Header("transfer-encoding"), "chunked");
  EXPECT_FALSE(head->HasHeader("content-length"));
  auto stream = streams.Take();
  ASSERT_TRUE(stream.has_value());
  std::shared_ptr<ServerStream> s = *stream;
  EXPECT_TRUE(s->Open());
  std::thread writer([s] {
    for (int i = 1; i <= 3; ++i) s->Write("data: event " + std::to_string(i) + "\n\n");
  });
  writer.join();
  std::string events;
  while (events.find("data: event 3\n\n") == std::string::npos) {
    auto chunk = c.ReadChunk();
    ASSERT_TRUE(chunk.has_value()) << "so far: " << events;
    ASSERT_FALSE(chunk->empty());
    events += *chunk;
  }
  EXPECT_EQ(events, "data: event 1\n\ndata: event 2\n\ndata: event 3\n\n");
  EXPECT_TRUE(s->Open());
  c.Close();
  EXPECT_TRUE(WaitUntil([&] { return !s->Open(); }))
      << "the stream did not notice the client leaving";
  EXPECT_FALSE(s->Write("data: too late\n\n"));
}

TEST(HttpServerTest, EndedStreamFreesTheConnectionForTheNextRequest) {
  Slot<std::shared_ptr<ServerStream>> streams;
  auto server = MustStart({}, [&](ServerRequest request, std::shared_ptr<ServerReply> reply) {
    if (request.path == "/stream") {
      streams.Set(reply->Stream(200, "text/event-stream"));
    } else if (request.path == "/dropped-stream") {
      auto s = reply->Stream(200, "text/plain");
      s->Write("only piece");
      // Dropping the last reference ends the stream.
    } else {
      EchoHandler(std::move(request), std::move(reply));
    }
  });
  ASSERT_NE(server, nullptr);
  RawClient c(server->Port());
  ASSERT_TRUE(c.Send(Get("/stream")));
  auto s = streams.Take();
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE((*s)->Write("a"));
  EXPECT_TRUE((*s)->Write(""));  // ignored, not the end
  EXPECT_TRUE((*s)->Write("b"));
  (*s)->End();
  EXPECT_FALSE((*s)->Open());
  EXPECT_FALSE((*s)->Write("c"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "ab");
  ASSERT_TRUE(c.Send(Get("/dropped-stream")));
  auto dropped = c.ReadResponse();
  ASSERT_TRUE(dropped.has_value());
  EXPECT_EQ(dropped->body, "only piece");
  ASSERT_TRUE(c.Send(Get("/after")));
  auto after = c.ReadResponse();
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->body, "GET /after ");
}

TEST(HttpServerTest, SecondAnswerAfterStreamIsIgnored) {
  Slot<std::shared_ptr<ServerStream>> second;
  auto server = MustStart({}, [&](ServerRequest, std::shared_ptr<ServerReply> reply) {
    auto s = reply->Stream(200, "text/plain");
    s->Write("x");
    second.Set(reply->Stream(200, "text/plain"));
    reply->Send({.body = "ignored"});
    s->End();
  });
  ASSERT_NE(server, nullptr);
  RawClient c(server->Port());
  ASSERT_TRUE(c.Send(Get("/")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "x");
  auto s = second.Take();
  ASSERT_TRUE(s.has_value());
  EXPECT_FALSE((*s)->Open());
  EXPECT_FALSE((*s)->Write("y"));
}

TEST(HttpServerTest, StreamToAClientThatDoesNotReadIsClosed) {
  HttpServerOptions options;
  options.max_stream_buffer_bytes = 256 * 1024;
  Slot<std::shared_ptr<ServerStream>> streams;
  auto server = MustStart(options, [&](ServerRequest, std::shared_ptr<ServerReply> reply) {
    streams.Set(reply->Stream(200, "text/event-stream"));
  });
  ASSERT_NE(server, nullptr);
  RawClient c(server->Port());
  ASSERT_TRUE(c.Send(Get("/watch")));
  auto s = streams.Take();
  ASSERT_TRUE(s.has_value());
  // The client reads nothing: the kernel's buffers fill, then the queue, then Write fails.
  const std::string piece(64 * 1024, 'x');
  int written = 0;
  while (written < 4096 && (*s)->Write(piece)) ++written;
  EXPECT_LT(written, 4096) << "Write never reported the full queue";
  EXPECT_TRUE(WaitUntil([&] { return !(*s)->Open(); }));
  EXPECT_TRUE(c.WaitClosed(10s));
}

TEST(HttpServerTest, HeaderTooLargeIs431) {
  HttpServerOptions options;
  options.max_header_bytes = 1024;
  auto server = MustStart(options, EchoHandler);
  ASSERT_NE(server, nullptr);
  RawClient c(server->Port());
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(c.WaitClosed());
}

TEST(HttpServerTest, BodyTooLargeIs413) {
  HttpServerOptions options;
  options.max_body_bytes = 1000;
  auto server = MustStart(options, EchoHandler);
  ASSERT_NE(server, nullptr);
  {
    RawClient c(server->Port());
    ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n"));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(c.WaitClosed());
  }
  {
    RawClient c(server->Port());
    std::string chunk(600, 'x');
    ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
    ASSERT_TRUE(c.Send("258\r\n" + chunk + "\r\n258\r\n" + chunk + "\r\n0\r\n\r\n"));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(c.WaitClosed());
  }
  {
    RawClient c(server->Port());  // exactly at the limit is fine
    ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" +
                       std::string(1000, 'y')));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
  }
}

TEST(HttpServerTest, MalformedRequestsAre400) {
  auto server = MustStart({}, EchoHandler);
  ASSERT_NE(server, nullptr);
  const std::string inputs[] = {
      "this is not http\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
      "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n",
      "GET /a%00b HTTP/1.1\r\nHost: t\r\n\r\n",
      "GET noslash HTTP/1.1\r\nHost: t\r\n\r\n",
  };
  for (const std::string& input : inputs) {
    RawClient c(server->Port());
    ASSERT_TRUE(c.Send(input));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value()) << input;
    EXPECT_EQ(r->status, 400) << input;
    EXPECT_EQ(r->body.rfind("malformed request", 0), 0u) << r->body;
    EXPECT_TRUE(c.WaitClosed()) << input;
  }
}

TEST(HttpServerTest, SlowHeaderIs408) {
  HttpServerOptions options;
  options.header_timeout = 200ms;
  auto server = MustStart(options, EchoHandler);
  ASSERT_NE(server, nullptr);
  RawClient slow(server->Port());
  ASSERT_TRUE(slow.Send("GET / HTTP/1.1\r\nHost: t\r\n"));  // never finished
  auto r = slow.ReadResponse(false, 5s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(slow.WaitClosed());
  // A connection that sends nothing at all is closed without an answer.
  RawClient silent(server->Port());
  ASSERT_TRUE(silent.WaitClosed());
  EXPECT_TRUE(silent.buffer().empty());
}

TEST(HttpServerTest, IdleKeepAliveConnectionIsClosed) {
  HttpServerOptions options;
  options.idle_timeout = 200ms;
  auto server = MustStart(options, EchoHandler);
  ASSERT_NE(server, nullptr);
  RawClient c(server->Port());
  ASSERT_TRUE(c.Send(Get("/")));
  ASSERT_TRUE(c.ReadResponse().has_value());
  auto start = SteadyClock::now();
  EXPECT_TRUE(c.WaitClosed(5s));
  EXPECT_GE(SteadyClock::now() - start, 150ms);
  EXPECT_TRUE(c.buffer().empty());
}

TEST(HttpServerTest, ConnectionsBeyondTheCapAreClosed) {
  HttpServerOptions options;
  options.max_connections = 2;
  auto server = MustStart(options, EchoHandler);
  ASSERT_NE(server, nullptr);
  auto a = std::make_unique<RawClient>(server->Port());
  RawClient b(server->Port());
  for (RawClient* c : {a.get(), &b}) {
    ASSERT_TRUE(c->Send(Get("/")));
    ASSERT_TRUE(c->ReadResponse().has_value());
  }
  RawClient extra(server->Port());
  EXPECT_TRUE(extra.WaitClosed());
  EXPECT_TRUE(extra.buffer().empty());
  // Once a connection goes, a new one is served again.
  a.reset();
  EXPECT_TRUE(WaitUntil([&] {
    RawClient c(server->Port());
    if (!c.Send(Get("/again"))) return false;
    auto r = c.ReadResponse(false, 1s);
    return r.has_value() && r->status == 200;
  }));
}

TEST(HttpServerTest, StopWithAnOpenStreamReturnsPromptly) {
  Slot<std::shared_ptr<ServerStream>> streams;
  Slot<std::shared_ptr<ServerReply>> pending;
  auto server = MustStart({}, [&](ServerRequest request, std::shared_ptr<ServerReply> reply) {
    if (request.path == "/stream") {
      streams.Set(reply->Stream(200, "text/event-stream"));
    } else {
      pending.Set(std::move(reply));
    }
  });
  ASSERT_NE(server, nullptr);
  RawClient watcher(server->Port());
  ASSERT_TRUE(watcher.Send(Get("/stream")));
  ASSERT_TRUE(watcher.ReadHead().has_value());
  RawClient waiting(server->Port());
  ASSERT_TRUE(waiting.Send(Get("/unanswered")));
  auto stream = streams.Take();
  auto reply = pending.Take();
  ASSERT_TRUE(stream.has_value() && reply.has_value());
  ASSERT_TRUE((*stream)->Write("data: 1\n\n"));

  auto start = SteadyClock::now();
  server->Stop();
  EXPECT_LT(SteadyClock::now() - start, 2s);
  EXPECT_FALSE((*stream)->Open());
  EXPECT_FALSE((*stream)->Write("data: 2\n\n"));
  EXPECT_TRUE(watcher.WaitClosed());
  EXPECT_TRUE(waiting.WaitClosed());
  server.reset();
  // Answering after the server is gone does nothing.
  (*reply)->Send({.body = "too late"});
  (*stream)->End();
  reply->reset();
  stream->reset();
}

TEST(HttpServerTest, ManyThreadsServeConcurrentClients) {
  HttpServerOptions options;
  options.threads = 4;
  auto server = MustStart(options, EchoHandler);
  ASSERT_NE(server, nullptr);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      RawClient c(server->Port());
      for (int j = 0; j < 10; ++j) {
        std::string path = "/c" + std::to_string(i) + "/" + std::to_string(j);
        if (!c.Send(Get(path))) return;
        auto r = c.ReadResponse();
        if (r && r->body == "GET " + path + " ") ok.fetch_add(1);
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 80);
}

TEST(HttpServerTest, BindErrorsNameTheAddress) {
  auto first = MustStart({}, EchoHandler);
  ASSERT_NE(first, nullptr);
  HttpServerOptions taken;
  taken.address = first->Address();
  auto second = HttpServer::Start(taken, EchoHandler);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.error().message().find(first->Address()), std::string::npos)
      << second.error().message();

  HttpServerOptions unresolvable;
  unresolvable.address = "no-such-host.invalid:0";
  auto third = HttpServer::Start(unresolvable, EchoHandler);
  ASSERT_FALSE(third.has_value());
  EXPECT_EQ(third.error().code(), StatusCode::kUnavailable);
  EXPECT_NE(third.error().message().find("no-such-host.invalid:0"), std::string::npos);

  HttpServerOptions foreign;
  foreign.address = "192.0.2.1:0";  // TEST-NET-1: not an address of this host
  auto fourth = HttpServer::Start(foreign, EchoHandler);
  ASSERT_FALSE(fourth.has_value());
  EXPECT_EQ(fourth.error().code(), StatusCode::kUnavailable);
  EXPECT_NE(fourth.error().message().find("192.0.2.1:0"), std::string::npos);

  for (std::string bad : {"", "127.0.0.1", "127.0.0.1:99999", "::1:80", "[::1", "host:x"}) {
    HttpServerOptions options;
    options.address = bad;
    auto s = HttpServer::Start(options, EchoHandler);
    ASSERT_FALSE(s.has_value()) << bad;
    EXPECT_EQ(s.error().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(HttpServer::Start({}, nullptr).has_value());
}

TEST(HttpServerTest, SurvivesRandomGarbage) {
  HttpServerOptions options;
  options.header_timeout = 500ms;
  options.max_body_bytes = 4096;
  auto server = MustStart(options, EchoHandler);
  ASSERT_NE(server, nullptr);
  std::mt19937 rng(20240611);
  auto random_bytes = [&](size_t n) {
    std::string out(n, '\0');
    for (char& c : out) c = static_cast<char>(rng() & 0xff);
    return out;
  };
  const std::string prefixes[] = {
      "",
      "GET /",
      "GET / HTTP/1.1\r\n",
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nContent-Length: 11\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  // a TLS ClientHello on the plain port
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
  };
  for (int i = 0; i < 200; ++i) {
    RawClient c(server->Port());
    ASSERT_TRUE(c.connected()) << i;
    std::string payload = prefixes[rng() % std::size(prefixes)] + random_bytes(rng() % 2048);
    c.Send(payload);
    c.ShutdownWrite();
    EXPECT_TRUE(c.WaitClosed(5s)) << "garbage #" << i << " left the connection open";
  }
  RawClient c(server->Port());
  ASSERT_TRUE(c.Send(Get("/still-alive")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /still-alive ");
}

// TLS: a self-signed certificate made with the openssl CLI once for the suite.
class HttpServerTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
      skip_reason_ = "the openssl CLI is not installed: cannot make a test certificate";
      return;
    }
    dir_ = std::filesystem::temp_directory_path() /
           ("ramp_http_server_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    const std::string d = dir_.string();
    std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 "
        "-keyout '" +
        d + "/key.pem' -out '" + d +
        "/cert.pem' >/dev/null 2>&1 && "
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
        "-out '" +
        d + "/other_key.pem' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) setup_error_ = "openssl failed: " + cmd;
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }
  static std::string File(const std::string& name) { return (dir_ / name).string(); }

  static inline std::string skip_reason_;
  static inline std::string setup_error_;
  static inline std::filesystem::path dir_;
};

TEST_F(HttpServerTlsTest, ServesHttpsToTheHttpClient) {
  HttpServerOptions options;
  options.tls_cert_file = File("cert.pem");
  options.tls_key_file = File("key.pem");
  Slot<std::shared_ptr<ServerStream>> streams;
  auto server = MustStart(options, [&](ServerRequest request, std::shared_ptr<ServerReply> reply) {
    if (request.path == "/stream") {
      auto s = reply->Stream(200, "text/event-stream");
      s->Write("data: 1\n\n");
      s->Write("data: 2\n\n");
      s->End();
      return;
    }
    EchoHandler(std::move(request), std::move(reply));
  });
  ASSERT_NE(server, nullptr);
  auto client = NewHttpClient();
  const std::string port = std::to_string(server->Port());

  HttpRequest verified;
  verified.url = "https://localhost:" + port + "/secure";
  verified.ca_file = File("cert.pem");
  auto r1 = SendAndWait(*client, verified);
  ASSERT_TRUE(r1.has_value()) << r1.error().ToString();
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r1->body, "GET /secure ");

  HttpRequest insecure;
  insecure.method = "POST";
  insecure.url = "https://127.0.0.1:" + port + "/post";
  insecure.body = "over tls";
  insecure.insecure_skip_verify = true;
  auto r2 = SendAndWait(*client, insecure);
  ASSERT_TRUE(r2.has_value()) << r2.error().ToString();
  EXPECT_EQ(r2->body, "POST /post over tls");

  HttpRequest stream;
  stream.url = "https://localhost:" + port + "/stream";
  stream.ca_file = File("cert.pem");
  auto r3 = SendAndWait(*client, stream);
  ASSERT_TRUE(r3.has_value()) << r3.error().ToString();
  EXPECT_EQ(r3->body, "data: 1\n\ndata: 2\n\n");

  // Plain HTTP on the TLS port gets no answer, and the server goes on.
  RawClient plain(server->Port());
  ASSERT_TRUE(plain.Send(Get("/")));
  EXPECT_TRUE(plain.WaitClosed());
  auto r4 = SendAndWait(*client, verified);
  ASSERT_TRUE(r4.has_value()) << r4.error().ToString();
  EXPECT_EQ(r4->status, 200);
}

TEST_F(HttpServerTlsTest, BadCertificateFilesAreErrors) {
  const std::string garbage = File("garbage.pem");
  {
    std::ofstream out(garbage);
    out << "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
  }
  struct Case {
    std::string cert, key, want;
  };
  const Case cases[] = {
      {File("missing.pem"), File("key.pem"), "missing.pem"},
      {File("cert.pem"), File("missing-key.pem"), "missing-key.pem"},
      {garbage, File("key.pem"), "garbage.pem"},
      {File("cert.pem"), garbage, "garbage.pem"},
      {File("cert.pem"), File("other_key.pem"), "does not match"},
      {File("cert.pem"), "", "set together"},
  };
  for (const Case& c : cases) {
    HttpServerOptions options;
    options.tls_cert_file = c.cert;
    options.tls_key_file = c.key;
    auto server = HttpServer::Start(options, EchoHandler);
    ASSERT_FALSE(server.has_value()) << c.cert << " " << c.key;
    EXPECT_EQ(server.error().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(server.error().message().find(c.want), std::string::npos) << server.error().message();
  }
}

}  // namespace
}  // namespace ramp::net
