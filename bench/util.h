// Small pieces of the benchmark harness: timing, statistics, proportional memory, child processes
// that never outlive the benchmark, and a keep-alive HTTP client on a Unix socket.
#pragma once

#include <curl/curl.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ps::bench {

using Clock = std::chrono::steady_clock;

inline double MicrosSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

// Latency samples in microseconds.
struct Stats {
  std::vector<double> us;
  void Add(double v) { us.push_back(v); }
  size_t count() const { return us.size(); }
  // Nearest-rank percentile (q in [0, 1]); 0 when empty.
  double Percentile(double q) const;
  double median() const { return Percentile(0.5); }
  double p99() const { return Percentile(0.99); }
};

// Median of a list of values (0 when empty).
double Median(std::vector<double> v);

// Proportional set size of a process in bytes (/proc/<pid>/smaps_rollup "Pss:"); nullopt when
// the process is gone or the file is unreadable.
std::optional<int64_t> PssBytes(pid_t pid);
inline double MiB(int64_t bytes) { return double(bytes) / double(1 << 20); }

// Waits until `cond` holds, `limit` passes or `stop` is set, looking every `every`: the
// benchmark's one way to wait for a state the runner does not announce (a restart, a stop,
// readiness). True when `cond` held.
template <class Cond>
bool PollUntil(Cond cond, std::chrono::milliseconds limit, std::chrono::microseconds every,
               const std::atomic<bool>* stop = nullptr) {
  const auto deadline = Clock::now() + limit;
  for (int i = 0; i < 10000000 && Clock::now() < deadline && !(stop && *stop); ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(every);
  }
  return false;
}

// CPU time used so far by every thread of a process, in microseconds (sum of
// /proc/<pid>/task/*/schedstat); 0 when the process is gone.
double ProcessCpuUs(pid_t pid);
// The processes whose parent is `pid` (from /proc/*/stat).
std::vector<pid_t> ChildPids(pid_t pid);

// Children the benchmark starts itself (raw workerd, serve): killed on every way out, including
// SIGINT/SIGTERM and std::terminate. Each is also started with a parent-death signal (through
// plugin-sandbox-launch), so even SIGKILL of the benchmark leaves no orphan.
void InstallCleanupHandlers();
void RegisterChild(pid_t pid);
void UnregisterChild(pid_t pid);
void KillRegisteredChildren();

struct SpawnSpec {
  std::string launcher;           // plugin-sandbox-launch
  std::vector<std::string> argv;  // the program and its arguments (after the launcher's "--")
  std::string cwd;
  std::string output_file;  // stdout and stderr go here
  bool netns = false;
};

// Starts argv through the launcher (parent-death signal tied to the calling thread: call from
// the main thread). Returns the pid, or -1.
pid_t SpawnChild(const SpawnSpec& spec);
// SIGKILL (or SIGTERM first, waiting up to `grace`) and reap.
void StopChild(pid_t pid, std::chrono::milliseconds grace = std::chrono::milliseconds(0));

// One reused libcurl easy handle: HTTP/1.1 keep-alive over a Unix socket.
class UnixHttpClient {
 public:
  UnixHttpClient(std::string socket, std::vector<std::string> headers);
  ~UnixHttpClient();
  UnixHttpClient(const UnixHttpClient&) = delete;
  UnixHttpClient& operator=(const UnixHttpClient&) = delete;

  // POST (or GET when body is null) `url`; returns the status (0 on a transport failure).
  long Post(const std::string& url, const std::string* body, std::string* response,
            long timeout_ms = 30000);
  // Any method (PUT, DELETE, …), with a body when given; returns the status as Post does.
  long Request(const std::string& method, const std::string& url, const std::string* body,
               std::string* response, long timeout_ms = 30000);
  // Connections opened so far (1 while keep-alive holds).
  long connects() const { return connects_; }

 private:
  std::string socket_;
  CURL* curl_;
  struct curl_slist* headers_ = nullptr;
  long connects_ = 0;
};

std::string ReadFileText(const std::string& path);
bool WriteFileText(const std::string& path, const std::string& text);

}  // namespace ps::bench
