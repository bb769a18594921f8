// The backing service: the host's HTTP/1.1 server for bridge calls, on Unix domain sockets.
//
// Each plugin process gets its own listening socket (mode 0600, inside the host's private runtime
// directory), bound to that plugin's (id, version): a token for any other plugin is refused on it
// even if valid. Every request must carry the plugin's bridge token and the id of a live
// invocation of that plugin (header x-ps-invocation); calls outside an invocation are refused, so
// per-invocation limits cannot be dodged by work left running after a hook returns.
//
// Threads: one accepts (Asio); each connection then has a thread of its own that reads, serves
// (SQLite, outbound HTTP) and answers its calls with blocking I/O, so a call costs no wake-up of
// another thread, and a call that blocks holds only its own connection. workerd keeps a few
// keep-alive connections per plugin process; at most max_connections are open at once.
// Wire: bridge.md §2.2 (401 texts, 413 over the body cap, 400 for bad JSON, envelopes of §2.3).
// A call channel: an invocation making several calls may upgrade one connection to a WebSocket
// (GET /_channel, same token and x-ps-invocation headers); each message is then one call,
// "<id> <method>\n<params>", answered "<id> <status>\n<body>" with the body a request would have
// got. Every message is authenticated, bound and checked against the invocation like a request.
// May call: bridge/. Called by: runner/.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "bridge/bridge.h"
#include "common/status.h"

namespace ps::bridge {

// Finds the live invocation `invocation_id` of plugin (id, version); null if none.
using InvocationLookup = std::function<std::shared_ptr<Invocation>(
    const std::string& plugin_id, const std::string& version, const std::string& invocation_id)>;

struct BackingServiceOptions {
  int max_connections = 1024;  // open bridge connections, over every plugin (a thread each)
};

class BackingService {
 public:
  BackingService(Bridge& bridge, InvocationLookup lookup, BackingServiceOptions options = {});
  ~BackingService();  // Stop()s
  BackingService(const BackingService&) = delete;
  BackingService& operator=(const BackingService&) = delete;

  // Listens on a new Unix socket at `path` for plugin (id, version). An existing file at path is
  // replaced.
  Status Listen(const std::string& path, const std::string& plugin_id, const std::string& version);
  // Stops listening on `path` and closes its open connections.
  void Close(const std::string& path);
  // Stops everything; in-flight bridge work finishes first.
  void Stop();

  // Calls served so far (all listeners), requests and channel messages alike.
  uint64_t calls_served() const;
  // Call channels (WebSockets, see ServeChannel in the .cc) opened so far, and open now.
  uint64_t channels_opened() const;
  size_t channels_open() const;
  // Ends the call channels of an invocation (the runner calls it when the invocation is over).
  void EndInvocation(const std::string& invocation_id);

  struct Impl;  // opaque; public only so the .cc's session class can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ps::bridge
