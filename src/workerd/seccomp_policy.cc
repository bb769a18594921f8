// The allowlist. Measured with `strace -f` on workerd under the whole end-to-end suite and the
// benchmark (docs/security.md "System calls" says how to measure it again), then cut to what a
// V8 isolate serving HTTP on Unix sockets needs. Everything else, notably ptrace, mount, bpf,
// keyctl, unshare, setns, io_uring_*, perf_event_open, process_vm_*, fork and any socket that is
// not AF_UNIX, fails with EPERM.
#include "workerd/seccomp_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#endif

namespace ps::workerd {
namespace {

// Plain allowed calls, by group. A name this architecture does not have is skipped.
const char* const kAllowed[] = {
    // Memory: V8's heaps and code space are reserved PROT_NONE and committed piecewise; pkeys
    // guard its JIT pages; madvise returns memory and marks dump ranges.
    "mmap",
    "munmap",
    "mprotect",
    "mremap",
    "madvise",
    "brk",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "membarrier",
    // Threads and their synchronisation: the C library's thread start and exit, V8's platform
    // workers, kj's thread pool. (clone itself is below, with its flags checked.)
    "futex",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "gettid",
    "set_tid_address",
    "sched_getaffinity",
    "sched_yield",
    "sched_getscheduler",
    "sched_getparam",
    "exit",
    "exit_group",
    // Signals: kj's and V8's handlers and alternate stacks (sending one is below: to itself
    // only).
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigaltstack",
    "rt_sigtimedwait",
    // A sleep or poll interrupted by a stop and a continue resumes through this.
    "restart_syscall",
    // Time.
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "time",
    "nanosleep",
    "clock_nanosleep",
    // Files it reads in its own root: its config and modules, /dev/urandom, /proc/self/maps
    // (stack bounds), /sys/devices/system/cpu/online, the libraries at start.
    "openat",
    "open",
    "read",
    "readv",
    "pread64",
    "write",
    "writev",
    "pwrite64",
    "close",
    "close_range",
    "fstat",
    "newfstatat",
    "stat",
    "lstat",
    "statx",
    "lseek",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getdents64",
    "getcwd",
    "dup",
    "dup2",
    "dup3",
    "pipe2",
    "fadvise64",
    // The event loop: epoll, eventfd wake-ups, poll.
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd2",
    "poll",
    "ppoll",
    "pselect6",
    "select",
    // Unix sockets (the socket call itself is below, with its domain checked): its own listening
    // socket and its connections to the host's bridge.
    "socketpair",
    "bind",
    "listen",
    "accept",
    "accept4",
    "connect",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "shutdown",
    "getsockopt",
    "setsockopt",
    "getsockname",
    "getpeername",
    // Who and where it is, and its own limits (prlimit64 is below: reading only).
    "getpid",
    "getppid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "uname",
    "getrlimit",
    "getrusage",
    "sysinfo",
    "getrandom",
    // Process start: the launcher's exec of workerd (the new root holds nothing else to run) and
    // the C library's thread-pointer setup.
    "execve",
    "arch_prctl",
};

bool Add(scmp_filter_ctx ctx, const char* name, uint32_t action, unsigned count,
         const scmp_arg_cmp* args, std::string* why) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return true;  // not on this architecture
  int rc = count == 0 ? seccomp_rule_add(ctx, action, nr, 0)
                      : seccomp_rule_add_array(ctx, action, nr, count, args);
  if (rc != 0) {
    *why = std::string("seccomp rule for ") + name + ": " + std::strerror(-rc);
    return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> SeccompAllowedNames() {
  std::vector<std::string> out(std::begin(kAllowed), std::end(kAllowed));
  for (const char* n :
       {"clone", "socket", "ioctl", "prctl", "prlimit64", "kill", "tgkill", "fcntl"}) {
    out.push_back(n);
  }
  return out;
}

bool InstallSeccompPolicy(std::string* why) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (!ctx) {
    *why = "seccomp_init failed";
    return false;
  }
  bool ok = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) == 0;
  // A binary search over the call numbers instead of a linear list: every system call the
  // plugin makes runs the filter (libseccomp 2.5; an older one keeps the list).
  (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  for (const char* name : kAllowed) ok = ok && Add(ctx, name, SCMP_ACT_ALLOW, 0, nullptr, why);

  // Threads only: a clone must share the address space as a thread and may ask for no new
  // namespace. A fork (no CLONE_THREAD) fails, so a plugin cannot multiply processes.
  const uint64_t ns_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                            CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
  scmp_arg_cmp thread_only[] = {
      SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD | CLONE_VM | ns_flags, CLONE_THREAD | CLONE_VM)};
  ok = ok && Add(ctx, "clone", SCMP_ACT_ALLOW, 1, thread_only, why);
  // clone3 passes its flags in memory, where a filter cannot look: ENOSYS makes the C library fall
  // back to clone, whose flags are checked above.
  ok = ok && Add(ctx, "clone3", SCMP_ACT_ERRNO(ENOSYS), 0, nullptr, why);
  // Unix sockets only: no TCP, UDP, raw, netlink or vsock socket, even where the network
  // namespace is missing.
  scmp_arg_cmp unix_only[] = {SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0)};
  ok = ok && Add(ctx, "socket", SCMP_ACT_ALLOW, 1, unix_only, why);
  // Terminal queries (isatty on its outputs) and the non-blocking and close-on-exec switches.
  for (unsigned long request : {TCGETS, FIONBIO, FIONREAD, FIOCLEX, FIONCLEX}) {
    scmp_arg_cmp one[] = {SCMP_A1(SCMP_CMP_EQ, request, 0)};
    ok = ok && Add(ctx, "ioctl", SCMP_ACT_ALLOW, 1, one, why);
  }
  // Naming its threads and memory ranges; reading (never setting) its dumpable flag.
  for (unsigned long option : {PR_SET_NAME, PR_GET_NAME, PR_SET_VMA, PR_GET_DUMPABLE}) {
    scmp_arg_cmp one[] = {SCMP_A0(SCMP_CMP_EQ, option, 0)};
    ok = ok && Add(ctx, "prctl", SCMP_ACT_ALLOW, 1, one, why);
  }
  // Reading its own limits (pid 0 or its own, new_limit NULL); raising them is not for it to do.
  const uint64_t self = uint64_t(getpid());  // the pid survives the exec (1 in a PID namespace)
  for (uint64_t pid : {uint64_t(0), self}) {
    scmp_arg_cmp own_read[] = {SCMP_A0(SCMP_CMP_EQ, pid, 0), SCMP_A2(SCMP_CMP_EQ, 0, 0)};
    ok = ok && Add(ctx, "prlimit64", SCMP_ACT_ALLOW, 2, own_read, why);
  }
  // Signals to itself only (abort, raise, a signal to one of its threads): never to another
  // process, even where the PID namespace is missing. kill(0, …) is its own process group.
  for (uint64_t pid : {uint64_t(0), self}) {
    scmp_arg_cmp one[] = {SCMP_A0(SCMP_CMP_EQ, pid, 0)};
    ok = ok && Add(ctx, "kill", SCMP_ACT_ALLOW, 1, one, why);
  }
  scmp_arg_cmp own_tgid[] = {SCMP_A0(SCMP_CMP_EQ, self, 0)};
  ok = ok && Add(ctx, "tgkill", SCMP_ACT_ALLOW, 1, own_tgid, why);
  // Descriptor flags and duplicates; not F_SETOWN or F_SETSIG (signals to another process),
  // leases or notifications.
  for (int cmd : {F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD, F_DUPFD_CLOEXEC}) {
    scmp_arg_cmp one[] = {SCMP_A1(SCMP_CMP_EQ, uint64_t(cmd), 0)};
    ok = ok && Add(ctx, "fcntl", SCMP_ACT_ALLOW, 1, one, why);
  }

  if (ok) {
    int rc = seccomp_load(ctx);
    if (rc != 0) {
      *why = std::string("seccomp_load: ") + std::strerror(-rc);
      ok = false;
    }
  }
  seccomp_release(ctx);
  return ok;
}

}  // namespace ps::workerd
