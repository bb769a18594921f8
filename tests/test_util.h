// Shared test helpers: a temporary directory removed at the end of the test, and file I/O.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

namespace ps::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ps-test-XXXXXX").string();
    char* made = mkdtemp(tmpl.data());
    if (!made) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

// Waits for `cond` with a deadline, looking again every `every`; returns whether it became true.
// The one way tests wait for something: a bounded poll, never a bare sleep.
inline bool Eventually(const std::function<bool()>& cond,
                       std::chrono::milliseconds limit = std::chrono::seconds(10),
                       std::chrono::milliseconds every = std::chrono::milliseconds(2)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(every);  // polling interval, not a sync
  }
  return cond();
}

// Writes `n` bytes of filler to a socket; returns how many went out before an error (EPIPE once
// the other side is gone: no SIGPIPE).
inline size_t SendFiller(int fd, size_t n) {
  std::string chunk(64 * 1024, 'x');
  size_t sent = 0;
  for (int i = 0; i < 1000000 && sent < n; ++i) {
    ssize_t w = ::send(fd, chunk.data(), std::min(chunk.size(), n - sent), MSG_NOSIGNAL);
    if (w <= 0) break;
    sent += size_t(w);
  }
  return sent;
}

inline void WriteFile(const std::filesystem::path& p, const std::string& content) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << content;
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace ps::testing
