// Copyright 2026 Azimuth authors.
//
// engine.h — the control plane's domain core: telemetry store, policy,
// capacity ledger, dual prices and the explain history behind one mutex, and
// the two ways requests are decided (docs/design.md, "The solver", online
// decisions):
//
//  - DecideBatch(): several calls' jobs coalesced into one solver batch over
//    the capacity left in the ledger, warm-started from the previous prices;
//    the assignments are then reserved in the ledger (a request whose room was
//    taken meanwhile by an online decision is re-decided online).
//  - DecideOnline(): each request at once, in O(M), from the latest prices.
//
//   Engine engine(EngineOptions{});
//   engine.ReportTelemetry(sample);
//   Decisions d = engine.DecideOnline(job);
//
// Thread-safe. The solve itself runs outside the lock, so online decisions
// and telemetry proceed while a batch is being solved; the explain history
// has a lock of its own, and Explain() is one index probe under it.
#ifndef AZIMUTH_SCHEDULER_CORE_ENGINE_H_
#define AZIMUTH_SCHEDULER_CORE_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "azimuth/kernels/online.h"
#include "azimuth/kernels/problem_data.h"
#include "azimuth/kernels/solver.h"
#include "scheduler/common/mutex.h"
#include "scheduler/core/batch.h"
#include "scheduler/core/telemetry_store.h"

namespace azimuth::scheduler {

struct EngineOptions {
  kernels::Backend backend = kernels::Backend::kAuto;
  // Most price passes per warm-started batch (the first is cold).
  int warm_iterations = 60;
  // Decisions kept for Explain(), and the bytes they may take (ids, the
  // strings they use, decisions and the index); the older are dropped first.
  std::int64_t explain_history = 262144;
  std::int64_t explain_history_bytes = std::int64_t{64} << 20;
  // Rounds of local moves per batch solve (SolverOptions::repair_rounds:
  // negative is automatic).
  int repair_rounds = -1;
  // SolverOptions::repair_target_gap.
  double repair_target_gap = 1e-4;
  // SolverOptions::warm_target_gap, for warm-started batches.
  double warm_target_gap = 5e-4;
  // SolverOptions::bound_passes. None by default: the certificate's passes
  // over single requests held a little more heap per batch, and azimuthd's
  // RSS after a burst of 3,000-request strict streams grew by 35-38 MB with
  // them against 23-27 MB without (azimuthd_test, SurvivesAbuse...).
  int bound_passes = 0;
  // Replicas sharing quotas (scheduler/cluster/): decide only against the
  // capacity SetGrants() granted, never beyond.
  bool leased = false;
};

// EngineListener
//
// Told of every change made on this replica (not of those SetReplicated*()
// brings from others), after it took effect: the cluster publishes them.
// Called without the engine's locks held; must not block.
class EngineListener {
 public:
  virtual ~EngineListener() = default;
  virtual void OnTelemetry(const EndpointSample& sample) = 0;  // timestamp resolved
  virtual void OnPolicy(const kernels::PolicyData& policy) = 0;
  // With leases: a decision found no capacity left in the grants held
  // (`capacity`), or was refused for a tenant's limit (a grant of it may
  // have run out).
  virtual void OnShortage(bool capacity) { (void)capacity; }
};

// LeaseState
//
// What a replica holds and has used this window, by endpoint index.
struct LeaseState {
  std::int64_t window_start_s = 0, window_s = 60;
  std::vector<std::string> ids;
  std::vector<std::int64_t> tokens_capacity, requests_capacity;  // the window's, from telemetry
  std::vector<std::int64_t> tokens_reserved, requests_reserved;
  std::vector<std::int64_t> tokens_granted, requests_granted;
  std::vector<std::int64_t> next_tokens_granted, next_requests_granted;  // taken ahead for the next window
  // The latest batch priced the endpoint's tokens (requests): its capacity
  // here bound.
  std::vector<std::uint8_t> tokens_priced, requests_priced;
  // Tenants with limits that this replica used, holds grants for, or was
  // refused for want of a grant, with their limits (by tenant_leases' order).
  std::vector<TenantLedger::Lease> tenant_leases;
  std::vector<kernels::TenantLimit> tenant_limits;
};

// Grants
//
// The cluster's answer for one window, by endpoint index (shorter vectors:
// no grant for the rest).
struct Grants {
  std::int64_t window_start_s = 0;
  std::vector<std::int64_t> tokens, requests;
  // What the cluster can still grant, all replicas together (ListEndpoints).
  std::vector<std::int64_t> tokens_left, requests_left;
  // Tenants' grants (their limits shared across replicas).
  std::vector<std::pair<std::string, TenantLedger::Grant>> tenants;
};

// TenantState
//
// One tenant with limits, as this replica holds it in the current window.
struct TenantState {
  std::string tenant;
  kernels::TenantLimit limit;
  TenantLedger::Usage used;
  bool leased = false;
  TenantLedger::Grant granted;  // with leases
};

// EndpointState
//
// One endpoint as ListEndpoints shows it.
struct EndpointState {
  EndpointSample sample;
  bool pinned = false;
  double age_s = 0;
  bool available = false;
  std::int64_t window_start_s = 0;
  std::int64_t tokens_capacity = 0, tokens_reserved = 0;
  std::int64_t requests_capacity = 0, requests_reserved = 0;
  double token_price = 0, request_price = 0;
  // With leases: this replica's grant, and what is left to grant
  // cluster-wide (-1: not known yet).
  bool leased = false;
  std::int64_t tokens_granted = 0, requests_granted = 0;
  std::int64_t tokens_left_cluster = -1, requests_left_cluster = -1;
};

// Explained
//
// Why one recent request went where it went.
struct Explained {
  std::string request_id;
  std::string endpoint;  // empty when rejected
  kernels::Reason reason = kernels::Reason::kOk;
  double cost = 0;
  std::uint64_t batch_id = 0;  // 0: online
  std::string model, zone;
  std::vector<std::string>
  requires;  // the features it needs
  std::string tenant;
  kernels::TenantLimitKind tenant_limit = kernels::TenantLimitKind::kNone;  // TENANT_LIMIT: which limit
  kernels::OnlineRequest request;
  std::vector<std::string> endpoint_ids;
  std::vector<kernels::Cloud> endpoint_clouds;
  kernels::Explanation explanation;
};

// BatchStats
//
// The latest solver batch, for metrics.
struct BatchStats {
  std::uint64_t batch_id = 0;
  double gap = 0;
  double solve_ms = 0;
  std::int64_t requests = 0;
};

class Engine {
 public:
  using Clock = std::function<std::int64_t()>;  // unix milliseconds
  static std::int64_t WallClockMs();

