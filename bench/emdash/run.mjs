#!/usr/bin/env node
// Side-by-side benchmark of EmDash's own sandbox runner
// (@emdash-cms/sandbox-workerd 0.3.2) and ours (@plugin-sandbox/emdash):
// the same plugin (plugin.js) and the same measurements through both
// runners, in one run, on one EmDash-made site database, called through the
// SandboxRunner contract as EmDash's runtime calls it.
//
//   node bench/emdash/run.mjs [--quick] [--runners theirs,ours] [--json FILE]
//
// Prints a human table on stderr and one JSON document on stdout (and to
// --json FILE). Every package is resolved from packages/emdash-runner (the
// harness uses createRequire pointed there). Bounded: about 1 minute with
// --quick, under 5 minutes by default; every wait has a deadline.
//
// Measured per runner:
//  - cold start of 1 and of 10 plugins: construct the runner, load, until
//    every plugin has answered one route call (after one uncounted warm-up);
//  - PSS of the runner's child processes (/proc/<pid>/smaps_rollup) with 1
//    and with 10 plugins, and per added plugin;
//  - sequential round trip of a route and of a hook (median, p99);
//  - per bridge call: a route making n kv.get calls against n = 0;
//  - throughput and p99 with 16 concurrent callers over 4 plugins;
//  - a neighbour's latency and failures while one plugin spins;
//  - a memory bomb (a plugin keeping 16 MiB of JS heap per call; limits
//    memoryMb 128, cpuMs 2000) beside a neighbour, then the bombing plugin
//    reinstalled (terminate + load): neighbour latency, peak PSS, reinstall
//    time until its first answer.
//
// bench/emdash/transports.mjs compares the ways a Node process can reach the host
// (the channel, http.Agent with and without keep-alive, fetch) on one route call.

