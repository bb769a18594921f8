#!/usr/bin/env node
// EmDash test fixture: makes and reads plugin-sandbox's test databases with
// EmDash's own code (emdash@0.32.0), so the C++ host is tested against the
// exact rows and schema an EmDash site produces.
//
//   node site.mjs migrate  DB
//   node site.mjs schema   DB
//   node site.mjs populate DB
//   node site.mjs read     DB PLUGIN_ID
//   node site.mjs hammer   DB N
//   node site.mjs emdash-version
//
// DB is `sqlite:/abs/path.db` or a `postgres://` / `postgresql://` URL.
// Every command prints exactly one JSON document on stdout and exits 0, or
// prints an error on stderr and exits 1. See README.md.

import { readFileSync } from "node:fs";
import { createRequire, register } from "node:module";
import { dirname, isAbsolute, join, resolve as resolvePath } from "node:path";

// EmDash's main entry imports "astro/zod"; map it to zod (see the hook file).
register("./astro-zod-hook.mjs", import.meta.url);

// EmDash code may log; stdout is reserved for the one JSON document.
for (const level of ["log", "info", "debug"]) {
  console[level] = (...args) => console.error(...args);
}

const USAGE = `usage:
  site.mjs migrate DB
  site.mjs schema DB
  site.mjs populate DB
  site.mjs read DB PLUGIN_ID
  site.mjs hammer DB N
  site.mjs emdash-version
DB: sqlite:/abs/path.db | postgres://... | postgresql://...`;

const FIXTURE_PLUGIN = "fixture-plugin";
const KV_COLLECTION = "__kv";
const HAMMER_DEADLINE_MS = 120_000;

class UsageError extends Error {}

// ---------------------------------------------------------------------------
// Opening a database exactly like an EmDash site does: the dialect factories
// of emdash/db/sqlite and emdash/db/postgres (the entrypoints the Astro
// integration loads at runtime), wrapped in a plain Kysely instance.
// ---------------------------------------------------------------------------

async function openDatabase(spec) {
  const { Kysely } = await import("kysely");
  if (typeof spec !== "string" || spec.length === 0) throw new UsageError("missing DB");
  if (spec.startsWith("sqlite:")) {
    let file = spec.slice("sqlite:".length);
    if (file.startsWith("//")) file = file.slice(2); // tolerate sqlite:///abs
    if (!file) throw new UsageError("sqlite: needs a file path");
    if (!isAbsolute(file)) file = resolvePath(file);
    const { createDialect } = await import("emdash/db/sqlite");
    // emdash/db/sqlite: `new BetterSqlite3(path)` + SqliteDialect, no pragmas.
    return { db: new Kysely({ dialect: createDialect({ url: `file:${file}` }) }), dialect: "sqlite" };
  }
  if (spec.startsWith("postgres://") || spec.startsWith("postgresql://")) {
    const { createDialect } = await import("emdash/db/postgres");
    // emdash/db/postgres: pg.Pool({min 0, max 10}) + FailFastPostgresDialect.
    return { db: new Kysely({ dialect: createDialect({ connectionString: spec }) }), dialect: "postgres" };
  }
  throw new UsageError(`unsupported DB: ${spec}`);
}

function emdashPackageDir() {
  const require = createRequire(import.meta.url);
  // "emdash" resolves to <pkg>/dist/index.mjs; walk up to its package.json.
  let dir = dirname(require.resolve("emdash"));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      if (pkg.name === "emdash") return { dir, pkg };
    } catch {
      // keep walking
    }
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot locate emdash/package.json");
    dir = up;
  }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** Unwraps an EmDash API handler result ({success, data} | {success:false, error}). */
function unwrap(what, result) {
  if (result && result.success) return result.data;
  const err = result?.error ?? {};
  throw new Error(`${what}: ${err.code ?? "ERROR"}: ${err.message ?? JSON.stringify(result)}`);
}

