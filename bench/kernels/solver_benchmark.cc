// Copyright 2026 Azimuth authors.
//
// solver_benchmark — Azimuth's solver against the per-request greedy router,
// Azure-first greedy and (where it finishes, and where CLP was found at build
// time) the exact LP reference, on seeded workloads. Prints a table and
// writes JSON. Numbers are ratios measured in one run on one machine.
//
//   solver_benchmark [--sizes 10000,100000,1000000] [--endpoints 64]
//                    [--modes strict,off] [--backend auto|cuda|cpu]
//                    [--lp_max 10000] [--repeat 3] [--json out.json]
//                    [--warm 1] [--lp clp,highs] [--capabilities 1]
//                    [--tenants 16] [--tenant_limits F] [--fair_share 1]
//
// --lp names the exact LP engines (CLP in process; HiGHS through the venv of
// bench/reference/highs_venv.sh); the table's LP columns are the first's, and
// a line per batch gives every engine's time and optimum, side by side.
//
// --tenants T spreads requests over T tenants; --tenant_limits F gives each
// limits at F x an even share of demand (WorkloadSpec::tenant_limits).
// --fair_share 1 turns on fair share under scarcity, every tenant weighing 1
// (PolicyData::fair_share; the certified gap then includes its cost).
// --capabilities 1 gives endpoints context limits and features and requests
// requirements (WorkloadSpec::capabilities).
// --warm 1 times the server's case instead of a cold solve: each batch is
// warm-started from the prices of the previous batch, the same endpoints with
// another draw of requests (the workload of seed + 1).
//
// --sequence K times the server under binding quotas instead: K batches of N
// requests share one window's capacity (the workload's endpoints sized for
// all K of them at its load), and each is warm-started from the previous
// batch's prices with the capacity the batches before it left, at most
// --warm_passes passes (the server's batcher.warm_iterations); it prints
// one line per batch and a summary. --warm_target_gap G gives warm solves
// (--warm 1, --sequence) a quick look (SolverOptions::warm_target_gap).
//
// Builds with only CMake and the CUDA toolkit (no abseil, no gtest).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "azimuth/kernels/baselines.h"
#include "azimuth/kernels/solver.h"
#include "azimuth/kernels/threads.h"
#include "bench/workload/generator.h"
#if defined(AZIMUTH_HAS_REFERENCE)
#include "bench/reference/lp_reference.h"
#endif

