// Manifest validation and normalization (runner.md §1, bridge.md §1).
#include "manifest/manifest.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

namespace ps::manifest {
namespace {

// A valid manifest with `members` (JSON object members, comma-separated) added.
std::string With(const std::string& members) {
  return std::string(R"({"id":"demo","version":"1.0.0")") + (members.empty() ? "" : ",") + members +
         "}";
}

Manifest Ok(const std::string& text) {
  auto m = ParseManifestText(text, "manifest.json");
  EXPECT_TRUE(m.ok()) << m.status().message();
  if (!m.ok()) return Manifest{};
  return std::move(m).value();
}

std::vector<std::string> Problems(const std::string& text) {
  auto m = ParseManifestText(text, "manifest.json");
  EXPECT_FALSE(m.ok()) << "expected a failure for " << text;
  if (m.ok()) return {};
  EXPECT_EQ(m.status().code(), Code::kInvalidArgument);
  std::vector<std::string> lines;
  std::istringstream in(m.status().message());
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// The single problem line of `text`.
std::string Problem(const std::string& text) {
  auto lines = Problems(text);
  EXPECT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
  return lines.empty() ? "" : lines[0];
}

TEST(ManifestTest, MinimalManifestHasEmptyDefaults) {
  Manifest m = Ok(With(""));
  EXPECT_EQ(m.id, "demo");
  EXPECT_EQ(m.version, "1.0.0");
  EXPECT_TRUE(m.capabilities.empty());
  EXPECT_TRUE(m.allowed_hosts.empty());
  EXPECT_TRUE(m.storage.empty());
  EXPECT_FALSE(m.has_hooks);
  EXPECT_TRUE(m.routes.empty());
  EXPECT_TRUE(m.warnings.empty());
  json::object j = m.ToJson();
  EXPECT_FALSE(j.contains("hooks"));  // no hooks list: the module's hooks decide
  EXPECT_EQ(
      Stringify(j),
      R"({"id":"demo","version":"1.0.0","capabilities":[],"allowedHosts":[],"storage":{},"routes":[]})");
}

TEST(ManifestTest, RootMustBeAnObject) {
  EXPECT_EQ(Problem("[1,2]"),
            "manifest.json: (root): got an array; expected a JSON object with id, version, "
            "capabilities, …");
}

TEST(ManifestTest, InvalidJsonNamesLineAndColumn) {
  auto m = ParseManifestText("{\n  \"id\": \"demo\",\n  \"version\": 1.0.0\n}", "manifest.json");
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().message().starts_with("manifest.json: invalid JSON at line 3, column "))
      << m.status().message();
}

TEST(ManifestTest, IdRules) {
  const std::string rule =
      "expected a non-empty string matching ^[a-z][a-z0-9_-]*$, at most 128 characters";
  EXPECT_EQ(Problem(R"({"version":"1"})"), "manifest.json: id: missing; " + rule);
  EXPECT_EQ(Problem(R"({"id":7,"version":"1"})"), "manifest.json: id: got the number 7; " + rule);
  EXPECT_EQ(Problem(R"({"id":"","version":"1"})"), "manifest.json: id: empty; " + rule);
  EXPECT_EQ(Problem(R"({"id":"Audit Log","version":"1"})"),
            "manifest.json: id: \"Audit Log\" does not match ^[a-z][a-z0-9_-]*$ (lower-case "
            "letter first, then lower-case letters, digits, _ or -)");
  EXPECT_EQ(Problems(R"({"id":"1st","version":"1"})").size(), 1u);
  EXPECT_EQ(Problems(R"({"id":"a.b","version":"1"})").size(), 1u);
  EXPECT_EQ(Problem(R"({"id":")" + std::string(129, 'a') + R"(","version":"1"})"),
            "manifest.json: id: is 129 characters long; expected at most 128");
  EXPECT_EQ(Ok(R"({"id":")" + std::string(128, 'a') + R"(","version":"1"})").id.size(), 128u);
  EXPECT_EQ(Ok(R"({"id":"a_b-9","version":"1"})").id, "a_b-9");
}

TEST(ManifestTest, VersionRules) {
  EXPECT_EQ(Problem(R"({"id":"demo"})"),
            "manifest.json: version: missing; expected a non-empty string such as \"1.0.0\"");
  EXPECT_EQ(Problem(R"({"id":"demo","version":1})"),
            "manifest.json: version: got the number 1; expected a non-empty string such as "
            "\"1.0.0\"");
  EXPECT_EQ(Problem(R"({"id":"demo","version":""})"),
            "manifest.json: version: empty; expected a non-empty string such as \"1.0.0\"");
}

TEST(ManifestTest, CapabilitiesMustBeKnownNames) {
  EXPECT_EQ(Problem(With(R"("capabilities":"content:read")")),
            "manifest.json: capabilities: got the string \"content:read\"; expected an array of "
            "capability names");
  EXPECT_EQ(Problem(With(R"("capabilities":["content:read",true])")),
            "manifest.json: capabilities[1]: got true; expected a capability name (string)");
  std::string line =
      Problem(With(R"("capabilities":["content:read","email:send","read:everything"])"));
  EXPECT_TRUE(
      line.starts_with("manifest.json: capabilities[2]: unknown capability "
                       "\"read:everything\"; expected one of network:request, "
                       "network:request:unrestricted, content:read,"))
      << line;
  EXPECT_NE(line.find("(or a legacy name: network:fetch,"), std::string::npos) << line;
  // "toString" and other inherited names are not capabilities.
  EXPECT_EQ(Problems(With(R"("capabilities":["toString"])")).size(), 1u);
}

TEST(ManifestTest, LegacyCapabilitiesAreNormalizedAndDeclaredKept) {
  Manifest m = Ok(With(
      R"("capabilities":["read:content","content:read","write:media","network:fetch:any","page:inject"])"));
  EXPECT_EQ(m.declared_capabilities,
            (std::vector<std::string>{"read:content", "content:read", "write:media",
                                      "network:fetch:any", "page:inject"}));
  EXPECT_EQ(m.capabilities,
            (std::vector<std::string>{"content:read", "media:write", "network:request:unrestricted",
                                      "hooks.page-fragments:register"}));
  // Write does not imply read outside declaredAccess (spec decision 1).
  EXPECT_EQ(std::count(m.capabilities.begin(), m.capabilities.end(), "media:read"), 0);
  ASSERT_EQ(m.warnings.size(), 4u);
  EXPECT_EQ(m.warnings[0],
            "manifest.json: capabilities[0]: legacy capability \"read:content\" is read as "
            "\"content:read\"; use the current name");
  json::object j = m.ToJson();
  EXPECT_EQ(
      Stringify(j.at("capabilities")),
      R"(["content:read","media:write","network:request:unrestricted","hooks.page-fragments:register"])");
}

TEST(ManifestTest, AllowedHostsMustBeHostPatterns) {
  auto caps = std::string(R"("capabilities":["network:request"],)");
  auto line = [&](const std::string& host) {
    return Problem(With(caps + R"("allowedHosts":["ok.example.com",)" + host + "]"));
  };
  const std::string eg = "expected a host such as api.example.com, *.example.com or *";
  EXPECT_EQ(Problem(With(caps + R"("allowedHosts":"api.example.com")")),
            "manifest.json: allowedHosts: got the string \"api.example.com\"; expected an array "
            "of hosts (api.example.com, *.example.com)");
  EXPECT_EQ(line("3"),
            "manifest.json: allowedHosts[1]: got the number 3; expected a host "
            "(string) such as api.example.com");
  EXPECT_EQ(line(R"("")"), "manifest.json: allowedHosts[1]: empty host; " + eg);
  EXPECT_EQ(line(R"("https://api.example.com")"),
            "manifest.json: allowedHosts[1]: \"https://api.example.com\" is a URL; " + eg +
                " (no scheme)");
  EXPECT_EQ(line(R"("api.example.com/v1")"),
            "manifest.json: allowedHosts[1]: \"api.example.com/v1\" has a path or query; " + eg);
  EXPECT_EQ(line(R"("api.example.com:8080")"),
            "manifest.json: allowedHosts[1]: \"api.example.com:8080\" has a port; a host pattern "
            "matches every port of its host (drop \":8080\")");
  EXPECT_EQ(line(R"("::1")"),
            "manifest.json: allowedHosts[1]: \"::1\": an IPv6 address must be in brackets, such "
            "as [::1]");
  EXPECT_EQ(line(R"("api.*.com")"),
            "manifest.json: allowedHosts[1]: \"api.*.com\": a wildcard is allowed only as a "
            "leading \"*.\" or as \"*\" alone");
  EXPECT_EQ(line(R"("*example.com")"),
            "manifest.json: allowedHosts[1]: \"*example.com\": a wildcard is allowed only as a "
            "leading \"*.\" or as \"*\" alone");
  EXPECT_EQ(line(R"("bad host")"),
            "manifest.json: allowedHosts[1]: \"bad host\" contains \" \", which no host name "
            "holds");
  EXPECT_EQ(line(R"("example..com")"),
            "manifest.json: allowedHosts[1]: \"example..com\" has an empty label; " + eg);
  EXPECT_EQ(line("\"b\xc3\xbc"
                 "cher.de\""),
            "manifest.json: allowedHosts[1]: \"b\xc3\xbc"
            "cher.de\" is not ASCII; write an internationalized name in its xn-- form");

  Manifest m = Ok(With(
      caps +
      R"("allowedHosts":["API.Example.com","*.cdn.example.net","[::1]","10.0.0.1","*","api.example.com"])"));
  EXPECT_EQ(m.allowed_hosts, (std::vector<std::string>{"api.example.com", "*.cdn.example.net",
                                                       "[::1]", "10.0.0.1", "*"}));
}

TEST(ManifestTest, NetworkRequestNeedsHostsUnrestrictedDoesNot) {
  EXPECT_EQ(Problem(With(R"("capabilities":["network:request"],"allowedHosts":[])")),
            "manifest.json: allowedHosts: network:request needs at least one host "
            "(api.example.com or *.example.com); list the hosts the plugin fetches from, or "
            "declare network:request:unrestricted");
  // The legacy name is checked after normalization.
  EXPECT_EQ(Problems(With(R"("capabilities":["network:fetch"])")).size(), 1u);
  EXPECT_TRUE(Ok(With(R"("capabilities":["network:request:unrestricted"])")).warnings.empty());
  // Hosts with unrestricted are accepted and unused.
  Manifest m = Ok(With(
      R"("capabilities":["network:request:unrestricted"],"allowedHosts":["api.example.com"])"));
  EXPECT_EQ(m.allowed_hosts, std::vector<std::string>{"api.example.com"});
  ASSERT_EQ(m.warnings.size(), 1u);
  EXPECT_EQ(m.warnings[0],
            "manifest.json: allowedHosts: unused: network:request:unrestricted allows every "
            "public host");
  Manifest n = Ok(With(R"("allowedHosts":["api.example.com"])"));
  ASSERT_EQ(n.warnings.size(), 1u);
  EXPECT_EQ(n.warnings[0],
            "manifest.json: allowedHosts: unused: the plugin does not declare network:request");
}

TEST(ManifestTest, StorageRules) {
  EXPECT_EQ(Problem(With(R"("storage":[])")),
            "manifest.json: storage: got an array; expected an object mapping collection names "
            "to {\"indexes\": [...], \"uniqueIndexes\"?: [...]}");
  EXPECT_EQ(Problem(With(R"("storage":{"1st":{"indexes":[]}})")),
            "manifest.json: storage[\"1st\"]: collection name \"1st\" does not match "
            "^[a-zA-Z][a-zA-Z0-9_-]*$");
  EXPECT_EQ(Problem(With(R"("storage":{")" + std::string(129, 'c') + R"(":{"indexes":[]}})")),
            "manifest.json: storage." + std::string(129, 'c') +
                ": collection name is 129 characters long; expected at most 128");
  EXPECT_EQ(Problem(With(R"("storage":{"items":true})")),
            "manifest.json: storage.items: got true; expected {\"indexes\": [...], "
            "\"uniqueIndexes\"?: [...]}");
  EXPECT_EQ(Problem(With(R"("storage":{"items":{}})")),
            "manifest.json: storage.items.indexes: missing; expected an array of field names or "
            "arrays of field names (it may be empty)");
  EXPECT_EQ(Problem(With(R"("storage":{"items":{"indexes":"status"}})")),
            "manifest.json: storage.items.indexes: got the string \"status\"; expected an array "
            "of field names or arrays of field names, such as [\"status\", [\"author\", "
            "\"createdAt\"]]");
  EXPECT_EQ(Problem(With(R"("storage":{"items":{"indexes":["ok","data.nested"]}})")),
            "manifest.json: storage.items.indexes[1]: field name \"data.nested\" does not match "
            "^[a-zA-Z][a-zA-Z0-9_]*$");
  EXPECT_EQ(Problem(With(R"("storage":{"items":{"indexes":[["a","b-c"]]}})")),
            "manifest.json: storage.items.indexes[0][1]: field name \"b-c\" does not match "
            "^[a-zA-Z][a-zA-Z0-9_]*$");
  EXPECT_EQ(Problem(With(R"("storage":{"items":{"indexes":[[]]}})")),
            "manifest.json: storage.items.indexes[0]: empty composite index; expected at least "
            "one field name");
  EXPECT_EQ(Problem(With(R"("storage":{"items":{"indexes":[5]}})")),
            "manifest.json: storage.items.indexes[0]: got the number 5; expected a field name or "
            "an array of field names");
  EXPECT_EQ(Problem(With(R"("storage":{"items":{"indexes":[],"uniqueIndexes":[")" +
                         std::string(129, 'f') + R"("]}})")),
            "manifest.json: storage.items.uniqueIndexes[0]: field name is 129 characters long; "
            "expected at most 128");

