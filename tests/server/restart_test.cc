// What survives a restart, and a clean stop: installs, updates, disabled plugins, acknowledged
// writes, in-flight requests.
#include <atomic>
#include <mutex>

#include "serve_fixture.h"
#include "test_plugins.h"

namespace ps::testing {
namespace {

constexpr const char* kSlowRouteManifest = R"({"id":"slowroute","version":"1.0.0",
  "routes":["slow","started"]})";
constexpr const char* kSlowRouteSource = R"JS(
export default { routes: {
  slow: async (_r, ctx) => { await ctx.kv.set("started", true);
                             await new Promise((r) => setTimeout(r, 1500)); return "finished"; },
  started: async (_r, ctx) => (await ctx.kv.get("started")) === true,
} };
)JS";

TEST_F(ServeTest, InstallsUpdatesAndDisabledStateSurviveARestart) {
  serve_.Start();
  ASSERT_EQ(
      serve_
          .PutBundle("versioned", BundleTarGz(VersionedManifest("1.0.0"), VersionedSource("1.0.0")))
          .status,
      201);
  ASSERT_EQ(
      serve_
          .PutBundle("versioned", BundleTarGz(VersionedManifest("2.0.0"), VersionedSource("2.0.0")))
          .status,
      200);
  ASSERT_EQ(serve_.PutBundle("ungated", BundleTarGz(kUngatedManifest, kUngatedSource)).status, 201);
  ASSERT_EQ(serve_.Post("/v1/plugins/ungated/disable", "").status, 200);
  ASSERT_EQ(serve_.Stop(), 0);

  serve_.Start();
  Reply v = serve_.Get("/v1/plugins/versioned");
  ASSERT_EQ(v.status, 200) << serve_.Log();
  EXPECT_EQ(Str(v.Json().at("version")), "2.0.0");
  // Started once at install, its module is known: nothing starts until it is called.
  EXPECT_EQ(Str(v.Json().at("state")), "stopped");
  EXPECT_TRUE(v.Json().at("pid").is_null());
  Reply health = serve_.Get("/healthz");
  EXPECT_EQ(Str(health.Json().at("status")), "ok");
  EXPECT_EQ(Str(health.Json().at("plugins").at("versioned")), "stopped");
  EXPECT_EQ(Str(serve_.Route("versioned", "version").Json()), "2.0.0");
  v = serve_.Get("/v1/plugins/versioned");
  EXPECT_EQ(Str(v.Json().at("state")), "ready");
  EXPECT_EQ(Stringify(v.Json().at("stats").at("starts")), "1");
  EXPECT_EQ(Str(serve_.Get("/v1/plugins/ungated").Json().at("state")), "disabled");
  EXPECT_EQ(serve_.Route("ungated", "ping").status, 503);
  // No lifecycle hook runs on a plain restart.
  EXPECT_EQ(serve_.Log().find("hook=plugin:activate"), std::string::npos);
}

TEST_F(ServeTest, ABundleChangedInThePluginsDirectoryIsUpdatedAtStart) {
  AddPlugin("versioned", VersionedManifest("1.0.0"), VersionedSource("1.0.0"));
  StartWithPlugins();
  EXPECT_EQ(Str(serve_.Route("versioned", "version").Json()), "1.0.0");
  ASSERT_EQ(serve_.Stop(), 0);
  AddPlugin("versioned", VersionedManifest("1.1.0"), VersionedSource("1.1.0"));
  serve_.Start();
  EXPECT_EQ(Str(serve_.Route("versioned", "version").Json()), "1.1.0");
  Reply kv = serve_.Route("versioned", "kv", R"({"key":"activate"})");
  EXPECT_EQ(Str(kv.Json().at("value")), "1.1.0");
}

TEST_F(ServeTest, GracefulShutdownLosesNoAcknowledgedWrite) {
  serve_.Start();
  ASSERT_EQ(
      serve_.Post("/v1/collections", R"({"slug":"notes","fields":[{"slug":"n","type":"integer"}]})")
          .status,
      201);
  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 100000 && !stop; ++i) {
      Reply r = serve_.Post("/v1/content/notes", R"({"data":{"n":)" + std::to_string(i) + "}}");
      if (r.status != 201) break;  // refused or closed: the host is stopping
      std::lock_guard<std::mutex> lock(mu);
      acknowledged.push_back(Str(r.Json().at("id")));
    }
  });
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return acknowledged.size() >= 20;
  }));
  EXPECT_EQ(serve_.Stop(SIGTERM), 0);
  stop = true;
  writer.join();
  EXPECT_FALSE(fs::exists(serve_.data() / "address"));

  serve_.Start();
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& id : acknowledged) {
    EXPECT_EQ(serve_.Get("/v1/content/notes/" + id).status, 200) << id;
  }
}

TEST_F(ServeTest, AnInFlightRequestFinishesDuringShutdown) {
  AddPlugin("slowroute", kSlowRouteManifest, kSlowRouteSource);
  StartWithPlugins();
  Reply slow;
  std::thread caller([&] { slow = serve_.Route("slowroute", "slow"); });
  bool started = Eventually([&] {
    Reply r = serve_.Route("slowroute", "started");
    return r.status == 200 && r.body == "true";
  });
  ASSERT_TRUE(started);
  EXPECT_EQ(serve_.Stop(SIGTERM), 0) << serve_.Log();
  caller.join();
  EXPECT_EQ(slow.status, 200) << slow.body;
  EXPECT_EQ(slow.body, R"("finished")");
  EXPECT_NE(serve_.Log().find("stopped"), std::string::npos);
}

TEST_F(ServeTest, ListensOnAUnixSocket) {
  std::string sock = (dir_ / "s.sock").string();
  serve_.default_listen = false;
  serve_.args = {"--listen", "unix:" + sock};
  serve_.Start();
  EXPECT_EQ(serve_.address(), "unix:" + sock);
  EXPECT_EQ(serve_.Get("/healthz", false).status, 200);
  EXPECT_EQ(serve_.Get("/v1/plugins").status, 200);
  ASSERT_EQ(serve_.Stop(), 0);
  EXPECT_FALSE(fs::exists(sock));
}

}  // namespace
}  // namespace ps::testing
