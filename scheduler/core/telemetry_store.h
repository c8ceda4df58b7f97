// Copyright 2026 Azimuth authors.
//
// telemetry_store.h — the latest sample of every endpoint, and the capacity
// ledger that is the one authority on quota.
//
// TelemetryStore keeps endpoints in registration order; an index never
// changes, so dual prices stay aligned across batches. An endpoint is
// available (rule 2 of eligibility) while it is healthy and its sample is at
// most `telemetry_ttl_s` old; pinned endpoints (from the server's config)
// count as fresh until an agent reports them.
//
// CapacityLedger counts tokens and requests reserved per endpoint in the
// current window of `window_s` seconds (aligned to the unix epoch) and
// releases them all when the window rolls. With leases (several replicas
// sharing quotas, scheduler/cluster/), an endpoint's capacity is also bounded
// by what the cluster granted this replica for the window.
//
// Neither class is thread-safe: the Engine serialises access.
#ifndef AZIMUTH_SCHEDULER_CORE_TELEMETRY_STORE_H_
#define AZIMUTH_SCHEDULER_CORE_TELEMETRY_STORE_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "azimuth/kernels/problem_data.h"

namespace azimuth::scheduler {

// EndpointSample
struct EndpointSample {
  kernels::EndpointRow row;
  std::int64_t tpm_in_use = 0;  // used this minute by traffic Azimuth did not route
  std::int64_t rpm_in_use = 0;
  std::int64_t timestamp_ms = 0;  // when measured; 0: on receipt
};

// ValidateSample()
//
// INVALID_ARGUMENT naming the field: empty id, model or zone; prices or
// latencies negative or not finite; p50 above p95; negative quota; a
// context limit out of range; a feature name empty, too long, with ';' or
// repeated.
inline constexpr std::size_t kMaxFeatureNameBytes = 256;
absl::Status ValidateSample(const EndpointSample& sample);

class TelemetryStore {
 public:
  struct Entry {
    EndpointSample sample;  // timestamp_ms resolved (never 0, never in the future)
    bool pinned = false;
  };

  // Apply()
  //
  // Validates and stores `sample` as its endpoint's latest, received at
  // `now_ms`; a new id is appended (RESOURCE_EXHAUSTED beyond
  // kernels::kMaxEndpoints). An agent's sample unpins the endpoint. With
  // `only_newer`, a sample not newer than the stored agent sample is
  // dropped (*applied false): replicas exchange samples in any order.
  // INVALID_ARGUMENT when the table would name more than
  // kernels::kMaxFeatures features or kMaxContextLimits context limits.
  absl::Status Apply(const EndpointSample& sample, std::int64_t now_ms, bool pinned, bool only_newer = false,
                     bool* applied = nullptr);
  // The stored entry for `id`, or nullptr.
  const Entry* Find(const std::string& id) const;

  std::size_t size() const { return entries_.size(); }
  const Entry& at(std::size_t i) const { return entries_[i]; }
  // Bumped by every Apply(): anything but freshness may have changed.
  std::uint64_t version() const { return version_; }

  double AgeSeconds(std::size_t i, std::int64_t now_ms) const;
  bool Available(std::size_t i, std::int64_t now_ms, std::int64_t ttl_s) const;

 private:
  absl::Status CheckTableLimits(const EndpointSample& sample, const Entry* old) const;
  void Count(const EndpointSample& sample, int delta);

  std::vector<Entry> entries_;
  std::unordered_map<std::string, std::size_t> index_;
  std::uint64_t version_ = 0;
  // How many stored samples name each feature and each context limit.
  std::map<std::string, int> feature_refs_;
  std::map<std::int64_t, int> context_refs_;
};

class CapacityLedger {
 public:
  // Roll()
  //
  // Moves to the window containing `now_s` (of `window_s` seconds), releasing
  // every reservation when it differs from the current one.
  void Roll(std::int64_t now_s, std::int64_t window_s);
  void Resize(std::size_t num_endpoints);

  std::size_t size() const { return tokens_.size(); }
  std::int64_t window_start_s() const { return window_start_s_; }
  std::int64_t tokens_reserved(std::size_t p) const { return tokens_[p]; }
  std::int64_t requests_reserved(std::size_t p) const { return requests_[p]; }

  // TryReserve()
  //
  // Reserves `tokens` and one request on endpoint p when both fit under the
  // window's capacities (and, with leases, the grant); returns whether it did.
  bool TryReserve(std::size_t p, std::int64_t tokens, std::int64_t token_capacity, std::int64_t request_capacity);

  // EnableLeases()
  //
  // From now on nothing is reserved beyond the grants SetGrant() records; an
  // endpoint without a grant for the current window has no capacity.
  void EnableLeases() { leased_ = true; }
  bool leased() const { return leased_; }

  // SetGrant()
  //
  // What endpoint p is granted in total for the window starting at
  // `window_start_s`: the current window or the next (a grant taken ahead of
  // the roll); other windows are ignored. A grant is never lowered.
  void SetGrant(std::int64_t window_start_s, std::size_t p, std::int64_t tokens, std::int64_t requests);
  std::int64_t tokens_granted(std::size_t p) const { return p < granted_tokens_.size() ? granted_tokens_[p] : 0; }
  std::int64_t requests_granted(std::size_t p) const { return p < granted_requests_.size() ? granted_requests_[p] : 0; }

  // The grants taken for the next window (zero when none).
  std::int64_t next_tokens_granted(std::size_t p) const {
    return next_window_s_ >= 0 && p < next_tokens_.size() ? next_tokens_[p] : 0;
  }
  std::int64_t next_requests_granted(std::size_t p) const {
    return next_window_s_ >= 0 && p < next_requests_.size() ? next_requests_[p] : 0;
  }

