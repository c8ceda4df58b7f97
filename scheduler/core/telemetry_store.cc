// Copyright 2026 Azimuth authors.
#include "scheduler/core/telemetry_store.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "scheduler/common/status.h"

namespace azimuth::scheduler {

absl::Status ValidateSample(const EndpointSample& s) {
  const kernels::EndpointRow& r = s.row;
  auto bad = [&](const char* field, const std::string& reason) {
    return absl::InvalidArgumentError(absl::StrCat("endpoint '", r.id, "': field '", field, "': ", reason));
  };
  if (r.id.empty()) return absl::InvalidArgumentError("field 'id': must not be empty");
  if (r.model.empty()) return bad("model", "must not be empty");
  if (r.zone.empty()) return bad("zone", "must not be empty");
  if (static_cast<int>(r.cloud) >= kernels::kNumClouds) {
    return bad("cloud", "unknown Cloud enum value");
  }
  const std::tuple<const char*, double, double> numbers[] = {
      {"price_in_per_1k", r.price_in_per_1k, kernels::kMaxPricePer1k},
      {"price_out_per_1k", r.price_out_per_1k, kernels::kMaxPricePer1k},
      {"latency_p50_ms", r.latency_p50_ms, kernels::kMaxLatencyMs},
      {"latency_p95_ms", r.latency_p95_ms, kernels::kMaxLatencyMs}};
  for (const auto& [field, value, max] : numbers) {
    if (std::string why = OutOfRange(value, max); !why.empty()) return bad(field, why);
  }
  if (r.latency_p50_ms > r.latency_p95_ms) return bad("latency_p50_ms", "must not exceed latency_p95_ms");
  const std::pair<const char*, std::int64_t> quotas[] = {{"tpm_limit", r.tpm_limit},
                                                         {"rpm_limit", r.rpm_limit},
                                                         {"tpm_in_use", s.tpm_in_use},
                                                         {"rpm_in_use", s.rpm_in_use}};
  for (const auto& [field, value] : quotas) {
    if (value < 0 || value > kernels::kMaxLimit) return bad(field, "must be in [0, 1e15]");
  }
  if (s.timestamp_ms < 0) return bad("timestamp_ms", "must be >= 0");
  if (r.max_context_tokens < 0 || r.max_context_tokens > kernels::kMaxContextTokens) {
    return bad("max_context_tokens", "must be in [0, 1e12]");
  }
  if (r.features.size() > static_cast<std::size_t>(kernels::kMaxFeatures)) {
    return bad("features", absl::StrCat("more than ", kernels::kMaxFeatures, " names"));
  }
  for (std::size_t k = 0; k < r.features.size(); ++k) {
    const std::string& name = r.features[k];
    if (name.empty() || name.size() > kMaxFeatureNameBytes || name.find(';') != std::string::npos) {
      return bad("features", absl::StrCat("'", name.substr(0, 64), "': a name is 1 to ", kMaxFeatureNameBytes,
                                          " bytes, without ';'"));
    }
    if (std::find(r.features.begin(), r.features.begin() + k, name) != r.features.begin() + k) {
      return bad("features", absl::StrCat("'", name, "' named twice"));
    }
  }
  return absl::OkStatus();
}

absl::Status TelemetryStore::CheckTableLimits(const EndpointSample& sample, const Entry* old) const {
  // Names and context limits the table would gain, and those it would lose
  // with the replaced sample.
  std::int64_t features = static_cast<std::int64_t>(feature_refs_.size());
  for (const std::string& name : sample.row.features) features += feature_refs_.count(name) == 0 ? 1 : 0;
  if (old != nullptr) {
    for (const std::string& name : old->sample.row.features) {
      const auto it = feature_refs_.find(name);
      const bool kept =
          std::find(sample.row.features.begin(), sample.row.features.end(), name) != sample.row.features.end();
      if (it != feature_refs_.end() && it->second == 1 && !kept) --features;
    }
  }
  if (features > kernels::kMaxFeatures) {
    return absl::InvalidArgumentError(absl::StrCat("endpoint '", sample.row.id,
                                                   "': field 'features': the endpoint table would name more than ",
                                                   kernels::kMaxFeatures, " distinct features"));
  }
  std::int64_t contexts = static_cast<std::int64_t>(context_refs_.size());
  const std::int64_t c = sample.row.max_context_tokens, was = old != nullptr ? old->sample.row.max_context_tokens : 0;
  if (c != was) {
    if (c > 0 && context_refs_.count(c) == 0) ++contexts;
    if (was > 0 && context_refs_.at(was) == 1) --contexts;
  }
  if (contexts > kernels::kMaxContextLimits) {
    return absl::InvalidArgumentError(absl::StrCat("endpoint '", sample.row.id,
                                                   "': field 'max_context_tokens': the endpoint table would have "
                                                   "more than ",
                                                   kernels::kMaxContextLimits, " distinct context limits"));
  }
  return absl::OkStatus();
}

void TelemetryStore::Count(const EndpointSample& sample, int delta) {
  for (const std::string& name : sample.row.features) {
    if ((feature_refs_[name] += delta) == 0) feature_refs_.erase(name);
  }
  if (const std::int64_t c = sample.row.max_context_tokens; c > 0) {
    if ((context_refs_[c] += delta) == 0) context_refs_.erase(c);
  }
}

absl::Status TelemetryStore::Apply(const EndpointSample& sample, std::int64_t now_ms, bool pinned, bool only_newer,
                                   bool* applied) {
  if (applied != nullptr) *applied = false;
  if (absl::Status s = ValidateSample(sample); !s.ok()) return s;
  Entry entry{sample, pinned};
  if (entry.sample.timestamp_ms == 0 || entry.sample.timestamp_ms > now_ms) entry.sample.timestamp_ms = now_ms;
  if (only_newer) {
    const Entry* old = Find(sample.row.id);
    if (old != nullptr && !old->pinned && old->sample.timestamp_ms >= entry.sample.timestamp_ms) {
      return absl::OkStatus();
    }
  }
  if (entries_.size() >= kernels::kMaxEndpoints && index_.count(sample.row.id) == 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("endpoint '", sample.row.id, "': the table is full (", kernels::kMaxEndpoints, " endpoints)"));
  }
  const auto at = index_.find(sample.row.id);
  const Entry* old = at == index_.end() ? nullptr : &entries_[at->second];
  if (absl::Status s = CheckTableLimits(entry.sample, old); !s.ok()) return s;
  Count(entry.sample, +1);
  if (old == nullptr) {
    index_.emplace(sample.row.id, entries_.size());
    entries_.push_back(std::move(entry));
  } else {
    Count(old->sample, -1);
    entries_[at->second] = std::move(entry);
  }
  ++version_;
  if (applied != nullptr) *applied = true;
  return absl::OkStatus();
}

