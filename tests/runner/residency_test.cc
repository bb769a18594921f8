// Residency: plugin processes run only while they are used. Real workerd processes throughout;
// every wait is a condition with a deadline.
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "runner/limits.h"
#include "runner_fixture.h"

namespace ps::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kEchoManifest =
    R"({"id":"%ID%","version":"1.0.0","routes":["echo","put","get"]})";
constexpr const char* kEchoSource = R"JS(
export default { routes: {
  echo: async ({ input }) => ({ echo: input }),
  put: async ({ input }, ctx) => { await ctx.kv.set("k", input); return true; },
  get: async (_r, ctx) => ({ value: await ctx.kv.get("k") }),
} };
)JS";

std::string EchoManifest(const std::string& id) {
  std::string m = kEchoManifest;
  m.replace(m.find("%ID%"), 4, id);
  return m;
}

// The state's name ("ready", "idle-stopped", …); "unloaded" when the plugin is not loaded.
std::string StateOf(runner::Runner& r, const std::string& id) {
  auto info = r.Info(id);
  return info ? runner::StateName(*info) : "unloaded";
}

class ResidencyTest : public RunnerTest {
 protected:
  void Customize(runner::RunnerOptions& o) override {
    o.idle_stop = 1s;
    o.always_on = {"warm"};
    o.validation_cache_dir = (dir_ / "cache").string();
  }
};

TEST_F(ResidencyTest, AnIdlePluginIsStoppedAndItsNextCallStartsItAgain) {
  auto h = Load(EchoManifest("idler"), kEchoSource);
  EXPECT_EQ(Stringify(Route(h, "put", R"("kept")")), "true");
  auto info = runner_->Info("idler");
  ASSERT_TRUE(info && info->pid != 0);
  pid_t first = info->pid;
  EXPECT_EQ(info->starts, 1u);

  ASSERT_TRUE(Eventually([&] { return StateOf(*runner_, "idler") == "idle-stopped"; }, 20s));
  info = runner_->Info("idler");
  EXPECT_EQ(info->pid, 0);
  EXPECT_EQ(info->idle_stops, 1u);
  EXPECT_EQ(kill(first, 0), -1);  // the process is gone, not just forgotten
  EXPECT_TRUE(runner_->IsHealthy());
  EXPECT_TRUE(runner_->IsAvailable(h));

  // The next call starts it; what it stored is still there.
  EXPECT_EQ(Stringify(Route(h, "get")), R"({"value":"kept"})");
  info = runner_->Info("idler");
  EXPECT_EQ(info->state, workerd::ProcessState::kReady);
  EXPECT_NE(info->pid, 0);
  EXPECT_NE(info->pid, first);
  EXPECT_EQ(info->starts, 2u);
}

TEST_F(ResidencyTest, AnAlwaysOnPluginIsNeverStoppedForIdleness) {
  auto warm = Load(EchoManifest("warm"), kEchoSource);
  auto cold = Load(EchoManifest("cold"), kEchoSource);  // the same module: the cache knows it
  Route(cold, "echo", "0");                             // started on demand
  pid_t warm_pid = runner_->Info("warm")->pid;
  ASSERT_NE(warm_pid, 0);
  ASSERT_TRUE(Eventually([&] { return StateOf(*runner_, "cold") == "idle-stopped"; }, 20s));
  auto info = runner_->Info("warm");
  EXPECT_TRUE(info->always_on);
  EXPECT_EQ(info->state, workerd::ProcessState::kReady);
  EXPECT_EQ(info->pid, warm_pid);  // idle as long as cold, still running
  EXPECT_EQ(info->idle_stops, 0u);
}

