// Copyright 2026 Azimuth authors.
//
// The repair passes' knapsack (kernels/src/repair.h): an endpoint's choice
// of requests within its two capacities, against exhaustive search; and the
// repair's answer whatever the number of threads.
#include "kernels/src/repair.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "bench/workload/generator.h"
#include "kernels/src/prepared.h"

namespace azimuth::kernels::internal {
namespace {

struct Totals {
  double value = 0;
  std::int64_t tokens = 0, requests = 0;
};

Totals Sum(const std::vector<KnapsackItem>& items, const std::vector<std::uint8_t>& chosen) {
  Totals t;
  for (std::size_t k = 0; k < items.size(); ++k) {
    if (!chosen[k]) continue;
    t.value += items[k].value;
    t.tokens += items[k].tokens;
    t.requests += 1;
  }
  return t;
}

// The integer optimum over all subsets.
double Exhaustive(const std::vector<KnapsackItem>& items, std::int64_t tokens, std::int64_t requests) {
  double best = 0;
  const std::size_t n = items.size();
  std::vector<std::uint8_t> chosen(n);
  for (std::uint32_t mask = 0; mask < (1u << n); ++mask) {
    for (std::size_t k = 0; k < n; ++k) chosen[k] = (mask >> k) & 1;
    const Totals t = Sum(items, chosen);
    if (t.tokens <= tokens && t.requests <= requests) best = std::max(best, t.value);
  }
  return best;
}

// Large items of high value against several small ones of less: the LP
// takes the small ones (greedy by value would take the large one first).
TEST(SolveKnapsack, TradesOneLargeItemForSeveralSmallOnes) {
  const std::vector<KnapsackItem> items = {{10, 900, 0}, {7, 300, 1}, {7, 300, 2}, {7, 300, 3}, {1, 50, 4}};
  std::vector<std::uint8_t> chosen;
  const double value = SolveKnapsack(items, 1000, 3, 0.0, &chosen);
  EXPECT_EQ(value, 21);
  EXPECT_EQ(chosen, (std::vector<std::uint8_t>{0, 1, 1, 1, 0}));
}

TEST(SolveKnapsack, TakesEveryPositiveItemWhenAllFitAndNoneOfTheRest) {
  const std::vector<KnapsackItem> items = {{3, 10, 0}, {-1, 1, 1}, {0, 1, 2}, {2, 5, 3}};
  std::vector<std::uint8_t> chosen;
  EXPECT_EQ(SolveKnapsack(items, 100, 10, 0.0, &chosen), 5);
  EXPECT_EQ(chosen, (std::vector<std::uint8_t>{1, 0, 0, 1}));
  EXPECT_EQ(SolveKnapsack(items, 100, 0, 0.0, &chosen), 0);
  EXPECT_EQ(chosen, (std::vector<std::uint8_t>(4, 0)));
  EXPECT_EQ(SolveKnapsack({{5, 11, 0}}, 10, 1, 0.0, &chosen), 0);  // does not fit
  EXPECT_EQ(chosen, (std::vector<std::uint8_t>{0}));
}

// Random instances where either capacity binds, with good and bad price
// guesses: the choice fits, its value is what it reports, and it is within
// the two largest values of the optimum (the LP splits at most two items).
TEST(SolveKnapsack, WithinTwoItemsOfTheOptimumOnRandomInstances) {
  bench::Rng rng(7);
  int exact = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const std::size_t n = static_cast<std::size_t>(1 + rng.Below(14));
    std::vector<KnapsackItem> items(n);
    std::int64_t all_tokens = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const double tier = static_cast<double>(1 + rng.Below(4));
      items[k] = {tier * 7 - 0.002 * static_cast<double>(rng.Below(100)) - (rng.Below(10) == 0 ? 30 : 0),
                  static_cast<std::int64_t>(1 + rng.Below(3000)), static_cast<std::int64_t>(k)};
      all_tokens += items[k].tokens;
    }
    const std::int64_t tokens = static_cast<std::int64_t>(rng.Uniform() * static_cast<double>(all_tokens));
    const std::int64_t requests = static_cast<std::int64_t>(rng.Below(static_cast<int>(n) + 1));
    const double guess = trial % 3 == 0 ? 0.0 : (trial % 3 == 1 ? 1e-3 : 10.0);
    std::vector<std::uint8_t> chosen;
    const double value = SolveKnapsack(items, tokens, requests, guess, &chosen);
    const Totals t = Sum(items, chosen);
    ASSERT_LE(t.tokens, tokens) << "trial " << trial;
    ASSERT_LE(t.requests, requests) << "trial " << trial;
    EXPECT_DOUBLE_EQ(value, t.value) << "trial " << trial;
    std::vector<double> values;
    for (const KnapsackItem& item : items) values.push_back(std::max(0.0, item.value));
    std::sort(values.rbegin(), values.rend());
    const double slack = values[0] + (n > 1 ? values[1] : 0.0);
    const double best = Exhaustive(items, tokens, requests);
    EXPECT_LE(value, best + 1e-9) << "trial " << trial;
    EXPECT_GE(value, best - slack - 1e-9) << "trial " << trial;
    exact += value >= best - 1e-9;
  }
  // Mostly exact: rounding the LP's two split items rarely costs anything,
  // and the swaps into the remainder recover most of what it does (390 of
  // 400 exact; 355 without them).
  EXPECT_GE(exact, 380);
}

