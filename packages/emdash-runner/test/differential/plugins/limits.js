// Test plugin "limits": routes and a hook that run into each resource limit.
// No imports.

const kept = [];

function busy(ms) {
  const end = Date.now() + ms;
  let n = 0;
  while (Date.now() < end) n++;
  return n;
}

function allocate(mb, kind) {
  // Distinct, written-to arrays so the memory is really used. "heap": plain
  // JS arrays of doubles (V8's heap); "buffer": typed arrays (ArrayBuffer
  // backing stores, outside the V8 heap).
  const chunks = [];
  for (let i = 0; i < mb; i++) {
    if (kind === "buffer") {
      const a = new Float64Array(131072); // 1 MiB
      a.fill(i + 1);
      chunks.push(a);
    } else {
      chunks.push(new Array(131072).fill(i + 0.5)); // ~1 MiB of unboxed doubles
    }
  }
  return chunks;
}

export default {
  hooks: {
    cron: async (event) => {
      if (event?.data?.sleepMs) await new Promise((r) => setTimeout(r, event.data.sleepMs));
      return { ran: event?.name ?? null };
    },
  },
  routes: {
    ok: async (_routeCtx, ctx) => ({ ok: true, plugin: ctx.plugin.id }),
    sleep: async (routeCtx) => {
      await new Promise((r) => setTimeout(r, routeCtx.input?.ms ?? 1000));
      return { slept: true };
    },
    spin: async () => {
      for (;;) {
        // never returns: only a limit ends this
      }
    },
    cpu: async (routeCtx) => {
      busy(routeCtx.input?.ms ?? 200);
      return { done: true };
    },
    alloc: async (routeCtx) => {
      const chunks = allocate(routeCtx.input?.mb ?? 64, routeCtx.input?.kind ?? "heap");
      if (routeCtx.input?.keep) kept.push(chunks);
      return { allocatedMb: chunks.length, keptMb: kept.reduce((n, c) => n + c.length, 0) };
    },
    fetchMany: async (routeCtx, ctx) => {
      const out = [];
      for (let i = 0; i < (routeCtx.input?.n ?? 1); i++) {
        try {
          const res = await ctx.http.fetch(routeCtx.input.url);
          out.push({ ok: true, status: res.status });
        } catch (err) {
          out.push({ ok: false, error: err.message, code: typeof err.code === "string" ? err.code : null });
        }
      }
      return out;
    },
  },
};
