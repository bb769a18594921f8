#!/usr/bin/env node
// Transport comparison for the embedded host (issue 14: "keep one persistent, multiplexed
// stream per host on the private Unix socket ... and measure the alternatives"). One Node
// process, one `plugin-sandbox serve --embedded` on a Unix socket, the same route call
// (`POST /v1/plugins/<id>/routes/c`, body {"input":{}}, a plugin that returns a constant)
// through:
//   channel     the host channel (docs/channel.md), openChannel from packages/emdash-runner
//   keep-alive  http.request with a keep-alive http.Agent (socketPath, maxSockets 16)
//   new conn    http.request without keep-alive: a new connection per call
//   fetch       not measured: Node 20's global fetch reaches a Unix socket only through
//               undici's Agent, a package this benchmark does not add
//
//   node bench/emdash/transports.mjs [--quick]
//
// Per transport: sequential median and p99 (2000 calls after 200 warm-up), then throughput,
// median and p99 with 16 concurrent callers over 4 plugins for 5 s. About 20 s by default,
// about 8 s with --quick. A human table on stderr, one JSON document on stdout.
//
// Binary: PLUGIN_SANDBOX_BIN or build/src/plugin-sandbox; workerd: PLUGIN_SANDBOX_WORKERD or
// the one in packages/emdash-runner/node_modules. The host's stdin is a pipe this process
// holds: the host exits when it closes, however this process ends.

import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const { openChannel } = await import(pathToFileURL(join(ROOT, "packages/emdash-runner/src/channel.js")).href);

const QUICK = process.argv.slice(2).includes("--quick");
const S = QUICK
  ? { seq: 500, warm: 50, concurrentMs: 2000, callers: 16 }
  : { seq: 2000, warm: 200, concurrentMs: 5000, callers: 16 };
const PLUGINS = 4;
const CALL_TIMEOUT_MS = 10_000;
const START_DEADLINE_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const RUN_DEADLINE_MS = QUICK ? 45_000 : 120_000;

const BIN = process.env.PLUGIN_SANDBOX_BIN || join(ROOT, "build/src/plugin-sandbox");
const WORKERD =
  process.env.PLUGIN_SANDBOX_WORKERD ||
  join(ROOT, "packages/emdash-runner/node_modules/@cloudflare/workerd-linux-64/bin/workerd");

const CODE = "export default { routes: { c: { handler: async () => ({ ok: 1 }) } } };";
const manifest = (id) => ({
  id, version: "1.0.0", capabilities: [], allowedHosts: [], storage: {}, hooks: [], routes: [], admin: {},
});
const ROUTE_BODY = JSON.stringify({ input: {} });
const routePath = (id) => `/v1/plugins/${id}/routes/c`;

const say = (...a) => process.stderr.write(`${a.join(" ")}\n`);
const now = () => performance.now();
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

