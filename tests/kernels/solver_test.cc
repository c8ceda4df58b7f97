// Copyright 2026 Azimuth authors.
//
// Solver tests: every solve is checked against docs/design.md's invariants; random
// instances are checked against exact references (CLP for the LP bound and
// the lexicographic strict levels, LEMON for the integer optimum where only
// request counts bind); edge cases and bad input. Each test runs on the CPU
// backend, and on CUDA where a device is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "azimuth/kernels/baselines.h"
#include "azimuth/kernels/online.h"
#include "azimuth/kernels/problem_data.h"
#include "azimuth/kernels/solver.h"
#include "bench/reference/lp_reference.h"
#include "bench/workload/generator.h"

namespace azimuth::kernels {
namespace {

using bench::CheckInvariants;
using bench::GenerateWorkload;
using bench::WithRequestsOf;
using bench::WorkloadSpec;

std::vector<Backend> Backends() { return {Backend::kCpu, Backend::kCuda}; }

bool Unavailable(Backend backend) { return backend == Backend::kCuda && !CudaDeviceAvailable(); }

// GTEST_SKIP() returns from the calling function, so this is a macro.
#define SKIP_IF_UNAVAILABLE(backend) \
  if (Unavailable(backend)) GTEST_SKIP() << "no CUDA device"

Solution SolveOk(ProblemData& data, Backend backend, SolverOptions options = {}) {
  options.backend = backend;
  SolveResult result = Solve(data.View(), options);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  if (!result.ok()) return Solution{};
  EXPECT_EQ(result.value().backend, backend);
  const std::string violation = CheckInvariants(data.View(), result.value());
  EXPECT_EQ(violation, "");
  return std::move(result).value();
}

std::string ModeName(AzureFirst mode) { return AzureFirstName(mode); }

// --- Invariants and determinism over a table of sizes and modes ---------

using SizeCase = std::tuple<Backend, AzureFirst, std::int64_t /*requests*/, int /*endpoints*/, double /*load*/>;

class SolverSizes : public testing::TestWithParam<SizeCase> {};

TEST_P(SolverSizes, InvariantsHoldAndSolveIsDeterministic) {
  const auto [backend, mode, n, m, load] = GetParam();
  SKIP_IF_UNAVAILABLE(backend);
  WorkloadSpec spec;
  spec.requests = n;
  spec.endpoints = m;
  spec.mode = mode;
  spec.load = load;
  spec.seed = static_cast<std::uint64_t>(n * 131 + m);
  ProblemData data = GenerateWorkload(spec);
  const Solution a = SolveOk(data, backend);
  const Solution b = SolveOk(data, backend);
  EXPECT_EQ(a.endpoint, b.endpoint);
  EXPECT_EQ(std::memcmp(&a.objective_usd, &b.objective_usd, sizeof(double)), 0);
  EXPECT_EQ(std::memcmp(&a.mode_lower_bound, &b.mode_lower_bound, sizeof(double)), 0);
  EXPECT_EQ(a.prices.per_token, b.prices.per_token);
  EXPECT_EQ(a.assigned + a.rejected, n);
  EXPECT_GE(a.gap, 0.0);
  EXPECT_LE(a.mode_lower_bound, a.mode_objective * (1 + 1e-12) + 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Table, SolverSizes,
                         testing::Combine(testing::ValuesIn(Backends()),
                                          testing::Values(AzureFirst::kStrict, AzureFirst::kWeighted, AzureFirst::kOff),
                                          testing::Values<std::int64_t>(0, 1, 300, 5000), testing::Values(1, 7, 64),
                                          testing::Values(0.6, 1.3)),
                         [](const testing::TestParamInfo<SizeCase>& info) {
                           return std::string(BackendName(std::get<0>(info.param))) + "_" +
                                  ModeName(std::get<1>(info.param)) + "_n" + std::to_string(std::get<2>(info.param)) +
                                  "_m" + std::to_string(std::get<3>(info.param)) + "_load" +
                                  std::to_string(static_cast<int>(std::get<4>(info.param) * 10));
                         });

// --- Agreement with exact references on random instances ----------------

using RefCase = std::tuple<Backend, std::uint64_t /*seed*/>;

class SolverReference : public testing::TestWithParam<RefCase> {};

// The generator's default footprint (64 endpoints) with `requests` requests.
ProblemData DefaultWorkload(std::int64_t requests, AzureFirst mode) {
  WorkloadSpec spec;
  spec.requests = requests;
  spec.mode = mode;
  return GenerateWorkload(spec);
}

WorkloadSpec ReferenceSpec(std::uint64_t seed, AzureFirst mode) {
  WorkloadSpec spec;
  spec.requests = 1500;
  spec.endpoints = 12;
  spec.seed = seed;
  spec.mode = mode;
  spec.load = 0.8 + 0.1 * static_cast<double>(seed % 5);
  return spec;
}

// The mode's LP optimum (strict: the LP of the solver's tiered objective),
// checked against the solve: the certificate a lower bound on it, the answer
// no better than it, and the certified gap covering the measured one.
bench::LpLevels ExpectAgreesWithLp(ProblemData& data, const Solution& s, AzureFirst mode) {
  const bench::LpReference lp(data.View());
  const bench::LpLevels opt = mode == AzureFirst::kStrict ? lp.SolveTiered(s.strict_reject_weight, s.strict_azure_price)
                                                          : lp.SolveMode(mode, data.policy.azure_discount);
  EXPECT_TRUE(opt.optimal);
  if (!opt.optimal) return opt;
  EXPECT_LE(s.mode_lower_bound, opt.objective * (1 + 1e-9) + 1e-9);
  EXPECT_GE(s.mode_objective, opt.objective * (1 - 1e-9) - 1e-9);
  EXPECT_GE(s.gap + 1e-9, (s.mode_objective - opt.objective) / s.mode_objective);
  return opt;
}

// The certificate is a true lower bound on the LP optimum, the answer is no
// better than it, and (N = 1500, so up to 2M = 24 split requests are rounded)
// within 0.4% of it (measured: at most 0.15% over these seeds).
TEST_P(SolverReference, OffAndWeightedAgreeWithLp) {
  const auto [backend, seed] = GetParam();
  SKIP_IF_UNAVAILABLE(backend);
  for (AzureFirst mode : {AzureFirst::kOff, AzureFirst::kWeighted}) {
    ProblemData data = GenerateWorkload(ReferenceSpec(seed, mode));
    const Solution s = SolveOk(data, backend);
    const bench::LpReference lp(data.View());
    const bench::LpLevels opt = lp.SolveMode(mode, data.policy.azure_discount);
    ASSERT_TRUE(opt.optimal);
    SCOPED_TRACE(ModeName(mode));
    EXPECT_LE(s.mode_lower_bound, opt.objective * (1 + 1e-9) + 1e-9);
    EXPECT_GE(s.mode_objective, opt.objective * (1 - 1e-9) - 1e-9);
    EXPECT_LE(s.mode_objective, opt.objective * 1.004);
    // The certified gap covers the measured one.
    EXPECT_GE(s.gap + 1e-9, (s.mode_objective - opt.objective) / s.mode_objective);
  }
}

// Strict mode: the tiered objective's certificate against its LP, and each
// lexicographic level against the three LPs solved in turn.
TEST_P(SolverReference, StrictLevelsAgreeWithLexicographicLp) {
  const auto [backend, seed] = GetParam();
  SKIP_IF_UNAVAILABLE(backend);
  ProblemData data = GenerateWorkload(ReferenceSpec(seed, AzureFirst::kStrict));
  const Solution s = SolveOk(data, backend);
  const bench::LpReference lp(data.View());
  const bench::LpLevels tiered = lp.SolveTiered(s.strict_reject_weight, s.strict_azure_price);
  ASSERT_TRUE(tiered.optimal);
  EXPECT_LE(s.mode_lower_bound, tiered.objective * (1 + 1e-9) + 1e-9);
  EXPECT_GE(s.mode_objective, tiered.objective * (1 - 1e-9) - 1e-9);
  const bench::LpLevels lex = lp.SolveStrict();
  ASSERT_TRUE(lex.optimal);
  // The tier weights make the single objective lexicographic: its LP optimum
  // has the lexicographic levels.
  EXPECT_NEAR(tiered.reject_usd, lex.reject_usd, 1e-6 * (1 + lex.reject_usd));
  EXPECT_NEAR(tiered.azure_tokens, lex.azure_tokens, 1e-6 * (1 + lex.azure_tokens));
  // Integer levels: rejection within 1% plus one priority-0 rejection, Azure
  // tokens and cost within 0.1% of the lexicographic optimum (measured at
  // worst over these seeds: +0.13 USD or 0.46%, 0.0065% and +0.025%; cost
  // falls below the LP's where fewer requests are served).
  EXPECT_LE(s.reject_cost_usd, lex.reject_usd * 1.01 + 0.05);
  EXPECT_GE(static_cast<double>(s.azure_tokens), lex.azure_tokens * 0.999);
  EXPECT_LE(s.assign_cost_usd, lex.cost_usd * 1.001);
}

// Counts only: a network flow, so LEMON's integer optimum is exact.
TEST_P(SolverReference, CountsOnlyAgreesWithMinCostFlow) {
  const auto [backend, seed] = GetParam();
  SKIP_IF_UNAVAILABLE(backend);
  WorkloadSpec spec = ReferenceSpec(seed, AzureFirst::kOff);
  spec.requests = 3000;
  spec.counts_only = true;
  ProblemData data = GenerateWorkload(spec);
  const Solution s = SolveOk(data, backend);
  const double opt = bench::MinCostFlowOptimum(data.View());
  ASSERT_TRUE(std::isfinite(opt));
  EXPECT_LE(s.mode_lower_bound, opt + 1e-6);
  EXPECT_GE(s.objective_usd, opt - 1e-6);
  EXPECT_LE(s.objective_usd, opt * 1.01);
}

// Capabilities (rules 5 and 6) in every mode: the LP reference writes them
// out again, and the answer is within the certified gap of its optimum.
TEST_P(SolverReference, CapabilitiesAgreeWithLp) {
  const auto [backend, seed] = GetParam();
  SKIP_IF_UNAVAILABLE(backend);
  for (AzureFirst mode : {AzureFirst::kOff, AzureFirst::kWeighted, AzureFirst::kStrict}) {
    WorkloadSpec spec = ReferenceSpec(seed, mode);
    spec.capabilities = true;
    spec.long_contexts = 0.003;  // a few: they are rejected or split in the LP
    ProblemData data = GenerateWorkload(spec);
    ASSERT_FALSE(data.rq_needs.empty());
    const Solution s = SolveOk(data, backend);
    SCOPED_TRACE(ModeName(mode));
    const bench::LpLevels opt = ExpectAgreesWithLp(data, s, mode);
    ASSERT_TRUE(opt.optimal);
    // More classes split more requests than without capabilities: measured
    // at most 0.42% above the LP over these seeds (OFF, WEIGHTED).
    if (mode != AzureFirst::kStrict) {
      EXPECT_LE(s.mode_objective, opt.objective * 1.006);
    }
  }
}

// Endpoints with room for no request (a few tokens, or no request left) or
// for a few small ones, as a server's window leaves them: those without room
// take nothing, a request whose only eligible endpoints have none is
// CAPACITY_EXHAUSTED (SolveOk's invariants), and the certificate is a lower
// bound on the LP, which (as the solver) places no request where it does not
// fit, and covers the measured gap. The bound may exceed the plain LP's
// optimum: an option that no request of its group fits is dropped.
TEST_P(SolverReference, EndpointsWithRoomForFewRequestsAgreeWithLp) {
  const auto [backend, seed] = GetParam();
  SKIP_IF_UNAVAILABLE(backend);
  for (AzureFirst mode : {AzureFirst::kOff, AzureFirst::kWeighted, AzureFirst::kStrict}) {
    ProblemData data = GenerateWorkload(ReferenceSpec(seed, mode));
    std::int64_t smallest = std::numeric_limits<std::int64_t>::max();
    for (std::size_t i = 0; i < data.num_requests(); ++i) {
      smallest = std::min<std::int64_t>(smallest, std::int64_t{data.rq_tokens_in[i]} + data.rq_tokens_out[i]);
    }
    const std::size_t m = data.ep_tpm.size();
    for (std::size_t p = 0; p < m; ++p) {
      if (p % 4 == 0) data.ep_tpm[p] = smallest - 1;  // room for no request (window_s is 60)
      if (p % 4 == 1) data.ep_tpm[p] = 600;           // for a few small ones
      if (p % 4 == 2) data.ep_rpm[p] = 0;
    }
    const Solution s = SolveOk(data, backend);
    SCOPED_TRACE(ModeName(mode));
    for (std::size_t i = 0; i < data.num_requests(); ++i) {
      const std::int32_t p = s.endpoint[i];
      EXPECT_TRUE(p < 0 || (p % 4 != 0 && p % 4 != 2)) << "request " << i << " on endpoint " << p;
    }
    ExpectAgreesWithLp(data, s, mode);
  }
}

// Tenant limits (tokens, requests, budget) that bind for some tenants:
// never exceeded (SolveOk's invariants), TENANT_LIMIT answers, and the
// certificate a true lower bound on the LP with the tenant rows, covering
// the measured gap; in every mode.
TEST_P(SolverReference, TenantLimitsHoldAndAgreeWithLp) {
  const auto [backend, seed] = GetParam();
  SKIP_IF_UNAVAILABLE(backend);
  for (AzureFirst mode : {AzureFirst::kOff, AzureFirst::kWeighted, AzureFirst::kStrict}) {
    WorkloadSpec spec = ReferenceSpec(seed, mode);
    spec.load = 0.7;
    spec.tenants = 8;
    spec.tenant_limits = 0.9;
    ProblemData data = GenerateWorkload(spec);
    const Solution s = SolveOk(data, backend);
    SCOPED_TRACE(ModeName(mode));
    EXPECT_GT(std::count(s.reason.begin(), s.reason.end(), Reason::kTenantLimit), 0);
    ExpectAgreesWithLp(data, s, mode);
  }
}

// Binding tenant limits (half the tenants below their demand): the solve
// takes a second look at the batch with the tenants it priced grouped apart
// and their rejections weighed at their tenant prices (moving with the
// endpoints' in OFF and weighted mode), and the repair weighs rejections
// the same way, so capacity goes to the requests the limits let through.
// Measured (solver_benchmark --sizes 8000 --tenants 8 --tenant_limits 1.2,
// off / weighted / strict): 5.0e-2 / 5.3e-2 / 8.6e-2 certified before the
// repair weighed rejections, 9.2e-3 / 9.4e-3 / 2.4e-2 before the second
// look, 4.4e-4 / 4.2e-4 / 1.7e-3 with it. The limits hold exactly, and
// every refusal names its limit (SolveOk's invariants).
// A generated batch at 64 endpoints whose tenants' limits (1.2 x an even
// share of demand) bind for about half of them, solved on the CPU; some
// requests are refused by their limits.
Solution SolveWithBindingLimits(AzureFirst mode, std::int64_t requests, int tenants) {
  WorkloadSpec spec;
  spec.requests = requests;
  spec.endpoints = 64;
  spec.mode = mode;
  spec.seed = 1;
  spec.tenants = tenants;
  spec.tenant_limits = 1.2;
  ProblemData data = GenerateWorkload(spec);
  const Solution s = SolveOk(data, Backend::kCpu);
  EXPECT_GT(std::count(s.reason.begin(), s.reason.end(), Reason::kTenantLimit), 0);
  return s;
}

TEST(SolverTenants, PricedTenantsCertifyLikeUnlimitedOnes) {
  for (AzureFirst mode : {AzureFirst::kOff, AzureFirst::kWeighted, AzureFirst::kStrict}) {
    SCOPED_TRACE(ModeName(mode));
    const Solution s = SolveWithBindingLimits(mode, 8000, 8);
    EXPECT_LT(s.gap, mode == AzureFirst::kStrict ? 5e-3 : 1.5e-3);
    EXPECT_LT(s.iterations, 2 * SolverOptions{}.max_iterations);
  }
}

// Where the tenant and endpoint steps pull against each other (each step
// halved) the tenant prices stop and the endpoints' go on alone. Before,
// the look at 20,000 x 64 with 100 tenants (OFF) sat 200 passes at a
// relative overload of 0.09-0.12 and ran to its pass cap: 459 passes in
// all, 9.2e-4 certified; now 146 passes, 4.9e-4 (weighted: 224 and 7.7e-4,
// now 174 and 5.5e-4).
TEST(SolverTenants, TheLookStopsTheTenantPricesWhereTheStepsStall) {
  for (AzureFirst mode : {AzureFirst::kOff, AzureFirst::kWeighted}) {
    SCOPED_TRACE(ModeName(mode));
    const Solution s = SolveWithBindingLimits(mode, 20000, 100);
    EXPECT_LT(s.iterations, 200);
    EXPECT_LT(s.gap, 1e-3);
  }
}

// Fair share's guarantee on generated batches with capacity short (load
// 1.5), eight tenants weighing 1, 2, 4, ... : no request refused for
// capacity could take the place of a served request of its priority,
// on an endpoint eligible for it (the reference's own eligibility) where it
// fits once that one leaves (in strict mode, on Azure, no larger than it),
// whose tenant's share is above its own by more than one request. In every
// mode; the capacity and the mode's invariants hold (SolveOk).
TEST(SolverTenants, FairShareLeavesNoSwapThatEvensTheShares) {
  for (AzureFirst mode : {AzureFirst::kOff, AzureFirst::kWeighted, AzureFirst::kStrict}) {
    WorkloadSpec spec;
    spec.requests = 6000;
    spec.endpoints = 64;
    spec.mode = mode;
    spec.seed = 3;
    spec.load = 1.5;
    spec.tenants = 8;
    ProblemData data = GenerateWorkload(spec);
    data.policy.fair_share = true;
    for (int k = 0; k < 8; ++k) data.policy.tenant_weights["tenant-" + std::to_string(k)] = std::ldexp(1.0, k);
    const Solution s = SolveOk(data, Backend::kCpu);
    SCOPED_TRACE(ModeName(mode));
    const bench::ReferenceModel ref = bench::BuildReferenceModel(data.View());
    const std::size_t n = data.num_requests();
    const std::int32_t m = ref.num_endpoints;
    std::vector<std::int64_t> room(ref.cap_tokens);
    for (std::size_t i = 0; i < n; ++i) {
      if (s.endpoint[i] >= 0) room[s.endpoint[i]] -= static_cast<std::int64_t>(ref.tokens[i]);
    }
    auto weight = [&](std::int32_t t) { return data.policy.tenant_weights.at(data.tenants.Name(t)); };
    int refused = 0, checked = 0;
    for (int level = 0; level < kNumPriorities; ++level) {
      std::vector<std::int64_t> served(data.tenants.size(), 0);
      std::vector<std::vector<std::size_t>> on(m);
      for (std::size_t i = 0; i < n; ++i) {
        if (data.rq_priority[i] != level || s.endpoint[i] < 0) continue;
        ++served[data.rq_tenant[i]];
        on[s.endpoint[i]].push_back(i);
      }
      for (std::size_t i = 0; i < n; ++i) {
        if (data.rq_priority[i] != level || s.reason[i] != Reason::kCapacityExhausted) continue;
        ++refused;
        const std::int32_t b = data.rq_tenant[i];
        const double after = static_cast<double>(served[b] + 1) / weight(b);
        for (std::int32_t p = 0; p < m; ++p) {
          if (ref.pair_of[i * m + p] < 0) continue;
          for (std::size_t j : on[p]) {
            const std::int32_t a = data.rq_tenant[j];
            if (a == b || room[p] + static_cast<std::int64_t>(ref.tokens[j]) < static_cast<std::int64_t>(ref.tokens[i]))
              continue;
            // Strict mode: on Azure, only a request no larger than i's.
            if (mode == AzureFirst::kStrict && ref.azure[p] && ref.tokens[j] > ref.tokens[i]) continue;
            ++checked;
            EXPECT_LE(static_cast<double>(served[a]) / weight(a), after)
                << "request " << i << " (tenant " << b << ") could take " << j << "'s place on endpoint " << p;
          }
        }
      }
    }
    EXPECT_GT(refused, 100);
    EXPECT_GT(checked, 1000);
  }
}

INSTANTIATE_TEST_SUITE_P(Random, SolverReference,
                         testing::Combine(testing::ValuesIn(Backends()), testing::Range<std::uint64_t>(1, 7)),
                         [](const testing::TestParamInfo<RefCase>& info) {
                           return std::string(BackendName(std::get<0>(info.param))) + "_seed" +
                                  std::to_string(std::get<1>(info.param));
                         });

// --- Wide footprints --------------------------------------------------------

// Hundreds of endpoints in many models, regions and deployment kinds (the
// generator's wide footprints): the certificate is a true bound on the LP
// optimum and covers the measured gap, and the price phase converges well
// before its pass cap. Before the price step worked per block of the
// eligibility graph such footprints stopped at the pass cap, up to 30% from
// the optimum.
using WideCase = std::tuple<AzureFirst, int /*endpoints*/, bool /*capabilities*/>;
class SolverWide : public testing::TestWithParam<WideCase> {};

TEST_P(SolverWide, CertifiedAgainstTheLpAndConvergedBeforeTheCap) {
  const auto [mode, m, capabilities] = GetParam();
  WorkloadSpec spec;
  spec.requests = 3000;
  spec.endpoints = m;
  spec.mode = mode;
  spec.seed = 7;
  spec.capabilities = capabilities;
  spec.long_contexts = 0;  // no endpoint's window here holds a 32k+ request (WorkloadSpec)
  ProblemData data = GenerateWorkload(spec);
  const Solution s = SolveOk(data, Backend::kCpu);
  EXPECT_LT(s.iterations, SolverOptions{}.max_iterations);
  const bench::LpLevels opt = ExpectAgreesWithLp(data, s, mode);
  ASSERT_TRUE(opt.optimal);
  // Only 6 to 23 requests per endpoint here (the LP reference must finish in
  // seconds), so integer rounding is most of the gap: the bound is within
  // 3e-5 of the LP everywhere, the answer 2% above it at 12 requests per
  // endpoint and up to 26% (strict) at 6. At production batch sizes the
  // gap is under 1e-3 (the solver benchmark's grid).
  if (mode != AzureFirst::kStrict && spec.requests >= 10 * m) {
    EXPECT_LE(s.gap, 3e-2) << "measured against the LP: " << (s.mode_objective - opt.objective) / s.mode_objective;
  }
  EXPECT_LE(opt.objective - s.mode_lower_bound, 1e-4 * s.mode_objective);
}

INSTANTIATE_TEST_SUITE_P(Footprints, SolverWide,
                         testing::Combine(testing::Values(AzureFirst::kOff, AzureFirst::kWeighted, AzureFirst::kStrict),
                                          testing::Values(128, 256, 512), testing::Bool()),
                         [](const testing::TestParamInfo<WideCase>& info) {
                           return ModeName(std::get<0>(info.param)) + "_m" + std::to_string(std::get<1>(info.param)) +
                                  (std::get<2>(info.param) ? "_capabilities" : "");
                         });

// A thousand endpoints at 20 requests each (too large for the LP reference):
// near the final temperature the smoothed dual is almost piecewise linear and
// Newton steps fail for good. Before the level ended at its last settled
// prices there (kStuckPasses) and the diagonal fallback step kept to a trust
// region, weighted and strict spent their passes up to the cap on rejected
// steps (passes 196-400 all at one price).
class SolverThousand : public testing::TestWithParam<AzureFirst> {};

TEST_P(SolverThousand, EndsBeforeThePassCapWithinItsCertificate) {
  WorkloadSpec spec;
  spec.requests = 20000;
  spec.endpoints = 1024;
  spec.mode = GetParam();
  spec.seed = 1;
  ProblemData data = GenerateWorkload(spec);
  const Solution s = SolveOk(data, Backend::kCpu);
  EXPECT_LT(s.iterations, SolverOptions{}.max_iterations);
  // Measured 2.1e-3 to 4.7e-3 (solver_benchmark --sizes 20000 --endpoints 1024);
  // SolveOk checks the certificate's consistency.
  EXPECT_LE(s.gap, 1e-2);
}

INSTANTIATE_TEST_SUITE_P(Modes, SolverThousand,
                         testing::Values(AzureFirst::kOff, AzureFirst::kWeighted, AzureFirst::kStrict),
                         [](const testing::TestParamInfo<AzureFirst>& info) { return ModeName(info.param); });

// --- Edge cases -----------------------------------------------------------

class SolverEdges : public testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { SKIP_IF_UNAVAILABLE(GetParam()); }

  // A small hand-made batch: policy as docs/design.md's example.
  static ProblemData Base() {
    ProblemData d;
    d.policy.now = 1780000000;
    d.policy.window_s = 60;
    d.policy.azure_first = AzureFirst::kStrict;
    d.policy.latency_usd_per_ms = 0.000001;
    const double reject[4] = {0.05, 0.1, 0.5, 2.0};
    std::copy(reject, reject + 4, d.policy.reject_usd);
    return d;
  }
  static EndpointRow Endpoint(const std::string& id, Cloud cloud, const std::string& model, std::int64_t rpm,
                              const std::string& zone = "us") {
    EndpointRow e;
    e.id = id;
    e.cloud = cloud;
    e.region = "r";
    e.zone = zone;
    e.model = model;
    e.price_in_per_1k = 0.001;
    e.price_out_per_1k = 0.004;
    e.latency_p50_ms = 300;
    e.latency_p95_ms = 800;
    e.tpm_limit = 1000000;
    e.rpm_limit = rpm;
    return e;
  }
  static RequestRow Request(const std::string& id, const std::string& model, std::uint8_t priority = 1,
                            const std::string& zone = "") {
    RequestRow r;
    r.id = id;
    r.tenant = "t";
    r.model = model;
    r.tokens_in = 1000;
    r.tokens_out = 200;
    r.zone = zone;
    r.home_cloud = Cloud::kAzure;
    r.priority = priority;
    return r;
  }
};

TEST_P(SolverEdges, EmptyBatch) {
  ProblemData d = Base();
  d.AddEndpoint(Endpoint("a", Cloud::kAzure, "gpt-5", 10));
  const Solution s = SolveOk(d, GetParam());
  EXPECT_EQ(s.assigned + s.rejected, 0);
  EXPECT_EQ(s.objective_usd, 0);
  EXPECT_EQ(s.gap, 0);
}

TEST_P(SolverEdges, NoEndpointsRejectsEverything) {
  ProblemData d = Base();
  d.AddRequest(Request("r0", "gpt-5", 3));
  const Solution s = SolveOk(d, GetParam());
  ASSERT_EQ(s.reason.size(), 1u);
  EXPECT_EQ(s.reason[0], Reason::kNoEligibleEndpoint);
  EXPECT_DOUBLE_EQ(s.reject_cost_usd, 2.0);
}

TEST_P(SolverEdges, NoEligibleEndpointForModelOrZoneOrSlo) {
  ProblemData d = Base();
  d.AddEndpoint(Endpoint("a", Cloud::kAzure, "gpt-5", 10));
  d.AddRequest(Request("wrong-model", "llama"));
  d.AddRequest(Request("wrong-zone", "gpt-5", 1, "eu"));
  RequestRow fast = Request("tight-slo", "gpt-5");
  fast.slo_ms = 500;  // the endpoint's p95 is 800
  d.AddRequest(fast);
  d.AddRequest(Request("fine", "gpt-5"));
  const Solution s = SolveOk(d, GetParam());
  EXPECT_EQ(s.reason[0], Reason::kNoEligibleEndpoint);
  EXPECT_EQ(s.reason[1], Reason::kNoEligibleEndpoint);
  EXPECT_EQ(s.reason[2], Reason::kNoEligibleEndpoint);
  EXPECT_EQ(s.reason[3], Reason::kOk);
  EXPECT_EQ(s.endpoint[3], 0);
}

TEST_P(SolverEdges, UnhealthyEndpointReceivesNothing) {
  ProblemData d = Base();
  EndpointRow sick = Endpoint("sick", Cloud::kAzure, "gpt-5", 100);
  sick.healthy = false;
  d.AddEndpoint(sick);
  d.AddEndpoint(Endpoint("well", Cloud::kAws, "gpt-5", 100));
  for (int i = 0; i < 20; ++i) d.AddRequest(Request("r" + std::to_string(i), "gpt-5"));
  const Solution s = SolveOk(d, GetParam());
  for (int p : s.endpoint) EXPECT_EQ(p, 1);
}

TEST_P(SolverEdges, AllCapacityExhausted) {
  ProblemData d = Base();
  d.AddEndpoint(Endpoint("a", Cloud::kAzure, "gpt-5", 0));
  d.AddEndpoint(Endpoint("b", Cloud::kAws, "gpt-5", 3));
  for (int i = 0; i < 10; ++i) d.AddRequest(Request("r" + std::to_string(i), "gpt-5", i % 4));
  const Solution s = SolveOk(d, GetParam());
  EXPECT_EQ(s.assigned, 3);
  EXPECT_EQ(s.rejected, 7);
  for (std::size_t i = 0; i < s.reason.size(); ++i) {
    if (s.endpoint[i] < 0) {
      EXPECT_EQ(s.reason[i], Reason::kCapacityExhausted);
    }
  }
  // The three slots go to the highest priorities (3, 3, 2: rejection costs 2, 2, 0.5).
  double served_priority_cost = 0;
  for (std::size_t i = 0; i < s.reason.size(); ++i) {
    if (s.endpoint[i] >= 0) served_priority_cost += d.policy.reject_usd[d.rq_priority[i]];
  }
  EXPECT_DOUBLE_EQ(served_priority_cost, 4.5);
}

TEST_P(SolverEdges, LaunchGateAndWaiver) {
  ProblemData d = Base();
  d.policy.azure_first_until["gpt-6"] = d.policy.now + 1000;
  d.AddEndpoint(Endpoint("az-us", Cloud::kAzure, "gpt-6", 100, "us"));
  EndpointRow cheap = Endpoint("aws-us", Cloud::kAws, "gpt-6", 100, "us");
  cheap.price_in_per_1k = cheap.price_out_per_1k = 0;  // cheaper, but gated
  d.AddEndpoint(cheap);
  d.AddEndpoint(Endpoint("aws-apac", Cloud::kAws, "gpt-6", 100, "apac"));
  d.AddRequest(Request("us", "gpt-6", 1, "us"));
  d.AddRequest(Request("any", "gpt-6", 1, ""));
  d.AddRequest(Request("apac", "gpt-6", 1, "apac"));  // no Azure in apac: waiver
  for (AzureFirst mode : {AzureFirst::kStrict, AzureFirst::kWeighted, AzureFirst::kOff}) {
    d.policy.azure_first = mode;
    const Solution s = SolveOk(d, GetParam());
    EXPECT_EQ(s.endpoint[0], 0) << ModeName(mode);
    EXPECT_EQ(s.endpoint[1], 0) << ModeName(mode);
    EXPECT_EQ(s.endpoint[2], 2) << ModeName(mode);
    EXPECT_EQ(s.reason[2], Reason::kAzureWaiver) << ModeName(mode);
  }
  // After the window the cheaper AWS endpoint wins in `off` mode.
  d.policy.now += 2000;
  d.policy.azure_first = AzureFirst::kOff;
  const Solution open = SolveOk(d, GetParam());
  EXPECT_EQ(open.endpoint[0], 1);
  EXPECT_EQ(open.reason[2], Reason::kOk);
}

// Rules 5 and 6: a request goes only where every feature it needs is
// served and its tokens fit the context; one naming a feature no endpoint
// has goes nowhere. The online path and Explain agree.
TEST_P(SolverEdges, CapabilityAndContextRules) {
  ProblemData d = Base();
  d.policy.azure_first = AzureFirst::kOff;
  EndpointRow plain = Endpoint("plain", Cloud::kAzure, "gpt-5", 100);
  plain.price_in_per_1k = plain.price_out_per_1k = 0;  // cheapest, but no features and a small context
  plain.max_context_tokens = 1100;
  EndpointRow vision = Endpoint("vision", Cloud::kAws, "gpt-5", 100);
  vision.features = {"tools", "vision"};
  ASSERT_TRUE(d.AddEndpoint(plain));
  ASSERT_TRUE(d.AddEndpoint(vision));
  auto with = [&](RequestRow r, const std::vector<std::string>& needs, std::int32_t tokens_in) {
    r.needs = d.InternNeeds(d.NeedsOf(needs));
    r.tokens_in = tokens_in;
    r.tokens_out = 100;
    return r;
  };
  d.AddRequest(with(Request("small", "gpt-5"), {}, 900));         // fits the plain endpoint
  d.AddRequest(with(Request("long", "gpt-5"), {}, 1001));         // 1101 tokens: over its context
  d.AddRequest(with(Request("sees", "gpt-5"), {"vision"}, 900));  // needs vision
  d.AddRequest(with(Request("both", "gpt-5"), {"vision", "tools"}, 900));
  d.AddRequest(with(Request("audio", "gpt-5"), {"audio"}, 900));  // nobody serves audio
  const Solution s = SolveOk(d, GetParam());
  EXPECT_EQ(s.endpoint, (std::vector<std::int32_t>{0, 1, 1, 1, -1}));
  EXPECT_EQ(s.reason[4], Reason::kNoEligibleEndpoint);

  auto pricer = OnlinePricer::Create(d.View(), &s);
  ASSERT_TRUE(pricer.ok());
  const std::vector<std::int64_t> room(2, 1000000);
  OnlineRequest r;
  r.model = d.models.Find("gpt-5");
  r.tokens_in = 1001;
  r.tokens_out = 100;
  EXPECT_EQ(pricer.value().Decide(r, room, room).endpoint, 1);
  Explanation e = pricer.value().Explain(r);
  EXPECT_EQ(e.candidates[0].excluded_by, Rule::kContext);
  EXPECT_EQ(e.candidates[1].excluded_by, Rule::kEligible);
  r.tokens_in = 900;
  r.needs = d.NeedsOf({"vision"});
  e = pricer.value().Explain(r);
  EXPECT_EQ(e.candidates[0].excluded_by, Rule::kCapability);
  r.needs = d.NeedsOf({"audio"});
  EXPECT_TRUE(r.needs.unknown);
  EXPECT_EQ(pricer.value().Decide(r, room, room).reason, Reason::kNoEligibleEndpoint);
  e = pricer.value().Explain(r);
  EXPECT_EQ(e.candidates[1].excluded_by, Rule::kCapability);
}

// The waiver is capability-aware: a launch-gated model whose Azure
// endpoints lack vision goes off Azure for the vision requests only, and
// says so; every other request stays on Azure.
TEST_P(SolverEdges, GatedModelGoesOffAzureOnlyForVisionRequests) {
  ProblemData d = Base();
  d.policy.azure_first_until["gpt-6"] = d.policy.now + 1000;
  EndpointRow azure = Endpoint("az", Cloud::kAzure, "gpt-6", 100);
  azure.features = {"tools"};
  azure.max_context_tokens = 200000;
  EndpointRow aws = Endpoint("aws", Cloud::kAws, "gpt-6", 100);
  aws.price_in_per_1k = aws.price_out_per_1k = 0;  // cheaper, gated
  aws.features = {"tools", "vision"};
  ASSERT_TRUE(d.AddEndpoint(azure));
  ASSERT_TRUE(d.AddEndpoint(aws));
  for (int i = 0; i < 6; ++i) {
    RequestRow r = Request("r" + std::to_string(i), "gpt-6");
    if (i % 2 == 1) r.needs = d.InternNeeds(d.NeedsOf({"vision"}));
    if (i == 4) r.tokens_in = 300000;  // beyond Azure's context
    d.AddRequest(r);
  }
  for (AzureFirst mode : {AzureFirst::kStrict, AzureFirst::kWeighted, AzureFirst::kOff}) {
    d.policy.azure_first = mode;
    const Solution s = SolveOk(d, GetParam());
    SCOPED_TRACE(ModeName(mode));
    for (int i = 0; i < 6; ++i) {
      const bool off_azure = i % 2 == 1 || i == 4;
      EXPECT_EQ(s.endpoint[i], off_azure ? 1 : 0) << i;
      EXPECT_EQ(s.reason[i], off_azure ? Reason::kAzureWaiver : Reason::kOk) << i;
      EXPECT_EQ(s.waiver_rule[i], i == 4 ? Rule::kContext : i % 2 == 1 ? Rule::kCapability : Rule::kEligible) << i;
    }
    auto pricer = OnlinePricer::Create(d.View(), &s);
    ASSERT_TRUE(pricer.ok());
    OnlineRequest r;
    r.model = d.models.Find("gpt-6");
    r.tokens_in = 1000;
    r.needs = d.NeedsOf({"vision"});
    const std::vector<std::int64_t> room(2, 1000000);
    const OnlineDecision online = pricer.value().Decide(r, room, room);
    EXPECT_EQ(online.endpoint, 1);
    EXPECT_EQ(online.reason, Reason::kAzureWaiver);
    EXPECT_EQ(online.waiver_rule, Rule::kCapability);
    const Explanation e = pricer.value().Explain(r);
    EXPECT_TRUE(e.waiver);
    EXPECT_EQ(e.waiver_rule, Rule::kCapability);
    r.needs = {};
    EXPECT_EQ(pricer.value().Decide(r, room, room).endpoint, 0);
    EXPECT_EQ(pricer.value().Explain(r).candidates[1].excluded_by, Rule::kLaunchGate);
  }
}

TEST_P(SolverEdges, CapabilityLimitsAreChecked) {
  ProblemData d = Base();
  EndpointRow e = Endpoint("wide", Cloud::kAzure, "gpt-5", 100);
  for (int k = 0; k < kMaxFeatures; ++k) e.features.push_back("f" + std::to_string(k));
  ASSERT_TRUE(d.AddEndpoint(e));
  EndpointRow more = Endpoint("more", Cloud::kAzure, "gpt-5", 100);
  more.features = {"one-too-many"};
  EXPECT_FALSE(d.AddEndpoint(more));
  EXPECT_EQ(d.num_endpoints(), 1u);
  for (int k = 1; k < kMaxNeedSets; ++k) {
    ASSERT_GE(d.InternNeeds(Needs{static_cast<std::uint64_t>(k), false}), 1);
  }
  EXPECT_EQ(d.InternNeeds(Needs{std::uint64_t{1} << 40, false}), -1);
  EXPECT_EQ(d.InternNeeds(Needs{1, false}), 1);  // known sets still resolve
  // Context limits: at most kMaxContextLimits distinct values, in range.
  ProblemData c = Base();
  for (int k = 0; k <= kMaxContextLimits; ++k) {
    EndpointRow row = Endpoint("c" + std::to_string(k), Cloud::kAzure, "gpt-5", 100);
    row.max_context_tokens = 1000 + k;
    c.AddEndpoint(row);
  }
  SolveResult r = Solve(c.View());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("endpoints.max_context_tokens"), std::string::npos) << r.error().message;
  c.ep_max_context.back() = -1;
  r = Solve(c.View());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("max_context_tokens[63]"), std::string::npos) << r.error().message;
}

