// HttpTestServer implementation: Beast on one io_context on one thread; certificates are made
// with OpenSSL's APIs in memory.

#include "net/testing/http_test_server.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

namespace ramp::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

struct OpenSslFree {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
template <typename T>
using OpenSslPtr = std::unique_ptr<T, OpenSslFree>;

std::string ToPem(X509* cert, EVP_PKEY* key) {
  OpenSslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio) throw std::runtime_error("BIO_new failed");
  if (cert != nullptr && PEM_write_bio_X509(bio.get(), cert) != 1) {
    throw std::runtime_error("PEM_write_bio_X509 failed");
  }
  if (key != nullptr &&
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw std::runtime_error("PEM_write_bio_PrivateKey failed");
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

// A P-256 certificate for `cn` with `extensions` (NID, value), signed by `issuer` (self-signed
// when null).
TestCertificate MakeCertificate(const std::string& cn,
                                const std::vector<std::pair<int, const char*>>& extensions,
                                const TestCertificate* issuer) {
  // Distinct serial numbers, so that certificates of different test CAs never look alike.
  static std::atomic<long> serial{1};
  OpenSslPtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  OpenSslPtr<X509> cert(X509_new());
  if (!key || !cert) throw std::runtime_error("OpenSSL allocation failed");
  OpenSslPtr<X509> issuer_cert;
  OpenSslPtr<EVP_PKEY> issuer_key;
  if (issuer != nullptr) {
    OpenSslPtr<BIO> cert_bio(
        BIO_new_mem_buf(issuer->cert_pem.data(), static_cast<int>(issuer->cert_pem.size())));
    OpenSslPtr<BIO> key_bio(
        BIO_new_mem_buf(issuer->key_pem.data(), static_cast<int>(issuer->key_pem.size())));
    if (!cert_bio || !key_bio) throw std::runtime_error("OpenSSL allocation failed");
    issuer_cert.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    issuer_key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (!issuer_cert || !issuer_key) throw std::runtime_error("bad issuer PEM");
  }
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer_cert = issuer_cert ? issuer_cert.get() : cert.get();
  EVP_PKEY* signer_key = issuer_key ? issuer_key.get() : key.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer_cert));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, signer_cert, cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr) throw std::runtime_error("X509 extension failed");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), signer_key, EVP_sha256()) == 0) {
    throw std::runtime_error("X509_sign failed");
  }
  return TestCertificate{ToPem(cert.get(), nullptr), ToPem(nullptr, key.get())};
}

// The subject CN of the peer's certificate, or "" without one.
std::string PeerCommonName(SSL* ssl) {
  OpenSslPtr<X509> peer(SSL_get1_peer_certificate(ssl));
  if (!peer) return "";
  char cn[256] = {};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer.get()), NID_commonName, cn, sizeof(cn)) <
      0) {
    return "";
  }
  return cn;
}

}  // namespace

TestCertificate MakeTestCa(const std::string& cn) {
  return MakeCertificate(cn,
                         {{NID_basic_constraints, "critical,CA:TRUE"},
                          {NID_key_usage, "critical,keyCertSign,cRLSign"}},
                         nullptr);
}

TestCertificate MakeTestClientCertificate(const std::string& cn, const TestCertificate& ca) {
  return MakeCertificate(cn,
                         {{NID_basic_constraints, "critical,CA:FALSE"},
                          {NID_key_usage, "critical,digitalSignature"},
                          {NID_ext_key_usage, "clientAuth"}},
                         &ca);
}

void TestBodyStream::Write(std::string piece) {
  std::lock_guard lock(mu_);
  pending_.pieces.push_back(std::move(piece));
  if (wake_) wake_();
}

void TestBodyStream::End() {
  std::lock_guard lock(mu_);
  pending_.end = true;
  if (wake_) wake_();
}

void TestBodyStream::Abort() {
  std::lock_guard lock(mu_);
  pending_.abort = true;
  if (wake_) wake_();
}

bool TestBodyStream::ClientClosed() const {
  std::lock_guard lock(mu_);
  return client_closed_;
}

void TestBodyStream::Attach(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  wake_ = std::move(wake);
  wake_();
}

void TestBodyStream::Detach() {
  std::lock_guard lock(mu_);
  wake_ = nullptr;
}

TestBodyStream::Pending TestBodyStream::Take() {
  std::lock_guard lock(mu_);
  Pending out = std::move(pending_);
  pending_ = {};
  // End and abort stay visible: a later Take must not forget that the body is over.
  pending_.end = out.end;
  pending_.abort = out.abort;
  return out;
}

void TestBodyStream::SetClientClosed() {
  std::lock_guard lock(mu_);
  client_closed_ = true;
}

struct HttpTestServer::Impl {
  TestHandler handler;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::optional<ssl::context> tls;
  std::string cert_pem;
  std::atomic<int> requests{0};
  int port = 0;
  std::thread thread;
  // Body streams that may wake the loop (server thread; read after it is joined).
  std::vector<std::shared_ptr<TestBodyStream>> body_streams;

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
        in.client_cert_cn = self->client_cert_cn;
        TestResponse out;
        try {
          out = self->impl->handler(in);
        } catch (const std::exception& e) {
          out = TestResponse{.status = 500, .body = e.what()};
        }
        self->keep_alive = self->request.keep_alive();
        if (out.close_without_answer) return self->Close();
        if (out.body_stream) return self->StartStream(std::move(out));
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

