#include "store/postgres/postgres_database.h"

#include <libpq-fe.h>
#include <poll.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

namespace ps::store {
namespace {

// `(data)::jsonb->'<f>'`: the field as jsonb (field names are validated before they get here).
std::string JsonField(std::string_view f) { return "(data)::jsonb->'" + std::string(f) + "'"; }

class PostgresDialect : public Dialect {
 public:
  std::string_view name() const override { return "postgres"; }
  // COLLATE "C": bytewise, as SQLite compares text.
  std::string JsonText(std::string_view f) const override {
    return "((data)::jsonb->>'" + std::string(f) + "' COLLATE \"C\")";
  }
  std::string JsonNumeric(std::string_view f) const override {
    return "CASE WHEN jsonb_typeof(" + JsonField(f) + ") = 'number' THEN ((data)::jsonb->>'" +
           std::string(f) + "')::numeric END";
  }
  // jsonb's own order ranks strings below numbers and booleans above both; SQLite's json_extract
  // order is NULL < numbers and booleans (0/1) < text. Three keys reproduce the latter: a rank,
  // the numeric value, the text.
  std::vector<std::string> JsonOrderKeys(std::string_view f) const override {
    const std::string j = JsonField(f);
    return {
        "CASE jsonb_typeof(" + j +
            ") WHEN 'number' THEN 1 WHEN 'boolean' THEN 1 WHEN 'string' THEN 2 WHEN 'array' THEN 2 "
            "WHEN 'object' THEN 2 END",
        "CASE jsonb_typeof(" + j + ") WHEN 'number' THEN (" + j +
            " #>> '{}')::float8 WHEN 'boolean' THEN CASE WHEN " + j +
            " = 'true'::jsonb THEN 1 ELSE 0 END END",
        "(CASE WHEN jsonb_typeof(" + j + ") IN ('string', 'array', 'object') THEN " +
            "(data)::jsonb->>'" + std::string(f) + "' END) COLLATE \"C\"",
    };
  }
  std::string_view NullsOrder(bool ascending) const override {
    return ascending ? " NULLS FIRST" : " NULLS LAST";
  }
  std::string JsonStringGuard(std::string_view f) const override {
    return "jsonb_typeof(" + JsonField(f) + ") = 'string'";
  }
  // Compared as jsonb: the bound 'true'/'false' is read as a jsonb literal.
  std::string JsonBoolExpr(std::string_view f) const override { return "(" + JsonField(f) + ")"; }
  Value JsonBool(bool b) const override { return std::string(b ? "true" : "false"); }
  std::string_view LikeCi() const override { return "ILIKE"; }
  std::string TableExistsSql() const override {
    return "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND "
           "table_name = ?";
  }
  std::string ColumnsSql() const override {
    return "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE "
           "table_schema = current_schema()";
  }
  std::string_view TextType() const override { return "TEXT COLLATE \"C\""; }
  std::string_view IntegerType() const override { return "BIGINT"; }
  std::string_view RealType() const override { return "DOUBLE PRECISION"; }
  // The text SQLite's datetime('now') produces.
  std::string_view NowDefault() const override {
    return "(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'))";
  }
  size_t MaxIdentifierBytes() const override { return 63; }  // NAMEDATALEN - 1
  std::string MigrationLockSql() const override {
    return "SELECT pg_advisory_lock(hashtext('plugin-sandbox migrations ' || current_schema()))";
  }
  std::string MigrationUnlockSql() const override {
    return "SELECT pg_advisory_unlock(hashtext('plugin-sandbox migrations ' || "
           "current_schema()))";
  }
};

const PostgresDialect kDialect;

// Our `?` placeholders as PostgreSQL's `$1, $2, …`, leaving quoted text alone.
std::string Numbered(std::string_view sql, int* count) {
  std::string out;
  out.reserve(sql.size() + 8);
  char quote = 0;
  int n = 0;
  for (char ch : sql) {
    if (quote) {
      if (ch == quote) quote = 0;
      out += ch;
    } else if (ch == '\'' || ch == '"') {
      quote = ch;
      out += ch;
    } else if (ch == '?') {
      out += '$' + std::to_string(++n);
    } else {
      out += ch;
    }
  }
  *count = n;
  return out;
}

std::string Trimmed(const char* s) {
  std::string m = s ? s : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

bool IsIdentifier(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// SQLite's wording for a constraint violation, so plugins see one message on both backends.
std::string SqliteStyle(const PGresult* r, std::string_view state, const std::string& primary) {
  auto field = [&](int code) {
    const char* v = PQresultErrorField(r, code);
    return std::string(v ? v : "");
  };
  std::string table = field(PG_DIAG_TABLE_NAME);
  if (state == "23505") {
    // DETAIL: Key (slug, locale)=(a, en) already exists.
    std::string detail = field(PG_DIAG_MESSAGE_DETAIL);
    size_t open = detail.find("Key (");
    size_t close = detail.find(")=(");
    if (open != std::string::npos && close != std::string::npos && close > open) {
      std::string cols = detail.substr(open + 5, close - open - 5);
      std::string out;
      bool simple = true;
      for (size_t p = 0; p <= cols.size();) {
        size_t comma = cols.find(", ", p);
        std::string c = cols.substr(p, comma == std::string::npos ? std::string::npos : comma - p);
        simple &= IsIdentifier(c);
        out += (out.empty() ? "" : ", ") + table + "." + c;
        if (comma == std::string::npos) break;
        p = comma + 2;
      }
      if (simple && !table.empty()) return "UNIQUE constraint failed: " + out;
    }
    return "UNIQUE constraint failed: index '" + field(PG_DIAG_CONSTRAINT_NAME) + "'";
  }
  if (state == "23502")
    return "NOT NULL constraint failed: " + table + "." + field(PG_DIAG_COLUMN_NAME);
  if (state == "23503") return "FOREIGN KEY constraint failed";
  if (state == "23514") return "CHECK constraint failed: " + field(PG_DIAG_CONSTRAINT_NAME);
  // Quoted names in: column "c" of relation "t" does not exist / column "c" does not exist /
  // relation "t" does not exist.
  std::vector<std::string> quoted;
  for (size_t p = primary.find('"'); p != std::string::npos && quoted.size() < 2;) {
    size_t q = primary.find('"', p + 1);
    if (q == std::string::npos) break;
    quoted.push_back(primary.substr(p + 1, q - p - 1));
    p = primary.find('"', q + 1);
  }
  if (state == "42703" && quoted.size() == 2) {
    return "table " + quoted[1] + " has no column named " + quoted[0];
  }
  if (state == "42703" && quoted.size() == 1) return "no such column: " + quoted[0];
  if (state == "42P01" && quoted.size() == 1) return "no such table: " + quoted[0];
  return primary;
}

class PostgresConnection : public Connection {
 public:
  explicit PostgresConnection(const std::string* conninfo) : conninfo_(conninfo) {}
  ~PostgresConnection() override {
    if (conn_) PQfinish(conn_);
  }

  // Connects now (Open() uses it to fail fast on a bad URL).
  Status Connect() {
    if (conn_) PQfinish(conn_);
    statements_.clear();
    in_tx_ = false;
    // Defaults the URI may override: a dead peer is noticed within seconds (TCP keepalives, a
    // user timeout on unacknowledged sends) and no statement or lock wait runs unbounded, so a
    // partitioned database fails calls instead of holding the host's threads for minutes.
    const char* keys[] = {"connect_timeout",
                          "application_name",
                          "keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "tcp_user_timeout",
                          "options",
                          "dbname",
                          nullptr};
    const char* values[] = {"5",
                            "plugin-sandbox",
                            "1",
                            "5",
                            "2",
                            "3",
                            "15000",
                            "-c statement_timeout=60000 -c lock_timeout=30000",
                            conninfo_->c_str(),
                            nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      std::string m = conn_ ? Trimmed(PQerrorMessage(conn_)) : "out of memory";
      m = m.substr(0, m.find('\n'));
      if (conn_) PQfinish(conn_);
      conn_ = nullptr;
      return Status(Code::kUnavailable, "database unavailable: " + m);
    }
    // NOTICEs ("relation already exists, skipping") are not errors; keep them off stderr.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
    return Status::Ok();
  }

  Result<Rows> Query(std::string_view sql, const std::vector<Value>& params) override {
    Rows rows;
    PS_TRY(Run(sql, params, &rows, nullptr));
    return rows;
  }

  Result<int64_t> Exec(std::string_view sql, const std::vector<Value>& params) override {
    int64_t changed = 0;
    PS_TRY(Run(sql, params, nullptr, &changed));
    return changed;
  }

  Status ExecScript(std::string_view sql) override {
    PS_TRY(Ready());
    std::string s(sql);
    PGresult* r = PQexec(conn_, s.c_str());
    Status st = Check(r);
    PQclear(r);
    return st;
  }

 protected:
  Status Begin(int) override {
    PS_TRY(ExecScript("BEGIN"));
    in_tx_ = true;
    return Status::Ok();
  }
  Status Commit() override {
    PS_TRY(Ready());
    PGresult* r = PQexec(conn_, "COMMIT");
    Status st = Check(r);
    // COMMIT of a transaction an earlier statement aborted answers ROLLBACK, not an error.
    if (st.ok() && std::string_view(PQcmdStatus(r)) == "ROLLBACK") {
      st = Status(Code::kConflict, "the transaction was rolled back after an earlier error");
    }
    PQclear(r);
    in_tx_ = false;
    return st;
  }
  void Rollback() override {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK) PQclear(PQexec(conn_, "ROLLBACK"));
    in_tx_ = false;
  }

 private:
  // A usable connection: reconnects when there is none or when the server closed it while it
  // sat idle (a restarted server, an administrator's pg_terminate_backend). Inside a transaction
  // a lost connection is an error: the transaction is gone with it.
  Status Ready() {
    if (conn_ && !in_tx_ && (PQstatus(conn_) != CONNECTION_OK || HasInput())) {
      // An idle connection has nothing to read unless the server is closing it (its FATAL
      // message, then EOF): replace it before sending anything.
      PQfinish(conn_);
      conn_ = nullptr;
    }
    if (!conn_) {
      if (in_tx_) return Status(Code::kUnavailable, "database unavailable: connection lost");
      return Connect();
    }
    if (PQstatus(conn_) != CONNECTION_OK) {
      return Status(Code::kUnavailable, "database unavailable: " + Trimmed(PQerrorMessage(conn_)));
    }
    return Status::Ok();
  }

  bool HasInput() const {
    pollfd p{PQsocket(conn_), POLLIN, 0};
    return ::poll(&p, 1, 0) != 0;  // readable, hung up, or an error
  }

  Status Check(PGresult* r) {
    ExecStatusType t = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK || t == PGRES_EMPTY_QUERY) {
      return Status::Ok();
    }
    const char* state_c = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    std::string state = state_c ? state_c : "";
    if (!r || state.empty() || PQstatus(conn_) != CONNECTION_OK || state.rfind("08", 0) == 0 ||
        state == "57P01" || state == "57P02" || state == "57P03" || state == "53300") {
      std::string m = r ? Trimmed(PQresultErrorMessage(r)) : Trimmed(PQerrorMessage(conn_));
      if (m.rfind("FATAL:  ", 0) == 0) m = m.substr(8);
      if (m.rfind("ERROR:  ", 0) == 0) m = m.substr(8);
      return Status(Code::kUnavailable, "database unavailable: " + m.substr(0, m.find('\n')));
    }
    std::string primary = Trimmed(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
    if (state.rfind("23", 0) == 0) return Status(Code::kConflict, SqliteStyle(r, state, primary));
    if (state == "42703" || state == "42P01") {
      return Status(Code::kInternal, SqliteStyle(r, state, primary));
    }
    if (state == "40001" || state == "40P01") return Status(Code::kConflict, primary);
    return Status(Code::kInternal, primary);
  }

  struct Prepared {
    std::string name;
    int params;
  };

  Result<const Prepared*> Prepare(std::string_view sql) {
    std::string key(sql);
    auto it = statements_.find(key);
    if (it != statements_.end()) return &it->second;
    // Bounded: dynamic SQL (storage queries of many shapes) must not grow the server's memory.
    if (statements_.size() >= 256) {
      PQclear(PQexec(conn_, "DEALLOCATE ALL"));
      statements_.clear();
    }
    int count = 0;
    std::string text = Numbered(sql, &count);
    std::string name = "ps" + std::to_string(++next_statement_);
    PGresult* r = PQprepare(conn_, name.c_str(), text.c_str(), count, nullptr);
    Status st = Check(r);
    PQclear(r);
    if (!st.ok()) return st;
    return &statements_.emplace(std::move(key), Prepared{name, count}).first->second;
  }

  Status Run(std::string_view sql, const std::vector<Value>& params, Rows* out, int64_t* changed) {
    PS_TRY(Ready());
    PS_ASSIGN(const Prepared* p, Prepare(sql));
    if (int(params.size()) != p->params) {
      return Internal("SQL parameter count mismatch: statement expects " +
                      std::to_string(p->params) + ", got " + std::to_string(params.size()));
    }
    std::vector<std::string> text(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      const Value& v = params[i];
      if (IsNull(v)) continue;
      if (auto* n = std::get_if<int64_t>(&v)) {
        text[i] = std::to_string(*n);
      } else if (auto* d = std::get_if<double>(&v)) {
        if (std::isnan(*d)) {
          text[i] = "NaN";
        } else if (std::isinf(*d)) {
          text[i] = *d > 0 ? "Infinity" : "-Infinity";
        } else {
          // Shortest text that reads back as the same double, so numeric comparisons with what
          // JavaScript wrote match exactly.
          char buf[32];
          auto res = std::to_chars(buf, buf + sizeof buf, *d);
          text[i].assign(buf, res.ptr);
        }
      } else {
        text[i] = std::get<std::string>(v);
        if (text[i].find('\0') != std::string::npos) {
          return InvalidArgument("PostgreSQL text cannot contain NUL characters");
        }
      }
      values[i] = text[i].c_str();
    }
    PGresult* r = PQexecPrepared(conn_, p->name.c_str(), int(params.size()), values.data(), nullptr,
                                 nullptr, 0);
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    bool stale_plan = state && std::string_view(state) == "0A000";
    Status st = Check(r);
    if (!st.ok()) {
      PQclear(r);
      // A table changed under a prepared statement ("cached plan must not change result type"):
      // forget it so the next call prepares afresh. (Other errors leave the statement valid.)
      if (stale_plan) {
        std::string deallocate = "DEALLOCATE " + p->name;
        statements_.erase(std::string(sql));
        if (!in_tx_) PQclear(PQexec(conn_, deallocate.c_str()));
      }
      return st;
    }
    if (changed) {
      const char* n = PQcmdTuples(r);
      *changed = (n && *n) ? std::strtoll(n, nullptr, 10) : 0;
    }
    if (out) Collect(r, out);
    PQclear(r);
    return Status::Ok();
  }

  static void Collect(PGresult* r, Rows* out) {
    int cols = PQnfields(r);
    int n = PQntuples(r);
    out->columns.clear();
    for (int c = 0; c < cols; ++c) out->columns.emplace_back(PQfname(r, c));
    out->rows.reserve(size_t(n));
    for (int i = 0; i < n; ++i) {
      std::vector<Value> row;
      row.reserve(size_t(cols));
      for (int c = 0; c < cols; ++c) {
        if (PQgetisnull(r, i, c)) {
          row.emplace_back(std::monostate{});
          continue;
        }
        const char* v = PQgetvalue(r, i, c);
        int len = PQgetlength(r, i, c);
        switch (PQftype(r, c)) {
          case 16:  // bool
            row.emplace_back(int64_t(v[0] == 't' ? 1 : 0));
            break;
          case 20:  // int8
          case 21:  // int2
          case 23:  // int4
          case 26:  // oid
            row.emplace_back(int64_t(std::strtoll(v, nullptr, 10)));
            break;
          case 700:  // float4
          case 701:  // float8
            row.emplace_back(std::strtod(v, nullptr));
            break;
          case 1700: {  // numeric: integral values stay integers, as SQLite returns them
            std::string_view s(v, size_t(len));
            int64_t i64 = 0;
            auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), i64);
            if (ec == std::errc() && end == s.data() + s.size()) {
              row.emplace_back(i64);
            } else {
              row.emplace_back(std::strtod(v, nullptr));
            }
            break;
          }
          default:
            row.emplace_back(std::string(v, size_t(len)));
        }
      }
      out->rows.push_back(std::move(row));
    }
  }

