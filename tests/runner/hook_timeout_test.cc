// A hook's own timeout bounds its invocation below the plugin's wall-time limit.
#include "runner_fixture.h"

namespace ps::testing {
namespace {

constexpr const char* kSlowHookManifest = R"({"id":"slowhook","version":"1"})";
constexpr const char* kSlowHookSource = R"JS(
export default { hooks: {
  "content:afterSave": () => new Promise((r) => setTimeout(() => r("late"), 60000)),
  "content:afterDelete": async () => "quick",
} };
)JS";

TEST_F(RunnerTest, HookTimeoutShorterThanWallTimeFailsWithWallTimeExceededNamingTheTimeout) {
  auto h = Load(kSlowHookManifest, kSlowHookSource);
  auto start = std::chrono::steady_clock::now();
  auto r =
      runner_->InvokeHook(h, "content:afterSave", json::object(), std::chrono::milliseconds(200));
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), ErrorCode::kWallTimeExceeded);
  EXPECT_EQ(r.status().message(),
            "Plugin slowhook exceeded its hook timeout of 200ms during hook:content:afterSave");
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(RunnerTest, HookTimeoutLongerThanWallTimeLeavesTheWallTimeLimitInForce) {
  auto h = Load(kSlowHookManifest, kSlowHookSource);
  auto r = runner_->InvokeHook(h, "content:afterDelete", json::object(),
                               std::chrono::milliseconds(600000));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Stringify(*r), R"("quick")");
}

}  // namespace
}  // namespace ps::testing
