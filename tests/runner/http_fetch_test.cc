// ctx.http.fetch from inside workerd, end to end: the isolate's RequestInit marshalling, the
// bridge, the outbound fetcher with its policy, a real HTTP server on loopback, and back.
#include "http/fetcher.h"
#include "http/test_server.h"
#include "runner/runner.h"
#include "runner_fixture.h"

namespace ps::testing {
namespace {

class HttpFetchTest : public RunnerTest {
 protected:
  void CustomizeBridge(bridge::BridgeOptions& b) override {
    http::FetcherOptions o;
    o.allow_private = {server_.HostPort()};  // this server only, not all of loopback
    auto f = http::Fetcher::Create(o);
    ASSERT_TRUE(f.ok()) << f.status().message();
    b.http = http::MakeHttpFetcher(*f);
  }

  std::string Manifest(const std::string& id) {
    return R"({"id":")" + id +
           R"(","version":"1","capabilities":["network:request"],"allowedHosts":["127.0.0.1"]})";
  }

  TestServer server_{[](const HttpRequest& req) {
    HttpReply r;
    r.status = req.target == "/missing" ? 404 : 200;
    r.headers = {{"X-Echo-Type", req.Header("content-type")},
                 {"X-Multi", "a"},
                 {"X-Multi", "b"},
                 {"Content-Type", "application/octet-stream"}};
    r.body = std::string("\x00\xff\x10", 3) + req.body;
    return r;
  }};
};

TEST_F(HttpFetchTest, AllowedLoopbackServerIsReachedOnlyThroughCtxHttpFetch) {
  std::string url = server_.Url("/missing");
  auto h = Load(Manifest("fetcher"), R"JS(
export default { routes: { go: async ({ input }, ctx) => {
  const res = await ctx.http.fetch(input.url, {
    method: "POST",
    headers: [["x-one", "1"], ["x-one", "2"]],
    body: new URLSearchParams({ a: "b c", d: "é" }),
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  let plain;
  try { plain = (await fetch(input.url)).status; } catch (e) { plain = "error"; }
  return { status: res.status, statusText: res.statusText, echoType: res.headers.get("x-echo-type"),
           multi: res.headers.get("x-multi"), first: [bytes[0], bytes[1], bytes[2]],
           body: new TextDecoder().decode(bytes.slice(3)), isResponse: res instanceof Response, plain };
} } };
)JS");
  auto v = Route(h, "go", R"({"url":")" + url + R"("})");
  EXPECT_EQ(
      Stringify(v),
      R"({"status":404,"statusText":"Not Found","echoType":"application/x-www-form-urlencoded",)"
      R"("multi":"a, b","first":[0,255,16],"body":"a=b+c&d=%C3%A9","isResponse":true,"plain":403})");
  auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 1u);  // the plain fetch() never arrived
  EXPECT_EQ(reqs[0].All("x-one"), (std::vector<std::string>{"1", "2"}));
}

TEST_F(HttpFetchTest, CallersContentTypeIsKeptAndBinaryBodiesRoundTrip) {
  auto h = Load(Manifest("binary"), R"JS(
export default { routes: { go: async ({ input }, ctx) => {
  const out = new Uint8Array(256);
  for (let i = 0; i < 256; i++) out[i] = 255 - i;
  const r1 = await ctx.http.fetch(input.url, { method: "POST", body: new URLSearchParams("x=1"),
                                               headers: { "Content-Type": "text/x-mine" } });
  const r2 = await ctx.http.fetch(input.url, { method: "PUT", body: out.subarray(1, 255) });
  const back = new Uint8Array(await r2.arrayBuffer()).slice(3);
  let same = back.length === 254;
  for (let i = 0; i < back.length && same; i++) same = back[i] === 255 - (i + 1);
  return { kept: r1.headers.get("x-echo-type"), same };
} } };
)JS");
  EXPECT_EQ(Stringify(Route(h, "go", R"({"url":")" + server_.Url("/") + R"("})")),
            R"({"kept":"text/x-mine","same":true})");
}

TEST_F(HttpFetchTest, HostsOutsideTheAllowlistAndOtherLoopbackPortsAreRefused) {
  auto h = Load(Manifest("strict"), R"JS(
export default { routes: { go: async ({ input }, ctx) => {
  const out = [];
  for (const url of input.urls) {
    try { await ctx.http.fetch(url); out.push("allowed"); } catch (e) { out.push(e.message); }
  }
  return out;
} } };
)JS");
  auto v = Route(h, "go", R"({"urls":["http://example.com/","http://127.0.0.1:1/"]})");
  ASSERT_TRUE(v.is_array()) << Stringify(v);
  EXPECT_NE(
      std::string(v.at(0).get_string()).find("is not allowed to fetch from host \"example.com\""),
      std::string::npos)
      << Stringify(v);
  EXPECT_NE(std::string(v.at(1).get_string()).find("blocked"), std::string::npos) << Stringify(v);
}

TEST_F(HttpFetchTest, EleventhFetchOfOneInvocationFailsWithSubrequestLimitExceeded) {
  auto h = Load(Manifest("greedy"), R"JS(
export default { routes: {
  caught: async ({ input }, ctx) => {
    let ok = 0;
    for (let i = 0; i < 11; i++) {
      try { await ctx.http.fetch(input.url); ok++; } catch (e) { return { ok, code: e.code, message: e.message }; }
    }
    return { ok };
  },
  thrown: async ({ input }, ctx) => { for (let i = 0; i < 11; i++) await ctx.http.fetch(input.url); },
} };
)JS");
  std::string in = R"({"url":")" + server_.Url("/") + R"("})";
  EXPECT_EQ(
      Stringify(Route(h, "caught", in)),
      R"({"ok":10,"code":"subrequest_limit_exceeded","message":"Plugin greedy exceeded the limit of 10 subrequests in one invocation"})");
  auto r = runner_->InvokeRoute(h, "thrown", *ParseJson(in), json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), ErrorCode::kSubrequestLimitExceeded);
  // The limit is per invocation: the next one starts from zero.
  EXPECT_EQ(Stringify(Route(h, "caught", in)).substr(0, 9), R"({"ok":10,)");
}

}  // namespace
}  // namespace ps::testing
