// The watchdog's view of a plugin process (runner/limits.h), on real processes.
#include "runner/limits.h"

#include <gtest/gtest.h>
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

}  // namespace
}  // namespace ps::testing
