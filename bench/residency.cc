#include "residency.h"

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/json.h"
#include "floor.h"
#include "manifest/bundle.h"
#include "runner/limits.h"
#include "runner/runner.h"
#include "serve_process.h"
#include "store/database.h"
#include "util.h"

namespace ps::bench {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSource = R"JS(
export default { routes: { echo: async ({ input }) => ({ echo: input }) } };
)JS";

std::string Manifest(const std::string& id) {
  return R"({"id":")" + id + R"(","version":"1.0.0","routes":["echo"]})";
}

struct Side {
  std::unique_ptr<store::Database> db;
  std::unique_ptr<runner::Runner> runner;
  std::map<std::string, manifest::Bundle> bundles;
};

class Scenario {
 public:
  explicit Scenario(const ResidencyContext& c) : c_(c), r_(*c.results) {}

  void Run() {
    FirstCall();
    IdleMemory();
    Neighbours();
    SiteReady();
  }

 private:
  // A runner of its own, with the validation cache in `name`'s directory.
  std::unique_ptr<Side> MakeSide(const std::string& name, std::chrono::milliseconds idle_stop) {
    auto side = std::make_unique<Side>();
    std::string dir = c_.tmp + "/residency-" + name;
    std::error_code ec;
    fs::create_directories(dir, ec);
    auto db = store::OpenDatabase("sqlite:" + dir + "/site.db");
    if (!db.ok()) {
      c_.error("residency database: " + db.status().message());
      return nullptr;
    }
    side->db = std::move(db).value();
    runner::RunnerOptions ro;
    ro.data_dir = dir + "/data";
    ro.launcher_path = c_.launcher;
    ro.workerd_path = c_.workerd;
    ro.idle_stop = idle_stop;
    ro.validation_cache_dir = dir + "/cache";
    auto r = runner::Runner::Create(*side->db, ro, bridge::BridgeOptions{});
    if (!r.ok()) {
      c_.error("residency runner: " + r.status().message());
      return nullptr;
    }
    side->runner = std::move(r).value();
    return side;
  }

  const manifest::Bundle* BundleFor(Side& side, const std::string& id) {
    if (auto it = side.bundles.find(id); it != side.bundles.end()) return &it->second;
    std::string dir = c_.tmp + "/residency-bundles/" + id;
    std::error_code ec;
    fs::create_directories(dir, ec);
    WriteFileText(dir + "/manifest.json", Manifest(id));
    WriteFileText(dir + "/backend.js", kSource);
    auto b = manifest::LoadBundle(dir);
    if (!b.ok()) {
      c_.error("bundle " + id + ": " + b.status().message());
      return nullptr;
    }
    return &(side.bundles[id] = std::move(b).value());
  }

  std::optional<runner::PluginHandle> Load(Side& side, const std::string& id) {
    const auto* b = BundleFor(side, id);
    if (!b) return std::nullopt;
    auto h = side.runner->Load(*b);
    if (!h.ok()) {
      c_.error("load " + id + ": " + h.status().message());
      return std::nullopt;
    }
    return *h;
  }

  bool Call(Side& side, const runner::PluginHandle& h, std::string* err = nullptr) {
    auto r = side.runner->InvokeRoute(h, "echo", json::value(1), json::object());
    if (!r.ok() && err)
      *err = std::string(ErrorCodeName(r.status().error_code())) + ": " + r.status().message();
    return r.ok();
  }

