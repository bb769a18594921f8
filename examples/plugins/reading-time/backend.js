// An example content plugin for plugin-sandbox: before content is saved, it counts the words of
// its text fields and writes the estimated reading time (minutes, at 200 words a minute) into the
// content's `reading_time` field. Its result replaces the content for the next plugin and for the
// write, so the stored item carries the estimate.
//
// Only the collections listed in the KV setting `settings:collections` (default ["posts"]) are
// touched: a collection needs a `reading_time` field (type integer) for the write to succeed.
import { definePlugin } from "emdash";

const WORDS_PER_MINUTE = 200;
const TEXT_FIELDS = ["title", "body", "text", "content", "excerpt", "summary"];

function countWords(value) {
  if (typeof value === "string") {
    const words = value.replace(/<[^>]*>/g, " ").match(/[\p{L}\p{N}'’-]+/gu);
    return words ? words.length : 0;
  }
  // Portable Text and other structured bodies: count the words of every string inside.
  if (Array.isArray(value)) return value.reduce((n, v) => n + countWords(v), 0);
  if (value && typeof value === "object") {
    return Object.entries(value).reduce(
      (n, [k, v]) => (k === "_type" || k === "_key" || k === "style" ? n : n + countWords(v)),
      0,
    );
  }
  return 0;
}

export function estimate(content) {
  let words = 0;
  for (const field of TEXT_FIELDS) words += countWords(content?.[field]);
  return { words, minutes: words === 0 ? 0 : Math.max(1, Math.ceil(words / WORDS_PER_MINUTE)) };
}

async function collections(ctx) {
  const configured = await ctx.kv.get("settings:collections");
  return Array.isArray(configured) ? configured : ["posts"];
}

export default definePlugin({
  hooks: {
    "content:beforeSave": {
      priority: 100,
      handler: async (event, ctx) => {
        const content = event.content;
        if (!content || typeof content !== "object") return content;
        if (!(await collections(ctx)).includes(event.collection)) return content;
        // An update that changes no text keeps the stored estimate.
        if (!event.isNew && !TEXT_FIELDS.some((f) => f in content)) return content;
        const { minutes } = estimate(content);
        return { ...content, reading_time: minutes };
      },
    },
  },

  routes: {
    // Public: POST /_emdash/api/plugins/reading-time/estimate {"body": "..."}
    estimate: {
      public: true,
      handler: async ({ input }) => estimate(input ?? {}),
    },

    // Admin: {"collections": ["posts", "pages"]} sets the collections; {} reads them.
    settings: async ({ input }, ctx) => {
      if (input && Array.isArray(input.collections)) {
        const names = input.collections.filter((c) => typeof c === "string");
        await ctx.kv.set("settings:collections", names);
      }
      return { collections: await collections(ctx) };
    },
  },
});
