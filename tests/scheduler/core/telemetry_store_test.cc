// Copyright 2026 Azimuth authors.
//
// The tenant ledger with leases: a replica holds each tenant within the
// smaller of its limit and its grant, a grant taken ahead becomes current
// when its window comes, and a refusal marks a tenant short only when the
// grant, not the limit, refused it.
#include "scheduler/core/telemetry_store.h"

#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace azimuth::scheduler {
namespace {

using kernels::TenantLimit;
using kernels::TenantLimitKind;

TEST(TenantLedgerTest, WithoutLeasesTheLimitAloneHolds) {
  TenantLedger ledger;
  ledger.Roll(0);
  const TenantLimit limit{1000, 3, 0};
  EXPECT_EQ(ledger.Check("a", limit, 400, 0), TenantLimitKind::kNone);
  ledger.Reserve("a", limit, 400, 0);
  ledger.Reserve("a", limit, 400, 0);
  EXPECT_EQ(ledger.Check("a", limit, 400, 0), TenantLimitKind::kTokens);
  EXPECT_EQ(ledger.Check("a", limit, 200, 0), TenantLimitKind::kNone);
  EXPECT_EQ(ledger.BudgetLeft("a", limit), std::numeric_limits<double>::infinity());
  ledger.Want("a", limit);  // no leases: nothing to want
  const std::vector<TenantLedger::Lease> leases = ledger.Leases();
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].used.tokens, 800);
  EXPECT_FALSE(leases[0].short_of_grant);
}

TEST(TenantLedgerTest, WithLeasesEachLimitHoldsWithinTheGrant) {
  TenantLedger ledger;
  ledger.EnableLeases();
  ledger.Roll(3600);
  const TenantLimit limit{10'000, 50, 2.0};
  // No grant yet: nothing, and the refusal asks for one.
  EXPECT_EQ(ledger.Check("a", limit, 100, 0.01), TenantLimitKind::kTokens);
  TenantLimit room;
  EXPECT_EQ(ledger.Room("a", limit, &room), TenantLimitKind::kTokens);
  ledger.Want("a", limit);
  ASSERT_EQ(ledger.Leases().size(), 1u);
  EXPECT_TRUE(ledger.Leases()[0].short_of_grant);
  // Unlimited tenants never need a grant.
  EXPECT_EQ(ledger.Check("free", TenantLimit{}, 100, 1.0), TenantLimitKind::kNone);

  ledger.SetGrant(3600, "a", {500, 2, 30'000});  // 500 tokens, 2 requests, $0.03
  EXPECT_FALSE(ledger.Leases()[0].short_of_grant);
  EXPECT_EQ(ledger.Check("a", limit, 501, 0), TenantLimitKind::kTokens);
  EXPECT_EQ(ledger.Check("a", limit, 200, 0.031), TenantLimitKind::kBudget);
  EXPECT_DOUBLE_EQ(ledger.BudgetLeft("a", limit), 0.03);
  ASSERT_EQ(ledger.Room("a", limit, &room), TenantLimitKind::kNone);
  EXPECT_EQ(room.tokens, 500);
  EXPECT_EQ(room.requests, 2);
  EXPECT_DOUBLE_EQ(room.budget_usd, 0.03);
  ledger.Reserve("a", limit, 200, 0.01);
  ledger.Reserve("a", limit, 200, 0.01);
  EXPECT_EQ(ledger.Check("a", limit, 1, 0), TenantLimitKind::kRequests);
  // A grant is never lowered.
  ledger.SetGrant(3600, "a", {100, 1, 1});
  EXPECT_EQ(ledger.granted("a").tokens, 500);
  EXPECT_EQ(ledger.granted("a").micro_usd, 30'000);
  // The limit binds below a larger grant; then a refusal wants nothing.
  ledger.SetGrant(3600, "a", {20'000, 100, 5'000'000});
  ledger.Reserve("a", limit, 9'000, 0.01);
  EXPECT_EQ(ledger.Check("a", limit, 1'000, 0), TenantLimitKind::kTokens);
  ledger.Want("a", limit);
  EXPECT_FALSE(ledger.Leases()[0].short_of_grant);
}

TEST(TenantLedgerTest, GrantsTakenAheadBecomeCurrentWithTheirWindow) {
  TenantLedger ledger;
  ledger.EnableLeases();
  ledger.Roll(0);
  const TenantLimit limit{0, 10, 0};
  ledger.SetGrant(0, "a", {0, 3, 0});
  ledger.SetGrant(60, "a", {0, 4, 0});
  ledger.SetGrant(60, "b", {0, 5, 0});
  ledger.Reserve("a", limit, 10, 0);
  const std::vector<TenantLedger::Lease> now = ledger.Leases();
  ASSERT_EQ(now.size(), 2u);  // sorted by tenant
  EXPECT_EQ(now[0].tenant, "a");
  EXPECT_EQ(now[0].held.requests, 3);
  EXPECT_EQ(now[0].next_held.requests, 4);
  EXPECT_EQ(now[0].used.requests, 1);
  EXPECT_EQ(now[1].tenant, "b");
  EXPECT_EQ(now[1].held.requests, 0);
  EXPECT_EQ(now[1].next_held.requests, 5);
  ledger.Roll(60);
  EXPECT_EQ(ledger.granted("a").requests, 4);
  EXPECT_EQ(ledger.granted("b").requests, 5);
  EXPECT_EQ(ledger.used("a").requests, 0);
  // A window skipped: grants for it do not carry over.
  ledger.SetGrant(120, "a", {0, 7, 0});
  ledger.Roll(180);
  EXPECT_EQ(ledger.granted("a").requests, 0);
  EXPECT_EQ(ledger.Check("a", limit, 1, 0), TenantLimitKind::kRequests);
}

TEST(TenantLedgerTest, HostileTenantNamesCannotGrowALeasedLedger) {
  TenantLedger ledger;
  ledger.EnableLeases();
  ledger.Roll(0);
  const TenantLimit limit{0, 10, 0};
  for (std::size_t i = 0; i < TenantLedger::kMaxLeasedTenants + 100; ++i) {
    const std::string t = "t" + std::to_string(i);
    ledger.Want(t, limit);
    ledger.SetGrant(0, t, {0, 1, 0});
    ledger.SetGrant(60, t, {0, 1, 0});
  }
  EXPECT_EQ(ledger.size(), TenantLedger::kMaxLeasedTenants);
  EXPECT_EQ(ledger.Leases().size(), TenantLedger::kMaxLeasedTenants);
  // One beyond the bound has no grant: refused, never over its limit.
  const std::string last = "t" + std::to_string(TenantLedger::kMaxLeasedTenants + 50);
  EXPECT_EQ(ledger.Check(last, limit, 1, 0), TenantLimitKind::kRequests);
}

}  // namespace
}  // namespace azimuth::scheduler
