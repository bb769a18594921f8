// Where a plugin's limits are enforced while it runs: a runaway loop (CPU budget, also for work an
// invocation left behind) or a leak (resident memory) kills its process here. Wall time is the
// invocation's own deadline (invoke.cc); subrequests are counted by the bridge.

#include "runner/runner_impl.h"

#include <spdlog/spdlog.h>

namespace ps::runner {

void Runner::Impl::LimitKill(const std::shared_ptr<Plugin>& p, pid_t pid, ErrorCode code,
                             const std::string& culprit_message) {
  {
    std::lock_guard<std::mutex> lock(p->mu);
    // One kill per process: the watchdog sees the same process again until it is reaped.
    if (p->killed_pid == pid) return;
    p->killed_pid = pid;
    for (auto& [id, f] : p->inflight) {
      if (f->generation != p->ready_generation || f->forced_code != ErrorCode::kNone) continue;
      f->forced_code = code;
      f->forced_message = culprit_message;
    }
  }
  ++p->limit_kills;
  // The kill reason comes back in ProcessExit (OnExit reads it as the code).
  supervisor->Kill(p->proc, std::string(ErrorCodeName(code)));
}

void Runner::Impl::Watch() {
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

void Runner::Impl::KickWatchdog(int64_t cpu_ms) {
  if (std::chrono::milliseconds(cpu_ms) >= opt.memory_check_interval) return;
  {
    std::lock_guard<std::mutex> lock(wd_mu);
    ++wd_kicks;
  }
  wd_cv.notify_all();
}

std::string Runner::Impl::CheckIdleCpu(Plugin& p, pid_t pid) {
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
  return "Plugin " + p.handle.id + " exceeded its CPU limit of " + std::to_string(p.limits.cpu_ms) +
         "ms outside any invocation (work an invocation left running)";
}

Clock::time_point Runner::Impl::CheckLimits(const std::shared_ptr<Plugin>& p, bool check_memory) {
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
            spdlog::info("plugin {}: {} over its CPU budget during V8 housekeeping; looking again",
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
  if (!cpu_violation.empty()) LimitKill(p, pid, ErrorCode::kCpuLimitExceeded, cpu_violation);
  if (!mem_violation.empty()) LimitKill(p, pid, ErrorCode::kMemoryLimitExceeded, mem_violation);
  return next;
}

}  // namespace ps::runner
