// Isolation mode `shared`: every plugin a worker in one workerd process, as EmDash's Node runner.
#include "runner/runner.h"
#include "runner_fixture.h"

namespace ps::testing {
namespace {

class SharedModeTest : public RunnerTest {
  void Customize(runner::RunnerOptions& o) override { o.mode = runner::IsolationMode::kShared; }
};

constexpr const char* kSource = R"JS(
export default { routes: {
  set: async ({ input }, ctx) => { await ctx.kv.set("k", input); return true; },
  get: async (_r, ctx) => ctx.kv.get("k"),
  spin: () => { for (;;) {} },
} };
)JS";

TEST_F(SharedModeTest, PluginsShareOneProcessButNotTheirData) {
  auto a = Load(R"({"id":"alpha","version":"1"})", kSource);
  auto b = Load(R"({"id":"beta","version":"1"})", kSource);
  ASSERT_TRUE(Eventually([&] { return runner_->IsHealthy(); }, std::chrono::seconds(10)));
  EXPECT_EQ(runner_->Info("alpha")->pid, runner_->Info("beta")->pid);
  EXPECT_NE(runner_->Info("alpha")->pid, 0);
  Route(a, "set", R"("from alpha")");
  Route(b, "set", R"("from beta")");
  EXPECT_EQ(Stringify(Route(a, "get")), R"("from alpha")");
  EXPECT_EQ(Stringify(Route(b, "get")), R"("from beta")");
  // Each plugin reports its own routes.
  EXPECT_TRUE(runner_->Info("beta")->described.at("routes").get_object().contains("spin"));
}

TEST_F(SharedModeTest, UnloadingOnePluginRestartsTheProcessWithTheOthers) {
  auto a = Load(R"({"id":"alpha","version":"1"})", kSource);
  auto b = Load(R"({"id":"beta","version":"1"})", kSource);
  Route(a, "set", "1");
  ASSERT_TRUE(runner_->Terminate(b).ok());
  EXPECT_FALSE(runner_->IsAvailable(b));
  EXPECT_EQ(Stringify(Route(a, "get")), "1");  // data lives in the host, not the process
  auto c = Load(R"({"id":"gamma","version":"1"})", kSource);
  EXPECT_EQ(runner_->Info("alpha")->pid, runner_->Info("gamma")->pid);
}

TEST_F(SharedModeTest, ASpinningPluginTakesTheSharedProcessDownWithIt) {
  auto a = Load(R"({"id":"alpha","version":"1"})", kSource);
  auto b = Load(R"({"id":"beta","version":"1"})", kSource);
  pid_t before = runner_->Info("beta")->pid;
  auto r = runner_->InvokeRoute(a, "spin", nullptr, json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), ErrorCode::kCpuLimitExceeded);
  // No containment: beta's process was the same one, and it was restarted too.
  ASSERT_TRUE(Eventually(
      [&] {
        auto i = runner_->Info("beta");
        return i->state == workerd::ProcessState::kReady && i->pid != before && i->pid != 0;
      },
      std::chrono::seconds(10)));
  EXPECT_EQ(Stringify(Route(b, "get")), "null");
}

}  // namespace
}  // namespace ps::testing
