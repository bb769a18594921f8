// What /metrics reports: per-plugin invocation counts, errors by code and a latency histogram
// (recorded here), plus what the runner and the bridge already count (state, restarts, limit
// kills, memory, bridge calls by method), rendered in the Prometheus text format.
// Thread-safe. May call: common/, runner/ (types). Called by: server/.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/error_code.h"

namespace ps::server {

// One plugin as /metrics shows it (gathered by the caller from the registry and the runner).
struct PluginGauges {
  std::string id;
  std::string version;
  // starting, ready, restarting, stopped, idle-stopped, quarantined, disabled
  std::string state;
  uint64_t restarts = 0;
  uint64_t starts = 0;
  uint64_t idle_stops = 0;
  uint64_t budget_stops = 0;
  uint64_t limit_kills = 0;
  uint64_t cpu_reprieves = 0;
  int64_t rss_bytes = 0;
};

class Metrics {
 public:
  // Upper bounds of the latency histogram, in seconds.
  static constexpr std::array<double, 13> kBuckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                      0.5,   1,     2.5,  5,     10,   30};

  // `kind` is hook or route; `error_code` kNone for success.
  void RecordInvocation(const std::string& plugin, const std::string& kind, double seconds,
                        ErrorCode error_code);
  void RecordHttp(const std::string& method, int status);

  // `bridge_channels`: call channels plugins opened (bridge/backing_service.h), all plugins.
  std::string Render(const std::vector<PluginGauges>& plugins,
                     const std::map<std::string, std::map<std::string, uint64_t>>& bridge_calls,
                     uint64_t bridge_channels = 0) const;

  // Errors by code for one plugin (the plugin list's stats).
  std::map<std::string, uint64_t> Errors(const std::string& plugin) const;

 private:
  struct PerPlugin {
    std::map<std::string, uint64_t> invocations;  // kind -> count
    std::map<std::string, uint64_t> errors;       // code -> count
    std::array<uint64_t, kBuckets.size()> buckets{};
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, PerPlugin> plugins_;
  std::map<std::pair<std::string, int>, uint64_t> http_;
};

}  // namespace ps::server
