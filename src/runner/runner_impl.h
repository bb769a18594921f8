// The runner's inside, shared by its files; not an interface (callers include runner.h).
//
//   runner.cc      the interface: create, load, invoke, terminate, info
//   lifecycle.cc   a plugin process's readiness and exits, install and teardown, shared mode
//   invoke.cc      one invocation: a usable process, the transports, the answer's meaning
//   watchdog.cc    where limits are enforced: a runaway loop or a leak is killed here
//   residency.cc   plugins on demand: idle stops, the memory budget, starts on demand
//
// The supervisor (workerd/supervisor.h) restarts a crashed process; lifecycle.cc is where the
// runner hears of it.
#pragma once

#include <curl/curl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bridge/backing_service.h"
#include "runner/invoke_channel.h"
#include "runner/limits.h"
#include "runner/runner.h"
#include "runner/validation_cache.h"
#include "runner/worker_files.h"
#include "workerd/supervisor.h"

namespace ps::runner {

using Clock = std::chrono::steady_clock;

// What a plugin process is expected to take before it has been measured (its proportional set
// size after a few calls: docs/performance.md), for the memory budget.
inline constexpr int64_t kExpectedProcessBytes = int64_t(12) << 20;

// The largest invocation input sent in the x-ps-input header instead of the body.
inline constexpr size_t kInlineInputMax = 4096;
// The largest input sent on an invocation channel (workerd refuses WebSocket messages of 1 MiB
// and more); larger ones go by request.
inline constexpr size_t kChannelInputMax = 512 * 1024;
// Invocations one channel carries before the runner replaces it: whatever a long-lived workerd
// request accumulates (and any timer a plugin left running on it) ends with it.
inline constexpr uint64_t kChannelUsesMax = 1000;

inline bool LooksLikeHeapOom(const std::string& output) {
  return output.find("heap out of memory") != std::string::npos ||
         output.find("Reached heap limit") != std::string::npos;
}

struct InFlight {
  std::shared_ptr<bridge::Invocation> inv;
  int generation = 0;
  std::optional<uint64_t> cpu_start;
  int overlap = 1;
  bool reprieved = false;                    // the watchdog spared it once (logged once)
  std::string label;                         // hook:<name> or route:<name>
  ErrorCode forced_code = ErrorCode::kNone;  // the failure already decided (a kill, an exit)
  std::string forced_message;
};

// What a plugin's first start needs written and opened, kept until then for a plugin the
// validation cache knows (a load then touches no file).
struct PendingFiles {
  WrapperParams wp;
  std::string source;
};

struct Plugin {
  PluginHandle handle;
  manifest::Manifest manifest;
  Limits limits;
  // dir: its config and modules (read-only to it); sock_dir: its sockets, the one directory it
  // may write (under containment it sees nothing else of the host).
  std::string dir, sock_dir, socket, bridge_socket, invoke_auth;
  std::vector<workerd::Module> modules;  // shared mode: this plugin's worker in the shared config
  std::atomic<workerd::Supervisor::Id> proc{0};
  bool always_on = false;
  std::string cache_key;                  // its module's entry in the validation cache
  std::unique_ptr<PendingFiles> pending;  // under mu: files not written yet (Runner::Impl::Prepare)

  mutable std::mutex mu;
  std::condition_variable cv;
  int ready_generation = 0;
  pid_t pid = 0;
  pid_t killed_pid = 0;  // the process the watchdog already killed (until it is reaped)
  int64_t rss_limit = 0;
  json::object described;
  bool first_exit = false;
  std::string first_exit_output;
  bool switching = false;  // shared mode: its process is being replaced
  std::map<std::string, std::shared_ptr<InFlight>> inflight;
  std::map<int, workerd::ProcessExit> exits;
  std::vector<CURL*> pool;
  std::vector<std::unique_ptr<InvokeChannel>> channels;  // idle invocation channels
  bool channel_refused = false;  // its worker does not serve the channel: requests only
  int pool_generation = 0;
  int cpu_fd = -1;  // the ready process's main-thread CPU clock (limits.h), opened once
  // Invocations started or ended, and the watchdog's mark of CPU spent with none in flight.
  uint64_t activity = 0, idle_activity = 0, idle_cpu_start = 0;
  int idle_generation = 0;
  std::chrono::steady_clock::time_point idle_since;
  bool closing = false;  // being torn down: nothing goes back to its pools
  // Residency. `parking`: an idle or budget stop was decided (until the process is gone); no
  // invocation is sent to it meanwhile. `demand_start`: a start for waiting invocations is under
  // way (until ready or failed); `start_failures` counts those that failed, `start_failure` says
  // why the last did. `stopped_for`: "idle" or "memory" after such a stop, else empty.
  bool parking = false;
  bool demand_start = false;
  Clock::time_point demand_since;
  uint64_t start_failures = 0;
  std::string start_failure;
  bool start_failed = false;  // its last start failed (until a start succeeds)
  std::string stopped_for;
  Clock::time_point last_used = Clock::now();
  int64_t pss = 0;  // its process's proportional set size at the last budget look
  std::atomic<uint64_t> invocations{0}, failures{0}, restarts{0}, limit_kills{0}, cpu_reprieves{0};
  std::atomic<uint64_t> starts{0}, idle_stops{0}, budget_stops{0};

