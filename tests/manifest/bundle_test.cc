// Bundle loading (host-api.md "Plugin bundles"): directories, npm package directories, .tar.gz.
#include "manifest/bundle.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "manifest/tar_util.h"
#include "test_util.h"

namespace ps::manifest {
namespace {

using ps::testing::MakeTarGz;
using ps::testing::ReadFile;
using ps::testing::TarEntry;
using ps::testing::TempDir;
using ps::testing::WriteFile;

const char kManifest[] = R"({"id":"demo","version":"1.0.0","capabilities":["content:read"],
  "storage":{"items":{"indexes":["kind"]}},"hooks":["content:afterSave"],"routes":["list"]})";
const char kModule[] =
    "import { definePlugin } from \"emdash\";\n"
    "export default definePlugin({ hooks: {}, routes: {} });\n";

const std::string kAuditLog = PS_SOURCE_DIR "/tests/data/emdash-cms-plugin-audit-log-0.2.0.tgz";

std::vector<std::string> Lines(const Status& s) {
  std::vector<std::string> lines;
  std::istringstream in(s.message());
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::vector<std::string> Problems(const Result<Bundle>& b) {
  EXPECT_FALSE(b.ok());
  if (b.ok()) return {};
  EXPECT_EQ(b.status().code(), Code::kInvalidArgument);
  return Lines(b.status());
}

TEST(BundleTest, DirectoryBundle) {
  TempDir dir;
  WriteFile(dir / "manifest.json", kManifest);
  WriteFile(dir / "backend.js", kModule);
  auto b = LoadBundle(dir.str());
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->manifest.id, "demo");
  EXPECT_EQ(b->module_source, kModule);
  EXPECT_EQ(b->module_path, (dir / "backend.js").string());
  EXPECT_EQ(b->manifest_path, (dir / "manifest.json").string());
}

TEST(BundleTest, DirectoryMissingEverything) {
  TempDir dir;
  EXPECT_EQ(Problems(LoadBundle(dir.str())),
            (std::vector<std::string>{
                "manifest.json: missing; expected the plugin's manifest",
                "backend.js: missing; expected the plugin's ES module (backend.js)"}));
}

TEST(BundleTest, MissingPath) {
  EXPECT_EQ(Problems(LoadBundle("/nonexistent/plugin")),
            std::vector<std::string>{"/nonexistent/plugin: no such file or directory; expected "
                                     "a plugin directory or a .tar.gz bundle"});
}

TEST(BundleTest, ManifestAndModuleProblemsAreAllListed) {
  TempDir dir;
  WriteFile(dir / "manifest.json", R"({"id":"Demo","version":""})");
  WriteFile(dir / "backend.js", "");
  auto lines = Problems(LoadBundle(dir.str()));
  ASSERT_EQ(lines.size(), 3u) << ::testing::PrintToString(lines);
  EXPECT_TRUE(lines[0].starts_with("manifest.json: id: \"Demo\" does not match"));
  EXPECT_TRUE(lines[1].starts_with("manifest.json: version: empty"));
  EXPECT_EQ(lines[2], "backend.js: empty; expected the plugin's ES module (backend.js)");
}

TEST(BundleTest, ModuleMustBeUtf8Text) {
  TempDir dir;
  WriteFile(dir / "manifest.json", kManifest);
  WriteFile(dir / "backend.js", std::string("export default {};\n// \xff\xfe"));
  EXPECT_EQ(Problems(LoadBundle(dir.str())),
            std::vector<std::string>{"backend.js: not UTF-8 text (invalid byte at offset 22); "
                                     "expected the plugin's ES module (backend.js)"});
  WriteFile(dir / "backend.js", std::string("export default {};\n\xed\xa0\x80"));  // surrogate
  EXPECT_EQ(Problems(LoadBundle(dir.str())).size(), 1u);
  WriteFile(dir / "backend.js", std::string("export default {};\0", 19));
  EXPECT_EQ(Problems(LoadBundle(dir.str())),
            std::vector<std::string>{"backend.js: contains a NUL byte; expected the plugin's ES "
                                     "module (backend.js) as text"});
  WriteFile(dir / "backend.js", "// caf\xc3\xa9 \xf0\x9f\x98\x80\nexport default {};\n");
  EXPECT_TRUE(LoadBundle(dir.str()).ok());
}

