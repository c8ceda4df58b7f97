// Copyright 2026 Azimuth authors.
//
// The exact LP reference's two engines check each other: CLP (in process)
// and HiGHS (out of process, bench/reference/highs_lp.py in the venv this
// test's fixture makes) must find the same optimum and the same levels on
// random instances, narrow and wide, in every mode. A HiGHS that cannot run
// is reported, never taken for an optimum.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <tuple>

#include "azimuth/kernels/problem_data.h"
#include "bench/reference/lp_reference.h"
#include "bench/workload/generator.h"

namespace azimuth::bench {
namespace {

using kernels::AzureFirst;

void ExpectSameLevels(const LpLevels& clp, const LpLevels& highs) {
  ASSERT_TRUE(clp.optimal);
  ASSERT_TRUE(highs.optimal);
  // Both engines stop at their own tolerances (1e-7 relative is far below
  // any gap the solver tests or the benchmark measure).
  EXPECT_NEAR(highs.objective, clp.objective, 1e-7 * (1 + std::abs(clp.objective)));
  EXPECT_NEAR(highs.reject_usd + highs.cost_usd, clp.reject_usd + clp.cost_usd,
              1e-6 * (1 + clp.reject_usd + clp.cost_usd));
}

using EngineCase = std::tuple<AzureFirst, int /*endpoints*/>;
class LpEngines : public testing::TestWithParam<EngineCase> {};

TEST_P(LpEngines, HighsAndClpFindTheSameOptimum) {
  const auto [mode, m] = GetParam();
  WorkloadSpec spec;
  spec.requests = m > 64 ? 3000 : 1500;
  spec.endpoints = m;
  spec.mode = mode;
  spec.seed = 11;
  spec.load = 1.1;  // capacity binds: rejections and split loads
  kernels::ProblemData data = GenerateWorkload(spec);
  const LpReference clp(data.View(), LpEngine::kClp);
  const LpReference highs(data.View(), LpEngine::kHighs);
  if (mode == AzureFirst::kStrict) {
    // The tiered single objective, with tier weights like the solver's.
    const double weight = 1e4, azure_price = 1e-3;
    ExpectSameLevels(clp.SolveTiered(weight, azure_price), highs.SolveTiered(weight, azure_price));
    if (m <= 64) {
      const LpLevels a = clp.SolveStrict(), b = highs.SolveStrict();
      ExpectSameLevels(a, b);
      EXPECT_NEAR(b.reject_usd, a.reject_usd, 1e-6 * (1 + a.reject_usd));
      EXPECT_NEAR(b.azure_tokens, a.azure_tokens, 1e-6 * (1 + a.azure_tokens));
    }
  } else {
    ExpectSameLevels(clp.SolveMode(mode, data.policy.azure_discount),
                     highs.SolveMode(mode, data.policy.azure_discount));
  }
}

INSTANTIATE_TEST_SUITE_P(Random, LpEngines,
                         testing::Combine(testing::Values(AzureFirst::kOff, AzureFirst::kWeighted, AzureFirst::kStrict),
                                          testing::Values(12, 256)),
                         [](const testing::TestParamInfo<EngineCase>& info) {
                           return std::string(kernels::AzureFirstName(std::get<0>(info.param))) + "_m" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST(LpEnginesEdges, AHighsThatCannotRunIsNotAnOptimum) {
  WorkloadSpec spec;
  spec.requests = 200;
  spec.endpoints = 12;
  kernels::ProblemData data = GenerateWorkload(spec);
  const char* saved = std::getenv("AZIMUTH_HIGHS_PYTHON");
  const std::string restore = saved != nullptr ? saved : "";
  setenv("AZIMUTH_HIGHS_PYTHON", "/nonexistent/python", 1);
  const LpLevels l = LpReference(data.View(), LpEngine::kHighs).SolveMode(AzureFirst::kOff);
  if (saved != nullptr) {
    setenv("AZIMUTH_HIGHS_PYTHON", restore.c_str(), 1);
  } else {
    unsetenv("AZIMUTH_HIGHS_PYTHON");
  }
  EXPECT_FALSE(l.optimal);
  EXPECT_EQ(l.cost_usd, 0);
}

}  // namespace
}  // namespace azimuth::bench
