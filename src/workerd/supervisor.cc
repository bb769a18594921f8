#include "workerd/supervisor.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "workerd/spawn.h"

extern char** environ;

namespace ps::workerd {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kTailLines = 40;

size_t CollectBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

}  // namespace

bool ProbeReady(const std::string& socket, const std::string& auth, std::string* body) {
  CURL* h = curl_easy_init();
  if (!h) return false;
  struct curl_slist* headers = curl_slist_append(nullptr, ("Authorization: " + auth).c_str());
  curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
  curl_easy_setopt(h, CURLOPT_URL, "http://plugin/__ready");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
  CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  return rc == CURLE_OK && status >= 200 && status < 300;
}

namespace {

bool ProbeNetns(const std::string& launcher) {
  SpawnRequest req;
  req.argv = {launcher, "--probe-netns"};
  pid_t pid = SpawnProcess(req);
  if (pid < 0) return false;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

const char* StateName(ProcessState s) {
  switch (s) {
    case ProcessState::kStarting:
      return "starting";
    case ProcessState::kReady:
      return "ready";
    case ProcessState::kRestarting:
      return "restarting";
    case ProcessState::kQuarantined:
      return "quarantined";
    case ProcessState::kStopped:
      return "stopped";
  }
  return "?";
}

struct Proc {
  Supervisor::Id id = 0;
  ProcessSpec spec;
  ProcessState state = ProcessState::kStarting;
  pid_t pid = 0;
  int pidfd = -1;
  int out_fd = -1;
  int generation = 0;
  std::string partial;
  std::deque<std::string> tail;
  std::string kill_reason;
  bool stopping = false;
  bool forget = false;
  bool resume = false;  // start again once the process being stopped is gone (Resume)
  uint64_t spawns = 0;
  uint64_t failure_count = 0;
  std::string cgroup;     // the running process's, released when it is reaped
  std::string resources;  // its resource wall, for reports
  Clock::time_point stop_deadline;
  std::deque<Clock::time_point> failures;
  bool restart_pending = false;
  Clock::time_point restart_at;
};

struct Supervisor::Impl {
  SupervisorOptions opt;
  bool netns = false;
  std::unique_ptr<Containment> containment;
  int parent_pipe[2] = {-1, -1};  // the read end goes to every launcher in a PID namespace
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::map<Id, std::shared_ptr<Proc>> procs;
  std::deque<std::function<void()>> commands;
  int wake_fd = -1;
  bool quit = false;
  Id next_id = 1;
  int next_generation = 0;  // generations are unique across every process of this supervisor
  std::thread thread;
  int active_probes = 0;  // detached probe threads still running (guarded by mu)
  std::atomic<bool> closing{false};

  void Post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mu);
      commands.push_back(std::move(fn));
    }
    uint64_t one = 1;
    ssize_t n = write(wake_fd, &one, sizeof one);
    (void)n;
  }

  std::shared_ptr<Proc> Find(Id id) const {
    std::lock_guard<std::mutex> lock(mu);
    auto it = procs.find(id);
    return it == procs.end() ? nullptr : it->second;
  }

  // One field of process `id`, read under the lock; `absent` for an id not (or no longer) known.
  template <typename T, typename F>
  T Read(Id id, T absent, F field) const {
    auto p = Find(id);
    if (!p) return absent;
    std::lock_guard<std::mutex> lock(mu);
    return field(*p);
  }

  std::vector<std::string> Environment() const {
    std::vector<std::string> env;
    std::vector<std::string> names = {"PATH", "HOME", "TMPDIR", "TMP", "TEMP", "LANG", "LC_ALL"};
    for (std::string n : opt.env_passthrough) {
      n.erase(0, n.find_first_not_of(" \t"));
      n.erase(n.find_last_not_of(" \t") + 1);
      if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    }
    for (const auto& n : names) {
      if (const char* v = getenv(n.c_str())) env.push_back(n + "=" + v);
    }
    return env;
  }

  // Runs on the supervisor thread only.
  void Spawn(const std::shared_ptr<Proc>& p) {
    {
      // A start posted (Resume, Enable) before a Stop() that has since run: never a process
      // nobody tracks.
      std::lock_guard<std::mutex> lock(mu);
      if (p->forget || quit) return;
    }
    // A killed process leaves its socket file behind; workerd will not bind over it.
    if (!p->spec.ready_socket.empty()) ::unlink(p->spec.ready_socket.c_str());
    for (const auto& sock : p->spec.sockets) ::unlink(sock.c_str());
    bool failing = false;
    if (opt.failing_nice > 0) {
      std::lock_guard<std::mutex> lock(mu);
      auto now = Clock::now();
      failing = std::any_of(p->failures.begin(), p->failures.end(),
                            [&](Clock::time_point t) { return now - t <= opt.failure_window; });
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      spdlog::error("plugin process {}: pipe: {}", p->spec.name, strerror(errno));
      return;
    }
    ProcessView view;
    view.config_dir = p->spec.config_dir;
    view.writable = p->spec.writable_dirs;
    if (view.writable.empty()) {
      std::set<std::string> dirs;
      for (const auto& s : p->spec.sockets) dirs.insert(s.substr(0, s.rfind('/')));
      if (!p->spec.ready_socket.empty()) {
        dirs.insert(p->spec.ready_socket.substr(0, p->spec.ready_socket.rfind('/')));
      }
      view.writable.assign(dirs.begin(), dirs.end());
    }
    std::string cgroup_name = std::to_string(p->id) + "-" + std::to_string(next_generation + 1);
    Containment::Launch contained = containment->Prepare(cgroup_name, view, p->spec.heap_mb);
    if (!contained.error.empty()) {
      close(fds[0]);
      close(fds[1]);
      spdlog::error("plugin process {}: not started: {}", p->spec.name, contained.error);
      Failed(p, ProcessExit{p->generation + 1, 0, false, 126, "containment", contained.error});
      return;
    }
    SpawnRequest req;
    req.argv = {opt.launcher};
    if (contained.clone_flags & CLONE_NEWPID) {
      // Inside a PID namespace the host's pid cannot be seen: the launcher watches a pipe whose
      // only write end the host holds.
      req.argv.insert(req.argv.end(), {"--parent-pipe", "3"});
      req.extra_fd = parent_pipe[0];
    } else {
      req.argv.insert(req.argv.end(), {"--parent", std::to_string(getpid())});
    }
    req.argv.insert(req.argv.end(), {"--nofile", std::to_string(opt.nofile_limit)});
    req.argv.insert(req.argv.end(), contained.args.begin(), contained.args.end());
    if (netns && !opt.containment.enabled) req.argv.push_back("--netns-optional");
    if (failing) req.argv.insert(req.argv.end(), {"--nice", std::to_string(opt.failing_nice)});
    req.argv.insert(req.argv.end(), {"--", opt.workerd, "serve", p->spec.config_file, "config"});
    req.env = Environment();
    req.cwd = p->spec.config_dir;
    req.output_fd = fds[1];
    req.clone_flags = contained.clone_flags;
    req.uid_map = contained.uid_map;
    req.gid_map = contained.gid_map;

    pid_t pid = SpawnProcess(req);
    close(fds[1]);
    if (pid < 0) {
      int rc = -pid;
      close(fds[0]);
      containment->Release(contained.cgroup);
      spdlog::error("plugin process {}: cannot start {}: {}", p->spec.name, opt.launcher,
                    strerror(rc));
      // Treated as a failure so the policy (backoff, quarantine) applies.
      Failed(p, ProcessExit{p->generation + 1, 0, false, 127, "spawn failed", strerror(rc)});
      return;
    }
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    int pidfd = int(syscall(SYS_pidfd_open, pid, 0));
    std::shared_ptr<std::atomic<bool>> cancel;
    int gen;
    {
      std::lock_guard<std::mutex> lock(mu);
      p->pid = pid;
      p->pidfd = pidfd;
      p->cgroup = contained.cgroup;
      p->resources = contained.resources;
      p->out_fd = fds[0];
      p->generation = ++next_generation;
      ++p->spawns;
      p->state = ProcessState::kStarting;
      p->kill_reason.clear();
      p->partial.clear();
      p->restart_pending = false;
      gen = p->generation;
    }
    cv.notify_all();
    StartProbe(p, gen);
  }

  void StartProbe(const std::shared_ptr<Proc>& p, int gen) {
    std::string socket = p->spec.ready_socket;
    std::string auth = p->spec.ready_auth;
    Id id = p->id;
    auto deadline = Clock::now() + opt.ready_timeout;
    {
      std::lock_guard<std::mutex> lock(mu);
      ++active_probes;
    }
    std::thread([this, socket, auth, id, gen, deadline] {
      Probe(socket, auth, id, gen, deadline);
      std::lock_guard<std::mutex> lock(mu);
      --active_probes;
      cv.notify_all();
    }).detach();
  }

  void Probe(const std::string& socket, const std::string& auth, Id id, int gen,
             Clock::time_point deadline) {
    {
      for (int attempt = 0; Clock::now() < deadline && !closing; ++attempt) {
        auto p = Find(id);
        if (!p) return;
        {
          std::lock_guard<std::mutex> l(mu);
          if (p->generation != gen || p->stopping || p->pid == 0) return;
        }
        struct stat st;
        std::string body;
        if (stat(socket.c_str(), &st) == 0 && ProbeReady(socket, auth, &body)) {
          Post([this, id, gen, body] { Ready(id, gen, body); });
          return;
        }
        // Product code, not a test: a short bounded back-off between probes.
        std::this_thread::sleep_for(std::chrono::milliseconds(attempt < 50 ? 5 : 50));
      }
      if (!closing) {
        Post([this, id, gen] {
          auto p = Find(id);
          if (!p || p->generation != gen || p->state != ProcessState::kStarting) return;
          KillNow(p, "not ready within " + std::to_string(opt.ready_timeout.count()) + " ms");
        });
      }
    }
  }

  void Ready(Id id, int gen, const std::string& body) {
    auto p = Find(id);
    if (!p) return;
    pid_t pid;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (p->generation != gen || p->state != ProcessState::kStarting || p->pid == 0) return;
      pid = p->pid;
    }
    // on_ready runs before the state says ready, so whoever sees kReady sees its effects.
    if (p->spec.on_ready) p->spec.on_ready(gen, pid, body);
    {
      std::lock_guard<std::mutex> lock(mu);
      if (p->generation != gen || p->state != ProcessState::kStarting || p->pid == 0) return;
      p->state = ProcessState::kReady;
    }
    cv.notify_all();
  }

  void KillNow(const std::shared_ptr<Proc>& p, const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu);
    if (p->pid == 0) return;
    if (p->kill_reason.empty()) p->kill_reason = reason;
    kill(p->pid, SIGKILL);
  }

  void DrainOutput(const std::shared_ptr<Proc>& p) {
    char buf[4096];
    for (int i = 0; i < 256; ++i) {
      ssize_t n = read(p->out_fd, buf, sizeof buf);
      if (n <= 0) break;
      p->partial.append(buf, size_t(n));
      size_t nl;
      while ((nl = p->partial.find('\n')) != std::string::npos) {
        std::string line = p->partial.substr(0, nl);
        p->partial.erase(0, nl + 1);
        Line(p, line);
      }
      if (p->partial.size() > 16384) {  // a line without end: cut it
        Line(p, p->partial);
        p->partial.clear();
      }
    }
  }

  void Line(const std::shared_ptr<Proc>& p, const std::string& line) {
    {
      std::lock_guard<std::mutex> lock(mu);
      p->tail.push_back(line);
      while (p->tail.size() > kTailLines) p->tail.pop_front();
    }
    if (p->spec.on_output) p->spec.on_output(line);
  }

  // Reaps p if it exited. Runs on the supervisor thread.
  void Reap(const std::shared_ptr<Proc>& p) {
    if (p->pid == 0) return;
    int status = 0;
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == 0) return;
    if (r < 0 && errno == EINTR) return;
    if (p->out_fd >= 0) {
      DrainOutput(p);
      if (!p->partial.empty()) Line(p, p->partial);
      close(p->out_fd);
    }
    if (p->pidfd >= 0) close(p->pidfd);
    ProcessExit ex;
    bool stopped;
    {
      std::lock_guard<std::mutex> lock(mu);
      ex.generation = p->generation;
      ex.pid = p->pid;
      ex.signaled = r > 0 && WIFSIGNALED(status);
      ex.status = ex.signaled ? WTERMSIG(status) : (r > 0 ? WEXITSTATUS(status) : -1);
      ex.kill_reason = p->kill_reason;
      if (ex.kill_reason.empty() && ex.signaled && ex.status == SIGKILL &&
          containment->OomKilled(p->cgroup)) {
        // Not our watchdog: the kernel's memory ceiling of its cgroup.
        ex.kill_reason = "memory_limit_exceeded";
      }
      containment->Release(p->cgroup);
      p->cgroup.clear();
      for (const auto& l : p->tail) ex.output_tail += l + "\n";
      p->tail.clear();
      p->pid = 0;
      p->pidfd = -1;
      p->out_fd = -1;
      stopped = p->stopping;
      if (stopped) {
        p->state = ProcessState::kStopped;
        ex.kill_reason = "stopped";
      }
    }
    if (!stopped && !ex.signaled && ex.status == 0 && ex.kill_reason.empty()) {
      // A clean exit nobody asked for is not a crash: no restart (as EmDash's runner).
      spdlog::warn("plugin process {} exited cleanly on its own; not restarting it", p->spec.name);
      std::lock_guard<std::mutex> lock(mu);
      p->state = ProcessState::kStopped;
      stopped = true;
      ex.kill_reason = "exited";
    }
    if (stopped) {
      cv.notify_all();
      if (p->spec.on_exit) p->spec.on_exit(ex);
      bool resume = false;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (p->forget) {
          procs.erase(p->id);
        } else if (p->resume) {
          p->resume = false;
          p->stopping = false;
          p->state = ProcessState::kStarting;
          resume = true;
        }
      }
      cv.notify_all();
      if (resume) Spawn(p);
      return;
    }
    Failed(p, ex);
  }

  void Failed(const std::shared_ptr<Proc>& p, ProcessExit ex) {
    auto now = Clock::now();
    {
      std::lock_guard<std::mutex> lock(mu);
      p->failures.push_back(now);
      ++p->failure_count;
      while (!p->failures.empty() && now - p->failures.front() > opt.failure_window) {
        p->failures.pop_front();
      }
      if (int(p->failures.size()) > opt.max_failures) {
        p->state = ProcessState::kQuarantined;
        ex.quarantined = true;
      } else {
        size_t k = std::min(p->failures.size() - 1, opt.restart_delays.size() - 1);
        p->state = ProcessState::kRestarting;
        p->restart_pending = true;
        p->restart_at = now + opt.restart_delays[k];
        ex.restarting = true;
      }
    }
    cv.notify_all();
    if (ex.quarantined) {
      spdlog::error("plugin process {} quarantined: more than {} failures within {} s",
                    p->spec.name, opt.max_failures, opt.failure_window.count() / 1000);
    }
    if (p->spec.on_exit) p->spec.on_exit(ex);
  }

  void Loop() {
    for (;;) {
      std::vector<std::shared_ptr<Proc>> snapshot;
      std::vector<pollfd> fds;
      fds.push_back({wake_fd, POLLIN, 0});
      auto next = Clock::now() + std::chrono::milliseconds(200);
      bool exiting;
      {
        std::lock_guard<std::mutex> lock(mu);
        exiting = quit;
        for (auto& [id, p] : procs) {
          snapshot.push_back(p);
          if (p->pidfd >= 0) fds.push_back({p->pidfd, POLLIN, 0});
          if (p->out_fd >= 0) fds.push_back({p->out_fd, POLLIN, 0});
          if (p->pid != 0 && p->pidfd < 0)
            next = std::min(next, Clock::now() + std::chrono::milliseconds(20));
          if (p->restart_pending) next = std::min(next, p->restart_at);
          if (p->stopping && p->pid != 0) next = std::min(next, p->stop_deadline);
        }
      }
      if (exiting) {
        bool any = false;
        for (auto& p : snapshot) any |= p->pid != 0;
        if (!any) return;
      }
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now());
      poll(fds.data(), fds.size(), int(std::max<int64_t>(0, wait.count())));
      uint64_t drained;
      ssize_t n = read(wake_fd, &drained, sizeof drained);
      (void)n;
      std::deque<std::function<void()>> todo;
      {
        std::lock_guard<std::mutex> lock(mu);
        todo.swap(commands);
      }
      for (auto& fn : todo) fn();
      auto now = Clock::now();
      for (auto& p : snapshot) {
        if (p->out_fd >= 0) DrainOutput(p);
        Reap(p);
        bool do_restart = false, do_kill = false;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (p->restart_pending && now >= p->restart_at && !p->stopping && !quit) {
            do_restart = true;
          }
          if (p->stopping && p->pid != 0 && now >= p->stop_deadline) do_kill = true;
        }
        if (do_kill) {
          spdlog::warn("plugin process {} did not stop within {} ms; killing it", p->spec.name,
                       opt.stop_timeout.count());
          KillNow(p, "stopped");
        }
        if (do_restart) Spawn(p);
      }
    }
  }

  void BeginStop(const std::shared_ptr<Proc>& p, bool forget) {
    std::lock_guard<std::mutex> lock(mu);
    p->forget = p->forget || forget;
    p->restart_pending = false;
    if (forget) p->resume = false;
    if (p->pid == 0) {
      p->state = ProcessState::kStopped;
      if (p->forget) procs.erase(p->id);
      cv.notify_all();
      return;
    }
    if (!p->stopping) {
      p->stopping = true;
      p->stop_deadline = Clock::now() + opt.stop_timeout;
      kill(p->pid, SIGTERM);
    }
  }
};

