// SSRF bypass attempts, in both network modes: every blocked address class, IP literals in
// every URL form, IPv6 embeddings of IPv4, blocked names, and names that resolve to private
// addresses. A "trap" server listens on loopback; the loopback attempts aim at it, and it must
// never see a request.
#include <gtest/gtest.h>
#include <netdb.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "http/address.h"
#include "http/fetch_fixture.h"
#include "http/request.h"

namespace ps::testing {
namespace {

struct Attempt {
  std::string url;
  std::string host;    // as the message quotes it
  std::string reason;  // a substring of the reason
};

class SsrfTest : public ::testing::Test {
 protected:
  SsrfTest() {
    http::FetcherOptions o;
    // An exception for another port only: the trap's port stays blocked.
    o.allow_private = {"127.0.0.1:1"};
    o.resolver = [](const std::string& host) -> Result<std::vector<http::IpAddress>> {
      auto ip = [](const char* s) { return *http::ParseIpLiteral(s); };
      if (host == "internal.example") return std::vector<http::IpAddress>{ip("10.0.0.5")};
      if (host == "mixed.example")
        return std::vector<http::IpAddress>{ip("93.184.216.34"), ip("10.0.0.5")};
      if (host == "v6.example") return std::vector<http::IpAddress>{ip("fd00::1")};
      if (host == "mapped.example") return std::vector<http::IpAddress>{ip("::ffff:127.0.0.1")};
      if (host == "meta.example") return std::vector<http::IpAddress>{ip("169.254.169.254")};
      if (host == "loop.example") return std::vector<http::IpAddress>{ip("127.0.0.1")};
      if (host == "nat64.example") return std::vector<http::IpAddress>{ip("64:ff9b::a00:5")};
      return std::vector<http::IpAddress>{};
    };
    fetcher_ = MakeFetcher(o);
  }

