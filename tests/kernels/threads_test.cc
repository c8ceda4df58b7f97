// Copyright 2026 Azimuth authors.
//
// The CPU backend's thread count (kernels/threads.h): a cgroup's CPU quota,
// v1 and v2, read from a cgroup tree laid out in a temporary directory.
#include "azimuth/kernels/threads.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace azimuth::kernels {
namespace {

namespace fs = std::filesystem;

class CgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("azimuth-cgroup-" + std::to_string(::getpid()));
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const std::string& path, const std::string& text) {
    fs::create_directories((root_ / path).parent_path());
    std::ofstream(root_ / path) << text;
  }
  fs::path root_;
};

TEST_F(CgroupTest, V2QuotaOfTheOwnCgroupOrAnAncestorTheTightest) {
  Write("kubepods/pod1/ctr/cpu.max", "max 100000\n");
  Write("kubepods/pod1/cpu.max", "150000 100000\n");  // 1.5 CPUs: 2 threads
  Write("kubepods/cpu.max", "6400000 100000\n");
  EXPECT_EQ(CgroupCpuLimit(root_.string(), "0::/kubepods/pod1/ctr\n"), 2);
  Write("kubepods/pod1/ctr/cpu.max", "50000 100000\n");  // half a CPU: 1
  EXPECT_EQ(CgroupCpuLimit(root_.string(), "0::/kubepods/pod1/ctr\n"), 1);
  // A cgroup namespace: the process sees itself at the root.
  Write("cpu.max", "400000 100000\n");
  EXPECT_EQ(CgroupCpuLimit(root_.string(), "0::/\n"), 4);
}

TEST_F(CgroupTest, V1QuotaAndNoQuota) {
  Write("cpu/docker/abc/cpu.cfs_quota_us", "300000\n");
  Write("cpu/docker/abc/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(CgroupCpuLimit(root_.string(), "4:memory:/docker/abc\n1:cpu,cpuacct:/docker/abc\n"), 3);
  Write("cpu/docker/abc/cpu.cfs_quota_us", "-1\n");
  EXPECT_EQ(CgroupCpuLimit(root_.string(), "1:cpu,cpuacct:/docker/abc\n"), 0);
  EXPECT_EQ(CgroupCpuLimit(root_.string(), ""), 0);
  EXPECT_EQ(CgroupCpuLimit((root_ / "absent").string(), "0::/x\n"), 0);
}

TEST(CpuThreadsTest, AtLeastOneAndNoMoreThanTheAffinityMask) {
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_GE(CpuThreads(), 1);
  if (std::getenv("OMP_NUM_THREADS") == nullptr) {
    EXPECT_LE(CpuThreads(), CPU_COUNT(&set));
  }
}

}  // namespace
}  // namespace azimuth::kernels
