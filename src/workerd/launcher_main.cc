// plugin-sandbox-launch: builds the kernel's wall around one plugin process, then execs workerd.
//
//   plugin-sandbox-launch [options] -- PROGRAM ARGS...
//
// The supervisor spawns it (with clone(2) when a PID or user namespace is wanted: those can only
// be entered by a new process) and it applies, in this order, whatever it is asked for:
//   1. parent-death signal SIGKILL, and exit at once if the host is already gone (--parent PID,
//      or --parent-pipe FD whose other end only the host holds: inside a PID namespace the
//      parent's pid cannot be seen);
//   2. no-new-privileges;
//   3. joining cgroups (--cgroup FILE: a cgroup.procs file the host made for this process);
//   4. rlimits (--nofile, --rlimit-data, --rlimit-nproc, --rlimit-cpu) and a nice value (--nice);
//   6. new namespaces: --netns (empty network; --netns-optional: best effort, without
//      containment), --ipcns, --utsns; --root DIR a mount namespace;
//   7. with --root: a fresh tmpfs on DIR holding only the --ro and --rw paths (bind mounts, at the
//      same absolute paths), a minimal /dev, a private /tmp and, with --proc, a private /proc;
//      then pivot_root into it and detach the old root;
//   8. identity: --uid N --gid N when the host is root (no supplementary groups, then the ids);
//      --userns when it is not: the spawner made us root of a user namespace mapped to the
//      host's uid, and we enter a nested one where the plugin is nobody (65534);
//   9. every capability dropped from all five sets (--drop-caps);
//  10. the seccomp allowlist (--seccomp, seccomp_policy.cc);
//  11. closing every descriptor above stderr; exec.
// Any step asked for that fails ends the launcher with status 126 and one line on stderr,
// "ps-launch: <layer>: <why>": a wall is never silently missing. The host decides once, at its
// start, which layers this machine allows (--dry-run does every step but the exec and exits 0).
//
// It includes nothing from the rest of the project but seccomp_policy.h: it runs between fork and
// exec of a process that is about to hold untrusted code.
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "workerd/seccomp_policy.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "ps-launch: %s: %s\n", what, std::strerror(errno));
  std::_Exit(127);
}

// A requested layer that cannot be applied: never run the program without it.
[[noreturn]] void LayerFail(const char* layer, const std::string& why) {
  std::fprintf(stderr, "ps-launch: %s: %s\n", layer, why.c_str());
  std::_Exit(126);
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

void CloseFrom(int lowfd) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, lowfd, ~0U, 0) == 0) return;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  for (long fd = lowfd; fd < max; ++fd) close(int(fd));
}

bool WriteFile(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size());
  int saved = errno;
  ::close(fd);
  errno = saved;
  return ok;
}

struct Options;
bool HostGone(const Options& o);

struct Options {
  long parent = -1;
  int parent_pipe = -1;
  long nofile = 0;
  long nice = 0;
  long rlimit_data = 0, rlimit_nproc = 0, rlimit_cpu = 0;
  std::vector<std::string> cgroups;
  bool userns = false;
  bool netns = false, netns_optional = false, ipcns = false, utsns = false, proc = false;
  std::string root;
  std::vector<std::string> ro, rw;
  long uid = -1, gid = -1;
  bool drop_caps = false, seccomp = false, dry_run = false;
};

// The host holds the only write end of the parent pipe: a hang-up means it died before the
// death signal was armed.
bool HostGone(const Options& o) {
  if (o.parent_pipe < 0) return false;
  struct pollfd pfd = {o.parent_pipe, POLLIN, 0};
  return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR));
}

void SetLimit(int resource, long value, const char* name) {
  if (value <= 0) return;
  struct rlimit rl = {rlim_t(value), rlim_t(value)};
  if (setrlimit(resource, &rl) != 0) LayerFail("rlimit", Errno(name));
}

