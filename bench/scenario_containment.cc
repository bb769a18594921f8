// The containment scenario: an honest neighbour's latency while a culprit spins, leaks, is
// reinstalled in a loop or (the floor) a raw workerd restarts in a loop; and how long a runaway
// loop lives past its CPU budget. The culprits' plugins are this scenario's own.
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runner/limits.h"
#include "scenarios.h"

namespace ps::bench {
namespace {

constexpr const char* kSpinManifest = R"({"id":"spinner","version":"1.0.0","routes":["spin"]})";
constexpr const char* kSpinSource = "export default { routes: { spin: () => { for (;;) {} } } };\n";
constexpr const char* kLeakManifest = R"({"id":"leaker","version":"1.0.0","routes":["bomb"]})";
constexpr const char* kLeakSource =
    "export default { routes: { bomb: () => { const a = []; "
    "for (;;) a.push({ s: 'x'.repeat(64) + a.length }); } } };\n";
constexpr const char* kChurnManifest = R"({"id":"churn","version":"1.0.0","routes":["v"]})";
constexpr const char* kChurnSource = "export default { routes: { v: () => 1 } };\n";

// CPU time of every child process reaped so far, in microseconds.
double ChildrenCpuUs() {
  struct rusage ru = {};
  getrusage(RUSAGE_CHILDREN, &ru);
  auto us = [](const timeval& t) { return double(t.tv_sec) * 1e6 + double(t.tv_usec); };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

// Waits (bounded) until plugin `id` runs a ready process other than `not_pid`; returns its pid.
pid_t WaitReadyProcess(runner::Runner& r, const std::string& id, pid_t not_pid,
                       std::chrono::milliseconds limit, const std::atomic<bool>& stop) {
  pid_t pid = 0;
  PollUntil(
      [&] {
        auto info = r.Info(id);
        bool ready = info && info->state == workerd::ProcessState::kReady && info->pid != 0 &&
                     info->pid != not_pid;
        if (ready) pid = info->pid;
        return ready;
      },
      limit, std::chrono::milliseconds(1), &stop);
  return pid;
}

}  // namespace

void ScenarioContainment(Env& env) {
  env.Progress("containment (neighbour under spin, leak, reinstall; time to kill a loop)");
  json::value event = HookEvent();
  // The neighbour is a fresh process for every disturbance: an honest plugin's resident memory
  // grows under sustained calls until the runner's RSS watchdog kills it (docs/performance.md),
  // which is measured elsewhere and is not what this scenario is about.
  const auto* neighbour_b = env.EchoBundle("neighbour");
  if (!neighbour_b) return;
  runner::PluginHandle neighbour;
  const auto* spin_b = env.Bundle("spinner", kSpinManifest, kSpinSource);
  const auto* leak_b = env.Bundle("leaker", kLeakManifest, kLeakSource);
  const auto* churn_b = env.Bundle("churn", kChurnManifest, kChurnSource);
  if (!spin_b || !leak_b || !churn_b) return;
  auto spinner = env.runner->Load(*spin_b);
  auto leaker = env.runner->Load(*leak_b);
  auto churn = env.runner->Load(*churn_b);
  if (!spinner.ok() || !leaker.ok() || !churn.ok()) {
    env.Error("containment: cannot load the culprits");
    return;
  }
  auto measure = [&](Stats* s) {
    std::string err;
    int failures = 0;
    auto end = Clock::now() + std::chrono::microseconds(int64_t(env.sz.containment_seconds * 1e6));
    for (int i = 0; i < 1000000 && Clock::now() < end; ++i) {
      auto t0 = Clock::now();
      if (RunnerHook(env, neighbour, event, &err)) {
        s->Add(MicrosSince(t0));
      } else {
        ++failures;
      }
    }
    if (failures)
      env.Error("containment: the neighbour failed " + std::to_string(failures) + " calls: " + err);
  };

  struct Culprit {
    std::string name;
    std::function<void(const std::atomic<bool>& stop)> loop;
  };
  Stats kill_ms, kill_cpu_ms, leak_ms, reinstall_ms;
  std::map<std::string, int> spin_codes, leak_codes;
  int reinstall_failures = 0;
  std::vector<Culprit> culprits = {
      {"spin",
       [&](const std::atomic<bool>& stop) {
         pid_t last = 0;
         for (int i = 0; i < 10000 && !stop; ++i) {
           last = WaitReadyProcess(*env.runner, "spinner", last, std::chrono::seconds(15), stop);
           if (last == 0) break;
           // The loop's own CPU clock, sampled every 0.5 ms until the process is gone: how much
           // CPU it got before the kill, whatever share of the machine it had.
           int fd = runner::OpenMainThreadCpu(last);
           std::optional<uint64_t> read0;
           if (fd >= 0) read0 = runner::MainThreadCpuNsAt(fd);
           const bool have_cpu0 = read0.has_value();
           const uint64_t cpu0 = read0.value_or(0);
           std::atomic<bool> done{false};
           uint64_t cpu_last = cpu0;
           std::thread sampler([&] {
             for (int n = 0; n < 200000 && !done && fd >= 0; ++n) {
               if (auto v = runner::MainThreadCpuNsAt(fd)) cpu_last = *v;
               std::this_thread::sleep_for(std::chrono::microseconds(500));  // sampling period
             }
           });
           auto t0 = Clock::now();
           auto res = env.runner->InvokeRoute(*spinner, "spin", nullptr, json::object());
           double ms = MicrosSince(t0) / 1000;
           done = true;
           sampler.join();
           if (fd >= 0) ::close(fd);
           std::string code =
               res.ok() ? std::string("ok") : std::string(ErrorCodeName(res.status().error_code()));
           ++spin_codes[code];
           if (code == "cpu_limit_exceeded") {
             kill_ms.Add(ms);
             if (have_cpu0) kill_cpu_ms.Add(double(cpu_last - cpu0) / 1e6);
           }
         }
       }},
      {"leak",
       [&](const std::atomic<bool>& stop) {
         pid_t last = 0;
         for (int i = 0; i < 10000 && !stop; ++i) {
           last = WaitReadyProcess(*env.runner, "leaker", last, std::chrono::seconds(15), stop);
           if (last == 0) break;
           auto t0 = Clock::now();
           auto res = env.runner->InvokeRoute(*leaker, "bomb", nullptr, json::object());
           leak_ms.Add(MicrosSince(t0) / 1000);
           ++leak_codes[res.ok() ? std::string("ok")
                                 : std::string(ErrorCodeName(res.status().error_code()))];
         }
       }},
      {"reinstall",
       [&](const std::atomic<bool>& stop) {
         for (int i = 0; i < 10000 && !stop; ++i) {
           auto t0 = Clock::now();
           auto h = env.runner->Load(*churn_b);
           if (!h.ok()) {
             ++reinstall_failures;
             continue;
           }
           reinstall_ms.Add(MicrosSince(t0) / 1000);
         }
       }},
      // The floor of a reinstall: a raw workerd started, waited for and killed in a loop, with no
      // runner involved (this thread kills each one before it ends, so the parent-death signal
      // tied to it never fires early).
      {"raw_restart",
       [&](const std::atomic<bool>& stop) {
         for (int i = 0; i < 10000 && !stop; ++i) {
           auto w = env.StartRaw();
           if (!w || !w->WaitReady(Clock::now() + std::chrono::seconds(10))) break;
         }
       }},
  };
  for (auto& c : culprits) {
    auto fresh = env.runner->Load(*neighbour_b);
    if (!fresh.ok()) {
      env.Error("containment: cannot load the neighbour: " + fresh.status().message());
      break;
    }
    neighbour = *fresh;
    Stats base, during;
    measure(&base);
    std::atomic<bool> stop{false};
    // What the culprit's processes burn: every one that ends is reaped by this process, so
    // RUSAGE_CHILDREN gains its CPU time.
    double children0 = ChildrenCpuUs();
    auto phase0 = Clock::now();
    std::thread t([&] { c.loop(stop); });
    // The scenario's warm-up, not a synchronisation: the culprit misbehaves for a while before
    // the neighbour is measured, so the measurement sees it in full swing.
    std::this_thread::sleep_for(std::chrono::milliseconds(env.opt.smoke ? 20 : 200));
    measure(&during);
    stop = true;
    t.join();
    std::string k = "containment." + c.name;
    env.r[k + ".culprit_cores"] = (ChildrenCpuUs() - children0) / MicrosSince(phase0);
    env.r[k + ".base_median_us"] = base.median();
    env.r[k + ".base_p99_us"] = base.p99();
    env.r[k + ".median_us"] = during.median();
    env.r[k + ".p99_us"] = during.p99();
    if (base.count() && during.count()) {
      env.r[k + ".median_ratio"] = during.median() / base.median();
      env.r[k + ".p99_ratio"] = during.p99() / base.p99();
    }
  }
  env.r["containment.spin.kills"] = double(kill_ms.count());
  env.r["containment.kill.median_ms"] = kill_ms.median();
  env.r["containment.kill.max_ms"] = kill_ms.Percentile(1.0);
  env.r["containment.kill.cpu_median_ms"] = kill_cpu_ms.median();
  if (auto info = env.runner->Info("spinner")) {
    env.r["containment.kill.budget_ms"] = double(info->limits.cpu_ms);
  }
  env.r["containment.leak.events"] = double(leak_ms.count());
  env.r["containment.leak.event_median_ms"] = leak_ms.median();
  env.r["containment.leak.memory_kills"] = double(leak_codes["memory_limit_exceeded"]);
  env.r["containment.reinstall.events"] = double(reinstall_ms.count());
  env.r["containment.reinstall.load_median_ms"] = reinstall_ms.median();
  for (auto& [code, n] : spin_codes) {
    if (code != "cpu_limit_exceeded") {
      env.notes.push_back("spin: " + std::to_string(n) + " invocation(s) ended with " + code);
    }
  }
  for (auto& [code, n] : leak_codes) {
    if (code != "memory_limit_exceeded") {
      env.notes.push_back("leak: " + std::to_string(n) + " invocation(s) ended with " + code);
    }
  }
  if (kill_ms.count() == 0) env.Error("containment: the spinner was never killed for CPU");
  if (reinstall_failures) {
    env.Error("containment: " + std::to_string(reinstall_failures) + " reinstalls failed");
  }
  for (const auto& h : {*spinner, *leaker}) (void)env.runner->Terminate(h);
  if (auto cur = env.runner->Current("neighbour")) (void)env.runner->Terminate(*cur);
  if (auto cur = env.runner->Current("churn")) (void)env.runner->Terminate(*cur);
}

}  // namespace ps::bench
