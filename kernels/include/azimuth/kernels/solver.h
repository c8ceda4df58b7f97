// Copyright 2026 Azimuth authors.
//
// solver.h — the batched assignment solver (docs/design.md, "The solver").
//
// Solve() assigns every request of a batch to one eligible endpoint or rejects
// it, minimising the policy's objective under every endpoint's token and
// request capacity. It runs a smoothed Lagrangian dual ascent over one price
// per (endpoint, resource) on aggregated request groups, rounds the smoothed
// split it converges to, admits per endpoint in exact integer arithmetic,
// fills the capacity left (with single swaps to make room), and evaluates
// the dual at the final prices over every request: a certified lower bound.
//
//   azimuth::kernels::SolverOptions options;
//   options.backend = azimuth::kernels::Backend::kAuto;  // CUDA if a GPU is present
//   azimuth::kernels::SolveResult result = azimuth::kernels::Solve(problem, options);
//   if (!result.ok()) { /* result.error().message names the field */ }
//   const azimuth::kernels::Solution& s = result.value();
//   // s.backend says which backend ran; s.gap is certified.
//
// The same source is compiled by nvcc (CUDA) and by the host compiler
// (Thrust's OpenMP backend). Thread safety: Solve() is reentrant; concurrent
// calls share nothing.
#ifndef AZIMUTH_KERNELS_SOLVER_H_
#define AZIMUTH_KERNELS_SOLVER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "azimuth/kernels/problem.h"

namespace azimuth::kernels {

// Backend
//
// `kAuto` picks CUDA when the library was built with it and a device is
// present, the OpenMP backend otherwise.
enum class Backend : std::uint8_t { kAuto = 0, kCuda = 1, kCpu = 2 };
const char* BackendName(Backend backend);  // "auto", "cuda", "cpu"

// CudaCompiledIn() / CudaDeviceAvailable()
//
// Whether this build has the CUDA backend, and whether it can run now.
bool CudaCompiledIn();
bool CudaDeviceAvailable();

// Prices
//
// The dual prices, in the objective's units: per endpoint, USD per token of
// capacity and USD per request of capacity. Consecutive batches warm-start
// from the previous solution's prices, and single requests are decided online
// from them (cheapest eligible endpoint after adding its prices).
struct Prices {
  std::vector<double> per_token;
  std::vector<double> per_request;
};

// IterationInfo
//
// Progress of the price phase, reported after each pass.
struct IterationInfo {
  int iteration;
  double temperature;  // smoothing, in objective units per request
  double overload;     // largest relative excess of load over capacity
};

// SolverOptions
struct SolverOptions {
  Backend backend = Backend::kAuto;
  // Upper bound on dual-ascent passes over the aggregated groups, per look
  // at the batch: one whose tenant limits bind gets a second look with its
  // priced tenants' requests grouped apart (Solution::iterations counts both).
  int max_iterations = 400;
  // Stop once the smoothed loads clear the capacities to this relative
  // tolerance at the final temperature.
  double tolerance = 1e-4;
  // Rounds of local moves after admission (reselect, repack, relocate,
  // exchange, and from the second round unblock: they close what integer
  // capacities leave open). Negative: automatic, three on batches up to
  // 100,000 requests and one above 150,000, since each round costs a few
  // passes over every request; there, one more reselect when the certified
  // gap is still above 4.5e-4.
  int repair_rounds = -1;
  // Fewer rounds where they are not needed: before each round the
  // assignment's certified gap is computed (one pass over the batch), and
  // once it is within this target the rounds stop. 0: every round runs.
  double repair_target_gap = 0;
  // Passes over the single requests for the certificate's prices, after the
  // price phase (which works on groups of requests with their mean token
  // counts). The assignment is unchanged; the certified lower bound is the
  // better of the two prices' dual values. Negative: automatic, 10 in strict
  // mode on batches up to 200,000 requests (where the groups' prices left
  // up to half the certified gap), none otherwise. At most 1,000.
  int bound_passes = -1;
  // Warm start: prices from a previous solve over the same endpoint table.
  // They are tried first at the final temperature: when they already clear
  // this problem's loads, that one pass ends the price phase. Otherwise the
  // endpoints whose loads are off bid (up to four rounds, each one pass
  // more) before the passes start over warmer.
  std::optional<Prices> initial_prices;
  // The quick look at a warm start (> 0): where its probe fails, the price
  // phase first ends at the bids' best prices when they nearly clear the
  // loads (4%) or improve on the probe (and no load is above 11x its
  // capacity), and when that answer's certified gap is within this target,
  // it is the solution. Otherwise the full phase runs too and the
  // better certified answer is kept (Solution::iterations and phase_ms count
  // both). 0: the full phase only. In [0, 1].
  double warm_target_gap = 0;
  // Strict mode's tier prices of the solve `initial_prices` came from (its
  // Solution::strict_azure_price and strict_reject_weight): strict prices are
  // in the units those tiers set, and each batch derives its own from its
  // requests. The solve keeps these, raising either only as far as this
  // batch needs, so that warm prices keep their meaning. 0: this batch's own.
  double initial_strict_azure_price = 0;
  double initial_strict_reject_weight = 0;
  // Called after every accepted price step (progress and diagnostics); may be
  // empty. Runs on the calling thread.
  std::function<void(const IterationInfo&)> on_iteration;
};

// PhaseTimes
//
// Where a solve's time went, in milliseconds of wall time (Solution::phase_ms).
struct PhaseTimes {
  double prepare = 0;   // validation and the host's model of the endpoints
  double groups = 0;    // upload, the grouping sort, eligibility, blocks
  double prices = 0;    // the price phase (coarse and fine levels)
  double bound = 0;     // the certificate's passes over single requests
  double rounding = 0;  // split rounding, the exact final pass, admission
  double repair = 0;    // the host's repair rounds and capacity fill
  double tenants = 0;   // tenant limits (trim, refill, their dual prices)
  double summary = 0;   // totals and the certificate
};

// Solution
//
// Owns its data. Per-request vectors are in input order.
struct Solution {
  std::vector<std::int32_t> endpoint;  // index into the endpoint table, -1 if rejected
  std::vector<Reason> reason;
  std::vector<double> cost;  // assignment cost in USD, or the rejection cost
  // kAzureWaiver only: the rule that excluded Azure (Explanation::waiver_rule);
  // kEligible for every other request.
  std::vector<Rule> waiver_rule;
  // kTenantLimit only: which of the tenant's limits refused it; empty when
  // no request was refused so.
  std::vector<TenantLimitKind> tenant_limit;

