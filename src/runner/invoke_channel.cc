#include "runner/invoke_channel.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <charconv>

#include "common/timed_stream.h"

namespace ps::runner {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using Local = asio::local::stream_protocol;

namespace {

// The answer's size is capped like a request's answer (runner.cc: 64 MiB), plus its framing.
constexpr uint64_t kAnswerMax = (uint64_t(64) << 20) + 1024;

// Sockets are only ever used with blocking calls, so they share one io_context that never runs.
asio::io_context& Context() {
  static asio::io_context ioc;
  return ioc;
}

}  // namespace

struct InvokeChannel::Impl {
  Local::socket socket{Context()};
  TimedStream<Local> stream{socket};
  websocket::stream<TimedStream<Local>&> ws{stream};
  beast::flat_buffer in;
};

InvokeChannel::InvokeChannel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

InvokeChannel::~InvokeChannel() {
  beast::error_code ec;
  impl_->socket.close(ec);  // no close handshake: workerd cancels whatever was left running
}

InvokeChannel::Outcome InvokeChannel::Open(const std::string& socket_path,
                                           const std::string& authorization,
                                           Clock::time_point deadline,
                                           std::unique_ptr<InvokeChannel>* out) {
  auto impl = std::make_unique<Impl>();
  beast::error_code ec;
  impl->socket.open(Local(), ec);
  if (ec) return Outcome::kBroken;
  // A Unix socket's connect waits while the listener's backlog is full, up to the send timeout:
  // bounded by the deadline like everything else.
  auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
  if (left.count() <= 0) return Outcome::kTimeout;
  timeval tv{time_t(left.count() / 1000000), suseconds_t(left.count() % 1000000)};
  ::setsockopt(impl->socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  impl->socket.connect(Local::endpoint(socket_path), ec);
  if (ec) return Clock::now() >= deadline ? Outcome::kTimeout : Outcome::kBroken;
  impl->socket.non_blocking(true, ec);
  if (ec) return Outcome::kBroken;
  impl->stream.expires_at(deadline);
  impl->ws.set_option(websocket::stream_base::decorator([&](websocket::request_type& req) {
    req.set(beast::http::field::authorization, authorization);
  }));
  impl->ws.read_message_max(kAnswerMax);
  impl->ws.auto_fragment(false);
  impl->ws.secure_prng(false);  // masking is the protocol's, not a secret (a local socket)
  websocket::response_type res;
  impl->ws.handshake(res, "plugin", "/__invoke", ec);
  if (ec == beast::error::timeout) return Outcome::kTimeout;
  if (ec) {
    // The worker answered, but not with an upgrade: it does not serve the channel.
    return res.result_int() != 0 && res.result() != beast::http::status::switching_protocols
               ? Outcome::kRefused
               : Outcome::kBroken;
  }
  impl->ws.text(true);
  out->reset(new InvokeChannel(std::move(impl)));
  return Outcome::kOk;
}

InvokeChannel::Outcome InvokeChannel::Call(const std::string& invocation_id,
                                           const std::string& path, const std::string& input,
                                           Clock::time_point deadline, long* status,
                                           std::string* body) {
  ++uses_;
  auto& ws = impl_->ws;
  impl_->stream.expires_at(deadline);
  std::string message;
  message.reserve(invocation_id.size() + path.size() + input.size() + 2);
  message.append(invocation_id).append(1, ' ').append(path).append(1, '\n').append(input);
  beast::error_code ec;
  ws.write(asio::buffer(message), ec);
  if (ec) return ec == beast::error::timeout ? Outcome::kTimeout : Outcome::kBroken;
  impl_->in.clear();
  ws.read(impl_->in, ec);
  if (ec) return ec == beast::error::timeout ? Outcome::kTimeout : Outcome::kBroken;
  // "<invocation id> <status>\n<body>"
  auto data = impl_->in.cdata();
  std::string_view answer(static_cast<const char*>(data.data()), data.size());
  if (answer.size() <= invocation_id.size() + 1 ||
      answer.compare(0, invocation_id.size(), invocation_id) != 0 ||
      answer[invocation_id.size()] != ' ') {
    return Outcome::kBroken;
  }
  answer.remove_prefix(invocation_id.size() + 1);
  size_t newline = answer.find('\n');
  if (newline == std::string_view::npos) return Outcome::kBroken;
  long code = 0;
  auto [end, err] = std::from_chars(answer.data(), answer.data() + newline, code);
  if (err != std::errc() || end != answer.data() + newline) return Outcome::kBroken;
  *status = code;
  body->assign(answer.substr(newline + 1));
  impl_->in.clear();
  // An idle channel keeps no large answer's memory (a pool may hold dozens of channels).
  if (impl_->in.capacity() > (size_t(1) << 20)) impl_->in.shrink_to_fit();
  return Outcome::kOk;
}

}  // namespace ps::runner
