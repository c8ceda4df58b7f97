// Copyright 2026 Azimuth authors.
//
// repair.h — the host's passes over a backend's admission (solver.cc runs
// them; DESIGN.md, "Solving it": evicted requests fall to their best endpoint
// with room, then local moves close what integer capacities leave open).
//
// Every pass keeps both capacities exact and eligibility intact, and makes a
// move only when it lowers the policy's objective (EffCost / EffReject). They
// make their moves sequentially in request order, so the result is
// reproducible (scans that only score requests run in parallel). Each pass
// costs O(pairs) plus sorting its candidate lists, where pairs is the number
// of eligible (request, endpoint) pairs.
#ifndef AZIMUTH_KERNELS_SRC_REPAIR_H_
#define AZIMUTH_KERNELS_SRC_REPAIR_H_

#include <cstdint>

#include "azimuth/kernels/problem.h"
#include "prepared.h"

namespace azimuth::kernels::internal {

// Repair()
//
// `rounds` of repack and exchange run after fill and make room (negative:
// automatic, SolverOptions::repair_rounds).
// Completes the admission in `phase.endpoint` (>= 0 admitted, -1 rejected by
// rounding, -2 evicted by capacity) into a full assignment (-1: rejected):
//   fill       requests not admitted take the endpoint with room that is
//              cheapest under the prices, while that beats rejection;
//   make room  a waiting request takes the place of one that moves to
//              another endpoint with room;
//   repack     an endpoint trades one of its requests for waiting ones that
//              fill its capacity better (the fragments two integer
//              capacities leave);
//   exchange   two requests on different endpoints trade places;
//   Azure      (strict mode) no request stays off Azure while an eligible
//              Azure endpoint has room for it: the mode's invariant.
void Repair(const HostModel& host, const RequestsView& requests, AzureFirst mode, int rounds, PhaseResult* phase);

}  // namespace azimuth::kernels::internal

#endif  // AZIMUTH_KERNELS_SRC_REPAIR_H_
