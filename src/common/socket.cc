#include "common/socket.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace ps {

bool LingeringClose(int fd, const LingerLimits& limits) {
  ::shutdown(fd, SHUT_WR);
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + limits.time;
  char sink[64 * 1024];
  size_t discarded = 0;
  // Bounded in time by the deadline (every wait is cut to it) and in reads by limits.bytes.
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, int(std::min<long long>(left.count(), 1 << 30)));
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (r == 0) return false;
    ssize_t n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return false;  // reset: the peer is gone
    }
    discarded += size_t(n);
    if (discarded >= limits.bytes) return false;
  }
}

}  // namespace ps
