#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/testing/http_test_server.h"
#include "ramp/http_client.h"

namespace ramp {
namespace {

using testing::HttpTestServer;
using testing::HttpTestServerOptions;
using testing::MakeTestCa;
using testing::MakeTestClientCertificate;
using testing::TestBodyStream;
using testing::TestCertificate;
using testing::TestRequest;
using testing::TestResponse;

constexpr std::chrono::seconds kWaitLimit(20);

// Polls `condition` until it holds or `limit` has passed; false on timeout.
bool Eventually(const std::function<bool()>& condition, std::chrono::seconds limit = kWaitLimit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Collects one callback's result; Wait() polls with a bounded deadline.
class Result {
 public:
  HttpCallback Callback() {
    return [this](StatusOr<HttpResponse> r) {
      std::lock_guard lock(mu_);
      result_ = std::move(r);
      cv_.notify_all();
    };
  }
  // The result, or nullopt if none arrived within `limit`.
  std::optional<StatusOr<HttpResponse>> Wait(
      std::chrono::seconds limit = std::chrono::seconds(20)) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, limit, [&] { return result_.has_value(); });
    return result_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<StatusOr<HttpResponse>> result_;
};

StatusOr<HttpResponse> SendAndWait(HttpClient& client, HttpRequest request) {
  Result result;
  client.Send(std::move(request), result.Callback());
  auto r = result.Wait();
  if (!r) return Fail(InternalError("test: no callback within 20s"));
  return *r;
}

HttpRequest Get(const std::string& url) {
  HttpRequest request;
  request.url = url;
  request.timeout = std::chrono::seconds(10);
  return request;
}

TEST(HttpClientTest, GetReturnsBody) {
  HttpTestServer server([](const TestRequest& r) {
    return TestResponse{.status = 200, .body = "hello " + r.target};
  });
  auto client = NewHttpClient();
  auto r = SendAndWait(*client, Get(server.Url() + "/path?q=1"));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello /path?q=1");
  EXPECT_EQ(server.RequestCount(), 1);
}

TEST(HttpClientTest, ServerErrorIsAValue) {
  HttpTestServer server(
      [](const TestRequest&) { return TestResponse{.status = 500, .body = "x"}; });
  auto client = NewHttpClient();
  auto r = SendAndWait(*client, Get(server.Url()));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, "x");
}

TEST(HttpClientTest, HeadersSentAndReceived) {
  HttpTestServer server([](const TestRequest& r) {
    TestResponse out;
    for (const char* name : {"x-token", "host", "user-agent"}) {
      const std::string* value = FindHeader(r.headers, name);
      out.body += std::string(name) + "=" + (value ? *value : "<none>") + "\n";
    }
    out.headers = {{"X-Reply", "yes"}};
    return out;
  });
  auto client = NewHttpClient();
  HttpRequest request = Get(server.Url() + "/");
  request.headers = {{"X-Token", "abc"}};
  auto r = SendAndWait(*client, request);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->body, "x-token=abc\nhost=127.0.0.1:" + std::to_string(server.Port()) +
                         "\nuser-agent=ramp/" + std::string(RAMP_TEST_VERSION) + "\n");
  const std::string* reply = FindHeader(r->headers, "x-REPLY");
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(*reply, "yes");

  request.headers.emplace_back("User-Agent", "mine");
  r = SendAndWait(*client, request);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_NE(r->body.find("user-agent=mine\n"), std::string::npos) << r->body;
}

TEST(HttpClientTest, PostBody) {
  HttpTestServer server([](const TestRequest& r) {
    const std::string* length = FindHeader(r.headers, "Content-Length");
    return TestResponse{.body = r.method + " " + r.body + " " + (length ? *length : "none")};
  });
  auto client = NewHttpClient();
  HttpRequest request = Get(server.Url() + "/submit");
  request.method = "POST";
  request.body = "{\"a\":1}";
  auto r = SendAndWait(*client, request);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->body, "POST {\"a\":1} 7");
}

TEST(HttpClientTest, ChunkedResponse) {
  std::string big(100000, 'z');
  HttpTestServer server(
      [&](const TestRequest&) { return TestResponse{.body = big, .chunked = true}; });
  auto client = NewHttpClient();
  auto r = SendAndWait(*client, Get(server.Url()));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->body, big);
  const std::string* te = FindHeader(r->headers, "transfer-encoding");
  ASSERT_NE(te, nullptr);
  EXPECT_EQ(*te, "chunked");
}

