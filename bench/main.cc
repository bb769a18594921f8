// ps_bench: plugin-sandbox against the physical floor of a workerd-based design, side by side in
// one run. See docs/performance.md for what each figure means and the targets (issue 6).
//
//   ps_bench [--smoke] [--runs N] [--json PATH] [--only LIST] [--verbose]
//
// Every figure is measured next to its floor in the same run (interleaved in rounds where it can
// be), so a busy machine slows both sides. With --runs N the whole suite runs N times and the
// table shows the median of each figure (and of each ratio) over the runs.
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "floor.h"
#include "manifest/bundle.h"
#include "residency.h"
#include "runner/invoke_channel.h"
#include "runner/limits.h"
#include "runner/runner.h"
#include "serve_process.h"
#include "store/database.h"
#include "util.h"

namespace ps::bench {
namespace {

namespace fs = std::filesystem;
using Results = std::map<std::string, double>;

// ---- options and sizes ------------------------------------------------------------------------

struct Options {
  bool smoke = false;
  int runs = 1;
  std::string json_path;
  std::set<std::string> only;  // empty: every scenario
  bool verbose = false;
  bool no_postgres = false;  // skip the bridge scenario's PostgreSQL half
};

const std::vector<std::string> kScenarios = {"cold",   "residency",  "latency",
                                             "bridge", "throughput", "containment"};

struct Sizes {
  int latency_rounds, latency_per_round, latency_warmup;
  int bridge_rounds, bridge_iters_1, bridge_iters_10, bridge_iters_100;
  double throughput_seconds, throughput_warmup_seconds;
  int cold_repeats;
  double containment_seconds;
};

Sizes SizesFor(bool smoke) {
  if (smoke) return Sizes{1, 20, 5, 1, 4, 3, 2, 0.15, 0.03, 1, 0.4};
  return Sizes{10, 300, 200, 5, 60, 20, 6, 1.25, 0.25, 3, 2.5};
}

// ---- the plugins ------------------------------------------------------------------------------

constexpr const char* kHook = "content:beforeSave";

// A hook that returns its input, and a route making n sequential ctx.kv.get calls.
std::string EchoManifest(const std::string& id) {
  return R"({"id":")" + id +
         R"(","version":"1.0.0","capabilities":["content:write"],"hooks":["content:beforeSave"],"routes":["kv"]})";
}
constexpr const char* kEchoSource = R"JS(
export default {
  hooks: { "content:beforeSave": async (event) => event },
  routes: {
    kv: async ({ input }, ctx) => {
      const n = Math.min(1000, Number(input && input.n) | 0);
      for (let i = 0; i < n; i++) await ctx.kv.get("k");
      return { n };
    },
  },
};
)JS";
constexpr const char* kSpinManifest = R"({"id":"spinner","version":"1.0.0","routes":["spin"]})";
constexpr const char* kSpinSource = "export default { routes: { spin: () => { for (;;) {} } } };\n";
constexpr const char* kLeakManifest = R"({"id":"leaker","version":"1.0.0","routes":["bomb"]})";
constexpr const char* kLeakSource =
    "export default { routes: { bomb: () => { const a = []; "
    "for (;;) a.push({ s: 'x'.repeat(64) + a.length }); } } };\n";
constexpr const char* kChurnManifest = R"({"id":"churn","version":"1.0.0","routes":["v"]})";
constexpr const char* kChurnSource = "export default { routes: { v: () => 1 } };\n";

json::value HookEvent() {
  json::object content;
  content["title"] = "Hello";
  content["body"] = "A benchmark post, returned as it came.";
  json::object e;
  e["content"] = std::move(content);
  e["collection"] = "posts";
  e["isNew"] = true;
  return e;
}

// ---- the environment of one run ---------------------------------------------------------------

