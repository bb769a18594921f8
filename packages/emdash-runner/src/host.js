// The `plugin-sandbox serve --embedded` child: finding the binary, starting it on a private Unix
// socket, waiting until it accepts the channel, stopping it, and its log lines.

import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants as fsConstants, rmSync, statSync } from "node:fs";
import { lstat, mkdtemp, readdir, rm, unlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";

import { openChannel } from "./channel.js";

const require = createRequire(import.meta.url);

/**
 * Each EmDash limit (SandboxOptions.limits) by its name on the host (`--limit NAME=N`). The host
 * declares its limits in one table (`plugin-sandbox describe`); test/describe.test.js keeps this
 * and DEFAULT_LIMITS equal to it.
 */
export const LIMIT_NAMES = Object.freeze({ cpuMs: "cpu-ms", memoryMb: "memory-mb", subrequests: "subrequests", wallTimeMs: "wall-ms" });

// ---------------------------------------------------------------------------------------------
// Logging: one prefix, levels as the host names them.

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "off"];
const RANK = Object.fromEntries(LOG_LEVELS.map((l, i) => [l, i]));
const PREFIX = "[plugin-sandbox]";

/** A logger writing `[plugin-sandbox] …` lines through console, at `level` and above. */
export function makeLogger(level) {
  const min = RANK[level] ?? RANK.info;
  const at = (l, fn) => (RANK[l] >= min ? (...args) => fn(PREFIX, ...args) : () => {});
  return {
    level: LOG_LEVELS[min],
    error: at("error", console.error),
    warn: at("warn", console.warn),
    info: at("info", console.info),
    debug: at("debug", console.debug),
    trace: at("trace", console.debug),
  };
}

// The host's stderr lines are `<ISO time> <level> <message>` (spdlog); anything else (a fatal
// message before logging starts) is shown as an error.
const HOST_LINE = /^\d{4}-\d\d-\d\dT[\d:.]+ (trace|debug|info|warning|warn|error|critical) (.*)$/;

