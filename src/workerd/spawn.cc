#include "workerd/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>

namespace ps::workerd {
namespace {

struct ChildArgs {
  char* const* argv;
  char* const* envp;
  const char* cwd;
  int output_fd;
  int extra_fd;
  const char* uid_map;  // "" when none
  const char* gid_map;
  sigset_t mask;  // the parent's, restored in the child
  int error;      // written by the child (shared memory) when it fails before the exec
};

// Runs in the child, on its own stack, in the parent's memory until the exec: only system
// calls, no allocation, no locks.
int ChildMain(void* raw) {
  auto* a = static_cast<ChildArgs*>(raw);
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  auto fail = [a]() {
    a->error = errno ? errno : EIO;
    _exit(127);
  };
  // dup2 onto itself keeps close-on-exec: clear it instead.
  auto place = [&](int from, int to) {
    if (from == to) return fcntl(to, F_SETFD, 0) == 0;
    return dup2(from, to) >= 0;
  };
  if (setpgid(0, 0) != 0) fail();
  if (a->uid_map[0]) {
    auto put = [&](const char* path, const char* text) {
      int fd = open(path, O_WRONLY);
      if (fd < 0) fail();
      size_t n = 0;
      while (text[n]) ++n;
      if (write(fd, text, n) != ssize_t(n)) fail();
      close(fd);
    };
    put("/proc/self/setgroups", "deny");
    put("/proc/self/uid_map", a->uid_map);
    put("/proc/self/gid_map", a->gid_map);
  }
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd < 0) fail();
  if (dup2(null_fd, 0) < 0) fail();
  if (null_fd != 0) close(null_fd);
  if (a->output_fd >= 0 && (!place(a->output_fd, 1) || !place(a->output_fd, 2))) fail();
  if (a->extra_fd >= 0 && !place(a->extra_fd, 3)) fail();
  if (a->cwd && a->cwd[0] && chdir(a->cwd) != 0) fail();
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(a->argv[0], a->argv, a->envp);
  fail();
  return 127;
}

}  // namespace

pid_t SpawnProcess(const SpawnRequest& request) {
  std::vector<std::string> argv_store = request.argv;
  std::vector<std::string> env_store = request.env;
  std::vector<char*> argv, envp;
  for (auto& s : argv_store) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  if (argv_store.empty()) return -EINVAL;

  ChildArgs a{argv.data(),
              envp.data(),
              request.cwd.c_str(),
              request.output_fd,
              request.extra_fd,
              request.uid_map.c_str(),
              request.gid_map.c_str(),
              {},
              0};
  constexpr size_t kStack = 64 * 1024;
  auto stack = std::make_unique<char[]>(kStack);
  // No handler of ours may run in the child (it shares our memory until the exec).
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &a.mask);
  pid_t pid = clone(ChildMain, stack.get() + kStack,
                    CLONE_VM | CLONE_VFORK | SIGCHLD | request.clone_flags, &a);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &a.mask, nullptr);
  if (pid < 0) return -clone_errno;
  if (a.error != 0) {
    // The child exited before its exec: reap it, and report why.
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return -a.error;
  }
  return pid;
}

}  // namespace ps::workerd
