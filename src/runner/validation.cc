// Validation in a batch: the modules a host is about to load that the validation cache does not
// know, started together in one workerd process, each as a worker of its own, to learn what each
// declares. A workerd start costs about the same for one worker as for ten (docs/performance.md),
// so a site's first start with many new plugins costs one start, not one per plugin.

#include <spdlog/spdlog.h>

#include <filesystem>
#include <set>

#include "runner/runner_impl.h"
#include "workerd/config.h"

namespace ps::runner {

size_t Runner::Validate(const std::vector<const manifest::Bundle*>& bundles) {
  auto& impl = *impl_;
  if (impl.shared() || !impl.cache->enabled()) return 0;
  struct Entry {
    const manifest::Bundle* bundle;
    std::string key, socket, auth;
    std::string body;
    bool probed = false;
  };
  std::vector<Entry> batch;
  std::set<std::string> keys;
  int64_t heap_mb = 0;
  for (const auto* b : bundles) {
    const auto& m = b->manifest;
    if (impl.AlwaysOn(m.id)) continue;  // started at load anyway
    Limits limits = impl.LimitsFor(m.id);
    // One heap limit per process: a module is validated under its own (the others load one by
    // one).
    if (heap_mb != 0 && limits.memory_mb != heap_mb) continue;
    std::string key = impl.cache->Key(b->module_source, limits.memory_mb);
    if (keys.count(key) || impl.cache->Get(key)) continue;
    keys.insert(key);
    heap_mb = limits.memory_mb;
    batch.push_back(Entry{b, key, "", "", "", false});
  }
  if (batch.size() < 2) return 0;

  auto t0 = Clock::now();
  std::string dir = impl.run_dir + "/validate-" + std::to_string(impl.next_epoch++);
  std::error_code ec;
  // Its sockets in a directory of their own: the only one the process may write (containment).
  std::filesystem::create_directories(dir + "/s", ec);
  const auto& tokens = impl.bridge->tokens();
  workerd::ProcessConfig config;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& e = batch[i];
    const auto& m = e.bundle->manifest;
    std::string tag = std::to_string(i);
    e.socket = dir + "/s/v" + tag + ".sock";
    std::string invoke_token = tokens.InvokeToken(m.id, m.version);
    e.auth = "Bearer " + invoke_token;
    // No bridge token and no bridge listener: nothing is invoked, the isolate only reports
    // what the module defines.
    WrapperParams wp{m.id, m.version, impl.opt.site, m.capabilities, "", invoke_token};
    auto modules = WriteWorkerFiles(dir, "w" + tag + "-", wp, e.bundle->module_source);
    if (!modules.ok()) {
      std::filesystem::remove_all(dir, ec);
      return 0;
    }
    config.workers.push_back(workerd::Worker{"w" + tag,
                                             *modules,
                                             e.socket,
                                             dir + "/s/b" + tag + ".sock",
                                             workerd::kCompatibilityDate,
                                             {"nodejs_compat"}});
  }
  config.v8_flags = {"--max-old-space-size=" + std::to_string(heap_mb)};
  if (!WriteRefuseWorker(dir).ok() || !WriteProcessConfig(dir, config).ok()) {
    std::filesystem::remove_all(dir, ec);
    return 0;
  }

  std::mutex mu;
  std::condition_variable cv;
  bool over = false;
  workerd::ProcessSpec spec;
  spec.name = "validation";
  spec.config_dir = dir;
  spec.config_file = kConfigFile;
  spec.ready_socket = batch[0].socket;
  spec.ready_auth = batch[0].auth;
  spec.heap_mb = heap_mb;
  for (const auto& e : batch) spec.sockets.push_back(e.socket);
  spec.on_ready = [&](int, pid_t, const std::string& body) {
    // The first worker answered the supervisor's probe; the others answer here.
    std::vector<std::pair<bool, std::string>> answers(batch.size());
    answers[0] = {true, body};
    for (size_t i = 1; i < batch.size(); ++i) {
      answers[i].first = workerd::ProbeReady(batch[i].socket, batch[i].auth, &answers[i].second);
    }
    std::lock_guard<std::mutex> lock(mu);
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i].probed = answers[i].first;
      batch[i].body = std::move(answers[i].second);
    }
    over = true;
    cv.notify_all();
  };
  spec.on_exit = [&](const workerd::ProcessExit&) {
    std::lock_guard<std::mutex> lock(mu);
    over = true;
    cv.notify_all();
  };
  auto proc = impl.supervisor->Start(std::move(spec));
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_until(lock, Clock::now() + impl.opt.supervision.ready_timeout + std::chrono::seconds(2),
                  [&] { return over; });
  }
  impl.supervisor->Stop(proc, /*wait=*/true);  // the callbacks above run no more after this
  std::filesystem::remove_all(dir, ec);

  size_t recorded = 0;
  for (const auto& e : batch) {
    if (!e.probed) continue;
    auto parsed = ParseJson(e.body);
    if (!parsed.ok() || !parsed->is_object()) continue;
    impl.cache->Put(e.key, parsed->get_object());
    ++recorded;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  if (recorded == batch.size()) {
    spdlog::info("validated {} plugin modules in one process in {} ms", recorded, ms);
  } else {
    spdlog::info(
        "validated {} of {} plugin modules in one process in {} ms; the others are validated "
        "one by one",
        recorded, batch.size(), ms);
  }
  return recorded;
}

}  // namespace ps::runner
