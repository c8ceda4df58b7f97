// Copyright 2026 Azimuth authors.
//
// cluster.h — several azimuthd replicas sharing one truth through Redis:
// capacity leases (quotas true across replicas), telemetry, policy, and the
// list of live replicas (Explain forwarding). docs/cluster.md describes the
// algorithm, its keys and its failure modes.
//
// A background thread syncs every `interval`: it leases capacity ahead of
// need, publishes this replica's telemetry and policy changes, and applies
// the others'. Decisions never wait on it: the engine spends the grants it
// holds (EngineOptions::leased), and past them answers CAPACITY_EXHAUSTED.
//
//   ClusterOptions options;
//   options.redis.host = "redis";
//   options.replica_id = "azimuthd-0";
//   AZ_ASSIGN_OR_RETURN(auto cluster, Cluster::Start(options, &engine));
//
// Thread-safe.
#ifndef AZIMUTH_SCHEDULER_CLUSTER_CLUSTER_H_
#define AZIMUTH_SCHEDULER_CLUSTER_CLUSTER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "scheduler/cluster/redis.h"
#include "scheduler/common/mutex.h"
#include "scheduler/core/engine.h"

namespace azimuth::scheduler {

struct ClusterOptions {
  RedisOptions redis;
  // Every key starts with it. The braces make one Redis Cluster hash slot,
  // so that a script's keys are always on one shard.
  std::string key_prefix = "{azimuth}:";
  std::string replica_id;         // unique per replica
  std::string advertise_address;  // where peers reach this replica's gRPC API
  std::chrono::milliseconds interval{100};
  // Seconds of recent demand a replica leases ahead of need.
  double lease_horizon_s = 1.0;
  // After Redis comes back without its data, no new grants for this long,
  // while replicas re-assert theirs.
  double recovery_grace_s = 5.0;
  // A replica that has not written its heartbeat for this long is not live.
  double replica_ttl_s = 5.0;
};

// The limits of ClusterOptions, shared with the config's checks.
inline constexpr int kMinSyncIntervalMs = 10, kMaxSyncIntervalMs = 1000;

// ValidReplicaId()
//
// Not empty, and without spaces or '|' (the heartbeat's separator).
inline bool ValidReplicaId(const std::string& id) {
  return !id.empty() && id.find_first_of(" \t\n|") == std::string::npos;
}

// Peer
struct Peer {
  std::string replica_id, address;
};

// ClusterStats
//
// For metrics; counters are totals since start.
struct ClusterStats {
  bool redis_up = false;
  std::int64_t redis_errors = 0;
  std::int64_t lease_calls = 0;
  std::int64_t telemetry_published = 0, telemetry_applied = 0;
  std::int64_t policies_applied = 0;
  std::int64_t data_losses = 0;  // times Redis was found without its data
  int live_replicas = 0;
  // The latest finished window: the capacity granted but never reserved
  // (by every replica, as each last reported), as a fraction of the window's
  // capacity; -1 until a window has finished.
  double stranded_tokens = -1, stranded_requests = -1;
  // This replica's grants now, summed over endpoints.
  std::int64_t tokens_granted = 0, requests_granted = 0;
};

class Cluster final : public EngineListener {
 public:
  // Start()
  //
  // Attaches to `engine` (built with EngineOptions::leased, its policy set
  // from the config) and starts syncing. Redis need not be reachable yet:
  // the replica serves within no grants (CAPACITY_EXHAUSTED) until it is.
  // At the first contact the cluster's policy, if it has one, replaces the
  // engine's; otherwise the engine's becomes the cluster's.
  static absl::StatusOr<std::unique_ptr<Cluster>> Start(ClusterOptions options, Engine* engine);
  ~Cluster() override;  // Stop()s

  // Stop()
  //
  // Stops syncing; the grants held lapse with their window.
  void Stop();

  // The other live replicas, as their heartbeats last said.
  std::vector<Peer> Peers() const;
  ClusterStats stats() const;
  const ClusterOptions& options() const { return options_; }

  // EngineListener: queued for the next sync.
  void OnTelemetry(const EndpointSample& sample) override;
  void OnPolicy(const kernels::PolicyData& policy) override;
  // Wakes the sync early (at most every interval / 4): grants ran dry.
  void OnShortage(bool capacity) override;