// One tenant's token limit, another's request limit and a third's budget
// bind exactly; the capacity they give up goes to an unlimited tenant.
// Fair share (docs/design.md, "Fair share"): one endpoint with room for
// ten requests, tenants "small" (100-token requests) and "large" (2,000),
// twenty requests each of one priority. By cost alone "small" takes every
// place; with fair share the places split by weight, to within one
// request: no refused request can take the place of a request of a tenant
// above it by more than one (share(a) > (served(b) + 1) / weight(b)).
TEST_P(SolverEdges, FairShareSplitsScarceCapacityByWeight) {
  auto batch = [](bool fair, double large_weight, std::int64_t large_limit, std::uint8_t large_priority) {
    ProblemData d = Base();
    d.policy.azure_first = AzureFirst::kOff;
    EXPECT_TRUE(d.AddEndpoint(Endpoint("a", Cloud::kAws, "gpt-5", 10)));
    for (int i = 0; i < 40; ++i) {
      const bool large = i % 2 == 1;
      RequestRow r = Request("r" + std::to_string(i), "gpt-5", large ? large_priority : 1);
      r.tenant = large ? "large" : "small";
      r.tokens_in = large ? 1600 : 80;
      r.tokens_out = large ? 400 : 20;
      d.AddRequest(r);
    }
    d.policy.fair_share = fair;
    if (large_weight != 1) d.policy.tenant_weights["large"] = large_weight;
    if (large_limit > 0) d.policy.tenant_limits["large"] = TenantLimit{0, large_limit, 0};
    return d;
  };
  auto served = [&](const Solution& s) {
    std::pair<int, int> n{0, 0};  // small, large
    for (int i = 0; i < 40; ++i) {
      if (s.endpoint[i] < 0) continue;
      (i % 2 == 1 ? n.second : n.first) += 1;
    }
    return n;
  };
  ProblemData cost_only = batch(false, 1, 0, 1);
  EXPECT_EQ(served(SolveOk(cost_only, GetParam())), std::make_pair(10, 0));
  ProblemData even = batch(true, 1, 0, 1);
  const Solution s_even = SolveOk(even, GetParam());
  EXPECT_EQ(served(s_even), std::make_pair(5, 5));
  for (int i = 0; i < 40; ++i) {
    if (s_even.endpoint[i] < 0) {
      EXPECT_EQ(s_even.reason[i], Reason::kCapacityExhausted) << i;
    }
  }
  // Weights 1 : 3: 2.5 : 7.5, and from (10, 0) the swaps stop at (2, 8),
  // where 2 <= (8 + 1) / 3 and 8 / 3 <= 2 + 1.
  ProblemData weighted = batch(true, 3, 0, 1);
  EXPECT_EQ(served(SolveOk(weighted, GetParam())), std::make_pair(2, 8));
  // A tenant's limits still hold: "large" may send 3, and the rest of its
  // share goes to "small".
  ProblemData limited = batch(true, 1, 3, 1);
  const Solution s_limited = SolveOk(limited, GetParam());
  EXPECT_EQ(served(s_limited), std::make_pair(7, 3));
  // Shares are per priority: a higher priority is served first, fair share
  // or not.
  ProblemData urgent = batch(true, 1, 0, 3);
  EXPECT_EQ(served(SolveOk(urgent, GetParam())), std::make_pair(0, 10));
}

