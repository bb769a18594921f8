// Shared by the fuzz targets: property checks that stop the run with a message (libFuzzer then
// saves the input as a crash), a reader that splits one input into typed pieces, and the scratch
// site database of the targets that need one.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "store/database.h"

namespace ps::fuzz {

// A property the target holds every input to. Failing it is a finding, exactly like a crash.
#define PS_FUZZ_CHECK(cond, what)                                     \
  do {                                                                \
    if (!(cond)) ::ps::fuzz::Fail(__FILE__, __LINE__, #cond, (what)); \
  } while (0)

[[noreturn]] inline void Fail(const char* file, int line, const char* cond,
                              const std::string& what) {
  std::fprintf(stderr, "%s:%d: property violated: %s\n  %s\n", file, line, cond, what.c_str());
  std::abort();
}

// Takes an input apart front to back: a byte, or text up to the next separator byte (so a seed
// file stays readable: fields separated by a newline or by \0).
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  uint8_t Byte() {
    if (rest_.empty()) return 0;
    uint8_t b = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return b;
  }
  std::string_view Until(char sep) {
    size_t at = rest_.find(sep);
    std::string_view out = rest_.substr(0, at);
    rest_.remove_prefix(at == std::string_view::npos ? rest_.size() : at + 1);
    return out;
  }
  std::string_view Rest() {
    std::string_view out = rest_;
    rest_ = {};
    return out;
  }
  bool empty() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

// A fresh SQLite site database (the schema the host makes) in a new directory `ps-fuzz-<name>-*`
// under the working directory, which fuzz/run gives each run and removes. Sets *dir to it.
inline std::unique_ptr<store::Database> OpenScratchSite(const std::string& name, std::string* dir) {
  std::string tmpl = "ps-fuzz-" + name + "-XXXXXX";
  *dir = ::mkdtemp(tmpl.data()) ? tmpl : ".";
  auto db = store::OpenDatabase("sqlite:" + *dir + "/site.db");
  PS_FUZZ_CHECK(db.ok(), db.status().message());
  return std::move(db).value();
}

}  // namespace ps::fuzz