Supervisor::Supervisor(SupervisorOptions options) : impl_(std::make_unique<Impl>()) {
  curl_global_init(CURL_GLOBAL_ALL);
  impl_->opt = std::move(options);
  impl_->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (pipe2(impl_->parent_pipe, O_CLOEXEC) != 0) {
    impl_->parent_pipe[0] = impl_->parent_pipe[1] = -1;
  }
  impl_->containment =
      Containment::Probe(impl_->opt.launcher, impl_->opt.workerd, impl_->opt.containment);
  if (impl_->opt.containment.enabled) {
    const auto& c = *impl_->containment;
    if (c.refuse()) {
      spdlog::error("containment: {}. --require-containment=full: no plugin will start.",
                    c.Summary());
    } else if (c.full()) {
      spdlog::info("containment: {}", c.Summary());
    } else {
      spdlog::warn("containment: {}", c.Summary());
    }
    impl_->netns = false;
    for (const auto& l : c.layers()) {
      if (l.name == "net") impl_->netns = l.active;
    }
  } else if (impl_->opt.network_namespace) {
    impl_->netns = ProbeNetns(impl_->opt.launcher);
    if (!impl_->netns) {
      spdlog::warn(
          "plugin processes run without a private network namespace: this system does not allow "
          "creating one (needs CAP_SYS_ADMIN or unprivileged user namespaces). Plain fetch() is "
          "still refused inside workerd; only the OS-level barrier is missing.");
    }
  }
  impl_->thread = std::thread([this] { impl_->Loop(); });
}