TEST(HttpClientTest, HeadAndRedirectAreValues) {
  HttpTestServer server([](const TestRequest& r) {
    if (r.method == "HEAD") return TestResponse{.status = 200, .body = std::string(10, 'b')};
    return TestResponse{.status = 302, .headers = {{"Location", "/elsewhere"}}};
  });
  auto client = NewHttpClient();
  HttpRequest request = Get(server.Url());
  request.method = "HEAD";
  auto r = SendAndWait(*client, request);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
  r = SendAndWait(*client, Get(server.Url()));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(server.RequestCount(), 2);
}

TEST(HttpClientTest, BodyEndingAtConnectionClose) {
  for (bool tls : {false, true}) {
    HttpTestServer server(
        [](const TestRequest&) { return TestResponse{.body = "until close", .until_close = true}; },
        HttpTestServerOptions{.tls = tls});
    auto client = NewHttpClient();
    HttpRequest request = Get(server.Url());
    request.insecure_skip_verify = true;
    auto r = SendAndWait(*client, request);
    ASSERT_TRUE(r.has_value()) << "tls=" << tls << ": " << r.error().ToString();
    EXPECT_EQ(r->body, "until close");
  }
}

// A loopback port that was bound and closed, so nothing listens on it.
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(HttpClientTest, ConnectionRefusedIsUnavailable) {
  auto client = NewHttpClient();
  std::string url = "http://127.0.0.1:" + std::to_string(ClosedPort()) + "/x";
  auto r = SendAndWait(*client, Get(url));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kUnavailable) << r.error().ToString();
  EXPECT_NE(r.error().message().find("GET " + url), std::string::npos) << r.error().ToString();
}

TEST(HttpClientTest, SilentServerIsDeadlineExceeded) {
  HttpTestServer server(
      [](const TestRequest&) { return TestResponse{.delay = std::chrono::hours(1)}; });
  auto client = NewHttpClient();
  HttpRequest request = Get(server.Url() + "/slow");
  request.timeout = std::chrono::milliseconds(200);
  auto r = SendAndWait(*client, request);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kDeadlineExceeded) << r.error().ToString();
  EXPECT_NE(r.error().message().find("GET " + server.Url() + "/slow"), std::string::npos);
}

TEST(HttpClientTest, ClosedWithoutAnswerIsUnavailable) {
  HttpTestServer server(
      [](const TestRequest&) { return TestResponse{.close_without_answer = true}; });
  auto client = NewHttpClient();
  auto r = SendAndWait(*client, Get(server.Url()));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kUnavailable) << r.error().ToString();
}

TEST(HttpClientTest, BodyOverLimitIsResourceExhausted) {
  for (bool chunked : {false, true}) {
    HttpTestServer server([&](const TestRequest&) {
      return TestResponse{.body = std::string(5000, 'a'), .chunked = chunked};
    });
    auto client = NewHttpClient();
    HttpRequest request = Get(server.Url());
    request.max_response_bytes = 1000;
    auto r = SendAndWait(*client, request);
    ASSERT_FALSE(r.has_value()) << "chunked=" << chunked;
    EXPECT_EQ(r.error().code(), StatusCode::kResourceExhausted) << r.error().ToString();
  }
}

TEST(HttpClientTest, ArgumentErrorsAreInline) {
  auto client = NewHttpClient();
  for (const char* url :
       {"not a url", "ftp://127.0.0.1/x", "http://", "http://h:99999/", "http://127.0.0.1:80x/"}) {
    bool called = false;
    HttpRequest request = Get(url);
    client->Send(request, [&](StatusOr<HttpResponse> r) {
      called = true;
      ASSERT_FALSE(r.has_value());
      EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument) << r.error().ToString();
      EXPECT_NE(r.error().message().find(std::string("GET ") + url), std::string::npos);
    });
    EXPECT_TRUE(called) << url;
  }
  bool called = false;
  HttpRequest request = Get("http://127.0.0.1:1/");
  request.headers = {{"Bad\nName", "v"}};
  client->Send(request, [&](StatusOr<HttpResponse> r) {
    called = true;
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  });
  EXPECT_TRUE(called);

  called = false;
  request = Get("https://127.0.0.1:1/");
  request.ca_file = "/nonexistent/ramp-ca.pem";
  client->Send(request, [&](StatusOr<HttpResponse> r) {
    called = true;
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  });
  EXPECT_TRUE(called);
}

