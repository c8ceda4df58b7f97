// Copyright 2026 Azimuth authors.
//
// prepared.h — the host-side half of a solve: the problem turned into cost
// and eligibility tables (HostModel), the interface each backend implements
// (RunBackend*), and what a backend hands back for the host's final passes.
#ifndef AZIMUTH_KERNELS_SRC_PREPARED_H_
#define AZIMUTH_KERNELS_SRC_PREPARED_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "azimuth/kernels/problem.h"
#include "azimuth/kernels/solver.h"
#include "model.cuh"

namespace azimuth::kernels::internal {

// HostModel
//
// Owns the host copies of every table a ModelView points to, plus the exact
// integer capacities. Built once per solve by Prepare().
struct HostModel {
  std::int32_t num_endpoints = 0;
  std::vector<std::int32_t> ep_model, ep_zone, ep_p95_rank;
  std::vector<std::uint8_t> ep_available, ep_azure;
  std::vector<double> p95_sorted;
  std::vector<std::uint8_t> launch_gated;
  std::vector<std::uint64_t> ep_features;
  std::vector<std::int32_t> ep_ctx_rank;
  std::vector<std::int64_t> ctx_sorted;
  std::vector<std::uint64_t> need_features;
  std::vector<std::uint8_t> need_unknown;
  std::vector<double> cost_in, cost_out, cost_fixed;
  std::vector<double> eff_in, eff_out, eff_fixed;
  double reject_usd[4] = {0, 0, 0, 0};
  double eff_reject[4] = {0, 0, 0, 0};
  double eff_reject_per_token = 0;
  std::vector<std::int64_t> cap_tokens, cap_requests;
  double strict_reject_weight = 1;
  double strict_azure_price = 0;
  double mean_tokens = 1;
  // Some request's tenant has limits: the final pass keeps each request's
  // least costs for the certificate's tenant prices (TenantDualGain).
  bool tenant_limits = false;

