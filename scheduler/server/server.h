// Copyright 2026 Azimuth authors.
//
// server.h — azimuthd as a library: the gRPC server (TCP, optionally TLS or
// mutual TLS, and a Unix domain socket for the sidecar case), the standard
// health service and server reflection, the Prometheus /metrics endpoint,
// the batcher, config-file reload and graceful drain. main() and the
// integration tests both run this class.
//
//   AZ_ASSIGN_OR_RETURN(auto server, Server::Start(config, "/etc/azimuth/config.json", tokens));
//   ...
//   server->Drain();  // on SIGTERM: refuse new calls, finish in-flight ones
#ifndef AZIMUTH_SCHEDULER_SERVER_SERVER_H_
#define AZIMUTH_SCHEDULER_SERVER_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "azimuth/v1/config.pb.h"
#include "scheduler/cluster/cluster.h"
#include "scheduler/common/log.h"
#include "scheduler/common/mutex.h"
#include "scheduler/core/batcher.h"
#include "scheduler/core/engine.h"
#include "scheduler/server/config.h"
#include "scheduler/service/metrics.h"
#include "scheduler/service/services.h"

namespace prometheus {
class Exposer;
}

namespace azimuth::scheduler {

class Server {
 public:
  // Start()
  //
  // Validates `config` (with defaults applied), binds every listener and
  // starts serving. `config_path`, when not empty, is watched: a changed,
  // valid file replaces the policy and the pinned endpoints; an invalid one
  // is logged and ignored. `tokens` guard SetPolicy and ReportTelemetry.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const v1::ServerConfig& config, std::string config_path,
                                                       std::vector<std::string> tokens);
  ~Server();  // Drain()s

  // Ports actually bound (useful with port 0).
  int tcp_port() const { return tcp_port_; }
  int health_port() const { return health_port_; }
  int metrics_port() const { return metrics_port_; }
  const std::string& unix_socket() const { return unix_socket_; }
  kernels::Backend backend() const { return backend_; }

  // Drain()
  //
  // Health turns NOT_SERVING, new calls are refused, in-flight calls and
  // queued batches finish (up to drain_timeout_s, then they are cancelled).
  // Idempotent; returns when everything stopped.
  void Drain();

 private:
  Server() = default;
  // Every second: metrics that age, and the config file (Reload() when it
  // changed).
  void Watch();
  // Re-reads the config file; returns why a config was rejected.
  absl::Status Reload();
  absl::Status Apply(const CheckedConfig& checked, bool initial);

  v1::ServerConfig config_;
  std::string config_path_;
  std::string config_text_;
  kernels::Backend backend_ = kernels::Backend::kCpu;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Cluster> cluster_;                   // with ServerConfig.cluster; before engine_ goes
  std::atomic<const Cluster*> cluster_view_{nullptr};  // for calls that start before cluster_ is set
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<Auth> auth_;
  std::unique_ptr<TelemetryServiceImpl> telemetry_;
  std::unique_ptr<SchedulerServiceImpl> scheduler_;
  std::unique_ptr<PolicyServiceImpl> policy_;
  std::unique_ptr<grpc::Server> server_;
  // The health-only listener (health_listen) and what it reports.
  class HealthOnly;
  std::unique_ptr<HealthOnly> health_only_;
  std::unique_ptr<grpc::Server> health_server_;
  int health_port_ = 0;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int tcp_port_ = 0;
  int metrics_port_ = 0;
  std::string unix_socket_;

  Mutex mu_;
  CondVar cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool drained_ ABSL_GUARDED_BY(mu_) = false;
  std::thread watcher_;
};

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_SERVER_SERVER_H_
