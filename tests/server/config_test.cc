// Where serve's options come from: the config file, then the environment, then flags.
#include "server/config.h"

#include "serve_fixture.h"

namespace ps::testing {
namespace {

server::EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ServeConfigTest, FlagsWinOverTheEnvironmentWhichWinsOverTheFile) {
  TempDir dir;
  WriteFile(dir / "c.json", R"({"listen":"127.0.0.1:1","workers":3,"site-name":"From file",
    "data":"rel-data","media-dir":"shared/media","db":"postgres://ps@db/site?pool_max=4",
    "limit":{"cpu-ms":70,"wall-ms":9000},"allow-private":["a.internal"],
    "plugin-limit":{"hello":{"memory-mb":64}}})");
  server::FlagValues flags = {{"config", {(dir / "c.json").string()}},
                              {"listen", {"127.0.0.1:3"}},
                              {"plugin-sync-ms", {"250"}},
                              {"limit", {"wall-ms=5000"}}};
  auto c = server::ResolveServeConfig(
      flags, Env({{"PLUGIN_SANDBOX_LISTEN", "127.0.0.1:2"},
                  {"PLUGIN_SANDBOX_WORKERS", "5"},
                  {"PLUGIN_SANDBOX_LIMIT", "cpu-ms=80"},
                  {"PLUGIN_SANDBOX_ALLOW_PRIVATE", "b.internal:8080, c.internal"}}));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->listen, "127.0.0.1:3");
  EXPECT_EQ(c->workers, 5);
  EXPECT_EQ(c->site.name, "From file");
  EXPECT_EQ(c->data_dir, (dir.path() / "rel-data").string());  // relative to the file
  EXPECT_EQ(c->media_dir, (dir.path() / "shared/media").string());
  EXPECT_EQ(c->db, "postgres://ps@db/site?pool_max=4");  // a URI is not a path
  EXPECT_EQ(c->plugin_sync_ms, 250);
  EXPECT_EQ(c->limits.cpu_ms, 80);
  EXPECT_EQ(c->limits.wall_ms, 5000);
  EXPECT_EQ(c->allow_private, (std::vector<std::string>{"b.internal:8080", "c.internal"}));
  ASSERT_EQ(c->plugin_limits.count("hello"), 1u);
  EXPECT_EQ(c->plugin_limits["hello"].memory_mb, 64);
  EXPECT_EQ(c->plugin_limits["hello"].cpu_ms, 80);  // the rest from the host-wide limits
}

TEST(ServeConfigTest, BadValuesNameTheirSourceAndOption) {
  TempDir dir;
  auto e = server::ResolveServeConfig({}, Env({{"PLUGIN_SANDBOX_WORKERS", "many"}}));
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(),
            "environment PLUGIN_SANDBOX_WORKERS: expected a positive integer, got \"many\"");
  auto f = server::ResolveServeConfig({{"limit", {"gpu-ms=1"}}}, Env({}));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(),
            "--limit: \"gpu-ms=1\": unknown limit; expected cpu-ms, memory-mb, subrequests or "
            "wall-ms");
  WriteFile(dir / "c.json", R"({"lisen":"x"})");
  auto g = server::ResolveServeConfig({{"config", {(dir / "c.json").string()}}}, Env({}));
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message(),
            "config file " + (dir / "c.json").string() + ": \"lisen\": unknown option");
  WriteFile(dir / "d.json", "{\"listen\": ");
  auto h = server::ResolveServeConfig({{"config", {(dir / "d.json").string()}}}, Env({}));
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("invalid JSON"), std::string::npos);
  auto i = server::ResolveServeConfig({{"email-transport", {"smtp"}}}, Env({}));
  ASSERT_FALSE(i.ok());
  EXPECT_NE(i.status().message().find("smtp-url"), std::string::npos);
  auto j = server::ResolveServeConfig({}, Env({{"PLUGIN_SANDBOX_ISOLATION", "none"}}));
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message(),
            "environment PLUGIN_SANDBOX_ISOLATION: expected per-plugin or shared, got \"none\"");
  auto k = server::ResolveServeConfig({{"invocations", {"carrier-pigeon"}}}, Env({}));
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().message(),
            "--invocations: expected channel or requests, got \"carrier-pigeon\"");
  auto l = server::ResolveServeConfig({{"invocations", {"requests"}}}, Env({}));
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_FALSE(l->invoke_channel);
  EXPECT_TRUE(server::ResolveServeConfig({}, Env({}))->invoke_channel);
}

