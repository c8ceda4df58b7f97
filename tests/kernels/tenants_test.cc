// Copyright 2026 Azimuth authors.
//
// The tenant step's host side (kernels/src/tenants.cc): the exact one-price
// maximiser of the certificate's coordinate ascent, against a sort and
// against the function it maximises. The tenant limits themselves are
// checked end to end in solver_test and engine_test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "kernels/src/tenants.h"

namespace azimuth::kernels::internal {
namespace {

// sum_k min(r_k, b_k + x u_k) - x limit.
double Term(const std::vector<double>& r, const std::vector<double>& b, const std::vector<double>& u, double limit,
            double x) {
  double v = -x * limit;
  for (std::size_t k = 0; k < r.size(); ++k) v += std::min(r[k], b[k] + x * u[k]);
  return v;
}

// The maximiser by a sort of the breakpoints, descending.
double BySort(const std::vector<double>& r, const std::vector<double>& b, const std::vector<double>& u, double limit) {
  std::vector<std::pair<double, double>> breaks;
  for (std::size_t k = 0; k < r.size(); ++k) {
    if (b[k] < r[k] && u[k] > 0) breaks.emplace_back((r[k] - b[k]) / u[k], u[k]);
  }
  std::sort(breaks.begin(), breaks.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
  double sum = 0;
  for (const auto& [at, weight] : breaks) {
    sum += weight;
    if (sum > limit) return at;
  }
  return 0;
}

TEST(MaximizeTenantPrice, AgreesWithASortAndMaximisesTheTerm) {
  std::mt19937_64 rng(7);
  std::vector<std::pair<double, double>> scratch;
  for (int trial = 0; trial < 400; ++trial) {
    const int k = 1 + static_cast<int>(rng() % 300);
    std::vector<double> r(k), b(k), u(k);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    for (int j = 0; j < k; ++j) {
      r[j] = 1 + unit(rng);
      // Some terms at or above their cap, some tied breakpoints, some with
      // no use of the limit.
      b[j] = trial % 3 == 0 ? 0.5 * static_cast<double>(rng() % 4) : 2.2 * unit(rng);
      u[j] = rng() % 7 == 0 ? 0.0 : (trial % 2 ? 1.0 : 1 + static_cast<double>(rng() % 3000));
    }
    double total = 0;
    for (double w : u) total += w;
    const double limit = total * unit(rng) * 1.1;
    const double x = MaximizeTenantPrice(r, b, u, limit, &scratch);
    ASSERT_GE(x, 0);
    EXPECT_EQ(x, BySort(r, b, u, limit)) << "trial " << trial;
    // No breakpoint (nor 0) does better: the maximiser of a concave
    // piecewise-linear function is one of them.
    const double at = Term(r, b, u, limit, x);
    EXPECT_GE(at, Term(r, b, u, limit, 0) - 1e-9 * (1 + std::abs(at)));
    for (int j = 0; j < k; ++j) {
      if (b[j] < r[j] && u[j] > 0) {
        EXPECT_GE(at, Term(r, b, u, limit, (r[j] - b[j]) / u[j]) - 1e-9 * (1 + std::abs(at))) << "trial " << trial;
      }
    }
  }
}

TEST(MaximizeTenantPrice, HandWorkedCases) {
  std::vector<std::pair<double, double>> scratch;
  EXPECT_EQ(MaximizeTenantPrice({}, {}, {}, 1.0, &scratch), 0.0);
  // Weights 1 + 1 = 2 never exceed a limit of 2.
  EXPECT_EQ(MaximizeTenantPrice({3, 3}, {1, 2}, {1, 1}, 2.0, &scratch), 0.0);
  // Above it by one: the largest breakpoint whose weight at or above it
  // exceeds 1.5 is the second (1.0), where both terms still count.
  EXPECT_EQ(MaximizeTenantPrice({3, 3}, {1, 2}, {1, 1}, 1.5, &scratch), 1.0);
  EXPECT_EQ(MaximizeTenantPrice({3, 3}, {1, 2}, {1, 1}, 0.5, &scratch), 2.0);
}

}  // namespace
}  // namespace azimuth::kernels::internal
