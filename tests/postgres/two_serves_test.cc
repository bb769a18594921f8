// Two `plugin-sandbox serve` processes on one PostgreSQL database, end to end over HTTP: a plugin
// installed through one host becomes callable on the other; writes through both hosts to the
// same keys lose nothing; PostgreSQL stopped mid-traffic makes calls fail (not hang) and service
// returns, with every acknowledged write, once it is back.
#include <atomic>
#include <set>

#include "serve_fixture.h"
#include "store/database.h"
#include "store_env.h"

namespace ps::testing {
namespace {

constexpr const char* kCounterManifest = R"({"id":"counter","version":"1.0.0",
  "storage":{"docs":{"indexes":["n"]}},"routes":["put","get","doc","version"]})";
std::string CounterSource(const std::string& version) {
  return R"JS(
export default {
  routes: {
    put: async ({ input }, ctx) => { await ctx.kv.set(input.key, input.value); return "ok"; },
    get: async ({ input }, ctx) => ctx.kv.get(input.key),
    doc: async ({ input }, ctx) => { await ctx.storage.docs.put(input.id, { n: input.n }); return "ok"; },
    version: async () => ")JS" +
         version + R"JS(",
  },
};
)JS";
}
std::string CounterManifest(const std::string& version) {
  std::string m = kCounterManifest;
  m.replace(m.find("1.0.0"), 5, version);
  return m;
}

class TwoServesTest : public ::testing::Test {
 protected:
  TwoServesTest() : a_(dir_ / "a" / "data"), b_(dir_ / "b" / "data") {}

  // Host b runs with a pool of one connection: picking up another host's install must not need
  // two at once (it once held one across the plugin's start, which takes another).
  void StartBoth(const std::string& url) {
    for (Serve* s : {&a_, &b_}) {
      std::string db =
          s == &b_ ? url + (url.find('?') == std::string::npos ? "?" : "&") + "pool_max=1" : url;
      s->args = {"--db", db, "--plugin-sync-ms", "200", "--media-dir", (dir_ / "media").string()};
      s->Start();
    }
  }

  std::string Put(Serve& s, const std::string& key, const std::string& value) {
    Reply r = s.Route("counter", "put", R"({"key":")" + key + R"(","value":")" + value + R"("})");
    return r.status == 200 ? "ok" : std::to_string(r.status) + " " + r.body;
  }
  std::string Get(Serve& s, const std::string& key) {
    Reply r = s.Route("counter", "get", R"({"key":")" + key + R"("})");
    return r.status == 200 ? Str(r.Json()) : std::to_string(r.status) + " " + r.body;
  }

  TempDir dir_;
  Serve a_, b_;
};

TEST_F(TwoServesTest, InstallsUpdatesAndUninstallsOnOneHostReachTheOther) {
  StartBoth(FreshPostgresSchema());
  ASSERT_EQ(
      a_.PutBundle("counter", BundleTarGz(CounterManifest("1.0.0"), CounterSource("1.0.0"))).status,
      201);
  ASSERT_TRUE(Eventually([&] { return b_.Route("counter", "version").status == 200; })) << b_.Log();
  EXPECT_EQ(Str(b_.Route("counter", "version").Json()), "1.0.0");
  EXPECT_EQ(Put(b_, "k", "from-b"), "ok");
  EXPECT_EQ(Get(a_, "k"), "from-b");

  ASSERT_EQ(
      b_.PutBundle("counter", BundleTarGz(CounterManifest("2.0.0"), CounterSource("2.0.0"))).status,
      200);
  ASSERT_TRUE(Eventually([&] { return Str(a_.Route("counter", "version").Json()) == "2.0.0"; }))
      << a_.Log();

  ASSERT_EQ(a_.Post("/v1/plugins/counter/disable", "").status, 200);
  ASSERT_TRUE(Eventually([&] { return b_.Route("counter", "version").status != 200; }));
  EXPECT_EQ(Str(b_.Get("/v1/plugins/counter").Json().at("enabled")), "false");
  ASSERT_EQ(b_.Post("/v1/plugins/counter/enable", "").status, 200);
  ASSERT_TRUE(Eventually([&] { return a_.Route("counter", "version").status == 200; }));

  ASSERT_EQ(a_.Delete("/v1/plugins/counter?keepData=true").status, 200);
  ASSERT_TRUE(Eventually([&] { return b_.Get("/v1/plugins/counter").status == 404; }));
  EXPECT_TRUE(Eventually([&] {
    return b_.Log().find("plugin counter uninstalled by another host") != std::string::npos;
  })) << b_.Log();
}