function hostLine(log, line) {
  // Colour codes, if a terminal-less spdlog still emitted any.
  const text = line.includes("\x1b[") ? line.replace(/\x1b\[[0-9;]*m/g, "") : line;
  const m = HOST_LINE.exec(text);
  if (!m) {
    if (text.trim()) log.error(text);
    return;
  }
  const level = m[1] === "warning" ? "warn" : m[1] === "critical" ? "error" : m[1];
  log[level](m[2]);
}

// ---------------------------------------------------------------------------------------------
// The binary.

const versionCache = new Map(); // path -> {ok, version?, reason?}
// The first host with `serve --embedded` and the channel (docs/channel.md).
const MIN_HOST_MINOR = 2;

function onPath(name) {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * The plugin-sandbox binary: `explicit` (the runner's `binary` option), else PLUGIN_SANDBOX_BIN,
 * else `plugin-sandbox` on PATH; checked once per path with `--version`.
 * Returns `{ok: true, path, version}` or `{ok: false, reason}`.
 */
export function findBinary(explicit) {
  const given = explicit || process.env.PLUGIN_SANDBOX_BIN || "";
  const source = explicit ? "the runner's binary option" : given ? "PLUGIN_SANDBOX_BIN" : "PATH";
  const bin = given ? path.resolve(given) : onPath("plugin-sandbox");
  if (!bin) {
    return { ok: false, reason: "the plugin-sandbox binary was not found on PATH" };
  }
  let result = versionCache.get(bin);
  if (!result) {
    const r = spawnSync(bin, ["--version"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 5000,
      env: process.env,
    });
    if (r.error) {
      result = { ok: false, reason: `${bin} (from ${source}) cannot be run: ${r.error.code ?? r.error.message}` };
    } else if (r.status !== 0) {
      const why = (r.stderr || r.stdout || "").trim().split("\n").pop() || `exit status ${r.status ?? r.signal}`;
      result = { ok: false, reason: `${bin} --version failed: ${why}` };
    } else {
      const version = r.stdout.trim();
      const m = /^plugin-sandbox (\d+)\.(\d+)\.(\d+)/.exec(version);
      const [major, minor] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
      if (!m || (major === 0 && minor < MIN_HOST_MINOR)) {
        result = {
          ok: false,
          reason: `${bin} is ${version || "of an unknown version"}; @plugin-sandbox/emdash needs plugin-sandbox 0.${MIN_HOST_MINOR}.0 or later (serve --embedded)`,
        };
      } else {
        result = { ok: true, path: bin, version };
      }
    }
    versionCache.set(bin, result);
  }
  return result;
}

/** The workerd binary of our own `workerd` dependency, or null. */
export function bundledWorkerd() {
  const pkg = { "linux x64": "@cloudflare/workerd-linux-64", "linux arm64": "@cloudflare/workerd-linux-arm64" }[
    `${process.platform} ${process.arch}`
  ];
  if (!pkg) return null;
  const attempts = [() => require.resolve(`${pkg}/bin/workerd`)];
  // Without hoisting (pnpm), the platform package is only visible from `workerd` itself.
  attempts.push(() => createRequire(require.resolve("workerd/package.json")).resolve(`${pkg}/bin/workerd`));
  for (const attempt of attempts) {
    try {
      const file = attempt();
      accessSync(file, fsConstants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Children alive in this process: killed synchronously if Node exits without terminateAll().

const live = new Set(); // Host
let exitHookInstalled = false;

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const host of live) {
      host.killNow();
      host.removeDirNow();
    }
  });
}

// A Unix socket path must fit in sockaddr_un (108 bytes with the NUL).
const MAX_SOCKET_PATH = 107;

// Directories are named ps-<our pid>-XXXXXX. A Node process killed outright (SIGKILL) cannot
// remove its own; the next runner on the machine removes those of dead processes (ours only).
let swept = false;

async function sweepStaleDirs(base) {
  if (swept) return;
  swept = true;
  let names;
  try {
    names = await readdir(base);
  } catch {
    return;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const m = /^ps-(\d+)-[A-Za-z0-9]{6}$/.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue; // its process lives
    } catch (err) {
      if (err.code !== "ESRCH") continue;
    }
    try {
      const dir = path.join(base, name);
      const st = await lstat(dir);
      if (st.isDirectory() && (uid === undefined || st.uid === uid)) await rm(dir, { recursive: true, force: true });
    } catch {
      // gone meanwhile, or not ours
    }
  }
}

async function privateDir() {
  for (const base of [os.tmpdir(), "/tmp"]) {
    await sweepStaleDirs(base);
    // mkdtemp creates the directory with mode 0700.
    const dir = await mkdtemp(path.join(base, `ps-${process.pid}-`));
    if (Buffer.byteLength(path.join(dir, "host.sock")) <= MAX_SOCKET_PATH) return dir;
    await rm(dir, { recursive: true, force: true });
  }
  throw new Error(`no temporary directory short enough for a Unix socket path (TMPDIR=${os.tmpdir()})`);
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * One running host. `exited` resolves with `{code, signal}` when the process is gone;
 * `channel` is open once `start()` resolved.
 */
export class Host {
  child = null;
  dir = null;
  socketPath = null;
  channel = null;
  startedAt = 0;
  exited;
  #exitInfo = null;
  #resolveExited;
  #tail = []; // the last stderr lines, for a failure's reason
  #log;

  constructor(log) {
    this.#log = log;
    this.exited = new Promise((resolve) => {
      this.#resolveExited = resolve;
    });
  }

  get pid() {
    return this.child?.pid;
  }

  get hasExited() {
    return this.#exitInfo !== null;
  }

  /** What the host last said on stderr (a few lines), for error messages. */
  tail() {
    return this.#tail.join("\n");
  }

  /**
   * Starts `bin serve --embedded …` and opens the channel. `settings`: {bin, dataDir, dbUrl,
   * limits, siteInfo, logLevel, workerd, startTimeoutMs}; `channelOptions`: {onCall, onClose}.
   * On failure the process is stopped and the directory removed before the rejection.
   */
  async start(settings, channelOptions) {
    const deadline = Date.now() + settings.startTimeoutMs;
    this.dir = await privateDir();
    const tokenFile = path.join(this.dir, "admin-token");
    const socketPath = path.join(this.dir, "host.sock");
    const token = randomBytes(32).toString("hex");
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600, flag: "wx" });

    const { limits, siteInfo } = settings;
    const args = [
      "serve",
      "--embedded",
      "--listen", `unix:${socketPath}`,
      "--data", settings.dataDir,
      "--db", settings.dbUrl,
      "--admin-token-file", tokenFile,
      "--log-level", settings.logLevel,
    ];
    for (const [option, value] of Object.entries(limits)) args.push("--limit", `${LIMIT_NAMES[option]}=${value}`);
    if (siteInfo?.name) args.push("--site-name", String(siteInfo.name));
    if (siteInfo?.url) args.push("--site-url", String(siteInfo.url));
    if (siteInfo?.locale) args.push("--site-locale", String(siteInfo.locale));
    if (["always", "never", "ignore"].includes(siteInfo?.trailingSlash)) {
      args.push("--site-trailing-slash", siteInfo.trailingSlash);
    }

    // The host reads PLUGIN_SANDBOX_<OPTION> variables too: never let a token or a plugin
    // directory meant for a standalone host reach the embedded one.
    const env = { ...process.env };
    delete env.PLUGIN_SANDBOX_ADMIN_TOKEN;
    delete env.PLUGIN_SANDBOX_PLUGINS;
    if (settings.workerd && !env.PLUGIN_SANDBOX_WORKERD) env.PLUGIN_SANDBOX_WORKERD = settings.workerd;

    const child = spawn(settings.bin, args, {
      // stdin stays open and unwritten: the host exits when it closes, i.e. when we die.
      stdio: ["pipe", "ignore", "pipe"],
      env,
      // Its own process group: a terminal's Ctrl-C reaches Node, which decides when to stop it.
      detached: true,
    });
    this.child = child;
    this.startedAt = Date.now();
    live.add(this);
    installExitHook();
    child.on("exit", (code, signal) => {
      this.#exitInfo = { code, signal };
      live.delete(this);
      this.#resolveExited(this.#exitInfo);
    });
    child.on("error", (err) => {
      this.#tail.push(`cannot start ${settings.bin}: ${err.message}`);
      if (!this.#exitInfo) {
        this.#exitInfo = { code: null, signal: null, error: err };
        live.delete(this);
        this.#resolveExited(this.#exitInfo);
      }
    });
    child.stdin.on("error", () => {}); // EPIPE once the host is gone
    this.#readStderr(child.stderr);
    child.unref();
    child.stdin.unref?.();
    child.stderr.unref?.();

    try {
      this.channel = await this.#connect(socketPath, token, deadline, channelOptions);
    } catch (err) {
      await this.stop(2000);
      throw err;
    }
    // The host read the token when it started; from now on it exists only in the two processes.
    await unlink(tokenFile).catch(() => {});
    this.socketPath = socketPath;
    return this;
  }

  #readStderr(stream) {
    let rest = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      const text = rest + chunk;
      const lines = text.split("\n");
      rest = lines.pop();
      for (const line of lines) this.#line(line);
      if (rest.length > 64 * 1024) {
        this.#line(rest);
        rest = "";
      }
    });
    stream.on("end", () => {
      if (rest) this.#line(rest);
    });
  }

  #line(line) {
    if (!line) return;
    this.#tail.push(line);
    if (this.#tail.length > 12) this.#tail.shift();
    hostLine(this.#log, line);
  }

  // Connects with backoff until the host accepts the channel, it exits, or the deadline passes.
  async #connect(socketPath, token, deadline, channelOptions) {
    let wait = 5;
    for (;;) {
      if (this.#exitInfo) throw this.#startFailure();
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `plugin-sandbox did not accept connections on ${socketPath} within the start deadline${this.#said()}`,
        );
      }
      try {
        return await openChannel(socketPath, token, { timeoutMs: Math.min(left, 5000), ...channelOptions });
      } catch (err) {
        if (err.code !== "ENOENT" && err.code !== "ECONNREFUSED") {
          if (this.#exitInfo) throw this.#startFailure();
          throw new Error(`plugin-sandbox refused the channel: ${err.message}${this.#said()}`);
        }
      }
      await Promise.race([delay(Math.min(wait, Math.max(1, deadline - Date.now()))), this.exited]);
      wait = Math.min(wait * 2, 100);
    }
  }

  #said() {
    const tail = this.tail();
    return tail ? `; it said:\n${tail}` : "";
  }

  #startFailure() {
    const info = this.#exitInfo;
    const how = info.error
      ? `could not be started (${info.error.code ?? info.error.message})`
      : info.signal
        ? `was killed by ${info.signal} while starting`
        : `exited with status ${info.code} while starting`;
    return new Error(`plugin-sandbox ${how}${this.#said()}`);
  }

  /** SIGTERM, a bounded wait, then SIGKILL; closes the channel and removes the directory. */
  async stop(graceMs = 5000) {
    this.channel?.close("the runner stopped the host");
    if (this.child && !this.#exitInfo) {
      this.child.kill("SIGTERM");
      let timer;
      const timedOut = await Promise.race([
        this.exited.then(() => false),
        new Promise((resolve) => {
          timer = setTimeout(() => resolve(true), graceMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut && !this.#exitInfo) {
        this.#log.warn(`the host (pid ${this.child.pid}) did not stop within ${graceMs} ms of SIGTERM; killing it`);
        this.child.kill("SIGKILL");
        await Promise.race([this.exited, delay(2000)]);
      }
    }
    live.delete(this);
    if (this.dir) {
      await rm(this.dir, { recursive: true, force: true }).catch(() => {});
      this.dir = null;
    }
  }

  /** SIGKILL, synchronously: at process exit, or when the channel is lost and the host lives on. */
  killNow() {
    try {
      if (this.child && !this.#exitInfo) this.child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }

  /** Removes the private directory, synchronously (process exit). */
  removeDirNow() {
    if (this.dir) {
      try {
        rmSync(this.dir, { recursive: true, force: true });
      } catch {
        // best effort at exit
      }
    }
  }
}