Supervisor::~Supervisor() {
  std::vector<std::shared_ptr<Proc>> all;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& [id, p] : impl_->procs) all.push_back(p);
  }
  for (auto& p : all) impl_->Post([this, p] { impl_->BeginStop(p, false); });
  impl_->Post([this] {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->quit = true;
  });
  impl_->thread.join();
  impl_->closing = true;
  {
    std::unique_lock<std::mutex> lock(impl_->mu);
    impl_->cv.wait(lock, [this] { return impl_->active_probes == 0; });
  }
  close(impl_->wake_fd);
  for (int fd : impl_->parent_pipe) {
    if (fd >= 0) close(fd);
  }
}

Supervisor::Id Supervisor::Start(ProcessSpec spec) {
  auto p = std::make_shared<Proc>();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    p->id = impl_->next_id++;
    p->spec = std::move(spec);
    impl_->procs[p->id] = p;
  }
  impl_->Post([this, p] { impl_->Spawn(p); });
  return p->id;
}

Supervisor::Id Supervisor::Register(ProcessSpec spec) {
  auto p = std::make_shared<Proc>();
  std::lock_guard<std::mutex> lock(impl_->mu);
  p->id = impl_->next_id++;
  p->spec = std::move(spec);
  p->state = ProcessState::kStopped;
  impl_->procs[p->id] = p;
  return p->id;
}