TEST(HttpClientTest, TlsVerificationFailureIsUnavailable) {
  HttpTestServer server([](const TestRequest&) { return TestResponse{.body = "secret"}; },
                        HttpTestServerOptions{.tls = true});
  auto client = NewHttpClient();
  auto r = SendAndWait(*client, Get(server.Url() + "/"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kUnavailable) << r.error().ToString();
  EXPECT_NE(r.error().message().find("verification"), std::string::npos) << r.error().ToString();
}

TEST(HttpClientTest, TlsInsecureSkipVerify) {
  HttpTestServer server([](const TestRequest&) { return TestResponse{.body = "secret"}; },
                        HttpTestServerOptions{.tls = true});
  auto client = NewHttpClient();
  HttpRequest request = Get(server.Url() + "/");
  request.insecure_skip_verify = true;
  auto r = SendAndWait(*client, request);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->body, "secret");
}

TEST(HttpClientTest, TlsWithCaFile) {
  HttpTestServer server([](const TestRequest&) { return TestResponse{.body = "secret"}; },
                        HttpTestServerOptions{.tls = true});
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("ramp-http-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::path ca = dir / "ca.pem";
  std::ofstream(ca) << server.CertPem();
  auto client = NewHttpClient();
  HttpRequest request = Get(server.Url() + "/");
  request.ca_file = ca.string();
  auto r = SendAndWait(*client, request);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->body, "secret");
}

