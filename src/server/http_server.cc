#include "server/http_server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

namespace ps::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr size_t kHeaderLimit = 64 * 1024;

// A malformed request (answered 400), as opposed to a closed or timed-out connection.
bool IsParseError(const beast::error_code& ec) {
  static const auto& http_category = http::make_error_code(http::error::bad_target).category();
  return ec.category() == http_category && ec != http::error::end_of_stream &&
         ec != http::error::partial_message;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void ParseQuery(std::string_view q, std::vector<std::pair<std::string, std::string>>* out) {
  size_t pos = 0;
  for (size_t n = 0; pos <= q.size() && n < 10000; ++n) {
    size_t amp = q.find('&', pos);
    std::string_view part = q.substr(pos, amp == std::string_view::npos ? q.npos : amp - pos);
    if (!part.empty()) {
      size_t eq = part.find('=');
      std::string key = PercentDecode(part.substr(0, eq), true);
      std::string value =
          eq == std::string_view::npos ? "" : PercentDecode(part.substr(eq + 1), true);
      out->emplace_back(std::move(key), std::move(value));
    }
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
}

}  // namespace

std::string PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += char(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += (plus_is_space && c == '+') ? ' ' : c;
  }
  return out;
}

const std::string* HttpRequest::Header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return &v;
  return nullptr;
}

const std::string* HttpRequest::Query(const std::string& name) const {
  const std::string* found = nullptr;
  for (const auto& [k, v] : query)
    if (k == name) found = &v;
  return found;
}

struct HttpServer::Impl {
  HttpServerOptions opt;
  HttpHandler handler;
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> io_threads;
  std::unique_ptr<asio::thread_pool> workers;
  std::unique_ptr<asio::ip::tcp::acceptor> tcp;
  std::unique_ptr<asio::local::stream_protocol::acceptor> local;
  std::string address;
  std::string unix_path;
  std::atomic<bool> draining{false};
  std::mutex mu;
  std::condition_variable cv;
  int inflight = 0;
  bool stopped = false;

  void Begin() {
    std::lock_guard<std::mutex> lock(mu);
    ++inflight;
  }
  void End() {
    std::lock_guard<std::mutex> lock(mu);
    --inflight;
    cv.notify_all();
  }

  HttpResponse Error(int status, const std::string& code, const std::string& message) const {
    if (opt.error) return opt.error(status, code, message);
    HttpResponse r;
    r.status = status;
    r.body = "{\"error\":{\"code\":\"" + code + "\",\"message\":\"" + message + "\"}}";
    return r;
  }

  template <class Acceptor, class Protocol>
  void Accept(Acceptor* acc);
};

namespace {

template <class Protocol>
class Session : public std::enable_shared_from_this<Session<Protocol>> {
 public:
  using Stream = beast::basic_stream<Protocol, asio::any_io_executor, beast::unlimited_rate_policy>;

  Session(typename Protocol::socket&& socket, HttpServer::Impl* srv, std::string peer)
      : stream_(std::move(socket)), srv_(srv), peer_(std::move(peer)) {}

  void Run() {
    asio::dispatch(stream_.get_executor(),
                   [self = this->shared_from_this()] { self->ReadHeader(); });
  }

