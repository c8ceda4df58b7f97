// Copyright 2026 Azimuth authors.
//
// azimuthd's config file (ServerConfig JSON) through ParseConfig() and
// CheckConfig(). An accepted config's policy and pinned endpoints (up to 64)
// are solved with requests for their models and checked (fuzz_check.h).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "scheduler/server/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  auto config = azimuth::scheduler::ParseConfig(json, "config.json");
  if (!config.ok()) return 0;
  auto checked = azimuth::scheduler::CheckConfig(azimuth::scheduler::WithDefaults(*config), "config.json");
  if (!checked.ok() || checked->endpoints.size() > 64) return 0;
  azimuth::kernels::ProblemData problem =
      checked->endpoints.empty() ? azimuth::fuzz::SmallWorkload() : azimuth::kernels::ProblemData{};
  problem.policy = checked->policy;
  for (std::size_t p = 0; p < checked->endpoints.size(); ++p) {
    problem.AddEndpoint(checked->endpoints[p].row);
    azimuth::kernels::RequestRow r;
    r.id = "r" + std::to_string(p);
    r.tenant = "t";
    r.model = checked->endpoints[p].row.model;
    r.tokens_in = 500;
    r.tokens_out = 50;
    problem.AddRequest(r);
  }
  azimuth::fuzz::SolveAndCheck(std::move(problem));
  return 0;
}
