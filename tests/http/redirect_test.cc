// Redirects followed by the fetcher: every hop re-checked, credentials dropped across origins,
// method rewriting as browsers do, the five-redirect limit, and init.redirect modes.
#include <gtest/gtest.h>

#include <mutex>
#include <string>

#include "http/fetch_fixture.h"

namespace ps::testing {
namespace {

const char kCredentialHeaders[] = R"([["Authorization","Bearer secret"],["Cookie","session=1"],
                                      ["Proxy-Authorization","Basic eA=="],["X-Custom","kept"]])";

http::FetcherOptions Allow(std::initializer_list<const TestServer*> servers) {
  http::FetcherOptions o;
  for (const auto* s : servers) o.allow_private.push_back(s->HostPort());
  return o;
}

// A redirect target the test sets and the server thread reads.
class Target {
 public:
  void Set(std::string v) {
    std::lock_guard<std::mutex> lock(mu_);
    v_ = std::move(v);
  }
  std::string Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return v_;
  }

 private:
  mutable std::mutex mu_;
  std::string v_;
};

HttpReply Ok(std::string body = "ok") {
  HttpReply r;
  r.body = std::move(body);
  return r;
}

TEST(RedirectTest, CredentialsKeptWithinOneOrigin) {
  TestServer a([](const HttpRequest& r) {
    if (r.target == "/start") return HttpReply::Redirect(302, "/next");
    return Ok("landed");
  });
  auto f = MakeFetcher(Allow({&a}));
  auto res =
      FetchOk(*f, RestrictedGrant({"127.0.0.1"}),
              Params(a.Url("/start"), std::string(R"({"headers":)") + kCredentialHeaders + "}"));
  EXPECT_EQ(Body(res), "landed");
  auto reqs = a.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].target, "/next");
  EXPECT_EQ(reqs[1].Header("authorization"), "Bearer secret");
  EXPECT_EQ(reqs[1].Header("cookie"), "session=1");
  EXPECT_EQ(reqs[1].Header("proxy-authorization"), "Basic eA==");
  EXPECT_EQ(reqs[1].Header("x-custom"), "kept");
}

TEST(RedirectTest, CredentialsDroppedAcrossOrigins) {
  TestServer b;  // another port of the same host is another origin
  TestServer a([&b](const HttpRequest&) { return HttpReply::Redirect(302, b.Url("/landing")); });
  auto f = MakeFetcher(Allow({&a, &b}));
  FetchOk(*f, RestrictedGrant({"127.0.0.1"}),
          Params(a.Url("/start"), std::string(R"({"headers":)") + kCredentialHeaders + "}"));
  ASSERT_EQ(a.request_count(), 1u);
  EXPECT_EQ(a.requests()[0].Header("authorization"), "Bearer secret");
  ASSERT_EQ(b.request_count(), 1u);
  auto at_b = b.requests()[0];
  EXPECT_FALSE(at_b.Has("authorization"));
  EXPECT_FALSE(at_b.Has("cookie"));
  EXPECT_FALSE(at_b.Has("proxy-authorization"));
  EXPECT_EQ(at_b.Header("x-custom"), "kept");
}

TEST(RedirectTest, CredentialsStayDroppedWhenComingBackToTheFirstOrigin) {
  Target bounce_url;
  TestServer a([&bounce_url](const HttpRequest& r) {
    if (r.target == "/start") return HttpReply::Redirect(302, bounce_url.Get());
    return Ok("home");
  });
  std::string a_home = a.Url("/home");
  TestServer bounce([a_home](const HttpRequest&) { return HttpReply::Redirect(302, a_home); });
  bounce_url.Set(bounce.Url("/bounce"));
  auto f = MakeFetcher(Allow({&a, &bounce}));
  auto res =
      FetchOk(*f, RestrictedGrant({"127.0.0.1"}),
              Params(a.Url("/start"), std::string(R"({"headers":)") + kCredentialHeaders + "}"));
  EXPECT_EQ(Body(res), "home");
  auto reqs = a.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].Header("authorization"), "Bearer secret");
  EXPECT_EQ(reqs[1].target, "/home");
  EXPECT_FALSE(reqs[1].Has("authorization"));
  EXPECT_FALSE(reqs[1].Has("cookie"));
  EXPECT_FALSE(reqs[1].Has("proxy-authorization"));
}

