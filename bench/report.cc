// The report: the targets of issue 6, the table ps_bench prints, the figures derived from others,
// the median over runs, and the JSON document it writes. Adding a figure to the table or a target
// is a change here only; the keys come from the scenarios (scenarios.h).
#include "report.h"

#include <sys/utsname.h>

#include <cstdio>
#include <ctime>
#include <map>
#include <sstream>
#include <thread>

namespace ps::bench {
namespace {

struct Target {
  std::string key, name;
  bool at_most;
  double bound;
};

std::vector<Target> Targets() {
  return {
      {"latency.runner.median_ratio", "runner API hook median <= 1.25x floor", true, 1.25},
      {"latency.runner.p99_ratio", "runner API hook p99 <= 1.5x floor", true, 1.5},
      {"latency.serve.median_ratio", "serve HTTP API hook median <= 1.6x floor", true, 1.6},
      {"bridge.per_call.ratio", "per bridge call (100-call route) <= 1.0x fetch() floor", true,
       1.0},
      {"throughput.p4.c16.ratio", "16 callers over 4 plugins >= 0.8x floor throughput", false, 0.8},
      {"cold.ratio", "10 plugins cold <= 2x one plugin", true, 2.0},
      {"memory.per_additional_plugin.mib", "<= 12 MiB PSS per additional plugin", true, 12},
      {"containment.spin.p99_ratio", "neighbour p99 during spin <= 1.5x its baseline", true, 1.5},
      {"containment.leak.p99_ratio", "neighbour p99 during leak <= 1.5x its baseline", true, 1.5},
      {"containment.reinstall.p99_ratio", "neighbour p99 during reinstall <= 1.5x its baseline",
       true, 1.5},
      {"containment.kill.over_budget_ms", "runaway loop killed within CPU budget + 25 ms", true,
       25},
      {"walls.start.cost_ms", "start-up cost of the kernel's layers <= 20 ms", true, 20},
      {"walls.latency.median_ratio", "hook median with the layers <= 1.05x without", true, 1.05},
      {"residency.first_call.ratio", "stopped plugin's first call <= 1.3x bare workerd start", true,
       1.3},
      {"residency.idle.per_idle_plugin.mib", "<= 1 MiB PSS per installed idle plugin", true, 1},
      {"residency.site.restart.ratio", "site with 10 plugins ready <= 1.2x with 1 (restart)", true,
       1.2},
      {"residency.neighbour.p99_ratio", "neighbour p99 while a plugin starts <= 1.3x baseline",
       true, 1.3},
  };
}

std::string Fmt(double v, int prec = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

std::string Get(const Results& r, const std::string& k, int prec = 1, double scale = 1) {
  auto it = r.find(k);
  return it == r.end() ? "-" : Fmt(it->second * scale, prec);
}

json::object ToJson(const Results& r) {
  json::object o;
  for (const auto& [k, v] : r) o[k] = v;
  return o;
}

std::string Now() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace

std::string Table(const Results& r, int runs) {
  std::ostringstream o;
  auto row = [&](const std::string& what, const std::string& ours, const std::string& floor,
                 const std::string& ratio) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "| %-50s | %14s | %14s | %7s |\n", what.c_str(), ours.c_str(),
                  floor.c_str(), ratio.c_str());
    o << buf;
  };
  o << (runs > 1 ? "Medians over " + std::to_string(runs) + " runs.\n\n" : std::string());
  row("figure", "plugin-sandbox", "raw floor", "ratio");
  o << "|" << std::string(52, '-') << "|" << std::string(16, '-') << "|" << std::string(16, '-')
    << "|" << std::string(9, '-') << "|\n";
  row("hook latency, runner API, median (us)", Get(r, "latency.runner.median_us"),
      Get(r, "latency.raw.median_us"), Get(r, "latency.runner.median_ratio", 2));
  row("hook latency, runner API, p99 (us)", Get(r, "latency.runner.p99_us"),
      Get(r, "latency.raw.p99_us"), Get(r, "latency.runner.p99_ratio", 2));
  row("hook latency, serve HTTP API, median (us)", Get(r, "latency.serve.median_us"),
      Get(r, "latency.raw.median_us"), Get(r, "latency.serve.median_ratio", 2));
  row("hook latency, serve HTTP API, p99 (us)", Get(r, "latency.serve.p99_us"),
      Get(r, "latency.raw.p99_us"), Get(r, "latency.serve.p99_ratio", 2));
  row("raw floor, POST of the hook's body, median (us)", Get(r, "latency.raw_post.median_us"),
      Get(r, "latency.raw.median_us"), Get(r, "latency.raw_post.median_ratio", 2));
  row("raw worker, the hook's body as a WebSocket message, median (us)",
      Get(r, "latency.raw_ws.median_us"), Get(r, "latency.raw.median_us"),
      Get(r, "latency.raw_ws.median_ratio", 2));
  row("CPU per call, host side, runner API (us)", Get(r, "cpu_per_call.runner.host_us"),
      Get(r, "cpu_per_call.raw.host_us") + " client", "");
  row("CPU per call, host side, serve + client (us)", Get(r, "cpu_per_call.serve.host_us"), "", "");
  row("CPU per call, plugin process, runner API (us)", Get(r, "cpu_per_call.runner.plugin_us"),
      Get(r, "cpu_per_call.raw.plugin_us"), "");
  row("CPU per call, raw worker, POST of the hook's body (us)",
      Get(r, "cpu_per_call.raw_post.plugin_us"), Get(r, "cpu_per_call.raw.plugin_us"), "");
  row("CPU per call, raw worker, WebSocket message (us)", Get(r, "cpu_per_call.raw_ws.plugin_us"),
      Get(r, "cpu_per_call.raw.plugin_us"), "");
  row("CPU per call, plugin process, serve (us)", Get(r, "cpu_per_call.serve.plugin_us"), "", "");
  for (int n : {1, 3, 10, 100}) {
    std::string k = "bridge.n" + std::to_string(n);
    row("route with " + std::to_string(n) + " kv.get (raw: fetch), median (us)",
        Get(r, k + ".ours.median_us"), Get(r, k + ".raw.median_us"), "");
  }
  row("per bridge call, from 1 vs 100 (us)", Get(r, "bridge.per_call.ours_us"),
      Get(r, "bridge.per_call.raw_us"), Get(r, "bridge.per_call.ratio", 2));
  row("raw worker, one WebSocket message round trip (us)", "", Get(r, "bridge.per_call.raw_ws_us"),
      "");
  for (int n : {1, 100}) {
    std::string k = "bridge_pg.n" + std::to_string(n);
    row("PostgreSQL: route with " + std::to_string(n) + " kv.get, median (us)",
        Get(r, k + ".ours.median_us"), Get(r, k + ".raw.median_us"), "");
  }
  row("PostgreSQL: per bridge call, from 1 vs 100 (us)", Get(r, "bridge_pg.per_call.ours_us"),
      Get(r, "bridge_pg.per_call.raw_us"), Get(r, "bridge_pg.per_call.ratio", 2));
  row("PostgreSQL per call / SQLite per call", "", "", Get(r, "bridge_pg.per_call.vs_sqlite", 2));
  for (int p : {1, 4}) {
    for (int c : {1, 4, 16}) {
      std::string k = "throughput.p" + std::to_string(p) + ".c" + std::to_string(c);
      row(std::to_string(c) + " callers, " + std::to_string(p) + " plugin(s): calls/s",
          Get(r, k + ".ours.calls_per_s", 0), Get(r, k + ".raw.calls_per_s", 0),
          Get(r, k + ".ratio", 2));
      row(std::to_string(c) + " callers, " + std::to_string(p) + " plugin(s): p99 (us)",
          Get(r, k + ".ours.p99_us", 0), Get(r, k + ".raw.p99_us", 0), "");
    }
  }
  row("cold start, 1 plugin, load to first call (ms)", Get(r, "cold.one.ms"),
      Get(r, "cold.raw_one.ms"), "");
  row("cold start, 10 plugins in parallel (ms)", Get(r, "cold.ten.ms"), Get(r, "cold.raw_ten.ms"),
      "");
  row("cold start, 10 vs 1 (x)", Get(r, "cold.ratio", 2), "", "");
  row("memory PSS, host with 1 plugin (MiB)", Get(r, "memory.host_1.mib"), "", "");
  row("memory PSS, host with 10 plugins (MiB)", Get(r, "memory.host_10.mib"), "", "");
  row("memory PSS, serve host with 1 plugin (MiB)", Get(r, "memory.serve_host_1.mib"), "", "");
  row("memory PSS, plugin process, 1 plugin (MiB)", Get(r, "memory.plugin_1.mib"),
      Get(r, "memory.raw_1.mib"), "");
  row("memory PSS, plugin process, avg of 10 (MiB)", Get(r, "memory.plugin_10_avg.mib"),
      Get(r, "memory.raw_10_avg.mib"), "");
  row("memory PSS per additional plugin (MiB)", Get(r, "memory.per_additional_plugin.mib"),
      Get(r, "memory.raw_per_additional.mib"), "");
  row("RSS of echo-0 / raw-0 after the runs above (MiB)", Get(r, "memory.rss_after_load.ours.mib"),
      Get(r, "memory.rss_after_load.raw.mib"), "");
  row("echo-0 restarts so far (RSS watchdog kills)", Get(r, "memory.rss_after_load.restarts", 0),
      "", "");
  row("echo-0 CPU reprieves so far (over budget in a GC)",
      Get(r, "memory.rss_after_load.cpu_reprieves", 0), "", "");
  for (const char* c : {"spin", "leak", "reinstall", "raw_restart"}) {
    std::string k = std::string("containment.") + c;
    row(std::string("neighbour during ") + c + ": median (us)", Get(r, k + ".median_us"),
        Get(r, k + ".base_median_us") + " base", Get(r, k + ".median_ratio", 2));
    row(std::string("neighbour during ") + c + ": p99 (us)", Get(r, k + ".p99_us"),
        Get(r, k + ".base_p99_us") + " base", Get(r, k + ".p99_ratio", 2));
    row(std::string("  CPU the ") + c + " culprit's processes burned (cores)",
        Get(r, k + ".culprit_cores", 2), "", "");
  }
  row("plugin start-up, layers on / off, median (ms)", Get(r, "walls.start.on_median_ms"),
      Get(r, "walls.start.off_median_ms"), Get(r, "walls.start.cost_ms") + " ms");
  row("hook latency, layers on / off, median (us)", Get(r, "walls.latency.on_median_us"),
      Get(r, "walls.latency.off_median_us"), Get(r, "walls.latency.median_ratio", 3));
  row("hook latency, layers on / off, p99 (us)", Get(r, "walls.latency.on_p99_us"),
      Get(r, "walls.latency.off_p99_us"), Get(r, "walls.latency.p99_ratio", 3));
  row("runaway loop: invoke to cpu_limit_exceeded (ms)", Get(r, "containment.kill.median_ms"),
      Get(r, "containment.kill.budget_ms", 0) + " budget", "");
  row("runaway loop: slowest kill (ms)", Get(r, "containment.kill.max_ms"), "", "");
  row("runaway loop: its own CPU time before the kill (ms)",
      Get(r, "containment.kill.cpu_median_ms"), Get(r, "containment.kill.budget_ms", 0) + " budget",
      "");
  row("heap bomb: invoke to memory kill, median (ms)", Get(r, "containment.leak.event_median_ms"),
      "", "");
  row("reinstall (Load replacing a loaded plugin) (ms)",
      Get(r, "containment.reinstall.load_median_ms"), "", "");
  row("stopped plugin: first call / bare workerd start to answer (ms)",
      Get(r, "residency.first_call.ms"), Get(r, "residency.raw_first_response.ms"),
      Get(r, "residency.first_call.ratio", 2));
  row("running plugin: warm call, median (us)", Get(r, "residency.warm.median_us"), "", "");
  row("PSS, host + processes: 5 plugins in use (MiB)", Get(r, "residency.idle.pss_5.mib"), "", "");
  row("PSS, host + processes: the same 5 among 100 installed (MiB)",
      Get(r, "residency.idle.pss_100.mib"), "", "");
  row("PSS per installed idle plugin (MiB)", Get(r, "residency.idle.per_idle_plugin.mib", 3), "",
      "");
  row("load of a known module, not started (us)", Get(r, "residency.idle.load_known_us", 0), "",
      "");
  row("serve ready, restart, 1 / 10 installed plugins (ms)", Get(r, "residency.site.restart_1.ms"),
      Get(r, "residency.site.restart_10.ms") + " (10)", Get(r, "residency.site.restart.ratio", 2));
  row("serve ready, first start, 1 / 10 new plugins (ms)", Get(r, "residency.site.first_1.ms"),
      Get(r, "residency.site.first_10.ms") + " (10)", Get(r, "residency.site.first.ratio", 2));
  row("neighbour p99 alone / while a plugin starts (us)",
      Get(r, "residency.neighbour.p99_base_us", 0),
      Get(r, "residency.neighbour.p99_starting_us", 0), Get(r, "residency.neighbour.p99_ratio", 2));
  row("  on-demand starts during that", Get(r, "residency.neighbour.starts", 0), "", "");
  return o.str();
}

std::string TargetsText(const Results& r) {
  std::ostringstream o;
  for (const auto& t : Targets()) {
    auto it = r.find(t.key);
    std::string verdict = "n/a";
    std::string value = "-";
    if (it != r.end()) {
      bool met = t.at_most ? it->second <= t.bound : it->second >= t.bound;
      verdict = met ? "met" : "NOT MET";
      value = Fmt(it->second, 2);
    }
    char buf[256];
    std::snprintf(buf, sizeof buf, "  %-8s %-58s (%s)\n", verdict.c_str(), t.name.c_str(),
                  value.c_str());
    o << buf;
  }
  return o.str();
}

void Derive(Results& r) {
  if (r.count("containment.kill.median_ms") && r.count("containment.kill.budget_ms") &&
      r["containment.spin.kills"] > 0) {
    r["containment.kill.over_budget_ms"] =
        r["containment.kill.median_ms"] - r["containment.kill.budget_ms"];
  }
}

Results MedianOf(const std::vector<Results>& runs) {
  std::map<std::string, std::vector<double>> all;
  for (const auto& run : runs)
    for (const auto& [k, v] : run) all[k].push_back(v);
  Results out;
  for (auto& [k, vs] : all) out[k] = Median(vs);
  return out;
}

json::object JsonDocument(const RunSummary& s) {
  json::object doc;
  json::object meta;
  meta["date"] = Now();
  meta["smoke"] = s.smoke;
  meta["runs"] = int64_t(s.runs.size());
  meta["seconds"] = s.seconds;
  meta["load_average_before"] = s.load_before;
  meta["load_average_after"] = s.load_after;
  meta["cpus"] = int64_t(std::thread::hardware_concurrency());
  struct utsname u;
  if (uname(&u) == 0) meta["kernel"] = std::string(u.release);
  doc["meta"] = std::move(meta);
  doc["median"] = ToJson(s.median);
  json::array jr;
  for (const auto& r : s.runs) jr.push_back(ToJson(r));
  doc["runs"] = std::move(jr);
  json::array jt;
  for (const auto& t : Targets()) {
    json::object o;
    o["key"] = t.key;
    o["target"] = t.name;
    if (auto it = s.median.find(t.key); it != s.median.end()) {
      o["value"] = it->second;
      o["met"] = t.at_most ? it->second <= t.bound : it->second >= t.bound;
    }
    jt.push_back(std::move(o));
  }
  doc["targets"] = std::move(jt);
  json::array je, jn;
  for (const auto& e : s.errors) je.push_back(json::string(e));
  for (const auto& n : s.notes) jn.push_back(json::string(n));
  doc["errors"] = std::move(je);
  doc["notes"] = std::move(jn);
  return doc;
}

}  // namespace ps::bench
