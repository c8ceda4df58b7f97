// Copyright 2026 Azimuth authors.
//
// model.cuh — the problem as the solver sees it on either backend: eligibility
// (the seven rules of docs/design.md), cost coefficients and the request-group key.
// Every function here is plain arithmetic marked AZ_HD, so nvcc compiles it for
// the GPU and the host compiler compiles the very same code for the OpenMP
// backend and for the host-side repair passes.
#ifndef AZIMUTH_KERNELS_SRC_MODEL_CUH_
#define AZIMUTH_KERNELS_SRC_MODEL_CUH_

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define AZ_HD __host__ __device__
#else
#define AZ_HD
#endif

namespace azimuth::kernels::internal {

inline constexpr int kClouds = 5;
inline constexpr std::int32_t kSloAny = 2047;  // slo rank of "no SLO": above every endpoint's

// ModelView
//
// Raw pointers into arrays that live where the executing backend reads them
// (device memory for CUDA, host memory for OpenMP and host passes).
// Cost tables are indexed [home_cloud * M + endpoint] and hold USD per token;
// `fixed` is USD per request (the latency term). The `eff_*` tables hold the
// policy's objective (discounts, Azure-tier price), the plain ones true USD.
struct ModelView {
  std::int32_t num_endpoints = 0;
  const std::int32_t* ep_model = nullptr;
  const std::int32_t* ep_zone = nullptr;
  const std::int32_t* ep_p95_rank = nullptr;  // rank among distinct p95 values
  const std::uint8_t* ep_available = nullptr;
  const std::uint8_t* ep_azure = nullptr;
  const double* p95_sorted = nullptr;  // distinct p95 values, ascending
  std::int32_t num_p95 = 0;
  const std::uint8_t* launch_gated = nullptr;  // per model id
  std::int32_t num_gated = 0;
  // Capabilities: each endpoint's features, and its rank among the distinct
  // non-zero context limits (ctx_sorted, ascending; num_ctx for unlimited).
  const std::uint64_t* ep_features = nullptr;
  const std::int32_t* ep_ctx_rank = nullptr;
  const std::int64_t* ctx_sorted = nullptr;
  std::int32_t num_ctx = 0;
  // The batch's distinct requirement sets (RequestsView::need_sets).
  const std::uint64_t* need_features = nullptr;
  const std::uint8_t* need_unknown = nullptr;
  std::int32_t num_needs = 0;
  const double* cost_in = nullptr;
  const double* cost_out = nullptr;
  const double* cost_fixed = nullptr;  // [M]
  const double* eff_in = nullptr;
  const double* eff_out = nullptr;
  const double* eff_fixed = nullptr;  // [M]
  double reject_usd[4] = {0, 0, 0, 0};
  double eff_reject[4] = {0, 0, 0, 0};
  double eff_reject_per_token = 0;  // strict mode: rejected tokens are off Azure
};

// RequestClass
//
// What eligibility and cost depend on, besides the token counts. The
// context rank is the number of distinct endpoint context limits below the
// request's tokens; `need` indexes the requirement sets (0 in a batch with
// none), and `needs`/`needs_unknown` are that set's features.
struct RequestClass {
  std::int32_t model;
  std::int32_t zone;  // -1: any
  std::int32_t slo_rank;
  std::int32_t ctx_rank;
  std::int32_t need;
  std::int32_t home;
  std::int32_t priority;
  std::uint64_t needs;
  bool needs_unknown;
};

// Group keys pack a class and two token buckets into 64 bits:
// [model:12][zone+1:10][slo_rank:11][ctx_rank:6][need:8][home:3][priority:2]
// [w bucket:6][in share:6]. Validate() bounds each field to its width.
AZ_HD inline std::uint64_t PackKey(const RequestClass& c, std::uint32_t w_bucket, std::uint32_t f_bucket) {
  return (static_cast<std::uint64_t>(c.model) << 52) | (static_cast<std::uint64_t>(c.zone + 1) << 42) |
         (static_cast<std::uint64_t>(c.slo_rank) << 31) | (static_cast<std::uint64_t>(c.ctx_rank) << 25) |
         (static_cast<std::uint64_t>(c.need) << 17) | (static_cast<std::uint64_t>(c.home) << 14) |
         (static_cast<std::uint64_t>(c.priority) << 12) | (w_bucket << 6) | f_bucket;
}

// Eligibility depends on a key's model, zone, SLO rank, context rank and
// requirement set only: its bits from here up.
inline constexpr int kEligibilityShift = 17;

// The features of requirement set `need` (none beyond the table).
AZ_HD inline void SetNeeds(const ModelView& m, RequestClass* c) {
  const bool known = c->need >= 0 && c->need < m.num_needs;
  c->needs = known ? m.need_features[c->need] : 0;
  c->needs_unknown = known && m.need_unknown[c->need] != 0;
}

AZ_HD inline RequestClass UnpackClass(const ModelView& m, std::uint64_t key) {
  RequestClass c;
  c.model = static_cast<std::int32_t>((key >> 52) & 0xFFF);
  c.zone = static_cast<std::int32_t>((key >> 42) & 0x3FF) - 1;
  c.slo_rank = static_cast<std::int32_t>((key >> 31) & 0x7FF);
  c.ctx_rank = static_cast<std::int32_t>((key >> 25) & 0x3F);
  c.need = static_cast<std::int32_t>((key >> 17) & 0xFF);
  c.home = static_cast<std::int32_t>((key >> 14) & 0x7);
  c.priority = static_cast<std::int32_t>((key >> 12) & 0x3);
  SetNeeds(m, &c);
  return c;
}

// SloRank()
//
// Number of distinct endpoint p95 latencies <= slo; endpoint p meets the SLO
// exactly when its own rank is below it (rule 4).
AZ_HD inline std::int32_t SloRank(const ModelView& m, std::int32_t slo_ms) {
  if (slo_ms <= 0) return kSloAny;
  std::int32_t lo = 0, hi = m.num_p95;
  while (lo < hi) {
    std::int32_t mid = (lo + hi) / 2;
    if (m.p95_sorted[mid] <= static_cast<double>(slo_ms))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

// ContextRank()
//
// Number of distinct endpoint context limits below the request's tokens w;
// endpoint p has room for the request exactly when its own rank is at least
// that (rule 6; unlimited endpoints rank num_ctx).
AZ_HD inline std::int32_t ContextRank(const ModelView& m, std::int64_t w) {
  std::int32_t lo = 0, hi = m.num_ctx;
  while (lo < hi) {
    std::int32_t mid = (lo + hi) / 2;
    if (m.ctx_sorted[mid] < w)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

// ClassOf(): the class of one request (w = tokens_in + tokens_out).
AZ_HD inline RequestClass ClassOf(const ModelView& m, std::int32_t model, std::int32_t zone, std::int32_t slo_ms,
                                  std::int64_t w, std::int32_t home, std::int32_t priority, std::int32_t need) {
  RequestClass c;
  c.model = model;
  c.zone = zone;
  c.slo_rank = SloRank(m, slo_ms);
  c.ctx_rank = ContextRank(m, w);
  c.need = need;
  c.home = home;
  c.priority = priority;
  SetNeeds(m, &c);
  return c;
}

// Buckets of the token count (sqrt(2) apart) and of the input-token share:
// requests in one bucket pair share the price phase's split.
AZ_HD inline std::uint32_t WeightBucket(std::int64_t w) {
  if (w <= 1) return 0;
  std::uint32_t h = 0;  // floor(log2(w))
  while ((w >> (h + 1)) != 0) ++h;
  const double half_step = 1.4142135623730951 * static_cast<double>(static_cast<std::int64_t>(1) << h);
  const std::uint32_t b = 2 * h + (static_cast<double>(w) >= half_step ? 1 : 0);
  return b > 63 ? 63 : b;
}
inline constexpr std::int64_t kShareBuckets = 32;
inline constexpr int kShareBits = 6;
inline constexpr std::uint64_t kShareMask = (std::uint64_t{1} << kShareBits) - 1;  // the key's share bits
inline constexpr std::uint64_t kCoarseShareMerge = 8;
AZ_HD inline std::uint32_t ShareBucket(std::int64_t tin, std::int64_t w) {
  if (w <= 0) return 0;
  const std::int64_t q = (kShareBuckets * tin) / (w + 1);
  return static_cast<std::uint32_t>(q > kShareBuckets - 1 ? kShareBuckets - 1 : q);
}

// FirstFailedRule()
//
// The first of rules 1-6 of docs/design.md (model, availability, zone, SLO,
// capability, context) that endpoint p fails for class c, or kRuleNone.
// Values follow the rules' order (kernels::Rule numbers them otherwise).
inline constexpr std::int32_t kRuleNone = 0;
AZ_HD inline std::int32_t FirstFailedRule(const ModelView& m, const RequestClass& c, std::int32_t p) {
  if (m.ep_model[p] != c.model) return 1;
  if (m.ep_available[p] == 0) return 2;
  if (c.zone >= 0 && m.ep_zone[p] != c.zone) return 3;
  if (m.ep_p95_rank[p] >= c.slo_rank) return 4;
  if (c.needs_unknown || (c.needs & ~m.ep_features[p]) != 0) return 5;
  if (m.ep_ctx_rank[p] < c.ctx_rank) return 6;
  return kRuleNone;
}

AZ_HD inline bool Gated(const ModelView& m, std::int32_t model) {
  return model < m.num_gated && m.launch_gated[model] != 0;
}

// Eligibility flags of one class, stored per group: bits 0-1 below, and
// with the waiver, the rule (1-6) that excluded Azure in bits 2-4.
inline constexpr std::uint8_t kWaiver = 1;      // launch gate waived: no Azure endpoint passes 1-6
inline constexpr std::uint8_t kNoEligible = 2;  // no endpoint at all
AZ_HD inline std::int32_t WaiverRule(std::uint8_t flags) { return (flags >> 2) & 0x7; }

// ClassEligibility()
//
// Writes elig[p] for all seven rules and returns the flags. Rule 7 (launch
// gate): while the model's Azure-first window is open, non-Azure endpoints
// are ineligible unless no Azure endpoint passes rules 1-6 (the waiver); the
// rule recorded is the one that stopped the Azure endpoint that got
// furthest (rule 1 when no Azure endpoint serves the model).
AZ_HD inline std::uint8_t ClassEligibility(const ModelView& m, const RequestClass& c, std::uint8_t* elig) {
  const std::int32_t n = m.num_endpoints;
  bool any_azure = false;
  std::int32_t azure_rule = 1;
  for (std::int32_t p = 0; p < n; ++p) {
    const std::int32_t rule = FirstFailedRule(m, c, p);
    elig[p] = rule == kRuleNone ? 1 : 0;
    if (m.ep_azure[p]) {
      any_azure = any_azure || elig[p];
      if (rule > azure_rule) azure_rule = rule;
    }
  }
  const bool gated = Gated(m, c.model);
  bool any = false;
  for (std::int32_t p = 0; p < n; ++p) {
    if (gated && any_azure && !m.ep_azure[p]) elig[p] = 0;
    any = any || elig[p];
  }
  std::uint8_t flags = 0;
  if (!any) flags |= kNoEligible;
  if (gated && !any_azure && any) flags |= static_cast<std::uint8_t>(kWaiver | (azure_rule << 2));
  return flags;
}

// Cost of a request on endpoint p: true USD, and the objective's units.
AZ_HD inline double TrueCost(const ModelView& m, std::int32_t home, double tin, double tout, std::int32_t p) {
  const std::int32_t i = home * m.num_endpoints + p;
  return tin * m.cost_in[i] + tout * m.cost_out[i] + m.cost_fixed[p];
}
AZ_HD inline double EffCost(const ModelView& m, std::int32_t home, double tin, double tout, std::int32_t p) {
  const std::int32_t i = home * m.num_endpoints + p;
  return tin * m.eff_in[i] + tout * m.eff_out[i] + m.eff_fixed[p];
}
// PricedCost(): the objective's cost of a request on endpoint p plus the
// prices of the capacity it takes (lam per token, mu per request).
AZ_HD inline double PricedCost(const ModelView& m, std::int32_t home, double tin, double tout, std::int32_t p,
                               const double* lam, const double* mu) {
  return EffCost(m, home, tin, tout, p) + lam[p] * (tin + tout) + mu[p];
}
AZ_HD inline double EffReject(const ModelView& m, std::int32_t priority, double tokens) {
  return m.eff_reject[priority] + m.eff_reject_per_token * tokens;
}

// TenantShift(): what a tenant's prices (per token, per request and per
// USD of its budget, `price[0..2]`) add to serving a request of w tokens
// whose least true cost among its endpoints is `least_usd`: the tenant
// limits' Lagrangian term (tenants.h). Priced tenants' requests weigh their
// rejection at EffReject less this, in the price phase, the rounding and
// the repair alike.
AZ_HD inline double TenantShift(const double* price, double w, double least_usd) {
  return price[0] * w + price[1] + price[2] * least_usd;
}

// PricedMinimum()
//
// A request's cheapest option under prices (lam per token, mu per request):
// its eligible endpoints' priced costs and rejection. Its term of the dual
// bound.
AZ_HD inline double PricedMinimum(const ModelView& m, const RequestClass& c, double tin, double tout,
                                  const std::uint8_t* elig, const double* lam, const double* mu) {
  double best = EffReject(m, c.priority, tin + tout);
  for (std::int32_t p = 0; p < m.num_endpoints; ++p) {
    if (!elig[p]) continue;
    const double rc = PricedCost(m, c.home, tin, tout, p, lam, mu);
    best = rc < best ? rc : best;
  }
  return best;
}

}  // namespace azimuth::kernels::internal

#endif  // AZIMUTH_KERNELS_SRC_MODEL_CUH_
