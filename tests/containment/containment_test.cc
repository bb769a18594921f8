// The kernel's wall, tested from inside: ps_escape_probe (escape_probe.cc) is started by the real
// supervisor and launcher in workerd's place, with the same namespaces, filter, identity and
// cgroup, and tries every escape the issue lists. Each must fail. Run as root (as CI is) and,
// where the machine allows, as an unprivileged host.
#include "workerd/containment.h"

#include <arpa/inet.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"
#include "workerd/seccomp_policy.h"
#include "workerd/supervisor.h"

namespace ps::workerd {
namespace {

using ps::testing::Eventually;
using ps::testing::TempDir;
using ps::testing::WriteFile;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr int kTasks = 24;
constexpr int kMemoryMb = 96;

int ListenUnix(const std::string& path) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(s, 4) != 0) {
    close(s);
    return -1;
  }
  chmod(path.c_str(), 0777);
  return s;
}

int ListenTcp(int* port) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(s, 4) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(s);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return s;
}

struct ProbeRun {
  std::string summary;  // the containment probe's summary
  bool full = false;
  bool identity = false;  // the identity layer is active (a user namespace, when unprivileged)
  std::vector<std::string> lines;
  ProcessExit exit;
  bool exited = false;
};

// A site laid out as serve lays it out: a database and data directory, another plugin's config
// and socket, and this process's config directory and socket directory. The escape probe runs in
// it through a real Supervisor.
ProbeRun RunProbe(const fs::path& root) {
  ProbeRun run;
  fs::create_directories(root / "data" / "run" / "other-1");
  fs::create_directories(root / "data" / "run" / "s1");
  fs::create_directories(root / "data" / "run" / "probe-2");
  fs::create_directories(root / "data" / "run" / "s2");
  WriteFile(root / "data" / "site.db", "SQLite format 3 -- the site's data");
  WriteFile(root / "data" / "run" / "other-1" / "config.capnp", "another plugin's config");
  for (const char* p : {"", "/data", "/data/run", "/data/run/other-1", "/data/run/s1"}) {
    chmod((root.string() + p).c_str(), 0755);  // file permissions would let nobody in: only
  }                                            // the mount namespace keeps the probe out
  chmod((root / "data" / "site.db").c_str(), 0644);
  int other = ListenUnix((root / "data" / "run" / "s1" / "w.sock").string());
  int port = 0;
  int tcp = ListenTcp(&port);
  fs::path config = root / "data" / "run" / "probe-2";
  fs::path sockets = root / "data" / "run" / "s2";
  WriteFile(config / "targets",
            "db=" + (root / "data" / "site.db").string() + "\ndata=" + (root / "data").string() +
                "\nother_socket=" + (root / "data" / "run" / "s1" / "w.sock").string() +
                "\nother_config=" + (root / "data" / "run" / "other-1" / "config.capnp").string() +
                "\nown=" + sockets.string() + "\ntcp_port=" + std::to_string(port) + "\nthreads=" +
                std::to_string(kTasks) + "\nmemory_mb=" + std::to_string(kMemoryMb + 1024) + "\n");

  SupervisorOptions o;
  o.launcher = PS_BINARY_DIR "/src/plugin-sandbox-launch";
  o.workerd = PS_BINARY_DIR "/tests/ps_escape_probe";
  o.containment.pids = kTasks;
  o.containment.baseline_mb = kMemoryMb;
  o.containment.cpu_percent = 50;
  o.ready_timeout = 60s;  // it never becomes ready: it reports and exits
  o.max_failures = 100;
  o.restart_delays = {60s};
  std::mutex mu;
  {
    Supervisor sup(o);
    run.summary = sup.containment().Summary();
    run.full = sup.containment().full();
    for (const auto& l : sup.containment().layers()) {
      if (l.name == "identity") run.identity = l.active;
    }
    ProcessSpec spec;
    spec.name = "escape-probe";
    spec.config_dir = config.string();
    spec.config_file = "targets";
    spec.ready_socket = (sockets / "w.sock").string();
    spec.on_output = [&](const std::string& line) {
      std::lock_guard<std::mutex> lock(mu);
      run.lines.push_back(line);
    };
    spec.on_exit = [&](const ProcessExit& ex) {
      std::lock_guard<std::mutex> lock(mu);
      if (!run.exited) run.exit = ex;
      run.exited = true;
    };
    auto id = sup.Start(spec);
    Eventually(
        [&] {
          std::lock_guard<std::mutex> lock(mu);
          return run.exited;
        },
        60s, 10ms);
    sup.Stop(id);
  }
  close(other);
  close(tcp);
  return run;
}

void ExpectEveryEscapeBlocked(const ProbeRun& run) {
  ASSERT_TRUE(run.exited) << "the probe did not finish";
  for (const auto& l : run.lines) std::printf("  | %s\n", l.c_str());  // the probe's report
  int attempts = 0;
  bool done = false, memory = false;
  for (const auto& l : run.lines) {
    if (l.rfind("escape ", 0) == 0) {
      ++attempts;
      EXPECT_EQ(l.find("ESCAPED"), std::string::npos) << l;
      if (l.rfind("escape memory:", 0) == 0) memory = true;
    }
    if (l.rfind("probe: done", 0) == 0) done = true;
  }
  std::string all;
  for (const auto& l : run.lines) all += l + "\n";
  EXPECT_TRUE(done) << all;
  EXPECT_GE(attempts, 35) << all;
  // The memory attempt ends with the kernel's kill (a cgroup) or a refused allocation (rlimit).
  if (!memory) {
    EXPECT_TRUE(run.exit.signaled) << all;
    EXPECT_EQ(run.exit.status, SIGKILL);
    EXPECT_EQ(run.exit.kill_reason, "memory_limit_exceeded");
  }
}

