// The supervisor with real processes: small shell scripts stand in for workerd where a test is
// about process handling (environment, exits, stop escalation), and real workerd where it is about
// readiness.
#include "workerd/supervisor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "test_util.h"
#include "workerd/config.h"

namespace ps::workerd {
namespace {

using ps::testing::ReadFile;
using ps::testing::TempDir;
using ps::testing::WriteFile;
using namespace std::chrono_literals;

using ps::testing::Eventually;

class SupervisorTest : public ::testing::Test {
 protected:
  // A stand-in for workerd: `body` runs in the config directory.
  std::string Script(const std::string& body) {
    auto path = dir_ / "fake-workerd.sh";
    WriteFile(path, "#!/bin/sh\n" + body + "\n");
    chmod(path.c_str(), 0755);
    return path.string();
  }

  SupervisorOptions Options(const std::string& program) {
    SupervisorOptions o;
    o.launcher = PS_BINARY_DIR "/src/plugin-sandbox-launch";
    o.workerd = program;
    o.network_namespace = false;
    // The supervision tests run shell scripts, which need the host's /bin: no new root. Real
    // workerd runs contained below and in every runner, server and end-to-end test.
    o.containment.enabled = false;
    o.ready_timeout = 60s;  // scripts never become ready; nothing here waits for it
    o.stop_timeout = 300ms;
    o.restart_delays = {0ms, 10ms};
    return o;
  }

  ProcessSpec Spec() {
    ProcessSpec s;
    s.name = "fake";
    s.config_dir = dir_.str();
    s.config_file = "config.capnp";
    s.ready_socket = (dir_ / "never.sock").string();
    s.ready_auth = "Bearer x";
    s.on_exit = [this](const ProcessExit& ex) {
      std::lock_guard<std::mutex> lock(mu_);
      exits_.push_back(ex);
    };
    return s;
  }

  std::vector<ProcessExit> Exits() {
    std::lock_guard<std::mutex> lock(mu_);
    return exits_;
  }

  TempDir dir_;
  std::mutex mu_;
  std::vector<ProcessExit> exits_;
};

TEST_F(SupervisorTest, EnvironmentIsReducedToTheAllowlistPlusOperatorPassthrough) {
  setenv("PS_TEST_SECRET", "do-not-leak", 1);
  setenv("PS_TEST_PASS", "passed", 1);
  unsetenv("PS_TEST_UNSET");
  auto opts = Options(Script("env > env.txt; exec sleep 60"));
  opts.env_passthrough = {" PS_TEST_PASS ", "PS_TEST_UNSET"};
  Supervisor sup(opts);
  auto id = sup.Start(Spec());
  ASSERT_TRUE(Eventually(
      [&] { return ReadFile(dir_ / "env.txt").find("PATH=") != std::string::npos; }, 10s));
  std::string env = ReadFile(dir_ / "env.txt");
  EXPECT_NE(env.find("PS_TEST_PASS=passed"), std::string::npos) << env;
  EXPECT_EQ(env.find("PS_TEST_SECRET"), std::string::npos) << env;
  EXPECT_EQ(env.find("PS_TEST_UNSET"), std::string::npos) << env;
  sup.Stop(id);
}

TEST_F(SupervisorTest, OnlyStandardDescriptorsAreInherited) {
  int leaked = open("/dev/null", O_RDONLY);  // no O_CLOEXEC: would leak without the launcher
  ASSERT_GE(leaked, 0);
  Supervisor sup(Options(Script("ls /proc/self/fd > fds.txt; exec sleep 60")));
  auto id = sup.Start(Spec());
  ASSERT_TRUE(Eventually([&] { return !ReadFile(dir_ / "fds.txt").empty(); }, 10s));
  close(leaked);
  // ls itself opens one descriptor to read the directory: 0, 1, 2 and that one.
  std::string fds = ReadFile(dir_ / "fds.txt");
  EXPECT_EQ(fds, "0\n1\n2\n3\n") << fds;
  sup.Stop(id);
}

TEST_F(SupervisorTest, StopEscalatesToSigkillWhenTermIsIgnored) {
  Supervisor sup(Options(Script(
      "trap 'echo term > term.txt' TERM; echo up > up.txt; while true; do sleep 0.05; done")));
  auto id = sup.Start(Spec());
  // Stop only once the trap is installed.
  ASSERT_TRUE(Eventually([&] { return ReadFile(dir_ / "up.txt") == "up\n"; }, 10s));
  pid_t pid = sup.pid(id);
  sup.Stop(id, /*wait=*/true);
  EXPECT_EQ(kill(pid, 0), -1);                       // gone
  EXPECT_EQ(ReadFile(dir_ / "term.txt"), "term\n");  // it got SIGTERM first and ignored it
  auto exits = Exits();
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].kill_reason, "stopped");
  EXPECT_TRUE(exits[0].signaled);
  EXPECT_EQ(exits[0].status, SIGKILL);
  EXPECT_FALSE(exits[0].restarting);
}