import { writeFileSync, readFileSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const HARNESS = resolve(HERE, "../../packages/emdash-runner/test/differential/harness.js");
const h = await import(pathToFileURL(HARNESS).href);

// ---------------------------------------------------------------------------
// Arguments and settings
// ---------------------------------------------------------------------------

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const QUICK = flag("--quick");
const RUNNERS = (option("--runners") ?? "theirs,ours").split(",").map((s) => s.trim());
const JSON_FILE = option("--json");

const S = QUICK
  ? { cold1: 1, cold10: 1, seq: 100, warm: 20, bridgeN: 20, bridgeReps: 10, tputMs: 1500, spinWallMs: 1000, spinWatchMs: 1500, leakCalls: 10, leakMb: 16 }
  : { cold1: 3, cold10: 2, seq: 1000, warm: 50, bridgeN: 40, bridgeReps: 30, tputMs: 8000, spinWallMs: 2000, spinWatchMs: 3000, leakCalls: 24, leakMb: 16 };
const CALL_DEADLINE_MS = 30_000;
const RUN_DEADLINE_MS = QUICK ? 150_000 : 420_000;

// EmDash code logs; keep stdout for the JSON document.
for (const level of ["log", "info", "debug"]) console[level] = (...a) => console.error(...a);
const say = (...a) => process.stderr.write(`${a.join(" ")}\n`);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const CODE = readFileSync(join(HERE, "plugin.js"), "utf8");
const entry = (id, extra = {}) => ({ id, version: "1.0.0", capabilities: [], allowedHosts: [], storage: {}, ...extra });
const now = () => performance.now();

function quantile(values, q) {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
const median = (v) => quantile(v, 0.5);
const p99 = (v) => quantile(v, 0.99);
const round = (x, d = 3) => (x === null || x === undefined || Number.isNaN(x) ? null : Number(x.toFixed(d)));

let serializedPing = null;
async function pingRequest() {
  serializedPing ??= (await h.serializeRequest({ url: "https://site.example/_emdash/api/plugins/bench/ping", method: "POST", body: {} }))
    .serialized;
  return serializedPing;
}

/** One route call, EmDash's envelope; returns {ok, ms, error?}. */
async function timedRoute(inst, name, input, deadlineMs = CALL_DEADLINE_MS) {
  const req = await pingRequest();
  const t0 = now();
  try {
    const r = await h.callRoute(inst, name, input, req, deadlineMs);
    return { ok: r.success, ms: now() - t0, error: r.success ? undefined : r.error.message };
  } catch (e) {
    return { ok: false, ms: now() - t0, error: e.message };
  }
}

async function timedHook(inst, name, event) {
  const t0 = now();
  const r = await h.callHook(inst, name, event, CALL_DEADLINE_MS);
  return { ok: r.ok, ms: now() - t0, error: r.error };
}

function runnerPssKiB() {
  const procs = h.descendants();
  return { kib: procs.reduce((n, p) => n + h.pssKiB(p.pid), 0), processes: procs.length };
}

async function noChildrenLeft() {
  const left = await h.pollUntil(async () => (h.descendants().length === 0 ? true : undefined), {
    deadlineMs: 15_000,
    intervalMs: 100,
    maxTries: 200,
  });
  return left === true;
}

/** A runner on the shared database; `plugins` loaded. */
async function envWith(kind, dbFile, { limits } = {}) {
  return h.makeEnv(kind, { dbFile, limits });
}

function stats(samples) {
  const ms = samples.filter((s) => s.ok).map((s) => s.ms);
  return { n: samples.length, failed: samples.filter((s) => !s.ok).length, median_ms: round(median(ms)), p99_ms: round(p99(ms)) };
}

// ---------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------

async function coldStart(kind, dbFile, count) {
  await noChildrenLeft();
  const t0 = now();
  const env = await envWith(kind, dbFile);
  try {
    const insts = [];
    const tl = now();
    for (let i = 0; i < count; i++) insts.push(await env.load(entry(`cold-${i}`), CODE));
    const loadedMs = now() - tl;
    const first = await Promise.all(insts.map((p) => timedRoute(p, "ping", {})));
    const readyMs = now() - t0;
    if (!first.every((r) => r.ok)) throw new Error(`${kind}: cold start call failed: ${first.find((r) => !r.ok).error}`);
    const pss = runnerPssKiB();
    return { loadMs: loadedMs, readyMs, pss };
  } finally {
    await env.close();
  }
}

async function measureCold(kind, dbFile) {
  await coldStart(kind, dbFile, 1); // warm-up, not counted (Node-side first-use costs)
  const one = [];
  for (let i = 0; i < S.cold1; i++) one.push(await coldStart(kind, dbFile, 1));
  const ten = [];
  for (let i = 0; i < S.cold10; i++) ten.push(await coldStart(kind, dbFile, 10));
  const pss1 = median(one.map((r) => r.pss.kib));
  const pss10 = median(ten.map((r) => r.pss.kib));
  return {
    cold_start_1_ms: round(median(one.map((r) => r.readyMs)), 1),
    cold_start_10_ms: round(median(ten.map((r) => r.readyMs)), 1),
    load_returns_1_ms: round(median(one.map((r) => r.loadMs)), 1),
    pss_1_plugin_mib: round(pss1 / 1024, 1),
    pss_10_plugins_mib: round(pss10 / 1024, 1),
    pss_per_added_plugin_mib: round((pss10 - pss1) / 9 / 1024, 2),
    processes_10_plugins: ten[0].pss.processes,
  };
}

async function measureSteady(kind, dbFile) {
  const env = await envWith(kind, dbFile);
  try {
    const ps = [];
    for (let i = 0; i < 4; i++) ps.push(await env.load(entry(`bench-${i}`), CODE));
    for (const p of ps) {
      const r = await timedRoute(p, "ping", {});
      if (!r.ok) throw new Error(`${kind}: first call failed: ${r.error}`);
    }
    const [p] = ps;
    await h.callRoute(p, "kv", { n: 0 }, await pingRequest());
    // KV value for the bridge loop
    const set = await h.callRoute(p, "kv", { n: 1 }, await pingRequest());
    if (!set.success) throw new Error(`${kind}: kv route failed: ${set.error.message}`);

    for (let i = 0; i < S.warm; i++) await timedRoute(p, "ping", {});
    const route = [];
    for (let i = 0; i < S.seq; i++) route.push(await timedRoute(p, "ping", {}));
    const event = { content: { title: "Bench", slug: "bench" }, collection: "posts", isNew: true };
    for (let i = 0; i < S.warm; i++) await timedHook(p, "content:beforeSave", event);
    const hook = [];
    for (let i = 0; i < S.seq; i++) hook.push(await timedHook(p, "content:beforeSave", event));

    const zero = [];
    const many = [];
    for (let i = 0; i < S.bridgeReps; i++) {
      zero.push(await timedRoute(p, "kv", { n: 0 }));
      many.push(await timedRoute(p, "kv", { n: S.bridgeN }));
    }
    const perBridge = (median(many.filter((r) => r.ok).map((r) => r.ms)) - median(zero.filter((r) => r.ok).map((r) => r.ms))) / S.bridgeN;

    // 16 concurrent callers over the 4 plugins, for a fixed time.
    const lat = [];
    let failed = 0;
    const end = now() + S.tputMs;
    const t0 = now();
    await Promise.all(
      Array.from({ length: 16 }, async (_, i) => {
        const inst = ps[i % 4];
        while (now() < end) {
          const r = await timedRoute(inst, "ping", {});
          if (r.ok) lat.push(r.ms);
          else failed++;
        }
      }),
    );
    const elapsed = (now() - t0) / 1000;
    return {
      route: stats(route),
      hook: stats(hook),
      bridge_call_ms: round(perBridge),
      throughput: { callers: 16, plugins: 4, calls_per_s: round(lat.length / elapsed, 0), p99_ms: round(p99(lat)), median_ms: round(median(lat)), failed },
    };
  } finally {
    await env.close();
  }
}

/** Neighbour calls in a loop until `stop()`; returns samples with their start times. */
function neighbourLoop(inst, stopAt) {
  const samples = [];
  const done = (async () => {
    while (!stopAt()) {
      const start = now();
      const r = await timedRoute(inst, "ping", {}, 10_000);
      samples.push({ ...r, start });
    }
  })();
  return { samples, done };
}

async function measureSpin(kind, dbFile) {
  await noChildrenLeft();
  const env = await envWith(kind, dbFile, { limits: { wallTimeMs: S.spinWallMs } });
  const t0 = now();
  try {
    const spinner = await env.load(entry("spinner"), CODE);
    const neighbour = await env.load(entry("neighbour"), CODE);
    for (const p of [spinner, neighbour]) {
      const r = await timedRoute(p, "ping", {});
      if (!r.ok) throw new Error(`${kind}: first call failed: ${r.error}`);
    }
    const before = [];
    for (let i = 0; i < 20; i++) before.push(await timedRoute(neighbour, "ping", {}));
    const spinStart = now();
    const spin = timedRoute(spinner, "spin", {});
    const watchEnd = spinStart + S.spinWatchMs;
    const loop = neighbourLoop(neighbour, () => now() >= watchEnd);
    const spinResult = await spin;
    await loop.done;
    const after = [];
    for (let i = 0; i < 5; i++) after.push(await timedRoute(neighbour, "ping", {}, S.spinWallMs + 2000));
    return {
      wall_limit_ms: S.spinWallMs,
      spin_call: { ok: spinResult.ok, ms: round(spinResult.ms, 1), error: spinResult.error },
      neighbour_before: stats(before),
      neighbour_during: stats(loop.samples),
      neighbour_after: stats(after),
    };
  } finally {
    const tc = now();
    await env.close();
    say(`  ${kind}: spin: terminateAll took ${Math.round(now() - tc)} ms (phase ${Math.round(now() - t0)} ms)`);
  }
}

async function measureLeak(kind, dbFile) {
  await noChildrenLeft();
  // CPU raised (on both; EmDash's accepts and ignores it) so that the memory
  // limit, not the CPU limit, is what a 16 MiB allocation meets.
  const env = await envWith(kind, dbFile, { limits: { cpuMs: 2000, memoryMb: 128 } });
  try {
    const bomb = await env.load(entry("bomb"), CODE);
    const neighbour = await env.load(entry("quiet"), CODE);
    for (const p of [bomb, neighbour]) {
      const r = await timedRoute(p, "ping", {});
      if (!r.ok) throw new Error(`${kind}: first call failed: ${r.error}`);
    }
    const pssStart = runnerPssKiB().kib;
    let bombing = true;
    const loop = neighbourLoop(neighbour, () => !bombing);
    const leakCalls = [];
    let pssPeak = pssStart;
    for (let i = 0; i < S.leakCalls; i++) {
      leakCalls.push(await timedRoute(bomb, "leak", { mb: S.leakMb }));
      pssPeak = Math.max(pssPeak, runnerPssKiB().kib);
    }
    bombing = false;
    await loop.done;
    const firstFailure = leakCalls.findIndex((r) => !r.ok);

    // Reinstall the bombing plugin (terminate, load again) beside the neighbour.
    let reinstalling = true;
    const loop2 = neighbourLoop(neighbour, () => !reinstalling);
    const t0 = now();
    await bomb.terminate();
    const again = await env.load(entry("bomb"), CODE);
    const first = await timedRoute(again, "ping", {});
    const reinstallMs = now() - t0;
    reinstalling = false;
    await loop2.done;
    const neighbourDuringReinstall = loop2.samples;
    return {
      leak_mb_per_call: S.leakMb,
      leak_calls: leakCalls.length,
      leak_first_failure_at_call: firstFailure >= 0 ? firstFailure + 1 : null,
      leak_failures: leakCalls.filter((r) => !r.ok).length,
      leak_failure_message: leakCalls.find((r) => !r.ok)?.error ?? null,
      pss_start_mib: round(pssStart / 1024, 1),
      pss_peak_mib: round(pssPeak / 1024, 1),
      neighbour_during_leak: stats(loop.samples),
      reinstall_ms: round(reinstallMs, 1),
      reinstall_first_call_ok: first.ok,
      neighbour_during_reinstall: {
        ...stats(neighbourDuringReinstall),
        max_ms: round(Math.max(0, ...neighbourDuringReinstall.map((s) => s.ms))),
      },
    };
  } finally {
    await env.close();
  }
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function benchRunner(kind, dbFile) {
  const out = { runner: kind };
  const phases = [
    ["cold", measureCold],
    ["steady", measureSteady],
    ["spin", measureSpin],
    ["leak", measureLeak],
  ];
  for (const [name, fn] of phases) {
    const t0 = now();
    try {
      out[name] = await h.withDeadline(fn(kind, dbFile), RUN_DEADLINE_MS / 2, `${kind} ${name}`);
    } catch (e) {
      out[name] = { error: e.message };
    }
    say(`  ${kind}: ${name} done in ${Math.round(now() - t0)} ms`);
  }
  return out;
}

function ratio(ours, theirs) {
  if (typeof ours !== "number" || typeof theirs !== "number" || theirs === 0) return null;
  return round(ours / theirs, 2);
}

const ROWS = [
  ["cold start, 1 plugin (ms)", (r) => r.cold?.cold_start_1_ms],
  ["cold start, 10 plugins (ms)", (r) => r.cold?.cold_start_10_ms],
  ["load() call returns, 1 plugin (ms)", (r) => r.cold?.load_returns_1_ms],
  ["PSS, 1 plugin (MiB)", (r) => r.cold?.pss_1_plugin_mib],
  ["PSS, 10 plugins (MiB)", (r) => r.cold?.pss_10_plugins_mib],
  ["PSS per added plugin (MiB)", (r) => r.cold?.pss_per_added_plugin_mib],
  ["route round trip median (ms)", (r) => r.steady?.route?.median_ms],
  ["route round trip p99 (ms)", (r) => r.steady?.route?.p99_ms],
  ["hook round trip median (ms)", (r) => r.steady?.hook?.median_ms],
  ["hook round trip p99 (ms)", (r) => r.steady?.hook?.p99_ms],
  ["per bridge call (ms)", (r) => r.steady?.bridge_call_ms],
  ["16 callers x 4 plugins (calls/s)", (r) => r.steady?.throughput?.calls_per_s],
  ["16 callers x 4 plugins p99 (ms)", (r) => r.steady?.throughput?.p99_ms],
  ["neighbour during spin: ok/failed", (r) => (r.spin?.neighbour_during ? `${r.spin.neighbour_during.n - r.spin.neighbour_during.failed}/${r.spin.neighbour_during.failed}` : undefined)],
  ["neighbour during spin p99 (ms)", (r) => r.spin?.neighbour_during?.p99_ms],
  ["neighbour after spin: ok/failed", (r) => (r.spin?.neighbour_after ? `${r.spin.neighbour_after.n - r.spin.neighbour_after.failed}/${r.spin.neighbour_after.failed}` : undefined)],
  ["leak: first failing call (16 MiB each)", (r) => r.leak?.leak_first_failure_at_call ?? (r.leak ? "none" : undefined)],
  ["leak: peak PSS (MiB)", (r) => r.leak?.pss_peak_mib],
  ["neighbour during leak p99 (ms)", (r) => r.leak?.neighbour_during_leak?.p99_ms],
  ["neighbour during leak failed", (r) => r.leak?.neighbour_during_leak?.failed],
  ["reinstall until first answer (ms)", (r) => r.leak?.reinstall_ms],
  ["neighbour max latency, reinstall (ms)", (r) => r.leak?.neighbour_during_reinstall?.max_ms],
];

function table(results) {
  const theirs = results.theirs ?? {};
  const ours = results.ours ?? {};
  const lines = [["measurement", "theirs", "ours", "ours/theirs"]];
  for (const [label, get] of ROWS) {
    const t = get(theirs);
    const o = get(ours);
    const r = ratio(o, t);
    lines.push([label, t ?? "-", o ?? "-", r ?? "-"]);
  }
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => String(l[i]).length)));
  return lines.map((l) => l.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join("  ")).join("\n");
}