  // A stopped plugin's first call, against a bare workerd's spawn-to-first-response.
  void FirstCall() {
    c_.progress("residency: first call of a stopped plugin, and the bare workerd floor");
    auto side = MakeSide("first", std::chrono::minutes(10));
    if (!side) return;
    const int reps = c_.smoke ? 2 : 12;
    auto h = Load(*side, "first");  // validated once: the cache knows the module from now on
    if (!h) return;
    std::vector<double> ours, floor, warm;
    for (int i = 0; i < reps; ++i) {
      (void)side->runner->Terminate(*h);
      h = Load(*side, "first");  // a cache hit: stopped
      if (!h) return;
      auto info = side->runner->Info("first");
      if (!info || info->pid != 0) {
        c_.error("residency: a reloaded known module was started at load");
        return;
      }
      auto t0 = Clock::now();
      std::string err;
      if (!Call(*side, *h, &err)) {
        c_.error("residency first call: " + err);
        return;
      }
      ours.push_back(MicrosSince(t0) / 1000);
      // Warm calls right after, on the same process.
      for (int k = 0; k < (c_.smoke ? 5 : 50); ++k) {
        auto w0 = Clock::now();
        if (Call(*side, *h)) warm.push_back(MicrosSince(w0));
      }

      RawWorkerdOptions o;
      o.dir = c_.tmp + "/residency-raw" + std::to_string(i);
      o.launcher = c_.launcher;
      o.workerd = c_.workerd;
      o.fetch_socket = c_.const_socket;
      o.netns = c_.netns;
      auto f0 = Clock::now();
      auto raw = RawWorkerd::Start(o);
      if (!raw || !raw->WaitReady(Clock::now() + std::chrono::seconds(30))) {
        c_.error("residency: raw workerd did not start" + (raw ? ": " + raw->log() : ""));
        return;
      }
      floor.push_back(MicrosSince(f0) / 1000);
    }
    r_["residency.first_call.ms"] = Median(ours);
    r_["residency.raw_first_response.ms"] = Median(floor);
    if (Median(floor) > 0) r_["residency.first_call.ratio"] = Median(ours) / Median(floor);
    r_["residency.warm.median_us"] = Median(warm);
  }

