// Copyright 2026 Azimuth authors.
//
// wait_policy.cc — linked into the executables that solve (azimuth,
// azimuthd, solver_benchmark). libgomp reads its settings from the
// environment in its own initialiser, before main(); an entry in the
// executable's .preinit_array runs before every library's, so it can set a
// default there. When neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set,
// a thread waiting at a barrier spins 10,000 times (a few microseconds)
// before it sleeps, instead of libgomp's 300,000: on a quiet machine the
// solve is as fast, and when other processes want the cores, threads that
// wait yield them (measured: 2 threads with two busy processes on 2 cores,
// 100k requests OFF, 3.22 s with libgomp's default, 1.43 s so, 1.43 s on one
// thread).
#include <cstdlib>

namespace {

void SetOpenMpWaitDefault(int, char**, char**) {
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && std::getenv("GOMP_SPINCOUNT") == nullptr) {
    setenv("GOMP_SPINCOUNT", "10000", 0);
  }
}

}  // namespace

__attribute__((section(".preinit_array"),
               used)) static void (*const kSetOpenMpWaitDefault)(int, char**, char**) = &SetOpenMpWaitDefault;