struct Env {
  Options opt;
  Sizes sz;
  std::string tmp, launcher, workerd, serve_binary;
  bool netns = false;
  std::unique_ptr<store::Database> db;
  std::unique_ptr<runner::Runner> runner;
  std::unique_ptr<ConstServer> const_server;
  std::vector<std::unique_ptr<RawWorkerd>> raw;  // the floor's workers, one per echo plugin
  std::vector<runner::PluginHandle> echo;        // echo-0 .. echo-3
  std::map<std::string, manifest::Bundle> bundles;
  Results r;
  std::vector<std::string> errors;
  std::vector<std::string> notes;
  int raw_seq = 0;

  std::mutex mu;  // errors may come from loader threads

  void Error(const std::string& e) {
    std::lock_guard<std::mutex> lock(mu);
    errors.push_back(e);
    std::fprintf(stderr, "ps_bench: %s\n", e.c_str());
  }
  void Progress(const std::string& s) const {
    std::fprintf(stderr, "  .. %s\n", s.c_str());
    std::fflush(stderr);
  }

  const manifest::Bundle* Bundle(const std::string& id, const std::string& manifest,
                                 const std::string& source) {
    if (auto it = bundles.find(id); it != bundles.end()) return &it->second;
    std::string dir = tmp + "/bundles/" + id;
    std::error_code ec;
    fs::create_directories(dir, ec);
    WriteFileText(dir + "/manifest.json", manifest);
    WriteFileText(dir + "/backend.js", source);
    auto b = manifest::LoadBundle(dir);
    if (!b.ok()) {
      Error("bundle " + id + ": " + b.status().message());
      return nullptr;
    }
    return &(bundles[id] = std::move(b).value());
  }
  const manifest::Bundle* EchoBundle(const std::string& id) {
    return Bundle(id, EchoManifest(id), kEchoSource);
  }

  std::unique_ptr<RawWorkerd> StartRaw() {
    RawWorkerdOptions o;
    o.dir = tmp + "/raw" + std::to_string(raw_seq++);
    o.launcher = launcher;
    o.workerd = workerd;
    o.fetch_socket = const_server->path();
    o.netns = netns;
    return RawWorkerd::Start(o);
  }
};

std::string HookPayload() {
  json::object o;
  o["event"] = HookEvent();
  return Stringify(o);
}

// One raw call: the same request body as a hook invocation, answered with a constant.
bool RawCall(UnixHttpClient& c, const std::string& payload, std::string* resp) {
  return c.Post("http://raw/hook/content%3AbeforeSave", &payload, resp) == 200;
}

bool RunnerHook(Env& env, const runner::PluginHandle& h, const json::value& event,
                std::string* err = nullptr) {
  auto res = env.runner->InvokeHook(h, kHook, event);
  if (!res.ok() && err) *err = res.status().detail_code() + ": " + res.status().message();
  return res.ok();
}

// ---- scenario: cold start and memory ----------------------------------------------------------

double MiB(int64_t bytes) { return double(bytes) / double(1 << 20); }

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

// ---- scenario: sequential hook latency --------------------------------------------------------