TEST(HttpClientTest, ManyConcurrentRequests) {
  HttpTestServer server([](const TestRequest& r) { return TestResponse{.body = r.target}; });
  auto client = NewHttpClient();
  constexpr int kCount = 50;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  int ok = 0;
  for (int i = 0; i < kCount; ++i) {
    client->Send(Get(server.Url() + "/" + std::to_string(i)), [&, i](StatusOr<HttpResponse> r) {
      std::lock_guard lock(mu);
      if (r.has_value() && r->body == "/" + std::to_string(i)) ++ok;
      ++done;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait_for(lock, std::chrono::seconds(30), [&] { return done == kCount; });
  EXPECT_EQ(done, kCount);
  EXPECT_EQ(ok, kCount);
}

TEST(HttpClientTest, DestroyWithRequestInFlightIsCancelled) {
  HttpTestServer server(
      [](const TestRequest&) { return TestResponse{.delay = std::chrono::hours(1)}; });
  auto client = NewHttpClient();
  Result result;
  HttpRequest request = Get(server.Url() + "/hang");
  request.timeout = std::chrono::hours(1);
  client->Send(request, result.Callback());
  // Wait (bounded) until the server has the request, so the client is mid-exchange.
  for (int i = 0; i < 2000 && server.RequestCount() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  client.reset();
  auto r = result.Wait(std::chrono::seconds(0));
  ASSERT_TRUE(r.has_value()) << "callback must have run before the destructor returned";
  ASSERT_FALSE(r->has_value());
  EXPECT_EQ(r->error().code(), StatusCode::kCancelled) << r->error().ToString();
}

// ---- Streaming ----

// Records what a stream delivers, in order; waits are bounded.
class StreamRecorder {
 public:
  HttpStreamHandlers Handlers() {
    HttpStreamHandlers handlers;
    handlers.on_head = [this](const HttpResponse& head) {
      std::lock_guard lock(mu_);
      events_.push_back("head");
      head_ = head;
      cv_.notify_all();
    };
    handlers.on_data = [this](std::string_view data) {
      std::lock_guard lock(mu_);
      events_.push_back("data");
      data_ += data;
      cv_.notify_all();
    };
    return handlers;
  }
  StatusCallback Done() {
    return [this](Status status) {
      std::lock_guard lock(mu_);
      events_.push_back("done");
      done_.push_back(std::move(status));
      cv_.notify_all();
    };
  }

  bool WaitForData(const std::string& want) {
    return WaitUntil([&] { return data_ == want; });
  }
  bool WaitForHead() {
    return WaitUntil([&] { return head_.has_value(); });
  }
  // The status passed to `done`, or nullopt if done did not run within the limit.
  std::optional<Status> WaitForDone() {
    if (!WaitUntil([&] { return !done_.empty(); })) return std::nullopt;
    std::lock_guard lock(mu_);
    return done_.front();
  }

  std::string Data() {
    std::lock_guard lock(mu_);
    return data_;
  }
  std::optional<HttpResponse> Head() {
    std::lock_guard lock(mu_);
    return head_;
  }
  std::vector<Status> DoneCalls() {
    std::lock_guard lock(mu_);
    return done_;
  }
  // "head", "data" and "done", one per call, in order.
  std::vector<std::string> Events() {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  bool WaitUntil(const std::function<bool()>& condition) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWaitLimit, condition);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<HttpResponse> head_;
  std::string data_;
  std::vector<Status> done_;
  std::vector<std::string> events_;
};

// "head", then one "data" per piece, then "done": the order the contract promises.
void ExpectWellOrdered(const std::vector<std::string>& events) {
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front(), "head");
  EXPECT_EQ(events.back(), "done");
  for (size_t i = 1; i + 1 < events.size(); ++i) EXPECT_EQ(events[i], "data") << i;
}

TEST(HttpClientStreamTest, ChunkedPiecesArriveBeforeTheBodyEnds) {
  auto body = std::make_shared<TestBodyStream>();
  HttpTestServer server([&](const TestRequest&) {
    return TestResponse{
        .status = 201, .headers = {{"X-Kind", "watch"}}, .chunked = true, .body_stream = body};
  });
  auto client = NewHttpClient();
  StreamRecorder recorder;
  auto handle = client->Stream(Get(server.Url() + "/watch"), recorder.Handlers(), recorder.Done());
  ASSERT_NE(handle, nullptr);

  body->Write("{\"type\":\"ADDED\"}\n");
  // The server holds the rest until the client has delivered the first piece.
  ASSERT_TRUE(recorder.WaitForData("{\"type\":\"ADDED\"}\n")) << recorder.Data();
  auto head = recorder.Head();
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 201);
  EXPECT_EQ(head->body, "");
  const std::string* kind = FindHeader(head->headers, "x-kind");
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(*kind, "watch");
  EXPECT_TRUE(recorder.DoneCalls().empty()) << "done ran before the body ended";

  body->Write("{\"type\":");
  body->Write("\"MODIFIED\"}\n");
  body->End();
  auto done = recorder.WaitForDone();
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(done->ok()) << done->ToString();
  EXPECT_EQ(recorder.Data(), "{\"type\":\"ADDED\"}\n{\"type\":\"MODIFIED\"}\n");
  ExpectWellOrdered(recorder.Events());
  EXPECT_EQ(recorder.DoneCalls().size(), 1u);
}

TEST(HttpClientStreamTest, ContentLengthBodies) {
  // A whole body larger than one read, and a body written piece by piece whose end is known only
  // from its Content-Length (the server never closes the connection on its own).
  std::string big(200000, 'x');
  for (size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
  auto pieces = std::make_shared<TestBodyStream>();
  HttpTestServer server([&](const TestRequest& r) {
    if (r.target == "/big") return TestResponse{.body = big};
    return TestResponse{.headers = {{"Content-Length", "10"}}, .body_stream = pieces};
  });
  auto client = NewHttpClient();

  StreamRecorder whole;
  auto handle = client->Stream(Get(server.Url() + "/big"), whole.Handlers(), whole.Done());
  auto done = whole.WaitForDone();
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(done->ok()) << done->ToString();
  EXPECT_EQ(whole.Data(), big);
  ExpectWellOrdered(whole.Events());

  StreamRecorder counted;
  auto handle2 = client->Stream(Get(server.Url() + "/pieces"), counted.Handlers(), counted.Done());
  pieces->Write("hello");
  ASSERT_TRUE(counted.WaitForData("hello")) << counted.Data();
  EXPECT_TRUE(counted.DoneCalls().empty());
  pieces->Write("world");
  done = counted.WaitForDone();
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(done->ok()) << done->ToString();
  EXPECT_EQ(counted.Data(), "helloworld");
}

TEST(HttpClientStreamTest, EmptyBodiesEndAfterTheHead) {
  HttpTestServer server([](const TestRequest& r) {
    if (r.method == "HEAD") return TestResponse{.body = "not sent"};
    return TestResponse{.status = 204};
  });
  auto client = NewHttpClient();
  for (const char* method : {"GET", "HEAD"}) {
    StreamRecorder recorder;
    HttpRequest request = Get(server.Url());
    request.method = method;
    auto handle = client->Stream(request, recorder.Handlers(), recorder.Done());
    auto done = recorder.WaitForDone();
    ASSERT_TRUE(done.has_value()) << method;
    EXPECT_TRUE(done->ok()) << method << ": " << done->ToString();
    EXPECT_EQ(recorder.Events(), (std::vector<std::string>{"head", "done"})) << method;
  }
}

TEST(HttpClientStreamTest, CancelFromInsideOnData) {
  auto body = std::make_shared<TestBodyStream>();
  HttpTestServer server(
      [&](const TestRequest&) { return TestResponse{.chunked = true, .body_stream = body}; });
  auto client = NewHttpClient();
  std::mutex mu;
  std::unique_ptr<Subscription> handle;
  std::atomic<int> data_calls{0};
  std::atomic<int> done_calls{0};
  HttpStreamHandlers handlers;
  handlers.on_data = [&](std::string_view) {
    ++data_calls;
    std::unique_ptr<Subscription> mine;
    {
      std::lock_guard lock(mu);
      mine = std::move(handle);
    }
    mine.reset();  // re-entrant: on the client's thread, inside the handler
  };
  {
    std::lock_guard lock(mu);
    handle = client->Stream(Get(server.Url()), handlers, [&](Status) { ++done_calls; });
  }
  body->Write("one");
  // Dropping the handle closes the connection.
  ASSERT_TRUE(Eventually([&] { return body->ClientClosed(); }));
  body->Write("two");
  body->End();
  client.reset();  // joins the loop: anything still due has run
  EXPECT_EQ(data_calls.load(), 1);
  EXPECT_EQ(done_calls.load(), 0);
}

TEST(HttpClientStreamTest, CancelFromAnotherThreadWaitsForTheRunningHandler) {
  auto body = std::make_shared<TestBodyStream>();
  HttpTestServer server(
      [&](const TestRequest&) { return TestResponse{.chunked = true, .body_stream = body}; });
  auto client = NewHttpClient();
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> destroy_started{false};
  std::atomic<bool> destroyed{false};
  std::atomic<bool> returned_while_handler_ran{false};
  std::atomic<int> calls_after_destroy{0};
  std::atomic<int> data_calls{0};
  std::atomic<int> done_calls{0};
  HttpStreamHandlers handlers;
  handlers.on_data = [&](std::string_view) {
    if (destroyed) ++calls_after_destroy;
    if (++data_calls != 1) return;
    entered.set_value();
    released.wait_for(kWaitLimit);
    // Give a destructor that does not wait every chance to return while this handler runs.
    Eventually([&] { return destroy_started.load(); });
    for (int i = 0; i < 2000; ++i) {
      if (destroyed) {
        returned_while_handler_ran = true;
        break;
      }
      std::this_thread::yield();
    }
  };
  auto handle = client->Stream(Get(server.Url()), handlers, [&](Status) {
    if (destroyed) ++calls_after_destroy;
    ++done_calls;
  });
  body->Write("one");
  ASSERT_EQ(entered.get_future().wait_for(kWaitLimit), std::future_status::ready);
  std::thread dropper([&] {
    destroy_started = true;
    handle.reset();
    destroyed = true;
  });
  release.set_value();
  dropper.join();
  EXPECT_FALSE(returned_while_handler_ran) << "the destructor returned while on_data ran";

  ASSERT_TRUE(Eventually([&] { return body->ClientClosed(); }));
  body->Write("two");
  body->End();
  client.reset();
  EXPECT_EQ(calls_after_destroy.load(), 0);
  EXPECT_EQ(done_calls.load(), 0);
}

TEST(HttpClientStreamTest, TimeoutMidStreamIsDeadlineExceeded) {
  auto body = std::make_shared<TestBodyStream>();
  body->Write("first");  // sent right after the header; the body never ends
  HttpTestServer server(
      [&](const TestRequest&) { return TestResponse{.chunked = true, .body_stream = body}; });
  auto client = NewHttpClient();
  StreamRecorder recorder;
  HttpRequest request = Get(server.Url() + "/forever");
  request.timeout = std::chrono::milliseconds(1500);
  auto handle = client->Stream(request, recorder.Handlers(), recorder.Done());
  auto done = recorder.WaitForDone();
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->code(), StatusCode::kDeadlineExceeded) << done->ToString();
  EXPECT_NE(done->message().find("GET " + server.Url() + "/forever"), std::string::npos)
      << done->ToString();
  EXPECT_EQ(recorder.Data(), "first");
  ExpectWellOrdered(recorder.Events());
}

TEST(HttpClientStreamTest, ServerClosingMidBodyIsUnavailable) {
  for (bool tls : {false, true}) {
    for (bool chunked : {false, true}) {
      SCOPED_TRACE(std::string(tls ? "https" : "http") + (chunked ? " chunked" : " length"));
      auto body = std::make_shared<TestBodyStream>();
      HttpTestServer server(
          [&](const TestRequest&) {
            TestResponse out{.chunked = chunked, .body_stream = body};
            if (!chunked) out.headers = {{"Content-Length", "100"}};
            return out;
          },
          HttpTestServerOptions{.tls = tls});
      auto client = NewHttpClient();
      StreamRecorder recorder;
      HttpRequest request = Get(server.Url() + "/cut");
      request.ca_pem = server.CertPem();
      auto handle = client->Stream(request, recorder.Handlers(), recorder.Done());
      body->Write("partial");
      ASSERT_TRUE(recorder.WaitForData("partial")) << recorder.Data();
      body->Abort();
      auto done = recorder.WaitForDone();
      ASSERT_TRUE(done.has_value());
      EXPECT_EQ(done->code(), StatusCode::kUnavailable) << done->ToString();
      EXPECT_NE(done->message().find("GET " + server.Url() + "/cut"), std::string::npos)
          << done->ToString();
      ExpectWellOrdered(recorder.Events());
    }
  }
}

TEST(HttpClientStreamTest, HttpsWithCaPem) {
  auto body = std::make_shared<TestBodyStream>();
  HttpTestServer server(
      [&](const TestRequest& r) {
        if (r.target == "/until-close") {
          return TestResponse{.body = "to the end", .until_close = true};
        }
        return TestResponse{.chunked = true, .body_stream = body};
      },
      HttpTestServerOptions{.tls = true});
  auto client = NewHttpClient();
  StreamRecorder recorder;
  HttpRequest request = Get(server.Url() + "/watch");
  request.ca_pem = server.CertPem();
  auto handle = client->Stream(request, recorder.Handlers(), recorder.Done());
  body->Write("event 1\n");
  ASSERT_TRUE(recorder.WaitForData("event 1\n")) << recorder.Data();
  EXPECT_TRUE(recorder.DoneCalls().empty());
  body->Write("event 2\n");
  body->End();
  auto done = recorder.WaitForDone();
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(done->ok()) << done->ToString();
  EXPECT_EQ(recorder.Data(), "event 1\nevent 2\n");

  // A body that ends when the TLS connection does (without close_notify).
  StreamRecorder until_close;
  request.url = server.Url() + "/until-close";
  auto handle2 = client->Stream(request, until_close.Handlers(), until_close.Done());
  done = until_close.WaitForDone();
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(done->ok()) << done->ToString();
  EXPECT_EQ(until_close.Data(), "to the end");

  // Without ca_pem the system store does not know the server's certificate.
  StreamRecorder untrusted;
  request.ca_pem.clear();
  auto handle3 = client->Stream(request, untrusted.Handlers(), untrusted.Done());
  done = untrusted.WaitForDone();
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->code(), StatusCode::kUnavailable) << done->ToString();
  EXPECT_EQ(untrusted.Events(), std::vector<std::string>{"done"});
}

TEST(HttpClientStreamTest, ArgumentErrorsAreInline) {
  auto client = NewHttpClient();
  std::optional<Status> done;
  auto handle = client->Stream(Get("ftp://127.0.0.1/x"), {}, [&](Status s) { done = s; });
  EXPECT_NE(handle, nullptr);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->code(), StatusCode::kInvalidArgument) << done->ToString();
  EXPECT_NE(done->message().find("GET ftp://127.0.0.1/x"), std::string::npos);

  done.reset();
  HttpRequest request = Get("https://127.0.0.1:1/watch");
  request.client_cert_pem = "not a certificate";
  request.client_key_pem = "not a key";
  handle = client->Stream(request, {}, [&](Status s) { done = s; });
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->code(), StatusCode::kInvalidArgument) << done->ToString();
  EXPECT_NE(done->message().find("client_cert_pem"), std::string::npos) << done->ToString();
}

