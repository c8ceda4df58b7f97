// Copyright 2026 Azimuth authors.
#include "azimuth/kernels/problem_data.h"

#include <algorithm>

namespace azimuth::kernels {

std::int32_t Interner::Intern(const std::string& name) {
  auto [it, inserted] = ids_.try_emplace(name, static_cast<std::int32_t>(names_.size()));
  if (inserted) names_.push_back(name);
  return it->second;
}

std::int32_t Interner::Find(const std::string& name) const {
  auto it = ids_.find(name);
  return it == ids_.end() ? -1 : it->second;
}

bool ProblemData::AddEndpoint(const EndpointRow& row) {
  std::vector<const std::string*> added;  // names new to the table, each once
  for (const std::string& name : row.features) {
    const bool seen = std::any_of(added.begin(), added.end(), [&](const std::string* a) { return *a == name; });
    if (features.Find(name) < 0 && !seen) added.push_back(&name);
  }
  if (features.size() + added.size() > static_cast<std::size_t>(kMaxFeatures)) return false;
  std::uint64_t mask = 0;
  for (const std::string& name : row.features) mask |= std::uint64_t{1} << features.Intern(name);
  ep_features.push_back(mask);
  ep_max_context.push_back(row.max_context_tokens);
  endpoint_id.push_back(row.id);
  endpoint_region.push_back(row.region);
  ep_cloud.push_back(row.cloud);
  ep_zone.push_back(row.zone.empty() ? -1 : zones.Intern(row.zone));
  ep_model.push_back(models.Intern(row.model));
  ep_price_in.push_back(row.price_in_per_1k);
  ep_price_out.push_back(row.price_out_per_1k);
  ep_p50.push_back(row.latency_p50_ms);
  ep_p95.push_back(row.latency_p95_ms);
  ep_tpm.push_back(row.tpm_limit);
  ep_rpm.push_back(row.rpm_limit);
  ep_available.push_back(row.healthy ? 1 : 0);
  return true;
}

Needs ProblemData::NeedsOf(const std::vector<std::string>& names) const {
  Needs needs;
  for (const std::string& name : names) {
    const std::int32_t id = features.Find(name);
    if (id < 0) {
      needs.unknown = true;
    } else {
      needs.features |= std::uint64_t{1} << id;
    }
  }
  return needs;
}

std::vector<std::string> ProblemData::FeatureNamesOf(std::uint64_t mask) const {
  std::vector<std::string> names;
  for (std::size_t k = 0; k < features.size(); ++k) {
    if (mask & (std::uint64_t{1} << k)) names.push_back(features.Name(static_cast<std::int32_t>(k)));
  }
  return names;
}

std::int32_t ProblemData::InternNeeds(const Needs& needs, const std::string& text) {
  const auto key = std::make_pair(needs.features, needs.unknown);
  if (auto it = need_ids_.find(key); it != need_ids_.end()) return it->second;
  if (need_sets.size() >= static_cast<std::size_t>(kMaxNeedSets)) return -1;
  const auto id = static_cast<std::int32_t>(need_sets.size());
  need_ids_.emplace(key, id);
  need_sets.push_back(needs);
  need_text.push_back(text);
  return id;
}

void ProblemData::ReserveRequests(std::size_t n) {
  request_id.reserve(n);
  rq_tenant.reserve(n);
  rq_model.reserve(n);
  rq_zone.reserve(n);
  rq_tokens_in.reserve(n);
  rq_tokens_out.reserve(n);
  rq_slo.reserve(n);
  rq_home.reserve(n);
  rq_priority.reserve(n);
}

void ProblemData::AddRequest(const RequestRow& row) {
  request_id.push_back(row.id);
  rq_tenant.push_back(tenants.Intern(row.tenant));
  rq_model.push_back(models.Intern(row.model));
  rq_zone.push_back(row.zone.empty() ? -1 : zones.Intern(row.zone));
  rq_tokens_in.push_back(row.tokens_in);
  rq_tokens_out.push_back(row.tokens_out);
  rq_slo.push_back(row.slo_ms);
  rq_home.push_back(row.home_cloud);
  rq_priority.push_back(row.priority);
  if (row.needs != 0 || !rq_needs.empty()) {
    rq_needs.resize(rq_priority.size() - 1, 0);  // the requests before the first with requirements
    rq_needs.push_back(row.needs);
  }
}

ProblemView ProblemData::View() {
  launch_gated_.assign(models.size(), 0);
  for (const auto& [model, until] : policy.azure_first_until) {
    const std::int32_t id = models.Find(model);
    if (id >= 0 && policy.now < until) launch_gated_[id] = 1;
  }
  tenant_limits_.assign(tenants.size(), policy.default_tenant_limit);
  bool limited = !policy.default_tenant_limit.unlimited();
  for (const auto& [tenant, limit] : policy.tenant_limits) {
    const std::int32_t id = tenants.Find(tenant);
    if (id >= 0) tenant_limits_[id] = limit;
    limited = limited || (id >= 0 && !limit.unlimited());
  }
  if (!limited) tenant_limits_.clear();
  tenant_weights_.clear();
  if (policy.fair_share) {
    tenant_weights_.assign(tenants.size(), 1.0);
    for (const auto& [tenant, weight] : policy.tenant_weights) {
      const std::int32_t id = tenants.Find(tenant);
      if (id >= 0) tenant_weights_[id] = weight;
    }
  }
  ProblemView v;
  v.endpoints.cloud = ep_cloud;
  v.endpoints.zone = ep_zone;
  v.endpoints.model = ep_model;
  v.endpoints.price_in_per_1k = ep_price_in;
  v.endpoints.price_out_per_1k = ep_price_out;
  v.endpoints.latency_p50_ms = ep_p50;
  v.endpoints.latency_p95_ms = ep_p95;
  v.endpoints.tpm_limit = ep_tpm;
  v.endpoints.rpm_limit = ep_rpm;
  v.endpoints.available = ep_available;
  v.endpoints.features = ep_features;
  v.endpoints.max_context_tokens = ep_max_context;
  v.requests.model = rq_model;
  v.requests.zone = rq_zone;
  v.requests.tokens_in = rq_tokens_in;
  v.requests.tokens_out = rq_tokens_out;
  v.requests.slo_ms = rq_slo;
  v.requests.home_cloud = rq_home;
  v.requests.priority = rq_priority;
  v.requests.needs = rq_needs;
  if (!tenant_limits_.empty() || policy.fair_share) v.requests.tenant = rq_tenant;
  if (!tenant_limits_.empty()) v.policy.tenant_limits = tenant_limits_;
  v.policy.fair_share = policy.fair_share;
  v.policy.tenant_weights = tenant_weights_;
  if (!rq_needs.empty()) v.requests.need_sets = need_sets;
  v.policy.azure_first = policy.azure_first;
  v.policy.azure_discount = policy.azure_discount;
  v.policy.window_s = policy.window_s;
  v.policy.launch_gated = launch_gated_;
  v.policy.latency_usd_per_ms = policy.latency_usd_per_ms;
  for (int a = 0; a < kNumClouds; ++a) {
    for (int b = 0; b < kNumClouds; ++b) v.policy.egress_usd_per_1k[a][b] = policy.egress_usd_per_1k[a][b];
  }
  for (int k = 0; k < kNumPriorities; ++k) v.policy.reject_usd[k] = policy.reject_usd[k];
  return v;
}

}  // namespace azimuth::kernels
