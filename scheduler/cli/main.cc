// Copyright 2026 Azimuth authors.
//
// main.cc — the `azimuth` command line. Parses flags and calls commands.h.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "scheduler/cli/commands.h"

ABSL_FLAG(std::string, endpoints, "", "solve: endpoints CSV");
ABSL_FLAG(std::string, requests, "", "solve: requests CSV");
ABSL_FLAG(std::string, policy, "", "solve: policy JSON (azimuth.v1.Policy)");
ABSL_FLAG(std::string, out, "", "solve: assignments CSV to write");
ABSL_FLAG(std::string, summary, "", "solve: summary JSON to write");
ABSL_FLAG(std::string, backend, "auto", "solver backend: auto, cuda or cpu");
ABSL_FLAG(int64_t, n, 200000, "demo/generate: number of requests");
ABSL_FLAG(int, m, 64, "demo/generate: number of endpoints");
ABSL_FLAG(uint64_t, seed, 1, "demo/generate: workload seed");
ABSL_FLAG(double, load, 0.9, "demo/generate: demand over capacity");
ABSL_FLAG(std::string, mode, "strict", "demo/generate: azure_first mode: strict, weighted or off");
ABSL_FLAG(std::string, out_dir, "", "generate: directory for E.csv, R.csv and P.json");

namespace {

constexpr char kUsage[] = R"(azimuth — cross-cloud LLM request scheduler

usage:
  azimuth demo [--n 200000] [--m 64] [--load 0.9] [--mode strict|weighted|off] [--backend auto|cuda|cpu]
  azimuth solve --endpoints E.csv --requests R.csv --policy P.json --out A.csv --summary S.json
                [--backend auto|cuda|cpu]
  azimuth generate --out_dir DIR [--n 10000] [--m 64] [--seed 1] [--load 0.9] [--mode strict]
)";

int Fail(const absl::Status& status) {
  std::cerr << "azimuth: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument || status.code() == absl::StatusCode::kNotFound ? 2 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = args[1];
  namespace sch = azimuth::scheduler;
  auto backend = sch::ParseBackend(absl::GetFlag(FLAGS_backend));
  if (!backend.ok()) return Fail(backend.status());
  auto mode = sch::ParseMode(absl::GetFlag(FLAGS_mode));
  if (!mode.ok()) return Fail(mode.status());
  absl::Status status;
  if (command == "solve") {
    sch::SolveArgs a{absl::GetFlag(FLAGS_endpoints), absl::GetFlag(FLAGS_requests), absl::GetFlag(FLAGS_policy),
                     absl::GetFlag(FLAGS_out),       absl::GetFlag(FLAGS_summary),  *backend};
    status = sch::RunSolve(a, std::cerr);
  } else if (command == "demo" || command == "generate") {
    azimuth::bench::WorkloadSpec workload;
    workload.requests = absl::GetFlag(FLAGS_n);
    workload.endpoints = absl::GetFlag(FLAGS_m);
    workload.seed = absl::GetFlag(FLAGS_seed);
    workload.load = absl::GetFlag(FLAGS_load);
    workload.mode = *mode;
    if (command == "demo") {
      status = sch::RunDemo(sch::DemoArgs{workload, *backend}, std::cout);
    } else {
      status = sch::RunGenerate(sch::GenerateArgs{absl::GetFlag(FLAGS_out_dir), workload}, std::cerr);
    }
  } else {
    std::cerr << "azimuth: unknown command '" << command << "'\n" << kUsage;
    return 2;
  }
  return status.ok() ? 0 : Fail(status);
}
