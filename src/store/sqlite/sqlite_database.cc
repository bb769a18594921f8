#include "store/sqlite/sqlite_database.h"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <limits>
#include <thread>
#include <unordered_map>

namespace ps::store {
namespace {

class SqliteDialect : public Dialect {
 public:
  std::string_view name() const override { return "sqlite"; }
  std::string JsonText(std::string_view f) const override {
    return "json_extract(data, '$." + std::string(f) + "')";
  }
  std::string JsonNumeric(std::string_view f) const override {
    std::string path = "'$." + std::string(f) + "'";
    return "CASE WHEN json_type(data, " + path +
           ") IN ('integer','real') THEN json_extract(data, " + path + ") END";
  }
  std::vector<std::string> JsonOrderKeys(std::string_view f) const override {
    return {JsonText(f)};
  }
  std::string_view NullsOrder(bool) const override { return ""; }  // SQLite's default
  std::string JsonStringGuard(std::string_view) const override { return {}; }
  // json_extract yields 1/0 for true/false.
  std::string JsonBoolExpr(std::string_view f) const override { return JsonText(f); }
  Value JsonBool(bool b) const override { return int64_t(b ? 1 : 0); }
  std::string_view LikeCi() const override { return "LIKE"; }
  std::string TableExistsSql() const override {
    return "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?";
  }
  std::string ColumnsSql() const override {
    return "SELECT m.name, p.name FROM sqlite_master AS m, pragma_table_info(m.name) AS p WHERE "
           "m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";
  }
  std::string_view TextType() const override { return "TEXT"; }
  std::string_view IntegerType() const override { return "INTEGER"; }
  std::string_view RealType() const override { return "REAL"; }
  std::string_view NowDefault() const override { return "(datetime('now'))"; }
  size_t MaxIdentifierBytes() const override { return std::numeric_limits<size_t>::max(); }
};

const SqliteDialect kDialect;

constexpr int kBusyTimeoutMs = 10000;

class SqliteConnection : public Connection {
 public:
  SqliteConnection(sqlite3* db, WriterTurns* turns) : db_(db), turns_(turns) {}
  // The file's journal mode, read once the connection is set up.
  void set_wal(bool wal) { wal_ = wal; }
  ~SqliteConnection() override {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }

  Result<Rows> Query(std::string_view sql, const std::vector<Value>& params) override {
    Rows rows;
    PS_TRY(Run(sql, params, &rows));
    return rows;
  }

  Result<int64_t> Exec(std::string_view sql, const std::vector<Value>& params) override {
    PS_TRY(Run(sql, params, nullptr));
    return int64_t(sqlite3_changes64(db_));
  }

  Status ExecScript(std::string_view sql) override {
    char* err = nullptr;
    std::string s(sql);
    if (int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err); rc != SQLITE_OK) {
      std::string m = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      return Status((rc & 0xff) == SQLITE_BUSY ? Code::kUnavailable : Code::kInternal, m);
    }
    return Status::Ok();
  }

