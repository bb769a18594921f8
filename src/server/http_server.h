// The HTTP/1.1 server of `serve` on Boost.Beast: listens on TCP (HOST:PORT; port 0 picks a free
// one) or a Unix socket (unix:PATH), keeps connections alive, caps request bodies.
//
// Contract:
// - One thread accepts; each connection then has a thread of its own that reads its requests,
//   runs the handler and writes the answers with blocking calls, so a request wakes no other
//   thread, and a handler that blocks (plugin invocations, SQL) holds only its own connection. At
//   most `workers` handlers run at once (the others wait for a turn) and at most
//   `max_connections` connections are open (more are closed at once). A handler that throws
//   answers 500 internal_error.
// - Bodies: `body_limit(method, target)` bytes at most; a larger body (by Content-Length or as
//   it streams) is answered 413 payload_too_large and the connection closed. Headers are capped
//   at 64 KiB (431-like 400). `Expect: 100-continue` is answered. Idle connections close after
//   idle_timeout; a request must arrive completely within read_timeout.
// - Shutdown(): stops accepting, answers requests that arrive meanwhile with 503, waits (bounded)
//   for in-flight requests to be answered (bounded by the plugins' limits), then closes the
//   remaining connections and waits for their threads.
// May call: common/. Called by: server/serve.cc.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ps::server {

struct HttpRequest {
  std::string method;  // as sent, e.g. GET
  std::string target;  // path and query, as sent
  std::string path;    // target without the query (still percent-encoded)
  std::vector<std::pair<std::string, std::string>> query;    // decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::string peer;  // client address ("unix" for a Unix socket)
  bool keep_alive = true;

  // The first header with this (lower-case) name, or null.
  const std::string* Header(const std::string& name) const;
  // The last query parameter with this name, or null.
  const std::string* Query(const std::string& name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // With status 101: the connection's new owner. After the 101 and `headers` are written it
  // runs on the connection's thread with the descriptor (blocking mode) and the bytes already
  // read past the request; the connection closes when it returns. It holds no handler turn.
  std::function<void(int fd, std::string pending)> takeover;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string listen = "127.0.0.1:8787";
  int workers = 16;            // handlers running at once
  int max_connections = 1024;  // open connections (a thread each)
  std::function<size_t(const std::string& method, const std::string& target)> body_limit;
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds read_timeout{60000};
  // Renders an error body for errors the server answers itself (413, 400, 503).
  std::function<HttpResponse(ErrorCode code, const std::string& message)> error;
  // Called after every response (for metrics).
  std::function<void(const std::string& method, int status)> on_response;
};

class HttpServer {
 public:
  // Binds and starts serving. Fails with a message naming the address.
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();  // Shutdown(0)
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Where it listens: "HOST:PORT" (the real port) or "unix:PATH".
  const std::string& address() const;
  // Stops accepting, lets in-flight requests finish within `drain`, then stops.
  void Shutdown(std::chrono::milliseconds drain);

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Fills r->path and r->query from r->target.
void SplitTarget(HttpRequest* r);

// Percent-decoding of a path segment or query component ('+' is a space only in queries).
std::string PercentDecode(std::string_view s, bool plus_is_space);

}  // namespace ps::server