// The mount flags a bind mount of `path` already carries and may not lose (in a user namespace
// the kernel refuses a remount that would clear a locked nosuid, nodev or noexec).
unsigned long LockedFlags(const std::string& path) {
  struct statvfs sv;
  if (statvfs(path.c_str(), &sv) != 0) return 0;
  unsigned long f = 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

// Recreates `path` under `root` as the host has it: every symbolic link on the way becomes the
// same link inside (Debian's /lib64 -> usr/lib64, say) and is followed, so the program finds its
// files by the paths it was built with. Returns the real (link-free) path of the final
// component on the host, whose stand-in under root (an empty file or directory) is made.
std::string Mirror(const std::string& root, const std::string& path, int depth = 0) {
  if (depth > 16) LayerFail("mount", "too many symbolic links resolving " + path);
  std::string done;  // resolved host prefix, no trailing slash
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    std::string part = path.substr(pos, next - pos);
    pos = next + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      done = done.substr(0, done.rfind('/'));
      continue;
    }
    std::string host = done + "/" + part;
    bool last = pos > path.size();
    struct stat st;
    if (lstat(host.c_str(), &st) != 0) LayerFail("mount", Errno("lstat " + host));
    std::string inside = root + host;
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = readlink(host.c_str(), target, sizeof target - 1);
      if (n < 0) LayerFail("mount", Errno("readlink " + host));
      target[n] = '\0';
      struct stat ist;
      if (lstat(inside.c_str(), &ist) != 0 && symlink(target, inside.c_str()) != 0) {
        LayerFail("mount", Errno("symlink " + inside));
      }
      std::string rest = last ? "" : path.substr(pos - 1);
      std::string resolved = target[0] == '/' ? std::string(target) : done + "/" + target;
      return Mirror(root, resolved + rest, depth + 1);
    }
    struct stat ist;
    bool exists = lstat(inside.c_str(), &ist) == 0;
    if (S_ISDIR(st.st_mode)) {
      if (!exists && mkdir(inside.c_str(), 0755) != 0) LayerFail("mount", Errno("mkdir " + inside));
    } else if (!last) {
      LayerFail("mount", host + " is not a directory");
    } else if (!exists) {
      int fd = ::open(inside.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) LayerFail("mount", Errno("create " + inside));
      ::close(fd);
    }
    done = host;
  }
  return done.empty() ? "/" : done;
}

void Bind(const std::string& root, const std::string& path, bool writable) {
  std::string host = Mirror(root, path);
  std::string inside = root + host;
  // Not MS_REC: a mount below the path is not carried in (it would keep its own flags).
  if (mount(host.c_str(), inside.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    LayerFail("mount", Errno("bind " + host));
  }
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | LockedFlags(inside);
  // Nothing it can write can be executed: its socket directory holds sockets only.
  flags |= writable ? MS_NOEXEC : MS_RDONLY;
  if (mount(nullptr, inside.c_str(), nullptr, flags, nullptr) != 0) {
    LayerFail("mount", Errno("remount " + host));
  }
}

void BuildRoot(const Options& o) {
  const std::string& root = o.root;
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) LayerFail("mount", Errno("getcwd"));
  // Nothing we mount may propagate back to the host.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    LayerFail("mount", Errno("make / private"));
  }
  if (mount("tmpfs", root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") != 0) {
    LayerFail("mount", Errno("tmpfs on " + root));
  }
  // A minimal /dev: the three devices a runtime reads, bound from the host's (mknod would need
  // a privilege a user namespace does not have).
  if (mkdir((root + "/dev").c_str(), 0755) != 0 && errno != EEXIST) {
    LayerFail("mount", Errno("mkdir /dev"));
  }
  for (const char* dev : {"/dev/null", "/dev/zero", "/dev/urandom"}) {
    std::string inside = root + dev;
    int fd = ::open(inside.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) LayerFail("mount", Errno("create " + inside));
    ::close(fd);
    if (mount(dev, inside.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      LayerFail("mount", Errno(std::string("bind ") + dev));
    }
    // nodev would stop the device itself; nosuid and noexec never hurt.
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC | LockedFlags(inside);
    flags &= ~static_cast<unsigned long>(MS_NODEV);
    if (mount(nullptr, inside.c_str(), nullptr, flags, nullptr) != 0) {
      LayerFail("mount", Errno(std::string("remount ") + dev));
    }
  }
  std::string tmp = root + "/tmp";
  if (mkdir(tmp.c_str(), 01777) != 0 && errno != EEXIST) LayerFail("mount", Errno("mkdir /tmp"));
  if (mount("tmpfs", tmp.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
            "size=16m,mode=1777") != 0) {
    LayerFail("mount", Errno("tmpfs on /tmp"));
  }
  if (o.proc) {
    std::string proc = root + "/proc";
    if (mkdir(proc.c_str(), 0555) != 0 && errno != EEXIST) LayerFail("mount", Errno("mkdir /proc"));
    // Only this PID namespace's processes, which is the plugin's own.
    if (mount("proc", proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
      LayerFail("mount", Errno("mount /proc"));
    }
  }
  // After /tmp: a path under the host's /tmp lands inside the private one.
  for (const auto& p : o.ro) Bind(root, p, false);
  for (const auto& p : o.rw) Bind(root, p, true);
  // The skeleton itself is read-only from here on: the plugin writes only to its --rw paths and
  // its private /tmp.
  if (mount(nullptr, root.c_str(), nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
            "size=1m,mode=0755") != 0) {
    LayerFail("mount", Errno("remount the new root read-only"));
  }
  if (chdir(root.c_str()) != 0) LayerFail("mount", Errno("chdir " + root));
  // pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves only the
  // new root, with no path back to the host's files.
  if (syscall(SYS_pivot_root, ".", ".") != 0) LayerFail("mount", Errno("pivot_root"));
  if (umount2(".", MNT_DETACH) != 0) LayerFail("mount", Errno("detach the old root"));
  if (chdir("/") != 0 || chdir(cwd) != 0) LayerFail("mount", Errno(std::string("chdir ") + cwd));
}

// Before the identity changes: dropping from the bounding set needs CAP_SETPCAP.
void DropBoundingSet() {
  for (int cap = 0; cap <= 63; ++cap) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
      LayerFail("capabilities", Errno("PR_CAPBSET_DROP"));
    }
  }
}

