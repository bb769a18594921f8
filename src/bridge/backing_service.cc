#include "bridge/backing_service.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/connection_threads.h"
#include "common/crypto.h"
#include "common/socket.h"

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

}  // namespace

struct BackingService::Impl {
  Impl(Bridge& b, InvocationLookup l, BackingServiceOptions o)
      : bridge(b),
        lookup(std::move(l)),
        options(o),
        connections(std::make_unique<ConnectionThreads>(size_t(std::max(1, o.max_connections)))) {
    guard.emplace(asio::make_work_guard(ioc));
    accept_thread = std::thread([this] {
      for (int restarts = 0; restarts < 1000; ++restarts) {
        try {
          ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("bridge accept thread: {}", e.what());
        }
      }
    });
  }

  Bridge& bridge;
  InvocationLookup lookup;
  BackingServiceOptions options;
  asio::io_context ioc;  // accepts only
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread accept_thread;
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> channels{0};
  std::atomic<bool> stopped{false};

  struct Listener {
    std::shared_ptr<Local::acceptor> acceptor;
    Binding binding;
  };
  std::mutex mu;
  std::map<std::string, Listener> listeners;
  // A thread per connection, grouped by listener path (Close shuts a listener's down).
  std::unique_ptr<ConnectionThreads> connections;
  // Open call channels by invocation id (under mu): EndInvocation shuts them down, so no channel
  // outlives its invocation whatever the plugin's code does to its WebSocket.
  std::multimap<std::string, int> channel_fds;

  void Accept(const std::string& path);
  void ServeConnection(Local::socket& socket, const Binding& binding);
  Reply Serve(const Binding& b, const http::request<http::string_body>& req);
  Reply Call(const Binding& b, std::string_view auth, std::string_view inv_id,
             std::string_view method, std::string_view params);
  Status AdmitTo(const Binding& b, const Invocation* inv, const Grant& g) const;
  Reply OpenChannel(const Binding& b, const http::request<http::string_body>& req);
  void ServeChannel(Local::socket& socket, const Binding& b,
                    const http::request<http::string_body>& req);
};

namespace {

std::string ErrorJson(const std::string& msg) {
  json::object o;
  o["error"] = msg;
  return Stringify(o);
}

}  // namespace

Reply BackingService::Impl::Serve(const Binding& b, const http::request<http::string_body>& req) {
  std::string_view target(req.target());
  target = target.substr(0, target.find('?'));
  if (!target.empty() && target[0] == '/') target.remove_prefix(1);
  if (req.method() != http::verb::post) {
    ++calls;
    return Reply{405, ErrorJson("Bridge calls must use POST")};
  }
  // The wrapper sends small params in x-ps-params and no body (cheaper for workerd).
  std::string_view body = req.body();
  auto inline_params = req.find("x-ps-params");
  if (body.empty() && inline_params != req.end()) body = inline_params->value();
  return Call(b, req[http::field::authorization], req["x-ps-invocation"], target, body);
}

// One bridge call, from a request or a channel message: authentication first (bridge.md §2.2
// steps 1-2), then this socket's binding and the invocation, then the call itself.
Reply BackingService::Impl::Call(const Binding& b, std::string_view auth, std::string_view inv_id,
                                 std::string_view method, std::string_view params) {
  ++calls;
  std::shared_ptr<Invocation> inv =
      inv_id.empty() ? nullptr : lookup(b.plugin_id, b.version, std::string(inv_id));
  return bridge.Handle(auth, method, params, inv.get(),
                       [&](const Grant& g) { return AdmitTo(b, inv.get(), g); });
}

Status BackingService::Impl::AdmitTo(const Binding& b, const Invocation* inv,
                                     const Grant& g) const {
  if (g.plugin_id != b.plugin_id || g.version != b.version) {
    return Status(Code::kUnauthenticated, "Invalid auth token");
  }
  if (!inv) {
    return Status(Code::kPermissionDenied,
                  "Bridge calls are only accepted during an invocation of "
                  "plugin " +
                      b.plugin_id + " (this one has ended or never started)")
        .With(ErrorCode::kInvocationEnded);
  }
  return Status::Ok();
}

