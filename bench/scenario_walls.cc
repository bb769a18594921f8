// The kernel's wall, priced: the same echo plugin on two runners of one host process, one with
// every containment layer this machine allows and one with containment off, measured in turns so
// that both see the same machine. Start-up is a Load to the first answered hook (spawn, the
// launcher's namespaces, new root, seccomp and cgroup, workerd's start); latency is the hook's
// round trip on a warm process.
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>

#include "scenarios.h"

namespace ps::bench {

namespace {

struct Side {
  std::unique_ptr<runner::Runner> runner;
  std::string summary;
};

std::unique_ptr<Side> MakeSide(Env& env, const std::string& name, bool contained) {
  runner::RunnerOptions ro;
  ro.data_dir = env.tmp + "/walls-" + name;
  ro.launcher_path = env.launcher;
  ro.workerd_path = env.workerd;
  ro.supervision.containment.enabled = contained;
  auto r = runner::Runner::Create(*env.db, ro, bridge::BridgeOptions{});
  if (!r.ok()) {
    env.Error("walls: runner " + name + ": " + r.status().message());
    return nullptr;
  }
  auto side = std::make_unique<Side>();
  side->runner = std::move(r).value();
  side->summary = side->runner->containment().Summary();
  return side;
}

bool Hook(runner::Runner& r, const runner::PluginHandle& h, const json::value& event,
          std::string* err) {
  auto res = r.InvokeHook(h, kHook, event);
  if (!res.ok()) *err = res.status().message();
  return res.ok();
}

}  // namespace

void ScenarioWalls(Env& env) {
  env.Progress("walls: start-up and latency with the kernel's layers on and off");
  json::value event = HookEvent();
  auto on = MakeSide(env, "on", true);
  auto off = MakeSide(env, "off", false);
  if (!on || !off) return;
  env.r["walls.full"] = on->runner->containment().full() ? 1 : 0;
  const int starts = env.opt.smoke ? 2 : 15;
  const int rounds = env.opt.smoke ? 2 : 10;
  const int per_round = env.opt.smoke ? 20 : 300;
  std::string err;

  // Start-up: Load, first answered hook, Terminate; alternating sides.
  Stats start[2];
  for (int i = 0; i < starts; ++i) {
    for (int s = 0; s < 2; ++s) {
      Side& side = s == 0 ? *on : *off;
      const auto* b = env.EchoBundle("walls-" + std::to_string(s) + "-" + std::to_string(i));
      if (!b) return;
      auto t0 = Clock::now();
      auto h = side.runner->Load(*b);
      if (!h.ok()) {
        env.Error("walls: load: " + h.status().message());
        return;
      }
      bool answered = false;
      for (int attempt = 0; attempt < 100 && MicrosSince(t0) < 30e6 && !answered; ++attempt) {
        answered = Hook(*side.runner, *h, event, &err);
      }
      if (!answered) {
        env.Error("walls: first hook: " + err);
        return;
      }
      start[s].Add(MicrosSince(t0) / 1000);
      (void)side.runner->Terminate(*h);
    }
  }

  // Latency on warm processes, in alternating rounds.
  runner::PluginHandle h[2];
  for (int s = 0; s < 2; ++s) {
    Side& side = s == 0 ? *on : *off;
    const auto* b = env.EchoBundle("walls-warm-" + std::to_string(s));
    auto loaded = b ? side.runner->Load(*b) : Result<runner::PluginHandle>(Internal("no bundle"));
    if (!loaded.ok()) {
      env.Error("walls: load: " + loaded.status().message());
      return;
    }
    h[s] = *loaded;
    for (int i = 0; i < per_round; ++i) (void)Hook(*side.runner, h[s], event, &err);  // warm-up
  }
  Stats lat[2];
  for (int round = 0; round < rounds; ++round) {
    for (int s = 0; s < 2; ++s) {
      Side& side = s == 0 ? *on : *off;
      for (int i = 0; i < per_round; ++i) {
        auto t0 = Clock::now();
        if (Hook(*side.runner, h[s], event, &err)) lat[s].Add(MicrosSince(t0));
      }
    }
  }
  env.r["walls.start.on_median_ms"] = start[0].median();
  env.r["walls.start.off_median_ms"] = start[1].median();
  env.r["walls.start.cost_ms"] = start[0].median() - start[1].median();
  env.r["walls.latency.on_median_us"] = lat[0].median();
  env.r["walls.latency.off_median_us"] = lat[1].median();
  env.r["walls.latency.on_p99_us"] = lat[0].p99();
  env.r["walls.latency.off_p99_us"] = lat[1].p99();
  if (lat[1].median() > 0) env.r["walls.latency.median_ratio"] = lat[0].median() / lat[1].median();
  if (lat[1].p99() > 0) env.r["walls.latency.p99_ratio"] = lat[0].p99() / lat[1].p99();
  env.Progress("walls: " + on->summary);
}

}  // namespace ps::bench