void ScenarioLatency(Env& env) {
  env.Progress("hook latency (runner API, serve HTTP API, raw floor)");
  json::value event = HookEvent();
  std::string payload = HookPayload();
  const auto& h = env.echo[0];
  std::string err;
  {
    auto res = env.runner->InvokeHook(h, kHook, event);
    if (!res.ok() || Stringify(*res) != Stringify(event)) {
      env.Error("the echo hook did not return its input: " +
                (res.ok() ? Stringify(*res) : res.status().message()));
      return;
    }
  }
  UnixHttpClient raw(env.raw[0]->socket(), {});
  UnixHttpClient raw_post(env.raw[0]->socket(), {"Content-Type: application/json"});

  // serve: its own data directory, the same echo plugin installed at start.
  std::unique_ptr<ServeProcess> serve;
  std::unique_ptr<UnixHttpClient> serve_client;
  std::string serve_url = "http://localhost/v1/plugins/echo-0/hooks/content:beforeSave";
  if (access(env.serve_binary.c_str(), X_OK) == 0) {
    std::string plugins = env.tmp + "/serve-plugins";
    std::error_code ec;
    fs::create_directories(plugins + "/echo-0", ec);
    WriteFileText(plugins + "/echo-0/manifest.json", EchoManifest("echo-0"));
    WriteFileText(plugins + "/echo-0/backend.js", kEchoSource);
    serve =
        std::make_unique<ServeProcess>(env.serve_binary, env.launcher, env.tmp + "/serve", plugins);
    if (!serve->ok()) {
      env.Error("serve: " + serve->error());
      serve.reset();
    } else {
      serve_client = std::make_unique<UnixHttpClient>(
          serve->socket(), std::vector<std::string>{"Authorization: Bearer " + serve->token(),
                                                    "Content-Type: application/json"});
      std::string resp;
      long st = 0;
      // Installed at start; the first call may race the plugin's readiness (bounded).
      for (int i = 0; i < 500 && (st = serve_client->Post(serve_url, &payload, &resp)) != 200;
           ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling for readiness
      }
      auto v = ParseJson(resp);
      if (st != 200 || !v.ok() || !v->is_object() || !v->get_object().if_contains("value") ||
          Stringify(v->at("value")) != Stringify(event)) {
        env.Error("serve hook call failed: " + std::to_string(st) + " " + resp);
        serve_client.reset();
        serve.reset();
      }
    }
  } else {
    env.notes.push_back("serve binary not found at " + env.serve_binary + ": serve skipped");
  }

  // The kinds, measured in rotating order within every round.
  enum Kind { kRaw, kRunner, kServe, kRawPost, kRawWs, kKinds };
  const char* names[kKinds] = {"raw", "runner", "serve", "raw_post", "raw_ws"};
  std::vector<int> kinds = {kRaw, kRunner, kRawPost};
  // The invocation channel's own floor: the raw worker answering messages on one WebSocket.
  std::unique_ptr<runner::InvokeChannel> raw_ws;
  if (runner::InvokeChannel::Open(env.raw[0]->socket(), "Bearer none",
                                  Clock::now() + std::chrono::seconds(5),
                                  &raw_ws) == runner::InvokeChannel::Outcome::kOk) {
    kinds.push_back(kRawWs);
  } else {
    env.Error("latency: cannot open a WebSocket to the raw worker");
  }
  uint64_t raw_ws_ids = 0;
  if (serve_client) kinds.push_back(kServe);
  Stats stats[kKinds];
  int failures[kKinds] = {0, 0, 0, 0, 0};
  std::string resp;
  // CPU per call, host side (this process: the runner, or only the client for raw and serve;
  // plus serve's own process) and plugin side (the workerd process that answered).
  pid_t self = getpid();
  pid_t plugin_pid = 0;
  if (auto info = env.runner->Info(h.id)) plugin_pid = info->pid;
  pid_t serve_plugin_pid = 0;
  if (serve) {
    auto kids = ChildPids(serve->pid());
    if (kids.size() == 1) serve_plugin_pid = kids[0];
  }
  struct Cpu {
    double host = 0, plugin = 0;
    int calls = 0;
  } cpu[kKinds];
  auto sample = [&](int which) {
    Cpu c;
    c.host = ProcessCpuUs(self) + (which == kServe ? ProcessCpuUs(serve->pid()) : 0);
    pid_t pp = which == kRunner  ? plugin_pid
               : which == kServe ? serve_plugin_pid
                                 : env.raw[0]->pid();
    c.plugin = pp ? ProcessCpuUs(pp) : 0;
    return c;
  };
  auto one = [&](int which, Stats* into) {
    auto t0 = Clock::now();
    bool ok = false;
    switch (which) {
      case kRaw:
        ok = raw.Post("http://raw/", nullptr, &resp) == 200;
        break;
      case kRunner:
        ok = RunnerHook(env, h, event, &err);
        break;
      case kServe:
        ok = serve_client->Post(serve_url, &payload, &resp) == 200;
        break;
      case kRawPost:
        ok = RawCall(raw_post, payload, &resp);
        break;
      case kRawWs: {
        long st = 0;
        ok = raw_ws->Call(std::to_string(++raw_ws_ids), "/hook/" + std::string(kHook), payload,
                          Clock::now() + std::chrono::seconds(5), &st,
                          &resp) == runner::InvokeChannel::Outcome::kOk &&
             st == 200;
        if (ok && raw_ws->uses() >= 1000) {  // as the runner does: a fresh one every 1000
          ok = runner::InvokeChannel::Open(env.raw[0]->socket(), "Bearer none",
                                           Clock::now() + std::chrono::seconds(5),
                                           &raw_ws) == runner::InvokeChannel::Outcome::kOk;
        }
        break;
      }
    }
    double us = MicrosSince(t0);
    if (!ok) ++failures[which];
    if (into && ok) into->Add(us);
  };
  for (int w = 0; w < env.sz.latency_warmup; ++w)
    for (int k : kinds) one(k, nullptr);
  for (int round = 0; round < env.sz.latency_rounds; ++round) {
    for (size_t k = 0; k < kinds.size(); ++k) {
      int which = kinds[(k + size_t(round)) % kinds.size()];  // rotate who goes first
      Cpu before = sample(which);
      for (int i = 0; i < env.sz.latency_per_round; ++i) one(which, &stats[which]);
      Cpu after = sample(which);
      cpu[which].host += after.host - before.host;
      cpu[which].plugin += after.plugin - before.plugin;
      cpu[which].calls += env.sz.latency_per_round;
    }
  }
  for (int k : kinds) {
    if (failures[k]) {
      env.Error(std::string("latency ") + names[k] + ": " + std::to_string(failures[k]) +
                " failed calls" + (k == kRunner ? " " + err : std::string()));
    }
    std::string p = std::string("latency.") + names[k];
    env.r[p + ".median_us"] = stats[k].median();
    env.r[p + ".p99_us"] = stats[k].p99();
    if (k != kRaw && stats[kRaw].count() && stats[k].count()) {
      env.r[p + ".median_ratio"] = stats[k].median() / stats[kRaw].median();
      env.r[p + ".p99_ratio"] = stats[k].p99() / stats[kRaw].p99();
    }
    std::string c = std::string("cpu_per_call.") + names[k];
    if (cpu[k].calls) {
      env.r[c + ".host_us"] = cpu[k].host / cpu[k].calls;
      if (k != kServe || serve_plugin_pid) env.r[c + ".plugin_us"] = cpu[k].plugin / cpu[k].calls;
    }
  }
  // Keep-alive holds on every client of ours (one connection each), or the floor is not a floor.
  for (auto [name, client] : {std::pair<const char*, UnixHttpClient*>{"raw", &raw},
                              {"raw_post", &raw_post},
                              {"serve", serve_client.get()}}) {
    if (client && client->connects() > 1) {
      env.notes.push_back(std::string("latency: the ") + name + " client opened " +
                          std::to_string(client->connects()) + " connections (keep-alive lost)");
    }
  }
  if (serve) env.r["memory.serve_host_1.mib"] = MiB(PssBytes(serve->pid()).value_or(0));
}

