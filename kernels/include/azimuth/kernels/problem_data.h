// Copyright 2026 Azimuth authors.
//
// problem_data.h — an owning, struct-of-arrays batch: the endpoint table, the
// requests and the policy with their names, from which a ProblemView is taken.
// The CSV reader, the workload generator and the control plane fill one of
// these; Solve() reads its View().
//
//   ProblemData data;
//   data.AddEndpoint(...); data.AddRequest(...);
//   auto result = Solve(data.View());
//
// Not thread-safe; View() stays valid until the data is next modified.
#ifndef AZIMUTH_KERNELS_PROBLEM_DATA_H_
#define AZIMUTH_KERNELS_PROBLEM_DATA_H_

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "azimuth/kernels/problem.h"

namespace azimuth::kernels {

// Interner
//
// Maps names to dense ids 0, 1, 2, ... in order of first appearance.
class Interner {
 public:
  std::int32_t Intern(const std::string& name);
  // Find() returns -1 for a name never interned.
  std::int32_t Find(const std::string& name) const;
  const std::string& Name(std::int32_t id) const { return names_[id]; }
  std::size_t size() const { return names_.size(); }

 private:
  std::unordered_map<std::string, std::int32_t> ids_;
  std::vector<std::string> names_;
};

// PolicyData
//
// The policy as the user wrote it (docs/design.md, "Domain"); the launch
// windows are keyed by model name and resolved against `now` by View().
struct PolicyData {
  std::int64_t now = 0;
  std::int64_t window_s = 60;
  AzureFirst azure_first = AzureFirst::kStrict;
  double azure_discount = 0.0;
  std::map<std::string, std::int64_t> azure_first_until;
  double latency_usd_per_ms = 0.0;
  double egress_usd_per_1k[kNumClouds][kNumClouds] = {};
  double reject_usd[kNumPriorities] = {0, 0, 0, 0};
  std::int64_t telemetry_ttl_s = 30;
  // Per window; tenants not listed have the default (unlimited unless set).
  std::map<std::string, TenantLimit> tenant_limits;
  TenantLimit default_tenant_limit;
  // Fair share under scarcity (PolicyView::fair_share); tenants not listed
  // weigh 1.
  bool fair_share = false;
  std::map<std::string, double> tenant_weights;
};

struct EndpointRow {
  std::string id, region, zone, model;
  Cloud cloud = Cloud::kAzure;
  double price_in_per_1k = 0, price_out_per_1k = 0, latency_p50_ms = 0, latency_p95_ms = 0;
  std::int64_t tpm_limit = 0, rpm_limit = 0;
  bool healthy = true;
  std::int64_t max_context_tokens = 0;  // 0: unlimited
  std::vector<std::string> features;    // names, e.g. "tools", "vision"
};

struct RequestRow {
  std::string id, tenant, model, zone;  // empty zone: any
  std::int32_t tokens_in = 0, tokens_out = 0, slo_ms = 0;
  Cloud home_cloud = Cloud::kAzure;
  std::uint8_t priority = 0;
  std::int32_t needs = 0;  // ProblemData::InternNeeds() id; 0: requires nothing
};

// ProblemData
struct ProblemData {
  Interner models, zones, tenants;
  Interner features;  // named by endpoints, at most kMaxFeatures

  std::vector<std::string> endpoint_id, endpoint_region;
  std::vector<Cloud> ep_cloud;
  std::vector<std::int32_t> ep_zone, ep_model;
  std::vector<double> ep_price_in, ep_price_out, ep_p50, ep_p95;
  std::vector<std::int64_t> ep_tpm, ep_rpm;
  std::vector<std::uint8_t> ep_available;
  std::vector<std::uint64_t> ep_features;
  std::vector<std::int64_t> ep_max_context;

  std::vector<std::string> request_id;
  std::vector<std::int32_t> rq_tenant, rq_model, rq_zone, rq_tokens_in, rq_tokens_out, rq_slo;
  std::vector<Cloud> rq_home;
  std::vector<std::uint8_t> rq_priority;
  // Requirement set of each request (empty while no request requires
  // anything) and the distinct sets; set 0 is the empty one.
  std::vector<std::int32_t> rq_needs;
  std::vector<Needs> need_sets{Needs{}};
  std::vector<std::string> need_text{""};  // each set's names as first given, ';'-separated

  PolicyData policy;

  // AddEndpoint() returns false, adding nothing, when the row's features
  // would make the table name more than kMaxFeatures.
  bool AddEndpoint(const EndpointRow& row);
  void AddRequest(const RequestRow& row);
  // NeedsOf(): feature names as bits of this table's endpoint features
  // (`unknown` when one names no endpoint's feature). Add the endpoints first.
  Needs NeedsOf(const std::vector<std::string>& names) const;
  // FeatureNamesOf(): the names of a mask's features, in id order.
  std::vector<std::string> FeatureNamesOf(std::uint64_t mask) const;
  // InternNeeds(): the id of a requirement set, or -1 when the batch already
  // has kMaxNeedSets distinct ones. `text` (the names) is kept for writing
  // the batch out again.
  std::int32_t InternNeeds(const Needs& needs, const std::string& text = "");
  void ReserveRequests(std::size_t n);
  std::size_t num_endpoints() const { return ep_model.size(); }
  std::size_t num_requests() const { return rq_model.size(); }

  // View()
  //
  // The solver's view of this batch. Resolves the launch windows against
  // policy.now, and each tenant's limits by name (the requests' tenants are
  // passed only when some tenant is limited). Valid until the next
  // modification.
  ProblemView View();

 private:
  std::vector<std::uint8_t> launch_gated_;
  std::vector<TenantLimit> tenant_limits_;
  std::vector<double> tenant_weights_;
  std::map<std::pair<std::uint64_t, bool>, std::int32_t> need_ids_{{{0, false}, 0}};
};

}  // namespace azimuth::kernels

#endif  // AZIMUTH_KERNELS_PROBLEM_DATA_H_
