// Two hosts on one PostgreSQL database, at the bridge: each "host" is its own Database (its own
// connection pool) and its own Bridge, as two `serve` processes would have. Their writes race on
// the same KV keys, storage documents and content rows; nothing acknowledged may be lost.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "bridge/bridge.h"
#include "bridge/media_storage.h"
#include "manifest/manifest.h"
#include "store/database.h"
#include "store/schema_registry.h"
#include "store_env.h"

namespace ps::testing {
namespace {

constexpr int kThreadsPerHost = 3;
constexpr int kCallsPerThread = 20;

struct Host {
  std::unique_ptr<store::Database> db;
  std::unique_ptr<bridge::Bridge> bridge;
};

class TwoHostsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = FreshPostgresSchema();
    for (auto& h : hosts_) {
      auto db = store::OpenDatabase(url_);
      ASSERT_TRUE(db.ok()) << db.status().message();
      h.db = std::move(db).value();
      bridge::BridgeOptions opts;
      opts.media = bridge::MakeLocalMediaStorage((dir_ / "media").string());
      h.bridge = std::make_unique<bridge::Bridge>(
          *h.db, bridge::TokenAuthority(std::string(64, 'a')), std::move(opts));
      auto m = manifest::ParseManifestText(
          R"({"id":"racer","version":"1.0.0","capabilities":["content:read","content:write"],
              "storage":{"docs":{"indexes":["n"]}}})",
          "manifest.json");
      ASSERT_TRUE(m.ok()) << m.status().message();
      h.bridge->RegisterPlugin(*m);
      grant_ = bridge::Bridge::GrantFor(*m);
    }
  }

  Result<json::value> Call(int host, const std::string& method, const std::string& params) {
    auto p = ParseJson(params);
    if (!p.ok()) return p.status();
    auto r = hosts_[host].bridge->Call(grant_, method, p->get_object());
    if (!r.ok()) return r.status();
    return r->value ? *r->value : json::value(nullptr);
  }

  // Runs fn(host, thread, i) from kThreadsPerHost threads on each host at once.
  void Race(const std::function<void(int, int, int)>& fn) {
    std::vector<std::thread> threads;
    for (int h = 0; h < 2; ++h)
      for (int t = 0; t < kThreadsPerHost; ++t)
        threads.emplace_back([&, h, t] {
          for (int i = 0; i < kCallsPerThread; ++i) fn(h, t, i);
        });
    for (auto& th : threads) th.join();
  }

  std::string Scalar(const std::string& sql, const std::vector<store::Value>& args = {}) {
    auto conn = hosts_[0].db->Acquire();
    auto r = conn->Query(sql, args);
    if (!r.ok() || r->empty()) return "error: " + r.status().message();
    const store::Value& v = r->rows[0][0];
    if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
    if (auto* s = std::get_if<std::string>(&v)) return *s;
    return "null";
  }

  TempDir dir_;
  std::string url_;
  Host hosts_[2];
  bridge::Grant grant_;
};

TEST_F(TwoHostsTest, KvAndStorageWritesFromBothHostsLoseNothing) {
  std::atomic<int> failures{0};
  std::set<std::string> last_values;
  std::mutex mu;
  Race([&](int h, int t, int i) {
    std::string mine = std::to_string(h) + "-" + std::to_string(t) + "-" + std::to_string(i);
    bool ok = Call(h, "kv/set", R"({"key":"own-)" + mine + R"(","value":")" + mine + R"("})").ok();
    ok &= Call(h, "kv/set", R"({"key":"shared","value":")" + mine + R"("})").ok();
    ok &= Call(h, "storage/put",
               R"({"collection":"docs","id":"shared","data":{"n":)" + std::to_string(i) + "}}")
              .ok();
    ok &= Call(h, "storage/putMany",
               R"({"collection":"docs","items":[{"id":"a-)" + mine + R"(","data":{"n":1}},)" +
                   R"({"id":"b-)" + mine + R"(","data":{"n":2}}]})")
              .ok();
    if (!ok) ++failures;
    std::lock_guard<std::mutex> l(mu);
    last_values.insert(mine);
  });
  EXPECT_EQ(failures.load(), 0);
  const int total = 2 * kThreadsPerHost * kCallsPerThread;
  // Every distinct key landed once, with its own value, seen from either host.
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM _plugin_storage WHERE collection = '__kv' AND id LIKE "
                   "'own-%'"),
            std::to_string(total));
  auto mismatched = Call(1, "kv/list", R"({"prefix":"own-"})");
  ASSERT_TRUE(mismatched.ok());
  int wrong = 0;
  for (const auto& e : mismatched->as_array()) {
    std::string key(e.at("key").as_string());
    if (key.substr(4) != std::string(e.at("value").as_string())) ++wrong;
  }
  EXPECT_EQ(wrong, 0);
  // The contended key holds one of the values written to it, whole.
  auto shared = Call(0, "kv/get", R"({"key":"shared"})");
  ASSERT_TRUE(shared.ok() && shared->is_string());
  EXPECT_TRUE(last_values.count(std::string(shared->as_string()))) << *shared;
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM _plugin_storage WHERE collection = 'docs'"),
            std::to_string(2 * total + 1));
  auto count = Call(1, "storage/count", R"({"collection":"docs","where":{"n":2}})");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(Stringify(*count), std::to_string(total));
}