/** Collects every page of a cursor-paginated EmDash list call. */
async function allPages(fetchPage) {
  const items = [];
  let cursor;
  for (let guard = 0; guard < 10_000; guard++) {
    const page = await fetchPage(cursor);
    items.push(...page.items);
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  return items;
}

/** `datetime('now')`-style UTC text: "YYYY-MM-DD HH:MM:SS". */
function sqliteDatetimeNow() {
  return new Date().toISOString().slice(0, 19).replace("T", " ");
}

/** Parses a stored kv value the way EmDash's sandbox bridge kvGet does. */
function parseKvValue(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function errorText(error) {
  if (!(error instanceof Error)) return String(error);
  const code = typeof error.code === "string" && !error.message.includes(error.code) ? `${error.code}: ` : "";
  return `${code}${error.message}`;
}

function toJsonSafe(value) {
  return JSON.parse(
    JSON.stringify(value, (_key, v) => (typeof v === "bigint" ? Number(v) : v)),
  );
}

// ---------------------------------------------------------------------------
// Sandboxed-plugin KV, stored the way EmDash's sandbox bridge stores ctx.kv
// (@emdash-cms/cloudflare PluginBridge.kvSet/kvGet/kvList): one row per key in
// _plugin_storage under collection "__kv", id = the plugin's key (no prefix),
// data = JSON text; a set replaces the whole row, stamping updated_at (and,
// via the replaced row's column default, created_at) as datetime('now').
// The bridge only exists for D1 (SQLite); on PostgreSQL the fixture writes the
// same row shape with the same "YYYY-MM-DD HH:MM:SS" text in both stamps.
// ---------------------------------------------------------------------------

async function bridgeKvSet(ctx, pluginId, key, value) {
  const { sql } = await import("kysely");
  const data = JSON.stringify(value);
  if (ctx.dialect === "sqlite") {
    await ctx.db
      .insertInto("_plugin_storage")
      .orReplace()
      .values({
        plugin_id: pluginId,
        collection: KV_COLLECTION,
        id: key,
        data,
        updated_at: sql`datetime('now')`,
      })
      .execute();
    return;
  }
  const now = sqliteDatetimeNow();
  await ctx.db
    .insertInto("_plugin_storage")
    .values({ plugin_id: pluginId, collection: KV_COLLECTION, id: key, data, created_at: now, updated_at: now })
    .onConflict((oc) =>
      oc.columns(["plugin_id", "collection", "id"]).doUpdateSet((eb) => ({
        data: eb.ref("excluded.data"),
        created_at: eb.ref("excluded.created_at"),
        updated_at: eb.ref("excluded.updated_at"),
      })),
    )
    .execute();
}

async function bridgeKvList(ctx, pluginId) {
  const rows = await ctx.db
    .selectFrom("_plugin_storage")
    .select(["id", "data"])
    .where("plugin_id", "=", pluginId)
    .where("collection", "=", KV_COLLECTION)
    .orderBy("id")
    .execute();
  const out = {};
  for (const row of rows) out[row.id] = parseKvValue(row.data);
  return out;
}

// ---------------------------------------------------------------------------
// migrate
// ---------------------------------------------------------------------------

async function cmdMigrate(ctx) {
  const { runMigrations, getMigrationStatus } = await import("emdash/db");
  const { applied } = await runMigrations(ctx.db);
  const status = await getMigrationStatus(ctx.db);
  return { applied, status };
}

// ---------------------------------------------------------------------------
// schema
// ---------------------------------------------------------------------------

/** Splits "a, f(b, c) DESC, d" at top-level commas. */
function splitTopLevel(text) {
  const parts = [];
  let depth = 0;
  let quote = null;
  let cur = "";
  for (const ch of text) {
    if (quote) {
      cur += ch;
      if (ch === quote) quote = null;
      continue;
    }
    if (ch === "'" || ch === '"' || ch === "`") quote = ch;
    else if (ch === "(") depth++;
    else if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(cur.trim());
      cur = "";
    } else {
      cur += ch;
    }
  }
  if (cur.trim()) parts.push(cur.trim());
  return parts;
}

/** For `CREATE [UNIQUE] INDEX ... ON t (cols) [WHERE expr]`: {columns:[...], where}. */
function parseSqliteIndexSql(text) {
  if (!text) return { columns: null, where: null };
  const on = text.search(/\sON\s/i);
  if (on < 0) return { columns: null, where: null };
  const open = text.indexOf("(", on);
  if (open < 0) return { columns: null, where: null };
  let depth = 0;
  let quote = null;
  let close = -1;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === quote) quote = null;
      continue;
    }
    if (ch === "'" || ch === '"' || ch === "`") quote = ch;
    else if (ch === "(") depth++;
    else if (ch === ")" && --depth === 0) {
      close = i;
      break;
    }
  }
  if (close < 0) return { columns: null, where: null };
  const columns = splitTopLevel(text.slice(open + 1, close)).map((c) => c.replace(/\s+/g, " "));
  const rest = text.slice(close + 1);
  const m = rest.match(/^\s*WHERE\s+([\s\S]*)$/i);
  return { columns, where: m ? m[1].trim().replace(/\s+/g, " ") : null };
}

