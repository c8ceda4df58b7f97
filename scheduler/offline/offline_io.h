// Copyright 2026 Azimuth authors.
//
// offline_io.h — the files of `azimuth solve` (docs/design.md, "Offline
// interchange"): endpoints and requests CSV and the policy JSON in, the
// assignments CSV and the summary JSON out. Every reader rejects malformed
// input with an error naming the file, line and field; no row is skipped.
//
//   kernels::ProblemData data;
//   AZ_RETURN_IF_ERROR(ReadEndpointsCsv("E.csv", &data));
//   AZ_RETURN_IF_ERROR(ReadRequestsCsv("R.csv", &data));
//   AZ_RETURN_IF_ERROR(ReadPolicyJson("P.json", &data.policy));
#ifndef AZIMUTH_SCHEDULER_OFFLINE_OFFLINE_IO_H_
#define AZIMUTH_SCHEDULER_OFFLINE_OFFLINE_IO_H_

#include <string>

#include "absl/status/status.h"
#include "azimuth/kernels/problem_data.h"
#include "azimuth/kernels/solver.h"

namespace azimuth::scheduler {

// Column sets, exactly as docs/design.md defines them.
extern const char* const kEndpointColumns[12];
extern const char* const kRequestColumns[9];
extern const char* const kEndpointOptionalColumns[2];  // max_context_tokens, features
extern const char* const kRequestOptionalColumns[1];   // requires

// ReadEndpointsCsv() / ReadRequestsCsv()
//
// Append the file's rows to `data`. Offline, every healthy endpoint's
// telemetry counts as fresh. Ids must be unique within a file. Read the
// endpoints first: requests name features against their table.
absl::Status ReadEndpointsCsv(const std::string& path, kernels::ProblemData* data);
absl::Status ReadRequestsCsv(const std::string& path, kernels::ProblemData* data);

// ParsePolicyJson() / ReadPolicyJson()
//
// The `azimuth.v1.Policy` message in its protobuf JSON mapping, validated:
// errors name the field and the reason.
absl::Status ParsePolicyJson(const std::string& json, const std::string& source, kernels::PolicyData* policy);
absl::Status ReadPolicyJson(const std::string& path, kernels::PolicyData* policy);

// WriteAssignmentsCsv() / SummaryJson() / WriteSummaryJson()
//
// One row per `data.request_id`, naming endpoints by `data.endpoint_id`.
absl::Status WriteAssignmentsCsv(const std::string& path, const kernels::ProblemData& data,
                                 const kernels::Solution& solution);
std::string SummaryJson(const kernels::Solution& solution);
absl::Status WriteSummaryJson(const std::string& path, const kernels::Solution& solution);

// WriteEndpointsCsv() / WriteRequestsCsv() / PolicyJson()
//
// The inverse of the readers, for generated workloads.
absl::Status WriteEndpointsCsv(const std::string& path, const kernels::ProblemData& data);
absl::Status WriteRequestsCsv(const std::string& path, const kernels::ProblemData& data);
std::string PolicyJson(const kernels::PolicyData& policy);

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_OFFLINE_OFFLINE_IO_H_
