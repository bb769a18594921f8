#include "store/sqlite/writer_turns.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <thread>

namespace ps::store {
namespace {

// SQLite's lock bytes (os_unix.c): readers of a rollback-journal database hold shared locks in
// the 510 bytes after PENDING_BYTE + 2; WAL readers hold one of the five read-mark locks, bytes
// 123..127 of the -shm file (120 + WAL_READ_LOCK(0..4)).
constexpr off_t kSharedFirst = 0x40000000 + 2;
constexpr off_t kSharedSize = 510;
constexpr off_t kWalReadLocks = 123;
constexpr off_t kWalReadLockCount = 5;

bool Locked(int fd, off_t start, off_t len) {
  if (fd < 0) return false;
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = len;
  if (fcntl(fd, F_GETLK, &fl) != 0) return false;
  return fl.l_type != F_UNLCK;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::shared_ptr<WriterTurns> WriterTurns::For(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<WriterTurns>> all;
  std::error_code ec;
  std::string key = std::filesystem::weakly_canonical(path, ec).string();
  if (ec) key = path;
  std::lock_guard<std::mutex> lock(mu);
  for (auto it = all.begin(); it != all.end();) it = it->second.expired() ? all.erase(it) : ++it;
  if (auto found = all[key].lock()) return found;
  auto made = std::make_shared<WriterTurns>(key);
  all[key] = made;
  return made;
}

WriterTurns::~WriterTurns() {
  if (db_fd_ >= 0) ::close(db_fd_);
  if (shm_fd_ >= 0) ::close(shm_fd_);
}

bool WriterTurns::OtherProcessReading(bool wal) {
  std::lock_guard<std::mutex> lock(mu_);
  if (wal) {
    if (shm_fd_ < 0) shm_fd_ = ::open((path_ + "-shm").c_str(), O_RDONLY | O_CLOEXEC);
    return Locked(shm_fd_, kWalReadLocks, kWalReadLockCount);
  }
  if (db_fd_ < 0) db_fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  return Locked(db_fd_, kSharedFirst, kSharedSize);
}

void WriterTurns::WaitForTurn(bool wal) {
  if (int64_t wait = quiet_until_ns_.load() - NowNs(); wait > 0) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
  }
  auto pause = std::chrono::microseconds(50);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(250);
  while (OtherProcessReading(wal) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

void WriterTurns::Done(std::chrono::steady_clock::duration held) {
  int64_t until = NowNs() + std::chrono::duration_cast<std::chrono::nanoseconds>(held).count();
  int64_t seen = quiet_until_ns_.load();
  while (seen < until && !quiet_until_ns_.compare_exchange_weak(seen, until)) {
  }
}

}  // namespace ps::store
