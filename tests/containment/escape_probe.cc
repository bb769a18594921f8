// ps_escape_probe: stands in for workerd behind the launcher, with the very namespaces, filter,
// identity and cgroup a plugin process gets, and tries to get out, as plugin code that had
// broken V8 would. It is started as workerd is: `ps_escape_probe serve <file> config`, in its
// config directory, where <file> names its targets, one `key=value` per line:
//   db=PATH  data=DIR  other_socket=PATH  other_config=PATH  own=DIR  tcp_port=N
//   threads=N (the task ceiling)  memory_mb=N (the memory ceiling)
// It prints one line per attempt, "escape <name>: blocked (<what happened>)" or
// "escape <name>: ESCAPED (<what happened>)", then "probe: done", then tries to allocate past
// its memory ceiling (the kernel should kill it) and, if it is still alive, prints
// "escape memory: ESCAPED".
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

int escaped = 0;

void Report(const std::string& name, bool blocked, const std::string& what) {
  if (!blocked) ++escaped;
  std::printf("escape %s: %s (%s)\n", name.c_str(), blocked ? "blocked" : "ESCAPED", what.c_str());
  std::fflush(stdout);
}

std::string Err() { return std::strerror(errno); }

// A call that must fail: blocked when it returned < 0.
void MustFail(const std::string& name, long rc) {
  Report(name, rc < 0, rc < 0 ? Err() : "succeeded");
}

void TryRead(const std::string& name, const std::string& path) {
  if (path.empty()) return;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char b;
    ssize_t n = read(fd, &b, 1);
    close(fd);
    Report(name, false, "opened " + path + (n >= 0 ? " and read it" : ""));
    return;
  }
  Report(name, true, path + ": " + Err());
}

void TryConnectUnix(const std::string& name, const std::string& path) {
  if (path.empty()) return;
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    Report(name, true, "socket: " + Err());
    return;
  }
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  int rc = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  std::string why = Err();
  close(s);
  Report(name, rc < 0, rc < 0 ? path + ": " + why : "connected to " + path);
}

void TryInet(const std::string& name, int family, int type, int port) {
  int s = socket(family, type | SOCK_CLOEXEC, 0);
  if (s < 0) {
    Report(name, true, "socket: " + Err());
    return;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = family == AF_INET ? connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) : -1;
  std::string why = Err();
  close(s);
  // A socket without a route out is still a wall standing, but the filter should stop it first.
  Report(name, rc < 0, rc < 0 ? "socket made, connect: " + why : "connected");
}

// Parks a thread for good: a read of a pipe nobody writes (the filter refuses pause, which would
// end the thread at once). The threads go with the process.
int park_fd = -1;
void* Park(void*) {
  char c;
  while (read(park_fd, &c, 1) < 0 && errno == EINTR) {
  }
  return nullptr;
}

int CountHostProcesses() {
  DIR* d = opendir("/proc");
  if (!d) return 0;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && ++n > 100000) break;
  }
  closedir(d);
  return n;
}

// Files with the setuid or setgid bit anywhere it can see (bounded walk).
int SetuidFiles(const std::string& dir, int depth, int* budget) {
  if (depth > 8 || *budget <= 0) return 0;
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  int found = 0;
  while (dirent* e = readdir(d)) {
    if (--*budget <= 0) break;
    std::string name = e->d_name;
    if (name == "." || name == ".." || (dir == "/" && name == "proc")) continue;
    std::string path = (dir == "/" ? "" : dir) + "/" + name;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      found += SetuidFiles(path, depth + 1, budget);
    } else if (S_ISREG(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID))) {
      ++found;
    }
  }
  closedir(d);
  return found;
}

