#include "floor.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <filesystem>
#include <optional>
#include <thread>

#include "runner/worker_files.h"
#include "workerd/config.h"

namespace ps::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Local = asio::local::stream_protocol;

constexpr const char* kConstBody = R"({"result":null})";

// A WebSocket on the same server: every message is answered with the constant.
class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(Local::socket s, std::atomic<uint64_t>* counter)
      : ws_(std::move(s)), counter_(counter) {}
  void Start(http::request<http::string_body> req) {
    req_ = std::move(req);
    ws_.async_accept(req_, [self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Read();
    });
  }

 private:
  void Read() {
    buffer_.clear();
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;
      ++*self->counter_;
      self->ws_.text(true);
      self->ws_.async_write(asio::buffer(std::string_view(kConstBody)),
                            [self](beast::error_code ec, size_t) {
                              if (!ec) self->Read();
                            });
    });
  }
  beast::websocket::stream<Local::socket> ws_;
  std::atomic<uint64_t>* counter_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
};

class ConstSession : public std::enable_shared_from_this<ConstSession> {
 public:
  ConstSession(Local::socket s, std::atomic<uint64_t>* counter)
      : socket_(std::move(s)), counter_(counter) {}
  void Start() { Read(); }

 private:
  void Read() {
    req_ = {};
    http::async_read(socket_, buffer_, req_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return;
                       if (beast::websocket::is_upgrade(self->req_)) {
                         std::make_shared<WsSession>(std::move(self->socket_), self->counter_)
                             ->Start(std::move(self->req_));
                         return;
                       }
                       self->Write();
                     });
  }
  void Write() {
    ++*counter_;
    res_ = {};
    res_.result(http::status::ok);
    res_.version(11);
    res_.set(http::field::content_type, "application/json");
    res_.keep_alive(req_.keep_alive());
    res_.body() = kConstBody;
    res_.prepare_payload();
    http::async_write(socket_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;
      if (!self->res_.keep_alive()) {
        boost::system::error_code ignored;
        self->socket_.shutdown(Local::socket::shutdown_send, ignored);
        return;
      }
      self->Read();
    });
  }

  Local::socket socket_;
  std::atomic<uint64_t>* counter_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
};

}  // namespace

struct ConstServer::Impl {
  std::string path;
  asio::io_context ioc;
  std::optional<Local::acceptor> acceptor;
  std::thread thread;
  std::atomic<uint64_t> requests{0};
  bool ok = false;

  void Accept() {
    acceptor->async_accept([this](boost::system::error_code ec, Local::socket s) {
      if (ec) return;
      std::make_shared<ConstSession>(std::move(s), &requests)->Start();
      Accept();
    });
  }
};

ConstServer::ConstServer(const std::string& socket_path) : impl_(std::make_unique<Impl>()) {
  impl_->path = socket_path;
  ::unlink(socket_path.c_str());
  boost::system::error_code ec;
  impl_->acceptor.emplace(impl_->ioc);
  impl_->acceptor->open(Local(), ec);
  if (!ec) impl_->acceptor->bind(Local::endpoint(socket_path), ec);
  if (!ec) impl_->acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return;
  impl_->ok = true;
  impl_->Accept();
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

ConstServer::~ConstServer() {
  asio::post(impl_->ioc, [this] {
    boost::system::error_code ec;
    impl_->acceptor->close(ec);
  });
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  ::unlink(impl_->path.c_str());
}

bool ConstServer::ok() const { return impl_->ok; }
const std::string& ConstServer::path() const { return impl_->path; }
uint64_t ConstServer::requests() const { return impl_->requests.load(); }

namespace {

constexpr const char* kRawWorker =
    R"JS(// The floor: a worker that returns a constant. POST /hook/... reads the body first (the same
// request a hook invocation sends); /fetch/<n> calls BRIDGE n times first.
const CONSTANT = '{"value":{"ok":true}}';
const HEADERS = { "content-type": "application/json" };
export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    if (path === "/__invoke") {
      // The invocation channel's floor: every message "<id> <path>\n<input>" is answered with
      // "<id> 200\n" and the constant, as the runner's channel expects.
      const [client, server] = Object.values(new WebSocketPair());
      server.accept();
      server.addEventListener("message", (e) => {
        server.send(e.data.slice(0, e.data.indexOf(" ")) + " 200\n" + CONSTANT);
      });
      return new Response(null, { status: 101, webSocket: client });
    }
    if (path.startsWith("/hook/")) await request.arrayBuffer();
    if (path.startsWith("/fetch/")) {
      const n = Math.min(1000, Number(path.slice(7)) | 0);
      for (let i = 0; i < n; i++) {
        const r = await env.BRIDGE.fetch("http://bridge/kv/get", { method: "POST", body: "{}" });
        await r.text();
      }
    }
    if (path.startsWith("/ws/")) {
      // The same number of round trips as messages on one WebSocket to the same server.
      const n = Math.min(1000, Number(path.slice(4)) | 0);
      const up = await env.BRIDGE.fetch("http://bridge/ws", { headers: { Upgrade: "websocket" } });
      const ws = up.webSocket;
      ws.accept();
      let wake = null;
      ws.addEventListener("message", () => { const w = wake; wake = null; w(); });
      for (let i = 0; i < n; i++) {
        const p = new Promise((r) => { wake = r; });
        ws.send('{"method":"kv/get","params":{}}');
        await p;
      }
      ws.close();
    }
    return new Response(CONSTANT, { headers: HEADERS });
  },
};
)JS";

}  // namespace

std::unique_ptr<RawWorkerd> RawWorkerd::Start(const RawWorkerdOptions& o) {
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) return nullptr;
  std::unique_ptr<RawWorkerd> w(new RawWorkerd());
  w->dir_ = o.dir;
  w->socket_ = o.dir + "/raw.sock";
  ::unlink(w->socket_.c_str());
  if (!WriteFileText(o.dir + "/worker.js", kRawWorker)) return nullptr;
  if (!runner::WriteRefuseWorker(o.dir).ok()) return nullptr;
  workerd::ProcessConfig config;
  config.workers.push_back(workerd::Worker{"raw",
                                           {workerd::Module{"worker.js", "worker.js"}},
                                           w->socket_,
                                           o.fetch_socket,
                                           workerd::kCompatibilityDate,
                                           {"nodejs_compat"}});
  config.v8_flags = {"--max-old-space-size=" + std::to_string(o.heap_mb)};
  if (!WriteFileText(o.dir + "/config.capnp", workerd::RenderCapnp(config))) return nullptr;
  SpawnSpec spec;
  spec.launcher = o.launcher;
  spec.argv = {o.workerd, "serve", "config.capnp", "config"};
  spec.cwd = o.dir;
  spec.output_file = o.dir + "/output.log";
  spec.netns = o.netns;
  w->pid_ = SpawnChild(spec);
  if (w->pid_ <= 0) return nullptr;
  return w;
}

RawWorkerd::~RawWorkerd() {
  StopChild(pid_);
  ::unlink(socket_.c_str());
}

bool RawWorkerd::WaitReady(Clock::time_point deadline) {
  UnixHttpClient client(socket_, {});
  std::string body;
  for (int i = 0; i < 100000 && Clock::now() < deadline; ++i) {
    struct stat st;
    if (::stat(socket_.c_str(), &st) == 0 &&
        client.Post("http://raw/__ready", nullptr, &body, 1000) == 200) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling for readiness
  }
  return false;
}

std::string RawWorkerd::log() const { return ReadFileText(dir_ + "/output.log"); }

}  // namespace ps::bench
