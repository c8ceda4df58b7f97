// Copyright 2026 Azimuth authors.
//
// baselines.h — what the solver is measured against: the per-request greedy
// router a gateway runs, and its Azure-first variant. Both take requests in
// arrival order and use the same eligibility, cost and exact capacity rules as
// Solve(); they return the same Solution shape (no certificate: gap is 0 and
// lower bounds are unset).
//
//   auto greedy = azimuth::kernels::SolveGreedy(problem);
//   auto azure = azimuth::kernels::SolveAzureFirstGreedy(problem);
#ifndef AZIMUTH_KERNELS_BASELINES_H_
#define AZIMUTH_KERNELS_BASELINES_H_

#include "azimuth/kernels/problem.h"
#include "azimuth/kernels/solver.h"

namespace azimuth::kernels {

// SolveGreedy()
//
// Each request, in arrival order, goes to its cheapest eligible endpoint that
// still has room for it; otherwise it is rejected. Sequential on the host.
SolveResult SolveGreedy(const ProblemView& problem);

// SolveAzureFirstGreedy()
//
// Each request, in arrival order, goes to the first eligible Azure endpoint
// (table order) with room; if none, to the cheapest eligible endpoint with
// room; otherwise it is rejected.
SolveResult SolveAzureFirstGreedy(const ProblemView& problem);

}  // namespace azimuth::kernels

#endif  // AZIMUTH_KERNELS_BASELINES_H_
