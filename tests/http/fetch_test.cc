// Fetches against real HTTP servers on loopback: host policy in both modes, schemes, bodies both
// ways, headers, status text, limits and timeouts. Loopback is reachable only because each test's
// fetcher has an --allow-private entry for its server's exact host:port.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "http/fetch_fixture.h"

namespace ps::testing {
namespace {

using std::chrono::milliseconds;

std::string AllBytes(size_t repeat) {
  std::string out;
  for (size_t r = 0; r < repeat; ++r)
    for (int i = 0; i < 256; ++i) out += char(i);
  return out;
}

class FetchTest : public ::testing::Test {
 protected:
  http::FetcherOptions AllowServer(const TestServer& s) {
    http::FetcherOptions o;
    o.allow_private = {s.HostPort()};
    return o;
  }
};

TEST_F(FetchTest, AllowedHostGetsTheResponse) {
  TestServer server([](const HttpRequest& r) {
    HttpReply reply;
    reply.headers = {{"Content-Type", "text/plain"}, {"X-Path", r.target}};
    reply.body = "hello " + r.method;
    return reply;
  });
  auto f = MakeFetcher(AllowServer(server));
  auto res = FetchOk(*f, RestrictedGrant({"127.0.0.1"}), Params(server.Url("/a/b?x=1")));
  EXPECT_EQ(res["status"].as_int64(), 200);
  EXPECT_EQ(res["statusText"].as_string(), "OK");
  EXPECT_EQ(ResponseHeader(res, "content-type"), "text/plain");
  EXPECT_EQ(ResponseHeader(res, "x-path"), "/a/b?x=1");
  EXPECT_EQ(ResponseHeader(res, "content-length"), "9");
  EXPECT_EQ(Body(res), "hello GET");
  ASSERT_EQ(server.request_count(), 1u);
  auto req = server.requests()[0];
  EXPECT_EQ(req.Header("host"), server.HostPort());
  EXPECT_EQ(req.Header("user-agent"), "plugin-sandbox");
  EXPECT_FALSE(req.Has("accept-encoding"));  // no decoding surprise: we ask for identity
}

TEST_F(FetchTest, RefusedHostNamesTheAllowlist) {
  TestServer server;
  auto f = MakeFetcher(AllowServer(server));
  EXPECT_EQ(
      FetchErr(*f, RestrictedGrant({"api.example.com", "*.example.org"}), Params(server.Url())),
      "Plugin \"fetcher\" is not allowed to fetch from host \"127.0.0.1\". Allowed hosts: "
      "api.example.com, *.example.org");
  EXPECT_EQ(server.request_count(), 0u);
}

TEST_F(FetchTest, EmptyAllowlistHasTheSpecMessage) {
  auto f = MakeFetcher();
  // Checked before the URL is even parsed.
  EXPECT_EQ(FetchErr(*f, RestrictedGrant({}), Params("not a url")),
            "Plugin \"fetcher\" has no allowed hosts configured. Add hosts to the plugin's "
            "allowedHosts array to enable HTTP requests.");
}

TEST_F(FetchTest, MissingCapabilityIsRefused) {
  auto f = MakeFetcher();
  bridge::Grant g = RestrictedGrant({"example.com"});
  g.capabilities = {"content:read"};
  EXPECT_EQ(FetchErr(*f, g, Params("http://example.com/")), "Missing capability: network:request");
}

TEST_F(FetchTest, WildcardHostThroughPinnedResolver) {
  TestServer server;
  http::FetcherOptions o;
  // api.test.example does not exist in DNS: success proves curl connected to the address we
  // resolved and checked, not to one it looked up itself. The exception names the address.
  o.allow_private = {server.HostPort()};
  o.resolver = [](const std::string& host) -> Result<std::vector<http::IpAddress>> {
    if (host == "api.test.example" || host == "test.example")
      return std::vector<http::IpAddress>{*http::ParseIpLiteral("127.0.0.1")};
    return std::vector<http::IpAddress>{};
  };
  auto f = MakeFetcher(o);
  std::string port = std::to_string(server.port());
  auto g = RestrictedGrant({"*.test.example"});
  auto res = FetchOk(*f, g, Params("http://API.Test.Example.:" + port + "/w"));
  EXPECT_EQ(res["status"].as_int64(), 200);
  FetchOk(*f, g, Params("http://test.example:" + port + "/apex"));
  ASSERT_EQ(server.request_count(), 2u);
  EXPECT_EQ(server.requests()[0].Header("host"), "api.test.example:" + port);
  EXPECT_EQ(FetchErr(*f, g, Params("http://other.example:" + port + "/")),
            "Plugin \"fetcher\" is not allowed to fetch from host \"other.example\". Allowed "
            "hosts: *.test.example");
  // A name with no addresses.
  EXPECT_EQ(FetchErr(*f, g, Params("http://gone.test.example/")),
            "Plugin \"fetcher\": could not resolve \"gone.test.example\": the name has no "
            "addresses");
}

TEST_F(FetchTest, UnrestrictedModeReachesAnyAllowedDestination) {
  TestServer server;
  auto f = MakeFetcher(AllowServer(server));
  auto res = FetchOk(*f, UnrestrictedGrant(), Params(server.Url("/u")));
  EXPECT_EQ(res["status"].as_int64(), 200);
  // Hosts listed next to unrestricted are unused, not a restriction.
  bridge::Grant g = UnrestrictedGrant();
  g.allowed_hosts = {"example.com"};
  FetchOk(*f, g, Params(server.Url("/u2")));
  // Without the operator's exception, loopback is blocked in this mode too.
  auto strict = MakeFetcher();
  EXPECT_EQ(FetchErr(*strict, UnrestrictedGrant(), Params(server.Url())),
            "Plugin \"fetcher\": blocked fetch to \"127.0.0.1\": 127.0.0.1 is a loopback address; "
            "ask the site operator to add it with --allow-private if this is intended");
  EXPECT_EQ(server.request_count(), 2u);
}

TEST_F(FetchTest, OnlyHttpAndHttps) {
  auto f = MakeFetcher();
  struct Case {
    const char* url;
    const char* scheme;
  } cases[] = {{"ftp://example.com/file", "ftp:"},     {"file:///etc/passwd", "file:"},
               {"data:text/plain,hello", "data:"},     {"gopher://127.0.0.1:70/_", "gopher:"},
               {"javascript:alert(1)", "javascript:"}, {"ws://example.com/", "ws:"},
               {"FTP://example.com/", "ftp:"}};
  for (const auto& c : cases) {
    std::string want = std::string("Plugin \"fetcher\": unsupported scheme \"") + c.scheme +
                       "\"; only http and https are allowed";
    EXPECT_EQ(FetchErr(*f, UnrestrictedGrant(), Params(c.url)), want) << c.url;
    EXPECT_EQ(FetchErr(*f, RestrictedGrant({"*"}), Params(c.url)), want) << c.url;
  }
}

TEST_F(FetchTest, InvalidUrlsAndCredentials) {
  auto f = MakeFetcher();
  std::string e = FetchErr(*f, UnrestrictedGrant(), Params("http://exa mple.com/"));
  EXPECT_TRUE(e.starts_with("Invalid URL: \"http://exa mple.com/\" (")) << e;
  e = FetchErr(*f, UnrestrictedGrant(), Params("/relative/only"));
  EXPECT_TRUE(e.starts_with("Invalid URL: ")) << e;
  EXPECT_EQ(FetchErr(*f, UnrestrictedGrant(), Params("http://user:secret@example.com/")),
            "Request cannot be constructed from a URL that includes credentials; send them in an "
            "Authorization header instead");
}

TEST_F(FetchTest, BinaryBodiesRoundTripBothWays) {
  TestServer server([](const HttpRequest& r) {
    HttpReply reply;
    reply.headers = {{"Content-Type", "application/octet-stream"}};
    reply.body = r.body;  // echo
    return reply;
  });
  auto f = MakeFetcher(AllowServer(server));
  const std::string bytes = AllBytes(64);  // 16 KiB, every byte value, NULs included
  auto res = FetchOk(*f, RestrictedGrant({"127.0.0.1"}),
                     Params(server.Url("/echo"), R"({"method":"PUT","bodyType":"base64","body":")" +
                                                     Base64Encode(bytes) + "\"}"));
  EXPECT_EQ(Body(res), bytes);
  ASSERT_EQ(server.request_count(), 1u);
  auto req = server.requests()[0];
  EXPECT_EQ(req.method, "PUT");
  EXPECT_EQ(req.body, bytes);
  EXPECT_EQ(req.Header("content-length"), std::to_string(bytes.size()));
  EXPECT_FALSE(req.Has("content-type"));  // bytes carry no implicit type
  EXPECT_FALSE(req.Has("expect"));
}

TEST_F(FetchTest, StringBodyIsTextUnlessTypeGiven) {
  TestServer server;
  auto f = MakeFetcher(AllowServer(server));
  auto g = RestrictedGrant({"127.0.0.1"});
  FetchOk(*f, g, Params(server.Url(), R"({"method":"POST","bodyType":"string","body":"h\u00e9"})"));
  FetchOk(*f, g, Params(server.Url(), R"({"method":"POST","bodyType":"string","body":"{}",
                                          "headers":[["Content-Type","application/json"]]})"));
  FetchOk(*f, g, Params(server.Url(), R"({"method":"POST"})"));
  FetchOk(*f, g, Params(server.Url(), R"({"method":"DELETE"})"));
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].body, "h\xc3\xa9");
  EXPECT_EQ(reqs[0].Header("content-type"), "text/plain;charset=UTF-8");
  EXPECT_EQ(reqs[1].All("content-type"), std::vector<std::string>{"application/json"});
  EXPECT_EQ(reqs[2].method, "POST");
  EXPECT_EQ(reqs[2].Header("content-length"), "0");
  EXPECT_FALSE(reqs[2].Has("content-type"));
  EXPECT_EQ(reqs[3].method, "DELETE");
  EXPECT_EQ(reqs[3].body, "");
}

