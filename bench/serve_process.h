// The built `plugin-sandbox serve` as a child process on a Unix socket, for the host-API figures.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "util.h"

namespace ps::bench {

class ServeProcess {
 public:
  // Starts serve with its own data directory under `dir`, installing every bundle in
  // `plugins_dir` at start; waits (bounded) until /healthz answers. ok() says whether it did.
  // `extra_args` go after serve's own (--limit, --plugin-limit, …).
  ServeProcess(const std::string& binary, const std::string& launcher, const std::string& dir,
               const std::string& plugins_dir, const std::vector<std::string>& extra_args = {});
  ~ServeProcess();  // SIGTERM (bounded), then SIGKILL
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  pid_t pid() const { return pid_; }
  const std::string& socket() const { return socket_; }
  const std::string& token() const { return token_; }
  std::string log() const;

 private:
  std::string dir_, socket_, token_, error_;
  pid_t pid_ = -1;
  bool ok_ = false;
};

}  // namespace ps::bench
