// Copyright 2026 Azimuth authors.
//
// fuzz_engine.h — an Engine with a fixed endpoint table (the small
// workload's, pinned) and a clock that moves a window on every input, and
// the checks of its ledger and decisions (what the server's ledger must
// hold on every decision path).
#ifndef AZIMUTH_TESTS_FUZZ_FUZZ_ENGINE_H_
#define AZIMUTH_TESTS_FUZZ_FUZZ_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "scheduler/core/engine.h"
#include "scheduler/service/convert.h"

namespace azimuth::fuzz {

inline std::int64_t fuzz_clock_ms = 1'800'000'000'000;

inline scheduler::Engine& FuzzEngine() {
  static scheduler::Engine* engine = [] {
    scheduler::EngineOptions options;
    options.backend = kernels::Backend::kCpu;
    options.warm_iterations = 20;
    options.explain_history = 4096;
    auto* e = new scheduler::Engine(options, [] { return fuzz_clock_ms; });
    const kernels::ProblemData w = SmallWorkload();
    kernels::PolicyData policy = w.policy;
    e->SetPolicy(policy);
    for (std::size_t p = 0; p < w.num_endpoints(); ++p) {
      if (!e->ReportTelemetry(scheduler::EndpointSampleAt(w, p), /*pinned=*/true).ok()) Fail("fixed table refused");
    }
    return e;
  }();
  return *engine;
}

// What decisions did to the ledger since `before` (Endpoints() then): every
// endpoint that took a reservation is within both capacities (telemetry
// may lower a quota below what earlier decisions reserved; a decision may
// never add to that), and the numbers are sane.
inline void CheckLedger(const scheduler::Engine& engine, const std::vector<scheduler::EndpointState>& before) {
  const std::vector<scheduler::EndpointState> now = engine.Endpoints();
  for (std::size_t p = 0; p < now.size(); ++p) {
    const scheduler::EndpointState& s = now[p];
    if (s.tokens_capacity < 0 || s.requests_capacity < 0) Fail("negative capacity for " + s.sample.row.id);
    CheckFinite(s.token_price, "a token price");
    CheckFinite(s.request_price, "a request price");
    const bool same_window = p < before.size() && before[p].window_start_s == s.window_start_s;
    const std::int64_t tokens_before = same_window ? before[p].tokens_reserved : 0;
    const std::int64_t requests_before = same_window ? before[p].requests_reserved : 0;
    if (s.tokens_reserved > tokens_before && s.tokens_reserved > s.tokens_capacity) {
      Fail("a decision put tokens over capacity on " + s.sample.row.id);
    }
    if (s.requests_reserved > requests_before && s.requests_reserved > s.requests_capacity) {
      Fail("a decision put requests over capacity on " + s.sample.row.id);
    }
  }
}

// One answer per request, finite costs, endpoints in the table.
inline void CheckDecisions(const scheduler::Decisions& d, std::size_t n) {
  if (d.endpoint.size() != n || d.reason.size() != n || d.cost.size() != n) Fail("not one answer per request");
  for (std::size_t i = 0; i < n; ++i) {
    CheckFinite(d.cost[i], "a decision's cost");
    if (d.endpoint[i] >= 0 && (!d.endpoint_ids || static_cast<std::size_t>(d.endpoint[i]) >= d.endpoint_ids->size())) {
      Fail("an endpoint index past the table");
    }
  }
}

}  // namespace azimuth::fuzz

#endif  // AZIMUTH_TESTS_FUZZ_FUZZ_ENGINE_H_
