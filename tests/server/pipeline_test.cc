// Hook pipelines over several plugins: chaining, veto, timeouts, errorPolicy, the capability gate
// and the results array; one serve process for the suite.
#include "serve_fixture.h"
#include "test_plugins.h"

namespace ps::testing {
namespace {

class PipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    fs::path plugins = *dir_ / "plugins";
    WriteBundle(plugins / "chain-a", kChainAManifest, kChainASource);
    WriteBundle(plugins / "chain-b", kChainBManifest, kChainBSource);
    WriteBundle(plugins / "vetoer", kVetoManifest, kVetoSource);
    WriteBundle(plugins / "slowpoke", kSlowManifest, kSlowSource);
    WriteBundle(plugins / "strict", kStrictManifest, kStrictSource);
    WriteBundle(plugins / "ungated", kUngatedManifest, kUngatedSource);
    WriteBundle(plugins / "recorder", kRecorderManifest, kRecorderSource);
    serve_ = new Serve(*dir_ / "data");
    serve_->args = {"--plugins", plugins.string()};
    serve_->Start();
    for (const char* c : {"posts", "locked", "slow", "strict"}) {
      Reply r =
          serve_->Post("/v1/collections", std::string(R"({"slug":")") + c +
                                              R"(","fields":[{"slug":"title","type":"string"}]})");
      ASSERT_EQ(r.status, 201) << r.body;
    }
  }
  static void TearDownTestSuite() {
    delete serve_;
    delete dir_;
  }

  static Reply Create(const std::string& collection, const std::string& title) {
    return serve_->Post("/v1/content/" + collection, R"({"data":{"title":")" + title + R"("}})");
  }

  static TempDir* dir_;
  static Serve* serve_;
};
TempDir* PipelineTest::dir_ = nullptr;
Serve* PipelineTest::serve_ = nullptr;

TEST_F(PipelineTest, BeforeSaveResultsChainInPriorityOrderIntoTheWrite) {
  Reply r = Create("posts", "Hello");
  ASSERT_EQ(r.status, 201) << r.body;
  // chain-a (priority 10) then chain-b (20); the gated plugin's "HACKED" never applies.
  EXPECT_EQ(Str(r.Json().at("data").at("title")), "Hello +a +b");
  std::string id = Str(r.Json().at("id"));
  Reply g = serve_->Get("/v1/content/posts/" + id);
  EXPECT_EQ(Str(g.Json().at("data").at("title")), "Hello +a +b");
}

TEST_F(PipelineTest, PipelineEndpointReturnsTheChainedValueAndOrderedResults) {
  Reply r =
      serve_->Post("/v1/hooks/content:beforeSave",
                   R"({"event":{"content":{"title":"x"},"collection":"posts","isNew":true}})");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value v = r.Json();
  EXPECT_EQ(Stringify(v.at("value")), R"({"title":"x +a +b"})");
  auto results = v.at("results").as_array();
  std::vector<std::string> order;
  for (const auto& e : results) {
    order.push_back(Str(e.at("plugin")));
    EXPECT_TRUE(e.at("ok").as_bool()) << Stringify(e);
    EXPECT_TRUE(IsNumber(e.at("ms")));
  }
  // Priority 10, 20, then the default 100 by plugin id.
  EXPECT_EQ(order, (std::vector<std::string>{"chain-a", "chain-b", "slowpoke", "strict"}));
}

TEST_F(PipelineTest, BeforeDeleteFalseVetoesWith409AndNothingIsDeleted) {
  Reply c = Create("locked", "keep me");
  ASSERT_EQ(c.status, 201);
  std::string id = Str(c.Json().at("id"));
  Reply d = serve_->Delete("/v1/content/locked/" + id);
  EXPECT_EQ(d.status, 409);
  EXPECT_EQ(d.ErrorCode(), "conflict");
  EXPECT_EQ(d.ErrorMessage(), "Delete of locked/" + id + " vetoed by plugin vetoer");
  EXPECT_EQ(serve_->Get("/v1/content/locked/" + id).status, 200);

  Reply p = serve_->Post("/v1/hooks/content:beforeDelete",
                         R"({"event":{"id":"x","collection":"locked"}})");
  EXPECT_EQ(p.Json().at("value").as_bool(), false);
  EXPECT_EQ(Str(p.Json().at("vetoedBy")), "vetoer");

  Reply ok = Create("posts", "delete me");
  std::string id2 = Str(ok.Json().at("id"));
  Reply d2 = serve_->Delete("/v1/content/posts/" + id2);
  EXPECT_EQ(d2.status, 200) << d2.body;
  EXPECT_EQ(serve_->Get("/v1/content/posts/" + id2).status, 404);
}