// docs/operating.md's options table names every option (a row may name several), and nothing
// else; the flags and --help come from the same table.
TEST(ServeConfigTest, DocsListEveryOption) {
  auto rows = testing::DocTable("docs/operating.md", "## Configuration", 1);
  ASSERT_FALSE(rows.empty()) << "docs/operating.md's options table";
  std::set<std::string> documented;
  for (const auto& r : rows) {
    ASSERT_FALSE(r.empty());
    std::string cell = r[0];
    for (size_t pos = 0; pos < cell.size();) {  // `a`, `b`: each name in backticks
      size_t open = cell.find('`', pos);
      if (open == std::string::npos) {
        if (pos == 0) documented.insert(cell);  // one name, its backticks already removed
        break;
      }
      size_t close = cell.find('`', open + 1);
      if (close == std::string::npos) break;
      documented.insert(cell.substr(open + 1, close - open - 1));
      pos = close + 1;
    }
  }
  std::set<std::string> declared;
  for (const auto& o : server::ServeOptions()) {
    declared.insert(o.name);
  }
  // `config` and `embedded` are described where they belong (the three sources; docs/channel.md).
  for (const char* elsewhere : {"config", "embedded"}) declared.erase(elsewhere);
  EXPECT_EQ(documented, declared);
}

TEST(ServeConfigTest, ResidencyOptions) {
  auto d = server::ResolveServeConfig({}, Env({}));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->idle_stop_s, 300);
  EXPECT_TRUE(d->always_on.empty());
  EXPECT_EQ(d->memory_budget_mb, 0);
  auto c = server::ResolveServeConfig(
      {{"idle-stop-s", {"never"}}, {"always-on", {"a", "b"}}},
      Env({{"PLUGIN_SANDBOX_MEMORY_BUDGET_MB", "512"}, {"PLUGIN_SANDBOX_CACHE_DIR", "/c"}}));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->idle_stop_s, 0);
  EXPECT_EQ(c->always_on, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c->memory_budget_mb, 512);
  EXPECT_EQ(c->cache_dir, "/c");
  EXPECT_EQ(server::ResolveServeConfig({{"idle-stop-s", {"90"}}}, Env({}))->idle_stop_s, 90);
  auto bad = server::ResolveServeConfig({{"idle-stop-s", {"soon"}}}, Env({}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "--idle-stop-s: expected a positive integer, got \"soon\"");
  auto zero = server::ResolveServeConfig({}, Env({{"PLUGIN_SANDBOX_MEMORY_BUDGET_MB", "0"}}));
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().message(),
            "environment PLUGIN_SANDBOX_MEMORY_BUDGET_MB: expected a positive integer, got \"0\"");
}

TEST_F(ServeTest, AConfigFileConfiguresTheRunningHost) {
  WriteBundle(Plugins() / "limited", R"({"id":"limited","version":"1","routes":["ok"]})",
              R"JS(export default { routes: { ok: async (_r, ctx) => ctx.site } };)JS");
  WriteFile(dir_ / "serve.json", R"({"plugins":"plugins","site-name":"Config Site",
    "site-url":"https://site.example","limit":{"wall-ms":20000},
    "plugin-limit":{"limited":{"cpu-ms":120}}})");
  serve_.args = {"--config", (dir_ / "serve.json").string()};
  serve_.Start();
  Reply site = serve_.Route("limited", "ok");
  ASSERT_EQ(site.status, 200) << site.body;
  EXPECT_EQ(Str(site.Json().at("name")), "Config Site");
  EXPECT_EQ(Str(site.Json().at("url")), "https://site.example");
  Reply p = serve_.Get("/v1/plugins/limited");
  EXPECT_EQ(p.Json().at("limits").at("cpuMs").as_int64(), 120);
  EXPECT_EQ(p.Json().at("limits").at("wallMs").as_int64(), 20000);
}

TEST_F(ServeTest, BadConfigurationExitsWith2AndSaysWhy) {
  std::string cmd = kServeBinary + " serve --data " + (dir_ / "d").string() +
                    " --limit cpu-ms=zero 2>" + (dir_ / "err").string();
  int st = std::system(cmd.c_str());
  EXPECT_EQ(WEXITSTATUS(st), 2);
  EXPECT_EQ(ReadFile(dir_ / "err"),
            "plugin-sandbox serve: --limit: \"cpu-ms=zero\": expected NAME=N with a positive "
            "integer N\n");
}

}  // namespace
}  // namespace ps::testing
