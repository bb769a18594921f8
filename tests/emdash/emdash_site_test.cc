// The host and EmDash on one database, with EmDash's own code on the other side: site.mjs (in
// this folder) runs emdash 0.32.0 from npm to migrate, populate, read and write the database the
// host's bridge works on. SQLite files, and with PS_TEST_STORE=postgres a fresh PostgreSQL
// database per test (EmDash works in the public schema of its own database).
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <vector>

#include "common/ids.h"
#include "fixture.h"
#include "store/emdash_schema.h"
#include "store/postgres/postgres_database.h"
#include "store/schema_registry.h"
#include "test_helpers.h"

namespace ps::testing {
namespace {

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs site.mjs; the one JSON document it prints, or a failure naming the command and its stderr.
json::value RunSite(const std::vector<std::string>& args, const TempDir& dir) {
  const std::string script = std::string(PS_SOURCE_DIR) + "/tests/emdash/site.mjs";
  const std::string err = (dir / ("site-" + NewUlid() + ".err")).string();
  std::string line = "node " + ShellQuote(script);
  for (const auto& a : args) line += " " + ShellQuote(a);
  line += " 2>" + ShellQuote(err);
  FILE* p = popen(line.c_str(), "r");
  if (!p) {
    ADD_FAILURE() << "cannot run " << line;
    return nullptr;
  }
  std::string out;
  char buf[65536];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = pclose(p);
  auto parsed = ParseJson(out);
  if (rc != 0 || !parsed.ok()) {
    ADD_FAILURE() << "site.mjs " << (args.empty() ? "" : args[0]) << " failed (exit " << rc
                  << "; is tests/emdash installed? scripts/bootstrap does it): "
                  << ReadFile(err).substr(0, 4000);
    return nullptr;
  }
  return std::move(parsed).value();
}

std::string FileDigest(const std::string& path) {
  std::string bytes = ReadFile(path);
  return std::to_string(bytes.size()) + ":" + std::to_string(std::hash<std::string>{}(bytes));
}

std::string JournalMode(const std::string& path) {
  sqlite3* db = nullptr;
  std::string mode;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      mode = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return mode;
}

bool ExecSqlite(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  bool ok = sqlite3_open(path.c_str(), &db) == SQLITE_OK &&
            sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
  sqlite3_close(db);
  return ok;
}

// The same collection EmDash's populate makes, through the host's registry.
store::CollectionSpec PostsSpec() {
  return {"posts",
          "Posts",
          {{"title", "string", true},
           {"body", "text"},
           {"rating", "integer"},
           {"score", "number"},
           {"featured", "boolean"},
           {"tags", "multiSelect"},
           {"meta", "json"}},
          {"drafts", "revisions"}};
}

size_t Count(const json::value& array, const std::function<bool(const json::value&)>& pred) {
  if (!array.is_array()) return 0;
  return size_t(std::count_if(array.get_array().begin(), array.get_array().end(), pred));
}

class EmdashSiteTest : public BridgeTest {
 protected:
  void SetUp() override { url_ = FreshUrl(); }  // the bridge opens once EmDash has had its turn

  std::string FreshUrl() {
    if (!TestOnPostgres()) return "sqlite:" + SqlitePath();
    std::string base = SharedPostgresUrl();
    std::string name = "e_" + NewUlid();
    for (auto& ch : name) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    PGconn* c = PQconnectdb(base.c_str());
    PGresult* r = PQexec(c, ("CREATE DATABASE " + name).c_str());
    EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(c);
    PQclear(r);
    PQfinish(c);
    size_t at = base.find("/postgres?");
    EXPECT_NE(at, std::string::npos) << base;
    return base.substr(0, at) + "/" + name + "?" + base.substr(at + 10);
  }
  std::string SqlitePath() {
    return (dir_ / ("site-" + std::to_string(files_++) + ".db")).string();
  }
  std::string PathOf(const std::string& url) { return url.substr(7); }

  json::value Site(const std::string& cmd, const std::string& url, const std::string& arg = "") {
    std::vector<std::string> args = {cmd, url};
    if (!arg.empty()) args.push_back(arg);
    return RunSite(args, dir_);
  }
  // An EmDash site: migrated and populated by EmDash; the ids populate printed.
  json::value EmdashSite() {
    Site("migrate", url_);
    return Site("populate", url_);
  }

  bridge::Grant FixturePlugin() {
    return Plugin(R"({"id":"fixture-plugin","version":"1.0.0","capabilities":["content:read",)"
                  R"("content:write","media:read","media:write","users:read","taxonomies:read"],)"
                  R"("storage":{"events":{"indexes":["kind"]}}})");
  }

