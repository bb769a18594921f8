#include "util.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "runner/limits.h"

extern char** environ;

namespace ps::bench {

double Stats::Percentile(double q) const {
  if (us.empty()) return 0;
  std::vector<double> v = us;
  size_t rank = size_t(std::ceil(q * double(v.size())));
  size_t idx = rank == 0 ? 0 : std::min(v.size() - 1, rank - 1);
  std::nth_element(v.begin(), v.begin() + long(idx), v.end());
  return v[idx];
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::optional<int64_t> PssBytes(pid_t pid) { return runner::ProportionalBytes(pid); }

double ProcessCpuUs(pid_t pid) {
  std::error_code ec;
  std::string base = "/proc/" + std::to_string(pid) + "/task";
  double total_ns = 0;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator(base, ec);
       !ec && it != std::filesystem::directory_iterator() && n < 4096; it.increment(ec), ++n) {
    std::ifstream in(it->path() / "schedstat");
    double ns = 0;
    if (in >> ns) total_ns += ns;
  }
  return total_ns / 1000;
}

std::vector<pid_t> ChildPids(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc", ec);
       !ec && it != std::filesystem::directory_iterator() && n < 1000000; it.increment(ec), ++n) {
    std::string name = it->path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::string stat = ReadFileText("/proc/" + name + "/stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    long ppid = 0;
    if (rest >> state >> ppid && ppid == pid) out.push_back(pid_t(std::stol(name)));
  }
  return out;
}

namespace {

constexpr int kMaxChildren = 64;
std::atomic<pid_t> g_children[kMaxChildren];

void OnSignal(int sig) {
  KillRegisteredChildren();  // kill(2) is async-signal-safe
  ::_exit(128 + sig);
}

}  // namespace

void RegisterChild(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t expected = 0;
    if (slot.compare_exchange_strong(expected, pid)) return;
  }
}

void UnregisterChild(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t expected = pid;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

void KillRegisteredChildren() {
  for (auto& slot : g_children) {
    pid_t pid = slot.load();
    if (pid > 0) ::kill(pid, SIGKILL);
  }
}

void InstallCleanupHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaction(sig, &sa, nullptr);
  std::set_terminate([] {
    KillRegisteredChildren();
    std::abort();
  });
  std::atexit(KillRegisteredChildren);
}

pid_t SpawnChild(const SpawnSpec& spec) {
  std::vector<std::string> args = {spec.launcher, "--parent", std::to_string(getpid()), "--nofile",
                                   "1024"};
  if (spec.netns) args.push_back("--netns");
  args.push_back("--");
  args.insert(args.end(), spec.argv.begin(), spec.argv.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::string out = spec.output_file.empty() ? "/dev/null" : spec.output_file;
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, spec.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  // Its own process group: a terminal's Ctrl-C reaches only the benchmark, which kills it.
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, spec.launcher.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return -1;
  RegisterChild(pid);
  return pid;
}

void StopChild(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  int st = 0;
  if (grace.count() > 0) {
    ::kill(pid, SIGTERM);
    if (PollUntil([&] { return ::waitpid(pid, &st, WNOHANG) == pid; }, grace,
                  std::chrono::milliseconds(5))) {
      UnregisterChild(pid);
      return;
    }
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &st, 0);
  UnregisterChild(pid);
}

namespace {

size_t Append(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

}  // namespace

UnixHttpClient::UnixHttpClient(std::string socket, std::vector<std::string> headers)
    : socket_(std::move(socket)), curl_(curl_easy_init()) {
  for (const auto& h : headers) headers_ = curl_slist_append(headers_, h.c_str());
  headers_ = curl_slist_append(headers_, "Expect:");
  curl_easy_setopt(curl_, CURLOPT_UNIX_SOCKET_PATH, socket_.c_str());
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
  curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Append);
}

UnixHttpClient::~UnixHttpClient() {
  curl_easy_cleanup(curl_);
  curl_slist_free_all(headers_);
}

long UnixHttpClient::Post(const std::string& url, const std::string* body, std::string* response,
                          long timeout_ms) {
  return Request(body ? "POST" : "GET", url, body, response, timeout_ms);
}

long UnixHttpClient::Request(const std::string& method, const std::string& url,
                             const std::string* body, std::string* response, long timeout_ms) {
  response->clear();
  curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
  // POST and GET are curl's own; any other method is named over them.
  curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST,
                   method == "POST" || method == "GET" ? nullptr : method.c_str());
  if (body) {
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body->size()));
  } else {
    curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, response);
  curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, timeout_ms);
  CURLcode rc = curl_easy_perform(curl_);
  long opened = 0;
  curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &opened);
  connects_ += opened;
  if (rc != CURLE_OK) return 0;
  long status = 0;
  curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

std::string ReadFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteFileText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return bool(out);
}

}  // namespace ps::bench
