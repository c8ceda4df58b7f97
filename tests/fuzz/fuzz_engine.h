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

// The ledger within every capacity, and sane numbers per endpoint.
inline void CheckLedger(const scheduler::Engine& engine) {
  for (const scheduler::EndpointState& s : engine.Endpoints()) {
    if (s.tokens_capacity < 0 || s.requests_capacity < 0) Fail("negative capacity for " + s.sample.row.id);
    if (s.tokens_reserved > s.tokens_capacity) Fail("tokens over capacity on " + s.sample.row.id);
    if (s.requests_reserved > s.requests_capacity) Fail("requests over capacity on " + s.sample.row.id);
    CheckFinite(s.token_price, "a token price");
    CheckFinite(s.request_price, "a request price");
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