  void WriteFromBothSides(int64_t max_busy);

  std::string url_;
  int files_ = 0;
};

TEST_F(EmdashSiteTest, EmptyDatabaseGetsExactlyTheSchemaEmdashMigrationsMake) {
  OpenBridge(url_);  // the host starts on an empty database
  ASSERT_TRUE(store::CreateCollection(*db_, PostsSpec()).ok());
  std::string theirs = FreshUrl();
  Site("migrate", theirs);
  Site("populate", theirs);  // EmDash's registry makes the same posts collection

  json::value ours_schema = Site("schema", url_);
  json::value their_schema = Site("schema", theirs);
  ASSERT_TRUE(ours_schema.is_object() && their_schema.is_object());
  json::object ours = ours_schema.at("tables").as_object();
  json::object their = their_schema.at("tables").as_object();
  for (auto it = ours.begin(); it != ours.end();) {
    it = it->key().starts_with("_ps_") ? ours.erase(it) : it + 1;  // the host's own tables
  }
  // populate also made `pages`; compare every table EmDash has that the host made too.
  size_t compared = 0;
  for (const auto& kv : their) {
    if (kv.key() == "ec_pages") continue;
    const json::value* mine = ours.if_contains(kv.key());
    ASSERT_NE(mine, nullptr) << "the host did not create " << kv.key();
    EXPECT_EQ(Stringify(*mine), Stringify(kv.value())) << "table " << kv.key();
    ++compared;
  }
  EXPECT_EQ(compared + 1, their.size());
  EXPECT_EQ(ours.size(), compared) << "the host created tables EmDash does not have";
  EXPECT_EQ(Stringify(ours_schema.at("migrations")), Stringify(their_schema.at("migrations")));
  EXPECT_EQ(ours_schema.at("migrations").as_array().size(),
            store::emdash::BaselineMigrations().size());
}

TEST_F(EmdashSiteTest, EmdashOpensADatabaseTheHostStartedAndReadsItsContent) {
  OpenBridge(url_);
  ASSERT_TRUE(store::CreateCollection(*db_, PostsSpec()).ok());
  ASSERT_TRUE(store::CreateCollection(*db_, {"pages", "Pages", {{"title", "string"}}, {}}).ok());
  auto p = FixturePlugin();
  json::value created = Ok(p, "content/create",
                           R"({"collection":"posts","data":{"title":"Made by the host",)"
                           R"("slug":"made-by-the-host","tags":["a","b"],"featured":true}})");
  Ok(p, "kv/set", R"({"key":"started","value":{"by":"host"}})");
  db_.reset();  // the host stops; EmDash takes the site over

  json::value migrated = Site("migrate", url_);
  ASSERT_TRUE(migrated.is_object());
  EXPECT_EQ(Stringify(migrated.at("applied")), "[]") << "EmDash found migrations to run";
  EXPECT_EQ(Stringify(migrated.at("status").at("pending")), "[]");
  json::value read = Site("read", url_, "fixture-plugin");
  ASSERT_TRUE(read.is_object());
  const json::value& posts = read.at("content").at("posts");
  ASSERT_EQ(posts.as_array().size(), 1u) << Stringify(posts);
  EXPECT_EQ(Str(posts.at(0), "id"), Str(created, "id"));
  EXPECT_EQ(Str(posts.at(0), "slug"), "made-by-the-host");
  EXPECT_JSON(posts.at(0).at("data").at("title"), R"("Made by the host")");
  EXPECT_JSON(posts.at(0).at("data").at("tags"), R"(["a","b"])");
  EXPECT_JSON(read.at("kv").at("started"), R"({"by":"host"})");
}

TEST_F(EmdashSiteTest, PluginReadsWhatEmdashWrote) {
  json::value ids = EmdashSite();
  ASSERT_TRUE(ids.is_object());
  OpenBridge(url_);
  auto p = FixturePlugin();
  std::string published = Str(ids.at("content"), "published");

  json::value item = Ok(p, "content/get", R"({"collection":"posts","id":")" + published + "\"}");
  EXPECT_JSON(item.at("data").at("title"), R"("Hello world")");
  EXPECT_JSON(item.at("data").at("tags"), R"(["red","blue"])");
  EXPECT_JSON(item.at("data").at("meta").at("nested"), R"({"ok":true})");
  EXPECT_EQ(Str(item, "locale"), "en");
  // draft, published, its French translation; the trashed post is not listed.
  json::value list = Ok(p, "content/list", R"({"collection":"posts","limit":50})");
  EXPECT_EQ(list.at("items").as_array().size(), 3u) << Stringify(list);
  EXPECT_EQ(Count(list.at("items"), [](const json::value& i) { return Str(i, "locale") == "fr"; }),
            1u);

