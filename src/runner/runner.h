// The runner: untrusted plugins in workerd, one process each, behind the bridge.
//
// Contract:
// - Load() validates nothing twice (the bundle is already validated), starts the plugin's process
//   and returns once it is ready, with a handle. Loading, updating or unloading one plugin never
//   restarts or stalls another (per-plugin mode).
// - InvokeHook/InvokeRoute block the calling thread until the invocation ends. Failures are a
//   Status whose error_code (common/error_code.h) is one of: kPluginError, kPluginCrashed,
//   kCpuLimitExceeded, kMemoryLimitExceeded, kSubrequestLimitExceeded, kBridgeCallLimitExceeded,
//   kWallTimeExceeded, kPluginUnavailable, kUnavailable, kNotFound.
// - A handle names one load of one plugin version. After Terminate() or a newer Load() of the same
//   id, the old handle is stale: invoking it fails with plugin_unavailable and says why.
// - Nothing a plugin does crashes or hangs the host: every wait is bounded by the wall-time limit.
// - Residency (per-plugin mode): a plugin's process runs only while it is used. Load() starts it
//   once to prove the module loads and to learn what it declares (which the validation cache
//   remembers: a later Load() of the same module starts nothing); after `idle_stop` with no
//   invocation it is stopped, and the next invocation starts it again. Concurrent invocations of
//   a stopped plugin share one start. With a memory budget, the least recently used idle plugins
//   are stopped first when it is reached; never one with an invocation in flight, never an
//   always-on one. A start on demand that fails fails its callers with plugin_crashed ("failed
//   to start: <why>"); repeated failures quarantine the plugin as crashes do.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bridge/bridge.h"
#include "common/json.h"
#include "common/status.h"
#include "manifest/bundle.h"
#include "runner/limit_table.h"
#include "runner/worker_files.h"
#include "store/database.h"
#include "workerd/supervisor.h"