async function sqliteSchema(db) {
  const { sql } = await import("kysely");
  const tables = await sql`
    SELECT name FROM sqlite_master
    WHERE type = 'table' AND substr(name, 1, 7) <> 'sqlite_'
    ORDER BY name`.execute(db);
  const indexSql = new Map(
    (await sql`SELECT name, sql FROM sqlite_master WHERE type = 'index'`.execute(db)).rows.map((r) => [
      r.name,
      r.sql,
    ]),
  );
  const out = {};
  for (const { name } of tables.rows) {
    const cols = await sql`SELECT * FROM pragma_table_xinfo(${name}) ORDER BY cid`.execute(db);
    const columns = cols.rows.map((c) => ({
      name: c.name,
      type: String(c.type ?? "").toLowerCase(),
      notnull: c.notnull === 1,
      default: c.dflt_value ?? null,
      pk: Number(c.pk ?? 0),
    }));
    const list = await sql`SELECT * FROM pragma_index_list(${name})`.execute(db);
    const indexes = [];
    for (const idx of list.rows) {
      const info = await sql`SELECT * FROM pragma_index_xinfo(${idx.name}) WHERE key = 1 ORDER BY seqno`.execute(
        db,
      );
      const parsed = parseSqliteIndexSql(indexSql.get(idx.name));
      const columnsOut = info.rows.map((k, i) => {
        if (k.cid === -2 || k.name == null) {
          // expression: take its text from the CREATE INDEX statement
          return parsed.columns?.[i] ?? "<expr>";
        }
        return k.desc === 1 ? `${k.name} DESC` : k.name;
      });
      indexes.push({
        name: idx.name,
        columns: columnsOut,
        unique: idx.unique === 1,
        where: idx.partial === 1 ? parsed.where : null,
      });
    }
    indexes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    out[name] = { columns, indexes };
  }
  return out;
}

