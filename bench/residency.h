// The residency scenario (issue 17): what an installed but idle plugin costs, how fast a stopped
// plugin answers its first call, how soon a site with many plugins is ready, and what a starting
// plugin does to its neighbours. Every figure is measured in this run, against a floor measured in
// the same run where there is one.
#pragma once

#include <functional>
#include <map>
#include <string>

namespace ps::bench {

struct ResidencyContext {
  std::string tmp;           // scratch directory (removed by the caller)
  std::string launcher;      // plugin-sandbox-launch
  std::string workerd;       // the pinned binary
  std::string serve_binary;  // plugin-sandbox
  std::string const_socket;  // the ConstServer the raw floor's BRIDGE binding points at
  bool netns = false;
  bool smoke = false;
  std::map<std::string, double>* results = nullptr;
  std::function<void(const std::string&)> error, progress;
};

// Results (medians of the repeats; "residency." prefix):
//   first_call.ms / raw_first_response.ms / first_call.ratio   a stopped plugin's first call
//       against a bare workerd process from spawn to its first response
//   warm.median_us                        a call to a running plugin, same runner
//   idle.pss_5.mib / idle.pss_100.mib / idle.per_idle_plugin.mib   host plus plugin processes
//       with 5 plugins in use, then the same 5 in use among 100 installed
//   site.restart_1.ms / site.restart_10.ms / site.restart.ratio   serve from spawn to healthy with
//       1 and 10 installed plugins (a restart: the modules are known)
//   site.first_1.ms / site.first_10.ms    the same on the very first start (every module started
//       once to validate it)
//   neighbour.p99_base_us / neighbour.p99_starting_us / neighbour.p99_ratio   a neighbour's call
//       latency alone and while another plugin keeps starting on demand
void ScenarioResidency(const ResidencyContext& c);

}  // namespace ps::bench
