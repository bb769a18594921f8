#include "runner/runner.h"

#include <curl/curl.h>

#include "runner_fixture.h"
#include "store/site_schema.h"

namespace ps::testing {
namespace {

constexpr const char* kKvManifest = R"({"id":"kvplug","version":"1.0.0","capabilities":[],
  "storage":{"notes":{"indexes":["n"]}},"routes":["put","get","count"],"hooks":["content:afterSave"]})";

constexpr const char* kKvSource = R"JS(
import { definePlugin } from "emdash";
export default definePlugin({
  hooks: {
    "content:afterSave": async (event, ctx) => { await ctx.kv.set("last", event.content.id); return "seen"; },
  },
  routes: {
    put: async ({ input }, ctx) => { await ctx.kv.set(input.key, input.value); await ctx.storage.notes.put(input.key, { n: 1 }); return { ok: true }; },
    get: async ({ input }, ctx) => ({ value: await ctx.kv.get(input.key) }),
    count: async (_r, ctx) => ({ count: await ctx.storage.notes.count() }),
  },
});
)JS";

TEST_F(RunnerTest, RoutesAndHooksRoundTripJsonThroughTheBridge) {
  auto h = Load(kKvManifest, kKvSource);
  EXPECT_EQ(Stringify(Route(h, "put", R"({"key":"k","value":{"a":[1,2.5,"x"]}})")),
            R"({"ok":true})");
  EXPECT_EQ(Stringify(Route(h, "get", R"({"key":"k"})")), R"({"value":{"a":[1,2.5,"x"]}})");
  EXPECT_EQ(Stringify(Route(h, "count")), R"({"count":1})");
  auto hook = runner_->InvokeHook(h, "content:afterSave", *ParseJson(R"({"content":{"id":"c1"}})"));
  ASSERT_TRUE(hook.ok()) << hook.status().message();
  EXPECT_EQ(Stringify(*hook), R"("seen")");
  EXPECT_EQ(Stringify(Route(h, "get", R"({"key":"last"})")), R"({"value":"c1"})");
}

TEST_F(RunnerTest, ReadinessReportsTheModulesHooksAndRoutes) {
  auto h = Load(kKvManifest, kKvSource);
  auto info = runner_->Info(h.id);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->state, workerd::ProcessState::kReady);
  EXPECT_TRUE(info->described.at("hooks").get_object().contains("content:afterSave"));
  EXPECT_TRUE(info->described.at("routes").get_object().contains("count"));
}

TEST_F(RunnerTest, UnknownRouteIsNotFoundAndThrownErrorIsPluginError) {
  auto h = Load(R"({"id":"errs","version":"1"})", R"JS(
export default { routes: { boom: async () => { throw new Error("it broke"); } } };
)JS");
  ExpectFailure(runner_->InvokeRoute(h, "nope", nullptr, json::object()), ErrorCode::kNotFound,
                "Route not found: nope");
  ExpectFailure(runner_->InvokeRoute(h, "boom", nullptr, json::object()), ErrorCode::kPluginError,
                "it broke");
}

TEST_F(RunnerTest, BridgeErrorsReachThePluginAsErrorsWithTheBridgeMessage) {
  auto h = Load(R"({"id":"denied","version":"1","routes":["read"]})", R"JS(
export default { routes: { read: async (_r, ctx) => {
  try { await ctx.content.get("posts", "x"); return "no error"; }
  catch (e) { return { message: e.message, code: e.code, isError: e instanceof Error }; }
} } };
)JS");
  EXPECT_EQ(
      Stringify(Route(h, "read")),
      R"({"message":"Missing capability: content:read","code":"bridge_error","isError":true})");
}