  ModelView View() const;
};

// ToRule(): kernels::Rule of a rule number of FirstFailedRule() (model.cuh);
// 7 is the launch gate.
Rule ToRule(std::int32_t rule_number);

// Prepare()
//
// Builds the tables of a validated problem. In strict mode the tiers become
// one objective whose weights are derived from the data: every token served
// off Azure (or rejected) costs `strict_azure_price`, more than any token's
// cost difference between endpoints, and a rejection weighs
// `strict_reject_weight` x its USD cost, more than any Azure gain it could buy.
// `tiers`, when given, fixes those two weights instead (online decisions use
// the weights of the batch whose prices they use); with `at_least`, they are
// floors: a weight this batch needs higher is raised to what it needs (a
// warm-started batch keeps its prices' units where they still order its
// tiers).
struct StrictTiers {
  double azure_price;
  double reject_weight;
  bool at_least = false;
};
HostModel Prepare(const ProblemView& problem, const StrictTiers* tiers = nullptr);

// Blocks
//
// The eligibility graph's connected components: two endpoints are in one
// block when some request class may go to both (so blocks never span
// models). Prices of different blocks do not interact, so the price step's
// curvature is block-diagonal: a price pass accumulates one block's sums
// per chunk of its groups, and the host takes one Newton step per block.
// The last block has no endpoints: it holds the groups with no eligible
// endpoint (their rejection cost is part of the dual value).
struct Blocks {
  std::int32_t count = 0;               // blocks, the empty one included
  std::vector<std::int32_t> endpoints;  // by block, ascending within one
  std::vector<std::int32_t> start;      // [count + 1]: block b's endpoints[start[b] .. start[b + 1])
  std::vector<std::int32_t> block_of;   // [M]
  std::vector<std::int32_t> local;      // [M]: index within its block
  std::vector<std::uint8_t> dense;      // [count]: full curvature, or its 2x2 diagonal blocks
  std::vector<std::int64_t> offset;     // [count + 1]: block b's sums at offset[b] .. offset[b + 1]
  std::int32_t Size(std::int32_t b) const { return start[b + 1] - start[b]; }
};
// Above this many endpoints a block's price step uses only the 2x2 diagonal
// blocks of its curvature (the dense system would cost (2m)^3 / 3 a pass).
inline constexpr std::int32_t kDenseNewtonMaxEndpoints = 512;

// Blocks from the eligibility classes' rows of `elig` ([classes x M]).
Blocks FindBlocks(std::int32_t num_endpoints, const std::vector<std::uint8_t>& elig);

// PhaseResult
//
// What a backend returns: the group structure, the admission outcome per
// request (endpoint >= 0 admitted, -1 rounded to rejection, -2 evicted by
// capacity), the final prices and the dual value at them.
struct PhaseResult {
  std::vector<std::int32_t> group_of;     // [N]
  std::vector<std::uint64_t> group_key;   // [G]
  std::vector<std::int32_t> group_head;   // [G]: the group's eligibility class, its row of group_elig
  std::vector<std::uint8_t> group_elig;   // [classes * M]
  std::vector<std::int64_t> group_eoff;   // [G + 1]: group g's eligible endpoints are
  std::vector<std::int32_t> group_elist;  //   group_elist[group_eoff[g] .. group_eoff[g + 1])
  std::vector<std::uint8_t> group_flags;  // [G]
  Blocks blocks;                          // FindBlocks(M, group_elig)
  std::vector<std::int32_t> endpoint;     // [N]
  double sum_best = 0;                    // sum over requests of the priced minimum
  Prices prices;
  // The same at the prices a few passes over the single requests reach
  // (empty when none ran); the certificate is the better of the two
  // (ModeLowerBound).
  double bound_sum_best = 0;
  Prices bound_prices;
  int iterations = 0;
  // The quick look ended the price phase at the warm start's bids, where
  // the full phase would have gone on (so a full look may do better).
  bool cut_short = false;
  // With tenant limits: per request, its priced minimum over its eligible
  // endpoints at `prices` and their least true cost (+inf without any), and
  // what the tenants' own prices add to the dual value (tenants.h).
  std::vector<double> assign_min, true_min;
  double tenant_gain = 0;
  // [N] what the tenant prices that reach tenant_gain add to serving each
  // request (empty without tenant limits); Repair weighs rejections with it.
  std::vector<double> tenant_shift;
  // The best certified bound of the solve's earlier looks at the batch
  // (SolveWithTenantPrices); ModeLowerBound takes it where it is higher.
  double prior_bound = -HUGE_VAL;
  // With TenantPricing: the price phase's tenant prices, by slot (as
  // TenantPricing::price), and by tenant ([3 x tenants], for TenantDualGain
  // to start from; empty: from zero).
  std::vector<double> slot_prices, tenant_start;
  PhaseTimes ms;  // the backend's phases (groups .. rounding), over every look
};

// TenantPricing
//
// The tenant prices a solve found binding (TenantDualGain), for another
// look at the batch: each priced tenant's requests form groups of their own
// (a slot of the group key), whose rejection weighs EffReject less the
// tenant's TenantShift in the price passes, the split, its rounding and
// the admission keys. The certified bound is unchanged by it (its terms
// take the tenant prices separately, tenant_gain).
inline constexpr int kSlotBits = 20;
inline constexpr std::int32_t kMaxSlots = (std::int32_t{1} << kSlotBits) - 1;
struct TenantPricing {
  std::vector<std::int32_t> slot;  // [N]: 0 (not priced), or 1 .. kMaxSlots
  std::vector<double> price;       // [3 x (slots + 1)]: slot s's TenantShift prices at 3s; slot 0's are 0
  std::vector<double> limit;       // [3 x (slots + 1)]: its tokens, requests, USD limits (0: none)
};

// TenantPhase
//
// The price phase's view of the priced tenants on one level of groups: each
// group's slot, count and what one of its requests uses of the three limits
// (mean tokens, 1, least true cost: TenantShift's terms), and per slot its
// limits and what all its groups would use if every request were served.
struct TenantPhase {
  std::vector<std::int32_t> slot;    // [G]
  std::vector<double> count;         // [G]
  std::vector<double> use;           // [3 x G]
  std::vector<double> limit, total;  // [3 x slots]
  TenantPhase(const std::vector<std::int32_t>& group_slot, const std::vector<std::int64_t>& group_count,
              const std::vector<double>& tin, const std::vector<double>& tout, const std::vector<double>& least_usd,
              const std::vector<double>& slot_limit);
  // What the tenant prices add to the smoothed dual (its request terms are
  // the price pass's): sum over slots of price x (total - limit).
  double Value(const std::vector<double>& price) const;
};

// UpdateTenantPrices()
//
// One damped Newton step of the smoothed dual in the tenant prices, from a
// pass's reject share per group (the tenants' own curvature: one small
// system per slot over its binding limits), clipped and floored at zero like
// UpdatePrices'. Returns the largest relative violation: use above a limit,
// or below one that still carries a price.
double UpdateTenantPrices(const TenantPhase& tenants, const std::vector<double>& reject_share, double tau,
                          bool diagonal, std::vector<double>* price);

// The backends: the same template (solver_impl.cuh) compiled by the host
// compiler for OpenMP and by nvcc for CUDA. They may throw std::bad_alloc or
// thrust::system_error; Solve() turns those into Errors. `tenants` may be
// null (no tenant prices). With `quick`, a warm start's price phase ends
// at its best probe after the bids (PhaseResult::cut_short; Solve's quick
// look, SolverOptions::warm_target_gap).
PhaseResult RunBackendCpu(const HostModel& model, const RequestsView& requests, const SolverOptions& options,
                          const TenantPricing* tenants, bool quick);
#if defined(AZIMUTH_HAS_CUDA)
PhaseResult RunBackendCuda(const HostModel& model, const RequestsView& requests, const SolverOptions& options,
                           const TenantPricing* tenants, bool quick);
bool CudaDevicePresent();
#endif

// Index of endpoint pair (a, b), a <= b, in the packed upper triangle of a
// block of m endpoints; the pairs of one `a` are contiguous in b.
AZ_HD inline std::int64_t PackedPair(std::int32_t m, std::int32_t a, std::int32_t b) {
  const std::int64_t x = a;
  return x * m - x * (x + 1) / 2 + b;
}
AZ_HD inline std::int64_t PackedPairs(std::int32_t m) { return static_cast<std::int64_t>(m) * (m + 1) / 2; }
// The sums of one block of m endpoints: tokens [m], requests [m], the
// smoothed request term [1], then either the dense curvature (the upper
// triangle of endpoint pairs, [PackedPairs(m)][3]: each pair's 2x2 block is
// [[w^2, w], [w, 1]]-weighted, so three sums) or its diagonal ([3][m]: w^2,
// w, 1 sums), then at TangentAt the loads' tangent in the temperature
// (tokens [m], requests [m]): sum_g n_g pi_gp (x_gp - x_bar_g) (times w_g
// for tokens), x an option's priced cost over the temperature and x_bar
// its group's mean; to first order, cooling to c x tau moves each load by
// (c - 1) x its tangent.
AZ_HD inline std::int64_t TangentAt(std::int32_t m, bool dense) {
  return 2 * static_cast<std::int64_t>(m) + 1 + 3 * (dense ? PackedPairs(m) : m);
}
inline std::int64_t BlockWidth(std::int32_t m, bool dense) { return TangentAt(m, dense) + 2 * m; }

// SmoothedDualValue(): the smoothed dual at the prices of a pass, from its
// sums (laid out by `blocks.offset`).
double SmoothedDualValue(const HostModel& model, const Blocks& blocks, const std::vector<double>& sums,
                         const std::vector<double>& lam, const std::vector<double>& mu);

// PricedViolation(): how far one constraint is from the optimality
// conditions, given its relative gap (use - limit) / limit: excess use, or
// slack that still carries a price. CapacityViolation(): an endpoint
// capacity's (UpdatePrices' measure, and what makes an endpoint bid), in
// tokens (`tokens`) or requests. Relative to the capacity, but never to
// less than kCapacityGrain requests (of the batch's mean tokens): a batch
// that meets an endpoint with room for two requests cannot settle its
// smoothed load there to a few percent, since each cooling moves a
// fraction of a request (a server batch ran to its pass cap so, at 0.04-
// 0.16 on such an endpoint with every other load clear), while an excess of
// a request or two is what admission and repair settle anyway.
constexpr double kCapacityGrain = 25;
inline double PricedViolation(double relative_gap, double price) {
  return price > 0 ? std::abs(relative_gap) : relative_gap;
}
inline double CapacityViolation(const HostModel& host, double load, double capacity, double price, bool tokens) {
  const double grain = tokens ? kCapacityGrain * host.mean_tokens : kCapacityGrain;
  return PricedViolation((load - capacity) / std::max(capacity, grain), price);
}

// UpdatePrices()
//
// One damped Newton step of the smoothed dual per block, from the loads
// and curvature of the pass; in a dense block, the coordinates whose step
// leaves its bounds (the clip, the floor at zero) are held there and the
// others solved again. Host code shared by both backends.
// With `diagonal`, every coordinate steps by its own curvature only (a
// scaled gradient step: an ascent direction whatever the bounds clip), by
// at most a few temperatures' worth (a trust region).
// With `cooling` below 1 the next pass runs at cooling x tau, and the step
// aims at the loads predicted there from the pass's tangent (a
// predictor-corrector path: the corrector is the Newton step itself).
// No endpoint's price moves by more than `reach` temperatures for its mean
// request (a block's step beyond it is scaled back; not the diagonal step,
// which has its own trust region). Returns the step's reach: the most any
// endpoint's price moved, in those units.
double UpdatePrices(const HostModel& model, const Blocks& blocks, const std::vector<double>& sums, double tau,
                    bool diagonal, double cooling, std::vector<double>* lam, std::vector<double>* mu,
                    double reach = HUGE_VAL);

// PriceViolation(): the largest relative violation of the optimality
// conditions at a pass's prices (CapacityViolation over every endpoint's
// tokens and requests): excess load, or idle capacity that still carries a
// price.
double PriceViolation(const HostModel& model, const Blocks& blocks, const std::vector<double>& sums,
                      const std::vector<double>& lam, const std::vector<double>& mu);

// ModeLowerBound()
//
// The certificate: the dual value at the phase's final prices (with the
// tenants' prices, tenant_gain), a lower bound on the LP optimum of the
// mode's objective.
double ModeLowerBound(const HostModel& host, const PhaseResult& phase);

// A request refused by its tenant's limits carries endpoint
// TenantRejection(kind), kTenantRejected and below, until Summarize()
// reports it (tenants.h).
inline constexpr std::int32_t kTenantRejected = -3;
inline std::int32_t TenantRejection(TenantLimitKind kind) {
  return kTenantRejected + 1 - static_cast<std::int32_t>(kind);
}
inline TenantLimitKind TenantRejectionKind(std::int32_t endpoint) {
  return static_cast<TenantLimitKind>(kTenantRejected + 1 - endpoint);
}

// Summarize()
//
// Fills a Solution's per-request costs and reasons and its totals (all but
// the certificate) from a complete assignment `endpoint` (-1, -2: rejected;
// -3 and below: refused by the tenant's limits, tenants.h).
// `class_of(i)` and `flags_of(i)` give request i's class and eligibility
// flags. Sums run in request order, so they are reproducible.
template <typename ClassOf, typename FlagsOf>
void Summarize(const HostModel& host, const RequestsView& r, const std::vector<std::int32_t>& endpoint,
               ClassOf class_of, FlagsOf flags_of, Solution* s) {
  const std::int64_t n = static_cast<std::int64_t>(r.model.size);
  const ModelView v = host.View();
  s->endpoint = endpoint;
  s->reason.resize(n);
  s->waiver_rule.assign(n, Rule::kEligible);
  s->tenant_limit.clear();
  s->cost.resize(n);
  std::int64_t served_tokens = 0;
  double mode_objective = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const RequestClass c = class_of(i);
    const double tin = r.tokens_in[i], tout = r.tokens_out[i];
    const std::int64_t w = static_cast<std::int64_t>(r.tokens_in[i]) + r.tokens_out[i];
    const std::uint8_t flags = flags_of(i);
    const std::int32_t p = endpoint[i];
    if (p >= 0) {
      s->cost[i] = TrueCost(v, c.home, tin, tout, p);
      mode_objective += EffCost(v, c.home, tin, tout, p);
      s->reason[i] = (flags & kWaiver) && !host.ep_azure[p] ? Reason::kAzureWaiver : Reason::kOk;
      if (s->reason[i] == Reason::kAzureWaiver) s->waiver_rule[i] = ToRule(WaiverRule(flags));
      s->assign_cost_usd += s->cost[i];
      served_tokens += w;
      if (host.ep_azure[p]) s->azure_tokens += w;
      ++s->assigned;
    } else {
      s->cost[i] = v.reject_usd[c.priority];
      mode_objective += EffReject(v, c.priority, static_cast<double>(w));
      s->reason[i] = (flags & kNoEligible) ? Reason::kNoEligibleEndpoint : Reason::kCapacityExhausted;
      if (p <= kTenantRejected) {
        if (s->tenant_limit.empty()) s->tenant_limit.assign(n, TenantLimitKind::kNone);
        s->tenant_limit[i] = TenantRejectionKind(p);
        s->reason[i] = Reason::kTenantLimit;
        s->endpoint[i] = -1;
      }
      s->reject_cost_usd += s->cost[i];
      ++s->rejected;
    }
  }
  s->objective_usd = s->assign_cost_usd + s->reject_cost_usd;
  s->azure_token_share = served_tokens ? static_cast<double>(s->azure_tokens) / served_tokens : 0.0;
  s->mode_objective = mode_objective;
  s->strict_reject_weight = host.strict_reject_weight;
  s->strict_azure_price = host.strict_azure_price;
}

}  // namespace azimuth::kernels::internal

#endif  // AZIMUTH_KERNELS_SRC_PREPARED_H_
