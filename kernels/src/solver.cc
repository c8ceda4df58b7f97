// Copyright 2026 Azimuth authors.
//
// solver.cc — Solve(): validation, backend choice, and the host's final
// passes over a backend's admission (requests not admitted fill the capacity
// left; single swaps make room for more; strict mode's Azure repair; totals
// and the certificate).
// These passes are sequential in request order so they are exact and
// reproducible; each is O(N*M) at worst and touches only evicted or
// off-Azure requests.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <new>
#include <numeric>
#include <string>

#include "azimuth/kernels/solver.h"
#include "prepared.h"

namespace azimuth::kernels {
namespace internal {
namespace {

struct Ledger {
  std::vector<std::int64_t> tokens, requests;
  bool Fits(std::int32_t p, std::int64_t w) const { return tokens[p] >= w && requests[p] >= 1; }
  void Take(std::int32_t p, std::int64_t w) {
    tokens[p] -= w;
    requests[p] -= 1;
  }
  void Give(std::int32_t p, std::int64_t w) {
    tokens[p] += w;
    requests[p] += 1;
  }
};

void Finish(const HostModel& host, const RequestsView& r, PhaseResult& phase, AzureFirst mode, Solution* s) {
  const std::int64_t n = static_cast<std::int64_t>(r.model.size);
  const std::int32_t m = host.num_endpoints;
  const ModelView v = host.View();
  const double* lam = phase.prices.per_token.data();
  const double* mu = phase.prices.per_request.data();
  auto tokens = [&](std::int64_t i) { return static_cast<std::int64_t>(r.tokens_in[i]) + r.tokens_out[i]; };
  auto elig_row = [&](std::int64_t i) {
    return phase.group_elig.data() + static_cast<std::int64_t>(phase.group_of[i]) * m;
  };
  auto class_of = [&](std::int64_t i) { return UnpackClass(phase.group_key[phase.group_of[i]]); };

  std::vector<std::int32_t>& ep = phase.endpoint;
  Ledger ledger{host.cap_tokens, host.cap_requests};
  for (std::int64_t i = 0; i < n; ++i) {
    if (ep[i] >= 0) ledger.Take(ep[i], tokens(i));
  }
  // Fill: every request not admitted (evicted, or priced out at the margin)
  // takes the endpoint with room that is cheapest under the prices, as long
  // as its cost (capacity left unused is worth nothing to this batch) beats
  // rejection. Requests go in order of priced surplus, so scarce capacity
  // goes where the dual says it is worth most.
  auto best_with_room = [&](std::int64_t i, double* surplus) {
    const RequestClass c = class_of(i);
    const std::uint8_t* e = elig_row(i);
    const std::int64_t w = tokens(i);
    const double reject = EffReject(v, c.priority, static_cast<double>(w));
    double best = 0;
    std::int32_t arg = -1;
    for (std::int32_t p = 0; p < m; ++p) {
      if (!e[p] || !ledger.Fits(p, w)) continue;
      const double cost = EffCost(v, c.home, r.tokens_in[i], r.tokens_out[i], p);
      const double priced = PricedCost(v, c.home, r.tokens_in[i], r.tokens_out[i], p, lam, mu);
      if (cost < reject && (arg < 0 || priced < best)) {
        best = priced;
        arg = p;
      }
    }
    *surplus = reject - best;
    return arg;
  };
  auto fill = [&] {
    std::vector<std::pair<double, std::int64_t>> waiting;
    for (std::int64_t i = 0; i < n; ++i) {
      if (ep[i] >= 0) continue;
      ep[i] = -1;
      double surplus;
      if (best_with_room(i, &surplus) >= 0) waiting.emplace_back(-surplus, i);
    }
    std::sort(waiting.begin(), waiting.end());
    for (const auto& entry : waiting) {
      const std::int64_t i = entry.second;
      double surplus;
      const std::int32_t p = best_with_room(i, &surplus);
      if (p < 0) continue;
      ep[i] = p;
      ledger.Take(p, tokens(i));
    }
  };
  // Strict mode's checkable invariant, made to hold: no request stays off
  // Azure while an eligible Azure endpoint has room for it. Requests are
  // visited in order and Azure room only shrinks, so one pass suffices.
  auto azure_repair = [&] {
    for (std::int64_t i = 0; i < n; ++i) {
      if (ep[i] < 0 || host.ep_azure[ep[i]]) continue;
      const RequestClass c = class_of(i);
      const std::uint8_t* e = elig_row(i);
      const std::int64_t w = tokens(i);
      double best = 0;
      std::int32_t arg = -1;
      for (std::int32_t p = 0; p < m; ++p) {
        if (!e[p] || !host.ep_azure[p] || !ledger.Fits(p, w)) continue;
        const double rc = PricedCost(v, c.home, r.tokens_in[i], r.tokens_out[i], p, lam, mu);
        if (arg < 0 || rc < best) {
          best = rc;
          arg = p;
        }
      }
      if (arg >= 0) {
        ledger.Give(ep[i], w);
        ledger.Take(arg, w);
        ep[i] = arg;
      }
    }
  };
  // Make room: a request still waiting may fit on an eligible endpoint once
  // one request there moves to another endpoint with room. Each endpoint
  // offers its kMovers cheapest-to-move requests; a swap is made when it
  // lowers the objective. Bounded: waiting x eligible x kMovers checks.
  auto make_room = [&] {
    constexpr std::size_t kMovers = 32;
    auto cheapest_alternative = [&](std::int64_t q, std::int32_t from, double* delta) {
      const RequestClass c = class_of(q);
      const std::uint8_t* e = elig_row(q);
      const std::int64_t w = tokens(q);
      const double here = EffCost(v, c.home, r.tokens_in[q], r.tokens_out[q], from);
      std::int32_t arg = -1;
      for (std::int32_t p = 0; p < m; ++p) {
        if (p == from || !e[p] || !ledger.Fits(p, w)) continue;
        const double d = EffCost(v, c.home, r.tokens_in[q], r.tokens_out[q], p) - here;
        if (arg < 0 || d < *delta) {
          *delta = d;
          arg = p;
        }
      }
      return arg;
    };
    std::vector<std::pair<double, std::int64_t>> waiting;
    for (std::int64_t i = 0; i < n; ++i) {
      if (ep[i] >= 0) continue;
      const RequestClass c = class_of(i);
      const std::uint8_t* e = elig_row(i);
      double cheapest = std::numeric_limits<double>::infinity();
      for (std::int32_t p = 0; p < m; ++p) {
        if (e[p]) cheapest = std::min(cheapest, EffCost(v, c.home, r.tokens_in[i], r.tokens_out[i], p));
      }
      const double benefit = EffReject(v, c.priority, static_cast<double>(tokens(i))) - cheapest;
      if (benefit > 0) waiting.emplace_back(-benefit, i);
    }
    if (waiting.empty()) return;
    std::vector<std::vector<std::pair<double, std::int64_t>>> movers(m);
    for (std::int64_t q = 0; q < n; ++q) {
      if (ep[q] < 0) continue;
      double delta = 0;
      if (cheapest_alternative(q, ep[q], &delta) >= 0) movers[ep[q]].emplace_back(delta, q);
    }
    for (auto& list : movers) {
      const std::size_t keep = std::min(kMovers, list.size());
      std::partial_sort(list.begin(), list.begin() + keep, list.end());
      list.resize(keep);
    }
    std::sort(waiting.begin(), waiting.end());
    for (const auto& entry : waiting) {
      const std::int64_t i = entry.second;
      const RequestClass c = class_of(i);
      const std::uint8_t* e = elig_row(i);
      const std::int64_t w = tokens(i);
      const double reject = EffReject(v, c.priority, static_cast<double>(w));
      double best_gain = 0;
      std::int32_t best_p = -1, best_to = -1;
      std::int64_t best_q = -1;
      for (std::int32_t p = 0; p < m; ++p) {
        if (!e[p]) continue;
        const double serve = reject - EffCost(v, c.home, r.tokens_in[i], r.tokens_out[i], p);
        if (serve <= best_gain) continue;
        for (const auto& mover : movers[p]) {
          const std::int64_t q = mover.second;
          if (ep[q] != p) continue;
          const std::int64_t wq = tokens(q);
          if (ledger.tokens[p] + wq < w || ledger.requests[p] + 1 < 1) continue;
          double delta = 0;
          const std::int32_t to = cheapest_alternative(q, p, &delta);
          if (to < 0 || serve - delta <= best_gain) continue;
          best_gain = serve - delta;
          best_p = p;
          best_q = q;
          best_to = to;
        }
      }
      if (best_p < 0) continue;
      ledger.Give(best_p, tokens(best_q));
      ledger.Take(best_to, tokens(best_q));
      ep[best_q] = best_to;
      ledger.Take(best_p, w);
      ep[i] = best_p;
    }
  };
  fill();
  make_room();
  if (mode == AzureFirst::kStrict) {
    // The repair frees capacity off Azure: fill it, and repair what that
    // placed.
    azure_repair();
    fill();
    azure_repair();
  }

  Summarize(
      host, r, ep, class_of, [&](std::int64_t i) { return phase.group_flags[phase.group_of[i]]; }, s);
  double capacity_value = 0;
  for (std::int32_t p = 0; p < m; ++p) {
    capacity_value +=
        lam[p] * static_cast<double>(host.cap_tokens[p]) + mu[p] * static_cast<double>(host.cap_requests[p]);
  }
  s->mode_lower_bound = phase.sum_best - capacity_value;
  s->gap = s->mode_objective > 0 ? std::max(0.0, (s->mode_objective - s->mode_lower_bound) / s->mode_objective) : 0.0;
  s->lower_bound_usd = s->objective_usd * (1.0 - s->gap);
  s->iterations = phase.iterations;
  s->groups = static_cast<std::int64_t>(phase.group_key.size());
  s->prices = std::move(phase.prices);
}

}  // namespace
}  // namespace internal

bool CudaCompiledIn() {
#if defined(AZIMUTH_HAS_CUDA)
  return true;
#else
  return false;
#endif
}

bool CudaDeviceAvailable() {
#if defined(AZIMUTH_HAS_CUDA)
  return internal::CudaDevicePresent();
#else
  return false;
#endif
}

SolveResult Solve(const ProblemView& problem, const SolverOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (auto error = Validate(problem)) return *error;
  if (options.max_iterations < 0) {
    return Error{ErrorCode::kInvalidArgument, "options.max_iterations: must be >= 0"};
  }
  if (!(options.tolerance >= 0)) {
    return Error{ErrorCode::kInvalidArgument, "options.tolerance: must be a number >= 0"};
  }
  if (options.initial_prices) {
    const Prices& warm = *options.initial_prices;
    if (warm.per_token.size() != problem.endpoints.model.size ||
        warm.per_request.size() != problem.endpoints.model.size) {
      return Error{ErrorCode::kInvalidArgument,
                   "options.initial_prices: need one token and one request price per endpoint"};
    }
    // The certificate holds for prices >= 0 only.
    for (std::size_t p = 0; p < warm.per_token.size(); ++p) {
      if (!(std::isfinite(warm.per_token[p]) && warm.per_token[p] >= 0 && std::isfinite(warm.per_request[p]) &&
            warm.per_request[p] >= 0)) {
        return Error{ErrorCode::kInvalidArgument,
                     "options.initial_prices[" + std::to_string(p) + "]: prices must be finite and >= 0"};
      }
    }
  }
  Backend backend = options.backend;
  if (backend == Backend::kCuda && !CudaCompiledIn()) {
    return Error{ErrorCode::kUnavailable, "backend cuda: this build has no CUDA backend"};
  }
  if (backend == Backend::kCuda && !CudaDeviceAvailable()) {
    return Error{ErrorCode::kUnavailable, "backend cuda: no CUDA device is present"};
  }
  if (backend == Backend::kAuto) backend = CudaDeviceAvailable() ? Backend::kCuda : Backend::kCpu;

  Solution solution;
  try {
    const internal::HostModel host = internal::Prepare(problem);
    internal::PhaseResult phase;
#if defined(AZIMUTH_HAS_CUDA)
    if (backend == Backend::kCuda) {
      phase = internal::RunBackendCuda(host, problem.requests, options);
    } else {
      phase = internal::RunBackendCpu(host, problem.requests, options);
    }
#else
    phase = internal::RunBackendCpu(host, problem.requests, options);
#endif
    internal::Finish(host, problem.requests, phase, problem.policy.azure_first, &solution);
  } catch (const std::bad_alloc&) {
    return Error{ErrorCode::kResourceExhausted, std::string("backend ") + BackendName(backend) + ": out of memory"};
  } catch (const std::exception& e) {
    return Error{ErrorCode::kInternal, std::string("backend ") + BackendName(backend) + ": " + e.what()};
  }
  solution.backend = backend;
  solution.solve_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return solution;
}

}  // namespace azimuth::kernels