async function postgresSchema(db) {
  const { sql } = await import("kysely");
  const tables = await sql`
    SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
    ORDER BY table_name COLLATE "C"`.execute(db);
  const out = {};
  for (const { name } of tables.rows) {
    const cols = await sql`
      SELECT c.column_name AS name, c.data_type, c.udt_name, c.is_nullable, c.column_default,
             COALESCE((
               SELECT k.ord
               FROM pg_index i
               CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
               WHERE i.indrelid = format('%I.%I', c.table_schema, c.table_name)::regclass
                 AND i.indisprimary AND a.attname = c.column_name
             ), 0) AS pk
      FROM information_schema.columns c
      WHERE c.table_schema = current_schema() AND c.table_name = ${name}
      ORDER BY c.ordinal_position`.execute(db);
    const columns = cols.rows.map((c) => ({
      name: c.name,
      type: String(c.data_type === "USER-DEFINED" || c.data_type === "ARRAY" ? c.udt_name : c.data_type).toLowerCase(),
      notnull: c.is_nullable === "NO",
      default: c.column_default ?? null,
      pk: Number(c.pk ?? 0),
    }));
    const idx = await sql`
      SELECT ic.relname AS name, i.indisunique AS unique, i.indnkeyatts AS nkeys, i.indexrelid AS oid,
             pg_get_expr(i.indpred, i.indrelid, true) AS predicate
      FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_class tc ON tc.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = tc.relnamespace
      WHERE n.nspname = current_schema() AND tc.relname = ${name}
      ORDER BY ic.relname COLLATE "C"`.execute(db);
    const indexes = [];
    for (const row of idx.rows) {
      const keys = await sql`
        SELECT pg_get_indexdef(i.indexrelid, k, true) AS def,
               (i.indoption[k - 1] & 1) = 1 AS desc
        FROM pg_index i, generate_series(1, i.indnkeyatts::int) AS k
        WHERE i.indexrelid = ${row.oid}::oid
        ORDER BY k`.execute(db);
      // indoption bit 0 = DESC (int2vector subscripts are 0-based)
      const columnsOut = keys.rows.map((k) => (k.desc ? `${k.def} DESC` : k.def));
      indexes.push({ name: row.name, columns: columnsOut, unique: row.unique === true, where: row.predicate ?? null });
    }
    out[name] = { columns, indexes };
  }
  return out;
}

async function cmdSchema(ctx) {
  const { sql } = await import("kysely");
  const tables = ctx.dialect === "sqlite" ? await sqliteSchema(ctx.db) : await postgresSchema(ctx.db);
  let migrations = [];
  if (tables._emdash_migrations) {
    const rows = await sql`SELECT name FROM _emdash_migrations ORDER BY name`.execute(ctx.db);
    migrations = rows.rows.map((r) => r.name);
  }
  return { tables, migrations };
}

// ---------------------------------------------------------------------------
// populate
// ---------------------------------------------------------------------------