TEST_F(TwoServesTest, MediaUploadedThroughOneHostIsServedAndListedByTheOther) {
  StartBoth(FreshPostgresSchema());
  std::string png("\x89PNG\r\n\x1a\n-bytes", 14);
  Reply up = a_.Request("POST", "/v1/media?filename=pixel.png", png, {"Content-Type: image/png"});
  ASSERT_EQ(up.status, 201) << up.body;
  std::string id = Str(up.Json().at("id"));
  Reply file = b_.Get(Str(up.Json().at("url")), /*auth=*/false);
  EXPECT_EQ(file.status, 200);
  EXPECT_EQ(file.body, png);
  EXPECT_EQ(Str(b_.Get("/v1/media/" + id).Json().at("filename")), "pixel.png");
}

TEST_F(TwoServesTest, WritesThroughBothHostsToTheSameKeysLoseNothing) {
  StartBoth(FreshPostgresSchema());
  ASSERT_EQ(
      a_.PutBundle("counter", BundleTarGz(CounterManifest("1.0.0"), CounterSource("1.0.0"))).status,
      201);
  ASSERT_TRUE(Eventually([&] { return b_.Route("counter", "version").status == 200; }));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Serve& s = t % 2 ? b_ : a_;
      for (int i = 0; i < 25; ++i) {
        std::string mine = std::to_string(t) + "-" + std::to_string(i);
        if (Put(s, "own-" + mine, mine) != "ok") ++failures;
        if (Put(s, "shared", mine) != "ok") ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  int lost = 0;
  for (int t = 0; t < 4; ++t)
    for (int i = 0; i < 25; ++i) {
      std::string mine = std::to_string(t) + "-" + std::to_string(i);
      if (Get(t % 2 ? a_ : b_, "own-" + mine) != mine) ++lost;  // read on the other host
    }
  EXPECT_EQ(lost, 0);
  std::string shared = Get(a_, "shared");
  EXPECT_EQ(shared, Get(b_, "shared"));
  EXPECT_NE(shared.find('-'), std::string::npos) << shared;
}

TEST_F(TwoServesTest, StorageDocumentsAndContentRowsWrittenThroughBothHostsLoseNothing) {
  std::string url = FreshPostgresSchema();
  StartBoth(url);
  ASSERT_EQ(
      a_.PutBundle("counter", BundleTarGz(CounterManifest("1.0.0"), CounterSource("1.0.0"))).status,
      201);
  ASSERT_EQ(
      a_.Post("/v1/collections", R"({"slug":"posts","fields":[{"slug":"title","type":"string"},
                                          {"slug":"n","type":"integer"}]})")
          .status,
      201);
  Reply item = b_.Post("/v1/content/posts", R"({"data":{"title":"shared","n":0}})");
  ASSERT_EQ(item.status, 201) << item.body;
  std::string id = Str(item.Json().at("id"));
  ASSERT_TRUE(Eventually([&] { return b_.Route("counter", "version").status == 200; }));

  std::atomic<int> updates{0}, creates{0}, docs{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Serve& s = t % 2 ? b_ : a_;
      for (int i = 0; i < 12; ++i) {
        std::string n = std::to_string(t * 100 + i);
        Reply u = s.Put("/v1/content/posts/" + id, R"({"data":{"n":)" + n + "}}");
        (u.status == 200 ? updates : failures)++;
        Reply c = s.Post("/v1/content/posts", R"({"data":{"title":"t)" + n + R"(","n":1}})");
        (c.status == 201 ? creates : failures)++;
        Reply d = s.Route("counter", "doc", R"({"id":"shared","n":)" + n + "}");
        Reply e = s.Route("counter", "doc", R"({"id":"own-)" + n + R"(","n":)" + n + "}");
        (d.status == 200 && e.status == 200 ? docs : failures)++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto db = store::OpenDatabase(url);
  ASSERT_TRUE(db.ok()) << db.status().message();
  auto conn = (*db)->Acquire();
  auto scalar = [&](const std::string& sql) -> std::string {
    auto r = conn->Query(sql, {id});
    if (!r.ok() || r->empty()) return "error: " + r.status().message();
    return std::to_string(std::get<int64_t>(r->rows[0][0]));
  };
  // Every acknowledged update is one version; every acknowledged create one row, ids distinct;
  // every acknowledged document is there.
  EXPECT_EQ(scalar("SELECT version FROM ec_posts WHERE id = ?"), std::to_string(1 + updates));
  EXPECT_EQ(scalar("SELECT COUNT(DISTINCT id) FROM ec_posts WHERE id <> ?"),
            std::to_string(creates.load()));
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM _plugin_storage WHERE collection = 'docs' AND id <> ? "
                   "AND id <> 'shared'"),
            std::to_string(docs.load()));
  EXPECT_EQ(updates.load(), 48);
}

