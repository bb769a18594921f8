#include "runner/limit_table.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <vector>

namespace ps::runner {
namespace {

// In the order the host API lists them.
constexpr std::array<LimitDef, 4> kLimits = {{
    {"wall-ms", "ms", &Limits::wall_ms, "wallTimeMs", "wallMs", ErrorCode::kWallTimeExceeded,
     "time per invocation; the process keeps running"},
    {"cpu-ms", "ms", &Limits::cpu_ms, "cpuMs", "cpuMs", ErrorCode::kCpuLimitExceeded,
     "CPU time of the plugin's main thread per invocation; the process is killed and restarted"},
    {"memory-mb", "MiB", &Limits::memory_mb, "memoryMb", "memoryMb",
     ErrorCode::kMemoryLimitExceeded,
     "the JavaScript heap (and resident memory beyond a headroom); killed and restarted"},
    {"subrequests", "calls", &Limits::subrequests, "subrequests", "subrequests",
     ErrorCode::kSubrequestLimitExceeded, "`ctx.http.fetch` calls per invocation"},
}};

}  // namespace

std::span<const LimitDef> AllLimits() { return kLimits; }

const LimitDef* FindLimit(std::string_view name) {
  for (const auto& l : kLimits) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

std::string LimitNames() {
  std::vector<std::string_view> names;
  for (const auto& l : kLimits) names.push_back(l.name);
  std::sort(names.begin(), names.end());
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

Status ApplyLimit(const std::string& where, const std::string& spec, Limits* limits) {
  size_t eq = spec.find('=');
  std::string key = spec.substr(0, eq);
  std::string value = eq == std::string::npos ? "" : spec.substr(eq + 1);
  char* end = nullptr;
  long long n = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || n <= 0) {
    return InvalidArgument(where + ": " + Quote(spec) +
                           ": expected NAME=N with a positive integer N");
  }
  const LimitDef* def = FindLimit(key);
  if (!def) {
    return InvalidArgument(where + ": " + Quote(spec) + ": unknown limit; expected " +
                           LimitNames());
  }
  limits->*(def->field) = n;
  return Status::Ok();
}

json::object LimitsJson(const Limits& limits) {
  json::object o;
  for (const auto& d : kLimits) o[d.api_field] = limits.*(d.field);
  return o;
}

}  // namespace ps::runner