TEST_P(SolverEdges, TenantLimitsAreExactAndFreedCapacityIsUsed) {
  ProblemData d = Base();
  d.policy.azure_first = AzureFirst::kOff;
  ASSERT_TRUE(d.AddEndpoint(Endpoint("a", Cloud::kAzure, "gpt-5", 12)));
  for (const char* tenant : {"tokens", "count", "usd", "free"}) {
    for (int i = 0; i < 4; ++i) {
      RequestRow r = Request(std::string(tenant) + std::to_string(i), "gpt-5", tenant[0] == 'f' ? 0 : 2);
      r.tenant = tenant;
      d.AddRequest(r);
    }
  }
  // Each request: 1200 tokens, 0.0018 USD.
  d.policy.tenant_limits["tokens"] = TenantLimit{2 * 1200 + 100, 0, 0};
  d.policy.tenant_limits["count"] = TenantLimit{0, 3, 0};
  d.policy.tenant_limits["usd"] = TenantLimit{0, 0, 0.0018 * 1.5};
  const Solution s = SolveOk(d, GetParam());
  auto served = [&](int first) {
    int k = 0;
    for (int i = first; i < first + 4; ++i) k += s.endpoint[i] >= 0;
    return k;
  };
  EXPECT_EQ(served(0), 2);
  EXPECT_EQ(served(4), 3);
  EXPECT_EQ(served(8), 1);
  EXPECT_EQ(served(12), 4);  // 2 + 3 + 1 + 4 = 10 of the 12 slots
  for (int i = 0; i < 12; ++i) {
    if (s.endpoint[i] >= 0) continue;
    EXPECT_EQ(s.reason[i], Reason::kTenantLimit) << i;
    EXPECT_EQ(s.tenant_limit[i], i < 4   ? TenantLimitKind::kTokens
                                 : i < 8 ? TenantLimitKind::kRequests
                                         : TenantLimitKind::kBudget)
        << i;
  }
}

