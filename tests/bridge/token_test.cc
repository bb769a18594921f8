// Bridge and invoke tokens (bridge.md §9.1, §9.2; token.h): format, round trip, and refusal of
// every forgery: tampered payload, wrong key, truncated or re-encoded MAC, spliced tokens, extra
// dots, garbage, and correctly signed but malformed claims.

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "bridge/token.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/json.h"
#include "gtest/gtest.h"

namespace ps::bridge {
namespace {

const std::string kKey(64, 'a');

Grant SampleGrant() {
  Grant g;
  g.plugin_id = "sample";
  g.version = "1.2.3";
  g.capabilities = {"content:read", "network:request"};
  g.allowed_hosts = {"api.example.com"};
  g.storage_collections = {"items", "logs"};
  return g;
}

std::string PayloadPart(const std::string& token) { return token.substr(0, token.find('.')); }
std::string MacPart(const std::string& token) { return token.substr(token.find('.') + 1); }

// A token over any payload text, signed with the right key.
std::string Sign(const std::string& payload, const std::string& key = kKey) {
  return Base64UrlEncode(payload) + "." + Base64UrlEncode(HmacSha256(key, payload));
}

void ExpectRefused(const TokenAuthority& a, const std::string& token) {
  auto r = a.VerifyBridgeToken(token);
  ASSERT_FALSE(r.ok()) << "accepted: " << token;
  EXPECT_EQ(r.status().code(), Code::kUnauthenticated) << token;
  EXPECT_EQ(r.status().message(), "Invalid auth token") << token;
}

TEST(TokenTest, IssuedTokenRoundTrips) {
  TokenAuthority a(kKey);
  auto r = a.VerifyBridgeToken(a.IssueBridgeToken(SampleGrant()));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, SampleGrant());
}

TEST(TokenTest, EmptyListsRoundTrip) {
  TokenAuthority a(kKey);
  Grant g;
  g.plugin_id = "p";
  g.version = "0.0.1";
  auto r = a.VerifyBridgeToken(a.IssueBridgeToken(g));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, g);
}

TEST(TokenTest, UnusualCharactersInClaimsRoundTrip) {
  TokenAuthority a(kKey);
  Grant g = SampleGrant();
  g.plugin_id = "we\"ird.id\\ \xc3\xa9";
  g.version = "1.0.0+build.5";
  g.storage_collections = {"a.b", ""};
  auto r = a.VerifyBridgeToken(a.IssueBridgeToken(g));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, g);
}

TEST(TokenTest, TokenIsBase64UrlPayloadDotMacWithoutPadding) {
  TokenAuthority a(kKey);
  std::string token = a.IssueBridgeToken(SampleGrant());
  ASSERT_EQ(std::count(token.begin(), token.end(), '.'), 1);
  for (char c : token) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')
        << "unexpected character " << c;
  }
  EXPECT_EQ(MacPart(token).size(), 43u);
}

TEST(TokenTest, PayloadIsClaimsJsonInSpecKeyOrder) {
  TokenAuthority a(kKey);
  auto payload = Base64UrlDecode(PayloadPart(a.IssueBridgeToken(SampleGrant())));
  ASSERT_TRUE(payload.has_value());
  EXPECT_EQ(*payload, R"({"pluginId":"sample","version":"1.2.3","capabilities":["content:read",)"
                      R"("network:request"],"allowedHosts":["api.example.com"],)"
                      R"("storageCollections":["items","logs"]})");
}

TEST(TokenTest, MacIsHmacSha256WithHexKeyAsAsciiBytes) {
  TokenAuthority a(kKey);
  std::string token = a.IssueBridgeToken(SampleGrant());
  auto payload = Base64UrlDecode(PayloadPart(token));
  ASSERT_TRUE(payload.has_value());
  EXPECT_EQ(MacPart(token), Base64UrlEncode(HmacSha256(kKey, *payload)));
}

