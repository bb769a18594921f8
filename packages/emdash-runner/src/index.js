// @plugin-sandbox/emdash: EmDash's SandboxRunner backed by a `plugin-sandbox serve --embedded`
// child process, one per runner, over one multiplexed channel on a private Unix socket.
//
//   emdash({ sandboxRunner: "@plugin-sandbox/emdash", sandboxed: [...] })

import path from "node:path";

import { ChannelClosedError, ChannelTimeoutError } from "./channel.js";
import { discoverSqliteUrl, dialectHint, normalizeDatabaseUrl } from "./database.js";
import { SandboxUnavailableError, invocationError, parseErrorBody } from "./errors.js";
import { Host, LIMIT_NAMES, LOG_LEVELS, bundledWorkerd, findBinary, makeLogger } from "./host.js";

export { LIMIT_NAMES, SandboxUnavailableError };

/** EmDash's documented defaults (SandboxOptions.limits). */
export const DEFAULT_LIMITS = Object.freeze({ cpuMs: 50, memoryMb: 128, subrequests: 10, wallTimeMs: 30000 });


// An invocation's deadline is the plugin's wall-time limit plus this (the host answers
// wall_time_exceeded itself when the limit passes; this only catches a host that does not answer).
const DEADLINE_MARGIN_MS = 5000;
const LOAD_TIMEOUT_MS = 60000;
const TERMINATE_TIMEOUT_MS = 30000;
const START_TIMEOUT_MS = 15000;
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5000;
// A host that ran this long before dying restarts after the minimum delay again.
const STABLE_MS = 30000;

const INSTALL_HINT =
  "install the plugin-sandbox binary and put it on PATH, or set PLUGIN_SANDBOX_BIN to it " +
  "(see the README of @plugin-sandbox/emdash); sandboxed plugins will not run";

const warnedOnce = new Set();

const kInvoke = Symbol("invoke");
const kTerminate = Symbol("terminate");

function positiveInt(value, fallback) {
  const n = Number(value);
  return Number.isFinite(n) && n >= 1 ? Math.floor(n) : fallback;
}

function backoff(failures) {
  return Math.min(RESTART_MIN_MS * 2 ** Math.max(0, failures - 1), RESTART_MAX_MS);
}