TEST_F(FetchTest, FormDataBecomesMultipart) {
  TestServer server;
  auto f = MakeFetcher(AllowServer(server));
  std::string blob = std::string("\x00\xff\x10 binary", 10);
  FetchOk(*f, RestrictedGrant({"127.0.0.1"}),
          Params(server.Url("/form"), R"({"method":"POST","bodyType":"formdata","body":[
              {"name":"title","value":"hello world"},
              {"name":"file","value":")" + Base64Encode(blob) +
                                          R"(","filename":"a.bin","type":"image/png","isBlob":true},
              {"name":"anon","value":"aGk=","isBlob":true}]})"));
  ASSERT_EQ(server.request_count(), 1u);
  auto req = server.requests()[0];
  std::string ct = req.Header("content-type");
  ASSERT_TRUE(ct.starts_with("multipart/form-data; boundary=")) << ct;
  const std::string& b = req.body;
  EXPECT_NE(b.find("Content-Disposition: form-data; name=\"title\"\r\n\r\nhello world\r\n"),
            std::string::npos)
      << b;
  EXPECT_NE(b.find("Content-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
                   "Content-Type: image/png\r\n\r\n" +
                   blob + "\r\n"),
            std::string::npos);
  EXPECT_NE(b.find("name=\"anon\"; filename=\"blob\"\r\nContent-Type: application/octet-stream"
                   "\r\n\r\nhi\r\n"),
            std::string::npos);
}