TEST(BundleTest, ExplicitManifestFileWins) {
  TempDir dir, other;
  WriteFile(dir / "manifest.json", R"({"id":"bad id"})");
  WriteFile(dir / "backend.js", kModule);
  WriteFile(other / "m.json", kManifest);
  LoadOptions opts;
  opts.manifest_file = (other / "m.json").string();
  auto b = LoadBundle(dir.str(), opts);
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->manifest_path, (other / "m.json").string());
  opts.manifest_file = (other / "absent.json").string();
  EXPECT_EQ(Problems(LoadBundle(dir.str(), opts)),
            std::vector<std::string>{(other / "absent.json").string() +
                                     ": cannot read the --manifest file; expected the plugin's "
                                     "manifest.json"});
}

// An npm package whose package.json has the given exports["./sandbox"] value.
void WritePackage(const TempDir& dir, const std::string& sandbox_export) {
  WriteFile(
      dir / "package.json",
      R"({"name":"@x/plugin-demo","version":"2.0.0","type":"module","exports":{".":"./dist/index.mjs","./sandbox":)" +
          sandbox_export + "}}");
}

TEST(BundleTest, NpmPackageWithStringExport) {
  TempDir dir;
  WritePackage(dir, R"("./dist/sandbox.mjs")");
  WriteFile(dir / "dist/manifest.json", kManifest);
  WriteFile(dir / "manifest.json", R"({"id":"not-this-one","version":"1"})");
  WriteFile(dir / "dist/sandbox.mjs", kModule);
  auto b = LoadBundle(dir.str());
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->manifest.id, "demo");  // dist/manifest.json before manifest.json
  EXPECT_EQ(b->module_path, (dir / "dist/sandbox.mjs").string());
  EXPECT_EQ(b->module_source, kModule);
}

TEST(BundleTest, NpmPackageWithConditionsExport) {
  TempDir dir;
  WritePackage(dir, R"({"types":"./dist/sandbox.d.mts","require":"./dist/sandbox.cjs",)"
                    R"("import":"./dist/sandbox.mjs","default":"./dist/fallback.js"})");
  WriteFile(dir / "manifest.json", kManifest);
  WriteFile(dir / "dist/sandbox.mjs", kModule);
  auto b = LoadBundle(dir.str());
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->module_path, (dir / "dist/sandbox.mjs").string());
  EXPECT_EQ(b->manifest_path, (dir / "manifest.json").string());

  // Nested conditions and fallback arrays resolve too; object order decides.
  WritePackage(dir, R"({"workerd":[{"node":"./n.js"},"./dist/./sandbox.mjs"],"import":"./x.js"})");
  b = LoadBundle(dir.str());
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->module_path, (dir / "dist/sandbox.mjs").string());
}

TEST(BundleTest, NpmPackageProblems) {
  TempDir dir;
  WritePackage(dir, R"("../outside.js")");
  EXPECT_EQ(Problems(LoadBundle(dir.str())),
            (std::vector<std::string>{
                "package.json: exports[\"./sandbox\"]: \"../outside.js\" is not a file inside the "
                "package; expected a relative path starting with \"./\", without \"..\" or \"*\"",
                "dist/manifest.json: missing; expected the plugin's manifest (dist/manifest.json "
                "or manifest.json in the package, or --manifest FILE)"}));

  WritePackage(dir, R"({"types":"./x.d.ts","require":"./x.cjs"})");
  WriteFile(dir / "dist/manifest.json", kManifest);
  EXPECT_EQ(Problems(LoadBundle(dir.str())),
            std::vector<std::string>{
                "package.json: exports[\"./sandbox\"]: no target for the conditions workerd, "
                "worker, import, module or default; expected a path such as "
                "\"./dist/sandbox.mjs\""});

  WritePackage(dir, R"("./dist/missing.mjs")");
  EXPECT_EQ(Problems(LoadBundle(dir.str())),
            std::vector<std::string>{"dist/missing.mjs: missing; expected the plugin's ES module "
                                     "(named by package.json exports[\"./sandbox\"])"});

  TempDir plain;
  WriteFile(plain / "package.json", R"({"name":"x","exports":{".":"./index.js"}})");
  EXPECT_EQ(Problems(LoadBundle(plain.str())),
            std::vector<std::string>{
                "package.json: exports[\"./sandbox\"]: missing; expected the path of the plugin's "
                "sandbox module, such as \"./dist/sandbox.mjs\" (or give a directory with "
                "manifest.json and backend.js)"});

  WriteFile(plain / "package.json", R"({"name":"x",)");
  auto lines = Problems(LoadBundle(plain.str()));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].starts_with("package.json: invalid JSON at line 1, column ")) << lines[0];
}