TEST_F(ResidencyTest, ConcurrentCallsToAStoppedPluginShareOneStart) {
  auto h = Load(EchoManifest("shared-start"), kEchoSource);
  ASSERT_TRUE(Eventually([&] { return StateOf(*runner_, "shared-start") == "idle-stopped"; }, 20s));
  constexpr int kCallers = 8;
  std::atomic<int> ok{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&, i] {
      auto r = runner_->InvokeRoute(h, "echo", json::value(i), json::object());
      if (r.ok() && r->at("echo").as_int64() == i) ++ok;
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(ok.load(), kCallers);
  EXPECT_EQ(runner_->Info("shared-start")->starts, 2u);  // the load's, and one on demand
}

TEST_F(ResidencyTest, AModuleTheCacheKnowsLoadsWithoutStartingAndStartsOnItsFirstCall) {
  auto first = Load(EchoManifest("cached"), kEchoSource);
  ASSERT_TRUE(runner_->Terminate(first).ok());

  auto h = Load(EchoManifest("cached"), kEchoSource);
  auto info = runner_->Info("cached");
  ASSERT_TRUE(info.has_value());
  EXPECT_STREQ(runner::StateName(*info), "stopped");
  EXPECT_EQ(info->pid, 0);
  EXPECT_EQ(info->starts, 0u);
  // What the module declares is known without a process.
  EXPECT_TRUE(info->described.at("routes").get_object().contains("echo"));
  EXPECT_TRUE(runner_->IsHealthy());

  EXPECT_EQ(Stringify(Route(h, "echo", "42")), R"({"echo":42})");
  info = runner_->Info("cached");
  EXPECT_EQ(info->state, workerd::ProcessState::kReady);
  EXPECT_EQ(info->starts, 1u);
}

TEST_F(ResidencyTest, AChangedModuleIsStartedAgainAtLoad) {
  auto first = Load(EchoManifest("changed"), kEchoSource);
  ASSERT_TRUE(runner_->Terminate(first).ok());
  auto h = Load(EchoManifest("changed"), std::string(kEchoSource) + "\n// changed\n");
  auto info = runner_->Info("changed");
  EXPECT_EQ(info->state, workerd::ProcessState::kReady);
  EXPECT_NE(info->pid, 0);
  EXPECT_EQ(info->starts, 1u);
  EXPECT_EQ(Stringify(Route(h, "echo", "1")), R"({"echo":1})");
}

TEST_F(ResidencyTest, AnAlwaysOnPluginIsStartedAtLoadEvenWhenTheCacheKnowsIt) {
  auto first = Load(EchoManifest("warm"), kEchoSource);
  ASSERT_TRUE(runner_->Terminate(first).ok());
  Load(EchoManifest("warm"), kEchoSource);
  auto info = runner_->Info("warm");
  EXPECT_EQ(info->state, workerd::ProcessState::kReady);
  EXPECT_NE(info->pid, 0);
}

TEST_F(ResidencyTest, ModulesValidatedTogetherLoadWithoutStarting) {
  auto a = MakeBundle(EchoManifest("batch-a"), kEchoSource);
  auto b = MakeBundle(EchoManifest("batch-b"), std::string(kEchoSource) + "// b\n");
  auto c = MakeBundle(EchoManifest("batch-c"), std::string(kEchoSource) + "// c\n");
  EXPECT_EQ(runner_->Validate({&a, &b, &c}), 3u);
  EXPECT_EQ(runner_->Validate({&a, &b, &c}), 0u);  // known now: nothing to start
  for (const auto* bundle : {&a, &b, &c}) {
    auto h = runner_->Load(*bundle);
    ASSERT_TRUE(h.ok()) << h.status().message();
    auto info = runner_->Info(h->id);
    EXPECT_STREQ(runner::StateName(*info), "stopped") << h->id;
    EXPECT_EQ(info->starts, 0u) << h->id;
    EXPECT_TRUE(info->described.at("routes").get_object().contains("echo"));
    EXPECT_EQ(Stringify(Route(*h, "echo", "5")), R"({"echo":5})");
  }
}

TEST_F(ResidencyTest, ABatchWithAModuleThatCannotLoadLeavesEachToItsOwnLoad) {
  auto good = MakeBundle(EchoManifest("batch-good"), kEchoSource);
  auto bad = MakeBundle(EchoManifest("batch-bad"), R"JS(
throw new Error("broken at load");
export default { routes: { echo: async () => 1 } };
)JS");
  EXPECT_EQ(runner_->Validate({&good, &bad}), 0u);
  auto h = runner_->Load(good);
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(runner_->Info("batch-good")->state, workerd::ProcessState::kReady);  // validated alone
  auto broken = runner_->Load(bad);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().error_code(), ErrorCode::kPluginCrashed);
  EXPECT_NE(broken.status().message().find("broken at load"), std::string::npos)
      << broken.status().message();
}

