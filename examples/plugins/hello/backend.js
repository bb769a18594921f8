// An example plugin for plugin-sandbox: it gives new content a slug made from its title, counts
// saves in KV, records each save in a declared storage collection, and answers two routes.
import { definePlugin } from "emdash";

// "Hello, World!" -> "hello-world"
function slugify(text) {
  return text
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 80);
}

// The title of a content item, whether its fields sit at the top level or under `data`.
function titleOf(content) {
  if (typeof content?.title === "string") return content.title;
  if (typeof content?.data?.title === "string") return content.data.title;
  return undefined;
}

export default definePlugin({
  hooks: {
    "plugin:install": async (_event, ctx) => {
      await ctx.kv.set("saves", 0);
      ctx.log.info("hello installed");
    },

    // Adds a slug when the content has a title and no slug yet. Returning an object replaces the
    // content for the next plugin and for the write.
    "content:beforeSave": {
      priority: 50,
      handler: async (event) => {
        const content = event.content;
        const title = titleOf(content);
        if (!content || content.slug || typeof title !== "string") return content;
        const slug = slugify(title);
        return slug ? { ...content, slug } : content;
      },
    },

    "content:afterSave": async (event, ctx) => {
      const saves = ((await ctx.kv.get("saves")) ?? 0) + 1;
      await ctx.kv.set("saves", saves);
      const id = String(event.content?.id ?? "");
      await ctx.storage.saves.put(`${event.collection}:${id}:${saves}`, {
        collection: event.collection,
        contentId: id,
        isNew: Boolean(event.isNew),
        savedAt: new Date().toISOString(),
      });
    },
  },

  routes: {
    // Public: /_emdash/api/plugins/hello/hello?name=Ada
    hello: {
      public: true,
      handler: async (routeCtx, ctx) => {
        const name = typeof routeCtx.input?.name === "string" ? routeCtx.input.name : "world";
        return { message: `Hello, ${name}!`, plugin: ctx.plugin.id, slug: slugify(name) };
      },
    },

    stats: async (routeCtx, ctx) => {
      const where = routeCtx.input?.collection ? { collection: routeCtx.input.collection } : {};
      const saves = (await ctx.kv.get("saves")) ?? 0;
      const recent = await ctx.storage.saves.query({
        where,
        orderBy: { savedAt: "desc" },
        limit: 5,
      });
      return { saves, recent: recent.items.map((item) => item.data) };
    },
  },
});