TEST_F(FetchTest, MultiValueHeadersSurviveBothWays) {
  TestServer server([](const HttpRequest&) {
    HttpReply reply;
    reply.headers = {{"Set-Cookie", "a=1; Path=/"},
                     {"Set-Cookie", "b=2"},
                     {"X-Multi", "one"},
                     {"x-multi", "two"},
                     {"X-Single", "  padded  "}};
    return reply;
  });
  auto f = MakeFetcher(AllowServer(server));
  auto res = FetchOk(*f, RestrictedGrant({"127.0.0.1"}),
                     Params(server.Url(), R"({"headers":[["X-Req","1"],["x-req","2"],
                                               ["Accept","application/json"],["X-Empty",""],
                                               ["User-Agent","my-plugin/1.0"]]})"));
  EXPECT_EQ(ResponseHeader(res, "set-cookie"), "a=1; Path=/, b=2");
  EXPECT_EQ(ResponseHeader(res, "x-multi"), "one, two");
  EXPECT_EQ(ResponseHeader(res, "x-single"), "padded");
  auto req = server.requests().at(0);
  EXPECT_EQ(req.All("x-req"), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(req.All("accept"), std::vector<std::string>{"application/json"});
  EXPECT_EQ(req.All("x-empty"), std::vector<std::string>{""});
  EXPECT_EQ(req.All("user-agent"), std::vector<std::string>{"my-plugin/1.0"});
}

