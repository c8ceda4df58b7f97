// Copyright 2026 Azimuth authors.
//
// metrics.h — the server's Prometheus metrics (prometheus-cpp), exposed at
// /metrics by azimuthd:
//
//   azimuth_rpcs_total{method,code}           gRPC calls answered
//   azimuth_decisions_total{reason,cloud}     requests decided
//   azimuth_call_latency_seconds{path}        Assign latency, online or batched
//   azimuth_batch_latency_seconds             solver batch latency
//   azimuth_batch_requests                    requests per solver batch
//   azimuth_solver_gap                        certified gap of the last batch
//   azimuth_queue_depth_requests              requests waiting for a batch
//   azimuth_telemetry_age_seconds{endpoint}   age of each endpoint's sample
//   azimuth_endpoint_available{endpoint}      1 when it may receive requests
//
// Thread-safe.
#ifndef AZIMUTH_SCHEDULER_SERVICE_METRICS_H_
#define AZIMUTH_SCHEDULER_SERVICE_METRICS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "scheduler/common/mutex.h"
#include "scheduler/core/batch.h"
#include "scheduler/core/engine.h"

namespace azimuth::scheduler {

class Metrics {
 public:
  Metrics();
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  void CountRpc(const std::string& method, int grpc_code);
  // Calls counted so far (any method): the server trims its heap after a
  // quiet spell.
  std::int64_t rpcs_counted() const { return rpcs_counted_.load(std::memory_order_relaxed); }
  void CountDecisions(const Decisions& decisions);
  void ObserveCall(double seconds, bool online);
  void ObserveBatch(std::int64_t requests, double seconds, double gap);
  void SetQueueDepth(std::int64_t requests);
  void SetEndpoints(const std::vector<EndpointState>& endpoints);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::atomic<std::int64_t> rpcs_counted_{0};
  prometheus::Family<prometheus::Counter>& rpcs_;
  prometheus::Family<prometheus::Counter>& decisions_family_;
  prometheus::Counter* decisions_[5][kernels::kNumClouds + 1];
  prometheus::Family<prometheus::Histogram>& call_latency_;
  prometheus::Histogram& call_online_;
  prometheus::Histogram& call_batched_;
  prometheus::Histogram& batch_latency_;
  prometheus::Histogram& batch_requests_;
  prometheus::Gauge& gap_;
  prometheus::Gauge& queue_depth_;
  prometheus::Family<prometheus::Gauge>& telemetry_age_;
  prometheus::Family<prometheus::Gauge>& available_;
  // SetEndpoints() callers (the watcher, telemetry calls) one at a time; the
  // prometheus families lock themselves.
  Mutex endpoints_mu_;
};

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_SERVICE_METRICS_H_