TEST_F(SupervisorTest, IntentionalStopIsNotRestarted) {
  Supervisor sup(Options(Script("exec sleep 60")));
  auto id = sup.Start(Spec());
  ASSERT_TRUE(Eventually([&] { return sup.pid(id) != 0; }, 10s));
  sup.Stop(id);
  EXPECT_EQ(sup.state(id), ProcessState::kStopped);
  auto exits = Exits();
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].kill_reason, "stopped");
  EXPECT_EQ(exits[0].status, SIGTERM);
}

TEST_F(SupervisorTest, CleanExitIsNotRestarted) {
  Supervisor sup(Options(Script("exit 0")));
  auto id = sup.Start(Spec());
  ASSERT_TRUE(Eventually([&] { return Exits().size() == 1; }, 10s));
  EXPECT_EQ(Exits()[0].kill_reason, "exited");
  EXPECT_EQ(sup.state(id), ProcessState::kStopped);
  EXPECT_EQ(sup.generation(id), 1);
}

TEST_F(SupervisorTest, CrashesRestartThenQuarantineAfterMoreThanFiveInTheWindow) {
  Supervisor sup(Options(Script("echo dying; exit 3")));
  auto id = sup.Start(Spec());
  ASSERT_TRUE(Eventually([&] { return sup.state(id) == ProcessState::kQuarantined; }, 20s));
  ASSERT_TRUE(Eventually([&] { return Exits().size() >= 6; }, 10s));
  auto exits = Exits();
  ASSERT_EQ(exits.size(), 6u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_TRUE(exits[i].restarting) << i;
    EXPECT_EQ(exits[i].status, 3);
    EXPECT_EQ(exits[i].generation, int(i + 1));
    EXPECT_EQ(exits[i].output_tail, "dying\n");
  }
  EXPECT_TRUE(exits[5].quarantined);
  EXPECT_FALSE(exits[5].restarting);
  // Nothing restarts a quarantined process by itself...
  EXPECT_EQ(sup.generation(id), 6);
  // ...until it is enabled.
  sup.Enable(id);
  ASSERT_TRUE(Eventually([&] { return Exits().size() >= 7; }, 10s));
  EXPECT_GE(sup.generation(id), 7);
  EXPECT_TRUE(Exits()[6].restarting);  // a fresh failure history: restarting, not quarantined
}

TEST_F(SupervisorTest, KillReportsItsReasonAndRestarts) {
  Supervisor sup(Options(Script("exec sleep 60")));
  auto id = sup.Start(Spec());
  ASSERT_TRUE(Eventually([&] { return sup.pid(id) != 0; }, 10s));
  pid_t first = sup.pid(id);
  sup.Kill(id, "cpu_limit_exceeded");
  ASSERT_TRUE(Eventually([&] { return sup.pid(id) != 0 && sup.pid(id) != first; }, 10s));
  auto exits = Exits();
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].kill_reason, "cpu_limit_exceeded");
  EXPECT_EQ(exits[0].generation, 1);
  EXPECT_EQ(sup.generation(id), 2);
  sup.Stop(id);
}