TEST_F(FetchTest, StatusTextFromTheReasonPhraseOrTheStandardOne) {
  TestServer server([](const HttpRequest& r) {
    HttpReply reply;
    if (r.target == "/custom") {
      reply.status = 418;
      reply.reason = "Short And Stout";
    } else if (r.target == "/none") {
      reply.status = 404;
      reply.reason = "";
    } else {
      reply.status = 201;
    }
    return reply;
  });
  auto f = MakeFetcher(AllowServer(server));
  auto g = RestrictedGrant({"127.0.0.1"});
  auto a = FetchOk(*f, g, Params(server.Url("/custom")));
  EXPECT_EQ(a["status"].as_int64(), 418);
  EXPECT_EQ(a["statusText"].as_string(), "Short And Stout");
  auto b = FetchOk(*f, g, Params(server.Url("/none")));
  EXPECT_EQ(b["status"].as_int64(), 404);
  EXPECT_EQ(b["statusText"].as_string(), "Not Found");
  auto c = FetchOk(*f, g, Params(server.Url("/created")));
  EXPECT_EQ(c["statusText"].as_string(), "Created");
}

TEST_F(FetchTest, HeadHasNoBody) {
  TestServer server;
  auto f = MakeFetcher(AllowServer(server));
  auto res =
      FetchOk(*f, RestrictedGrant({"127.0.0.1"}), Params(server.Url(), R"({"method":"HEAD"})"));
  EXPECT_EQ(res["status"].as_int64(), 200);
  EXPECT_EQ(Body(res), "");
  EXPECT_EQ(server.requests().at(0).method, "HEAD");
}

TEST_F(FetchTest, OversizedResponseIsCutOff) {
  TestServer server([](const HttpRequest& r) {
    HttpReply reply;
    reply.body = std::string(r.target == "/big" ? 10 * 1024 * 1024 + 1 : 2000, 'x');
    reply.no_length = r.target == "/stream";
    return reply;
  });
  // The default cap: 10 MiB.
  auto f = MakeFetcher(AllowServer(server));
  EXPECT_EQ(FetchErr(*f, RestrictedGrant({"127.0.0.1"}), Params(server.Url("/big"))),
            "Plugin \"fetcher\": response too large: the body from \"" + server.Url("/big") +
                "\" exceeds the limit of 10485760 bytes");
  // A configured cap, with and without Content-Length.
  http::FetcherOptions o = AllowServer(server);
  o.max_response_bytes = 1000;
  auto small = MakeFetcher(o);
  for (const char* path : {"/sized", "/stream"}) {
    auto r = DoFetch(*small, RestrictedGrant({"127.0.0.1"}), Params(server.Url(path)));
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.status().code(), Code::kTooLarge);
    EXPECT_NE(r.status().message().find("response too large"), std::string::npos);
    EXPECT_NE(r.status().message().find("limit of 1000 bytes"), std::string::npos);
  }
  // Exactly at the limit is fine.
  o.max_response_bytes = 2000;
  auto exact = MakeFetcher(o);
  EXPECT_EQ(Body(FetchOk(*exact, RestrictedGrant({"127.0.0.1"}), Params(server.Url("/stream")))),
            std::string(2000, 'x'));
}