async function cmdPopulate(ctx) {
  const emdash = await import("emdash");
  const {
    SchemaRegistry,
    MediaRepository,
    UserRepository,
    OptionsRepository,
    PluginStorageRepository,
    applySeed,
    handleContentCreate,
    handleContentPublish,
    handleContentDelete,
    runWithContext,
    getTerm,
  } = emdash;
  const { db } = ctx;
  const inRequest = (fn) => runWithContext({ editMode: false, db, dbIsIsolated: true }, fn);

  // Collections and fields (SchemaRegistry creates the ec_* tables).
  const registry = new SchemaRegistry(db);
  await registry.createCollection({
    slug: "posts",
    label: "Posts",
    labelSingular: "Post",
    supports: ["drafts", "revisions"],
  });
  const postFields = [
    { slug: "title", label: "Title", type: "string", required: true },
    { slug: "body", label: "Body", type: "text" },
    { slug: "rating", label: "Rating", type: "integer" },
    { slug: "score", label: "Score", type: "number" },
    { slug: "featured", label: "Featured", type: "boolean" },
    { slug: "tags", label: "Tags", type: "multiSelect", validation: { options: ["red", "green", "blue"] } },
    { slug: "meta", label: "Meta", type: "json" },
  ];
  for (const field of postFields) await registry.createField("posts", field);
  await registry.createCollection({ slug: "pages", label: "Pages", labelSingular: "Page", supports: [] });
  await registry.createField("pages", { slug: "title", label: "Title", type: "string" });

  // Users.
  const users = new UserRepository(db);
  const admin = await users.create({ email: "admin@fixture.test", name: "Fixture Admin", role: 50 });
  const author = await users.create({ email: "Author@Fixture.test", name: "Fixture Author", role: 30 });

  // Media.
  const media = new MediaRepository(db);
  const m1 = await media.create({
    filename: "photo.jpg",
    mimeType: "image/jpeg",
    size: 12345,
    width: 640,
    height: 480,
    alt: "A photo",
    storageKey: "fixture/photo.jpg",
    status: "ready",
    authorId: admin.id,
  });
  const m2 = await media.create({
    filename: "doc.pdf",
    mimeType: "application/pdf",
    size: 2048,
    storageKey: "fixture/doc.pdf",
    contentHash: "sha256-fixture",
    status: "ready",
    authorId: author.id,
  });

  // Terms in the default taxonomies (category, tag exist after migrations);
  // EmDash's seed applier creates the terms through its TaxonomyRepository.
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
          terms: [{ slug: "news", label: "News", description: "Fixture category" }],
        },
        {
          name: "tag",
          label: "Tags",
          labelSingular: "Tag",
          hierarchical: false,
          collections: ["posts"],
          terms: [{ slug: "fixture", label: "Fixture" }],
        },
      ],
    },
    { includeContent: true, onConflict: "skip" },
  );
  const category = await inRequest(() => getTerm("category", "news"));
  const tag = await inRequest(() => getTerm("tag", "fixture"));
  if (!category || !tag) throw new Error("seeded terms not found");

  // Content, through EmDash's API handlers (create -> publish), as the admin does.
  const draft = unwrap(
    "create draft",
    await handleContentCreate(db, "posts", {
      data: {
        title: "Draft post",
        body: "Not yet published.",
        rating: 2,
        score: 0.25,
        featured: false,
        tags: ["red"],
        meta: { draft: true },
      },
      status: "draft",
      authorId: author.id,
    }),
  ).item;

  const createdPublished = unwrap(
    "create published",
    await handleContentCreate(db, "posts", {
      data: {
        title: "Hello world",
        body: "First published post.",
        rating: 5,
        score: 4.5,
        featured: true,
        tags: ["red", "blue"],
        meta: { views: 10, nested: { ok: true }, list: [1, "two", null] },
      },
      authorId: admin.id,
      taxonomies: { category: ["news"], tag: ["fixture"] },
    }),
  ).item;
  const published = unwrap("publish", await handleContentPublish(db, "posts", createdPublished.id)).item;

  const createdFr = unwrap(
    "create fr",
    await handleContentCreate(db, "posts", {
      data: {
        title: "Bonjour le monde",
        body: "Premier article publié.",
        rating: 5,
        score: 4.5,
        featured: true,
        tags: ["red", "blue"],
        meta: { views: 3 },
      },
      locale: "fr",
      translationOf: published.id,
      authorId: admin.id,
    }),
  ).item;
  const fr = unwrap("publish fr", await handleContentPublish(db, "posts", createdFr.id)).item;

  const toDelete = unwrap(
    "create deleted",
    await handleContentCreate(db, "posts", {
      data: { title: "Trashed post", featured: false },
      authorId: author.id,
      taxonomies: { tag: ["fixture"] },
    }),
  ).item;
  unwrap("delete", await handleContentDelete(db, "posts", toDelete.id));

  const createdPage = unwrap("create page", await handleContentCreate(db, "pages", { data: { title: "About" } })).item;
  const page = unwrap("publish page", await handleContentPublish(db, "pages", createdPage.id)).item;

  // Plugin KV, stored as the sandbox bridge stores ctx.kv.
  const kv = { counter: 42, greeting: "hello", config: { enabled: true, list: [1, 2, 3], none: null } };
  for (const [key, value] of Object.entries(kv)) await bridgeKvSet(ctx, FIXTURE_PLUGIN, key, value);

  // Trusted-plugin KV (ctx.kv of in-process plugins): options "plugin:<id>:<key>".
  const options = new OptionsRepository(db);
  const optionValues = { [`plugin:${FIXTURE_PLUGIN}:mode`]: "trusted" };
  for (const [name, value] of Object.entries(optionValues)) await options.set(name, value);

  // Plugin storage documents.
  const events = new PluginStorageRepository(db, FIXTURE_PLUGIN, "events", ["kind"]);
  await events.put("evt-1", { kind: "x", n: 1, label: "first" });
  await events.put("evt-2", { kind: "y", n: 2, label: "second" });

  return {
    collections: ["posts", "pages"],
    content: {
      draft: draft.id,
      published: published.id,
      fr: fr.id,
      deleted: toDelete.id,
      page: page.id,
    },
    media: [m1.id, m2.id],
    users: [admin.id, author.id],
    terms: { category: category.id, tag: tag.id },
    kv,
    options: optionValues,
    storage: { events: ["evt-1", "evt-2"] },
  };
}