HttpReply Chain(const HttpRequest& r, int stop_at) {
  int n = std::stoi(r.target.substr(3));  // "/r/<n>"
  if (stop_at >= 0 && n >= stop_at) return Ok("end " + std::to_string(n));
  return HttpReply::Redirect(302, "/r/" + std::to_string(n + 1));
}

TEST(RedirectTest, FiveRedirectsFollowedSixRefused) {
  TestServer five([](const HttpRequest& r) { return Chain(r, 5); });
  TestServer forever([](const HttpRequest& r) { return Chain(r, -1); });
  auto f = MakeFetcher(Allow({&five, &forever}));
  auto g = RestrictedGrant({"127.0.0.1"});
  EXPECT_EQ(Body(FetchOk(*f, g, Params(five.Url("/r/0")))), "end 5");
  EXPECT_EQ(five.request_count(), 6u);
  EXPECT_EQ(FetchErr(*f, g, Params(forever.Url("/r/0"))),
            "Plugin \"fetcher\": too many redirects (max 5)");
  EXPECT_EQ(forever.request_count(), 6u);  // the first request and five follows
}

TEST(RedirectTest, SeeOtherAndPostRedirectsBecomeGet) {
  TestServer s([](const HttpRequest& r) {
    if (r.target.starts_with("/code/"))
      return HttpReply::Redirect(std::stoi(r.target.substr(6)), "/landing");
    return Ok(r.method + " " + r.body);
  });
  auto f = MakeFetcher(Allow({&s}));
  auto g = RestrictedGrant({"127.0.0.1"});
  auto post = [&](int code, const char* method) {
    return Body(FetchOk(*f, g,
                        Params(s.Url("/code/" + std::to_string(code)),
                               std::string(R"({"method":")") + method +
                                   R"(","bodyType":"string","body":"payload",
                                          "headers":[["Content-Type","application/json"],
                                                     ["Content-Language","en"],["X-Custom","kept"]]})")));
  };
  EXPECT_EQ(post(303, "POST"), "GET ");
  auto landing = s.requests().back();
  EXPECT_EQ(landing.method, "GET");
  EXPECT_EQ(landing.body, "");
  EXPECT_FALSE(landing.Has("content-type"));
  EXPECT_FALSE(landing.Has("content-language"));
  EXPECT_FALSE(landing.Has("content-length"));
  EXPECT_EQ(landing.Header("x-custom"), "kept");

  EXPECT_EQ(post(303, "PUT"), "GET ");
  EXPECT_EQ(post(302, "POST"), "GET ");
  EXPECT_EQ(post(301, "POST"), "GET ");
  // 301/302 rewrite only POST; 307/308 never rewrite.
  EXPECT_EQ(post(302, "PUT"), "PUT payload");
  EXPECT_EQ(s.requests().back().Header("content-type"), "application/json");
  EXPECT_EQ(post(307, "POST"), "POST payload");
  EXPECT_EQ(s.requests().back().Header("content-type"), "application/json");
  EXPECT_EQ(post(308, "POST"), "POST payload");
  EXPECT_EQ(post(308, "PATCH"), "PATCH payload");
}

TEST(RedirectTest, ManualAndErrorModes) {
  TestServer s([](const HttpRequest& r) {
    if (r.target == "/moved") return HttpReply::Redirect(302, "/elsewhere");
    return Ok();
  });
  auto f = MakeFetcher(Allow({&s}));
  auto g = RestrictedGrant({"127.0.0.1"});
  auto res = FetchOk(*f, g, Params(s.Url("/moved"), R"({"redirect":"manual"})"));
  EXPECT_EQ(res["status"].as_int64(), 302);
  EXPECT_EQ(res["statusText"].as_string(), "Found");
  EXPECT_EQ(ResponseHeader(res, "location"), "/elsewhere");
  EXPECT_EQ(s.request_count(), 1u);
  EXPECT_EQ(FetchErr(*f, g, Params(s.Url("/moved"), R"({"redirect":"error"})")),
            "Plugin \"fetcher\": redirect from \"" + s.Url("/moved") +
                "\" to \"/elsewhere\" refused because init.redirect is \"error\"");
  EXPECT_EQ(s.request_count(), 2u);
}

TEST(RedirectTest, NonRedirectsAndMissingLocationAreFinal) {
  TestServer s([](const HttpRequest& r) {
    HttpReply reply;
    if (r.target == "/no-location") reply.status = 302;
    if (r.target == "/not-modified") {
      reply.status = 304;
      reply.headers = {{"Location", "/x"}};
    }
    if (r.target == "/choices") reply = HttpReply::Redirect(300, "/x");
    return reply;
  });
  auto f = MakeFetcher(Allow({&s}));
  auto g = RestrictedGrant({"127.0.0.1"});
  EXPECT_EQ(FetchOk(*f, g, Params(s.Url("/no-location")))["status"].as_int64(), 302);
  EXPECT_EQ(FetchOk(*f, g, Params(s.Url("/not-modified")))["status"].as_int64(), 304);
  EXPECT_EQ(FetchOk(*f, g, Params(s.Url("/choices")))["status"].as_int64(), 300);
  EXPECT_EQ(s.request_count(), 3u);
}

TEST(RedirectTest, RelativeLocationsResolveAgainstTheCurrentUrl) {
  TestServer s([](const HttpRequest& r) {
    if (r.target == "/a/b/c") return HttpReply::Redirect(301, "../d?x=1#frag");
    return Ok(r.target);
  });
  auto f = MakeFetcher(Allow({&s}));
  EXPECT_EQ(Body(FetchOk(*f, RestrictedGrant({"127.0.0.1"}), Params(s.Url("/a/b/c")))), "/a/d?x=1");
}

TEST(RedirectTest, RedirectToPrivateAddressesIsBlocked) {
  TestServer other;  // loopback too, but not covered by the exception (another port)
  Target target;
  TestServer a([&target](const HttpRequest&) { return HttpReply::Redirect(302, target.Get()); });
  auto f = MakeFetcher(Allow({&a}));
  const std::string a_port = std::to_string(a.port());
  struct Case {
    std::string location, host;
  } cases[] = {
      {other.Url("/steal"), "127.0.0.1"},
      {"http://0x7f.1:" + std::to_string(other.port()) + "/", "127.0.0.1"},
      {"http://169.254.169.254/latest/meta-data/iam/", "169.254.169.254"},
      {"http://10.0.0.5/", "10.0.0.5"},
      {"http://[::1]:" + a_port + "/", "[::1]"},
      {"http://[::ffff:127.0.0.1]:" + a_port + "/", "[::ffff:7f00:1]"},
      {"http://localhost:" + a_port + "/", "localhost"},
      {"http://metadata.google.internal/", "metadata.google.internal"},
  };
  for (auto grant : {RestrictedGrant({"*"}), UnrestrictedGrant()}) {
    for (const auto& c : cases) {
      target.Set(c.location);
      std::string e = FetchErr(*f, grant, Params(a.Url("/start")));
      EXPECT_TRUE(e.starts_with("Plugin \"fetcher\": blocked fetch to \"" + c.host + "\": "))
          << c.location << ": " << e;
      EXPECT_TRUE(e.ends_with(" (redirected from \"" + a.Url("/start") + "\")")) << e;
    }
  }
  EXPECT_EQ(other.request_count(), 0u);
}

TEST(RedirectTest, RedirectToANonAllowedHostOrScheme) {
  Target target;
  TestServer a([&target](const HttpRequest&) { return HttpReply::Redirect(302, target.Get()); });
  auto f = MakeFetcher(Allow({&a}));
  auto g = RestrictedGrant({"127.0.0.1"});
  target.Set("https://evil.example/collect");
  EXPECT_EQ(FetchErr(*f, g, Params(a.Url("/start"))),
            "Plugin \"fetcher\" is not allowed to fetch from host \"evil.example\". Allowed "
            "hosts: 127.0.0.1 (redirected from \"" +
                a.Url("/start") + "\")");
  target.Set("ftp://127.0.0.1/file");
  EXPECT_EQ(FetchErr(*f, g, Params(a.Url("/start"))),
            "Plugin \"fetcher\": unsupported scheme \"ftp:\"; only http and https are allowed "
            "(redirected from \"" +
                a.Url("/start") + "\")");
  target.Set("http://[::1");
  std::string e = FetchErr(*f, g, Params(a.Url("/start")));
  EXPECT_TRUE(e.starts_with("Plugin \"fetcher\": the redirect from \"" + a.Url("/start") +
                            "\" has an invalid Location \"http://[::1\""))
      << e;
}

}  // namespace
}  // namespace ps::testing
