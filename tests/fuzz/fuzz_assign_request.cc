// Copyright 2026 Azimuth authors.
//
// A decoded AssignRequest (any bytes that parse as one) through the
// server's path: FromProto(), ValidateBatch(), then decided online (one
// request) or as a solver batch, and explained. The answers and the
// capacity ledger are checked (fuzz_engine.h).
#include <cstddef>
#include <cstdint>

#include "azimuth/v1/scheduler.pb.h"
#include "fuzz_engine.h"
#include "scheduler/core/batch.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  azimuth::v1::AssignRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto job = azimuth::scheduler::ValidateBatch(azimuth::scheduler::FromProto(request.batch()), {4096});
  if (!job.ok()) return 0;
  azimuth::scheduler::Engine& engine = azimuth::fuzz::FuzzEngine();
  azimuth::fuzz::fuzz_clock_ms += 20'000;  // a new window every third input
  const std::vector<azimuth::scheduler::EndpointState> before = engine.Endpoints();
  const std::size_t n = job->batch.size();
  const std::string first = n > 0 ? job->batch.id[0] : "";
  if (n <= 1) {
    azimuth::fuzz::CheckDecisions(engine.DecideOnline(&*job), n);
  } else {
    std::vector<azimuth::scheduler::Decisions> out;
    if (engine.DecideBatch({&*job}, &out).ok()) azimuth::fuzz::CheckDecisions(out[0], n);
  }
  azimuth::fuzz::CheckLedger(engine, before);
  if (!first.empty()) (void)engine.Explain(first);
  return 0;
}
