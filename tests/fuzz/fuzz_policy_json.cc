// Copyright 2026 Azimuth authors.
//
// The policy file (`azimuth solve --policy`, the Policy message's JSON
// mapping, also SetPolicy's validation). An accepted policy is solved on a
// fixed workload and checked (fuzz_check.h).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "scheduler/offline/offline_io.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const azimuth::kernels::ProblemData workload = azimuth::fuzz::SmallWorkload();
  const std::string json(reinterpret_cast<const char*>(data), size);
  azimuth::kernels::ProblemData problem = workload;
  if (!azimuth::scheduler::ParsePolicyJson(json, "P.json", &problem.policy).ok()) return 0;
  azimuth::fuzz::SolveAndCheck(std::move(problem));
  return 0;
}
