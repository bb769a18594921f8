// The bridge call cost scenario: routes making n sequential ctx.kv.get calls, against the raw
// worker making as many fetch() calls to a constant server, on SQLite and on PostgreSQL.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "scenarios.h"

namespace ps::bench {
namespace {

namespace fs = std::filesystem;

// Routes with 1, 3, 10 and 100 sequential ctx.kv.get against a raw worker making as many fetch()
// calls, alternating sides; results under `prefix` (bridge: SQLite, bridge_pg: PostgreSQL).
void MeasureBridge(Env& env, runner::Runner& runner, const runner::PluginHandle& h,
                   const std::string& prefix) {
  UnixHttpClient raw(env.raw[0]->socket(), {"Content-Type: application/json"});
  std::string resp, err;
  std::string body = "{}";
  int failures = 0;
  std::map<int, Stats> ours, floor, ws;
  std::map<int, int> iters = {{1, env.sz.bridge_iters_1},
                              {3, env.sz.bridge_iters_1},
                              {10, env.sz.bridge_iters_10},
                              {100, env.sz.bridge_iters_100}};
  // Sides: 0 the raw worker's fetch() calls, 1 ours, 2 the raw worker's WebSocket messages.
  auto call = [&](int side, int n) -> double {
    auto t0 = Clock::now();
    bool ok;
    if (side != 1) {
      ok = raw.Post(
               std::string(side == 0 ? "http://raw/fetch/" : "http://raw/ws/") + std::to_string(n),
               &body, &resp) == 200;
    } else {
      json::object in;
      in["n"] = n;
      auto res = runner.InvokeRoute(h, "kv", in, json::object());
      ok = res.ok();
      if (!ok)
        err = std::string(ErrorCodeName(res.status().error_code())) + ": " + res.status().message();
    }
    double us = MicrosSince(t0);
    if (!ok) ++failures;
    return ok ? us : -1;
  };
  for (int n : {1, 3, 10, 100}) {  // warm-up
    for (int side = 0; side < 3; ++side) call(side, n);
  }
  for (int round = 0; round < env.sz.bridge_rounds; ++round) {
    for (auto [n, count] : iters) {
      for (int k = 0; k < 3; ++k) {
        int side = (k + round) % 3;
        for (int i = 0; i < count; ++i) {
          double us = call(side, n);
          if (us >= 0) (side == 0 ? floor : side == 1 ? ours : ws)[n].Add(us);
        }
      }
    }
  }
  if (failures > 0) env.Error(prefix + ": " + std::to_string(failures) + " failed calls " + err);
  for (int n : {1, 3, 10, 100}) {
    std::string k = prefix + ".n" + std::to_string(n);
    env.r[k + ".ours.median_us"] = ours[n].median();
    env.r[k + ".raw.median_us"] = floor[n].median();
    env.r[k + ".raw_ws.median_us"] = ws[n].median();
  }
  double o = (ours[100].median() - ours[1].median()) / 99;
  double f = (floor[100].median() - floor[1].median()) / 99;
  env.r[prefix + ".per_call.ours_us"] = o;
  env.r[prefix + ".per_call.raw_us"] = f;
  env.r[prefix + ".per_call.raw_ws_us"] = (ws[100].median() - ws[1].median()) / 99;
  if (f > 0) env.r[prefix + ".per_call.ratio"] = o / f;
}

}  // namespace

void ScenarioBridge(Env& env) {
  env.Progress("bridge calls on SQLite (ctx.kv.get against raw fetch() to a constant server)");
  MeasureBridge(env, *env.runner, env.echo[0], "bridge");
}

// The same routes with the site on PostgreSQL: a throwaway cluster on a Unix socket
// (scripts/pg-cluster), a second runner on it, the same echo plugin.
void ScenarioBridgePostgres(Env& env) {
  env.Progress("bridge calls on PostgreSQL (a throwaway cluster on a Unix socket)");
  std::string tmpl = (fs::temp_directory_path() / "ps-bench-pg-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    env.Error("bridge_pg: cannot create a temporary directory");
    return;
  }
  std::string script = std::string(PS_SOURCE_DIR) + "/scripts/pg-cluster";
  std::string url;
  if (FILE* p = popen((script + " start " + tmpl + " 2>&1").c_str(), "r")) {
    char buf[512];
    while (size_t n = fread(buf, 1, sizeof buf, p)) url.append(buf, n);
    if (pclose(p) != 0) {
      env.Error("bridge_pg: cannot start PostgreSQL: " + url);
      url.clear();
    }
  }
  url = url.substr(0, url.find('\n'));
  if (!url.empty()) {
    auto db = store::OpenDatabase(url);
    if (!db.ok()) {
      env.Error("bridge_pg: " + db.status().message());
    } else {
      runner::RunnerOptions ro;
      ro.data_dir = env.tmp + "/data-pg";
      ro.launcher_path = env.launcher;
      ro.workerd_path = env.workerd;
      auto r = runner::Runner::Create(**db, ro, bridge::BridgeOptions{});
      const auto* b = env.EchoBundle("echo-0");
      auto h = !r.ok() ? Result<runner::PluginHandle>(r.status())
               : !b    ? Result<runner::PluginHandle>(Internal("no echo-0 bundle"))
                       : (*r)->Load(*b);
      if (!h.ok()) {
        env.Error("bridge_pg: " + h.status().message());
      } else {
        MeasureBridge(env, **r, *h, "bridge_pg");
        auto sqlite = env.r.find("bridge.per_call.ours_us");
        if (sqlite != env.r.end() && sqlite->second > 0) {
          env.r["bridge_pg.per_call.vs_sqlite"] =
              env.r["bridge_pg.per_call.ours_us"] / sqlite->second;
        }
      }
    }
  }
  std::system((script + " kill " + tmpl + " >/dev/null 2>&1").c_str());
  std::error_code ec;
  fs::remove_all(tmpl, ec);
}

}  // namespace ps::bench
