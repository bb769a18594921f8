#include "store/database.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "store/migrations.h"
#include "store/site_schema.h"
#include "store_env.h"
#include "test_util.h"

// Every test here runs on SQLite and, under PS_TEST_STORE=postgres, on PostgreSQL.
namespace ps::store {
namespace {

using ps::testing::TestDatabaseUrl;
using ps::testing::TestOnPostgres;

Result<std::unique_ptr<Database>> Open(const ps::testing::TempDir& dir) {
  return OpenDatabase(TestDatabaseUrl(dir));
}

TEST(Database, MigratesOnceAndRecordsEveryVersion) {
  ps::testing::TempDir dir;
  std::string url = TestDatabaseUrl(dir);
  {
    auto db = OpenDatabase(url);
    ASSERT_TRUE(db.ok()) << db.status().message();
  }
  auto db = OpenDatabase(url);  // second open: nothing applied twice
  ASSERT_TRUE(db.ok()) << db.status().message();
  auto conn = (*db)->Acquire();
  auto rows = conn->Query("SELECT COUNT(*) FROM _ps_migrations");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(std::get<int64_t>(rows->rows[0][0]), LatestSchemaVersion());
  // EmDash 0.32.0's schema, with EmDash's migrations recorded as applied.
  for (const char* t :
       {"_plugin_storage", "_plugin_indexes", "_emdash_collections", "_emdash_fields", "revisions",
        "media", "users", "options", "_emdash_taxonomy_defs", "taxonomies", "content_taxonomies",
        "_emdash_migrations", "_emdash_comments", "_emdash_bylines", "_ps_plugins"}) {
    auto exists = conn->Query((*db)->dialect().TableExistsSql(), {std::string(t)});
    ASSERT_TRUE(exists.ok()) << exists.status().message();
    EXPECT_FALSE(exists->empty()) << t;
  }
  // Tables only EmDash's main branch has are not made up.
  for (const char* t : {"_emdash_revision_prune_queue", "_emdash_media_usage_activation"}) {
    auto exists = conn->Query((*db)->dialect().TableExistsSql(), {std::string(t)});
    ASSERT_TRUE(exists.ok()) << exists.status().message();
    EXPECT_TRUE(exists->empty()) << t;
  }
  auto migrations = conn->Query("SELECT COUNT(*) FROM _emdash_migrations");
  ASSERT_TRUE(migrations.ok()) << migrations.status().message();
  EXPECT_EQ(std::get<int64_t>(migrations->rows[0][0]), 53);
  EXPECT_FALSE((*db)->schema().revision_prune_queue());
  EXPECT_FALSE((*db)->schema().taxonomy_sort_order());
  EXPECT_TRUE((*db)->schema().content_taxonomies_denormalized());
  if (!TestOnPostgres()) {
    auto mode = conn->Query("PRAGMA journal_mode");
    ASSERT_TRUE(mode.ok());
    EXPECT_EQ(std::get<std::string>(mode->rows[0][0]), "wal");
  }
}

TEST(Database, RoundTripsEveryValueType) {
  ps::testing::TempDir dir;
  auto db = Open(dir);
  ASSERT_TRUE(db.ok()) << db.status().message();
  auto conn = (*db)->Acquire();
  ASSERT_TRUE(
      conn->ExecScript(RenderDdl("CREATE TABLE t (a TEXT, b INTEGER, c REAL, d TEXT, e REAL)",
                                 (*db)->dialect()))
          .ok());
  auto n = conn->Exec("INSERT INTO t VALUES (?, ?, ?, ?, ?)",
                      {std::monostate{}, int64_t(1) << 40, 2.5, std::string("x'?\"y"), 0.1});
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(*n, 1);
  auto rows = conn->Query("SELECT a, b, c, d, e FROM t WHERE e = ?", {0.1});
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  ASSERT_EQ(rows->size(), 1u);  // 0.1 reads back exactly, so equality with it holds
  EXPECT_TRUE(IsNull(rows->rows[0][0]));
  EXPECT_EQ(std::get<int64_t>(rows->rows[0][1]), int64_t(1) << 40);
  EXPECT_EQ(std::get<double>(rows->rows[0][2]), 2.5);
  EXPECT_EQ(std::get<std::string>(rows->rows[0][3]), "x'?\"y");
  EXPECT_EQ(rows->columns, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
}

TEST(Database, TextWithNulIsStoredOrRefusedClearly) {
  ps::testing::TempDir dir;
  auto db = Open(dir);
  ASSERT_TRUE(db.ok());
  auto conn = (*db)->Acquire();
  ASSERT_TRUE(conn->ExecScript(RenderDdl("CREATE TABLE t (d TEXT)", (*db)->dialect())).ok());
  auto n = conn->Exec("INSERT INTO t VALUES (?)", {std::string("x\0y", 3)});
  if (TestOnPostgres()) {
    ASSERT_FALSE(n.ok());
    EXPECT_EQ(n.status().message(), "PostgreSQL text cannot contain NUL characters");
  } else {
    ASSERT_TRUE(n.ok());
    auto rows = conn->Query("SELECT d FROM t");
    EXPECT_EQ(std::get<std::string>(rows->rows[0][0]), std::string("x\0y", 3));
  }
}

TEST(Database, TransactionRollsBackOnError) {
  ps::testing::TempDir dir;
  auto db = Open(dir);
  ASSERT_TRUE(db.ok());
  auto conn = (*db)->Acquire();
  ASSERT_TRUE(
      conn->ExecScript(RenderDdl("CREATE TABLE t (a INTEGER PRIMARY KEY)", (*db)->dialect())).ok());
  Status st = conn->Transaction([&]() -> Status {
    PS_TRY(conn->Exec("INSERT INTO t VALUES (1)").status());
    return conn->Exec("INSERT INTO t VALUES (1)").status();  // duplicate key
  });
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "UNIQUE constraint failed: t.a");
  EXPECT_EQ(st.code(), Code::kConflict);
  auto rows = conn->Query("SELECT COUNT(*) FROM t");
  EXPECT_EQ(std::get<int64_t>(rows->rows[0][0]), 0);
}

TEST(Database, ReportsErrorsInSqlitesWordingOnEveryBackend) {
  ps::testing::TempDir dir;
  auto db = Open(dir);
  ASSERT_TRUE(db.ok());
  auto conn = (*db)->Acquire();
  auto r = conn->Query("SELECT * FROM no_such_table");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "no such table: no_such_table");
  ASSERT_TRUE(conn->ExecScript(RenderDdl("CREATE TABLE t2 (k TEXT PRIMARY KEY); CREATE TABLE t "
                                         "(a TEXT NOT NULL, b TEXT REFERENCES t2(k), UNIQUE (a, "
                                         "b))",
                                         (*db)->dialect()))
                  .ok());
  EXPECT_EQ(conn->Exec("INSERT INTO t (a, nope) VALUES ('x', 1)").status().message(),
            "table t has no column named nope");
  EXPECT_EQ(conn->Query("SELECT nope FROM t").status().message(), "no such column: nope");
  auto null = conn->Exec("INSERT INTO t (a) VALUES (NULL)");
  EXPECT_EQ(null.status().message(), "NOT NULL constraint failed: t.a");
  EXPECT_EQ(null.status().code(), Code::kConflict);
  EXPECT_EQ(conn->Exec("INSERT INTO t (a, b) VALUES ('x', 'missing')").status().message(),
            "FOREIGN KEY constraint failed");
  ASSERT_TRUE(conn->Exec("INSERT INTO t2 (k) VALUES ('k')").ok());
  ASSERT_TRUE(conn->Exec("INSERT INTO t (a, b) VALUES ('x', 'k')").ok());
  EXPECT_EQ(conn->Exec("INSERT INTO t (a, b) VALUES ('x', 'k')").status().message(),
            "UNIQUE constraint failed: t.a, t.b");
}

TEST(Database, ConcurrentWritersFromSeveralThreadsLoseNothing) {
  ps::testing::TempDir dir;
  auto db = Open(dir);
  ASSERT_TRUE(db.ok());
  {
    auto conn = (*db)->Acquire();
    ASSERT_TRUE(conn->ExecScript(RenderDdl("CREATE TABLE c (k TEXT PRIMARY KEY, n INTEGER)",
                                           (*db)->dialect()))
                    .ok());
    ASSERT_TRUE(conn->Exec("INSERT INTO c VALUES ('x', 0)").ok());
  }
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto conn = (*db)->Acquire();
        Status st = conn->Transaction([&]() -> Status {
          return conn->Exec("UPDATE c SET n = n + 1 WHERE k = 'x'").status();
        });
        if (!st.ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto conn = (*db)->Acquire();
  auto rows = conn->Query("SELECT n FROM c");
  EXPECT_EQ(std::get<int64_t>(rows->rows[0][0]), 300);
}

TEST(OpenDatabase, RefusesUnknownUrlsWithTheExpectedForms) {
  auto db = OpenDatabase("mysql://x");
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.status().message().find("expected sqlite:PATH"), std::string::npos);
}

TEST(OpenDatabase, UnreachablePostgresFailsAtOnceWithLibpqsReason) {
  auto db = OpenDatabase("postgresql://nobody@/nodb?host=/nonexistent-socket-dir");
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::kUnavailable);
  EXPECT_EQ(db.status().message().rfind("cannot connect to PostgreSQL: ", 0), 0u)
      << db.status().message();
  EXPECT_NE(db.status().message().find("/nonexistent-socket-dir"), std::string::npos)
      << db.status().message();
}

TEST(OpenDatabase, PoolMaxMustBeAPositiveNumber) {
  auto db = OpenDatabase("postgresql://nobody@/nodb?host=/x&pool_max=zero");
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().message(), "--db: pool_max must be a number from 1 to 1000, got \"zero\"");
}

}  // namespace
}  // namespace ps::store