  const std::string* conninfo_;
  PGconn* conn_ = nullptr;
  bool in_tx_ = false;
  uint64_t next_statement_ = 0;
  std::unordered_map<std::string, Prepared> statements_;
};

// What Acquire hands out when no pooled connection came free in time: every call fails.
class ExhaustedConnection : public Connection {
 public:
  explicit ExhaustedConnection(std::chrono::milliseconds waited)
      : message_("database unavailable: no connection came free within " +
                 std::to_string(waited.count()) + " ms (every pooled connection is busy)") {}
  Result<Rows> Query(std::string_view, const std::vector<Value>&) override { return Fail(); }
  Result<int64_t> Exec(std::string_view, const std::vector<Value>&) override { return Fail(); }
  Status ExecScript(std::string_view) override { return Fail(); }

 protected:
  Status Begin(int) override { return Fail(); }
  Status Commit() override { return Fail(); }
  void Rollback() override {}

 private:
  Status Fail() const { return Status(Code::kUnavailable, message_); }
  std::string message_;
};

// Our own query parameters, removed from the URI before it reaches libpq.
struct PoolParams {
  size_t pool_max = 8;
  std::chrono::milliseconds acquire_timeout{30000};
};

Result<std::string> StripPoolParams(const std::string& url, PoolParams* out) {
  size_t q = url.find('?');
  if (q == std::string::npos) return url;
  auto number = [](const std::string& name, const std::string& n, long lo,
                   long hi) -> Result<long> {
    char* end = nullptr;
    long v = std::strtol(n.c_str(), &end, 10);
    if (n.empty() || *end || v < lo || v > hi) {
      return InvalidArgument("--db: " + name + " must be a number from " + std::to_string(lo) +
                             " to " + std::to_string(hi) + ", got \"" + n + "\"");
    }
    return v;
  };
  std::string base = url.substr(0, q);
  std::string rest;
  size_t p = q + 1;
  while (p <= url.size()) {
    size_t amp = url.find('&', p);
    std::string part = url.substr(p, amp == std::string::npos ? std::string::npos : amp - p);
    if (part.rfind("pool_max=", 0) == 0) {
      PS_ASSIGN(long v, number("pool_max", part.substr(9), 1, 1000));
      out->pool_max = size_t(v);
    } else if (part.rfind("acquire_timeout_ms=", 0) == 0) {
      PS_ASSIGN(long v, number("acquire_timeout_ms", part.substr(19), 1, 3600000));
      out->acquire_timeout = std::chrono::milliseconds(v);
    } else if (!part.empty()) {
      rest += (rest.empty() ? "?" : "&") + part;
    }
    if (amp == std::string::npos) break;
    p = amp + 1;
  }
  return base + rest;
}

}  // namespace

