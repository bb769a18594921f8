// Differential harness: one EmDash site database, one sandbox runner, called
// exactly the way EmDash's runtime calls a `SandboxRunner`.
//
//  - The site database is made by EmDash's own code (emdash/db/sqlite's
//    dialect, `runMigrations`, SchemaRegistry, repositories, seed applier,
//    content handlers), once per process, into a template file; every
//    scenario run gets its own copy, so both runners start from byte-equal
//    data with the same ids.
//  - A runner is constructed by name: "theirs" = `@emdash-cms/sandbox-workerd`
//    (EmDash's Node runner), "ours" = `@plugin-sandbox/emdash` (../../src).
//  - Plugins are loaded with the manifest EmDash's `loadSandboxedPlugins`
//    builds (hooks: [], routes: [], admin: {}), routes are wrapped as
//    `handleSandboxedRoute` wraps them, requests carry EmDash's sanitised
//    headers and request metadata (EmDash's own functions), hooks are invoked
//    one plugin at a time.
//
// Also used by bench/emdash/run.mjs. Importing this module starts nothing.

import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { createRequire, register } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

// EmDash's main entry imports "astro/zod"; see the hook file.
register("../support/astro-zod-hook.mjs", import.meta.url);

const HERE = dirname(fileURLToPath(import.meta.url));
/** packages/emdash-runner: the resolution root for every package we use. */
export const PKG_DIR = resolve(HERE, "../..");
export const REPO_DIR = resolve(PKG_DIR, "../..");
export const PLUGIN_DIR = join(HERE, "plugins");

const pkgRequire = createRequire(join(PKG_DIR, "package.json"));

/** Imports a package the way packages/emdash-runner would (its node_modules). */
export function importPkg(specifier) {
  return import(pathToFileURL(pkgRequire.resolve(specifier)).href);
}

/** Absolute path of a file inside an installed package. */
export function pkgFile(pkgName, rel) {
  // Not through `exports` (many packages do not export package.json).
  for (const base of pkgRequire.resolve.paths(pkgName) ?? []) {
    const dir = join(base, pkgName);
    if (existsSync(join(dir, "package.json"))) return join(dir, rel);
  }
  throw new Error(`package ${pkgName} is not installed under ${PKG_DIR}`);
}

// ---------------------------------------------------------------------------
// Deadlines
// ---------------------------------------------------------------------------

export class DeadlineError extends Error {}

