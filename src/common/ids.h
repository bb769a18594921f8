// Identifiers and timestamps in the forms EmDash stores: ULIDs (26 chars, Crockford base32,
// 48-bit millisecond time + 80 random bits) and ISO-8601 UTC times with milliseconds
// ("2026-01-02T03:04:05.678Z", what JavaScript's toISOString() renders).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

namespace ps {

int64_t NowMillis();
std::string IsoTime(int64_t unix_millis);
std::string NowIso();

// A random (non-monotonic) ULID for the given time.
std::string NewUlid(int64_t unix_millis);
std::string NewUlid();

// ULIDs that sort strictly increasing even within one millisecond (used for revisions).
class MonotonicUlid {
 public:
  std::string Next();

 private:
  std::mutex mu_;
  int64_t last_ms_ = -1;
  unsigned char last_random_[10] = {};
};

}  // namespace ps