TEST_P(SolverEdges, StrictFillsAzureBeforeCheaperClouds) {
  ProblemData d = Base();
  d.AddEndpoint(Endpoint("az", Cloud::kAzure, "gpt-5", 5));
  EndpointRow cheap = Endpoint("gcp", Cloud::kGcp, "gpt-5", 100);
  cheap.price_in_per_1k = cheap.price_out_per_1k = 0.0001;
  d.AddEndpoint(cheap);
  for (int i = 0; i < 12; ++i) d.AddRequest(Request("r" + std::to_string(i), "gpt-5"));
  const Solution strict = SolveOk(d, GetParam());
  EXPECT_EQ(strict.assigned, 12);
  int on_azure = 0;
  for (int p : strict.endpoint) on_azure += p == 0;
  EXPECT_EQ(on_azure, 5);
  d.policy.azure_first = AzureFirst::kOff;
  const Solution off = SolveOk(d, GetParam());
  for (int p : off.endpoint) EXPECT_EQ(p, 1);
}

TEST_P(SolverEdges, TiesAreBrokenDeterministically) {
  ProblemData d = Base();
  d.policy.azure_first = AzureFirst::kOff;
  for (int e = 0; e < 4; ++e) d.AddEndpoint(Endpoint("e" + std::to_string(e), Cloud::kAws, "gpt-5", 7));
  for (int i = 0; i < 40; ++i) d.AddRequest(Request("r" + std::to_string(i), "gpt-5"));
  const Solution a = SolveOk(d, GetParam());
  const Solution b = SolveOk(d, GetParam());
  EXPECT_EQ(a.endpoint, b.endpoint);
  EXPECT_EQ(a.assigned, 28);
}