function quantile(values, q) {
  if (values.length === 0) return null;
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
const round = (x, d = 3) => (x === null || x === undefined || Number.isNaN(x) ? null : Number(x.toFixed(d)));

// ---------------------------------------------------------------------------
// The host
// ---------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), "ps-transports-")); // 0700
const socketPath = join(dir, "h.sock");
const tokenFile = join(dir, "token");
const token = randomBytes(32).toString("hex");
writeFileSync(tokenFile, `${token}\n`, { mode: 0o600, flag: "wx" });

let host = null;
let hostExit = null; // {code, signal} once it exited
let hostExited = null; // resolves with hostExit
const hostTail = []; // its last stderr lines, for a failure message

function startHost() {
  if (!existsSync(BIN)) throw new Error(`no plugin-sandbox binary at ${BIN} (set PLUGIN_SANDBOX_BIN)`);
  const env = { ...process.env, PLUGIN_SANDBOX_WORKERD: WORKERD };
  delete env.PLUGIN_SANDBOX_ADMIN_TOKEN;
  delete env.PLUGIN_SANDBOX_PLUGINS;
  host = spawn(
    BIN,
    ["serve", "--embedded", "--listen", `unix:${socketPath}`, "--data", join(dir, "data"),
      "--admin-token-file", tokenFile, "--log-level", "warn"],
    // stdin: a pipe we hold and never write; its own process group, so a terminal's Ctrl-C
    // reaches only this process, which then stops the host itself.
    { stdio: ["pipe", "ignore", "pipe"], env, detached: true },
  );
  hostExited = new Promise((res) => {
    host.on("exit", (code, signal) => res((hostExit = { code, signal })));
    host.on("error", (err) => res((hostExit = { code: null, signal: null, error: err.message })));
  });
  host.stdin.on("error", () => {}); // EPIPE once it is gone
  host.stderr.setEncoding("utf8");
  host.stderr.on("data", (text) => {
    for (const line of text.split("\n")) if (line) hostTail.push(line);
    if (hostTail.length > 40) hostTail.splice(0, hostTail.length - 40);
  });
}

/** Closes the host's stdin, waits up to 5 s for it to exit, then SIGKILLs it. */
async function stopHost() {
  if (!host || hostExit) return;
  host.stdin.end();
  let timer;
  const timedOut = new Promise((r) => (timer = setTimeout(() => r("timeout"), STOP_GRACE_MS)));
  const r = await Promise.race([hostExited, timedOut]);
  clearTimeout(timer);
  if (r === "timeout" && !hostExit) {
    say(`host still running ${STOP_GRACE_MS} ms after its stdin closed: SIGKILL`);
    host.kill("SIGKILL");
    await Promise.race([hostExited, delay(2000)]);
  }
}

let cleaned = null;
function cleanup() {
  cleaned ??= (async () => {
    await stopHost();
    rmSync(dir, { recursive: true, force: true });
  })();
  return cleaned;
}

function hostFailure(what) {
  const exit = hostExit ? ` (host exited: ${JSON.stringify(hostExit)})` : "";
  const tail = hostTail.slice(-10).join("\n    ");
  return new Error(`${what}${exit}${tail ? `\n  host stderr:\n    ${tail}` : ""}`);
}

// ---------------------------------------------------------------------------
// One HTTP request over the Unix socket; resolves {status, body}
// ---------------------------------------------------------------------------

function httpCall(agent, method, path, body) {
  return new Promise((res, rej) => {
    const headers = { Host: "host", Authorization: `Bearer ${token}` };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = Buffer.byteLength(body);
    }
    const req = http.request({ socketPath, method, path, agent, headers }, (r) => {
      const parts = [];
      r.on("data", (c) => parts.push(c));
      r.on("end", () => res({ status: r.statusCode, body: Buffer.concat(parts) }));
      r.on("error", rej);
    });
    req.setTimeout(CALL_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${CALL_TIMEOUT_MS} ms`)));
    req.on("error", rej);
    req.end(body);
  });
}

/** Polls until the host answers `GET /v1/plugins` (deadline 15 s), or fails when it exits. */
async function waitForHost() {
  const deadline = Date.now() + START_DEADLINE_MS;
  let last = "nothing tried";
  while (Date.now() < deadline) {
    if (hostExit) throw hostFailure("the host exited before it listened");
    if (existsSync(socketPath)) {
      try {
        const r = await httpCall(false, "GET", "/v1/plugins");
        if (r.status === 200) return;
        last = `GET /v1/plugins answered ${r.status}`;
      } catch (e) {
        last = e.code ?? e.message;
      }
    }
    await Promise.race([delay(25), hostExited]);
  }
  throw hostFailure(`the host did not answer on ${socketPath} within ${START_DEADLINE_MS} ms (${last})`);
}

async function install(id) {
  const r = await httpCall(false, "PUT", `/v1/plugins/${id}`, JSON.stringify({ manifest: manifest(id), code: CODE }));
  if (r.status !== 200 && r.status !== 201) throw hostFailure(`installing ${id}: ${r.status} ${r.body.toString("utf8")}`);
}

// ---------------------------------------------------------------------------
// Transports: each a function (pluginId) => Promise<{status, body}>
// ---------------------------------------------------------------------------

async function transports() {
  const channel = await openChannel(socketPath, token, { timeoutMs: 5000 });
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 16 });
  return {
    list: [
      {
        key: "channel",
        label: "channel (one multiplexed stream)",
        call: (id) => channel.request("POST", routePath(id), ROUTE_BODY, CALL_TIMEOUT_MS),
      },
      {
        key: "http_keepalive",
        label: "http.request, keep-alive Agent (16)",
        call: (id) => httpCall(keepAlive, "POST", routePath(id), ROUTE_BODY),
      },
      {
        key: "http_new_connection",
        label: "http.request, new connection per call",
        // agent: false: a one-off agent, `Connection: close`, one connection per request
        call: (id) => httpCall(false, "POST", routePath(id), ROUTE_BODY),
      },
    ],
    close() {
      channel.close();
      keepAlive.destroy();
    },
  };
}

/** Node's global fetch has no way to reach a Unix socket without undici's Agent. */
function fetchVerdict() {
  return {
    measured: false,
    reason:
      "not measurable without an extra package: Node " + process.versions.node +
      "'s global fetch has no socketPath; reaching a Unix socket needs undici's Agent",
  };
}

// ---------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------

let aborted = false; // set by the run deadline: loops stop

/** One timed call; the answer must be 200 with the plugin's constant. */
async function timed(t, id) {
  const t0 = now();
  try {
    const r = await t.call(id);
    const ms = now() - t0;
    if (r.status !== 200) return { ok: false, ms, error: `status ${r.status}: ${r.body.toString("utf8").slice(0, 200)}` };
    JSON.parse(r.body.toString("utf8")); // as a client would
    return { ok: true, ms };
  } catch (e) {
    return { ok: false, ms: now() - t0, error: e.message };
  }
}

async function sequential(t) {
  for (let i = 0; i < S.warm && !aborted; i++) await timed(t, "t0");
  const ms = [];
  let failed = 0;
  let error;
  for (let i = 0; i < S.seq && !aborted; i++) {
    const r = await timed(t, "t0");
    if (r.ok) ms.push(r.ms);
    else {
      failed++;
      error ??= r.error;
    }
  }
  return { n: ms.length + failed, failed, median_ms: round(quantile(ms, 0.5)), p99_ms: round(quantile(ms, 0.99)), error };
}

async function concurrent(t) {
  const lat = [];
  let failed = 0;
  let error;
  const t0 = now();
  const end = t0 + S.concurrentMs;
  await Promise.all(
    Array.from({ length: S.callers }, async (_, i) => {
      const id = `t${i % PLUGINS}`;
      while (now() < end && !aborted) {
        const r = await timed(t, id);
        if (r.ok) lat.push(r.ms);
        else {
          failed++;
          error ??= r.error;
        }
      }
    }),
  );
  const seconds = (now() - t0) / 1000;
  return {
    callers: S.callers,
    plugins: PLUGINS,
    seconds: round(seconds, 2),
    calls: lat.length,
    calls_per_s: round(lat.length / seconds, 0),
    median_ms: round(quantile(lat, 0.5)),
    p99_ms: round(quantile(lat, 0.99)),
    failed,
    error,
  };
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

function table(result) {
  const rows = [["transport", "seq median", "seq p99", "16 callers", "p99", "median", "failed"]];
  for (const [key, r] of Object.entries(result.transports)) {
    if (!r.measured) {
      rows.push([r.label ?? key, r.reason]);
      continue;
    }
    const s = r.sequential;
    const c = r.concurrent;
    rows.push([
      r.label,
      `${s.median_ms} ms`,
      `${s.p99_ms} ms`,
      `${c.calls_per_s} calls/s`,
      `${c.p99_ms} ms`,
      `${c.median_ms} ms`,
      String(s.failed + c.failed),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.filter((r) => r.length > 2).map((r) => (r[i] ?? "").length)));
  return rows.map((r) => (r.length === 2 ? `${r[0].padEnd(widths[0])}  ${r[1]}` : r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd())).join("\n");
}

async function main() {
  const load = loadavg()[0];
  const version = spawnSync(BIN, ["--version"], { encoding: "utf8", timeout: 5000 }).stdout?.trim() || null;
  const t0 = now();
  startHost();
  await waitForHost();
  for (let i = 0; i < PLUGINS; i++) await install(`t${i}`);
  say(`host ready and ${PLUGINS} plugins installed in ${Math.round(now() - t0)} ms`);

  const ts = await transports();
  const out = {};
  try {
    for (const t of ts.list) {
      if (aborted) throw new Error("stopped before the end");
      const first = await timed(t, "t0");
      if (!first.ok) throw hostFailure(`${t.key}: first call failed: ${first.error}`);
      say(`${t.label}: sequential ${S.seq} calls …`);
      const seq = await sequential(t);
      say(`${t.label}: ${S.callers} callers for ${S.concurrentMs} ms …`);
      const conc = await concurrent(t);
      out[t.key] = { measured: true, label: t.label, sequential: seq, concurrent: conc };
    }
  } finally {
    ts.close();
  }
  out.fetch = { label: "fetch (global)", ...fetchVerdict() };

  const result = {
    benchmark: "bench/emdash/transports.mjs",
    quick: QUICK,
    node: process.versions.node,
    host: version,
    cores: availableParallelism(),
    loadavg_1m: { start: round(load, 2), end: round(loadavg()[0], 2) },
    settings: { sequential_calls: S.seq, warmup_calls: S.warm, concurrent_ms: S.concurrentMs, callers: S.callers, plugins: PLUGINS },
    call: "POST /v1/plugins/<id>/routes/c {\"input\":{}} -> {\"ok\":1}",
    elapsed_s: round((now() - t0) / 1000, 1),
    transports: out,
  };
  say("");
  say(table(result));
  say(`load average ${result.loadavg_1m.start} -> ${result.loadavg_1m.end} on ${result.cores} cores`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(sig, () => {
    say(`${sig}: stopping the host`);
    aborted = true;
    cleanup().finally(() => process.exit(130));
  });
}

const runTimer = setTimeout(() => {
  say(`the run exceeded its deadline of ${RUN_DEADLINE_MS} ms: stopping`);
  aborted = true;
  cleanup().finally(() => process.exit(1));
}, RUN_DEADLINE_MS);
runTimer.unref();

let code = 0;
try {
  await main();
} catch (e) {
  if (!aborted) say(`transports: ${e.stack ?? e.message}`);
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);