  explicit Engine(EngineOptions options, Clock clock = &Engine::WallClockMs);
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // ReportTelemetry()
  //
  // INVALID_ARGUMENT naming the field for a bad sample. `pinned` endpoints
  // (from the config) stay fresh until an agent reports them.
  absl::Status ReportTelemetry(const EndpointSample& sample, bool pinned = false);
  std::vector<EndpointState> Endpoints() const;
  // Tenants() lists the tenants with limits that this window knows.
  std::vector<TenantState> Tenants() const;

  // SetPolicy() takes effect from the next decision on; `now` is ignored
  // (the engine's clock is used).
  void SetPolicy(const kernels::PolicyData& policy);
  kernels::PolicyData policy() const;

  // SetListener() (nullptr: none). Set it before serving.
  void SetListener(EngineListener* listener);

  // SetReplicatedTelemetry() / SetReplicatedPolicy()
  //
  // A change another replica made: the listener is not told. A sample is
  // applied only when newer than the one held (*applied says whether).
  absl::Status SetReplicatedTelemetry(const EndpointSample& sample, bool* applied = nullptr);
  void SetReplicatedPolicy(const kernels::PolicyData& policy);

  // Leases() / SetGrants()
  //
  // With EngineOptions::leased: what this replica holds and used in the
  // current window, and the cluster's grants for the current window or the
  // next (never lowered; ignored for another window).
  LeaseState Leases() const;
  void SetGrants(const Grants& grants);

  // DecideBatch()
  //
  // Decides every job in one solve; (*out)[i] answers jobs[i]. An error
  // (the solver failed) answers none of them.
  absl::Status DecideBatch(const std::vector<BatchJob*>& jobs, std::vector<Decisions>* out);

  // DecideOnline()
  Decisions DecideOnline(BatchJob* job);

  // Explain()
  //
  // NOT_FOUND when `request_id` is not among the last `explain_history`
  // decisions.
  absl::StatusOr<Explained> Explain(const std::string& request_id) const;

  BatchStats last_batch() const;

  // What the explain history takes now, bytes (the measure explain_history_bytes bounds).
  std::int64_t history_bytes() const;

 private:
  // The endpoint table as the solver and the pricer see it, rebuilt when
  // telemetry, the policy or an endpoint's availability changes, or new
  // prices arrive.
  struct Context {
    kernels::ProblemData table;  // endpoints + policy, no requests
    std::shared_ptr<const std::vector<std::string>> ids;
    std::vector<std::int64_t> token_capacity, request_capacity;
    std::unique_ptr<kernels::OnlinePricer> pricer;
    std::uint64_t telemetry_version = 0, policy_version = 0, prices_version = 0;
  };
  // One solver batch's decisions for one call, or a block of single-request
  // decisions made online against one context, up to kOnlineBlock or a
  // sixteenth of the history (a record each cost ~1.7 KB per decision; a
  // block's rows take ~80 B). Only the strings its requests use are kept.
  struct Record {
    std::uint64_t seq = 0;       // first_seq_ + its place in history_
    std::uint64_t batch_id = 0;  // 0: online
    std::shared_ptr<const Context> context;
    RequestBatch batch;
    std::vector<std::int32_t> endpoint;
    std::vector<kernels::Reason> reason;
    std::vector<double> cost;
    std::vector<kernels::TenantLimitKind> tenant_limit;       // empty: none refused by its tenant's limits
    std::vector<std::uint64_t> id_hash;                       // of batch.id, the index's keys
    absl::flat_hash_map<std::string, std::uint32_t> strings;  // online blocks: batch.strings' indices
    std::int64_t bytes = 0;
  };
  // Where the latest decision for an id hash is.
  struct Where {
    std::uint64_t seq;
    std::uint32_t row;
  };
  static constexpr std::size_t kOnlineBlock = 4096;
  // Index entries added or dropped per hold of history_mu_.
  static constexpr std::size_t kIndexChunk = 8192;

