#include "runner/runner.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "bridge/backing_service.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "runner/invoke_channel.h"
#include "runner/limits.h"
#include "runner/validation_cache.h"
#include "workerd/config.h"

namespace ps::runner {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

Status Failure(const std::string& code, const std::string& message) {
  Code c = Code::kInternal;
  if (code == "plugin_unavailable" || code == "unavailable") c = Code::kUnavailable;
  if (code == "not_found") c = Code::kNotFound;
  if (code == "plugin_error") c = Code::kInternal;
  return Status(c, message).WithDetailCode(code);
}

std::string SafeName(const std::string& s) {
  std::string out;
  for (char c : s)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return out;
}

// Percent-encodes a hook or route name for the URL path (the wrapper decodes it).
std::string PathEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':') {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

size_t Collect(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<std::string*>(user);
  if (s->size() + size * n > (64u << 20)) return 0;  // a plugin answer over 64 MiB is refused
  s->append(data, size * n);
  return size * n;
}

// What a plugin process is expected to take before it has been measured (its proportional set
// size after a few calls: docs/performance.md), for the memory budget.
constexpr int64_t kExpectedProcessBytes = int64_t(12) << 20;

// The largest invocation input sent in the x-ps-input header instead of the body.
constexpr size_t kInlineInputMax = 4096;
// The largest input sent on an invocation channel (workerd refuses WebSocket messages of 1 MiB
// and more); larger ones go by request.
constexpr size_t kChannelInputMax = 512 * 1024;
// Invocations one channel carries before the runner replaces it: whatever a long-lived workerd
// request accumulates (and any timer a plugin left running on it) ends with it.
constexpr uint64_t kChannelUsesMax = 1000;

bool LooksLikeHeapOom(const std::string& output) {
  return output.find("heap out of memory") != std::string::npos ||
         output.find("Reached heap limit") != std::string::npos;
}

struct InFlight {
  std::shared_ptr<bridge::Invocation> inv;
  int generation = 0;
  std::optional<uint64_t> cpu_start;
  int overlap = 1;
  bool reprieved = false;  // the watchdog spared it once (logged once)
  std::string label;       // hook:<name> or route:<name>
  std::string forced_code;
  std::string forced_message;
};

}  // namespace

const char* PluginStateName(PluginState s) {
  switch (s) {
    case PluginState::kStarting:
      return "starting";
    case PluginState::kReady:
      return "ready";
    case PluginState::kRestarting:
      return "restarting";
    case PluginState::kQuarantined:
      return "quarantined";
    case PluginState::kStopped:
      return "stopped";
    case PluginState::kIdleStopped:
      return "idle-stopped";
  }
  return "?";
}

Status ApplyLimit(const std::string& where, const std::string& spec, Limits* limits) {
  size_t eq = spec.find('=');
  std::string key = spec.substr(0, eq);
  std::string value = eq == std::string::npos ? "" : spec.substr(eq + 1);
  char* end = nullptr;
  long long n = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || n <= 0) {
    return InvalidArgument(where + ": " + Quote(spec) +
                           ": expected NAME=N with a positive integer N");
  }
  if (key == "cpu-ms") {
    limits->cpu_ms = n;
  } else if (key == "memory-mb") {
    limits->memory_mb = n;
  } else if (key == "subrequests") {
    limits->subrequests = n;
  } else if (key == "wall-ms") {
    limits->wall_ms = n;
  } else {
    return InvalidArgument(where + ": " + Quote(spec) +
                           ": unknown limit; expected cpu-ms, memory-mb, subrequests or wall-ms");
  }
  return Status::Ok();
}