// Calls that arrive just as the idle stop decides, while the process stops, or while it starts
// again all succeed: the gaps between calls straddle a short idle_stop.
class IdleRaceTest : public RunnerTest {
 protected:
  void Customize(runner::RunnerOptions& o) override { o.idle_stop = 40ms; }
};

TEST_F(IdleRaceTest, CallsAroundIdleStopsAllSucceed) {
  auto h = Load(EchoManifest("racer"), kEchoSource);
  int ok = 0;
  const int kCalls = 40;
  for (int i = 0; i < kCalls; ++i) {
    auto r = runner_->InvokeRoute(h, "echo", json::value(i), json::object());
    EXPECT_TRUE(r.ok()) << i << ": " << r.status().error_code() << " " << r.status().message();
    if (r.ok()) ++ok;
    // The workload, not a synchronisation: gaps of 0 to 78 ms around the 40 ms idle stop.
    std::this_thread::sleep_for(std::chrono::milliseconds((i * 37) % 79));
  }
  EXPECT_EQ(ok, kCalls);
  auto info = runner_->Info("racer");
  EXPECT_GT(info->idle_stops, 0u);  // the race was run: some gaps outlasted the idle stop
  EXPECT_EQ(info->failures, 0u);
}

// The memory budget: idle plugins are stopped, least recently used first, never one with a call
// in flight.
class BudgetTest : public RunnerTest {
 protected:
  void Customize(runner::RunnerOptions& o) override { o.idle_stop = 0ms; }

  int64_t Pss(const std::string& id) {
    auto info = runner_->Info(id);
    return info && info->pid ? runner::ProportionalBytes(info->pid).value_or(0) : 0;
  }
};

TEST_F(BudgetTest, TheLeastRecentlyUsedIdlePluginIsStoppedFirst) {
  auto a = Load(EchoManifest("a"), kEchoSource);
  auto b = Load(EchoManifest("b"), kEchoSource);
  auto c = Load(EchoManifest("c"), kEchoSource);
  // Used in the order a, b, c: a is the least recently used.
  for (const auto* h : {&a, &b, &c}) Route(*h, "echo", "0");
  int64_t total = Pss("a") + Pss("b") + Pss("c");
  int64_t a_pss = Pss("a");
  ASSERT_GT(a_pss, 1 << 20);
  // Over budget by half of a's share: stopping a is enough.
  runner_->SetMemoryBudget((total - a_pss / 2) >> 20);
  ASSERT_TRUE(Eventually([&] { return StateOf(*runner_, "a") == "idle-stopped"; }, 20s));
  EXPECT_EQ(StateOf(*runner_, "b"), "ready");
  EXPECT_EQ(StateOf(*runner_, "c"), "ready");
  EXPECT_EQ(runner_->Info("a")->budget_stops, 1u);
  runner_->SetMemoryBudget(0);
  // Stopped for memory, it answers its next call as any stopped plugin does.
  EXPECT_EQ(Stringify(Route(a, "echo", "1")), R"({"echo":1})");
}