/** Resolves like `promise`, or rejects with DeadlineError after `ms`. */
export function withDeadline(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

export const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `attempt()` until it returns a value other than undefined, or the
 * deadline passes (then returns undefined). At most `maxTries` attempts.
 */
export async function pollUntil(attempt, { deadlineMs, intervalMs = 100, maxTries = 1000 }) {
  const end = Date.now() + deadlineMs;
  for (let i = 0; i < maxTries && Date.now() < end; i++) {
    const v = await attempt();
    if (v !== undefined) return v;
    await delay(intervalMs);
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// The site database (EmDash's own code makes it)
// ---------------------------------------------------------------------------

export async function openDb(file) {
  const { Kysely } = await importPkg("kysely");
  const { createDialect } = await importPkg("emdash/db/sqlite");
  // What an EmDash site does: better-sqlite3 through emdash/db/sqlite, no pragmas.
  return new Kysely({ dialect: createDialect({ url: `file:${file}` }) });
}

function unwrap(what, result) {
  if (result && result.success) return result.data;
  throw new Error(`${what}: ${JSON.stringify(result?.error ?? result)}`);
}

async function populate(db) {
  const emdash = await importPkg("emdash");
  const { SchemaRegistry, MediaRepository, UserRepository, applySeed, handleContentCreate, handleContentPublish } =
    emdash;

  const registry = new SchemaRegistry(db);
  await registry.createCollection({ slug: "posts", label: "Posts", labelSingular: "Post", supports: ["drafts"] });
  await registry.createField("posts", { slug: "title", label: "Title", type: "string", required: true });
  await registry.createField("posts", { slug: "body", label: "Body", type: "text" });
  await registry.createField("posts", { slug: "rating", label: "Rating", type: "integer" });
  await registry.createCollection({ slug: "pages", label: "Pages", labelSingular: "Page", supports: [] });
  await registry.createField("pages", { slug: "title", label: "Title", type: "string" });

  const users = new UserRepository(db);
  const admin = await users.create({ email: "admin@site.test", name: "Site Admin", role: 50 });
  const editor = await users.create({ email: "editor@site.test", name: "Site Editor", role: 40 });

  const media = new MediaRepository(db);
  const photo = await media.create({
    filename: "photo.jpg",
    mimeType: "image/jpeg",
    size: 1234,
    width: 64,
    height: 48,
    alt: "A photo",
    storageKey: "seed/photo.jpg",
    status: "ready",
    authorId: admin.id,
  });
  const doc = await media.create({
    filename: "doc.pdf",
    mimeType: "application/pdf",
    size: 2048,
    storageKey: "seed/doc.pdf",
    status: "ready",
    authorId: editor.id,
  });

  await applySeed(
    db,
    {
      version: "1",
      taxonomies: [
        {
          name: "category",
          label: "Categories",
          labelSingular: "Category",
          hierarchical: true,
          collections: ["posts"],
          terms: [
            { slug: "news", label: "News" },
            { slug: "notes", label: "Notes" },
          ],
        },
        {
          name: "tag",
          label: "Tags",
          labelSingular: "Tag",
          hierarchical: false,
          collections: ["posts"],
          terms: [{ slug: "seed", label: "Seed" }],
        },
      ],
    },
    { includeContent: true, onConflict: "skip" },
  );

  const created = unwrap(
    "create post",
    await handleContentCreate(db, "posts", {
      data: { title: "Hello world", body: "First post.", rating: 5 },
      slug: "hello-world",
      authorId: admin.id,
      taxonomies: { category: ["news"], tag: ["seed"] },
    }),
  ).item;
  const published = unwrap("publish post", await handleContentPublish(db, "posts", created.id)).item;
  const draft = unwrap(
    "create draft",
    await handleContentCreate(db, "posts", {
      data: { title: "Draft post", body: "Not yet.", rating: 2 },
      slug: "draft-post",
      status: "draft",
      authorId: editor.id,
    }),
  ).item;
  const page = unwrap(
    "create page",
    await handleContentCreate(db, "pages", { data: { title: "About" }, slug: "about" }),
  ).item;

  return {
    users: { admin: admin.id, editor: editor.id },
    media: { photo: photo.id, doc: doc.id },
    content: { published: published.id, draft: draft.id, page: page.id },
  };
}

let templatePromise = null;

/**
 * The template site (made once per process): {dir, file, ids}. Each run copies
 * the file, so every run of every scenario starts from the same bytes.
 */
export function templateSite() {
  templatePromise ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "emdash-diff-template-"));
    const file = join(dir, "site.db");
    const db = await openDb(file);
    try {
      const { runMigrations } = await importPkg("emdash/db");
      await runMigrations(db);
      const ids = await populate(db);
      return { dir, file, ids };
    } finally {
      await db.destroy();
    }
  })();
  return templatePromise;
}