std::string FindWorkerd(const std::string& start) {
  std::error_code ec;
  fs::path dir = fs::absolute(start, ec);
  for (int i = 0; i < 12 && !dir.empty(); ++i) {
    for (const char* plat : {"linux-64", "linux-arm64"}) {
      fs::path bin = dir / "node_modules" / "@cloudflare" / (std::string("workerd-") + plat) /
                     "bin" / "workerd";
      if (access(bin.c_str(), X_OK) == 0) return bin.string();
    }
    if (dir == dir.parent_path()) break;
    dir = dir.parent_path();
  }
  return "";
}

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
  std::string dir, socket, bridge_socket, invoke_auth;
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

  void OnReady(const std::shared_ptr<Plugin>& p, int gen, pid_t pid, const std::string& body) {
    auto parsed = ParseJson(body);
    int64_t rss = ResidentBytes(pid).value_or(0);
    {
      std::lock_guard<std::mutex> lock(p->mu);
      p->ready_generation = gen;
      p->pid = pid;
      if (parsed.ok() && parsed->is_object()) p->described = parsed->get_object();
      p->rss_limit = rss + (p->limits.memory_mb + opt.rss_headroom_mb) * (int64_t(1) << 20);
      if (p->cpu_fd >= 0) ::close(p->cpu_fd);
      p->cpu_fd = OpenMainThreadCpu(pid);
      for (CURL* h : p->pool) curl_easy_cleanup(h);
      p->pool.clear();
      p->channels.clear();
      p->pool_generation = gen;
      p->last_used = Clock::now();
      if (p->demand_start) {
        spdlog::info(
            "plugin {} started on demand in {} ms (pid {})", p->handle.id,
            std::chrono::duration_cast<std::chrono::milliseconds>(p->last_used - p->demand_since)
                .count(),
            pid);
      }
      p->demand_start = false;
      p->parking = false;
      p->stopped_for.clear();
    }
    ++p->starts;
    p->cv.notify_all();
    spdlog::debug("plugin {} ready (pid {}, generation {})", p->handle.id, pid, gen);
  }

  void OnExit(const std::shared_ptr<Plugin>& p, const workerd::ProcessExit& ex) {
    std::string code = "plugin_crashed";
    std::string message = "Plugin " + p->handle.id + " crashed";
    if (ex.kill_reason == "cpu_limit_exceeded" || ex.kill_reason == "memory_limit_exceeded") {
      code = ex.kill_reason;
    } else if (LooksLikeHeapOom(ex.output_tail)) {
      code = "memory_limit_exceeded";
      message = "Plugin " + p->handle.id + " exceeded its memory limit of " +
                std::to_string(p->limits.memory_mb) + " MiB (JavaScript heap)";
    } else if (ex.kill_reason == "stopped" || ex.kill_reason == "exited") {
      code = "plugin_unavailable";
      message = "Plugin sandbox unavailable for " + p->handle.id + ": the plugin process " +
                (ex.kill_reason == "stopped" ? "was stopped" : "exited");
    }
    bool park = false;
    {
      std::lock_guard<std::mutex> lock(p->mu);
      p->exits[ex.generation] = ex;
      while (p->exits.size() > 8) p->exits.erase(p->exits.begin());
      if (ex.kill_reason == "stopped") p->parking = false;
      if (p->demand_start && ex.generation > p->ready_generation) {
        // A start on demand that failed: its callers get why, and no restart follows (the next
        // invocation tries again; the supervisor's failure count quarantines a plugin that keeps
        // failing).
        p->demand_start = false;
        ++p->start_failures;
        std::string why = ex.output_tail;
        if (why.empty()) why = ex.kill_reason;
        if (why.empty()) why = "its process exited (status " + std::to_string(ex.status) + ")";
        while (!why.empty() && why.back() == '\n') why.pop_back();
        p->start_failure = why;
        park = ex.restarting;
      }
      if (p->pid == ex.pid) {
        p->pid = 0;
        if (p->cpu_fd >= 0) ::close(p->cpu_fd);
        p->cpu_fd = -1;
      }
      if (p->ready_generation == 0 && !p->first_exit) {
        p->first_exit = true;
        p->first_exit_output = ex.output_tail;
      }
      for (auto& [id, f] : p->inflight) {
        if (f->generation == ex.generation && f->forced_code.empty()) {
          f->forced_code = code;
          f->forced_message = message;
        }
      }
    }
    if (park) supervisor->Park(p->proc);
    if (ex.kill_reason != "stopped" && ex.kill_reason != "exited") {
      ++p->failures;
      if (ex.restarting) ++p->restarts;
      spdlog::warn("plugin {} process {} exited ({} {}{}){}", p->handle.id, ex.pid,
                   ex.signaled ? "signal" : "status", ex.status,
                   ex.kill_reason.empty() ? "" : ", " + ex.kill_reason,
                   ex.quarantined ? "; quarantined" : (ex.restarting ? "; restarting" : ""));
    }
    p->cv.notify_all();
  }

  // Marks every in-flight invocation of the current process and kills it.
  void LimitKill(const std::shared_ptr<Plugin>& p, pid_t pid, const std::string& code,
                 const std::string& culprit_message) {
    {
      std::lock_guard<std::mutex> lock(p->mu);
      // One kill per process: the watchdog sees the same process again until it is reaped.
      if (p->killed_pid == pid) return;
      p->killed_pid = pid;
      for (auto& [id, f] : p->inflight) {
        if (f->generation != p->ready_generation || !f->forced_code.empty()) continue;
        f->forced_code = code;
        f->forced_message = culprit_message;
      }
    }
    ++p->limit_kills;
    supervisor->Kill(p->proc, code);
  }

  // The watchdog sleeps until the earliest moment any in-flight invocation could exhaust its CPU
  // budget (a main thread cannot use more CPU than wall time), or the next memory check, so short
  // calls never wake it and a runaway is caught within a fraction of a millisecond of its budget.
  void Watch() {
    std::unique_lock<std::mutex> lock(wd_mu);
    auto next_memory = Clock::now();
    while (!wd_stop) {
      uint64_t seen = wd_kicks;
      lock.unlock();
      auto now = Clock::now();
      bool memory = now >= next_memory;
      if (memory) next_memory = now + opt.memory_check_interval;
      std::vector<std::shared_ptr<Plugin>> all;
      {
        std::lock_guard<std::mutex> l(mu);
        for (auto& [id, p] : plugins) all.push_back(p);
      }
      auto wake = next_memory;
      for (auto& p : all) wake = std::min(wake, CheckLimits(p, memory));
      if (memory) CheckResidency(all, now);
      lock.lock();
      wd_cv.wait_until(lock, wake, [&] { return wd_stop || wd_kicks != seen; });
    }
  }

  bool AlwaysOn(const std::string& id) const {
    return opt.always_on.count("*") > 0 || opt.always_on.count(id) > 0;
  }

  // Stops p's process if it is running with nothing in flight (`why`: "idle" or "memory"); it
  // starts again on its next invocation. Under p->mu.
  bool ParkLocked(Plugin& p, const char* why) {
    if (p.pid == 0 || p.parking || p.demand_start || !p.inflight.empty() || p.closing) {
      return false;
    }
    p.parking = true;
    p.stopped_for = why;
    // workerd stops only once its connections are closed (an idle channel would hold it to the
    // stop timeout).
    p.channels.clear();
    for (CURL* h : p.pool) curl_easy_cleanup(h);
    p.pool.clear();
    return true;
  }

  // Idle stops, and the memory budget. Runs on the watchdog thread every memory check.
  void CheckResidency(const std::vector<std::shared_ptr<Plugin>>& all, Clock::time_point now) {
    if (shared()) return;
    if (opt.idle_stop.count() > 0) {
      for (auto& p : all) {
        if (p->always_on) continue;
        bool parked = false;
        {
          std::lock_guard<std::mutex> lock(p->mu);
          if (p->inflight.empty() && now - p->last_used >= opt.idle_stop &&
              supervisor->state(p->proc) == workerd::ProcessState::kReady) {
            parked = ParkLocked(*p, "idle");
          }
        }
        if (parked) {
          ++p->idle_stops;
          spdlog::info("plugin {} idle for {} s: stopped (its next call starts it)", p->handle.id,
                       opt.idle_stop.count() / 1000);
          supervisor->Park(p->proc);
        }
      }
    }
    if (budget_mb > 0 && now >= next_budget_look) {
      next_budget_look = now + std::chrono::seconds(1);
      FitBudget(all, nullptr, 0);
    }
  }

  // Stops idle plugins, least recently used first, until the plugin processes' memory plus
  // `extra` bytes fits the budget. `except` (a plugin about to start) is never stopped.
  void FitBudget(const std::vector<std::shared_ptr<Plugin>>& all, const Plugin* except,
                 int64_t extra) {
    const int64_t budget_mib = budget_mb;
    if (budget_mib <= 0) return;
    const int64_t budget = budget_mib << 20;
    int64_t used = extra;
    std::vector<std::pair<Clock::time_point, std::shared_ptr<Plugin>>> idle;
    for (auto& p : all) {
      pid_t pid;
      {
        std::lock_guard<std::mutex> lock(p->mu);
        pid = p->pid;
      }
      if (pid == 0) continue;
      int64_t pss = ProportionalBytes(pid).value_or(0);
      used += pss;
      std::lock_guard<std::mutex> lock(p->mu);
      p->pss = pss;
      if (p.get() != except && !p->always_on && p->inflight.empty() && !p->parking) {
        idle.emplace_back(p->last_used, p);
      }
    }
    if (used <= budget) return;
    std::sort(idle.begin(), idle.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [when, p] : idle) {
      if (used <= budget) break;
      int64_t freed = 0;
      {
        std::lock_guard<std::mutex> lock(p->mu);
        if (!ParkLocked(*p, "memory")) continue;
        freed = p->pss;
      }
      ++p->budget_stops;
      spdlog::info(
          "memory budget of {} MiB reached ({} MiB in use): stopped plugin {} (idle {} s, {} MiB)",
          budget_mib, used >> 20, p->handle.id,
          std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - when).count(),
          freed >> 20);
      supervisor->Park(p->proc);
      used -= freed;
    }
  }

  // Writes what p's process needs (its worker's files and config) and opens its bridge socket.
  Status Prepare(const Plugin& p, const WrapperParams& wp, const std::string& source) {
    PS_TRY(backing->Listen(p.bridge_socket, p.handle.id, p.handle.version));
    Status st = [&]() -> Status {
      PS_ASSIGN(auto modules, WriteWorkerFiles(p.dir, "", wp, source));
      PS_TRY(WriteRefuseWorker(p.dir));
      workerd::ProcessConfig config;
      config.workers.push_back(workerd::Worker{"plugin",
                                               modules,
                                               p.socket,
                                               p.bridge_socket,
                                               workerd::kCompatibilityDate,
                                               {"nodejs_compat"}});
      config.v8_flags = {"--max-old-space-size=" + std::to_string(p.limits.memory_mb)};
      std::ofstream out(p.dir + "/config.capnp", std::ios::trunc);
      out << workerd::RenderCapnp(config);
      if (!out) return Internal("cannot write " + p.dir + "/config.capnp");
      return Status::Ok();
    }();
    if (!st.ok()) backing->Close(p.bridge_socket);
    return st;
  }

  // Starts p's process when it is stopped (or being stopped) and waits, bounded by `deadline`,
  // until that start is over; callers that find a start under way wait for the same one. Ok once
  // the process is ready (or was not stopped); plugin_crashed when the start failed;
  // wall_error() at the deadline.
  Status StartOnDemand(const std::shared_ptr<Plugin>& p, Clock::time_point deadline,
                       const std::function<Status()>& wall_error) {
    std::unique_lock<std::mutex> lock(p->mu);
    if (!p->demand_start) {
      auto state = supervisor->state(p->proc);
      if (state != workerd::ProcessState::kStopped && !p->parking) return Status::Ok();
      p->demand_start = true;
      p->demand_since = Clock::now();
      const int64_t expected = p->pss > 0 ? p->pss : kExpectedProcessBytes;
      std::unique_ptr<PendingFiles> pending = std::move(p->pending);
      lock.unlock();
      if (pending) {
        if (Status st = Prepare(*p, pending->wp, pending->source); !st.ok()) {
          lock.lock();
          p->pending = std::move(pending);
          p->demand_start = false;
          p->cv.notify_all();
          return Failure("plugin_crashed",
                         "Plugin " + p->handle.id + " failed to start: " + st.message());
        }
      }
      if (budget_mb > 0) FitBudget(Members(), p.get(), expected);
      bool resumed = supervisor->Resume(p->proc);
      lock.lock();
      if (!resumed) {
        p->demand_start = false;
        p->cv.notify_all();
        return Failure("plugin_unavailable",
                       "Plugin sandbox unavailable for " + p->handle.id +
                           ": quarantined after repeated failures; enable it again to restart it");
      }
    }
    uint64_t seen = p->start_failures;
    p->cv.wait_until(lock, deadline, [&] { return !p->demand_start || p->start_failures != seen; });
    if (p->start_failures != seen) {
      return Failure("plugin_crashed",
                     "Plugin " + p->handle.id + " failed to start: " + p->start_failure);
    }
    if (p->demand_start) return wall_error();
    return Status::Ok();
  }

  // Wakes the watchdog to schedule a new invocation whose budget is shorter than the memory
  // check interval (the watchdog may be sleeping for longer than that budget).
  void KickWatchdog(int64_t cpu_ms) {
    if (std::chrono::milliseconds(cpu_ms) >= opt.memory_check_interval) return;
    {
      std::lock_guard<std::mutex> lock(wd_mu);
      ++wd_kicks;
    }
    wd_cv.notify_all();
  }

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
  std::string CheckIdleCpu(Plugin& p, pid_t pid) {
    auto cpu = p.CpuNs(pid);
    if (!cpu) return "";
    auto now = Clock::now();
    if (p.idle_activity != p.activity || p.idle_generation != p.ready_generation ||
        now - p.idle_since >= std::chrono::seconds(1)) {
      p.idle_activity = p.activity;
      p.idle_generation = p.ready_generation;
      p.idle_cpu_start = *cpu;
      p.idle_since = now;
      return "";
    }
    uint64_t used = *cpu - p.idle_cpu_start;
    uint64_t allowed = uint64_t(p.limits.cpu_ms) * 1000000;
    if (used <= allowed || (used <= 2 * allowed && InHousekeeping(pid))) return "";
    return "Plugin " + p.handle.id + " exceeded its CPU limit of " +
           std::to_string(p.limits.cpu_ms) +
           "ms outside any invocation (work an invocation left running)";
  }

  // Kills p's process for a limit it broke; returns when its CPU should be looked at again.
  Clock::time_point CheckLimits(const std::shared_ptr<Plugin>& p, bool check_memory) {
    auto next = Clock::time_point::max();
    pid_t pid;
    std::string cpu_violation;
    std::string mem_violation;
    {
      std::lock_guard<std::mutex> lock(p->mu);
      pid = p->pid;
      if (pid == 0 || pid == p->killed_pid) return next;
      if (!p->inflight.empty()) {
        auto cpu = p->CpuNs(pid);
        auto now = Clock::now();
        uint64_t budget = uint64_t(p->limits.cpu_ms) * 1000000;
        for (auto& [id, f] : p->inflight) {
          if (!cpu || !f->cpu_start || f->generation != p->ready_generation) continue;
          uint64_t used = *cpu - *f->cpu_start;
          uint64_t allowed = budget * uint64_t(f->overlap);
          if (used > allowed && used <= 2 * allowed && InHousekeeping(pid)) {
            // Over budget, but either not running (what spent it has ended) or running while V8's
            // helpers are busy, i.e. inside a garbage collection, which does part of its work on
            // the main thread: an honest hook was killed for one (docs/performance.md). Look again
            // in a millisecond; a plain loop is caught running alone, and nothing is spared past
            // twice its budget.
            if (!f->reprieved) {
              f->reprieved = true;
              ++p->cpu_reprieves;
              spdlog::info(
                  "plugin {}: {} over its CPU budget during V8 housekeeping; looking again",
                  p->handle.id, f->label);
            }
            next = std::min(next, now + std::chrono::milliseconds(1));
            continue;
          }
          if (used > allowed) {
            cpu_violation = "Plugin " + p->handle.id + " exceeded its CPU limit of " +
                            std::to_string(p->limits.cpu_ms) + "ms during " + f->label;
            break;
          }
          // At least 250 us between looks at one invocation close to its budget.
          auto left = std::chrono::nanoseconds(std::max<uint64_t>(allowed - used, 250000));
          next = std::min(next, now + std::chrono::duration_cast<Clock::duration>(left));
        }
      } else if (check_memory && !shared()) {
        cpu_violation = CheckIdleCpu(*p, pid);
      }
      if (cpu_violation.empty() && check_memory && p->rss_limit > 0) {
        auto rss = ResidentBytes(pid);
        if (rss && *rss > p->rss_limit) {
          mem_violation = "Plugin " + p->handle.id + " exceeded its memory limit of " +
                          std::to_string(p->limits.memory_mb) + " MiB (resident memory " +
                          std::to_string(*rss >> 20) + " MiB)";
        }
      }
    }
    if (!cpu_violation.empty()) LimitKill(p, pid, "cpu_limit_exceeded", cpu_violation);
    if (!mem_violation.empty()) LimitKill(p, pid, "memory_limit_exceeded", mem_violation);
    return next;
  }

  std::shared_ptr<bridge::Invocation> Lookup(const std::string& id, const std::string& version,
                                             const std::string& inv_id) {
    auto p = Find(id);
    if (!p || p->handle.version != version) return nullptr;
    std::lock_guard<std::mutex> lock(p->mu);
    auto it = p->inflight.find(inv_id);
    return it == p->inflight.end() ? nullptr : it->second->inv;
  }

  bool shared() const { return opt.mode == IsolationMode::kShared; }

  // Waits for p's first readiness, or its process's first exit (a plugin that cannot start).
  Status WaitFirstReady(const std::shared_ptr<Plugin>& p) {
    auto deadline = Clock::now() + opt.supervision.ready_timeout + std::chrono::seconds(2);
    std::unique_lock<std::mutex> lock(p->mu);
    p->cv.wait_until(lock, deadline, [&] { return p->ready_generation > 0 || p->first_exit; });
    if (p->ready_generation > 0) {
      lock.unlock();
      // on_ready runs just before the supervisor publishes "ready": wait for that too, so the
      // plugin reads as ready the moment Load returns.
      supervisor->WaitReady(p->proc, deadline);
      return Status::Ok();
    }
    std::string detail =
        p->first_exit_output.empty() ? "it did not become ready in time" : p->first_exit_output;
    while (!detail.empty() && detail.back() == '\n') detail.pop_back();
    return Failure("plugin_crashed", "Plugin " + p->handle.id + " failed to start: " + detail);
  }

  // Makes p the current plugin for its id; the one it replaces is torn down.
  void Install(const std::shared_ptr<Plugin>& p) {
    std::shared_ptr<Plugin> old;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto& slot = plugins[p->handle.id];
      old = slot;
      slot = p;
    }
    if (old) Teardown(old);
  }

  // Rebuilds the shared process with exactly `members` (stopping the current one first: every
  // plugin stalls meanwhile, as in EmDash's Node runner). `probe` is the member whose socket the
  // supervisor probes; the others are probed here once the process is ready.
  void RestartShared(const std::vector<std::shared_ptr<Plugin>>& members,
                     const std::shared_ptr<Plugin>& probe) {
    std::lock_guard<std::mutex> lock(shared_mu);
    for (auto& m : members) {
      std::lock_guard<std::mutex> l(m->mu);
      m->switching = true;
    }
    if (shared_proc != 0) supervisor->Stop(shared_proc, /*wait=*/true);
    shared_proc = 0;
    if (members.empty()) return;
    workerd::ProcessConfig config;
    int64_t heap_mb = 0;
    for (auto& m : members) {
      config.workers.push_back(workerd::Worker{"p" + std::to_string(m->handle.epoch),
                                               m->modules,
                                               m->socket,
                                               m->bridge_socket,
                                               workerd::kCompatibilityDate,
                                               {"nodejs_compat"}});
      heap_mb = std::max(heap_mb, m->limits.memory_mb);
    }
    config.v8_flags = {"--max-old-space-size=" + std::to_string(heap_mb)};
    {
      std::ofstream out(shared_dir + "/config.capnp", std::ios::trunc);
      out << workerd::RenderCapnp(config);
    }
    std::vector<std::weak_ptr<Plugin>> weak(members.begin(), members.end());
    std::weak_ptr<Plugin> probed = probe;
    workerd::ProcessSpec spec;
    spec.name = "shared";
    spec.config_dir = shared_dir;
    spec.config_file = "config.capnp";
    spec.ready_socket = probe->socket;
    spec.ready_auth = probe->invoke_auth;
    for (auto& m : members) spec.sockets.push_back(m->socket);
    spec.on_ready = [this, weak, probed](int gen, pid_t pid, const std::string& body) {
      auto first = probed.lock();
      for (auto& w : weak) {
        auto m = w.lock();
        if (!m) continue;
        std::string b = body;
        if (m != first && !workerd::ProbeReady(m->socket, m->invoke_auth, &b)) b = "{}";
        OnReady(m, gen, pid, b);
      }
    };
    spec.on_exit = [this, weak](const workerd::ProcessExit& ex) {
      for (auto& w : weak)
        if (auto m = w.lock()) OnExit(m, ex);
    };
    spec.on_output = [](const std::string& line) {
      if (!line.empty()) spdlog::info("[plugins:shared] {}", line);
    };
    for (auto& m : members) {
      std::lock_guard<std::mutex> l(m->mu);
      m->ready_generation = 0;
      m->pid = 0;
      m->first_exit = false;
      m->first_exit_output.clear();
    }
    shared_proc = supervisor->Start(std::move(spec));
    for (auto& m : members) {
      m->proc = shared_proc;
      {
        std::lock_guard<std::mutex> l(m->mu);
        m->switching = false;
      }
      m->cv.notify_all();
    }
  }

  // Every loaded plugin, optionally without `except_id`.
  std::vector<std::shared_ptr<Plugin>> Members(const std::string& except_id = "") {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<std::shared_ptr<Plugin>> out;
    for (auto& [id, p] : plugins)
      if (id != except_id) out.push_back(p);
    return out;
  }

  void Teardown(const std::shared_ptr<Plugin>& p) {
    {
      // workerd stops only once its connections are closed: idle invocation channels would hold
      // it to the stop timeout. (A channel in use closes when its invocation ends.)
      std::lock_guard<std::mutex> lock(p->mu);
      p->channels.clear();
      p->closing = true;  // and none goes back to the pool
    }
    if (!shared()) supervisor->Stop(p->proc, /*wait=*/true);
    backing->Close(p->bridge_socket);
    bool version_still_loaded = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = plugins.find(p->handle.id);
      version_still_loaded =
          it != plugins.end() && it->second != p && it->second->handle.version == p->handle.version;
    }
    if (!version_still_loaded) bridge->UnregisterPlugin(p->handle.id, p->handle.version);
    std::error_code ec;
    if (shared()) {
      for (const auto& m : p->modules) fs::remove(fs::path(p->dir) / m.file, ec);
    } else {
      fs::remove_all(p->dir, ec);
    }
    ::unlink(p->socket.c_str());
  }

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
                      Clock::time_point deadline, std::unique_ptr<InvokeChannel>* channel) {
    Transport t;
    using O = InvokeChannel::Outcome;
    if (!*channel) {
      O opened = InvokeChannel::Open(p->socket, p->invoke_auth, deadline, channel);
      if (opened == O::kRefused) {
        std::lock_guard<std::mutex> lock(p->mu);
        p->channel_refused = true;  // an old wrapper: requests from now on
        return t;
      }
      if (opened != O::kOk) {
        t.tried = true;
        t.outcome = opened == O::kTimeout ? Transport::kTimeout : Transport::kBroken;
        t.error = "invocation channel: cannot connect";
        return t;
      }
      ++invoke_channels_opened;
    }
    t.tried = true;
    O o = (*channel)->Call(inv_id, path, payload, deadline, &t.status, &t.body);
    t.outcome = o == O::kOk ? Transport::kOk
                            : (o == O::kTimeout ? Transport::kTimeout : Transport::kBroken);
    if (o != O::kOk) {
      channel->reset();
      t.error = "invocation channel: connection lost";
    }
    return t;
  }

  // One HTTP request on a pooled connection.
  Transport ByRequest(const std::shared_ptr<Plugin>& p, const std::string& kind,
                      const std::string& name, const std::string& inv_id,
                      const std::string& payload, Clock::time_point deadline) {
    CURL* curl = nullptr;
    int generation;
    {
      std::lock_guard<std::mutex> lock(p->mu);
      generation = p->ready_generation;
      if (!p->pool.empty()) {
        curl = p->pool.back();
        p->pool.pop_back();
      }
    }
    if (!curl) curl = curl_easy_init();
    std::string url = "http://plugin/" + kind + "/" + PathEncode(name);
    Transport t;
    t.tried = true;
    struct curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, ("Authorization: " + p->invoke_auth).c_str());
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, ("x-ps-invocation: " + inv_id).c_str());
    headers = curl_slist_append(headers, "Expect:");
    // A small input in printable ASCII travels in a header: the isolate then reads no request
    // body, which saves workerd about 35 us per call (docs/performance.md). Anything else is the
    // body.
    const bool inline_input =
        payload.size() <= kInlineInputMax &&
        std::all_of(payload.begin(), payload.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
    if (inline_input) headers = curl_slist_append(headers, ("x-ps-input: " + payload).c_str());
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, p->socket.c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, inline_input ? "" : payload.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     curl_off_t(inline_input ? 0 : payload.size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t.body);
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, long(std::max<int64_t>(1, remaining.count())));
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t.status);
    curl_slist_free_all(headers);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
    t.outcome = rc == CURLE_OK
                    ? Transport::kOk
                    : (rc == CURLE_OPERATION_TIMEDOUT ? Transport::kTimeout : Transport::kBroken);
    if (rc != CURLE_OK) t.error = curl_easy_strerror(rc);
    {
      std::lock_guard<std::mutex> lock(p->mu);
      if (rc == CURLE_OK && p->pool_generation == generation && p->pool.size() < 64) {
        p->pool.push_back(curl);
        curl = nullptr;
      }
    }
    if (curl) curl_easy_cleanup(curl);
    return t;
  }

  Result<json::value> Invoke(const PluginHandle& h, const std::string& kind,
                             const std::string& name, const json::object& body,
                             std::optional<int64_t> timeout_ms = std::nullopt);
};

