// Copyright 2026 Azimuth authors.
//
// endpoints.h — endpoint samples for the tests: output tokens priced at four
// times input, healthy.
//
//   EndpointSample e = TestEndpoint("azure-a", kernels::Cloud::kAzure, 0.001, 1'000'000, 2);
//   v1::EndpointSample wire = ToProto(e);  // for a gRPC client
#ifndef AZIMUTH_TESTS_SCHEDULER_ENDPOINTS_H_
#define AZIMUTH_TESTS_SCHEDULER_ENDPOINTS_H_

#include <cstdint>
#include <string>

#include "scheduler/core/telemetry_store.h"

namespace azimuth::scheduler {

// TestEndpoint()
//
// `tpm` and `rpm` per minute; latency p50 = p95 / 2.
inline EndpointSample TestEndpoint(const std::string& id, kernels::Cloud cloud, double price, std::int64_t tpm,
                                   std::int64_t rpm, const std::string& model = "gpt-5", double p95_ms = 200,
                                   const std::string& zone = "us") {
  EndpointSample s;
  s.row.id = id;
  s.row.cloud = cloud;
  s.row.region = "r";
  s.row.zone = zone;
  s.row.model = model;
  s.row.price_in_per_1k = price;
  s.row.price_out_per_1k = 4 * price;
  s.row.latency_p50_ms = p95_ms / 2;
  s.row.latency_p95_ms = p95_ms;
  s.row.tpm_limit = tpm;
  s.row.rpm_limit = rpm;
  s.row.healthy = true;
  return s;
}

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_TESTS_SCHEDULER_ENDPOINTS_H_
