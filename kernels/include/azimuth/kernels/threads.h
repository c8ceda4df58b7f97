// Copyright 2026 Azimuth authors.
//
// threads.h — how many threads the CPU backend runs: the CPUs this process
// may use (its affinity mask) and may have time on (its cgroup's CPU quota,
// v2 `cpu.max` or v1 `cpu.cfs_quota_us`), not the machine's cores: a pod
// limited to 2 CPUs on a 64-core node runs 2. OMP_NUM_THREADS, when set,
// decides instead.
//
//   std::printf("%d threads\n", azimuth::kernels::CpuThreads());
#ifndef AZIMUTH_KERNELS_THREADS_H_
#define AZIMUTH_KERNELS_THREADS_H_

#include <string>

namespace azimuth::kernels {

// CpuThreads()
//
// The CPU backend's thread count, worked out once per process.
int CpuThreads();

// CgroupCpuLimit()
//
// The CPU quota in whole CPUs (rounded up), or 0 when none is set, read from
// the cgroup filesystem at `root` (normally /sys/fs/cgroup) for the process
// whose /proc/self/cgroup text is `self_cgroup`: v2's cpu.max of its own
// cgroup and its ancestors (the tightest), or v1's cpu controller.
int CgroupCpuLimit(const std::string& root, const std::string& self_cgroup);

}  // namespace azimuth::kernels

#endif  // AZIMUTH_KERNELS_THREADS_H_