Runner::Runner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Runner>> Runner::Create(store::Database& db, RunnerOptions options,
                                               bridge::BridgeOptions bridge_options) {
  curl_global_init(CURL_GLOBAL_ALL);
  auto impl = std::make_unique<Impl>(db);
  impl->opt = std::move(options);
  auto& opt = impl->opt;

  // Where things are: explicit options, then the environment, then beside this executable.
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (opt.workerd_path.empty()) {
    if (const char* e = getenv("PLUGIN_SANDBOX_WORKERD")) opt.workerd_path = e;
  }
  if (opt.workerd_path.empty()) opt.workerd_path = FindWorkerd(fs::current_path(ec).string());
  if (opt.workerd_path.empty() && !self.empty()) {
    opt.workerd_path = FindWorkerd(self.parent_path().string());
  }
  if (opt.workerd_path.empty() || access(opt.workerd_path.c_str(), X_OK) != 0) {
    return InvalidArgument(
        "workerd not found: run scripts/bootstrap (it installs the pinned workerd into "
        "node_modules), or set PLUGIN_SANDBOX_WORKERD to the binary");
  }
  if (opt.launcher_path.empty()) {
    if (const char* e = getenv("PLUGIN_SANDBOX_LAUNCHER")) opt.launcher_path = e;
  }
  if (opt.launcher_path.empty() && !self.empty()) {
    opt.launcher_path = (self.parent_path() / "plugin-sandbox-launch").string();
  }
  if (access(opt.launcher_path.c_str(), X_OK) != 0) {
    return InvalidArgument("plugin-sandbox-launch not found at " + opt.launcher_path +
                           " (it is built beside plugin-sandbox; set PLUGIN_SANDBOX_LAUNCHER)");
  }

  // The private runtime directory: sockets and generated configs, mode 0700. Unix socket paths
  // are limited to 107 bytes, so a deep data directory falls back to one under /tmp.
  fs::path run = fs::absolute(fs::path(opt.data_dir) / "run", ec);
  if (run.string().size() > 80) {
    std::string tmpl = (fs::temp_directory_path() / "plugin-sandbox-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) return Internal("cannot create a runtime directory in /tmp");
    run = tmpl;
  }
  fs::create_directories(run, ec);
  if (ec) return Internal("cannot create runtime directory " + run.string() + ": " + ec.message());
  ::chmod(run.c_str(), 0700);
  impl->run_dir = run.string();
  if (opt.mode == IsolationMode::kShared) {
    impl->shared_dir = impl->run_dir + "/shared";
    fs::create_directories(impl->shared_dir, ec);
    ::chmod(impl->shared_dir.c_str(), 0700);
    PS_TRY(WriteRefuseWorker(impl->shared_dir));
    spdlog::warn(
        "isolation mode 'shared': every plugin runs in one workerd process. This gives up "
        "containment: a plugin that loops, exhausts memory or crashes stalls or restarts every "
        "plugin, and each load or unload restarts them all. Use 'per-plugin' unless memory is "
        "too tight for it.");
  }

  Impl* raw = impl.get();
  bridge_options.email = [raw](const json::object& msg, const std::string& source) -> Status {
    bridge::EmailSender sender;
    {
      std::lock_guard<std::mutex> lock(raw->mu);
      sender = raw->email;
    }
    if (!sender) {
      return InvalidArgument("Email is not configured. No email provider is available.");
    }
    return sender(msg, source);
  };
  impl->bridge = std::make_unique<bridge::Bridge>(db, bridge::TokenAuthority::Generate(),
                                                  std::move(bridge_options));
  impl->backing = std::make_unique<bridge::BackingService>(
      *impl->bridge, [raw](const std::string& id, const std::string& version,
                           const std::string& inv) { return raw->Lookup(id, version, inv); });
  workerd::SupervisorOptions sup = opt.supervision;
  sup.launcher = opt.launcher_path;
  sup.workerd = opt.workerd_path;
  sup.env_passthrough = opt.env_passthrough;
  impl->supervisor = std::make_unique<workerd::Supervisor>(std::move(sup));
  impl->budget_mb = opt.memory_budget_mb;
  impl->cache = std::make_unique<ValidationCache>(
      opt.mode == IsolationMode::kShared ? "" : opt.validation_cache_dir, opt.workerd_path);
  impl->watchdog = std::thread([raw] { raw->Watch(); });
  return std::unique_ptr<Runner>(new Runner(std::move(impl)));
}

Runner::~Runner() {
  {
    std::lock_guard<std::mutex> lock(impl_->wd_mu);
    impl_->wd_stop = true;
  }
  impl_->wd_cv.notify_all();
  if (impl_->watchdog.joinable()) impl_->watchdog.join();
  TerminateAll();
  impl_->supervisor.reset();
  impl_->backing.reset();
  impl_->bridge.reset();
  std::error_code ec;
  fs::remove(impl_->run_dir, ec);  // only if empty
}

Result<PluginHandle> Runner::Load(const manifest::Bundle& bundle) {
  auto& impl = *impl_;
  const auto& m = bundle.manifest;
  auto p = std::make_shared<Plugin>();
  p->handle = {m.id, m.version, impl.next_epoch++};
  p->manifest = m;
  p->limits = impl.LimitsFor(m.id);
  std::string tag = std::to_string(p->handle.epoch);
  p->dir = impl.run_dir + "/" + SafeName(m.id) + "-" + tag;
  p->socket = impl.run_dir + "/p" + tag + ".sock";
  p->bridge_socket = impl.run_dir + "/b" + tag + ".sock";
  const auto& tokens = impl.bridge->tokens();
  std::string invoke_token = tokens.InvokeToken(m.id, m.version);
  p->invoke_auth = "Bearer " + invoke_token;

  impl.bridge->RegisterPlugin(m);

  WrapperParams wp{m.id,
                   m.version,
                   impl.opt.site,
                   m.capabilities,
                   tokens.IssueBridgeToken(bridge::Bridge::GrantFor(m)),
                   invoke_token};
  if (impl.shared()) {
    PS_TRY(impl.backing->Listen(p->bridge_socket, m.id, m.version));
    return LoadShared(p, wp, bundle.module_source);
  }

  std::weak_ptr<Plugin> weak = p;
  Impl* raw = impl_.get();
  workerd::ProcessSpec spec;
  spec.name = m.id;
  spec.config_dir = p->dir;
  spec.config_file = "config.capnp";
  spec.ready_socket = p->socket;
  spec.ready_auth = p->invoke_auth;
  spec.on_ready = [raw, weak](int gen, pid_t pid, const std::string& body) {
    if (auto sp = weak.lock()) raw->OnReady(sp, gen, pid, body);
  };
  spec.on_exit = [raw, weak](const workerd::ProcessExit& ex) {
    if (auto sp = weak.lock()) raw->OnExit(sp, ex);
  };
  std::string id = m.id;
  spec.on_output = [id](const std::string& line) {
    if (!line.empty()) spdlog::info("[plugin:{}] {}", id, line);
  };
  p->always_on = impl.AlwaysOn(m.id);
  p->cache_key = impl.cache->Key(bundle.module_source, p->limits.memory_mb);
  if (!p->always_on) {
    if (auto described = impl.cache->Get(p->cache_key)) {
      // Started before with this very module and runtime: what it declares is known, and its
      // process (and the files it needs) waits for its first invocation.
      p->described = std::move(*described);
      p->pending = std::make_unique<PendingFiles>(PendingFiles{wp, bundle.module_source});
      p->proc = impl.supervisor->Register(std::move(spec));
      impl.Install(p);
      spdlog::debug("plugin {} {} loaded from the validation cache; not started", m.id, m.version);
      return p->handle;
    }
  }
  PS_TRY(impl.Prepare(*p, wp, bundle.module_source));
  p->proc = impl.supervisor->Start(std::move(spec));

  if (Status st = impl.WaitFirstReady(p); !st.ok()) {
    impl.Teardown(p);
    return st;
  }
  {
    json::object described;
    {
      std::lock_guard<std::mutex> lock(p->mu);
      described = p->described;
    }
    impl.cache->Put(p->cache_key, described);
  }
  impl.Install(p);
  return p->handle;
}

Result<PluginHandle> Runner::LoadShared(const std::shared_ptr<Plugin>& p, const WrapperParams& wp,
                                        const std::string& source) {
  auto& impl = *impl_;
  p->dir = impl.shared_dir;
  std::string prefix = SafeName(p->handle.id) + "-" + std::to_string(p->handle.epoch) + "-";
  auto modules = WriteWorkerFiles(p->dir, prefix, wp, source);
  if (!modules.ok()) {
    impl.backing->Close(p->bridge_socket);
    return modules.status();
  }
  p->modules = *modules;
  auto members = impl.Members(p->handle.id);
  members.push_back(p);
  impl.RestartShared(members, p);
  if (Status st = impl.WaitFirstReady(p); !st.ok()) {
    // Bring the others back without the plugin that could not start.
    members.pop_back();
    impl.RestartShared(members, members.empty() ? nullptr : members.front());
    impl.Teardown(p);
    return st;
  }
  impl.Install(p);
  return p->handle;
}

Result<json::value> Runner::Impl::Invoke(const PluginHandle& h, const std::string& kind,
                                         const std::string& name, const json::object& body,
                                         std::optional<int64_t> timeout_ms) {
  auto p = Find(h.id);
  if (!p || p->handle.epoch != h.epoch) {
    return Failure("plugin_unavailable",
                   "Plugin sandbox unavailable for " + h.id +
                       ": the handle is stale (the plugin was unloaded or loaded again)");
  }
  const Limits& lim = p->limits;
  auto start = Clock::now();
  const bool by_timeout = timeout_ms && *timeout_ms < lim.wall_ms;
  const int64_t limit_ms = by_timeout ? std::max<int64_t>(1, *timeout_ms) : lim.wall_ms;
  auto deadline = start + std::chrono::milliseconds(limit_ms);
  std::string label = kind + ":" + name;
  auto wall_error = [&] {
    if (by_timeout) {
      return Failure("wall_time_exceeded", "Plugin " + h.id + " exceeded its hook timeout of " +
                                               std::to_string(limit_ms) + "ms during " + label);
    }
    return Failure("wall_time_exceeded", "Plugin " + h.id + " exceeded wall-time limit of " +
                                             std::to_string(lim.wall_ms) + "ms during " + label);
  };

  // Wait for a usable process: ready, not being stopped, and not one the watchdog already killed
  // (it stays "ready" until it is reaped, and an invocation sent to it would inherit its kill's
  // reason). A stopped plugin is started first (one start, however many callers wait for it).
  auto usable = [&] { return p->pid != 0 && p->pid != p->killed_pid && !p->parking; };
  std::unique_lock<std::mutex> held;  // p->mu, from the moment the process is found usable
  for (int round = 0;; ++round) {
    workerd::Supervisor::Id proc = p->proc;
    auto state = supervisor->state(proc);
    if (state == workerd::ProcessState::kQuarantined) {
      return Failure("plugin_unavailable", "Plugin sandbox unavailable for " + h.id +
                                               ": quarantined after repeated failures; enable it "
                                               "again to restart it");
    }
    if (!shared()) {
      PS_TRY(StartOnDemand(p, deadline, wall_error));
    }
    if (!supervisor->WaitReady(proc, deadline)) {
      {
        // Shared mode: the process may be being replaced; wait for its successor.
        std::unique_lock<std::mutex> lock(p->mu);
        p->cv.wait_until(lock, deadline, [&] { return !p->switching; });
      }
      if (p->proc != proc) continue;
      if (Clock::now() >= deadline) return wall_error();
      if (!shared() && round < 8) {
        // Stopped meanwhile (an idle stop racing this call, a clean exit): start it again.
        auto now_state = supervisor->state(proc);
        if (now_state == workerd::ProcessState::kStopped) continue;
      }
      return Failure("plugin_unavailable", "Plugin sandbox unavailable for " + h.id + ": " +
                                               workerd::StateName(supervisor->state(p->proc)));
    }
    std::unique_lock<std::mutex> lock(p->mu);
    if (p->cv.wait_until(lock, std::min(deadline, Clock::now() + std::chrono::milliseconds(50)),
                         [&] { return usable() || p->parking; })) {
      if (usable()) {
        held = std::move(lock);
        break;
      }
      continue;  // being stopped: start it again
    }
    if (Clock::now() >= deadline) return wall_error();
  }

  auto f = std::make_shared<InFlight>();
  f->inv = std::make_shared<bridge::Invocation>();
  f->inv->id = HexEncode(RandomBytes(12));
  f->inv->deadline = deadline;
  f->inv->subrequest_limit = int(lim.subrequests);
  f->label = label;
  std::unique_ptr<InvokeChannel> channel;
  std::string payload = Stringify(body);
  bool by_channel = opt.invoke_channel && !shared() && payload.size() <= kChannelInputMax;
  {
    std::unique_lock<std::mutex> lock = std::move(held);
    f->generation = p->ready_generation;
    if (p->pid != 0) f->cpu_start = p->CpuNs(p->pid);
    f->overlap = int(p->inflight.size()) + 1;
    for (auto& [id, other] : p->inflight) ++other->overlap;
    p->inflight[f->inv->id] = f;
    ++p->activity;
    p->last_used = Clock::now();
    by_channel = by_channel && !p->channel_refused;
    if (by_channel && !p->channels.empty()) {
      channel = std::move(p->channels.back());
      p->channels.pop_back();
    }
  }
  ++p->invocations;
  KickWatchdog(lim.cpu_ms);

  Transport t;
  if (by_channel) {
    t = ByChannel(p, f->inv->id, "/" + kind + "/" + PathEncode(name), payload, deadline, &channel);
  }
  if (!t.tried) t = ByRequest(p, kind, name, f->inv->id, payload, deadline);

  // A transport failure means the process went away: wait (bounded) for the supervisor's account
  // of why, so the caller gets the real reason (a limit kill, an out-of-memory abort, a crash).
  if (t.outcome == Transport::kBroken) {
    std::unique_lock<std::mutex> lock(p->mu);
    p->cv.wait_until(lock, std::min(deadline, Clock::now() + std::chrono::seconds(2)),
                     [&] { return p->exits.count(f->generation) > 0 || !f->forced_code.empty(); });
  }
  std::string forced_code, forced_message;
  {
    std::lock_guard<std::mutex> lock(p->mu);
    p->inflight.erase(f->inv->id);
    ++p->activity;
    p->last_used = Clock::now();
    forced_code = f->forced_code;
    forced_message = f->forced_message;
    if (channel && t.outcome == Transport::kOk && !p->closing &&
        p->pool_generation == f->generation && p->channels.size() < 64 &&
        channel->uses() < kChannelUsesMax) {
      p->channels.push_back(std::move(channel));
    }
  }
  channel.reset();                     // closing a channel cancels what its invocation left
  backing->EndInvocation(f->inv->id);  // whatever the plugin did to its WebSocket
  const long status = t.status;
  const std::string& response = t.body;

  auto fail = [&](const std::string& code, const std::string& message) -> Result<json::value> {
    if (code != "not_found") ++p->failures;
    return Failure(code, message);
  };
  if (!forced_code.empty()) return fail(forced_code, forced_message);
  if (t.outcome == Transport::kTimeout) return fail("wall_time_exceeded", wall_error().message());
  if (t.outcome != Transport::kOk) {
    return fail("plugin_crashed",
                "Plugin " + h.id + " crashed during " + label + " (" + t.error + ")");
  }

  auto parsed = ParseJson(response);
  if (status == 200) {
    if (!parsed.ok()) return fail("plugin_error", "Plugin " + h.id + " returned invalid JSON");
    if (kind == "hook") {
      if (parsed->is_object()) {
        if (auto* v = parsed->get_object().if_contains("value")) return *v;
      }
      return json::value(nullptr);
    }
    return std::move(parsed).value();
  }
  if (status == 404 && kind == "route") return fail("not_found", "Route not found: " + name);
  std::string message = response;
  std::string code;
  if (parsed.ok() && parsed->is_object()) {
    if (auto* e = parsed->get_object().if_contains("error"); e && e->is_object()) {
      const auto& eo = e->get_object();
      if (auto* m = eo.if_contains("message"); m && m->is_string()) message = m->get_string();
      if (auto* c = eo.if_contains("code"); c && c->is_string()) code = c->get_string();
    }
  }
  if (status == 503) return fail("unavailable", message);
  if (code == "subrequest_limit_exceeded" || code == "bridge_call_limit_exceeded") {
    return fail(code, message);
  }
  if (status == 401) return fail("plugin_crashed", "plugin process refused the host's token");
  if (!parsed.ok()) {
    // Not the wrapper's answer: workerd itself failed the request (for example a handler that
    // awaits a promise nothing can ever settle, which workerd detects and cancels).
    return fail("plugin_error", "Plugin " + h.id + " failed during " + label +
                                    ": workerd answered " + std::to_string(status) + " " + message +
                                    " (the host log has the runtime's message)");
  }
  return fail("plugin_error", message);
}

Result<json::value> Runner::InvokeHook(const PluginHandle& h, const std::string& hook,
                                       const std::optional<json::value>& event) {
  json::object body;
  if (event) body["event"] = *event;
  return impl_->Invoke(h, "hook", hook, body);
}

Result<json::value> Runner::InvokeHook(const PluginHandle& h, const std::string& hook,
                                       const std::optional<json::value>& event,
                                       std::chrono::milliseconds timeout) {
  json::object body;
  if (event) body["event"] = *event;
  return impl_->Invoke(h, "hook", hook, body, int64_t(timeout.count()));
}

Result<json::value> Runner::InvokeRoute(const PluginHandle& h, const std::string& route,
                                        const std::optional<json::value>& input,
                                        const json::value& request) {
  json::object body;
  if (input) body["input"] = *input;
  body["request"] = request;
  return impl_->Invoke(h, "route", route, body);
}

Status Runner::Terminate(const PluginHandle& h) {
  std::shared_ptr<Plugin> p;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->plugins.find(h.id);
    if (it == impl_->plugins.end() || it->second->handle.epoch != h.epoch) {
      return Failure("not_found", "Plugin " + h.id + " is not loaded (or the handle is stale)");
    }
    p = it->second;
    impl_->plugins.erase(it);
  }
  if (impl_->shared()) {
    auto members = impl_->Members();
    impl_->RestartShared(members, members.empty() ? nullptr : members.front());
  }
  impl_->Teardown(p);
  return Status::Ok();
}