 protected:
  // A write transaction waits for its turn (writer_turns.h: never while another process is in
  // the middle of a transaction). Under a rollback journal it then takes the exclusive lock
  // itself, which exists only while nobody reads, letting go and trying again shortly when it
  // cannot have it at once: SQLite fails a reader's upgrade at once while another connection
  // holds the write lock, so holding it beside a reader would fail EmDash's transaction. In
  // WAL mode readers never block a writer, and BEGIN IMMEDIATE waits on the busy handler.
  Status Begin(int attempt) override {
    if (wal_) {
      // A reader that slipped in between the wait and the lock would fail its upgrade at once
      // while this holds the write lock (SQLITE_BUSY: SQLite never lets a reader in a
      // transaction wait for the write lock): let go and wait again, for a while.
      if (attempt == 1) patience_until_ = std::chrono::steady_clock::now() + kPatience;
      for (;;) {
        turns_->WaitForTurn(true);
        PS_TRY(ExecScript("BEGIN IMMEDIATE"));
        locked_at_ = std::chrono::steady_clock::now();
        if (locked_at_ >= patience_until_ || !turns_->OtherProcessReading(true)) break;
        Rollback();
      }
      return Status::Ok();
    }
    turns_->WaitForTurn(false);
    sqlite3_busy_timeout(db_, 0);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
    auto pause = std::chrono::microseconds(50);
    Status st;
    for (;;) {
      st = ExecScript("BEGIN EXCLUSIVE");
      if (st.ok() || st.code() != Code::kUnavailable ||
          std::chrono::steady_clock::now() >= deadline) {
        break;
      }
      if (!sqlite3_get_autocommit(db_)) ExecScript("ROLLBACK");
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(2000));
      // Try again only once no other process reads: a failed attempt holds RESERVED for a
      // moment, and a reader whose upgrade meets it fails at once (SQLITE_BUSY).
      turns_->WaitForTurn(false);
    }
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    locked_at_ = std::chrono::steady_clock::now();
    return st;
  }
  // WAL mode: a reader in another process that began while this transaction ran would, if it
  // goes on to write (EmDash's deferred read-then-write transactions), fail with
  // SQLITE_BUSY_SNAPSHOT once this commits: its snapshot would be stale, and no busy timeout
  // helps. Rolling back instead leaves its snapshot current, and Begin waits for it to finish
  // before this runs again. What remains is the moment between this look and the commit.
  // (Under a rollback journal, BEGIN EXCLUSIVE already kept every reader out.)
  bool YieldBeforeCommit() override {
    return wal_ && std::chrono::steady_clock::now() < patience_until_ &&
           turns_->OtherProcessReading(true);
  }
  Status Commit() override {
    Status st = ExecScript("COMMIT");
    if (st.ok()) turns_->Done(std::chrono::steady_clock::now() - locked_at_);
    return st;
  }
  void Rollback() override {
    if (sqlite3_get_autocommit(db_)) return;
    ExecScript("ROLLBACK");
    turns_->Done(std::chrono::steady_clock::now() - locked_at_);
  }

 private:
  Status Error(int rc) {
    Code code = (rc & 0xff) == SQLITE_CONSTRAINT ? Code::kConflict
                : (rc & 0xff) == SQLITE_BUSY     ? Code::kUnavailable
                                                 : Code::kInternal;
    return Status(code, sqlite3_errmsg(db_));
  }

  Status Run(std::string_view sql, const std::vector<Value>& params, Rows* out) {
    PS_ASSIGN(sqlite3_stmt * stmt, Prepared(sql));
    if (sqlite3_get_autocommit(db_) && !sqlite3_stmt_readonly(stmt)) {
      // A write outside a transaction takes its lock as a transaction does (see Begin).
      return Transaction([&] { return RunStatement(stmt, params, out); });
    }
    return RunStatement(stmt, params, out);
  }

  Result<sqlite3_stmt*> Prepared(std::string_view sql) {
    std::string key(sql);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, key.data(), int(key.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                                nullptr);
    if (rc != SQLITE_OK) return Error(rc);
    // Bounded: dynamic SQL (storage queries with many shapes) must not grow the cache forever.
    if (cache_.size() >= 256) {
      for (auto& [s, st] : cache_) sqlite3_finalize(st);
      cache_.clear();
    }
    cache_.emplace(std::move(key), stmt);
    return stmt;
  }

  Status RunStatement(sqlite3_stmt* stmt, const std::vector<Value>& params, Rows* out) {
    struct Reset {
      sqlite3_stmt* s;
      ~Reset() {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
      }
    } reset{stmt};

    if (int(params.size()) != sqlite3_bind_parameter_count(stmt)) {
      return Internal("SQL parameter count mismatch: statement expects " +
                      std::to_string(sqlite3_bind_parameter_count(stmt)) + ", got " +
                      std::to_string(params.size()));
    }
    for (size_t i = 0; i < params.size(); ++i) {
      int idx = int(i + 1);
      const Value& v = params[i];
      int rc;
      if (std::holds_alternative<std::monostate>(v)) {
        rc = sqlite3_bind_null(stmt, idx);
      } else if (auto* n = std::get_if<int64_t>(&v)) {
        rc = sqlite3_bind_int64(stmt, idx, *n);
      } else if (auto* d = std::get_if<double>(&v)) {
        rc = sqlite3_bind_double(stmt, idx, *d);
      } else {
        const auto& s = std::get<std::string>(v);
        rc = sqlite3_bind_text64(stmt, idx, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      }
      if (rc != SQLITE_OK) return Error(rc);
    }

    if (out) {
      int n = sqlite3_column_count(stmt);
      out->columns.clear();
      out->rows.clear();  // a transaction run again starts from scratch (database.h)
      for (int i = 0; i < n; ++i) out->columns.emplace_back(sqlite3_column_name(stmt, i));
    }
    for (;;) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return Error(rc);
      if (!out) continue;
      int n = sqlite3_column_count(stmt);
      std::vector<Value> row;
      row.reserve(n);
      for (int i = 0; i < n; ++i) {
        switch (sqlite3_column_type(stmt, i)) {
          case SQLITE_NULL:
            row.emplace_back(std::monostate{});
            break;
          case SQLITE_INTEGER:
            row.emplace_back(int64_t(sqlite3_column_int64(stmt, i)));
            break;
          case SQLITE_FLOAT:
            row.emplace_back(sqlite3_column_double(stmt, i));
            break;
          default: {
            const char* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
            int len = sqlite3_column_bytes(stmt, i);
            row.emplace_back(std::string(p ? p : "", size_t(len)));
          }
        }
      }
      out->rows.push_back(std::move(row));
    }
    return Status::Ok();
  }

