#include "server/http_server.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
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
#include <set>
#include <thread>

#include "common/connection_threads.h"
#include "common/crypto.h"
#include "common/socket.h"
#include "common/timed_stream.h"

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

void SplitTarget(HttpRequest* r) {
  size_t q = r->target.find('?');
  r->path = r->target.substr(0, q);
  r->query.clear();
  if (q != std::string::npos) ParseQuery(std::string_view(r->target).substr(q + 1), &r->query);
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
  std::unique_ptr<asio::ip::tcp::acceptor> tcp;
  std::unique_ptr<asio::local::stream_protocol::acceptor> local;
  std::string address;
  std::string unix_path;
  std::atomic<bool> draining{false};
  std::mutex mu;
  std::condition_variable cv;
  int inflight = 0;  // requests from their handler's start until their answer is written
  int turns = 0;     // handlers running (at most opt.workers)
  bool stopped = false;
  std::unique_ptr<ConnectionThreads> connections;

  // A turn to run a handler (at most opt.workers at once); the request is in flight from here
  // until End(), so a draining shutdown waits for its answer to be written.
  void Begin() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return turns < std::max(1, opt.workers); });
    ++turns;
    ++inflight;
  }
  // The handler returned: its turn goes to the next request, while the answer is written.
  void EndTurn() {
    std::lock_guard<std::mutex> lock(mu);
    --turns;
    cv.notify_all();
  }
  void End() {
    std::lock_guard<std::mutex> lock(mu);
    --inflight;
    cv.notify_all();
  }

  HttpResponse Error(ErrorCode code, const std::string& message) const {
    if (opt.error) return opt.error(code, message);
    HttpResponse r;
    r.status = HttpStatusOf(code);
    r.body = "{\"error\":{\"code\":\"" + std::string(ErrorCodeName(code)) + "\",\"message\":\"" +
             message + "\"}}";
    return r;
  }

  template <class Acceptor, class Protocol>
  void Accept(Acceptor* acc);
  template <class Protocol>
  void Serve(typename Protocol::socket& socket, const std::string& peer);
};

namespace {

std::string PeerOf(const asio::ip::tcp::socket& s) {
  beast::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "";
  return ep.address().to_string();
}
std::string PeerOf(const asio::local::stream_protocol::socket&) { return "unix"; }

}  // namespace

