// The store a test runs on. Store and bridge tests run twice through CTest: on SQLite, and with
// PS_TEST_STORE=postgres on PostgreSQL (each test in a fresh schema of one cluster).
//
// The cluster: PS_TEST_POSTGRES_URL when set (scripts/test starts one with scripts/pg-cluster);
// otherwise the first test that needs one starts a private cluster in a temporary directory and
// stops it when the test program exits, so a test program also runs on its own.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "common/ids.h"
#include "store/postgres/postgres_database.h"
#include "test_util.h"

namespace ps::testing {

inline bool TestOnPostgres() {
  const char* s = std::getenv("PS_TEST_STORE");
  return s && std::string(s) == "postgres";
}

// A cluster of its own, driven through scripts/pg-cluster (tests that stop and start it).
class PgCluster {
 public:
  PgCluster() = default;
  ~PgCluster() {
    if (started_) Run("stop");
  }
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // Starts (or restarts) the server; false with the script's output in *error on failure.
  bool Start(std::string* error = nullptr) {
    std::string out;
    bool ok = Run("start", &out);
    if (ok) {
      url_ = out.substr(0, out.find('\n'));
      started_ = true;
    } else if (error) {
      *error = out;
    }
    return ok;
  }
  bool Stop() { return Run("stop"); }
  bool Kill() { return Run("kill"); }
  const std::string& url() const { return url_; }
  std::string dir() const { return dir_.str(); }

 private:
  bool Run(const std::string& cmd, std::string* out = nullptr) {
    std::string line =
        std::string(PS_SOURCE_DIR) + "/scripts/pg-cluster " + cmd + " " + dir_.str() + " 2>&1";
    FILE* p = popen(line.c_str(), "r");
    if (!p) return false;
    std::string text;
    char buf[512];
    while (size_t n = fread(buf, 1, sizeof buf, p)) text.append(buf, n);
    int rc = pclose(p);
    if (out) *out = text;
    return rc == 0;
  }

  TempDir dir_;
  std::string url_;
  bool started_ = false;
};

// The URL of the shared test cluster (PS_TEST_POSTGRES_URL, or a private one started once).
inline std::string SharedPostgresUrl() {
  if (const char* u = std::getenv("PS_TEST_POSTGRES_URL"); u && *u) return u;
  static std::once_flag once;
  static std::unique_ptr<PgCluster> cluster;
  static std::string url;
  std::call_once(once, [] {
    cluster = std::make_unique<PgCluster>();
    std::string error;
    if (cluster->Start(&error)) {
      url = cluster->url();
      // Stopped at exit so no server outlives the test program.
      std::atexit([] { cluster.reset(); });
    } else {
      ADD_FAILURE() << "cannot start a PostgreSQL test cluster: " << error;
    }
  });
  return url;
}

// `url` with its queries confined to `schema` (libpq's options parameter).
inline std::string WithSchema(const std::string& url, const std::string& schema) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
         schema;
}

// A fresh, empty schema in the shared cluster; returns its URL.
inline std::string FreshPostgresSchema() {
  std::string base = SharedPostgresUrl();
  if (base.empty()) return "postgres://cluster-not-started";
  auto admin = store::PostgresDatabase::Open(base);
  if (!admin.ok()) {
    ADD_FAILURE() << "cannot reach the PostgreSQL test cluster: " << admin.status().message();
    return base;
  }
  std::string schema = "t_" + NewUlid();
  for (auto& ch : schema) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  auto conn = (*admin)->Acquire();
  Status st = conn->ExecScript("CREATE SCHEMA " + schema);
  if (!st.ok()) ADD_FAILURE() << "CREATE SCHEMA: " << st.message();
  return WithSchema(base, schema);
}

// The database URL a test opens: a SQLite file in `dir`, or a fresh PostgreSQL schema.
inline std::string TestDatabaseUrl(const TempDir& dir, const std::string& file = "site.db") {
  if (TestOnPostgres()) return FreshPostgresSchema();
  return "sqlite:" + (dir / file).string();
}

}  // namespace ps::testing
