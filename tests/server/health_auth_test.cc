// Health, metrics, the error envelope and the admin token, against a real serve process.
#include <sys/stat.h>

#include "serve_fixture.h"
#include "test_plugins.h"

namespace ps::testing {
namespace {

TEST_F(ServeTest, HealthzReportsEveryPluginsStateWithoutAToken) {
  AddPlugin("recorder", kRecorderManifest, kRecorderSource);
  StartWithPlugins();
  Reply r = serve_.Get("/healthz", /*auth=*/false);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Health(), R"({"status":"ok","plugins":{"recorder":"ready"}})");
  // And the kernel's wall around plugin processes: every layer, and each running process's.
  json::value c = r.Json().at("containment");
  EXPECT_EQ(c.at("layers").as_object().size(), 9u) << r.body;
  for (const char* layer :
       {"identity", "capabilities", "mount", "pid", "ipc", "uts", "net", "seccomp", "resources"}) {
    EXPECT_TRUE(c.at("layers").as_object().contains(layer)) << layer;
  }
  EXPECT_NE(Str(c.at("plugins").at("recorder")).find("memory"), std::string::npos) << r.body;
  // A disabled plugin is "disabled" and the host "degraded" only for enabled plugins.
  ASSERT_EQ(serve_.Post("/v1/plugins/recorder/disable", "").status, 200);
  EXPECT_EQ(serve_.Get("/healthz", false).Health(),
            R"({"status":"ok","plugins":{"recorder":"disabled"}})");
}

TEST_F(ServeTest, AdminEndpointsRefuseAMissingOrWrongTokenWith401) {
  serve_.Start();
  Reply none = serve_.Get("/v1/plugins", /*auth=*/false);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.ErrorCode(), "unauthorized");
  EXPECT_EQ(none.headers["www-authenticate"], "Bearer");
  Reply wrong = serve_.Request("GET", "/v1/plugins", "", {"Authorization: Bearer nope"}, false);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.ErrorMessage(), "invalid admin token");
  Reply basic = serve_.Request("GET", "/v1/collections", "", {"Authorization: Basic eDp5"}, false);
  EXPECT_EQ(basic.status, 401);
  Reply prefix = serve_.Request("GET", "/v1/users", "",
                                {"Authorization: Bearer " + serve_.token().substr(0, 10)}, false);
  EXPECT_EQ(prefix.status, 401);
  EXPECT_EQ(serve_.Get("/v1/plugins").status, 200);
}

TEST_F(ServeTest, GeneratedAdminTokenIsPrivateAndReusedAfterARestart) {
  serve_.Start();
  std::string first = serve_.token();
  EXPECT_EQ(first.size(), 64u);
  struct stat st;
  ASSERT_EQ(::stat((serve_.data() / "admin-token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_NE(serve_.Log().find("admin token: generated and stored in"), std::string::npos);
  ASSERT_EQ(serve_.Stop(), 0);
  serve_.Start();
  EXPECT_EQ(serve_.token(), first);
  EXPECT_NE(serve_.Log().find("admin token: read from"), std::string::npos);
  EXPECT_EQ(serve_.Get("/v1/plugins").status, 200);
}

TEST_F(ServeTest, AdminTokenFromAFileOrTheEnvironment) {
  WriteFile(dir_ / "token.txt", "file-token-0123456789\n");
  serve_.args = {"--admin-token-file", (dir_ / "token.txt").string()};
  serve_.Start();
  serve_.mutable_token() = "file-token-0123456789";
  EXPECT_EQ(serve_.Get("/v1/plugins").status, 200);
  ASSERT_EQ(serve_.Stop(), 0);

  serve_.args.clear();
  serve_.env["PLUGIN_SANDBOX_ADMIN_TOKEN"] = "env-token-0123456789";
  serve_.Start();
  serve_.mutable_token() = "env-token-0123456789";
  EXPECT_EQ(serve_.Get("/v1/plugins").status, 200);
  serve_.mutable_token() = "file-token-0123456789";
  EXPECT_EQ(serve_.Get("/v1/plugins").status, 401);
}

TEST_F(ServeTest, UnknownEndpointsAndMethodsGetTheErrorEnvelope) {
  serve_.Start();
  Reply r = serve_.Get("/nope", false);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.ErrorCode(), "not_found");
  EXPECT_EQ(serve_.Get("/v1/nothing").status, 404);
  Reply m = serve_.Request("DELETE", "/healthz", "", {}, false);
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.ErrorCode(), "method_not_allowed");
  EXPECT_EQ(m.headers["allow"], "GET");
  Reply bad = serve_.Post("/v1/collections", "{not json");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.ErrorCode(), "bad_request");
  EXPECT_NE(bad.ErrorMessage().find("request body: invalid JSON"), std::string::npos);
}