TEST_F(TwoHostsTest, ContentCreatedOnBothHostsNeverSharesAnIdOrASlug) {
  ASSERT_TRUE(
      store::CreateCollection(*hosts_[0].db, {"posts", "Posts", {{"title", "string"}}, {}}).ok());
  std::atomic<int> created{0}, refused{0}, other{0};
  Race([&](int h, int t, int i) {
    // Every thread also tries one slug that every other thread tries too: exactly one wins.
    std::string slug = i == 0
                           ? "contested"
                           : std::to_string(h) + "-" + std::to_string(t) + "-" + std::to_string(i);
    auto r = Call(h, "content/create",
                  R"({"collection":"posts","data":{"title":"t","slug":")" + slug + R"("}})");
    if (r.ok()) {
      ++created;
    } else if (r.status().message() == "UNIQUE constraint failed: ec_posts.slug, ec_posts.locale") {
      ++refused;
    } else {
      ++other;
      ADD_FAILURE() << r.status().message();
    }
  });
  const int total = 2 * kThreadsPerHost * kCallsPerThread;
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(refused.load(), 2 * kThreadsPerHost - 1);
  EXPECT_EQ(created.load(), total - refused.load());
  EXPECT_EQ(Scalar("SELECT COUNT(DISTINCT id) FROM ec_posts"), std::to_string(created.load()));
}

// Without revisions, each update is one UPDATE … SET version = version + 1: both hosts' updates
// all count. With revisions, the repository's compare-and-swap on version retries until it wins,
// so again every acknowledged update is one version and one revision.
class ContentVersionTest : public TwoHostsTest, public ::testing::WithParamInterface<bool> {};

TEST_P(ContentVersionTest, ConcurrentUpdatesFromBothHostsBumpTheVersionOncePerAcknowledgedUpdate) {
  bool revisions = GetParam();
  store::CollectionSpec spec{"posts", "Posts", {{"title", "string"}, {"n", "integer"}}, {}};
  if (revisions) spec.supports = {"revisions", "drafts"};
  ASSERT_TRUE(store::CreateCollection(*hosts_[0].db, spec).ok());
  auto item = Call(0, "content/create", R"({"collection":"posts","data":{"title":"t"}})");
  ASSERT_TRUE(item.ok()) << item.status().message();
  std::string id(item->at("id").as_string());
  std::atomic<int> acknowledged{0};
  Race([&](int h, int, int i) {
    auto r = Call(
        h, "content/update",
        R"({"collection":"posts","id":")" + id + R"(","data":{"n":)" + std::to_string(i) + "}}");
    if (r.ok()) {
      ++acknowledged;
    } else {
      ADD_FAILURE() << r.status().message();
    }
  });
  EXPECT_EQ(acknowledged.load(), 2 * kThreadsPerHost * kCallsPerThread);
  EXPECT_EQ(Scalar("SELECT version FROM ec_posts WHERE id = ?", {id}),
            std::to_string(1 + acknowledged.load()));
  if (revisions) {
    EXPECT_EQ(Scalar("SELECT COUNT(*) FROM revisions WHERE entry_id = ?", {id}),
              std::to_string(acknowledged.load()));
  }
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutRevisions, ContentVersionTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Revisions" : "NoRevisions"; });

TEST_F(TwoHostsTest, ABatchThatFailsOnOneHostLeavesNothingWhileTheOtherWrites) {
  ASSERT_TRUE(
      store::CreateCollection(*hosts_[0].db, {"posts", "Posts", {{"title", "string"}}, {}}).ok());
  std::atomic<int> batches_ok{0}, singles_ok{0};
  std::thread other([&] {
    for (int i = 0; i < 40; ++i) {
      if (Call(1, "content/create",
               R"({"collection":"posts","data":{"title":"single","slug":"s-)" + std::to_string(i) +
                   R"("}})")
              .ok())
        ++singles_ok;
    }
  });
  for (int i = 0; i < 20; ++i) {
    // The second item names a column that does not exist: the whole batch rolls back.
    auto r =
        Call(0, "content/createMany",
             R"({"collection":"posts","items":[{"title":"batch"},{"nope":1},{"title":"batch"}]})");
    if (r.ok()) ++batches_ok;
  }
  other.join();
  EXPECT_EQ(batches_ok.load(), 0);
  EXPECT_EQ(singles_ok.load(), 40);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM ec_posts WHERE title = 'batch'"), "0");
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM ec_posts WHERE title = 'single'"), "40");
}

}  // namespace
}  // namespace ps::testing