function sleepUnref(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

// A path segment: percent-encoded, but `:` and `@` (hook names, scoped ids) stay readable.
function segment(text) {
  return encodeURIComponent(text).replace(/%3A/g, ":").replace(/%40/g, "@");
}

function exitDescription(info) {
  if (!info) return "stopped";
  if (info.error) return `could not run (${info.error.code ?? info.error.message})`;
  return info.signal ? `was killed by ${info.signal}` : `exited with status ${info.code}`;
}

/**
 * One sandboxed plugin as EmDash holds it: `id` is `<manifest id>:<version>`.
 */
class SandboxedPlugin {
  #runner;
  #id;
  terminated = false;

  constructor(runner, manifest) {
    this.#runner = runner;
    this.#id = `${manifest.id}:${manifest.version}`;
    this.pluginId = manifest.id;
    this.version = manifest.version;
    this.base = `/v1/plugins/${segment(manifest.id)}`;
  }

  get id() {
    return this.#id;
  }

  async invokeHook(hookName, event) {
    return this.#runner[kInvoke](this, "hook", String(hookName), JSON.stringify({ event }));
  }

  // `request` is EmDash's SerializedRequest {url, method, headers, meta}, passed on as it is.
  async invokeRoute(routeName, input, request) {
    return this.#runner[kInvoke](this, "route", String(routeName), JSON.stringify({ input, request }));
  }

  async terminate() {
    return this.#runner[kTerminate](this);
  }
}

/**
 * EmDash's SandboxRunner over plugin-sandbox. Options are EmDash's SandboxOptions plus, all
 * optional: `binary`, `dataDir`, `database` (a postgres:// URL or sqlite:PATH), `logLevel`,
 * `workerd`, `startTimeoutMs`. Each falls back to its PLUGIN_SANDBOX_* environment variable.
 */
export class PluginSandboxRunner {
  #options;
  #log;
  #settings;
  #binary = null; // findBinary() result, once asked
  #reason = null; // why the sandbox is unavailable for good (set once)
  #dbUrl = null;
  #dbPromise = null;
  #host = null; // the running, loaded host
  #starting = null; // Promise<Host> of the start attempt under way
  #generation = 0; // bumped by terminateAll(): attempts of an older generation stop themselves
  #failures = 0;
  #nextAttemptAt = 0;
  #plugins = new Map(); // manifest id -> {manifest, code, instance}
  #emailSend = null;

  constructor(options = {}) {
    this.#options = options;
    const env = process.env;
    let logLevel = String(options.logLevel ?? env.PLUGIN_SANDBOX_LOG_LEVEL ?? "info").toLowerCase();
    if (!LOG_LEVELS.includes(logLevel)) {
      console.warn(`[plugin-sandbox] log level ${JSON.stringify(logLevel)} is not one of ${LOG_LEVELS.join(", ")}; using info`);
      logLevel = "info";
    }
    this.#log = makeLogger(logLevel);
    const limits = options.limits ?? {};
    this.#settings = {
      dataDir: path.resolve(options.dataDir ?? env.PLUGIN_SANDBOX_DATA_DIR ?? path.join(process.cwd(), ".plugin-sandbox")),
      limits: Object.fromEntries(Object.entries(DEFAULT_LIMITS).map(([k, d]) => [k, positiveInt(limits[k], d)])),
      siteInfo: options.siteInfo,
      logLevel,
      workerd: options.workerd ?? env.PLUGIN_SANDBOX_WORKERD ?? bundledWorkerd(),
      startTimeoutMs: positiveInt(options.startTimeoutMs, START_TIMEOUT_MS),
    };
    this.#emailSend = typeof options.emailSend === "function" ? options.emailSend : null;

    // The database: given, else discovered from EmDash's Kysely (asked now, answered later).
    const given = options.database ?? env.PLUGIN_SANDBOX_DB;
    if (given) {
      try {
        this.#dbUrl = normalizeDatabaseUrl(given);
      } catch (err) {
        this.#unavailable(err.message);
      }
    } else if (dialectHint(options.db) === "postgres") {
      this.#unavailable(
        "the site's database is PostgreSQL and its URL cannot be read from EmDash's Kysely; set PLUGIN_SANDBOX_DB to the same postgres:// URL",
      );
    } else {
      this.#dbPromise = discoverSqliteUrl(options.db).then(
        (url) => {
          this.#dbUrl = url;
          this.#dbPromise = null;
        },
        (err) => {
          this.#dbPromise = null;
          this.#unavailable(err.message);
        },
      );
    }
  }

  /** The settings in effect (for diagnostics and tests). */
  get settings() {
    return { ...this.#settings, binary: this.#binary?.path ?? null, database: this.#dbUrl };
  }

  /** The host's process id while it runs. */
  get hostPid() {
    return this.#host?.pid ?? null;
  }

  /** The host's Unix socket while it runs (GET /healthz and /metrics need no token). */
  get socketPath() {
    return this.#host?.socketPath ?? null;
  }

  /** Why the sandbox is unavailable, or null. */
  get unavailableReason() {
    if (this.#reason) return this.#reason;
    const b = this.#checkedBinary();
    return b.ok ? null : `${b.reason}; ${INSTALL_HINT}`;
  }

  /**
   * Synchronous: whether the binary runs (`--version`, checked once) and nothing known so far
   * rules the site out. The site's SQLite file is found asynchronously (Kysely offers no
   * synchronous route to it); when that fails, later calls return false and load() rejects.
   */
  isAvailable() {
    if (this.#reason) return false;
    const b = this.#checkedBinary();
    if (!b.ok) {
      const message = `plugin-sandbox is not available: ${b.reason}; ${INSTALL_HINT}.`;
      if (!warnedOnce.has(message)) {
        warnedOnce.add(message);
        console.warn(`[plugin-sandbox] ${message}`);
      }
      return false;
    }
    return true;
  }

  // findBinary()'s answer, asked once.
  #checkedBinary() {
    return (this.#binary ??= findBinary(this.#options.binary));
  }

  /** True while the host runs and its channel is open. */
  isHealthy() {
    const h = this.#host;
    return h !== null && !h.hasExited && !h.channel.closed;
  }

  setEmailSend(callback) {
    this.#emailSend = typeof callback === "function" ? callback : null;
    const h = this.#host;
    if (h && !h.channel.closed && h.helloEmail !== (this.#emailSend !== null)) {
      this.#hello(h).catch((err) => this.#log.warn(`could not tell the host about email: ${err.message}`));
    }
  }

  async load(manifest, code) {
    if (!manifest || typeof manifest !== "object" || typeof manifest.id !== "string" || !manifest.id) {
      throw new TypeError("load(manifest, code): the manifest needs a string id");
    }
    if (typeof manifest.version !== "string" || !manifest.version) {
      throw new TypeError(`load(manifest, code): the manifest of ${manifest.id} needs a string version`);
    }
    if (typeof code !== "string") throw new TypeError(`load(manifest, code): the code of ${manifest.id} must be a string`);
    const label = `${manifest.id}:${manifest.version}`;
    if (!this.isAvailable()) throw new SandboxUnavailableError(label, this.unavailableReason);
    const entry = { manifest, code, instance: null };
    // One retry when the host died under the install: the restart does not know this plugin yet.
    for (let attempt = 0; ; attempt++) {
      const host = await this.#ready(label, LOAD_TIMEOUT_MS);
      try {
        await this.#put(host, entry);
        break;
      } catch (err) {
        if (!(err instanceof SandboxUnavailableError) || attempt > 0 || this.#reason) throw err;
      }
    }
    entry.instance = new SandboxedPlugin(this, manifest);
    const previous = this.#plugins.get(manifest.id);
    if (previous && previous.instance !== entry.instance) previous.instance.terminated = true;
    this.#plugins.set(manifest.id, entry);
    return entry.instance;
  }

  async terminateAll() {
    this.#generation++;
    for (const entry of this.#plugins.values()) entry.instance.terminated = true;
    this.#plugins.clear();
    const host = this.#host;
    this.#host = null;
    const starting = this.#starting;
    if (host) await host.stop();
    if (starting) await starting.catch(() => {}); // it sees the new generation and stops its host
    this.#failures = 0;
    this.#nextAttemptAt = 0;
  }

  // -------------------------------------------------------------------------------------------
  // Invocations

  async [kInvoke](instance, kind, name, payload) {
    if (instance.terminated) throw new SandboxUnavailableError(instance.id, "the plugin was terminated");
    const wall = this.#settings.limits.wallTimeMs;
    const target = `${instance.base}/${kind === "hook" ? "hooks" : "routes"}/${segment(name)}`;
    let res;
    try {
      res = await this.#request(instance.id, "POST", target, payload, wall + DEADLINE_MARGIN_MS);
    } catch (err) {
      if (err instanceof ChannelTimeoutError) {
        throw invocationError(instance, kind, name, 0, "wall_time_exceeded", err.message, wall);
      }
      throw err;
    }
    if (res.status === 200) {
      if (res.body.length === 0) return undefined;
      const doc = JSON.parse(res.body.toString("utf8"));
      // JSON cannot say undefined: a hook that returns nothing comes back as null, and EmDash's
      // runtime treats the two alike, so it is given undefined, as EmDash's own runner gives it
      // (docs/compatibility.md).
      if (kind === "hook") return doc?.value ?? undefined;
      return doc;
    }
    const { code, message } = parseErrorBody(res.status, res.body);
    throw invocationError(instance, kind, name, res.status, code, message, wall);
  }

  async [kTerminate](instance) {
    if (instance.terminated) return;
    instance.terminated = true;
    const entry = this.#plugins.get(instance.pluginId);
    if (!entry || entry.instance !== instance) return; // a newer version replaced it
    this.#plugins.delete(instance.pluginId);
    const host = this.#host;
    if (!host || host.channel.closed) return; // a restart will not load it again
    await this.#delete(host, instance.pluginId, instance.id);
  }

  // A request on the current host's channel, waiting for a (re)start when there is none.
  async #request(label, method, target, body, timeoutMs) {
    let host = this.#host;
    if (host === null || host.channel.closed) host = await this.#ready(label, timeoutMs);
    try {
      return await host.channel.request(method, target, body, timeoutMs);
    } catch (err) {
      if (err instanceof ChannelClosedError) {
        throw new SandboxUnavailableError(label, `the connection to plugin-sandbox was lost during the call (${err.reason}); it is being restarted`);
      }
      throw err;
    }
  }

  // The running host, or the one being started, within timeoutMs; SandboxUnavailableError if not.
  async #ready(label, timeoutMs) {
    const h = this.#host;
    if (h !== null && !h.channel.closed) return h;
    if (this.#reason) throw new SandboxUnavailableError(label, this.#reason);
    if (!this.#starting) this.#starting = this.#startAttempt();
    let timer;
    try {
      return await Promise.race([
        this.#starting,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new SandboxUnavailableError(label, `plugin-sandbox was not ready within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } catch (err) {
      if (err instanceof SandboxUnavailableError) {
        if (err.pluginId === label) throw err;
        throw new SandboxUnavailableError(label, err.reason);
      }
      throw new SandboxUnavailableError(label, err.message);
    } finally {
      clearTimeout(timer);
    }
  }

  // One attempt to start a host, say hello and load every plugin again. Waits out the backoff
  // after failures first.
  async #startAttempt() {
    const generation = this.#generation;
    let host = null;
    try {
      const wait = this.#nextAttemptAt - Date.now();
      if (wait > 0) await sleepUnref(wait);
      if (!this.isAvailable()) throw new Error(this.unavailableReason);
      if (this.#dbPromise) await this.#dbPromise;
      if (this.#reason) throw new Error(this.#reason);
      if (generation !== this.#generation) throw new Error("the runner was shut down");

      host = new Host(this.#log);
      await host.start(
        { ...this.#settings, bin: this.#binary.path, dbUrl: this.#dbUrl },
        { onCall: (op, body) => this.#onCall(op, body), onClose: (reason) => this.#channelLost(host, reason) },
      );
      await this.#hello(host).catch((err) => this.#log.warn(`email and media stay with the host: ${err.message}`));
      const loaded = [];
      for (const entry of this.#plugins.values()) {
        try {
          await this.#put(host, entry);
          loaded.push(entry);
        } catch (err) {
          if (host.channel.closed) throw err;
          this.#log.error(`could not load ${entry.manifest.id}:${entry.manifest.version} again after the restart: ${err.message}`);
        }
      }
      // Plugins terminated while they were being loaded again.
      for (const entry of loaded) {
        if (this.#plugins.get(entry.manifest.id) !== entry) {
          await this.#delete(host, entry.manifest.id, `${entry.manifest.id}:${entry.manifest.version}`).catch(() => {});
        }
      }
      if (generation !== this.#generation) throw new Error("the runner was shut down");
      if (host.hasExited || host.channel.closed) throw new Error(`plugin-sandbox stopped while starting:\n${host.tail()}`);
      host.exited.then((info) => this.#exited(host, info));
      this.#host = host;
      this.#log.debug(`host started (pid ${host.pid}, ${this.#binary.version}), ${this.#plugins.size} plugin(s) loaded`);
      return host;
    } catch (err) {
      if (host) await host.stop(2000);
      if (generation === this.#generation) {
        this.#failures++;
        this.#nextAttemptAt = Date.now() + backoff(this.#failures);
      }
      throw err;
    } finally {
      this.#starting = null;
    }
  }

  #exited(host, info) {
    if (this.#host !== host) return; // stopped on purpose, or already replaced
    this.#host = null;
    host.stop(0).catch(() => {}); // the process is gone: this closes the channel and removes its directory
    const uptime = Date.now() - host.startedAt;
    this.#failures = uptime >= STABLE_MS ? 1 : this.#failures + 1;
    const wait = backoff(this.#failures);
    this.#nextAttemptAt = Date.now() + wait;
    const tail = host.tail();
    this.#log.error(`the host (pid ${host.pid}) ${exitDescription(info)}; restarting it in ${wait} ms${tail ? `; it last said:\n${tail}` : ""}`);
    this.#restartInBackground();
  }

  #restartInBackground() {
    const generation = this.#generation;
    if (this.#host || this.#starting || this.#reason) return;
    this.#starting = this.#startAttempt();
    this.#starting.then(
      (host) => this.#log.info(`the host is back (pid ${host.pid}); ${this.#plugins.size} plugin(s) loaded again`),
      (err) => {
        if (generation !== this.#generation || this.#reason) return;
        this.#log.warn(`restarting the host failed: ${err.message}`);
        this.#restartInBackground();
      },
    );
  }

  // The channel closed while the process may live on: without a channel it is useless.
  #channelLost(host, reason) {
    if (this.#host !== host || host.hasExited) return;
    this.#log.warn(`lost the channel to the host (${reason}); restarting it`);
    host.killNow();
  }

  #unavailable(reason) {
    if (this.#reason) return;
    this.#reason = reason;
    console.warn(`[plugin-sandbox] sandboxed plugins are unavailable: ${reason}`);
  }

  // -------------------------------------------------------------------------------------------
  // Requests of the embedded API

  async #hello(host) {
    const email = this.#emailSend !== null;
    const media = Boolean(this.#options.mediaStorage);
    const res = await host.channel.request("POST", "/v1/channel/hello", JSON.stringify({ email, media }), 10000);
    if (res.status !== 200) {
      const { message } = parseErrorBody(res.status, res.body);
      throw new Error(`hello was answered ${res.status}: ${message}`);
    }
    host.helloEmail = email;
  }

  async #put(host, entry) {
    const { manifest, code } = entry;
    const label = `${manifest.id}:${manifest.version}`;
    let res;
    try {
      res = await host.channel.request(
        "PUT",
        `/v1/plugins/${segment(manifest.id)}`,
        JSON.stringify({ manifest, code }),
        LOAD_TIMEOUT_MS,
      );
    } catch (err) {
      if (err instanceof ChannelClosedError) {
        throw new SandboxUnavailableError(label, `the connection to plugin-sandbox was lost while loading (${err.reason})`);
      }
      throw err;
    }
    if (res.status === 200 || res.status === 201) return;
    const { code: errorCode, message } = parseErrorBody(res.status, res.body);
    const err =
      res.status === 503
        ? new SandboxUnavailableError(label, message)
        : new Error(`plugin-sandbox could not load plugin ${label}: ${message}`);
    err.code = errorCode;
    err.status = res.status;
    throw err;
  }

  async #delete(host, pluginId, label) {
    let res;
    try {
      res = await host.channel.request("DELETE", `/v1/plugins/${segment(pluginId)}`, "", TERMINATE_TIMEOUT_MS);
    } catch (err) {
      if (err instanceof ChannelClosedError) return; // the host is gone, and the plugin with it
      throw err;
    }
    if (res.status < 300 || res.status === 404) return;
    const { code, message } = parseErrorBody(res.status, res.body);
    const err = new Error(`plugin-sandbox could not stop plugin ${label}: ${message}`);
    err.code = code;
    err.status = res.status;
    throw err;
  }

  // Calls from the host into this process: the site's email pipeline and media storage.
  async #onCall(op, body) {
    switch (op) {
      case "email": {
        const { plugin, message } = JSON.parse(body.toString("utf8"));
        const send = this.#emailSend;
        if (!send) throw Object.assign(new Error("Email is not configured. No email provider is available."), { status: 503 });
        await send(message, plugin);
        return {};
      }
      case "media-upload": {
        const media = this.#options.mediaStorage;
        if (!media) throw Object.assign(new Error("This site has no media storage for sandboxed plugins"), { status: 503 });
        const nl = body.indexOf(10);
        if (nl < 0) throw Object.assign(new Error("media-upload: expected a JSON line, a newline, then the bytes"), { status: 400 });
        const { key, contentType } = JSON.parse(body.toString("utf8", 0, nl));
        const bytes = new Uint8Array(body.buffer, body.byteOffset + nl + 1, body.length - nl - 1);
        await media.upload({ key, body: bytes, contentType });
        return {};
      }
      case "media-delete": {
        const media = this.#options.mediaStorage;
        if (!media) throw Object.assign(new Error("This site has no media storage for sandboxed plugins"), { status: 503 });
        const { key } = JSON.parse(body.toString("utf8"));
        await media.delete(key);
        return {};
      }
      default:
        throw Object.assign(new Error(`unknown op ${op}`), { status: 404 });
    }
  }
}

/** EmDash's SandboxRunnerFactory: synchronous, no process is started until the first load(). */
export function createSandboxRunner(options) {
  return new PluginSandboxRunner(options);
}