TEST_P(SolverEdges, WarmStartReachesTheSameQualityFaster) {
  WorkloadSpec spec;
  spec.requests = 20000;
  spec.endpoints = 32;
  spec.mode = AzureFirst::kOff;
  ProblemData d = GenerateWorkload(spec);
  const Solution cold = SolveOk(d, GetParam());
  SolverOptions options;
  options.initial_prices = cold.prices;
  const Solution warm = SolveOk(d, GetParam(), options);
  EXPECT_LT(warm.iterations, cold.iterations);
  EXPECT_LE(warm.gap, std::max(2 * cold.gap, 1e-3));
}

// The server's case: the next batch is another draw over the same footprint.
// Warm-started from the last batch's prices (and, in strict mode, its tiers,
// which the prices are in units of), it takes fewer passes than a cold solve
// and certifies as well. Before the restart at the coarse level's end (and
// the kept tiers) it took more passes than cold: at 24,576 x 64, 168 against
// 107 (OFF) and 400, the cap, against 142 (strict).
TEST_P(SolverEdges, WarmStartFromTheLastBatchBeatsAColdSolve) {
  for (AzureFirst mode : {AzureFirst::kOff, AzureFirst::kWeighted, AzureFirst::kStrict}) {
    SCOPED_TRACE(ModeName(mode));
    WorkloadSpec spec;
    spec.requests = 8000;
    spec.mode = mode;
    ProblemData d = GenerateWorkload(spec);
    WorkloadSpec next = spec;
    next.seed = spec.seed + 1;
    ProblemData last = WithRequestsOf(d, GenerateWorkload(next));
    const Solution before = SolveOk(last, GetParam());
    const Solution cold = SolveOk(d, GetParam());
    SolverOptions options;
    options.initial_prices = before.prices;
    options.initial_strict_azure_price = before.strict_azure_price;
    options.initial_strict_reject_weight = before.strict_reject_weight;
    const Solution warm = SolveOk(d, GetParam(), options);
    EXPECT_LT(warm.iterations, cold.iterations);
    EXPECT_LE(warm.gap, std::max(1.5 * cold.gap, 1e-3));
    // The tiers are kept, or raised only as far as this batch needs.
    EXPECT_GE(warm.strict_azure_price, before.strict_azure_price);
    EXPECT_GE(warm.strict_reject_weight, before.strict_reject_weight);
    if (mode == AzureFirst::kStrict) {
      EXPECT_GE(warm.strict_azure_price, cold.strict_azure_price);
      EXPECT_GE(warm.strict_reject_weight, cold.strict_reject_weight);
    }
  }
}

