// The example plugins in examples/plugins, as the README's walkthrough runs them: the hooks'
// effect on content, the tour of every ctx API, outbound HTTP, and containment of the plugin
// that misbehaves on purpose.
#include "http/test_server.h"
#include "serve_fixture.h"

namespace ps::testing {
namespace {

class ExamplesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    serve_ = new Serve(*dir_ / "data");
    serve_->args = {"--plugins",      PS_SOURCE_DIR "/examples/plugins",
                    "--plugin-limit", "misbehave:wall-ms=1000",
                    "--site-name",    "Example Site"};
    serve_->Start();
    Reply c = serve_->Post(
        "/v1/collections",
        R"({"slug":"posts","fields":[{"slug":"title","type":"string"},{"slug":"body","type":"text"},{"slug":"reading_time","type":"integer"}]})");
    ASSERT_EQ(c.status, 201) << c.body;
  }
  static void TearDownTestSuite() {
    delete serve_;
    delete dir_;
  }
  static TempDir* dir_;
  static Serve* serve_;
};
TempDir* ExamplesTest::dir_ = nullptr;
Serve* ExamplesTest::serve_ = nullptr;

TEST_F(ExamplesTest, EveryExamplePluginLoads) {
  // All five were validated together in one process at the host's first start; the two with
  // install and activate hooks were started by those, the others wait for their first call.
  EXPECT_NE(serve_->Log().find("validated 5 plugin modules in one process"), std::string::npos)
      << serve_->Log();
  Reply h = serve_->Get("/healthz", false);
  EXPECT_EQ(
      h.Health(),
      R"({"status":"ok","plugins":{"ctx-tour":"ready","hello":"ready","link-preview":"stopped","misbehave":"stopped","reading-time":"stopped"}})");
}

TEST_F(ExamplesTest, BeforeSaveHooksChainSlugThenReadingTimeIntoThePost) {
  std::string words;
  for (int i = 0; i < 450; ++i) words += "word ";
  Reply r = serve_->Post("/v1/content/posts",
                         R"({"data":{"title":"Hello, World!","body":")" + words + R"("}})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Str(r.Json().at("slug")), "hello-world");
  EXPECT_EQ(r.Json().at("data").at("reading_time").as_int64(), 3);
  Reply est = serve_->Post("/_emdash/api/plugins/reading-time/estimate", R"({"body":"one two"})",
                           /*auth=*/false);
  EXPECT_EQ(est.body, R"({"words":2,"minutes":1})");
}

TEST_F(ExamplesTest, TheCtxTourReachesEveryApiItsCapabilitiesAllow) {
  Reply r = serve_->Route("ctx-tour", "tour", R"({"collection":"posts"})");
  ASSERT_EQ(r.status, 200) << r.body;
  // Only what the plugin may not do fails: an undeclared storage collection, getUploadUrl in
  // sandbox mode, and the network (not declared).
  EXPECT_EQ(Stringify(r.Json().at("failed")),
            R"(["storage.undeclared","media.getUploadUrl","http.fetch"])")
      << r.body;
  auto lines = ReadFile(serve_->data() / "outbox.jsonl");
  EXPECT_NE(lines.find(R"("from":"ctx-tour")"), std::string::npos);
}

TEST_F(ExamplesTest, TheMisbehavingPluginIsContainedAndComesBack) {
  Reply spin = serve_->Route("misbehave", "spin");
  EXPECT_EQ(spin.status, 500);
  EXPECT_EQ(spin.ErrorCode(), "cpu_limit_exceeded") << spin.body;
  // Other plugins answer meanwhile.
  EXPECT_EQ(serve_->Get("/_emdash/api/plugins/hello/hello?name=x", false).status, 200);
  Reply thrown = serve_->Route("misbehave", "throw");
  EXPECT_EQ(thrown.status, 500);
  EXPECT_EQ(thrown.ErrorCode(), "plugin_error");
  EXPECT_EQ(thrown.ErrorMessage(), "this plugin fails on purpose");
  Reply hang = serve_->Route("misbehave", "hang");
  EXPECT_EQ(hang.status, 504);
  EXPECT_EQ(hang.ErrorCode(), "wall_time_exceeded");
  EXPECT_TRUE(Eventually([&] { return serve_->Route("misbehave", "ok").status == 200; }));
  std::string metrics = serve_->Get("/metrics", false).body;
  EXPECT_NE(metrics.find("plugin_sandbox_plugin_limit_kills_total{plugin=\"misbehave\"} 1"),
            std::string::npos);
  EXPECT_NE(
      metrics.find(
          "plugin_sandbox_plugin_errors_total{plugin=\"misbehave\",code=\"cpu_limit_exceeded\"} 1"),
      std::string::npos);
}

constexpr const char* kFetchManifest = R"({"id":"fetcher","version":"1",
  "capabilities":["network:request"],"allowedHosts":["127.0.0.1"],"routes":["get"]})";
constexpr const char* kFetchSource = R"JS(
export default { routes: { get: async ({ input }, ctx) => {
  const r = await ctx.http.fetch(input.url);
  return { status: r.status, text: await r.text() };
} } };
)JS";

TEST_F(ServeTest, OutboundFetchToAPrivateAddressNeedsTheOperatorsException) {
  TestServer target([](const HttpRequest&) {
    HttpReply r;
    r.body = "hello from loopback";
    return r;
  });
  AddPlugin("fetcher", kFetchManifest, kFetchSource);
  StartWithPlugins();
  std::string input = R"({"url":")" + target.Url("/x") + R"("})";
  Reply refused = serve_.Route("fetcher", "get", input);
  EXPECT_EQ(refused.status, 500);
  EXPECT_EQ(refused.ErrorCode(), "plugin_error");
  EXPECT_EQ(target.request_count(), 0u);
  ASSERT_EQ(serve_.Stop(), 0);

  serve_.args.push_back("--allow-private");
  serve_.args.push_back(target.HostPort());
  serve_.Start();
  Reply ok = serve_.Route("fetcher", "get", input);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.body, R"({"status":200,"text":"hello from loopback"})");
}

}  // namespace
}  // namespace ps::testing
