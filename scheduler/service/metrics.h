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
// With replicas sharing Redis (ServerConfig.cluster), also:
//
//   azimuth_cluster_redis_up                  1 while the last sync succeeded
//   azimuth_cluster_redis_errors_total        syncs that failed
//   azimuth_cluster_lease_calls_total         lease scripts run
//   azimuth_cluster_data_losses_total         times Redis was found empty
//   azimuth_cluster_replicas                  live replicas (heartbeats)
//   azimuth_cluster_granted{resource}         this replica's grants, summed
//   azimuth_cluster_stranded_fraction{resource}  the last finished window's
//                                             capacity granted but unused
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

#include "scheduler/cluster/cluster.h"
#include "scheduler/common/mutex.h"
#include "scheduler/core/batch.h"
#include "scheduler/core/engine.h"

namespace azimuth::scheduler {

class Metrics {
 public:
  Metrics();
  ~Metrics();
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
  void SetCluster(const ClusterStats& stats);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::atomic<std::int64_t> rpcs_counted_{0};
  prometheus::Family<prometheus::Counter>& rpcs_;
  prometheus::Family<prometheus::Counter>& decisions_family_;
  prometheus::Counter* decisions_[kernels::kNumReasons][kernels::kNumClouds + 1];
  prometheus::Family<prometheus::Histogram>& call_latency_;
  prometheus::Histogram& call_online_;
  prometheus::Histogram& call_batched_;
  prometheus::Histogram& batch_latency_;
  prometheus::Histogram& batch_requests_;
  prometheus::Gauge& gap_;
  prometheus::Gauge& queue_depth_;
  prometheus::Family<prometheus::Gauge>& telemetry_age_;
  prometheus::Family<prometheus::Gauge>& available_;
  struct ClusterGauges;
  std::unique_ptr<ClusterGauges> cluster_;  // made by the first SetCluster()
  // SetEndpoints() callers (the watcher, telemetry calls) one at a time; the
  // prometheus families lock themselves.
  Mutex endpoints_mu_;
};

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_SERVICE_METRICS_H_