void Runner::TerminateAll() {
  std::map<std::string, std::shared_ptr<Plugin>> all;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    all.swap(impl_->plugins);
  }
  if (impl_->shared()) impl_->RestartShared({}, nullptr);
  for (auto& [id, p] : all) impl_->Teardown(p);
}

bool Runner::IsAvailable(const PluginHandle& h) const {
  auto p = impl_->Find(h.id);
  if (!p || p->handle.epoch != h.epoch) return false;
  return impl_->supervisor->state(p->proc) != workerd::ProcessState::kQuarantined;
}

bool Runner::IsHealthy() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (auto& [id, p] : impl_->plugins) {
    auto state = impl_->supervisor->state(p->proc);
    // A stopped plugin is healthy: its next invocation starts it.
    if (state != workerd::ProcessState::kReady && state != workerd::ProcessState::kStopped) {
      return false;
    }
  }
  return true;
}

void Runner::SetEmailSender(bridge::EmailSender sender) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->email = std::move(sender);
}

Status Runner::Enable(const std::string& id) {
  auto p = impl_->Find(id);
  if (!p) return Failure("not_found", "Plugin " + id + " is not loaded");
  impl_->supervisor->Enable(p->proc);
  return Status::Ok();
}

void Runner::SetMemoryBudget(int64_t mb) { impl_->budget_mb = std::max<int64_t>(0, mb); }

