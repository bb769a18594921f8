// Containment: what one plugin does never reaches another, and the host outlives it all.
#include <signal.h>

#include <atomic>
#include <thread>

#include "runner/runner.h"
#include "runner_fixture.h"

namespace ps::testing {
namespace {

constexpr const char* kEchoManifest = R"({"id":"neighbour","version":"1"})";
constexpr const char* kEchoSource = R"JS(
export default { routes: { ping: async ({ input }, ctx) => { await ctx.kv.set("n", input); return { pong: await ctx.kv.get("n") }; } } };
)JS";

// Calls `h`'s ping route in a loop on another thread until stopped; counts failures.
class Caller {
 public:
  Caller(runner::Runner& r, runner::PluginHandle h) : r_(r), h_(std::move(h)) {
    thread_ = std::thread([this] {
      for (int i = 0; i < 100000 && !stop_; ++i) {
        auto res = r_.InvokeRoute(h_, "ping", json::value(i), json::object());
        if (res.ok() && res->at("pong").as_int64() == i) {
          ++ok_;
        } else {
          ++failed_;
          last_error_ = res.ok() ? Stringify(*res) : res.status().message();
        }
      }
    });
  }
  ~Caller() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int ok() const { return ok_; }
  int failed() const { return failed_; }
  std::string last_error() const { return last_error_; }

 private:
  runner::Runner& r_;
  runner::PluginHandle h_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0}, failed_{0};
  std::string last_error_;
  std::thread thread_;
};

TEST_F(RunnerTest, LoadUpdateAndUnloadOfOnePluginNeverFailsAnother) {
  auto neighbour = Load(kEchoManifest, kEchoSource);
  Caller caller(*runner_, neighbour);
  for (int round = 0; round < 3; ++round) {
    auto v1 =
        Load(R"({"id":"churn","version":"1.0.0"})", "export default { routes: { v: () => 1 } };");
    EXPECT_EQ(Stringify(Route(v1, "v")), "1");
    auto v2 =
        Load(R"({"id":"churn","version":"2.0.0"})", "export default { routes: { v: () => 2 } };");
    EXPECT_EQ(Stringify(Route(v2, "v")), "2");
    // The first load's handle is stale now, and says so.
    auto stale = runner_->InvokeRoute(v1, "v", nullptr, json::object());
    ASSERT_FALSE(stale.ok());
    EXPECT_EQ(stale.status().error_code(), ErrorCode::kPluginUnavailable);
    EXPECT_NE(stale.status().message().find("stale"), std::string::npos);
    ASSERT_TRUE(runner_->Terminate(v2).ok());
    EXPECT_FALSE(runner_->IsAvailable(v2));
  }
  ASSERT_TRUE(Eventually([&] { return caller.ok() > 20; }, std::chrono::seconds(10)));
  caller.Stop();
  EXPECT_EQ(caller.failed(), 0) << caller.last_error();
  EXPECT_GT(caller.ok(), 20);
}

TEST_F(RunnerTest, SpinningNeighbourDoesNotStallOthers) {
  auto neighbour = Load(kEchoManifest, kEchoSource);
  auto spinner = Load(R"({"id":"spin2","version":"1"})",
                      "export default { routes: { spin: () => { for (;;) {} } } };");
  Caller caller(*runner_, neighbour);
  for (int i = 0; i < 3; ++i) {
    auto r = runner_->InvokeRoute(spinner, "spin", nullptr, json::object());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().error_code(), ErrorCode::kCpuLimitExceeded);
    ASSERT_TRUE(runner_->Info("spin2").has_value());
    ASSERT_TRUE(
        Eventually([&] { return runner_->Info("spin2")->state == workerd::ProcessState::kReady; },
                   std::chrono::seconds(15)));
  }
  caller.Stop();
  EXPECT_EQ(caller.failed(), 0) << caller.last_error();
  EXPECT_GT(caller.ok(), 0);
  EXPECT_EQ(runner_->Info("spin2")->limit_kills, 3u);
}

