// What the runner does when a plugin process becomes ready or exits (the supervisor restarts it;
// here the exit's reason reaches the invocations it failed), and how a load is installed, torn
// down, or (shared mode) rebuilt into the one shared process.

#include "runner/runner_impl.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "common/json.h"
#include "workerd/config.h"

namespace ps::runner {

namespace fs = std::filesystem;

void Runner::Impl::OnReady(const std::shared_ptr<Plugin>& p, int gen, pid_t pid,
                           const std::string& body) {
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
    p->start_failed = false;
    p->stopped_for.clear();
  }
  ++p->starts;
  p->cv.notify_all();
  spdlog::debug("plugin {} ready (pid {}, generation {})", p->handle.id, pid, gen);
}

void Runner::Impl::OnExit(const std::shared_ptr<Plugin>& p, const workerd::ProcessExit& ex) {
  ErrorCode code = ErrorCode::kPluginCrashed;
  std::string message = "Plugin " + p->handle.id + " crashed";
  auto killed_for = ParseErrorCode(ex.kill_reason);  // LimitKill's reason
  if (killed_for == ErrorCode::kCpuLimitExceeded || killed_for == ErrorCode::kMemoryLimitExceeded) {
    code = *killed_for;
    // The watchdog's own kills carry their message to the invocations already; this one is read
    // by those it did not reach, such as a kill by the kernel at the ceiling of the process's
    // cgroup (workerd/containment.h), which is above the watchdog's.
    if (code == ErrorCode::kMemoryLimitExceeded) {
      message = "Plugin " + p->handle.id + " exceeded its memory limit of " +
                std::to_string(p->limits.memory_mb) + " MiB (its process was killed for memory)";
    }
  } else if (LooksLikeHeapOom(ex.output_tail)) {
    code = ErrorCode::kMemoryLimitExceeded;
    message = "Plugin " + p->handle.id + " exceeded its memory limit of " +
              std::to_string(p->limits.memory_mb) + " MiB (JavaScript heap)";
  } else if (ex.kill_reason == "stopped" || ex.kill_reason == "exited") {
    code = ErrorCode::kPluginUnavailable;
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
      p->start_failed = true;
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
      if (f->generation == ex.generation && f->forced_code == ErrorCode::kNone) {
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

std::shared_ptr<bridge::Invocation> Runner::Impl::Lookup(const std::string& id,
                                                         const std::string& version,
                                                         const std::string& inv_id) {
  auto p = Find(id);
  if (!p || p->handle.version != version) return nullptr;
  std::lock_guard<std::mutex> lock(p->mu);
  auto it = p->inflight.find(inv_id);
  return it == p->inflight.end() ? nullptr : it->second->inv;
}

Status Runner::Impl::WaitFirstReady(const std::shared_ptr<Plugin>& p) {
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
  return Status(ErrorCode::kPluginCrashed,
                "Plugin " + p->handle.id + " failed to start: " + detail);
}

void Runner::Impl::Install(const std::shared_ptr<Plugin>& p) {
  std::shared_ptr<Plugin> old;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto& slot = plugins[p->handle.id];
    old = slot;
    slot = p;
  }
  if (old) Teardown(old);
}

void Runner::Impl::RestartShared(const std::vector<std::shared_ptr<Plugin>>& members,
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
  (void)WriteProcessConfig(shared_dir, config);  // a failure shows as the process not starting
  std::vector<std::weak_ptr<Plugin>> weak(members.begin(), members.end());
  std::weak_ptr<Plugin> probed = probe;
  workerd::ProcessSpec spec;
  spec.name = "shared";
  spec.config_dir = shared_dir;
  spec.config_file = kConfigFile;
  spec.ready_socket = probe->socket;
  spec.ready_auth = probe->invoke_auth;
  spec.heap_mb = heap_mb;
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

void Runner::Impl::Teardown(const std::shared_ptr<Plugin>& p) {
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
  fs::remove_all(p->sock_dir, ec);
}

}  // namespace ps::runner