namespace ps::runner {

enum class IsolationMode {
  kPerPlugin,  // one workerd process per plugin: containment (the default)
  kShared,     // every plugin a worker in one process, as EmDash's Node runner: no containment
};

struct RunnerOptions {
  std::string data_dir = ".plugin-sandbox";  // runtime files go to <data_dir>/run (0700)
  std::string workerd_path;                  // empty: found from the pinned npm package
  std::string launcher_path;                 // empty: plugin-sandbox-launch beside this executable
  IsolationMode mode = IsolationMode::kPerPlugin;
  Limits limits;                                // host-wide defaults
  std::map<std::string, Limits> plugin_limits;  // per plugin id
  SiteInfo site;
  std::vector<std::string> env_passthrough;
  // How often the watchdog compares each process's resident memory with its limit. (CPU budgets
  // are watched on their own schedule: at the earliest moment one could run out.)
  std::chrono::milliseconds memory_check_interval{32};
  // Resident memory allowed above the process's size when it became ready, beyond the heap limit.
  // workerd's own resident memory grows with requests served and levels off around 250 MiB above
  // its start (measured: docs/performance.md), which a runaway ArrayBuffer passes in moments; a
  // smaller headroom killed honest plugins under sustained load.
  int64_t rss_headroom_mb = 320;
  // Invocations travel as messages on a few WebSockets kept open to each plugin process
  // (runner/invoke_channel.h) instead of one HTTP request each: about a third of workerd's cost
  // per invocation. Inputs over 512 KiB, and shared mode, always use requests.
  bool invoke_channel = true;
  workerd::SupervisorOptions supervision;  // launcher/workerd paths are filled in by the runner
  // A plugin process with no invocation for this long is stopped; its next invocation starts it
  // again. 0: never stopped for idleness.
  std::chrono::milliseconds idle_stop{std::chrono::minutes(5)};
  // Plugin ids never stopped for idleness or memory, and started by Load() even when the
  // validation cache knows them; "*" names every plugin.
  std::set<std::string> always_on;
  // Host-wide budget for the memory of plugin processes (their proportional set size), in MiB:
  // when starting a plugin or the periodic look finds it exceeded, idle plugins are stopped,
  // least recently used first. 0: no budget.
  int64_t memory_budget_mb = 0;
  // Where Load() records what a module declared at its first start (a file per module, keyed by
  // a hash of the module, the wrapper and the workerd binary), so that a later Load() of the same
  // module (a host restart, a re-install) starts nothing until its first invocation. Empty: no
  // cache; every Load() starts the process.
  std::string validation_cache_dir;
};

struct PluginHandle {
  std::string id;
  std::string version;
  uint64_t epoch = 0;  // which load of this plugin
};

// A plugin's state is its process's (workerd::ProcessState, the supervisor's: one state machine,
// not two). A plugin in kStopped is loaded with no process, and its next invocation starts one;
// `stop` says why it has none.
enum class StopReason {
  kNotStarted,   // not started since the load, or it exited cleanly: "stopped"
  kIdle,         // stopped for idleness or the memory budget: "idle-stopped"
  kStartFailed,  // its last start failed; the next invocation tries again: "start-failed"
};

struct PluginInfo {
  PluginHandle handle;
  workerd::ProcessState state = workerd::ProcessState::kStopped;
  StopReason stop = StopReason::kNotStarted;  // when state is kStopped
  pid_t pid = 0;
  Limits limits;
  // What the isolate reported at readiness: {"hooks": {name: options}, "routes": {name: {public}}}.
  json::object described;
  uint64_t invocations = 0;
  uint64_t failures = 0;
  uint64_t restarts = 0;
  uint64_t starts = 0;        // processes that became ready (the load's own, restarts, on demand)
  uint64_t idle_stops = 0;    // stopped after idle_stop without an invocation
  uint64_t budget_stops = 0;  // stopped for the memory budget
  bool always_on = false;
  uint64_t limit_kills = 0;
  // Invocations found over their CPU budget during V8's housekeeping (a collection) and looked at
  // again instead of killed (runner/limits.h); each counted once.
  uint64_t cpu_reprieves = 0;
  int64_t rss_bytes = 0;    // resident memory of the plugin's process (0 when not running)
  std::string resources;    // the kernel's resource wall of its running process ("" when none)
  std::string socket_path;  // where the plugin's worker listens (diagnostics, tests)
};

// The state's name for /healthz and the host API: workerd::StateName, or for a stopped plugin
// "stopped", "idle-stopped" or "start-failed".
const char* StateName(const PluginInfo& info);

struct Plugin;  // one loaded plugin (runner_impl.h)

// Locates the pinned workerd binary from a directory at or above `start` holding node_modules.
std::string FindWorkerd(const std::string& start);

class Runner {
 public:
  static Result<std::unique_ptr<Runner>> Create(store::Database& db, RunnerOptions options,
                                                bridge::BridgeOptions bridge_options);
  ~Runner();  // TerminateAll()
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Starts the bundle's plugin and waits until it is ready (bounded), unless the validation cache
  // knows its module (then nothing starts until its first invocation). Loading an id that is
  // already loaded replaces it (the old process is stopped after the new one is ready).
  Result<PluginHandle> Load(const manifest::Bundle& bundle);
  // Learns what each bundle's module declares for every module the validation cache does not
  // know yet, starting them all in one workerd process (one start instead of one per plugin), so
  // that their Load()s start nothing. Best effort: a module that stops the batch (one that throws
  // at load, say) leaves the batch's modules unknown, and each Load() then starts its own and
  // reports its own error. Does nothing without a validation cache, in shared mode, or for fewer
  // than two unknown modules. Returns how many modules it recorded.
  size_t Validate(const std::vector<const manifest::Bundle*>& bundles);
  // An absent event or input (nullopt) reaches the handler as `undefined`, as EmDash's runners
  // pass it; a hook that returns undefined answers null.
  Result<json::value> InvokeHook(const PluginHandle& h, const std::string& hook,
                                 const std::optional<json::value>& event);
  // The same with the hook's own timeout: the invocation is bounded by the shorter of `timeout`
  // and the plugin's wall-time limit. Running past a shorter timeout fails with
  // wall_time_exceeded, `Plugin <id> exceeded its hook timeout of <ms>ms during hook:<name>`.
  Result<json::value> InvokeHook(const PluginHandle& h, const std::string& hook,
                                 const std::optional<json::value>& event,
                                 std::chrono::milliseconds timeout);
  Result<json::value> InvokeRoute(const PluginHandle& h, const std::string& route,
                                  const std::optional<json::value>& input,
                                  const json::value& request);
  Status Terminate(const PluginHandle& h);
  void TerminateAll();
  // Loaded, current and not quarantined.
  bool IsAvailable(const PluginHandle& h) const;
  // Every loaded plugin is ready or stopped (its next invocation starts it), and no stopped
  // plugin's last start failed.
  bool IsHealthy() const;
  void SetEmailSender(bridge::EmailSender sender);
  // A quarantined plugin starts again.
  Status Enable(const std::string& id);
  // Changes RunnerOptions::memory_budget_mb (0: none); looked at within a second.
  void SetMemoryBudget(int64_t mb);

  std::optional<PluginInfo> Info(const std::string& id) const;
  std::vector<PluginInfo> List() const;
  // The current handle of a loaded plugin id.
  std::optional<PluginHandle> Current(const std::string& id) const;

  bridge::Bridge& bridge();
  // Invocation channels the runner has opened so far (runner/invoke_channel.h).
  uint64_t invoke_channels_opened() const;
  // Bridge call channels plugins have opened so far (bridge/backing_service.h).
  uint64_t bridge_channels_opened() const;
  size_t bridge_channels_open() const;
  bool network_namespace_active() const;
  // The kernel's layers around every plugin process, decided at start (workerd/containment.h).
  const workerd::Containment& containment() const;

  struct Impl;

 private:
  explicit Runner(std::unique_ptr<Impl> impl);
  Result<PluginHandle> LoadShared(const std::shared_ptr<Plugin>& p, const WrapperParams& wp,
                                  const std::string& source);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ps::runner