TEST(TokenTest, TamperedPayloadIsRefused) {
  TokenAuthority a(kKey);
  std::string token = a.IssueBridgeToken(SampleGrant());
  auto payload = Base64UrlDecode(PayloadPart(token));
  ASSERT_TRUE(payload.has_value());
  std::string forged = *payload;
  forged.replace(forged.find(R"("content:read")"), 14, R"("content:write")");
  ExpectRefused(a, Base64UrlEncode(forged) + "." + MacPart(token));
}

TEST(TokenTest, EveryFlippedPayloadCharacterIsRefused) {
  TokenAuthority a(kKey);
  std::string token = a.IssueBridgeToken(SampleGrant());
  size_t dot = token.find('.');
  for (size_t i = 0; i < dot; i += 7) {
    std::string t = token;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    if (t == token) continue;
    auto r = a.VerifyBridgeToken(t);
    // A flip in the last character's unused bits may decode to the same payload; everything else
    // must be refused.
    if (r.ok()) {
      EXPECT_EQ(i, dot - 1) << t;
      EXPECT_EQ(*r, SampleGrant());
    }
  }
}

TEST(TokenTest, TokenSignedWithAnotherKeyIsRefused) {
  TokenAuthority a(kKey);
  TokenAuthority b(std::string(64, 'b'));
  ExpectRefused(a, b.IssueBridgeToken(SampleGrant()));
  ExpectRefused(b, a.IssueBridgeToken(SampleGrant()));
}

TEST(TokenTest, MacOverRawKeyBytesIsRefused) {
  // The key is the 64 hex characters as ASCII, not the 32 bytes they encode.
  TokenAuthority a(kKey);
  std::string payload = *Base64UrlDecode(PayloadPart(a.IssueBridgeToken(SampleGrant())));
  ExpectRefused(a, Sign(payload, std::string(32, '\xaa')));
}

TEST(TokenTest, TruncatedMacIsRefused) {
  TokenAuthority a(kKey);
  std::string token = a.IssueBridgeToken(SampleGrant());
  ExpectRefused(a, token.substr(0, token.size() - 1));
  ExpectRefused(a, token.substr(0, token.size() - 22));
  ExpectRefused(a, token.substr(0, token.find('.') + 2));
  ExpectRefused(a, token.substr(0, token.find('.') + 1));
}

TEST(TokenTest, ExtendedMacIsRefused) {
  TokenAuthority a(kKey);
  std::string token = a.IssueBridgeToken(SampleGrant());
  ExpectRefused(a, token + "A");
  ExpectRefused(a, token + "=");
}

TEST(TokenTest, NonCanonicalMacEncodingIsRefused) {
  // 32 bytes take 43 base64url characters; the last one carries 2 unused bits. A MAC string
  // that decodes to the same bytes but is spelled differently must still be refused: the MAC is
  // compared as a string.
  TokenAuthority a(kKey);
  std::string token = a.IssueBridgeToken(SampleGrant());
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t idx = kAlphabet.find(token.back());
  ASSERT_NE(idx, std::string::npos);
  ASSERT_EQ(idx % 4, 0u) << "canonical encodings leave the unused bits zero";
  std::string t = token;
  t.back() = kAlphabet[idx + 1];
  ExpectRefused(a, t);
}

TEST(TokenTest, AnotherPluginsTokenCarriesOnlyThatPlugin) {
  TokenAuthority a(kKey);
  Grant other = SampleGrant();
  other.plugin_id = "other";
  std::string mine = a.IssueBridgeToken(SampleGrant());
  std::string theirs = a.IssueBridgeToken(other);
  EXPECT_NE(mine, theirs);
  EXPECT_EQ(a.VerifyBridgeToken(theirs)->plugin_id, "other");
  // Splicing one plugin's payload onto another's MAC is refused both ways.
  ExpectRefused(a, PayloadPart(theirs) + "." + MacPart(mine));
  ExpectRefused(a, PayloadPart(mine) + "." + MacPart(theirs));
}

TEST(TokenTest, ExtraDotsAreRefused) {
  TokenAuthority a(kKey);
  std::string token = a.IssueBridgeToken(SampleGrant());
  ExpectRefused(a, token + ".");
  ExpectRefused(a, token + "." + MacPart(token));
  ExpectRefused(a, "." + token);
  ExpectRefused(a, PayloadPart(token) + ".." + MacPart(token));
  std::string inner = token;
  inner.insert(5, ".");
  ExpectRefused(a, inner);
}

