// plugin-sandbox: every plain fetch() (and connect()) a plugin makes lands here.
export default {
  async fetch() {
    return new Response(
      "Direct fetch() blocked in sandbox. Plugins must use ctx.http.fetch() " +
        "(requires the network:request capability).",
      { status: 403 },
    );
  },
};