void Supervisor::Stop(Id id, bool wait) {
  auto p = impl_->Find(id);
  if (!p) return;
  impl_->Post([this, p] { impl_->BeginStop(p, true); });
  if (!wait) return;
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->procs.find(id) == impl_->procs.end(); });
}

void Supervisor::Kill(Id id, const std::string& reason) {
  auto p = impl_->Find(id);
  if (p) impl_->KillNow(p, reason);
}

void Supervisor::Enable(Id id) {
  auto p = impl_->Find(id);
  if (!p) return;
  {
    // Starting from here on, so a call right after Enable() waits for the start.
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (p->state != ProcessState::kQuarantined) return;
    p->failures.clear();
    p->state = ProcessState::kStarting;
  }
  impl_->cv.notify_all();
  impl_->Post([this, p] { impl_->Spawn(p); });
}

void Supervisor::Park(Id id) {
  auto p = impl_->Find(id);
  if (!p) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    p->resume = false;
    if (p->pid == 0) {
      // Between a failure and its restart: the restart is cancelled. (A spawn already posted by
      // Resume() is not: whoever resumed it is waiting for it.)
      if (p->state == ProcessState::kRestarting) {
        p->restart_pending = false;
        p->state = ProcessState::kStopped;
      }
    } else if (!p->stopping) {
      p->stopping = true;
      p->stop_deadline = Clock::now() + impl_->opt.stop_timeout;
      kill(p->pid, SIGTERM);
    }
  }
  impl_->cv.notify_all();
  // The supervisor thread computes its next wake-up from stop_deadline: make it look again.
  impl_->Post([] {});
}