  sqlite3* db_;
  WriterTurns* turns_;
  std::chrono::steady_clock::time_point locked_at_;
  bool wal_ = false;
  // How long one transaction lets other processes' readers go first (WAL mode): a reader that
  // never ends delays this host's write by about this much, not for ever.
  static constexpr std::chrono::milliseconds kPatience{500};
  std::chrono::steady_clock::time_point patience_until_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace

Result<std::unique_ptr<Database>> SqliteDatabase::Open(const std::string& path) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  std::unique_ptr<SqliteDatabase> db(new SqliteDatabase(path));
  // Open one connection now so a bad path fails at start, not at the first plugin call.
  PS_ASSIGN(auto first, db->NewConnection());
  db->idle_.push_back(first.get());
  db->all_.push_back(std::move(first));
  return std::unique_ptr<Database>(std::move(db));
}

SqliteDatabase::SqliteDatabase(std::string path)
    : path_(std::move(path)), turns_(WriterTurns::For(path_)) {}

SqliteDatabase::~SqliteDatabase() = default;

const Dialect& SqliteDatabase::dialect() const { return kDialect; }
const Dialect& SqliteDatabase::StaticDialect() { return kDialect; }

Result<std::unique_ptr<Connection>> SqliteDatabase::NewConnection() {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path_.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string m = raw ? sqlite3_errmsg(raw) : "out of memory";
    sqlite3_close_v2(raw);
    return Internal("cannot open SQLite database " + path_ + ": " + m);
  }
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  auto conn = std::make_unique<SqliteConnection>(raw, turns_.get());
  // Foreign keys on, as better-sqlite3 (EmDash's driver) has them by default.
  PS_TRY(conn->ExecScript("PRAGMA foreign_keys=ON;"));
  // The journal mode is the site's: a file EmDash made stays in the mode EmDash left it in
  // (rollback journal unless the site chose WAL). Only a database this host creates, still
  // empty, is put in WAL, which lasts with the file.
  PS_ASSIGN(auto pages, conn->Query("PRAGMA page_count", {}));
  if (std::get<int64_t>(pages.rows.at(0).at(0)) == 0) {
    PS_TRY(conn->ExecScript("PRAGMA journal_mode=WAL;"));
  }
  PS_ASSIGN(auto mode, conn->Query("PRAGMA journal_mode", {}));
  // NORMAL is safe against power loss only in WAL mode; the rollback journal keeps FULL.
  if (std::get<std::string>(mode.rows.at(0).at(0)) == "wal") {
    PS_TRY(conn->ExecScript("PRAGMA synchronous=NORMAL;"));
    conn->set_wal(true);
  }
  return std::unique_ptr<Connection>(std::move(conn));
}

ConnectionHandle SqliteDatabase::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (!idle_.empty()) {
      Connection* c = idle_.back();
      idle_.pop_back();
      return ConnectionHandle(c, [this](Connection* back) {
        std::lock_guard<std::mutex> l(mu_);
        idle_.push_back(back);
        cv_.notify_one();
      });
    }
    if (all_.size() < kPoolSize) {
      auto made = NewConnection();
      if (made.ok()) {
        all_.push_back(std::move(made).value());
        idle_.push_back(all_.back().get());
        continue;
      }
    }
    cv_.wait(lock, [this] { return !idle_.empty(); });
  }
}

}  // namespace ps::store
