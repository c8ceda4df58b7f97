// Copyright 2026 Azimuth authors.
//
// commands.h — the `azimuth` command line's subcommands as library functions
// (main.cc only parses flags), so tests run them in-process.
//
//   azimuth solve --endpoints E.csv --requests R.csv --policy P.json
//                 --out A.csv --summary S.json [--backend auto|cuda|cpu]
//   azimuth demo [--requests N] [--endpoints M] [--mode strict|weighted|off]
//   azimuth generate --out_dir DIR [--requests N] [--endpoints M] [--seed S]
#ifndef AZIMUTH_SCHEDULER_CLI_COMMANDS_H_
#define AZIMUTH_SCHEDULER_CLI_COMMANDS_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "azimuth/kernels/solver.h"
#include "bench/workload/generator.h"

namespace azimuth::scheduler {

absl::StatusOr<kernels::AzureFirst> ParseMode(const std::string& text);

// SolveArgs / RunSolve()
//
// Reads the three input files, solves, writes both outputs, and logs
// progress (each stage and its time) to `log`.
struct SolveArgs {
  std::string endpoints, requests, policy, out, summary;
  kernels::Backend backend = kernels::Backend::kAuto;
};
absl::Status RunSolve(const SolveArgs& args, std::ostream& log);

// DemoArgs / RunDemo()
//
// The embedded default: built-in Azure/AWS/GCP endpoints and a generated
// batch, solved by Azimuth and by both baselines, printed as a table.
struct DemoArgs {
  bench::WorkloadSpec workload = DemoWorkload();
  kernels::Backend backend = kernels::Backend::kAuto;
  static bench::WorkloadSpec DemoWorkload() {
    bench::WorkloadSpec spec;
    spec.requests = 200000;
    return spec;
  }
};
absl::Status RunDemo(const DemoArgs& args, std::ostream& out);

// GenerateArgs / RunGenerate()
//
// Writes a generated workload as E.csv, R.csv and P.json into `out_dir`.
struct GenerateArgs {
  std::string out_dir;
  bench::WorkloadSpec workload;
};
absl::Status RunGenerate(const GenerateArgs& args, std::ostream& log);

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_CLI_COMMANDS_H_