 private:
  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    // No body cap until the header says which endpoint this is (OnHeader sets it).
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    stream_.expires_after(srv_->opt.idle_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) {
      if (ec == http::error::body_limit) {
        return WriteError(413, "payload_too_large", "request body is too large");
      }
      if (ec == http::error::header_limit) {
        return WriteError(400, "bad_request", "request headers are larger than 64 KiB");
      }
      if (IsParseError(ec)) {
        return WriteError(400, "bad_request", "malformed HTTP request: " + ec.message());
      }
      return Close();
    }
    auto& req = parser_->get();
    method_ = std::string(req.method_string());
    if (srv_->draining) return WriteError(503, "unavailable", "the host is shutting down");
    size_t limit = srv_->opt.body_limit ? srv_->opt.body_limit(method_, std::string(req.target()))
                                        : size_t(1) << 20;
    if (auto len = parser_->content_length(); len && *len > limit) {
      return WriteError(413, "payload_too_large",
                        "request body of " + std::to_string(*len) + " bytes is larger than " +
                            std::to_string(limit) + " bytes");
    }
    parser_->body_limit(limit);
    limit_ = limit;
    stream_.expires_after(srv_->opt.read_timeout);
    if (beast::iequals(req[http::field::expect], "100-continue") && !parser_->is_done()) {
      auto res = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                    req.version());
      http::async_write(stream_, *res,
                        [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
                          if (ec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) {
      asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->OnBody({}); });
      return;
    }
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return WriteError(413, "payload_too_large",
                        "request body is larger than " + std::to_string(limit_) + " bytes");
    }
    if (ec) {
      if (IsParseError(ec)) {
        return WriteError(400, "bad_request", "malformed HTTP request: " + ec.message());
      }
      return Close();
    }
    auto msg = parser_->release();
    HttpRequest r;
    r.method = std::string(msg.method_string());
    r.target = std::string(msg.target());
    size_t q = r.target.find('?');
    r.path = r.target.substr(0, q);
    if (q != std::string::npos) ParseQuery(std::string_view(r.target).substr(q + 1), &r.query);
    for (const auto& f : msg)
      r.headers.emplace_back(Lower(f.name_string()), std::string(f.value()));
    r.body = std::move(msg.body());
    r.peer = peer_;
    r.keep_alive = msg.keep_alive();
    version_ = msg.version();

    srv_->Begin();
    auto self = this->shared_from_this();
    asio::post(*srv_->workers, [self, r = std::move(r)]() mutable {
      HttpResponse res;
      try {
        res = self->srv_->handler(r);
      } catch (const std::exception& e) {
        spdlog::error("handler for {} {} threw: {}", r.method, r.path, e.what());
        res = self->srv_->Error(500, "internal_error", std::string("internal error: ") + e.what());
      }
      asio::post(self->stream_.get_executor(),
                 [self, res = std::move(res), keep = r.keep_alive]() mutable {
                   self->Write(std::move(res), keep, /*counted=*/true);
                 });
    });
  }

  void WriteError(int status, const std::string& code, const std::string& message) {
    Write(srv_->Error(status, code, message), /*keep_alive=*/false, /*counted=*/false);
  }

  void Write(HttpResponse r, bool keep_alive, bool counted) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version_ ? version_ : 11);
    res->set(http::field::server, "plugin-sandbox");
    res->set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res->set(k, v);
    res->body() = std::move(r.body);
    bool keep = keep_alive && !srv_->draining;
    res->keep_alive(keep);
    res->prepare_payload();
    if (srv_->opt.on_response) srv_->opt.on_response(method_.empty() ? "?" : method_, r.status);
    stream_.expires_after(srv_->opt.read_timeout);
    http::async_write(
        stream_, *res,
        [self = this->shared_from_this(), res, keep, counted](beast::error_code ec, size_t) {
          if (counted) self->srv_->End();
          if (ec || !keep) return self->Close();
          self->ReadHeader();
        });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(Protocol::socket::shutdown_send, ec);
    stream_.close();
  }

  Stream stream_;
  HttpServer::Impl* srv_;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string method_;
  unsigned version_ = 11;
  size_t limit_ = 0;
};

std::string PeerOf(const asio::ip::tcp::socket& s) {
  beast::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "";
  return ep.address().to_string();
}
std::string PeerOf(const asio::local::stream_protocol::socket&) { return "unix"; }

}  // namespace

