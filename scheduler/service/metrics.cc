// Copyright 2026 Azimuth authors.
#include "scheduler/service/metrics.h"

#include <algorithm>

#include <string>

namespace azimuth::scheduler {

namespace {

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      rpcs_(prometheus::BuildCounter().Name("azimuth_rpcs_total").Help("gRPC calls answered").Register(*registry_)),
      decisions_family_(prometheus::BuildCounter()
                            .Name("azimuth_decisions_total")
                            .Help("Requests decided, by reason and by the cloud of the endpoint")
                            .Register(*registry_)),
      call_latency_(prometheus::BuildHistogram()
                        .Name("azimuth_call_latency_seconds")
                        .Help("Assign latency on the server, from receipt to answer")
                        .Register(*registry_)),
      call_online_(call_latency_.Add({{"path", "online"}}, LatencyBuckets())),
      call_batched_(call_latency_.Add({{"path", "batch"}}, LatencyBuckets())),
      batch_latency_(prometheus::BuildHistogram()
                         .Name("azimuth_batch_latency_seconds")
                         .Help("Time to decide one solver batch")
                         .Register(*registry_)
                         .Add({}, LatencyBuckets())),
      batch_requests_(prometheus::BuildHistogram()
                          .Name("azimuth_batch_requests")
                          .Help("Requests per solver batch")
                          .Register(*registry_)
                          .Add({}, prometheus::Histogram::BucketBoundaries{1, 10, 100, 1000, 10000, 100000, 1000000})),
      gap_(prometheus::BuildGauge()
               .Name("azimuth_solver_gap")
               .Help("Certified optimality gap of the last solver batch")
               .Register(*registry_)
               .Add({})),
      queue_depth_(prometheus::BuildGauge()
                       .Name("azimuth_queue_depth_requests")
                       .Help("Requests waiting for a solver batch")
                       .Register(*registry_)
                       .Add({})),
      telemetry_age_(prometheus::BuildGauge()
                         .Name("azimuth_telemetry_age_seconds")
                         .Help("Age of each endpoint's latest telemetry sample")
                         .Register(*registry_)),
      available_(prometheus::BuildGauge()
                     .Name("azimuth_endpoint_available")
                     .Help("1 when the endpoint is healthy and its telemetry fresh")
                     .Register(*registry_)) {
  for (int r = 0; r < kernels::kNumReasons; ++r) {
    for (int c = 0; c <= kernels::kNumClouds; ++c) {
      const std::string cloud = c == kernels::kNumClouds ? "none" : kernels::CloudName(static_cast<kernels::Cloud>(c));
      decisions_[r][c] =
          &decisions_family_.Add({{"reason", kernels::ReasonName(static_cast<kernels::Reason>(r))}, {"cloud", cloud}});
    }
  }
}

void Metrics::CountRpc(const std::string& method, int grpc_code) {
  rpcs_.Add({{"method", method}, {"code", std::to_string(grpc_code)}}).Increment();
  rpcs_counted_.fetch_add(1, std::memory_order_relaxed);
}

void Metrics::CountDecisions(const Decisions& d) {
  std::int64_t counts[kernels::kNumReasons][kernels::kNumClouds + 1] = {};
  for (std::size_t i = 0; i < d.reason.size(); ++i) {
    const int c = d.endpoint[i] >= 0 ? static_cast<int>(d.cloud[i]) : kernels::kNumClouds;
    ++counts[static_cast<int>(d.reason[i])][c];
  }
  for (int r = 0; r < kernels::kNumReasons; ++r) {
    for (int c = 0; c <= kernels::kNumClouds; ++c) {
      if (counts[r][c] != 0) decisions_[r][c]->Increment(static_cast<double>(counts[r][c]));
    }
  }
}

void Metrics::ObserveCall(double seconds, bool online) { (online ? call_online_ : call_batched_).Observe(seconds); }

void Metrics::ObserveBatch(std::int64_t requests, double seconds, double gap) {
  batch_latency_.Observe(seconds);
  batch_requests_.Observe(static_cast<double>(requests));
  gap_.Set(gap);
}

void Metrics::SetQueueDepth(std::int64_t requests) { queue_depth_.Set(static_cast<double>(requests)); }

struct Metrics::ClusterGauges {
  prometheus::Gauge* up;
  prometheus::Counter* errors;
  prometheus::Counter* lease_calls;
  prometheus::Counter* losses;
  prometheus::Gauge* replicas;
  prometheus::Gauge* granted_tokens;
  prometheus::Gauge* granted_requests;
  prometheus::Gauge* stranded_tokens;
  prometheus::Gauge* stranded_requests;
  ClusterStats last;
};

Metrics::~Metrics() = default;

void Metrics::SetCluster(const ClusterStats& stats) {
  MutexLock lock(&endpoints_mu_);
  if (!cluster_) {
    auto gauge = [&](const char* name, const char* help) -> prometheus::Family<prometheus::Gauge>& {
      return prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
    };
    auto counter = [&](const char* name, const char* help) -> prometheus::Counter* {
      return &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_).Add({});
    };
    cluster_ = std::make_unique<ClusterGauges>();
    cluster_->up = &gauge("azimuth_cluster_redis_up", "1 while the last sync with Redis succeeded").Add({});
    cluster_->errors = counter("azimuth_cluster_redis_errors_total", "Syncs with Redis that failed");
    cluster_->lease_calls = counter("azimuth_cluster_lease_calls_total", "Capacity lease scripts run");
    cluster_->losses = counter("azimuth_cluster_data_losses_total", "Times Redis was found without its data");
    cluster_->replicas = &gauge("azimuth_cluster_replicas", "Live replicas, by their heartbeats").Add({});
    auto& granted = gauge("azimuth_cluster_granted", "This replica's grants for the window, summed over endpoints");
    cluster_->granted_tokens = &granted.Add({{"resource", "tokens"}});
    cluster_->granted_requests = &granted.Add({{"resource", "requests"}});
    auto& stranded = gauge("azimuth_cluster_stranded_fraction",
                           "Capacity granted but never reserved in the last finished window, as a fraction");
    cluster_->stranded_tokens = &stranded.Add({{"resource", "tokens"}});
    cluster_->stranded_requests = &stranded.Add({{"resource", "requests"}});
  }
  ClusterGauges& g = *cluster_;
  g.up->Set(stats.redis_up ? 1 : 0);
  g.errors->Increment(static_cast<double>(std::max<std::int64_t>(0, stats.redis_errors - g.last.redis_errors)));
  g.lease_calls->Increment(static_cast<double>(std::max<std::int64_t>(0, stats.lease_calls - g.last.lease_calls)));
  g.losses->Increment(static_cast<double>(std::max<std::int64_t>(0, stats.data_losses - g.last.data_losses)));
  g.replicas->Set(stats.live_replicas);
  g.granted_tokens->Set(static_cast<double>(stats.tokens_granted));
  g.granted_requests->Set(static_cast<double>(stats.requests_granted));
  if (stats.stranded_tokens >= 0) g.stranded_tokens->Set(stats.stranded_tokens);
  if (stats.stranded_requests >= 0) g.stranded_requests->Set(stats.stranded_requests);
  g.last = stats;
}

void Metrics::SetEndpoints(const std::vector<EndpointState>& endpoints) {
  MutexLock lock(&endpoints_mu_);
  for (const EndpointState& e : endpoints) {
    telemetry_age_.Add({{"endpoint", e.sample.row.id}}).Set(e.pinned ? 0.0 : e.age_s);
    available_.Add({{"endpoint", e.sample.row.id}}).Set(e.available ? 1.0 : 0.0);
  }
}

}  // namespace azimuth::scheduler