TEST_F(PipelineTest, AHookPastItsTimeoutIsRecordedAndTheChainContinues) {
  auto start = Clock::now();
  Reply r = serve_->Post("/v1/hooks/content:beforeSave",
                         R"({"event":{"content":{"title":"s"},"collection":"slow","isNew":true}})");
  auto took = Clock::now() - start;
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_EQ(Stringify(r.Json().at("value")), R"({"title":"s +a +b"})");
  bool found = false;
  json::value doc = r.Json();
  for (const auto& e : doc.at("results").as_array()) {
    if (Str(e.at("plugin")) != "slowpoke") continue;
    found = true;
    EXPECT_FALSE(e.at("ok").as_bool());
    EXPECT_EQ(Str(e.at("error").at("code")), "wall_time_exceeded");
    EXPECT_EQ(Str(e.at("error").at("message")),
              "Plugin slowpoke exceeded its hook timeout of 300ms during hook:content:beforeSave");
  }
  EXPECT_TRUE(found);
  // The write goes through with the chain's value.
  Reply c = Create("slow", "w");
  ASSERT_EQ(c.status, 201) << c.body;
  EXPECT_EQ(Str(c.Json().at("data").at("title")), "w +a +b");
}

TEST_F(PipelineTest, AnAbortPolicyFailureRefusesTheWriteWithThePluginsError) {
  Reply r = Create("strict", "no");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.ErrorCode(), "plugin_error");
  EXPECT_EQ(r.ErrorMessage(), "strict refuses this content");
  Reply list = serve_->Get("/v1/content/strict");
  EXPECT_EQ(list.Json().at("items").as_array().size(), 0u);
  Reply p = serve_->Post("/v1/hooks/content:beforeSave",
                         R"({"event":{"content":{"title":"x"},"collection":"strict"}})");
  EXPECT_EQ(Stringify(p.Json().at("aborted")), "true");
  EXPECT_EQ(Str(p.Json().at("abortedBy")), "strict");
}

TEST_F(PipelineTest, AfterHooksRunInParallelWithEachPluginsValueInResults) {
  Reply r = serve_->Post(
      "/v1/hooks/content:afterSave",
      R"({"event":{"content":{"id":"p1","data":{}},"collection":"posts","isNew":true}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.Json().at("value").is_null());
  auto results = r.Json().at("results").as_array();
  ASSERT_EQ(results.size(), 1u) << r.body;  // only the recorder registered it
  EXPECT_EQ(Str(results[0].at("plugin")), "recorder");
  EXPECT_TRUE(results[0].at("ok").as_bool());
  EXPECT_EQ(serve_->Post("/v1/hooks/nope", "{}").status, 400);
  EXPECT_EQ(serve_->Post("/v1/hooks/cron", R"({"event":[]})").status, 400);
}

TEST_F(PipelineTest, ContentWritesFireAfterHooksInWriteOrderWithoutDelayingTheResponse) {
  Reply c = Create("posts", "observed");
  ASSERT_EQ(c.status, 201);
  std::string id = Str(c.Json().at("id"));
  ASSERT_EQ(serve_->Put("/v1/content/posts/" + id, R"({"data":{"title":"changed"}})").status, 200);
  ASSERT_EQ(serve_->Delete("/v1/content/posts/" + id).status, 200);
  std::vector<std::string> seen;
  bool all = Eventually([&] {
    seen.clear();
    Reply e = serve_->Route("recorder", "events");
    if (e.status != 200) return false;
    int saves = 0, deletes = 0;
    json::value events = e.Json();
    for (const auto& ev : events.as_array()) {
      const auto& o = ev.at("event").as_object();
      std::string hook = Str(ev.at("hook"));
      if (hook == "content:afterSave" && o.contains("content") &&
          o.at("content").as_object().contains("id") && Str(o.at("content").at("id")) == id) {
        ++saves;
        seen.push_back(hook + (o.at("isNew").as_bool() ? ":new" : ":update") + ":" +
                       Str(o.at("content").at("data").at("title")) + ":" +
                       Str(o.at("content").at("slug")) + ":" + Str(o.at("content").at("status")));
      }
      if (hook == "content:afterDelete" && Str(o.at("id")) == id) {
        ++deletes;
        seen.push_back(hook);
        EXPECT_EQ(Stringify(o.at("permanent")), "false");
        EXPECT_EQ(Str(o.at("collection")), "posts");
      }
    }
    return saves == 2 && deletes == 1;
  });
  ASSERT_TRUE(all);
  // One plugin's background hooks run in the order of the writes.
  EXPECT_EQ(seen, (std::vector<std::string>{"content:afterSave:new:observed +a +b:null:draft",
                                            "content:afterSave:update:changed +a +b:null:draft",
                                            "content:afterDelete"}));
}

}  // namespace
}  // namespace ps::testing