  Manifest m = Ok(With(
      R"("storage":{"entries":{"indexes":["timestamp",["collection","timestamp"]],"uniqueIndexes":["key"]},"Other-1":{"indexes":[]}})"));
  ASSERT_EQ(m.storage.size(), 2u);
  EXPECT_EQ(m.StorageCollectionNames(), (std::vector<std::string>{"entries", "Other-1"}));
  const StorageCollection* c = m.FindCollection("entries");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->indexes,
            (std::vector<std::vector<std::string>>{{"timestamp"}, {"collection", "timestamp"}}));
  EXPECT_EQ(c->unique_indexes, (std::vector<std::vector<std::string>>{{"key"}}));
  EXPECT_EQ(c->IndexedFields(), (std::vector<std::string>{"timestamp", "collection", "key"}));
  EXPECT_EQ(m.FindCollection("missing"), nullptr);
  EXPECT_EQ(
      Stringify(m.ToJson().at("storage")),
      R"({"entries":{"indexes":["timestamp",["collection","timestamp"]],"uniqueIndexes":["key"]},"Other-1":{"indexes":[],"uniqueIndexes":[]}})");
}

TEST(ManifestTest, HookRules) {
  EXPECT_EQ(Problem(With(R"("hooks":{"cron":{}})")),
            "manifest.json: hooks: got an object; expected an array of hook names or {name, "
            "exclusive?, priority?, timeout?} objects");
  std::string unknown = Problem(With(R"("hooks":["cron","content:beforeUpdate"])"));
  EXPECT_TRUE(
      unknown.starts_with("manifest.json: hooks[1]: unknown hook "
                          "\"content:beforeUpdate\"; expected one of the 25 hook names "
                          "(plugin:install, plugin:activate,"))
      << unknown;
  EXPECT_EQ(Problem(With(R"("hooks":["cron",{"name":"cron","priority":1}])")),
            "manifest.json: hooks[1].name: duplicate hook \"cron\" (already declared at "
            "hooks[0]); declare each hook once");
  EXPECT_TRUE(Problem(With(R"("hooks":[{"priority":1}])"))
                  .starts_with("manifest.json: hooks[0].name: missing; expected one of the 25"));
  EXPECT_TRUE(Problem(With(R"("hooks":[{"name":""}])"))
                  .starts_with("manifest.json: hooks[0].name: unknown hook \"\""));
  EXPECT_EQ(Problem(With(R"("hooks":[42])")),
            "manifest.json: hooks[0]: got the number 42; expected a hook name or {name, "
            "exclusive?, priority?, timeout?}");
  EXPECT_EQ(Problem(With(R"("hooks":[{"name":"email:deliver","exclusive":"yes"}])")),
            "manifest.json: hooks[0].exclusive: got the string \"yes\"; expected true or false");
  EXPECT_EQ(Problem(With(R"("hooks":[{"name":"cron","priority":1.5}])")),
            "manifest.json: hooks[0].priority: got the number 1.5; expected an integer (lower "
            "runs first; default 100)");
  EXPECT_EQ(Problem(With(R"("hooks":[{"name":"cron","priority":"1"}])")),
            "manifest.json: hooks[0].priority: got the string \"1\"; expected an integer (lower "
            "runs first; default 100)");
  EXPECT_EQ(Problem(With(R"("hooks":[{"name":"cron","timeout":0}])")),
            "manifest.json: hooks[0].timeout: got the number 0; expected a positive integer "
            "(milliseconds)");
  EXPECT_EQ(Problems(With(R"("hooks":[{"name":"cron","timeout":-5}])")).size(), 1u);
  EXPECT_EQ(Problems(With(R"("hooks":[{"name":"cron","timeout":2.5}])")).size(), 1u);
  EXPECT_EQ(Problem(With(R"("hooks":[{"name":"cron","dependencies":["a",""]}])")),
            "manifest.json: hooks[0].dependencies[1]: got the string \"\"; expected a non-empty "
            "plugin id");
  EXPECT_EQ(Problem(With(R"("hooks":[{"name":"cron","errorPolicy":"ignore"}])")),
            "manifest.json: hooks[0].errorPolicy: got the string \"ignore\"; expected "
            "\"continue\" or \"abort\"");

  Manifest m = Ok(With(
      R"("hooks":["plugin:install",{"name":"cron","priority":-3,"timeout":2000.0,"exclusive":true,"dependencies":["other"],"errorPolicy":"abort","note":"kept"}])"));
  EXPECT_TRUE(m.has_hooks);
  ASSERT_EQ(m.hooks.size(), 2u);
  EXPECT_EQ(m.hooks[0].name, "plugin:install");
  EXPECT_FALSE(m.hooks[0].exclusive);
  EXPECT_FALSE(m.hooks[0].priority.has_value());
  EXPECT_EQ(m.hooks[1].priority, -3);
  EXPECT_EQ(m.hooks[1].timeout_ms, 2000);
  EXPECT_TRUE(m.hooks[1].exclusive);
  EXPECT_EQ(m.hooks[1].dependencies, std::vector<std::string>{"other"});
  EXPECT_EQ(m.hooks[1].error_policy, "abort");
  EXPECT_EQ(
      Stringify(m.ToJson().at("hooks")),
      R"([{"name":"plugin:install","exclusive":false},{"name":"cron","exclusive":true,"priority":-3,"timeout":2000,"dependencies":["other"],"errorPolicy":"abort","note":"kept"}])");
  // An empty list is a list: no hook may run.
  Manifest none = Ok(With(R"("hooks":[])"));
  EXPECT_TRUE(none.has_hooks);
  EXPECT_EQ(Stringify(none.ToJson().at("hooks")), "[]");
}