// The server under binding quotas: the endpoints that the window's earlier
// batches filled keep a residue smaller than any request, or no request
// left, and the next batch (another draw) starts from the last one's
// prices. The full endpoints take nothing and do not throw the warm start
// off. Before they were left out of the options (Room) and their residues
// out of the capacities, the probe found idle capacity with a price there
// (or a load a million times a residue), and the batch solved cold.
TEST_P(SolverEdges, WarmStartOverFullEndpointsStaysWarm) {
  for (AzureFirst mode : {AzureFirst::kOff, AzureFirst::kWeighted, AzureFirst::kStrict}) {
    SCOPED_TRACE(ModeName(mode));
    WorkloadSpec spec;
    spec.requests = 8000;
    spec.mode = mode;
    spec.load = 0.6;
    ProblemData open = GenerateWorkload(spec);
    ProblemData d = open;
    for (std::size_t p = 0; p < d.ep_tpm.size(); p += 10) d.ep_tpm[p] = 12;  // below any request (>= 17 tokens)
    for (std::size_t p = 5; p < d.ep_rpm.size(); p += 10) d.ep_rpm[p] = 0;
    WorkloadSpec next = spec;
    next.seed = spec.seed + 1;
    ProblemData last = WithRequestsOf(d, GenerateWorkload(next));
    const Solution before = SolveOk(last, GetParam());
    const Solution plain = SolveOk(open, GetParam());
    const Solution cold = SolveOk(d, GetParam());
    SolverOptions options;
    options.initial_prices = before.prices;
    options.initial_strict_azure_price = before.strict_azure_price;
    options.initial_strict_reject_weight = before.strict_reject_weight;
    const Solution warm = SolveOk(d, GetParam(), options);
    for (const Solution* s : {&before, &cold, &warm}) {
      for (const std::int32_t p : s->endpoint) EXPECT_TRUE(p < 0 || p % 5 != 0) << "endpoint " << p;
    }
    // Measured: 61 / 52 / 68 passes cold (OFF / WEIGHTED / STRICT) against
    // 50 / 50 / 74 with every endpoint open, and 48 / 34 / 65 warm (before
    // the predictor, 89 / 88 / 114 cold, 82 / 84 / 108 open, 50 / 54 / 95
    // warm; before the room test, 296 / 287 / 396 cold and 289 / 277 / 376
    // warm).
    EXPECT_LE(cold.iterations, 1.5 * plain.iterations);
    EXPECT_LT(warm.iterations, cold.iterations);
    EXPECT_LE(warm.gap, std::max(1.5 * cold.gap, 2e-3));  // measured: STRICT 1.3e-3 (open: 3.4e-3)
  }
}

// The server's case under binding quotas: batches share one window's
// capacity, each warm-started from the last one's prices with the capacity
// the batches before it left (solver_benchmark --sequence). A window fills
// endpoints batch by batch, and at the last prices such an endpoint's load
// is tens of times its room: the probe fails far off. The endpoints bid
// (Bids) at the final temperature instead of the batch solving cold, and
// the bids bring the loads closer. Before, every such batch started over
// at the cold start's temperature.
// One quota window's batches, as azimuthd's share it: 8 batches of 8,000
// requests over a footprint sized for all of them, each seeing the capacity
// the batches before it left (Take), each warm-started from the last one's
// prices (WarmFrom) at most 60 passes (the server's batcher.warm_iterations).
struct OneWindow {
  static constexpr int kBatches = 8;
  static constexpr std::size_t kBatch = 8000;
  ProblemData window;
  std::vector<std::int64_t> left_t, left_r;
  explicit OneWindow(AzureFirst mode) {
    WorkloadSpec spec;
    spec.requests = kBatches * kBatch;
    spec.mode = mode;
    window = GenerateWorkload(spec);
    left_t = window.ep_tpm;
    left_r = window.ep_rpm;
  }
  ProblemData Batch(int k) const {
    ProblemData batch = WithRequestsOf(window, window, k * kBatch, (k + 1) * kBatch);
    batch.ep_tpm = left_t;
    batch.ep_rpm = left_r;
    return batch;
  }
  void Take(const ProblemData& batch, const Solution& s) { bench::TakeCapacity(batch, s, &left_t, &left_r); }
  static void WarmFrom(const Solution& s, SolverOptions* o) {
    o->initial_prices = s.prices;
    o->initial_strict_azure_price = s.strict_azure_price;
    o->initial_strict_reject_weight = s.strict_reject_weight;
    o->max_iterations = 60;
  }
};