    // A streamed body: the header now (written by hand: Beast's serializer wants the whole
    // body), then whatever the test writes, as it writes it. Delays are not applied.
    void StartStream(TestResponse out) {
      body_stream = std::move(out.body_stream);
      chunked = out.chunked;
      std::string head = "HTTP/1.1 " + std::to_string(out.status) + " " +
                         std::string(http::obsolete_reason(static_cast<http::status>(out.status))) +
                         "\r\n";
      for (const auto& [name, value] : out.headers) head += name + ": " + value + "\r\n";
      if (chunked) head += "Transfer-Encoding: chunked\r\n";
      head += "Connection: close\r\n\r\n";
      impl->body_streams.push_back(body_stream);
      std::weak_ptr<Session> weak = this->shared_from_this();
      body_stream->Attach([weak, ioc = &impl->ioc] {
        asio::post(*ioc, [weak] {
          if (auto self = weak.lock()) self->Pump();
        });
      });
      WatchClient();
      Send(std::move(head), false);
    }

    // Reads (and ignores) what the client sends while the body streams: the read fails when the
    // client closes the connection, which is what the test wants to know.
    void WatchClient() {
      auto self = this->shared_from_this();
      stream.async_read_some(asio::buffer(scratch), [self](const error_code& ec, size_t) {
        if (self->closed) return;
        if (ec) {
          self->body_stream->SetClientClosed();
          return self->Close();
        }
        self->WatchClient();
      });
    }

    // Sends what the test wrote since the last call; one write at a time.
    void Pump() {
      if (writing || closed) return;
      TestBodyStream::Pending pending = body_stream->Take();
      std::string out;
      for (const auto& piece : pending.pieces) {
        if (piece.empty()) continue;  // an empty chunk would end the body
        if (chunked) {
          char size[32];
          std::snprintf(size, sizeof(size), "%zx\r\n", piece.size());
          out += size + piece + "\r\n";
        } else {
          out += piece;
        }
      }
      const bool last = pending.end || pending.abort;
      if (pending.end && chunked) out += "0\r\n\r\n";
      if (out.empty()) {
        if (last) Close();
        return;
      }
      Send(std::move(out), last);
    }

    void Send(std::string data, bool last) {
      writing = true;
      outgoing = std::move(data);
      auto self = this->shared_from_this();
      asio::async_write(stream, asio::buffer(outgoing), [self, last](const error_code& ec, size_t) {
        self->writing = false;
        // A failed write means the client closed or broke the connection.
        if (ec && !self->closed && self->body_stream) self->body_stream->SetClientClosed();
        if (ec || last) return self->Close();
        self->Pump();
      });
    }

    void Close() {
      closed = true;
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
    std::string client_cert_cn;
    // Streamed responses.
    std::shared_ptr<TestBodyStream> body_stream;
    bool chunked = false;
    bool writing = false;
    bool closed = false;
    std::string outgoing;
    char scratch[1024];
  };

  void Accept() {
    acceptor.async_accept([this](const error_code& ec, tcp::socket socket) {
      if (ec) return;
      if (tls) {
        auto session = std::make_shared<Session<ssl::stream<tcp::socket>>>(
            this, ssl::stream<tcp::socket>(std::move(socket), *tls));
        session->stream.async_handshake(ssl::stream_base::server, [session](const error_code& ec) {
          if (ec) return session->Close();
          session->client_cert_cn = PeerCommonName(session->stream.native_handle());
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
      // Self-signed and a CA, so that clients can trust it directly (ca_file / ca_pem).
      TestCertificate server =
          MakeCertificate("127.0.0.1",
                          {{NID_basic_constraints, "critical,CA:TRUE"},
                           {NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"}},
                          nullptr);
      impl_->cert_pem = server.cert_pem;
      impl_->tls.emplace(ssl::context::tls_server);
      impl_->tls->use_certificate_chain(asio::buffer(server.cert_pem));
      impl_->tls->use_private_key(asio::buffer(server.key_pem), ssl::context::pem);
      if (!options.client_ca_pem.empty()) {
        impl_->tls->add_certificate_authority(asio::buffer(options.client_ca_pem));
        impl_->tls->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
      }
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
  // The test may still hold a body stream: its writes must no longer reach the loop, which is
  // destroyed with impl_.
  for (const auto& body_stream : impl_->body_streams) body_stream->Detach();
}

int HttpTestServer::Port() const { return impl_->port; }

std::string HttpTestServer::Url() const {
  return std::string(impl_->tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(Port());
}

const std::string& HttpTestServer::CertPem() const { return impl_->cert_pem; }

int HttpTestServer::RequestCount() const { return impl_->requests.load(); }

}  // namespace ramp::testing
