// Copyright 2026 Azimuth authors.
//
// The endpoints and requests CSV readers of `azimuth solve` (one source,
// two targets: AZIMUTH_FUZZ_REQUESTS selects the requests file). An
// accepted file is solved with a fixed counterpart and checked
// (fuzz_check.h).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "fuzz_check.h"
#include "scheduler/offline/offline_io.h"

namespace {

using azimuth::kernels::ProblemData;

const std::string& Path() {
  static const std::string path = "/tmp/azimuth-fuzz-" + std::to_string(::getpid()) + ".csv";
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  {
    std::ofstream out(Path(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
#if defined(AZIMUTH_FUZZ_REQUESTS)
  static const ProblemData table = azimuth::fuzz::WithoutRequests(azimuth::fuzz::SmallWorkload());
  ProblemData problem = table;
  if (!azimuth::scheduler::ReadRequestsCsv(Path(), &problem).ok()) return 0;
#else
  static const azimuth::kernels::PolicyData policy = azimuth::fuzz::SmallWorkload().policy;
  ProblemData problem;
  problem.policy = policy;
  if (!azimuth::scheduler::ReadEndpointsCsv(Path(), &problem).ok()) return 0;
  // Requests for each endpoint's model, so that the table is used.
  for (std::size_t p = 0; p < problem.num_endpoints() && p < 64; ++p) {
    for (int k = 0; k < 3; ++k) {
      azimuth::kernels::RequestRow r;
      r.id = "r" + std::to_string(p) + "-" + std::to_string(k);
      r.tenant = "t";
      r.model = problem.models.Name(problem.ep_model[p]);
      r.tokens_in = 100 + 400 * k;
      r.tokens_out = 20;
      r.priority = static_cast<std::uint8_t>(k);
      problem.AddRequest(r);
    }
  }
#endif
  if (problem.num_requests() > 5000 || problem.num_endpoints() > 256) return 0;  // keep iterations fast
  azimuth::fuzz::SolveAndCheck(std::move(problem));
  return 0;
}
