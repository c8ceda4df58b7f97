// Copyright 2026 Azimuth authors.
#include "azimuth/kernels/online.h"

#include <limits>
#include <string>
#include <utility>

#include "model.cuh"
#include "prepared.h"

namespace azimuth::kernels {

using internal::HostModel;
using internal::ModelView;
using internal::RequestClass;

struct OnlinePricer::Impl {
  HostModel host;
  ModelView view;
  std::vector<double> lam, mu;
  bool strict = false;  // Azure-first STRICT: never off Azure while Azure has room

  RequestClass Class(const OnlineRequest& r) const {
    RequestClass c =
        internal::ClassOf(view, r.model, r.zone, r.slo_ms, static_cast<std::int64_t>(r.tokens_in) + r.tokens_out,
                          static_cast<std::int32_t>(r.home_cloud), r.priority, /*need=*/-1);
    c.needs = r.needs.features;
    c.needs_unknown = r.needs.unknown;
    return c;
  }
};

OnlinePricer::OnlinePricer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OnlinePricer::OnlinePricer(OnlinePricer&&) noexcept = default;
OnlinePricer& OnlinePricer::operator=(OnlinePricer&&) noexcept = default;
OnlinePricer::~OnlinePricer() = default;

std::int32_t OnlinePricer::num_endpoints() const { return impl_->host.num_endpoints; }

Result<OnlinePricer> OnlinePricer::Create(const ProblemView& problem, const Solution* solution) {
  ProblemView endpoints_only = problem;
  endpoints_only.requests = RequestsView{};
  if (auto error = Validate(endpoints_only)) return *error;
  const std::size_t m = problem.endpoints.model.size;
  auto impl = std::make_unique<Impl>();
  if (solution != nullptr) {
    if (solution->prices.per_token.size() != m || solution->prices.per_request.size() != m) {
      return Error{ErrorCode::kInvalidArgument, "solution.prices: sized for another endpoint table"};
    }
    const internal::StrictTiers tiers{solution->strict_azure_price, solution->strict_reject_weight};
    impl->host =
        internal::Prepare(endpoints_only, problem.policy.azure_first == AzureFirst::kStrict ? &tiers : nullptr);
    impl->lam = solution->prices.per_token;
    impl->mu = solution->prices.per_request;
  } else {
    impl->host = internal::Prepare(endpoints_only);
    impl->lam.assign(m, 0.0);
    impl->mu.assign(m, 0.0);
  }
  impl->strict = problem.policy.azure_first == AzureFirst::kStrict;
  impl->view = impl->host.View();
  return OnlinePricer(std::move(impl));
}

OnlineDecision OnlinePricer::Decide(const OnlineRequest& request, Span<std::int64_t> tokens_left,
                                    Span<std::int64_t> requests_left, double max_cost) const {
  const Impl& s = *impl_;
  const ModelView& m = s.view;
  const RequestClass c = s.Class(request);
  std::uint8_t elig[kMaxEndpoints];  // Validate() bounds M: no allocation per decision
  const std::uint8_t flags = internal::ClassEligibility(m, c, elig);
  OnlineDecision d;
  d.cost = m.reject_usd[c.priority];
  if (flags & internal::kNoEligible) {
    d.reason = Reason::kNoEligibleEndpoint;
    return d;
  }
  if (tokens_left.size < static_cast<std::size_t>(m.num_endpoints) ||
      requests_left.size < static_cast<std::size_t>(m.num_endpoints)) {
    d.reason = Reason::kCapacityExhausted;  // no room known for some endpoint: a caller's bug, never a read past
    return d;
  }
  const double tin = request.tokens_in, tout = request.tokens_out;
  const std::int64_t w = static_cast<std::int64_t>(request.tokens_in) + request.tokens_out;
  // One pass keeps the best candidate overall and the best on Azure. Strict
  // mode's invariant holds on this path too: while an eligible Azure
  // endpoint has room, the decision is among Azure endpoints, whatever
  // earlier prices say of the others.
  const double reject = internal::EffReject(m, c.priority, tin + tout);
  double best = reject, best_azure = reject;
  std::int32_t azure_endpoint = -1;
  bool azure_room = false, over_budget = false;
  const bool budget = max_cost < HUGE_VAL;
  for (std::int32_t p = 0; p < m.num_endpoints; ++p) {
    if (!elig[p] || tokens_left[p] < w || requests_left[p] < 1) continue;
    if (budget && internal::TrueCost(m, c.home, tin, tout, p) > max_cost) {
      over_budget = true;
      continue;
    }
    const double priced = internal::PricedCost(m, c.home, tin, tout, p, s.lam.data(), s.mu.data());
    if (priced < best) {  // ties keep the lower index: deterministic
      best = priced;
      d.endpoint = p;
    }
    if (m.ep_azure[p]) {
      azure_room = true;
      if (priced < best_azure) {
        best_azure = priced;
        azure_endpoint = p;
      }
    }
  }
  if (s.strict && azure_room) d.endpoint = azure_endpoint;
  if (d.endpoint < 0) {
    // Some endpoint with room was beyond the budget: the tenant limit.
    d.reason = over_budget ? Reason::kTenantLimit : Reason::kCapacityExhausted;
    return d;
  }
  d.reason = (flags & internal::kWaiver) ? Reason::kAzureWaiver : Reason::kOk;
  if (d.reason == Reason::kAzureWaiver) d.waiver_rule = internal::ToRule(internal::WaiverRule(flags));
  d.cost = internal::TrueCost(m, c.home, tin, tout, d.endpoint);
  return d;
}

Explanation OnlinePricer::Explain(const OnlineRequest& request) const {
  const Impl& s = *impl_;
  const ModelView& m = s.view;
  const RequestClass c = s.Class(request);
  std::uint8_t elig[kMaxEndpoints];
  const std::uint8_t flags = internal::ClassEligibility(m, c, elig);
  const double tin = request.tokens_in, tout = request.tokens_out;
  Explanation e;
  e.waiver = (flags & internal::kWaiver) != 0;
  if (e.waiver) e.waiver_rule = internal::ToRule(internal::WaiverRule(flags));
  e.reject_objective_usd = internal::EffReject(m, c.priority, tin + tout);
  for (std::int32_t p = 0; p < m.num_endpoints; ++p) {
    Candidate k;
    k.endpoint = p;
    const std::int32_t rule = internal::FirstFailedRule(m, c, p);
    k.excluded_by = internal::ToRule(rule != internal::kRuleNone ? rule : elig[p] ? internal::kRuleNone : 7);
    k.cost_usd = internal::TrueCost(m, c.home, tin, tout, p);
    k.objective_usd = internal::EffCost(m, c.home, tin, tout, p);
    k.token_price = s.lam[p];
    k.request_price = s.mu[p];
    k.priced_usd = internal::PricedCost(m, c.home, tin, tout, p, s.lam.data(), s.mu.data());
    if (elig[p] && m.ep_azure[p] && s.lam[p] > e.azure_shadow_price) e.azure_shadow_price = s.lam[p];
    e.candidates.push_back(k);
  }
  return e;
}

}  // namespace azimuth::kernels
