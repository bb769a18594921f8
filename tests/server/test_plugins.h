// Plugins written for the server tests: each does one observable thing.
#pragma once

#include <string>

namespace ps::testing {

// Records every hook it receives (lifecycle, content, media) in its storage; answers a public
// route that echoes what it was given and a private one that shows the user.
inline constexpr const char* kRecorderManifest = R"({
  "id": "recorder", "version": "1.0.0",
  "capabilities": ["content:read", "media:read"],
  "storage": {"events": {"indexes": ["at", "hook"]}},
  "hooks": ["plugin:install", "plugin:activate", "plugin:deactivate", "plugin:uninstall",
            "content:afterSave", "content:afterDelete", "media:afterUpload"],
  "routes": [{"name": "echo", "public": true}, "whoami", "events", "kv"]
})";
inline constexpr const char* kRecorderSource = R"JS(
let seq = 0;
async function record(ctx, hook, event) {
  seq += 1;
  await ctx.storage.events.put(`${Date.now()}-${seq}-${Math.random()}`,
                               { at: Date.now() * 1000 + seq, hook, event });
}
export default {
  hooks: {
    "plugin:install": async (e, ctx) => { ctx.log.info("recorder installed", { v: 1 }); await ctx.kv.set("installed", true); await record(ctx, "plugin:install", e); },
    "plugin:activate": async (e, ctx) => record(ctx, "plugin:activate", e),
    "plugin:deactivate": async (e, ctx) => record(ctx, "plugin:deactivate", e),
    "plugin:uninstall": async (e, ctx) => { await ctx.kv.set("uninstall", e); await record(ctx, "plugin:uninstall", e); },
    "content:afterSave": async (e, ctx) => record(ctx, "content:afterSave", e),
    "content:afterDelete": async (e, ctx) => record(ctx, "content:afterDelete", e),
    "media:afterUpload": async (e, ctx) => record(ctx, "media:afterUpload", e),
  },
  routes: {
    echo: { public: true, handler: async ({ input, request, user }) => ({ input, request, user: user ?? null }) },
    whoami: async ({ user, request }) => ({ user, hasAuthorization: "authorization" in request.headers }),
    events: async (_r, ctx) => {
      const page = await ctx.storage.events.query({ orderBy: { at: "asc" }, limit: 100 });
      return page.items.map((i) => ({ hook: i.data.hook, event: i.data.event }));
    },
    kv: async ({ input }, ctx) => ({ value: await ctx.kv.get(input.key) }),
  },
};
)JS";

// Two before-save plugins that each append to the title: the chain shows in the write.
inline constexpr const char* kChainAManifest = R"({"id":"chain-a","version":"1.0.0",
  "capabilities":["content:write"],"hooks":[{"name":"content:beforeSave","priority":10}]})";
inline constexpr const char* kChainASource = R"JS(
export default { hooks: { "content:beforeSave": { priority: 10, handler: async (e) =>
  (typeof e.content.title === "string" ? { ...e.content, title: e.content.title + " +a" } : undefined) } } };
)JS";
inline constexpr const char* kChainBManifest = R"({"id":"chain-b","version":"1.0.0",
  "capabilities":["content:write"],"hooks":[{"name":"content:beforeSave","priority":20}]})";
inline constexpr const char* kChainBSource = R"JS(
export default { hooks: { "content:beforeSave": { priority: 20, handler: async (e) =>
  (typeof e.content.title === "string" ? { ...e.content, title: e.content.title + " +b" } : e.content) } } };
)JS";

// Vetoes deletes in the collection "locked".
inline constexpr const char* kVetoManifest = R"({"id":"vetoer","version":"1.0.0",
  "capabilities":["content:read"],"hooks":["content:beforeDelete"]})";
inline constexpr const char* kVetoSource = R"JS(
export default { hooks: { "content:beforeDelete": async (e) => e.collection !== "locked" } };
)JS";

// Hangs in beforeSave for the collection "slow", beyond its 300 ms timeout.
inline constexpr const char* kSlowManifest = R"({"id":"slowpoke","version":"1.0.0",
  "capabilities":["content:write"],"hooks":[{"name":"content:beforeSave","timeout":300}]})";
inline constexpr const char* kSlowSource = R"JS(
export default { hooks: { "content:beforeSave": { timeout: 300, handler: async (e) => {
  if (e.collection === "slow") await new Promise((r) => setTimeout(r, 60000));
  return e.content;
} } } };
)JS";

// Fails (errorPolicy abort) in beforeSave for the collection "strict".
inline constexpr const char* kStrictManifest = R"({"id":"strict","version":"1.0.0",
  "capabilities":["content:write"],"hooks":[{"name":"content:beforeSave","errorPolicy":"abort"}]})";
inline constexpr const char* kStrictSource = R"JS(
export default { hooks: { "content:beforeSave": { errorPolicy: "abort", handler: async (e) => {
  if (e.collection === "strict") throw new Error("strict refuses this content");
  return e.content;
} } } };
)JS";

// Defines content:beforeSave without content:write: the capability gate skips it.
inline constexpr const char* kUngatedManifest = R"({"id":"ungated","version":"1.0.0",
  "capabilities":[]})";
inline constexpr const char* kUngatedSource = R"JS(
export default { hooks: { "content:beforeSave": async (e) => ({ ...e.content, title: "HACKED" }) },
  routes: { ping: async () => "pong" } };
)JS";

// A plugin in two versions, for install/update tests.
inline std::string VersionedManifest(const std::string& version) {
  return R"({"id":"versioned","version":")" + version +
         R"(","capabilities":[],"hooks":["plugin:install","plugin:activate","plugin:deactivate","plugin:uninstall"],"routes":["version","kv"]})";
}
inline std::string VersionedSource(const std::string& version) {
  return R"JS(
export default {
  hooks: {
    "plugin:install": async (e, ctx) => ctx.kv.set("install", ")JS" +
         version + R"JS("),
    "plugin:activate": async (e, ctx) => ctx.kv.set("activate", ")JS" +
         version + R"JS("),
    "plugin:deactivate": async (e, ctx) => ctx.kv.set("deactivate", ")JS" +
         version + R"JS("),
    "plugin:uninstall": async (e, ctx) => ctx.kv.set("uninstall", e),
  },
  routes: {
    version: async () => ")JS" +
         version + R"JS(",
    kv: async ({ input }, ctx) => ({ value: await ctx.kv.get(input.key) }),
  },
};
)JS";
}

}  // namespace ps::testing