 private:
  // What one lease row's grants should cover: a rate of use (measured under
  // the grant; a grant that runs short is doubled instead).
  struct Demand {
    double tokens_per_s = 0, requests_per_s = 0;
    std::int64_t tokens_reserved = 0, requests_reserved = 0;  // at the last sync
    std::int64_t reported_tokens = -1, reported_requests = -1;
    std::int64_t reported_ms = 0;
    std::int64_t left_tokens = 0, left_requests = 0;  // to grant cluster-wide, at the last call
    // The rates since the last sync, `dt` seconds ago (an exponential
    // average over about a second).
    void Observe(std::int64_t tokens, std::int64_t requests, double dt);
    void NewWindow();
  };
  struct Row;
  Cluster(ClusterOptions options, Engine* engine);
  void Run();
  // One sync; an error means Redis failed (the connection is dropped).
  absl::Status Sync();
  absl::Status Connect();
  // Runs script `which` once per entry of `calls` (its ARGV), all on `keys`,
  // in one round trip; loads the script again when Redis lost it.
  absl::StatusOr<std::vector<RedisReply>> Scripts(int which, const std::vector<std::string>& keys,
                                                  const std::vector<std::vector<std::string>>& calls);
  absl::StatusOr<RedisReply> Script(int which, const std::vector<std::string>& keys,
                                    const std::vector<std::string>& args);
  absl::Status Lease(const LeaseState& state, std::int64_t now_ms);
  // Adds `row` to a lease call (keys, args) when it asks for a grant, has
  // use to report, or (with `all`) holds one; returns whether it did.
  bool AddRow(const Row& row, bool next, bool all, int live, std::int64_t ttl_ms, std::int64_t now_ms,
              std::vector<std::string>* keys, std::vector<std::string>* args);
  absl::Status LeaseWindow(const LeaseState& state, std::int64_t window_start_s, bool next, bool all, bool shortage,
                           std::int64_t now_ms);
  absl::Status Publish();
  absl::Status PollTelemetry();
  absl::Status PollPolicy();
  absl::Status Heartbeat(std::int64_t now_ms);
  absl::Status MeasureStranded(std::int64_t window_start_s, const std::vector<std::string>& ids);
  // After Redis lost its data: publish again what this replica knows.
  void Recovered();
  std::string Key(const std::string& suffix) const { return options_.key_prefix + suffix; }
  std::string LeaseKey(std::int64_t window_start_s, const std::string& endpoint) const;

  const ClusterOptions options_;
  Engine* const engine_;
  std::unique_ptr<RedisConnection> redis_;  // the sync thread's
  std::vector<std::string> shas_;           // the scripts, as loaded
  std::chrono::milliseconds backoff_{0};
  bool logged_down_ = false;

  // The sync thread's state.
  const std::uint32_t nonce_;  // with the time, this replica's proposal for a new epoch
  std::string epoch_;          // the Redis data generation last seen
  std::int64_t last_epoch_check_ms_ = 0;
  bool epoch_check_needed_ = false;  // set by Connect()
  std::int64_t telemetry_cursor_ = 0;
  std::int64_t policy_version_ = 0;
  bool policy_seeded_ = false;
  std::int64_t last_heartbeat_ms_ = 0;
  std::int64_t window_start_s_ = -1;     // of the last Lease()
  std::int64_t stranded_window_s_ = -1;  // a finished window to measure
  std::vector<std::string> stranded_ids_;
  std::int64_t last_sync_ms_ = 0;
  std::vector<Demand> demand_;  // by endpoint index
  // By a tenant's row ("tr:<tenant>", "usd:<tenant>"); a lease call holds
  // pointers to its entries, hence a map whose nodes stay put.
  absl::node_hash_map<std::string, Demand> tenant_demand_;

  mutable Mutex mu_;
  CondVar cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Decisions ran short since the last lease: OnShortage() sets it (taking
  // mu_ only to wake the sync), Lease() takes it.
  std::atomic<bool> shortage_{false};
  // The same for tenants' grants (their rows say which tenant is short).
  std::atomic<bool> tenant_shortage_{false};
  absl::flat_hash_map<std::string, EndpointSample> outbox_telemetry_ ABSL_GUARDED_BY(mu_);  // by endpoint id
  bool outbox_policy_set_ ABSL_GUARDED_BY(mu_) = false;
  kernels::PolicyData outbox_policy_ ABSL_GUARDED_BY(mu_);
  std::vector<Peer> peers_ ABSL_GUARDED_BY(mu_);
  ClusterStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_CLUSTER_CLUSTER_H_
