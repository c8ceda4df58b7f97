// Copyright 2026 Azimuth authors.
//
// solver_omp.cc — the solver's phases on Thrust's OpenMP backend: the same
// source as the CUDA backend (solver_impl.cuh), compiled by the host compiler.
#include <thrust/system/omp/execution_policy.h>
#include <thrust/system/omp/vector.h>

#include <omp.h>

#include "../solver_impl.cuh"
#include "azimuth/kernels/threads.h"

namespace azimuth::kernels::internal {
namespace {

struct OmpBackend {
  template <typename T>
  using Vector = thrust::omp::vector<T>;
  static auto Policy() { return thrust::omp::par; }
  // Chunks of a deterministic reduction: enough for load balance on a
  // many-core host, few enough that the partial sums stay in cache.
  static constexpr std::int64_t kMaxChunks = 256;
  // The price pass's chunks (each holds its block's partial sums, the
  // dense curvature included): a few per thread balance the load.
  static constexpr std::int64_t kMaxPassChunks = 64;
  static constexpr std::int64_t kMinChunk = 64;
};

}  // namespace

PhaseResult RunBackendCpu(const HostModel& model, const RequestsView& requests, const SolverOptions& options,
                          const TenantPricing* tenants, bool quick) {
  // The calling thread's team size (an OpenMP ICV of this thread): the CPUs
  // this process may use, not the machine's cores.
  omp_set_num_threads(CpuThreads());
  return RunPhases<OmpBackend>(model, requests, options, tenants, quick);
}

}  // namespace azimuth::kernels::internal
