// The workerd configuration of one process, as data, and its rendering to Cap'n Proto text.
//
// Shape (per worker): a listening socket on a Unix domain socket that serves the worker; a
// service binding BRIDGE to an external HTTP service on the host's bridge socket for that worker;
// globalOutbound pointed at an in-process worker that refuses every request, so a plain fetch()
// reaches nothing; modules embedded from files beside the config.
#pragma once

#include <string>
#include <vector>

namespace ps::workerd {

struct Module {
  std::string name;  // the specifier other modules import it by ("emdash", "./x.js" -> "x.js")
  std::string file;  // path relative to the config file's directory
};

struct Worker {
  std::string name;             // service name, unique in the process ([a-z0-9_-])
  std::vector<Module> modules;  // the first is the main module
  std::string listen_socket;    // absolute path of the Unix socket the worker serves
  std::string bridge_socket;    // absolute path of the host's bridge socket for this worker
  std::string compatibility_date;
  std::vector<std::string> compatibility_flags;
};

struct ProcessConfig {
  std::vector<Worker> workers;
  std::vector<std::string> v8_flags;  // e.g. --max-old-space-size=128
};

// The pinned compatibility date every plugin worker runs with.
inline constexpr const char* kCompatibilityDate = "2025-09-01";

// Cap'n Proto text defining `const config :Workerd.Config`.
std::string RenderCapnp(const ProcessConfig& config);

}  // namespace ps::workerd