// ---- scenario: bridge call cost ---------------------------------------------------------------

// Routes with 1, 10 and 100 sequential ctx.kv.get against a raw worker making as many fetch()
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
      if (!ok) err = res.status().detail_code() + ": " + res.status().message();
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
      auto h = r.ok() && b ? (*r)->Load(*b) : Result<runner::PluginHandle>(r.status());
      if (!h.ok()) {
        env.Error("bridge_pg: " + h.status().message());
      } else {
        MeasureBridge(env, **r, *h, "bridge_pg");
        env.r["bridge_pg.per_call.vs_sqlite"] =
            env.r["bridge_pg.per_call.ours_us"] / env.r["bridge.per_call.ours_us"];
      }
    }
  }
  std::system((script + " kill " + tmpl + " >/dev/null 2>&1").c_str());
  std::error_code ec;
  fs::remove_all(tmpl, ec);
}

// ---- scenario: throughput ---------------------------------------------------------------------

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

// CPU time of every child process reaped so far, in microseconds.
double ChildrenCpuUs() {
  struct rusage ru = {};
  getrusage(RUSAGE_CHILDREN, &ru);
  auto us = [](const timeval& t) { return double(t.tv_sec) * 1e6 + double(t.tv_usec); };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

// ---- scenario: containment --------------------------------------------------------------------

// Waits (bounded) until plugin `id` runs a ready process other than `not_pid`; returns its pid.
pid_t WaitReadyProcess(runner::Runner& r, const std::string& id, pid_t not_pid,
                       std::chrono::milliseconds limit, const std::atomic<bool>& stop) {
  auto deadline = Clock::now() + limit;
  for (int i = 0; i < 1000000 && Clock::now() < deadline && !stop; ++i) {
    auto info = r.Info(id);
    if (info && info->state == runner::PluginState::kReady && info->pid != 0 &&
        info->pid != not_pid) {
      return info->pid;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling for the restart
  }
  return 0;
}

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
           std::string code = res.ok() ? "ok" : res.status().detail_code();
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
           ++leak_codes[res.ok() ? "ok" : res.status().detail_code()];
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
    // Let the culprit get going before measuring.
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

// ---- one run ----------------------------------------------------------------------------------

bool Wanted(const Options& o, const std::string& s) { return o.only.empty() || o.only.count(s); }

Results RunOnce(const Options& opt, std::vector<std::string>* errors,
                std::vector<std::string>* notes) {
  Env env;
  env.opt = opt;
  env.sz = SizesFor(opt.smoke);
  std::string tmpl = (fs::temp_directory_path() / "ps-bench-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    errors->push_back("cannot create a temporary directory");
    return {};
  }
  env.tmp = tmpl;
  env.launcher = PS_BINARY_DIR "/src/plugin-sandbox-launch";
  env.serve_binary = PS_BINARY_DIR "/src/plugin-sandbox";
  env.workerd = runner::FindWorkerd(PS_SOURCE_DIR);
  if (env.workerd.empty()) {
    errors->push_back("workerd not found: run scripts/bootstrap");
    return {};
  }
  auto db = store::OpenDatabase("sqlite:" + env.tmp + "/site.db");
  if (!db.ok()) {
    errors->push_back("database: " + db.status().message());
    return {};
  }
  env.db = std::move(db).value();
  runner::RunnerOptions ro;
  ro.data_dir = env.tmp + "/data";
  ro.launcher_path = env.launcher;
  ro.workerd_path = env.workerd;
  ro.supervision.stop_timeout = std::chrono::milliseconds(2000);
  // The culprits are restarted at once, every time, and never quarantined: the neighbour sees
  // the worst sustained case (the default policy backs off and quarantines after 5 failures).
  ro.supervision.restart_delays = {std::chrono::milliseconds(0)};
  ro.supervision.max_failures = 1000000;
  // The heap bomb gets CPU enough to reach its memory limit (with 50 ms it is killed for CPU).
  runner::Limits leak_limits;
  leak_limits.cpu_ms = 5000;
  ro.plugin_limits["leaker"] = leak_limits;
  auto r = runner::Runner::Create(*env.db, ro, bridge::BridgeOptions{});
  if (!r.ok()) {
    errors->push_back("runner: " + r.status().message());
    return {};
  }
  env.runner = std::move(r).value();
  env.netns = env.runner->network_namespace_active();
  env.const_server = std::make_unique<ConstServer>(env.tmp + "/const.sock");
  if (!env.const_server->ok()) {
    errors->push_back("cannot listen on " + env.tmp + "/const.sock");
    return {};
  }

  if (Wanted(opt, "cold")) ScenarioColdAndMemory(env);
  if (Wanted(opt, "residency")) {
    ResidencyContext rc;
    rc.tmp = env.tmp;
    rc.launcher = env.launcher;
    rc.workerd = env.workerd;
    rc.serve_binary = env.serve_binary;
    rc.const_socket = env.const_server->path();
    rc.netns = env.netns;
    rc.smoke = opt.smoke;
    rc.results = &env.r;
    rc.error = [&env](const std::string& e) { env.Error(e); };
    rc.progress = [&env](const std::string& p) { env.Progress(p); };
    ScenarioResidency(rc);
  }

  // The standing set: four echo plugins and four raw workers beside them.
  bool standing = Wanted(opt, "latency") || Wanted(opt, "bridge") || Wanted(opt, "throughput") ||
                  Wanted(opt, "containment");
  bool ready = standing;
  if (standing) {
    for (int i = 0; i < 4 && ready; ++i) {
      env.raw.push_back(env.StartRaw());
      if (!env.raw.back()) ready = false;
    }
    auto deadline = Clock::now() + std::chrono::seconds(30);
    for (auto& w : env.raw) {
      if (ready && !w->WaitReady(deadline)) {
        env.Error("raw workerd did not start: " + w->log());
        ready = false;
      }
    }
    for (int i = 0; i < 4 && ready; ++i) {
      const auto* b = env.EchoBundle("echo-" + std::to_string(i));
      auto h = b ? env.runner->Load(*b) : Result<runner::PluginHandle>(Internal("no bundle"));
      if (!h.ok()) {
        env.Error("load echo-" + std::to_string(i) + ": " + h.status().message());
        ready = false;
      } else {
        env.echo.push_back(*h);
      }
    }
  }
  if (ready && Wanted(opt, "latency")) ScenarioLatency(env);
  if (ready && Wanted(opt, "bridge")) ScenarioBridge(env);
  if (ready && Wanted(opt, "bridge") && !opt.no_postgres) ScenarioBridgePostgres(env);
  if (ready && Wanted(opt, "throughput")) ScenarioThroughput(env);
  if (ready && Wanted(opt, "containment")) ScenarioContainment(env);

  env.runner.reset();  // stops every plugin process
  env.raw.clear();     // kills every raw workerd
  env.const_server.reset();
  std::error_code ec;
  fs::remove_all(env.tmp, ec);
  errors->insert(errors->end(), env.errors.begin(), env.errors.end());
  notes->insert(notes->end(), env.notes.begin(), env.notes.end());
  return env.r;
}

// ---- reporting --------------------------------------------------------------------------------

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

double LoadAverage() {
  double l[1] = {0};
  return getloadavg(l, 1) == 1 ? l[0] : -1;
}

int Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--smoke] [--runs N] [--json PATH] [--only LIST] [--no-postgres] "
               "[--verbose]\n"
               "  --smoke     every scenario with tiny iteration counts, no timing judgement\n"
               "  --runs N    run the whole suite N times (1..20); the table shows medians\n"
               "  --json PATH where to write the results (default bench/results/latest.json;\n"
               "              with --smoke, <build>/bench/smoke.json)\n"
               "  --only LIST comma-separated subset of: cold,latency,bridge,throughput,"
               "containment\n"
               "  --no-postgres  the bridge scenario on SQLite only (no throwaway cluster)\n",
               argv0);
  return 2;
}

