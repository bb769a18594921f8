// The differential scenario list: data plus small functions.
//
// Every scenario runs once on EmDash's own runner (`theirs`,
// @emdash-cms/sandbox-workerd 0.3.2) and once on ours, each on a fresh copy of
// the same site database, through the SandboxRunner contract exactly as
// EmDash's runtime calls it (harness.js). The two results, after
// `normalize()`, must be deepStrictEqual, unless `expectedDifferences` names
// the scenario: then its `check(theirs, ours)` asserts the documented
// difference (ours is null when only theirs ran).
//
// A scenario: {name, group, env?: makeEnv options, deadlineMs?, run(env) ->
// JSON-able result, expect?(result, kind) -> assertion that the scenario
// measured what it means to (run on theirs always, on ours unless the
// scenario is an expected difference)}.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

import { PLUGIN_DIR, delay, descendants, pkgFile, pollUntil, runAfterHooks, runBeforeDelete, runBeforeSave } from "./harness.js";

// ---------------------------------------------------------------------------
// Plugins
// ---------------------------------------------------------------------------

/**
 * Capabilities in EmDash's legacy spelling. EmDash's workerd bridge checks
 * these literal strings; ours normalizes them to the current names, so they
 * grant the same on both runners.
 */
const LEGACY_ALL = [
  "read:content",
  "write:content",
  "read:media",
  "write:media",
  "read:users",
  "email:send",
  "taxonomies:read",
  "network:fetch",
];
/** The same grants in the current names (what published plugins declare). */
const CURRENT_ALL = [
  "content:read",
  "content:write",
  "media:read",
  "media:write",
  "users:read",
  "email:send",
  "taxonomies:read",
  "network:request",
];
/** Legacy names of the three hook-registration capabilities. */
const HOOK_CAPS = ["email:provide", "email:intercept", "page:inject"];

const KITCHEN_STORAGE = {
  events: { indexes: ["kind", "n", ["kind", "n"]] },
  docs: { indexes: ["title"], uniqueIndexes: ["slug"] },
};

export const PLUGINS = {
  kitchen: {
    id: "kitchen",
    version: "1.0.0",
    capabilities: LEGACY_ALL,
    allowedHosts: ["127.0.0.1", "localhost", "allowed.example"],
    storage: KITCHEN_STORAGE,
    source: "kitchen.js",
  },
  kitchenB: {
    id: "kitchen-b",
    version: "1.0.0",
    capabilities: LEGACY_ALL,
    allowedHosts: ["allowed.example"],
    storage: KITCHEN_STORAGE,
    source: "kitchen.js",
  },
  bare: { id: "bare", version: "1.0.0", capabilities: [], storage: {}, source: "kitchen.js" },
  modern: {
    id: "modern",
    version: "1.0.0",
    capabilities: CURRENT_ALL,
    allowedHosts: ["allowed.example"],
    storage: {},
    source: "kitchen.js",
  },
  writer: { id: "writer", version: "1.0.0", capabilities: ["write:content", "write:media"], source: "kitchen.js" },
  hooks: { id: "hooks", version: "1.0.0", capabilities: [...LEGACY_ALL, ...HOOK_CAPS], allowedHosts: ["allowed.example"], source: "hooks.js" },
  hooksA: { id: "hooks-a", version: "1.0.0", capabilities: [...LEGACY_ALL, ...HOOK_CAPS], allowedHosts: ["allowed.example"], source: "hooks.js" },
  hooksB: { id: "hooks-b", version: "1.0.0", capabilities: [...LEGACY_ALL, ...HOOK_CAPS], allowedHosts: ["allowed.example"], source: "hooks.js" },
  hooksThrows: { id: "hooks-throws", version: "1.0.0", capabilities: [...LEGACY_ALL, ...HOOK_CAPS], allowedHosts: ["allowed.example"], source: "hooks.js" },
  hooksKeeps: { id: "hooks-keeps", version: "1.0.0", capabilities: [...LEGACY_ALL, ...HOOK_CAPS], allowedHosts: ["allowed.example"], source: "hooks.js" },
  hooksVetoes: { id: "hooks-vetoes", version: "1.0.0", capabilities: [...LEGACY_ALL, ...HOOK_CAPS], allowedHosts: ["allowed.example"], source: "hooks.js" },
  hooksNoCaps: { id: "hooks-nocaps", version: "1.0.0", capabilities: [], source: "hooks.js" },
  limits: { id: "limits", version: "1.0.0", capabilities: ["network:fetch"], allowedHosts: ["127.0.0.1"], source: "limits.js" },
  limitsB: { id: "limits-b", version: "1.0.0", capabilities: [], source: "limits.js" },
  shapes: { id: "shapes", version: "1.0.0", capabilities: [], source: "shapes.js" },
  defined: {
    id: "defined",
    version: "1.0.0",
    capabilities: [],
    // The form published plugins use: `definePlugin` from "emdash".
    inline: `import { definePlugin } from "emdash";
export default definePlugin({
  hooks: { cron: { handler: async (event) => ({ cron: event.name }) } },
  routes: { hello: { handler: async (routeCtx, ctx) => ({ hello: routeCtx.input?.name ?? "world", id: ctx.plugin.id }) } },
});
`,
  },
  named: {
    id: "named",
    version: "1.0.0",
    capabilities: [],
    // Hooks and routes as named exports (the wrapper accepts both forms).
    inline: `export const hooks = { cron: async (event) => ({ named: event.name }) };
export const routes = { hello: async () => "named exports" };
`,
  },
};

/** The published plugins, with the manifest EmDash builds from their descriptors. */
function publishedEntry(pkg, { id, version, capabilities, allowedHosts, storage }, entry) {
  return { id, version, capabilities, allowedHosts, storage, file: pkgFile(pkg, entry) };
}

export function publishedPlugins() {
  const auditManifest = JSON.parse(readFileSync(pkgFile("@emdash-cms/plugin-audit-log", "dist/manifest.json"), "utf8"));
  return {
    auditLog: publishedEntry(
      "@emdash-cms/plugin-audit-log",
      {
        id: auditManifest.id,
        version: auditManifest.version,
        capabilities: auditManifest.capabilities,
        allowedHosts: auditManifest.allowedHosts,
        storage: auditManifest.storage,
      },
      "dist/plugin.mjs",
    ),
    // webhook-notifier 0.1.3 ships no manifest.json; its descriptor
    // (dist/index.mjs, webhookNotifierPlugin()) says this:
    webhookNotifier: publishedEntry(
      "@emdash-cms/plugin-webhook-notifier",
      {
        id: "webhook-notifier",
        version: "0.1.3",
        capabilities: ["network:request:unrestricted"],
        allowedHosts: [],
        storage: { deliveries: { indexes: ["timestamp", "webhookUrl", "status"] } },
      },
      "dist/sandbox-entry.mjs",
    ),
  };
}

/** The module source of a plugin entry. */
export function pluginCode(entry) {
  if (entry.inline) return entry.inline;
  if (entry.file) return readFileSync(entry.file, "utf8");
  return readFileSync(join(PLUGIN_DIR, entry.source), "utf8");
}

// ---------------------------------------------------------------------------
// Helpers for scenarios
// ---------------------------------------------------------------------------

const step = (call, ...args) => ({ call, args });
const typeOf = (path) => ({ call: "typeof", path });

async function load(env, entry) {
  return env.load(entry, pluginCode(entry));
}

/** Loads `entry` (default kitchen) and runs the steps through its `steps` route. */
async function steps(env, list, entry = PLUGINS.kitchen) {
  const p = await load(env, entry);
  return env.route(p, "steps", { input: { steps: list } });
}

