// The kernel's wall around plugin processes: which layers this machine allows (decided once, by
// dry runs of the launcher), and the launcher arguments that apply them to one process.
//
// Layers (docs/security.md "The second wall" says what each stops and how it is tested):
//   identity      root host: a dedicated unprivileged uid/gid (default nobody), no groups;
//                 unprivileged host: nobody inside a user namespace of the plugin's own
//   capabilities  all five sets empty
//   mount         a new root holding only the program, its libraries, its own files, /dev/null,
//                 /dev/zero, /dev/urandom, a private /tmp and /proc (pivot_root)
//   pid, ipc, uts, net   namespaces of the process's own
//   seccomp       the allowlist in seccomp_policy.cc
//   resources     a cgroup (v2, or v1) with memory, pids and CPU ceilings; else rlimits
//
// Contract: Probe() never fails; a layer the machine refuses is inactive with the launcher's
// reason. Prepare() asks for active layers only, so a launch fails only if the machine changed.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "workerd/cgroup.h"

namespace ps::workerd {

struct ContainmentOptions {
  bool enabled = true;          // --containment=off: none of it (only the launcher's old steps)
  bool require_full = false;    // --require-containment=full: plugins refuse to start without all
  std::string user = "nobody";  // root host: the plugins' identity, a name or uid[:gid]
  int cpu_percent = 100;        // CPU cap per plugin process, % of one CPU (0: none)
  int64_t pids = 0;             // tasks per process (0: 64 + 4 per CPU)
  // The kernel's memory ceiling is the plugin's heap limit plus this: above the runner's own
  // watchdog (resident size at readiness + heap limit + 320 MiB), which acts first and says why.
  int64_t baseline_mb = 512;
};

struct LayerStatus {
  std::string name;
  bool active = false;
  std::string detail;  // how it is applied, or why it is missing
};

// What one process sees of the host's filesystem (absolute paths).
struct ProcessView {
  std::string config_dir;             // read-only, the working directory ("": none)
  std::vector<std::string> writable;  // its sockets' directories
};

class Containment {
 public:
  // `program` is the binary the launcher will exec (workerd); its libraries are found with ldd.
  static std::unique_ptr<Containment> Probe(const std::string& launcher, const std::string& program,
                                            const ContainmentOptions& options);
  ~Containment();

  const std::vector<LayerStatus>& layers() const { return layers_; }
  bool full() const;
  bool refuse() const { return options_.require_full && !full(); }  // --require-containment
  std::string Summary() const;  // one line: active layers, then the missing ones and why

  struct Launch {
    std::vector<std::string> args;  // launcher arguments, before "--"
    int clone_flags = 0;
    std::string uid_map, gid_map;  // with CLONE_NEWUSER: the spawner writes them (spawn.h)
    std::string cgroup;            // to Release() after the process is gone ("" when none)
    std::string resources;         // the wall this process got, for reports
    std::string error;             // non-empty: do not start (a required layer could not be set up)
  };
  // `name` is unique per process (a cgroup is named after it).
  Launch Prepare(const std::string& name, const ProcessView& view, int64_t heap_mb);
  void Release(const std::string& cgroup);
  bool OomKilled(const std::string& cgroup) const;

 private:
  Containment() = default;
  bool Active(const std::string& layer) const;
  void Own(const ProcessView& view) const;

  ContainmentOptions options_;
  std::vector<LayerStatus> layers_;
  std::unique_ptr<Cgroups> cgroups_;
  std::vector<std::string> program_files_;  // the program and its libraries (read-only)
  std::string root_dir_;                    // empty directory the launcher mounts the root on
  bool privileged_ = false;                 // the host runs as root
  uid_t uid_ = 65534;
  gid_t gid_ = 65534;
  int64_t pids_ = 0;
  std::string launcher_;
};

}  // namespace ps::workerd
