// plugin-sandbox: the main module of every plugin worker. Generated per plugin: the host replaces
// the __PS_*__ placeholders with JSON literals before writing the file. It builds `ctx`, serves the
// host's invocations, and carries every ctx call to the host's bridge. The plugin's own module
// cannot see these constants (they are not exported).
import * as pluginModule from "./sandbox-plugin.js";

const PLUGIN = __PS_PLUGIN__;            // {id, version}
const SITE = __PS_SITE__;                // {name, url, locale, trailingSlash}
const CAPABILITIES = __PS_CAPABILITIES__;  // normalized (current names)
const BRIDGE_TOKEN = __PS_BRIDGE_TOKEN__;
const INVOKE_AUTH = "Bearer " + __PS_INVOKE_TOKEN__;

const INVOCATION_HEADER = "x-ps-invocation";
const INPUT_HEADER = "x-ps-input";
const PARAMS_HEADER = "x-ps-params";
// Small printable-ASCII params travel in a header: a fetch() without a body costs workerd less
// (as for hook input, the other way; docs/performance.md).
const INLINE_MAX = 4096;
const PRINTABLE = /^[\x20-\x7e]*$/;
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

// ---- the plugin's hooks and routes --------------------------------------------------------

function resolveDefinition(mod) {
  const def = mod.default;
  const fromDefault = def && typeof def === "object" ? def : {};
  return {
    hooks: fromDefault.hooks ?? mod.hooks ?? {},
    routes: fromDefault.routes ?? mod.routes ?? {},
  };
}

const DEFINITION = resolveDefinition(pluginModule);

function hookEntry(name) {
  const h = DEFINITION.hooks[name];
  if (h === undefined || h === null) return undefined;
  if (typeof h === "function") return { handler: h };
  return h;
}

function routeEntry(name) {
  if (!Object.prototype.hasOwnProperty.call(DEFINITION.routes, name)) return undefined;
  const r = DEFINITION.routes[name];
  if (typeof r === "function") return { handler: r };
  return r;
}

function describe() {
  const hooks = {};
  for (const name of Object.keys(DEFINITION.hooks)) {
    const h = hookEntry(name);
    if (!h) continue;
    const opts = {};
    for (const k of ["priority", "timeout", "dependencies", "errorPolicy", "exclusive"]) {
      if (h[k] !== undefined) opts[k] = h[k];
    }
    hooks[name] = opts;
  }
  const routes = {};
  for (const name of Object.keys(DEFINITION.routes)) {
    const r = routeEntry(name);
    routes[name] = r && r.public !== undefined ? { public: !!r.public } : {};
  }
  return { hooks, routes };
}

// ---- bytes ----------------------------------------------------------------------------------

function bytesToBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function base64ToBytes(b64) {
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function viewBytes(v) {
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

// ---- the bridge -------------------------------------------------------------------------------

const FENCE_CODES = new Set([
  "MEDIA_USAGE_ACTIVATION_IN_PROGRESS",
  "MEDIA_USAGE_ACTIVATION_CHECK_FAILED",
]);

function bridgeError(method, status, text) {
  let payload;
  try { payload = JSON.parse(text); } catch { payload = undefined; }
  const e = payload && payload.error;
  if (e && typeof e === "object" && FENCE_CODES.has(e.code)) {
    const err = new Error(e.message);
    err.name = e.code;
    err.code = e.code;
    err.status = 503;
    return err;
  }
  if (typeof e === "string") {
    const err = new Error(e);
    err.code = payload.code ?? "bridge_error";
    return err;
  }
  const err = new Error(`Bridge call ${method} failed with status ${status}`);
  err.code = "bridge_error";
  return err;
}

// Bridge calls can travel as messages on one WebSocket to the bridge (the call channel) instead
// of a fetch() each: workerd sends a message for about a third of what a fetch() costs it, but
// opening the channel costs about two fetches, so it pays from about the third call on it
// (docs/performance.md). The wrapper remembers how many calls each hook or route made the last
// time it ran: one that made at least CHANNEL_MIN_CALLS opens the channel at its first call; any
// other opens it only once it has made that many calls by fetch(), so handlers making a few calls
// never pay for it. http/fetch keeps requests of its own (the host serves a channel's calls one
// at a time, and a fetch may wait for seconds), and so do params too large for one message.
const CHANNEL_MIN_CALLS = 5;
const CHANNEL_MAX_PARAMS = 1 << 20;
const OWN_REQUEST_METHODS = new Set(["http/fetch"]);
const LAST_CALLS = new Map();  // invocation path -> bridge calls it made last time
const LAST_CALLS_MAX = 256;

class Channel {
  // Null when the host refuses the channel: the calls then use requests, which report why.
  static async open(env, invocationId) {
    const res = await env.BRIDGE.fetch("http://bridge/_channel", {
      headers: {
        "upgrade": "websocket",
        "authorization": "Bearer " + BRIDGE_TOKEN,
        [INVOCATION_HEADER]: invocationId,
      },
    });
    const ws = res.webSocket;
    if (!ws) {
      await res.text();
      return null;
    }
    ws.accept();
    return new Channel(ws);
  }

  constructor(ws) {
    this.ws = ws;
    this.next = 1;
    this.waiting = new Map();  // id -> {method, resolve, reject}
    this.closed = false;
    ws.addEventListener("message", (e) => this.onMessage(e.data));
    ws.addEventListener("close", () => this.fail("closed"));
    ws.addEventListener("error", () => this.fail("failed"));
  }

  call(method, json) {
    if (this.closed) return Promise.reject(channelError(method, "closed"));
    const id = this.next++;
    return new Promise((resolve, reject) => {
      try {
        this.ws.send(id + " " + method + "\n" + json);
      } catch {
        this.closed = true;  // the host closed it: later calls go by request
        reject(channelError(method, "closed"));
        return;
      }
      this.waiting.set(id, { method, resolve, reject });
    });
  }

  // "<id> <status>\n<body>": the body is what the HTTP request would have got.
  onMessage(data) {
    if (typeof data !== "string") return;
    const space = data.indexOf(" ");
    const newline = data.indexOf("\n");
    if (space < 0 || newline < space) return;
    const id = Number(data.slice(0, space));
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    const status = Number(data.slice(space + 1, newline));
    const text = data.slice(newline + 1);
    try {
      w.resolve(bridgeResult(w.method, status, text));
    } catch (err) {
      w.reject(err);
    }
  }

  fail(how) {
    this.closed = true;
    for (const w of this.waiting.values()) w.reject(channelError(w.method, how));
    this.waiting.clear();
  }

  // The host also ends the channel when the invocation is over (BackingService::EndInvocation).
  close() {
    if (this.closed) return;
    this.fail("closed");
    try { this.ws.close(1000, "invocation done"); } catch { /* already closing */ }
  }
}

function channelError(method, how) {
  const err = new Error(`Bridge call ${method} failed: the bridge channel ${how}`);
  err.code = "bridge_error";
  return err;
}

function bridgeResult(method, status, text) {
  if (status < 200 || status > 299) throw bridgeError(method, status, text);
  const parsed = text ? JSON.parse(text) : {};
  return parsed.result;
}

class Invocation {
  constructor(env, id, path) {
    this.env = env;
    this.id = id;
    this.path = path;
    this.pending = new Set();
    this.calls = 0;
    this.channelFrom =
        (LAST_CALLS.get(path) ?? 0) >= CHANNEL_MIN_CALLS ? 1 : CHANNEL_MIN_CALLS + 1;
    this.channel = null;  // a promise of a Channel (or null), once opened
  }

  call(method, body) {
    const p = this.send(method, body);
    this.pending.add(p);
    const done = () => this.pending.delete(p);
    p.then(done, done);
    return p;
  }

  async send(method, body) {
    const json = JSON.stringify(body ?? {});
    if (++this.calls >= this.channelFrom && !OWN_REQUEST_METHODS.has(method) &&
        json.length <= CHANNEL_MAX_PARAMS) {
      this.channel ??= Channel.open(this.env, this.id).catch(() => null);
      const channel = await this.channel;
      if (channel && !channel.closed) return channel.call(method, json);
    }
    const headers = {
      "authorization": "Bearer " + BRIDGE_TOKEN,
      "content-type": "application/json",
      [INVOCATION_HEADER]: this.id,
    };
    const init = { method: "POST", headers };
    if (json.length <= INLINE_MAX && PRINTABLE.test(json)) {
      headers[PARAMS_HEADER] = json;
    } else {
      init.body = json;
    }
    const res = await this.env.BRIDGE.fetch("http://bridge/" + method, init);
    return bridgeResult(method, res.status, await res.text());
  }

  // Waits for bridge calls the handler started but did not await (ctx.log without await, say),
  // so none of them outlives the invocation that made it; then closes the channel.
  async settle() {
    for (let round = 0; round < 100 && this.pending.size > 0; round++) {
      await Promise.allSettled([...this.pending]);
    }
    if (this.channel) {
      const channel = await this.channel;
      if (channel) channel.close();
    }
    if (LAST_CALLS.size < LAST_CALLS_MAX || LAST_CALLS.has(this.path)) {
      LAST_CALLS.set(this.path, this.calls);
    }
  }
}

// ---- ctx.http.fetch marshalling (bridge.md §8.1) --------------------------------------------

function headerPairs(headers) {
  if (!headers) return [];
  if (headers instanceof Headers) return [...headers.entries()];
  if (Array.isArray(headers)) return headers.map((p) => [p[0], p[1]]);
  return Object.entries(headers);
}

function hasHeader(pairs, name) {
  return pairs.some((p) => typeof p[0] === "string" && p[0].toLowerCase() === name);
}

async function marshalInit(init) {
  if (!init) return undefined;
  const out = {};
  if (init.method) out.method = init.method;
  if (init.redirect) out.redirect = init.redirect;
  const headers = headerPairs(init.headers);
  const body = init.body;
  if (body !== undefined && body !== null) {
    if (typeof body === "string") {
      out.bodyType = "string";
      out.body = body;
    } else if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) {
      out.bodyType = "base64";
      out.body = bytesToBase64(viewBytes(body));
    } else if (typeof Blob !== "undefined" && body instanceof Blob) {
      out.bodyType = "base64";
      out.body = bytesToBase64(new Uint8Array(await body.arrayBuffer()));
      if (body.type && !hasHeader(headers, "content-type")) headers.push(["content-type", body.type]);
    } else if (typeof FormData !== "undefined" && body instanceof FormData) {
      out.bodyType = "formdata";
      out.body = [];
      for (const [name, value] of body.entries()) {
        if (typeof value === "string") {
          out.body.push({ name, value });
        } else {
          out.body.push({
            name,
            value: bytesToBase64(new Uint8Array(await value.arrayBuffer())),
            filename: value.name,
            type: value.type,
            isBlob: true,
          });
        }
      }
    } else if (body instanceof URLSearchParams) {
      out.bodyType = "string";
      out.body = body.toString();
      if (!hasHeader(headers, "content-type")) {
        headers.push(["content-type", "application/x-www-form-urlencoded"]);
      }
    } else {
      out.bodyType = "string";
      out.body = JSON.stringify(body);
    }
  }
  if (headers.length > 0 || init.headers) out.headers = headers;
  return out;
}

// ---- ctx ----------------------------------------------------------------------------------------

function storageCollection(inv, name) {
  const c = (method, body) => inv.call("storage/" + method, { collection: name, ...body });
  return {
    get: (id) => c("get", { id }),
    put: async (id, data) => { await c("put", { id, data }); },
    delete: (id) => c("delete", { id }),
    exists: async (id) => (await c("get", { id })) !== null,
    getMany: async (ids) => new Map(await c("getMany", { ids })),
    putMany: async (items) => { await c("putMany", { items }); },
    deleteMany: (ids) => c("deleteMany", { ids }),
    query: (opts) => inv.call("storage/query", { collection: name, ...(opts ?? {}) }),
    count: (where) => c("count", where === undefined ? {} : { where }),
  };
}

function siteUrl(path) {
  if (typeof path !== "string" || !path.startsWith("/")) {
    throw new Error(`URL path must start with "/", got: "${path}"`);
  }
  if (path.startsWith("//")) {
    throw new Error(`URL path must not be protocol-relative, got: "${path}"`);
  }
  return SITE.url.replace(/\/$/, "") + path;
}

function makeCtx(inv) {
  const call = (m, b) => inv.call(m, b);
  const ctx = {
    plugin: { id: PLUGIN.id, version: PLUGIN.version || "0.0.0" },
    site: { ...SITE },
    url: siteUrl,
    kv: {
      get: (key) => call("kv/get", { key }),
      set: async (key, value) => { await call("kv/set", { key, value }); },
      delete: (key) => call("kv/delete", { key }),
      list: (prefix) => call("kv/list", { prefix }),
    },
    storage: new Proxy({}, {
      get(_target, name) {
        if (typeof name !== "string" || name === "then") return undefined;
        return storageCollection(inv, name);
      },
    }),
    content: {
      get: (collection, id) => call("content/get", { collection, id }),
      list: (collection, opts) => call("content/list", { collection, ...(opts ?? {}) }),
      create: (collection, data, options) => call("content/create", { collection, data, options }),
      update: (collection, id, data) => call("content/update", { collection, id, data }),
      delete: (collection, id) => call("content/delete", { collection, id }),
      createMany: (collection, items) => call("content/createMany", { collection, items }),
      updateMany: (collection, items) => call("content/updateMany", { collection, items }),
      deleteMany: (collection, ids) => call("content/deleteMany", { collection, ids }),
    },
    taxonomies: {
      getAll: (opts) => call("taxonomy/list", { ...(opts ?? {}) }),
      getTerms: (taxonomy, opts) => call("taxonomy/terms", { taxonomy, ...(opts ?? {}) }),
      getEntryTerms: (collection, entryId, opts) =>
        call("taxonomy/entryTerms", { collection, entryId, ...(opts ?? {}) }),
    },
    media: {
      get: (id) => call("media/get", { id }),
      list: (opts) => call("media/list", opts ?? {}),
      upload: (filename, contentType, bytes) => {
        if (!(bytes instanceof ArrayBuffer) && !ArrayBuffer.isView(bytes)) {
          throw new Error("media.upload: bytes must be ArrayBuffer or ArrayBufferView");
        }
        return call("media/upload", {
          filename, contentType, bytes: bytesToBase64(viewBytes(bytes)), encoding: "base64",
        });
      },
      delete: (id) => call("media/delete", { id }),
      getUploadUrl: () => {
        throw new Error("getUploadUrl is not available in sandbox mode. Use media.upload() instead.");
      },
    },
    http: {
      fetch: async (url, init) => {
        const r = await call("http/fetch", { url: String(url), init: await marshalInit(init) });
        const body = NULL_BODY_STATUSES.has(r.status) ? null : base64ToBytes(r.bodyBase64 ?? "");
        return new Response(body, { status: r.status, statusText: r.statusText, headers: r.headers });
      },
    },
    log: {},
  };
  for (const level of ["debug", "info", "warn", "error"]) {
    ctx.log[level] = (msg, data) => call("log", { level, msg: String(msg), data: jsonSafe(data) });
  }
  if (CAPABILITIES.includes("users:read")) {
    ctx.users = {
      get: (id) => call("users/get", { id }),
      getByEmail: (email) => call("users/getByEmail", { email }),
      list: (opts) => call("users/list", { ...(opts ?? {}) }),
    };
  }
  if (CAPABILITIES.includes("email:send")) {
    ctx.email = { send: (message) => call("email/send", { message }) };
  }
  return ctx;
}

// Log data may be an Error (JSON would make it {}): keep its name and message.
function jsonSafe(data) {
  if (data instanceof Error) return { name: data.name, message: data.message };
  return data;
}

// ---- serving the host -------------------------------------------------------------------------

function authorized(header) {
  const a = header ?? "";
  const b = INVOKE_AUTH;
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

// An answer to the host: {status, text, json}. The HTTP path makes it a Response; the
// invocation channel sends it as a message.
function json(value, status = 200) {
  return { status, text: JSON.stringify(value), json: true };
}

function toResponse(answer) {
  return new Response(answer.text, {
    status: answer.status,
    headers: answer.json ? { "content-type": "application/json" } : {},
  });
}

function errorResponse(err, fallback) {
  if (err && FENCE_CODES.has(err.code)) {
    return json({
      __emdashSandboxRouteError: true,
      error: { code: err.code, message: err.message, status: 503 },
    }, 503);
  }
  const message = err instanceof Error ? err.message : (typeof err === "string" ? err : fallback);
  const body = { error: { message: message || fallback } };
  if (err && typeof err === "object" && typeof err.code === "string") body.error.code = err.code;
  if (err instanceof Error && err.name && err.name !== "Error") body.error.name = err.name;
  return json(body, 500);
}

// The invocation's input as text: the host sends a small one in the x-ps-input header (reading a
// request body costs workerd more than the rest of a small hook), anything else as the body.
async function inputOf(request) {
  const inline = request.headers.get(INPUT_HEADER);
  return inline !== null ? inline : await request.text();
}

function parseInput(text) {
  return text ? JSON.parse(text) : {};
}

// Runs the hook or route at `path` (/hook/<name> or /route/<name>) with its input (JSON text, or
// a promise of it) and answers {status, text, json}.
function invoke(path, input, inv) {
  if (path.startsWith("/hook/")) return runHook(decodeName(path.slice(6)), input, inv);
  if (path.startsWith("/route/")) return runRoute(decodeName(path.slice(7)), input, inv);
  return { status: 404, text: "Not found" };
}

async function runHook(name, input, inv) {
  const entry = hookEntry(name);
  if (!entry) return json({});
  if (typeof entry.handler !== "function") {
    return errorResponse(new Error(`Hook ${name} handler is not a function`));
  }
  let value;
  try {
    const body = parseInput(await input);
    value = await entry.handler(body.event, makeCtx(inv));
  } catch (err) {
    await inv.settle();
    return errorResponse(err, "Hook error");
  }
  await inv.settle();
  return json(value === undefined ? {} : { value });
}

async function runRoute(name, input, inv) {
  const entry = routeEntry(name);
  if (!entry) return { status: 404, text: `Route not found: ${name}` };
  if (typeof entry.handler !== "function") {
    return errorResponse(new Error(`Route ${name} handler is not a function`));
  }
  let result;
  try {
    const body = parseInput(await input);
    const req = body.request ?? {};
    const routeCtx = { input: body.input, request: req, requestMeta: req.meta, user: req.user };
    result = await entry.handler(routeCtx, makeCtx(inv));
  } catch (err) {
    await inv.settle();
    return errorResponse(err, "Route error");
  }
  await inv.settle();
  return json(result === undefined ? null : result);
}

// The path of the host's request URL (http://plugin/<path>), without building a URL object.
function pathOf(url) {
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  if (slash < 0) return "/";
  const end = url.search(/[?#]/);
  return end < 0 ? url.slice(slash) : url.slice(slash, end);
}

function decodeName(s) {
  return s.includes("%") ? decodeURIComponent(s) : s;
}

// ---- the invocation channel ------------------------------------------------------------------
//
// A WebSocket the host opens with GET /__invoke carries invocations one after another: a message
// costs workerd about a third of a request (docs/performance.md). The host sends
// "<invocation id> <path>\n<input JSON>" and waits for "<invocation id> <status>\n<body>", the
// status and body the same request would have got. The host sends the next only after the answer,
// and closes the channel when an invocation runs past its time (workerd then cancels what it left).

function openInvocationChannel(env) {
  const [client, server] = Object.values(new WebSocketPair());
  server.accept();
  server.addEventListener("message", (e) => onInvocationMessage(env, server, e.data));
  return new Response(null, { status: 101, webSocket: client });
}

async function onInvocationMessage(env, ws, data) {
  const space = typeof data === "string" ? data.indexOf(" ") : -1;
  const newline = space < 0 ? -1 : data.indexOf("\n", space);
  if (newline < 0) {
    ws.close(1002, "malformed invocation");
    return;
  }
  const id = data.slice(0, space);
  const path = data.slice(space + 1, newline);
  let answer;
  try {
    answer = await invoke(path, data.slice(newline + 1), new Invocation(env, id, path));
  } catch (err) {
    answer = errorResponse(err, "Invocation error");  // a malformed name, say
  }
  try {
    ws.send(id + " " + answer.status + "\n" + answer.text);
  } catch {
    // The host closed the channel (the invocation ran out of time): nobody is waiting.
  }
}

export default {
  async fetch(request, env) {
    if (!authorized(request.headers.get("authorization"))) {
      return new Response("Unauthorized", { status: 401 });
    }
    const path = pathOf(request.url);
    if (path === "/__ready") return toResponse(json(describe()));
    if (path === "/__invoke" && request.headers.get("upgrade") === "websocket") {
      return openInvocationChannel(env);
    }
    if (request.method !== "POST") return new Response("Not found", { status: 404 });
    const inv = new Invocation(env, request.headers.get(INVOCATION_HEADER) ?? "", path);
    return toResponse(await invoke(path, inputOf(request), inv));
  },
};
