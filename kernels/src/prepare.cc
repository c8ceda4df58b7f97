// Copyright 2026 Azimuth authors.
//
// prepare.cc — validation, cost tables, strict-tier weights and the dual price
// update: the host-side arithmetic every backend shares.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <string>
#include <tuple>

#include "azimuth/kernels/problem.h"
#include "azimuth/kernels/solver.h"
#include "prepared.h"

namespace azimuth::kernels {

const char* CloudName(Cloud cloud) {
  switch (cloud) {
    case Cloud::kAzure:
      return "azure";
    case Cloud::kAws:
      return "aws";
    case Cloud::kGcp:
      return "gcp";
    case Cloud::kOci:
      return "oci";
    case Cloud::kOther:
      return "other";
  }
  return "invalid";
}

bool ParseCloud(const std::string& text, Cloud* cloud) {
  for (int i = 0; i < kNumClouds; ++i) {
    if (text == CloudName(static_cast<Cloud>(i))) {
      *cloud = static_cast<Cloud>(i);
      return true;
    }
  }
  return false;
}

const char* AzureFirstName(AzureFirst mode) {
  switch (mode) {
    case AzureFirst::kStrict:
      return "STRICT";
    case AzureFirst::kWeighted:
      return "WEIGHTED";
    case AzureFirst::kOff:
      return "OFF";
  }
  return "invalid";
}

const char* ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kOk:
      return "OK";
    case Reason::kAzureWaiver:
      return "AZURE_WAIVER";
    case Reason::kNoEligibleEndpoint:
      return "NO_ELIGIBLE_ENDPOINT";
    case Reason::kCapacityExhausted:
      return "CAPACITY_EXHAUSTED";
    case Reason::kInvalidRequest:
      return "INVALID_REQUEST";
    case Reason::kTenantLimit:
      return "TENANT_LIMIT";
  }
  return "invalid";
}

const char* TenantLimitName(TenantLimitKind kind) {
  switch (kind) {
    case TenantLimitKind::kNone:
      return "NONE";
    case TenantLimitKind::kTokens:
      return "TOKENS";
    case TenantLimitKind::kRequests:
      return "REQUESTS";
    case TenantLimitKind::kBudget:
      return "BUDGET";
  }
  return "invalid";
}

const char* RuleName(Rule rule) {
  switch (rule) {
    case Rule::kEligible:
      return "ELIGIBLE";
    case Rule::kModel:
      return "MODEL";
    case Rule::kHealth:
      return "HEALTH";
    case Rule::kZone:
      return "ZONE";
    case Rule::kSlo:
      return "SLO";
    case Rule::kLaunchGate:
      return "LAUNCH_GATE";
    case Rule::kCapability:
      return "CAPABILITY";
    case Rule::kContext:
      return "CONTEXT";
  }
  return "?";
}

const char* BackendName(Backend backend) {
  switch (backend) {
    case Backend::kAuto:
      return "auto";
    case Backend::kCuda:
      return "cuda";
    case Backend::kCpu:
      return "cpu";
  }
  return "invalid";
}

namespace {

// floor(limit * window / 60) without overflowing int64 for any limit.
std::int64_t Capacity(std::int64_t limit, std::int64_t window_s) {
  const std::int64_t q = limit / 60, r = limit % 60;
  return q * window_s + (r * window_s) / 60;
}

bool NonNegativeFinite(double v) { return std::isfinite(v) && v >= 0; }

// "" when 0 <= v <= max, else why not.
std::string OutOfRange(double v, double max) {
  if (NonNegativeFinite(v) && v <= max) return "";
  char text[96];
  std::snprintf(text, sizeof text, ": must be a finite number in [0, %g]", max);
  return text;
}

Error Invalid(std::string message) { return Error{ErrorCode::kInvalidArgument, std::move(message)}; }

template <typename T>
std::optional<Error> CheckSize(const Span<T>& span, std::size_t n, const char* field) {
  if (span.size != n) {
    return Invalid(std::string(field) + ": has " + std::to_string(span.size) + " entries, expected " +
                   std::to_string(n));
  }
  return std::nullopt;
}

}  // namespace

std::int64_t TokenCapacity(std::int64_t tpm_limit, std::int64_t window_s) { return Capacity(tpm_limit, window_s); }
std::int64_t RequestCapacity(std::int64_t rpm_limit, std::int64_t window_s) { return Capacity(rpm_limit, window_s); }

