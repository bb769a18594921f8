// plugin-sandbox-launch: applies process hardening that posix_spawn cannot, then execs workerd.
//
//   plugin-sandbox-launch --parent PID [--nofile N] [--nice N] [--netns] -- PROGRAM ARGS...
//
// In order: parent-death signal SIGKILL (and exit at once if the parent already died: the race
// between spawn and prctl); no-new-privileges; RLIMIT_NOFILE; a nice value of at least N (inherited
// by every thread the program starts); optionally a fresh, empty network
// namespace (only Unix sockets work inside it, which is all a plugin process needs); closing every
// descriptor above stderr; exec. If the namespace cannot be created the launcher says so on
// stderr with the marker "ps-launch: netns unavailable" and continues without it (the supervisor
// probes this once at start and logs one warning).
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "ps-launch: %s: %s\n", what, std::strerror(errno));
  std::_Exit(127);
}

void CloseFrom(int lowfd) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, lowfd, ~0U, 0) == 0) return;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  for (long fd = lowfd; fd < max; ++fd) close(int(fd));
}

}  // namespace

int main(int argc, char** argv) {
  long parent = -1;
  long nofile = 0;
  long nice = 0;
  bool netns = false;
  bool probe = false;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    } else if (a == "--parent" && i + 1 < argc) {
      parent = std::strtol(argv[++i], nullptr, 10);
    } else if (a == "--nofile" && i + 1 < argc) {
      nofile = std::strtol(argv[++i], nullptr, 10);
    } else if (a == "--nice" && i + 1 < argc) {
      nice = std::strtol(argv[++i], nullptr, 10);
    } else if (a == "--netns") {
      netns = true;
    } else if (a == "--probe-netns") {
      probe = true;
    } else {
      std::fprintf(stderr, "ps-launch: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (probe) {
    // Exit 0 iff an empty network namespace can be made here.
    return unshare(CLONE_NEWNET) == 0 ? 0 : 1;
  }
  if (i >= argc) {
    std::fprintf(
        stderr,
        "usage: plugin-sandbox-launch --parent PID [--nofile N] [--nice N] [--netns] -- PROGRAM "
        "ARGS...\n");
    return 2;
  }
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) Fail("PR_SET_PDEATHSIG");
  if (parent > 0 && getppid() != parent) std::_Exit(1);  // the host is already gone
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail("PR_SET_NO_NEW_PRIVS");
  if (nofile > 0) {
    struct rlimit rl = {rlim_t(nofile), rlim_t(nofile)};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) Fail("RLIMIT_NOFILE");
  }
  if (nice > 0) {
    // At least N: a host already running nicer keeps its value (lowering it needs privilege).
    errno = 0;
    int current = getpriority(PRIO_PROCESS, 0);
    if (errno == 0 && current < nice && setpriority(PRIO_PROCESS, 0, int(nice)) != 0) {
      // Best effort (a seccomp filter may deny it): the process still runs, at its old value.
      std::fprintf(stderr, "ps-launch: setpriority: %s\n", std::strerror(errno));
    }
  }
  if (netns && unshare(CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "ps-launch: netns unavailable: %s\n", std::strerror(errno));
  }
  CloseFrom(3);
  execv(argv[i], argv + i);
  Fail("exec");
}
