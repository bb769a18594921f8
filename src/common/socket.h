// Closing a connection whose peer may still be sending.
//
// A server that answers early (413 before reading an oversized body, 400 on a malformed request)
// and closes at once races the client: the client's next write fails (EPIPE on a Unix socket, a
// reset on TCP, which also discards the answer waiting in the client's receive buffer), and many
// clients, curl and workerd among them, then report a send error instead of the answer. Lingering
// lets the client finish its write and read the answer: stop sending, then read and discard what
// still arrives until the peer closes, a byte cap is reached or the time is up.
#pragma once

#include <chrono>
#include <cstddef>

namespace ps {

struct LingerLimits {
  std::chrono::milliseconds time{2000};  // the longest a connection's thread is held
  size_t bytes = size_t(64) << 20;       // the most input read and thrown away
};

// Shuts down the sending side of `fd` and discards input as described above. Does not close
// `fd`. Returns true when the peer closed its side, false when a limit ended the wait (or the
// socket failed). Works on blocking and non-blocking descriptors. A shutdown(SHUT_RD) from
// another thread ends the wait at once (the next read returns end of file).
bool LingeringClose(int fd, const LingerLimits& limits = {});

}  // namespace ps
