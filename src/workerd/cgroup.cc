#include "workerd/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace ps::workerd {
namespace {

constexpr int64_t kCpuPeriodUs = 100000;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteValue(const std::string& path, const std::string& value, std::string* why) {
  std::ofstream out(path);
  out << value;
  out.flush();
  if (!out) {
    if (why) *why = "cannot write " + value + " to " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

struct Mount {
  std::string root;  // the hierarchy's subtree mounted here
  std::string point;
};

// cgroup mounts by controller ("" for cgroup2), from /proc/self/mountinfo.
bool FindMount(const std::string& controller, Mount* out) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  for (int n = 0; n < 4096 && std::getline(in, line); ++n) {
    std::istringstream ls(line);
    std::string id, parent, dev, root, point, opts, field;
    ls >> id >> parent >> dev >> root >> point >> opts;
    while (ls >> field && field != "-") {
    }
    std::string type, source, super;
    ls >> type >> source >> super;
    if (controller.empty() ? type == "cgroup2"
                           : type == "cgroup" && ("," + super + ",").find("," + controller + ",") !=
                                                     std::string::npos) {
      *out = {root, point};
      return true;
    }
  }
  return false;
}

// This process's group in a hierarchy ("" for cgroup2's "0::"), from /proc/self/cgroup.
bool OwnPath(const std::string& controller, std::string* out) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  for (int n = 0; n < 64 && std::getline(in, line); ++n) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string list = line.substr(a + 1, b - a - 1);
    bool match = controller.empty()
                     ? line.compare(0, a, "0") == 0 && list.empty()
                     : ("," + list + ",").find("," + controller + ",") != std::string::npos;
    if (match) {
      *out = line.substr(b + 1);
      return true;
    }
  }
  return false;
}

std::string Directory(const Mount& m, const std::string& own) {
  std::string rel = own;
  if (m.root != "/" && rel.compare(0, m.root.size(), m.root) == 0) rel = rel.substr(m.root.size());
  if (rel == "/") rel.clear();
  return m.point + rel;
}

// One group per Cgroups object: a process may hold several hosts (tests, the benchmark).
std::string HostGroupName() {
  static std::atomic<int> next{0};
  return "plugin-sandbox-" + std::to_string(getpid()) + "-" + std::to_string(next++);
}

// Groups left by hosts that died without cleaning up (SIGKILL): removed when their pid is gone.
void RemoveStale(const std::string& parent) {
  DIR* d = opendir(parent.c_str());
  if (!d) return;
  std::vector<std::string> stale;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (++n > 100000) break;
    std::string name = e->d_name;
    if (name.rfind("plugin-sandbox-", 0) != 0) continue;
    pid_t pid = pid_t(std::strtol(name.c_str() + 15, nullptr, 10));
    if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(parent + "/" + name);
  }
  closedir(d);
  for (const auto& dir : stale) {
    if (DIR* s = opendir(dir.c_str())) {
      std::vector<std::string> children;
      while (dirent* e = readdir(s)) {
        if (e->d_type == DT_DIR && e->d_name[0] != '.') children.push_back(dir + "/" + e->d_name);
      }
      closedir(s);
      for (const auto& c : children) rmdir(c.c_str());
    }
    rmdir(dir.c_str());
  }
}

}  // namespace

