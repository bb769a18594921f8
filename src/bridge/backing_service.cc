#include "bridge/backing_service.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace ps::bridge {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Local = asio::local::stream_protocol;

struct Binding {
  std::string plugin_id;
  std::string version;
};

class Session;

}  // namespace

struct BackingService::Impl {
  Impl(Bridge& b, InvocationLookup l, BackingServiceOptions o) : bridge(b), lookup(std::move(l)) {
    guard.emplace(asio::make_work_guard(ioc));
    // One I/O thread plus the workers, all running the same io_context: a session's read, bridge
    // work and write run on its strand in one go, with no hand-off between threads per call.
    for (int i = 0; i < 1 + std::max(1, o.worker_threads); ++i) {
      threads.emplace_back([this] { ioc.run(); });
    }
  }

  Bridge& bridge;
  InvocationLookup lookup;
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::vector<std::thread> threads;
  std::atomic<uint64_t> calls{0};
  std::atomic<bool> stopped{false};

  struct Listener {
    std::shared_ptr<Local::acceptor> acceptor;
    Binding binding;
    std::set<std::weak_ptr<Session>, std::owner_less<std::weak_ptr<Session>>> sessions;
  };
  std::mutex mu;
  std::map<std::string, Listener> listeners;

  void Accept(const std::string& path);
  Reply Serve(const Binding& b, const http::request<http::string_body>& req);
};

namespace {

std::string ErrorJson(const std::string& msg) {
  json::object o;
  o["error"] = msg;
  return Stringify(o);
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(BackingService::Impl& impl, Local::socket socket, Binding binding)
      : impl_(impl), socket_(std::move(socket)), binding_(std::move(binding)) {}

  void Start() { Read(); }
  void Close() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      boost::system::error_code ec;
      self->socket_.close(ec);
    });
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(impl_.bridge.options().max_body_bytes);
    parser_->header_limit(64 * 1024);
    http::async_read(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      Write(Reply{413, ErrorJson("Request body too large")}, false);
      return;
    }
    if (ec) return;  // closed, or a malformed request: drop the connection
    http::request<http::string_body> req = parser_->release();
    bool keep_alive = req.keep_alive();
    // On this session's strand, on one of the service's threads: the bridge work may block
    // (SQLite, outbound HTTP) only this session, while the other threads serve the rest.
    Write(impl_.Serve(binding_, req), keep_alive);
  }

  void Write(const Reply& reply, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->result(http::int_to_status(unsigned(reply.status)));
    res->version(11);
    res->set(http::field::content_type, "application/json");
    res->keep_alive(keep_alive);
    res->body() = reply.body;
    res->prepare_payload();
    http::async_write(socket_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                        if (ec) return;
                        if (!keep_alive) {
                          boost::system::error_code ignored;
                          self->socket_.shutdown(Local::socket::shutdown_send, ignored);
                          return;
                        }
                        self->Read();
                      });
  }

  BackingService::Impl& impl_;
  Local::socket socket_;
  Binding binding_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

}  // namespace

Reply BackingService::Impl::Serve(const Binding& b, const http::request<http::string_body>& req) {
  ++calls;
  std::string target(req.target());
  size_t q = target.find('?');
  if (q != std::string::npos) target.resize(q);
  std::string method = target.empty() || target[0] != '/' ? target : target.substr(1);
  std::string auth(req[http::field::authorization]);
  std::string inv_id(req["x-ps-invocation"]);
  if (req.method() != http::verb::post) {
    return Reply{405, ErrorJson("Bridge calls must use POST")};
  }
  std::shared_ptr<Invocation> inv =
      inv_id.empty() ? nullptr : lookup(b.plugin_id, b.version, inv_id);
  // Authentication first (bridge.md §2.2 steps 1-2), then the binding and invocation checks.
  return bridge.Handle(auth, method, req.body(), inv.get(), [&](const Grant& g) -> Status {
    if (g.plugin_id != b.plugin_id || g.version != b.version) {
      return Status(Code::kUnauthenticated, "Invalid auth token");
    }
    if (!inv) {
      return Status(Code::kPermissionDenied,
                    "Bridge calls are only accepted during an invocation of "
                    "plugin " +
                        b.plugin_id +
                        " (this one has ended or never "
                        "started)")
          .WithDetailCode("invocation_ended");
    }
    return Status::Ok();
  });
}

void BackingService::Impl::Accept(const std::string& path) {
  std::shared_ptr<Local::acceptor> acc;
  Binding binding;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = listeners.find(path);
    if (it == listeners.end()) return;
    acc = it->second.acceptor;
    binding = it->second.binding;
  }
  acc->async_accept(asio::make_strand(ioc),
                    [this, path, acc, binding](boost::system::error_code ec, Local::socket s) {
                      if (ec) return;  // closed
                      auto session = std::make_shared<Session>(*this, std::move(s), binding);
                      {
                        std::lock_guard<std::mutex> lock(mu);
                        auto it = listeners.find(path);
                        if (it == listeners.end() || it->second.acceptor != acc) return;
                        it->second.sessions.insert(session);
                      }
                      session->Start();
                      Accept(path);
                    });
}

BackingService::BackingService(Bridge& bridge, InvocationLookup lookup,
                               BackingServiceOptions options)
    : impl_(std::make_unique<Impl>(bridge, std::move(lookup), options)) {}

BackingService::~BackingService() { Stop(); }

Status BackingService::Listen(const std::string& path, const std::string& plugin_id,
                              const std::string& version) {
  if (impl_->stopped) return Status(Code::kUnavailable, "backing service is stopped");
  ::unlink(path.c_str());
  auto acc = std::make_shared<Local::acceptor>(impl_->ioc);
  boost::system::error_code ec;
  acc->open(Local(), ec);
  if (!ec) acc->bind(Local::endpoint(path), ec);
  if (!ec) ::chmod(path.c_str(), 0600);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Internal("cannot listen on " + path + ": " + ec.message());
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->listeners[path] = Impl::Listener{acc, Binding{plugin_id, version}, {}};
  }
  asio::post(impl_->ioc, [this, path] { impl_->Accept(path); });
  return Status::Ok();
}

void BackingService::Close(const std::string& path) {
  Impl::Listener l;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->listeners.find(path);
    if (it == impl_->listeners.end()) return;
    l = std::move(it->second);
    impl_->listeners.erase(it);
  }
  asio::post(impl_->ioc, [acc = l.acceptor] {
    boost::system::error_code ec;
    acc->close(ec);
  });
  for (auto& w : l.sessions)
    if (auto s = w.lock()) s->Close();
  ::unlink(path.c_str());
}

void BackingService::Stop() {
  if (impl_->stopped.exchange(true)) return;
  std::vector<std::string> paths;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& [p, l] : impl_->listeners) paths.push_back(p);
  }
  for (auto& p : paths) Close(p);
  // The closes run first (posted before the stop); a handler already running (bridge work in
  // flight) finishes before its thread returns from run().
  impl_->guard.reset();
  asio::post(impl_->ioc, [this] { impl_->ioc.stop(); });
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
}

uint64_t BackingService::calls_served() const { return impl_->calls.load(); }

}  // namespace ps::bridge
