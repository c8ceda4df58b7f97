// Copyright 2026 Azimuth authors.
//
// lp_reference.h — exact references for tests and benchmarks (never the
// product's hot path). Eligibility and cost are written out again here,
// sequentially and straight from docs/design.md, so that they check the solver's
// own tables rather than share them.
//
//   LpReference lp(problem);                 // COIN-OR CLP
//   LpReference highs(problem, LpEngine::kHighs);  // HiGHS, out of process
//   LpLevels levels = lp.SolveStrict();      // three lexicographic LPs
//   double opt = lp.SolveMode(AzureFirst::kOff).objective;
//   double flow = MinCostFlowOptimum(problem);  // LEMON, counts-only instances
#ifndef AZIMUTH_BENCH_REFERENCE_LP_REFERENCE_H_
#define AZIMUTH_BENCH_REFERENCE_LP_REFERENCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "azimuth/kernels/problem.h"
#include "azimuth/kernels/solver.h"

namespace azimuth::bench {

// ReferencePair: one eligible (request, endpoint) pair and its true cost.
struct ReferencePair {
  std::int32_t request;
  std::int32_t endpoint;
  double cost;
};

// ReferenceModel
//
// The problem spelled out: eligible pairs, rejection costs, capacities, and
// whether each request is under the launch-gate waiver.
struct ReferenceModel {
  std::vector<ReferencePair> pairs;
  std::vector<double> reject;  // per request
  std::vector<double> tokens;  // per request
  std::vector<std::uint8_t> waiver;
  std::vector<kernels::Rule> waiver_rule;  // with the waiver: the rule that excluded Azure
  std::vector<std::uint8_t> azure;         // per endpoint
  std::vector<std::int64_t> cap_tokens, cap_requests;
  // Eligibility of one pair, or -1: index into `pairs` by (request, endpoint).
  std::vector<std::int32_t> pair_of;  // [N * M]
  std::int32_t num_endpoints = 0;
  // Tenant limits: each request's tenant (-1: unlimited) and the limits.
  std::vector<std::int32_t> tenant;
  std::vector<kernels::TenantLimit> tenant_limits;
};
ReferenceModel BuildReferenceModel(const kernels::ProblemView& problem);

// LpLevels: one LP solution's values.
struct LpLevels {
  double reject_usd = 0;      // total rejection cost
  double azure_tokens = 0;    // tokens served on Azure
  double cost_usd = 0;        // total assignment cost
  double objective = 0;       // the objective that was minimised
  double seconds = 0;         // wall time, the model's construction included
  double engine_seconds = 0;  // the LP engine's own solve time
  bool optimal = false;
};

// LpEngine: which exact LP solver the reference runs. CLP (COIN-OR, Debian's
// coinor-libclp-dev) runs in this process, barrier with crossover. HiGHS runs
// out of process through PyPI's highspy: bench/reference/highs_venv.sh makes
// its venv, at build/<preset>/highs-venv by default or wherever the
// environment variable AZIMUTH_HIGHS_PYTHON names a python with highspy.
enum class LpEngine { kClp, kHighs };
const char* LpEngineName(LpEngine engine);

// LpReference
class LpReference {
 public:
  explicit LpReference(const kernels::ProblemView& problem, LpEngine engine = LpEngine::kClp);

  // The LP optimum of one mode's objective: kOff (cost + rejection),
  // kWeighted (Azure costs discounted). For kStrict, the three lexicographic
  // LPs in turn; `objective` is then the last tier's cost + rejection.
  LpLevels SolveMode(kernels::AzureFirst mode, double azure_discount = 0.0) const;
  LpLevels SolveStrict() const;
  // The LP optimum of the solver's single tiered objective for strict mode
  // (rejections weigh `reject_weight` x cost, tokens off Azure cost
  // `azure_price` each): what Solution::mode_lower_bound bounds.
  LpLevels SolveTiered(double reject_weight, double azure_price) const;

  const ReferenceModel& model() const { return model_; }

 private:
  ReferenceModel model_;
  LpEngine engine_;
};

// MinCostFlowOptimum()
//
// The exact integer optimum of the `kOff` objective by LEMON's network
// simplex, for instances where token capacity does not bind (only request
// counts do: a true network flow). Costs are rounded to 1e-9 USD.
double MinCostFlowOptimum(const kernels::ProblemView& problem);

// Invariants of docs/design.md on one solution: capacity, eligibility (launch gate
// included), one answer per request, reasons consistent with the endpoint,
// tenant limits (exact, and each refusal naming its limit), costs and
// totals, and strict mode's Azure-first invariant. Returns the
// first violation found, or an empty string.
std::string CheckInvariants(const kernels::ProblemView& problem, const kernels::Solution& solution);

}  // namespace azimuth::bench

#endif  // AZIMUTH_BENCH_REFERENCE_LP_REFERENCE_H_
