// What only PostgreSQL has: a server that can go away and come back, connections shared by hosts
// that start together, a bounded pool. (Everything the store and bridge do on both backends is in
// tests/store and tests/bridge, which CTest also runs with PS_TEST_STORE=postgres.)
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store/database.h"
#include "store/migrations.h"
#include "store_env.h"

namespace ps::store {
namespace {

using ps::testing::FreshPostgresSchema;
using ps::testing::PgCluster;

std::string Scalar(Connection& c, const std::string& sql) {
  auto r = c.Query(sql);
  if (!r.ok() || r->empty()) return "error: " + r.status().message();
  const Value& v = r->rows[0][0];
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  return "null";
}

TEST(Postgres, ACallWhileTheServerIsDownFailsClearlyAndCallsAfterItsRestartSucceed) {
  PgCluster cluster;
  std::string error;
  ASSERT_TRUE(cluster.Start(&error)) << error;
  auto db = OpenDatabase(cluster.url());
  ASSERT_TRUE(db.ok()) << db.status().message();
  {
    // Three connections in the pool, all of which the restart will leave stale.
    auto a = (*db)->Acquire(), b = (*db)->Acquire(), c = (*db)->Acquire();
    for (auto* conn : {&a, &b, &c}) ASSERT_EQ(Scalar(**conn, "SELECT 1"), "1");
    ASSERT_TRUE(a->Exec("INSERT INTO options (name, value) VALUES ('before', '1')").ok());
  }
  ASSERT_TRUE(cluster.Stop());
  {
    auto conn = (*db)->Acquire();
    auto r = conn->Query("SELECT value FROM options WHERE name = 'before'");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kUnavailable);
    EXPECT_EQ(r.status().message().rfind("database unavailable: ", 0), 0u) << r.status().message();
    auto w = conn->Exec("INSERT INTO options (name, value) VALUES ('during', '1')");
    EXPECT_EQ(w.status().code(), Code::kUnavailable);
  }
  ASSERT_TRUE(cluster.Start(&error)) << error;
  // Every pooled connection works on its first call after the restart.
  auto a = (*db)->Acquire(), b = (*db)->Acquire(), c = (*db)->Acquire();
  for (auto* conn : {&a, &b, &c}) {
    EXPECT_EQ(Scalar(**conn, "SELECT value FROM options WHERE name = 'before'"), "1");
  }
  EXPECT_EQ(Scalar(*a, "SELECT COUNT(*) FROM options WHERE name = 'during'"), "0");
}

TEST(Postgres, AConnectionTheServerClosedWhileIdleIsReplacedBeforeItIsUsed) {
  std::string url = FreshPostgresSchema();
  std::string app = "ps-idle-" + NewUlid();
  auto db = OpenDatabase(url + "&application_name=" + app);
  ASSERT_TRUE(db.ok()) << db.status().message();
  auto conn = (*db)->Acquire();
  ASSERT_EQ(Scalar(*conn, "SELECT 1"), "1");
  auto admin = OpenDatabase(url);
  ASSERT_TRUE(admin.ok());
  auto a = (*admin)->Acquire();
  ASSERT_EQ(Scalar(*a,
                   "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid, 5000) FROM "
                   "pg_stat_activity WHERE application_name = '" +
                       app + "') t"),
            "1");
  EXPECT_EQ(Scalar(*conn, "SELECT 2"), "2");
}

TEST(Postgres, HostsStartingTogetherApplyEachMigrationOnce) {
  std::string url = FreshPostgresSchema();
  constexpr int kHosts = 4;
  std::vector<std::thread> hosts;
  std::vector<std::string> errors(kHosts);
  for (int i = 0; i < kHosts; ++i) {
    hosts.emplace_back([&, i] {
      auto db = OpenDatabase(url);
      if (!db.ok()) errors[i] = db.status().message();
    });
  }
  for (auto& t : hosts) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  auto db = OpenDatabase(url);
  ASSERT_TRUE(db.ok());
  auto conn = (*db)->Acquire();
  EXPECT_EQ(Scalar(*conn, "SELECT COUNT(*) FROM _ps_migrations"),
            std::to_string(LatestSchemaVersion()));
  EXPECT_EQ(Scalar(*conn, "SELECT COUNT(*) FROM _emdash_taxonomy_defs"), "2");  // seeded once
}

TEST(Postgres, APoolNeverOpensMoreThanPoolMaxConnections) {
  std::string url = FreshPostgresSchema();
  std::string app = "ps-pool-" + NewUlid();
  auto db = OpenDatabase(url + "&pool_max=2&application_name=" + app);
  ASSERT_TRUE(db.ok()) << db.status().message();
  auto admin = OpenDatabase(url);
  ASSERT_TRUE(admin.ok());
  std::atomic<int> most{0}, failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 6; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        auto conn = (*db)->Acquire();
        if (!conn->Query("SELECT pg_sleep(0.01)").ok()) ++failures;
        auto a = (*admin)->Acquire();
        int n = std::stoi(Scalar(*a,
                                 "SELECT COUNT(*) FROM pg_stat_activity WHERE "
                                 "application_name = '" +
                                     app + "'"));
        for (int m = most.load(); n > m && !most.compare_exchange_weak(m, n);) {
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(most.load(), 1);
  EXPECT_LE(most.load(), 2);
}

TEST(Postgres, ACallThatFindsNoFreeConnectionInTimeFailsClearly) {
  auto db = OpenDatabase(FreshPostgresSchema() + "&pool_max=1&acquire_timeout_ms=100");
  ASSERT_TRUE(db.ok()) << db.status().message();
  auto held = (*db)->Acquire();
  ASSERT_EQ(Scalar(*held, "SELECT 1"), "1");
  auto late = (*db)->Acquire();  // the only connection is held: waits 100 ms, then gives up
  auto r = late->Query("SELECT 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(r.status().message(),
            "database unavailable: no connection came free within 100 ms (every pooled "
            "connection is busy)");
  EXPECT_FALSE(late->Transaction([] { return Status::Ok(); }).ok());
}

TEST(Postgres, JsonOrderingMatchesSqlitesAcrossTypes) {
  // NULL/missing first, then numbers and booleans (as 0/1) by value, then text bytewise, with
  // arrays and objects as text.
  auto db = OpenDatabase(FreshPostgresSchema());
  ASSERT_TRUE(db.ok());
  auto conn = (*db)->Acquire();
  const char* docs[][2] = {{"s-lower", R"({"f":"b"})"}, {"s-upper", R"({"f":"B"})"},
                           {"n-big", R"({"f":10})"},    {"n-neg", R"({"f":-1.5})"},
                           {"t", R"({"f":true})"},      {"null", R"({"f":null})"},
                           {"missing", R"({})"},        {"arr", R"({"f":[1]})"}};
  for (auto& d : docs) {
    ASSERT_TRUE(conn->Exec("INSERT INTO _plugin_storage (plugin_id, collection, id, data) VALUES "
                           "('p', 'c', ?, ?)",
                           {std::string(d[0]), std::string(d[1])})
                    .ok());
  }
  std::string order;
  for (const auto& k : (*db)->dialect().JsonOrderKeys("f"))
    order += k + " ASC" + std::string((*db)->dialect().NullsOrder(true)) + ", ";
  auto rows = conn->Query("SELECT id FROM _plugin_storage ORDER BY " + order + "id ASC");
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  std::vector<std::string> ids;
  for (auto& r : rows->rows) ids.push_back(std::get<std::string>(r[0]));
  EXPECT_EQ(ids, (std::vector<std::string>{"missing", "null", "n-neg", "t", "n-big", "s-upper",
                                           "arr", "s-lower"}));
}

TEST(Postgres, LongIdentifiersAreFittedAndStayDistinct) {
  auto db = OpenDatabase(FreshPostgresSchema());
  ASSERT_TRUE(db.ok());
  const auto& d = (*db)->dialect();
  std::string a = "idx_plugin_" + std::string(80, 'p') + "_docs_first";
  std::string b = "idx_plugin_" + std::string(80, 'p') + "_docs_second";
  EXPECT_EQ(FitIdentifier("short_name", d), "short_name");
  EXPECT_EQ(FitIdentifier(a, d).size(), 63u);
  EXPECT_NE(FitIdentifier(a, d), FitIdentifier(b, d));
  EXPECT_EQ(FitIdentifier(a, d), FitIdentifier(a, d));  // stable
  // Both indexes exist under their fitted names.
  auto conn = (*db)->Acquire();
  for (const auto& n : {a, b}) {
    ASSERT_TRUE(conn->ExecScript("CREATE INDEX \"" + FitIdentifier(n, d) +
                                 "\" ON _plugin_storage (plugin_id)")
                    .ok());
  }
  EXPECT_EQ(Scalar(*conn,
                   "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() "
                   "AND indexname LIKE 'idx_plugin_ppp%'"),
            "2");
}

}  // namespace
}  // namespace ps::store
