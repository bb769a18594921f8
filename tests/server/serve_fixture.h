// A real `plugin-sandbox serve` process for end-to-end tests: started from the build tree on
// 127.0.0.1 port 0 (or a Unix socket) with its own data directory, found through the address it
// writes to <data>/address, spoken to over real HTTP with libcurl, stopped with a signal.
#pragma once

#include <curl/curl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "manifest/tar_util.h"
#include "test_util.h"

extern char** environ;

namespace ps::testing {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

inline const std::string kServeBinary = PS_BINARY_DIR "/src/plugin-sandbox";

struct Reply {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names

  json::value Json() const {
    auto v = ParseJson(body);
    return v.ok() ? *v : json::value(nullptr);
  }
  // error.code of an error envelope ("" otherwise).
  std::string ErrorCode() const {
    json::value v = Json();
    if (!v.is_object()) return "";
    auto* e = v.get_object().if_contains("error");
    if (!e || !e->is_object()) return "";
    auto* c = e->get_object().if_contains("code");
    return c && c->is_string() ? std::string(c->get_string()) : "";
  }
  std::string ErrorMessage() const {
    json::value v = Json();
    if (!v.is_object()) return "";
    auto* e = v.get_object().if_contains("error");
    if (!e || !e->is_object()) return "";
    auto* m = e->get_object().if_contains("message");
    return m && m->is_string() ? std::string(m->get_string()) : "";
  }
  // A /healthz body without its "containment" report (which says what this machine allows):
  // status and plugin states only, serialized as the host does.
  std::string Health() const {
    json::value v = Json();
    if (!v.is_object()) return body;
    v.get_object().erase("containment");
    return Stringify(v);
  }
};

inline std::string Str(const json::value& v) {
  return v.is_string() ? std::string(v.get_string()) : Stringify(v);
}

// A bundle directory from manifest JSON and module source; returns its path.
inline std::string WriteBundle(const fs::path& dir, const std::string& manifest,
                               const std::string& source) {
  WriteFile(dir / "manifest.json", manifest);
  WriteFile(dir / "backend.js", source);
  return dir.string();
}

// A bundle .tar.gz (files under one top folder, as npm pack makes them).
inline std::string BundleTarGz(const std::string& manifest, const std::string& source) {
  return MakeTarGz({{"package/manifest.json", manifest}, {"package/backend.js", source}});
}

class Serve {
 public:
  explicit Serve(fs::path data) : data_(std::move(data)) {}
  ~Serve() {
    CloseStdin();
    if (pid_ > 0) {
      // A clean stop, so that sanitizer builds check the whole run (leaks included).
      if (Stop(SIGTERM) != 0 && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int st;
        ::waitpid(pid_, &st, 0);
      }
    }
    CheckSanitizerReports();
  }

  // Fails the test when a sanitizer reported anything in any run of this process.
  void CheckSanitizerReports() {
    for (const auto& path : err_paths_) {
      std::string log = ReadFile(path);
      if (log.find("ERROR: AddressSanitizer") != std::string::npos ||
          log.find("ERROR: LeakSanitizer") != std::string::npos ||
          log.find("runtime error:") != std::string::npos) {
        ADD_FAILURE() << "sanitizer report from serve (" << path << "):\n" << log;
      }
    }
    err_paths_.clear();
  }

  std::vector<std::string> args;           // after `serve`
  std::map<std::string, std::string> env;  // added to a cleaned environment
  bool default_listen = true;              // --listen 127.0.0.1:0 unless args set one
  bool stdin_pipe = false;  // stdin is a pipe the test holds (embedded mode exits when it closes)

  // Closes the test's end of the stdin pipe (what the embedding process's exit does).
  void CloseStdin() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    stdin_fd_ = -1;
  }