/** A tiny HTTP server on 127.0.0.1 for ctx.http.fetch; answers JSON about the request. */
async function withHttpServer(fn) {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "x-test": "yes" });
      res.end(JSON.stringify({ method: req.method, path: req.url, body, ua: req.headers["user-agent"] ? "set" : "none" }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  try {
    return await fn(`http://127.0.0.1:${port}`);
  } finally {
    server.closeAllConnections?.();
    await new Promise((resolve) => server.close(resolve));
  }
}

const b64 = (text) => Buffer.from(text, "utf8").toString("base64");

/** Sorts the items of step `i`'s content.list answer by slug, in place, where the order is not
 * part of what is compared. */
function sortListBySlug(envelope, i) {
  const items = envelope?.data?.[i]?.value?.items;
  if (!Array.isArray(items)) return;
  const slug = (item) => String(item?.slug ?? item?.data?.slug ?? "");
  items.sort((a, b) => (slug(a) < slug(b) ? -1 : slug(a) > slug(b) ? 1 : 0));
}

/** The steps' results from a `steps` route envelope. */
function stepResults(envelope) {
  assert.equal(envelope.success, true, `steps route failed: ${JSON.stringify(envelope.error)}`);
  return envelope.data;
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

export const scenarios = [
  // ── ctx.kv ──────────────────────────────────────────────────────────────
  {
    name: "kv: set/get/list/delete round trip",
    group: "ctx",
    run: (env) =>
      steps(env, [
        step("kv.set", "alpha", 1),
        step("kv.set", "beta:one", { nested: { list: [1, "two", null] }, flag: true }),
        step("kv.set", "beta:two", "text"),
        step("kv.set", "gamma", null),
        step("kv.get", "alpha"),
        step("kv.get", "beta:one"),
        step("kv.get", "gamma"),
        step("kv.get", "missing"),
        step("kv.list", ""),
        step("kv.list", "beta:"),
        step("kv.list"),
        step("kv.set", "alpha", 2),
        step("kv.get", "alpha"),
        step("kv.delete", "alpha"),
        step("kv.delete", "alpha"),
        step("kv.get", "alpha"),
      ]),
    expect: (r) => {
      const s = stepResults(r);
      assert.deepEqual(s[4], { ok: true, value: 1 });
      assert.deepEqual(s[7], { ok: true, value: null });
      assert.deepEqual(s[13], { ok: true, value: true });
      assert.deepEqual(s[14], { ok: true, value: false });
    },
  },
  {
    name: "kv: bad parameters",
    group: "ctx",
    run: (env) => steps(env, [step("kv.get"), step("kv.set", 42, "x"), step("kv.list", 7), step("kv.delete", { $undefined: true })]),
    expect: (r) => assert.ok(stepResults(r).every((s) => s.ok === false)),
  },
  {
    name: "kv and storage: two plugins cannot see each other's data",
    group: "ctx",
    run: async (env) => {
      const a = await load(env, PLUGINS.kitchen);
      const b = await load(env, PLUGINS.kitchenB);
      const wrote = await env.route(a, "steps", {
        input: { steps: [step("kv.set", "secret", "a's"), step("storage.events.put", "e1", { kind: "a", n: 1 })] },
      });
      const read = await env.route(b, "steps", {
        input: {
          steps: [step("kv.get", "secret"), step("kv.list", ""), step("storage.events.get", "e1"), step("storage.events.count")],
        },
      });
      return { wrote, read };
    },
    expect: (r) => assert.deepEqual(r.read.data[0], { ok: true, value: null }),
  },

  // ── ctx.storage ─────────────────────────────────────────────────────────
  {
    name: "storage: put/get/exists/count/query/getMany/putMany/deleteMany",
    group: "ctx",
    run: (env) =>
      steps(env, [
        step("storage.events.put", "evt-1", { kind: "x", n: 1, label: "first" }),
        step("storage.events.put", "evt-2", { kind: "y", n: 2, label: "second" }),
        step("storage.events.put", "evt-3", { kind: "x", n: 3, label: "third" }),
        step("storage.events.get", "evt-1"),
        step("storage.events.get", "nope"),
        step("storage.events.exists", "evt-2"),
        step("storage.events.exists", "nope"),
        step("storage.events.count"),
        step("storage.events.count", { kind: "x" }),
        step("storage.events.query", { where: { kind: "x" }, orderBy: { n: "desc" } }),
        step("storage.events.query", { where: { n: { gte: 2 } } }),
        step("storage.events.query", { where: { kind: { in: ["x", "y"] } }, limit: 1 }),
        step("storage.events.getMany", ["evt-1", "nope", "evt-3"]),
        step("storage.events.putMany", [
          { id: "evt-4", data: { kind: "z", n: 4 } },
          { id: "evt-5", data: { kind: "z", n: 5 } },
        ]),
        step("storage.events.count", { kind: "z" }),
        step("storage.events.deleteMany", ["evt-4", "evt-5", "nope"]),
        step("storage.events.delete", "evt-1"),
        step("storage.events.delete", "evt-1"),
        step("storage.events.count"),
      ]),
    expect: (r) => {
      const s = stepResults(r);
      assert.deepEqual(s[4], { ok: true, value: null });
      assert.deepEqual(s[8], { ok: true, value: 2 });
      assert.deepEqual(s[18], { ok: true, value: 2 });
    },
  },
  {
    name: "storage: query pagination with the default order",
    group: "ctx",
    run: (env) =>
      steps(env, [
        step("storage.events.putMany", [
          { id: "p1", data: { kind: "k", n: 1 } },
          { id: "p2", data: { kind: "k", n: 2 } },
          { id: "p3", data: { kind: "k", n: 3 } },
        ]),
        step("storage.events.query", { limit: 2 }),
        step("storage.events.query", { limit: 2, cursor: { $ref: "1.value.cursor" } }),
      ]),
  },
  {
    name: "storage: unindexed field, undeclared collection",
    group: "ctx",
    run: (env) =>
      steps(env, [
        step("storage.events.query", { where: { label: "first" } }),
        step("storage.events.query", { orderBy: { label: "asc" } }),
        step("storage.undeclared.get", "x"),
        step("storage.undeclared.put", "x", { a: 1 }),
      ]),
    expect: (r) => {
      const s = stepResults(r);
      assert.equal(s[0].ok, false);
      assert.equal(s[2].ok, false);
    },
  },

  {
    name: "storage: a uniqueIndexes entry of the manifest",
    group: "ctx",
    run: (env) =>
      steps(env, [
        step("storage.docs.put", "d1", { title: "One", slug: "same" }),
        step("storage.docs.put", "d2", { title: "Two", slug: "same" }),
        step("storage.docs.count"),
      ]),
  },

  // ── ctx.content ─────────────────────────────────────────────────────────
  {
    name: "content: get and list",
    group: "ctx",
    run: (env) =>
      steps(env, [
        step("content.get", "posts", env.ids.content.published),
        step("content.get", "posts", env.ids.content.draft),
        step("content.get", "posts", "01ZZZZZZZZZZZZZZZZZZZZZZZZ"),
        step("content.get", "pages", env.ids.content.page),
        step("content.list", "posts"),
        step("content.list", "posts", { limit: 1 }),
        step("content.list", "posts", { limit: 1, cursor: { $ref: "5.value.cursor" } }),
        step("content.list", "pages", { limit: 0 }),
        step("content.get", "no_such_collection", "x"),
        step("content.get", "Bad-Name!", "x"),
      ]),
    expect: (r) => {
      const s = stepResults(r);
      assert.equal(s[0].ok, true);
      assert.equal(s[0].value.data.title, "Hello world");
      assert.deepEqual(s[2], { ok: true, value: null });
    },
  },
  {
    name: "content: create, update, delete",
    group: "ctx",
    run: async (env) => {
      const envelope = await steps(env, [
        step("content.create", "posts", { title: "Created by plugin", body: "b", rating: 3, slug: "created" }),
        step("content.get", "posts", { $ref: "0.value.id" }),
        step("content.update", "posts", { $ref: "0.value.id" }, { title: "Changed", rating: 4 }),
        step("content.get", "posts", { $ref: "0.value.id" }),
        step("content.delete", "posts", { $ref: "0.value.id" }),
        step("content.get", "posts", { $ref: "0.value.id" }),
        step("content.delete", "posts", { $ref: "0.value.id" }),
        step("content.update", "posts", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", { title: "x" }),
        step("content.create", "posts", { title: "bad", no_such_field: 1 }),
        step("content.create", "posts", { title: "dup", slug: "hello-world" }),
      ]);
      // What EmDash's own repository reads back afterwards.
      const rows = await env.db
        .selectFrom("ec_posts")
        .select(["slug", "status", "title", "rating", "deleted_at"])
        .orderBy("slug")
        .execute();
      return { envelope, rows: rows.map((r) => ({ ...r, deleted_at: r.deleted_at ? "<set>" : null })) };
    },
    expect: (r) => {
      const s = stepResults(r.envelope);
      assert.equal(s[0].ok, true);
      assert.equal(s[3].value.data.title, "Changed");
      assert.deepEqual(s[5], { ok: true, value: null });
    },
  },
  {
    name: "content: batch createMany, updateMany, deleteMany",
    group: "ctx",
    run: async (env) => {
      const envelope = await steps(env, [
        step("content.createMany", "pages", [{ title: "B1", slug: "b1" }, { title: "B2", slug: "b2" }]),
        step("content.updateMany", "pages", [
          { id: { $ref: "0.value.0.id" }, data: { title: "B1 changed" } },
          { id: { $ref: "0.value.1.id" }, data: { title: "B2 changed" } },
        ]),
        step("content.list", "pages"),
        step("content.deleteMany", "pages", [{ $ref: "0.value.0.id" }, { $ref: "0.value.1.id" }]),
        step("content.list", "pages"),
        step("content.createMany", "pages", [{ title: "ok", slug: "ok-1" }, { title: "dup", slug: "about" }]),
        step("content.list", "pages"),
      ]);
      // Both sides list by id, newest first, and one createMany makes its rows in the same
      // millisecond, where a ULID's order is its random part's: compare those lists by slug.
      for (const i of [2, 4, 6]) sortListBySlug(envelope, i);
      return envelope;
    },
  },

  // ── ctx.taxonomies ──────────────────────────────────────────────────────
  {
    name: "taxonomies: getAll, getTerms, getEntryTerms",
    group: "ctx",
    run: (env) =>
      steps(env, [
        step("taxonomies.getAll"),
        step("taxonomies.getTerms", "category"),
        step("taxonomies.getTerms", "tag"),
        step("taxonomies.getTerms", "nope"),
        step("taxonomies.getEntryTerms", "posts", env.ids.content.published),
        step("taxonomies.getEntryTerms", "posts", env.ids.content.draft),
      ]),
    expect: (r) => assert.equal(stepResults(r)[1].ok, true),
  },

  // ── ctx.media ───────────────────────────────────────────────────────────
  {
    name: "media: get, list, upload, delete",
    group: "ctx",
    run: async (env) => {
      const envelope = await steps(env, [
        step("media.get", env.ids.media.photo),
        step("media.get", "01ZZZZZZZZZZZZZZZZZZZZZZZZ"),
        step("media.list"),
        step("media.list", { limit: 1 }),
        step("media.list", { mimeType: "image/" }),
        step("media.upload", "picture.png", "image/png", { $bytes: b64("not really a png") }),
        step("media.get", { $ref: "5.value.mediaId" }),
        step("media.upload", "notes.txt", "text/plain", { $bytes: b64("text") }),
        step("media.delete", { $ref: "5.value.mediaId" }),
        step("media.delete", { $ref: "5.value.mediaId" }),
        step("media.getUploadUrl", "x.png", "image/png"),
      ]);
      return { envelope, mediaOps: env.mediaOps };
    },
    expect: (r) => {
      const s = stepResults(r.envelope);
      assert.equal(s[0].value.filename, "photo.jpg");
      assert.equal(s[5].ok, true);
      assert.deepEqual(
        r.mediaOps.map((o) => o.op),
        ["upload", "delete"],
      );
    },
  },
  {
    name: "media: upload without a storage adapter",
    group: "ctx",
    env: { withMedia: false },
    run: (env) => steps(env, [step("media.upload", "a.png", "image/png", { $bytes: b64("x") })]),
    expect: (r) => assert.equal(stepResults(r)[0].ok, false),
  },

  // ── ctx.users ───────────────────────────────────────────────────────────
  {
    name: "users: get, getByEmail, list",
    group: "ctx",
    run: (env) =>
      steps(env, [
        typeOf("users"),
        step("users.get", env.ids.users.admin),
        step("users.get", "nobody"),
        step("users.getByEmail", "editor@site.test"),
        step("users.getByEmail", "EDITOR@SITE.TEST"),
        step("users.list"),
        step("users.list", { limit: 1 }),
        step("users.list", { role: 50 }),
      ]),
    expect: (r) => {
      const s = stepResults(r);
      assert.deepEqual(s[0], { ok: true, value: "object" });
      assert.equal(s[1].value.email, "admin@site.test");
    },
  },

  // ── ctx.email ───────────────────────────────────────────────────────────
  {
    name: "email: send through the site's pipeline",
    group: "ctx",
    run: async (env) => {
      const envelope = await steps(env, [
        typeOf("email"),
        step("email.send", { to: "reader@site.test", subject: "Hi", text: "Hello", html: "<p>Hello</p>" }),
        step("email.send", { to: "reader@site.test", text: "no subject" }),
      ]);
      return { envelope, emails: env.emails };
    },
    expect: (r) => {
      assert.equal(r.emails.length, 1);
      assert.equal(r.emails[0].pluginId, "kitchen");
    },
  },
  {
    name: "email: no email pipeline configured",
    group: "ctx",
    env: { withEmail: false },
    run: (env) => steps(env, [step("email.send", { to: "reader@site.test", subject: "Hi", text: "Hello" })]),
    expect: (r) => assert.equal(stepResults(r)[0].ok, false),
  },

  // ── ctx.log, ctx.site, ctx.url, ctx.plugin ──────────────────────────────
  {
    name: "log, site, url and plugin: no capability needed",
    group: "ctx",
    run: async (env) => {
      const bare = await load(env, PLUGINS.bare);
      const s = await env.route(bare, "steps", {
        input: {
          steps: [
            step("log.debug", "debug line"),
            step("log.info", "info line", { a: 1 }),
            step("log.warn", "warn line"),
            step("log.error", "error line", { err: "x" }),
            step("url", "/blog/post"),
            step("url", "relative"),
            step("url", "//evil.example/x"),
            typeOf("users"),
            typeOf("email"),
            typeOf("kv"),
            typeOf("storage"),
            typeOf("content"),
            typeOf("taxonomies"),
            typeOf("media"),
            typeOf("http"),
            typeOf("cron"),
          ],
        },
      });
      const who = await env.route(bare, "whoami", {});
      return { steps: s, who };
    },
    expect: (r) => {
      const s = stepResults(r.steps);
      assert.deepEqual(s[4], { ok: true, value: "https://site.example/blog/post" });
      assert.equal(s[5].ok, false);
      assert.deepEqual(s[7], { ok: true, value: "undefined" });
    },
  },
  {
    name: "site info with a trailing slash and another locale",
    group: "ctx",
    env: { site: { name: "Other", url: "https://other.example/base/", locale: "fr", trailingSlash: "always" } },
    run: async (env) => {
      const p = await load(env, PLUGINS.bare);
      return {
        who: await env.route(p, "whoami", {}),
        url: await env.route(p, "steps", { input: { steps: [step("url", "/x")] } }),
      };
    },
  },

  // ── ctx.http ────────────────────────────────────────────────────────────
  {
    name: "http: host not in allowedHosts",
    group: "ctx",
    run: (env) => steps(env, [step("http.fetch", "https://not-allowed.example/x")]),
    expect: (r) => assert.equal(stepResults(r)[0].ok, false),
  },
  {
    name: "http: fetch a server on 127.0.0.1 (allowedHosts names it)",
    group: "ctx",
    run: (env) =>
      withHttpServer((base) =>
        steps(env, [
          step("http.fetch", `${base}/get?q=1`),
          step("http.fetch", `${base}/post`, { method: "POST", body: "payload", headers: { "x-a": "1" } }),
        ]),
      ),
  },

  // ── capability denials ──────────────────────────────────────────────────
  {
    name: "denials: a plugin without capabilities",
    group: "capabilities",
    run: (env) =>
      steps(
        env,
        [
          step("content.get", "posts", env.ids.content.published),
          step("content.list", "posts"),
          step("content.create", "posts", { title: "x" }),
          step("content.update", "posts", env.ids.content.published, { title: "x" }),
          step("content.delete", "posts", env.ids.content.published),
          step("content.createMany", "posts", [{ title: "x" }]),
          step("content.updateMany", "posts", [{ id: env.ids.content.published, data: { title: "x" } }]),
          step("content.deleteMany", "posts", [env.ids.content.published]),
          step("taxonomies.getAll"),
          step("taxonomies.getTerms", "category"),
          step("taxonomies.getEntryTerms", "posts", env.ids.content.published),
          step("media.get", env.ids.media.photo),
          step("media.list"),
          step("media.upload", "a.png", "image/png", { $bytes: b64("x") }),
          step("media.delete", env.ids.media.photo),
          step("http.fetch", "https://allowed.example/"),
          typeOf("users"),
          typeOf("email"),
          step("storage.anything.get", "x"),
          step("kv.set", "still", "works"),
          step("kv.get", "still"),
        ],
        PLUGINS.bare,
      ),
    expect: (r) => {
      const s = stepResults(r);
      for (let i = 0; i <= 15; i++) assert.equal(s[i].ok, false, `step ${i} should be denied`);
      assert.deepEqual(s[20], { ok: true, value: "works" });
    },
  },
  {
    name: "denials: write does not imply read",
    group: "capabilities",
    run: (env) =>
      steps(
        env,
        [
          step("content.get", "posts", env.ids.content.published),
          step("content.list", "posts"),
          step("content.create", "pages", { title: "writer was here", slug: "writer" }),
          step("media.get", env.ids.media.photo),
          step("media.list"),
        ],
        PLUGINS.writer,
      ),
    expect: (r) => {
      const s = stepResults(r);
      assert.equal(s[0].ok, false);
      assert.equal(s[2].ok, true);
      assert.equal(s[3].ok, false);
    },
  },
  {
    name: "capabilities in their current names",
    group: "capabilities",
    run: (env) =>
      steps(
        env,
        [
          step("content.get", "posts", env.ids.content.published),
          step("content.create", "pages", { title: "modern", slug: "modern" }),
          step("media.list", { limit: 1 }),
          step("taxonomies.getTerms", "tag"),
          typeOf("users"),
          typeOf("email"),
          step("http.fetch", "https://not-allowed.example/"),
        ],
        PLUGINS.modern,
      ),
  },

  {
    name: "manifest: network capability without allowedHosts",
    group: "capabilities",
    run: async (env) => {
      try {
        const p = await load(env, { ...PLUGINS.bare, id: "hostless", capabilities: ["network:fetch"], allowedHosts: [] });
        return { loaded: true, call: await env.route(p, "steps", { input: { steps: [step("http.fetch", "https://allowed.example/")] } }) };
      } catch (e) {
        return { loaded: false, error: e.message };
      }
    },
  },

  // ── hooks ───────────────────────────────────────────────────────────────
  {
    name: "hooks: every hook name, one plugin",
    group: "hooks",
    run: async (env) => {
      const p = await load(env, PLUGINS.hooks);
      const content = { id: env.ids.content.published, slug: "hello-world", status: "published", data: { title: "Hello world" } };
      const events = {
        "plugin:install": {},
        "plugin:activate": {},
        "plugin:deactivate": {},
        "plugin:uninstall": { deleteData: false },
        "content:beforeSave": { content: { title: "Draft", slug: "d" }, collection: "posts", isNew: true },
        "content:afterSave": { content, collection: "posts", isNew: false },
        "content:beforeDelete": { id: env.ids.content.draft, collection: "posts" },
        "content:afterDelete": { id: env.ids.content.draft, collection: "posts", permanent: false },
        "content:afterPublish": { content, collection: "posts" },
        "content:afterUnpublish": { content, collection: "posts" },
        "content:afterRestore": { content, collection: "posts" },
        "content:afterSchedule": { content, collection: "posts" },
        "content:afterUnschedule": { content, collection: "posts" },
        "media:beforeUpload": { file: { name: "a.png", type: "image/png", size: 3 } },
        "media:afterUpload": {
          media: { id: env.ids.media.photo, filename: "photo.jpg", mimeType: "image/jpeg", size: 1234, url: "/m/photo.jpg", createdAt: "2026-01-01T00:00:00.000Z" },
        },
        cron: { name: "nightly", data: { a: 1 }, scheduledAt: "2026-01-01T00:00:00.000Z" },
        "email:beforeSend": { message: { to: "a@site.test", subject: "S", text: "T" }, source: "system" },
        "email:deliver": { message: { to: "a@site.test", subject: "S", text: "T" }, source: "system" },
        "email:afterSend": { message: { to: "a@site.test", subject: "S", text: "T" }, source: "system" },
        "comment:beforeCreate": { comment: { body: "Nice", authorEmail: "c@site.test" }, collection: "posts", contentId: env.ids.content.published },
        "comment:moderate": { comment: { body: "Nice" }, metadata: {} },
        "comment:afterCreate": { comment: { id: "c1", body: "Nice" }, content: { id: env.ids.content.published } },
        "comment:afterModerate": { comment: { id: "c1" }, previousStatus: "pending", newStatus: "approved" },
        "page:metadata": { page: { url: "https://site.example/", path: "/", kind: "page", title: "Home" } },
        "page:fragments": { page: { url: "https://site.example/", path: "/", kind: "page" } },
      };
      const results = {};
      for (const [name, event] of Object.entries(events)) results[name] = await env.hook(p, name, event);
      const recorded = await env.route(p, "recorded", {});
      return { results, recorded };
    },
    expect: (r) => {
      assert.equal(Object.keys(r.results).length, 25);
      for (const [name, res] of Object.entries(r.results)) assert.equal(res.ok, true, `${name}: ${res.error}`);
      assert.equal(r.results["content:beforeDelete"].value, true);
      assert.equal(r.recorded.data.length, 25);
    },
  },
  {
    name: "hooks: a name outside EmDash's 25 hooks",
    group: "hooks",
    run: async (env) => {
      const p = await load(env, PLUGINS.hooks);
      return { unknown: await env.hook(p, "unknown:hook", { x: 1 }) };
    },
  },
  {
    name: "hooks: content:beforeSave chain over plugins (object replaces, non-object keeps, error skipped)",
    group: "hooks",
    run: async (env) => {
      const ps = [];
      for (const e of [PLUGINS.hooksA, PLUGINS.hooksThrows, PLUGINS.hooksKeeps, PLUGINS.hooksB]) ps.push(await load(env, e));
      return runBeforeSave(ps, { title: "Start", slug: "start" }, "posts", true);
    },
    expect: (r) => assert.equal(r.content.title, "Start +hooks-a +hooks-b"),
  },
  {
    name: "hooks: content:beforeDelete veto stops the chain",
    group: "hooks",
    run: async (env) => {
      const ps = [];
      for (const e of [PLUGINS.hooksA, PLUGINS.hooksThrows, PLUGINS.hooksVetoes, PLUGINS.hooksB]) ps.push(await load(env, e));
      const vetoed = await runBeforeDelete(ps, env.ids.content.draft, "posts");
      const allowed = await runBeforeDelete([ps[0], ps[3]], env.ids.content.draft, "posts");
      return { vetoed, allowed };
    },
    expect: (r) => {
      assert.equal(r.vetoed.allowed, false);
      assert.equal(r.vetoed.steps.length, 3);
      assert.equal(r.allowed.allowed, true);
    },
  },
  {
    name: "hooks: after-hooks over several plugins in parallel",
    group: "hooks",
    run: async (env) => {
      const ps = [];
      for (const e of [PLUGINS.hooksA, PLUGINS.hooksB]) ps.push(await load(env, e));
      const content = { id: env.ids.content.published, data: { title: "x" }, slug: "hello-world", status: "published" };
      return {
        afterSave: await runAfterHooks(ps, "content:afterSave", { content, collection: "posts", isNew: false }),
        afterDelete: await runAfterHooks(ps, "content:afterDelete", { id: env.ids.content.draft, collection: "posts", permanent: true }),
        metadata: await runAfterHooks(ps, "page:metadata", { page: { path: "/" } }),
      };
    },
  },
  {
    name: "hooks: a plugin without the hook capabilities",
    group: "hooks",
    run: async (env) => {
      const p = await load(env, PLUGINS.hooksNoCaps);
      return {
        beforeSave: await env.hook(p, "content:beforeSave", { content: { title: "T" }, collection: "posts", isNew: true }),
        afterSave: await env.hook(p, "content:afterSave", { content: { id: "x", data: {} }, collection: "posts", isNew: true }),
        beforeDelete: await env.hook(p, "content:beforeDelete", { id: "x", collection: "posts" }),
        mediaAfterUpload: await env.hook(p, "media:afterUpload", { media: { id: "m" } }),
        emailBeforeSend: await env.hook(p, "email:beforeSend", { message: { to: "a@b.c", subject: "s", text: "t" } }),
        pageFragments: await env.hook(p, "page:fragments", { page: { path: "/" } }),
        cron: await env.hook(p, "cron", { name: "c", scheduledAt: "2026-01-01T00:00:00.000Z" }),
      };
    },
  },
  {
    name: "hooks: errors, handler forms, events echoed",
    group: "hooks",
    run: async (env) => {
      const p = await load(env, PLUGINS.shapes);
      return {
        throwsError: await env.hook(p, "content:afterSave", { content: {}, collection: "posts", isNew: true }),
        throwsString: await env.hook(p, "content:afterPublish", { content: {}, collection: "posts" }),
        notAFunction: await env.hook(p, "plugin:activate", {}),
        echo: await env.hook(p, "cron", { name: "echo", data: { deep: { list: [1, null, "x"] } }, scheduledAt: "2026-01-01T00:00:00.000Z" }),
        undefinedEvent: await env.hook(p, "cron", undefined),
        absent: await env.hook(p, "content:beforeSave", { content: { a: 1 }, collection: "posts", isNew: true }),
      };
    },
  },
  {
    name: "module form: definePlugin from \"emdash\"",
    group: "hooks",
    run: async (env) => {
      const d = await load(env, PLUGINS.defined);
      return {
        route: await env.route(d, "hello", { input: { name: "differential" } }),
        hook: await env.hook(d, "cron", { name: "c1", scheduledAt: "2026-01-01T00:00:00.000Z" }),
      };
    },
    expect: (r) => assert.deepEqual(r.route, { success: true, data: { hello: "differential", id: "defined" } }),
  },
  {
    name: "module form: named exports only (no default export)",
    group: "hooks",
    deadlineMs: 60_000,
    run: async (env) => {
      const n = await load(env, PLUGINS.named);
      return {
        route: await env.route(n, "hello", {}),
        hook: await env.hook(n, "cron", { name: "c2", scheduledAt: "2026-01-01T00:00:00.000Z" }),
      };
    },
  },

  // ── routes ──────────────────────────────────────────────────────────────
  {
    name: "routes: input and request metadata",
    group: "routes",
    run: async (env) => {
      const p = await load(env, PLUGINS.kitchen);
      const headers = {
        "user-agent": "DifferentialAgent/1.0",
        referer: "https://referrer.example/page",
        "x-forwarded-for": "203.0.113.9, 10.0.0.1",
        "x-custom": "kept",
        cookie: "session=secret",
        authorization: "Bearer secret",
        "accept-language": "fr-CH, fr;q=0.9",
      };
      return {
        post: await env.route(p, "echo", { input: { a: 1, list: [true, null, "x"], nested: { deep: "é" } }, headers }),
        getWithQuery: await env.route(p, "echo", {
          method: "GET",
          url: "https://site.example/_emdash/api/plugins/kitchen/echo?limit=5&cursor=abc",
          headers: { "user-agent": "Getter" },
        }),
        putText: await env.route(p, "echo", { method: "PUT", input: "not json {", headers: { "content-type": "text/plain" } }),
        scalarInput: await env.route(p, "echo", { input: 42 }),
        noHeaders: await env.route(p, "echo", { input: null }),
      };
    },
    expect: (r) => {
      assert.equal(r.post.success, true);
      assert.equal(r.post.data.request.headers.cookie, undefined);
      assert.equal(r.post.data.request.headers["x-custom"], "kept");
      assert.equal(r.post.data.requestMeta.userAgent, "DifferentialAgent/1.0");
      assert.equal(r.post.data.sameMeta, true);
    },
  },
  {
    name: "routes: errors and unknown route as EmDash reports them",
    group: "routes",
    run: async (env) => {
      const p = await load(env, PLUGINS.shapes);
      const out = {};
      for (const name of ["throwError", "throwString", "throwCoded", "throwEmpty", "reject", "syncThrow", "notAFunction", "noSuchRoute"]) {
        out[name] = await env.route(p, name, {});
      }
      return out;
    },
    expect: (r) => {
      for (const v of Object.values(r)) assert.equal(v.success, false);
      assert.match(r.throwError.error.message, /route exploded: something specific/);
      assert.match(r.noSuchRoute.error.message, /noSuchRoute/);
    },
  },
  {
    name: "routes: a handler that returns undefined",
    group: "routes",
    run: async (env) => env.route(await load(env, PLUGINS.shapes), "returnsUndefined", {}),
  },
  {
    name: "routes: result shapes and handler forms",
    group: "routes",
    run: async (env) => {
      const p = await load(env, PLUGINS.shapes);
      const out = {};
      for (const name of [
        "returnsNull",
        "returnsString",
        "returnsNumber",
        "returnsBoolean",
        "returnsArray",
        "returnsNested",
        "returnsDate",
        "plainFunction",
        "objectForm",
      ]) {
        out[name] = await env.route(p, name, {});
      }
      const large = await env.route(p, "returnsLarge", { input: { n: 300000 } });
      out.returnsLarge = large.success ? { success: true, length: large.data.s.length } : large;
      const bigInput = { blob: "y".repeat(600 * 1024) };
      const echoed = await env.route(p, "echoInput", { input: bigInput });
      out.largeInput = echoed.success ? { success: true, length: echoed.data.input.blob.length } : echoed;
      return out;
    },
    expect: (r) => {
      assert.deepEqual(r.returnsNested.data.a.b.c[2], { d: "deep" });
      assert.deepEqual(r.returnsLarge, { success: true, length: 300000 });
    },
  },

  // ── lifecycle ───────────────────────────────────────────────────────────
  {
    name: "lifecycle: load returns <id>:<version>, available and healthy after a call",
    group: "lifecycle",
    run: async (env) => {
      const available = env.runner.isAvailable();
      const p = await load(env, PLUGINS.limitsB);
      const call = await env.route(p, "ok", {});
      return { id: p.id, available, call, healthyAfterCall: env.runner.isHealthy() };
    },
    expect: (r) => {
      assert.equal(r.id, "limits-b:1.0.0");
      assert.equal(r.healthyAfterCall, true);
    },
  },
  {
    name: "lifecycle: healthy right after load, before any call",
    group: "lifecycle",
    run: async (env) => {
      await load(env, PLUGINS.limitsB);
      return { healthyBeforeFirstCall: env.runner.isHealthy() };
    },
  },
  {
    name: "lifecycle: loading the same id and version twice",
    group: "lifecycle",
    run: async (env) => {
      const a = await load(env, PLUGINS.kitchen);
      await env.route(a, "steps", { input: { steps: [step("kv.set", "k", "v")] } });
      const b = await load(env, PLUGINS.kitchen);
      return { sameId: a.id === b.id, viaSecond: await env.route(b, "steps", { input: { steps: [step("kv.get", "k")] } }) };
    },
  },
  {
    name: "lifecycle: terminate, invoke the stale handle, reload keeps data",
    group: "lifecycle",
    run: async (env) => {
      const a = await load(env, PLUGINS.kitchen);
      const other = await load(env, PLUGINS.kitchenB);
      await env.route(a, "steps", { input: { steps: [step("kv.set", "kept", { across: "reload" })] } });
      await a.terminate();
      const stale = await env.route(a, "steps", { input: { steps: [step("kv.get", "kept")] } });
      const neighbour = await env.route(other, "whoami", {});
      const again = await load(env, PLUGINS.kitchen);
      const reloaded = await env.route(again, "steps", { input: { steps: [step("kv.get", "kept")] } });
      return { staleFailed: stale.success === false, staleMessage: stale.error?.message ?? null, neighbour, reloaded };
    },
    expect: (r) => {
      assert.equal(r.staleFailed, true);
      assert.equal(r.neighbour.success, true);
      assert.deepEqual(r.reloaded.data[0], { ok: true, value: { across: "reload" } });
    },
  },
  {
    name: "lifecycle: update to a new version with new capabilities",
    group: "lifecycle",
    run: async (env) => {
      const v1 = await load(env, { ...PLUGINS.kitchen, id: "updated", version: "1.0.0", capabilities: [] });
      const before = await env.route(v1, "steps", { input: { steps: [step("content.list", "pages")] } });
      await v1.terminate();
      const v2 = await load(env, { ...PLUGINS.kitchen, id: "updated", version: "2.0.0", capabilities: ["read:content"] });
      const after = await env.route(v2, "steps", { input: { steps: [step("content.list", "pages")] } });
      return { v2id: v2.id, before: before.data?.[0]?.ok ?? null, after: after.data?.[0] ?? after };
    },
  },
  {
    name: "lifecycle: terminateAll, then a call fails",
    group: "lifecycle",
    run: async (env) => {
      const p = await load(env, PLUGINS.limitsB);
      const first = await env.route(p, "ok", {});
      await env.runner.terminateAll();
      const after = await env.route(p, "ok", {}, 15_000);
      return { first, afterFailed: after.success === false };
    },
    expect: (r) => assert.equal(r.afterFailed, true),
  },

  // ── limits ──────────────────────────────────────────────────────────────
  {
    name: "limit: wall time (route and hook)",
    group: "limits",
    env: { limits: { wallTimeMs: 1000 } },
    deadlineMs: 60_000,
    run: async (env) => {
      const p = await load(env, PLUGINS.limitsB);
      const route = await env.route(p, "sleep", { input: { ms: 5000 } });
      const hook = await env.hook(p, "cron", { name: "slow", data: { sleepMs: 5000 }, scheduledAt: "2026-01-01T00:00:00.000Z" });
      const fast = await env.route(p, "sleep", { input: { ms: 10 } });
      return { route, hook, fast };
    },
    expect: (r) => {
      assert.equal(r.route.error.message, "Plugin limits-b exceeded wall-time limit of 1000ms during route:sleep");
      assert.equal(r.hook.error, "Plugin limits-b exceeded wall-time limit of 1000ms during hook:cron");
    },
  },
  {
    name: "limit: CPU time",
    group: "limits",
    env: { limits: { cpuMs: 50 } },
    run: async (env) => {
      const p = await load(env, PLUGINS.limitsB);
      const heavy = await env.route(p, "cpu", { input: { ms: 1500 } });
      const after = await env.route(p, "ok", {});
      return { heavy, after };
    },
  },
  {
    name: "limit: memory",
    group: "limits",
    // CPU raised so that the allocation meets the memory limit first.
    env: { limits: { memoryMb: 64, cpuMs: 10_000 } },
    run: async (env) => {
      const p = await load(env, PLUGINS.limitsB);
      const big = await env.route(p, "alloc", { input: { mb: 256, kind: "heap" } });
      const after = await env.route(p, "ok", {});
      // ArrayBuffer memory is outside V8's heap limit; the resident-memory watchdog bounds it at
      // the limit plus rss-headroom-mb (320) above the process's size at start
      // (docs/security.md), so 512 MiB must be stopped.
      const buffers = await env.route(p, "alloc", { input: { mb: 512, kind: "buffer" } });
      const afterBuffers = await env.route(p, "ok", {});
      return { big, after, buffers, afterBuffers };
    },
  },
  {
    name: "limit: subrequests",
    group: "limits",
    env: { limits: { subrequests: 3 } },
    run: (env) =>
      withHttpServer(async (base) => {
        const p = await load(env, PLUGINS.limits);
        return env.route(p, "fetchMany", { input: { url: `${base}/n`, n: 5 } });
      }),
  },
  {
    name: "limit: a spinning plugin and its neighbour",
    group: "limits",
    env: { limits: { wallTimeMs: 1000 } },
    deadlineMs: 90_000,
    run: async (env) => {
      const spinner = await load(env, PLUGINS.limitsB);
      const neighbour = await load(env, PLUGINS.shapes);
      const warm = await env.route(neighbour, "returnsString", {});
      const spin = await env.route(spinner, "spin", {});
      const neighbourAfter = await env.route(neighbour, "returnsString", {});
      return { warm, spin, neighbourAfter };
    },
    expect: (r) => assert.equal(r.spin.error.message, "Plugin limits-b exceeded wall-time limit of 1000ms during route:spin"),
  },

  // ── crash ───────────────────────────────────────────────────────────────
  {
    name: "crash: the runtime process is killed, calls recover and data stays",
    group: "crash",
    deadlineMs: 90_000,
    run: async (env) => {
      const p = await load(env, PLUGINS.kitchen);
      const before = await env.route(p, "steps", { input: { steps: [step("kv.set", "survives", 1)] } });
      const killed = descendants().filter((d) => d.comm.startsWith("workerd"));
      for (const d of killed) {
        try {
          process.kill(d.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      const recovered = await pollUntil(
        async () => {
          const r = await env.route(p, "steps", { input: { steps: [step("kv.get", "survives")] } }, 10_000);
          return r.success ? r : undefined;
        },
        { deadlineMs: 30_000, intervalMs: 200, maxTries: 150 },
      );
      return { before, killedSome: killed.length > 0, recovered: recovered ?? "not within 30 s" };
    },
    expect: (r) => {
      assert.equal(r.killedSome, true);
      assert.deepEqual(r.recovered.data[0], { ok: true, value: 1 });
    },
  },

  // ── EmDash's published plugins ──────────────────────────────────────────
  {
    name: "published: @emdash-cms/plugin-audit-log 0.2.0",
    group: "published",
    run: async (env) => {
      const { auditLog } = publishedPlugins();
      const p = await env.load(auditLog, pluginCode(auditLog));
      const out = { install: await env.hook(p, "plugin:install", {}), activate: await env.hook(p, "plugin:activate", {}) };
      const postId = env.ids.content.published;
      // A create, an update and a delete, hook by hook as the runtime runs them.
      const created = { title: "Audited", slug: "audited", status: "draft" };
      out.beforeSaveNew = await env.hook(p, "content:beforeSave", { content: created, collection: "posts", isNew: true });
      out.afterSaveNew = await env.hook(p, "content:afterSave", {
        content: { id: "01JAAAAAAAAAAAAAAAAAAAAAAA", slug: "audited", status: "draft", data: { title: "Audited" } },
        collection: "posts",
        isNew: true,
      });
      out.beforeSaveUpdate = await env.hook(p, "content:beforeSave", {
        content: { id: postId, title: "Hello again" },
        collection: "posts",
        isNew: false,
      });
      out.afterSaveUpdate = await env.hook(p, "content:afterSave", {
        content: { id: postId, slug: "hello-world", status: "published", data: { title: "Hello again" } },
        collection: "posts",
        isNew: false,
      });
      out.beforeDelete = await env.hook(p, "content:beforeDelete", { id: postId, collection: "posts" });
      out.afterDelete = await env.hook(p, "content:afterDelete", { id: postId, collection: "posts", permanent: false });
      out.mediaAfterUpload = await env.hook(p, "media:afterUpload", {
        media: { id: env.ids.media.photo, filename: "photo.jpg", mimeType: "image/jpeg", size: 1234, url: "/m", createdAt: "2026-01-01T00:00:00.000Z" },
      });
      out.recent = await env.route(p, "recent", { method: "GET" });
      out.history = await env.route(p, "history", {
        method: "GET",
        url: "https://site.example/_emdash/api/plugins/audit-log/history?limit=2",
      });
      out.adminHistory = await env.route(p, "admin", { input: { type: "page_load", page: "/history" } });
      out.adminWidget = await env.route(p, "admin", { input: { type: "page_load", page: "widget:recent-activity" } });
      out.adminUnknown = await env.route(p, "admin", { input: { type: "block_action", action_id: "other" } });
      return out;
    },
    expect: (r) => {
      assert.equal(r.recent.success, true);
      assert.ok(r.recent.data.entries.length >= 2);
      assert.equal(r.adminHistory.data.blocks[0].text, "Audit History");
    },
  },
  {
    name: "published: @emdash-cms/plugin-webhook-notifier 0.1.3 (settings, status, admin)",
    group: "published",
    run: async (env) => {
      const { webhookNotifier } = publishedPlugins();
      const p = await env.load(webhookNotifier, pluginCode(webhookNotifier));
      const out = {};
      out.settingsDefault = await env.route(p, "settings", { method: "GET" });
      out.statusDefault = await env.route(p, "status", { method: "GET" });
      out.widget = await env.route(p, "admin", { input: { type: "page_load", page: "widget:webhook-status" } });
      out.save = await env.route(p, "settings/save", {
        input: { webhookUrl: "https://hooks.example.invalid/emdash", enabled: true, includeData: true, events: "content" },
      });
      out.settingsSaved = await env.route(p, "settings", { method: "GET" });
      out.formSubmit = await env.route(p, "admin", {
        input: { type: "form_submit", action_id: "save_settings", values: { secretToken: "s3cret", enabled: false } },
      });
      out.settingsPage = await env.route(p, "admin", { input: { type: "page_load", page: "/settings" } });
      out.statusConfigured = await env.route(p, "status", { method: "GET" });
      out.testNoUrl = await env.route(p, "test", { input: {} });
      out.testInternal = await env.route(p, "test", { input: { url: "http://localhost/hook" } });
      out.testPrivate = await env.route(p, "test", { input: { url: "http://10.1.2.3/hook" } });
      // Disabled: the afterSave hook returns before any fetch.
      out.afterSaveDisabled = await env.hook(p, "content:afterSave", {
        content: { id: env.ids.content.published, slug: "hello-world", status: "published", data: {} },
        collection: "posts",
        isNew: false,
      });
      out.unknownRoute = await env.route(p, "nope", {});
      return out;
    },
    expect: (r) => {
      assert.equal(r.settingsDefault.data.webhookUrl, "");
      assert.equal(r.settingsSaved.data.webhookUrl, "https://hooks.example.invalid/emdash");
      assert.equal(r.testInternal.success, false);
    },
  },
  {
    name: "published: webhook-notifier delivers to a public URL",
    group: "published",
    deadlineMs: 90_000,
    run: async (env) => {
      const { webhookNotifier } = publishedPlugins();
      const p = await env.load(webhookNotifier, pluginCode(webhookNotifier));
      const test = await env.route(p, "test", { input: { url: "https://hooks.example.invalid/emdash" } });
      return { test };
    },
  },
];

// ---------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------

const LEGACY_TO_CURRENT = {
  "network:fetch": "network:request",
  "network:fetch:any": "network:request:unrestricted",
  "read:content": "content:read",
  "write:content": "content:write",
  "read:media": "media:read",
  "write:media": "media:write",
  "read:users": "users:read",
  "email:provide": "hooks.email-transport:register",
  "email:intercept": "hooks.email-events:register",
  "page:inject": "hooks.page-fragments:register",
};

/**
 * Differences applied to every string before comparing, each one decided in
 * the spec (README "Decisions") and listed in docs/compatibility.md. They only
 * remove the form of a message, never what it says.
 */
export const normalizations = [
  {
    name: "content-item-shape",
    reason:
      "content items: ours has EmDash main's shape (bridge.md §3.3: `locale` at the top level, `translation_group` not in `data`); EmDash 0.3.2 put both inside `data` (contentItemShape() moves them)",
    apply: (s) => s,
  },
  {
    name: "bridge-error-envelope",
    reason:
      "a bridge failure reaches the plugin as an Error with the bridge's message (decision 2); EmDash's workerd wrapper wrapped it as `Bridge call <method> failed: {json}`",
    apply: (s) => {
      const m = /^Bridge call (\S+) failed: (.*)$/s.exec(s);
      if (!m) return s;
      try {
        const body = JSON.parse(m[2]);
        if (typeof body.error === "string") return body.error;
        if (body.error && typeof body.error.message === "string") return body.error.message;
      } catch {
        // not JSON: keep the text after the prefix
      }
      return m[2];
    },
  },
  {
    name: "capability-names",
    reason:
      "denials name the current capability (decision 1): `Missing capability: content:read` where EmDash's workerd bridge said `read:content`",
    apply: (s) =>
      s.replace(/Missing capability: ([a-z:.-]+)/g, (all, cap) => `Missing capability: ${LEGACY_TO_CURRENT[cap] ?? cap}`),
  },
  {
    name: "invocation-error-prefix",
    reason:
      "EmDash's Node runner prefixes the plugin's error text with `Plugin <id>:<version> route|hook <name> failed: `; what follows (the plugin's own message) is compared",
    apply: (s) => s.replace(/^Plugin \S+ (route|hook) \S+ failed: /, ""),
  },
];

/**
 * EmDash 0.3.2's bridge puts `locale` and `translation_group` inside a content
 * item's `data`; EmDash main (bridge.md §3.3), which ours follows, has them as
 * system columns: `locale` at the top level, `translation_group` nowhere.
 * Applied to objects shaped like content items.
 */
function contentItemShape(v) {
  if (!v || typeof v !== "object" || Array.isArray(v)) return v;
  if (typeof v.id !== "string" || typeof v.type !== "string" || !v.data || typeof v.data !== "object") return v;
  if (!("createdAt" in v) || !("updatedAt" in v)) return v;
  if (!("locale" in v.data) && !("translation_group" in v.data)) return v;
  const { locale, translation_group: _tg, ...data } = v.data;
  return { ...v, data, locale: v.locale ?? locale ?? "en" };
}

const ULID_RE = /\b[0-9A-HJKMNP-TV-Z]{26}\b/g;
const ISO_RE = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})\b/g;
const DATETIME_RE = /\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\b/g;
const EPOCH_MS_RE = /\b1[6-9]\d{11}\b/g;
const BASE64_RE = /^[A-Za-z0-9+/_-]{16,}={0,2}$/;

function flattenIds(ids, prefix = "", out = new Map()) {
  for (const [k, v] of Object.entries(ids ?? {})) {
    if (typeof v === "string") out.set(v, `<id:${prefix}${k}>`);
    else flattenIds(v, `${prefix}${k}.`, out);
  }
  return out;
}

/**
 * Replaces what legitimately differs between two runs (fresh ULIDs, clock
 * values, opaque cursors) with stable placeholders, and applies
 * `normalizations` to every string. Seeded ids become `<id:content.published>`
 * and the like; other ULIDs `<ulid:N>` numbered by first appearance, so two
 * results that use the same new id in the same places still compare equal.
 */
export function normalize(value, { ids } = {}) {
  const names = flattenIds(ids);
  let counter = 0;
  const ulid = (u) => {
    if (!names.has(u)) names.set(u, `<ulid:${++counter}>`);
    return names.get(u);
  };
  const str = (s) => {
    for (const n of normalizations) s = n.apply(s);
    if (BASE64_RE.test(s) && !/^[0-9A-HJKMNP-TV-Z]{26}$/.test(s)) {
      try {
        const decoded = JSON.parse(Buffer.from(s, "base64").toString("utf8"));
        if (decoded && typeof decoded === "object") return { $cursor: walk(decoded) };
      } catch {
        // not a cursor
      }
    }
    return s.replace(ISO_RE, "<iso>").replace(DATETIME_RE, "<datetime>").replace(ULID_RE, ulid).replace(EPOCH_MS_RE, "<epoch-ms>");
  };
  const walk = (v) => {
    if (typeof v === "string") return str(v);
    if (typeof v === "number" && Number.isInteger(v) && v > 1.6e12 && v < 2e12) return "<epoch-ms>";
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === "object") {
      v = contentItemShape(v);
      const out = {};
      for (const [k, x] of Object.entries(v)) {
        // `code` on a plugin-visible error: ours adds it (decision 2), EmDash has none.
        if (k === "code" && v.ok === false) continue;
        const key = str(k);
        out[typeof key === "string" ? key : k] = walk(x);
      }
      return out;
    }
    return v;
  };
  return walk(value);
}

// ---------------------------------------------------------------------------
// Intended differences (docs/compatibility.md). `check(theirs, ours)` gets the
// normalised results; `ours` is null when our runner did not run.
// ---------------------------------------------------------------------------

const stepAt = (envelope, i) => envelope?.data?.[i];

// `r` without its `key`: the rest of a result that differs in one place on purpose.
const omit = (r, key) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== key));

export const expectedDifferences = {
  "capabilities in their current names": {
    reason:
      "EmDash's workerd bridge checks legacy capability literals, so a manifest in the current names is denied there; ours normalizes and grants it (decision 1)",
    check(theirs, ours) {
      assert.match(stepAt(theirs, 0).error, /Missing capability: content:read/);
      assert.deepEqual(stepAt(theirs, 4), { ok: true, value: "undefined" }, "EmDash's wrapper looks for raw read:users");
      if (ours) {
        assert.equal(stepAt(ours, 0).ok, true);
        assert.equal(stepAt(ours, 1).ok, true);
        assert.equal(stepAt(ours, 2).ok, true);
        assert.deepEqual(stepAt(ours, 4), { ok: true, value: "object" });
      }
    },
  },
  "storage: a uniqueIndexes entry of the manifest": {
    reason:
      "ours creates the manifest's storage indexes at load, so a uniqueIndexes violation fails with the constraint error (bridge.md §5.6); EmDash creates them only when its plugin manager installs a plugin, never for sandboxed plugins loaded through the runner",
    check(theirs, ours) {
      assert.deepEqual(stepAt(theirs, 1), { ok: true, value: { $undefined: true } });
      assert.deepEqual(stepAt(theirs, 2), { ok: true, value: 2 });
      if (ours) {
        assert.equal(stepAt(ours, 1).ok, false);
        assert.match(stepAt(ours, 1).error, /UNIQUE constraint failed/);
        assert.deepEqual(stepAt(ours, 2), { ok: true, value: 1 });
      }
    },
  },
  "content: create, update, delete": {
    reason:
      "updating a missing entry fails with EmDash main's `Content not found` (bridge.md §6.2); EmDash 0.3.2 said `Content not found or deleted: <collection>/<id>`",
    check(theirs, ours) {
      assert.match(stepAt(theirs.envelope, 7).error, /^Content not found or deleted: posts\//);
      if (ours) {
        assert.equal(stepAt(ours.envelope, 7).error, "Content not found");
        const strip = (r) => ({ ...r, envelope: { ...r.envelope, data: r.envelope.data.filter((_, i) => i !== 7) } });
        assert.deepEqual(strip(ours), strip(theirs));
      }
    },
  },
  "hooks: errors, handler forms, events echoed": {
    reason:
      "a thrown string reaches the site as that string; EmDash's runner says only `Hook error` (everything else reads the same on both)",
    check(theirs, ours) {
      assert.equal(theirs.throwsString.error, "Hook error");
      if (!ours) return;
      assert.equal(ours.throwsString.error, "a string, not an Error");
      assert.deepEqual(omit(ours, "throwsString"), omit(theirs, "throwsString"));
    },
  },
  "routes: errors and unknown route as EmDash reports them": {
    reason:
      "a thrown string reaches the site as that string; EmDash's runner says only `Route error` (every other error reads the same on both)",
    check(theirs, ours) {
      assert.match(theirs.throwString.error.message, /Route error/);
      if (!ours) return;
      assert.match(ours.throwString.error.message, /a bare string/);
      assert.deepEqual(omit(ours, "throwString"), omit(theirs, "throwString"));
    },
  },
  "routes: a handler that returns undefined": {
    reason:
      "EmDash bug: its wrapper answers `Response.json(undefined)`, whose body is not JSON, so the route fails with a parse error; ours returns null (what EmDash's API envelope serialises undefined data to)",
    check(theirs, ours) {
      assert.equal(theirs.success, false);
      assert.match(theirs.error.message, /JSON/);
      if (ours) assert.deepEqual(ours, { success: true, data: null });
    },
  },
  "published: @emdash-cms/plugin-audit-log 0.2.0": {
    reason:
      "audit-log declares `content:read`; EmDash's workerd bridge checks `read:content`, so its ctx.content.get is denied there and updates/deletes are logged without the `before` snapshot; ours grants it (decision 1). Its history cursor (custom orderBy) has our custom-order format (compatibility.md, Storage)",
    check(theirs, ours) {
      const entries = (r) => [...r.recent.data.entries, ...r.history.data.entries];
      assert.ok(entries(theirs).every((e) => !e.changes || e.changes.before === undefined), "EmDash: no before snapshots");
      if (ours) {
        assert.ok(
          entries(ours).some((e) => e.action === "delete" && e.changes?.before?.data?.title === "Hello world"),
          "ours: the delete entry has the before snapshot",
        );
        const strip = (r) => {
          const c = structuredClone(r);
          for (const e of entries(c)) {
            if (e.changes) delete e.changes.before;
            if (e.changes && Object.keys(e.changes).length === 0) delete e.changes;
          }
          if (c.history.data.cursor !== undefined) c.history.data.cursor = "<custom-order cursor>";
          return c;
        };
        assert.deepStrictEqual(strip(ours), strip(theirs));
      }
    },
  },
  "module form: named exports only (no default export)": {
    reason:
      "EmDash's wrapper imports the module's default export, so a module with only named `hooks`/`routes` exports fails to link and takes the shared workerd (every plugin) down; ours accepts both forms (runner.md §1)",
    check(theirs, ours) {
      assert.equal(theirs.route.success, false);
      assert.equal(theirs.hook.ok, false);
      if (ours) {
        assert.deepEqual(ours.route, { success: true, data: "named exports" });
        assert.deepEqual(ours.hook, { ok: true, value: { named: "c2" } });
      }
    },
  },
  "manifest: network capability without allowedHosts": {
    reason:
      "ours validates the manifest at load (network:request needs at least one allowed host, runner.md §1) and refuses it, naming the field; EmDash's runner loads it and the bridge refuses every fetch",
    check(theirs, ours) {
      assert.equal(theirs.loaded, true);
      assert.match(theirs.call.data[0].error, /not allowed|allowedHosts|Host/i);
      if (ours) {
        assert.equal(ours.loaded, false);
        assert.match(ours.error, /allowedHosts/);
      }
    },
  },
  "http: fetch a server on 127.0.0.1 (allowedHosts names it)": {
    reason:
      "SSRF blocking applies in both network modes (decision 4): ours refuses 127.0.0.1 even when allowedHosts names it; EmDash's restricted mode fetched it",
    check(theirs, ours) {
      assert.equal(stepAt(theirs, 0).ok, true);
      assert.equal(stepAt(theirs, 0).value.$response.status, 200);
      if (ours) {
        assert.equal(stepAt(ours, 0).ok, false);
        assert.match(stepAt(ours, 0).error, /blocked|private|loopback|not available/i);
      }
    },
  },
  "lifecycle: healthy right after load, before any call": {
    reason:
      "EmDash's runner starts workerd lazily (50 ms debounce, then on the first call), so isHealthy() is false until then; ours starts the plugin in load()",
    check(theirs, ours) {
      assert.deepEqual(theirs, { healthyBeforeFirstCall: false });
      if (ours) assert.deepEqual(ours, { healthyBeforeFirstCall: true });
    },
  },
  "lifecycle: terminate, invoke the stale handle, reload keeps data": {
    reason:
      "a stale handle fails with `Plugin sandbox unavailable for <id>: the handle is stale (…)`; EmDash's fails with whatever its fetch to the freed port says",
    check(theirs, ours) {
      for (const r of ours ? [theirs, ours] : [theirs]) {
        assert.equal(r.staleFailed, true);
        assert.equal(r.neighbour.success, true);
        assert.deepEqual(r.reloaded.data[0], { ok: true, value: { across: "reload" } });
      }
      if (ours) {
        assert.match(ours.staleMessage, /Plugin sandbox unavailable for kitchen/);
        const { staleMessage: _a, ...t } = theirs;
        const { staleMessage: _b, ...o } = ours;
        assert.deepEqual(o, t);
      }
    },
  },
  "lifecycle: update to a new version with new capabilities": {
    reason:
      "bridge state is keyed by plugin id and version (decision 6); EmDash cached its bridge handler by id only, so version 2 still ran with version 1's capabilities",
    check(theirs, ours) {
      assert.equal(theirs.before, false);
      assert.equal(theirs.after.ok, false, "EmDash bug: v2 keeps v1's (empty) capabilities");
      if (ours) {
        assert.equal(ours.before, false);
        assert.equal(ours.after.ok, true);
      }
    },
  },
  "limit: CPU time": {
    reason: "ours enforces the CPU limit (kills the plugin's process: cpu_limit_exceeded) and restarts it; EmDash's Node runner does not enforce CPU",
    check(theirs, ours) {
      assert.deepEqual(theirs.heavy, { success: true, data: { done: true } });
      assert.equal(theirs.after.success, true);
      if (ours) {
        assert.equal(ours.heavy.success, false);
        assert.match(ours.heavy.error.message, /cpu/i);
        assert.deepEqual(ours.after, theirs.after);
      }
    },
  },
  "limit: memory": {
    reason: "ours enforces the memory limit (memory_limit_exceeded, the plugin restarts); EmDash's Node runner does not enforce memory",
    check(theirs, ours) {
      assert.equal(theirs.big.success, true);
      assert.equal(theirs.after.success, true);
      assert.equal(theirs.buffers.success, true);
      if (ours) {
        assert.equal(ours.big.success, false, "256 MiB of JS heap under a 64 MiB limit");
        assert.match(ours.big.error.message, /memory/i);
        assert.deepEqual(ours.after, theirs.after);
        assert.equal(ours.buffers.success, false, "512 MiB of ArrayBuffers under a 64 MiB limit");
        assert.match(ours.buffers.error.message, /memory/i);
        assert.deepEqual(ours.afterBuffers, theirs.afterBuffers);
      }
    },
  },
  "limit: subrequests": {
    reason:
      "ours counts every ctx.http.fetch against the subrequest limit (subrequest_limit_exceeded) and blocks 127.0.0.1 (SSRF); EmDash's Node runner enforces neither",
    check(theirs, ours) {
      assert.equal(theirs.success, true);
      assert.equal(theirs.data.length, 5);
      assert.ok(theirs.data.every((d) => d.ok && d.status === 200));
      if (ours) {
        assert.equal(ours.success, true);
        assert.equal(ours.data.length, 5);
        assert.ok(ours.data.slice(3).every((d) => !d.ok && /subrequest/i.test(d.error)));
      }
    },
  },
  "limit: a spinning plugin and its neighbour": {
    reason:
      "one process per plugin: a spinning plugin is stopped and its neighbour keeps answering; in EmDash's one shared workerd the spinning isolate keeps running and the neighbour's call fails",
    check(theirs, ours) {
      assert.equal(theirs.neighbourAfter.success, false);
      if (ours) {
        assert.equal(ours.spin.success, false);
        assert.deepEqual(ours.neighbourAfter, { success: true, data: "plain string" });
      }
    },
  },
  "published: webhook-notifier delivers to a public URL": {
    reason:
      "webhook-notifier declares network:request:unrestricted (current name): EmDash's workerd bridge checks network:fetch and denies it; ours grants it and the fetch then fails on DNS (no such host)",
    check(theirs, ours) {
      assert.equal(theirs.test.success, true);
      assert.equal(theirs.test.data.success, false);
      assert.match(theirs.test.data.error, /Missing capability: network:request/);
      if (ours) {
        assert.equal(ours.test.data.success, false);
        assert.doesNotMatch(ours.test.data.error, /Missing capability/);
      }
    },
  },
};

/**
 * The paths where two normalised results differ, one line each:
 * `data[3].error: "a" != "b"`. For failure messages.
 */
export function diffPaths(a, b, path = "", out = []) {
  if (out.length >= 40) return out;
  const isObj = (v) => v !== null && typeof v === "object";
  if (isObj(a) && isObj(b) && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const p = Array.isArray(a) ? `${path}[${k}]` : path ? `${path}.${k}` : k;
      if (!(k in a)) out.push(`${p}: (absent) != ${JSON.stringify(b[k])}`);
      else if (!(k in b)) out.push(`${p}: ${JSON.stringify(a[k])} != (absent)`);
      else diffPaths(a[k], b[k], p, out);
    }
    return out;
  }
  if (!Object.is(a, b)) out.push(`${path || "(root)"}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);
  return out;
}

/** For reports: every intended difference and every normalisation, one line each. */
export function differenceList() {
  return [
    ...normalizations.map((n) => `normalised (${n.name}): ${n.reason}`),
    ...Object.entries(expectedDifferences).map(([name, d]) => `${name}: ${d.reason}`),
  ];
}

export { delay };
