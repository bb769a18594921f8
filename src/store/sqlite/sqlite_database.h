// SQLite backend: the embedded default. One file, shared with EmDash's own process when the site
// runs EmDash beside the host: the site's journal mode is kept (a new database is made WAL),
// 10 s busy timeout, foreign keys on, and a per-connection cache of prepared statements keyed by
// SQL text.
//
// Pool: up to kPoolSize connections, created lazily. Write transactions are kept short and never
// upgrade a read lock: in WAL mode they start with BEGIN IMMEDIATE; under a rollback journal
// they take the exclusive lock first, so EmDash's deferred transactions in another process never
// meet a writer half-way (SqliteConnection::Begin says why).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/database.h"
#include "store/sqlite/writer_turns.h"

namespace ps::store {

class SqliteDatabase : public Database {
 public:
  static Result<std::unique_ptr<Database>> Open(const std::string& path);
  ~SqliteDatabase() override;

  const Dialect& dialect() const override;
  // The same, without a database: what renders SQL for this backend.
  static const Dialect& StaticDialect();
  ConnectionHandle Acquire() override;

 private:
  explicit SqliteDatabase(std::string path);
  Result<std::unique_ptr<Connection>> NewConnection();

  static constexpr size_t kPoolSize = 4;
  std::string path_;
  // Declared before the connections so it outlives them (writer_turns.h).
  std::shared_ptr<WriterTurns> turns_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> all_;
  std::vector<Connection*> idle_;
};

}  // namespace ps::store
