// Copyright 2026 Azimuth authors.
#include "scheduler/common/status.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace azimuth::scheduler {

absl::Status ToStatus(const kernels::Error& error) {
  switch (error.code) {
    case kernels::ErrorCode::kInvalidArgument:
      return absl::InvalidArgumentError(error.message);
    case kernels::ErrorCode::kResourceExhausted:
      return absl::ResourceExhaustedError(error.message);
    case kernels::ErrorCode::kUnavailable:
      return absl::UnavailableError(error.message);
    case kernels::ErrorCode::kInternal:
      return absl::InternalError(error.message);
  }
  return absl::UnknownError(error.message);
}

std::string OutOfRange(double value, double max) {
  if (std::isfinite(value) && value >= 0 && value <= max) return "";
  return absl::StrCat("must be a finite number in [0, ", max, "]");
}

absl::StatusOr<kernels::Backend> ParseBackend(const std::string& text) {
  const std::string t = absl::AsciiStrToLower(text);
  if (t == "auto") return kernels::Backend::kAuto;
  if (t == "cuda") return kernels::Backend::kCuda;
  if (t == "cpu") return kernels::Backend::kCpu;
  return absl::InvalidArgumentError(absl::StrCat("backend: '", text, "' is not auto, cuda or cpu"));
}

absl::StatusOr<kernels::Solution> SolveBatch(const kernels::ProblemView& problem,
                                             const kernels::SolverOptions& options) {
  kernels::SolveResult result = kernels::Solve(problem, options);
  if (!result.ok()) return ToStatus(result.error());
  return std::move(result).value();
}

}  // namespace azimuth::scheduler
