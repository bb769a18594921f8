// SSRF address classes, name blocks, host allowlists and --allow-private entries.
#include <gtest/gtest.h>

#include "http/address.h"
#include "http/policy.h"
#include "http/url.h"

namespace ps::http {
namespace {

std::string Reason(const char* literal) {
  auto a = ParseIpLiteral(literal);
  EXPECT_TRUE(a.has_value()) << literal;
  return a ? BlockedReason(*a) : "<not an address>";
}

TEST(AddressTest, EveryBlockedClass) {
  struct Case {
    const char* address;
    const char* reason_contains;
  } cases[] = {
      {"0.0.0.0", "unspecified"},
      {"0.1.2.3", "unspecified"},
      {"10.0.0.5", "private"},
      {"10.255.255.255", "private"},
      {"100.64.0.1", "carrier-grade NAT"},
      {"100.127.255.254", "carrier-grade NAT"},
      {"127.0.0.1", "loopback"},
      {"127.255.255.254", "loopback"},
      {"169.254.169.254", "link-local"},
      {"172.16.0.1", "private"},
      {"172.31.255.255", "private"},
      {"192.0.0.170", "IETF protocol assignment"},
      {"192.0.2.1", "documentation"},
      {"192.88.99.1", "6to4 relay"},
      {"192.168.1.1", "private"},
      {"198.18.0.1", "benchmarking"},
      {"198.19.255.255", "benchmarking"},
      {"198.51.100.7", "documentation"},
      {"203.0.113.9", "documentation"},
      {"224.0.0.1", "multicast"},
      {"239.255.255.250", "multicast"},
      {"240.0.0.1", "reserved"},
      {"255.255.255.255", "broadcast"},
      {"::", "unspecified"},
      {"::1", "loopback"},
      {"::127.0.0.1", "IPv4-compatible"},
      {"::8.8.8.8", "IPv4-compatible"},
      {"::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1, a loopback"},
      {"::ffff:7f00:1", "IPv4-mapped form of 127.0.0.1"},
      {"::ffff:10.1.2.3", "IPv4-mapped form of 10.1.2.3, a private"},
      {"::ffff:a9fe:a9fe", "169.254.169.254, a link-local"},
      {"::ffff:0:7f00:1", "SIIT"},
      {"64:ff9b::7f00:1", "NAT64 form of 127.0.0.1"},
      {"64:ff9b::a9fe:a9fe", "NAT64 form of 169.254.169.254"},
      {"64:ff9b::10.0.0.1", "NAT64 form of 10.0.0.1"},
      {"64:ff9b:1::1", "local-use NAT64"},
      {"2002:7f00:1::1", "6to4 form of 127.0.0.1"},
      {"2002:c0a8:101::", "6to4 form of 192.168.1.1"},
      {"2001::1", "Teredo"},
      {"2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"},
      {"2001:10::1", "IETF protocol assignment"},
      {"2001:db8::1", "documentation"},
      {"3fff::1", "documentation"},
      {"fe80::1", "link-local"},
      {"febf:ffff::1", "link-local"},
      {"fec0::1", "site-local"},
      {"fc00::1", "unique local"},
      {"fd12:3456:789a::1", "unique local"},
      {"ff02::1", "multicast"},
      {"ff05::1:3", "multicast"},
      {"100::1", "reserved"},
      {"4000::1", "reserved"},
  };
  for (const auto& c : cases) {
    std::string why = Reason(c.address);
    EXPECT_NE(why.find(c.reason_contains), std::string::npos) << c.address << ": \"" << why << "\"";
  }
}

TEST(AddressTest, PublicAddressesPass) {
  for (const char* a :
       {"8.8.8.8", "1.1.1.1", "93.184.216.34", "172.15.255.255", "172.32.0.1", "100.63.255.255",
        "100.128.0.1", "169.253.255.255", "192.0.3.1", "198.17.255.255", "198.20.0.1",
        "223.255.255.255", "11.0.0.1", "2606:4700:4700::1111", "2a00:1450:4001:82b::200e",
        "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", "2001:200::1"}) {
    EXPECT_EQ(Reason(a), "") << a;
  }
}

TEST(AddressTest, FormatAndParse) {
  EXPECT_EQ(ParseIpLiteral("10.0.0.5")->Format(), "10.0.0.5");
  EXPECT_EQ(ParseIpLiteral("::ffff:127.0.0.1")->Format(), "::ffff:7f00:1");
  EXPECT_EQ(ParseIpLiteral("FE80:0:0:0:0:0:0:1")->Format(), "fe80::1");
  EXPECT_FALSE(ParseIpLiteral("127.1").has_value());  // URL forms are the URL parser's job
  EXPECT_FALSE(ParseIpLiteral("example.com").has_value());
}

TEST(AddressTest, BlockedNames) {
  for (const char* name : {"localhost", "foo.localhost", "a.b.localhost"}) {
    EXPECT_EQ(BlockedHostName(name), std::string(name) + " is an internal host name") << name;
  }
  for (const char* name : {"metadata.google.internal", "metadata.google"}) {
    EXPECT_EQ(BlockedHostName(name), std::string(name) + " is a cloud metadata host name") << name;
  }
  for (const char* name : {"nip.io", "127.0.0.1.nip.io", "10-0-0-5.sslip.io", "xip.io",
                           "a.traefik.me", "lvh.me", "x.localtest.me"}) {
    EXPECT_NE(BlockedHostName(name).find("wildcard DNS service"), std::string::npos) << name;
  }
  for (const char* name : {"example.com", "notlocalhost", "localhost.example.com", "mynip.io",
                           "metadata.google.internal.example"}) {
    EXPECT_EQ(BlockedHostName(name), "") << name;
  }
}

Url U(const char* s) {
  auto u = ParseUrl(s);
  EXPECT_TRUE(u.ok()) << s;
  return u.ok() ? *u : Url{};
}

TEST(HostAllowlistTest, ExactWildcardAndStar) {
  HostAllowlist list({"api.example.com", "*.cdn.example.org", "[::1]", "127.1"});
  EXPECT_TRUE(list.Allows(U("https://api.example.com/x")));
  EXPECT_TRUE(list.Allows(U("https://API.Example.COM./x")));
  EXPECT_TRUE(list.Allows(U("http://api.example.com:8443/")));  // every port
  EXPECT_FALSE(list.Allows(U("https://example.com/")));
  EXPECT_FALSE(list.Allows(U("https://evil-api.example.com/")));
  EXPECT_FALSE(list.Allows(U("https://api.example.com.evil.net/")));
  EXPECT_TRUE(list.Allows(U("https://cdn.example.org/")));  // *.x also matches x
  EXPECT_TRUE(list.Allows(U("https://a.b.cdn.example.org/")));
  EXPECT_TRUE(list.Allows(U("https://A.CDN.example.org./")));
  EXPECT_FALSE(list.Allows(U("https://xcdn.example.org/")));
  EXPECT_TRUE(list.Allows(U("http://[0:0::1]/")));
  EXPECT_TRUE(list.Allows(U("http://2130706433/")));  // pattern 127.1 is 127.0.0.1
  EXPECT_EQ(list.Describe(), "api.example.com, *.cdn.example.org, [::1], 127.1");

  HostAllowlist upper({"*.Example.COM."});
  EXPECT_TRUE(upper.Allows(U("http://www.example.com/")));

  HostAllowlist star({"*"});
  EXPECT_TRUE(star.Allows(U("http://anything.example/")));
  EXPECT_TRUE(star.Allows(U("http://10.0.0.1/")));

  HostAllowlist ip_suffix({"*.0.1"});
  EXPECT_FALSE(ip_suffix.Allows(U("http://10.0.0.1/")));  // suffixes match names only
}

TEST(PrivateExceptionsTest, ParseAndCover) {
  auto ex = PrivateExceptions::Parse({"127.0.0.1:8080", "webhooks.lan", "[::1]:9000", "fd00::5"});
  ASSERT_TRUE(ex.ok()) << ex.status().message();
  EXPECT_TRUE(ex->CoversHost(U("http://127.0.0.1:8080/")));
  EXPECT_TRUE(ex->CoversHost(U("http://0x7f.1:8080/")));
  EXPECT_FALSE(ex->CoversHost(U("http://127.0.0.1:8081/")));
  EXPECT_FALSE(ex->CoversHost(U("http://127.0.0.1/")));
  EXPECT_TRUE(ex->CoversHost(U("http://webhooks.lan:1234/")));
  EXPECT_TRUE(ex->CoversHost(U("http://WEBHOOKS.lan./")));
  EXPECT_TRUE(ex->CoversHost(U("http://[::1]:9000/")));
  EXPECT_FALSE(ex->CoversHost(U("http://[::1]:9001/")));
  // By address: a name that resolves to an allowed address, on the allowed port.
  auto loop = *ParseIpLiteral("127.0.0.1");
  EXPECT_TRUE(ex->CoversAddress(U("http://pinned.test:8080/"), loop));
  EXPECT_FALSE(ex->CoversAddress(U("http://pinned.test:8081/"), loop));
  EXPECT_TRUE(ex->CoversAddress(U("http://anything.test/"), *ParseIpLiteral("fd00::5")));

  for (const char* bad : {"", "http://127.0.0.1/", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:99999",
                          "127.0.0.1:8x", "[::1", "[::1]x", "bad host", "256.0.0.1"}) {
    auto r = PrivateExceptions::Parse({bad});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.status().message().starts_with("--allow-private \"")) << r.status().message();
    EXPECT_NE(r.status().message().find("expected HOST or HOST:PORT"), std::string::npos);
  }
}

}  // namespace
}  // namespace ps::http
