// Supervision of workerd processes: start, readiness, restart, quarantine, stop.
//
// Contract:
// - Start() returns at once; the process is spawned by the supervisor's own thread (so the
//   parent-death signal is tied to a thread that lives as long as the supervisor) through
//   plugin-sandbox-launch, with a minimal environment and no inherited descriptors.
// - Readiness: GET /__ready on the process's socket (with the given Authorization) answers 2xx.
//   on_ready gets the body. A process not ready within ready_timeout is killed and counts as a
//   failure.
// - An exit that was not asked for (crash, signal, a Kill() for a limit) is a failure. A clean
//   exit (status 0) nobody asked for is not: the process is left stopped (kill_reason "exited").
//   The first failure restarts at once, then after 1, 2, 4, 8, 16 s (capped at 30 s); more than
//   max_failures within failure_window quarantines the process until Enable().
// - A start while failures are on record runs at nice failing_nice (the neighbours' CPU first).
// - Stop(): SIGTERM, then SIGKILL after stop_timeout; never restarted. Late events of an old
//   process never touch its successor (every event carries its generation).
// - Park()/Resume(): the same graceful stop, but the record stays (its failure history, so a
//   plugin that keeps failing its starts is still quarantined); Resume() starts it again.
//   Resume() is idempotent: concurrent callers get one start. A Resume() during a stop starts
//   the process again as soon as the old one is gone. A process that exited cleanly is resumed
//   the same way.
// - Callbacks run on the supervisor thread: keep them short, never call back into Stop(wait).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "workerd/containment.h"

namespace ps::workerd {

struct SupervisorOptions {
  std::string launcher;  // plugin-sandbox-launch
  std::string workerd;   // the workerd binary
  // Environment names passed through besides PATH, HOME, TMPDIR, TMP, TEMP, LANG, LC_ALL.
  std::vector<std::string> env_passthrough;
  bool network_namespace = true;  // when the OS allows it (without containment)
  // The kernel's wall around each process (containment.h); probed once, at construction.
  ContainmentOptions containment;
  long nofile_limit = 1024;
  std::chrono::milliseconds stop_timeout{5000};
  std::chrono::milliseconds ready_timeout{10000};
  // A process started while failures of its own are on record (within failure_window) runs at
  // this nice value: a plugin that keeps being killed (a loop restarted at once, say) then
  // yields the CPU to its neighbours. It stays so until its next start. 0: never.
  int failing_nice = 10;
  int max_failures = 5;
  std::chrono::milliseconds failure_window{60000};
  // Restart delays after the 1st, 2nd, … failure in the window (the last one repeats).
  std::vector<std::chrono::milliseconds> restart_delays = {
      std::chrono::milliseconds(0),    std::chrono::milliseconds(1000),
      std::chrono::milliseconds(2000), std::chrono::milliseconds(4000),
      std::chrono::milliseconds(8000), std::chrono::milliseconds(16000),
      std::chrono::milliseconds(30000)};
};

enum class ProcessState { kStarting, kReady, kRestarting, kQuarantined, kStopped };
const char* StateName(ProcessState s);

struct ProcessExit {
  int generation = 0;  // unique across every process of one supervisor
  pid_t pid = 0;
  bool signaled = false;
  int status = 0;           // exit code, or the signal number when signaled
  std::string kill_reason;  // set when the supervisor killed it (Kill's reason, "stopped", …)
  std::string output_tail;  // last lines the process wrote (stderr and stdout)
  bool restarting = false;  // a restart is scheduled
  bool quarantined = false;
};

struct ProcessSpec {
  std::string name;          // for logs
  std::string config_dir;    // workerd runs here (embed paths are relative to it)
  std::string config_file;   // inside config_dir
  std::string ready_socket;  // Unix socket to probe
  // Unix socket files the process binds: removed before every start (workerd leaves them behind
  // and will not bind over them). ready_socket is always included.
  std::vector<std::string> sockets;
  std::string ready_auth;  // Authorization header value for the probe
  // Under containment: the directories the process may write (its sockets'); by default the
  // directories of `sockets` and ready_socket. Everything else it sees is read-only.
  std::vector<std::string> writable_dirs;
  int64_t heap_mb = 0;  // its V8 heap limit: the kernel's memory ceiling is this plus a baseline
  std::function<void(int generation, pid_t pid, const std::string& ready_body)> on_ready;
  std::function<void(const ProcessExit&)> on_exit;
  std::function<void(const std::string& line)> on_output;
};

// One GET /__ready on a worker's Unix socket with the given Authorization; true on 2xx, with
// the body. Bounded by a 1 s timeout.
bool ProbeReady(const std::string& socket, const std::string& auth, std::string* body);

class Supervisor {
 public:
  using Id = uint64_t;

  explicit Supervisor(SupervisorOptions options);
  ~Supervisor();  // stops every process and waits for them
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  Id Start(ProcessSpec spec);
  // Registers a process without starting it: it is stopped until Resume().
  Id Register(ProcessSpec spec);
  // Graceful stop; with wait, returns once the process is gone. The id is then forgotten.
  void Stop(Id id, bool wait = true);
  // SIGKILL now, reporting `reason` in ProcessExit; then the restart policy applies.
  void Kill(Id id, const std::string& reason);
  // A quarantined process starts again with a clean failure history.
  void Enable(Id id);
  // Stops the process (SIGTERM, then SIGKILL after stop_timeout) without forgetting it; a
  // restart that was pending is cancelled. Returns at once. Never restarted until Resume().
  void Park(Id id);
  // Starts a parked or cleanly exited process again (after the current one is gone, when a stop
  // is under way); does nothing to one starting, ready or restarting. False when quarantined or
  // unknown.
  bool Resume(Id id);
  // Processes spawned for this id so far (restarts and resumes included).
  uint64_t spawns(Id id) const;

  ProcessState state(Id id) const;
  pid_t pid(Id id) const;  // 0 when not running
  int generation(Id id) const;
  // Blocks until the process is ready (true), or quarantined/stopped/deadline (false). A stop
  // with a Resume() pending is waited through.
  bool WaitReady(Id id, std::chrono::steady_clock::time_point deadline) const;
  // Failures on record for this id so far (every one, not only those within failure_window).
  uint64_t failures(Id id) const;

  // Whether plugin processes get an empty network namespace (decided once, at construction).
  bool network_namespace_active() const;
  // The layers every process gets (never null); and the resource wall of one running process.
  const Containment& containment() const;
  std::string resources(Id id) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ps::workerd
