// The files of one plugin worker: the generated wrapper (main module), the plugin's module, the
// `emdash` shim, and the worker that refuses plain fetch(). The wrapper's per-plugin constants
// (identity, site, capabilities, tokens) are JSON literals substituted into the template
// js/wrapper.js; nothing else is templated.
#pragma once

#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "workerd/config.h"

namespace ps::runner {

struct SiteInfo {
  std::string name;
  std::string url;
  std::string locale = "en";
  std::string trailing_slash = "ignore";
};

struct WrapperParams {
  std::string plugin_id;
  std::string version;
  SiteInfo site;
  std::vector<std::string> capabilities;  // normalized
  std::string bridge_token;
  std::string invoke_token;
};

std::string RenderWrapper(const WrapperParams& p);

// Writes every file of a worker into `dir` (created 0700) and returns its module list, main
// module first. `prefix` keeps file names apart when several workers share one directory.
Result<std::vector<workerd::Module>> WriteWorkerFiles(const std::string& dir,
                                                      const std::string& prefix,
                                                      const WrapperParams& params,
                                                      const std::string& plugin_source);

// Writes refuse.js (the globalOutbound worker) into dir.
Status WriteRefuseWorker(const std::string& dir);

// The generated config of a plugin process, in its directory (workerd runs there).
inline constexpr const char* kConfigFile = "config.capnp";
// Writes `config` rendered (workerd/config.h) to dir/kConfigFile.
Status WriteProcessConfig(const std::string& dir, const workerd::ProcessConfig& config);

}  // namespace ps::runner
