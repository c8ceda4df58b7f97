// Copyright 2026 Azimuth authors.
#include "azimuth/kernels/threads.h"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace azimuth::kernels {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// CPUs of a quota of `quota` per `period` microseconds (0: unlimited).
int Cpus(double quota, double period) {
  if (!(quota > 0) || !(period > 0)) return 0;
  return std::max(1, static_cast<int>(std::ceil(quota / period - 1e-9)));
}

int Tighter(int a, int b) { return a == 0 ? b : (b == 0 ? a : std::min(a, b)); }

}  // namespace

int CgroupCpuLimit(const std::string& root, const std::string& self_cgroup) {
  int limit = 0;
  std::istringstream lines(self_cgroup);
  for (std::string line; std::getline(lines, line);) {
    // hierarchy-id:controllers:path
    const auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controllers.empty()) {
      // v2: cpu.max ("max 100000" or "200000 100000") along the path up to
      // the root, the tightest applying.
      for (;;) {
        std::istringstream max(ReadFile(root + path + (path.empty() || path.back() == '/' ? "" : "/") + "cpu.max"));
        std::string quota;
        double period = 0;
        if (max >> quota >> period && quota != "max") limit = Tighter(limit, Cpus(std::atof(quota.c_str()), period));
        if (path.empty() || path == "/") break;
        path = path.substr(0, path.rfind('/'));
      }
    } else if (("," + controllers + ",").find(",cpu,") != std::string::npos) {
      for (const std::string& dir : {root + "/cpu" + path, root + "/cpu"}) {
        const std::string quota = ReadFile(dir + "/cpu.cfs_quota_us");
        if (quota.empty()) continue;
        limit = Tighter(limit, Cpus(std::atof(quota.c_str()), std::atof(ReadFile(dir + "/cpu.cfs_period_us").c_str())));
        break;
      }
    }
  }
  return limit;
}

int CpuThreads() {
  static const int threads = [] {
    if (std::getenv("OMP_NUM_THREADS") != nullptr) return std::max(1, omp_get_max_threads());
    int n = omp_get_num_procs();
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = std::min(n, CPU_COUNT(&set));
    n = Tighter(n, CgroupCpuLimit("/sys/fs/cgroup", ReadFile("/proc/self/cgroup")));
    return std::max(1, n);
  }();
  return threads;
}

}  // namespace azimuth::kernels
