// `plugin-sandbox check PLUGIN [--manifest FILE]` (host-api.md "Command line").
//
// Contract: loads the bundle exactly as every loader does (manifest/bundle.h). On success prints
// the normalized manifest as JSON on `out`, every warning on `err` as "warning: <line>" (legacy
// capability names, hooks the capability gate of runner.md §3 will skip, unused fields), and
// returns 0. On a bad bundle prints each problem on its own line on `err` and returns 2.
// May call: common/, manifest/. Called by: cli/main.cc.
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include "common/json.h"

namespace ps::cli {

struct CheckOptions {
  std::string plugin;                   // a directory or a .tar.gz
  std::optional<std::string> manifest;  // --manifest FILE
};

int RunCheck(const CheckOptions& options, std::ostream& out, std::ostream& err);

// JSON with two-space indentation, keys in object order (also for other subcommands' output).
std::string PrettyJson(const json::value& v);

}  // namespace ps::cli