TEST(BundleTest, DirectoryBundleMayCarryAPackageJson) {
  TempDir dir;
  WriteFile(dir / "package.json", R"({"name":"x","private":true})");
  WriteFile(dir / "manifest.json", kManifest);
  WriteFile(dir / "backend.js", kModule);
  auto b = LoadBundle(dir.str());
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->module_path, (dir / "backend.js").string());
}

TEST(BundleTest, ManifestDerivedFromEmdashPluginJsonc) {
  TempDir dir;
  WritePackage(dir, R"("./dist/plugin.mjs")");
  WriteFile(dir / "dist/plugin.mjs", kModule);
  WriteFile(dir / "emdash-plugin.jsonc", R"({
    "$schema": "../schema.json",
    "slug": "demo-plugin", // the id
    /* trust contract */
    "capabilities": ["content:read"],
    "storage": { "entries": { "indexes": ["timestamp"] }, },
  })");
  auto b = LoadBundle(dir.str());
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->manifest.id, "demo-plugin");
  EXPECT_EQ(b->manifest.version, "2.0.0");  // from package.json
  EXPECT_FALSE(b->manifest.has_hooks);
  ASSERT_FALSE(b->manifest.warnings.empty());
  EXPECT_EQ(b->manifest.warnings[0],
            "emdash-plugin.jsonc: (root): no built manifest (dist/manifest.json); derived from "
            "this file (slug as id, version from package.json); it declares no hooks or routes");

  WriteFile(dir / "emdash-plugin.jsonc", R"({"capabilities": []})");
  EXPECT_EQ(Problems(LoadBundle(dir.str())),
            std::vector<std::string>{"emdash-plugin.jsonc: slug: missing; expected the plugin's "
                                     "id (a string matching ^[a-z][a-z0-9_-]*$)"});
}

TEST(BundleTest, ArchiveWithTopFolder) {
  std::string tgz = MakeTarGz({{"package/", "", TarEntry::kDir},
                               {"package/manifest.json", kManifest},
                               {"package/backend.js", kModule}});
  auto b = LoadBundleFromArchive(tgz, "upload.tgz");
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->manifest.id, "demo");
  EXPECT_EQ(b->module_source, kModule);
  EXPECT_EQ(b->module_path, "upload.tgz:package/backend.js");
  EXPECT_EQ(b->manifest_path, "upload.tgz:package/manifest.json");
}

TEST(BundleTest, ArchiveAtRootAndFromFile) {
  TempDir dir;
  std::string tgz = MakeTarGz({{"./manifest.json", kManifest}, {"./backend.js", kModule}});
  WriteFile(dir / "demo.tar.gz", tgz);
  auto b = LoadBundle((dir / "demo.tar.gz").string());
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->module_path, (dir / "demo.tar.gz").string() + ":backend.js");
  // Problems inside an archive name the entry as the archive spells it (top folder included).
  std::string bad = MakeTarGz({{"pkg/manifest.json", R"({"id":"demo"})"}, {"pkg/backend.js", ""}});
  EXPECT_EQ(Problems(LoadBundleFromArchive(bad, "bad.tgz")),
            (std::vector<std::string>{
                "pkg/manifest.json: version: missing; expected a non-empty string such as "
                "\"1.0.0\"",
                "pkg/backend.js: empty; expected the plugin's ES module (backend.js)"}));
}