TEST_F(TwoServesTest,
       PostgresStoppedMidTrafficFailsCallsAndServiceReturnsWithEveryAcknowledgedWrite) {
  PgCluster cluster;
  std::string error;
  ASSERT_TRUE(cluster.Start(&error)) << error;
  StartBoth(cluster.url());
  ASSERT_EQ(
      a_.PutBundle("counter", BundleTarGz(CounterManifest("1.0.0"), CounterSource("1.0.0"))).status,
      201);
  ASSERT_TRUE(Eventually([&] { return b_.Route("counter", "version").status == 200; }));

  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::atomic<int> failed{0}, after_failure_ok{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      Serve& s = t ? b_ : a_;
      for (int i = 0; i < 100000 && !stop; ++i) {
        std::string key = "w" + std::to_string(t) + "-" + std::to_string(i);
        if (Put(s, key, key) == "ok") {
          std::lock_guard<std::mutex> l(mu);
          acknowledged.push_back(key);
          if (failed > 0) ++after_failure_ok;
        } else {
          ++failed;
        }
      }
    });
  }
  auto acked = [&] {
    std::lock_guard<std::mutex> l(mu);
    return acknowledged.size();
  };
  ASSERT_TRUE(Eventually([&] { return acked() >= 20; }, std::chrono::seconds(30)));
  ASSERT_TRUE(cluster.Stop());
  EXPECT_TRUE(Eventually([&] { return failed >= 4; }, std::chrono::seconds(30)));
  // While it is down, a call fails promptly with the database's reason.
  Reply down = a_.Route("counter", "put", R"({"key":"down","value":"x"})");
  EXPECT_NE(down.status, 200);
  EXPECT_NE(down.body.find("database unavailable"), std::string::npos) << down.body;
  ASSERT_TRUE(cluster.Start(&error)) << error;
  EXPECT_TRUE(Eventually([&] { return after_failure_ok >= 20; }, std::chrono::seconds(30)));
  stop = true;
  for (auto& w : writers) w.join();

  auto db = store::OpenDatabase(cluster.url());
  ASSERT_TRUE(db.ok()) << db.status().message();
  auto conn = (*db)->Acquire();
  auto rows = conn->Query(
      "SELECT id FROM _plugin_storage WHERE plugin_id = 'counter' AND collection = '__kv'");
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  std::set<std::string> stored;
  for (auto& r : rows->rows) stored.insert(std::get<std::string>(r[0]));
  size_t lost = 0;
  for (const auto& k : acknowledged) lost += stored.count(k) ? 0 : 1;
  EXPECT_EQ(lost, 0u) << "of " << acknowledged.size() << " acknowledged writes";
  EXPECT_GT(acknowledged.size(), 40u);
}

}  // namespace
}  // namespace ps::testing