export async function removeTemplateSite() {
  if (!templatePromise) return;
  const t = await templatePromise.catch(() => null);
  templatePromise = null;
  if (t) rmSync(t.dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------
// Runners
// ---------------------------------------------------------------------------

export const RUNNERS = ["theirs", "ours"];

export const OURS_ENTRY = join(PKG_DIR, "src", "index.js");

export function oursBinary() {
  return process.env.PLUGIN_SANDBOX_BIN || join(REPO_DIR, "build", "src", "plugin-sandbox");
}

/** {available, reason}: whether a runner can be constructed on this machine. */
export function runnerStatus(kind) {
  if (kind === "theirs") {
    try {
      pkgRequire.resolve("@emdash-cms/sandbox-workerd");
      const bin = pkgFile("workerd", "bin/workerd");
      // EmDash's runner spawns node_modules/workerd/bin/workerd and stops it
      // with SIGTERM. Until the workerd package's postinstall has run, that
      // file is a Node launcher that starts the real binary as its own child:
      // SIGTERM then stops the launcher only, the real workerd keeps its
      // ports, and every later start fails with "Address already in use".
      if (readFileSync(bin).subarray(0, 2).toString() === "#!") {
        return {
          available: false,
          reason: `${bin} is the workerd package's Node launcher (its postinstall did not run): EmDash's runner would leak workerd processes; run \`npm rebuild workerd\` in packages/emdash-runner`,
        };
      }
      execFileSync(bin, ["--version"], { stdio: "ignore", timeout: 10_000 });
      return { available: true, reason: "" };
    } catch (e) {
      return { available: false, reason: `@emdash-cms/sandbox-workerd or workerd not usable: ${e.message}` };
    }
  }
  if (kind === "ours") {
    if (!existsSync(OURS_ENTRY)) {
      return { available: false, reason: `our runner is not written yet (${OURS_ENTRY} does not exist)` };
    }
    const bin = oursBinary();
    if (!existsSync(bin)) {
      return { available: false, reason: `the plugin-sandbox binary is not built (${bin} does not exist)` };
    }
    return { available: true, reason: "" };
  }
  return { available: false, reason: `unknown runner ${kind}` };
}

async function runnerFactory(kind) {
  if (kind === "theirs") return (await importPkg("@emdash-cms/sandbox-workerd")).createSandboxRunner;
  if (kind === "ours") return (await import(pathToFileURL(OURS_ENTRY).href)).createSandboxRunner;
  throw new Error(`unknown runner ${kind}`);
}

/**
 * EmDash's site info as `createSandboxRunnerOptions` builds it (trailing slash
 * stripped from the URL, defaults filled in).
 */
export function siteInfo(overrides = {}) {
  return {
    name: overrides.name ?? "Differential Site",
    url: (overrides.url ?? "https://site.example/").replace(/\/$/, ""),
    locale: overrides.locale ?? "en",
    trailingSlash: overrides.trailingSlash ?? "ignore",
  };
}

/**
 * Constructs a runner the way EmDash does: `createSandboxRunner(options)`,
 * synchronous, then `setEmailSend`. Only EmDash's options are passed.
 */
export async function createRunner(kind, { db, limits, emailSend, mediaStorage, site }) {
  if (kind === "theirs" && (process.env.NODE_ENV === "development" || process.env.EMDASH_SANDBOX_DEV === "1")) {
    throw new Error("NODE_ENV=development / EMDASH_SANDBOX_DEV=1 would select EmDash's miniflare dev runner");
  }
  const factory = await runnerFactory(kind);
  // As EmDash's createSandboxRunnerOptions: createSiteInfo() fills defaults
  // and strips one trailing slash from the URL.
  const options = { db, siteInfo: siteInfo(site ?? {}) };
  if (limits) options.limits = limits;
  if (mediaStorage) options.mediaStorage = mediaStorage;
  if (kind === "ours") {
    // Nothing beyond EmDash's own options: our runner finds the database file
    // behind EmDash's Kysely handle itself, and the binary through
    // PLUGIN_SANDBOX_BIN (set here when the caller did not).
    process.env.PLUGIN_SANDBOX_BIN ||= oursBinary();
  }
  const runner = factory(options);
  if (runner && typeof runner.then === "function") throw new Error(`${kind}: createSandboxRunner must be synchronous`);
  runner.setEmailSend(emailSend ?? null);
  return runner;
}

// ---------------------------------------------------------------------------
// Manifests, requests, invocations (as EmDash's runtime does them)
// ---------------------------------------------------------------------------

/** The manifest EmDash's `loadSandboxedPlugins` hands to `load`. */
export function emdashManifest(entry) {
  return {
    id: entry.id,
    version: entry.version,
    capabilities: entry.capabilities ?? [],
    allowedHosts: entry.allowedHosts ?? [],
    storage: entry.storage ?? {},
    hooks: [],
    routes: [],
    admin: {},
    mcp: entry.mcp,
  };
}

let requestMetaFns = null;

/** EmDash's own `sanitizeHeadersForSandbox` and `extractRequestMeta` (not exported by name). */
async function emdashRequestFns() {
  if (requestMetaFns) return requestMetaFns;
  const dist = dirname(pkgRequire.resolve("emdash"));
  const chunk = readdirSync(dist).find((f) => /^request-meta-.*\.mjs$/.test(f));
  if (!chunk) throw new Error(`emdash: no request-meta chunk in ${dist}`);
  const mod = await import(pathToFileURL(join(dist, chunk)).href);
  // The chunk exports: sanitizeHeadersForSandbox as n, extractRequestMeta as t.
  const sanitize = Object.values(mod).find((f) => typeof f === "function" && f.name === "sanitizeHeadersForSandbox");
  const extract = Object.values(mod).find((f) => typeof f === "function" && f.name === "extractRequestMeta");
  if (!sanitize || !extract) throw new Error(`emdash: ${chunk} no longer exports the request functions`);
  requestMetaFns = { sanitize, extract };
  return requestMetaFns;
}

/**
 * `handleSandboxedRoute`'s serialisation of an incoming request:
 * {url, method, headers (sanitised), meta}; and the JSON body as `input`.
 */
export async function serializeRequest({ url, method = "POST", headers = {}, body }) {
  const { sanitize, extract } = await emdashRequestFns();
  const init = { method, headers };
  if (body !== undefined && method !== "GET" && method !== "HEAD") {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
      init.headers = { ...headers, "content-type": "application/json" };
    }
  }
  const request = new Request(url, init);
  let input;
  try {
    input = await request.clone().json();
  } catch {
    input = undefined;
  }
  return {
    input,
    serialized: {
      url: request.url,
      method: request.method,
      headers: sanitize(request.headers),
      meta: extract(request, {}),
    },
  };
}

function errorMessage(error) {
  return error instanceof Error ? error.message : String(error);
}

/** A route call as `handleSandboxedRoute` makes it: the EmDash API envelope. */
export async function callRoute(instance, routeName, input, serialized, deadlineMs = 60_000) {
  try {
    const data = await withDeadline(instance.invokeRoute(routeName, input, serialized), deadlineMs, `route ${routeName}`);
    return { success: true, data };
  } catch (error) {
    if (error instanceof DeadlineError) throw error;
    return { success: false, error: { code: "ROUTE_ERROR", message: errorMessage(error) } };
  }
}

/** One plugin's hook, as the runtime calls it; errors are caught (EmDash logs them). */
export async function callHook(instance, hookName, event, deadlineMs = 60_000) {
  try {
    const value = await withDeadline(instance.invokeHook(hookName, event), deadlineMs, `hook ${hookName}`);
    return { ok: true, value };
  } catch (error) {
    if (error instanceof DeadlineError) throw error;
    return { ok: false, error: errorMessage(error) };
  }
}

/**
 * `content:beforeSave` over several plugins, with the runtime's semantics:
 * sequential, in load order; a plain-object result replaces the content
 * (copied key by key); anything else keeps it; an error is skipped.
 */
export async function runBeforeSave(instances, content, collection, isNew) {
  let result = content;
  const steps = [];
  for (const instance of instances) {
    const r = await callHook(instance, "content:beforeSave", { content: result, collection, isNew });
    steps.push(r.ok ? { ok: true } : r);
    if (r.ok && r.value && typeof r.value === "object" && !Array.isArray(r.value)) {
      result = { ...r.value };
    }
  }
  return { content: result, steps };
}

/** `content:beforeDelete` over several plugins: the first `false` vetoes; errors skipped. */
export async function runBeforeDelete(instances, id, collection) {
  const steps = [];
  for (const instance of instances) {
    const r = await callHook(instance, "content:beforeDelete", { id, collection });
    steps.push(r.ok ? { ok: true, value: r.value } : r);
    if (r.ok && r.value === false) return { allowed: false, steps };
  }
  return { allowed: true, steps };
}

/** After-hooks: every plugin in parallel, errors logged (here: returned). */
export async function runAfterHooks(instances, hookName, event) {
  return Promise.all(instances.map((i) => callHook(i, hookName, event)));
}

// ---------------------------------------------------------------------------
// Processes (for crash scenarios and the benchmark's PSS)
// ---------------------------------------------------------------------------

function readProcStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = text.lastIndexOf(")");
    const comm = text.slice(text.indexOf("(") + 1, close);
    const fields = text.slice(close + 2).split(" ");
    return { pid, comm, ppid: Number(fields[1]) };
  } catch {
    return null;
  }
}