std::optional<Error> Validate(const ProblemView& problem) {
  const EndpointsView& e = problem.endpoints;
  const RequestsView& r = problem.requests;
  const PolicyView& pol = problem.policy;
  const std::size_t m = e.model.size;
  if (m > kMaxEndpoints) {
    return Invalid("endpoints: " + std::to_string(m) + " endpoints, at most " + std::to_string(kMaxEndpoints) +
                   " are supported");
  }
  for (auto err :
       {CheckSize(e.cloud, m, "endpoints.cloud"), CheckSize(e.zone, m, "endpoints.zone"),
        CheckSize(e.price_in_per_1k, m, "endpoints.price_in_per_1k"),
        CheckSize(e.price_out_per_1k, m, "endpoints.price_out_per_1k"),
        CheckSize(e.latency_p50_ms, m, "endpoints.latency_p50_ms"),
        CheckSize(e.latency_p95_ms, m, "endpoints.latency_p95_ms"), CheckSize(e.tpm_limit, m, "endpoints.tpm_limit"),
        CheckSize(e.rpm_limit, m, "endpoints.rpm_limit"), CheckSize(e.available, m, "endpoints.available")}) {
    if (err) return err;
  }
  if (!e.features.empty()) {
    if (auto err = CheckSize(e.features, m, "endpoints.features")) return err;
  }
  if (!e.max_context_tokens.empty()) {
    if (auto err = CheckSize(e.max_context_tokens, m, "endpoints.max_context_tokens")) return err;
    std::vector<std::int64_t> limits;
    for (std::size_t p = 0; p < m; ++p) {
      const std::int64_t c = e.max_context_tokens[p];
      if (c < 0 || c > kMaxContextTokens) {
        return Invalid("endpoints.max_context_tokens[" + std::to_string(p) + "]: must be in [0, 1e12]");
      }
      if (c > 0) limits.push_back(c);
    }
    std::sort(limits.begin(), limits.end());
    const auto distinct = std::unique(limits.begin(), limits.end()) - limits.begin();
    if (distinct > kMaxContextLimits) {
      return Invalid("endpoints.max_context_tokens: " + std::to_string(distinct) +
                     " distinct non-zero limits, at most " + std::to_string(kMaxContextLimits) + " are supported");
    }
  }
  const std::size_t n = r.model.size;
  for (auto err : {CheckSize(r.zone, n, "requests.zone"), CheckSize(r.tokens_in, n, "requests.tokens_in"),
                   CheckSize(r.tokens_out, n, "requests.tokens_out"), CheckSize(r.slo_ms, n, "requests.slo_ms"),
                   CheckSize(r.home_cloud, n, "requests.home_cloud"), CheckSize(r.priority, n, "requests.priority")}) {
    if (err) return err;
  }
  if (r.need_sets.size > static_cast<std::size_t>(kMaxNeedSets)) {
    return Invalid("requests.need_sets: " + std::to_string(r.need_sets.size) + " distinct requirement sets, at most " +
                   std::to_string(kMaxNeedSets) + " are supported");
  }
  if (!r.needs.empty()) {
    if (auto err = CheckSize(r.needs, n, "requests.needs")) return err;
  }
  if (!r.tenant.empty()) {
    if (auto err = CheckSize(r.tenant, n, "requests.tenant")) return err;
  }
  for (std::size_t t = 0; t < pol.tenant_limits.size; ++t) {
    const TenantLimit& l = pol.tenant_limits[t];
    const std::string field = "policy.tenant_limits[" + std::to_string(t) + "]";
    if (l.tokens < 0) return Invalid(field + ".tokens: must be >= 0");
    if (l.requests < 0) return Invalid(field + ".requests: must be >= 0");
    if (std::string why = OutOfRange(l.budget_usd, kMaxBudgetUsd); !why.empty()) {
      return Invalid(field + ".budget_usd" + why);
    }
  }
  for (std::size_t t = 0; t < pol.tenant_weights.size; ++t) {
    const double w = pol.tenant_weights[t];
    if (!(w > 0 && w <= kMaxTenantWeight)) {
      return Invalid("policy.tenant_weights[" + std::to_string(t) + "]: must be in (0, 1e6]");
    }
  }
  auto at = [](const char* field, std::size_t i) { return std::string(field) + "[" + std::to_string(i) + "]"; };
  for (std::size_t p = 0; p < m; ++p) {
    if (static_cast<int>(e.cloud[p]) >= kNumClouds) return Invalid(at("endpoints.cloud", p) + ": unknown cloud");
    if (e.model[p] < 0 || e.model[p] >= kMaxModels) return Invalid(at("endpoints.model", p) + ": id out of range");
    if (e.zone[p] < -1 || e.zone[p] >= kMaxZones) return Invalid(at("endpoints.zone", p) + ": id out of range");
    for (auto [value, max, field] : {std::tuple{e.price_in_per_1k[p], kMaxPricePer1k, "endpoints.price_in_per_1k"},
                                     {e.price_out_per_1k[p], kMaxPricePer1k, "endpoints.price_out_per_1k"},
                                     {e.latency_p50_ms[p], kMaxLatencyMs, "endpoints.latency_p50_ms"},
                                     {e.latency_p95_ms[p], kMaxLatencyMs, "endpoints.latency_p95_ms"}}) {
      if (std::string why = OutOfRange(value, max); !why.empty()) return Invalid(at(field, p) + why);
    }
    if (e.tpm_limit[p] < 0 || e.tpm_limit[p] > kMaxLimit)
      return Invalid(at("endpoints.tpm_limit", p) + ": must be in [0, 1e15]");
    if (e.rpm_limit[p] < 0 || e.rpm_limit[p] > kMaxLimit)
      return Invalid(at("endpoints.rpm_limit", p) + ": must be in [0, 1e15]");
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (r.model[i] < 0 || r.model[i] >= kMaxModels) return Invalid(at("requests.model", i) + ": id out of range");
    if (r.zone[i] < -1 || r.zone[i] >= kMaxZones) return Invalid(at("requests.zone", i) + ": id out of range");
    if (r.tokens_in[i] < 0) return Invalid(at("requests.tokens_in", i) + ": must be >= 0");
    if (r.tokens_out[i] < 0) return Invalid(at("requests.tokens_out", i) + ": must be >= 0");
    if (r.slo_ms[i] < 0) return Invalid(at("requests.slo_ms", i) + ": must be >= 0");
    if (static_cast<int>(r.home_cloud[i]) >= kNumClouds)
      return Invalid(at("requests.home_cloud", i) + ": unknown cloud");
    if (r.priority[i] >= kNumPriorities) return Invalid(at("requests.priority", i) + ": must be 0..3");
    if (!r.tenant.empty() && r.tenant[i] < 0) return Invalid(at("requests.tenant", i) + ": id out of range");
    if (!r.needs.empty() && (r.needs[i] < 0 || static_cast<std::size_t>(r.needs[i]) >= r.need_sets.size)) {
      return Invalid(at("requests.needs", i) + ": not an index into requests.need_sets");
    }
  }
  if (pol.window_s <= 0) return Invalid("policy.window_s: must be > 0");
  if (pol.window_s > 86400) return Invalid("policy.window_s: must be at most 86400");
  if (!(pol.azure_discount >= 0 && pol.azure_discount <= 1)) {
    return Invalid("policy.azure_discount: must be in [0, 1]");
  }
  if (std::string why = OutOfRange(pol.latency_usd_per_ms, kMaxLatencyUsdPerMs); !why.empty()) {
    return Invalid("policy.latency_usd_per_ms" + why);
  }
  for (int a = 0; a < kNumClouds; ++a) {
    for (int b = 0; b < kNumClouds; ++b) {
      if (std::string why = OutOfRange(pol.egress_usd_per_1k[a][b], kMaxPricePer1k); !why.empty()) {
        return Invalid(std::string("policy.egress_usd_per_1k[") + CloudName(static_cast<Cloud>(a)) + "->" +
                       CloudName(static_cast<Cloud>(b)) + "]" + why);
      }
    }
  }
  for (int k = 0; k < kNumPriorities; ++k) {
    const std::string field = "policy.reject_usd[" + std::to_string(k) + "]";
    if (std::string why = OutOfRange(pol.reject_usd[k], kMaxRejectUsd); !why.empty()) return Invalid(field + why);
    if (pol.reject_usd[k] > 0 && pol.reject_usd[k] < kMinRejectUsd) {
      return Invalid(field + ": must be 0 or at least 1e-12");
    }
  }
  if (pol.launch_gated.size > static_cast<std::size_t>(kMaxModels)) {
    return Invalid("policy.launch_gated: more entries than model ids");
  }
  return std::nullopt;
}

