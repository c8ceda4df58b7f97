// Copyright 2026 Azimuth authors.
//
// repair.h — the host's passes over a backend's admission (solver.cc runs
// them; docs/design.md, "The solver": evicted requests fall to their best endpoint
// with room, then local moves close what integer capacities leave open).
//
// Every pass keeps both capacities exact and eligibility intact, and makes a
// move only when it lowers the policy's objective (EffCost / EffReject). They
// make their moves in a fixed order, block by block of the eligibility graph
// (a request's options lie in one block, so no move crosses blocks), the
// blocks in parallel: the result is reproducible whatever the threads
// (scans that only score requests run in parallel too). Each pass costs
// O(pairs) plus sorting its candidate lists, where pairs is the number of
// eligible (request, endpoint) pairs.
#ifndef AZIMUTH_KERNELS_SRC_REPAIR_H_
#define AZIMUTH_KERNELS_SRC_REPAIR_H_

#include <cstdint>
#include <vector>

#include "azimuth/kernels/problem.h"
#include "prepared.h"

namespace azimuth::kernels::internal {

// Repair()
//
// `rounds` of reselect, repack, relocate, unblock and exchange run after
// fill and make room (negative: automatic, SolverOptions::repair_rounds),
// fewer when the assignment's certified gap is already within `target_gap`
// before a round (> 0; SolverOptions::repair_target_gap).
// Completes the admission in `phase.endpoint` (>= 0 admitted, -1 rejected by
// rounding, -2 evicted by capacity) into a full assignment (-1: rejected):
//   fill       requests not admitted take the endpoint with room that is
//              cheapest under the prices, while that beats rejection;
//   make room  a waiting request takes the place of one that moves to
//              another endpoint with room;
//   reselect   an endpoint chooses its requests anew among its own, the
//              waiting ones and those the prices place on it that sit on
//              other endpoints, by its two-capacity knapsack
//              (SolveKnapsack);
//   repack     an endpoint trades one of its requests for waiting ones that
//              fill its capacity better (the fragments two integer
//              capacities leave);
//   relocate   a request moves to a cheaper endpoint with room;
//   unblock    a request the prices place elsewhere moves there, once a few
//              requests there move on to endpoints with room;
//   exchange   two requests on different endpoints trade places;
//   Azure      (strict mode) no request stays off Azure while an eligible
//              Azure endpoint has room for it: the mode's invariant.
void Repair(const HostModel& host, const RequestsView& requests, AzureFirst mode, int rounds, double target_gap,
            PhaseResult* phase);

// EnforceCapacity()
//
// The capacity invariant, checked exactly in integers whatever the
// arithmetic before it did (no cost or price, NaN included, can break it):
// an endpoint over either capacity gives back its latest requests
// (*endpoint = -2) until both hold. Solve() runs it last.
void EnforceCapacity(const HostModel& host, const RequestsView& requests, std::vector<std::int32_t>* endpoint);

// One item of an endpoint's knapsack (Reselect): its value, tokens and
// request.
struct KnapsackItem {
  double value;
  std::int64_t tokens;
  std::int64_t request;
};

// SolveKnapsack()
//
// Chooses items (*chosen) within `tokens` and `requests` by the knapsack's
// LP. At a token price lam, the LP takes the `requests` items of highest
// positive score value - lam * tokens; the tokens they take fall as lam
// rises (they are the dual's subgradient), so bisection finds the least lam
// at which they fit, bracketed first around `guess` (the endpoint's dual
// price, near the answer). The LP splits at most two items, so taking the
// LP's choice at that price and then the other items in score order where
// they still fit comes within two items' values of the LP bound, and
// SwapIntoRemainder then recovers most of that. Items
// whose place no price in the bracket can change leave the search as it
// narrows (taken when they rank in the top for every price in it, dropped
// when they rank below it), so most passes see few items. Returns the chosen
// items' total value.
double SolveKnapsack(const std::vector<KnapsackItem>& items, std::int64_t tokens, std::int64_t requests, double guess,
                     std::vector<std::uint8_t>* chosen);

// SwapIntoRemainder()
//
// Improves a choice (*chosen) with `room_t` tokens left: up to a few
// times, one chosen item trades places with one of the unchosen items of
// highest score at token price `lam` that fits in its place, when that
// raises the total value. So the remainder that rounding leaves when both
// capacities bind is filled by a larger item in place of a smaller one.
void SwapIntoRemainder(const std::vector<KnapsackItem>& items, double lam, std::int64_t room_t,
                       std::vector<std::uint8_t>* chosen);

}  // namespace azimuth::kernels::internal

#endif  // AZIMUTH_KERNELS_SRC_REPAIR_H_
