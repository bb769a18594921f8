// The system calls a plugin's workerd process may make: one allowlist, in seccomp_policy.cc.
//
// Contract: InstallSeccompPolicy() loads the filter into the calling thread (and every thread
// and exec after it) and returns true, or false with *why. Calls outside the list fail with
// EPERM (clone3 with ENOSYS, so the C library falls back to clone, whose flags can be checked);
// a call from another architecture's table (x32, i386) kills the process. The caller must
// already have set no_new_privs.
#pragma once

#include <string>
#include <vector>

namespace ps::workerd {

bool InstallSeccompPolicy(std::string* why);

// The names on the list (for docs and the probe's test); calls with argument rules included.
std::vector<std::string> SeccompAllowedNames();

}  // namespace ps::workerd
