// Copyright 2026 Azimuth authors.
//
// baselines.cc — the per-request routers the solver is compared with. They
// share eligibility, cost and the capacity rule with Solve() (model.cuh) and
// differ only in deciding one request at a time, in arrival order.
#include "azimuth/kernels/baselines.h"

#include <chrono>
#include <vector>

#include "prepared.h"

namespace azimuth::kernels {
namespace {

using internal::ClassEligibility;
using internal::HostModel;
using internal::RequestClass;

enum class Pick { kCheapest, kAzureFirst };

SolveResult Greedy(const ProblemView& problem, Pick rule) {
  const auto start = std::chrono::steady_clock::now();
  if (auto error = Validate(problem)) return *error;
  const HostModel host = internal::Prepare(problem);
  const internal::ModelView v = host.View();
  const RequestsView& r = problem.requests;
  const std::int64_t n = static_cast<std::int64_t>(r.model.size);
  const std::int32_t m = host.num_endpoints;
  std::vector<std::int64_t> room_t = host.cap_tokens, room_r = host.cap_requests;
  std::vector<RequestClass> classes(n);
  std::vector<std::uint8_t> flags(n), elig(m);
  std::vector<std::int32_t> endpoint(n, -1);
  for (std::int64_t i = 0; i < n; ++i) {
    RequestClass& c = classes[i];
    const std::int64_t w = static_cast<std::int64_t>(r.tokens_in[i]) + r.tokens_out[i];
    c = internal::ClassOf(v, r.model[i], r.zone[i], r.slo_ms[i], w, static_cast<std::int32_t>(r.home_cloud[i]),
                          r.priority[i], r.needs.empty() ? 0 : r.needs[i]);
    flags[i] = ClassEligibility(v, c, elig.data());
    std::int32_t arg = -1;
    double best = 0;
    for (std::int32_t p = 0; p < m; ++p) {
      if (!elig[p] || room_t[p] < w || room_r[p] < 1) continue;
      if (rule == Pick::kAzureFirst && host.ep_azure[p]) {
        arg = p;
        break;
      }
      const double cost = internal::TrueCost(v, c.home, r.tokens_in[i], r.tokens_out[i], p);
      if (arg < 0 || cost < best) {
        best = cost;
        arg = p;
      }
    }
    endpoint[i] = arg;
    if (arg >= 0) {
      room_t[arg] -= w;
      room_r[arg] -= 1;
    }
  }
  Solution s;
  internal::Summarize(
      host, r, endpoint, [&](std::int64_t i) { return classes[i]; }, [&](std::int64_t i) { return flags[i]; }, &s);
  s.gap = 0;
  s.mode_lower_bound = 0;
  s.lower_bound_usd = 0;
  s.backend = Backend::kCpu;
  s.solve_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return s;
}

}  // namespace

SolveResult SolveGreedy(const ProblemView& problem) { return Greedy(problem, Pick::kCheapest); }

SolveResult SolveAzureFirstGreedy(const ProblemView& problem) { return Greedy(problem, Pick::kAzureFirst); }

}  // namespace azimuth::kernels