TEST_F(ServeTest, OversizedBodiesAre413AndTheHostKeepsServing) {
  serve_.args = {"--max-body-mb", "1"};
  serve_.Start();
  std::string big(2 << 20, 'x');
  Reply r = serve_.Post("/v1/collections", big);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.ErrorCode(), "payload_too_large");
  // Chunked (no Content-Length): refused as it streams.
  Reply chunked = serve_.Request("POST", "/v1/users", big, {"Transfer-Encoding: chunked"});
  EXPECT_EQ(chunked.status, 413);
  EXPECT_EQ(serve_.Get("/healthz", false).status, 200);
}

TEST_F(ServeTest, MetricsReportInvocationsErrorsLatencyBridgeCallsAndMemoryPerPlugin) {
  AddPlugin("recorder", kRecorderManifest, kRecorderSource);
  AddPlugin("ungated", kUngatedManifest, kUngatedSource);
  StartWithPlugins();
  ASSERT_EQ(serve_.Route("recorder", "kv", R"({"key":"installed"})").status, 200);
  ASSERT_EQ(serve_.Route("ungated", "nope").status, 404);
  ASSERT_EQ(serve_
                .Post("/v1/plugins/recorder/hooks/content:afterSave",
                      R"({"event":{"content":{"id":"x"},"collection":"posts","isNew":true}})")
                .status,
            200);
  Reply bad = serve_.Route("recorder", "kv", "null");  // input.key of null throws
  EXPECT_EQ(bad.status, 500);
  EXPECT_EQ(bad.ErrorCode(), "plugin_error");

  Reply m = serve_.Get("/metrics", false);
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.headers["content-type"].find("text/plain"), std::string::npos);
  const std::string& t = m.body;
  for (const char* line : {
           "plugin_sandbox_plugin_info{plugin=\"recorder\",version=\"1.0.0\",state=\"ready\"} 1",
           "plugin_sandbox_plugin_up{plugin=\"ungated\"} 1",
           "plugin_sandbox_plugin_invocations_total{plugin=\"recorder\",kind=\"route\"} 2",
           "plugin_sandbox_plugin_errors_total{plugin=\"recorder\",code=\"plugin_error\"} 1",
           "plugin_sandbox_plugin_invocation_duration_seconds_bucket{plugin=\"recorder\",le=\"+"
           "Inf\"}",
           "plugin_sandbox_plugin_invocation_duration_seconds_count{plugin=\"recorder\"}",
           "plugin_sandbox_plugin_bridge_calls_total{plugin=\"recorder\",method=\"kv/get\"} 1",
           "plugin_sandbox_plugin_bridge_calls_total{plugin=\"recorder\",method=\"storage/put\"}",
           "plugin_sandbox_plugin_restarts_total{plugin=\"recorder\"} 0",
           "plugin_sandbox_bridge_channels_opened_total 0",  // no route made 5 calls
           "plugin_sandbox_plugin_limit_kills_total{plugin=\"recorder\"} 0",
           "plugin_sandbox_plugin_cpu_reprieves_total{plugin=\"recorder\"} 0",
           "plugin_sandbox_plugin_memory_bytes{plugin=\"recorder\"} ",
           "plugin_sandbox_http_requests_total{method=\"POST\",status=\"404\"} 1",
       }) {
    EXPECT_NE(t.find(line), std::string::npos) << line << "\n" << t;
  }
  // The unknown route is the caller's error, not the plugin's.
  EXPECT_EQ(t.find("code=\"not_found\""), std::string::npos);
  // Host-internal bridge calls are not attributed to a plugin.
  EXPECT_EQ(t.find("__host__"), std::string::npos);
}

TEST_F(ServeTest, EveryInvocationWritesOneStructuredLogLineAndPluginLogsAreTagged) {
  AddPlugin("recorder", kRecorderManifest, kRecorderSource);
  StartWithPlugins();
  ASSERT_EQ(serve_.Route("recorder", "events").status, 200);
  std::string log = serve_.Log();
  EXPECT_NE(log.find("invocation plugin=recorder hook=plugin:install ms="), std::string::npos)
      << log;
  EXPECT_NE(log.find("invocation plugin=recorder route=events ms="), std::string::npos);
  EXPECT_NE(log.find("outcome=ok"), std::string::npos);
  EXPECT_NE(log.find("[plugin:recorder] recorder installed {\"v\":1}"), std::string::npos) << log;
}

}  // namespace
}  // namespace ps::testing