  // Starts the process and waits (bounded) until /healthz answers.
  void Start() {
    exited_ = false;
    exit_code_ = -1;
    std::error_code ec;
    fs::create_directories(data_, ec);
    fs::remove(data_ / "address", ec);
    std::vector<std::string> argv = {kServeBinary, "serve", "--data", data_.string()};
    if (default_listen) {
      argv.push_back("--listen");
      argv.push_back("127.0.0.1:0");
    }
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::vector<std::string> envs;
    for (char** e = environ; *e; ++e) {
      std::string s = *e;
      if (s.rfind("PLUGIN_SANDBOX_", 0) == 0) continue;
      envs.push_back(s);
    }
    for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
    std::vector<char*> cenv;
    for (auto& e : envs) cenv.push_back(e.data());
    cenv.push_back(nullptr);

    out_path_ = (data_.parent_path() / ("serve-" + std::to_string(++starts_) + ".out")).string();
    err_path_ = (data_.parent_path() / ("serve-" + std::to_string(starts_) + ".err")).string();
    err_paths_.push_back(err_path_);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    int in[2] = {-1, -1};
    if (stdin_pipe) {
      CloseStdin();
      ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
      posix_spawn_file_actions_adddup2(&fa, in[0], 0);
      stdin_fd_ = in[1];
    } else {
      posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    }
    posix_spawn_file_actions_addopen(&fa, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = posix_spawn(&pid_, kServeBinary.c_str(), &fa, nullptr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    if (in[0] >= 0) ::close(in[0]);
    ASSERT_EQ(rc, 0) << "cannot start " << kServeBinary;

    bool up = Eventually(
        [&] {
          if (Exited()) return true;
          return fs::exists(data_ / "address");
        },
        std::chrono::seconds(30));
    ASSERT_TRUE(up && !exited_) << "serve did not start (exit " << exit_code_ << "):\n" << Log();
    address_ = ReadFile(data_ / "address");
    while (!address_.empty() && (address_.back() == '\n' || address_.back() == '\r'))
      address_.pop_back();
    token_ = ReadFile(data_ / "admin-token");
    while (!token_.empty() && (token_.back() == '\n')) token_.pop_back();
    bool healthy =
        Eventually([&] { return Get("/healthz", false).status == 200; }, std::chrono::seconds(10));
    ASSERT_TRUE(healthy) << Log();
  }

  // Sends `sig` and waits (bounded) for the exit; returns the exit code (-1: still running or
  // killed by a signal).
  int Stop(int sig = SIGTERM, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    if (pid_ <= 0) return exit_code_;
    ::kill(pid_, sig);
    Eventually([&] { return Exited(); }, limit);
    return exited_ ? exit_code_ : -1;
  }

  bool Exited() {
    if (pid_ <= 0) return true;
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      pid_ = -1;
      return true;
    }
    return false;
  }

  std::string Log() const { return ReadFile(err_path_); }
  std::string Out() const { return ReadFile(out_path_); }
  const std::string& address() const { return address_; }
  const std::string& token() const { return token_; }
  std::string& mutable_token() { return token_; }
  const fs::path& data() const { return data_; }
  pid_t pid() const { return pid_; }

  Reply Request(const std::string& method, const std::string& path, const std::string& body = "",
                std::vector<std::string> headers = {}, bool auth = true) {
    Reply r;
    CURL* c = curl_easy_init();
    std::string url;
    if (address_.rfind("unix:", 0) == 0) {
      curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, address_.substr(5).c_str());
      url = "http://localhost" + path;
    } else {
      url = "http://" + address_ + path;
    }
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (!body.empty() || method == "POST" || method == "PUT") {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
    }
    struct curl_slist* hs = nullptr;
    bool has_type = false;
    for (const auto& h : headers) {
      if (h.rfind("Content-Type:", 0) == 0) has_type = true;
      hs = curl_slist_append(hs, h.c_str());
    }
    if (!has_type) hs = curl_slist_append(hs, "Content-Type: application/json");
    if (auth) hs = curl_slist_append(hs, ("Authorization: Bearer " + token_).c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(
        c, CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* u) {
          static_cast<std::string*>(u)->append(d, s * n);
          return s * n;
        });
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(
        c, CURLOPT_HEADERFUNCTION, +[](char* d, size_t s, size_t n, void* u) {
          std::string line(d, s * n);
          size_t colon = line.find(':');
          if (colon != std::string::npos) {
            std::string k = line.substr(0, colon);
            for (char& ch : k) ch = char(std::tolower(static_cast<unsigned char>(ch)));
            std::string v = line.substr(colon + 1);
            while (!v.empty() && (v.front() == ' ')) v.erase(v.begin());
            while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) v.pop_back();
            (*static_cast<std::map<std::string, std::string>*>(u))[k] = v;
          }
          return s * n;
        });
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    return r;
  }

  Reply Get(const std::string& path, bool auth = true) {
    return Request("GET", path, "", {}, auth);
  }
  Reply Post(const std::string& path, const std::string& body, bool auth = true) {
    return Request("POST", path, body, {}, auth);
  }
  Reply Put(const std::string& path, const std::string& body) {
    return Request("PUT", path, body, {});
  }
  Reply Delete(const std::string& path) { return Request("DELETE", path); }
  Reply PutBundle(const std::string& id, const std::string& targz) {
    return Request("PUT", "/v1/plugins/" + id, targz, {"Content-Type: application/gzip"});
  }
  // A route through the admin API: POST /v1/plugins/{id}/routes/{route} {"input": …}.
  Reply Route(const std::string& id, const std::string& route, const std::string& input = "null") {
    return Post("/v1/plugins/" + id + "/routes/" + route, "{\"input\":" + input + "}");
  }

 private:
  fs::path data_;
  int stdin_fd_ = -1;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
  int starts_ = 0;
  std::string out_path_, err_path_;
  std::vector<std::string> err_paths_;
  std::string address_;
  std::string token_;
};

// One temporary directory with a serve process in it.
class ServeTest : public ::testing::Test {
 protected:
  ServeTest() : serve_(dir_ / "data") {}
  fs::path Plugins() { return dir_ / "plugins"; }
  // Writes a bundle into <dir>/plugins/<name>.
  void AddPlugin(const std::string& name, const std::string& manifest, const std::string& source) {
    WriteBundle(Plugins() / name, manifest, source);
  }
  void StartWithPlugins() {
    serve_.args.push_back("--plugins");
    serve_.args.push_back(Plugins().string());
    serve_.Start();
  }

  TempDir dir_;
  Serve serve_;
};

}  // namespace ps::testing