namespace {

using namespace azimuth;

struct Args {
  std::vector<long long> sizes = {10000, 100000, 1000000};
  int endpoints = 64;
  std::vector<kernels::AzureFirst> modes = {kernels::AzureFirst::kStrict, kernels::AzureFirst::kOff};
  kernels::Backend backend = kernels::Backend::kAuto;
  long long lp_max = 10000;
  int repeat = 3;
  std::string json;
  bool trace = false;      // every price pass to stderr
  int repair_rounds = -1;  // SolverOptions::repair_rounds
  double tolerance = kernels::SolverOptions{}.tolerance;
  int bound_passes = -1;  // SolverOptions::bound_passes
  unsigned long long seed = 1;
  double load = bench::WorkloadSpec{}.load;  // WorkloadSpec::load
  bool warm = false;                         // warm-start from the previous batch's prices
  bool capabilities = false;                 // WorkloadSpec::capabilities
  int tenants = 16;                          // WorkloadSpec::tenants
  double tenant_limits = 0;                  // WorkloadSpec::tenant_limits
  bool fair_share = false;                   // PolicyData::fair_share
  std::vector<std::string> lp = {"clp"};
  int sequence = 0;            // > 0: batches sharing one window (RunSequence)
  int warm_passes = 60;        // their warm solves' pass cap
  double warm_target_gap = 0;  // SolverOptions::warm_target_gap (the server's batcher.warm_target_gap)
};

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

[[noreturn]] void Usage(const char* why) {
  std::fprintf(
      stderr,
      "solver_benchmark: %s\nusage: solver_benchmark [--sizes N,N,...] [--endpoints M] "
      "[--modes strict,weighted,off] [--backend auto|cuda|cpu] [--lp_max N] [--repeat R] [--json PATH] "
      "[--trace 1] [--repair_rounds R] [--bound_passes K] [--tolerance T] [--seed S] [--load F] [--warm 1] [--lp "
      "clp,highs] [--capabilities 1] [--tenants T] [--tenant_limits F] [--fair_share 1] [--sequence K] "
      "[--warm_passes P] [--warm_target_gap G]\n",
      why);
  std::exit(2);
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) Usage(("missing value for " + flag).c_str());
    const std::string value = argv[++i];
    if (flag == "--sizes") {
      a.sizes.clear();
      for (const std::string& s : Split(value)) a.sizes.push_back(std::atoll(s.c_str()));
    } else if (flag == "--endpoints") {
      a.endpoints = std::atoi(value.c_str());
    } else if (flag == "--modes") {
      a.modes.clear();
      for (const std::string& s : Split(value)) {
        if (s == "strict")
          a.modes.push_back(kernels::AzureFirst::kStrict);
        else if (s == "weighted")
          a.modes.push_back(kernels::AzureFirst::kWeighted);
        else if (s == "off")
          a.modes.push_back(kernels::AzureFirst::kOff);
        else
          Usage(("unknown mode " + s).c_str());
      }
    } else if (flag == "--backend") {
      if (value == "auto")
        a.backend = kernels::Backend::kAuto;
      else if (value == "cuda")
        a.backend = kernels::Backend::kCuda;
      else if (value == "cpu")
        a.backend = kernels::Backend::kCpu;
      else
        Usage(("unknown backend " + value).c_str());
    } else if (flag == "--lp_max") {
      a.lp_max = std::atoll(value.c_str());
    } else if (flag == "--repeat") {
      a.repeat = std::max(0, std::atoi(value.c_str()));
    } else if (flag == "--seed") {
      a.seed = std::strtoull(value.c_str(), nullptr, 10);
    } else if (flag == "--load") {
      a.load = std::atof(value.c_str());
      if (!(a.load > 0 && a.load <= 100)) Usage("--load takes a demand-to-capacity ratio in (0, 100]");
    } else if (flag == "--repair_rounds") {
      a.repair_rounds = std::atoi(value.c_str());
    } else if (flag == "--bound_passes") {
      a.bound_passes = std::atoi(value.c_str());
    } else if (flag == "--tolerance") {
      a.tolerance = std::atof(value.c_str());
    } else if (flag == "--tenants") {
      a.tenants = std::max(1, std::atoi(value.c_str()));
    } else if (flag == "--tenant_limits") {
      a.tenant_limits = std::atof(value.c_str());
    } else if (flag == "--fair_share") {
      a.fair_share = value == "1" || value == "true";
    } else if (flag == "--capabilities") {
      a.capabilities = value == "1" || value == "true";
    } else if (flag == "--sequence") {
      a.sequence = std::max(0, std::atoi(value.c_str()));
    } else if (flag == "--warm_target_gap") {
      a.warm_target_gap = std::atof(value.c_str());
    } else if (flag == "--warm_passes") {
      a.warm_passes = std::max(1, std::atoi(value.c_str()));
    } else if (flag == "--warm") {
      a.warm = value == "1" || value == "true";
    } else if (flag == "--lp") {
      a.lp = Split(value);
      for (const std::string& e : a.lp) {
        if (e != "clp" && e != "highs") Usage(("unknown LP engine " + e + " (clp or highs)").c_str());
      }
      if (a.lp.empty()) Usage("--lp needs at least one engine");
    } else if (flag == "--trace") {
      a.trace = value == "1" || value == "true";
    } else if (flag == "--json") {
      a.json = value;
    } else {
      Usage(("unknown flag " + flag).c_str());
    }
  }
  return a;
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Best wall time of `repeat` runs (after one warm-up; with 0, of the one
// cold run), in milliseconds.
template <typename F>
kernels::Solution Timed(int repeat, F run, double* best_ms) {
  const auto first = std::chrono::steady_clock::now();
  kernels::SolveResult r = run();
  if (!r.ok()) {
    std::fprintf(stderr, "solver_benchmark: %s\n", r.error().message.c_str());
    std::exit(1);
  }
  *best_ms = repeat == 0 ? 1000 * Seconds(first) : 1e300;  // --repeat 0: the one run, cold
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    kernels::SolveResult again = run();
    *best_ms = std::min(*best_ms, 1000 * Seconds(start));
  }
  return std::move(r).value();
}

// The workload and the solver's options the flags ask for.
bench::WorkloadSpec SpecOf(const Args& args, long long requests, kernels::AzureFirst mode) {
  bench::WorkloadSpec spec;
  spec.requests = requests;
  spec.endpoints = args.endpoints;
  spec.mode = mode;
  spec.seed = args.seed;
  spec.load = args.load;
  spec.capabilities = args.capabilities;
  spec.tenants = args.tenants;
  spec.tenant_limits = args.tenant_limits;
  return spec;
}
kernels::SolverOptions OptionsOf(const Args& args) {
  kernels::SolverOptions options;
  options.backend = args.backend;
  options.repair_rounds = args.repair_rounds;
  options.tolerance = args.tolerance;
  options.bound_passes = args.bound_passes;
  options.warm_target_gap = args.warm_target_gap;
  return options;
}