  EXPECT_EQ(Ok(p, "media/list", "{}").at("items").as_array().size(), 2u);
  json::value users = Ok(p, "users/list", "{}");
  EXPECT_EQ(users.at("items").as_array().size(), 2u) << Stringify(users);

  json::value terms =
      Ok(p, "taxonomy/entryTerms", R"({"collection":"posts","entryId":")" + published + "\"}");
  EXPECT_EQ(
      Count(terms,
            [&](const json::value& t) { return Str(t, "id") == Str(ids.at("terms"), "category"); }),
      1u)
      << Stringify(terms);
  json::value cats = Ok(p, "taxonomy/terms", R"({"taxonomy":"category"})");
  EXPECT_EQ(Count(cats, [](const json::value& t) { return Str(t, "slug") == "news"; }), 1u)
      << Stringify(cats);

  EXPECT_JSON(Ok(p, "kv/get", R"({"key":"counter"})"), "42");
  EXPECT_JSON(Ok(p, "kv/get", R"({"key":"config"})"),
              R"({"enabled":true,"list":[1,2,3],"none":null})");
  json::value x = Ok(p, "storage/query", R"({"collection":"events","where":{"kind":"x"}})");
  ASSERT_EQ(x.at("items").as_array().size(), 1u) << Stringify(x);
  EXPECT_EQ(Str(x.at("items").at(0), "id"), "evt-1");
  EXPECT_JSON(Ok(p, "storage/count", R"({"collection":"events"})"), "2");
}

TEST_F(EmdashSiteTest, EmdashReadsWhatPluginWrote) {
  json::value ids = EmdashSite();
  ASSERT_TRUE(ids.is_object());
  OpenBridge(url_);
  auto p = FixturePlugin();
  std::string draft = Str(ids.at("content"), "draft");
  std::string published = Str(ids.at("content"), "published");

  Ok(p, "kv/set", R"({"key":"written","value":{"by":"plugin","n":[1,2]}})");
  Ok(p, "storage/put", R"({"collection":"events","id":"evt-host","data":{"kind":"x","n":3}})");
  json::value created =
      Ok(p, "content/create",
         R"({"collection":"posts","data":{"title":"From the plugin","slug":"from-the-plugin",)"
         R"("rating":7,"score":1.5,"featured":true,"tags":["green"],"meta":{"k":"v"}}})");
  // posts keeps revisions: the change is staged in a draft revision, as EmDash does.
  Ok(p, "content/update",
     R"({"collection":"posts","id":")" + published + R"(","data":{"title":"Hello again"}})");
  EXPECT_JSON(Ok(p, "content/delete", R"({"collection":"posts","id":")" + draft + "\"}"), "true");
  json::value media = Ok(p, "media/upload",
                         R"({"filename":"pixel.png","contentType":"image/png",)"
                         R"("bytes":"iVBORw0KGgo=","encoding":"base64"})");

  json::value read = Site("read", url_, "fixture-plugin");
  ASSERT_TRUE(read.is_object());
  EXPECT_JSON(read.at("kv").at("written"), R"({"by":"plugin","n":[1,2]})");
  const json::value& events = read.at("storage").at("events");
  EXPECT_EQ(
      Count(events.at("items"), [](const json::value& e) { return Str(e, "id") == "evt-host"; }),
      1u)
      << Stringify(events);
  const json::value& posts = read.at("content").at("posts");
  const json::value* mine = nullptr;
  const json::value* hello = nullptr;
  for (const auto& i : posts.as_array()) {
    if (Str(i, "id") == Str(created, "id")) mine = &i;
    if (Str(i, "id") == published) hello = &i;
    EXPECT_NE(Str(i, "id"), draft) << "a deleted post is still listed";
  }
  ASSERT_NE(mine, nullptr) << Stringify(posts);
  EXPECT_JSON(mine->at("data"), R"({"title":"From the plugin","rating":7,"score":1.5,)"
                                R"("featured":1,"tags":["green"],"meta":{"k":"v"}})");
  EXPECT_EQ(Str(*mine, "slug"), "from-the-plugin");
  EXPECT_EQ(Str(*mine, "status"), "draft");
  ASSERT_NE(hello, nullptr);
  EXPECT_FALSE(hello->at("draftRevisionId").is_null()) << Stringify(*hello);
  EXPECT_JSON(hello->at("data").at("title"), R"("Hello world")");  // live data unchanged
  EXPECT_EQ(Count(read.at("content").at("deleted"),
                  [&](const json::value& d) { return Str(d, "id") == draft; }),
            1u);
  EXPECT_EQ(
      Count(read.at("media"),
            [&](const json::value& m) { return Str(m, "storageKey") == Str(media, "storageKey"); }),
      1u)
      << Stringify(read.at("media"));
}