TEST(HttpClientStreamTest, DestroyingTheClientCancelsOpenStreams) {
  auto body = std::make_shared<TestBodyStream>();
  HttpTestServer server(
      [&](const TestRequest&) { return TestResponse{.chunked = true, .body_stream = body}; });
  auto client = NewHttpClient();
  StreamRecorder recorder;
  HttpRequest request = Get(server.Url() + "/watch");
  request.timeout = std::chrono::hours(1);
  auto handle = client->Stream(request, recorder.Handlers(), recorder.Done());
  ASSERT_TRUE(recorder.WaitForHead());
  client.reset();
  auto calls = recorder.DoneCalls();
  ASSERT_EQ(calls.size(), 1u) << "done must have run before the destructor returned";
  EXPECT_EQ(calls[0].code(), StatusCode::kCancelled) << calls[0].ToString();
  EXPECT_TRUE(Eventually([&] { return body->ClientClosed(); }));
  handle.reset();  // after the client: must neither crash nor call anything
  EXPECT_EQ(recorder.DoneCalls().size(), 1u);
}

// ---- TLS material in memory ----

TEST(HttpClientTlsTest, CaPemAndCaFileAreBothTrusted) {
  HttpTestServer server([](const TestRequest&) { return TestResponse{.body = "secret"}; },
                        HttpTestServerOptions{.tls = true});
  TestCertificate other = MakeTestCa("some other CA");
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("ramp-http-ca-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::path server_ca = dir / "server.pem";
  std::filesystem::path other_ca = dir / "other.pem";
  std::ofstream(server_ca) << server.CertPem();
  std::ofstream(other_ca) << other.cert_pem;
  auto client = NewHttpClient();

  struct Case {
    std::string ca_file, ca_pem;
  };
  for (const Case& c :
       {Case{other_ca.string(), server.CertPem()}, Case{server_ca.string(), other.cert_pem},
        Case{"", other.cert_pem + server.CertPem()}}) {
    HttpRequest request = Get(server.Url() + "/");
    request.ca_file = c.ca_file;
    request.ca_pem = c.ca_pem;
    auto r = SendAndWait(*client, request);
    ASSERT_TRUE(r.has_value()) << c.ca_file << ": " << r.error().ToString();
    EXPECT_EQ(r->body, "secret");
  }
  HttpRequest request = Get(server.Url() + "/");
  request.ca_pem = other.cert_pem;
  auto r = SendAndWait(*client, request);
  std::filesystem::remove_all(dir);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kUnavailable) << r.error().ToString();
  EXPECT_NE(r.error().message().find("verification"), std::string::npos) << r.error().ToString();
}

