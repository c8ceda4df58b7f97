// Copyright 2026 Azimuth authors.
//
// A decoded EndpointSample (any bytes that parse as one) through
// FromProto() and the telemetry store; an accepted sample joins the table,
// and a few requests for its model are then decided online and as a batch.
// The answers and the capacity ledger are checked (fuzz_engine.h).
#include <cstddef>
#include <cstdint>

#include "azimuth/v1/telemetry.pb.h"
#include "fuzz_engine.h"
#include "scheduler/core/batch.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  azimuth::v1::EndpointSample msg;
  if (!msg.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto sample = azimuth::scheduler::FromProto(msg);
  if (!sample.ok()) return 0;
  azimuth::scheduler::Engine& engine = azimuth::fuzz::FuzzEngine();
  azimuth::fuzz::fuzz_clock_ms += 20'000;
  if (!engine.ReportTelemetry(*sample).ok()) return 0;
  const std::vector<azimuth::scheduler::EndpointState> before = engine.Endpoints();
  azimuth::scheduler::RequestBatch b;
  b.strings = {sample->row.model, sample->row.zone};
  for (int i = 0; i < 4; ++i) {
    b.id.push_back("t" + std::to_string(azimuth::fuzz::fuzz_clock_ms) + "-" + std::to_string(i));
    b.model.push_back(0);
    b.zone.push_back(i % 2);
    b.tokens_in.push_back(100 << i);
    b.tokens_out.push_back(10);
  }
  azimuth::scheduler::RequestBatch one = b;
  one.id.resize(1);
  for (auto* column : {&one.model, &one.zone}) column->resize(1);
  one.tokens_in.resize(1);
  one.tokens_out.resize(1);
  one.id[0] += "-online";
  auto single = azimuth::scheduler::ValidateBatch(std::move(one), {});
  auto batch = azimuth::scheduler::ValidateBatch(std::move(b), {});
  if (!single.ok() || !batch.ok()) azimuth::fuzz::Fail("a well-formed batch was refused");
  azimuth::fuzz::CheckDecisions(engine.DecideOnline(&*single), 1);
  std::vector<azimuth::scheduler::Decisions> out;
  if (engine.DecideBatch({&*batch}, &out).ok()) azimuth::fuzz::CheckDecisions(out[0], 4);
  azimuth::fuzz::CheckLedger(engine, before);
  return 0;
}
