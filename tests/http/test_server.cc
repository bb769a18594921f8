#include "http/test_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <mutex>
#include <thread>

namespace ps::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

std::string Serialize(const HttpReply& r) {
  std::string reason =
      r.reason ? *r.reason : std::string(bhttp::obsolete_reason(bhttp::int_to_status(r.status)));
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason + "\r\n";
  for (const auto& [n, v] : r.headers) out += n + ": " + v + "\r\n";
  if (!r.no_length) out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  out += "Connection: close\r\n\r\n";
  out += r.body;
  return out;
}

}  // namespace

std::vector<std::string> HttpRequest::All(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : headers)
    if (n == name) out.push_back(v);
  return out;
}

std::string HttpRequest::Header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return "";
}

struct TestServer::Impl {
  struct Session : std::enable_shared_from_this<Session> {
    Session(Impl* impl, tcp::socket s) : impl(impl), socket(std::move(s)) {}

    void Start() {
      parser.emplace();
      parser->body_limit(64u << 20);
      parser->header_limit(1u << 20);
      auto self = shared_from_this();
      bhttp::async_read(socket, buffer, *parser,
                        [self](beast::error_code ec, size_t) { self->OnRead(ec); });
    }

    void OnRead(beast::error_code ec) {
      if (ec) return;
      auto req = parser->release();
      HttpRequest r;
      r.method = std::string(req.method_string());
      r.target = std::string(req.target());
      for (const auto& f : req)
        r.headers.emplace_back(Lower(f.name_string()), std::string(f.value()));
      r.body = std::move(req.body());
      HttpReply reply = impl->Record(r);
      if (reply.hang) {
        impl->hung.push_back(shared_from_this());
        return;
      }
      out = Serialize(reply);
      auto self = shared_from_this();
      asio::async_write(socket, asio::buffer(out), [self](beast::error_code, size_t) {
        beast::error_code ignored;
        self->socket.shutdown(tcp::socket::shutdown_both, ignored);
        self->socket.close(ignored);
      });
    }

    Impl* impl;
    tcp::socket socket;
    beast::flat_buffer buffer;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser;
    std::string out;
  };

  explicit Impl(Handler h)
      : handler(std::move(h)),
        acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port = acceptor.local_endpoint().port();
    Accept();
    thread = std::thread([this] { ioc.run(); });
  }

  ~Impl() {
    ioc.stop();
    if (thread.joinable()) thread.join();
    hung.clear();
  }

  void Accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket s) {
      if (ec) return;
      std::make_shared<Session>(this, std::move(s))->Start();
      Accept();
    });
  }

  HttpReply Record(const HttpRequest& r) {
    {
      std::lock_guard<std::mutex> lock(mu);
      recorded.push_back(r);
    }
    return handler(r);
  }

  Handler handler;
  asio::io_context ioc;
  tcp::acceptor acceptor;
  uint16_t port = 0;
  std::vector<std::shared_ptr<Session>> hung;  // io thread only, until stopped
  mutable std::mutex mu;
  std::vector<HttpRequest> recorded;
  std::thread thread;
};

TestServer::TestServer()
    : TestServer([](const HttpRequest&) {
        HttpReply r;
        r.body = "ok";
        return r;
      }) {}

TestServer::TestServer(Handler handler) : impl_(std::make_unique<Impl>(std::move(handler))) {}

TestServer::~TestServer() = default;

uint16_t TestServer::port() const { return impl_->port; }

std::string TestServer::Url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port()) + std::string(path);
}

std::string TestServer::HostPort() const { return "127.0.0.1:" + std::to_string(port()); }

std::vector<HttpRequest> TestServer::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->recorded;
}

size_t TestServer::request_count() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->recorded.size();
}

}  // namespace ps::testing
