// An example plugin for plugin-sandbox that calls every ctx API its capabilities allow, in one
// route, and reports what each call returned. Use it to see the bridge's behaviour (results,
// error texts) on a running host:
//
//   curl -X POST -H "Authorization: Bearer $TOKEN" localhost:8787/v1/plugins/ctx-tour/routes/tour \
//        -d '{"input": {"collection": "posts", "email": "you@example.com"}}'
//
// Every step is {step, ok, value} or {step, ok: false, error}; a failing step does not stop the
// tour. ctx.http is not here (this plugin declares no network access; see link-preview).
import { definePlugin } from "emdash";

// A 1x1 transparent PNG.
const PNG = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  ),
  (c) => c.charCodeAt(0),
);

async function step(report, name, fn) {
  try {
    const value = await fn();
    report.push({ step: name, ok: true, value: value === undefined ? null : value });
    return value;
  } catch (e) {
    report.push({ step: name, ok: false, error: e.message, code: e.code ?? null });
    return undefined;
  }
}

export default definePlugin({
  hooks: {
    "plugin:activate": async (_event, ctx) => {
      ctx.log.info("ctx-tour activated", { site: ctx.site.name || "(unnamed)" });
    },
    "media:afterUpload": async (event, ctx) => {
      await ctx.kv.set(`event:upload:${event.media.id}`, event.media.filename);
    },
    "content:afterDelete": async (event, ctx) => {
      await ctx.kv.set(`event:delete:${event.collection}:${event.id}`, event.permanent);
    },
  },

  routes: {
    events: async (_r, ctx) => ({ events: await ctx.kv.list("event:") }),

    tour: async ({ input, request, user }, ctx) => {
      const collection = typeof input?.collection === "string" ? input.collection : "posts";
      const report = [];

      await step(report, "plugin", () => ctx.plugin);
      await step(report, "site", () => ctx.site);
      await step(report, "url", () => ctx.url("/about"));
      await step(report, "request", () => ({ method: request.method, user: user ?? null }));
      await step(report, "log.info", () => ctx.log.info("tour started", { collection }));

      // KV
      await step(report, "kv.set", () => ctx.kv.set("tour:count", 1));
      await step(report, "kv.get", () => ctx.kv.get("tour:count"));
      await step(report, "kv.list", () => ctx.kv.list("tour:"));
      await step(report, "kv.delete", () => ctx.kv.delete("tour:count"));

      // Storage (a declared collection, with indexes)
      const notes = ctx.storage.notes;
      await step(report, "storage.put", () => notes.put("a", { tag: "x", n: 1 }));
      await step(report, "storage.putMany", () =>
        notes.putMany([
          { id: "b", data: { tag: "x", n: 2 } },
          { id: "c", data: { tag: "y", n: 3 } },
        ]),
      );
      await step(report, "storage.get", () => notes.get("a"));
      await step(report, "storage.exists", () => notes.exists("zzz"));
      await step(report, "storage.getMany", async () =>
        Object.fromEntries(await notes.getMany(["a", "c", "missing"])),
      );
      await step(report, "storage.query", () =>
        notes.query({ where: { tag: "x" }, orderBy: { n: "desc" }, limit: 10 }),
      );
      await step(report, "storage.count", () => notes.count({ n: { gte: 2 } }));
      await step(report, "storage.deleteMany", () => notes.deleteMany(["a", "b", "c"]));
      await step(report, "storage.undeclared", () => ctx.storage.secrets.get("x"));

      // Content (needs the collection to exist)
      const created = await step(report, "content.create", () =>
        ctx.content.create(collection, { title: "Written by ctx-tour" }),
      );
      if (created) {
        await step(report, "content.get", () => ctx.content.get(collection, created.id));
        await step(report, "content.update", () =>
          ctx.content.update(collection, created.id, { title: "Updated by ctx-tour" }),
        );
        await step(report, "content.delete", () => ctx.content.delete(collection, created.id));
      }
      await step(report, "content.list", async () => {
        const page = await ctx.content.list(collection, { limit: 3 });
        return { count: page.items.length, hasMore: page.hasMore };
      });

      // Taxonomies
      await step(report, "taxonomies.getAll", () => ctx.taxonomies.getAll());
      await step(report, "taxonomies.getTerms", () => ctx.taxonomies.getTerms("category"));

      // Media
      const uploaded = await step(report, "media.upload", () =>
        ctx.media.upload("tour.png", "image/png", PNG),
      );
      if (uploaded) {
        await step(report, "media.get", () => ctx.media.get(uploaded.mediaId));
        await step(report, "media.list", async () => {
          const page = await ctx.media.list({ mimeType: "image/", limit: 5 });
          return { count: page.items.length };
        });
        await step(report, "media.delete", () => ctx.media.delete(uploaded.mediaId));
      }
      await step(report, "media.getUploadUrl", () => ctx.media.getUploadUrl());

      // Users
      await step(report, "users.list", async () => {
        const page = await ctx.users.list({ limit: 5 });
        return { count: page.items.length };
      });
      await step(report, "users.getByEmail", () => ctx.users.getByEmail("nobody@example.com"));

      // Email (goes to the host's transport: <data>/outbox.jsonl by default)
      const to = typeof input?.email === "string" ? input.email : "admin@example.com";
      await step(report, "email.send", () =>
        ctx.email.send({ to, subject: "ctx-tour", text: "Sent by the ctx-tour plugin." }),
      );

      // Network: not declared, so refused by the bridge.
      await step(report, "http.fetch", () => ctx.http.fetch("https://example.com/"));

      const failed = report.filter((r) => !r.ok).map((r) => r.step);
      return { steps: report.length, failed, report };
    },
  },
});
