// `plugin-sandbox run`: one invocation, its output contract, and no orphan processes.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "cli_util.h"
#include "common/json.h"
#include "http/test_server.h"

extern char** environ;

namespace ps {
namespace {

const std::string kAuditLog = PS_SOURCE_DIR "/tests/data/emdash-cms-plugin-audit-log-0.2.0.tgz";

TEST(RunCommand, InvokesHooksAndRoutesOfThePublishedAuditLogPlugin) {
  TempDir data;
  Outcome empty = Exec({"run", kAuditLog, "--data", data.str(), "--route", "recent"});
  ASSERT_EQ(empty.code, 0) << empty.err;
  EXPECT_EQ(empty.out, "{\"entries\":[]}\n");

  Outcome hook =
      Exec({"run", kAuditLog, "--data", data.str(), "--hook", "content:afterSave", "--event",
            R"({"content":{"id":"p1","data":{"title":"Hi"},"slug":"hi","status":"draft"},)"
            R"("collection":"posts","isNew":true})"});
  ASSERT_EQ(hook.code, 0) << hook.err;
  EXPECT_EQ(hook.out, "null\n");
  EXPECT_NE(hook.err.find("[plugin:audit-log] info: + create content/posts/p1"), std::string::npos)
      << hook.err;

  Outcome recent = Exec({"run", kAuditLog, "--data", data.str(), "--route", "recent"});
  ASSERT_EQ(recent.code, 0) << recent.err;
  auto v = ParseJson(recent.out);
  ASSERT_TRUE(v.ok()) << recent.out;
  const auto& entries = v->at("entries").get_array();
  ASSERT_EQ(entries.size(), 1u) << recent.out;
  EXPECT_EQ(entries[0].at("action").get_string(), "create");
  EXPECT_EQ(entries[0].at("resourceId").get_string(), "p1");
  EXPECT_EQ(entries[0].at("metadata").at("slug").get_string(), "hi");
}

TEST(RunCommand, InputFromFileAndPluginErrorEnvelope) {
  TempDir dir;
  WriteFile(dir / "p" / "manifest.json", R"({"id":"echo","version":"1","routes":["echo","fail"]})");
  WriteFile(dir / "p" / "backend.js", R"JS(
export default { routes: {
  echo: async ({ input }) => ({ echoed: input }),
  fail: async () => { throw new Error("nope: bad input"); },
} };
)JS");
  WriteFile(dir / "input.json", R"({"a":[1,"two",{"three":3}]})");
  Outcome ok = Exec({"run", (dir / "p").string(), "--data", (dir / "d").string(), "--route", "echo",
                     "--input", "@" + (dir / "input.json").string()});
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(ok.out, "{\"echoed\":{\"a\":[1,\"two\",{\"three\":3}]}}\n");

  Outcome bad =
      Exec({"run", (dir / "p").string(), "--data", (dir / "d").string(), "--route", "fail"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.out, "{\"error\":{\"code\":\"plugin_error\",\"message\":\"nope: bad input\"}}\n");

  Outcome missing =
      Exec({"run", (dir / "p").string(), "--data", (dir / "d").string(), "--route", "absent"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.out,
            "{\"error\":{\"code\":\"not_found\",\"message\":\"Route not found: absent\"}}\n");
}

// `run --route NAME --limit LIMIT` of plugin `id` whose only route NAME is `handler`; it must fail
// (exit 1) with `code` and a message containing `message`.
void ExpectRouteFails(const std::string& id, const std::string& route, const std::string& handler,
                      const std::string& limit, const std::string& code,
                      const std::string& message) {
  TempDir dir;
  WriteFile(dir / "p" / "manifest.json", R"({"id":")" + id + R"(","version":"1"})");
  WriteFile(dir / "p" / "backend.js",
            "export default { routes: { " + route + ": " + handler + " } };\n");
  Outcome r = Exec({"run", (dir / "p").string(), "--data", (dir / "d").string(), "--route", route,
                    "--limit", limit});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("\"code\":\"" + code + "\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(message), std::string::npos) << r.out;
}

TEST(RunCommand, LimitsComeFromTheCommandLine) {
  ExpectRouteFails("spin", "spin", "() => { for (;;) {} }", "cpu-ms=20", "cpu_limit_exceeded",
                   "exceeded its CPU limit of 20ms during route:spin");
}

// run sends its one invocation by request (no invocation channel), so workerd reports a handler
// nothing can settle at once rather than after the wall-time limit.
TEST(RunCommand, AHandlerThatCanNeverSettleIsReportedAtOnce) {
  ExpectRouteFails("stuck", "stuck", "() => new Promise(() => {})", "wall-ms=60000", "plugin_error",
                   "Plugin stuck failed during route:stuck");
}

TEST(RunCommand, AllowPrivateOpensExactlyTheNamedLoopbackServer) {
  ps::testing::TestServer server;
  TempDir dir;
  WriteFile(
      dir / "p" / "manifest.json",
      R"({"id":"hooky","version":"1","capabilities":["network:request"],"allowedHosts":["127.0.0.1"]})");
  WriteFile(dir / "p" / "backend.js", R"JS(
export default { routes: { go: async ({ input }, ctx) => {
  try { const r = await ctx.http.fetch(input); return { status: r.status, body: await r.text() }; }
  catch (e) { return { error: e.message }; }
} } };
)JS");
  std::string input = "\"" + server.Url("/hook") + "\"";
  Outcome blocked = Exec({"run", (dir / "p").string(), "--data", (dir / "d").string(), "--route",
                          "go", "--input", input});
  ASSERT_EQ(blocked.code, 0) << blocked.err;
  EXPECT_NE(blocked.out.find("blocked"), std::string::npos) << blocked.out;
  EXPECT_EQ(server.request_count(), 0u);
  Outcome allowed = Exec({"run", (dir / "p").string(), "--data", (dir / "d").string(), "--route",
                          "go", "--input", input, "--allow-private", server.HostPort()});
  ASSERT_EQ(allowed.code, 0) << allowed.err;
  EXPECT_EQ(allowed.out, "{\"status\":200,\"body\":\"ok\"}\n");
  EXPECT_EQ(server.request_count(), 1u);
  Outcome bad = Exec({"run", (dir / "p").string(), "--data", (dir / "d").string(), "--route", "go",
                      "--allow-private", "http://nope/"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--allow-private"), std::string::npos) << bad.err;
}

TEST(RunCommand, BadArgumentsAndBundlesExit2WithAReason) {
  TempDir dir;
  Outcome both = Exec({"run", kAuditLog, "--hook", "x", "--route", "y"});
  EXPECT_EQ(both.code, 2);
  Outcome neither = Exec({"run", kAuditLog, "--data", dir.str()});
  EXPECT_EQ(neither.code, 2);
  EXPECT_NE(neither.err.find("exactly one of --hook NAME and --route NAME"), std::string::npos);
  Outcome json = Exec({"run", kAuditLog, "--data", dir.str(), "--hook", "x", "--event", "{"});
  EXPECT_EQ(json.code, 2);
  EXPECT_NE(json.err.find("--event: Invalid JSON"), std::string::npos) << json.err;
  Outcome limit =
      Exec({"run", kAuditLog, "--data", dir.str(), "--route", "recent", "--limit", "cpu=5"});
  EXPECT_EQ(limit.code, 2);
  EXPECT_NE(limit.err.find("--limit: \"cpu=5\": unknown limit"), std::string::npos) << limit.err;
  WriteFile(dir / "broken" / "manifest.json", R"({"id":"Bad Id","version":""})");
  WriteFile(dir / "broken" / "backend.js", "export default {};\n");
  Outcome broken = Exec({"run", (dir / "broken").string(), "--data", dir.str(), "--route", "r"});
  EXPECT_EQ(broken.code, 2);
  EXPECT_NE(broken.err.find("manifest.json: id"), std::string::npos) << broken.err;
}

// Processes whose working directory lies under `dir` (workerd runs in its plugin's directory).
std::vector<pid_t> ProcessesUnder(const std::filesystem::path& dir) {
  std::vector<pid_t> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto cwd = std::filesystem::read_symlink(e.path() / "cwd", ec);
    if (!ec && cwd.string().rfind(dir.string(), 0) == 0) found.push_back(pid_t(std::stol(name)));
  }
  return found;
}

// Starts `run` on a route that waits a minute, kills the host with `sig` mid-invocation, and
// checks that its workerd process does not outlive it.
void ExpectNoOrphanAfter(int sig) {
  TempDir dir;
  WriteFile(dir / "p" / "manifest.json", R"({"id":"waiter","version":"1"})");
  WriteFile(
      dir / "p" / "backend.js",
      "export default { routes: { wait: () => new Promise((r) => setTimeout(r, 60000)) } };\n");
  auto data = std::filesystem::canonical(dir.path()) / "d";
  std::filesystem::create_directories(data);
  std::vector<std::string> args = {kBinary,   "run", (dir / "p").string(), "--data", data.string(),
                                   "--route", "wait"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t host = 0;
  ASSERT_EQ(posix_spawn(&host, kBinary.c_str(), &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  // The plugin's process is up once a process runs in the runtime directory.
  ASSERT_TRUE(testing::Eventually([&] { return !ProcessesUnder(data / "run").empty(); },
                                  std::chrono::seconds(20)));
  ASSERT_EQ(kill(host, sig), 0);
  int status = 0;
  ASSERT_EQ(waitpid(host, &status, 0), host);
  EXPECT_TRUE(testing::Eventually([&] { return ProcessesUnder(data / "run").empty(); },
                                  std::chrono::seconds(10)))
      << "workerd outlived its host after signal " << sig;
}

TEST(RunCommand, NoOrphanWorkerdAfterTheHostIsKilled) { ExpectNoOrphanAfter(SIGKILL); }
TEST(RunCommand, NoOrphanWorkerdAfterTheHostIsTerminated) { ExpectNoOrphanAfter(SIGTERM); }

TEST(RunCommand, NoOrphanWorkerdAfterANormalExit) {
  TempDir dir;
  WriteFile(dir / "p" / "manifest.json", R"({"id":"quick","version":"1"})");
  WriteFile(dir / "p" / "backend.js", "export default { routes: { r: () => 1 } };\n");
  auto data = std::filesystem::canonical(dir.path()) / "d";
  Outcome r = Exec({"run", (dir / "p").string(), "--data", data.string(), "--route", "r"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(ProcessesUnder(data).empty());
}

}  // namespace
}  // namespace ps
