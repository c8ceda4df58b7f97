// Copyright 2026 Azimuth authors.
//
// policy.h — the `azimuth.v1.Policy` message and the solver's PolicyData:
// validation (errors name the field and the reason) and the way back. The
// offline policy file, PolicyService and the server config share it.
//
//   AZ_ASSIGN_OR_RETURN(kernels::PolicyData p, PolicyFromProto(msg, "P.json"));
#ifndef AZIMUTH_SCHEDULER_COMMON_POLICY_H_
#define AZIMUTH_SCHEDULER_COMMON_POLICY_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "azimuth/kernels/problem_data.h"
#include "azimuth/v1/policy.pb.h"

namespace azimuth::scheduler {

// Bounds on a policy's tenant limits.
inline constexpr int kMaxTenantLimits = 100000;
inline constexpr std::size_t kMaxTenantNameBytes = 1024;

// PolicyFromProto()
//
// INVALID_ARGUMENT "<source>: field '<name>': <reason>" for a bad value.
// window_s and telemetry_ttl_s of 0 take their defaults (60 and 30).
absl::StatusOr<kernels::PolicyData> PolicyFromProto(const v1::Policy& msg, absl::string_view source);

// PolicyToProto()
v1::Policy PolicyToProto(const kernels::PolicyData& policy);

// DefaultPolicy()
//
// docs/design.md's example policy (its `now` aside).
kernels::PolicyData DefaultPolicy();

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_COMMON_POLICY_H_
