// Taking turns at writing a SQLite file that another process (EmDash's) also writes.
//
// EmDash's transactions are deferred: they read, then write. SQLite fails such an upgrade at
// once with SQLITE_BUSY (a reader in a transaction cannot wait for a writer without risking a
// deadlock), and in WAL mode also when a write landed since the transaction began to read
// (SQLITE_BUSY_SNAPSHOT). Busy timeouts cannot help there; only not writing while EmDash is in
// the middle of a transaction does. So before this host starts a write transaction it waits
// while another process holds a read lock on the file (POSIX locks other processes hold are
// visible through F_GETLK; this process's own are not), and it holds the write lock at most
// half the time, so EmDash's busy handler, which polls at growing intervals, gets its turn. In
// WAL mode the connection also lets go of the lock when a reader slipped in after the wait, and
// rolls back and runs again rather than commit under a reader (sqlite_database.cc).
//
// Contract: one object per database file in this process (For() shares it between databases
// opened on one path), used by all of the host's connections to it.
// WaitForTurn() before a write transaction begins; Done(held) when it ends. Both thread-safe.
// File descriptors opened here stay open until destruction: closing any descriptor of a file
// would drop every POSIX lock this process holds on it, SQLite's included.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

namespace ps::store {

class WriterTurns {
 public:
  // The object for `path`, made on first use and freed with its last holder, after every
  // connection of those holders is closed (so closing its descriptors drops no lock in use).
  static std::shared_ptr<WriterTurns> For(const std::string& path);
  explicit WriterTurns(std::string path) : path_(std::move(path)) {}
  ~WriterTurns();
  WriterTurns(const WriterTurns&) = delete;
  WriterTurns& operator=(const WriterTurns&) = delete;

  // Waits (at most about 250 ms for another process's reader, so a reader that never ends
  // cannot stop this host) until it is this host's turn to take the write lock.
  void WaitForTurn(bool wal);
  // A write transaction ended after holding the write lock for `held`.
  void Done(std::chrono::steady_clock::duration held);
  // Whether another process holds a read lock on the file now (WAL: a read mark in -shm).
  bool OtherProcessReading(bool wal);

 private:
  const std::string path_;
  std::mutex mu_;
  int db_fd_ = -1;
  int shm_fd_ = -1;
  std::atomic<int64_t> quiet_until_ns_{0};
};

}  // namespace ps::store
