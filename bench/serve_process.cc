#include "serve_process.h"

#include <sys/wait.h>

#include <algorithm>
#include <filesystem>

namespace ps::bench {

namespace fs = std::filesystem;

ServeProcess::ServeProcess(const std::string& binary, const std::string& launcher,
                           const std::string& dir, const std::string& plugins_dir,
                           const std::vector<std::string>& extra_args)
    : dir_(dir) {
  std::error_code ec;
  fs::create_directories(dir + "/data", ec);
  socket_ = dir + "/serve.sock";
  std::string address_file = dir + "/data/address";
  fs::remove(address_file, ec);
  SpawnSpec spec;
  spec.launcher = launcher;
  spec.argv = {binary,        "serve",     "--listen",  "unix:" + socket_, "--data",
               dir + "/data", "--plugins", plugins_dir, "--log-level",     "warn"};
  spec.argv.insert(spec.argv.end(), extra_args.begin(), extra_args.end());
  spec.cwd = dir;
  spec.output_file = dir + "/serve.log";
  pid_ = SpawnChild(spec);
  if (pid_ <= 0) {
    error_ = "cannot start " + binary;
    return;
  }
  const auto limit = std::chrono::seconds(60);
  const auto deadline = Clock::now() + limit;
  bool exited = false;
  bool up = PollUntil(
      [&] {
        int st = 0;
        exited = ::waitpid(pid_, &st, WNOHANG) == pid_;
        return exited || fs::exists(address_file, ec);
      },
      limit, std::chrono::milliseconds(10));
  if (exited) {
    UnregisterChild(pid_);
    pid_ = -1;
    error_ = "serve exited at start: " + log();
    return;
  }
  if (!up) {
    error_ = "serve did not write its address in time: " + log();
    return;
  }
  token_ = ReadFileText(dir + "/data/admin-token");
  while (!token_.empty() && (token_.back() == '\n' || token_.back() == '\r')) token_.pop_back();
  UnixHttpClient client(socket_, {});
  std::string body;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  ok_ = PollUntil(
      [&] { return client.Post("http://localhost/healthz", nullptr, &body, 1000) == 200; },
      std::max(left, std::chrono::milliseconds(0)), std::chrono::milliseconds(10));
  if (ok_) return;
  error_ = "serve did not become healthy: " + body + "\n" + log();
}

ServeProcess::~ServeProcess() { StopChild(pid_, std::chrono::milliseconds(10000)); }

std::string ServeProcess::log() const { return ReadFileText(dir_ + "/serve.log"); }

}  // namespace ps::bench
