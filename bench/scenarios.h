// The scenarios of ps_bench, one file each (scenario_<name>.cc; residency has residency.h). Each
// measures plugin-sandbox next to its floor in the same run and writes its figures into env.r
// under the keys listed here; what the figures mean is docs/performance.md's business. A
// scenario reports what went wrong through env.Error (the run then exits non-zero) and what is
// merely worth knowing through env.notes.
#pragma once

#include "harness.h"

namespace ps::bench {

// `--only cold` (scenario_cold.cc). Needs no standing set.
// Load to first successful hook call for 1 plugin and for 10 loaded in parallel, against raw
// workerd processes from spawn to first answer; proportional memory (PSS) of the host and the
// plugin processes after the first repeat, against the raw processes'.
//   cold.one.ms, cold.ten.ms, cold.ratio, cold.raw_one.ms, cold.raw_ten.ms
//   memory.{host,plugin,total}_1.mib, memory.{host,total}_10.mib, memory.plugin_10_avg.mib,
//   memory.per_additional_plugin.mib, memory.raw_1.mib, memory.raw_10_avg.mib,
//   memory.raw_per_additional.mib
void ScenarioColdAndMemory(Env& env);

// `--only latency` (scenario_latency.cc). Needs the standing set (echo-0, raw-0).
// Sequential echo-hook calls, kinds interleaved in rotating rounds: raw (GET of the raw worker,
// the floor), runner (the runner API), serve (the HTTP API of a `plugin-sandbox serve` child;
// skipped when the binary is missing), raw_post (the hook's body POSTed to the raw worker),
// raw_ws (the same body as a WebSocket message, the invocation channel's own floor). Also the
// CPU each call costs on the host side and in the process that answered.
//   latency.<kind>.median_us, latency.<kind>.p99_us
//   latency.<kind>.median_ratio, latency.<kind>.p99_ratio   (every kind but raw, against raw)
//   cpu_per_call.<kind>.host_us, cpu_per_call.<kind>.plugin_us
//   memory.serve_host_1.mib
void ScenarioLatency(Env& env);

// `--only bridge` (scenario_bridge.cc). Needs the standing set (echo-0, raw-0).
// Routes making 1, 3, 10 and 100 sequential ctx.kv.get on SQLite, against the raw worker making
// as many fetch() calls to the const server (raw) or WebSocket round trips (raw_ws); the cost
// of one bridge call is the slope between 1 and 100.
//   bridge.n<N>.ours.median_us, bridge.n<N>.raw.median_us, bridge.n<N>.raw_ws.median_us
//   bridge.per_call.ours_us, bridge.per_call.raw_us, bridge.per_call.raw_ws_us,
//   bridge.per_call.ratio
void ScenarioBridge(Env& env);

// The second half of `--only bridge`, skipped with --no-postgres: the same routes with a second
// runner on a throwaway PostgreSQL cluster (scripts/pg-cluster). Runs after ScenarioBridge,
// whose per-call figure it is compared with.
//   bridge_pg.* (the same keys as bridge.*), bridge_pg.per_call.vs_sqlite
void ScenarioBridgePostgres(Env& env);

// `--only throughput` (scenario_throughput.cc). Needs the standing set (all four of each).
// 1, 4 and 16 callers in closed loops over 1 and 4 plugins, ours and the raw floor alternating
// which goes first; then echo-0's resident memory after everything so far, against raw-0's.
//   throughput.p<P>.c<C>.{ours,raw}.calls_per_s, throughput.p<P>.c<C>.{ours,raw}.p99_us,
//   throughput.p<P>.c<C>.ratio, throughput.failed_calls
//   memory.rss_after_load.ours.mib, memory.rss_after_load.raw.mib,
//   memory.rss_after_load.restarts, memory.rss_after_load.cpu_reprieves
void ScenarioThroughput(Env& env);

// `--only containment` (scenario_containment.cc). Needs the standing set (it runs after it; its
// own plugins are loaded here).
// A fresh neighbour's hook latency alone and while a culprit runs beside it: spin (a route that
// never returns, killed for CPU), leak (a heap bomb, killed for memory), reinstall (Load of a
// loaded plugin in a loop), raw_restart (raw workerd started and killed in a loop, the floor of
// a reinstall); and how long a runaway loop lives.
//   containment.<culprit>.{base_median_us,base_p99_us,median_us,p99_us,median_ratio,p99_ratio,
//   culprit_cores}
//   containment.spin.kills, containment.kill.{median_ms,max_ms,cpu_median_ms,budget_ms}
//   containment.leak.{events,event_median_ms,memory_kills}
//   containment.reinstall.{events,load_median_ms}
// (containment.kill.over_budget_ms is derived from these in report.cc.)
void ScenarioContainment(Env& env);

// The kernel's wall, priced (two runners, layers on and off, measured in turns):
//   walls.full, walls.start.{on_median_ms,off_median_ms,cost_ms},
//   walls.latency.{on_median_us,off_median_us,on_p99_us,off_p99_us,median_ratio,p99_ratio}
void ScenarioWalls(Env& env);

}  // namespace ps::bench
