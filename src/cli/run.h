// `plugin-sandbox run`: one invocation of one plugin, for plugin authors (host-api.md).
// Prints the result as one JSON document on stdout and returns 0; on failure prints
// {"error":{"code","message"}} on stdout and returns 1; bad arguments or a bad bundle return 2.
// Plugin log lines go to stderr.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace ps::cli {

struct RunOptions {
  std::string plugin;
  std::optional<std::string> manifest;
  std::string db;  // empty: sqlite:<data>/site.db
  std::string data = ".plugin-sandbox";
  std::string hook;  // exactly one of hook and route
  std::string route;
  std::string event = "{}";  // JSON text or @FILE
  std::string input = "null";
  std::vector<std::string> limits;         // "cpu-ms=N", …
  std::vector<std::string> allow_private;  // HOST[:PORT]
};

int RunInvoke(const RunOptions& options, std::ostream& out, std::ostream& err);

}  // namespace ps::cli
