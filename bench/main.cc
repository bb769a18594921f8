// ps_bench: plugin-sandbox against the physical floor of a workerd-based design, side by side in
// one run. See docs/performance.md for what each figure means and the targets (issue 6).
//
//   ps_bench [--smoke] [--runs N] [--json PATH] [--only LIST] [--no-postgres] [--verbose]
//   ps_bench --soak [--minutes M] [--sample-seconds S] [--callers N] [--smoke] [--json PATH]
//
// Every figure is measured next to its floor in the same run (interleaved in rounds where it can
// be), so a busy machine slows both sides. With --runs N the whole suite runs N times and the
// table shows the median of each figure (and of each ratio) over the runs.
//
// This file is the command line and the run loop: the harness is harness.h, each scenario has
// its own file (scenarios.h lists them and the keys they write), the table and the JSON are
// report.cc's.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"
#include "report.h"
#include "residency.h"
#include "scenarios.h"
#include "soak.h"
#include "util.h"

namespace ps::bench {
namespace {

namespace fs = std::filesystem;

// ---- one run ----------------------------------------------------------------------------------

bool Wanted(const Options& o, const std::string& s) { return o.only.empty() || o.only.count(s); }

Results RunOnce(const Options& opt, std::vector<std::string>* errors,
                std::vector<std::string>* notes) {
  Env env;
  if (std::string e = env.Open(opt); !e.empty()) {
    errors->push_back(e);
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

  bool standing = Wanted(opt, "latency") || Wanted(opt, "bridge") || Wanted(opt, "throughput") ||
                  Wanted(opt, "containment");
  bool ready = standing && env.StartStanding();
  if (ready && Wanted(opt, "latency")) ScenarioLatency(env);
  if (ready && Wanted(opt, "bridge")) ScenarioBridge(env);
  if (ready && Wanted(opt, "bridge") && !opt.no_postgres) ScenarioBridgePostgres(env);
  if (ready && Wanted(opt, "throughput")) ScenarioThroughput(env);
  if (ready && Wanted(opt, "containment")) ScenarioContainment(env);
  if (Wanted(opt, "walls")) ScenarioWalls(env);

  env.runner.reset();  // stops every plugin process
  env.raw.clear();     // kills every raw workerd
  env.const_server.reset();
  std::error_code ec;
  fs::remove_all(env.tmp, ec);
  errors->insert(errors->end(), env.errors.begin(), env.errors.end());
  notes->insert(notes->end(), env.notes.begin(), env.notes.end());
  return env.r;
}

// ---- the command line -------------------------------------------------------------------------

double LoadAverage() {
  double l[1] = {0};
  return getloadavg(l, 1) == 1 ? l[0] : -1;
}

std::string ScenarioList() {
  std::string out;
  for (const auto& s : kScenarios) out += (out.empty() ? "" : ",") + s;
  return out;
}

int Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--smoke] [--runs N] [--json PATH] [--only LIST] [--no-postgres] "
               "[--containment on|off] [--plugin-cpu-percent N] "
               "[--verbose]\n"
               "  --smoke     every scenario with tiny iteration counts, no timing judgement\n"
               "  --runs N    run the whole suite N times (1..20); the table shows medians\n"
               "  --json PATH where to write the results (default bench/results/latest.json;\n"
               "              with --smoke, <build>/bench/smoke.json)\n"
               "  --only LIST comma-separated subset of: %s\n"
               "  --no-postgres  the bridge scenario on SQLite only (no throwaway cluster)\n"
               "  --containment off   the standing runner without the kernel's wall\n"
               "  --plugin-cpu-percent N   its per-process CPU cap (default 100)\n"
               "  --soak      instead of the scenarios: mixed traffic against a serve host for\n"
               "              --minutes M (60), sampled every --sample-seconds S (60), with\n"
               "              --callers N (3); fails on any failed call or unbounded growth\n"
               "              (--smoke: half a minute, 5 s samples, growth not judged)\n",
               argv0, ScenarioList().c_str());
  return 2;
}

int Main(int argc, char** argv) {
  Options opt;
  bool soak = false;
  SoakOptions so;
  bool minutes_given = false, period_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--soak") {
      soak = true;
    } else if (a == "--minutes" && i + 1 < argc) {
      so.minutes = std::atof(argv[++i]);
      minutes_given = true;
      if (!(so.minutes > 0 && so.minutes <= 24 * 60)) return Usage(argv[0]);
    } else if (a == "--sample-seconds" && i + 1 < argc) {
      so.sample_seconds = std::atof(argv[++i]);
      period_given = true;
      if (!(so.sample_seconds >= 1 && so.sample_seconds <= 3600)) return Usage(argv[0]);
    } else if (a == "--callers" && i + 1 < argc) {
      so.callers = std::atoi(argv[++i]);
      if (so.callers < 1 || so.callers > 64) return Usage(argv[0]);
    } else if (a == "--smoke") {
      opt.smoke = true;
    } else if (a == "--verbose") {
      opt.verbose = true;
    } else if (a == "--no-postgres") {
      opt.no_postgres = true;
    } else if (a == "--containment" && i + 1 < argc) {
      std::string v = argv[++i];
      if (v != "on" && v != "off") return Usage(argv[0]);
      opt.containment = v == "on";
    } else if (a == "--plugin-cpu-percent" && i + 1 < argc) {
      opt.cpu_percent = std::atoi(argv[++i]);
      if (opt.cpu_percent < 0 || opt.cpu_percent > 6400) return Usage(argv[0]);
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
  InstallCleanupHandlers();
  spdlog::set_level(opt.verbose ? spdlog::level::info : spdlog::level::err);
  if (soak) {
    so.smoke = opt.smoke;
    if (opt.smoke) {
      if (!minutes_given) so.minutes = 0.5;
      if (!period_given) so.sample_seconds = 5;
      so.inject_every_seconds = 4;
    }
    so.json_path = !opt.json_path.empty() ? opt.json_path
                   : opt.smoke            ? PS_BINARY_DIR "/bench/soak-smoke.json"
                                          : PS_SOURCE_DIR "/bench/results/soak.json";
    return RunSoak(so);
  }
  if (opt.json_path.empty()) {
    opt.json_path =
        opt.smoke ? PS_BINARY_DIR "/bench/smoke.json" : PS_SOURCE_DIR "/bench/results/latest.json";
  }

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

  RunSummary summary;
  summary.smoke = opt.smoke;
  summary.runs = std::move(runs);
  summary.median = std::move(med);
  summary.seconds = seconds;
  summary.load_before = load_before;
  summary.load_after = load_after;
  summary.errors = errors;
  summary.notes = notes;
  json::object doc = JsonDocument(summary);
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
