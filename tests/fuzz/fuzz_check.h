// Copyright 2026 Azimuth authors.
//
// fuzz_check.h — what every fuzz target asserts of the input it accepted: a
// solve of it never exceeds a capacity, answers every request once, keeps
// eligibility and strict mode's Azure-first invariant (the exact checker,
// bench/reference), and reports finite numbers. A violation aborts, which
// libFuzzer reports as a crash with the input.
#ifndef AZIMUTH_TESTS_FUZZ_FUZZ_CHECK_H_
#define AZIMUTH_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "azimuth/kernels/problem_data.h"
#include "azimuth/kernels/solver.h"
#include "bench/reference/lp_reference.h"
#include "bench/workload/generator.h"

namespace azimuth::fuzz {

[[noreturn]] inline void Fail(const std::string& what) {
  std::fprintf(stderr, "invariant violated: %s\n", what.c_str());
  std::abort();
}

inline void CheckFinite(double v, const char* what) {
  if (!std::isfinite(v)) Fail(std::string(what) + " is not finite");
}

// Solves `data` (few passes: the invariants hold at any pass count) and
// checks the answer. Inputs the solver refuses must be refused with
// INVALID_ARGUMENT, never crash.
inline void SolveAndCheck(kernels::ProblemData data) {
  kernels::SolverOptions options;
  options.backend = kernels::Backend::kCpu;
  options.max_iterations = 30;
  options.repair_rounds = 1;
  const kernels::SolveResult result = kernels::Solve(data.View(), options);
  if (!result.ok()) {
    if (result.error().code != kernels::ErrorCode::kInvalidArgument) Fail("solve failed: " + result.error().message);
    return;
  }
  const kernels::Solution& s = result.value();
  const std::string violation = bench::CheckInvariants(data.View(), s);
  if (!violation.empty()) Fail(violation);
  CheckFinite(s.objective_usd, "objective_usd");
  CheckFinite(s.lower_bound_usd, "lower_bound_usd");
  CheckFinite(s.gap, "gap");
  if (s.gap < 0 || s.gap > 1) Fail("gap outside [0, 1]");
  for (double c : s.cost) CheckFinite(c, "a request's cost");
}

// A small fixed workload (8 endpoints, 200 requests) to solve under a
// fuzzed policy, or to take a fuzzed endpoint table's requests from.
inline kernels::ProblemData SmallWorkload() {
  bench::WorkloadSpec spec;
  spec.requests = 200;
  spec.endpoints = 8;
  spec.seed = 7;
  spec.load = 1.2;
  return bench::GenerateWorkload(spec);
}

// `data`'s endpoints and policy, with no requests.
inline kernels::ProblemData WithoutRequests(kernels::ProblemData data) {
  data.request_id.clear();
  for (auto* column :
       {&data.rq_tenant, &data.rq_model, &data.rq_zone, &data.rq_tokens_in, &data.rq_tokens_out, &data.rq_slo}) {
    column->clear();
  }
  data.rq_home.clear();
  data.rq_priority.clear();
  return data;
}

}  // namespace azimuth::fuzz

#endif  // AZIMUTH_TESTS_FUZZ_FUZZ_CHECK_H_