TEST(BundleTest, NpmPackageArchive) {
  std::string tgz = MakeTarGz(
      {{"package/package.json",
        R"({"name":"p","version":"1.0.0","exports":{"./sandbox":{"import":"./dist/sandbox.js","default":"./dist/sandbox.cjs"}}})"},
       {"package/dist/manifest.json", kManifest},
       {"package/dist/sandbox.js", kModule}});
  auto b = LoadBundleFromArchive(tgz, "p.tgz");
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->module_path, "p.tgz:package/dist/sandbox.js");
}

TEST(BundleTest, ArchiveRefusesTraversalLinksAndListsEverything) {
  std::string tgz = MakeTarGz({{"manifest.json", kManifest},
                               {"backend.js", kModule},
                               {"../evil.js", "x"},
                               {"dist/../../evil2.js", "x"},
                               {"/etc/cron.d/evil", "x"},
                               {"link.js", "/etc/passwd", TarEntry::kSymlink},
                               {"hard.js", "backend.js", TarEntry::kHardlink}});
  EXPECT_EQ(Problems(LoadBundleFromArchive(tgz, "evil.tgz")),
            (std::vector<std::string>{
                "evil.tgz: \"../evil.js\": \"..\" in a path refused; expected paths inside the "
                "bundle",
                "evil.tgz: \"dist/../../evil2.js\": \"..\" in a path refused; expected paths "
                "inside the bundle",
                "evil.tgz: \"/etc/cron.d/evil\": absolute path refused; expected paths relative "
                "to the bundle",
                "evil.tgz: \"link.js\": links are refused; expected regular files and directories "
                "only",
                "evil.tgz: \"hard.js\": links are refused; expected regular files and "
                "directories only"}));
}

TEST(BundleTest, ArchiveProblemsAndBundleProblemsTogether) {
  std::string tgz = MakeTarGz({{"manifest.json", R"({"id":"demo"})"},
                               {"backend.js", kModule},
                               {"backend.js", kModule},
                               {"../x", "x"}});
  EXPECT_EQ(Problems(LoadBundleFromArchive(tgz, "a.tgz")),
            (std::vector<std::string>{
                "a.tgz: \"backend.js\": appears twice in the archive; expected each file once",
                "a.tgz: \"../x\": \"..\" in a path refused; expected paths inside the bundle",
                "manifest.json: version: missing; expected a non-empty string such as "
                "\"1.0.0\""}));
}

TEST(BundleTest, ArchiveSizeLimit) {
  std::string big(4096, 'x');
  std::string tgz = MakeTarGz({{"manifest.json", kManifest}, {"backend.js", "//" + big}});
  LoadOptions opts;
  opts.max_archive_bytes = 4000;
  EXPECT_EQ(Problems(LoadBundleFromArchive(tgz, "big.tgz", opts)),
            std::vector<std::string>{"big.tgz: unpacks to more than 4000 bytes; the limit is "
                                     "4000 bytes"});
  opts.max_archive_bytes = 64 * 1024;
  EXPECT_TRUE(LoadBundleFromArchive(tgz, "big.tgz", opts).ok());
  // Many empty entries count too (each header is 512 bytes).
  std::vector<TarEntry> many;
  for (int i = 0; i < 200; ++i) many.push_back({"d" + std::to_string(i) + "/", "", TarEntry::kDir});
  opts.max_archive_bytes = 50 * 1024;
  EXPECT_EQ(Problems(LoadBundleFromArchive(MakeTarGz(many), "many.tgz", opts)).size(), 1u);
}