// Field 19 of /proc/<pid>/stat; the command name (field 2) may hold spaces, so count after ')'.
int NiceOf(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -100;
  std::istringstream in(stat.substr(paren + 2));
  std::string field;
  for (int i = 3; i <= 19 && (in >> field); ++i) {
  }
  return std::stoi(field);
}

TEST_F(SupervisorTest, AProcessRestartedAfterAFailureYieldsTheCpu) {
  Supervisor sup(Options(Script("exec sleep 60")));
  auto id = sup.Start(Spec());
  ASSERT_TRUE(Eventually([&] { return sup.pid(id) != 0; }, 10s));
  pid_t first = sup.pid(id);
  // The launcher execs the program in place: the pid is the program's once it runs.
  ASSERT_TRUE(Eventually(
      [&] { return ReadFile("/proc/" + std::to_string(first) + "/comm") == "sleep\n"; }, 10s));
  int first_nice = NiceOf(first);
  EXPECT_EQ(first_nice, NiceOf(getpid()));  // a first start runs as the host does
  sup.Kill(id, "cpu_limit_exceeded");
  ASSERT_TRUE(Eventually([&] { return sup.pid(id) != 0 && sup.pid(id) != first; }, 10s));
  pid_t second = sup.pid(id);
  ASSERT_TRUE(Eventually(
      [&] { return ReadFile("/proc/" + std::to_string(second) + "/comm") == "sleep\n"; }, 10s));
  EXPECT_EQ(NiceOf(second), std::max(first_nice, 10));  // at least 10, whatever ours is
  sup.Stop(id);
}

TEST_F(SupervisorTest, AParkedProcessStaysStoppedUntilResumed) {
  Supervisor sup(Options(Script("exec sleep 60")));
  auto id = sup.Start(Spec());
  ASSERT_TRUE(Eventually([&] { return sup.pid(id) != 0; }, 10s));
  pid_t first = sup.pid(id);
  sup.Park(id);
  ASSERT_TRUE(Eventually([&] { return sup.state(id) == ProcessState::kStopped; }, 10s));
  EXPECT_EQ(sup.pid(id), 0);
  EXPECT_EQ(kill(first, 0), -1);
  ASSERT_EQ(Exits().size(), 1u);
  EXPECT_EQ(Exits()[0].kill_reason, "stopped");
  EXPECT_FALSE(Exits()[0].restarting);
  EXPECT_EQ(sup.spawns(id), 1u);
  EXPECT_FALSE(sup.WaitReady(id, std::chrono::steady_clock::now() + 10s));  // no wait: stopped

  ASSERT_TRUE(sup.Resume(id));
  ASSERT_TRUE(Eventually([&] { return sup.pid(id) != 0; }, 10s));
  EXPECT_NE(sup.pid(id), first);
  EXPECT_EQ(sup.spawns(id), 2u);
  EXPECT_EQ(sup.generation(id), 2);
  sup.Stop(id);
}

TEST_F(SupervisorTest, ConcurrentResumesOfAParkedProcessStartItOnce) {
  Supervisor sup(Options(Script("exec sleep 60")));
  auto id = sup.Register(Spec());
  EXPECT_EQ(sup.state(id), ProcessState::kStopped);
  EXPECT_EQ(sup.spawns(id), 0u);
  std::vector<std::thread> callers;
  for (int i = 0; i < 8; ++i) callers.emplace_back([&] { EXPECT_TRUE(sup.Resume(id)); });
  for (auto& t : callers) t.join();
  ASSERT_TRUE(Eventually([&] { return sup.pid(id) != 0; }, 10s));
  EXPECT_EQ(sup.spawns(id), 1u);
  EXPECT_TRUE(sup.Resume(id));  // running: nothing to do
  EXPECT_EQ(sup.spawns(id), 1u);
  sup.Stop(id);
}

