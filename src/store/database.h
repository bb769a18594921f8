// The database interface every store backend implements (sqlite/, postgres/).
//
// Contract:
// - SQL is written with `?` placeholders; a backend may rewrite them ($1, $2, … on PostgreSQL).
// - Backend-specific SQL comes only from Dialect, so repositories are written once.
// - Errors are Status values whose message is the driver's own text (plugins see it, as on
//   EmDash: `UNIQUE constraint failed: ec_posts.slug, ec_posts.locale`).
// - A Connection is used by one thread at a time. Database::Acquire is thread-safe and blocks
//   until a pooled connection is free.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/value.h"

namespace ps::store {

class Dialect {
 public:
  virtual ~Dialect() = default;
  virtual std::string_view name() const = 0;
  // Text form of a top-level JSON field of column `data` (field already validated). Also the
  // expression of dynamic storage indexes, so queries and indexes match.
  virtual std::string JsonText(std::string_view field) const = 0;
  // Numeric form, NULL unless the field is a JSON number.
  virtual std::string JsonNumeric(std::string_view field) const = 0;
  // The ORDER BY keys of a JSON field, compared left to right. Every backend orders as SQLite's
  // json_extract does: missing/null first, then numbers (booleans as 0/1), then text (strings,
  // then arrays and objects as JSON text), text compared bytewise.
  virtual std::vector<std::string> JsonOrderKeys(std::string_view field) const = 0;
  // Appended after ASC/DESC so NULLs sort first ascending and last descending (SQLite's rule).
  virtual std::string_view NullsOrder(bool ascending) const = 0;
  // Where a text comparison must also check that the field is a JSON string: SQLite's
  // json_extract keeps JSON types, so `= '2'` never matches the number 2 there; PostgreSQL's
  // ->> yields text for every type. Empty when the backend needs no guard.
  virtual std::string JsonStringGuard(std::string_view field) const = 0;
  // `JsonBoolExpr(f) = ?` with JsonBool(b) bound matches the JSON boolean b.
  virtual std::string JsonBoolExpr(std::string_view field) const = 0;
  virtual Value JsonBool(bool b) const = 0;
  // Case-insensitive LIKE operator (SQLite's LIKE is ASCII case-insensitive; PostgreSQL: ILIKE).
  virtual std::string_view LikeCi() const = 0;
  // SQL for "table exists": one row iff the table named by the single `?` exists.
  virtual std::string TableExistsSql() const = 0;
  // SQL listing (table, column) for every column of every table of the database (its schema on
  // PostgreSQL).
  virtual std::string ColumnsSql() const = 0;
  // Column types for SQLite's affinities TEXT, INTEGER (64-bit) and REAL (double).
  virtual std::string_view TextType() const = 0;
  virtual std::string_view IntegerType() const = 0;
  virtual std::string_view RealType() const = 0;
  // The longest identifier the backend keeps whole (PostgreSQL silently truncates at 63 bytes).
  virtual size_t MaxIdentifierBytes() const = 0;
  // Default of timestamp columns in DDL.
  virtual std::string_view NowDefault() const = 0;
  // Held around migrations so hosts starting together apply each one once (empty: the
  // backend's write transaction is enough).
  virtual std::string MigrationLockSql() const { return {}; }
  virtual std::string MigrationUnlockSql() const { return {}; }
};

class Connection {
 public:
  virtual ~Connection() = default;
  virtual Result<Rows> Query(std::string_view sql, const std::vector<Value>& params = {}) = 0;
  // Executes a statement, returning the number of rows it changed.
  virtual Result<int64_t> Exec(std::string_view sql, const std::vector<Value>& params = {}) = 0;
  // Runs several statements with no parameters (DDL in migrations).
  virtual Status ExecScript(std::string_view sql) = 0;

  // Runs fn inside one transaction: committed iff fn returns ok, rolled back otherwise.
  // Transactions do not nest. fn may run more than once (a backend may roll back a finished
  // transaction and run it again rather than commit at a bad moment, see YieldBeforeCommit), so
  // it must start from scratch each time: assign its results, never append to them.
  Status Transaction(const std::function<Status()>& fn);

 protected:
  // `attempt` counts the runs of one Transaction from 1 (a backend may keep state across them).
  virtual Status Begin(int attempt) = 0;
  virtual Status Commit() = 0;
  virtual void Rollback() = 0;
  // Asked after fn succeeded, before Commit: true to roll back and run the transaction again
  // instead (at most kTransactionAttempts runs in all; the last one always commits). A backend
  // that says yes must bound the time it keeps saying it.
  virtual bool YieldBeforeCommit() { return false; }
  static constexpr int kTransactionAttempts = 64;
};

// A pooled connection, returned to its database on destruction.
class ConnectionHandle {
 public:
  ConnectionHandle(Connection* c, std::function<void(Connection*)> release)
      : c_(c), release_(std::move(release)) {}
  ConnectionHandle(ConnectionHandle&& o) noexcept : c_(o.c_), release_(std::move(o.release_)) {
    o.c_ = nullptr;
  }
  ConnectionHandle(const ConnectionHandle&) = delete;
  ConnectionHandle& operator=(const ConnectionHandle&) = delete;
  ~ConnectionHandle() {
    if (c_ && release_) release_(c_);
  }
  Connection* operator->() const { return c_; }
  Connection& operator*() const { return *c_; }

 private:
  Connection* c_;
  std::function<void(Connection*)> release_;
};

class SiteSchema;

class Database {
 public:
  Database();
  virtual ~Database();
  virtual const Dialect& dialect() const = 0;
  virtual ConnectionHandle Acquire() = 0;

  // The site's tables and columns as OpenDatabase found them after preparing the database
  // (store/site_schema.h). Read-only afterwards, so any thread may ask.
  const SiteSchema& schema() const { return *schema_; }
  void set_schema(SiteSchema schema);

 private:
  std::unique_ptr<SiteSchema> schema_;
};

// DDL written with SQLite's types (TEXT, INTEGER, REAL as whole upper-case words) and `{NOW}`
// for the current-time default, rendered for the dialect.
std::string RenderDdl(std::string_view ddl, const Dialect& dialect);

// `name` if the dialect keeps it whole; else a prefix of it and 8 hex digits of its hash, so two
// long names that share a prefix stay distinct.
std::string FitIdentifier(const std::string& name, const Dialect& dialect);

// Opens a database from a URL: `sqlite:PATH` (created on first use) or `postgres://…` /
// `postgresql://…` (a libpq connection URI; the database must exist). An empty database gets
// EmDash's schema; an EmDash database is verified and left as it is (store/migrations.h).
Result<std::unique_ptr<Database>> OpenDatabase(const std::string& url);

}  // namespace ps::store
