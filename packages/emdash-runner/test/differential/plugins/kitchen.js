// Test plugin "kitchen": drives every ctx API from data.
//
// Route `steps` takes {steps: [{call: "kv.set", args: [...]}, ...]} and runs
// them in order, each one awaited and caught, and returns one result per
// step: {ok: true, value} or {ok: false, error: message, code?}. Values that
// do not survive JSON (a Map, a Response, undefined) are described instead.
// Arguments (at any depth) of the form {"$bytes": "<base64>"} become a Uint8Array,
// {"$ref": "<step>.value.<path>"} an earlier step's value, {"$undefined": true}
// undefined.
//
// No imports: loaded as the plugin module inside the sandbox; importing it in
// Node defines an object and does nothing else.

function lookup(results, path) {
  let v = results;
  for (const part of path.split(".")) v = v == null ? undefined : v[part];
  return v;
}

function decodeArg(arg, results) {
  if (Array.isArray(arg)) return arg.map((a) => decodeArg(a, results));
  if (arg && typeof arg === "object") {
    // {"$ref": "2.value.cursor"}: a value an earlier step returned
    if (typeof arg.$ref === "string") return lookup(results, arg.$ref);
    if (typeof arg.$bytes === "string") {
      const bin = atob(arg.$bytes);
      const out = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
      return out;
    }
    if (arg.$undefined === true) return undefined;
    const out = {};
    for (const [k, v] of Object.entries(arg)) out[k] = decodeArg(v, results);
    return out;
  }
  return arg;
}

async function describe(value) {
  if (value === undefined) return { $undefined: true };
  if (value instanceof Map) return { $map: [...value.entries()] };
  if (typeof Response !== "undefined" && value instanceof Response) {
    const headers = [];
    value.headers.forEach((v, k) => headers.push([k, v]));
    headers.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return { $response: { status: value.status, statusText: value.statusText, headers, body: await value.text() } };
  }
  return value;
}

function resolveCall(ctx, path) {
  const parts = path.split(".");
  let owner = ctx;
  for (let i = 0; i < parts.length - 1; i++) {
    owner = owner == null ? undefined : owner[parts[i]];
  }
  const name = parts[parts.length - 1];
  return { owner, fn: owner == null ? undefined : owner[name] };
}

async function runSteps(steps, ctx) {
  const results = [];
  for (const step of steps) {
    try {
      if (step.call === "typeof") {
        // {call: "typeof", path: "users"}: what the plugin sees at ctx.<path>
        const { fn } = resolveCall(ctx, step.path);
        results.push({ ok: true, value: typeof fn });
        continue;
      }
      const { owner, fn } = resolveCall(ctx, step.call);
      if (typeof fn !== "function") {
        results.push({ ok: false, error: `ctx.${step.call} is not a function` });
        continue;
      }
      const value = await fn.apply(owner, (step.args ?? []).map((a) => decodeArg(a, results)));
      results.push({ ok: true, value: await describe(value) });
    } catch (err) {
      const r = { ok: false, error: err && err.message !== undefined ? err.message : String(err) };
      if (err && typeof err.code === "string") r.code = err.code;
      results.push(r);
    }
  }
  return results;
}

export default {
  routes: {
    steps: async (routeCtx, ctx) => runSteps(routeCtx.input?.steps ?? [], ctx),
    whoami: async (_routeCtx, ctx) => ({ plugin: ctx.plugin, site: ctx.site }),
    echo: async (routeCtx) => ({
      input: routeCtx.input === undefined ? { $undefined: true } : routeCtx.input,
      request: routeCtx.request,
      requestMeta: routeCtx.requestMeta,
      sameMeta: routeCtx.requestMeta === routeCtx.request?.meta ||
        JSON.stringify(routeCtx.requestMeta) === JSON.stringify(routeCtx.request?.meta),
    }),
  },
};