TEST_F(SupervisorTest, AResumeDuringAStopStartsAgainOnceTheOldProcessIsGone) {
  // The process ignores SIGTERM, so the stop lasts until the SIGKILL after stop_timeout, and the
  // Resume surely lands while it is under way.
  Supervisor sup(Options(Script(
      "trap 'echo term >> term.txt' TERM; echo up >> up.txt; while true; do sleep 0.05; done")));
  auto id = sup.Start(Spec());
  ASSERT_TRUE(Eventually([&] { return ReadFile(dir_ / "up.txt") == "up\n"; }, 10s));
  pid_t first = sup.pid(id);
  sup.Park(id);
  ASSERT_TRUE(sup.Resume(id));
  ASSERT_TRUE(Eventually([&] { return sup.spawns(id) == 2 && sup.pid(id) != 0; }, 10s));
  EXPECT_NE(sup.pid(id), first);
  EXPECT_EQ(kill(first, 0), -1);  // the old one is gone first
  EXPECT_EQ(ReadFile(dir_ / "term.txt"), "term\n");
  ASSERT_TRUE(Eventually([&] { return ReadFile(dir_ / "up.txt") == "up\nup\n"; }, 10s));
  EXPECT_EQ(sup.state(id), ProcessState::kStarting);  // scripts never become ready
  sup.Stop(id);
}

TEST_F(SupervisorTest, FailedStartsAcrossResumesStillQuarantine) {
  auto opts = Options(Script("echo cannot start >&2; exit 3"));
  opts.restart_delays = {10s};  // no automatic restart within the test
  opts.max_failures = 2;
  Supervisor sup(opts);
  auto id = sup.Start(Spec());
  for (uint64_t n = 1; n <= 2; ++n) {
    ASSERT_TRUE(Eventually([&] { return sup.failures(id) == n; }, 10s));
    EXPECT_EQ(sup.state(id), ProcessState::kRestarting);
    sup.Park(id);  // cancels the pending restart
    EXPECT_EQ(sup.state(id), ProcessState::kStopped);
    ASSERT_TRUE(sup.Resume(id));
  }
  ASSERT_TRUE(Eventually([&] { return sup.state(id) == ProcessState::kQuarantined; }, 10s));
  EXPECT_EQ(sup.failures(id), 3u);
  EXPECT_EQ(sup.spawns(id), 3u);
  EXPECT_FALSE(sup.Resume(id));
  EXPECT_NE(Exits().back().output_tail.find("cannot start"), std::string::npos);
}

TEST_F(SupervisorTest, RealWorkerdBecomesReadyAndReportsTheReadyBody) {
  WriteFile(dir_ / "main.js", R"JS(
export default { fetch(req) {
  return req.headers.get("authorization") === "Bearer ok" ? new Response("ready!") : new Response("no", { status: 401 });
} };
)JS");
  WriteFile(dir_ / "refuse.js",
            "export default { fetch() { return new Response('', {status: 403}); } };");
  ProcessConfig config;
  config.workers.push_back(Worker{"plugin",
                                  {{"main.js", "main.js"}},
                                  (dir_ / "p.sock").string(),
                                  (dir_ / "b.sock").string(),
                                  kCompatibilityDate,
                                  {}});
  WriteFile(dir_ / "config.capnp", RenderCapnp(config));
  std::string workerd = PS_SOURCE_DIR "/node_modules/@cloudflare/workerd-linux-64/bin/workerd";
  auto opts = Options(workerd);
  opts.ready_timeout = 20s;
  opts.containment.enabled = true;
  Supervisor sup(opts);
  std::atomic<bool> ready{false};
  std::string body;
  auto spec = Spec();
  spec.ready_socket = (dir_ / "p.sock").string();
  spec.ready_auth = "Bearer ok";
  spec.on_ready = [&](int gen, pid_t, const std::string& b) {
    EXPECT_EQ(gen, 1);
    body = b;
    ready = true;
  };
  auto id = sup.Start(spec);
  ASSERT_TRUE(sup.WaitReady(id, std::chrono::steady_clock::now() + 20s));
  EXPECT_TRUE(ready.load());
  EXPECT_EQ(body, "ready!");
  EXPECT_EQ(sup.state(id), ProcessState::kReady);
  sup.Stop(id);
  EXPECT_TRUE(Exits().size() == 1 && Exits()[0].kill_reason == "stopped");
}

}  // namespace
}  // namespace ps::workerd
