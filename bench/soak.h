// `ps_bench --soak`: a long run of mixed traffic against a real `plugin-sandbox serve`, watching
// the host for anything that grows without bound (docs/performance.md "Soak").
//
// The host serves every example plugin (examples/plugins) plus a churn plugin of the soak's own.
// Callers in closed loops create, read and delete content (which runs the example plugins'
// content hooks) and call the example plugins' routes; an injector takes turns at a spin, a heap
// bomb, a crash, a throw and a hang of the misbehave plugin, a reinstall of the churn plugin
// with a new version, and its uninstall and install. Every sample period the soak reads the
// host's resident memory, open descriptors and threads (/proc), its plugin processes, and the
// callers' latency percentiles for the period, prints a row and keeps it.
//
// Verdict: the run fails when the host exits, when any caller's call fails other than with a
// per-invocation limit code (those are counted and reported: an honest plugin should not meet
// one, but a V8 collection charged to an invocation can make it), when an
// injected call ends other than with a documented limit code (or, for the churn plugin, fails),
// when there are fewer than two samples, or, except with --smoke and when at least five samples
// follow the warm-up (the first fifth), when a least-squares line through those samples rises by
// more than its allowance over the run: resident memory 16 MiB or 10 % of its median,
// descriptors 8, threads 4, median latency its own median (a doubling).
#pragma once

#include <string>

namespace ps::bench {

struct SoakOptions {
  double minutes = 60;
  double sample_seconds = 60;
  int callers = 3;
  double inject_every_seconds = 10;
  bool smoke = false;  // report, but do not judge growth (too few samples)
  std::string json_path;
};

// Runs the soak and writes its JSON; returns the process exit code (0: passed).
int RunSoak(const SoakOptions& opt);

}  // namespace ps::bench
