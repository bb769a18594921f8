// A thread per connection, and the bookkeeping each of the host's socket servers needs around it
// (the host API's HTTP server and the bridge's backing service): a cap on open connections,
// the descriptors to shut down at close, and a wait for the last thread.
//
// Contract:
// - Start() takes a connection and runs `serve(socket)` on a thread of its own, unless `max`
//   connections are already open or no thread can be had: then the connection is closed at once
//   and Start() returns false with the reason in `why` (the caller logs it).
// - A connection belongs to a group (a listener; "" for a server with one). When `serve` returns,
//   its descriptor is forgotten before the socket is closed, so Shutdown() never shuts down a
//   descriptor the kernel has given to someone else since.
// - Shutdown(group) shuts down (SHUT_RDWR) the group's open connections, ShutdownAll() every one:
//   their blocked reads and writes fail and their threads end. WaitIdle() returns once no
//   connection thread runs.
// Thread-safe.
#pragma once

#include <sys/socket.h>

#include <condition_variable>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "common/crypto.h"

namespace ps {

class ConnectionThreads {
 public:
  explicit ConnectionThreads(size_t max) : max_(max) {}

  template <class Socket, class Serve>
  bool Start(std::unique_ptr<Socket> socket, Serve serve, const std::string& group,
             std::string* why) {
    const int fd = socket->native_handle();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (open_.size() >= max_) {
        *why = std::to_string(open_.size()) + " connections open; refusing another";
        return false;  // `socket` closes here
      }
      open_.emplace(fd, group);
      ++threads_;
    }
    try {
      std::thread([this, fd, socket = std::move(socket), serve = std::move(serve)]() mutable {
        serve(*socket);
        Forget(fd);
        socket.reset();  // after Forget: a Shutdown() now cannot reach a reused descriptor
        ReleaseThreadCryptoState();
        Done();
      }).detach();
    } catch (const std::exception& e) {
      // No thread to be had (a process or thread limit, or no memory): this connection is
      // dropped (its socket closed with the lambda that owned it); the server keeps accepting.
      *why = std::string("cannot start a thread for a connection: ") + e.what();
      Forget(fd);
      Done();
      return false;
    }
    return true;
  }

  void Shutdown(const std::string& group) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [fd, g] : open_) {
      if (g == group) ::shutdown(fd, SHUT_RDWR);
    }
  }

  void ShutdownAll() {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [fd, g] : open_) ::shutdown(fd, SHUT_RDWR);
  }

  void WaitIdle() {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [this] { return threads_ == 0; });
  }

  size_t open() const {
    std::lock_guard<std::mutex> lock(mu_);
    return open_.size();
  }

 private:
  void Forget(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    open_.erase(fd);
  }
  void Done() {
    std::lock_guard<std::mutex> lock(mu_);
    --threads_;
    idle_.notify_all();
  }

  const size_t max_;
  mutable std::mutex mu_;
  std::condition_variable idle_;
  std::map<int, std::string> open_;  // descriptor -> group
  size_t threads_ = 0;
};

}  // namespace ps