namespace internal {

Rule ToRule(std::int32_t rule_number) {
  static constexpr Rule kRules[] = {Rule::kEligible, Rule::kModel,      Rule::kHealth,  Rule::kZone,
                                    Rule::kSlo,      Rule::kCapability, Rule::kContext, Rule::kLaunchGate};
  return rule_number >= 0 && rule_number < 8 ? kRules[rule_number] : Rule::kEligible;
}

ModelView HostModel::View() const {
  ModelView v;
  v.num_endpoints = num_endpoints;
  v.ep_model = ep_model.data();
  v.ep_zone = ep_zone.data();
  v.ep_p95_rank = ep_p95_rank.data();
  v.ep_available = ep_available.data();
  v.ep_azure = ep_azure.data();
  v.p95_sorted = p95_sorted.data();
  v.num_p95 = static_cast<std::int32_t>(p95_sorted.size());
  v.launch_gated = launch_gated.data();
  v.num_gated = static_cast<std::int32_t>(launch_gated.size());
  v.ep_features = ep_features.data();
  v.ep_ctx_rank = ep_ctx_rank.data();
  v.ctx_sorted = ctx_sorted.data();
  v.num_ctx = static_cast<std::int32_t>(ctx_sorted.size());
  v.need_features = need_features.data();
  v.need_unknown = need_unknown.data();
  v.num_needs = static_cast<std::int32_t>(need_features.size());
  v.cost_in = cost_in.data();
  v.cost_out = cost_out.data();
  v.cost_fixed = cost_fixed.data();
  v.eff_in = eff_in.data();
  v.eff_out = eff_out.data();
  v.eff_fixed = eff_fixed.data();
  for (int k = 0; k < 4; ++k) {
    v.reject_usd[k] = reject_usd[k];
    v.eff_reject[k] = eff_reject[k];
  }
  v.eff_reject_per_token = eff_reject_per_token;
  return v;
}

HostModel Prepare(const ProblemView& problem, const StrictTiers* tiers) {
  const EndpointsView& e = problem.endpoints;
  const PolicyView& pol = problem.policy;
  const std::int32_t m = static_cast<std::int32_t>(e.model.size);
  HostModel h;
  h.num_endpoints = m;
  h.tenant_limits = !problem.requests.tenant.empty() && pol.tenant_limits.size > 0;
  h.ep_model.assign(e.model.data, e.model.data + m);
  h.ep_zone.assign(e.zone.data, e.zone.data + m);
  h.ep_available.assign(e.available.data, e.available.data + m);
  h.ep_azure.resize(m);
  h.p95_sorted.assign(e.latency_p95_ms.data, e.latency_p95_ms.data + m);
  std::sort(h.p95_sorted.begin(), h.p95_sorted.end());
  h.p95_sorted.erase(std::unique(h.p95_sorted.begin(), h.p95_sorted.end()), h.p95_sorted.end());
  h.ep_p95_rank.resize(m);
  h.cap_tokens.resize(m);
  h.cap_requests.resize(m);
  for (std::int32_t p = 0; p < m; ++p) {
    h.ep_azure[p] = e.cloud[p] == Cloud::kAzure;
    h.ep_p95_rank[p] = static_cast<std::int32_t>(
        std::lower_bound(h.p95_sorted.begin(), h.p95_sorted.end(), e.latency_p95_ms[p]) - h.p95_sorted.begin());
    h.cap_tokens[p] = TokenCapacity(e.tpm_limit[p], pol.window_s);
    h.cap_requests[p] = RequestCapacity(e.rpm_limit[p], pol.window_s);
  }
  h.launch_gated.assign(pol.launch_gated.data, pol.launch_gated.data + pol.launch_gated.size);
  h.ep_features.assign(m, 0);
  if (!e.features.empty()) h.ep_features.assign(e.features.data, e.features.data + m);
  for (std::size_t p = 0; p < e.max_context_tokens.size; ++p) {
    if (e.max_context_tokens[p] > 0) h.ctx_sorted.push_back(e.max_context_tokens[p]);
  }
  std::sort(h.ctx_sorted.begin(), h.ctx_sorted.end());
  h.ctx_sorted.erase(std::unique(h.ctx_sorted.begin(), h.ctx_sorted.end()), h.ctx_sorted.end());
  h.ep_ctx_rank.assign(m, static_cast<std::int32_t>(h.ctx_sorted.size()));
  for (std::size_t p = 0; p < e.max_context_tokens.size; ++p) {
    const std::int64_t c = e.max_context_tokens[p];
    if (c > 0) {
      h.ep_ctx_rank[p] = static_cast<std::int32_t>(std::lower_bound(h.ctx_sorted.begin(), h.ctx_sorted.end(), c) -
                                                   h.ctx_sorted.begin());
    }
  }
  for (std::size_t k = 0; k < problem.requests.need_sets.size; ++k) {
    h.need_features.push_back(problem.requests.need_sets[k].features);
    h.need_unknown.push_back(problem.requests.need_sets[k].unknown ? 1 : 0);
  }

  h.cost_in.resize(kClouds * m);
  h.cost_out.resize(kClouds * m);
  h.cost_fixed.resize(m);
  for (std::int32_t p = 0; p < m; ++p) {
    h.cost_fixed[p] = pol.latency_usd_per_ms * e.latency_p50_ms[p];
    for (int home = 0; home < kClouds; ++home) {
      const double egress = pol.egress_usd_per_1k[home][static_cast<int>(e.cloud[p])];
      h.cost_in[home * m + p] = (e.price_in_per_1k[p] + egress) / 1000.0;
      h.cost_out[home * m + p] = (e.price_out_per_1k[p] + egress) / 1000.0;
    }
  }
  for (int k = 0; k < 4; ++k) h.reject_usd[k] = pol.reject_usd[k];
  h.eff_in = h.cost_in;
  h.eff_out = h.cost_out;
  h.eff_fixed = h.cost_fixed;
  for (int k = 0; k < 4; ++k) h.eff_reject[k] = h.reject_usd[k];

  const RequestsView& r = problem.requests;
  double w_sum = 0, w_max = 1;
  std::int64_t w_min = std::numeric_limits<std::int64_t>::max();
  for (std::size_t i = 0; i < r.model.size; ++i) {
    const std::int64_t tokens = static_cast<std::int64_t>(r.tokens_in[i]) + r.tokens_out[i];
    const double w = static_cast<double>(tokens);
    w_sum += w;
    w_max = std::max(w_max, w);
    w_min = std::min(w_min, tokens);
  }
  h.mean_tokens = r.model.size ? std::max(1.0, w_sum / r.model.size) : 1.0;
  // Room for less than the batch's smallest request is no room: no integer
  // answer can use it, so the bound stays valid without it. Left in, an
  // endpoint that a server's earlier batches filled keeps a residue of a few
  // tokens that no option fills (see Room in solver_impl.cuh) while its
  // price from those batches says it is full: idle capacity with a price,
  // so a warm start's probe failed and the solve started over.
  for (std::int32_t p = 0; p < m && r.model.size > 0; ++p) {
    if (h.cap_tokens[p] < w_min || h.cap_requests[p] < 1) h.cap_tokens[p] = h.cap_requests[p] = 0;
  }

  if (pol.azure_first == AzureFirst::kWeighted) {
    const double f = 1.0 - pol.azure_discount;
    for (std::int32_t p = 0; p < m; ++p) {
      if (!h.ep_azure[p]) continue;
      h.eff_fixed[p] *= f;
      for (int home = 0; home < kClouds; ++home) {
        h.eff_in[home * m + p] *= f;
        h.eff_out[home * m + p] *= f;
      }
    }
  } else if (pol.azure_first == AzureFirst::kStrict && m > 0) {
    // The tier prices. Per token: twice the widest per-token price spread
    // (the latency term spread over a mean request), so any token does better
    // on Azure. Per rejection: enough that no Azure gain pays for one.
    double lo = std::numeric_limits<double>::infinity(), hi = 0, fixed_lo = lo, fixed_hi = 0;
    for (std::int32_t p = 0; p < m; ++p) {
      if (!h.ep_available[p]) continue;
      fixed_lo = std::min(fixed_lo, h.cost_fixed[p]);
      fixed_hi = std::max(fixed_hi, h.cost_fixed[p]);
      for (int home = 0; home < kClouds; ++home) {
        const double a = h.cost_in[home * m + p], b = h.cost_out[home * m + p];
        lo = std::min({lo, a, b});
        hi = std::max({hi, a, b});
      }
    }
    if (!(hi >= lo)) lo = hi = fixed_lo = fixed_hi = 0;
    double token_price = 2.0 * (hi - lo) + 2.0 * (fixed_hi - fixed_lo) / h.mean_tokens + 1e-9;
    if (tiers != nullptr && tiers->at_least) token_price = std::max(token_price, tiers->azure_price);
    double reject_min = std::numeric_limits<double>::infinity();
    for (int k = 0; k < 4; ++k) {
      if (h.reject_usd[k] > 0) reject_min = std::min(reject_min, h.reject_usd[k]);
    }
    const double max_cost = w_max * hi + fixed_hi;
    double weight = 1.0;
    if (std::isfinite(reject_min)) {
      // Validate()'s ranges keep this finite; the cap keeps weight x 0 a 0
      // whatever a caller that skipped them passed.
      weight = std::clamp(2.0 * (token_price * w_max + max_cost) / reject_min, 1.0, 1e200);
    }
    if (tiers != nullptr && tiers->at_least) weight = std::max(weight, tiers->reject_weight);
    h.strict_azure_price = token_price;
    h.strict_reject_weight = weight;
    if (tiers != nullptr && !tiers->at_least) {
      token_price = tiers->azure_price;
      h.strict_azure_price = tiers->azure_price;
      h.strict_reject_weight = weight = tiers->reject_weight;
    }
    for (std::int32_t p = 0; p < m; ++p) {
      if (h.ep_azure[p]) continue;
      for (int home = 0; home < kClouds; ++home) {
        h.eff_in[home * m + p] += token_price;
        h.eff_out[home * m + p] += token_price;
      }
    }
    for (int k = 0; k < 4; ++k) h.eff_reject[k] = weight * h.reject_usd[k];
    h.eff_reject_per_token = token_price;
  }
  return h;
}

namespace {

// Solves (A + diag(ridge)) x = b in place for a symmetric positive
// semi-definite A (n x n, row-major) by Cholesky.
void SolvePsd(std::vector<double>& a, const std::vector<double>& ridge, std::vector<double>& b, int n) {
  for (int i = 0; i < n; ++i) a[i * n + i] += ridge[i] + 1e-9 * a[i * n + i] + 1e-300;
  for (int j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    d = std::sqrt(std::max(d, 1e-12 * (a[j * n + j] + 1e-300)));
    a[j * n + j] = d;
    for (int i = j + 1; i < n; ++i) {
      double v = a[i * n + j];
      for (int k = 0; k < j; ++k) v -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = v / d;
    }
  }
  for (int i = 0; i < n; ++i) {  // L y = b
    double v = b[i];
    for (int k = 0; k < i; ++k) v -= a[i * n + k] * b[k];
    b[i] = v / a[i * n + i];
  }
  for (int i = n - 1; i >= 0; --i) {  // L^T x = y
    double v = b[i];
    for (int k = i + 1; k < n; ++k) v -= a[k * n + i] * b[k];
    b[i] = v / a[i * n + i];
  }
}

}  // namespace

Blocks FindBlocks(std::int32_t num_endpoints, const std::vector<std::uint8_t>& elig) {
  // Union-find over the endpoints, one union per eligible endpoint of each
  // eligibility class.
  std::vector<std::int32_t> parent(num_endpoints);
  std::iota(parent.begin(), parent.end(), 0);
  auto find = [&](std::int32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  const std::size_t width = static_cast<std::size_t>(num_endpoints);
  for (std::size_t c = 0; width > 0 && c < elig.size() / width; ++c) {
    const std::uint8_t* row = elig.data() + c * width;
    std::int32_t root = -1;  // of the class's endpoints so far
    for (std::int32_t p = 0; p < num_endpoints; ++p) {
      if (!row[p]) continue;
      const std::int32_t r = find(p);
      if (root >= 0 && r != root) parent[std::max(r, root)] = std::min(r, root);  // the smaller root wins
      root = root < 0 ? r : std::min(r, root);
    }
  }
  // Blocks numbered by their smallest endpoint; the empty block last.
  Blocks b;
  b.block_of.assign(num_endpoints, -1);
  b.local.resize(num_endpoints);
  std::vector<std::int32_t> block_of_root(num_endpoints, -1), size;
  for (std::int32_t p = 0; p < num_endpoints; ++p) {
    const std::int32_t r = find(p);
    if (block_of_root[r] < 0) {
      block_of_root[r] = static_cast<std::int32_t>(size.size());
      size.push_back(0);
    }
    b.block_of[p] = block_of_root[r];
    b.local[p] = size[b.block_of[p]]++;
  }
  size.push_back(0);  // the empty block
  b.count = static_cast<std::int32_t>(size.size());
  b.start.assign(b.count + 1, 0);
  for (std::int32_t k = 0; k < b.count; ++k) b.start[k + 1] = b.start[k] + size[k];
  b.endpoints.resize(num_endpoints);
  for (std::int32_t p = 0; p < num_endpoints; ++p) b.endpoints[b.start[b.block_of[p]] + b.local[p]] = p;
  b.dense.resize(b.count);
  b.offset.assign(b.count + 1, 0);
  for (std::int32_t k = 0; k < b.count; ++k) {
    b.dense[k] = b.Size(k) <= kDenseNewtonMaxEndpoints;
    b.offset[k + 1] = b.offset[k] + BlockWidth(b.Size(k), b.dense[k]);
  }
  return b;
}

double SmoothedDualValue(const HostModel& model, const Blocks& blocks, const std::vector<double>& sums,
                         const std::vector<double>& lam, const std::vector<double>& mu) {
  double value = 0;
  for (std::int32_t k = 0; k < blocks.count; ++k) value += sums[blocks.offset[k] + 2 * blocks.Size(k)];
  for (std::int32_t p = 0; p < model.num_endpoints; ++p) {
    value -= lam[p] * static_cast<double>(model.cap_tokens[p]) + mu[p] * static_cast<double>(model.cap_requests[p]);
  }
  return value;
}

// The price steps' damping (of the Newton step) and their trust region, in
// temperatures per pass (UpdatePrices, UpdateTenantPrices).
constexpr double kStepDamping = 0.7;
constexpr double kMaxShift = 2.0;

double PriceViolation(const HostModel& model, const Blocks& blocks, const std::vector<double>& sums,
                      const std::vector<double>& lam, const std::vector<double>& mu) {
  double worst = 0;
  for (std::int32_t k = 0; k < blocks.count; ++k) {
    const std::int32_t m = blocks.Size(k);
    const std::int32_t* ep = blocks.endpoints.data() + blocks.start[k];
    const double* d = sums.data() + blocks.offset[k];
    for (std::int32_t i = 0; i < m; ++i) {
      // Excess load, or idle capacity that still has a price.
      const std::int32_t p = ep[i];
      worst = std::max({worst, CapacityViolation(model, d[i], static_cast<double>(model.cap_tokens[p]), lam[p], true),
                        CapacityViolation(model, d[m + i], static_cast<double>(model.cap_requests[p]), mu[p], false)});
    }
  }
  return worst;
}

double UpdatePrices(const HostModel& model, const Blocks& blocks, const std::vector<double>& sums, double tau,
                    bool diagonal, double cooling, std::vector<double>* lam, std::vector<double>* mu, double reach) {
  // A damped Newton step on the smoothed dual, whose Hessian is -S/tau: with
  // a block's dense S it accounts for substitutes (raising one endpoint's
  // price pushes load onto its neighbours); otherwise per endpoint. Steps
  // are clipped so that a price at most doubles per pass (plus a few
  // temperatures): when a load does not react to its price the clip sets the
  // pace, and prices still reach any scale in a few dozen passes.
  // Before a cooling the step aims at the loads of the next temperature:
  // each load moves by (cooling - 1) x its tangent there, to first order,
  // and that part of the step is not damped (the damping is for the
  // Newton step's own error).
  const double predict = (cooling - 1.0) / kStepDamping;
  double widest = 0;  // the step's reach
  std::vector<double> grad, price, max_step, mean_w, step, a, b, ridge;
  std::vector<std::int32_t> active, unclipped, clipped;
  for (std::int32_t k = 0; k < blocks.count; ++k) {
    const std::int32_t m = blocks.Size(k), dim = 2 * m;
    if (m == 0) continue;
    const std::int32_t* ep = blocks.endpoints.data() + blocks.start[k];
    const double* d = sums.data() + blocks.offset[k];
    const double* tangent = d + TangentAt(m, blocks.dense[k]);
    grad.assign(dim, 0.0);
    price.assign(dim, 0.0);
    max_step.assign(dim, 0.0);
    mean_w.assign(m, 0.0);
    step.assign(dim, 0.0);
    for (std::int32_t i = 0; i < m; ++i) {
      const std::int32_t p = ep[i];
      const double load = d[i], count = d[m + i];
      const double cap_t = static_cast<double>(model.cap_tokens[p]);
      const double cap_r = static_cast<double>(model.cap_requests[p]);
      grad[2 * i] = load - cap_t + predict * tangent[i];
      grad[2 * i + 1] = count - cap_r + predict * tangent[m + i];
      price[2 * i] = (*lam)[p];
      price[2 * i + 1] = (*mu)[p];
      const double w_bar = count > 0 ? std::max(1.0, load / count) : model.mean_tokens;
      mean_w[i] = w_bar;
      // The diagonal step (after a Newton step failed) stays within a few
      // temperatures: clipped only at the price, it was the failed step again
      // wherever the clip set both.
      max_step[2 * i] = diagonal ? kMaxShift * tau / w_bar : std::max(kMaxShift * tau / w_bar, price[2 * i]);
      max_step[2 * i + 1] = diagonal ? kMaxShift * tau : std::max(kMaxShift * tau, price[2 * i + 1]);
    }
    const double* s = d + 2 * m + 1;
    if (diagonal) {
      for (std::int32_t c = 0; c < dim; ++c) {
        // Coordinate c is local endpoint c / 2's token (even) or request price.
        const std::int32_t i = c / 2;
        const double curv = blocks.dense[k] ? s[3 * PackedPair(m, i, i) + 2 * (c % 2)] : s[(c % 2 ? 2 * m : 0) + i];
        const double b = tau * grad[c];
        step[c] = b / (curv + std::abs(b) / max_step[c] + 1e-300);
      }
    } else if (blocks.dense[k]) {
      // Coordinate c is local endpoint c / 2's token (even) or request price.
      auto entry = [&](std::int32_t c, std::int32_t d) {
        const std::int32_t p = c / 2, q = d / 2;
        return s[3 * PackedPair(m, std::min(p, q), std::max(p, q)) + c % 2 + d % 2];
      };
      // The Newton system over the coordinates `solve`, those in `hold`
      // fixed at their `step`; its solution goes to `step`.
      auto newton = [&](const std::vector<std::int32_t>& solve, const std::vector<std::int32_t>& hold) {
        const int n = static_cast<int>(solve.size());
        a.assign(static_cast<std::size_t>(n) * n, 0.0);
        b.assign(n, 0.0);
        ridge.assign(n, 0.0);
        for (int i = 0; i < n; ++i) {
          const double rhs = tau * grad[solve[i]];
          // Levenberg-Marquardt: a coordinate with no curvature moves by
          // about its clip, and flat directions of S (lam*w + mu constant)
          // stay put.
          ridge[i] = std::abs(rhs) / max_step[solve[i]];
          b[i] = rhs;
          for (const std::int32_t c : hold) b[i] -= entry(solve[i], c) * step[c];
          for (int j = 0; j < n; ++j) a[i * n + j] = entry(solve[i], solve[j]);
        }
        SolvePsd(a, ridge, b, n);
        for (int i = 0; i < n; ++i) step[solve[i]] = b[i];
      };
      active.clear();
      for (std::int32_t i = 0; i < dim; ++i) {
        if (price[i] > 0 || grad[i] > 0) active.push_back(i);
      }
      clipped.clear();
      newton(active, clipped);
      // Coordinates whose damped step leaves its bounds (the clip, or the
      // price's floor at zero) are held there and the others solved again
      // given them: clipping them alone bends the direction, and the
      // backtracking then halves the whole step (measured over the
      // robustness set: 2-14% fewer passes, the same or smaller gaps).
      unclipped.clear();
      for (const std::int32_t c : active) {
        const double delta = kStepDamping * step[c];
        const double lo = std::max(-max_step[c], -price[c]), hi = max_step[c];
        if (delta < lo || delta > hi) {
          step[c] = (delta < lo ? lo : hi) / kStepDamping;
          clipped.push_back(c);
        } else {
          unclipped.push_back(c);
        }
      }
      if (!clipped.empty() && !unclipped.empty()) newton(unclipped, clipped);
    } else {
      for (std::int32_t i = 0; i < m; ++i) {
        const double sa = s[i], sb = s[m + i], sc = s[2 * m + i];
        const double gl = grad[2 * i], gm = grad[2 * i + 1];
        const double det = sa * sc - sb * sb;
        if (sa > 0 && sc > 0 && det > 1e-9 * sa * sc) {
          step[2 * i] = tau * (sc * gl - sb * gm) / det;
          step[2 * i + 1] = tau * (sa * gm - sb * gl) / det;
        } else {
          step[2 * i] = sa > 0 ? tau * gl / sa : (gl > 0 ? max_step[2 * i] : -max_step[2 * i]);
          step[2 * i + 1] = sc > 0 ? tau * gm / sc : (gm > 0 ? max_step[2 * i + 1] : -max_step[2 * i + 1]);
        }
      }
    }
    // The reach: how far the step moves an endpoint's price for its mean
    // request, in temperatures; beyond `reach` the block's whole step is
    // scaled back (its direction kept).
    double block_reach = 0;
    for (std::int32_t i = 0; i < m; ++i) {
      block_reach = std::max(block_reach, std::abs(kStepDamping * (step[2 * i] * mean_w[i] + step[2 * i + 1])) / tau);
    }
    if (!diagonal && block_reach > reach) {
      for (std::int32_t c = 0; c < dim; ++c) step[c] *= reach / block_reach;
      block_reach = reach;
    }
    widest = std::max(widest, block_reach);
    for (std::int32_t i = 0; i < m; ++i) {
      const std::int32_t p = ep[i];
      for (int r = 0; r < 2; ++r) {
        const std::int32_t c = 2 * i + r;
        const double delta = std::clamp(kStepDamping * step[c], -max_step[c], max_step[c]);
        (r == 0 ? (*lam)[p] : (*mu)[p]) = std::max(0.0, price[c] + delta);
      }
    }
  }
  return widest;
}

TenantPhase::TenantPhase(const std::vector<std::int32_t>& group_slot, const std::vector<std::int64_t>& group_count,
                         const std::vector<double>& tin, const std::vector<double>& tout,
                         const std::vector<double>& least_usd, const std::vector<double>& slot_limit)
    : slot(group_slot), count(group_count.begin(), group_count.end()), limit(slot_limit) {
  const std::size_t groups = slot.size();
  use.resize(3 * groups);
  total.assign(limit.size(), 0.0);
  for (std::size_t g = 0; g < groups; ++g) {
    const double u[3] = {tin[g] + tout[g], 1.0, least_usd[g]};
    for (int q = 0; q < 3; ++q) {
      use[3 * g + q] = u[q];
      total[3 * slot[g] + q] += count[g] * u[q];
    }
  }
}

double TenantPhase::Value(const std::vector<double>& price) const {
  double v = 0;
  for (std::size_t k = 3; k < limit.size(); ++k) {
    if (limit[k] > 0) v += price[k] * (total[k] - limit[k]);
  }
  return v;
}

double UpdateTenantPrices(const TenantPhase& t, const std::vector<double>& reject_share, double tau, bool diagonal,
                          std::vector<double>* price) {
  const std::size_t slots = t.limit.size() / 3;
  // Per slot: the use of each limit and its curvature sum_g n rho (1 - rho)
  // u_q u_r (the smoothed dual's Hessian in the slot's prices is -that/tau).
  std::vector<double> used(3 * slots, 0.0), curv(9 * slots, 0.0);
  for (std::size_t g = 0; g < t.slot.size(); ++g) {
    const std::int32_t s = t.slot[g];
    if (s == 0) continue;
    const double rho = reject_share[g], n = t.count[g];
    const double* u = t.use.data() + 3 * g;
    const double v = n * rho * (1 - rho);
    for (int q = 0; q < 3; ++q) {
      used[3 * s + q] += n * (1 - rho) * u[q];
      for (int r = 0; r < 3; ++r) curv[9 * s + 3 * q + r] += v * u[q] * u[r];
    }
  }
  double worst = 0;
  std::vector<double> a, b, ridge, max_step(3);
  std::vector<std::int32_t> active;
  for (std::size_t s = 1; s < slots; ++s) {
    double grad[3];
    active.clear();
    for (int q = 0; q < 3; ++q) {
      const std::size_t k = 3 * s + q;
      grad[q] = t.limit[k] > 0 ? used[k] - t.limit[k] : 0.0;
      if (t.limit[k] <= 0) continue;
      const double p = (*price)[k];
      worst = std::max(worst, PricedViolation(grad[q] / t.limit[k], p));
      // A price moves by a few temperatures per unit the limit counts (per
      // its average request's use), or at most doubles.
      const double per = t.total[k] > 0 ? t.total[k] / std::max(t.total[3 * s + 1], 1.0) : 1.0;
      max_step[q] = diagonal ? kMaxShift * tau / per : std::max(kMaxShift * tau / per, p);
      if (p > 0 || grad[q] > 0) active.push_back(q);
    }
    const int n = static_cast<int>(active.size());
    if (n == 0) continue;
    a.assign(static_cast<std::size_t>(n) * n, 0.0);
    b.assign(n, 0.0);
    ridge.assign(n, 0.0);
    for (int i = 0; i < n; ++i) {
      const int q = active[i];
      b[i] = tau * grad[q];
      ridge[i] = std::abs(b[i]) / max_step[q];
      for (int j = 0; j < n; ++j) {
        a[i * n + j] = (diagonal && i != j) ? 0.0 : curv[9 * s + 3 * q + active[j]];
      }
    }
    SolvePsd(a, ridge, b, n);
    for (int i = 0; i < n; ++i) {
      const int q = active[i];
      const std::size_t k = 3 * s + q;
      const double delta = std::clamp(kStepDamping * b[i], -max_step[q], max_step[q]);
      (*price)[k] = std::max(0.0, (*price)[k] + delta);
    }
  }
  return worst;
}

double ModeLowerBound(const HostModel& host, const PhaseResult& phase) {
  auto dual = [&host](double sum_best, const Prices& prices) {
    double capacity_value = 0;
    for (std::int32_t p = 0; p < host.num_endpoints; ++p) {
      capacity_value += prices.per_token[p] * static_cast<double>(host.cap_tokens[p]) +
                        prices.per_request[p] * static_cast<double>(host.cap_requests[p]);
    }
    return sum_best - capacity_value;
  };
  const double at_prices = std::max(dual(phase.sum_best, phase.prices) + phase.tenant_gain, phase.prior_bound);
  if (phase.bound_prices.per_token.size() != phase.prices.per_token.size()) return at_prices;
  return std::max(at_prices, dual(phase.bound_sum_best, phase.bound_prices));
}

}  // namespace internal
}  // namespace azimuth::kernels