TEST(ManifestTest, HookNamesAndCapabilityGate) {
  EXPECT_EQ(HookNames().size(), 25u);
  EXPECT_TRUE(IsHookName("page:fragments"));
  EXPECT_FALSE(IsHookName("content:beforeUpdate"));
  EXPECT_EQ(HookRequiredCapability("content:beforeSave"), "content:write");
  EXPECT_EQ(HookRequiredCapability("content:afterUnschedule"), "content:read");
  EXPECT_EQ(HookRequiredCapability("media:beforeUpload"), "media:write");
  EXPECT_EQ(HookRequiredCapability("media:afterUpload"), "media:read");
  EXPECT_EQ(HookRequiredCapability("comment:moderate"), "users:read");
  EXPECT_EQ(HookRequiredCapability("email:beforeSend"), "hooks.email-events:register");
  EXPECT_EQ(HookRequiredCapability("email:deliver"), "hooks.email-transport:register");
  EXPECT_EQ(HookRequiredCapability("page:fragments"), "hooks.page-fragments:register");
  EXPECT_EQ(HookRequiredCapability("page:metadata"), "");
  EXPECT_EQ(HookRequiredCapability("cron"), "");
  EXPECT_EQ(HookRequiredCapability("plugin:install"), "");

  Manifest m = Ok(With(
      R"("capabilities":["content:read"],"hooks":["cron",{"name":"content:beforeSave"},"content:afterSave","page:fragments"])"));
  ASSERT_EQ(m.warnings.size(), 2u);
  EXPECT_EQ(m.warnings[0],
            "manifest.json: hooks[1]: hook content:beforeSave needs capability content:write, "
            "which the manifest does not declare; it will not be registered");
  EXPECT_EQ(m.warnings[1],
            "manifest.json: hooks[3]: hook page:fragments needs capability "
            "hooks.page-fragments:register, which the manifest does not declare; it will not be "
            "registered");
  // A legacy name satisfies the gate once normalized.
  EXPECT_EQ(Ok(With(R"("capabilities":["write:content"],"hooks":["content:beforeSave"])"))
                .warnings.size(),
            1u);  // only the legacy-name warning
}