TEST(ContainmentTest, EveryEscapeFailsForAProcessOfARootHost) {
  if (geteuid() != 0) GTEST_SKIP() << "the host is not root here";
  TempDir dir;
  ProbeRun run = RunProbe(dir.path());
  // CI runs as root on a machine that allows every layer: none may be missing there.
  EXPECT_TRUE(run.full) << run.summary;
  ExpectEveryEscapeBlocked(run);
}

TEST(ContainmentTest, EveryEscapeFailsForAProcessOfAnUnprivilegedHost) {
  if (geteuid() != 0) {
    // Already an ordinary user: host the probe right here.
    TempDir dir;
    ProbeRun run = RunProbe(dir.path());
    if (!run.identity) GTEST_SKIP() << "no unprivileged user namespaces here: " << run.summary;
    ExpectEveryEscapeBlocked(run);
    return;
  }
  TempDir dir;
  const uid_t uid = 23456;
  fs::path root = dir.path() / "host";
  fs::create_directories(root);
  chown(root.c_str(), uid, uid);
  chmod(dir.path().c_str(), 0755);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child becomes an ordinary user and hosts the probe itself; it writes what it saw.
    close(fds[0]);
    if (setgroups(0, nullptr) != 0 || setresgid(uid, uid, uid) != 0 ||
        setresuid(uid, uid, uid) != 0) {
      _exit(3);
    }
    // A host started by that user is dumpable; one that dropped from root is not until told,
    // and its /proc files would stay root's (the spawner writes the user namespace's maps there).
    prctl(PR_SET_DUMPABLE, 1);
    ProbeRun run = RunProbe(root);
    std::string out = "summary " + run.summary + "\nidentity " + (run.identity ? "1" : "0") + "\n";
    out += "exit " + std::to_string(run.exited) + " " + std::to_string(run.exit.signaled) + " " +
           std::to_string(run.exit.status) + " " + run.exit.kill_reason + "\n";
    for (const auto& l : run.lines) out += "line " + l + "\n";
    ssize_t n = write(fds[1], out.data(), out.size());
    _exit(n == ssize_t(out.size()) ? 0 : 4);
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  for (int i = 0; i < 10000; ++i) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, size_t(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << text;
  ProbeRun run;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("summary ", 0) == 0) run.summary = line.substr(8);
    if (line.rfind("line ", 0) == 0) run.lines.push_back(line.substr(5));
    if (line == "identity 1") run.identity = true;
    if (line.rfind("exit ", 0) == 0) {
      std::istringstream e(line.substr(5));
      e >> run.exited >> run.exit.signaled >> run.exit.status >> run.exit.kill_reason;
    }
  }
  if (!run.identity) {
    GTEST_SKIP() << "no unprivileged user namespaces here: " << run.summary;
  }
  ExpectEveryEscapeBlocked(run);
}

TEST(ContainmentTest, TheAllowlistNamesNoDangerousCall) {
  auto names = SeccompAllowedNames();
  for (const char* banned : {"ptrace",
                             "mount",
                             "umount2",
                             "pivot_root",
                             "chroot",
                             "bpf",
                             "keyctl",
                             "add_key",
                             "request_key",
                             "unshare",
                             "setns",
                             "io_uring_setup",
                             "io_uring_enter",
                             "perf_event_open",
                             "process_vm_readv",
                             "process_vm_writev",
                             "fork",
                             "vfork",
                             "init_module",
                             "kexec_load",
                             "setuid",
                             "setgid",
                             "capset",
                             "clone3"}) {
    EXPECT_EQ(std::count(names.begin(), names.end(), banned), 0) << banned;
  }
}

TEST(ContainmentTest, TurnedOffItReportsEveryLayerMissingAndWhy) {
  ContainmentOptions off;
  off.enabled = false;
  auto c = Containment::Probe(PS_BINARY_DIR "/src/plugin-sandbox-launch", "/bin/true", off);
  EXPECT_FALSE(c->full());
  ASSERT_EQ(c->layers().size(), 9u);
  for (const auto& l : c->layers()) {
    EXPECT_FALSE(l.active) << l.name;
    EXPECT_NE(l.detail.find("--containment=off"), std::string::npos) << l.detail;
  }
}

TEST(ContainmentTest, RequiringFullContainmentRefusesToStartWithoutIt) {
  ContainmentOptions o;
  o.require_full = true;
  o.user = "no-such-user-here";  // the identity layer cannot be had
  auto c = Containment::Probe(PS_BINARY_DIR "/src/plugin-sandbox-launch", "/bin/true", o);
  if (geteuid() != 0) {
    // The plugin user only matters to a root host; here a start is refused exactly when some
    // layer is missing, and the refusal says so.
    EXPECT_EQ(c->refuse(), !c->full()) << c->Summary();
    auto launch = c->Prepare("x", ProcessView{"/tmp", {}}, 64);
    EXPECT_EQ(launch.error.empty(), c->full()) << launch.error;
    return;
  }
  EXPECT_FALSE(c->full());
  EXPECT_TRUE(c->refuse());
  auto launch = c->Prepare("x", ProcessView{"/tmp", {}}, 64);
  EXPECT_NE(launch.error.find("no user named 'no-such-user-here'"), std::string::npos)
      << launch.error;
}

}  // namespace
}  // namespace ps::workerd