TEST_F(RunnerTest, DirectRequestToPluginSocketWithoutInvokeTokenIs401) {
  auto h = Load(kKvManifest, kKvSource);
  auto info = runner_->Info(h.id);
  ASSERT_TRUE(info.has_value());
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, info->socket_path.c_str());
  curl_easy_setopt(c, CURLOPT_URL, "http://plugin/route/get");
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
  std::string body;
  curl_easy_setopt(
      c, CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* u) {
        static_cast<std::string*>(u)->append(d, s * n);
        return s * n;
      });
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  ASSERT_EQ(curl_easy_perform(c), CURLE_OK);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  EXPECT_EQ(status, 401);
  EXPECT_EQ(body, "Unauthorized");
}

TEST_F(RunnerTest, PlainFetchAndEnvironmentReachNothing) {
  auto h = Load(R"({"id":"escape","version":"1"})", R"JS(
export default { routes: {
  fetch: async () => { const r = await fetch("http://example.com/"); return { status: r.status, text: await r.text() }; },
  env: async () => ({ env: typeof process === "undefined" ? null : Object.keys(process.env ?? {}) }),
} };
)JS");
  auto f = Route(h, "fetch");
  EXPECT_EQ(f.at("status").as_int64(), 403);
  EXPECT_NE(std::string(f.at("text").get_string()).find("Direct fetch() blocked"),
            std::string::npos);
  auto e = Route(h, "env");
  if (!e.at("env").is_null()) {
    EXPECT_EQ(e.at("env").get_array().size(), 0u) << Stringify(e);
  }
}

TEST_F(RunnerTest, SpinningPluginIsKilledForCpuAndAnswersAgainAfterwards) {
  auto spin = Load(R"({"id":"spinner","version":"1"})", R"JS(
export default { routes: { spin: async () => { while (true) {} }, ok: async () => "fine" } };
)JS");
  auto other = Load(kKvManifest, kKvSource);
  auto r = runner_->InvokeRoute(spin, "spin", nullptr, json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), ErrorCode::kCpuLimitExceeded) << r.status().message();
  EXPECT_EQ(Stringify(Route(other, "get", R"({"key":"x"})")), R"({"value":null})");
  // The spinner comes back after its restart.
  ASSERT_TRUE(
      Eventually([&] { return runner_->Info("spinner")->state == workerd::ProcessState::kReady; },
                 std::chrono::seconds(10)));
  EXPECT_EQ(Stringify(Route(spin, "ok")), R"("fine")");
}

// The watchdog spares an invocation caught over budget while V8's helpers collect garbage (up to
// twice its budget); a loop that makes garbage keeps them busy, and must still be killed.
TEST_F(RunnerTest, LoopChurningGarbageIsStillKilledForCpu) {
  auto h = Load(R"({"id":"churner","version":"1"})", R"JS(
export default { routes: { churn: async () => {
  for (;;) { const a = []; for (let i = 0; i < 1000; i++) a.push({ i, s: "x" + i }); }
} } };
)JS");
  auto r = runner_->InvokeRoute(h, "churn", nullptr, json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), ErrorCode::kCpuLimitExceeded) << r.status().message();
  EXPECT_EQ(runner_->Info("churner")->limit_kills, 1u);
  EXPECT_LE(runner_->Info("churner")->cpu_reprieves, 1u);  // counted once per invocation
}

TEST_F(RunnerTest, HeapBombFailsWithMemoryLimitExceeded) {
  auto h = Load(R"({"id":"heapbomb","version":"1"})", R"JS(
export default { routes: { bomb: async () => { const a = []; for (;;) a.push({ s: "x".repeat(64) + a.length }); } } };
)JS");
  auto r = runner_->InvokeRoute(h, "bomb", nullptr, json::object());
  ASSERT_FALSE(r.ok());
  // Either V8's heap limit aborts the process or the CPU budget ends it first; both contain it.
  EXPECT_TRUE(r.status().error_code() == ErrorCode::kMemoryLimitExceeded ||
              r.status().error_code() == ErrorCode::kCpuLimitExceeded)
      << r.status().error_code() << ": " << r.status().message();
}