// While one plugin misbehaves in each way a plugin can, its neighbour keeps answering, and the
// misbehaving plugin answers again afterwards.
struct Misbehaviour {
  const char* name;
  const char* route_source;
  ErrorCode codes[2];  // acceptable error codes
};

void PrintTo(const Misbehaviour& m, std::ostream* os) { *os << m.name; }

class NeighbourTest : public RunnerTest, public ::testing::WithParamInterface<Misbehaviour> {};

TEST_P(NeighbourTest, NeighbourKeepsAnsweringAndTheCulpritRecovers) {
  const Misbehaviour& m = GetParam();
  auto neighbour = Load(kEchoManifest, kEchoSource);
  auto culprit =
      Load(R"({"id":"culprit","version":"1"})", std::string("export default { routes: { bad: ") +
                                                    m.route_source + ", ok: () => \"ok\" } };");
  Caller caller(*runner_, neighbour);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(
        Eventually([&] { return runner_->Info("culprit")->state == workerd::ProcessState::kReady; },
                   std::chrono::seconds(15)));
    auto r = runner_->InvokeRoute(culprit, "bad", nullptr, json::object());
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().error_code() == m.codes[0] || r.status().error_code() == m.codes[1])
        << m.name << ": " << r.status().error_code() << " " << r.status().message();
  }
  ASSERT_TRUE(Eventually([&] { return caller.ok() > 5; }, std::chrono::seconds(10)));
  caller.Stop();
  EXPECT_EQ(caller.failed(), 0) << caller.last_error();
  ASSERT_TRUE(
      Eventually([&] { return runner_->Info("culprit")->state == workerd::ProcessState::kReady; },
                 std::chrono::seconds(15)));
  EXPECT_EQ(Stringify(Route(culprit, "ok")), R"("ok")");
}

INSTANTIATE_TEST_SUITE_P(
    Misbehaviours, NeighbourTest,
    ::testing::Values(
        Misbehaviour{"spin",
                     "() => { for (;;) {} }",
                     {ErrorCode::kCpuLimitExceeded, ErrorCode::kCpuLimitExceeded}},
        Misbehaviour{"heap",
                     "() => { const a = []; for (;;) a.push({ s: 'x'.repeat(64) + a.length }); }",
                     {ErrorCode::kMemoryLimitExceeded, ErrorCode::kCpuLimitExceeded}},
        Misbehaviour{"arraybuffer",
                     "async () => { const k = []; for (let i = 0; i < 64; i++) { const b = new "
                     "Uint8Array(32 << 20); b.fill(1); k.push(b); await null; } return k.length; }",
                     {ErrorCode::kMemoryLimitExceeded, ErrorCode::kCpuLimitExceeded}}),
    [](const ::testing::TestParamInfo<Misbehaviour>& info) {
      return std::string(info.param.name);
    });

TEST_F(RunnerTest, KilledProcessRestartsAndInFlightCallFailsAsCrashed) {
  auto h = Load(R"({"id":"victim","version":"1"})", R"JS(
export default { routes: { wait: () => new Promise((r) => setTimeout(() => r("late"), 20000)), ok: () => "ok" } };
)JS");
  pid_t pid = runner_->Info("victim")->pid;
  ASSERT_GT(pid, 0);
  std::thread killer([&] {
    // Kill the process once the call is in flight (the route never answers before 20 s).
    Eventually([&] { return runner_->Info("victim")->invocations > 0; }, std::chrono::seconds(5));
    kill(pid, SIGKILL);
  });
  auto r = runner_->InvokeRoute(h, "wait", nullptr, json::object());
  killer.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), ErrorCode::kPluginCrashed) << r.status().message();
  ASSERT_TRUE(
      Eventually([&] { return runner_->Info("victim")->state == workerd::ProcessState::kReady; },
                 std::chrono::seconds(10)));
  EXPECT_NE(runner_->Info("victim")->pid, pid);
  EXPECT_EQ(Stringify(Route(h, "ok")), R"("ok")");
}