TEST_F(FetchTest, ServerThatNeverAnswersTimesOutByTheDeadline) {
  TestServer server([](const HttpRequest&) {
    HttpReply reply;
    reply.hang = true;
    return reply;
  });
  auto f = MakeFetcher(AllowServer(server));
  auto start = std::chrono::steady_clock::now();
  auto r =
      DoFetch(*f, RestrictedGrant({"127.0.0.1"}), Params(server.Url("/slow")), milliseconds(700));
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_TRUE(r.status().message().starts_with("Plugin \"fetcher\": fetch of \"" +
                                               server.Url("/slow") + "\" timed out after "))
      << r.status().message();
  EXPECT_LT(elapsed, std::chrono::seconds(15));  // generous: only "bounded by the deadline"

  // The fetcher's own cap applies when the invocation's deadline is later.
  http::FetcherOptions o = AllowServer(server);
  o.max_total_time = milliseconds(500);
  auto capped = MakeFetcher(o);
  auto r2 = DoFetch(*capped, RestrictedGrant({"127.0.0.1"}), Params(server.Url("/slow")),
                    std::chrono::hours(1));
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("timed out"), std::string::npos);
}

TEST_F(FetchTest, DeadlineAlreadyPassed) {
  TestServer server;
  auto f = MakeFetcher(AllowServer(server));
  bridge::Grant g = RestrictedGrant({"127.0.0.1"});
  json::object params = Params(server.Url());
  auto r = f->Fetch(http::FetchRequest{g.plugin_id, g.capabilities, g.allowed_hosts, params,
                                       std::chrono::steady_clock::now() - milliseconds(1)});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("timed out"), std::string::npos);
  EXPECT_EQ(server.request_count(), 0u);
}

TEST_F(FetchTest, ConnectionRefusedIsReported) {
  uint16_t port;
  {
    TestServer gone;
    port = gone.port();
  }  // closed: nothing listens there now
  http::FetcherOptions o;
  o.allow_private = {"127.0.0.1:" + std::to_string(port)};
  auto f = MakeFetcher(o);
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
  std::string e = FetchErr(*f, RestrictedGrant({"127.0.0.1"}), Params(url));
  EXPECT_TRUE(e.starts_with("Plugin \"fetcher\": fetch of \"" + url + "\" failed: ")) << e;
}

TEST_F(FetchTest, ConcurrentFetchesAreIndependent) {
  TestServer server([](const HttpRequest& r) {
    HttpReply reply;
    reply.body = r.target;
    return reply;
  });
  auto f = MakeFetcher(AllowServer(server));
  std::vector<std::thread> threads;
  std::vector<std::string> bodies(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto r =
          DoFetch(*f, RestrictedGrant({"127.0.0.1"}), Params(server.Url("/t" + std::to_string(i))));
      bodies[i] = r.ok() ? Body(r->get_object()) : r.status().message();
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(bodies[i], "/t" + std::to_string(i));
}

TEST_F(FetchTest, BadAllowPrivateEntryFailsCreate) {
  http::FetcherOptions o;
  o.allow_private = {"http://10.0.0.5/"};
  auto f = http::Fetcher::Create(o);
  ASSERT_FALSE(f.ok());
  EXPECT_TRUE(f.status().message().starts_with("--allow-private \"http://10.0.0.5/\": "));
}

}  // namespace
}  // namespace ps::testing
