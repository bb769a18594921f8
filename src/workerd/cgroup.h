// Kernel resource walls for plugin processes: one cgroup per process, under a group of this host's
// own (made at start, removed at the end).
//
// Contract:
// - Detect() picks cgroup v2 when this process's v2 group can delegate memory, pids and cpu to
//   children, else v1 when the memory, pids and cpu hierarchies are mounted and writable, else
//   nothing (with the reason). It never moves the host itself.
// - Create() makes one process's group with its ceilings and returns the cgroup.procs files the
//   launcher writes itself into; Remove() deletes it once the process is gone.
// - OomKilled() says whether the kernel killed a process of that group for memory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ps::workerd {

struct ProcessResources {
  int64_t memory_bytes = 0;  // 0: no memory ceiling
  int64_t pids = 0;          // tasks (threads included); 0: none
  int cpu_percent = 0;       // of one CPU; 0: no cap
};

class Cgroups {
 public:
  // nullptr when no cgroup can be made here; *why says why.
  static std::unique_ptr<Cgroups> Detect(std::string* why);
  ~Cgroups();  // removes the host's group (empty by then)

  const std::string& version() const { return version_; }  // "v2" or "v1"
  bool Create(const std::string& name, const ProcessResources& r, std::vector<std::string>* procs,
              std::string* why);
  void Remove(const std::string& name);
  bool OomKilled(const std::string& name) const;

 private:
  Cgroups() = default;
  std::string version_;
  // v2: one directory; v1: memory, pids, cpu (in that order).
  std::vector<std::string> bases_;
};

}  // namespace ps::workerd