TEST(TokenTest, MissingPartsAreRefused) {
  TokenAuthority a(kKey);
  std::string token = a.IssueBridgeToken(SampleGrant());
  ExpectRefused(a, "");
  ExpectRefused(a, ".");
  ExpectRefused(a, PayloadPart(token));
  ExpectRefused(a, PayloadPart(token) + ".");
  ExpectRefused(a, "." + MacPart(token));
}

TEST(TokenTest, GarbageIsRefused) {
  TokenAuthority a(kKey);
  for (const char* t :
       {"garbage", "!!!.???", "dev-mode", "Bearer x.y", "a b.c d", "\xff\xfe.\x00", "eyJ9.eyJ9"}) {
    ExpectRefused(a, t);
  }
}

TEST(TokenTest, SignedButMalformedClaimsAreRefused) {
  TokenAuthority a(kKey);
  const char* payloads[] = {
      "not json",
      "[]",
      R"("sample")",
      "{}",
      R"({"pluginId":1,"version":"1","capabilities":[],"allowedHosts":[],"storageCollections":[]})",
      R"({"pluginId":"p","capabilities":[],"allowedHosts":[],"storageCollections":[]})",
      R"({"pluginId":"p","version":1,"capabilities":[],"allowedHosts":[],"storageCollections":[]})",
      R"({"pluginId":"p","version":"1","capabilities":"content:read","allowedHosts":[],)"
      R"("storageCollections":[]})",
      R"({"pluginId":"p","version":"1","capabilities":[1],"allowedHosts":[],)"
      R"("storageCollections":[]})",
      R"({"pluginId":"p","version":"1","capabilities":[],"storageCollections":[]})",
      R"({"pluginId":"p","version":"1","capabilities":[],"allowedHosts":[null],)"
      R"("storageCollections":[]})",
      R"({"pluginId":"p","version":"1","capabilities":[],"allowedHosts":[]})",
      R"({"pluginId":"p","version":"1","capabilities":[],"allowedHosts":[],)"
      R"("storageCollections":{}})",
  };
  for (const char* p : payloads) ExpectRefused(a, Sign(p));
}

