// Copyright 2026 Azimuth authors.
//
// convert.h — conversions between the azimuth.v1 messages and the domain
// types, shared by the gRPC services, the server config, the CLI's remote
// commands, the load benchmark and the tests.
#ifndef AZIMUTH_SCHEDULER_SERVICE_CONVERT_H_
#define AZIMUTH_SCHEDULER_SERVICE_CONVERT_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "azimuth/kernels/problem_data.h"
#include "azimuth/v1/scheduler.pb.h"
#include "azimuth/v1/telemetry.pb.h"
#include "scheduler/core/batch.h"
#include "scheduler/core/telemetry_store.h"

namespace azimuth::scheduler {

// FromProto(): the batch's columns as they came (ValidateBatch() checks them).
RequestBatch FromProto(const v1::RequestBatch& msg);

// FromProto(): INVALID_ARGUMENT naming the field for a bad sample.
absl::StatusOr<EndpointSample> FromProto(const v1::EndpointSample& msg);
v1::EndpointSample ToProto(const EndpointSample& sample);

// EndpointSampleAt(): endpoint p of a table (a CSV file, a generated workload).
EndpointSample EndpointSampleAt(const kernels::ProblemData& data, std::size_t p);

// ToRequestBatch(): requests [begin, end) of `data` as a columnar message.
v1::RequestBatch ToRequestBatch(const kernels::ProblemData& data, std::size_t begin, std::size_t end);

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_SERVICE_CONVERT_H_
