// Starting the launcher: posix_spawn's contract (a fresh process group, default signal
// dispositions, nothing blocked, stdin from /dev/null, stdout and stderr to one descriptor, a
// working directory), plus what posix_spawn cannot do: new namespaces at creation (a PID
// namespace, and a user namespace when the host is unprivileged, can only be entered by a new
// process) and one extra descriptor passed as fd 3.
//
// Implemented with clone(CLONE_VM | CLONE_VFORK): the parent thread waits until the child has
// exec'd, and the child touches nothing but its own stack, so it is safe in a threaded host.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace ps::workerd {

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is the program's path
  std::vector<std::string> env;
  std::string cwd;
  int output_fd = -1;   // becomes stdout and stderr
  int extra_fd = -1;    // becomes fd 3 when >= 0
  int clone_flags = 0;  // CLONE_NEWPID, CLONE_NEWUSER, … (0: an ordinary child)
  // With CLONE_NEWUSER: the child's own maps ("inside outside count"), written by the child
  // before its exec (an exec in a user namespace without a map drops every capability there).
  std::string uid_map, gid_map;
};

// The child's pid, or -errno (the clone or the exec failed).
pid_t SpawnProcess(const SpawnRequest& request);

}  // namespace ps::workerd