int Main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--smoke") {
      opt.smoke = true;
    } else if (a == "--verbose") {
      opt.verbose = true;
    } else if (a == "--no-postgres") {
      opt.no_postgres = true;
    } else if (a == "--runs" && i + 1 < argc) {
      opt.runs = std::atoi(argv[++i]);
      if (opt.runs < 1 || opt.runs > 20) return Usage(argv[0]);
    } else if (a == "--json" && i + 1 < argc) {
      opt.json_path = argv[++i];
    } else if (a == "--only" && i + 1 < argc) {
      std::stringstream ss(argv[++i]);
      std::string s;
      for (int n = 0; n < 16 && std::getline(ss, s, ','); ++n) {
        if (std::find(kScenarios.begin(), kScenarios.end(), s) == kScenarios.end()) {
          return Usage(argv[0]);
        }
        opt.only.insert(s);
      }
    } else {
      return Usage(argv[0]);
    }
  }
  if (opt.json_path.empty()) {
    opt.json_path =
        opt.smoke ? PS_BINARY_DIR "/bench/smoke.json" : PS_SOURCE_DIR "/bench/results/latest.json";
  }
  InstallCleanupHandlers();
  spdlog::set_level(opt.verbose ? spdlog::level::info : spdlog::level::err);

  auto t0 = Clock::now();
  double load_before = LoadAverage();
  std::vector<Results> runs;
  std::vector<std::string> errors, notes;
  for (int run = 0; run < opt.runs; ++run) {
    std::fprintf(stderr, "ps_bench: run %d of %d%s\n", run + 1, opt.runs,
                 opt.smoke ? " (smoke)" : "");
    Results r = RunOnce(opt, &errors, &notes);
    Derive(r);
    bool setup_failed = r.empty();
    runs.push_back(std::move(r));
    if (setup_failed) break;  // nothing ran: another run would fail the same way
  }
  Results med = MedianOf(runs);
  double seconds = MicrosSince(t0) / 1e6;
  double load_after = LoadAverage();

  std::string table = Table(med, int(runs.size()));
  std::printf("\n%s\nTargets (issue 6)%s:\n%s", table.c_str(),
              opt.smoke ? " [smoke: iteration counts too small to judge]" : "",
              TargetsText(med).c_str());
  std::printf(
      "\n%d run(s) in %.0f s; load average %.2f before, %.2f after (2 cores: other work "
      "on the machine shows in both columns).\n",
      int(runs.size()), seconds, load_before, load_after);
  for (const auto& n : notes) std::printf("note: %s\n", n.c_str());

  json::object doc;
  json::object meta;
  meta["date"] = Now();
  meta["smoke"] = opt.smoke;
  meta["runs"] = int64_t(runs.size());
  meta["seconds"] = seconds;
  meta["load_average_before"] = load_before;
  meta["load_average_after"] = load_after;
  meta["cpus"] = int64_t(std::thread::hardware_concurrency());
  struct utsname u;
  if (uname(&u) == 0) meta["kernel"] = std::string(u.release);
  doc["meta"] = std::move(meta);
  doc["median"] = ToJson(med);
  json::array jr;
  for (const auto& r : runs) jr.push_back(ToJson(r));
  doc["runs"] = std::move(jr);
  json::array jt;
  for (const auto& t : Targets()) {
    json::object o;
    o["key"] = t.key;
    o["target"] = t.name;
    if (auto it = med.find(t.key); it != med.end()) {
      o["value"] = it->second;
      o["met"] = t.at_most ? it->second <= t.bound : it->second >= t.bound;
    }
    jt.push_back(std::move(o));
  }
  doc["targets"] = std::move(jt);
  json::array je, jn;
  for (const auto& e : errors) je.push_back(json::string(e));
  for (const auto& n : notes) jn.push_back(json::string(n));
  doc["errors"] = std::move(je);
  doc["notes"] = std::move(jn);
  std::error_code ec;
  fs::create_directories(fs::path(opt.json_path).parent_path(), ec);
  if (WriteFileText(opt.json_path, Stringify(doc) + "\n")) {
    std::printf("results: %s\n", opt.json_path.c_str());
  } else {
    std::fprintf(stderr, "ps_bench: cannot write %s\n", opt.json_path.c_str());
    return 1;
  }
  std::fflush(stdout);
  if (!errors.empty()) {
    std::fprintf(stderr, "ps_bench: %zu error(s):\n", errors.size());
    for (const auto& e : errors) std::fprintf(stderr, "  %s\n", e.c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace ps::bench

int main(int argc, char** argv) { return ps::bench::Main(argc, argv); }