  std::vector<Attempt> Attempts() const {
    const std::string p = ":" + std::to_string(trap_.port());
    return {
        // Loopback in every spelling, aimed at the trap.
        {"http://127.0.0.1" + p + "/", "127.0.0.1", "127.0.0.1 is a loopback address"},
        {"http://127.255.255.254" + p + "/", "127.255.255.254", "a loopback address"},
        {"http://2130706433" + p + "/", "127.0.0.1", "127.0.0.1 is a loopback address"},
        {"http://0177.0.0.1" + p + "/", "127.0.0.1", "127.0.0.1 is a loopback address"},
        {"http://0x7f.0.0.1" + p + "/", "127.0.0.1", "127.0.0.1 is a loopback address"},
        {"http://0x7f000001" + p + "/", "127.0.0.1", "127.0.0.1 is a loopback address"},
        {"http://017700000001" + p + "/", "127.0.0.1", "127.0.0.1 is a loopback address"},
        {"http://127.1" + p + "/", "127.0.0.1", "127.0.0.1 is a loopback address"},
        {"http://127.0.1" + p + "/", "127.0.0.1", "127.0.0.1 is a loopback address"},
        {"http://127.0.0.1." + p + "/", "127.0.0.1", "127.0.0.1 is a loopback address"},
        {"http://%31%32%37.0.0.1" + p + "/", "127.0.0.1", "127.0.0.1 is a loopback address"},
        {"http:\\\\127.0.0.1" + p + "\\", "127.0.0.1", "127.0.0.1 is a loopback address"},
        {"http://[::1]" + p + "/", "[::1]", "::1 is a loopback address"},
        {"http://[0:0:0:0:0:0:0:1]" + p + "/", "[::1]", "::1 is a loopback address"},
        {"http://[::ffff:127.0.0.1]" + p + "/", "[::ffff:7f00:1]",
         "::ffff:7f00:1 is an IPv4-mapped form of 127.0.0.1, a loopback address"},
        {"http://[::ffff:7f00:1]" + p + "/", "[::ffff:7f00:1]", "IPv4-mapped form of 127.0.0.1"},
        {"http://[0:0:0:0:0:ffff:127.0.0.1]" + p + "/", "[::ffff:7f00:1]", "IPv4-mapped"},
        {"http://[::ffff:0:127.0.0.1]" + p + "/", "[::ffff:0:7f00:1]", "SIIT"},
        {"http://[::127.0.0.1]" + p + "/", "[::7f00:1]", "IPv4-compatible"},
        {"http://[64:ff9b::127.0.0.1]" + p + "/", "[64:ff9b::7f00:1]",
         "NAT64 form of 127.0.0.1, a loopback address"},
        {"http://[2002:7f00:1::1]" + p + "/", "[2002:7f00:1::1]", "6to4 form of 127.0.0.1"},
        // Unspecified ("this host").
        {"http://0.0.0.0" + p + "/", "0.0.0.0", "0.0.0.0 is an unspecified"},
        {"http://0" + p + "/", "0.0.0.0", "unspecified"},
        {"http://[::]" + p + "/", "[::]", ":: is an unspecified address"},
        // Private, link-local / cloud metadata, and the other classes.
        {"http://10.0.0.5/", "10.0.0.5", "10.0.0.5 is a private address"},
        {"http://172.16.0.1/", "172.16.0.1", "a private address"},
        {"http://172.31.255.255/", "172.31.255.255", "a private address"},
        {"http://192.168.0.1/", "192.168.0.1", "a private address"},
        {"http://169.254.169.254/latest/meta-data/", "169.254.169.254", "link-local"},
        {"http://0xa9fea9fe/", "169.254.169.254", "link-local"},
        {"http://169.254.43518/", "169.254.169.254", "link-local"},
        {"http://[::ffff:169.254.169.254]/", "[::ffff:a9fe:a9fe]", "link-local"},
        {"http://[fd00:ec2::254]/", "[fd00:ec2::254]", "unique local"},
        {"http://100.64.0.1/", "100.64.0.1", "carrier-grade NAT"},
        {"http://224.0.0.1/", "224.0.0.1", "multicast"},
        {"http://255.255.255.255/", "255.255.255.255", "the broadcast address"},
        {"http://240.0.0.1/", "240.0.0.1", "reserved"},
        {"http://198.18.0.1/", "198.18.0.1", "benchmarking"},
        {"http://192.0.2.1/", "192.0.2.1", "documentation"},
        {"http://198.51.100.1/", "198.51.100.1", "documentation"},
        {"http://203.0.113.1/", "203.0.113.1", "documentation"},
        {"http://192.0.0.8/", "192.0.0.8", "IETF protocol assignment"},
        {"http://[fe80::1]/", "[fe80::1]", "link-local"},
        {"http://[fc00::1]/", "[fc00::1]", "unique local"},
        {"http://[fec0::1]/", "[fec0::1]", "site-local"},
        {"http://[ff02::1]/", "[ff02::1]", "multicast"},
        {"http://[2001:db8::1]/", "[2001:db8::1]", "documentation"},
        {"http://[2001::1]/", "[2001::1]", "Teredo"},
        {"http://[64:ff9b:1::1]/", "[64:ff9b:1::1]", "local-use NAT64"},
        // Blocked names (no lookup happens).
        {"http://localhost" + p + "/", "localhost", "localhost is an internal host name"},
        {"http://LOCALHOST" + p + "/", "localhost", "localhost is an internal host name"},
        {"http://localhost." + p + "/", "localhost.", "localhost is an internal host name"},
        {"http://api.localhost" + p + "/", "api.localhost", "internal host name"},
        {"http://metadata.google.internal/computeMetadata/v1/", "metadata.google.internal",
         "cloud metadata"},
        {"http://metadata.google/", "metadata.google", "cloud metadata"},
        {"http://127.0.0.1.nip.io" + p + "/", "127.0.0.1.nip.io", "wildcard DNS service"},
        {"http://nip.io/", "nip.io", "wildcard DNS service"},
        {"http://10-0-0-5.sslip.io/", "10-0-0-5.sslip.io", "wildcard DNS service"},
        {"http://a.xip.io/", "a.xip.io", "wildcard DNS service"},
        {"http://traefik.me/", "traefik.me", "wildcard DNS service"},
        {"http://x.lvh.me/", "x.lvh.me", "wildcard DNS service"},
        {"http://localtest.me/", "localtest.me", "wildcard DNS service"},
        // Names whose DNS answer is private: every address is checked.
        {"http://internal.example/", "internal.example",
         "internal.example resolves to 10.0.0.5, a private address"},
        {"http://mixed.example/", "mixed.example", "mixed.example resolves to 10.0.0.5"},
        {"http://v6.example/", "v6.example", "resolves to fd00::1, a unique local"},
        {"http://mapped.example" + p + "/", "mapped.example",
         "resolves to ::ffff:7f00:1, an IPv4-mapped form of 127.0.0.1"},
        {"http://meta.example/", "meta.example", "resolves to 169.254.169.254, a link-local"},
        {"http://loop.example" + p + "/", "loop.example", "resolves to 127.0.0.1, a loopback"},
        {"http://nat64.example/", "nat64.example", "NAT64 form of 10.0.0.5"},
    };
  }