// RunSequence(): --sequence. Returns the summary's JSON object.
std::string RunSequence(const Args& args, long long n, kernels::AzureFirst mode) {
  const kernels::ProblemData window = bench::GenerateWorkload(SpecOf(args, n * args.sequence, mode));
  const std::vector<std::int64_t> cap_t = window.ep_tpm, cap_r = window.ep_rpm;  // window_s is 60
  std::vector<std::int64_t> left_t = cap_t, left_r = cap_r;
  kernels::SolverOptions options = OptionsOf(args);
  if (args.trace) {
    options.on_iteration = [](const kernels::IterationInfo& it) {
      std::fprintf(stderr, "pass %4d  temperature %.3e  overload %.3e\n", it.iteration, it.temperature, it.overload);
    };
  }
  std::vector<int> passes;
  double warm_ms = 0, worst_gap = 0, first_ms = 0;
  int at_cap = 0;
  for (int k = 0; k < args.sequence; ++k) {
    kernels::ProblemData batch =
        bench::WithRequestsOf(window, window, static_cast<std::size_t>(k * n), static_cast<std::size_t>((k + 1) * n));
    batch.ep_tpm = left_t;
    batch.ep_rpm = left_r;
    const auto start = std::chrono::steady_clock::now();
    kernels::SolveResult r = kernels::Solve(batch.View(), options);
    const double ms = 1000 * Seconds(start);
    if (!r.ok()) {
      std::fprintf(stderr, "solver_benchmark: batch %d of the sequence: %s\n", k, r.error().message.c_str());
      std::exit(1);
    }
    const kernels::Solution& sol = r.value();
    bench::TakeCapacity(batch, sol, &left_t, &left_r);
    int full = 0;
    for (std::size_t p = 0; p < cap_t.size(); ++p) full += left_t[p] <= cap_t[p] / 100 || left_r[p] <= cap_r[p] / 100;
    std::printf("%9s batch %3d: %8.1f ms %4d passes  cert gap %.2e  endpoints at >= 99%% of a capacity: %d\n", "", k,
                ms, sol.iterations, sol.gap, full);
    if (k == 0) {
      first_ms = ms;
    } else {
      warm_ms += ms;
      passes.push_back(sol.iterations);
      at_cap += sol.iterations >= options.max_iterations;
    }
    worst_gap = std::max(worst_gap, sol.gap);
    options.initial_prices = sol.prices;
    options.initial_strict_azure_price = sol.strict_azure_price;
    options.initial_strict_reject_weight = sol.strict_reject_weight;
    options.max_iterations = args.warm_passes;
  }
  std::vector<int> sorted = passes;
  std::sort(sorted.begin(), sorted.end());
  const int warm = static_cast<int>(passes.size());
  const double mean_ms = warm ? warm_ms / warm : 0;
  const int p50 = warm ? sorted[warm / 2] : 0, pmax = warm ? sorted.back() : 0;
  double used_t = 0, used_r = 0, total_t = 0, total_r = 0;
  for (std::size_t p = 0; p < cap_t.size(); ++p) {
    used_t += static_cast<double>(cap_t[p] - left_t[p]);
    used_r += static_cast<double>(cap_r[p] - left_r[p]);
    total_t += static_cast<double>(cap_t[p]);
    total_r += static_cast<double>(cap_r[p]);
  }
  std::printf(
      "%9lld %4d %-8s sequence of %d: cold %.1f ms; warm mean %.1f ms, passes p50 %d max %d, %d of %d at the cap of "
      "%d; "
      "worst cert gap %.2e; used %.1f%% of tokens, %.1f%% of requests\n",
      n, args.endpoints, kernels::AzureFirstName(mode), args.sequence, first_ms, mean_ms, p50, pmax, at_cap, warm,
      args.warm_passes, worst_gap, 100 * used_t / std::max(total_t, 1.0), 100 * used_r / std::max(total_r, 1.0));
  std::fflush(stdout);
  std::ostringstream json;
  json << "{\"requests\": " << n << ", \"endpoints\": " << args.endpoints << ", \"mode\": \""
       << kernels::AzureFirstName(mode) << "\", \"sequence\": " << args.sequence << ", \"cold_ms\": " << first_ms
       << ", \"warm_mean_ms\": " << mean_ms << ", \"warm_passes_p50\": " << p50 << ", \"warm_passes_max\": " << pmax
       << ", \"warm_at_cap\": " << at_cap << ", \"worst_certified_gap\": " << worst_gap << "}";
  return json.str();
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = Parse(argc, argv);
  std::printf("solver_benchmark: %u hardware threads, %d solver threads on the CPU, CUDA backend %s, device %s\n",
              std::thread::hardware_concurrency(), kernels::CpuThreads(),
              kernels::CudaCompiledIn() ? "built" : "not built", kernels::CudaDeviceAvailable() ? "present" : "absent");
  if (args.warm)
    std::printf("every solve warm-started from the prices of the previous batch (seed %llu)\n", args.seed + 1);
  std::printf("%9s %4s %-8s %-5s %9s %6s %9s %9s %12s %10s %12s %10s %9s %10s %9s\n", "requests", "M", "mode", "back",
              "ours ms", "iters", "cert gap", "groups", "greedy ms", "greedy/us", "azgreedy ms", "azgr/us", "lp s",
              "lp/ours x", "lp gap");
  std::ostringstream json;
  json << "{\"machine_threads\": " << std::thread::hardware_concurrency()
       << ", \"cpu_threads\": " << kernels::CpuThreads() << ", \"runs\": [";
  bool first = true;
  for (long long n : args.sizes) {
    for (kernels::AzureFirst mode : args.modes) {
      if (args.sequence > 0) {
        json << (first ? "" : ", ") << RunSequence(args, n, mode);
        first = false;
        continue;
      }
      const bench::WorkloadSpec spec = SpecOf(args, n, mode);
      kernels::ProblemData data = bench::GenerateWorkload(spec);
      data.policy.fair_share = args.fair_share;
      const kernels::ProblemView view = data.View();
      kernels::SolverOptions options = OptionsOf(args);
      if (args.warm) {
        bench::WorkloadSpec before = spec;
        before.seed = args.seed + 1;
        kernels::ProblemData previous = bench::WithRequestsOf(data, bench::GenerateWorkload(before));
        kernels::SolveResult r = kernels::Solve(previous.View(), options);
        if (!r.ok()) {
          std::fprintf(stderr, "solver_benchmark: the previous batch: %s\n", r.error().message.c_str());
          return 1;
        }
        options.initial_prices = r.value().prices;
        options.initial_strict_azure_price = r.value().strict_azure_price;
        options.initial_strict_reject_weight = r.value().strict_reject_weight;
      }
      if (args.trace) {
        options.on_iteration = [last = std::chrono::steady_clock::now()](const kernels::IterationInfo& it) mutable {
          const auto now = std::chrono::steady_clock::now();
          std::fprintf(stderr, "pass %4d  temperature %.3e  overload %.3e  %7.2f ms\n", it.iteration, it.temperature,
                       it.overload, 1000 * std::chrono::duration<double>(now - last).count());
          last = now;
        };
      }
      double ours_ms, greedy_ms, az_ms;
      const kernels::Solution ours = Timed(
          args.repeat, [&] { return kernels::Solve(view, options); }, &ours_ms);
      const kernels::Solution greedy = Timed(
          args.repeat, [&] { return kernels::SolveGreedy(view); }, &greedy_ms);
      const kernels::Solution az = Timed(
          args.repeat, [&] { return kernels::SolveAzureFirstGreedy(view); }, &az_ms);
      // The measured gap against the LP optimum. In strict mode, one gap per
      // lexicographic level (rejection cost, Azure tokens short of the LP's,
      // cost), and the worst of them.
      double lp_s = -1, lp_gap = -1, level_gap[3] = {-1, -1, -1};
      std::ostringstream engines_json, engines_line;
#if defined(AZIMUTH_HAS_REFERENCE)
      if (n <= args.lp_max) {
        for (std::size_t e = 0; e < args.lp.size(); ++e) {
          const auto start = std::chrono::steady_clock::now();
          const bench::LpReference lp(view, args.lp[e] == "highs" ? bench::LpEngine::kHighs : bench::LpEngine::kClp);
          // Strict: the LP of the solver's tiered objective, whose optimum
          // has the lexicographic LPs' levels (solver_test checks that on
          // small instances, where the three lexicographic LPs finish).
          const bench::LpLevels opt = mode == kernels::AzureFirst::kStrict
                                          ? lp.SolveTiered(ours.strict_reject_weight, ours.strict_azure_price)
                                          : lp.SolveMode(mode, data.policy.azure_discount);
          const double seconds = Seconds(start);
          const double gap = (ours.mode_objective - opt.objective) / ours.mode_objective;
          engines_json << (e == 0 ? "" : ", ") << "{\"engine\": \"" << args.lp[e]
                       << "\", \"optimal\": " << (opt.optimal ? "true" : "false") << ", \"seconds\": " << seconds
                       << ", \"engine_seconds\": " << opt.engine_seconds << ", \"objective\": " << opt.objective
                       << ", \"measured_gap\": " << gap << "}";
          char text[200];
          std::snprintf(text, sizeof text, "%s %s %.2f s (solve %.2f s), optimum %.9g, ours %+.2e", e == 0 ? "" : ";",
                        args.lp[e].c_str(), seconds, opt.engine_seconds, opt.objective, gap);
          engines_line << text << (opt.optimal ? "" : " (NOT OPTIMAL)");
          if (e != 0) continue;
          lp_s = seconds;
          if (mode == kernels::AzureFirst::kStrict) {
            auto relative = [](double excess, double base) { return excess / std::max(base, 1e-12); };
            level_gap[0] = relative(ours.reject_cost_usd - opt.reject_usd, opt.reject_usd);
            level_gap[1] = relative(opt.azure_tokens - static_cast<double>(ours.azure_tokens), opt.azure_tokens);
            level_gap[2] = relative(ours.assign_cost_usd - opt.cost_usd, opt.cost_usd);
            lp_gap = std::max({level_gap[0], level_gap[1], level_gap[2]});
          } else {
            lp_gap = gap;
          }
        }
      }
#endif
      if (args.trace) {
        const kernels::PhaseTimes& t = ours.phase_ms;
        std::fprintf(stderr,
                     "phases (last solve, ms): prepare %.1f, groups %.1f, prices %.1f, bound %.1f, rounding %.1f, "
                     "repair %.1f, tenants %.1f, summary %.1f\n",
                     t.prepare, t.groups, t.prices, t.bound, t.rounding, t.repair, t.tenants, t.summary);
      }
      std::printf("%9lld %4d %-8s %-5s %9.1f %6d %9.2e %9lld %12.1f %10.3f %12.1f %10.3f %9.2f %10.0f %9.2e\n", n,
                  args.endpoints, kernels::AzureFirstName(mode), kernels::BackendName(ours.backend), ours_ms,
                  ours.iterations, ours.gap, static_cast<long long>(ours.groups), greedy_ms,
                  greedy.mode_objective / ours.mode_objective, az_ms, az.mode_objective / ours.mode_objective, lp_s,
                  lp_s > 0 ? 1000 * lp_s / ours_ms : -1.0, lp_gap);
      std::fflush(stdout);
      json << (first ? "" : ", ") << "{\"requests\": " << n << ", \"endpoints\": " << args.endpoints << ", \"mode\": \""
           << kernels::AzureFirstName(mode) << "\", \"backend\": \"" << kernels::BackendName(ours.backend)
           << "\", \"solve_ms\": " << ours_ms << ", \"iterations\": " << ours.iterations
           << ", \"certified_gap\": " << ours.gap << ", \"objective_usd\": " << ours.objective_usd
           << ", \"mode_objective\": " << ours.mode_objective << ", \"greedy_ms\": " << greedy_ms
           << ", \"greedy_objective_ratio\": " << greedy.mode_objective / ours.mode_objective
           << ", \"azure_greedy_ms\": " << az_ms
           << ", \"azure_greedy_objective_ratio\": " << az.mode_objective / ours.mode_objective
           << ", \"lp_seconds\": " << lp_s << ", \"lp_measured_gap\": " << lp_gap << ", \"lp_level_gaps\": ["
           << level_gap[0] << ", " << level_gap[1] << ", " << level_gap[2] << "], \"lp\": [" << engines_json.str()
           << "]}";
      if (args.lp.size() > 1 && lp_s >= 0) std::printf("%9s LP engines:%s\n", "", engines_line.str().c_str());
      if (level_gap[0] != -1) {
        std::printf("%9s strict levels vs the LP: rejection %+.2e, Azure tokens %+.2e, cost %+.2e\n", "", level_gap[0],
                    level_gap[1], level_gap[2]);
      }
      first = false;
    }
  }
  json << "]}\n";
  if (!args.json.empty()) {
    std::ofstream(args.json) << json.str();
    std::printf("wrote %s\n", args.json.c_str());
  }
  return 0;
}
