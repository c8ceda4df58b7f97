// Copyright 2026 Azimuth authors.
//
// online.h — single requests decided at once from a batch's dual prices
// (docs/design.md, "The solver"), and the explanation of any
// decision: which endpoints were eligible, which rule excluded each other one,
// the cost on each and the prices that bound.
//
//   auto pricer = azimuth::kernels::OnlinePricer::Create(problem, solution);
//   if (!pricer.ok()) { ... }
//   OnlineDecision d = pricer.value().Decide(request, tokens_left, requests_left);
//
// Decide() is O(M): the request takes its cheapest eligible endpoint with room
// after adding that endpoint's prices, or is rejected when even that costs more
// than the rejection (the prices say the capacity is worth more to others).
// In strict mode only Azure endpoints are candidates while an eligible one
// has room (docs/design.md's strict invariant, on this path too).
// The same eligibility and cost functions as the batch solver (src/model.cuh).
// Thread safety: const methods may be called concurrently.
#ifndef AZIMUTH_KERNELS_ONLINE_H_
#define AZIMUTH_KERNELS_ONLINE_H_

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "azimuth/kernels/problem.h"
#include "azimuth/kernels/solver.h"

namespace azimuth::kernels {

// OnlineRequest
//
// One request, its strings interned against the endpoint table's ids (zone -1:
// any). A model or zone no endpoint has is given as kUnknownId: nothing is
// eligible then.
inline constexpr std::int32_t kUnknownId = 0x7fffffff;

struct OnlineRequest {
  std::int32_t model = 0;
  std::int32_t zone = -1;
  std::int32_t tokens_in = 0;
  std::int32_t tokens_out = 0;
  std::int32_t slo_ms = 0;
  Cloud home_cloud = Cloud::kAzure;
  std::uint8_t priority = 0;
  Needs needs;  // required features, as bits of the endpoint table's features
};

// OnlineDecision
struct OnlineDecision {
  std::int32_t endpoint = -1;  // -1: rejected
  Reason reason = Reason::kNoEligibleEndpoint;
  double cost = 0;                     // USD: the assignment's cost, or the rejection cost
  Rule waiver_rule = Rule::kEligible;  // kAzureWaiver: the rule that excluded Azure
};

// Candidate
//
// One endpoint as seen by one request.
struct Candidate {
  std::int32_t endpoint = 0;
  Rule excluded_by = Rule::kEligible;
  double cost_usd = 0;       // the assignment's cost in USD
  double objective_usd = 0;  // the policy's objective (discounts, Azure tier)
  double token_price = 0;    // the endpoint's dual price per token
  double request_price = 0;  // the endpoint's dual price per request
  double priced_usd = 0;     // objective + the capacity it takes, at the prices
};

// Explanation
struct Explanation {
  std::vector<Candidate> candidates;  // every endpoint, in table order
  bool waiver = false;                // the launch gate is waived for this request
  // With the waiver: the rule that excluded Azure (of the Azure endpoints
  // serving the model, the last rule the one that got furthest failed;
  // kModel when none serves it).
  Rule waiver_rule = Rule::kEligible;
  double reject_objective_usd = 0;  // what rejecting it costs in the objective
  // The marginal value of one more token of Azure capacity for this request:
  // the largest token price among its eligible Azure endpoints.
  double azure_shadow_price = 0;
};

// OnlinePricer
class OnlinePricer {
 public:
  // Create()
  //
  // Tables for `problem`'s endpoints and policy (its requests are ignored),
  // with the prices and strict-mode tier weights of `solution`, the batch
  // solve over the same endpoint table. With no solution yet, prices are zero
  // and the tiers are derived from the endpoints alone.
  static Result<OnlinePricer> Create(const ProblemView& problem, const Solution* solution);

  // Decide()
  //
  // The request's endpoint among those with room: tokens_left[p] >= its tokens
  // and requests_left[p] >= 1 (both of size M), and whose true cost is at
  // most `max_cost` (what its tenant's budget has left). Rejected for want
  // of budget alone: kTenantLimit. Allocates nothing.
  OnlineDecision Decide(const OnlineRequest& request, Span<std::int64_t> tokens_left, Span<std::int64_t> requests_left,
                        double max_cost = HUGE_VAL) const;

  // Explain()
  Explanation Explain(const OnlineRequest& request) const;

  std::int32_t num_endpoints() const;

  OnlinePricer(OnlinePricer&&) noexcept;
  OnlinePricer& operator=(OnlinePricer&&) noexcept;
  ~OnlinePricer();

 private:
  struct Impl;
  explicit OnlinePricer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace azimuth::kernels

#endif  // AZIMUTH_KERNELS_ONLINE_H_