TEST(TokenTest, SignedClaimsWithExtraKeysAreAccepted) {
  TokenAuthority a(kKey);
  auto r = a.VerifyBridgeToken(
      Sign(R"({"pluginId":"p","version":"1","capabilities":["email:send"],"allowedHosts":[],)"
           R"("storageCollections":[],"exp":0,"admin":true})"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->plugin_id, "p");
  EXPECT_EQ(r->capabilities, (std::vector<std::string>{"email:send"}));
}

TEST(TokenTest, GeneratedAuthoritiesUseDistinctSecrets) {
  TokenAuthority a = TokenAuthority::Generate();
  TokenAuthority b = TokenAuthority::Generate();
  std::string ta = a.IssueBridgeToken(SampleGrant());
  std::string tb = b.IssueBridgeToken(SampleGrant());
  EXPECT_NE(ta, tb);
  EXPECT_TRUE(a.VerifyBridgeToken(ta).ok());
  ExpectRefused(a, tb);
  ExpectRefused(b, ta);
}

TEST(TokenTest, IssuingIsDeterministicForOneKey) {
  TokenAuthority a(kKey);
  EXPECT_EQ(a.IssueBridgeToken(SampleGrant()), a.IssueBridgeToken(SampleGrant()));
}

// --- invoke tokens (host -> plugin), per plugin and version

TEST(InvokeTokenTest, VerifiesForItsOwnPluginAndVersion) {
  TokenAuthority a(kKey);
  std::string t = a.InvokeToken("p1", "1.0.0");
  EXPECT_FALSE(t.empty());
  EXPECT_TRUE(a.VerifyInvokeToken("p1", "1.0.0", t));
}

TEST(InvokeTokenTest, DiffersPerPluginAndVersion) {
  TokenAuthority a(kKey);
  std::string t = a.InvokeToken("p1", "1.0.0");
  EXPECT_NE(t, a.InvokeToken("p2", "1.0.0"));
  EXPECT_NE(t, a.InvokeToken("p1", "1.0.1"));
  EXPECT_EQ(t, a.InvokeToken("p1", "1.0.0"));
}

TEST(InvokeTokenTest, AnotherPluginsInvokeTokenIsRefused) {
  TokenAuthority a(kKey);
  EXPECT_FALSE(a.VerifyInvokeToken("p2", "1.0.0", a.InvokeToken("p1", "1.0.0")));
  EXPECT_FALSE(a.VerifyInvokeToken("p1", "2.0.0", a.InvokeToken("p1", "1.0.0")));
}

TEST(InvokeTokenTest, FieldBoundariesCannotBeShifted) {
  TokenAuthority a(kKey);
  EXPECT_NE(a.InvokeToken("ab", "c"), a.InvokeToken("a", "bc"));
  EXPECT_FALSE(a.VerifyInvokeToken("a", "bc", a.InvokeToken("ab", "c")));
}

TEST(InvokeTokenTest, TruncatedExtendedOrEmptyTokensAreRefused) {
  TokenAuthority a(kKey);
  std::string t = a.InvokeToken("p1", "1.0.0");
  EXPECT_FALSE(a.VerifyInvokeToken("p1", "1.0.0", t.substr(0, t.size() - 1)));
  EXPECT_FALSE(a.VerifyInvokeToken("p1", "1.0.0", t + "0"));
  EXPECT_FALSE(a.VerifyInvokeToken("p1", "1.0.0", ""));
  EXPECT_FALSE(a.VerifyInvokeToken("p1", "1.0.0", "Bearer " + t));
}

TEST(InvokeTokenTest, AnotherHostsInvokeTokenIsRefused) {
  TokenAuthority a(kKey);
  TokenAuthority b(std::string(64, 'b'));
  EXPECT_NE(a.InvokeToken("p1", "1.0.0"), b.InvokeToken("p1", "1.0.0"));
  EXPECT_FALSE(a.VerifyInvokeToken("p1", "1.0.0", b.InvokeToken("p1", "1.0.0")));
}

TEST(InvokeTokenTest, InvokeTokenIsNotABridgeToken) {
  TokenAuthority a(kKey);
  ExpectRefused(a, a.InvokeToken("p1", "1.0.0"));
}

// A verified token is remembered (token.h): the second verification answers the same grant, and
// a forged MAC on a remembered payload is still refused, every time.
TEST(TokenTest, RememberedTokenStillNeedsItsExactMac) {
  TokenAuthority a(kKey);
  std::string token = a.IssueBridgeToken(SampleGrant());
  for (int i = 0; i < 3; ++i) {
    auto r = a.VerifyBridgeToken(token);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(*r, SampleGrant());
    std::string mac = MacPart(token);
    mac[0] = mac[0] == 'A' ? 'B' : 'A';
    ExpectRefused(a, PayloadPart(token) + "." + mac);
    ExpectRefused(a, PayloadPart(token) + "." +
                         MacPart(Sign(Base64UrlDecode(PayloadPart(token)).value_or(""),
                                      std::string(64, 'b'))));
    ExpectRefused(a, PayloadPart(token) + ".");
  }
  // Another key never shares what this one remembered.
  TokenAuthority b(std::string(64, 'b'));
  ExpectRefused(b, token);
}

// Many grants (more than are remembered at once) all keep verifying.
TEST(TokenTest, ManyGrantsKeepVerifying) {
  TokenAuthority a(kKey);
  std::vector<std::string> tokens;
  for (int i = 0; i < 600; ++i) {
    Grant g = SampleGrant();
    g.plugin_id = "p" + std::to_string(i);
    tokens.push_back(a.IssueBridgeToken(g));
  }
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      auto r = a.VerifyBridgeToken(tokens[i]);
      ASSERT_TRUE(r.ok()) << i;
      EXPECT_EQ(r->plugin_id, "p" + std::to_string(i));
    }
  }
}

}  // namespace
}  // namespace ps::bridge