let loadStart = 0;

async function main() {
  const started = now();
  loadStart = loadavg()[0];
  const template = await h.templateSite();
  const dir = mkdtempSync(join(tmpdir(), "emdash-bench-"));
  const dbFile = join(dir, "site.db");
  copyFileSync(template.file, dbFile);
  const results = {};
  const skipped = {};
  try {
    for (const kind of RUNNERS) {
      const st = h.runnerStatus(kind);
      if (!st.available) {
        skipped[kind] = st.reason;
        say(`${kind}: skipped: ${st.reason}`);
        continue;
      }
      say(`${kind}: running${QUICK ? " (quick)" : ""}`);
      results[kind] = await benchRunner(kind, dbFile);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await h.removeTemplateSite();
  }
  const ratios = {};
  for (const [label, get] of ROWS) {
    const r = ratio(get(results.ours ?? {}), get(results.theirs ?? {}));
    if (r !== null) ratios[label] = r;
  }
  const doc = {
    benchmark: "emdash-runners",
    quick: QUICK,
    settings: S,
    node: process.version,
    cpus: availableParallelism(),
    loadavg_1m_start: round(loadStart, 2),
    loadavg_1m_end: round(loadavg()[0], 2),
    started: new Date(Date.now() - (now() - started)).toISOString(),
    seconds: round((now() - started) / 1000, 1),
    skipped,
    results,
    ratios_ours_over_theirs: ratios,
  };
  say("");
  say(table(results));
  say(`\nwhole run: ${doc.seconds} s; load average ${doc.loadavg_1m_start} -> ${doc.loadavg_1m_end} on ${doc.cpus} CPUs`);
  // The run loads the machine itself; only a busy start says someone else did.
  if (doc.loadavg_1m_start > doc.cpus * 0.75) {
    say("warning: the machine was already busy when the run started; latencies and throughput are noisy");
  }
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  if (JSON_FILE) writeFileSync(JSON_FILE, text);
  process.stdout.write(text);
}

await h.withDeadline(main(), RUN_DEADLINE_MS, "benchmark");
process.exit(0);
