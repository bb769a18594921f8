// The host channel of embedded mode (docs/channel.md): one persistent stream from the embedding
// process (@plugin-sandbox/emdash) carrying many API requests at once as frames, and the calls
// the host makes back into that process (EmDash's email pipeline and media storage).
//
// Contract:
// - Serve() runs one upgraded connection on the calling thread (the HTTP server's connection
//   thread): it reads frames, runs each request on the hub's pool (at most `workers` at once,
//   a slow plugin holds only its own request), writes answers as they finish, in any order, and
//   returns once the stream has ended and every request it started has been answered.
// - A request frame is exactly the HTTP request it names, already authenticated: it reaches
//   the same handler as HTTP, with the upgrade's Authorization header. Body caps are HTTP's.
// - A malformed frame ends its channel (logged); other channels are unaffected.
// - The email sender and media storage it hands out call into the channel that most recently
//   offered them (`hello`) and wait for the answer, at most call_timeout; kUnavailable when no
//   channel offers it, it closes meanwhile, or the time runs out.
// Thread-safe. May call: server/http_server.h (types), server/api.h (the error envelope),
// bridge/ (interfaces), common/.
// Called by: server/serve.cc (wiring), server/http_server.cc through HttpResponse::takeover.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "bridge/bridge.h"
#include "bridge/media_storage.h"
#include "common/status.h"
#include "server/http_server.h"

namespace ps::server {

struct ChannelOptions {
  int workers = 16;  // requests running at once, over all channels
  std::function<size_t(const std::string& method, const std::string& target)> body_limit;
  std::chrono::milliseconds call_timeout{30000};
  // Told when email starts being offered (the hub's sender) or stops (null); serve hands it
  // to the runner, so ctx.email.send reaches EmDash's pipeline or EmDash's own refusal.
  std::function<void(bridge::EmailSender sender)> on_email;
};

class ChannelHub {
 public:
  ChannelHub(HttpHandler handler, ChannelOptions options);
  ~ChannelHub();
  ChannelHub(const ChannelHub&) = delete;
  ChannelHub& operator=(const ChannelHub&) = delete;

  // The answer to `GET /v1/channel` (already authorized): 101 and a takeover that runs Serve,
  // or 400 when the request does not ask for this protocol.
  HttpResponse Upgrade(const HttpRequest& request);

  // Runs one channel until it ends. `pending`: bytes read past the upgrade request.
  void Serve(int fd, std::string pending, const HttpRequest& upgrade);

  // ctx.media.upload/delete through the site's storage (docs/channel.md "Calls into the
  // embedding process"), or EmDash's own "not configured" refusal while none is offered.
  std::shared_ptr<bridge::MediaStorage> MediaStorage();

  // Stops reading every channel (each Serve returns once its running requests are answered).
  void Close();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace ps::server
