// Capability enforcement at the bridge (bridge.md §1.3; spec README decision 1): every guarded
// method checks a current name, denials read `Missing capability: <current name>` whatever
// names the manifest used, write never implies read, `network:request:unrestricted` satisfies
// `network:request`, and bridge state follows the token's (id, version) (decision 6).

#include <string>
#include <vector>

#include "bridge/fixture.h"
#include "bridge/test_helpers.h"

namespace ps::testing {
namespace {

struct Guarded {
  const char* method;
  const char* params;  // valid parameters, so only the capability can fail first
  const char* capability;
};

const std::vector<Guarded>& GuardedMethods() {
  static const std::vector<Guarded> kAll = {
      {"content/get", R"({"collection":"posts","id":"x"})", "content:read"},
      {"content/list", R"({"collection":"posts"})", "content:read"},
      {"content/create", R"({"collection":"posts","data":{}})", "content:write"},
      {"content/update", R"({"collection":"posts","id":"x","data":{}})", "content:write"},
      {"content/delete", R"({"collection":"posts","id":"x"})", "content:write"},
      {"content/createMany", R"({"collection":"posts","items":[]})", "content:write"},
      {"content/updateMany", R"({"collection":"posts","items":[]})", "content:write"},
      {"content/deleteMany", R"({"collection":"posts","ids":[]})", "content:write"},
      {"taxonomy/list", R"({})", "taxonomies:read"},
      {"taxonomy/terms", R"({"taxonomy":"tag"})", "taxonomies:read"},
      {"taxonomy/entryTerms", R"({"collection":"posts","entryId":"x"})", "taxonomies:read"},
      {"media/get", R"({"id":"x"})", "media:read"},
      {"media/list", R"({})", "media:read"},
      {"media/upload", R"({"filename":"a.png","contentType":"image/png","bytes":[1]})",
       "media:write"},
      {"media/delete", R"({"id":"x"})", "media:write"},
      {"http/fetch", R"({"url":"https://example.com/"})", "network:request"},
      {"users/get", R"({"id":"x"})", "users:read"},
      {"users/getByEmail", R"({"email":"x@example.com"})", "users:read"},
      {"users/list", R"({})", "users:read"},
      {"email/send", R"({"message":{"to":"a","subject":"s","text":"t"}})", "email:send"},
  };
  return kAll;
}

class CapabilityTest : public BridgeTest {
 protected:
  void SetUp() override {
    BridgeTest::SetUp();
    MakeCollection({"posts", "Posts", {{"title", "string"}}, {}});
  }
  void Customize(bridge::BridgeOptions& o) override {
    o.http = [this](const http::FetchRequest& req) -> Result<json::value> {
      fetched_.push_back({req.plugin_id, req.allowed_hosts, req.params});
      return J(R"({"status":200,"statusText":"OK","headers":{},"bodyBase64":""})");
    };
  }
  bridge::Grant WithCaps(const std::string& id, const std::string& caps_json,
                         const std::string& extra = "") {
    return Plugin(R"({"id":)" + Quote(id) + R"(,"version":"1.0.0","capabilities":)" + caps_json +
                  extra + "}");
  }
  struct Fetched {
    std::string plugin_id;
    std::vector<std::string> allowed_hosts;
    json::object params;
  };
  std::vector<Fetched> fetched_;
};

TEST_F(CapabilityTest, EveryGuardedMethodDeniesWithCurrentName) {
  auto none = WithCaps("none", "[]");
  for (const auto& g : GuardedMethods()) {
    auto r = Call(none, g.method, g.params);
    ASSERT_FALSE(r.ok()) << g.method;
    EXPECT_EQ(r.status().message(), std::string("Missing capability: ") + g.capability) << g.method;
    EXPECT_EQ(r.status().code(), Code::kPermissionDenied) << g.method;
  }
  EXPECT_TRUE(fetched_.empty());
  EXPECT_TRUE(sent_.empty());
}

TEST_F(CapabilityTest, CapabilityIsCheckedBeforeParameters) {
  auto none = WithCaps("none", "[]");
  for (const auto& g : GuardedMethods()) {
    EXPECT_EQ(Err(none, g.method, "{}"), std::string("Missing capability: ") + g.capability)
        << g.method;
  }
}

TEST_F(CapabilityTest, GrantedCapabilityPassesTheCheck) {
  for (const auto& g : GuardedMethods()) {
    std::string extra =
        std::string(g.capability) == "network:request" ? R"(,"allowedHosts":["example.com"])" : "";
    auto plugin = WithCaps(std::string("p-") + std::to_string(&g - &GuardedMethods()[0]),
                           std::string("[") + Quote(g.capability) + "]", extra);
    auto r = Call(plugin, g.method, g.params);
    EXPECT_TRUE(r.ok() || r.status().message().rfind("Missing capability", 0) != 0)
        << g.method << ": " << r.status().message();
  }
}

TEST_F(CapabilityTest, LegacyNamesAreNormalizedInTheGrant) {
  auto g = WithCaps("legacy",
                    R"(["read:content","write:content","read:media","write:media","read:users",)"
                    R"("network:fetch:any","email:provide","email:intercept","page:inject"])");
  EXPECT_EQ(g.capabilities,
            (std::vector<std::string>{
                "content:read", "content:write", "media:read", "media:write", "users:read",
                "network:request:unrestricted", "hooks.email-transport:register",
                "hooks.email-events:register", "hooks.page-fragments:register"}));
}

TEST_F(CapabilityTest, GrantDeduplicatesAfterNormalizingInFirstSeenOrder) {
  auto g = WithCaps("dupes", R"(["email:send","read:content","content:read","email:send"])");
  EXPECT_EQ(g.capabilities, (std::vector<std::string>{"email:send", "content:read"}));
}

TEST_F(CapabilityTest, GrantCarriesIdVersionHostsAndCollections) {
  auto g = Plugin(R"({"id":"full","version":"3.1.4","capabilities":["network:request"],
                      "allowedHosts":["api.example.com","*.cdn.example"],
                      "storage":{"zeta":{"indexes":[]},"alpha":{"indexes":["x"]}}})");
  EXPECT_EQ(g.plugin_id, "full");
  EXPECT_EQ(g.version, "3.1.4");
  EXPECT_EQ(g.allowed_hosts, (std::vector<std::string>{"api.example.com", "*.cdn.example"}));
  EXPECT_EQ(g.storage_collections, (std::vector<std::string>{"zeta", "alpha"}));
}

TEST_F(CapabilityTest, LegacyDeclaredPluginIsDeniedWithCurrentName) {
  auto legacy = WithCaps("legacy", R"(["read:content"])");
  EXPECT_EQ(Err(legacy, "content/create", R"({"collection":"posts","data":{}})"),
            "Missing capability: content:write");
  EXPECT_EQ(Err(legacy, "media/get", R"({"id":"x"})"), "Missing capability: media:read");
}

TEST_F(CapabilityTest, LegacyNamesGrantTheirCurrentMethods) {
  auto legacy = WithCaps("legacy", R"(["read:content","read:media","read:users"])");
  EXPECT_TRUE(Call(legacy, "content/list", R"({"collection":"posts"})").ok());
  EXPECT_TRUE(Call(legacy, "media/list").ok());
  EXPECT_TRUE(Call(legacy, "users/list").ok());
}

TEST_F(CapabilityTest, WriteNeverImpliesRead) {
  auto writer = WithCaps("writer", R"(["content:write","media:write"])");
  EXPECT_EQ(Err(writer, "content/get", R"({"collection":"posts","id":"x"})"),
            "Missing capability: content:read");
  EXPECT_EQ(Err(writer, "content/list", R"({"collection":"posts"})"),
            "Missing capability: content:read");
  EXPECT_EQ(Err(writer, "media/get", R"({"id":"x"})"), "Missing capability: media:read");
  EXPECT_EQ(Err(writer, "media/list"), "Missing capability: media:read");
  auto legacy_writer = WithCaps("legacy-writer", R"(["write:content"])");
  EXPECT_EQ(Err(legacy_writer, "content/get", R"({"collection":"posts","id":"x"})"),
            "Missing capability: content:read");
}

TEST_F(CapabilityTest, ReadDoesNotImplyWrite) {
  auto reader = WithCaps("reader", R"(["content:read","media:read"])");
  EXPECT_EQ(Err(reader, "content/delete", R"({"collection":"posts","id":"x"})"),
            "Missing capability: content:write");
  EXPECT_EQ(Err(reader, "media/delete", R"({"id":"x"})"), "Missing capability: media:write");
}

TEST_F(CapabilityTest, HookCapabilitiesGrantNoBridgeMethod) {
  auto hooks =
      WithCaps("hooks", R"(["hooks.email-transport:register",)"
                        R"("hooks.email-events:register","hooks.page-fragments:register"])");
  for (const auto& g : GuardedMethods()) {
    EXPECT_EQ(Err(hooks, g.method, g.params), std::string("Missing capability: ") + g.capability)
        << g.method;
  }
}

TEST_F(CapabilityTest, UnrestrictedNetworkSatisfiesNetworkRequest) {
  auto any = WithCaps("any", R"(["network:request:unrestricted"])");
  auto r = Call(any, "http/fetch", R"({"url":"https://example.com/"})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(fetched_.size(), 1u);
  EXPECT_EQ(fetched_[0].plugin_id, "any");
  EXPECT_JSON(*r->value, R"({"status":200,"statusText":"OK","headers":{},"bodyBase64":""})");
}

TEST_F(CapabilityTest, LegacyFetchAnySatisfiesNetworkRequest) {
  auto any = WithCaps("legacy-any", R"(["network:fetch:any"])");
  EXPECT_TRUE(Call(any, "http/fetch", R"({"url":"https://example.com/"})").ok());
  EXPECT_EQ(fetched_.size(), 1u);
}

TEST_F(CapabilityTest, RestrictedNetworkRequestIsGranted) {
  auto restricted =
      WithCaps("restricted", R"(["network:fetch"])", R"(,"allowedHosts":["example.com"])");
  EXPECT_EQ(restricted.capabilities, (std::vector<std::string>{"network:request"}));
  EXPECT_TRUE(Call(restricted, "http/fetch", R"({"url":"https://example.com/"})").ok());
  ASSERT_EQ(fetched_.size(), 1u);
  EXPECT_EQ(fetched_[0].allowed_hosts, (std::vector<std::string>{"example.com"}));
}

TEST_F(CapabilityTest, NetworkDenialNamesNetworkRequest) {
  auto none = WithCaps("none", R"(["content:read"])");
  EXPECT_EQ(Err(none, "http/fetch", R"({"url":"https://example.com/"})"),
            "Missing capability: network:request");
  EXPECT_TRUE(fetched_.empty());
}

TEST_F(CapabilityTest, UngatedMethodsNeedNoCapability) {
  auto none = Plugin(R"({"id":"none","version":"1.0.0","capabilities":[],
                         "storage":{"items":{"indexes":[]}}})");
  EXPECT_TRUE(Call(none, "kv/set", R"({"key":"k","value":1})").ok());
  EXPECT_TRUE(Call(none, "kv/get", R"({"key":"k"})").ok());
  EXPECT_TRUE(Call(none, "kv/list").ok());
  EXPECT_TRUE(Call(none, "kv/delete", R"({"key":"k"})").ok());
  EXPECT_TRUE(Call(none, "storage/put", R"({"collection":"items","id":"a","data":{}})").ok());
  EXPECT_TRUE(Call(none, "storage/count", R"({"collection":"items"})").ok());
  EXPECT_TRUE(Call(none, "log", R"({"level":"info","msg":"m"})").ok());
}

class HttpNotConfiguredTest : public BridgeTest {};

TEST_F(HttpNotConfiguredTest, FetchWithoutFetcherFailsAfterCapabilityCheck) {
  auto any =
      Plugin(R"({"id":"any","version":"1.0.0","capabilities":["network:request:unrestricted"]})");
  auto r = Call(any, "http/fetch", R"({"url":"https://example.com/"})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message(), "Missing capability: network:request");
}

// --- bridge state is keyed by (plugin id, version): no stale grants after an update

class VersionedStateTest : public BridgeTest {
 protected:
  void SetUp() override {
    BridgeTest::SetUp();
    MakeCollection({"posts", "Posts", {{"title", "string"}}, {}});
  }
  bridge::Reply Send(const bridge::Grant& g, const std::string& method, const std::string& body) {
    return bridge_->Handle("Bearer " + bridge_->tokens().IssueBridgeToken(g), method, body);
  }
};

TEST_F(VersionedStateTest, UpdatedVersionTokenIsNotServedWithOldCapabilities) {
  auto v1 = Plugin(R"({"id":"evolving","version":"1.0.0","capabilities":["content:read"]})");
  EXPECT_EQ(Send(v1, "content/list", R"({"collection":"posts"})").status, 200);
  auto v2 = Plugin(R"({"id":"evolving","version":"2.0.0","capabilities":[]})");
  bridge::Reply r = Send(v2, "content/list", R"({"collection":"posts"})");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"error":"Missing capability: content:read"})");
}

TEST_F(VersionedStateTest, UpdatedVersionTokenGetsItsNewCapabilities) {
  auto v1 = Plugin(R"({"id":"evolving","version":"1.0.0","capabilities":[]})");
  EXPECT_EQ(Send(v1, "content/list", R"({"collection":"posts"})").body,
            R"({"error":"Missing capability: content:read"})");
  auto v2 = Plugin(R"({"id":"evolving","version":"2.0.0","capabilities":["content:read"]})");
  bridge::Reply r = Send(v2, "content/list", R"({"collection":"posts"})");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(VersionedStateTest, UpdatedVersionTokenGetsItsNewCollectionsAndIndexes) {
  auto v1 = Plugin(R"({"id":"evolving","version":"1.0.0",
                       "storage":{"old":{"indexes":["a"]}}})");
  EXPECT_EQ(Send(v1, "storage/query", R"({"collection":"old","where":{"a":1}})").status, 200);
  auto v2 = Plugin(R"({"id":"evolving","version":"2.0.0",
                       "storage":{"new":{"indexes":["b"]}}})");
  EXPECT_EQ(Send(v2, "storage/query", R"({"collection":"new","where":{"b":1}})").status, 200);
  EXPECT_EQ(Send(v2, "storage/query", R"({"collection":"old"})").body,
            R"({"error":"Storage collection not declared: old"})");
}

}  // namespace
}  // namespace ps::testing