// After it: the ambient, inheritable, permitted and effective sets.
void DropCapabilities() {
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    LayerFail("capabilities", Errno("PR_CAP_AMBIENT_CLEAR_ALL"));
  }
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capset, &header, data) != 0) LayerFail("capabilities", Errno("capset"));
}

void Identity(const Options& o) {
  if (setgroups(0, nullptr) != 0) LayerFail("identity", Errno("setgroups"));
  if (setresgid(gid_t(o.gid), gid_t(o.gid), gid_t(o.gid)) != 0) {
    LayerFail("identity", Errno("setresgid " + std::to_string(o.gid)));
  }
  if (setresuid(uid_t(o.uid), uid_t(o.uid), uid_t(o.uid)) != 0) {
    LayerFail("identity", Errno("setresuid " + std::to_string(o.uid)));
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  int i = 1;
  auto number = [&](long* out) {
    if (i + 1 >= argc) return false;
    *out = std::strtol(argv[++i], nullptr, 10);
    return true;
  };
  auto text = [&](std::vector<std::string>* out) {
    if (i + 1 >= argc) return false;
    out->push_back(argv[++i]);
    return true;
  };
  bool probe_netns = false;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    long pipe_fd = -1;
    bool ok = true;
    if (a == "--") {
      ++i;
      break;
    } else if (a == "--parent") {
      ok = number(&o.parent);
    } else if (a == "--parent-pipe") {
      ok = number(&pipe_fd);
      o.parent_pipe = int(pipe_fd);
    } else if (a == "--nofile") {
      ok = number(&o.nofile);
    } else if (a == "--nice") {
      ok = number(&o.nice);
    } else if (a == "--rlimit-data") {
      ok = number(&o.rlimit_data);
    } else if (a == "--rlimit-nproc") {
      ok = number(&o.rlimit_nproc);
    } else if (a == "--rlimit-cpu") {
      ok = number(&o.rlimit_cpu);
    } else if (a == "--cgroup") {
      ok = text(&o.cgroups);
    } else if (a == "--userns") {
      o.userns = true;
    } else if (a == "--netns") {
      o.netns = true;
    } else if (a == "--netns-optional") {
      o.netns_optional = true;
    } else if (a == "--ipcns") {
      o.ipcns = true;
    } else if (a == "--utsns") {
      o.utsns = true;
    } else if (a == "--proc") {
      o.proc = true;
    } else if (a == "--root") {
      std::vector<std::string> one;
      ok = text(&one);
      if (ok) o.root = one[0];
    } else if (a == "--ro") {
      ok = text(&o.ro);
    } else if (a == "--rw") {
      ok = text(&o.rw);
    } else if (a == "--uid") {
      ok = number(&o.uid);
    } else if (a == "--gid") {
      ok = number(&o.gid);
    } else if (a == "--drop-caps") {
      o.drop_caps = true;
    } else if (a == "--seccomp") {
      o.seccomp = true;
    } else if (a == "--dry-run") {
      o.dry_run = true;
    } else if (a == "--probe-netns") {
      probe_netns = true;
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "ps-launch: bad argument %s\n", a.c_str());
      return 2;
    }
  }
  if (probe_netns) {
    // Exit 0 iff an empty network namespace can be made here.
    return unshare(CLONE_NEWNET) == 0 ? 0 : 1;
  }
  if (i >= argc && !o.dry_run) {
    std::fprintf(stderr, "usage: plugin-sandbox-launch [options] -- PROGRAM ARGS...\n");
    return 2;
  }
  // Nothing of the host's but stdio (and the parent pipe) goes further, whatever the descriptor
  // limit is about to become (the fallback loop of CloseFrom stops at it).
  CloseFrom(o.parent_pipe == 3 ? 4 : 3);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) Fail("PR_SET_PDEATHSIG");
  if (o.parent > 0 && getppid() != o.parent) std::_Exit(1);  // the host is already gone
  if (HostGone(o)) std::_Exit(1);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail("PR_SET_NO_NEW_PRIVS");
  for (const auto& procs : o.cgroups) {
    // "0" is the writer itself, whatever PID namespace it is in.
    if (!WriteFile(procs, "0\n")) LayerFail("cgroup", Errno("join " + procs));
  }
  SetLimit(RLIMIT_NOFILE, o.nofile, "RLIMIT_NOFILE");
  SetLimit(RLIMIT_DATA, o.rlimit_data, "RLIMIT_DATA");
  SetLimit(RLIMIT_NPROC, o.rlimit_nproc, "RLIMIT_NPROC");
  SetLimit(RLIMIT_CPU, o.rlimit_cpu, "RLIMIT_CPU");
  if (o.nice > 0) {
    // At least N: a host already running nicer keeps its value (lowering it needs privilege).
    errno = 0;
    int current = getpriority(PRIO_PROCESS, 0);
    if (errno == 0 && current < o.nice && setpriority(PRIO_PROCESS, 0, int(o.nice)) != 0) {
      std::fprintf(stderr, "ps-launch: setpriority: %s\n", std::strerror(errno));
    }
  }
  if (o.netns && unshare(CLONE_NEWNET) != 0) LayerFail("net", Errno("unshare"));
  if (o.netns_optional && unshare(CLONE_NEWNET) != 0) {
    // Without containment the namespace is best effort: the supervisor probed it once and warned.
    std::fprintf(stderr, "ps-launch: netns unavailable: %s\n", std::strerror(errno));
  }
  if (o.ipcns && unshare(CLONE_NEWIPC) != 0) LayerFail("ipc", Errno("unshare"));
  if (o.utsns) {
    if (unshare(CLONE_NEWUTS) != 0) LayerFail("uts", Errno("unshare"));
    if (sethostname("plugin", 6) != 0) LayerFail("uts", Errno("sethostname"));
  }
  if (!o.root.empty()) {
    if (unshare(CLONE_NEWNS) != 0) LayerFail("mount", Errno("unshare"));
    BuildRoot(o);
  }
  if (o.userns) {
    // The spawner made us root of a user namespace mapped to the host's uid (we needed that
    // to build the root). Now a nested one: nobody inside, that root (the host's uid) outside.
    if (unshare(CLONE_NEWUSER) != 0) LayerFail("identity", Errno("unshare(CLONE_NEWUSER)"));
    if (!WriteFile("/proc/self/setgroups", "deny\n")) LayerFail("identity", Errno("setgroups"));
    if (!WriteFile("/proc/self/uid_map", "65534 0 1\n")) LayerFail("identity", Errno("uid_map"));
    if (!WriteFile("/proc/self/gid_map", "65534 0 1\n")) LayerFail("identity", Errno("gid_map"));
  }
  if (o.drop_caps) DropBoundingSet();
  if (o.uid >= 0) {
    Identity(o);
    // A change of identity clears the parent-death signal: arm it again, and look once more
    // for a host that died in between.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) Fail("PR_SET_PDEATHSIG");
    if (o.parent > 0 && getppid() != o.parent) std::_Exit(1);
    if (HostGone(o)) std::_Exit(1);
  }
  if (o.drop_caps) DropCapabilities();
  if (o.seccomp) {
    std::string why;
    if (!ps::workerd::InstallSeccompPolicy(&why)) LayerFail("seccomp", why);
  }
  if (o.dry_run) {
    std::fprintf(stdout, "ps-launch: ready\n");
    std::fflush(stdout);
    std::_Exit(0);
  }
  CloseFrom(3);
  execv(argv[i], argv + i);
  Fail("exec");
}