  // Host plus plugin processes, 5 plugins in use; then the same with 95 more installed and idle.
  void IdleMemory() {
    c_.progress("residency: memory of idle installed plugins");
    const int idle_count = c_.smoke ? 10 : 95;
    auto side = MakeSide("idle", std::chrono::minutes(10));
    if (!side) return;
    std::vector<runner::PluginHandle> busy;
    for (int i = 0; i < 5; ++i) {
      auto h = Load(*side, "busy-" + std::to_string(i));
      if (!h) return;
      busy.push_back(*h);
    }
    auto load_and_measure = [&]() -> int64_t {
      // Under load: 5 callers, one per plugin, for a while; measured at the end.
      // Measured once every caller has made `calls` calls (bounded by a deadline).
      const int calls = c_.smoke ? 20 : 1000;
      std::atomic<bool> stop{false};
      std::atomic<int> failures{0};
      std::mutex mu;
      std::condition_variable cv;
      int warmed = 0;
      std::vector<std::thread> callers;
      for (auto& h : busy) {
        callers.emplace_back([&, h] {
          for (int k = 0; k < 1000000 && !stop; ++k) {
            if (!Call(*side, h)) ++failures;
            if (k + 1 == calls) {
              std::lock_guard<std::mutex> lock(mu);
              ++warmed;
              cv.notify_all();
            }
          }
        });
      }
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait_for(lock, std::chrono::seconds(30), [&] { return warmed == int(busy.size()); });
      }
      int64_t total = PssBytes(getpid()).value_or(0);
      for (const auto& info : side->runner->List())
        if (info.pid) total += PssBytes(info.pid).value_or(0);
      stop = true;
      for (auto& t : callers) t.join();
      if (failures) c_.error("residency: " + std::to_string(failures.load()) + " calls failed");
      return total;
    };
    int64_t five = load_and_measure();
    auto l0 = Clock::now();
    for (int i = 0; i < idle_count; ++i) {
      if (!Load(*side, "idle-" + std::to_string(i))) return;
    }
    r_["residency.idle.load_known_us"] = MicrosSince(l0) / idle_count;
    int running = 0;
    for (const auto& info : side->runner->List()) running += info.pid ? 1 : 0;
    if (running != 5) {
      c_.error("residency: " + std::to_string(running) + " plugin processes running, expected 5");
    }
    int64_t hundred = load_and_measure();
    r_["residency.idle.pss_5.mib"] = MiB(five);
    r_["residency.idle.pss_100.mib"] = MiB(hundred);
    r_["residency.idle.per_idle_plugin.mib"] = MiB(hundred - five) / idle_count;
  }

  // A neighbour's latency alone, and while another plugin keeps starting on demand: called, left
  // idle until the runner stops it (idle_stop 100 ms), called again.
  void Neighbours() {
    c_.progress("residency: a neighbour while another plugin starts on demand");
    auto side = MakeSide("neighbours", std::chrono::milliseconds(100));
    if (!side) return;
    auto neighbour = Load(*side, "neighbour");
    auto starter = Load(*side, "starter");
    if (!neighbour || !starter) return;
    const double seconds = c_.smoke ? 0.3 : 4;
    // Until the runner has stopped the starter (bounded by `limit` and `stop`). The runner says
    // nothing when it stops a plugin, so this polls its state, as a dashboard would.
    auto wait_stopped = [&](std::chrono::milliseconds limit, const std::atomic<bool>& stop) {
      PollUntil(
          [&] {
            auto info = side->runner->Info("starter");
            return info && info->pid == 0;
          },
          limit, std::chrono::milliseconds(2), &stop);
    };
    auto measure = [&](bool with_starts, int* starts) {
      Stats s;
      std::atomic<bool> stop{false};
      std::atomic<int> n{0};
      std::thread t;
      if (with_starts) {
        t = std::thread([&] {
          for (int k = 0; k < 10000 && !stop; ++k) {
            std::string err;
            if (!Call(*side, *starter, &err)) {
              c_.error("residency starter: " + err);
              return;
            }
            ++n;
            wait_stopped(std::chrono::seconds(2), stop);
          }
        });
      }
      auto t0 = Clock::now();
      for (int k = 0; k < 1000000 && MicrosSince(t0) < seconds * 1e6; ++k) {
        auto c0 = Clock::now();
        if (Call(*side, *neighbour)) s.Add(MicrosSince(c0));
      }
      stop = true;
      if (t.joinable()) t.join();
      if (starts) *starts = n;
      return s.p99();
    };
    // The starter is stopped before the baseline, so only the neighbour runs.
    const std::atomic<bool> never{false};
    wait_stopped(std::chrono::seconds(5), never);
    double base = measure(false, nullptr);
    int starts = 0;
    double during = measure(true, &starts);
    r_["residency.neighbour.p99_base_us"] = base;
    r_["residency.neighbour.p99_starting_us"] = during;
    r_["residency.neighbour.starts"] = starts;
    if (base > 0) r_["residency.neighbour.p99_ratio"] = during / base;
  }

  // serve from spawn to healthy with 1 and 10 installed plugins: first start, then a restart.
  void SiteReady() {
    c_.progress("residency: site ready with 1 and 10 installed plugins");
    const int reps = c_.smoke ? 1 : 3;
    std::map<int, std::vector<double>> first, restart;
    for (int rep = 0; rep < reps; ++rep) {
      for (int n : {1, 10}) {
        std::string dir =
            c_.tmp + "/residency-site-" + std::to_string(n) + "-" + std::to_string(rep);
        std::string plugins = dir + "/plugins";
        for (int i = 0; i < n; ++i) {
          // Distinct modules, so the first start validates each.
          std::string id = "site-" + std::to_string(i);
          std::string b = plugins + "/" + id;
          std::error_code ec;
          fs::create_directories(b, ec);
          WriteFileText(b + "/manifest.json", Manifest(id));
          WriteFileText(b + "/backend.js",
                        std::string(kSource) + "// " + id + " " + std::to_string(rep) + "\n");
        }
        for (int round = 0; round < 2; ++round) {
          auto t0 = Clock::now();
          ServeProcess serve(c_.serve_binary, c_.launcher, dir, plugins);
          double ms = MicrosSince(t0) / 1000;
          if (!serve.ok()) {
            c_.error("residency serve: " + serve.error());
            return;
          }
          (round == 0 ? first : restart)[n].push_back(ms);
        }
      }
    }
    r_["residency.site.first_1.ms"] = Median(first[1]);
    r_["residency.site.first_10.ms"] = Median(first[10]);
    r_["residency.site.restart_1.ms"] = Median(restart[1]);
    r_["residency.site.restart_10.ms"] = Median(restart[10]);
    if (Median(restart[1]) > 0) {
      r_["residency.site.restart.ratio"] = Median(restart[10]) / Median(restart[1]);
    }
    if (Median(first[1]) > 0) {
      r_["residency.site.first.ratio"] = Median(first[10]) / Median(first[1]);
    }
  }

  const ResidencyContext& c_;
  std::map<std::string, double>& r_;
};

}  // namespace

void ScenarioResidency(const ResidencyContext& c) { Scenario(c).Run(); }

}  // namespace ps::bench