TEST(ManifestTest, RouteRules) {
  EXPECT_EQ(Problem(With(R"("routes":"admin")")),
            "manifest.json: routes: got the string \"admin\"; expected an array of route names "
            "or {name, public?, permission?, cacheControl?} objects");
  EXPECT_EQ(Problem(With(R"("routes":["/admin"])")),
            "manifest.json: routes[0]: route name \"/admin\" does not match "
            "^[a-zA-Z0-9][a-zA-Z0-9_\\-/]*$");
  EXPECT_EQ(Problem(With(R"("routes":[{"name":"a b"}])")),
            "manifest.json: routes[0].name: route name \"a b\" does not match "
            "^[a-zA-Z0-9][a-zA-Z0-9_\\-/]*$");
  EXPECT_EQ(Problem(With(R"("routes":["admin",{"name":"admin","public":true}])")),
            "manifest.json: routes[1].name: duplicate route \"admin\" (already declared at "
            "routes[0]); declare each route once");
  EXPECT_EQ(Problem(With(R"("routes":[{"public":true}])")),
            "manifest.json: routes[0].name: missing; expected a route name matching "
            "^[a-zA-Z0-9][a-zA-Z0-9_\\-/]*$");
  EXPECT_EQ(Problem(With(R"("routes":[{"name":"x","public":"yes"}])")),
            "manifest.json: routes[0].public: got the string \"yes\"; expected true or false");
  EXPECT_EQ(Problem(With(R"("routes":[{"name":"x","permission":""}])")),
            "manifest.json: routes[0].permission: got the string \"\"; expected a non-empty "
            "string");
  EXPECT_EQ(Problem(With(R"("routes":[{"name":"x","cacheControl":60}])")),
            "manifest.json: routes[0].cacheControl: got the number 60; expected a non-empty "
            "string");
  EXPECT_EQ(Problem(With(R"("routes":[null])")),
            "manifest.json: routes[0]: got null; expected a route name or {name, public?, "
            "permission?, cacheControl?}");

  Manifest m = Ok(With(
      R"("routes":["admin","v1/items_list",{"name":"hook-in","public":true,"permission":"plugins:manage","cacheControl":"no-store","extra":1}])"));
  ASSERT_EQ(m.routes.size(), 3u);
  EXPECT_FALSE(m.routes[0].is_public);
  EXPECT_EQ(m.routes[1].name, "v1/items_list");
  EXPECT_TRUE(m.routes[2].is_public);
  EXPECT_EQ(m.routes[2].permission, "plugins:manage");
  EXPECT_EQ(m.routes[2].cache_control, "no-store");
  EXPECT_EQ(
      Stringify(m.ToJson().at("routes")),
      R"([{"name":"admin","public":false},{"name":"v1/items_list","public":false},{"name":"hook-in","public":true,"permission":"plugins:manage","cacheControl":"no-store","extra":1}])");
}