bool Supervisor::Resume(Id id) {
  auto p = impl_->Find(id);
  if (!p) return false;
  bool spawn = false;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (p->forget || p->state == ProcessState::kQuarantined) return false;
    if (p->pid != 0 && p->stopping) {
      p->resume = true;
    } else if (p->pid == 0 && p->state == ProcessState::kStopped) {
      p->stopping = false;
      p->state = ProcessState::kStarting;  // so concurrent callers see the start under way
      spawn = true;
    }
  }
  if (spawn) impl_->Post([this, p] { impl_->Spawn(p); });
  return true;
}

uint64_t Supervisor::spawns(Id id) const {
  return impl_->Read(id, uint64_t{0}, [](const Proc& p) { return p.spawns; });
}

uint64_t Supervisor::failures(Id id) const {
  return impl_->Read(id, uint64_t{0}, [](const Proc& p) { return p.failure_count; });
}

ProcessState Supervisor::state(Id id) const {
  return impl_->Read(id, ProcessState::kStopped, [](const Proc& p) { return p.state; });
}

pid_t Supervisor::pid(Id id) const {
  return impl_->Read(id, pid_t{0}, [](const Proc& p) { return p.pid; });
}

int Supervisor::generation(Id id) const {
  return impl_->Read(id, 0, [](const Proc& p) { return p.generation; });
}

bool Supervisor::WaitReady(Id id, Clock::time_point deadline) const {
  auto p = impl_->Find(id);
  if (!p) return false;
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait_until(lock, deadline, [&] {
    if (p->stopping) return !p->resume;  // a stop with a Resume() pending is waited through
    return p->state == ProcessState::kReady || p->state == ProcessState::kQuarantined ||
           p->state == ProcessState::kStopped;
  });
  return p->state == ProcessState::kReady && !p->stopping;
}

bool Supervisor::network_namespace_active() const { return impl_->netns; }

const Containment& Supervisor::containment() const { return *impl_->containment; }

std::string Supervisor::resources(Id id) const {
  return impl_->Read(id, std::string(), [](const Proc& p) { return p.resources; });
}

}  // namespace ps::workerd
