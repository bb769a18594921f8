#include "store/migrations.h"

#include <string>
#include <vector>

#include "common/ids.h"
#include "store/emdash_schema.h"
#include "store/site_schema.h"

namespace ps::store {
namespace {

struct Migration {
  int version;
  const char* name;
  const char* sql;  // `{NOW}` stands for the dialect's current-time default
};

// The host's own tables, beside EmDash's; never EmDash's. Never edit a migration that has
// shipped; add a new one.
const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> kAll = {
      {1, "host: installed plugin bundles", R"SQL(
CREATE TABLE _ps_plugins (
  id TEXT PRIMARY KEY,
  version TEXT NOT NULL,
  manifest TEXT NOT NULL,
  module TEXT NOT NULL,
  source TEXT NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 1,
  installed_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
)SQL"},
  };
  return kAll;
}

// An empty database becomes EmDash's: its whole schema, and its migrations recorded as applied.
Status CreateEmdashBaseline(Connection& conn, const Dialect& dialect) {
  return conn.Transaction([&]() -> Status {
    // Checked inside the write transaction: of two hosts starting together, one creates it.
    PS_ASSIGN(auto exists, conn.Query(dialect.TableExistsSql(), {"_emdash_migrations"}));
    if (!exists.empty()) return Status::Ok();
    PS_TRY(conn.ExecScript(emdash::BaselineDdl(dialect)));
    // Kysely's migrator, which EmDash uses, stamps each migration with an ISO time.
    const std::string now = NowIso();
    for (std::string_view name : emdash::BaselineMigrations()) {
      PS_ASSIGN(auto n, conn.Exec("INSERT INTO \"_emdash_migrations\" (\"name\", \"timestamp\") "
                                  "VALUES (?, ?)",
                                  {std::string(name), now}));
      (void)n;
    }
    return Status::Ok();
  });
}

// Takes the site's database as it is: an empty one gets EmDash's schema; an EmDash one is checked
// and never altered; anything else is refused before a byte is written.
Status PrepareSite(Connection& conn, const Dialect& dialect) {
  PS_ASSIGN(SiteSchema before, SiteSchema::Read(conn, dialect));
  if (!before.EmdashMigrated()) {
    if (before.HasTable("_ps_migrations")) {
      return InvalidArgument(
          "this database was made by plugin-sandbox 0.1 with a schema of its own; this version "
          "works on EmDash's schema (EmDash " +
          std::string(emdash::kSupportedVersions) +
          "): start it on a new database or on the site's EmDash database");
    }
    auto tables = before.EmdashTables();
    if (!tables.empty()) {
      return InvalidArgument("the database has table " + tables.front() +
                             " but no _emdash_migrations: it was not made by EmDash, and "
                             "plugin-sandbox will not guess its schema; point it at an EmDash "
                             "database or an empty one");
    }
    PS_TRY(CreateEmdashBaseline(conn, dialect));
    return Status::Ok();
  }
  return before.Verify();
}

Status MigrateLocked(Connection& conn, const Dialect& dialect) {
  PS_TRY(PrepareSite(conn, dialect));
  PS_TRY(conn.ExecScript(
      RenderDdl("CREATE TABLE IF NOT EXISTS _ps_migrations (version INTEGER PRIMARY KEY, name "
                "TEXT NOT NULL, applied_at TEXT NOT NULL)",
                dialect)));
  for (const auto& m : Migrations()) {
    Status st = conn.Transaction([&]() -> Status {
      // Checked inside the write transaction so two processes starting together apply it once.
      PS_ASSIGN(auto done,
                conn.Query("SELECT 1 FROM _ps_migrations WHERE version = ?", {int64_t(m.version)}));
      if (!done.empty()) return Status::Ok();
      PS_TRY(conn.ExecScript(RenderDdl(m.sql, dialect)));
      PS_ASSIGN(auto n, conn.Exec("INSERT INTO _ps_migrations (version, name, applied_at) VALUES "
                                  "(?, ?, ?)",
                                  {int64_t(m.version), std::string(m.name), NowIso()}));
      (void)n;
      return Status::Ok();
    });
    if (!st.ok()) {
      return Status(st.code(), "migration " + std::to_string(m.version) + " (" + m.name +
                                   ") failed: " + st.message());
    }
  }
  return Status::Ok();
}

}  // namespace

int LatestSchemaVersion() { return Migrations().back().version; }

Status Migrate(Connection& conn, const Dialect& dialect) {
  // Hosts starting together on one PostgreSQL database: the first takes the lock and migrates,
  // the others wait and then find every version recorded.
  if (std::string lock = dialect.MigrationLockSql(); !lock.empty()) {
    PS_TRY(conn.ExecScript(lock));
    Status st = MigrateLocked(conn, dialect);
    Status unlock = conn.ExecScript(dialect.MigrationUnlockSql());
    return st.ok() ? unlock : st;
  }
  return MigrateLocked(conn, dialect);
}

}  // namespace ps::store
