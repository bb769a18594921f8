// Reading a plugin process's resource use, for the limit watchdog.
//
// CPU: the process's main thread's run time, in ns, from /proc/<pid>/task/<pid>/schedstat. JS
// runs on workerd's main thread; its other threads (V8's platform workers: GC, compilation) are
// not the plugin's doing and are not counted, so a busy GC cannot cause a false kill.
// Memory: resident set size from /proc/<pid>/statm.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace ps::runner {

std::optional<uint64_t> MainThreadCpuNs(pid_t pid);
std::optional<int64_t> ResidentBytes(pid_t pid);

}  // namespace ps::runner
