// A small HTTP/1.1 server on 127.0.0.1 (ephemeral port) for the outbound HTTP tests.
//
// One thread runs every connection (Boost.Asio, Beast's request parser). Each request is
// recorded and answered by the test's handler, then the connection is closed. A reply may also
// "hang" (read the request, never answer; for timeouts) or omit Content-Length (the body ends
// with the connection). The server stops itself when destroyed: the thread is joined and every
// socket closed, hung ones included.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ps::testing {

struct HttpRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case, in order
  std::string body;

  // Every value of a header (name lower-case), in order.
  std::vector<std::string> All(std::string_view name) const;
  // The first value, or "" when absent.
  std::string Header(std::string_view name) const;
  bool Has(std::string_view name) const { return !All(name).empty(); }
};

struct HttpReply {
  int status = 200;
  std::optional<std::string> reason;  // absent: the standard phrase; "" sends none
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool hang = false;       // never answer
  bool no_length = false;  // no Content-Length; the body ends when the connection closes

  static HttpReply Redirect(int status, std::string location) {
    HttpReply r;
    r.status = status;
    r.headers.emplace_back("Location", std::move(location));
    return r;
  }
};

class TestServer {
 public:
  using Handler = std::function<HttpReply(const HttpRequest&)>;

  // Default handler: 200 "ok" for everything.
  TestServer();
  explicit TestServer(Handler handler);
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  uint16_t port() const;
  // http://127.0.0.1:<port><path>
  std::string Url(std::string_view path = "/") const;
  // "127.0.0.1:<port>" (an --allow-private entry for this server only).
  std::string HostPort() const;

  std::vector<HttpRequest> requests() const;
  size_t request_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ps::testing
