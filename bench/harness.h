// The harness every scenario runs on: the options and iteration sizes of a run, the echo plugin
// the scenarios share, and Env, the environment of one run (runner, floor, standing set, results,
// errors). Scenarios take an Env& and write their figures into env.r; the run loop in main.cc
// builds the Env and decides which scenarios run.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/json.h"
#include "floor.h"
#include "manifest/bundle.h"
#include "runner/runner.h"
#include "store/database.h"
#include "util.h"

namespace ps::bench {

// Every figure of one run, by key (the keys are the JSON output's and docs/performance.md's).
using Results = std::map<std::string, double>;

struct Options {
  bool smoke = false;
  int runs = 1;
  std::string json_path;
  std::set<std::string> only;  // empty: every scenario
  bool verbose = false;
  bool no_postgres = false;  // skip the bridge scenario's PostgreSQL half
  bool containment = true;   // --containment off: the standing runner without the kernel's wall
  int cpu_percent = 100;     // --plugin-cpu-percent: the standing runner's per-process CPU cap
};

// The names `--only` accepts.
extern const std::vector<std::string> kScenarios;

struct Sizes {
  int latency_rounds, latency_per_round, latency_warmup;
  int bridge_rounds, bridge_iters_1, bridge_iters_10, bridge_iters_100;
  double throughput_seconds, throughput_warmup_seconds;
  int cold_repeats;
  double containment_seconds;
};

// --smoke shrinks every count so the suite only proves it runs; its figures judge nothing.
Sizes SizesFor(bool smoke);

// ---- the echo plugin --------------------------------------------------------------------------

inline constexpr const char* kHook = "content:beforeSave";

// A hook that returns its input, and a route making n sequential ctx.kv.get calls.
std::string EchoManifest(const std::string& id);
extern const char* const kEchoSource;

// The hook's event, and the same event as the body of a hook invocation (what the raw floor
// receives, so both sides parse the same bytes).
json::value HookEvent();
std::string HookPayload();

// ---- the environment of one run ---------------------------------------------------------------

struct Env {
  Options opt;
  Sizes sz;
  std::string tmp, launcher, workerd, serve_binary;
  bool netns = false;
  std::unique_ptr<store::Database> db;
  std::unique_ptr<runner::Runner> runner;
  std::unique_ptr<ConstServer> const_server;
  // The standing set (latency, bridge, throughput, containment run on it): four raw workers, the
  // floor, beside four echo plugins, echo-0 .. echo-3.
  std::vector<std::unique_ptr<RawWorkerd>> raw;
  std::vector<runner::PluginHandle> echo;
  std::map<std::string, manifest::Bundle> bundles;
  Results r;
  std::vector<std::string> errors;
  std::vector<std::string> notes;
  int raw_seq = 0;

  std::mutex mu;  // errors may come from loader threads

  // The scratch directory, the runner (on SQLite) and the const server. Returns what failed, or
  // an empty string; a failed Open leaves nothing a scenario can run on.
  std::string Open(const Options& o);
  // Starts the standing set; false (with errors) when any of it did not start.
  bool StartStanding();

  void Error(const std::string& e);
  void Progress(const std::string& s) const;

  // The bundle `id` written under tmp and loaded once; later calls return the same one. Null
  // (with an error) when it does not load.
  const manifest::Bundle* Bundle(const std::string& id, const std::string& manifest,
                                 const std::string& source);
  const manifest::Bundle* EchoBundle(const std::string& id);

  // A raw workerd pointed at the const server (spawned from the calling thread, which its
  // parent-death signal is tied to). Null on failure; not yet waited for.
  std::unique_ptr<RawWorkerd> StartRaw();
};

// One raw call: the same request body as a hook invocation, answered with a constant.
bool RawCall(UnixHttpClient& c, const std::string& payload, std::string* resp);

// The echo hook through the runner API; on failure `err` (if given) gets the code and message.
bool RunnerHook(Env& env, const runner::PluginHandle& h, const json::value& event,
                std::string* err = nullptr);

}  // namespace ps::bench