// Both capacities bind: a chosen item gives its place to a larger unchosen
// one of more value that fits in its tokens plus the remainder, never to one
// that does not fit.
TEST(SwapIntoRemainder, FillsTheRemainderWithALargerItemOfMoreValue) {
  const std::vector<KnapsackItem> items = {{10, 500, 0}, {3, 100, 1}, {12, 560, 2}, {20, 700, 3}, {11, 590, 4}};
  std::vector<std::uint8_t> chosen = {1, 1, 0, 0, 0};
  SwapIntoRemainder(items, 0.01, 80, &chosen);
  EXPECT_EQ(chosen, (std::vector<std::uint8_t>{0, 1, 1, 0, 0}));
  EXPECT_LE(Sum(items, chosen).tokens, 680);

  // Nothing unchosen fits or is worth more: the choice stays.
  chosen = {1, 1, 0, 0};
  SwapIntoRemainder({{10, 500, 0}, {3, 100, 1}, {2, 520, 2}, {20, 700, 3}}, 0.01, 80, &chosen);
  EXPECT_EQ(chosen, (std::vector<std::uint8_t>{1, 1, 0, 0}));
}

// Values that are not numbers (what an infinite tier weight times 0 made)
// must not make the knapsack take more than fits.
TEST(SolveKnapsack, NeverExceedsItsCapacitiesWhateverTheValues) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<KnapsackItem> items;
    for (int k = 0; k < 40; ++k) {
      const double v = k % 3 == 0 ? nan : (k % 7 == 0 ? inf : 1.0 + ((k * 37 + trial) % 11));
      items.push_back({v, 50 + (k * 13 + trial) % 200, k});
    }
    std::vector<std::uint8_t> chosen;
    SolveKnapsack(items, 1500, 12, trial % 2 ? nan : 0.01, &chosen);
    const Totals t = Sum(items, chosen);
    ASSERT_LE(t.tokens, 1500) << "trial " << trial;
    ASSERT_LE(t.requests, 12) << "trial " << trial;
  }
}

// The last word on capacity is exact integer arithmetic: an endpoint over
// either capacity gives back its latest requests until both hold.
TEST(EnforceCapacity, EvictsTheLatestRequestsOfAnOverfullEndpoint) {
  HostModel host;
  host.num_endpoints = 2;
  host.cap_tokens = {250, 1000};
  host.cap_requests = {10, 2};
  const std::vector<std::int32_t> tin = {100, 100, 100, 10, 10, 10};
  const std::vector<std::int32_t> tout = {0, 0, 0, 0, 0, 0};
  RequestsView r;
  r.tokens_in = {tin.data(), tin.size()};
  r.tokens_out = {tout.data(), tout.size()};
  std::vector<std::int32_t> endpoint = {0, 0, 0, 1, 1, 1};
  EnforceCapacity(host, r, &endpoint);
  EXPECT_EQ(endpoint, (std::vector<std::int32_t>{0, 0, -2, 1, 1, -2}));
  // Within both: unchanged.
  endpoint = {0, -1, 0, 1, -1, 1};
  EnforceCapacity(host, r, &endpoint);
  EXPECT_EQ(endpoint, (std::vector<std::int32_t>{0, -1, 0, 1, -1, 1}));
}

// Reselect runs the blocks of the eligibility graph in parallel: a wide
// footprint (256 endpoints in dozens of blocks) under load gets the same
// assignment from one thread as from two and four, and the repair moves
// requests (so the comparison covers its moves).
TEST(Repair, SameAssignmentWhateverTheThreads) {
  for (const AzureFirst mode : {AzureFirst::kOff, AzureFirst::kStrict}) {
    bench::WorkloadSpec spec;
    spec.requests = 20000;
    spec.endpoints = 256;
    spec.load = 1.2;
    spec.mode = mode;
    ProblemData data = bench::GenerateWorkload(spec);
    const ProblemView view = data.View();
    const HostModel host = Prepare(view);
    const PhaseResult phase = RunBackendCpu(host, view.requests, SolverOptions{}, nullptr, /*quick=*/false);
    std::int32_t wide = 0;  // blocks of more than one endpoint
    for (std::int32_t b = 0; b < phase.blocks.count; ++b) wide += phase.blocks.Size(b) > 1;
    ASSERT_GE(wide, 4);
    const int threads_before = omp_get_max_threads();
    auto repaired = [&](int threads) {
      PhaseResult p = phase;
      omp_set_num_threads(threads);
      Repair(host, view.requests, mode, /*rounds=*/2, /*target_gap=*/0, &p);
      return p.endpoint;
    };
    const std::vector<std::int32_t> one = repaired(1);
    std::int64_t moved = 0;
    for (std::size_t i = 0; i < one.size(); ++i) moved += one[i] != phase.endpoint[i];
    EXPECT_GT(moved, 0);
    EXPECT_EQ(repaired(2), one);
    EXPECT_EQ(repaired(4), one);
    omp_set_num_threads(threads_before);
  }
}

}  // namespace
}  // namespace azimuth::kernels::internal
