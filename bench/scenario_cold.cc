// The cold start and memory scenario: plugins loaded from nothing to their first call, raw workerd
// processes from spawn to their first answer, and what each costs in proportional memory.
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "scenarios.h"

namespace ps::bench {

void ScenarioColdAndMemory(Env& env) {
  env.Progress("cold start and memory");
  json::value event = HookEvent();
  std::vector<const manifest::Bundle*> cold;
  for (int i = 0; i < 10; ++i) {
    cold.push_back(env.EchoBundle("cold-" + std::to_string(i)));
    if (!cold.back()) return;
  }
  // Loads plugin i and invokes it until the first success (bounded); returns ms, or -1.
  auto load_and_invoke = [&](int i, runner::PluginHandle* out) -> double {
    auto t0 = Clock::now();
    auto h = env.runner->Load(*cold[size_t(i)]);
    if (!h.ok()) {
      env.Error("cold load " + std::to_string(i) + ": " + h.status().message());
      return -1;
    }
    *out = *h;
    std::string err;
    for (int attempt = 0; attempt < 100 && MicrosSince(t0) < 30e6; ++attempt) {
      if (RunnerHook(env, *h, event, &err)) return MicrosSince(t0) / 1000;
    }
    env.Error("cold invoke " + std::to_string(i) + ": " + err);
    return -1;
  };
  std::vector<double> one, ten, ten_slowest_single;
  for (int rep = 0; rep < env.sz.cold_repeats; ++rep) {
    {
      runner::PluginHandle h;
      double ms = load_and_invoke(0, &h);
      if (ms >= 0) one.push_back(ms);
      if (rep == 0 && ms >= 0) {
        auto info = env.runner->Info(h.id);
        int64_t host = PssBytes(getpid()).value_or(0);
        int64_t plug = info && info->pid ? PssBytes(info->pid).value_or(0) : 0;
        env.r["memory.host_1.mib"] = MiB(host);
        env.r["memory.plugin_1.mib"] = MiB(plug);
        env.r["memory.total_1.mib"] = MiB(host + plug);
      }
      if (!h.id.empty()) (void)env.runner->Terminate(h);
    }
    {
      std::vector<runner::PluginHandle> hs(10);
      std::vector<double> each(10, -1);
      auto t0 = Clock::now();
      std::vector<std::thread> threads;
      for (int i = 0; i < 10; ++i) {
        threads.emplace_back([&, i] { each[size_t(i)] = load_and_invoke(i, &hs[size_t(i)]); });
      }
      for (auto& t : threads) t.join();
      double ms = MicrosSince(t0) / 1000;
      if (std::all_of(each.begin(), each.end(), [](double v) { return v >= 0; })) {
        ten.push_back(ms);
      }
      if (rep == 0) {
        int64_t host = PssBytes(getpid()).value_or(0);
        int64_t plugins = 0;
        int counted = 0;
        for (auto& h : hs) {
          auto info = h.id.empty() ? std::nullopt : env.runner->Info(h.id);
          if (info && info->pid) {
            plugins += PssBytes(info->pid).value_or(0);
            ++counted;
          }
        }
        env.r["memory.host_10.mib"] = MiB(host);
        env.r["memory.plugin_10_avg.mib"] = counted ? MiB(plugins) / counted : 0;
        env.r["memory.total_10.mib"] = MiB(host + plugins);
        env.r["memory.per_additional_plugin.mib"] =
            (env.r["memory.total_10.mib"] - env.r["memory.total_1.mib"]) / 9;
      }
      for (auto& h : hs)
        if (!h.id.empty()) (void)env.runner->Terminate(h);
    }
  }
  env.r["cold.one.ms"] = Median(one);
  env.r["cold.ten.ms"] = Median(ten);
  if (!one.empty() && !ten.empty()) env.r["cold.ratio"] = Median(ten) / Median(one);

  // The floor: raw workerd processes from spawn to first answer (spawned by this thread, which
  // the parent-death signal is tied to; readiness polled every 2 ms).
  std::vector<double> raw_one, raw_ten;
  double raw_total_1 = 0;
  std::string payload = HookPayload();
  for (int rep = 0; rep < env.sz.cold_repeats; ++rep) {
    for (int n : {1, 10}) {
      auto t0 = Clock::now();
      std::vector<std::unique_ptr<RawWorkerd>> ws;
      for (int i = 0; i < n; ++i) ws.push_back(env.StartRaw());
      bool all = true;
      auto deadline = Clock::now() + std::chrono::seconds(30);
      for (auto& w : ws) all = all && w && w->WaitReady(deadline);
      double ms = MicrosSince(t0) / 1000;
      if (!all) {
        env.Error("raw workerd did not start" + (ws[0] ? ": " + ws[0]->log() : std::string()));
        continue;
      }
      (n == 1 ? raw_one : raw_ten).push_back(ms);
      if (rep == 0) {
        // Proportional memory of the raw processes alone (each answered one call first).
        int64_t total = 0;
        for (auto& w : ws) {
          std::string resp;
          UnixHttpClient c(w->socket(), {"Content-Type: application/json"});
          RawCall(c, payload, &resp);
        }
        for (auto& w : ws) total += PssBytes(w->pid()).value_or(0);
        env.r[n == 1 ? "memory.raw_1.mib" : "memory.raw_10_avg.mib"] = MiB(total) / n;
        if (n == 1) raw_total_1 = MiB(total);
        if (n == 10) env.r["memory.raw_per_additional.mib"] = (MiB(total) - raw_total_1) / 9;
      }
    }
  }
  env.r["cold.raw_one.ms"] = Median(raw_one);
  env.r["cold.raw_ten.ms"] = Median(raw_ten);
}

}  // namespace ps::bench