TEST_F(BudgetTest, APluginWithACallInFlightIsNeverStopped) {
  // `wait` runs until `go` is called (bounded by the wall-time limit).
  auto busy = Load(R"({"id":"busy","version":"1","routes":["wait","go"]})", R"JS(
export default { routes: {
  wait: async (_r, ctx) => {
    await ctx.kv.set("waiting", true);
    while (!(await ctx.kv.get("go"))) await new Promise((r) => setTimeout(r, 10));
    return "done";
  },
  go: async (_r, ctx) => { await ctx.kv.set("go", true); return (await ctx.kv.get("waiting")) === true; },
} };
)JS");
  auto idle = Load(EchoManifest("idle"), kEchoSource);
  Result<json::value> waited = json::value(nullptr);
  std::thread call(
      [&] { waited = runner_->InvokeRoute(busy, "wait", std::nullopt, json::object()); });
  ASSERT_TRUE(Eventually([&] { return runner_->Info("busy")->invocations == 1; }, 10s));
  Route(idle, "echo", "0");     // busy is now the least recently used
  runner_->SetMemoryBudget(1);  // nothing fits: every idle plugin goes
  ASSERT_TRUE(Eventually([&] { return StateOf(*runner_, "idle") == "idle-stopped"; }, 20s));
  EXPECT_EQ(StateOf(*runner_, "busy"), "ready");
  EXPECT_EQ(runner_->Info("busy")->budget_stops, 0u);
  EXPECT_EQ(Stringify(Route(busy, "go")), "true");
  call.join();
  ASSERT_TRUE(waited.ok()) << waited.status().message();
  EXPECT_EQ(Stringify(*waited), R"("done")");
  // Idle now, it goes too.
  ASSERT_TRUE(Eventually([&] { return StateOf(*runner_, "busy") == "idle-stopped"; }, 20s));
}

// A start on demand that fails: its callers learn why, no restart follows on its own, and a
// plugin that keeps failing is quarantined. workerd is wrapped by a script that fails while a
// flag file exists.
class StartFailureTest : public RunnerTest {
 protected:
  void Customize(runner::RunnerOptions& o) override {
    o.idle_stop = 300ms;
    o.supervision.max_failures = 2;
    // A shell script in front of workerd needs the host's /bin and the test's flag file.
    o.supervision.containment.enabled = false;
    auto script = dir_ / "workerd-or-fail.sh";
    WriteFile(script, "#!/bin/sh\nif [ -e '" + flag().string() +
                          "' ]; then echo 'simulated start failure' >&2; exit 3; fi\nexec '" +
                          o.workerd_path + "' \"$@\"\n");
    chmod(script.c_str(), 0755);
    o.workerd_path = script.string();
  }
  std::filesystem::path flag() { return dir_ / "fail"; }
};

TEST_F(StartFailureTest, TheCallerGetsTheReasonAndRepeatedFailuresQuarantine) {
  auto h = Load(EchoManifest("flaky"), kEchoSource);
  ASSERT_TRUE(Eventually([&] { return StateOf(*runner_, "flaky") == "idle-stopped"; }, 20s));
  WriteFile(flag(), "");
  for (int i = 0; i < 3; ++i) {
    auto r = runner_->InvokeRoute(h, "echo", json::value(i), json::object());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().error_code(), ErrorCode::kPluginCrashed) << r.status().message();
    EXPECT_EQ(r.status().message(), "Plugin flaky failed to start: simulated start failure");
    auto state = StateOf(*runner_, "flaky");
    if (i < 2) {
      // Stopped, not restarting on its own: the next call tries again. Not healthy meanwhile.
      EXPECT_EQ(state, "start-failed") << i;
      EXPECT_FALSE(runner_->IsHealthy());
    } else {
      EXPECT_EQ(state, "quarantined");
    }
  }
  ExpectFailure(runner_->InvokeRoute(h, "echo", json::value(9), json::object()),
                ErrorCode::kPluginUnavailable,
                "Plugin sandbox unavailable for flaky: quarantined after repeated failures; "
                "enable it again to restart it");
  EXPECT_FALSE(runner_->IsAvailable(h));

  std::filesystem::remove(flag());
  ASSERT_TRUE(runner_->Enable("flaky").ok());
  EXPECT_EQ(Stringify(Route(h, "echo", "7")), R"({"echo":7})");
  EXPECT_EQ(StateOf(*runner_, "flaky"), "ready");
  EXPECT_TRUE(runner_->IsHealthy());
}

}  // namespace
}  // namespace ps::testing
