// A plugin that misbehaves on purpose, to show containment: each route breaks a different rule.
// Every failure stays inside this plugin's own process; the host and the other plugins go on.
//
//   spin   an endless loop         -> 500 cpu_limit_exceeded (the process is killed, restarts)
//   leak   a heap that only grows  -> 500 memory_limit_exceeded (killed, restarts)
//   crash  a buffer bigger than the memory limit -> 500 memory_limit_exceeded or plugin_crashed
//   hang   a promise that waits a minute -> 504 wall_time_exceeded
//   throw  an exception            -> 500 plugin_error with its message
//   ok     answers, to show the plugin is back after its restart
import { definePlugin } from "emdash";

export default definePlugin({
  routes: {
    ok: async (_r, ctx) => ({ ok: true, plugin: ctx.plugin.id }),

    spin: async () => {
      for (;;) {
        // Nothing yields: only the host's CPU limit ends this.
      }
    },

    leak: async () => {
      const keep = [];
      for (;;) keep.push({ s: "x".repeat(256) + keep.length, n: keep.length });
    },

    crash: async () => {
      const keep = [];
      for (let i = 0; i < 64; i++) {
        const b = new Uint8Array(64 << 20);
        b.fill(1);
        keep.push(b);
        await null;
      }
      return keep.length;
    },

    hang: () => new Promise((resolve) => setTimeout(() => resolve("too late"), 60000)),

    throw: async () => {
      throw new Error("this plugin fails on purpose");
    },
  },
});