std::unique_ptr<Cgroups> Cgroups::Detect(std::string* why) {
  std::unique_ptr<Cgroups> g(new Cgroups());
  const std::string group = HostGroupName();
  std::string v2_why;
  Mount m;
  std::string own;
  if (FindMount("", &m) && OwnPath("", &own)) {
    std::string dir = Directory(m, own);
    std::istringstream words(ReadAll(dir + "/cgroup.controllers"));
    std::set<std::string> available;
    for (std::string w; available.size() < 64 && words >> w;) available.insert(w);
    bool all = available.count("memory") && available.count("pids") && available.count("cpu");
    RemoveStale(dir);
    std::string base = dir + "/" + group;
    auto enable = [&](const std::string& d) {
      return WriteValue(d + "/cgroup.subtree_control", "+memory +pids +cpu", &v2_why);
    };
    bool enabled = false;
    if (!all) {
      v2_why = "cgroup v2 at " + dir + " does not offer memory, pids and cpu";
    } else if (mkdir(base.c_str(), 0755) != 0 && errno != EEXIST) {
      v2_why = "cannot create " + base + ": " + std::strerror(errno);
    } else {
      enabled = enable(dir);
      if (!enabled) {
        // A group with processes of its own cannot hand controllers to children (cgroup v2's
        // no-internal-processes rule): the host moves into a leaf of its own group first.
        std::string leaf = dir + "/plugin-sandbox-host";
        enabled = (mkdir(leaf.c_str(), 0755) == 0 || errno == EEXIST) &&
                  WriteValue(leaf + "/cgroup.procs", "0", &v2_why) && enable(dir);
      }
      enabled = enabled && enable(base);
      if (!enabled) rmdir(base.c_str());
    }
    if (enabled) {
      g->version_ = "v2";
      g->bases_ = {base};
      return g;
    }
  } else {
    v2_why = "no cgroup v2 group of this process";
  }
  std::string v1_why;
  for (const char* c : {"memory", "pids", "cpu"}) {
    if (!FindMount(c, &m) || !OwnPath(c, &own)) {
      v1_why = std::string("no cgroup v1 ") + c + " hierarchy";
      break;
    }
    RemoveStale(Directory(m, own));
    std::string base = Directory(m, own) + "/" + group;
    if (mkdir(base.c_str(), 0755) != 0 && errno != EEXIST) {
      v1_why = "cannot create " + base + ": " + std::strerror(errno);
      break;
    }
    g->bases_.push_back(base);
  }
  if (v1_why.empty()) {
    g->version_ = "v1";
    return g;
  }
  for (const auto& b : g->bases_) rmdir(b.c_str());
  if (why) *why = v2_why + "; " + v1_why;
  return nullptr;
}

Cgroups::~Cgroups() {
  for (const auto& b : bases_) rmdir(b.c_str());
}

bool Cgroups::Create(const std::string& name, const ProcessResources& r,
                     std::vector<std::string>* procs, std::string* why) {
  procs->clear();
  for (const auto& b : bases_) {
    std::string dir = b + "/" + name;
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      if (why) *why = "cannot create " + dir + ": " + std::strerror(errno);
      Remove(name);
      return false;
    }
    procs->push_back(dir + "/cgroup.procs");
  }
  bool ok = true;
  std::string cpu_quota = std::to_string(int64_t(r.cpu_percent) * kCpuPeriodUs / 100);
  if (version_ == "v2") {
    const std::string& d = bases_[0] + "/" + name;
    if (r.memory_bytes > 0) {
      ok = ok && WriteValue(d + "/memory.max", std::to_string(r.memory_bytes), why);
      // Best effort: a plugin's memory is not pushed to swap to dodge the ceiling.
      WriteValue(d + "/memory.swap.max", "0", nullptr);
    }
    if (r.pids > 0) ok = ok && WriteValue(d + "/pids.max", std::to_string(r.pids), why);
    if (r.cpu_percent > 0) {
      ok = ok && WriteValue(d + "/cpu.max", cpu_quota + " " + std::to_string(kCpuPeriodUs), why);
    }
  } else {
    const std::string mem = bases_[0] + "/" + name, pids = bases_[1] + "/" + name,
                      cpu = bases_[2] + "/" + name;
    if (r.memory_bytes > 0) {
      ok = ok && WriteValue(mem + "/memory.limit_in_bytes", std::to_string(r.memory_bytes), why);
    }
    if (r.pids > 0) ok = ok && WriteValue(pids + "/pids.max", std::to_string(r.pids), why);
    if (r.cpu_percent > 0) {
      ok = ok && WriteValue(cpu + "/cpu.cfs_period_us", std::to_string(kCpuPeriodUs), why) &&
           WriteValue(cpu + "/cpu.cfs_quota_us", cpu_quota, why);
    }
  }
  if (!ok) Remove(name);
  return ok;
}

void Cgroups::Remove(const std::string& name) {
  for (const auto& b : bases_) rmdir((b + "/" + name).c_str());
}

bool Cgroups::OomKilled(const std::string& name) const {
  if (bases_.empty()) return false;
  std::string file =
      bases_[0] + "/" + name + (version_ == "v2" ? "/memory.events" : "/memory.oom_control");
  std::istringstream in(ReadAll(file));
  std::string key;
  long long value = 0;
  for (int n = 0; n < 32 && in >> key >> value; ++n) {
    if (key == "oom_kill") return value > 0;
  }
  return false;
}

}  // namespace ps::workerd
