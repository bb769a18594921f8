// Plugins on demand, seen from outside: serve's options, /healthz, the plugin list and /metrics.
#include "serve_fixture.h"
#include "test_plugins.h"

namespace ps::testing {
namespace {

using namespace std::chrono_literals;

TEST_F(ServeTest, AnIdlePluginIsStoppedHealthyAndStartsOnItsNextCall) {
  AddPlugin("ungated", kUngatedManifest, kUngatedSource);
  AddPlugin("recorder", kRecorderManifest, kRecorderSource);
  serve_.args = {"--idle-stop-s", "1", "--always-on", "recorder"};
  StartWithPlugins();
  ASSERT_TRUE(Eventually(
      [&] {
        return serve_.Get("/healthz", false).Health() ==
               R"({"status":"ok","plugins":{"recorder":"ready","ungated":"idle-stopped"}})";
      },
      20s))
      << serve_.Get("/healthz", false).body;
  Reply v = serve_.Get("/v1/plugins/ungated");
  EXPECT_TRUE(v.Json().at("pid").is_null());
  EXPECT_EQ(Stringify(v.Json().at("stats").at("idleStops")), "1");
  EXPECT_EQ(Stringify(v.Json().at("alwaysOn")), "false");
  EXPECT_EQ(Stringify(serve_.Get("/v1/plugins/recorder").Json().at("alwaysOn")), "true");
  EXPECT_NE(serve_.Log().find("plugin ungated idle for 1 s: stopped"), std::string::npos);

  EXPECT_EQ(serve_.Route("ungated", "ping").status, 200);
  v = serve_.Get("/v1/plugins/ungated");
  EXPECT_EQ(Str(v.Json().at("state")), "ready");
  EXPECT_EQ(Stringify(v.Json().at("stats").at("starts")), "2");
  EXPECT_NE(serve_.Log().find("plugin ungated started on demand in "), std::string::npos);

  const std::string t = serve_.Get("/metrics", false).body;
  for (const char* line : {
           "plugin_sandbox_plugin_starts_total{plugin=\"ungated\"} 2",
           "plugin_sandbox_plugin_stops_total{plugin=\"ungated\",reason=\"idle\"} 1",
           "plugin_sandbox_plugin_stops_total{plugin=\"ungated\",reason=\"memory\"} 0",
           "plugin_sandbox_plugin_stops_total{plugin=\"recorder\",reason=\"idle\"} 0",
       }) {
    EXPECT_NE(t.find(line), std::string::npos) << line << "\n" << t;
  }
}

}  // namespace
}  // namespace ps::testing