TEST(HttpClientTlsTest, BadCaPemIsInvalidArgument) {
  auto client = NewHttpClient();
  for (const char* pem : {"garbage",
                          "-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                          "-----END CERTIFICATE-----\n"}) {
    HttpRequest request = Get("https://127.0.0.1:1/x");
    request.ca_pem = pem;
    std::optional<StatusOr<HttpResponse>> result;
    client->Send(request, [&](StatusOr<HttpResponse> r) { result = std::move(r); });
    ASSERT_TRUE(result.has_value()) << "argument errors are reported inline";
    ASSERT_FALSE(result->has_value());
    EXPECT_EQ(result->error().code(), StatusCode::kInvalidArgument) << result->error().ToString();
    EXPECT_NE(result->error().message().find("GET https://127.0.0.1:1/x"), std::string::npos);
    EXPECT_NE(result->error().message().find("ca_pem"), std::string::npos)
        << result->error().ToString();
  }
}

class HttpClientMutualTlsTest : public ::testing::Test {
 protected:
  HttpClientMutualTlsTest()
      : client_ca_(MakeTestCa("ramp test client CA")),
        client_(MakeTestClientCertificate("ramp-controller", client_ca_)),
        server_(
            [](const TestRequest& r) { return TestResponse{.body = "hello " + r.client_cert_cn}; },
            HttpTestServerOptions{.tls = true, .client_ca_pem = client_ca_.cert_pem}) {}

  HttpRequest Request(const std::string& path = "/") {
    HttpRequest request = Get(server_.Url() + path);
    request.ca_pem = server_.CertPem();
    return request;
  }

  TestCertificate client_ca_;
  TestCertificate client_;
  HttpTestServer server_;
  std::unique_ptr<HttpClient> http_ = NewHttpClient();
};

TEST_F(HttpClientMutualTlsTest, ClientCertificateIsPresented) {
  HttpRequest request = Request();
  request.client_cert_pem = client_.cert_pem;
  request.client_key_pem = client_.key_pem;
  auto r = SendAndWait(*http_, request);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->body, "hello ramp-controller");

  // The same credentials on a stream (a Kubernetes watch with client-certificate-data).
  StreamRecorder recorder;
  auto handle = http_->Stream(request, recorder.Handlers(), recorder.Done());
  auto done = recorder.WaitForDone();
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(done->ok()) << done->ToString();
  EXPECT_EQ(recorder.Data(), "hello ramp-controller");
}