  std::shared_ptr<const Context> CurrentContextLocked(std::int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A batch's strings as the ids of one context's endpoint table: each as a
  // model, as a zone and as a list of required features.
  struct StringIds {
    std::vector<std::int32_t> model, zone;
    std::vector<kernels::Needs> needs;
  };
  // Maps request i of `b` onto the ids of the context MapStrings() mapped
  // `b`'s strings against; false when no endpoint has its model or zone.
  static bool MapRequest(const RequestBatch& b, std::size_t i, const StringIds& ids, kernels::OnlineRequest* out);
  static void MapStrings(const Context& ctx, const RequestBatch& b, StringIds* ids);
  // Decides request r (of `tenant`) online, reserves it in both ledgers
  // and writes row i of *out.
  void DecideOneLocked(const Context& ctx, const kernels::OnlineRequest& r, const std::string& tenant, Decisions* out,
                       std::size_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The policy's limits for `tenant` (the default when not listed).
  kernels::TenantLimit TenantLimitOf(const std::string& tenant) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds a call's decisions to the explain history; takes history_mu_ (in
  // chunks for a large call), never mu_.
  void Remember(std::uint64_t batch_id, std::shared_ptr<const Context> ctx, BatchJob* job, const Decisions& d)
      ABSL_LOCKS_EXCLUDED(history_mu_);
  void TrimHistory() ABSL_LOCKS_EXCLUDED(history_mu_);
  // Tells the listener when leased decisions ran short of capacity or of a
  // tenant's grant.
  void NoteShortage(const Decisions& d) const;
  // With leases: marks the tenants of `d`'s TENANT_LIMIT refusals (of
  // `batch`) as short of their grants.
  void WantTenantsLocked(const RequestBatch& batch, const Decisions& d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends `one`'s only request to an online block, interning its strings.
  static void AppendRow(const RequestBatch& one, Record* block);
  static std::int64_t RowBytes(const std::string& id);

  const EngineOptions options_;
  const Clock clock_;
  // Set and cleared while calls run (Cluster::Start/Stop); the listener
  // outlives every call that may see it.
  std::atomic<EngineListener*> listener_{nullptr};

  mutable Mutex mu_;
  TelemetryStore store_ ABSL_GUARDED_BY(mu_);
  CapacityLedger ledger_ ABSL_GUARDED_BY(mu_);
  TenantLedger tenants_ ABSL_GUARDED_BY(mu_);
  kernels::PolicyData policy_ ABSL_GUARDED_BY(mu_);
  std::uint64_t policy_version_ ABSL_GUARDED_BY(mu_) = 1;
  // Prices and tiers; per-request vectors dropped.
  std::optional<kernels::Solution> last_solution_ ABSL_GUARDED_BY(mu_);
  std::uint64_t prices_version_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const Context> context_ ABSL_GUARDED_BY(mu_);
  std::vector<std::uint8_t> context_available_ ABSL_GUARDED_BY(mu_);
  std::uint64_t next_batch_id_ ABSL_GUARDED_BY(mu_) = 1;
  BatchStats last_batch_ ABSL_GUARDED_BY(mu_);
  std::vector<std::int64_t> tokens_left_ ABSL_GUARDED_BY(mu_), requests_left_ ABSL_GUARDED_BY(mu_);
  // The cluster's latest view (Grants::tokens_left), for ListEndpoints.
  std::int64_t cluster_window_s_ ABSL_GUARDED_BY(mu_) = -1;
  std::vector<std::int64_t> cluster_tokens_left_ ABSL_GUARDED_BY(mu_), cluster_requests_left_ ABSL_GUARDED_BY(mu_);

  mutable Mutex history_mu_;  // never held with mu_
  std::deque<Record> history_ ABSL_GUARDED_BY(history_mu_);
  std::uint64_t first_seq_ ABSL_GUARDED_BY(history_mu_) = 0;
  std::int64_t history_requests_ ABSL_GUARDED_BY(history_mu_) = 0;
  std::int64_t history_bytes_ ABSL_GUARDED_BY(history_mu_) = 0;
  absl::flat_hash_map<std::uint64_t, Where> index_ ABSL_GUARDED_BY(history_mu_);
};

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_CORE_ENGINE_H_
