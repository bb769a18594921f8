// Two processes writing one SQLite file in WAL mode (store/sqlite/writer_turns.h): a reader in
// another process that begins while the host's transaction runs keeps a usable snapshot,
// because the host rolls back and runs its transaction again instead of committing under it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "store/database.h"
#include "store_env.h"
#include "test_util.h"

namespace ps::store {
namespace {

// Waits (bounded) for one byte on fd; true if it came.
bool ReadByte(int fd, int timeout_ms) {
  struct pollfd p = {fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return false;
  char c;
  return ::read(fd, &c, 1) == 1;
}

// Blocks until no process holds the WAL write lock (byte 120 of -shm, SQLite's WAL_WRITE_LOCK),
// at most 10 s (an alarm interrupts the wait). Takes and drops a read lock on that byte through
// its own descriptor; SQLite in this process never holds that byte as a reader, and the
// descriptor stays open (closing it would drop every lock this process holds on the file).
bool WaitForWriteLockFree(int shm_fd) {
  struct sigaction quiet = {};
  quiet.sa_handler = [](int) {};  // no SA_RESTART: the wait returns EINTR
  ::sigaction(SIGALRM, &quiet, nullptr);
  struct flock fl = {};
  fl.l_type = F_RDLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 120;
  fl.l_len = 1;
  ::alarm(10);
  int rc = ::fcntl(shm_fd, F_SETLKW, &fl);
  ::alarm(0);
  if (rc != 0) return false;
  fl.l_type = F_UNLCK;
  return ::fcntl(shm_fd, F_SETLK, &fl) == 0;
}

// The other process: on a byte from `go` it begins a deferred transaction and reads (as
// EmDash's transactions do), says so on `told`, then writes and commits. Its upgrade fails at
// once with plain SQLITE_BUSY while the host holds the write lock, so it waits for the lock to
// be let go and tries again (SQLITE_BUSY_SNAPSHOT, a stale snapshot, can never succeed). Exits
// 0 when its commit landed, 61 on SQLITE_BUSY_SNAPSHOT, another non-zero code on anything else.
[[noreturn]] void Reader(const std::string& path, int go, int told) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) _exit(2);
  sqlite3_busy_timeout(db, 5000);
  if (!ReadByte(go, 10000)) _exit(3);
  if (sqlite3_exec(db, "BEGIN; SELECT COUNT(*) FROM t;", nullptr, nullptr, nullptr) != SQLITE_OK)
    _exit(4);
  int shm = ::open((path + "-shm").c_str(), O_RDWR | O_CLOEXEC);
  if (shm < 0) _exit(7);
  if (::write(told, "r", 1) != 1) _exit(5);
  int rc = SQLITE_BUSY;
  for (int i = 0; i < 100 && rc == SQLITE_BUSY; ++i) {
    if (i > 0 && !WaitForWriteLockFree(shm)) _exit(8);
    rc = sqlite3_exec(db, "INSERT INTO t VALUES ('reader')", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) rc = sqlite3_extended_errcode(db);
  }
  if (rc == SQLITE_BUSY_SNAPSHOT) _exit(61);
  if (rc != SQLITE_OK) _exit(20);
  if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) _exit(6);
  sqlite3_close(db);
  _exit(0);
}

TEST(SqliteWriter, AReaderThatBeganDuringTheHostsTransactionCanStillWrite) {
  if (ps::testing::TestOnPostgres()) return;  // SQLite's WAL locking only
  ps::testing::TempDir dir;
  std::string path = (dir.path() / "site.db").string();
  auto db = OpenDatabase("sqlite:" + path);  // a new file: the host puts it in WAL
  ASSERT_TRUE(db.ok()) << db.status().message();
  auto conn = (*db)->Acquire();
  ASSERT_TRUE(conn->ExecScript("CREATE TABLE t (v TEXT)").ok());
  auto mode = conn->Query("PRAGMA journal_mode");
  ASSERT_TRUE(mode.ok());
  ASSERT_EQ(std::get<std::string>(mode->rows.at(0).at(0)), "wal");

  int go[2], told[2];
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(told), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) Reader(path, go[0], told[1]);

  int runs = 0;
  Status st = conn->Transaction([&]() -> Status {
    ++runs;
    PS_ASSIGN(int64_t n, conn->Exec("INSERT INTO t VALUES ('host')"));
    (void)n;
    if (runs == 1) {
      // The other process starts reading while this transaction holds the write lock.
      if (::write(go[1], "g", 1) != 1) return Internal("cannot signal the reader");
      if (!ReadByte(told[0], 10000)) return Internal("the reader did not start");
    }
    return Status::Ok();
  });
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the reader's write failed (61 = SQLITE_BUSY_SNAPSHOT)";
  EXPECT_EQ(runs, 2) << "the host should have rolled back once and run again";
  auto rows = conn->Query("SELECT v FROM t ORDER BY v");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->rows.size(), 2u);  // one of each: the rolled-back run left nothing
  EXPECT_EQ(std::get<std::string>(rows->rows[0][0]), "host");
  EXPECT_EQ(std::get<std::string>(rows->rows[1][0]), "reader");
  for (int fd : {go[0], go[1], told[0], told[1]}) ::close(fd);
}

// A reader that never finishes delays the host's write by its patience, not for ever.
TEST(SqliteWriter, AReaderThatNeverEndsDelaysTheHostOnlyBriefly) {
  if (ps::testing::TestOnPostgres()) return;
  ps::testing::TempDir dir;
  std::string path = (dir.path() / "site.db").string();
  auto db = OpenDatabase("sqlite:" + path);
  ASSERT_TRUE(db.ok()) << db.status().message();
  auto conn = (*db)->Acquire();
  ASSERT_TRUE(conn->ExecScript("CREATE TABLE t (v TEXT)").ok());

  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    sqlite3* other = nullptr;
    if (sqlite3_open(path.c_str(), &other) != SQLITE_OK) _exit(2);
    if (sqlite3_exec(other, "BEGIN; SELECT COUNT(*) FROM t;", nullptr, nullptr, nullptr) !=
        SQLITE_OK)
      _exit(3);
    if (::write(ready[1], "r", 1) != 1) _exit(4);
    ::pause();  // holds its read transaction until killed
    _exit(0);
  }
  ASSERT_TRUE(ReadByte(ready[0], 10000));
  int runs = 0;
  Status st = conn->Transaction([&]() -> Status {
    ++runs;
    return conn->Exec("INSERT INTO t VALUES ('host')").status();
  });
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(runs, 1);  // patience ran out before the work started: it ran once and committed
  auto rows = conn->Query("SELECT COUNT(*) FROM t");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(std::get<int64_t>(rows->rows.at(0).at(0)), 1);
}

}  // namespace
}  // namespace ps::store
