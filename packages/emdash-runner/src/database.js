// Which database the host opens: the one EmDash uses.
//
// EmDash hands the runner its Kysely instance. Kysely keeps its dialect, driver and the
// better-sqlite3 handle in private class fields, so the file name has no synchronous route; the
// only synchronous clue is the adapter class (`db.getExecutor().adapter`, public API), which tells
// SQLite from PostgreSQL. The file itself comes from `PRAGMA database_list`, asked once, early,
// through the site's own Kysely (its `pragma_database_list` table-valued form, built with the
// query builder, so no import of kysely is needed here).

import path from "node:path";
import { statSync } from "node:fs";

/** A PLUGIN_SANDBOX_DB / `database` option value as the host's --db URL; throws when malformed. */
export function normalizeDatabaseUrl(value) {
  const v = String(value).trim();
  if (/^postgres(ql)?:\/\//.test(v)) return v;
  if (v.startsWith("sqlite:")) {
    let file = v.slice("sqlite:".length);
    if (file.startsWith("//")) file = file.slice(2);
    if (!file) throw new Error(`PLUGIN_SANDBOX_DB=${v}: sqlite: needs a file path`);
    return `sqlite:${path.resolve(file)}`;
  }
  throw new Error(`PLUGIN_SANDBOX_DB=${v}: expected a postgres:// URL or sqlite:PATH`);
}

/** "sqlite", "postgres" or "unknown", from what Kysely exposes synchronously. */
export function dialectHint(db) {
  let name = "";
  try {
    name = db?.getExecutor?.()?.adapter?.constructor?.name ?? "";
  } catch {
    return "unknown";
  }
  if (/postgres/i.test(name)) return "postgres";
  if (/sqlite|libsql/i.test(name)) return "sqlite";
  return "unknown";
}

/**
 * The site's SQLite file as `sqlite:/abs/path`, found with PRAGMA database_list. Throws an Error
 * whose message says why the file cannot be shared with the host (in-memory database, a
 * database that is not SQLite, a file that is not on this machine).
 */
export async function discoverSqliteUrl(db) {
  if (!db || typeof db.selectFrom !== "function") {
    throw new Error("EmDash passed no database (options.db); set PLUGIN_SANDBOX_DB");
  }
  let rows;
  try {
    rows = await db.selectFrom("pragma_database_list").select(["name", "file"]).execute();
  } catch (err) {
    const hint = dialectHint(db);
    const what = hint === "postgres" ? "the site's database is PostgreSQL" : "the site's database is not SQLite";
    throw new Error(
      `${what} (PRAGMA database_list failed: ${err.message}); set PLUGIN_SANDBOX_DB to its postgres:// URL`,
    );
  }
  const main = rows.find((r) => r.name === "main");
  const file = main?.file ?? "";
  if (!file) {
    throw new Error(
      "the site's SQLite database is in memory (no file to share with plugin-sandbox); give EmDash a database file or set PLUGIN_SANDBOX_DB",
    );
  }
  try {
    if (!statSync(file).isFile()) throw new Error("not a regular file");
  } catch (err) {
    throw new Error(`the site's SQLite database ${file} cannot be opened here (${err.code ?? err.message}); set PLUGIN_SANDBOX_DB`);
  }
  return `sqlite:${path.resolve(file)}`;
}
