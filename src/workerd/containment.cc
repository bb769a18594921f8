#include "workerd/containment.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>

#include "workerd/spawn.h"

namespace ps::workerd {
namespace {

namespace fs = std::filesystem;

const char* const kLayerOrder[] = {"identity", "capabilities", "mount",   "pid",      "ipc",
                                   "uts",      "net",          "seccomp", "resources"};

struct DryRun {
  bool ok = false;
  std::string why;
};

// One launcher run with `args` that stops before the exec; its verdict and last words.
std::string SelfMap(unsigned id) { return "0 " + std::to_string(id) + " 1"; }

DryRun Try(const std::string& launcher, std::vector<std::string> args, int clone_flags) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {false, std::string("pipe: ") + std::strerror(errno)};
  args.insert(args.begin(), launcher);
  args.push_back("--dry-run");
  SpawnRequest req;
  req.argv = std::move(args);
  req.cwd = "/";
  req.output_fd = fds[1];
  req.clone_flags = clone_flags;
  if (clone_flags & CLONE_NEWUSER) {
    req.uid_map = SelfMap(geteuid());
    req.gid_map = SelfMap(getegid());
  }
  pid_t pid = SpawnProcess(req);
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return {false, std::string("cannot create the process: ") + std::strerror(-pid)};
  }
  std::string out;
  char buf[512];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline && out.size() < 65536) {
    struct pollfd p = {fds[0], POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  close(fds[0]);
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) == 0) kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  DryRun r;
  r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
         out.find("ps-launch: ready") != std::string::npos;
  if (!r.ok) {
    // The launcher's own line says which step failed and why.
    size_t at = out.rfind("ps-launch: ");
    r.why = at == std::string::npos ? "the launcher exited with status " + std::to_string(status)
                                    : out.substr(at + 11);
    while (!r.why.empty() && (r.why.back() == '\n' || r.why.back() == '\r')) r.why.pop_back();
  }
  return r;
}

// The program and every shared library it loads, as ldd reports them.
std::vector<std::string> ProgramFiles(const std::string& program, std::string* why) {
  std::vector<std::string> files = {fs::weakly_canonical(program).string()};
  std::string cmd = "ldd '" + program + "' 2>/dev/null";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) {
    *why = "cannot run ldd";
    return {};
  }
  char line[1024];
  for (int n = 0; n < 256 && fgets(line, sizeof line, f); ++n) {
    std::string s(line);
    size_t arrow = s.find("=> ");
    size_t start = arrow == std::string::npos ? s.find('/') : arrow + 3;
    if (start == std::string::npos || start >= s.size() || s[start] != '/') continue;
    size_t end = s.find(' ', start);
    files.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
  }
  int rc = pclose(f);
  if (rc != 0 || files.size() < 2) {
    // A static program needs nothing more; a failed ldd leaves only the program.
    if (rc != 0) spdlog::debug("ldd {} exited with {}", program, rc);
  }
  // workerd loads the system's CA certificates at start (and refuses to start without them);
  // they are public.
  if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0) {
    files.push_back("/etc/ssl/certs/ca-certificates.crt");
  }
  // The loader's cache, where there is one: it only saves a search of the default directories.
  if (access("/etc/ld.so.cache", R_OK) == 0) files.push_back("/etc/ld.so.cache");
  return files;
}