// A call channel is admitted like a call (token, binding, live invocation); 101 when it is.
Reply BackingService::Impl::OpenChannel(const Binding& b,
                                        const http::request<http::string_body>& req) {
  std::string_view target(req.target());
  if (target != "/_channel") return Reply{404, ErrorJson("No such channel")};
  std::string inv_id(req["x-ps-invocation"]);
  std::shared_ptr<Invocation> inv =
      inv_id.empty() ? nullptr : lookup(b.plugin_id, b.version, inv_id);
  Reply r = bridge.Admit(req[http::field::authorization],
                         [&](const Grant& g) { return AdmitTo(b, inv.get(), g); });
  if (r.status == 200) r.status = 101;
  return r;
}

// The call channel (docs/architecture.md, "bridge calls"): a WebSocket an invocation opens once it
// makes several calls. A message "<id> <method>\n<params>" is one call, answered
// "<id> <status>\n<body>" with exactly what the HTTP request would have got; every message goes
// through Call, so each is authenticated, bound and checked against its invocation like a
// request. workerd sends a message for a fraction of what a fetch() costs it (docs/performance.md).
// Messages are served one at a time, in order: the wrapper keeps calls that can block for long
// (http/fetch) on requests of their own.
void BackingService::Impl::ServeChannel(Local::socket& socket, const Binding& b,
                                        const http::request<http::string_body>& req) {
  namespace websocket = beast::websocket;
  websocket::stream<Local::socket&> ws(socket);
  beast::error_code ec;
  const std::string auth(req[http::field::authorization]);
  const std::string inv_id(req["x-ps-invocation"]);
  const int fd = socket.native_handle();
  {
    std::lock_guard<std::mutex> lock(mu);
    channel_fds.emplace(inv_id, fd);
  }
  struct Unregister {
    Impl* impl;
    const std::string& inv;
    int fd;
    ~Unregister() {
      std::lock_guard<std::mutex> lock(impl->mu);
      auto [a, b] = impl->channel_fds.equal_range(inv);
      for (auto it = a; it != b; ++it) {
        if (it->second == fd) {
          impl->channel_fds.erase(it);
          break;
        }
      }
    }
  } unregister{this, inv_id, fd};
  // Registered first, then checked: an invocation that ended in between is not missed.
  if (!lookup(b.plugin_id, b.version, inv_id)) return;
  // Messages up to 4 MiB over the body cap still get the cap's 413 from Handle, as a request
  // would; only larger ones end the channel.
  ws.read_message_max(std::max<uint64_t>(bridge.options().max_body_bytes, 4 << 20) + 1024);
  ws.accept(req, ec);
  if (ec) return;
  ++channels;
  beast::flat_buffer in;
  std::string out;
  for (;;) {
    in.clear();
    ws.read(in, ec);
    if (ec) return;  // closed by the worker, by Close(), or a message over the cap
    std::string_view msg(static_cast<const char*>(in.data().data()), in.size());
    size_t space = msg.find(' ');
    size_t newline = msg.find('\n');
    if (space == std::string_view::npos || newline == std::string_view::npos || space > newline) {
      ws.close(websocket::close_reason(websocket::close_code::protocol_error, "malformed call"),
               ec);
      return;
    }
    Reply r =
        Call(b, auth, inv_id, msg.substr(space + 1, newline - space - 1), msg.substr(newline + 1));
    out.assign(msg.substr(0, space));
    out += ' ';
    out += std::to_string(r.status);
    out += '\n';
    out += r.body;
    ws.text(true);
    ws.write(asio::buffer(out), ec);
    if (ec) return;
  }
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
  acc->async_accept([this, path, acc, binding](boost::system::error_code ec, Local::socket s) {
    if (ec) return;  // closed
    {
      // Under mu, so that a Close() of this listener either comes first (nothing starts) or
      // finds the new connection to shut down.
      std::lock_guard<std::mutex> lock(mu);
      auto it = listeners.find(path);
      if (it == listeners.end() || it->second.acceptor != acc) return;
      std::string why;
      if (!connections->Start(
              std::make_unique<Local::socket>(std::move(s)),
              [this, binding](Local::socket& socket) { ServeConnection(socket, binding); }, path,
              &why)) {
        // The plugin's call fails; the service keeps accepting.
        spdlog::warn("bridge: {} (on {})", why, path);
      }
    }
    Accept(path);
  });
}

