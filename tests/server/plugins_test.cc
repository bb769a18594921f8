// Installing, updating, disabling, enabling and uninstalling plugins through the API.
#include "serve_fixture.h"
#include "test_plugins.h"

namespace ps::testing {
namespace {

std::string Kv(Serve& s, const std::string& id, const std::string& key) {
  Reply r = s.Route(id, "kv", R"({"key":")" + key + R"("})");
  EXPECT_EQ(r.status, 200) << r.body;
  return Str(r.Json().at("value"));
}

int64_t PidOf(Serve& s, const std::string& id) {
  Reply r = s.Get("/v1/plugins/" + id);
  EXPECT_EQ(r.status, 200);
  json::value pid = r.Json().at("pid");
  return pid.is_int64() ? pid.as_int64() : 0;
}

TEST_F(ServeTest, InstallingAPluginRunsInstallThenActivateAndListsIt) {
  serve_.Start();
  Reply r = serve_.PutBundle("versioned",
                             BundleTarGz(VersionedManifest("1.0.0"), VersionedSource("1.0.0")));
  ASSERT_EQ(r.status, 201) << r.body;
  json::value v = r.Json();
  EXPECT_EQ(Str(v.at("id")), "versioned");
  EXPECT_EQ(Str(v.at("version")), "1.0.0");
  EXPECT_EQ(Str(v.at("state")), "ready");
  EXPECT_EQ(Str(v.at("source")), "upload");
  EXPECT_EQ(Stringify(v.at("limits")),
            R"({"wallMs":30000,"cpuMs":50,"memoryMb":128,"subrequests":10})");
  EXPECT_TRUE(v.at("stats").is_object());
  EXPECT_EQ(Kv(serve_, "versioned", "install"), "1.0.0");
  EXPECT_EQ(Kv(serve_, "versioned", "activate"), "1.0.0");

  Reply list = serve_.Get("/v1/plugins");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.Json().as_array().size(), 1u);
  EXPECT_EQ(Str(list.Json().as_array()[0].at("id")), "versioned");
  EXPECT_EQ(serve_.Get("/v1/plugins/absent").status, 404);
}

TEST_F(ServeTest, UpdatingAPluginRunsActivateOnTheNewVersionAndLeavesOthersAlone) {
  AddPlugin("recorder", kRecorderManifest, kRecorderSource);
  StartWithPlugins();
  ASSERT_EQ(
      serve_
          .PutBundle("versioned", BundleTarGz(VersionedManifest("1.0.0"), VersionedSource("1.0.0")))
          .status,
      201);
  // The recorder's process serves throughout the update.
  int64_t before = PidOf(serve_, "recorder");
  ASSERT_GT(before, 0);

  Reply up = serve_.PutBundle("versioned",
                              BundleTarGz(VersionedManifest("2.0.0"), VersionedSource("2.0.0")));
  ASSERT_EQ(up.status, 200) << up.body;
  EXPECT_EQ(Str(up.Json().at("version")), "2.0.0");
  EXPECT_EQ(Str(serve_.Route("versioned", "version").Json()), "2.0.0");
  EXPECT_EQ(Kv(serve_, "versioned", "activate"), "2.0.0");
  EXPECT_EQ(Kv(serve_, "versioned", "install"), "1.0.0");  // install ran once, for 1.0.0

  EXPECT_EQ(PidOf(serve_, "recorder"), before);
  EXPECT_EQ(serve_.Route("recorder", "kv", R"({"key":"installed"})").status, 200);
}

TEST_F(ServeTest, AMalformedBundleIsRefusedWithEveryProblemAndChangesNothing) {
  serve_.Start();
  ASSERT_EQ(
      serve_
          .PutBundle("versioned", BundleTarGz(VersionedManifest("1.0.0"), VersionedSource("1.0.0")))
          .status,
      201);
  Reply bad = serve_.PutBundle(
      "versioned",
      BundleTarGz(R"({"id":"versioned","version":"","capabilities":["read:everything"]})",
                  "export default {};"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.ErrorCode(), "bad_request");
  auto problems = bad.Json().at("error").at("problems").as_array();
  ASSERT_EQ(problems.size(), 2u) << bad.body;
  EXPECT_NE(Str(problems[0]).find("version"), std::string::npos) << bad.body;
  EXPECT_NE(Str(problems[1]).find("capabilities[0]"), std::string::npos) << bad.body;

  Reply garbage = serve_.PutBundle("versioned", "this is not a tarball");
  EXPECT_EQ(garbage.status, 400);
  EXPECT_FALSE(garbage.Json().at("error").at("problems").as_array().empty());

  Reply mismatch =
      serve_.PutBundle("other", BundleTarGz(VersionedManifest("3.0.0"), VersionedSource("3.0.0")));
  EXPECT_EQ(mismatch.status, 400);
  EXPECT_NE(mismatch.ErrorMessage().find("does not match"), std::string::npos);

  // A module that cannot start is a bad bundle too; the running version stays.
  Reply broken = serve_.PutBundle(
      "versioned", BundleTarGz(VersionedManifest("4.0.0"), "export default {{{ syntax error"));
  EXPECT_EQ(broken.status, 400) << broken.body;

  Reply now = serve_.Get("/v1/plugins/versioned");
  EXPECT_EQ(Str(now.Json().at("version")), "1.0.0");
  EXPECT_EQ(Str(now.Json().at("state")), "ready");
  EXPECT_EQ(Str(serve_.Route("versioned", "version").Json()), "1.0.0");
  EXPECT_EQ(serve_.Get("/v1/plugins/other").status, 404);
}

TEST_F(ServeTest, DisableStopsThePluginAndEnableBringsItBack) {
  serve_.Start();
  ASSERT_EQ(
      serve_
          .PutBundle("versioned", BundleTarGz(VersionedManifest("1.0.0"), VersionedSource("1.0.0")))
          .status,
      201);
  Reply d = serve_.Post("/v1/plugins/versioned/disable", "");
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(Str(d.Json().at("state")), "disabled");
  Reply r = serve_.Route("versioned", "version");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.ErrorCode(), "plugin_unavailable");
  EXPECT_EQ(serve_.Request("GET", "/_emdash/api/plugins/versioned/version", "", {}, true).status,
            503);

  Reply e = serve_.Post("/v1/plugins/versioned/enable", "");
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_EQ(Str(e.Json().at("state")), "ready");
  EXPECT_EQ(Kv(serve_, "versioned", "deactivate"), "1.0.0");
  EXPECT_EQ(Str(serve_.Route("versioned", "version").Json()), "1.0.0");
  EXPECT_EQ(serve_.Post("/v1/plugins/absent/enable", "").status, 404);
  EXPECT_EQ(serve_.Get("/v1/plugins/versioned/enable").status, 405);
}

TEST_F(ServeTest, UninstallRunsDeactivateAndUninstallAndDeletesDataUnlessKept) {
  serve_.Start();
  std::string v1 = BundleTarGz(VersionedManifest("1.0.0"), VersionedSource("1.0.0"));
  ASSERT_EQ(serve_.PutBundle("versioned", v1).status, 201);
  Reply kept = serve_.Delete("/v1/plugins/versioned?keepData=true");
  ASSERT_EQ(kept.status, 200) << kept.body;
  EXPECT_EQ(kept.body, R"({"id":"versioned","uninstalled":true,"keptData":true})");
  EXPECT_EQ(serve_.Get("/v1/plugins/versioned").status, 404);
  EXPECT_EQ(serve_.Route("versioned", "version").status, 404);

  // Reinstalled: the KV it kept is there, including what plugin:uninstall wrote.
  ASSERT_EQ(serve_.PutBundle("versioned", v1).status, 201);
  EXPECT_EQ(Kv(serve_, "versioned", "uninstall"), R"({"deleteData":false})");
  EXPECT_EQ(Kv(serve_, "versioned", "deactivate"), "1.0.0");

  ASSERT_EQ(serve_.Delete("/v1/plugins/versioned").status, 200);
  ASSERT_EQ(serve_.PutBundle("versioned", v1).status, 201);
  EXPECT_EQ(Kv(serve_, "versioned", "uninstall"), "null");  // deleted with the plugin
  EXPECT_EQ(Kv(serve_, "versioned", "install"), "1.0.0");   // a fresh install
  EXPECT_EQ(serve_.Delete("/v1/plugins/absent").status, 404);
}

TEST_F(ServeTest, CapabilityGatedHooksAreSkippedAndListed) {
  AddPlugin("ungated", kUngatedManifest, kUngatedSource);
  StartWithPlugins();
  Reply r = serve_.Get("/v1/plugins/ungated");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Stringify(r.Json().at("skippedHooks")),
            R"(["content:beforeSave: needs content:write"])");
  EXPECT_EQ(Stringify(r.Json().at("hooks")), "[]");
  EXPECT_NE(serve_.Log().find("hook content:beforeSave needs capability content:write"),
            std::string::npos);
}