TEST_P(SolverEdges, WarmBatchesOfOneWindowBidInsteadOfSolvingCold) {
  for (AzureFirst mode : {AzureFirst::kOff, AzureFirst::kWeighted, AzureFirst::kStrict}) {
    SCOPED_TRACE(ModeName(mode));
    OneWindow w(mode);
    SolverOptions options;
    std::vector<IterationInfo> trace;
    options.on_iteration = [&trace](const IterationInfo& info) { trace.push_back(info); };
    int far = 0, slower = 0, warm_passes = 0, cold_passes = 0;
    for (int k = 0; k < OneWindow::kBatches; ++k) {
      SCOPED_TRACE(k);
      ProblemData batch = w.Batch(k);
      trace.clear();
      const Solution s = SolveOk(batch, GetParam(), options);
      const Solution cold = SolveOk(batch, GetParam());
      // Measured (8 batches of 8,000 on 64 endpoints, 3 modes): gaps within
      // 2x of cold's, the same in most batches; warm 27-60 passes against
      // cold's 36-145, and more than cold in 2 of the 21 warm batches (at
      // their cap of 60 passes: cold 45 and 55 there, once the predictor
      // made cold solves shorter).
      EXPECT_LE(s.gap, std::max(2 * cold.gap, 2e-3));
      if (k > 0) {
        slower += s.iterations >= cold.iterations;
        warm_passes += s.iterations;
        cold_passes += cold.iterations;
      }
      if (k > 0 && trace.size() >= 2 && trace[0].overload > 10) {
        ++far;
        EXPECT_EQ(trace[1].temperature, trace[0].temperature);  // a bid, not a cold start
        EXPECT_LT(trace[1].overload, trace[0].overload / 3);
      }
      w.Take(batch, s);
      OneWindow::WarmFrom(s, &options);
    }
    EXPECT_GE(far, 1);  // the window does fill endpoints
    EXPECT_LE(slower, 1);
    EXPECT_LT(warm_passes, 0.8 * cold_passes);
  }
}

// The quick look (warm_target_gap) on the warm batches of one window: each
// answer is certified within the target, or as well as the full price phase
// certifies it, and some batches are taken at their bids, in fewer passes
// than the full phase's.
TEST_P(SolverEdges, QuickLookAtAWarmBatchTakesTheBidsWhereTheyCertify) {
  constexpr double kTarget = 5e-4;  // azimuthd's batcher.warm_target_gap
  for (AzureFirst mode : {AzureFirst::kOff, AzureFirst::kWeighted, AzureFirst::kStrict}) {
    SCOPED_TRACE(ModeName(mode));
    OneWindow w(mode);
    SolverOptions full, quick;
    int taken = 0;
    for (int k = 0; k < OneWindow::kBatches; ++k) {
      SCOPED_TRACE(k);
      ProblemData batch = w.Batch(k);
      const Solution f = SolveOk(batch, GetParam(), full);
      const Solution q = SolveOk(batch, GetParam(), quick);
      EXPECT_LE(q.gap, std::max(kTarget, f.gap));
      if (q.iterations < f.iterations) {  // the quick look's answer (a full look adds its passes)
        ++taken;
        EXPECT_LE(q.gap, kTarget);
      }
      w.Take(batch, q);
      OneWindow::WarmFrom(q, &full);
      OneWindow::WarmFrom(q, &quick);
      quick.warm_target_gap = kTarget;
    }
    EXPECT_GE(taken, 1);
  }
  ProblemData d = GenerateWorkload(WorkloadSpec{});
  for (double bad : {-1e-3, 2.0, std::numeric_limits<double>::quiet_NaN()}) {
    SolverOptions o;
    o.warm_target_gap = bad;
    const SolveResult r = Solve(d.View(), o);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("options.warm_target_gap"), std::string::npos);
  }
}

// repair_target_gap skips the rounds a batch does not need and no more: a
// target every assignment meets runs none (the answer of repair_rounds = 0),
// one none meets runs them all.
TEST_P(SolverEdges, RepairStopsAtItsTargetGap) {
  WorkloadSpec spec;
  spec.requests = 20000;
  spec.mode = AzureFirst::kOff;
  ProblemData d = GenerateWorkload(spec);
  SolverOptions none, all, met, unmet;
  none.repair_rounds = 0;
  met.repair_target_gap = 1;
  unmet.repair_target_gap = 1e-9;
  const Solution a = SolveOk(d, GetParam(), none), b = SolveOk(d, GetParam(), met);
  EXPECT_EQ(a.endpoint, b.endpoint);
  EXPECT_EQ(a.gap, b.gap);
  const Solution c = SolveOk(d, GetParam(), all), e = SolveOk(d, GetParam(), unmet);
  EXPECT_EQ(c.endpoint, e.endpoint);
  EXPECT_LT(c.gap, a.gap);
  SolverOptions bad;
  bad.repair_target_gap = -1;
  EXPECT_FALSE(Solve(d.View(), bad).ok());
  bad = {};
  bad.initial_strict_reject_weight = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(Solve(d.View(), bad).ok());
}

// The certificate's passes over the single requests (bound_passes): the
// assignment is the same, the certified bound only rises and stays below the
// LP optimum. In strict mode the groups' prices (mean token counts) leave
// part of the gap: here (measured) the certificate falls from 1.91e-3 to
// 1.35e-3 with the automatic passes, against 1.32e-3 above the LP optimum.
TEST_P(SolverEdges, BoundPassesTightenTheCertificateOnly) {
  WorkloadSpec spec;
  spec.requests = 10000;
  spec.endpoints = 32;
  spec.load = 1.1;
  spec.mode = AzureFirst::kStrict;
  ProblemData d = GenerateWorkload(spec);
  SolverOptions none, automatic;
  none.bound_passes = 0;
  const Solution a = SolveOk(d, GetParam(), none), b = SolveOk(d, GetParam(), automatic);
  EXPECT_EQ(a.endpoint, b.endpoint);
  EXPECT_EQ(a.mode_objective, b.mode_objective);
  EXPECT_GT(b.mode_lower_bound, a.mode_lower_bound);
  const bench::LpLevels opt = bench::LpReference(d.View()).SolveTiered(b.strict_reject_weight, b.strict_azure_price);
  ASSERT_TRUE(opt.optimal);
  EXPECT_LE(b.mode_lower_bound, opt.objective * (1 + 1e-9) + 1e-9);
  const double measured = (b.mode_objective - opt.objective) / b.mode_objective;
  // Most of what the groups' prices left between the certificate and the
  // measured gap is closed.
  EXPECT_LT(b.gap - measured, 0.5 * (a.gap - measured))
      << "certified " << a.gap << " then " << b.gap << ", measured " << measured;
  SolverOptions bad;
  bad.bound_passes = 1001;
  EXPECT_FALSE(Solve(d.View(), bad).ok());
}

// A warm start first tries its prices at the final temperature. Prices of
// a batch whose quotas did not bind (zero) do not fit one that overloads
// them: after its bids (Bids) the solver starts over warmer and still gets
// there.
TEST_P(SolverEdges, WarmStartFromPricesThatNoLongerFitStartsOver) {
  WorkloadSpec spec;
  spec.requests = 20000;
  spec.endpoints = 32;
  spec.mode = AzureFirst::kOff;
  spec.load = 1.3;
  ProblemData tight = GenerateWorkload(spec);
  const Solution cold = SolveOk(tight, GetParam());
  SolverOptions options;
  options.initial_prices = Prices{std::vector<double>(spec.endpoints, 0.0), std::vector<double>(spec.endpoints, 0.0)};
  std::vector<double> temperatures;
  options.on_iteration = [&](const IterationInfo& info) { temperatures.push_back(info.temperature); };
  const Solution warm = SolveOk(tight, GetParam(), options);
  ASSERT_GE(temperatures.size(), 2u);
  const double probe = temperatures[0];
  EXPECT_GT(*std::max_element(temperatures.begin(), temperatures.end()), 10 * probe);
  EXPECT_LE(warm.gap, std::max(2 * cold.gap, 1e-3));
  // Its own prices, on the other hand, fit at once: every pass stays at the
  // final temperature.
  options.initial_prices = cold.prices;
  temperatures.clear();
  const Solution again = SolveOk(tight, GetParam(), options);
  EXPECT_LT(again.iterations, 5);
  ASSERT_FALSE(temperatures.empty());
  for (double t : temperatures) EXPECT_EQ(t, probe);
  EXPECT_LE(again.gap, std::max(2 * cold.gap, 1e-3));
}

// Warm prices on endpoints that no request of this batch can use: their
// idle capacity is off, so they bid, and with no option to bid on their
// prices fall to zero (the case a fuzzer found, where Bid() handed Thrust
// empty ranges).
TEST_P(SolverEdges, WarmPricesOnEndpointsNoRequestCanUseFallToZero) {
  ProblemData d = Base();
  d.policy.azure_first = AzureFirst::kOff;
  d.AddEndpoint(Endpoint("a0", Cloud::kAws, "gpt-5", 7));
  d.AddEndpoint(Endpoint("a1", Cloud::kAzure, "gpt-5", 9));
  d.AddEndpoint(Endpoint("b0", Cloud::kAws, "other", 5));
  for (int i = 0; i < 12; ++i) d.AddRequest(Request("r" + std::to_string(i), "gpt-5"));
  SolverOptions options;
  options.initial_prices = Prices{{0.0, 0.0, 1e-3}, {0.0, 0.0, 0.02}};
  const Solution warm = SolveOk(d, GetParam(), options);
  EXPECT_EQ(warm.prices.per_token[2], 0.0);
  EXPECT_EQ(warm.prices.per_request[2], 0.0);
  EXPECT_EQ(warm.assigned, 12);
  for (int p : warm.endpoint) EXPECT_NE(p, 2);
}

