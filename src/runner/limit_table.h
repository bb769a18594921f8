// The per-invocation limits, declared once.
//
// Contract: a limit is one row here: its name (the key of `--limit NAME=N`, `--plugin-limit
// ID:NAME=N` and the config file's `limit` object), its unit, where its value lives in Limits
// (whose initializer is its default), the name EmDash's `SandboxRunner` options and our host
// API's plugin JSON give it, and the error an invocation over it fails with (which is also its
// metric: `plugin_sandbox_plugin_errors_total{code=…}`). The CLI's help, the config file, the
// host API, `plugin-sandbox describe` (read by @plugin-sandbox/emdash's tests) and
// docs/operating.md ("Limits", kept equal by a unit test) all read this table.
//
// Adding a limit: one field in Limits, one row here, one enforcement point (the runner's watchdog
// for CPU and memory, runner/invoke.cc for wall time, the bridge for call counts), one test.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/error_code.h"
#include "common/json.h"
#include "common/status.h"

namespace ps::runner {

struct Limits {
  int64_t wall_ms = 30000;
  int64_t cpu_ms = 50;
  int64_t memory_mb = 128;
  int64_t subrequests = 10;
};

struct LimitDef {
  std::string_view name;  // cpu-ms
  std::string_view unit;  // ms, MiB, calls
  int64_t Limits::*field;
  std::string_view emdash_option;  // cpuMs: EmDash's SandboxRunner `limits` key
  std::string_view api_field;      // cpuMs: the key in the host API's plugin `limits` object
  ErrorCode exceeded;              // what an invocation over it fails with
  std::string_view meaning;        // one line, for --help and docs

  int64_t Default() const { return Limits{}.*field; }
};

std::span<const LimitDef> AllLimits();
const LimitDef* FindLimit(std::string_view name);

// "cpu-ms, memory-mb, subrequests or wall-ms": the names, for messages and --help.
std::string LimitNames();

// Applies one limit "NAME=N" (N a positive integer) to `limits`; `where` names the source (a
// flag, a config key) in the error.
Status ApplyLimit(const std::string& where, const std::string& spec, Limits* limits);

// {"wallMs": 30000, …}: the host API's view, keyed by api_field.
json::object LimitsJson(const Limits& limits);

}  // namespace ps::runner