TEST(ManifestTest, AdminAndMcpAreTypeCheckedOnly) {
  EXPECT_EQ(Problem(With(R"("admin":[])")),
            "manifest.json: admin: got an array; expected an object");
  EXPECT_EQ(Problem(With(R"("mcp":"tools")")),
            "manifest.json: mcp: got the string \"tools\"; expected an object");
  Manifest m = Ok(With(R"("admin":{"pages":[{"path":"/x"}],"anything":true},"mcp":{"tools":[]})"));
  json::object j = m.ToJson();
  EXPECT_EQ(Stringify(j.at("admin")), R"({"pages":[{"path":"/x"}],"anything":true})");
  EXPECT_EQ(Stringify(j.at("mcp")), R"({"tools":[]})");
}

TEST(ManifestTest, EveryProblemIsReportedInDocumentOrder) {
  auto lines = Problems(
      R"({"id":"Bad","capabilities":["content:read","nope"],"storage":{"x":{"indexes":["a-b"]}},)"
      R"("hooks":["cron","cron"],"routes":["ok","/bad"],"admin":3})");
  ASSERT_EQ(lines.size(), 7u) << ::testing::PrintToString(lines);
  EXPECT_TRUE(lines[0].starts_with("manifest.json: id: "));
  EXPECT_TRUE(lines[1].starts_with("manifest.json: version: missing"));
  EXPECT_TRUE(lines[2].starts_with("manifest.json: capabilities[1]: unknown capability"));
  EXPECT_TRUE(lines[3].starts_with("manifest.json: storage.x.indexes[0]: "));
  EXPECT_TRUE(lines[4].starts_with("manifest.json: hooks[1]: duplicate hook"));
  EXPECT_TRUE(lines[5].starts_with("manifest.json: routes[1]: route name"));
  EXPECT_TRUE(lines[6].starts_with("manifest.json: admin: "));
}

