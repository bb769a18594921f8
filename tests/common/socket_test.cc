#include "common/socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <string>

#include "test_util.h"

namespace ps {
namespace {

using ps::testing::SendFiller;

struct Pair {
  int server = -1, client = -1;
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    server = fds[0];
    client = fds[1];
  }
  ~Pair() {
    ::close(server);
    ::close(client);
  }
};

std::string ReadToEnd(int fd) {
  std::string out;
  char buf[4096];
  for (int i = 0; i < 100000; ++i) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  return out;
}

TEST(LingeringClose, LetsAPeerStillSendingFinishAndReadTheAnswer) {
  Pair p;
  ASSERT_EQ(::write(p.server, "answer", 6), 6);  // answered before the request was read
  auto lingered = std::async(std::launch::async, [&] { return LingeringClose(p.server); });
  // Far more than a socket buffer holds: without the lingering reads this write would stall,
  // and after a plain close it would fail.
  EXPECT_EQ(SendFiller(p.client, 8 << 20), size_t(8) << 20);
  ::shutdown(p.client, SHUT_WR);
  EXPECT_EQ(ReadToEnd(p.client), "answer");
  EXPECT_TRUE(lingered.get());
}

TEST(LingeringClose, GivesUpAfterItsByteCap) {
  Pair p;
  LingerLimits limits;
  limits.bytes = 256 * 1024;
  auto sender = std::async(std::launch::async, [&] { return SendFiller(p.client, 64 << 20); });
  EXPECT_FALSE(LingeringClose(p.server, limits));
  ::shutdown(p.server, SHUT_RDWR);  // what the caller's close does: the sender's write fails
  EXPECT_LT(sender.get(), size_t(64) << 20);
}

TEST(LingeringClose, GivesUpAfterItsTimeWhenThePeerNeitherSendsNorCloses) {
  Pair p;
  LingerLimits limits;
  limits.time = std::chrono::milliseconds(20);
  EXPECT_FALSE(LingeringClose(p.server, limits));
  char c;
  EXPECT_EQ(::read(p.client, &c, 1), 0);  // the sending side was shut down: the peer sees EOF
}

TEST(LingeringClose, EndsWhenAnotherThreadShutsTheSocketDown) {
  Pair p;
  LingerLimits limits;
  limits.time = std::chrono::minutes(10);  // only the shutdown below can end it in time
  auto lingered = std::async(std::launch::async, [&] { return LingeringClose(p.server, limits); });
  ::shutdown(p.server, SHUT_RDWR);
  EXPECT_TRUE(lingered.get());
}

}  // namespace
}  // namespace ps