  void ExpectAllBlocked(const bridge::Grant& g) {
    for (const auto& a : Attempts()) {
      std::string e = FetchErr(*fetcher_, g, Params(a.url));
      std::string prefix = "Plugin \"fetcher\": blocked fetch to \"" + a.host + "\": ";
      EXPECT_TRUE(e.starts_with(prefix)) << a.url << "\n  got: " << e << "\n want: " << prefix;
      EXPECT_NE(e.find(a.reason), std::string::npos) << a.url << "\n  got: " << e;
      if (e.find("wildcard DNS") == std::string::npos) {
        EXPECT_TRUE(
            e.ends_with("ask the site operator to add it with --allow-private if this "
                        "is intended"))
            << e;
      }
    }
    EXPECT_EQ(trap_.request_count(), 0u);
  }

  TestServer trap_;
  std::shared_ptr<const http::Fetcher> fetcher_;
};

TEST_F(SsrfTest, UnrestrictedModeBlocksEveryAttempt) { ExpectAllBlocked(UnrestrictedGrant()); }

TEST_F(SsrfTest, AllowlistStarDoesNotOpenPrivateAddresses) {
  ExpectAllBlocked(RestrictedGrant({"*"}));
}

TEST_F(SsrfTest, AnExplicitlyAllowedHostIsStillChecked) {
  // EmDash skipped SSRF checks for allowlisted hosts; an allowlist entry is no exception here.
  auto g = RestrictedGrant({"internal.example", "127.0.0.1", "localhost", "169.254.169.254"});
  for (const char* url : {"http://internal.example/", "http://127.0.0.1/", "http://localhost/",
                          "http://169.254.169.254/"}) {
    EXPECT_TRUE(
        FetchErr(*fetcher_, g, Params(url)).starts_with("Plugin \"fetcher\": blocked fetch"))
        << url;
  }
}

TEST_F(SsrfTest, AllowPrivateIsPortSpecific) {
  http::FetcherOptions o;
  o.allow_private = {"127.0.0.1:" + std::to_string(trap_.port())};
  auto f = MakeFetcher(o);
  auto g = UnrestrictedGrant();
  EXPECT_EQ(FetchOk(*f, g, Params(trap_.Url()))["status"].as_int64(), 200);
  // The same address in another spelling is the same destination.
  EXPECT_EQ(FetchOk(*f, g, Params("http://0x7f.1:" + std::to_string(trap_.port()) + "/"))["status"]
                .as_int64(),
            200);
  // Another port of the same address is not covered.
  TestServer other;
  EXPECT_TRUE(FetchErr(*f, g, Params(other.Url()))
                  .starts_with("Plugin \"fetcher\": blocked fetch to \"127.0.0.1\": 127.0.0.1 is a "
                               "loopback address"));
  EXPECT_EQ(other.request_count(), 0u);
  // An address exception does not lift the name block on localhost.
  EXPECT_TRUE(FetchErr(*f, g, Params("http://localhost:" + std::to_string(trap_.port()) + "/"))
                  .starts_with("Plugin \"fetcher\": blocked fetch to \"localhost\""));
}

TEST_F(SsrfTest, AllowPrivateByNameUsesTheSystemResolver) {
  // localhost resolves through /etc/hosts; the operator named it with this port.
  http::FetcherOptions o;
  o.allow_private = {"localhost:" + std::to_string(trap_.port())};
  auto f = MakeFetcher(o);
  auto r = DoFetch(*f, UnrestrictedGrant(),
                   Params("http://localhost:" + std::to_string(trap_.port()) + "/"));
  if (!r.ok() && r.status().message().find("failed") != std::string::npos) {
    // localhost resolved to ::1 only and nothing listens there (the trap is IPv4).
    GTEST_SKIP() << r.status().message();
  }
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(trap_.request_count(), 1u);
}

TEST_F(SsrfTest, ASecondLookupCannotReachAnUncheckedAddress) {
  // A rebinding DNS answer: our lookup says 127.0.0.2, a later lookup says 127.0.0.1 (the trap).
  const std::string port = std::to_string(trap_.port());
  http::FetcherOptions o;
  o.allow_private = {"localhost:" + port};
  o.resolver = [](const std::string&) -> Result<std::vector<http::IpAddress>> {
    return std::vector<http::IpAddress>{*http::ParseIpLiteral("127.0.0.2")};
  };
  // Unpinned, curl looks localhost up itself; the open-socket check refuses what it got.
  o.pin_addresses = false;
  auto unpinned = MakeFetcher(o);
  std::string e =
      FetchErr(*unpinned, UnrestrictedGrant(), Params("http://localhost:" + port + "/"));
  EXPECT_TRUE(
      e.starts_with("Plugin \"fetcher\": blocked fetch to \"localhost\": the connection "
                    "went to "))
      << e;
  EXPECT_NE(e.find("which is not an address checked for this host"), std::string::npos) << e;
  // Pinned (the default), curl connects to the checked answer, where nothing listens.
  o.pin_addresses = true;
  auto pinned = MakeFetcher(o);
  e = FetchErr(*pinned, UnrestrictedGrant(), Params("http://localhost:" + port + "/"));
  EXPECT_TRUE(
      e.starts_with("Plugin \"fetcher\": fetch of \"http://localhost:" + port + "/\" failed: "))
      << e;
  EXPECT_EQ(trap_.request_count(), 0u);
}

TEST_F(SsrfTest, SystemResolverAnswerIsChecked) {
  // This machine's own name resolves (via /etc/hosts or DNS) to a loopback or private address
  // on every CI runner we know; skip where it does not.
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) GTEST_SKIP() << "no hostname";
  std::string name = http::LowerAscii(buf);
  if (!http::BlockedHostName(name).empty()) GTEST_SKIP() << name << " is blocked by name";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(name.c_str(), nullptr, &hints, &res) != 0)
    GTEST_SKIP() << name << " does not resolve";
  bool any_private = false;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    auto a = http::FromSockaddr(ai->ai_addr);
    any_private |= a && !http::BlockedReason(*a).empty();
  }
  freeaddrinfo(res);
  if (!any_private) GTEST_SKIP() << name << " resolves to public addresses only";
  auto f = MakeFetcher();  // the system resolver
  std::string e = FetchErr(*f, UnrestrictedGrant(),
                           Params("http://" + name + ":" + std::to_string(trap_.port()) + "/"));
  EXPECT_TRUE(e.starts_with("Plugin \"fetcher\": blocked fetch to \"" + name + "\": " + name +
                            " resolves to "))
      << e;
  EXPECT_EQ(trap_.request_count(), 0u);
}

}  // namespace
}  // namespace ps::testing
