// Copyright 2026 Azimuth authors.
//
// The price step's host side (kernels/src/prepare.cc): the eligibility
// graph's blocks, and one Newton step per block.
#include <gtest/gtest.h>

#include <cstdint>
#include <tuple>
#include <vector>

#include "kernels/src/prepared.h"

namespace azimuth::kernels::internal {
namespace {

// Rows of a [classes x M] eligibility table, one per eligibility class.
struct Table {
  std::int32_t m;
  std::vector<std::uint8_t> elig;
  void Add(const std::vector<std::int32_t>& eligible) {
    const std::size_t c = elig.size() / m;
    elig.resize(elig.size() + m, 0);
    for (std::int32_t p : eligible) elig[c * m + p] = 1;
  }
};

TEST(FindBlocks, ConnectedComponentsNumberedBySmallestEndpointEmptyLast) {
  Table t{6, {}};
  t.Add({0, 2});
  t.Add({1, 3});
  t.Add({2, 4});
  t.Add({});
  const Blocks b = FindBlocks(6, t.elig);
  ASSERT_EQ(b.count, 4);  // {0, 2, 4}, {1, 3}, {5}, and the empty block
  EXPECT_EQ(b.endpoints, (std::vector<std::int32_t>{0, 2, 4, 1, 3, 5}));
  EXPECT_EQ(b.start, (std::vector<std::int32_t>{0, 3, 5, 6, 6}));
  // 5 is in no class: a block of its own. Every block has its endpoints'
  // local indices in ascending order.
  EXPECT_EQ(b.block_of, (std::vector<std::int32_t>{0, 1, 0, 1, 0, 2}));
  EXPECT_EQ(b.local, (std::vector<std::int32_t>{0, 0, 1, 1, 2, 0}));
  EXPECT_EQ(b.Size(3), 0);
  for (std::int32_t k = 0; k < b.count; ++k) {
    EXPECT_TRUE(b.dense[k]);
    EXPECT_EQ(b.offset[k + 1] - b.offset[k], BlockWidth(b.Size(k), true));
  }
  EXPECT_EQ(BlockWidth(3, true), 2 * 3 + 1 + 3 * 6 + 2 * 3);
  EXPECT_EQ(BlockWidth(0, true), 1);  // the empty block's dual value term
}

TEST(FindBlocks, ChainsMergeAndWideBlocksUseTheDiagonal) {
  const std::int32_t m = kDenseNewtonMaxEndpoints + 3;
  Table t{m, {}};
  // Overlapping pairs chain every endpoint into one block, in reverse order
  // so that unions join large roots to small ones.
  for (std::int32_t p = m - 1; p > 0; --p) t.Add({p - 1, p});
  const Blocks b = FindBlocks(m, t.elig);
  ASSERT_EQ(b.count, 2);
  EXPECT_EQ(b.Size(0), m);
  EXPECT_FALSE(b.dense[0]);
  EXPECT_EQ(b.offset[1], BlockWidth(m, false));
  for (std::int32_t p = 0; p < m; ++p) {
    EXPECT_EQ(b.block_of[p], 0);
    EXPECT_EQ(b.local[p], p);
  }
}

// Two endpoints of one block, each with room for 10 tokens in one request,
// and demand that puts 30 tokens on the first: the step raises the first's
// prices and lowers none below zero; the second, with idle capacity and no
// price, stays at zero. A block far away is untouched.
struct StepCase {
  HostModel host;
  Blocks blocks;
  std::vector<double> sums;
  static constexpr double kTau = 0.01;
  static constexpr double kS00 = 3 * (0.9 - 0.9 * 0.9);  // endpoint 0's own curvature, per request
};

StepCase TwoBlocks() {
  StepCase k;
  k.host.num_endpoints = 3;
  k.host.cap_tokens = {10, 10, 10};
  k.host.cap_requests = {1, 1, 1};
  k.host.mean_tokens = 10;
  Table t{3, {}};
  t.Add({0, 1});
  t.Add({2});
  k.blocks = FindBlocks(3, t.elig);
  k.sums.assign(k.blocks.offset[k.blocks.count], 0.0);
  double* first = k.sums.data() + k.blocks.offset[0];
  first[0] = 30;  // tokens on endpoint 0
  first[1] = 5;   // and on endpoint 1
  first[2] = 3;   // requests
  first[3] = 0.5;
  // Curvature of a group of 3 requests of 10 tokens split 0.9 / 0.1 (rest rejected).
  const double n = 3, w = 10, p0 = 0.9, p1 = 0.1;
  const double s00 = n * (p0 - p0 * p0), s01 = -n * p0 * p1, s11 = n * (p1 - p1 * p1);
  double* curv = first + 2 * 2 + 1;
  for (auto [a, c, v] : {std::tuple{0, 0, s00}, {0, 1, s01}, {1, 1, s11}}) {
    double* e = curv + 3 * PackedPair(2, a, c);
    e[0] = v * w * w;
    e[1] = v * w;
    e[2] = v;
  }
  return k;
}

TEST(UpdatePrices, RaisesTheOverloadedEndpointOfEachBlockOnly) {
  const StepCase k = TwoBlocks();
  ASSERT_EQ(k.blocks.count, 3);
  std::vector<double> lam = {0, 0, 0.25}, mu = {0, 0, 0};
  const double overload = PriceViolation(k.host, k.blocks, k.sums, lam, mu);
  UpdatePrices(k.host, k.blocks, k.sums, StepCase::kTau, /*diagonal=*/false, /*cooling=*/1.0, &lam, &mu);
  // (30 - 10) tokens over endpoint 0's 10, relative to kCapacityGrain mean
  // requests (10 tokens each) since its capacity is smaller; its requests
  // (3 on 1) are off by as much.
  EXPECT_DOUBLE_EQ(overload, 20.0 / (kCapacityGrain * 10));
  EXPECT_GT(lam[0], 0);
  EXPECT_GT(mu[0], 0);
  EXPECT_EQ(lam[1], 0);
  EXPECT_EQ(mu[1], 0);
  // Endpoint 2 carries a price but no load: it falls, to zero at most.
  EXPECT_LT(lam[2], 0.25);
  EXPECT_GE(lam[2], 0);
}

// The fallback step: each coordinate by its own curvature and ridge, damped
// by 0.7: tau * excess / (curvature + |tau * excess| / clip), and the clip a
// few temperatures.
TEST(UpdatePrices, DiagonalStepScalesEachCoordinateByItsOwnCurvature) {
  const StepCase k = TwoBlocks();
  std::vector<double> lam = {0, 0, 0.25}, mu = {0, 0, 0};
  UpdatePrices(k.host, k.blocks, k.sums, StepCase::kTau, /*diagonal=*/true, /*cooling=*/1.0, &lam, &mu);
  const double bt = StepCase::kTau * 20, br = StepCase::kTau * 2;  // excess tokens, requests
  const double clip_t = 2 * StepCase::kTau / 10, clip_r = 2 * StepCase::kTau;
  EXPECT_NEAR(lam[0], 0.7 * bt / (StepCase::kS00 * 100 + bt / clip_t), 1e-15);
  EXPECT_NEAR(mu[0], 0.7 * br / (StepCase::kS00 + br / clip_r), 1e-15);
  EXPECT_EQ(lam[1], 0);
  EXPECT_EQ(mu[1], 0);
  // No curvature: the clip sets the step, damped. It is a trust region of a
  // few temperatures (2 tau per mean request's tokens), not the price: the
  // fallback must differ from a Newton step the price's clip set.
  EXPECT_NEAR(lam[2], 0.25 - 0.7 * (2 * StepCase::kTau / 10), 1e-15);
}

// The predictor: before a cooling to c x tau the step is the Newton step
// for the loads predicted there, each load moved by (c - 1) x its tangent,
// undamped (the damping of 0.7 is the Newton step's own).
TEST(UpdatePrices, BeforeACoolingStepsForTheLoadsItPredicts) {
  for (const bool diagonal : {false, true}) {
    SCOPED_TRACE(diagonal);
    StepCase k = TwoBlocks();
    // Tokens 0, 1, then requests 0, 1: 10 tokens a request, as the loads
    // (the clip scales with the mean request's tokens).
    const double tangent[4] = {-5.0, -2.0, -0.5, -0.2};
    double* first = k.sums.data() + k.blocks.offset[0];
    std::copy(tangent, tangent + 4, first + TangentAt(2, k.blocks.dense[0]));
    const double cooling = 0.7;
    std::vector<double> lam = {0.001, 0.002, 0.25}, mu = {0.01, 0.0, 0.0};
    std::vector<double> lam_p = lam, mu_p = mu;
    UpdatePrices(k.host, k.blocks, k.sums, StepCase::kTau, diagonal, cooling, &lam_p, &mu_p);
    StepCase moved = k;
    double* loads = moved.sums.data() + moved.blocks.offset[0];
    for (int c = 0; c < 4; ++c) loads[c] += (cooling - 1.0) / 0.7 * tangent[c];
    UpdatePrices(moved.host, moved.blocks, moved.sums, StepCase::kTau, diagonal, /*cooling=*/1.0, &lam, &mu);
    for (int p = 0; p < 3; ++p) {
      EXPECT_NEAR(lam_p[p], lam[p], 1e-12 * (1 + std::abs(lam[p])));
      EXPECT_NEAR(mu_p[p], mu[p], 1e-12 * (1 + std::abs(mu[p])));
    }
    // And the prediction does move the step.
    std::vector<double> lam_0 = {0.001, 0.002, 0.25}, mu_0 = {0.01, 0.0, 0.0};
    UpdatePrices(k.host, k.blocks, k.sums, StepCase::kTau, diagonal, /*cooling=*/1.0, &lam_0, &mu_0);
    EXPECT_NE(lam_p[1], lam_0[1]);
  }
}

// The reach: a step that would move an endpoint's price for its mean
// request by more than `reach` temperatures is scaled back as a whole (its
// direction kept), and UpdatePrices returns how far it moved.
TEST(UpdatePrices, AStepBeyondItsReachIsScaledBackAsAWhole) {
  const StepCase k = TwoBlocks();
  std::vector<double> lam = {0, 0, 0}, mu = {0, 0, 0};  // only endpoint 0's prices move
  std::vector<double> full_lam = lam, full_mu = mu;
  const double full =
      UpdatePrices(k.host, k.blocks, k.sums, StepCase::kTau, /*diagonal=*/false, /*cooling=*/1.0, &full_lam, &full_mu);
  ASSERT_GT(full, 0);
  // Endpoint 0 carries the block's load: its mean request has 10 tokens.
  EXPECT_NEAR(full, (full_lam[0] * 10 + full_mu[0]) / StepCase::kTau, 1e-9 * full);
  const double reach = full / 4;
  const double moved =
      UpdatePrices(k.host, k.blocks, k.sums, StepCase::kTau, /*diagonal=*/false, /*cooling=*/1.0, &lam, &mu, reach);
  EXPECT_NEAR(moved, reach, 1e-12 * reach);
  EXPECT_NEAR(lam[0], full_lam[0] / 4, 1e-12);
  EXPECT_NEAR(mu[0], full_mu[0] / 4, 1e-12);
}

}  // namespace
}  // namespace azimuth::kernels::internal
