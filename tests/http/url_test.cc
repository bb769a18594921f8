// URL parsing as WHATWG does it for http(s): hosts in every IPv4 form, IPv6 serialization,
// paths, and redirect resolution.
#include "http/url.h"

#include <gtest/gtest.h>

namespace ps::http {
namespace {

std::string Href(std::string_view input) {
  auto u = ParseUrl(input);
  return u.ok() ? u->Href() : "error: " + u.status().message();
}

std::string Resolve(std::string_view ref, std::string_view base) {
  auto b = ParseUrl(base);
  EXPECT_TRUE(b.ok()) << base;
  auto u = ParseUrl(ref, &*b);
  return u.ok() ? u->Href() : "error: " + u.status().message();
}

TEST(UrlTest, Ipv4HostForms) {
  struct Case {
    const char* input;
    const char* href;
  } cases[] = {
      {"http://127.0.0.1/", "http://127.0.0.1/"},
      {"http://2130706433/", "http://127.0.0.1/"},
      {"http://0177.0.0.1/", "http://127.0.0.1/"},
      {"http://0x7f.0.0.1/", "http://127.0.0.1/"},
      {"http://0X7F.0.0.1/", "http://127.0.0.1/"},
      {"http://0x7f000001/", "http://127.0.0.1/"},
      {"http://017700000001/", "http://127.0.0.1/"},
      {"http://127.1/", "http://127.0.0.1/"},
      {"http://127.0.1/", "http://127.0.0.1/"},
      {"http://127.0.0.1./", "http://127.0.0.1/"},
      {"http://%31%32%37.0.0.1/", "http://127.0.0.1/"},
      {"http://0/", "http://0.0.0.0/"},
      {"http://169.254.43518/", "http://169.254.169.254/"},
      {"http://0xa9.0xfe.0xa9.0xfe/", "http://169.254.169.254/"},
      {"http://0xA9FEA9FE/", "http://169.254.169.254/"},
      {"http://10.0.0.0x5/", "http://10.0.0.5/"},
      {"HTTP://EXAMPLE.COM/", "http://example.com/"},
      {"http://example.com./x", "http://example.com./x"},
      {"http://1.2.3.4.example/", "http://1.2.3.4.example/"},
  };
  for (const auto& c : cases) EXPECT_EQ(Href(c.input), c.href) << c.input;
}

TEST(UrlTest, InvalidIpv4AndHosts) {
  for (const char* bad :
       {"http://256.0.0.1/", "http://1.2.3.4.5/", "http://4294967296/", "http://08/",
        "http://1.2.3.09/", "http:///", "http://exa mple.com/", "http://a%00b/",
        "http://ex%41mple%2f.com/", "http://[::1/", "http://[1.2.3.4]/", "http://[::1%25eth0]/",
        "http://example.com:80x/", "http://example.com:65536/", "http://h\xc3\xa9.com/",
        "example.com/path", "//example.com/"}) {
    EXPECT_TRUE(Href(bad).starts_with("error:")) << bad << " -> " << Href(bad);
  }
  // 0x alone is the number 0.
  EXPECT_EQ(Href("http://127.0.0.0x/"), "http://127.0.0.0/");
  EXPECT_EQ(Href("http://0x/"), "http://0.0.0.0/");
}

TEST(UrlTest, Ipv6Serialization) {
  EXPECT_EQ(Href("http://[::1]/"), "http://[::1]/");
  EXPECT_EQ(Href("http://[0:0:0:0:0:0:0:1]:8080/"), "http://[::1]:8080/");
  EXPECT_EQ(Href("http://[::ffff:127.0.0.1]/"), "http://[::ffff:7f00:1]/");
  EXPECT_EQ(Href("http://[2001:DB8:0:0:1:0:0:1]/"), "http://[2001:db8::1:0:0:1]/");
  EXPECT_EQ(Href("http://[1:0:1:0:1:0:1:0]/"), "http://[1:0:1:0:1:0:1:0]/");
  auto u = ParseUrl("http://[::ffff:127.0.0.1]/");
  ASSERT_TRUE(u.ok());
  ASSERT_TRUE(u->ip && u->ip->v6);
  EXPECT_EQ(u->HostForMatching(), "::ffff:7f00:1");
  EXPECT_EQ(u->host, "[::ffff:7f00:1]");
}

TEST(UrlTest, PortsAndOrigins) {
  auto a = ParseUrl("https://example.com:443/x");
  auto b = ParseUrl("https://example.com/y?q");
  auto c = ParseUrl("http://example.com/");
  auto d = ParseUrl("https://example.com:8443/");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  EXPECT_EQ(a->Href(), "https://example.com/x");
  EXPECT_EQ(a->Origin(), b->Origin());
  EXPECT_NE(a->Origin(), c->Origin());
  EXPECT_NE(a->Origin(), d->Origin());
  EXPECT_EQ(d->port, 8443);
  EXPECT_EQ(c->port, 80);
}

TEST(UrlTest, PathsQueriesAndFragments) {
  EXPECT_EQ(Href("http://h/a/./b/../c"), "http://h/a/c");
  EXPECT_EQ(Href("http://h/a/%2e%2E/c"), "http://h/c");
  EXPECT_EQ(Href("http://h/a/.."), "http://h/");
  EXPECT_EQ(Href("http://h"), "http://h/");
  EXPECT_EQ(Href("http://h\\a\\b"), "http://h/a/b");
  EXPECT_EQ(Href("http://h/a b?x y#frag"), "http://h/a%20b?x%20y");
  EXPECT_EQ(Href("http://h/\xc3\xa9?\xc3\xa9"), "http://h/%C3%A9?%C3%A9");
  EXPECT_EQ(Href("  http://h/\t\nx  "), "http://h/x");
  EXPECT_EQ(Href("http:example.com/x"), "http://example.com/x");
  EXPECT_EQ(Href("http:\\\\example.com\\x"), "http://example.com/x");
}

TEST(UrlTest, CredentialsAreNoticed) {
  auto u = ParseUrl("http://user:pass@example.com/");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->has_credentials);
  EXPECT_EQ(u->host, "example.com");
  auto v = ParseUrl("http://@example.com/");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->has_credentials);
  // The last @ separates credentials from the host.
  auto w = ParseUrl("http://a@b@127.0.0.1/");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->host, "127.0.0.1");
}