std::optional<PluginInfo> Runner::Info(const std::string& id) const {
  auto p = impl_->Find(id);
  if (!p) return std::nullopt;
  PluginInfo info;
  info.handle = p->handle;
  switch (impl_->supervisor->state(p->proc)) {
    case workerd::ProcessState::kStarting:
      info.state = PluginState::kStarting;
      break;
    case workerd::ProcessState::kReady:
      info.state = PluginState::kReady;
      break;
    case workerd::ProcessState::kRestarting:
      info.state = PluginState::kRestarting;
      break;
    case workerd::ProcessState::kQuarantined:
      info.state = PluginState::kQuarantined;
      break;
    case workerd::ProcessState::kStopped:
      info.state = PluginState::kStopped;
      break;
  }
  info.limits = p->limits;
  {
    std::lock_guard<std::mutex> lock(p->mu);
    info.pid = p->pid;
    info.described = p->described;
    if (info.state == PluginState::kStopped && !p->stopped_for.empty()) {
      info.state = PluginState::kIdleStopped;
    }
  }
  info.starts = p->starts;
  info.idle_stops = p->idle_stops;
  info.budget_stops = p->budget_stops;
  info.always_on = p->always_on;
  info.invocations = p->invocations;
  info.failures = p->failures;
  info.restarts = p->restarts;
  info.limit_kills = p->limit_kills;
  info.cpu_reprieves = p->cpu_reprieves;
  info.socket_path = p->socket;
  if (info.pid != 0) info.rss_bytes = ResidentBytes(info.pid).value_or(0);
  return info;
}

std::vector<PluginInfo> Runner::List() const {
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& [id, p] : impl_->plugins) ids.push_back(id);
  }
  std::vector<PluginInfo> out;
  for (auto& id : ids)
    if (auto i = Info(id)) out.push_back(std::move(*i));
  return out;
}

std::optional<PluginHandle> Runner::Current(const std::string& id) const {
  auto p = impl_->Find(id);
  if (!p) return std::nullopt;
  return p->handle;
}

bridge::Bridge& Runner::bridge() { return *impl_->bridge; }

uint64_t Runner::invoke_channels_opened() const { return impl_->invoke_channels_opened; }

uint64_t Runner::bridge_channels_opened() const { return impl_->backing->channels_opened(); }
size_t Runner::bridge_channels_open() const { return impl_->backing->channels_open(); }

bool Runner::network_namespace_active() const {
  return impl_->supervisor->network_namespace_active();
}

}  // namespace ps::runner