TEST(ManifestTest, SourceNamesTheFile) {
  auto m = ParseManifestText(R"({"id":"demo"})", "dist/manifest.json");
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().message().starts_with("dist/manifest.json: version: missing"));
}

TEST(ManifestTest, DeclaredAccessDerivesCapabilitiesAndHosts) {
  // content.write implies content:read; media likewise; email and page map to hook grants.
  Manifest m = Ok(With(
      R"("capabilities":["network:request"],"allowedHosts":["ignored.example.com"],)"
      R"("declaredAccess":{"content":{"write":{}},"media":{"write":{}},"taxonomies":{"read":{}},)"
      R"("users":{"read":{}},"email":{"send":{},"events":{},"transport":{}},"page":{"fragments":{}}})"));
  EXPECT_EQ(m.capabilities,
            (std::vector<std::string>{
                "content:read", "content:write", "taxonomies:read", "media:read", "media:write",
                "users:read", "email:send", "hooks.email-transport:register",
                "hooks.email-events:register", "hooks.page-fragments:register"}));
  EXPECT_EQ(m.declared_capabilities, m.capabilities);
  EXPECT_TRUE(m.allowed_hosts.empty());  // re-derived: no network access declared
  ASSERT_EQ(m.warnings.size(), 2u);
  EXPECT_EQ(m.warnings[1],
            "manifest.json: allowedHosts: ignored: declaredAccess is present and decides the "
            "hosts (none)");
  EXPECT_TRUE(m.warnings[0].starts_with(
      "manifest.json: capabilities: ignored: declaredAccess is present and decides the "
      "capabilities (content:read, content:write,"))
      << m.warnings[0];
  // The declaredAccess object itself is kept.
  EXPECT_TRUE(m.ToJson().contains("declaredAccess"));

  // network.request without allowedHosts: unrestricted (and request).
  Manifest u = Ok(With(R"("declaredAccess":{"network":{"request":{}}})"));
  EXPECT_EQ(u.capabilities,
            (std::vector<std::string>{"network:request", "network:request:unrestricted"}));
  EXPECT_TRUE(u.allowed_hosts.empty());

  // With allowedHosts: restricted to them.
  Manifest r = Ok(With(
      R"("declaredAccess":{"content":{"read":{}},"network":{"request":{"allowedHosts":["api.example.com","*.cdn.net"]}}})"));
  EXPECT_EQ(r.capabilities, (std::vector<std::string>{"network:request", "content:read"}));
  EXPECT_EQ(r.allowed_hosts, (std::vector<std::string>{"api.example.com", "*.cdn.net"}));
  EXPECT_TRUE(r.warnings.empty()) << ::testing::PrintToString(r.warnings);
}