const TelemetryStore::Entry* TelemetryStore::Find(const std::string& id) const {
  const auto it = index_.find(id);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

double TelemetryStore::AgeSeconds(std::size_t i, std::int64_t now_ms) const {
  return std::max<std::int64_t>(0, now_ms - entries_[i].sample.timestamp_ms) / 1000.0;
}

bool TelemetryStore::Available(std::size_t i, std::int64_t now_ms, std::int64_t ttl_s) const {
  const Entry& e = entries_[i];
  if (!e.sample.row.healthy) return false;
  return e.pinned || now_ms - e.sample.timestamp_ms <= ttl_s * 1000;
}

void TenantLedger::Roll(std::int64_t window_start_s) {
  if (window_start_s == window_start_s_) return;
  window_start_s_ = window_start_s;
  tenants_.clear();
  if (next_window_s_ == window_start_s) {
    for (const auto& [tenant, grant] : next_) tenants_[tenant].grant = grant;
  }
  if (next_window_s_ <= window_start_s) {
    next_window_s_ = -1;
    next_.clear();
  }
}

const TenantLedger::Entry* TenantLedger::Find(const std::string& tenant) const {
  const auto it = tenants_.find(tenant);
  return it == tenants_.end() ? nullptr : &it->second;
}

const TenantLedger::Usage& TenantLedger::used(const std::string& tenant) const {
  static const Usage kNone;
  const Entry* e = Find(tenant);
  return e == nullptr ? kNone : e->used;
}

TenantLedger::Grant TenantLedger::granted(const std::string& tenant) const {
  const Entry* e = Find(tenant);
  return e == nullptr ? Grant{} : e->grant;
}

TenantLedger::Caps TenantLedger::CapsOf(const std::string& tenant, const kernels::TenantLimit& limit) const {
  Caps c;
  if (limit.tokens > 0) c.tokens = limit.tokens;
  if (limit.requests > 0) c.requests = limit.requests;
  if (limit.budget_usd > 0) c.usd = limit.budget_usd;
  if (leased_) {
    const Grant g = granted(tenant);
    if (c.tokens >= 0) c.tokens = std::min(c.tokens, g.tokens);
    if (c.requests >= 0) c.requests = std::min(c.requests, g.requests);
    if (c.usd >= 0) c.usd = std::min(c.usd, static_cast<double>(g.micro_usd) * 1e-6);
  }
  return c;
}

kernels::TenantLimitKind TenantLedger::Check(const std::string& tenant, const kernels::TenantLimit& limit,
                                             std::int64_t tokens, double usd) const {
  if (limit.unlimited()) return kernels::TenantLimitKind::kNone;
  const Usage& u = used(tenant);
  const Caps c = CapsOf(tenant, limit);
  if (c.tokens >= 0 && u.tokens + tokens > c.tokens) return kernels::TenantLimitKind::kTokens;
  if (c.requests >= 0 && u.requests + 1 > c.requests) return kernels::TenantLimitKind::kRequests;
  if (c.usd >= 0 && u.usd + usd > c.usd) return kernels::TenantLimitKind::kBudget;
  return kernels::TenantLimitKind::kNone;
}

void TenantLedger::Reserve(const std::string& tenant, const kernels::TenantLimit& limit, std::int64_t tokens,
                           double usd) {
  if (limit.unlimited()) return;
  Usage& u = tenants_[tenant].used;
  u.tokens += tokens;
  u.requests += 1;
  u.usd += usd;
}

kernels::TenantLimitKind TenantLedger::Room(const std::string& tenant, const kernels::TenantLimit& limit,
                                            kernels::TenantLimit* room) const {
  *room = limit;
  if (limit.unlimited()) return kernels::TenantLimitKind::kNone;
  const Usage& u = used(tenant);
  const Caps c = CapsOf(tenant, limit);
  if (c.tokens >= 0) room->tokens = c.tokens - u.tokens;
  if (c.requests >= 0) room->requests = c.requests - u.requests;
  if (c.usd >= 0) room->budget_usd = c.usd - u.usd;
  if (c.tokens >= 0 && room->tokens <= 0) return kernels::TenantLimitKind::kTokens;
  if (c.requests >= 0 && room->requests <= 0) return kernels::TenantLimitKind::kRequests;
  if (c.usd >= 0 && room->budget_usd <= 0) return kernels::TenantLimitKind::kBudget;
  return kernels::TenantLimitKind::kNone;
}

double TenantLedger::BudgetLeft(const std::string& tenant, const kernels::TenantLimit& limit) const {
  const Caps c = CapsOf(tenant, limit);
  return c.usd >= 0 ? c.usd - used(tenant).usd : std::numeric_limits<double>::infinity();
}

template <typename Map>
typename Map::mapped_type* TenantLedger::Slot(Map* map, const std::string& tenant) {
  const auto it = map->find(tenant);
  if (it != map->end()) return &it->second;
  if (map->size() >= kMaxLeasedTenants) return nullptr;
  return &(*map)[tenant];
}

void TenantLedger::SetGrant(std::int64_t window_start_s, const std::string& tenant, const Grant& grant) {
  Grant* g = nullptr;
  if (window_start_s == window_start_s_) {
    Entry* e = Slot(&tenants_, tenant);
    if (e == nullptr) return;
    e->short_of_grant = false;
    g = &e->grant;
  } else if (window_start_s > window_start_s_) {
    if (next_window_s_ != window_start_s) {
      next_.clear();
      next_window_s_ = window_start_s;
    }
    g = Slot(&next_, tenant);
    if (g == nullptr) return;
  } else {
    return;
  }
  g->tokens = std::max(g->tokens, grant.tokens);
  g->requests = std::max(g->requests, grant.requests);
  g->micro_usd = std::max(g->micro_usd, grant.micro_usd);
}

void TenantLedger::Want(const std::string& tenant, const kernels::TenantLimit& limit) {
  if (!leased_ || limit.unlimited()) return;
  const Grant g = granted(tenant);
  const bool limited_by_grant = (limit.tokens > 0 && g.tokens < limit.tokens) ||
                                (limit.requests > 0 && g.requests < limit.requests) ||
                                (limit.budget_usd > 0 && static_cast<double>(g.micro_usd) * 1e-6 < limit.budget_usd);
  if (!limited_by_grant) return;
  if (Entry* e = Slot(&tenants_, tenant)) e->short_of_grant = true;
}

std::vector<TenantLedger::Lease> TenantLedger::Leases() const {
  std::vector<Lease> out;
  out.reserve(tenants_.size() + next_.size());
  for (const auto& [tenant, e] : tenants_) {
    Lease& l = out.emplace_back();
    l.tenant = tenant;
    l.used = e.used;
    l.held = e.grant;
    l.short_of_grant = e.short_of_grant;
    if (next_window_s_ >= 0) {
      const auto it = next_.find(tenant);
      if (it != next_.end()) l.next_held = it->second;
    }
  }
  for (const auto& [tenant, grant] : next_) {
    if (tenants_.count(tenant) != 0) continue;
    Lease& l = out.emplace_back();
    l.tenant = tenant;
    l.next_held = grant;
  }
  // A stable order: the cluster's calls do not depend on hashing.
  std::sort(out.begin(), out.end(), [](const Lease& a, const Lease& b) { return a.tenant < b.tenant; });
  return out;
}

void CapacityLedger::Roll(std::int64_t now_s, std::int64_t window_s) {
  const std::int64_t start = now_s - ((now_s % window_s) + window_s) % window_s;
  if (start == window_start_s_ && window_s == window_s_) return;
  window_start_s_ = start;
  window_s_ = window_s;
  std::fill(tokens_.begin(), tokens_.end(), 0);
  std::fill(requests_.begin(), requests_.end(), 0);
  std::fill(granted_tokens_.begin(), granted_tokens_.end(), 0);
  std::fill(granted_requests_.begin(), granted_requests_.end(), 0);
  if (next_window_s_ == start) {
    std::swap(granted_tokens_, next_tokens_);
    std::swap(granted_requests_, next_requests_);
  }
  next_window_s_ = -1;
  std::fill(next_tokens_.begin(), next_tokens_.end(), 0);
  std::fill(next_requests_.begin(), next_requests_.end(), 0);
}

void CapacityLedger::Resize(std::size_t num_endpoints) {
  tokens_.resize(num_endpoints, 0);
  requests_.resize(num_endpoints, 0);
  granted_tokens_.resize(num_endpoints, 0);
  granted_requests_.resize(num_endpoints, 0);
  next_tokens_.resize(num_endpoints, 0);
  next_requests_.resize(num_endpoints, 0);
}

void CapacityLedger::SetGrant(std::int64_t window_start_s, std::size_t p, std::int64_t tokens, std::int64_t requests) {
  if (p >= tokens_.size()) return;
  std::vector<std::int64_t>* t = nullptr;
  std::vector<std::int64_t>* r = nullptr;
  if (window_start_s == window_start_s_) {
    t = &granted_tokens_;
    r = &granted_requests_;
  } else if (window_start_s == window_start_s_ + window_s_) {
    if (next_window_s_ != window_start_s) {
      std::fill(next_tokens_.begin(), next_tokens_.end(), 0);
      std::fill(next_requests_.begin(), next_requests_.end(), 0);
      next_window_s_ = window_start_s;
    }
    t = &next_tokens_;
    r = &next_requests_;
  } else {
    return;
  }
  (*t)[p] = std::max((*t)[p], tokens);
  (*r)[p] = std::max((*r)[p], requests);
}

bool CapacityLedger::TryReserve(std::size_t p, std::int64_t tokens, std::int64_t token_capacity,
                                std::int64_t request_capacity) {
  if (tokens_[p] + tokens > token_capacity || requests_[p] + 1 > request_capacity) return false;
  tokens_[p] += tokens;
  requests_[p] += 1;
  return true;
}

std::int64_t WindowTokenCapacity(const EndpointSample& s, std::int64_t window_s) {
  return kernels::TokenCapacity(std::max<std::int64_t>(0, s.row.tpm_limit - s.tpm_in_use), window_s);
}

std::int64_t WindowRequestCapacity(const EndpointSample& s, std::int64_t window_s) {
  return kernels::RequestCapacity(std::max<std::int64_t>(0, s.row.rpm_limit - s.rpm_in_use), window_s);
}

}  // namespace azimuth::scheduler
