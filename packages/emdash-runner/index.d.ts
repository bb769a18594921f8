// Types of @plugin-sandbox/emdash, against EmDash's own exported types (emdash >= 0.31.1).

import type {
  PluginManifest,
  SandboxEmailSendCallback,
  SandboxOptions,
  SandboxRunner,
  SandboxedPluginInstance,
  SerializedRequest,
} from "emdash";

/** Levels of PLUGIN_SANDBOX_LOG_LEVEL / `logLevel`, as the host names them. */
export type PluginSandboxLogLevel = "trace" | "debug" | "info" | "warn" | "error" | "off";

/**
 * EmDash's SandboxOptions plus this runner's own settings. Every extra field is optional and
 * falls back to its environment variable, so EmDash's own options alone are enough.
 */
export interface PluginSandboxRunnerOptions extends SandboxOptions {
  /** The plugin-sandbox binary. Default: PLUGIN_SANDBOX_BIN, else `plugin-sandbox` on PATH. */
  binary?: string;
  /** The host's data directory. Default: PLUGIN_SANDBOX_DATA_DIR, else `<cwd>/.plugin-sandbox`. */
  dataDir?: string;
  /**
   * The database the host opens: `postgres://…` or `sqlite:PATH`. Default: PLUGIN_SANDBOX_DB,
   * else the SQLite file behind `db` (found with PRAGMA database_list).
   */
  database?: string;
  /** Default: PLUGIN_SANDBOX_LOG_LEVEL, else "info". Applies to the host too. */
  logLevel?: PluginSandboxLogLevel;
  /** The workerd binary. Default: PLUGIN_SANDBOX_WORKERD, else the one of the `workerd` dependency. */
  workerd?: string;
  /** How long the host may take to start accepting the channel (default 15000 ms). */
  startTimeoutMs?: number;
}

/** The settings a runner resolved (diagnostics). */
export interface PluginSandboxSettings {
  dataDir: string;
  limits: { cpuMs: number; memoryMb: number; subrequests: number; wallTimeMs: number };
  siteInfo: SandboxOptions["siteInfo"];
  logLevel: PluginSandboxLogLevel;
  workerd: string | null;
  startTimeoutMs: number;
  /** The binary, once isAvailable() looked for it. */
  binary: string | null;
  /** The host's --db URL, once known. */
  database: string | null;
}

/** A loaded plugin; `id` is `<manifest id>:<version>`. */
export interface PluginSandboxInstance extends SandboxedPluginInstance {
  readonly id: string;
  /** The manifest id. */
  readonly pluginId: string;
  readonly version: string;
  /** True after terminate(), terminateAll(), or a load of a newer version of the same id. */
  readonly terminated: boolean;
  invokeHook(hookName: string, event: unknown): Promise<unknown>;
  invokeRoute(routeName: string, input: unknown, request: SerializedRequest): Promise<unknown>;
  terminate(): Promise<void>;
}

/**
 * An invocation's failure: `Plugin <id:version> hook|route <name> failed: <message>` (or the
 * wall-time message of EmDash's runner), with plugin-sandbox's error code (host-api.md).
 */
export interface PluginSandboxError extends Error {
  /** e.g. "plugin_error", "cpu_limit_exceeded", "wall_time_exceeded", "not_found". */
  code: string;
  /** The host's HTTP status for the failure; absent when no answer arrived. */
  status?: number;
}

/**
 * The sandbox runtime is down (not installed, the database cannot be shared, restarting, shut
 * down). Same name, constructor and message as EmDash's `SandboxUnavailableError`.
 */
export declare class SandboxUnavailableError extends Error {
  constructor(pluginId: string, reason: string);
  readonly pluginId: string;
  readonly reason: string;
  /** plugin-sandbox's error code when the host answered 503 (plugin_unavailable, unavailable). */
  code?: string;
  status?: number;
}

/** EmDash's documented default limits. */
export declare const DEFAULT_LIMITS: Readonly<{ cpuMs: 50; memoryMb: 128; subrequests: 10; wallTimeMs: 30000 }>;
/** Each EmDash limit's name on the host (`plugin-sandbox serve --limit NAME=N`). */
export declare const LIMIT_NAMES: Readonly<{ cpuMs: "cpu-ms"; memoryMb: "memory-mb"; subrequests: "subrequests"; wallTimeMs: "wall-ms" }>;

export declare class PluginSandboxRunner implements SandboxRunner {
  constructor(options?: PluginSandboxRunnerOptions);
  /** The binary runs and nothing known so far rules the site's database out. Synchronous. */
  isAvailable(): boolean;
  /** The host runs and its channel is open. False before the first load(). */
  isHealthy(): boolean;
  load(manifest: PluginManifest, code: string): Promise<PluginSandboxInstance>;
  setEmailSend(callback: SandboxEmailSendCallback | null): void;
  /** Stops the host (SIGTERM, then SIGKILL) and forgets every plugin; a later load() starts a new one. */
  terminateAll(): Promise<void>;
  readonly settings: PluginSandboxSettings;
  /** The host's process id while it runs. */
  readonly hostPid: number | null;
  /** The host's Unix socket while it runs: GET /healthz and /metrics there need no token. */
  readonly socketPath: string | null;
  /** Why isAvailable() is false, or null. */
  readonly unavailableReason: string | null;
}

/** EmDash's SandboxRunnerFactory (synchronous; nothing starts before the first load()). */
export declare function createSandboxRunner(options: PluginSandboxRunnerOptions): PluginSandboxRunner;