TEST(BundleTest, NotAnArchive) {
  auto lines = Problems(LoadBundleFromArchive("this is not gzip data at all", "junk.tgz"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].starts_with("junk.tgz: not a .tar.gz archive")) << lines[0];

  // A truncated archive (cut inside a file's data, which is incompressible).
  std::string noise = "//";
  uint32_t x = 12345;
  for (int i = 0; i < 20000; ++i) {
    x = x * 1103515245u + 12345u;
    noise += char('a' + (x >> 16) % 26);
  }
  std::string tgz = MakeTarGz({{"manifest.json", kManifest}, {"backend.js", noise}});
  ASSERT_GT(tgz.size(), 10000u);
  lines =
      Problems(LoadBundleFromArchive(std::string_view(tgz).substr(0, tgz.size() / 2), "cut.tgz"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].starts_with("cut.tgz: ")) << lines[0];
  EXPECT_NE(lines[0].find("truncated"), std::string::npos) << lines[0];

  EXPECT_EQ(Problems(LoadBundleFromArchive(MakeTarGz({{"empty/", "", TarEntry::kDir}}), "e.tgz")),
            std::vector<std::string>{"e.tgz: holds no files; expected manifest.json and "
                                     "backend.js, or an npm package"});
}

void ExpectAuditLog(const Bundle& b) {
  const Manifest& m = b.manifest;
  EXPECT_EQ(m.id, "audit-log");
  EXPECT_EQ(m.version, "0.2.0");
  EXPECT_EQ(m.capabilities, std::vector<std::string>{"content:read"});
  EXPECT_TRUE(m.allowed_hosts.empty());
  ASSERT_EQ(m.storage.size(), 1u);
  EXPECT_EQ(m.storage[0].name, "entries");
  EXPECT_EQ(m.storage[0].IndexedFields(),
            (std::vector<std::string>{"timestamp", "action", "resourceType", "collection"}));
  ASSERT_TRUE(m.has_hooks);
  ASSERT_EQ(m.hooks.size(), 9u);
  EXPECT_EQ(m.hooks[4].name, "content:beforeSave");
  EXPECT_EQ(m.hooks[8].name, "media:afterUpload");
  ASSERT_EQ(m.routes.size(), 3u);
  EXPECT_EQ(m.routes[0].name, "admin");
  EXPECT_TRUE(m.raw.contains("admin"));
  // The sandbox entry is dist/plugin.mjs, a self-contained module with a default export.
  EXPECT_TRUE(b.module_path.ends_with("dist/plugin.mjs")) << b.module_path;
  EXPECT_NE(b.module_source.find("export{i as default}"), std::string::npos);
  EXPECT_TRUE(b.manifest_path.ends_with("dist/manifest.json")) << b.manifest_path;
  // The capability gate: beforeSave needs content:write, afterUpload media:read.
  ASSERT_EQ(m.warnings.size(), 2u) << ::testing::PrintToString(m.warnings);
  EXPECT_NE(m.warnings[0].find("hooks[4]: hook content:beforeSave needs capability content:write"),
            std::string::npos);
  EXPECT_NE(m.warnings[1].find("hooks[8]: hook media:afterUpload needs capability media:read"),
            std::string::npos);
}

TEST(BundleTest, RealAuditLogTarball) {
  auto b = LoadBundle(kAuditLog);
  ASSERT_TRUE(b.ok()) << b.status().message();
  ExpectAuditLog(*b);
  EXPECT_EQ(b->module_path, kAuditLog + ":package/dist/plugin.mjs");
  std::string bytes = ReadFile(kAuditLog);
  auto c = LoadBundleFromArchive(bytes, "audit.tgz");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->module_source, b->module_source);
}

TEST(BundleTest, RealAuditLogPackageDirectory) {
  TempDir dir;
  std::string cmd = "tar -xzf '" + kAuditLog + "' -C '" + dir.str() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto b = LoadBundle((dir / "package").string());
  ASSERT_TRUE(b.ok()) << b.status().message();
  ExpectAuditLog(*b);
  EXPECT_EQ(b->module_path, (dir / "package/dist/plugin.mjs").string());
  EXPECT_EQ(b->module_source, ReadFile(dir / "package/dist/plugin.mjs"));
}

TEST(BundleTest, ExampleHelloPluginLoads) {
  auto b = LoadBundle(PS_SOURCE_DIR "/examples/plugins/hello");
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->manifest.id, "hello");
  EXPECT_TRUE(b->manifest.warnings.empty()) << ::testing::PrintToString(b->manifest.warnings);
  EXPECT_NE(b->module_source.find("from \"emdash\""), std::string::npos);
}

}  // namespace
}  // namespace ps::manifest
