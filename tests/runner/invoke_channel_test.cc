// The invocation channel (runner/invoke_channel.h) on real workerd processes: invocations travel
// as WebSocket messages, answer exactly as requests do, and what a channel keeps open (an
// invocation's leftovers) stays contained.
#include <gtest/gtest.h>

#include <string>

#include "runner/runner_fixture.h"

namespace ps::testing {
namespace {

constexpr const char* kManifest = R"({"id":"chan","version":"1.0.0","capabilities":[]})";

// Every answer kind: a hook's value, a route's, a thrown error with a code, input echoed back.
constexpr const char* kSource = R"JS(
export default {
  hooks: { "content:beforeSave": async (event) => ({ ...event.content, seen: true }) },
  routes: {
    echo: async ({ input }) => ({ input }),
    size: async ({ input }) => ({ length: input.length }),
    boom: async () => { const e = new Error("it broke"); e.code = "MY_CODE"; throw e; },
    nothing: async () => undefined,
  },
};
)JS";

// The same behaviours must hold with and without the channel.
class InvokeBothWaysTest : public RunnerTest, public ::testing::WithParamInterface<bool> {
  void Customize(runner::RunnerOptions& o) override { o.invoke_channel = GetParam(); }
};

TEST_P(InvokeBothWaysTest, AnswersAreTheSameWithAndWithoutTheChannel) {
  auto h = Load(kManifest, kSource);
  auto hook = runner_->InvokeHook(h, "content:beforeSave",
                                  *ParseJson(R"({"content":{"title":"héllo \u0001"}})"));
  ASSERT_TRUE(hook.ok()) << hook.status().message();
  EXPECT_EQ(Stringify(*hook), R"({"title":"héllo \u0001","seen":true})");
  EXPECT_EQ(Stringify(Route(h, "echo", R"({"a":[1,2.5,"x"],"b":null})")),
            R"({"input":{"a":[1,2.5,"x"],"b":null}})");
  EXPECT_EQ(Stringify(Route(h, "nothing")), "null");

  ExpectFailure(runner_->InvokeRoute(h, "boom", nullptr, json::object()), ErrorCode::kPluginError,
                "it broke");
  ExpectFailure(runner_->InvokeRoute(h, "no-such-route", nullptr, json::object()),
                ErrorCode::kNotFound, "Route not found: no-such-route");

  // Inputs on both sides of the channel's 512 KiB message cap (the larger goes by request).
  for (size_t n : {size_t(500) << 10, size_t(600) << 10}) {
    json::value big(std::string(n, 'x'));
    auto r = runner_->InvokeRoute(h, "size", big, json::object());
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->at("length").as_int64(), int64_t(n));
  }
  EXPECT_EQ(runner_->invoke_channels_opened(), GetParam() ? 1u : 0u);
}

INSTANTIATE_TEST_SUITE_P(Channel, InvokeBothWaysTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "channel" : "requests"; });

TEST_F(RunnerTest, SequentialInvocationsShareOneChannelUntilItsUsesRunOut) {
  auto h = Load(kManifest, kSource);
  for (int i = 0; i < 1001; ++i) {
    auto r = runner_->InvokeRoute(h, "echo", json::value(i), json::object());
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r->at("input").as_int64(), i);
  }
  // A channel carries 1000 invocations, then is replaced.
  EXPECT_EQ(runner_->invoke_channels_opened(), 2u);
}

class SlowChannelTest : public RunnerTest {
  void Customize(runner::RunnerOptions& o) override {
    o.limits.wall_ms = 300;
    o.limits.cpu_ms = 50;
  }
};

TEST_F(SlowChannelTest, InvocationPastItsTimeFailsAndTheNextGetsAFreshChannel) {
  auto h = Load(R"({"id":"slow","version":"1"})", R"JS(
export default { routes: {
  hang: () => new Promise((r) => setTimeout(r, 60000)),
  stuck: () => new Promise(() => {}),
  ok: () => "fine",
} };
)JS");
  EXPECT_EQ(Stringify(Route(h, "ok")), R"("fine")");
  for (const char* route : {"hang", "stuck"}) {
    auto r = runner_->InvokeRoute(h, route, nullptr, json::object());
    ASSERT_FALSE(r.ok());
    // On a channel a promise nothing can settle runs into the wall-time limit (by request,
    // workerd ends it at once: runner_test's NeverSettlingPromiseIsAPluginErrorNotAHang).
    EXPECT_EQ(r.status().error_code(), ErrorCode::kWallTimeExceeded) << route;
    EXPECT_EQ(r.status().message(), std::string("Plugin slow exceeded wall-time limit of 300ms "
                                                "during route:") +
                                        route);
  }
  // The timed-out channels were closed; the process is the same and answers on a new one.
  EXPECT_EQ(Stringify(Route(h, "ok")), R"("fine")");
  EXPECT_EQ(runner_->invoke_channels_opened(), 3u);
  EXPECT_EQ(runner_->Info("slow")->restarts, 0u);
}

TEST_F(RunnerTest, WorkAnInvocationLeftRunningIsKilledForCpu) {
  auto h = Load(R"({"id":"leftover","version":"1"})", R"JS(
export default { routes: {
  leave: async () => { setTimeout(() => { for (;;) {} }, 5); return "returned"; },
  ok: () => "fine",
} };
)JS");
  EXPECT_EQ(Stringify(Route(h, "leave")), R"("returned")");
  // Nothing is in flight while the timer spins: the watchdog's look with no invocation sees it.
  ASSERT_TRUE(Eventually([&] { return runner_->Info("leftover")->limit_kills == 1; },
                         std::chrono::seconds(10)));
  ASSERT_TRUE(
      Eventually([&] { return runner_->Info("leftover")->state == workerd::ProcessState::kReady; },
                 std::chrono::seconds(10)));
  EXPECT_EQ(Stringify(Route(h, "ok")), R"("fine")");
}

TEST_F(RunnerTest, WorkAnInvocationLeftRunningCannotCallTheBridge) {
  auto h = Load(R"({"id":"late","version":"1","capabilities":[]})", R"JS(
let outcome = "pending";
export default { routes: {
  leave: async (_, ctx) => {
    setTimeout(() => ctx.kv.set("late", 1).then(() => { outcome = "stored"; },
                                                (e) => { outcome = e.message; }), 5);
    return "returned";
  },
  outcome: () => outcome,
  read: async (_, ctx) => ctx.kv.get("late"),
} };
)JS");
  EXPECT_EQ(Stringify(Route(h, "leave")), R"("returned")");
  std::string outcome;
  ASSERT_TRUE(Eventually(
      [&] {
        outcome = Stringify(Route(h, "outcome"));
        return outcome != R"("pending")";
      },
      std::chrono::seconds(10)));
  EXPECT_NE(outcome.find("only accepted during an invocation"), std::string::npos) << outcome;
  EXPECT_EQ(Stringify(Route(h, "read")), "null");
}

}  // namespace
}  // namespace ps::testing
