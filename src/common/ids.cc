#include "common/ids.h"

#include <chrono>
#include <cstring>
#include <ctime>

#include "common/crypto.h"

namespace ps {
namespace {

constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

std::string Render(int64_t ms, const unsigned char random[10]) {
  std::string out(26, '0');
  uint64_t t = uint64_t(ms) & ((uint64_t(1) << 48) - 1);
  for (int i = 9; i >= 0; --i) {
    out[i] = kCrockford[t & 31];
    t >>= 5;
  }
  // 80 random bits -> 16 characters, most significant first.
  int bit = 0;
  for (int c = 0; c < 16; ++c) {
    int v = 0;
    for (int k = 0; k < 5; ++k, ++bit) {
      v = (v << 1) | ((random[bit / 8] >> (7 - bit % 8)) & 1);
    }
    out[10 + c] = kCrockford[v];
  }
  return out;
}

}  // namespace

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string IsoTime(int64_t unix_millis) {
  time_t secs = time_t(unix_millis / 1000);
  int ms = int(unix_millis % 1000);
  if (ms < 0) {
    ms += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

std::string NowIso() { return IsoTime(NowMillis()); }

std::string NewUlid(int64_t unix_millis) {
  std::string r = RandomBytes(10);
  return Render(unix_millis, reinterpret_cast<const unsigned char*>(r.data()));
}

std::string NewUlid() { return NewUlid(NowMillis()); }

std::string MonotonicUlid::Next() {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = NowMillis();
  if (now <= last_ms_) {
    // Same (or earlier, if the clock stepped back) millisecond: increment the random part.
    for (int i = 9; i >= 0; --i) {
      if (++last_random_[i] != 0) break;
    }
    return Render(last_ms_, last_random_);
  }
  last_ms_ = now;
  std::string r = RandomBytes(10);
  std::memcpy(last_random_, r.data(), 10);
  return Render(last_ms_, last_random_);
}

}  // namespace ps