  double assign_cost_usd = 0;
  double reject_cost_usd = 0;
  double objective_usd = 0;      // assign + reject
  double azure_token_share = 0;  // tokens served on Azure / tokens served
  std::int64_t azure_tokens = 0;
  std::int64_t assigned = 0;
  std::int64_t rejected = 0;

  // The certificate. `mode_objective` is the policy's objective in USD
  // equivalents (for `kOff` exactly objective_usd; for `kWeighted` Azure costs
  // are discounted; for `kStrict` the tiered objective in which a rejection
  // weighs `strict_reject_weight` x its cost and every token served off Azure
  // costs `strict_azure_price`). `mode_lower_bound` is the dual value at the
  // final prices: a proven lower bound on the LP optimum of that objective.
  double mode_objective = 0;
  double mode_lower_bound = 0;
  // gap = (mode_objective - mode_lower_bound) / mode_objective, and
  // lower_bound_usd = objective_usd * (1 - gap), so that
  // gap = (objective_usd - lower_bound_usd) / objective_usd (docs/design.md).
  double gap = 0;
  double lower_bound_usd = 0;
  double strict_reject_weight = 1;
  double strict_azure_price = 0;

  Prices prices;
  int iterations = 0;
  std::int64_t groups = 0;  // aggregated request groups in the price phase (its last look)
  double solve_ms = 0;
  PhaseTimes phase_ms;
  Backend backend = Backend::kCpu;  // the backend that ran: kCuda or kCpu
};

// ErrorCode / Error
//
// Why a solve failed. The scheduler maps these onto absl::Status codes.
enum class ErrorCode : std::uint8_t {
  kInvalidArgument,    // the problem is malformed; message names the field
  kResourceExhausted,  // out of device or host memory
  kUnavailable,        // the requested backend is not available
  kInternal,           // a backend failure
};
struct Error {
  ErrorCode code;
  std::string message;
};

// Result<T>
//
// A value or an Error (the kernels library carries no abseil dependency).
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}      // NOLINT
  Result(Error error) : error_(std::move(error)) {}  // NOLINT
  bool ok() const { return value_.has_value(); }
  const Error& error() const { return *error_; }
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }

 private:
  std::optional<T> value_;
  std::optional<Error> error_;
};
using SolveResult = Result<Solution>;

// Validate()
//
// Checks sizes, ids and values of a problem; returns an empty optional when it
// is well formed. Solve() calls it first.
std::optional<Error> Validate(const ProblemView& problem);

// Solve()
//
// Solves one batch. Deterministic: identical input gives identical output on
// a given backend. Capacities and eligibility (launch gate included) are
// never violated; every request is answered exactly once.
SolveResult Solve(const ProblemView& problem, const SolverOptions& options = {});

}  // namespace azimuth::kernels

#endif  // AZIMUTH_KERNELS_SOLVER_H_