TEST(UrlTest, OtherSchemesKeepOnlyTheScheme) {
  for (const char* in : {"ftp://example.com/", "file:///etc/passwd", "data:text/plain,hi",
                         "javascript:alert(1)", "gopher://127.0.0.1:70/", "FTP://x/"}) {
    auto u = ParseUrl(in);
    ASSERT_TRUE(u.ok()) << in;
    EXPECT_FALSE(u->http()) << in;
  }
  EXPECT_EQ(ParseUrl("FTP://x/")->scheme, "ftp");
}

TEST(UrlTest, RelativeResolution) {
  const char* base = "http://a.example:8080/b/c/d?q";
  EXPECT_EQ(Resolve("g", base), "http://a.example:8080/b/c/g");
  EXPECT_EQ(Resolve("./g/", base), "http://a.example:8080/b/c/g/");
  EXPECT_EQ(Resolve("../g", base), "http://a.example:8080/b/g");
  EXPECT_EQ(Resolve("../../../../g", base), "http://a.example:8080/g");
  EXPECT_EQ(Resolve("/g", base), "http://a.example:8080/g");
  EXPECT_EQ(Resolve("\\g", base), "http://a.example:8080/g");
  EXPECT_EQ(Resolve("?y", base), "http://a.example:8080/b/c/d?y");
  EXPECT_EQ(Resolve("#f", base), "http://a.example:8080/b/c/d?q");
  EXPECT_EQ(Resolve("", base), "http://a.example:8080/b/c/d?q");
  EXPECT_EQ(Resolve("//other.example/x", base), "http://other.example/x");
  EXPECT_EQ(Resolve("\\\\127.1\\x", base), "http://127.0.0.1/x");
  EXPECT_EQ(Resolve("http:g", base), "http://a.example:8080/b/c/g");
  EXPECT_EQ(Resolve("http://[::1]:9/", base), "http://[::1]:9/");
  EXPECT_EQ(Resolve("https://secure.example/", base), "https://secure.example/");
  auto b = ParseUrl(base);
  auto ftp = ParseUrl("ftp://x/", &*b);
  ASSERT_TRUE(ftp.ok());
  EXPECT_EQ(ftp->scheme, "ftp");
}

TEST(UrlTest, ParseHostForEntries) {
  auto h = ParseHost("0x7f.1");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->serialized, "127.0.0.1");
  ASSERT_TRUE(h->ip.has_value());
  auto n = ParseHost("Api.Example.COM");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->serialized, "api.example.com");
  EXPECT_FALSE(n->ip.has_value());
  EXPECT_FALSE(ParseHost("").ok());
  EXPECT_FALSE(ParseHost("a/b").ok());
}

// Found by fuzz/url_fuzzer.cc: WHATWG keeps "169..." a name, but the name we match and resolve
// loses its trailing dots, and "169" is the address 0.0.0.169 to getaddrinfo.
TEST(UrlTest, RefusesANameThatIsANumberOnceItsTrailingDotsAreGone) {
  for (const char* url : {"http://169.../", "http://1.2.3.4../x", "http://0x7f...:80/"}) {
    auto u = ParseUrl(url);
    ASSERT_FALSE(u.ok()) << url << " parsed to " << u->Href();
    EXPECT_NE(u.status().message().find("ends in a number"), std::string::npos)
        << u.status().message();
  }
  auto one_dot = ParseUrl("http://127.1./");  // one trailing dot: still the address
  ASSERT_TRUE(one_dot.ok());
  ASSERT_TRUE(one_dot->ip.has_value());
  EXPECT_EQ(one_dot->ip->Format(), "127.0.0.1");
  auto name = ParseUrl("http://example.com../");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->HostForMatching(), "example.com");
}

}  // namespace
}  // namespace ps::http
