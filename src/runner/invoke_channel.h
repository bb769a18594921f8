// The invocation channel: one WebSocket to a plugin's worker (GET /__invoke on its socket) that
// carries the host's invocations one at a time, each a message answered by a message. A message
// costs workerd about a third of an HTTP request (docs/performance.md), so the runner keeps a few
// channels per plugin process and uses them instead of a request per invocation.
//
// Contract:
// - Open() connects and upgrades within the deadline, sending the plugin's invoke Authorization.
//   A worker that answers the upgrade with anything but 101 is kRefused (an old wrapper; the
//   runner then uses requests); a connection that fails is kBroken.
// - Call() sends "<invocation id> <path>\n<input>" and waits until the deadline for
//   "<invocation id> <status>\n<body>". Past the deadline it is kTimeout; a reset, a malformed or
//   foreign answer is kBroken. After anything but kOk the channel is unusable: destroy it (closing
//   the connection makes workerd cancel what the invocation left running).
// - Not thread-safe: one caller at a time (the runner pools channels like connections).
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace ps::runner {

class InvokeChannel {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Outcome { kOk, kTimeout, kBroken, kRefused };

  static Outcome Open(const std::string& socket_path, const std::string& authorization,
                      Clock::time_point deadline, std::unique_ptr<InvokeChannel>* out);
  ~InvokeChannel();
  InvokeChannel(const InvokeChannel&) = delete;
  InvokeChannel& operator=(const InvokeChannel&) = delete;

  Outcome Call(const std::string& invocation_id, const std::string& path, const std::string& input,
               Clock::time_point deadline, long* status, std::string* body);
  // Invocations carried so far.
  uint64_t uses() const { return uses_; }

 private:
  struct Impl;
  explicit InvokeChannel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  uint64_t uses_ = 0;
};

}  // namespace ps::runner