Result<std::unique_ptr<Database>> PostgresDatabase::Open(const std::string& url) {
  PoolParams pool;
  PS_ASSIGN(std::string conninfo, StripPoolParams(url, &pool));
  std::unique_ptr<PostgresDatabase> db(
      new PostgresDatabase(std::move(conninfo), pool.pool_max, pool.acquire_timeout));
  auto first = std::make_unique<PostgresConnection>(&db->conninfo_);
  Status st = first->Connect();
  if (!st.ok()) {
    return Status(Code::kUnavailable, "cannot connect to PostgreSQL: " +
                                          st.message().substr(st.message().find(": ") + 2));
  }
  db->idle_.push_back(first.get());
  db->all_.push_back(std::move(first));
  return std::unique_ptr<Database>(std::move(db));
}

PostgresDatabase::PostgresDatabase(std::string conninfo, size_t pool_max,
                                   std::chrono::milliseconds acquire_timeout)
    : conninfo_(std::move(conninfo)),
      pool_max_(pool_max),
      acquire_timeout_(acquire_timeout),
      exhausted_(std::make_unique<ExhaustedConnection>(acquire_timeout)) {}

PostgresDatabase::~PostgresDatabase() = default;

const Dialect& PostgresDatabase::dialect() const { return kDialect; }
const Dialect& PostgresDatabase::StaticDialect() { return kDialect; }

ConnectionHandle PostgresDatabase::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  if (idle_.empty() && all_.size() < pool_max_) {
    // Connects on first use, so a server that is down makes the call fail, not Acquire block.
    all_.push_back(std::make_unique<PostgresConnection>(&conninfo_));
    idle_.push_back(all_.back().get());
  }
  // Bounded: with every connection stuck (a partitioned server; statement_timeout ends that),
  // calls fail instead of queueing without end.
  if (!cv_.wait_for(lock, acquire_timeout_, [this] { return !idle_.empty(); })) {
    return ConnectionHandle(exhausted_.get(), nullptr);
  }
  Connection* c = idle_.back();
  idle_.pop_back();
  return ConnectionHandle(c, [this](Connection* back) {
    std::lock_guard<std::mutex> l(mu_);
    idle_.push_back(back);
    cv_.notify_one();
  });
}

}  // namespace ps::store
