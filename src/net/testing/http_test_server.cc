// HttpTestServer implementation: Beast on one io_context on one thread; the certificate is made
// with OpenSSL's APIs at start-up.

#include "net/testing/http_test_server.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

namespace ramp::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// A self-signed P-256 certificate for 127.0.0.1 and localhost: {cert PEM, key PEM}.
std::pair<std::string, std::string> MakeSelfSigned() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  if (key == nullptr || cert == nullptr) throw std::runtime_error("OpenSSL allocation failed");
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 7 * 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  const std::pair<int, const char*> extensions[] = {
      {NID_basic_constraints, "critical,CA:TRUE"},
      {NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
  };
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr) throw std::runtime_error("X509 extension failed");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert, key, EVP_sha256()) == 0) throw std::runtime_error("X509_sign failed");
  auto to_string = [](BIO* bio) {
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(size));
    BIO_free(bio);
    return out;
  };
  BIO* cert_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cert_bio, cert);
  BIO* key_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(key_bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::pair<std::string, std::string> out{to_string(cert_bio), to_string(key_bio)};
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

}  // namespace

struct HttpTestServer::Impl {
  TestHandler handler;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::optional<ssl::context> tls;
  std::string cert_pem;
  std::atomic<int> requests{0};
  int port = 0;
  std::thread thread;

  template <typename Stream>
  struct Session : std::enable_shared_from_this<Session<Stream>> {
    Session(Impl* impl, Stream stream) : impl(impl), stream(std::move(stream)), timer(impl->ioc) {}

    void Read() {
      auto self = this->shared_from_this();
      request = {};
      http::async_read(stream, buffer, request, [self](const error_code& ec, size_t) {
        if (ec) return self->Close();
        self->impl->requests++;
        TestRequest in;
        in.method = std::string(self->request.method_string());
        in.target = std::string(self->request.target());
        for (const auto& field : self->request) {
          in.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
        }
        in.body = self->request.body();
        TestResponse out;
        try {
          out = self->impl->handler(in);
        } catch (const std::exception& e) {
          out = TestResponse{.status = 500, .body = e.what()};
        }
        self->keep_alive = self->request.keep_alive();
        if (out.close_without_answer) return self->Close();
        self->response = {};
        self->response.result(static_cast<unsigned>(out.status));
        self->response.version(11);
        for (const auto& [name, value] : out.headers) self->response.insert(name, value);
        self->response.body() = std::move(out.body);
        if (out.until_close) {
          self->keep_alive = false;
        } else if (out.chunked) {
          self->response.chunked(true);
        } else {
          self->response.prepare_payload();
        }
        self->response.keep_alive(self->keep_alive);
        if (out.delay.count() > 0) {
          self->timer.expires_after(out.delay);
          self->timer.async_wait([self](const error_code& ec) {
            if (ec) return self->Close();
            self->Write();
          });
        } else {
          self->Write();
        }
      });
    }

    void Write() {
      auto self = this->shared_from_this();
      http::async_write(stream, response, [self](const error_code& ec, size_t) {
        if (ec || !self->keep_alive) return self->Close();
        self->Read();
      });
    }

    void Close() {
      error_code ignored;
      beast::get_lowest_layer(stream).shutdown(tcp::socket::shutdown_both, ignored);
      beast::get_lowest_layer(stream).close(ignored);
    }

    Impl* impl;
    Stream stream;
    asio::steady_timer timer;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::response<http::string_body> response;
    bool keep_alive = false;
  };

  void Accept() {
    acceptor.async_accept([this](const error_code& ec, tcp::socket socket) {
      if (ec) return;
      if (tls) {
        auto session = std::make_shared<Session<ssl::stream<tcp::socket>>>(
            this, ssl::stream<tcp::socket>(std::move(socket), *tls));
        session->stream.async_handshake(ssl::stream_base::server, [session](const error_code& ec) {
          if (ec) return session->Close();
          session->Read();
        });
      } else {
        std::make_shared<Session<tcp::socket>>(this, std::move(socket))->Read();
      }
      Accept();
    });
  }
};

HttpTestServer::HttpTestServer(TestHandler handler, HttpTestServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  try {
    if (options.tls) {
      auto [cert, key] = MakeSelfSigned();
      impl_->cert_pem = cert;
      impl_->tls.emplace(ssl::context::tls_server);
      impl_->tls->use_certificate_chain(asio::buffer(cert));
      impl_->tls->use_private_key(asio::buffer(key), ssl::context::pem);
    }
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    impl_->acceptor.open(endpoint.protocol());
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    impl_->acceptor.bind(endpoint);
    impl_->acceptor.listen();
    impl_->port = impl_->acceptor.local_endpoint().port();
  } catch (const std::exception& e) {
    std::cerr << "HttpTestServer: cannot start: " << e.what() << "\n";
    std::abort();
  }
  impl_->Accept();
  impl_->thread = std::thread([impl = impl_.get()] {
    try {
      impl->ioc.run();
    } catch (const std::exception& e) {
      std::cerr << "HttpTestServer: " << e.what() << "\n";
    }
  });
}

HttpTestServer::~HttpTestServer() {
  impl_->ioc.stop();
  impl_->thread.join();
}

int HttpTestServer::Port() const { return impl_->port; }

std::string HttpTestServer::Url() const {
  return std::string(impl_->tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(Port());
}

const std::string& HttpTestServer::CertPem() const { return impl_->cert_pem; }

int HttpTestServer::RequestCount() const { return impl_->requests.load(); }

}  // namespace ramp::testing
