// Plugins on demand: where an idle plugin is stopped, where the memory budget stops the least
// recently used idle ones, and where a stopped plugin is started for the invocations waiting on it.

#include "runner/runner_impl.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "workerd/config.h"

namespace ps::runner {

bool Runner::Impl::ParkLocked(Plugin& p, const char* why) {
  // Not a process the watchdog killed for a limit: its exit must report the limit (and count
  // towards quarantine), not a stop.
  if (p.pid == 0 || p.pid == p.killed_pid || p.parking || p.demand_start || !p.inflight.empty() ||
      p.closing) {
    return false;
  }
  p.parking = true;
  p.stopped_for = why;
  // workerd stops only once its connections are closed (an idle channel would hold it to the
  // stop timeout).
  p.channels.clear();
  for (CURL* h : p.pool) curl_easy_cleanup(h);
  p.pool.clear();
  // Under p.mu, so that a caller who sees `parking` finds the supervisor already stopping the
  // process, and its Resume() starts it again once it is gone.
  supervisor->Park(p.proc);
  return true;
}

void Runner::Impl::CheckResidency(const std::vector<std::shared_ptr<Plugin>>& all,
                                  Clock::time_point now) {
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
      }
    }
  }
  if (budget_mb > 0 && now >= next_budget_look) {
    next_budget_look = now + std::chrono::seconds(1);
    FitBudget(all, nullptr, 0);
  }
}

void Runner::Impl::FitBudget(const std::vector<std::shared_ptr<Plugin>>& all, const Plugin* except,
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
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - when).count(), freed >> 20);
    used -= freed;
  }
}

Status Runner::Impl::Prepare(const Plugin& p, const WrapperParams& wp, const std::string& source) {
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
    return WriteProcessConfig(p.dir, config);
  }();
  if (!st.ok()) backing->Close(p.bridge_socket);
  return st;
}

Status Runner::Impl::StartOnDemand(const std::shared_ptr<Plugin>& p, Clock::time_point deadline,
                                   const std::function<Status()>& wall_error) {
  std::unique_lock<std::mutex> lock(p->mu);
  if (p->closing) {
    return Status(ErrorCode::kPluginUnavailable,
                  "Plugin sandbox unavailable for " + p->handle.id + ": the plugin was unloaded");
  }
  // Read before the lock is let go: a start can fail before this caller takes it again.
  const uint64_t seen = p->start_failures;
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
        ++p->start_failures;  // the callers waiting for this start get the same reason
        p->start_failure = st.message();
        p->start_failed = true;
        p->cv.notify_all();
        return Status(ErrorCode::kPluginCrashed,
                      "Plugin " + p->handle.id + " failed to start: " + st.message());
      }
    }
    if (budget_mb > 0) FitBudget(Members(), p.get(), expected);
    bool resumed = supervisor->Resume(p->proc);
    lock.lock();
    if (!resumed) {
      p->demand_start = false;
      p->cv.notify_all();
      return Status(ErrorCode::kPluginUnavailable,
                    "Plugin sandbox unavailable for " + p->handle.id +
                        ": quarantined after repeated failures; enable it again to restart it");
    }
  }
  p->cv.wait_until(lock, deadline, [&] { return !p->demand_start || p->start_failures != seen; });
  if (p->start_failures != seen) {
    return Status(ErrorCode::kPluginCrashed,
                  "Plugin " + p->handle.id + " failed to start: " + p->start_failure);
  }
  if (p->demand_start) return wall_error();
  return Status::Ok();
}

}  // namespace ps::runner
