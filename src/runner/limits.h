// Reading a plugin process's resource use, for the limit watchdog.
//
// CPU: the process's main thread's run time, in ns, from /proc/<pid>/task/<pid>/schedstat. JS
// runs on workerd's main thread; its other threads (V8's platform workers: GC, compilation) are
// not the plugin's doing and are not counted. V8's mark-compact still does part of its work on the
// main thread (a 50 ms burst measured in a long-lived echo plugin, docs/performance.md), so before
// killing, the watchdog asks whether the main thread is running right now (MainThreadRunning) and
// whether V8's helpers are (OtherThreadRunning: busy during a collection, idle during a loop).
// Memory: resident set size from /proc/<pid>/statm; proportional set size (shared pages divided
// among the processes sharing them: what one more process really costs) from smaps_rollup.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace ps::runner {

std::optional<uint64_t> MainThreadCpuNs(pid_t pid);
std::optional<int64_t> ResidentBytes(pid_t pid);
std::optional<int64_t> ProportionalBytes(pid_t pid);

// Whether the main thread is running or runnable (state R in /proc/<pid>/task/<pid>/stat) rather
// than waiting; nullopt when the process is gone.
std::optional<bool> MainThreadRunning(pid_t pid);

// Whether any other thread of the process is running or runnable; nullopt when it is gone. In
// workerd these are V8's platform workers: busy while a garbage collection (or a compilation) is
// under way, asleep while JavaScript merely loops.
std::optional<bool> OtherThreadRunning(pid_t pid);

// The same clock through a descriptor opened once per process (an invocation reads it at its start
// and the watchdog every few ms: a re-read costs about 1 us, a fresh open about 8 us). The
// descriptor keeps naming that process: once it is gone, reads fail (nullopt) whatever reuses the
// pid. -1 when the file cannot be opened.
int OpenMainThreadCpu(pid_t pid);
std::optional<uint64_t> MainThreadCpuNsAt(int fd);

}  // namespace ps::runner
