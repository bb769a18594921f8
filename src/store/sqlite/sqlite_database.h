// SQLite backend: the embedded default. One file, shared with EmDash's own process when the site
// runs EmDash beside the host: the site's journal mode is kept (a new database is made WAL),
// 10 s busy timeout, foreign keys on, and a per-connection cache of prepared statements keyed by
// SQL text.
//
// Pool: up to kPoolSize connections, created lazily. Writers (this host's and EmDash's) wait on
// SQLite's busy handler. Write transactions start with BEGIN IMMEDIATE so two writers never
// deadlock upgrading read locks, and are kept short.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/database.h"

namespace ps::store {

class SqliteDatabase : public Database {
 public:
  static Result<std::unique_ptr<Database>> Open(const std::string& path);
  ~SqliteDatabase() override;

  const Dialect& dialect() const override;
  ConnectionHandle Acquire() override;

 private:
  explicit SqliteDatabase(std::string path) : path_(std::move(path)) {}
  Result<std::unique_ptr<Connection>> NewConnection();

  static constexpr size_t kPoolSize = 4;
  static constexpr int kBusyTimeoutMs = 10000;
  std::string path_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> all_;
  std::vector<Connection*> idle_;
};

}  // namespace ps::store