// Issue 2's quality bar: at N >= 20,000 the certified gap (an upper bound on
// the distance to the LP optimum) is within 0.1% in every mode (strict: of
// its tiered objective). The repair rounds are what close the fragments that
// integer capacities leave: without them the same instance ends well above
// it.
TEST_P(SolverEdges, CertifiedGapWithinATenthOfAPercentAt20k) {
  for (AzureFirst mode : {AzureFirst::kOff, AzureFirst::kWeighted, AzureFirst::kStrict}) {
    SCOPED_TRACE(ModeName(mode));
    ProblemData d = DefaultWorkload(20000, mode);
    const Solution repaired = SolveOk(d, GetParam());
    EXPECT_LE(repaired.gap, 1e-3);
    SolverOptions options;
    options.repair_rounds = 0;
    const Solution unrepaired = SolveOk(d, GetParam(), options);
    EXPECT_LT(repaired.objective_usd, unrepaired.objective_usd);
    EXPECT_GT(unrepaired.gap, 1.5 * repaired.gap);
  }
}

// The predictor (UpdatePrices): a pass whose loads nearly cleared steps for
// the next, cooler temperature from its loads' tangent, so each cooling
// finds the loads nearly cleared again. Measured, 20,000 x 64, the median
// overload after a cooling: 0.032-0.034 in the three modes, and 0.21-0.26
// without the predictor. A wrong tangent (its sign, its scale) fails this.
TEST_P(SolverEdges, EachCoolingStartsNearTheCooledLoads) {
  for (AzureFirst mode : {AzureFirst::kOff, AzureFirst::kWeighted, AzureFirst::kStrict}) {
    SCOPED_TRACE(ModeName(mode));
    ProblemData d = DefaultWorkload(20000, mode);
    SolverOptions options;
    std::vector<IterationInfo> trace;
    options.on_iteration = [&trace](const IterationInfo& info) { trace.push_back(info); };
    SolveOk(d, GetParam(), options);
    std::vector<double> after;  // the overload of the first pass at each cooled temperature
    for (std::size_t i = 1; i < trace.size(); ++i) {
      const double ratio = trace[i].temperature / trace[i - 1].temperature;
      if (ratio > 0.69 && ratio < 0.71) after.push_back(trace[i].overload);
    }
    ASSERT_GE(after.size(), 10u);
    std::nth_element(after.begin(), after.begin() + after.size() / 2, after.end());
    EXPECT_LT(after[after.size() / 2], 0.1);
  }
}

TEST_P(SolverEdges, InvalidInputNamesTheField) {
  ProblemData d = Base();
  d.AddEndpoint(Endpoint("a", Cloud::kAzure, "gpt-5", 10));
  d.AddRequest(Request("r0", "gpt-5"));
  struct Case {
    std::function<void(ProblemData&)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](ProblemData& x) { x.rq_tokens_in[0] = -5; }, "requests.tokens_in[0]"},
      {[](ProblemData& x) { x.rq_priority[0] = 4; }, "requests.priority[0]"},
      {[](ProblemData& x) { x.ep_price_in[0] = std::nan(""); }, "endpoints.price_in_per_1k[0]"},
      {[](ProblemData& x) { x.ep_rpm[0] = -1; }, "endpoints.rpm_limit[0]"},
      {[](ProblemData& x) { x.policy.window_s = 0; }, "policy.window_s"},
      {[](ProblemData& x) { x.policy.reject_usd[2] = -1; }, "policy.reject_usd[2]"},
      {[](ProblemData& x) { x.policy.azure_discount = 1.5; }, "policy.azure_discount"},
      // Huge finite values would make costs infinite; a subnormal reject
      // cost made strict mode's tier weight infinite (and inf x 0 a NaN).
      {[](ProblemData& x) { x.ep_price_out[0] = 1e308; }, "endpoints.price_out_per_1k[0]"},
      {[](ProblemData& x) { x.ep_p50[0] = 1e300; }, "endpoints.latency_p50_ms[0]"},
      {[](ProblemData& x) { x.ep_tpm[0] = std::numeric_limits<std::int64_t>::max(); }, "endpoints.tpm_limit[0]"},
      {[](ProblemData& x) { x.policy.latency_usd_per_ms = 1e308; }, "policy.latency_usd_per_ms"},
      {[](ProblemData& x) { x.policy.egress_usd_per_1k[1][0] = 1e308; }, "policy.egress_usd_per_1k[aws->azure]"},
      {[](ProblemData& x) { x.policy.reject_usd[3] = 1e308; }, "policy.reject_usd[3]"},
      {[](ProblemData& x) { x.policy.reject_usd[1] = 1e-320; }, "policy.reject_usd[1]"},
  };
  for (const Case& c : cases) {
    ProblemData bad = d;
    c.mutate(bad);
    SolverOptions options;
    options.backend = GetParam();
    const SolveResult r = Solve(bad.View(), options);
    ASSERT_FALSE(r.ok()) << c.field;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(c.field), std::string::npos) << r.error().message;
  }
  SolverOptions bad_prices;
  bad_prices.backend = GetParam();
  bad_prices.initial_prices = Prices{{-1.0}, {0.0}};
  const SolveResult negative = Solve(d.View(), bad_prices);
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.error().message.find("options.initial_prices[0]"), std::string::npos);
  ProblemView mismatched = d.View();
  mismatched.requests.tokens_out.size = 0;
  EXPECT_NE(Solve(mismatched).error().message.find("requests.tokens_out"), std::string::npos);
}

// The smallest reject cost accepted next to a 0, with no latency term (the
// case that broke strict mode's tiers): capacity holds on every endpoint
// (CheckInvariants in SolveOk) and the gap is a number in [0, 1].
TEST_P(SolverEdges, StrictTiersStayFiniteAtTheEdgesOfTheRanges) {
  SKIP_IF_UNAVAILABLE(GetParam());
  for (std::uint64_t seed : {1, 2, 3}) {
    WorkloadSpec spec;
    spec.requests = 4000;
    spec.endpoints = 32;
    spec.seed = seed;
    spec.mode = AzureFirst::kStrict;
    ProblemData d = GenerateWorkload(spec);
    d.policy.latency_usd_per_ms = 0;
    const double reject[] = {0, kMinRejectUsd, 0.5, 2.0};
    std::copy(std::begin(reject), std::end(reject), d.policy.reject_usd);
    const Solution s = SolveOk(d, GetParam());
    EXPECT_TRUE(std::isfinite(s.objective_usd)) << seed;
    EXPECT_GE(s.gap, 0.0) << seed;
    EXPECT_LE(s.gap, 1.0) << seed;
    EXPECT_TRUE(std::isfinite(s.lower_bound_usd)) << seed;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, SolverEdges, testing::ValuesIn(Backends()),
                         [](const testing::TestParamInfo<Backend>& info) { return BackendName(info.param); });

// --- Backends and baselines -------------------------------------------------

TEST(SolverBackends, CudaRequestedWithoutDeviceIsUnavailable) {
  if (CudaDeviceAvailable()) GTEST_SKIP() << "a CUDA device is present";
  ProblemData d = GenerateWorkload(WorkloadSpec{});
  SolverOptions options;
  options.backend = Backend::kCuda;
  const SolveResult r = Solve(d.View(), options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  options.backend = Backend::kAuto;
  const SolveResult automatic = Solve(d.View(), options);
  ASSERT_TRUE(automatic.ok());
  EXPECT_EQ(automatic.value().backend, Backend::kCpu);
}

TEST(SolverBackends, CpuAndCudaAgreeWithinTheGap) {
  if (!CudaDeviceAvailable()) GTEST_SKIP() << "no CUDA device";
  for (AzureFirst mode : {AzureFirst::kStrict, AzureFirst::kWeighted, AzureFirst::kOff}) {
    WorkloadSpec spec;
    spec.requests = 50000;
    spec.mode = mode;
    ProblemData d = GenerateWorkload(spec);
    const Solution cpu = SolveOk(d, Backend::kCpu);
    const Solution gpu = SolveOk(d, Backend::kCuda);
    const double tolerance = std::max(cpu.gap, gpu.gap) + 1e-9;
    EXPECT_NEAR(cpu.mode_objective, gpu.mode_objective, tolerance * cpu.mode_objective) << ModeName(mode);
  }
}

TEST(Baselines, RespectCapacityEligibilityAndAzureFirst) {
  for (std::uint64_t seed : {1, 2, 3}) {
    WorkloadSpec spec;
    spec.requests = 5000;
    spec.endpoints = 24;
    spec.seed = seed;
    spec.mode = AzureFirst::kOff;
    ProblemData d = GenerateWorkload(spec);
    const SolveResult greedy = SolveGreedy(d.View());
    ASSERT_TRUE(greedy.ok());
    EXPECT_EQ(CheckInvariants(d.View(), greedy.value()), "");
    d.policy.azure_first = AzureFirst::kStrict;
    const SolveResult azure = SolveAzureFirstGreedy(d.View());
    ASSERT_TRUE(azure.ok());
    EXPECT_EQ(CheckInvariants(d.View(), azure.value()), "");
    const SolveResult ours = Solve(d.View());
    ASSERT_TRUE(ours.ok());
    EXPECT_LE(ours.value().reject_cost_usd, azure.value().reject_cost_usd + 1e-9);
  }
}

}  // namespace
}  // namespace azimuth::kernels