/** Every descendant of `rootPid` (default: this process): [{pid, comm, ppid}]. */
export function descendants(rootPid = process.pid) {
  const all = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const st = readProcStat(Number(name));
    if (st) all.push(st);
  }
  const out = [];
  const frontier = [rootPid];
  const seen = new Set(frontier);
  while (frontier.length > 0) {
    const parent = frontier.pop();
    for (const p of all) {
      if (p.ppid === parent && !seen.has(p.pid)) {
        seen.add(p.pid);
        out.push(p);
        frontier.push(p.pid);
      }
    }
  }
  return out;
}

/** Proportional set size in KiB from /proc/<pid>/smaps_rollup (0 if gone). */
export function pssKiB(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------
// An environment: site copy + runner + captured side channels
// ---------------------------------------------------------------------------

/**
 * A fresh site copy and a runner of `kind`. Returns the env scenarios use:
 *   env.kind, env.runner, env.db, env.ids, env.emails, env.mediaOps,
 *   env.load(entry, code), env.route(inst, name, {input, url, method, headers}),
 *   env.hook(inst, name, event), env.close()
 * Options: limits, withEmail, withMedia, site (site info overrides), dbFile
 * (an existing site database to use instead of a fresh copy of the template).
 */
export async function makeEnv(kind, { limits, withEmail = true, withMedia = true, site, dbFile: sharedDb } = {}) {
  const template = await templateSite();
  const dir = mkdtempSync(join(tmpdir(), `emdash-diff-${kind}-`));
  // `dbFile`: use that site database (kept on close) instead of a fresh copy.
  const dbFile = sharedDb ?? join(dir, "site.db");
  if (!sharedDb) copyFileSync(template.file, dbFile);
  const db = await openDb(dbFile);
  const emails = [];
  const mediaOps = [];
  const emailSend = withEmail
    ? async (message, pluginId) => {
        emails.push({ pluginId, message });
      }
    : null;
  const mediaStorage = withMedia
    ? {
        upload: async ({ key, body, contentType }) => {
          mediaOps.push({ op: "upload", key, contentType, size: body.byteLength });
        },
        delete: async (key) => {
          mediaOps.push({ op: "delete", key });
        },
      }
    : undefined;
  let runner;
  try {
    runner = await createRunner(kind, {
      db,
      limits,
      emailSend,
      mediaStorage,
      site,
    });
  } catch (e) {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const instances = [];
  const env = {
    kind,
    runner,
    db,
    dbFile,
    dir,
    ids: template.ids,
    emails,
    mediaOps,
    instances,
    async load(entry, code, deadlineMs = 30_000) {
      const inst = await withDeadline(runner.load(emdashManifest(entry), code), deadlineMs, `load ${entry.id}`);
      instances.push(inst);
      return inst;
    },
    async route(inst, name, { input, url, method = "POST", headers = {}, deadlineMs } = {}) {
      const target = url ?? `https://site.example/_emdash/api/plugins/${inst.id.split(":")[0]}/${name}`;
      const { input: parsed, serialized } = await serializeRequest({ url: target, method, headers, body: input });
      return callRoute(inst, name, parsed, serialized, deadlineMs);
    },
    hook: (inst, name, event, deadlineMs) => callHook(inst, name, event, deadlineMs),
    async close() {
      try {
        await withDeadline(runner.terminateAll(), 20_000, `${kind}: terminateAll`);
      } finally {
        await db.destroy().catch(() => {});
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  return env;
}
