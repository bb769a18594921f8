// An example plugin for plugin-sandbox that reaches the network: ctx.http.fetch to the hosts its
// manifest allows (example.com, its subdomains and Wikipedia). Any other host, and any private
// address, is refused by the host before a connection is made.
//
//   GET /_emdash/api/plugins/link-preview/preview?url=https://example.com/
// returns {url, status, title, description, contentType} and remembers it in storage.
import { definePlugin } from "emdash";

function decodeEntities(s) {
  return s
    .replace(/&amp;/g, "&")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'");
}

function meta(html, name) {
  const re = new RegExp(
    `<meta[^>]+(?:name|property)=["']${name}["'][^>]*content=["']([^"']*)["']`,
    "i",
  );
  const m = html.match(re);
  return m ? decodeEntities(m[1].trim()) : null;
}

export default definePlugin({
  routes: {
    preview: {
      public: true,
      handler: async ({ input }, ctx) => {
        const url = typeof input?.url === "string" ? input.url : "https://example.com/";
        let res;
        try {
          res = await ctx.http.fetch(url, { headers: { accept: "text/html" } });
        } catch (e) {
          // Refused by the host (not an allowed host, private address) or unreachable.
          return { url, error: e.message };
        }
        const contentType = res.headers.get("content-type") ?? "";
        const html = contentType.includes("html") ? (await res.text()).slice(0, 200000) : "";
        const title = html.match(/<title[^>]*>([^<]*)<\/title>/i);
        const preview = {
          url,
          status: res.status,
          title: title ? decodeEntities(title[1].trim()) : null,
          description: meta(html, "description") ?? meta(html, "og:description"),
          contentType,
          fetchedAt: new Date().toISOString(),
        };
        await ctx.storage.previews.put(url, preview);
        return preview;
      },
    },

    recent: async (_routeCtx, ctx) => {
      const page = await ctx.storage.previews.query({ orderBy: { fetchedAt: "desc" }, limit: 10 });
      return { previews: page.items.map((item) => item.data) };
    },
  },
});
