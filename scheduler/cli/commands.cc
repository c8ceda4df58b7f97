// Copyright 2026 Azimuth authors.
#include "scheduler/cli/commands.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "azimuth/kernels/baselines.h"
#include "azimuth/kernels/problem_data.h"
#include "azimuth/kernels/threads.h"
#include "bench/workload/generator.h"
#include "scheduler/common/status.h"
#include "scheduler/offline/offline_io.h"

namespace azimuth::scheduler {
namespace {

using Clock = std::chrono::steady_clock;

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string BackendDescription(kernels::Backend used) {
  if (used == kernels::Backend::kCuda) return "cuda (GPU)";
  std::string cuda = kernels::CudaCompiledIn() ? "built, no device present" : "not built";
  const int threads = kernels::CpuThreads();
  return absl::StrCat("cpu (Thrust OpenMP, ", threads, threads == 1 ? " thread" : " threads", "; CUDA backend ", cuda,
                      ")");
}

// The workload flags (--n, --m, --load) of demo and generate.
absl::Status ValidateWorkload(const bench::WorkloadSpec& spec) {
  if (spec.requests < 0) return absl::InvalidArgumentError("--n: must be >= 0");
  if (spec.endpoints < 1 || spec.endpoints > static_cast<int>(kernels::kMaxEndpoints)) {
    return absl::InvalidArgumentError(absl::StrCat("--m: must be in [1, ", kernels::kMaxEndpoints, "]"));
  }
  if (!(spec.load > 0)) return absl::InvalidArgumentError("--load: must be > 0");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<kernels::AzureFirst> ParseMode(const std::string& text) {
  const std::string t = absl::AsciiStrToLower(text);
  if (t == "strict") return kernels::AzureFirst::kStrict;
  if (t == "weighted") return kernels::AzureFirst::kWeighted;
  if (t == "off") return kernels::AzureFirst::kOff;
  return absl::InvalidArgumentError(absl::StrCat("--mode: '", text, "' is not strict, weighted or off"));
}

absl::Status RunSolve(const SolveArgs& args, std::ostream& log) {
  for (const auto& [flag, value] : {std::pair{"--endpoints", &args.endpoints},
                                    {"--requests", &args.requests},
                                    {"--policy", &args.policy},
                                    {"--out", &args.out},
                                    {"--summary", &args.summary}}) {
    if (value->empty()) return absl::InvalidArgumentError(absl::StrCat(flag, " is required"));
  }
  auto start = Clock::now();
  kernels::ProblemData data;
  AZ_RETURN_IF_ERROR(ReadEndpointsCsv(args.endpoints, &data));
  AZ_RETURN_IF_ERROR(ReadPolicyJson(args.policy, &data.policy));
  AZ_RETURN_IF_ERROR(ReadRequestsCsv(args.requests, &data));
  log << absl::StrFormat("azimuth: read %d endpoints and %d requests in %.0f ms\n", data.num_endpoints(),
                         data.num_requests(), MillisSince(start));
  kernels::SolverOptions options;
  options.backend = args.backend;
  AZ_ASSIGN_OR_RETURN(const kernels::Solution solution, SolveBatch(data.View(), options));
  log << absl::StrFormat(
      "azimuth: solved on %s in %.0f ms: %d assigned, %d rejected, objective %.4f USD, certified gap %.3f%% "
      "(%d price passes over %d groups)\n",
      BackendDescription(solution.backend), solution.solve_ms, solution.assigned, solution.rejected,
      solution.objective_usd, 100 * solution.gap, solution.iterations, solution.groups);
  start = Clock::now();
  AZ_RETURN_IF_ERROR(WriteAssignmentsCsv(args.out, data, solution));
  AZ_RETURN_IF_ERROR(WriteSummaryJson(args.summary, solution));
  log << absl::StrFormat("azimuth: wrote %s and %s in %.0f ms\n", args.out, args.summary, MillisSince(start));
  return absl::OkStatus();
}

absl::Status RunDemo(const DemoArgs& args, std::ostream& out) {
  AZ_RETURN_IF_ERROR(ValidateWorkload(args.workload));
  kernels::ProblemData data = bench::GenerateWorkload(args.workload);
  const kernels::ProblemView view = data.View();
  int per_cloud[kernels::kNumClouds] = {};
  for (kernels::Cloud c : data.ep_cloud) ++per_cloud[static_cast<int>(c)];
  out << absl::StrFormat(
      "Azimuth demo: %d built-in endpoints (azure %d, aws %d, gcp %d) serving %d models, %d generated requests, "
      "policy %s\n",
      data.num_endpoints(), per_cloud[0], per_cloud[1], per_cloud[2], data.models.size(), data.num_requests(),
      kernels::AzureFirstName(args.workload.mode));

  kernels::SolverOptions options;
  options.backend = args.backend;
  AZ_ASSIGN_OR_RETURN(const kernels::Solution ours, SolveBatch(view, options));
  out << "backend: " << BackendDescription(ours.backend) << "\n\n";
  kernels::SolveResult greedy = kernels::SolveGreedy(view);
  kernels::SolveResult azure = kernels::SolveAzureFirstGreedy(view);
  if (!greedy.ok()) return ToStatus(greedy.error());
  if (!azure.ok()) return ToStatus(azure.error());

  out << absl::StrFormat("%-22s %14s %12s %12s %9s %12s %10s\n", "solver", "objective USD", "assign USD", "reject USD",
                         "rejected", "azure share", "time ms");
  auto row = [&](const char* name, const kernels::Solution& s) {
    out << absl::StrFormat("%-22s %14.4f %12.4f %12.4f %9d %11.1f%% %10.1f\n", name, s.objective_usd, s.assign_cost_usd,
                           s.reject_cost_usd, s.rejected, 100 * s.azure_token_share, s.solve_ms);
  };
  row("azimuth (dual prices)", ours);
  row("greedy router", greedy.value());
  row("azure-first greedy", azure.value());
  out << absl::StrFormat(
      "\ncertified: within %.3f%% of optimal (lower bound %.4f USD; %d price passes over %d request groups)\n",
      100 * ours.gap, ours.lower_bound_usd, ours.iterations, ours.groups);
  if (args.workload.mode == kernels::AzureFirst::kStrict) {
    out << absl::StrFormat(
        "strict Azure-first: rejections weigh %.1fx their cost, each token off Azure costs %.3g USD extra\n",
        ours.strict_reject_weight, ours.strict_azure_price);
  }
  const kernels::Solution& g = greedy.value();
  if (g.objective_usd > 0) {
    out << absl::StrFormat("vs greedy router: %.4f USD less (%.1f%%), %d fewer rejections\n",
                           g.objective_usd - ours.objective_usd,
                           100 * (g.objective_usd - ours.objective_usd) / g.objective_usd, g.rejected - ours.rejected);
  }
  out << "\nfirst decisions:\n";
  for (std::size_t i = 0; i < std::min<std::size_t>(5, data.num_requests()); ++i) {
    const int p = ours.endpoint[i];
    out << absl::StrFormat("  %-8s %-11s %6d tokens -> %-32s %-20s %.6f USD\n", data.request_id[i],
                           data.models.Name(data.rq_model[i]), data.rq_tokens_in[i] + data.rq_tokens_out[i],
                           p >= 0 ? data.endpoint_id[p] : "(rejected)", kernels::ReasonName(ours.reason[i]),
                           ours.cost[i]);
  }
  return absl::OkStatus();
}

absl::Status RunGenerate(const GenerateArgs& args, std::ostream& log) {
  if (args.out_dir.empty()) return absl::InvalidArgumentError("--out_dir is required");
  AZ_RETURN_IF_ERROR(ValidateWorkload(args.workload));
  std::error_code error;
  std::filesystem::create_directories(args.out_dir, error);
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat(args.out_dir, ": cannot create the directory: ", error.message()));
  }
  const kernels::ProblemData data = bench::GenerateWorkload(args.workload);
  const std::string dir = args.out_dir + "/";
  AZ_RETURN_IF_ERROR(WriteEndpointsCsv(dir + "E.csv", data));
  AZ_RETURN_IF_ERROR(WriteRequestsCsv(dir + "R.csv", data));
  std::ofstream policy(dir + "P.json");
  policy << PolicyJson(data.policy);
  if (!policy) return absl::PermissionDeniedError(absl::StrCat(dir, "P.json: cannot write"));
  log << absl::StrFormat("azimuth: wrote %sE.csv (%d endpoints), %sR.csv (%d requests), %sP.json\n", dir,
                         data.num_endpoints(), dir, data.num_requests(), dir);
  return absl::OkStatus();
}

}  // namespace azimuth::scheduler