bool ResolveUser(const std::string& spec, uid_t* uid, gid_t* gid, std::string* why) {
  std::string name = spec, group;
  if (size_t colon = spec.find(':'); colon != std::string::npos) {
    name = spec.substr(0, colon);
    group = spec.substr(colon + 1);
  }
  char* end = nullptr;
  long n = std::strtol(name.c_str(), &end, 10);
  if (!name.empty() && *end == '\0') {
    *uid = uid_t(n);
    *gid = gid_t(n);
  } else {
    struct passwd pw, *res = nullptr;
    char buf[4096];
    if (getpwnam_r(name.c_str(), &pw, buf, sizeof buf, &res) != 0 || !res) {
      if (name != "nobody") {
        *why = "no user named '" + name + "'";
        return false;
      }
      *uid = 65534;  // nobody's customary id, where the system has no entry for it
      *gid = 65534;
    } else {
      *uid = pw.pw_uid;
      *gid = pw.pw_gid;
    }
  }
  if (!group.empty()) {
    long g = std::strtol(group.c_str(), &end, 10);
    if (*end != '\0') {
      *why = "the group in '" + spec + "' must be a number";
      return false;
    }
    *gid = gid_t(g);
  }
  if (*uid == 0 || *gid == 0) {
    *why = "'" + spec + "' is root; plugins never run as root";
    return false;
  }
  if (*uid == geteuid()) {
    *why = "'" + spec + "' is the host's own user";
    return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<Containment> Containment::Probe(const std::string& launcher,
                                                const std::string& program,
                                                const ContainmentOptions& options) {
  std::unique_ptr<Containment> c(new Containment());
  c->options_ = options;
  c->launcher_ = launcher;
  c->privileged_ = geteuid() == 0;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  c->pids_ = options.pids > 0 ? options.pids : 64 + 4 * std::max(1L, cpus);
  auto set = [&](const std::string& name, bool active, const std::string& detail) {
    c->layers_.push_back({name, active, detail});
  };
  if (!options.enabled) {
    for (const char* name : kLayerOrder) set(name, false, "turned off (--containment=off)");
    return c;
  }
  std::string why;
  c->program_files_ = ProgramFiles(program, &why);
  std::string tmpl = (fs::temp_directory_path() / "plugin-sandbox-root-XXXXXX").string();
  if (mkdtemp(tmpl.data())) c->root_dir_ = tmpl;

  // Identity first: in an unprivileged host every other layer lives in its user namespace.
  std::vector<std::string> base;
  int base_flags = 0;
  if (c->privileged_) {
    if (!ResolveUser(options.user, &c->uid_, &c->gid_, &why)) {
      set("identity", false, why);
    } else {
      base = {"--uid", std::to_string(c->uid_), "--gid", std::to_string(c->gid_)};
      DryRun r = Try(launcher, base, 0);
      set("identity", r.ok,
          r.ok ? "uid " + std::to_string(c->uid_) + " gid " + std::to_string(c->gid_) +
                     ", no supplementary groups"
               : r.why);
      if (!r.ok) base.clear();
    }
  } else {
    std::vector<std::string> args = {"--userns"};
    DryRun r = Try(launcher, args, CLONE_NEWUSER);
    set("identity", r.ok,
        r.ok ? "nobody (65534) in a user namespace of its own; the host's uid " +
                   std::to_string(geteuid()) + " outside"
             : "no user namespace: " + r.why);
    if (r.ok) {
      base = args;
      base_flags = CLONE_NEWUSER;
    }
  }
  auto probe = [&](const std::string& name, std::vector<std::string> extra, int flags,
                   const std::string& detail) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    DryRun r = Try(launcher, args, base_flags | flags);
    set(name, r.ok, r.ok ? detail : r.why);
  };
  probe("capabilities", {"--drop-caps"}, 0, "all five sets empty");
  probe("pid", {}, CLONE_NEWPID, "a PID namespace of its own (workerd is its pid 1)");
  bool pid = c->Active("pid");
  probe("ipc", {"--ipcns"}, 0, "an IPC namespace of its own");
  probe("uts", {"--utsns"}, 0, "a UTS namespace of its own (host name \"plugin\")");
  probe("net", {"--netns"}, 0, "an empty network namespace (no interface but a down loopback)");
  if (c->root_dir_.empty()) {
    set("mount", false,
        "cannot create a directory for the new root in " + fs::temp_directory_path().string());
  } else if (c->program_files_.empty()) {
    set("mount", false, "cannot list the libraries of " + program + ": " + why);
  } else {
    std::vector<std::string> args = {"--root", c->root_dir_};
    for (const auto& f : c->program_files_) args.insert(args.end(), {"--ro", f});
    if (pid) args.push_back("--proc");
    probe("mount", args, pid ? CLONE_NEWPID : 0,
          std::string("pivot_root into a tmpfs holding only workerd, its libraries and its own "
                      "files; /dev/null, /dev/zero, /dev/urandom; a private /tmp") +
              (pid ? " and /proc" : ""));
  }
  probe("seccomp", {"--seccomp"}, 0, "the allowlist of seccomp_policy.cc; anything else EPERM");
  std::string cg_why;
  c->cgroups_ = Cgroups::Detect(&cg_why);
  if (c->cgroups_) {
    std::vector<std::string> procs;
    std::string name = "probe";
    if (!c->cgroups_->Create(name, {64 << 20, 16, 0}, &procs, &cg_why)) {
      c->cgroups_.reset();
    } else {
      std::vector<std::string> args;
      for (const auto& f : procs) args.insert(args.end(), {"--cgroup", f});
      DryRun r = Try(launcher, args, 0);  // joining needs the host's rights, not the plugin's
      c->cgroups_->Remove(name);
      if (!r.ok) {
        cg_why = r.why;
        c->cgroups_.reset();
      }
    }
  }
  if (c->cgroups_) {
    set("resources", true,
        "cgroup " + c->cgroups_->version() + " per process: memory (the plugin's heap limit + " +
            std::to_string(options.baseline_mb) + " MiB), " + std::to_string(c->pids_) +
            " tasks, " +
            (options.cpu_percent > 0 ? std::to_string(options.cpu_percent) + "% of one CPU"
                                     : std::string("no CPU cap")));
  } else {
    // No cgroup: rlimits, which bound each process but not the plugins together.
    std::vector<std::string> args = {"--rlimit-data", std::to_string(int64_t(1) << 30)};
    DryRun r = Try(launcher, args, 0);
    set("resources", false,
        r.ok ? "rlimits only (RLIMIT_DATA, RLIMIT_NPROC): " + cg_why : r.why + "; " + cg_why);
  }
  // The layers one by one passed; now all of them together, as a process will get them.
  if (std::any_of(c->layers_.begin(), c->layers_.end(),
                  [](const LayerStatus& l) { return l.active; })) {
    ProcessView none;  // no files of its own: nothing to bind or chown
    Launch all = c->Prepare("probe-all", none, 0);
    DryRun r = Try(launcher, all.args, all.clone_flags);
    c->Release(all.cgroup);
    if (!r.ok) spdlog::error("containment: the layers fail together: {}", r.why);
  }
  spdlog::debug("containment probe: {}", c->Summary());
  return c;
}

Containment::~Containment() {
  cgroups_.reset();
  if (!root_dir_.empty()) rmdir(root_dir_.c_str());
}

bool Containment::Active(const std::string& layer) const {
  for (const auto& l : layers_) {
    if (l.name == layer) return l.active;
  }
  return false;
}

bool Containment::full() const {
  for (const auto& l : layers_) {
    if (!l.active) return false;
  }
  return !layers_.empty();
}

std::string Containment::Summary() const {
  std::string on, off;
  for (const auto& l : layers_) {
    if (l.active) {
      on += (on.empty() ? "" : ", ") + l.name;
    } else {
      off += (off.empty() ? "" : "; ") + l.name + " (" + l.detail + ")";
    }
  }
  return "active: " + (on.empty() ? std::string("none") : on) +
         (off.empty() ? "" : "; missing: " + off);
}

void Containment::Own(const ProcessView& view) const {
  if (!privileged_ || !Active("identity")) return;
  // The plugin's identity reads its config and modules, which stay the host's (readable, never
  // its own to change), and owns only its socket directories and what is directly in them (its
  // bridge socket). Nobody else on the host reaches either: the runtime directory is 0700.
  std::error_code ec;
  if (!view.config_dir.empty()) {
    ::chmod(view.config_dir.c_str(), 0755);
    int n = 0;
    for (auto it = fs::recursive_directory_iterator(view.config_dir, ec);
         !ec && it != fs::recursive_directory_iterator() && n < 10000; it.increment(ec), ++n) {
      struct stat st;
      if (::lstat(it->path().c_str(), &st) != 0 || S_ISLNK(st.st_mode)) continue;
      ::chmod(it->path().c_str(), S_ISDIR(st.st_mode) ? 0755 : (st.st_mode & 0777) | 0444);
    }
  }
  for (const auto& dir : view.writable) {
    if (::lchown(dir.c_str(), uid_, gid_) != 0) continue;
    int n = 0;
    for (auto it = fs::directory_iterator(dir, ec);
         !ec && it != fs::directory_iterator() && n < 1000; it.increment(ec), ++n) {
      (void)::lchown(it->path().c_str(), uid_, gid_);
    }
  }
}

Containment::Launch Containment::Prepare(const std::string& name, const ProcessView& view,
                                         int64_t heap_mb) {
  Launch l;
  if (refuse()) {
    l.error =
        "containment is required (--require-containment=full) but this machine lacks: " + Summary();
    return l;
  }
  if (!options_.enabled) return l;
  if (Active("identity")) {
    if (privileged_) {
      l.args = {"--uid", std::to_string(uid_), "--gid", std::to_string(gid_)};
    } else {
      l.args = {"--userns"};
      l.clone_flags |= CLONE_NEWUSER;
      l.uid_map = SelfMap(geteuid());
      l.gid_map = SelfMap(getegid());
    }
  }
  if (Active("capabilities")) l.args.push_back("--drop-caps");
  if (Active("pid")) l.clone_flags |= CLONE_NEWPID;
  if (Active("ipc")) l.args.push_back("--ipcns");
  if (Active("uts")) l.args.push_back("--utsns");
  if (Active("net")) l.args.push_back("--netns");
  if (Active("mount")) {
    l.args.insert(l.args.end(), {"--root", root_dir_});
    for (const auto& f : program_files_) l.args.insert(l.args.end(), {"--ro", f});
    std::set<std::string> writable(view.writable.begin(), view.writable.end());
    if (!view.config_dir.empty() && !writable.count(view.config_dir)) {
      l.args.insert(l.args.end(), {"--ro", view.config_dir});
    }
    for (const auto& w : writable) l.args.insert(l.args.end(), {"--rw", w});
    if (Active("pid")) l.args.push_back("--proc");
  }
  if (Active("seccomp")) l.args.push_back("--seccomp");
  int64_t memory = (std::max<int64_t>(heap_mb, 0) + options_.baseline_mb) << 20;
  if (cgroups_) {
    std::vector<std::string> procs;
    std::string why;
    ProcessResources r{memory, pids_, options_.cpu_percent};
    if (cgroups_->Create(name, r, &procs, &why)) {
      l.cgroup = name;
      for (const auto& f : procs) l.args.insert(l.args.end(), {"--cgroup", f});
      l.resources =
          "cgroup " + cgroups_->version() + ": memory " + std::to_string(memory >> 20) + " MiB, " +
          std::to_string(pids_) + " tasks" +
          (options_.cpu_percent > 0 ? ", " + std::to_string(options_.cpu_percent) + "% CPU" : "");
    } else {
      spdlog::warn("plugin process {}: no cgroup ({}); rlimits instead", name, why);
    }
  }
  if (l.cgroup.empty()) {
    // RLIMIT_DATA, not RLIMIT_AS: V8 reserves far more address space than it ever touches.
    // Even so its reservations count (about 550 MiB of VmData at rest): 1 GiB on top of the
    // ceiling, a bound on runaway growth rather than a budget.
    l.args.insert(l.args.end(), {"--rlimit-data", std::to_string(memory + (int64_t(1) << 30))});
    // RLIMIT_NPROC counts every task of the uid: for a root host that is the plugins' shared
    // uid, hence the generous value; in a user namespace of its own, only the plugin's.
    if (Active("identity")) {
      l.args.insert(l.args.end(),
                    {"--rlimit-nproc", std::to_string(privileged_ ? pids_ * 64 : pids_)});
    }
    l.resources = "rlimits: data " + std::to_string((memory >> 20) + 1024) + " MiB";
  }
  Own(view);
  return l;
}

void Containment::Release(const std::string& cgroup) {
  if (cgroups_ && !cgroup.empty()) cgroups_->Remove(cgroup);
}

bool Containment::OomKilled(const std::string& cgroup) const {
  return cgroups_ && !cgroup.empty() && cgroups_->OomKilled(cgroup);
}

}  // namespace ps::workerd
