#include "store/sqlite/sqlite_database.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "store/migrations.h"
#include "test_util.h"

namespace ps::store {
namespace {

TEST(SqliteDatabase, MigratesOnceAndRecordsEveryVersion) {
  ps::testing::TempDir dir;
  std::string url = "sqlite:" + (dir / "site.db").string();
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
  auto tables = conn->Query("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name");
  ASSERT_TRUE(tables.ok());
  std::set<std::string> names;
  for (auto& r : tables->rows) names.insert(std::get<std::string>(r[0]));
  for (const char* t :
       {"_plugin_storage", "_plugin_indexes", "_emdash_collections", "_emdash_fields", "revisions",
        "_emdash_revision_prune_queue", "media", "users", "options", "_emdash_taxonomy_defs",
        "taxonomies", "content_taxonomies", "_emdash_media_usage_activation"}) {
    EXPECT_TRUE(names.count(t)) << t;
  }
  auto mode = conn->Query("PRAGMA journal_mode");
  ASSERT_TRUE(mode.ok());
  EXPECT_EQ(std::get<std::string>(mode->rows[0][0]), "wal");
}

TEST(SqliteDatabase, RoundTripsEveryValueType) {
  ps::testing::TempDir dir;
  auto db = OpenDatabase("sqlite:" + (dir / "t.db").string());
  ASSERT_TRUE(db.ok());
  auto conn = (*db)->Acquire();
  ASSERT_TRUE(conn->ExecScript("CREATE TABLE t (a, b, c, d)").ok());
  auto n = conn->Exec("INSERT INTO t VALUES (?, ?, ?, ?)",
                      {std::monostate{}, int64_t(1) << 40, 2.5, std::string("x\0y", 3)});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  auto rows = conn->Query("SELECT a, b, c, d FROM t");
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(IsNull(rows->rows[0][0]));
  EXPECT_EQ(std::get<int64_t>(rows->rows[0][1]), int64_t(1) << 40);
  EXPECT_EQ(std::get<double>(rows->rows[0][2]), 2.5);
  EXPECT_EQ(std::get<std::string>(rows->rows[0][3]), std::string("x\0y", 3));
}

TEST(SqliteDatabase, TransactionRollsBackOnError) {
  ps::testing::TempDir dir;
  auto db = OpenDatabase("sqlite:" + (dir / "t.db").string());
  ASSERT_TRUE(db.ok());
  auto conn = (*db)->Acquire();
  ASSERT_TRUE(conn->ExecScript("CREATE TABLE t (a INTEGER PRIMARY KEY)").ok());
  Status st = conn->Transaction([&]() -> Status {
    PS_TRY(conn->Exec("INSERT INTO t VALUES (1)").status());
    return conn->Exec("INSERT INTO t VALUES (1)").status();  // duplicate key
  });
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("UNIQUE constraint failed"), std::string::npos) << st.message();
  EXPECT_EQ(st.code(), Code::kConflict);
  auto rows = conn->Query("SELECT COUNT(*) FROM t");
  EXPECT_EQ(std::get<int64_t>(rows->rows[0][0]), 0);
}

TEST(SqliteDatabase, ReportsDriverErrorText) {
  ps::testing::TempDir dir;
  auto db = OpenDatabase("sqlite:" + (dir / "t.db").string());
  ASSERT_TRUE(db.ok());
  auto conn = (*db)->Acquire();
  auto r = conn->Query("SELECT * FROM no_such_table");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "no such table: no_such_table");
}

TEST(SqliteDatabase, ConcurrentWritersFromSeveralThreadsLoseNothing) {
  ps::testing::TempDir dir;
  auto db = OpenDatabase("sqlite:" + (dir / "t.db").string());
  ASSERT_TRUE(db.ok());
  {
    auto conn = (*db)->Acquire();
    ASSERT_TRUE(conn->ExecScript("CREATE TABLE c (k TEXT PRIMARY KEY, n INTEGER)").ok());
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

}  // namespace
}  // namespace ps::store