TEST_F(HttpClientMutualTlsTest, NoOrUntrustedCertificateIsUnavailable) {
  TestCertificate stranger =
      MakeTestClientCertificate("stranger", MakeTestCa("a CA the server does not trust"));
  HttpRequest without = Request("/none");
  HttpRequest untrusted = Request("/untrusted");
  untrusted.client_cert_pem = stranger.cert_pem;
  untrusted.client_key_pem = stranger.key_pem;
  for (const HttpRequest& request : {without, untrusted}) {
    auto r = SendAndWait(*http_, request);
    ASSERT_FALSE(r.has_value()) << request.url << ": " << r->body;
    EXPECT_EQ(r.error().code(), StatusCode::kUnavailable) << r.error().ToString();
    EXPECT_NE(r.error().message().find("GET " + request.url), std::string::npos)
        << r.error().ToString();
  }
}

TEST_F(HttpClientMutualTlsTest, BadClientCredentialsAreInvalidArgument) {
  TestCertificate other = MakeTestClientCertificate("other", client_ca_);
  const std::string bad_cert =
      "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
  struct Case {
    std::string name, cert, key, want;
  };
  const Case cases[] = {
      {"garbage cert", "garbage", client_.key_pem, "client_cert_pem"},
      {"bad base64 cert", bad_cert, client_.key_pem, "client_cert_pem"},
      {"garbage key", client_.cert_pem, "garbage", "client_key_pem"},
      {"key as cert", client_.key_pem, client_.key_pem, "client_cert_pem"},
      {"cert as key", client_.cert_pem, client_.cert_pem, "client_key_pem"},
      {"cert only", client_.cert_pem, "", "client_key_pem is empty"},
      {"key only", "", client_.key_pem, "client_cert_pem is empty"},
      {"mismatched key", client_.cert_pem, other.key_pem,
       "client_key_pem does not match client_cert_pem"},
  };
  for (const Case& c : cases) {
    HttpRequest request = Request("/creds");
    request.client_cert_pem = c.cert;
    request.client_key_pem = c.key;
    std::optional<StatusOr<HttpResponse>> result;
    http_->Send(request, [&](StatusOr<HttpResponse> r) { result = std::move(r); });
    ASSERT_TRUE(result.has_value()) << c.name << ": argument errors are reported inline";
    ASSERT_FALSE(result->has_value()) << c.name;
    const Status& error = result->error();
    EXPECT_EQ(error.code(), StatusCode::kInvalidArgument) << c.name << ": " << error.ToString();
    EXPECT_NE(error.message().find("GET " + request.url), std::string::npos) << error.ToString();
    EXPECT_NE(error.message().find(c.want), std::string::npos)
        << c.name << ": " << error.ToString();
  }
  EXPECT_EQ(server_.RequestCount(), 0);
}

}  // namespace
}  // namespace ramp
