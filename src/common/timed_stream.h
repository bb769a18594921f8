// A socket read and written with blocking calls bounded by a deadline: what Beast's synchronous
// HTTP and WebSocket operations need to run with a time limit and no event loop. Before every
// read or write it polls the descriptor until the deadline (expires_after), then makes the call;
// the socket must be in non-blocking mode. Past the deadline a call fails with
// boost::beast::error::timeout. Used by serve's connections and by the runner's invocation channel.
#pragma once

#include <poll.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <cerrno>
#include <chrono>

namespace ps {

template <class Protocol>
class TimedStream {
 public:
  using executor_type = typename Protocol::socket::executor_type;

  explicit TimedStream(typename Protocol::socket& s) : s_(s) {}
  executor_type get_executor() { return s_.get_executor(); }
  typename Protocol::socket& socket() { return s_; }
  void expires_after(std::chrono::milliseconds d) { deadline_ = Clock::now() + d; }
  void expires_at(std::chrono::steady_clock::time_point t) { deadline_ = t; }

  template <class Buffers>
  size_t read_some(const Buffers& b, boost::beast::error_code& ec) {
    if (!Wait(POLLIN, ec)) return 0;
    return s_.read_some(b, ec);
  }
  template <class Buffers>
  size_t read_some(const Buffers& b) {
    return OrThrow([&](boost::beast::error_code& ec) { return read_some(b, ec); });
  }
  template <class Buffers>
  size_t write_some(const Buffers& b, boost::beast::error_code& ec) {
    if (!Wait(POLLOUT, ec)) return 0;
    return s_.write_some(b, ec);
  }
  template <class Buffers>
  size_t write_some(const Buffers& b) {
    return OrThrow([&](boost::beast::error_code& ec) { return write_some(b, ec); });
  }

 private:
  using Clock = std::chrono::steady_clock;
  // The throwing forms Beast's stream concepts also ask for.
  template <class Op>
  static size_t OrThrow(const Op& op) {
    boost::beast::error_code ec;
    size_t n = op(ec);
    if (ec) throw boost::beast::system_error(ec);
    return n;
  }
  bool Wait(short events, boost::beast::error_code& ec) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
      if (left.count() <= 0) {
        ec = boost::beast::error::timeout;
        return false;
      }
      pollfd p{s_.native_handle(), events, 0};
      int r = ::poll(&p, 1, int(std::min<int64_t>(left.count(), 1 << 30)));
      if (r > 0) return true;  // ready, or hung up / shut down: the call itself reports it
      if (r < 0 && errno != EINTR) {
        ec = boost::beast::error_code(errno, boost::system::system_category());
        return false;
      }
    }
  }

  typename Protocol::socket& s_;
  Clock::time_point deadline_ = Clock::now();
};

// Closing a WebSocket over a TimedStream: Beast finds this by argument-dependent lookup. The
// socket is shut down in both directions (the owner closes it).
template <class Protocol>
void teardown(boost::beast::role_type, TimedStream<Protocol>& s, boost::beast::error_code& ec) {
  s.socket().shutdown(Protocol::socket::shutdown_both, ec);
  ec = {};
}

}  // namespace ps
