#include "runner/limits.h"

#include <unistd.h>

#include <cstdio>
#include <string>

namespace ps::runner {

std::optional<uint64_t> MainThreadCpuNs(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/schedstat";
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return std::nullopt;
  unsigned long long ns = 0;
  int n = std::fscanf(f, "%llu", &ns);
  std::fclose(f);
  if (n != 1) return std::nullopt;
  return uint64_t(ns);
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