TEST_F(ServeTest, OneHookOfOnePluginAndOneRouteThroughTheAdminApi) {
  AddPlugin("chain-a", kChainAManifest, kChainASource);
  AddPlugin("recorder", kRecorderManifest, kRecorderSource);
  StartWithPlugins();
  Reply h = serve_.Post("/v1/plugins/chain-a/hooks/content:beforeSave",
                        R"({"event":{"content":{"title":"t"},"collection":"posts","isNew":true}})");
  ASSERT_EQ(h.status, 200) << h.body;
  EXPECT_EQ(h.body, R"({"value":{"title":"t +a"}})");
  EXPECT_EQ(serve_.Post("/v1/plugins/chain-a/hooks/not:ahook", "{}").status, 400);
  EXPECT_EQ(serve_.Post("/v1/plugins/absent/hooks/cron", "{}").status, 404);

  Reply w = serve_.Post("/v1/plugins/recorder/routes/whoami", R"({"input":{}})");
  ASSERT_EQ(w.status, 200) << w.body;
  EXPECT_EQ(Str(w.Json().at("user").at("role")), "50");
  EXPECT_EQ(Stringify(w.Json().at("hasAuthorization")), "false");
  Reply missing = serve_.Post("/v1/plugins/recorder/routes/nope", "{}");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.ErrorMessage(), "Route not found: nope");
}

}  // namespace
}  // namespace ps::testing
