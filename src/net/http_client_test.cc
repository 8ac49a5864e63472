#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
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
using testing::TestRequest;
using testing::TestResponse;

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

}  // namespace
}  // namespace ramp
