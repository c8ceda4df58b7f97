// Copyright 2026 Azimuth authors.
//
// status.h — small helpers around absl::Status that Debian 12's abseil
// (20220623) lacks, and the mapping of solver errors onto status codes.
//
//   AZ_RETURN_IF_ERROR(WriteFile(path, text));
//   AZ_ASSIGN_OR_RETURN(ProblemData data, ReadEndpointsCsv(path));
#ifndef AZIMUTH_SCHEDULER_COMMON_STATUS_H_
#define AZIMUTH_SCHEDULER_COMMON_STATUS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

#include "absl/status/statusor.h"
#include "azimuth/kernels/solver.h"

#define AZ_STATUS_CONCAT_INNER_(a, b) a##b
#define AZ_STATUS_CONCAT_(a, b) AZ_STATUS_CONCAT_INNER_(a, b)

// AZ_RETURN_IF_ERROR(expr): returns the status of `expr` if it is not OK.
#define AZ_RETURN_IF_ERROR(expr)              \
  do {                                        \
    const ::absl::Status az_status_ = (expr); \
    if (!az_status_.ok()) return az_status_;  \
  } while (false)

// AZ_ASSIGN_OR_RETURN(lhs, expr): evaluates the StatusOr `expr`; returns its
// status on error, otherwise moves its value into `lhs` (a declaration or an
// existing variable).
#define AZ_ASSIGN_OR_RETURN(lhs, expr) AZ_ASSIGN_OR_RETURN_IMPL_(AZ_STATUS_CONCAT_(az_statusor_, __LINE__), lhs, expr)
#define AZ_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

namespace azimuth::scheduler {

// ToStatus()
//
// The most specific absl::Status for a solver error.
absl::Status ToStatus(const kernels::Error& error);

// ParseBackend()
//
// "auto", "cuda" or "cpu" (any case), as flags and configs spell it;
// INVALID_ARGUMENT "backend: '<text>' is not auto, cuda or cpu" otherwise.
absl::StatusOr<kernels::Backend> ParseBackend(const std::string& text);

// The longest telemetry_ttl_s accepted (its milliseconds fit in int64).
inline constexpr std::int64_t kMaxTelemetryTtlS = 1'000'000'000;

// OutOfRange()
//
// "" when 0 <= value <= max (and finite), else the reason to report. Every
// number the control plane accepts passes it against the solver's ranges
// (kernels/problem.h), so whatever the solver computes stays finite.
std::string OutOfRange(double value, double max);

// SolveBatch()
//
// kernels::Solve() with its error as an absl::Status.
absl::StatusOr<kernels::Solution> SolveBatch(const kernels::ProblemView& problem,
                                             const kernels::SolverOptions& options = {});

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_COMMON_STATUS_H_