// ---------------------------------------------------------------------------
// read
// ---------------------------------------------------------------------------

function contentView(item) {
  const view = {
    id: item.id,
    slug: item.slug,
    status: item.status,
    locale: item.locale,
    translationGroup: item.translationGroup,
    authorId: item.authorId,
    data: item.data,
    version: item.version,
    createdAt: item.createdAt,
    updatedAt: item.updatedAt,
    publishedAt: item.publishedAt,
    scheduledAt: item.scheduledAt,
    liveRevisionId: item.liveRevisionId,
    draftRevisionId: item.draftRevisionId,
  };
  if ("deletedAt" in item) view.deletedAt = item.deletedAt;
  return view;
}

async function cmdRead(ctx, pluginId) {
  if (!pluginId) throw new UsageError("read needs PLUGIN_ID");
  const {
    ContentRepository,
    MediaRepository,
    UserRepository,
    OptionsRepository,
    PluginStorageRepository,
    runWithContext,
    getEntryTerms,
  } = await import("emdash");
  const { sql } = await import("kysely");
  const { db } = ctx;
  const content = new ContentRepository(db);

  const listAll = (type) =>
    allPages((cursor) =>
      content.findMany(type, { limit: 100, cursor, orderBy: { field: "createdAt", direction: "asc" } }),
    );
  const posts = await listAll("posts");
  const pages = await listAll("pages");

  const trashed = await allPages((cursor) =>
    content.findTrashed("posts", { limit: 100, cursor, orderBy: { field: "deletedAt", direction: "asc" } }),
  );
  const deletedRows = (
    await sql`SELECT id, deleted_at FROM ec_posts WHERE deleted_at IS NOT NULL ORDER BY id`.execute(db)
  ).rows;

  const mediaItems = await allPages((cursor) => new MediaRepository(db).findMany({ limit: 100, cursor, status: "all" }));
  const userItems = await allPages((cursor) => new UserRepository(db).findMany({ limit: 100, cursor }));

  // Terms per post via EmDash's public query API (getEntryTerms), every locale.
  const terms = {};
  for (const post of [...posts, ...trashed]) {
    const list = await runWithContext({ editMode: false, db, dbIsIsolated: true }, () =>
      getEntryTerms("posts", post.id),
    );
    terms[post.id] = list
      .map((t) => ({ id: t.id, name: t.name, slug: t.slug, label: t.label, locale: t.locale, translationGroup: t.translationGroup }))
      .sort((a, b) => (a.name + a.locale + a.slug < b.name + b.locale + b.slug ? -1 : 1));
  }

  const kv = await bridgeKvList(ctx, pluginId);
  const optionsMap = await new OptionsRepository(db).getByPrefix(`plugin:${pluginId}:`);
  const options = Object.fromEntries([...optionsMap.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));

  const events = new PluginStorageRepository(db, pluginId, "events", ["kind"]);
  const where = { kind: "x" };
  const docs = await allPages((cursor) => events.query({ where, cursor, limit: 100 }).then((r) => ({ ...r, nextCursor: r.cursor })));

  return {
    content: {
      posts: posts.map(contentView),
      pages: pages.map(contentView),
      trashed: trashed.map(contentView),
      deleted: deletedRows.map((r) => ({ id: r.id, deletedAt: r.deleted_at })),
    },
    media: mediaItems,
    users: userItems,
    terms,
    kv,
    options,
    storage: {
      events: {
        where,
        items: docs,
        count: await events.count(where),
        total: await events.count(),
      },
    },
  };
}

// ---------------------------------------------------------------------------
// hammer
// ---------------------------------------------------------------------------

