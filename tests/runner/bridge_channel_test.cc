// The call channel between a plugin's workerd and the bridge (bridge/backing_service.h,
// runner/js/wrapper.js): from an invocation's sixth call on, or from its first when the same hook
// or route made at least five calls the last time, calls travel as WebSocket messages.
// Plugins must not be able to tell: the same results, the same errors, every call checked.
#include <string>

#include "runner_fixture.h"

namespace ps::testing {
namespace {

constexpr const char* kManifest =
    R"({"id":"chatty","version":"1","capabilities":[],"routes":["seq","parallel","errors","big","two","sticky"]})";

constexpr const char* kSource = R"JS(
export default { routes: {
  // n sequential set/get pairs with distinct values; every answer is checked by the caller.
  seq: async ({ input }, ctx) => {
    const out = [];
    for (let i = 0; i < input.n; i++) {
      await ctx.kv.set("k" + i, { i, s: "v" + i });
      out.push(await ctx.kv.get("k" + i));
    }
    return out;
  },
  // Many calls in flight at once, answered out of order or not: each gets its own result.
  parallel: async ({ input }, ctx) => {
    await Promise.all(Array.from({ length: input.n }, (_, i) => ctx.kv.set("p" + i, i * 7)));
    return await Promise.all(Array.from({ length: input.n }, (_, i) => ctx.kv.get("p" + i)));
  },
  // Errors after the channel opened: the same message and code as over requests.
  errors: async (_r, ctx) => {
    const out = [];
    for (let i = 0; i < 8; i++) {
      try { await ctx.content.get("posts", "x"); out.push("no error"); }
      catch (e) { out.push(e.message + "|" + e.code); }
    }
    return out;
  },
  // Params over the channel's size cap go as a request of their own.
  big: async ({ input }, ctx) => {
    for (let i = 0; i < 6; i++) await ctx.kv.set("warm" + i, i);
    const v = "x".repeat(input.size);
    await ctx.kv.set("big", v);
    return (await ctx.kv.get("big")) === v;
  },
  two: async (_r, ctx) => { await ctx.kv.set("a", 1); return await ctx.kv.get("a"); },
  // A plugin that keeps its channels from being closed: the host ends them with the invocation.
  sticky: async (_r, ctx) => {
    WebSocket.prototype.close = () => {};
    for (let i = 0; i < 8; i++) await ctx.kv.set("s" + i, i);
    return "done";
  },
} };
)JS";

TEST_F(RunnerTest, ManySequentialCallsGoOverOneChannelWithTheirOwnResults) {
  auto h = Load(kManifest, kSource);
  uint64_t before = runner_->bridge_channels_opened();
  json::value out = Route(h, "seq", R"({"n":40})");
  ASSERT_TRUE(out.is_array()) << Stringify(out);
  ASSERT_EQ(out.as_array().size(), 40u);
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(Stringify(out.as_array()[size_t(i)]),
              R"({"i":)" + std::to_string(i) + R"(,"s":"v)" + std::to_string(i) + R"("})");
  }
  EXPECT_EQ(runner_->bridge_channels_opened(), before + 1);
  // This route made 80 calls last time: the next invocation opens its own channel (a channel
  // cannot outlive its invocation) at its first call, though it makes only 4.
  EXPECT_EQ(Stringify(Route(h, "seq", R"({"n":2})")), R"([{"i":0,"s":"v0"},{"i":1,"s":"v1"}])");
  EXPECT_EQ(runner_->bridge_channels_opened(), before + 2);
}

TEST_F(RunnerTest, HandlersMakingAFewCallsNeverOpenAChannel) {
  auto h = Load(kManifest, kSource);
  uint64_t before = runner_->bridge_channels_opened();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Stringify(Route(h, "two")), "1");
    EXPECT_EQ(Stringify(Route(h, "seq", R"({"n":2})")),
              R"([{"i":0,"s":"v0"},{"i":1,"s":"v1"}])");  // 4 calls
  }
  EXPECT_EQ(runner_->bridge_channels_opened(), before);
}

TEST_F(RunnerTest, CallsInFlightTogetherOnTheChannelEachGetTheirOwnAnswer) {
  auto h = Load(kManifest, kSource);
  json::value out = Route(h, "parallel", R"({"n":30})");
  ASSERT_TRUE(out.is_array()) << Stringify(out);
  ASSERT_EQ(out.as_array().size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(out.as_array()[size_t(i)].to_number<int>(), i * 7);
}

TEST_F(RunnerTest, BridgeErrorsAreTheSameOverTheChannelAsOverRequests) {
  auto h = Load(kManifest, kSource);
  uint64_t before = runner_->bridge_channels_opened();
  json::value out = Route(h, "errors");
  EXPECT_EQ(runner_->bridge_channels_opened(), before + 1);
  ASSERT_TRUE(out.is_array()) << Stringify(out);
  ASSERT_EQ(out.as_array().size(), 8u);
  for (const auto& e : out.as_array()) {  // calls 1-5 by request, 6-8 on the channel
    EXPECT_EQ(Stringify(e), R"("Missing capability: content:read|bridge_error")");
  }
}

// Moving 1.5 MB through the bridge twice costs the plugin tens of milliseconds of CPU, near the
// default 50 ms budget on a machine busy with other suites (an ASan run in CI was killed for it):
// this test is about the transport, so the budget is not what it measures.
class BigParamsTest : public RunnerTest {
  void Customize(runner::RunnerOptions& o) override { o.limits.cpu_ms = 2000; }
};

TEST_F(BigParamsTest, ParamsOverTheChannelCapGoAsARequestAndArriveWhole) {
  auto h = Load(kManifest, kSource);
  EXPECT_EQ(Stringify(Route(h, "big", R"({"size":1500000})")), "true");
}

TEST_F(RunnerTest, AChannelThePluginWillNotCloseEndsWithItsInvocation) {
  auto h = Load(kManifest, kSource);
  uint64_t before = runner_->bridge_channels_opened();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Stringify(Route(h, "sticky")), R"("done")");
  EXPECT_EQ(runner_->bridge_channels_opened(), before + 3);
  EXPECT_TRUE(Eventually([&] { return runner_->bridge_channels_open() == 0; }));
}

}  // namespace
}  // namespace ps::testing
