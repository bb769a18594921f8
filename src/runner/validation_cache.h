// What a plugin module declared when it was last started, kept on disk so that the same module
// need not be started again to learn it (a host restart, a re-install of the same bundle).
//
// Contract: an entry is the isolate's readiness report ({"hooks": …, "routes": …}) for one module
// under one runtime. Its key hashes everything the report depends on: the module's text, the
// wrapper and shim code built into this binary, the workerd binary (path, size, modification
// time), the compatibility date and the heap limit. A changed module or runtime is a miss, never a
// stale hit. Files are written whole (temporary file, then rename) with mode 0600 in a 0700
// directory; an unreadable, partial or foreign file is a miss. A directory that is not this
// user's, or that others may open, is not used at all (what is read decides which routes are
// public). Best effort: a cache that cannot be
// written costs a start, never a load.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/json.h"

namespace ps::runner {

class ValidationCache {
 public:
  // An empty dir disables the cache (Get always misses, Put does nothing).
  explicit ValidationCache(std::string dir, std::string workerd_path);

  std::string Key(const std::string& module_source, int64_t memory_mb) const;
  std::optional<json::object> Get(const std::string& key) const;
  void Put(const std::string& key, const json::object& described) const;

  bool enabled() const { return !dir_.empty(); }

 private:
  std::string dir_;
  std::string runtime_;  // the runtime part of every key
};

}  // namespace ps::runner
