// Escape attempts from inside an isolate: each must be refused.
#include "runner/runner.h"
#include "runner_fixture.h"

namespace ps::testing {
namespace {

TEST_F(RunnerTest, ConnectFromCloudflareSocketsReachesNothing) {
  auto h = Load(R"({"id":"sockets","version":"1"})", R"JS(
import { connect } from "cloudflare:sockets";
export default { routes: { dial: async () => {
  try {
    const s = connect({ hostname: "127.0.0.1", port: 22 });
    await s.opened;
    return "connected";
  } catch (e) { return "refused: " + e.message; }
} } };
)JS");
  auto v = Route(h, "dial");
  ASSERT_TRUE(v.is_string()) << Stringify(v);
  EXPECT_EQ(std::string(v.get_string()).rfind("refused: ", 0), 0u) << Stringify(v);
}

TEST_F(RunnerTest, PlainFetchToTheHostsOwnSocketsIsRefused) {
  auto h = Load(R"({"id":"prober","version":"1"})", R"JS(
export default { routes: { probe: async () => {
  const out = [];
  for (const url of ["http://bridge/kv/get", "http://localhost:8787/v1/plugins", "http://127.0.0.1/"]) {
    try { const r = await fetch(url, { method: "POST", body: "{}" }); out.push(r.status); }
    catch (e) { out.push("error"); }
  }
  return out;
} } };
)JS");
  EXPECT_EQ(Stringify(Route(h, "probe")), "[403,403,403]");
}

TEST_F(RunnerTest, TheBridgeBindingIsUselessWithoutTheWrappersToken) {
  // cloudflare:workers exposes the worker's env, BRIDGE included. Reaching it gives nothing:
  // every call needs the plugin's token (kept in the wrapper's closure) and a live invocation.
  auto h = Load(R"({"id":"envy","version":"1"})", R"JS(
import { env } from "cloudflare:workers";
export default { routes: { direct: async () => {
  if (!env || !env.BRIDGE) return "no binding";
  const out = [];
  for (const auth of [undefined, "Bearer forged.token", "Bearer " + "e30." + "A".repeat(43)]) {
    const headers = { "content-type": "application/json" };
    if (auth) headers.authorization = auth;
    const r = await env.BRIDGE.fetch("http://bridge/kv/get", { method: "POST", headers, body: '{"key":"k"}' });
    out.push(r.status);
  }
  return out;
} } };
)JS");
  auto v = Route(h, "direct");
  if (!v.is_string()) {
    EXPECT_EQ(Stringify(v), "[401,401,401]");
  }
}

TEST_F(RunnerTest, ACapabilityThePluginLacksIsRefusedInsideTheIsolate) {
  auto h = Load(R"({"id":"nocaps","version":"1"})", R"JS(
export default { routes: { all: async (_r, ctx) => {
  const out = {};
  for (const [name, f] of Object.entries({
    content: () => ctx.content.list("posts"),
    media: () => ctx.media.list(),
    taxonomies: () => ctx.taxonomies.getAll(),
    http: () => ctx.http.fetch("https://example.com/"),
  })) {
    try { await f(); out[name] = "allowed"; } catch (e) { out[name] = e.message; }
  }
  out.users = typeof ctx.users;
  out.email = typeof ctx.email;
  return out;
} } };
)JS");
  EXPECT_EQ(
      Stringify(Route(h, "all")),
      R"({"content":"Missing capability: content:read","media":"Missing capability: media:read",)"
      R"("taxonomies":"Missing capability: taxonomies:read","http":"Missing capability: network:request",)"
      R"("users":"undefined","email":"undefined"})");
}

TEST_F(RunnerTest, BinaryMediaSurvivesTheBridgeByteForByte) {
  auto h =
      Load(R"({"id":"uploader","version":"1","capabilities":["media:write","media:read"]})", R"JS(
export default { routes: { up: async (_r, ctx) => {
  const bytes = new Uint8Array(256 + 3);
  for (let i = 0; i < bytes.length; i++) bytes[i] = i & 255;
  const view = new Uint8Array(bytes.buffer, 1, 257);  // an offset window: exactly these bytes
  const r = await ctx.media.upload("pic.PNG", "image/png", view);
  const m = await ctx.media.get(r.mediaId);
  return { key: r.storageKey, size: m.size, url: m.url };
} } };
)JS");
  auto v = Route(h, "up");
  std::string key(v.at("key").get_string());
  EXPECT_EQ(key.size(), 26u + 4u);
  EXPECT_EQ(key.substr(26), ".PNG");
  EXPECT_EQ(v.at("size").as_int64(), 257);
  std::string stored = ReadFile(dir_ / "data" / "media" / key);
  ASSERT_EQ(stored.size(), 257u);
  for (size_t i = 0; i < stored.size(); ++i) ASSERT_EQ(uint8_t(stored[i]), uint8_t((i + 1) & 255));
}

}  // namespace
}  // namespace ps::testing