  ~Plugin() {
    for (CURL* h : pool) curl_easy_cleanup(h);
    if (cpu_fd >= 0) ::close(cpu_fd);
  }
  // The CPU clock of process `pid` (which must be this plugin's current one); under mu.
  std::optional<uint64_t> CpuNs(pid_t pid) {
    return cpu_fd >= 0 ? MainThreadCpuNsAt(cpu_fd) : MainThreadCpuNs(pid);
  }
};

struct Runner::Impl {
  store::Database& db;
  RunnerOptions opt;
  std::unique_ptr<bridge::Bridge> bridge;
  std::unique_ptr<bridge::BackingService> backing;
  std::unique_ptr<workerd::Supervisor> supervisor;
  std::unique_ptr<ValidationCache> cache;
  std::string run_dir;
  Clock::time_point next_budget_look = Clock::now();
  std::atomic<int64_t> budget_mb{0};  // RunnerOptions::memory_budget_mb, changeable at run time

  mutable std::mutex mu;
  std::map<std::string, std::shared_ptr<Plugin>> plugins;
  bridge::EmailSender email;
  std::atomic<uint64_t> next_epoch{1};
  std::atomic<uint64_t> invoke_channels_opened{0};

  // Shared mode: the one process every plugin runs in, rebuilt on every load and unload.
  std::mutex shared_mu;
  workerd::Supervisor::Id shared_proc = 0;
  std::string shared_dir;

  std::mutex wd_mu;
  std::condition_variable wd_cv;
  bool wd_stop = false;
  uint64_t wd_kicks = 0;  // under wd_mu: invocations that need an earlier look
  std::thread watchdog;

  explicit Impl(store::Database& d) : db(d) {}

  std::shared_ptr<Plugin> Find(const std::string& id) const {
    std::lock_guard<std::mutex> lock(mu);
    auto it = plugins.find(id);
    return it == plugins.end() ? nullptr : it->second;
  }

  Limits LimitsFor(const std::string& id) const {
    auto it = opt.plugin_limits.find(id);
    return it == opt.plugin_limits.end() ? opt.limits : it->second;
  }

  // ---- lifecycle.cc: a plugin process's readiness and exits, install and teardown, shared mode
  // ----

  void OnReady(const std::shared_ptr<Plugin>& p, int gen, pid_t pid, const std::string& body);

  void OnExit(const std::shared_ptr<Plugin>& p, const workerd::ProcessExit& ex);

  // Waits for p's first readiness, or its process's first exit (a plugin that cannot start).
  Status WaitFirstReady(const std::shared_ptr<Plugin>& p);

  // Makes p the current plugin for its id; the one it replaces is torn down.
  void Install(const std::shared_ptr<Plugin>& p);

  void Teardown(const std::shared_ptr<Plugin>& p);

  // Rebuilds the shared process with exactly `members` (stopping the current one first: every
  // plugin stalls meanwhile, as in EmDash's Node runner). `probe` is the member whose socket the
  // supervisor probes; the others are probed here once the process is ready.
  void RestartShared(const std::vector<std::shared_ptr<Plugin>>& members,
                     const std::shared_ptr<Plugin>& probe);

  // Every loaded plugin, optionally without `except_id`.
  std::vector<std::shared_ptr<Plugin>> Members(const std::string& except_id = "") {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<std::shared_ptr<Plugin>> out;
    for (auto& [id, p] : plugins)
      if (id != except_id) out.push_back(p);
    return out;
  }

  std::shared_ptr<bridge::Invocation> Lookup(const std::string& id, const std::string& version,
                                             const std::string& inv_id);