TEST(ManifestTest, DeclaredAccessProblems) {
  EXPECT_EQ(Problem(With(R"("declaredAccess":["content.read"])")),
            "manifest.json: declaredAccess: got an array; expected an object such as "
            "{\"content\": {\"read\": {}}}");
  EXPECT_EQ(Problem(With(R"("declaredAccess":{"content":"read"})")),
            "manifest.json: declaredAccess.content: got the string \"read\"; expected an object "
            "of operations such as {\"read\": {}}");
  EXPECT_EQ(Problem(With(R"("declaredAccess":{"content":{"read":true}})")),
            "manifest.json: declaredAccess.content.read: got true; expected an object of "
            "constraints ({} grants the operation)");
  EXPECT_EQ(Problem(With(R"("declaredAccess":{"network":{"request":{"allowedHosts":[]}}})")),
            "manifest.json: declaredAccess.network.request.allowedHosts: network:request needs "
            "at least one host (api.example.com or *.example.com); list the hosts the plugin "
            "fetches from, or declare network:request:unrestricted");
  EXPECT_EQ(
      Problem(
          With(R"("declaredAccess":{"network":{"request":{"allowedHosts":["http://x.com"]}}})")),
      "manifest.json: declaredAccess.network.request.allowedHosts[0]: \"http://x.com\" is a URL; "
      "expected a host such as api.example.com, *.example.com or * (no scheme)");
  // Unknown categories and operations grant nothing and are reported as warnings.
  Manifest m =
      Ok(With(R"("declaredAccess":{"schema":{"read":{}},"content":{"revisionsRead":{}}})"));
  EXPECT_TRUE(m.capabilities.empty());
  ASSERT_EQ(m.warnings.size(), 2u);
  EXPECT_EQ(m.warnings[0],
            "manifest.json: declaredAccess.schema: unknown access category; it grants nothing "
            "here");
  EXPECT_EQ(m.warnings[1],
            "manifest.json: declaredAccess.content.revisionsRead: unknown access operation; it "
            "grants nothing here");
}

TEST(ManifestTest, UnknownFieldsAreKept) {
  Manifest m = Ok(With(
      R"("capabilities":["read:content"],"x-custom":{"a":[1,2]},"description":"hi","storage":{"c":{"indexes":[],"ttl":5}})"));
  EXPECT_TRUE(m.raw.contains("x-custom"));
  EXPECT_EQ(Stringify(m.raw.at("capabilities")), R"(["read:content"])");  // raw is as read
  json::object j = m.ToJson();
  EXPECT_EQ(Stringify(j.at("x-custom")), R"({"a":[1,2]})");
  EXPECT_EQ(Stringify(j.at("description")), R"("hi")");
  EXPECT_EQ(Stringify(j.at("storage")), R"({"c":{"indexes":[],"ttl":5,"uniqueIndexes":[]}})");
  // The normalized fields come first, in a fixed order.
  std::vector<std::string> keys;
  for (const auto& kv : j) keys.emplace_back(kv.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"id", "version", "capabilities", "allowedHosts",
                                            "storage", "routes", "x-custom", "description"}));
}

TEST(ManifestTest, ParseJsonFileAllowsCommentsOnlyForJsonc) {
  const std::string text = "{\n  // a comment\n  \"id\": \"demo\", \"version\": \"1\",\n}";
  EXPECT_FALSE(ParseJsonFile(text, "manifest.json").ok());
  auto v = ParseJsonFile(text, "emdash-plugin.jsonc", /*jsonc=*/true);
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(Stringify(*v), R"({"id":"demo","version":"1"})");
}

}  // namespace
}  // namespace ps::manifest
