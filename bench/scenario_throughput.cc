// The throughput scenario: closed-loop callers over one and four plugins against the same callers
// on the raw workers, and the resident memory the standing set has after all of it.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runner/limits.h"
#include "scenarios.h"

namespace ps::bench {
namespace {

struct Throughput {
  double calls_per_s = 0;
  double p99_us = 0;
  int failures = 0;
};

// `callers` threads, each calling `call(caller)` in a loop; counts calls that start after the
// warm-up and end before the deadline.
Throughput RunThroughput(int callers, double warmup_s, double seconds,
                         const std::function<bool(int)>& call) {
  std::atomic<bool> go{false};
  std::vector<Stats> lat(static_cast<size_t>(callers));
  std::vector<int> fails(static_cast<size_t>(callers), 0);
  std::vector<std::thread> threads;
  Clock::time_point start, measure_from, end;
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      for (int spin = 0; spin < 1000000 && !go.load(); ++spin) std::this_thread::yield();
      for (int i = 0; i < 10000000; ++i) {
        auto t0 = Clock::now();
        if (t0 >= end) break;
        bool ok = call(c);
        auto t1 = Clock::now();
        if (!ok) ++fails[size_t(c)];
        if (ok && t0 >= measure_from && t1 <= end) {
          lat[size_t(c)].Add(std::chrono::duration<double, std::micro>(t1 - t0).count());
        }
      }
    });
  }
  start = Clock::now();
  measure_from = start + std::chrono::microseconds(int64_t(warmup_s * 1e6));
  end = measure_from + std::chrono::microseconds(int64_t(seconds * 1e6));
  go = true;
  for (auto& t : threads) t.join();
  Stats all;
  Throughput out;
  for (int c = 0; c < callers; ++c) {
    for (double v : lat[size_t(c)].us) all.Add(v);
    out.failures += fails[size_t(c)];
  }
  out.calls_per_s = double(all.count()) / seconds;
  out.p99_us = all.p99();
  return out;
}

}  // namespace

void ScenarioThroughput(Env& env) {
  env.Progress("throughput (1, 4, 16 callers over 1 and 4 plugins)");
  json::value event = HookEvent();
  int round = 0;
  int failures_total = 0;
  for (int plugins : {1, 4}) {
    for (int callers : {1, 4, 16}) {
      std::vector<std::unique_ptr<UnixHttpClient>> clients;
      for (int c = 0; c < callers; ++c) {
        clients.push_back(std::make_unique<UnixHttpClient>(
            env.raw[size_t(c % plugins)]->socket(),
            std::vector<std::string>{"Content-Type: application/json"}));
      }
      std::vector<std::string> resp(static_cast<size_t>(callers));
      auto raw_call = [&](int c) {
        return clients[size_t(c)]->Post("http://raw/", nullptr, &resp[size_t(c)]) == 200;
      };
      std::mutex err_mu;
      std::string first_err;
      auto our_call = [&](int c) {
        std::string e;
        bool ok = RunnerHook(env, env.echo[size_t(c % plugins)], event, &e);
        if (!ok) {
          std::lock_guard<std::mutex> lock(err_mu);
          if (first_err.empty()) first_err = e;
        }
        return ok;
      };
      Throughput ours, raw;
      // Alternate which side goes first.
      if (round++ % 2 == 0) {
        raw = RunThroughput(callers, env.sz.throughput_warmup_seconds, env.sz.throughput_seconds,
                            raw_call);
        ours = RunThroughput(callers, env.sz.throughput_warmup_seconds, env.sz.throughput_seconds,
                             our_call);
      } else {
        ours = RunThroughput(callers, env.sz.throughput_warmup_seconds, env.sz.throughput_seconds,
                             our_call);
        raw = RunThroughput(callers, env.sz.throughput_warmup_seconds, env.sz.throughput_seconds,
                            raw_call);
      }
      std::string k = "throughput.p" + std::to_string(plugins) + ".c" + std::to_string(callers);
      env.r[k + ".ours.calls_per_s"] = ours.calls_per_s;
      env.r[k + ".ours.p99_us"] = ours.p99_us;
      env.r[k + ".raw.calls_per_s"] = raw.calls_per_s;
      env.r[k + ".raw.p99_us"] = raw.p99_us;
      if (raw.calls_per_s > 0) env.r[k + ".ratio"] = ours.calls_per_s / raw.calls_per_s;
      failures_total += ours.failures;
      if (ours.failures + raw.failures > 0) {
        env.Error(k + ": " + std::to_string(ours.failures) + " failed calls (ours), " +
                  std::to_string(raw.failures) + " (raw)" +
                  (first_err.empty() ? "" : "; first: " + first_err));
      }
    }
  }
  // Resident memory after every scenario so far (the same calls on both sides), against the
  // runner's RSS watchdog: its size at readiness + memory limit + headroom.
  if (auto info = env.runner->Info(env.echo[0].id)) {
    env.r["memory.rss_after_load.ours.mib"] = MiB(info->rss_bytes);
    env.r["memory.rss_after_load.restarts"] = double(info->restarts);
    env.r["memory.rss_after_load.cpu_reprieves"] = double(info->cpu_reprieves);
  }
  env.r["memory.rss_after_load.raw.mib"] =
      MiB(runner::ResidentBytes(env.raw[0]->pid()).value_or(0));
  env.r["throughput.failed_calls"] = failures_total;
}

}  // namespace ps::bench
