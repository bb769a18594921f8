// PostgreSQL backend (libpq): several `serve` hosts on one site database.
//
// Contract, beyond database.h's:
// - URL: any libpq connection URI (`postgres://user@host:port/db?…`, `?host=/socket/dir` for a
//   Unix socket). Two query parameters are ours and removed before the URI reaches libpq:
//   `pool_max=N` (default 8) bounds the connections this host opens, `acquire_timeout_ms=N`
//   (default 30000) how long a call waits for one of them.
// - The schema follows SQLite's: TEXT columns are `TEXT COLLATE "C"` (bytewise, as SQLite
//   compares), INTEGER is BIGINT, REAL is DOUBLE PRECISION. JSON fields are read with `::jsonb`.
// - Acquire waits at most acquire_timeout_ms for a free connection; after that it hands out one
//   whose every call fails with kUnavailable. Connections default to TCP keepalives, a 15 s TCP
//   user timeout, statement_timeout 60 s and lock_timeout 30 s (a URI's own `options` replace the
//   latter two).
// - Open() connects once and fails with libpq's message when the server cannot be reached.
//   Afterwards a lost server never blocks or crashes the host: a call made while it is down fails
//   with kUnavailable ("database unavailable: …"), and the next call reconnects. A connection that
//   the server closed while it sat idle in the pool is noticed and replaced before it is used, so
//   the first calls after a restart succeed.
// - Constraint violations come back as kConflict with SQLite's wording (`UNIQUE constraint
//   failed: t.a, t.b`, `NOT NULL constraint failed: t.c`, `FOREIGN KEY constraint failed`), so a
//   plugin sees the same error on either backend.
// - Migrations hold a session advisory lock keyed by the schema, so hosts starting together
//   apply each migration once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/database.h"

namespace ps::store {

class PostgresDatabase : public Database {
 public:
  static Result<std::unique_ptr<Database>> Open(const std::string& url);
  ~PostgresDatabase() override;

  const Dialect& dialect() const override;
  // The same, without a database: what renders SQL for this backend.
  static const Dialect& StaticDialect();
  ConnectionHandle Acquire() override;

 private:
  PostgresDatabase(std::string conninfo, size_t pool_max,
                   std::chrono::milliseconds acquire_timeout);

  std::string conninfo_;
  size_t pool_max_;
  std::chrono::milliseconds acquire_timeout_;
  std::unique_ptr<Connection> exhausted_;  // handed out when Acquire times out
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> all_;
  std::vector<Connection*> idle_;
};

}  // namespace ps::store