TEST_F(EmdashSiteTest, SoftDeleteRestampsTheTermLinksAsEmdashDoes) {
  json::value ids = EmdashSite();
  OpenBridge(url_);
  auto p = FixturePlugin();
  std::string published = Str(ids.at("content"), "published");
  EXPECT_JSON(Ok(p, "content/delete", R"({"collection":"posts","id":")" + published + "\"}"),
              "true");
  store::Rows rows =
      Sql("SELECT deleted_at FROM content_taxonomies WHERE entry_id = ?", {published});
  ASSERT_FALSE(rows.empty());
  for (const auto& r : rows.rows) EXPECT_FALSE(store::IsNull(r[0]));
}

// EmDash (the fixture's hammer: content create and update in transactions, plugin storage,
// kv) and the host's bridge write the same database at once; each side's acknowledged writes
// are all there, the host sees no error, and EmDash at most `max_busy` busy errors.
void EmdashSiteTest::WriteFromBothSides(int64_t max_busy) {
  json::value ids = EmdashSite();
  OpenBridge(url_);
  auto p = FixturePlugin();
  constexpr int kNode = 1200;
  auto node = std::async(std::launch::async, [&] {
    return RunSite({"hammer", url_, std::to_string(kNode)}, dir_);
  });
  std::vector<std::string> host_errors;
  int host_created = 0;
  int host_ops = 0;
  // The host writes for as long as EmDash does (at least 1,200 operations, at most 30,000 or
  // 150 s), so the two overlap whatever Node's start-up costs.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(150);
  for (int i = 0; i < 30000 && std::chrono::steady_clock::now() < give_up; ++i) {
    if (i >= 1200 && i % 3 == 0 &&
        node.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      break;
    }
    host_ops = i + 1;
    std::string n = std::to_string(i);
    const char* method = i % 3 == 0 ? "content/create" : i % 3 == 1 ? "kv/set" : "storage/put";
    std::string params =
        i % 3 == 0   ? R"({"collection":"posts","data":{"title":"host-)" + n + R"("}})"
        : i % 3 == 1 ? R"({"key":"host-)" + n + R"(","value":)" + n + "}"
                     : R"({"collection":"events","id":"host-)" + n + R"(","data":{"kind":"h"}})";
    auto r = Call(p, method, params);
    if (i % 3 == 0) host_created += r.ok();
    if (!r.ok() && host_errors.size() < 10) host_errors.push_back(r.status().message());
  }
  json::value hammer = node.get();
  ASSERT_TRUE(hammer.is_object());
  EXPECT_TRUE(host_errors.empty()) << host_errors.front();
  EXPECT_EQ(hammer.at("attempted").to_number<int64_t>(), kNode);
  const int64_t busy = hammer.at("busy").to_number<int64_t>();
  const int64_t failed = hammer.at("errorCount").to_number<int64_t>();
  RecordProperty("emdash_busy", std::to_string(busy));
  // Each of EmDash's failures is a busy error (or the update that needed the create it
  // followed), never anything else, and there are at most `max_busy` of them.
  EXPECT_LE(failed, 2 * busy) << Stringify(hammer.at("errors"));
  EXPECT_LE(busy, max_busy) << Stringify(hammer.at("errors"));
  if (busy > 0) {
    std::printf("%s\nEmDash busy errors: %lld of %d operations\n",
                Stringify(hammer.at("errors")).c_str(), static_cast<long long>(busy), kNode);
  }
  // Everything each side acknowledged is there.
  EXPECT_EQ(Int(Sql("SELECT COUNT(*) FROM ec_posts WHERE title LIKE 'host-%'").rows.at(0).at(0)),
            host_created);
  EXPECT_EQ(host_created, (host_ops + 2) / 3);
  const int64_t node_posts =
      Int(Sql("SELECT COUNT(*) FROM ec_posts WHERE title LIKE 'node-%'").rows.at(0).at(0));
  const int64_t events =
      Int(Sql("SELECT COUNT(*) FROM _plugin_storage WHERE plugin_id = 'fixture-plugin' AND "
              "collection = 'events' AND (id LIKE 'host-%' OR id LIKE 'node-%')")
              .rows.at(0)
              .at(0));
  EXPECT_LE(node_posts, kNode / 4);
  EXPECT_GE(node_posts + failed, kNode / 4);
  if (failed == 0) {
    EXPECT_EQ(node_posts, kNode / 4);
    EXPECT_EQ(events, host_ops / 3 + kNode / 4);
  } else {
    EXPECT_GE(events, host_ops / 3);
  }
}