template <class Acceptor, class Protocol>
void HttpServer::Impl::Accept(Acceptor* acc) {
  acc->async_accept(
      asio::make_strand(ioc), [this, acc](beast::error_code ec, typename Protocol::socket socket) {
        if (ec == asio::error::operation_aborted || draining) return;
        if (ec) {
          // Out of descriptors and the like: back off briefly instead of spinning.
          spdlog::warn("accept failed: {}", ec.message());
          auto timer = std::make_shared<asio::steady_timer>(ioc, std::chrono::milliseconds(50));
          timer->async_wait([this, acc, timer](beast::error_code) {
            if (!draining) Accept<Acceptor, Protocol>(acc);
          });
          return;
        }
        std::string peer = PeerOf(socket);
        std::make_shared<Session<Protocol>>(std::move(socket), this, std::move(peer))->Run();
        Accept<Acceptor, Protocol>(acc);
      });
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

const std::string& HttpServer::address() const { return impl_->address; }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                      HttpHandler handler) {
  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(options);
  impl->handler = std::move(handler);
  const std::string listen = impl->opt.listen;
  beast::error_code ec;
  if (listen.rfind("unix:", 0) == 0) {
    std::string path = listen.substr(5);
    if (path.empty() || path.size() > 107) {
      return InvalidArgument("listen " + listen +
                             ": expected unix:PATH with a path of 1 to 107 bytes");
    }
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return InvalidArgument("listen " + listen + ": " + path +
                               " exists and is not a socket; refusing to replace it");
      }
      ::unlink(path.c_str());
    }
    std::error_code fec;
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, fec);
    impl->local = std::make_unique<asio::local::stream_protocol::acceptor>(impl->ioc);
    asio::local::stream_protocol::endpoint ep(path);
    impl->local->open(ep.protocol(), ec);
    if (!ec) impl->local->bind(ep, ec);
    if (!ec) impl->local->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return InvalidArgument("listen " + listen + ": " + ec.message());
    impl->unix_path = path;
    impl->address = listen;
  } else {
    size_t colon = listen.rfind(':');
    if (colon == std::string::npos) {
      return InvalidArgument("listen " + listen + ": expected HOST:PORT or unix:PATH");
    }
    std::string host = listen.substr(0, colon);
    std::string port = listen.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    if (host.empty()) host = "0.0.0.0";
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || p < 0 || p > 65535) {
      return InvalidArgument("listen " + listen + ": the port must be a number from 0 to 65535");
    }
    asio::ip::tcp::resolver resolver(impl->ioc);
    auto results = resolver.resolve(host, port, asio::ip::resolver_base::numeric_service, ec);
    if (ec || results.empty()) {
      return InvalidArgument("listen " + listen + ": cannot resolve " + host + ": " +
                             (ec ? ec.message() : "no addresses"));
    }
    asio::ip::tcp::endpoint ep = results.begin()->endpoint();
    impl->tcp = std::make_unique<asio::ip::tcp::acceptor>(impl->ioc);
    impl->tcp->open(ep.protocol(), ec);
    if (!ec) impl->tcp->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) impl->tcp->bind(ep, ec);
    if (!ec) impl->tcp->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return InvalidArgument("listen " + listen + ": " + ec.message());
    auto bound = impl->tcp->local_endpoint(ec);
    std::string addr = bound.address().to_string();
    if (bound.address().is_v6()) addr = "[" + addr + "]";
    impl->address = addr + ":" + std::to_string(bound.port());
  }

  impl->workers = std::make_unique<asio::thread_pool>(std::max(1, impl->opt.workers));
  impl->work.emplace(asio::make_work_guard(impl->ioc));
  if (impl->tcp) {
    impl->Accept<asio::ip::tcp::acceptor, asio::ip::tcp>(impl->tcp.get());
  } else {
    impl->Accept<asio::local::stream_protocol::acceptor, asio::local::stream_protocol>(
        impl->local.get());
  }
  Impl* raw = impl.get();
  for (int i = 0; i < std::max(1, impl->opt.io_threads); ++i) {
    impl->io_threads.emplace_back([raw] {
      for (int restarts = 0; restarts < 1000; ++restarts) {
        try {
          raw->ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("HTTP I/O thread: {}", e.what());
        }
      }
    });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::Shutdown(std::chrono::milliseconds drain) {
  Impl& s = *impl_;
  if (s.stopped) return;
  s.draining = true;
  asio::post(s.ioc, [&s] {
    beast::error_code ec;
    if (s.tcp) s.tcp->close(ec);
    if (s.local) s.local->close(ec);
  });
  {
    std::unique_lock<std::mutex> lock(s.mu);
    s.cv.wait_until(lock, std::chrono::steady_clock::now() + drain,
                    [&] { return s.inflight == 0; });
    if (s.inflight > 0) {
      spdlog::warn("shutdown: {} request(s) still in flight after {} ms; closing", s.inflight,
                   drain.count());
    }
  }
  s.work.reset();
  s.ioc.stop();
  for (auto& t : s.io_threads)
    if (t.joinable()) t.join();
  if (s.workers) s.workers->join();
  if (!s.unix_path.empty()) ::unlink(s.unix_path.c_str());
  s.stopped = true;
}

}  // namespace ps::server
