// Copyright 2026 Azimuth authors.
//
// solver_cuda.cu — the solver's phases on Thrust's CUDA backend: the same
// source as the OpenMP backend (solver_impl.cuh), compiled by nvcc.
#include <cuda_runtime.h>
#include <thrust/system/cuda/execution_policy.h>
#include <thrust/system/cuda/vector.h>

#include "../solver_impl.cuh"

namespace azimuth::kernels::internal {
namespace {

struct CudaBackend {
  template <typename T>
  using Vector = thrust::cuda::vector<T>;
  static auto Policy() { return thrust::cuda::par; }
  // Many small chunks: one thread per chunk, thousands of threads.
  static constexpr std::int64_t kMaxChunks = 16384;
  // The price pass's chunks: one thread each, their number growing with the
  // groups (each holds its block's partial sums, the dense curvature
  // included, so fewer than the plain reductions').
  static constexpr std::int64_t kMaxPassChunks = 4096;
  static constexpr std::int64_t kMinChunk = 4;
};

}  // namespace

bool CudaDevicePresent() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return false;
  }
  return count > 0;
}

PhaseResult RunBackendCuda(const HostModel& model, const RequestsView& requests, const SolverOptions& options,
                           const TenantPricing* tenants, bool quick) {
  PhaseResult result = RunPhases<CudaBackend>(model, requests, options, tenants, quick);
  const cudaError_t status = cudaDeviceSynchronize();
  if (status != cudaSuccess) {
    throw thrust::system_error(status, thrust::cuda_category(), "solver kernels");
  }
  return result;
}

}  // namespace azimuth::kernels::internal