// PostgreSQL: no error at all. SQLite under a rollback journal: none in nearly every run; a
// reader that begins in the microseconds between the host's look at the read locks and its
// BEGIN EXCLUSIVE still meets the host's RESERVED lock when it upgrades, which SQLite fails at
// once. Before the turn-taking it was 2 in every run, so at most 1 still fails if the mechanism
// stops working.
TEST_F(EmdashSiteTest, EmdashAndTheHostWritingAtOnceLoseNothing) {
  WriteFromBothSides(TestOnPostgres() ? 0 : 1);
}

// A site whose database EmDash's CLI made (`emdash init` and `emdash dev` switch it to WAL).
// Known limit (docs/compatibility.md): in WAL mode a few of EmDash's deferred read-then-write
// transactions can still fail with SQLITE_BUSY(_SNAPSHOT) when they begin in the microseconds
// of the host's commit; the host itself sees no error and nothing acknowledged is lost.
TEST_F(EmdashSiteTest, EmdashAndTheHostWritingAtOnceLoseNothingInWalMode) {
  if (TestOnPostgres()) return;  // a SQLite journal mode; PostgreSQL runs the test above
  ASSERT_TRUE(ExecSqlite(PathOf(url_), "PRAGMA journal_mode=WAL"));
  // The host lets go of the write lock while another process reads (at its start and before its
  // commit): 3-14 per 1,200 remain, against 47-53 before it (docs/compatibility.md). Well above
  // the measured rate, so it fails only if that mechanism stops working.
  WriteFromBothSides(30);
  EXPECT_EQ(JournalMode(PathOf(url_)), "wal");
}

TEST_F(EmdashSiteTest, TheSitesJournalModeIsKept) {
  if (TestOnPostgres()) return;  // a SQLite property; PostgreSQL runs the same test as a no-op
  Site("migrate", url_);
  ASSERT_EQ(JournalMode(PathOf(url_)), "delete");  // better-sqlite3's default, as EmDash left it
  OpenBridge(url_);
  db_.reset();
  EXPECT_EQ(JournalMode(PathOf(url_)), "delete");
}

TEST_F(EmdashSiteTest, DatabaseMissingAColumnIsRefusedAndLeftUntouched) {
  Site("migrate", url_);
  if (TestOnPostgres()) {
    auto admin = store::PostgresDatabase::Open(url_);
    ASSERT_TRUE(admin.ok());
    ASSERT_TRUE(
        (*admin)->Acquire()->ExecScript("ALTER TABLE _emdash_fields DROP COLUMN column_type").ok());
  } else {
    ASSERT_TRUE(ExecSqlite(PathOf(url_), "ALTER TABLE _emdash_fields DROP COLUMN column_type"));
  }
  std::string before = TestOnPostgres() ? "" : FileDigest(PathOf(url_));
  auto db = store::OpenDatabase(url_);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().message(),
            "the site's database has no column _emdash_fields.column_type, which the bridge "
            "needs; plugin-sandbox works on databases of EmDash 0.31.1 and 0.32.0 (run EmDash's "
            "migrations first)");
  if (!TestOnPostgres()) {
    EXPECT_EQ(FileDigest(PathOf(url_)), before);
    EXPECT_EQ(JournalMode(PathOf(url_)), "delete");
  } else {
    auto admin = store::PostgresDatabase::Open(url_);
    ASSERT_TRUE(admin.ok());
    auto rows = (*admin)->Acquire()->Query(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_name LIKE '\\_ps\\_%'");
    ASSERT_TRUE(rows.ok());
    EXPECT_EQ(Int(rows->rows.at(0).at(0)), 0) << "the host wrote its own tables before the check";
  }
}

TEST_F(EmdashSiteTest, DatabaseNotMadeByEmdashIsRefusedAndLeftUntouched) {
  if (TestOnPostgres()) return;  // the refusal is dialect-independent; the file check is SQLite's
  std::string path = PathOf(url_);
  ASSERT_TRUE(ExecSqlite(path, "CREATE TABLE _plugin_storage (plugin_id TEXT, id TEXT)"));
  std::string before = FileDigest(path);
  auto db = store::OpenDatabase(url_);
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.status().message().find("has table _plugin_storage but no _emdash_migrations"),
            std::string::npos)
      << db.status().message();
  EXPECT_EQ(FileDigest(path), before);
}

}  // namespace
}  // namespace ps::testing
