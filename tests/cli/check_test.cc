// The plugin-sandbox executable: --version, --help, argument errors and `check`.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "cli_util.h"
#include "common/json.h"

namespace ps {
namespace {

TEST(CliTest, Version) {
  Outcome r = Exec({"--version"});
  EXPECT_EQ(r.code, 0);
  // "plugin-sandbox X.Y.Z\n"
  const std::string prefix = "plugin-sandbox ";
  ASSERT_TRUE(r.out.starts_with(prefix) && r.out.ends_with("\n")) << r.out;
  std::string version = r.out.substr(prefix.size(), r.out.size() - prefix.size() - 1);
  EXPECT_EQ(std::count(version.begin(), version.end(), '.'), 2) << version;
  EXPECT_EQ(version.find_first_not_of("0123456789."), std::string::npos) << version;
  EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(version.front()))) << version;
}

TEST(CliTest, Help) {
  Outcome r = Exec({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("check"), std::string::npos) << r.out;
  Outcome c = Exec({"check", "--help"});
  EXPECT_EQ(c.code, 0);
  EXPECT_NE(c.out.find("--manifest"), std::string::npos) << c.out;
}

TEST(CliTest, BadArgumentsExit2) {
  EXPECT_EQ(Exec({}).code, 2);
  EXPECT_EQ(Exec({"frobnicate"}).code, 2);
  Outcome r = Exec({"check"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("PLUGIN"), std::string::npos) << r.err;
  EXPECT_EQ(Exec({"check", "a", "b"}).code, 2);
  EXPECT_EQ(Exec({"check", "--bogus", "x"}).code, 2);
}

TEST(CliTest, CheckExamplePrintsNormalizedManifest) {
  Outcome r = Exec({"check", PS_SOURCE_DIR "/examples/plugins/hello"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  auto doc = ParseJson(r.out);
  ASSERT_TRUE(doc.ok()) << r.out;
  const json::object& m = doc->as_object();
  EXPECT_EQ(m.at("id"), "hello");
  EXPECT_EQ(Stringify(m.at("capabilities")), R"(["content:read","content:write"])");
  EXPECT_EQ(
      Stringify(m.at("hooks")),
      R"([{"name":"plugin:install","exclusive":false},{"name":"content:beforeSave","exclusive":false,"priority":50},{"name":"content:afterSave","exclusive":false}])");
  EXPECT_EQ(Stringify(m.at("routes")),
            R"([{"name":"hello","public":true},{"name":"stats","public":false}])");
  EXPECT_EQ(
      Stringify(m.at("storage")),
      R"({"saves":{"indexes":["collection","savedAt",["collection","savedAt"]],"uniqueIndexes":[]}})");
}

TEST(CliTest, CheckBrokenManifestListsEveryProblem) {
  TempDir dir;
  WriteFile(dir / "manifest.json", R"({
  "id": "Broken Plugin",
  "version": "1.0.0",
  "capabilities": ["content:read", "read:everything", "network:request"],
  "hooks": ["content:afterSave", "content:afterSave"],
  "routes": ["/admin"]
})");
  WriteFile(dir / "backend.js", "");
  Outcome r = Exec({"check", dir.str()});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "");
  auto lines = r.ErrLines();
  ASSERT_EQ(lines.size(), 6u) << r.err;
  EXPECT_EQ(lines[0],
            "manifest.json: id: \"Broken Plugin\" does not match ^[a-z][a-z0-9_-]*$ (lower-case "
            "letter first, then lower-case letters, digits, _ or -)");
  EXPECT_TRUE(
      lines[1].starts_with("manifest.json: capabilities[1]: unknown capability "
                           "\"read:everything\"; expected one of network:request, "))
      << lines[1];
  EXPECT_EQ(lines[2],
            "manifest.json: hooks[1]: duplicate hook \"content:afterSave\" (already declared at "
            "hooks[0]); declare each hook once");
  EXPECT_EQ(lines[3],
            "manifest.json: routes[0]: route name \"/admin\" does not match "
            "^[a-zA-Z0-9][a-zA-Z0-9_\\-/]*$");
  // Cross-field rules come after the fields, and run on the valid capabilities.
  EXPECT_EQ(lines[4],
            "manifest.json: allowedHosts: network:request needs at least one host "
            "(api.example.com or *.example.com); list the hosts the plugin fetches from, or "
            "declare network:request:unrestricted");
  EXPECT_EQ(lines[5], "backend.js: empty; expected the plugin's ES module (backend.js)");
}

TEST(CliTest, CheckRealAuditLogWarnsAboutGatedHooks) {
  TempDir cwd;
  std::string tgz = PS_SOURCE_DIR "/tests/data/emdash-cms-plugin-audit-log-0.2.0.tgz";
  Outcome r = Exec({"check", tgz});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.ErrLines(),
            (std::vector<std::string>{
                "warning: package/dist/manifest.json: hooks[4]: hook content:beforeSave needs "
                "capability content:write, which the manifest does not declare; it will not be "
                "registered",
                "warning: package/dist/manifest.json: hooks[8]: hook media:afterUpload needs "
                "capability media:read, which the manifest does not declare; it will not be "
                "registered"}));
  auto doc = ParseJson(r.out);
  ASSERT_TRUE(doc.ok()) << r.out;
  EXPECT_EQ(doc->as_object().at("id"), "audit-log");
  EXPECT_EQ(doc->as_object().at("hooks").as_array().size(), 9u);
}

TEST(CliTest, CheckWithManifestFlag) {
  TempDir dir;
  WriteFile(dir / "backend.js", "export default {};\n");
  WriteFile(dir / "other.json", R"({"id":"flagged","version":"3"})");
  Outcome r = Exec({"check", "plugin", "--manifest", "other.json"}, dir.str());
  EXPECT_EQ(r.code, 2);  // "plugin" does not exist in dir
  EXPECT_EQ(r.ErrLines(), std::vector<std::string>{"plugin: no such file or directory; expected "
                                                   "a plugin directory or a .tar.gz bundle"});
  r = Exec({"check", ".", "--manifest", "other.json"}, dir.str());
  ASSERT_EQ(r.code, 0) << r.err;
  auto doc = ParseJson(r.out);
  ASSERT_TRUE(doc.ok()) << r.out;
  EXPECT_EQ(doc->as_object().at("id"), "flagged");
}

}  // namespace
}  // namespace ps
