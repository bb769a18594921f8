#include "runner/limits.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace ps::runner {

std::optional<uint64_t> MainThreadCpuNs(pid_t pid) {
  int fd = OpenMainThreadCpu(pid);
  if (fd < 0) return std::nullopt;
  auto ns = MainThreadCpuNsAt(fd);
  ::close(fd);
  return ns;
}

int OpenMainThreadCpu(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/schedstat";
  return ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
}

std::optional<uint64_t> MainThreadCpuNsAt(int fd) {
  char buf[96];
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  char* end = nullptr;
  unsigned long long ns = std::strtoull(buf, &end, 10);
  if (end == buf) return std::nullopt;
  return uint64_t(ns);
}

namespace {

// The scheduler state letter of thread `tid` of process `pid` (R running or runnable, S, D, …);
// nullopt when the thread is gone.
std::optional<char> ThreadState(pid_t pid, pid_t tid) {
  std::string path = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/stat";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  // "tid (comm) S ...": comm may hold spaces and parentheses, so the state follows the last ')'.
  std::string_view s(buf, size_t(n));
  size_t paren = s.rfind(')');
  if (paren == std::string_view::npos || paren + 2 >= s.size()) return std::nullopt;
  return s[paren + 2];
}

}  // namespace

std::optional<bool> MainThreadRunning(pid_t pid) {
  auto state = ThreadState(pid, pid);
  if (!state) return std::nullopt;
  return *state == 'R';
}

std::optional<bool> OtherThreadRunning(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return std::nullopt;
  bool running = false;
  // Bounded: a workerd process has a handful of threads; never look at more than 256.
  int seen = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    if (++seen > 256) break;
    pid_t tid = pid_t(std::strtol(e->d_name, nullptr, 10));
    if (tid == pid) continue;
    if (ThreadState(pid, tid) == std::optional<char>('R')) {
      running = true;
      break;
    }
  }
  ::closedir(d);
  return running;
}

std::optional<int64_t> ResidentBytes(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/statm";
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return std::nullopt;
  long long size = 0, resident = 0;
  int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  if (n != 2) return std::nullopt;
  return int64_t(resident) * sysconf(_SC_PAGESIZE);
}

std::optional<int64_t> ProportionalBytes(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/smaps_rollup";
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return std::nullopt;
  char line[256];
  std::optional<int64_t> out;
  for (int i = 0; i < 64 && std::fgets(line, sizeof line, f); ++i) {
    long long kb = 0;
    if (std::sscanf(line, "Pss: %lld kB", &kb) == 1) {
      out = int64_t(kb) * 1024;
      break;
    }
  }
  std::fclose(f);
  return out;
}

}  // namespace ps::runner
