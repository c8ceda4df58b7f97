// Copyright 2026 Azimuth authors.
//
// tenants.h — tenant limits on a solved batch: each tenant's requests within
// its token, request and budget limits, exactly, and the capacity that frees
// filled again (docs/design.md, "Tenant limits").
#ifndef AZIMUTH_KERNELS_SRC_TENANTS_H_
#define AZIMUTH_KERNELS_SRC_TENANTS_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "azimuth/kernels/problem.h"
#include "prepared.h"

namespace azimuth::kernels::internal {

// EnforceTenantLimits()
//
// On a capacity-feasible assignment (phase->endpoint): every tenant over a
// limit keeps its requests of most value (rejection cost saved) per unit of
// the limits it overran, in a fixed order, and gives up the rest; then the
// requests rejected for capacity, most costly to reject first, take the
// room left where their tenant's limits allow (one that had room but not
// within them is refused by its tenant's limit); in strict mode, a
// request off Azure moves to an eligible Azure endpoint with room. Capacity
// and every tenant limit hold exactly afterwards. With policy.fair_share,
// after the Azure moves, refused requests take the places of other
// tenants' requests of their priority until no swap evens the weighted
// shares (docs/design.md, "Fair share"). A refused request's endpoint is
// TenantRejection(kind) (prepared.h). Does nothing without tenant limits
// or fair share.
void EnforceTenantLimits(const HostModel& host, const RequestsView& requests, const PolicyView& policy, AzureFirst mode,
                         PhaseResult* phase);

// TenantDualGain()
//
// What one price per tenant and limit adds to the dual value at the
// phase's endpoint prices: the Lagrangian term of each tenant's limits,
// maximised over its prices >= 0 by coordinate ascent (each step exact: a
// concave piecewise-linear function of one price). The budget's term takes
// each request's least true cost among its endpoints, so it bounds the
// exact one from below. Any prices >= 0 keep the sum a valid lower bound.
// Needs phase.assign_min and true_min (the backends fill them when the
// batch has tenants); 0 without tenant limits. *shift gets, per request,
// what its tenant's prices add to serving it (prices times its tokens, 1
// and its least true cost, TenantShift; left empty without tenant limits),
// and *prices, when given, the prices themselves ([3 x tenants]: per token,
// per request, per USD; zero for a tenant without limits).
double TenantDualGain(const HostModel& host, const RequestsView& requests, const PolicyView& policy,
                      const PhaseResult& phase, std::vector<double>* shift, std::vector<double>* prices = nullptr);

// MaximizeTenantPrice()
//
// The maximiser over x >= 0 of sum_k min(r[k], b[k] + x u[k]) - x limit
// (one tenant's term of the dual in one of its prices, the others fixed):
// the largest breakpoint (r[k] - b[k]) / u[k] at which the weight u of the
// breakpoints at or above it exceeds `limit`, or 0. `scratch` is reused
// between calls.
double MaximizeTenantPrice(const std::vector<double>& r, const std::vector<double>& b, const std::vector<double>& u,
                           double limit, std::vector<std::pair<double, double>>* scratch);

}  // namespace azimuth::kernels::internal

#endif  // AZIMUTH_KERNELS_SRC_TENANTS_H_