class SlowRunnerTest : public RunnerTest {
 protected:
  void Customize(runner::RunnerOptions& o) override {
    o.limits.wall_ms = 300;
    o.limits.cpu_ms = 5000;
  }
};

TEST_F(SlowRunnerTest, SlowRouteFailsWithWallTimeExceeded) {
  auto h = Load(R"({"id":"hang","version":"1"})", R"JS(
export default { routes: { hang: () => new Promise((r) => setTimeout(r, 60000)) } };
)JS");
  auto r = runner_->InvokeRoute(h, "hang", nullptr, json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), ErrorCode::kWallTimeExceeded);
  EXPECT_EQ(r.status().message(),
            "Plugin hang exceeded wall-time limit of 300ms during route:hang");
}

TEST_F(RunnerTest, ArrayBufferBombIsKilledForMemory) {
  auto h = Load(R"({"id":"abbomb","version":"1"})", R"JS(
export default { routes: { bomb: async () => {
  const keep = [];
  for (let i = 0; i < 64; i++) { const b = new Uint8Array(32 << 20); b.fill(7); keep.push(b); await null; }
  return keep.length;
} } };
)JS");
  auto r = runner_->InvokeRoute(h, "bomb", nullptr, json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().error_code() == ErrorCode::kMemoryLimitExceeded ||
              r.status().error_code() == ErrorCode::kCpuLimitExceeded)
      << r.status().error_code() << ": " << r.status().message();
}

// By request, workerd sees that nothing can settle the handler's promise and ends the request at
// once; on an invocation channel the wall-time limit ends it (invoke_channel_test.cc).
class SlowRequestRunnerTest : public SlowRunnerTest {
  void Customize(runner::RunnerOptions& o) override {
    SlowRunnerTest::Customize(o);
    o.invoke_channel = false;
  }
};

TEST_F(SlowRequestRunnerTest, NeverSettlingPromiseIsAPluginErrorNotAHang) {
  auto h = Load(R"({"id":"stuck","version":"1"})", R"JS(
export default { routes: { stuck: () => new Promise(() => {}) } };
)JS");
  auto r = runner_->InvokeRoute(h, "stuck", nullptr, json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), ErrorCode::kPluginError);
  EXPECT_NE(r.status().message().find("Plugin stuck failed during route:stuck"), std::string::npos)
      << r.status().message();
}