// One thread per connection, blocking reads and writes: workerd keeps a few keep-alive
// connections per plugin, and a call then costs its own syscalls only, with no wake-up of another
// thread (the shared io_context's scheduler was 41 % of the service's CPU: docs/performance.md).
// A call that blocks (SQLite, outbound HTTP) holds only its own connection.
void BackingService::Impl::ServeConnection(Local::socket& socket, const Binding& binding) {
  boost::system::error_code ignored;
  socket.non_blocking(false, ignored);
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(bridge.options().max_body_bytes);
    parser.header_limit(64 * 1024);
    beast::error_code ec;
    http::read(socket, buffer, parser, ec);
    Reply reply;
    bool keep_alive = false;
    bool unread_body = false;
    if (ec == http::error::body_limit) {
      reply = Reply{413, ErrorJson("Request body too large")};
      unread_body = true;  // Beast stops at the Content-Length header; the body is on its way
    } else if (ec) {
      break;  // closed, shut down by Close(), or a malformed request: drop the connection
    } else {
      http::request<http::string_body> req = parser.release();
      if (beast::websocket::is_upgrade(req)) {
        reply = OpenChannel(binding, req);
        if (reply.status == 101) {
          ServeChannel(socket, binding, req);
          break;  // a channel ends its connection
        }
      } else {
        keep_alive = req.keep_alive();
        reply = Serve(binding, req);
      }
    }
    http::response<http::string_body> res;
    res.result(http::int_to_status(unsigned(reply.status)));
    res.version(11);
    res.set(http::field::content_type, "application/json");
    res.keep_alive(keep_alive);
    res.body() = std::move(reply.body);
    res.prepare_payload();
    http::write(socket, res, ec);
    // Closing with the body still arriving would fail the sender's write, and workerd and curl
    // then report that instead of our 413 (it happened in CI).
    if (unread_body && !ec) LingeringClose(socket.native_handle());
    if (ec || !keep_alive) break;
  }
  // ConnectionThreads forgets the descriptor, then closes it while the io_context it belongs to
  // still exists (Stop() waits for that).
  socket.shutdown(Local::socket::shutdown_both, ignored);
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
    impl_->listeners[path] = Impl::Listener{acc, Binding{plugin_id, version}};
  }
  asio::post(impl_->ioc, [this, path] { impl_->Accept(path); });
  return Status::Ok();
}

void BackingService::Close(const std::string& path) {
  std::shared_ptr<Local::acceptor> acc;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->listeners.find(path);
    if (it == impl_->listeners.end()) return;
    acc = it->second.acceptor;
    // Unblocks each connection's thread; it forgets and closes its descriptor.
    impl_->connections->Shutdown(path);
    impl_->listeners.erase(it);
  }
  asio::post(impl_->ioc, [acc] {
    boost::system::error_code ec;
    acc->close(ec);
  });
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
  // The acceptor closes run first (posted before the stop).
  impl_->guard.reset();
  asio::post(impl_->ioc, [this] { impl_->ioc.stop(); });
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  // Connection threads: their reads were shut down; bridge work in flight finishes first.
  impl_->connections->WaitIdle();
}

uint64_t BackingService::calls_served() const { return impl_->calls.load(); }
uint64_t BackingService::channels_opened() const { return impl_->channels.load(); }

size_t BackingService::channels_open() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->channel_fds.size();
}

void BackingService::EndInvocation(const std::string& invocation_id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto [a, b] = impl_->channel_fds.equal_range(invocation_id);
  for (auto it = a; it != b; ++it) ::shutdown(it->second, SHUT_RDWR);
}

}  // namespace ps::bridge
