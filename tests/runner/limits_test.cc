// The watchdog's view of a plugin process (runner/limits.h), on real processes.
#include "runner/limits.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

namespace ps::testing {
namespace {

// A child that spins or sleeps until killed.
pid_t Child(bool spin) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (spin) {
      volatile unsigned long n = 0;
      for (;;) n = n + 1;
    }
    for (;;) ::pause();
  }
  return pid;
}

void* Spin(void*) {
  volatile unsigned long n = 0;
  for (;;) n = n + 1;
  return nullptr;
}

void* Wait(void*) {
  for (;;) ::pause();
  return nullptr;
}

// A child whose main thread spins or waits and whose second thread does the other: the shape of a
// workerd process in a loop (main busy, V8's helper asleep) or in a collection (helper busy).
pid_t ChildWithHelper(bool main_spins) {
  pid_t pid = ::fork();
  if (pid == 0) {
    pthread_t t;
    if (pthread_create(&t, nullptr, main_spins ? Wait : Spin, nullptr) != 0) ::_exit(1);
    if (main_spins) Spin(nullptr);
    Wait(nullptr);
  }
  return pid;
}

void Reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

TEST(Limits, MainThreadRunningTellsASpinningThreadFromAWaitingOne) {
  pid_t spinner = Child(true);
  pid_t sleeper = Child(false);
  ASSERT_GT(spinner, 0);
  ASSERT_GT(sleeper, 0);
  // A spinner is always R (running or waiting for a core); the sleeper is R only until it
  // reaches pause().
  EXPECT_EQ(runner::MainThreadRunning(spinner), std::optional<bool>(true));
  EXPECT_TRUE(Eventually([&] { return runner::MainThreadRunning(sleeper) == false; }));
  EXPECT_EQ(runner::MainThreadRunning(sleeper), std::optional<bool>(false));
  // The spinner's clock advances; the sleeper's does not.
  auto before = runner::MainThreadCpuNs(spinner);
  ASSERT_TRUE(before.has_value());
  EXPECT_TRUE(Eventually([&] { return runner::MainThreadCpuNs(spinner) > before; }));
  Reap(spinner);
  Reap(sleeper);
  EXPECT_EQ(runner::MainThreadRunning(spinner), std::nullopt);  // gone
}

TEST(Limits, OtherThreadRunningSeesABusyHelperButNotALoopAlone) {
  pid_t loop = ChildWithHelper(/*main_spins=*/true);
  pid_t collection = ChildWithHelper(/*main_spins=*/false);
  pid_t single = Child(true);
  ASSERT_GT(loop, 0);
  ASSERT_GT(collection, 0);
  ASSERT_GT(single, 0);
  // The helper of `collection` spins: always R once it exists. The helper of `loop` is R only
  // until it reaches pause(), and a single-threaded spinner has no other thread at all.
  EXPECT_TRUE(Eventually([&] { return runner::OtherThreadRunning(collection) == true; }));
  EXPECT_EQ(runner::OtherThreadRunning(collection), std::optional<bool>(true));
  EXPECT_TRUE(Eventually([&] { return runner::OtherThreadRunning(loop) == false; }));
  EXPECT_EQ(runner::OtherThreadRunning(loop), std::optional<bool>(false));
  EXPECT_EQ(runner::MainThreadRunning(loop), std::optional<bool>(true));
  EXPECT_EQ(runner::OtherThreadRunning(single), std::optional<bool>(false));
  Reap(loop);
  Reap(collection);
  Reap(single);
  EXPECT_EQ(runner::OtherThreadRunning(loop), std::nullopt);  // gone
}

}  // namespace
}  // namespace ps::testing