std::string StatusLine(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size() + 1, key + ":") == 0) return line;
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> t;
  {
    std::ifstream in(argc > 2 ? argv[2] : "targets");
    std::string line;
    for (int n = 0; n < 100 && std::getline(in, line); ++n) {
      size_t eq = line.find('=');
      if (eq != std::string::npos) t[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  {
    std::ifstream cg("/proc/self/cgroup");
    std::string line, all;
    while (std::getline(cg, line)) all += line + " ";
    std::printf("probe: cgroups %s\n", all.c_str());
  }
  // Files of the host and of other plugins.
  TryRead("read the site database", t["db"]);
  {
    // The new root holds the path down to its own directories, and nothing beside it: any other
    // entry (the database, the media, another plugin's files) is an escape.
    char cwd[4096];
    std::string mine = std::string(getcwd(cwd, sizeof cwd) ? cwd : "") + "/ " + t["own"] + "/";
    std::string seen;
    if (DIR* d = opendir(t["data"].c_str())) {
      while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        if (mine.find(t["data"] + "/" + name + "/") == std::string::npos) seen += " " + name;
      }
      closedir(d);
    }
    Report("see the data directory's files", seen.empty(),
           seen.empty() ? "nothing but the path to its own files" : "saw" + seen);
  }
  TryRead("read /etc/shadow", "/etc/shadow");
  TryRead("read /etc/passwd", "/etc/passwd");
  TryRead("read another plugin's config", t["other_config"]);
  TryConnectUnix("connect to another plugin's socket", t["other_socket"]);
  // Processes.
  int procs = CountHostProcesses();
  Report("list host processes", procs <= 1,
         std::to_string(procs) + " process(es) visible in /proc");
  MustFail("signal any other process (kill -1)", kill(-1, 0));
  MustFail("ptrace attach to its parent", ptrace(PTRACE_ATTACH, getppid() ? getppid() : 1, 0, 0));
  MustFail("ptrace traceme", ptrace(PTRACE_TRACEME, 0, 0, 0));
  // Network.
  int port = std::atoi(t["tcp_port"].c_str());
  TryInet("open a TCP socket to the host's loopback", AF_INET, SOCK_STREAM, port);
  TryInet("open a UDP socket", AF_INET, SOCK_DGRAM, port);
  TryInet("open an IPv6 socket", AF_INET6, SOCK_STREAM, port);
  {
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
    MustFail("open a netlink socket", s);
    if (s >= 0) close(s);
  }
  // Kernel surfaces.
  MustFail("create a user namespace", unshare(CLONE_NEWUSER));
  MustFail("create a mount namespace", unshare(CLONE_NEWNS));
  MustFail("create a network namespace", unshare(CLONE_NEWNET));
  MustFail("mount a tmpfs", mount("none", "/tmp", "tmpfs", 0, nullptr));
  MustFail("remount / writable", mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND, nullptr));
  MustFail("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
  MustFail("chroot", chroot("/tmp"));
  {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    MustFail("create a BPF map", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
    std::memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    MustFail("load a BPF program", syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr));
  }
  MustFail("add a key (keyctl)", syscall(SYS_add_key, "user", "probe", "x", 1, -2 /* session */));
  MustFail("io_uring_setup", syscall(SYS_io_uring_setup, 1, nullptr));
  MustFail("perf_event_open", syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0));
  MustFail("setuid(0)", setuid(0));
  // Writing outside its own directories.
  {
    int fd = open("/escape-probe", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    MustFail("create a file in /", fd);
    if (fd >= 0) close(fd);
    char cwd[4096];
    std::string here = getcwd(cwd, sizeof cwd) ? cwd : ".";
    fd = open((here + "/escape-probe").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    MustFail("write into its config directory", fd);
    if (fd >= 0) close(fd);
    std::string lib = "/lib/escape-probe";
    fd = open(lib.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    MustFail("write next to its libraries", fd);
    if (fd >= 0) close(fd);
    std::string own = t["own"] + "/escape-probe";
    fd = open(own.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    // Its own socket directory is the one place it may write: a check that the probe can tell.
    Report("write into its own socket directory (allowed)", fd >= 0, fd >= 0 ? "ok" : Err());
    if (fd >= 0) {
      close(fd);
      unlink(own.c_str());
    }
  }
  // Privilege.
  {
    int budget = 20000;
    int n = SetuidFiles("/", 0, &budget);
    Report("find a setuid or setgid program", n == 0, std::to_string(n) + " found");
    MustFail("exec a setuid program (/usr/bin/su)",
             execl("/usr/bin/su", "su", "-c", "true", nullptr));
    std::string eff = StatusLine("CapEff"), bnd = StatusLine("CapBnd"), prm = StatusLine("CapPrm"),
                inh = StatusLine("CapInh"), amb = StatusLine("CapAmb");
    bool none = true;
    for (const auto& l : {eff, bnd, prm, inh, amb}) {
      if (l.find("0000000000000000") == std::string::npos) none = false;
    }
    Report("hold a capability", none, eff + " " + bnd + " " + prm + " " + inh + " " + amb);
    Report("run as root", getuid() != 0 && geteuid() != 0,
           "uid " + std::to_string(getuid()) + " gid " + std::to_string(getgid()));
    std::string groups = StatusLine("Groups");
    Report("keep supplementary groups", groups.find_first_of("0123456789") == std::string::npos,
           groups);
  }
  // More processes than its ceiling.
  {
    pid_t child = fork();
    if (child == 0) _exit(0);
    if (child > 0) waitpid(child, nullptr, 0);
    MustFail("fork", child);
    int ceiling = std::atoi(t["threads"].c_str());
    int park[2];
    if (pipe2(park, O_CLOEXEC) == 0) park_fd = park[0];
    int made = 0;
    for (int i = 0; i < ceiling + 64 && i < 4096; ++i) {
      pthread_t th;
      if (pthread_create(&th, nullptr, Park, nullptr) != 0) break;
      ++made;
    }
    Report("start more threads than its task ceiling", ceiling > 0 && made < ceiling,
           std::to_string(made) + " threads started, ceiling " + std::to_string(ceiling));
  }
  std::printf("probe: done, %d escaped\n", escaped);
  std::fflush(stdout);
  // More memory than its ceiling: the kernel ends this process (or an allocation fails).
  long mb = std::atol(t["memory_mb"].c_str());
  std::vector<char*> blocks;
  for (long i = 0; i < mb + 256; ++i) {
    char* b = static_cast<char*>(std::malloc(1 << 20));
    if (!b) {
      std::printf("escape memory: blocked (allocation failed after %ld MiB)\n", i);
      std::fflush(stdout);
      return escaped == 0 ? 0 : 1;
    }
    std::memset(b, 1, 1 << 20);
    blocks.push_back(b);
  }
  std::printf("escape memory: ESCAPED (%ld MiB allocated)\n", mb + 256);
  std::fflush(stdout);
  return 1;
}