  bool shared() const { return opt.mode == IsolationMode::kShared; }

  // ---- watchdog.cc: where limits are enforced ----

  // Marks every in-flight invocation of the current process and kills it.
  void LimitKill(const std::shared_ptr<Plugin>& p, pid_t pid, ErrorCode code,
                 const std::string& culprit_message);

  // The watchdog sleeps until the earliest moment any in-flight invocation could exhaust its CPU
  // budget (a main thread cannot use more CPU than wall time), or the next memory check, so short
  // calls never wake it and a runaway is caught within a fraction of a millisecond of its budget.
  void Watch();

  // Wakes the watchdog to schedule a new invocation whose budget is shorter than the memory
  // check interval (the watchdog may be sleeping for longer than that budget).
  void KickWatchdog(int64_t cpu_ms);

  // Over budget but maybe not by the plugin's doing: the main thread is not running (what spent
  // it has ended) or V8's helpers are busy (a garbage collection, which does part of its work on
  // the main thread: an honest hook was killed for one, docs/performance.md).
  static bool InHousekeeping(pid_t pid) {
    return MainThreadRunning(pid) == false || OtherThreadRunning(pid) == true;
  }

  // With nothing in flight, a plugin's process still runs what its invocations left behind
  // (timers, unawaited work: the workerd request of an invocation channel stays open). Within
  // each second with no invocation started or ended, its main thread may spend the CPU budget
  // (up to twice that in V8's housekeeping); past that it is killed. So a loop left behind dies
  // like one in flight, and light periodic work (an interval timer) never adds up. Under p.mu.
  std::string CheckIdleCpu(Plugin& p, pid_t pid);

  // Kills p's process for a limit it broke; returns when its CPU should be looked at again.
  Clock::time_point CheckLimits(const std::shared_ptr<Plugin>& p, bool check_memory);

  // ---- residency.cc: plugins on demand ----

  bool AlwaysOn(const std::string& id) const {
    return opt.always_on.count("*") > 0 || opt.always_on.count(id) > 0;
  }

  // Stops p's process if it is running with nothing in flight (`why`: "idle" or "memory"); it
  // starts again on its next invocation. Under p->mu.
  bool ParkLocked(Plugin& p, const char* why);

  // Idle stops, and the memory budget. Runs on the watchdog thread every memory check.
  void CheckResidency(const std::vector<std::shared_ptr<Plugin>>& all, Clock::time_point now);

  // Stops idle plugins, least recently used first, until the plugin processes' memory plus
  // `extra` bytes fits the budget. `except` (a plugin about to start) is never stopped.
  void FitBudget(const std::vector<std::shared_ptr<Plugin>>& all, const Plugin* except,
                 int64_t extra);

  // Writes what p's process needs (its worker's files and config) and opens its bridge socket.
  Status Prepare(const Plugin& p, const WrapperParams& wp, const std::string& source);

  // Starts p's process when it is stopped (or being stopped) and waits, bounded by `deadline`,
  // until that start is over; callers that find a start under way wait for the same one. Ok once
  // the process is ready (or was not stopped); plugin_crashed when the start failed;
  // wall_error() at the deadline.
  Status StartOnDemand(const std::shared_ptr<Plugin>& p, Clock::time_point deadline,
                       const std::function<Status()>& wall_error);

  // ---- invoke.cc: one invocation ----

  // How one invocation reached the plugin and what came back.
  struct Transport {
    enum Outcome { kOk, kTimeout, kBroken };
    bool tried = false;  // false: the channel was not usable, send a request
    Outcome outcome = kBroken;
    long status = 0;
    std::string body;
    std::string error;  // for kBroken
  };

  // On an idle channel of p's process, or a new one. *channel is left set only when it is
  // reusable.
  Transport ByChannel(const std::shared_ptr<Plugin>& p, const std::string& inv_id,
                      const std::string& path, const std::string& payload,
                      Clock::time_point deadline, std::unique_ptr<InvokeChannel>* channel);

  // One HTTP request on a pooled connection.
  Transport ByRequest(const std::shared_ptr<Plugin>& p, const std::string& kind,
                      const std::string& name, const std::string& inv_id,
                      const std::string& payload, Clock::time_point deadline);

  Result<json::value> Invoke(const PluginHandle& h, const std::string& kind,
                             const std::string& name, const json::object& body,
                             std::optional<int64_t> timeout_ms = std::nullopt);
};

}  // namespace ps::runner