// One connection, on a thread of its own: read a request (headers within idle_timeout, the rest
// within read_timeout), run the handler, write the answer, again while keep-alive lasts. A request
// costs its own syscalls and no wake-up of any other thread (the hand-offs of a shared event loop
// were a third of serve's CPU per request: docs/performance.md); a handler that blocks holds only
// its own connection.
template <class Protocol>
void HttpServer::Impl::Serve(typename Protocol::socket& socket, const std::string& peer) {
  beast::error_code ec;
  socket.non_blocking(true, ec);  // TimedStream polls before every call
  TimedStream<Protocol> stream(socket);
  beast::flat_buffer buffer;
  unsigned version = 11;
  std::string method;
  auto write = [&](HttpResponse r, bool keep_alive) {
    http::response<http::string_body> res(static_cast<http::status>(r.status), version);
    res.set(http::field::server, "plugin-sandbox");
    res.set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res.set(k, v);
    res.body() = std::move(r.body);
    bool keep = keep_alive && !draining;
    res.keep_alive(keep);
    res.prepare_payload();
    if (opt.on_response) opt.on_response(method.empty() ? "?" : method, r.status);
    stream.expires_after(opt.read_timeout);
    beast::error_code wec;
    http::write(stream, res, wec);
    return keep && !wec;
  };
  // Answers a request this connection will not serve; the rest of the request may still be
  // arriving, so the connection lingers before it closes (common/socket.h says why).
  bool linger = false;
  LingerLimits linger_limits;
  auto fail = [&](ErrorCode code, const std::string& message) {
    write(Error(code, message), false);
    linger = true;
  };
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    // No body cap until the header says which endpoint this is.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    method.clear();
    stream.expires_after(opt.idle_timeout);
    http::read_header(stream, buffer, parser, ec);
    if (ec) {
      if (ec == http::error::body_limit) {
        fail(ErrorCode::kPayloadTooLarge, "request body is too large");
      } else if (ec == http::error::header_limit) {
        fail(ErrorCode::kBadRequest, "request headers are larger than 64 KiB");
      } else if (IsParseError(ec)) {
        fail(ErrorCode::kBadRequest, "malformed HTTP request: " + ec.message());
      }
      break;
    }
    auto& head = parser.get();
    method = std::string(head.method_string());
    version = head.version();
    if (draining) {
      fail(ErrorCode::kUnavailable, "the host is shutting down");
      break;
    }
    size_t limit =
        opt.body_limit ? opt.body_limit(method, std::string(head.target())) : size_t(1) << 20;
    if (auto len = parser.content_length(); len && *len > limit) {
      fail(ErrorCode::kPayloadTooLarge, "request body of " + std::to_string(*len) +
                                            " bytes is larger than " + std::to_string(limit) +
                                            " bytes");
      // A client such as curl sends the whole body before it reads the answer: a close before
      // the last byte fails its send, and the 413 is lost. So the declared body is read and
      // thrown away, up to 1 GiB, for at most as long as a body may take to arrive.
      linger_limits.bytes = size_t(std::min<uint64_t>(*len + 65536, uint64_t(1) << 30));
      linger_limits.time = std::min(
          opt.read_timeout,
          std::chrono::milliseconds(2000 + int64_t(*len >> 24) * 1000));  // 16 MiB/s at worst
      break;
    }
    parser.body_limit(limit);
    stream.expires_after(opt.read_timeout);
    if (beast::iequals(head[http::field::expect], "100-continue") && !parser.is_done()) {
      http::response<http::empty_body> cont(http::status::continue_, head.version());
      http::write(stream, cont, ec);
      if (ec) break;
    }
    if (!parser.is_done()) http::read(stream, buffer, parser, ec);
    if (ec == http::error::body_limit) {
      fail(ErrorCode::kPayloadTooLarge,
           "request body is larger than " + std::to_string(limit) + " bytes");
      break;
    }
    if (ec) {
      if (IsParseError(ec)) fail(ErrorCode::kBadRequest, "malformed HTTP request: " + ec.message());
      break;
    }
    auto msg = parser.release();
    HttpRequest r;
    r.method = method;
    r.target = std::string(msg.target());
    SplitTarget(&r);
    for (const auto& f : msg)
      r.headers.emplace_back(Lower(f.name_string()), std::string(f.value()));
    r.body = std::move(msg.body());
    r.peer = peer;
    r.keep_alive = msg.keep_alive();

    Begin();
    HttpResponse res;
    try {
      res = handler(r);
    } catch (const std::exception& e) {
      spdlog::error("handler for {} {} threw: {}", r.method, r.path, e.what());
      res = Error(ErrorCode::kInternalError, std::string("internal error: ") + e.what());
    }
    EndTurn();  // a slow reader of the answer holds only its connection, not a turn
    if (res.status == 101 && res.takeover && !draining) {
      End();
      if (opt.on_response) opt.on_response(method, 101);
      std::string head = "HTTP/1.1 101 Switching Protocols\r\n";
      for (const auto& [k, v] : res.headers) head += k + ": " + v + "\r\n";
      head += "\r\n";
      stream.expires_after(opt.read_timeout);
      beast::error_code wec;
      asio::write(stream, asio::buffer(head), wec);
      if (wec) break;
      std::string pending = beast::buffers_to_string(buffer.data());
      socket.non_blocking(false, wec);
      res.takeover(socket.native_handle(), std::move(pending));
      break;
    }
    bool again = write(std::move(res), r.keep_alive);
    End();
    if (!again) break;
  }
  beast::error_code ignored;
  if (linger) {
    LingeringClose(socket.native_handle(), linger_limits);
  } else {
    socket.shutdown(Protocol::socket::shutdown_send, ignored);
  }
}

template <class Acceptor, class Protocol>
void HttpServer::Impl::Accept(Acceptor* acc) {
  acc->async_accept(ioc, [this, acc](beast::error_code ec, typename Protocol::socket socket) {
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
    // The socket is closed on its thread while the io_context exists (Shutdown waits for it).
    std::string why;
    if (!connections->Start(
            std::make_unique<typename Protocol::socket>(std::move(socket)),
            [this](typename Protocol::socket& s) { Serve<Protocol>(s, PeerOf(s)); }, "", &why)) {
      spdlog::warn("{}", why);
    }
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
  impl->connections =
      std::make_unique<ConnectionThreads>(size_t(std::max(1, impl->opt.max_connections)));
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

  impl->work.emplace(asio::make_work_guard(impl->ioc));
  if (impl->tcp) {
    impl->Accept<asio::ip::tcp::acceptor, asio::ip::tcp>(impl->tcp.get());
  } else {
    impl->Accept<asio::local::stream_protocol::acceptor, asio::local::stream_protocol>(
        impl->local.get());
  }
  Impl* raw = impl.get();
  // Accepts only: each connection has a thread of its own.
  impl->io_threads.emplace_back([raw] {
    for (int restarts = 0; restarts < 1000; ++restarts) {
      try {
        raw->ioc.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("HTTP accept thread: {}", e.what());
      }
    }
  });
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
  {
    // Idle keep-alive connections wake from their poll and end; a handler still running past
    // the drain finishes first (bounded by the plugins' limits).
    s.connections->ShutdownAll();
    s.connections->WaitIdle();
  }
  if (!s.unix_path.empty()) ::unlink(s.unix_path.c_str());
  s.stopped = true;
}

}  // namespace ps::server
