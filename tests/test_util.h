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
#include <vector>

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

// The rows of the nth table (from 0) in the section of a doc under `heading` ("## Errors"), each a
// list of its cells, trimmed, with one pair of surrounding backticks removed; the header and the
// separator row are left out. Docs whose tables list what a table in src/ declares (error codes,
// limits, routes, options) are checked against it through this.
inline std::vector<std::vector<std::string>> DocTable(const std::string& doc,
                                                      const std::string& heading, int nth = 0) {
  std::string text = ReadFile(std::filesystem::path(PS_SOURCE_DIR) / doc);
  std::vector<std::vector<std::string>> rows;
  size_t start = text.find("\n" + heading + "\n");
  if (start == std::string::npos) return rows;
  size_t end = text.find("\n## ", start + 1);
  std::istringstream lines(text.substr(start, end == std::string::npos ? text.npos : end - start));
  std::string line;
  bool in_table = false;
  for (int n = 0; std::getline(lines, line) && n < 10000; ++n) {
    if (line.rfind("|", 0) != 0) {
      if (in_table && nth-- == 0) break;
      in_table = false;
      rows.clear();
      continue;
    }
    std::vector<std::string> cells;
    size_t pos = 1;
    for (int c = 0; pos < line.size() && c < 64; ++c) {
      size_t bar = line.find(" | ", pos);
      std::string cell =
          line.substr(pos, bar == std::string::npos ? line.size() - 1 - pos : bar - pos);
      while (!cell.empty() && cell.front() == ' ') cell.erase(0, 1);
      while (!cell.empty() && (cell.back() == ' ' || cell.back() == '|')) cell.pop_back();
      if (cell.size() >= 2 && cell.front() == '`' && cell.back() == '`' &&
          cell.find('`', 1) == cell.size() - 1) {
        cell = cell.substr(1, cell.size() - 2);
      }
      cells.push_back(cell);
      if (bar == std::string::npos) break;
      pos = bar + 3;
    }
    if (!in_table) {  // the header; the separator row follows
      in_table = true;
      std::getline(lines, line);
      continue;
    }
    rows.push_back(std::move(cells));
  }
  return rows;
}

}  // namespace ps::testing
