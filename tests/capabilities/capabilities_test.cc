// The capability vocabulary and check (bridge.md §1; spec README decision 1): 22 accepted names,
// legacy -> current normalization, first-seen de-duplication, and the only superset rule
// (`network:request:unrestricted` satisfies `network:request`; write never implies read).

#include "capabilities/capabilities.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace ps::caps {
namespace {

using V = std::vector<std::string>;

const std::vector<std::pair<std::string, std::string>>& LegacyTable() {
  static const std::vector<std::pair<std::string, std::string>> kTable = {
      {"network:fetch", "network:request"},
      {"network:fetch:any", "network:request:unrestricted"},
      {"read:content", "content:read"},
      {"write:content", "content:write"},
      {"read:media", "media:read"},
      {"write:media", "media:write"},
      {"read:users", "users:read"},
      {"email:provide", "hooks.email-transport:register"},
      {"email:intercept", "hooks.email-events:register"},
      {"page:inject", "hooks.page-fragments:register"},
  };
  return kTable;
}

const V& Current() {
  static const V kNames = {"network:request",
                           "network:request:unrestricted",
                           "content:read",
                           "content:write",
                           "taxonomies:read",
                           "media:read",
                           "media:write",
                           "users:read",
                           "email:send",
                           "hooks.email-transport:register",
                           "hooks.email-events:register",
                           "hooks.page-fragments:register"};
  return kNames;
}

TEST(CapabilitiesTest, CurrentNamesAreTheTwelveInSpecOrder) {
  V got(CurrentNames().begin(), CurrentNames().end());
  EXPECT_EQ(got, Current());
}

TEST(CapabilitiesTest, AcceptedNamesAreCurrentThenLegacy) {
  V got(AcceptedNames().begin(), AcceptedNames().end());
  V want = Current();
  for (const auto& [legacy, current] : LegacyTable()) want.push_back(legacy);
  EXPECT_EQ(got.size(), 22u);
  EXPECT_EQ(got, want);
}

TEST(CapabilitiesTest, NormalizeMapsEachLegacyNameToItsCurrentName) {
  for (const auto& [legacy, current] : LegacyTable()) {
    EXPECT_EQ(Normalize(legacy), current) << legacy;
    EXPECT_TRUE(IsLegacy(legacy)) << legacy;
    EXPECT_TRUE(IsAccepted(legacy)) << legacy;
  }
}

TEST(CapabilitiesTest, NormalizeKeepsCurrentNames) {
  for (const auto& name : Current()) {
    EXPECT_EQ(Normalize(name), name);
    EXPECT_FALSE(IsLegacy(name)) << name;
    EXPECT_TRUE(IsAccepted(name)) << name;
  }
}

TEST(CapabilitiesTest, TaxonomiesReadAndEmailSendHaveNoLegacyAlias) {
  for (const auto& [legacy, current] : LegacyTable()) {
    EXPECT_NE(current, "taxonomies:read");
    EXPECT_NE(current, "email:send");
  }
  EXPECT_EQ(Normalize("read:taxonomies"), "read:taxonomies");
  EXPECT_EQ(Normalize("send:email"), "send:email");
}

TEST(CapabilitiesTest, NormalizePassesUnknownNamesThrough) {
  for (const char* name : {"read:everything", "", "toString", "constructor", "__proto__",
                           "hasOwnProperty", "Read:Content", "read:content ", "network:fetch:"}) {
    EXPECT_EQ(Normalize(name), name) << name;
    EXPECT_FALSE(IsLegacy(name)) << name;
  }
}

TEST(CapabilitiesTest, UnknownAndMisspelledNamesAreNotAccepted) {
  for (const char* name :
       {"read:everything", "", "toString", "constructor", "__proto__", "Content:Read",
        "content:read ", " content:read", "network:*", "hooks.email-transport", "email:send:any"}) {
    EXPECT_FALSE(IsAccepted(name)) << name;
  }
}

TEST(CapabilitiesTest, NormalizeAllMapsEveryEntry) {
  V legacy;
  V want;
  for (const auto& [l, c] : LegacyTable()) {
    legacy.push_back(l);
    want.push_back(c);
  }
  EXPECT_EQ(NormalizeAll(legacy), want);
}

TEST(CapabilitiesTest, NormalizeAllDeduplicatesAfterMappingInFirstSeenOrder) {
  EXPECT_EQ(NormalizeAll({"read:content", "network:fetch", "content:read", "email:send",
                          "network:request", "read:content", "email:send"}),
            (V{"content:read", "network:request", "email:send"}));
  EXPECT_EQ(NormalizeAll({"content:read", "read:content"}), (V{"content:read"}));
  EXPECT_EQ(NormalizeAll({"write:media", "media:read", "media:write", "read:media"}),
            (V{"media:write", "media:read"}));
}

TEST(CapabilitiesTest, NormalizeAllKeepsUnknownNamesInPlace) {
  EXPECT_EQ(NormalizeAll({"x", "read:users", "x", "y"}), (V{"x", "users:read", "y"}));
  EXPECT_EQ(NormalizeAll({}), V{});
}

TEST(CapabilitiesTest, NormalizeAllDoesNotAddImpliedCapabilities) {
  EXPECT_EQ(NormalizeAll({"write:content", "network:fetch:any"}),
            (V{"content:write", "network:request:unrestricted"}));
}

TEST(CapabilitySetTest, HasGrantedNames) {
  CapabilitySet s({"content:read", "email:send"});
  EXPECT_TRUE(s.Has("content:read"));
  EXPECT_TRUE(s.Has("email:send"));
  EXPECT_FALSE(s.Has("content:write"));
  EXPECT_FALSE(s.Has("users:read"));
}

TEST(CapabilitySetTest, EmptySetGrantsNothing) {
  CapabilitySet s;
  for (const auto& name : Current()) EXPECT_FALSE(s.Has(name)) << name;
  EXPECT_TRUE(s.names().empty());
}

TEST(CapabilitySetTest, WriteNeverImpliesRead) {
  CapabilitySet s({"content:write", "media:write"});
  EXPECT_FALSE(s.Has("content:read"));
  EXPECT_FALSE(s.Has("media:read"));
  EXPECT_EQ(s.Require("content:read").message(), "Missing capability: content:read");
  EXPECT_EQ(s.Require("media:read").message(), "Missing capability: media:read");
}

TEST(CapabilitySetTest, ReadNeverImpliesWrite) {
  CapabilitySet s({"content:read", "media:read"});
  EXPECT_FALSE(s.Has("content:write"));
  EXPECT_FALSE(s.Has("media:write"));
}

TEST(CapabilitySetTest, UnrestrictedNetworkSatisfiesNetworkRequest) {
  CapabilitySet s({"network:request:unrestricted"});
  EXPECT_TRUE(s.Has("network:request"));
  EXPECT_TRUE(s.Has("network:request:unrestricted"));
  EXPECT_TRUE(s.Require("network:request").ok());
}

TEST(CapabilitySetTest, NetworkRequestDoesNotSatisfyUnrestricted) {
  CapabilitySet s({"network:request"});
  EXPECT_TRUE(s.Has("network:request"));
  EXPECT_FALSE(s.Has("network:request:unrestricted"));
  EXPECT_EQ(s.Require("network:request:unrestricted").message(),
            "Missing capability: network:request:unrestricted");
}

TEST(CapabilitySetTest, HookCapabilitiesImplyNothing) {
  CapabilitySet s({"hooks.email-transport:register", "hooks.email-events:register",
                   "hooks.page-fragments:register"});
  for (const char* name : {"email:send", "content:read", "network:request", "users:read"})
    EXPECT_FALSE(s.Has(name)) << name;
}

TEST(CapabilitySetTest, NormalizedLegacyListGrantsCurrentNames) {
  CapabilitySet n(NormalizeAll({"read:content", "network:fetch:any"}));
  EXPECT_TRUE(n.Has("content:read"));
  EXPECT_TRUE(n.Has("network:request"));
}

TEST(CapabilitySetTest, RequireDeniesWithCurrentNameAndPermissionDenied) {
  CapabilitySet s({"content:read"});
  EXPECT_TRUE(s.Require("content:read").ok());
  Status st = s.Require("users:read");
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kPermissionDenied);
  EXPECT_EQ(st.message(), "Missing capability: users:read");
}

TEST(CapabilitySetTest, NamesAreKeptAsGiven) {
  CapabilitySet s({"email:send", "content:read"});
  EXPECT_EQ(s.names(), (V{"email:send", "content:read"}));
}

}  // namespace
}  // namespace ps::caps
