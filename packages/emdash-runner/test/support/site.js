// Test support: sites made by EmDash's own code, the real binary, and waiting with deadlines.

import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { register } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

register("./astro-zod-hook.mjs", import.meta.url);

const here = path.dirname(fileURLToPath(import.meta.url));
export const packageDir = path.resolve(here, "../..");

/** The plugin-sandbox binary the tests run: PLUGIN_SANDBOX_BIN, else the repository's build. */
export const BINARY = process.env.PLUGIN_SANDBOX_BIN || path.resolve(packageDir, "../../build/src/plugin-sandbox");
export const SKIP = existsSync(BINARY)
  ? false
  : `the plugin-sandbox binary ${BINARY} does not exist (build the repository, or set PLUGIN_SANDBOX_BIN)`;

/**
 * A fresh EmDash site database: a SQLite file migrated by EmDash's own runMigrations, opened the
 * way an EmDash site opens it (emdash/db/sqlite's dialect in a Kysely). `emdash` selects the
 * package ("emdash" for 0.32.0, "emdash-0.31" for 0.31.1).
 */
export async function makeSite({ emdash = "emdash" } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "ps-emdash-test-"));
  const file = path.join(dir, "site.db");
  const { Kysely } = await import("kysely");
  const { createDialect } = await import(`${emdash}/db/sqlite`);
  const { runMigrations } = await import(`${emdash}/db`);
  const db = new Kysely({ dialect: createDialect({ url: `file:${file}` }) });
  await runMigrations(db);
  return {
    dir,
    file,
    db,
    dataDir: path.join(dir, "data"),
    async close() {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` (sync or async) until it returns a truthy value or `ms` pass. */
export async function waitFor(what, check, ms = 15000) {
  const deadline = Date.now() + ms;
  let wait = 5;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, wait));
    wait = Math.min(wait * 2, 100);
  }
}

/** Every process whose parent chain leads to `pid` (from /proc). */
export function descendants(pid) {
  const parent = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // pid (comm) state ppid ...: comm may contain spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z") continue; // a zombie is already dead
      parent.set(Number(name), Number(fields[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out = [];
  for (const [p] of parent) {
    for (let q = parent.get(p); q !== undefined && q > 1; q = parent.get(q)) {
      if (q === pid) {
        out.push(p);
        break;
      }
    }
  }
  return out;
}

/** Whether a process is alive (and not a zombie). */
export function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** A plugin as EmDash hands it to load(): its manifest and its backend module's code. */
export function plugin(id, { version = "1.0.0", capabilities = [], hooks = [], routes = [], code }) {
  return {
    manifest: { id, version, capabilities, allowedHosts: [], storage: {}, hooks, routes, admin: {} },
    code,
  };
}

/** A SerializedRequest as EmDash builds it for a route. */
export function request(url = "http://localhost:4321/_emdash/api/plugins/x/y", method = "POST") {
  return {
    url,
    method,
    headers: { "content-type": "application/json" },
    meta: { ip: null, userAgent: "test", referer: null, geo: null },
  };
}
