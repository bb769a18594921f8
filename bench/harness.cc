// The shared harness: sizes, the echo plugin, and Env's helpers (see harness.h).
#include "harness.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "runner/limits.h"

namespace ps::bench {

namespace fs = std::filesystem;

const std::vector<std::string> kScenarios = {"cold",       "residency",   "latency", "bridge",
                                             "throughput", "containment", "walls"};

Sizes SizesFor(bool smoke) {
  if (smoke) return Sizes{1, 20, 5, 1, 4, 3, 2, 0.15, 0.03, 1, 0.4};
  return Sizes{10, 300, 200, 5, 60, 20, 6, 1.25, 0.25, 3, 2.5};
}

std::string EchoManifest(const std::string& id) {
  return R"({"id":")" + id +
         R"(","version":"1.0.0","capabilities":["content:write"],"hooks":["content:beforeSave"],"routes":["kv"]})";
}

const char* const kEchoSource = R"JS(
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

std::string HookPayload() {
  json::object o;
  o["event"] = HookEvent();
  return Stringify(o);
}

std::string Env::Open(const Options& o) {
  opt = o;
  sz = SizesFor(o.smoke);
  std::string tmpl = (fs::temp_directory_path() / "ps-bench-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) return "cannot create a temporary directory";
  tmp = tmpl;
  launcher = PS_BINARY_DIR "/src/plugin-sandbox-launch";
  serve_binary = PS_BINARY_DIR "/src/plugin-sandbox";
  workerd = runner::FindWorkerd(PS_SOURCE_DIR);
  if (workerd.empty()) return "workerd not found: run scripts/bootstrap";
  auto d = store::OpenDatabase("sqlite:" + tmp + "/site.db");
  if (!d.ok()) return "database: " + d.status().message();
  db = std::move(d).value();
  runner::RunnerOptions ro;
  ro.data_dir = tmp + "/data";
  ro.launcher_path = launcher;
  ro.workerd_path = workerd;
  ro.supervision.stop_timeout = std::chrono::milliseconds(2000);
  // The culprits are restarted at once, every time, and never quarantined: the neighbour sees
  // the worst sustained case (the default policy backs off and quarantines after 5 failures).
  ro.supervision.restart_delays = {std::chrono::milliseconds(0)};
  ro.supervision.max_failures = 1000000;
  ro.supervision.containment.enabled = o.containment;
  ro.supervision.containment.cpu_percent = o.cpu_percent;
  // The heap bomb gets CPU enough to reach its memory limit (with 50 ms it is killed for CPU).
  runner::Limits leak_limits;
  leak_limits.cpu_ms = 5000;
  ro.plugin_limits["leaker"] = leak_limits;
  auto r = runner::Runner::Create(*db, ro, bridge::BridgeOptions{});
  if (!r.ok()) return "runner: " + r.status().message();
  runner = std::move(r).value();
  netns = runner->network_namespace_active();
  const_server = std::make_unique<ConstServer>(tmp + "/const.sock");
  if (!const_server->ok()) return "cannot listen on " + tmp + "/const.sock";
  return "";
}

bool Env::StartStanding() {
  bool ready = true;
  for (int i = 0; i < 4 && ready; ++i) {
    raw.push_back(StartRaw());
    if (!raw.back()) ready = false;
  }
  auto deadline = Clock::now() + std::chrono::seconds(30);
  for (auto& w : raw) {
    if (ready && !w->WaitReady(deadline)) {
      Error("raw workerd did not start: " + w->log());
      ready = false;
    }
  }
  for (int i = 0; i < 4 && ready; ++i) {
    const auto* b = EchoBundle("echo-" + std::to_string(i));
    auto h = b ? runner->Load(*b) : Result<runner::PluginHandle>(Internal("no bundle"));
    if (!h.ok()) {
      Error("load echo-" + std::to_string(i) + ": " + h.status().message());
      ready = false;
    } else {
      echo.push_back(*h);
    }
  }
  return ready;
}

void Env::Error(const std::string& e) {
  std::lock_guard<std::mutex> lock(mu);
  errors.push_back(e);
  std::fprintf(stderr, "ps_bench: %s\n", e.c_str());
}

void Env::Progress(const std::string& s) const {
  std::fprintf(stderr, "  .. %s\n", s.c_str());
  std::fflush(stderr);
}

const manifest::Bundle* Env::Bundle(const std::string& id, const std::string& manifest,
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

const manifest::Bundle* Env::EchoBundle(const std::string& id) {
  return Bundle(id, EchoManifest(id), kEchoSource);
}

std::unique_ptr<RawWorkerd> Env::StartRaw() {
  RawWorkerdOptions o;
  o.dir = tmp + "/raw" + std::to_string(raw_seq++);
  o.launcher = launcher;
  o.workerd = workerd;
  o.fetch_socket = const_server->path();
  o.netns = netns;
  return RawWorkerd::Start(o);
}

bool RawCall(UnixHttpClient& c, const std::string& payload, std::string* resp) {
  return c.Post("http://raw/hook/content%3AbeforeSave", &payload, resp) == 200;
}

bool RunnerHook(Env& env, const runner::PluginHandle& h, const json::value& event,
                std::string* err) {
  auto res = env.runner->InvokeHook(h, kHook, event);
  if (!res.ok() && err)
    *err = std::string(ErrorCodeName(res.status().error_code())) + ": " + res.status().message();
  return res.ok();
}

}  // namespace ps::bench
