// The benchmark's plugin: the same module on both runners. No imports.
const kept = [];

export default {
  hooks: {
    "content:beforeSave": async (event) => ({ ...event.content, benched: true }),
  },
  routes: {
    ping: async () => ({ ok: true }),
    // n sequential bridge calls (kv.get of one key)
    kv: async (routeCtx, ctx) => {
      const n = routeCtx.input?.n ?? 0;
      let v = null;
      for (let i = 0; i < n; i++) v = await ctx.kv.get("bench");
      return { n, v };
    },
    spin: async () => {
      for (;;) {
        // only a limit ends this
      }
    },
    // keeps `mb` MiB of JS heap per call: a leak
    leak: async (routeCtx) => {
      const mb = routeCtx.input?.mb ?? 16;
      const chunk = [];
      for (let i = 0; i < mb; i++) chunk.push(new Array(131072).fill(i + 0.5));
      kept.push(chunk);
      return { keptMb: kept.length * mb };
    },
  },
};