class FastRestartTest : public RunnerTest {
  void Customize(runner::RunnerOptions& o) override {
    o.supervision.restart_delays = {std::chrono::milliseconds(0), std::chrono::milliseconds(20)};
  }
};

TEST_F(FastRestartTest, CrashLoopingPluginIsQuarantinedWhileOthersStayReady) {
  auto neighbour = Load(kEchoManifest, kEchoSource);
  auto h = Load(R"({"id":"crashy","version":"1"})", R"JS(
export default { routes: { bomb: () => { const a = []; for (;;) a.push(new Array(1e5).fill(a.length)); }, ok: () => "ok" } };
)JS");
  // Six failures within the window: the sixth quarantines. Each attempt waits for the process
  // that replaced the last one, so every bomb kills a fresh process.
  pid_t last = 0;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(Eventually(
        [&] {
          auto info = runner_->Info("crashy");
          return info->state == workerd::ProcessState::kQuarantined ||
                 (info->state == workerd::ProcessState::kReady && info->pid != last);
        },
        std::chrono::seconds(15)));
    auto info = runner_->Info("crashy");
    if (info->state == workerd::ProcessState::kQuarantined) break;
    last = info->pid;
    auto r = runner_->InvokeRoute(h, "bomb", nullptr, json::object());
    EXPECT_FALSE(r.ok());
  }
  ASSERT_TRUE(Eventually(
      [&] { return runner_->Info("crashy")->state == workerd::ProcessState::kQuarantined; },
      std::chrono::seconds(10)));
  auto refused = runner_->InvokeRoute(h, "ok", nullptr, json::object());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().error_code(), ErrorCode::kPluginUnavailable);
  EXPECT_NE(refused.status().message().find("quarantined"), std::string::npos);
  EXPECT_FALSE(runner_->IsAvailable(h));
  EXPECT_FALSE(runner_->IsHealthy());
  // The neighbour never noticed.
  EXPECT_EQ(Stringify(Route(neighbour, "ping", "7")), R"({"pong":7})");
  // Enabling brings it back.
  ASSERT_TRUE(runner_->Enable("crashy").ok());
  ASSERT_TRUE(
      Eventually([&] { return runner_->Info("crashy")->state == workerd::ProcessState::kReady; },
                 std::chrono::seconds(10)));
  EXPECT_EQ(Stringify(Route(h, "ok")), R"("ok")");
  EXPECT_TRUE(runner_->IsHealthy());
}

TEST_F(RunnerTest, ConcurrentHonestInvocationsOfOnePluginAreNotKilled) {
  auto h = Load(R"({"id":"busy","version":"1"})", R"JS(
export default { routes: { work: async ({ input }) => {
  let x = 0; const end = Date.now() + 10; while (Date.now() < end) x++;  // ~10 ms of CPU
  await new Promise((r) => setTimeout(r, 5));
  return input;
} } };
)JS");
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        auto r = runner_->InvokeRoute(h, "work", json::value(t * 100 + i), json::object());
        if (!r.ok() || r->as_int64() != t * 100 + i) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(runner_->Info("busy")->limit_kills, 0u);
}

TEST_F(RunnerTest, PluginThatCannotStartFailsLoadWithItsError) {
  auto r = runner_->Load(MakeBundle(
      R"({"id":"broken","version":"1"})",
      "export default { routes: { x: () => 1 } };\nthrow new Error('module init failed');\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), ErrorCode::kPluginCrashed);
  EXPECT_NE(r.status().message().find("module init failed"), std::string::npos)
      << r.status().message();
  EXPECT_FALSE(runner_->Info("broken").has_value());
}

}  // namespace
}  // namespace ps::testing