  // TokenLimit() / RequestLimit()
  //
  // The most endpoint p may hold reserved this window: its capacity, and
  // with leases no more than its grant.
  std::int64_t TokenLimit(std::size_t p, std::int64_t capacity) const {
    return leased_ ? std::min(capacity, tokens_granted(p)) : capacity;
  }
  std::int64_t RequestLimit(std::size_t p, std::int64_t capacity) const {
    return leased_ ? std::min(capacity, requests_granted(p)) : capacity;
  }

 private:
  std::int64_t window_start_s_ = -1;
  std::int64_t window_s_ = 0;
  std::vector<std::int64_t> tokens_, requests_;
  bool leased_ = false;
  std::vector<std::int64_t> granted_tokens_, granted_requests_;  // the current window
  std::int64_t next_window_s_ = -1;                              // grants taken for the next window
  std::vector<std::int64_t> next_tokens_, next_requests_;
};

// TenantLedger
//
// What each tenant was assigned in the current window (tokens, requests,
// USD of assignment cost), against its limits (docs/design.md, "Tenant
// limits"). Rolls with the capacity windows; only tenants with limits are
// kept. With leases (replicas sharing the limits, docs/cluster.md) a tenant
// is also held within what the cluster granted this replica. Not
// thread-safe (the engine holds its lock).
class TenantLedger {
 public:
  struct Usage {
    std::int64_t tokens = 0, requests = 0;
    double usd = 0;
  };
  // A replica's grant of one tenant's limits for one window. The budget is
  // counted in whole micro-USD, as Redis counts integers.
  struct Grant {
    std::int64_t tokens = 0, requests = 0, micro_usd = 0;
  };
  // One tenant as the cluster sees it (Leases()).
  struct Lease {
    std::string tenant;
    Usage used;
    Grant held, next_held;  // granted for this window, and taken ahead for the next
    // A decision was refused for want of a grant where the limit had room.
    bool short_of_grant = false;
  };
  // Tenants a leased replica keeps per window; a tenant beyond them gets no
  // grant (its requests are refused), so hostile tenant names cannot grow
  // the ledger.
  static constexpr std::size_t kMaxLeasedTenants = 4096;

  void Roll(std::int64_t window_start_s);
  std::int64_t window_start_s() const { return window_start_s_; }
  const Usage& used(const std::string& tenant) const;
  // Check(): which limit reserving (tokens, 1 request, usd) for `tenant`
  // would exceed, or kNone.
  kernels::TenantLimitKind Check(const std::string& tenant, const kernels::TenantLimit& limit, std::int64_t tokens,
                                 double usd) const;
  // Reserve() adds it (callers Check() first; unlimited tenants are not
  // kept).
  void Reserve(const std::string& tenant, const kernels::TenantLimit& limit, std::int64_t tokens, double usd);
  // Room(): what `limit` leaves this window, as a batch's limit, and the
  // first limit that is set and has nothing left (a batch's 0 would mean
  // unlimited), or kNone.
  kernels::TenantLimitKind Room(const std::string& tenant, const kernels::TenantLimit& limit,
                                kernels::TenantLimit* room) const;
  // BudgetLeft(): the USD `tenant` may still spend (infinite: no budget).
  double BudgetLeft(const std::string& tenant, const kernels::TenantLimit& limit) const;
  std::size_t size() const { return tenants_.size(); }

  // EnableLeases()
  //
  // From now on every limit that is set holds within the grants SetGrant()
  // records too: a tenant with no grant for the current window has nothing.
  void EnableLeases() { leased_ = true; }
  bool leased() const { return leased_; }

  // SetGrant()
  //
  // What `tenant` is granted in total for the window starting at
  // `window_start_s`: the current window or a later one (a grant taken ahead
  // of the roll: Roll() makes it current when that window comes). A grant is
  // never lowered.
  void SetGrant(std::int64_t window_start_s, const std::string& tenant, const Grant& grant);
  Grant granted(const std::string& tenant) const;

  // Want()
  //
  // With leases: a decision for `tenant` was refused. When a grant, not the
  // limit itself, refused it, the next Leases() says the tenant is short.
  void Want(const std::string& tenant, const kernels::TenantLimit& limit);

  // Leases(): every tenant this window knows (used, granted or wanted).
  std::vector<Lease> Leases() const;

 private:
  struct Entry {
    Usage used;
    Grant grant;
    bool short_of_grant = false;
  };
  // The most each limit allows now: the limit, and with leases no more than
  // the grant; negative where the limit is not set.
  struct Caps {
    std::int64_t tokens = -1, requests = -1;
    double usd = -1;
  };
  Caps CapsOf(const std::string& tenant, const kernels::TenantLimit& limit) const;
  const Entry* Find(const std::string& tenant) const;
  // `tenant`'s entry of *map, added if the map is below kMaxLeasedTenants;
  // nullptr when it is not there and the map is full.
  template <typename Map>
  static typename Map::mapped_type* Slot(Map* map, const std::string& tenant);

  std::int64_t window_start_s_ = -1;
  std::unordered_map<std::string, Entry> tenants_;
  bool leased_ = false;
  std::int64_t next_window_s_ = -1;  // grants taken ahead, for the window starting then
  std::unordered_map<std::string, Grant> next_;
};

// WindowCapacity()
//
// An endpoint's capacity for one window: floor((limit - in_use) * window_s /
// 60), never negative.
std::int64_t WindowTokenCapacity(const EndpointSample& sample, std::int64_t window_s);
std::int64_t WindowRequestCapacity(const EndpointSample& sample, std::int64_t window_s);

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_CORE_TELEMETRY_STORE_H_