const BUSY_PATTERN = /SQLITE_BUSY|database is locked|deadlock/i;

async function cmdHammer(ctx, nArg) {
  const n = Number(nArg);
  if (!Number.isInteger(n) || n < 0) throw new UsageError("hammer needs a non-negative integer N");
  const { ContentRepository, OptionsRepository, PluginStorageRepository } = await import("emdash");
  const { db } = ctx;
  const events = new PluginStorageRepository(db, FIXTURE_PLUGIN, "events", ["kind"]);
  const options = new OptionsRepository(db);
  const start = Date.now();
  const errors = [];
  let errorCount = 0;
  let busy = 0;
  let ok = 0;
  let attempted = 0;
  let lastCreated = null;

  for (let i = 0; i < n; i++) {
    if (Date.now() - start > HAMMER_DEADLINE_MS) break;
    attempted++;
    try {
      switch (i % 4) {
        case 0: {
          // Content create, in a transaction like EmDash's create handler.
          lastCreated = await db.transaction().execute(async (trx) => {
            const repo = new ContentRepository(trx);
            const title = `node-${i}`;
            const slug = await repo.generateUniqueSlug("posts", title);
            return repo.create({ type: "posts", slug, data: { title, rating: i }, status: "draft" });
          });
          break;
        }
        case 1: {
          if (!lastCreated) throw new Error("no previous content to update");
          const id = lastCreated.id;
          await db.transaction().execute((trx) =>
            new ContentRepository(trx).update("posts", id, { data: { title: `node-${i - 1}-updated`, score: i } }),
          );
          break;
        }
        case 2:
          await events.put(`node-${i}`, { kind: "hammer", i });
          break;
        default:
          // Alternate the two plugin-KV stores: sandbox bridge (__kv) and options.
          if (Math.floor(i / 4) % 2 === 0) await bridgeKvSet(ctx, FIXTURE_PLUGIN, "hammer", i);
          else await options.set(`plugin:${FIXTURE_PLUGIN}:hammer`, i);
          break;
      }
      ok++;
    } catch (error) {
      errorCount++;
      const text = errorText(error);
      if (BUSY_PATTERN.test(text)) busy++;
      if (errors.length < 10) errors.push(`op ${i}: ${text}`);
    }
  }
  return { ok, errors, busy, errorCount, attempted, n, elapsedMs: Date.now() - start };
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

function emit(doc) {
  return new Promise((resolveWrite) => process.stdout.write(`${JSON.stringify(toJsonSafe(doc))}\n`, resolveWrite));
}

async function main(argv) {
  const [command, ...args] = argv;
  if (command === "emdash-version") {
    if (args.length) throw new UsageError("emdash-version takes no arguments");
    return { emdash: emdashPackageDir().pkg.version };
  }
  const handlers = {
    migrate: { arity: 1, run: (ctx) => cmdMigrate(ctx) },
    schema: { arity: 1, run: (ctx) => cmdSchema(ctx) },
    populate: { arity: 1, run: (ctx) => cmdPopulate(ctx) },
    read: { arity: 2, run: (ctx, a) => cmdRead(ctx, a[1]) },
    hammer: { arity: 2, run: (ctx, a) => cmdHammer(ctx, a[1]) },
  };
  const handler = handlers[command];
  if (!handler) throw new UsageError(command ? `unknown command: ${command}` : "missing command");
  if (args.length !== handler.arity) throw new UsageError(`${command}: expected ${handler.arity} argument(s)`);
  const ctx = await openDatabase(args[0]);
  try {
    return await handler.run(ctx, args);
  } finally {
    await ctx.db.destroy().catch(() => {});
  }
}

main(process.argv.slice(2)).then(
  async (doc) => {
    await emit(doc);
    process.exit(0);
  },
  (error) => {
    if (error instanceof UsageError) process.stderr.write(`error: ${error.message}\n${USAGE}\n`);
    else process.stderr.write(`error: ${error?.stack ?? errorText(error)}\n`);
    process.exit(1);
  },
);
