// The physical floor the benchmark measures against, in the same run: a raw workerd process we
// configure ourselves (the same Cap'n Proto shape src/workerd/config.cc renders: one worker on a
// Unix socket, one external HTTP service bound as BRIDGE, globalOutbound refused) running a
// worker that returns a constant, and a constant-returning HTTP/1.1 server on a Unix socket that
// the raw worker's fetch() calls reach (the floor of one bridge call).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "util.h"

namespace ps::bench {

// A keep-alive HTTP/1.1 server on a Unix socket answering every request with the same small JSON
// body, on one Asio thread.
class ConstServer {
 public:
  explicit ConstServer(const std::string& socket_path);
  ~ConstServer();
  ConstServer(const ConstServer&) = delete;
  ConstServer& operator=(const ConstServer&) = delete;
  bool ok() const;
  const std::string& path() const;
  uint64_t requests() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

struct RawWorkerdOptions {
  std::string dir;           // config, modules and the output log go here
  std::string launcher;      // plugin-sandbox-launch (parent-death signal)
  std::string workerd;       // the pinned binary
  std::string fetch_socket;  // the ConstServer the worker's BRIDGE binding points at
  bool netns = false;        // as the runner's plugin processes
  int heap_mb = 128;         // as the runner's default memory limit
};

// The raw worker answers every request with a constant: GET / is the floor; POST /hook/... reads
// the body first (the same request a hook invocation sends); POST /fetch/<n> makes n sequential
// env.BRIDGE.fetch() calls first.
class RawWorkerd {
 public:
  // Writes the files and spawns the process (from the calling thread: use the main thread, which
  // the parent-death signal is tied to). Null on failure.
  static std::unique_ptr<RawWorkerd> Start(const RawWorkerdOptions& o);
  ~RawWorkerd();  // kills and reaps the process
  RawWorkerd(const RawWorkerd&) = delete;
  RawWorkerd& operator=(const RawWorkerd&) = delete;

  // Polls the socket (every 2 ms) until the worker answers; false at the deadline.
  bool WaitReady(Clock::time_point deadline);
  const std::string& socket() const { return socket_; }
  pid_t pid() const { return pid_; }
  std::string log() const;

 private:
  RawWorkerd() = default;
  std::string dir_, socket_;
  pid_t pid_ = -1;
};

}  // namespace ps::bench