TEST_F(RunnerTest, TwoPluginsCannotSeeEachOthersKvOrStorage) {
  auto a = Load(kKvManifest, kKvSource);
  auto b = Load(
      R"({"id":"other","version":"1","storage":{"notes":{"indexes":["n"]}},"routes":["put","get","count"]})",
      kKvSource);
  Route(a, "put", R"({"key":"shared-name","value":"a's"})");
  EXPECT_EQ(Stringify(Route(b, "get", R"({"key":"shared-name"})")), R"({"value":null})");
  EXPECT_EQ(Stringify(Route(b, "count")), R"({"count":0})");
  Route(b, "put", R"({"key":"shared-name","value":"b's"})");
  EXPECT_EQ(Stringify(Route(a, "get", R"({"key":"shared-name"})")), R"({"value":"a's"})");
}

TEST_F(RunnerTest, ContentWriteFenceReachesTheRouteCallerAs503) {
  auto conn = db_->Acquire();
  // The fence table exists only on EmDash's main branch: a host started on such a site sees it.
  ASSERT_TRUE(conn->ExecScript("CREATE TABLE _emdash_media_usage_activation (task_key TEXT "
                               "PRIMARY KEY, state TEXT NOT NULL DEFAULT 'expanded')")
                  .ok());
  auto schema = store::SiteSchema::Read(*conn, db_->dialect());
  ASSERT_TRUE(schema.ok());
  db_->set_schema(std::move(schema).value());
  ASSERT_TRUE(conn->Exec("INSERT INTO _emdash_media_usage_activation (task_key, state) VALUES "
                         "('incremental_capture', 'activating')")
                  .ok());
  auto h = Load(R"({"id":"writer","version":"1","capabilities":["content:write"]})", R"JS(
export default { routes: { write: (_r, ctx) => ctx.content.create("posts", { title: "x" }) } };
)JS");
  auto r = runner_->InvokeRoute(h, "write", nullptr, json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), ErrorCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "Media usage activation is in progress");
}

TEST_F(RunnerTest, HookAbsentFromTheModuleAnswersNull) {
  auto h = Load(kKvManifest, kKvSource);
  auto r = runner_->InvokeHook(h, "cron", *ParseJson(R"({"name":"x"})"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->is_null());
}

TEST_F(RunnerTest, EmailGoesToTheSenderSetAtRuntimeWithThePluginAsSource) {
  auto h = Load(R"({"id":"mailer","version":"1","capabilities":["email:send"]})", R"JS(
export default { routes: { send: async (_r, ctx) => {
  try { await ctx.email.send({ to: "a@example.com", subject: "Hi", text: "Body" }); return "sent"; }
  catch (e) { return e.message; }
} } };
)JS");
  EXPECT_EQ(Stringify(Route(h, "send")),
            R"("Email is not configured. No email provider is available.")");
  std::vector<std::string> seen;
  std::mutex mu;
  runner_->SetEmailSender([&](const json::object& m, const std::string& source) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(source + ":" + std::string(m.at("subject").get_string()));
    return Status::Ok();
  });
  EXPECT_EQ(Stringify(Route(h, "send")), R"("sent")");
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen, std::vector<std::string>{"mailer:Hi"});
}

// A hook's input reaches the plugin unchanged whichever way it travels: small printable ASCII in
// the x-ps-input header, anything else (non-ASCII, control characters, over 4 KiB) as the body.
TEST_F(RunnerTest, HookInputArrivesIntactInTheHeaderAndInTheBody) {
  auto h = Load(R"({"id":"mirror","version":"1","capabilities":["content:write"],
                   "hooks":["content:beforeSave"]})",
                "export default { hooks: { 'content:beforeSave': async (e) => e } };");
  // JSON string bodies (escapes are JSON's).
  std::vector<std::string> titles = {R"(plain ascii with \"quotes\" and \\ backslash)",
                                     R"(caf\u00e9 \u2603 \ud83d\ude00)", R"(tab\tnew\nline\u0001)",
                                     R"(del\u007f)", std::string(5000, 'x')};
  for (const auto& t : titles) {
    auto event = ParseJson(R"({"content":{"title":")" + t + R"("},"collection":"posts"})");
    ASSERT_TRUE(event.ok()) << t;
    auto r = runner_->InvokeHook(h, "content:beforeSave", *event);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(Stringify(*r), Stringify(*event)) << t.substr(0, 40);
  }
}

TEST_F(RunnerTest, BridgeParamsArriveIntactInTheHeaderAndInTheBody) {
  // Small printable params travel in x-ps-params, anything else in the body: both round-trip.
  auto h = Load(R"({"id":"kvmirror","version":"1","routes":["roundtrip"]})",
                "export default { routes: { roundtrip: async ({ input }, ctx) => {"
                " await ctx.kv.set('k', input.value); return await ctx.kv.get('k'); } } };");
  std::vector<std::string> values = {R"(plain ascii with \"quotes\" and \\ backslash)",
                                     R"(caf\u00e9 \u2603 \ud83d\ude00)", R"(tab\tnew\nline\u0001)",
                                     R"(del\u007f)", std::string(5000, 'x')};
  for (const auto& v : values) {
    auto input = ParseJson(R"({"value":")" + v + R"("})");
    ASSERT_TRUE(input.ok()) << v;
    auto r = runner_->InvokeRoute(h, "roundtrip", *input, json::object());
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(Stringify(*r), Stringify(input->at("value"))) << v.substr(0, 40);
  }
}

}  // namespace
}  // namespace ps::testing
