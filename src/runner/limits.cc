#include "runner/limits.h"

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

std::optional<bool> MainThreadRunning(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/stat";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  // "pid (comm) S ...": comm may hold spaces and parentheses, so the state follows the last ')'.
  std::string_view s(buf, size_t(n));
  size_t paren = s.rfind(')');
  if (paren == std::string_view::npos || paren + 2 >= s.size()) return std::nullopt;
  return s[paren + 2] == 'R';
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

}  // namespace ps::runner
